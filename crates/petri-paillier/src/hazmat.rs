//! Raw Paillier primitives.
//!
//! # ⚠️ Hazardous materials
//!
//! These functions work on bare numbers: no encoding, no exponent bookkeeping, no range checks
//! beyond what keeps them from panicking, and no re-randomisation. A ciphertext made with
//! `r = 1` reveals its plaintext to anyone with the public key. Use [`crate::PublicKey::encrypt`],
//! [`crate::EncryptedNumber`] and [`crate::PrivateKey::decrypt`] unless you are reproducing a
//! protocol step by step, writing tests, or interoperating at the level of raw values.

use num_bigint::BigUint;
use rand::{CryptoRng, RngCore};

use crate::arith::{from_limbs, to_limbs};
use crate::keys::{check_ciphertext, generate_any_size};
use crate::{Error, Keypair, PrivateKey, PublicKey, Result};

/// phe's `raw_encrypt(plaintext, r_value)`: (1 + n·m)·r^n mod n² for m < n. With `r = None`
/// a uniformly random r in [1, n) is drawn from `rng`.
pub fn raw_encrypt<R: CryptoRng + RngCore + ?Sized>(
    pk: &PublicKey,
    plaintext: &BigUint,
    r: Option<&BigUint>,
    rng: &mut R,
) -> Result<BigUint> {
    if plaintext >= pk.n() {
        return Err(Error::InvalidNumber("plaintext must be below n".into()));
    }
    let n2 = &pk.inner().n2;
    let nude = pk.nude_mont(plaintext);
    let obfuscator = match r {
        Some(r) if r >= pk.n() => return Err(Error::InvalidNumber("r must be below n".into())),
        Some(r) => pk.obfuscator_mont(&to_limbs(r, n2.len())),
        None => pk.random_obfuscator(rng),
    };
    Ok(from_limbs(&n2.leave_mont(&n2.mul(&nude, &obfuscator))))
}

/// r^n mod n² for r < n (the factor that re-randomises a ciphertext).
pub fn obfuscator(pk: &PublicKey, r: &BigUint) -> Result<BigUint> {
    if r >= pk.n() {
        return Err(Error::InvalidNumber("r must be below n".into()));
    }
    let n2 = &pk.inner().n2;
    Ok(from_limbs(&n2.leave_mont(&pk.obfuscator_mont(&to_limbs(r, n2.len())))))
}

/// phe's `raw_decrypt`: the plaintext m < n inside a ciphertext (checked to be in Z*_{n²}).
pub fn raw_decrypt(sk: &PrivateKey, c: &BigUint) -> Result<BigUint> {
    check_ciphertext(sk.public_key(), c)?;
    Ok(sk.raw_decrypt(c))
}

/// phe's `_raw_add`: c1·c2 mod n².
pub fn raw_add(pk: &PublicKey, c1: &BigUint, c2: &BigUint) -> Result<BigUint> {
    let a = pk.ciphertext_from(c1, 0)?;
    let b = pk.ciphertext_from(c2, 0)?;
    Ok(a.add(&b)?.ciphertext())
}

/// phe's `_raw_mul`: c^k mod n² for 0 ≤ k < n (through c⁻¹ for k ≥ n − max_int, as phe does).
pub fn raw_mul(pk: &PublicKey, c: &BigUint, k: &BigUint) -> Result<BigUint> {
    let a = pk.ciphertext_from(c, 0)?;
    let encoded = crate::EncodedNumber::from_raw(k.clone(), 0);
    Ok(a.mul_encoded(&encoded)?.ciphertext())
}

/// A key pair of any even size from 32 bits up. Keys below 2048 bits are insecure: this exists
/// for fast tests.
pub fn generate_keypair_any_size<R: CryptoRng + RngCore + ?Sized>(rng: &mut R, bits: usize) -> Result<Keypair> {
    generate_any_size(rng, bits)
}

/// A public key from any odd n of at least 16 bits (tests with small keys).
pub fn public_key_any_size(n: BigUint) -> Result<PublicKey> {
    PublicKey::from_n_unchecked_size(n)
}
