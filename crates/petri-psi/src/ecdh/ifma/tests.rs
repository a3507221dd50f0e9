//! The eight-lane arithmetic against num-bigint (field) and curve25519-dalek (group).
//!
//! These tests need a CPU with AVX-512 IFMA. On one without it each test returns early and says so
//! on stderr: the code under test cannot run there, and `mask_keys`/`remask` fall back to dalek.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use num_bigint::BigUint;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

use super::field::{self, F8, Mask};
use super::point::Ext;
use super::{Digits, Ifma, LANES, ristretto};

/// The backend, or `None` (with a note) on a CPU without IFMA.
fn ifma() -> Option<Ifma> {
    let v = Ifma::new();
    if v.is_none() {
        eprintln!("no AVX-512 IFMA on this CPU: the eight-lane backend is not tested here");
    }
    v
}

fn p() -> BigUint {
    (BigUint::from(1u8) << 255u32) - 19u32
}

fn big(b: &[u8; 32]) -> BigUint {
    let mut b = *b;
    b[31] &= 0x7f;
    BigUint::from_bytes_le(&b)
}

fn bytes(x: &BigUint) -> [u8; 32] {
    let mut out = [0u8; 32];
    let le = (x % p()).to_bytes_le();
    out[..le.len()].copy_from_slice(&le);
    out
}

fn unhex<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).expect("hex").try_into().expect("length")
}

/// Every field operation on eight lanes, as bytes.
struct FieldOut {
    add: [[u8; 32]; LANES],
    sub: [[u8; 32]; LANES],
    neg: [[u8; 32]; LANES],
    mul: [[u8; 32]; LANES],
    square: [[u8; 32]; LANES],
    mul_small: [[u8; 32]; LANES],
    pow2k: [[u8; 32]; LANES],
    invert: [[u8; 32]; LANES],
    ratio: (Mask, [[u8; 32]; LANES]),
    is_negative: Mask,
    is_zero: Mask,
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn field_ops(a: &[[u8; 32]; LANES], b: &[[u8; 32]; LANES], small: u64) -> FieldOut {
    let (x, y) = (F8::from_bytes(a), F8::from_bytes(b));
    let (ok, r) = F8::sqrt_ratio_i(&x, &y);
    FieldOut {
        add: x.add(&y).as_bytes(),
        sub: x.sub(&y).as_bytes(),
        neg: x.neg().as_bytes(),
        mul: x.mul(&y).as_bytes(),
        square: x.square().as_bytes(),
        mul_small: x.mul_small(small).as_bytes(),
        pow2k: x.pow2k(100).as_bytes(),
        invert: x.invert().as_bytes(),
        ratio: (ok, r.as_bytes()),
        is_negative: x.is_negative(),
        is_zero: x.is_zero(),
    }
}

/// RFC 9496 `SQRT_RATIO_M1` by the book, on big integers.
fn sqrt_ratio_ref(u: &BigUint, v: &BigUint) -> (bool, BigUint) {
    let p = p();
    let sqrt_m1 = big(&field::bytes_from_limbs(&field::SQRT_M1));
    let nonneg = |r: BigUint| if r.bit(0) { &p - r } else { r };
    if v % &p == BigUint::ZERO {
        return (u % &p == BigUint::ZERO, BigUint::ZERO);
    }
    let x = u * v.modpow(&(&p - 2u32), &p) % &p;
    // Square roots mod p = 5 (mod 8): x^((p+3)/8), times sqrt(−1) if that squares to −x.
    let root = |x: &BigUint| -> Option<BigUint> {
        let r = x.modpow(&((&p + 3u32) >> 3u32), &p);
        if &r * &r % &p == *x {
            Some(r)
        } else {
            let r = r * &sqrt_m1 % &p;
            (&r * &r % &p == *x).then_some(r)
        }
    };
    match root(&x) {
        Some(r) => (true, nonneg(r)),
        None => (
            false,
            nonneg(root(&(x * &sqrt_m1 % &p)).expect("i·x is a square when x is not")),
        ),
    }
}

fn check_field(a: [[u8; 32]; LANES], b: [[u8; 32]; LANES], small: u64) {
    let p = p();
    // SAFETY: the caller checked that the CPU has AVX-512F and IFMA.
    let out = unsafe { field_ops(&a, &b, small) };
    for i in 0..LANES {
        let (x, y) = (big(&a[i]), big(&b[i]));
        assert_eq!(out.add[i], bytes(&(&x + &y)), "add lane {i}");
        assert_eq!(out.sub[i], bytes(&(&x + &p * 2u32 - &y)), "sub lane {i}");
        assert_eq!(out.neg[i], bytes(&(&p * 2u32 - &x)), "neg lane {i}");
        assert_eq!(out.mul[i], bytes(&(&x * &y)), "mul lane {i}");
        assert_eq!(out.square[i], bytes(&(&x * &x)), "square lane {i}");
        assert_eq!(out.mul_small[i], bytes(&(&x * small)), "mul_small lane {i}");
        let e = BigUint::from(1u8) << 100u32;
        assert_eq!(out.pow2k[i], bytes(&x.modpow(&e, &p)), "pow2k lane {i}");
        assert_eq!(out.invert[i], bytes(&x.modpow(&(&p - 2u32), &p)), "invert lane {i}");
        let (ok, r) = sqrt_ratio_ref(&x, &y);
        assert_eq!(out.ratio.0 >> i & 1 == 1, ok, "sqrt_ratio_i mask lane {i}");
        assert_eq!(out.ratio.1[i], bytes(&r), "sqrt_ratio_i lane {i}");
        assert_eq!(out.is_negative >> i & 1 == 1, (&x % &p).bit(0), "is_negative lane {i}");
        assert_eq!(out.is_zero >> i & 1 == 1, &x % &p == BigUint::ZERO, "is_zero lane {i}");
    }
}

/// Values at the edges of the representation: 0, 1, p − 1, p, p + 1, 2^255 − 1 (not reduced),
/// and limbs of all ones.
fn edge_values() -> Vec<[u8; 32]> {
    let p = p();
    let raw = |x: BigUint| {
        let mut out = [0u8; 32];
        let le = x.to_bytes_le();
        out[..le.len()].copy_from_slice(&le);
        out
    };
    vec![
        [0; 32],
        raw(BigUint::from(1u8)),
        raw(&p - 1u32),
        raw(p.clone()),
        raw(&p + 1u32),
        raw((BigUint::from(1u8) << 255u32) - 1u32),
        raw((BigUint::from(1u8) << 208u32) - 1u32),
        raw(BigUint::from(19u8)),
        field::bytes_from_limbs(&field::SQRT_M1),
    ]
}

#[test]
fn field_edges() {
    if ifma().is_none() {
        return;
    }
    let edges = edge_values();
    for x in &edges {
        let mut a = [[0u8; 32]; LANES];
        let mut b = [[0u8; 32]; LANES];
        for (i, y) in edges.iter().cycle().take(LANES).enumerate() {
            a[i] = *x;
            b[i] = *y;
        }
        check_field(a, b, 121666);
        check_field(b, a, (1 << 40) - 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn field_matches_bigint(a in prop::array::uniform8(any::<[u8; 32]>()), b in prop::array::uniform8(any::<[u8; 32]>()), small in 0u64..1 << 40) {
        if ifma().is_some() {
            check_field(a, b, small);
        }
    }
}

#[test]
fn field_constants() {
    let p = p();
    let c = |l: [u64; 5]| big(&field::bytes_from_limbs(&l));
    let d = c(field::D);
    let minus_one = &p - 1u32;
    assert_eq!(&d * 121666u32 % &p, &p - 121665u32);
    assert_eq!(c(field::D2), &d * 2u32 % &p);
    assert_eq!(c(field::SQRT_M1).modpow(&2u32.into(), &p), minus_one);
    assert_eq!(c(field::ONE_MINUS_D_SQ), (&p + 1u32 - &d * &d % &p) % &p);
    assert_eq!(c(field::D_MINUS_ONE_SQ), (&d + &minus_one) * (&d + &minus_one) % &p);
    assert_eq!(
        c(field::SQRT_AD_MINUS_ONE).modpow(&2u32.into(), &p),
        (&minus_one * &d + &minus_one) % &p
    );
    let a_minus_d = (&minus_one + &p - &d) % &p;
    assert_eq!(
        c(field::INVSQRT_A_MINUS_D).modpow(&2u32.into(), &p) * a_minus_d % &p,
        BigUint::from(1u8)
    );
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn roundtrip(points: &[[u8; 32]; LANES]) -> ([[u8; 32]; LANES], Mask) {
    let (p, ok) = ristretto::decode(points);
    (ristretto::encode(&p), ok)
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn elligator_only(r: &[[u8; 32]; LANES]) -> [[u8; 32]; LANES] {
    ristretto::encode(&ristretto::elligator(&F8::from_bytes(r)))
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn sum(a: &[[u8; 32]; LANES], b: &[[u8; 32]; LANES]) -> [[u8; 32]; LANES] {
    let (a, _) = ristretto::decode(a);
    let (b, _) = ristretto::decode(b);
    ristretto::encode(&a.add(&b))
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn identity8() -> [[u8; 32]; LANES] {
    ristretto::encode(&Ext::identity())
}

fn lanes_of<T: Copy>(items: &[T]) -> impl Iterator<Item = [T; LANES]> + '_ {
    items.chunks(LANES).map(|c| std::array::from_fn(|i| c[i % c.len()]))
}

#[test]
fn decode_encode_small_multiples_and_random_points() {
    if ifma().is_none() {
        return;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut points: Vec<RistrettoPoint> = (0..16u64)
        .map(|k| Scalar::from(k) * RISTRETTO_BASEPOINT_POINT)
        .collect();
    points.extend((0..48).map(|_| RistrettoPoint::from_uniform_bytes(&rng.random())));
    let encodings: Vec<[u8; 32]> = points.iter().map(|p| p.compress().to_bytes()).collect();
    for lanes in lanes_of(&encodings) {
        // SAFETY: `ifma()` checked the CPU features.
        let (again, ok) = unsafe { roundtrip(&lanes) };
        assert_eq!(ok, 0xff);
        assert_eq!(again, lanes);
    }
    // SAFETY: as above.
    assert_eq!(unsafe { identity8() }, [[0u8; 32]; LANES]);
    let pairs: Vec<[u8; 32]> = points.iter().map(|p| (p + points[3]).compress().to_bytes()).collect();
    for (lanes, want) in lanes_of(&encodings).zip(lanes_of(&pairs)) {
        let threes = [points[3].compress().to_bytes(); LANES];
        // SAFETY: as above.
        assert_eq!(unsafe { sum(&lanes, &threes) }, want);
    }
}

/// RFC 9496 appendix A.2: encodings that must not decode.
const BAD_ENCODINGS: &[&str] = &[
    // Non-canonical field encodings.
    "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    // Negative field elements.
    "0100000000000000000000000000000000000000000000000000000000000000",
    "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20",
    "c34c4e1826e5d403b78e246e88aa051c36ccf0aafebffe137d148a2bf9104562",
    "c940e5a4404157cfb1628b108db051a8d439e1a421394ec4ebccb9ec92a8ac78",
    "47cfc5497c53dc8e61c91d17fd626ffb1c49e2bca94eed052281b510b1117a24",
    "f1c6165d33367351b0da8f6e4511010c68174a03b6581212c71c0e1d026c3c72",
    "87260f7a2f12495118360f02c26a470f450dadf34a413d21042b43b9d93e1309",
    // Non-square x².
    "26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
    "4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f",
    "de6a7b00deadc788eb6b6c8d20c0ae96c2f2019078fa604fee5b87d6e989ad7b",
    "bcab477be20861e01e4a0e295284146a510150d9817763caf1a6f4b422d67042",
    "2a292df7e32cababbd9de088d1d1abec9fc0440f637ed2fba145094dc14bea08",
    "f4a9e534fc0d216c44b218fa0c42d99635a0127ee2e53c712f70609649fdff22",
    "8268436f8c4126196cf64b3c7ddbda90746a378625f9813dd9b8457077256731",
    "2810e5cbc2cc4d4eece54f61c6f69758e289aa7ab440b3cbeaa21995c2f4232b",
    // Negative xy value.
    "3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e",
    "a45fdc55c76448c049a1ab33f17023edfb2be3581e9c7aade8a6125215e04220",
    "d483fe813c6ba647ebbfd3ec41adca1c6130c2beeee9d9bf065c8d151c5f396e",
    "8a2e1d30050198c65a54483123960ccc38aef6848e1ec8f5f780e8523769ba32",
    "32888462f8b486c68ad7dd9610be5192bbeaf3b443951ac1a8118419d9fa097b",
    "227142501b9d4355ccba290404bde41575b037693cef1f438c47f8fbf35d1165",
    "5c37cc491da847cfeb9281d407efc41e15144c876e0170b499a96a22ed31e01e",
    "445425117cb8c90edcbc7c1cc0e74f747f2c1efa5630a967c64f287792a48a4b",
    // s = −1, which makes y = 0.
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

#[test]
fn bad_encodings_are_refused_in_their_lane() {
    if ifma().is_none() {
        return;
    }
    let good = (Scalar::from(5u8) * RISTRETTO_BASEPOINT_POINT).compress().to_bytes();
    for (n, bad) in BAD_ENCODINGS.iter().enumerate() {
        let bad: [u8; 32] = unhex(bad);
        assert!(
            CompressedRistretto(bad).decompress().is_none(),
            "dalek accepts {}",
            hex::encode(bad)
        );
        let lane = n % LANES;
        let mut lanes = [good; LANES];
        lanes[lane] = bad;
        // SAFETY: `ifma()` checked the CPU features.
        let (_, ok) = unsafe { roundtrip(&lanes) };
        assert_eq!(ok, !(1u8 << lane), "{}", hex::encode(bad));
    }
    // Random strings: the lanes that decode are those dalek decodes.
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    for _ in 0..64 {
        let mut lanes: [[u8; 32]; LANES] = rng.random();
        lanes[0][31] &= 0x7f;
        lanes[1] = (Scalar::from(rng.random::<u64>()) * RISTRETTO_BASEPOINT_POINT)
            .compress()
            .to_bytes();
        let want = lanes.iter().enumerate().fold(0u8, |m, (i, l)| {
            m | (u8::from(CompressedRistretto(*l).decompress().is_some()) << i)
        });
        // SAFETY: as above.
        let (again, ok) = unsafe { roundtrip(&lanes) };
        assert_eq!(ok, want);
        for i in (0..LANES).filter(|i| ok >> i & 1 == 1) {
            assert_eq!(again[i], lanes[i]);
        }
    }
}

/// RFC 9496 appendix A.3: element derivation from 64 uniform bytes.
const FROM_UNIFORM: &[(&str, &str)] = &[
    (
        "5d1be09e3d0c82fc538112490e35701979d99e06ca3e2b5b54bffe8b4dc772c14d98b696a1bbfb5ca32c436cc61c16563790306c79eaca7705668b47dffe5bb6",
        "3066f82a1a747d45120d1740f14358531a8f04bbffe6a819f86dfe50f44a0a46",
    ),
    (
        "f116b34b8f17ceb56e8732a60d913dd10cce47a6d53bee9204be8b44f6678b270102a56902e2488c46120e9276cfe54638286b9e4b3cdb470b542d46c2068d38",
        "f26e5b6f7d362d2d2a94c5d0e7602cb4773c95a2e5c31a64f133189fa76ed61b",
    ),
    (
        "8422e1bbdaab52938b81fd602effb6f89110e1e57208ad12d9ad767e2e25510c27140775f9337088b982d83d7fcf0b2fa1edffe51952cbe7365e95c86eaf325c",
        "006ccd2a9e6867e6a2c5cea83d3302cc9de128dd2a9a57dd8ee7b9d7ffe02826",
    ),
    (
        "ac22415129b61427bf464e17baee8db65940c233b98afce8d17c57beeb7876c2150d15af1cb1fb824bbd14955f2b57d08d388aab431a391cfc33d5bafb5dbbaf",
        "f8f0c87cf237953c5890aec3998169005dae3eca1fbb04548c635953c817f92a",
    ),
    (
        "165d697a1ef3d5cf3c38565beefcf88c0f282b8e7dbd28544c483432f1cec7675debea8ebb4e5fe7d6f6e5db15f15587ac4d4d4a1de7191e0c1ca6664abcc413",
        "ae81e7dedf20a497e10c304a765c1767a42d6e06029758d2d7e8ef7cc4c41179",
    ),
    (
        "a836e6c9a9ca9f1e8d486273ad56a78c70cf18f0ce10abb1c7172ddd605d7fd2979854f47ae1ccf204a33102095b4200e5befc0465accc263175485f0e17ea5c",
        "e2705652ff9f5e44d3e841bf1c251cf7dddb77d140870d1ab2ed64f1a9ce8628",
    ),
    (
        "2cdc11eaeb95daf01189417cdddbf95952993aa9cb9c640eb5058d09702c74622c9965a697a3b345ec24ee56335b556e677b30e6f90ac77d781064f866a3c982",
        "80bd07262511cdde4863f8a7434cef696750681cb9510eea557088f76d9e5065",
    ),
    (
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff1200000000000000000000000000000000000000000000000000000000000000",
        "304282791023b73128d277bdcb5c7746ef2eac08dde9f2983379cb8e5ef0517f",
    ),
    (
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "304282791023b73128d277bdcb5c7746ef2eac08dde9f2983379cb8e5ef0517f",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000080ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "304282791023b73128d277bdcb5c7746ef2eac08dde9f2983379cb8e5ef0517f",
    ),
    (
        "00000000000000000000000000000000000000000000000000000000000000001200000000000000000000000000000000000000000000000000000000000080",
        "304282791023b73128d277bdcb5c7746ef2eac08dde9f2983379cb8e5ef0517f",
    ),
];

#[target_feature(enable = "avx512f,avx512ifma")]
fn hash8(uniform: &[[u8; 64]; LANES]) -> [[u8; 32]; LANES] {
    ristretto::encode(&ristretto::from_uniform_bytes(uniform))
}

#[test]
fn from_uniform_bytes_matches_rfc_vectors_and_dalek() {
    if ifma().is_none() {
        return;
    }
    let inputs: Vec<[u8; 64]> = FROM_UNIFORM.iter().map(|(i, _)| unhex(i)).collect();
    let wants: Vec<[u8; 32]> = FROM_UNIFORM.iter().map(|(_, o)| unhex(o)).collect();
    for (lanes, want) in lanes_of(&inputs).zip(lanes_of(&wants)) {
        // SAFETY: `ifma()` checked the CPU features.
        assert_eq!(unsafe { hash8(&lanes) }, want);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for _ in 0..32 {
        let lanes: [[u8; 64]; LANES] = std::array::from_fn(|_| {
            let mut u = [0u8; 64];
            rng.fill(&mut u[..]);
            u
        });
        let want = lanes.map(|u| RistrettoPoint::from_uniform_bytes(&u).compress().to_bytes());
        // SAFETY: as above.
        assert_eq!(unsafe { hash8(&lanes) }, want);
        // One Elligator map alone: dalek's from_uniform_bytes of (r, r') is map(r) + map(r').
        let halves: [[u8; 32]; LANES] = lanes.map(|u| u[..32].try_into().expect("32 bytes"));
        let doubled = lanes.map(|u| {
            let mut w = [0u8; 64];
            w[..32].copy_from_slice(&u[..32]);
            w[32..].copy_from_slice(&u[..32]);
            RistrettoPoint::from_uniform_bytes(&w)
        });
        // SAFETY: as above.
        let single = unsafe { elligator_only(&halves) };
        for (s, d) in single.iter().zip(doubled) {
            let s = CompressedRistretto(*s).decompress().expect("a point");
            assert_eq!(s + s, d);
        }
    }
}

/// `mask` and `remask` (three groups of eight, so the batch inversion spans groups) against
/// dalek's `a·P`, compressed.
fn check_scalar_mult(v: Ifma, a: Scalar, seed: u64) {
    let half = Digits::new(&(a * Scalar::from(2u8).invert()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let uniform: Vec<[[u8; 64]; LANES]> = (0..3)
        .map(|_| {
            std::array::from_fn(|_| {
                let mut u = [0u8; 64];
                rng.fill(&mut u[..]);
                u
            })
        })
        .collect();
    let points: Vec<[RistrettoPoint; LANES]> = uniform
        .iter()
        .map(|g| g.map(|u| RistrettoPoint::from_uniform_bytes(&u)))
        .collect();
    let want: Vec<[[u8; 32]; LANES]> = points
        .iter()
        .map(|g| g.map(|p| (a * p).compress().to_bytes()))
        .collect();
    assert_eq!(v.mask(&half, &uniform), want, "mask with {a:?}");
    let encoded: Vec<[[u8; 32]; LANES]> = points.iter().map(|g| g.map(|p| p.compress().to_bytes())).collect();
    let (got, ok) = v.remask(&half, &encoded);
    assert_eq!(ok, vec![0xff; 3]);
    assert_eq!(got, want, "remask with {a:?}");
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn mul_and_encode(digits: &[i8; 64], points: &[[u8; 32]; LANES]) -> [[u8; 32]; LANES] {
    ristretto::encode(&ristretto::decode(points).0.mul_shared(digits))
}

/// The plain RFC encoding after a multiplication by the whole scalar gives the same bytes as
/// dalek (the protocol multiplies by a/2 and doubles while encoding).
#[test]
fn scalar_mult_then_plain_encode() {
    if ifma().is_none() {
        return;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    for _ in 0..4 {
        let a = Scalar::from_bytes_mod_order(rng.random());
        let points: [RistrettoPoint; LANES] = std::array::from_fn(|_| {
            RistrettoPoint::from_uniform_bytes(&{
                let mut u = [0u8; 64];
                rng.fill(&mut u[..]);
                u
            })
        });
        let want = points.map(|p| (a * p).compress().to_bytes());
        // SAFETY: `ifma()` checked the CPU features.
        let got = unsafe { mul_and_encode(&Digits::new(&a).0, &points.map(|p| p.compress().to_bytes())) };
        assert_eq!(got, want);
    }
}

#[test]
fn scalar_mult_edge_scalars() {
    let Some(v) = ifma() else { return };
    let minus_one = -Scalar::ONE;
    for (seed, a) in [
        Scalar::ZERO,
        Scalar::ONE,
        Scalar::from(8u8),
        Scalar::from(16u8),
        minus_one,
        minus_one - Scalar::from(8u8),
    ]
    .into_iter()
    .enumerate()
    {
        check_scalar_mult(v, a, seed as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn scalar_mult_matches_dalek(wide in prop::array::uniform32(any::<u8>()), seed in any::<u64>()) {
        if let Some(v) = ifma() {
            check_scalar_mult(v, Scalar::from_bytes_mod_order(wide), seed);
        }
    }
}
