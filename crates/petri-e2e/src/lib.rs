//! End-to-end tests of petri: the real broker ([`petri_server::serve`]) over a
//! real SQLite file or a shared PostgreSQL database, driven through the real
//! SDK ([`petri_sdk::Client`]) and, where the wire format itself is under test,
//! through raw HTTP.
//!
//! This library is the harness; the tests live in `tests/integration.rs`.
//! [`TestServer::start`] binds `127.0.0.1:0`, opens a store in a fresh
//! temporary directory and serves until [`TestServer::stop`] (or drop).
//! [`TestServer::restart`] shuts the broker down gracefully and serves the same
//! database file again, which is how durability is tested. Every test gets its
//! own server, so tests never share state.
//!
//! For replicas, [`TestSchema`] gives a test its own schema in the database
//! that `PETRI_TEST_DATABASE_URL` names, and [`Replica`] serves any store
//! in-process. [`ServerProcess`] runs the built `petri` binary as a real
//! process, so a test can `kill -9` it, and [`Failover`] is a small TCP load
//! balancer that sends each new connection to the first replica that accepts it.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use petri_api::model::{Colony, Executor, FunctionSpec, WorkflowSpec};
use petri_crypto::PrivateKey;
use petri_sdk::{Client, SdkError};
use petri_server::{AppState, Config};
use petri_store::Store;
use petri_store_postgres::PgStore;
use petri_store_sqlite::SqliteStore;
use sqlx::Connection;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The executor type of the executor [`TestServer::colony`] registers.
pub const WORKER: &str = "worker";

/// How long a graceful shutdown may take before the test fails.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);

/// A broker serving one SQLite file on a local port.
pub struct TestServer {
    // Held so the directory (and the database in it) lives as long as the server.
    _dir: TempDir,
    db: PathBuf,
    addr: SocketAddr,
    server_key: PrivateKey,
    configure: Arc<dyn Fn(&mut Config) + Send + Sync>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// An executor registered in a test colony, with its key.
#[derive(Debug, Clone)]
pub struct TestExecutor {
    /// Executor name.
    pub name: String,
    /// Executor type.
    pub executortype: String,
    /// The executor's private key; its id is the executor id.
    pub key: PrivateKey,
}

impl TestExecutor {
    /// The executor id.
    pub fn id(&self) -> String {
        self.key.id()
    }
}

/// A fresh colony with its owner key and one approved executor of type [`WORKER`].
#[derive(Debug, Clone)]
pub struct TestColony {
    /// Colony name.
    pub name: String,
    /// The colony owner's key; its id is the colony id.
    pub key: PrivateKey,
    /// An approved executor of the colony.
    pub executor: TestExecutor,
}

impl TestServer {
    /// Starts a broker on `127.0.0.1:0` over a new SQLite file.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a broker like [`TestServer::start`], with its [`Config`] changed
    /// by `configure` (kept across [`TestServer::restart`]).
    pub async fn start_with(configure: impl Fn(&mut Config) + Send + Sync + 'static) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let db = dir.path().join("petri.db");
        let server_key = PrivateKey::generate();
        let configure: Arc<dyn Fn(&mut Config) + Send + Sync> = Arc::new(configure);
        let (addr, shutdown, task) = serve_file(&db, &server_key, &*configure, None).await;
        Self {
            _dir: dir,
            db,
            addr,
            server_key,
            configure,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// A client of the running broker. Take a new one after [`TestServer::restart`]:
    /// the port may have changed.
    pub fn client(&self) -> Client {
        Client::new("127.0.0.1", self.addr.port(), false)
    }

    /// The server owner's key.
    pub fn server_key(&self) -> &PrivateKey {
        &self.server_key
    }

    /// Where the broker listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, for raw HTTP requests.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a colony with a fresh name and key, and an approved executor of
    /// type [`WORKER`] with a fresh name and key.
    pub async fn colony(&self) -> TestColony {
        add_colony(&self.client(), &self.server_key).await
    }

    /// Registers a new executor of `executortype` with a fresh name and key in
    /// `colony`, approved when `approve`, pending otherwise.
    pub async fn executor(&self, colony: &TestColony, executortype: &str, approve: bool) -> TestExecutor {
        add_executor(&self.client(), colony, executortype, approve).await
    }

    /// Shuts the broker down gracefully and serves the same database again.
    /// The port is kept when it is still free, but may change.
    pub async fn restart(&mut self) {
        self.shut_down().await;
        let (addr, shutdown, task) = serve_file(&self.db, &self.server_key, &*self.configure, Some(self.addr)).await;
        self.addr = addr;
        self.shutdown = Some(shutdown);
        self.task = Some(task);
    }

    /// Shuts the broker down gracefully.
    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    async fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            // The server may already have stopped; then there is nobody to tell.
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(SHUTDOWN_LIMIT, task)
                .await
                .expect("the broker did not shut down in time")
                .expect("the broker task panicked")
                .expect("the broker failed");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Opens the store at `db` and serves it, on `preferred` when that address is free.
async fn serve_file(
    db: &Path,
    server_key: &PrivateKey,
    configure: &(dyn Fn(&mut Config) + Send + Sync),
    preferred: Option<SocketAddr>,
) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db).expect("open the SQLite store"));
    let mut config = Config::new(server_key.id());
    configure(&mut config);
    serve_state(AppState::new(store, config), preferred).await
}

/// Serves `state`, on `preferred` when that address is free.
async fn serve_state(
    state: AppState,
    preferred: Option<SocketAddr>,
) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    let listener = match preferred {
        Some(addr) => match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(_) => bind_any().await,
        },
        None => bind_any().await,
    };
    let addr = listener.local_addr().expect("listener address");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(petri_server::serve(listener, state, async move {
        // A dropped sender also means shut down.
        let _ = rx.await;
    }));
    (addr, tx, task)
}

async fn bind_any() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0")
}

/// Adds a colony with a fresh name and key through `client` (signed by the
/// server owner's `server_key`), and an approved executor of type [`WORKER`].
pub async fn add_colony(client: &Client, server_key: &PrivateKey) -> TestColony {
    let key = PrivateKey::generate();
    let name = unique("colony");
    client
        .add_colony(
            Colony {
                colonyid: key.id(),
                name: name.clone(),
            },
            server_key,
        )
        .await
        .expect("add colony");
    let mut colony = TestColony {
        name,
        key,
        executor: TestExecutor {
            name: String::new(),
            executortype: String::new(),
            key: PrivateKey::generate(),
        },
    };
    colony.executor = add_executor(client, &colony, WORKER, true).await;
    colony
}

/// Registers a new executor of `executortype` with a fresh name and key in
/// `colony` through `client`, approved when `approve`, pending otherwise.
pub async fn add_executor(client: &Client, colony: &TestColony, executortype: &str, approve: bool) -> TestExecutor {
    let key = PrivateKey::generate();
    let name = unique("executor");
    client
        .add_executor(
            Executor {
                executorid: key.id(),
                executortype: executortype.into(),
                executorname: name.clone(),
                colonyname: colony.name.clone(),
                ..Executor::default()
            },
            &colony.key,
        )
        .await
        .expect("add executor");
    if approve {
        client
            .approve_executor(&colony.name, &name, &colony.key)
            .await
            .expect("approve executor");
    }
    TestExecutor {
        name,
        executortype: executortype.into(),
        key,
    }
}

/// A broker served in-process over a given state (and so over any store, for
/// example a [`PgStore`] replica of a shared database).
pub struct Replica {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Replica {
    /// Serves `state` on `127.0.0.1:0`.
    pub async fn serve(state: AppState) -> Self {
        let (addr, shutdown, task) = serve_state(state, None).await;
        Self {
            addr,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// A client of this replica.
    pub fn client(&self) -> Client {
        Client::new("127.0.0.1", self.addr.port(), false)
    }

    /// Where the replica listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Shuts the replica down gracefully; its background duties stop with it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(SHUTDOWN_LIMIT, task)
                .await
                .expect("the replica did not shut down in time")
                .expect("the replica task panicked")
                .expect("the replica failed");
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The environment variable naming the PostgreSQL database tests may use.
pub const DATABASE_URL_VAR: &str = "PETRI_TEST_DATABASE_URL";

/// A schema of its own for one test in the database `PETRI_TEST_DATABASE_URL`
/// names. Dropped (best effort) when this value is.
pub struct TestSchema {
    url: String,
    name: String,
}

impl TestSchema {
    /// A fresh schema name `petri_e2e_<random>`, or `None` (with a line saying
    /// so) when `PETRI_TEST_DATABASE_URL` is not set. The schema is created by
    /// the first [`TestSchema::store`].
    pub fn new(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var(DATABASE_URL_VAR) else {
            println!("{DATABASE_URL_VAR} is not set: skipping {test}");
            return None;
        };
        let name = format!("petri_e2e_{}", &petri_crypto::random_id()[..12]);
        Some(Self { url, name })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new store (a replica's connection pool) on this schema, creating and
    /// migrating the schema if needed. Fails the test when the database cannot
    /// be used: the variable is set, so PostgreSQL is expected to be there.
    pub async fn store(&self) -> PgStore {
        match PgStore::connect_schema(&self.url, &self.name).await {
            Ok(store) => store,
            Err(e) => panic!("{DATABASE_URL_VAR} is set but PostgreSQL cannot be used: {e}"),
        }
    }

    /// A database URL that selects this schema (through the `search_path`
    /// connection option), for `petri server start --database-url`.
    pub fn url(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.url, self.name)
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let url = self.url.clone();
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        // Drop runs inside the test's runtime, which cannot be blocked on, so
        // the schema is dropped from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
                sqlx::query("SET lock_timeout = '5s'").execute(&mut conn).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop the test schema {}", self.name);
        }
    }
}

/// The `petri` binary to run as a real process: `PETRI_BIN`, else the one
/// built beside this test (`target/debug/petri`). Fails the test with a
/// clear message when it is missing.
pub fn petri_bin() -> PathBuf {
    let path = match std::env::var_os("PETRI_BIN") {
        Some(p) => PathBuf::from(p),
        // The test binary is target/<profile>/deps/<name>; petri sits in target/<profile>.
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent()?.parent().map(|dir| dir.join("petri")))
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/debug/petri"))),
    };
    assert!(
        path.is_file(),
        "the petri binary is missing at {}: build it first (cargo build -p petri-cli), or set PETRI_BIN",
        path.display()
    );
    path
}

/// A local TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// `petri server start` running as a child process, killed when dropped.
pub struct ServerProcess {
    child: Option<tokio::process::Child>,
    args: Vec<String>,
    server_id: String,
    port: u16,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `petri server start --bind 127.0.0.1 --port <port> --insecure <args>`
    /// (plain HTTP on loopback) owned by `server_id`, logging to `log`, and waits
    /// until it answers.
    pub async fn start(port: u16, args: &[String], server_id: &str, log: &Path) -> Self {
        let mut server = Self {
            child: None,
            args: args.to_vec(),
            server_id: server_id.to_owned(),
            port,
            log: log.to_owned(),
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the server log");
        let child = tokio::process::Command::new(petri_bin())
            .args([
                "server",
                "start",
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--insecure",
            ])
            .args(&self.args)
            .env("COLONIES_SERVER_ID", &self.server_id)
            .env("PETRI_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("clone the log file"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start the petri binary");
        self.child = Some(child);
        let client = self.client();
        let started = std::time::Instant::now();
        loop {
            if client.alive().await.unwrap_or(false) {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("petri server exited with {status}; log:\n{}", self.log_text());
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "petri server did not answer within 15 s; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A client of this server.
    pub fn client(&self) -> Client {
        Client::new("127.0.0.1", self.port, false)
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server with SIGKILL (`kill -9`) and reaps it.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill the petri server");
        }
    }

    /// Starts the server again with the same arguments on the same port.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn().await;
    }

    /// What the server wrote to its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A TCP load balancer in front of replicas: each new connection goes to the
/// first backend, in order, that accepts it. When a replica dies its
/// connections break, and the clients' next connections reach another.
pub struct Failover {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Failover {
    /// Starts forwarding from a fresh local port to `backends`.
    pub async fn start(backends: Vec<SocketAddr>) -> Self {
        let listener = bind_any().await;
        let addr = listener.local_addr().expect("listener address");
        let backends = Arc::new(backends);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let backends = backends.clone();
                tokio::spawn(async move {
                    for backend in backends.iter() {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(backend).await {
                            // Either side closing (a killed replica) ends the connection.
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, task }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Failover {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP proxy in front of a server that records every byte clients send
/// through it, as an attacker on the network path would (plain HTTP). Tests of
/// replayed requests capture the envelopes real clients sent with it.
pub struct Wiretap {
    addr: SocketAddr,
    task: JoinHandle<()>,
    /// What each connection sent, in the order the connections were made.
    streams: Arc<std::sync::Mutex<Vec<Recording>>>,
}

/// The bytes one connection sent.
type Recording = Arc<std::sync::Mutex<Vec<u8>>>;

impl Wiretap {
    /// Starts recording and forwarding from a fresh local port to `backend`.
    pub async fn start(backend: SocketAddr) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = bind_any().await;
        let addr = listener.local_addr().expect("listener address");
        let streams: Arc<std::sync::Mutex<Vec<Recording>>> = Arc::default();
        let all = streams.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(backend).await else {
                    continue;
                };
                let record: Recording = Arc::default();
                all.lock().unwrap_or_else(|e| e.into_inner()).push(record.clone());
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = inbound.into_split();
                    let (mut server_read, mut server_write) = outbound.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match client_read.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            record
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .extend_from_slice(&buf[..n]);
                            if server_write.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = server_write.shutdown().await;
                    };
                    let down = tokio::io::copy(&mut server_read, &mut client_write);
                    // Either side closing ends the connection.
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                    }
                });
            }
        });
        Self { addr, task, streams }
    }

    /// A client that talks to the server through the tap.
    pub fn client(&self) -> Client {
        Client::new("127.0.0.1", self.addr.port(), false)
    }

    /// The envelopes of the HTTP requests recorded so far (each connection's in
    /// order; websocket traffic after an upgrade is skipped).
    pub fn envelopes(&self) -> Vec<petri_api::Envelope> {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = Vec::new();
        for stream in streams {
            let bytes = stream.lock().unwrap_or_else(|e| e.into_inner()).clone();
            for body in http_request_bodies(&bytes) {
                if let Ok(envelope) = serde_json::from_slice(&body) {
                    out.push(envelope);
                }
            }
        }
        out
    }

    /// The last recorded envelope of `payloadtype`; panics when there is none.
    pub fn captured(&self, payloadtype: &str) -> petri_api::Envelope {
        self.envelopes()
            .into_iter()
            .rev()
            .find(|e| e.payloadtype == payloadtype)
            .unwrap_or_else(|| panic!("no {payloadtype} went through the wiretap"))
    }
}

impl Drop for Wiretap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The bodies of the HTTP/1.1 requests in `bytes` (with `Content-Length`), up to
/// an upgrade to a websocket or the first incomplete request.
fn http_request_bodies(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
        if head.contains("upgrade: websocket") {
            break;
        }
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let body_start = end + 4;
        if bytes.len() < body_start + length {
            break;
        }
        out.push(bytes[body_start..body_start + length].to_vec());
        bytes = &bytes[body_start + length..];
    }
    out
}

/// Posts the raw text `body` to `/api` at `addr`; returns the HTTP status and,
/// for an error reply, its message (empty for a success).
pub async fn post_raw(addr: SocketAddr, body: String) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api"))
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a reply body");
    let reply: petri_api::ReplyEnvelope =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a reply envelope ({e}): {text}"));
    let message = match reply.decode::<serde_json::Value>() {
        Ok(Err(e)) => {
            assert_eq!(e.status, status, "the error's status is the HTTP status");
            e.message
        }
        _ => String::new(),
    };
    (status, message)
}

/// Posts `envelope` as it is (a replay when it was sent before) to `/api` at
/// `addr`; returns the HTTP status and the error message, if any.
pub async fn post_envelope(addr: SocketAddr, envelope: &petri_api::Envelope) -> (u16, String) {
    post_raw(addr, serde_json::to_string(envelope).expect("an envelope is JSON")).await
}

/// A name no other test uses: `prefix-` and 12 random hex characters.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &petri_crypto::random_id()[..12])
}

/// A function spec for `funcname` in `colony`, to run on `executortype`,
/// without time limits.
pub fn spec(colony: &str, executortype: &str, funcname: &str) -> FunctionSpec {
    let mut spec = FunctionSpec {
        funcname: funcname.into(),
        maxwaittime: -1,
        maxexectime: -1,
        maxretries: -1,
        ..FunctionSpec::default()
    };
    spec.conditions.colonyname = colony.into();
    spec.conditions.executortype = executortype.into();
    spec
}

/// A workflow node named `name` (also its function name) depending on `deps`.
pub fn node(colony: &str, name: &str, deps: &[&str]) -> FunctionSpec {
    let mut spec = spec(colony, WORKER, name);
    spec.nodename = name.into();
    spec.conditions.dependencies = deps.iter().map(|d| (*d).to_owned()).collect();
    spec
}

/// A workflow of `nodes` in `colony`.
pub fn workflow(colony: &str, nodes: Vec<FunctionSpec>) -> WorkflowSpec {
    WorkflowSpec {
        colonyname: colony.into(),
        functionspecs: nodes,
    }
}

/// The server's refusal in `result`: panics unless it is an error reply with `status`.
/// Returns the message.
pub fn refused<T: std::fmt::Debug>(result: Result<T, SdkError>, status: u16) -> String {
    match result {
        Err(SdkError::Server { status: s, message }) if s == status => message,
        other => panic!("expected a {status} error reply, got {other:?}"),
    }
}

/// Runs `fut`, failing the test if it takes longer than `secs` seconds, so a
/// broken server makes a test fail instead of hang.
pub async fn within<F: Future>(secs: u64, fut: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(out) => out,
        Err(_) => panic!("the test did not finish within {secs} s"),
    }
}
