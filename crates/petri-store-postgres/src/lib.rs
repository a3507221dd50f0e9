//! petri's store for scale: several servers (replicas) share one PostgreSQL
//! database and behave as one broker.
//!
//! * **Exactly-once assignment** comes from the database's row locks: an
//!   assigner takes the head of the queue with `FOR UPDATE SKIP LOCKED`, so two
//!   replicas never take the same process and never wait on each other.
//! * **Lock order**: every change to a workflow locks the graph row first
//!   (blocking) and then its processes; a standalone process is locked by its
//!   own row. The only code that locks a process before its graph is
//!   [`Store::assign`], and it takes the graph with `SKIP LOCKED`, so it never
//!   waits while holding a lock and no deadlock can form.
//! * **Cluster events**: every transaction that changes processes also sends a
//!   `NOTIFY` (delivered only if it commits); each replica `LISTEN`s and wakes
//!   its long-polling executors and websocket subscribers.
//! * **Leadership** for background duties is a session-level advisory lock held
//!   on a dedicated connection: when the leader dies its session ends, the
//!   lock is released, and another replica takes it on its next try.

use std::str::FromStr;

use async_trait::async_trait;
use petri_api::Timestamp;
use petri_api::model::{
    Attribute, Colony, Executor, Function, Log, Process, ProcessGraph, Statistics, User, executor_state, state,
};
use petri_core::{Limits, Workspace, matches, record_call};
use petri_store::{ClusterEvent, Edit, LogQuery, Membership, ProcessQuery, Store, StoreError, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Row};
use tokio::sync::{Mutex, mpsc};

mod ext;

/// The notification channel replicas talk on.
/// Cluster events travel on `petri_events_<hash of the schema>`: stores in different schemas of
/// one database (tests, separate deployments) never hear each other.
const CHANNEL: &str = "petri_events";
/// The base of the advisory lock whose holder leads the background duties.
const LEADER_LOCK: i64 = 0x7065_7472_695f_6c64; // "petri_ld"
/// Largest notification payload we send (PostgreSQL's limit is 8000 bytes).
const MAX_NOTIFY_BYTES: usize = 7000;

/// A store in a PostgreSQL database, shareable by several servers.
pub struct PgStore {
    pool: PgPool,
    options: PgConnectOptions,
    /// Identifies this server's notifications, so it ignores its own.
    replica: String,
    leader: Mutex<Option<PgConnection>>,
    /// The schema's suffix of the notification channels.
    channel_suffix: String,
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

fn write_err(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => {
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

fn parse_docs<T: DeserializeOwned>(rows: Vec<sqlx::postgres::PgRow>) -> StoreResult<Vec<T>> {
    rows.iter()
        .map(|r| from_doc(&r.try_get::<String, _>(0).map_err(db_err)?))
        .collect()
}

fn parse_doc<T: DeserializeOwned>(row: Option<sqlx::postgres::PgRow>) -> StoreResult<Option<T>> {
    row.map(|r| from_doc(&r.try_get::<String, _>(0).map_err(db_err)?))
        .transpose()
}

impl PgStore {
    /// Connects to `url` and brings the schema up to date.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url).map_err(db_err)?;
        Self::connect_with(options).await
    }

    /// Connects with `options` (for example with a `search_path` for an
    /// isolated schema) and brings the schema up to date.
    pub async fn connect_with(options: PgConnectOptions) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(|e| StoreError::Database(format!("cannot connect to PostgreSQL: {e}")))?;
        // sqlx's migrator takes an advisory lock, so replicas starting together migrate once.
        sqlx::migrate!("./migrations").run(&pool).await.map_err(db_err)?;
        let replica = petri_crypto::random_id()[..16].to_owned();
        let channel_suffix: String = sqlx::query_scalar("SELECT to_hex(hashtext(COALESCE(current_schema(), '')))")
            .fetch_one(&pool)
            .await
            .map_err(db_err)?;
        Ok(Self {
            pool,
            options,
            replica,
            leader: Mutex::new(None),
            channel_suffix,
        })
    }

    /// Connects to `url` using tables in `schema` (created if missing), so
    /// tests and separate deployments can share one database.
    pub async fn connect_schema(url: &str, schema: &str) -> StoreResult<Self> {
        if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StoreError::Database(format!("invalid schema name {schema:?}")));
        }
        let options = PgConnectOptions::from_str(url).map_err(db_err)?;
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(|e| StoreError::Database(format!("cannot connect to PostgreSQL: {e}")))?;
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {schema}")))
            .execute(&mut conn)
            .await
            .map_err(db_err)?;
        Self::connect_with(options.options([("search_path", schema)])).await
    }

    /// The notification channel `base` for this store's schema.
    pub(crate) fn channel(&self, base: &str) -> String {
        format!("{base}_{}", self.channel_suffix)
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Collects cluster events and sends them with `pg_notify` inside a transaction.
struct Notes<'a> {
    replica: &'a str,
    channel: String,
    lines: Vec<String>,
}

impl<'a> Notes<'a> {
    fn new(replica: &'a str, channel: String) -> Self {
        Self {
            replica,
            channel,
            lines: Vec::new(),
        }
    }

    /// `p` became ready. Names cannot hold control characters, so tabs separate fields.
    fn ready(&mut self, p: &Process) {
        let c = &p.spec.conditions;
        let all = u8::from(petri_core::restricted(p));
        self.lines
            .push(format!("r\t{}\t{}\t{all}", c.colonyname, c.executortype));
    }

    fn changed(&mut self, p: &Process) {
        self.lines.push(format!("c\t{}\t{}", p.processid, p.state));
    }

    fn workspace(&mut self, ws: &Workspace) {
        for id in &ws.dirty {
            if let Some(p) = ws.processes.get(id) {
                self.changed(p);
            }
        }
        for id in &ws.ready {
            if let Some(p) = ws.processes.get(id) {
                self.ready(p);
            }
        }
    }

    /// The notification payloads: one, unless the lines exceed PostgreSQL's limit.
    fn payloads(self) -> Vec<String> {
        let mut out = Vec::new();
        let mut payload = String::new();
        for line in self.lines {
            if !payload.is_empty() && payload.len() + line.len() + 1 > MAX_NOTIFY_BYTES {
                out.push(std::mem::take(&mut payload));
            }
            payload.push_str(&line);
            payload.push('\n');
        }
        if !payload.is_empty() {
            out.push(payload);
        }
        out.into_iter().map(|p| format!("{}\n{p}", self.replica)).collect()
    }

    /// Sends every notification with its own statement.
    async fn send(self, conn: &mut PgConnection) -> StoreResult<()> {
        let channel = self.channel.clone();
        for payload in self.payloads() {
            notify(conn, &channel, &payload).await?;
        }
        Ok(())
    }
}

/// A notification to send with a write, in the same statement.
struct Rider {
    channel: String,
    payload: String,
}

impl Notes<'_> {
    /// Splits the notes into the one that rides on the transaction's last write
    /// (saving a round trip) and any that must be sent on their own.
    fn rider(self) -> (Option<Rider>, Vec<String>) {
        let channel = self.channel.clone();
        let mut payloads = self.payloads();
        let last = payloads.pop().map(|payload| Rider { channel, payload });
        (last, payloads)
    }
}

async fn notify(conn: &mut PgConnection, channel: &str, payload: &str) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

fn parse_notification(payload: &str, own: &str) -> Vec<ClusterEvent> {
    let mut lines = payload.lines();
    if lines.next() == Some(own) {
        return Vec::new();
    }
    lines
        .filter_map(|line| {
            let mut parts = line.split('\t');
            match parts.next()? {
                "r" => Some(ClusterEvent::Ready {
                    colony: parts.next()?.to_owned(),
                    executortype: parts.next()?.to_owned(),
                    all: parts.next()? == "1",
                }),
                "c" => {
                    let processid = parts.next()?.to_owned();
                    let state = parts.next()?.parse().ok()?;
                    Some(ClusterEvent::Changed { processid, state })
                }
                _ => None,
            }
        })
        .collect()
}

/// The upsert of a process row; `$15`/`$16` are a notification's channel and
/// payload when one rides along.
macro_rules! upsert_process {
    () => {
        "INSERT INTO processes (processid, colonyname, state, executortype, ready, prioritytime, processgraphid,
             assignedexecutorid, initiatorname, label, starttime, endtime, deadline, doc)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (processid) DO UPDATE SET state = $3, ready = $5, prioritytime = $6,
             assignedexecutorid = $8, starttime = $11, endtime = $12, deadline = $13, doc = $14"
    };
}

/// Writes a process row (and its attributes' index rows). A `rider`
/// notification is sent by the same statement: the notification and the
/// write cost one round trip.
async fn put_process(conn: &mut PgConnection, p: &Process, rider: Option<&Rider>) -> StoreResult<()> {
    let ready = p.state == state::WAITING && !p.isassigned && !p.waitforparents;
    let deadline = match p.state {
        state::WAITING => p.waitdeadline.nanos(),
        state::RUNNING => p.execdeadline.nanos(),
        _ => None,
    };
    let sql = if rider.is_some() {
        concat!(
            "WITH w AS (",
            upsert_process!(),
            " RETURNING 1) SELECT pg_notify($15, $16) FROM w"
        )
    } else {
        upsert_process!()
    };
    let mut q = sqlx::query(sql)
        .bind(&p.processid)
        .bind(&p.spec.conditions.colonyname)
        .bind(p.state)
        .bind(&p.spec.conditions.executortype)
        .bind(ready)
        .bind(p.prioritytime)
        .bind(&p.processgraphid)
        .bind(&p.assignedexecutorid)
        .bind(&p.initiatorname)
        .bind(&p.spec.label)
        .bind(p.starttime.nanos())
        .bind(p.endtime.nanos())
        .bind(deadline)
        .bind(to_doc(p)?);
    if let Some(r) = rider {
        q = q.bind(&r.channel).bind(&r.payload);
    }
    q.execute(&mut *conn).await.map_err(|e| write_err(e, "process"))?;
    for a in &p.attributes {
        sqlx::query("INSERT INTO attributes (attributeid, processid) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&a.attributeid)
            .bind(&p.processid)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

async fn put_graph(conn: &mut PgConnection, g: &ProcessGraph) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO graphs (processgraphid, colonyname, state, submissiontime, doc) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (processgraphid) DO UPDATE SET state = $3, doc = $5",
    )
    .bind(&g.processgraphid)
    .bind(&g.colonyname)
    .bind(g.state)
    .bind(g.submissiontime.nanos())
    .bind(to_doc(g)?)
    .execute(conn)
    .await
    .map_err(|e| write_err(e, "process graph"))?;
    Ok(())
}

async fn graph_members(conn: &mut PgConnection, graph_id: &str) -> StoreResult<Vec<Process>> {
    let rows = sqlx::query("SELECT doc FROM processes WHERE processgraphid = $1 ORDER BY seq")
        .bind(graph_id)
        .fetch_all(conn)
        .await
        .map_err(db_err)?;
    parse_docs(rows)
}

/// Writes what `ws` changed and sends `notes`, the first one with the last
/// process write.
async fn save_workspace(conn: &mut PgConnection, ws: &Workspace, notes: Notes<'_>) -> StoreResult<()> {
    let channel = notes.channel.clone();
    let (mut rider, rest) = notes.rider();
    for payload in rest {
        notify(conn, &channel, &payload).await?;
    }
    let dirty: Vec<&Process> = ws.dirty.iter().filter_map(|id| ws.processes.get(id)).collect();
    for (i, p) in dirty.iter().enumerate() {
        let last = i + 1 == dirty.len();
        put_process(conn, p, if last { rider.take() } else { None }.as_ref()).await?;
    }
    if let Some(g) = &ws.graph {
        put_graph(conn, g).await?;
    }
    if let Some(r) = rider {
        notify(conn, &r.channel, &r.payload).await?;
    }
    Ok(())
}

async fn delete_processes(conn: &mut PgConnection, filter: &str, bind: &str, state: Option<i32>) -> StoreResult<u64> {
    let attr_sql =
        format!("DELETE FROM attributes WHERE processid IN (SELECT processid FROM processes WHERE {filter})");
    let proc_sql = format!("DELETE FROM processes WHERE {filter}");
    // The filters are constant fragments chosen by this crate; values are bound.
    let mut q = sqlx::query(AssertSqlSafe(attr_sql)).bind(bind);
    if let Some(s) = state {
        q = q.bind(s);
    }
    q.execute(&mut *conn).await.map_err(db_err)?;
    let mut q = sqlx::query(AssertSqlSafe(proc_sql)).bind(bind);
    if let Some(s) = state {
        q = q.bind(s);
    }
    Ok(q.execute(&mut *conn).await.map_err(db_err)?.rows_affected())
}

impl PgStore {
    async fn docs<T: DeserializeOwned>(&self, sql: &'static str, binds: &[&str]) -> StoreResult<Vec<T>> {
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(*b);
        }
        parse_docs(q.fetch_all(&self.pool).await.map_err(db_err)?)
    }

    async fn doc<T: DeserializeOwned>(&self, sql: &'static str, binds: &[&str]) -> StoreResult<Option<T>> {
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(*b);
        }
        parse_doc(q.fetch_optional(&self.pool).await.map_err(db_err)?)
    }

    async fn exec(&self, sql: &'static str, binds: &[&str]) -> StoreResult<u64> {
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(*b);
        }
        Ok(q.execute(&self.pool).await.map_err(db_err)?.rows_affected())
    }

    /// Tries to assign one of the locked candidates; `None` if none fits.
    async fn assign_from(
        &self,
        conn: &mut PgConnection,
        candidates: Vec<Process>,
        executor: &Executor,
        limits: Limits,
        now: Timestamp,
    ) -> StoreResult<Option<Workspace>> {
        for p in candidates {
            if !matches(&p, executor, limits) {
                continue;
            }
            let mut ws = if p.processgraphid.is_empty() {
                Workspace::new(p.processid.clone(), None, vec![p])
            } else {
                // Never wait for a graph while holding process locks: skip a busy graph.
                let graph: Option<ProcessGraph> = parse_doc(
                    sqlx::query("SELECT doc FROM graphs WHERE processgraphid = $1 FOR UPDATE SKIP LOCKED")
                        .bind(&p.processgraphid)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db_err)?,
                )?;
                let Some(graph) = graph else { continue };
                let members = graph_members(conn, &p.processgraphid).await?;
                let ws = Workspace::new(p.processid.clone(), Some(graph), members);
                if !matches(ws.process(), executor, limits) {
                    continue;
                }
                ws
            };
            ws.assign(executor, now);
            let mut notes = Notes::new(&self.replica, self.channel(CHANNEL));
            notes.workspace(&ws);
            save_workspace(conn, &ws, notes).await?;
            return Ok(Some(ws));
        }
        Ok(None)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn listen(&self) -> StoreResult<Option<mpsc::Receiver<ClusterEvent>>> {
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(db_err)?;
        listener.listen(&self.channel(CHANNEL)).await.map_err(db_err)?;
        let (tx, rx) = mpsc::channel(1024);
        let own = self.replica.clone();
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        for event in parse_notification(n.payload(), &own) {
                            if tx.send(event).await.is_err() {
                                return;
                            }
                        }
                    }
                    // The connection dropped and was re-established: notifications
                    // may have been missed, so tell listeners to re-check everything.
                    Ok(None) => {
                        if tx.send(ClusterEvent::Resync).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the PostgreSQL notification connection, retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Some(rx))
    }

    async fn lead(&self) -> StoreResult<bool> {
        let mut slot = self.leader.lock().await;
        if let Some(conn) = slot.as_mut() {
            if sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok() {
                return Ok(true);
            }
            // The session (and with it the lock) is gone; try to lead again below.
            *slot = None;
        }
        let mut conn = PgConnection::connect_with(&self.options).await.map_err(db_err)?;
        // Advisory locks are database-wide: mixing in the schema lets stores in
        // different schemas of one database (tests, separate deployments) each have a leader.
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1 # hashtext(current_schema())::BIGINT)")
            .bind(LEADER_LOCK)
            .fetch_one(&mut conn)
            .await
            .map_err(db_err)?;
        if got {
            tracing::info!(replica = %self.replica, "leading background duties");
            *slot = Some(conn);
        }
        Ok(got)
    }

    async fn add_colony(&self, colony: Colony) -> StoreResult<()> {
        sqlx::query("INSERT INTO colonies (name, colonyid, doc) VALUES ($1, $2, $3)")
            .bind(&colony.name)
            .bind(&colony.colonyid)
            .bind(to_doc(&colony)?)
            .execute(&self.pool)
            .await
            .map_err(|e| write_err(e, "colony"))?;
        Ok(())
    }

    async fn get_colony(&self, name: &str) -> StoreResult<Option<Colony>> {
        self.doc("SELECT doc FROM colonies WHERE name = $1", &[name]).await
    }

    async fn list_colonies(&self) -> StoreResult<Vec<Colony>> {
        self.docs("SELECT doc FROM colonies ORDER BY name", &[]).await
    }

    async fn remove_colony(&self, name: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let n = sqlx::query("DELETE FROM colonies WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        for table in ["executors", "users", "functions", "graphs", "logs"] {
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE colonyname = $1")))
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        delete_processes(&mut tx, "colonyname = $1", name, None).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(n > 0)
    }

    async fn add_executor(&self, executor: Executor) -> StoreResult<()> {
        sqlx::query("INSERT INTO executors (colonyname, executorname, executorid, doc) VALUES ($1, $2, $3, $4)")
            .bind(&executor.colonyname)
            .bind(&executor.executorname)
            .bind(&executor.executorid)
            .bind(to_doc(&executor)?)
            .execute(&self.pool)
            .await
            .map_err(|e| write_err(e, "executor"))?;
        Ok(())
    }

    async fn update_executor(&self, executor: Executor) -> StoreResult<()> {
        let doc = to_doc(&executor)?;
        let n = self
            .exec(
                "UPDATE executors SET executorid = $3, doc = $4 WHERE colonyname = $1 AND executorname = $2",
                &[&executor.colonyname, &executor.executorname, &executor.executorid, &doc],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "executor {} not found",
                executor.executorname
            )));
        }
        Ok(())
    }

    async fn get_executor(&self, colony: &str, name: &str) -> StoreResult<Option<Executor>> {
        self.doc(
            "SELECT doc FROM executors WHERE colonyname = $1 AND executorname = $2",
            &[colony, name],
        )
        .await
    }

    async fn executors_by_id(&self, id: &str) -> StoreResult<Vec<Executor>> {
        self.docs("SELECT doc FROM executors WHERE executorid = $1", &[id])
            .await
    }

    async fn membership(&self, colony: &str, id: &str) -> StoreResult<Membership> {
        // One round trip for both records: every signed request asks this.
        let rows = sqlx::query(
            "SELECT 'e', doc FROM executors WHERE executorid = $1 AND colonyname = $2
             UNION ALL SELECT 'u', doc FROM users WHERE colonyname = $2 AND userid = $1",
        )
        .bind(id)
        .bind(colony)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut found = Membership::default();
        for row in rows {
            let kind: String = row.try_get(0).map_err(db_err)?;
            let doc: String = row.try_get(1).map_err(db_err)?;
            if kind == "e" {
                found.executor.get_or_insert(from_doc(&doc)?);
            } else {
                found.user = Some(from_doc(&doc)?);
            }
        }
        Ok(found)
    }

    async fn list_executors(&self, colony: &str) -> StoreResult<Vec<Executor>> {
        self.docs(
            "SELECT doc FROM executors WHERE colonyname = $1 ORDER BY executorname",
            &[colony],
        )
        .await
    }

    async fn touch_executor(&self, colony: &str, name: &str, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let row = sqlx::query("SELECT doc FROM executors WHERE colonyname = $1 AND executorname = $2 FOR UPDATE")
            .bind(colony)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if let Some(mut e) = parse_doc::<Executor>(row)? {
            e.lastheardfromtime = now;
            sqlx::query("UPDATE executors SET doc = $3 WHERE colonyname = $1 AND executorname = $2")
                .bind(colony)
                .bind(name)
                .bind(to_doc(&e)?)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn add_user(&self, user: User) -> StoreResult<()> {
        sqlx::query("INSERT INTO users (colonyname, name, userid, doc) VALUES ($1, $2, $3, $4)")
            .bind(&user.colonyname)
            .bind(&user.name)
            .bind(&user.userid)
            .bind(to_doc(&user)?)
            .execute(&self.pool)
            .await
            .map_err(|e| write_err(e, "user"))?;
        Ok(())
    }

    async fn get_user(&self, colony: &str, userid: &str) -> StoreResult<Option<User>> {
        self.doc(
            "SELECT doc FROM users WHERE colonyname = $1 AND userid = $2",
            &[colony, userid],
        )
        .await
    }

    async fn list_users(&self, colony: &str) -> StoreResult<Vec<User>> {
        self.docs("SELECT doc FROM users WHERE colonyname = $1 ORDER BY name", &[colony])
            .await
    }

    async fn remove_user(&self, colony: &str, name: &str) -> StoreResult<bool> {
        Ok(self
            .exec("DELETE FROM users WHERE colonyname = $1 AND name = $2", &[colony, name])
            .await?
            > 0)
    }

    async fn add_function(&self, function: Function) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO functions (functionid, colonyname, executorname, funcname, doc) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&function.functionid)
        .bind(&function.colonyname)
        .bind(&function.executorname)
        .bind(&function.funcname)
        .bind(to_doc(&function)?)
        .execute(&self.pool)
        .await
        .map_err(|e| write_err(e, "function"))?;
        Ok(())
    }

    async fn list_functions(&self, colony: &str, executorname: Option<&str>) -> StoreResult<Vec<Function>> {
        match executorname {
            Some(name) => {
                self.docs(
                    "SELECT doc FROM functions WHERE colonyname = $1 AND executorname = $2 ORDER BY funcname",
                    &[colony, name],
                )
                .await
            }
            None => {
                self.docs(
                    "SELECT doc FROM functions WHERE colonyname = $1 ORDER BY funcname, executorname",
                    &[colony],
                )
                .await
            }
        }
    }

    async fn get_function(&self, functionid: &str) -> StoreResult<Option<Function>> {
        self.doc("SELECT doc FROM functions WHERE functionid = $1", &[functionid])
            .await
    }

    async fn remove_function(&self, functionid: &str) -> StoreResult<bool> {
        Ok(self
            .exec("DELETE FROM functions WHERE functionid = $1", &[functionid])
            .await?
            > 0)
    }

    async fn remove_functions_of(&self, colony: &str, executorname: &str) -> StoreResult<()> {
        self.exec(
            "DELETE FROM functions WHERE colonyname = $1 AND executorname = $2",
            &[colony, executorname],
        )
        .await?;
        Ok(())
    }

    async fn record_call(
        &self,
        colony: &str,
        executorname: &str,
        funcname: &str,
        wait: f64,
        exec: f64,
    ) -> StoreResult<()> {
        // Most executors register no functions: look before opening a transaction.
        let any: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM functions WHERE colonyname = $1 AND executorname = $2 AND funcname = $3 LIMIT 1",
        )
        .bind(colony)
        .bind(executorname)
        .bind(funcname)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        if any.is_none() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let rows = sqlx::query(
            "SELECT doc FROM functions WHERE colonyname = $1 AND executorname = $2 AND funcname = $3 FOR UPDATE",
        )
        .bind(colony)
        .bind(executorname)
        .bind(funcname)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for mut f in parse_docs::<Function>(rows)? {
            record_call(&mut f, wait, exec);
            sqlx::query("UPDATE functions SET doc = $2 WHERE functionid = $1")
                .bind(&f.functionid)
                .bind(to_doc(&f)?)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn add_process(&self, process: Process) -> StoreResult<()> {
        let mut notes = Notes::new(&self.replica, self.channel(CHANNEL));
        notes.ready(&process);
        let (rider, rest) = notes.rider();
        if process.attributes.is_empty() && rest.is_empty() {
            // One statement, committed on its own: the row and its notification
            // in one round trip.
            let mut conn = self.pool.acquire().await.map_err(db_err)?;
            return put_process(&mut conn, &process, rider.as_ref()).await;
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        put_process(&mut tx, &process, rider.as_ref()).await?;
        for payload in rest {
            notify(&mut tx, &self.channel(CHANNEL), &payload).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn add_graph(&self, graph: ProcessGraph, processes: Vec<Process>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        put_graph(&mut tx, &graph).await?;
        let mut notes = Notes::new(&self.replica, self.channel(CHANNEL));
        for p in &processes {
            put_process(&mut tx, p, None).await?;
            if !p.waitforparents {
                notes.ready(p);
            }
        }
        notes.send(&mut tx).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn get_process(&self, id: &str) -> StoreResult<Option<Process>> {
        self.doc("SELECT doc FROM processes WHERE processid = $1", &[id]).await
    }

    async fn list_processes(&self, query: &ProcessQuery) -> StoreResult<Vec<Process>> {
        let order = match query.state {
            state::WAITING => "prioritytime ASC, seq ASC",
            state::RUNNING => "starttime ASC, seq ASC",
            _ => "endtime DESC, seq DESC",
        };
        let (filter, value) = if let Some(t) = &query.executortype {
            ("AND executortype = $3", t.clone())
        } else if let Some(i) = &query.initiator {
            ("AND initiatorname = $3", i.clone())
        } else if let Some(l) = &query.label {
            ("AND label = $3", l.clone())
        } else {
            ("AND $3 = ''", String::new())
        };
        let sql = format!(
            "SELECT doc FROM processes WHERE colonyname = $1 AND state = $2 {filter} ORDER BY {order} LIMIT $4"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&query.colony)
            .bind(query.state)
            .bind(value)
            .bind(query.count as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        parse_docs(rows)
    }

    async fn running_on(&self, executorid: &str) -> StoreResult<Vec<String>> {
        sqlx::query_scalar("SELECT processid FROM processes WHERE assignedexecutorid = $1 AND state = $2")
            .bind(executorid)
            .bind(state::RUNNING)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn remove_process(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let n = delete_processes(&mut tx, "processid = $1 AND processgraphid = ''", id, None).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(n > 0)
    }

    async fn remove_processes(&self, colony: &str, state: Option<i32>) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let filter = match state {
            Some(_) => "colonyname = $1 AND processgraphid = '' AND state = $2",
            None => "colonyname = $1 AND processgraphid = ''",
        };
        let n = delete_processes(&mut tx, filter, colony, state).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(n)
    }

    async fn assign(&self, executor: &Executor, limits: Limits, now: Timestamp) -> StoreResult<Option<Workspace>> {
        const BATCH: i64 = 8;
        let mut offset = 0;
        loop {
            let mut tx = self.pool.begin().await.map_err(db_err)?;
            // Lock the head of this executor's queue; rows other assigners hold are skipped.
            let rows = sqlx::query(
                "SELECT doc FROM processes WHERE colonyname = $1 AND executortype = $2 AND ready
                 ORDER BY prioritytime, seq LIMIT $3 OFFSET $4 FOR UPDATE SKIP LOCKED",
            )
            .bind(&executor.colonyname)
            .bind(&executor.executortype)
            .bind(BATCH)
            .bind(offset)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
            let n = rows.len() as i64;
            let candidates: Vec<Process> = parse_docs(rows)?;
            if let Some(ws) = self.assign_from(&mut tx, candidates, executor, limits, now).await? {
                tx.commit().await.map_err(db_err)?;
                return Ok(Some(ws));
            }
            tx.rollback().await.map_err(db_err)?;
            if n < BATCH {
                return Ok(None);
            }
            offset += BATCH;
        }
    }

    async fn edit(&self, id: &str, edit: Edit) -> StoreResult<Workspace> {
        let not_found = || StoreError::NotFound(format!("process {id} not found"));
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Most processes stand alone: lock one directly. A workflow process is
        // not matched here and is locked below, after its graph.
        let standalone: Option<Process> = parse_doc(
            sqlx::query("SELECT doc FROM processes WHERE processid = $1 AND processgraphid = '' FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?,
        )?;
        let graph_id = match &standalone {
            Some(_) => String::new(),
            None => sqlx::query_scalar("SELECT processgraphid FROM processes WHERE processid = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or_else(not_found)?,
        };
        let mut ws = if let Some(p) = standalone {
            Workspace::new(id.to_owned(), None, vec![p])
        } else {
            // Graph first, then its processes: the lock order every graph change follows.
            let graph: ProcessGraph = parse_doc(
                sqlx::query("SELECT doc FROM graphs WHERE processgraphid = $1 FOR UPDATE")
                    .bind(&graph_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?,
            )?
            .ok_or_else(not_found)?;
            let members = graph_members(&mut tx, &graph_id).await?;
            if !members.iter().any(|p| p.processid == id) {
                return Err(not_found());
            }
            Workspace::new(id.to_owned(), Some(graph), members)
        };
        edit(&mut ws)?;
        let mut notes = Notes::new(&self.replica, self.channel(CHANNEL));
        notes.workspace(&ws);
        save_workspace(&mut tx, &ws, notes).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(ws)
    }

    async fn expired(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<String>> {
        sqlx::query_scalar("SELECT processid FROM processes WHERE deadline < $1 ORDER BY deadline LIMIT $2")
            .bind(now.nanos().unwrap_or(0))
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn stats(&self, colony: &str) -> StoreResult<Statistics> {
        let count = |sql: &'static str| async move {
            let rows = sqlx::query(sql)
                .bind(colony)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
            let mut out = [0i64; 4];
            for r in rows {
                let s: i32 = r.try_get(0).map_err(db_err)?;
                let n: i64 = r.try_get(1).map_err(db_err)?;
                if let Some(slot) = out.get_mut(s as usize) {
                    *slot = n;
                }
            }
            Ok::<_, StoreError>(out)
        };
        let p = count("SELECT state, COUNT(*) FROM processes WHERE colonyname = $1 GROUP BY state").await?;
        let g = count("SELECT state, COUNT(*) FROM graphs WHERE colonyname = $1 GROUP BY state").await?;
        let executors: Vec<Executor> = self
            .docs("SELECT doc FROM executors WHERE colonyname = $1", &[colony])
            .await?;
        let with_state = |s: i32| executors.iter().filter(|e| e.state == s).count() as i64;
        Ok(Statistics {
            colonies: 1,
            executors: executors.len() as i64,
            activeexecutors: with_state(executor_state::APPROVED),
            unregisteredexecutors: with_state(executor_state::UNREGISTERED),
            waitingprocesses: p[0],
            runningprocesses: p[1],
            successfulprocesses: p[2],
            failedprocesses: p[3],
            waitingworkflows: g[0],
            runningworkflows: g[1],
            successfulworkflows: g[2],
            failedworkflows: g[3],
        })
    }

    async fn get_graph(&self, id: &str) -> StoreResult<Option<(ProcessGraph, Vec<Process>)>> {
        let Some(g) = self
            .doc::<ProcessGraph>("SELECT doc FROM graphs WHERE processgraphid = $1", &[id])
            .await?
        else {
            return Ok(None);
        };
        let ps = self
            .docs(
                "SELECT doc FROM processes WHERE processgraphid = $1 ORDER BY seq",
                &[id],
            )
            .await?;
        Ok(Some((g, ps)))
    }

    async fn list_graphs(&self, colony: &str, state: i32, count: usize) -> StoreResult<Vec<ProcessGraph>> {
        let rows = sqlx::query(
            "SELECT doc FROM graphs WHERE colonyname = $1 AND state = $2 ORDER BY submissiontime DESC LIMIT $3",
        )
        .bind(colony)
        .bind(state)
        .bind(count as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        parse_docs(rows)
    }

    async fn remove_graph(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let n = sqlx::query("DELETE FROM graphs WHERE processgraphid = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        delete_processes(&mut tx, "processgraphid = $1", id, None).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(n > 0)
    }

    async fn remove_graphs(&self, colony: &str, state: Option<i32>) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let ids: Vec<String> = match state {
            Some(s) => sqlx::query_scalar("SELECT processgraphid FROM graphs WHERE colonyname = $1 AND state = $2")
                .bind(colony)
                .bind(s)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?,
            None => sqlx::query_scalar("SELECT processgraphid FROM graphs WHERE colonyname = $1")
                .bind(colony)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?,
        };
        for id in &ids {
            sqlx::query("DELETE FROM graphs WHERE processgraphid = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            delete_processes(&mut tx, "processgraphid = $1", id, None).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(ids.len() as u64)
    }

    async fn get_attribute(&self, id: &str) -> StoreResult<Option<Attribute>> {
        let p: Option<Process> = self
            .doc(
                "SELECT p.doc FROM attributes a JOIN processes p ON p.processid = a.processid WHERE a.attributeid = $1",
                &[id],
            )
            .await?;
        Ok(p.and_then(|p| p.attributes.into_iter().find(|a| a.attributeid == id)))
    }

    async fn add_log(&self, log: Log) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO logs (processid, colonyname, executorname, timestamp, message) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&log.processid)
        .bind(&log.colonyname)
        .bind(&log.executorname)
        .bind(log.timestamp)
        .bind(&log.message)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn get_logs(&self, query: &LogQuery) -> StoreResult<Vec<Log>> {
        let (filter, key) = match (&query.executorname, &query.processid) {
            (Some(e), _) => ("executorname = $1", e.clone()),
            (None, Some(p)) => ("processid = $1", p.clone()),
            (None, None) => ("colonyname = $1", query.colony.clone()),
        };
        let order = if query.latest { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT processid, colonyname, executorname, message, timestamp FROM logs
             WHERE {filter} AND timestamp > $2 ORDER BY timestamp {order}, id {order} LIMIT $3"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(key)
            .bind(query.since.max(0))
            .bind(query.count as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(Log {
                    processid: r.try_get(0).map_err(db_err)?,
                    colonyname: r.try_get(1).map_err(db_err)?,
                    executorname: r.try_get(2).map_err(db_err)?,
                    message: r.try_get(3).map_err(db_err)?,
                    timestamp: r.try_get(4).map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn use_nonce(&self, nonce: &str, expires: Timestamp) -> StoreResult<bool> {
        let added = sqlx::query("INSERT INTO nonces (nonce, expires) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING")
            .bind(nonce)
            .bind(expires.nanos().unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(added.rows_affected() == 1)
    }

    async fn purge_nonces(&self, now: Timestamp) -> StoreResult<u64> {
        let purged = sqlx::query("DELETE FROM nonces WHERE expires < $1")
            .bind(now.nanos().unwrap_or(0))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(purged.rows_affected())
    }
}

#[cfg(test)]
mod tests;
