//! Multiplication and dot products (ABY3 §5.1; Araki et al. CCS 2016 §2.2).
//!
//! With x and y shared as (x_i, x_{i+1}) and (y_i, y_{i+1}), party i computes
//! z_i = x_i·y_i + x_i·y_{i+1} + x_{i+1}·y_i, so that z_0 + z_1 + z_2 = x·y: a 3-out-of-3 sharing.
//! Adding a zero sharing α_i and sending z_i to party i−1 makes it replicated again: one round and
//! one ring element per party per product. For a dot product each party sums its z_i terms over
//! the inner dimension before resharing, so the cost is one element per *output*, whatever the
//! length of the vectors (ABY3 §5.1, "matrix multiplication").

use crate::party::Zero;
use crate::share::AShare;
use crate::transport::Transport;
use crate::{MpcError, Party, Result};

impl<T: Transport> Party<T> {
    /// x·y element-wise (one round).
    pub fn mul(&mut self, x: &AShare, y: &AShare) -> Result<AShare> {
        if x.len() != y.len() {
            return Err(MpcError::Invalid(format!(
                "cannot multiply vectors of {} and {} elements",
                x.len(),
                y.len()
            )));
        }
        // The products are computed piece by piece as the resharing sends them, so the first
        // piece is on its way while the rest are being multiplied.
        let (a, b) = self.reshare_with(vec![0; x.len()], Zero::Arith, |range, z| {
            let (xa, xb) = (&x.a[range.clone()], &x.b[range.clone()]);
            let (ya, yb) = (&y.a[range.clone()], &y.b[range]);
            for ((((z, xa), xb), ya), yb) in z.iter_mut().zip(xa).zip(xb).zip(ya).zip(yb) {
                *z = local_product(*xa, *xb, *ya, *yb);
            }
        })?;
        Ok(AShare { a, b })
    }

    /// Dot products of consecutive rows: x and y are `rows` rows of `len` elements each (row-major);
    /// the result has one element per row (one round, one element per row and party). A plain dot
    /// product is `rows = 1`.
    pub fn dot_rows(&mut self, x: &AShare, y: &AShare, len: usize) -> Result<AShare> {
        if x.len() != y.len() {
            return Err(MpcError::Invalid(format!(
                "cannot take dot products of vectors of {} and {} elements",
                x.len(),
                y.len()
            )));
        }
        if len == 0 || !x.len().is_multiple_of(len) {
            return Err(MpcError::Invalid(format!(
                "{} elements do not split into rows of {len}",
                x.len()
            )));
        }
        let z: Vec<u64> = (0..x.len() / len)
            .map(|r| {
                (r * len..(r + 1) * len).fold(0u64, |s, k| {
                    s.wrapping_add(local_product(x.a[k], x.b[k], y.a[k], y.b[k]))
                })
            })
            .collect();
        self.reshare_arith(z)
    }

    /// A matrix-vector product: each of the `x.len() / y.len()` rows of `x` (row-major) times the
    /// one vector `y` (one round, one element per row and party). Grouped sums use it with 0/1
    /// rows, so the vector is not copied once per row.
    pub fn matvec(&mut self, x: &AShare, y: &AShare) -> Result<AShare> {
        let len = y.len();
        if len == 0 || !x.len().is_multiple_of(len) {
            return Err(MpcError::Invalid(format!(
                "a matrix of {} elements does not have rows of {len}",
                x.len()
            )));
        }
        let z: Vec<u64> =
            x.a.chunks_exact(len)
                .zip(x.b.chunks_exact(len))
                .map(|(ra, rb)| (0..len).fold(0u64, |s, k| s.wrapping_add(local_product(ra[k], rb[k], y.a[k], y.b[k]))))
                .collect();
        self.reshare_arith(z)
    }

    /// The dot product of two vectors (one round, one element per party).
    pub fn dot(&mut self, x: &AShare, y: &AShare) -> Result<AShare> {
        let len = x.len().max(1);
        if x.is_empty() && y.is_empty() {
            return Ok(self.constant(&[0]));
        }
        self.dot_rows(x, y, len)
    }
}

#[inline]
fn local_product(xa: u64, xb: u64, ya: u64, yb: u64) -> u64 {
    xa.wrapping_mul(ya)
        .wrapping_add(xa.wrapping_mul(yb))
        .wrapping_add(xb.wrapping_mul(ya))
}
