//! An executor that answers `echo` by returning its arguments.
//!
//! With a `petri dev` broker running and its `export` lines pasted:
//! `cargo run -p petri-executor --example echo_executor`, then in another
//! terminal `petri function submit --spec echo.json --wait`.

use petri_crypto::PrivateKey;
use petri_executor::{Job, Runtime};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let env = petri_sdk::Env::from_env()?;
    // A fresh identity that registers itself with the colony key (development setup).
    let key = PrivateKey::generate();
    let name = format!("echo-executor-{}", &key.id()[..8]);
    let runtime = Runtime::new(&env, &name, "echo_executor", key)
        .function("echo", |job: Job| async move { Ok(job.process.spec.args.clone()) });
    runtime.register(Some(&env.colony_prvkey()?)).await?;
    println!("Executor {name} registered, waiting for echo processes (Ctrl-C to stop)");
    runtime
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
