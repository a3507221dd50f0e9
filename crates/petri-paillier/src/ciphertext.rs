//! phe's `EncryptedNumber`: a ciphertext with the exponent of its encoding, and its arithmetic.

use std::fmt;

use num_bigint::{BigInt, BigUint};
use num_traits::One;
use rand::{CryptoRng, RngCore};

use crate::arith::{from_limbs, to_limbs};
use crate::encoding::{EncodedNumber, check_exponent};
use crate::keys::check_ciphertext;
use crate::{Error, Number, PrivateKey, PublicKey, Result};

/// An encrypted number: c = (1 + n)^m · r^n mod n², with the exponent of m's encoding.
///
/// Like phe, results of additions and multiplications are not re-randomised until they leave:
/// [`EncryptedNumber::rerandomize`] (or [`EncryptedNumber::to_wire`], which calls it when needed)
/// multiplies by a fresh r^n. The ciphertext is held in Montgomery form, so a homomorphic
/// addition is a single modular multiplication.
#[derive(Clone)]
pub struct EncryptedNumber {
    pk: PublicKey,
    /// c·R mod n², almost reduced.
    mont: Vec<u64>,
    exponent: i64,
    obfuscated: bool,
}

impl fmt::Debug for EncryptedNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptedNumber(exponent {}, {:?})", self.exponent, self.pk)
    }
}

impl PartialEq for EncryptedNumber {
    /// Same key, same exponent, same ciphertext value.
    fn eq(&self, other: &Self) -> bool {
        self.pk == other.pk && self.exponent == other.exponent && self.ciphertext() == other.ciphertext()
    }
}

impl PublicKey {
    /// phe's `encrypt(value, precision)`: encode, encrypt with r = 1, then obfuscate with a
    /// uniformly random r in [1, n).
    pub fn encrypt<R: CryptoRng + RngCore + ?Sized>(
        &self,
        value: &Number,
        precision: Option<f64>,
        rng: &mut R,
    ) -> Result<EncryptedNumber> {
        let encoded = EncodedNumber::encode(self, value, precision, None)?;
        Ok(self.encrypt_encoded(&encoded, rng))
    }

    /// phe's `encrypt_encoded`: encrypt an encoding and obfuscate it.
    pub fn encrypt_encoded<R: CryptoRng + RngCore + ?Sized>(
        &self,
        encoded: &EncodedNumber,
        rng: &mut R,
    ) -> EncryptedNumber {
        let mut c = self.encrypt_encoded_unobfuscated(encoded);
        c.rerandomize(rng);
        c
    }

    /// The encryption of an encoding with r = 1 (deterministic; not secure until re-randomised).
    pub fn encrypt_encoded_unobfuscated(&self, encoded: &EncodedNumber) -> EncryptedNumber {
        EncryptedNumber {
            pk: self.clone(),
            mont: self.nude_mont(&encoded.encoding),
            exponent: encoded.exponent,
            obfuscated: false,
        }
    }

    /// A ciphertext received from elsewhere: checks 0 < c < n², gcd(c, n) = 1 and the exponent
    /// range. It counts as obfuscated (it left its node).
    pub fn ciphertext_from(&self, c: &BigUint, exponent: i64) -> Result<EncryptedNumber> {
        check_ciphertext(self, c)?;
        check_exponent(exponent)?;
        let n2 = &self.inner().n2;
        Ok(EncryptedNumber {
            pk: self.clone(),
            mont: n2.to_mont(&to_limbs(c, n2.len())),
            exponent,
            obfuscated: true,
        })
    }

    /// The sum of ciphertexts under this key: all are brought down to the smallest exponent (as
    /// phe's `decrease_exponent_to`) and multiplied. An empty sum is the encryption of 0 with
    /// r = 1. The result is not re-randomised.
    pub fn sum<'a>(&self, items: impl IntoIterator<Item = &'a EncryptedNumber>) -> Result<EncryptedNumber> {
        let items: Vec<&EncryptedNumber> = items.into_iter().collect();
        for item in &items {
            if &item.pk != self {
                return Err(Error::KeyMismatch);
            }
        }
        let Some(min_exp) = items.iter().map(|c| c.exponent).min() else {
            return Ok(self.encrypt_encoded_unobfuscated(&EncodedNumber::from_raw(BigUint::default(), 0)));
        };
        let n2 = &self.inner().n2;
        let mut acc = n2.one();
        let mut scratch = vec![0u64; n2.len()];
        let mut t = vec![0u64; n2.len() + 2];
        for item in items {
            let aligned;
            let c = if item.exponent == min_exp {
                item
            } else {
                aligned = item.decrease_exponent_to(min_exp)?;
                &aligned
            };
            // acc and c are both in Montgomery form: their Montgomery product is the product's.
            n2.mul_into(&acc, &c.mont, &mut scratch, &mut t);
            std::mem::swap(&mut acc, &mut scratch);
        }
        Ok(EncryptedNumber {
            pk: self.clone(),
            mont: acc,
            exponent: min_exp,
            obfuscated: false,
        })
    }
}

impl EncryptedNumber {
    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.pk
    }

    /// The exponent of the encrypted encoding.
    pub fn exponent(&self) -> i64 {
        self.exponent
    }

    /// Whether the ciphertext has been re-randomised since it was last computed.
    pub fn is_obfuscated(&self) -> bool {
        self.obfuscated
    }

    /// The ciphertext value as it is now (phe's `ciphertext(be_secure=False)`).
    pub fn ciphertext(&self) -> BigUint {
        from_limbs(&self.pk.inner().n2.leave_mont(&self.mont))
    }

    /// The ciphertext, re-randomised first if it has not been (phe's `ciphertext()`).
    pub fn ciphertext_secure<R: CryptoRng + RngCore + ?Sized>(&mut self, rng: &mut R) -> BigUint {
        if !self.obfuscated {
            self.rerandomize(rng);
        }
        self.ciphertext()
    }

    /// Multiplies by r^n for a fresh uniformly random r (phe's `obfuscate`).
    pub fn rerandomize<R: CryptoRng + RngCore + ?Sized>(&mut self, rng: &mut R) {
        let obfuscator = self.pk.random_obfuscator(rng);
        self.mont = self.pk.inner().n2.mul(&self.mont, &obfuscator);
        self.obfuscated = true;
    }

    /// phe's `decrease_exponent_to`: c^(16^(e − new)) with exponent `new`. Like phe, refuses a
    /// factor 16^(e − new) larger than n/3 − 1.
    pub fn decrease_exponent_to(&self, new_exp: i64) -> Result<EncryptedNumber> {
        if new_exp > self.exponent {
            return Err(Error::Exponent(format!(
                "new exponent {new_exp} should be smaller than the old exponent {}",
                self.exponent
            )));
        }
        check_exponent(new_exp)?;
        let squarings = 4 * (self.exponent - new_exp) as usize;
        if squarings > 0 && BigUint::one() << squarings > *self.pk.max_int() {
            return Err(Error::Exponent(format!(
                "cannot align exponent {} down to {new_exp}: the factor 16^{} does not fit the key",
                self.exponent,
                self.exponent - new_exp
            )));
        }
        let n2 = &self.pk.inner().n2;
        let mut acc = self.mont.clone();
        for _ in 0..squarings {
            acc = n2.mul(&acc, &acc);
        }
        Ok(EncryptedNumber {
            pk: self.pk.clone(),
            mont: acc,
            exponent: new_exp,
            obfuscated: self.obfuscated && squarings == 0,
        })
    }

    /// Homomorphic addition of two ciphertexts (phe's `_add_encrypted`). Not re-randomised.
    pub fn add(&self, other: &EncryptedNumber) -> Result<EncryptedNumber> {
        if self.pk != other.pk {
            return Err(Error::KeyMismatch);
        }
        let (a, b);
        let (a, b) = if self.exponent > other.exponent {
            a = self.decrease_exponent_to(other.exponent)?;
            (&a, other)
        } else if self.exponent < other.exponent {
            b = other.decrease_exponent_to(self.exponent)?;
            (self, &b)
        } else {
            (self, other)
        };
        Ok(EncryptedNumber {
            pk: self.pk.clone(),
            mont: self.pk.inner().n2.mul(&a.mont, &b.mont),
            exponent: a.exponent,
            obfuscated: false,
        })
    }

    /// Adds a plaintext (phe's `_add_scalar`): the scalar is encoded with `max_exponent` equal to
    /// this exponent, encrypted with r = 1 and multiplied in.
    pub fn add_plain(&self, scalar: &Number) -> Result<EncryptedNumber> {
        let encoded = EncodedNumber::encode(&self.pk, scalar, None, Some(self.exponent))?;
        self.add_encoded(&encoded)
    }

    /// Adds an encoded plaintext (phe's `_add_encoded`).
    pub fn add_encoded(&self, encoded: &EncodedNumber) -> Result<EncryptedNumber> {
        let (a, b);
        let (a, b) = if self.exponent > encoded.exponent {
            a = self.decrease_exponent_to(encoded.exponent)?;
            (&a, encoded)
        } else if self.exponent < encoded.exponent {
            b = encoded.decrease_exponent_to(&self.pk, self.exponent)?;
            (self, &b)
        } else {
            (self, encoded)
        };
        let plain = self.pk.encrypt_encoded_unobfuscated(b);
        a.add(&plain)
    }

    /// Multiplies by a plaintext scalar (phe's `__mul__`): c^k mod n², or (c⁻¹)^(n − k) for a
    /// negative scalar; the exponents add. Not re-randomised.
    pub fn mul_plain(&self, scalar: &Number) -> Result<EncryptedNumber> {
        let encoded = EncodedNumber::encode(&self.pk, scalar, None, None)?;
        self.mul_encoded(&encoded)
    }

    /// Multiplies by an encoded scalar (phe's `__mul__` with an `EncodedNumber`).
    pub fn mul_encoded(&self, encoded: &EncodedNumber) -> Result<EncryptedNumber> {
        let pk = &self.pk;
        let n2 = &pk.inner().n2;
        let k = &encoded.encoding;
        if k >= pk.n() {
            return Err(Error::InvalidNumber("scalar encoding must be below n".into()));
        }
        let mont = if k >= &(pk.n() - pk.max_int()) {
            let c = self.ciphertext();
            let inv = c
                .modinv(pk.nsquare())
                .ok_or_else(|| Error::InvalidCiphertext("ciphertext is not invertible modulo n²".into()))?;
            let inv_m = n2.to_mont(&to_limbs(&inv, n2.len()));
            n2.pow_public(&inv_m, &to_limbs(&(pk.n() - k), 1))
        } else {
            n2.pow_public(&self.mont, &to_limbs(k, 1))
        };
        let exponent = self.exponent + encoded.exponent;
        check_exponent(exponent)?;
        Ok(EncryptedNumber {
            pk: pk.clone(),
            mont,
            exponent,
            obfuscated: false,
        })
    }

    /// −x (phe's `__neg__`, a multiplication by −1).
    pub fn neg(&self) -> Result<EncryptedNumber> {
        self.mul_plain(&Number::Int(BigInt::from(-1)))
    }

    /// x − y (phe's `__sub__`: x + y·(−1)).
    pub fn sub(&self, other: &EncryptedNumber) -> Result<EncryptedNumber> {
        self.add(&other.neg()?)
    }

    /// x / d for a float d (phe's `__truediv__`: a multiplication by 1/d).
    pub fn div_plain(&self, d: f64) -> Result<EncryptedNumber> {
        if d == 0.0 || !d.is_finite() {
            return Err(Error::InvalidNumber("divisor must be finite and non-zero".into()));
        }
        self.mul_plain(&Number::Float(1.0 / d))
    }
}

impl PrivateKey {
    /// phe's `decrypt_encoded`: the encoding inside a ciphertext of this key.
    pub fn decrypt_encoded(&self, c: &EncryptedNumber) -> Result<EncodedNumber> {
        if &c.pk != self.public_key() {
            return Err(Error::KeyMismatch);
        }
        let n2 = &c.pk.inner().n2;
        let value = n2.leave_mont(&c.mont);
        let m = self.raw_decrypt_limbs(&value);
        Ok(EncodedNumber::from_raw(from_limbs(&m), c.exponent))
    }

    /// phe's `decrypt`: decrypt and decode (an int for exponent ≥ 0, else a float).
    pub fn decrypt(&self, c: &EncryptedNumber) -> Result<Number> {
        self.decrypt_encoded(c)?.decode(self.public_key())
    }
}
