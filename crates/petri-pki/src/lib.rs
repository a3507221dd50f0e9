//! petri's own public-key infrastructure, so that a deployment needs no other tool.
//!
//! The hierarchy has three levels:
//!
//! - a **root CA** (`petri pki init`), kept offline by whoever runs the federation;
//! - one **organisation CA** per site (`petri pki org`), signed by the root and *name-constrained*
//!   (RFC 5280 §4.2.1.10) to the DNS suffixes and IP ranges the organisation owns, so a hospital's
//!   CA cannot mint a certificate for another hospital's nodes;
//! - **node certificates** (`petri pki node`, or `petri pki sign` for a CSR whose key never left
//!   the node) for server *and* client authentication, with DNS and IP subject alternative names.
//!
//! Revocation is by certificate revocation list: each CA keeps an `index.json` ledger of what it
//! issued and writes `crl.pem` when a certificate is revoked. [`tls`] builds rustls (ring
//! provider) configurations for mutual TLS that verify the peer's chain up to the root, the CRLs,
//! and the peer's name. Names are always verified; there is no way to override the expected name.
//!
//! Private keys are written with mode 0600 and never printed.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ca;
mod files;
pub mod tls;

pub use ca::{
    CaKind, CertRecord, IssuedNode, NodeRequest, OrgRequest, Pki, RevocationOutcome, ca_subject_names, parse_cidr,
};
pub use files::{read_pem_certs, write_private};

/// Errors of the PKI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The reason.
        source: std::io::Error,
    },
    /// Certificate generation or parsing failed.
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// A name, address or argument is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with what exists (for example a CA that is already there).
    #[error("{0}")]
    Exists(String),
    /// Something that should exist does not.
    #[error("{0}")]
    NotFound(String),
    /// A TLS configuration could not be built.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// The ledger is damaged.
    #[error("ledger {path}: {reason}")]
    Ledger {
        /// The ledger file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
