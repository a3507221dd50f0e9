//! Federated learning for petri.
//!
//! - [`secagg`]: SecAgg/SecAgg+-style secure aggregation. Collaborators mask their weighted
//!   updates so that the aggregator learns only their sum; a collaborator that drops out after
//!   sharing its keys is recovered from its neighbours' Shamir shares ([`shamir`]).
//! - [`fedavg`]: plain federated averaging, the reference the secure aggregate must equal.
//! - [`train`]: the built-in trainer (logistic regression, a small MLP) on CSV files.
//! - [`plan`]: a federation's plan file; [`round`]: one round at the aggregator and at a
//!   collaborator, over any message [`round::Link`]; [`net`]: those links over mutual TLS.
//! - [`executor`]: rounds as petri processes (`fl_aggregate`, `fl_train`) and the federation's
//!   workflow; [`weights`]: the safetensors files a user's training command reads and writes;
//!   [`local`]: a whole federation on one machine over loopback mTLS, for examples and benchmarks.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod executor;
pub mod local;
pub mod net;
pub mod plan;
pub mod round;
pub mod secagg;
pub mod shamir;
pub mod train;
pub mod weights;

/// Errors of federated learning.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlError {
    /// A plan or round configuration that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A message out of order, malformed, or refused.
    #[error("secure aggregation: {0}")]
    Protocol(String),
    /// Training data that cannot be used.
    #[error("data: {0}")]
    Data(String),
    /// The network failed, or a peer sent something unusable.
    #[error("network: {0}")]
    Net(String),
    /// A TLS handshake or certificate was refused.
    #[error("tls: {0}")]
    Tls(String),
    /// The data owner's policy refused the round.
    #[error("refused by the data owner's policy: {0}")]
    Refused(String),
}

/// Federated averaging: the average of `updates` weighted by their weights.
pub fn fedavg(updates: &[(Vec<f64>, u32)]) -> Option<Vec<f64>> {
    let len = updates.first()?.0.len();
    let total: f64 = updates.iter().map(|(_, w)| f64::from(*w)).sum();
    if total <= 0.0 || updates.iter().any(|(u, _)| u.len() != len) {
        return None;
    }
    let mut avg = vec![0.0; len];
    for (u, w) in updates {
        for (a, v) in avg.iter_mut().zip(u) {
            *a += f64::from(*w) * v / total;
        }
    }
    Some(avg)
}

#[cfg(test)]
mod tests;
