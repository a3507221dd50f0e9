//! Three compute nodes, data nodes and an orchestrator on loopback addresses, all over mutual TLS.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use petri_mpc_net::data::{Results, load_data};
use petri_mpc_net::orchestrate::run_session;
use petri_mpc_net::proto::party_service_client::PartyServiceClient;
use petri_mpc_net::proto::{
    Address, CreateSessionRequest, CreateSessionResult, DataRequest, RegisterGraphRequest, RegisterGraphResult,
};
use petri_mpc_net::{ComputeConfig, ComputeNode, DataNode, NodeTls, serve_compute, serve_data};
use petri_pki::tls::TlsFiles;
use petri_pki::{NodeRequest, OrgRequest, Pki, parse_cidr};
use tokio::net::TcpListener;

/// Certificates for node `ip` under org `org`.
fn issue(pki: &Pki, dir: &Path, org: &str, name: &str, ip: &str) -> TlsFiles {
    let out = dir.join(name);
    pki.issue_node(
        org,
        &NodeRequest {
            name: name.into(),
            dns: vec![],
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

struct Cluster {
    _tmp: tempfile::TempDir,
    compute: [String; 3],
    orchestrator: NodeTls,
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
        r#"{"millionaires": {"wealth": {"type": "u32", "value": 2000}},
            "hospitals": {"stays": {"type": "u32", "value": [7, 1]}}}"#,
    ),
    (
        "carol",
        "127.0.0.6",
        r#"{"hospitals": {"stays": {"type": "u32", "value": [2, 2, 2, 2]}}}"#,
    ),
];

async fn cluster() -> Cluster {
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
    let compute_ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    for (name, ip, text) in DATA {
        let files = issue(&pki, tmp.path(), "federation", name, ip);
        let listener = TcpListener::bind(format!("{ip}:0")).await.unwrap();
        data_addrs.insert(name.to_string(), listener.local_addr().unwrap().to_string());
        let node = DataNode::new(name, load_data(text).unwrap(), compute_ips.map(String::from), None);
        results.insert(name.to_string(), node.results());
        let tls = NodeTls::load(&files).unwrap();
        tokio::spawn(serve_data(listener, tls, node, std::future::pending()));
    }
    let mut compute = Vec::new();
    for (i, ip) in compute_ips.iter().enumerate() {
        let files = issue(&pki, tmp.path(), "federation", &format!("compute{i}"), ip);
        let listener = TcpListener::bind(format!("{ip}:0")).await.unwrap();
        compute.push(listener.local_addr().unwrap().to_string());
        let tls = NodeTls::load(&files).unwrap();
        let node = ComputeNode::new(
            tls.clone(),
            ComputeConfig {
                data_nodes: data_addrs.clone(),
                result_nodes: data_addrs.clone(),
                peer_timeout: Duration::from_secs(5),
            },
        );
        tokio::spawn(serve_compute(listener, tls, node, std::future::pending()));
    }
    let orchestrator = NodeTls::load(&issue(&pki, tmp.path(), "federation", "orchestrator", "127.0.0.9")).unwrap();
    Cluster {
        _tmp: tmp,
        compute: [compute[0].clone(), compute[1].clone(), compute[2].clone()],
        orchestrator,
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
}

const MILLIONAIRES: &str = r#"{"format": "petri-mpc/1",
  "inputs": [{"name": "wealth", "from": "alice", "type": "u32"},
             {"name": "wealth_b", "from": "bob", "value": "wealth", "type": "u32"}],
  "steps": [{"out": "alice_richer", "op": "gt", "args": ["wealth", "wealth_b"]}],
  "outputs": [{"value": "alice_richer", "to": "alice"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn input_problems_fail_the_session_with_a_reason() {
    let c = cluster().await;
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
    let missing = r#"{"format": "petri-mpc/1",
      "inputs": [{"name": "stays", "from": "alice", "type": "u32"}, {"name": "stays_b", "from": "bob", "type": "u32"}],
      "steps": [], "outputs": [{"value": "stays", "to": "carol"}]}"#;
    let out = c.run(missing, "hospitals", "missing").await;
    assert!(
        out.iter()
            .all(|o| o.status == "FAILED" && o.error.contains("sent no value stays_b")),
        "{out:?}"
    );
    // An unknown dataset.
    let echo = r#"{"format": "petri-mpc/1", "inputs": [{"name": "wealth", "from": "alice", "type": "u32"}],
      "steps": [], "outputs": [{"value": "wealth", "to": "alice"}]}"#;
    let out = c.run(echo, "nothing-here", "nodata").await;
    assert!(
        out.iter()
            .all(|o| o.status == "FAILED" && o.error.contains("no dataset")),
        "{out:?}"
    );
    // A program without steps reveals the input to the named result node only.
    let out = c.run(echo, "millionaires", "echo").await;
    assert!(out.iter().all(|o| o.status == "FINISHED"), "{out:?}");
    assert_eq!(c.result("alice", "echo", "wealth"), Some(vec![3000.into()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn millionaires_median_and_hospitals() {
    let c = cluster().await;
    // alice (3000) against bob (2000), revealed to alice only.
    let out = c.run(MILLIONAIRES, "millionaires", "m1").await;
    assert!(out.iter().all(|o| o.status == "FINISHED"), "{out:?}");
    assert_eq!(c.result("alice", "m1", "alice_richer"), Some(vec![1.into()]));
    assert_eq!(
        c.result("bob", "m1", "alice_richer"),
        None,
        "only alice learns the result"
    );

    let median = r#"{"format": "petri-mpc/1",
      "inputs": [{"name": "x", "from": "alice", "type": "i32"}],
      "steps": [{"out": "m", "op": "median", "args": ["x"]},
                {"out": "sorted", "op": "sort", "args": ["x"]},
                {"out": "top", "op": "top_k", "args": ["x"], "k": 2}],
      "outputs": [{"value": "m", "to": "bob"}, {"value": "sorted", "to": "bob"}, {"value": "top", "to": "bob"}]}"#;
    let out = c.run(median, "array", "med").await;
    assert!(out.iter().all(|o| o.status == "FINISHED"), "{out:?}");
    assert_eq!(c.result("bob", "med", "m"), Some(vec![4.into()]));
    let sorted: Vec<serde_json::Value> = [-20, -3, 0, 4, 5, 9, 17].map(serde_json::Value::from).to_vec();
    assert_eq!(c.result("bob", "med", "sorted"), Some(sorted));
    assert_eq!(c.result("bob", "med", "top"), Some(vec![17.into(), 9.into()]));
    let stats = out[0].stats.as_ref().unwrap();
    assert!(stats["rounds"].as_u64().unwrap() > 0 && stats["bytes_sent"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hospitals_sum_and_mean() {
    let c = cluster().await;
    let program = r#"{"format": "petri-mpc/1",
      "inputs": [{"name": "a", "from": "alice", "value": "stays", "type": "u32"},
                 {"name": "b", "from": "bob", "value": "stays", "type": "u32"},
                 {"name": "c", "from": "carol", "value": "stays", "type": "u32"}],
      "steps": [{"out": "stays", "op": "concat", "args": ["a", "b", "c"]},
                {"out": "total", "op": "sum", "args": ["stays"]},
                {"out": "avg", "op": "mean", "args": ["stays"]}],
      "outputs": [{"value": "total", "to": "carol"}, {"value": "avg", "to": "carol"}]}"#;
    let out = c.run(program, "hospitals", "h1").await;
    assert!(out.iter().all(|o| o.status == "FINISHED"), "{out:?}");
    assert_eq!(c.result("carol", "h1", "total"), Some(vec![33.into()]));
    let avg = c.result("carol", "h1", "avg").unwrap()[0].as_f64().unwrap();
    assert!((avg - 33.0 / 9.0).abs() < 1e-3, "{avg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_programs_sessions_and_parties_get_clear_answers() {
    let c = cluster().await;
    let (host, port) = petri_mpc_net::tls::split_host_port(&c.compute[0]).unwrap();
    let channel = c
        .orchestrator
        .channel(&host, port, Duration::from_secs(5))
        .await
        .unwrap();
    let mut client = PartyServiceClient::new(channel);
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
    let create = |graph: &str, party: u64, addrs: usize| CreateSessionRequest {
        session_id: "s".into(),
        graph_id: graph.into(),
        party_id: party,
        data_settings: prost::Message::encode_to_vec(&DataRequest {
            key: b"millionaires".to_vec(),
        }),
        party_address: (0..addrs)
            .map(|_| Address {
                address: "127.0.0.1".into(),
                port: 1,
            })
            .collect(),
    };
    let resp = client.create_session(create("nope", 0, 3)).await.unwrap().into_inner();
    assert_eq!(resp.result, CreateSessionResult::CreateSessionMissingGraph as i32);
    let echo = r#"{"format": "petri-mpc/1", "inputs": [{"name": "wealth", "from": "alice", "type": "u32"}],
        "steps": [], "outputs": [{"value": "wealth", "to": "alice"}]}"#;
    let resp = client
        .register_graph(RegisterGraphRequest {
            graph_json: echo.as_bytes().to_vec(),
            graph_id: "echo".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.result, RegisterGraphResult::RegisterGraphSuccess as i32);
    let resp = client
        .register_graph(RegisterGraphRequest {
            graph_json: echo.as_bytes().to_vec(),
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

    // Wrong party ids: every node is told it is party 0. Their peers' certificates then do not
    // match the claimed ids, and the sessions fail with a reason instead of hanging.
    let addrs: Vec<Address> = c
        .compute
        .iter()
        .map(|a| {
            let (h, p) = petri_mpc_net::tls::split_host_port(a).unwrap();
            Address {
                address: h,
                port: u32::from(p),
            }
        })
        .collect();
    let mut clients = Vec::new();
    for a in &c.compute {
        let (h, p) = petri_mpc_net::tls::split_host_port(a).unwrap();
        let mut cl = PartyServiceClient::new(c.orchestrator.channel(&h, p, Duration::from_secs(5)).await.unwrap());
        cl.register_graph(RegisterGraphRequest {
            graph_json: echo.as_bytes().to_vec(),
            graph_id: "echo2".into(),
        })
        .await
        .unwrap();
        clients.push(cl);
    }
    for cl in &mut clients {
        let mut req = create("echo2", 0, 3);
        req.session_id = "wrong-party".into();
        req.party_address = addrs.clone();
        let r = cl.create_session(req).await.unwrap().into_inner();
        assert_eq!(
            r.result,
            CreateSessionResult::CreateSessionSuccess as i32,
            "{}",
            r.message
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list = clients[1]
            .list_sessions(petri_mpc_net::proto::SessionListRequest {})
            .await
            .unwrap()
            .into_inner();
        let s = list.session.iter().find(|s| s.session_id == "wrong-party").unwrap();
        if s.status == petri_mpc_net::proto::SessionStatus::Failed as i32 {
            assert!(
                s.error.contains("cannot send to party 0")
                    || s.error.contains("refused")
                    || s.error.contains("sent nothing"),
                "{}",
                s.error
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "session never failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = &c.pki_dir;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_with_a_certificate_from_another_ca_is_refused() {
    let c = cluster().await;
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
        let tmp = tempfile::tempdir().unwrap();
        let cluster = LocalCluster::start(
            tmp.path(),
            example.data.clone(),
            example.result_only.clone(),
            ComputeMode::InProcess,
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
