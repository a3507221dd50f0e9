//! The `sql` job: a query between sites run as a petri workflow of six processes, each taken by
//! the executor of one party (two owners, three compute nodes, the analyst). Their `kwargs`
//! carry parameters only:
//!
//! | key | meaning |
//! |---|---|
//! | `job` | the [`Job`] (session, query, schemas, owners, nodes, analyst, timeout), the same in all six |
//! | `role` | `owner`, `node` or `analyst` |
//! | `party` | for `owner`, the table's position in the job; for `node`, the party id |
//!
//! What each executor does and where it listens is its own configuration ([`SqlParty`]), never
//! the request's: an owner serves one table under its policy (the initiator, the PSI peer, the
//! query's hash, the analyst and the rows are decided and audited before anything leaves); a
//! compute node takes jobs only from its configured initiators and only as its configured party;
//! the analyst writes the result to its own folder. Process outputs carry sizes and timings; no
//! value, key or share passes through the broker.

use std::path::PathBuf;
use std::sync::Arc;

use petri_executor::{Job as ExecJob, Runtime};
use petri_pki::tls::TlsMaterial;
use petri_policy::Policy;
use petri_sdk::model::Process;
use petri_sdk::{Env, PrivateKey};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::SqlError;
use crate::net::{self, GateAsk, Job};
use crate::table::Table;

/// The function name `sql` processes ask for.
pub const FUNCTION: &str = "sql";

/// What one executor is.
pub enum Role {
    /// The owner of one table.
    Owner {
        /// The table (its name is the dataset in the policy).
        table: Table,
        /// The owner's policy and audit log.
        policy: Arc<Policy>,
    },
    /// Compute node `party`, obeying these initiators (key ids).
    Node {
        /// 0, 1 or 2.
        party: usize,
        /// Who may start a query on this node.
        initiators: Vec<String>,
    },
    /// The analyst, writing results to a folder.
    Analyst {
        /// Where `<session>.csv` is written.
        output_dir: PathBuf,
    },
}

/// One party's executor configuration.
pub struct SqlParty {
    /// What it is.
    pub role: Role,
    /// Its certificate name (must be the job's name for its role).
    pub name: String,
    /// Its mutual-TLS material.
    pub tls: TlsMaterial,
    /// Where it listens (owner of the first table, compute nodes, the analyst).
    pub listen: String,
}

fn refuse(why: impl std::fmt::Display) -> SqlError {
    SqlError::Query(why.to_string())
}

/// The job and the party index a process asks for.
fn request(process: &Process) -> Result<(Job, String, Option<usize>), SqlError> {
    let kw = &process.spec.kwargs;
    let job: Job = serde_json::from_value(kw.get("job").cloned().unwrap_or(Value::Null))
        .map_err(|e| refuse(format!("kwargs job: {e}")))?;
    let role = kw
        .get("role")
        .and_then(Value::as_str)
        .ok_or_else(|| refuse("a sql process needs kwargs role (owner, node or analyst)"))?
        .to_string();
    let party = match kw.get("party") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|p| usize::try_from(p).ok())
                .ok_or_else(|| refuse("kwargs party must be a small non-negative integer"))?,
        ),
    };
    Ok((job, role, party))
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl SqlParty {
    /// Runs this party's side of the process's job; returns the process output.
    pub async fn answer(&self, process: &Process) -> Result<Vec<Value>, SqlError> {
        let (mut job, role, party) = request(process)?;
        job.plan()?;
        let out = match (&self.role, role.as_str()) {
            (Role::Owner { table, policy }, "owner") => {
                let t = party.ok_or_else(|| refuse("an owner process needs kwargs party (the table's position)"))?;
                let schema = job
                    .schemas
                    .get(t)
                    .ok_or_else(|| refuse(format!("the job has no table {t}")))?;
                if !same(&job.owners[t].name, &self.name) || schema != &table.schema {
                    return Err(refuse(format!(
                        "this executor is {} and owns table {}: it is not owner {t} of this job",
                        self.name, table.schema.name
                    )));
                }
                // Listen on our own address, whatever the job says.
                job.owners[t].addr = self.listen.clone();
                let initiators = [process.initiatorid.clone()];
                let dataset = table.schema.name.clone();
                let gate =
                    |ask: GateAsk<'_>| crate::policy_decide(policy, &dataset, &initiators, &process.processid, ask);
                let r = net::run_owner(&job, t, table, &self.tls, &gate).await?;
                json!({"role": "owner", "table": dataset, "rows": r.rows, "intersection": r.intersection,
                       "bytes_sent": r.bytes_sent})
            }
            (Role::Node { party: me, initiators }, "node") => {
                if !initiators.iter().any(|i| same(i, &process.initiatorid)) {
                    return Err(refuse(format!(
                        "{} does not take queries from {}",
                        self.name, process.initiatorid
                    )));
                }
                if party != Some(*me) || !same(&job.nodes[*me].name, &self.name) {
                    return Err(refuse(format!(
                        "this executor is compute node {me} ({}); the process asks for another",
                        self.name
                    )));
                }
                let listener = bind(&self.listen).await?;
                let r = net::run_node(&job, *me, listener, &self.tls).await?;
                json!({"role": "node", "party": me, "rows": r.rows, "groups": r.groups, "rounds": r.rounds,
                       "bytes_sent": r.bytes_sent})
            }
            (Role::Analyst { output_dir }, "analyst") => {
                if !same(&job.analyst.name, &self.name) {
                    return Err(refuse(format!("this executor is {}, not the job's analyst", self.name)));
                }
                let listener = bind(&self.listen).await?;
                let result = net::run_analyst(&job, listener, &self.tls).await?;
                let path = output_dir.join(format!("{}.csv", safe(&job.session)));
                write_csv(&path, &result)?;
                json!({"role": "analyst", "columns": result.columns, "rows": result.rows.len(),
                       "written_locally": true})
            }
            (_, other) => {
                return Err(refuse(format!("this executor does not play role {other:?}")));
            }
        };
        // pycolonies reads outputs as lists of strings and numbers: one JSON string.
        Ok(vec![Value::String(out.to_string())])
    }
}

async fn bind(addr: &str) -> Result<TcpListener, SqlError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| SqlError::Input(format!("cannot listen on {addr}: {e}")))
}

fn safe(session: &str) -> String {
    session
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_csv(path: &std::path::Path, result: &crate::ResultSet) -> Result<(), SqlError> {
    let err = |e: String| SqlError::Input(format!("{}: {e}", path.display()));
    let mut w = csv::Writer::from_path(path).map_err(|e| err(e.to_string()))?;
    w.write_record(&result.columns).map_err(|e| err(e.to_string()))?;
    for row in &result.rows {
        w.write_record(row.iter().map(ToString::to_string))
            .map_err(|e| err(e.to_string()))?;
    }
    w.flush().map_err(|e| err(e.to_string()))
}

/// A `sql` executor named `name` of type `kind` for `party`.
pub fn sql_executor(env: &Env, name: &str, kind: &str, key: PrivateKey, party: SqlParty) -> Runtime {
    let party = Arc::new(party);
    Runtime::new(env, name, kind, key).function(FUNCTION, move |job: ExecJob| {
        let party = party.clone();
        async move {
            match party.answer(&job.process).await {
                Ok(out) => Ok(out),
                Err(e) => {
                    tracing::warn!(process = %job.process.processid, error = %e, "sql process failed");
                    Err(e.to_string())
                }
            }
        }
    })
}
