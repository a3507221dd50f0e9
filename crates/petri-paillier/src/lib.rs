//! Paillier homomorphic encryption that interoperates with python-paillier (`phe` 1.5.0).
//!
//! The scheme, the number encoding and the wire shapes are phe's, so a value encrypted by phe
//! can be summed here and decrypted by phe, and the other way round:
//!
//! - keys: g = n + 1; [`generate_keypair`] draws two random primes of half the size until n has
//!   exactly the asked bit length (3072 bits by default as in phe, 2048 allowed);
//! - encoding ([`EncodedNumber`]): value = mantissa · 16^exponent; integers get exponent 0, floats
//!   the exponent that keeps full double precision; negative mantissas are stored modulo n, and
//!   decoding refuses the band between n/3 and 2n/3 as an overflow;
//! - arithmetic ([`EncryptedNumber`]): exponents are aligned down before addition; results are
//!   re-randomised with a fresh r^n before they leave ([`EncryptedNumber::to_wire`]);
//! - wire ([`wire`]): the seed's base64 `{"n": "..."}` public key, phe's documented JSON, pheutil's
//!   JWK keys, and `{"v": "<decimal>", "e": <exponent>}` ciphertexts.
//!
//! Everything that touches a secret (decryption, key generation, the nonce r and r^n) runs on
//! constant-time Montgomery arithmetic in [`hazmat`]-free internal code, and secrets are wiped
//! on drop. Public-only steps (parsing, exponent alignment, sums) use ordinary arithmetic.
//! On x86-64 CPUs with AVX-512 IFMA the Montgomery products use 52-bit vector limbs (chosen at
//! run time; the only `unsafe` code of the crate, in `arith/ifma.rs`), elsewhere portable Rust.
//!
//! ```
//! use petri_paillier::{Number, hazmat};
//! let mut rng = rand::rng();
//! // 2048 or 3072 bits in real use; a small key keeps the example fast.
//! let keys = hazmat::generate_keypair_any_size(&mut rng, 512).unwrap();
//! let a = keys.public.encrypt(&Number::from(55), None, &mut rng).unwrap();
//! let b = keys.public.encrypt(&Number::from(5.5), None, &mut rng).unwrap();
//! let mut total = keys.public.sum([&a, &b]).unwrap();
//! let wire = total.to_wire(&mut rng); // {"v": "...", "e": -13}, re-randomised
//! let back = keys.public.from_wire(&wire).unwrap();
//! assert_eq!(keys.private.decrypt(&back).unwrap(), Number::Float(60.5));
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod arith;
mod batch;
mod ciphertext;
mod encoding;
mod error;
pub mod hazmat;
mod keys;
pub mod wire;

pub use ciphertext::EncryptedNumber;
pub use encoding::{BASE, EncodedNumber, MAX_EXPONENT_MAGNITUDE, Number};
pub use error::{Error, Result};
pub use keys::{DEFAULT_KEY_BITS, Keypair, MAX_PARSED_BITS, PrivateKey, PublicKey, generate_keypair};
pub use wire::WireCiphertext;
