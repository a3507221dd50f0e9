use num_bigint::{BigInt, BigUint};
use petri_paillier::{EncodedNumber, Error, Number, hazmat};
use proptest::prelude::*;

use crate::{keys_2048, rng, small_keys};

fn int(v: i64) -> Number {
    Number::from(v)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn integers_round_trip(v in any::<i64>(), seed in any::<u64>()) {
        let k = small_keys();
        let c = k.public.encrypt(&int(v), None, &mut rng(seed)).unwrap();
        prop_assert_eq!(k.private.decrypt(&c).unwrap(), int(v));
    }

    #[test]
    fn floats_round_trip(v in -1e12f64..1e12, seed in any::<u64>()) {
        let k = small_keys();
        let c = k.public.encrypt(&Number::Float(v), None, &mut rng(seed)).unwrap();
        prop_assert_eq!(k.private.decrypt(&c).unwrap().to_f64(), v);
    }

    #[test]
    fn addition_is_homomorphic(a in any::<i64>(), b in any::<i64>(), seed in any::<u64>()) {
        let k = small_keys();
        let mut r = rng(seed);
        let ca = k.public.encrypt(&int(a), None, &mut r).unwrap();
        let cb = k.public.encrypt(&int(b), None, &mut r).unwrap();
        let want = Number::Int(BigInt::from(a) + BigInt::from(b));
        prop_assert_eq!(k.private.decrypt(&ca.add(&cb).unwrap()).unwrap(), want.clone());
        // Commutative, and the same as the n-ary sum.
        prop_assert_eq!(ca.add(&cb).unwrap().ciphertext(), cb.add(&ca).unwrap().ciphertext());
        prop_assert_eq!(k.private.decrypt(&k.public.sum([&ca, &cb]).unwrap()).unwrap(), want.clone());
        // Re-randomising changes the ciphertext, not the plaintext.
        let mut s = ca.add(&cb).unwrap();
        let before = s.ciphertext();
        s.rerandomize(&mut r);
        prop_assert_ne!(s.ciphertext(), before);
        prop_assert_eq!(k.private.decrypt(&s).unwrap(), want);
    }

    #[test]
    fn float_sums_are_exact_double_sums(a in -1e6f64..1e6, b in -1e6f64..1e6, seed in any::<u64>()) {
        let k = small_keys();
        let mut r = rng(seed);
        let ca = k.public.encrypt(&Number::Float(a), None, &mut r).unwrap();
        let cb = k.public.encrypt(&Number::Float(b), None, &mut r).unwrap();
        let sum = ca.add(&cb).unwrap();
        prop_assert_eq!(sum.exponent(), ca.exponent().min(cb.exponent()));
        prop_assert_eq!(k.private.decrypt(&sum).unwrap().to_f64(), a + b);
        prop_assert_eq!(k.private.decrypt(&ca.add_plain(&Number::Float(b)).unwrap()).unwrap().to_f64(), a + b);
    }

    #[test]
    fn scalar_multiplication_and_negation(a in any::<i32>(), m in any::<i32>(), seed in any::<u64>()) {
        let k = small_keys();
        let ca = k.public.encrypt(&int(a.into()), None, &mut rng(seed)).unwrap();
        let want = Number::Int(BigInt::from(a) * BigInt::from(m));
        prop_assert_eq!(k.private.decrypt(&ca.mul_plain(&int(m.into())).unwrap()).unwrap(), want);
        prop_assert_eq!(k.private.decrypt(&ca.neg().unwrap()).unwrap(), int(-i64::from(a)));
        prop_assert_eq!(k.private.decrypt(&ca.sub(&ca).unwrap()).unwrap(), int(0));
    }

    #[test]
    fn raw_primitives_match_plain_arithmetic(m in any::<u64>(), r in 1u64.., k in any::<u32>()) {
        // Cross-check against num-bigint: c = (1 + n·m)·r^n mod n², c^k, c1·c2.
        let keys = small_keys();
        let pk = &keys.public;
        let (n, n2) = (pk.n(), pk.nsquare());
        let (m, r, k) = (BigUint::from(m), BigUint::from(r), BigUint::from(k));
        let c = hazmat::raw_encrypt(pk, &m, Some(&r), &mut rng(0)).unwrap();
        let want = ((BigUint::from(1u8) + n * &m) * r.modpow(n, n2)) % n2;
        prop_assert_eq!(&c, &want);
        prop_assert_eq!(hazmat::raw_decrypt(&keys.private, &c).unwrap(), m.clone());
        prop_assert_eq!(hazmat::raw_mul(pk, &c, &k).unwrap(), c.modpow(&k, n2));
        prop_assert_eq!(hazmat::raw_add(pk, &c, &want).unwrap(), (&c * &want) % n2);
        prop_assert_eq!(hazmat::obfuscator(pk, &r).unwrap(), r.modpow(n, n2));
    }

    #[test]
    fn every_finite_float_encodes_and_decodes(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        let pk = &small_keys().public;
        let e = EncodedNumber::encode(pk, &Number::Float(x), None, None).unwrap();
        prop_assert_eq!(e.decode(pk).unwrap().to_f64(), x);
    }
}

#[test]
fn overflow_is_detected_at_decryption() {
    let k = small_keys();
    let mut r = rng(3);
    let max = Number::Int(BigInt::from(k.public.max_int().clone()));
    let c = k.public.encrypt(&max, None, &mut r).unwrap();
    assert_eq!(k.private.decrypt(&c).unwrap(), max);
    let doubled = c.add(&c).unwrap();
    assert_eq!(k.private.decrypt(&doubled), Err(Error::Overflow));
    let too_big = Number::Int(BigInt::from(k.public.max_int().clone()) + 1);
    assert_eq!(
        k.public.encrypt(&too_big, None, &mut r).unwrap_err(),
        Error::EncodeOverflow
    );
}

#[test]
fn negative_values_and_mixed_exponents_at_2048_bits() {
    let k = keys_2048();
    assert_eq!(k.public.bits(), 2048);
    let mut r = rng(4);
    let values = [
        Number::from(55),
        Number::from(-5),
        Number::Float(0.1),
        Number::Float(-3.25),
    ];
    let cs: Vec<_> = values
        .iter()
        .map(|v| k.public.encrypt(v, None, &mut r).unwrap())
        .collect();
    let total = k.public.sum(&cs).unwrap();
    assert_eq!(total.exponent(), -14);
    let got = k.private.decrypt(&total).unwrap().to_f64();
    assert_eq!(got, 55.0 - 5.0 + 0.1 - 3.25);
    let batch = k.private.decrypt_batch(&cs);
    for (v, d) in values.iter().zip(batch) {
        assert_eq!(d.unwrap().to_f64(), v.to_f64());
    }
    let parallel = k
        .public
        .sum_batch(&k.public.encrypt_batch(&values, None).unwrap())
        .unwrap();
    assert_eq!(k.private.decrypt(&parallel).unwrap().to_f64(), got);
}

#[test]
fn keys_refuse_mismatch_and_bad_sizes() {
    let a = small_keys();
    let b = hazmat::generate_keypair_any_size(&mut rng(9), 512).unwrap();
    let mut r = rng(5);
    let ca = a.public.encrypt(&int(1), None, &mut r).unwrap();
    let cb = b.public.encrypt(&int(1), None, &mut r).unwrap();
    assert_eq!(ca.add(&cb).unwrap_err(), Error::KeyMismatch);
    assert_eq!(b.private.decrypt(&ca).unwrap_err(), Error::KeyMismatch);
    assert_eq!(
        petri_paillier::generate_keypair(&mut r, 1024).unwrap_err(),
        Error::KeySize(1024)
    );
    let pk = &a.public;
    assert!(pk.ciphertext_from(&BigUint::from(0u8), 0).is_err());
    assert!(pk.ciphertext_from(pk.nsquare(), 0).is_err());
    assert!(pk.ciphertext_from(pk.n(), 0).is_err()); // shares a factor with n
    assert!(pk.ciphertext_from(&BigUint::from(2u8), 100_000).is_err());
}
