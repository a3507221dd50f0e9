//! GF(2^128) with the polynomial `X^128 + X^7 + X^2 + X + 1` (the GCM field, in the plain, not
//! bit-reflected, order): an element is a `u128` whose bit `i` is the coefficient of `X^i`.
//!
//! Addition is XOR. Multiplication is a carry-less 128×128-bit product (three 64×64-bit
//! products, Karatsuba) followed by a reduction with shifts. The 64×64-bit product uses
//! `pclmulqdq` when the CPU has it (checked at run time; `std` caches the answer) and a portable
//! constant-time routine otherwise; the tests compare both against a bit-by-bit reference.
//!
//! This and `src/ecdh/ifma.rs` are the only modules that allow `unsafe`: the intrinsic call below.

/// An element of GF(2^128).
pub(crate) type Gf = u128;

/// `a·X` (multiplication by the generator): a shift and a conditional reduction without branches.
#[inline]
pub(crate) fn mul_x(a: Gf) -> Gf {
    let carry = (a >> 127) as u8;
    (a << 1) ^ (0x87 & 0u128.wrapping_sub(u128::from(carry)))
}

/// Reduces a 256-bit product `hi·X^128 + lo` modulo `X^128 + X^7 + X^2 + X + 1`.
#[inline]
fn reduce(hi: u128, lo: u128) -> Gf {
    // X^128 = X^7 + X^2 + X + 1: fold hi in, then fold the (at most 7) bits that overflow again.
    let over = (hi >> 127) ^ (hi >> 126) ^ (hi >> 121);
    let folded = hi ^ (hi << 1) ^ (hi << 2) ^ (hi << 7);
    lo ^ folded ^ over ^ (over << 1) ^ (over << 2) ^ (over << 7)
}

/// The 128-bit carry-less product of two 64-bit words, portably: four-bit windows of `b` with
/// masks instead of branches, so the time does not depend on the operands.
fn clmul64_portable(a: u64, b: u64) -> u128 {
    let a = u128::from(a);
    let mut table = [0u128; 16];
    for (i, t) in table.iter_mut().enumerate() {
        for bit in 0..4 {
            if (i >> bit) & 1 == 1 {
                *t ^= a << bit;
            }
        }
    }
    let mut r = 0u128;
    for w in (0..16).rev() {
        let nib = ((b >> (4 * w)) & 0xf) as usize;
        let mut sel = 0u128;
        for (i, t) in table.iter().enumerate() {
            // All-ones when i == nib, without a data-dependent branch or index.
            let m = 0u128.wrapping_sub(u128::from(((i ^ nib) as u64).wrapping_sub(1) >> 63));
            sel ^= t & m;
        }
        r = (r << 4) ^ sel;
    }
    r
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod clmul {
    use std::arch::x86_64::{__m128i, _mm_clmulepi64_si128, _mm_cvtsi64_si128, _mm_extract_epi64};

    /// Whether the CPU has `pclmulqdq` (and SSE4.1 for the extraction).
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("pclmulqdq") && std::arch::is_x86_feature_detected!("sse4.1")
    }

    #[target_feature(enable = "pclmulqdq,sse4.1")]
    fn product(a: u64, b: u64) -> u128 {
        let x: __m128i = _mm_cvtsi64_si128(a as i64);
        let y: __m128i = _mm_cvtsi64_si128(b as i64);
        let p = _mm_clmulepi64_si128::<0>(x, y);
        let lo = _mm_extract_epi64::<0>(p) as u64;
        let hi = _mm_extract_epi64::<1>(p) as u64;
        (u128::from(hi) << 64) | u128::from(lo)
    }

    /// The carry-less product of two words.
    #[inline]
    pub(super) fn clmul64(a: u64, b: u64) -> u128 {
        // SAFETY: callers reach this only after `available()` found pclmulqdq and SSE4.1 on this
        // CPU (see `super::clmul64`), which is all `product` requires; it touches no memory.
        unsafe { product(a, b) }
    }
}

/// The 128-bit carry-less product of two 64-bit words.
#[inline]
pub(crate) fn clmul64(a: u64, b: u64) -> u128 {
    #[cfg(target_arch = "x86_64")]
    if clmul::available() {
        return clmul::clmul64(a, b);
    }
    clmul64_portable(a, b)
}

/// Whether multiplication runs on `pclmulqdq`.
#[cfg(test)]
pub(crate) fn hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        clmul::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn mul_with(a: Gf, b: Gf, f: impl Fn(u64, u64) -> u128) -> Gf {
    let (a0, a1) = (a as u64, (a >> 64) as u64);
    let (b0, b1) = (b as u64, (b >> 64) as u64);
    let lo = f(a0, b0);
    let hi = f(a1, b1);
    let mid = f(a0 ^ a1, b0 ^ b1) ^ lo ^ hi;
    reduce(hi ^ (mid >> 64), lo ^ (mid << 64))
}

/// `a·b` in GF(2^128).
#[inline]
pub(crate) fn mul(a: Gf, b: Gf) -> Gf {
    mul_with(a, b, clmul64)
}

/// `a·b` with the portable word product only (for the tests).
#[cfg(test)]
pub(crate) fn mul_portable(a: Gf, b: Gf) -> Gf {
    mul_with(a, b, clmul64_portable)
}

/// `a·b` bit by bit, the textbook way: the reference of the tests.
#[cfg(test)]
pub(crate) fn mul_reference(a: Gf, b: Gf) -> Gf {
    let mut r = 0u128;
    let mut a = a;
    for i in 0..128 {
        if (b >> i) & 1 == 1 {
            r ^= a;
        }
        a = mul_x(a);
    }
    r
}
