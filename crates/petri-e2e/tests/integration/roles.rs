//! Who may do what: members, colony owners, pending executors, users, the
//! assigned executor and the server owner.

use petri_api::model::{Colony, User, state};
use petri_crypto::PrivateKey;
use petri_e2e::{TestServer, WORKER, refused, spec, within};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_member_is_denied() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let stranger = PrivateKey::generate();

        let msg = refused(client.get_colony(&colony.name, &stranger).await, 403);
        assert!(msg.contains("Access denied"), "{msg}");
        let msg = refused(client.submit(spec(&colony.name, WORKER, "f"), &stranger).await, 403);
        assert!(msg.contains("Access denied"), "{msg}");
        let msg = refused(client.get_processes(&colony.name, 0, 10, &stranger).await, 403);
        assert!(msg.contains("Access denied"), "{msg}");
        let msg = refused(client.assign(&colony.name, -1, &stranger).await, 403);
        assert!(msg.contains("Access denied"), "{msg}");

        // A member of another colony is a stranger here too.
        let other = server.colony().await;
        let msg = refused(
            client
                .submit(spec(&colony.name, WORKER, "f"), &other.executor.key)
                .await,
            403,
        );
        assert!(msg.contains("Access denied"), "{msg}");

        // A process can be read only by members of its colony.
        let p = client
            .submit(spec(&colony.name, WORKER, "f"), &colony.executor.key)
            .await
            .unwrap();
        let msg = refused(client.get_process(&p.processid, &stranger).await, 403);
        assert!(msg.contains("Access denied"), "{msg}");
        let msg = refused(client.get_process(&p.processid, &other.executor.key).await, 403);
        assert!(msg.contains("Access denied"), "{msg}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colony_owner_is_not_a_member() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;

        let msg = refused(client.get_colony(&colony.name, &colony.key).await, 403);
        assert!(msg.contains("Access denied"), "{msg}");
        let msg = refused(client.submit(spec(&colony.name, WORKER, "f"), &colony.key).await, 403);
        assert!(msg.contains("Access denied"), "{msg}");
        refused(client.assign(&colony.name, -1, &colony.key).await, 403);

        // The member can read the colony.
        let c = client.get_colony(&colony.name, &colony.executor.key).await.unwrap();
        assert_eq!(c.colonyid, colony.key.id());

        // Colony-owner calls are refused to members.
        let pending = server.executor(&colony, WORKER, false).await;
        let msg = refused(
            client
                .approve_executor(&colony.name, &pending.name, &colony.executor.key)
                .await,
            403,
        );
        assert!(msg.contains("Access denied, not colony owner"), "{msg}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_executor_cannot_submit_or_assign() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let pending = server.executor(&colony, WORKER, false).await;
        client
            .submit(spec(&colony.name, WORKER, "f"), &colony.executor.key)
            .await
            .unwrap();

        let msg = refused(client.assign(&colony.name, -1, &pending.key).await, 403);
        assert!(msg.contains("Access denied"), "{msg}");
        let msg = refused(client.submit(spec(&colony.name, WORKER, "f"), &pending.key).await, 403);
        assert!(msg.contains("Access denied"), "{msg}");
        // Listing executors is open to members in any state.
        let all = client.get_executors(&colony.name, &pending.key).await.unwrap();
        let me = all.iter().find(|e| e.executorname == pending.name).unwrap();
        assert_eq!(me.state, 0, "still pending");

        // The process is still waiting, and goes to the approved executor.
        let waiting = client
            .get_processes(&colony.name, state::WAITING, 10, &colony.executor.key)
            .await
            .unwrap();
        assert_eq!(waiting.len(), 1);

        // Once approved, it may assign.
        client
            .approve_executor(&colony.name, &pending.name, &colony.key)
            .await
            .unwrap();
        let p = client.assign(&colony.name, -1, &pending.key).await.unwrap();
        assert!(p.is_some(), "an approved executor gets the waiting process");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_can_submit_but_not_assign() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let user_key = PrivateKey::generate();
        client
            .add_user(
                User {
                    colonyname: colony.name.clone(),
                    userid: user_key.id(),
                    name: "alice".into(),
                    email: "alice@example.org".into(),
                    phone: String::new(),
                },
                &colony.key,
            )
            .await
            .unwrap();

        let p = client.submit(spec(&colony.name, WORKER, "f"), &user_key).await.unwrap();
        assert_eq!(p.initiatorname, "alice");
        assert_eq!(p.initiatorid, user_key.id());
        client.get_process(&p.processid, &user_key).await.unwrap();

        let r = client.assign(&colony.name, -1, &user_key).await;
        assert!(
            matches!(r, Err(petri_sdk::SdkError::Server { .. })),
            "a user must not be assigned work: {r:?}"
        );
        let still = client.get_process(&p.processid, &user_key).await.unwrap();
        assert_eq!(still.state, state::WAITING);
        assert!(!still.isassigned);

        // add_user is for the colony owner only.
        let msg = refused(
            client
                .add_user(
                    User {
                        colonyname: colony.name.clone(),
                        userid: PrivateKey::generate().id(),
                        name: "mallory".into(),
                        ..User::default()
                    },
                    &user_key,
                )
                .await,
            403,
        );
        assert!(msg.contains("Access denied"), "{msg}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_assigned_executor_may_change_a_process() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let a = &colony.executor;
        let b = server.executor(&colony, WORKER, true).await;
        let p = client.submit(spec(&colony.name, WORKER, "f"), &a.key).await.unwrap();

        // Not assigned yet: nobody may close it.
        refused(client.close(&p.processid, vec![json!(1)], &a.key).await, 403);

        let assigned = client.assign(&colony.name, 5, &a.key).await.unwrap().unwrap();
        assert_eq!(assigned.processid, p.processid);
        let before = client.get_process(&p.processid, &a.key).await.unwrap();

        refused(client.close(&p.processid, vec![json!("stolen")], &b.key).await, 403);
        refused(client.fail(&p.processid, vec!["stolen".into()], &b.key).await, 403);
        refused(
            client.set_output(&p.processid, vec![json!("stolen")], &b.key).await,
            403,
        );
        refused(client.add_log(&p.processid, "stolen", &b.key).await, 403);

        let after = client.get_process(&p.processid, &a.key).await.unwrap();
        assert_eq!(after, before, "refused calls must not change the process");
        assert_eq!(after.state, state::RUNNING);
        assert_eq!(after.assignedexecutorid, a.id());
        assert!(after.output.is_empty());

        client.close(&p.processid, vec![json!("ok")], &a.key).await.unwrap();
        let done = client.get_process(&p.processid, &b.key).await.unwrap();
        assert_eq!(done.state, state::SUCCESS);
        assert_eq!(done.output, vec![json!("ok")]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_owner_calls_are_refused_to_others() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;

        for key in [&colony.key, &colony.executor.key] {
            let msg = refused(client.get_colonies(key).await, 403);
            assert_eq!(msg, "Access denied, not server owner");
            let fresh = PrivateKey::generate();
            let msg = refused(
                client
                    .add_colony(
                        Colony {
                            colonyid: fresh.id(),
                            name: petri_e2e::unique("rogue"),
                        },
                        key,
                    )
                    .await,
                403,
            );
            assert_eq!(msg, "Access denied, not server owner");
            let msg = refused(client.remove_colony(&colony.name, key).await, 403);
            assert_eq!(msg, "Access denied, not server owner");
        }

        // The colony survived, and the server owner sees it.
        let all = client.get_colonies(server.server_key()).await.unwrap();
        assert!(all.iter().any(|c| c.name == colony.name));
        client.get_colony(&colony.name, &colony.executor.key).await.unwrap();
        // The server owner is not a member of any colony.
        let msg = refused(client.get_colony(&colony.name, server.server_key()).await, 403);
        assert!(msg.contains("Access denied"), "{msg}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_checked_against_the_process_colony() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let a = &colony.executor;
        let user_key = PrivateKey::generate();
        client
            .add_user(
                User {
                    colonyname: colony.name.clone(),
                    userid: user_key.id(),
                    name: "bob".into(),
                    ..User::default()
                },
                &colony.key,
            )
            .await
            .unwrap();
        let other = server.colony().await;
        let stranger = PrivateKey::generate();
        let p = client.submit(spec(&colony.name, WORKER, "f"), &a.key).await.unwrap();
        client.assign(&colony.name, 5, &a.key).await.unwrap().unwrap();
        let before = client.get_process(&p.processid, &a.key).await.unwrap();

        // An unknown process is not found, whoever asks.
        let msg = refused(
            client.close("0".repeat(64).as_str(), vec![json!(1)], &stranger).await,
            404,
        );
        assert!(msg.contains("not found"), "{msg}");
        // A user of the colony is told users may not execute.
        let msg = refused(client.close(&p.processid, vec![json!(1)], &user_key).await, 403);
        assert!(msg.contains("only executors"), "{msg}");
        // A stranger, and an executor of another colony, are not members.
        for key in [&stranger, &other.executor.key] {
            let msg = refused(client.close(&p.processid, vec![json!(1)], key).await, 403);
            assert!(msg.contains("not a member"), "{msg}");
            let msg = refused(client.fail(&p.processid, vec!["x".into()], key).await, 403);
            assert!(msg.contains("not a member"), "{msg}");
            let msg = refused(client.set_output(&p.processid, vec![json!(1)], key).await, 403);
            assert!(msg.contains("not a member"), "{msg}");
        }
        let after = client.get_process(&p.processid, &user_key).await.unwrap();
        assert_eq!(after, before, "refused calls must not change the process");

        // The same key is also an executor of the other colony, running a process there.
        client
            .add_executor(
                petri_api::model::Executor {
                    executorid: a.id(),
                    executorname: "twin".into(),
                    executortype: WORKER.into(),
                    colonyname: other.name.clone(),
                    ..Default::default()
                },
                &other.key,
            )
            .await
            .unwrap();
        client.approve_executor(&other.name, "twin", &other.key).await.unwrap();
        let q = client.submit(spec(&other.name, WORKER, "f"), &a.key).await.unwrap();
        client.assign(&other.name, 5, &a.key).await.unwrap().unwrap();

        // The assigned executor, once rejected by the colony owner, may no longer
        // close, and its process goes back to the queue; its work in the other
        // colony is untouched.
        client
            .reject_executor(&colony.name, &a.name, &colony.key)
            .await
            .unwrap();
        let rejected = client.get_process(&p.processid, &user_key).await.unwrap();
        assert_eq!(rejected.state, state::WAITING, "{rejected:?}");
        assert!(!rejected.isassigned);
        let elsewhere = client.get_process(&q.processid, &a.key).await.unwrap();
        assert_eq!(elsewhere.state, state::RUNNING);
        assert_eq!(elsewhere.assignedexecutorid, a.id());
        let msg = refused(client.close(&p.processid, vec![json!(1)], &a.key).await, 403);
        assert!(msg.contains("Access denied"), "{msg}");
        let after = client.get_process(&p.processid, &user_key).await.unwrap();
        assert_eq!(after, rejected, "a refused close must not change the process");
    })
    .await;
}
