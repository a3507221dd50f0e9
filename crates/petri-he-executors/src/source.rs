//! Data owners: where the values come from, and the encrypted answer.

use std::path::PathBuf;

use num_bigint::BigInt;
use petri_paillier::{Number, PublicKey, WireCiphertext};
use serde_json::Value;

use crate::HeError;

/// Where a data owner's values come from. Only the owner configures it: a function spec can ask
/// for a sum or a mean, never for a different query.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// One fixed value (the seed's `hospital_executor.py r1 55`).
    Value(Number),
    /// A column of a CSV file with a header row; empty cells are skipped.
    Csv {
        /// The file.
        path: PathBuf,
        /// The column's header.
        column: String,
    },
    /// The first column of a query on an SQLite file; NULLs are skipped.
    Sqlite {
        /// The database file (opened read-only).
        path: PathBuf,
        /// The query.
        query: String,
    },
    /// The first column of a query on PostgreSQL; NULLs are skipped.
    Postgres {
        /// `postgres://` URL.
        url: String,
        /// The query.
        query: String,
    },
}

fn parse_cell(text: &str, place: &str) -> Result<Option<Number>, HeError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<Number>()
        .map(Some)
        .map_err(|_| HeError::Source(format!("{place} is not a number")))
}

/// Reads the values of a source.
pub async fn read_values(source: &DataSource) -> Result<Vec<Number>, HeError> {
    match source {
        DataSource::Value(v) => Ok(vec![v.clone()]),
        DataSource::Csv { path, column } => {
            let (path, column) = (path.clone(), column.clone());
            tokio::task::spawn_blocking(move || read_csv(&path, &column))
                .await
                .map_err(|e| HeError::Source(e.to_string()))?
        }
        DataSource::Sqlite { path, query } => {
            let (path, query) = (path.clone(), query.clone());
            tokio::task::spawn_blocking(move || read_sqlite(&path, &query))
                .await
                .map_err(|e| HeError::Source(e.to_string()))?
        }
        DataSource::Postgres { url, query } => read_postgres(url, query).await,
    }
}

fn read_csv(path: &std::path::Path, column: &str) -> Result<Vec<Number>, HeError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| HeError::Source(format!("{}: {e}", path.display())))?;
    let headers = reader.headers().map_err(|e| HeError::Source(e.to_string()))?.clone();
    let index = headers
        .iter()
        .position(|h| h.trim() == column)
        .ok_or_else(|| HeError::Source(format!("{} has no column {column:?}", path.display())))?;
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| HeError::Source(e.to_string()))?;
        let cell = record.get(index).unwrap_or("");
        if let Some(v) = parse_cell(cell, &format!("row {} of column {column:?}", i + 2))? {
            out.push(v);
        }
    }
    Ok(out)
}

fn read_sqlite(path: &std::path::Path, query: &str) -> Result<Vec<Number>, HeError> {
    use rusqlite::types::ValueRef;
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| HeError::Source(format!("{}: {e}", path.display())))?;
    let mut stmt = conn.prepare(query).map_err(|e| HeError::Source(e.to_string()))?;
    let mut rows = stmt.query([]).map_err(|e| HeError::Source(e.to_string()))?;
    let mut out = Vec::new();
    let mut row_no = 0;
    while let Some(row) = rows.next().map_err(|e| HeError::Source(e.to_string()))? {
        row_no += 1;
        let v = row.get_ref(0).map_err(|e| HeError::Source(e.to_string()))?;
        match v {
            ValueRef::Null => {}
            ValueRef::Integer(i) => out.push(Number::from(i)),
            ValueRef::Real(f) => out.push(Number::Float(f)),
            ValueRef::Text(t) => {
                if let Some(v) = parse_cell(&String::from_utf8_lossy(t), &format!("row {row_no}"))? {
                    out.push(v);
                }
            }
            ValueRef::Blob(_) => return Err(HeError::Source(format!("row {row_no} is a blob, not a number"))),
        }
    }
    Ok(out)
}

async fn read_postgres(url: &str, query: &str) -> Result<Vec<Number>, HeError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| HeError::Source(format!("cannot connect to PostgreSQL: {e}")))?;
    // Any numeric column type: read the first column as text and parse it.
    let wrapped = format!("SELECT (petri_v)::text FROM ({query}) AS petri_q(petri_v)");
    let rows: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(wrapped))
        .fetch_all(&mut conn)
        .await
        .map_err(|e| HeError::Source(format!("query failed: {e}")))?;
    let _ = conn.close().await;
    let mut out = Vec::new();
    for (i, cell) in rows.iter().enumerate() {
        if let Some(cell) = cell
            && let Some(v) = parse_cell(cell, &format!("row {}", i + 1))?
        {
            out.push(v);
        }
    }
    Ok(out)
}

/// The local sum of values: exact for integers, a float sum as soon as one value is a float.
pub(crate) fn local_sum(values: &[Number]) -> Number {
    if values.iter().all(|v| matches!(v, Number::Int(_))) {
        let mut total = BigInt::from(0);
        for v in values {
            if let Number::Int(i) = v {
                total += i;
            }
        }
        Number::Int(total)
    } else {
        Number::Float(values.iter().map(Number::to_f64).sum())
    }
}

/// The answer of a data owner: `[sum]`, or for `aggregate = "mean"` `[sum, count]` with labels,
/// or for `aggregate = "count"` `[count]`; each encrypted and re-randomised.
pub fn encrypt_answer(pk: &PublicKey, values: &[Number], aggregate: &str) -> Result<Vec<Value>, HeError> {
    let mut rng = rand::rng();
    let mut encrypt = |n: &Number, label: Option<&str>| -> Result<Value, HeError> {
        let mut c = pk.encrypt(n, None, &mut rng)?;
        let mut w: WireCiphertext = c.to_wire(&mut rng);
        w.label = label.map(str::to_owned);
        Ok(crate::output_item(&w))
    };
    let count = Number::from(values.len() as i64);
    match aggregate {
        "sum" => Ok(vec![encrypt(&local_sum(values), None)?]),
        "mean" => Ok(vec![
            encrypt(&local_sum(values), Some("sum"))?,
            encrypt(&count, Some("count"))?,
        ]),
        "count" => Ok(vec![encrypt(&count, Some("count"))?]),
        other => Err(HeError::Request(format!(
            "unknown aggregate {other:?}: use \"sum\", \"mean\" or \"count\""
        ))),
    }
}
