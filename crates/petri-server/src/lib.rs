//! petri's broker: `POST /api` takes signed Colonies RPC envelopes, `/pubsub`
//! pushes process state changes over a websocket, and `/health` answers
//! liveness probes.
//!
//! Every request's signer is recovered from its signature and checked against
//! the role the message needs (server owner, colony owner, colony member,
//! assigned executor) before anything is read or changed. State lives in a
//! [`Store`]; the server itself only keeps wake-up signals in memory, so it can
//! be restarted at any time without losing work.

mod auth;
mod background;
mod dashboard;
mod error;
mod events;
mod ext;
mod handlers;
mod pubsub;
mod rpc;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use petri_store::Store;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use error::RpcFailure;
pub use events::Events;
pub use tls::TlsListener;

/// How a server behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server owner's id (SHA3-256 of the server public key's hex).
    pub server_id: String,
    /// Let an executor name be registered again in a colony, replacing the old record.
    pub allow_executor_reregister: bool,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Longest long-poll an `assignprocessmsg` may ask for.
    pub max_assign_timeout: Duration,
}

impl Config {
    /// Defaults for a server owned by `server_id`.
    pub fn new(server_id: impl Into<String>) -> Self {
        Self {
            server_id: server_id.into(),
            allow_executor_reregister: false,
            max_body_bytes: 16 * 1024 * 1024,
            max_assign_timeout: Duration::from_secs(3600),
        }
    }
}

/// Shared state of a running server.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Arc<Config>,
    pub(crate) events: Arc<Events>,
    pub(crate) ext: Arc<ext::ExtEvents>,
    /// When each executor's last-heard-from time was last written, so an
    /// executor polling many times a second costs one write a second.
    touched: Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
}

impl AppState {
    /// State over `store`.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        Self {
            store,
            config: Arc::new(config),
            events: Arc::new(Events::new()),
            ext: Arc::default(),
            touched: Arc::default(),
        }
    }

    /// Records that `executor` was heard from now (at most once a second per executor).
    pub(crate) async fn touch(&self, executor: &petri_api::model::Executor) -> Result<(), petri_store::StoreError> {
        let now = std::time::Instant::now();
        {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            let key = format!("{}/{}", executor.colonyname, executor.executorname);
            if touched
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(1))
            {
                return Ok(());
            }
            touched.insert(key, now);
        }
        self.store
            .touch_executor(
                &executor.colonyname,
                &executor.executorname,
                petri_api::Timestamp::now(),
            )
            .await
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

/// The HTTP routes of the broker.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/api", post(rpc::handle_http))
        .route("/pubsub", get(pubsub::handle_upgrade))
        .route("/health", get(|| async { "" }))
        .fallback(dashboard::serve)
        // Enforced by the body extractor, so `/api` can answer with an error envelope.
        .layer(DefaultBodyLimit::max(limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves the broker on `listener` until `shutdown` resolves, then finishes
/// in-flight requests and returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(listener, state, shutdown).await
}

/// Serves the broker over HTTPS and WSS on `listener` with the TLS configuration `tls` (see
/// `petri_pki::server_config_from_files`), until `shutdown` resolves.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(TlsListener::new(listener, tls), state, shutdown).await
}

async fn serve_on<L>(
    listener: L,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, "broker listening");
    let duties = tokio::spawn(background::run(state.clone()));
    let relay = tokio::spawn(background::relay_cluster_events(state.clone()));
    let channel_relay = tokio::spawn(ext::relay_channel_events(state.clone()));
    let events = state.events.clone();
    // Long-polls and websocket subscriptions end when shutdown begins, so the
    // graceful shutdown does not wait out their timeouts.
    let shutdown = async move {
        shutdown.await;
        events.begin_shutdown();
    };
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    duties.abort();
    relay.abort();
    channel_relay.abort();
    result
}
