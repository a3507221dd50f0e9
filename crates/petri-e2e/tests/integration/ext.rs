//! Crons, generators, channels, files, snapshots, blueprints and users
//! through the SDK, on SQLite and (when `PETRI_TEST_DATABASE_URL` is set)
//! on PostgreSQL, including two servers sharing one database.

use std::sync::Arc;
use std::time::Duration;

use petri_api::model::{Blueprint, BlueprintDefinition, Colony, Cron, Executor, File, Generator, User, state};
use petri_api::msg::{GetFile, RemoveFile};
use petri_crypto::PrivateKey;
use petri_e2e::{TestColony, TestExecutor, TestSchema, WORKER, node, refused, unique, within, workflow};
use petri_sdk::Client;
use petri_server::{AppState, Config};
use petri_store::Store;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A broker over a given store, stopped on drop.
struct Broker {
    client: Client,
    stop: Option<oneshot::Sender<()>>,
    _dir: Option<tempfile::TempDir>,
    // Its PostgreSQL schema, dropped with the last broker using it.
    _schema: Option<Arc<TestSchema>>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

async fn serve(store: Arc<dyn Store>, server_key: &PrivateKey, dir: Option<tempfile::TempDir>) -> Broker {
    serve_with(store, Config::new(server_key.id()), dir).await
}

async fn serve_with(store: Arc<dyn Store>, config: Config, dir: Option<tempfile::TempDir>) -> Broker {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let state = AppState::new(store, config);
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(petri_server::serve(listener, state, async move {
        let _ = rx.await;
    }));
    Broker {
        client: Client::new("127.0.0.1", port, false),
        stop: Some(tx),
        _dir: dir,
        _schema: None,
    }
}

async fn sqlite(server_key: &PrivateKey) -> Broker {
    let dir = tempfile::tempdir().unwrap();
    let store = petri_store_sqlite::SqliteStore::open(&dir.path().join("petri.db")).unwrap();
    serve(Arc::new(store), server_key, Some(dir)).await
}

/// `n` brokers sharing a fresh schema of the test database, or none when it is not configured.
async fn postgres(server_key: &PrivateKey, n: usize) -> Vec<Broker> {
    let Some(schema) = TestSchema::new("the PostgreSQL runs") else {
        return Vec::new();
    };
    let schema = Arc::new(schema);
    let mut out = Vec::new();
    for _ in 0..n {
        let mut broker = serve(Arc::new(schema.store().await), server_key, None).await;
        broker._schema = Some(schema.clone());
        out.push(broker);
    }
    out
}

/// One broker per backend.
async fn brokers(server_key: &PrivateKey) -> Vec<Broker> {
    let mut all = vec![sqlite(server_key).await];
    all.extend(postgres(server_key, 1).await);
    all
}

async fn new_colony(client: &Client, server_key: &PrivateKey) -> TestColony {
    let key = PrivateKey::generate();
    let name = unique("colony");
    client
        .add_colony(
            Colony {
                colonyid: key.id(),
                name: name.clone(),
            },
            server_key,
        )
        .await
        .unwrap();
    let executor = new_executor(client, &name, &key, WORKER).await;
    TestColony { name, key, executor }
}

async fn new_executor(client: &Client, colony: &str, colony_key: &PrivateKey, kind: &str) -> TestExecutor {
    let key = PrivateKey::generate();
    let name = unique("executor");
    let e = Executor {
        executorid: key.id(),
        executortype: kind.into(),
        executorname: name.clone(),
        colonyname: colony.into(),
        ..Executor::default()
    };
    client.add_executor(e, colony_key).await.unwrap();
    client.approve_executor(colony, &name, colony_key).await.unwrap();
    TestExecutor {
        name,
        executortype: kind.into(),
        key,
    }
}

fn spec_text(colony: &str, funcname: &str) -> String {
    serde_json::to_string(&workflow(colony, vec![node(colony, funcname, &[])])).unwrap()
}

fn interval_cron(colony: &str, secs: i64, wait: bool) -> Cron {
    Cron {
        colonyname: colony.into(),
        name: unique("cron"),
        interval: secs,
        waitforprevprocessgraph: wait,
        workflowspec: spec_text(colony, "tick"),
        ..Cron::default()
    }
}

async fn graphs(client: &Client, colony: &TestColony) -> usize {
    let key = &colony.executor.key;
    let mut n = 0;
    for s in [state::WAITING, state::RUNNING, state::SUCCESS, state::FAILED] {
        n += client.get_graphs(&colony.name, s, 100, key).await.unwrap().len();
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crons_fire_chain_outputs_and_wait_for_the_previous_run() {
    within(60, async {
        let server_key = PrivateKey::generate();
        for b in brokers(&server_key).await {
            let c = &b.client;
            let col = new_colony(c, &server_key).await;
            let key = &col.executor.key;
            let cron = c.add_cron(interval_cron(&col.name, 1, false), key).await.unwrap();
            assert_eq!(cron.initiatorname, col.executor.name);
            assert!(!cron.nextrun.is_unset());
            assert_eq!(c.get_crons(&col.name, 10, key).await.unwrap(), vec![cron.clone()]);

            let first = c.assign(&col.name, 10, key).await.unwrap().expect("the cron fires");
            c.close(&first.processid, vec![json!("out-1")], key).await.unwrap();
            let chained = loop {
                let p = c.assign(&col.name, 10, key).await.unwrap().expect("it fires again");
                c.close(&p.processid, vec![json!("later")], key).await.unwrap();
                if p.input == Some(vec![json!("out-1")]) {
                    break p;
                }
            };
            assert_ne!(chained.processgraphid, first.processgraphid);
            c.remove_cron(&cron.cronid, key).await.unwrap();
            let before = graphs(c, &col).await;
            tokio::time::sleep(Duration::from_millis(2200)).await;
            assert_eq!(graphs(c, &col).await, before, "a removed cron stops firing");
            assert_eq!(
                refused(c.get_cron(&cron.cronid, key).await, 404),
                format!("Cron with id {:?} not found", cron.cronid)
            );

            // Waiting for the previous run: while it runs, nothing new starts, not even on request.
            let waiting = c.add_cron(interval_cron(&col.name, 1, true), key).await.unwrap();
            let running = c.assign(&col.name, 10, key).await.unwrap().unwrap();
            let before = graphs(c, &col).await;
            tokio::time::sleep(Duration::from_millis(2200)).await;
            let ran = c.run_cron(&waiting.cronid, key).await.unwrap();
            assert_eq!(ran.prevprocessgraphid, running.processgraphid);
            assert_eq!(graphs(c, &col).await, before);
            c.close(&running.processid, vec![], key).await.unwrap();
            let next = c
                .assign(&col.name, 10, key)
                .await
                .unwrap()
                .expect("fires once the previous finished");
            assert_ne!(next.processgraphid, running.processgraphid);
            c.remove_cron(&waiting.cronid, key).await.unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_input_is_checked_and_roles_hold() {
    within(30, async {
        let server_key = PrivateKey::generate();
        for b in brokers(&server_key).await {
            let c = &b.client;
            let col = new_colony(c, &server_key).await;
            let key = &col.executor.key;
            let mut bad = interval_cron(&col.name, 0, false);
            assert!(refused(c.add_cron(bad.clone(), key).await, 400).contains("interval"));
            bad.interval = -1;
            bad.cronexpression = "* * * * *".into();
            assert!(refused(c.add_cron(bad.clone(), key).await, 400).contains("seconds first"));
            bad.cronexpression = "0/2 * * * * *".into();
            bad.workflowspec = "{not json".into();
            assert!(refused(c.add_cron(bad.clone(), key).await, 400).contains("invalid JSON"));
            bad.workflowspec = spec_text(&col.name, "x");
            bad.name = String::new();
            refused(c.add_cron(bad.clone(), key).await, 400);
            bad.name = "ok".into();
            let cron = c.add_cron(bad, key).await.unwrap();
            // Only members see or start it; the colony owner is not a member.
            let outsider = PrivateKey::generate();
            assert!(refused(c.run_cron(&cron.cronid, &outsider).await, 403).contains("Access denied"));
            refused(c.get_cron(&cron.cronid, &col.key).await, 403);
            refused(c.remove_cron(&cron.cronid, &outsider).await, 403);
            refused(c.run_cron("missing", key).await, 404);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_fires_once_per_run_across_replicas() {
    within(60, async {
        let server_key = PrivateKey::generate();
        let replicas = postgres(&server_key, 2).await;
        if replicas.is_empty() {
            return;
        }
        let col = new_colony(&replicas[0].client, &server_key).await;
        let key = &col.executor.key;
        replicas[1]
            .client
            .add_cron(interval_cron(&col.name, 1, false), key)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(4500)).await;
        // Four beats have passed: one run each (a late tick may still be on its way,
        // and a slow machine may have missed one); both servers firing would make eight.
        let runs = graphs(&replicas[0].client, &col).await;
        assert!((2..=5).contains(&runs), "{runs} runs in 4.5 s");
        let cron = &replicas[1].client.get_crons(&col.name, 10, key).await.unwrap()[0];
        let last = replicas[0]
            .client
            .get_graph(&cron.prevprocessgraphid, key)
            .await
            .unwrap();
        assert_eq!(last.initiatorname, col.executor.name);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generators_submit_full_batches_and_leftovers_after_the_timeout() {
    within(40, async {
        let server_key = PrivateKey::generate();
        for b in brokers(&server_key).await {
            let c = &b.client;
            let col = new_colony(c, &server_key).await;
            let key = &col.executor.key;
            let g = Generator {
                colonyname: col.name.clone(),
                name: unique("gen"),
                workflowspec: spec_text(&col.name, "batch"),
                trigger: 3,
                timeout: 1,
                ..Generator::default()
            };
            let g = c.add_generator(g, key).await.unwrap();
            assert_eq!(
                c.resolve_generator(&col.name, &g.name, key).await.unwrap().generatorid,
                g.generatorid
            );
            for i in 0..4 {
                c.pack_generator(&g.generatorid, &format!("a{i}"), key).await.unwrap();
            }
            let full = c.assign(&col.name, 10, key).await.unwrap().unwrap();
            assert_eq!(full.spec.args, vec![json!("a0"), json!("a1"), json!("a2")]);
            let rest = c.assign(&col.name, 10, key).await.unwrap().unwrap();
            assert_eq!(rest.spec.args, vec![json!("a3")]);
            assert_eq!(c.get_generator(&g.generatorid, key).await.unwrap().queuesize, 0);
            assert_eq!(c.get_generators(&col.name, 10, key).await.unwrap().len(), 1);
            let mut zero = g.clone();
            zero.trigger = 0;
            assert!(refused(c.add_generator(zero, key).await, 400).contains("trigger"));
            refused(c.pack_generator("missing", "x", key).await, 404);
            refused(c.pack_generator(&g.generatorid, &"x".repeat(70_000), key).await, 400);
            c.remove_generator(&g.generatorid, key).await.unwrap();
            refused(c.get_generator(&g.generatorid, key).await, 404);
        }
    })
    .await;
}

async fn channel_process(c: &Client, col: &TestColony) -> petri_api::model::Process {
    let mut spec = petri_e2e::spec(&col.name, WORKER, "chat");
    spec.channels = vec!["chat".into()];
    let p = c.submit(spec, &col.executor.key).await.unwrap();
    let runner = c.assign(&col.name, 10, &col.executor.key).await.unwrap().unwrap();
    assert_eq!(runner.processid, p.processid);
    runner
}

fn texts(entries: &[petri_api::model::MsgEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| String::from_utf8(e.payload.0.clone()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_carry_messages_between_submitter_and_executor() {
    within(60, async {
        let server_key = PrivateKey::generate();
        for b in brokers(&server_key).await {
            let c = &b.client;
            let col = new_colony(c, &server_key).await;
            // A user submits; the colony's executor runs it.
            let user_key = PrivateKey::generate();
            let user = User {
                colonyname: col.name.clone(),
                userid: user_key.id(),
                name: unique("user"),
                ..User::default()
            };
            c.add_user(user, &col.key).await.unwrap();
            let mut spec = petri_e2e::spec(&col.name, WORKER, "chat");
            spec.channels = vec!["chat".into()];
            let p = c.submit(spec, &user_key).await.unwrap();
            let ex = &col.executor.key;
            // Before assignment only the submitter may use it.
            c.channel_append(&p.processid, "chat", 1, 0, b"hello", "", &user_key)
                .await
                .unwrap();
            refused(c.channel_read(&p.processid, "chat", 0, 0, ex).await, 403);
            c.assign(&col.name, 10, ex).await.unwrap().unwrap();

            let mut sub1 = c.subscribe_channel(&p.processid, "chat", 0, 10, ex).await.unwrap();
            let mut sub2 = c
                .subscribe_channel(&p.processid, "chat", 0, 10, &user_key)
                .await
                .unwrap();
            assert_eq!(texts(&sub1.next().await.unwrap().unwrap()), vec!["hello"]);
            assert_eq!(texts(&sub2.next().await.unwrap().unwrap()), vec!["hello"]);
            c.channel_append(&p.processid, "chat", 1, 1, b"hi back", "data", ex)
                .await
                .unwrap();
            c.channel_append(&p.processid, "chat", 2, 0, b"", "end", ex)
                .await
                .unwrap();
            for sub in [&mut sub1, &mut sub2] {
                assert_eq!(texts(&sub.next().await.unwrap().unwrap()), vec!["hi back"]);
                let end = sub.next().await.unwrap().unwrap();
                assert_eq!(end[0].kind, "end");
            }
            let all = c.channel_read(&p.processid, "chat", 0, 0, &user_key).await.unwrap();
            assert_eq!(texts(&all), vec!["hello", "hi back", ""]);
            assert_eq!(
                (all[1].inreplyto, all[1].senderid.as_str()),
                (1, col.executor.id().as_str())
            );
            assert_eq!(all[0].senderid, user_key.id());

            // Bad input and strangers.
            assert_eq!(
                refused(c.channel_read(&p.processid, "nope", 0, 0, ex).await, 404),
                "Channel not found"
            );
            refused(c.channel_read("missing", "chat", 0, 0, ex).await, 404);
            refused(c.channel_read(&p.processid, "chat", -1, 0, ex).await, 400);
            refused(
                c.channel_append(&p.processid, "chat", 3, 0, b"x", "bogus", ex).await,
                400,
            );
            let other = new_executor(c, &col.name, &col.key, "other").await;
            assert!(
                refused(
                    c.channel_append(&p.processid, "chat", 1, 0, b"x", "", &other.key).await,
                    403
                )
                .contains("Not authorized")
            );
            refused(
                c.channel_read(&p.processid, "chat", 0, 0, &PrivateKey::generate())
                    .await,
                403,
            );

            // Closing the process ends the channel and its subscriptions.
            c.close(&p.processid, vec![], ex).await.unwrap();
            assert!(sub1.next().await.unwrap().is_none(), "the subscription ends");
            refused(c.channel_read(&p.processid, "chat", 0, 0, ex).await, 404);
            refused(c.channel_append(&p.processid, "chat", 9, 0, b"late", "", ex).await, 404);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_messages_are_bounded() {
    within(60, async {
        let server_key = PrivateKey::generate();
        // Bodies large enough for the channel limits to be what refuses.
        let mut config = Config::new(server_key.id());
        config.max_body_bytes = 64 * 1024 * 1024;
        let dir = tempfile::tempdir().unwrap();
        let store = petri_store_sqlite::SqliteStore::open(&dir.path().join("petri.db")).unwrap();
        let b = serve_with(Arc::new(store), config, Some(dir)).await;
        let c = &b.client;
        let col = new_colony(c, &server_key).await;
        let p = channel_process(c, &col).await;
        let big = vec![7u8; 10 * 1024 * 1024 + 1];
        let msg = refused(
            c.channel_append(&p.processid, "chat", 1, 0, &big, "", &col.executor.key)
                .await,
            400,
        );
        assert!(msg.contains("limit"), "{msg}");
        // Nine MiB fits, the fourth takes the channel past its 32 MiB.
        let nine = vec![1u8; 9 * 1024 * 1024];
        for i in 0..3 {
            c.channel_append(&p.processid, "chat", i, 0, &nine, "", &col.executor.key)
                .await
                .unwrap();
        }
        let full = refused(
            c.channel_append(&p.processid, "chat", 9, 0, &nine, "", &col.executor.key)
                .await,
            400,
        );
        assert!(full.contains("is full"), "{full}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_subscribers_on_another_replica_get_the_messages() {
    within(30, async {
        let server_key = PrivateKey::generate();
        let replicas = postgres(&server_key, 2).await;
        if replicas.is_empty() {
            return;
        }
        let (a, b) = (&replicas[0].client, &replicas[1].client);
        let col = new_colony(a, &server_key).await;
        let p = channel_process(a, &col).await;
        let key = &col.executor.key;
        let mut sub = a.subscribe_channel(&p.processid, "chat", 0, 10, key).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let start = std::time::Instant::now();
        b.channel_append(&p.processid, "chat", 1, 0, b"via b", "", key)
            .await
            .unwrap();
        assert_eq!(texts(&sub.next().await.unwrap().unwrap()), vec!["via b"]);
        assert!(
            start.elapsed() < Duration::from_millis(900),
            "pushed, not polled: {:?}",
            start.elapsed()
        );
    })
    .await;
}

fn file(colony: &str, label: &str, name: &str, object: &str) -> File {
    let mut f = File {
        colonyname: colony.into(),
        label: label.into(),
        name: name.into(),
        size: 5,
        checksum: "abc".into(),
        checksumalg: "SHA256".into(),
        ..File::default()
    };
    f.reference.protocol = "s3".into();
    f.reference.s3object.bucket = "bucket".into();
    f.reference.s3object.object = object.into();
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_labels_and_snapshots() {
    within(30, async {
        let server_key = PrivateKey::generate();
        for b in brokers(&server_key).await {
            let c = &b.client;
            let col = new_colony(c, &server_key).await;
            let (n, key) = (col.name.as_str(), &col.executor.key);
            let v1 = c.add_file(file(n, "/in", "a", "o1"), key).await.unwrap();
            let v2 = c.add_file(file(n, "/in", "a", "o2"), key).await.unwrap();
            let sub = c.add_file(file(n, "/in/sub", "b", "o3"), key).await.unwrap();
            assert!(v2.sequencenr > v1.sequencenr && !v1.added.is_unset() && v1.fileid.len() == 64);
            let by = |fileid: &str, label: &str, name: &str, latest| GetFile {
                colonyname: n.into(),
                fileid: fileid.into(),
                label: label.into(),
                name: name.into(),
                latest,
            };
            assert_eq!(
                c.get_file(by("", "/in", "a", true), key).await.unwrap(),
                vec![v2.clone()]
            );
            assert_eq!(
                c.get_file(by("", "/in", "a", false), key).await.unwrap(),
                vec![v2.clone(), v1.clone()]
            );
            assert_eq!(
                c.get_file(by(&v1.fileid, "", "", true), key).await.unwrap(),
                vec![v1.clone()]
            );
            refused(c.get_file(by("", "/in", "", true), key).await, 400);
            refused(c.get_file(by("nope", "", "", true), key).await, 404);
            let data = c.get_files(n, "/in", key).await.unwrap();
            assert_eq!((data.len(), data[0].s3filename.as_str()), (1, "o2"));
            let labels = c.get_file_labels(n, "", false, key).await.unwrap();
            assert_eq!(
                labels.iter().map(|l| (l.name.as_str(), l.files)).collect::<Vec<_>>(),
                vec![("/in", 2), ("/in/sub", 1)]
            );
            assert_eq!(c.get_file_labels(n, "/in/s", false, key).await.unwrap().len(), 1);
            assert_eq!(c.get_file_labels(n, "/in", true, key).await.unwrap().len(), 2);

            let snap = c.create_snapshot(n, "/in/", "s1", key).await.unwrap();
            let mut ids = snap.fileids.clone().unwrap();
            ids.sort();
            let mut want = vec![v2.fileid.clone(), sub.fileid.clone()];
            want.sort();
            assert_eq!((snap.label.as_str(), ids), ("/in", want));
            refused(c.create_snapshot(n, "/in", "s1", key).await, 400);
            assert_eq!(c.get_snapshot(n, "", "s1", key).await.unwrap(), snap);
            assert_eq!(c.get_snapshot(n, &snap.snapshotid, "", key).await.unwrap(), snap);
            assert_eq!(c.create_snapshot(n, "/none", "s2", key).await.unwrap().fileids, None);
            assert_eq!(c.get_snapshots(n, key).await.unwrap().len(), 2);
            c.remove_snapshot(n, "", "s2", key).await.unwrap();
            refused(c.get_snapshot(n, "", "s2", key).await, 404);
            c.remove_all_snapshots(n, key).await.unwrap();
            assert!(c.get_snapshots(n, key).await.unwrap().is_empty());

            let rm = |fileid: &str, label: &str, name: &str| RemoveFile {
                colonyname: n.into(),
                fileid: fileid.into(),
                label: label.into(),
                name: name.into(),
            };
            c.remove_file(rm(&v1.fileid, "", ""), key).await.unwrap();
            refused(c.remove_file(rm(&v1.fileid, "", ""), key).await, 404);
            c.remove_file(rm("", "/in", "a"), key).await.unwrap();
            refused(c.get_file(by("", "/in", "a", false), key).await, 404);
            refused(c.get_file_labels(n, "", false, &PrivateKey::generate()).await, 403);
            let mut nameless = file(n, "/in", "", "o");
            refused(c.add_file(nameless.clone(), key).await, 400);
            nameless.name = "x".into();
            nameless.size = -1;
            refused(c.add_file(nameless, key).await, 400);
        }
    })
    .await;
}

fn definition(colony: &str, kind: &str, handler: Option<&str>) -> BlueprintDefinition {
    let mut spec = json!({"names": {"kind": kind}, "schema": {"type": "object", "required": ["power"]}});
    if let Some(t) = handler {
        spec["handler"] = json!({"executorType": t, "functionName": "reconcile"});
    }
    serde_json::from_value(json!({"kind": "BlueprintDefinition",
        "metadata": {"name": kind.to_lowercase(), "colonyname": colony}, "spec": spec}))
    .unwrap()
}

fn blueprint(colony: &str, kind: &str, name: &str, power: bool) -> Blueprint {
    serde_json::from_value(json!({"kind": kind, "metadata": {"name": name, "colonyname": colony},
        "spec": {"power": power}}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blueprints_are_versioned_validated_and_reconciled() {
    within(30, async {
        let server_key = PrivateKey::generate();
        for b in brokers(&server_key).await {
            let c = &b.client;
            let col = new_colony(c, &server_key).await;
            let (n, key, owner) = (col.name.as_str(), &col.executor.key, &col.key);
            refused(c.add_blueprint_definition(definition(n, "Lamp", None), key).await, 403);
            c.add_blueprint_definition(definition(n, "Lamp", None), owner)
                .await
                .unwrap();
            refused(
                c.add_blueprint_definition(definition(n, "Lamp", None), owner).await,
                409,
            );
            c.add_blueprint_definition(definition(n, "Fan", Some(WORKER)), owner)
                .await
                .unwrap();
            assert_eq!(c.get_blueprint_definitions(n, key).await.unwrap().len(), 2);
            assert_eq!(
                c.get_blueprint_definition(n, "lamp", owner)
                    .await
                    .unwrap()
                    .declared_kind(),
                "Lamp"
            );

            let lamp = c.add_blueprint(blueprint(n, "Lamp", "l1", false), key).await.unwrap();
            assert_eq!(lamp.metadata.generation, 1);
            refused(c.add_blueprint(blueprint(n, "Lamp", "l1", false), key).await, 409);
            refused(c.add_blueprint(blueprint(n, "Nope", "x", false), key).await, 400);
            let mut invalid = blueprint(n, "Lamp", "l2", false);
            invalid.spec.clear();
            assert!(refused(c.add_blueprint(invalid, key).await, 400).contains("validation"));
            let updated = c
                .update_blueprint(blueprint(n, "Lamp", "l1", true), false, key)
                .await
                .unwrap();
            assert_eq!(
                (updated.metadata.generation, updated.blueprintid.as_str()),
                (2, lamp.blueprintid.as_str())
            );
            let same = c
                .update_blueprint(blueprint(n, "Lamp", "l1", true), false, key)
                .await
                .unwrap();
            assert_eq!(same.metadata.generation, 2);
            refused(
                c.update_blueprint(blueprint(n, "Lamp", "none", true), false, key).await,
                404,
            );
            let status = json!({"power": true}).as_object().unwrap().clone();
            c.update_blueprint_status(n, "l1", status, key).await.unwrap();
            let got = c.get_blueprint(n, "l1", key).await.unwrap();
            assert_eq!(got.status.unwrap()["power"], true);
            let history = c.get_blueprint_history(&lamp.blueprintid, 0, key).await.unwrap();
            assert_eq!(
                history.iter().map(|h| h.changetype.as_str()).collect::<Vec<_>>(),
                vec!["update", "create"]
            );
            assert!(refused(c.reconcile_blueprint(n, "l1", false, key).await, 400).contains("handler"));
            assert_eq!(c.get_blueprints(n, "Lamp", "", key).await.unwrap().len(), 1);

            // A kind with a handler: a reconcile process at once, and a reconcile cron.
            let fan = c.add_blueprint(blueprint(n, "Fan", "f1", true), key).await.unwrap();
            let p = c
                .assign(&col.name, 10, key)
                .await
                .unwrap()
                .expect("a reconcile process");
            assert_eq!(p.spec.kwargs.get("blueprintName"), Some(&json!("f1")));
            let crons = c.get_crons(n, 10, key).await.unwrap();
            assert_eq!(
                crons.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
                vec!["reconcile-Fan"]
            );
            let forced = c.reconcile_blueprint(n, "f1", true, key).await.unwrap();
            assert_eq!(forced.spec.funcname, "reconcile");
            assert_eq!(c.get_blueprint(n, "f1", key).await.unwrap().metadata.generation, 2);
            assert_eq!(
                c.get_blueprint_history(&fan.blueprintid, 1, key).await.unwrap().len(),
                1
            );

            refused(c.remove_blueprint_definition(n, "lamp", owner).await, 409);
            c.remove_blueprint(n, "l1", key).await.unwrap();
            c.remove_blueprint(n, "f1", key).await.unwrap();
            assert!(c.get_crons(n, 10, key).await.unwrap().is_empty());
            refused(c.get_blueprint(n, "l1", key).await, 404);
            c.remove_blueprint_definition(n, "lamp", owner).await.unwrap();
            refused(c.remove_blueprint_definition(n, "lamp", owner).await, 404);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_colony_removes_its_extended_objects() {
    within(30, async {
        let server_key = PrivateKey::generate();
        for b in brokers(&server_key).await {
            let c = &b.client;
            let col = new_colony(c, &server_key).await;
            let key = &col.executor.key;
            let cron = c.add_cron(interval_cron(&col.name, 3600, false), key).await.unwrap();
            c.add_file(file(&col.name, "/l", "f", "o"), key).await.unwrap();
            c.remove_colony(&col.name, &server_key).await.unwrap();
            // Same name again: nothing of the old colony shows.
            let again = Colony {
                colonyid: col.key.id(),
                name: col.name.clone(),
            };
            c.add_colony(again, &server_key).await.unwrap();
            let ex = new_executor(c, &col.name, &col.key, WORKER).await;
            refused(c.get_cron(&cron.cronid, &ex.key).await, 404);
            assert!(
                c.get_file_labels(&col.name, "", false, &ex.key)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
    })
    .await;
}
