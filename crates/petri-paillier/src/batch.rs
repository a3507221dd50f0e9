//! Batch operations that use every core (rayon), for many values at once.

use rayon::prelude::*;

use crate::{EncryptedNumber, Number, PrivateKey, PublicKey, Result};

impl PublicKey {
    /// Encrypts each value (as [`PublicKey::encrypt`]) in parallel, each thread drawing its
    /// randomness from its own thread-local CSPRNG.
    pub fn encrypt_batch(&self, values: &[Number], precision: Option<f64>) -> Result<Vec<EncryptedNumber>> {
        values
            .par_iter()
            .map(|v| self.encrypt(v, precision, &mut rand::rng()))
            .collect()
    }

    /// The sum of many ciphertexts (as [`PublicKey::sum`]), split into one partial sum per
    /// thread. Not re-randomised.
    pub fn sum_batch(&self, items: &[EncryptedNumber]) -> Result<EncryptedNumber> {
        let threads = rayon::current_num_threads().max(1);
        let chunk = items.len().div_ceil(threads).max(1);
        let partials: Vec<EncryptedNumber> = items
            .par_chunks(chunk)
            .map(|part| self.sum(part))
            .collect::<Result<_>>()?;
        self.sum(&partials)
    }
}

impl PrivateKey {
    /// Decrypts each ciphertext (as [`PrivateKey::decrypt`]) in parallel.
    pub fn decrypt_batch(&self, items: &[EncryptedNumber]) -> Vec<Result<Number>> {
        items.par_iter().map(|c| self.decrypt(c)).collect()
    }
}
