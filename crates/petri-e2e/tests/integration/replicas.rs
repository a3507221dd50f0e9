//! Several brokers (replicas) sharing one PostgreSQL schema behave as one:
//! each process is assigned once whichever replica its executor asks, work
//! submitted on one replica wakes executors and waiters on another, and the
//! deadline duties run on exactly one replica and move when it goes away.
//!
//! These tests need `PETRI_TEST_DATABASE_URL`; without it they say so and pass.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use petri_api::model::{Process, state};
use petri_crypto::PrivateKey;
use petri_e2e::{Replica, TestColony, TestSchema, WORKER, add_colony, add_executor, spec, within};
use petri_server::{AppState, Config};
use petri_store::Store;
use serde_json::json;

/// A replica's state (so a test can ask its store whether it leads) and its server.
struct Node {
    state: AppState,
    server: Replica,
}

async fn node(schema: &TestSchema, server_key: &PrivateKey) -> Node {
    let store: Arc<dyn Store> = Arc::new(schema.store().await);
    let state = AppState::new(store, Config::new(server_key.id()));
    let server = Replica::serve(state.clone()).await;
    Node { state, server }
}

/// Two replicas on one fresh schema, and a colony made through the first.
async fn pair(schema: &TestSchema) -> (Node, Node, TestColony) {
    let server_key = PrivateKey::generate();
    let a = node(schema, &server_key).await;
    let b = node(schema, &server_key).await;
    let colony = add_colony(&a.server.client(), &server_key).await;
    (a, b, colony)
}

/// A process limited to one second of waiting.
fn impatient(colony: &str) -> petri_api::model::FunctionSpec {
    let mut s = spec(colony, WORKER, "impatient");
    s.maxwaittime = 1;
    s
}

/// Submits a process that may wait one second on `submit_on`, and checks that
/// some replica's deadline duty fails it in time.
async fn deadline_is_enforced(submit_on: &Replica, colony: &TestColony) {
    let client = submit_on.client();
    let key = &colony.executor.key;
    let started = Instant::now();
    let p = client.submit(impatient(&colony.name), key).await.unwrap();
    let failed = client
        .wait(&p, state::FAILED, 8, key)
        .await
        .unwrap()
        .expect("a replica enforces the wait limit");
    assert_eq!(failed.errors, vec!["Maximum waiting time limit exceeded".to_owned()]);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "enforced late: {elapsed:?}");
}

/// Which of the nodes lead; a non-leader asked may take the lead if nobody has it.
async fn leaders(nodes: &[&Node]) -> Vec<bool> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(n.state.store().lead().await.expect("ask the store whether it leads"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_process_is_assigned_once_across_replicas() {
    const PROCESSES: usize = 1000;
    const EXECUTORS: usize = 16;
    let Some(schema) = TestSchema::new("each_process_is_assigned_once_across_replicas") else {
        return;
    };
    within(60, async {
        let (a, b, colony) = pair(&schema).await;
        let clients = [a.server.client(), b.server.client()];

        let submitted: Vec<String> = stream::iter(0..PROCESSES)
            .map(|i| {
                let client = clients[i % 2].clone();
                let s = spec(&colony.name, WORKER, &format!("job-{i}"));
                let key = colony.executor.key.clone();
                async move { client.submit(s, &key).await.unwrap().processid }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let submitted: BTreeSet<String> = submitted.into_iter().collect();
        assert_eq!(submitted.len(), PROCESSES);

        let mut executors = Vec::new();
        for i in 0..EXECUTORS {
            executors.push(add_executor(&clients[i % 2], &colony, WORKER, true).await);
        }
        let workers: Vec<_> = executors
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let client = clients[i % 2].clone();
                let colony = colony.name.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    // Everything was submitted before the executors started,
                    // so an empty answer means the queue is drained.
                    while let Some(p) = client.assign(&colony, -1, &e.key).await.unwrap() {
                        assert_eq!(p.assignedexecutorid, e.id());
                        client.close(&p.processid, vec![json!(e.name)], &e.key).await.unwrap();
                        mine.push(p.processid);
                    }
                    (i, e.name, mine)
                })
            })
            .collect();

        let mut owner: HashMap<String, String> = HashMap::new();
        let mut busy_on = [0usize; 2];
        for w in workers {
            let (i, name, mine) = w.await.unwrap();
            busy_on[i % 2] += usize::from(!mine.is_empty());
            for id in mine {
                if let Some(first) = owner.insert(id.clone(), name.clone()) {
                    panic!("process {id} was assigned to both {first} and {name}");
                }
            }
        }
        let assigned: BTreeSet<String> = owner.keys().cloned().collect();
        assert_eq!(assigned, submitted, "every process is assigned, and only those");
        assert!(
            busy_on[0] > 0 && busy_on[1] > 0,
            "executors on both replicas took work: {busy_on:?}"
        );
        for client in &clients {
            let stats = client.colony_stats(&colony.name, &colony.executor.key).await.unwrap();
            assert_eq!(stats.successfulprocesses, PROCESSES as i64);
            assert_eq!(
                stats.waitingprocesses + stats.runningprocesses + stats.failedprocesses,
                0
            );
        }
        // Each process records the executor that closed it.
        for id in owner.keys().step_by(50) {
            let p = clients[1].get_process(id, &colony.executor.key).await.unwrap();
            assert_eq!(p.state, state::SUCCESS);
            assert_eq!(p.output, vec![json!(owner[id])]);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_on_one_replica_wakes_an_executor_on_the_other() {
    let Some(schema) = TestSchema::new("a_submission_on_one_replica_wakes_an_executor_on_the_other") else {
        return;
    };
    within(60, async {
        let (a, b, colony) = pair(&schema).await;
        let key = &colony.executor.key;
        for (submit_on, poll_on) in [(&a, &b), (&b, &a)] {
            let poller = {
                let client = poll_on.server.client();
                let (colony, key) = (colony.name.clone(), key.clone());
                // The poll may last 20 s; being woken must take far less.
                tokio::spawn(async move {
                    let p = client.assign(&colony, 20, &key).await.unwrap();
                    (p, Instant::now())
                })
            };
            // Let the long-poll settle on its replica first.
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert!(!poller.is_finished(), "the long-poll returned before any work existed");
            let submitted = submit_on
                .server
                .client()
                .submit(spec(&colony.name, WORKER, "wake"), key)
                .await
                .unwrap();
            let sent = Instant::now();
            let (got, woken) = poller.await.unwrap();
            let got = got.expect("the waiting executor gets the process");
            assert_eq!(got.processid, submitted.processid);
            let latency = woken.saturating_duration_since(sent);
            assert!(latency < Duration::from_secs(2), "woken after {latency:?}");
            submit_on
                .server
                .client()
                .close(&got.processid, vec![], key)
                .await
                .unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_on_one_replica_sees_a_close_on_the_other() {
    let Some(schema) = TestSchema::new("a_wait_on_one_replica_sees_a_close_on_the_other") else {
        return;
    };
    within(60, async {
        let (a, b, colony) = pair(&schema).await;
        let key = &colony.executor.key;
        let p = a
            .server
            .client()
            .submit(spec(&colony.name, WORKER, "f"), key)
            .await
            .unwrap();
        let waiter = {
            let client = b.server.client();
            let (p, key) = (p.clone(), key.clone());
            tokio::spawn(async move {
                let done: Option<Process> = client.wait(&p, state::SUCCESS, 20, &key).await.unwrap();
                (done, Instant::now())
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!waiter.is_finished(), "the wait returned before the close");
        let client = a.server.client();
        let assigned = client.assign(&colony.name, -1, key).await.unwrap().expect("work");
        client
            .close(&assigned.processid, vec![json!("from a")], key)
            .await
            .unwrap();
        let closed = Instant::now();
        let (done, seen) = waiter.await.unwrap();
        let done = done.expect("the wait on the other replica returns the closed process");
        assert_eq!(done.processid, p.processid);
        assert_eq!(done.state, state::SUCCESS);
        assert_eq!(done.output, vec![json!("from a")]);
        let latency = seen.saturating_duration_since(closed);
        assert!(latency < Duration::from_secs(2), "seen after {latency:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_duties_run_on_one_replica_and_move_when_it_stops() {
    let Some(schema) = TestSchema::new("deadline_duties_run_on_one_replica_and_move_when_it_stops") else {
        return;
    };
    within(60, async {
        let (a, b, colony) = pair(&schema).await;
        // Both duty loops tick at once on start; give them a moment to settle.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let lead = leaders(&[&a, &b]).await;
        assert!(lead[0] ^ lead[1], "exactly one replica leads: {lead:?}");
        let (leader, follower) = if lead[0] { (a, b) } else { (b, a) };
        // The leader enforces limits of processes submitted on either replica.
        deadline_is_enforced(&follower.server, &colony).await;
        deadline_is_enforced(&leader.server, &colony).await;
        assert_eq!(
            leaders(&[&leader, &follower]).await,
            vec![true, false],
            "leadership is stable"
        );

        // The leader stops, and with its store gone its session ends.
        let Node { state, server } = leader;
        drop(state);
        server.stop().await;
        deadline_is_enforced(&follower.server, &colony).await;
        assert_eq!(leaders(&[&follower]).await, vec![true], "the follower took over");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_deployment_on_the_same_database_does_not_take_the_lead() {
    let Some(other) = TestSchema::new("another_deployment_on_the_same_database_does_not_take_the_lead") else {
        return;
    };
    let schema = TestSchema::new("the second deployment").expect("the database is configured");
    within(60, async {
        // A server of another deployment (its own schema) leads its own duties...
        let other_store = other.store().await;
        assert!(
            other_store.lead().await.unwrap(),
            "the only server of a deployment leads it"
        );
        // ...and this deployment's replicas still enforce their deadlines.
        let (a, _b, colony) = pair(&schema).await;
        deadline_is_enforced(&a.server, &colony).await;
        drop(other_store);
    })
    .await;
}
