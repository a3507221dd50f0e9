//! Fixed-point numbers: a real r is the ring element round(r·2^f) (two's complement), with f
//! fractional bits. Addition is ring addition; a product has 2f fractional bits and is brought back
//! to f with the exact truncation [`Party::trunc`].

use crate::share::AShare;
use crate::transport::Transport;
use crate::{MpcError, Party, Result};

/// Default number of fractional bits.
pub const DEFAULT_FRAC_BITS: u32 = 16;

/// Encodes a real number with `frac` fractional bits. Errors if it does not fit in an i64.
pub fn encode(value: f64, frac: u32) -> Result<u64> {
    let scaled = (value * (1u64 << frac) as f64).round();
    if !scaled.is_finite() || scaled.abs() >= 9.223_372_036_854_775e18 {
        return Err(MpcError::Invalid(format!(
            "{value} does not fit a 64-bit fixed-point number with {frac} fractional bits"
        )));
    }
    Ok(scaled as i64 as u64)
}

/// Decodes a ring element with `frac` fractional bits.
pub fn decode(x: u64, frac: u32) -> f64 {
    x as i64 as f64 / (1u64 << frac) as f64
}

impl<T: Transport> Party<T> {
    /// Fixed-point product with `frac` fractional bits: multiply (1 round) then truncate exactly
    /// (10 rounds). The exact product must fit in an i64.
    pub fn mul_fixed(&mut self, x: &AShare, y: &AShare, frac: u32) -> Result<AShare> {
        let z = self.mul(x, y)?;
        self.trunc(&z, frac)
    }

    /// Fixed-point dot product (one multiplication round for the whole sum, then truncation).
    pub fn dot_fixed(&mut self, x: &AShare, y: &AShare, frac: u32) -> Result<AShare> {
        let z = self.dot(x, y)?;
        self.trunc(&z, frac)
    }
}
