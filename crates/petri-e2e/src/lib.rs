//! End-to-end tests of petri: the real broker ([`petri_server::serve`]) over a
//! real SQLite file, driven through the real SDK ([`petri_sdk::Client`]) and,
//! where the wire format itself is under test, through raw HTTP.
//!
//! This library is the harness; the tests live in `tests/integration.rs`.
//! [`TestServer::start`] binds `127.0.0.1:0`, opens a store in a fresh
//! temporary directory and serves until [`TestServer::stop`] (or drop).
//! [`TestServer::restart`] shuts the broker down gracefully and serves the same
//! database file again, which is how durability is tested. Every test gets its
//! own server, so tests never share state.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use petri_api::model::{Colony, Executor, FunctionSpec, WorkflowSpec};
use petri_crypto::PrivateKey;
use petri_sdk::{Client, SdkError};
use petri_server::{AppState, Config};
use petri_store::Store;
use petri_store_sqlite::SqliteStore;
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
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let db = dir.path().join("petri.db");
        let server_key = PrivateKey::generate();
        let (addr, shutdown, task) = serve_file(&db, &server_key, None).await;
        Self {
            _dir: dir,
            db,
            addr,
            server_key,
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
        let client = self.client();
        let key = PrivateKey::generate();
        let name = unique("colony");
        client
            .add_colony(
                Colony {
                    colonyid: key.id(),
                    name: name.clone(),
                },
                &self.server_key,
            )
            .await
            .expect("add colony");
        let executor = self.register(&name, &key, WORKER, true).await;
        TestColony { name, key, executor }
    }

    /// Registers a new executor of `executortype` with a fresh name and key in
    /// `colony`, approved when `approve`, pending otherwise.
    pub async fn executor(&self, colony: &TestColony, executortype: &str, approve: bool) -> TestExecutor {
        self.register(&colony.name, &colony.key, executortype, approve).await
    }

    async fn register(&self, colony: &str, colony_key: &PrivateKey, executortype: &str, approve: bool) -> TestExecutor {
        let client = self.client();
        let key = PrivateKey::generate();
        let name = unique("executor");
        client
            .add_executor(
                Executor {
                    executorid: key.id(),
                    executortype: executortype.into(),
                    executorname: name.clone(),
                    colonyname: colony.into(),
                    ..Executor::default()
                },
                colony_key,
            )
            .await
            .expect("add executor");
        if approve {
            client
                .approve_executor(colony, &name, colony_key)
                .await
                .expect("approve executor");
        }
        TestExecutor {
            name,
            executortype: executortype.into(),
            key,
        }
    }

    /// Shuts the broker down gracefully and serves the same database again.
    /// The port is kept when it is still free, but may change.
    pub async fn restart(&mut self) {
        self.shut_down().await;
        let (addr, shutdown, task) = serve_file(&self.db, &self.server_key, Some(self.addr)).await;
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
    db: &std::path::Path,
    server_key: &PrivateKey,
    preferred: Option<SocketAddr>,
) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db).expect("open the SQLite store"));
    let state = AppState::new(store, Config::new(server_key.id()));
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
