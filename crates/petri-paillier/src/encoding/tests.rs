use num_bigint::BigInt;

use super::*;
use crate::hazmat;

fn key() -> PublicKey {
    // A fixed 1024-bit odd modulus is enough for encoding (no decryption needed).
    let n = (BigUint::from(1u8) << 1023usize) + BigUint::from(12345u32) * 2u32 + 1u32;
    hazmat::public_key_any_size(n).expect("odd modulus")
}

fn check(x: Number, exponent: i64, mantissa: i64) {
    let pk = key();
    let e = EncodedNumber::encode(&pk, &x, None, None).expect("encodes");
    assert_eq!(e.exponent, exponent, "exponent of {x}");
    let want = EncodedNumber::from_mantissa(&pk, &BigInt::from(mantissa), exponent).expect("fits");
    assert_eq!(e.encoding, want.encoding, "mantissa of {x}");
    assert_eq!(e.decode(&pk).expect("decodes"), x);
}

#[test]
fn known_encodings() {
    // Figures phe 1.5.0 gives (also checked by tests/python/test_paillier.py).
    check(Number::Float(3.5), -13, 15_762_598_695_796_736);
    check(Number::Float(0.1), -14, 7_205_759_403_792_794);
    check(Number::Float(-0.1), -14, -7_205_759_403_792_794);
    check(Number::from(60), 0, 60);
    check(Number::from(-5), 0, -5);
    check(Number::Float(0.0), -14, 0);
}

#[test]
fn rounding_is_half_to_even() {
    assert_eq!(round_shift(&BigInt::from(5), -1), BigInt::from(2)); // 2.5 → 2
    assert_eq!(round_shift(&BigInt::from(7), -1), BigInt::from(4)); // 3.5 → 4
    assert_eq!(round_shift(&BigInt::from(-5), -1), BigInt::from(-2));
    assert_eq!(round_shift(&BigInt::from(-7), -1), BigInt::from(-4));
    assert_eq!(round_shift(&BigInt::from(-6), -2), BigInt::from(-2)); // -1.5 → -2
}

#[test]
fn precision_and_max_exponent() {
    let pk = key();
    let e = EncodedNumber::encode(&pk, &Number::Float(1.23456), Some(1e-3), None).expect("encodes");
    assert_eq!(e.exponent, -3); // floor(log16(0.001)) = floor(-2.49)
    let e = EncodedNumber::encode(&pk, &Number::from(7), None, Some(-2)).expect("encodes");
    assert_eq!(e.exponent, -2);
    assert_eq!(e.decode(&pk).expect("decodes"), Number::Float(7.0));
}

#[test]
fn overflow_bands() {
    let pk = key();
    let max = BigInt::from(pk.max_int().clone());
    assert!(EncodedNumber::from_mantissa(&pk, &max, 0).is_ok());
    assert_eq!(
        EncodedNumber::from_mantissa(&pk, &(&max + 1), 0),
        Err(Error::EncodeOverflow)
    );
    let middle = EncodedNumber::from_raw(pk.n() / 2u32, 0);
    assert_eq!(middle.decode(&pk), Err(Error::Overflow));
    let corrupted = EncodedNumber::from_raw(pk.n().clone(), 0);
    assert_eq!(corrupted.decode(&pk), Err(Error::Corrupted));
}

#[test]
fn parse_numbers() {
    assert_eq!("60".parse::<Number>(), Ok(Number::from(60)));
    assert_eq!("-3.5".parse::<Number>(), Ok(Number::Float(-3.5)));
    assert!("nan".parse::<Number>().is_err());
    assert!("inf".parse::<Number>().is_err());
    assert!("abc".parse::<Number>().is_err());
}

#[test]
fn tiny_and_huge_floats_round_trip() {
    let pk = key();
    for x in [5e-324, 2.2250738585072014e-308, 1e-300, 1e300, f64::MAX, -123.456e-200] {
        let e = EncodedNumber::encode(&pk, &Number::Float(x), None, None).expect("encodes");
        // Large floats get a positive exponent and decode to the exact integer, as in phe.
        assert_eq!(e.decode(&pk).expect("decodes").to_f64(), x, "{x}");
    }
}
