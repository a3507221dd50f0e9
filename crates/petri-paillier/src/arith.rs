//! Multi-precision arithmetic modulo an odd modulus, in Montgomery form.
//!
//! Numbers are little-endian `u64` limbs. Every routine here runs in time that depends only on the
//! lengths of its operands (and, for [`Modulus::pow_public`], on the exponent, which callers only
//! use with public exponents): no branch and no memory index depends on a limb's value. Secret
//! moduli (p², q², p, q) therefore go through the same code as public ones.
//!
//! Two backends share this interface ([`Backend`]). The portable one works on the 64-bit limbs
//! directly and keeps Montgomery-form values "almost reduced" (any value below R = 2^(64k), not
//! necessarily below m), the way OpenSSL's almost-Montgomery multiplication does: a product
//! of two such values is again below R after one masked subtraction, so no comparison with
//! m is needed inside an exponentiation. On CPUs with AVX-512 IFMA, [`ifma`] multiplies in
//! 52-bit limbs with R = 2^(416·vectors); its results are canonical, and exponentiations stay
//! in 52-bit limbs from start to end. [`Modulus::leave_mont`] returns the canonical value.

use num_bigint::BigUint;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::{Zeroize, Zeroizing};

/// Limbs of a public value (at least `k` of them, zero-padded).
pub(crate) fn to_limbs(x: &BigUint, k: usize) -> Vec<u64> {
    let mut v = x.to_u64_digits();
    if v.len() < k {
        v.resize(k, 0);
    }
    v
}

/// The value of little-endian limbs.
pub(crate) fn from_limbs(x: &[u64]) -> BigUint {
    let mut bytes = Vec::with_capacity(x.len() * 8);
    for limb in x {
        bytes.extend_from_slice(&limb.to_le_bytes());
    }
    let v = BigUint::from_bytes_le(&bytes);
    bytes.zeroize();
    v
}

/// Number of limbs without the leading zero limbs (a length, treated as public).
pub(crate) fn used_len(x: &[u64]) -> usize {
    x.iter().rposition(|&l| l != 0).map_or(0, |i| i + 1)
}

/// Bit length (treated as public: only called on key sizes).
pub(crate) fn bit_len(x: &[u64]) -> usize {
    let n = used_len(x);
    if n == 0 {
        0
    } else {
        64 * n - x[n - 1].leading_zeros() as usize
    }
}

/// `out = a - b` over equal lengths; returns the borrow (0 or 1).
pub(crate) fn sub_into(out: &mut [u64], a: &[u64], b: &[u64]) -> u64 {
    let mut borrow = 0u64;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let (d1, b1) = x.overflowing_sub(y);
        let (d2, b2) = d1.overflowing_sub(borrow);
        *o = d2;
        borrow = u64::from(b1 | b2);
    }
    borrow
}

/// `a += b` over `a.len()` limbs (`b` zero-extended); returns the carry.
pub(crate) fn add_assign(a: &mut [u64], b: &[u64]) -> u64 {
    let mut carry = 0u64;
    for (i, x) in a.iter_mut().enumerate() {
        let y = b.get(i).copied().unwrap_or(0);
        let s = u128::from(*x) + u128::from(y) + u128::from(carry);
        *x = s as u64;
        carry = (s >> 64) as u64;
    }
    carry
}

/// `dst = src` where `choice` is set, limb by limb without branching.
pub(crate) fn select_assign(dst: &mut [u64], src: &[u64], choice: Choice) {
    for (d, s) in dst.iter_mut().zip(src) {
        d.conditional_assign(s, choice);
    }
}

/// Full product `a·b` (schoolbook, `a.len() + b.len()` limbs).
pub(crate) fn mul_wide(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut t = vec![0u64; a.len() + b.len()];
    for (i, &bi) in b.iter().enumerate() {
        let mut c: u128 = 0;
        for (j, &aj) in a.iter().enumerate() {
            let s = u128::from(t[i + j]) + u128::from(aj) * u128::from(bi) + c;
            t[i + j] = s as u64;
            c = s >> 64;
        }
        t[i + a.len()] = c as u64;
    }
    t
}

/// Low `len` limbs of `a·b`.
pub(crate) fn mul_low(a: &[u64], b: &[u64], len: usize) -> Vec<u64> {
    let mut t = vec![0u64; len];
    for (i, &bi) in b.iter().enumerate().take(len) {
        let mut c: u128 = 0;
        for (j, &aj) in a.iter().enumerate().take(len - i) {
            let s = u128::from(t[i + j]) + u128::from(aj) * u128::from(bi) + c;
            t[i + j] = s as u64;
            c = s >> 64;
        }
    }
    t
}

/// The inverse of odd `x` modulo 2^(64·len), by Newton iteration.
pub(crate) fn inv_2adic(x: &[u64], len: usize) -> Vec<u64> {
    let mut inv0 = x[0];
    for _ in 0..5 {
        inv0 = inv0.wrapping_mul(2u64.wrapping_sub(x[0].wrapping_mul(inv0)));
    }
    let mut y = vec![0u64; len];
    y[0] = inv0;
    let mut good = 1;
    while good < len {
        good = (2 * good).min(len);
        // y = y·(2 - x·y) mod 2^(64·good)
        let xy = mul_low(x, &y, good);
        let mut two_minus = vec![0u64; good];
        let mut two = vec![0u64; good];
        two[0] = 2;
        sub_into(&mut two_minus, &two, &xy);
        let next = mul_low(&y, &two_minus, good);
        y[..good].copy_from_slice(&next);
    }
    y
}

/// How a [`Modulus`] multiplies. The Montgomery radix R depends on it: 2^(64·len) for the
/// portable code, 2^(416·vectors) for AVX-512 IFMA, so a Montgomery-form value belongs to the
/// modulus that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// Safe Rust on 64-bit limbs with `u128` products; values are kept below R.
    Portable,
    /// AVX-512 IFMA on 52-bit limbs ([`ifma`]); values are kept canonical (below m).
    #[cfg(target_arch = "x86_64")]
    Ifma,
}

#[cfg(test)]
thread_local! {
    /// Set by [`with_portable`]: makes [`Backend::detect`] answer the portable backend.
    static FORCE_PORTABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with every [`Modulus::new`] of this thread on the portable backend, so that whole
/// Paillier operations can be compared across backends.
#[cfg(test)]
pub(crate) fn with_portable<T>(f: impl FnOnce() -> T) -> T {
    FORCE_PORTABLE.with(|force| force.set(true));
    let out = f();
    FORCE_PORTABLE.with(|force| force.set(false));
    out
}

impl Backend {
    /// The fastest backend this CPU supports.
    pub(crate) fn detect() -> Self {
        #[cfg(test)]
        if FORCE_PORTABLE.with(std::cell::Cell::get) {
            return Backend::Portable;
        }
        #[cfg(target_arch = "x86_64")]
        if ifma::available() {
            return Backend::Ifma;
        }
        Backend::Portable
    }
}

/// An odd modulus with its Montgomery constants. Secret moduli are wiped on drop.
///
/// Montgomery-form values are almost reduced (below R) with the portable backend and canonical
/// (below m) with IFMA; [`Modulus::mul`] needs at least one operand below m with IFMA, which
/// holds for every value this module returns.
pub(crate) struct Modulus {
    m: Vec<u64>,
    m0inv: u64,
    /// R² mod m, canonical.
    r2: Vec<u64>,
    /// R²·2^(64·len) mod m, canonical: turns the output of [`Modulus::redc_wide`] into
    /// Montgomery form.
    wide: Vec<u64>,
    /// R mod m, canonical: 1 in Montgomery form.
    one: Vec<u64>,
    #[cfg(target_arch = "x86_64")]
    ifma: Option<ifma::Ifma>,
}

impl Drop for Modulus {
    fn drop(&mut self) {
        self.m.zeroize();
        self.r2.zeroize();
        self.wide.zeroize();
        self.one.zeroize();
    }
}

impl Modulus {
    /// Montgomery constants for odd `m > 1` (leading zero limbs are dropped), with the fastest
    /// backend of this CPU. The setup is constant-time in the value of `m` for a given length.
    pub(crate) fn new(m: &[u64]) -> Option<Self> {
        Self::with_backend(m, Backend::detect())
    }

    /// [`Modulus::new`] with a chosen backend; the portable one is used instead when the CPU
    /// lacks the chosen one's instructions or the modulus is too long for it.
    pub(crate) fn with_backend(m: &[u64], backend: Backend) -> Option<Self> {
        let k = used_len(m);
        if k == 0 || m[0] & 1 == 0 || (k == 1 && m[0] == 1) {
            return None;
        }
        let m = m[..k].to_vec();
        let mut inv = m[0];
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(m[0].wrapping_mul(inv)));
        }
        let m0inv = inv.wrapping_neg();
        #[cfg(target_arch = "x86_64")]
        let ifma = match backend {
            Backend::Ifma => ifma::Ifma::new(&m, m0inv),
            Backend::Portable => None,
        };
        #[cfg(target_arch = "x86_64")]
        let r_bits = ifma.as_ref().map_or(64 * k, ifma::Ifma::r_bits);
        #[cfg(not(target_arch = "x86_64"))]
        let r_bits = {
            let _ = backend;
            64 * k
        };
        // 2^(64k), R and R² mod m by doubling 1 modulo m, with a masked subtraction each time.
        let mut x = vec![0u64; k];
        x[0] = 1;
        let mut t = vec![0u64; k];
        let mut one = vec![0u64; k];
        let mut r64 = Zeroizing::new(vec![0u64; k]);
        for step in 0..2 * r_bits {
            let mut carry = 0u64;
            for limb in x.iter_mut() {
                let next = *limb >> 63;
                *limb = (*limb << 1) | carry;
                carry = next;
            }
            let borrow = sub_into(&mut t, &x, &m);
            let take = Choice::from((carry | (borrow ^ 1)) as u8 & 1);
            select_assign(&mut x, &t, take);
            if step + 1 == 64 * k {
                r64.copy_from_slice(&x);
            }
            if step + 1 == r_bits {
                one.copy_from_slice(&x);
            }
        }
        t.zeroize();
        let mut modulus = Self {
            m,
            m0inv,
            r2: x,
            wide: Vec::new(),
            one,
            #[cfg(target_arch = "x86_64")]
            ifma,
        };
        // R²·R²/R = R³, then R³·2^(64k)/R.
        let r3 = Zeroizing::new(modulus.mul(&modulus.r2, &modulus.r2));
        let mut wide = modulus.mul(&r3, &r64);
        modulus.reduce_once(&mut wide);
        modulus.wide = wide;
        Some(modulus)
    }

    /// The backend in use.
    #[cfg(test)]
    pub(crate) fn backend(&self) -> Backend {
        #[cfg(target_arch = "x86_64")]
        if self.ifma.is_some() {
            return Backend::Ifma;
        }
        Backend::Portable
    }

    /// Number of limbs.
    pub(crate) fn len(&self) -> usize {
        self.m.len()
    }

    /// `x -= m` if `x ≥ m` (for `x < 2m`), without branching.
    pub(crate) fn reduce_once(&self, x: &mut [u64]) {
        let mut t = vec![0u64; self.len()];
        let borrow = sub_into(&mut t, x, &self.m);
        select_assign(x, &t, Choice::from((borrow ^ 1) as u8));
        t.zeroize();
    }

    /// Montgomery product `a·b/R mod m` for `a, b < R`; the result is below R.
    pub(crate) fn mul(&self, a: &[u64], b: &[u64]) -> Vec<u64> {
        let mut out = vec![0u64; self.len()];
        let mut t = vec![0u64; self.len() + 2];
        self.mul_into(a, b, &mut out, &mut t);
        t.zeroize();
        out
    }

    /// [`Modulus::mul`] into `out`, with scratch space `t` of `len + 2` limbs.
    pub(crate) fn mul_into(&self, a: &[u64], b: &[u64], out: &mut [u64], t: &mut [u64]) {
        let k = self.len();
        #[cfg(target_arch = "x86_64")]
        if let Some(ifma) = &self.ifma {
            ifma.mul(&a[..k], &b[..k], out);
            return;
        }
        let m = &self.m[..k];
        let (a, b, t, out) = (&a[..k], &b[..k], &mut t[..k + 1], &mut out[..k]);
        t.fill(0);
        // Coarsely integrated operand scanning with the product and the reduction carried in two
        // independent carry chains, so the CPU can overlap them.
        for &bi in b {
            let bi = u128::from(bi);
            let s1 = u128::from(t[0]) + u128::from(a[0]) * bi;
            let q = u128::from((s1 as u64).wrapping_mul(self.m0inv));
            let s2 = u128::from(s1 as u64) + q * u128::from(m[0]);
            let (mut c1, mut c2) = (s1 >> 64, s2 >> 64);
            for j in 1..k {
                let s1 = u128::from(t[j]) + u128::from(a[j]) * bi + c1;
                c1 = s1 >> 64;
                let s2 = u128::from(s1 as u64) + q * u128::from(m[j]) + c2;
                c2 = s2 >> 64;
                t[j - 1] = s2 as u64;
            }
            let s = u128::from(t[k]) + c1 + c2;
            t[k - 1] = s as u64;
            t[k] = (s >> 64) as u64;
        }
        self.finish(t, out);
    }

    /// `out = t mod R` minus m when `t ≥ R` (t < R + m), without branching.
    fn finish(&self, t: &[u64], out: &mut [u64]) {
        let k = self.len();
        sub_into(out, &t[..k], &self.m);
        let keep = Choice::from((t[k] as u8 & 1) ^ 1);
        select_assign(out, &t[..k], keep);
    }

    /// Montgomery square `a²/R mod m` into `out`, with scratch `w` of `2·len + 1` limbs.
    pub(crate) fn sqr_into(&self, a: &[u64], out: &mut [u64], w: &mut [u64]) {
        let k = self.len();
        #[cfg(target_arch = "x86_64")]
        if let Some(ifma) = &self.ifma {
            ifma.mul(&a[..k], &a[..k], out);
            return;
        }
        let m = &self.m[..k];
        let (a, w) = (&a[..k], &mut w[..2 * k + 1]);
        w.fill(0);
        // Off-diagonal products once, doubled, plus the squares on the diagonal.
        for i in 0..k {
            let ai = u128::from(a[i]);
            let mut c: u128 = 0;
            for j in i + 1..k {
                let s = u128::from(w[i + j]) + ai * u128::from(a[j]) + c;
                w[i + j] = s as u64;
                c = s >> 64;
            }
            w[i + k] = c as u64;
        }
        let mut carry = 0u64;
        for x in w[..2 * k].iter_mut() {
            let next = *x >> 63;
            *x = (*x << 1) | carry;
            carry = next;
        }
        let mut c: u128 = 0;
        for i in 0..k {
            let sq = u128::from(a[i]) * u128::from(a[i]);
            let s = u128::from(w[2 * i]) + (sq as u64 as u128) + c;
            w[2 * i] = s as u64;
            let s = u128::from(w[2 * i + 1]) + (sq >> 64) + (s >> 64);
            w[2 * i + 1] = s as u64;
            c = s >> 64;
        }
        // Montgomery reduction of the double-length square.
        let mut hi = 0u64;
        for i in 0..k {
            let q = u128::from(w[i].wrapping_mul(self.m0inv));
            let mut c: u128 = 0;
            let row = &mut w[i..i + k];
            for (x, &mj) in row.iter_mut().zip(m) {
                let s = u128::from(*x) + q * u128::from(mj) + c;
                *x = s as u64;
                c = s >> 64;
            }
            let s = u128::from(w[i + k]) + c + u128::from(hi);
            w[i + k] = s as u64;
            hi = (s >> 64) as u64;
        }
        w[2 * k] = hi;
        self.finish(&w[k..], out);
    }

    /// Montgomery form of `x < R` (given in at most `len` limbs).
    pub(crate) fn to_mont(&self, x: &[u64]) -> Vec<u64> {
        let mut v = Zeroizing::new(vec![0u64; self.len()]);
        let n = x.len().min(self.len());
        v[..n].copy_from_slice(&x[..n]);
        self.mul(&v, &self.r2)
    }

    /// Montgomery form of `x mod m` for `x` of any length (constant-time for a given length).
    pub(crate) fn to_mont_wide(&self, x: &[u64]) -> Vec<u64> {
        let k = self.len();
        if x.len() <= k && used_len(x) <= k {
            return self.to_mont(x);
        }
        if x.len() <= 2 * k {
            let mut t = Zeroizing::new(vec![0u64; 2 * k]);
            t[..x.len()].copy_from_slice(x);
            let low = Zeroizing::new(self.redc_wide(&mut t));
            return self.mul(&low, &self.wide);
        }
        let reduced = Zeroizing::new(self.reduce_slow(x));
        self.to_mont(&reduced)
    }

    /// Montgomery reduction of a double-length value `t < R²`: `t/R mod m`, below R.
    fn redc_wide(&self, t: &mut [u64]) -> Vec<u64> {
        let k = self.len();
        let m = &self.m[..];
        let mut hi = 0u64;
        for i in 0..k {
            let q = u128::from(t[i].wrapping_mul(self.m0inv));
            let mut c: u128 = 0;
            for j in 0..k {
                let s = u128::from(t[i + j]) + q * u128::from(m[j]) + c;
                t[i + j] = s as u64;
                c = s >> 64;
            }
            let s = u128::from(t[i + k]) + c + u128::from(hi);
            t[i + k] = s as u64;
            hi = (s >> 64) as u64;
        }
        let mut out = vec![0u64; k];
        sub_into(&mut out, &t[k..2 * k], m);
        select_assign(&mut out, &t[k..2 * k], Choice::from((hi as u8 & 1) ^ 1));
        out
    }

    /// `x mod m` bit by bit (slow; for inputs longer than 2·len limbs).
    pub(crate) fn reduce_slow(&self, x: &[u64]) -> Vec<u64> {
        let k = self.len();
        let mut acc = vec![0u64; k];
        let mut t = vec![0u64; k];
        for limb in x.iter().rev() {
            for bit in (0..64).rev() {
                let mut carry = (limb >> bit) & 1;
                for a in acc.iter_mut() {
                    let next = *a >> 63;
                    *a = (*a << 1) | carry;
                    carry = next;
                }
                let borrow = sub_into(&mut t, &acc, &self.m);
                select_assign(&mut acc, &t, Choice::from((carry | (borrow ^ 1)) as u8 & 1));
            }
        }
        t.zeroize();
        acc
    }

    /// The canonical value (below m) of a Montgomery-form number.
    pub(crate) fn leave_mont(&self, x: &[u64]) -> Vec<u64> {
        let mut unit = vec![0u64; self.len()];
        unit[0] = 1;
        // x·1/R with x < R is at most m, so one masked subtraction makes it canonical.
        let mut out = self.mul(x, &unit);
        self.reduce_once(&mut out);
        out
    }

    /// 1 in Montgomery form.
    pub(crate) fn one(&self) -> Vec<u64> {
        self.one.clone()
    }

    /// `base^exp` in Montgomery form, for a **public** exponent: sliding windows, so the time
    /// depends on the exponent but not on the base.
    pub(crate) fn pow_public(&self, base: &[u64], exp: &[u64]) -> Vec<u64> {
        let Some(window) = sliding_window(exp) else {
            return self.one();
        };
        let k = self.len();
        #[cfg(target_arch = "x86_64")]
        if let Some(ifma) = &self.ifma {
            let mut out = vec![0u64; k];
            ifma.pow_public(&base[..k], &window, &mut out);
            return out;
        }
        let mut t = Zeroizing::new(vec![0u64; 2 * k + 1]);
        // table[i] = base^(2i+1)
        let entries = 1usize << (window.width - 1);
        let mut table: Vec<Zeroizing<Vec<u64>>> = Vec::with_capacity(entries);
        table.push(Zeroizing::new(base[..k].to_vec()));
        if entries > 1 {
            let sq = Zeroizing::new(self.mul(base, base));
            for i in 1..entries {
                let next = self.mul(&table[i - 1], &sq);
                table.push(Zeroizing::new(next));
            }
        }
        let mut acc = Zeroizing::new(table[window.first].to_vec());
        let mut scratch = Zeroizing::new(vec![0u64; k]);
        for step in &window.steps {
            match *step {
                None => self.sqr_into(&acc, &mut scratch, &mut t),
                Some(i) => self.mul_into(&acc, &table[i], &mut scratch, &mut t),
            }
            std::mem::swap(&mut acc, &mut scratch);
        }
        acc.to_vec()
    }

    /// `base^exp` in Montgomery form for a **secret** exponent of at most `exp_bits` bits
    /// (a public length): fixed windows, each table entry read by a full masked scan.
    pub(crate) fn pow_secret(&self, base: &[u64], exp: &[u64], exp_bits: usize) -> Vec<u64> {
        let k = self.len();
        #[cfg(target_arch = "x86_64")]
        if let Some(ifma) = &self.ifma {
            let mut out = vec![0u64; k];
            ifma.pow_secret(&base[..k], &self.one, exp, exp_bits, &mut out);
            return out;
        }
        let width = 4;
        let mut t = Zeroizing::new(vec![0u64; 2 * k + 1]);
        let mut table: Vec<Zeroizing<Vec<u64>>> = Vec::with_capacity(1 << width);
        table.push(Zeroizing::new(self.one()));
        table.push(Zeroizing::new(base[..k].to_vec()));
        for i in 2..1 << width {
            let next = self.mul(&table[i - 1], base);
            table.push(Zeroizing::new(next));
        }
        let windows = exp_bits.div_ceil(width);
        let mut acc = Zeroizing::new(self.one());
        let mut scratch = Zeroizing::new(vec![0u64; k]);
        let mut entry = Zeroizing::new(vec![0u64; k]);
        for w in (0..windows).rev() {
            if w + 1 != windows {
                for _ in 0..width {
                    self.sqr_into(&acc, &mut scratch, &mut t);
                    std::mem::swap(&mut acc, &mut scratch);
                }
            }
            let digit = fixed_window_digit(exp, w, width) as u8;
            for (i, row) in table.iter().enumerate() {
                select_assign(&mut entry, row, digit.ct_eq(&(i as u8)));
            }
            self.mul_into(&acc, &entry, &mut scratch, &mut t);
            std::mem::swap(&mut acc, &mut scratch);
        }
        acc.to_vec()
    }

    /// Two secret-exponent powers at once, `base^exp` modulo `self` and `other_base^other_exp`
    /// modulo `other`, both exponents of at most `exp_bits` bits: the two halves of a CRT
    /// decryption. With IFMA and moduli of one size the two exponentiations run interleaved, so
    /// that each hides the other's latency; otherwise one after the other.
    pub(crate) fn pow_secret_pair(
        &self,
        base: &[u64],
        exp: &[u64],
        other: &Modulus,
        other_base: &[u64],
        other_exp: &[u64],
        exp_bits: usize,
    ) -> (Vec<u64>, Vec<u64>) {
        #[cfg(target_arch = "x86_64")]
        if let (Some(x), Some(y)) = (&self.ifma, &other.ifma)
            && x.same_size(y)
        {
            let (mut out, mut other_out) = (vec![0u64; self.len()], vec![0u64; other.len()]);
            ifma::pow_secret_both(
                [x, y],
                [&base[..self.len()], &other_base[..other.len()]],
                [&self.one, &other.one],
                [exp, other_exp],
                exp_bits,
                [&mut out, &mut other_out],
            );
            return (out, other_out);
        }
        (
            self.pow_secret(base, exp, exp_bits),
            other.pow_secret(other_base, other_exp, exp_bits),
        )
    }
}

/// The schedule of a left-to-right sliding-window exponentiation with a public exponent
/// (Menezes, van Oorschot and Vanstone, *Handbook of Applied Cryptography*, algorithm 14.85).
pub(crate) struct Window {
    /// Window width w; the table holds base^1, base^3, …, base^(2^w − 1).
    pub(crate) width: usize,
    /// The table entry the accumulator starts from.
    pub(crate) first: usize,
    /// Then, in order: `None` squares the accumulator, `Some(i)` multiplies it by entry i.
    pub(crate) steps: Vec<Option<usize>>,
}

/// The sliding-window schedule for a non-zero public exponent (`None` for zero).
pub(crate) fn sliding_window(exp: &[u64]) -> Option<Window> {
    let bits = bit_len(exp);
    if bits == 0 {
        return None;
    }
    let width = match bits {
        0..=24 => 1,
        25..=80 => 3,
        81..=240 => 4,
        241..=672 => 5,
        _ => 6,
    };
    let bit = |i: usize| (exp[i / 64] >> (i % 64)) & 1;
    let mut steps = Vec::with_capacity(bits + bits / width + 1);
    let mut first = None;
    let mut i = bits as isize - 1;
    while i >= 0 {
        if bit(i as usize) == 0 {
            steps.push(None);
            i -= 1;
            continue;
        }
        // The longest window of at most w bits ending in a set bit.
        let mut j = (i - width as isize + 1).max(0);
        while bit(j as usize) == 0 {
            j += 1;
        }
        let mut value = 0usize;
        for b in (j..=i).rev() {
            value = (value << 1) | bit(b as usize) as usize;
        }
        if first.is_none() {
            first = Some(value >> 1);
        } else {
            steps.extend(std::iter::repeat_n(None, (i - j + 1) as usize));
            steps.push(Some(value >> 1));
        }
        i = j - 1;
    }
    Some(Window {
        width,
        first: first.unwrap_or(0),
        steps,
    })
}

/// Bits `[width·w, width·(w + 1))` of a secret exponent. The limbs read depend only on the
/// public position, never on the exponent's value.
pub(crate) fn fixed_window_digit(exp: &[u64], w: usize, width: usize) -> u64 {
    let bit = width * w;
    let (limb, shift) = (bit / 64, bit % 64);
    let lo = exp.get(limb).map_or(0, |&l| l >> shift);
    let hi = if shift + width > 64 {
        exp.get(limb + 1).map_or(0, |&l| l << (64 - shift))
    } else {
        0
    };
    (lo | hi) & ((1 << width) - 1)
}

#[cfg(target_arch = "x86_64")]
mod ifma;

#[cfg(test)]
mod tests;
