//! Replay protection: what a petri client adds inside every message it signs.
//!
//! The Colonies protocol signs only the message, which carries no nonce or
//! time, so a captured envelope is valid for ever and on every server where its
//! signer is known. petri clients therefore add one more key to the message
//! JSON before signing it:
//!
//! ```json
//! {"msgtype": "assignprocessmsg", "colonyname": "dev", ...,
//!  "replay": {"nonce": "<32 hex>", "timestamp": "2026-01-01T12:00:00.123456Z", "serverid": "<64 hex>"}}
//! ```
//!
//! The nonce is 128 random bits, the timestamp the client's clock, and the
//! server id the one the server announces in its `versionmsg` reply (the
//! server owner's id). A petri server refuses a message whose timestamp lies
//! outside its replay window, whose server id is not its own, or whose nonce it
//! has already seen within the window. Servers that do not know the key
//! (Colonies servers) ignore it, as they ignore every unknown field.
//!
//! Messages without the key (pycolonies 1.0.25, the Go SDK and any other
//! unmodified Colonies client) carry no such protection: a captured envelope of
//! theirs can be sent again at any time, to any server that knows its signer.
//! A petri server accepts them unless it was started with
//! `--require-replay-protection`.

use serde::Deserialize;

use crate::{Timestamp, nullable};

/// The key of the replay fields in a message's JSON object.
pub const REPLAY_KEY: &str = "replay";

/// Number of hex characters in a nonce (128 bits).
pub const NONCE_HEX_LEN: usize = 32;

crate::lenient!(
    /// The replay fields of a signed message.
    Replay {
        /// 128 random bits as 32 lowercase hex characters, never used twice.
        nonce: String,
        /// When the client signed the message.
        timestamp: Timestamp,
        /// The id of the server the message is meant for (its `versionmsg` `serverid`).
        serverid: String,
    }
);

#[derive(Deserialize)]
struct ReplayOnly {
    #[serde(default, deserialize_with = "nullable")]
    replay: Option<Replay>,
}

impl Replay {
    /// Fresh replay fields for a message to the server `serverid`, signed now.
    pub fn new(nonce: String, serverid: &str) -> Self {
        // The wire carries microseconds; keeping no more makes the fields round-trip exactly.
        let now = Timestamp::now().nanos().unwrap_or(0);
        Self {
            nonce,
            timestamp: Timestamp::from_nanos(now - now % 1000),
            serverid: serverid.to_owned(),
        }
    }

    /// Adds these fields to `message` (a JSON object; anything else is left as it is).
    pub fn attach(&self, message: &mut serde_json::Value) {
        if let serde_json::Value::Object(map) = message {
            map.insert(
                REPLAY_KEY.into(),
                serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
            );
        }
    }

    /// The replay fields of a message's JSON, `None` when it has none.
    pub fn of_message(json: &[u8]) -> Result<Option<Replay>, crate::ApiError> {
        Ok(serde_json::from_slice::<ReplayOnly>(json)?.replay)
    }

    /// Whether the nonce has the expected form (32 lowercase hex characters).
    pub fn nonce_is_well_formed(&self) -> bool {
        self.nonce.len() == NONCE_HEX_LEN
            && self
                .nonce
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_inside_a_message() {
        let replay = Replay::new("0123456789abcdef0123456789abcdef".into(), &"a".repeat(64));
        let mut msg = serde_json::json!({"msgtype": "getcolonymsg", "colonyname": "dev"});
        replay.attach(&mut msg);
        let bytes = serde_json::to_vec(&msg).unwrap();
        assert_eq!(Replay::of_message(&bytes).unwrap(), Some(replay.clone()));
        assert!(replay.nonce_is_well_formed());
        // The message itself still decodes; the extra key is ignored.
        let decoded: crate::msg::GetColony = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(decoded.colonyname, "dev");
    }

    #[test]
    fn absent_or_null_means_none() {
        assert_eq!(Replay::of_message(br#"{"msgtype":"x"}"#).unwrap(), None);
        assert_eq!(Replay::of_message(br#"{"msgtype":"x","replay":null}"#).unwrap(), None);
        assert!(Replay::of_message(br#"{"replay":5}"#).is_err());
    }

    #[test]
    fn nonce_form() {
        let mut r = Replay::default();
        for (nonce, ok) in [
            ("0123456789abcdef0123456789abcdef", true),
            ("0123456789ABCDEF0123456789abcdef", false),
            ("0123456789abcdef", false),
            ("", false),
        ] {
            r.nonce = nonce.into();
            assert_eq!(r.nonce_is_well_formed(), ok, "{nonce}");
        }
    }
}
