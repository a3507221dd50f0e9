//! One process from submission to close, and what the broker records about it.

use petri_api::model::{Attribute, Function, attribute_type, state};
use petri_api::msg::GetLogs;
use petri_e2e::{TestServer, WORKER, spec, within};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_assign_output_attributes_logs_close() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let exec = &colony.executor;

        let mut s = spec(&colony.name, WORKER, "work");
        s.args = vec![json!("x"), json!(1)];
        s.env.insert("k".into(), "v".into());
        let submitted = client.submit(s, &exec.key).await.unwrap();
        assert_eq!(submitted.state, state::WAITING);
        assert!(!submitted.isassigned);
        assert_eq!(submitted.initiatorid, exec.id());
        assert_eq!(submitted.initiatorname, exec.name);
        assert_eq!(submitted.spec.args, vec![json!("x"), json!(1)]);
        assert!(!submitted.submissiontime.is_unset());
        assert!(submitted.starttime.is_unset());
        let env: Vec<_> = submitted
            .attributes
            .iter()
            .filter(|a| a.attributetype == attribute_type::ENV)
            .map(|a| (a.key.as_str(), a.value.as_str()))
            .collect();
        assert_eq!(env, vec![("k", "v")]);

        let assigned = client
            .assign(&colony.name, 5, &exec.key)
            .await
            .unwrap()
            .expect("the submitted process is assigned");
        assert_eq!(assigned.processid, submitted.processid);
        assert_eq!(assigned.state, state::RUNNING);
        assert!(assigned.isassigned);
        assert_eq!(assigned.assignedexecutorid, exec.id());
        assert!(!assigned.starttime.is_unset());
        let id = assigned.processid.clone();

        client
            .set_output(&id, vec![json!("partial"), json!(42)], &exec.key)
            .await
            .unwrap();

        let attr = client
            .add_attribute(
                Attribute {
                    targetid: id.clone(),
                    key: "kk".into(),
                    value: "vv".into(),
                    attributetype: attribute_type::OUT,
                    ..Attribute::default()
                },
                &exec.key,
            )
            .await
            .unwrap();
        assert_eq!(attr.attributeid.len(), 64);
        assert_eq!((attr.key.as_str(), attr.value.as_str()), ("kk", "vv"));
        assert_eq!(attr.targetid, id);
        let read = client.get_attribute(&attr.attributeid, &exec.key).await.unwrap();
        assert_eq!(read.attributeid, attr.attributeid);
        assert_eq!((read.key.as_str(), read.value.as_str()), ("kk", "vv"));
        assert_eq!(read.attributetype, attribute_type::OUT);

        client.add_log(&id, "hello", &exec.key).await.unwrap();
        client.add_log(&id, "world", &exec.key).await.unwrap();
        let logs = client
            .get_logs(
                GetLogs {
                    colonyname: colony.name.clone(),
                    processid: id.clone(),
                    count: 10,
                    ..GetLogs::default()
                },
                &exec.key,
            )
            .await
            .unwrap();
        let lines: Vec<_> = logs.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(lines, vec!["hello", "world"]);
        assert!(logs.iter().all(|l| l.executorname == exec.name
            && l.processid == id
            && l.colonyname == colony.name
            && l.timestamp > 0));
        assert!(logs[0].timestamp <= logs[1].timestamp);

        // An empty output on close keeps what set_output stored.
        client.close(&id, vec![], &exec.key).await.unwrap();

        let done = client.get_process(&id, &exec.key).await.unwrap();
        assert_eq!(done.state, state::SUCCESS);
        assert_eq!(done.output, vec![json!("partial"), json!(42)]);
        assert!(done.errors.is_empty());
        assert!(done.isassigned, "the assignment stays recorded after close");
        assert_eq!(done.assignedexecutorid, exec.id());
        assert!(!done.endtime.is_unset());
        assert!(done.submissiontime <= done.starttime);
        assert!(done.starttime <= done.endtime);
        let added = done
            .attributes
            .iter()
            .find(|a| a.attributeid == attr.attributeid)
            .expect("the added attribute is on the process");
        assert_eq!(added.value, "vv");
        assert!(
            done.attributes.iter().all(|a| a.state == state::SUCCESS),
            "attribute states follow the process: {:?}",
            done.attributes
        );
        assert!(
            done.attributes
                .iter()
                .any(|a| a.attributetype == attribute_type::ENV && a.key == "k")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_output_replaces_it() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();
        client.assign(&colony.name, 5, key).await.unwrap().unwrap();
        client.set_output(&p.processid, vec![json!("old")], key).await.unwrap();
        client.close(&p.processid, vec![json!("new")], key).await.unwrap();
        let done = client.get_process(&p.processid, key).await.unwrap();
        assert_eq!(done.output, vec![json!("new")]);
        // Closing a successful process again is allowed.
        client.close(&p.processid, vec![], key).await.unwrap();
        // But it cannot then be failed.
        let r = client.fail(&p.processid, vec!["late".into()], key).await;
        assert!(r.is_err(), "failing a successful process: {r:?}");
        let again = client.get_process(&p.processid, key).await.unwrap();
        assert_eq!(again.state, state::SUCCESS);
        assert_eq!(again.output, vec![json!("new")]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_process_keeps_its_errors() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();
        client.assign(&colony.name, 5, key).await.unwrap().unwrap();
        client
            .fail(&p.processid, vec!["boom".into(), "bang".into()], key)
            .await
            .unwrap();
        let failed = client.get_process(&p.processid, key).await.unwrap();
        assert_eq!(failed.state, state::FAILED);
        assert_eq!(failed.errors, vec!["boom".to_owned(), "bang".to_owned()]);
        assert!(!failed.endtime.is_unset());
        let r = client.close(&p.processid, vec![json!(1)], key).await;
        assert!(r.is_err(), "closing a failed process as successful: {r:?}");
        assert_eq!(
            client.get_process(&p.processid, key).await.unwrap().state,
            state::FAILED
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_counter_grows_with_each_successful_close() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let exec = &colony.executor;
        let registered = client
            .add_function(
                Function {
                    executorname: exec.name.clone(),
                    colonyname: colony.name.clone(),
                    funcname: "work".into(),
                    ..Function::default()
                },
                &exec.key,
            )
            .await
            .unwrap();
        assert_eq!(registered.counter, 0);
        assert_eq!(registered.functionid.len(), 64);

        let counter = |fs: &[Function]| {
            let f: Vec<_> = fs.iter().filter(|f| f.funcname == "work").collect();
            assert_eq!(f.len(), 1, "one registration of work: {fs:?}");
            f[0].clone()
        };
        let before = client.get_functions(&colony.name, "", &exec.key).await.unwrap();
        assert_eq!(counter(&before).counter, 0);

        for round in 1..=2 {
            let p = client
                .submit(spec(&colony.name, WORKER, "work"), &exec.key)
                .await
                .unwrap();
            let a = client.assign(&colony.name, 5, &exec.key).await.unwrap().unwrap();
            assert_eq!(a.processid, p.processid);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            client.close(&p.processid, vec![json!(round)], &exec.key).await.unwrap();
            let f = counter(&client.get_functions(&colony.name, &exec.name, &exec.key).await.unwrap());
            assert_eq!(f.counter, round);
            assert!(f.minexectime > 0.0, "exec time is measured: {f:?}");
            assert!(f.minexectime <= f.maxexectime);
            assert!(f.minwaittime >= 0.0 && f.minwaittime <= f.maxwaittime);
            assert!(f.avgexectime >= f.minexectime && f.avgexectime <= f.maxexectime);
        }

        // A failed process is not a call of the function.
        let p = client
            .submit(spec(&colony.name, WORKER, "work"), &exec.key)
            .await
            .unwrap();
        client.assign(&colony.name, 5, &exec.key).await.unwrap().unwrap();
        client.fail(&p.processid, vec!["no".into()], &exec.key).await.unwrap();
        let f = counter(&client.get_functions(&colony.name, "", &exec.key).await.unwrap());
        assert_eq!(f.counter, 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_are_refused() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;

        for priority in [50_001, -50_001] {
            let mut s = spec(&colony.name, WORKER, "f");
            s.priority = priority;
            let msg = petri_e2e::refused(client.submit(s, key).await, 400);
            assert!(msg.contains("priority outside range"), "{msg}");
        }
        let mut s = spec(&colony.name, WORKER, "f");
        s.conditions.mem = "1".into();
        petri_e2e::refused(client.submit(s, key).await, 400);
        let mut s = spec(&colony.name, WORKER, "f");
        s.conditions.cpu = "2 cores".into();
        petri_e2e::refused(client.submit(s, key).await, 400);
        petri_e2e::refused(client.get_processes(&colony.name, 0, 101, key).await, 400);
        petri_e2e::refused(client.get_processes(&colony.name, -1, 10, key).await, 400);
        assert!(
            client
                .get_processes(&colony.name, state::WAITING, 100, key)
                .await
                .unwrap()
                .is_empty(),
            "refused submissions store nothing"
        );

        let unknown = petri_crypto::random_id();
        petri_e2e::refused(client.get_process(&unknown, key).await, 404);
        petri_e2e::refused(client.close(&unknown, vec![], key).await, 404);

        // A closed process takes no more output, attributes or logs.
        let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();
        client.assign(&colony.name, 5, key).await.unwrap().unwrap();
        client.close(&p.processid, vec![json!(1)], key).await.unwrap();
        petri_e2e::refused(client.set_output(&p.processid, vec![json!(2)], key).await, 403);
        petri_e2e::refused(
            client
                .add_attribute(
                    Attribute {
                        targetid: p.processid.clone(),
                        key: "late".into(),
                        value: "x".into(),
                        attributetype: attribute_type::OUT,
                        ..Attribute::default()
                    },
                    key,
                )
                .await,
            403,
        );
        petri_e2e::refused(client.add_log(&p.processid, "late", key).await, 403);
        let done = client.get_process(&p.processid, key).await.unwrap();
        assert_eq!(done.output, vec![json!(1)]);
        assert!(done.attributes.iter().all(|a| a.key != "late"));
    })
    .await;
}
