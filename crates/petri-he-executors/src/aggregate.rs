//! The aggregator: sums the ciphertexts it receives, per label, without any private key.

use petri_executor::{Job, Runtime};
use petri_paillier::PublicKey;
use petri_paillier::wire::collect_ciphertexts;
use petri_sdk::{Env, PrivateKey};
use serde_json::Value;

use crate::{HeError, process_public_key};

/// Sums ciphertexts found in `inputs` per label (unlabelled values count as `sum`), in the order
/// `sum`, `count`, then other labels alphabetically. Each result is re-randomised. When no input
/// is labelled, the output is the single unlabelled sum (the seed's shape).
///
/// For a masked secure sum of `contributors` data owners, every label must have exactly that
/// many ciphertexts, all at one exponent: rescaling a masked encoding would scale its mask, and a
/// missing contributor leaves the others' masks in the sum.
pub fn aggregate(pk: &PublicKey, inputs: &[Value], contributors: Option<usize>) -> Result<Vec<Value>, HeError> {
    let wires = collect_ciphertexts(&Value::Array(inputs.to_vec()))?;
    if wires.is_empty() {
        return Err(HeError::Request(
            "no ciphertexts in the input (are the parents' outputs empty?)".into(),
        ));
    }
    let labelled = wires.iter().any(|w| w.label.is_some());
    let mut groups: std::collections::BTreeMap<String, Vec<petri_paillier::EncryptedNumber>> = Default::default();
    for w in &wires {
        let label = w.label.clone().unwrap_or_else(|| "sum".into());
        groups.entry(label).or_default().push(pk.from_wire(w)?);
    }
    if let Some(expected) = contributors {
        for (label, items) in &groups {
            if items.len() != expected {
                return Err(HeError::Request(format!(
                    "the secure sum has {expected} contributors but {} {label} ciphertexts arrived",
                    items.len()
                )));
            }
            if items.iter().any(|c| c.exponent() != items[0].exponent()) {
                return Err(HeError::Request(format!(
                    "the {label} ciphertexts of the secure sum are at different exponents; set kwargs exponent"
                )));
            }
        }
    }
    let mut order: Vec<String> = groups.keys().cloned().collect();
    order.sort_by_key(|l| match l.as_str() {
        "sum" => (0, l.clone()),
        "count" => (1, l.clone()),
        _ => (2, l.clone()),
    });
    let mut rng = rand::rng();
    let mut out = Vec::new();
    for label in order {
        let mut total = pk.sum(&groups[&label])?;
        let mut w = total.to_wire(&mut rng);
        if labelled {
            w.label = Some(label);
        }
        out.push(crate::output_item(&w));
    }
    Ok(out)
}

/// An aggregator executor named `name` of type `kind` that answers `funcname` by summing its input.
pub fn aggregator_executor(env: &Env, name: &str, kind: &str, key: PrivateKey, funcname: &str) -> Runtime {
    Runtime::new(env, name, kind, key).function(funcname, |job: Job| async move {
        let result = async {
            let pk = process_public_key(&job.process.spec)?;
            // The parents' outputs; without parents, ciphertexts may come as arguments.
            let mut inputs = job.process.input.clone().unwrap_or_default();
            if inputs.is_empty() {
                inputs = job
                    .process
                    .spec
                    .args
                    .iter()
                    .filter(|v| !looks_like_key(v))
                    .cloned()
                    .collect();
            }
            let contributors = match job.process.spec.kwargs.get("contributors") {
                None => None,
                Some(Value::Array(list)) => Some(list.len()),
                Some(_) => return Err(HeError::Request("kwargs contributors must be a list".into())),
            };
            tokio::task::spawn_blocking(move || aggregate(&pk, &inputs, contributors))
                .await
                .map_err(|e| HeError::Request(e.to_string()))?
        }
        .await;
        match result {
            Ok(out) => {
                tracing::info!(process = %job.process.processid, sums = out.len(), "aggregated ciphertexts");
                Ok(out)
            }
            Err(e) => Err(e.to_string()),
        }
    })
}

/// A public key passed as the first argument (not an input ciphertext).
fn looks_like_key(v: &Value) -> bool {
    v.as_str().is_some_and(|s| PublicKey::parse(s).is_ok())
}
