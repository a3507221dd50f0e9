//! `petri sql ...`: secure SQL across two organisations' tables. `petri sql --query ...` (or
//! `petri sql run`) runs every party in this process; `owner`, `node` and `analyst` run one party
//! of a job between sites over mutual TLS; `explain` says what each party learns; `hash` prints
//! the hash owners pin in their policies; `bench` measures.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use petri_pki::tls::TlsMaterial;
use petri_policy::Policy;
use petri_sql::net::{self, Endpoint, GateAsk, Job};
use petri_sql::{ResultSet, SqlError, Table, Value};
use serde_json::json;

use crate::mpc::TlsArgs;
use crate::output::{Output, kv, say, table};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct SqlArgs {
    #[command(subcommand)]
    cmd: Option<SqlCmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
pub(crate) enum SqlCmd {
    /// Run a query with every party in this process: the owners' PSI, three compute nodes on
    /// secret shares, and the analyst (the same as `petri sql --query ...`).
    Run(RunArgs),
    /// Say what each party of a query learns.
    Explain(ExplainArgs),
    /// Print the hash of a job's query, as owners list it under `programs` in their policies.
    Hash(JobArg),
    /// Run the owner of one table of a job: PSI with the other owner, then shares to the compute
    /// nodes, as the owner's policy allows.
    Owner(OwnerArgs),
    /// Run one compute node of a job.
    Node(NodeArgs),
    /// Run the analyst of a job: receive the three compute nodes' shares and show the result.
    Analyst(AnalystArgs),
    /// Run a `sql` executor for one party (owner, compute node or analyst): it answers the `sql`
    /// processes of workflows as its configuration and policy allow.
    Executor(Box<ExecutorArgs>),
    /// Measure JOIN + GROUP BY SUM (or GROUP BY SUM on one table) at several sizes, all six
    /// parties in this process over loopback mutual TLS.
    Bench(BenchArgs),
}

#[derive(Args, Clone, Default)]
pub(crate) struct RunArgs {
    /// The query.
    #[arg(long)]
    query: Option<String>,
    /// A table, as NAME=SOURCE: a CSV file, `sqlite:FILE#TABLE` or `postgres://...#TABLE`
    /// (repeat; each table stands for another organisation).
    #[arg(long = "table", value_name = "NAME=SOURCE")]
    tables: Vec<String>,
    /// Who the result is revealed to (a name for the report).
    #[arg(long, default_value = "analyst")]
    reveal_to: String,
    /// Also say what each party learned.
    #[arg(long)]
    explain: bool,
    /// The join's PSI protocol: kkrt, rr22 or ecdh.
    #[arg(long, default_value = "kkrt")]
    psi: petri_psi::Protocol,
}

#[derive(Args)]
pub(crate) struct ExplainArgs {
    /// The query.
    #[arg(long)]
    query: String,
    /// The tables, as NAME=SOURCE (their schemas are read from them).
    #[arg(long = "table", value_name = "NAME=SOURCE", required = true)]
    tables: Vec<String>,
}

#[derive(Args)]
pub(crate) struct JobArg {
    /// The job: JSON with session, query, schemas, owners, nodes (3), analyst and timeout_secs.
    #[arg(long)]
    job: PathBuf,
}

#[derive(Args)]
pub(crate) struct OwnerArgs {
    #[command(flatten)]
    job: JobArg,
    /// The owner's table: a CSV file, `sqlite:FILE#TABLE` or `postgres://...#TABLE`.
    #[arg(long)]
    table: String,
    /// The owner's policy (TOML); the dataset is the table's name in the job.
    #[arg(long)]
    policy: PathBuf,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Args)]
pub(crate) struct NodeArgs {
    #[command(flatten)]
    job: JobArg,
    /// This node's party id (0, 1 or 2); it listens on that node's address in the job.
    #[arg(long)]
    party_id: usize,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Args)]
pub(crate) struct AnalystArgs {
    #[command(flatten)]
    job: JobArg,
    /// Also write the result as CSV here.
    #[arg(long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Args)]
pub(crate) struct ExecutorArgs {
    /// `owner`, `node` or `analyst`.
    #[arg(long)]
    role: String,
    /// This party's certificate name, as jobs name it.
    #[arg(long = "cert-name")]
    cert_name: String,
    /// Where to listen (owners of a job's first table, compute nodes, the analyst).
    #[arg(long, default_value = "0.0.0.0:7480")]
    listen: String,
    /// Owner: the table, a CSV file, `sqlite:FILE#TABLE` or `postgres://...#TABLE`.
    #[arg(long)]
    table: Option<String>,
    /// Owner: the table's name in queries (the dataset in the policy).
    #[arg(long = "table-name")]
    table_name: Option<String>,
    /// Owner: the policy (TOML).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Compute node: its party id.
    #[arg(long)]
    party_id: Option<usize>,
    /// Compute node: a key id whose workflows it takes (repeat).
    #[arg(long = "initiator")]
    initiators: Vec<String>,
    /// Analyst: where results are written.
    #[arg(long, default_value = ".")]
    output_dir: PathBuf,
    /// Executor name (default: `sql-<role>-<key id prefix>`).
    #[arg(long, env = "PETRI_EXECUTOR_NAME")]
    name: Option<String>,
    /// Executor type processes are matched to.
    #[arg(long, env = "PETRI_EXECUTOR_TYPE", default_value = "sql")]
    kind: String,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Rows per table.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    rows: Vec<usize>,
    /// Distinct group values.
    #[arg(long, default_value_t = 10)]
    groups: usize,
    /// One table, no join: `SELECT g, SUM(x) FROM b GROUP BY g`.
    #[arg(long)]
    no_join: bool,
    /// The join's PSI protocol: ecdh, kkrt or rr22.
    #[arg(long, default_value = "kkrt")]
    psi: String,
}

pub(crate) async fn run(args: SqlArgs, out: &Output) -> anyhow::Result<()> {
    match args.cmd {
        Some(SqlCmd::Run(r)) => run_local(r, out).await,
        None if args.run.query.is_some() => run_local(args.run, out).await,
        None => bail!("give --query and --table NAME=SOURCE (or a subcommand: petri sql --help)"),
        Some(SqlCmd::Explain(e)) => explain(e, out).await,
        Some(SqlCmd::Hash(j)) => {
            let job = load_job(&j.job)?;
            let hash = job.query_hash()?;
            out.show(&json!({"hash": hash}), || say(&hash))
        }
        Some(SqlCmd::Owner(o)) => owner(o, out).await,
        Some(SqlCmd::Node(n)) => node(n, out).await,
        Some(SqlCmd::Analyst(a)) => analyst(a, out).await,
        Some(SqlCmd::Executor(e)) => executor(*e).await,
        Some(SqlCmd::Bench(b)) => bench(b, out).await,
    }
}

async fn read_tables(specs: &[String]) -> anyhow::Result<Vec<Table>> {
    let mut tables = Vec::new();
    for spec in specs {
        let (name, source) = spec
            .split_once('=')
            .with_context(|| format!("{spec:?}: write the table as NAME=SOURCE"))?;
        let source = petri_sql::Source::parse(source)?;
        tables.push(
            source
                .read(name)
                .await
                .with_context(|| format!("cannot read table {name}"))?,
        );
    }
    if tables.is_empty() {
        bail!("give the tables as --table NAME=SOURCE");
    }
    Ok(tables)
}

fn show_result(result: &ResultSet) {
    let mut t = table(&result.columns.iter().map(String::as_str).collect::<Vec<_>>());
    for row in &result.rows {
        t.add_row(
            row.iter()
                .map(|v| {
                    if *v == Value::Null {
                        "NULL".into()
                    } else {
                        v.to_string()
                    }
                })
                .collect::<Vec<_>>(),
        );
    }
    outln!("{t}");
}

fn show_explain(what: &[(String, Vec<String>)]) {
    let mut t = table(&["party", "learns"]);
    for (who, learns) in what {
        t.add_row(vec![who.clone(), learns.join("\n")]);
    }
    outln!("{t}");
}

async fn run_local(args: RunArgs, out: &Output) -> anyhow::Result<()> {
    let query = args.query.context("give the query with --query")?;
    let tables = read_tables(&args.tables).await?;
    let report = petri_sql::local::run_with(&query, &tables, args.psi).await?;
    let plan = petri_sql::plan(&query, &tables.iter().map(|t| t.schema.clone()).collect::<Vec<_>>())?;
    let learns = petri_sql::explain(&plan);
    out.show(
        &json!({"reveal_to": args.reveal_to, "result": report.result, "report": report, "learns": learns}),
        || {
            show_result(&report.result);
            let mut rows = vec![("revealed to", args.reveal_to.clone())];
            if let Some(p) = &report.psi {
                rows.push(("join keys (distinct)", format!("{} and {}", p.keys[0], p.keys[1])));
                rows.push(("intersection", p.intersection.to_string()));
            }
            rows.push(("joined rows", report.joined_rows.to_string()));
            rows.push(("seconds", format!("{:.3}", report.seconds.total)));
            kv("run", &rows);
            if args.explain {
                show_explain(&learns);
            }
        },
    )
}

async fn explain(args: ExplainArgs, out: &Output) -> anyhow::Result<()> {
    let tables = read_tables(&args.tables).await?;
    let plan = petri_sql::plan(
        &args.query,
        &tables.iter().map(|t| t.schema.clone()).collect::<Vec<_>>(),
    )?;
    let learns = petri_sql::explain(&plan);
    out.show(&learns, || show_explain(&learns))
}

fn load_job(path: &Path) -> anyhow::Result<Job> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let job: Job = serde_json::from_str(&text).with_context(|| format!("{} is not a job", path.display()))?;
    job.plan()?;
    Ok(job)
}

fn tls(args: &TlsArgs) -> anyhow::Result<TlsMaterial> {
    TlsMaterial::load(&args.files()).context("cannot load the TLS files")
}

async fn owner(args: OwnerArgs, out: &Output) -> anyhow::Result<()> {
    let job = load_job(&args.job.job)?;
    let tls = tls(&args.tls)?;
    let source = petri_sql::Source::parse(&args.table)?;
    let policy = Arc::new(Policy::load(&args.policy).context("cannot load the policy")?);
    // Which table of the job is ours: the one whose schema the source has.
    let mut found = None;
    for (t, schema) in job.schemas.iter().enumerate() {
        let table = source.read(&schema.name).await?;
        if table.schema == *schema {
            found = Some((t, table));
            break;
        }
    }
    let (t, table) = found.context("the table does not have the schema of any table in the job")?;
    // Standalone, the one asking is the analyst the job reveals to.
    let initiators = vec![job.analyst.name.clone()];
    let dataset = table.schema.name.clone();
    let gate = |ask: GateAsk<'_>| petri_sql::policy_decide(&policy, &dataset, &initiators, &job.session, ask);
    let report = net::run_owner(&job, t, &table, &tls, &gate).await?;
    out.show(&report, || {
        kv(
            "owner",
            &[
                ("table", table.schema.name.clone()),
                ("rows shared", report.rows.to_string()),
                (
                    "intersection",
                    report.intersection.map_or("-".into(), |n| n.to_string()),
                ),
                ("bytes sent", report.bytes_sent.to_string()),
            ],
        )
    })
}

async fn node(args: NodeArgs, out: &Output) -> anyhow::Result<()> {
    let job = load_job(&args.job.job)?;
    let tls = tls(&args.tls)?;
    let me = job
        .nodes
        .get(args.party_id)
        .with_context(|| format!("--party-id {}: the job has compute nodes 0, 1 and 2", args.party_id))?;
    let listener = tokio::net::TcpListener::bind(&me.addr)
        .await
        .with_context(|| format!("cannot listen on {}", me.addr))?;
    let report = net::run_node(&job, args.party_id, listener, &tls).await?;
    out.show(&report, || {
        kv(
            "compute node",
            &[
                ("rows", report.rows.to_string()),
                ("groups", report.groups.to_string()),
                ("rounds", report.rounds.to_string()),
                ("bytes sent", report.bytes_sent.to_string()),
            ],
        )
    })
}

fn write_csv(path: &Path, result: &ResultSet) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(&result.columns)?;
    for row in &result.rows {
        w.write_record(row.iter().map(ToString::to_string))?;
    }
    Ok(w.flush()?)
}

async fn analyst(args: AnalystArgs, out: &Output) -> anyhow::Result<()> {
    let job = load_job(&args.job.job)?;
    let tls = tls(&args.tls)?;
    let listener = tokio::net::TcpListener::bind(&job.analyst.addr)
        .await
        .with_context(|| format!("cannot listen on {}", job.analyst.addr))?;
    let result = net::run_analyst(&job, listener, &tls).await?;
    if let Some(path) = &args.output {
        write_csv(path, &result)?;
    }
    out.show(&result, || show_result(&result))
}

async fn executor(args: ExecutorArgs) -> anyhow::Result<()> {
    use petri_sql::executor::{Role, SqlParty, sql_executor};
    let env = petri_sdk::Env::from_env()?;
    let (key, owner) = match env.colony_prvkey() {
        Ok(colony) => (petri_sdk::PrivateKey::generate(), Some(colony)),
        Err(_) => (
            env.prvkey().context("set COLONIES_PRVKEY or COLONIES_COLONY_PRVKEY")?,
            None,
        ),
    };
    let role = match args.role.as_str() {
        "owner" => {
            let (Some(source), Some(name), Some(policy)) = (&args.table, &args.table_name, &args.policy) else {
                bail!("an owner needs --table, --table-name and --policy");
            };
            let table = petri_sql::Source::parse(source)?.read(name).await?;
            Role::Owner {
                table,
                policy: Arc::new(Policy::load(policy).context("cannot load the policy")?),
            }
        }
        "node" => {
            let party = args.party_id.context("a compute node needs --party-id")?;
            if args.initiators.is_empty() {
                bail!("a compute node needs --initiator: the key ids whose queries it runs");
            }
            Role::Node {
                party,
                initiators: args.initiators.clone(),
            }
        }
        "analyst" => Role::Analyst {
            output_dir: args.output_dir.clone(),
        },
        other => bail!("--role {other:?}: use owner, node or analyst"),
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("sql-{}-{}", args.role, &key.id()[..8]));
    let party = SqlParty {
        role,
        name: args.cert_name.clone(),
        tls: tls(&args.tls)?,
        listen: args.listen.clone(),
    };
    let runtime = sql_executor(&env, &name, &args.kind, key, party);
    runtime.register(owner.as_ref()).await?;
    eprintln!(
        "sql executor {name} ({}) registered (id {}); waiting for processes, Ctrl-C to stop",
        args.role,
        runtime.id()
    );
    runtime
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// CPU seconds this process has used (user + system), from /proc/self/stat on Linux.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

const PARTIES: [&str; 6] = ["owner-a", "owner-b", "node0", "node1", "node2", "analyst"];

fn bench_pki(dir: &Path) -> anyhow::Result<Vec<TlsMaterial>> {
    use petri_pki::{NodeRequest, OrgRequest, Pki, parse_cidr};
    let pki = Pki::init(&dir.join("pki"), "sql bench root", 2)?;
    let mut out = Vec::new();
    for org in PARTIES {
        let dns = format!("{org}.sql.test");
        pki.create_org(&OrgRequest {
            name: org.into(),
            dns: vec![dns.clone()],
            ip_ranges: vec![parse_cidr("127.0.0.0/8")?],
            days: 2,
        })?;
        let node = pki.issue_node(
            org,
            &NodeRequest {
                name: format!("node.{dns}"),
                dns: vec![format!("node.{dns}")],
                ips: vec![],
                days: 2,
            },
        )?;
        let d = dir.join(org);
        std::fs::create_dir_all(&d)?;
        node.write_to(&d)?;
        out.push(TlsMaterial::load(&petri_pki::tls::TlsFiles {
            ca: d.join("ca.pem"),
            cert: d.join("cert.pem"),
            key: d.join("key.pem"),
            crls: vec![],
        })?);
    }
    Ok(out)
}

/// Tables `a(id, g)` and `b(id, x)` of `n` rows: half of b's ids are in a, `groups` group
/// values, x in 0..1000.
fn bench_tables(n: usize, groups: usize) -> anyhow::Result<(Table, Table)> {
    let a = Table::from_text(
        "a",
        vec!["id".into(), "g".into()],
        (0..n)
            .map(|i| vec![Some(i.to_string()), Some(format!("g{:02}", (i * 7919) % groups.max(1)))])
            .collect(),
    )?;
    let b = Table::from_text(
        "b",
        vec!["id".into(), "x".into(), "g".into()],
        (0..n)
            .map(|i| {
                vec![
                    Some((i + n / 2).to_string()),
                    Some(((i * 104_729) % 1000).to_string()),
                    Some(format!("g{:02}", (i * 7919) % groups.max(1))),
                ]
            })
            .collect(),
    )?;
    Ok((a, b))
}

/// A party's task's result, its panic or cancellation as an error.
async fn joined<T>(task: tokio::task::JoinHandle<Result<T, SqlError>>) -> anyhow::Result<T> {
    Ok(task.await??)
}

async fn bench(args: BenchArgs, out: &Output) -> anyhow::Result<()> {
    crate::init_tracing();
    let dir = tempfile::tempdir()?;
    let tls: Vec<Arc<TlsMaterial>> = bench_pki(dir.path())?.into_iter().map(Arc::new).collect();
    let name = |i: usize| format!("node.{}.sql.test", PARTIES[i]);
    let mut rows = Vec::new();
    for &n in &args.rows {
        let (a, b) = bench_tables(n, args.groups)?;
        let (query, schemas) = if args.no_join {
            ("SELECT g, SUM(x) FROM b GROUP BY g", vec![b.schema.clone()])
        } else {
            (
                "SELECT a.g, SUM(b.x) FROM a JOIN b ON a.id = b.id GROUP BY a.g",
                vec![a.schema.clone(), b.schema.clone()],
            )
        };
        let mut listeners = Vec::new();
        for _ in 0..4 {
            listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await?);
        }
        let addr = |l: &tokio::net::TcpListener| l.local_addr().map(|a| a.to_string());
        let psi_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let owners: Vec<Endpoint> = (0..schemas.len())
            .map(|t| Endpoint {
                name: name(t),
                addr: format!("127.0.0.1:{}", psi_port),
            })
            .collect();
        let job = Arc::new(Job {
            session: format!("bench-{n}"),
            query: query.into(),
            schemas,
            owners,
            nodes: (0..3)
                .map(|i| {
                    Ok(Endpoint {
                        name: name(2 + i),
                        addr: addr(&listeners[i])?,
                    })
                })
                .collect::<std::io::Result<_>>()?,
            analyst: Endpoint {
                name: name(5),
                addr: addr(&listeners[3])?,
            },
            timeout_secs: Some(1800),
            psi_protocol: Some(args.psi.clone()),
        });
        let cpu0 = cpu_seconds();
        let start = Instant::now();
        let analyst_l = listeners.pop().context("listener")?;
        let mut nodes = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            let (job, tls) = (job.clone(), tls[2 + i].clone());
            nodes.push(tokio::spawn(async move { net::run_node(&job, i, l, &tls).await }));
        }
        let analyst = {
            let (job, tls) = (job.clone(), tls[5].clone());
            tokio::spawn(async move { net::run_analyst(&job, analyst_l, &tls).await })
        };
        let tables: Vec<Table> = if args.no_join { vec![b] } else { vec![a, b] };
        let mut owners = Vec::new();
        for (t, table) in tables.into_iter().enumerate() {
            let (job, tls) = (job.clone(), tls[t].clone());
            owners.push(tokio::spawn(async move {
                let allow = |_: GateAsk<'_>| Ok::<(), SqlError>(());
                net::run_owner(&job, t, &table, &tls, &allow).await
            }));
        }
        // Stop at the first party that fails, whichever it is: the others would wait for it
        // until their timeouts.
        let (owner_reports, node_reports, result) = tokio::try_join!(
            futures_util::future::try_join_all(owners.into_iter().map(joined)),
            futures_util::future::try_join_all(nodes.into_iter().map(joined)),
            joined(analyst),
        )?;
        let psi_intersection = owner_reports.iter().find_map(|r| r.intersection);
        let owner_bytes: u64 = owner_reports.iter().map(|r| r.bytes_sent).sum();
        let node_bytes: u64 = node_reports.iter().map(|r| r.bytes_sent).sum();
        let rounds = node_reports.iter().map(|r| r.rounds).max().unwrap_or(0);
        let wall = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let row = json!({
            "rows_per_table": n,
            "join": !args.no_join,
            "groups": result.rows.len(),
            "intersection": psi_intersection,
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "owner_bytes_sent": owner_bytes,
            "node_bytes_sent": node_bytes,
            "rounds": rounds,
        });
        if !out.json {
            eprintln!("{n} rows: {wall:.2} s wall, {cpu:.2} CPU s");
        }
        rows.push(row);
    }
    out.show(&rows, || {
        let mut t = table(&[
            "rows/table",
            "join",
            "groups",
            "intersection",
            "wall s",
            "CPU s",
            "owners sent",
            "nodes sent",
            "rounds",
        ]);
        for r in &rows {
            t.add_row(vec![
                r["rows_per_table"].to_string(),
                r["join"].to_string(),
                r["groups"].to_string(),
                r["intersection"].to_string(),
                format!("{:.2}", r["wall_seconds"].as_f64().unwrap_or(0.0)),
                format!("{:.2}", r["cpu_seconds"].as_f64().unwrap_or(0.0)),
                format!("{:.1} MiB", r["owner_bytes_sent"].as_f64().unwrap_or(0.0) / 1048576.0),
                format!("{:.1} MiB", r["node_bytes_sent"].as_f64().unwrap_or(0.0) / 1048576.0),
                r["rounds"].to_string(),
            ]);
        }
        outln!("{t}");
    })
}
