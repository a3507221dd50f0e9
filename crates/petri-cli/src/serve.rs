//! `petri server ...`: run a production server, or ask one how it is.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use petri_server::{AppState, Config};
use petri_store::Store;
use petri_store_sqlite::SqliteStore;

use crate::output::{Output, kv};

#[derive(Subcommand)]
pub(crate) enum ServerCmd {
    /// Run a server until interrupted.
    Start(StartArgs),
    /// Show the server's version and whether it answers.
    Status,
    /// Exit 0 if the server answers its health check, 1 otherwise.
    Alive,
}

#[derive(Args)]
pub(crate) struct StartArgs {
    /// Port to listen on.
    #[arg(long, env = "PETRI_PORT", default_value_t = 50080)]
    port: u16,
    /// Address to listen on (loopback by default; pass 0.0.0.0 to serve other machines, with TLS).
    #[arg(long, env = "PETRI_BIND", default_value = "127.0.0.1")]
    bind: String,
    /// Directory for the embedded SQLite database (used when no --database-url is given).
    #[arg(long, env = "PETRI_DATA_DIR", default_value = "./petri-data")]
    data_dir: PathBuf,
    /// Database to use: `sqlite:///path/to/file.db`, or `postgres://user@host/db` to share one
    /// database between several servers.
    #[arg(long, env = "PETRI_DATABASE_URL")]
    database_url: Option<String>,
    /// The server owner's id; derived from COLONIES_SERVER_PRVKEY when not given.
    #[arg(long, env = "COLONIES_SERVER_ID")]
    server_id: Option<String>,
    /// Let an executor name be registered again, replacing the old record (it must be approved again).
    #[arg(long, env = "COLONIES_ALLOW_EXECUTOR_REREGISTER")]
    allow_executor_reregister: bool,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "PETRI_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Serve HTTPS and WSS with this certificate chain (PEM, e.g. from `petri pki node`);
    /// clients then trust its root with PETRI_CA_FILE.
    #[arg(long, env = "PETRI_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "PETRI_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP without TLS: requests and replies (process inputs and outputs) travel
    /// readable, and captured requests can be replayed. For a trusted network or a TLS proxy in
    /// front only.
    #[arg(long, env = "PETRI_INSECURE")]
    insecure: bool,
    /// Refuse signed requests without replay protection (a nonce, timestamp and server id in
    /// the signed message). petri clients send it; pycolonies and other Colonies SDKs do not, and
    /// cannot talk to such a server.
    #[arg(long, env = "PETRI_REQUIRE_REPLAY_PROTECTION")]
    require_replay_protection: bool,
    /// How far (seconds) a replay-protected request's timestamp may be from the server's clock.
    #[arg(long, env = "PETRI_REPLAY_WINDOW", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    replay_window: u64,
    /// Requests per second one signer key may send on average; 0 disables the limit. The default
    /// is far above what one key of a real workload or `petri bench load` sends.
    #[arg(long, env = "PETRI_RATE_LIMIT", default_value_t = petri_server::DEFAULT_RATE_PER_SECOND)]
    rate_limit: u32,
    /// Requests one signer key may send at once (at least --rate-limit).
    #[arg(long, env = "PETRI_RATE_LIMIT_BURST", default_value_t = petri_server::DEFAULT_RATE_BURST)]
    rate_limit_burst: u32,
    /// Seconds a client may take to send a request's headers (idle keep-alive connections are
    /// closed after it too).
    #[arg(long, env = "PETRI_HEADER_TIMEOUT", default_value_t = 10.0)]
    header_timeout: f64,
    /// Seconds a new websocket may take to send its first signed request.
    #[arg(long, env = "PETRI_WS_AUTH_TIMEOUT", default_value_t = 10.0)]
    ws_auth_timeout: f64,
    /// Seconds a websocket may stay open with no subscription running.
    #[arg(long, env = "PETRI_WS_IDLE_TIMEOUT", default_value_t = 60.0)]
    ws_idle_timeout: f64,
}

/// A positive number of seconds.
fn seconds(flag: &str, value: f64) -> anyhow::Result<std::time::Duration> {
    if !(value.is_finite() && value > 0.0 && value <= 86_400.0) {
        bail!("--{flag} must be a number of seconds above 0 and at most 86400, not {value}");
    }
    Ok(std::time::Duration::from_secs_f64(value))
}

/// Refuses the server identities whose private keys are published (the Colonies development
/// keys `petri dev` uses): anyone could act as the server owner.
fn refuse_dev_keys(server_id: &str) -> anyhow::Result<()> {
    let published = [
        crate::dev::DEV_SERVER_PRVKEY,
        crate::dev::DEV_COLONY_PRVKEY,
        crate::dev::DEV_PRVKEY,
    ];
    // An id derived from COLONIES_SERVER_PRVKEY is checked here too; a dev key left in the
    // environment while COLONIES_SERVER_ID names another owner is not used, and not refused.
    for hex in published {
        let id = petri_crypto::PrivateKey::from_hex(hex)
            .context("built-in dev key is invalid")?
            .id();
        if server_id == id {
            bail!(
                "refusing to start: the server owner key is a published Colonies development key (the one `petri dev` \
                 uses), so anyone could act as the server owner; set COLONIES_SERVER_ID or COLONIES_SERVER_PRVKEY to \
                 a key of your own"
            );
        }
    }
    Ok(())
}

/// Opens the store a database URL (or the data directory) names.
pub(crate) async fn open_store(
    database_url: Option<&str>,
    data_dir: &std::path::Path,
) -> anyhow::Result<Arc<dyn Store>> {
    let path = match database_url {
        None => {
            create_private_dir(data_dir)?;
            data_dir.join("petri.db")
        }
        Some(url) => match url.strip_prefix("sqlite://") {
            Some(path) => PathBuf::from(path),
            None if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let store = petri_store_postgres::PgStore::connect(url)
                    .await
                    .context("cannot open PostgreSQL")?;
                tracing::info!("using PostgreSQL store");
                return Ok(Arc::new(store));
            }
            None => bail!("unsupported database URL {url:?}; expected sqlite:///path/to/file.db or postgres://..."),
        },
    };
    let store = SqliteStore::open(&path).with_context(|| format!("cannot open database {}", path.display()))?;
    tracing::info!(path = %path.display(), "using SQLite store");
    Ok(Arc::new(store))
}

/// Creates the data directory (and missing parents) readable by its owner only (0700); warns
/// when an existing one is open to others.
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        } else if let Ok(meta) = std::fs::metadata(dir)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %dir.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the data directory is open to others; chmod 700 it"
            );
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create data directory {}", dir.display()))
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// Binds and serves until a shutdown signal.
pub(crate) async fn launch(state: AppState, addr: SocketAddr) -> anyhow::Result<()> {
    launch_with(state, addr, None).await
}

async fn launch_with(state: AppState, addr: SocketAddr, tls: Option<Arc<rustls::ServerConfig>>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    match tls {
        None => petri_server::serve(listener, state, shutdown_signal()).await,
        Some(config) => petri_server::serve_tls(listener, config, state, shutdown_signal()).await,
    }
    .context("server failed")
}

fn server_id(args: &StartArgs) -> anyhow::Result<String> {
    if let Some(id) = &args.server_id {
        return Ok(id.clone());
    }
    match std::env::var("COLONIES_SERVER_PRVKEY") {
        Ok(key) if !key.is_empty() => Ok(petri_crypto::PrivateKey::from_hex(&key)
            .context("COLONIES_SERVER_PRVKEY is not a valid key")?
            .id()),
        _ => bail!("set COLONIES_SERVER_ID (or COLONIES_SERVER_PRVKEY) to the server owner's identity"),
    }
}

pub(crate) async fn run(cmd: ServerCmd, out: &Output) -> anyhow::Result<()> {
    match cmd {
        ServerCmd::Start(args) => {
            crate::init_tracing();
            let server_id = server_id(&args)?;
            refuse_dev_keys(&server_id)?;
            let tls_given = args.tls_cert.is_some() && args.tls_key.is_some();
            if !tls_given && !args.insecure {
                bail!(
                    "refusing to serve plain HTTP: give --tls-cert and --tls-key (see `petri pki node`), or pass \
                     --insecure (PETRI_INSECURE=true) for a trusted network or a TLS proxy in front"
                );
            }
            let mut config = Config::new(server_id);
            config.allow_executor_reregister = args.allow_executor_reregister;
            config.max_body_bytes = args.max_body_bytes;
            config.require_replay_protection = args.require_replay_protection;
            config.replay_window = std::time::Duration::from_secs(args.replay_window);
            config.rate_limit = match std::num::NonZeroU32::new(args.rate_limit) {
                None => None,
                Some(per_second) => Some(petri_server::RateLimit {
                    per_second,
                    burst: std::num::NonZeroU32::new(args.rate_limit_burst.max(per_second.get())).unwrap_or(per_second),
                }),
            };
            config.header_read_timeout = seconds("header-timeout", args.header_timeout)?;
            config.ws_auth_timeout = seconds("ws-auth-timeout", args.ws_auth_timeout)?;
            config.ws_idle_timeout = seconds("ws-idle-timeout", args.ws_idle_timeout)?;
            if !tls_given {
                tracing::warn!(
                    "serving plain HTTP (--insecure): requests and replies travel readable, and pycolonies requests \
                     captured on the way can be replayed"
                );
            }
            let store = open_store(args.database_url.as_deref(), &args.data_dir).await?;
            let addr: SocketAddr = format!("{}:{}", args.bind, args.port)
                .parse()
                .context("invalid --bind or --port")?;
            let tls = match (&args.tls_cert, &args.tls_key) {
                (Some(cert), Some(key)) => Some(
                    petri_pki::tls::server_config_from_files(cert, key, &[b"http/1.1"]).context("cannot set up TLS")?,
                ),
                _ => None,
            };
            launch_with(AppState::new(store, config), addr, tls).await
        }
        ServerCmd::Alive => {
            let env = petri_sdk::Env::from_env()?;
            let client = env.client();
            if client.alive().await.unwrap_or(false) {
                out.show(&serde_json::json!({"alive": true}), || outln!("alive"))
            } else {
                bail!("server at {}:{} is not answering", env.host, env.port)
            }
        }
        ServerCmd::Status => {
            let env = petri_sdk::Env::from_env()?;
            let client = env.client();
            let key = petri_crypto::PrivateKey::generate();
            let version = client.version(&key).await?;
            let alive = client.alive().await.unwrap_or(false);
            let status = serde_json::json!({
                "host": env.host, "port": env.port, "tls": env.tls,
                "version": version.buildversion, "alive": alive,
            });
            out.show(&status, || {
                kv(
                    "Server",
                    &[
                        ("Host", env.host.clone()),
                        ("Port", env.port.to_string()),
                        ("TLS", env.tls.to_string()),
                        ("Version", version.buildversion.clone()),
                        ("Alive", alive.to_string()),
                    ],
                )
            })
        }
    }
}
