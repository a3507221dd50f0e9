//! ristretto255 (RFC 9496) on eight points at once: decoding (§4.3.1), encoding (§4.3.2) and the
//! element derivation from 64 uniform bytes (§4.3.4), written as curve25519-dalek writes them so
//! that every lane gives the bytes dalek gives.
#![deny(unsafe_code)]

use super::LANES;
use super::field::{D, D_MINUS_ONE_SQ, F8, INVSQRT_A_MINUS_D, Mask, ONE_MINUS_D_SQ, SQRT_AD_MINUS_ONE, SQRT_M1};
use super::point::{Completed, Ext};

/// `2·(a/2)·H(u)` for groups of eight 64-byte uniform strings, encoded; `half` holds the digits
/// of a/2.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(super) fn mask(half: &[i8; 64], uniform: &[[[u8; 64]; LANES]]) -> Vec<[[u8; 32]; LANES]> {
    let mut points = Vec::with_capacity(uniform.len());
    for u in uniform {
        points.push(from_uniform_bytes(u).mul_shared(half));
    }
    double_and_encode(&points)
}

/// `2·(a/2)·P` for groups of eight encodings, encoded, and for each group the lanes that decoded.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(super) fn remask(half: &[i8; 64], encodings: &[[[u8; 32]; LANES]]) -> (Vec<[[u8; 32]; LANES]>, Vec<Mask>) {
    let mut points = Vec::with_capacity(encodings.len());
    let mut valid = Vec::with_capacity(encodings.len());
    for e in encodings {
        let (p, ok) = decode(e);
        points.push(p.mul_shared(half));
        valid.push(ok);
    }
    (double_and_encode(&points), valid)
}

/// What [`double_and_encode`] keeps of a point P to encode 2P (curve25519-dalek's
/// `BatchCompressState`).
struct Doubling {
    e: F8,
    f: F8,
    g: F8,
    h: F8,
    eg: F8,
    fh: F8,
}

/// ENCODE(2P) for every P: curve25519-dalek's `double_and_compress_batch`, whose formulas for the
/// doubled point need an inverse instead of an inverse square root, with one inversion for the
/// whole slice (Montgomery's trick, lane by lane; a lane whose product is 0, the identity, keeps
/// 0 and encodes as 0).
#[target_feature(enable = "avx512f,avx512ifma")]
pub(super) fn double_and_encode(points: &[Ext]) -> Vec<[[u8; 32]; LANES]> {
    let d = F8::constant(D);
    let mut states = Vec::with_capacity(points.len());
    for p in points {
        let xx = p.x.square();
        let yy = p.y.square();
        let zz = p.z.square();
        let dtt = p.t.square().mul(&d);
        let e = p.x.mul(&p.y.add(&p.y));
        let f = zz.add(&dtt);
        let g = yy.add(&xx);
        let h = zz.sub(&dtt);
        let eg = e.mul(&g);
        let fh = f.mul(&h);
        states.push(Doubling { e, f, g, h, eg, fh });
    }
    // Prefix products of eg·fh, skipping zeros lane by lane; then one inversion and back.
    let mut prefix = Vec::with_capacity(states.len());
    let mut products = Vec::with_capacity(states.len());
    let mut acc = F8::one();
    for st in &states {
        let x = st.eg.mul(&st.fh);
        prefix.push(acc);
        acc = acc.select(&acc.mul(&x), !x.is_zero());
        products.push(x);
    }
    acc = acc.invert();
    let mut invs = vec![F8::zero(); states.len()];
    for i in (0..states.len()).rev() {
        let x = products[i];
        let nonzero = !x.is_zero();
        invs[i] = x.select(&acc.mul(&prefix[i]), nonzero);
        acc = acc.select(&acc.mul(&x), nonzero);
    }
    let sqrt_m1 = F8::constant(SQRT_M1);
    let mut out = Vec::with_capacity(states.len());
    for (st, inv) in states.iter().zip(&invs) {
        let z_inv = st.eg.mul(inv);
        let t_inv = st.fh.mul(inv);
        let negcheck1 = st.eg.mul(&z_inv).is_negative();
        let minus_e = st.e.neg();
        let f_sqrt_a = st.f.mul(&sqrt_m1);
        let e = st.e.select(&st.g, negcheck1);
        let mut g = st.g.select(&minus_e, negcheck1);
        let h = st.h.select(&f_sqrt_a, negcheck1);
        let magic = F8::constant(INVSQRT_A_MINUS_D).select(&sqrt_m1, negcheck1);
        let negcheck2 = h.mul(&e).mul(&z_inv).is_negative();
        g = g.negate_if(negcheck2);
        let mut s = h.sub(&g).mul(&magic.mul(&g.mul(&t_inv)));
        s = s.negate_if(s.is_negative());
        out.push(s.as_bytes());
    }
    out
}

/// RFC 9496 §4.3.1 DECODE: the points, and the lanes whose bytes are a valid encoding (the
/// points of the other lanes are meaningless).
#[target_feature(enable = "avx512f,avx512ifma")]
pub(super) fn decode(bytes: &[[u8; 32]; LANES]) -> (Ext, Mask) {
    let s = F8::from_bytes(bytes);
    // The encoding must be canonical (below p, top bit clear) and s non-negative.
    let again = s.as_bytes();
    let mut canonical: Mask = 0;
    for (i, (a, b)) in again.iter().zip(bytes).enumerate() {
        canonical |= u8::from(a == b) << i;
    }
    let s_negative = s.is_negative();

    let one = F8::one();
    let ss = s.square();
    let u1 = one.sub(&ss);
    let u2 = one.add(&ss);
    let u2_sqr = u2.square();
    let v = F8::constant(D).neg().mul(&u1.square()).sub(&u2_sqr);
    let (ok, inv) = v.mul(&u2_sqr).invsqrt();
    let den_x = inv.mul(&u2);
    let den_y = inv.mul(&den_x.mul(&v));
    let mut x = s.add(&s).mul(&den_x);
    x = x.negate_if(x.is_negative());
    let y = u1.mul(&den_y);
    let t = x.mul(&y);
    let valid = canonical & !s_negative & ok & !t.is_negative() & !y.is_zero();
    (Ext { x, y, z: one, t }, valid)
}

/// RFC 9496 §4.3.2 ENCODE, one inverse square root per point ([`double_and_encode`] is what the
/// protocol uses; the tests check both).
#[cfg_attr(not(test), allow(dead_code))]
#[target_feature(enable = "avx512f,avx512ifma")]
pub(super) fn encode(p: &Ext) -> [[u8; 32]; LANES] {
    let sqrt_m1 = F8::constant(SQRT_M1);
    let (mut x, mut y, z, t) = (p.x, p.y, p.z, p.t);
    let u1 = z.add(&y).mul(&z.sub(&y));
    let u2 = x.mul(&y);
    // Always a square: the inverse square root exists for every point.
    let (_, invsqrt) = u1.mul(&u2.square()).invsqrt();
    let i1 = invsqrt.mul(&u1);
    let i2 = invsqrt.mul(&u2);
    let z_inv = i1.mul(&i2.mul(&t));
    let mut den_inv = i2;
    let ix = x.mul(&sqrt_m1);
    let iy = y.mul(&sqrt_m1);
    let enchanted = i1.mul(&F8::constant(INVSQRT_A_MINUS_D));
    let rotate = t.mul(&z_inv).is_negative();
    x = x.select(&iy, rotate);
    y = y.select(&ix, rotate);
    den_inv = den_inv.select(&enchanted, rotate);
    y = y.negate_if(x.mul(&z_inv).is_negative());
    let mut s = den_inv.mul(&z.sub(&y));
    s = s.negate_if(s.is_negative());
    s.as_bytes()
}

/// RFC 9496 §4.3.4: two Elligator maps of the halves of 64 uniform bytes, added.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(super) fn from_uniform_bytes(uniform: &[[u8; 64]; LANES]) -> Ext {
    let mut halves = [[[0u8; 32]; LANES]; 2];
    for (i, u) in uniform.iter().enumerate() {
        halves[0][i].copy_from_slice(&u[..32]);
        halves[1][i].copy_from_slice(&u[32..]);
    }
    let p1 = elligator(&F8::from_bytes(&halves[0]));
    let p2 = elligator(&F8::from_bytes(&halves[1]));
    p1.add(&p2)
}

/// RFC 9496 §4.3.4 MAP, in curve25519-dalek's form.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(super) fn elligator(r0: &F8) -> Ext {
    let d = F8::constant(D);
    let one = F8::one();
    let mut c = one.neg();
    let r = F8::constant(SQRT_M1).mul(&r0.square());
    let ns = r.add(&one).mul(&F8::constant(ONE_MINUS_D_SQ));
    let den = c.sub(&d.mul(&r)).mul(&r.add(&d));
    let (is_square, mut s) = F8::sqrt_ratio_i(&ns, &den);
    let mut s_prime = s.mul(r0);
    s_prime = s_prime.negate_if(!s_prime.is_negative());
    s = s.select(&s_prime, !is_square);
    c = c.select(&r, !is_square);
    let nt = c.mul(&r.sub(&one)).mul(&F8::constant(D_MINUS_ONE_SQ)).sub(&den);
    let s_sq = s.square();
    Completed {
        x: s.add(&s).mul(&den),
        z: nt.mul(&F8::constant(SQRT_AD_MINUS_ONE)),
        y: one.sub(&s_sq),
        t: one.add(&s_sq),
    }
    .as_extended()
}
