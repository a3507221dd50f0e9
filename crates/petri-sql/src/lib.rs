//! Secure SQL across two organisations' tables.
//!
//! A query such as
//!
//! ```sql
//! SELECT g, COUNT(*), SUM(b.x), AVG(b.x) FROM a JOIN b ON a.id = b.id WHERE b.x > 10 GROUP BY g
//! ```
//!
//! runs over tables that two owners keep at their own sites:
//!
//! 1. [`plan`]: the SQL is parsed (`sqlparser`) and checked against the tables' public schemas;
//!    anything outside the supported subset is refused with an error naming the construct;
//! 2. join alignment ([`owner`]): the owners intersect their join keys with PSI (`petri-psi`,
//!    both learn the intersection) and each orders its joined rows by key;
//! 3. sharing ([`owner`]): each owner encodes the columns the query reads (values and NULL
//!    bits) and its GROUP BY columns (one-hot), and splits them into replicated secret shares
//!    for three compute nodes;
//! 4. computing ([`compute`]): the nodes evaluate WHERE, GROUP BY, the aggregates and HAVING on
//!    shares with the three-party engine (`petri-mpc`);
//! 5. revealing ([`result`]): only the analyst combines the output shares.
//!
//! [`explain`] states, for a query, what each party learns. [`local`] runs all the parties in one
//! process (tests, benchmarks and `petri sql run`).
//!
//! Security is against semi-honest parties with an honest majority among the compute nodes, as
//! for every privacy workflow of petri.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compute;
pub mod executor;
pub mod local;
pub mod net;
pub mod owner;
pub mod plan;
pub mod result;
pub mod table;

pub use plan::{Plan, plan};
pub use result::ResultSet;
pub use table::{ColType, Schema, Source, Table, Value};

/// Errors of secure SQL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The query uses SQL that petri sql does not run.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The query is wrong (unknown column, type mismatch, ...).
    #[error("query: {0}")]
    Query(String),
    /// A table could not be read or breaks a rule.
    #[error("input: {0}")]
    Input(String),
    /// The join's PSI failed.
    #[error("psi: {0}")]
    Psi(#[from] petri_psi::PsiError),
    /// The three-party engine failed.
    #[error("mpc: {0}")]
    Mpc(petri_mpc::MpcError),
    /// A party sent something that does not fit the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
}

/// Asks an owner's policy about one step of a query and audits the decision: the join's PSI
/// (peer, distinct keys) or the shares (the query's hash, the analyst, the rows that take part).
pub fn policy_decide(
    policy: &petri_policy::Policy,
    dataset: &str,
    initiators: &[String],
    reference: &str,
    ask: net::GateAsk<'_>,
) -> Result<(), SqlError> {
    use petri_policy::{Ask, Request};
    let recipients;
    let ask = match ask {
        net::GateAsk::Join { peer, keys } => Ask::Intersection {
            mode: "intersection",
            peer,
            rows: keys,
        },
        net::GateAsk::Shares { hash, analyst, rows } => {
            recipients = vec![analyst.to_string()];
            Ask::Program {
                hash,
                recipients: &recipients,
                rows,
            }
        }
    };
    policy
        .decide(&Request {
            dataset,
            initiators,
            ask,
            reference,
            session: None,
        })
        .map_err(|r| SqlError::Input(format!("refused by the owner's policy: {}", r.0)))
}

/// What each party learns from running `plan`, beyond the query and the tables' schemas (which
/// all parties see).
pub fn explain(plan: &Plan) -> Vec<(String, Vec<String>)> {
    let names: Vec<&str> = plan.tables.iter().map(|t| t.name.as_str()).collect();
    let mut out = Vec::new();
    let grouped: Vec<&str> = (0..names.len())
        .filter(|&t| !plan.groups_of(t).is_empty())
        .map(|t| names[t])
        .collect();
    for (t, name) in names.iter().enumerate() {
        let mut learns = Vec::new();
        if let Some((a, b)) = plan.join {
            let other = names[1 - t];
            learns.push(format!(
                "the number of distinct {} keys of {other}, and which keys both tables share (the PSI of {} and {}, revealed to both owners)",
                plan.col_name(if t == 0 { b } else { a }),
                plan.col_name(a),
                plan.col_name(b)
            ));
        } else {
            learns.push("nothing: it only sends shares".into());
        }
        out.push((format!("owner of {name}"), learns));
    }
    let mut nodes = vec!["the number of joined rows".to_string()];
    if plan.join.is_some() {
        nodes.push(
            "how many rows of each table carry each shared key (1 for every key when the join keys are unique), not the keys"
                .into(),
        );
    }
    if !grouped.is_empty() {
        nodes.push(format!(
            "the number of distinct GROUP BY values among the joined rows of {}, and the longest one's length",
            grouped.join(" and ")
        ));
    }
    nodes.push("no value, NULL, predicate outcome or aggregate: everything else stays in shares".into());
    out.push(("each compute node".into(), nodes));
    let mut analyst = vec!["the result".to_string()];
    if !grouped.is_empty() {
        analyst.push(
            "the number of candidate groups (groups the result leaves out arrive as zeros, labels included)".into(),
        );
    }
    if plan.aggregates.iter().any(|a| a.func == plan::AggFunc::Avg) {
        analyst.push("for each AVG, the SUM and COUNT it divides".into());
    }
    out.push(("the analyst (reveal_to)".into(), analyst));
    out
}
