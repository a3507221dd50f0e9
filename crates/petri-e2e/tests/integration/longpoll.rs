//! `assignprocessmsg` with a timeout: long-polling executors.

use std::time::{Duration, Instant};

use petri_e2e::{TestServer, WORKER, refused, spec, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_executor_is_woken_by_a_submission() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;

        let started = Instant::now();
        let waiter = {
            let client = client.clone();
            let colony = colony.clone();
            tokio::spawn(async move {
                let p = client.assign(&colony.name, 10, &colony.executor.key).await;
                (p, started.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let submitted = client
            .submit(spec(&colony.name, WORKER, "late"), &colony.executor.key)
            .await
            .unwrap();
        let (assigned, elapsed) = waiter.await.unwrap();
        let assigned = assigned.unwrap().expect("the long-poll returns the new process");
        assert_eq!(assigned.processid, submitted.processid);
        assert!(
            elapsed >= Duration::from_millis(300),
            "returned before the submission: {elapsed:?}"
        );
        // A correctness bound (the wake-up happened), not a latency target.
        assert!(
            elapsed < Duration::from_secs(3),
            "the waiting executor was not woken by the submission: {elapsed:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_executor_is_woken_by_a_workflow_child_becoming_ready() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let second = server.executor(&colony, WORKER, true).await;
        let key = &colony.executor.key;
        client
            .submit_workflow(
                petri_e2e::workflow(
                    &colony.name,
                    vec![
                        petri_e2e::node(&colony.name, "first", &[]),
                        petri_e2e::node(&colony.name, "then", &["first"]),
                    ],
                ),
                key,
            )
            .await
            .unwrap();
        let first = client.assign(&colony.name, 5, key).await.unwrap().unwrap();
        assert_eq!(first.spec.nodename, "first");

        let started = Instant::now();
        let waiter = {
            let client = client.clone();
            let colony = colony.name.clone();
            let key = second.key.clone();
            tokio::spawn(async move {
                let p = client.assign(&colony, 10, &key).await;
                (p, started.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        client
            .close(&first.processid, vec![serde_json::json!(1)], key)
            .await
            .unwrap();
        let (then, elapsed) = waiter.await.unwrap();
        let then = then.unwrap().expect("the child is assigned once its parent closes");
        assert_eq!(then.spec.nodename, "then");
        assert!(
            elapsed < Duration::from_secs(3),
            "the waiting executor was not woken when the child became ready: {elapsed:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_queue_times_out_after_the_timeout() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;

        let started = Instant::now();
        let p = client.assign(&colony.name, 1, &colony.executor.key).await.unwrap();
        let elapsed = started.elapsed();
        assert!(p.is_none(), "nothing was submitted: {p:?}");
        assert!(
            elapsed >= Duration::from_millis(900),
            "returned before the timeout: {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_secs(3),
            "took far longer than the timeout: {elapsed:?}"
        );

        // A negative timeout answers at once.
        let started = Instant::now();
        let p = client.assign(&colony.name, -1, &colony.executor.key).await.unwrap();
        assert!(p.is_none());
        assert!(started.elapsed() < Duration::from_millis(900));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_timeout_is_a_bad_request() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        client
            .submit(spec(&colony.name, WORKER, "f"), &colony.executor.key)
            .await
            .unwrap();
        let msg = refused(client.assign(&colony.name, 0, &colony.executor.key).await, 400);
        assert!(msg.contains("timeout cannot be zero"), "{msg}");
        // The refused call assigned nothing.
        assert!(
            client
                .assign(&colony.name, -1, &colony.executor.key)
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}
