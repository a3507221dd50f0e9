//! The built-in trainer: logistic regression and a one-hidden-layer MLP for binary labels, on CSV
//! files, with minibatch SGD. Enough for zero-dependency federations; anything bigger runs as a
//! user's command (see the plan's `trainer`).
//!
//! Parameters are one flat `Vec<f64>`: logistic regression `[w (d), b]`; the MLP
//! `[W1 (h×d, row-major), b1 (h), w2 (h), b2]` with tanh hidden units.

use std::path::Path;

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::FlError;

/// Rows of features and 0/1 labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// Feature rows, all of one length.
    pub x: Vec<Vec<f64>>,
    /// Labels, 0 or 1.
    pub y: Vec<f64>,
}

impl Dataset {
    /// Reads a CSV with a header row; `label` names the label column (values 0/1), every other
    /// column is a numeric feature.
    pub fn load_csv(path: &Path, label: &str) -> Result<Dataset, FlError> {
        let err = |e: String| FlError::Data(format!("{}: {e}", path.display()));
        let mut reader = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
        let headers = reader.headers().map_err(|e| err(e.to_string()))?.clone();
        let label_at = headers
            .iter()
            .position(|h| h.trim() == label)
            .ok_or_else(|| err(format!("no column {label:?}")))?;
        let mut data = Dataset::default();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| err(e.to_string()))?;
            let mut row = Vec::with_capacity(record.len().saturating_sub(1));
            for (j, cell) in record.iter().enumerate() {
                let v: f64 = cell
                    .trim()
                    .parse()
                    .map_err(|_| err(format!("row {} column {} is not a number: {cell:?}", i + 2, j + 1)))?;
                if !v.is_finite() {
                    return Err(err(format!("row {} column {} is not finite", i + 2, j + 1)));
                }
                if j == label_at {
                    if v != 0.0 && v != 1.0 {
                        return Err(err(format!("row {}: label {v} is not 0 or 1", i + 2)));
                    }
                    data.y.push(v);
                } else {
                    row.push(v);
                }
            }
            data.x.push(row);
        }
        if data.x.is_empty() {
            return Err(err("no rows".into()));
        }
        Ok(data)
    }

    /// Features per row.
    pub fn dim(&self) -> usize {
        self.x.first().map_or(0, Vec::len)
    }

    /// Per-feature sums and sums of squares, and the row count: what a federation adds up
    /// (securely) to standardise every site alike.
    pub fn moments(&self) -> (Vec<f64>, Vec<f64>, usize) {
        let d = self.dim();
        let mut s = vec![0.0; d];
        let mut s2 = vec![0.0; d];
        for row in &self.x {
            for ((a, b), v) in s.iter_mut().zip(s2.iter_mut()).zip(row) {
                *a += v;
                *b += v * v;
            }
        }
        (s, s2, self.x.len())
    }

    /// Standardises every feature with the given means and standard deviations.
    pub fn standardize(&mut self, mean: &[f64], std: &[f64]) {
        for row in &mut self.x {
            for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
                *v = (*v - m) / if *s > 1e-12 { *s } else { 1.0 };
            }
        }
    }
}

/// A site's contribution to the statistics round: per-feature means, squared means and variances
/// of its rows (3 × features values; weighted by its row count when averaged).
pub fn local_moments(data: &Dataset) -> Vec<f64> {
    let (s, s2, n) = data.moments();
    let n = n.max(1) as f64;
    let mean: Vec<f64> = s.iter().map(|v| v / n).collect();
    let var = s2.iter().zip(&mean).map(|(q, m)| (q / n - m * m).max(0.0));
    mean.iter()
        .copied()
        .chain(mean.iter().map(|m| m * m))
        .chain(var)
        .collect()
}

/// The federation's means and standard deviations from the row-weighted average of the sites'
/// [`local_moments`]: var = E[var_site] + E[mean_site²] − mean².
pub fn federated_mean_std(avg: &[f64], features: usize) -> Result<(Vec<f64>, Vec<f64>), FlError> {
    if avg.len() != 3 * features {
        return Err(FlError::Data(format!(
            "the statistics have {} values, {features} features need {}",
            avg.len(),
            3 * features
        )));
    }
    let mean = avg[..features].to_vec();
    let std = (0..features)
        .map(|i| {
            (avg[2 * features + i] + avg[features + i] - mean[i] * mean[i])
                .max(0.0)
                .sqrt()
        })
        .collect();
    Ok((mean, std))
}

/// Means and standard deviations from summed moments.
pub fn mean_std(sum: &[f64], sum_sq: &[f64], n: f64) -> (Vec<f64>, Vec<f64>) {
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sum_sq
        .iter()
        .zip(&mean)
        .map(|(s2, m)| (s2 / n - m * m).max(0.0).sqrt())
        .collect();
    (mean, std)
}

/// A model the built-in trainer knows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Model {
    /// Logistic regression.
    Logreg,
    /// One hidden layer of `hidden` tanh units.
    Mlp {
        /// Hidden units.
        hidden: usize,
    },
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Model {
    /// Number of parameters for `dim` features.
    pub fn params(&self, dim: usize) -> usize {
        match self {
            Model::Logreg => dim + 1,
            Model::Mlp { hidden } => hidden * dim + 2 * hidden + 1,
        }
    }

    /// Initial parameters (small random weights for the MLP, zeros for logistic regression).
    pub fn init<R: Rng + ?Sized>(&self, dim: usize, rng: &mut R) -> Vec<f64> {
        match self {
            Model::Logreg => vec![0.0; dim + 1],
            Model::Mlp { hidden } => {
                let scale = 1.0 / (dim as f64).sqrt();
                let mut w: Vec<f64> = (0..hidden * dim).map(|_| rng.random_range(-scale..scale)).collect();
                w.extend(std::iter::repeat_n(0.0, *hidden));
                let out = 1.0 / (*hidden as f64).sqrt();
                w.extend((0..*hidden).map(|_| rng.random_range(-out..out)));
                w.push(0.0);
                w
            }
        }
    }

    fn check(&self, w: &[f64], dim: usize) -> Result<(), FlError> {
        if w.len() != self.params(dim) {
            return Err(FlError::Data(format!(
                "the model has {} parameters, {} features need {}",
                w.len(),
                dim,
                self.params(dim)
            )));
        }
        Ok(())
    }

    /// P(y = 1 | x).
    fn predict(&self, w: &[f64], x: &[f64], hidden_out: &mut Vec<f64>) -> f64 {
        let d = x.len();
        match self {
            Model::Logreg => sigmoid(w[..d].iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + w[d]),
            Model::Mlp { hidden } => {
                let h = *hidden;
                hidden_out.clear();
                for k in 0..h {
                    let row = &w[k * d..(k + 1) * d];
                    let z: f64 = row.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + w[h * d + k];
                    hidden_out.push(z.tanh());
                }
                let w2 = &w[h * d + h..h * d + 2 * h];
                sigmoid(w2.iter().zip(hidden_out.iter()).map(|(a, b)| a * b).sum::<f64>() + w[h * d + 2 * h])
            }
        }
    }

    /// Trains `w` in place: `epochs` passes of minibatch SGD over `data`.
    pub fn train<R: Rng + ?Sized>(
        &self,
        w: &mut [f64],
        data: &Dataset,
        epochs: usize,
        lr: f64,
        batch: usize,
        rng: &mut R,
    ) -> Result<(), FlError> {
        let d = data.dim();
        self.check(w, d)?;
        let batch = batch.max(1);
        let mut order: Vec<usize> = (0..data.x.len()).collect();
        let mut grad = vec![0.0; w.len()];
        let mut hidden = Vec::new();
        for _ in 0..epochs {
            order.shuffle(rng);
            for chunk in order.chunks(batch) {
                grad.iter_mut().for_each(|g| *g = 0.0);
                for &i in chunk {
                    let x = &data.x[i];
                    let p = self.predict(w, x, &mut hidden);
                    // d(BCE)/dz at the output unit.
                    let e = p - data.y[i];
                    match self {
                        Model::Logreg => {
                            for (g, v) in grad[..d].iter_mut().zip(x) {
                                *g += e * v;
                            }
                            grad[d] += e;
                        }
                        Model::Mlp { hidden: h } => {
                            let h = *h;
                            for k in 0..h {
                                let w2k = w[h * d + h + k];
                                grad[h * d + h + k] += e * hidden[k];
                                let back = e * w2k * (1.0 - hidden[k] * hidden[k]);
                                for (g, v) in grad[k * d..(k + 1) * d].iter_mut().zip(x) {
                                    *g += back * v;
                                }
                                grad[h * d + k] += back;
                            }
                            grad[h * d + 2 * h] += e;
                        }
                    }
                }
                let step = lr / chunk.len() as f64;
                for (wv, g) in w.iter_mut().zip(&grad) {
                    *wv -= step * g;
                }
            }
        }
        Ok(())
    }

    /// Mean binary cross-entropy and accuracy of `w` on `data`.
    pub fn evaluate(&self, w: &[f64], data: &Dataset) -> Result<(f64, f64), FlError> {
        self.check(w, data.dim())?;
        let mut hidden = Vec::new();
        let (mut loss, mut right) = (0.0, 0usize);
        for (x, y) in data.x.iter().zip(&data.y) {
            let p = self.predict(w, x, &mut hidden).clamp(1e-12, 1.0 - 1e-12);
            loss -= y * p.ln() + (1.0 - y) * (1.0 - p).ln();
            if (p >= 0.5) == (*y == 1.0) {
                right += 1;
            }
        }
        let n = data.x.len().max(1) as f64;
        Ok((loss / n, right as f64 / n))
    }
}
