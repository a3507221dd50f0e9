//! The broker's promises about time, driven with one-second limits: the
//! deadline loop runs every second, so each rule shows within a few seconds.

use std::time::{Duration, Instant};

use petri_api::Timestamp;
use petri_api::model::{FunctionSpec, state};
use petri_e2e::{TestServer, WORKER, node, spec, within, workflow};
use serde_json::json;

const WAIT_EXCEEDED: &str = "Maximum waiting time limit exceeded";
const EXEC_EXCEEDED: &str = "Maximum execution time limit exceeded";

fn limited(colony: &str, maxwaittime: i64, maxexectime: i64, maxretries: i64) -> FunctionSpec {
    let mut s = spec(colony, WORKER, "slow");
    s.maxwaittime = maxwaittime;
    s.maxexectime = maxexectime;
    s.maxretries = maxretries;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_nobody_takes_fails_after_its_wait_time() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;

        let started = Instant::now();
        let p = client.submit(limited(&colony.name, 1, -1, 0), key).await.unwrap();
        // A process with no wait limit, submitted at the same time, is left alone.
        let patient = client.submit(limited(&colony.name, -1, -1, 0), key).await.unwrap();

        let failed = client
            .wait(&p, state::FAILED, 10, key)
            .await
            .unwrap()
            .expect("the process fails before the wait times out");
        let elapsed = started.elapsed();
        assert_eq!(failed.state, state::FAILED);
        assert_eq!(failed.errors, vec![WAIT_EXCEEDED.to_owned()]);
        assert!(!failed.endtime.is_unset());
        assert!(
            elapsed >= Duration::from_millis(900),
            "failed before its limit: {elapsed:?}"
        );
        // One second of waiting, plus at most one period of the deadline loop, plus slack.
        assert!(elapsed < Duration::from_secs(4), "failed too late: {elapsed:?}");

        let patient = client.get_process(&patient.processid, key).await.unwrap();
        assert_eq!(patient.state, state::WAITING);
        // The failed process is not handed out any more; the patient one is.
        let next = client.assign(&colony.name, -1, key).await.unwrap().expect("work");
        assert_eq!(next.processid, patient.processid);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_taken_in_time_does_not_fail_for_waiting() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let p = client.submit(limited(&colony.name, 1, -1, 0), key).await.unwrap();
        let a = client.assign(&colony.name, -1, key).await.unwrap().expect("work");
        assert_eq!(a.processid, p.processid);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let p = client.get_process(&p.processid, key).await.unwrap();
        assert_eq!(p.state, state::RUNNING, "{:?}", p.errors);
        client.close(&p.processid, vec![json!("ok")], key).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_executor_loses_its_process_then_it_fails_after_max_retries() {
    within(40, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let first = &colony.executor;
        let second = server.executor(&colony, WORKER, true).await;

        let p = client
            .submit(limited(&colony.name, -1, 1, 1), &first.key)
            .await
            .unwrap();
        let a = client
            .assign(&colony.name, -1, &first.key)
            .await
            .unwrap()
            .expect("work");
        assert_eq!(a.processid, p.processid);
        assert_eq!(a.retries, 0);

        // The first executor goes silent; after its second the process is back in
        // the queue and the second executor, already waiting, gets it.
        let taken = Instant::now();
        let again = client
            .assign(&colony.name, 10, &second.key)
            .await
            .unwrap()
            .expect("the process returns to the queue");
        assert_eq!(again.processid, p.processid);
        assert_eq!(again.retries, 1);
        assert_eq!(again.state, state::RUNNING);
        assert_eq!(again.assignedexecutorid, second.id());
        let elapsed = taken.elapsed();
        assert!(elapsed >= Duration::from_millis(900), "requeued early: {elapsed:?}");
        assert!(elapsed < Duration::from_secs(4), "requeued late: {elapsed:?}");
        // The first executor no longer holds it.
        let refused = client.close(&p.processid, vec![], &first.key).await;
        assert_eq!(refused.unwrap_err().status(), Some(403));

        // The second executor goes silent too: it has used its one retry, so it fails.
        let failed = client
            .wait(&again, state::FAILED, 10, &first.key)
            .await
            .unwrap()
            .expect("the process fails for good");
        assert_eq!(failed.state, state::FAILED);
        assert_eq!(failed.errors, vec![EXEC_EXCEEDED.to_owned()]);
        assert_eq!(failed.retries, 1);
        assert!(
            client.assign(&colony.name, -1, &first.key).await.unwrap().is_none(),
            "a failed process is not handed out again"
        );
        let late = client.close(&p.processid, vec![json!("late")], &second.key).await;
        assert_eq!(late.unwrap_err().status(), Some(400), "a late close cannot revive it");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlimited_retries_keep_requeueing() {
    within(40, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let p = client.submit(limited(&colony.name, -1, 1, -1), key).await.unwrap();
        let mut held = client.assign(&colony.name, -1, key).await.unwrap().expect("work");
        // Three expiries: more than a `maxretries` of 1 or 2 would allow.
        for round in 1..=3 {
            held = client
                .assign(&colony.name, 10, key)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("requeued in round {round}"));
            assert_eq!(held.processid, p.processid);
            assert_eq!(held.retries, round);
            assert_eq!(held.state, state::RUNNING);
        }
        client
            .close(&held.processid, vec![json!("at last")], key)
            .await
            .unwrap();
        let done = client.get_process(&p.processid, key).await.unwrap();
        assert_eq!(done.state, state::SUCCESS);
        assert_eq!(done.retries, 3);
        assert!(done.errors.is_empty(), "{:?}", done.errors);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_heard_from_moves_on_assign() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let e = &colony.executor;
        let heard = |client: petri_sdk::Client| {
            let (c, n, k) = (colony.name.clone(), e.name.clone(), e.key.clone());
            async move { client.get_executor(&c, &n, &k).await.unwrap().lastheardfromtime }
        };
        let registered = heard(client.clone()).await;

        let mut last = registered;
        // The broker writes the time at most once a second per executor.
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let before = Timestamp::now();
            // An empty queue still counts as hearing from the executor.
            assert!(client.assign(&colony.name, -1, &e.key).await.unwrap().is_none());
            let after = Timestamp::now();
            let now = heard(client.clone()).await;
            assert!(
                now.nanos() > last.nanos(),
                "last heard from did not move: {last:?} then {now:?}"
            );
            assert!(
                now.nanos() >= before.nanos() && now.nanos() <= after.nanos(),
                "last heard from {now:?} is not the time of the assign ({before:?}..{after:?})"
            );
            last = now;
        }
        // Calls that are not assigns do not count.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        client
            .get_processes(&colony.name, state::WAITING, 10, &e.key)
            .await
            .unwrap();
        assert_eq!(heard(client.clone()).await, last);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_of_a_process_failed_by_its_deadline_fails_naming_it() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let c = colony.name.as_str();
        let key = &colony.executor.key;

        // a → b → c, and d independent; only a has a time limit.
        let mut a = node(c, "a", &[]);
        a.maxexectime = 1;
        a.maxretries = 0;
        let graph = client
            .submit_workflow(
                workflow(
                    c,
                    vec![a, node(c, "b", &["a"]), node(c, "c", &["b"]), node(c, "d", &[])],
                ),
                key,
            )
            .await
            .unwrap();
        let mut held = None;
        while let Some(p) = client.assign(c, -1, key).await.unwrap() {
            match p.spec.nodename.as_str() {
                "a" => held = Some(p),
                "d" => client.close(&p.processid, vec![json!("d")], key).await.unwrap(),
                other => panic!("{other} must wait for its parents"),
            }
        }
        // The executor of a goes silent.
        let a = held.expect("a was assigned");
        let failed = client
            .wait(&a, state::FAILED, 10, key)
            .await
            .unwrap()
            .expect("a fails at its deadline");
        assert_eq!(failed.errors, vec![EXEC_EXCEEDED.to_owned()]);

        let graph = client.get_graph(&graph.processgraphid, key).await.unwrap();
        assert_eq!(graph.state, state::FAILED);
        for id in &graph.processids {
            let p = client.get_process(id, key).await.unwrap();
            match p.spec.nodename.as_str() {
                "a" => assert_eq!(p.state, state::FAILED),
                "d" => assert_eq!(p.state, state::SUCCESS, "an independent branch keeps its result"),
                child => {
                    assert_eq!(p.state, state::FAILED, "{child} fails with its ancestor");
                    assert!(
                        p.errors.iter().any(|e| e.contains(&a.processid)),
                        "{child}'s errors name the failed process {}: {:?}",
                        a.processid,
                        p.errors
                    );
                }
            }
        }
        assert!(client.assign(c, -1, key).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_child_with_a_wait_limit_fails_behind_a_slow_parent() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let c = colony.name.as_str();
        let key = &colony.executor.key;
        let mut b = node(c, "b", &["a"]);
        b.maxwaittime = 1;
        let graph = client
            .submit_workflow(workflow(c, vec![node(c, "a", &[]), b]), key)
            .await
            .unwrap();
        let a = client.assign(c, -1, key).await.unwrap().expect("a is ready");
        assert_eq!(a.spec.nodename, "a");
        let b_id = graph.processids.iter().find(|id| **id != a.processid).unwrap().clone();
        let b = client.get_process(&b_id, key).await.unwrap();
        let failed = client
            .wait(&b, state::FAILED, 10, key)
            .await
            .unwrap()
            .expect("b fails while waiting for its parent");
        assert_eq!(failed.errors, vec![WAIT_EXCEEDED.to_owned()]);
        // The parent keeps running and may still finish; the graph has failed.
        client.close(&a.processid, vec![json!("a")], key).await.unwrap();
        let graph = client.get_graph(&graph.processgraphid, key).await.unwrap();
        assert_eq!(graph.state, state::FAILED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_workflow_removes_its_processes() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let c = colony.name.as_str();
        let key = &colony.executor.key;
        let graph = client
            .submit_workflow(
                workflow(c, vec![node(c, "a", &[]), node(c, "b", &["a"]), node(c, "c", &["a"])]),
                key,
            )
            .await
            .unwrap();
        let kept = client.submit(spec(c, WORKER, "standalone"), key).await.unwrap();
        // A process of the graph cannot be removed on its own.
        let refused = client.remove_process(&graph.processids[0], key).await;
        assert_eq!(refused.unwrap_err().status(), Some(400));

        client.remove_graph(&graph.processgraphid, key).await.unwrap();
        for id in &graph.processids {
            let gone = client.get_process(id, key).await;
            assert_eq!(gone.unwrap_err().status(), Some(404), "process {id} is gone");
        }
        assert_eq!(
            client.get_graph(&graph.processgraphid, key).await.unwrap_err().status(),
            Some(404)
        );
        let stats = client.colony_stats(c, key).await.unwrap();
        assert_eq!(stats.waitingprocesses, 1, "only the standalone process is left");
        let next = client.assign(c, -1, key).await.unwrap().expect("work");
        assert_eq!(next.processid, kept.processid);
        assert!(client.assign(c, -1, key).await.unwrap().is_none());
    })
    .await;
}
