//! Removing executors and colonies.

use std::time::{Duration, Instant};

use petri_api::model::state;
use petri_e2e::{TestServer, WORKER, refused, spec, within};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_executor_gives_its_work_back() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let a = &colony.executor;
        let b = server.executor(&colony, WORKER, true).await;
        let p = client.submit(spec(&colony.name, WORKER, "f"), &a.key).await.unwrap();
        let got = client.assign(&colony.name, 5, &a.key).await.unwrap().unwrap();
        assert_eq!(got.processid, p.processid);

        // b long-polls while a holds the only process.
        let waiter = {
            let client = client.clone();
            let colony = colony.name.clone();
            let key = b.key.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let p = client.assign(&colony, 10, &key).await;
                (p, started.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        client
            .remove_executor(&colony.name, &a.name, &colony.key)
            .await
            .unwrap();
        let (again, elapsed) = waiter.await.unwrap();
        let again = again
            .unwrap()
            .expect("the requeued process goes to the waiting executor");
        assert_eq!(again.processid, p.processid);
        assert_eq!(again.assignedexecutorid, b.id());
        assert!(
            elapsed < Duration::from_secs(3),
            "not woken by the requeue: {elapsed:?}"
        );

        // The removed executor is listed as removed, and is no longer a member.
        let all = client.get_executors(&colony.name, &b.key).await.unwrap();
        let removed = all.iter().find(|e| e.executorname == a.name).unwrap();
        assert_eq!(removed.state, 3);
        refused(client.close(&p.processid, vec![json!("late")], &a.key).await, 403);
        refused(client.assign(&colony.name, -1, &a.key).await, 403);
        client.close(&p.processid, vec![json!("b")], &b.key).await.unwrap();
        let done = client.get_process(&p.processid, &b.key).await.unwrap();
        assert_eq!(done.state, state::SUCCESS);
        assert_eq!(done.output, vec![json!("b")]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_colony_takes_everything_with_it() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();
        client.remove_colony(&colony.name, server.server_key()).await.unwrap();
        let all = client.get_colonies(server.server_key()).await.unwrap();
        assert!(all.iter().all(|c| c.name != colony.name));
        assert!(client.get_process(&p.processid, key).await.is_err());
        assert!(client.assign(&colony.name, -1, key).await.is_err());
        // The name is free again, and the new colony starts empty.
        client
            .add_colony(
                petri_api::model::Colony {
                    colonyid: colony.key.id(),
                    name: colony.name.clone(),
                },
                server.server_key(),
            )
            .await
            .unwrap();
        let executors = client.get_executors(&colony.name, key).await;
        assert!(executors.is_err(), "the old executor is gone: {executors:?}");
    })
    .await;
}
