//! The executor runtime: everything an executor does besides its actual work.
//!
//! An executor registers in a colony (or is registered by the colony owner),
//! declares the functions it can run, then loops: ask the broker for a process
//! (long-polling, so it only ever connects out and works behind firewalls), run
//! the function the process names, and close the process with its output, or
//! fail it with a readable error. A panicking function fails its process
//! instead of killing the executor. On shutdown it stops asking for work and
//! finishes the process in hand.
//!
//! ```no_run
//! # async fn demo() -> Result<(), petri_executor::ExecutorError> {
//! use petri_executor::{Job, Runtime};
//! let env = petri_sdk::Env::from_env()?;
//! let runtime = Runtime::new(&env, "echo-1", "echo_executor", env.prvkey()?)
//!     .function("echo", |job: Job| async move { Ok(job.process.spec.args.clone()) });
//! runtime.register(Some(&env.colony_prvkey()?)).await?;
//! runtime.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use petri_api::model::{Executor, Function, Process};
use petri_crypto::PrivateKey;
use petri_sdk::{Client, Env, SdkError};
use serde_json::Value;

/// Errors of the runtime itself (a function's own failure fails its process instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecutorError {
    /// A call to the broker failed.
    #[error(transparent)]
    Sdk(#[from] SdkError),
}

/// One process handed to a function, with what it needs to talk back.
pub struct Job {
    /// The assigned process: its spec (`funcname`, `args`, `kwargs`, `env`) and `input`
    /// (the outputs of its parents in a workflow).
    pub process: Process,
    /// A client to the broker.
    pub client: Client,
    /// The executor's key, to sign calls about this process.
    pub key: PrivateKey,
}

impl Job {
    /// The process's `args` if it has any, else its `input` (the parents' outputs).
    pub fn args_or_input(&self) -> Vec<Value> {
        if self.process.spec.args.is_empty() {
            self.process.input.clone().unwrap_or_default()
        } else {
            self.process.spec.args.clone()
        }
    }

    /// Appends a log line to the process.
    pub async fn log(&self, message: &str) -> Result<(), SdkError> {
        self.client.add_log(&self.process.processid, message, &self.key).await
    }
}

/// What a function returns: its output values, or a readable error.
pub type FunctionResult = Result<Vec<Value>, String>;

type Handler = Arc<dyn Fn(Job) -> Pin<Box<dyn Future<Output = FunctionResult> + Send>> + Send + Sync>;

/// An executor: its identity, its functions and its connection to the broker.
pub struct Runtime {
    client: Client,
    colony: String,
    name: String,
    kind: String,
    key: PrivateKey,
    functions: BTreeMap<String, Handler>,
    poll_timeout_secs: i64,
}

impl Runtime {
    /// An executor named `name` of type `kind` in the colony of `env`, acting with `key`.
    pub fn new(env: &Env, name: &str, kind: &str, key: PrivateKey) -> Self {
        Self {
            client: env.client(),
            colony: env.colony.clone(),
            name: name.to_owned(),
            kind: kind.to_owned(),
            key,
            functions: BTreeMap::new(),
            poll_timeout_secs: 10,
        }
    }

    /// Adds a function this executor runs for processes whose `funcname` is `name`.
    pub fn function<F, Fut>(mut self, name: &str, f: F) -> Self
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = FunctionResult> + Send + 'static,
    {
        self.functions
            .insert(name.to_owned(), Arc::new(move |job| Box::pin(f(job))));
        self
    }

    /// How long each request for work waits on the broker (seconds).
    pub fn poll_timeout(mut self, secs: i64) -> Self {
        self.poll_timeout_secs = secs.max(1);
        self
    }

    /// The executor's id.
    pub fn id(&self) -> String {
        self.key.id()
    }

    /// Registers the executor; with the colony owner's key it also approves
    /// itself (self-registration, for development), otherwise the colony
    /// owner must approve it. Then declares its functions.
    pub async fn register(&self, colony_owner: Option<&PrivateKey>) -> Result<(), ExecutorError> {
        if let Some(owner) = colony_owner {
            let executor = Executor {
                executorid: self.key.id(),
                executorname: self.name.clone(),
                executortype: self.kind.clone(),
                colonyname: self.colony.clone(),
                ..Executor::default()
            };
            self.client.add_executor(executor, owner).await?;
            self.client.approve_executor(&self.colony, &self.name, owner).await?;
        }
        for name in self.functions.keys() {
            let f = Function {
                executorname: self.name.clone(),
                executortype: self.kind.clone(),
                colonyname: self.colony.clone(),
                funcname: name.clone(),
                ..Function::default()
            };
            self.client.add_function(f, &self.key).await?;
        }
        tracing::info!(executor = %self.name, kind = %self.kind, id = %self.key.id(), "executor registered");
        Ok(())
    }

    /// Runs the processes the broker shows as assigned to this executor but
    /// that it is not running: an assignment whose reply was lost when the
    /// connection (or the broker replica) went down, or that a previous run of
    /// this executor left behind. Without this they would wait for their
    /// `maxexectime` and run a second time elsewhere.
    pub async fn recover(&self) -> Result<usize, ExecutorError> {
        let msg = petri_api::msg::GetProcesses {
            colonyname: self.colony.clone(),
            count: 100,
            state: petri_api::model::state::RUNNING,
            executortype: self.kind.clone(),
            ..Default::default()
        };
        let running: Option<Vec<Process>> = self.client.call(&msg, &self.key).await?;
        let me = self.key.id();
        let mut n = 0;
        for p in running
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.assignedexecutorid == me)
        {
            tracing::info!(process = %p.processid, "resuming a process assigned to this executor");
            self.execute(p).await?;
            n += 1;
        }
        Ok(n)
    }

    /// Takes and runs processes until `shutdown` resolves; the process in hand is finished first.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), ExecutorError> {
        tokio::pin!(shutdown);
        let mut recovering = true;
        loop {
            if recovering {
                match self.recover().await {
                    Ok(_) => recovering = false,
                    Err(e) => tracing::warn!(error = %e, "cannot check for orphaned processes yet"),
                }
            }
            let assigned = tokio::select! {
                _ = &mut shutdown => break,
                r = self.client.assign(&self.colony, self.poll_timeout_secs, &self.key) => r,
            };
            match assigned {
                Ok(Some(process)) => self.execute(process).await?,
                Ok(None) => {}
                Err(e) if matches!(e, SdkError::Transport(_)) || e.status() == Some(503) => {
                    // The broker may be restarting: back off and retry, then look
                    // for an assignment whose reply was lost.
                    tracing::warn!(error = %e, "cannot reach the broker, retrying");
                    recovering = true;
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!(executor = %self.name, "executor stopped");
        Ok(())
    }

    /// Runs one assigned process and reports its result.
    pub async fn execute(&self, process: Process) -> Result<(), ExecutorError> {
        let id = process.processid.clone();
        let funcname = process.spec.funcname.clone();
        let result = match self.functions.get(&funcname) {
            None => Err(format!("executor {} has no function named {funcname:?}", self.name)),
            Some(handler) => {
                let job = Job {
                    process,
                    client: self.client.clone(),
                    key: self.key.clone(),
                };
                // A panic in the function fails the process, not the executor.
                match std::panic::AssertUnwindSafe(handler(job)).catch_unwind().await {
                    Ok(result) => result,
                    Err(panic) => {
                        let reason = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "unknown panic".into());
                        Err(format!("function {funcname} panicked: {reason}"))
                    }
                }
            }
        };
        match &result {
            Ok(_) => tracing::debug!(process = %id, func = %funcname, "process done"),
            Err(error) => tracing::warn!(process = %id, func = %funcname, error = %error, "process failed"),
        }
        self.report(&id, result).await
    }

    /// Reports a result, retrying while the broker cannot be reached (a
    /// replica may be restarting). Reporting twice is harmless: a repeated
    /// close is accepted, and a repeated failure is refused as already failed.
    async fn report(&self, id: &str, result: FunctionResult) -> Result<(), ExecutorError> {
        let mut delay = Duration::from_millis(100);
        let mut attempts = 0;
        loop {
            let sent = match &result {
                Ok(out) => self.client.close(id, out.clone(), &self.key).await,
                Err(error) => self.client.fail(id, vec![error.clone()], &self.key).await,
            };
            match sent {
                Ok(()) => return Ok(()),
                Err(SdkError::Server { status: 400, message }) if message.contains("failed process as failed") => {
                    return Ok(());
                }
                Err(e) if (matches!(e, SdkError::Transport(_)) || e.status() == Some(503)) && attempts < 60 => {
                    attempts += 1;
                    tracing::warn!(process = %id, error = %e, "cannot report the result yet, retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
