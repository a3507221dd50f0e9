//! Attacks on MPC sessions, each written as the attack: a colony member or orchestrator that
//! tries to have bob's input revealed to alice, certificates under the root that try to drive
//! compute nodes or rebind their parties, and a compute node that turned rogue and floods a
//! peer. Each must learn nothing and fail with a readable reason.

use std::time::{Duration, Instant};

use petri_mpc_net::data::{SHARE_REQUEST_FORMAT, ShareRequest};
use petri_mpc_net::program::Program;
use petri_mpc_net::proto::data_manager_service_client::DataManagerServiceClient;
use petri_mpc_net::proto::{
    BytesValue, CreateSessionRequest, CreateSessionResult, DataRequest, FinishSessionRequest, GetValueRequest,
    GetValueStatus, RegisterGraphRequest, RegisterGraphResult, SendValueRequest, SessionListRequest, SessionStatus,
    Value, value,
};
use petri_mpc_net::workflow::PartyTask;
use petri_mpc_net::{ComputeConfig, ComputeNode, NodeTls};
use tokio_stream::wrappers::ReceiverStream;

use super::{Cluster, INITIATOR, MILLIONAIRES, cluster};

/// bob's wealth in the test data.
const BOB: u64 = 2718281828;

/// bob's raw input, straight to alice.
const RAW: &str = r#"{"format": "petri-mpc/1",
  "inputs": [{"name": "b", "from": "bob", "value": "wealth", "type": "u32"}],
  "steps": [], "outputs": [{"value": "b", "to": "alice"}]}"#;

/// bob's input to alice through an identity step, next to alice's own input.
const IDENTITY: &str = r#"{"format": "petri-mpc/1",
  "inputs": [{"name": "a", "from": "alice", "value": "wealth", "type": "u32"},
             {"name": "b", "from": "bob", "value": "wealth", "type": "u32"}],
  "steps": [{"out": "c", "op": "add_const", "args": ["b"], "value": 0},
            {"out": "richer", "op": "gt", "args": ["a", "b"]}],
  "outputs": [{"value": "richer", "to": "alice"}, {"value": "c", "to": "alice"}]}"#;

/// What alice learned in `session`, and how many output shares reached her node at all.
fn alice_learned(c: &Cluster, session: &str) -> (usize, usize) {
    let results = c.results["alice"].lock().unwrap().get(session).map_or(0, |r| r.len());
    (results, c.data_nodes["alice"].shares_received(session))
}

fn audit_lines(c: &Cluster, owner: &str) -> Vec<serde_json::Value> {
    let path = c.data_nodes[owner].policy().unwrap().audit().path().to_path_buf();
    petri_policy::verify_log(&path).unwrap();
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_program_that_sends_bobs_input_to_alice_gets_no_shares() {
    let c = cluster(&[MILLIONAIRES]).await;
    for (session, program) in [("raw", RAW), ("identity", IDENTITY)] {
        let out = c.run(program, "millionaires", session).await;
        let hash = Program::parse(program.as_bytes()).unwrap().hash();
        for o in &out {
            assert_eq!(o.status, "FAILED", "{session}: {out:?}");
            assert!(
                o.error.contains("refused by the data owner's policy")
                    && o.error
                        .contains(&format!("program {hash} is not allowed on dataset \"millionaires\"")),
                "{session}: {}",
                o.error
            );
        }
        assert_eq!(
            alice_learned(&c, session),
            (0, 0),
            "{session}: alice's node received something"
        );
    }
    // bob refused the raw program to each of the three parties, and wrote that down.
    let refused: Vec<_> = audit_lines(&c, "bob")
        .into_iter()
        .filter(|l| l["reference"] == "raw")
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(refused.iter().all(|l| l["decision"] == "refused"
        && l["initiators"][0] == super::ORCHESTRATOR
        && l["to"] == serde_json::json!(["alice"])));
    assert!(audit_lines(&c, "bob").iter().all(|l| l["decision"] == "refused"));
    // The program bob allows still runs, and alice learns only the comparison.
    let out = c.run(MILLIONAIRES, "millionaires", "fair").await;
    assert!(out.iter().all(|o| o.status == "FINISHED"), "{out:?}");
    assert_eq!(c.result("alice", "fair", "alice_richer"), Some(vec![0.into()]));
    let revealed = serde_json::to_string(&*c.results["alice"].lock().unwrap()).unwrap();
    assert!(!revealed.contains(&BOB.to_string()), "{revealed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_orchestrator_the_data_owners_do_not_list_gets_no_shares() {
    let c = cluster(&[MILLIONAIRES]).await;
    // The compute nodes obey this orchestrator, but neither alice nor bob lists it.
    let out = petri_mpc_net::orchestrate::run_session(
        &c.other_orchestrator,
        &c.compute,
        MILLIONAIRES.as_bytes(),
        "millionaires",
        "other",
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    for o in &out {
        assert_eq!(o.status, "FAILED", "{out:?}");
        assert!(
            o.error.contains("may not ask for dataset \"millionaires\""),
            "{}",
            o.error
        );
    }
    assert_eq!(alice_learned(&c, "other"), (0, 0));
}

/// Polls `session` at compute node `party` (as the orchestrator) until it ends.
async fn wait_end(c: &Cluster, party: usize, session: &str) -> (i32, String) {
    let mut client = c.client(&c.orchestrator, party).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = client.list_sessions(SessionListRequest {}).await.unwrap().into_inner();
        let s = list.session.iter().find(|s| s.session_id == session).unwrap();
        if s.status == SessionStatus::Failed as i32 || s.status == SessionStatus::Finished as i32 {
            return (s.status, s.error.clone());
        }
        assert!(
            Instant::now() < deadline,
            "session {session} never ended at party {party}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_parties_of_one_session_cannot_run_different_programs_on_one_sharing() {
    // Two programs bob allows; the orchestrator gives party 0 one and parties 1 and 2 the other.
    let second = MILLIONAIRES.replace("alice_richer", "richer");
    let c = cluster(&[MILLIONAIRES, &second]).await;
    let addresses = c.addresses();
    for party in 0..3 {
        let program = if party == 0 { MILLIONAIRES } else { &second };
        let mut client = c.client(&c.orchestrator, party).await;
        let r = client
            .register_graph(RegisterGraphRequest {
                graph_json: program.as_bytes().to_vec(),
                graph_id: "g".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.result,
            RegisterGraphResult::RegisterGraphSuccess as i32,
            "{}",
            r.message
        );
        let r = client
            .create_session(CreateSessionRequest {
                session_id: "mixed".into(),
                graph_id: "g".into(),
                party_id: party as u64,
                data_settings: prost::Message::encode_to_vec(&DataRequest {
                    key: b"millionaires".to_vec(),
                }),
                party_address: addresses.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.result,
            CreateSessionResult::CreateSessionSuccess as i32,
            "{}",
            r.message
        );
    }
    let mut errors = Vec::new();
    for party in 0..3 {
        let (status, error) = wait_end(&c, party, "mixed").await;
        assert_eq!(status, SessionStatus::Failed as i32, "party {party}");
        errors.push(error);
    }
    assert!(errors.iter().any(|e| e.contains("is bound to program")), "{errors:?}");
    assert_eq!(alice_learned(&c, "mixed"), (0, 0));
}

/// Asks data node `owner` for its shares of `dataset` in `session`, as compute node `party`.
async fn ask_shares(
    c: &Cluster,
    party: usize,
    owner: &str,
    session: &str,
    key: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    let tls = NodeTls::load(&c.compute_files[party]).unwrap();
    let (host, port) = petri_mpc_net::tls::split_host_port(&c.data_addrs[owner]).unwrap();
    let mut client = DataManagerServiceClient::new(tls.channel(&host, port, Duration::from_secs(5)).await.unwrap());
    let request = ShareRequest {
        format: SHARE_REQUEST_FORMAT.into(),
        dataset: "millionaires".into(),
        session: session.into(),
        program: Program::parse(MILLIONAIRES.as_bytes()).unwrap(),
        initiators: vec![super::ORCHESTRATOR.into()],
    };
    let key = key.map_or_else(|| serde_json::to_vec(&request).unwrap(), <[u8]>::to_vec);
    let resp = client.get_value(GetValueRequest { key }).await.unwrap().into_inner();
    if resp.status != GetValueStatus::GetValueOk as i32 {
        return Err(resp.error);
    }
    Ok(prost::Message::encode_to_vec(&resp.typed_value[0]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shares_are_fresh_per_session_and_each_party_gets_its_own_once() {
    let c = cluster(&[MILLIONAIRES]).await;
    // A bare dataset key, as compute nodes sent before: no program, no shares.
    let e = ask_shares(&c, 0, "bob", "s", Some(b"millionaires")).await.unwrap_err();
    assert!(e.contains("not a share request"), "{e}");
    let first = ask_shares(&c, 0, "bob", "s1", None).await.unwrap();
    let e = ask_shares(&c, 0, "bob", "s1", None).await.unwrap_err();
    assert!(e.contains("already received its shares"), "{e}");
    let second = ask_shares(&c, 0, "bob", "s2", None).await.unwrap();
    assert_ne!(first, second, "a new session gets a new sharing");
    let audit = audit_lines(&c, "bob");
    let decisions: Vec<&str> = audit.iter().map(|l| l["decision"].as_str().unwrap()).collect();
    assert_eq!(decisions, ["released", "refused", "released"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_configured_orchestrators_may_drive_a_compute_node() {
    let c = cluster(&[MILLIONAIRES]).await;
    // A certificate under the same root, and a compute node acting as an orchestrator.
    let compute1 = NodeTls::load(&c.compute_files[1]).unwrap();
    for tls in [&c.stranger, &compute1] {
        let mut client = c.client(tls, 0).await;
        let e = client
            .register_graph(RegisterGraphRequest {
                graph_json: MILLIONAIRES.as_bytes().to_vec(),
                graph_id: "g".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(
            e.message().contains("is not an orchestrator of this compute node"),
            "{}",
            e.message()
        );
        let e = client
            .create_session(CreateSessionRequest {
                session_id: "s".into(),
                graph_id: "g".into(),
                party_id: 0,
                data_settings: Vec::new(),
                party_address: c.addresses(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        let e = client.list_sessions(SessionListRequest {}).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        let e = client
            .finish_session(FinishSessionRequest { session_id: "s".into() })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
    }
    // The stranger cannot open a peer stream either.
    let mut client = c.client(&c.stranger, 0).await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(piece("s", 1, vec![0; 16])).await.unwrap();
    let e = client.send_value(ReceiverStream::new(rx)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    assert!(
        e.message().contains("not that of another compute node"),
        "{}",
        e.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn party_ids_and_addresses_come_from_configuration() {
    let c = cluster(&[MILLIONAIRES]).await;
    let mut addresses = c.addresses();
    let mut client = c.client(&c.orchestrator, 0).await;
    client
        .register_graph(RegisterGraphRequest {
            graph_json: MILLIONAIRES.as_bytes().to_vec(),
            graph_id: "g".into(),
        })
        .await
        .unwrap();
    let create = |party: u64, party_address| CreateSessionRequest {
        session_id: "s".into(),
        graph_id: "g".into(),
        party_id: party,
        data_settings: prost::Message::encode_to_vec(&DataRequest {
            key: b"millionaires".to_vec(),
        }),
        party_address,
    };
    // Node 0 told it is party 1 (so that it would fetch party 1's shares).
    let r = client
        .create_session(create(1, addresses.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.result, CreateSessionResult::CreateSessionInvalidConfiguration as i32);
    assert!(
        r.message.contains("this node is configured as party 0"),
        "{}",
        r.message
    );
    // The orchestrator's own address in place of party 1, to receive node 0's messages.
    addresses[1].address = "127.0.0.9".into();
    let r = client
        .create_session(create(0, addresses.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.result, CreateSessionResult::CreateSessionInvalidConfiguration as i32);
    assert!(
        r.message.contains("this node's configuration has 127.0.0.2"),
        "{}",
        r.message
    );
    // Right port, other host; right host, other port.
    addresses[1] = c.addresses()[1].clone();
    addresses[2].port += 1;
    let r = client.create_session(create(0, addresses)).await.unwrap().into_inner();
    assert_eq!(r.result, CreateSessionResult::CreateSessionInvalidConfiguration as i32);
    // A compute node whose certificate does not name its configured address does not start.
    let tls = NodeTls::load(&c.compute_files[0]).unwrap();
    let config = c.compute_nodes[0].config().clone();
    let e = ComputeNode::new(tls, ComputeConfig { party: 1, ..config })
        .err()
        .unwrap();
    assert!(e.to_string().contains("its certificate names 127.0.0.1"), "{e}");
}

fn party_task(c: &Cluster, program: &str, session: &str, party: usize) -> PartyTask {
    PartyTask {
        session: session.into(),
        program: serde_json::from_str(program).unwrap(),
        party,
        nodes: c.compute.to_vec(),
        data_key: "millionaires".into(),
        timeout_secs: Some(30),
    }
}

/// Runs `program` as three `mpc_party` processes started by `initiator`.
async fn run_workflow(
    c: &Cluster,
    program: &str,
    session: &str,
    initiator: &str,
) -> Vec<Result<serde_json::Value, String>> {
    let runs = (0..3).map(|party| {
        let node = c.compute_nodes[party].clone();
        let task = party_task(c, program, session, party);
        let initiator = initiator.to_string();
        tokio::spawn(async move { node.run_party(task, &initiator).await })
    });
    let mut out = Vec::new();
    for r in runs.collect::<Vec<_>>() {
        out.push(r.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workflow_sessions_obey_configured_initiators_and_data_owners() {
    let c = cluster(&[MILLIONAIRES]).await;
    // A colony member the compute nodes do not obey.
    let member = "2".repeat(64);
    for r in run_workflow(&c, MILLIONAIRES, "wf-member", &member).await {
        let e = r.unwrap_err();
        assert!(e.contains("may not run sessions on this compute node"), "{e}");
    }
    // The initiator they obey, with the program that reveals bob's input to alice.
    for r in run_workflow(&c, RAW, "wf-raw", INITIATOR).await {
        let e = r.unwrap_err();
        assert!(
            e.contains("refused by the data owner's policy") && e.contains("is not allowed"),
            "{e}"
        );
    }
    assert_eq!(alice_learned(&c, "wf-raw"), (0, 0));
    let bob = audit_lines(&c, "bob");
    assert!(
        bob.iter()
            .all(|l| l["decision"] == "refused" && l["initiators"][0] == INITIATOR)
    );
    // The same initiator with the program bob allows.
    for r in run_workflow(&c, MILLIONAIRES, "wf-fair", INITIATOR).await {
        r.unwrap();
    }
    assert_eq!(c.result("alice", "wf-fair", "alice_richer"), Some(vec![0.into()]));
}

fn piece(session: &str, from: u64, data: Vec<u8>) -> SendValueRequest {
    SendValueRequest {
        node_id: 0,
        data: Some(Value {
            value: Some(value::Value::Bytes(BytesValue { data })),
        }),
        party_id: from,
        session_id: session.into(),
    }
}

/// A session at compute node 0 alone, whose engine waits for party 1 and never reads party 2.
async fn lone_session(c: &Cluster, session: &str) {
    let program = r#"{"format": "petri-mpc/1",
      "inputs": [{"name": "x", "from": "random", "type": "u64", "len": 4}],
      "steps": [{"out": "s", "op": "sum", "args": ["x"]}], "outputs": [{"value": "s", "to": "alice"}]}"#;
    let mut client = c.client(&c.orchestrator, 0).await;
    let graph = format!("{session}-graph");
    client
        .register_graph(RegisterGraphRequest {
            graph_json: program.as_bytes().to_vec(),
            graph_id: graph.clone(),
        })
        .await
        .unwrap();
    let r = client
        .create_session(CreateSessionRequest {
            session_id: session.into(),
            graph_id: graph,
            party_id: 0,
            data_settings: prost::Message::encode_to_vec(&DataRequest { key: b"none".to_vec() }),
            party_address: c.addresses(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.result,
        CreateSessionResult::CreateSessionSuccess as i32,
        "{}",
        r.message
    );
}

/// Compute node 2, turned rogue, opens a stream into node 0's session and sends `data` as one
/// message. Returns node 0's refusal.
async fn rogue_message(c: &Cluster, session: &str, data: Vec<u8>) -> String {
    let rogue = NodeTls::load(&c.compute_files[2]).unwrap();
    let mut client = c.client(&rogue, 0).await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(piece(session, 2, data)).await.unwrap();
    let mut responses = client.send_value(ReceiverStream::new(rx)).await.unwrap().into_inner();
    let refusal = match tokio::time::timeout(Duration::from_secs(30), responses.message()).await {
        Ok(Ok(Some(r))) => r.message,
        Ok(Err(status)) => status.message().to_string(),
        other => panic!("no refusal: {other:?}"),
    };
    drop(tx);
    refusal
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rogue_peer_cannot_flood_a_compute_node_or_send_oversized_messages() {
    let c = cluster(&[]).await;
    let max = petri_mpc::MAX_MESSAGE_BYTES;
    // One message longer than the engine ever sends: the stream is refused at once.
    lone_session(&c, "oversized").await;
    let refusal = rogue_message(&c, "oversized", vec![0u8; max + 8]).await;
    assert!(
        refusal.contains(&format!("the engine's messages are at most {max}")),
        "{refusal}"
    );

    // Endless full-size messages that node 0's engine never reads (it waits for party 1).
    lone_session(&c, "flood").await;
    let t0 = Instant::now();
    let rogue = NodeTls::load(&c.compute_files[2]).unwrap();
    let mut client = c.client(&rogue, 0).await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let sender = tokio::spawn(async move {
        let mut sent = 0usize;
        loop {
            match tokio::time::timeout(Duration::from_secs(2), tx.send(piece("flood", 2, vec![7u8; max]))).await {
                Ok(Ok(())) => sent += max,
                _ => return sent,
            }
        }
    });
    let mut responses = client.send_value(ReceiverStream::new(rx)).await.unwrap().into_inner();
    let refusal = match tokio::time::timeout(Duration::from_secs(30), responses.message()).await {
        Ok(Ok(Some(r))) => r.message,
        other => panic!("no refusal: {other:?}"),
    };
    assert!(refusal.contains("party 2 flooded this party's inbox"), "{refusal}");
    assert!(t0.elapsed() < Duration::from_secs(20));
    let sent = sender.await.unwrap();
    // Node 0 took the inbox's worth and what flow control lets through, then stopped reading.
    let inbox = petri_mpc_net::compute::INBOX_BYTES;
    assert!(sent >= inbox, "only {sent} bytes went in");
    assert!(
        sent < inbox + (40 << 20),
        "node 0 took {} MiB from the flood",
        sent >> 20
    );
    let (status, error) = wait_end(&c, 0, "flood").await;
    assert_eq!(status, SessionStatus::Failed as i32, "{error}");
}
