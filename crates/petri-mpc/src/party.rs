//! A party of a session: its keys, its transport, and the communication patterns every protocol
//! is built from (resharing, input, reveal).

use crate::prf::{Prf, random_key};
use crate::share::{AShare, BShare};
use crate::transport::Transport;
use crate::{MpcError, PARTIES, Result, next, prev};

/// Communication counters of one party.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Communication rounds this party took part in.
    pub rounds: u64,
    /// Bytes this party sent (payload only).
    pub bytes_sent: u64,
    /// Bytes this party received (payload only).
    pub bytes_received: u64,
}

/// One of the three parties of a session.
pub struct Party<T: Transport> {
    pub(crate) id: usize,
    transport: T,
    /// k_i, shared with party i−1.
    pub(crate) own: Prf,
    /// k_{i+1}, shared with party i+1.
    pub(crate) next_key: Prf,
    nonce: u64,
    stats: Stats,
}

impl<T: Transport> std::fmt::Debug for Party<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Party")
            .field("id", &self.id)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Largest message, in words (256 KiB). A round's vectors travel in pieces of at most this
/// size: the transport moves one piece while the next is produced, and per-piece buffers are
/// small enough for the allocator to reuse instead of mapping fresh (page-faulting) memory.
pub(crate) const PIECE: usize = 1 << 15;

fn piece_error(from: usize, bytes: usize, words_left: usize) -> MpcError {
    MpcError::Protocol {
        peer: from,
        reason: format!(
            "sent a piece of {bytes} bytes where {} more bytes were expected",
            words_left * 8
        ),
    }
}

/// How many pieces a party sends ahead of the ones it has received, in a streamed round.
const LAG: usize = 4;

/// Which zero sharing [`Party::reshare_with`] adds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Zero {
    /// Σα_i = 0 (mod 2^64).
    Arith,
    /// ⊕α_i = 0.
    Bool,
}

/// Which words a party sends to each peer in one round, and how many it expects from each.
pub(crate) struct Round<'a> {
    pub(crate) send: [Option<&'a [u64]>; PARTIES],
    pub(crate) recv: [Option<usize>; PARTIES],
}

impl<'a> Round<'a> {
    pub(crate) fn new() -> Round<'a> {
        Round {
            send: [None; PARTIES],
            recv: [None; PARTIES],
        }
    }
    pub(crate) fn send(mut self, to: usize, words: &'a [u64]) -> Self {
        self.send[to] = Some(words);
        self
    }
    pub(crate) fn recv(mut self, from: usize, words: usize) -> Self {
        self.recv[from] = Some(words);
        self
    }
}

impl<T: Transport> Party<T> {
    /// Sets up party `id` (0, 1 or 2): draws k_id, sends it to party id−1 and receives k_{id+1}
    /// from party id+1 (one round). All three parties must call this at the same time.
    pub fn new(id: usize, transport: T) -> Result<Party<T>> {
        if id >= PARTIES {
            return Err(MpcError::Invalid(format!("party id must be 0, 1 or 2, not {id}")));
        }
        let mut transport = transport;
        let key = random_key();
        transport.send(prev(id), key.to_vec())?;
        let got = transport.recv(next(id))?;
        let next_key: [u8; 16] = got.as_slice().try_into().map_err(|_| MpcError::Protocol {
            peer: next(id),
            reason: format!("key of {} bytes instead of 16", got.len()),
        })?;
        Ok(Party {
            id,
            transport,
            own: Prf::new(key),
            next_key: Prf::new(next_key),
            nonce: 0,
            stats: Stats {
                rounds: 1,
                bytes_sent: 16,
                bytes_received: 16,
            },
        })
    }

    /// This party's id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Communication so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The transport (for example to inspect a recording).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// A fresh nonce; every party calls this in the same places, so nonces agree.
    pub(crate) fn nonce(&mut self) -> u64 {
        self.nonce += 1;
        self.nonce
    }

    /// Sends and receives one round. Each vector travels in pieces of [`PIECE`] words; after
    /// sending its k-th pieces a party takes in the peers' pieces up to k − [`LAG`], so a round's
    /// bytes flow through the transport a few pieces at a time. A party never waits for a piece
    /// that its sender has not been able to send: the sender sends piece j after waiting only for
    /// pieces up to j − LAG, so no round can deadlock.
    pub(crate) fn round(&mut self, round: Round<'_>) -> Result<[Vec<u64>; PARTIES]> {
        self.stats.rounds += 1;
        let mut out: [Vec<u64>; PARTIES] = Default::default();
        for (got, expect) in out.iter_mut().zip(&round.recv) {
            *got = Vec::with_capacity(expect.unwrap_or(0));
        }
        let pieces = round
            .send
            .iter()
            .flatten()
            .map(|w| w.len().div_ceil(PIECE).max(1))
            .max()
            .unwrap_or(0);
        for k in 0..pieces {
            for (to, words) in round.send.iter().enumerate() {
                match words {
                    // No words travel as one empty message.
                    Some(words) if words.is_empty() && k == 0 => self.send_piece(to, &[])?,
                    Some(words) => {
                        if let Some(piece) = words.chunks(PIECE).nth(k) {
                            self.send_piece(to, piece)?;
                        }
                    }
                    None => {}
                }
            }
            if k >= LAG {
                for (from, expect) in round.recv.iter().enumerate() {
                    if let Some(expect) = *expect {
                        self.recv_until(from, expect, (k + 1 - LAG) * PIECE, &mut out[from])?;
                    }
                }
            }
        }
        for (from, expect) in round.recv.iter().enumerate() {
            if let Some(expect) = *expect {
                self.recv_words(from, expect, &mut out[from])?;
            }
        }
        Ok(out)
    }

    fn send_piece(&mut self, to: usize, piece: &[u64]) -> Result<()> {
        let mut bytes = vec![0u8; piece.len() * 8];
        for (b, w) in bytes.chunks_exact_mut(8).zip(piece) {
            b.copy_from_slice(&w.to_le_bytes());
        }
        self.stats.bytes_sent += bytes.len() as u64;
        self.transport.send(to, bytes)
    }

    /// Receives the `expect` words of a vector from party `from` and appends them to `out`
    /// (which holds the words of it received so far). No words arrive as one empty message.
    fn recv_words(&mut self, from: usize, expect: usize, out: &mut Vec<u64>) -> Result<()> {
        if expect == 0 {
            let bytes = self.transport.recv(from)?;
            self.stats.bytes_received += bytes.len() as u64;
            if !bytes.is_empty() {
                return Err(piece_error(from, bytes.len(), 0));
            }
            return Ok(());
        }
        self.recv_until(from, expect, expect, out)
    }

    /// Receives more of a vector of `total` > 0 words from party `from`: appends to `got` (the
    /// words received so far) until it holds at least `target` words. The sender may cut the
    /// vector into non-empty pieces of whole words of any length, so a peer can never make this
    /// take more than `total` messages.
    fn recv_until(&mut self, from: usize, total: usize, target: usize, got: &mut Vec<u64>) -> Result<()> {
        while got.len() < target.min(total) {
            let bytes = self.transport.recv(from)?;
            self.stats.bytes_received += bytes.len() as u64;
            let left = total - got.len();
            if !bytes.len().is_multiple_of(8) || bytes.len() / 8 > left || bytes.is_empty() {
                return Err(piece_error(from, bytes.len(), left));
            }
            got.extend(
                bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
            );
        }
        Ok(())
    }

    /// α_i with Σα_i = 0 (mod 2^64): F(k_i) − F(k_{i+1}).
    pub(crate) fn zero_arith(&mut self, n: usize) -> Vec<u64> {
        let nonce = self.nonce();
        let mut a = self.own.words(nonce, n);
        let b = self.next_key.words(nonce, n);
        a.iter_mut().zip(&b).for_each(|(x, y)| *x = x.wrapping_sub(*y));
        a
    }

    /// α_i with ⊕α_i = 0: F(k_i) ⊕ F(k_{i+1}).
    pub(crate) fn zero_bool(&mut self, words: usize) -> Vec<u64> {
        let nonce = self.nonce();
        let mut a = self.own.words(nonce, words);
        let b = self.next_key.words(nonce, words);
        a.iter_mut().zip(&b).for_each(|(x, y)| *x ^= y);
        a
    }

    /// Words known to both holders of k_j (parties j and j−1); `None` at the third party, which
    /// still advances its nonce.
    pub(crate) fn pair_random(&mut self, j: usize, n: usize) -> Option<Vec<u64>> {
        let nonce = self.nonce();
        if self.id == j {
            Some(self.own.words(nonce, n))
        } else if next(self.id) == j {
            Some(self.next_key.words(nonce, n))
        } else {
            None
        }
    }

    /// Turns a 3-out-of-3 additive sharing z (already re-randomised) into replicated shares: party
    /// i sends z_i to party i−1 (one round, one element per party).
    pub(crate) fn reshare_raw(&mut self, z: Vec<u64>) -> Result<(Vec<u64>, Vec<u64>)> {
        let n = z.len();
        let mut got = self.round(Round::new().send(prev(self.id), &z).recv(next(self.id), n))?;
        let b = std::mem::take(&mut got[next(self.id)]);
        Ok((z, b))
    }

    /// Reshares an arithmetic 3-out-of-3 sharing (adds a zero sharing first).
    pub(crate) fn reshare_arith(&mut self, z: Vec<u64>) -> Result<AShare> {
        let (a, b) = self.reshare_with(z, Zero::Arith, |_, _| {})?;
        Ok(AShare { a, b })
    }

    /// Reshares a boolean 3-out-of-3 sharing (XORs a zero sharing first).
    pub(crate) fn reshare_bool(&mut self, z: Vec<u64>) -> Result<BShare> {
        let (a, b) = self.reshare_with(z, Zero::Bool, |_, _| {})?;
        Ok(BShare { a, b })
    }

    /// Reshares the 3-out-of-3 sharing that `produce` writes into `z` piece by piece: for each
    /// piece of at most [`PIECE`] elements it fills in z, adds this party's share of a zero
    /// sharing (α_i = F(k_i) − F(k_{i+1}), or ⊕ for bits) and sends the piece to party i−1
    /// before producing the next one, so the transport and the peers work on one piece while
    /// this party computes the next. One round, one element per party and element; the result
    /// is (z + α, what party i+1 sent).
    pub(crate) fn reshare_with(
        &mut self,
        mut z: Vec<u64>,
        zero: Zero,
        mut produce: impl FnMut(std::ops::Range<usize>, &mut [u64]),
    ) -> Result<(Vec<u64>, Vec<u64>)> {
        let n = z.len();
        let nonce = self.nonce();
        let mut own = self.own.stream(nonce);
        let mut theirs = self.next_key.stream(nonce);
        let mut fa = vec![0u64; n.min(PIECE)];
        let mut fb = vec![0u64; n.min(PIECE)];
        let (to, from) = (prev(self.id), next(self.id));
        let mut b = Vec::with_capacity(n);
        self.stats.rounds += 1;
        if n == 0 {
            self.send_piece(to, &[])?;
        }
        for (index, start) in (0..n).step_by(PIECE).enumerate() {
            let end = (start + PIECE).min(n);
            let piece = &mut z[start..end];
            produce(start..end, piece);
            let (fa, fb) = (&mut fa[..end - start], &mut fb[..end - start]);
            own.fill(fa);
            theirs.fill(fb);
            match zero {
                Zero::Arith => {
                    for ((z, x), y) in piece.iter_mut().zip(fa.iter()).zip(fb.iter()) {
                        *z = z.wrapping_add(x.wrapping_sub(*y));
                    }
                }
                Zero::Bool => {
                    for ((z, x), y) in piece.iter_mut().zip(fa.iter()).zip(fb.iter()) {
                        *z ^= x ^ y;
                    }
                }
            }
            self.send_piece(to, piece)?;
            // Take in the peer's pieces as they come, at most LAG pieces behind our own: this
            // keeps the bytes in flight (and the memory holding them) to a few pieces, which the
            // allocator then reuses, instead of a whole round's worth of fresh pages.
            if index >= LAG {
                self.recv_until(from, n, (index + 1 - LAG) * PIECE, &mut b)?;
            }
        }
        self.recv_words(from, n, &mut b)?;
        Ok((z, b))
    }

    /// Shares `n` values held in the clear by party `owner` (one round). The owner passes
    /// `Some(values)`, the others `None`.
    pub fn input(&mut self, owner: usize, values: Option<&[u64]>, n: usize) -> Result<AShare> {
        let z = self.owner_vector(owner, values, n)?;
        self.reshare_arith(z)
    }

    /// Shares `words` 64-bit words held by party `owner` as boolean shares (one round).
    pub fn input_bool(&mut self, owner: usize, values: Option<&[u64]>, words: usize) -> Result<BShare> {
        let z = self.owner_vector(owner, values, words)?;
        self.reshare_bool(z)
    }

    fn owner_vector(&self, owner: usize, values: Option<&[u64]>, n: usize) -> Result<Vec<u64>> {
        if owner >= PARTIES {
            return Err(MpcError::Invalid(format!("input owner must be 0, 1 or 2, not {owner}")));
        }
        if self.id == owner {
            let values =
                values.ok_or_else(|| MpcError::Invalid(format!("party {owner} owns the input but gave no values")))?;
            if values.len() != n {
                return Err(MpcError::Invalid(format!(
                    "input has {} values, expected {n}",
                    values.len()
                )));
            }
            Ok(values.to_vec())
        } else {
            Ok(vec![0; n])
        }
    }

    /// Shares of `n` uniformly random ring elements that no party knows: component j is F(k_j),
    /// drawn by its two holders. No communication.
    pub fn random(&mut self, n: usize) -> AShare {
        let nonce = self.nonce();
        AShare {
            a: self.own.words(nonce, n),
            b: self.next_key.words(nonce, n),
        }
    }

    /// A public vector as a (trivial) sharing: the constant sits in share 0.
    pub fn constant(&self, values: &[u64]) -> AShare {
        AShare::zeros(values.len())
            .add_public(self.id, values)
            .unwrap_or_else(|_| AShare::zeros(values.len()))
    }

    /// A trivial sharing whose component `j` is `value` (known to its two holders, parties j and
    /// j−1, who pass `Some`) and whose other components are zero.
    pub(crate) fn trivial_arith(&self, j: usize, value: Option<&[u64]>, n: usize) -> AShare {
        let mut out = AShare::zeros(n);
        if let Some(v) = value {
            if self.id == j {
                out.a.copy_from_slice(v);
            }
            if next(self.id) == j {
                out.b.copy_from_slice(v);
            }
        }
        out
    }

    pub(crate) fn trivial_bool(&self, j: usize, value: Option<&[u64]>, words: usize) -> BShare {
        let a = self.trivial_arith(j, value, words);
        BShare { a: a.a, b: a.b }
    }

    /// Component j of a sharing, at the parties that hold it.
    pub(crate) fn component<'s>(&self, j: usize, a: &'s [u64], b: &'s [u64]) -> Option<&'s [u64]> {
        if self.id == j {
            Some(a)
        } else if next(self.id) == j {
            Some(b)
        } else {
            None
        }
    }

    /// Opens x to every party (one round): party i sends x_i to party i+1.
    pub fn reveal(&mut self, x: &AShare) -> Result<Vec<u64>> {
        let got = self.round(Round::new().send(next(self.id), &x.a).recv(prev(self.id), x.len()))?;
        let missing = &got[prev(self.id)];
        Ok((0..x.len())
            .map(|k| x.a[k].wrapping_add(x.b[k]).wrapping_add(missing[k]))
            .collect())
    }

    /// Opens x to party `to` only (one round): party `to`+1 sends it the missing component
    /// x_{to+2}. Returns the values at `to`, `None` elsewhere.
    pub fn reveal_to(&mut self, x: &AShare, to: usize) -> Result<Option<Vec<u64>>> {
        if to >= PARTIES {
            return Err(MpcError::Invalid(format!("result party must be 0, 1 or 2, not {to}")));
        }
        let helper = next(to);
        let mut round = Round::new();
        if self.id == helper {
            round = round.send(to, &x.b);
        }
        if self.id == to {
            round = round.recv(helper, x.len());
        }
        let got = self.round(round)?;
        if self.id != to {
            return Ok(None);
        }
        let missing = &got[helper];
        Ok(Some(
            (0..x.len())
                .map(|k| x.a[k].wrapping_add(x.b[k]).wrapping_add(missing[k]))
                .collect(),
        ))
    }

    /// Opens boolean shares to every party (one round).
    pub fn reveal_bool(&mut self, x: &BShare) -> Result<Vec<u64>> {
        let got = self.round(Round::new().send(next(self.id), &x.a).recv(prev(self.id), x.words()))?;
        let missing = &got[prev(self.id)];
        Ok((0..x.words()).map(|k| x.a[k] ^ x.b[k] ^ missing[k]).collect())
    }

    /// Opens boolean shares to party `to` only (one round).
    pub fn reveal_bool_to(&mut self, x: &BShare, to: usize) -> Result<Option<Vec<u64>>> {
        let arith = AShare {
            a: x.a.clone(),
            b: x.b.clone(),
        };
        if to >= PARTIES {
            return Err(MpcError::Invalid(format!("result party must be 0, 1 or 2, not {to}")));
        }
        let helper = next(to);
        let mut round = Round::new();
        if self.id == helper {
            round = round.send(to, &arith.b);
        }
        if self.id == to {
            round = round.recv(helper, arith.len());
        }
        let got = self.round(round)?;
        if self.id != to {
            return Ok(None);
        }
        let missing = &got[helper];
        Ok(Some((0..x.words()).map(|k| x.a[k] ^ x.b[k] ^ missing[k]).collect()))
    }
}
