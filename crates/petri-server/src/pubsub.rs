//! `/pubsub`: process subscriptions over a websocket (and channel subscriptions,
//! in `pubsub/channel.rs`).
//!
//! A client sends a signed `subscribeprocessmsg` and gets one frame with the
//! process once it reaches the wanted state (at once if it already has).
//! A subscription for a final state (successful or failed) is answered when
//! the process reaches either, so a waiting client learns of a failure at
//! once instead of at its timeout. When the timeout passes first the server
//! closes the connection.
//!
//! A connection that sends no signed request within `ws_auth_timeout`, or none for
//! `ws_idle_timeout` after its last subscription ended, is closed; so is one whose request is
//! refused by the rate limit or the replay check.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use petri_api::model::{Process, state};
use petri_api::msg::SubscribeProcess;
use petri_api::{Envelope, ReplyEnvelope};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::AppState;

mod channel;
use crate::error::RpcFailure;
use crate::handlers::decode;
use crate::rpc::recover_signer;

pub(crate) async fn handle_upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| session(state, socket))
}

/// Whether a process in state `actual` satisfies a subscription for `wanted`.
fn reached(actual: i32, wanted: i32) -> bool {
    let done = |s| s == state::SUCCESS || s == state::FAILED;
    actual == wanted || (done(wanted) && done(actual))
}

async fn send_reply(socket: &mut WebSocket, reply: &ReplyEnvelope) -> Result<(), ()> {
    let text = serde_json::to_string(reply).map_err(drop)?;
    socket.send(Message::Text(text.into())).await.map_err(drop)
}

async fn send_error(socket: &mut WebSocket, failure: &RpcFailure) -> Result<(), ()> {
    send_reply(socket, &ReplyEnvelope::error(failure.status, &failure.message)).await
}

async fn send_process(socket: &mut WebSocket, p: &Process) -> Result<(), ()> {
    let reply = ReplyEnvelope::ok(<SubscribeProcess as petri_api::msg::Message>::MSGTYPE, p).map_err(drop)?;
    send_reply(socket, &reply).await
}

async fn session(state: AppState, mut socket: WebSocket) {
    // A new connection must send a signed request soon; between subscriptions it may stay idle
    // a while longer. Control frames (pings) do not move the deadline.
    let mut deadline = Instant::now() + state.config.ws_auth_timeout;
    loop {
        let frame = tokio::select! {
            frame = socket.recv() => frame,
            _ = state.events.stopping() => None,
            _ = tokio::time::sleep_until(deadline) => {
                tracing::debug!("closing a websocket that sent no request in time");
                None
            }
        };
        let Some(Ok(frame)) = frame else {
            let _ = socket.send(Message::Close(None)).await;
            return;
        };
        let text = match frame {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            Message::Close(_) => return,
            _ => continue,
        };
        // A frame that is not a validly signed envelope ends the connection.
        let Ok(envelope) = serde_json::from_str::<Envelope>(&text) else {
            return;
        };
        let Ok(signer) = recover_signer(&envelope) else {
            return;
        };
        if let Err(f) = state.admit(&signer, &envelope).await {
            let _ = send_error(&mut socket, &f).await;
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        let outcome = match envelope.payloadtype.as_str() {
            "subscribeprocessmsg" => subscribe_process(&state, &signer, &envelope, &mut socket).await,
            "subscribechannelmsg" => channel::subscribe(&state, &signer, &envelope, &mut socket).await,
            other => {
                let f = RpcFailure::bad_request(format!("unsupported message type on /pubsub: {other}"));
                send_error(&mut socket, &f).await
            }
        };
        if outcome.is_err() {
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        deadline = Instant::now() + state.config.ws_idle_timeout;
    }
}

/// Serves one subscription; `Err` means the connection should close.
async fn subscribe_process(
    state: &AppState,
    signer: &str,
    envelope: &Envelope,
    socket: &mut WebSocket,
) -> Result<(), ()> {
    let msg: SubscribeProcess = match decode(envelope) {
        Ok(m) => m,
        Err(f) => return send_error(socket, &f).await,
    };
    // Subscribe before reading the current state so no change is missed.
    let mut changes = state.events.subscribe();
    let current = match state.store.get_process(&msg.processid).await {
        Ok(Some(p)) => p,
        _ => {
            let f = RpcFailure::forbidden(format!("Invalid process with Id {}", msg.processid));
            return send_error(socket, &f).await;
        }
    };
    if let Err(f) = state.require_member(signer, &current.spec.conditions.colonyname).await {
        return send_error(socket, &f).await;
    }
    if reached(current.state, msg.state) {
        return send_process(socket, &current).await;
    }
    let timeout = if msg.timeout > 0 {
        Duration::from_secs(msg.timeout as u64)
    } else {
        Duration::from_secs(30)
    };
    let deadline = Instant::now() + timeout.min(state.config.max_assign_timeout);
    loop {
        let recheck = tokio::select! {
            event = changes.recv() => match event {
                Ok(ev) => ev.processid == msg.processid && reached(ev.state, msg.state),
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return Err(()),
            },
            _ = tokio::time::sleep_until(deadline) => return Err(()),
            _ = state.events.stopping() => return Err(()),
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(()),
                // Other frames are ignored while a subscription is open.
                Some(Ok(_)) => false,
            },
        };
        if recheck
            && let Ok(Some(p)) = state.store.get_process(&msg.processid).await
            && reached(p.state, msg.state)
        {
            return send_process(socket, &p).await;
        }
    }
}
