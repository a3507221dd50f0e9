//! Three compute nodes, data nodes and an orchestrator on loopback addresses, all over mutual TLS.
//! `attacks` holds the attacks on MPC sessions, each written as the attack.

#[path = "integration/attacks.rs"]
mod attacks;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use petri_mpc_net::data::{Results, load_data};
use petri_mpc_net::orchestrate::run_session;
use petri_mpc_net::program::Program;
use petri_mpc_net::proto::party_service_client::PartyServiceClient;
use petri_mpc_net::proto::{
    Address, CreateSessionRequest, CreateSessionResult, DataRequest, RegisterGraphRequest, RegisterGraphResult,
};
use petri_mpc_net::{ComputeConfig, ComputeNode, DataNode, NodeTls, serve_compute, serve_data};
use petri_pki::tls::TlsFiles;
use petri_pki::{NodeRequest, OrgRequest, Pki, parse_cidr};
use petri_policy::Policy;
use tokio::net::TcpListener;

/// The orchestrator's certificate name, which the compute nodes obey and the policies list.
const ORCHESTRATOR: &str = "orchestrator.federation.test";
/// A second orchestrator the compute nodes obey but no data owner lists.
const OTHER_ORCHESTRATOR: &str = "other.federation.test";
/// The key id of the workflow initiator the compute nodes obey and the policies list.
const INITIATOR: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// Certificates for node `ip` (and DNS names `dns`) under org `org`.
fn issue_named(pki: &Pki, dir: &Path, org: &str, name: &str, ip: &str, dns: &[&str]) -> TlsFiles {
    let out = dir.join(name);
    pki.issue_node(
        org,
        &NodeRequest {
            name: name.into(),
            dns: dns.iter().map(|d| d.to_string()).collect(),
            ips: vec![ip.parse().unwrap()],
            days: 2,
        },
    )
    .unwrap()
    .write_to(&out)
    .unwrap();
    TlsFiles {
        ca: out.join("ca.pem"),
        cert: out.join("cert.pem"),
        key: out.join("key.pem"),
        crls: pki.crl_paths().unwrap(),
    }
}

fn issue(pki: &Pki, dir: &Path, org: &str, name: &str, ip: &str) -> TlsFiles {
    issue_named(pki, dir, org, name, ip, &[])
}

struct Cluster {
    _tmp: tempfile::TempDir,
    compute: [String; 3],
    compute_nodes: Vec<ComputeNode>,
    /// The compute nodes' TLS files, to act as a compute node that turned rogue.
    compute_files: Vec<TlsFiles>,
    orchestrator: NodeTls,
    /// Obeyed by the compute nodes, listed by no policy.
    other_orchestrator: NodeTls,
    /// A certificate under the same root that is no orchestrator.
    stranger: NodeTls,
    data_nodes: HashMap<String, DataNode>,
    data_addrs: HashMap<String, String>,
    results: HashMap<String, Results>,
    pki_dir: PathBuf,
}

const DATA: [(&str, &str, &str); 3] = [
    (
        "alice",
        "127.0.0.4",
        r#"{"millionaires": {"wealth": {"type": "u32", "value": 3000}},
            "hospitals": {"stays": {"type": "u32", "value": [3, 4, 10]}},
            "array": {"x": {"type": "i32", "value": [5, -3, 17, 0, 9, -20, 4]}}}"#,
    ),
    (
        "bob",
        "127.0.0.5",
        r#"{"millionaires": {"wealth": {"type": "u32", "value": 2718281828}},
            "hospitals": {"stays": {"type": "u32", "value": [7, 1]}}}"#,
    ),
    (
        "carol",
        "127.0.0.6",
        r#"{"hospitals": {"stays": {"type": "u32", "value": [2, 2, 2, 2]}}}"#,
    ),
];

/// Every data node's policy: on each of its datasets, the orchestrator and the workflow
/// initiator may run the programs of `allowed` that read from the node, over one row or more.
fn policy_for(dir: &Path, name: &str, datasets: &[&str], allowed: &[&str]) -> Arc<Policy> {
    let programs: Vec<Program> = allowed.iter().map(|p| Program::parse(p.as_bytes()).unwrap()).collect();
    let reading: Vec<&Program> = programs.iter().filter(|p| !p.values_from(name).is_empty()).collect();
    let hashes: Vec<String> = reading.iter().map(|p| format!("{:?}", p.hash())).collect();
    let mut recipients: Vec<String> = reading.iter().flat_map(|p| p.recipients()).collect();
    recipients.sort();
    recipients.dedup();
    let recipients: Vec<String> = recipients.iter().map(|r| format!("{r:?}")).collect();
    let mut text = format!("owner = {name:?}\naudit_log = \"{name}.audit.jsonl\"\n");
    for d in datasets {
        text.push_str(&format!(
            "[[dataset]]\nname = {d:?}\ninitiators = [{ORCHESTRATOR:?}, {INITIATOR:?}]\nprograms = [{}]\nrecipients = [{}]\nmin_cohort = 1\n",
            hashes.join(", "),
            recipients.join(", ")
        ));
    }
    let path = dir.join(format!("{name}.policy.toml"));
    std::fs::write(&path, text).unwrap();
    Arc::new(Policy::load(&path).unwrap())
}

/// A federation whose data owners allow the programs of `allowed`.
async fn cluster(allowed: &[&str]) -> Cluster {
    let tmp = tempfile::tempdir().unwrap();
    let pki_dir = tmp.path().join("pki");
    let pki = Pki::init(&pki_dir, "test root", 2).unwrap();
    pki.create_org(&OrgRequest {
        name: "federation".into(),
        dns: vec!["federation.test".into()],
        ip_ranges: vec![parse_cidr("127.0.0.0/8").unwrap()],
        days: 2,
    })
    .unwrap();
    let mut data_addrs = HashMap::new();
    let mut results = HashMap::new();
    let mut data_nodes = HashMap::new();
    let compute_ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    for (name, ip, text) in DATA {
        let files = issue(&pki, tmp.path(), "federation", name, ip);
        let listener = TcpListener::bind(format!("{ip}:0")).await.unwrap();
        data_addrs.insert(name.to_string(), listener.local_addr().unwrap().to_string());
        let datasets = load_data(text).unwrap();
        let keys: Vec<&str> = datasets.keys().map(String::as_str).collect();
        let policy = policy_for(tmp.path(), name, &keys, allowed);
        let node = DataNode::new(name, datasets, Some(policy), compute_ips.map(String::from), None).unwrap();
        results.insert(name.to_string(), node.results());
        data_nodes.insert(name.to_string(), node.clone());
        let tls = NodeTls::load(&files).unwrap();
        tokio::spawn(serve_data(listener, tls, node, std::future::pending()));
    }
    let mut listeners = Vec::new();
    let mut compute = Vec::new();
    for ip in compute_ips {
        let listener = TcpListener::bind(format!("{ip}:0")).await.unwrap();
        compute.push(listener.local_addr().unwrap().to_string());
        listeners.push(listener);
    }
    let nodes = [compute[0].clone(), compute[1].clone(), compute[2].clone()];
    let mut compute_nodes = Vec::new();
    let mut compute_files = Vec::new();
    for (i, (ip, listener)) in compute_ips.iter().zip(listeners).enumerate() {
        let files = issue(&pki, tmp.path(), "federation", &format!("compute{i}"), ip);
        let tls = NodeTls::load(&files).unwrap();
        let node = ComputeNode::new(
            tls.clone(),
            ComputeConfig {
                party: i,
                nodes: nodes.clone(),
                orchestrators: vec![ORCHESTRATOR.into(), OTHER_ORCHESTRATOR.into()],
                initiators: vec![INITIATOR.into()],
                data_nodes: data_addrs.clone(),
                result_nodes: data_addrs.clone(),
                peer_timeout: Duration::from_secs(5),
            },
        )
        .unwrap();
        compute_nodes.push(node.clone());
        compute_files.push(files);
        tokio::spawn(serve_compute(listener, tls, node, std::future::pending()));
    }
    let load = |name: &str, ip: &str, dns: &[&str]| {
        NodeTls::load(&issue_named(&pki, tmp.path(), "federation", name, ip, dns)).unwrap()
    };
    let orchestrator = load("orchestrator", "127.0.0.9", &[ORCHESTRATOR]);
    let other_orchestrator = load("other", "127.0.0.10", &[OTHER_ORCHESTRATOR]);
    let stranger = load("stranger", "127.0.0.8", &["stranger.federation.test"]);
    Cluster {
        _tmp: tmp,
        compute: nodes,
        compute_nodes,
        compute_files,
        orchestrator,
        other_orchestrator,
        stranger,
        data_nodes,
        data_addrs,
        results,
        pki_dir,
    }
}

impl Cluster {
    async fn run(&self, program: &str, key: &str, session: &str) -> Vec<petri_mpc_net::orchestrate::NodeOutcome> {
        run_session(
            &self.orchestrator,
            &self.compute,
            program.as_bytes(),
            key,
            session,
            Duration::from_secs(60),
        )
        .await
        .unwrap()
    }

    fn result(&self, node: &str, session: &str, output: &str) -> Option<Vec<serde_json::Value>> {
        let results = self.results[node].lock().unwrap();
        results
            .get(session)
            .and_then(|s| s.get(output))
            .map(|r| r.values.clone())
    }

    /// A PartyService client to compute node `party` with `tls`.
    async fn client(&self, tls: &NodeTls, party: usize) -> PartyServiceClient<tonic::transport::Channel> {
        let (host, port) = petri_mpc_net::tls::split_host_port(&self.compute[party]).unwrap();
        PartyServiceClient::new(tls.channel(&host, port, Duration::from_secs(5)).await.unwrap())
    }

    /// The compute nodes' addresses as a CreateSession lists them.
    fn addresses(&self) -> Vec<Address> {
        self.compute
            .iter()
            .map(|a| {
                let (h, p) = petri_mpc_net::tls::split_host_port(a).unwrap();
                Address {
                    address: h,
                    port: u32::from(p),
                }
            })
            .collect()
    }
}

const ECHO: &str = r#"{"format": "petri-mpc/1", "inputs": [{"name": "wealth", "from": "alice", "type": "u32"}],
  "steps": [], "outputs": [{"value": "wealth", "to": "alice"}]}"#;

const MEDIAN: &str = r#"{"format": "petri-mpc/1",
  "inputs": [{"name": "x", "from": "alice", "type": "i32"}],
  "steps": [{"out": "m", "op": "median", "args": ["x"]},
            {"out": "sorted", "op": "sort", "args": ["x"]},
            {"out": "top", "op": "top_k", "args": ["x"], "k": 2}],
  "outputs": [{"value": "m", "to": "bob"}, {"value": "sorted", "to": "bob"}, {"value": "top", "to": "bob"}]}"#;

const HOSPITALS: &str = r#"{"format": "petri-mpc/1",
  "inputs": [{"name": "a", "from": "alice", "value": "stays", "type": "u32"},
             {"name": "b", "from": "bob", "value": "stays", "type": "u32"},
             {"name": "c", "from": "carol", "value": "stays", "type": "u32"}],
  "steps": [{"out": "stays", "op": "concat", "args": ["a", "b", "c"]},
            {"out": "total", "op": "sum", "args": ["stays"]},
            {"out": "avg", "op": "mean", "args": ["stays"]}],
  "outputs": [{"value": "total", "to": "carol"}, {"value": "avg", "to": "carol"}]}"#;

const MILLIONAIRES: &str = r#"{"format": "petri-mpc/1",
  "inputs": [{"name": "wealth", "from": "alice", "type": "u32"},
             {"name": "wealth_b", "from": "bob", "value": "wealth", "type": "u32"}],
  "steps": [{"out": "alice_richer", "op": "gt", "args": ["wealth", "wealth_b"]}],
  "outputs": [{"value": "alice_richer", "to": "alice"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn input_problems_fail_the_session_with_a_reason() {
    let missing = r#"{"format": "petri-mpc/1",
      "inputs": [{"name": "stays", "from": "alice", "type": "u32"}, {"name": "stays_b", "from": "bob", "type": "u32"}],
      "steps": [], "outputs": [{"value": "stays", "to": "carol"}]}"#;
    let c = cluster(&[ECHO, missing]).await;
    // Two inputs with one name: the program itself is refused.
    let dup = r#"{"format": "petri-mpc/1",
      "inputs": [{"name": "wealth", "from": "alice", "type": "u32"}, {"name": "wealth", "from": "bob", "type": "u32"}],
      "steps": [], "outputs": [{"value": "wealth", "to": "alice"}]}"#;
    let err = run_session(
        &c.orchestrator,
        &c.compute,
        dup.as_bytes(),
        "millionaires",
        "dup",
        Duration::from_secs(10),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("defined twice"), "{err}");
    // bob has no value `stays_b`: every node fails with that reason, none hangs.
    let out = c.run(missing, "hospitals", "missing").await;
    assert!(
        out.iter()
            .all(|o| o.status == "FAILED" && o.error.contains("no value stays_b")),
        "{out:?}"
    );
    // An unknown dataset.
    let out = c.run(ECHO, "nothing-here", "nodata").await;
    assert!(
        out.iter()
            .all(|o| o.status == "FAILED" && o.error.contains("no dataset")),
        "{out:?}"
    );
    // A program without steps reveals the input to the named result node only, when the data
    // owner allows exactly that program (here alice's own value, to alice).
    let out = c.run(ECHO, "millionaires", "echo").await;
    assert!(out.iter().all(|o| o.status == "FINISHED"), "{out:?}");
    assert_eq!(c.result("alice", "echo", "wealth"), Some(vec![3000.into()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn millionaires_median_and_hospitals() {
    let c = cluster(&[MILLIONAIRES, MEDIAN]).await;
    // alice (3000) against bob (2718281828), revealed to alice only.
    let out = c.run(MILLIONAIRES, "millionaires", "m1").await;
    assert!(out.iter().all(|o| o.status == "FINISHED"), "{out:?}");
    assert_eq!(c.result("alice", "m1", "alice_richer"), Some(vec![0.into()]));
    assert_eq!(
        c.result("bob", "m1", "alice_richer"),
        None,
        "only alice learns the result"
    );

    let out = c.run(MEDIAN, "array", "med").await;
    assert!(out.iter().all(|o| o.status == "FINISHED"), "{out:?}");
    assert_eq!(c.result("bob", "med", "m"), Some(vec![4.into()]));
    let sorted: Vec<serde_json::Value> = [-20, -3, 0, 4, 5, 9, 17].map(serde_json::Value::from).to_vec();
    assert_eq!(c.result("bob", "med", "sorted"), Some(sorted));
    assert_eq!(c.result("bob", "med", "top"), Some(vec![17.into(), 9.into()]));
    let stats = out[0].stats.as_ref().unwrap();
    assert!(stats["rounds"].as_u64().unwrap() > 0 && stats["bytes_sent"].as_u64().unwrap() > 0);
    // Every release is in each owner's audit log, whose chain verifies.
    let audit = c.data_nodes["alice"].policy().unwrap().audit().path().to_path_buf();
    let (entries, _) = petri_policy::verify_log(&audit).unwrap();
    assert_eq!(entries, 6, "three parties, two sessions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hospitals_sum_and_mean() {
    let c = cluster(&[HOSPITALS]).await;
    let out = c.run(HOSPITALS, "hospitals", "h1").await;
    assert!(out.iter().all(|o| o.status == "FINISHED"), "{out:?}");
    assert_eq!(c.result("carol", "h1", "total"), Some(vec![33.into()]));
    let avg = c.result("carol", "h1", "avg").unwrap()[0].as_f64().unwrap();
    assert!((avg - 33.0 / 9.0).abs() < 1e-3, "{avg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_programs_and_sessions_get_clear_answers() {
    let c = cluster(&[ECHO]).await;
    let mut client = c.client(&c.orchestrator, 0).await;
    let resp = client
        .register_graph(RegisterGraphRequest {
            graph_json: b"{\"graphs\": 42}".to_vec(),
            graph_id: "bad".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.result, RegisterGraphResult::RegisterGraphGenericFailure as i32);
    assert!(resp.message.contains("not a petri-mpc program"), "{}", resp.message);
    let unknown_op = r#"{"format": "petri-mpc/1", "inputs": [{"name": "x", "from": "alice", "type": "u32"}],
        "steps": [{"out": "y", "op": "divide", "args": ["x"]}], "outputs": [{"value": "y", "to": "alice"}]}"#;
    let resp = client
        .register_graph(RegisterGraphRequest {
            graph_json: unknown_op.as_bytes().to_vec(),
            graph_id: "bad2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(resp.message.contains("unknown operation"), "{}", resp.message);
    let addresses = c.addresses();
    let create = |graph: &str, party: u64, addrs: usize| CreateSessionRequest {
        session_id: "s".into(),
        graph_id: graph.into(),
        party_id: party,
        data_settings: prost::Message::encode_to_vec(&DataRequest {
            key: b"millionaires".to_vec(),
        }),
        party_address: addresses[..addrs].to_vec(),
    };
    let resp = client.create_session(create("nope", 0, 3)).await.unwrap().into_inner();
    assert_eq!(resp.result, CreateSessionResult::CreateSessionMissingGraph as i32);
    let resp = client
        .register_graph(RegisterGraphRequest {
            graph_json: ECHO.as_bytes().to_vec(),
            graph_id: "echo".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.result, RegisterGraphResult::RegisterGraphSuccess as i32);
    let resp = client
        .register_graph(RegisterGraphRequest {
            graph_json: ECHO.as_bytes().to_vec(),
            graph_id: "echo".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.result, RegisterGraphResult::RegisterGraphDuplicate as i32);
    let resp = client.create_session(create("echo", 7, 3)).await.unwrap().into_inner();
    assert_eq!(
        resp.result,
        CreateSessionResult::CreateSessionInvalidConfiguration as i32
    );
    assert!(resp.message.contains("party_id"), "{}", resp.message);
    let resp = client.create_session(create("echo", 0, 2)).await.unwrap().into_inner();
    assert_eq!(
        resp.result,
        CreateSessionResult::CreateSessionInvalidConfiguration as i32
    );
    // Another orchestrator the node obeys may not start a session on a program it did not
    // register.
    let mut other = c.client(&c.other_orchestrator, 0).await;
    let resp = other.create_session(create("echo", 0, 3)).await.unwrap().into_inner();
    assert_eq!(resp.result, CreateSessionResult::CreateSessionMissingGraph as i32);
    assert!(resp.message.contains("another caller"), "{}", resp.message);
    let _ = &c.pki_dir;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_with_a_certificate_from_another_ca_is_refused() {
    let c = cluster(&[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let foreign = Pki::init(&tmp.path().join("pki"), "foreign root", 2).unwrap();
    foreign
        .create_org(&OrgRequest {
            name: "federation".into(),
            dns: vec!["federation.test".into()],
            ip_ranges: vec![parse_cidr("127.0.0.0/8").unwrap()],
            days: 2,
        })
        .unwrap();
    let mut files = issue(&foreign, tmp.path(), "federation", "intruder", "127.0.0.9");
    // The intruder trusts our root, so only its own certificate is foreign.
    files.ca = c.pki_dir.join("root/ca.pem");
    files.crls = vec![];
    let intruder = NodeTls::load(&files).unwrap();
    let (host, port) = petri_mpc_net::tls::split_host_port(&c.compute[0]).unwrap();
    let result = async {
        let channel = intruder.channel(&host, port, Duration::from_secs(5)).await?;
        let mut client = PartyServiceClient::new(channel);
        client
            .list_sessions(petri_mpc_net::proto::SessionListRequest {})
            .await
            .map_err(|e| petri_mpc_net::NetError::Remote(e.to_string()))?;
        Ok::<_, petri_mpc_net::NetError>(())
    }
    .await;
    assert!(result.is_err(), "the compute node answered a foreign certificate");
    // And a node that trusts only the foreign root refuses our compute node's certificate.
    let mut files = issue(&foreign, tmp.path(), "federation", "other", "127.0.0.8");
    files.crls = vec![];
    let other = NodeTls::load(&files).unwrap();
    let err = other.channel(&host, port, Duration::from_secs(5)).await.unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
}

/// Each example under examples/mpc runs and yields its expected.json.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_examples_give_their_expected_results() {
    use petri_mpc_net::cluster::{ComputeMode, Example, LocalCluster};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mpc");
    for name in ["millionaires", "median", "hospitals"] {
        let example = Example::load(&root.join(name)).unwrap();
        // The README shows the policy that pins this program.
        let hash = Program::parse(&example.program).unwrap().hash();
        let readme = std::fs::read_to_string(root.join(name).join("README.md")).unwrap();
        assert!(
            readme.contains(&hash),
            "{name}: README.md does not show the program hash {hash}"
        );
        let tmp = tempfile::tempdir().unwrap();
        let cluster = LocalCluster::start(
            tmp.path(),
            example.data.clone(),
            example.result_only.clone(),
            ComputeMode::InProcess,
            &[&example.program],
        )
        .await
        .unwrap();
        let out = cluster
            .run(&example.program, "example", name, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(out.iter().all(|o| o.status == "FINISHED"), "{name}: {out:?}");
        let expected = example.expected.unwrap();
        let got = cluster.all_results(name);
        let expected_nodes = expected.as_object().unwrap();
        assert_eq!(
            got.len(),
            expected_nodes.len(),
            "{name}: only the named nodes learn results: {got:?}"
        );
        for (node, outputs) in expected_nodes {
            let results = cluster.results(node, name);
            for (output, values) in outputs.as_object().unwrap() {
                let got = &results
                    .get(output)
                    .unwrap_or_else(|| panic!("{name}: {node} has no {output}"))
                    .values;
                let want = values.as_array().unwrap();
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(want) {
                    assert!(
                        (g.as_f64().unwrap() - w.as_f64().unwrap()).abs() < 1e-3,
                        "{name}: {output} = {g}, expected {w}"
                    );
                }
            }
        }
    }
}
