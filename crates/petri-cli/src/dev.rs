//! `petri dev`: a development broker with the well-known Colonies dev keys, so
//! examples written for Colonies run unchanged.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use petri_api::Timestamp;
use petri_api::model::{Colony, Executor, User, executor_state};
use petri_crypto::PrivateKey;
use petri_server::{AppState, Config};
use petri_store::Store;

use crate::serve::{launch, open_store};

/// The dev server owner key (public, for development only).
pub(crate) const DEV_SERVER_PRVKEY: &str = "fcc79953d8a751bf41db661592dc34d30004b1a651ffa0725b03ac227641499d";
/// The dev colony owner key.
pub(crate) const DEV_COLONY_PRVKEY: &str = "ba949fa134981372d6da62b6a56f336ab4d843b22c02a4257dcf7d0d73097514";
/// The dev member key: user `myuser` and executor `dev-executor`.
pub(crate) const DEV_PRVKEY: &str = "ddf7f7791208083b6a9ed975a72684f6406a269cfa36f1b1c32045c0a71fff05";
const DEV_COLONY: &str = "dev";
const DEV_EXECUTOR: &str = "dev-executor";
const DEV_EXECUTOR_TYPE: &str = "cli";

#[derive(Args)]
pub(crate) struct DevArgs {
    /// Port to listen on.
    #[arg(long, env = "PETRI_PORT", default_value_t = 50080)]
    port: u16,
    /// Address to listen on (loopback by default: the dev keys are public).
    #[arg(long, env = "PETRI_BIND", default_value = "127.0.0.1")]
    bind: String,
    /// Directory for the SQLite database.
    #[arg(long, env = "PETRI_DATA_DIR", default_value = ".petri")]
    data_dir: PathBuf,
}

fn key(hex: &str) -> anyhow::Result<PrivateKey> {
    PrivateKey::from_hex(hex).context("built-in dev key is invalid")
}

/// Creates the dev colony, user and executor if they are missing.
async fn bootstrap(store: &dyn Store) -> anyhow::Result<()> {
    let colony_id = key(DEV_COLONY_PRVKEY)?.id();
    let member_id = key(DEV_PRVKEY)?.id();
    if store.get_colony(DEV_COLONY).await?.is_none() {
        store
            .add_colony(Colony {
                colonyid: colony_id,
                name: DEV_COLONY.into(),
            })
            .await?;
    }
    if store.get_user(DEV_COLONY, &member_id).await?.is_none() {
        let user = User {
            colonyname: DEV_COLONY.into(),
            userid: member_id.clone(),
            name: "myuser".into(),
            ..User::default()
        };
        store.add_user(user).await?;
    }
    if store.get_executor(DEV_COLONY, DEV_EXECUTOR).await?.is_none() {
        store
            .add_executor(Executor {
                executorid: member_id,
                executorname: DEV_EXECUTOR.into(),
                executortype: DEV_EXECUTOR_TYPE.into(),
                colonyname: DEV_COLONY.into(),
                state: executor_state::APPROVED,
                commissiontime: Timestamp::now(),
                capabilities: serde_json::json!({"hardware": null, "software": null}),
                allocations: serde_json::json!({"projects": null}),
                ..Executor::default()
            })
            .await?;
    }
    Ok(())
}

pub(crate) async fn run(args: DevArgs) -> anyhow::Result<()> {
    let store = open_store(None, &args.data_dir).await?;
    bootstrap(&*store).await?;
    let server_key = key(DEV_SERVER_PRVKEY)?;
    let mut config = Config::new(server_key.id());
    config.allow_executor_reregister = true;
    let addr: SocketAddr = format!("{}:{}", args.bind, args.port)
        .parse()
        .context("invalid --bind or --port")?;
    let exports = [
        ("COLONIES_SERVER_HOST", "localhost".to_owned()),
        ("COLONIES_SERVER_PORT", args.port.to_string()),
        ("COLONIES_TLS", "false".into()),
        ("COLONIES_SERVER_TLS", "false".into()),
        ("COLONIES_SERVER_ID", server_key.id()),
        ("COLONIES_SERVER_PRVKEY", DEV_SERVER_PRVKEY.into()),
        ("COLONIES_COLONY_NAME", DEV_COLONY.into()),
        ("COLONIES_COLONY_ID", key(DEV_COLONY_PRVKEY)?.id()),
        ("COLONIES_COLONY_PRVKEY", DEV_COLONY_PRVKEY.into()),
        ("COLONIES_ID", key(DEV_PRVKEY)?.id()),
        ("COLONIES_PRVKEY", DEV_PRVKEY.into()),
        ("COLONIES_EXECUTOR_NAME", DEV_EXECUTOR.into()),
        ("COLONIES_EXECUTOR_TYPE", DEV_EXECUTOR_TYPE.into()),
    ];
    outln!("# petri dev broker on {addr}, data in {}", args.data_dir.display());
    outln!("# These keys are public: never use them outside development.");
    outln!("# Paste into another terminal:");
    for (k, v) in exports {
        outln!("export {k}={v}");
    }
    launch(AppState::new(store, config), addr).await
}
