//! Identities and signatures compatible with the Colonies protocol.
//!
//! * A private key is 32 bytes, exchanged as 64 lowercase hex characters.
//! * An id (of a colony, executor, user or server) is the hex SHA3-256 of the
//!   *hex text* of the uncompressed public key (`"04" || X || Y`).
//! * A request is signed by hashing the base64 payload text with SHA3-256 and
//!   signing the digest with deterministic (RFC 6979) recoverable ECDSA. The
//!   signature is `r || s || v` (65 bytes, 130 hex characters) with `v` in {0, 1}.
//!
//! Signature recovery runs on every request the broker receives, so it uses
//! libsecp256k1 (through the `secp256k1` crate), which recovers about four
//! times faster than the pure-Rust alternatives on the machines we measured.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};
use sha3::{Digest, Sha3_256};
use zeroize::Zeroizing;

/// Errors from parsing keys or checking signatures.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// The private key is not 64 hex characters of a valid scalar.
    #[error("invalid private key: {0}")]
    InvalidPrivateKey(&'static str),
    /// The signature is not hex.
    #[error("invalid signature encoding, expected hex")]
    SignatureEncoding,
    /// The signature does not have 65 bytes.
    #[error("Invalid signature length")]
    SignatureLength,
    /// The signature's s value is in the upper half of the group order.
    #[error("Failed verify signature: Signature s value is over half the order")]
    HighS,
    /// No public key could be recovered from the signature.
    #[error("Failed verify signature: {0}")]
    Recovery(String),
}

/// Half of the secp256k1 group order, big-endian; a signature's s must not exceed it.
const HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e,
    0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// SHA3-256 of `data`.
pub fn sha3_256(data: &[u8]) -> [u8; 32] {
    Sha3_256::digest(data).into()
}

/// Lowercase hex SHA3-256 of `data`.
pub fn sha3_hex(data: &[u8]) -> String {
    hex::encode(sha3_256(data))
}

/// A fresh random 64-hex-character id, for processes, graphs, functions and
/// the other objects the server names itself (SHA3-256 of a random UUID-sized
/// value, as Colonies does).
pub fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    sha3_hex(hex::encode(bytes).as_bytes())
}

/// A fresh random 128-bit nonce as 32 lowercase hex characters (the replay
/// protection petri clients add to what they sign, see `petri_api::replay`).
pub fn random_nonce() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// A secp256k1 private key. Its bytes are wiped from memory on drop.
#[derive(Clone)]
pub struct PrivateKey {
    key: SecretKey,
}

impl PrivateKey {
    /// A new random key.
    pub fn generate() -> Self {
        loop {
            // A uniformly random 32-byte string is a valid scalar with
            // overwhelming probability; retry on the rare miss.
            let bytes = Zeroizing::new(rand::random::<[u8; 32]>());
            if let Ok(key) = SecretKey::from_byte_array(*bytes) {
                return Self { key };
            }
        }
    }

    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(CryptoError::InvalidPrivateKey("expected 64 hex characters"));
        }
        let bytes = Zeroizing::new(hex::decode(text).map_err(|_| CryptoError::InvalidPrivateKey("not hex"))?);
        let arr: [u8; 32] = bytes[..]
            .try_into()
            .map_err(|_| CryptoError::InvalidPrivateKey("expected 32 bytes"))?;
        let arr = Zeroizing::new(arr);
        let key = SecretKey::from_byte_array(*arr)
            .map_err(|_| CryptoError::InvalidPrivateKey("not a valid secp256k1 scalar"))?;
        Ok(Self { key })
    }

    /// The key as 64 lowercase hex characters. Treat the result as a secret.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.key.secret_bytes()))
    }

    /// The uncompressed public key as 130 hex characters.
    pub fn public_key_hex(&self) -> String {
        hex::encode(PublicKey::from_secret_key(SECP256K1, &self.key).serialize_uncompressed())
    }

    /// The Colonies id of this key.
    pub fn id(&self) -> String {
        id_of_public_key(&PublicKey::from_secret_key(SECP256K1, &self.key))
    }

    /// Signs `payload` (the base64 text of a request) and returns the 130-hex signature.
    pub fn sign(&self, payload: &str) -> String {
        let digest = sha3_256(payload.as_bytes());
        let msg = Message::from_digest(digest);
        let sig = SECP256K1.sign_ecdsa_recoverable(msg, &self.key);
        let (rec_id, compact) = sig.serialize_compact();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&compact);
        out[64] = i32::from(rec_id) as u8;
        hex::encode(out)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret, only the identity it belongs to.
        write!(f, "PrivateKey(id={})", self.id())
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        self.key.non_secure_erase();
    }
}

fn id_of_public_key(key: &PublicKey) -> String {
    sha3_hex(hex::encode(key.serialize_uncompressed()).as_bytes())
}

/// Recovers the id of whoever signed `payload` with `signature_hex`.
///
/// Rejects high-s signatures explicitly: libsecp256k1's recovery accepts them,
/// but Colonies signers always normalise to low s, and accepting both forms
/// would make every signature malleable.
pub fn recover_id(payload: &str, signature_hex: &str) -> Result<String, CryptoError> {
    let raw = hex::decode(signature_hex).map_err(|_| CryptoError::SignatureEncoding)?;
    if raw.len() != 65 {
        return Err(CryptoError::SignatureLength);
    }
    if raw[32..64] > HALF_ORDER[..] {
        return Err(CryptoError::HighS);
    }
    let rec_id =
        RecoveryId::try_from(i32::from(raw[64])).map_err(|_| CryptoError::Recovery("invalid recovery id".into()))?;
    let sig =
        RecoverableSignature::from_compact(&raw[..64], rec_id).map_err(|e| CryptoError::Recovery(e.to_string()))?;
    let msg = Message::from_digest(sha3_256(payload.as_bytes()));
    let key = SECP256K1
        .recover_ecdsa(msg, &sig)
        .map_err(|e| CryptoError::Recovery(e.to_string()))?;
    Ok(id_of_public_key(&key))
}

#[cfg(test)]
mod tests;
