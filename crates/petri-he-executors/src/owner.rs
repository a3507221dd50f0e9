//! The data owner's executor: answers only what its policy allows, and only with ciphertexts.

use std::sync::Arc;

use petri_executor::{Job, Runtime};
use petri_paillier::{Number, PublicKey, WireCiphertext};
use petri_policy::{Ask, Policy, Request};
use petri_sdk::model::Process;
use petri_sdk::{Env, PrivateKey};
use serde_json::Value;
use sha3::{Digest, Sha3_256};

use crate::mask::{self, MaskKey};
use crate::source::{DataSource, encrypt_answer, local_sum, read_values};
use crate::{HeError, process_public_key};

/// The dataset name a Paillier data owner's policy gives its rules under.
pub const DATASET: &str = "default";

/// Smallest analyst key a data owner encrypts under.
pub const MIN_ANALYST_KEY_BITS: usize = 2048;

/// The fingerprint a policy pins an analyst key by: SHA3-256 of n's big-endian bytes, in hex.
pub fn key_fingerprint(pk: &PublicKey) -> String {
    hex::encode(Sha3_256::digest(pk.n().to_bytes_be()))
}

/// How a process asks for a masked secure sum (its `kwargs`).
#[derive(Debug, Clone, PartialEq)]
pub struct SecureSum {
    /// The session: `kwargs["session"]`, else the workflow's id.
    pub session: String,
    /// Every data owner in the sum, by name (`kwargs["contributors"]`).
    pub contributors: Vec<String>,
    /// The exponent every contributor encodes at (`kwargs["exponent"]`, default 0).
    pub exponent: Option<i64>,
}

impl SecureSum {
    /// The secure sum a process asks for, or `None` for a plain (unmasked) answer.
    pub fn of(process: &Process) -> Result<Option<SecureSum>, HeError> {
        let kwargs = &process.spec.kwargs;
        let Some(list) = kwargs.get("contributors") else {
            return Ok(None);
        };
        let contributors = list
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| HeError::Request("kwargs contributors must be a list of data owner names".into()))?;
        let session = match kwargs.get("session") {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => s.clone(),
            Some(_) => {
                return Err(HeError::Request(
                    "kwargs session must be a string of 1 to 256 characters".into(),
                ));
            }
            None if !process.processgraphid.is_empty() => process.processgraphid.clone(),
            None => {
                return Err(HeError::Request(
                    "a secure sum needs a session: run it in a workflow or set kwargs session".into(),
                ));
            }
        };
        let exponent = match kwargs.get("exponent") {
            None => None,
            Some(v) => Some(
                v.as_i64()
                    .filter(|e| (-64..=64).contains(e))
                    .ok_or_else(|| HeError::Request("kwargs exponent must be an integer in -64..=64".into()))?,
            ),
        };
        Ok(Some(SecureSum {
            session,
            contributors,
            exponent,
        }))
    }
}

/// A data owner: the function it answers, where its values come from, and its policy.
pub struct DataOwner {
    name: String,
    source: DataSource,
    policy: Arc<Policy>,
    mask_key: Option<MaskKey>,
}

impl std::fmt::Debug for DataOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataOwner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn refused(r: petri_policy::Refusal) -> HeError {
    HeError::Refused(r.0)
}

impl DataOwner {
    /// A data owner named `name` (its name among secure-sum contributors: the policy's `owner`,
    /// else this name), reading `source` under `policy`. The mask key the policy names is loaded
    /// now, so a missing key is an error at start-up rather than at the first request.
    pub fn new(name: &str, source: DataSource, policy: Arc<Policy>) -> Result<DataOwner, HeError> {
        let mask_key = policy.mask_key().map(MaskKey::load).transpose()?;
        Ok(DataOwner {
            name: policy.owner().unwrap_or(name).to_string(),
            source,
            policy,
            mask_key,
        })
    }

    /// The answer to `process`, if the policy allows it; every decision is audited.
    pub async fn answer(&self, process: &Process) -> Result<Vec<Value>, HeError> {
        let spec = &process.spec;
        let pk = process_public_key(spec)?;
        if pk.bits() < MIN_ANALYST_KEY_BITS {
            return Err(HeError::PublicKey(format!(
                "the key has {} bits; data owners encrypt under {MIN_ANALYST_KEY_BITS} bits or more",
                pk.bits()
            )));
        }
        let fingerprint = key_fingerprint(&pk);
        let aggregate = match spec.kwargs.get("aggregate") {
            None => "sum".to_string(),
            Some(Value::String(a)) if ["sum", "mean", "count"].contains(&a.as_str()) => a.clone(),
            Some(other) => {
                return Err(HeError::Request(format!(
                    "unknown aggregate {other}: use \"sum\", \"mean\" or \"count\""
                )));
            }
        };
        let secure = SecureSum::of(process)?;
        let contributors = secure
            .as_ref()
            .map(|s| mask::contributors(&s.contributors, &self.name))
            .transpose()?;
        let values = read_values(&self.source).await?;
        let initiators = [process.initiatorid.clone()];
        let request = Request {
            dataset: DATASET,
            initiators: &initiators,
            ask: Ask::Aggregate {
                function: &spec.funcname,
                analyst_key: &fingerprint,
                rows: values.len(),
                contributors: contributors.as_ref().map(Vec::len),
            },
            reference: &process.processid,
            session: secure.as_ref().map(|s| s.session.as_str()),
        };
        if self.policy.check(&request).is_err() {
            // Writes the refusal to the audit log and returns it.
            self.policy.decide(&request).map_err(refused)?;
        }
        let answer = match (&secure, contributors) {
            (None, _) | (_, None) => {
                let pk = pk.clone();
                tokio::task::spawn_blocking(move || encrypt_answer(&pk, &values, &aggregate))
                    .await
                    .map_err(|e| HeError::Request(e.to_string()))??
            }
            (Some(secure), Some(contributors)) => {
                self.masked_answer(&pk, &values, &aggregate, secure, &contributors)?
            }
        };
        self.policy.decide(&request).map_err(refused)?;
        Ok(answer)
    }

    fn masked_answer(
        &self,
        pk: &PublicKey,
        values: &[Number],
        aggregate: &str,
        secure: &SecureSum,
        contributors: &[String],
    ) -> Result<Vec<Value>, HeError> {
        let key = self.mask_key.as_ref().ok_or_else(|| {
            HeError::Request("this data owner's policy names no mask_key, so it cannot join a secure sum".into())
        })?;
        let sum = local_sum(values);
        if matches!(sum, Number::Float(_)) && secure.exponent.is_none() {
            return Err(HeError::Request(
                "the data has fractions: set kwargs exponent (such as -8) so every contributor encodes alike".into(),
            ));
        }
        let exponent = secure.exponent.unwrap_or(0);
        let session = mask::Session {
            id: &secure.session,
            me: &self.name,
            contributors,
        };
        let peer = |name: &str| self.policy.peer(name).and_then(|k| mask::parse_public(k).ok());
        let mut rng = rand::rng();
        let mut item = |value: &Number, label: &str, labelled: bool| -> Result<Value, HeError> {
            let m = mask::mask(key, peer, &session, label, pk.n())?;
            let mut c = mask::encrypt_masked(pk, value, exponent, &m, &mut rng)?;
            let mut w: WireCiphertext = c.to_wire(&mut rng);
            w.label = labelled.then(|| label.to_string());
            Ok(crate::output_item(&w))
        };
        let count = Number::from(values.len() as i64);
        match aggregate {
            "sum" => Ok(vec![item(&sum, "sum", false)?]),
            "mean" => Ok(vec![item(&sum, "sum", true)?, item(&count, "count", true)?]),
            _ => Ok(vec![item(&count, "count", true)?]),
        }
    }
}

/// A data-owner executor named `name` of type `kind` that answers `funcname` for `owner`.
pub fn data_executor(env: &Env, name: &str, kind: &str, key: PrivateKey, funcname: &str, owner: DataOwner) -> Runtime {
    let owner = Arc::new(owner);
    Runtime::new(env, name, kind, key).function(funcname, move |job: Job| {
        let owner = owner.clone();
        async move {
            match owner.answer(&job.process).await {
                Ok(out) => {
                    tracing::info!(process = %job.process.processid, "answered with ciphertexts");
                    Ok(out)
                }
                Err(e) => {
                    tracing::warn!(process = %job.process.processid, error = %e, "request not answered");
                    Err(e.to_string())
                }
            }
        }
    })
}
