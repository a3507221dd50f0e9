//! Data and result nodes (`DataManagerService` and `ResultProviderService`).
//!
//! A data node holds one organisation's plaintext inputs. When compute party i asks for a dataset,
//! the node secret-shares it (once per dataset, so the three parties' shares fit together) and
//! answers with party i's shares only; which party is asking is read from the caller's verified
//! certificate, never from the request. The same node receives outputs: each compute party sends
//! its shares of an output, and the node reconstructs the value once it has all three (checking
//! that the replicated components agree).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use petri_mpc::{AShare, reconstruct, split};
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use crate::program::ValueType;
use crate::proto::data_manager_service_server::DataManagerService;
use crate::proto::result_provider_service_server::ResultProviderService;
use crate::proto::{
    GetValueRequest, GetValueResponse, GetValueStatus, ProvideResultRequest, ProvideResultResponse, ProvideResultStatus,
};
use crate::tls::peer;
use crate::values::{named_shares, tuple_to_share};

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

type SharedDataset = Arc<Vec<(String, Vec<AShare>)>>;

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
    parties: [String; 3],
    shared: Mutex<HashMap<String, SharedDataset>>,
    pending: Mutex<HashMap<String, Pending>>,
    results: Results,
    out_dir: Option<PathBuf>,
}

impl DataNode {
    /// A node named `name` with `datasets`, serving the compute parties whose certificates carry
    /// `parties[i]`. Revealed results are kept in memory and, with `out_dir`, written to
    /// `out_dir/SESSION.json`.
    pub fn new(name: &str, datasets: Datasets, parties: [String; 3], out_dir: Option<PathBuf>) -> DataNode {
        DataNode {
            inner: Arc::new(DataInner {
                name: name.to_string(),
                datasets,
                parties,
                shared: Mutex::default(),
                pending: Mutex::default(),
                results: Arc::default(),
                out_dir,
            }),
        }
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

    /// The results revealed to this node so far.
    pub fn results(&self) -> Results {
        self.inner.results.clone()
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

    fn shares_for(&self, key: &str) -> Result<SharedDataset, String> {
        let mut shared = self.inner.shared.lock().map_err(|_| "internal lock poisoned")?;
        if let Some(s) = shared.get(key) {
            return Ok(s.clone());
        }
        let values = self
            .inner
            .datasets
            .get(key)
            .ok_or_else(|| format!("data node {} has no dataset {key:?}", self.inner.name))?;
        let s: SharedDataset = Arc::new(values.iter().map(|(n, v)| (n.clone(), split(v))).collect());
        shared.insert(key.to_string(), s.clone());
        Ok(s)
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
        let answer = (|| {
            let party = self.party_of(&request)?;
            let key = String::from_utf8(request.get_ref().key.clone()).map_err(|_| "dataset key is not UTF-8")?;
            let shares = self.shares_for(&key)?;
            tracing::info!(node = %self.inner.name, dataset = %key, party, "shares served");
            let values: Vec<(String, AShare)> = shares.iter().map(|(n, s)| (n.clone(), s[party].clone())).collect();
            Ok::<_, String>(named_shares(party, &values))
        })();
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
