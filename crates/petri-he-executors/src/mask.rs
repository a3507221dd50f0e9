//! Pairwise zero-sum masks, so that the analyst's key decrypts only the total of a secure sum.
//!
//! Without masks, every hospital's ciphertext is under the analyst's key, and whoever holds that
//! key and can read one hospital's output learns that hospital's value (a one-patient hospital
//! discloses its patient). With masks, the contributors `c_1 < … < c_k` (by name) of a session
//! agree pairwise on secrets: contributor `i` adds, for every other contributor `j`,
//! `+PRG(s_ij)` if `i < j` and `−PRG(s_ij)` otherwise, all modulo n, to its encoding before
//! encrypting. The masks cancel in the sum and only there: any sum over fewer than all `k`
//! contributors is uniformly random modulo n to anyone without those secrets.
//!
//! `s_ij` is the X25519 agreement of `i`'s key with `j`'s pinned public key (from the data owner's
//! policy), expanded with HKDF-SHA256 over the session id, the whole contributor list and the
//! label (`sum`, `count`), then ChaCha20 into 128 bits more than n has, reduced modulo n (bias
//! below 2^-128). A different session or contributor list gives independent masks.
//!
//! Every contributor encodes at the session's exponent (`kwargs["exponent"]`, default 0), so the
//! aggregator adds the encodings without rescaling them (rescaling would scale the masks too).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use num_bigint::BigUint;
use petri_paillier::{EncodedNumber, EncryptedNumber, Number, PublicKey};
use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::Sha256;
use x25519_dalek::{PublicKey as XPublic, StaticSecret};
use zeroize::Zeroizing;

use crate::HeError;

const SALT: &[u8] = b"petri secure-sum mask v1";

/// A data owner's key for agreeing on masks with the other data owners.
pub struct MaskKey(StaticSecret);

impl std::fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MaskKey(public {})", self.public_base64())
    }
}

impl MaskKey {
    /// A new random key.
    pub fn generate() -> MaskKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        MaskKey(StaticSecret::from(*bytes))
    }

    /// Reads a key file (base64 of 32 bytes).
    pub fn load(path: &Path) -> Result<MaskKey, HeError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| HeError::Request(format!("cannot read the mask key {}: {e}", path.display())))?,
        );
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| HeError::Request(format!("{} is not a base64 mask key", path.display())))?,
        );
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| HeError::Request(format!("{} does not hold 32 bytes", path.display())))?;
        Ok(MaskKey(StaticSecret::from(array)))
    }

    /// Writes the key to a new file readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), HeError> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .map_err(|e| HeError::Request(format!("cannot create {}: {e}", path.display())))?;
        let text = Zeroizing::new(STANDARD.encode(self.0.to_bytes()));
        file.write_all(format!("{}\n", text.as_str()).as_bytes())
            .map_err(|e| HeError::Request(format!("cannot write {}: {e}", path.display())))
    }

    /// The public key other data owners pin, in base64.
    pub fn public_base64(&self) -> String {
        STANDARD.encode(XPublic::from(&self.0).as_bytes())
    }
}

/// Parses a pinned public key.
pub fn parse_public(text: &str) -> Result<[u8; 32], HeError> {
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| HeError::Request(format!("{text:?} is not a base64 X25519 public key")))
}

/// One secure-sum session as one contributor sees it.
pub struct Session<'a> {
    /// The session id, the same at every contributor.
    pub id: &'a str,
    /// This contributor's name.
    pub me: &'a str,
    /// All contributors, sorted and without repeats (`me` among them).
    pub contributors: &'a [String],
}

/// Sorts and checks a contributor list: no repeats, `me` in it.
pub fn contributors(list: &[String], me: &str) -> Result<Vec<String>, HeError> {
    let mut sorted = list.to_vec();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != list.len() {
        return Err(HeError::Request("the contributors list names someone twice".into()));
    }
    if sorted.iter().any(String::is_empty) {
        return Err(HeError::Request("the contributors list has an empty name".into()));
    }
    if !sorted.iter().any(|c| c == me) {
        return Err(HeError::Request(format!(
            "this data owner ({me}) is not among the contributors {list:?}"
        )));
    }
    Ok(sorted)
}

/// This contributor's mask for `label` modulo `n`. `peer_key` gives a contributor's pinned public
/// key; a contributor without one is refused.
pub fn mask(
    key: &MaskKey,
    peer_key: impl Fn(&str) -> Option<[u8; 32]>,
    session: &Session<'_>,
    label: &str,
    n: &BigUint,
) -> Result<BigUint, HeError> {
    let mut info = Vec::new();
    for part in [session.id, label] {
        info.extend_from_slice(&(part.len() as u64).to_be_bytes());
        info.extend_from_slice(part.as_bytes());
    }
    for c in session.contributors {
        info.extend_from_slice(&(c.len() as u64).to_be_bytes());
        info.extend_from_slice(c.as_bytes());
    }
    let mut plus = BigUint::default();
    let mut minus = BigUint::default();
    for other in session.contributors.iter().filter(|c| c.as_str() != session.me) {
        let public = peer_key(other).ok_or_else(|| {
            HeError::Request(format!(
                "contributor {other:?} has no pinned mask key in this data owner's policy"
            ))
        })?;
        let shared = key.0.diffie_hellman(&XPublic::from(public));
        if !shared.was_contributory() {
            return Err(HeError::Request(format!(
                "the mask key pinned for {other:?} is degenerate"
            )));
        }
        let term = expand(shared.as_bytes(), &info, n)?;
        if session.me < other.as_str() {
            plus += term;
        } else {
            minus += term;
        }
    }
    Ok((plus + n - (minus % n)) % n)
}

fn expand(secret: &[u8; 32], info: &[u8], n: &BigUint) -> Result<BigUint, HeError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(SALT), secret)
        .expand(info, seed.as_mut())
        .map_err(|e| HeError::Request(format!("mask derivation failed: {e}")))?;
    let mut prg = ChaCha20Rng::from_seed(*seed);
    let mut bytes = Zeroizing::new(vec![0u8; (n.bits() as usize).div_ceil(8) + 16]);
    prg.fill_bytes(bytes.as_mut_slice());
    Ok(BigUint::from_bytes_be(&bytes) % n)
}

/// Encodes `value` at exactly `exponent`.
pub fn encode_at(pk: &PublicKey, value: &Number, exponent: i64) -> Result<EncodedNumber, HeError> {
    let exp = i32::try_from(exponent).map_err(|_| HeError::Request(format!("exponent {exponent} is out of range")))?;
    // Any precision in [16^e, 16^(e+1)) gives exponent e; the middle keeps clear of rounding.
    let encoded = EncodedNumber::encode(pk, value, Some(1.5 * 16f64.powi(exp)), None)?;
    if encoded.exponent() != exponent {
        return Err(HeError::Request(format!("cannot encode at exponent {exponent}")));
    }
    Ok(encoded)
}

/// Encrypts `value` at `exponent` with `mask` added to its encoding.
pub fn encrypt_masked<R: CryptoRng + RngCore + ?Sized>(
    pk: &PublicKey,
    value: &Number,
    exponent: i64,
    mask: &BigUint,
    rng: &mut R,
) -> Result<EncryptedNumber, HeError> {
    let encoded = encode_at(pk, value, exponent)?;
    let masked = EncodedNumber::from_raw((encoded.encoding() + mask) % pk.n(), exponent);
    Ok(pk.encrypt_encoded(&masked, rng))
}
