//! Request and reply envelopes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{ApiError, nullable};

/// A signed request: the base64 JSON message and a signature over that base64 text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Envelope {
    /// The message type, equal to the message's `msgtype`.
    #[serde(default, deserialize_with = "nullable")]
    pub payloadtype: String,
    /// Standard base64 (with padding) of the UTF-8 JSON message.
    #[serde(default, deserialize_with = "nullable")]
    pub payload: String,
    /// 130 hex characters: `r || s || v` over SHA3-256 of `payload`.
    #[serde(default, deserialize_with = "nullable")]
    pub signature: String,
}

#[derive(Deserialize)]
struct MsgTypeOnly {
    #[serde(default, deserialize_with = "nullable")]
    msgtype: String,
}

impl Envelope {
    /// Builds an unsigned envelope for `msg` (a JSON object that carries `msgtype`).
    pub fn unsigned<T: Serialize>(msgtype: &str, msg: &T) -> Result<Self, ApiError> {
        let json = serde_json::to_vec(msg)?;
        Ok(Self {
            payloadtype: msgtype.to_owned(),
            payload: STANDARD.encode(json),
            signature: String::new(),
        })
    }

    /// The decoded payload bytes.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, ApiError> {
        Ok(STANDARD.decode(self.payload.as_bytes())?)
    }

    /// Decodes the payload as `T`, checking that its `msgtype` equals `payloadtype`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let bytes = self.payload_bytes()?;
        let head: MsgTypeOnly = serde_json::from_slice(&bytes)?;
        if head.msgtype != self.payloadtype {
            return Err(ApiError::MsgTypeMismatch);
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// A reply: the base64 JSON of the reply object, or of an [`ErrorReply`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplyEnvelope {
    /// The request's message type, or `"error"`.
    #[serde(default, deserialize_with = "nullable")]
    pub payloadtype: String,
    /// Base64 of the reply JSON (always valid JSON, `{}` when there is nothing to say).
    #[serde(default, deserialize_with = "nullable")]
    pub payload: String,
    /// Whether `payload` holds an [`ErrorReply`].
    #[serde(default, deserialize_with = "nullable")]
    pub error: bool,
}

/// The body of an error reply; `status` equals the HTTP status code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// HTTP status code.
    #[serde(default, deserialize_with = "nullable")]
    pub status: u16,
    /// A readable reason.
    #[serde(default, deserialize_with = "nullable")]
    pub message: String,
}

impl ReplyEnvelope {
    /// A success reply carrying `body`.
    pub fn ok<T: Serialize>(msgtype: &str, body: &T) -> Result<Self, ApiError> {
        Ok(Self {
            payloadtype: msgtype.to_owned(),
            payload: STANDARD.encode(serde_json::to_vec(body)?),
            error: false,
        })
    }

    /// A success reply from already-encoded JSON.
    pub fn ok_json(msgtype: &str, json: &[u8]) -> Self {
        Self {
            payloadtype: msgtype.to_owned(),
            payload: STANDARD.encode(json),
            error: false,
        }
    }

    /// An error reply.
    pub fn error(status: u16, message: &str) -> Self {
        let body = ErrorReply {
            status,
            message: message.to_owned(),
        };
        let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        Self {
            payloadtype: "error".into(),
            payload: STANDARD.encode(json),
            error: true,
        }
    }

    /// Decodes the reply: `Ok(T)` on success, `Err(ErrorReply)` on an error reply.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<Result<T, ErrorReply>, ApiError> {
        let bytes = STANDARD.decode(self.payload.as_bytes())?;
        if self.error {
            Ok(Err(serde_json::from_slice(&bytes)?))
        } else {
            Ok(Ok(serde_json::from_slice(&bytes)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_reference_envelope() {
        let env: Envelope = serde_json::from_str(
            r#"{"payloadtype":"getcolonymsg","payload":"eyJtc2d0eXBlIjogImdldGNvbG9ueW1zZyIsICJjb2xvbnluYW1lIjogImRldiJ9","signature":"00"}"#,
        )
        .unwrap();
        let msg: crate::msg::ColonyName = env.decode().unwrap();
        assert_eq!(msg.colonyname, "dev");
    }

    #[test]
    fn rejects_msgtype_mismatch() {
        let env = Envelope::unsigned("getcolonymsg", &serde_json::json!({"msgtype": "other"})).unwrap();
        assert!(matches!(
            env.decode::<crate::msg::ColonyName>(),
            Err(ApiError::MsgTypeMismatch)
        ));
    }

    #[test]
    fn error_reply_matches_reference() {
        let reply = ReplyEnvelope::error(403, "Access denied, not server owner");
        let body: ErrorReply = reply.decode::<serde_json::Value>().unwrap().unwrap_err();
        assert_eq!(body.status, 403);
        assert_eq!(body.message, "Access denied, not server owner");
        assert_eq!(reply.payloadtype, "error");
    }
}
