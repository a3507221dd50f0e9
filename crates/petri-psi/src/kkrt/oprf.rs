//! The KKRT batched OPRF: the pseudorandom code, the OT extension on 512-bit code words, and the
//! hash of the rows to the OPRF values.
//!
//! With base-OT seeds `(k0_j, k1_j)` at the receiver and `k_{s_j, j}` at the sender (`s` the
//! sender's 512 random choice bits), for `m` rows:
//!
//! - the receiver expands `t_j = G(k0_j)` and sends `u_j = t_j ⊕ G(k1_j) ⊕ c_j`, where `c_j` is
//!   column `j` of the matrix whose row `i` is the code word `C(r_i)` of its input in bin `i`;
//! - the sender computes `q_j = G(k_{s_j, j}) ⊕ s_j·u_j`, so that row `i` is
//!   `q_i = t_i ⊕ (C(r_i) ∧ s)`;
//! - the receiver's OPRF value in bin `i` is `H(i, t_i)`, the sender's value of `y` in bin `i`
//!   is `H(i, q_i ⊕ (C(y) ∧ s))`: equal exactly when `C(y) = C(r_i)`, and otherwise hidden by the
//!   bits of `s` where the two code words differ (about 256 of them).
//!
//! `G` is AES-128 in counter mode under the seed; the code `C(d, j)` of a key's digest `d` under
//! hash function `j` is four AES-128 blocks under a key the sender draws per session (a
//! pseudorandom code of 512 bits, KKRT §4); `H` is the tweakable correlation-robust hash of
//! Guo, Katz, Wang and Yu (S&P 2020), `π(π(x) ⊕ i) ⊕ π(x)` with fixed-key AES `π`, on each
//! 128-bit quarter of the row, XOR-ed. The cipher picks AES-NI at run time.

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use rayon::prelude::*;

use super::bits;

/// Bits of a code word (and base OTs).
pub(crate) const WIDTH: usize = 512;

/// 64-bit words of a row.
pub(crate) const WORDS: usize = WIDTH / 64;

/// A row of the extension matrix, or a code word.
pub(crate) type Row = [u64; WORDS];

/// AES blocks per code word.
const QUARTERS: usize = WIDTH / 128;

/// The fixed key of `π` in `H` (any public constant: "petri-psi/kkrt/H" in ASCII).
const HASH_KEY: [u8; 16] = *b"petri-psi/kkrt/H";

fn block_to_words(b: &aes::Block) -> [u64; 2] {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&b[..8]);
    hi.copy_from_slice(&b[8..]);
    [u64::from_le_bytes(lo), u64::from_le_bytes(hi)]
}

fn words_to_block(lo: u64, hi: u64) -> aes::Block {
    let mut b = aes::Block::default();
    b[..8].copy_from_slice(&lo.to_le_bytes());
    b[8..].copy_from_slice(&hi.to_le_bytes());
    b
}

/// The pseudorandom code.
pub(crate) struct Code {
    cipher: Aes128,
}

impl Code {
    /// The code under the session's code key.
    pub(crate) fn new(key: [u8; 16]) -> Code {
        Code {
            cipher: Aes128::new(&key.into()),
        }
    }

    /// The code words of `(digest, hash function)` pairs.
    pub(crate) fn encode(&self, inputs: &[([u8; 16], u8)], out: &mut [Row]) {
        let mut blocks: Vec<aes::Block> = Vec::with_capacity(inputs.len() * QUARTERS);
        for (d, j) in inputs {
            for q in 0..QUARTERS {
                let mut b: aes::Block = (*d).into();
                // Distinct (j, q) give distinct inputs: the tweak is below 16 and sits in byte 0.
                b[0] ^= (*j as usize * QUARTERS + q) as u8;
                blocks.push(b);
            }
        }
        self.cipher.encrypt_blocks(&mut blocks);
        for (row, quarters) in out.iter_mut().zip(blocks.chunks_exact(QUARTERS)) {
            for (q, b) in quarters.iter().enumerate() {
                let [lo, hi] = block_to_words(b);
                row[2 * q] = lo;
                row[2 * q + 1] = hi;
            }
        }
    }
}

/// `H(bin, row)` truncated to `out.len() / rows.len()` bytes, for rows with their bins.
pub(crate) fn hash_rows(bins: &[u32], rows: &[Row], out: &mut [u8]) {
    if rows.is_empty() {
        return;
    }
    let width = out.len() / rows.len();
    let pi = Aes128::new(&HASH_KEY.into());
    out.par_chunks_mut(width * 512)
        .zip(rows.par_chunks(512).zip(bins.par_chunks(512)))
        .for_each(|(out, (rows, bins))| {
            let mut x: Vec<aes::Block> = rows
                .iter()
                .flat_map(|r| (0..QUARTERS).map(move |q| words_to_block(r[2 * q], r[2 * q + 1])))
                .collect();
            // π(x), then π(π(x) ⊕ tweak) ⊕ π(x) with tweak = 4·bin + quarter.
            pi.encrypt_blocks(&mut x);
            let mut y = x.clone();
            for (i, y) in y.chunks_exact_mut(QUARTERS).enumerate() {
                for (q, b) in y.iter_mut().enumerate() {
                    let tweak = (u64::from(bins[i]) * QUARTERS as u64 + q as u64).to_le_bytes();
                    for (b, t) in b.iter_mut().zip(tweak) {
                        *b ^= t;
                    }
                }
            }
            pi.encrypt_blocks(&mut y);
            for ((o, x), y) in out
                .chunks_exact_mut(width)
                .zip(x.chunks_exact(QUARTERS))
                .zip(y.chunks_exact(QUARTERS))
            {
                let mut h = [0u8; 16];
                for (x, y) in x.iter().zip(y) {
                    for ((h, x), y) in h.iter_mut().zip(x.iter()).zip(y.iter()) {
                        *h ^= x ^ y;
                    }
                }
                o.copy_from_slice(&h[..width]);
            }
        });
}

/// Writes `G(seed)` from 128-bit block `first` on: `out.len()` words (an even number).
fn expand(cipher: &Aes128, first: u64, out: &mut [u64]) {
    let mut blocks: Vec<aes::Block> = (0..out.len() as u64 / 2)
        .map(|c| words_to_block(first + c, 0))
        .collect();
    cipher.encrypt_blocks(&mut blocks);
    for (w, b) in out.chunks_exact_mut(2).zip(&blocks) {
        w.copy_from_slice(&block_to_words(b));
    }
}

/// The extension's receiver (the PSI receiver), holding both seeds of every base OT.
pub(crate) struct ExtReceiver {
    g0: Vec<Aes128>,
    g1: Vec<Aes128>,
}

impl ExtReceiver {
    /// From the base-OT sender's seed pairs.
    pub(crate) fn new(seeds: &[([u8; 16], [u8; 16])]) -> ExtReceiver {
        ExtReceiver {
            g0: seeds.iter().map(|(k0, _)| Aes128::new(&(*k0).into())).collect(),
            g1: seeds.iter().map(|(_, k1)| Aes128::new(&(*k1).into())).collect(),
        }
    }

    /// One block of rows starting at row `r0` (a multiple of 128), with the code word of each
    /// row: returns the columns `u_j` to send (column-major, little-endian words) and the rows
    /// `t_i` the receiver hashes.
    pub(crate) fn block(&self, r0: usize, codes: &[Row]) -> (Vec<u8>, Vec<Row>) {
        let rows = codes.len();
        let rw = rows / 64;
        let mut t = vec![0u64; WIDTH * rw];
        let mut u = vec![0u64; WIDTH * rw];
        let flat: Vec<u64> = codes.iter().flatten().copied().collect();
        bits::rows_to_cols(&flat, WIDTH, rows, &mut u);
        let first = (r0 / 128) as u64;
        t.par_chunks_mut(rw)
            .zip(u.par_chunks_mut(rw))
            .enumerate()
            .for_each(|(j, (t, u))| {
                let mut g1 = vec![0u64; rw];
                expand(&self.g0[j], first, t);
                expand(&self.g1[j], first, &mut g1);
                for ((u, t), g) in u.iter_mut().zip(t.iter()).zip(&g1) {
                    *u ^= t ^ g;
                }
            });
        let mut flat_t = vec![0u64; rows * WORDS];
        bits::cols_to_rows(&t, WIDTH, rows, &mut flat_t);
        let trows = flat_t
            .chunks_exact(WORDS)
            .map(|c| {
                let mut r = [0u64; WORDS];
                r.copy_from_slice(c);
                r
            })
            .collect();
        let bytes = u.iter().flat_map(|w| w.to_le_bytes()).collect();
        (bytes, trows)
    }
}

/// The extension's sender (the PSI sender), holding one seed of every base OT and its choice
/// bits `s`.
pub(crate) struct ExtSender {
    g: Vec<Aes128>,
    s: Row,
}

impl ExtSender {
    /// From the seeds it chose (`seeds[j] = k_{s_j, j}`) and its choice bits as a row.
    pub(crate) fn new(seeds: &[[u8; 16]], s: Row) -> ExtSender {
        ExtSender {
            g: seeds.iter().map(|k| Aes128::new(&(*k).into())).collect(),
            s,
        }
    }

    /// The choice bits.
    pub(crate) fn s(&self) -> &Row {
        &self.s
    }

    /// The rows `q_i` of one block starting at row `r0`, from the receiver's columns (as sent:
    /// `WIDTH` columns of `u.len() / 64` bytes each; the caller checks the length).
    pub(crate) fn block(&self, r0: usize, u: &[u8]) -> Vec<Row> {
        let rows = u.len() * 8 / WIDTH;
        let rw = rows / 64;
        let mut q = vec![0u64; WIDTH * rw];
        let first = (r0 / 128) as u64;
        q.par_chunks_mut(rw)
            .zip(u.par_chunks(rw * 8))
            .enumerate()
            .for_each(|(j, (q, u))| {
                expand(&self.g[j], first, q);
                // s_j·u_j without a branch on the secret bit.
                let mask = 0u64.wrapping_sub((self.s[j / 64] >> (j % 64)) & 1);
                for (q, u) in q.iter_mut().zip(u.chunks_exact(8)) {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(u);
                    *q ^= u64::from_le_bytes(w) & mask;
                }
            });
        let mut flat = vec![0u64; rows * WORDS];
        bits::cols_to_rows(&q, WIDTH, rows, &mut flat);
        flat.chunks_exact(WORDS)
            .map(|c| {
                let mut r = [0u64; WORDS];
                r.copy_from_slice(c);
                r
            })
            .collect()
    }
}
