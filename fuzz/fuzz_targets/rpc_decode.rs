//! Feeds arbitrary bytes through the broker's RPC decoding path: the envelope
//! JSON, the base64 payload, the message JSON (checked against the envelope's
//! `payloadtype`) and the recovery of the signer from the signature. Nothing
//! here may panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use petri_api::Envelope;
use petri_api::msg::{AddColony, AssignProcess, CloseSuccessful, GetProcesses, SubmitFunctionSpec, SubmitWorkflowSpec};

fuzz_target!(|data: &[u8]| {
    // The broker reads the body as UTF-8 text.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(envelope) = serde_json::from_str::<Envelope>(text) else {
        return;
    };
    // The signature covers the base64 text exactly as received.
    let _ = petri_crypto::recover_id(&envelope.payload, &envelope.signature);
    let _ = envelope.payload_bytes();
    let _ = envelope.decode::<serde_json::Value>();
    let _ = envelope.decode::<AddColony>();
    let _ = envelope.decode::<SubmitFunctionSpec>();
    let _ = envelope.decode::<SubmitWorkflowSpec>();
    let _ = envelope.decode::<AssignProcess>();
    let _ = envelope.decode::<CloseSuccessful>();
    let _ = envelope.decode::<GetProcesses>();
});
