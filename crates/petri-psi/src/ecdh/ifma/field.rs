//! Arithmetic modulo p = 2^255 − 19 on eight independent elements, in radix 2^52: five limbs per
//! element, one vector per limb, lane i of every vector belonging to element i.
//!
//! IFMA multiplies the low 52 bits of two lanes and adds either the low or the high 52 bits of
//! the 104-bit product to a 64-bit accumulator; bits above 52 of an input are ignored. Every
//! [`F8`] is therefore kept *normalised*: limbs 0–3 below 2^52, limb 4 below 2^52 and the value
//! below 2^255 + 2^221 (so below 2p). Additions and subtractions normalise at once (a carry chain
//! is cheap next to a product), so any element can enter a product.
//!
//! A product gathers its 25 low and 25 high halves into ten columns, carries the upper five
//! columns below 2^52, folds them down with 2^260 ≡ 608 (mod p) (again with IFMA), and
//! normalises: the bits above 2^255 fold with 2^255 ≡ 19 and one carry chain runs from limb 0 to
//! limb 4. No step branches or indexes memory on a value.
#![deny(unsafe_code)]

use std::arch::x86_64::{
    __m512i, __mmask8, _mm512_add_epi64, _mm512_and_si512, _mm512_cmpeq_epi64_mask, _mm512_madd52hi_epu64,
    _mm512_madd52lo_epu64, _mm512_mask_mov_epi64, _mm512_or_si512, _mm512_set_epi64, _mm512_set1_epi64,
    _mm512_setzero_si512, _mm512_slli_epi64, _mm512_srli_epi64, _mm512_sub_epi64, _mm512_test_epi64_mask,
};

use super::{LANES, lanes};

/// Low 52 bits.
const MASK52: u64 = (1 << 52) - 1;
/// Low 47 bits (limb 4 of a value below 2^255).
const MASK47: u64 = (1 << 47) - 1;
/// 2^260 mod p.
const FOLD260: u64 = 608;

/// 64·p in unnormalised limbs, each at least 2^52: added before a subtraction so that no limb
/// underflows.
const P64: [u64; 5] = [
    0x3ff_ffff_ffff_fb40,
    0x3ff_ffff_ffff_ffc0,
    0x3ff_ffff_ffff_ffc0,
    0x3ff_ffff_ffff_ffc0,
    0x1f_ffff_ffff_ffc0,
];

/// The Edwards curve constant d = −121665/121666.
pub(super) const D: [u64; 5] = [
    0xb4dca135978a3,
    0x4d4141d8ab75e,
    0x779e89800700a,
    0xfe738cc740797,
    0x52036cee2b6f,
];
/// 2d.
pub(super) const D2: [u64; 5] = [
    0x69b9426b2f159,
    0x9a8283b156ebd,
    0xef3d13000e014,
    0xfce7198e80f2e,
    0x2406d9dc56df,
];
/// The non-negative square root of −1.
pub(super) const SQRT_M1: [u64; 5] = [
    0xe1b274a0ea0b0,
    0x6ad2fe478c4e,
    0xdfbd7a72f4318,
    0xdf0b2b4d00993,
    0x2b8324804fc1,
];
/// 1/sqrt(a − d) with a = −1.
pub(super) const INVSQRT_A_MINUS_D: [u64; 5] = [
    0x8fdaa805d40ea,
    0x175a4172be99c,
    0xe01d8409d2f16,
    0xfca216c27b91f,
    0x786c8905cfaf,
];
/// sqrt(a·d − 1).
pub(super) const SQRT_AD_MINUS_ONE: [u64; 5] = [
    0x7f6a0497b2e1b,
    0xc1b7854bd7e9,
    0x1f5d1fdaf9d8e,
    0x48ac0f3cfcc93,
    0x376931bf2b83,
];
/// 1 − d².
pub(super) const ONE_MINUS_D_SQ: [u64; 5] = [
    0xc09c1945fc176,
    0x38cd5e350fe27,
    0xe70dfe42c81a1,
    0xe0d79994abddb,
    0x29072a8b2b3,
];
/// (d − 1)².
pub(super) const D_MINUS_ONE_SQ: [u64; 5] = [
    0xd5aaa44ed4d20,
    0x2cb01e199931a,
    0x29b4eebd29e4a,
    0x22414cdcd32f5,
    0x5968b37af66c,
];

/// Eight field elements, normalised (see the module comment).
#[derive(Clone, Copy)]
pub(super) struct F8(pub(super) [__m512i; 5]);

/// One bit per lane.
pub(super) type Mask = __mmask8;

#[inline]
#[target_feature(enable = "avx512f")]
fn splat(x: u64) -> __m512i {
    _mm512_set1_epi64(x as i64)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn add(a: __m512i, b: __m512i) -> __m512i {
    _mm512_add_epi64(a, b)
}

#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn lo(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
    _mm512_madd52lo_epu64(acc, a, b)
}

#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn hi(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
    _mm512_madd52hi_epu64(acc, a, b)
}

/// Limbs of a value below 2^64 each, with limb 0 and limb 4 at most 2^63, into normal form.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn normalise(x: [__m512i; 5]) -> F8 {
    let m52 = splat(MASK52);
    let [mut x0, mut x1, mut x2, mut x3, mut x4] = x;
    // Bits at and above 2^255 fold down as 19 each; the quotient is below 2^17, so IFMA reads it
    // whole.
    let c = _mm512_srli_epi64::<47>(x4);
    x4 = _mm512_and_si512(x4, splat(MASK47));
    x0 = lo(x0, c, splat(19));
    let c = _mm512_srli_epi64::<52>(x0);
    x0 = _mm512_and_si512(x0, m52);
    x1 = add(x1, c);
    let c = _mm512_srli_epi64::<52>(x1);
    x1 = _mm512_and_si512(x1, m52);
    x2 = add(x2, c);
    let c = _mm512_srli_epi64::<52>(x2);
    x2 = _mm512_and_si512(x2, m52);
    x3 = add(x3, c);
    let c = _mm512_srli_epi64::<52>(x3);
    x3 = _mm512_and_si512(x3, m52);
    x4 = add(x4, c);
    F8([x0, x1, x2, x3, x4])
}

/// Ten product columns (each below 2^57) reduced modulo p, normalised.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn reduce(t: [__m512i; 10]) -> F8 {
    let m52 = splat(MASK52);
    let k = splat(FOLD260);
    let [
        mut t0,
        mut t1,
        mut t2,
        mut t3,
        mut t4,
        mut t5,
        mut t6,
        mut t7,
        mut t8,
        mut t9,
    ] = t;
    // Carry the upper columns below 2^52, as IFMA will read them as inputs.
    t6 = add(t6, _mm512_srli_epi64::<52>(t5));
    t5 = _mm512_and_si512(t5, m52);
    t7 = add(t7, _mm512_srli_epi64::<52>(t6));
    t6 = _mm512_and_si512(t6, m52);
    t8 = add(t8, _mm512_srli_epi64::<52>(t7));
    t7 = _mm512_and_si512(t7, m52);
    t9 = add(t9, _mm512_srli_epi64::<52>(t8));
    t8 = _mm512_and_si512(t8, m52);
    let t10 = _mm512_srli_epi64::<52>(t9);
    t9 = _mm512_and_si512(t9, m52);
    // Column 5 + j is worth 608 times column j; the high half of 608·t9 lands in column 5 again,
    // and column 10 (t10 ≤ 1) is worth 608² in column 0.
    t0 = lo(t0, t5, k);
    t1 = hi(t1, t5, k);
    t1 = lo(t1, t6, k);
    t2 = hi(t2, t6, k);
    t2 = lo(t2, t7, k);
    t3 = hi(t3, t7, k);
    t3 = lo(t3, t8, k);
    t4 = hi(t4, t8, k);
    t4 = lo(t4, t9, k);
    let again = lo(hi(_mm512_setzero_si512(), t9, k), t10, k);
    t0 = lo(t0, again, k);
    normalise([t0, t1, t2, t3, t4])
}

#[allow(clippy::needless_range_loop)] // limb indices mirror the column arithmetic
impl F8 {
    /// The same constant in every lane (canonical limbs).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn constant(c: [u64; 5]) -> F8 {
        let mut r = [_mm512_setzero_si512(); 5];
        for (r, c) in r.iter_mut().zip(c) {
            *r = splat(c);
        }
        F8(r)
    }

    /// 0 in every lane.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn zero() -> F8 {
        F8([_mm512_setzero_si512(); 5])
    }

    /// 1 in every lane.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn one() -> F8 {
        F8::constant([1, 0, 0, 0, 0])
    }

    /// Elements from 32 little-endian bytes each, ignoring the top bit (as RFC 9496 does when it
    /// decodes field elements), not reduced.
    #[target_feature(enable = "avx512f")]
    pub(super) fn from_bytes(b: &[[u8; 32]; LANES]) -> F8 {
        let l = b.map(|b| limbs_from_bytes(&b));
        let mut r = [_mm512_setzero_si512(); 5];
        for (k, r) in r.iter_mut().enumerate() {
            *r = _mm512_set_epi64(
                l[7][k] as i64,
                l[6][k] as i64,
                l[5][k] as i64,
                l[4][k] as i64,
                l[3][k] as i64,
                l[2][k] as i64,
                l[1][k] as i64,
                l[0][k] as i64,
            );
        }
        F8(r)
    }

    /// The canonical little-endian encodings.
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn as_bytes(&self) -> [[u8; 32]; LANES] {
        let c = self.canonical();
        let mut l = [[0u64; LANES]; 5];
        for (l, v) in l.iter_mut().zip(c.0) {
            *l = lanes(v);
        }
        let mut out = [[0u8; 32]; LANES];
        for (i, o) in out.iter_mut().enumerate() {
            *o = bytes_from_limbs(&[l[0][i], l[1][i], l[2][i], l[3][i], l[4][i]]);
        }
        out
    }

    /// `self + b`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn add(&self, b: &F8) -> F8 {
        let mut s = self.0;
        for k in 0..5 {
            s[k] = add(s[k], b.0[k]);
        }
        normalise(s)
    }

    /// `self − b`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn sub(&self, b: &F8) -> F8 {
        let mut s = self.0;
        for k in 0..5 {
            // Every limb of 64p is at least 2^52 and so above the limb of b.
            s[k] = _mm512_sub_epi64(add(s[k], splat(P64[k])), b.0[k]);
        }
        normalise(s)
    }

    /// `−self`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn neg(&self) -> F8 {
        F8::zero().sub(self)
    }

    /// `self · b`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn mul(&self, b: &F8) -> F8 {
        let (a, b) = (&self.0, &b.0);
        let mut t = [_mm512_setzero_si512(); 10];
        for i in 0..5 {
            for j in 0..5 {
                t[i + j] = lo(t[i + j], a[i], b[j]);
                t[i + j + 1] = hi(t[i + j + 1], a[i], b[j]);
            }
        }
        reduce(t)
    }

    /// `self²`: the ten cross products once, doubled, and the five squares.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn square(&self) -> F8 {
        let a = &self.0;
        let mut t = [_mm512_setzero_si512(); 10];
        for i in 0..5 {
            for j in i + 1..5 {
                t[i + j] = lo(t[i + j], a[i], a[j]);
                t[i + j + 1] = hi(t[i + j + 1], a[i], a[j]);
            }
        }
        for c in t.iter_mut() {
            *c = _mm512_slli_epi64::<1>(*c);
        }
        for i in 0..5 {
            t[2 * i] = lo(t[2 * i], a[i], a[i]);
            t[2 * i + 1] = hi(t[2 * i + 1], a[i], a[i]);
        }
        reduce(t)
    }

    /// `self^(2^k)`, k ≥ 1.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn pow2k(&self, k: u32) -> F8 {
        let mut x = self.square();
        for _ in 1..k {
            x = x.square();
        }
        x
    }

    /// `self · c` for a small constant c < 2^40.
    #[allow(dead_code)] // the ristretto formulas need no small constants; tested with the rest
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn mul_small(&self, c: u64) -> F8 {
        debug_assert!(c < 1 << 40);
        let cv = splat(c);
        let z = _mm512_setzero_si512();
        let a = &self.0;
        let mut t = [z; 6];
        for i in 0..5 {
            t[i] = lo(t[i], a[i], cv);
            t[i + 1] = hi(t[i + 1], a[i], cv);
        }
        // Column 5 is below c, so 608 times it fits one IFMA low half.
        t[0] = lo(t[0], t[5], splat(FOLD260));
        normalise([t[0], t[1], t[2], t[3], t[4]])
    }

    /// The unique representative below p (limb 4 below 2^47).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn canonical(&self) -> F8 {
        let m52 = splat(MASK52);
        let [mut x0, mut x1, mut x2, mut x3, mut x4] = self.0;
        // q = ⌊(x + 19) / 2^255⌋ is 1 exactly when x ≥ p (x < 2p); then x − p = x + 19 − 2^255.
        let q = _mm512_srli_epi64::<52>(add(x0, splat(19)));
        let q = _mm512_srli_epi64::<52>(add(x1, q));
        let q = _mm512_srli_epi64::<52>(add(x2, q));
        let q = _mm512_srli_epi64::<52>(add(x3, q));
        let q = _mm512_srli_epi64::<47>(add(x4, q));
        x0 = lo(x0, q, splat(19));
        x1 = add(x1, _mm512_srli_epi64::<52>(x0));
        x0 = _mm512_and_si512(x0, m52);
        x2 = add(x2, _mm512_srli_epi64::<52>(x1));
        x1 = _mm512_and_si512(x1, m52);
        x3 = add(x3, _mm512_srli_epi64::<52>(x2));
        x2 = _mm512_and_si512(x2, m52);
        x4 = add(x4, _mm512_srli_epi64::<52>(x3));
        x3 = _mm512_and_si512(x3, m52);
        x4 = _mm512_and_si512(x4, splat(MASK47));
        F8([x0, x1, x2, x3, x4])
    }

    /// Lanes whose canonical value is odd ("negative" in RFC 9496).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn is_negative(&self) -> Mask {
        _mm512_test_epi64_mask(self.canonical().0[0], splat(1))
    }

    /// Lanes equal to zero.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn is_zero(&self) -> Mask {
        let c = self.canonical().0;
        let any = _mm512_or_si512(
            _mm512_or_si512(_mm512_or_si512(c[0], c[1]), _mm512_or_si512(c[2], c[3])),
            c[4],
        );
        _mm512_cmpeq_epi64_mask(any, _mm512_setzero_si512())
    }

    /// Lanes where `self = b`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn ct_eq(&self, b: &F8) -> Mask {
        self.sub(b).is_zero()
    }

    /// `b` in the lanes of `mask`, `self` elsewhere.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn select(&self, b: &F8, mask: Mask) -> F8 {
        let mut r = self.0;
        for k in 0..5 {
            r[k] = _mm512_mask_mov_epi64(r[k], mask, b.0[k]);
        }
        F8(r)
    }

    /// `−self` in the lanes of `mask`, `self` elsewhere.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn negate_if(&self, mask: Mask) -> F8 {
        self.select(&self.neg(), mask)
    }

    /// `(self^(2^250 − 1), self^11)`, the common start of inversion and square roots.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn pow22501(&self) -> (F8, F8) {
        let t0 = self.square(); // 2
        let t1 = t0.pow2k(2); // 8
        let t2 = self.mul(&t1); // 9
        let t3 = t0.mul(&t2); // 11
        let t4 = t3.square(); // 22
        let t5 = t2.mul(&t4); // 2^5 − 1
        let t6 = t5.pow2k(5);
        let t7 = t6.mul(&t5); // 2^10 − 1
        let t8 = t7.pow2k(10);
        let t9 = t8.mul(&t7); // 2^20 − 1
        let t10 = t9.pow2k(20);
        let t11 = t10.mul(&t9); // 2^40 − 1
        let t12 = t11.pow2k(10);
        let t13 = t12.mul(&t7); // 2^50 − 1
        let t14 = t13.pow2k(50);
        let t15 = t14.mul(&t13); // 2^100 − 1
        let t16 = t15.pow2k(100);
        let t17 = t16.mul(&t15); // 2^200 − 1
        let t18 = t17.pow2k(50);
        let t19 = t18.mul(&t13); // 2^250 − 1
        (t19, t3)
    }

    /// `self^(p − 2)`: the inverse, and 0 for 0.
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn invert(&self) -> F8 {
        let (t19, t3) = self.pow22501();
        t19.pow2k(5).mul(&t3)
    }

    /// `self^((p − 5)/8)`.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn pow_p58(&self) -> F8 {
        let (t19, _) = self.pow22501();
        self.mul(&t19.pow2k(2))
    }

    /// RFC 9496 `SQRT_RATIO_M1(u, v)`: the lanes where u/v is a square (or u is 0), and the
    /// non-negative square root of u/v there, of i·u/v elsewhere (0 when v is 0).
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn sqrt_ratio_i(u: &F8, v: &F8) -> (Mask, F8) {
        let sqrt_m1 = F8::constant(SQRT_M1);
        let v3 = v.square().mul(v);
        let v7 = v3.square().mul(v);
        let mut r = u.mul(&v3).mul(&u.mul(&v7).pow_p58());
        let check = v.mul(&r.square());
        let neg_u = u.neg();
        let correct = check.ct_eq(u);
        let flipped = check.ct_eq(&neg_u);
        let flipped_i = check.ct_eq(&neg_u.mul(&sqrt_m1));
        r = r.select(&r.mul(&sqrt_m1), flipped | flipped_i);
        r = r.negate_if(r.is_negative());
        (correct | flipped, r)
    }

    /// `SQRT_RATIO_M1(1, self)`: 1/sqrt(self) where it exists.
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn invsqrt(&self) -> (Mask, F8) {
        F8::sqrt_ratio_i(&F8::one(), self)
    }
}

/// 32 little-endian bytes (bit 255 ignored) as five 52-bit limbs.
pub(super) fn limbs_from_bytes(b: &[u8; 32]) -> [u64; 5] {
    let w = |i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8 bytes"));
    let (w0, w1, w2, w3) = (w(0), w(1), w(2), w(3));
    [
        w0 & MASK52,
        ((w0 >> 52) | (w1 << 12)) & MASK52,
        ((w1 >> 40) | (w2 << 24)) & MASK52,
        ((w2 >> 28) | (w3 << 36)) & MASK52,
        (w3 >> 16) & MASK47,
    ]
}

/// Canonical limbs (limb 4 below 2^47) as 32 little-endian bytes.
pub(super) fn bytes_from_limbs(l: &[u64; 5]) -> [u8; 32] {
    let w = [
        l[0] | (l[1] << 52),
        (l[1] >> 12) | (l[2] << 40),
        (l[2] >> 24) | (l[3] << 28),
        (l[3] >> 36) | (l[4] << 16),
    ];
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(8).zip(w) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}
