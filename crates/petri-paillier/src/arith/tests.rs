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

/// Every backend this CPU can run: the portable one always, IFMA where available.
fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Portable];
    if Backend::detect() != Backend::Portable {
        all.push(Backend::detect());
    }
    all
}

/// The same value forced into [0, m): an edge value picked by `pick` or `x mod m`.
fn operand(m: &BigUint, x: &BigUint, pick: u8) -> BigUint {
    match pick {
        0 => BigUint::default(),
        1 => BigUint::from(1u8) % m,
        2 => m - 1u8,
        _ => x % m,
    }
}

fn check_pow(m: &BigUint, base: &BigUint, exp: &BigUint) {
    let want = base.modpow(exp, m);
    for backend in backends() {
        let modulus = Modulus::with_backend(&to_limbs(m, 0), backend).expect("odd modulus");
        let k = modulus.len();
        let b = modulus.to_mont_wide(&to_limbs(base, 0));
        let e = to_limbs(exp, 1);
        let public = from_limbs(&modulus.leave_mont(&modulus.pow_public(&b, &e)));
        assert_eq!(public, want, "pow_public, {backend:?}");
        let secret = from_limbs(&modulus.leave_mont(&modulus.pow_secret(&b, &e, 64 * e.len())));
        assert_eq!(secret, want, "pow_secret, {backend:?}");
        assert_eq!(modulus.leave_mont(&b).len(), k);
    }
}

/// `a·b mod m` through Montgomery form with every backend, including the squaring path and
/// the dedicated `mul_into`/`sqr_into` entry points.
fn check_mul(m: &BigUint, a: &BigUint, b: &BigUint) {
    let want = (a * b) % m;
    let want_sq = (a * a) % m;
    for backend in backends() {
        let modulus = Modulus::with_backend(&to_limbs(m, 0), backend).expect("odd modulus");
        let k = modulus.len();
        let am = modulus.to_mont(&to_limbs(a, 0));
        let bm = modulus.to_mont(&to_limbs(b, 0));
        let got = from_limbs(&modulus.leave_mont(&modulus.mul(&am, &bm)));
        assert_eq!(got, want, "mul, {backend:?}");
        let (mut out, mut t) = (vec![0u64; k], vec![0u64; 2 * k + 1]);
        modulus.sqr_into(&am, &mut out, &mut t);
        assert_eq!(from_limbs(&modulus.leave_mont(&out)), want_sq, "sqr_into, {backend:?}");
        // The squaring gives exactly the product's Montgomery form.
        let mut product = vec![0u64; k];
        modulus.mul_into(&am, &am, &mut product, &mut t);
        assert_eq!(out, product, "sqr_into against mul_into, {backend:?}");
        modulus.mul_into(&am, &bm, &mut out, &mut t);
        assert_eq!(from_limbs(&modulus.leave_mont(&out)), want, "mul_into, {backend:?}");
        // A plain (non-Montgomery) operand times a Montgomery one gives a plain product.
        // (a < m, so the product is below 2m and one masked subtraction makes it canonical.)
        let mut plain = modulus.mul(&to_limbs(a, k), &bm);
        modulus.reduce_once(&mut plain);
        assert_eq!(from_limbs(&plain), want, "plain × Montgomery, {backend:?}");
    }
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
        pick_a in 0u8..6,
        pick_b in 0u8..6,
    ) {
        let m = odd_modulus(m);
        let a = operand(&m, &BigUint::from_bytes_le(&a), pick_a);
        let b = operand(&m, &BigUint::from_bytes_le(&b), pick_b);
        check_mul(&m, &a, &b);
    }

    /// Moduli of the sizes Paillier uses (p, p², n² at 1024 to 4096 bits), whose top limb is full
    /// or nearly empty, so that the IFMA radix has the least and the most slack.
    #[test]
    fn mul_matches_num_bigint_at_key_sizes(
        limbs in prop::sample::select(vec![8usize, 16, 24, 32, 48, 64, 96, 128]),
        top_full in any::<bool>(),
        seed in proptest::collection::vec(any::<u64>(), 128),
        a in proptest::collection::vec(any::<u64>(), 128),
        b in proptest::collection::vec(any::<u64>(), 128),
        pick_a in 0u8..6,
        pick_b in 0u8..6,
    ) {
        let mut m = seed[..limbs].to_vec();
        m[0] |= 1;
        m[limbs - 1] = if top_full { m[limbs - 1] | 1 << 63 } else { m[limbs - 1] % 7 + 1 };
        let m = from_limbs(&m);
        let a = operand(&m, &from_limbs(&a[..limbs]), pick_a);
        let b = operand(&m, &from_limbs(&b[..limbs]), pick_b);
        check_mul(&m, &a, &b);
    }

    #[test]
    fn pow_at_key_sizes(
        limbs in prop::sample::select(vec![16usize, 32, 64]),
        seed in proptest::collection::vec(any::<u64>(), 64),
        base in proptest::collection::vec(any::<u64>(), 64),
        exp in proptest::collection::vec(any::<u64>(), 1..5),
    ) {
        let mut m = seed[..limbs].to_vec();
        m[0] |= 1;
        m[limbs - 1] |= 1 << 63;
        check_pow(&from_limbs(&m), &from_limbs(&base[..limbs]), &from_limbs(&exp));
    }

    /// The paired power of a CRT decryption: moduli of one size (interleaved on IFMA) and of
    /// different sizes (one after the other).
    #[test]
    fn pow_secret_pair_matches_num_bigint(
        limbs in prop::sample::select(vec![(8usize, 8usize), (16, 16), (32, 32), (16, 24)]),
        seed in proptest::collection::vec(any::<u64>(), 64),
        bases in proptest::collection::vec(any::<u64>(), 64),
        exps in proptest::collection::vec(any::<u64>(), 8),
    ) {
        let (lp, lq) = limbs;
        let mut p = seed[..lp].to_vec();
        let mut q = seed[32..32 + lq].to_vec();
        p[0] |= 1;
        q[0] |= 1;
        p[lp - 1] |= 1 << 63;
        q[lq - 1] |= 1 << 62;
        let (p, q) = (from_limbs(&p), from_limbs(&q));
        let (bp, bq) = (from_limbs(&bases[..32]) % &p, from_limbs(&bases[32..]) % &q);
        let (ep, eq) = (&exps[..4], &exps[4..]);
        for backend in backends() {
            let mp = Modulus::with_backend(&to_limbs(&p, 0), backend).expect("odd");
            let mq = Modulus::with_backend(&to_limbs(&q, 0), backend).expect("odd");
            let (xp, xq) = mp.pow_secret_pair(
                &mp.to_mont(&to_limbs(&bp, 0)),
                ep,
                &mq,
                &mq.to_mont(&to_limbs(&bq, 0)),
                eq,
                256,
            );
            prop_assert_eq!(from_limbs(&mp.leave_mont(&xp)), bp.modpow(&from_limbs(ep), &p));
            prop_assert_eq!(from_limbs(&mq.leave_mont(&xq)), bq.modpow(&from_limbs(eq), &q));
        }
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

    /// Replaying the schedule on exponents (square = double, multiply by entry i = add 2i+1)
    /// gives the exponent back.
    #[test]
    fn sliding_window_schedule_is_the_exponent(exp in proptest::collection::vec(any::<u64>(), 1..6)) {
        let e = from_limbs(&exp);
        match sliding_window(&exp) {
            None => prop_assert_eq!(e, BigUint::default()),
            Some(window) => {
                let mut acc = BigUint::from(2 * window.first + 1);
                for step in &window.steps {
                    acc = match step {
                        None => acc * 2u8,
                        Some(i) => acc + BigUint::from(2 * i + 1),
                    };
                    prop_assert!(step.is_none_or(|i| i < 1 << (window.width - 1)));
                }
                prop_assert_eq!(acc, e);
            }
        }
    }

    #[test]
    fn fixed_window_digits_are_the_exponent(
        exp in proptest::collection::vec(any::<u64>(), 1..6),
        width in 1usize..8,
    ) {
        let bits = 64 * exp.len();
        let mut acc = BigUint::default();
        for w in (0..bits.div_ceil(width)).rev() {
            acc = (acc << width) + BigUint::from(fixed_window_digit(&exp, w, width));
        }
        prop_assert_eq!(acc, from_limbs(&exp));
    }
}

#[cfg(target_arch = "x86_64")]
proptest! {
    #[test]
    fn limbs_52_round_trip(x in proptest::collection::vec(any::<u64>(), 1..70)) {
        let mut x52 = vec![0u64; (64 * x.len()).div_ceil(52) + 1];
        ifma::to52(&x, &mut x52);
        prop_assert!(x52.iter().all(|&l| l < 1 << 52));
        let mut back = vec![0u64; x.len()];
        ifma::from52(&x52, &mut back);
        prop_assert_eq!(back, x);
    }
}

/// On a CPU with AVX-512 IFMA both backends run; their canonical results must agree on a
/// 4096-bit modulus (n² of a 2048-bit key) with an all-ones top limb.
#[test]
fn backends_agree_at_4096_bits() {
    let mut m: Vec<u64> = (0..64u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555)
        .collect();
    m[0] |= 1;
    m[63] = u64::MAX;
    let x: Vec<u64> = (0..64u64).map(|i| i.wrapping_mul(0xd1b5_4a32_d192_ed03)).collect();
    let e: Vec<u64> = (0..32u64).map(|i| i.wrapping_mul(0x8cb9_2ba7_2f3d_8dd7) | 1).collect();
    let mut results = Vec::new();
    for backend in backends() {
        let modulus = Modulus::with_backend(&m, backend).expect("odd");
        assert_eq!(modulus.backend(), backend);
        let xm = modulus.to_mont_wide(&x);
        let public = modulus.leave_mont(&modulus.pow_public(&xm, &e));
        let secret = modulus.leave_mont(&modulus.pow_secret(&xm, &e, 64 * e.len()));
        assert_eq!(public, secret);
        results.push(public);
    }
    let want = from_limbs(&x).modpow(&from_limbs(&e), &from_limbs(&m));
    for got in results {
        assert_eq!(from_limbs(&got), want);
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
    for backend in backends() {
        let modulus = Modulus::with_backend(&to_limbs(&m, 0), backend).expect("odd");
        assert_eq!(from_limbs(&modulus.reduce_slow(&to_limbs(&x, 0))), &x % &m);
        let wide = modulus.to_mont_wide(&to_limbs(&x, 0));
        assert_eq!(from_limbs(&modulus.leave_mont(&wide)), &x % &m);
    }
}

#[test]
fn even_or_unit_modulus_is_refused() {
    assert!(Modulus::new(&[4]).is_none());
    assert!(Modulus::new(&[1]).is_none());
    assert!(Modulus::new(&[0, 0]).is_none());
}
