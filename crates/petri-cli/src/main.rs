//! `petri`: run a development broker or a production server, and work with
//! colonies, executors, functions, workflows, processes and logs from the
//! shell. Client commands read the `COLONIES_*` variables pycolonies uses.

/// Prints a line to stdout; a closed pipe (`petri ... | head`) ends the program quietly.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::say(&format!($($arg)*)) };
}

mod bench;
mod client_cmds;
mod demo;
mod dev;
mod ext_cmds;
mod fl;
mod he;
mod mpc;
mod output;
mod pki;
mod policy_cmds;
mod psi;
mod serve;
mod sql;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "petri",
    version,
    about = "A meta-orchestrator for privacy-preserving computation across sites"
)]
struct Cli {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true, env = "PETRI_JSON")]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a development broker with the well-known dev colony and keys.
    Dev(dev::DevArgs),
    /// Run or query a server.
    #[command(subcommand)]
    Server(serve::ServerCmd),
    /// Colonies (server owner).
    #[command(subcommand)]
    Colony(client_cmds::ColonyCmd),
    /// Executors of the colony.
    #[command(subcommand)]
    Executor(client_cmds::ExecutorCmd),
    /// Functions: submit a function spec, list registered functions.
    #[command(subcommand)]
    Function(client_cmds::FunctionCmd),
    /// Workflows (process graphs).
    #[command(subcommand)]
    Workflow(client_cmds::WorkflowCmd),
    /// Processes.
    #[command(subcommand)]
    Process(client_cmds::ProcessCmd),
    /// Measure a server: sequential rounds, or concurrent load with latency percentiles.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Process logs.
    #[command(subcommand)]
    Log(client_cmds::LogCmd),
    /// Users of the colony: members who submit and read but do not execute.
    #[command(subcommand)]
    User(ext_cmds::UserCmd),
    /// Crons: workflows submitted on a schedule.
    #[command(subcommand)]
    Cron(ext_cmds::CronCmd),
    /// Generators: workflows submitted once enough arguments are packed.
    #[command(subcommand)]
    Generator(ext_cmds::GeneratorCmd),
    /// Channels: message logs between a process's submitter and its executor.
    #[command(subcommand)]
    Channel(ext_cmds::ChannelCmd),
    /// Blueprints and their definitions: declarative desired state.
    #[command(subcommand)]
    Blueprint(ext_cmds::BlueprintCmd),
    /// Snapshots of file labels.
    #[command(subcommand)]
    Snapshot(ext_cmds::SnapshotCmd),
    /// File metadata and labels (the bytes are in the object store each file names).
    #[command(subcommand)]
    File(ext_cmds::FileCmd),
    /// Paillier homomorphic encryption for the analyst: keys, encrypt, add, decrypt (phe-compatible).
    #[command(subcommand)]
    He(he::HeCmd),
    /// Self-contained demos.
    #[command(subcommand)]
    Demo(demo::DemoCmd),
    /// Certificates: root CA, organisation CAs, node certificates, CSRs, revocation.
    Pki(pki::PkiArgs),
    /// Federated learning: aggregator and collaborators under mutual TLS, rounds as a workflow.
    #[command(subcommand)]
    Fl(fl::FlCmd),
    /// Data-owner policies: check a policy file, verify an audit log.
    #[command(subcommand)]
    Policy(policy_cmds::PolicyCmd),
    /// Three-party secret-shared computation: compute nodes, data nodes, sessions, benchmark.
    #[command(subcommand)]
    Mpc(mpc::MpcCmd),
    /// Private set intersection with another organisation: run a party, a `psi` executor, or a benchmark.
    #[command(subcommand)]
    Psi(psi::PsiCmd),
    /// Secure SQL across two organisations' tables: run a query, explain what each party learns,
    /// run one party of a job between sites, or measure.
    Sql(sql::SqlArgs),
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PETRI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let out = output::Output { json: cli.json };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Dev(args) => {
                init_tracing();
                dev::run(args).await
            }
            Command::Server(cmd) => serve::run(cmd, &out).await,
            Command::Colony(cmd) => client_cmds::colony(cmd, &out).await,
            Command::Executor(cmd) => client_cmds::executor(cmd, &out).await,
            Command::Function(cmd) => client_cmds::function(cmd, &out).await,
            Command::Workflow(cmd) => client_cmds::workflow(cmd, &out).await,
            Command::Process(cmd) => client_cmds::process(cmd, &out).await,
            Command::Log(cmd) => client_cmds::log(cmd, &out).await,
            Command::User(cmd) => ext_cmds::user(cmd, &out).await,
            Command::Cron(cmd) => ext_cmds::cron(cmd, &out).await,
            Command::Generator(cmd) => ext_cmds::generator(cmd, &out).await,
            Command::Channel(cmd) => ext_cmds::channel(cmd, &out).await,
            Command::Blueprint(cmd) => ext_cmds::blueprint(cmd, &out).await,
            Command::Snapshot(cmd) => ext_cmds::snapshot(cmd, &out).await,
            Command::File(cmd) => ext_cmds::file(cmd, &out).await,
            Command::He(cmd) => he::run(cmd, &out).await,
            Command::Demo(cmd) => demo::run(cmd, &out).await,
            Command::Bench(cmd) => bench::run(cmd, &out).await,
            Command::Pki(args) => pki::run(args, &out),
            Command::Policy(cmd) => policy_cmds::run(cmd, &out),
            Command::Fl(cmd) => fl::run(cmd, &out).await,
            Command::Mpc(cmd) => mpc::run(cmd, &out).await,
            Command::Psi(cmd) => psi::run(cmd, &out).await,
            Command::Sql(args) => sql::run(args, &out).await,
        }
    });
    if let Err(e) = result {
        // One line with the whole chain of reasons.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
