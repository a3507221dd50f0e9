//! The ECDH-PSI arithmetic on ristretto255: hashing keys to points, masking with a secret scalar,
//! and re-masking the peer's points. No IO here.
//!
//! `H(x) = RistrettoPoint::from_hash(SHA-512(DOMAIN ‖ len(session) ‖ session ‖ x))`. Each party
//! draws a fresh secret scalar per session, so masked points of one session are useless in
//! another. Compressing a point needs a field inversion; we compute with half the scalar and let
//! [`RistrettoPoint::double_and_compress_batch`] double and compress a whole batch with one
//! inversion (Montgomery's trick), which saves one inversion per point.
//!
//! On x86-64 CPUs with AVX-512 IFMA the same arithmetic runs on eight points at once
//! ([`Backend::Ifma`], picked at run time): hashing to the group, decoding, the scalar
//! multiplication and encoding all happen in eight lanes, and the bytes that leave are those of
//! curve25519-dalek ([`Backend::Dalek`], the fallback on every other CPU). `PETRI_PSI_BACKEND=dalek`
//! forces the fallback (read once per process).

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use std::sync::OnceLock;

use rand::RngCore;
use rayon::prelude::*;
use sha2::{Digest, Sha512};
use zeroize::Zeroize;

use crate::PsiError;

#[cfg(target_arch = "x86_64")]
mod ifma;

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

/// How the group arithmetic runs. Both give the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// curve25519-dalek, one point at a time; any CPU.
    Dalek,
    /// Eight points at a time with AVX-512 IFMA; x86-64 CPUs that have it.
    Ifma,
}

impl Backend {
    /// The backend [`mask_keys`] and [`remask`] use: [`Backend::Ifma`] when the CPU has it,
    /// unless the environment variable `PETRI_PSI_BACKEND` is `dalek`. Decided once per process.
    pub fn selected() -> Backend {
        static SELECTED: OnceLock<Backend> = OnceLock::new();
        *SELECTED.get_or_init(|| {
            let forced = std::env::var("PETRI_PSI_BACKEND").is_ok_and(|v| v.eq_ignore_ascii_case("dalek"));
            if !forced && Backend::Ifma.is_available() {
                Backend::Ifma
            } else {
                Backend::Dalek
            }
        })
    }

    /// Whether this CPU can run the backend.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Dalek => true,
            #[cfg(target_arch = "x86_64")]
            Backend::Ifma => ifma::Ifma::new().is_some(),
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Ifma => false,
        }
    }
}

/// `H(session, key)`: a key hashed to the group.
pub fn hash_to_group(session: &[u8], key: &[u8]) -> RistrettoPoint {
    RistrettoPoint::from_uniform_bytes(&uniform_bytes(session, key))
}

/// The 64 bytes `SHA-512(DOMAIN ‖ len(session) ‖ session ‖ key)` that [`hash_to_group`] maps to
/// the group.
fn uniform_bytes(session: &[u8], key: &[u8]) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(DOMAIN);
    h.update((session.len() as u64).to_le_bytes());
    h.update(session);
    h.update(key);
    h.finalize().into()
}

/// `a·H(x)` for every key, compressed; in parallel, on [`Backend::selected`].
pub fn mask_keys<K: AsRef<[u8]> + Sync>(secret: &Secret, session: &[u8], keys: &[K]) -> Vec<[u8; POINT_BYTES]> {
    mask_keys_on(Backend::selected(), secret, session, keys)
}

/// [`mask_keys`] on the given backend ([`Backend::Dalek`] if the CPU cannot run it).
pub fn mask_keys_on<K: AsRef<[u8]> + Sync>(
    backend: Backend,
    secret: &Secret,
    session: &[u8],
    keys: &[K],
) -> Vec<[u8; POINT_BYTES]> {
    #[cfg(target_arch = "x86_64")]
    if let (Backend::Ifma, Some(v)) = (backend, ifma::Ifma::new()) {
        return mask_keys_ifma(v, secret, session, keys);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = backend;
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
/// each; in parallel, on [`Backend::selected`]. A point that does not decompress is the peer's
/// error.
pub fn remask(secret: &Secret, points: &[u8], width: usize) -> Result<Vec<u8>, PsiError> {
    remask_on(Backend::selected(), secret, points, width)
}

/// [`remask`] on the given backend ([`Backend::Dalek`] if the CPU cannot run it).
pub fn remask_on(backend: Backend, secret: &Secret, points: &[u8], width: usize) -> Result<Vec<u8>, PsiError> {
    if !points.len().is_multiple_of(POINT_BYTES) {
        return Err(PsiError::Protocol(format!(
            "a chunk of {} bytes is not a whole number of points",
            points.len()
        )));
    }
    assert!(width <= POINT_BYTES, "a tag is at most a point");
    #[cfg(target_arch = "x86_64")]
    if let (Backend::Ifma, Some(v)) = (backend, ifma::Ifma::new()) {
        return remask_ifma(v, secret, points, width);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = backend;
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
                    .ok_or_else(not_a_point)?;
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

/// The error for a point that does not decode.
fn not_a_point() -> PsiError {
    PsiError::Protocol("the peer sent a byte string that is not a point".into())
}

/// [`mask_keys`] eight keys at a time; the lanes past the end of a batch hash nothing and are
/// dropped.
#[cfg(target_arch = "x86_64")]
fn mask_keys_ifma<K: AsRef<[u8]> + Sync>(
    v: ifma::Ifma,
    secret: &Secret,
    session: &[u8],
    keys: &[K],
) -> Vec<[u8; POINT_BYTES]> {
    let half = ifma::Digits::new(&secret.half);
    let mut out = vec![[0u8; POINT_BYTES]; keys.len()];
    out.par_chunks_mut(BATCH)
        .zip(keys.par_chunks(BATCH))
        .for_each(|(out, keys)| {
            let groups: Vec<[[u8; 64]; ifma::LANES]> = keys
                .chunks(ifma::LANES)
                .map(|keys| {
                    let mut uniform = [[0u8; 64]; ifma::LANES];
                    for (u, k) in uniform.iter_mut().zip(keys) {
                        *u = uniform_bytes(session, k.as_ref());
                    }
                    uniform
                })
                .collect();
            for (o, m) in out.iter_mut().zip(v.mask(&half, &groups).iter().flatten()) {
                *o = *m;
            }
        });
    out
}

/// [`remask`] eight points at a time; the lanes past the end of a batch hold the identity's
/// encoding (32 zero bytes) and are dropped.
#[cfg(target_arch = "x86_64")]
fn remask_ifma(v: ifma::Ifma, secret: &Secret, points: &[u8], width: usize) -> Result<Vec<u8>, PsiError> {
    let half = ifma::Digits::new(&secret.half);
    let n = points.len() / POINT_BYTES;
    let mut out = vec![0u8; n * width];
    out.par_chunks_mut(BATCH * width)
        .zip(points.par_chunks(BATCH * POINT_BYTES))
        .try_for_each(|(out, points)| {
            let groups: Vec<[[u8; POINT_BYTES]; ifma::LANES]> = points
                .chunks(ifma::LANES * POINT_BYTES)
                .map(|points| {
                    let mut lanes = [[0u8; POINT_BYTES]; ifma::LANES];
                    for (l, p) in lanes.iter_mut().zip(points.chunks_exact(POINT_BYTES)) {
                        l.copy_from_slice(p);
                    }
                    lanes
                })
                .collect();
            let (masked, valid) = v.remask(&half, &groups);
            let used = points.len() / POINT_BYTES;
            for (g, ok) in valid.iter().enumerate() {
                let lanes = (used - g * ifma::LANES).min(ifma::LANES);
                let all = u8::MAX >> (ifma::LANES - lanes);
                if ok & all != all {
                    return Err(not_a_point());
                }
            }
            for (o, m) in out.chunks_exact_mut(width).zip(masked.iter().flatten()) {
                o.copy_from_slice(&m[..width]);
            }
            Ok(())
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
        for backend in [Backend::Dalek, Backend::Ifma] {
            let a = Secret::random();
            assert!(remask_on(backend, &a, &[0xffu8; 32], TAG_BYTES).is_err());
            assert!(remask_on(backend, &a, &[0u8; 31], TAG_BYTES).is_err());
        }
    }

    /// The IFMA backend gives dalek's bytes for every batch size (whole groups of eight, tails,
    /// several rayon batches) and refuses a bad point in any position. Runs only where the CPU has
    /// IFMA; elsewhere both calls take the dalek path.
    #[test]
    fn backends_agree() {
        if !Backend::Ifma.is_available() {
            eprintln!("no AVX-512 IFMA on this CPU: nothing to compare");
            return;
        }
        let a = Secret::random();
        for n in [0, 1, 7, 8, 9, 15, 16, 17, BATCH - 1, BATCH + 3] {
            let keys: Vec<String> = (0..n).map(|i| format!("key-{i}")).collect();
            let dalek = mask_keys_on(Backend::Dalek, &a, b"session", &keys);
            assert_eq!(
                mask_keys_on(Backend::Ifma, &a, b"session", &keys),
                dalek,
                "mask_keys, {n} keys"
            );
            let points = dalek.concat();
            for width in [TAG_BYTES, POINT_BYTES] {
                let want = remask_on(Backend::Dalek, &a, &points, width).unwrap();
                assert_eq!(
                    remask_on(Backend::Ifma, &a, &points, width).unwrap(),
                    want,
                    "remask, {n} points"
                );
            }
            for bad in [0, n / 2, n.saturating_sub(1)].into_iter().filter(|_| n > 0) {
                let mut points = points.clone();
                points[bad * POINT_BYTES] ^= 1; // flips the sign: no longer an encoding
                assert!(remask_on(Backend::Dalek, &a, &points, TAG_BYTES).is_err());
                assert!(
                    remask_on(Backend::Ifma, &a, &points, TAG_BYTES).is_err(),
                    "bad point {bad} of {n}"
                );
            }
        }
    }
}
