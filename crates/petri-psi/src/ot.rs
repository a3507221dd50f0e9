//! 1-out-of-2 base oblivious transfers on ristretto255: the "simplest OT" of Chou and Orlandi
//! (Latincrypt 2015), batched, secure against semi-honest parties. No IO here.
//!
//! The sender draws `a` and sends `A = a·G`. For each OT `j` with choice bit `c_j` the receiver
//! draws `b_j` and sends `B_j = b_j·G + c_j·A`; it keeps `k_j = H(j, A, B_j, b_j·A)`. The sender
//! derives `k0_j = H(j, A, B_j, a·B_j)` and `k1_j = H(j, A, B_j, a·B_j − a·A)`; `k_j = k_{c_j, j}`
//! and the other seed is unknown to the receiver (computational Diffie–Hellman). `B_j` alone is
//! uniformly distributed whatever `c_j` is, so the sender learns nothing of the choices.
//! `H` is SHA-256 under a domain and the session id, truncated to 128 bits: the seeds key the
//! OT extension's PRG.
//!
//! In the OT extension the roles are reversed (IKNP): the PSI receiver is this sender.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use rand::RngCore;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::PsiError;

/// Domain separation of the seed hash.
pub const DOMAIN: &[u8] = b"petri-psi/v1/base-ot/ristretto255";

/// Bytes of a point on the wire.
pub const POINT_BYTES: usize = 32;

/// A 128-bit seed.
pub type Seed = [u8; 16];

fn random_scalar() -> Scalar {
    let mut wide = [0u8; 64];
    rand::rng().fill_bytes(&mut wide);
    let s = Scalar::from_bytes_mod_order_wide(&wide);
    wide.zeroize();
    s
}

fn decompress(bytes: &[u8]) -> Result<RistrettoPoint, PsiError> {
    CompressedRistretto::from_slice(bytes)
        .ok()
        .and_then(|c| c.decompress())
        .ok_or_else(|| PsiError::Protocol("the peer sent a byte string that is not a point".into()))
}

fn seed(session: &[u8], j: usize, a: &[u8], b: &[u8], p: &RistrettoPoint) -> Seed {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update((session.len() as u64).to_le_bytes());
    h.update(session);
    h.update((j as u64).to_le_bytes());
    h.update(a);
    h.update(b);
    h.update(p.compress().as_bytes());
    let d = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// The base-OT sender: its secret `a` (wiped on drop).
pub struct OtSender {
    a: Scalar,
    big_a: [u8; POINT_BYTES],
}

impl Drop for OtSender {
    fn drop(&mut self) {
        self.a.zeroize();
    }
}

impl std::fmt::Debug for OtSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtSender(..)")
    }
}

impl OtSender {
    /// A fresh sender; [`OtSender::message`] is what it sends first.
    pub fn new() -> OtSender {
        let a = random_scalar();
        let big_a = (&a * RISTRETTO_BASEPOINT_TABLE).compress().to_bytes();
        OtSender { a, big_a }
    }

    /// `A`, compressed.
    pub fn message(&self) -> [u8; POINT_BYTES] {
        self.big_a
    }

    /// Both seeds of every OT, from the receiver's `B_j` (concatenated).
    pub fn seeds(&self, session: &[u8], reply: &[u8]) -> Result<Zeroizing<Vec<(Seed, Seed)>>, PsiError> {
        if !reply.len().is_multiple_of(POINT_BYTES) {
            return Err(PsiError::Protocol(
                "the base-OT reply is not a whole number of points".into(),
            ));
        }
        let a_a = self.a * decompress(&self.big_a)?;
        let seeds = reply
            .par_chunks(POINT_BYTES)
            .enumerate()
            .map(|(j, b)| {
                let p = self.a * decompress(b)?;
                Ok((
                    seed(session, j, &self.big_a, b, &p),
                    seed(session, j, &self.big_a, b, &(p - a_a)),
                ))
            })
            .collect::<Result<Vec<_>, PsiError>>()?;
        Ok(Zeroizing::new(seeds))
    }
}

impl Default for OtSender {
    fn default() -> OtSender {
        OtSender::new()
    }
}

/// The base-OT receiver's side: from the sender's `A` and the choice bits, the reply
/// (`B_j`, concatenated) and the chosen seeds.
pub fn receive(session: &[u8], message: &[u8], choices: &[bool]) -> Result<(Vec<u8>, Zeroizing<Vec<Seed>>), PsiError> {
    if message.len() != POINT_BYTES {
        return Err(PsiError::Protocol("the base-OT message is not one point".into()));
    }
    let big_a = decompress(message)?;
    if big_a == RistrettoPoint::default() {
        return Err(PsiError::Protocol("the base-OT message is the identity".into()));
    }
    let pairs: Vec<([u8; POINT_BYTES], Seed)> = choices
        .par_iter()
        .enumerate()
        .map(|(j, &c)| {
            let mut b = random_scalar();
            // c·A as a scalar multiplication by 0 or 1, which takes the same time for both.
            let big_b = (&b * RISTRETTO_BASEPOINT_TABLE + Scalar::from(u8::from(c)) * big_a)
                .compress()
                .to_bytes();
            let k = seed(session, j, message, &big_b, &(b * big_a));
            b.zeroize();
            (big_b, k)
        })
        .collect();
    let reply = pairs.iter().flat_map(|(b, _)| *b).collect();
    let seeds = Zeroizing::new(pairs.into_iter().map(|(_, k)| k).collect());
    Ok((reply, seeds))
}
