//! petri's built-in Paillier executors, for the secure-sum pattern of seed 000.
//!
//! - [`data_executor`]: a data owner (a hospital). It answers a function such as
//!   `get_patient_data` by reading a value, or a column of a CSV file, an SQLite query or a
//!   PostgreSQL query ([`DataSource`]), summing it locally, and returning only ciphertexts under
//!   the analyst's public key (the process's `kwargs["paillier-pubkey"]`). With
//!   `kwargs["aggregate"] = "mean"` it also returns the encrypted count. It answers only what its
//!   [`petri_policy::Policy`] allows (initiator, function, pinned analyst key, cohort size,
//!   contributors) and records every decision in the policy's audit log.
//! - Secure sums ([`mask`]): with `kwargs["contributors"]`, each data owner adds a pairwise mask
//!   agreed with the others, so the analyst's key decrypts the total and nothing less.
//! - [`aggregator_executor`]: the cloud. It answers a function such as `sum_patient_data` by
//!   summing the ciphertexts in its `input` (its parents' outputs in a workflow), per label
//!   (`sum`, `count`), and returns the re-randomised sums. It never holds a private key.
//!
//! Outputs use phe's `{"v": "<decimal>", "e": <exponent>}` shape, so phe-based executors (the
//! seed's Python hospital) and analysts mix freely with these. Each is written as a JSON *string*
//! in the process output: pycolonies 1.0.25 reads process inputs and outputs as lists of strings
//! and numbers only, so objects there would make it refuse every process downstream. Readers
//! accept objects and strings alike.

mod aggregate;
pub mod mask;
mod owner;
mod source;

pub use aggregate::{aggregate, aggregator_executor};
pub use owner::{DATASET, DataOwner, MIN_ANALYST_KEY_BITS, SecureSum, data_executor, key_fingerprint};
pub use source::{DataSource, encrypt_answer, read_values};

/// A ciphertext as one item of a process output: its `{"v", "e"[, "label"]}` JSON as a string.
pub(crate) fn output_item(w: &petri_paillier::wire::WireCiphertext) -> serde_json::Value {
    serde_json::Value::String(w.to_value().to_string())
}

/// The `kwargs` key that carries the analyst's public key (seed 000).
pub const PUBKEY_KWARG: &str = "paillier-pubkey";

/// Errors of these executors; each becomes the failed process's error message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeError {
    /// The process did not carry a usable public key.
    #[error("missing or invalid {PUBKEY_KWARG}: {0}")]
    PublicKey(String),
    /// The data source could not be read.
    #[error("cannot read the data source: {0}")]
    Source(String),
    /// Input ciphertexts or a value could not be used.
    #[error(transparent)]
    Paillier(#[from] petri_paillier::Error),
    /// Anything else about the request.
    #[error("{0}")]
    Request(String),
    /// The data owner's policy refused the request.
    #[error("refused by the data owner's policy: {0}")]
    Refused(String),
}

/// The public key of a process: `kwargs["paillier-pubkey"]`, else its first string argument.
pub fn process_public_key(spec: &petri_sdk::model::FunctionSpec) -> Result<petri_paillier::PublicKey, HeError> {
    let text = spec
        .kwargs
        .get(PUBKEY_KWARG)
        .and_then(|v| v.as_str())
        .or_else(|| spec.args.first().and_then(|v| v.as_str()))
        .ok_or_else(|| HeError::PublicKey("the function spec has no kwargs entry".into()))?;
    petri_paillier::PublicKey::parse(text).map_err(|e| HeError::PublicKey(e.to_string()))
}

#[cfg(test)]
mod tests;
