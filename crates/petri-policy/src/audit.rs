//! The data owner's append-only audit log.
//!
//! One JSON object a line, each ending in `"hash"`: the SHA3-256 of the previous line's hash and
//! this line's text up to its hash field. Editing, removing or reordering a line breaks the chain,
//! which [`verify_log`] (and every [`AuditLog::open`]) detects. The file is opened for appending
//! only, created with mode 0600, and each line is flushed to disk before the release it records.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use sha3::{Digest, Sha3_256};

use crate::{Ask, PolicyError, Request};

/// The chain's starting value.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Whether something was released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The answer was released.
    Released,
    /// The request was refused.
    Refused,
}

/// One decision.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// The decision.
    pub decision: Decision,
    /// The dataset.
    pub dataset: String,
    /// Who asked.
    pub initiators: Vec<String>,
    /// `aggregate`, `program` or `intersection`.
    pub kind: &'static str,
    /// The function (aggregates), program hash (MPC) or mode (intersections).
    pub what: String,
    /// The analyst key (aggregates), result nodes (MPC) or peer (intersections).
    pub to: Vec<String>,
    /// Rows covered.
    pub rows: usize,
    /// Contributors of a secure sum (0 for an unmasked answer or MPC).
    pub contributors: usize,
    /// The process or session.
    pub reference: String,
    /// The secure-sum session, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AuditEntry {
    /// The entry for `request`, refused for `reason` if one is given.
    pub fn of(request: &Request<'_>, reason: Option<&str>) -> AuditEntry {
        let (kind, what, to, rows, contributors) = match request.ask {
            Ask::Aggregate {
                function,
                analyst_key,
                rows,
                contributors,
            } => (
                "aggregate",
                function.to_string(),
                vec![analyst_key.to_string()],
                rows,
                contributors.unwrap_or(0),
            ),
            Ask::Program { hash, recipients, rows } => ("program", hash.to_string(), recipients.to_vec(), rows, 0),
            Ask::Intersection { mode, peer, rows } => {
                ("intersection", mode.to_string(), vec![peer.to_string()], rows, 0)
            }
        };
        AuditEntry {
            decision: if reason.is_some() {
                Decision::Refused
            } else {
                Decision::Released
            },
            dataset: request.dataset.to_string(),
            initiators: request.initiators.to_vec(),
            kind,
            what,
            to,
            rows,
            contributors,
            reference: request.reference.to_string(),
            session: request.session.map(str::to_owned),
            reason: reason.map(str::to_owned),
        }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    seq: u64,
    time: String,
    #[serde(flatten)]
    entry: &'a AuditEntry,
}

struct Tail {
    file: File,
    seq: u64,
    prev: String,
    sessions: Sessions,
}

/// An append-only, hash-chained log of decisions.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    tail: Mutex<Option<Tail>>,
}

impl std::fmt::Debug for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tail").field("seq", &self.seq).finish_non_exhaustive()
    }
}

fn chain(prev: &str, body: &str) -> String {
    let mut h = Sha3_256::new();
    h.update(prev.as_bytes());
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// Splits a line into the text its hash covers and the hash.
fn split_line(line: &str) -> Option<(String, &str)> {
    const TAIL: usize = ",\"hash\":\"\"}".len() + 64;
    if line.len() < TAIL || !line.is_char_boundary(line.len() - TAIL) {
        return None;
    }
    let (head, tail) = line.split_at(line.len() - TAIL);
    let hash = tail.strip_prefix(",\"hash\":\"")?.strip_suffix("\"}")?;
    Some((format!("{head}}}"), hash))
}

/// Checks the chain of the log at `path`; returns the number of entries and the last hash.
pub fn verify_log(path: &Path) -> Result<(u64, String), PolicyError> {
    read_log(path).map(|(count, prev, _)| (count, prev))
}

/// Sessions of released answers: session → reference.
type Sessions = HashMap<String, String>;

fn read_log(path: &Path) -> Result<(u64, String, Sessions), PolicyError> {
    let err = |reason: String| PolicyError::Audit {
        path: path.display().to_string(),
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, GENESIS.into(), Sessions::new())),
        Err(e) => return Err(err(e.to_string())),
    };
    let mut prev = GENESIS.to_string();
    let mut count = 0u64;
    let mut sessions = Sessions::new();
    for (i, line) in text.lines().enumerate() {
        let (body, hash) = split_line(line).ok_or_else(|| err(format!("line {} is not an audit entry", i + 1)))?;
        let value: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| err(format!("line {} is not JSON: {e}", i + 1)))?;
        if value.get("seq").and_then(serde_json::Value::as_u64) != Some(count + 1) {
            return Err(err(format!("line {} is out of sequence", i + 1)));
        }
        if chain(&prev, &body) != hash {
            return Err(err(format!(
                "line {} does not match its hash: the log was altered",
                i + 1
            )));
        }
        prev = hash.to_string();
        count += 1;
        if value.get("decision").and_then(serde_json::Value::as_str) == Some("released")
            && let (Some(session), Some(reference)) = (
                value.get("session").and_then(serde_json::Value::as_str),
                value.get("reference").and_then(serde_json::Value::as_str),
            )
        {
            sessions.insert(session.to_string(), reference.to_string());
        }
    }
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(err("the last line is incomplete".into()));
    }
    Ok((count, prev, sessions))
}

impl AuditLog {
    /// Opens the log at `path` for appending, creating it (mode 0600) if needed, after checking
    /// the chain of what is there.
    pub fn open(path: &Path) -> Result<AuditLog, PolicyError> {
        let (seq, prev, sessions) = read_log(path)?;
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(|e| PolicyError::Audit {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            tail: Mutex::new(Some(Tail {
                file,
                seq,
                prev,
                sessions,
            })),
        })
    }

    /// The log's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The reference a secure-sum session was released for, if it was.
    pub fn session_reference(&self, session: &str) -> Option<String> {
        let guard = self.tail.lock().ok()?;
        guard.as_ref()?.sessions.get(session).cloned()
    }

    /// Appends `entry` and flushes it to disk.
    pub fn append(&self, entry: AuditEntry) -> Result<(), PolicyError> {
        let err = |reason: String| PolicyError::Audit {
            path: self.path.display().to_string(),
            reason,
        };
        let mut guard = self.tail.lock().map_err(|_| err("lock poisoned".into()))?;
        // A write that failed half-way leaves the log closed rather than chaining onto an
        // unknown tail.
        let tail = guard
            .as_mut()
            .ok_or_else(|| err("closed after an earlier write error".into()))?;
        let line = Line {
            seq: tail.seq + 1,
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            entry: &entry,
        };
        let body = serde_json::to_string(&line).map_err(|e| err(e.to_string()))?;
        let hash = chain(&tail.prev, &body);
        let text = format!("{},\"hash\":\"{hash}\"}}\n", &body[..body.len() - 1]);
        let written = tail
            .file
            .write_all(text.as_bytes())
            .and_then(|()| tail.file.sync_data());
        if let Err(e) = written {
            *guard = None;
            return Err(err(e.to_string()));
        }
        tail.seq += 1;
        tail.prev = hash;
        if entry.decision == Decision::Released
            && let Some(session) = &entry.session
        {
            tail.sessions.insert(session.clone(), entry.reference.clone());
        }
        Ok(())
    }
}
