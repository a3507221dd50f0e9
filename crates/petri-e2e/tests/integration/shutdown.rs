//! Stopping the broker while clients are connected.

use std::time::{Duration, Instant};

use petri_api::model::state;
use petri_e2e::{TestServer, WORKER, spec, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_pending_long_polls() {
    within(30, async {
        let mut server = TestServer::start().await;
        let colony = server.colony().await;
        let client = server.client();
        let poller = {
            let client = client.clone();
            let colony = colony.clone();
            tokio::spawn(async move { client.assign(&colony.name, 10, &colony.executor.key).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;

        let started = Instant::now();
        server.restart().await;
        let elapsed = started.elapsed();
        let answer = poller.await.unwrap();
        assert!(!matches!(answer, Ok(Some(_))), "nothing was submitted: {answer:?}");
        assert!(
            elapsed < Duration::from_secs(3),
            "a graceful shutdown waited {elapsed:?} for an executor's long-poll \
             (which may last up to max_assign_timeout)"
        );

        // The restarted broker serves as before.
        let client = server.client();
        client
            .submit(spec(&colony.name, WORKER, "f"), &colony.executor.key)
            .await
            .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_pubsub_subscriptions() {
    within(30, async {
        let mut server = TestServer::start().await;
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let client = server.client();
        let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();
        let waiter = {
            let client = client.clone();
            let p = p.clone();
            let key = key.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let r = client.wait(&p, state::SUCCESS, 8, &key).await;
                (r, started.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.restart().await;

        // The process finishes on the restarted broker.
        let client = server.client();
        let a = client.assign(&colony.name, 5, key).await.unwrap().unwrap();
        client.close(&a.processid, vec![], key).await.unwrap();

        let (r, elapsed) = waiter.await.unwrap();
        // A subscription served by the stopped broker can never see the close;
        // it must end with the broker instead of lingering until its timeout.
        assert!(
            elapsed < Duration::from_secs(3),
            "a subscription outlived the broker's shutdown by {elapsed:?}: {r:?}"
        );
    })
    .await;
}
