//! The three-party computation engine: replicated 2-out-of-3 secret sharing over Z_2^64 and Z_2,
//! semi-honest security with an honest majority, following ABY3 (Mohassel and Rindal, CCS 2018,
//! eprint 2018/403) and the replicated-sharing line of work it builds on (Araki, Furukawa, Lindell,
//! Nof and Ohara, CCS 2016).
//!
//! # Sharing
//! A value x is split as x = x0 + x1 + x2 (mod 2^64; XOR for bits) and party i holds the pair
//! (x_i, x_{i+1}). Any two parties can reconstruct x; one party alone sees uniformly random values.
//! [`AShare`] is a party's view of a vector of arithmetic shares and [`BShare`] of boolean shares
//! (packed 64 per word).
//!
//! # Randomness
//! At set-up party i draws a 128-bit key k_i and sends it to party i−1, so party i holds k_i and
//! k_{i+1} ([`Party::new`]). Pseudorandom values are AES-128 in counter mode keyed with these keys,
//! with a nonce that every party advances in step, so no protocol needs extra messages for its
//! randomness: a zero sharing is α_i = F(k_i) − F(k_{i+1}), and a value known to the two holders of
//! k_j is F(k_j).
//!
//! # Protocols (each documented in its module against its source)
//! - linear operations are local ([`AShare::add`], [`AShare::mul_public`], ...);
//! - multiplication and dot products: one round, one ring element per party per output
//!   ([`Party::mul`], [`Party::dot`]);
//! - conversions: [`Party::a2b`], [`Party::b2a`], [`Party::bit2a`];
//! - comparison: [`Party::ltz`], [`Party::lt`], [`Party::eq`];
//! - fixed point: [`fixed`] encoding and the exact truncation [`Party::trunc`];
//! - [`Party::shuffle`], and sorting, median and top-k built on shuffling and revealed comparisons
//!   ([`Party::sort`], [`Party::median`], [`Party::top_k`]).
//!
//! # IO
//! The engine does no IO itself. Parties exchange byte messages through a [`Transport`]; every
//! party runs the same sequence of operations (SPMD), and each ordered pair of parties is a FIFO
//! channel. [`transport::local`] wires three parties together in one process.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod arith;
mod bits;
mod compare;
mod convert;
pub mod fixed;
mod party;
mod prf;
mod share;
mod shuffle;
mod sort;
pub mod transport;

pub use party::{Party, Stats};
pub use share::{AShare, BShare, reconstruct, reconstruct_bits, split};
pub use transport::Transport;

/// Number of parties.
pub const PARTIES: usize = 3;

/// The longest message a party ever hands its [`Transport`], in bytes (one piece of a round,
/// 256 KiB). A transport may refuse anything longer from a peer without breaking an honest run.
pub const MAX_MESSAGE_BYTES: usize = party::PIECE * 8;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MpcError {
    /// The transport failed to deliver or receive a message.
    #[error("transport to party {peer}: {reason}")]
    Transport {
        /// The peer.
        peer: usize,
        /// What went wrong.
        reason: String,
    },
    /// A peer did not send in time.
    #[error("party {peer} sent nothing for {secs} s")]
    Timeout {
        /// The peer.
        peer: usize,
        /// Seconds waited.
        secs: u64,
    },
    /// A peer's message does not fit the protocol (wrong length, for example).
    #[error("protocol violation by party {peer}: {reason}")]
    Protocol {
        /// The peer.
        peer: usize,
        /// What was wrong.
        reason: String,
    },
    /// The caller's arguments are not acceptable.
    #[error("{0}")]
    Invalid(String),
}

/// Result type of the engine.
pub type Result<T, E = MpcError> = std::result::Result<T, E>;

pub(crate) fn next(i: usize) -> usize {
    (i + 1) % PARTIES
}

pub(crate) fn prev(i: usize) -> usize {
    (i + PARTIES - 1) % PARTIES
}

#[cfg(test)]
mod tests;
