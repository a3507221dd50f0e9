//! Running a session as a petri workflow.
//!
//! The session's parameters travel in the function specs; the values do not. A workflow has one
//! `mpc_data` process per data owner (run by its data node's executor: it checks that the dataset
//! is there and that the policy lets the workflow's initiator ask for it, and answers with value
//! names and lengths), one `mpc_party` process per compute party (run by that compute node's
//! executor: if the initiator is one the node is configured to obey, it registers the program,
//! creates the session and waits for it), and `mpc_result` processes at the result nodes (they
//! wait until the outputs have been reconstructed there and answer with output names only).
//! The initiator is the process's `initiatorid`, which the broker sets from the submitter's
//! signature; compute nodes forward it to the data nodes, whose policies decide on the program.
//! Shares move between the nodes over mutual TLS, never through the broker, and no process output
//! carries a value.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::compute::ComputeNode;
use crate::data::DataNode;
use crate::proto::{
    Address, CreateSessionRequest, CreateSessionResult, DataRequest, RegisterGraphRequest, RegisterGraphResult,
    SessionStatus,
};
use crate::tls::split_host_port;

/// The kwargs of an `mpc_party` process.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyTask {
    /// Session id, the same in the three party processes.
    pub session: String,
    /// The program (petri-mpc/1 JSON object).
    pub program: serde_json::Value,
    /// This compute node's party id.
    pub party: usize,
    /// The three compute nodes, host:port in party order.
    pub nodes: Vec<String>,
    /// The dataset key at the data nodes.
    pub data_key: String,
    /// How long to wait for the session (default 600 s).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// The kwargs of an `mpc_data` process.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataTask {
    /// The dataset key.
    pub data_key: String,
}

/// The kwargs of an `mpc_result` process.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultTask {
    /// Session id.
    pub session: String,
    /// Outputs this node expects.
    pub outputs: Vec<String>,
    /// How long to wait (default 600 s).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// Parses a process's kwargs into a task.
pub fn task<T: serde::de::DeserializeOwned>(kwargs: &serde_json::Map<String, serde_json::Value>) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::Object(kwargs.clone())).map_err(|e| format!("bad kwargs: {e}"))
}

impl ComputeNode {
    /// Runs this node's part of a session described by an `mpc_party` process that `initiator`
    /// (the process's initiator key id, as the broker recorded it) started, and answers with the
    /// node's figures (time, rounds, bytes), never with values. The initiator must be one of the
    /// node's configured initiators, and the task's party id and nodes must be the node's own
    /// configuration; the data nodes see the initiator and decide by their policies.
    pub async fn run_party(&self, task: PartyTask, initiator: &str) -> Result<serde_json::Value, String> {
        let caller = self.initiator(initiator)?;
        if task.nodes.len() != 3 {
            return Err(format!("nodes must list 3 compute nodes, not {}", task.nodes.len()));
        }
        let mut party_address = Vec::new();
        for node in &task.nodes {
            let (host, port) = split_host_port(node).map_err(|e| e.to_string())?;
            party_address.push(Address {
                address: host,
                port: u32::from(port),
            });
        }
        let graph_json = serde_json::to_vec(&task.program).map_err(|e| e.to_string())?;
        let graph_id = format!("{}-graph", task.session);
        let registered = self.register(
            &caller,
            RegisterGraphRequest {
                graph_json,
                graph_id: graph_id.clone(),
            },
        );
        if registered.result != RegisterGraphResult::RegisterGraphSuccess as i32 {
            return Err(format!("program refused: {}", registered.message));
        }
        let created = self.create(
            &caller,
            CreateSessionRequest {
                session_id: task.session.clone(),
                graph_id: graph_id.clone(),
                party_id: task.party as u64,
                data_settings: prost::Message::encode_to_vec(&DataRequest {
                    key: task.data_key.as_bytes().to_vec(),
                }),
                party_address,
            },
        );
        if created.result != CreateSessionResult::CreateSessionSuccess as i32 {
            // The program was registered for this session only.
            self.forget_graph(&graph_id);
            return Err(format!("session refused: {}", created.message));
        }
        let deadline = Instant::now() + Duration::from_secs(task.timeout_secs.unwrap_or(600));
        let outcome = loop {
            let entry = self
                .list(&caller)
                .session
                .into_iter()
                .find(|s| s.session_id == task.session)
                .ok_or_else(|| format!("session {} disappeared", task.session))?;
            match SessionStatus::try_from(entry.status) {
                Ok(SessionStatus::Finished) => {
                    break Ok(serde_json::json!({
                        "session": task.session,
                        "party": task.party,
                        "stats": serde_json::from_str::<serde_json::Value>(&entry.stats_json).unwrap_or_default(),
                    }));
                }
                Ok(SessionStatus::Failed) | Err(_) => break Err(entry.error),
                _ if Instant::now() > deadline => break Err(format!("session {} did not end in time", task.session)),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        self.finish(&caller, &task.session);
        outcome
    }
}

impl DataNode {
    /// Answers an `mpc_data` process of `initiator`: the dataset's value names and lengths, not
    /// its values, and only to an initiator the policy lets ask for the dataset.
    pub fn describe(&self, task: &DataTask, initiator: &str) -> Result<serde_json::Value, String> {
        let values = self.dataset_shape(&task.data_key)?;
        let allowed = self.policy().and_then(|p| p.dataset(&task.data_key)).is_some_and(|d| {
            d.initiators
                .iter()
                .any(|i| i == "*" || i.eq_ignore_ascii_case(initiator))
        });
        if !allowed {
            return Err(format!(
                "refused by the data owner's policy: {initiator:?} may not ask for dataset {:?}",
                task.data_key
            ));
        }
        Ok(serde_json::json!({
            "node": self.name(),
            "dataset": task.data_key,
            "values": values.into_iter().map(|(n, len)| serde_json::json!({"name": n, "len": len})).collect::<Vec<_>>(),
        }))
    }

    /// Answers an `mpc_result` process once every output of the session has been reconstructed
    /// here: the output names, not the values (which stay at this node).
    pub async fn await_results(&self, task: &ResultTask) -> Result<serde_json::Value, String> {
        let deadline = Instant::now() + Duration::from_secs(task.timeout_secs.unwrap_or(600));
        loop {
            let have: Vec<String> = self
                .results()
                .lock()
                .map_err(|_| "internal lock poisoned".to_string())?
                .get(&task.session)
                .map(|r| r.keys().cloned().collect())
                .unwrap_or_default();
            if task.outputs.iter().all(|o| have.contains(o)) {
                return Ok(serde_json::json!({
                    "node": self.name(),
                    "session": task.session,
                    "outputs": task.outputs,
                }));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "outputs of session {} did not all arrive at {} in time",
                    task.session,
                    self.name()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
