//! The HTTP envelope as raw bytes: what a client that is not our SDK sees.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use petri_api::Envelope;
use petri_crypto::PrivateKey;
use petri_e2e::{TestServer, within};
use serde_json::{Value, json};

/// Posts `body` to `/api`; returns the status and the reply body as JSON.
async fn post(server: &TestServer, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api", server.base_url()))
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a reply body");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("the reply is not JSON ({e}): {text:?}"));
    (status, json)
}

/// Checks `reply` is an error envelope with `status`; returns its message.
fn error_envelope(reply: &Value, status: u16) -> String {
    assert_eq!(reply["payloadtype"], "error", "{reply}");
    assert_eq!(reply["error"], true, "{reply}");
    let payload = reply["payload"].as_str().expect("the payload is a string");
    let bytes = STANDARD.decode(payload).expect("the payload is padded standard base64");
    let body: Value = serde_json::from_slice(&bytes).expect("the payload is JSON");
    assert_eq!(body["status"], json!(status), "status is an integer: {body}");
    body["message"].as_str().expect("the message is a string").to_owned()
}

/// A signed envelope for the JSON message `msg`.
fn envelope(payloadtype: &str, msg: &Value, key: &PrivateKey) -> String {
    let mut env = Envelope::unsigned(payloadtype, msg).unwrap();
    env.signature = key.sign(&env.payload);
    serde_json::to_string(&env).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_400_error_envelope() {
    within(30, async {
        let server = TestServer::start().await;
        for body in ["{not json", "", "[1,2", "\"just a string\""] {
            let (status, reply) = post(&server, body).await;
            assert_eq!(status, 400, "body {body:?}: {reply}");
            let msg = error_envelope(&reply, 400);
            assert!(!msg.is_empty());
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_reply_envelope() {
    within(30, async {
        let server = TestServer::start().await;
        let colony = server.colony().await;
        let body = envelope(
            "getcolonymsg",
            &json!({"msgtype": "getcolonymsg", "colonyname": colony.name}),
            &colony.executor.key,
        );
        let (status, reply) = post(&server, body).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["payloadtype"], "getcolonymsg");
        assert_eq!(reply["error"], false);
        let bytes = STANDARD.decode(reply["payload"].as_str().unwrap()).unwrap();
        let colony_json: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(colony_json["name"], json!(colony.name));
        assert_eq!(colony_json["colonyid"], json!(colony.key.id()));

        // Null and unknown fields are tolerated, as pycolonies sends them.
        let body = envelope(
            "getprocessesmsg",
            &json!({"msgtype": "getprocessesmsg", "colonyname": colony.name, "count": 10,
                    "state": 0, "executortype": null, "label": null, "extra": [1]}),
            &colony.executor.key,
        );
        let (status, reply) = post(&server, body).await;
        assert_eq!(status, 200, "{reply}");
        let bytes = STANDARD.decode(reply["payload"].as_str().unwrap()).unwrap();
        let list: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(list.is_array() || list.is_null(), "{list}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_403() {
    within(30, async {
        let server = TestServer::start().await;
        let colony = server.colony().await;
        let msg = json!({"msgtype": "getcolonymsg", "colonyname": colony.name});
        let good: Envelope = serde_json::from_str(&envelope("getcolonymsg", &msg, &colony.executor.key)).unwrap();

        let mut cases: Vec<(&str, Envelope)> = Vec::new();
        let mut e = good.clone();
        e.signature = String::new();
        cases.push(("empty", e));
        let mut e = good.clone();
        e.signature = "zz".repeat(65);
        cases.push(("not hex", e));
        let mut e = good.clone();
        e.signature.truncate(128);
        cases.push(("too short", e));
        let mut e = good.clone();
        // A signature of another payload recovers some other identity.
        e.signature = colony.executor.key.sign("something else");
        cases.push(("other payload", e));
        let mut e = good.clone();
        e.signature = "00".repeat(65);
        cases.push(("zeros", e));

        for (what, e) in cases {
            let (status, reply) = post(&server, serde_json::to_string(&e).unwrap()).await;
            assert_eq!(status, 403, "{what}: {reply}");
            error_envelope(&reply, 403);
        }
        let (status, reply) = post(&server, serde_json::to_string(&good).unwrap()).await;
        assert_eq!(status, 200, "{reply}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_s_signature_is_refused() {
    within(30, async {
        let server = TestServer::start().await;
        // The reference envelope of the protocol notes, in its high-s form.
        let body = json!({
            "payloadtype": "getcolonymsg",
            "payload": "eyJtc2d0eXBlIjogImdldGNvbG9ueW1zZyIsICJjb2xvbnluYW1lIjogImRldiJ9",
            "signature": "c7f3e05a972b20e3986201f12cc33a03921b5b3a900c9203541cefe7f8c7b792df5e6ade57ad0446afb96988a7b9c70ba7aed8fe2f62fc90bab5eccf94352d6801",
        });
        let (status, reply) = post(&server, body.to_string()).await;
        assert_eq!(status, 403, "{reply}");
        let msg = error_envelope(&reply, 403);
        assert!(msg.contains("over half the order"), "{msg}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_payloadtype_is_403() {
    within(30, async {
        let server = TestServer::start().await;
        let colony = server.colony().await;
        let body = envelope("nosuchmsg", &json!({"msgtype": "nosuchmsg"}), &colony.executor.key);
        let (status, reply) = post(&server, body).await;
        assert_eq!(status, 403, "{reply}");
        let msg = error_envelope(&reply, 403);
        assert!(msg.contains("invalid rpcMsg.PayloadType"), "{msg}");
        assert!(msg.contains("nosuchmsg"), "{msg}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msgtype_must_match_payloadtype() {
    within(30, async {
        let server = TestServer::start().await;
        let colony = server.colony().await;
        let body = envelope(
            "getcolonymsg",
            &json!({"msgtype": "getcoloniesmsg", "colonyname": colony.name}),
            &colony.executor.key,
        );
        let (status, reply) = post(&server, body).await;
        assert_eq!(status, 400, "{reply}");
        let msg = error_envelope(&reply, 400);
        assert!(msg.contains("does not match payloadType"), "{msg}");

        // A payload that is not JSON is a bad request too.
        let mut e = Envelope {
            payloadtype: "getcolonymsg".into(),
            payload: STANDARD.encode("not json"),
            signature: String::new(),
        };
        e.signature = colony.executor.key.sign(&e.payload);
        let (status, reply) = post(&server, serde_json::to_string(&e).unwrap()).await;
        assert_eq!(status, 400, "{reply}");
        error_envelope(&reply, 400);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_version_need_no_signature() {
    within(30, async {
        let server = TestServer::start().await;
        let response = reqwest::get(format!("{}/health", server.base_url())).await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(server.client().alive().await.unwrap());

        let body = json!({
            "payloadtype": "versionmsg",
            "payload": STANDARD.encode(r#"{"msgtype":"versionmsg"}"#),
            "signature": "",
        });
        let (status, reply) = post(&server, body.to_string()).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["error"], false);
        let bytes = STANDARD.decode(reply["payload"].as_str().unwrap()).unwrap();
        let version: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(version.get("buildversion").is_some(), "{version}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_of_common_refusals() {
    within(30, async {
        let server = TestServer::start().await;
        let colony = server.colony().await;
        let key = &colony.executor.key;
        // Unknown process: 404.
        let body = envelope(
            "getprocessmsg",
            &json!({"msgtype": "getprocessmsg", "processid": petri_crypto::random_id()}),
            key,
        );
        let (status, reply) = post(&server, body).await;
        assert_eq!(status, 404, "{reply}");
        error_envelope(&reply, 404);
        // Nothing to assign: 404 with the Colonies text.
        let body = envelope(
            "assignprocessmsg",
            &json!({"msgtype": "assignprocessmsg", "colonyname": colony.name, "timeout": -1}),
            key,
        );
        let (status, reply) = post(&server, body).await;
        assert_eq!(status, 404, "{reply}");
        assert_eq!(error_envelope(&reply, 404), "No process available for assignment");
        // Count above the limit: 400.
        let body = envelope(
            "getprocessesmsg",
            &json!({"msgtype": "getprocessesmsg", "colonyname": colony.name, "count": 101, "state": 0}),
            key,
        );
        let (status, reply) = post(&server, body).await;
        assert_eq!(status, 400, "{reply}");
        error_envelope(&reply, 400);
    })
    .await;
}
