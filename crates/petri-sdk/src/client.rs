use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use petri_api::model::{
    Attribute, Colony, Executor, Function, FunctionSpec, Log, Process, ProcessGraph, Statistics, User, Version,
    WorkflowSpec,
};
use petri_api::msg::*;
use petri_api::{Envelope, Replay, ReplyEnvelope};
use petri_crypto::PrivateKey;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::{SdkError, SdkResult};

/// A connection to one server. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    api_url: String,
    pubsub_url: String,
    /// The TLS configuration websockets use (HTTPS requests use the same one).
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The id the server announces for replay protection, asked once (`None`: it announces none).
    server_id: Arc<tokio::sync::OnceCell<Option<String>>>,
}

/// Message types servers answer without looking at the signature, so without replay checks.
const UNSIGNED: [&str; 2] = ["versionmsg", "getserverinfomsg"];

/// How long an idle pooled connection is kept. Below the server's header timeout (10 s by
/// default), which also closes idle keep-alive connections: a request sent on a connection
/// the server is closing at that moment would fail.
const POOL_IDLE: Duration = Duration::from_secs(5);
/// Replies without content.
#[derive(serde::Deserialize)]
struct Empty {}

pub(crate) fn decode_reply<R: DeserializeOwned>(reply: &ReplyEnvelope) -> SdkResult<R> {
    match reply.decode::<R>() {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(SdkError::Server {
            status: e.status,
            message: e.message,
        }),
        Err(e) => Err(SdkError::Decode(e.to_string())),
    }
}

impl Client {
    /// A client for `host:port`, over HTTPS and WSS when `tls` (trusting the public web's
    /// root certificates; use [`Client::with_ca_file`] for a server under a private CA).
    pub fn new(host: &str, port: u16, tls: bool) -> Self {
        let config = tls.then(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let mut config = rustls::ClientConfig::builder_with_provider(petri_pki::tls::provider())
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports TLS 1.2 and 1.3")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        });
        Self::build(host, port, config)
    }

    /// A client for `host:port` over HTTPS and WSS that trusts only the root certificate(s) in
    /// `ca_file` (PEM), such as the root of a `petri pki` tree. The server's certificate must name
    /// `host`.
    pub fn with_ca_file(host: &str, port: u16, ca_file: &Path) -> SdkResult<Self> {
        let config = petri_pki::tls::anonymous_client_config(ca_file, &[b"http/1.1"])
            .map_err(|e| SdkError::Config(format!("TLS trust: {e}")))?;
        Ok(Self::build(host, port, Some(config)))
    }

    /// A client for `host:port` over HTTPS and WSS with a ready TLS configuration (its ALPN
    /// should offer `http/1.1`).
    pub fn with_tls_config(host: &str, port: u16, config: Arc<rustls::ClientConfig>) -> Self {
        Self::build(host, port, Some(config))
    }

    fn build(host: &str, port: u16, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        let (http, ws) = if tls.is_some() {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        let mut builder = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(POOL_IDLE);
        if let Some(config) = &tls {
            builder = builder.use_preconfigured_tls(rustls::ClientConfig::clone(config));
        }
        Self {
            http: builder.build().unwrap_or_else(|_| reqwest::Client::new()),
            api_url: format!("{http}://{host}:{port}/api"),
            pubsub_url: format!("{ws}://{host}:{port}/pubsub"),
            tls,
            server_id: Arc::default(),
        }
    }

    /// This client with the server's replay-protection id fixed to `server_id` instead of asked
    /// for (the server owner's id, as `COLONIES_SERVER_ID` holds it). Messages then name it even
    /// if an answer on the way was forged; a server with another id refuses them.
    pub fn with_server_id(self, server_id: &str) -> Self {
        Self {
            server_id: Arc::new(tokio::sync::OnceCell::new_with(Some(Some(server_id.to_owned())))),
            ..self
        }
    }

    /// The id the server announces in its `versionmsg` reply, which every message this client
    /// signs then names (`None` when the server announces none: a Colonies server). Asked once
    /// per client and its clones.
    pub async fn server_id(&self) -> SdkResult<Option<String>> {
        let id = self
            .server_id
            .get_or_try_init(|| async {
                let envelope = Envelope::unsigned(GetVersion::MSGTYPE, &GetVersion {}.to_json())
                    .map_err(|e| SdkError::Decode(e.to_string()))?;
                let version: Version = self.post(&envelope).await?;
                SdkResult::Ok(Some(version.serverid).filter(|id| !id.is_empty()))
            })
            .await?;
        Ok(id.clone())
    }

    /// The envelope this client sends for `msg` signed by `key`. For a server that announces its
    /// id the message carries replay protection (see [`petri_api::replay`]): a fresh nonce, the
    /// time and the server's id, so the envelope is accepted once, for a short time, by that
    /// server only.
    pub async fn envelope<M: Message>(&self, msg: &M, key: &PrivateKey) -> SdkResult<Envelope> {
        let mut json = msg.to_json();
        if !UNSIGNED.contains(&M::MSGTYPE)
            && let Some(id) = self.server_id().await?
        {
            Replay::new(petri_crypto::random_nonce(), &id).attach(&mut json);
        }
        let mut envelope = Envelope::unsigned(M::MSGTYPE, &json).map_err(|e| SdkError::Decode(e.to_string()))?;
        envelope.signature = key.sign(&envelope.payload);
        Ok(envelope)
    }

    /// Opens a websocket to `/pubsub`.
    pub(crate) async fn pubsub(
        &self,
    ) -> SdkResult<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>> {
        let connector = self.tls.clone().map(tokio_tungstenite::Connector::Rustls);
        let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(&self.pubsub_url, None, false, connector)
            .await
            .map_err(|e| SdkError::Transport(e.to_string()))?;
        Ok(socket)
    }

    /// Sends `msg` signed by `key` and decodes the reply as `R`.
    pub async fn call<M: Message, R: DeserializeOwned>(&self, msg: &M, key: &PrivateKey) -> SdkResult<R> {
        let envelope = self.envelope(msg, key).await?;
        self.post(&envelope).await
    }

    /// Posts `envelope` and decodes the reply as `R`.
    async fn post<R: DeserializeOwned>(&self, envelope: &Envelope) -> SdkResult<R> {
        let body = serde_json::to_string(envelope).map_err(|e| SdkError::Decode(e.to_string()))?;
        let response = self
            .http
            .post(&self.api_url)
            .body(body)
            .send()
            .await
            .map_err(|e| SdkError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| SdkError::Transport(e.to_string()))?;
        let reply: ReplyEnvelope = serde_json::from_str(&text).map_err(|e| {
            SdkError::Decode(format!(
                "status {status}, body is not a reply envelope ({e}): {}",
                truncate(&text)
            ))
        })?;
        decode_reply(&reply)
    }

    pub(crate) async fn call_empty<M: Message>(&self, msg: &M, key: &PrivateKey) -> SdkResult<()> {
        self.call::<M, Empty>(msg, key).await.map(drop)
    }

    /// The server's version (no signature needed, but one is sent).
    pub async fn version(&self, key: &PrivateKey) -> SdkResult<Version> {
        self.call(&GetVersion {}, key).await
    }

    /// Whether `/health` answers.
    pub async fn alive(&self) -> SdkResult<bool> {
        let url = self.api_url.trim_end_matches("/api").to_owned() + "/health";
        let r = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| SdkError::Transport(e.to_string()))?;
        Ok(r.status().is_success())
    }

    /// Adds a colony (server owner).
    pub async fn add_colony(&self, colony: Colony, key: &PrivateKey) -> SdkResult<Colony> {
        self.call(&AddColony { colony }, key).await
    }
    /// Removes a colony and everything in it (server owner).
    pub async fn remove_colony(&self, colonyname: &str, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &RemoveColony {
                colonyname: colonyname.into(),
            },
            key,
        )
        .await
    }
    /// Lists colonies (server owner).
    pub async fn get_colonies(&self, key: &PrivateKey) -> SdkResult<Vec<Colony>> {
        self.call::<_, Option<Vec<Colony>>>(&GetColonies {}, key)
            .await
            .map(Option::unwrap_or_default)
    }
    /// A colony (member).
    pub async fn get_colony(&self, colonyname: &str, key: &PrivateKey) -> SdkResult<Colony> {
        self.call(
            &GetColony {
                colonyname: colonyname.into(),
            },
            key,
        )
        .await
    }
    /// Counts for a colony (member).
    pub async fn colony_stats(&self, colonyname: &str, key: &PrivateKey) -> SdkResult<Statistics> {
        self.call(
            &GetColonyStats {
                colonyname: colonyname.into(),
            },
            key,
        )
        .await
    }

    /// Registers an executor (colony owner); it starts pending.
    pub async fn add_executor(&self, executor: Executor, key: &PrivateKey) -> SdkResult<Executor> {
        self.call(&AddExecutor { executor }, key).await
    }
    /// Lists a colony's executors (member in any state).
    pub async fn get_executors(&self, colonyname: &str, key: &PrivateKey) -> SdkResult<Vec<Executor>> {
        self.call::<_, Option<Vec<Executor>>>(
            &GetExecutors {
                colonyname: colonyname.into(),
            },
            key,
        )
        .await
        .map(Option::unwrap_or_default)
    }
    /// An executor by name (member).
    pub async fn get_executor(&self, colonyname: &str, executorname: &str, key: &PrivateKey) -> SdkResult<Executor> {
        self.call(
            &GetExecutor {
                colonyname: colonyname.into(),
                executorname: executorname.into(),
            },
            key,
        )
        .await
    }
    /// Approves an executor (colony owner).
    pub async fn approve_executor(&self, colonyname: &str, executorname: &str, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &ApproveExecutor {
                colonyname: colonyname.into(),
                executorname: executorname.into(),
            },
            key,
        )
        .await
    }
    /// Rejects an executor (colony owner).
    pub async fn reject_executor(&self, colonyname: &str, executorname: &str, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &RejectExecutor {
                colonyname: colonyname.into(),
                executorname: executorname.into(),
            },
            key,
        )
        .await
    }
    /// Removes an executor; its running processes return to the queue (colony owner).
    pub async fn remove_executor(&self, colonyname: &str, executorname: &str, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &RemoveExecutor {
                colonyname: colonyname.into(),
                executorname: executorname.into(),
            },
            key,
        )
        .await
    }

    /// Declares a function the signing executor can run.
    pub async fn add_function(&self, function: Function, key: &PrivateKey) -> SdkResult<Function> {
        self.call(&AddFunction { fun: function }, key).await
    }
    /// Lists functions of a colony, or of one executor when `executorname` is not empty.
    pub async fn get_functions(
        &self,
        colonyname: &str,
        executorname: &str,
        key: &PrivateKey,
    ) -> SdkResult<Vec<Function>> {
        self.call::<_, Option<Vec<Function>>>(
            &GetFunctions {
                colonyname: colonyname.into(),
                executorname: executorname.into(),
            },
            key,
        )
        .await
        .map(Option::unwrap_or_default)
    }
    /// Removes a function registration.
    pub async fn remove_function(&self, functionid: &str, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &RemoveFunction {
                functionid: functionid.into(),
            },
            key,
        )
        .await
    }

    /// Submits a function spec; returns the waiting process.
    pub async fn submit(&self, spec: FunctionSpec, key: &PrivateKey) -> SdkResult<Process> {
        self.call(&SubmitFunctionSpec { spec }, key).await
    }
    /// Asks for a process to run, waiting up to `timeout_secs` (negative: do not wait).
    /// `None` when nothing was available in time.
    pub async fn assign(&self, colonyname: &str, timeout_secs: i64, key: &PrivateKey) -> SdkResult<Option<Process>> {
        let msg = AssignProcess {
            colonyname: colonyname.into(),
            timeout: timeout_secs,
            ..AssignProcess::default()
        };
        match self.call(&msg, key).await {
            Ok(p) => Ok(Some(p)),
            Err(SdkError::Server { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// Closes a process as successful with its output.
    pub async fn close(&self, processid: &str, out: Vec<Value>, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &CloseSuccessful {
                processid: processid.into(),
                out,
            },
            key,
        )
        .await
    }
    /// Closes a process as failed with its errors.
    pub async fn fail(&self, processid: &str, errors: Vec<String>, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &CloseFailed {
                processid: processid.into(),
                errors,
            },
            key,
        )
        .await
    }
    /// Sets a running process's output.
    pub async fn set_output(&self, processid: &str, out: Vec<Value>, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &SetOutput {
                processid: processid.into(),
                out,
            },
            key,
        )
        .await
    }
    /// A process by id.
    pub async fn get_process(&self, processid: &str, key: &PrivateKey) -> SdkResult<Process> {
        self.call(
            &GetProcess {
                processid: processid.into(),
            },
            key,
        )
        .await
    }
    /// Up to `count` (at most 100) processes of a colony in `state`.
    pub async fn get_processes(
        &self,
        colonyname: &str,
        state: i32,
        count: i64,
        key: &PrivateKey,
    ) -> SdkResult<Vec<Process>> {
        let msg = GetProcesses {
            colonyname: colonyname.into(),
            state,
            count,
            ..GetProcesses::default()
        };
        self.call::<_, Option<Vec<Process>>>(&msg, key)
            .await
            .map(Option::unwrap_or_default)
    }
    /// Removes a process that is not part of a workflow and not running.
    pub async fn remove_process(&self, processid: &str, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &RemoveProcess {
                processid: processid.into(),
                all: false,
            },
            key,
        )
        .await
    }
    /// Removes all standalone processes of a colony in `state` (−1: all) (colony owner).
    pub async fn remove_all_processes(&self, colonyname: &str, state: i32, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &RemoveAllProcesses {
                colonyname: colonyname.into(),
                state,
            },
            key,
        )
        .await
    }

    /// Submits a workflow.
    pub async fn submit_workflow(&self, spec: WorkflowSpec, key: &PrivateKey) -> SdkResult<ProcessGraph> {
        self.call(&SubmitWorkflowSpec { spec }, key).await
    }
    /// A workflow's graph.
    pub async fn get_graph(&self, processgraphid: &str, key: &PrivateKey) -> SdkResult<ProcessGraph> {
        self.call(
            &GetProcessGraph {
                processgraphid: processgraphid.into(),
            },
            key,
        )
        .await
    }
    /// Up to `count` workflows of a colony in `state`, newest first.
    pub async fn get_graphs(
        &self,
        colonyname: &str,
        state: i32,
        count: i64,
        key: &PrivateKey,
    ) -> SdkResult<Vec<ProcessGraph>> {
        let msg = GetProcessGraphs {
            colonyname: colonyname.into(),
            count,
            state,
        };
        self.call::<_, Option<Vec<ProcessGraph>>>(&msg, key)
            .await
            .map(Option::unwrap_or_default)
    }
    /// Removes a workflow and its processes.
    pub async fn remove_graph(&self, processgraphid: &str, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &RemoveProcessGraph {
                processgraphid: processgraphid.into(),
                all: false,
            },
            key,
        )
        .await
    }
    /// Removes all workflows of a colony in `state` (−1: all) (colony owner).
    pub async fn remove_all_graphs(&self, colonyname: &str, state: i32, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &RemoveAllProcessGraphs {
                colonyname: colonyname.into(),
                state,
            },
            key,
        )
        .await
    }
    /// Adds a process to a running workflow (by the executor running `parent`).
    pub async fn add_child(
        &self,
        processgraphid: &str,
        parent: &str,
        child: &str,
        spec: FunctionSpec,
        insert: bool,
        key: &PrivateKey,
    ) -> SdkResult<Process> {
        let msg = AddChild {
            processgraphid: processgraphid.into(),
            parentprocessid: parent.into(),
            childprocessid: child.into(),
            insert,
            spec,
        };
        self.call(&msg, key).await
    }

    /// Adds an attribute to a running process (its executor).
    pub async fn add_attribute(&self, attribute: Attribute, key: &PrivateKey) -> SdkResult<Attribute> {
        self.call(&AddAttribute { attribute }, key).await
    }
    /// An attribute by id.
    pub async fn get_attribute(&self, attributeid: &str, key: &PrivateKey) -> SdkResult<Attribute> {
        self.call(
            &GetAttribute {
                attributeid: attributeid.into(),
            },
            key,
        )
        .await
    }
    /// Appends a log line to a running process (its executor).
    pub async fn add_log(&self, processid: &str, message: &str, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &AddLog {
                processid: processid.into(),
                message: message.into(),
            },
            key,
        )
        .await
    }
    /// Reads log lines of a process.
    pub async fn get_logs(&self, msg: GetLogs, key: &PrivateKey) -> SdkResult<Vec<Log>> {
        self.call::<_, Option<Vec<Log>>>(&msg, key)
            .await
            .map(Option::unwrap_or_default)
    }

    /// Adds a user (colony owner).
    pub async fn add_user(&self, user: User, key: &PrivateKey) -> SdkResult<User> {
        self.call(&AddUser { user }, key).await
    }
    /// Lists a colony's users.
    pub async fn get_users(&self, colonyname: &str, key: &PrivateKey) -> SdkResult<Vec<User>> {
        self.call::<_, Option<Vec<User>>>(
            &GetUsers {
                colonyname: colonyname.into(),
            },
            key,
        )
        .await
        .map(Option::unwrap_or_default)
    }
    /// Removes a user (colony owner).
    pub async fn remove_user(&self, colonyname: &str, name: &str, key: &PrivateKey) -> SdkResult<()> {
        self.call_empty(
            &RemoveUser {
                colonyname: colonyname.into(),
                name: name.into(),
            },
            key,
        )
        .await
    }

    /// Waits over the websocket until the process reaches `state` (for
    /// successful or failed: until it finishes either way), up to
    /// `timeout_secs`. Returns the process, or `None` on timeout.
    pub async fn wait(
        &self,
        process: &Process,
        state: i32,
        timeout_secs: i64,
        key: &PrivateKey,
    ) -> SdkResult<Option<Process>> {
        let msg = SubscribeProcess {
            processid: process.processid.clone(),
            executortype: process.spec.conditions.executortype.clone(),
            state,
            timeout: timeout_secs,
            colonyname: process.spec.conditions.colonyname.clone(),
        };
        let envelope = self.envelope(&msg, key).await?;
        let text = serde_json::to_string(&envelope).map_err(|e| SdkError::Decode(e.to_string()))?;
        let mut ws = self.pubsub().await?;
        ws.send(WsMessage::Text(text.into()))
            .await
            .map_err(|e| SdkError::Transport(e.to_string()))?;
        // The server closes the connection at its timeout; allow a little slack for that.
        let limit = Duration::from_secs(timeout_secs.max(1) as u64 + 5);
        let frame = match tokio::time::timeout(limit, ws.next()).await {
            Err(_) | Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(SdkError::Transport(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        let _ = ws.close(None).await;
        let text = match frame {
            WsMessage::Text(t) => t.to_string(),
            WsMessage::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            _ => return Ok(None),
        };
        let reply: ReplyEnvelope = serde_json::from_str(&text).map_err(|e| SdkError::Decode(e.to_string()))?;
        decode_reply(&reply).map(Some)
    }
}

fn truncate(text: &str) -> &str {
    let end = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
    &text[..end]
}
