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
