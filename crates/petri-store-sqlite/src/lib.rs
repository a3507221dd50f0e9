//! petri's embedded default store: one SQLite file in WAL mode.
//!
//! All access goes through one connection behind an async mutex: SQLite allows
//! one writer at a time anyway, and holding the connection for a whole
//! load-edit-write cycle makes every [`Store::edit`] and [`Store::assign`]
//! atomic, so a process is never assigned twice. Statements run inline on the
//! calling task: each takes tens of microseconds (WAL with `synchronous =
//! NORMAL` does not sync on commit), far less than handing the work to a
//! blocking thread and back would cost in context switches. Objects are stored as their
//! JSON documents with indexed columns derived from them (see `migrations/`).
//!
//! Durability: WAL with `synchronous = NORMAL` survives a crash or kill of the
//! server; a power loss may lose the last transactions but never corrupts.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use petri_api::Timestamp;
use petri_api::model::{Attribute, Colony, Executor, Function, Log, Process, ProcessGraph, Statistics, User, state};
use petri_core::{Limits, Workspace, matches, record_call};
use petri_store::{Edit, LogQuery, Membership, ProcessQuery, Store, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use serde::Serialize;
use serde::de::DeserializeOwned;

mod ext;

/// A store in one SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<tokio::sync::Mutex<Connection>>,
    queue: Arc<std::sync::Mutex<Vec<Job>>>,
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

fn write_err(e: rusqlite::Error, what: &str) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::Conflict(format!("{what} already exists"))
        }
        _ => db_err(e),
    }
}

fn to_doc<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(db_err)
}

fn from_doc<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(db_err)
}

fn docs<T: DeserializeOwned>(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let rows = stmt.query_map(params, |r| r.get::<_, String>(0)).map_err(db_err)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(from_doc(&row.map_err(db_err)?)?);
    }
    Ok(out)
}

fn doc<T: DeserializeOwned>(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<Option<T>> {
    let text: Option<String> = conn
        .prepare_cached(sql)
        .map_err(db_err)?
        .query_row(params, |r| r.get(0))
        .optional()
        .map_err(db_err)?;
    text.map(|t| from_doc(&t)).transpose()
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../migrations/0001_init.sql")),
        M::up(include_str!("../migrations/0002_deadlines.sql")),
        M::up(include_str!("../migrations/0003_full_indexes.sql")),
        M::up(include_str!("../migrations/0004_ext.sql")),
        M::up(include_str!("../migrations/0005_narrow_indexes.sql")),
        M::up(include_str!("../migrations/0006_nonces.sql")),
    ])
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// A new database file is created readable and writable by its owner only (0600); SQLite
    /// gives its `-wal` file the same mode. An existing file readable by others is left as it
    /// is, with a warning.
    pub fn open(path: &Path) -> StoreResult<Self> {
        create_private(path)?;
        let mut conn = Connection::open(path).map_err(db_err)?;
        // One server owns the file: holding its lock for the connection's life spares a
        // lock/unlock system call pair per transaction, and the WAL index lives in this
        // process's memory instead of a shared-memory file.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE").map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db_err)?;
        // Hot pages (queue index, recent rows) are rewritten many times between
        // checkpoints; checkpointing less often writes each of them once.
        conn.pragma_update(None, "wal_autocheckpoint", 10_000).map_err(db_err)?;
        // Keep one plan per statement: otherwise SQLite re-prepares a cached
        // statement whenever a bound value it planned with (a LIMIT, a term a
        // partial index depends on) changes, which is on nearly every call.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(db_err)?;
        // More distinct statements than the default cache holds are in use.
        conn.set_prepared_statement_cache_capacity(256);
        migrations().to_latest(&mut conn).map_err(db_err)?;
        Ok(Self {
            conn: Arc::new(tokio::sync::Mutex::new(conn)),
            queue: Arc::default(),
        })
    }

    async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let mut conn = self.conn.lock().await;
        f(&mut conn)
    }

    /// Runs `f` in a write transaction. Concurrent writers share transactions
    /// (group commit): whoever holds the connection runs every queued write,
    /// each in its own savepoint so a refused one changes nothing, and commits
    /// them together. Results are handed out only after the commit.
    async fn tx<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (send, recv) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn: &Connection| -> Finish {
            let result = in_savepoint(conn, f);
            Box::new(move |committed: &Result<(), String>| {
                let _ = send.send(match committed {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Database(e.clone())),
                });
            })
        });
        let alone = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.push(job);
            queue.len() == 1
        };
        if alone {
            // Let the requests already in flight on this worker reach their
            // writes too, so that one commit carries several of them.
            tokio::task::yield_now().await;
        }
        {
            let conn = self.conn.lock().await;
            loop {
                let jobs = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()));
                if jobs.is_empty() {
                    break;
                }
                run_batch(&conn, jobs);
            }
        }
        recv.await.map_err(|_| db_err("write was dropped before it ran"))?
    }
}

/// Creates `path` as an empty file with mode 0600 when it does not exist (SQLite then uses
/// it as a new database), and warns when an existing one is open to group or others.
#[cfg(unix)]
fn create_private(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{:o}", meta.permissions().mode() & 0o777),
                    "the database file is readable by others; chmod 600 it"
                );
            }
            Ok(())
        }
        Err(e) => Err(db_err(format!("cannot create {}: {e}", path.display()))),
    }
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> StoreResult<()> {
    Ok(())
}

/// A queued write: runs inside the shared transaction and returns what to do
/// once the transaction's outcome is known.
type Job = Box<dyn FnOnce(&Connection) -> Finish + Send>;
type Finish = Box<dyn FnOnce(&Result<(), String>) + Send>;

fn exec_cached(conn: &Connection, sql: &str) -> Result<(), String> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(drop)
        .map_err(|e| e.to_string())
}

fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
    exec_cached(conn, "SAVEPOINT job").map_err(StoreError::Database)?;
    let result = f(conn);
    if result.is_err() {
        exec_cached(conn, "ROLLBACK TO job").map_err(StoreError::Database)?;
    }
    exec_cached(conn, "RELEASE job").map_err(StoreError::Database)?;
    result
}

fn run_batch(conn: &Connection, jobs: Vec<Job>) {
    if let Err(e) = exec_cached(conn, "BEGIN IMMEDIATE") {
        // Nothing ran; the jobs' senders are dropped with them, so each
        // waiting caller gets an error.
        tracing::error!(error = %e, "cannot begin a write transaction");
        return;
    }
    let finishers: Vec<Finish> = jobs.into_iter().map(|job| job(conn)).collect();
    let committed = exec_cached(conn, "COMMIT");
    if committed.is_err() {
        let _ = exec_cached(conn, "ROLLBACK");
    }
    for finish in finishers {
        finish(&committed);
    }
}

fn put_process(tx: &Connection, p: &Process) -> StoreResult<()> {
    let ready = p.state == state::WAITING && !p.isassigned && !p.waitforparents;
    let deadline = match p.state {
        state::WAITING => p.waitdeadline.nanos(),
        state::RUNNING => p.execdeadline.nanos(),
        _ => None,
    };
    tx.prepare_cached(
        "INSERT INTO processes (processid, colonyname, state, executortype, ready, prioritytime, processgraphid,
             assignedexecutorid, initiatorname, label, starttime, endtime, doc, deadline)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (processid) DO UPDATE SET state = ?3, ready = ?5, prioritytime = ?6,
             assignedexecutorid = ?8, starttime = ?11, endtime = ?12, doc = ?13, deadline = ?14",
    )
    .map_err(db_err)?
    .execute(params![
        p.processid,
        p.spec.conditions.colonyname,
        p.state,
        p.spec.conditions.executortype,
        ready,
        p.prioritytime,
        p.processgraphid,
        p.assignedexecutorid,
        p.initiatorname,
        p.spec.label,
        p.starttime.nanos(),
        p.endtime.nanos(),
        to_doc(p)?,
        deadline,
    ])
    .map_err(|e| write_err(e, "process"))?;
    let mut stmt = tx
        .prepare_cached("INSERT OR IGNORE INTO attributes (attributeid, processid) VALUES (?1, ?2)")
        .map_err(db_err)?;
    for a in &p.attributes {
        stmt.execute(params![a.attributeid, p.processid]).map_err(db_err)?;
    }
    Ok(())
}

fn put_graph(tx: &Connection, g: &ProcessGraph) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO graphs (processgraphid, colonyname, state, submissiontime, doc) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (processgraphid) DO UPDATE SET state = ?3, doc = ?5",
    )
    .map_err(db_err)?
    .execute(params![
        g.processgraphid,
        g.colonyname,
        g.state,
        g.submissiontime.nanos(),
        to_doc(g)?
    ])
    .map_err(|e| write_err(e, "process graph"))?;
    Ok(())
}

fn load_workspace(tx: &Connection, process: Process) -> StoreResult<Workspace> {
    let id = process.processid.clone();
    if process.processgraphid.is_empty() {
        return Ok(Workspace::new(id, None, vec![process]));
    }
    let graph: Option<ProcessGraph> = doc(
        tx,
        "SELECT doc FROM graphs WHERE processgraphid = ?1",
        [&process.processgraphid],
    )?;
    let members: Vec<Process> = docs(
        tx,
        "SELECT doc FROM processes WHERE processgraphid = ?1 ORDER BY seq",
        [&process.processgraphid],
    )?;
    Ok(Workspace::new(id, graph, members))
}

fn save_workspace(tx: &Connection, ws: &Workspace) -> StoreResult<()> {
    for id in &ws.dirty {
        if let Some(p) = ws.processes.get(id) {
            put_process(tx, p)?;
        }
    }
    if let Some(g) = &ws.graph {
        put_graph(tx, g)?;
    }
    Ok(())
}

fn delete_processes_where(tx: &Connection, filter: &str, params: impl rusqlite::Params + Clone) -> StoreResult<u64> {
    tx.execute(
        &format!("DELETE FROM attributes WHERE processid IN (SELECT processid FROM processes WHERE {filter})"),
        params.clone(),
    )
    .map_err(db_err)?;
    let n = tx
        .execute(&format!("DELETE FROM processes WHERE {filter}"), params)
        .map_err(db_err)?;
    Ok(n as u64)
}

#[async_trait]
impl Store for SqliteStore {
    async fn add_colony(&self, colony: Colony) -> StoreResult<()> {
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO colonies (name, colonyid, doc) VALUES (?1, ?2, ?3)",
                params![colony.name, colony.colonyid, to_doc(&colony)?],
            )
            .map_err(|e| write_err(e, "colony"))?;
            Ok(())
        })
        .await
    }

    async fn get_colony(&self, name: &str) -> StoreResult<Option<Colony>> {
        let name = name.to_owned();
        self.run(move |c| doc(c, "SELECT doc FROM colonies WHERE name = ?1", [name]))
            .await
    }

    async fn list_colonies(&self) -> StoreResult<Vec<Colony>> {
        self.run(|c| docs(c, "SELECT doc FROM colonies ORDER BY name", []))
            .await
    }

    async fn remove_colony(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_owned();
        self.tx(move |tx| {
            let n = tx
                .execute("DELETE FROM colonies WHERE name = ?1", [&name])
                .map_err(db_err)?;
            for table in ["executors", "users", "functions", "graphs", "logs"] {
                tx.execute(&format!("DELETE FROM {table} WHERE colonyname = ?1"), [&name])
                    .map_err(db_err)?;
            }
            delete_processes_where(tx, "colonyname = ?1", [&name])?;
            Ok(n > 0)
        })
        .await
    }

    async fn add_executor(&self, executor: Executor) -> StoreResult<()> {
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO executors (colonyname, executorname, executorid, doc) VALUES (?1, ?2, ?3, ?4)",
                params![
                    executor.colonyname,
                    executor.executorname,
                    executor.executorid,
                    to_doc(&executor)?
                ],
            )
            .map_err(|e| write_err(e, "executor"))?;
            Ok(())
        })
        .await
    }

    async fn update_executor(&self, executor: Executor) -> StoreResult<()> {
        self.tx(move |tx| {
            let n = tx
                .execute(
                    "UPDATE executors SET executorid = ?3, doc = ?4 WHERE colonyname = ?1 AND executorname = ?2",
                    params![
                        executor.colonyname,
                        executor.executorname,
                        executor.executorid,
                        to_doc(&executor)?
                    ],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "executor {} not found",
                    executor.executorname
                )));
            }
            Ok(())
        })
        .await
    }

    async fn get_executor(&self, colony: &str, name: &str) -> StoreResult<Option<Executor>> {
        let (colony, name) = (colony.to_owned(), name.to_owned());
        self.run(move |c| {
            doc(
                c,
                "SELECT doc FROM executors WHERE colonyname = ?1 AND executorname = ?2",
                [colony, name],
            )
        })
        .await
    }

    async fn executors_by_id(&self, id: &str) -> StoreResult<Vec<Executor>> {
        let id = id.to_owned();
        self.run(move |c| docs(c, "SELECT doc FROM executors WHERE executorid = ?1", [id]))
            .await
    }

    async fn membership(&self, colony: &str, id: &str) -> StoreResult<Membership> {
        let (colony, id) = (colony.to_owned(), id.to_owned());
        self.run(move |c| {
            let executor = doc(
                c,
                "SELECT doc FROM executors WHERE executorid = ?1 AND colonyname = ?2",
                [&id, &colony],
            )?;
            let user = doc(
                c,
                "SELECT doc FROM users WHERE colonyname = ?1 AND userid = ?2",
                [&colony, &id],
            )?;
            Ok(Membership { executor, user })
        })
        .await
    }

    async fn list_executors(&self, colony: &str) -> StoreResult<Vec<Executor>> {
        let colony = colony.to_owned();
        self.run(move |c| {
            docs(
                c,
                "SELECT doc FROM executors WHERE colonyname = ?1 ORDER BY executorname",
                [colony],
            )
        })
        .await
    }

    async fn touch_executor(&self, colony: &str, name: &str, now: Timestamp) -> StoreResult<()> {
        let (colony, name) = (colony.to_owned(), name.to_owned());
        self.tx(move |tx| {
            let found: Option<Executor> = doc(
                tx,
                "SELECT doc FROM executors WHERE colonyname = ?1 AND executorname = ?2",
                [&colony, &name],
            )?;
            if let Some(mut e) = found {
                e.lastheardfromtime = now;
                tx.execute(
                    "UPDATE executors SET doc = ?3 WHERE colonyname = ?1 AND executorname = ?2",
                    params![colony, name, to_doc(&e)?],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn add_user(&self, user: User) -> StoreResult<()> {
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO users (colonyname, name, userid, doc) VALUES (?1, ?2, ?3, ?4)",
                params![user.colonyname, user.name, user.userid, to_doc(&user)?],
            )
            .map_err(|e| write_err(e, "user"))?;
            Ok(())
        })
        .await
    }

    async fn get_user(&self, colony: &str, userid: &str) -> StoreResult<Option<User>> {
        let (colony, userid) = (colony.to_owned(), userid.to_owned());
        self.run(move |c| {
            doc(
                c,
                "SELECT doc FROM users WHERE colonyname = ?1 AND userid = ?2",
                [colony, userid],
            )
        })
        .await
    }

    async fn list_users(&self, colony: &str) -> StoreResult<Vec<User>> {
        let colony = colony.to_owned();
        self.run(move |c| docs(c, "SELECT doc FROM users WHERE colonyname = ?1 ORDER BY name", [colony]))
            .await
    }

    async fn remove_user(&self, colony: &str, name: &str) -> StoreResult<bool> {
        let (colony, name) = (colony.to_owned(), name.to_owned());
        self.tx(move |tx| {
            let n = tx
                .execute("DELETE FROM users WHERE colonyname = ?1 AND name = ?2", [colony, name])
                .map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn add_function(&self, function: Function) -> StoreResult<()> {
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO functions (functionid, colonyname, executorname, funcname, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![function.functionid, function.colonyname, function.executorname, function.funcname, to_doc(&function)?],
            )
            .map_err(|e| write_err(e, "function"))?;
            Ok(())
        })
        .await
    }

    async fn list_functions(&self, colony: &str, executorname: Option<&str>) -> StoreResult<Vec<Function>> {
        let colony = colony.to_owned();
        let executorname = executorname.map(str::to_owned);
        self.run(move |c| match executorname {
            Some(name) => docs(
                c,
                "SELECT doc FROM functions WHERE colonyname = ?1 AND executorname = ?2 ORDER BY funcname",
                [colony, name],
            ),
            None => docs(
                c,
                "SELECT doc FROM functions WHERE colonyname = ?1 ORDER BY funcname, executorname",
                [colony],
            ),
        })
        .await
    }

    async fn get_function(&self, functionid: &str) -> StoreResult<Option<Function>> {
        let id = functionid.to_owned();
        self.run(move |c| doc(c, "SELECT doc FROM functions WHERE functionid = ?1", [id]))
            .await
    }

    async fn remove_function(&self, functionid: &str) -> StoreResult<bool> {
        let id = functionid.to_owned();
        self.tx(move |tx| {
            Ok(tx
                .execute("DELETE FROM functions WHERE functionid = ?1", [id])
                .map_err(db_err)?
                > 0)
        })
        .await
    }

    async fn remove_functions_of(&self, colony: &str, executorname: &str) -> StoreResult<()> {
        let (colony, name) = (colony.to_owned(), executorname.to_owned());
        self.tx(move |tx| {
            tx.execute(
                "DELETE FROM functions WHERE colonyname = ?1 AND executorname = ?2",
                [colony, name],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn record_call(
        &self,
        colony: &str,
        executorname: &str,
        funcname: &str,
        wait: f64,
        exec: f64,
    ) -> StoreResult<()> {
        let (colony, name, func) = (colony.to_owned(), executorname.to_owned(), funcname.to_owned());
        const SQL: &str = "SELECT doc FROM functions WHERE colonyname = ?1 AND executorname = ?2 AND funcname = ?3";
        // Most executors register no functions: look before queueing a write.
        let (c2, n2, f2) = (colony.clone(), name.clone(), func.clone());
        if self
            .run(move |conn| docs::<Function>(conn, SQL, [&c2, &n2, &f2]))
            .await?
            .is_empty()
        {
            return Ok(());
        }
        self.tx(move |tx| {
            for mut f in docs::<Function>(tx, SQL, [&colony, &name, &func])? {
                record_call(&mut f, wait, exec);
                tx.execute(
                    "UPDATE functions SET doc = ?2 WHERE functionid = ?1",
                    params![f.functionid, to_doc(&f)?],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn add_process(&self, process: Process) -> StoreResult<()> {
        self.tx(move |tx| put_process(tx, &process)).await
    }

    async fn add_graph(&self, graph: ProcessGraph, processes: Vec<Process>) -> StoreResult<()> {
        self.tx(move |tx| {
            put_graph(tx, &graph)?;
            for p in &processes {
                put_process(tx, p)?;
            }
            Ok(())
        })
        .await
    }

    async fn get_process(&self, id: &str) -> StoreResult<Option<Process>> {
        let id = id.to_owned();
        self.run(move |c| doc(c, "SELECT doc FROM processes WHERE processid = ?1", [id]))
            .await
    }

    async fn list_processes(&self, query: &ProcessQuery) -> StoreResult<Vec<Process>> {
        let q = query.clone();
        self.run(move |c| {
            let order = match q.state {
                state::WAITING => "prioritytime ASC, seq ASC",
                state::RUNNING => "starttime ASC, seq ASC",
                _ => "endtime DESC, seq DESC",
            };
            let (filter, value) = if let Some(t) = q.executortype {
                ("AND executortype = ?3", t)
            } else if let Some(i) = q.initiator {
                ("AND initiatorname = ?3", i)
            } else if let Some(l) = q.label {
                ("AND label = ?3", l)
            } else {
                ("AND ?3 = ''", String::new())
            };
            let sql = format!(
                "SELECT doc FROM processes WHERE colonyname = ?1 AND state = ?2 {filter} ORDER BY {order} LIMIT ?4"
            );
            docs(c, &sql, params![q.colony, q.state, value, q.count as i64])
        })
        .await
    }

    async fn running_on(&self, executorid: &str) -> StoreResult<Vec<String>> {
        let id = executorid.to_owned();
        self.run(move |c| {
            let mut stmt = c
                // `state = 1` (running) literally, so the partial index applies.
                .prepare_cached("SELECT processid FROM processes WHERE assignedexecutorid = ?1 AND state = 1")
                .map_err(db_err)?;
            const _: () = assert!(state::RUNNING == 1);
            let rows = stmt.query_map(params![id], |r| r.get(0)).map_err(db_err)?;
            rows.collect::<Result<Vec<String>, _>>().map_err(db_err)
        })
        .await
    }

    async fn remove_process(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.tx(move |tx| Ok(delete_processes_where(tx, "processid = ?1 AND processgraphid = ''", [id])? > 0))
            .await
    }

    async fn remove_processes(&self, colony: &str, state: Option<i32>) -> StoreResult<u64> {
        let colony = colony.to_owned();
        self.tx(move |tx| match state {
            Some(s) => delete_processes_where(
                tx,
                "colonyname = ?1 AND processgraphid = '' AND state = ?2",
                params![colony, s],
            ),
            None => delete_processes_where(tx, "colonyname = ?1 AND processgraphid = ''", params![colony]),
        })
        .await
    }

    async fn assign(&self, executor: &Executor, limits: Limits, now: Timestamp) -> StoreResult<Option<Workspace>> {
        let executor = executor.clone();
        self.tx(move |tx| {
            // Scan the head of the queue for the first process this executor
            // may take; the finer conditions (names, resources, location) are
            // checked by the core rules.
            const BATCH: i64 = 16;
            let mut offset = 0;
            loop {
                // Documents are parsed one at a time, stopping at the first fit:
                // the head of the queue usually fits.
                let mut found = None;
                let mut n = 0;
                {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT doc FROM processes WHERE colonyname = ?1 AND executortype = ?2 AND ready = 1
                             ORDER BY prioritytime, seq LIMIT ?3 OFFSET ?4",
                        )
                        .map_err(db_err)?;
                    let mut rows = stmt
                        .query(params![executor.colonyname, executor.executortype, BATCH, offset])
                        .map_err(db_err)?;
                    while let Some(row) = rows.next().map_err(db_err)? {
                        n += 1;
                        let p: Process = from_doc(&row.get::<_, String>(0).map_err(db_err)?)?;
                        if matches(&p, &executor, limits) {
                            found = Some(p);
                            break;
                        }
                    }
                }
                if let Some(p) = found {
                    let mut ws = load_workspace(tx, p)?;
                    ws.assign(&executor, now);
                    save_workspace(tx, &ws)?;
                    return Ok(Some(ws));
                }
                if n < BATCH {
                    return Ok(None);
                }
                offset += BATCH;
            }
        })
        .await
    }

    async fn edit(&self, id: &str, edit: Edit) -> StoreResult<Workspace> {
        let id = id.to_owned();
        self.tx(move |tx| {
            let p: Process = doc(tx, "SELECT doc FROM processes WHERE processid = ?1", [&id])?
                .ok_or_else(|| StoreError::NotFound(format!("process {id} not found")))?;
            let mut ws = load_workspace(tx, p)?;
            edit(&mut ws)?;
            save_workspace(tx, &ws)?;
            Ok(ws)
        })
        .await
    }

    async fn expired(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<String>> {
        let now = now.nanos().unwrap_or(0);
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT processid FROM processes WHERE deadline < ?1 ORDER BY deadline LIMIT ?2")
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![now, limit as i64], |r| r.get(0))
                .map_err(db_err)?;
            rows.collect::<Result<Vec<String>, _>>().map_err(db_err)
        })
        .await
    }

    async fn stats(&self, colony: &str) -> StoreResult<Statistics> {
        let colony = colony.to_owned();
        self.run(move |c| {
            let count_by_state = |sql: &str| -> StoreResult<[i64; 4]> {
                let mut out = [0; 4];
                let mut stmt = c.prepare_cached(sql).map_err(db_err)?;
                let rows = stmt
                    .query_map([&colony], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
                    .map_err(db_err)?;
                for row in rows {
                    let (s, n) = row.map_err(db_err)?;
                    if let Some(slot) = out.get_mut(s as usize) {
                        *slot = n;
                    }
                }
                Ok(out)
            };
            let p = count_by_state("SELECT state, COUNT(*) FROM processes WHERE colonyname = ?1 GROUP BY state")?;
            let g = count_by_state("SELECT state, COUNT(*) FROM graphs WHERE colonyname = ?1 GROUP BY state")?;
            let executors: Vec<Executor> = docs(c, "SELECT doc FROM executors WHERE colonyname = ?1", [&colony])?;
            let count = |s: i32| executors.iter().filter(|e| e.state == s).count() as i64;
            Ok(Statistics {
                colonies: 1,
                executors: executors.len() as i64,
                activeexecutors: count(petri_api::model::executor_state::APPROVED),
                unregisteredexecutors: count(petri_api::model::executor_state::UNREGISTERED),
                waitingprocesses: p[0],
                runningprocesses: p[1],
                successfulprocesses: p[2],
                failedprocesses: p[3],
                waitingworkflows: g[0],
                runningworkflows: g[1],
                successfulworkflows: g[2],
                failedworkflows: g[3],
            })
        })
        .await
    }

    async fn get_graph(&self, id: &str) -> StoreResult<Option<(ProcessGraph, Vec<Process>)>> {
        let id = id.to_owned();
        self.run(move |c| {
            let Some(g) = doc::<ProcessGraph>(c, "SELECT doc FROM graphs WHERE processgraphid = ?1", [&id])? else {
                return Ok(None);
            };
            let ps = docs(
                c,
                "SELECT doc FROM processes WHERE processgraphid = ?1 ORDER BY seq",
                [&id],
            )?;
            Ok(Some((g, ps)))
        })
        .await
    }

    async fn list_graphs(&self, colony: &str, state: i32, count: usize) -> StoreResult<Vec<ProcessGraph>> {
        let colony = colony.to_owned();
        self.run(move |c| {
            docs(
                c,
                "SELECT doc FROM graphs WHERE colonyname = ?1 AND state = ?2 ORDER BY submissiontime DESC LIMIT ?3",
                params![colony, state, count as i64],
            )
        })
        .await
    }

    async fn remove_graph(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.tx(move |tx| {
            let n = tx
                .execute("DELETE FROM graphs WHERE processgraphid = ?1", [&id])
                .map_err(db_err)?;
            delete_processes_where(tx, "processgraphid = ?1", [&id])?;
            Ok(n > 0)
        })
        .await
    }

    async fn remove_graphs(&self, colony: &str, state: Option<i32>) -> StoreResult<u64> {
        let colony = colony.to_owned();
        self.tx(move |tx| {
            let filter = match state {
                Some(_) => "colonyname = ?1 AND state = ?2",
                None => "colonyname = ?1 AND ?2 IS NULL",
            };
            let ids: Vec<String> = {
                let mut stmt = tx
                    .prepare(&format!("SELECT processgraphid FROM graphs WHERE {filter}"))
                    .map_err(db_err)?;
                let rows = stmt.query_map(params![colony, state], |r| r.get(0)).map_err(db_err)?;
                rows.collect::<Result<_, _>>().map_err(db_err)?
            };
            for id in &ids {
                tx.execute("DELETE FROM graphs WHERE processgraphid = ?1", [id])
                    .map_err(db_err)?;
                delete_processes_where(tx, "processgraphid = ?1", [id])?;
            }
            Ok(ids.len() as u64)
        })
        .await
    }

    async fn get_attribute(&self, id: &str) -> StoreResult<Option<Attribute>> {
        let id = id.to_owned();
        self.run(move |c| {
            let p: Option<Process> = doc(
                c,
                "SELECT p.doc FROM attributes a JOIN processes p ON p.processid = a.processid WHERE a.attributeid = ?1",
                [&id],
            )?;
            Ok(p.and_then(|p| p.attributes.into_iter().find(|a| a.attributeid == id)))
        })
        .await
    }

    async fn add_log(&self, log: Log) -> StoreResult<()> {
        self.tx(move |tx| {
            tx.prepare_cached(
                "INSERT INTO logs (processid, colonyname, executorname, timestamp, message) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(db_err)?
            .execute(params![log.processid, log.colonyname, log.executorname, log.timestamp, log.message])
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn get_logs(&self, query: &LogQuery) -> StoreResult<Vec<Log>> {
        let q = query.clone();
        self.run(move |c| {
            let (filter, key) = match (&q.executorname, &q.processid) {
                (Some(e), _) => ("executorname = ?1", e.clone()),
                (None, Some(p)) => ("processid = ?1", p.clone()),
                (None, None) => ("colonyname = ?1", q.colony.clone()),
            };
            let order = if q.latest { "DESC" } else { "ASC" };
            let sql = format!(
                "SELECT processid, colonyname, executorname, message, timestamp FROM logs
                 WHERE {filter} AND timestamp > ?2 ORDER BY timestamp {order}, id {order} LIMIT ?3"
            );
            let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
            let rows = stmt
                .query_map(params![key, q.since.max(0), q.count as i64], |r| {
                    Ok(Log {
                        processid: r.get(0)?,
                        colonyname: r.get(1)?,
                        executorname: r.get(2)?,
                        message: r.get(3)?,
                        timestamp: r.get(4)?,
                    })
                })
                .map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
        .await
    }

    async fn use_nonce(&self, nonce: &str, expires: Timestamp) -> StoreResult<bool> {
        let nonce = nonce.to_owned();
        let expires = expires.nanos().unwrap_or(i64::MAX);
        self.tx(move |tx| {
            let added = tx
                .prepare_cached("INSERT OR IGNORE INTO nonces (nonce, expires) VALUES (?1, ?2)")
                .map_err(db_err)?
                .execute(params![nonce, expires])
                .map_err(db_err)?;
            Ok(added == 1)
        })
        .await
    }

    async fn purge_nonces(&self, now: Timestamp) -> StoreResult<u64> {
        let now = now.nanos().unwrap_or(0);
        self.tx(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM nonces WHERE expires < ?1")
                .map_err(db_err)?
                .execute([now])
                .map_err(db_err)?;
            Ok(n as u64)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("petri.db")).unwrap();
        petri_store::conformance::run_all(Arc::new(store)).await;
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn database_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("petri.db");
        let store = SqliteStore::open(&path).unwrap();
        store
            .add_colony(Colony {
                colonyid: "c".repeat(64),
                name: "private".into(),
            })
            .await
            .unwrap();
        let wal = dir.path().join("petri.db-wal");
        assert!(wal.exists(), "a write creates the WAL file");
        for file in [&path, &wal] {
            let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} has mode {mode:o}", file.display());
        }
        // With exclusive locking SQLite keeps the WAL index in memory: no -shm file.
        assert!(!dir.path().join("petri.db-shm").exists());
    }

    #[tokio::test]
    async fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("petri.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store
                .add_colony(Colony {
                    colonyid: "c".repeat(64),
                    name: "durable".into(),
                })
                .await
                .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.get_colony("durable").await.unwrap().is_some());
    }
}
