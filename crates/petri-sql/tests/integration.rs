//! Secure SQL against SQLite: every query runs through PSI, secret sharing and the three-party
//! engine, and its result must equal SQLite's on the plaintext tables.

use petri_sql::{ColType, Table, Value, local, result::compare};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::types::ToSqlOutput;

/// Table `a` (id, g TEXT, region INTEGER, w REAL) and `b` (id, x INTEGER, y REAL, name TEXT) with
/// NULLs, negative and fixed-point values, unicode text, and ids that repeat on both sides when
/// `duplicates` is set.
fn tables(seed: u64, rows: usize, duplicates: bool) -> (Table, Table) {
    let mut rng = StdRng::seed_from_u64(seed);
    let groups = ["north", "south", "ëast", "west"];
    let names = ["ann", "bob", "zoë", "dan"];
    let id = |rng: &mut StdRng, i: usize| {
        if duplicates && rng.random_bool(0.2) {
            rng.random_range(0..rows as i64)
        } else {
            i as i64
        }
    };
    let mut a = Vec::new();
    for i in 0..rows {
        let id = id(&mut rng, i);
        let g = if rng.random_bool(0.1) {
            None
        } else {
            Some(groups[rng.random_range(0..groups.len())].to_string())
        };
        let region = Some(rng.random_range(1..4).to_string());
        let w = Some(format!("{:.2}", rng.random_range(-2.0..3.0)));
        a.push(vec![Some(id.to_string()), g, region, w]);
    }
    let mut b = Vec::new();
    for i in 0..rows {
        // Half of b's ids are outside a's range.
        let id = id(&mut rng, i) + if rng.random_bool(0.5) { rows as i64 } else { 0 };
        let x = (!rng.random_bool(0.15)).then(|| rng.random_range(-40..120).to_string());
        let y = (!rng.random_bool(0.1)).then(|| format!("{:.2}", rng.random_range(-50.0..50.0)));
        let name = Some(names[rng.random_range(0..names.len())].to_string());
        b.push(vec![Some(id.to_string()), x, y, name]);
    }
    let header = |h: &[&str]| h.iter().map(|s| s.to_string()).collect();
    let a = Table::from_text("a", header(&["id", "g", "region", "w"]), a).unwrap();
    let b = Table::from_text("b", header(&["id", "x", "y", "name"]), b).unwrap();
    assert_eq!(a.schema.columns[3].1, ColType::Real);
    assert_eq!(b.schema.columns[1].1, ColType::Integer);
    (a, b)
}

fn sqlite_of(tables: &[&Table]) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    for t in tables {
        let cols: Vec<String> = t
            .schema
            .columns
            .iter()
            .map(|(n, ty)| format!("\"{n}\" {}", ty.sql()))
            .collect();
        conn.execute(&format!("CREATE TABLE {} ({})", t.schema.name, cols.join(", ")), [])
            .unwrap();
        let marks = vec!["?"; cols.len()].join(", ");
        let mut stmt = conn
            .prepare(&format!("INSERT INTO {} VALUES ({marks})", t.schema.name))
            .unwrap();
        for r in 0..t.rows() {
            let row: Vec<ToSqlOutput> = t
                .columns
                .iter()
                .map(|c| match &c[r] {
                    Value::Null => ToSqlOutput::from(rusqlite::types::Null),
                    Value::Int(i) => ToSqlOutput::from(*i),
                    Value::Real(x) => ToSqlOutput::from(*x),
                    Value::Text(s) => ToSqlOutput::from(s.clone()),
                })
                .collect();
            stmt.execute(rusqlite::params_from_iter(row)).unwrap();
        }
    }
    conn
}

fn sqlite_rows(conn: &rusqlite::Connection, query: &str) -> Vec<Vec<Value>> {
    use rusqlite::types::ValueRef;
    let mut stmt = conn.prepare(query).unwrap();
    let width = stmt.column_count();
    let mut rows = stmt.query([]).unwrap();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        out.push(
            (0..width)
                .map(|c| match row.get_ref(c).unwrap() {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Int(i),
                    ValueRef::Real(r) => Value::Real(r),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(_) => panic!("blob"),
                })
                .collect(),
        );
    }
    out
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Text(x), Value::Text(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (x, y) => match (x.as_f64(), y.as_f64()) {
            // Fixed point with 16 fractional bits: each value is within 2^-17 of its decimal.
            (Some(p), Some(q)) => (p - q).abs() <= 0.01 + 1e-4 * q.abs(),
            _ => false,
        },
    }
}

fn sort(rows: &mut [Vec<Value>]) {
    rows.sort_by(|x, y| {
        x.iter()
            .zip(y)
            .map(|(p, q)| compare(p, q))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

#[path = "integration/net.rs"]
mod net;
#[path = "integration/workflow.rs"]
mod workflow;

async fn check(query: &str, tables: &[&Table]) -> local::Report {
    let owned: Vec<Table> = tables.iter().map(|t| (*t).clone()).collect();
    let report = local::run(query, &owned)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    check_against_sqlite(query, tables, &report.result.rows);
    report
}

/// Asserts that `rows` equal SQLite's answer to `query` on the plaintext tables.
fn check_against_sqlite(query: &str, tables: &[&Table], rows: &[Vec<Value>]) {
    let mut want = sqlite_rows(&sqlite_of(tables), query);
    let mut got = rows.to_vec();
    if !query.contains("ORDER BY") {
        sort(&mut want);
        sort(&mut got);
    }
    let equal = want.len() == got.len()
        && want
            .iter()
            .zip(&got)
            .all(|(w, g)| w.len() == g.len() && w.iter().zip(g).all(|(p, q)| same(q, p)));
    assert!(equal, "{query}\n sqlite: {want:?}\n  petri: {got:?}");
}

const QUERIES: &[&str] = &[
    "SELECT g, COUNT(*), SUM(b.x), AVG(b.x) FROM a JOIN b ON a.id = b.id WHERE b.x > 10 GROUP BY g",
    "SELECT COUNT(*), COUNT(x), SUM(y), MIN(x), MAX(y), MIN(w), AVG(y) FROM a JOIN b ON a.id = b.id",
    "SELECT region, name, COUNT(x), SUM(x * 2 - 1), MIN(y), MAX(x) FROM a JOIN b ON a.id = b.id GROUP BY region, name",
    "SELECT g, COUNT(*) FROM a JOIN b ON a.id = b.id WHERE NOT (x > 0 AND y < 5.5) OR g IS NULL GROUP BY g",
    "SELECT g, SUM(x) FROM a JOIN b ON b.id = a.id GROUP BY g HAVING COUNT(*) > 3 AND SUM(x) < 1000",
    "SELECT name, AVG(y), COUNT(*) FROM b WHERE x BETWEEN -5 AND 50 AND name IN ('ann', 'zoë') GROUP BY name",
    "SELECT SUM(w * y), SUM(w + x), COUNT(*) FROM a JOIN b ON a.id = b.id WHERE w >= 0.5 OR y IS NULL",
    "SELECT g, COUNT(*) AS n FROM a JOIN b ON a.id = b.id GROUP BY g ORDER BY n DESC, g LIMIT 2",
    "SELECT COUNT(*), SUM(x), MAX(y) FROM a JOIN b ON a.id = b.id WHERE x > 1000",
    "SELECT g, SUM(x) FROM a JOIN b ON a.id = b.id WHERE x > 1000 GROUP BY g",
    "SELECT COUNT(*) FROM a JOIN b ON a.id = b.id WHERE g <> name AND x <> 7 AND NOT y IS NULL",
    "SELECT region, MIN(-x), MAX(x - y) FROM a JOIN b ON a.id = b.id WHERE x NOT BETWEEN 0 AND 20 GROUP BY region HAVING MIN(x) < 0 OR MAX(y) IS NULL",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_equal_sqlite_on_unique_keys() {
    let (a, b) = tables(1, 60, false);
    for q in QUERIES {
        check(q, &[&a, &b]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_equal_sqlite_with_duplicate_join_keys() {
    let (a, b) = tables(2, 50, true);
    for q in QUERIES {
        check(q, &[&a, &b]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_join_gives_sqlite_s_empty_answers() {
    let (a, b) = tables(3, 20, false);
    // Shift b's ids out of a's range: nothing joins.
    let mut b = b;
    for v in &mut b.columns[0] {
        if let Value::Int(i) = v {
            *i += 1000;
        }
    }
    for q in [
        "SELECT COUNT(*), SUM(x), AVG(y), MIN(x) FROM a JOIN b ON a.id = b.id",
        "SELECT g, COUNT(*) FROM a JOIN b ON a.id = b.id GROUP BY g",
        "SELECT g, name, SUM(x) FROM a JOIN b ON a.id = b.id GROUP BY g, name",
    ] {
        let r = check(q, &[&a, &b]).await;
        assert_eq!(r.psi.as_ref().unwrap().intersection, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_join_keys_and_all_null_columns() {
    let header = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let cell = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let a = Table::from_text(
        "patients",
        header(&["email", "age"]),
        ["ann@x", "bob@y", "zoë@z", "eve@w", ""]
            .iter()
            .zip(["34", "51", "29", "", "40"])
            .map(|(e, a)| vec![cell(e), cell(a)])
            .collect(),
    )
    .unwrap();
    let b = Table::from_text(
        "visits",
        header(&["email", "cost", "note"]),
        [("ann@x", "12.5"), ("ann@x", "7.25"), ("zoë@z", "100"), ("mal@q", "3")]
            .iter()
            .map(|(e, c)| vec![cell(e), cell(c), None])
            .collect(),
    )
    .unwrap();
    for q in [
        "SELECT COUNT(*), SUM(cost), AVG(age), COUNT(note), MAX(note) FROM patients p JOIN visits v ON p.email = v.email",
        "SELECT age, SUM(cost) FROM patients JOIN visits ON patients.email = visits.email GROUP BY age",
        "SELECT COUNT(*) FROM patients JOIN visits ON patients.email = visits.email WHERE v.note IS NULL",
    ] {
        if q.contains("v.note") && !q.contains(" v ") {
            // An alias that is not declared is an error, not a silent match.
            let owned = vec![a.clone(), b.clone()];
            assert!(local::run(q, &owned).await.is_err());
            continue;
        }
        check(q, &[&a, &b]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_are_refused_with_the_row() {
    let header = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let t = Table::from_text(
        "t",
        header(&["id", "big"]),
        vec![vec![Some("1".into()), Some("100000000000000000".into())]],
    )
    .unwrap();
    let e = local::run("SELECT SUM(big) FROM t", &[t])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("row 1") && e.contains("big"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_sqlite_sources() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("a.csv");
    std::fs::write(&csv, "id,v\n1,2.5\n2,\n3,-1\n").unwrap();
    let a = petri_sql::Source::parse(csv.to_str().unwrap())
        .unwrap()
        .read("a")
        .await
        .unwrap();
    let db = dir.path().join("b.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE visits (id INTEGER, n INTEGER); INSERT INTO visits VALUES (1, 5), (3, 7), (3, NULL), (9, 1);",
        )
        .unwrap();
    }
    let b = petri_sql::Source::parse(&format!("sqlite:{}#visits", db.display()))
        .unwrap()
        .read("b")
        .await
        .unwrap();
    check(
        "SELECT COUNT(*), SUM(v), SUM(n), MIN(v * n) FROM a JOIN b ON a.id = b.id",
        &[&a, &b],
    )
    .await;
}

/// PostgreSQL as a table source. Runs whenever `PETRI_TEST_DATABASE_URL` is set (CI sets it),
/// and fails if that database cannot be reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_source() {
    let Ok(url) = std::env::var("PETRI_TEST_DATABASE_URL") else {
        eprintln!("PETRI_TEST_DATABASE_URL is not set: the PostgreSQL source is not tested here");
        return;
    };
    let table = format!("petri_sql_test_{}", std::process::id());
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .expect("PETRI_TEST_DATABASE_URL is set but the database cannot be reached");
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {table}")))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (id BIGINT, score DOUBLE PRECISION, tag TEXT)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} VALUES (1, 1.5, 'x'), (2, NULL, 'y'), (3, -2.25, 'x'), (4, 10, NULL)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let source = petri_sql::Source::parse(&format!("{url}#{table}")).unwrap();
    let read = source.read("p").await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let p = read.unwrap();
    assert_eq!(p.schema.columns[1].1, ColType::Real);
    check("SELECT tag, COUNT(*), SUM(score) FROM p GROUP BY tag", &[&p]).await;
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

        #[test]
        fn random_tables_equal_sqlite(seed in any::<u64>(), rows in 1usize..40, dup in any::<bool>(), q in 0usize..QUERIES.len()) {
            let (a, b) = tables(seed, rows, dup);
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(check(QUERIES[q], &[&a, &b]));
        }
    }
}

/// No compute node sees a value in clear: neither in its input shares nor in any message it
/// receives while computing. Values are random 40-bit numbers, so finding one by chance among the
/// bytes seen has negligible probability.
#[test]
fn compute_nodes_see_no_value_in_clear() {
    use petri_sql::owner::{self, Alignment};
    let mut rng = StdRng::seed_from_u64(7);
    let rows = 300;
    let x: Vec<i64> = (0..rows).map(|_| rng.random_range(1i64 << 39..1i64 << 40)).collect();
    let header = vec!["g".to_string(), "x".to_string()];
    let t = Table::from_text(
        "t",
        header,
        x.iter()
            .enumerate()
            .map(|(i, v)| vec![Some(["p", "q", "r"][i % 3].to_string()), Some(v.to_string())])
            .collect(),
    )
    .unwrap();
    let plan = petri_sql::plan(
        "SELECT g, SUM(x), MIN(x), COUNT(*) FROM t WHERE x > 824633720832 GROUP BY g",
        std::slice::from_ref(&t.schema),
    )
    .unwrap();
    let c = owner::contribute(&plan, 0, &t, &Alignment::all(&t)).unwrap();
    let shares = owner::share(&c);
    let logs: Vec<petri_mpc::transport::MessageLog> = (0..3).map(|_| Default::default()).collect();
    let transports: Vec<_> = petri_mpc::transport::local(std::time::Duration::from_secs(60))
        .into_iter()
        .zip(&logs)
        .map(|(t, log)| petri_mpc::transport::Recording::new(t, log.clone()))
        .collect();
    let (outputs, _) = local::compute_with(&plan, std::slice::from_ref(&shares), transports).unwrap();
    let result = petri_sql::result::reveal(&plan, [&outputs[0], &outputs[1], &outputs[2]]).unwrap();
    assert_eq!(result.rows.len(), 3);
    for (i, share) in shares.iter().enumerate() {
        let mut seen: Vec<u8> = Vec::new();
        for (_, v, ok) in &share.columns {
            for part in [v.parts().0, v.parts().1, ok.parts().0, ok.parts().1] {
                seen.extend(part.iter().flat_map(|w| w.to_le_bytes()));
            }
        }
        for (_, msg) in logs[i].lock().unwrap().iter() {
            seen.extend_from_slice(msg);
        }
        assert!(
            seen.len() > 8 * rows * 4,
            "node {i} saw too little to be a meaningful check"
        );
        for v in &x {
            let needle = (*v as u64).to_le_bytes();
            assert!(
                !seen.windows(8).any(|w| w == needle),
                "compute node {i} saw the value {v} in clear"
            );
        }
    }
}
