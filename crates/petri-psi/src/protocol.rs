//! One PSI session between two parties over a [`Channel`].
//!
//! Each party has a fresh secret scalar (`a` for this party, `b` for the peer) and a secret random
//! permutation π of its distinct keys.
//!
//! 1. Both send a hello (session, mode, reveal, role, set size; in intersection-sum, the
//!    sender's Paillier public key) and check the peer's matches.
//! 2. Both stream their masked set `a·H(x_π(i))` in chunks; in intersection-sum the sender (the
//!    payload owner) also streams `Enc(t_π(i))` under its own Paillier key, in the same order.
//! 3. Each party re-masks the peer's points: `a·(b·H(y)) = ab·H(y)`, truncated to 16 bytes. If the
//!    peer is to learn, it returns them: in the order received when the peer learns the
//!    intersection (the peer undoes its own π), shuffled when the peer learns only a count or a sum.
//! 4. A party that learns compares its own returned tags with the ones it computed from the peer's
//!    points. In intersection-sum the receiver sums the ciphertexts of the matched peer points,
//!    adds an encryption of zero (re-randomising) and returns it with the count; the sender decrypts.
//!
//! Errors after the hello are sent to the peer as an abort frame, so both sides stop with a reason.
//!
//! This is the ECDH protocol ([`Protocol::Ecdh`], the default). With [`Protocol::Kkrt`] or
//! [`Protocol::Rr22`] the same hello opens a [`crate::kkrt`] or [`crate::rr22`] session instead;
//! the hello names the protocol, so parties that chose different ones stop with a mismatch.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use num_bigint::BigUint;
use petri_paillier::hazmat;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::PsiError;
use crate::ecdh::{self, POINT_BYTES, Secret, TAG_BYTES};
use crate::input::Input;
use crate::transport::Channel;

pub(crate) const HELLO: u8 = 1;
const POINTS: u8 = 2;
const CIPHERTEXTS: u8 = 3;
const RETURN: u8 = 4;
const SUM: u8 = 5;
pub(crate) const ABORT: u8 = 9;

/// Protocol version in the hello.
pub const VERSION: u32 = 1;

/// The largest set a party accepts from its peer.
pub const MAX_SET: usize = 1 << 28;

/// What the session computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The intersection: the learning party gets its matching rows.
    Intersection,
    /// Only the size of the intersection.
    Cardinality,
    /// The sender's payloads summed over the intersection (and its size): the receiver learns
    /// the size, the sender (the payload owner) the sum and the size.
    Sum,
}

impl std::str::FromStr for Mode {
    type Err = PsiError;
    fn from_str(s: &str) -> Result<Mode, PsiError> {
        match s {
            "intersection" => Ok(Mode::Intersection),
            "cardinality" => Ok(Mode::Cardinality),
            "sum" => Ok(Mode::Sum),
            other => Err(PsiError::Request(format!(
                "unknown mode {other:?}: use intersection, cardinality or sum"
            ))),
        }
    }
}

impl Mode {
    /// The mode's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Intersection => "intersection",
            Mode::Cardinality => "cardinality",
            Mode::Sum => "sum",
        }
    }
}

/// The party's side. Independent of who dials: the receiver learns (intersection, cardinality);
/// in intersection-sum the sender holds the payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Learns only sizes (and, in intersection-sum, the sum); holds the payloads in `sum`.
    Sender,
    /// Learns the intersection or its size.
    Receiver,
}

impl std::str::FromStr for Role {
    type Err = PsiError;
    fn from_str(s: &str) -> Result<Role, PsiError> {
        match s {
            "sender" => Ok(Role::Sender),
            "receiver" => Ok(Role::Receiver),
            other => Err(PsiError::Request(format!(
                "unknown role {other:?}: use sender or receiver"
            ))),
        }
    }
}

/// Who learns the result of an intersection or cardinality session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reveal {
    /// The receiver only.
    Receiver,
    /// Both parties.
    Both,
}

impl std::str::FromStr for Reveal {
    type Err = PsiError;
    fn from_str(s: &str) -> Result<Reveal, PsiError> {
        match s {
            "receiver" => Ok(Reveal::Receiver),
            "both" => Ok(Reveal::Both),
            other => Err(PsiError::Request(format!(
                "unknown reveal {other:?}: use receiver or both"
            ))),
        }
    }
}

/// Which PSI protocol a session runs; both parties must choose the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// ECDH on ristretto255 ([`crate::ecdh`]): every mode, about 80 bytes per element.
    #[default]
    Ecdh,
    /// KKRT16 OT-extension PSI ([`crate::kkrt`]): intersection and cardinality, much less CPU,
    /// about 110 bytes per element.
    Kkrt,
    /// RR22 VOLE + OKVS PSI ([`crate::rr22`]): intersection and cardinality, a little more CPU
    /// than KKRT, about 30 bytes per element.
    Rr22,
}

impl std::str::FromStr for Protocol {
    type Err = PsiError;
    fn from_str(s: &str) -> Result<Protocol, PsiError> {
        match s {
            "ecdh" => Ok(Protocol::Ecdh),
            "kkrt" => Ok(Protocol::Kkrt),
            "rr22" => Ok(Protocol::Rr22),
            other => Err(PsiError::Request(format!(
                "unknown protocol {other:?}: use ecdh, kkrt or rr22"
            ))),
        }
    }
}

impl Protocol {
    /// The protocol's short name (`ecdh`, `kkrt`, `rr22`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Ecdh => "ecdh",
            Protocol::Kkrt => "kkrt",
            Protocol::Rr22 => "rr22",
        }
    }

    /// The name in the hello.
    fn wire(self) -> &'static str {
        match self {
            Protocol::Ecdh => PROTOCOL,
            Protocol::Kkrt => crate::kkrt::PROTOCOL,
            Protocol::Rr22 => crate::rr22::PROTOCOL,
        }
    }
}

/// A session's parameters (both parties must agree on all but the role).
#[derive(Debug, Clone)]
pub struct Params {
    /// The protocol.
    pub protocol: Protocol,
    /// The session id: both parties' hashes depend on it.
    pub session: String,
    /// What is computed.
    pub mode: Mode,
    /// This party's role.
    pub role: Role,
    /// Who learns (intersection and cardinality; ignored in sum).
    pub reveal: Reveal,
    /// Points per frame.
    pub chunk: usize,
    /// Paillier key size of the payload owner in intersection-sum, and the smallest accepted.
    pub paillier_bits: usize,
}

impl Params {
    /// Parameters with the defaults: 16 384 points a frame, 2048-bit Paillier keys.
    pub fn new(session: &str, mode: Mode, role: Role, reveal: Reveal) -> Params {
        Params {
            protocol: Protocol::Ecdh,
            session: session.to_string(),
            mode,
            role,
            reveal,
            chunk: 16 * 1024,
            paillier_bits: 2048,
        }
    }
}

/// What a party learned, and what the session cost.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// This party's distinct keys.
    pub own: usize,
    /// The peer's distinct keys.
    pub peer: usize,
    /// The indices (into [`Input::keys`]) of this party's keys in the intersection, if it learns it.
    #[serde(skip)]
    pub matched: Option<Vec<usize>>,
    /// The intersection's size, if this party learns it.
    pub cardinality: Option<usize>,
    /// The sum of the payloads over the intersection (intersection-sum, the sender).
    pub sum: Option<String>,
    /// Bytes this party sent.
    pub bytes_sent: u64,
    /// Bytes this party received.
    pub bytes_received: u64,
    /// Wall seconds of the session (from the hello to the end).
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Hello {
    version: u32,
    protocol: String,
    session: String,
    mode: Mode,
    reveal: Reveal,
    role: Role,
    pub(crate) size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    paillier_n: Option<String>,
}

const PROTOCOL: &str = "ecdh-psi/ristretto255";

/// What this party does, from the mode, role and reveal.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// We return the peer's re-masked set.
    return_to_peer: bool,
    /// ... shuffled (the peer learns a count or a sum, not which of its keys matched).
    shuffle_return: bool,
    /// We receive our own set re-masked, and compare.
    compare: bool,
}

fn plan(mode: Mode, role: Role, reveal: Reveal) -> Plan {
    let receiver_learns = true;
    let sender_learns = reveal == Reveal::Both;
    match mode {
        Mode::Intersection | Mode::Cardinality => {
            let (me, peer) = match role {
                Role::Receiver => (receiver_learns, sender_learns),
                Role::Sender => (sender_learns, receiver_learns),
            };
            Plan {
                return_to_peer: peer,
                shuffle_return: mode == Mode::Cardinality,
                compare: me,
            }
        }
        // The receiver compares (and learns the count); the sender returns shuffled and learns
        // the sum the receiver sends back under the sender's key.
        Mode::Sum => Plan {
            return_to_peer: role == Role::Sender,
            shuffle_return: true,
            compare: role == Role::Receiver,
        },
    }
}

/// Runs one session over `channel`. On error after the hello the peer is told why.
pub async fn run(params: &Params, input: &Input, channel: &mut Channel) -> Result<Outcome, PsiError> {
    let result = match params.protocol {
        Protocol::Ecdh => session(params, input, channel).await,
        Protocol::Kkrt => crate::kkrt::session(params, input, channel).await,
        Protocol::Rr22 => crate::rr22::session(params, input, channel).await,
    };
    if let Err(e) = &result
        && !matches!(e, PsiError::Aborted(_))
    {
        let _ = channel.send(ABORT, e.to_string().as_bytes());
    }
    result
}

async fn session(params: &Params, input: &Input, channel: &mut Channel) -> Result<Outcome, PsiError> {
    let start = Instant::now();
    let plan = plan(params.mode, params.role, params.reveal);
    if params.chunk == 0 || params.chunk * POINT_BYTES > crate::transport::MAX_FRAME / 2 {
        return Err(PsiError::Request(format!(
            "a chunk of {} points is out of range",
            params.chunk
        )));
    }
    let payloads = match (params.mode, params.role) {
        (Mode::Sum, Role::Sender) => Some(
            input
                .payloads
                .clone()
                .ok_or_else(|| PsiError::Request("the sender of an intersection-sum needs a payload column".into()))?,
        ),
        _ => None,
    };
    // The payload owner's Paillier key, fresh for the session.
    let keypair = if payloads.is_some() {
        let bits = params.paillier_bits;
        Some(
            tokio::task::spawn_blocking(move || hazmat::generate_keypair_any_size(&mut rand::rng(), bits))
                .await
                .map_err(|e| PsiError::Protocol(e.to_string()))??,
        )
    } else {
        None
    };
    let paillier_n = keypair.as_ref().map(|k| k.public.n().to_str_radix(16));
    let peer = hello(params, channel, input.keys.len(), paillier_n).await?;
    let peer_pk = match (&peer.paillier_n, params.mode, params.role) {
        (Some(n), Mode::Sum, Role::Receiver) => {
            let n = BigUint::parse_bytes(n.as_bytes(), 16)
                .ok_or_else(|| PsiError::Protocol("the peer's Paillier key is not hexadecimal".into()))?;
            if (n.bits() as usize) < params.paillier_bits {
                return Err(PsiError::Protocol(format!(
                    "the peer's Paillier key has {} bits; at least {} are required",
                    n.bits(),
                    params.paillier_bits
                )));
            }
            Some(hazmat::public_key_any_size(n)?)
        }
        (None, Mode::Sum, Role::Receiver) => {
            return Err(PsiError::Protocol("the payload owner sent no Paillier key".into()));
        }
        _ => None,
    };
    let ct_width = |pk: &petri_paillier::PublicKey| pk.nsquare().bits().div_ceil(8) as usize;

    let secret = std::sync::Arc::new(Secret::random());
    let session_id: std::sync::Arc<[u8]> = params.session.as_bytes().into();
    let mut perm: Vec<usize> = (0..input.keys.len()).collect();
    perm.shuffle(&mut rand::rng());
    let perm = std::sync::Arc::new(perm);

    // Step 2: stream our masked set (and payload ciphertexts) while receiving.
    let sender = channel.sender()?;
    let produce = {
        let (secret, session_id, perm, sender) = (secret.clone(), session_id.clone(), perm.clone(), sender.clone());
        let keys: std::sync::Arc<[String]> = input.keys.clone().into();
        let payloads = payloads.map(std::sync::Arc::new);
        let pk = keypair.as_ref().map(|k| k.public.clone());
        let chunk = params.chunk;
        async move {
            for start in (0..perm.len()).step_by(chunk) {
                let end = (start + chunk).min(perm.len());
                let (secret, session_id, perm2, keys) =
                    (secret.clone(), session_id.clone(), perm.clone(), keys.clone());
                let masked = tokio::task::spawn_blocking(move || {
                    let chunk_keys: Vec<&[u8]> = perm2[start..end].iter().map(|&i| keys[i].as_bytes()).collect();
                    ecdh::mask_keys(&secret, &session_id, &chunk_keys).concat()
                })
                .await
                .map_err(|e| PsiError::Protocol(e.to_string()))?;
                sender.send(POINTS, &masked)?;
                if let (Some(payloads), Some(pk)) = (&payloads, &pk) {
                    let (payloads, pk, perm2) = (payloads.clone(), pk.clone(), perm.clone());
                    let cts = tokio::task::spawn_blocking(move || encrypt_chunk(&pk, &payloads, &perm2[start..end]))
                        .await
                        .map_err(|e| PsiError::Protocol(e.to_string()))??;
                    sender.send(CIPHERTEXTS, &cts)?;
                }
            }
            Ok::<(), PsiError>(())
        }
    };
    let own_n = input.keys.len();
    let peer_n = peer.size;
    let expect_cts = peer_pk.is_some();
    let expect_sum = params.mode == Mode::Sum && params.role == Role::Sender;
    let consume = async {
        // The peer's announced size is not trusted for allocation: grow as points arrive.
        let mut peer_tags: Vec<u8> = Vec::with_capacity(peer_n.min(1 << 20) * TAG_BYTES);
        let mut peer_cts: Vec<u8> = Vec::new();
        let mut own_tags: Vec<u8> = Vec::with_capacity(if plan.compare { own_n * TAG_BYTES } else { 0 });
        let mut sum: Option<Vec<u8>> = None;
        let mut returned = false;
        loop {
            let points_done = peer_tags.len() == peer_n * TAG_BYTES;
            if points_done && plan.return_to_peer && plan.shuffle_return && !returned {
                returned = true;
                let tags = shuffled(&peer_tags);
                for c in tags.chunks(params.chunk * TAG_BYTES) {
                    sender.send(RETURN, c)?;
                }
            }
            let cts_done = !expect_cts || peer_cts.len() == peer_n * peer_pk.as_ref().map_or(0, ct_width);
            let own_done = !plan.compare || own_tags.len() == own_n * TAG_BYTES;
            if points_done && cts_done && own_done && (!expect_sum || sum.is_some()) {
                break;
            }
            let (tag, payload) = channel.recv().await?;
            match tag {
                POINTS if !points_done => {
                    if peer_tags.len() + payload.len() / POINT_BYTES * TAG_BYTES > peer_n * TAG_BYTES {
                        return Err(PsiError::Protocol("the peer sent more points than it announced".into()));
                    }
                    let s = secret.clone();
                    let tags = tokio::task::spawn_blocking(move || ecdh::remask(&s, &payload, TAG_BYTES))
                        .await
                        .map_err(|e| PsiError::Protocol(e.to_string()))??;
                    if plan.return_to_peer && !plan.shuffle_return {
                        sender.send(RETURN, &tags)?;
                    }
                    peer_tags.extend_from_slice(&tags);
                }
                CIPHERTEXTS if expect_cts => {
                    let w = peer_pk.as_ref().map_or(1, ct_width);
                    if !payload.len().is_multiple_of(w) || peer_cts.len() + payload.len() > peer_n * w {
                        return Err(PsiError::Protocol(
                            "the peer sent malformed or too many ciphertexts".into(),
                        ));
                    }
                    peer_cts.extend_from_slice(&payload);
                }
                RETURN if plan.compare => {
                    if !payload.len().is_multiple_of(TAG_BYTES) || own_tags.len() + payload.len() > own_n * TAG_BYTES {
                        return Err(PsiError::Protocol(
                            "the peer returned malformed or too many tags".into(),
                        ));
                    }
                    own_tags.extend_from_slice(&payload);
                }
                SUM if expect_sum && sum.is_none() => sum = Some(payload),
                ABORT => {
                    return Err(PsiError::Aborted(String::from_utf8_lossy(&payload).into_owned()));
                }
                other => return Err(PsiError::Protocol(format!("unexpected frame {other} from the peer"))),
            }
        }
        Ok::<_, PsiError>((peer_tags, peer_cts, own_tags, sum))
    };
    let (produced, consumed) = tokio::join!(produce, consume);
    produced?;
    let (peer_tags, peer_cts, own_tags, sum_frame) = consumed?;

    let mut outcome = Outcome {
        own: own_n,
        peer: peer_n,
        ..Outcome::default()
    };
    match params.mode {
        Mode::Intersection | Mode::Cardinality if plan.compare => {
            let theirs: HashSet<&[u8]> = peer_tags.chunks_exact(TAG_BYTES).collect();
            let mut matched: Vec<usize> = own_tags
                .chunks_exact(TAG_BYTES)
                .enumerate()
                .filter(|(_, t)| theirs.contains(t))
                .map(|(i, _)| perm[i])
                .collect();
            outcome.cardinality = Some(matched.len());
            if params.mode == Mode::Intersection {
                matched.sort_unstable();
                outcome.matched = Some(matched);
            }
        }
        Mode::Sum if params.role == Role::Receiver => {
            let pk = peer_pk.ok_or_else(|| PsiError::Protocol("no Paillier key".into()))?;
            let w = ct_width(&pk);
            let ours: HashSet<&[u8]> = own_tags.chunks_exact(TAG_BYTES).collect();
            let matched: Vec<&[u8]> = peer_tags
                .chunks_exact(TAG_BYTES)
                .zip(peer_cts.chunks_exact(w))
                .filter(|(t, _)| ours.contains(t))
                .map(|(_, c)| c)
                .collect();
            let count = matched.len();
            let total = sum_ciphertexts(&pk, &matched)?;
            let mut frame = (count as u64).to_be_bytes().to_vec();
            frame.extend_from_slice(&to_width(&total, w));
            sender.send(SUM, &frame)?;
            outcome.cardinality = Some(count);
        }
        Mode::Sum => {
            let keypair = keypair.ok_or_else(|| PsiError::Protocol("no Paillier key".into()))?;
            let frame = sum_frame.ok_or_else(|| PsiError::Protocol("no sum from the peer".into()))?;
            if frame.len() < 9 {
                return Err(PsiError::Protocol("the sum frame is too short".into()));
            }
            let count = u64::from_be_bytes(frame[..8].try_into().map_err(|_| PsiError::Protocol("count".into()))?);
            let c = BigUint::from_bytes_be(&frame[8..]);
            let total = hazmat::raw_decrypt(&keypair.private, &c)?;
            outcome.cardinality = Some(count as usize);
            outcome.sum = Some(total.to_string());
        }
        _ => {}
    }
    drop(sender);
    outcome.bytes_received = channel.bytes_received();
    outcome.bytes_sent = channel.bytes_sent();
    outcome.seconds = start.elapsed().as_secs_f64();
    Ok(outcome)
}

/// Sends our hello (with our set size) and checks the peer's against our parameters.
pub(crate) async fn hello(
    params: &Params,
    channel: &mut Channel,
    size: usize,
    paillier_n: Option<String>,
) -> Result<Hello, PsiError> {
    let hello = Hello {
        version: VERSION,
        protocol: params.protocol.wire().into(),
        session: params.session.clone(),
        mode: params.mode,
        reveal: params.reveal,
        role: params.role,
        size,
        paillier_n,
    };
    let text = serde_json::to_vec(&hello).map_err(|e| PsiError::Protocol(e.to_string()))?;
    channel.send(HELLO, &text)?;
    expect_hello(params, channel).await
}

async fn expect_hello(params: &Params, channel: &mut Channel) -> Result<Hello, PsiError> {
    let (tag, payload) = channel.recv().await?;
    if tag == ABORT {
        return Err(PsiError::Aborted(String::from_utf8_lossy(&payload).into_owned()));
    }
    if tag != HELLO {
        return Err(PsiError::Protocol(format!("expected a hello, got frame {tag}")));
    }
    let peer: Hello = serde_json::from_slice(&payload)
        .map_err(|e| PsiError::Protocol(format!("the peer's hello is not valid: {e}")))?;
    let mismatch = |what: &str, ours: String, theirs: String| {
        Err(PsiError::Mismatch(format!(
            "{what}: ours is {ours}, the peer's is {theirs}"
        )))
    };
    let ours = params.protocol.wire();
    if peer.version != VERSION || peer.protocol != ours {
        return mismatch(
            "protocol",
            format!("{ours} v{VERSION}"),
            format!("{} v{}", peer.protocol, peer.version),
        );
    }
    if peer.session != params.session {
        return mismatch(
            "session",
            format!("{:?}", params.session),
            format!("{:?}", peer.session),
        );
    }
    if peer.mode != params.mode {
        return mismatch("mode", params.mode.as_str().into(), peer.mode.as_str().into());
    }
    if peer.reveal != params.reveal && params.mode != Mode::Sum {
        return mismatch("reveal", format!("{:?}", params.reveal), format!("{:?}", peer.reveal));
    }
    if peer.role == params.role {
        return mismatch(
            "role (they must differ)",
            format!("{:?}", params.role),
            format!("{:?}", peer.role),
        );
    }
    if peer.size == 0 || peer.size > MAX_SET {
        return Err(PsiError::Protocol(format!(
            "the peer announced {} keys (1 to {MAX_SET} are accepted)",
            peer.size
        )));
    }
    Ok(peer)
}

fn shuffled(tags: &[u8]) -> Vec<u8> {
    let mut order: Vec<usize> = (0..tags.len() / TAG_BYTES).collect();
    order.shuffle(&mut rand::rng());
    let mut out = Vec::with_capacity(tags.len());
    for i in order {
        out.extend_from_slice(&tags[i * TAG_BYTES..(i + 1) * TAG_BYTES]);
    }
    out
}

fn to_width(n: &BigUint, width: usize) -> Vec<u8> {
    let bytes = n.to_bytes_be();
    let mut out = vec![0u8; width.saturating_sub(bytes.len())];
    out.extend_from_slice(&bytes);
    out
}

fn encrypt_chunk(pk: &petri_paillier::PublicKey, payloads: &[u64], order: &[usize]) -> Result<Vec<u8>, PsiError> {
    let w = pk.nsquare().bits().div_ceil(8) as usize;
    let cts: Vec<Vec<u8>> = order
        .par_iter()
        .map(|&i| {
            let c = hazmat::raw_encrypt(pk, &BigUint::from(payloads[i]), None, &mut rand::rng())?;
            Ok(to_width(&c, w))
        })
        .collect::<Result<_, PsiError>>()?;
    Ok(cts.concat())
}

/// The sum of the matched ciphertexts, plus a fresh encryption of zero so the result is
/// unlinkable to the inputs.
fn sum_ciphertexts(pk: &petri_paillier::PublicKey, cts: &[&[u8]]) -> Result<BigUint, PsiError> {
    let mut total = hazmat::raw_encrypt(pk, &BigUint::from(0u8), None, &mut rand::rng())?;
    for c in cts {
        total = hazmat::raw_add(pk, &total, &BigUint::from_bytes_be(c))?;
    }
    Ok(total)
}

/// How long to wait for the peer by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests;
