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
    /// Address to listen on.
    #[arg(long, env = "PETRI_BIND", default_value = "0.0.0.0")]
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
}

/// Opens the store a database URL (or the data directory) names.
pub(crate) async fn open_store(
    database_url: Option<&str>,
    data_dir: &std::path::Path,
) -> anyhow::Result<Arc<dyn Store>> {
    let path = match database_url {
        None => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
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
            let store = open_store(args.database_url.as_deref(), &args.data_dir).await?;
            let mut config = Config::new(server_id);
            config.allow_executor_reregister = args.allow_executor_reregister;
            config.max_body_bytes = args.max_body_bytes;
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
