//! `wait()` over the `/pubsub` websocket.

use std::time::{Duration, Instant};

use petri_api::model::{Process, state};
use petri_e2e::{TestServer, WORKER, spec, within};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_returns_when_another_task_closes_the_process() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();

        let worker = {
            let client = client.clone();
            let colony = colony.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let key = &colony.executor.key;
                let a = client.assign(&colony.name, 5, key).await.unwrap().unwrap();
                client.close(&a.processid, vec![json!("done")], key).await.unwrap();
            })
        };
        let started = Instant::now();
        let done = client
            .wait(&p, state::SUCCESS, 10, key)
            .await
            .unwrap()
            .expect("wait returns the closed process");
        let elapsed = started.elapsed();
        worker.await.unwrap();
        assert_eq!(done.processid, p.processid);
        assert_eq!(done.state, state::SUCCESS);
        assert_eq!(done.output, vec![json!("done")]);
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "not woken by the close: {elapsed:?}");

        // Waiting on a process already in the state answers at once.
        let started = Instant::now();
        let again = client.wait(&p, state::SUCCESS, 10, key).await.unwrap().unwrap();
        assert_eq!(again.state, state::SUCCESS);
        assert!(started.elapsed() < Duration::from_secs(2));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_success_returns_promptly_when_the_process_fails() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();
        let worker = {
            let client = client.clone();
            let colony = colony.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let key = &colony.executor.key;
                let a = client.assign(&colony.name, 5, key).await.unwrap().unwrap();
                client.fail(&a.processid, vec!["broken".into()], key).await.unwrap();
            })
        };
        let started = Instant::now();
        let failed = client
            .wait(&p, state::SUCCESS, 10, key)
            .await
            .unwrap()
            .expect("wait returns the failed process");
        let elapsed = started.elapsed();
        worker.await.unwrap();
        assert_eq!(failed.processid, p.processid);
        assert_eq!(failed.state, state::FAILED);
        assert_eq!(failed.errors, vec!["broken".to_owned()]);
        assert!(
            elapsed < Duration::from_secs(3),
            "not woken by the failure: {elapsed:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_running_sees_the_assignment() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();
        let assigner = {
            let client = client.clone();
            let colony = colony.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                client
                    .assign(&colony.name, 5, &colony.executor.key)
                    .await
                    .unwrap()
                    .unwrap()
            })
        };
        let running = client
            .wait(&p, state::RUNNING, 10, key)
            .await
            .unwrap()
            .expect("wait returns the running process");
        assigner.await.unwrap();
        assert_eq!(running.state, state::RUNNING);
        assert_eq!(running.assignedexecutorid, colony.executor.id());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_times_out_on_an_unfinished_process() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();
        let started = Instant::now();
        let r = client.wait(&p, state::SUCCESS, 1, key).await.unwrap();
        let elapsed = started.elapsed();
        assert!(r.is_none(), "nothing closed the process: {r:?}");
        assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_on_an_unknown_process_is_an_error() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let mut ghost = Process {
            processid: petri_crypto::random_id(),
            ..Process::default()
        };
        ghost.spec.conditions.colonyname = colony.name.clone();
        ghost.spec.conditions.executortype = WORKER.into();
        let started = Instant::now();
        let r = client.wait(&ghost, state::SUCCESS, 10, &colony.executor.key).await;
        let msg = petri_e2e::refused(r, 403);
        assert!(msg.contains(&ghost.processid), "{msg}");
        assert!(started.elapsed() < Duration::from_secs(3));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_waiters_on_one_process_are_all_answered() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let client = client.clone();
                let p = p.clone();
                let key = key.clone();
                tokio::spawn(async move { client.wait(&p, state::SUCCESS, 10, &key).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let a = client.assign(&colony.name, 5, key).await.unwrap().unwrap();
        client.close(&a.processid, vec![json!(7)], key).await.unwrap();
        for w in waiters {
            let got = w.await.unwrap().unwrap().expect("every waiter is answered");
            assert_eq!(got.output, vec![json!(7)]);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_needs_membership() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let p = client
            .submit(spec(&colony.name, WORKER, "f"), &colony.executor.key)
            .await
            .unwrap();
        let stranger = petri_crypto::PrivateKey::generate();
        let msg = petri_e2e::refused(client.wait(&p, state::SUCCESS, 5, &stranger).await, 403);
        assert!(msg.contains("Access denied"), "{msg}");
    })
    .await;
}
