//! Many executors competing for one queue.

use std::collections::{BTreeSet, HashMap};

use futures_util::{StreamExt, stream};
use petri_api::model::state;
use petri_e2e::{TestServer, WORKER, spec, within};
use serde_json::json;

const PROCESSES: usize = 500;
const EXECUTORS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_is_assigned_exactly_once() {
    within(60, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;

        let submitted: Vec<String> = stream::iter(0..PROCESSES)
            .map(|i| {
                let client = client.clone();
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
        for _ in 0..EXECUTORS {
            executors.push(server.executor(&colony, WORKER, true).await);
        }
        let workers: Vec<_> = executors
            .into_iter()
            .map(|e| {
                let client = client.clone();
                let colony = colony.name.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    // Everything was submitted before the executors started,
                    // so an empty answer means the queue is drained.
                    while let Some(p) = client.assign(&colony, -1, &e.key).await.unwrap() {
                        assert_eq!(p.assignedexecutorid, e.id());
                        assert_eq!(p.state, state::RUNNING);
                        client.close(&p.processid, vec![json!(e.name)], &e.key).await.unwrap();
                        mine.push(p.processid);
                    }
                    (e.name, mine)
                })
            })
            .collect();

        let mut owner: HashMap<String, String> = HashMap::new();
        let mut busy = 0;
        for w in workers {
            let (name, mine) = w.await.unwrap();
            if !mine.is_empty() {
                busy += 1;
            }
            for id in mine {
                if let Some(first) = owner.insert(id.clone(), name.clone()) {
                    panic!("process {id} was assigned to both {first} and {name}");
                }
            }
        }
        let assigned: BTreeSet<String> = owner.keys().cloned().collect();
        assert_eq!(assigned, submitted, "every process is assigned, and only those");
        assert!(busy > 1, "the work was shared by several executors");

        let stats = client.colony_stats(&colony.name, &colony.executor.key).await.unwrap();
        assert_eq!(stats.successfulprocesses, PROCESSES as i64);
        assert_eq!(stats.waitingprocesses, 0);
        assert_eq!(stats.runningprocesses, 0);
        assert_eq!(stats.failedprocesses, 0);

        // Each process records the executor that closed it as its assignee.
        let sample: Vec<&String> = owner.keys().step_by(25).collect();
        for id in sample {
            let p = client.get_process(id, &colony.executor.key).await.unwrap();
            assert_eq!(p.state, state::SUCCESS);
            assert_eq!(p.output, vec![json!(owner[id])]);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_long_polls_share_new_work() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let mut executors = Vec::new();
        for _ in 0..8 {
            executors.push(server.executor(&colony, WORKER, true).await);
        }
        let waiters: Vec<_> = executors
            .iter()
            .map(|e| {
                let client = client.clone();
                let colony = colony.name.clone();
                let key = e.key.clone();
                tokio::spawn(async move { client.assign(&colony, 5, &key).await.unwrap() })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let mut submitted = BTreeSet::new();
        for i in 0..8 {
            let p = client
                .submit(spec(&colony.name, WORKER, &format!("w{i}")), &colony.executor.key)
                .await
                .unwrap();
            submitted.insert(p.processid);
        }
        let mut got = BTreeSet::new();
        for w in waiters {
            let p = w.await.unwrap().expect("each waiting executor gets one process");
            assert!(got.insert(p.processid), "a process was handed out twice");
        }
        assert_eq!(got, submitted);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workflows_pass_the_right_inputs() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use petri_e2e::{node, workflow};

    const GRAPHS: usize = 30;
    within(60, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let c = colony.name.as_str();
        let mut graphs = Vec::new();
        for _ in 0..GRAPHS {
            let g = client
                .submit_workflow(
                    workflow(
                        c,
                        vec![
                            node(c, "a", &[]),
                            node(c, "b", &["a"]),
                            node(c, "c", &["a"]),
                            node(c, "d", &["b", "c"]),
                        ],
                    ),
                    &colony.executor.key,
                )
                .await
                .unwrap();
            graphs.push(g);
        }
        let total = GRAPHS * 4;
        let closed = Arc::new(AtomicUsize::new(0));
        let mut executors = Vec::new();
        for _ in 0..8 {
            executors.push(server.executor(&colony, WORKER, true).await);
        }
        let workers: Vec<_> = executors
            .into_iter()
            .map(|e| {
                let client = client.clone();
                let colony = colony.name.clone();
                let closed = closed.clone();
                tokio::spawn(async move {
                    while closed.load(Ordering::SeqCst) < total {
                        let Some(p) = client.assign(&colony, 1, &e.key).await.unwrap() else {
                            continue;
                        };
                        // Each process outputs its own id, so inputs show where they came from.
                        client
                            .close(&p.processid, vec![json!(p.processid)], &e.key)
                            .await
                            .unwrap();
                        closed.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        assert_eq!(closed.load(Ordering::SeqCst), total, "no process ran twice");

        let key = &colony.executor.key;
        for g in graphs {
            let graph = client.get_graph(&g.processgraphid, key).await.unwrap();
            assert_eq!(graph.state, state::SUCCESS);
            let ids = &g.processids;
            let get = |i: usize| client.get_process(&ids[i], key);
            let (a, b, cc, d) = (
                get(0).await.unwrap(),
                get(1).await.unwrap(),
                get(2).await.unwrap(),
                get(3).await.unwrap(),
            );
            assert!(a.input.clone().unwrap_or_default().is_empty(), "a root has no input");
            for mid in [&b, &cc] {
                assert_eq!(mid.input, Some(vec![json!(a.processid)]));
            }
            assert_eq!(d.input, Some(vec![json!(b.processid), json!(cc.processid)]));
            assert!([&a, &b, &cc, &d].iter().all(|p| p.state == state::SUCCESS));
        }
    })
    .await;
}
