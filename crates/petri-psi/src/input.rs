//! A party's input: a key column (and, for intersection-sum, a payload column) of a CSV file, an
//! SQLite query or a PostgreSQL query.
//!
//! Rules, applied alike to every source:
//! - **Keys are compared after trimming white space and Unicode NFC normalisation**, then byte
//!   for byte (UTF-8): `"é"` written precomposed or as `e` + combining accent is one key, `"Ab"`
//!   and `"ab"` are two. Keys are text; a key that is not UTF-8 (an SQLite blob) is refused.
//! - **Duplicate keys are merged, with a warning**: the set is a set. Every row of a matched key is
//!   in the output, and in intersection-sum a key's payload is the sum of its rows' payloads.
//! - An empty key cell, a row without the key column, a payload that is not a non-negative
//!   integer, a key over [`MAX_KEY_BYTES`] bytes, or no keys at all is an error that names the row.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use crate::PsiError;

/// The longest key accepted, in bytes after normalisation.
pub const MAX_KEY_BYTES: usize = 4096;

/// Where a party's keys come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A CSV file with a header row.
    Csv {
        /// The file.
        path: PathBuf,
        /// The key column's header.
        column: String,
        /// The payload column's header (intersection-sum only).
        payload: Option<String>,
    },
    /// An SQLite file (opened read-only) and a query: the first column is the key, the second
    /// (intersection-sum only) the payload.
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The query.
        query: String,
    },
    /// A PostgreSQL query: the first column is the key, the second (intersection-sum) the payload.
    Postgres {
        /// `postgres://` URL.
        url: String,
        /// The query.
        query: String,
    },
    /// Rows given directly: (key, payload). Tests and benchmarks.
    Rows(Vec<(String, Option<u64>)>),
}

/// A party's input after normalisation and de-duplication.
#[derive(Debug, Clone)]
pub struct Input {
    /// The header of the output rows.
    pub header: Vec<String>,
    /// Every input row, as text.
    pub rows: Vec<Vec<String>>,
    /// The distinct normalised keys.
    pub keys: Vec<String>,
    /// For each distinct key, the rows that carry it.
    pub rows_of: Vec<Vec<usize>>,
    /// For each distinct key, the sum of its payloads (intersection-sum only).
    pub payloads: Option<Vec<u64>>,
    /// Rows whose key repeated an earlier row's key.
    pub duplicates: usize,
}

/// A key as compared: trimmed, NFC-normalised.
pub fn normalise(key: &str) -> String {
    let key = key.trim();
    // Most keys (all ASCII ones) are in NFC already; the quick check says so without composing.
    if is_nfc_quick(key.chars()) == IsNormalized::Yes {
        key.to_owned()
    } else {
        key.nfc().collect()
    }
}

/// As [`normalise`], reusing `key` when it is already trimmed and in NFC.
fn normalise_owned(key: String) -> String {
    if key.trim().len() == key.len() && is_nfc_quick(key.chars()) == IsNormalized::Yes {
        key
    } else {
        normalise(&key)
    }
}

impl Input {
    /// Builds an input from rows (each with its key and payload cell), checking every rule.
    /// `place(i)` names row `i` in errors.
    fn build(
        header: Vec<String>,
        rows: Vec<Vec<String>>,
        cells: Vec<(String, Option<String>)>,
        want_payload: bool,
        place: impl Fn(usize) -> String,
    ) -> Result<Input, PsiError> {
        // Each distinct key is held once, by the index, and moved into `keys` at the end.
        let mut index: HashMap<String, usize> = HashMap::with_capacity(cells.len());
        let mut rows_of: Vec<Vec<usize>> = Vec::with_capacity(cells.len());
        let mut payloads = Vec::new();
        let mut duplicates = 0;
        for (i, (key, payload)) in cells.into_iter().enumerate() {
            let key = normalise_owned(key);
            if key.is_empty() {
                return Err(PsiError::Input(format!("{}: the key is empty", place(i))));
            }
            if key.len() > MAX_KEY_BYTES {
                return Err(PsiError::Input(format!(
                    "{}: the key has {} bytes, more than {MAX_KEY_BYTES}",
                    place(i),
                    key.len()
                )));
            }
            let value = if want_payload {
                let text = payload.unwrap_or_default();
                let text = text.trim();
                Some(text.parse::<u64>().map_err(|_| {
                    PsiError::Input(format!(
                        "{}: the payload {text:?} is not a non-negative integer",
                        place(i)
                    ))
                })?)
            } else {
                None
            };
            match index.entry(key) {
                Entry::Occupied(e) => {
                    let k = *e.get();
                    duplicates += 1;
                    rows_of[k].push(i);
                    if let Some(v) = value {
                        payloads[k] = u64::checked_add(payloads[k], v).ok_or_else(|| {
                            PsiError::Input(format!("{}: the payloads of one key overflow", place(i)))
                        })?;
                    }
                }
                Entry::Vacant(e) => {
                    e.insert(rows_of.len());
                    rows_of.push(vec![i]);
                    if let Some(v) = value {
                        payloads.push(v);
                    }
                }
            }
        }
        let mut keys = vec![String::new(); index.len()];
        for (key, k) in index {
            keys[k] = key;
        }
        if keys.is_empty() {
            return Err(PsiError::Input(
                "the input has no keys: an empty set cannot be intersected".into(),
            ));
        }
        if duplicates > 0 {
            tracing::warn!(duplicates, distinct = keys.len(), "duplicate keys merged");
        }
        Ok(Input {
            header,
            rows,
            keys,
            rows_of,
            payloads: want_payload.then_some(payloads),
            duplicates,
        })
    }

    /// The rows of the distinct keys at `matched`, in input order.
    pub fn matching_rows(&self, matched: &[usize]) -> Vec<&[String]> {
        let mut rows: Vec<usize> = matched.iter().flat_map(|&k| self.rows_of[k].iter().copied()).collect();
        rows.sort_unstable();
        rows.into_iter().map(|r| self.rows[r].as_slice()).collect()
    }

    /// Writes the header and the rows of the distinct keys at `matched` as CSV.
    pub fn write_csv(&self, matched: &[usize], out: impl std::io::Write) -> Result<(), PsiError> {
        let mut w = csv::Writer::from_writer(out);
        let io = |e: csv::Error| PsiError::Input(format!("cannot write the output: {e}"));
        w.write_record(&self.header).map_err(io)?;
        for row in self.matching_rows(matched) {
            w.write_record(row).map_err(io)?;
        }
        w.flush()
            .map_err(|e| PsiError::Input(format!("cannot write the output: {e}")))
    }
}

/// Reads a source. `payload` says whether a payload column is needed (intersection-sum).
pub async fn read(source: &Source, payload: bool) -> Result<Input, PsiError> {
    match source {
        Source::Csv {
            path,
            column,
            payload: payload_column,
        } => {
            let (path, column, pc) = (path.clone(), column.clone(), payload_column.clone());
            if payload && pc.is_none() {
                return Err(PsiError::Input("intersection-sum needs a payload column".into()));
            }
            tokio::task::spawn_blocking(move || read_csv(&path, &column, pc.as_deref().filter(|_| payload)))
                .await
                .map_err(|e| PsiError::Input(e.to_string()))?
        }
        Source::Sqlite { path, query } => {
            let (path, query) = (path.clone(), query.clone());
            tokio::task::spawn_blocking(move || read_sqlite(&path, &query, payload))
                .await
                .map_err(|e| PsiError::Input(e.to_string()))?
        }
        Source::Postgres { url, query } => read_postgres(url, query, payload).await,
        Source::Rows(rows) => {
            let header = if payload {
                vec!["key".into(), "value".into()]
            } else {
                vec!["key".into()]
            };
            let mut text = Vec::with_capacity(rows.len());
            let mut cells = Vec::with_capacity(rows.len());
            for (k, v) in rows {
                let v = v.map(|v| v.to_string());
                let mut row = vec![k.clone()];
                if payload {
                    row.push(v.clone().unwrap_or_default());
                }
                text.push(row);
                cells.push((k.clone(), v));
            }
            Input::build(header, text, cells, payload, |i| format!("row {}", i + 1))
        }
    }
}

fn read_csv(path: &std::path::Path, column: &str, payload: Option<&str>) -> Result<Input, PsiError> {
    let err = |e: String| PsiError::Input(format!("{}: {e}", path.display()));
    let mut reader = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| err(e.to_string()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let find = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| err(format!("no column {name:?} (columns: {})", header.join(", "))))
    };
    let key_at = find(column)?;
    let payload_at = payload.map(find).transpose()?;
    let mut rows = Vec::new();
    let mut cells = Vec::new();
    let mut record = csv::StringRecord::new();
    for i in 0.. {
        // Line numbers count the header as line 1.
        if !reader
            .read_record(&mut record)
            .map_err(|e| err(format!("line {}: {e}", i + 2)))?
        {
            break;
        }
        let key = record
            .get(key_at)
            .ok_or_else(|| err(format!("line {}: no {column:?} cell", i + 2)))?
            .to_string();
        let value = payload_at.and_then(|p| record.get(p)).map(str::to_owned);
        cells.push((key, value));
        rows.push(record.iter().map(str::to_owned).collect());
    }
    Input::build(header, rows, cells, payload.is_some(), |i| {
        format!("{} line {}", path.display(), i + 2)
    })
}

fn read_sqlite(path: &std::path::Path, query: &str, payload: bool) -> Result<Input, PsiError> {
    use rusqlite::types::ValueRef;
    let err = |e: String| PsiError::Input(format!("{}: {e}", path.display()));
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| err(e.to_string()))?;
    let mut stmt = conn.prepare(query).map_err(|e| err(e.to_string()))?;
    let want = if payload { 2 } else { 1 };
    if stmt.column_count() < want {
        return Err(err(format!(
            "the query returns {} column(s); it needs the key{}",
            stmt.column_count(),
            if payload { " and the payload" } else { "" }
        )));
    }
    let header: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let mut result = stmt.query([]).map_err(|e| err(e.to_string()))?;
    let mut rows = Vec::new();
    let mut cells = Vec::new();
    let mut n = 0;
    while let Some(row) = result.next().map_err(|e| err(e.to_string()))? {
        n += 1;
        let mut text = Vec::with_capacity(header.len());
        for c in 0..header.len() {
            let cell = match row.get_ref(c).map_err(|e| err(e.to_string()))? {
                ValueRef::Null => String::new(),
                ValueRef::Integer(i) => i.to_string(),
                ValueRef::Real(f) => f.to_string(),
                ValueRef::Text(t) => String::from_utf8(t.to_vec())
                    .map_err(|_| err(format!("row {n} column {}: not UTF-8 text", c + 1)))?,
                ValueRef::Blob(_) => return Err(err(format!("row {n} column {}: a blob is not a key", c + 1))),
            };
            text.push(cell);
        }
        cells.push((text[0].clone(), payload.then(|| text[1].clone())));
        rows.push(text);
    }
    Input::build(header, rows, cells, payload, |i| format!("query row {}", i + 1))
}

async fn read_postgres(url: &str, query: &str, payload: bool) -> Result<Input, PsiError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| PsiError::Input(format!("cannot connect to PostgreSQL: {e}")))?;
    // Any column types: read the first (two) column(s) as text.
    let (header, rows): (Vec<String>, Vec<Vec<String>>) = if payload {
        let wrapped = format!("SELECT (petri_k)::text, (petri_v)::text FROM ({query}) AS petri_q(petri_k, petri_v)");
        let rows: Vec<(Option<String>, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(wrapped))
            .fetch_all(&mut conn)
            .await
            .map_err(|e| PsiError::Input(format!("query failed: {e}")))?;
        (
            vec!["key".into(), "value".into()],
            rows.into_iter()
                .map(|(k, v)| vec![k.unwrap_or_default(), v.unwrap_or_default()])
                .collect(),
        )
    } else {
        let wrapped = format!("SELECT (petri_k)::text FROM ({query}) AS petri_q(petri_k)");
        let rows: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(wrapped))
            .fetch_all(&mut conn)
            .await
            .map_err(|e| PsiError::Input(format!("query failed: {e}")))?;
        (
            vec!["key".into()],
            rows.into_iter().map(|k| vec![k.unwrap_or_default()]).collect(),
        )
    };
    let _ = conn.close().await;
    let cells = rows
        .iter()
        .map(|r| (r[0].clone(), payload.then(|| r[1].clone())))
        .collect();
    Input::build(header, rows, cells, payload, |i| format!("query row {}", i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The quick-check shortcut changes nothing: every key comes out as trimmed NFC.
        #[test]
        fn normalising_equals_trimmed_nfc(key in "[ a-zA-Z0-9\u{300}-\u{36f}\u{e0}-\u{ff}\u{1100}-\u{1175}\u{ac00}-\u{ac10}\u{212b}]{0,12}") {
            let want: String = key.trim().nfc().collect();
            proptest::prop_assert_eq!(normalise(&key), want.clone());
            proptest::prop_assert_eq!(normalise_owned(key), want);
        }
    }

    fn rows(keys: &[&str]) -> Source {
        Source::Rows(keys.iter().map(|k| (k.to_string(), None)).collect())
    }

    #[tokio::test]
    async fn keys_are_trimmed_nfc_normalised_and_merged() {
        let input = read(&rows(&[" caf\u{e9}", "cafe\u{301} ", "Cafe", "x"]), false)
            .await
            .unwrap();
        assert_eq!(input.keys, vec!["caf\u{e9}", "Cafe", "x"]);
        assert_eq!(input.duplicates, 1);
        assert_eq!(input.rows_of[0], vec![0, 1]);
    }

    #[tokio::test]
    async fn bad_inputs_are_clear_errors() {
        let e = read(&rows(&[]), false).await.unwrap_err().to_string();
        assert!(e.contains("empty set"), "{e}");
        let e = read(&rows(&["a", "  "]), false).await.unwrap_err().to_string();
        assert!(e.contains("row 2: the key is empty"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, "id,v\na,1\nb,-2\n").unwrap();
        let src = Source::Csv {
            path: path.clone(),
            column: "id".into(),
            payload: Some("v".into()),
        };
        let e = read(&src, true).await.unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("not a non-negative integer"), "{e}");
        std::fs::write(&path, "id,v\na,1\nb\n").unwrap();
        let e = read(&src, true).await.unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        let src = Source::Csv {
            path,
            column: "nope".into(),
            payload: None,
        };
        let e = read(&src, false).await.unwrap_err().to_string();
        assert!(e.contains("no column \"nope\""), "{e}");
    }

    #[tokio::test]
    async fn sqlite_first_column_is_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE t(id TEXT, amount INTEGER); INSERT INTO t VALUES ('a', 3), ('b', 4), ('a', 5);",
        )
        .unwrap();
        drop(conn);
        let src = Source::Sqlite {
            path,
            query: "SELECT id, amount FROM t".into(),
        };
        let input = read(&src, true).await.unwrap();
        assert_eq!(input.keys, vec!["a", "b"]);
        assert_eq!(input.payloads, Some(vec![8, 4]));
        assert_eq!(input.header, vec!["id", "amount"]);
    }
}
