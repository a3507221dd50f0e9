//! Eight points of the Edwards curve −x² + y² = 1 + d·x²·y² at once, in the extended coordinates
//! of Hisil, Wong, Carter and Dawson, "Twisted Edwards curves revisited" (ASIACRYPT 2008), with
//! the same formulas and intermediate models as curve25519-dalek (completed points from a doubling
//! or an addition, projective points for repeated doublings, projective Niels points for the
//! table), and a scalar multiplication in which all eight lanes share one secret scalar.
#![deny(unsafe_code)]

use std::arch::x86_64::__mmask8;

use super::field::{D2, F8};

/// Eight points in extended coordinates: x = X/Z, y = Y/Z, x·y = T/Z.
#[derive(Clone, Copy)]
pub(super) struct Ext {
    pub(super) x: F8,
    pub(super) y: F8,
    pub(super) z: F8,
    pub(super) t: F8,
}

/// A completed point ((X:Z), (Y:T)), the direct result of a doubling or an addition.
#[derive(Clone, Copy)]
pub(super) struct Completed {
    pub(super) x: F8,
    pub(super) y: F8,
    pub(super) z: F8,
    pub(super) t: F8,
}

/// A projective point (X:Y:Z), enough for a doubling.
#[derive(Clone, Copy)]
struct Proj {
    x: F8,
    y: F8,
    z: F8,
}

/// A projective Niels point (Y+X, Y−X, Z, 2d·T), the addend of an addition.
#[derive(Clone, Copy)]
struct Niels {
    y_plus_x: F8,
    y_minus_x: F8,
    z: F8,
    t2d: F8,
}

impl Completed {
    /// To extended coordinates (four products).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn as_extended(&self) -> Ext {
        Ext {
            x: self.x.mul(&self.t),
            y: self.y.mul(&self.z),
            z: self.z.mul(&self.t),
            t: self.x.mul(&self.y),
        }
    }

    /// To projective coordinates (three products).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn as_projective(&self) -> Proj {
        Proj {
            x: self.x.mul(&self.t),
            y: self.y.mul(&self.z),
            z: self.z.mul(&self.t),
        }
    }
}

impl Proj {
    /// `2·self` (four squarings).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn double(&self) -> Completed {
        let xx = self.x.square();
        let yy = self.y.square();
        let zz = self.z.square();
        let zz2 = zz.add(&zz);
        let x_plus_y_sq = self.x.add(&self.y).square();
        let yy_plus_xx = yy.add(&xx);
        let yy_minus_xx = yy.sub(&xx);
        Completed {
            x: x_plus_y_sq.sub(&yy_plus_xx),
            y: yy_plus_xx,
            z: yy_minus_xx,
            t: zz2.sub(&yy_minus_xx),
        }
    }
}

impl Niels {
    /// The identity (1, 1, 1, 0).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn identity() -> Niels {
        Niels {
            y_plus_x: F8::one(),
            y_minus_x: F8::one(),
            z: F8::one(),
            t2d: F8::zero(),
        }
    }

    /// `other` in the lanes of `mask`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn select(&self, other: &Niels, mask: __mmask8) -> Niels {
        Niels {
            y_plus_x: self.y_plus_x.select(&other.y_plus_x, mask),
            y_minus_x: self.y_minus_x.select(&other.y_minus_x, mask),
            z: self.z.select(&other.z, mask),
            t2d: self.t2d.select(&other.t2d, mask),
        }
    }

    /// `−self` in the lanes of `mask`: Y+X and Y−X swap, T changes sign.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn negate_if(&self, mask: __mmask8) -> Niels {
        Niels {
            y_plus_x: self.y_plus_x.select(&self.y_minus_x, mask),
            y_minus_x: self.y_minus_x.select(&self.y_plus_x, mask),
            z: self.z,
            t2d: self.t2d.negate_if(mask),
        }
    }
}

impl Ext {
    /// The identity (0 : 1 : 1 : 0).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn identity() -> Ext {
        Ext {
            x: F8::zero(),
            y: F8::one(),
            z: F8::one(),
            t: F8::zero(),
        }
    }

    /// As an addend (one product).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn as_niels(&self) -> Niels {
        Niels {
            y_plus_x: self.y.add(&self.x),
            y_minus_x: self.y.sub(&self.x),
            z: self.z,
            t2d: self.t.mul(&F8::constant(D2)),
        }
    }

    /// `self + other` (four products).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn add_niels(&self, other: &Niels) -> Completed {
        let pp = self.y.add(&self.x).mul(&other.y_plus_x);
        let mm = self.y.sub(&self.x).mul(&other.y_minus_x);
        let tt2d = self.t.mul(&other.t2d);
        let zz = self.z.mul(&other.z);
        let zz2 = zz.add(&zz);
        Completed {
            x: pp.sub(&mm),
            y: pp.add(&mm),
            z: zz2.add(&tt2d),
            t: zz2.sub(&tt2d),
        }
    }

    /// `self + other`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn add(&self, other: &Ext) -> Ext {
        self.add_niels(&other.as_niels()).as_extended()
    }

    /// `a·self` for the scalar whose signed radix-16 digits are `digits` (least significant
    /// first, each in [-8, 8]); the same scalar in every lane.
    ///
    /// Fixed windows of four bits: a table of P, 2P, …, 8P per lane, then for every digit from the
    /// top four doublings and one addition of the table entry chosen by a scan of all eight
    /// entries under masks, negated under a mask for a negative digit. The sequence of operations
    /// and memory accesses does not depend on the digits.
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn mul_shared(&self, digits: &[i8; 64]) -> Ext {
        let base = self.as_niels();
        let mut table = [base; 8];
        let mut multiple = *self;
        for entry in table.iter_mut().skip(1) {
            multiple = multiple.add_niels(&base).as_extended();
            *entry = multiple.as_niels();
        }
        let mut acc = Ext::identity().add_niels(&pick(&table, digits[63]));
        for &digit in digits[..63].iter().rev() {
            let mut p = acc.as_projective().double().as_projective();
            p = p.double().as_projective();
            p = p.double().as_projective();
            let e = p.double().as_extended();
            acc = e.add_niels(&pick(&table, digit));
        }
        acc.as_extended()
    }
}

/// `digit·P` from the table of P, …, 8P, for a digit in [-8, 8]: every entry is read and kept
/// under a mask, and the result negated under a mask, so the work does not depend on the digit.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn pick(table: &[Niels; 8], digit: i8) -> Niels {
    let sign = (digit >> 7) as i16; // 0 or −1
    let abs = ((digit as i16 + sign) ^ sign) as u16;
    let mut t = Niels::identity();
    for (j, entry) in (1u16..).zip(table.iter()) {
        t = t.select(entry, lane_mask(abs, j));
    }
    t.negate_if(0u8.wrapping_sub((sign & 1) as u8))
}

/// All lanes when `a = b`, none otherwise, computed without a branch.
#[inline]
fn lane_mask(a: u16, b: u16) -> __mmask8 {
    // (a ^ b) − 1 borrows exactly when a = b.
    let eq = (((a ^ b) as u32).wrapping_sub(1) >> 31) as u8;
    0u8.wrapping_sub(std::hint::black_box(eq))
}
