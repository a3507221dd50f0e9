//! Faults with real processes: brokers run as `petri server start` and are
//! killed with SIGKILL while submitters and executors (the real executor
//! runtime) keep working. Afterwards every submitted process has run exactly
//! once and succeeded: none lost, none run twice, none submitted twice.
//!
//! Submitters tag each spec with a unique label. When a submit fails in
//! transport its reply may have been lost after the process was stored, so the
//! submitter looks the label up before submitting again. Executors reach the
//! replicas through a [`Failover`] balancer, as they would through a load
//! balancer in production; the runtime resumes processes whose assignment
//! reply was lost and retries reporting until a broker answers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use petri_api::model::{Process, state};
use petri_api::msg::GetProcesses;
use petri_crypto::PrivateKey;
use petri_e2e::{
    Failover, ServerProcess, TestColony, TestSchema, TestServer, WORKER, add_colony, free_port, spec, within,
};
use petri_executor::{Job, Runtime};
use petri_sdk::{Client, Env, SdkError};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Process ids in the order executors ran them (a process run twice shows twice).
type Ran = Arc<Mutex<Vec<String>>>;
/// What a submitter submitted: label and process id.
type Submitted = Vec<(String, String)>;

fn is_transport(e: &SdkError) -> bool {
    matches!(e, SdkError::Transport(_))
}

/// An executor runtime in `colony` reaching the broker at `127.0.0.1:port`; its
/// one function, `work`, records the process and takes a few milliseconds.
async fn executor(port: u16, colony: &TestColony, ran: &Ran) -> Runtime {
    let mut env = Env::default();
    env.host = "127.0.0.1".into();
    env.port = port;
    env.colony = colony.name.clone();
    let ran = ran.clone();
    let runtime = Runtime::new(&env, &petri_e2e::unique("runtime"), WORKER, PrivateKey::generate())
        .poll_timeout(5)
        .function("work", move |job: Job| {
            let ran = ran.clone();
            async move {
                ran.lock().unwrap().push(job.process.processid.clone());
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(vec![json!(job.process.spec.label)])
            }
        });
    // Registration happens before any fault, so it needs no retries.
    runtime
        .register(Some(&colony.key))
        .await
        .expect("register the executor");
    runtime
}

/// Runs `runtime` until `stop` turns true.
fn run(runtime: Runtime, stop: &watch::Receiver<bool>) -> JoinHandle<()> {
    let mut stop = stop.clone();
    tokio::spawn(async move {
        runtime
            .run(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
            .expect("the executor runtime stopped with an error");
    })
}

/// The processes of `colony` labelled `label`, in any state.
async fn by_label(client: &Client, colony: &TestColony, label: &str) -> Result<Vec<Process>, SdkError> {
    let mut found = Vec::new();
    for s in [state::WAITING, state::RUNNING, state::SUCCESS, state::FAILED] {
        let msg = GetProcesses {
            colonyname: colony.name.clone(),
            count: 100,
            state: s,
            label: label.into(),
            ..GetProcesses::default()
        };
        let page: Option<Vec<Process>> = client.call(&msg, &colony.executor.key).await?;
        found.extend(page.unwrap_or_default());
    }
    Ok(found)
}

/// Submits one `work` process per label, through the first of `clients` that
/// answers; returns label → process id. After a transport error the submit
/// may or may not have been stored, so the label is looked up (on the next
/// client) before submitting again.
async fn submit_all(clients: Vec<Client>, colony: TestColony, labels: Vec<String>, load: Arc<Counts>) -> Submitted {
    let mut out = Vec::new();
    let mut cur = 0;
    for label in labels {
        let mut s = spec(&colony.name, WORKER, "work");
        s.label = label.clone();
        let mut in_doubt = false;
        let id = loop {
            if in_doubt {
                match by_label(&clients[cur], &colony, &label).await {
                    Ok(found) if found.is_empty() => {}
                    Ok(found) => {
                        assert_eq!(found.len(), 1, "label {label} was stored twice");
                        break found[0].processid.clone();
                    }
                    Err(e) if is_transport(&e) => {
                        load.transport_errors.fetch_add(1, Ordering::SeqCst);
                        cur = (cur + 1) % clients.len();
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    Err(e) => panic!("looking up {label}: {e}"),
                }
            }
            match clients[cur].submit(s.clone(), &colony.executor.key).await {
                Ok(p) => break p.processid,
                Err(e) if is_transport(&e) => {
                    load.transport_errors.fetch_add(1, Ordering::SeqCst);
                    in_doubt = true;
                    cur = (cur + 1) % clients.len();
                    // Let a request the dead broker had in flight settle first.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("submitting {label}: {e}"),
            }
        };
        out.push((label, id));
        load.submitted.fetch_add(1, Ordering::SeqCst);
    }
    out
}

/// What the submitters have done so far.
#[derive(Default)]
struct Counts {
    /// Processes submitted (and known to be stored).
    submitted: AtomicUsize,
    /// Requests that failed in transport (a broker was down).
    transport_errors: AtomicUsize,
}

/// Starts `submitters` submitters of `total` processes (each with `clients`
/// rotated by its index); returns their tasks and their counts.
fn submitters(
    clients: &[Client],
    colony: &TestColony,
    submitters: usize,
    total: usize,
) -> (Vec<JoinHandle<Submitted>>, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let tasks = (0..submitters)
        .map(|i| {
            let mut mine = clients.to_vec();
            mine.rotate_left(i % clients.len());
            let labels = (0..total)
                .filter(|n| n % submitters == i)
                .map(|n| format!("job-{n}"))
                .collect();
            tokio::spawn(submit_all(mine, colony.clone(), labels, counts.clone()))
        })
        .collect();
    (tasks, counts)
}

/// Waits until a third of `total` processes are submitted, and checks that
/// the load is still going: the fault that follows hits it mid-way.
async fn a_third_of(counts: &Counts, total: usize, ran: &Ran) {
    while counts.submitted.load(Ordering::SeqCst) < total / 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let submitted = counts.submitted.load(Ordering::SeqCst);
    assert!(submitted < total, "the load ended before the fault");
    assert!(
        ran.lock().unwrap().len() < total,
        "the executors finished before the fault"
    );
}

/// Waits until `total` processes of `colony` have finished, then checks that
/// each submitted process ran exactly once and succeeded.
async fn check_exactly_once(client: &Client, colony: &TestColony, total: usize, submitted: Submitted, ran: &Ran) {
    let started = Instant::now();
    loop {
        let stats = client.colony_stats(&colony.name, &colony.executor.key).await.unwrap();
        if stats.successfulprocesses + stats.failedprocesses >= total as i64 {
            assert_eq!(stats.successfulprocesses, total as i64, "{stats:?}");
            assert_eq!(
                stats.waitingprocesses + stats.runningprocesses + stats.failedprocesses,
                0,
                "{stats:?}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "not every process finished: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let by_label: BTreeMap<String, String> = submitted.iter().cloned().collect();
    assert_eq!(by_label.len(), total, "every label was submitted once");
    let ids: BTreeSet<String> = by_label.values().cloned().collect();
    assert_eq!(ids.len(), total, "no two labels share a process");

    let ran = ran.lock().unwrap().clone();
    let mut seen = BTreeSet::new();
    for id in &ran {
        assert!(seen.insert(id.clone()), "process {id} ran twice");
    }
    assert_eq!(seen, ids, "the processes that ran are exactly the ones submitted");
    // Each process is successful with its own output.
    for (label, id) in submitted.iter().step_by(25) {
        let p = client.get_process(id, &colony.executor.key).await.unwrap();
        assert_eq!(p.state, state::SUCCESS);
        assert_eq!(p.output, vec![json!(label)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_replica_mid_load_loses_and_repeats_nothing() {
    const TOTAL: usize = 300;
    let Some(schema) = TestSchema::new("killing_a_replica_mid_load_loses_and_repeats_nothing") else {
        return;
    };
    within(90, async {
        // Create and migrate the schema, then let the servers use it.
        drop(schema.store().await);
        let dir = tempfile::tempdir().unwrap();
        let server_key = PrivateKey::generate();
        let args = |name: &str| {
            vec![
                "--database-url".to_owned(),
                schema.url(),
                "--data-dir".to_owned(),
                dir.path().join(name).display().to_string(),
            ]
        };
        let mut a = ServerProcess::start(free_port(), &args("a"), &server_key.id(), &dir.path().join("a.log")).await;
        let b = ServerProcess::start(free_port(), &args("b"), &server_key.id(), &dir.path().join("b.log")).await;
        let colony = add_colony(&a.client(), &server_key).await;

        let balancers = [
            Failover::start(vec![a.addr(), b.addr()]).await,
            Failover::start(vec![b.addr(), a.addr()]).await,
        ];
        let ran: Ran = Arc::default();
        let (stop, stopping) = watch::channel(false);
        let mut executors = Vec::new();
        for i in 0..8 {
            let runtime = executor(balancers[i % 2].port(), &colony, &ran).await;
            executors.push(run(runtime, &stopping));
        }
        let (tasks, counts) = submitters(&[a.client(), b.client()], &colony, 4, TOTAL);

        a_third_of(&counts, TOTAL, &ran).await;
        a.kill().await;
        let submitted: Submitted = join_all(tasks).await.into_iter().flat_map(Result::unwrap).collect();
        assert!(
            counts.transport_errors.load(Ordering::SeqCst) > 0,
            "the submitters that used the killed replica saw it go"
        );
        check_exactly_once(&b.client(), &colony, TOTAL, submitted, &ran).await;

        stop.send(true).unwrap();
        for e in join_all(executors).await {
            e.expect("an executor task panicked");
        }
        drop(b);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_a_sqlite_server_mid_load_loses_and_repeats_nothing() {
    const TOTAL: usize = 300;
    within(90, async {
        let dir = tempfile::tempdir().unwrap();
        let server_key = PrivateKey::generate();
        let args = vec!["--data-dir".to_owned(), dir.path().join("data").display().to_string()];
        let mut server =
            ServerProcess::start(free_port(), &args, &server_key.id(), &dir.path().join("server.log")).await;
        let colony = add_colony(&server.client(), &server_key).await;

        let ran: Ran = Arc::default();
        let (stop, stopping) = watch::channel(false);
        let mut executors = Vec::new();
        for _ in 0..4 {
            let runtime = executor(server.port(), &colony, &ran).await;
            executors.push(run(runtime, &stopping));
        }
        let (tasks, counts) = submitters(&[server.client()], &colony, 2, TOTAL);

        a_third_of(&counts, TOTAL, &ran).await;
        // kill -9, then the same binary on the same data directory and port.
        server.restart().await;
        let submitted: Submitted = join_all(tasks).await.into_iter().flat_map(Result::unwrap).collect();
        assert!(
            counts.transport_errors.load(Ordering::SeqCst) > 0,
            "the submitters saw the server go"
        );
        check_exactly_once(&server.client(), &colony, TOTAL, submitted, &ran).await;

        stop.send(true).unwrap();
        for e in join_all(executors).await {
            e.expect("an executor task panicked");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_held_by_a_dead_executor_is_run_by_another() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let mut s = spec(&colony.name, WORKER, "work");
        s.maxexectime = 1;
        s.maxretries = 2;
        s.label = "orphan".into();
        let p = client.submit(s, &colony.executor.key).await.unwrap();

        // An executor takes the process and dies without a word.
        let dead = server.executor(&colony, WORKER, true).await;
        let held = client.assign(&colony.name, -1, &dead.key).await.unwrap().expect("work");
        assert_eq!(held.processid, p.processid);
        let died = Instant::now();
        drop(dead);

        // A live executor, already polling, gets it once its time is up.
        let ran: Ran = Arc::default();
        let (stop, stopping) = watch::channel(false);
        let live = executor(server.addr().port(), &colony, &ran).await;
        let live_id = live.id();
        let task = run(live, &stopping);
        let done = client
            .wait(&p, state::SUCCESS, 15, &colony.executor.key)
            .await
            .unwrap()
            .expect("the process finishes");
        let elapsed = died.elapsed();
        stop.send(true).unwrap();
        task.await.unwrap();

        assert_eq!(done.state, state::SUCCESS);
        assert_eq!(done.retries, 1, "one requeue");
        assert_eq!(done.assignedexecutorid, live_id);
        assert_eq!(done.output, vec![json!("orphan")]);
        assert_eq!(*ran.lock().unwrap(), vec![p.processid.clone()]);
        assert!(
            elapsed >= Duration::from_millis(900),
            "requeued before its time: {elapsed:?}"
        );
        assert!(elapsed < Duration::from_secs(5), "requeued late: {elapsed:?}");
    })
    .await;
}
