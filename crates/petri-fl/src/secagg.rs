//! Secure aggregation in the style of SecAgg (Bonawitz et al., CCS 2017) and SecAgg+ (Bell et al.,
//! CCS 2020): the aggregator learns the weighted sum of the collaborators' updates and nothing
//! else, and a collaborator that drops out after sharing its keys is recovered.
//!
//! One round, with `Client`s and one `Server` exchanging the messages below (the transport is not
//! this module's business; every message may pass through the aggregator):
//!
//! 1. **Advertise**: each client draws two ristretto255 key pairs, `c` (to encrypt shares) and `s`
//!    (to agree on pairwise masks), and a self-mask seed `b`; it sends both public keys.
//! 2. **Share keys**: each client Shamir-shares `s_sk` and `b` (threshold `t`) among its
//!    neighbours and itself, and sends each neighbour its shares sealed with ChaCha20-Poly1305
//!    under a key from the `c` agreement, so the aggregator routes shares it cannot read.
//!    Neighbours are everyone (SecAgg) or `degree` clients on a ring shuffled by the round id
//!    (SecAgg+), so work per client grows with `degree`, not with the number of clients.
//! 3. **Masked input**: each client encodes `[w, w·x]` in fixed point in Z_2^64 and adds
//!    `PRG(b)` and, for every neighbour `j` that shared keys, `±PRG(s_ij)` (`+` if its id is the
//!    smaller). The aggregator sees only this.
//! 4. **Unmask**: the aggregator names the survivors (who sent a masked input) and the dropped
//!    (who shared keys but sent none). Each survivor returns its shares of the survivors' `b` and of
//!    the dropped clients' `s_sk`, never both for one client, and only once. The aggregator
//!    reconstructs them, removes the self-masks and the dropped clients' pairwise masks, and
//!    holds the sum; the survivors' pairwise masks cancel.
//!
//! Security is against a semi-honest aggregator and up to `t − 1` colluding clients (the
//! aggregator is trusted to route messages faithfully; the malicious-model consistency checks of
//! the papers are not implemented).

use std::collections::{BTreeMap, BTreeSet};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::CompressedRistretto;
use curve25519_dalek::{RistrettoPoint, Scalar};
use hkdf::Hkdf;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::FlError;
use crate::shamir::{random_scalar, recover, share};

/// A collaborator's index in a round.
pub type ClientId = u32;

/// The parameters of one aggregation, the same at every party.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// Binds every key, mask and share to this round.
    pub round: u64,
    /// Shares needed to recover a client's secrets.
    pub threshold: usize,
    /// Neighbours per client (SecAgg+); `None` for everyone (SecAgg).
    pub degree: Option<usize>,
    /// Fractional bits of the fixed-point encoding.
    pub frac_bits: u32,
    /// Each coordinate of an update is clipped to ±clip before weighting.
    pub clip: f64,
    /// Largest weight (number of samples) a client may give.
    pub max_weight: u32,
    /// Coordinates of an update.
    pub len: usize,
}

impl Config {
    /// Checks that `clients` sums cannot overflow the ring and the threshold is reachable.
    pub fn check(&self, clients: usize) -> Result<(), FlError> {
        if self.threshold < 2 {
            return Err(FlError::Config("threshold must be at least 2".into()));
        }
        let bound = clients as f64 * f64::from(self.max_weight) * self.clip * 2f64.powi(self.frac_bits as i32);
        if !self.clip.is_finite() || self.clip <= 0.0 || bound >= 2f64.powi(62) {
            return Err(FlError::Config(format!(
                "{clients} clients × weight {} × clip {} × 2^{} overflows the 64-bit ring",
                self.max_weight, self.clip, self.frac_bits
            )));
        }
        Ok(())
    }
}

impl Default for Config {
    /// Defaults for tests and examples: round 0, threshold 2, everyone a neighbour, 24
    /// fractional bits, clip 8, weights up to 100 000, one coordinate.
    fn default() -> Self {
        Config {
            round: 0,
            threshold: 2,
            degree: None,
            frac_bits: 24,
            clip: 8.0,
            max_weight: 100_000,
            len: 1,
        }
    }
}

/// Step 1: a client's public keys.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Advert {
    /// The client.
    pub id: ClientId,
    /// Public key for sealing shares.
    pub c_pk: [u8; 32],
    /// Public key for pairwise masks.
    pub s_pk: [u8; 32],
}

/// Step 2: shares sealed for one neighbour.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ShareBox {
    /// Sender.
    pub from: ClientId,
    /// Recipient.
    pub to: ClientId,
    /// ChaCha20-Poly1305 of the recipient's shares of the sender's `s_sk` and `b`.
    pub sealed: Vec<u8>,
}

/// Step 3: a masked update.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Masked {
    /// Sender.
    pub id: ClientId,
    /// `[w, w·x]` in fixed point, masked.
    pub y: Vec<u64>,
}

/// Step 4: who survived and who dropped.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UnmaskRequest {
    /// Clients whose masked inputs arrived.
    pub survivors: Vec<ClientId>,
    /// Clients that shared keys but sent no masked input.
    pub dropped: Vec<ClientId>,
}

/// Step 4: a survivor's shares.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UnmaskReply {
    /// Sender.
    pub id: ClientId,
    /// Shares of survivors' self-mask seeds: (owner, share).
    pub b_shares: Vec<(ClientId, [u8; 32])>,
    /// Shares of dropped clients' mask keys: (owner, share).
    pub s_shares: Vec<(ClientId, [u8; 32])>,
}

fn point(bytes: &[u8; 32], what: &str) -> Result<RistrettoPoint, FlError> {
    CompressedRistretto(*bytes)
        .decompress()
        .ok_or_else(|| FlError::Protocol(format!("{what} is not a ristretto255 point")))
}

fn scalar(bytes: &[u8; 32], what: &str) -> Result<Scalar, FlError> {
    Option::from(Scalar::from_canonical_bytes(*bytes))
        .ok_or_else(|| FlError::Protocol(format!("{what} is not a canonical scalar")))
}

fn kdf(secret: &[u8], label: &str, round: u64, ids: &[ClientId]) -> Zeroizing<[u8; 32]> {
    let mut info = Vec::with_capacity(label.len() + 8 + 4 * ids.len());
    info.extend_from_slice(label.as_bytes());
    info.extend_from_slice(&round.to_be_bytes());
    for id in ids {
        info.extend_from_slice(&id.to_be_bytes());
    }
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes are always a valid HKDF-SHA256 output length.
    let _ = Hkdf::<Sha256>::new(Some(b"petri secagg v1"), secret).expand(&info, out.as_mut());
    out
}

/// Adds (or subtracts) the PRG stream of `seed` to `y`.
fn apply_prg(y: &mut [u64], seed: &[u8; 32], subtract: bool) {
    let mut prg = ChaCha20Rng::from_seed(*seed);
    for v in y.iter_mut() {
        let m = prg.next_u64();
        *v = if subtract { v.wrapping_sub(m) } else { v.wrapping_add(m) };
    }
}

fn self_seed(b: &Scalar, round: u64) -> Zeroizing<[u8; 32]> {
    kdf(b.as_bytes(), "self", round, &[])
}

fn pair_seed(sk: &Scalar, pk: &RistrettoPoint, round: u64, a: ClientId, b: ClientId) -> Zeroizing<[u8; 32]> {
    let shared = Zeroizing::new((sk * pk).compress().to_bytes());
    kdf(shared.as_ref(), "pair", round, &[a.min(b), a.max(b)])
}

fn seal_key(sk: &Scalar, pk: &RistrettoPoint, round: u64, from: ClientId, to: ClientId) -> Zeroizing<[u8; 32]> {
    let shared = Zeroizing::new((sk * pk).compress().to_bytes());
    kdf(shared.as_ref(), "seal", round, &[from, to])
}

fn aad(round: u64, from: ClientId, to: ClientId) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..8].copy_from_slice(&round.to_be_bytes());
    a[8..12].copy_from_slice(&from.to_be_bytes());
    a[12..].copy_from_slice(&to.to_be_bytes());
    a
}

/// The neighbours of `me` among `ids`: everyone else, or `degree` clients around `me` on a ring
/// ordered by a hash of the round and the id (public, so every party computes the same graph).
pub fn neighbours(config: &Config, ids: &BTreeSet<ClientId>, me: ClientId) -> Vec<ClientId> {
    let others = ids.len().saturating_sub(1);
    match config.degree {
        Some(d) if d < others => {
            let mut ring: Vec<(Vec<u8>, ClientId)> = ids
                .iter()
                .map(|&id| {
                    let h = Sha256::new()
                        .chain_update(b"petri secagg ring")
                        .chain_update(config.round.to_be_bytes())
                        .chain_update(id.to_be_bytes())
                        .finalize();
                    (h.to_vec(), id)
                })
                .collect();
            ring.sort();
            let n = ring.len();
            let pos = ring.iter().position(|(_, id)| *id == me).unwrap_or(0);
            let half = d.div_ceil(2);
            let mut out = BTreeSet::new();
            for k in 1..=half {
                out.insert(ring[(pos + k) % n].1);
                if out.len() < d {
                    out.insert(ring[(pos + n - k) % n].1);
                }
            }
            out.remove(&me);
            out.into_iter().collect()
        }
        _ => ids.iter().copied().filter(|&id| id != me).collect(),
    }
}

/// Encodes `[weight, weight·x]` in fixed point, clipping each coordinate of `x` to ±clip.
pub fn encode(config: &Config, x: &[f64], weight: u32) -> Result<Vec<u64>, FlError> {
    if x.len() + 1 != config.len {
        return Err(FlError::Protocol(format!(
            "the update has {} coordinates, the round expects {}",
            x.len(),
            config.len - 1
        )));
    }
    if weight == 0 || weight > config.max_weight {
        return Err(FlError::Protocol(format!(
            "weight {weight} is outside 1..={}",
            config.max_weight
        )));
    }
    let scale = 2f64.powi(config.frac_bits as i32);
    let w = f64::from(weight);
    let mut out = Vec::with_capacity(config.len);
    out.push(((w * scale).round() as i64) as u64);
    for v in x {
        let v = if v.is_finite() {
            v.clamp(-config.clip, config.clip)
        } else {
            0.0
        };
        out.push(((w * v * scale).round() as i64) as u64);
    }
    Ok(out)
}

/// Decodes a sum of encodings into (total weight, weighted average).
pub fn decode_average(config: &Config, sum: &[u64]) -> Result<(f64, Vec<f64>), FlError> {
    let scale = 2f64.powi(config.frac_bits as i32);
    let total = (sum.first().copied().unwrap_or(0) as i64) as f64 / scale;
    if total <= 0.0 {
        return Err(FlError::Protocol("the aggregate has no weight".into()));
    }
    Ok((
        total,
        sum[1..].iter().map(|&v| (v as i64) as f64 / scale / total).collect(),
    ))
}

/// One collaborator's side of a round.
pub struct Client {
    id: ClientId,
    config: Config,
    c_sk: Scalar,
    s_sk: Scalar,
    b: Scalar,
    /// Neighbours' adverts, once known.
    peers: BTreeMap<ClientId, Advert>,
    /// Shares received: owner → (share of s_sk, share of b).
    held: BTreeMap<ClientId, (Scalar, Scalar)>,
    stage: u8,
}

impl Drop for Client {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.c_sk.zeroize();
        self.s_sk.zeroize();
        self.b.zeroize();
    }
}

impl Client {
    /// Step 1: new keys for `config`'s round.
    pub fn new<R: RngCore + ?Sized>(id: ClientId, config: Config, rng: &mut R) -> (Client, Advert) {
        let c_sk = random_scalar(rng);
        let s_sk = random_scalar(rng);
        let b = random_scalar(rng);
        let advert = Advert {
            id,
            c_pk: (&c_sk * RISTRETTO_BASEPOINT_TABLE).compress().to_bytes(),
            s_pk: (&s_sk * RISTRETTO_BASEPOINT_TABLE).compress().to_bytes(),
        };
        let client = Client {
            id,
            config,
            c_sk,
            s_sk,
            b,
            peers: BTreeMap::new(),
            held: BTreeMap::new(),
            stage: 1,
        };
        (client, advert)
    }

    /// This client's id.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// Step 2: shares of this client's secrets for its neighbours among `adverts`.
    pub fn share_keys<R: RngCore + ?Sized>(
        &mut self,
        adverts: &[Advert],
        rng: &mut R,
    ) -> Result<Vec<ShareBox>, FlError> {
        if self.stage != 1 {
            return Err(FlError::Protocol("keys were already shared this round".into()));
        }
        let mut all = BTreeMap::new();
        for a in adverts {
            if all.insert(a.id, a.clone()).is_some() {
                return Err(FlError::Protocol(format!("client {} advertised twice", a.id)));
            }
            if a.c_pk == a.s_pk {
                return Err(FlError::Protocol(format!(
                    "client {} reused one key for both roles",
                    a.id
                )));
            }
        }
        let mine = (&self.c_sk * RISTRETTO_BASEPOINT_TABLE).compress().to_bytes();
        if all.get(&self.id).map(|a| a.c_pk) != Some(mine) {
            return Err(FlError::Protocol(
                "this client's own keys are missing or altered".into(),
            ));
        }
        let ids: BTreeSet<ClientId> = all.keys().copied().collect();
        let neighbours = neighbours(&self.config, &ids, self.id);
        if neighbours.len() + 1 < self.config.threshold {
            return Err(FlError::Protocol(format!(
                "{} neighbours cannot reach the threshold {}",
                neighbours.len(),
                self.config.threshold
            )));
        }
        let mut holders: Vec<ClientId> = neighbours.clone();
        holders.push(self.id);
        let s_shares = share(&self.s_sk, self.config.threshold, &holders, rng);
        let b_shares = share(&self.b, self.config.threshold, &holders, rng);
        let mut boxes = Vec::new();
        for ((to, s), (_, b)) in s_shares.into_iter().zip(b_shares) {
            if to == self.id {
                self.held.insert(self.id, (s, b));
                continue;
            }
            let peer = &all[&to];
            let key = seal_key(
                &self.c_sk,
                &point(&peer.c_pk, "a sealing key")?,
                self.config.round,
                self.id,
                to,
            );
            let mut plain = Zeroizing::new([0u8; 64]);
            plain[..32].copy_from_slice(s.as_bytes());
            plain[32..].copy_from_slice(b.as_bytes());
            let sealed = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
                .encrypt(
                    Nonce::from_slice(&[0u8; 12]),
                    Payload {
                        msg: plain.as_ref(),
                        aad: &aad(self.config.round, self.id, to),
                    },
                )
                .map_err(|_| FlError::Protocol("cannot seal a share".into()))?;
            boxes.push(ShareBox {
                from: self.id,
                to,
                sealed,
            });
        }
        for n in neighbours {
            self.peers.insert(n, all[&n].clone());
        }
        self.stage = 2;
        Ok(boxes)
    }

    /// Step 3: opens the shares sent to this client and masks `update` with weight `weight`.
    /// Pairwise masks cover exactly the neighbours whose shares arrived.
    pub fn masked_input(&mut self, boxes: &[ShareBox], update: &[f64], weight: u32) -> Result<Masked, FlError> {
        if self.stage != 2 {
            return Err(FlError::Protocol("masked input out of order".into()));
        }
        for bx in boxes {
            if bx.to != self.id {
                return Err(FlError::Protocol(format!(
                    "a share for client {} reached client {}",
                    bx.to, self.id
                )));
            }
            let Some(peer) = self.peers.get(&bx.from) else {
                return Err(FlError::Protocol(format!("client {} is not a neighbour", bx.from)));
            };
            if self.held.contains_key(&bx.from) {
                return Err(FlError::Protocol(format!("client {} sent shares twice", bx.from)));
            }
            let key = seal_key(
                &self.c_sk,
                &point(&peer.c_pk, "a sealing key")?,
                self.config.round,
                bx.from,
                self.id,
            );
            let plain = Zeroizing::new(
                ChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
                    .decrypt(
                        Nonce::from_slice(&[0u8; 12]),
                        Payload {
                            msg: &bx.sealed,
                            aad: &aad(self.config.round, bx.from, self.id),
                        },
                    )
                    .map_err(|_| FlError::Protocol(format!("the shares from client {} do not open", bx.from)))?,
            );
            if plain.len() != 64 {
                return Err(FlError::Protocol(format!(
                    "the shares from client {} are malformed",
                    bx.from
                )));
            }
            let mut s = [0u8; 32];
            let mut b = [0u8; 32];
            s.copy_from_slice(&plain[..32]);
            b.copy_from_slice(&plain[32..]);
            self.held
                .insert(bx.from, (scalar(&s, "a share")?, scalar(&b, "a share")?));
        }
        let mut y = encode(&self.config, update, weight)?;
        apply_prg(&mut y, &self_seed(&self.b, self.config.round), false);
        for (&j, peer) in &self.peers {
            if !self.held.contains_key(&j) {
                continue;
            }
            let seed = pair_seed(
                &self.s_sk,
                &point(&peer.s_pk, "a mask key")?,
                self.config.round,
                self.id,
                j,
            );
            apply_prg(&mut y, &seed, self.id > j);
        }
        self.stage = 3;
        Ok(Masked { id: self.id, y })
    }

    /// Step 4: this client's shares for the aggregator. Refuses a request that names a client as
    /// both survivor and dropped, that leaves fewer survivors than the threshold, or that comes twice.
    pub fn unmask(&mut self, request: &UnmaskRequest) -> Result<UnmaskReply, FlError> {
        if self.stage != 3 {
            return Err(FlError::Protocol("unmask out of order, or asked twice".into()));
        }
        let survivors: BTreeSet<ClientId> = request.survivors.iter().copied().collect();
        let dropped: BTreeSet<ClientId> = request.dropped.iter().copied().collect();
        if let Some(both) = survivors.intersection(&dropped).next() {
            return Err(FlError::Protocol(format!(
                "client {both} is named both survivor and dropped: refusing to reveal both of its secrets"
            )));
        }
        if !survivors.contains(&self.id) {
            return Err(FlError::Protocol("this client is not among the survivors".into()));
        }
        if survivors.len() < self.config.threshold {
            return Err(FlError::Protocol(format!(
                "{} survivors are fewer than the threshold {}",
                survivors.len(),
                self.config.threshold
            )));
        }
        let mut reply = UnmaskReply {
            id: self.id,
            b_shares: Vec::new(),
            s_shares: Vec::new(),
        };
        for (&owner, (s, b)) in &self.held {
            if survivors.contains(&owner) {
                reply.b_shares.push((owner, b.to_bytes()));
            } else if dropped.contains(&owner) {
                reply.s_shares.push((owner, s.to_bytes()));
            }
        }
        self.stage = 4;
        Ok(reply)
    }
}

/// The aggregator's side of a round.
pub struct Server {
    config: Config,
    adverts: BTreeMap<ClientId, Advert>,
    shared: BTreeSet<ClientId>,
    masked: BTreeMap<ClientId, Vec<u64>>,
}

impl Server {
    /// A round with `config`.
    pub fn new(config: Config) -> Server {
        Server {
            config,
            adverts: BTreeMap::new(),
            shared: BTreeSet::new(),
            masked: BTreeMap::new(),
        }
    }

    /// Step 1: the adverts that arrived, checked, to send to every client.
    pub fn adverts(&mut self, adverts: Vec<Advert>) -> Result<Vec<Advert>, FlError> {
        for a in adverts {
            point(&a.c_pk, "a sealing key")?;
            point(&a.s_pk, "a mask key")?;
            if self.adverts.insert(a.id, a).is_some() {
                return Err(FlError::Protocol("a client advertised twice".into()));
            }
        }
        self.config.check(self.adverts.len())?;
        if self.adverts.len() < self.config.threshold {
            return Err(FlError::Protocol(format!(
                "{} clients are fewer than the threshold {}",
                self.adverts.len(),
                self.config.threshold
            )));
        }
        Ok(self.adverts.values().cloned().collect())
    }

    /// Step 2: routes the sealed shares to their recipients; the senders are the clients that
    /// shared keys.
    pub fn route(&mut self, boxes: Vec<ShareBox>) -> BTreeMap<ClientId, Vec<ShareBox>> {
        let mut out: BTreeMap<ClientId, Vec<ShareBox>> = BTreeMap::new();
        for bx in boxes {
            if self.adverts.contains_key(&bx.from) && self.adverts.contains_key(&bx.to) {
                self.shared.insert(bx.from);
                out.entry(bx.to).or_default().push(bx);
            }
        }
        out
    }

    /// Marks `id` as having shared keys even if it sent no box (a client without neighbours).
    pub fn note_shared(&mut self, id: ClientId) {
        if self.adverts.contains_key(&id) {
            self.shared.insert(id);
        }
    }

    /// Step 3: the masked inputs that arrived; returns who survived and who dropped.
    pub fn collect(&mut self, masked: Vec<Masked>) -> Result<UnmaskRequest, FlError> {
        for m in masked {
            if !self.shared.contains(&m.id) {
                return Err(FlError::Protocol(format!(
                    "client {} sent an input without sharing keys",
                    m.id
                )));
            }
            if m.y.len() != self.config.len {
                return Err(FlError::Protocol(format!(
                    "client {} sent {} coordinates, not {}",
                    m.id,
                    m.y.len(),
                    self.config.len
                )));
            }
            self.masked.insert(m.id, m.y);
        }
        let survivors: Vec<ClientId> = self.masked.keys().copied().collect();
        if survivors.len() < self.config.threshold {
            return Err(FlError::Protocol(format!(
                "{} masked inputs are fewer than the threshold {}",
                survivors.len(),
                self.config.threshold
            )));
        }
        let dropped = self
            .shared
            .iter()
            .copied()
            .filter(|id| !self.masked.contains_key(id))
            .collect();
        Ok(UnmaskRequest { survivors, dropped })
    }

    /// Step 4: removes the masks with the survivors' shares; returns the sum of the encodings.
    pub fn finish(&self, replies: &[UnmaskReply]) -> Result<Vec<u64>, FlError> {
        let mut b_shares: BTreeMap<ClientId, Vec<(u32, Scalar)>> = BTreeMap::new();
        let mut s_shares: BTreeMap<ClientId, Vec<(u32, Scalar)>> = BTreeMap::new();
        for r in replies {
            if !self.masked.contains_key(&r.id) {
                continue;
            }
            for (owner, share) in &r.b_shares {
                b_shares
                    .entry(*owner)
                    .or_default()
                    .push((r.id, scalar(share, "a share")?));
            }
            for (owner, share) in &r.s_shares {
                s_shares
                    .entry(*owner)
                    .or_default()
                    .push((r.id, scalar(share, "a share")?));
            }
        }
        let t = self.config.threshold;
        let mut sum = vec![0u64; self.config.len];
        for y in self.masked.values() {
            for (s, v) in sum.iter_mut().zip(y) {
                *s = s.wrapping_add(*v);
            }
        }
        let ids: BTreeSet<ClientId> = self.shared.clone();
        for &i in self.masked.keys() {
            let shares = b_shares.get(&i).map(Vec::as_slice).unwrap_or_default();
            if shares.len() < t {
                return Err(FlError::Protocol(format!(
                    "{} shares of client {i}'s self-mask arrived, {t} are needed",
                    shares.len()
                )));
            }
            let b = recover(&shares[..t]).ok_or_else(|| FlError::Protocol("repeated shares".into()))?;
            apply_prg(&mut sum, &self_seed(&b, self.config.round), true);
        }
        let all: BTreeSet<ClientId> = self.adverts.keys().copied().collect();
        for &d in ids.iter().filter(|id| !self.masked.contains_key(id)) {
            let shares = s_shares.get(&d).map(Vec::as_slice).unwrap_or_default();
            if shares.len() < t {
                return Err(FlError::Protocol(format!(
                    "{} shares of dropped client {d}'s key arrived, {t} are needed",
                    shares.len()
                )));
            }
            let s_sk = recover(&shares[..t]).ok_or_else(|| FlError::Protocol("repeated shares".into()))?;
            let expected = (&s_sk * RISTRETTO_BASEPOINT_TABLE).compress().to_bytes();
            if expected != self.adverts[&d].s_pk {
                return Err(FlError::Protocol(format!(
                    "the shares of client {d}'s key do not fit its advert"
                )));
            }
            // Survivor j added +PRG(s_jd) if j < d and −PRG(s_jd) otherwise: take it back out.
            for j in neighbours(&self.config, &all, d) {
                if !self.masked.contains_key(&j) {
                    continue;
                }
                let seed = pair_seed(
                    &s_sk,
                    &point(&self.adverts[&j].s_pk, "a mask key")?,
                    self.config.round,
                    d,
                    j,
                );
                apply_prg(&mut sum, &seed, j < d);
            }
        }
        Ok(sum)
    }
}
