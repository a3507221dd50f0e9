use num_bigint::BigUint;
use proptest::prelude::*;

use super::*;

fn odd_modulus(bytes: Vec<u8>) -> BigUint {
    let mut m = BigUint::from_bytes_le(&bytes);
    m |= BigUint::from(1u8);
    if m == BigUint::from(1u8) {
        m = BigUint::from(3u8);
    }
    m
}

fn check_pow(m: &BigUint, base: &BigUint, exp: &BigUint) {
    let modulus = Modulus::new(&to_limbs(m, 0)).expect("odd modulus");
    let k = modulus.len();
    let want = base.modpow(exp, m);
    let b = modulus.to_mont_wide(&to_limbs(base, 0));
    let e = to_limbs(exp, 1);
    let public = from_limbs(&modulus.leave_mont(&modulus.pow_public(&b, &e)));
    assert_eq!(public, want, "pow_public");
    let secret = from_limbs(&modulus.leave_mont(&modulus.pow_secret(&b, &e, 64 * e.len())));
    assert_eq!(secret, want, "pow_secret");
    assert_eq!(modulus.leave_mont(&b).len(), k);
}

proptest! {
    #[test]
    fn pow_matches_num_bigint(
        m in proptest::collection::vec(any::<u8>(), 1..80),
        base in proptest::collection::vec(any::<u8>(), 0..170),
        exp in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let m = odd_modulus(m);
        check_pow(&m, &BigUint::from_bytes_le(&base), &BigUint::from_bytes_le(&exp));
    }

    #[test]
    fn mul_matches_num_bigint(
        m in proptest::collection::vec(any::<u8>(), 1..80),
        a in proptest::collection::vec(any::<u8>(), 0..80),
        b in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let m = odd_modulus(m);
        let modulus = Modulus::new(&to_limbs(&m, 0)).expect("odd modulus");
        let a = BigUint::from_bytes_le(&a) % &m;
        let b = BigUint::from_bytes_le(&b) % &m;
        let am = modulus.to_mont(&to_limbs(&a, 0));
        let bm = modulus.to_mont(&to_limbs(&b, 0));
        let got = from_limbs(&modulus.leave_mont(&modulus.mul(&am, &bm)));
        prop_assert_eq!(got, (&a * &b) % &m);
    }

    #[test]
    fn two_adic_inverse(x in proptest::collection::vec(any::<u64>(), 1..20)) {
        let mut x = x;
        x[0] |= 1;
        let inv = inv_2adic(&x, x.len());
        let prod = mul_low(&x, &inv, x.len());
        prop_assert_eq!(prod[0], 1);
        prop_assert!(prod[1..].iter().all(|&l| l == 0));
    }
}

#[test]
fn reduce_slow_and_wide_agree() {
    let m = BigUint::parse_bytes(b"f123456789abcdef0123456789abcdef1", 16).expect("hex");
    let x = BigUint::parse_bytes(
        b"123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123",
        16,
    )
    .expect("hex");
    let modulus = Modulus::new(&to_limbs(&m, 0)).expect("odd");
    assert_eq!(from_limbs(&modulus.reduce_slow(&to_limbs(&x, 0))), &x % &m);
    let wide = modulus.to_mont_wide(&to_limbs(&x, 0));
    assert_eq!(from_limbs(&modulus.leave_mont(&wide)), &x % &m);
}

#[test]
fn even_or_unit_modulus_is_refused() {
    assert!(Modulus::new(&[4]).is_none());
    assert!(Modulus::new(&[1]).is_none());
    assert!(Modulus::new(&[0, 0]).is_none());
}
