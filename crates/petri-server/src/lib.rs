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
mod limit;
mod pubsub;
mod replay;
mod rpc;
mod tls;

use std::num::NonZeroU32;
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
pub use limit::RateLimit;
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
    /// Refuse signed requests without replay protection (see `petri_api::replay`); unmodified
    /// Colonies clients such as pycolonies then cannot talk to the server.
    pub require_replay_protection: bool,
    /// How far a replay-protected request's timestamp may be from this server's clock.
    pub replay_window: Duration,
    /// Requests per signer key, or `None` for no limit.
    pub rate_limit: Option<RateLimit>,
    /// How long a new websocket may take to send its first request.
    pub ws_auth_timeout: Duration,
    /// How long a websocket may stay open without a subscription running.
    pub ws_idle_timeout: Duration,
    /// How long a client may take to send a request's headers; an idle keep-alive connection is
    /// closed after it too.
    pub header_read_timeout: Duration,
}

/// The default sustained requests per second per key: far above what one key sends in real
/// workloads and in `petri bench load` (its busiest key, the submitter, sends about 1,600/s on
/// two cores), so only a runaway or hostile client meets it.
pub const DEFAULT_RATE_PER_SECOND: u32 = 5000;
/// The default burst per key.
pub const DEFAULT_RATE_BURST: u32 = 10_000;

impl Config {
    /// Defaults for a server owned by `server_id`.
    pub fn new(server_id: impl Into<String>) -> Self {
        Self {
            server_id: server_id.into(),
            allow_executor_reregister: false,
            max_body_bytes: 16 * 1024 * 1024,
            max_assign_timeout: Duration::from_secs(3600),
            require_replay_protection: false,
            replay_window: Duration::from_secs(120),
            rate_limit: Some(RateLimit {
                per_second: NonZeroU32::new(DEFAULT_RATE_PER_SECOND).unwrap_or(NonZeroU32::MIN),
                burst: NonZeroU32::new(DEFAULT_RATE_BURST).unwrap_or(NonZeroU32::MIN),
            }),
            ws_auth_timeout: Duration::from_secs(10),
            ws_idle_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(10),
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
    pub(crate) limiter: Option<Arc<limit::Limiter>>,
    /// When each executor's last-heard-from time was last written, so an
    /// executor polling many times a second costs one write a second.
    touched: Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
}

impl AppState {
    /// State over `store`.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        Self {
            store,
            limiter: config.rate_limit.map(|l| Arc::new(limit::Limiter::new(l))),
            config: Arc::new(config),
            events: Arc::new(Events::new()),
            ext: Arc::default(),
            touched: Arc::default(),
        }
    }

    /// Admits a signed request from `signer`: within its rate limit, and not a replay.
    pub(crate) async fn admit(&self, signer: &str, envelope: &petri_api::Envelope) -> error::RpcResult<()> {
        if let Some(limiter) = &self.limiter {
            limiter.check(signer)?;
        }
        replay::check(self, envelope).await
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
    mut listener: L,
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
    let mut http = hyper::server::conn::http1::Builder::new();
    // axum::serve has no header timeout; without one a client that trickles its headers
    // (slowloris) holds a connection and its task for good.
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(state.config.header_read_timeout);
    let app = router(state);
    // Connections watch `stop`; each one's task holds a `done` receiver, so the sender sees
    // every connection finish.
    let (stop, _) = tokio::sync::watch::channel(false);
    let (done, done_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            conn = listener.accept() => conn,
            _ = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = http
            .serve_connection(hyper_util::rt::TokioIo::new(io), service)
            .with_upgrades();
        let (mut stop_rx, done_rx) = (stop.subscribe(), done_rx.clone());
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(peer = ?peer, error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stop_rx.changed(), if !stopping => {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(done_rx);
        });
    }
    drop(listener);
    // Long-polls and websocket subscriptions end when shutdown begins, so the graceful
    // shutdown does not wait out their timeouts.
    events.begin_shutdown();
    let _ = stop.send(true);
    drop(done_rx);
    done.closed().await;
    duties.abort();
    relay.abort();
    channel_relay.abort();
    Ok(())
}
