//! Shamir secret sharing over the prime field of ristretto255 scalars.
//!
//! The field arithmetic is curve25519-dalek's; only the polynomial and Lagrange interpolation are
//! written here (about thirty lines), because the secrets it shares are themselves ristretto255
//! scalars (the masking keys and self-mask seeds of secure aggregation) and the sharing crates on
//! crates.io would add a second field implementation and a conversion for no gain.

use curve25519_dalek::Scalar;
use rand::RngCore;

/// A random scalar.
pub fn random_scalar<R: RngCore + ?Sized>(rng: &mut R) -> Scalar {
    let mut wide = zeroize::Zeroizing::new([0u8; 64]);
    rng.fill_bytes(wide.as_mut());
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// The point a participant's share is evaluated at: its index plus one (never zero).
fn point(index: u32) -> Scalar {
    Scalar::from(u64::from(index) + 1)
}

/// Shares `secret` so that any `threshold` of the participants `indices` recover it and fewer
/// learn nothing. Returns `(index, share)` pairs in the order of `indices`.
pub fn share<R: RngCore + ?Sized>(
    secret: &Scalar,
    threshold: usize,
    indices: &[u32],
    rng: &mut R,
) -> Vec<(u32, Scalar)> {
    let coefficients: Vec<Scalar> = std::iter::once(*secret)
        .chain((1..threshold.max(1)).map(|_| random_scalar(rng)))
        .collect();
    indices
        .iter()
        .map(|&i| {
            let x = point(i);
            // Horner's rule from the highest coefficient.
            let y = coefficients.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c);
            (i, y)
        })
        .collect()
}

/// Recovers a secret from shares of distinct participants (at least the sharing's threshold).
/// Returns `None` if two shares name the same participant.
pub fn recover(shares: &[(u32, Scalar)]) -> Option<Scalar> {
    let mut secret = Scalar::ZERO;
    for (k, (ik, yk)) in shares.iter().enumerate() {
        let xk = point(*ik);
        let mut num = Scalar::ONE;
        let mut den = Scalar::ONE;
        for (m, (im, _)) in shares.iter().enumerate() {
            if m == k {
                continue;
            }
            if im == ik {
                return None;
            }
            let xm = point(*im);
            num *= xm;
            den *= xm - xk;
        }
        secret += yk * num * den.invert();
    }
    Some(secret)
}
