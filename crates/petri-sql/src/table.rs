//! A party's table: read from a CSV file, an SQLite table or a PostgreSQL table, with each
//! column's type inferred from its values (INTEGER, REAL or TEXT, as SQLite's type affinity would
//! store them). Only the owner ever holds a [`Table`]; what leaves its site is its [`Schema`]
//! (column names and types) and, for a query, secret shares.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::SqlError;

/// The most rows a table may have.
pub const MAX_ROWS: usize = 1 << 24;

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColType {
    /// 64-bit signed integers.
    Integer,
    /// Real numbers, carried as fixed point on shares.
    Real,
    /// Text: compared for equality (by hash) and used as group labels.
    Text,
}

impl ColType {
    /// The SQL name.
    pub fn sql(self) -> &'static str {
        match self {
            ColType::Integer => "INTEGER",
            ColType::Real => "REAL",
            ColType::Text => "TEXT",
        }
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A real number.
    Real(f64),
    /// Text.
    Text(String),
}

impl Value {
    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Real(r) => Some(*r),
            _ => None,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Int(i) => write!(f, "{i}"),
            Value::Real(r) => write!(f, "{r}"),
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// A table's public description: its name and its columns' names and types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The table's name in queries.
    pub name: String,
    /// Column names and types, in order.
    pub columns: Vec<(String, ColType)>,
}

impl Schema {
    /// The index of a column (names compare case-insensitively, as SQL's do).
    pub fn find(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|(c, _)| c.eq_ignore_ascii_case(column))
    }
}

/// A table held by its owner.
#[derive(Debug, Clone)]
pub struct Table {
    /// Name and column types.
    pub schema: Schema,
    /// Columns of cells, one vector per column.
    pub columns: Vec<Vec<Value>>,
}

impl Table {
    /// Rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    /// Builds a table from text cells (an empty cell is NULL), inferring each column's type:
    /// INTEGER if every non-NULL cell is an integer, REAL if every one is a number, else TEXT.
    pub fn from_text(name: &str, header: Vec<String>, rows: Vec<Vec<Option<String>>>) -> Result<Table, SqlError> {
        check_name(name)?;
        let width = header.len();
        if width == 0 {
            return Err(SqlError::Input(format!("table {name} has no columns")));
        }
        for (i, h) in header.iter().enumerate() {
            if h.trim().is_empty() {
                return Err(SqlError::Input(format!("table {name}: column {} has no name", i + 1)));
            }
            if header[..i].iter().any(|o| o.trim().eq_ignore_ascii_case(h.trim())) {
                return Err(SqlError::Input(format!("table {name}: column {h:?} appears twice")));
            }
        }
        if rows.len() > MAX_ROWS {
            return Err(SqlError::Input(format!(
                "table {name} has {} rows, more than {MAX_ROWS}",
                rows.len()
            )));
        }
        let mut text: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(rows.len()); width];
        for (r, row) in rows.into_iter().enumerate() {
            if row.len() != width {
                return Err(SqlError::Input(format!(
                    "table {name}, row {}: {} cells where the header has {width}",
                    r + 1,
                    row.len()
                )));
            }
            for (c, cell) in row.into_iter().enumerate() {
                text[c].push(cell.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()));
            }
        }
        let mut schema = Schema {
            name: name.to_string(),
            columns: Vec::with_capacity(width),
        };
        let mut columns = Vec::with_capacity(width);
        for (h, cells) in header.into_iter().zip(text) {
            let ty = infer(&cells);
            let values = cells
                .into_iter()
                .map(|c| match c {
                    None => Value::Null,
                    Some(s) => match ty {
                        ColType::Integer => s.parse().map(Value::Int).unwrap_or(Value::Null),
                        ColType::Real => s.parse().map(Value::Real).unwrap_or(Value::Null),
                        ColType::Text => Value::Text(s),
                    },
                })
                .collect();
            schema.columns.push((h.trim().to_string(), ty));
            columns.push(values);
        }
        Ok(Table { schema, columns })
    }

    /// Builds a table from typed rows (SQLite and PostgreSQL sources), checking that each
    /// column holds one type (integers may sit in a REAL column).
    pub fn from_values(name: &str, header: Vec<String>, rows: Vec<Vec<Value>>) -> Result<Table, SqlError> {
        let text = rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| match v {
                        Value::Null => None,
                        Value::Int(i) => Some(i.to_string()),
                        Value::Real(r) => Some(format!("{r:?}")),
                        Value::Text(t) => Some(t),
                    })
                    .collect()
            })
            .collect();
        Table::from_text(name, header, text)
    }
}

fn infer(cells: &[Option<String>]) -> ColType {
    let present = || cells.iter().flatten();
    if present().all(|s| s.parse::<i64>().is_ok()) {
        ColType::Integer
    } else if present().all(|s| s.parse::<f64>().is_ok_and(f64::is_finite)) {
        ColType::Real
    } else {
        ColType::Text
    }
}

/// Table names are SQL identifiers: a letter or `_`, then letters, digits and `_`.
pub fn check_name(name: &str) -> Result<(), SqlError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(SqlError::Input(format!(
            "{name:?} is not a table name (letters, digits and _, starting with a letter)"
        )))
    }
}

/// Where a table comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A CSV file with a header row; an empty cell is NULL.
    Csv(PathBuf),
    /// A table of an SQLite file (opened read-only).
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The table.
        table: String,
    },
    /// A table of a PostgreSQL database.
    Postgres {
        /// `postgres://` URL.
        url: String,
        /// The table.
        table: String,
    },
}

impl Source {
    /// Parses `PATH.csv`, `sqlite:PATH#TABLE` or `postgres://...#TABLE`.
    pub fn parse(text: &str) -> Result<Source, SqlError> {
        let split = |rest: &str| -> Result<(String, String), SqlError> {
            let (loc, table) = rest.rsplit_once('#').ok_or_else(|| {
                SqlError::Input(format!(
                    "{text:?}: name the table after '#' (for example sqlite:data.db#patients)"
                ))
            })?;
            check_name(table)?;
            Ok((loc.to_string(), table.to_string()))
        };
        if let Some(rest) = text.strip_prefix("sqlite:") {
            let (path, table) = split(rest)?;
            Ok(Source::Sqlite {
                path: path.into(),
                table,
            })
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let (url, table) = split(text)?;
            Ok(Source::Postgres { url, table })
        } else {
            Ok(Source::Csv(text.into()))
        }
    }

    /// Reads the table, naming it `name`.
    pub async fn read(&self, name: &str) -> Result<Table, SqlError> {
        match self {
            Source::Csv(path) => {
                let (path, name) = (path.clone(), name.to_string());
                tokio::task::spawn_blocking(move || read_csv(&path, &name))
                    .await
                    .map_err(|e| SqlError::Input(e.to_string()))?
            }
            Source::Sqlite { path, table } => {
                let (path, table, name) = (path.clone(), table.clone(), name.to_string());
                tokio::task::spawn_blocking(move || read_sqlite(&path, &table, &name))
                    .await
                    .map_err(|e| SqlError::Input(e.to_string()))?
            }
            Source::Postgres { url, table } => read_postgres(url, table, name).await,
        }
    }
}

/// Reads a CSV file with a header row.
pub fn read_csv(path: &Path, name: &str) -> Result<Table, SqlError> {
    let err = |e: String| SqlError::Input(format!("{}: {e}", path.display()));
    let mut reader = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| err(e.to_string()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| err(format!("line {}: {e}", i + 2)))?;
        if rows.len() == MAX_ROWS {
            return Err(err(format!("more than {MAX_ROWS} rows")));
        }
        rows.push(record.iter().map(|c| Some(c.to_string())).collect());
    }
    Table::from_text(name, header, rows).map_err(|e| err(e.to_string()))
}

fn read_sqlite(path: &Path, table: &str, name: &str) -> Result<Table, SqlError> {
    use rusqlite::types::ValueRef;
    let err = |e: String| SqlError::Input(format!("{}: {e}", path.display()));
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| err(e.to_string()))?;
    // The table name was checked to be an identifier, so quoting it is enough.
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM \"{table}\""))
        .map_err(|e| err(e.to_string()))?;
    let header: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let width = header.len();
    let mut rows = Vec::new();
    let mut query = stmt.query([]).map_err(|e| err(e.to_string()))?;
    while let Some(row) = query.next().map_err(|e| err(e.to_string()))? {
        if rows.len() == MAX_ROWS {
            return Err(err(format!("more than {MAX_ROWS} rows")));
        }
        let mut cells = Vec::with_capacity(width);
        for (c, column) in header.iter().enumerate() {
            cells.push(match row.get_ref(c).map_err(|e| err(e.to_string()))? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::Int(i),
                ValueRef::Real(r) => Value::Real(r),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(_) => return Err(err(format!("column {column} holds a BLOB"))),
            });
        }
        rows.push(cells);
    }
    Table::from_values(name, header, rows).map_err(|e| err(e.to_string()))
}

async fn read_postgres(url: &str, table: &str, name: &str) -> Result<Table, SqlError> {
    use sqlx::{Column, Row, TypeInfo};
    let err = |e: String| SqlError::Input(format!("postgres table {table}: {e}"));
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| err(format!("cannot connect to PostgreSQL: {e}")))?;
    // The table name was checked to be an identifier, so quoting it is enough.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT * FROM \"{table}\" LIMIT {}",
        MAX_ROWS + 1
    )))
    .fetch_all(&mut conn)
    .await
    .map_err(|e| err(e.to_string()))?;
    if rows.len() > MAX_ROWS {
        return Err(err(format!("more than {MAX_ROWS} rows")));
    }
    let Some(first) = rows.first() else {
        return Err(err(
            "the table is empty (its column types cannot be read from an empty result)".into(),
        ));
    };
    let header: Vec<String> = first.columns().iter().map(|c| c.name().to_string()).collect();
    let types: Vec<String> = first
        .columns()
        .iter()
        .map(|c| c.type_info().name().to_ascii_uppercase())
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut cells = Vec::with_capacity(header.len());
        for (c, ty) in types.iter().enumerate() {
            let v = match ty.as_str() {
                "INT2" => row
                    .try_get::<Option<i16>, _>(c)
                    .map(|v| v.map(|v| Value::Int(v.into()))),
                "INT4" => row
                    .try_get::<Option<i32>, _>(c)
                    .map(|v| v.map(|v| Value::Int(v.into()))),
                "INT8" => row.try_get::<Option<i64>, _>(c).map(|v| v.map(Value::Int)),
                "FLOAT4" => row
                    .try_get::<Option<f32>, _>(c)
                    .map(|v| v.map(|v| Value::Real(v.into()))),
                "FLOAT8" => row.try_get::<Option<f64>, _>(c).map(|v| v.map(Value::Real)),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => {
                    row.try_get::<Option<String>, _>(c).map(|v| v.map(Value::Text))
                }
                other => {
                    return Err(err(format!(
                        "column {} has type {other}, which petri sql does not read",
                        header[c]
                    )));
                }
            }
            .map_err(|e| err(e.to_string()))?;
            cells.push(v.unwrap_or(Value::Null));
        }
        out.push(cells);
    }
    Table::from_values(name, header, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_inferred_and_empty_cells_are_null() {
        let t = Table::from_text(
            "t",
            vec!["a".into(), "b".into(), "c".into()],
            vec![
                vec![Some("1".into()), Some("1.5".into()), Some("x".into())],
                vec![Some("".into()), Some("2".into()), Some("3".into())],
            ],
        )
        .unwrap();
        assert_eq!(
            t.schema.columns.iter().map(|c| c.1).collect::<Vec<_>>(),
            [ColType::Integer, ColType::Real, ColType::Text]
        );
        assert_eq!(t.columns[0][1], Value::Null);
        assert_eq!(t.columns[1][1], Value::Real(2.0));
        assert_eq!(t.columns[2][1], Value::Text("3".into()));
    }

    #[test]
    fn bad_tables_are_refused_with_the_reason() {
        let e = Table::from_text("t", vec!["a".into(), "A".into()], vec![]).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        let e = Table::from_text("t", vec!["a".into()], vec![vec![None, None]]).unwrap_err();
        assert!(e.to_string().contains("row 1"), "{e}");
        assert!(Table::from_text("1t", vec!["a".into()], vec![]).is_err());
        assert!(Source::parse("sqlite:x.db").is_err());
        assert_eq!(
            Source::parse("sqlite:x.db#t").unwrap(),
            Source::Sqlite {
                path: "x.db".into(),
                table: "t".into()
            }
        );
    }
}
