//! Integration tests of petri-paillier: homomorphic laws (property tests, cross-checked
//! against plain big-integer arithmetic), phe 1.5.0 known-answer vectors, and the wire shapes.

mod integration {
    mod kat;
    mod laws;
    mod wire;
}

use std::sync::OnceLock;

use petri_paillier::{Keypair, hazmat};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// A seeded RNG, so failures reproduce.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A 512-bit key pair, generated once (small keys keep property tests fast; the arithmetic is
/// the same at every size).
pub fn small_keys() -> &'static Keypair {
    static KEYS: OnceLock<Keypair> = OnceLock::new();
    KEYS.get_or_init(|| hazmat::generate_keypair_any_size(&mut rng(1), 512).expect("key generation"))
}

/// A 2048-bit key pair, generated once.
pub fn keys_2048() -> &'static Keypair {
    static KEYS: OnceLock<Keypair> = OnceLock::new();
    KEYS.get_or_init(|| petri_paillier::generate_keypair(&mut rng(2), 2048).expect("key generation"))
}
