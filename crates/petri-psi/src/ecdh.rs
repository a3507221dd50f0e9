//! The ECDH-PSI arithmetic on ristretto255: hashing keys to points, masking with a secret scalar,
//! and re-masking the peer's points. No IO here.
//!
//! `H(x) = RistrettoPoint::from_hash(SHA-512(DOMAIN ‖ len(session) ‖ session ‖ x))`. Each party
//! draws a fresh secret scalar per session, so masked points of one session are useless in
//! another. Compressing a point needs a field inversion; we compute with half the scalar and let
//! [`RistrettoPoint::double_and_compress_batch`] double and compress a whole batch with one
//! inversion (Montgomery's trick), which saves one inversion per point.

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use rand::RngCore;
use rayon::prelude::*;
use sha2::{Digest, Sha512};
use zeroize::Zeroize;

use crate::PsiError;

/// Domain separation for the hash to the group.
pub const DOMAIN: &[u8] = b"petri-psi/v1/ecdh-ristretto255/hash-to-group";

/// Bytes of a compressed point on the wire.
pub const POINT_BYTES: usize = 32;

/// Bytes of a doubly-masked point kept for comparison: enough that a false match among 2^32 × 2^32
/// pairs has probability below 2^-64.
pub const TAG_BYTES: usize = 16;

/// How many points one rayon task handles (one batch inversion each).
const BATCH: usize = 512;

/// A party's secret for one session: the scalar `a` and `a / 2`, which the batch compression
/// doubles back. Wiped on drop.
pub struct Secret {
    half: Scalar,
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.half.zeroize();
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A fresh uniformly random non-zero scalar from the operating system's generator.
    pub fn random() -> Secret {
        let mut rng = rand::rng();
        loop {
            let mut wide = [0u8; 64];
            rng.fill_bytes(&mut wide);
            let mut a = Scalar::from_bytes_mod_order_wide(&wide);
            wide.zeroize();
            if a != Scalar::ZERO {
                let half = a * Scalar::from(2u8).invert();
                a.zeroize();
                return Secret { half };
            }
        }
    }

    /// The secret from a scalar (tests and known-answer vectors).
    pub fn from_scalar(a: Scalar) -> Secret {
        Secret {
            half: a * Scalar::from(2u8).invert(),
        }
    }
}

/// `H(session, key)`: a key hashed to the group.
pub fn hash_to_group(session: &[u8], key: &[u8]) -> RistrettoPoint {
    let mut h = Sha512::new();
    h.update(DOMAIN);
    h.update((session.len() as u64).to_le_bytes());
    h.update(session);
    h.update(key);
    RistrettoPoint::from_hash(h)
}

/// `a·H(x)` for every key, compressed; in parallel.
pub fn mask_keys<K: AsRef<[u8]> + Sync>(secret: &Secret, session: &[u8], keys: &[K]) -> Vec<[u8; POINT_BYTES]> {
    let mut out = vec![[0u8; POINT_BYTES]; keys.len()];
    out.par_chunks_mut(BATCH)
        .zip(keys.par_chunks(BATCH))
        .for_each(|(out, keys)| {
            let points: Vec<RistrettoPoint> = keys
                .iter()
                .map(|k| secret.half * hash_to_group(session, k.as_ref()))
                .collect();
            for (o, c) in out.iter_mut().zip(RistrettoPoint::double_and_compress_batch(&points)) {
                *o = c.to_bytes();
            }
        });
    out
}

/// `a·P` for every compressed point `P` the peer sent (concatenated), truncated to `width` bytes
/// each; in parallel. A point that does not decompress is the peer's error.
pub fn remask(secret: &Secret, points: &[u8], width: usize) -> Result<Vec<u8>, PsiError> {
    if !points.len().is_multiple_of(POINT_BYTES) {
        return Err(PsiError::Protocol(format!(
            "a chunk of {} bytes is not a whole number of points",
            points.len()
        )));
    }
    let n = points.len() / POINT_BYTES;
    let mut out = vec![0u8; n * width];
    out.par_chunks_mut(BATCH * width)
        .zip(points.par_chunks(BATCH * POINT_BYTES))
        .try_for_each(|(out, points)| {
            let mut masked = Vec::with_capacity(points.len() / POINT_BYTES);
            for p in points.chunks_exact(POINT_BYTES) {
                let point = CompressedRistretto::from_slice(p)
                    .ok()
                    .and_then(|c| c.decompress())
                    .ok_or_else(|| PsiError::Protocol("the peer sent a byte string that is not a point".into()))?;
                masked.push(secret.half * point);
            }
            for (o, c) in out
                .chunks_exact_mut(width)
                .zip(RistrettoPoint::double_and_compress_batch(&masked))
            {
                o.copy_from_slice(&c.as_bytes()[..width]);
            }
            Ok::<(), PsiError>(())
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_commutes_and_batch_compression_matches_plain_compression() {
        let a = Secret::random();
        let b = Secret::random();
        let keys = ["alice", "bob", "carol"];
        let ab = remask(&b, &mask_keys(&a, b"s", &keys).concat(), POINT_BYTES).unwrap();
        let ba = remask(&a, &mask_keys(&b, b"s", &keys).concat(), POINT_BYTES).unwrap();
        assert_eq!(ab, ba);
        let s = Scalar::from(7u8);
        let direct = (s * hash_to_group(b"s", b"alice")).compress().to_bytes();
        assert_eq!(mask_keys(&Secret::from_scalar(s), b"s", &["alice"])[0], direct);
    }

    #[test]
    fn sessions_separate_hashes() {
        assert_ne!(hash_to_group(b"s1", b"x"), hash_to_group(b"s2", b"x"));
        // The length prefix keeps ("ab", "c") apart from ("a", "bc").
        assert_ne!(hash_to_group(b"ab", b"c"), hash_to_group(b"a", b"bc"));
    }

    #[test]
    fn garbage_points_are_refused() {
        let a = Secret::random();
        assert!(remask(&a, &[0xffu8; 32], TAG_BYTES).is_err());
        assert!(remask(&a, &[0u8; 31], TAG_BYTES).is_err());
    }
}
