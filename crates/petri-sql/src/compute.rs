//! What each of the three compute nodes runs (the same steps at every node, on its shares):
//!
//! 1. assemble the joined rows from the owners' aligned shares (local: the pairing of rows comes
//!    from the public multiplicities);
//! 2. evaluate WHERE on shares with SQL's three-valued logic, a predicate being a pair of 0/1
//!    sharings (certainly true, certainly false), so NULLs behave as in SQL;
//! 3. form the groups: the owners' one-hot matrices, multiplied together when both tables have
//!    GROUP BY columns;
//! 4. aggregate: COUNT and SUM are matrix-vector products of the one-hot matrix with the masked
//!    column (one round, one element per group); MIN and MAX replace the rows outside a group by
//!    a sentinel and reduce pairwise by comparison;
//! 5. evaluate HAVING on the aggregates, and keep a group only if it has rows and passes;
//! 6. multiply every output (labels included) by the keep bit, so the analyst learns nothing of
//!    groups the result does not show.
//!
//! Nothing is revealed to the compute nodes: every output leaves as shares for the analyst.

use std::collections::HashMap;

use petri_mpc::{AShare, Party, Transport};

use crate::SqlError;
use crate::owner::{FRAC, SharedContribution, encode_constant, text_hash};
use crate::plan::{AggFunc, ArithOp, CmpOp, ColRef, Expr, Plan};
use crate::table::ColType;

/// MIN/MAX sentinels: outside every value's range, and their difference with any value fits.
const SENTINEL: i64 = 1 << 61;

/// A compute node's shares of the result, by part name (see [`crate::result`]).
#[derive(Debug, Clone)]
pub struct OutputShares {
    /// Candidate groups (rows of every part).
    pub groups: usize,
    /// Named parts, each `groups × width` elements.
    pub parts: Vec<(String, usize, AShare)>,
}

/// A number or text on shares, with its validity (`None`: never NULL).
#[derive(Clone)]
struct Num {
    v: AShare,
    frac: u32,
    valid: Option<AShare>,
}

/// A predicate: 0/1 sharings of "certainly true" and "certainly false".
#[derive(Clone)]
struct Pred {
    t: AShare,
    f: AShare,
}

enum Val {
    Num(Num),
    Pred(Pred),
}

struct Ctx<'a, T: Transport> {
    party: &'a mut Party<T>,
    plan: &'a Plan,
    len: usize,
    cols: HashMap<ColRef, (AShare, AShare)>,
    /// Aggregates (HAVING).
    aggs: Vec<Num>,
}

fn mpc(e: petri_mpc::MpcError) -> SqlError {
    SqlError::Mpc(e)
}

impl<T: Transport> Ctx<'_, T> {
    fn ones(&self) -> AShare {
        self.party.constant(&vec![1; self.len])
    }

    fn constant(&self, word: u64) -> AShare {
        self.party.constant(&vec![word; self.len])
    }

    fn and_valid(&mut self, a: &Option<AShare>, b: &Option<AShare>) -> Result<Option<AShare>, SqlError> {
        Ok(match (a, b) {
            (None, x) | (x, None) => x.clone(),
            (Some(x), Some(y)) => Some(self.party.mul(x, y).map_err(mpc)?),
        })
    }

    fn rescale(x: &Num, frac: u32) -> AShare {
        if x.frac == frac {
            x.v.clone()
        } else {
            x.v.mul_public(1u64 << (frac - x.frac))
        }
    }

    fn eval(&mut self, e: &Expr) -> Result<Val, SqlError> {
        Ok(match e {
            Expr::Col(c) => {
                let (v, valid) =
                    self.cols.get(c).cloned().ok_or_else(|| {
                        SqlError::Protocol(format!("column {} was not shared", self.plan.col_name(*c)))
                    })?;
                let frac = if self.plan.col_type(*c) == ColType::Real {
                    FRAC
                } else {
                    0
                };
                Val::Num(Num {
                    v,
                    frac,
                    valid: Some(valid),
                })
            }
            Expr::Int(i) => Val::Num(Num {
                v: self.constant(*i as u64),
                frac: 0,
                valid: None,
            }),
            Expr::Real(r) => Val::Num(Num {
                v: self.constant(encode_constant(*r, FRAC)?),
                frac: FRAC,
                valid: None,
            }),
            Expr::Text(t) => Val::Num(Num {
                v: self.constant(text_hash(t)),
                frac: 0,
                valid: None,
            }),
            Expr::Null => Val::Num(Num {
                v: AShare::zeros(self.len),
                frac: 0,
                valid: Some(AShare::zeros(self.len)),
            }),
            Expr::Agg(k) => Val::Num(
                self.aggs
                    .get(*k)
                    .cloned()
                    .ok_or_else(|| SqlError::Protocol(format!("aggregate {k} is not available here")))?,
            ),
            Expr::Neg(x) => {
                let x = self.num(x)?;
                Val::Num(Num { v: x.v.neg(), ..x })
            }
            Expr::Arith(op, l, r) => {
                let (l, r) = (self.num(l)?, self.num(r)?);
                let valid = self.and_valid(&l.valid, &r.valid)?;
                match op {
                    ArithOp::Add | ArithOp::Sub => {
                        let frac = l.frac.max(r.frac);
                        let (a, b) = (Self::rescale(&l, frac), Self::rescale(&r, frac));
                        let v = if *op == ArithOp::Add { a.add(&b) } else { a.sub(&b) }.map_err(mpc)?;
                        Val::Num(Num { v, frac, valid })
                    }
                    ArithOp::Mul => {
                        let mut v = self.party.mul(&l.v, &r.v).map_err(mpc)?;
                        let mut frac = l.frac + r.frac;
                        if frac > FRAC {
                            v = self.party.trunc(&v, frac - FRAC).map_err(mpc)?;
                            frac = FRAC;
                        }
                        Val::Num(Num { v, frac, valid })
                    }
                }
            }
            Expr::Cmp(op, l, r) => {
                let (l, r) = (self.num(l)?, self.num(r)?);
                let frac = l.frac.max(r.frac);
                let (a, b) = (Self::rescale(&l, frac), Self::rescale(&r, frac));
                // c is the comparison as a 0/1 sharing; `negate` turns ≥ into not-<, and so on.
                let (bits, negate) = match op {
                    CmpOp::Lt => (self.party.lt(&a, &b), false),
                    CmpOp::Gt => (self.party.lt(&b, &a), false),
                    CmpOp::Ge => (self.party.lt(&a, &b), true),
                    CmpOp::Le => (self.party.lt(&b, &a), true),
                    CmpOp::Eq => (self.party.eq(&a, &b), false),
                    CmpOp::Ne => (self.party.eq(&a, &b), true),
                };
                let c = self.party.bit2a(&bits.map_err(mpc)?, self.len).map_err(mpc)?;
                let c = if negate { self.ones().sub(&c).map_err(mpc)? } else { c };
                let valid = self.and_valid(&l.valid, &r.valid)?;
                Val::Pred(match valid {
                    None => Pred {
                        f: self.ones().sub(&c).map_err(mpc)?,
                        t: c,
                    },
                    Some(valid) => {
                        let t = self.party.mul(&valid, &c).map_err(mpc)?;
                        Pred {
                            f: valid.sub(&t).map_err(mpc)?,
                            t,
                        }
                    }
                })
            }
            Expr::And(l, r) | Expr::Or(l, r) => {
                let (l, r) = (self.pred(l)?, self.pred(r)?);
                let n = self.len;
                // One round for both products: t1·t2 and f1·f2.
                let prod = self
                    .party
                    .mul(&AShare::concat(&[&l.t, &l.f]), &AShare::concat(&[&r.t, &r.f]))
                    .map_err(mpc)?;
                let (tt, ff) = (prod.slice(0, n).map_err(mpc)?, prod.slice(n, 2 * n).map_err(mpc)?);
                let either = |x: &AShare, y: &AShare, both: &AShare| x.add(y).and_then(|s| s.sub(both));
                Val::Pred(if matches!(e, Expr::And(..)) {
                    Pred {
                        t: tt,
                        f: either(&l.f, &r.f, &ff).map_err(mpc)?,
                    }
                } else {
                    Pred {
                        t: either(&l.t, &r.t, &tt).map_err(mpc)?,
                        f: ff,
                    }
                })
            }
            Expr::Not(x) => {
                let p = self.pred(x)?;
                Val::Pred(Pred { t: p.f, f: p.t })
            }
            Expr::IsNull(x, is_null) => {
                let x = self.num(x)?;
                let valid = x.valid.unwrap_or_else(|| self.ones());
                let null = self.ones().sub(&valid).map_err(mpc)?;
                Val::Pred(if *is_null {
                    Pred { t: null, f: valid }
                } else {
                    Pred { t: valid, f: null }
                })
            }
        })
    }

    fn num(&mut self, e: &Expr) -> Result<Num, SqlError> {
        match self.eval(e)? {
            Val::Num(n) => Ok(n),
            Val::Pred(_) => Err(SqlError::Protocol("a predicate where a value was expected".into())),
        }
    }

    fn pred(&mut self, e: &Expr) -> Result<Pred, SqlError> {
        match self.eval(e)? {
            Val::Pred(p) => Ok(p),
            Val::Num(_) => Err(SqlError::Protocol("a value where a predicate was expected".into())),
        }
    }
}

/// Rows of each table, in joined order: the pairs (row of table 0, row of table 1) of every key.
fn joined_rows(inputs: &[&SharedContribution]) -> Result<Vec<Vec<usize>>, SqlError> {
    match inputs {
        [one] => Ok(vec![(0..one.rows).collect()]),
        [a, b] => {
            let (Some(ma), Some(mb)) = (&a.multiplicity, &b.multiplicity) else {
                return Err(SqlError::Protocol(
                    "a joined table came without its multiplicities".into(),
                ));
            };
            if ma.len() != mb.len() {
                return Err(SqlError::Protocol(format!(
                    "the owners disagree on the intersection ({} and {} keys)",
                    ma.len(),
                    mb.len()
                )));
            }
            let sum = |m: &[u32]| m.iter().map(|&x| x as usize).sum::<usize>();
            if sum(ma) != a.rows || sum(mb) != b.rows {
                return Err(SqlError::Protocol(
                    "multiplicities do not add up to the rows shared".into(),
                ));
            }
            let total: usize = ma.iter().zip(mb).map(|(&x, &y)| x as usize * y as usize).sum();
            if total > crate::table::MAX_ROWS {
                return Err(SqlError::Query(format!(
                    "the join has {total} rows, more than {}",
                    crate::table::MAX_ROWS
                )));
            }
            let (mut ia, mut ib) = (Vec::with_capacity(total), Vec::with_capacity(total));
            let (mut oa, mut ob) = (0usize, 0usize);
            for (&x, &y) in ma.iter().zip(mb) {
                for i in 0..x as usize {
                    for j in 0..y as usize {
                        ia.push(oa + i);
                        ib.push(ob + j);
                    }
                }
                oa += x as usize;
                ob += y as usize;
            }
            Ok(vec![ia, ib])
        }
        _ => Err(SqlError::Protocol(format!("{} tables", inputs.len()))),
    }
}

/// Repeats each of the `rows` rows (of `len`) of `x` `times` times in place: row r becomes rows
/// r·times .. r·times + times.
fn repeat_rows(x: &AShare, rows: usize, len: usize, times: usize) -> Result<AShare, SqlError> {
    let idx: Vec<usize> = (0..rows)
        .flat_map(|r| (0..times).flat_map(move |_| r * len..(r + 1) * len))
        .collect();
    x.gather(&idx).map_err(mpc)
}

/// Tiles the whole of `x` `times` times.
fn tile(x: &AShare, times: usize) -> AShare {
    AShare::concat(&vec![x; times])
}

/// Runs the query on this node's shares of the owners' contributions (in FROM order).
pub fn run<T: Transport>(
    party: &mut Party<T>,
    plan: &Plan,
    inputs: &[&SharedContribution],
) -> Result<OutputShares, SqlError> {
    if inputs.len() != plan.tables.len() {
        return Err(SqlError::Protocol(format!(
            "{} contributions for {} tables",
            inputs.len(),
            plan.tables.len()
        )));
    }
    let rows = joined_rows(inputs)?;
    let real_n = rows[0].len();
    // With no joined rows, one dummy row that no predicate lets through keeps every vector
    // non-empty.
    let n = real_n.max(1);
    let live = if real_n == 0 {
        AShare::zeros(1)
    } else {
        party.constant(&vec![1; n])
    };
    let mut cols = HashMap::new();
    for (t, input) in inputs.iter().enumerate() {
        for (c, v, valid) in &input.columns {
            let (v, valid) = if real_n == 0 {
                (AShare::zeros(1), AShare::zeros(1))
            } else {
                (v.gather(&rows[t]).map_err(mpc)?, valid.gather(&rows[t]).map_err(mpc)?)
            };
            cols.insert(ColRef { table: t, column: *c }, (v, valid));
        }
        for c in plan.columns_of(t) {
            if !cols.contains_key(&ColRef { table: t, column: c }) {
                return Err(SqlError::Protocol(format!(
                    "owner of {} did not share column {}",
                    plan.tables[t].name, plan.tables[t].columns[c].0
                )));
            }
        }
    }
    let mut ctx = Ctx {
        party,
        plan,
        len: n,
        cols,
        aggs: Vec::new(),
    };

    // WHERE.
    let w = match &plan.filter {
        None => live,
        Some(f) => {
            let p = ctx.pred(f)?;
            ctx.party.mul(&p.t, &live).map_err(mpc)?
        }
    };

    // Groups: a d × n 0/1 matrix, and each owner's labels per group.
    let mut owned: Vec<(usize, usize, usize, AShare, AShare)> = Vec::new(); // (table, count, width, onehot d_t×n, labels)
    for (t, input) in inputs.iter().enumerate() {
        let expects = !plan.groups_of(t).is_empty();
        match (&input.groups, expects) {
            (Some((count, width, onehot, labels)), true) => {
                if onehot.len() != count * input.rows || labels.len() != count * width {
                    return Err(SqlError::Protocol(format!(
                        "the group encoding of {} has the wrong size",
                        plan.tables[t].name
                    )));
                }
                let m = if real_n == 0 {
                    AShare::zeros(*count)
                } else {
                    let idx: Vec<usize> = (0..*count)
                        .flat_map(|g| rows[t].iter().map(move |&r| g * input.rows + r))
                        .collect();
                    onehot.gather(&idx).map_err(mpc)?
                };
                owned.push((t, *count, *width, m, labels.clone()));
            }
            (None, false) => {}
            _ => {
                return Err(SqlError::Protocol(format!(
                    "owner of {} sent {} group encoding",
                    plan.tables[t].name,
                    if expects { "no" } else { "an unexpected" }
                )));
            }
        }
    }
    let (d, onehot, labels): (usize, AShare, Vec<(usize, usize, AShare)>) = match owned.as_slice() {
        [] => (1, ctx.party.constant(&vec![1; n]), Vec::new()),
        [(t, count, width, m, l)] => (*count, m.clone(), vec![(*t, *width, l.clone())]),
        [(ta, ca, wa, ma, la), (tb, cb, wb, mb, lb)] => {
            // Group (ga, gb) is row ga·cb + gb.
            let left = repeat_rows(ma, *ca, n, *cb)?;
            let right = tile(mb, *ca);
            let m = ctx.party.mul(&left, &right).map_err(mpc)?;
            let la = repeat_rows(la, *ca, *wa, *cb)?;
            let lb = tile(lb, *ca);
            (ca * cb, m, vec![(*ta, *wa, la), (*tb, *wb, lb)])
        }
        _ => return Err(SqlError::Protocol("more than two group encodings".into())),
    };
    if d == 0 {
        return Ok(OutputShares {
            groups: 0,
            parts: Vec::new(),
        });
    }
    if onehot.len() != d * n {
        return Err(SqlError::Protocol("group matrix of the wrong size".into()));
    }

    // Aggregates. Masks first (one round), then the sums (one round), then MIN/MAX.
    let mut args: Vec<Option<Num>> = Vec::with_capacity(plan.aggregates.len());
    for a in &plan.aggregates {
        args.push(match &a.arg {
            None => None,
            Some(e) => Some(ctx.num(e)?),
        });
    }
    let mut masks: Vec<AShare> = Vec::with_capacity(args.len());
    {
        let need: Vec<(&AShare, &AShare)> = args
            .iter()
            .filter_map(|a| a.as_ref().and_then(|a| a.valid.as_ref()).map(|v| (v, &w)))
            .collect();
        let prods = if need.is_empty() {
            Vec::new()
        } else {
            let l = AShare::concat(&need.iter().map(|p| p.0).collect::<Vec<_>>());
            let r = AShare::concat(&need.iter().map(|p| p.1).collect::<Vec<_>>());
            let all = ctx.party.mul(&l, &r).map_err(mpc)?;
            (0..need.len())
                .map(|k| all.slice(k * n, (k + 1) * n))
                .collect::<Result<Vec<_>, _>>()
                .map_err(mpc)?
        };
        let mut prods = prods.into_iter();
        for a in &args {
            masks.push(match a.as_ref().and_then(|a| a.valid.as_ref()) {
                Some(_) => prods.next().ok_or_else(|| SqlError::Protocol("mask count".into()))?,
                None => w.clone(),
            });
        }
    }
    // Values to sum: the masked argument of SUM and AVG (one round for all).
    let sum_idx: Vec<usize> = (0..args.len())
        .filter(|&k| matches!(plan.aggregates[k].func, AggFunc::Sum | AggFunc::Avg))
        .collect();
    let summed: Vec<AShare> = if sum_idx.is_empty() {
        Vec::new()
    } else {
        let l = AShare::concat(&sum_idx.iter().map(|&k| &masks[k]).collect::<Vec<_>>());
        let vals: Vec<&AShare> = sum_idx
            .iter()
            .map(|&k| {
                args[k]
                    .as_ref()
                    .map(|a| &a.v)
                    .ok_or_else(|| SqlError::Protocol("SUM without argument".into()))
            })
            .collect::<Result<_, _>>()?;
        let all = ctx.party.mul(&l, &AShare::concat(&vals)).map_err(mpc)?;
        (0..sum_idx.len())
            .map(|k| all.slice(k * n, (k + 1) * n))
            .collect::<Result<Vec<_>, _>>()
            .map_err(mpc)?
    };
    // Counts of every mask and sums: one matrix-vector product each, d results.
    let count_star = ctx.party.matvec(&onehot, &w).map_err(mpc)?;
    let mut counts = Vec::with_capacity(args.len());
    for (k, m) in masks.iter().enumerate() {
        counts.push(if plan.aggregates[k].arg.is_none() {
            count_star.clone()
        } else {
            ctx.party.matvec(&onehot, m).map_err(mpc)?
        });
    }
    let mut sums = HashMap::new();
    for (j, &k) in sum_idx.iter().enumerate() {
        sums.insert(k, ctx.party.matvec(&onehot, &summed[j]).map_err(mpc)?);
    }
    let mut extremes = HashMap::new();
    for (k, a) in plan.aggregates.iter().enumerate() {
        if matches!(a.func, AggFunc::Min | AggFunc::Max) {
            let arg = args[k]
                .as_ref()
                .ok_or_else(|| SqlError::Protocol("MIN without argument".into()))?;
            let v = extreme(ctx.party, &onehot, &masks[k], &arg.v, d, n, a.func == AggFunc::Min)?;
            extremes.insert(k, v);
        }
    }

    // Which groups are NULL for each aggregate (no non-NULL value), and which are empty.
    let nullable: Vec<usize> = (0..args.len())
        .filter(|&k| !matches!(plan.aggregates[k].func, AggFunc::Count | AggFunc::CountStar))
        .collect();
    let mut zero_of: Vec<&AShare> = nullable.iter().map(|&k| &counts[k]).collect();
    zero_of.push(&count_star);
    let zero_in = AShare::concat(&zero_of);
    let zeros = ctx.party.constant(&vec![0; zero_in.len()]);
    let is_zero = ctx.party.eq(&zero_in, &zeros).map_err(mpc)?;
    let is_zero = ctx.party.bit2a(&is_zero, zero_in.len()).map_err(mpc)?;
    let nonzero = ctx.party.constant(&vec![1; zero_in.len()]).sub(&is_zero).map_err(mpc)?;
    let mut nonnull = HashMap::new();
    for (j, &k) in nullable.iter().enumerate() {
        nonnull.insert(k, nonzero.slice(j * d, (j + 1) * d).map_err(mpc)?);
    }
    let has_rows = nonzero
        .slice(nullable.len() * d, (nullable.len() + 1) * d)
        .map_err(mpc)?;

    // HAVING, on the d groups.
    ctx.len = d;
    ctx.cols.clear();
    ctx.aggs = plan
        .aggregates
        .iter()
        .enumerate()
        .map(|(k, a)| {
            let frac = args[k].as_ref().map_or(0, |x| x.frac);
            match a.func {
                AggFunc::CountStar | AggFunc::Count => Num {
                    v: counts[k].clone(),
                    frac: 0,
                    valid: None,
                },
                AggFunc::Sum | AggFunc::Avg => Num {
                    v: sums[&k].clone(),
                    frac,
                    valid: nonnull.get(&k).cloned(),
                },
                AggFunc::Min | AggFunc::Max => Num {
                    v: extremes[&k].clone(),
                    frac,
                    valid: nonnull.get(&k).cloned(),
                },
            }
        })
        .collect();
    let mut keep = if plan.group_by.is_empty() {
        ctx.party.constant(&vec![1; d])
    } else {
        has_rows
    };
    if let Some(h) = &plan.having {
        let p = ctx.pred(h)?;
        keep = ctx.party.mul(&keep, &p.t).map_err(mpc)?;
    }

    // Outputs, each multiplied by keep (one round for all).
    let mut parts: Vec<(String, usize, AShare)> = Vec::new();
    for (t, width, l) in labels {
        parts.push((format!("label{t}"), width, l));
    }
    for (k, a) in plan.aggregates.iter().enumerate() {
        let value = match a.func {
            AggFunc::CountStar | AggFunc::Count => counts[k].clone(),
            AggFunc::Sum | AggFunc::Avg => sums[&k].clone(),
            AggFunc::Min | AggFunc::Max => extremes[&k].clone(),
        };
        parts.push((format!("agg{k}"), 1, value));
        if a.func == AggFunc::Avg {
            parts.push((format!("count{k}"), 1, counts[k].clone()));
        }
        if let Some(nn) = nonnull.get(&k) {
            parts.push((format!("nonnull{k}"), 1, nn.clone()));
        }
    }
    let keep_tiled: Vec<AShare> = parts
        .iter()
        .map(|(_, width, _)| repeat_rows(&keep, d, 1, *width))
        .collect::<Result<_, _>>()?;
    let all = AShare::concat(&parts.iter().map(|p| &p.2).collect::<Vec<_>>());
    let masked = ctx
        .party
        .mul(&all, &AShare::concat(&keep_tiled.iter().collect::<Vec<_>>()))
        .map_err(mpc)?;
    let mut out = Vec::with_capacity(parts.len() + 1);
    out.push(("keep".to_string(), 1, keep));
    let mut at = 0;
    for (name, width, _) in parts {
        let len = d * width;
        out.push((name, width, masked.slice(at, at + len).map_err(mpc)?));
        at += len;
    }
    Ok(OutputShares { groups: d, parts: out })
}

/// MIN (or MAX) of `x` over each group's masked rows: rows outside the group or the mask become
/// a sentinel, then pairs are compared level by level (log2 n rounds of comparisons).
fn extreme<T: Transport>(
    party: &mut Party<T>,
    onehot: &AShare,
    mask: &AShare,
    x: &AShare,
    d: usize,
    n: usize,
    min: bool,
) -> Result<AShare, SqlError> {
    let sentinel = if min { SENTINEL } else { -SENTINEL } as u64;
    let sel = party.mul(onehot, &tile(mask, d)).map_err(mpc)?;
    let s_all = party.constant(&vec![sentinel; d * n]);
    let diff = tile(x, d).sub(&s_all).map_err(mpc)?;
    let mut v = party.mul(&sel, &diff).map_err(mpc)?.add(&s_all).map_err(mpc)?;
    let mut len = n;
    while len > 1 {
        let half = len / 2;
        // Left halves against right halves of every row; an odd last element waits a level.
        let left: Vec<usize> = (0..d).flat_map(|g| (0..half).map(move |i| g * len + i)).collect();
        let right: Vec<usize> = (0..d)
            .flat_map(|g| (0..half).map(move |i| g * len + half + i))
            .collect();
        let (a, b) = (v.gather(&left).map_err(mpc)?, v.gather(&right).map_err(mpc)?);
        let bits = if min { party.lt(&a, &b) } else { party.lt(&b, &a) }.map_err(mpc)?;
        let c = party.bit2a(&bits, a.len()).map_err(mpc)?;
        // pick = c ? a : b = b + c·(a − b)
        let picked = party
            .mul(&c, &a.sub(&b).map_err(mpc)?)
            .map_err(mpc)?
            .add(&b)
            .map_err(mpc)?;
        let next_len = len - half;
        let mut idx = Vec::with_capacity(d * next_len);
        for g in 0..d {
            idx.extend((0..half).map(|i| g * half + i));
            if len % 2 == 1 {
                idx.push(d * half + g);
            }
        }
        let odd: Vec<usize> = if len % 2 == 1 {
            (0..d).map(|g| g * len + len - 1).collect()
        } else {
            Vec::new()
        };
        let pool = AShare::concat(&[&picked, &v.gather(&odd).map_err(mpc)?]);
        v = pool.gather(&idx).map_err(mpc)?;
        len = next_len;
    }
    Ok(v)
}
