use std::fmt;

/// What kind of failure an operation met; the server maps each to one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed or conflicts with the current state.
    BadRequest,
    /// The signer may not do this.
    Forbidden,
    /// The object does not exist.
    NotFound,
    /// The object already exists.
    Conflict,
    /// Something the server did not expect.
    Internal,
}

/// A rule the request broke, with a readable reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CoreError {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// Why, in words a user can act on.
    pub message: String,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl CoreError {
    /// A bad-request error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::BadRequest,
            message: message.into(),
        }
    }
    /// A forbidden error.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Forbidden,
            message: message.into(),
        }
    }
    /// A not-found error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::NotFound,
            message: message.into(),
        }
    }
    /// A conflict error.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Conflict,
            message: message.into(),
        }
    }
    /// An internal error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Internal,
            message: message.into(),
        }
    }
}
