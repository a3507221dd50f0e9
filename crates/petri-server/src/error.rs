use petri_core::{CoreError, ErrorKind};
use petri_store::StoreError;

/// A refused or failed request: the status code and message sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct RpcFailure {
    /// HTTP status code (also the `status` in the error payload).
    pub status: u16,
    /// Readable reason.
    pub message: String,
}

impl RpcFailure {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }
}

/// The one table from error kinds to status codes.
fn status_of(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::BadRequest | ErrorKind::Conflict => 400,
        ErrorKind::Forbidden => 403,
        ErrorKind::NotFound => 404,
        _ => 500,
    }
}

impl From<CoreError> for RpcFailure {
    fn from(e: CoreError) -> Self {
        Self::new(status_of(e.kind), e.message)
    }
}

impl From<StoreError> for RpcFailure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rule(e) => e.into(),
            StoreError::NotFound(m) => Self::not_found(m),
            StoreError::Conflict(m) => Self::bad_request(m),
            other => {
                // Database details stay in the server's log; clients get a generic reason.
                tracing::error!(error = %other, "store failure");
                Self::new(500, "internal server error, see the server log")
            }
        }
    }
}

pub(crate) type RpcResult<T> = Result<T, RpcFailure>;
