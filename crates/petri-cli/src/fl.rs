//! `petri fl`: federated learning. An aggregator and collaborators as executors under mutual TLS,
//! a federation's rounds as a workflow, and the tools around it (plan hash, evaluation).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use petri_fl::executor::{Aggregator, Collaborator, aggregator_executor, collaborator_executor, plan_hash, workflow};
use petri_fl::plan::Plan;
use petri_fl::train::{Dataset, Model};
use petri_pki::tls::TlsMaterial;
use petri_sdk::Env;
use petri_sdk::model::{WorkflowSpec, state};
use serde_json::{Value, json};

use crate::he::{identity, serve};
use crate::output::{Output, table};

#[derive(Subcommand)]
pub(crate) enum FlCmd {
    /// Run the aggregator as an executor (type fl-aggregator) answering fl_aggregate processes;
    /// collaborators dial it over mutual TLS.
    Aggregator(AggregatorArgs),
    /// Run a collaborator as an executor (type fl-collaborator) answering fl_train processes.
    Collaborator(CollaboratorArgs),
    /// Submit a federation: one workflow with every round, and follow it.
    Run(RunArgs),
    /// Run a plan on this machine without a broker: a throw-away PKI, the aggregator and one
    /// collaborator per site over loopback mutual TLS (DIR/<collaborator>/train.csv, test.csv).
    Local {
        /// The plan (TOML).
        #[arg(long)]
        plan: PathBuf,
        /// The sites' data: a folder per collaborator name.
        #[arg(long)]
        sites: PathBuf,
        /// Also evaluate the final model on this CSV (standardised with its own statistics).
        #[arg(long)]
        test: Option<PathBuf>,
    },
    /// Seconds per round at N collaborators and P parameters (an MLP on synthetic data),
    /// with and without secure aggregation, over loopback mutual TLS.
    Bench {
        /// Collaborator counts.
        #[arg(long, value_delimiter = ',', default_value = "5,10,20")]
        collaborators: Vec<usize>,
        /// Model parameters (rounded to a whole MLP).
        #[arg(long, default_value_t = 100_000)]
        params: usize,
        /// Rounds per configuration (the mean is reported).
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Rows per collaborator.
        #[arg(long, default_value_t = 100)]
        rows: usize,
        /// SecAgg+ neighbours (default: everyone).
        #[arg(long)]
        degree: Option<usize>,
    },
    /// Print the hash a collaborator's policy pins a plan by.
    Hash {
        /// The plan (TOML).
        plan: PathBuf,
    },
    /// Accuracy and loss of a model the aggregator wrote (model.json) on a CSV.
    Evaluate {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// The CSV to evaluate on.
        #[arg(long)]
        data: PathBuf,
        /// The label column.
        #[arg(long, default_value = "label")]
        label: String,
        /// Standardise with the data's own statistics (default: the federation's, when the model
        /// file has them).
        #[arg(long)]
        standardize: bool,
    },
}

/// A node's mutual-TLS files (the same flags as `petri mpc node`).
type Tls = crate::mpc::TlsArgs;

fn load_tls(tls: &Tls) -> anyhow::Result<TlsMaterial> {
    TlsMaterial::load(&tls.files()).context("cannot load the TLS files")
}

#[derive(Args)]
pub(crate) struct AggregatorArgs {
    /// Executor name (also what plans' workflows address); use the certificate's name.
    #[arg(long)]
    name: String,
    /// Address collaborators dial.
    #[arg(long)]
    listen: String,
    /// Key ids that may run federations here (repeatable; "*" for any colony member).
    #[arg(long = "initiator", required = true)]
    initiators: Vec<String>,
    /// Where each federation's model is written (FEDERATION/model.json).
    #[arg(long, default_value = "./fl-models")]
    out: PathBuf,
    #[command(flatten)]
    tls: Tls,
}

#[derive(Args)]
pub(crate) struct CollaboratorArgs {
    /// Executor name: this site's certificate name, as the plan lists it.
    #[arg(long)]
    name: String,
    /// Training rows (CSV with a header; the plan names the label column).
    #[arg(long)]
    data: PathBuf,
    /// Test rows for the federated evaluation (default: the training rows).
    #[arg(long)]
    test: Option<PathBuf>,
    /// The data owner's policy: which initiators, plans (`petri fl hash`) and aggregators.
    #[arg(long, env = "PETRI_POLICY")]
    policy: PathBuf,
    /// Where weight files for a training command go.
    #[arg(long, default_value = "./fl-work")]
    work: PathBuf,
    #[command(flatten)]
    tls: Tls,
}

#[derive(Args)]
pub(crate) struct RunArgs {
    /// The plan (TOML).
    #[arg(long)]
    plan: PathBuf,
    /// The aggregator's HOST:PORT, as collaborators dial it.
    #[arg(long)]
    aggregator: String,
    /// The aggregator's executor and certificate name.
    #[arg(long)]
    aggregator_name: String,
    /// Federation id (default: a random one).
    #[arg(long)]
    federation: Option<String>,
    /// Return after submitting instead of following the rounds.
    #[arg(long)]
    no_wait: bool,
    /// Seconds to wait for every round.
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
}

pub(crate) async fn run(cmd: FlCmd, out: &Output) -> anyhow::Result<()> {
    match cmd {
        FlCmd::Aggregator(a) => {
            let env = Env::from_env()?;
            let tls = load_tls(&a.tls)?;
            let listener = tokio::net::TcpListener::bind(&a.listen)
                .await
                .with_context(|| format!("cannot listen on {}", a.listen))?;
            let aggregator = Arc::new(Aggregator::new(listener, tls, a.initiators, &a.out));
            let (key, owner) = identity(&env)?;
            let runtime = aggregator_executor(&env, &a.name, key, aggregator);
            serve(runtime, owner, &format!("aggregator {} on {}", a.name, a.listen)).await
        }
        FlCmd::Collaborator(a) => {
            let env = Env::from_env()?;
            let tls = load_tls(&a.tls)?;
            let policy = petri_policy::Policy::load(&a.policy)?;
            let collaborator = Arc::new(Collaborator::new(
                &a.name,
                &a.data,
                a.test.as_deref(),
                tls,
                Arc::new(policy),
                &a.work,
            ));
            let (key, owner) = identity(&env)?;
            let runtime = collaborator_executor(&env, key, collaborator);
            serve(runtime, owner, &format!("collaborator {}", a.name)).await
        }
        FlCmd::Hash { plan } => {
            let text = std::fs::read_to_string(&plan).with_context(|| format!("cannot read {}", plan.display()))?;
            Plan::parse(&text)?;
            outln!("{}", plan_hash(&text));
            Ok(())
        }
        FlCmd::Evaluate {
            model,
            data,
            label,
            standardize,
        } => {
            let record: Value = serde_json::from_str(
                &std::fs::read_to_string(&model).with_context(|| format!("cannot read {}", model.display()))?,
            )
            .context("not a model file")?;
            let kind: Model =
                serde_json::from_value(record["model"].clone()).context("the model file names no model")?;
            let weights: Vec<f64> =
                serde_json::from_value(record["weights"].clone()).context("the model file has no weights")?;
            let mut d = Dataset::load_csv(&data, &label)?;
            let federation: Option<(Vec<f64>, Vec<f64>)> = serde_json::from_value(record["mean"].clone())
                .ok()
                .zip(serde_json::from_value(record["std"].clone()).ok());
            match federation {
                Some((m, sd)) if !standardize => d.standardize(&m, &sd),
                _ if standardize => {
                    let (s, s2, n) = d.moments();
                    let (m, sd) = petri_fl::train::mean_std(&s, &s2, n as f64);
                    d.standardize(&m, &sd);
                }
                _ => {}
            }
            let (loss, accuracy) = kind.evaluate(&weights, &d)?;
            out.show(&json!({"loss": loss, "accuracy": accuracy, "rows": d.x.len()}), || {
                outln!("accuracy {accuracy:.4}, loss {loss:.4} on {} rows", d.x.len())
            })
        }
        FlCmd::Run(a) => run_federation(a, out).await,
        FlCmd::Local { plan, sites, test } => local(&plan, &sites, test.as_deref(), out).await,
        FlCmd::Bench {
            collaborators,
            params,
            rounds,
            rows,
            degree,
        } => bench(&collaborators, params, rounds, rows, degree, out).await,
    }
}

async fn run_federation(a: RunArgs, out: &Output) -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let client = env.client();
    let key = env.prvkey()?;
    let text = std::fs::read_to_string(&a.plan).with_context(|| format!("cannot read {}", a.plan.display()))?;
    let plan = Plan::parse(&text)?;
    let federation = a
        .federation
        .unwrap_or_else(|| format!("{}-{:08x}", plan.name, rand::random::<u32>()));
    let specs = workflow(&env.colony, &federation, &text, &a.aggregator, &a.aggregator_name)?;
    let graph = client
        .submit_workflow(
            WorkflowSpec {
                colonyname: env.colony.clone(),
                functionspecs: specs,
            },
            &key,
        )
        .await?;
    eprintln!(
        "federation {federation}: workflow {} with {} rounds of {} collaborators",
        graph.processgraphid,
        plan.rounds,
        plan.collaborators.len()
    );
    if a.no_wait {
        return out.show(
            &json!({"federation": federation, "workflow": graph.processgraphid}),
            || outln!("{}", graph.processgraphid),
        );
    }
    let start = Instant::now();
    let mut reported = 0;
    let rounds = loop {
        let g = client.get_graph(&graph.processgraphid, &key).await?;
        let mut done = Vec::new();
        for id in &g.processids {
            let p = client.get_process(id, &key).await?;
            if p.spec.funcname != "fl_aggregate" {
                continue;
            }
            if p.state == state::FAILED {
                bail!("{} failed: {}", p.spec.nodename, p.errors.join("; "));
            }
            if p.state == state::SUCCESS
                && let Some(Value::String(s)) = p.output.first()
            {
                done.push(serde_json::from_str::<Value>(s).unwrap_or_default());
            }
        }
        done.sort_by_key(|r| r["round"].as_u64());
        for r in done.iter().skip(reported) {
            if !out.json {
                eprintln!(
                    "round {}: {} aggregated, accuracy {}, {:.2} s",
                    r["round"],
                    r["aggregated"].as_array().map_or(0, Vec::len),
                    r["accuracy"].as_f64().map_or("-".into(), |x| format!("{x:.4}")),
                    r["seconds"].as_f64().unwrap_or(0.0)
                );
            }
        }
        reported = done.len();
        if done.len() as u32 == plan.rounds {
            break done;
        }
        if start.elapsed() > Duration::from_secs(a.timeout) {
            bail!("the federation did not finish within {} s", a.timeout);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    out.show(
        &json!({"federation": federation, "workflow": graph.processgraphid, "rounds": rounds}),
        || {
            let mut t = table(&["round", "aggregated", "dropped", "loss", "accuracy", "seconds"]);
            for r in &rounds {
                let f = |k: &str| r[k].as_f64().map_or("-".into(), |x| format!("{x:.4}"));
                t.add_row(vec![
                    r["round"].to_string(),
                    r["aggregated"].as_array().map_or(0, Vec::len).to_string(),
                    r["dropped"].as_array().map_or(0, Vec::len).to_string(),
                    f("loss"),
                    f("accuracy"),
                    f("seconds"),
                ]);
            }
            outln!("{t}");
        },
    )
}

async fn local(
    plan_path: &std::path::Path,
    sites: &std::path::Path,
    test: Option<&std::path::Path>,
    out: &Output,
) -> anyhow::Result<()> {
    use petri_fl::local::{Site, run};
    let plan = Plan::load(plan_path)?;
    let mut data = Vec::new();
    for name in &plan.collaborators {
        let dir = sites.join(name);
        let train = Dataset::load_csv(&dir.join("train.csv"), &plan.training.label)?;
        let test = match dir.join("test.csv") {
            p if p.exists() => Dataset::load_csv(&p, &plan.training.label)?,
            _ => train.clone(),
        };
        data.push(Site { train, test });
    }
    let work = tempfile::tempdir()?;
    let result = run(&plan, data, work.path(), |r| {
        if !out.json {
            eprintln!(
                "round {}: {} aggregated, accuracy {}, {:.3} s",
                r.round,
                r.aggregated.len(),
                r.accuracy.map_or("-".into(), |a| format!("{a:.4}")),
                r.seconds
            );
        }
    })
    .await?;
    let rounds = &result.rounds;
    let held_out = match test {
        Some(p) => {
            let mut d = Dataset::load_csv(p, &plan.training.label)?;
            // The federation's statistics, or (without them) the test rows' own.
            let (m, sd) = match &result.statistics {
                Some(s) => s.clone(),
                None => {
                    let (s, s2, n) = d.moments();
                    petri_fl::train::mean_std(&s, &s2, n as f64)
                }
            };
            if plan.training.standardize != petri_fl::plan::Standardize::None {
                d.standardize(&m, &sd);
            }
            Some(plan.model.evaluate(&result.weights, &d)?)
        }
        None => None,
    };
    out.show(
        &json!({"rounds": rounds.iter().map(|r| json!({"round": r.round, "accuracy": r.accuracy, "loss": r.loss,
            "seconds": r.seconds, "aggregated": r.aggregated.len()})).collect::<Vec<_>>(),
            "test": held_out.map(|(l, a)| json!({"loss": l, "accuracy": a}))}),
        || {
            if let Some((l, a)) = held_out {
                outln!("held-out accuracy {a:.4}, loss {l:.4}");
            }
        },
    )
}

async fn bench(
    counts: &[usize],
    params: usize,
    rounds: u32,
    rows: usize,
    degree: Option<usize>,
    out: &Output,
) -> anyhow::Result<()> {
    use petri_fl::local::{Site, run};
    use rand::{Rng, SeedableRng};
    const FEATURES: usize = 30;
    let hidden = (params.saturating_sub(1) / (FEATURES + 2)).max(1);
    let mut results = Vec::new();
    for &n in counts {
        for secure in [true, false] {
            let names: Vec<String> = (0..n).map(|i| format!("site-{i}.fl.local")).collect();
            let degree_line = degree.map(|d| format!("degree = {d}\n")).unwrap_or_default();
            let plan = Plan::parse(&format!(
                "name = 'bench'\nrounds = {rounds}\nfeatures = {FEATURES}\ncollaborators = {names:?}\n\
                 [model]\nkind = 'mlp'\nhidden = {hidden}\n[training]\nlearning_rate = 0.05\nstandardize = 'none'\n\
                 [secure_aggregation]\nenabled = {secure}\n{degree_line}[timeouts]\nstage_secs = 600\n"
            ))?;
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
            let mut gen_rows = |k: usize| {
                let mut d = Dataset::default();
                for _ in 0..k {
                    let y = rng.random_bool(0.5);
                    d.x.push(
                        (0..FEATURES)
                            .map(|_| f64::from(u8::from(y)) + rng.random_range(-1.0..1.0))
                            .collect(),
                    );
                    d.y.push(f64::from(u8::from(y)));
                }
                d
            };
            let sites: Vec<Site> = (0..n)
                .map(|_| Site {
                    train: gen_rows(rows),
                    test: gen_rows(20),
                })
                .collect();
            let work = tempfile::tempdir()?;
            let cpu0 = cpu_seconds();
            let outcomes = run(&plan, sites, work.path(), |r| {
                eprintln!(
                    "N={n} {}: round {} in {:.3} s",
                    if secure { "secagg" } else { "plain" },
                    r.round,
                    r.seconds
                )
            })
            .await?
            .rounds;
            let cpu = cpu_seconds() - cpu0;
            let mean = outcomes.iter().map(|r| r.seconds).sum::<f64>() / outcomes.len() as f64;
            results.push(
                json!({"collaborators": n, "params": plan.model.params(FEATURES), "secure_aggregation": secure,
                "seconds_per_round": mean, "cpu_seconds_per_round": cpu / f64::from(rounds), "rounds": rounds}),
            );
        }
    }
    out.show(&json!({"results": results}), || {
        let mut t = table(&[
            "collaborators",
            "parameters",
            "secure aggregation",
            "s per round",
            "CPU s per round",
        ]);
        for r in &results {
            t.add_row(vec![
                r["collaborators"].to_string(),
                r["params"].to_string(),
                r["secure_aggregation"].to_string(),
                format!("{:.3}", r["seconds_per_round"].as_f64().unwrap_or(0.0)),
                format!("{:.3}", r["cpu_seconds_per_round"].as_f64().unwrap_or(0.0)),
            ]);
        }
        outln!("{t}");
    })
}

/// CPU seconds this process has used (user + system), from /proc/self/stat on Linux.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}
