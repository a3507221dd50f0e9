//! The Colonies wire protocol as petri speaks it.
//!
//! Requests travel as a signed [`Envelope`] whose payload is the base64 JSON of
//! one message from [`msg`]; replies travel as an envelope with either the
//! reply object or an [`ErrorReply`]. The objects in [`model`] have exactly the
//! JSON shape Colonies clients (pycolonies 1.0.25 among them) expect.
//!
//! Deserialisation is lenient where the protocol requires it: unknown fields
//! are ignored and every field may be `null` or missing, meaning its default.

pub mod envelope;
pub mod model;
pub mod msg;
pub mod replay;
pub mod time;

pub use envelope::{Envelope, ErrorReply, ReplyEnvelope};
pub use replay::Replay;
pub use time::Timestamp;

/// Errors from encoding or decoding protocol data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The text is not valid JSON of the expected shape.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The payload is not valid base64.
    #[error("invalid base64 payload: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The message's `msgtype` does not equal the envelope's `payloadtype`.
    #[error("msg.MsgType does not match payloadType")]
    MsgTypeMismatch,
}

/// Declares a lenient protocol struct: every field defaults when missing and
/// reads `null` as its default, and unknown fields are ignored.
macro_rules! lenient {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $fty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct $name {
            $($(#[$fm])* #[serde(deserialize_with = "crate::nullable")] pub $field: $fty,)*
        }
    };
}
pub(crate) use lenient;

/// Reads `null` as the type's default value; used on every request field.
pub(crate) fn nullable<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}
