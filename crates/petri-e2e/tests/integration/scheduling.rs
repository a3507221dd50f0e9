//! Which waiting process an executor gets.

use petri_api::model::Process;
use petri_e2e::{TestServer, WORKER, spec, within};
use petri_sdk::Client;

async fn drain(client: &Client, colony: &str, key: &petri_crypto::PrivateKey) -> Vec<String> {
    let mut order = Vec::new();
    while let Some(p) = client.assign(colony, -1, key).await.unwrap() {
        order.push(p.spec.funcname.clone());
        client.close(&p.processid, vec![], key).await.unwrap();
    }
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_first_then_fifo() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        for (name, priority) in [
            ("low-1", 0),
            ("high-1", 10),
            ("low-2", 0),
            ("neg", -5),
            ("mid", 3),
            ("high-2", 10),
            ("low-3", 0),
        ] {
            let mut s = spec(&colony.name, WORKER, name);
            s.priority = priority;
            client.submit(s, key).await.unwrap();
        }
        assert_eq!(
            drain(&client, &colony.name, key).await,
            vec!["high-1", "high-2", "mid", "low-1", "low-2", "low-3", "neg"]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_for_back_to_back_submissions() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let names: Vec<String> = (0..20).map(|i| format!("p{i:02}")).collect();
        for n in &names {
            client.submit(spec(&colony.name, WORKER, n), key).await.unwrap();
        }
        assert_eq!(drain(&client, &colony.name, key).await, names);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_type_must_match() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let gpu = server.executor(&colony, "gpu", true).await;
        let key = &colony.executor.key;

        let for_gpu = client.submit(spec(&colony.name, "gpu", "train"), key).await.unwrap();
        let for_worker = client.submit(spec(&colony.name, WORKER, "work"), key).await.unwrap();

        let got = client.assign(&colony.name, -1, key).await.unwrap().unwrap();
        assert_eq!(got.processid, for_worker.processid);
        assert!(
            client.assign(&colony.name, -1, key).await.unwrap().is_none(),
            "a worker must not get the gpu process"
        );
        let got: Process = client.assign(&colony.name, -1, &gpu.key).await.unwrap().unwrap();
        assert_eq!(got.processid, for_gpu.processid);
        assert_eq!(got.assignedexecutorid, gpu.id());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executornames_restricts_to_named_executors() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let a = &colony.executor;
        let b = server.executor(&colony, WORKER, true).await;
        let c = server.executor(&colony, WORKER, true).await;

        let mut only_b = spec(&colony.name, WORKER, "only-b");
        only_b.conditions.executornames = Some(vec![b.name.clone()]);
        let only_b = client.submit(only_b, &a.key).await.unwrap();
        let mut b_or_c = spec(&colony.name, WORKER, "b-or-c");
        b_or_c.conditions.executornames = Some(vec![c.name.clone(), b.name.clone()]);
        let b_or_c = client.submit(b_or_c, &a.key).await.unwrap();
        let mut empty_list = spec(&colony.name, WORKER, "anyone");
        empty_list.conditions.executornames = Some(vec![]);
        let anyone = client.submit(empty_list, &a.key).await.unwrap();

        // a is named nowhere: it skips the two restricted processes.
        let got = client.assign(&colony.name, -1, &a.key).await.unwrap().unwrap();
        assert_eq!(got.processid, anyone.processid);
        assert!(client.assign(&colony.name, -1, &a.key).await.unwrap().is_none());

        // c may take b-or-c but not only-b, although only-b is older.
        let got = client.assign(&colony.name, -1, &c.key).await.unwrap().unwrap();
        assert_eq!(got.processid, b_or_c.processid);
        assert!(client.assign(&colony.name, -1, &c.key).await.unwrap().is_none());

        let got = client.assign(&colony.name, -1, &b.key).await.unwrap().unwrap();
        assert_eq!(got.processid, only_b.processid);
        assert_eq!(got.spec.conditions.executornames, Some(vec![b.name.clone()]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_is_per_colony() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let one = server.colony().await;
        let two = server.colony().await;
        client
            .submit(spec(&one.name, WORKER, "f"), &one.executor.key)
            .await
            .unwrap();
        assert!(client.assign(&two.name, -1, &two.executor.key).await.unwrap().is_none());
        assert!(client.assign(&one.name, -1, &one.executor.key).await.unwrap().is_some());
    })
    .await;
}
