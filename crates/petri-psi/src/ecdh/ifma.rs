//! ristretto255 on eight points at once with AVX-512 IFMA (`vpmadd52luq`/`vpmadd52huq`).
//!
//! Written by hand because no stable crate offers it: curve25519-dalek's IFMA backend needs a
//! nightly compiler and works on the four coordinates of one point, not on independent points.
//! Here every 512-bit vector holds one 52-bit limb of eight independent field elements
//! ([`field`]), so a field multiplication costs the same instructions as one scalar
//! multiplication but yields eight. On top of it sit Edwards points and a scalar multiplication in
//! which all eight lanes share one scalar, the party's session secret ([`point`]), and ristretto255
//! decoding, encoding and hashing from uniform bytes (RFC 9496, [`ristretto`]). As on the dalek
//! path, the points are multiplied by a/2 and encoded doubled, which needs one inversion per batch
//! instead of one inverse square root per point. Everything is compared against curve25519-dalek
//! in the tests; the bytes that leave are identical.
//!
//! This module is the crate's only `unsafe` code: [`Ifma`] exists only after the CPU was found to
//! have AVX-512F and IFMA, and its methods call the `#[target_feature]` functions of the
//! submodules (which themselves deny `unsafe`). The one other `unsafe` block stores a vector into
//! an array.
//!
//! Every routine runs in time independent of secret values: the scalar's window digits choose
//! table entries by a masked scan of the whole table, and field arithmetic has no branches.
//! Lane masks (which lanes decoded) depend only on public data.
#![allow(unsafe_code)]

mod field;
mod point;
mod ristretto;
#[cfg(test)]
mod tests;

use std::arch::x86_64::{__m512i, _mm512_storeu_si512};

use curve25519_dalek::scalar::Scalar;
use zeroize::Zeroize;

/// The lanes of a vector (field elements and points hold eight).
pub(super) const LANES: usize = 8;

/// Whether this CPU has the instructions the module needs.
fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512ifma")
}

/// Proof that the CPU has AVX-512F and IFMA: the only way to reach the vector code.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ifma(());

impl Ifma {
    /// The backend, if this CPU can run it.
    pub(super) fn new() -> Option<Ifma> {
        available().then_some(Ifma(()))
    }

    /// `a·H` for groups of eight hashes, each 64 uniform bytes mapped to the group as RFC 9496
    /// §4.3.4 does, encoded (RFC 9496 §4.3.2); `half` holds the digits of a/2.
    pub(super) fn mask(&self, half: &Digits, uniform: &[[[u8; 64]; LANES]]) -> Vec<[[u8; 32]; LANES]> {
        // SAFETY: `Ifma` values exist only after `available()` confirmed AVX-512F and IFMA.
        unsafe { ristretto::mask(&half.0, uniform) }
    }

    /// `a·P` for groups of eight encoded points, encoded, and for each group a mask with bit i
    /// set when lane i decoded (RFC 9496 §4.3.1); `half` holds the digits of a/2. The output of
    /// a lane that did not decode is meaningless.
    pub(super) fn remask(&self, half: &Digits, points: &[[[u8; 32]; LANES]]) -> (Vec<[[u8; 32]; LANES]>, Vec<u8>) {
        // SAFETY: as in `mask`.
        unsafe { ristretto::remask(&half.0, points) }
    }
}

/// A secret scalar as 64 signed radix-16 digits in [-8, 8), least significant first. Wiped on
/// drop.
pub(super) struct Digits([i8; 64]);

impl Digits {
    /// The digits of `a` (which, reduced, is below 2^253, so the top digit stays below 8).
    pub(super) fn new(a: &Scalar) -> Digits {
        let mut bytes = a.to_bytes();
        let mut d = [0i8; 64];
        for (i, &b) in bytes.iter().enumerate() {
            d[2 * i] = (b & 15) as i8;
            d[2 * i + 1] = (b >> 4) as i8;
        }
        // Recentre each digit from [0, 16) to [-8, 8), carrying into the next one; arithmetic only,
        // no branch on the secret.
        for i in 0..63 {
            let carry = (d[i] + 8) >> 4;
            d[i] -= carry << 4;
            d[i + 1] += carry;
        }
        bytes.zeroize();
        Digits(d)
    }
}

impl Drop for Digits {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The eight 64-bit lanes of a vector.
#[inline]
#[target_feature(enable = "avx512f")]
fn lanes(v: __m512i) -> [u64; LANES] {
    let mut out = [0u64; LANES];
    // SAFETY: `out` is 64 writable bytes and `storeu` has no alignment requirement.
    unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), v) };
    out
}
