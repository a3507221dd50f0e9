//! The `psi` executor: one organisation's side of a private set intersection, run as a petri
//! process.
//!
//! A workflow has two `psi` processes, one for each organisation's executor. Their `kwargs` carry
//! parameters only:
//!
//! | key | meaning |
//! |---|---|
//! | `session` | the session id (both processes alike; default: the workflow id) |
//! | `role` | `receiver` or `sender` |
//! | `mode` | `intersection`, `cardinality` or `sum` |
//! | `protocol` | `ecdh` (default), `kkrt` or `rr22` (intersection and cardinality; both processes alike) |
//! | `reveal` | `receiver` (default) or `both` |
//! | `dataset` | the dataset name in the owner's policy (default `default`) |
//! | `peer` | the peer organisation's certificate name |
//! | `connect` | `host:port` to dial the peer at; absent: listen on the executor's address |
//!
//! The data, the TLS key and the policy are the executor's own configuration; the request names
//! a dataset, never a file or a query. The owner's [`Policy`] decides (initiator, dataset, mode,
//! peer, cohort) and audits before anything is sent. The process output carries sizes, timings
//! and bytes, and the count only in cardinality mode; matching rows and sums are written to the
//! executor's output folder, never to the broker.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use petri_executor::{Job, Runtime};
use petri_pki::tls::TlsMaterial;
use petri_policy::{Ask, Policy, Request};
use petri_sdk::model::Process;
use petri_sdk::{Env, PrivateKey};
use serde_json::{Value, json};

use crate::{Link, Mode, Params, Protocol, PsiError, Reveal, Role, Source};

/// The function name `psi` processes ask for.
pub const FUNCTION: &str = "psi";

/// One organisation's PSI executor: its data, TLS identity, policy and where it listens.
pub struct PsiOwner {
    /// The dataset name the policy's rules are under, and its source.
    pub dataset: (String, Source),
    /// This node's mutual-TLS material (from `petri pki node`).
    pub tls: TlsMaterial,
    /// The owner's policy and audit log.
    pub policy: Arc<Policy>,
    /// Where to listen when a process does not say `connect`.
    pub listen: String,
    /// Where matching rows and sums are written (`<session>.<role>.csv`).
    pub output_dir: PathBuf,
    /// How long to wait for the peer at every step.
    pub timeout: Duration,
}

impl std::fmt::Debug for PsiOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PsiOwner")
            .field("dataset", &self.dataset.0)
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

fn kwarg<'a>(process: &'a Process, key: &str) -> Result<Option<&'a str>, PsiError> {
    match process.spec.kwargs.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 256 => Ok(Some(s.as_str())),
        Some(_) => Err(PsiError::Request(format!(
            "kwargs {key} must be a string of at most 256 characters"
        ))),
    }
}

/// A request's parameters, read from a process.
#[derive(Debug, Clone)]
pub struct PsiRequest {
    /// Session parameters.
    pub params: Params,
    /// The dataset asked for.
    pub dataset: String,
    /// The peer's certificate name.
    pub peer: String,
    /// Where to dial, if this side dials.
    pub connect: Option<String>,
}

impl PsiRequest {
    /// Reads `kwargs`.
    pub fn of(process: &Process) -> Result<PsiRequest, PsiError> {
        let session = match kwarg(process, "session")? {
            Some(s) if !s.is_empty() => s.to_string(),
            _ if !process.processgraphid.is_empty() => process.processgraphid.clone(),
            _ => {
                return Err(PsiError::Request(
                    "a psi process needs kwargs session, or to run in a workflow".into(),
                ));
            }
        };
        let need =
            |k: &str| kwarg(process, k)?.ok_or_else(|| PsiError::Request(format!("a psi process needs kwargs {k}")));
        let role: Role = need("role")?.parse()?;
        let mode: Mode = need("mode")?.parse()?;
        let reveal: Reveal = kwarg(process, "reveal")?.unwrap_or("receiver").parse()?;
        let protocol: Protocol = kwarg(process, "protocol")?.unwrap_or("ecdh").parse()?;
        if protocol != Protocol::Ecdh && mode == Mode::Sum {
            return Err(PsiError::Request(format!(
                "mode sum runs on protocol ecdh only, not {}",
                protocol.as_str()
            )));
        }
        let mut params = Params::new(&session, mode, role, reveal);
        params.protocol = protocol;
        Ok(PsiRequest {
            params,
            dataset: kwarg(process, "dataset")?.unwrap_or("default").to_string(),
            peer: need("peer")?.to_string(),
            connect: kwarg(process, "connect")?.map(str::to_owned),
        })
    }
}

impl PsiOwner {
    /// Runs the process's side of the session if the policy allows it; returns the process output.
    pub async fn answer(&self, process: &Process) -> Result<Vec<Value>, PsiError> {
        let req = PsiRequest::of(process)?;
        if req.dataset != self.dataset.0 {
            return Err(PsiError::Request(format!(
                "this executor serves dataset {:?}, not {:?}",
                self.dataset.0, req.dataset
            )));
        }
        let sum_owner = req.params.mode == Mode::Sum && req.params.role == Role::Sender;
        let input = crate::input::read(&self.dataset.1, sum_owner).await?;
        let initiators = [process.initiatorid.clone()];
        let request = Request {
            dataset: &req.dataset,
            initiators: &initiators,
            ask: Ask::Intersection {
                mode: req.params.mode.as_str(),
                peer: &req.peer,
                rows: input.keys.len(),
            },
            reference: &process.processid,
            session: None,
        };
        // Decided and audited before a single point leaves.
        self.policy
            .decide(&request)
            .map_err(|r| PsiError::Refused(r.to_string()))?;
        let link = match &req.connect {
            Some(addr) => Link::Dial(addr.clone()),
            None => Link::Listen(self.listen.clone()),
        };
        let outcome = crate::run_tls(&req.params, &input, &link, &req.peer, &self.tls, self.timeout).await?;
        let file = safe_file_name(&req.params.session, req.params.role);
        let path = self.output_dir.join(file);
        if let Some(matched) = &outcome.matched {
            let mut out =
                std::fs::File::create(&path).map_err(|e| PsiError::Input(format!("{}: {e}", path.display())))?;
            input.write_csv(matched, &mut out)?;
        } else if let Some(sum) = &outcome.sum {
            std::fs::write(
                &path,
                format!(
                    "intersection_size,intersection_sum\n{},{sum}\n",
                    outcome.cardinality.unwrap_or(0)
                ),
            )
            .map_err(|e| PsiError::Input(format!("{}: {e}", path.display())))?;
        }
        let mut report = json!({
            "protocol": req.params.protocol.as_str(),
            "mode": req.params.mode.as_str(),
            "role": req.params.role,
            "own_size": outcome.own,
            "peer_size": outcome.peer,
            "seconds": outcome.seconds,
            "bytes_sent": outcome.bytes_sent,
            "bytes_received": outcome.bytes_received,
        });
        if req.params.mode == Mode::Cardinality
            && let Some(c) = outcome.cardinality
        {
            report["cardinality"] = json!(c);
        }
        if outcome.matched.is_some() || outcome.sum.is_some() {
            report["written_locally"] = json!(true);
        }
        // pycolonies reads outputs as lists of strings and numbers: one JSON string.
        Ok(vec![Value::String(report.to_string())])
    }
}

/// `<session>.<role>.csv` with anything but `[A-Za-z0-9_-]` replaced, so a session id cannot
/// name a path.
pub fn safe_file_name(session: &str, role: Role) -> String {
    let clean: String = session
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let role = match role {
        Role::Sender => "sender",
        Role::Receiver => "receiver",
    };
    format!("{clean}.{role}.csv")
}

/// A `psi` executor named `name` of type `kind` for `owner`.
pub fn psi_executor(env: &Env, name: &str, kind: &str, key: PrivateKey, owner: PsiOwner) -> Runtime {
    let owner = Arc::new(owner);
    Runtime::new(env, name, kind, key).function(FUNCTION, move |job: Job| {
        let owner = owner.clone();
        async move {
            match owner.answer(&job.process).await {
                Ok(out) => {
                    tracing::info!(process = %job.process.processid, "psi session done");
                    Ok(out)
                }
                Err(e) => {
                    tracing::warn!(process = %job.process.processid, error = %e, "psi session failed");
                    Err(e.to_string())
                }
            }
        }
    })
}
