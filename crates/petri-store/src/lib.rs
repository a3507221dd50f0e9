//! Where the broker keeps its state: the [`Store`] trait and the conformance
//! suite ([`conformance`]) every backend must pass.
//!
//! A store persists colonies, executors, users, functions, processes, process
//! graphs and logs. Operations that change a process run through
//! [`Store::edit`] or [`Store::assign`]: the store loads a
//! [`Workspace`](petri_core::Workspace) (the process and, for a workflow, its
//! whole graph), applies the core rules and writes the result back in one
//! transaction, so two concurrent operations never interleave on one graph
//! and one process is never assigned twice.

pub mod conformance;
pub mod ext;

use async_trait::async_trait;
use petri_api::Timestamp;
use petri_api::model::{Attribute, Colony, Executor, Function, Log, Process, ProcessGraph, Statistics, User};
use petri_core::{CoreError, Limits, Workspace};

pub use ext::ExtStore;

/// Errors a store returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A core rule refused the operation.
    #[error(transparent)]
    Rule(#[from] CoreError),
    /// The object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A unique name or id is already taken.
    #[error("{0}")]
    Conflict(String),
    /// The database failed; the text is for logs, not for clients.
    #[error("database error: {0}")]
    Database(String),
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// An edit applied to a loaded workspace inside the store's transaction.
pub type Edit = Box<dyn FnOnce(&mut Workspace) -> Result<(), CoreError> + Send>;

/// An identity's records in one colony.
#[derive(Debug, Clone, Default)]
pub struct Membership {
    /// Its executor record, whatever the executor's state.
    pub executor: Option<Executor>,
    /// Its user record.
    pub user: Option<User>,
}

/// Filters for listing processes.
#[derive(Debug, Clone, Default)]
pub struct ProcessQuery {
    /// Colony name.
    pub colony: String,
    /// Process state (0..=3).
    pub state: i32,
    /// Only processes for this executor type, when set.
    pub executortype: Option<String>,
    /// Only processes submitted by this initiator name, when set.
    pub initiator: Option<String>,
    /// Only processes with this label, when set.
    pub label: Option<String>,
    /// At most this many.
    pub count: usize,
}

/// Filters for reading logs.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Colony name (ignored when `executorname` is set).
    pub colony: String,
    /// Only logs of this process, when set.
    pub processid: Option<String>,
    /// Only logs written by this executor, when set.
    pub executorname: Option<String>,
    /// Only logs newer than this (Unix nanoseconds), when above 0.
    pub since: i64,
    /// Newest first instead of oldest first.
    pub latest: bool,
    /// At most this many.
    pub count: usize,
}

/// A change other servers sharing the database should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    /// A process became ready to assign.
    Ready {
        /// Its colony.
        colony: String,
        /// Its executor type.
        executortype: String,
        /// Whether only some executors of that type may take it (so all should look).
        all: bool,
    },
    /// Events may have been missed: every listener should re-check.
    Resync,
    /// A process reached a state.
    Changed {
        /// The process.
        processid: String,
        /// Its new state.
        state: i32,
    },
}

/// Persistent state of the broker.
#[async_trait]
pub trait Store: ExtStore + Send + Sync + 'static {
    /// Changes made by other servers sharing this store (a shared store
    /// announces every change atomically with it), or `None` when the store is
    /// not shared.
    async fn listen(&self) -> StoreResult<Option<tokio::sync::mpsc::Receiver<ClusterEvent>>> {
        Ok(None)
    }

    /// Whether this server leads the background duties (deadline checks) now.
    /// Exactly one of the servers sharing a store leads at a time; when the
    /// leader dies another one takes over. A store used by one server always leads.
    async fn lead(&self) -> StoreResult<bool> {
        Ok(true)
    }

    /// Adds a colony; `Conflict` if the name is taken.
    async fn add_colony(&self, colony: Colony) -> StoreResult<()>;
    /// A colony by name.
    async fn get_colony(&self, name: &str) -> StoreResult<Option<Colony>>;
    /// All colonies, by name.
    async fn list_colonies(&self) -> StoreResult<Vec<Colony>>;
    /// Removes a colony and everything in it; false if it did not exist.
    async fn remove_colony(&self, name: &str) -> StoreResult<bool>;

    /// Adds an executor; `Conflict` if its name is taken in the colony.
    async fn add_executor(&self, executor: Executor) -> StoreResult<()>;
    /// Replaces an executor record (matched by colony and name).
    async fn update_executor(&self, executor: Executor) -> StoreResult<()>;
    /// An executor by colony and name.
    async fn get_executor(&self, colony: &str, name: &str) -> StoreResult<Option<Executor>>;
    /// The executors with this id (an id may be registered in several colonies).
    async fn executors_by_id(&self, id: &str) -> StoreResult<Vec<Executor>>;
    /// All executors of a colony, by name.
    async fn list_executors(&self, colony: &str) -> StoreResult<Vec<Executor>>;
    /// Records that an executor was heard from now.
    async fn touch_executor(&self, colony: &str, name: &str, now: Timestamp) -> StoreResult<()>;

    /// Adds a user; `Conflict` if the name or id is taken in the colony.
    async fn add_user(&self, user: User) -> StoreResult<()>;
    /// A user of a colony by id.
    async fn get_user(&self, colony: &str, userid: &str) -> StoreResult<Option<User>>;
    /// What `id` is in `colony`: its executor record (in any state) and its user record.
    /// Stores answer both in one read; the default asks twice.
    async fn membership(&self, colony: &str, id: &str) -> StoreResult<Membership> {
        let executor = self
            .executors_by_id(id)
            .await?
            .into_iter()
            .find(|e| e.colonyname == colony);
        let user = self.get_user(colony, id).await?;
        Ok(Membership { executor, user })
    }
    /// All users of a colony.
    async fn list_users(&self, colony: &str) -> StoreResult<Vec<User>>;
    /// Removes a user by name; false if there was none.
    async fn remove_user(&self, colony: &str, name: &str) -> StoreResult<bool>;

    /// Adds a function registration.
    async fn add_function(&self, function: Function) -> StoreResult<()>;
    /// Functions of a colony, optionally of one executor.
    async fn list_functions(&self, colony: &str, executorname: Option<&str>) -> StoreResult<Vec<Function>>;
    /// A function by id.
    async fn get_function(&self, functionid: &str) -> StoreResult<Option<Function>>;
    /// Removes a function by id; false if there was none.
    async fn remove_function(&self, functionid: &str) -> StoreResult<bool>;
    /// Removes every function of an executor.
    async fn remove_functions_of(&self, colony: &str, executorname: &str) -> StoreResult<()>;
    /// Records a successful call in the statistics of the executor's function.
    async fn record_call(
        &self,
        colony: &str,
        executorname: &str,
        funcname: &str,
        wait: f64,
        exec: f64,
    ) -> StoreResult<()>;

    /// Stores a new standalone process.
    async fn add_process(&self, process: Process) -> StoreResult<()>;
    /// Stores a new workflow: its graph and all its processes.
    async fn add_graph(&self, graph: ProcessGraph, processes: Vec<Process>) -> StoreResult<()>;
    /// A process by id.
    async fn get_process(&self, id: &str) -> StoreResult<Option<Process>>;
    /// Processes matching a query, in the protocol's order for that state.
    async fn list_processes(&self, query: &ProcessQuery) -> StoreResult<Vec<Process>>;
    /// Ids of the processes running on an executor.
    async fn running_on(&self, executorid: &str) -> StoreResult<Vec<String>>;
    /// Removes a standalone process; false if it did not exist.
    async fn remove_process(&self, id: &str) -> StoreResult<bool>;
    /// Removes standalone processes of a colony, all or those in one state.
    async fn remove_processes(&self, colony: &str, state: Option<i32>) -> StoreResult<u64>;
    /// Atomically picks the first waiting process `executor` may take and
    /// assigns it; `None` when there is none.
    async fn assign(&self, executor: &Executor, limits: Limits, now: Timestamp) -> StoreResult<Option<Workspace>>;
    /// Loads the workspace around process `id`, applies `edit`, and writes the
    /// result back atomically. `NotFound` if the process does not exist.
    async fn edit(&self, id: &str, edit: Edit) -> StoreResult<Workspace>;
    /// Up to `limit` processes whose deadline in their current state (wait
    /// deadline while waiting, execution deadline while running) is before `now`.
    async fn expired(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<String>>;
    /// Counts for one colony.
    async fn stats(&self, colony: &str) -> StoreResult<Statistics>;

    /// A graph and all its processes.
    async fn get_graph(&self, id: &str) -> StoreResult<Option<(ProcessGraph, Vec<Process>)>>;
    /// Graphs of a colony in one state, newest first.
    async fn list_graphs(&self, colony: &str, state: i32, count: usize) -> StoreResult<Vec<ProcessGraph>>;
    /// Removes a graph and its processes; false if it did not exist.
    async fn remove_graph(&self, id: &str) -> StoreResult<bool>;
    /// Removes graphs of a colony, all or those in one state, with their processes.
    async fn remove_graphs(&self, colony: &str, state: Option<i32>) -> StoreResult<u64>;

    /// An attribute by id.
    async fn get_attribute(&self, id: &str) -> StoreResult<Option<Attribute>>;

    /// Appends a log line.
    async fn add_log(&self, log: Log) -> StoreResult<()>;
    /// Reads log lines.
    async fn get_logs(&self, query: &LogQuery) -> StoreResult<Vec<Log>>;

    /// Records that a signed request used `nonce`, keeping it until `expires`. Returns false,
    /// recording nothing, when the nonce is already recorded: the request is a replay. Atomic,
    /// so of several servers sharing the store that see one nonce at once exactly one gets true.
    async fn use_nonce(&self, nonce: &str, expires: Timestamp) -> StoreResult<bool>;
    /// Forgets the nonces that expired before `now`; returns how many.
    async fn purge_nonces(&self, now: Timestamp) -> StoreResult<u64>;
}
