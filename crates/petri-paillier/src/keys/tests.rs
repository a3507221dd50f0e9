use num_bigint::BigUint;
use proptest::prelude::*;

use super::*;

proptest! {
    /// The division-free residues of trial division agree with num-bigint for every small prime,
    /// on random candidates and on edge values (0, all ones).
    #[test]
    fn small_prime_residues_match_num_bigint(
        x in proptest::collection::vec(any::<u64>(), 1..70),
        edge in 0u8..3,
    ) {
        let x = match edge {
            0 => vec![0u64; x.len()],
            1 => vec![u64::MAX; x.len()],
            _ => x,
        };
        let big = from_limbs(&x);
        for sp in small_primes() {
            prop_assert_eq!(BigUint::from(sp.residue(&x)), &big % sp.p);
        }
    }
}

#[test]
fn small_primes_are_the_odd_primes_below_20000() {
    let primes = small_primes();
    assert_eq!(primes.len(), 2261);
    assert_eq!((primes[0].p, primes[primes.len() - 1].p), (3, 19_997));
    for sp in primes {
        for x in [0u64, 1, sp.p - 1, sp.p, sp.p + 1, u64::from(u32::MAX)] {
            assert_eq!(sp.rem(x), x % sp.p);
        }
        for x in [0u64, 1, sp.p, (1 << 53) - 1, (1 << 52) + 12_345] {
            assert_eq!(sp.rem_wide(x), x % sp.p);
        }
    }
}

/// Key generation (a seeded search), encryption with a given and with a drawn r, and decryption
/// give the same numbers on the portable backend as on the one this CPU picks (IFMA where the
/// CPU has it), so either backend interoperates with the other and with phe.
#[test]
fn backends_give_the_same_keys_and_ciphertexts() {
    use rand::SeedableRng;
    let run = || {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let keys = generate_any_size(&mut rng, 1024).expect("key generation");
        let m = BigUint::from(123_456_789u64);
        let r = keys.public.n() - 12_345u32;
        let given = crate::hazmat::raw_encrypt(&keys.public, &m, Some(&r), &mut rng).expect("encrypt");
        let drawn = crate::hazmat::raw_encrypt(&keys.public, &m, None, &mut rng).expect("encrypt");
        let decrypted = [&given, &drawn].map(|c| crate::hazmat::raw_decrypt(&keys.private, c).expect("decrypt"));
        (
            keys.public.n().clone(),
            keys.private.p_be().to_vec(),
            given,
            drawn,
            decrypted,
        )
    };
    let detected = run();
    let portable = crate::arith::with_portable(|| {
        assert_eq!(Modulus::new(&[7]).expect("odd").backend(), arith::Backend::Portable);
        run()
    });
    assert_eq!(
        detected.4,
        [BigUint::from(123_456_789u64), BigUint::from(123_456_789u64)]
    );
    assert!(detected == portable, "the backends disagree");
}
