//! Federated rounds as petri processes.
//!
//! `petri fl run` submits a workflow with, per round, one `fl_aggregate` process for the
//! aggregator and one `fl_train` process per collaborator (addressed by executor name); round
//! `r`'s processes depend on round `r − 1`'s aggregation, so each round appears in the dashboard as
//! its own fan. The kwargs carry parameters only (federation id, round, the plan's text, the
//! aggregator's address and name); weights and updates travel over mutual TLS between the
//! collaborators and the aggregator, never through the broker, and outputs carry metrics only.
//!
//! A collaborator is a data owner: it trains only for plans its policy allows (the plan's SHA3-256
//! as the program hash, the aggregator's certificate name as the recipient, its row count against
//! `min_cohort`), from initiators it lists, and audits each round.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use petri_executor::{Job, Runtime};
use petri_pki::tls::TlsMaterial;
use petri_policy::{Ask, Policy, Request};
use petri_sdk::model::Process;
use petri_sdk::{Env, PrivateKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;

use crate::FlError;
use crate::net::{ClientLink, ServerLink, accept_members, connect};
use crate::plan::{Plan, Standardize};
use crate::round::{Link, Message, RoundSettings, STATISTICS_ROUND, Trainer, aggregate_round, collaborate_round};
use crate::train::Dataset;

/// The kwargs of `fl_aggregate` and `fl_train` processes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoundTask {
    /// The federation (one `petri fl run`).
    pub federation: String,
    /// The round, from 1.
    pub round: u32,
    /// The plan's TOML text.
    pub plan: String,
    /// The aggregator's `host:port`.
    pub aggregator: String,
    /// The aggregator's certificate name.
    pub aggregator_name: String,
}

impl RoundTask {
    /// The task of a process.
    pub fn of(process: &Process) -> Result<RoundTask, FlError> {
        serde_json::from_value(Value::Object(process.spec.kwargs.clone()))
            .map_err(|e| FlError::Config(format!("bad kwargs: {e}")))
    }
}

/// The hash a collaborator's policy pins a plan by: SHA3-256 of its text, in hex.
pub fn plan_hash(text: &str) -> String {
    hex_string(&sha3::Sha3_256::digest(text.as_bytes()))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn output(value: Value) -> Vec<Value> {
    // As a JSON string: pycolonies reads process outputs as strings and numbers only.
    vec![Value::String(value.to_string())]
}

/// The model a federation's plan starts from.
pub fn initial_weights(plan: &Plan) -> Vec<f64> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(plan.seed);
    plan.model.init(plan.features, &mut rng)
}

/// The aggregator: one listener for collaborators, the latest model of each federation.
pub struct Aggregator {
    listener: tokio::sync::Mutex<tokio::net::TcpListener>,
    tls: TlsMaterial,
    initiators: Vec<String>,
    out: PathBuf,
    models: Mutex<HashMap<String, FederationState>>,
}

/// What an aggregator keeps of a federation between rounds.
#[derive(Clone, Debug)]
struct FederationState {
    round: u32,
    weights: Vec<f64>,
    /// The averaged feature statistics of round 0.
    statistics: Option<Vec<f64>>,
}

impl Aggregator {
    /// An aggregator accepting collaborators on `listener`, running rounds for `initiators`
    /// (`"*"` for anyone in the colony), writing each federation's model under `out`.
    pub fn new(listener: tokio::net::TcpListener, tls: TlsMaterial, initiators: Vec<String>, out: &Path) -> Self {
        Aggregator {
            listener: tokio::sync::Mutex::new(listener),
            tls,
            initiators,
            out: out.to_path_buf(),
            models: Mutex::default(),
        }
    }

    /// Runs the round a process asks for; answers with its metrics.
    pub async fn run_round(&self, process: &Process) -> Result<Vec<Value>, FlError> {
        let task = RoundTask::of(process)?;
        if !self.initiators.iter().any(|i| i == "*" || *i == process.initiatorid) {
            return Err(FlError::Config(format!(
                "{} may not run federations on this aggregator",
                process.initiatorid
            )));
        }
        let plan = Plan::parse(&task.plan)?;
        let federated = plan.training.standardize == Standardize::Federated;
        let first = if federated { STATISTICS_ROUND } else { 1 };
        if task.round < first || task.round > plan.rounds {
            return Err(FlError::Config(format!(
                "round {} is outside {first}..={}",
                task.round, plan.rounds
            )));
        }
        let previous = if task.round == first {
            None
        } else {
            let models = self
                .models
                .lock()
                .map_err(|_| FlError::Config("lock poisoned".into()))?;
            match models.get(&task.federation) {
                Some(state) if state.round + 1 == task.round => Some(state.clone()),
                _ => {
                    return Err(FlError::Config(format!(
                        "this aggregator did not run round {} of federation {}",
                        task.round - 1,
                        task.federation
                    )));
                }
            }
        };
        let statistics_round = task.round == STATISTICS_ROUND;
        let weights = match &previous {
            _ if statistics_round => vec![0.0; 3 * plan.features],
            Some(state) if task.round > 1 => state.weights.clone(),
            _ => initial_weights(&plan),
        };
        // One round at a time: the listener is the federation's meeting point.
        let listener = self.listener.lock().await;
        let stage = Duration::from_secs(plan.timeouts.stage_secs);
        let mut members = admit(&listener, &self.tls, &plan, &task.federation, task.round).await?;
        let id = round_id(&task.federation, task.round);
        let settings = RoundSettings {
            round: task.round,
            secagg: plan.secure_aggregation.enabled.then(|| {
                if statistics_round {
                    plan.stats_secagg(id)
                } else {
                    plan.secagg(id, weights.len())
                }
            }),
            min_collaborators: plan.min_collaborators(),
            stage,
        };
        let outcome = aggregate_round(&mut members, &weights, &settings).await?;
        drop(listener);
        let state = if statistics_round {
            FederationState {
                round: task.round,
                weights: Vec::new(),
                statistics: Some(outcome.weights.clone()),
            }
        } else {
            FederationState {
                round: task.round,
                weights: outcome.weights.clone(),
                statistics: previous.and_then(|p| p.statistics),
            }
        };
        self.models
            .lock()
            .map_err(|_| FlError::Config("lock poisoned".into()))?
            .insert(task.federation.clone(), state.clone());
        if !statistics_round {
            let dir = self.out.join(sanitize(&task.federation));
            std::fs::create_dir_all(&dir).map_err(|e| FlError::Config(format!("{}: {e}", dir.display())))?;
            let (mean, std) = match &state.statistics {
                Some(avg) => {
                    let (m, s) = crate::train::federated_mean_std(avg, plan.features)?;
                    (Some(m), Some(s))
                }
                None => (None, None),
            };
            let record = json!({"federation": task.federation, "round": task.round, "plan_sha3": plan_hash(&task.plan),
                "model": plan.model, "features": plan.features, "weights": outcome.weights,
                "mean": mean, "std": std});
            std::fs::write(dir.join("model.json"), record.to_string())
                .map_err(|e| FlError::Config(format!("{}: {e}", dir.display())))?;
        }
        Ok(output(json!({
            "federation": task.federation,
            "round": task.round,
            "aggregated": outcome.aggregated,
            "dropped": outcome.dropped,
            "samples": outcome.samples,
            "loss": outcome.loss,
            "accuracy": outcome.accuracy,
            "seconds": outcome.seconds,
            "secure_aggregation": plan.secure_aggregation.enabled,
        })))
    }
}

/// Accepts the plan's collaborators for `round` of `federation`: each must say so first
/// (`Hello`); one that came for another round is told and left out.
pub async fn admit(
    listener: &tokio::net::TcpListener,
    tls: &TlsMaterial,
    plan: &Plan,
    federation: &str,
    round: u32,
) -> Result<Vec<crate::round::Member<ServerLink>>, FlError> {
    let stage = Duration::from_secs(plan.timeouts.stage_secs);
    let mut members = accept_members(listener, tls, &plan.collaborators, plan.min_collaborators(), stage).await?;
    for m in &mut members {
        let hello = tokio::time::timeout(stage, m.link.recv()).await;
        let ok = matches!(&hello, Ok(Ok(Message::Hello { federation: f, round: r })) if f == federation && *r == round);
        if !ok {
            let _ = m
                .link
                .send(&Message::Failed(format!(
                    "this aggregator is running round {round} of federation {federation}"
                )))
                .await;
        }
        m.set_alive(ok);
    }
    Ok(members)
}

/// Dials the aggregator for `round` of `federation` and says so.
pub async fn join(
    addr: &str,
    aggregator_name: &str,
    tls: &TlsMaterial,
    federation: &str,
    round: u32,
    timeout: Duration,
) -> Result<ClientLink, FlError> {
    let mut link = connect(addr, aggregator_name, tls, timeout).await?;
    link.send(&Message::Hello {
        federation: federation.to_string(),
        round,
    })
    .await?;
    Ok(link)
}

/// Binds secure aggregation's masks to the federation and round.
pub fn round_id(federation: &str, round: u32) -> u64 {
    let h = sha3::Sha3_256::digest(format!("{federation}/{round}").as_bytes());
    u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// How a collaborator trains.
pub enum LocalTrainer {
    /// The built-in trainer on a CSV.
    Builtin,
    /// A user's command: it reads `PETRI_FL_WEIGHTS_IN` (safetensors, tensor `weights`, f64) and
    /// `PETRI_FL_DATA`, and writes `PETRI_FL_WEIGHTS_OUT` (the same shape, f32 or f64).
    Command,
}

/// A collaborator: its data, its policy, its TLS identity.
pub struct Collaborator {
    name: String,
    train_csv: PathBuf,
    test_csv: Option<PathBuf>,
    tls: TlsMaterial,
    policy: Arc<Policy>,
    work: PathBuf,
    /// The federations' averaged feature statistics (round 0), by federation.
    statistics: Mutex<HashMap<String, Vec<f64>>>,
}

impl Collaborator {
    /// A collaborator named `name` (its certificate name) training on `train_csv` and evaluating
    /// on `test_csv` (or on the training rows), under `policy`; `work` holds weight files.
    pub fn new(
        name: &str,
        train_csv: &Path,
        test_csv: Option<&Path>,
        tls: TlsMaterial,
        policy: Arc<Policy>,
        work: &Path,
    ) -> Self {
        Collaborator {
            name: name.to_string(),
            train_csv: train_csv.to_path_buf(),
            test_csv: test_csv.map(Path::to_path_buf),
            tls,
            policy,
            work: work.to_path_buf(),
            statistics: Mutex::default(),
        }
    }

    /// Takes part in the round a process asks for; answers with its local figures.
    pub async fn run_round(&self, process: &Process) -> Result<Vec<Value>, FlError> {
        let task = RoundTask::of(process)?;
        let plan = Plan::parse(&task.plan)?;
        if !plan.collaborators.contains(&self.name) {
            return Err(FlError::Config(format!(
                "{} is not a collaborator of this plan",
                self.name
            )));
        }
        let mut train = Dataset::load_csv(&self.train_csv, &plan.training.label)?;
        let mut test = match &self.test_csv {
            Some(p) => Dataset::load_csv(p, &plan.training.label)?,
            None => train.clone(),
        };
        if train.dim() != plan.features || test.dim() != plan.features {
            return Err(FlError::Data(format!(
                "the plan expects {} features, the data has {}",
                plan.features,
                train.dim()
            )));
        }
        let hash = plan_hash(&task.plan);
        let initiators = [process.initiatorid.clone()];
        let recipients = [task.aggregator_name.clone()];
        let request = Request {
            dataset: "default",
            initiators: &initiators,
            ask: Ask::Program {
                hash: &hash,
                recipients: &recipients,
                rows: train.x.len(),
            },
            reference: &process.processid,
            session: None,
        };
        self.policy.decide(&request).map_err(|r| FlError::Refused(r.0))?;
        let known = self
            .statistics
            .lock()
            .map_err(|_| FlError::Config("lock poisoned".into()))?
            .get(&task.federation)
            .cloned();
        match plan.training.standardize {
            Standardize::Local => {
                let (s, s2, n) = train.moments();
                let (mean, std) = crate::train::mean_std(&s, &s2, n as f64);
                train.standardize(&mean, &std);
                test.standardize(&mean, &std);
            }
            Standardize::Federated if task.round != STATISTICS_ROUND => {
                let avg = known.ok_or_else(|| {
                    FlError::Config(format!(
                        "round 0 of federation {} (the feature statistics) did not run here",
                        task.federation
                    ))
                })?;
                let (mean, std) = crate::train::federated_mean_std(&avg, plan.features)?;
                train.standardize(&mean, &std);
                test.standardize(&mean, &std);
            }
            _ => {}
        }
        let stage = Duration::from_secs(plan.timeouts.stage_secs);
        let mut link = join(
            &task.aggregator,
            &task.aggregator_name,
            &self.tls,
            &task.federation,
            task.round,
            stage,
        )
        .await?;
        let trainer = SiteTrainer {
            plan: plan.clone(),
            train,
            test,
            data: self.train_csv.clone(),
            work: self.work.join(sanitize(&task.federation)),
            rng: rand::SeedableRng::from_rng(&mut rand::rng()),
        };
        let mut trainer = trainer;
        let (round, weights) = tokio::time::timeout(stage * 10, collaborate_round(&mut link, &mut trainer))
            .await
            .map_err(|_| FlError::Net("the round did not end in time".into()))??;
        if round == STATISTICS_ROUND {
            self.statistics
                .lock()
                .map_err(|_| FlError::Config("lock poisoned".into()))?
                .insert(task.federation.clone(), weights);
        }
        Ok(output(json!({
            "federation": task.federation,
            "round": round,
            "collaborator": self.name,
            "rows": trainer.train.x.len(),
        })))
    }
}

struct SiteTrainer {
    plan: Plan,
    train: Dataset,
    test: Dataset,
    data: PathBuf,
    work: PathBuf,
    rng: rand_chacha::ChaCha20Rng,
}

impl Trainer for SiteTrainer {
    fn moments(&mut self) -> Result<(Vec<f64>, u32), FlError> {
        let rows = u32::try_from(self.train.x.len()).unwrap_or(u32::MAX);
        Ok((crate::train::local_moments(&self.train), rows))
    }

    fn train(&mut self, round: u32, weights: &[f64]) -> Result<(Vec<f64>, u32), FlError> {
        let t = &self.plan.training;
        let rows = u32::try_from(self.train.x.len()).unwrap_or(u32::MAX);
        match &t.command {
            None => {
                let mut w = weights.to_vec();
                self.plan.model.train(
                    &mut w,
                    &self.train,
                    t.epochs,
                    t.learning_rate,
                    t.batch_size,
                    &mut self.rng,
                )?;
                Ok((w, rows))
            }
            Some(command) => {
                let w = run_command(command, &self.work, &self.data, round, weights)?;
                Ok((w, rows))
            }
        }
    }

    fn evaluate(&mut self, weights: &[f64]) -> Result<(f64, f64, u64), FlError> {
        if self.plan.training.command.is_some() && self.plan.model.params(self.plan.features) != weights.len() {
            return Ok((f64::NAN, 0.0, 0));
        }
        let (loss, acc) = self.plan.model.evaluate(weights, &self.test)?;
        Ok((loss, acc, self.test.x.len() as u64))
    }
}

/// Runs a user's training command on weight files.
pub fn run_command(
    command: &[String],
    work: &Path,
    data: &Path,
    round: u32,
    weights: &[f64],
) -> Result<Vec<f64>, FlError> {
    std::fs::create_dir_all(work).map_err(|e| FlError::Data(format!("{}: {e}", work.display())))?;
    let input = work.join(format!("global-{round}.safetensors"));
    let output = work.join(format!("update-{round}.safetensors"));
    crate::weights::save(&input, weights)?;
    let _ = std::fs::remove_file(&output);
    let status = std::process::Command::new(&command[0])
        .args(&command[1..])
        .env("PETRI_FL_WEIGHTS_IN", &input)
        .env("PETRI_FL_WEIGHTS_OUT", &output)
        .env("PETRI_FL_DATA", data)
        .env("PETRI_FL_ROUND", round.to_string())
        .status()
        .map_err(|e| FlError::Data(format!("cannot run {:?}: {e}", command[0])))?;
    if !status.success() {
        return Err(FlError::Data(format!("the training command exited with {status}")));
    }
    let update = crate::weights::load(&output)?;
    if update.len() != weights.len() {
        return Err(FlError::Data(format!(
            "the training command wrote {} weights, the model has {}",
            update.len(),
            weights.len()
        )));
    }
    Ok(update)
}

/// The aggregator as a petri executor answering `fl_aggregate`.
pub fn aggregator_executor(env: &Env, name: &str, key: PrivateKey, aggregator: Arc<Aggregator>) -> Runtime {
    Runtime::new(env, name, "fl-aggregator", key).function("fl_aggregate", move |job: Job| {
        let aggregator = aggregator.clone();
        async move {
            aggregator.run_round(&job.process).await.map_err(|e| {
                tracing::warn!(process = %job.process.processid, error = %e, "round failed");
                e.to_string()
            })
        }
    })
}

/// A collaborator as a petri executor answering `fl_train`.
pub fn collaborator_executor(env: &Env, key: PrivateKey, collaborator: Arc<Collaborator>) -> Runtime {
    let name = collaborator.name.clone();
    Runtime::new(env, &name, "fl-collaborator", key).function("fl_train", move |job: Job| {
        let collaborator = collaborator.clone();
        async move {
            collaborator.run_round(&job.process).await.map_err(|e| {
                tracing::warn!(process = %job.process.processid, error = %e, "round not joined");
                e.to_string()
            })
        }
    })
}

/// The workflow of a federation: per round an `fl_aggregate` process at the aggregator and an
/// `fl_train` process per collaborator, each round after the previous aggregation.
pub fn workflow(
    colony: &str,
    federation: &str,
    plan_text: &str,
    aggregator: &str,
    aggregator_name: &str,
) -> Result<Vec<petri_sdk::model::FunctionSpec>, FlError> {
    let plan = Plan::parse(plan_text)?;
    let stage = i64::try_from(plan.timeouts.stage_secs).unwrap_or(i64::MAX / 20);
    let mut specs = Vec::new();
    let first = if plan.training.standardize == Standardize::Federated {
        STATISTICS_ROUND
    } else {
        1
    };
    for round in first..=plan.rounds {
        let task = RoundTask {
            federation: federation.to_string(),
            round,
            plan: plan_text.to_string(),
            aggregator: aggregator.to_string(),
            aggregator_name: aggregator_name.to_string(),
        };
        let kwargs = match serde_json::to_value(&task) {
            Ok(Value::Object(map)) => map,
            _ => return Err(FlError::Config("cannot encode the round's parameters".into())),
        };
        let deps = if round == first {
            vec![]
        } else {
            vec![format!("aggregate-{}", round - 1)]
        };
        let mut node = |name: String, func: &str, kind: &str, executor: &str| {
            let mut spec = petri_sdk::model::FunctionSpec {
                nodename: name,
                funcname: func.into(),
                kwargs: kwargs.clone(),
                maxexectime: stage * 20,
                maxretries: 0,
                maxwaittime: -1,
                ..Default::default()
            };
            spec.conditions.colonyname = colony.into();
            spec.conditions.executortype = kind.into();
            spec.conditions.executornames = Some(vec![executor.to_string()]);
            spec.conditions.dependencies = deps.clone();
            specs.push(spec);
        };
        node(
            format!("aggregate-{round}"),
            "fl_aggregate",
            "fl-aggregator",
            aggregator_name,
        );
        for c in &plan.collaborators {
            node(format!("train-{round}-{c}"), "fl_train", "fl-collaborator", c);
        }
    }
    Ok(specs)
}
