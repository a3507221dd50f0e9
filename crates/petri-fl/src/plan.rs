//! The plan of a federation: rounds, collaborators, model, training and aggregation settings.
//!
//! ```toml
//! name = "breast-cancer"
//! rounds = 10
//! collaborators = ["site-a.example", "site-b.example", "site-c.example"]  # certificate names
//! min_collaborators = 3           # fewer in a round (after dropouts) fails the round
//! aggregation = "fedavg"          # updates averaged by the collaborators' row counts
//! seed = 1                        # initial weights
//! features = 30                   # feature columns of every collaborator's CSV
//!
//! [model]
//! kind = "logreg"                 # or "mlp" with hidden = 16
//!
//! [training]
//! label = "label"                 # the CSV's label column (0/1)
//! epochs = 1                      # local passes per round
//! learning_rate = 0.1
//! batch_size = 16
//! standardize = "federated"       # or "local" (each site its own statistics) or "none"
//! command = ["python3", "train.py"]   # optional: train with this instead of the built-in trainer
//!
//! [secure_aggregation]
//! enabled = true
//! threshold = 2                   # shares that recover a dropped collaborator (default: 2/3, at least 2)
//! degree = 4                      # SecAgg+ neighbours (default: everyone, as SecAgg)
//! frac_bits = 24
//! clip = 8.0
//! max_weight = 100000             # most samples one collaborator may weigh in with
//!
//! [timeouts]
//! stage_secs = 60                 # how long the aggregator waits for each step of a round
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::FlError;
use crate::secagg::Config;
use crate::train::Model;

/// A federation's plan.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The federation's name.
    pub name: String,
    /// Rounds to run.
    pub rounds: u32,
    /// Collaborators by certificate name.
    pub collaborators: Vec<String>,
    /// Fewest collaborators a round may aggregate.
    #[serde(default)]
    pub min_collaborators: Option<usize>,
    /// How updates are combined.
    #[serde(default)]
    pub aggregation: Aggregation,
    /// Seed of the initial weights.
    #[serde(default)]
    pub seed: u64,
    /// Feature columns of every collaborator's data.
    pub features: usize,
    /// The model.
    pub model: Model,
    /// Local training.
    pub training: Training,
    /// Secure aggregation.
    #[serde(default)]
    pub secure_aggregation: SecureAggregation,
    /// Time limits.
    #[serde(default)]
    pub timeouts: Timeouts,
}

/// Local training settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// Label column.
    #[serde(default = "default_label")]
    pub label: String,
    /// Local epochs per round.
    #[serde(default = "one")]
    pub epochs: usize,
    /// SGD learning rate.
    pub learning_rate: f64,
    /// Minibatch size.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Train with this command instead of the built-in trainer.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// How features are standardised.
    #[serde(default)]
    pub standardize: Standardize,
}

/// How updates are combined into the next global model.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// Federated averaging weighted by each collaborator's training rows (secure aggregation
    /// adds `[w, w·x]` and divides).
    #[default]
    FedAvg,
}

/// How collaborators standardise their features before training.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Standardize {
    /// With the federation's means and deviations, summed securely in a round 0 before training
    /// (each site sends its rows' means, squared means and variances, masked like an update).
    #[default]
    Federated,
    /// Each site with its own statistics.
    Local,
    /// Not at all.
    None,
}

/// Secure aggregation settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecureAggregation {
    /// On or off.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Shares needed to recover a dropped collaborator.
    #[serde(default)]
    pub threshold: Option<usize>,
    /// Neighbours per collaborator (SecAgg+); none for everyone.
    #[serde(default)]
    pub degree: Option<usize>,
    /// Fixed-point fractional bits.
    #[serde(default = "default_frac")]
    pub frac_bits: u32,
    /// Coordinates are clipped to ±clip.
    #[serde(default = "default_clip")]
    pub clip: f64,
    /// Largest weight one collaborator may give.
    #[serde(default = "default_max_weight")]
    pub max_weight: u32,
}

impl Default for SecureAggregation {
    fn default() -> Self {
        SecureAggregation {
            enabled: true,
            threshold: None,
            degree: None,
            frac_bits: default_frac(),
            clip: default_clip(),
            max_weight: default_max_weight(),
        }
    }
}

/// Time limits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Seconds the aggregator waits for each step of a round.
    #[serde(default = "default_stage")]
    pub stage_secs: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            stage_secs: default_stage(),
        }
    }
}

fn default_label() -> String {
    "label".into()
}
fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn default_batch() -> usize {
    16
}
fn default_frac() -> u32 {
    24
}
fn default_clip() -> f64 {
    8.0
}
fn default_max_weight() -> u32 {
    100_000
}
fn default_stage() -> u64 {
    60
}

impl Plan {
    /// Reads and checks a plan file.
    pub fn load(path: &Path) -> Result<Plan, FlError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| FlError::Config(format!("cannot read {}: {e}", path.display())))?;
        Plan::parse(&text).map_err(|e| FlError::Config(format!("{}: {e}", path.display())))
    }

    /// Parses and checks a plan.
    pub fn parse(text: &str) -> Result<Plan, FlError> {
        let plan: Plan = toml::from_str(text).map_err(|e| FlError::Config(e.message().to_string()))?;
        plan.check()?;
        Ok(plan)
    }

    fn check(&self) -> Result<(), FlError> {
        let bad = |m: String| Err(FlError::Config(m));
        if self.features == 0 || self.features > 1_000_000 {
            return bad(format!("features must be in 1..=1000000, not {}", self.features));
        }
        if self.rounds == 0 {
            return bad("rounds must be at least 1".into());
        }
        let n = self.collaborators.len();
        let mut names = self.collaborators.clone();
        names.sort();
        names.dedup();
        if names.len() != n || names.iter().any(String::is_empty) {
            return bad("collaborators must be distinct, non-empty names".into());
        }
        if n < 2 {
            return bad("a federation needs at least 2 collaborators".into());
        }
        let min = self.min_collaborators();
        if min > n {
            return bad(format!("min_collaborators {min} is more than the {n} collaborators"));
        }
        if !(self.training.learning_rate.is_finite() && self.training.learning_rate > 0.0) {
            return bad("learning_rate must be a positive number".into());
        }
        if self.training.command.as_ref().is_some_and(Vec::is_empty) {
            return bad("training.command must name a program".into());
        }
        if self.secure_aggregation.enabled {
            let t = self.threshold();
            if t < 2 || t > min {
                return bad(format!(
                    "threshold {t} must be at least 2 and at most min_collaborators ({min}), or a round with \
                     min_collaborators survivors could not be unmasked"
                ));
            }
            if let Some(d) = self.secure_aggregation.degree
                && d + 1 < t
            {
                return bad(format!("degree {d} gives fewer share holders than the threshold {t}"));
            }
            self.secagg(0, self.model.params(self.features)).check(n)?;
        }
        Ok(())
    }

    /// Fewest collaborators a round may aggregate (default: all).
    pub fn min_collaborators(&self) -> usize {
        self.min_collaborators.unwrap_or(self.collaborators.len())
    }

    /// Shares that recover a dropped collaborator.
    pub fn threshold(&self) -> usize {
        self.secure_aggregation
            .threshold
            .unwrap_or_else(|| (2 * self.collaborators.len()).div_ceil(3).max(2))
    }

    /// The secure-aggregation parameters of the statistics round (round 0): per-feature means,
    /// squared means and variances up to ±10^6, with as many fractional bits as the ring allows
    /// for this many collaborators.
    pub fn stats_secagg(&self, round: u64) -> Config {
        let clip = 1e6;
        let n = self.collaborators.len() as f64;
        let w = f64::from(self.secure_aggregation.max_weight);
        let room = (2f64.powi(61) / (n * w * clip)).log2().floor();
        Config {
            clip,
            frac_bits: room.clamp(0.0, 30.0) as u32,
            ..self.secagg(round, 3 * self.features)
        }
    }

    /// The secure-aggregation parameters of round `round` for models of `params` parameters.
    pub fn secagg(&self, round: u64, params: usize) -> Config {
        let s = &self.secure_aggregation;
        Config {
            round,
            threshold: self.threshold(),
            degree: s.degree,
            frac_bits: s.frac_bits,
            clip: s.clip,
            max_weight: s.max_weight,
            len: params + 1,
        }
    }
}
