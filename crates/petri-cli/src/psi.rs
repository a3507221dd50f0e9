//! `petri psi ...`: private set intersection between two organisations, standalone (`run`), as a
//! petri executor (`executor`), and measured (`bench`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use petri_crypto::PrivateKey;
use petri_pki::tls::{TlsFiles, TlsMaterial};
use petri_psi::{Link, Mode, Params, Protocol, Reveal, Role, Source};
use petri_sdk::Env;
use serde_json::json;

use crate::output::Output;

#[derive(Subcommand)]
pub(crate) enum PsiCmd {
    /// Run one party of a session with a peer over mutual TLS.
    Run(Box<RunArgs>),
    /// Run a `psi` executor: answer `psi` processes for one dataset, as its policy allows.
    Executor(Box<ExecutorArgs>),
    /// Measure sessions of several sizes: two `petri psi run` processes over loopback mTLS.
    Bench(BenchArgs),
}

#[derive(Args, Clone)]
pub(crate) struct TlsArgs {
    /// The petri root certificate (`ca.pem` of `petri pki node`).
    #[arg(long, env = "PETRI_PSI_CA")]
    ca: PathBuf,
    /// This node's certificate chain.
    #[arg(long, env = "PETRI_PSI_CERT")]
    cert: PathBuf,
    /// This node's private key.
    #[arg(long, env = "PETRI_PSI_KEY")]
    key: PathBuf,
    /// CRLs to honour.
    #[arg(long = "crl", env = "PETRI_PSI_CRL")]
    crls: Vec<PathBuf>,
}

impl TlsArgs {
    fn load(&self) -> anyhow::Result<TlsMaterial> {
        Ok(TlsMaterial::load(&TlsFiles {
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            crls: self.crls.clone(),
        })?)
    }
}

#[derive(Args, Clone)]
pub(crate) struct SourceArgs {
    /// A CSV file with a header row.
    #[arg(long, env = "PETRI_PSI_INPUT")]
    input: Option<PathBuf>,
    /// The key column of the CSV file.
    #[arg(long, env = "PETRI_PSI_COLUMN")]
    column: Option<String>,
    /// The payload column (intersection-sum, the sender): non-negative integers.
    #[arg(long, env = "PETRI_PSI_PAYLOAD")]
    payload: Option<String>,
    /// An SQLite file; `--query` gives the key (and payload) as its first (two) column(s).
    #[arg(long, env = "PETRI_PSI_SQLITE")]
    sqlite: Option<PathBuf>,
    /// A PostgreSQL URL; `--query` as for SQLite.
    #[arg(long, env = "PETRI_PSI_POSTGRES")]
    postgres: Option<String>,
    /// The SQL query.
    #[arg(long, env = "PETRI_PSI_QUERY")]
    query: Option<String>,
}

impl SourceArgs {
    fn source(&self) -> anyhow::Result<Source> {
        if let Some(path) = &self.input {
            let column = self.column.clone().context("--input needs --column")?;
            return Ok(Source::Csv {
                path: path.clone(),
                column,
                payload: self.payload.clone(),
            });
        }
        let query = || self.query.clone().context("--sqlite and --postgres need --query");
        if let Some(path) = &self.sqlite {
            return Ok(Source::Sqlite {
                path: path.clone(),
                query: query()?,
            });
        }
        if let Some(url) = &self.postgres {
            return Ok(Source::Postgres {
                url: url.clone(),
                query: query()?,
            });
        }
        bail!("give the keys: --input with --column, or --sqlite/--postgres with --query")
    }
}

#[derive(Args)]
pub(crate) struct RunArgs {
    /// `receiver` learns the intersection (or its size); `sender` holds the payloads in `sum`.
    #[arg(long, env = "PETRI_PSI_ROLE")]
    role: String,
    /// `intersection`, `cardinality` or `sum`.
    #[arg(long, env = "PETRI_PSI_MODE", default_value = "intersection")]
    mode: String,
    /// `ecdh` (every mode), `kkrt` (OT extension: intersection and cardinality, far less CPU
    /// for large sets, more bytes) or `rr22` (VOLE + OKVS: intersection and cardinality, a little
    /// more CPU than kkrt, about a quarter of its bytes); both parties must give the same.
    #[arg(long, env = "PETRI_PSI_PROTOCOL", default_value = "ecdh")]
    protocol: String,
    /// Who learns the intersection or cardinality: `receiver` or `both`.
    #[arg(long, env = "PETRI_PSI_REVEAL", default_value = "receiver")]
    reveal: String,
    /// The session id; both parties must give the same.
    #[arg(long, env = "PETRI_PSI_SESSION")]
    session: String,
    /// Dial the peer at `host:port`.
    #[arg(long, env = "PETRI_PSI_PEER", conflicts_with = "listen")]
    peer: Option<String>,
    /// Listen for the peer on this address.
    #[arg(long, env = "PETRI_PSI_LISTEN")]
    listen: Option<String>,
    /// The name the peer's certificate must carry (default: the host of `--peer`).
    #[arg(long, env = "PETRI_PSI_PEER_NAME")]
    peer_name: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    source: SourceArgs,
    /// Where to write the result: matching rows (intersection), or a one-row CSV of the size
    /// (cardinality) and sum (sum). Default: stdout.
    #[arg(long, env = "PETRI_PSI_OUTPUT")]
    output: Option<PathBuf>,
    /// Seconds to wait for the peer at any step.
    #[arg(long, env = "PETRI_PSI_TIMEOUT", default_value_t = 60)]
    timeout: u64,
    /// Points (ecdh), OPRF rows and values (kkrt) or values (rr22) a frame.
    #[arg(long, env = "PETRI_PSI_CHUNK", default_value_t = 16384)]
    chunk: usize,
    /// Paillier key size of the payload owner (sum), and the smallest the other side accepts.
    #[arg(long, env = "PETRI_PSI_PAILLIER_BITS", default_value_t = 2048)]
    paillier_bits: usize,
    /// Print a JSON summary (sizes, seconds, CPU seconds, bytes) on stderr.
    #[arg(long)]
    stats: bool,
}

#[derive(Args)]
pub(crate) struct ExecutorArgs {
    /// Executor name (default: `psi-<key id prefix>`).
    #[arg(long, env = "PETRI_EXECUTOR_NAME")]
    name: Option<String>,
    /// Executor type processes are matched to.
    #[arg(long, env = "PETRI_EXECUTOR_TYPE", default_value = "psi")]
    kind: String,
    /// The data owner's policy (TOML).
    #[arg(long, env = "PETRI_POLICY")]
    policy: PathBuf,
    /// The dataset name the policy's rules are under.
    #[arg(long, env = "PETRI_PSI_DATASET", default_value = "default")]
    dataset: String,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    tls: TlsArgs,
    /// Where to listen for peers when a process does not say `connect`.
    #[arg(long, env = "PETRI_PSI_LISTEN", default_value = "0.0.0.0:7470")]
    listen: String,
    /// Where matching rows and sums are written.
    #[arg(long, env = "PETRI_PSI_OUTPUT_DIR", default_value = ".")]
    output_dir: PathBuf,
    /// Seconds to wait for the peer at any step.
    #[arg(long, env = "PETRI_PSI_TIMEOUT", default_value_t = 60)]
    timeout: u64,
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Set sizes per side (half of each set is in the intersection).
    #[arg(long, value_delimiter = ',', default_value = "65536,262144,1048576")]
    sizes: Vec<usize>,
    /// `intersection`, `cardinality` or `sum`.
    #[arg(long, default_value = "intersection")]
    mode: String,
    /// `ecdh`, `kkrt` or `rr22`.
    #[arg(long, default_value = "ecdh")]
    protocol: String,
    /// Keep the working folder (PKI, inputs, outputs) here instead of a temporary one.
    #[arg(long)]
    dir: Option<PathBuf>,
}

pub(crate) async fn run(cmd: PsiCmd, out: &Output) -> anyhow::Result<()> {
    match cmd {
        PsiCmd::Run(args) => run_party(*args).await,
        PsiCmd::Executor(args) => run_executor(*args).await,
        PsiCmd::Bench(args) => bench(args, out).await,
    }
}

/// CPU seconds (user + system, all threads) of this process so far, from `/proc/self/stat`.
fn cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some((utime + stime) / 100.0)
}

async fn run_party(args: RunArgs) -> anyhow::Result<()> {
    let role: Role = args.role.parse()?;
    let mode: Mode = args.mode.parse()?;
    let reveal: Reveal = args.reveal.parse()?;
    let protocol: Protocol = args.protocol.parse()?;
    if protocol != Protocol::Ecdh && mode == Mode::Sum {
        bail!("--mode sum runs on --protocol ecdh only");
    }
    let (link, default_name) = match (&args.peer, &args.listen) {
        (Some(peer), None) => {
            let host = peer.rsplit_once(':').map_or(peer.as_str(), |(h, _)| h);
            (
                Link::Dial(peer.clone()),
                Some(host.trim_matches(['[', ']']).to_string()),
            )
        }
        (None, Some(listen)) => (Link::Listen(listen.clone()), None),
        _ => bail!("give --peer host:port to dial the peer, or --listen addr to wait for it"),
    };
    let peer_name = args
        .peer_name
        .clone()
        .or(default_name)
        .context("--listen needs --peer-name: the name the peer's certificate must carry")?;
    let tls = args.tls.load()?;
    let source = args.source.source()?;
    let input = petri_psi::input::read(&source, mode == Mode::Sum && role == Role::Sender).await?;
    if input.duplicates > 0 {
        eprintln!(
            "warning: {} duplicate key(s) merged; {} distinct keys",
            input.duplicates,
            input.keys.len()
        );
    }
    let mut params = Params::new(&args.session, mode, role, reveal);
    params.protocol = protocol;
    params.chunk = args.chunk;
    params.paillier_bits = args.paillier_bits;
    let start = Instant::now();
    let outcome = petri_psi::run_tls(
        &params,
        &input,
        &link,
        &peer_name,
        &tls,
        Duration::from_secs(args.timeout),
    )
    .await?;
    let mut text = Vec::new();
    if let Some(matched) = &outcome.matched {
        input.write_csv(matched, &mut text)?;
    } else if let Some(sum) = &outcome.sum {
        text = format!(
            "intersection_size,intersection_sum\n{},{sum}\n",
            outcome.cardinality.unwrap_or(0)
        )
        .into_bytes();
    } else if let Some(c) = outcome.cardinality {
        text = format!("intersection_size\n{c}\n").into_bytes();
    }
    match &args.output {
        Some(path) if !text.is_empty() => {
            std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
        }
        None if !text.is_empty() => {
            use std::io::Write;
            std::io::stdout().write_all(&text)?;
        }
        _ => {}
    }
    if args.stats {
        let summary = json!({
            "protocol": protocol.as_str(),
            "role": role,
            "mode": mode.as_str(),
            "own": outcome.own,
            "peer": outcome.peer,
            "cardinality": outcome.cardinality,
            "seconds": outcome.seconds,
            "wall_seconds": start.elapsed().as_secs_f64(),
            "cpu_seconds": cpu_seconds(),
            "bytes_sent": outcome.bytes_sent,
            "bytes_received": outcome.bytes_received,
        });
        eprintln!("{summary}");
    }
    Ok(())
}

/// The executor's key and whether it registers itself (as `petri executor he-data` does).
fn identity(env: &Env) -> anyhow::Result<(PrivateKey, Option<PrivateKey>)> {
    match env.colony_prvkey() {
        Ok(owner) => Ok((PrivateKey::generate(), Some(owner))),
        Err(_) => Ok((
            env.prvkey().context("set COLONIES_PRVKEY or COLONIES_COLONY_PRVKEY")?,
            None,
        )),
    }
}

async fn run_executor(args: ExecutorArgs) -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let (key, owner) = identity(&env)?;
    let name = args.name.clone().unwrap_or_else(|| format!("psi-{}", &key.id()[..8]));
    let policy = petri_policy::Policy::load(&args.policy)?;
    eprintln!(
        "policy {} (audit log {})",
        args.policy.display(),
        policy.audit().path().display()
    );
    let psi_owner = petri_psi::executor::PsiOwner {
        dataset: (args.dataset.clone(), args.source.source()?),
        tls: args.tls.load()?,
        policy: std::sync::Arc::new(policy),
        listen: args.listen.clone(),
        output_dir: args.output_dir.clone(),
        timeout: Duration::from_secs(args.timeout),
    };
    let runtime = petri_psi::executor::psi_executor(&env, &name, &args.kind, key, psi_owner);
    runtime.register(owner.as_ref()).await?;
    eprintln!(
        "psi executor {name} registered (id {}); waiting for processes, Ctrl-C to stop",
        runtime.id()
    );
    runtime
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// A root, two organisations and a node each, for loopback benchmarks.
fn bench_pki(dir: &std::path::Path) -> anyhow::Result<()> {
    use petri_pki::{NodeRequest, OrgRequest, Pki, parse_cidr};
    if dir.join("a").join("cert.pem").exists() && dir.join("b").join("cert.pem").exists() {
        // A kept folder from an earlier run: reuse its PKI.
        return Ok(());
    }
    let pki = Pki::init(&dir.join("pki"), "bench root", 2)?;
    for org in ["a", "b"] {
        let dns = format!("{org}.psi.test");
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
        let node_dir = dir.join(org);
        std::fs::create_dir_all(&node_dir)?;
        node.write_to(&node_dir)?;
    }
    Ok(())
}

fn write_set(path: &std::path::Path, n: usize, offset: usize, payload: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "{}", if payload { "id,value" } else { "id" })?;
    for i in offset..offset + n {
        // 16-character identifiers, as customer or patient ids.
        if payload {
            writeln!(w, "id-{i:013},{}", i % 1000)?;
        } else {
            writeln!(w, "id-{i:013}")?;
        }
    }
    Ok(w.flush()?)
}

async fn bench(args: BenchArgs, out: &Output) -> anyhow::Result<()> {
    let mode: Mode = args.mode.parse()?;
    let protocol: Protocol = args.protocol.parse()?;
    if protocol != Protocol::Ecdh && mode == Mode::Sum {
        bail!("--mode sum runs on --protocol ecdh only");
    }
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    bench_pki(&dir)?;
    let exe = std::env::current_exe()?;
    let mut rows = Vec::new();
    for (i, &n) in args.sizes.iter().enumerate() {
        let (ra, sb) = (
            dir.join(format!("receiver-{n}.csv")),
            dir.join(format!("sender-{n}.csv")),
        );
        write_set(&ra, n, 0, false)?;
        write_set(&sb, n, n / 2, mode == Mode::Sum)?;
        let port = 17470 + i as u16 + (std::process::id() % 1000) as u16;
        let spawn = |role: &str, org: &str, link: [&str; 2], input: &std::path::Path, peer: &str| {
            let node = dir.join(org);
            let mut cmd = std::process::Command::new(&exe);
            cmd.args([
                "psi",
                "run",
                "--stats",
                "--role",
                role,
                "--mode",
                mode.as_str(),
                "--protocol",
                protocol.as_str(),
                "--session",
            ])
            .arg(format!("bench-{n}"))
            .args(link)
            .args(["--peer-name", peer, "--column", "id", "--timeout", "300"])
            .arg("--ca")
            .arg(node.join("ca.pem"))
            .arg("--cert")
            .arg(node.join("cert.pem"))
            .arg("--key")
            .arg(node.join("key.pem"))
            .arg("--input")
            .arg(input)
            .arg("--output")
            .arg(dir.join(format!("{role}-{n}.out.csv")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
            if mode == Mode::Sum && role == "sender" {
                cmd.args(["--payload", "value"]);
            }
            cmd.spawn()
        };
        let addr = format!("127.0.0.1:{port}");
        // The 1-minute load average when the run starts: the machine may be shared.
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()));
        let start = Instant::now();
        let receiver = spawn("receiver", "a", ["--listen", &addr], &ra, "node.b.psi.test")?;
        let sender = spawn("sender", "b", ["--peer", &addr], &sb, "node.a.psi.test")?;
        let (r, s) = (receiver.wait_with_output()?, sender.wait_with_output()?);
        let wall = start.elapsed().as_secs_f64();
        let stats = |o: &std::process::Output, who: &str| -> anyhow::Result<serde_json::Value> {
            let text = String::from_utf8_lossy(&o.stderr);
            if !o.status.success() {
                bail!("the {who} failed: {text}");
            }
            let line = text
                .lines()
                .rev()
                .find(|l| l.starts_with('{'))
                .context("no stats line")?;
            Ok(serde_json::from_str(line)?)
        };
        let (r, s) = (stats(&r, "receiver")?, stats(&s, "sender")?);
        let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        let bytes = f(&r, "bytes_sent") + f(&s, "bytes_sent");
        let row = json!({
            "n": n,
            "protocol": protocol.as_str(),
            "mode": mode.as_str(),
            "wall_seconds": wall,
            "session_seconds": f(&r, "seconds").max(f(&s, "seconds")),
            "cpu_receiver": f(&r, "cpu_seconds"),
            "cpu_sender": f(&s, "cpu_seconds"),
            "us_per_element_per_party": (f(&r, "cpu_seconds") + f(&s, "cpu_seconds")) / 2.0 / n as f64 * 1e6,
            "bytes_total": bytes,
            "bytes_per_element": bytes / n as f64,
            "cardinality": r["cardinality"].clone(),
            "load_average": load,
        });
        if !out.json {
            outln!(
                "{} n={n} wall {:.2}s cpu receiver {:.2}s sender {:.2}s ({:.1} µs/element/party) {:.1} B/element, |∩|={}",
                protocol.as_str(),
                wall,
                f(&r, "cpu_seconds"),
                f(&s, "cpu_seconds"),
                row["us_per_element_per_party"].as_f64().unwrap_or(f64::NAN),
                bytes / n as f64,
                r["cardinality"]
            );
        }
        rows.push(row);
    }
    if out.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
    }
    Ok(())
}
