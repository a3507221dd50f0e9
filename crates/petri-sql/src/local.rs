//! Every party of a query in one process: the two owners (their PSI over an in-memory stream,
//! with the same protocol and framing as over mutual TLS), the three compute nodes on threads
//! (the engine's in-process transport), and the analyst. Used by tests, benchmarks and
//! `petri sql run`; the data paths are those of a deployment, only the links are local.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use petri_mpc::Party;
use petri_psi::{Mode, Params, Protocol, Reveal, Role};
use rand::RngCore;
use serde::Serialize;

use crate::compute::{self, OutputShares};
use crate::owner::{self, Alignment};
use crate::result::{self, ResultSet};
use crate::table::Table;
use crate::{Plan, SqlError};

/// How long a party waits for a peer.
const TIMEOUT: Duration = Duration::from_secs(600);

/// A run's result and what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The result the analyst sees.
    pub result: ResultSet,
    /// Distinct join keys each owner put into PSI, and the intersection's size.
    pub psi: Option<PsiReport>,
    /// Rows the compute nodes aggregated.
    pub joined_rows: usize,
    /// Candidate groups.
    pub groups: usize,
    /// Wall seconds per phase.
    pub seconds: Phases,
    /// Bytes each compute node sent (payload), the busiest node's rounds.
    pub mpc_bytes_sent: [u64; 3],
    /// Communication rounds of the busiest compute node.
    pub mpc_rounds: u64,
}

/// The join's PSI.
#[derive(Debug, Clone, Serialize)]
pub struct PsiReport {
    /// Distinct keys of each table.
    pub keys: [usize; 2],
    /// Keys in both.
    pub intersection: usize,
    /// Bytes each owner sent.
    pub bytes_sent: [u64; 2],
}

/// Wall seconds of each phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phases {
    /// Planning.
    pub plan: f64,
    /// PSI between the owners.
    pub psi: f64,
    /// Encoding and secret sharing at the owners.
    pub share: f64,
    /// The compute nodes' work.
    pub compute: f64,
    /// The analyst's reconstruction.
    pub reveal: f64,
    /// All of it.
    pub total: f64,
}

/// Plans `query` against `tables` (each owned by a different party) and runs it, with KKRT16
/// as the join's PSI.
pub async fn run(query: &str, tables: &[Table]) -> Result<Report, SqlError> {
    run_with(query, tables, Protocol::Kkrt).await
}

/// As [`run`], with the join's PSI protocol named.
pub async fn run_with(query: &str, tables: &[Table], psi: Protocol) -> Result<Report, SqlError> {
    let start = Instant::now();
    let schemas: Vec<_> = tables.iter().map(|t| t.schema.clone()).collect();
    let plan = crate::plan(query, &schemas)?;
    let plan_s = start.elapsed().as_secs_f64();
    let used: Vec<&Table> = plan
        .tables
        .iter()
        .map(|s| {
            tables
                .iter()
                .find(|t| t.schema.name == s.name)
                .ok_or_else(|| SqlError::Query(format!("no table {}", s.name)))
        })
        .collect::<Result<_, _>>()?;

    let t0 = Instant::now();
    let (alignments, psi) = match plan.join {
        None => (vec![Alignment::all(used[0])], None),
        Some((a, b)) => {
            let (ka, kb) = (
                owner::distinct_keys(used[0], a.column),
                owner::distinct_keys(used[1], b.column),
            );
            let session = format!("sql-{}", random_hex(8));
            let (sa, sb) = tokio::io::duplex(1 << 20);
            let (ra, rb) = tokio::join!(
                intersect(&session, psi, Role::Receiver, &ka, sa),
                intersect(&session, psi, Role::Sender, &kb, sb)
            );
            let ((ia, sent_a), (ib, sent_b)) = (ra?, rb?);
            if ia != ib {
                return Err(SqlError::Protocol("the owners' intersections differ".into()));
            }
            let report = PsiReport {
                keys: [ka.len(), kb.len()],
                intersection: ia.len(),
                bytes_sent: [sent_a, sent_b],
            };
            (
                vec![
                    Alignment::joined(used[0], a.column, &ia),
                    Alignment::joined(used[1], b.column, &ib),
                ],
                Some(report),
            )
        }
    };
    let psi_s = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let plan_ref = &plan;
    let shares = tokio::task::block_in_place(|| {
        used.iter()
            .zip(&alignments)
            .enumerate()
            .map(|(t, (table, al))| owner::contribute(plan_ref, t, table, al).map(|c| owner::share(&c)))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let share_s = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let (outputs, stats) = tokio::task::block_in_place(|| compute_all(&plan, &shares))?;
    let compute_s = t2.elapsed().as_secs_f64();

    let t3 = Instant::now();
    let result = result::reveal(&plan, [&outputs[0], &outputs[1], &outputs[2]])?;
    let reveal_s = t3.elapsed().as_secs_f64();

    let joined_rows = alignments_rows(&alignments);
    Ok(Report {
        result,
        psi,
        joined_rows,
        groups: outputs[0].groups,
        seconds: Phases {
            plan: plan_s,
            psi: psi_s,
            share: share_s,
            compute: compute_s,
            reveal: reveal_s,
            total: start.elapsed().as_secs_f64(),
        },
        mpc_bytes_sent: [stats[0].bytes_sent, stats[1].bytes_sent, stats[2].bytes_sent],
        mpc_rounds: stats.iter().map(|s| s.rounds).max().unwrap_or(0),
    })
}

fn alignments_rows(al: &[Alignment]) -> usize {
    match al {
        [one] => one.rows.len(),
        [a, b] => match (&a.multiplicity, &b.multiplicity) {
            (Some(x), Some(y)) => x.iter().zip(y).map(|(&p, &q)| p as usize * q as usize).sum(),
            _ => 0,
        },
        _ => 0,
    }
}

/// The three compute nodes on threads, linked by the engine's in-process transport.
fn compute_all(
    plan: &Plan,
    shares: &[Vec<owner::SharedContribution>],
) -> Result<(Vec<OutputShares>, Vec<petri_mpc::Stats>), SqlError> {
    compute_with(plan, shares, petri_mpc::transport::local(TIMEOUT))
}

/// The three compute nodes on threads over the given transports (party order); `shares[t][i]`
/// is compute node i's share of table t's contribution.
pub fn compute_with<T: petri_mpc::Transport + Send>(
    plan: &Plan,
    shares: &[Vec<owner::SharedContribution>],
    transports: Vec<T>,
) -> Result<(Vec<OutputShares>, Vec<petri_mpc::Stats>), SqlError> {
    if transports.len() != 3 || shares.iter().any(|s| s.len() != 3) {
        return Err(SqlError::Protocol("three compute nodes are needed".into()));
    }
    let results: Vec<Result<(OutputShares, petri_mpc::Stats), SqlError>> = std::thread::scope(|s| {
        let handles: Vec<_> = transports
            .into_iter()
            .enumerate()
            .map(|(id, t)| {
                s.spawn(move || {
                    let mut party = Party::new(id, t).map_err(SqlError::Mpc)?;
                    let inputs: Vec<&owner::SharedContribution> = shares.iter().map(|per| &per[id]).collect();
                    let out = compute::run(&mut party, plan, &inputs)?;
                    Ok((out, party.stats()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(SqlError::Protocol("a compute node's thread panicked".into())))
            })
            .collect()
    });
    let mut outputs = Vec::with_capacity(3);
    let mut stats = Vec::with_capacity(3);
    for r in results {
        let (o, s) = r?;
        outputs.push(o);
        stats.push(s);
    }
    Ok((outputs, stats))
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One owner's side of the join's PSI: both owners learn the intersection.
async fn intersect<S>(
    session: &str,
    protocol: Protocol,
    role: Role,
    keys: &[String],
    stream: S,
) -> Result<(HashSet<String>, u64), SqlError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let input = psi_input(keys).await?;
    let mut params = Params::new(session, Mode::Intersection, role, Reveal::Both);
    params.protocol = protocol;
    let mut channel = petri_psi::Channel::new(stream, TIMEOUT);
    let outcome = petri_psi::run_on(&params, &input, &mut channel).await?;
    Ok((matched_keys(&input, outcome.matched)?, outcome.bytes_sent))
}

/// An owner's PSI input: its distinct join keys and a random key that matches nothing, so that
/// an owner with no keys still takes part (an empty join is an answer, not an error).
pub(crate) async fn psi_input(keys: &[String]) -> Result<petri_psi::Input, SqlError> {
    let mut rows: Vec<(String, Option<u64>)> = keys.iter().map(|k| (k.clone(), None)).collect();
    rows.push((format!("d:{}", random_hex(16)), None));
    Ok(petri_psi::input::read(&petri_psi::Source::Rows(rows), false).await?)
}

/// The join keys PSI matched.
pub(crate) fn matched_keys(input: &petri_psi::Input, matched: Option<Vec<usize>>) -> Result<HashSet<String>, SqlError> {
    let matched =
        matched.ok_or_else(|| SqlError::Protocol("PSI did not reveal the intersection to this owner".into()))?;
    Ok(matched
        .into_iter()
        .filter_map(|i| input.keys.get(i).cloned())
        .filter(|k| !k.starts_with("d:"))
        .collect())
}
