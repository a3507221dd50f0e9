//! An async client for petri, and for any server that speaks the Colonies
//! protocol.
//!
//! Every call signs its message with the private key it is given, so one
//! [`Client`] can act for several identities (server owner, colony owner,
//! executor). [`Env`] reads the `COLONIES_*` variables the Colonies SDKs use.
//!
//! ```no_run
//! # async fn demo() -> Result<(), petri_sdk::SdkError> {
//! use petri_sdk::{Client, Env};
//! let env = Env::from_env()?;
//! let client = env.client();
//! let key = env.prvkey()?;
//! for p in client.get_processes(&env.colony, 0, 10, &key).await? {
//!     println!("{} {}", p.processid, p.spec.funcname);
//! }
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod client;
mod env;
mod ext;

pub use client::Client;
pub use env::Env;
pub use ext::ChannelSubscription;
pub use petri_api::{Timestamp, model, msg};
pub use petri_crypto::PrivateKey;

/// Errors from a call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the server: {0}")]
    Transport(String),
    /// The server refused or failed the request.
    #[error("{message} (status {status})")]
    Server {
        /// HTTP status code; 403 refused, 404 not found, 400 bad request.
        status: u16,
        /// The server's reason.
        message: String,
    },
    /// The reply was not what the protocol promises.
    #[error("unexpected reply: {0}")]
    Decode(String),
    /// A setting (environment variable or key) is missing or invalid.
    #[error("{0}")]
    Config(String),
}

impl SdkError {
    /// The server's status code, when the server answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            SdkError::Server { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Result of a call.
pub type SdkResult<T> = Result<T, SdkError>;
