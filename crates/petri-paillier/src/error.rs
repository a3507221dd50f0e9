//! The crate's error type.

/// Everything that can go wrong with keys, numbers and ciphertexts. Messages never contain
/// secret values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A public key could not be read or is not a usable Paillier modulus.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    /// A private key could not be read or does not match its public key.
    #[error("invalid private key: {0}")]
    InvalidPrivateKey(String),
    /// A ciphertext could not be read or is not an element of Z*_{n²}.
    #[error("invalid ciphertext: {0}")]
    InvalidCiphertext(String),
    /// Key generation was asked for a size this crate does not generate.
    #[error("unsupported key size {0} bits: use 2048, 3072 or 4096")]
    KeySize(usize),
    /// A number is not finite, or cannot be parsed.
    #[error("invalid number: {0}")]
    InvalidNumber(String),
    /// A value's mantissa does not fit in the key's plaintext range (|mantissa| > n/3 − 1).
    #[error("value too large to encode with this key: |mantissa| must be at most n/3 - 1")]
    EncodeOverflow,
    /// A decrypted value lies between the positive and the negative band: the computation overflowed.
    #[error("overflow detected in decrypted number")]
    Overflow,
    /// An encoded value is not below n.
    #[error("attempted to decode corrupted number")]
    Corrupted,
    /// A decoded value is too large for a 64-bit float.
    #[error("decoded result too large for a float")]
    FloatOverflow,
    /// Two operands belong to different public keys.
    #[error("operands are under different public keys")]
    KeyMismatch,
    /// An exponent is out of range or cannot be changed as asked.
    #[error("exponent: {0}")]
    Exponent(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
