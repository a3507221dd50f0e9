//! `subscribechannelmsg` on `/pubsub`: the messages of a channel from index
//! `afterseq` in one frame, then one frame per new message (arrival order),
//! several subscribers per channel. At the timeout (30 s when 0), or when the
//! channel's process has closed and its last messages are delivered, a frame
//! with an empty list ends the subscription; the connection stays open.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use petri_api::model::{MsgEntry, state};
use petri_api::msg::SubscribeChannel;
use petri_api::{Envelope, ReplyEnvelope};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::{send_error, send_reply};
use crate::AppState;
use crate::error::RpcFailure;
use crate::handlers::channels::open_channel;
use crate::handlers::decode;

/// How often a subscriber re-reads the store without a wake-up, in case one was lost.
const POLL: Duration = Duration::from_secs(1);

async fn send_entries(socket: &mut WebSocket, entries: &[MsgEntry]) -> Result<(), ()> {
    let reply = ReplyEnvelope::ok(<SubscribeChannel as petri_api::msg::Message>::MSGTYPE, &entries).map_err(drop)?;
    send_reply(socket, &reply).await
}

/// Serves one channel subscription; `Err` means the connection should close.
pub(crate) async fn subscribe(
    state: &AppState,
    signer: &str,
    envelope: &Envelope,
    socket: &mut WebSocket,
) -> Result<(), ()> {
    let msg: SubscribeChannel = match decode(envelope) {
        Ok(m) => m,
        Err(f) => return send_error(socket, &f).await,
    };
    let p = match open_channel(state, signer, &msg.processid, &msg.name, "read from").await {
        Ok(p) => p,
        Err(f) => return send_error(socket, &f).await,
    };
    if msg.afterseq < 0 {
        return send_error(socket, &RpcFailure::bad_request("afterseq must not be negative")).await;
    }
    // Listen before reading, so nothing appended in between is missed.
    let mut events = state.ext.subscribe();
    let store = &state.store;
    let Ok(mut cursor) = store.channel_last_arrival(&p.processid, &msg.name).await else {
        return Err(());
    };
    let Ok(existing) = store
        .read_channel(&p.processid, &msg.name, msg.afterseq as usize, 0)
        .await
    else {
        return Err(());
    };
    // Later arrivals are sent one by one below.
    let first: Vec<MsgEntry> = existing
        .into_iter()
        .filter(|e| e.id <= cursor)
        .map(|e| e.entry)
        .collect();
    if !first.is_empty() {
        send_entries(socket, &first).await?;
    }
    let timeout = if msg.timeout > 0 {
        Duration::from_secs(msg.timeout as u64)
    } else {
        Duration::from_secs(30)
    };
    let deadline = Instant::now() + timeout.min(state.config.max_assign_timeout);
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let polled = tokio::select! {
            event = events.recv() => match event {
                Ok((pid, name)) if pid == p.processid && name == msg.name => false,
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => false,
                Err(RecvError::Closed) => return Err(()),
            },
            _ = poll.tick() => true,
            _ = tokio::time::sleep_until(deadline) => return send_entries(socket, &[]).await,
            _ = state.events.stopping() => return Err(()),
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(()),
                // Other frames are ignored while a subscription is open.
                Some(Ok(_)) => continue,
            },
        };
        let Ok(arrived) = store.channel_arrivals(&p.processid, &msg.name, cursor).await else {
            return Err(());
        };
        for e in &arrived {
            send_entries(socket, std::slice::from_ref(&e.entry)).await?;
            cursor = e.id;
        }
        if polled && arrived.is_empty() {
            // Once the process has closed and nothing more came, the channel is done.
            let closed = match store.get_process(&p.processid).await {
                Ok(Some(now)) => now.state == state::SUCCESS || now.state == state::FAILED,
                Ok(None) => true,
                Err(_) => return Err(()),
            };
            if closed {
                return send_entries(socket, &[]).await;
            }
        }
    }
}
