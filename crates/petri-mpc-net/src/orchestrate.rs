//! An orchestrator: registers a program on the three compute nodes, creates one session, waits
//! for every node to finish (or fail), and removes the session. The compute nodes obey it only if
//! they are configured with a name of its certificate, and check the party ids and addresses it
//! sends against their own configuration; the data nodes release shares only if their owners'
//! policies list the program's hash and this orchestrator.

use std::time::{Duration, Instant};

use crate::proto::party_service_client::PartyServiceClient;
use crate::proto::{
    Address, CreateSessionRequest, CreateSessionResult, DataRequest, FinishSessionRequest, RegisterGraphRequest,
    RegisterGraphResult, SessionListRequest, SessionStatus,
};
use crate::tls::{NodeTls, split_host_port};
use crate::{NetError, Result};

/// How one compute node's part of the session ended.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeOutcome {
    /// Party id.
    pub party: usize,
    /// `FINISHED` or `FAILED`.
    pub status: String,
    /// Why it failed.
    pub error: String,
    /// The node's timings, rounds and bytes (JSON), when it finished.
    pub stats: Option<serde_json::Value>,
}

/// Runs `graph_json` once on the compute nodes at `nodes` (host:port, in party order), with the
/// data key `data_key`. Waits at most `timeout` for the session to end.
pub async fn run_session(
    tls: &NodeTls,
    nodes: &[String; 3],
    graph_json: &[u8],
    data_key: &str,
    session_id: &str,
    timeout: Duration,
) -> Result<Vec<NodeOutcome>> {
    let mut addresses = Vec::new();
    let mut clients = Vec::new();
    for node in nodes {
        let (host, port) = split_host_port(node)?;
        let channel = tls.channel(&host, port, Duration::from_secs(10)).await?;
        clients.push(
            PartyServiceClient::new(channel)
                .max_encoding_message_size(64 << 20)
                .max_decoding_message_size(64 << 20),
        );
        addresses.push(Address {
            address: host,
            port: u32::from(port),
        });
    }
    let graph_id = format!("{session_id}-graph");
    for (party, client) in clients.iter_mut().enumerate() {
        let resp = client
            .register_graph(RegisterGraphRequest {
                graph_json: graph_json.to_vec(),
                graph_id: graph_id.clone(),
            })
            .await
            .map_err(|e| NetError::Remote(format!("compute node {party}: {}", e.message())))?
            .into_inner();
        if resp.result != RegisterGraphResult::RegisterGraphSuccess as i32 {
            return Err(NetError::Remote(format!(
                "compute node {party} refused the program: {}",
                resp.message
            )));
        }
    }
    let data_settings = prost::Message::encode_to_vec(&DataRequest {
        key: data_key.as_bytes().to_vec(),
    });
    for (party, client) in clients.iter_mut().enumerate() {
        let resp = client
            .create_session(CreateSessionRequest {
                session_id: session_id.to_string(),
                graph_id: graph_id.clone(),
                party_id: party as u64,
                data_settings: data_settings.clone(),
                party_address: addresses.clone(),
            })
            .await
            .map_err(|e| NetError::Remote(format!("compute node {party}: {}", e.message())))?
            .into_inner();
        if resp.result != CreateSessionResult::CreateSessionSuccess as i32 {
            return Err(NetError::Remote(format!(
                "compute node {party} refused the session: {}",
                resp.message
            )));
        }
    }
    let deadline = Instant::now() + timeout;
    let mut outcomes: Vec<Option<NodeOutcome>> = vec![None, None, None];
    while outcomes.iter().any(Option::is_none) {
        for (party, client) in clients.iter_mut().enumerate() {
            if outcomes[party].is_some() {
                continue;
            }
            let list = client
                .list_sessions(SessionListRequest {})
                .await
                .map_err(|e| NetError::Remote(format!("compute node {party}: {}", e.message())))?
                .into_inner();
            let entry = list
                .session
                .into_iter()
                .find(|s| s.session_id == session_id)
                .ok_or_else(|| NetError::Remote(format!("compute node {party} lost session {session_id}")))?;
            let status = SessionStatus::try_from(entry.status).unwrap_or(SessionStatus::Failed);
            if matches!(status, SessionStatus::Finished | SessionStatus::Failed) {
                outcomes[party] = Some(NodeOutcome {
                    party,
                    status: status.as_str_name().to_string(),
                    error: entry.error,
                    stats: serde_json::from_str(&entry.stats_json).ok(),
                });
            }
        }
        if outcomes.iter().any(Option::is_none) {
            if Instant::now() > deadline {
                return Err(NetError::Remote(format!(
                    "session {session_id} did not end within {} s",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for client in &mut clients {
        let _ = client
            .finish_session(FinishSessionRequest {
                session_id: session_id.to_string(),
            })
            .await;
    }
    Ok(outcomes.into_iter().flatten().collect())
}
