//! Replay protection for requests petri clients sign (see `petri_api::replay`).
//!
//! A message that carries replay fields is accepted only when its timestamp is within the
//! window around this server's clock, it names this server's id, and its nonce has not been
//! seen: nonces live in the store, so every server sharing a database sees them. Messages
//! without the fields (unmodified Colonies clients such as pycolonies) pass unless the server
//! requires replay protection.

use std::time::Duration;

use petri_api::{Envelope, Replay, Timestamp};

use crate::error::{RpcFailure, RpcResult};
use crate::{AppState, Config};

/// Checks the replay fields of a signed envelope and records its nonce.
pub(crate) async fn check(state: &AppState, envelope: &Envelope) -> RpcResult<()> {
    // A payload that is not base64 JSON is refused by its handler, with the protocol's message.
    let Ok(bytes) = envelope.payload_bytes() else {
        return absent(state);
    };
    let replay = match Replay::of_message(&bytes) {
        Ok(Some(replay)) => replay,
        Ok(None) => return absent(state),
        Err(petri_api::ApiError::Json(e)) if e.classify() == serde_json::error::Category::Data => {
            return Err(RpcFailure::bad_request(format!("invalid replay fields: {e}")));
        }
        Err(_) => return absent(state),
    };
    verify(&state.config, &replay, Timestamp::now())?;
    // Any server sharing the store may still accept the timestamp until window after it by its
    // own clock; keeping the nonce a window longer tolerates clocks that far apart.
    let expires = replay
        .timestamp
        .plus_secs(2 * state.config.replay_window.as_secs() as i64);
    if state.store.use_nonce(&replay.nonce, expires).await? {
        Ok(())
    } else {
        Err(RpcFailure::forbidden(format!(
            "replayed request refused: its nonce {} was already used",
            replay.nonce
        )))
    }
}

fn absent(state: &AppState) -> RpcResult<()> {
    if state.config.require_replay_protection {
        Err(RpcFailure::forbidden(
            "request refused: this server requires replay protection (a nonce, timestamp and server id \
             in the signed message, as petri clients send); Colonies clients such as pycolonies do not send it",
        ))
    } else {
        Ok(())
    }
}

/// The checks that need no store: form, server id and time window.
fn verify(config: &Config, replay: &Replay, now: Timestamp) -> RpcResult<()> {
    if !replay.nonce_is_well_formed() {
        return Err(RpcFailure::bad_request(format!(
            "invalid replay nonce {:?}, expected 32 lowercase hex characters",
            replay.nonce
        )));
    }
    if replay.serverid != config.server_id {
        return Err(RpcFailure::forbidden(format!(
            "request refused: it was signed for server {:?}, and this is server {}",
            replay.serverid, config.server_id
        )));
    }
    let (Some(signed), Some(now_ns)) = (replay.timestamp.nanos(), now.nanos()) else {
        return Err(RpcFailure::bad_request(
            "invalid replay fields: the timestamp is missing",
        ));
    };
    let window = config.replay_window;
    let off = Duration::from_nanos(signed.abs_diff(now_ns));
    if off > window {
        let when = if signed < now_ns { "ago" } else { "ahead" };
        return Err(RpcFailure::forbidden(format!(
            "request refused: it was signed at {} ({} s {when}), outside this server's replay window of ±{} s \
             (a replayed request, or the client's clock is wrong)",
            replay.timestamp,
            off.as_secs(),
            window.as_secs()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(config: &Config, replay: &Replay, now: Timestamp) -> Result<(), (u16, String)> {
        verify(config, replay, now).map_err(|f| (f.status, f.message))
    }

    #[test]
    fn window_form_and_server() {
        let config = Config::new("5".repeat(64));
        let now = Timestamp::now();
        let good = Replay {
            nonce: "0123456789abcdef0123456789abcdef".into(),
            timestamp: now,
            serverid: config.server_id.clone(),
        };
        assert_eq!(check(&config, &good, now), Ok(()));
        for secs in [-120, 120] {
            let edge = Replay {
                timestamp: now.plus_secs(secs),
                ..good.clone()
            };
            assert_eq!(check(&config, &edge, now), Ok(()), "{secs} s is inside the window");
        }
        for (secs, word) in [(-121, "ago"), (121, "ahead")] {
            let outside = Replay {
                timestamp: now.plus_secs(secs),
                ..good.clone()
            };
            let (status, message) = check(&config, &outside, now).unwrap_err();
            assert_eq!(status, 403);
            assert!(
                message.contains("outside this server's replay window of ±120 s"),
                "{message}"
            );
            assert!(message.contains(word), "{message}");
        }
        let elsewhere = Replay {
            serverid: "6".repeat(64),
            ..good.clone()
        };
        let (status, message) = check(&config, &elsewhere, now).unwrap_err();
        assert_eq!(status, 403);
        assert!(message.contains("signed for server"), "{message}");
        let short = Replay {
            nonce: "abc".into(),
            ..good.clone()
        };
        assert_eq!(check(&config, &short, now).unwrap_err().0, 400);
        let untimed = Replay {
            timestamp: Timestamp::UNSET,
            ..good
        };
        assert_eq!(check(&config, &untimed, now).unwrap_err().0, 400);
    }
}
