//! Boolean AND, carry computation, comparison and equality.
//!
//! **AND** (Araki et al. CCS 2016 §2.2; ABY3 §5.1 over Z_2): z_i = x_i·y_i ⊕ x_i·y_{i+1} ⊕
//! x_{i+1}·y_i ⊕ α_i, then reshare: one round, one bit per party per gate.
//!
//! **Less than zero** (ABY3 §5.3, "bit extraction"): write x = v + x_2 with v = x_0 + x_1, which
//! party 0 knows. Party 0 boolean-shares v (one round); x_2 is already a trivial boolean sharing
//! (its two holders know it). The most significant bit of v + x_2 is v_63 ⊕ x2_63 ⊕ c_63, where c_63
//! is the carry into bit 63. Instead of a full parallel-prefix adder, the carry is computed with a
//! tree of (generate, propagate) combinations over the 63 low bit positions in bit-plane layout
//! (bit k of all elements packed together): one round for the generate bits and ⌈log2 63⌉ = 6
//! rounds for the tree, about 190 AND gates per comparison instead of the adder's ~700.
//! `lt(x, y)` is `ltz(x − y)`, correct whenever |x − y| < 2^63 (for example any two i32 or u32
//! values, or i63 values).
//!
//! **Equality**: x = y exactly when v = −x_2, that is when every bit of v ⊕ (−x_2) is zero. After
//! party 0's one-round input the test is an AND tree over the 64 complemented bits (6 rounds).
//!
//! **Bit injection** (`bit2a`): b = b_0 ⊕ b_1 ⊕ b_2. Party 0 knows c = b_0 ⊕ b_1 and inputs it
//! arithmetically (one round); b_2 is a trivial arithmetic sharing; then b = c + b_2 − 2·c·b_2
//! with one multiplication (one round).

use crate::bits::{pack_bits, plane_words, share_to_planes, unpack_bits};
use crate::party::Zero;
use crate::share::{AShare, BShare};
use crate::transport::Transport;
use crate::{MpcError, Party, Result};

impl<T: Transport> Party<T> {
    /// x AND y, word-wise (one round).
    pub fn and(&mut self, x: &BShare, y: &BShare) -> Result<BShare> {
        if x.words() != y.words() {
            return Err(MpcError::Invalid(format!(
                "cannot AND {} and {} words",
                x.words(),
                y.words()
            )));
        }
        let (a, b) = self.reshare_with(vec![0; x.words()], Zero::Bool, |range, z| {
            let (xa, xb) = (&x.a[range.clone()], &x.b[range.clone()]);
            let (ya, yb) = (&y.a[range.clone()], &y.b[range]);
            for ((((z, xa), xb), ya), yb) in z.iter_mut().zip(xa).zip(xb).zip(ya).zip(yb) {
                *z = (xa & ya) ^ (xa & yb) ^ (xb & ya);
            }
        })?;
        Ok(BShare { a, b })
    }

    /// Splits x into the boolean sharing of v = x_0 + x_1 (input by party 0, one round) and the
    /// trivial boolean sharing of x_2 (negated when `negate_x2`). Both are one word per element.
    pub(crate) fn split_v(&mut self, x: &AShare, negate_x2: bool) -> Result<(BShare, BShare)> {
        let n = x.len();
        let v: Option<Vec<u64>> = (self.id == 0).then(|| (0..n).map(|k| x.a[k].wrapping_add(x.b[k])).collect());
        let vb = self.input_bool(0, v.as_deref(), n)?;
        let x2: Option<Vec<u64>> = self.component(2, &x.a, &x.b).map(|c| {
            if negate_x2 {
                c.iter().map(|w| w.wrapping_neg()).collect()
            } else {
                c.to_vec()
            }
        });
        let wb = self.trivial_bool(2, x2.as_deref(), n);
        Ok((vb, wb))
    }

    /// Carries into the bit positions `targets` (each 0..=64) of v + w, for v and w in bit-plane
    /// layout (64 planes of `m` words). Returns one packed bit vector (m words) per target.
    /// Rounds: 1 + ⌈log2 max(targets)⌉.
    pub(crate) fn carries(&mut self, v: &BShare, w: &BShare, m: usize, targets: &[usize]) -> Result<Vec<BShare>> {
        let top = targets.iter().copied().max().unwrap_or(0).min(64);
        if top == 0 {
            return Ok(targets.iter().map(|_| BShare::zeros(m)).collect());
        }
        let g = self.and(&v.slice(0, top * m), &w.slice(0, top * m))?;
        let p = v.slice(0, top * m).xor(&w.slice(0, top * m))?;
        // Each list holds (generate, propagate) for consecutive bit ranges, lowest first.
        let mut lists: Vec<Vec<(BShare, BShare)>> = targets
            .iter()
            .map(|t| {
                (0..(*t).min(64))
                    .map(|k| (g.slice(k * m, (k + 1) * m), p.slice(k * m, (k + 1) * m)))
                    .collect()
            })
            .collect();
        while lists.iter().any(|l| l.len() > 1) {
            // Gather every combination of this level into one AND.
            let mut left: Vec<&BShare> = Vec::new();
            let mut right: Vec<&BShare> = Vec::new();
            for list in &lists {
                let last_level = list.len() == 2;
                for pair in list.chunks_exact(2) {
                    let (lo, hi) = (&pair[0], &pair[1]);
                    left.push(&hi.1);
                    right.push(&lo.0);
                    if !last_level {
                        left.push(&hi.1);
                        right.push(&lo.1);
                    }
                }
            }
            let prod = self.and(&BShare::concat(&left), &BShare::concat(&right))?;
            let mut at = 0usize;
            let mut next_lists = Vec::with_capacity(lists.len());
            for list in &lists {
                if list.len() <= 1 {
                    next_lists.push(list.clone());
                    continue;
                }
                let last_level = list.len() == 2;
                let mut out = Vec::with_capacity(list.len().div_ceil(2));
                for pair in list.chunks(2) {
                    if pair.len() == 1 {
                        out.push(pair[0].clone());
                        continue;
                    }
                    let hi = &pair[1];
                    let pg = prod.slice(at * m, (at + 1) * m);
                    at += 1;
                    let generate = hi.0.xor(&pg)?;
                    let prop = if last_level {
                        BShare::zeros(m)
                    } else {
                        let pp = prod.slice(at * m, (at + 1) * m);
                        at += 1;
                        pp
                    };
                    out.push((generate, prop));
                }
                next_lists.push(out);
            }
            lists = next_lists;
        }
        Ok(lists
            .into_iter()
            .map(|mut l| l.pop().map(|(g, _)| g).unwrap_or_else(|| BShare::zeros(m)))
            .collect())
    }

    /// The sign bit of each element (1 when x < 0 as a two's-complement i64), as packed bits
    /// (8 rounds).
    pub fn ltz(&mut self, x: &AShare) -> Result<BShare> {
        let n = x.len();
        let m = plane_words(n);
        let (v, w) = self.split_v(x, false)?;
        let (vp, wp) = (share_to_planes(&v), share_to_planes(&w));
        let carry = self
            .carries(&vp, &wp, m, &[63])?
            .pop()
            .unwrap_or_else(|| BShare::zeros(m));
        vp.slice(63 * m, 64 * m).xor(&wp.slice(63 * m, 64 * m))?.xor(&carry)
    }

    /// x < y as packed bits, for |x − y| < 2^63 (8 rounds).
    pub fn lt(&mut self, x: &AShare, y: &AShare) -> Result<BShare> {
        self.ltz(&x.sub(y)?)
    }

    /// x == y as packed bits (7 rounds).
    pub fn eq(&mut self, x: &AShare, y: &AShare) -> Result<BShare> {
        let d = x.sub(y)?;
        let n = d.len();
        let m = plane_words(n);
        let (v, w) = self.split_v(&d, true)?;
        let e = v.xor(&w)?.not(self.id);
        let planes = share_to_planes(&e);
        let mut level: Vec<BShare> = (0..64).map(|k| planes.slice(k * m, (k + 1) * m)).collect();
        while level.len() > 1 {
            let half = level.len() / 2;
            let left: Vec<&BShare> = level[..half].iter().collect();
            let right: Vec<&BShare> = level[half..2 * half].iter().collect();
            let prod = self.and(&BShare::concat(&left), &BShare::concat(&right))?;
            let mut next: Vec<BShare> = (0..half).map(|k| prod.slice(k * m, (k + 1) * m)).collect();
            if level.len() % 2 == 1 {
                next.push(level[level.len() - 1].clone());
            }
            level = next;
        }
        Ok(level.pop().unwrap_or_else(|| BShare::zeros(m)))
    }

    /// Packed bits → arithmetic 0/1 values, for several vectors of `n` bits at once (2 rounds).
    pub fn bit2a_many(&mut self, bits: &[&BShare], n: usize) -> Result<Vec<AShare>> {
        let m = plane_words(n);
        if let Some(bad) = bits.iter().find(|b| b.words() < m) {
            return Err(MpcError::Invalid(format!("{} words cannot hold {n} bits", bad.words())));
        }
        let total = n * bits.len();
        let c: Option<Vec<u64>> = (self.id == 0).then(|| {
            bits.iter()
                .flat_map(|b| {
                    let x: Vec<u64> = (0..m).map(|k| b.a[k] ^ b.b[k]).collect();
                    unpack_bits(&x, n)
                })
                .collect()
        });
        let c = self.input(0, c.as_deref(), total)?;
        let b2: Option<Vec<u64>> = if self.component(2, &[0], &[0]).is_some() {
            Some(
                bits.iter()
                    .flat_map(|b| {
                        let comp = self.component(2, &b.a, &b.b).unwrap_or(&[]);
                        unpack_bits(&comp[..m], n)
                    })
                    .collect(),
            )
        } else {
            None
        };
        let b2 = self.trivial_arith(2, b2.as_deref(), total);
        let cb = self.mul(&c, &b2)?;
        let all = c.add(&b2)?.sub(&cb.mul_public(2))?;
        (0..bits.len()).map(|i| all.slice(i * n, (i + 1) * n)).collect()
    }

    /// Packed bits → arithmetic 0/1 values (2 rounds).
    pub fn bit2a(&mut self, bits: &BShare, n: usize) -> Result<AShare> {
        Ok(self.bit2a_many(&[bits], n)?.pop().unwrap_or_else(|| AShare::zeros(n)))
    }

    /// Opens packed bits to every party as one bool per element (one round).
    pub fn reveal_bits(&mut self, bits: &BShare, n: usize) -> Result<Vec<bool>> {
        let words = self.reveal_bool(bits)?;
        if words.len() < plane_words(n) {
            return Err(MpcError::Invalid(format!("{} words cannot hold {n} bits", words.len())));
        }
        Ok(unpack_bits(&words, n).into_iter().map(|b| b == 1).collect())
    }

    /// Shares bits held by party `owner` as packed boolean shares (one round).
    pub fn input_bits(&mut self, owner: usize, bits: Option<&[bool]>, n: usize) -> Result<BShare> {
        let packed = bits.map(|b| pack_bits(&b.iter().map(|x| u64::from(*x)).collect::<Vec<_>>()));
        self.input_bool(owner, packed.as_deref(), plane_words(n))
    }
}
