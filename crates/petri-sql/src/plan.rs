//! From SQL text to a [`Plan`]: parsed with `sqlparser` (generic dialect), checked against the
//! two tables' public [`Schema`]s, and reduced to what the secure engine computes. Anything else
//! is refused with an error that names the construct.
//!
//! The accepted shape is
//!
//! ```sql
//! SELECT <group columns and aggregates> FROM a [JOIN b ON a.k = b.k]
//! [WHERE <predicate>] [GROUP BY <columns>] [HAVING <predicate on aggregates>]
//! [ORDER BY <output columns>] [LIMIT n]
//! ```
//!
//! with aggregates COUNT(*), COUNT(e), SUM(e), AVG(e), MIN(e), MAX(e) over row expressions built
//! from columns, numbers, `+ - *`; predicates from `= <> < <= > >=`, `AND OR NOT`, `IS [NOT]
//! NULL`, `[NOT] BETWEEN`, `[NOT] IN (list)`. Text supports `=` and `<>` only. A query must
//! aggregate: petri sql never reveals rows.

use serde::Serialize;
use sqlparser::ast::{self as sql, SetExpr, Statement};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use crate::SqlError;
use crate::table::{ColType, Schema};

/// A column of one of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ColRef {
    /// 0 for the first table in FROM, 1 for the joined one.
    pub table: usize,
    /// Column index in that table's schema.
    pub column: usize,
}

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A checked expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Expr {
    /// A column (row level).
    Col(ColRef),
    /// An integer constant.
    Int(i64),
    /// A real constant.
    Real(f64),
    /// A text constant.
    Text(String),
    /// NULL.
    Null,
    /// `-e`
    Neg(Box<Expr>),
    /// `l op r`
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    /// `l op r`, a predicate.
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// `l AND r`
    And(Box<Expr>, Box<Expr>),
    /// `l OR r`
    Or(Box<Expr>, Box<Expr>),
    /// `NOT e`
    Not(Box<Expr>),
    /// `e IS NULL` (`true`) or `e IS NOT NULL` (`false`).
    IsNull(Box<Expr>, bool),
    /// An aggregate's value (in HAVING).
    Agg(usize),
}

/// What an expression evaluates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// An integer.
    Int,
    /// A real (fixed point on shares).
    Real,
    /// Text (hashed on shares).
    Text,
    /// True, false or unknown.
    Bool,
    /// The NULL literal.
    Null,
}

/// Aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AggFunc {
    /// `COUNT(*)`
    CountStar,
    /// `COUNT(e)`: rows where e is not NULL.
    Count,
    /// `SUM(e)`
    Sum,
    /// `AVG(e)`
    Avg,
    /// `MIN(e)`
    Min,
    /// `MAX(e)`
    Max,
}

/// One aggregate of the query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    /// The function.
    pub func: AggFunc,
    /// Its argument (none for COUNT(*)).
    pub arg: Option<Expr>,
    /// The argument's kind.
    pub kind: Kind,
}

/// What an output column shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Output {
    /// The i-th GROUP BY column.
    Group(usize),
    /// The i-th aggregate.
    Agg(usize),
}

/// A checked query.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The tables' schemas, in FROM order (one or two).
    pub tables: Vec<Schema>,
    /// The equi-join's columns (table 0's, table 1's), if two tables.
    pub join: Option<(ColRef, ColRef)>,
    /// The WHERE predicate.
    pub filter: Option<Expr>,
    /// GROUP BY columns.
    pub group_by: Vec<ColRef>,
    /// Aggregates, each computed once however often it is named.
    pub aggregates: Vec<Aggregate>,
    /// The HAVING predicate.
    pub having: Option<Expr>,
    /// Output column names and what they show.
    pub outputs: Vec<(String, Output)>,
    /// ORDER BY: output column and descending.
    pub order_by: Vec<(usize, bool)>,
    /// LIMIT.
    pub limit: Option<usize>,
}

impl Plan {
    /// The columns table `t` must contribute, each once: those the row expressions read.
    pub fn columns_of(&self, t: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut visit = |e: &Expr| {
            walk(e, &mut |c: ColRef| {
                if c.table == t && !out.contains(&c.column) {
                    out.push(c.column);
                }
            })
        };
        if let Some(f) = &self.filter {
            visit(f);
        }
        for a in &self.aggregates {
            if let Some(arg) = &a.arg {
                visit(arg);
            }
        }
        out
    }

    /// The GROUP BY columns of table `t`, in GROUP BY order.
    pub fn groups_of(&self, t: usize) -> Vec<usize> {
        self.group_by
            .iter()
            .filter(|c| c.table == t)
            .map(|c| c.column)
            .collect()
    }

    /// A column's name as `table.column`.
    pub fn col_name(&self, c: ColRef) -> String {
        format!(
            "{}.{}",
            self.tables[c.table].name, self.tables[c.table].columns[c.column].0
        )
    }

    /// A column's type.
    pub fn col_type(&self, c: ColRef) -> ColType {
        self.tables[c.table].columns[c.column].1
    }
}

fn walk(e: &Expr, f: &mut impl FnMut(ColRef)) {
    match e {
        Expr::Col(c) => f(*c),
        Expr::Neg(x) | Expr::Not(x) | Expr::IsNull(x, _) => walk(x, f),
        Expr::Arith(_, l, r) | Expr::Cmp(_, l, r) | Expr::And(l, r) | Expr::Or(l, r) => {
            walk(l, f);
            walk(r, f);
        }
        Expr::Int(_) | Expr::Real(_) | Expr::Text(_) | Expr::Null | Expr::Agg(_) => {}
    }
}

fn unsupported(what: impl std::fmt::Display) -> SqlError {
    SqlError::Unsupported(what.to_string())
}

fn invalid(what: impl std::fmt::Display) -> SqlError {
    SqlError::Query(what.to_string())
}

/// Parses and checks `text` against the tables available (by name).
pub fn plan(text: &str, schemas: &[Schema]) -> Result<Plan, SqlError> {
    let statements = Parser::parse_sql(&GenericDialect {}, text).map_err(|e| invalid(format!("cannot parse: {e}")))?;
    let [statement] = statements.as_slice() else {
        return Err(invalid(format!(
            "expected one SELECT statement, found {}",
            statements.len()
        )));
    };
    let Statement::Query(query) = statement else {
        return Err(unsupported(format!(
            "only SELECT is supported, not {}",
            first_words(&statement.to_string())
        )));
    };
    if query.with.is_some() {
        return Err(unsupported("WITH (common table expressions)"));
    }
    if query.fetch.is_some() || !query.locks.is_empty() {
        return Err(unsupported("FETCH / FOR UPDATE"));
    }
    let select = match query.body.as_ref() {
        SetExpr::Select(s) => s,
        SetExpr::SetOperation { op, .. } => return Err(unsupported(format!("set operations ({op})"))),
        other => return Err(unsupported(format!("query body {}", first_words(&other.to_string())))),
    };
    if select.distinct.is_some() {
        return Err(unsupported("SELECT DISTINCT"));
    }
    if select.top.is_some() {
        return Err(unsupported("TOP"));
    }
    if select.into.is_some() {
        return Err(unsupported("SELECT INTO"));
    }
    if !select.lateral_views.is_empty() || select.qualify.is_some() || !select.named_window.is_empty() {
        return Err(unsupported("LATERAL VIEW, QUALIFY and WINDOW"));
    }

    let mut b = Builder::from(select.from.as_slice(), schemas)?;
    if let Some(filter) = &select.selection {
        let e = b.expr(filter, Scope::Row)?;
        expect_bool(&b, &e, "WHERE")?;
        b.plan.filter = Some(e);
    }
    match &select.group_by {
        sql::GroupByExpr::Expressions(exprs, modifiers) => {
            if !modifiers.is_empty() {
                return Err(unsupported("GROUP BY modifiers (ROLLUP, CUBE, ...)"));
            }
            for e in exprs {
                let c = b.column(e).map_err(|_| {
                    unsupported(format!(
                        "GROUP BY {e}: only columns can be grouped by (not expressions)"
                    ))
                })?;
                if b.plan.group_by.contains(&c) {
                    return Err(invalid(format!("GROUP BY names {} twice", b.plan.col_name(c))));
                }
                b.plan.group_by.push(c);
            }
        }
        sql::GroupByExpr::All(_) => return Err(unsupported("GROUP BY ALL")),
    }
    for item in &select.projection {
        let (e, alias) = match item {
            sql::SelectItem::UnnamedExpr(e) => (e, None),
            sql::SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            other => {
                return Err(unsupported(format!(
                    "{other} in SELECT: petri sql reveals aggregates, never rows"
                )));
            }
        };
        let output = b.output(e)?;
        let name = alias.unwrap_or_else(|| e.to_string());
        b.plan.outputs.push((name, output));
    }
    if b.plan.outputs.is_empty() {
        return Err(invalid("SELECT lists nothing"));
    }
    if b.plan.aggregates.is_empty() && b.plan.group_by.is_empty() {
        return Err(unsupported(
            "a query without aggregates or GROUP BY: petri sql reveals aggregates, never rows",
        ));
    }
    if let Some(having) = &select.having {
        let e = b.expr(having, Scope::Having)?;
        expect_bool(&b, &e, "HAVING")?;
        if uses_avg(&e, &b.plan.aggregates) {
            return Err(unsupported(
                "AVG in HAVING (division on secret shares): compare SUM(x) with a multiple of COUNT(x)",
            ));
        }
        b.plan.having = Some(e);
    }
    if let Some(order) = &query.order_by {
        let sql::OrderByKind::Expressions(items) = &order.kind else {
            return Err(unsupported("ORDER BY ALL"));
        };
        for item in items {
            let desc = matches!(item.options.sort, Some(sql::OrderBySort::Desc));
            if !matches!(
                item.options.sort,
                None | Some(sql::OrderBySort::Asc | sql::OrderBySort::Desc)
            ) {
                return Err(unsupported(format!("ORDER BY {item}")));
            }
            if item.options.nulls_first.is_some() {
                return Err(unsupported("NULLS FIRST / NULLS LAST"));
            }
            let idx = b.order_target(&item.expr)?;
            b.plan.order_by.push((idx, desc));
        }
    }
    if let Some(limit) = &query.limit_clause {
        match limit {
            sql::LimitClause::LimitOffset {
                limit: Some(l),
                offset: None,
                limit_by,
            } if limit_by.is_empty() => {
                let n = match l {
                    sql::Expr::Value(v) => match &v.value {
                        sql::Value::Number(n, _) => n.parse::<usize>().ok(),
                        _ => None,
                    },
                    _ => None,
                };
                b.plan.limit = Some(n.ok_or_else(|| invalid(format!("LIMIT {l}: expected a non-negative integer")))?);
            }
            other => return Err(unsupported(format!("{other} (only LIMIT n is supported)"))),
        }
    }
    Ok(b.plan)
}

fn uses_avg(e: &Expr, aggregates: &[Aggregate]) -> bool {
    match e {
        Expr::Agg(k) => aggregates[*k].func == AggFunc::Avg,
        Expr::Neg(x) | Expr::Not(x) | Expr::IsNull(x, _) => uses_avg(x, aggregates),
        Expr::Arith(_, l, r) | Expr::Cmp(_, l, r) | Expr::And(l, r) | Expr::Or(l, r) => {
            uses_avg(l, aggregates) || uses_avg(r, aggregates)
        }
        _ => false,
    }
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn expect_bool(b: &Builder, e: &Expr, clause: &str) -> Result<(), SqlError> {
    match b.kind(e) {
        Kind::Bool => Ok(()),
        other => Err(invalid(format!(
            "{clause} needs a predicate, not a value of kind {other:?}"
        ))),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// WHERE and aggregate arguments: columns, no aggregates.
    Row,
    /// HAVING: aggregates, no bare columns.
    Having,
}

struct Builder {
    plan: Plan,
    /// Names by which each table may be qualified (its name and its alias).
    names: Vec<Vec<String>>,
}

impl Builder {
    fn from(from: &[sql::TableWithJoins], schemas: &[Schema]) -> Result<Builder, SqlError> {
        let [twj] = from else {
            return Err(if from.is_empty() {
                invalid("a query needs FROM")
            } else {
                unsupported("FROM a, b (comma joins): write a JOIN b ON a.key = b.key")
            });
        };
        let mut tables = vec![table_factor(&twj.relation, schemas)?];
        let mut on = None;
        match twj.joins.as_slice() {
            [] => {}
            [join] => {
                let constraint = match &join.join_operator {
                    sql::JoinOperator::Join(c) | sql::JoinOperator::Inner(c) => c,
                    other => {
                        return Err(unsupported(format!(
                            "{} (only INNER JOIN is supported)",
                            first_words(&format!("{other:?}")).trim_end_matches('(')
                        )));
                    }
                };
                tables.push(table_factor(&join.relation, schemas)?);
                on = Some(constraint.clone());
            }
            _ => return Err(unsupported("joins of more than two tables")),
        }
        if tables.len() == 2 && tables[0].0.name.eq_ignore_ascii_case(&tables[1].0.name) {
            return Err(unsupported("a self-join"));
        }
        let names = tables
            .iter()
            .map(|(s, alias)| {
                let mut n = vec![s.name.to_ascii_lowercase()];
                if let Some(a) = alias {
                    n.push(a.to_ascii_lowercase());
                }
                n
            })
            .collect();
        let mut b = Builder {
            plan: Plan {
                tables: tables.into_iter().map(|t| t.0).collect(),
                join: None,
                filter: None,
                group_by: Vec::new(),
                aggregates: Vec::new(),
                having: None,
                outputs: Vec::new(),
                order_by: Vec::new(),
                limit: None,
            },
            names,
        };
        if let Some(constraint) = on {
            let sql::JoinConstraint::On(cond) = constraint else {
                return Err(unsupported("JOIN ... USING / NATURAL JOIN: write ON a.key = b.key"));
            };
            let sql::Expr::BinaryOp {
                left,
                op: sql::BinaryOperator::Eq,
                right,
            } = strip(&cond)
            else {
                return Err(unsupported(format!(
                    "JOIN ON {cond}: only one equality of a column of each table"
                )));
            };
            let (l, r) = (b.column(left)?, b.column(right)?);
            let (l, r) = match (l.table, r.table) {
                (0, 1) => (l, r),
                (1, 0) => (r, l),
                _ => {
                    return Err(unsupported(format!(
                        "JOIN ON {cond}: the two columns must come from different tables"
                    )));
                }
            };
            let (lt, rt) = (b.plan.col_type(l), b.plan.col_type(r));
            if lt != rt || lt == ColType::Real {
                return Err(invalid(format!(
                    "JOIN ON {cond}: join keys must both be INTEGER or both TEXT (they are {} and {})",
                    lt.sql(),
                    rt.sql()
                )));
            }
            b.plan.join = Some((l, r));
        }
        Ok(b)
    }

    fn column(&self, e: &sql::Expr) -> Result<ColRef, SqlError> {
        let (qualifier, name) = match strip(e) {
            sql::Expr::Identifier(id) => (None, id.value.clone()),
            sql::Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                (Some(parts[0].value.to_ascii_lowercase()), parts[1].value.clone())
            }
            other => return Err(invalid(format!("{other} is not a column"))),
        };
        let mut found = Vec::new();
        for (t, schema) in self.plan.tables.iter().enumerate() {
            if let Some(q) = &qualifier
                && !self.names[t].contains(q)
            {
                continue;
            }
            if let Some(c) = schema.find(&name) {
                found.push(ColRef { table: t, column: c });
            }
        }
        match found.as_slice() {
            [c] => Ok(*c),
            [] => Err(invalid(match &qualifier {
                Some(q) if !self.names.iter().any(|n| n.contains(q)) => format!("no table {q} in FROM"),
                _ => format!(
                    "no column {e} (columns: {})",
                    self.plan
                        .tables
                        .iter()
                        .flat_map(|t| t.columns.iter().map(move |c| format!("{}.{}", t.name, c.0)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })),
            _ => Err(invalid(format!("column {e} is ambiguous: qualify it with its table"))),
        }
    }

    fn kind(&self, e: &Expr) -> Kind {
        match e {
            Expr::Col(c) => match self.plan.col_type(*c) {
                ColType::Integer => Kind::Int,
                ColType::Real => Kind::Real,
                ColType::Text => Kind::Text,
            },
            Expr::Int(_) => Kind::Int,
            Expr::Real(_) => Kind::Real,
            Expr::Text(_) => Kind::Text,
            Expr::Null => Kind::Null,
            Expr::Neg(x) => self.kind(x),
            Expr::Arith(_, l, r) => match (self.kind(l), self.kind(r)) {
                (Kind::Int, Kind::Int) => Kind::Int,
                (Kind::Null, k) | (k, Kind::Null) if k != Kind::Real => Kind::Int,
                _ => Kind::Real,
            },
            Expr::Cmp(..) | Expr::And(..) | Expr::Or(..) | Expr::Not(_) | Expr::IsNull(..) => Kind::Bool,
            Expr::Agg(i) => {
                let a = &self.plan.aggregates[*i];
                match a.func {
                    AggFunc::CountStar | AggFunc::Count => Kind::Int,
                    AggFunc::Avg => Kind::Real,
                    _ => a.kind,
                }
            }
        }
    }

    fn numeric(&self, e: &Expr, what: &dyn std::fmt::Display) -> Result<(), SqlError> {
        match self.kind(e) {
            Kind::Int | Kind::Real | Kind::Null => Ok(()),
            Kind::Text => Err(unsupported(format!("{what}: arithmetic and ordering on TEXT"))),
            Kind::Bool => Err(invalid(format!("{what}: a predicate where a number is needed"))),
        }
    }

    fn expr(&mut self, e: &sql::Expr, scope: Scope) -> Result<Expr, SqlError> {
        use sql::BinaryOperator as B;
        Ok(match e {
            sql::Expr::Nested(x) => self.expr(x, scope)?,
            sql::Expr::Identifier(_) | sql::Expr::CompoundIdentifier(_) => {
                let c = self.column(e)?;
                if scope == Scope::Having {
                    return Err(unsupported(format!(
                        "column {e} in HAVING: HAVING may compare aggregates only"
                    )));
                }
                Expr::Col(c)
            }
            sql::Expr::Value(v) => literal(&v.value)?,
            sql::Expr::UnaryOp { op, expr } => {
                let x = self.expr(expr, scope)?;
                match op {
                    sql::UnaryOperator::Minus => {
                        self.numeric(&x, e)?;
                        match x {
                            Expr::Int(i) => {
                                Expr::Int(i.checked_neg().ok_or_else(|| invalid(format!("{e} overflows")))?)
                            }
                            Expr::Real(r) => Expr::Real(-r),
                            x => Expr::Neg(Box::new(x)),
                        }
                    }
                    sql::UnaryOperator::Plus => {
                        self.numeric(&x, e)?;
                        x
                    }
                    sql::UnaryOperator::Not => {
                        expect_bool(self, &x, "NOT")?;
                        Expr::Not(Box::new(x))
                    }
                    other => return Err(unsupported(format!("operator {other}"))),
                }
            }
            sql::Expr::BinaryOp { left, op, right } => {
                let (l, r) = (self.expr(left, scope)?, self.expr(right, scope)?);
                match op {
                    B::And | B::Or => {
                        expect_bool(self, &l, &op.to_string())?;
                        expect_bool(self, &r, &op.to_string())?;
                        if *op == B::And {
                            Expr::And(Box::new(l), Box::new(r))
                        } else {
                            Expr::Or(Box::new(l), Box::new(r))
                        }
                    }
                    B::Plus | B::Minus | B::Multiply => {
                        self.numeric(&l, e)?;
                        self.numeric(&r, e)?;
                        let op = match op {
                            B::Plus => ArithOp::Add,
                            B::Minus => ArithOp::Sub,
                            _ => ArithOp::Mul,
                        };
                        Expr::Arith(op, Box::new(l), Box::new(r))
                    }
                    B::Divide | B::Modulo => {
                        return Err(unsupported(format!(
                            "{e}: division on secret shares (use AVG, or divide the revealed result)"
                        )));
                    }
                    B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq => {
                        let cmp = match op {
                            B::Eq => CmpOp::Eq,
                            B::NotEq => CmpOp::Ne,
                            B::Lt => CmpOp::Lt,
                            B::LtEq => CmpOp::Le,
                            B::Gt => CmpOp::Gt,
                            _ => CmpOp::Ge,
                        };
                        self.comparable(&l, &r, cmp, e)?;
                        Expr::Cmp(cmp, Box::new(l), Box::new(r))
                    }
                    other => return Err(unsupported(format!("operator {other}"))),
                }
            }
            sql::Expr::IsNull(x) => Expr::IsNull(Box::new(self.value_expr(x, scope)?), true),
            sql::Expr::IsNotNull(x) => Expr::IsNull(Box::new(self.value_expr(x, scope)?), false),
            sql::Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let x = self.expr(expr, scope)?;
                let (lo, hi) = (self.expr(low, scope)?, self.expr(high, scope)?);
                self.comparable(&x, &lo, CmpOp::Ge, e)?;
                self.comparable(&x, &hi, CmpOp::Le, e)?;
                let both = Expr::And(
                    Box::new(Expr::Cmp(CmpOp::Ge, Box::new(x.clone()), Box::new(lo))),
                    Box::new(Expr::Cmp(CmpOp::Le, Box::new(x), Box::new(hi))),
                );
                if *negated { Expr::Not(Box::new(both)) } else { both }
            }
            sql::Expr::In {
                expr, target, negated, ..
            } => {
                let sql::InTarget::List(list) = target else {
                    return Err(unsupported(format!("IN {target}: only IN (a list of constants)")));
                };
                let x = self.expr(expr, scope)?;
                let mut any: Option<Expr> = None;
                for item in list {
                    let v = self.expr(item, scope)?;
                    self.comparable(&x, &v, CmpOp::Eq, e)?;
                    let eq = Expr::Cmp(CmpOp::Eq, Box::new(x.clone()), Box::new(v));
                    any = Some(match any {
                        None => eq,
                        Some(prev) => Expr::Or(Box::new(prev), Box::new(eq)),
                    });
                }
                let any = any.ok_or_else(|| invalid("IN () with an empty list"))?;
                if *negated { Expr::Not(Box::new(any)) } else { any }
            }
            sql::Expr::Function(f) => {
                if scope == Scope::Row {
                    return Err(if aggregate_name(f).is_some() {
                        invalid(format!(
                            "{e}: aggregates are not allowed in WHERE or inside other aggregates"
                        ))
                    } else {
                        unsupported(format!("function {}", f.name))
                    });
                }
                let i = self.aggregate(f, e)?;
                Expr::Agg(i)
            }
            other => return Err(unsupported(format!("expression {}", first_words(&other.to_string())))),
        })
    }

    /// An operand of IS NULL: a value, not a predicate.
    fn value_expr(&mut self, x: &sql::Expr, scope: Scope) -> Result<Expr, SqlError> {
        let v = self.expr(x, scope)?;
        if self.kind(&v) == Kind::Bool {
            return Err(unsupported(format!("{x} IS NULL on a predicate")));
        }
        Ok(v)
    }

    fn comparable(&self, l: &Expr, r: &Expr, op: CmpOp, e: &sql::Expr) -> Result<(), SqlError> {
        let (a, b) = (self.kind(l), self.kind(r));
        if a == Kind::Bool || b == Kind::Bool {
            return Err(invalid(format!("{e}: compares a predicate")));
        }
        if a == Kind::Text || b == Kind::Text {
            if !matches!(a, Kind::Text | Kind::Null) || !matches!(b, Kind::Text | Kind::Null) {
                return Err(invalid(format!("{e}: compares TEXT with a number")));
            }
            if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return Err(unsupported(format!(
                    "{e}: ordering comparisons on TEXT (only = and <>)"
                )));
            }
        }
        Ok(())
    }

    fn aggregate(&mut self, f: &sql::Function, e: &sql::Expr) -> Result<usize, SqlError> {
        let func = aggregate_name(f).ok_or_else(|| unsupported(format!("function {}", f.name)))?;
        if f.filter.is_some() || f.over.is_some() || !f.within_group.is_empty() {
            return Err(unsupported(format!("{e}: FILTER, OVER and WITHIN GROUP")));
        }
        let sql::FunctionArguments::List(list) = &f.args else {
            return Err(invalid(format!("{e}: expected arguments")));
        };
        if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
            return Err(unsupported(format!("{e}: DISTINCT or clauses inside an aggregate")));
        }
        let [arg] = list.args.as_slice() else {
            return Err(invalid(format!("{e}: takes one argument")));
        };
        let sql::FunctionArg::Unnamed(arg) = arg else {
            return Err(unsupported(format!("{e}: named arguments")));
        };
        let agg = match (func, arg) {
            (AggFunc::Count, sql::FunctionArgExpr::Wildcard) => Aggregate {
                func: AggFunc::CountStar,
                arg: None,
                kind: Kind::Int,
            },
            (_, sql::FunctionArgExpr::Expr(x)) => {
                let a = self.expr(x, Scope::Row)?;
                let kind = self.kind(&a);
                if kind == Kind::Bool {
                    return Err(unsupported(format!("{e}: aggregates of predicates")));
                }
                if func != AggFunc::Count && kind == Kind::Text {
                    return Err(unsupported(format!("{e}: {} of TEXT", f.name)));
                }
                Aggregate {
                    func,
                    arg: Some(a),
                    kind: if kind == Kind::Null { Kind::Int } else { kind },
                }
            }
            _ => return Err(invalid(format!("{e}: only COUNT takes *"))),
        };
        if let Some(i) = self.plan.aggregates.iter().position(|a| *a == agg) {
            return Ok(i);
        }
        self.plan.aggregates.push(agg);
        Ok(self.plan.aggregates.len() - 1)
    }

    fn output(&mut self, e: &sql::Expr) -> Result<Output, SqlError> {
        match strip(e) {
            sql::Expr::Function(f) => Ok(Output::Agg(self.aggregate(f, e)?)),
            x @ (sql::Expr::Identifier(_) | sql::Expr::CompoundIdentifier(_)) => {
                let c = self.column(x)?;
                self.plan
                    .group_by
                    .iter()
                    .position(|g| *g == c)
                    .map(Output::Group)
                    .ok_or_else(|| {
                        invalid(format!(
                            "column {x} must appear in GROUP BY or inside an aggregate (petri sql reveals aggregates, never rows)"
                        ))
                    })
            }
            other => Err(unsupported(format!(
                "{other} in SELECT: list GROUP BY columns and aggregates (expressions go inside the aggregate)"
            ))),
        }
    }

    fn order_target(&mut self, e: &sql::Expr) -> Result<usize, SqlError> {
        let e = strip(e);
        // An output name or alias, a position, or an output's expression.
        if let sql::Expr::Identifier(id) = e
            && let Some(i) = self
                .plan
                .outputs
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(&id.value))
        {
            return Ok(i);
        }
        if let sql::Expr::Value(v) = e
            && let sql::Value::Number(n, _) = &v.value
        {
            let k: usize = n.parse().map_err(|_| invalid(format!("ORDER BY {n}")))?;
            return if (1..=self.plan.outputs.len()).contains(&k) {
                Ok(k - 1)
            } else {
                Err(invalid(format!(
                    "ORDER BY {k}: there are {} output columns",
                    self.plan.outputs.len()
                )))
            };
        }
        let target = self.output(e)?;
        self.plan
            .outputs
            .iter()
            .position(|(_, o)| *o == target)
            .ok_or_else(|| unsupported(format!("ORDER BY {e}: order by an output column")))
    }
}

fn strip(e: &sql::Expr) -> &sql::Expr {
    match e {
        sql::Expr::Nested(x) => strip(x),
        other => other,
    }
}

fn aggregate_name(f: &sql::Function) -> Option<AggFunc> {
    let name = f.name.to_string().to_ascii_uppercase();
    Some(match name.as_str() {
        "COUNT" => AggFunc::Count,
        "SUM" => AggFunc::Sum,
        "AVG" => AggFunc::Avg,
        "MIN" => AggFunc::Min,
        "MAX" => AggFunc::Max,
        _ => return None,
    })
}

fn literal(v: &sql::Value) -> Result<Expr, SqlError> {
    Ok(match v {
        sql::Value::Number(n, _) => match n.parse::<i64>() {
            Ok(i) => Expr::Int(i),
            Err(_) => Expr::Real(
                n.parse::<f64>()
                    .ok()
                    .filter(|r| r.is_finite())
                    .ok_or_else(|| invalid(format!("{n} is not a number petri sql can use")))?,
            ),
        },
        sql::Value::SingleQuotedString(s) => Expr::Text(s.clone()),
        sql::Value::Null => Expr::Null,
        other => return Err(unsupported(format!("literal {other}"))),
    })
}

fn table_factor(f: &sql::TableFactor, schemas: &[Schema]) -> Result<(Schema, Option<String>), SqlError> {
    let sql::TableFactor::Table { name, alias, args, .. } = f else {
        return Err(unsupported(format!("{f} in FROM (subqueries and table functions)")));
    };
    if args.is_some() {
        return Err(unsupported(format!("table function {name}")));
    }
    let text = name.to_string();
    let schema = schemas
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(&text))
        .ok_or_else(|| {
            invalid(format!(
                "no table {text} (tables: {})",
                schemas.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?;
    if let Some(a) = alias
        && !a.columns.is_empty()
    {
        return Err(unsupported("column aliases on a table"));
    }
    Ok((schema.clone(), alias.as_ref().map(|a| a.name.value.clone())))
}

#[cfg(test)]
mod tests;
