//! A whole deployment on one machine, for examples, tests and benchmarks: a fresh PKI, data and
//! result nodes, three compute nodes (in this process, or as separate `petri mpc node`
//! processes) on distinct loopback addresses, and an orchestrator certificate. Everything talks
//! mutual TLS exactly as a real deployment does, and every data node answers under a policy
//! written for the programs the cluster is started for (`DIR/policies/NAME.policy.toml`, with
//! its audit log beside it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use petri_pki::tls::TlsFiles;
use petri_pki::{NodeRequest, OrgRequest, Pki, parse_cidr};
use petri_policy::Policy;
use tokio::net::TcpListener;

use crate::data::{Datasets, Results, Revealed};
use crate::orchestrate::{NodeOutcome, run_session};
use crate::program::Program;
use crate::{ComputeConfig, ComputeNode, DataNode, NetError, NodeTls, Result, serve_compute, serve_data};

/// The certificate name of a local cluster's orchestrator, which its compute nodes obey and its
/// data nodes' policies list as the initiator.
pub const ORCHESTRATOR: &str = "orchestrator.local.test";

/// Where the compute nodes run.
#[derive(Clone, Debug)]
pub enum ComputeMode {
    /// As tasks of this process.
    InProcess,
    /// As three processes of this `petri` executable (`petri mpc node`), logging to the cluster
    /// directory.
    Processes(PathBuf),
}

/// A running local deployment. Child processes are stopped when it is dropped.
pub struct LocalCluster {
    dir: PathBuf,
    compute: [String; 3],
    orchestrator: NodeTls,
    results: HashMap<String, Results>,
    children: Vec<Child>,
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

const COMPUTE_IPS: [&str; 3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];

impl LocalCluster {
    /// Starts data nodes for `data` (name → datasets), result-only nodes for `result_only`, and
    /// three compute nodes, with all certificates under `dir`.
    /// Each data node's policy lets the cluster's orchestrator run the programs of `allowed`
    /// that read from it (pinning their hashes and result nodes), over at least as few rows as
    /// its smallest value has (at most [`petri_policy::DEFAULT_MIN_COHORT`]).
    pub async fn start(
        dir: &Path,
        data: Vec<(String, Datasets)>,
        result_only: Vec<String>,
        mode: ComputeMode,
        allowed: &[&[u8]],
    ) -> Result<LocalCluster> {
        let allowed = allowed
            .iter()
            .map(|p| Program::parse(p).map_err(NetError::Config))
            .collect::<Result<Vec<_>>>()?;
        let pki = Pki::init(&dir.join("pki"), "petri local root", 2)?;
        pki.create_org(&OrgRequest {
            name: "local".into(),
            dns: vec!["local.test".into()],
            ip_ranges: vec![parse_cidr("127.0.0.0/8")?],
            days: 2,
        })?;
        let issue_named = |name: &str, ip: &str, dns: Vec<String>| -> Result<TlsFiles> {
            let out = dir.join("nodes").join(name);
            let ip = ip
                .parse()
                .map_err(|_| NetError::Config(format!("{ip} is not an IP address")))?;
            pki.issue_node(
                "local",
                &NodeRequest {
                    name: name.into(),
                    dns,
                    ips: vec![ip],
                    days: 2,
                },
            )?
            .write_to(&out)?;
            Ok(TlsFiles {
                ca: out.join("ca.pem"),
                cert: out.join("cert.pem"),
                key: out.join("key.pem"),
                crls: pki.crl_paths()?,
            })
        };
        let issue = |name: &str, ip: &str| issue_named(name, ip, Vec::new());
        let mut addrs = HashMap::new();
        let mut results = HashMap::new();
        let nodes: Vec<(String, Datasets)> = data
            .into_iter()
            .chain(result_only.into_iter().map(|n| (n, Datasets::new())))
            .collect();
        for (i, (name, datasets)) in nodes.into_iter().enumerate() {
            if addrs.contains_key(&name) {
                continue;
            }
            let ip = format!("127.0.1.{}", i + 1);
            let files = issue(&format!("data-{name}"), &ip)?;
            let listener = bind(&format!("{ip}:0")).await?;
            addrs.insert(name.clone(), local_addr(&listener)?);
            let policy = if datasets.is_empty() {
                None
            } else {
                let path = write_policy(&dir.join("policies"), &name, &datasets, &allowed)?;
                Some(Arc::new(
                    Policy::load(&path).map_err(|e| NetError::Config(e.to_string()))?,
                ))
            };
            let node = DataNode::new(&name, datasets, policy, COMPUTE_IPS.map(String::from), None)
                .map_err(NetError::Config)?;
            results.insert(name.clone(), node.results());
            tokio::spawn(serve_data(
                listener,
                NodeTls::load(&files)?,
                node,
                std::future::pending(),
            ));
        }
        // Every compute node knows the three addresses before any starts.
        let mut listeners = Vec::new();
        let mut compute = Vec::new();
        for ip in COMPUTE_IPS {
            match &mode {
                ComputeMode::InProcess => {
                    let listener = bind(&format!("{ip}:0")).await?;
                    compute.push(local_addr(&listener)?);
                    listeners.push(Some(listener));
                }
                ComputeMode::Processes(_) => {
                    let port = std::net::TcpListener::bind(format!("{ip}:0"))
                        .and_then(|l| l.local_addr())
                        .map_err(|e| NetError::Config(format!("cannot bind {ip}: {e}")))?
                        .port();
                    compute.push(format!("{ip}:{port}"));
                    listeners.push(None);
                }
            }
        }
        let nodes = [compute[0].clone(), compute[1].clone(), compute[2].clone()];
        let mut children = Vec::new();
        for (i, (ip, listener)) in COMPUTE_IPS.iter().zip(listeners).enumerate() {
            let files = issue(&format!("compute{i}"), ip)?;
            match (listener, &mode) {
                (Some(listener), _) => {
                    let tls = NodeTls::load(&files)?;
                    let node = ComputeNode::new(
                        tls.clone(),
                        ComputeConfig {
                            party: i,
                            nodes: nodes.clone(),
                            orchestrators: vec![ORCHESTRATOR.into()],
                            initiators: Vec::new(),
                            data_nodes: addrs.clone(),
                            result_nodes: addrs.clone(),
                            peer_timeout: Duration::from_secs(60),
                        },
                    )?;
                    tokio::spawn(serve_compute(listener, tls, node, std::future::pending()));
                }
                (None, ComputeMode::InProcess) => {
                    return Err(NetError::Config("internal: no listener for an in-process node".into()));
                }
                (None, ComputeMode::Processes(exe)) => {
                    let log_path = dir.join(format!("compute{i}.log"));
                    let log = std::fs::File::create(&log_path)
                        .map_err(|e| NetError::Config(format!("{}: {e}", log_path.display())))?;
                    let mut cmd = Command::new(exe);
                    cmd.args(["mpc", "node", "--listen", &nodes[i], "--peer-timeout", "600"]);
                    cmd.arg("--party-id").arg(i.to_string());
                    for node in &nodes {
                        cmd.arg("--node").arg(node);
                    }
                    cmd.arg("--orchestrator").arg(ORCHESTRATOR);
                    for (name, addr) in &addrs {
                        cmd.arg("--data").arg(format!("{name}={addr}"));
                        cmd.arg("--result").arg(format!("{name}={addr}"));
                    }
                    cmd.arg("--ca").arg(&files.ca);
                    cmd.arg("--cert").arg(&files.cert);
                    cmd.arg("--key").arg(&files.key);
                    for crl in &files.crls {
                        cmd.arg("--crl").arg(crl);
                    }
                    let child = cmd
                        .env("PETRI_LOG", "warn")
                        .stdout(Stdio::null())
                        .stderr(log)
                        .spawn()
                        .map_err(|e| NetError::Config(format!("cannot start {}: {e}", exe.display())))?;
                    children.push(child);
                }
            }
        }
        let orchestrator = NodeTls::load(&issue_named("orchestrator", "127.0.0.9", vec![ORCHESTRATOR.into()])?)?;
        let cluster = LocalCluster {
            dir: dir.to_path_buf(),
            compute: nodes,
            orchestrator,
            results,
            children,
        };
        cluster.wait_ready(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        for node in &self.compute {
            let (host, port) = crate::tls::split_host_port(node)?;
            let deadline = Instant::now() + timeout;
            loop {
                match self.orchestrator.channel(&host, port, Duration::from_secs(2)).await {
                    Ok(_) => break,
                    Err(e) if Instant::now() > deadline => {
                        return Err(NetError::Remote(format!(
                            "compute node {node} did not start (logs in {}): {e}",
                            self.dir.display()
                        )));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        Ok(())
    }

    /// The compute nodes' addresses, in party order.
    pub fn compute(&self) -> &[String; 3] {
        &self.compute
    }

    /// The orchestrator's TLS setup.
    pub fn orchestrator(&self) -> &NodeTls {
        &self.orchestrator
    }

    /// The root certificate of the cluster's PKI.
    pub fn root_cert(&self) -> PathBuf {
        self.dir.join("pki/root/ca.pem")
    }

    /// The policy file of data node `name` (its audit log is `NAME.audit.jsonl` beside it).
    pub fn policy_path(&self, name: &str) -> PathBuf {
        self.dir.join("policies").join(format!("{name}.policy.toml"))
    }

    /// Runs one session.
    pub async fn run(
        &self,
        program: &[u8],
        data_key: &str,
        session: &str,
        timeout: Duration,
    ) -> Result<Vec<NodeOutcome>> {
        run_session(&self.orchestrator, &self.compute, program, data_key, session, timeout).await
    }

    /// What the result node `node` learned in `session` (output name → value).
    pub fn results(&self, node: &str, session: &str) -> HashMap<String, Revealed> {
        self.results
            .get(node)
            .and_then(|r| r.lock().ok().and_then(|r| r.get(session).cloned()))
            .unwrap_or_default()
    }

    /// Every result node's results for `session`.
    pub fn all_results(&self, session: &str) -> Vec<(String, HashMap<String, Revealed>)> {
        let mut names: Vec<&String> = self.results.keys().collect();
        names.sort();
        names
            .into_iter()
            .map(|n| (n.clone(), self.results(n, session)))
            .filter(|(_, r)| !r.is_empty())
            .collect()
    }
}

/// Writes data node `name`'s policy for `datasets` into `dir`: the cluster's orchestrator may run
/// the programs of `allowed` that read from it, sending outputs to their result nodes.
fn write_policy(dir: &Path, name: &str, datasets: &Datasets, allowed: &[Program]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| NetError::Config(format!("{}: {e}", dir.display())))?;
    let path = dir.join(format!("{name}.policy.toml"));
    std::fs::write(&path, policy_text(name, datasets, allowed))
        .map_err(|e| NetError::Config(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// The text of the policy [`LocalCluster::start`] writes for data node `name`.
pub fn policy_text(name: &str, datasets: &Datasets, allowed: &[Program]) -> String {
    // A JSON string is a valid TOML basic string.
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let list = |items: &[String]| items.iter().map(|i| q(i)).collect::<Vec<_>>().join(", ");
    let reading: Vec<&Program> = allowed.iter().filter(|p| !p.values_from(name).is_empty()).collect();
    let hashes: Vec<String> = reading.iter().map(|p| p.hash()).collect();
    let mut recipients: Vec<String> = reading.iter().flat_map(|p| p.recipients()).collect();
    recipients.sort();
    recipients.dedup();
    let mut text = format!(
        "# Written by the local cluster for data node {name}.\nowner = {}\naudit_log = {}\n",
        q(name),
        q(&format!("{name}.audit.jsonl"))
    );
    let mut keys: Vec<&String> = datasets.keys().collect();
    keys.sort();
    for key in keys {
        let rows = datasets[key].iter().map(|(_, v)| v.len()).min().unwrap_or(1);
        text.push_str(&format!(
            "\n[[dataset]]\nname = {}\ninitiators = [{}]\nprograms = [{}]\nrecipients = [{}]\nmin_cohort = {}\n",
            q(key),
            q(ORCHESTRATOR),
            list(&hashes),
            list(&recipients),
            rows.clamp(1, petri_policy::DEFAULT_MIN_COHORT)
        ));
    }
    text
}

async fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| NetError::Config(format!("cannot listen on {addr}: {e}")))
}

fn local_addr(l: &TcpListener) -> Result<String> {
    l.local_addr()
        .map(|a| a.to_string())
        .map_err(|e| NetError::Config(e.to_string()))
}

/// An example directory: `program.json`, one `NAME.data.json` per data node (dataset key
/// `example`), and optionally `expected.json` (result node → output → values) for tests.
pub struct Example {
    /// The program.
    pub program: Vec<u8>,
    /// Data nodes and their datasets.
    pub data: Vec<(String, Datasets)>,
    /// Result nodes that hold no data.
    pub result_only: Vec<String>,
    /// The expected results, if the example states them.
    pub expected: Option<serde_json::Value>,
}

impl Example {
    /// Reads an example directory.
    pub fn load(dir: &Path) -> Result<Example> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| NetError::Config(format!("{}: {e}", p.display())));
        let program = read(&dir.join("program.json"))?;
        let parsed = crate::program::Program::parse(&program)
            .map_err(|e| NetError::Config(format!("{}: {e}", dir.join("program.json").display())))?;
        let mut data = Vec::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| NetError::Config(format!("{}: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            let Some(name) = path
                .file_name()
                .and_then(|f| f.to_str())
                .and_then(|f| f.strip_suffix(".data.json"))
            else {
                continue;
            };
            let text = String::from_utf8(read(&path)?)
                .map_err(|_| NetError::Config(format!("{} is not UTF-8", path.display())))?;
            let datasets =
                crate::data::load_data(&text).map_err(|e| NetError::Config(format!("{}: {e}", path.display())))?;
            data.push((name.to_string(), datasets));
        }
        let result_only = parsed
            .outputs
            .iter()
            .map(|o| o.to.clone())
            .filter(|to| !data.iter().any(|(n, _)| n == to))
            .collect();
        let expected_path = dir.join("expected.json");
        let expected = if expected_path.exists() {
            Some(
                serde_json::from_slice(&read(&expected_path)?)
                    .map_err(|e| NetError::Config(format!("{}: {e}", expected_path.display())))?,
            )
        } else {
            None
        };
        Ok(Example {
            program,
            data,
            result_only,
            expected,
        })
    }
}
