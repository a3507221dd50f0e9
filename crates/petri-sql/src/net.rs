//! A query between sites: every party a process of its own, every link mutual TLS from
//! `petri pki` with the peer's certificate name checked (the framed channel of `petri-psi`).
//!
//! - Owner of table t ([`run_owner`]): PSI with the other owner (owner 0 listens at its address,
//!   owner 1 dials it), then its shares to each compute node (dialling them).
//! - Compute node i ([`run_node`]): listens at its address for the owners' shares and for the
//!   compute nodes after it; dials the compute nodes before it; runs the engine over those links;
//!   dials the analyst with its output shares.
//! - The analyst ([`run_analyst`]): listens for the three compute nodes' output shares and
//!   reconstructs the result.
//!
//! Every party gets the same [`Job`] (from the `sql` processes' kwargs or the command line) and
//! checks what arrives against it: the session id, who is connecting (by certificate name), and
//! the sizes. A party waits at most the job's timeout for anyone.

use std::collections::HashSet;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use petri_mpc::{AShare, MpcError, Party, Transport};
use petri_pki::tls::TlsMaterial;
use petri_psi::transport::{self as wire, FrameSender};
use petri_psi::{Channel, Link, Mode, Params, Reveal, Role};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::compute::{self, OutputShares};
use crate::owner::{self, Alignment, SharedContribution};
use crate::result::{self, ResultSet};
use crate::table::{Schema, Table};
use crate::{Plan, SqlError};

/// A party's certificate name and address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// The name its certificate carries.
    pub name: String,
    /// `host:port` it listens on.
    pub addr: String,
}

/// What every party of a query agrees on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Session id (the PSI hashes depend on it).
    pub session: String,
    /// The SQL text.
    pub query: String,
    /// The tables' public schemas (names, column names and types).
    pub schemas: Vec<Schema>,
    /// The owners, in the order of `schemas` (owner 0 listens for the PSI).
    pub owners: Vec<Endpoint>,
    /// The three compute nodes, in party order.
    pub nodes: Vec<Endpoint>,
    /// The analyst (reveal_to).
    pub analyst: Endpoint,
    /// Seconds any party waits for another (default 600).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// The join's PSI protocol: `ecdh` (default), `kkrt` or `rr22` (less CPU for large
    /// tables; rr22 also far fewer bytes).
    #[serde(default)]
    pub psi_protocol: Option<String>,
}

impl Job {
    /// Checks the job's shape and plans its query.
    pub fn plan(&self) -> Result<Plan, SqlError> {
        if self.nodes.len() != 3 {
            return Err(SqlError::Query(format!(
                "a query needs 3 compute nodes, not {}",
                self.nodes.len()
            )));
        }
        if self.owners.len() != self.schemas.len() || !(1..=2).contains(&self.owners.len()) {
            return Err(SqlError::Query("one owner per table, one or two tables".into()));
        }
        if self.session.is_empty() || self.session.len() > 128 {
            return Err(SqlError::Query("the session id must have 1 to 128 characters".into()));
        }
        let mut names = HashSet::new();
        for e in self.owners.iter().chain(&self.nodes).chain([&self.analyst]) {
            if e.name.is_empty() || e.addr.is_empty() {
                return Err(SqlError::Query("every party needs a name and an address".into()));
            }
            if !names.insert(e.name.to_ascii_lowercase()) {
                return Err(SqlError::Query(format!(
                    "{} plays two roles: owners, compute nodes and the analyst must be different parties",
                    e.name
                )));
            }
        }
        let plan = crate::plan(&self.query, &self.schemas)?;
        if plan
            .tables
            .iter()
            .map(|t| &t.name)
            .ne(self.schemas.iter().map(|s| &s.name))
        {
            return Err(SqlError::Query(
                "list the schemas (and owners) in the order the query's FROM names the tables".into(),
            ));
        }
        Ok(plan)
    }

    /// How long any party waits.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.unwrap_or(600).clamp(1, 86_400))
    }

    /// The query's hash as owners pin it in their policies (`petri sql hash`): SHA3-256 of the
    /// query as parsed and printed back, the schemas and the analyst's name.
    pub fn query_hash(&self) -> Result<String, SqlError> {
        query_hash(&self.query, &self.schemas, &self.analyst.name)
    }
}

/// See [`Job::query_hash`].
pub fn query_hash(query: &str, schemas: &[Schema], analyst: &str) -> Result<String, SqlError> {
    use sha3::Digest;
    let parsed = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::GenericDialect {}, query)
        .map_err(|e| SqlError::Query(format!("cannot parse: {e}")))?;
    let canonical = serde_json::json!({
        "format": "petri-sql/1",
        "query": parsed.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "schemas": schemas,
        "reveal_to": analyst,
    });
    let digest = sha3::Sha3_256::digest(canonical.to_string().as_bytes());
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

// Frame tags.
const HELLO: u8 = 1;
const WORDS: u8 = 2;
const MPC: u8 = 3;
const DONE: u8 = 4;

/// Words per frame (8 MiB).
const CHUNK_WORDS: usize = 1 << 20;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hello {
    session: String,
    role: String,
    /// Lengths of the word vectors that follow, and what they carry.
    header: serde_json::Value,
    lengths: Vec<usize>,
}

fn psi(e: petri_psi::PsiError) -> SqlError {
    SqlError::Psi(e)
}

fn send_words(channel: &Channel, vectors: &[&[u64]]) -> Result<(), SqlError> {
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_WORDS * 8);
    for v in vectors {
        for w in *v {
            buf.extend_from_slice(&w.to_le_bytes());
            if buf.len() == CHUNK_WORDS * 8 {
                channel.send(WORDS, &buf).map_err(psi)?;
                buf.clear();
            }
        }
    }
    if !buf.is_empty() {
        channel.send(WORDS, &buf).map_err(psi)?;
    }
    Ok(())
}

async fn recv_words(channel: &mut Channel, lengths: &[usize]) -> Result<Vec<Vec<u64>>, SqlError> {
    let total: usize = lengths.iter().sum();
    let mut all: Vec<u64> = Vec::with_capacity(total);
    while all.len() < total {
        let (tag, payload) = channel.recv().await.map_err(psi)?;
        if tag != WORDS || !payload.len().is_multiple_of(8) || all.len() + payload.len() / 8 > total {
            return Err(SqlError::Protocol(
                "a share frame does not fit what was announced".into(),
            ));
        }
        all.extend(payload.chunks_exact(8).map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            u64::from_le_bytes(w)
        }));
    }
    let mut out = Vec::with_capacity(lengths.len());
    let mut rest = all.as_slice();
    for &l in lengths {
        let (head, tail) = rest.split_at(l);
        out.push(head.to_vec());
        rest = tail;
    }
    Ok(out)
}

async fn recv_hello(channel: &mut Channel, session: &str) -> Result<Hello, SqlError> {
    let (tag, payload) = channel.recv().await.map_err(psi)?;
    if tag != HELLO {
        return Err(SqlError::Protocol(format!(
            "expected a hello, got a frame tagged {tag}"
        )));
    }
    let hello: Hello =
        serde_json::from_slice(&payload).map_err(|e| SqlError::Protocol(format!("a hello does not parse: {e}")))?;
    if hello.session != session {
        return Err(SqlError::Protocol(format!(
            "a peer came for session {:?}, not {session:?}",
            hello.session
        )));
    }
    if hello.lengths.iter().sum::<usize>() > 1 << 31 {
        return Err(SqlError::Protocol("a peer announced more than 2^31 words".into()));
    }
    Ok(hello)
}

fn send_hello(channel: &Channel, hello: &Hello) -> Result<(), SqlError> {
    let bytes = serde_json::to_vec(hello).map_err(|e| SqlError::Protocol(e.to_string()))?;
    channel.send(HELLO, &bytes).map_err(psi)
}

/// What an owner did.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerReport {
    /// Distinct join keys of each table, and the intersection's size (joins only).
    pub keys: Option<[usize; 2]>,
    /// Keys in both tables.
    pub intersection: Option<usize>,
    /// This owner's rows that took part.
    pub rows: usize,
    /// Bytes sent to the other owner (PSI) and to the compute nodes.
    pub bytes_sent: u64,
}

/// Decides whether the owner's policy lets this job read `table` (called by [`run_owner`]
/// before anything leaves the site): the join with the peer owner, the query's hash, the analyst
/// and the number of rows.
pub type Gate<'a> = &'a (dyn Fn(GateAsk<'_>) -> Result<(), SqlError> + Sync);

/// What an owner's gate is asked.
#[derive(Debug, Clone, Copy)]
pub enum GateAsk<'a> {
    /// PSI of the join keys with the other owner.
    Join {
        /// The other owner's name.
        peer: &'a str,
        /// Distinct join keys of this table.
        keys: usize,
    },
    /// Shares of the joined rows for the query.
    Shares {
        /// [`Job::query_hash`].
        hash: &'a str,
        /// The analyst.
        analyst: &'a str,
        /// Rows that take part.
        rows: usize,
    },
}

/// Owner of table `t`: PSI with the other owner (if the query joins), then shares to each
/// compute node.
pub async fn run_owner(
    job: &Job,
    t: usize,
    table: &Table,
    tls: &TlsMaterial,
    gate: Gate<'_>,
) -> Result<OwnerReport, SqlError> {
    let plan = job.plan()?;
    if table.schema != job.schemas[t] {
        return Err(SqlError::Input(format!(
            "table {} does not match the schema the job gives for it",
            table.schema.name
        )));
    }
    let timeout = job.timeout();
    let mut bytes_sent = 0;
    let (alignment, keys, intersection) = match plan.join {
        None => (Alignment::all(table), None, None),
        Some((a, b)) => {
            let col = if t == 0 { a.column } else { b.column };
            let mine = owner::distinct_keys(table, col);
            let peer = &job.owners[1 - t];
            gate(GateAsk::Join {
                peer: &peer.name,
                keys: mine.len(),
            })?;
            let (role, link) = if t == 0 {
                (Role::Receiver, Link::Listen(job.owners[0].addr.clone()))
            } else {
                (Role::Sender, Link::Dial(peer.addr.clone()))
            };
            let input = crate::local::psi_input(&mine).await?;
            let mut params = Params::new(&job.session, Mode::Intersection, role, Reveal::Both);
            params.protocol = job.psi_protocol.as_deref().unwrap_or("ecdh").parse()?;
            let outcome = petri_psi::run_tls(&params, &input, &link, &peer.name, tls, timeout).await?;
            bytes_sent += outcome.bytes_sent;
            let matched = crate::local::matched_keys(&input, outcome.matched)?;
            let counts = if t == 0 {
                [outcome.own.saturating_sub(1), outcome.peer.saturating_sub(1)]
            } else {
                [outcome.peer.saturating_sub(1), outcome.own.saturating_sub(1)]
            };
            let n = matched.len();
            (Alignment::joined(table, col, &matched), Some(counts), Some(n))
        }
    };
    let hash = job.query_hash()?;
    gate(GateAsk::Shares {
        hash: &hash,
        analyst: &job.analyst.name,
        rows: alignment.rows.len(),
    })?;
    let rows = alignment.rows.len();
    let shares =
        tokio::task::block_in_place(|| owner::contribute(&plan, t, table, &alignment).map(|c| owner::share(&c)))?;
    let mut sends = Vec::new();
    for (i, share) in shares.into_iter().enumerate() {
        let node = job.nodes[i].clone();
        let session = job.session.clone();
        let tls = tls.clone();
        sends.push(tokio::spawn(async move {
            let stream = wire::connect(&node.addr, &node.name, &tls, timeout)
                .await
                .map_err(psi)?;
            let mut channel = Channel::new(stream, timeout);
            let mut vectors: Vec<&[u64]> = Vec::new();
            let mut cols = Vec::new();
            for (c, v, ok) in &share.columns {
                cols.push(*c);
                vectors.extend([v.parts().0, v.parts().1, ok.parts().0, ok.parts().1]);
            }
            if let Some((_, _, m, l)) = &share.groups {
                vectors.extend([m.parts().0, m.parts().1, l.parts().0, l.parts().1]);
            }
            let hello = Hello {
                session,
                role: format!("owner{t}"),
                header: serde_json::json!({
                    "rows": share.rows,
                    "multiplicity": share.multiplicity,
                    "columns": cols,
                    "groups": share.groups.as_ref().map(|g| (g.0, g.1)),
                }),
                lengths: vectors.iter().map(|v| v.len()).collect(),
            };
            tracing::debug!(owner = t, node = i, "sending shares");
            send_hello(&channel, &hello)?;
            send_words(&channel, &vectors)?;
            channel.send(DONE, &[]).map_err(psi)?;
            // Wait for the node's acknowledgement, so a refusal reaches this owner.
            match channel.recv().await.map_err(psi)? {
                (DONE, _) => {}
                (_, why) => {
                    return Err(SqlError::Protocol(format!(
                        "compute node {} refused the shares: {}",
                        node.name,
                        String::from_utf8_lossy(&why)
                    )));
                }
            }
            tracing::debug!(owner = t, node = i, "node acknowledged the shares");
            channel.finish().await.map_err(psi)
        }));
    }
    // Wait for all three, stopping at the first failure (a later node's error must not wait
    // behind an earlier node that is itself waiting for something that failed).
    for sent in futures_util::future::try_join_all(
        sends
            .into_iter()
            .map(|s| async move { s.await.map_err(|e| SqlError::Protocol(e.to_string()))? }),
    )
    .await?
    {
        bytes_sent += sent;
    }
    Ok(OwnerReport {
        keys,
        intersection,
        rows,
        bytes_sent,
    })
}

fn parse_contribution(hello: &Hello, vectors: Vec<Vec<u64>>) -> Result<SharedContribution, SqlError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Header {
        rows: usize,
        multiplicity: Option<Vec<u32>>,
        columns: Vec<usize>,
        groups: Option<(usize, usize)>,
    }
    let h: Header = serde_json::from_value(hello.header.clone())
        .map_err(|e| SqlError::Protocol(format!("an owner's header does not parse: {e}")))?;
    let want = h.columns.len() * 4 + if h.groups.is_some() { 4 } else { 0 };
    if vectors.len() != want {
        return Err(SqlError::Protocol(format!(
            "{} vectors where {want} were announced",
            vectors.len()
        )));
    }
    let mut it = vectors.into_iter();
    let mut take = || -> Result<AShare, SqlError> {
        let (a, b) = (it.next(), it.next());
        let (Some(a), Some(b)) = (a, b) else {
            return Err(SqlError::Protocol("a share is missing".into()));
        };
        AShare::from_parts(a, b).map_err(SqlError::Mpc)
    };
    let mut columns = Vec::new();
    for c in &h.columns {
        let v = take()?;
        let ok = take()?;
        if v.len() != h.rows || ok.len() != h.rows {
            return Err(SqlError::Protocol("a column's length is not the rows announced".into()));
        }
        columns.push((*c, v, ok));
    }
    let groups = match h.groups {
        Some((count, width)) => Some((count, width, take()?, take()?)),
        None => None,
    };
    Ok(SharedContribution {
        rows: h.rows,
        multiplicity: h.multiplicity,
        columns,
        groups,
    })
}

/// The engine's transport over TLS channels to the two other compute nodes. A task per peer
/// moves frames into a bounded queue (at most 256 messages of 256 KiB waiting), so a peer that
/// runs ahead is held back by TCP flow control.
/// Messages from one peer, or why its link failed.
type Inbox = std_mpsc::Receiver<Result<Vec<u8>, String>>;

struct NetTransport {
    out: Vec<Option<FrameSender>>,
    inbox: Vec<Option<Inbox>>,
    timeout: Duration,
}

impl Transport for NetTransport {
    fn send(&mut self, to: usize, msg: Vec<u8>) -> petri_mpc::Result<()> {
        let tx = self
            .out
            .get(to)
            .and_then(Option::as_ref)
            .ok_or_else(|| MpcError::Invalid(format!("no link to compute node {to}")))?;
        tx.send(MPC, &msg).map_err(|e| MpcError::Transport {
            peer: to,
            reason: e.to_string(),
        })
    }

    fn recv(&mut self, from: usize) -> petri_mpc::Result<Vec<u8>> {
        let rx = self
            .inbox
            .get(from)
            .and_then(Option::as_ref)
            .ok_or_else(|| MpcError::Invalid(format!("no link from compute node {from}")))?;
        match rx.recv_timeout(self.timeout) {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(reason)) => Err(MpcError::Transport { peer: from, reason }),
            Err(std_mpsc::RecvTimeoutError::Timeout) => Err(MpcError::Timeout {
                peer: from,
                secs: self.timeout.as_secs(),
            }),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => Err(MpcError::Transport {
                peer: from,
                reason: "the link has closed".into(),
            }),
        }
    }
}

type Pumped = (
    FrameSender,
    std_mpsc::Receiver<Result<Vec<u8>, String>>,
    tokio::task::JoinHandle<()>,
);

fn pump(mut channel: Channel) -> Result<Pumped, SqlError> {
    let (tx, rx) = std_mpsc::sync_channel(256);
    let sender = channel.sender().map_err(psi)?;
    let task = tokio::spawn(async move {
        loop {
            let item = match channel.recv().await {
                Ok((MPC, m)) if m.len() <= petri_mpc::MAX_MESSAGE_BYTES => Ok(m),
                Ok((MPC, m)) => Err(format!(
                    "a message of {} bytes is longer than the engine sends",
                    m.len()
                )),
                Ok((DONE, _)) => break,
                Ok((tag, _)) => Err(format!("unexpected frame tagged {tag}")),
                Err(e) => Err(e.to_string()),
            };
            let stop = item.is_err();
            let tx = tx.clone();
            // A full queue blocks this task's thread, not the runtime's other tasks.
            if tokio::task::block_in_place(move || tx.send(item)).is_err() || stop {
                break;
            }
        }
        let _ = channel.finish().await;
    });
    Ok((sender, rx, task))
}

/// What a compute node did.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    /// Rows aggregated.
    pub rows: usize,
    /// Candidate groups.
    pub groups: usize,
    /// Engine rounds and bytes sent to the other nodes.
    pub rounds: u64,
    /// Bytes sent to the other compute nodes (engine payload).
    pub bytes_sent: u64,
}

/// Compute node `me` on `listener` (bound to its address).
pub async fn run_node(job: &Job, me: usize, listener: TcpListener, tls: &TlsMaterial) -> Result<NodeReport, SqlError> {
    let plan = job.plan()?;
    if me >= 3 {
        return Err(SqlError::Query(format!("compute node {me}: party ids are 0, 1 and 2")));
    }
    let timeout = job.timeout();
    // Who dials us: the owners, and the nodes after us.
    let mut expected: Vec<String> = job.owners.iter().map(|o| o.name.clone()).collect();
    expected.extend(job.nodes[me + 1..].iter().map(|n| n.name.clone()));
    // Dial the nodes before us while accepting.
    let mut dials = Vec::new();
    for (j, node) in job.nodes[..me].iter().enumerate() {
        let (node, tls, session) = (node.clone(), tls.clone(), job.session.clone());
        dials.push(tokio::spawn(async move {
            let stream = wire::connect(&node.addr, &node.name, &tls, timeout)
                .await
                .map_err(psi)?;
            let channel = Channel::new(stream, timeout);
            send_hello(
                &channel,
                &Hello {
                    session,
                    role: format!("node{me}"),
                    header: serde_json::Value::Null,
                    lengths: Vec::new(),
                },
            )?;
            Ok::<(usize, Channel), SqlError>((j, channel))
        }));
    }
    let mut contributions: Vec<Option<SharedContribution>> = vec![None; job.owners.len()];
    let mut peers: Vec<Option<Channel>> = (0..3).map(|_| None).collect();
    let mut waiting: HashSet<String> = expected.iter().map(|n| n.to_ascii_lowercase()).collect();
    while !waiting.is_empty() {
        let names: Vec<&str> = expected
            .iter()
            .filter(|n| waiting.contains(&n.to_ascii_lowercase()))
            .map(String::as_str)
            .collect();
        let (stream, from, name) = wire::accept_any(&listener, &names, tls, timeout).await.map_err(psi)?;
        waiting.remove(&name.to_ascii_lowercase());
        tracing::debug!(node = me, peer = %name, "accepted");
        let mut channel = Channel::new(stream, timeout);
        let hello = recv_hello(&mut channel, &job.session).await?;
        if let Some(t) = job.owners.iter().position(|o| o.name.eq_ignore_ascii_case(&name)) {
            if hello.role != format!("owner{t}") {
                return Err(SqlError::Protocol(format!(
                    "{name} ({from}) claims to be {}",
                    hello.role
                )));
            }
            let vectors = recv_words(&mut channel, &hello.lengths).await?;
            let parsed = parse_contribution(&hello, vectors);
            match &parsed {
                Ok(_) => channel.send(DONE, &[]).map_err(psi)?,
                Err(e) => channel.send(0, e.to_string().as_bytes()).map_err(psi)?,
            }
            let _ = channel.finish().await;
            tracing::debug!(node = me, owner = t, "shares received");
            contributions[t] = Some(parsed?);
        } else {
            let j = job
                .nodes
                .iter()
                .position(|n| n.name.eq_ignore_ascii_case(&name))
                .ok_or_else(|| SqlError::Protocol(format!("{name} is not part of this job")))?;
            if hello.role != format!("node{j}") {
                return Err(SqlError::Protocol(format!(
                    "{name} ({from}) claims to be {}",
                    hello.role
                )));
            }
            peers[j] = Some(channel);
        }
    }
    for d in dials {
        let (j, channel) = d.await.map_err(|e| SqlError::Protocol(e.to_string()))??;
        peers[j] = Some(channel);
    }
    let mut out = vec![None, None, None];
    let mut inbox = vec![None, None, None];
    let mut tasks = Vec::new();
    for (j, p) in peers.into_iter().enumerate() {
        if let Some(channel) = p {
            let (tx, rx, task) = pump(channel)?;
            out[j] = Some(tx);
            inbox[j] = Some(rx);
            tasks.push(task);
        }
    }
    let transport = NetTransport {
        out: out.clone(),
        inbox,
        timeout,
    };
    let contributions: Vec<SharedContribution> = contributions
        .into_iter()
        .map(|c| c.ok_or_else(|| SqlError::Protocol("an owner's shares are missing".into())))
        .collect::<Result<_, _>>()?;
    let plan2 = plan.clone();
    tracing::debug!(node = me, "computing");
    let (outputs, stats) = tokio::task::spawn_blocking(move || {
        let mut party = Party::new(me, transport).map_err(SqlError::Mpc)?;
        let inputs: Vec<&SharedContribution> = contributions.iter().collect();
        let o = compute::run(&mut party, &plan2, &inputs)?;
        Ok::<_, SqlError>((o, party.stats()))
    })
    .await
    .map_err(|e| SqlError::Protocol(e.to_string()))??;
    // Tell the peers we are done, so their readers stop.
    for tx in out.iter().flatten() {
        let _ = tx.send(DONE, &[]);
    }
    drop(out);
    // Outputs to the analyst.
    let stream = wire::connect(&job.analyst.addr, &job.analyst.name, tls, timeout)
        .await
        .map_err(psi)?;
    let mut channel = Channel::new(stream, timeout);
    let parts: Vec<(String, usize)> = outputs.parts.iter().map(|(n, w, _)| (n.clone(), *w)).collect();
    let mut vectors: Vec<&[u64]> = Vec::new();
    for (_, _, s) in &outputs.parts {
        vectors.extend([s.parts().0, s.parts().1]);
    }
    send_hello(
        &channel,
        &Hello {
            session: job.session.clone(),
            role: format!("node{me}"),
            header: serde_json::json!({"groups": outputs.groups, "parts": parts}),
            lengths: vectors.iter().map(|v| v.len()).collect(),
        },
    )?;
    send_words(&channel, &vectors)?;
    channel.finish().await.map_err(psi)?;
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let rows = outputs_rows(&plan, &outputs);
    Ok(NodeReport {
        rows,
        groups: outputs.groups,
        rounds: stats.rounds,
        bytes_sent: stats.bytes_sent,
    })
}

fn outputs_rows(_plan: &Plan, o: &OutputShares) -> usize {
    o.parts.first().map_or(0, |p| p.2.len())
}

/// The analyst on `listener` (bound to its address): the three compute nodes' output shares,
/// combined.
pub async fn run_analyst(job: &Job, listener: TcpListener, tls: &TlsMaterial) -> Result<ResultSet, SqlError> {
    let plan = job.plan()?;
    let timeout = job.timeout();
    let mut outputs: Vec<Option<OutputShares>> = vec![None, None, None];
    let names: Vec<String> = job.nodes.iter().map(|n| n.name.clone()).collect();
    while outputs.iter().any(Option::is_none) {
        let waiting: Vec<&str> = (0..3)
            .filter(|&i| outputs[i].is_none())
            .map(|i| names[i].as_str())
            .collect();
        let (stream, _, name) = wire::accept_any(&listener, &waiting, tls, timeout).await.map_err(psi)?;
        let i = names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(&name))
            .ok_or_else(|| SqlError::Protocol(format!("{name} is not a compute node of this job")))?;
        let mut channel = Channel::new(stream, timeout);
        let hello = recv_hello(&mut channel, &job.session).await?;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Header {
            groups: usize,
            parts: Vec<(String, usize)>,
        }
        let h: Header = serde_json::from_value(hello.header.clone())
            .map_err(|e| SqlError::Protocol(format!("{name}'s outputs do not parse: {e}")))?;
        if hello.lengths.len() != 2 * h.parts.len() {
            return Err(SqlError::Protocol(format!(
                "{name} announced the wrong number of vectors"
            )));
        }
        let vectors = recv_words(&mut channel, &hello.lengths).await?;
        let mut it = vectors.into_iter();
        let mut parts = Vec::with_capacity(h.parts.len());
        for (pname, width) in h.parts {
            let (Some(a), Some(b)) = (it.next(), it.next()) else {
                return Err(SqlError::Protocol("a share is missing".into()));
            };
            parts.push((pname, width, AShare::from_parts(a, b).map_err(SqlError::Mpc)?));
        }
        outputs[i] = Some(OutputShares {
            groups: h.groups,
            parts,
        });
    }
    let [Some(a), Some(b), Some(c)] = outputs.as_slice() else {
        return Err(SqlError::Protocol("outputs are missing".into()));
    };
    result::reveal(&plan, [a, b, c])
}
