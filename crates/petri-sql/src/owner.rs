//! What a table's owner does: hand its join keys to PSI, order its joined rows by the
//! intersection, encode the columns the query reads as ring elements, one-hot encode its GROUP BY
//! columns, and split everything into three replicated secret sharings, one per compute node.
//!
//! Encodings (all in Z_2^64): INTEGER as two's complement; REAL as fixed point with [`FRAC`]
//! fractional bits; TEXT as a 64-bit SHA3 hash (equality only); NULL as 0 with a validity bit 0.
//! Each column travels as two sharings, its values and its validity bits. GROUP BY columns
//! travel as a 0/1 matrix (one row per distinct group value among the joined rows) and the
//! groups' labels (their values as JSON bytes, packed in words), which only the analyst opens, and
//! only for groups that appear in the result.

use std::collections::{BTreeMap, HashMap, HashSet};

use petri_mpc::{AShare, split};
use sha3::{Digest, Sha3_256};

use crate::SqlError;
use crate::plan::Plan;
use crate::table::{ColType, Table, Value};

/// Fractional bits of REAL values on shares.
pub const FRAC: u32 = 16;

/// The largest magnitude of an INTEGER value (and of a REAL value times 2^FRAC) that a query
/// may read: sums of up to 2^16 rows and comparisons with rescaled values stay inside i64.
pub const MAX_ABS: i64 = 1 << 46;

/// A join key as PSI compares it: the column type and the value (text hex-encoded, so PSI's
/// trimming and Unicode normalisation leave it exactly as SQL compares it).
pub fn join_key(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Int(i) => Some(format!("i:{i}")),
        Value::Real(r) => Some(format!("r:{r:?}")),
        Value::Text(t) => Some(format!("t:{}", hex(t.as_bytes()))),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The distinct join keys of a column (NULL keys never join).
pub fn distinct_keys(table: &Table, column: usize) -> Vec<String> {
    let mut seen = HashSet::new();
    table.columns[column]
        .iter()
        .filter_map(join_key)
        .filter(|k| seen.insert(k.clone()))
        .collect()
}

/// Which of a table's rows take part, in the order both owners agree on.
#[derive(Debug, Clone)]
pub struct Alignment {
    /// Row indices, grouped by join key in the sorted order of the intersection.
    pub rows: Vec<usize>,
    /// For each key of the intersection (sorted), how many of this table's rows carry it; `None`
    /// without a join (every row takes part).
    pub multiplicity: Option<Vec<u32>>,
}

impl Alignment {
    /// Every row, in table order (a query on one table).
    pub fn all(table: &Table) -> Alignment {
        Alignment {
            rows: (0..table.rows()).collect(),
            multiplicity: None,
        }
    }

    /// The rows whose key is in `intersection`, ordered by key.
    pub fn joined(table: &Table, column: usize, intersection: &HashSet<String>) -> Alignment {
        let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (r, v) in table.columns[column].iter().enumerate() {
            if let Some(k) = join_key(v)
                && intersection.contains(&k)
            {
                by_key.entry(k).or_default().push(r);
            }
        }
        let multiplicity = by_key.values().map(|rows| rows.len() as u32).collect();
        Alignment {
            rows: by_key.into_values().flatten().collect(),
            multiplicity: Some(multiplicity),
        }
    }
}

/// An owner's encoded input, before sharing.
#[derive(Debug, Clone)]
pub struct Contribution {
    /// Joined rows.
    pub rows: usize,
    /// Rows per intersection key (see [`Alignment`]).
    pub multiplicity: Option<Vec<u32>>,
    /// (column index, values, validity bits), for each column the query reads.
    pub columns: Vec<(usize, Vec<u64>, Vec<u64>)>,
    /// The GROUP BY columns of this table, if any.
    pub groups: Option<Groups>,
}

/// One-hot GROUP BY encoding.
#[derive(Debug, Clone)]
pub struct Groups {
    /// Distinct group values among the joined rows.
    pub count: usize,
    /// `count × rows` 0/1 matrix, row-major: entry (g, r) is 1 when row r is in group g.
    pub onehot: Vec<u64>,
    /// Words per label.
    pub width: usize,
    /// `count × width` words: each group's values as JSON, length-prefixed.
    pub labels: Vec<u64>,
}

/// Encodes what table `t` of `plan` contributes, for the aligned rows.
pub fn contribute(plan: &Plan, t: usize, table: &Table, alignment: &Alignment) -> Result<Contribution, SqlError> {
    if table.schema != plan.tables[t] {
        return Err(SqlError::Input(format!(
            "table {} does not have the schema the query was planned for",
            table.schema.name
        )));
    }
    let rows = alignment.rows.len();
    let mut columns = Vec::new();
    for c in plan.columns_of(t) {
        let (name, ty) = &table.schema.columns[c];
        let mut values = Vec::with_capacity(rows);
        let mut valid = Vec::with_capacity(rows);
        for &r in &alignment.rows {
            let v = &table.columns[c][r];
            let word = encode(v, *ty).map_err(|e| {
                SqlError::Input(format!(
                    "table {}, row {}, column {name}: {e}",
                    table.schema.name,
                    r + 1
                ))
            })?;
            values.push(word.unwrap_or(0));
            valid.push(u64::from(word.is_some()));
        }
        columns.push((c, values, valid));
    }
    let group_cols = plan.groups_of(t);
    let groups = (!group_cols.is_empty()).then(|| one_hot(table, &group_cols, &alignment.rows));
    Ok(Contribution {
        rows,
        multiplicity: alignment.multiplicity.clone(),
        columns,
        groups,
    })
}

/// A cell as a ring element (`None` for NULL).
pub fn encode(v: &Value, ty: ColType) -> Result<Option<u64>, String> {
    Ok(Some(match (v, ty) {
        (Value::Null, _) => return Ok(None),
        (Value::Int(i), ColType::Integer) => {
            if i.unsigned_abs() > MAX_ABS as u64 {
                return Err(format!("{i} is outside ±2^46"));
            }
            *i as u64
        }
        (Value::Int(i), ColType::Real) => encode_real(*i as f64)?,
        (Value::Real(r), ColType::Real) => encode_real(*r)?,
        (Value::Text(t), ColType::Text) => text_hash(t),
        (v, ty) => return Err(format!("{v:?} in a {} column", ty.sql())),
    }))
}

fn encode_real(r: f64) -> Result<u64, String> {
    let scaled = (r * f64::from(1u32 << FRAC)).round();
    if !scaled.is_finite() || scaled.abs() > MAX_ABS as f64 {
        return Err(format!("{r} is outside ±2^{}", 46 - FRAC));
    }
    Ok(scaled as i64 as u64)
}

/// A REAL constant (or an INTEGER constant in a REAL context) as a ring element.
pub fn encode_constant(r: f64, frac: u32) -> Result<u64, SqlError> {
    let scaled = (r * 2f64.powi(frac as i32)).round();
    if !scaled.is_finite() || scaled.abs() > 2f64.powi(62) {
        return Err(SqlError::Query(format!("the constant {r} is too large")));
    }
    Ok(scaled as i64 as u64)
}

/// The 64-bit hash TEXT values are compared by.
pub fn text_hash(t: &str) -> u64 {
    let mut h = Sha3_256::new();
    h.update(b"petri-sql/v1/text");
    h.update(t.as_bytes());
    let d = h.finalize();
    let mut w = [0u8; 8];
    w.copy_from_slice(&d[..8]);
    u64::from_le_bytes(w)
}

fn one_hot(table: &Table, cols: &[usize], rows: &[usize]) -> Groups {
    let key_of = |r: usize| -> Vec<Value> { cols.iter().map(|&c| table.columns[c][r].clone()).collect() };
    // Sorted by their JSON, so the order says nothing about the rows.
    let mut distinct: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut row_key = Vec::with_capacity(rows.len());
    for &r in rows {
        let k = key_of(r);
        let json = serde_json::to_string(&k).unwrap_or_default();
        distinct.entry(json.clone()).or_insert(k);
        row_key.push(json);
    }
    let index: HashMap<&str, usize> = distinct.keys().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
    let count = distinct.len();
    let n = rows.len();
    let mut onehot = vec![0u64; count * n];
    for (i, k) in row_key.iter().enumerate() {
        onehot[index[k.as_str()] * n + i] = 1;
    }
    let packed: Vec<Vec<u64>> = distinct.keys().map(|k| pack(k.as_bytes())).collect();
    let width = packed.iter().map(Vec::len).max().unwrap_or(1);
    let mut labels = vec![0u64; count * width];
    for (g, p) in packed.iter().enumerate() {
        labels[g * width..g * width + p.len()].copy_from_slice(p);
    }
    Groups {
        count,
        onehot,
        width,
        labels,
    }
}

/// Bytes as words: the length, then the bytes little-endian, zero-padded.
pub fn pack(bytes: &[u8]) -> Vec<u64> {
    let mut out = vec![bytes.len() as u64];
    for chunk in bytes.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        out.push(u64::from_le_bytes(w));
    }
    out
}

/// The inverse of [`pack`] (`None` if the words do not hold a packed string).
pub fn unpack(words: &[u64]) -> Option<Vec<u8>> {
    let (&len, rest) = words.split_first()?;
    let len = usize::try_from(len).ok()?;
    if len > rest.len() * 8 {
        return None;
    }
    let mut bytes: Vec<u8> = rest.iter().flat_map(|w| w.to_le_bytes()).collect();
    bytes.truncate(len);
    Some(bytes)
}

/// One compute node's shares of a [`Contribution`].
#[derive(Debug, Clone)]
pub struct SharedContribution {
    /// Joined rows.
    pub rows: usize,
    /// Rows per intersection key.
    pub multiplicity: Option<Vec<u32>>,
    /// (column index, values, validity bits).
    pub columns: Vec<(usize, AShare, AShare)>,
    /// GROUP BY: (groups, label width, one-hot matrix, labels).
    pub groups: Option<(usize, usize, AShare, AShare)>,
}

/// Splits a contribution into the three compute nodes' shares (fresh randomness each time).
pub fn share(c: &Contribution) -> Vec<SharedContribution> {
    let mut out: Vec<SharedContribution> = (0..3)
        .map(|_| SharedContribution {
            rows: c.rows,
            multiplicity: c.multiplicity.clone(),
            columns: Vec::with_capacity(c.columns.len()),
            groups: None,
        })
        .collect();
    for (col, values, valid) in &c.columns {
        for (i, (v, ok)) in split(values).into_iter().zip(split(valid)).enumerate() {
            out[i].columns.push((*col, v, ok));
        }
    }
    if let Some(g) = &c.groups {
        for (i, (m, l)) in split(&g.onehot).into_iter().zip(split(&g.labels)).enumerate() {
            out[i].groups = Some((g.count, g.width, m, l));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_bad_words_are_refused() {
        for s in ["", "a", "12345678", "123456789", "[\"ünïcode\",null,3]"] {
            assert_eq!(unpack(&pack(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert!(unpack(&[100, 0]).is_none());
        assert!(unpack(&[]).is_none());
    }

    #[test]
    fn values_outside_the_range_are_refused() {
        assert!(encode(&Value::Int(1 << 47), ColType::Integer).is_err());
        assert_eq!(encode(&Value::Int(-5), ColType::Integer).unwrap(), Some(-5i64 as u64));
        assert_eq!(encode(&Value::Real(1.5), ColType::Real).unwrap(), Some(3 << 15));
        assert_eq!(encode(&Value::Null, ColType::Real).unwrap(), None);
        assert!(encode(&Value::Real(1e12), ColType::Real).is_err());
        assert_ne!(text_hash("a"), text_hash("b"));
    }
}
