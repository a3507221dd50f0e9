//! The random-band OKVS of Bienstock, Patel, Seo and Yeo ("Near-Optimal Oblivious Key-Value
//! Stores for Efficient PSI, PSU and Volume-Hiding Multi-Maps", USENIX Security 2023), over
//! GF(2^128).
//!
//! A key `d` (a 128-bit digest) is hashed, under a seed the encoder draws, to a row of an
//! `n × m` binary matrix: a start `s(d) ∈ [0, m − w]` and `w` random bits `b(d)` at columns
//! `s(d)..s(d) + w`. `Encode` finds `P ∈ F^m` with `⟨row(d), P⟩ = v_d` for every pair, by
//! Gaussian elimination on the rows sorted by start (the band keeps every row operation inside
//! one window of five 64-bit words, so the work is `O(n·w)`); columns without a pivot get random
//! values. `Decode(P, d) = Σ_{j : b_j(d) = 1} P[s(d) + j]`: about `w/2` XORs.
//!
//! Parameters: `w` = [`BAND`] = 256 bits and `m = ⌈(1 + ε)·n⌉` with ε = [`EPSILON`] = 0.1 (at
//! least `n + w` for small sets). BPSY23 fit the failure probability of the elimination for
//! ε = 0.1 as `2^-(0.2691·w − 15.21)`, which asks for `w ≥ 205` for 40 bits; `w = 256` gives
//! about 53 bits. When the elimination fails (a row becomes zero) the encoder draws a new seed.
//! Only the seed that worked is ever sent, and any seed works with probability above
//! `1 − 2^-40` whatever the set, so the seed says nothing useful about the set (at most the
//! statistically negligible fact that the set is encodable under it).

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use rand::Rng;
use rayon::prelude::*;

use super::gf128::Gf;

/// Band width in bits.
pub(crate) const BAND: usize = 256;

/// Expansion: `m = (1 + ε)·n`.
pub(crate) const EPSILON: f64 = 0.1;

/// Words of a row window aligned to 64 columns (a 256-bit band at any bit offset fits in five).
const WINDOW: usize = BAND / 64 + 1;

/// The OKVS length for `n` keys.
pub(crate) fn columns(n: usize) -> usize {
    (((1.0 + EPSILON) * n as f64).ceil() as usize).max(n + BAND)
}

/// A key's row: the start column and the band bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) start: u32,
    pub(crate) band: [u64; BAND / 64],
}

/// The OKVS shape and the hash of keys to rows under a seed.
pub(crate) struct Okvs {
    m: usize,
    cipher: Aes128,
}

impl Okvs {
    /// An OKVS of `m` columns (`m ≥ BAND`, from [`columns`]) under `seed`.
    pub(crate) fn new(m: usize, seed: [u8; 16]) -> Okvs {
        Okvs {
            m,
            cipher: Aes128::new(&seed.into()),
        }
    }

    /// The rows of the keys (three AES blocks each under the seed).
    pub(crate) fn rows(&self, keys: &[[u8; 16]]) -> Vec<Row> {
        let span = (self.m - BAND + 1) as u128;
        let mut out = vec![
            Row {
                start: 0,
                band: [0; BAND / 64]
            };
            keys.len()
        ];
        out.par_chunks_mut(1024)
            .zip(keys.par_chunks(1024))
            .for_each(|(out, keys)| {
                let mut blocks: Vec<aes::Block> = Vec::with_capacity(keys.len() * 3);
                for k in keys {
                    for t in 0..3u8 {
                        let mut b: aes::Block = (*k).into();
                        b[15] ^= t;
                        blocks.push(b);
                    }
                }
                self.cipher.encrypt_blocks(&mut blocks);
                for (row, b) in out.iter_mut().zip(blocks.chunks_exact(3)) {
                    let s = word_pair(&b[0]);
                    // A 64-bit value times the span, top bits: bias below 2^-32 for m < 2^32.
                    row.start = ((u128::from(s[0]) * span) >> 64) as u32;
                    let [a, c] = word_pair(&b[1]);
                    let [d, e] = word_pair(&b[2]);
                    row.band = [a, c, d, e];
                }
            });
        out
    }

    /// `Decode(P, row)`.
    #[inline]
    pub(crate) fn decode(p: &[Gf], row: &Row) -> Gf {
        let base = row.start as usize;
        let mut acc = 0;
        for (k, w) in row.band.iter().enumerate() {
            let mut w = *w;
            while w != 0 {
                let j = w.trailing_zeros() as usize;
                acc ^= p[base + 64 * k + j];
                w &= w - 1;
            }
        }
        acc
    }

    /// `P` with `Decode(P, rows[i]) = values[i]` for every `i`, or `None` if the rows are
    /// linearly dependent (then draw another seed).
    pub(crate) fn encode(&self, rows: &[Row], values: &[Gf]) -> Option<Vec<Gf>> {
        struct Work {
            start: u32,
            word: u32,
            bits: [u64; WINDOW],
            value: Gf,
        }
        let n = rows.len();
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.par_sort_unstable_by_key(|&i| rows[i as usize].start);
        let mut work: Vec<Work> = order
            .iter()
            .map(|&i| {
                let r = &rows[i as usize];
                let off = r.start % 64;
                let mut bits = [0u64; WINDOW];
                for (k, b) in r.band.iter().enumerate() {
                    bits[k] |= b << off;
                    if off > 0 {
                        bits[k + 1] |= b >> (64 - off);
                    }
                }
                Work {
                    start: r.start,
                    word: r.start / 64,
                    bits,
                    value: values[i as usize],
                }
            })
            .collect();
        drop(order);
        // Forward elimination: each row's first one is its pivot, cleared from the later rows.
        let mut pivot = vec![0u32; n];
        for i in 0..n {
            let (head, tail) = work.split_at_mut(i + 1);
            let r = &head[i];
            let k = r.bits.iter().position(|w| *w != 0)?;
            let col = (r.word as usize + k) * 64 + r.bits[k].trailing_zeros() as usize;
            pivot[i] = col as u32;
            // Rows are sorted by start, and a row has no ones before its start.
            for o in tail.iter_mut() {
                if o.start as usize > col {
                    break;
                }
                let rel = col - o.word as usize * 64;
                if (o.bits[rel / 64] >> (rel % 64)) & 1 == 1 {
                    let d = (o.word - r.word) as usize;
                    for k in 0..WINDOW - d {
                        o.bits[k] ^= r.bits[k + d];
                    }
                    o.value ^= r.value;
                }
            }
        }
        // Back substitution in decreasing pivot order; free columns are random.
        let mut row_of = vec![u32::MAX; self.m];
        for (i, &c) in pivot.iter().enumerate() {
            row_of[c as usize] = i as u32;
        }
        let mut rng = rand::rng();
        let mut p: Vec<Gf> = row_of
            .iter()
            .map(|&r| if r == u32::MAX { rng.random() } else { 0 })
            .collect();
        for c in (0..self.m).rev() {
            let i = row_of[c];
            if i == u32::MAX {
                continue;
            }
            let r = &work[i as usize];
            let base = r.word as usize * 64;
            let mut acc = r.value;
            for (k, w) in r.bits.iter().enumerate() {
                let mut w = *w;
                while w != 0 {
                    let j = w.trailing_zeros() as usize;
                    let col = base + 64 * k + j;
                    if col != c {
                        acc ^= p[col];
                    }
                    w &= w - 1;
                }
            }
            p[c] = acc;
        }
        Some(p)
    }
}

fn word_pair(b: &aes::Block) -> [u64; 2] {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&b[..8]);
    hi.copy_from_slice(&b[8..]);
    [u64::from_le_bytes(lo), u64::from_le_bytes(hi)]
}
