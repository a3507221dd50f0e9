//! `petri mpc`: three-party secret-shared computation. Compute nodes, data/result nodes, an
//! orchestrator that runs one session, the program hash data owners pin in their policies, and a
//! benchmark over three node processes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use petri_executor::{Job, Runtime};
use petri_mpc_net::cluster::{ComputeMode, Example, LocalCluster};
use petri_mpc_net::data::load_data;
use petri_mpc_net::orchestrate::{NodeOutcome, run_session};
use petri_mpc_net::program::Program;
use petri_mpc_net::workflow::{self, DataTask, PartyTask, ResultTask};
use petri_mpc_net::{ComputeConfig, ComputeNode, DataNode, NodeTls, serve_compute, serve_data};
use petri_pki::tls::TlsFiles;
use tokio::net::TcpListener;

use crate::output::{Output, table};

#[derive(Subcommand)]
pub(crate) enum MpcCmd {
    /// Run a compute node (PartyService) until interrupted.
    Node(NodeArgs),
    /// Run a data and result node (DataManagerService, ResultProviderService) until interrupted.
    Data(DataArgs),
    /// Orchestrate one session: register the program on the three compute nodes, run, wait. The
    /// nodes must name this certificate with --orchestrator, and the data owners' policies must
    /// allow the program (`petri mpc hash`) and this orchestrator.
    Run(RunArgs),
    /// Print a program's hash, as a data owner's policy pins it (`programs`), with its result
    /// nodes (`recipients`) and the data nodes it reads from.
    Hash(HashArgs),
    /// Run an example directory (program.json, NAME.data.json) on a throw-away local deployment:
    /// a fresh PKI, data nodes, three compute node processes, all mutual TLS.
    Demo(DemoArgs),
    /// Measure multiplications, comparisons, sort and median on three local node processes over
    /// loopback mutual TLS.
    Bench(BenchArgs),
}

#[derive(Args, Clone)]
pub(crate) struct TlsArgs {
    /// The root CA certificate to trust.
    #[arg(long, env = "PETRI_TLS_CA")]
    ca: PathBuf,
    /// This node's certificate chain.
    #[arg(long, env = "PETRI_TLS_CERT")]
    cert: PathBuf,
    /// This node's private key.
    #[arg(long, env = "PETRI_TLS_KEY")]
    key: PathBuf,
    /// A CRL to honour (repeatable).
    #[arg(long = "crl")]
    crl: Vec<PathBuf>,
}

impl TlsArgs {
    /// The files, as `petri-pki` takes them.
    pub(crate) fn files(&self) -> TlsFiles {
        TlsFiles {
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            crls: self.crl.clone(),
        }
    }

    fn load(&self) -> anyhow::Result<NodeTls> {
        NodeTls::load(&self.files()).context("cannot load the TLS files")
    }
}

#[derive(Args)]
pub(crate) struct NodeArgs {
    /// Address to listen on.
    #[arg(long, env = "PETRI_MPC_LISTEN")]
    listen: String,
    /// This node's party id (0, 1 or 2). Sessions for another party id are refused.
    #[arg(long, env = "PETRI_MPC_PARTY_ID")]
    party_id: usize,
    /// The compute nodes, HOST:PORT in party order, this one included (give it three times);
    /// each HOST must be named in that node's certificate. Sessions naming other addresses are
    /// refused.
    #[arg(long = "node", num_args = 1, required = true)]
    node: Vec<String>,
    /// The certificate name (DNS or IP) of an orchestrator that may register programs and run
    /// sessions here (repeatable). Nobody else may.
    #[arg(long = "orchestrator", num_args = 1)]
    orchestrator: Vec<String>,
    /// With --executor: the colony key id of an initiator whose `mpc_party` processes this node
    /// runs (repeatable). Processes of anyone else fail.
    #[arg(long = "initiator", num_args = 1)]
    initiator: Vec<String>,
    /// A data node, NAME=HOST:PORT (repeatable); HOST must be named in its certificate.
    #[arg(long = "data")]
    data: Vec<String>,
    /// A result node, NAME=HOST:PORT (repeatable).
    #[arg(long = "result")]
    result: Vec<String>,
    /// Seconds to wait for a peer's message, a connection or a data node.
    #[arg(long, default_value_t = 60)]
    peer_timeout: u64,
    /// Also run as a petri executor of type `mpc-compute` with this name, answering `mpc_party`
    /// processes (broker and keys from the COLONIES_* variables).
    #[arg(long)]
    executor: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Args)]
pub(crate) struct DataArgs {
    /// Address to listen on.
    #[arg(long, env = "PETRI_MPC_LISTEN")]
    listen: String,
    /// This node's name (what programs write in `from` and `to`).
    #[arg(long)]
    name: String,
    /// The data file: {"DATASET": {"VALUE": {"type": "u32", "value": [..]}}}.
    #[arg(long, requires = "policy")]
    input: Option<PathBuf>,
    /// The data owner's policy (TOML): per dataset, the initiators (orchestrator certificate
    /// names, workflow initiator key ids), program hashes (`petri mpc hash`), result nodes and
    /// minimum rows; and the audit log. No shares are released without one.
    #[arg(long, env = "PETRI_POLICY")]
    policy: Option<PathBuf>,
    /// The certificate name (DNS or IP) of compute party 0, 1, 2, in order (give it three times).
    #[arg(long = "party", num_args = 1)]
    party: Vec<String>,
    /// Directory for revealed results (SESSION.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also run as a petri executor of type `mpc-data` with this name, answering `mpc_data` and
    /// `mpc_result` processes (broker and keys from the COLONIES_* variables).
    #[arg(long)]
    executor: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Args)]
pub(crate) struct RunArgs {
    /// The program (petri-mpc/1 JSON).
    #[arg(long)]
    program: PathBuf,
    /// A compute node HOST:PORT, in party order (give it three times).
    #[arg(long = "node", num_args = 1)]
    node: Vec<String>,
    /// The dataset key the data nodes serve.
    #[arg(long, default_value = "default")]
    data_key: String,
    /// Session id (default: a random one).
    #[arg(long)]
    session: Option<String>,
    /// Seconds to wait for the session to end.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Args)]
pub(crate) struct HashArgs {
    /// The program (petri-mpc/1 JSON).
    program: PathBuf,
}

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// The example directory, such as examples/mpc/millionaires.
    example: PathBuf,
    /// Keep the generated PKI and node logs here (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seconds to wait for the session.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Element counts for multiplications and comparisons.
    #[arg(long, value_delimiter = ',', default_value = "1000000")]
    ops: Vec<usize>,
    /// Element counts for sort and median.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    sort: Vec<usize>,
    /// Run only these operations (mul, dot, lt, eq, median, sort; default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Time each operation from where the parties happen to start it, without first aligning
    /// them with two one-element products (so a row includes waiting for the slowest party to
    /// finish making its inputs).
    #[arg(long)]
    no_align: bool,
    /// Keep the generated PKI and logs here (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
}

pub(crate) async fn run(cmd: MpcCmd, out: &Output) -> anyhow::Result<()> {
    match cmd {
        MpcCmd::Node(args) => node(args).await,
        MpcCmd::Data(args) => data(args).await,
        MpcCmd::Run(args) => orchestrate(args, out).await,
        MpcCmd::Hash(args) => hash(args, out),
        MpcCmd::Demo(args) => demo(args, out).await,
        MpcCmd::Bench(args) => bench(args, out).await,
    }
}

fn named_addrs(items: &[String], what: &str) -> anyhow::Result<HashMap<String, String>> {
    let mut map = HashMap::new();
    for item in items {
        let (name, addr) = item
            .split_once('=')
            .with_context(|| format!("--{what} {item:?} is not NAME=HOST:PORT"))?;
        petri_mpc_net::tls::split_host_port(addr).with_context(|| format!("--{what} {item:?}"))?;
        if map.insert(name.to_string(), addr.to_string()).is_some() {
            bail!("--{what} names {name} twice");
        }
    }
    Ok(map)
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}

async fn node(args: NodeArgs) -> anyhow::Result<()> {
    crate::init_tracing();
    let tls = args.tls.load()?;
    let nodes: [String; 3] = args
        .node
        .clone()
        .try_into()
        .map_err(|_| anyhow::anyhow!("give --node exactly three times (compute parties 0, 1, 2)"))?;
    if args.executor.is_none() && !args.initiator.is_empty() {
        bail!("--initiator applies to workflow sessions: give --executor too");
    }
    let config = ComputeConfig {
        party: args.party_id,
        nodes,
        orchestrators: args.orchestrator.clone(),
        initiators: args.initiator.clone(),
        data_nodes: named_addrs(&args.data, "data")?,
        result_nodes: named_addrs(&args.result, "result")?,
        peer_timeout: Duration::from_secs(args.peer_timeout.max(1)),
    };
    let node = ComputeNode::new(tls.clone(), config).context("bad compute node configuration")?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        party = args.party_id,
        orchestrators = %args.orchestrator.join(","),
        initiators = %args.initiator.join(","),
        "compute node listening"
    );
    let executor = match &args.executor {
        Some(name) => {
            let node = node.clone();
            let runtime = executor_runtime(name, "mpc-compute")?.function("mpc_party", move |job: Job| {
                let node = node.clone();
                async move {
                    let task: PartyTask = workflow::task(&job.process.spec.kwargs)?;
                    node.run_party(task, &job.process.initiatorid).await.map(|v| vec![v])
                }
            });
            Some(runtime)
        }
        None => None,
    };
    serve_with_executor(serve_compute(listener, tls, node, shutdown_signal()), executor).await
}

/// An executor runtime named `name` of type `kind`, registered (and, with the colony owner's key in
/// the environment, approved) when it starts.
fn executor_runtime(name: &str, kind: &str) -> anyhow::Result<Runtime> {
    let env = petri_sdk::Env::from_env()?;
    Ok(Runtime::new(&env, name, kind, env.prvkey()?))
}

async fn serve_with_executor(
    server: impl std::future::Future<Output = petri_mpc_net::Result<()>>,
    executor: Option<Runtime>,
) -> anyhow::Result<()> {
    let Some(runtime) = executor else {
        server.await?;
        return Ok(());
    };
    let owner = petri_sdk::Env::from_env()?.colony_prvkey().ok();
    runtime
        .register(owner.as_ref())
        .await
        .context("cannot register the executor")?;
    tracing::info!("executor registered");
    let (served, ran) = tokio::join!(server, runtime.run(shutdown_signal()));
    served?;
    ran.context("executor")?;
    Ok(())
}

async fn data(args: DataArgs) -> anyhow::Result<()> {
    crate::init_tracing();
    let tls = args.tls.load()?;
    let parties: [String; 3] = args
        .party
        .clone()
        .try_into()
        .map_err(|_| anyhow::anyhow!("give --party exactly three times (compute parties 0, 1, 2)"))?;
    let datasets = match &args.input {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            load_data(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => HashMap::new(),
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let policy = match &args.policy {
        Some(path) => {
            let policy = petri_policy::Policy::load(path)?;
            tracing::info!(policy = %path.display(), audit_log = %policy.audit().path().display(), "policy loaded");
            for key in datasets.keys() {
                if policy.dataset(key).is_none() {
                    tracing::warn!(dataset = %key, "the policy has no rules for this dataset: nothing of it is released");
                }
            }
            Some(std::sync::Arc::new(policy))
        }
        None => None,
    };
    let node = DataNode::new(&args.name, datasets, policy, parties, args.out.clone()).map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(addr = %listener.local_addr()?, name = %args.name, "data node listening");
    let executor = match &args.executor {
        Some(name) => {
            let (n1, n2) = (node.clone(), node.clone());
            let runtime = executor_runtime(name, "mpc-data")?
                .function("mpc_data", move |job: Job| {
                    let node = n1.clone();
                    async move {
                        let task: DataTask = workflow::task(&job.process.spec.kwargs)?;
                        node.describe(&task, &job.process.initiatorid).map(|v| vec![v])
                    }
                })
                .function("mpc_result", move |job: Job| {
                    let node = n2.clone();
                    async move {
                        let task: ResultTask = workflow::task(&job.process.spec.kwargs)?;
                        node.await_results(&task).await.map(|v| vec![v])
                    }
                });
            Some(runtime)
        }
        None => None,
    };
    serve_with_executor(serve_data(listener, tls, node, shutdown_signal()), executor).await
}

async fn orchestrate(args: RunArgs, out: &Output) -> anyhow::Result<()> {
    let tls = args.tls.load()?;
    let nodes: [String; 3] = args
        .node
        .clone()
        .try_into()
        .map_err(|_| anyhow::anyhow!("give --node exactly three times (compute parties 0, 1, 2)"))?;
    let program = std::fs::read(&args.program).with_context(|| format!("cannot read {}", args.program.display()))?;
    let session = args
        .session
        .clone()
        .unwrap_or_else(|| format!("session-{:016x}", rand_u64()));
    let outcomes = run_session(
        &tls,
        &nodes,
        &program,
        &args.data_key,
        &session,
        Duration::from_secs(args.timeout),
    )
    .await?;
    show_outcomes(out, &session, &outcomes)?;
    if let Some(failed) = outcomes.iter().find(|o| o.status != "FINISHED") {
        bail!("session {session} failed at party {}: {}", failed.party, failed.error);
    }
    Ok(())
}

fn hash(args: HashArgs, out: &Output) -> anyhow::Result<()> {
    let text = std::fs::read(&args.program).with_context(|| format!("cannot read {}", args.program.display()))?;
    let program = Program::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.program.display()))?;
    let hash = program.hash();
    out.show(
        &serde_json::json!({
            "hash": hash,
            "recipients": program.recipients(),
            "sources": program.data_sources(),
        }),
        || {
            outln!("{hash}");
            eprintln!(
                "recipients: {}; reads from: {}",
                program.recipients().join(", "),
                program.data_sources().join(", ")
            );
        },
    )
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

fn show_outcomes(out: &Output, session: &str, outcomes: &[NodeOutcome]) -> anyhow::Result<()> {
    out.show(&serde_json::json!({"session": session, "parties": outcomes}), || {
        show_outcomes_table(session, outcomes)
    })
}

fn show_outcomes_table(session: &str, outcomes: &[NodeOutcome]) {
    {
        let mut t = table(&["party", "status", "compute s", "rounds", "sent", "error"]);
        for o in outcomes {
            let s = o.stats.as_ref();
            t.add_row(vec![
                o.party.to_string(),
                o.status.clone(),
                s.and_then(|s| s["compute_secs"].as_f64())
                    .map(|v| format!("{v:.3}"))
                    .unwrap_or_default(),
                s.and_then(|s| s["rounds"].as_u64())
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                s.and_then(|s| s["bytes_sent"].as_u64()).map(bytes).unwrap_or_default(),
                o.error.clone(),
            ]);
        }
        outln!("session {session}\n{t}");
    }
}

fn bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[derive(serde::Serialize)]
struct BenchRow {
    op: String,
    n: usize,
    secs: f64,
    per_sec: f64,
    rounds: u64,
    bytes_per_party: u64,
    cpu_secs: f64,
}

async fn local_cluster(
    dir: Option<PathBuf>,
    data: Vec<(String, petri_mpc_net::data::Datasets)>,
    result_only: Vec<String>,
    allowed: &[&[u8]],
) -> anyhow::Result<(BenchDir, LocalCluster)> {
    let dir = tempfile_dir(dir)?;
    let exe = std::env::current_exe().context("cannot find the petri executable")?;
    let cluster = LocalCluster::start(dir.path(), data, result_only, ComputeMode::Processes(exe), allowed).await?;
    Ok((dir, cluster))
}

async fn demo(args: DemoArgs, out: &Output) -> anyhow::Result<()> {
    let example = Example::load(&args.example)?;
    let (_dir, cluster) = local_cluster(
        args.dir.clone(),
        example.data.clone(),
        example.result_only.clone(),
        &[&example.program],
    )
    .await?;
    let policies: Vec<(String, PathBuf)> = example
        .data
        .iter()
        .map(|(name, _)| (name.clone(), cluster.policy_path(name)))
        .collect();
    let session = args
        .example
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("example")
        .to_string();
    let outcomes = cluster
        .run(&example.program, "example", &session, Duration::from_secs(args.timeout))
        .await?;
    if let Some(failed) = outcomes.iter().find(|o| o.status != "FINISHED") {
        bail!("session {session} failed at party {}: {}", failed.party, failed.error);
    }
    let results = cluster.all_results(&session);
    out.show(
        &serde_json::json!({"session": session, "parties": outcomes, "results": results, "policies": policies}),
        || {
            show_outcomes_table(&session, &outcomes);
            for (node, path) in &policies {
                outln!("{node} released its shares under {}", path.display());
            }
            for (node, outputs) in &results {
                let mut names: Vec<&String> = outputs.keys().collect();
                names.sort();
                for name in names {
                    let r = &outputs[name];
                    let values: Vec<String> = r.values.iter().map(ToString::to_string).collect();
                    outln!("{node} learned {name} = {} ({})", values.join(", "), r.ty);
                }
            }
        },
    )
}

async fn bench(args: BenchArgs, out: &Output) -> anyhow::Result<()> {
    // Random inputs only: no data node, so no policy is involved.
    let (_dir, cluster) = local_cluster(args.dir.clone(), Vec::new(), vec!["bench".into()], &[]).await?;
    let mut rows = Vec::new();
    let mut cases: Vec<(&str, usize)> = Vec::new();
    for n in &args.ops {
        cases.push(("mul", *n));
        cases.push(("dot", *n));
        cases.push(("lt", *n));
        cases.push(("eq", *n));
    }
    for n in &args.sort {
        cases.push(("median", *n));
        cases.push(("sort", *n));
    }
    if !args.only.is_empty() {
        cases.retain(|(op, _)| args.only.iter().any(|o| o == op));
    }
    for (i, (op, n)) in cases.iter().enumerate() {
        let (ty, args_list) = match *op {
            "mul" | "dot" => ("u64", r#"["x", "y"]"#),
            "lt" | "eq" => ("u32", r#"["x", "y"]"#),
            _ => ("u32", r#"["x"]"#),
        };
        // Two rounds on one element before the timed step: after them every party has seen
        // that all three reached the first, so the step's clock starts together everywhere.
        let align = if args.no_align {
            ""
        } else {
            r#"{"out": "a0", "op": "sum", "args": ["x"]},
               {"out": "a1", "op": "mul", "args": ["a0", "a0"]},
               {"out": "a2", "op": "mul", "args": ["a1", "a1"]},"#
        };
        let program = format!(
            r#"{{"format": "petri-mpc/1",
              "inputs": [{{"name": "x", "from": "random", "type": "{ty}", "len": {n}}},
                         {{"name": "y", "from": "random", "type": "{ty}", "len": {n}}}],
              "steps": [{align}
                        {{"out": "r", "op": "{op}", "args": {args_list}}},
                        {{"out": "s", "op": "sum", "args": ["r"]}}],
              "outputs": [{{"value": "s", "to": "bench"}}]}}"#
        );
        let session = format!("bench-{i}-{op}-{n}");
        let outcomes = cluster
            .run(program.as_bytes(), "none", &session, Duration::from_secs(1800))
            .await
            .with_context(|| format!("{op} of {n}"))?;
        if let Some(failed) = outcomes.iter().find(|o| o.status != "FINISHED") {
            bail!("{op} of {n} failed at party {}: {}", failed.party, failed.error);
        }
        // The step's time is the slowest party's; communication is the largest party's; CPU
        // time is the three node processes' together.
        let step = |o: &NodeOutcome| -> (f64, u64, u64, f64) {
            let s = o
                .stats
                .as_ref()
                .and_then(|s| s["steps"].as_array())
                .and_then(|a| a.iter().find(|s| s["out"] == "r"));
            (
                s.and_then(|s| s["secs"].as_f64()).unwrap_or(0.0),
                s.and_then(|s| s["rounds"].as_u64()).unwrap_or(0),
                s.and_then(|s| s["bytes_sent"].as_u64()).unwrap_or(0),
                s.and_then(|s| s["cpu_secs"].as_f64()).unwrap_or(0.0),
            )
        };
        let secs = outcomes.iter().map(|o| step(o).0).fold(0.0, f64::max);
        let rounds = outcomes.iter().map(|o| step(o).1).max().unwrap_or(0);
        let sent = outcomes.iter().map(|o| step(o).2).max().unwrap_or(0);
        let cpu_secs: f64 = outcomes.iter().map(|o| step(o).3).sum();
        rows.push(BenchRow {
            op: op.to_string(),
            n: *n,
            secs,
            per_sec: *n as f64 / secs.max(1e-9),
            rounds,
            bytes_per_party: sent,
            cpu_secs,
        });
        if !out.json {
            eprintln!("{op:>7} n={n:<9} {secs:.3} s, {cpu_secs:.3} CPU s");
        }
    }
    out.show(&rows, || {
        let mut t = table(&["op", "n", "seconds", "elements/s", "rounds", "sent per party", "CPU s"]);
        for r in &rows {
            t.add_row(vec![
                r.op.clone(),
                r.n.to_string(),
                format!("{:.3}", r.secs),
                format!("{:.0}", r.per_sec),
                r.rounds.to_string(),
                bytes(r.bytes_per_party),
                format!("{:.3}", r.cpu_secs),
            ]);
        }
        outln!("three compute processes, loopback mutual TLS; CPU s: the three processes together\n{t}");
    })
}

/// A directory that is removed at the end unless the user chose it.
enum BenchDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl BenchDir {
    fn path(&self) -> &std::path::Path {
        match self {
            BenchDir::Temp(t) => t.path(),
            BenchDir::Kept(p) => p,
        }
    }
}

fn tempfile_dir(dir: Option<PathBuf>) -> anyhow::Result<BenchDir> {
    Ok(match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            BenchDir::Kept(d)
        }
        None => BenchDir::Temp(tempfile::tempdir()?),
    })
}
