//! Data-owner policies for petri's privacy executors, and the audit log of what they released.
//!
//! A data owner (a hospital running `petri executor he-data`, an MPC data node, and every later
//! privacy executor) holds its data behind a [`Policy`] read from a TOML file it alone controls.
//! The broker, the analyst and the compute nodes only *ask*; the data owner decides:
//!
//! ```toml
//! owner = "hospital-a"            # this data owner's name (its executor / data node name)
//! audit_log = "audit.jsonl"       # every release and refusal, hash-chained (relative paths are
//!                                 # read from the policy file's folder)
//! mask_key = "mask.key"           # secure sum: this owner's X25519 key for pairwise masks
//!
//! [peers]                          # secure sum: the other data owners' X25519 public keys
//! hospital-b = "3q2+7w..."
//!
//! [[dataset]]
//! name = "default"                 # the dataset (he-data serves one, named "default")
//! initiators = ["5e9b...c1"]       # who may ask: colony key ids, or orchestrator certificate names
//! functions = ["get_patient_data"] # job kinds (function names) for Paillier aggregates
//! analyst_keys = ["a41f...09"]     # pinned analyst Paillier keys (fingerprints)
//! programs = ["77c0...3e"]         # MPC: allowed program hashes
//! recipients = ["analyst"]         # MPC: allowed result nodes
//! min_cohort = 5                   # refuse answers over fewer rows
//! min_contributors = 3             # secure sum: at least this many data owners, masked
//! allow_unmasked = false           # secure sum: answer without pairwise masks (opt-in)
//! psi_peers = ["bank-b.example"]   # PSI: organisations (certificate names) to intersect with
//! psi_modes = ["cardinality"]      # PSI: "intersection", "cardinality" and/or "sum"
//! ```
//!
//! Everything is denied unless listed: an empty `initiators` list lets nobody ask, an empty
//! `analyst_keys` list releases no ciphertext, an empty `programs` list runs no MPC program. `"*"`
//! in `initiators` or `functions` is an explicit "anyone"/"any function"; there is no wildcard for
//! keys, programs or recipients, which are the point of the policy.
//!
//! Every decision, release or refusal, goes through [`Policy::decide`], which writes it to the
//! [`AuditLog`] before the caller may release anything; if the log cannot be written the request
//! is refused (fail closed).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use audit::{AuditEntry, AuditLog, Decision, verify_log};

/// Default smallest number of rows an answer may cover.
pub const DEFAULT_MIN_COHORT: usize = 5;
/// Default smallest number of data owners in a secure sum.
pub const DEFAULT_MIN_CONTRIBUTORS: usize = 3;

/// Errors loading a policy or writing its audit log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy file could not be read.
    #[error("cannot read policy {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The policy file is not a valid policy.
    #[error("policy {path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The audit log could not be opened, verified or written.
    #[error("audit log {path}: {reason}")]
    Audit {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// A request the policy refuses. The reason is meant for the requester and names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by the data owner's policy: {0}")]
pub struct Refusal(pub String);

/// The rules for one dataset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetPolicy {
    /// The dataset's name.
    pub name: String,
    /// Who may ask: colony key ids (64 hex characters) or certificate names; `"*"` for anyone.
    #[serde(default)]
    pub initiators: Vec<String>,
    /// Function names (job kinds) that may be answered with aggregates; `"*"` for any.
    #[serde(default)]
    pub functions: Vec<String>,
    /// MPC program hashes (SHA3-256, hex) whose sessions may receive shares of this dataset.
    #[serde(default)]
    pub programs: Vec<String>,
    /// Result nodes an MPC program may send outputs to.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Fingerprints of the analyst Paillier public keys ciphertexts may be made under.
    #[serde(default)]
    pub analyst_keys: Vec<String>,
    /// Smallest number of rows an answer may cover.
    #[serde(default = "default_min_cohort")]
    pub min_cohort: usize,
    /// Smallest number of data owners in a secure sum.
    #[serde(default = "default_min_contributors")]
    pub min_contributors: usize,
    /// Answer a secure sum without pairwise masks, so the analyst's key alone decrypts this
    /// owner's contribution. Off unless the owner says so.
    #[serde(default)]
    pub allow_unmasked: bool,
    /// Private set intersection: the peers (their certificate names) this dataset may be
    /// intersected with. No wildcard.
    #[serde(default)]
    pub psi_peers: Vec<String>,
    /// Private set intersection: the modes allowed (`intersection`, `cardinality`, `sum`).
    #[serde(default)]
    pub psi_modes: Vec<String>,
}

/// The private-set-intersection modes a policy may allow.
pub const PSI_MODES: [&str; 3] = ["intersection", "cardinality", "sum"];

fn default_min_cohort() -> usize {
    DEFAULT_MIN_COHORT
}

fn default_min_contributors() -> usize {
    DEFAULT_MIN_CONTRIBUTORS
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    owner: Option<String>,
    audit_log: PathBuf,
    #[serde(default)]
    mask_key: Option<PathBuf>,
    #[serde(default)]
    peers: BTreeMap<String, String>,
    #[serde(default, rename = "dataset")]
    datasets: Vec<DatasetPolicy>,
}

/// What is asked of a data owner.
#[derive(Debug, Clone, Copy)]
pub enum Ask<'a> {
    /// An encrypted aggregate (Paillier): sum, mean or count of a dataset.
    Aggregate {
        /// The function (job kind) asked for.
        function: &'a str,
        /// Fingerprint of the Paillier key the answer would be encrypted under.
        analyst_key: &'a str,
        /// Rows the answer covers.
        rows: usize,
        /// Data owners in the secure sum, or `None` for an answer without masks.
        contributors: Option<usize>,
    },
    /// A private set intersection of the dataset's keys with a peer's.
    Intersection {
        /// The mode: `intersection`, `cardinality` or `sum`.
        mode: &'a str,
        /// The peer organisation (its certificate name).
        peer: &'a str,
        /// This owner's rows in the intersection.
        rows: usize,
    },
    /// Shares of a dataset for an MPC session.
    Program {
        /// The program's hash.
        hash: &'a str,
        /// The result nodes its outputs go to.
        recipients: &'a [String],
        /// Elements of the smallest value of the dataset.
        rows: usize,
    },
}

/// One request: who asks, for which dataset, and what.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The dataset.
    pub dataset: &'a str,
    /// The identities of whoever asks (a key id, certificate names); one listed is enough.
    pub initiators: &'a [String],
    /// What is asked.
    pub ask: Ask<'a>,
    /// The process or session the answer belongs to, for the audit log.
    pub reference: &'a str,
    /// A secure-sum session this answer joins: answered once, for one `reference` only, so the
    /// same masks never cover two different answers.
    pub session: Option<&'a str>,
}

/// A data owner's policy and its audit log.
#[derive(Debug)]
pub struct Policy {
    path: PathBuf,
    owner: Option<String>,
    mask_key: Option<PathBuf>,
    peers: BTreeMap<String, String>,
    datasets: Vec<DatasetPolicy>,
    audit: AuditLog,
}

fn is_hex_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Policy {
    /// Reads and checks the policy at `path`, and opens (verifying) its audit log.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, base)
    }

    /// Parses a policy's text; relative paths in it are read from `base`.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Policy, PolicyError> {
        let invalid = |reason: String| PolicyError::Invalid {
            path: path.display().to_string(),
            reason,
        };
        let file: PolicyFile = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
        let mut seen = std::collections::HashSet::new();
        for d in &file.datasets {
            if d.name.is_empty() {
                return Err(invalid("a dataset has an empty name".into()));
            }
            if !seen.insert(d.name.as_str()) {
                return Err(invalid(format!("dataset {:?} is listed twice", d.name)));
            }
            for (what, list) in [("programs", &d.programs), ("analyst_keys", &d.analyst_keys)] {
                if let Some(bad) = list.iter().find(|h| !is_hex_id(h)) {
                    return Err(invalid(format!(
                        "dataset {:?}: {what} entry {bad:?} is not a 64-character hex hash",
                        d.name
                    )));
                }
            }
            if d.recipients.iter().any(|r| r == "*") || d.programs.iter().any(|r| r == "*") {
                return Err(invalid(format!(
                    "dataset {:?}: programs and recipients take no wildcard",
                    d.name
                )));
            }
            if d.psi_peers.iter().any(|p| p == "*") {
                return Err(invalid(format!("dataset {:?}: psi_peers take no wildcard", d.name)));
            }
            if let Some(bad) = d.psi_modes.iter().find(|m| !PSI_MODES.contains(&m.as_str())) {
                return Err(invalid(format!(
                    "dataset {:?}: psi mode {bad:?} is not one of {PSI_MODES:?}",
                    d.name
                )));
            }
            if d.min_cohort == 0 {
                return Err(invalid(format!("dataset {:?}: min_cohort must be at least 1", d.name)));
            }
            if d.min_contributors < 2 {
                return Err(invalid(format!(
                    "dataset {:?}: min_contributors must be at least 2 (with one contributor the sum is its value)",
                    d.name
                )));
            }
        }
        let resolve = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
        let audit = AuditLog::open(&resolve(&file.audit_log))?;
        Ok(Policy {
            path: path.to_path_buf(),
            owner: file.owner,
            mask_key: file.mask_key.as_deref().map(resolve),
            peers: file.peers,
            datasets: file.datasets,
            audit,
        })
    }

    /// Where the policy was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data owner's name, if the policy gives one.
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// The file with this owner's mask-agreement key, if the policy names one.
    pub fn mask_key(&self) -> Option<&Path> {
        self.mask_key.as_deref()
    }

    /// The pinned mask-agreement public key of another data owner.
    pub fn peer(&self, name: &str) -> Option<&str> {
        self.peers.get(name).map(String::as_str)
    }

    /// The names of the datasets the policy has rules for.
    pub fn dataset_names(&self) -> impl Iterator<Item = &str> {
        self.datasets.iter().map(|d| d.name.as_str())
    }

    /// The rules for `dataset`.
    pub fn dataset(&self, dataset: &str) -> Option<&DatasetPolicy> {
        self.datasets.iter().find(|d| d.name == dataset)
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Checks `request` against the rules without writing anything.
    pub fn check(&self, request: &Request<'_>) -> Result<&DatasetPolicy, Refusal> {
        if let Some(session) = request.session
            && let Some(earlier) = self.audit.session_reference(session)
            && earlier != request.reference
        {
            return Err(Refusal(format!(
                "secure-sum session {session:?} was already answered for {earlier}"
            )));
        }
        let d = self
            .dataset(request.dataset)
            .ok_or_else(|| Refusal(format!("no rules for dataset {:?}", request.dataset)))?;
        let anyone = d.initiators.iter().any(|i| i == "*");
        if !anyone && !request.initiators.iter().any(|who| d.initiators.contains(who)) {
            return Err(Refusal(format!(
                "{} may not ask for dataset {:?}",
                describe(request.initiators),
                d.name
            )));
        }
        match request.ask {
            Ask::Aggregate {
                function,
                analyst_key,
                rows,
                contributors,
            } => {
                if !d.functions.iter().any(|f| f == "*" || f == function) {
                    return Err(Refusal(format!(
                        "function {function:?} is not allowed on dataset {:?}",
                        d.name
                    )));
                }
                if !d.analyst_keys.iter().any(|k| k.eq_ignore_ascii_case(analyst_key)) {
                    return Err(Refusal(format!(
                        "the Paillier key {analyst_key} is not a pinned analyst key of dataset {:?}",
                        d.name
                    )));
                }
                match contributors {
                    None if !d.allow_unmasked => {
                        return Err(Refusal(format!(
                            "dataset {:?} answers only masked secure sums (name the contributors)",
                            d.name
                        )));
                    }
                    Some(n) if n < d.min_contributors => {
                        return Err(Refusal(format!(
                            "{n} contributors are fewer than the {} dataset {:?} requires",
                            d.min_contributors, d.name
                        )));
                    }
                    _ => {}
                }
                check_cohort(d, rows)?;
            }
            Ask::Intersection { mode, peer, rows } => {
                if !d.psi_modes.iter().any(|m| m == mode) {
                    return Err(Refusal(format!(
                        "private set intersection in mode {mode:?} is not allowed on dataset {:?}",
                        d.name
                    )));
                }
                if !d.psi_peers.iter().any(|p| p.eq_ignore_ascii_case(peer)) {
                    return Err(Refusal(format!(
                        "dataset {:?} may not be intersected with {peer:?}",
                        d.name
                    )));
                }
                check_cohort(d, rows)?;
            }
            Ask::Program { hash, recipients, rows } => {
                if !d.programs.iter().any(|p| p.eq_ignore_ascii_case(hash)) {
                    return Err(Refusal(format!(
                        "program {hash} is not allowed on dataset {:?}",
                        d.name
                    )));
                }
                if let Some(r) = recipients.iter().find(|r| !d.recipients.contains(r)) {
                    return Err(Refusal(format!(
                        "result node {r:?} may not receive outputs computed on dataset {:?}",
                        d.name
                    )));
                }
                check_cohort(d, rows)?;
            }
        }
        Ok(d)
    }

    /// Checks `request` and writes the decision to the audit log. `Ok` means the caller may
    /// release the answer; a refusal, or an audit log that cannot be written, is an `Err`.
    pub fn decide(&self, request: &Request<'_>) -> Result<(), Refusal> {
        let outcome = self.check(request).map(|_| ());
        let entry = AuditEntry::of(request, outcome.as_ref().err().map(|r| r.0.as_str()));
        if let Err(e) = self.audit.append(entry) {
            return Err(Refusal(format!("the audit log cannot be written ({e})")));
        }
        outcome
    }
}

fn check_cohort(d: &DatasetPolicy, rows: usize) -> Result<(), Refusal> {
    if rows < d.min_cohort {
        return Err(Refusal(format!(
            "the answer would cover {rows} rows, fewer than the {} dataset {:?} requires",
            d.min_cohort, d.name
        )));
    }
    Ok(())
}

fn describe(initiators: &[String]) -> String {
    match initiators {
        [] => "an anonymous caller".into(),
        [one] => format!("{one:?}"),
        many => format!("{many:?}"),
    }
}

#[cfg(test)]
mod tests;
