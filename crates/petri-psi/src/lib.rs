//! Private set intersection between two organisations.
//!
//! Two parties, each at its own site, intersect a key column of their data without showing each
//! other the keys outside the intersection:
//!
//! - [`ecdh`]: ECDH-PSI on ristretto255 (hash to the group, mask with a fresh secret scalar,
//!   re-mask the peer's points, compare), batched and parallel (rayon); eight points at a time
//!   with AVX-512 IFMA where the CPU has it (the crate's only `unsafe` code), curve25519-dalek
//!   elsewhere, with the same bytes on the wire;
//! - [`kkrt`]: KKRT16 PSI (OT extension with a 512-bit pseudorandom code, cuckoo hashing, base
//!   OTs from [`ot`]), for intersection and cardinality; far less CPU than ECDH for large sets,
//!   chosen per session with [`Protocol`];
//! - [`rr22`]: RR22 PSI (silent VOLE over GF(2^128) with an expand-accumulate code, random-band
//!   OKVS), for intersection and cardinality: a little more CPU than KKRT16, about a quarter of its bytes;
//! - [`protocol`]: the session, in three modes: the intersection (revealed to the receiver or to
//!   both), its cardinality only, and intersection-sum (Google's private join and compute: the
//!   payload owner's values travel under its own Paillier key, the other party sums the matched
//!   ciphertexts and returns the re-randomised total);
//! - [`transport`]: mutual TLS under a petri root with the peer's name checked, length-prefixed
//!   frames with a size limit, a timeout on every read, streaming in chunks;
//! - [`input`]: the keys, from a CSV column, an SQLite query or a PostgreSQL query, trimmed and
//!   NFC-normalised, duplicates merged;
//! - [`executor`]: the `psi` executor, which answers `psi` processes (parameters only in kwargs)
//!   as its owner's [`petri_policy::Policy`] allows, audits each run, and outputs only counts and
//!   timings.
//!
//! Security is against semi-honest parties, as every privacy workflow of petri.

// `unsafe` is denied everywhere but in `ecdh/ifma.rs`, whose AVX-512 IFMA intrinsics need it,
// and the `pclmulqdq` call of `rr22/gf128.rs`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod ecdh;
pub mod executor;
pub mod input;
pub mod kkrt;
pub mod ot;
pub mod protocol;
pub mod rr22;
pub mod transport;

use std::time::Duration;

pub use input::{Input, Source};
pub use protocol::{Mode, Outcome, Params, Protocol, Reveal, Role};
pub use transport::Channel;

/// Errors of a PSI party.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PsiError {
    /// The input could not be read or breaks a rule.
    #[error("input: {0}")]
    Input(String),
    /// The request's parameters are not usable.
    #[error("{0}")]
    Request(String),
    /// The network failed or the peer went away.
    #[error("transport: {0}")]
    Transport(String),
    /// The peer was silent for too long.
    #[error("timeout: {0}")]
    Timeout(String),
    /// TLS: the peer's certificate was refused, or ours could not be used.
    #[error("tls: {0}")]
    Tls(String),
    /// The two parties do not agree on the session.
    #[error("the peer's session does not match: {0}")]
    Mismatch(String),
    /// The peer broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The peer stopped the session and said why.
    #[error("the peer stopped: {0}")]
    Aborted(String),
    /// Paillier (intersection-sum).
    #[error(transparent)]
    Paillier(#[from] petri_paillier::Error),
    /// The data owner's policy refused.
    #[error("{0}")]
    Refused(String),
}

/// How a party reaches its peer: it listens, or it dials.
#[derive(Debug, Clone)]
pub enum Link {
    /// Listen on this address for the peer.
    Listen(String),
    /// Dial the peer at this `host:port`.
    Dial(String),
}

/// Connects to the peer with mutual TLS (requiring its certificate to name `peer_name`), runs the
/// session, and closes the connection.
pub async fn run_tls(
    params: &Params,
    input: &Input,
    link: &Link,
    peer_name: &str,
    tls: &petri_pki::tls::TlsMaterial,
    timeout: Duration,
) -> Result<Outcome, PsiError> {
    let mut channel = match link {
        Link::Dial(addr) => Channel::new(transport::connect(addr, peer_name, tls, timeout).await?, timeout),
        Link::Listen(addr) => {
            let listener = transport::listen(addr).await?;
            let (stream, from) = transport::accept(&listener, peer_name, tls, timeout).await?;
            tracing::info!(%from, peer = peer_name, "PSI peer connected");
            Channel::new(stream, timeout)
        }
    };
    run_on(params, input, &mut channel).await
}

/// Runs the session on an open channel and flushes what is left to send.
pub async fn run_on(params: &Params, input: &Input, channel: &mut Channel) -> Result<Outcome, PsiError> {
    let mut outcome = protocol::run(params, input, channel).await?;
    outcome.bytes_sent = channel.finish().await?;
    Ok(outcome)
}
