use super::*;

fn schemas() -> Vec<Schema> {
    vec![
        Schema {
            name: "a".into(),
            columns: vec![
                ("id".into(), ColType::Integer),
                ("g".into(), ColType::Text),
                ("w".into(), ColType::Real),
            ],
        },
        Schema {
            name: "b".into(),
            columns: vec![
                ("id".into(), ColType::Integer),
                ("x".into(), ColType::Integer),
                ("name".into(), ColType::Text),
            ],
        },
    ]
}

fn check(q: &str) -> Result<Plan, SqlError> {
    plan(q, &schemas())
}

#[test]
fn the_issue_query_plans() {
    let p =
        check("SELECT g, COUNT(*), SUM(b.x), AVG(b.x) FROM a JOIN b ON a.id = b.id WHERE b.x > 10 GROUP BY g").unwrap();
    assert_eq!(
        p.join,
        Some((ColRef { table: 0, column: 0 }, ColRef { table: 1, column: 0 }))
    );
    assert_eq!(p.group_by, vec![ColRef { table: 0, column: 1 }]);
    assert_eq!(p.aggregates.len(), 3);
    assert_eq!(p.columns_of(1), vec![1]);
    assert!(p.columns_of(0).is_empty());
    assert_eq!(p.outputs[0].1, Output::Group(0));
}

#[test]
fn aliases_order_by_limit_and_repeated_aggregates() {
    let p = check(
        "SELECT t.g AS grp, SUM(u.x) s FROM a t JOIN b u ON u.id = t.id GROUP BY t.g HAVING SUM(u.x) > 3 ORDER BY s DESC, 1 LIMIT 5",
    )
    .unwrap();
    assert_eq!(p.aggregates.len(), 1, "SUM(u.x) named twice is computed once");
    assert_eq!(p.order_by, vec![(1, true), (0, false)]);
    assert_eq!(p.limit, Some(5));
    assert_eq!(p.outputs[0].0, "grp");
}

#[test]
fn unsupported_sql_names_the_construct() {
    let cases = [
        ("SELECT * FROM a", "never rows"),
        ("SELECT id FROM a", "GROUP BY"),
        ("SELECT COUNT(*) FROM a LEFT JOIN b ON a.id = b.id", "INNER JOIN"),
        ("SELECT COUNT(*) FROM a, b", "comma joins"),
        ("SELECT COUNT(*) FROM a JOIN b ON a.id < b.id", "one equality"),
        ("SELECT COUNT(DISTINCT x) FROM b", "DISTINCT"),
        ("SELECT SUM(x / 2) FROM b", "division"),
        (
            "SELECT COUNT(*) FROM b WHERE name < 'x'",
            "ordering comparisons on TEXT",
        ),
        ("SELECT SUM(name) FROM b", "of TEXT"),
        ("SELECT COUNT(*) FROM b WHERE name LIKE 'x%'", "expression"),
        ("SELECT COUNT(*) FROM b UNION SELECT COUNT(*) FROM a", "set operations"),
        ("SELECT COUNT(*) FROM (SELECT * FROM b) s", "subqueries"),
        ("DELETE FROM b", "only SELECT"),
        ("SELECT x, COUNT(*) FROM b GROUP BY x + 1", "only columns"),
        ("SELECT COUNT(*) FROM b HAVING AVG(x) > 1", "AVG in HAVING"),
        ("SELECT COUNT(*) FROM b WHERE upper(name) = 'X'", "function upper"),
        ("WITH t AS (SELECT 1) SELECT COUNT(*) FROM b", "WITH"),
        (
            "SELECT COUNT(*) FROM a JOIN b ON a.id = b.id JOIN a c ON c.id = b.id",
            "more than two",
        ),
    ];
    for (q, want) in cases {
        let e = check(q).expect_err(q).to_string();
        assert!(e.contains(want), "{q}: {e}");
    }
}

#[test]
fn wrong_queries_say_why() {
    let cases = [
        ("SELECT COUNT(*) FROM c", "no table c"),
        ("SELECT COUNT(*) FROM b WHERE y > 1", "no column y"),
        ("SELECT COUNT(*) FROM a JOIN b ON a.id = b.id WHERE id > 1", "ambiguous"),
        (
            "SELECT COUNT(*) FROM a JOIN b ON a.g = b.id",
            "both be INTEGER or both TEXT",
        ),
        ("SELECT COUNT(*) FROM b WHERE x", "needs a predicate"),
        ("SELECT COUNT(*) FROM b WHERE name = 3", "compares TEXT with a number"),
        ("SELECT COUNT(*) FROM b WHERE SUM(x) > 1", "not allowed in WHERE"),
        ("SELEC COUNT(*) FROM b", "cannot parse"),
        ("SELECT COUNT(*) FROM b; SELECT 1", "one SELECT"),
    ];
    for (q, want) in cases {
        let e = check(q).expect_err(q).to_string();
        assert!(e.contains(want), "{q}: {e}");
    }
}
