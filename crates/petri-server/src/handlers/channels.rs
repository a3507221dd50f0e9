//! Channels: per-process append-only message logs between a process's
//! submitter and its executor (protocol reference, section 4.11).
//!
//! A channel exists while its process is open and names it in
//! `spec.channels`; it is gone (404) once the process closes, and the
//! leader's sweep deletes its messages a little later. Messages are stored,
//! so every server sharing the database sees the same channel.

use petri_api::Timestamp;
use petri_api::model::{MsgEntry, Process, state};
use petri_api::msg::{ChannelAppend, ChannelRead};
use petri_store::ext::ChannelLimits;

use super::{check_name, empty, json};
use crate::AppState;
use crate::error::{RpcFailure, RpcResult};

/// Largest payload of one message (as Colonies: 10 MiB).
pub(crate) const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// How much one channel holds.
pub(crate) const LIMITS: ChannelLimits = ChannelLimits {
    max_entries: 10_000,
    max_bytes: 32 * 1024 * 1024,
};

/// The process of a channel and a check that `signer` may use the channel:
/// a colony member who submitted the process or is running it.
pub(crate) async fn open_channel(
    state: &AppState,
    signer: &str,
    processid: &str,
    name: &str,
    verb: &str,
) -> RpcResult<Process> {
    check_name("Channel name", name)?;
    let p = state
        .store
        .get_process(processid)
        .await?
        .ok_or_else(|| RpcFailure::not_found("Process not found"))?;
    state.require_member(signer, &p.spec.conditions.colonyname).await?;
    let closed = p.state == state::SUCCESS || p.state == state::FAILED;
    if closed || !p.spec.channels.iter().any(|c| c == name) {
        return Err(RpcFailure::not_found("Channel not found"));
    }
    let allowed = (!p.initiatorid.is_empty() && p.initiatorid == signer)
        || (!p.assignedexecutorid.is_empty() && p.assignedexecutorid == signer);
    if !allowed {
        return Err(RpcFailure::forbidden(format!("Not authorized to {verb} channel")));
    }
    Ok(p)
}

pub(crate) async fn append(state: &AppState, signer: &str, msg: ChannelAppend) -> RpcResult<Vec<u8>> {
    let p = open_channel(state, signer, &msg.processid, &msg.name, "write to").await?;
    if msg.payload.0.len() > MAX_MESSAGE_BYTES {
        return Err(RpcFailure::bad_request(format!(
            "Failed to append to channel, the message is {} bytes, more than the limit of {MAX_MESSAGE_BYTES}",
            msg.payload.0.len()
        )));
    }
    let kind = match msg.payloadtype.as_str() {
        "" | "data" => "data",
        "end" => "end",
        "error" => "error",
        other => {
            return Err(RpcFailure::bad_request(format!(
                "Failed to append to channel, invalid payload type {other:?} (expected data, end or error)"
            )));
        }
    };
    if msg.error.len() > 64 * 1024 {
        return Err(RpcFailure::bad_request(
            "Failed to append to channel, the error text is too long",
        ));
    }
    let entry = MsgEntry {
        sequence: msg.sequence,
        inreplyto: msg.inreplyto,
        timestamp: Timestamp::now(),
        senderid: signer.to_owned(),
        payload: msg.payload,
        kind: kind.to_owned(),
        error: msg.error,
    };
    state
        .store
        .append_channel(&p.processid, &msg.name, entry, LIMITS)
        .await?;
    state.ext.channel_appended(&p.processid, &msg.name);
    empty()
}

pub(crate) async fn read(state: &AppState, signer: &str, msg: ChannelRead) -> RpcResult<Vec<u8>> {
    let p = open_channel(state, signer, &msg.processid, &msg.name, "read from").await?;
    if msg.afterseq < 0 || msg.limit < 0 {
        return Err(RpcFailure::bad_request(
            "Failed to read from channel, afterseq and limit must not be negative",
        ));
    }
    let entries: Vec<MsgEntry> = state
        .store
        .read_channel(&p.processid, &msg.name, msg.afterseq as usize, msg.limit as usize)
        .await?
        .into_iter()
        .map(|e| e.entry)
        .collect();
    json(&entries)
}
