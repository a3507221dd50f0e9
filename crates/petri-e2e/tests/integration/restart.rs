//! What survives a restart of the broker on the same SQLite file.

use petri_api::model::{Function, state};
use petri_api::msg::GetLogs;
use petri_e2e::{TestServer, WORKER, node, spec, within, workflow};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart() {
    within(45, async {
        let mut server = TestServer::start().await;
        let colony = server.colony().await;
        let c = colony.name.as_str();
        let exec = &colony.executor;
        let key = &exec.key;
        let pending = server.executor(&colony, WORKER, false).await;

        let client = server.client();
        client
            .add_function(
                Function {
                    executorname: exec.name.clone(),
                    colonyname: colony.name.clone(),
                    funcname: "one".into(),
                    ..Function::default()
                },
                key,
            )
            .await
            .unwrap();
        let p1 = client.submit(spec(c, WORKER, "one"), key).await.unwrap();
        let p2 = client.submit(spec(c, WORKER, "two"), key).await.unwrap();
        let p3 = client.submit(spec(c, WORKER, "three"), key).await.unwrap();
        let p4 = client.submit(spec(c, WORKER, "four"), key).await.unwrap();

        let a1 = client.assign(c, -1, key).await.unwrap().unwrap();
        assert_eq!(a1.processid, p1.processid);
        client.add_log(&p1.processid, "working", key).await.unwrap();
        client.close(&p1.processid, vec![json!("one")], key).await.unwrap();
        let a2 = client.assign(c, -1, key).await.unwrap().unwrap();
        assert_eq!(a2.processid, p2.processid);
        let a3 = client.assign(c, -1, key).await.unwrap().unwrap();
        assert_eq!(a3.processid, p3.processid);
        client
            .fail(&p3.processid, vec!["three failed".into()], key)
            .await
            .unwrap();
        // p2 stays running and p4 waiting across the restart.

        // wa jumps the queue (p4 stays waiting); wb keeps the default priority.
        let mut first = node(c, "wa", &[]);
        first.priority = 1;
        let g = client
            .submit_workflow(workflow(c, vec![first, node(c, "wb", &["wa"])]), key)
            .await
            .unwrap();
        let wa = client.assign(c, -1, key).await.unwrap().unwrap();
        assert_eq!(wa.processid, g.processids[0]);
        client.close(&wa.processid, vec![json!("from-wa")], key).await.unwrap();

        let ids = [
            &p1.processid,
            &p2.processid,
            &p3.processid,
            &p4.processid,
            &g.processids[0],
            &g.processids[1],
        ];
        let mut before = Vec::new();
        for id in ids {
            before.push(client.get_process(id, key).await.unwrap());
        }
        let graph_before = client.get_graph(&g.processgraphid, key).await.unwrap();
        let executors_before = client.get_executors(c, key).await.unwrap();
        let functions_before = client.get_functions(c, "", key).await.unwrap();
        assert_eq!(functions_before[0].counter, 1);

        server.restart().await;
        let client = server.client();

        let colony_after = client.get_colony(c, key).await.unwrap();
        assert_eq!(colony_after.colonyid, colony.key.id());
        let all = client.get_colonies(server.server_key()).await.unwrap();
        assert!(all.iter().any(|x| x.name == colony.name));
        assert_eq!(client.get_executors(c, key).await.unwrap(), executors_before);
        assert_eq!(client.get_functions(c, "", key).await.unwrap(), functions_before);
        for (id, b) in ids.iter().zip(&before) {
            let after = client.get_process(id, key).await.unwrap();
            assert_eq!(&after, b, "process {} changed across the restart", b.spec.funcname);
        }
        assert_eq!(before[0].state, state::SUCCESS);
        assert_eq!(before[0].output, vec![json!("one")]);
        assert_eq!(before[1].state, state::RUNNING);
        assert_eq!(before[2].state, state::FAILED);
        assert_eq!(before[3].state, state::WAITING);
        let graph_after = client.get_graph(&g.processgraphid, key).await.unwrap();
        assert_eq!(graph_after, graph_before);
        assert_eq!(graph_after.state, state::RUNNING);
        let logs = client
            .get_logs(
                GetLogs {
                    colonyname: c.into(),
                    processid: p1.processid.clone(),
                    count: 10,
                    ..GetLogs::default()
                },
                key,
            )
            .await
            .unwrap();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].message, "working");
        // The pending executor is still pending: it may not assign.
        let r = client.assign(c, -1, &pending.key).await;
        assert_eq!(r.as_ref().err().and_then(|e| e.status()), Some(403), "{r:?}");

        // The work left over can still be done.
        client.close(&p2.processid, vec![json!("two")], key).await.unwrap();
        let next = client.assign(c, -1, key).await.unwrap().expect("p4 is still queued");
        assert_eq!(next.processid, p4.processid);
        client.close(&p4.processid, vec![], key).await.unwrap();
        let wb = client.assign(c, -1, key).await.unwrap().expect("wb is ready");
        assert_eq!(wb.processid, g.processids[1]);
        assert_eq!(wb.input, Some(vec![json!("from-wa")]));
        client.close(&wb.processid, vec![json!("end")], key).await.unwrap();
        assert!(client.assign(c, -1, key).await.unwrap().is_none());
        assert_eq!(
            client.get_graph(&g.processgraphid, key).await.unwrap().state,
            state::SUCCESS
        );
        let stats = client.colony_stats(c, key).await.unwrap();
        assert_eq!(
            (
                stats.successfulprocesses,
                stats.failedprocesses,
                stats.waitingprocesses,
                stats.runningprocesses
            ),
            (5, 1, 0, 0)
        );
        assert_eq!(stats.successfulworkflows, 1);
        let functions = client.get_functions(c, "", key).await.unwrap();
        assert_eq!(functions[0].counter, 1, "only `one` calls count");

        // A second restart right after finished work changes nothing either.
        server.restart().await;
        let client = server.client();
        assert_eq!(client.colony_stats(c, key).await.unwrap(), stats);
        server.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_after_restart_is_woken() {
    within(30, async {
        let mut server = TestServer::start().await;
        let colony = server.colony().await;
        server.restart().await;
        let client = server.client();
        let waiter = {
            let client = client.clone();
            let colony = colony.clone();
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let p = client.assign(&colony.name, 10, &colony.executor.key).await;
                (p, started.elapsed())
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        client
            .submit(spec(&colony.name, WORKER, "f"), &colony.executor.key)
            .await
            .unwrap();
        let (p, elapsed) = waiter.await.unwrap();
        assert!(p.unwrap().is_some());
        assert!(elapsed < std::time::Duration::from_secs(3), "{elapsed:?}");
    })
    .await;
}
