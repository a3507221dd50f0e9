//! Montgomery arithmetic with AVX-512 IFMA (`vpmadd52luq`/`vpmadd52huq`) on 52-bit limbs.
//!
//! The product is the word-by-word almost Montgomery multiplication (AMM) in radix 2^52 of
//! Gueron and Krasnov, "Software implementation of modular exponentiation, using advanced vector
//! instructions architectures" (WAIFI 2012), in the IFMA form of Drucker and Gueron, "Fast
//! modular squaring with AVX512IFMA" (ITNG 2019) and OpenSSL's `rsaz-avx512`: numbers are `8·N`
//! limbs of 52 bits in `N` 512-bit vectors. For each limb `b_i` the low halves of `a·b_i` and
//! `m·q` are added to the accumulator, which is then shifted down by one limb, and the high
//! halves are added after the shift, so that all accesses stay vector-aligned. Limbs are not
//! normalised inside the loop: a 64-bit lane has room for the sums of `8·N ≤ 160` iterations.
//! With R = 2^(52·8·N) ≥ 4m, the product of two values below 2m is again below 2m, so an
//! exponentiation needs no subtraction until the very end.
//!
//! Each iteration waits for its own q (a lane extraction, a multiplication and a broadcast), so
//! small moduli are bound by latency rather than throughput; the two halves of a CRT decryption
//! therefore run interleaved ([`pow_secret_both`]).
//!
//! Every routine here runs in time independent of the values: IFMA instructions have fixed
//! latency, normalisation resolves carries with mask arithmetic instead of branches, and secret
//! table entries are read by a full masked scan. This is the crate's only `unsafe` code: the
//! intrinsics need the CPU features, which [`Ifma::new`] checks at run time, and vector loads
//! and stores go through raw pointers.
#![allow(unsafe_code)]

use std::arch::x86_64::{
    __m512i, _mm_cvtsi128_si64, _mm512_add_epi64, _mm512_alignr_epi64, _mm512_and_si512, _mm512_castsi512_si128,
    _mm512_cmpeq_epi64_mask, _mm512_cmpeq_epu64_mask, _mm512_cmpgt_epu64_mask, _mm512_loadu_si512,
    _mm512_madd52hi_epu64, _mm512_madd52lo_epu64, _mm512_mask_add_epi64, _mm512_mask_mov_epi64, _mm512_set1_epi64,
    _mm512_setzero_si512, _mm512_srli_epi64, _mm512_storeu_si512,
};

use zeroize::{Zeroize, Zeroizing};

use super::{Window, fixed_window_digit};

/// Low 52 bits.
const MASK52: u64 = (1 << 52) - 1;

/// Largest supported size in vectors: 160 limbs of 52 bits, 8320 bits (n² of a 4096-bit key).
/// Beyond it a 64-bit lane could overflow and the accumulator would not fit the registers.
pub(crate) const MAX_VECS: usize = 20;

/// One vector's worth of limbs.
type Block = [u64; 8];

/// Whether this CPU has the instructions the module needs.
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512ifma")
}

/// An odd modulus in 52-bit limbs with its Montgomery constant, for R = 2^(416·vecs).
pub(crate) struct Ifma {
    vecs: usize,
    /// The modulus, `8·vecs` limbs of 52 bits.
    m: Vec<Block>,
    /// −m⁻¹ mod 2^52.
    m0inv: u64,
    /// Length of the modulus in 64-bit limbs.
    k64: usize,
}

impl Drop for Ifma {
    fn drop(&mut self) {
        self.m.zeroize();
    }
}

/// Runs `$body` with `$n` bound to the constant number of vectors.
macro_rules! with_vecs {
    ($vecs:expr, $n:ident => $body:expr) => {
        match $vecs {
            1 => {
                const $n: usize = 1;
                $body
            }
            2 => {
                const $n: usize = 2;
                $body
            }
            3 => {
                const $n: usize = 3;
                $body
            }
            4 => {
                const $n: usize = 4;
                $body
            }
            5 => {
                const $n: usize = 5;
                $body
            }
            6 => {
                const $n: usize = 6;
                $body
            }
            7 => {
                const $n: usize = 7;
                $body
            }
            8 => {
                const $n: usize = 8;
                $body
            }
            9 => {
                const $n: usize = 9;
                $body
            }
            10 => {
                const $n: usize = 10;
                $body
            }
            11 => {
                const $n: usize = 11;
                $body
            }
            12 => {
                const $n: usize = 12;
                $body
            }
            13 => {
                const $n: usize = 13;
                $body
            }
            14 => {
                const $n: usize = 14;
                $body
            }
            15 => {
                const $n: usize = 15;
                $body
            }
            16 => {
                const $n: usize = 16;
                $body
            }
            17 => {
                const $n: usize = 17;
                $body
            }
            18 => {
                const $n: usize = 18;
                $body
            }
            19 => {
                const $n: usize = 19;
                $body
            }
            20 => {
                const $n: usize = 20;
                $body
            }
            _ => unreachable!("Ifma::new refuses sizes above MAX_VECS"),
        }
    };
}

impl Ifma {
    /// The context for odd `m` (64-bit limbs, no leading zero limb, `m > 1`), or `None` when the
    /// CPU lacks AVX-512 IFMA or `m` is too long.
    pub(crate) fn new(m: &[u64], m0inv64: u64) -> Option<Self> {
        if !available() {
            return None;
        }
        let k64 = m.len();
        let bits = 64 * k64;
        // R must cover both the 64-bit representation (inputs below 2^(64·k64)) and 4m.
        let vecs = (bits + 2).div_ceil(416);
        if vecs > MAX_VECS {
            return None;
        }
        let mut limbs = vec![[0u64; 8]; vecs];
        to52(m, limbs.as_flattened_mut());
        Some(Self {
            vecs,
            m: limbs,
            m0inv: m0inv64 & MASK52,
            k64,
        })
    }

    /// Whether `other` has as many vectors (and so can be paired in [`pow_secret_both`]).
    pub(crate) fn same_size(&self, other: &Ifma) -> bool {
        self.vecs == other.vecs
    }

    /// log2 R.
    pub(crate) fn r_bits(&self) -> usize {
        416 * self.vecs
    }

    /// `a·b/R mod m`, canonical, for 64-bit-limb inputs `a, b < 2^(64·k64)` of which at least
    /// one is below m.
    pub(crate) fn mul(&self, a: &[u64], b: &[u64], out: &mut [u64]) {
        with_vecs!(self.vecs, N => {
            let m = self.m.first_chunk::<N>().expect("m has vecs blocks");
            // SAFETY: `Ifma` values exist only after `available()` confirmed AVX-512F and IFMA.
            unsafe { mul64::<N>(m, self.m0inv, a, b, &mut out[..self.k64]) }
        })
    }

    /// `base^exp` (Montgomery form, canonical) for a public exponent, by sliding windows.
    pub(crate) fn pow_public(&self, base: &[u64], window: &Window, out: &mut [u64]) {
        with_vecs!(self.vecs, N => {
            let m = self.m.first_chunk::<N>().expect("m has vecs blocks");
            // SAFETY: as in `mul`, the CPU features were checked when `self` was made.
            unsafe { pow_public::<N>(m, self.m0inv, base, window, &mut out[..self.k64]) }
        })
    }

    /// `base^exp` (Montgomery form, canonical) for a secret exponent of `exp_bits` bits, with
    /// fixed windows; `one` is 1 in Montgomery form.
    pub(crate) fn pow_secret(&self, base: &[u64], one: &[u64], exp: &[u64], exp_bits: usize, out: &mut [u64]) {
        with_vecs!(self.vecs, N => {
            let m = self.m.first_chunk::<N>().expect("m has vecs blocks");
            // SAFETY: as in `mul`, the CPU features were checked when `self` was made.
            unsafe { pow_secret::<N>(m, self.m0inv, base, one, exp, exp_bits, &mut out[..self.k64]) }
        })
    }
}

/// Two independent [`Ifma::pow_secret`]s, interleaved (the two halves of a CRT decryption):
/// `ctx[0]` with the first of each pair, `ctx[1]` with the second. Both moduli must have the
/// same number of vectors ([`Ifma::same_size`]).
pub(crate) fn pow_secret_both(
    ctx: [&Ifma; 2],
    base: [&[u64]; 2],
    one: [&[u64]; 2],
    exp: [&[u64]; 2],
    exp_bits: usize,
    out: [&mut [u64]; 2],
) {
    assert_eq!(ctx[0].vecs, ctx[1].vecs, "pow_secret_both needs moduli of one size");
    let [o0, o1] = out;
    let out = [&mut o0[..ctx[0].k64], &mut o1[..ctx[1].k64]];
    with_vecs!(ctx[0].vecs, N => {
        let m = [
            ctx[0].m.first_chunk::<N>().expect("m has vecs blocks"),
            ctx[1].m.first_chunk::<N>().expect("m has vecs blocks"),
        ];
        // SAFETY: as in `Ifma::mul`, the CPU features were checked when the contexts were made.
        unsafe { pow_secret_pair::<N>(m, [ctx[0].m0inv, ctx[1].m0inv], base, one, exp, exp_bits, out) }
    })
}

/// 64-bit limbs to 52-bit limbs (`out` long enough for the value; the rest is zeroed).
pub(crate) fn to52(x: &[u64], out: &mut [u64]) {
    for (j, o) in out.iter_mut().enumerate() {
        let bit = 52 * j;
        let (w, s) = (bit / 64, bit % 64);
        let lo = x.get(w).map_or(0, |&l| l >> s);
        let hi = if s > 12 {
            x.get(w + 1).map_or(0, |&l| l << (64 - s))
        } else {
            0
        };
        *o = (lo | hi) & MASK52;
    }
}

/// Normalised 52-bit limbs to 64-bit limbs (the value must fit `out`).
pub(crate) fn from52(x: &[u64], out: &mut [u64]) {
    for (i, o) in out.iter_mut().enumerate() {
        let bit = 64 * i;
        let (j, s) = (bit / 52, bit % 52);
        // 64 bits starting at bit s of limb j span limbs j, j+1 and possibly j+2.
        let l0 = x.get(j).map_or(0, |&l| l >> s);
        let l1 = x.get(j + 1).map_or(0, |&l| l << (52 - s));
        let l2 = if 104 - s < 64 {
            x.get(j + 2).map_or(0, |&l| l << (104 - s))
        } else {
            0
        };
        *o = l0 | l1 | l2;
    }
}

/// `x − m` if `x ≥ m`, on normalised 52-bit limbs, without branching.
fn reduce_once52(x: &mut [u64], m: &[u64]) {
    let mut d = [0u64; 8 * MAX_VECS];
    let mut borrow = 0u64;
    for ((di, &xi), &mi) in d.iter_mut().zip(x.iter()).zip(m) {
        let t = xi.wrapping_sub(mi).wrapping_sub(borrow);
        borrow = t >> 63;
        *di = t & MASK52;
    }
    // Keep x when the subtraction borrowed.
    let keep = borrow.wrapping_neg();
    for (xi, &di) in x.iter_mut().zip(d.iter()) {
        *xi = (*xi & keep) | (di & !keep);
    }
    d.zeroize();
}

#[inline]
#[target_feature(enable = "avx512f")]
fn load(x: &Block) -> __m512i {
    // SAFETY: `x` is 64 readable bytes and `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(x.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn store(x: &mut Block, v: __m512i) {
    // SAFETY: `x` is 64 writable bytes and `storeu` has no alignment requirement.
    unsafe { _mm512_storeu_si512(x.as_mut_ptr().cast(), v) }
}

/// One iteration of the almost Montgomery product: adds `a·b_i + m·q` with q chosen so that the
/// lowest limb becomes divisible by 2^52, and shifts the accumulator down by one limb.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn amm_step<const N: usize>(
    acc: &mut [__m512i; N],
    av: &[__m512i; N],
    mv: &[__m512i; N],
    bi: u64,
    m0inv: u64,
    m0: u64,
) {
    let bv = _mm512_set1_epi64(bi as i64);
    for j in 0..N {
        acc[j] = _mm512_madd52lo_epu64(acc[j], av[j], bv);
    }
    // q makes the lowest limb divisible by 2^52; its carry moves into the next limb.
    let t0 = _mm_cvtsi128_si64(_mm512_castsi512_si128(acc[0])) as u64;
    let q = t0.wrapping_mul(m0inv) & MASK52;
    let qv = _mm512_set1_epi64(q as i64);
    for j in 0..N {
        acc[j] = _mm512_madd52lo_epu64(acc[j], mv[j], qv);
    }
    let carry = (t0 + (m0.wrapping_mul(q) & MASK52)) >> 52;
    for j in 0..N - 1 {
        acc[j] = _mm512_alignr_epi64::<1>(acc[j + 1], acc[j]);
    }
    acc[N - 1] = _mm512_alignr_epi64::<1>(_mm512_setzero_si512(), acc[N - 1]);
    acc[0] = _mm512_mask_add_epi64(acc[0], 1, acc[0], _mm512_set1_epi64(carry as i64));
    // The high halves belong one limb up, which after the shift is the same lane.
    for j in 0..N {
        acc[j] = _mm512_madd52hi_epu64(acc[j], av[j], bv);
        acc[j] = _mm512_madd52hi_epu64(acc[j], mv[j], qv);
    }
}

/// Almost Montgomery product `a·b/R mod m` of `a, b < 2^(52·8·N)` (normalised limbs): the result
/// is normalised and below `ab/R + m`, so below 2m when a, b < 2m.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn amm<const N: usize>(m: &[Block; N], m0inv: u64, a: &[Block; N], b: &[Block; N], out: &mut [Block; N]) {
    let mut acc = [_mm512_setzero_si512(); N];
    let av: [__m512i; N] = std::array::from_fn(|j| load(&a[j]));
    let mv: [__m512i; N] = std::array::from_fn(|j| load(&m[j]));
    for &bi in b.as_flattened() {
        amm_step(&mut acc, &av, &mv, bi, m0inv, m[0][0]);
    }
    normalize(&mut acc);
    for (o, v) in out.iter_mut().zip(acc) {
        store(o, v);
    }
}

/// Two independent almost Montgomery products of the same size computed in one loop, so that the
/// CPU overlaps their dependency chains (each iteration waits for its own q).
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn amm_pair<const N: usize>(
    m: [&[Block; N]; 2],
    m0inv: [u64; 2],
    a: [&[Block; N]; 2],
    b: [&[Block; N]; 2],
    out: [&mut [Block; N]; 2],
) {
    let mut acc = [[_mm512_setzero_si512(); N]; 2];
    let av: [[__m512i; N]; 2] = std::array::from_fn(|x| std::array::from_fn(|j| load(&a[x][j])));
    let mv: [[__m512i; N]; 2] = std::array::from_fn(|x| std::array::from_fn(|j| load(&m[x][j])));
    let [acc0, acc1] = &mut acc;
    for (&b0, &b1) in b[0].as_flattened().iter().zip(b[1].as_flattened()) {
        amm_step(acc0, &av[0], &mv[0], b0, m0inv[0], m[0][0][0]);
        amm_step(acc1, &av[1], &mv[1], b1, m0inv[1], m[1][0][0]);
    }
    for (acc, out) in acc.iter_mut().zip(out) {
        normalize(acc);
        for (o, &v) in out.iter_mut().zip(acc.iter()) {
            store(o, v);
        }
    }
}

/// Carries every lane's bits above 52 into the next lane. A first pass moves each lane's excess
/// up one lane; the lanes may then exceed 52 bits by one carry, which a carry-lookahead on the
/// lane masks resolves: lanes above 2^52 − 1 generate a carry, lanes equal to it propagate one,
/// and ((G << 1) + P) ⊕ P marks the lanes that receive one (as in `rsaz-avx512`).
#[inline]
#[target_feature(enable = "avx512f")]
fn normalize<const N: usize>(acc: &mut [__m512i; N]) {
    let zero = _mm512_setzero_si512();
    let mask = _mm512_set1_epi64(MASK52 as i64);
    let one = _mm512_set1_epi64(1);
    let carries: [__m512i; N] = std::array::from_fn(|j| _mm512_srli_epi64::<52>(acc[j]));
    for j in 0..N {
        let below = if j == 0 { zero } else { carries[j - 1] };
        acc[j] = _mm512_add_epi64(
            _mm512_and_si512(acc[j], mask),
            _mm512_alignr_epi64::<7>(carries[j], below),
        );
    }
    let (mut g_top, mut sum_carry) = (0u32, 0u32);
    for lane in acc.iter_mut() {
        let g = u32::from(_mm512_cmpgt_epu64_mask(*lane, mask));
        let p = u32::from(_mm512_cmpeq_epu64_mask(*lane, mask));
        let shifted = ((g << 1) | g_top) & 0xff;
        g_top = g >> 7;
        let s = shifted + p + sum_carry;
        sum_carry = s >> 8;
        let receive = ((s ^ p) & 0xff) as u8;
        *lane = _mm512_and_si512(_mm512_mask_add_epi64(*lane, receive, *lane, one), mask);
    }
}

/// [`Ifma::mul`] for N vectors.
#[target_feature(enable = "avx512f,avx512ifma")]
fn mul64<const N: usize>(m: &[Block; N], m0inv: u64, a: &[u64], b: &[u64], out: &mut [u64]) {
    let mut a52 = Zeroizing::new([[0u64; 8]; N]);
    let mut b52 = Zeroizing::new([[0u64; 8]; N]);
    let mut r = Zeroizing::new([[0u64; 8]; N]);
    to52(a, a52.as_flattened_mut());
    to52(b, b52.as_flattened_mut());
    amm::<N>(m, m0inv, &a52, &b52, &mut r);
    reduce_once52(r.as_flattened_mut(), m.as_flattened());
    from52(r.as_flattened(), out);
}

/// Sliding-window exponentiation with a public exponent, all in 52-bit limbs.
#[target_feature(enable = "avx512f,avx512ifma")]
fn pow_public<const N: usize>(m: &[Block; N], m0inv: u64, base: &[u64], window: &Window, out: &mut [u64]) {
    // table[i] = base^(2i+1)
    let entries = 1usize << (window.width - 1);
    let mut table = Zeroizing::new(vec![[[0u64; 8]; N]; entries]);
    to52(base, table[0].as_flattened_mut());
    if entries > 1 {
        let mut sq = Zeroizing::new([[0u64; 8]; N]);
        amm::<N>(m, m0inv, &table[0], &table[0], &mut sq);
        for i in 1..entries {
            let (done, rest) = table.split_at_mut(i);
            amm::<N>(m, m0inv, &done[i - 1], &sq, &mut rest[0]);
        }
    }
    let mut acc = Zeroizing::new(table[window.first]);
    let mut scratch = Zeroizing::new([[0u64; 8]; N]);
    for step in &window.steps {
        match *step {
            None => amm::<N>(m, m0inv, &acc, &acc, &mut scratch),
            Some(i) => amm::<N>(m, m0inv, &acc, &table[i], &mut scratch),
        }
        std::mem::swap(&mut *acc, &mut *scratch);
    }
    reduce_once52(acc.as_flattened_mut(), m.as_flattened());
    from52(acc.as_flattened(), out);
}

/// Fixed windows for a secret exponent of `exp_bits` bits: 5 bits from 512 bits up, else 4.
fn secret_width(exp_bits: usize) -> usize {
    if exp_bits > 512 { 5 } else { 4 }
}

/// The table one, base, base², …, base^(2^width − 1) in 52-bit limbs.
#[target_feature(enable = "avx512f,avx512ifma")]
fn secret_table<const N: usize>(
    m: &[Block; N],
    m0inv: u64,
    base: &[u64],
    one: &[u64],
    width: usize,
) -> Zeroizing<Vec<[Block; N]>> {
    let mut table = Zeroizing::new(vec![[[0u64; 8]; N]; 1 << width]);
    to52(one, table[0].as_flattened_mut());
    to52(base, table[1].as_flattened_mut());
    for i in 2..1 << width {
        let (done, rest) = table.split_at_mut(i);
        amm::<N>(m, m0inv, &done[i - 1], &done[1], &mut rest[0]);
    }
    table
}

/// The entry `digit` of `table`, read with a full masked scan (every row is loaded).
#[target_feature(enable = "avx512f")]
fn select_entry<const N: usize>(table: &[[Block; N]], digit: u64, entry: &mut [Block; N]) {
    let digit = _mm512_set1_epi64(digit as i64);
    let mut picked = [_mm512_setzero_si512(); N];
    for (i, row) in table.iter().enumerate() {
        let hit = _mm512_cmpeq_epi64_mask(_mm512_set1_epi64(i as i64), digit);
        for j in 0..N {
            picked[j] = _mm512_mask_mov_epi64(picked[j], hit, load(&row[j]));
        }
    }
    for (e, v) in entry.iter_mut().zip(picked) {
        store(e, v);
    }
}

/// Fixed-window exponentiation with a secret exponent: every window squares the same number of
/// times and multiplies by a table entry read with a full masked scan.
#[target_feature(enable = "avx512f,avx512ifma")]
fn pow_secret<const N: usize>(
    m: &[Block; N],
    m0inv: u64,
    base: &[u64],
    one: &[u64],
    exp: &[u64],
    exp_bits: usize,
    out: &mut [u64],
) {
    let width = secret_width(exp_bits);
    let table = secret_table::<N>(m, m0inv, base, one, width);
    let windows = exp_bits.div_ceil(width);
    let mut acc = Zeroizing::new(table[0]);
    let mut scratch = Zeroizing::new([[0u64; 8]; N]);
    let mut entry = Zeroizing::new([[0u64; 8]; N]);
    for w in (0..windows).rev() {
        if w + 1 != windows {
            for _ in 0..width {
                amm::<N>(m, m0inv, &acc, &acc, &mut scratch);
                std::mem::swap(&mut *acc, &mut *scratch);
            }
        }
        select_entry::<N>(&table, fixed_window_digit(exp, w, width), &mut entry);
        amm::<N>(m, m0inv, &acc, &entry, &mut scratch);
        std::mem::swap(&mut *acc, &mut *scratch);
    }
    reduce_once52(acc.as_flattened_mut(), m.as_flattened());
    from52(acc.as_flattened(), out);
}

/// Two [`pow_secret`]s of the same size and exponent length, interleaved with [`amm_pair`]
/// ([`pow_secret_both`] for N vectors).
#[target_feature(enable = "avx512f,avx512ifma")]
fn pow_secret_pair<const N: usize>(
    m: [&[Block; N]; 2],
    m0inv: [u64; 2],
    base: [&[u64]; 2],
    one: [&[u64]; 2],
    exp: [&[u64]; 2],
    exp_bits: usize,
    out: [&mut [u64]; 2],
) {
    let width = secret_width(exp_bits);
    // Both tables one, base, base², … built side by side.
    let mut tables = [
        Zeroizing::new(vec![[[0u64; 8]; N]; 1 << width]),
        Zeroizing::new(vec![[[0u64; 8]; N]; 1 << width]),
    ];
    for x in 0..2 {
        to52(one[x], tables[x][0].as_flattened_mut());
        to52(base[x], tables[x][1].as_flattened_mut());
    }
    for i in 2..1 << width {
        let [t0, t1] = &mut tables;
        let (done0, rest0) = t0.split_at_mut(i);
        let (done1, rest1) = t1.split_at_mut(i);
        amm_pair::<N>(
            m,
            m0inv,
            [&done0[i - 1], &done1[i - 1]],
            [&done0[1], &done1[1]],
            [&mut rest0[0], &mut rest1[0]],
        );
    }
    let windows = exp_bits.div_ceil(width);
    let mut acc = Zeroizing::new([tables[0][0], tables[1][0]]);
    let mut scratch = Zeroizing::new([[[0u64; 8]; N]; 2]);
    let mut entry = Zeroizing::new([[[0u64; 8]; N]; 2]);
    for w in (0..windows).rev() {
        if w + 1 != windows {
            for _ in 0..width {
                let [s0, s1] = &mut *scratch;
                amm_pair::<N>(m, m0inv, [&acc[0], &acc[1]], [&acc[0], &acc[1]], [s0, s1]);
                std::mem::swap(&mut *acc, &mut *scratch);
            }
        }
        for x in 0..2 {
            select_entry::<N>(&tables[x], fixed_window_digit(exp[x], w, width), &mut entry[x]);
        }
        let [s0, s1] = &mut *scratch;
        amm_pair::<N>(m, m0inv, [&acc[0], &acc[1]], [&entry[0], &entry[1]], [s0, s1]);
        std::mem::swap(&mut *acc, &mut *scratch);
    }
    for ((acc, out), m) in acc.iter_mut().zip(out).zip(m) {
        reduce_once52(acc.as_flattened_mut(), m.as_flattened());
        from52(acc.as_flattened(), out);
    }
}
