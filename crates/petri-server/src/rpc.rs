//! `POST /api`: envelope decoding, signature recovery and the reply envelope.

use axum::extract::State;
use axum::extract::rejection::StringRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use petri_api::model::Version;
use petri_api::{Envelope, ReplyEnvelope};

use crate::AppState;
use crate::error::{RpcFailure, RpcResult};
use crate::handlers;

/// Message types answered without a signature.
const UNSIGNED: [&str; 2] = ["versionmsg", "getserverinfomsg"];

pub(crate) async fn handle_http(State(state): State<AppState>, body: Result<String, StringRejection>) -> Response {
    let result = match body {
        Ok(body) => handle_text(&state, &body).await,
        // A body over the limit, or not UTF-8, gets the protocol's error envelope too.
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(RpcFailure::new(
            413,
            format!(
                "Request body too large, the limit is {} bytes",
                state.config.max_body_bytes
            ),
        )),
        Err(rejection) => Err(RpcFailure::new(rejection.status().as_u16(), rejection.body_text())),
    };
    let (status, reply) = match result {
        Ok(reply) => (StatusCode::OK, reply),
        Err(f) => {
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, ReplyEnvelope::error(f.status, &f.message))
        }
    };
    let json = serde_json::to_string(&reply).unwrap_or_else(|_| "{}".into());
    (status, [(header::CONTENT_TYPE, "application/json")], json).into_response()
}

/// Decodes and verifies one envelope, then runs it.
pub(crate) async fn handle_text(state: &AppState, body: &str) -> RpcResult<ReplyEnvelope> {
    let envelope: Envelope = serde_json::from_str(body)
        .map_err(|e| RpcFailure::bad_request(format!("Failed to parse RPC envelope, invalid JSON: {e}")))?;
    if UNSIGNED.contains(&envelope.payloadtype.as_str()) {
        // The server id lets petri clients bind what they sign to this server (replay
        // protection); Colonies clients ignore the extra field.
        let version = Version {
            buildversion: env!("CARGO_PKG_VERSION").into(),
            buildtime: String::new(),
            serverid: state.config.server_id.clone(),
        };
        return ok(&envelope.payloadtype, &version);
    }
    let signer = recover_signer(&envelope)?;
    tracing::debug!(msgtype = %envelope.payloadtype, signer = %signer, "rpc");
    state.admit(&signer, &envelope).await?;
    let json = handlers::dispatch(state, &signer, &envelope).await?;
    Ok(ReplyEnvelope::ok_json(&envelope.payloadtype, &json))
}

/// The id of whoever signed the envelope's payload.
pub(crate) fn recover_signer(envelope: &Envelope) -> RpcResult<String> {
    petri_crypto::recover_id(&envelope.payload, &envelope.signature).map_err(|e| RpcFailure::forbidden(e.to_string()))
}

fn ok<T: serde::Serialize>(msgtype: &str, body: &T) -> RpcResult<ReplyEnvelope> {
    ReplyEnvelope::ok(msgtype, body).map_err(|e| RpcFailure::new(500, e.to_string()))
}
