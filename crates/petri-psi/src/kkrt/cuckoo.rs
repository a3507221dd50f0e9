//! Hashing both sets into bins: cuckoo hashing for the receiver (each key in exactly one bin),
//! simple hashing for the sender (each key in all three of its bins).
//!
//! A key's 128-bit digest `d` (see [`super::digest`]) is encrypted under the session's hashing
//! seed, `AES_seed(d)`, and three 32-bit words of the result pick its bins: `h_j = w_j·m / 2^32`.
//! The key enters its bin `h_j` as the pair `(d, j)`, so the OPRF values of one key under its
//! three hash functions differ even when two of its bins coincide.
//!
//! # Parameters and failure probability
//!
//! Three hash functions, no stash, and `m = 1.27·n` bins (rounded up to a multiple of 128, the
//! extension's row granularity), but never fewer than `1.27·2^12`: the stash-less parameters of
//! Pinkas, Schneider, Tkachenko and Yanai (Eurocrypt 2019, "Efficient circuit-based PSI with
//! linear communication") that later PSI protocols use, with a failure probability below 2^-40
//! for 2^12 keys and more. Smaller sets get the bins of 2^12 keys: a subset of a set that can be
//! placed can be placed too, so their failure probability is no larger.
//!
//! A failure does not stop the session: the receiver draws another seed before it sends anything
//! (at most [`SEEDS`] times). What the sender can learn from that is that the first seed failed
//! for the receiver's set, an event of probability below 2^-40.

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use rand::Rng;
use rayon::prelude::*;

/// Hash functions per key.
pub(crate) const HASHES: usize = 3;

/// Seeds the receiver tries before it gives up (a failure per seed has probability < 2^-40).
pub(crate) const SEEDS: usize = 4;

/// Random-walk evictions allowed while placing one key.
const MAX_EVICTIONS: usize = 4096;

/// Bins for a receiver set of `n` keys.
pub(crate) fn bins(n: usize) -> usize {
    let m = (n.max(1 << 12) as f64 * 1.27).ceil() as usize;
    m.div_ceil(128) * 128
}

/// The three bins of every digest under `seed`, for a table of `m` bins (`m < 2^32`).
pub(crate) fn locate(seed: [u8; 16], m: usize, digests: &[[u8; 16]]) -> Vec<[u32; HASHES]> {
    let cipher = Aes128::new(&seed.into());
    let mut out = vec![[0u32; HASHES]; digests.len()];
    out.par_chunks_mut(1024)
        .zip(digests.par_chunks(1024))
        .for_each(|(out, digests)| {
            let mut blocks: Vec<aes::Block> = digests.iter().map(|d| (*d).into()).collect();
            cipher.encrypt_blocks(&mut blocks);
            for (o, b) in out.iter_mut().zip(&blocks) {
                for (j, h) in o.iter_mut().enumerate() {
                    let w = u32::from_le_bytes([b[4 * j], b[4 * j + 1], b[4 * j + 2], b[4 * j + 3]]);
                    // Multiply-shift maps a uniform 32-bit word to [0, m).
                    *h = ((u64::from(w) * m as u64) >> 32) as u32;
                }
            }
        });
    out
}

/// A cuckoo table: for each bin, the key in it and the hash function that put it there.
pub(crate) type Table = Vec<Option<(u32, u8)>>;

/// Places every key (given its bins) in one of them, or `None` if a key could not be placed.
pub(crate) fn cuckoo(locations: &[[u32; HASHES]], m: usize) -> Option<Table> {
    let mut table: Table = vec![None; m];
    let mut rng = rand::rng();
    for item in 0..locations.len() {
        let (mut item, mut j) = (item as u32, 0u8);
        let mut placed = false;
        for _ in 0..MAX_EVICTIONS {
            let bin = locations[item as usize][j as usize] as usize;
            match table[bin].replace((item, j)) {
                None => {
                    placed = true;
                    break;
                }
                Some((evicted, ej)) => {
                    // The evicted key moves to one of its other two bins, picked at random.
                    item = evicted;
                    j = ((ej as usize + 1 + rng.random_range(0..HASHES - 1)) % HASHES) as u8;
                }
            }
        }
        if !placed {
            return None;
        }
    }
    Some(table)
}
