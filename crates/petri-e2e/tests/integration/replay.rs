//! Replayed requests, written as the attacks: an attacker on the network path
//! records what petri clients send (a [`Wiretap`]) and sends it again later,
//! to the same server or to another replica of the same database. petri
//! clients sign a nonce, a timestamp and the server's id with every message,
//! so each replay is refused and changes nothing.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use petri_api::model::{executor_state, state};
use petri_api::msg::{Message, SubscribeProcess};
use petri_api::{Envelope, Replay, Timestamp};
use petri_crypto::PrivateKey;
use petri_e2e::{Replica, TestSchema, TestServer, WORKER, Wiretap, add_colony, post_envelope, refused, spec, within};
use petri_server::{AppState, Config};
use petri_store::Store;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// An envelope for `msg` signed by `key`, with `replay` (none when `None`), as a hand-rolled client would make it.
fn envelope(msg: &Value, replay: Option<&Replay>, key: &PrivateKey) -> Envelope {
    let mut msg = msg.clone();
    if let Some(r) = replay {
        r.attach(&mut msg);
    }
    let payloadtype = msg["msgtype"].as_str().expect("a msgtype").to_owned();
    let mut env = Envelope::unsigned(&payloadtype, &msg).unwrap();
    env.signature = key.sign(&env.payload);
    env
}

fn fresh(server_id: &str) -> Replay {
    Replay::new(petri_crypto::random_nonce(), server_id)
}

fn assert_replay_refused(status: u16, message: &str) {
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains("replayed request refused") && message.contains("already used"),
        "{message:?} does not say the request is a replay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_approval_does_not_undo_a_reject() {
    within(30, async {
        let server = TestServer::start().await;
        let colony = server.colony().await;
        let pending = server.executor(&colony, WORKER, false).await;
        // The colony owner approves the executor with the petri SDK; the attacker records it.
        let tap = Wiretap::start(server.addr()).await;
        tap.client()
            .approve_executor(&colony.name, &pending.name, &colony.key)
            .await
            .unwrap();
        let approval = tap.captured("approveexecutormsg");
        // The owner changes their mind.
        let client = server.client();
        client
            .reject_executor(&colony.name, &pending.name, &colony.key)
            .await
            .unwrap();

        let (status, message) = post_envelope(server.addr(), &approval).await;
        assert_replay_refused(status, &message);

        let executor = client
            .get_executor(&colony.name, &pending.name, &colony.executor.key)
            .await
            .unwrap();
        assert_eq!(
            executor.state,
            executor_state::REJECTED,
            "the replay re-approved the executor"
        );
        client
            .submit(spec(&colony.name, WORKER, "job"), &colony.executor.key)
            .await
            .unwrap();
        let message = refused(client.assign(&colony.name, -1, &pending.key).await, 403);
        assert!(message.contains("Access denied"), "{message}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_assign_does_not_take_the_next_process() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let worker = &colony.executor;
        let submitter = server.executor(&colony, "submitter", true).await;
        let first = client
            .submit(spec(&colony.name, WORKER, "first"), &submitter.key)
            .await
            .unwrap();
        // The executor asks for work through the tapped line.
        let tap = Wiretap::start(server.addr()).await;
        let got = tap.client().assign(&colony.name, 5, &worker.key).await.unwrap();
        assert_eq!(got.map(|p| p.processid), Some(first.processid.clone()));
        let assign = tap.captured("assignprocessmsg");
        client
            .close(&first.processid, vec![json!(1)], &worker.key)
            .await
            .unwrap();

        // The next process waits; the attacker replays the assign to take it.
        let second = client
            .submit(spec(&colony.name, WORKER, "second"), &submitter.key)
            .await
            .unwrap();
        let (status, message) = post_envelope(server.addr(), &assign).await;
        assert_replay_refused(status, &message);
        assert!(!message.contains(&second.processid), "{message}");

        let now = client.get_process(&second.processid, &submitter.key).await.unwrap();
        assert_eq!(now.state, state::WAITING);
        assert!(!now.isassigned && now.assignedexecutorid.is_empty(), "{now:?}");
        // The executor itself still gets it.
        let got = client.assign(&colony.name, 5, &worker.key).await.unwrap();
        assert_eq!(got.map(|p| p.processid), Some(second.processid));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_replayed_to_another_replica_is_refused() {
    let Some(schema) = TestSchema::new("a_request_replayed_to_another_replica_is_refused") else {
        return;
    };
    within(60, async {
        let server_key = PrivateKey::generate();
        let serve = || async {
            let store: Arc<dyn Store> = Arc::new(schema.store().await);
            Replica::serve(AppState::new(store, Config::new(server_key.id()))).await
        };
        let (a, b) = (serve().await, serve().await);
        let colony = add_colony(&a.client(), &server_key).await;
        let worker = &colony.executor;
        let submitter = add_colony_executor(&a, &colony).await;

        let first = a
            .client()
            .submit(spec(&colony.name, WORKER, "first"), &submitter)
            .await
            .unwrap();
        let tap = Wiretap::start(a.addr()).await;
        let got = tap.client().assign(&colony.name, 5, &worker.key).await.unwrap();
        assert_eq!(got.map(|p| p.processid), Some(first.processid.clone()));
        let assign = tap.captured("assignprocessmsg");
        a.client()
            .close(&first.processid, vec![json!(1)], &worker.key)
            .await
            .unwrap();
        let second = a
            .client()
            .submit(spec(&colony.name, WORKER, "second"), &submitter)
            .await
            .unwrap();
        let submit = tap_submit(&a, &colony.name, &submitter).await;

        // Both replicas share the nonces: the other one refuses the replays too.
        for replica in [&b, &a] {
            let (status, message) = post_envelope(replica.addr(), &assign).await;
            assert_replay_refused(status, &message);
            let (status, message) = post_envelope(replica.addr(), &submit).await;
            assert_replay_refused(status, &message);
        }
        let now = b.client().get_process(&second.processid, &submitter).await.unwrap();
        assert_eq!(now.state, state::WAITING);
        assert!(!now.isassigned, "{now:?}");
        let waiting = b
            .client()
            .get_processes(&colony.name, state::WAITING, 100, &submitter)
            .await
            .unwrap();
        assert_eq!(
            waiting.len(),
            2,
            "the replayed submit made another process: {waiting:?}"
        );
        a.stop().await;
        b.stop().await;
    })
    .await;
}

/// An approved executor of another type in `colony`, made through `replica`; returns its key.
async fn add_colony_executor(replica: &Replica, colony: &petri_e2e::TestColony) -> PrivateKey {
    petri_e2e::add_executor(&replica.client(), colony, "submitter", true)
        .await
        .key
}

/// Submits a process through a wiretap in front of `replica`; returns the recorded envelope.
async fn tap_submit(replica: &Replica, colony: &str, key: &PrivateKey) -> Envelope {
    let tap = Wiretap::start(replica.addr()).await;
    tap.client().submit(spec(colony, WORKER, "tapped"), key).await.unwrap();
    tap.captured("submitfuncspecmsg")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_future_and_foreign_envelopes_are_refused_with_a_reason() {
    within(30, async {
        let server = TestServer::start().await;
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let id = server.server_key().id();
        let submit = json!({"msgtype": "submitfuncspecmsg", "spec": spec(&colony.name, WORKER, "forged")});
        let cases = [
            (
                "signed 10 minutes ago",
                Replay {
                    timestamp: Timestamp::now().plus_secs(-600),
                    ..fresh(&id)
                },
                403,
                "outside this server's replay window of ±120 s",
            ),
            (
                "signed 10 minutes ahead",
                Replay {
                    timestamp: Timestamp::now().plus_secs(600),
                    ..fresh(&id)
                },
                403,
                "outside this server's replay window",
            ),
            (
                "bound to another server",
                fresh(&PrivateKey::generate().id()),
                403,
                "signed for server",
            ),
            (
                "a short nonce",
                Replay {
                    nonce: "00ff".into(),
                    ..fresh(&id)
                },
                400,
                "invalid replay nonce",
            ),
            (
                "no timestamp",
                Replay {
                    timestamp: Timestamp::UNSET,
                    ..fresh(&id)
                },
                400,
                "timestamp is missing",
            ),
        ];
        for (what, replay, status, needle) in cases {
            let (got, message) = post_envelope(server.addr(), &envelope(&submit, Some(&replay), key)).await;
            assert_eq!(got, status, "{what}: {message}");
            assert!(message.contains(needle), "{what}: {message:?} does not say {needle:?}");
        }
        let mut wrong_type = submit.clone();
        wrong_type["replay"] = json!("yesterday");
        let (got, message) = post_envelope(server.addr(), &envelope(&wrong_type, None, key)).await;
        assert_eq!(got, 400, "{message}");
        assert!(message.contains("invalid replay fields"), "{message}");
        // None of them made a process; a fresh one is accepted once.
        let client = server.client();
        assert!(
            client
                .get_processes(&colony.name, state::WAITING, 10, key)
                .await
                .unwrap()
                .is_empty()
        );
        let good = envelope(&submit, Some(&fresh(&id)), key);
        assert_eq!(post_envelope(server.addr(), &good).await.0, 200);
        let (status, message) = post_envelope(server.addr(), &good).await;
        assert_replay_refused(status, &message);
        assert_eq!(
            client
                .get_processes(&colony.name, state::WAITING, 10, key)
                .await
                .unwrap()
                .len(),
            1
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unprotected_requests_pass_by_default_and_are_refused_when_required() {
    within(30, async {
        // By default a request without replay fields (as pycolonies sends) is accepted, and, as
        // the Colonies protocol has no nonce, accepted again when replayed.
        let server = TestServer::start().await;
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let legacy = envelope(
            &json!({"msgtype": "getcolonymsg", "colonyname": colony.name}),
            None,
            key,
        );
        assert_eq!(post_envelope(server.addr(), &legacy).await.0, 200);
        assert_eq!(post_envelope(server.addr(), &legacy).await.0, 200);
        server.stop().await;

        let strict = TestServer::start_with(|c| c.require_replay_protection = true).await;
        let client = strict.client();
        assert_eq!(client.server_id().await.unwrap(), Some(strict.server_key().id()));
        // The petri SDK protects everything it signs, including the websocket subscription.
        let colony = strict.colony().await;
        let key = &colony.executor.key;
        let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();
        let a = client.assign(&colony.name, 5, key).await.unwrap().expect("work");
        client.close(&a.processid, vec![json!("ok")], key).await.unwrap();
        let done = client
            .wait(&p, state::SUCCESS, 5, key)
            .await
            .unwrap()
            .expect("finished");
        assert_eq!(done.state, state::SUCCESS);

        let legacy = envelope(
            &json!({"msgtype": "getcolonymsg", "colonyname": colony.name}),
            None,
            key,
        );
        let (status, message) = post_envelope(strict.addr(), &legacy).await;
        assert_eq!(status, 403, "{message}");
        assert!(message.contains("requires replay protection"), "{message}");
        // Unsigned version requests still work: they are how clients learn the server id.
        let version = json!({"msgtype": "versionmsg"});
        let mut unsigned = Envelope::unsigned("versionmsg", &version).unwrap();
        unsigned.signature = String::new();
        assert_eq!(post_envelope(strict.addr(), &unsigned).await.0, 200);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_subscription_is_refused_on_the_websocket() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();
        let msg = SubscribeProcess {
            processid: p.processid.clone(),
            executortype: WORKER.into(),
            state: state::WAITING,
            timeout: 5,
            colonyname: colony.name.clone(),
        };
        let subscribe = serde_json::to_string(&client.envelope(&msg, key).await.unwrap()).unwrap();
        let url = format!("ws://{}/pubsub", server.addr());
        let mut replies = Vec::new();
        for _ in 0..2 {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
            ws.send(WsMessage::Text(subscribe.clone().into())).await.unwrap();
            let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("a reply")
                .expect("a frame")
                .unwrap();
            let reply: petri_api::ReplyEnvelope = serde_json::from_str(frame.to_text().unwrap()).unwrap();
            replies.push(reply);
        }
        assert_eq!(
            replies[0].payloadtype,
            SubscribeProcess::MSGTYPE,
            "the first is answered"
        );
        let error = replies[1].decode::<Value>().unwrap().unwrap_err();
        assert_replay_refused(error.status, &error.message);
    })
    .await;
}
