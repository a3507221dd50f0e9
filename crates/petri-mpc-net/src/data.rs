//! Data and result nodes (`DataManagerService` and `ResultProviderService`).
//!
//! A data node holds one organisation's plaintext inputs behind its owner's
//! [`petri_policy::Policy`]. A compute party asks for a dataset with a [`ShareRequest`]: the
//! session, the session's whole program and who started it (the orchestrator's certificate names
//! or the workflow initiator's key id, as the compute node forwards them). The node hashes the
//! program itself ([`Program::hash`]), and releases shares only if its policy allows that program,
//! its result nodes, the initiator and the number of rows; every release and refusal is written to
//! the policy's audit log first. A session is bound to the first program the node released shares
//! for (also across restarts, from the audit log): a party presenting another program is refused,
//! so the three parties cannot be made to run different programs on one sharing. The values are
//! secret-shared afresh for each (session, dataset), only the values the program reads are
//! shared, and each party gets its own shares once; which party is asking is read from the caller's
//! verified certificate, never from the request.
//!
//! The same node receives outputs: each compute party sends its shares of an output, and the node
//! reconstructs the value once it has all three (checking that the replicated components agree).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use petri_mpc::{AShare, reconstruct, split};
use petri_policy::{Ask, AuditEntry, Policy, Refusal};
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use crate::program::{Program, ValueType};
use crate::proto::data_manager_service_server::DataManagerService;
use crate::proto::result_provider_service_server::ResultProviderService;
use crate::proto::{
    GetValueRequest, GetValueResponse, GetValueStatus, ProvideResultRequest, ProvideResultResponse,
    ProvideResultStatus, TypedValue,
};
use crate::tls::peer;
use crate::values::{named_shares, tuple_to_share};

/// The format tag of a [`ShareRequest`].
pub const SHARE_REQUEST_FORMAT: &str = "petri-mpc-shares/1";

/// How long a session's shares wait at a data node for all three parties to fetch them.
const OPEN_FOR: Duration = Duration::from_secs(3600);
/// Sessions whose shares may wait at once.
const MAX_OPEN: usize = 1024;

/// What a compute node asks a data node for (JSON, carried in `GetValueRequest.key`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// Always [`SHARE_REQUEST_FORMAT`].
    pub format: String,
    /// The dataset key.
    pub dataset: String,
    /// The session the shares are for.
    pub session: String,
    /// The session's program, whole; the data node hashes it itself.
    pub program: Program,
    /// Who started the session: the orchestrator's certificate names, or the workflow
    /// initiator's key id.
    pub initiators: Vec<String>,
}

/// One value in a data file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataValue {
    /// Element type.
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// A number or an array of numbers.
    pub value: serde_json::Value,
}

/// Encoded datasets: key → (value name, elements), values sorted by name.
pub type Datasets = HashMap<String, Vec<(String, Vec<u64>)>>;

/// A data file: dataset key → value name → value.
pub type DataFile = HashMap<String, HashMap<String, DataValue>>;

/// Parses a data file into encoded datasets.
pub fn load_data(text: &str) -> Result<Datasets, String> {
    let file: DataFile = serde_json::from_str(text).map_err(|e| format!("not a data file: {e}"))?;
    let mut out = HashMap::new();
    for (key, values) in file {
        let mut encoded = Vec::new();
        let mut names: Vec<&String> = values.keys().collect();
        names.sort();
        for name in names {
            let v = &values[name];
            let items: Vec<&serde_json::Value> = match &v.value {
                serde_json::Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            if items.is_empty() {
                return Err(format!("{key}/{name} is empty"));
            }
            let words = items
                .iter()
                .map(|x| v.ty.encode(x))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{key}/{name}: {e}"))?;
            encoded.push((name.clone(), words));
        }
        out.insert(key, encoded);
    }
    Ok(out)
}

/// A reconstructed output.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Revealed {
    /// The output's type.
    pub ty: String,
    /// The values.
    pub values: Vec<serde_json::Value>,
}

/// Results per session: output name → value.
pub type Results = Arc<Mutex<HashMap<String, HashMap<String, Revealed>>>>;

struct Pending {
    ty: ValueType,
    shares: [Option<AShare>; 3],
}

/// A data and result node.
#[derive(Clone)]
pub struct DataNode {
    inner: Arc<DataInner>,
}

struct DataInner {
    name: String,
    datasets: Datasets,
    policy: Option<Arc<Policy>>,
    parties: [String; 3],
    releases: Mutex<Releases>,
    pending: Mutex<HashMap<String, Pending>>,
    results: Results,
    received: Mutex<HashMap<String, usize>>,
    out_dir: Option<PathBuf>,
}

#[derive(Default)]
struct Releases {
    /// session → the hash of the program shares were released for.
    bound: HashMap<String, String>,
    /// Sessions whose shares are waiting for parties.
    open: HashMap<String, OpenSession>,
}

/// A dataset's values, each split into three parties' shares.
type Sharing = Vec<(String, Vec<AShare>)>;

struct OpenSession {
    since: Instant,
    /// dataset → its sharing (dropped once all three parties have theirs) and who has theirs.
    datasets: HashMap<String, (Option<Sharing>, [bool; 3])>,
}

impl DataNode {
    /// A node named `name` with `datasets`, serving the compute parties whose certificates carry
    /// `parties[i]`, and releasing shares only as `policy` allows (a node with datasets needs
    /// one; a result-only node may have none). Revealed results are kept in memory and, with
    /// `out_dir`, written to `out_dir/SESSION.json`.
    pub fn new(
        name: &str,
        datasets: Datasets,
        policy: Option<Arc<Policy>>,
        parties: [String; 3],
        out_dir: Option<PathBuf>,
    ) -> Result<DataNode, String> {
        if !datasets.is_empty() && policy.is_none() {
            return Err(format!(
                "data node {name} holds datasets but has no policy: give it the owner's policy file"
            ));
        }
        let mut releases = Releases::default();
        if let Some(policy) = &policy {
            if let Some(owner) = policy.owner()
                && owner != name
            {
                return Err(format!(
                    "the policy {} is for {owner:?}, not for data node {name:?}",
                    policy.path().display()
                ));
            }
            releases.bound = released_programs(policy)?;
        }
        Ok(DataNode {
            inner: Arc::new(DataInner {
                name: name.to_string(),
                datasets,
                policy,
                parties,
                releases: Mutex::new(releases),
                pending: Mutex::default(),
                results: Arc::default(),
                received: Mutex::default(),
                out_dir,
            }),
        })
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Value names and lengths of a dataset.
    pub fn dataset_shape(&self, key: &str) -> Result<Vec<(String, usize)>, String> {
        self.inner
            .datasets
            .get(key)
            .map(|values| values.iter().map(|(n, v)| (n.clone(), v.len())).collect())
            .ok_or_else(|| format!("data node {} has no dataset {key:?}", self.inner.name))
    }

    /// The policy, if the node has one.
    pub fn policy(&self) -> Option<&Policy> {
        self.inner.policy.as_deref()
    }

    /// The results revealed to this node so far.
    pub fn results(&self) -> Results {
        self.inner.results.clone()
    }

    /// How many output shares compute parties have delivered here for `session` (whether or
    /// not they were reconstructed yet).
    pub fn shares_received(&self, session: &str) -> usize {
        self.inner
            .received
            .lock()
            .ok()
            .and_then(|r| r.get(session).copied())
            .unwrap_or(0)
    }

    fn party_of<T>(&self, request: &Request<T>) -> Result<usize, String> {
        let peer = peer(request).ok_or("no client certificate")?;
        self.inner
            .parties
            .iter()
            .position(|name| peer.has_name(name))
            .ok_or_else(|| {
                format!(
                    "the caller ({}) is not one of the compute parties ({})",
                    peer.names.join(", "),
                    self.inner.parties.join(", ")
                )
            })
    }

    /// Party `party`'s shares of the dataset `req` names, if the policy allows the request.
    fn serve_shares(&self, party: usize, req: &ShareRequest) -> Result<TypedValue, String> {
        let name = &self.inner.name;
        if req.format != SHARE_REQUEST_FORMAT {
            return Err(format!(
                "the share request's format is {:?}, expected {SHARE_REQUEST_FORMAT:?}",
                req.format
            ));
        }
        if req.session.is_empty() || req.session.len() > 128 {
            return Err("the session id must be 1..=128 characters".into());
        }
        if req.initiators.len() > 16 || req.initiators.iter().any(|i| i.len() > 256) {
            return Err("the request names too many or too long initiators".into());
        }
        let policy = self
            .inner
            .policy
            .as_ref()
            .ok_or_else(|| format!("data node {name} has no policy, so it releases nothing"))?;
        req.program
            .check()
            .map_err(|e| format!("the session's program is not valid: {e}"))?;
        let hash = req.program.hash();
        let recipients = req.program.recipients();
        // The values the program reads from this node, and the rows they cover.
        let wanted = req.program.values_from(name);
        let selected = if wanted.is_empty() {
            Err(format!("the session's program reads nothing from data node {name}"))
        } else {
            match self.inner.datasets.get(&req.dataset) {
                None => Err(format!("data node {name} has no dataset {:?}", req.dataset)),
                Some(values) => wanted
                    .iter()
                    .map(|want| {
                        values
                            .iter()
                            .find(|(n, _)| n == want)
                            .map(|(_, words)| (want.clone(), words))
                            .ok_or_else(|| format!("data node {name} has no value {want} in dataset {:?}", req.dataset))
                    })
                    .collect::<Result<Vec<_>, String>>(),
            }
        };
        let rows = selected
            .as_ref()
            .map_or(0, |s| s.iter().map(|(_, w)| w.len()).min().unwrap_or(0));
        let request = petri_policy::Request {
            dataset: &req.dataset,
            initiators: &req.initiators,
            ask: Ask::Program {
                hash: &hash,
                recipients: &recipients,
                rows,
            },
            reference: &req.session,
            session: None,
        };
        // Refusals that are not the policy's rules are audited like its own.
        let refuse = |reason: String| -> String {
            let entry = AuditEntry::of(&request, Some(&reason));
            if let Err(e) = policy.audit().append(entry) {
                tracing::error!(node = %name, error = %e, "audit log write failed");
            }
            Refusal(reason).to_string()
        };
        let selected = selected.map_err(refuse)?;
        let mut releases = self.inner.releases.lock().map_err(|_| "internal lock poisoned")?;
        if let Some(bound) = releases.bound.get(&req.session)
            && *bound != hash
        {
            return Err(refuse(format!(
                "session {:?} is bound to program {bound}, not {hash}: all parties of a session run one program",
                req.session
            )));
        }
        let now = Instant::now();
        releases.open.retain(|_, s| now.duration_since(s.since) < OPEN_FOR);
        let served_before = releases
            .open
            .get(&req.session)
            .and_then(|s| s.datasets.get(&req.dataset))
            .is_some_and(|(_, served)| served[party]);
        if served_before {
            return Err(refuse(format!(
                "compute party {party} already received its shares of {:?} in session {:?}",
                req.dataset, req.session
            )));
        }
        if !releases.open.contains_key(&req.session) && releases.open.len() >= MAX_OPEN {
            return Err(refuse(format!(
                "{MAX_OPEN} sessions are already waiting for their parties here"
            )));
        }
        policy.decide(&request).map_err(|r| r.to_string())?;
        releases.bound.insert(req.session.clone(), hash.clone());
        let open = releases.open.entry(req.session.clone()).or_insert_with(|| OpenSession {
            since: now,
            datasets: HashMap::new(),
        });
        let (shares, served) = open.datasets.entry(req.dataset.clone()).or_insert_with(|| {
            let fresh = selected.iter().map(|(n, w)| (n.clone(), split(w))).collect();
            (Some(fresh), [false; 3])
        });
        let mine: Vec<(String, AShare)> = shares
            .as_ref()
            .ok_or("internal: the shares were already dropped")?
            .iter()
            .map(|(n, s)| (n.clone(), s[party].clone()))
            .collect();
        served[party] = true;
        if served.iter().all(|s| *s) {
            *shares = None;
        }
        tracing::info!(node = %name, dataset = %req.dataset, session = %req.session, party, program = %hash, "shares released");
        Ok(named_shares(party, &mine))
    }

    fn accept_result(&self, party: usize, req: &ProvideResultRequest) -> Result<(), String> {
        // key = SESSION/OUTPUT/TYPE
        let mut parts = req.key.rsplitn(3, '/');
        let (ty, output, session) = match (parts.next(), parts.next(), parts.next()) {
            (Some(t), Some(o), Some(s)) => (t, o, s),
            _ => return Err(format!("result key {:?} is not SESSION/OUTPUT/TYPE", req.key)),
        };
        let ty = ValueType::parse(ty)?;
        if !req.error.is_empty() {
            tracing::warn!(node = %self.inner.name, session, output, party, error = %req.error, "compute party reported an error");
            return Ok(());
        }
        let value = req
            .typed_value
            .as_ref()
            .and_then(|t| t.value.as_ref())
            .ok_or("result without a value")?;
        let share = tuple_to_share(party, value)?;
        if let Ok(mut received) = self.inner.received.lock() {
            *received.entry(session.to_string()).or_default() += 1;
        }
        tracing::info!(node = %self.inner.name, session, output, party, "output share received");
        let pending_key = format!("{session}/{output}");
        let complete = {
            let mut pending = self.inner.pending.lock().map_err(|_| "internal lock poisoned")?;
            let entry = pending.entry(pending_key.clone()).or_insert_with(|| Pending {
                ty,
                shares: [None, None, None],
            });
            if entry.ty != ty {
                return Err(format!("parties disagree on the type of {output}"));
            }
            if entry.shares[party].is_some() {
                return Err(format!("party {party} already sent {output} of session {session}"));
            }
            entry.shares[party] = Some(share);
            if entry.shares.iter().all(Option::is_some) {
                pending.remove(&pending_key)
            } else {
                None
            }
        };
        if let Some(done) = complete {
            let [a, b, c] = &done.shares;
            let words = reconstruct(&[a.as_ref(), b.as_ref(), c.as_ref()])
                .map_err(|e| format!("shares of {output} do not fit together: {e}"))?;
            let revealed = Revealed {
                ty: ty.name(),
                values: words.iter().map(|w| ty.decode(*w)).collect(),
            };
            tracing::info!(node = %self.inner.name, session, output, elements = words.len(), "result revealed");
            let snapshot = {
                let mut results = self.inner.results.lock().map_err(|_| "internal lock poisoned")?;
                let entry = results.entry(session.to_string()).or_default();
                entry.insert(output.to_string(), revealed);
                entry.clone()
            };
            if let Some(dir) = &self.inner.out_dir {
                let path = dir.join(format!("{}.json", sanitize(session)));
                let text = serde_json::to_string_pretty(&snapshot).map_err(|e| e.to_string())?;
                std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        Ok(())
    }
}

/// The program each session was released for, from the audit log (so a restart keeps the
/// bindings).
fn released_programs(policy: &Policy) -> Result<HashMap<String, String>, String> {
    let path = policy.audit().path();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut bound = HashMap::new();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let field = |k: &str| entry.get(k).and_then(serde_json::Value::as_str);
        if field("decision") == Some("released")
            && field("kind") == Some("program")
            && let (Some(session), Some(hash)) = (field("reference"), field("what"))
        {
            bound.insert(session.to_string(), hash.to_string());
        }
    }
    Ok(bound)
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[tonic::async_trait]
impl DataManagerService for DataNode {
    async fn get_value(&self, request: Request<GetValueRequest>) -> Result<Response<GetValueResponse>, Status> {
        let answer = match self.party_of(&request) {
            Err(e) => Err(e),
            Ok(party) => match serde_json::from_slice::<ShareRequest>(&request.get_ref().key) {
                Err(e) => Err(format!(
                    "the request is not a share request ({e}); this data node releases shares only for a session's program"
                )),
                Ok(req) => {
                    // Sharing a large dataset and syncing the audit log are blocking work.
                    let node = self.clone();
                    tokio::task::spawn_blocking(move || node.serve_shares(party, &req))
                        .await
                        .unwrap_or_else(|e| Err(format!("internal: {e}")))
                }
            },
        };
        Ok(Response::new(match answer {
            Ok(typed) => GetValueResponse {
                status: GetValueStatus::GetValueOk as i32,
                error: String::new(),
                typed_value: vec![typed],
            },
            Err(error) => {
                tracing::warn!(node = %self.inner.name, %error, "GetValue refused");
                GetValueResponse {
                    status: GetValueStatus::GetValueError as i32,
                    error,
                    typed_value: Vec::new(),
                }
            }
        }))
    }
}

#[tonic::async_trait]
impl ResultProviderService for DataNode {
    async fn provide_result(
        &self,
        request: Request<ProvideResultRequest>,
    ) -> Result<Response<ProvideResultResponse>, Status> {
        let outcome = self
            .party_of(&request)
            .and_then(|party| self.accept_result(party, request.get_ref()));
        Ok(Response::new(match outcome {
            Ok(()) => ProvideResultResponse {
                status: ProvideResultStatus::ProvideResultOk as i32,
                error: String::new(),
            },
            Err(error) => {
                tracing::warn!(node = %self.inner.name, %error, "ProvideResult refused");
                ProvideResultResponse {
                    status: ProvideResultStatus::ProvideResultError as i32,
                    error,
                }
            }
        }))
    }
}
