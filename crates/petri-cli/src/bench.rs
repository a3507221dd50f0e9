//! `petri bench`: load against any Colonies-protocol server (petri or another
//! implementation), speaking only the protocol.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use petri_api::model::{Executor, FunctionSpec, WorkflowSpec};
use petri_crypto::PrivateKey;
use petri_sdk::{Client, Env};
use tokio::sync::Mutex;

use crate::output::{Output, kv};

#[derive(Subcommand)]
pub(crate) enum BenchCmd {
    /// Sequential submit → assign → close rounds from one client (latency of one lifecycle).
    Rounds {
        /// Number of rounds.
        #[arg(long, default_value_t = 1000)]
        rounds: usize,
    },
    /// Concurrent submitters and executors: throughput and latency percentiles.
    Load(LoadArgs),
    /// Concurrent version requests: the RPC floor (HTTP, envelope, reply) without
    /// signature recovery or the store, to compare `load` against.
    Ping {
        /// Requests in all.
        #[arg(long, short = 'n', default_value_t = 50_000)]
        requests: usize,
        /// Concurrent clients.
        #[arg(long, short = 'c', default_value_t = 16)]
        clients: usize,
    },
}

#[derive(Args)]
pub(crate) struct LoadArgs {
    /// Processes to run in all.
    #[arg(long, short = 'n', default_value_t = 10_000)]
    processes: usize,
    /// Concurrent submitting clients.
    #[arg(long, short = 'c', default_value_t = 4)]
    submitters: usize,
    /// Concurrent executors.
    #[arg(long, short = 'e', default_value_t = 16)]
    executors: usize,
    /// Submit workflows (diamonds a → {b, c} → d, four processes each) instead of single processes.
    #[arg(long)]
    workflow: bool,
    /// Submit at most this many processes per second in all (0: as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Servers as host:port, used round-robin by submitters and executors (default: COLONIES_SERVER_HOST:PORT).
    #[arg(long = "server")]
    servers: Vec<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) async fn run(cmd: BenchCmd, out: &Output) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Rounds { rounds } => run_rounds(rounds, out).await,
        BenchCmd::Load(args) => run_load(args, out).await,
        BenchCmd::Ping { requests, clients } => run_ping(requests, clients, out).await,
    }
}

/// A bench executor identity registered and approved in the colony.
struct BenchExecutor {
    key: PrivateKey,
    name: String,
}

struct Setup {
    env: Env,
    colony: String,
    owner: PrivateKey,
    submitter: PrivateKey,
    kind: String,
}

impl Setup {
    fn new() -> anyhow::Result<Self> {
        let env = Env::from_env()?;
        let colony = env.colony()?.to_owned();
        let owner = env
            .colony_prvkey()
            .context("the benchmark registers its own executors")?;
        let submitter = env.prvkey()?;
        // A type nobody else serves, so no other executor takes the work.
        let kind = format!("petri-bench-{}", &petri_crypto::random_id()[..8]);
        Ok(Self {
            env,
            colony,
            owner,
            submitter,
            kind,
        })
    }

    async fn executor(&self, client: &Client, i: usize) -> anyhow::Result<BenchExecutor> {
        let key = PrivateKey::generate();
        let name = format!("{}-{i}", self.kind);
        let executor = Executor {
            executorid: key.id(),
            executorname: name.clone(),
            executortype: self.kind.clone(),
            colonyname: self.colony.clone(),
            ..Executor::default()
        };
        client.add_executor(executor, &self.owner).await?;
        client.approve_executor(&self.colony, &name, &self.owner).await?;
        Ok(BenchExecutor { key, name })
    }

    fn spec(&self, node: &str, deps: &[&str]) -> FunctionSpec {
        let mut spec = FunctionSpec {
            funcname: "bench".into(),
            nodename: node.into(),
            maxexectime: -1,
            maxwaittime: -1,
            maxretries: -1,
            ..FunctionSpec::default()
        };
        spec.conditions.colonyname = self.colony.clone();
        spec.conditions.executortype = self.kind.clone();
        spec.conditions.dependencies = deps.iter().map(|d| d.to_string()).collect();
        spec
    }

    async fn cleanup(&self, client: &Client, executors: &[BenchExecutor]) {
        for e in executors {
            let _ = client.remove_executor(&self.colony, &e.name, &self.owner).await;
        }
    }
}

fn progress(total: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} processes closed, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

async fn run_rounds(rounds: usize, out: &Output) -> anyhow::Result<()> {
    let setup = Setup::new()?;
    let client = setup.env.client();
    let executor = setup.executor(&client, 0).await?;
    let spec = setup.spec("", &[]);
    let bar = progress(rounds);
    let mut times = Vec::with_capacity(rounds);
    let started = Instant::now();
    for _ in 0..rounds {
        let t0 = Instant::now();
        let p = client.submit(spec.clone(), &setup.submitter).await?;
        let assigned = client
            .assign(&setup.colony, 10, &executor.key)
            .await?
            .context("the submitted process was not assigned")?;
        anyhow::ensure!(
            assigned.processid == p.processid,
            "assigned another process than the one submitted"
        );
        client
            .close(&p.processid, vec![serde_json::json!("ok")], &executor.key)
            .await?;
        times.push(t0.elapsed());
        bar.inc(1);
    }
    let total = started.elapsed();
    bar.finish_and_clear();
    setup.cleanup(&client, &[executor]).await;

    times.sort();
    let n = times.len().max(1) as f64;
    let server = format!("{}:{}", setup.env.host, setup.env.port);
    let report = serde_json::json!({
        "server": server,
        "rounds": rounds,
        "total_s": total.as_secs_f64(),
        "rounds_per_s": n / total.as_secs_f64(),
        "mean_ms": ms(total) / n,
        "p50_ms": ms(percentile(&times, 0.50)),
        "p99_ms": ms(percentile(&times, 0.99)),
    });
    out.show(&report, || {
        kv(
            "Sequential submit → assign → close",
            &[
                ("Server", server.clone()),
                ("Rounds", rounds.to_string()),
                ("Total", format!("{:.3} s", total.as_secs_f64())),
                ("Rounds/s", format!("{:.0}", n / total.as_secs_f64())),
                ("Mean round", format!("{:.3} ms", ms(total) / n)),
                ("p50 round", format!("{:.3} ms", ms(percentile(&times, 0.50)))),
                ("p99 round", format!("{:.3} ms", ms(percentile(&times, 0.99)))),
            ],
        )
    })
}

async fn run_ping(requests: usize, clients: usize, out: &Output) -> anyhow::Result<()> {
    if requests == 0 || clients == 0 {
        bail!("--requests and --clients must be at least 1");
    }
    let env = Env::from_env()?;
    let key = env.prvkey()?;
    let base = env.client();
    base.version(&key).await.context("the server does not answer")?;
    let bar = progress(requests);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, key, bar) = (base.clone(), key.clone(), bar.clone());
        let mine = requests / clients + usize::from(c < requests % clients);
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(mine);
            for _ in 0..mine {
                let t0 = Instant::now();
                client.version(&key).await?;
                times.push(t0.elapsed());
                bar.inc(1);
            }
            anyhow::Ok(times)
        }));
    }
    let mut times = Vec::with_capacity(requests);
    for t in tasks {
        times.extend(t.await??);
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    times.sort();
    let per_s = requests as f64 / elapsed.as_secs_f64();
    let server = format!("{}:{}", env.host, env.port);
    let report = serde_json::json!({
        "server": server,
        "requests": requests,
        "clients": clients,
        "elapsed_s": elapsed.as_secs_f64(),
        "requests_per_s": per_s,
        "p50_ms": ms(percentile(&times, 0.50)),
        "p99_ms": ms(percentile(&times, 0.99)),
    });
    out.show(&report, || {
        kv(
            "Ping (version requests)",
            &[
                ("Server", server.clone()),
                ("Requests / clients", format!("{requests} / {clients}")),
                ("Elapsed", format!("{:.2} s", elapsed.as_secs_f64())),
                ("Requests/s", format!("{per_s:.0}")),
                ("p50", format!("{:.3} ms", ms(percentile(&times, 0.50)))),
                ("p99", format!("{:.3} ms", ms(percentile(&times, 0.99)))),
            ],
        )
    })
}

/// Times observed by the load generator, keyed by process id.
#[derive(Default)]
struct Observed {
    submitted: HashMap<String, Instant>,
    assigned: HashMap<String, Instant>,
    closed: HashMap<String, Instant>,
}

fn clients(setup: &Setup, servers: &[String]) -> anyhow::Result<Vec<Client>> {
    if servers.is_empty() {
        return Ok(vec![setup.env.client()]);
    }
    servers
        .iter()
        .map(|s| {
            let (host, port) = s
                .rsplit_once(':')
                .with_context(|| format!("--server {s:?} is not host:port"))?;
            let port: u16 = port
                .parse()
                .with_context(|| format!("--server {s:?} has no valid port"))?;
            let mut env = setup.env.clone();
            env.host = host.to_owned();
            env.port = port;
            Ok(env.client())
        })
        .collect()
}

async fn run_load(args: LoadArgs, out: &Output) -> anyhow::Result<()> {
    if args.processes == 0 || args.submitters == 0 || args.executors == 0 {
        bail!("--processes, --submitters and --executors must be at least 1");
    }
    let setup = Arc::new(Setup::new()?);
    let servers = clients(&setup, &args.servers)?;
    let per_unit = if args.workflow { 4 } else { 1 };
    let units = args.processes.div_ceil(per_unit);
    let total = units * per_unit;

    let mut executors = Vec::new();
    for i in 0..args.executors {
        executors.push(setup.executor(&servers[i % servers.len()], i).await?);
    }
    let observed = Arc::new(Mutex::new(Observed::default()));
    let closed = Arc::new(AtomicUsize::new(0));
    let bar = progress(total);
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let started = Instant::now();

    let mut tasks = Vec::new();
    for (i, e) in executors.iter().enumerate() {
        // Each task has its own client: its own connections, as separate machines would.
        let base = &servers[i % servers.len()];
        let client = base.clone();
        let (key, colony) = (e.key.clone(), setup.colony.clone());
        let (observed, closed, bar) = (observed.clone(), closed.clone(), bar.clone());
        tasks.push(tokio::spawn(async move {
            while closed.load(Ordering::Relaxed) < total && Instant::now() < deadline {
                let Some(p) = client.assign(&colony, 2, &key).await? else {
                    continue;
                };
                let at = Instant::now();
                client.close(&p.processid, vec![serde_json::json!(1)], &key).await?;
                let done = Instant::now();
                let mut o = observed.lock().await;
                o.assigned.insert(p.processid.clone(), at);
                o.closed.insert(p.processid, done);
                drop(o);
                closed.fetch_add(1, Ordering::Relaxed);
                bar.inc(1);
            }
            anyhow::Ok(())
        }));
    }
    let interval = (args.rate > 0.0).then(|| Duration::from_secs_f64(per_unit as f64 / args.rate));
    let mut submitters = Vec::new();
    for s in 0..args.submitters {
        let client = servers[s % servers.len()].clone();
        let setup = setup.clone();
        let observed = observed.clone();
        let mine = units / args.submitters + usize::from(s < units % args.submitters);
        let workflow = args.workflow;
        let interval = interval.map(|i| i * args.submitters as u32);
        submitters.push(tokio::spawn(async move {
            let mut next = Instant::now();
            for _ in 0..mine {
                if let Some(i) = interval {
                    tokio::time::sleep_until(next.into()).await;
                    next += i;
                }
                let at = Instant::now();
                let ids = if workflow {
                    let spec = WorkflowSpec {
                        colonyname: setup.colony.clone(),
                        functionspecs: vec![
                            setup.spec("a", &[]),
                            setup.spec("b", &["a"]),
                            setup.spec("c", &["a"]),
                            setup.spec("d", &["b", "c"]),
                        ],
                    };
                    client.submit_workflow(spec, &setup.submitter).await?.processids
                } else {
                    vec![client.submit(setup.spec("", &[]), &setup.submitter).await?.processid]
                };
                let mut o = observed.lock().await;
                for id in ids {
                    o.submitted.insert(id, at);
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in submitters {
        t.await??;
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    setup.cleanup(&servers[0], &executors).await;
    let done = closed.load(Ordering::Relaxed);
    if done < total {
        bail!("only {done} of {total} processes finished within {} s", args.timeout);
    }

    let o = observed.lock().await;
    let mut to_assigned = Vec::with_capacity(total);
    let mut to_closed = Vec::with_capacity(total);
    for (id, sub) in &o.submitted {
        // In workflow mode a child is "submitted" with its workflow but waits for its
        // parents; its latency includes theirs.
        if let Some(a) = o.assigned.get(id) {
            to_assigned.push(a.saturating_duration_since(*sub));
        }
        if let Some(c) = o.closed.get(id) {
            to_closed.push(c.saturating_duration_since(*sub));
        }
    }
    to_assigned.sort();
    to_closed.sort();
    let throughput = total as f64 / elapsed.as_secs_f64();
    let server_list = if args.servers.is_empty() {
        vec![format!("{}:{}", setup.env.host, setup.env.port)]
    } else {
        args.servers.clone()
    };
    let report = serde_json::json!({
        "servers": server_list,
        "mode": if args.workflow { "workflow" } else { "process" },
        "processes": total,
        "submitters": args.submitters,
        "executors": args.executors,
        "rate_limit": args.rate,
        "elapsed_s": elapsed.as_secs_f64(),
        "completed_per_s": throughput,
        "submit_to_assigned_ms": {
            "p50": ms(percentile(&to_assigned, 0.5)), "p90": ms(percentile(&to_assigned, 0.9)),
            "p99": ms(percentile(&to_assigned, 0.99)), "max": ms(percentile(&to_assigned, 1.0)),
        },
        "submit_to_closed_ms": {
            "p50": ms(percentile(&to_closed, 0.5)), "p90": ms(percentile(&to_closed, 0.9)),
            "p99": ms(percentile(&to_closed, 0.99)), "max": ms(percentile(&to_closed, 1.0)),
        },
    });
    out.show(&report, || {
        let pct = |v: &[Duration]| {
            format!(
                "p50 {:.2} / p90 {:.2} / p99 {:.2} / max {:.2} ms",
                ms(percentile(v, 0.5)),
                ms(percentile(v, 0.9)),
                ms(percentile(v, 0.99)),
                ms(percentile(v, 1.0))
            )
        };
        kv(
            "Load",
            &[
                ("Servers", server_list.join(", ")),
                (
                    "Mode",
                    (if args.workflow {
                        "workflow (diamonds of 4)"
                    } else {
                        "single processes"
                    })
                    .into(),
                ),
                ("Processes", total.to_string()),
                (
                    "Submitters / executors",
                    format!("{} / {}", args.submitters, args.executors),
                ),
                (
                    "Rate limit",
                    if args.rate > 0.0 {
                        format!("{} processes/s", args.rate)
                    } else {
                        "none".into()
                    },
                ),
                ("Elapsed", format!("{:.2} s", elapsed.as_secs_f64())),
                ("Completed/s", format!("{throughput:.0}")),
                ("Submit → assigned", pct(&to_assigned)),
                ("Submit → closed", pct(&to_closed)),
            ],
        )
    })
}
