//! Arithmetic ↔ boolean conversion and exact truncation.
//!
//! **A2B** (ABY3 §5.3): x = v + x_2 with v = x_0 + x_1 known to party 0, which boolean-shares v
//! (one round); x_2 is a trivial boolean sharing. A Kogge–Stone parallel-prefix adder on 64-bit
//! words then computes v + x_2: one round for the generate bits and log2 64 = 6 rounds of prefix
//! combination (8 rounds in all).
//!
//! **B2A** (ABY3 §5.3, with the PRF keys providing the random shares): the holders of k_1 (parties
//! 0 and 1) draw r_1 and the holders of k_2 (parties 1 and 2) draw r_2. Party 1 knows both and
//! boolean-shares y = −(r_1 + r_2) (one round); the adder gives x_0' = x + y = x − r_1 − r_2, which
//! is opened to parties 0 and 2 only (one round), each of which misses one of r_1, r_2, so x_0'
//! looks random to it. (x_0', r_1, r_2) is then a replicated arithmetic sharing of x: 9 rounds.
//!
//! **Truncation** (exact arithmetic shift, for fixed point). ABY3's probabilistic truncations
//! (§5.1.1) fail with probability about |x|/2^63 per element, which is too often for products of
//! fixed-point numbers with many integer bits. petri computes ⌊x / 2^d⌋ exactly instead. With
//! x = v + x_2 as above, over the integers
//!
//! ```text
//! lshr(x, d) = (v >> d) + (x_2 >> d) + c_d − 2^(64−d)·w
//! ashr(x, d) = lshr(x, d) − 2^(64−d)·msb(x)
//! ```
//!
//! where c_d is the carry into bit d of v + x_2, w its carry out of bit 63, and msb(x) = v_63 ⊕
//! x2_63 ⊕ c_63. Party 0 shares v both as bits and as v >> d in the same round; the three carries
//! come from one batched carry tree (7 rounds) and are converted with bit injection (2 rounds):
//! 10 rounds and about 70 bytes per element per party, with no error at all.

use crate::bits::{plane_words, share_to_planes};
use crate::share::{AShare, BShare};
use crate::transport::Transport;
use crate::{MpcError, Party, Result};

impl<T: Transport> Party<T> {
    /// x + y for boolean-shared 64-bit words (Kogge–Stone adder, 7 rounds).
    pub fn add_bool(&mut self, x: &BShare, y: &BShare) -> Result<BShare> {
        let n = x.words();
        let p0 = x.xor(y)?;
        let mut g = self.and(x, y)?;
        let mut p = p0.clone();
        let mut s = 1u32;
        while s < 64 {
            let gs = g.map(|w| w << s);
            if s < 32 {
                let ps = p.map(|w| w << s);
                let prod = self.and(&BShare::concat(&[&p, &p]), &BShare::concat(&[&gs, &ps]))?;
                g = g.xor(&prod.slice(0, n))?;
                p = prod.slice(n, 2 * n);
            } else {
                let prod = self.and(&p, &gs)?;
                g = g.xor(&prod)?;
            }
            s *= 2;
        }
        p0.xor(&g.map(|w| w << 1))
    }

    /// Arithmetic → boolean sharing of the same 64-bit values (8 rounds).
    pub fn a2b(&mut self, x: &AShare) -> Result<BShare> {
        let (v, w) = self.split_v(x, false)?;
        self.add_bool(&v, &w)
    }

    /// Boolean → arithmetic sharing of the same 64-bit values (9 rounds).
    pub fn b2a(&mut self, x: &BShare) -> Result<AShare> {
        let n = x.words();
        let r1 = self.pair_random(1, n);
        let r2 = self.pair_random(2, n);
        let y: Option<Vec<u64>> = match (self.id, &r1, &r2) {
            (1, Some(r1), Some(r2)) => Some((0..n).map(|k| r1[k].wrapping_add(r2[k]).wrapping_neg()).collect()),
            _ => None,
        };
        let yb = self.input_bool(1, y.as_deref(), n)?;
        let x0 = self.add_bool(x, &yb)?;
        // Party 1 holds components 1 and 2 of x0; party 0 misses component 2, party 2 component 1.
        let mut round = crate::party::Round::new();
        if self.id == 1 {
            round = round.send(0, &x0.b).send(2, &x0.a);
        }
        if self.id == 0 || self.id == 2 {
            round = round.recv(1, n);
        }
        let got = self.round(round)?;
        let open = |missing: &[u64]| -> Vec<u64> { (0..n).map(|k| x0.a[k] ^ x0.b[k] ^ missing[k]).collect() };
        let missing_r = || MpcError::Invalid("internal: pair randomness missing".into());
        match self.id {
            0 => Ok(AShare {
                a: open(&got[1]),
                b: r1.ok_or_else(missing_r)?,
            }),
            1 => Ok(AShare {
                a: r1.ok_or_else(missing_r)?,
                b: r2.ok_or_else(missing_r)?,
            }),
            _ => Ok(AShare {
                a: r2.ok_or_else(missing_r)?,
                b: open(&got[1]),
            }),
        }
    }

    /// ⌊x / 2^d⌋ for x read as a two's-complement i64 (exact arithmetic shift; 10 rounds).
    pub fn trunc(&mut self, x: &AShare, d: u32) -> Result<AShare> {
        if d == 0 {
            return Ok(x.clone());
        }
        if d > 63 {
            return Err(MpcError::Invalid(format!("cannot shift by {d} bits (at most 63)")));
        }
        let n = x.len();
        let m = plane_words(n);
        // One round: party 0 shares v as bits and v >> d as a number.
        let v: Vec<u64> = if self.id == 0 {
            (0..n).map(|k| x.a[k].wrapping_add(x.b[k])).collect()
        } else {
            vec![0; n]
        };
        let alpha_b = self.zero_bool(n);
        let alpha_a = self.zero_arith(n);
        let mut z = Vec::with_capacity(2 * n);
        z.extend((0..n).map(|k| v[k] ^ alpha_b[k]));
        z.extend((0..n).map(|k| (if self.id == 0 { v[k] >> d } else { 0 }).wrapping_add(alpha_a[k])));
        let (za, zb) = self.reshare_raw(z)?;
        let vb = BShare {
            a: za[..n].to_vec(),
            b: zb[..n].to_vec(),
        };
        let v_shift = AShare {
            a: za[n..].to_vec(),
            b: zb[n..].to_vec(),
        };
        let x2 = self.component(2, &x.a, &x.b).map(<[u64]>::to_vec);
        let wb = self.trivial_bool(2, x2.as_deref(), n);
        let (vp, wp) = (share_to_planes(&vb), share_to_planes(&wb));
        let d_us = d as usize;
        let carries = self.carries(&vp, &wp, m, &[d_us, 63, 64])?;
        let msb = vp
            .slice(63 * m, 64 * m)
            .xor(&wp.slice(63 * m, 64 * m))?
            .xor(&carries[1])?;
        let arith = self.bit2a_many(&[&carries[0], &carries[2], &msb], n)?;
        let x2_shift: Option<Vec<u64>> = x2.map(|c| c.iter().map(|w| w >> d).collect());
        let x2_shift = self.trivial_arith(2, x2_shift.as_deref(), n);
        let wrap = arith[1].add(&arith[2])?.mul_public(1u64 << (64 - d));
        v_shift.add(&x2_shift)?.add(&arith[0])?.sub(&wrap)
    }
}
