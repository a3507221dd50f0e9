//! The compute node: `PartyService` for orchestrators and for the two peer compute nodes.
//!
//! Who may do what is fixed by the node's [`ComputeConfig`], never by a request:
//!
//! - programs and sessions (`RegisterGraph`, `CreateSession`, `FinishSession`, `ListSessions`)
//!   come only from a configured orchestrator, recognised by a name in its verified certificate,
//!   or, in workflow mode, from an `mpc_party` process whose initiator key id is configured; a
//!   caller sees and ends only its own sessions, and runs only programs it registered itself;
//! - the node is always its configured party, and the three parties are always the configured
//!   compute nodes: a `CreateSession` with another party id or other addresses is refused;
//! - a peer's stream is accepted only from the certificate naming the configured host of the
//!   party the stream claims to be.
//!
//! A session runs in four steps: fetch this party's input shares from the data nodes (sending
//! them the session's program and who started it, so their policies can decide), open a
//! `SendValue` stream to each peer, run the program with the engine on a blocking thread (its
//! transport is the streams), and send this party's output shares to the result nodes.
//!
//! Peer links are bounded: a message longer than the engine ever sends
//! ([`petri_mpc::MAX_MESSAGE_BYTES`]) fails the stream, and each peer's inbox holds at most
//! [`INBOX_BYTES`] unread; beyond that the stream is no longer read (HTTP/2 flow control holds the
//! peer back), and if the engine has not made room within the peer timeout the stream is closed
//! as a flood. The engine's own sends never wait: they are bounded by its program. Every wait has
//! a timeout.

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use petri_mpc::{AShare, MAX_MESSAGE_BYTES, MpcError, Party, Transport};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};
use tonic::{Request, Response, Status, Streaming};

use crate::data::{SHARE_REQUEST_FORMAT, ShareRequest};
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
use crate::tls::{NodeTls, error_chain, peer, split_host_port};
use crate::values::{read_named_shares, share_tuple, share_tuple_type};
use crate::{NetError, Result as NetResult};

/// How long a peer's stream waits for the session to be created here.
const SESSION_WAIT: Duration = Duration::from_secs(15);
/// Largest gRPC message accepted: programs, and peer messages (which the engine keeps to
/// [`MAX_MESSAGE_BYTES`]).
pub const MAX_MESSAGE: usize = 4 << 20;
/// Bytes one peer may have waiting, unread by the engine, in one session's inbox (64 of the
/// engine's largest messages; an honest round keeps a few in flight).
pub const INBOX_BYTES: usize = 64 * MAX_MESSAGE_BYTES;
/// What a message costs in the inbox beyond its bytes, so that empty messages count too.
const MESSAGE_OVERHEAD: usize = 64;

/// Where a compute node sits in the federation, whom it obeys, and how it reaches its data and
/// result nodes.
#[derive(Clone, Debug)]
pub struct ComputeConfig {
    /// This node's party id (0, 1 or 2). A session for another party id is refused.
    pub party: usize,
    /// The three compute nodes, `host:port` in party order, this node's own included. Each
    /// host must be named in that node's certificate. A session naming other addresses is
    /// refused.
    pub nodes: [String; 3],
    /// Certificate names (DNS names or IP addresses) of the orchestrators that may register
    /// programs and run sessions over gRPC.
    pub orchestrators: Vec<String>,
    /// Colony key ids of the initiators whose `mpc_party` processes this node runs.
    pub initiators: Vec<String>,
    /// Data nodes by name: host:port.
    pub data_nodes: HashMap<String, String>,
    /// Result nodes by name: host:port.
    pub result_nodes: HashMap<String, String>,
    /// How long to wait for a peer's message (and for connections).
    pub peer_timeout: Duration,
}

/// Who asks a compute node for something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// An orchestrator over gRPC, by the names of its verified certificate.
    Orchestrator(Vec<String>),
    /// The initiator of a petri workflow (colony key id), for an `mpc_party` process.
    Initiator(String),
}

impl Caller {
    /// The identities a data node's policy may list for this caller.
    pub fn identities(&self) -> Vec<String> {
        match self {
            Caller::Orchestrator(names) => names.clone(),
            Caller::Initiator(id) => vec![id.clone()],
        }
    }

    fn describe(&self) -> String {
        match self {
            Caller::Orchestrator(names) if names.is_empty() => "a certificate without names".into(),
            Caller::Orchestrator(names) => format!("the certificate of {}", names.join(", ")),
            Caller::Initiator(id) => format!("initiator {id}"),
        }
    }
}

/// A compute node.
#[derive(Clone)]
pub struct ComputeNode {
    inner: Arc<Inner>,
}

struct Inner {
    tls: NodeTls,
    config: ComputeConfig,
    addresses: [(String, u16); 3],
    graphs: Mutex<HashMap<String, Graph>>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

struct Graph {
    program: Arc<Program>,
    owner: Caller,
}

type Inbox = std_mpsc::Sender<Result<Vec<u8>, String>>;
type InboxRx = std_mpsc::Receiver<Result<Vec<u8>, String>>;

struct Session {
    id: String,
    graph_id: String,
    party: usize,
    creator: Caller,
    state: Mutex<SessionState>,
    inbox_tx: Vec<Inbox>,
    inbox_rx: Mutex<Option<Vec<InboxRx>>>,
    /// Room left in each peer's inbox, in bytes ([`INBOX_BYTES`] at first).
    credits: Vec<Arc<Semaphore>>,
    streams: Mutex<[bool; 3]>,
}

struct SessionState {
    status: SessionStatus,
    error: String,
    stats: String,
}

fn cost(len: usize) -> usize {
    len + MESSAGE_OVERHEAD
}

impl ComputeNode {
    /// A compute node using `tls` for every connection. Fails if the configuration is not
    /// coherent, in particular if this node's certificate does not name its own host.
    pub fn new(tls: NodeTls, config: ComputeConfig) -> NetResult<ComputeNode> {
        if config.party > 2 {
            return Err(NetError::Config(format!(
                "the party id must be 0, 1 or 2, not {}",
                config.party
            )));
        }
        let mut addresses: [(String, u16); 3] = Default::default();
        for (slot, node) in addresses.iter_mut().zip(&config.nodes) {
            *slot = split_host_port(node)?;
        }
        for i in 0..3 {
            for j in i + 1..3 {
                if addresses[i].0.eq_ignore_ascii_case(&addresses[j].0) {
                    return Err(NetError::Config(format!(
                        "compute nodes {i} and {j} share the host {}: parties are told apart by the host their certificates name",
                        addresses[i].0
                    )));
                }
            }
        }
        let own = &addresses[config.party].0;
        if !tls.has_name(own) {
            return Err(NetError::Config(format!(
                "this node is party {} at {own}, but its certificate names {}",
                config.party,
                tls.names().join(", ")
            )));
        }
        if config.orchestrators.is_empty() && config.initiators.is_empty() {
            tracing::warn!("no orchestrator or initiator is configured: this compute node will refuse every session");
        }
        Ok(ComputeNode {
            inner: Arc::new(Inner {
                tls,
                config,
                addresses,
                graphs: Mutex::default(),
                sessions: Mutex::default(),
            }),
        })
    }

    /// This node's configuration.
    pub fn config(&self) -> &ComputeConfig {
        &self.inner.config
    }

    fn session(&self, id: &str) -> Option<Arc<Session>> {
        self.inner.sessions.lock().ok().and_then(|s| s.get(id).cloned())
    }

    /// The caller of a gRPC request, if its certificate names a configured orchestrator.
    fn orchestrator<T>(&self, request: &Request<T>, what: &str) -> Result<Caller, Status> {
        let names = peer(request).map(|p| p.names).unwrap_or_default();
        let configured = &self.inner.config.orchestrators;
        if names
            .iter()
            .any(|n| configured.iter().any(|o| o.eq_ignore_ascii_case(n)))
        {
            return Ok(Caller::Orchestrator(names));
        }
        let caller = Caller::Orchestrator(names);
        tracing::warn!(caller = %caller.describe(), what, "refused: not a configured orchestrator");
        Err(Status::permission_denied(format!(
            "{} is not an orchestrator of this compute node: {what} refused",
            caller.describe()
        )))
    }

    /// The caller of an `mpc_party` process, if its initiator is configured.
    pub(crate) fn initiator(&self, id: &str) -> Result<Caller, String> {
        if self.inner.config.initiators.iter().any(|i| i.eq_ignore_ascii_case(id)) {
            Ok(Caller::Initiator(id.to_string()))
        } else {
            Err(format!(
                "initiator {id} may not run sessions on this compute node (it is not one of its --initiator keys)"
            ))
        }
    }

    pub(crate) fn register(&self, caller: &Caller, req: RegisterGraphRequest) -> RegisterGraphResponse {
        let reply = |result: RegisterGraphResult, message: String| RegisterGraphResponse {
            result: result as i32,
            message,
        };
        if req.graph_id.is_empty() || req.graph_id.len() > 160 {
            return reply(
                RegisterGraphResult::RegisterGraphGenericFailure,
                "graph_id must be 1..=160 characters".into(),
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
        let Ok(mut graphs) = self.inner.graphs.lock() else {
            return reply(RegisterGraphResult::RegisterGraphGenericFailure, "lock poisoned".into());
        };
        if graphs.contains_key(&req.graph_id) {
            return reply(
                RegisterGraphResult::RegisterGraphDuplicate,
                format!("graph {} is already registered", req.graph_id),
            );
        }
        tracing::info!(graph = %req.graph_id, program = %program.hash(), caller = %caller.describe(), "program registered");
        graphs.insert(
            req.graph_id,
            Graph {
                program: Arc::new(program),
                owner: caller.clone(),
            },
        );
        reply(RegisterGraphResult::RegisterGraphSuccess, String::new())
    }

    pub(crate) fn create(&self, caller: &Caller, req: CreateSessionRequest) -> CreateSessionResponse {
        let reply = |result: CreateSessionResult, message: String| {
            if !message.is_empty() {
                tracing::warn!(session = %req.session_id, %message, "session refused");
            }
            CreateSessionResponse {
                result: result as i32,
                message,
            }
        };
        let invalid = CreateSessionResult::CreateSessionInvalidConfiguration;
        let graph = self.inner.graphs.lock().ok().and_then(|g| {
            g.get(&req.graph_id)
                .map(|graph| (graph.program.clone(), graph.owner == *caller))
        });
        let program = match graph {
            None => {
                return reply(
                    CreateSessionResult::CreateSessionMissingGraph,
                    format!("no graph {:?} is registered", req.graph_id),
                );
            }
            Some((_, false)) => {
                return reply(
                    CreateSessionResult::CreateSessionMissingGraph,
                    format!("graph {:?} was registered by another caller", req.graph_id),
                );
            }
            Some((program, true)) => program,
        };
        if req.session_id.is_empty() || req.session_id.len() > 128 {
            return reply(invalid, "session_id must be 1..=128 characters".into());
        }
        let me = self.inner.config.party;
        if req.party_id != me as u64 {
            return reply(
                invalid,
                format!(
                    "party_id {} is not this node's party: this node is configured as party {me}",
                    req.party_id
                ),
            );
        }
        if req.party_address.len() != 3 {
            return reply(
                invalid,
                format!("party_address must list 3 parties, not {}", req.party_address.len()),
            );
        }
        for (i, (a, (host, port))) in req.party_address.iter().zip(&self.inner.addresses).enumerate() {
            if !a.address.eq_ignore_ascii_case(host) || a.port != u32::from(*port) {
                return reply(
                    invalid,
                    format!(
                        "party_address {i} is {}:{}, but this node's configuration has {host}:{port} for party {i}",
                        a.address, a.port
                    ),
                );
            }
        }
        let key = match <DataRequest as prost::Message>::decode(req.data_settings.as_slice()) {
            Ok(d) => d.key,
            Err(e) => return reply(invalid, format!("data_settings is not a DataRequest: {e}")),
        };
        let Ok(dataset) = String::from_utf8(key) else {
            return reply(invalid, "the dataset key is not UTF-8".into());
        };
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..3).map(|_| std_mpsc::channel()).unzip();
        let session = Arc::new(Session {
            id: req.session_id.clone(),
            graph_id: req.graph_id.clone(),
            party: me,
            creator: caller.clone(),
            state: Mutex::new(SessionState {
                status: SessionStatus::Created,
                error: String::new(),
                stats: String::new(),
            }),
            inbox_tx: txs,
            inbox_rx: Mutex::new(Some(rxs)),
            credits: (0..3).map(|_| Arc::new(Semaphore::new(INBOX_BYTES))).collect(),
            streams: Mutex::new([false; 3]),
        });
        {
            let Ok(mut sessions) = self.inner.sessions.lock() else {
                return reply(CreateSessionResult::CreateSessionGenericFailure, "lock poisoned".into());
            };
            if sessions.contains_key(&req.session_id) {
                return reply(
                    CreateSessionResult::CreateSessionDuplicateSession,
                    format!("session {} already exists", req.session_id),
                );
            }
            sessions.insert(req.session_id.clone(), session.clone());
        }
        tracing::info!(session = %req.session_id, graph = %req.graph_id, party = me, caller = %caller.describe(), "session created");
        let node = self.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            match node.run_session(&session, &program, &dataset).await {
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

    /// Removes a session of `caller`, and its program unless another session still uses it.
    pub(crate) fn finish(&self, caller: &Caller, id: &str) -> FinishSessionResponse {
        let missing = || FinishSessionResponse {
            result: FinishSessionResult::FinishSessionMissingSession as i32,
            message: format!("no session {id:?}"),
        };
        let Ok(mut sessions) = self.inner.sessions.lock() else {
            return FinishSessionResponse {
                result: FinishSessionResult::FinishSessionGenericFailure as i32,
                message: "lock poisoned".into(),
            };
        };
        // Someone else's session is answered like a missing one.
        if !sessions.get(id).is_some_and(|s| s.creator == *caller) {
            return missing();
        }
        let Some(removed) = sessions.remove(id) else {
            return missing();
        };
        if !sessions.values().any(|s| s.graph_id == removed.graph_id)
            && let Ok(mut graphs) = self.inner.graphs.lock()
        {
            graphs.remove(&removed.graph_id);
        }
        FinishSessionResponse {
            result: FinishSessionResult::FinishSessionSuccess as i32,
            message: String::new(),
        }
    }

    /// Removes a registered program that no session uses.
    pub(crate) fn forget_graph(&self, graph_id: &str) {
        let in_use = self
            .inner
            .sessions
            .lock()
            .map(|s| s.values().any(|s| s.graph_id == graph_id))
            .unwrap_or(true);
        if !in_use && let Ok(mut graphs) = self.inner.graphs.lock() {
            graphs.remove(graph_id);
        }
    }

    /// The sessions `caller` created.
    pub(crate) fn list(&self, caller: &Caller) -> SessionListResponse {
        let Ok(sessions) = self.inner.sessions.lock() else {
            return SessionListResponse::default();
        };
        let mut entries: Vec<SessionEntry> = sessions
            .values()
            .filter(|s| s.creator == *caller)
            .map(|s| {
                let (status, error, stats) = match s.state.lock() {
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
        SessionListResponse { session: entries }
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
        let caller = self.orchestrator(&request, "RegisterGraph")?;
        Ok(Response::new(self.register(&caller, request.into_inner())))
    }

    async fn create_session(
        &self,
        request: Request<CreateSessionRequest>,
    ) -> Result<Response<CreateSessionResponse>, Status> {
        let caller = self.orchestrator(&request, "CreateSession")?;
        Ok(Response::new(self.create(&caller, request.into_inner())))
    }

    async fn finish_session(
        &self,
        request: Request<FinishSessionRequest>,
    ) -> Result<Response<FinishSessionResponse>, Status> {
        let caller = self.orchestrator(&request, "FinishSession")?;
        Ok(Response::new(self.finish(&caller, &request.into_inner().session_id)))
    }

    async fn list_sessions(
        &self,
        request: Request<SessionListRequest>,
    ) -> Result<Response<SessionListResponse>, Status> {
        let caller = self.orchestrator(&request, "ListSessions")?;
        Ok(Response::new(self.list(&caller)))
    }

    type SendValueStream = ReceiverStream<Result<SendValueResponse, Status>>;

    async fn send_value(
        &self,
        request: Request<Streaming<SendValueRequest>>,
    ) -> Result<Response<Self::SendValueStream>, Status> {
        let names = peer(&request).map(|p| p.names).unwrap_or_default();
        let me = self.inner.config.party;
        // Only the other configured compute nodes may open a stream at all.
        let candidates: Vec<usize> = (0..3)
            .filter(|p| {
                *p != me
                    && names
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(&self.inner.addresses[*p].0))
            })
            .collect();
        if candidates.is_empty() {
            tracing::warn!(names = %names.join(", "), "peer stream refused: not a configured compute node");
            return Err(Status::permission_denied(format!(
                "the certificate of {} is not that of another compute node of this node's configuration",
                names.join(", ")
            )));
        }
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
            if !candidates.contains(&from) {
                refuse(
                    SendValueResult::SendValueWrongParty,
                    format!(
                        "the stream claims party {from} ({}) but its certificate names {}",
                        node.inner.addresses[from].0,
                        names.join(", ")
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
            let credits = session.credits[from].clone();
            let timeout = node.inner.config.peer_timeout;
            let mut next = Some(first);
            loop {
                let msg = match next.take() {
                    Some(m) => m,
                    None => match stream.message().await {
                        Ok(Some(m)) => m,
                        Ok(None) => return,
                        Err(e) => {
                            let _ = inbox.send(Err(format!("stream from party {from} broke: {}", e.message())));
                            return;
                        }
                    },
                };
                let failure = if msg.session_id != session.id || msg.party_id as usize != from {
                    Some(format!("party {from} switched session or party id mid-stream"))
                } else if msg.node_id != 0 {
                    Some(format!(
                        "party {from} sent a message in pieces, which the engine never does"
                    ))
                } else {
                    None
                };
                let bytes = match (failure, msg.data.and_then(|d| d.value)) {
                    (Some(reason), _) => Err(reason),
                    (None, Some(value::Value::Bytes(b))) if b.data.len() > MAX_MESSAGE_BYTES => Err(format!(
                        "party {from} sent a message of {} bytes; the engine's messages are at most {MAX_MESSAGE_BYTES}",
                        b.data.len()
                    )),
                    (None, Some(value::Value::Bytes(b))) => Ok(b.data),
                    (None, _) => Err(format!("party {from} sent a value that is not bytes")),
                };
                let bytes = match bytes {
                    Ok(b) => b,
                    Err(reason) => {
                        let _ = inbox.send(Err(reason.clone()));
                        refuse(SendValueResult::SendValueUnknownError, reason).await;
                        return;
                    }
                };
                // Room in the inbox first: a peer that runs ahead waits here, held back by flow
                // control, and one that keeps it full for the whole peer timeout is cut off.
                let Ok(n) = u32::try_from(cost(bytes.len())) else {
                    return;
                };
                let acquired = match credits.clone().try_acquire_many_owned(n) {
                    Ok(permit) => Ok(Ok(permit)),
                    Err(_) => tokio::time::timeout(timeout, credits.clone().acquire_many_owned(n)).await,
                };
                match acquired {
                    Ok(Ok(permit)) => permit.forget(),
                    Ok(Err(_)) => return,
                    Err(_) => {
                        let reason = format!(
                            "party {from} flooded this party's inbox: {} MiB unread for {} s; its stream is closed",
                            INBOX_BYTES >> 20,
                            timeout.as_secs()
                        );
                        let _ = inbox.send(Err(reason.clone()));
                        refuse(SendValueResult::SendValueUnknownError, reason).await;
                        return;
                    }
                }
                if inbox.send(Ok(bytes)).is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(resp_rx)))
    }
}

/// The engine's transport over the peer streams. The engine thread turns each message into a
/// request itself and queues it straight onto the peer's request stream, so a message reaches
/// gRPC without passing through another task. Sends never wait; each message received gives its
/// room in the inbox back to the peer's stream.
struct NetTransport {
    me: usize,
    session_id: String,
    out: Vec<Option<mpsc::UnboundedSender<SendValueRequest>>>,
    inbox: Vec<Option<InboxRx>>,
    credits: Vec<Arc<Semaphore>>,
    timeout: Duration,
}

impl Transport for NetTransport {
    fn send(&mut self, to: usize, msg: Vec<u8>) -> petri_mpc::Result<()> {
        let tx = self
            .out
            .get(to)
            .and_then(Option::as_ref)
            .ok_or_else(|| MpcError::Invalid(format!("no stream to party {to}")))?;
        if msg.len() > MAX_MESSAGE_BYTES {
            return Err(MpcError::Invalid(format!(
                "a message of {} bytes is longer than the engine's {MAX_MESSAGE_BYTES}",
                msg.len()
            )));
        }
        let req = SendValueRequest {
            node_id: 0,
            data: Some(Value {
                value: Some(value::Value::Bytes(BytesValue { data: msg })),
            }),
            party_id: self.me as u64,
            session_id: self.session_id.clone(),
        };
        tx.send(req).map_err(|_| MpcError::Transport {
            peer: to,
            reason: "the stream to the peer has closed".into(),
        })
    }

    fn recv(&mut self, from: usize) -> petri_mpc::Result<Vec<u8>> {
        let rx = self
            .inbox
            .get(from)
            .and_then(Option::as_ref)
            .ok_or_else(|| MpcError::Invalid(format!("no stream from party {from}")))?;
        match rx.recv_timeout(self.timeout) {
            Ok(Ok(msg)) => {
                if let Some(credits) = self.credits.get(from) {
                    credits.add_permits(cost(msg.len()));
                }
                Ok(msg)
            }
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
    async fn run_session(
        &self,
        session: &Arc<Session>,
        program: &Arc<Program>,
        dataset: &str,
    ) -> Result<String, String> {
        set_state(session, SessionStatus::Running, String::new(), String::new());
        let timeout = self.inner.config.peer_timeout;
        let me = session.party;
        let t0 = Instant::now();
        let inputs = self.fetch_inputs(session, program, dataset, timeout).await?;
        let fetch_secs = t0.elapsed().as_secs_f64();

        // Streams to both peers; the node's own inbox was created with the session.
        let mut out: Vec<Option<mpsc::UnboundedSender<SendValueRequest>>> = vec![None, None, None];
        let mut tasks = Vec::new();
        for peer_id in (0..3).filter(|p| *p != me) {
            let (host, port) = self.inner.addresses[peer_id].clone();
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
            credits: session.credits.clone(),
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

    /// This party's shares of every input, from the data nodes, which each see the session's
    /// program and who started it and decide by their policies.
    async fn fetch_inputs(
        &self,
        session: &Session,
        program: &Program,
        dataset: &str,
        timeout: Duration,
    ) -> Result<HashMap<String, AShare>, String> {
        let me = session.party;
        let request = ShareRequest {
            format: SHARE_REQUEST_FORMAT.into(),
            dataset: dataset.to_string(),
            session: session.id.clone(),
            program: program.clone(),
            initiators: session.creator.identities(),
        };
        let key = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        let mut inputs = HashMap::new();
        for source in program.data_sources() {
            let addr = self
                .inner
                .config
                .data_nodes
                .get(&source)
                .ok_or_else(|| format!("no data node {source:?} configured"))?;
            let (host, port) = split_host_port(addr).map_err(|e| e.to_string())?;
            let channel = self.connect_retry(&host, port, timeout).await?;
            let mut client = DataManagerServiceClient::new(channel).max_decoding_message_size(usize::MAX);
            let resp = tokio::time::timeout(timeout, client.get_value(GetValueRequest { key: key.clone() }))
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
        let (host, port) = split_host_port(addr).map_err(|e| e.to_string())?;
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
