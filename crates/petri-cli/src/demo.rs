//! `petri demo secure-sum`: seed 000's secure sum in one command. Starts a dev broker (a child
//! `petri dev` with its own SQLite file and log), two hospital executors and the cloud executor,
//! submits the three-node workflow of `examples/secure-sum/workflow.json`, waits, decrypts the
//! cloud's output with the analyst's key (which never leaves this process) and prints the total.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use petri_api::model::{FunctionSpec, Process, WorkflowSpec, state};
use petri_crypto::PrivateKey;
use petri_he_executors::{DataSource, PUBKEY_KWARG};
use petri_paillier::Number;
use petri_paillier::wire::collect_ciphertexts;
use petri_sdk::{Client, Env};
use serde_json::{Value, json};

use crate::dev::{DEV_COLONY_PRVKEY, DEV_PRVKEY};
use crate::output::Output;

const WORKFLOW: &str = include_str!("../../../examples/secure-sum/workflow.json");
const R1_DATA: &str = include_str!("../../../examples/secure-sum/r1-patients.csv");
const R2_DATA: &str = include_str!("../../../examples/secure-sum/r2-patients.csv");
const CLOUD_NODE: &str = "cloud:sum_patent_data";

#[derive(Subcommand)]
pub(crate) enum DemoCmd {
    /// Seed 000's secure sum: two hospitals encrypt, the cloud adds ciphertexts, the analyst decrypts.
    SecureSum(SecureSumArgs),
}

#[derive(Args)]
pub(crate) struct SecureSumArgs {
    /// Paillier key size (3072 is phe's default; 2048 keeps the demo quick).
    #[arg(long, default_value_t = 2048)]
    bits: usize,
    /// Port for the dev broker (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Directory for the broker's database and log and the hospitals' data (default: a new
    /// directory under the system's temporary directory). It is kept afterwards.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Hospital r1's data (CSV with a header row; default: the example's r1-patients.csv).
    #[arg(long)]
    r1_csv: Option<PathBuf>,
    /// Hospital r2's data (default: the example's r2-patients.csv).
    #[arg(long)]
    r2_csv: Option<PathBuf>,
    /// The CSV column to sum.
    #[arg(long, default_value = "value")]
    column: String,
    /// Seconds to wait for the workflow.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

/// The broker child; killed when dropped, so an error never leaves it running.
struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn start_broker(dir: &Path, port: u16) -> anyhow::Result<Broker> {
    let exe = std::env::current_exe().context("cannot find the petri binary")?;
    let log = std::fs::File::create(dir.join("broker.log")).context("cannot create broker.log")?;
    let child = std::process::Command::new(exe)
        .args(["dev", "--port", &port.to_string(), "--data-dir"])
        .arg(dir.join("broker"))
        .env(
            "PETRI_LOG",
            std::env::var("PETRI_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start the dev broker")?;
    Ok(Broker(child))
}

async fn wait_alive(client: &Client, broker: &mut Broker) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        if matches!(client.alive().await, Ok(true)) {
            return Ok(());
        }
        if let Some(status) = broker.0.try_wait()? {
            bail!("the dev broker exited with {status} (see broker.log)");
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("the dev broker did not answer within 30 s (see broker.log)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn workflow(pubkey: &str) -> anyhow::Result<WorkflowSpec> {
    let mut specs: Vec<FunctionSpec> =
        serde_json::from_str(WORKFLOW).context("examples/secure-sum/workflow.json is invalid")?;
    for spec in &mut specs {
        spec.kwargs.insert(PUBKEY_KWARG.into(), json!(pubkey));
        spec.conditions.colonyname = "dev".into();
    }
    Ok(WorkflowSpec {
        colonyname: "dev".into(),
        functionspecs: specs,
    })
}

/// The two hospitals' data owners: a mask key each, and a policy each that lets only the demo's
/// user ask, pins the analyst key and the other hospital's mask key, and audits to a file.
fn hospitals(
    dir: &Path,
    analyst: &str,
    initiator: &str,
    csvs: [PathBuf; 2],
    column: &str,
) -> anyhow::Result<[petri_he_executors::DataOwner; 2]> {
    use petri_he_executors::mask::MaskKey;
    let names = ["r1-hospital", "r2-hospital"];
    let keys = [MaskKey::generate(), MaskKey::generate()];
    let mut owners = Vec::new();
    for (i, csv) in csvs.into_iter().enumerate() {
        let (name, peer) = (names[i], names[1 - i]);
        let key_path = dir.join(format!("{name}.mask.key"));
        let _ = std::fs::remove_file(&key_path);
        keys[i].save(&key_path)?;
        // The seed's data: two hospitals, one of them with a single patient. A real deployment
        // keeps the defaults (5 rows, 3 contributors); the masks still keep each hospital's
        // total from the analyst.
        let policy = format!(
            "owner = {name:?}\naudit_log = \"{name}.audit.jsonl\"\nmask_key = \"{name}.mask.key\"\n\n\
             [peers]\n{peer:?} = {:?}\n\n\
             [[dataset]]\nname = \"default\"\ninitiators = [{initiator:?}]\nfunctions = [\"get_patient_data\"]\n\
             analyst_keys = [{analyst:?}]\nmin_cohort = 1\nmin_contributors = 2\n",
            keys[1 - i].public_base64()
        );
        let path = dir.join(format!("{name}.policy.toml"));
        std::fs::write(&path, policy).with_context(|| format!("cannot write {}", path.display()))?;
        let policy = petri_policy::Policy::load(&path)?;
        let source = DataSource::Csv {
            path: csv,
            column: column.to_string(),
        };
        owners.push(petri_he_executors::DataOwner::new(
            name,
            source,
            std::sync::Arc::new(policy),
        )?);
    }
    let [a, b]: [_; 2] = owners
        .try_into()
        .map_err(|_| anyhow::anyhow!("two hospitals expected"))?;
    Ok([a, b])
}

async fn wait_for_cloud(client: &Client, ids: &[String], key: &PrivateKey, timeout: u64) -> anyhow::Result<Process> {
    let start = Instant::now();
    loop {
        for id in ids {
            let p = client.get_process(id, key).await?;
            if p.state == state::FAILED {
                bail!(
                    "process {} ({}) failed: {}",
                    p.processid,
                    p.spec.nodename,
                    p.errors.join("; ")
                );
            }
            if p.spec.nodename == CLOUD_NODE && p.state == state::SUCCESS {
                return Ok(p);
            }
        }
        if start.elapsed() > Duration::from_secs(timeout) {
            bail!("the workflow did not finish within {timeout} s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) async fn run(cmd: DemoCmd, out: &Output) -> anyhow::Result<()> {
    let DemoCmd::SecureSum(args) = cmd;
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("petri-secure-sum-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let r1 = match &args.r1_csv {
        Some(p) => p.clone(),
        None => {
            std::fs::write(dir.join("r1-patients.csv"), R1_DATA)?;
            dir.join("r1-patients.csv")
        }
    };
    let r2 = match &args.r2_csv {
        Some(p) => p.clone(),
        None => {
            std::fs::write(dir.join("r2-patients.csv"), R2_DATA)?;
            dir.join("r2-patients.csv")
        }
    };

    let port = if args.port == 0 { free_port()? } else { args.port };
    let mut broker = start_broker(&dir, port)?;
    let client = Client::new("127.0.0.1", port, false);
    wait_alive(&client, &mut broker).await?;
    eprintln!("dev broker on 127.0.0.1:{port}; database and log in {}", dir.display());

    // The analyst's key pair: the private key stays in this process.
    let bits = args.bits;
    let keys = tokio::task::spawn_blocking(move || petri_paillier::generate_keypair(&mut rand::rng(), bits))
        .await
        .context("key generation stopped")??;
    let pubkey = keys.public.to_seed_base64();
    eprintln!("analyst key: {bits} bits");

    let mut env = Env::default();
    env.host = "127.0.0.1".into();
    env.port = port;
    env.colony = "dev".into();
    let owner = PrivateKey::from_hex(DEV_COLONY_PRVKEY).context("built-in dev key is invalid")?;
    let user = PrivateKey::from_hex(DEV_PRVKEY).context("built-in dev key is invalid")?;
    let column = args.column.clone();
    let fingerprint = petri_he_executors::key_fingerprint(&keys.public);
    let [r1_owner, r2_owner] = hospitals(&dir, &fingerprint, &user.id(), [r1, r2], &column)?;
    let runtimes = vec![
        petri_he_executors::data_executor(
            &env,
            "r1-hospital",
            "r1-hospital_executor",
            PrivateKey::generate(),
            "get_patient_data",
            r1_owner,
        ),
        petri_he_executors::data_executor(
            &env,
            "r2-hospital",
            "r2-hospital_executor",
            PrivateKey::generate(),
            "get_patient_data",
            r2_owner,
        ),
        petri_he_executors::aggregator_executor(
            &env,
            "cloud",
            "cloud-hospital-executor",
            PrivateKey::generate(),
            "sum_patient_data",
        ),
    ];
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for runtime in runtimes {
        runtime.register(Some(&owner)).await?;
        let mut stopped = stop.subscribe();
        tasks.push(tokio::spawn(async move {
            runtime
                .run(async move {
                    let _ = stopped.recv().await;
                })
                .await
        }));
    }
    eprintln!(
        "executors: r1-hospital, r2-hospital (CSV data, masked ciphertexts, policies and audit logs in {}), \
         cloud (adds ciphertexts)",
        dir.display()
    );

    let graph = client.submit_workflow(workflow(&pubkey)?, &user).await?;
    eprintln!("workflow {} submitted", graph.processgraphid);
    let result = wait_for_cloud(&client, &graph.processids, &user, args.timeout).await;
    let _ = stop.send(());
    for task in tasks {
        let _ = task.await;
    }
    drop(broker);
    let cloud = result?;

    let mut values = Vec::new();
    for w in collect_ciphertexts(&Value::Array(cloud.output.clone()))? {
        let c = keys.public.from_wire(&w)?;
        values.push((w.label.clone(), keys.private.decrypt(&c)?));
    }
    let find = |l: &str| {
        values
            .iter()
            .find(|(label, _)| label.as_deref() == Some(l) || (l == "sum" && label.is_none()))
    };
    let sum = find("sum")
        .map(|(_, v)| v.clone())
        .context("the cloud returned no sum")?;
    let count = find("count").map(|(_, v)| v.clone());
    let mean = count
        .as_ref()
        .filter(|c| c.to_f64() > 0.0)
        .map(|c| sum.to_f64() / c.to_f64());
    let show = |v: &Number| match v {
        Number::Int(i) => json!(i.to_string()),
        Number::Float(f) => json!(f),
    };
    out.show(
        &json!({
            "sum": show(&sum),
            "count": count.as_ref().map(show),
            "mean": mean,
            "workflow": graph.processgraphid,
            "data_dir": dir,
        }),
        || {
            outln!("The sum of all patient data is: {sum}");
            if let (Some(c), Some(m)) = (&count, mean) {
                outln!("Patients: {c}, mean: {m:?}");
            }
        },
    )
}
