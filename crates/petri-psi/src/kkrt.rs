//! KKRT16 PSI: the batched OPRF of Kolesnikov, Kumaresan, Rosulek and Trieu ("Efficient Batched
//! Oblivious PRF with Applications to Private Set Intersection", CCS 2016), semi-honest.
//!
//! Much faster than [`crate::ecdh`] for large sets (symmetric cryptography after 512 base OTs),
//! at the price of more bytes on the wire (about 110 per element and side, against 80).
//!
//! 1. Hello, as in [`crate::protocol`] (the protocol name is [`PROTOCOL`]: parties running
//!    different protocols stop with a mismatch). Both hash their keys to 128-bit digests under
//!    the session id.
//! 2. The receiver places its digests in `m ≈ 1.27·n` bins by cuckoo hashing (`kkrt/cuckoo.rs`:
//!    failure probability and what a retry reveals) and sends a base-OT message with the
//!    hashing seed. The sender answers the 512 base OTs ([`crate::ot`], roles reversed as in
//!    IKNP), choosing with random bits `s`, and sends the code key.
//! 3. The receiver streams the OT-extension columns (`kkrt/oprf.rs`) in frames of `chunk` rows; per
//!    frame, the sender derives its rows and evaluates the OPRF of each of its keys in each of
//!    its three bins (simple hashing) that the frame covers.
//! 4. The sender sends its `3·n_s` OPRF values in a random order, each truncated to
//!    [`value_bytes`] (λ = 40 plus log2 of the number of comparisons, rounded up to whole bytes),
//!    and the receiver looks them up among its own `n_r` values: a false match has probability
//!    below 2^-40.
//!
//! What each party learns: the receiver, the intersection (or, in cardinality mode, only its
//! size: the values arrive shuffled, and it counts them); the sender, nothing but the
//! receiver's set size. When both are to learn (`reveal = both`), the receiver sends back the
//! positions of the matching values in the order the sender sent them: the sender, which chose
//! that order, maps them to its own keys, and so learns the intersection and nothing else (a
//! semi-honest receiver sends exactly the matching positions). In cardinality mode it sends only
//! the count. Intersection-sum runs on ECDH only.

pub(crate) mod bits;
mod cuckoo;
mod oprf;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, RngCore};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::PsiError;
use crate::input::Input;
use crate::ot::{self, OtSender};
use crate::protocol::{self, ABORT, Mode, Outcome, Params, Reveal, Role};
use crate::transport::{Channel, MAX_FRAME};
use oprf::{Code, ExtReceiver, ExtSender, Row, WIDTH, WORDS};

/// The protocol's name in the hello.
pub const PROTOCOL: &str = "kkrt16-psi/512";

/// The largest set either party may have.
pub const MAX_SET: usize = 1 << 24;

/// Statistical security of the comparison (bits).
pub const LAMBDA: f64 = 40.0;

/// Domain separation of the key digests.
pub const DOMAIN: &[u8] = b"petri-psi/v1/kkrt/key-digest";

const OT_A: u8 = 20;
const OT_B: u8 = 21;
const COLUMNS: u8 = 22;
const VALUES: u8 = 23;
const MATCHES: u8 = 24;
const DONE: u8 = 25;

/// The 128-bit digest of a key: SHA-256 of the domain, the session id (length-prefixed) and
/// the key, truncated. Never sent.
pub fn digest(session: &[u8], key: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update((session.len() as u64).to_le_bytes());
    h.update(session);
    h.update(key);
    let d = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// Bytes of an OPRF value on the wire: `λ + log2(3·n_s·n_r)` bits, rounded up to bytes.
pub fn value_bytes(n_sender: usize, n_receiver: usize) -> usize {
    let bits = LAMBDA + ((3 * n_sender.max(1)) as f64).log2() + (n_receiver.max(1) as f64).log2();
    (bits.ceil() as usize).div_ceil(8).min(16)
}

/// Rows per extension frame: `chunk` rounded up to the 128-row granularity of the PRG.
fn block_rows(chunk: usize) -> usize {
    chunk.div_ceil(128).max(1) * 128
}

/// Runs the KKRT session (after the caller chose the protocol).
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
            "kkrt takes 1 to {MAX_SET} distinct keys per party, this party has {n}"
        )));
    }
    if params.chunk == 0 || block_rows(params.chunk) * WIDTH / 8 > MAX_FRAME / 2 {
        return Err(PsiError::Request(format!(
            "a chunk of {} rows is out of range",
            params.chunk
        )));
    }
    let peer = protocol::hello(params, channel, n, None).await?;
    if peer.size > MAX_SET {
        return Err(PsiError::Protocol(format!(
            "the peer announced {} keys; kkrt takes at most {MAX_SET}",
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
        Role::Sender => sender(params, channel, Arc::new(digests), peer.size, both).await?,
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

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PsiError> + Send + 'static,
) -> Result<T, PsiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PsiError::Protocol(format!("a worker failed: {e}")))?
}

pub(crate) async fn expect(channel: &mut Channel, want: u8) -> Result<Vec<u8>, PsiError> {
    let (tag, payload) = channel.recv().await?;
    match tag {
        ABORT => Err(PsiError::Aborted(String::from_utf8_lossy(&payload).into_owned())),
        t if t == want => Ok(payload),
        other => Err(PsiError::Protocol(format!(
            "unexpected frame {other} from the peer (expected {want})"
        ))),
    }
}

pub(crate) fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b
}

/// A value as a map key: its bytes, zero-padded to 16 (values are at most 16 bytes below 2^44
/// comparisons; longer ones are cut, which only adds false-match probability below 2^-128).
pub(crate) fn value_key(v: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    let k = v.len().min(16);
    b[..k].copy_from_slice(&v[..k]);
    u128::from_le_bytes(b)
}

/// Hashes the OPRF values (already pseudorandom) with one multiplication under a per-session
/// random odd factor instead of SipHash, which would cost more than the lookups themselves.
#[derive(Clone, Copy)]
pub(crate) struct ValueHasher(pub(crate) u64);

pub(crate) struct ValueHash(u64, u64);

impl Hasher for ValueHash {
    fn finish(&self) -> u64 {
        self.1
    }
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.1 = (self.1 ^ u64::from_le_bytes(w)).wrapping_mul(self.0).rotate_left(29);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.1 = ((v as u64) ^ ((v >> 64) as u64).wrapping_mul(self.0)).wrapping_mul(self.0);
    }
}

impl BuildHasher for ValueHasher {
    type Hasher = ValueHash;
    fn build_hasher(&self) -> ValueHash {
        ValueHash(self.0, 0)
    }
}

async fn receiver(
    params: &Params,
    channel: &mut Channel,
    digests: Vec<[u8; 16]>,
    n_s: usize,
    both: bool,
) -> Result<Learned, PsiError> {
    let n_r = digests.len();
    let m = cuckoo::bins(n_r);
    let digests = Arc::new(digests);
    let d = digests.clone();
    let (seed, table) = blocking(move || {
        for _ in 0..cuckoo::SEEDS {
            let seed = random16();
            if let Some(t) = cuckoo::cuckoo(&cuckoo::locate(seed, m, &d), m) {
                return Ok((seed, t));
            }
        }
        Err(PsiError::Protocol(format!(
            "cuckoo hashing failed with {} seeds (each fails with probability below 2^-40)",
            cuckoo::SEEDS
        )))
    })
    .await?;
    let base = OtSender::new();
    let mut first = base.message().to_vec();
    first.extend_from_slice(&seed);
    channel.send(OT_A, &first)?;
    let reply = expect(channel, OT_B).await?;
    if reply.len() != WIDTH * ot::POINT_BYTES + 16 {
        return Err(PsiError::Protocol("the base-OT reply has the wrong length".into()));
    }
    let (points, code_key) = reply.split_at(WIDTH * ot::POINT_BYTES);
    let code_key: [u8; 16] = code_key.try_into().map_err(|_| PsiError::Protocol("code key".into()))?;
    let session = params.session.clone();
    let points = points.to_vec();
    let seeds = blocking(move || base.seeds(session.as_bytes(), &points)).await?;
    let ext = ExtReceiver::new(&seeds);
    drop(seeds);
    let width = value_bytes(n_s, n_r);
    let rows_per = block_rows(params.chunk);
    let out = channel.sender()?;
    let d = digests.clone();
    // The extension streams out while the sender works on earlier frames.
    let own = blocking(move || {
        let code = Code::new(code_key);
        let mut own = vec![0u8; n_r * width];
        let mut r0 = 0;
        while r0 < m {
            let r1 = (r0 + rows_per).min(m);
            let inputs: Vec<([u8; 16], u8)> = table[r0..r1]
                .iter()
                .map(|slot| match slot {
                    Some((item, j)) => (d[*item as usize], *j),
                    // An empty bin holds a random input, so the columns look alike either way.
                    None => (random16(), 0),
                })
                .collect();
            let mut codes = vec![[0u64; WORDS]; r1 - r0];
            code.encode(&inputs, &mut codes);
            let (u, trows) = ext.block(r0, &codes);
            out.send(COLUMNS, &u)?;
            let (bins, items): (Vec<u32>, Vec<u32>) = table[r0..r1]
                .iter()
                .enumerate()
                .filter_map(|(i, slot)| slot.map(|(item, _)| ((r0 + i) as u32, item)))
                .unzip();
            let rows: Vec<Row> = bins.iter().map(|&b| trows[b as usize - r0]).collect();
            let mut values = vec![0u8; rows.len() * width];
            oprf::hash_rows(&bins, &rows, &mut values);
            for (item, v) in items.iter().zip(values.chunks_exact(width)) {
                own[*item as usize * width..][..width].copy_from_slice(v);
            }
            r0 = r1;
        }
        Ok(own)
    })
    .await?;
    let total = 3 * n_s * width;
    let mut theirs = Vec::with_capacity(total);
    while theirs.len() < total {
        let frame = expect(channel, VALUES).await?;
        if !frame.len().is_multiple_of(width) || theirs.len() + frame.len() > total {
            return Err(PsiError::Protocol("the peer sent malformed or too many values".into()));
        }
        theirs.extend_from_slice(&frame);
    }
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

/// The sender's items in bins: `(bin, item, hash function)`, sorted by bin.
type Entries = Vec<(u32, u32, u8)>;

async fn sender(
    params: &Params,
    channel: &mut Channel,
    digests: Arc<Vec<[u8; 16]>>,
    n_r: usize,
    both: bool,
) -> Result<Learned, PsiError> {
    let n_s = digests.len();
    let m = cuckoo::bins(n_r);
    let mut s: Row = [0u64; WORDS];
    rand::rng().fill(&mut s[..]);
    let choices: Vec<bool> = (0..WIDTH).map(|j| (s[j / 64] >> (j % 64)) & 1 == 1).collect();
    let code_key = random16();
    let first = expect(channel, OT_A).await?;
    if first.len() != ot::POINT_BYTES + 16 {
        return Err(PsiError::Protocol("the base-OT message has the wrong length".into()));
    }
    let mut seed = [0u8; 16];
    seed.copy_from_slice(&first[ot::POINT_BYTES..]);
    let session = params.session.clone();
    let d = digests.clone();
    let (reply, seeds, entries) = blocking(move || {
        let (reply, seeds) = ot::receive(session.as_bytes(), &first[..ot::POINT_BYTES], &choices)?;
        let locations = cuckoo::locate(seed, m, &d);
        let mut entries: Entries = locations
            .iter()
            .enumerate()
            .flat_map(|(item, bins)| bins.iter().enumerate().map(move |(j, &b)| (b, item as u32, j as u8)))
            .collect();
        entries.par_sort_unstable_by_key(|e| e.0);
        Ok((reply, seeds, entries))
    })
    .await?;
    let mut msg = reply;
    msg.extend_from_slice(&code_key);
    channel.send(OT_B, &msg)?;
    let ext = Arc::new(ExtSender::new(&seeds, s));
    drop(seeds);
    let entries = Arc::new(entries);
    // A random position for each value: order[p] is the entry sent at p.
    let mut order: Vec<u32> = (0..entries.len() as u32).collect();
    order.shuffle(&mut rand::rng());
    let mut position = vec![0u32; order.len()];
    for (p, &e) in order.iter().enumerate() {
        position[e as usize] = p as u32;
    }
    let position = Arc::new(position);
    let width = value_bytes(n_s, n_r);
    let code = Arc::new(Code::new(code_key));
    let mut values = vec![0u8; entries.len() * width];
    let mut r0 = 0usize;
    while r0 < m {
        let u = expect(channel, COLUMNS).await?;
        let rows = u.len() * 8 / WIDTH;
        if u.is_empty() || !u.len().is_multiple_of(WIDTH / 8 * 128) || r0 + rows > m {
            return Err(PsiError::Protocol("the peer sent malformed or too many columns".into()));
        }
        let (ext, entries, position, code, d) = (
            ext.clone(),
            entries.clone(),
            position.clone(),
            code.clone(),
            digests.clone(),
        );
        values = blocking(move || {
            let q = ext.block(r0, &u);
            let lo = entries.partition_point(|e| (e.0 as usize) < r0);
            let hi = entries.partition_point(|e| (e.0 as usize) < r0 + rows);
            let here = &entries[lo..hi];
            let mut computed = vec![0u8; here.len() * width];
            computed
                .par_chunks_mut(1024 * width)
                .zip(here.par_chunks(1024))
                .for_each(|(out, here)| {
                    let inputs: Vec<([u8; 16], u8)> = here.iter().map(|e| (d[e.1 as usize], e.2)).collect();
                    let mut rows = vec![[0u64; WORDS]; here.len()];
                    code.encode(&inputs, &mut rows);
                    let s = ext.s();
                    let bins: Vec<u32> = here.iter().map(|e| e.0).collect();
                    for (row, e) in rows.iter_mut().zip(here) {
                        let qi = &q[e.0 as usize - r0];
                        for ((r, q), s) in row.iter_mut().zip(qi).zip(s) {
                            *r = q ^ (*r & s);
                        }
                    }
                    oprf::hash_rows(&bins, &rows, out);
                });
            for (k, v) in computed.chunks_exact(width).enumerate() {
                let p = position[lo + k] as usize;
                values[p * width..][..width].copy_from_slice(v);
            }
            Ok(values)
        })
        .await?;
        r0 += rows;
    }
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
                if hits.len() + payload.len() / 4 > order.len() {
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
        let e = order
            .get(p as usize)
            .ok_or_else(|| PsiError::Protocol("the peer returned a position out of range".into()))?;
        matched.push(entries[*e as usize].1 as usize);
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
