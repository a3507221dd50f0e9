//! The compute node: `PartyService` for orchestrators and for the two peer compute nodes.
//!
//! A session runs in four steps: fetch this party's input shares from the data nodes, open a
//! `SendValue` stream to each peer, run the program with the engine on a blocking thread (its
//! transport is the streams), and send this party's output shares to the result nodes. A peer's
//! stream is accepted only when the certificate of the connection names the address the
//! orchestrator gave for the party id the stream claims. Every wait has a timeout.

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use petri_mpc::{AShare, MpcError, Party, Transport};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};
use tonic::{Request, Response, Status, Streaming};

use crate::program::{Program, execute};
use crate::proto::data_manager_service_client::DataManagerServiceClient;
use crate::proto::party_service_client::PartyServiceClient;
use crate::proto::party_service_server::PartyService;
use crate::proto::result_provider_service_client::ResultProviderServiceClient;
use crate::proto::{
    BytesValue, CreateSessionRequest, CreateSessionResponse, CreateSessionResult, DataRequest, FinishSessionRequest,
    FinishSessionResponse, FinishSessionResult, GetValueRequest, GetValueStatus, ProvideResultRequest,
    ProvideResultStatus, RegisterGraphRequest, RegisterGraphResponse, RegisterGraphResult, SendValueRequest,
    SendValueResponse, SendValueResult, SessionEntry, SessionListRequest, SessionListResponse, SessionStatus,
    TypedValue, Value, value,
};
use crate::tls::{NodeTls, error_chain, peer};
use crate::values::{read_named_shares, share_tuple, share_tuple_type};

/// Largest piece of an engine message in one gRPC message.
const CHUNK: usize = 4 << 20;
/// How long a peer's stream waits for the session to be created here.
const SESSION_WAIT: Duration = Duration::from_secs(15);
/// Largest gRPC message accepted.
pub const MAX_MESSAGE: usize = 8 << 20;

/// How a compute node reaches its data and result nodes, and how long it waits for peers.
#[derive(Clone, Debug)]
pub struct ComputeConfig {
    /// Data nodes by name: host:port.
    pub data_nodes: HashMap<String, String>,
    /// Result nodes by name: host:port.
    pub result_nodes: HashMap<String, String>,
    /// How long to wait for a peer's message (and for connections).
    pub peer_timeout: Duration,
}

/// A compute node.
#[derive(Clone)]
pub struct ComputeNode {
    inner: Arc<Inner>,
}

struct Inner {
    tls: NodeTls,
    config: ComputeConfig,
    graphs: Mutex<HashMap<String, Arc<Program>>>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

type Inbox = std_mpsc::Sender<Result<Vec<u8>, String>>;
type InboxRx = std_mpsc::Receiver<Result<Vec<u8>, String>>;

struct Session {
    id: String,
    party: usize,
    addresses: Vec<(String, u16)>,
    state: Mutex<SessionState>,
    inbox_tx: Vec<Inbox>,
    inbox_rx: Mutex<Option<Vec<InboxRx>>>,
    streams: Mutex<[bool; 3]>,
}

struct SessionState {
    status: SessionStatus,
    error: String,
    stats: String,
}

impl ComputeNode {
    /// A compute node using `tls` for every connection.
    pub fn new(tls: NodeTls, config: ComputeConfig) -> ComputeNode {
        ComputeNode {
            inner: Arc::new(Inner {
                tls,
                config,
                graphs: Mutex::default(),
                sessions: Mutex::default(),
            }),
        }
    }

    fn session(&self, id: &str) -> Option<Arc<Session>> {
        self.inner.sessions.lock().ok().and_then(|s| s.get(id).cloned())
    }
}

fn set_state(session: &Session, status: SessionStatus, error: String, stats: String) {
    if let Ok(mut st) = session.state.lock() {
        st.status = status;
        st.error = error;
        if !stats.is_empty() {
            st.stats = stats;
        }
    }
}

#[tonic::async_trait]
impl PartyService for ComputeNode {
    async fn register_graph(
        &self,
        request: Request<RegisterGraphRequest>,
    ) -> Result<Response<RegisterGraphResponse>, Status> {
        let req = request.into_inner();
        let reply = |result: RegisterGraphResult, message: String| {
            Ok(Response::new(RegisterGraphResponse {
                result: result as i32,
                message,
            }))
        };
        if req.graph_id.is_empty() {
            return reply(
                RegisterGraphResult::RegisterGraphGenericFailure,
                "empty graph_id".into(),
            );
        }
        let program = match Program::parse(&req.graph_json) {
            Ok(p) => p,
            Err(e) => return reply(RegisterGraphResult::RegisterGraphGenericFailure, e),
        };
        for source in program.data_sources() {
            if !self.inner.config.data_nodes.contains_key(&source) {
                return reply(
                    RegisterGraphResult::RegisterGraphGenericFailure,
                    format!("this compute node knows no data node {source:?}"),
                );
            }
        }
        for out in &program.outputs {
            if !self.inner.config.result_nodes.contains_key(&out.to) {
                return reply(
                    RegisterGraphResult::RegisterGraphGenericFailure,
                    format!("this compute node knows no result node {:?}", out.to),
                );
            }
        }
        let mut graphs = self
            .inner
            .graphs
            .lock()
            .map_err(|_| Status::internal("lock poisoned"))?;
        if graphs.contains_key(&req.graph_id) {
            return reply(
                RegisterGraphResult::RegisterGraphDuplicate,
                format!("graph {} is already registered", req.graph_id),
            );
        }
        graphs.insert(req.graph_id.clone(), Arc::new(program));
        tracing::info!(graph = %req.graph_id, "program registered");
        reply(RegisterGraphResult::RegisterGraphSuccess, String::new())
    }

    async fn create_session(
        &self,
        request: Request<CreateSessionRequest>,
    ) -> Result<Response<CreateSessionResponse>, Status> {
        let req = request.into_inner();
        let reply = |result: CreateSessionResult, message: String| {
            if !message.is_empty() {
                tracing::warn!(session = %req.session_id, %message, "session refused");
            }
            Ok(Response::new(CreateSessionResponse {
                result: result as i32,
                message,
            }))
        };
        let Some(program) = self
            .inner
            .graphs
            .lock()
            .ok()
            .and_then(|g| g.get(&req.graph_id).cloned())
        else {
            return reply(
                CreateSessionResult::CreateSessionMissingGraph,
                format!("no graph {:?} is registered", req.graph_id),
            );
        };
        if req.session_id.is_empty() || req.session_id.len() > 128 {
            return reply(
                CreateSessionResult::CreateSessionInvalidConfiguration,
                "session_id must be 1..=128 characters".into(),
            );
        }
        if req.party_id > 2 {
            return reply(
                CreateSessionResult::CreateSessionInvalidConfiguration,
                format!("party_id must be 0, 1 or 2, not {}", req.party_id),
            );
        }
        if req.party_address.len() != 3 {
            return reply(
                CreateSessionResult::CreateSessionInvalidConfiguration,
                format!("party_address must list 3 parties, not {}", req.party_address.len()),
            );
        }
        let mut addresses = Vec::new();
        for a in &req.party_address {
            let port = u16::try_from(a.port).ok().filter(|p| *p != 0);
            match port {
                Some(port) if !a.address.is_empty() => addresses.push((a.address.clone(), port)),
                _ => {
                    return reply(
                        CreateSessionResult::CreateSessionInvalidConfiguration,
                        format!("party address {}:{} is not valid", a.address, a.port),
                    );
                }
            }
        }
        let key = match <DataRequest as prost::Message>::decode(req.data_settings.as_slice()) {
            Ok(d) => d.key,
            Err(e) => {
                return reply(
                    CreateSessionResult::CreateSessionInvalidConfiguration,
                    format!("data_settings is not a DataRequest: {e}"),
                );
            }
        };
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..3).map(|_| std_mpsc::channel()).unzip();
        let session = Arc::new(Session {
            id: req.session_id.clone(),
            party: req.party_id as usize,
            addresses,
            state: Mutex::new(SessionState {
                status: SessionStatus::Created,
                error: String::new(),
                stats: String::new(),
            }),
            inbox_tx: txs,
            inbox_rx: Mutex::new(Some(rxs)),
            streams: Mutex::new([false; 3]),
        });
        {
            let mut sessions = self
                .inner
                .sessions
                .lock()
                .map_err(|_| Status::internal("lock poisoned"))?;
            if sessions.contains_key(&req.session_id) {
                return reply(
                    CreateSessionResult::CreateSessionDuplicateSession,
                    format!("session {} already exists", req.session_id),
                );
            }
            sessions.insert(req.session_id.clone(), session.clone());
        }
        tracing::info!(session = %req.session_id, graph = %req.graph_id, party = req.party_id, "session created");
        let node = self.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            match node.run_session(&session, &program, &key).await {
                Ok(stats) => {
                    tracing::info!(session = %session.id, secs = t0.elapsed().as_secs_f64(), "session finished");
                    set_state(&session, SessionStatus::Finished, String::new(), stats);
                }
                Err(error) => {
                    tracing::warn!(session = %session.id, %error, "session failed");
                    set_state(&session, SessionStatus::Failed, error, String::new());
                }
            }
        });
        reply(CreateSessionResult::CreateSessionSuccess, String::new())
    }

    async fn finish_session(
        &self,
        request: Request<FinishSessionRequest>,
    ) -> Result<Response<FinishSessionResponse>, Status> {
        let id = request.into_inner().session_id;
        let removed = self
            .inner
            .sessions
            .lock()
            .map_err(|_| Status::internal("lock poisoned"))?
            .remove(&id);
        Ok(Response::new(match removed {
            Some(_) => FinishSessionResponse {
                result: FinishSessionResult::FinishSessionSuccess as i32,
                message: String::new(),
            },
            None => FinishSessionResponse {
                result: FinishSessionResult::FinishSessionMissingSession as i32,
                message: format!("no session {id:?}"),
            },
        }))
    }

    async fn list_sessions(
        &self,
        _request: Request<SessionListRequest>,
    ) -> Result<Response<SessionListResponse>, Status> {
        let sessions = self
            .inner
            .sessions
            .lock()
            .map_err(|_| Status::internal("lock poisoned"))?;
        let mut entries: Vec<SessionEntry> = sessions
            .values()
            .map(|s| {
                let st = s.state.lock();
                let (status, error, stats) = match st {
                    Ok(st) => (st.status, st.error.clone(), st.stats.clone()),
                    Err(_) => (SessionStatus::Failed, "lock poisoned".into(), String::new()),
                };
                SessionEntry {
                    session_id: s.id.clone(),
                    status: status as i32,
                    error,
                    stats_json: stats,
                }
            })
            .collect();
        entries.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        Ok(Response::new(SessionListResponse { session: entries }))
    }

    type SendValueStream = ReceiverStream<Result<SendValueResponse, Status>>;

    async fn send_value(
        &self,
        request: Request<Streaming<SendValueRequest>>,
    ) -> Result<Response<Self::SendValueStream>, Status> {
        let peer_info = peer(&request);
        let mut stream = request.into_inner();
        let (resp_tx, resp_rx) = mpsc::channel(4);
        let node = self.clone();
        tokio::spawn(async move {
            let refuse = |result: SendValueResult, message: String| {
                let resp_tx = resp_tx.clone();
                async move {
                    tracing::warn!(%message, "peer stream refused");
                    let _ = resp_tx
                        .send(Ok(SendValueResponse {
                            result: result as i32,
                            message,
                            node_id: 0,
                        }))
                        .await;
                }
            };
            let first = match stream.message().await {
                Ok(Some(m)) => m,
                _ => return,
            };
            let deadline = Instant::now() + SESSION_WAIT;
            let session = loop {
                if let Some(s) = node.session(&first.session_id) {
                    break s;
                }
                if Instant::now() > deadline {
                    refuse(
                        SendValueResult::SendValueUnknownSession,
                        format!("no session {:?} here", first.session_id),
                    )
                    .await;
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let from = first.party_id as usize;
            if from > 2 || from == session.party {
                refuse(
                    SendValueResult::SendValueWrongParty,
                    format!("party id {} cannot send to party {}", first.party_id, session.party),
                )
                .await;
                return;
            }
            let expected = &session.addresses[from].0;
            if !peer_info.as_ref().is_some_and(|p| p.has_name(expected)) {
                refuse(
                    SendValueResult::SendValueWrongParty,
                    format!(
                        "the stream claims party {from} ({expected}) but its certificate names {}",
                        peer_info.map(|p| p.names.join(", ")).unwrap_or_default()
                    ),
                )
                .await;
                return;
            }
            let duplicate = match session.streams.lock() {
                Ok(mut streams) => std::mem::replace(&mut streams[from], true),
                Err(_) => return,
            };
            if duplicate {
                refuse(
                    SendValueResult::SendValueDuplicate,
                    format!("party {from} already has a stream in this session"),
                )
                .await;
                return;
            }
            let inbox = session.inbox_tx[from].clone();
            let mut buf: Vec<u8> = Vec::new();
            let mut next = Some(first);
            loop {
                let msg = match next.take() {
                    Some(m) => m,
                    None => match stream.message().await {
                        Ok(Some(m)) => m,
                        Ok(None) => return,
                        Err(e) => {
                            let _ = inbox.send(Err(format!("stream from party {from} broke: {e}")));
                            return;
                        }
                    },
                };
                if msg.session_id != session.id || msg.party_id as usize != from {
                    let _ = inbox.send(Err(format!("party {from} switched session or party id mid-stream")));
                    return;
                }
                match msg.data.and_then(|d| d.value) {
                    Some(value::Value::Bytes(b)) if buf.is_empty() => buf = b.data,
                    Some(value::Value::Bytes(b)) => buf.extend_from_slice(&b.data),
                    _ => {
                        let _ = inbox.send(Err(format!("party {from} sent a value that is not bytes")));
                        return;
                    }
                }
                if msg.node_id & 1 == 0 {
                    if inbox.send(Ok(std::mem::take(&mut buf))).is_err() {
                        return;
                    }
                } else if buf.len() > (1 << 31) {
                    let _ = inbox.send(Err(format!("party {from} sent an oversized message")));
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(resp_rx)))
    }
}

/// The engine's transport over the peer streams. The engine thread turns each message into
/// requests itself and queues them straight onto the peer's request stream, so a message reaches
/// gRPC without passing through another task.
struct NetTransport {
    me: usize,
    session_id: String,
    out: Vec<Option<mpsc::UnboundedSender<SendValueRequest>>>,
    inbox: Vec<Option<InboxRx>>,
    timeout: Duration,
}

impl Transport for NetTransport {
    fn send(&mut self, to: usize, msg: Vec<u8>) -> petri_mpc::Result<()> {
        let tx = self
            .out
            .get(to)
            .and_then(Option::as_ref)
            .ok_or_else(|| MpcError::Invalid(format!("no stream to party {to}")))?;
        for (node_id, data) in chunk(msg) {
            let req = SendValueRequest {
                node_id,
                data: Some(Value {
                    value: Some(value::Value::Bytes(BytesValue { data })),
                }),
                party_id: self.me as u64,
                session_id: self.session_id.clone(),
            };
            tx.send(req).map_err(|_| MpcError::Transport {
                peer: to,
                reason: "the stream to the peer has closed".into(),
            })?;
        }
        Ok(())
    }

    fn recv(&mut self, from: usize) -> petri_mpc::Result<Vec<u8>> {
        let rx = self
            .inbox
            .get(from)
            .and_then(Option::as_ref)
            .ok_or_else(|| MpcError::Invalid(format!("no stream from party {from}")))?;
        match rx.recv_timeout(self.timeout) {
            Ok(Ok(msg)) => Ok(msg),
            Ok(Err(reason)) => Err(MpcError::Transport { peer: from, reason }),
            Err(std_mpsc::RecvTimeoutError::Timeout) => Err(MpcError::Timeout {
                peer: from,
                secs: self.timeout.as_secs(),
            }),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => Err(MpcError::Transport {
                peer: from,
                reason: "the stream from the peer has closed".into(),
            }),
        }
    }
}

impl ComputeNode {
    async fn run_session(&self, session: &Arc<Session>, program: &Arc<Program>, key: &[u8]) -> Result<String, String> {
        set_state(session, SessionStatus::Running, String::new(), String::new());
        let timeout = self.inner.config.peer_timeout;
        let me = session.party;
        let t0 = Instant::now();
        let inputs = self.fetch_inputs(program, key, me, timeout).await?;
        let fetch_secs = t0.elapsed().as_secs_f64();

        // Streams to both peers; the node's own inbox was created with the session.
        let mut out: Vec<Option<mpsc::UnboundedSender<SendValueRequest>>> = vec![None, None, None];
        let mut tasks = Vec::new();
        for peer_id in (0..3).filter(|p| *p != me) {
            let (host, port) = session.addresses[peer_id].clone();
            let client = self.connect_retry(&host, port, timeout).await?;
            let (tx, rx) = mpsc::unbounded_channel::<SendValueRequest>();
            out[peer_id] = Some(tx);
            let requests = UnboundedReceiverStream::new(rx);
            let mut client = PartyServiceClient::new(client)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE);
            let inbox = session.inbox_tx[peer_id].clone();
            tasks.push(tokio::spawn(async move {
                match client.send_value(requests).await {
                    Ok(resp) => {
                        let mut responses = resp.into_inner();
                        while let Ok(Some(r)) = responses.message().await {
                            if r.result != SendValueResult::SendValueSuccess as i32 {
                                let _ = inbox.send(Err(format!("party {peer_id} refused our stream: {}", r.message)));
                            }
                        }
                    }
                    Err(e) => {
                        let _ = inbox.send(Err(format!("stream to party {peer_id}: {}", e.message())));
                    }
                }
            }));
        }
        let rxs = session
            .inbox_rx
            .lock()
            .map_err(|_| "internal lock poisoned".to_string())?
            .take()
            .ok_or("session already ran")?;
        let transport = NetTransport {
            me,
            session_id: session.id.clone(),
            out,
            inbox: rxs.into_iter().map(Some).collect(),
            timeout,
        };
        let program2 = program.clone();
        let t1 = Instant::now();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut party = Party::new(me, transport).map_err(|e| e.to_string())?;
            let outcome = execute(&mut party, &program2, inputs)?;
            Ok::<_, String>((outcome, party.stats()))
        })
        .await
        .map_err(|e| format!("engine thread failed: {e}"))?;
        // The engine's transport is gone, so the outgoing streams drain and end; wait for that so
        // the last messages reach the peers.
        for t in tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout(timeout, t).await.is_err() {
                abort.abort();
            }
        }
        let (outcome, stats) = outcome?;
        let compute_secs = t1.elapsed().as_secs_f64();
        for (decl, ty, share) in &outcome.outputs {
            self.deliver(session, &decl.to, &decl.value, &ty.name(), share, timeout)
                .await?;
        }
        let stats = serde_json::json!({
            "party": me,
            "fetch_secs": fetch_secs,
            "compute_secs": compute_secs,
            "rounds": stats.rounds,
            "bytes_sent": stats.bytes_sent,
            "bytes_received": stats.bytes_received,
            "steps": outcome.steps,
        });
        Ok(stats.to_string())
    }

    async fn connect_retry(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<tonic::transport::Channel, String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self
                .inner
                .tls
                .channel(host, port, timeout.min(Duration::from_secs(10)))
                .await
            {
                Ok(c) => return Ok(c),
                Err(e) if Instant::now() < deadline && e.to_string().contains("refused") => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    async fn fetch_inputs(
        &self,
        program: &Program,
        key: &[u8],
        me: usize,
        timeout: Duration,
    ) -> Result<HashMap<String, AShare>, String> {
        let mut inputs = HashMap::new();
        for source in program.data_sources() {
            let addr = self
                .inner
                .config
                .data_nodes
                .get(&source)
                .ok_or_else(|| format!("no data node {source:?} configured"))?;
            let (host, port) = crate::tls::split_host_port(addr).map_err(|e| e.to_string())?;
            let channel = self.connect_retry(&host, port, timeout).await?;
            let mut client = DataManagerServiceClient::new(channel).max_decoding_message_size(usize::MAX);
            let resp = tokio::time::timeout(timeout, client.get_value(GetValueRequest { key: key.to_vec() }))
                .await
                .map_err(|_| format!("data node {source} did not answer within {} s", timeout.as_secs()))?
                .map_err(|e| format!("data node {source}: {}", e.message()))?
                .into_inner();
            if resp.status != GetValueStatus::GetValueOk as i32 {
                return Err(format!("data node {source}: {}", resp.error));
            }
            for typed in &resp.typed_value {
                for (name, share) in read_named_shares(me, typed).map_err(|e| format!("data node {source}: {e}"))? {
                    for input in &program.inputs {
                        if input.from == source && input.value.as_deref().unwrap_or(&input.name) == name {
                            inputs.insert(input.name.clone(), share.clone());
                        }
                    }
                }
            }
        }
        Ok(inputs)
    }

    async fn deliver(
        &self,
        session: &Session,
        to: &str,
        output: &str,
        ty: &str,
        share: &AShare,
        timeout: Duration,
    ) -> Result<(), String> {
        let addr = self
            .inner
            .config
            .result_nodes
            .get(to)
            .ok_or_else(|| format!("no result node {to:?} configured"))?;
        let (host, port) = crate::tls::split_host_port(addr).map_err(|e| e.to_string())?;
        let channel = self.connect_retry(&host, port, timeout).await?;
        let mut client = ResultProviderServiceClient::new(channel).max_encoding_message_size(usize::MAX);
        let request = ProvideResultRequest {
            key: format!("{}/{output}/{ty}", session.id),
            error: String::new(),
            typed_value: Some(TypedValue {
                value: Some(share_tuple(session.party, share)),
                type_json: share_tuple_type(share.len()).to_string(),
            }),
        };
        let resp = tokio::time::timeout(timeout, client.provide_result(request))
            .await
            .map_err(|_| format!("result node {to} did not answer within {} s", timeout.as_secs()))?
            .map_err(|e| format!("result node {to}: {}", error_chain(&e)))?
            .into_inner();
        if resp.status != ProvideResultStatus::ProvideResultOk as i32 {
            return Err(format!("result node {to}: {}", resp.error));
        }
        Ok(())
    }
}

/// Splits a message into chunks of at most [`CHUNK`] bytes; `node_id` = sequence·2 + (1 if more
/// chunks follow).
fn chunk(msg: Vec<u8>) -> Vec<(u64, Vec<u8>)> {
    if msg.len() <= CHUNK {
        // The common case travels without a copy.
        return vec![(0, msg)];
    }
    let pieces: Vec<&[u8]> = msg.chunks(CHUNK).collect();
    let last = pieces.len() - 1;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, p)| (((i as u64) << 1) | u64::from(i != last), p.to_vec()))
        .collect()
}
