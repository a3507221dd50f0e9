//! Silent VOLE over GF(2^128): the receiver gets `A, C ∈ F^m`, the sender `Δ ∈ F` and `B ∈ F^m`
//! with `C = B + A·Δ` at every position, for pseudorandom `A`, `B` and `Δ`. No IO here: each
//! step takes and returns the bytes of one message, and `rr22.rs` moves them.
//!
//! 1. **Correlated OT** (IKNP, Ishai–Kilian–Nissim–Petrank, CRYPTO 2003): 128 base OTs
//!    ([`crate::ot`]) in which the VOLE sender chooses with the bits of `Δ`; the receiver sends
//!    one column of `K` bits per base OT, `u_j = G(k0_j) ⊕ G(k1_j) ⊕ r`, for its choice bits `r`.
//!    Row `i` then gives the receiver `t_i` and the sender `q_i` with `t_i = q_i + r_i·Δ`
//!    (`G` is AES-128 in counter mode under the seed).
//! 2. **Base VOLE** for `t` noise values (Gilboa): 128 COTs per value whose choice bits are the
//!    bits of a random `β`; `c_β = Σ t_k X^k` and `b_β = Σ q_k X^k` satisfy `c_β = b_β + β·Δ`.
//!    No message.
//! 3. **Single-point VOLE** per block of `L = 2^h` positions: the sender expands a GGM tree from
//!    a random root (`x ↦ (π0(x) ⊕ x, π1(x) ⊕ x)`, fixed-key AES) and sends, per level, the XOR of
//!    the left and of the right children, each under a random OT derived from a COT (the receiver
//!    chose the complement of its point `α`'s bit at that level); it also sends
//!    `d = Σ leaves + b_β`. The receiver rebuilds every leaf but the one at `α`, and sets
//!    `c'_α = d + Σ_{i≠α} leaf_i + c_β`, so that `c' = b' + e·Δ` where `e` has `β` at `α`
//!    (Boyle–Couteau–Gilboa–Ishai, CCS 2018; Weng–Yang–Katz–Wang, S&P 2021). The random OTs
//!    hash a COT with the tweakable correlation-robust hash `π(π(x) ⊕ k) ⊕ π(x)` of Guo, Katz,
//!    Wang and Yu (S&P 2020).
//! 4. **Dual-LPN compression** with an expand-accumulate code (Boyle, Couteau, Gilboa, Ishai,
//!    Kohl, Resch, Scholl, CRYPTO 2022): for the length-`N` sparse correlation, both parties
//!    accumulate (prefix sums), then output position `r` is the sum of [`WEIGHT`] positions of the
//!    accumulated vector drawn with AES from a public code seed. The map is linear, so the
//!    correlation survives, and `A = EA(e)` is pseudorandom under dual LPN for EA codes.
//!
//! Parameters (libOTe, `libOTe/TwoChooseOne/ConfigureCode.cpp`, `EAConfigure` for `ExAcc21`
//! and `getRegNoiseWeight`): code size `N ≥ 5·m`, expander weight 21, assumed minimum-distance
//! ratio `δ = 0.15`, regular noise weight `t = ⌈−128 / log2(1 − 2δ)⌉ = 249`, rounded up to a
//! multiple of 8: [`NOISE`] = 256 (128-bit security against linear attacks). `L = 2^h` is the
//! smallest power of two with `t·L ≥ 5·m`, so `N = t·L < 10·m`. (Taking `t` between 256 and 512
//! so that `N` is just above `5·m` saved about 0.06 s of CPU for both parties at 2^18 keys but
//! sent 6 more bits per key; bytes are what RR22 is for.) Silver codes are not used (they
//! were broken: Raghuraman–Rindal–Tanguy, CRYPTO 2023).
//!
//! Communication: 128 base OTs, `t·(128 + h)` COTs of 128 bits each, and `t·(2h + 1)` field
//! elements: 0.57 MB for the smallest `m`, 0.74 MB at 2^22 keys — 17 bits per key at 2^18.

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use rand::Rng;
use rayon::prelude::*;
use zeroize::Zeroize;

use super::gf128::{Gf, mul_x};
use crate::kkrt::bits;

/// Expander weight of the EA code.
pub(crate) const WEIGHT: usize = 21;

/// Code size over output size.
pub(crate) const SCALER: usize = 5;

/// Regular noise weight: the number of blocks.
pub(crate) const NOISE: usize = 256;

/// Base OTs (and bits of Δ).
pub(crate) const BASE: usize = 128;

/// Fixed AES keys: the GGM children (any public constants).
const LEFT_KEY: [u8; 16] = *b"petri-rr22/ggm/0";
const RIGHT_KEY: [u8; 16] = *b"petri-rr22/ggm/1";
/// Fixed AES key of the random-OT hash.
const HASH_KEY: [u8; 16] = *b"petri-rr22/rot/H";

/// The sizes of one VOLE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Output length.
    pub(crate) m: usize,
    /// Levels of each GGM tree.
    pub(crate) h: usize,
    /// Blocks (noise weight).
    pub(crate) t: usize,
}

impl Shape {
    /// The shape for `m` outputs.
    pub(crate) fn new(m: usize) -> Shape {
        let mut h = 1;
        while NOISE << h < SCALER * m {
            h += 1;
        }
        Shape { m, h, t: NOISE }
    }

    /// Code size `N = t·2^h`.
    pub(crate) fn n(&self) -> usize {
        self.t << self.h
    }

    /// COTs per block.
    fn per_block(&self) -> usize {
        BASE + self.h
    }

    /// COTs, rounded up to the 128-row granularity of the PRG.
    pub(crate) fn cots(&self) -> usize {
        (self.t * self.per_block()).div_ceil(128) * 128
    }

    /// Bytes of the receiver's extension message.
    pub(crate) fn columns_bytes(&self) -> usize {
        BASE * self.cots() / 8
    }

    /// Field elements of the sender's tree message.
    pub(crate) fn tree_elements(&self) -> usize {
        self.t * (2 * self.h + 1)
    }
}

pub(crate) fn to_block(x: Gf) -> aes::Block {
    x.to_le_bytes().into()
}

pub(crate) fn from_block(b: &aes::Block) -> Gf {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    u128::from_le_bytes(a)
}

/// `G(seed)`: `words` 64-bit words of AES-128 in counter mode.
fn prg(cipher: &Aes128, words: usize) -> Vec<u64> {
    let mut blocks: Vec<aes::Block> = (0..words as u128 / 2).map(to_block).collect();
    cipher.encrypt_blocks(&mut blocks);
    blocks
        .iter()
        .flat_map(|b| {
            let x = from_block(b);
            [x as u64, (x >> 64) as u64]
        })
        .collect()
}

/// Column-major words (`BASE` columns of `rows` bits) to 128-bit rows.
fn rows_of(cols: &[u64], rows: usize) -> Vec<Gf> {
    let mut flat = vec![0u64; rows * 2];
    bits::cols_to_rows(cols, BASE, rows, &mut flat);
    flat.chunks_exact(2)
        .map(|w| u128::from(w[0]) | (u128::from(w[1]) << 64))
        .collect()
}

/// The random-OT hash `π(π(x) ⊕ k) ⊕ π(x)` of COT `k`.
fn rot_hash(pi: &Aes128, items: &[(u64, Gf)]) -> Vec<Gf> {
    let mut x: Vec<aes::Block> = items.iter().map(|(_, v)| to_block(*v)).collect();
    pi.encrypt_blocks(&mut x);
    let mut y: Vec<aes::Block> = x
        .iter()
        .zip(items)
        .map(|(b, (k, _))| to_block(from_block(b) ^ u128::from(*k)))
        .collect();
    pi.encrypt_blocks(&mut y);
    x.iter().zip(&y).map(|(a, b)| from_block(a) ^ from_block(b)).collect()
}

/// Buffers of one GGM tree, reused from block to block on a thread.
#[derive(Default)]
struct Scratch {
    next: Vec<Gf>,
    left: Vec<aes::Block>,
    right: Vec<aes::Block>,
}

/// One GGM level: the nodes in `tree[..len]` are replaced by their `2·len` children.
fn grow(left: &Aes128, right: &Aes128, tree: &mut [Gf], len: usize, s: &mut Scratch) {
    let parents = &tree[..len];
    s.left.clear();
    s.left.extend(parents.iter().map(|p| to_block(*p)));
    s.right.clear();
    s.right.extend_from_slice(&s.left);
    left.encrypt_blocks(&mut s.left);
    right.encrypt_blocks(&mut s.right);
    s.next.clear();
    for ((p, l), r) in parents.iter().zip(&s.left).zip(&s.right) {
        s.next.push(from_block(l) ^ p);
        s.next.push(from_block(r) ^ p);
    }
    tree[..2 * len].copy_from_slice(&s.next);
}

/// `Σ_k v_k X^k` over 128 values (Horner).
fn gilboa(v: &[Gf]) -> Gf {
    v.iter().rev().fold(0, |acc, x| mul_x(acc) ^ x)
}

/// The expand-accumulate code with its public seed.
pub(crate) struct Code {
    shape: Shape,
    cipher: Aes128,
}

impl Code {
    pub(crate) fn new(shape: Shape, seed: [u8; 16]) -> Code {
        Code {
            shape,
            cipher: Aes128::new(&seed.into()),
        }
    }

    /// For every output `r`, `add(out[r], p)` for each of its [`WEIGHT`] positions `p`.
    fn expand<T: Send>(&self, out: &mut [T], add: impl Fn(&mut T, usize) + Sync) {
        const BLOCKS: usize = WEIGHT.div_ceil(4);
        let n = self.shape.n() as u64;
        out.par_chunks_mut(1024).enumerate().for_each(|(c, out)| {
            let r0 = c * 1024;
            let mut blocks: Vec<aes::Block> = (0..out.len() * BLOCKS)
                .map(|i| to_block(((r0 * BLOCKS + i) as u128) | (1u128 << 127)))
                .collect();
            self.cipher.encrypt_blocks(&mut blocks);
            for (o, b) in out.iter_mut().zip(blocks.chunks_exact(BLOCKS)) {
                for k in 0..WEIGHT {
                    let x = from_block(&b[k / 4]);
                    let word = (x >> (32 * (k % 4))) as u32;
                    add(o, ((u64::from(word) * n) >> 32) as usize);
                }
            }
        });
    }
}

/// Prefix sums in place.
fn accumulate(v: &mut [Gf]) {
    let mut acc = 0;
    for x in v.iter_mut() {
        acc ^= *x;
        *x = acc;
    }
}

/// The VOLE receiver (the PSI receiver): the base-OT sender and the COT receiver.
pub(crate) struct Receiver {
    shape: Shape,
    /// Noise point of each block.
    alpha: Vec<u32>,
    /// Noise value of each block.
    beta: Vec<Gf>,
    /// COT rows `t_i`.
    t: Vec<Gf>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.alpha.zeroize();
        self.beta.zeroize();
        self.t.zeroize();
    }
}

impl Receiver {
    /// Draws the noise, and from the base-OT seed pairs computes the extension message.
    pub(crate) fn new(shape: Shape, pairs: &[([u8; 16], [u8; 16])]) -> (Receiver, Vec<u8>) {
        let mut rng = rand::rng();
        let leaves = 1u32 << shape.h;
        let alpha: Vec<u32> = (0..shape.t).map(|_| rng.random_range(0..leaves)).collect();
        let beta: Vec<Gf> = (0..shape.t).map(|_| rng.random()).collect();
        let k = shape.cots();
        let mut choice = vec![0u64; k / 64];
        let mut set = |i: usize, b: bool| choice[i / 64] |= u64::from(b) << (i % 64);
        for j in 0..shape.t {
            let base = j * shape.per_block();
            for bit in 0..BASE {
                set(base + bit, (beta[j] >> bit) & 1 == 1);
            }
            for level in 1..=shape.h {
                let a = (alpha[j] >> (shape.h - level)) & 1;
                set(base + BASE + level - 1, a == 0);
            }
        }
        let words = k / 64;
        let mut t = vec![0u64; BASE * words];
        let mut u = vec![0u64; BASE * words];
        t.par_chunks_mut(words)
            .zip(u.par_chunks_mut(words))
            .zip(pairs.par_iter())
            .for_each(|((t, u), (k0, k1))| {
                t.copy_from_slice(&prg(&Aes128::new(&(*k0).into()), words));
                let g1 = prg(&Aes128::new(&(*k1).into()), words);
                for (((u, t), g), c) in u.iter_mut().zip(t.iter()).zip(&g1).zip(&choice) {
                    *u = t ^ g ^ c;
                }
            });
        let rows = rows_of(&t, k);
        let msg = u.iter().flat_map(|w| w.to_le_bytes()).collect();
        (
            Receiver {
                shape,
                alpha,
                beta,
                t: rows,
            },
            msg,
        )
    }

    /// From the sender's tree message, `(A, C)` with `C = B + A·Δ`.
    pub(crate) fn finish(self, code: &Code, tree_msg: &[Gf]) -> (Vec<Gf>, Vec<Gf>) {
        let s = self.shape;
        let leaves = 1usize << s.h;
        let left = Aes128::new(&LEFT_KEY.into());
        let right = Aes128::new(&RIGHT_KEY.into());
        let pi = Aes128::new(&HASH_KEY.into());
        let mut c = vec![0 as Gf; s.n()];
        c.par_chunks_mut(leaves)
            .enumerate()
            .for_each_init(Scratch::default, |scratch, (j, tree)| {
                let msg = &tree_msg[j * (2 * s.h + 1)..(j + 1) * (2 * s.h + 1)];
                let base = j * s.per_block();
                let alpha = self.alpha[j] as usize;
                let rots: Vec<(u64, Gf)> = (0..s.h)
                    .map(|l| {
                        let k = base + BASE + l;
                        (k as u64, self.t[k])
                    })
                    .collect();
                let keys = rot_hash(&pi, &rots);
                // The root is unknown (0 stands for unknown nodes).
                tree[0] = 0;
                let mut path = 0usize;
                for l in 1..=s.h {
                    grow(&left, &right, tree, 1 << (l - 1), scratch);
                    let next = &mut tree[..1 << l];
                    next[2 * path] = 0;
                    next[2 * path + 1] = 0;
                    let a = (alpha >> (s.h - l)) & 1;
                    let nb = 1 - a;
                    let sum = next.iter().skip(nb).step_by(2).fold(0, |x, y| x ^ y);
                    next[2 * path + nb] = msg[2 * (l - 1) + nb] ^ keys[l - 1] ^ sum;
                    path = 2 * path + a;
                }
                let known = tree.iter().fold(0, |x, y| x ^ y);
                let c_beta = gilboa(&self.t[base..base + BASE]);
                tree[alpha] = msg[2 * s.h] ^ known ^ c_beta;
            });
        accumulate(&mut c);
        // acc(e)[p]: the noise values of the blocks before p's, and p's own if p is past its point.
        let mut before = Vec::with_capacity(s.t);
        let mut x = 0;
        for b in &self.beta {
            before.push(x);
            x ^= b;
        }
        let mut out = vec![(0 as Gf, 0 as Gf); s.m];
        let (h, mask) = (s.h, leaves - 1);
        code.expand(&mut out, |o, p| {
            let j = p >> h;
            let own = self.beta[j] & 0u128.wrapping_sub(u128::from((p & mask) >= self.alpha[j] as usize));
            o.0 ^= before[j] ^ own;
            o.1 ^= c[p];
        });
        out.into_iter().unzip()
    }
}

/// The VOLE sender (the PSI sender): the base-OT receiver (choosing with Δ) and the COT sender.
pub(crate) struct Sender {
    shape: Shape,
    delta: Gf,
    seeds: Vec<[u8; 16]>,
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.delta.zeroize();
        self.seeds.zeroize();
    }
}

impl Sender {
    /// With Δ (its bits were the base-OT choices) and the chosen seeds.
    pub(crate) fn new(shape: Shape, delta: Gf, seeds: &[[u8; 16]]) -> Sender {
        Sender {
            shape,
            delta,
            seeds: seeds.to_vec(),
        }
    }

    /// From the receiver's extension message (length checked by the caller): the tree message
    /// and `B`.
    pub(crate) fn finish(self, code: &Code, columns: &[u8]) -> (Vec<Gf>, Vec<Gf>) {
        let s = self.shape;
        let k = s.cots();
        let words = k / 64;
        let mut q = vec![0u64; BASE * words];
        q.par_chunks_mut(words)
            .zip(columns.par_chunks(words * 8))
            .zip(self.seeds.par_iter())
            .enumerate()
            .for_each(|(j, ((q, u), seed))| {
                q.copy_from_slice(&prg(&Aes128::new(&(*seed).into()), words));
                let mask = 0u64.wrapping_sub(((self.delta >> j) & 1) as u64);
                for (q, u) in q.iter_mut().zip(u.chunks_exact(8)) {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(u);
                    *q ^= u64::from_le_bytes(w) & mask;
                }
            });
        let q = rows_of(&q, k);
        let leaves = 1usize << s.h;
        let left = Aes128::new(&LEFT_KEY.into());
        let right = Aes128::new(&RIGHT_KEY.into());
        let pi = Aes128::new(&HASH_KEY.into());
        let mut b = vec![0 as Gf; s.n()];
        let mut tree = vec![0 as Gf; s.tree_elements()];
        b.par_chunks_mut(leaves)
            .zip(tree.par_chunks_mut(2 * s.h + 1))
            .enumerate()
            .for_each_init(Scratch::default, |scratch, (j, (out, msg))| {
                let base = j * s.per_block();
                let rots: Vec<(u64, Gf)> = (0..s.h)
                    .flat_map(|l| {
                        let k = base + BASE + l;
                        [(k as u64, q[k]), (k as u64, q[k] ^ self.delta)]
                    })
                    .collect();
                let keys = rot_hash(&pi, &rots);
                out[0] = rand::rng().random::<Gf>();
                for l in 0..s.h {
                    grow(&left, &right, out, 1 << l, scratch);
                    let level = &out[..2 << l];
                    let even = level.iter().step_by(2).fold(0, |x, y| x ^ y);
                    let odd = level.iter().skip(1).step_by(2).fold(0, |x, y| x ^ y);
                    msg[2 * l] = even ^ keys[2 * l];
                    msg[2 * l + 1] = odd ^ keys[2 * l + 1];
                }
                let b_beta = gilboa(&q[base..base + BASE]);
                msg[2 * s.h] = out.iter().fold(b_beta, |x, y| x ^ y);
            });
        accumulate(&mut b);
        let mut out = vec![0 as Gf; s.m];
        code.expand(&mut out, |o, p| *o ^= b[p]);
        (tree, out)
    }

    /// Δ.
    #[cfg(test)]
    pub(crate) fn delta(&self) -> Gf {
        self.delta
    }
}
