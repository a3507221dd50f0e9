//! Properties of the RPC decoding path (envelope JSON → base64 → message →
//! signature recovery): arbitrary input never panics it, valid envelopes
//! round-trip, and a live broker answers any body with a reply envelope and
//! never with a server error. `fuzz/` drives the same path with cargo fuzz.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use petri_api::model::FunctionSpec;
use petri_api::msg::{AssignProcess, CloseSuccessful, GetProcesses, SubmitFunctionSpec};
use petri_api::{Envelope, ReplyEnvelope};
use petri_crypto::PrivateKey;
use petri_e2e::TestServer;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Every step the broker takes on a body before dispatching it, through the
/// crates' public functions; the results are ignored, only panics matter.
fn decode_everything(body: &[u8]) {
    let Ok(text) = std::str::from_utf8(body) else { return };
    let Ok(env) = serde_json::from_str::<Envelope>(text) else {
        return;
    };
    let _ = petri_crypto::recover_id(&env.payload, &env.signature);
    let _ = env.payload_bytes();
    let _ = env.decode::<Value>();
    let _ = env.decode::<SubmitFunctionSpec>();
    let _ = env.decode::<AssignProcess>();
    let _ = env.decode::<CloseSuccessful>();
    let _ = env.decode::<GetProcesses>();
}

/// JSON values without floats (whose text form need not round-trip exactly).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const MSGTYPES: [&str; 8] = [
    "submitfuncspecmsg",
    "assignprocessmsg",
    "closesuccessfulmsg",
    "getprocessesmsg",
    "addcolonymsg",
    "versionmsg",
    "nosuchmsg",
    "",
];

/// A request body shaped like an envelope whose parts are each valid or not.
fn envelope_body() -> impl Strategy<Value = String> {
    let payloadtype = prop_oneof![
        prop::sample::select(MSGTYPES.to_vec()).prop_map(String::from),
        ".{0,16}"
    ];
    let message = (prop::sample::select(MSGTYPES.to_vec()), json_value()).prop_map(|(t, v)| {
        let mut m = serde_json::Map::new();
        m.insert("msgtype".into(), json!(t));
        m.insert("spec".into(), v.clone());
        m.insert("processid".into(), v);
        Value::Object(m).to_string()
    });
    let payload = prop_oneof![
        message.prop_map(|m| STANDARD.encode(m)),
        json_value().prop_map(|v| STANDARD.encode(v.to_string())),
        ".{0,40}",
    ];
    (payloadtype, payload, any::<u8>(), "[0-9a-f]{0,140}", any::<[u8; 32]>()).prop_map(
        |(payloadtype, payload, how, hex, seed)| {
            let signature = match how % 3 {
                // A real signature by some key, over exactly this payload.
                0 => PrivateKey::from_hex(&hex_of(&seed))
                    .map(|k| k.sign(&payload))
                    .unwrap_or_default(),
                1 => hex,
                _ => String::new(),
            };
            json!({"payloadtype": payloadtype, "payload": payload, "signature": signature}).to_string()
        },
    )
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(body in prop::collection::vec(any::<u8>(), 0..300)) {
        decode_everything(&body);
    }

    #[test]
    fn arbitrary_envelopes_never_panic_the_decoder(body in envelope_body()) {
        decode_everything(body.as_bytes());
    }

    #[test]
    fn valid_envelopes_round_trip(
        seed in any::<[u8; 32]>(),
        colony in ".{0,20}",
        label in ".{0,20}",
        count in any::<i64>(),
        state in any::<i32>(),
        args in prop::collection::vec(json_value(), 0..4),
    ) {
        let key = PrivateKey::from_hex(&hex_of(&seed));
        prop_assume!(key.is_ok(), "not a valid scalar");
        let key = key.unwrap();

        let msg = GetProcesses { colonyname: colony.clone(), count, state, label, ..GetProcesses::default() };
        let mut env = Envelope::unsigned("getprocessesmsg", &petri_api::msg::Message::to_json(&msg)).unwrap();
        env.signature = key.sign(&env.payload);
        let wire = serde_json::to_string(&env).unwrap();
        let back: Envelope = serde_json::from_str(&wire).unwrap();
        prop_assert_eq!(back.decode::<GetProcesses>().unwrap(), msg);
        prop_assert_eq!(petri_crypto::recover_id(&back.payload, &back.signature).unwrap(), key.id());
        // Relabelled as another message type, the envelope is refused, not misread.
        let mut relabelled = back.clone();
        relabelled.payloadtype = "assignprocessmsg".into();
        prop_assert!(matches!(relabelled.decode::<AssignProcess>(), Err(petri_api::ApiError::MsgTypeMismatch)));

        let mut spec = FunctionSpec { funcname: "f".into(), args, ..FunctionSpec::default() };
        spec.conditions.colonyname = colony;
        let msg = SubmitFunctionSpec { spec };
        let mut env = Envelope::unsigned("submitfuncspecmsg", &petri_api::msg::Message::to_json(&msg)).unwrap();
        env.signature = key.sign(&env.payload);
        let back: Envelope = serde_json::from_str(&serde_json::to_string(&env).unwrap()).unwrap();
        prop_assert_eq!(back.decode::<SubmitFunctionSpec>().unwrap(), msg);
        prop_assert_eq!(petri_crypto::recover_id(&back.payload, &back.signature).unwrap(), key.id());
    }
}

/// The broker answers whatever arrives with a reply envelope whose status is
/// the HTTP status, refuses it (the bodies are garbage or signed by strangers),
/// and never fails with a server error.
#[test]
fn the_broker_answers_any_body_with_an_error_envelope() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(TestServer::start());
    let url = format!("{}/api", server.base_url());
    let http = reqwest::Client::new();
    let bodies = prop_oneof![
        envelope_body().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..200),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(200));
    let outcome = runner.run(&bodies, |body| {
        let (status, text) = rt.block_on(async {
            let response = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                http.post(&url).body(body.clone()).send(),
            )
            .await
            .expect("the broker answers in time")
            .expect("the broker answers");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        });
        let reply: ReplyEnvelope = serde_json::from_str(&text)
            .map_err(|e| TestCaseError::fail(format!("status {status}, not an envelope ({e}): {text:?}")))?;
        if status == 200 {
            // Only the unsigned message types can succeed for a stranger.
            let env: Envelope = serde_json::from_slice(&body).unwrap();
            prop_assert!(
                ["versionmsg", "getserverinfomsg"].contains(&env.payloadtype.as_str()),
                "{text}"
            );
            return Ok(());
        }
        prop_assert!([400, 403, 404, 413].contains(&status), "status {status}: {text}");
        let error = reply.decode::<Value>().unwrap().unwrap_err();
        prop_assert_eq!(error.status, status);
        prop_assert!(!error.message.is_empty());
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    rt.block_on(server.stop());
}
