//! phe's `EncodedNumber`: a value as mantissa · 16^exponent, the mantissa stored modulo n.

use std::fmt;
use std::str::FromStr;

use num_bigint::{BigInt, BigUint, Sign};
use num_traits::{One, ToPrimitive, Zero};

use crate::{Error, PublicKey, Result};

/// phe's `EncodedNumber.BASE`.
pub const BASE: u32 = 16;
const LOG2_BASE: i64 = 4;
const FLOAT_MANTISSA_BITS: i64 = 53;
/// Exponents beyond this magnitude are refused (aligning them would cost unbounded work).
pub const MAX_EXPONENT_MAGNITUDE: i64 = 4096;

/// A plaintext: an exact integer or a 64-bit float, as phe's `int` and `float`.
#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    /// An integer of any size.
    Int(BigInt),
    /// A finite float.
    Float(f64),
}

impl Number {
    /// The value as a float (an integer is rounded to the nearest float).
    pub fn to_f64(&self) -> f64 {
        match self {
            Number::Int(i) => i.to_f64().unwrap_or(f64::NAN),
            Number::Float(f) => *f,
        }
    }
}

impl From<i64> for Number {
    fn from(v: i64) -> Self {
        Number::Int(BigInt::from(v))
    }
}

impl From<f64> for Number {
    fn from(v: f64) -> Self {
        Number::Float(v)
    }
}

impl fmt::Display for Number {
    /// Integers in decimal; floats as the shortest text that reads back to the same float.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x:?}"),
        }
    }
}

impl FromStr for Number {
    type Err = Error;

    /// An integer (`-12`, `60`) or a float (`3.5`, `-1e-3`); NaN and infinities are refused.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return t
                .parse::<BigInt>()
                .map(Number::Int)
                .map_err(|_| Error::InvalidNumber(format!("{t:?}")));
        }
        match t.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Number::Float(x)),
            Ok(_) => Err(Error::InvalidNumber(format!("{t:?} is not finite"))),
            Err(_) => Err(Error::InvalidNumber(format!("{t:?} is not a number"))),
        }
    }
}

/// A value encoded for a public key: `encoding` = mantissa mod n, value = mantissa · 16^exponent.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedNumber {
    pub(crate) encoding: BigUint,
    pub(crate) exponent: i64,
}

impl fmt::Debug for EncodedNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The encoding is a plaintext: keep it out of debug output.
        write!(f, "EncodedNumber(exponent {})", self.exponent)
    }
}

/// (x = mantissa · 2^exp2 exactly) for a finite float; the mantissa carries the sign.
fn float_parts(x: f64) -> (BigInt, i64) {
    let bits = x.to_bits();
    let sign = if bits >> 63 == 1 { -1 } else { 1 };
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (mantissa, exp2) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    (BigInt::from(sign) * BigInt::from(mantissa), exp2)
}

/// The exponent `math.frexp(x)[1]` of a finite float (0 for zero).
fn frexp_exponent(x: f64) -> i64 {
    if x == 0.0 {
        return 0;
    }
    let (mantissa, exp2) = float_parts(x);
    mantissa.magnitude().bits() as i64 + exp2
}

/// `value · 2^shift` rounded to the nearest integer, ties to even (Python's `round(Fraction)`).
pub(crate) fn round_shift(value: &BigInt, shift: i64) -> BigInt {
    if shift >= 0 {
        return value << (shift as usize);
    }
    let s = (-shift) as usize;
    let q: BigInt = value >> s; // floor
    let r: BigInt = value - (&q << s); // in [0, 2^s)
    let twice = &r << 1usize;
    let half = BigInt::one() << s;
    match twice.cmp(&half) {
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Equal => {
            if (&q & BigInt::one()).is_zero() {
                q
            } else {
                q + 1
            }
        }
    }
}

/// `mantissa / 2^shift` as the correctly rounded float (Python's int / int).
fn ratio_to_f64(mantissa: &BigInt, shift: i64) -> Result<f64> {
    if mantissa.is_zero() {
        return Ok(0.0);
    }
    let negative = mantissa.sign() == Sign::Minus;
    let a = BigInt::from(mantissa.magnitude().clone());
    let e = a.bits() as i64 - shift; // value in [2^(e−1), 2^e)
    if e > 1024 {
        return Err(Error::FloatOverflow);
    }
    let lsb = (e - FLOAT_MANTISSA_BITS).max(-1074);
    let q = round_shift(&a, -shift - lsb);
    let q = q.to_u64().ok_or(Error::FloatOverflow)? as f64; // at most 2^53, exact
    let value = q * pow2(lsb);
    if !value.is_finite() {
        return Err(Error::FloatOverflow);
    }
    Ok(if negative { -value } else { value })
}

/// 2^e as a float for −1074 ≤ e ≤ 1023, built in two steps so that intermediate values stay normal.
fn pow2(e: i64) -> f64 {
    let half = e / 2;
    let rest = e - half;
    let p = |k: i64| f64::from_bits(((k + 1023) as u64) << 52);
    if (-1022..=1023).contains(&e) {
        p(e)
    } else {
        p(half) * p(rest)
    }
}

impl EncodedNumber {
    /// phe's `EncodedNumber.encode(public_key, scalar, precision, max_exponent)`.
    ///
    /// Integers get exponent 0 and floats `floor((frexp(x).exponent − 53)/4)` (full double
    /// precision); `precision` sets the exponent to `floor(log16(precision))` instead, and
    /// `max_exponent` caps it. The mantissa is the exact value times 16^−exponent, rounded half to
    /// even, and must not exceed n/3 − 1 in magnitude.
    pub fn encode(pk: &PublicKey, scalar: &Number, precision: Option<f64>, max_exponent: Option<i64>) -> Result<Self> {
        let prec_exponent = match (precision, scalar) {
            (Some(p), _) => {
                if !(p.is_finite() && p > 0.0) {
                    return Err(Error::InvalidNumber("precision must be a positive number".into()));
                }
                (p.ln() / f64::from(BASE).ln()).floor() as i64
            }
            (None, Number::Int(_)) => 0,
            (None, Number::Float(x)) => {
                if !x.is_finite() {
                    return Err(Error::InvalidNumber("cannot encode a NaN or infinite float".into()));
                }
                (frexp_exponent(*x) - FLOAT_MANTISSA_BITS).div_euclid(LOG2_BASE)
            }
        };
        let exponent = match max_exponent {
            Some(max) => max.min(prec_exponent),
            None => prec_exponent,
        };
        check_exponent(exponent)?;
        let int_rep = match scalar {
            Number::Int(i) => round_shift(i, -LOG2_BASE * exponent),
            Number::Float(x) => {
                if !x.is_finite() {
                    return Err(Error::InvalidNumber("cannot encode a NaN or infinite float".into()));
                }
                let (mantissa, exp2) = float_parts(*x);
                round_shift(&mantissa, exp2 - LOG2_BASE * exponent)
            }
        };
        Self::from_mantissa(pk, &int_rep, exponent)
    }

    /// The encoding of an exact mantissa with an exponent.
    pub fn from_mantissa(pk: &PublicKey, mantissa: &BigInt, exponent: i64) -> Result<Self> {
        check_exponent(exponent)?;
        if mantissa.magnitude() > pk.max_int() {
            return Err(Error::EncodeOverflow);
        }
        let n = BigInt::from(pk.n().clone());
        let encoding = ((mantissa % &n) + &n) % &n;
        Ok(Self {
            encoding: encoding.magnitude().clone(),
            exponent,
        })
    }

    /// An encoding as stored (`encoding` is mantissa mod n), e.g. just decrypted.
    pub fn from_raw(encoding: BigUint, exponent: i64) -> Self {
        Self { encoding, exponent }
    }

    /// The exponent (value = mantissa · 16^exponent).
    pub fn exponent(&self) -> i64 {
        self.exponent
    }

    /// The stored encoding (mantissa mod n).
    pub fn encoding(&self) -> &BigUint {
        &self.encoding
    }

    /// phe's `decode`: encodings up to n/3 − 1 are positive, from n − (n/3 − 1) negative, and
    /// anything between is an overflow. A negative exponent gives a float, otherwise an integer.
    pub fn decode(&self, pk: &PublicKey) -> Result<Number> {
        let n = pk.n();
        let mantissa = if &self.encoding >= n {
            return Err(Error::Corrupted);
        } else if &self.encoding <= pk.max_int() {
            BigInt::from(self.encoding.clone())
        } else if self.encoding >= n - pk.max_int() {
            BigInt::from(self.encoding.clone()) - BigInt::from(n.clone())
        } else {
            return Err(Error::Overflow);
        };
        if self.exponent >= 0 {
            Ok(Number::Int(mantissa << (LOG2_BASE * self.exponent) as usize))
        } else {
            ratio_to_f64(&mantissa, -LOG2_BASE * self.exponent).map(Number::Float)
        }
    }

    /// phe's `decrease_exponent_to`: the same value with a smaller exponent.
    pub fn decrease_exponent_to(&self, pk: &PublicKey, new_exp: i64) -> Result<Self> {
        if new_exp > self.exponent {
            return Err(Error::Exponent(format!(
                "new exponent {new_exp} should be smaller than the old exponent {}",
                self.exponent
            )));
        }
        check_exponent(new_exp)?;
        let factor = BigUint::one() << (LOG2_BASE * (self.exponent - new_exp)) as usize;
        Ok(Self {
            encoding: (&self.encoding * factor) % pk.n(),
            exponent: new_exp,
        })
    }
}

pub(crate) fn check_exponent(e: i64) -> Result<()> {
    if e.abs() > MAX_EXPONENT_MAGNITUDE {
        return Err(Error::Exponent(format!("{e} is outside ±{MAX_EXPONENT_MAGNITUDE}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
