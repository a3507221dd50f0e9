//! Hostile input over raw HTTP: every bad request gets the protocol's error
//! envelope with a readable message, and the broker's state is the same
//! afterwards as before.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use petri_api::Envelope;
use petri_api::model::{Process, state};
use petri_crypto::PrivateKey;
use petri_e2e::{TestColony, TestExecutor, TestServer, WORKER, spec, within};
use serde_json::{Value, json};

/// Posts `body` to `/api`; returns the status and the body text.
async fn post(server: &TestServer, body: impl Into<reqwest::Body>) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/api", server.base_url()))
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a reply body"))
}

/// Posts `body` to `/api` with chunked transfer encoding (so the server does
/// not know its length in advance) over a raw connection; returns the status
/// and the body text.
async fn post_chunked(server: &TestServer, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(server.addr()).await.expect("connect");
    let head = format!(
        "POST /api HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.addr()
    );
    let mut request = head.into_bytes();
    for chunk in body.chunks(1000) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before reading everything; that is fine.
    let _ = conn.write_all(&request).await;
    let mut response = Vec::new();
    let _ = conn.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, rest) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {response:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_owned() };
    (status, body)
}

/// The payload of a chunked HTTP body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// The message of the error envelope `text`, checking the envelope's shape and
/// that its status equals the HTTP `status`.
fn error_message(status: u16, text: &str) -> String {
    let reply: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not an envelope ({e}): {text:?}"));
    assert_eq!(reply["payloadtype"], "error", "{reply}");
    assert_eq!(reply["error"], true, "{reply}");
    let bytes = STANDARD
        .decode(reply["payload"].as_str().expect("a string payload"))
        .expect("a base64 payload");
    let body: Value = serde_json::from_slice(&bytes).expect("a JSON payload");
    assert_eq!(body["status"], json!(status), "{body}");
    body["message"].as_str().expect("a message").to_owned()
}

/// Sends `body`, expecting an error envelope with `status` whose message
/// contains `needle`.
async fn refused(server: &TestServer, what: &str, body: impl Into<reqwest::Body>, status: u16, needle: &str) {
    let (got, text) = post(server, body).await;
    assert_eq!(got, status, "{what}: {text}");
    let message = error_message(status, &text);
    assert!(message.contains(needle), "{what}: {message:?} does not say {needle:?}");
}

fn signed(payloadtype: &str, msg: &Value, key: &PrivateKey) -> Envelope {
    let mut env = Envelope::unsigned(payloadtype, msg).unwrap();
    env.signature = key.sign(&env.payload);
    env
}

fn text(env: &Envelope) -> String {
    serde_json::to_string(env).unwrap()
}

fn submit_msg(colony: &str, funcname: &str) -> Value {
    json!({"msgtype": "submitfuncspecmsg", "spec": spec(colony, WORKER, funcname)})
}

fn close_msg(processid: &str) -> Value {
    json!({"msgtype": "closesuccessfulmsg", "processid": processid, "out": ["forged"]})
}

/// Everything a request could change, as read by the colony's members and the
/// server owner.
async fn snapshot(server: &TestServer, colonies: &[&TestColony]) -> Value {
    let client = server.client();
    let mut out = serde_json::Map::new();
    let all = client.get_colonies(server.server_key()).await.unwrap();
    out.insert("colonies".into(), json!(all));
    for c in colonies {
        let key = &c.executor.key;
        let mut processes: Vec<Process> = Vec::new();
        for s in [state::WAITING, state::RUNNING, state::SUCCESS, state::FAILED] {
            processes.extend(client.get_processes(&c.name, s, 100, key).await.unwrap());
        }
        processes.sort_by(|a, b| a.processid.cmp(&b.processid));
        let mut executors = client.get_executors(&c.name, key).await.unwrap();
        executors.sort_by(|a, b| a.executorname.cmp(&b.executorname));
        let stats = client.colony_stats(&c.name, key).await.unwrap();
        let functions = client.get_functions(&c.name, "", key).await.unwrap();
        out.insert(
            c.name.clone(),
            json!({"processes": processes, "executors": executors, "stats": stats, "functions": functions}),
        );
    }
    Value::Object(out)
}

/// A colony with a waiting process, a process running on its executor, a
/// second approved executor, a pending executor; and a second colony.
struct World {
    a: TestColony,
    b: TestColony,
    waiting: Process,
    running: Process,
    other: TestExecutor,
    pending: TestExecutor,
}

async fn world(server: &TestServer) -> World {
    let client = server.client();
    let a = server.colony().await;
    let b = server.colony().await;
    let key = &a.executor.key;
    let running = client.submit(spec(&a.name, WORKER, "running"), key).await.unwrap();
    let assigned = client.assign(&a.name, -1, key).await.unwrap().expect("work");
    assert_eq!(assigned.processid, running.processid);
    let waiting = client.submit(spec(&a.name, WORKER, "waiting"), key).await.unwrap();
    let other = server.executor(&a, WORKER, true).await;
    let pending = server.executor(&a, WORKER, false).await;
    World {
        a,
        b,
        waiting,
        running: assigned,
        other,
        pending,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_envelopes_are_refused_and_change_nothing() {
    within(30, async {
        let server = TestServer::start().await;
        let w = world(&server).await;
        let before = snapshot(&server, &[&w.a, &w.b]).await;
        let key = &w.a.executor.key;
        let good = signed("submitfuncspecmsg", &submit_msg(&w.a.name, "sneaky"), key);

        refused(&server, "malformed JSON", "{\"payloadtype\": ", 400, "invalid JSON").await;
        refused(&server, "not an object", "[1, 2, 3]", 400, "invalid JSON").await;
        refused(
            &server,
            "a field of the wrong type",
            json!({"payloadtype": 7, "payload": good.payload, "signature": good.signature}).to_string(),
            400,
            "invalid JSON",
        )
        .await;
        refused(&server, "binary", vec![0xff_u8, 0xfe, 0x00, 0x01], 400, "").await;

        // The signature covers the payload text as sent, so a payload that is
        // not base64 can be validly signed; decoding it still fails.
        let mut bad64 = Envelope {
            payloadtype: "submitfuncspecmsg".into(),
            payload: "!!not base64!!".into(),
            signature: String::new(),
        };
        bad64.signature = key.sign(&bad64.payload);
        refused(&server, "bad base64", text(&bad64), 400, "base64").await;
        let mut not_json = bad64.clone();
        not_json.payload = STANDARD.encode("spec: yes");
        not_json.signature = key.sign(&not_json.payload);
        refused(&server, "payload not JSON", text(&not_json), 400, "invalid JSON").await;

        // Signed by a key nobody registered.
        let stranger = PrivateKey::generate();
        let unknown = signed("submitfuncspecmsg", &submit_msg(&w.a.name, "sneaky"), &stranger);
        refused(&server, "unknown key", text(&unknown), 403, "Access denied").await;

        // A member's request with its payload changed: the signature now
        // recovers some other identity, which is no member.
        let mut tampered = good.clone();
        tampered.payload = STANDARD.encode(serde_json::to_vec(&submit_msg(&w.a.name, "evil")).unwrap());
        refused(&server, "tampered payload", text(&tampered), 403, "Access denied").await;
        let mut flipped = good.clone();
        let first = if flipped.signature.starts_with('0') { "1" } else { "0" };
        flipped.signature.replace_range(0..1, first);
        let (status, reply) = post(&server, text(&flipped)).await;
        assert_eq!(status, 403, "tampered signature: {reply}");
        error_message(403, &reply);

        // The payload says one message, the envelope another.
        let mut mismatch = signed("closesuccessfulmsg", &submit_msg(&w.a.name, "sneaky"), key);
        refused(
            &server,
            "wrong payloadtype",
            text(&mismatch),
            400,
            "does not match payloadType",
        )
        .await;
        mismatch = signed("nosuchmsg", &submit_msg(&w.a.name, "sneaky"), key);
        refused(
            &server,
            "unknown payloadtype",
            text(&mismatch),
            403,
            "invalid rpcMsg.PayloadType",
        )
        .await;
        let unsigned = Envelope::unsigned("submitfuncspecmsg", &submit_msg(&w.a.name, "sneaky")).unwrap();
        refused(&server, "no signature", text(&unsigned), 403, "").await;

        assert_eq!(
            snapshot(&server, &[&w.a, &w.b]).await,
            before,
            "a refused request changed state"
        );
        // The untouched envelope is accepted: the refusals were about what was broken.
        let (status, reply) = post(&server, text(&good)).await;
        assert_eq!(status, 200, "{reply}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_signers_rights_are_refused_and_change_nothing() {
    within(30, async {
        let server = TestServer::start().await;
        let w = world(&server).await;
        let before = snapshot(&server, &[&w.a, &w.b]).await;
        let (a, b) = (&w.a, &w.b);
        let random = petri_crypto::random_id();
        let assign = |colony: &str| json!({"msgtype": "assignprocessmsg", "colonyname": colony, "timeout": -1});

        // Unknown colony and process.
        let e = signed("submitfuncspecmsg", &submit_msg("no-such-colony", "f"), &a.executor.key);
        refused(
            &server,
            "unknown colony",
            text(&e),
            403,
            "not a member of Colony with name no-such-colony",
        )
        .await;
        let e = signed("closesuccessfulmsg", &close_msg(&random), &a.executor.key);
        refused(&server, "unknown process (close)", text(&e), 404, "not found").await;
        let e = signed(
            "getprocessmsg",
            &json!({"msgtype": "getprocessmsg", "processid": random}),
            &a.executor.key,
        );
        refused(&server, "unknown process (get)", text(&e), 404, "not found").await;

        // A member of another colony.
        let outsider = &b.executor.key;
        let e = signed("submitfuncspecmsg", &submit_msg(&a.name, "f"), outsider);
        refused(&server, "outsider submits", text(&e), 403, "Access denied").await;
        let e = signed("assignprocessmsg", &assign(&a.name), outsider);
        refused(&server, "outsider assigns", text(&e), 403, "Access denied").await;
        let e = signed(
            "getprocessmsg",
            &json!({"msgtype": "getprocessmsg", "processid": w.running.processid}),
            outsider,
        );
        refused(&server, "outsider reads", text(&e), 403, "Access denied").await;
        let e = signed("closesuccessfulmsg", &close_msg(&w.running.processid), outsider);
        refused(&server, "outsider closes", text(&e), 403, "Access denied").await;
        let e = signed(
            "removeprocessmsg",
            &json!({"msgtype": "removeprocessmsg", "processid": w.waiting.processid}),
            outsider,
        );
        refused(&server, "outsider removes", text(&e), 403, "Access denied").await;

        // An executor that was never approved.
        let pending = &w.pending.key;
        let e = signed("submitfuncspecmsg", &submit_msg(&a.name, "f"), pending);
        refused(&server, "pending submits", text(&e), 403, "Access denied").await;
        let e = signed("assignprocessmsg", &assign(&a.name), pending);
        refused(&server, "pending assigns", text(&e), 403, "Access denied").await;
        let approve = json!({"msgtype": "approveexecutormsg", "colonyname": a.name, "executorname": w.pending.name});
        let e = signed("approveexecutormsg", &approve, pending);
        refused(&server, "pending approves itself", text(&e), 403, "Access denied").await;
        let e = signed("approveexecutormsg", &approve, &a.executor.key);
        refused(&server, "a member approves", text(&e), 403, "not colony owner").await;

        // An approved executor meddling with a process it was not assigned.
        let other = &w.other.key;
        let e = signed("closesuccessfulmsg", &close_msg(&w.running.processid), other);
        refused(
            &server,
            "close another's process",
            text(&e),
            403,
            "assigned to another executor",
        )
        .await;
        let fail = json!({"msgtype": "closefailedmsg", "processid": w.running.processid, "errors": ["x"]});
        let e = signed("closefailedmsg", &fail, other);
        refused(
            &server,
            "fail another's process",
            text(&e),
            403,
            "assigned to another executor",
        )
        .await;
        let out = json!({"msgtype": "setoutputmsg", "processid": w.running.processid, "out": ["x"]});
        let e = signed("setoutputmsg", &out, other);
        refused(
            &server,
            "set another's output",
            text(&e),
            403,
            "assigned to another executor",
        )
        .await;
        let e = signed("closesuccessfulmsg", &close_msg(&w.waiting.processid), other);
        refused(&server, "close a waiting process", text(&e), 403, "not assigned").await;
        let e = signed("closesuccessfulmsg", &close_msg(&w.waiting.processid), &a.executor.key);
        refused(&server, "close a waiting process", text(&e), 403, "not assigned").await;

        // Server-owner and colony-owner calls by a member.
        let e = signed(
            "removecolonymsg",
            &json!({"msgtype": "removecolonymsg", "colonyname": a.name}),
            other,
        );
        refused(&server, "member removes the colony", text(&e), 403, "not server owner").await;

        assert_eq!(
            snapshot(&server, &[a, b]).await,
            before,
            "a refused request changed state"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_envelopes() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        // Register the function so the close's call statistics show double counting.
        client
            .add_function(
                petri_api::model::Function {
                    executorname: colony.executor.name.clone(),
                    executortype: WORKER.into(),
                    colonyname: colony.name.clone(),
                    funcname: "once".into(),
                    ..Default::default()
                },
                key,
            )
            .await
            .unwrap();
        let p = client.submit(spec(&colony.name, WORKER, "once"), key).await.unwrap();
        let a = client.assign(&colony.name, -1, key).await.unwrap().expect("work");
        assert_eq!(a.processid, p.processid);

        // A captured close, sent again: accepted (closing twice is allowed in
        // Colonies) but nothing changes the second time.
        let close = text(&signed("closesuccessfulmsg", &close_msg(&p.processid), key));
        let (status, reply) = post(&server, close.clone()).await;
        assert_eq!(status, 200, "{reply}");
        let after_first = snapshot(&server, &[&colony]).await;
        let (status, reply) = post(&server, close).await;
        assert_eq!(status, 200, "a repeated close is accepted: {reply}");
        assert_eq!(
            snapshot(&server, &[&colony]).await,
            after_first,
            "a replayed close changed state"
        );
        let functions = client.get_functions(&colony.name, "", key).await.unwrap();
        assert_eq!(functions.len(), 1);
        assert_eq!(functions[0].counter, 1, "a replayed close is not another call");

        // A captured failure of a finished process is refused.
        let fail = json!({"msgtype": "closefailedmsg", "processid": p.processid, "errors": ["replayed"]});
        let (status, reply) = post(&server, text(&signed("closefailedmsg", &fail, key))).await;
        assert_eq!(status, 400);
        error_message(400, &reply);
        assert_eq!(snapshot(&server, &[&colony]).await, after_first);

        // The Colonies protocol has no nonce, so a captured submit runs again:
        // each copy makes a new process (with its own id) for the original signer.
        let submit = text(&signed("submitfuncspecmsg", &submit_msg(&colony.name, "again"), key));
        let (s1, r1) = post(&server, submit.clone()).await;
        let (s2, r2) = post(&server, submit).await;
        assert_eq!((s1, s2), (200, 200), "{r1} {r2}");
        let id = |r: &str| -> String {
            let v: Value = serde_json::from_str(r).unwrap();
            let bytes = STANDARD.decode(v["payload"].as_str().unwrap()).unwrap();
            let p: Process = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(p.initiatorid, colony.executor.id());
            p.processid
        };
        assert_ne!(id(&r1), id(&r2));
        let stats = client.colony_stats(&colony.name, key).await.unwrap();
        assert_eq!(stats.waitingprocesses, 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused_with_an_error_envelope() {
    within(30, async {
        const LIMIT: usize = 4096;
        let server = TestServer::start_with(|c| c.max_body_bytes = LIMIT).await;
        let colony = server.colony().await;
        let before = snapshot(&server, &[&colony]).await;
        let mut big = spec(&colony.name, WORKER, "big");
        big.args = vec![json!("x".repeat(2 * LIMIT))];
        let body = text(&signed(
            "submitfuncspecmsg",
            &json!({"msgtype": "submitfuncspecmsg", "spec": big}),
            &colony.executor.key,
        ));
        assert!(body.len() > LIMIT);
        refused(&server, "oversized body", body.clone(), 413, "too large").await;

        // Without a Content-Length (a chunked body) the limit holds too.
        let (status, reply) = post_chunked(&server, body.as_bytes()).await;
        assert_eq!(status, 413, "oversized chunked body: {reply}");
        let message = error_message(413, &reply);
        assert!(message.contains("too large"), "{message}");
        assert_eq!(snapshot(&server, &[&colony]).await, before);

        // A request under the limit still works.
        let small = text(&signed(
            "submitfuncspecmsg",
            &submit_msg(&colony.name, "small"),
            &colony.executor.key,
        ));
        assert!(small.len() < LIMIT);
        let (status, reply) = post(&server, small).await;
        assert_eq!(status, 200, "{reply}");
    })
    .await;
}
