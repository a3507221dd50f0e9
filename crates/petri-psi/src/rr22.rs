//! RR22 PSI: the VOLE-based PSI of Raghuraman and Rindal ("Blazing Fast PSI from Improved OKVS
//! and Subfield VOLE", CCS 2022), semi-honest, over GF(2^128).
//!
//! About 30% more CPU than [`crate::kkrt`] (BENCHMARKS.md) for about a quarter of its bytes on
//! the wire: the receiver sends one field element per OKVS column (`1.1·n_r` of them) and the
//! sender one short hash per key, while the silent VOLE costs a fixed 0.6–0.75 MB.
//!
//! The OKVS is the random-band one of Bienstock–Patel–Seo–Yeo (USENIX Security 2023), not RR22's
//! own (weight-3 hashing with dense columns): it is simpler, encodes in `O(n·w)` and needs only
//! `m = 1.1·n` columns against about `1.23·n` for RR22's.
//!
//! 1. Hello, as in [`crate::protocol`] (the protocol name is [`PROTOCOL`]: parties running
//!    different protocols stop with a mismatch). Both hash their keys under the session id to a
//!    256-bit digest: the first half places the key in the OKVS, the second is its OKVS value
//!    `H(y)`.
//! 2. Silent VOLE of length `m` = the OKVS length (`rr22/vole.rs`): the receiver sends the base-OT
//!    message and the public seed of the expand-accumulate code; the sender answers the 128 base
//!    OTs choosing with the bits of a random `Δ`; the receiver sends the OT-extension columns;
//!    the sender sends the GGM tree sums. The receiver ends with `A, C`, the sender with `Δ, B`,
//!    and `C = B + A·Δ`.
//! 3. Meanwhile the receiver encodes its digests in the random-band OKVS (`rr22/okvs.rs`):
//!    `Decode(P, y) = H(y)` for each of its keys. It sends the OKVS seed and `P + A`, in frames.
//! 4. The sender computes `K = B + Δ·(P + A) = C + Δ·P` and, for each of its keys `x`, the value
//!    `Hout(Decode(K, x) + Δ·H(x), x)`, which equals the receiver's `Hout(Decode(C, y), y)` exactly
//!    when `x = y` is in the receiver's set (otherwise `Decode(P, x) + H(x) ≠ 0` and the secret `Δ`
//!    makes the value look random). `Hout` is SHA-256 under a domain, truncated to
//!    [`value_bytes`] (λ = 40 plus log2 of the number of comparisons, rounded up to whole bytes).
//!    The sender sends its values in a random order; the receiver looks them up among its own.
//!
//! What each party learns: the receiver, the intersection (or in cardinality mode only its size:
//! the values arrive shuffled and it counts them); the sender, nothing but the receiver's set
//! size (`P + A` is masked by the pseudorandom `A`). When both are to learn (`reveal = both`),
//! the receiver sends back the positions of the matching values in the sender's order, as in
//! [`crate::kkrt`]; in cardinality mode only the count. Intersection-sum runs on ECDH only.
//!
//! Memory: each party holds the length-`N` sparse correlation (`N < 10·m`), about 180 bytes
//! per receiver key at most, hence the limit [`MAX_SET`].

mod gf128;
mod okvs;
mod vole;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use rand::Rng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::PsiError;
use crate::input::Input;
use crate::kkrt::{ValueHasher, blocking, expect, random16, value_key};
use crate::ot::{self, OtSender};
use crate::protocol::{self, ABORT, Mode, Outcome, Params, Reveal, Role};
use crate::transport::{Channel, MAX_FRAME};
use gf128::Gf;
use okvs::Okvs;
use vole::{BASE, Code, Shape};

/// The protocol's name in the hello.
pub const PROTOCOL: &str = "rr22-psi/gf128-ea21-rb256";

/// The largest set either party may have.
pub const MAX_SET: usize = 1 << 22;

/// Statistical security of the comparison (bits).
pub const LAMBDA: f64 = 40.0;

/// Domain separation of the key digests.
pub const DOMAIN: &[u8] = b"petri-psi/v1/rr22/key-digest";

/// Domain separation of the output hash.
const OUT_DOMAIN: &[u8] = b"petri-psi/v1/rr22/out";

/// How many OKVS seeds the receiver tries (each fails with probability below 2^-40).
const OKVS_SEEDS: usize = 8;

/// Field elements per frame of `P + A`.
const ELEMENTS_PER_FRAME: usize = 1 << 19;

const OT_A: u8 = 30;
const OT_B: u8 = 31;
const COLUMNS: u8 = 32;
const TREES: u8 = 33;
const OKVS_SEED: u8 = 34;
const PACKED: u8 = 35;
const VALUES: u8 = 36;
const MATCHES: u8 = 37;
const DONE: u8 = 38;

/// The 256-bit digest of a key: SHA-256 of the domain, the session id (length-prefixed) and the
/// key. The first half places the key in the OKVS, the second is its value there. Never sent.
pub fn digest(session: &[u8], key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update((session.len() as u64).to_le_bytes());
    h.update(session);
    h.update(key);
    h.finalize().into()
}

fn halves(d: &[u8; 32]) -> ([u8; 16], Gf) {
    let mut a = [0u8; 16];
    let mut b = [0u8; 16];
    a.copy_from_slice(&d[..16]);
    b.copy_from_slice(&d[16..]);
    (a, u128::from_le_bytes(b))
}

/// Bytes of a value on the wire: `λ + log2(n_s·n_r)` bits, rounded up to bytes.
pub fn value_bytes(n_sender: usize, n_receiver: usize) -> usize {
    let bits = LAMBDA + (n_sender.max(1) as f64).log2() + (n_receiver.max(1) as f64).log2();
    (bits.ceil() as usize).div_ceil(8).min(32)
}

/// `Hout(v, d)`, truncated to `out.len()` bytes.
fn out_hash(v: Gf, place: &[u8; 16], out: &mut [u8]) {
    let mut h = Sha256::new();
    h.update(OUT_DOMAIN);
    h.update(v.to_le_bytes());
    h.update(place);
    let d = h.finalize();
    out.copy_from_slice(&d[..out.len()]);
}

fn to_bytes(v: &[Gf]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_bytes(b: &[u8]) -> Vec<Gf> {
    b.chunks_exact(16)
        .map(|c| {
            let mut a = [0u8; 16];
            a.copy_from_slice(c);
            u128::from_le_bytes(a)
        })
        .collect()
}

/// Runs the RR22 session (after the caller chose the protocol).
pub(crate) async fn session(params: &Params, input: &Input, channel: &mut Channel) -> Result<Outcome, PsiError> {
    let start = Instant::now();
    if params.mode == Mode::Sum {
        return Err(PsiError::Request(
            "intersection-sum runs on the ecdh protocol only (use protocol ecdh)".into(),
        ));
    }
    let n = input.keys.len();
    if n == 0 || n > MAX_SET {
        return Err(PsiError::Request(format!(
            "rr22 takes 1 to {MAX_SET} distinct keys per party, this party has {n}"
        )));
    }
    if params.chunk == 0 || params.chunk * 32 > MAX_FRAME / 2 {
        return Err(PsiError::Request(format!(
            "a chunk of {} values is out of range",
            params.chunk
        )));
    }
    let peer = protocol::hello(params, channel, n, None).await?;
    if peer.size > MAX_SET {
        return Err(PsiError::Protocol(format!(
            "the peer announced {} keys; rr22 takes at most {MAX_SET}",
            peer.size
        )));
    }
    let session = params.session.clone();
    let keys = input.keys.clone();
    let digests = blocking(move || {
        Ok(keys
            .par_iter()
            .map(|k| digest(session.as_bytes(), k.as_bytes()))
            .collect::<Vec<_>>())
    })
    .await?;
    let both = params.reveal == Reveal::Both;
    let (matched, cardinality) = match params.role {
        Role::Receiver => receiver(params, channel, digests, peer.size, both).await?,
        Role::Sender => sender(params, channel, digests, peer.size, both).await?,
    };
    let mut outcome = Outcome {
        own: n,
        peer: peer.size,
        cardinality,
        ..Outcome::default()
    };
    if params.mode == Mode::Intersection {
        outcome.matched = matched;
    }
    outcome.bytes_received = channel.bytes_received();
    outcome.bytes_sent = channel.bytes_sent();
    outcome.seconds = start.elapsed().as_secs_f64();
    Ok(outcome)
}

type Learned = (Option<Vec<usize>>, Option<usize>);

/// Encodes the receiver's digests, trying fresh seeds on failure.
fn encode(m: usize, digests: &[[u8; 32]]) -> Result<([u8; 16], Vec<Gf>), PsiError> {
    let (places, values): (Vec<[u8; 16]>, Vec<Gf>) = digests.par_iter().map(halves).unzip();
    for _ in 0..OKVS_SEEDS {
        let seed = random16();
        let okvs = Okvs::new(m, seed);
        let rows = okvs.rows(&places);
        if let Some(p) = okvs.encode(&rows, &values) {
            return Ok((seed, p));
        }
    }
    Err(PsiError::Protocol(format!(
        "the OKVS encoding failed with {OKVS_SEEDS} seeds (each fails with probability below 2^-40)"
    )))
}

async fn receiver(
    params: &Params,
    channel: &mut Channel,
    digests: Vec<[u8; 32]>,
    n_s: usize,
    both: bool,
) -> Result<Learned, PsiError> {
    let n_r = digests.len();
    let m = okvs::columns(n_r);
    let shape = Shape::new(m);
    let digests = Arc::new(digests);
    // The OKVS encoding needs nothing from the peer: it runs while the VOLE does.
    let d = digests.clone();
    let encoding = tokio::task::spawn_blocking(move || encode(m, &d));
    let base = OtSender::new();
    let code_seed = random16();
    let mut first = base.message().to_vec();
    first.extend_from_slice(&code_seed);
    channel.send(OT_A, &first)?;
    let reply = expect(channel, OT_B).await?;
    if reply.len() != BASE * ot::POINT_BYTES {
        return Err(PsiError::Protocol("the base-OT reply has the wrong length".into()));
    }
    let session = params.session.clone();
    let (vr, columns) = blocking(move || {
        let pairs = base.seeds(session.as_bytes(), &reply)?;
        Ok(vole::Receiver::new(shape, &pairs))
    })
    .await?;
    channel.send(COLUMNS, &columns)?;
    drop(columns);
    let trees = expect(channel, TREES).await?;
    if trees.len() != shape.tree_elements() * 16 {
        return Err(PsiError::Protocol(
            "the peer's tree message has the wrong length".into(),
        ));
    }
    let (a, c) = blocking(move || Ok(vr.finish(&Code::new(shape, code_seed), &from_bytes(&trees)))).await?;
    let (okvs_seed, p) = encoding
        .await
        .map_err(|e| PsiError::Protocol(format!("a worker failed: {e}")))??;
    channel.send(OKVS_SEED, &okvs_seed)?;
    let out = channel.sender()?;
    let width = value_bytes(n_s, n_r);
    let d = digests.clone();
    let own = blocking(move || {
        let masked: Vec<Gf> = p.par_iter().zip(&a).map(|(p, a)| p ^ a).collect();
        for f in masked.chunks(ELEMENTS_PER_FRAME) {
            out.send(PACKED, &to_bytes(f))?;
        }
        let okvs = Okvs::new(m, okvs_seed);
        let mut own = vec![0u8; n_r * width];
        own.par_chunks_mut(width * 1024)
            .zip(d.par_chunks(1024))
            .for_each(|(own, d)| {
                let places: Vec<[u8; 16]> = d.iter().map(|d| halves(d).0).collect();
                let rows = okvs.rows(&places);
                for ((o, row), place) in own.chunks_exact_mut(width).zip(&rows).zip(&places) {
                    out_hash(Okvs::decode(&c, row), place, o);
                }
            });
        Ok(own)
    })
    .await?;
    let total = n_s * width;
    let mut theirs = Vec::with_capacity(total.min(1 << 26));
    while theirs.len() < total {
        let frame = expect(channel, VALUES).await?;
        if !frame.len().is_multiple_of(width) || theirs.len() + frame.len() > total {
            return Err(PsiError::Protocol("the peer sent malformed or too many values".into()));
        }
        theirs.extend_from_slice(&frame);
    }
    // The values are pseudorandom: KKRT's one-multiplication hasher suffices for the map.
    let hasher = ValueHasher(rand::rng().random::<u64>() | 1);
    let (hits, mut matched) = blocking(move || {
        let mut map: HashMap<u128, u32, ValueHasher> = HashMap::with_capacity_and_hasher(n_r, hasher);
        for (item, v) in own.chunks_exact(width).enumerate() {
            map.insert(value_key(v), item as u32);
        }
        let hits: Vec<(u32, u32)> = theirs
            .par_chunks(width)
            .enumerate()
            .filter_map(|(p, v)| map.get(&value_key(v)).map(|&item| (p as u32, item)))
            .collect();
        let mut matched: Vec<usize> = hits.iter().map(|&(_, item)| item as usize).collect();
        matched.sort_unstable();
        matched.dedup();
        Ok((hits, matched))
    })
    .await?;
    let count = matched.len();
    if both {
        if params.mode == Mode::Intersection {
            let positions: Vec<u8> = hits.iter().flat_map(|(p, _)| p.to_le_bytes()).collect();
            for c in positions.chunks(MAX_FRAME / 4) {
                channel.send(MATCHES, c)?;
            }
        }
        channel.send(DONE, &(count as u64).to_le_bytes())?;
    }
    let learned = match params.mode {
        Mode::Intersection => Some(std::mem::take(&mut matched)),
        _ => None,
    };
    Ok((learned, Some(count)))
}

async fn sender(
    params: &Params,
    channel: &mut Channel,
    digests: Vec<[u8; 32]>,
    n_r: usize,
    both: bool,
) -> Result<Learned, PsiError> {
    let n_s = digests.len();
    let m = okvs::columns(n_r);
    let shape = Shape::new(m);
    let delta: Gf = rand::rng().random();
    let choices: Vec<bool> = (0..BASE).map(|j| (delta >> j) & 1 == 1).collect();
    let first = expect(channel, OT_A).await?;
    if first.len() != ot::POINT_BYTES + 16 {
        return Err(PsiError::Protocol("the base-OT message has the wrong length".into()));
    }
    let mut code_seed = [0u8; 16];
    code_seed.copy_from_slice(&first[ot::POINT_BYTES..]);
    let session = params.session.clone();
    let (reply, seeds) = blocking(move || ot::receive(session.as_bytes(), &first[..ot::POINT_BYTES], &choices)).await?;
    channel.send(OT_B, &reply)?;
    let vs = vole::Sender::new(shape, delta, &seeds);
    drop(seeds);
    let columns = expect(channel, COLUMNS).await?;
    if columns.len() != shape.columns_bytes() {
        return Err(PsiError::Protocol(
            "the peer's extension columns have the wrong length".into(),
        ));
    }
    let (trees, b) = blocking(move || Ok(vs.finish(&Code::new(shape, code_seed), &columns))).await?;
    channel.send(TREES, &to_bytes(&trees))?;
    let seed = expect(channel, OKVS_SEED).await?;
    let okvs_seed: [u8; 16] = seed
        .as_slice()
        .try_into()
        .map_err(|_| PsiError::Protocol("the OKVS seed has the wrong length".into()))?;
    let mut packed: Vec<u8> = Vec::with_capacity(m * 16);
    while packed.len() < m * 16 {
        let frame = expect(channel, PACKED).await?;
        if !frame.len().is_multiple_of(16) || packed.len() + frame.len() > m * 16 {
            return Err(PsiError::Protocol("the peer sent a malformed or too long OKVS".into()));
        }
        packed.extend_from_slice(&frame);
    }
    let width = value_bytes(n_s, n_r);
    // A random position for each value: order[p] is the key sent at p.
    let mut order: Vec<u32> = (0..n_s as u32).collect();
    order.shuffle(&mut rand::rng());
    let order = Arc::new(order);
    let o = order.clone();
    let values = blocking(move || {
        let k: Vec<Gf> = from_bytes(&packed)
            .par_iter()
            .zip(&b)
            .map(|(p, b)| b ^ gf128::mul(delta, *p))
            .collect();
        let okvs = Okvs::new(m, okvs_seed);
        let mut values = vec![0u8; n_s * width];
        values
            .par_chunks_mut(width * 1024)
            .zip(o.par_chunks(1024))
            .for_each(|(out, order)| {
                let (places, hs): (Vec<[u8; 16]>, Vec<Gf>) =
                    order.iter().map(|&i| halves(&digests[i as usize])).unzip();
                let rows = okvs.rows(&places);
                for (((v, row), place), h) in out.chunks_exact_mut(width).zip(&rows).zip(&places).zip(&hs) {
                    out_hash(Okvs::decode(&k, row) ^ gf128::mul(delta, *h), place, v);
                }
            });
        Ok(values)
    })
    .await?;
    for c in values.chunks(params.chunk * width) {
        channel.send(VALUES, c)?;
    }
    if !both {
        return Ok((None, None));
    }
    let mut hits: Vec<u32> = Vec::new();
    let count = loop {
        let (tag, payload) = channel.recv().await?;
        match tag {
            MATCHES if params.mode == Mode::Intersection && payload.len().is_multiple_of(4) => {
                if hits.len() + payload.len() / 4 > n_s {
                    return Err(PsiError::Protocol("the peer returned too many matches".into()));
                }
                hits.extend(
                    payload
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
            }
            DONE if payload.len() == 8 => {
                let mut c = [0u8; 8];
                c.copy_from_slice(&payload);
                break u64::from_le_bytes(c) as usize;
            }
            ABORT => return Err(PsiError::Aborted(String::from_utf8_lossy(&payload).into_owned())),
            other => return Err(PsiError::Protocol(format!("unexpected frame {other} from the peer"))),
        }
    };
    if params.mode == Mode::Cardinality {
        return Ok((None, Some(count)));
    }
    let mut matched = Vec::with_capacity(hits.len());
    for p in hits {
        let i = order
            .get(p as usize)
            .ok_or_else(|| PsiError::Protocol("the peer returned a position out of range".into()))?;
        matched.push(*i as usize);
    }
    matched.sort_unstable();
    matched.dedup();
    if matched.len() != count {
        return Err(PsiError::Protocol("the peer's matches and count disagree".into()));
    }
    Ok((Some(matched), Some(count)))
}

#[cfg(test)]
mod tests;
