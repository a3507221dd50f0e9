//! The analyst's side: combine the three compute nodes' shares of the outputs, keep the groups
//! whose keep bit is 1, decode labels and aggregates, then apply ORDER BY and LIMIT.

use std::cmp::Ordering;

use petri_mpc::{AShare, reconstruct};
use serde::Serialize;

use crate::SqlError;
use crate::compute::OutputShares;
use crate::owner::{FRAC, unpack};
use crate::plan::{AggFunc, Kind, Output, Plan};
use crate::table::Value;

/// A query's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultSet {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Value>>,
}

fn open(parts: &[&OutputShares; 3], name: &str, groups: usize) -> Result<(usize, Vec<u64>), SqlError> {
    let mut found: Vec<(usize, &AShare)> = Vec::with_capacity(3);
    for p in parts {
        let (_, width, share) = p
            .parts
            .iter()
            .find(|(n, _, _)| n == name)
            .ok_or_else(|| SqlError::Protocol(format!("a compute node sent no {name}")))?;
        if share.len() != groups * width {
            return Err(SqlError::Protocol(format!("{name} has the wrong length")));
        }
        found.push((*width, share));
    }
    if found.iter().any(|(w, _)| *w != found[0].0) {
        return Err(SqlError::Protocol(format!("the compute nodes disagree on {name}")));
    }
    let values = reconstruct(&[Some(found[0].1), Some(found[1].1), Some(found[2].1)])
        .map_err(|e| SqlError::Protocol(format!("{name}: {e}")))?;
    Ok((found[0].0, values))
}

fn decode_number(word: u64, kind: Kind) -> Value {
    match kind {
        Kind::Real => Value::Real(word as i64 as f64 / f64::from(1u32 << FRAC)),
        _ => Value::Int(word as i64),
    }
}

/// Reconstructs the result from the three compute nodes' output shares (in party order).
pub fn reveal(plan: &Plan, outputs: [&OutputShares; 3]) -> Result<ResultSet, SqlError> {
    let d = outputs[0].groups;
    if outputs.iter().any(|o| o.groups != d) {
        return Err(SqlError::Protocol(
            "the compute nodes disagree on the number of groups".into(),
        ));
    }
    let columns = plan.outputs.iter().map(|(n, _)| n.clone()).collect();
    if d == 0 {
        return Ok(ResultSet {
            columns,
            rows: Vec::new(),
        });
    }
    let (_, keep) = open(&outputs, "keep", d)?;
    let mut labels = Vec::new();
    for t in 0..plan.tables.len() {
        if !plan.groups_of(t).is_empty() {
            labels.push((t, open(&outputs, &format!("label{t}"), d)?));
        }
    }
    let mut aggs = Vec::with_capacity(plan.aggregates.len());
    for (k, a) in plan.aggregates.iter().enumerate() {
        let (_, v) = open(&outputs, &format!("agg{k}"), d)?;
        let count = if a.func == AggFunc::Avg {
            Some(open(&outputs, &format!("count{k}"), d)?.1)
        } else {
            None
        };
        let nonnull = if matches!(a.func, AggFunc::Count | AggFunc::CountStar) {
            None
        } else {
            Some(open(&outputs, &format!("nonnull{k}"), d)?.1)
        };
        aggs.push((v, count, nonnull));
    }
    let mut rows = Vec::new();
    for g in 0..d {
        match keep[g] {
            0 => continue,
            1 => {}
            other => return Err(SqlError::Protocol(format!("keep bit {other}"))),
        }
        // This group's label values, per table.
        let mut group_values: Vec<(usize, Vec<Value>)> = Vec::new();
        for (t, (width, words)) in &labels {
            let bytes = unpack(&words[g * width..(g + 1) * width])
                .ok_or_else(|| SqlError::Protocol("a group label does not decode".into()))?;
            let values: Vec<Value> = serde_json::from_slice(&bytes)
                .map_err(|e| SqlError::Protocol(format!("a group label does not decode: {e}")))?;
            group_values.push((*t, values));
        }
        let mut row = Vec::with_capacity(plan.outputs.len());
        for (_, out) in &plan.outputs {
            row.push(match *out {
                Output::Group(j) => {
                    let c = plan.group_by[j];
                    let pos = plan
                        .groups_of(c.table)
                        .iter()
                        .position(|&x| x == c.column)
                        .ok_or_else(|| SqlError::Protocol("group column".into()))?;
                    let values = &group_values
                        .iter()
                        .find(|(t, _)| *t == c.table)
                        .ok_or_else(|| SqlError::Protocol("group label".into()))?
                        .1;
                    normalise_label(
                        values
                            .get(pos)
                            .cloned()
                            .ok_or_else(|| SqlError::Protocol("a group label is short".into()))?,
                        plan.col_type(c),
                    )
                }
                Output::Agg(k) => {
                    let a = &plan.aggregates[k];
                    let (v, count, nonnull) = &aggs[k];
                    if nonnull.as_ref().is_some_and(|nn| nn[g] == 0) {
                        Value::Null
                    } else {
                        match a.func {
                            AggFunc::CountStar | AggFunc::Count => Value::Int(v[g] as i64),
                            AggFunc::Avg => {
                                let sum = decode_number(v[g], a.kind).as_f64().unwrap_or(0.0);
                                let n = count.as_ref().map_or(1, |c| c[g]) as f64;
                                Value::Real(sum / n)
                            }
                            _ => decode_number(v[g], a.kind),
                        }
                    }
                }
            });
        }
        rows.push(row);
    }
    let mut result = ResultSet { columns, rows };
    order(&mut result, plan);
    Ok(result)
}

/// Serde reads every JSON number without a fraction as an integer; a REAL label stays REAL.
fn normalise_label(v: Value, ty: crate::table::ColType) -> Value {
    match (v, ty) {
        (Value::Int(i), crate::table::ColType::Real) => Value::Real(i as f64),
        (v, _) => v,
    }
}

/// SQLite's order: NULL, then numbers, then text.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Null => 0,
        Value::Int(_) | Value::Real(_) => 1,
        Value::Text(_) => 2,
    };
    match (a, b) {
        (Value::Text(x), Value::Text(y)) => x.cmp(y),
        (x, y) if rank(x) == 1 && rank(y) == 1 => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (x, y) => rank(x).cmp(&rank(y)),
    }
}

fn order(result: &mut ResultSet, plan: &Plan) {
    if !plan.order_by.is_empty() {
        result.rows.sort_by(|a, b| {
            for &(col, desc) in &plan.order_by {
                let o = compare(&a[col], &b[col]);
                let o = if desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    if let Some(limit) = plan.limit {
        result.rows.truncate(limit);
    }
}
