//! Every protocol against its plaintext meaning, three parties on threads.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use crate::fixed::{decode, encode};
use crate::transport::{LocalTransport, MessageLog, Recording, local};
use crate::*;

type P = Party<LocalTransport>;

/// Runs `f` as all three parties and returns their results in party order.
fn run<R: Send>(f: impl Fn(&mut P) -> Result<R> + Sync) -> Vec<R> {
    let transports = local(Duration::from_secs(20));
    std::thread::scope(|s| {
        let handles: Vec<_> = transports
            .into_iter()
            .enumerate()
            .map(|(id, t)| {
                let f = &f;
                s.spawn(move || {
                    let mut party = Party::new(id, t)?;
                    f(&mut party)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("party thread panicked").expect("party failed"))
            .collect()
    })
}

fn open(shares: &[AShare]) -> Vec<u64> {
    reconstruct(&[Some(&shares[0]), Some(&shares[1]), Some(&shares[2])]).expect("consistent shares")
}

fn open_bits(shares: &[BShare], n: usize) -> Vec<bool> {
    let words = reconstruct_bits(&[Some(&shares[0]), Some(&shares[1]), Some(&shares[2])]).expect("consistent");
    (0..n).map(|k| (words[k / 64] >> (k % 64)) & 1 == 1).collect()
}

/// Data-owner sharing: party i's view of `values`.
fn shared(values: &[u64]) -> Vec<AShare> {
    split(values)
}

fn edge_u64() -> impl Strategy<Value = u64> + Clone {
    prop_oneof![
        Just(0u64),
        Just(1u64),
        Just(u64::MAX),
        Just(i64::MIN as u64),
        Just(i64::MAX as u64),
        any::<u64>(),
        any::<u64>(),
    ]
}

/// i64 values with |x| < 2^62, including the bounds, so that differences fit in i64.
fn edge_i62() -> impl Strategy<Value = i64> + Clone {
    prop_oneof![
        Just(0i64),
        Just(-1i64),
        Just(1i64),
        Just((1i64 << 62) - 1),
        Just(-(1i64 << 62) + 1),
        -(1i64 << 62) + 1..(1i64 << 62),
        -1000i64..1000,
    ]
}

fn pairs<S: Strategy + Clone>(s: S, max: usize) -> impl Strategy<Value = (Vec<S::Value>, Vec<S::Value>)>
where
    S::Value: Clone + std::fmt::Debug,
{
    (1..max).prop_flat_map(move |n| (prop::collection::vec(s.clone(), n), prop::collection::vec(s.clone(), n)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn matrix_vector_products(rows in 1usize..5, y in prop::collection::vec(edge_u64(), 1..30), seed in any::<u64>()) {
        let len = y.len();
        let m: Vec<u64> = (0..rows * len).map(|k| (k as u64).wrapping_mul(seed | 1).rotate_left(7)).collect();
        let (ms, ys) = (shared(&m), shared(&y));
        let out = run(|p| p.matvec(&ms[p.id()], &ys[p.id()]));
        let want: Vec<u64> = (0..rows)
            .map(|r| (0..len).fold(0u64, |s, k| s.wrapping_add(m[r * len + k].wrapping_mul(y[k]))))
            .collect();
        prop_assert_eq!(open(&out), want);
    }

    #[test]
    fn linear_operations_and_products((x, y) in pairs(edge_u64(), 40), c in edge_u64()) {
        let (xs, ys) = (shared(&x), shared(&y));
        let out = run(|p| {
            let (sx, sy) = (&xs[p.id()], &ys[p.id()]);
            let sum = sx.add(sy)?;
            let diff = sx.sub(sy)?;
            let scaled = sx.mul_public(c);
            let shifted = sx.add_public(p.id(), &y)?;
            let prod = p.mul(sx, sy)?;
            let dot = p.dot(sx, sy)?;
            let neg = sx.neg();
            Ok(vec![sum, diff, scaled, shifted, prod, dot, neg, sx.sum()])
        });
        let col = |i: usize| open(&out.iter().map(|o| o[i].clone()).collect::<Vec<_>>());
        let n = x.len();
        prop_assert_eq!(col(0), (0..n).map(|k| x[k].wrapping_add(y[k])).collect::<Vec<_>>());
        prop_assert_eq!(col(1), (0..n).map(|k| x[k].wrapping_sub(y[k])).collect::<Vec<_>>());
        prop_assert_eq!(col(2), (0..n).map(|k| x[k].wrapping_mul(c)).collect::<Vec<_>>());
        prop_assert_eq!(col(3), (0..n).map(|k| x[k].wrapping_add(y[k])).collect::<Vec<_>>());
        prop_assert_eq!(col(4), (0..n).map(|k| x[k].wrapping_mul(y[k])).collect::<Vec<_>>());
        prop_assert_eq!(col(5), vec![(0..n).fold(0u64, |s, k| s.wrapping_add(x[k].wrapping_mul(y[k])))]);
        prop_assert_eq!(col(6), (0..n).map(|k| x[k].wrapping_neg()).collect::<Vec<_>>());
        prop_assert_eq!(col(7), vec![x.iter().fold(0u64, |s, v| s.wrapping_add(*v))]);
    }

    #[test]
    fn input_and_reveal(x in prop::collection::vec(edge_u64(), 1..30), owner in 0usize..3, to in 0usize..3) {
        let n = x.len();
        let out = run(|p| {
            let s = p.input(owner, (p.id() == owner).then_some(&x[..]), n)?;
            let all = p.reveal(&s)?;
            let one = p.reveal_to(&s, to)?;
            let bits = p.input_bool(owner, (p.id() == owner).then_some(&x[..]), n)?;
            let bits_all = p.reveal_bool(&bits)?;
            let bits_one = p.reveal_bool_to(&bits, to)?;
            Ok((all, one, bits_all, bits_one))
        });
        for (i, (all, one, bits_all, bits_one)) in out.into_iter().enumerate() {
            prop_assert_eq!(&all, &x);
            prop_assert_eq!(&bits_all, &x);
            if i == to {
                prop_assert_eq!(one.as_ref(), Some(&x));
                prop_assert_eq!(bits_one.as_ref(), Some(&x));
            } else {
                prop_assert!(one.is_none() && bits_one.is_none());
            }
        }
    }

    #[test]
    fn conversions_between_arithmetic_and_boolean((x, y) in pairs(edge_u64(), 70)) {
        let xs = shared(&x);
        let n = x.len();
        let out = run(|p| {
            let b = p.a2b(&xs[p.id()])?;
            let back = p.b2a(&b)?;
            let yb = p.input_bool(2, (p.id() == 2).then_some(&y[..]), n)?;
            let ya = p.b2a(&yb)?;
            let sum = p.add_bool(&b, &yb)?;
            let and = p.and(&b, &yb)?;
            Ok((b, back, ya, sum, and))
        });
        let b: Vec<BShare> = out.iter().map(|o| o.0.clone()).collect();
        prop_assert_eq!(reconstruct_bits(&[Some(&b[0]), Some(&b[1]), Some(&b[2])]).unwrap(), x.clone());
        prop_assert_eq!(open(&out.iter().map(|o| o.1.clone()).collect::<Vec<_>>()), x.clone());
        prop_assert_eq!(open(&out.iter().map(|o| o.2.clone()).collect::<Vec<_>>()), y.clone());
        let s: Vec<BShare> = out.iter().map(|o| o.3.clone()).collect();
        prop_assert_eq!(
            reconstruct_bits(&[Some(&s[0]), Some(&s[1]), Some(&s[2])]).unwrap(),
            (0..n).map(|k| x[k].wrapping_add(y[k])).collect::<Vec<_>>()
        );
        let a: Vec<BShare> = out.iter().map(|o| o.4.clone()).collect();
        prop_assert_eq!(
            reconstruct_bits(&[Some(&a[0]), Some(&a[1]), Some(&a[2])]).unwrap(),
            (0..n).map(|k| x[k] & y[k]).collect::<Vec<_>>()
        );
    }

    #[test]
    fn comparisons((x, y) in pairs(edge_i62(), 150), same in prop::collection::vec(any::<bool>(), 150)) {
        // Some pairs equal, to exercise equality both ways.
        let n = x.len();
        let y: Vec<i64> = (0..n).map(|k| if same[k] { x[k] } else { y[k] }).collect();
        let xu: Vec<u64> = x.iter().map(|v| *v as u64).collect();
        let yu: Vec<u64> = y.iter().map(|v| *v as u64).collect();
        let (xs, ys) = (shared(&xu), shared(&yu));
        let out = run(|p| {
            let (sx, sy) = (&xs[p.id()], &ys[p.id()]);
            let lt = p.lt(sx, sy)?;
            let ltz = p.ltz(sx)?;
            let eq = p.eq(sx, sy)?;
            let lt_arith = p.bit2a(&lt, n)?;
            Ok((lt, ltz, eq, lt_arith))
        });
        prop_assert_eq!(open_bits(&out.iter().map(|o| o.0.clone()).collect::<Vec<_>>(), n),
            (0..n).map(|k| x[k] < y[k]).collect::<Vec<_>>());
        prop_assert_eq!(open_bits(&out.iter().map(|o| o.1.clone()).collect::<Vec<_>>(), n),
            (0..n).map(|k| x[k] < 0).collect::<Vec<_>>());
        prop_assert_eq!(open_bits(&out.iter().map(|o| o.2.clone()).collect::<Vec<_>>(), n),
            (0..n).map(|k| x[k] == y[k]).collect::<Vec<_>>());
        prop_assert_eq!(open(&out.iter().map(|o| o.3.clone()).collect::<Vec<_>>()),
            (0..n).map(|k| u64::from(x[k] < y[k])).collect::<Vec<_>>());
    }

    #[test]
    fn equality_on_full_width_values(x in prop::collection::vec(edge_u64(), 1..40)) {
        let mut y = x.clone();
        if y.len() > 1 { y[0] = y[0].wrapping_add(1u64 << 63); }
        let (xs, ys) = (shared(&x), shared(&y));
        let n = x.len();
        let out = run(|p| p.eq(&xs[p.id()], &ys[p.id()]));
        prop_assert_eq!(open_bits(&out, n), (0..n).map(|k| x[k] == y[k]).collect::<Vec<_>>());
    }

    #[test]
    fn truncation_is_an_exact_arithmetic_shift(x in prop::collection::vec(edge_u64(), 1..80), d in 1u32..64) {
        let xs = shared(&x);
        let out = run(|p| p.trunc(&xs[p.id()], d));
        prop_assert_eq!(open(&out), x.iter().map(|v| ((*v as i64) >> d) as u64).collect::<Vec<_>>());
    }

    #[test]
    fn fixed_point_products_including_negatives(
        (a, b) in pairs(-300.0f64..300.0, 40),
        frac in prop_oneof![Just(16u32), Just(8u32), Just(20u32)],
    ) {
        let ea: Vec<u64> = a.iter().map(|v| encode(*v, frac).unwrap()).collect();
        let eb: Vec<u64> = b.iter().map(|v| encode(*v, frac).unwrap()).collect();
        let (xs, ys) = (shared(&ea), shared(&eb));
        let out = run(|p| {
            let prod = p.mul_fixed(&xs[p.id()], &ys[p.id()], frac)?;
            let dot = p.dot_fixed(&xs[p.id()], &ys[p.id()], frac)?;
            Ok((prod, dot))
        });
        let prod = open(&out.iter().map(|o| o.0.clone()).collect::<Vec<_>>());
        for k in 0..a.len() {
            // Exactly the floor of the product of the encodings.
            let exact = ((ea[k] as i64 as i128 * eb[k] as i64 as i128) >> frac) as i64;
            prop_assert_eq!(prod[k] as i64, exact);
            let tolerance = (a[k].abs() + b[k].abs() + 1.0) / (1u64 << frac) as f64;
            prop_assert!((decode(prod[k], frac) - a[k] * b[k]).abs() <= tolerance);
        }
        let dot = open(&out.iter().map(|o| o.1.clone()).collect::<Vec<_>>());
        let exact: i128 = (0..a.len()).map(|k| ea[k] as i64 as i128 * eb[k] as i64 as i128).sum();
        prop_assert_eq!(dot[0] as i64, (exact >> frac) as i64);
    }

    #[test]
    fn shuffle_permutes_all_columns_alike(x in prop::collection::vec(any::<u64>(), 1..60)) {
        let tags: Vec<u64> = (0..x.len() as u64).collect();
        let (xs, ts) = (shared(&x), shared(&tags));
        let out = run(|p| p.shuffle(&[&xs[p.id()], &ts[p.id()]]));
        let sx = open(&out.iter().map(|o| o[0].clone()).collect::<Vec<_>>());
        let st = open(&out.iter().map(|o| o[1].clone()).collect::<Vec<_>>());
        let mut seen = vec![false; x.len()];
        for (v, t) in sx.iter().zip(&st) {
            prop_assert!(!seen[*t as usize]);
            seen[*t as usize] = true;
            prop_assert_eq!(*v, x[*t as usize]);
        }
    }

    #[test]
    fn sort_median_and_top_k_match_plaintext(
        x in prop::collection::vec(prop_oneof![Just(0u32), Just(u32::MAX), Just(7u32), any::<u32>()], 1..120),
        k in 1usize..10,
    ) {
        let xu: Vec<u64> = x.iter().map(|v| u64::from(*v)).collect();
        let xs = shared(&xu);
        let k = k.min(x.len());
        let out = run(|p| {
            let s = p.sort(&xs[p.id()], 32)?;
            let m = p.median(&xs[p.id()], 32)?;
            let t = p.top_k(&xs[p.id()], k, 32)?;
            Ok((s, m, t))
        });
        let mut sorted = xu.clone();
        sorted.sort_unstable();
        prop_assert_eq!(open(&out.iter().map(|o| o.0.clone()).collect::<Vec<_>>()), sorted.clone());
        prop_assert_eq!(open(&out.iter().map(|o| o.1.clone()).collect::<Vec<_>>()), vec![sorted[(x.len() - 1) / 2]]);
        let mut top = sorted.clone();
        top.reverse();
        top.truncate(k);
        prop_assert_eq!(open(&out.iter().map(|o| o.2.clone()).collect::<Vec<_>>()), top);
    }

    #[test]
    fn sorting_signed_values(x in prop::collection::vec(prop_oneof![Just(i32::MIN), Just(i32::MAX), Just(-1i32), any::<i32>()], 2..80)) {
        let xu: Vec<u64> = x.iter().map(|v| i64::from(*v) as u64).collect();
        let xs = shared(&xu);
        let out = run(|p| p.sort(&xs[p.id()], 32));
        let mut sorted = x.clone();
        sorted.sort_unstable();
        prop_assert_eq!(open(&out), sorted.iter().map(|v| i64::from(*v) as u64).collect::<Vec<_>>());
    }
}

#[test]
fn median_matches_the_seed_example() {
    // The seed's median example: a permutation of 0..1023; the lower median is 511.
    let mut values: Vec<u64> = (0..1024).collect();
    let perm = crate::shuffle::permutation(
        &(0..1024u64)
            .map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect::<Vec<_>>(),
    );
    values = perm.iter().map(|i| values[*i]).collect();
    let xs = shared(&values);
    let out = run(|p| {
        let m = p.median(&xs[p.id()], 32)?;
        p.reveal_to(&m, 1)
    });
    assert_eq!(out[1], Some(vec![511]));
    assert!(out[0].is_none() && out[2].is_none());
}

#[test]
fn one_multiplication_round_sends_one_element_per_party() {
    let n = 1000;
    let xs = shared(&vec![3; n]);
    let out = run(|p| {
        let before = p.stats();
        p.mul(&xs[p.id()], &xs[p.id()])?;
        let mul = p.stats();
        p.dot(&xs[p.id()], &xs[p.id()])?;
        let dot = p.stats();
        Ok((before, mul, dot))
    });
    for (before, mul, dot) in out {
        assert_eq!(mul.rounds - before.rounds, 1);
        assert_eq!(mul.bytes_sent - before.bytes_sent, 8 * n as u64);
        assert_eq!(dot.bytes_sent - mul.bytes_sent, 8, "a dot product costs one element");
    }
}

/// Every byte a party receives, as aligned 64-bit words, must differ from every input value.
#[test]
fn received_messages_contain_no_plaintext_input() {
    let n = 300;
    let secret: Vec<u64> = (0..n).map(|_| rand::random::<u64>() >> 33).collect(); // u31 values
    let other: Vec<u64> = (0..n).map(|_| rand::random::<u64>() >> 33).collect();
    let xs = shared(&secret);
    let logs: Vec<MessageLog> = (0..3).map(|_| Arc::default()).collect();
    let transports: Vec<Recording<LocalTransport>> = local(Duration::from_secs(20))
        .into_iter()
        .zip(&logs)
        .map(|(t, log)| Recording::new(t, log.clone()))
        .collect();
    std::thread::scope(|s| {
        for (id, t) in transports.into_iter().enumerate() {
            let (xs, other) = (&xs, &other);
            s.spawn(move || {
                let mut p = Party::new(id, t).unwrap();
                let x = &xs[id];
                // Party 0 inputs `other` itself; the others must not see it either.
                let y = p.input(0, (id == 0).then_some(&other[..]), n).unwrap();
                let prod = p.mul(x, &y).unwrap();
                p.lt(x, &y).unwrap();
                p.eq(x, &y).unwrap();
                p.a2b(&prod).unwrap();
                p.trunc(&prod, 8).unwrap();
                p.sort(x, 32).unwrap();
                p.median(x, 32).unwrap();
            });
        }
    });
    let mut inputs: std::collections::HashSet<u64> = secret.iter().copied().collect();
    let party0_input: std::collections::HashSet<u64> = other.iter().copied().collect();
    inputs.extend(party0_input.iter().copied());
    inputs.remove(&0);
    for (id, log) in logs.iter().enumerate() {
        let log = log.lock().unwrap();
        assert!(!log.is_empty());
        for (from, msg) in log.iter() {
            for w in msg.chunks_exact(8) {
                let w = u64::from_le_bytes(w.try_into().unwrap());
                assert!(
                    !inputs.contains(&w),
                    "party {id} received an input value from party {from}"
                );
            }
        }
    }
}

#[test]
fn a_missing_party_times_out_instead_of_hanging() {
    let mut transports = local(Duration::from_millis(200));
    let t2 = transports.pop().unwrap();
    let t1 = transports.pop().unwrap();
    drop(t2);
    let err = Party::new(1, t1).unwrap_err();
    assert!(
        matches!(err, MpcError::Transport { .. } | MpcError::Timeout { .. }),
        "{err}"
    );
    let mut transports = local(Duration::from_millis(200));
    let _keep_alive = transports.pop();
    let t1 = transports.pop().unwrap();
    let err = Party::new(1, t1).unwrap_err();
    assert!(matches!(err, MpcError::Timeout { peer: 2, .. }), "{err}");
}

#[test]
fn bad_arguments_are_errors() {
    let xs = shared(&[1, 2, 3]);
    let ys = shared(&[1, 2]);
    let out = run(|p| {
        let x = &xs[p.id()];
        let y = &ys[p.id()];
        Ok(vec![
            p.mul(x, y).is_err(),
            p.dot_rows(x, x, 2).is_err(),
            p.reveal_to(x, 3).is_err(),
            p.trunc(x, 64).is_err(),
            p.median(&AShare::from_parts(vec![], vec![])?, 32).is_err(),
            p.top_k(x, 4, 32).is_err(),
            p.sort(x, 61).is_err(),
            x.add(y).is_err(),
            AShare::from_parts(vec![1], vec![]).is_err(),
        ])
    });
    for flags in out {
        assert!(flags.iter().all(|f| *f), "{flags:?}");
    }
    assert!(Party::new(3, local(Duration::from_millis(10)).pop().unwrap()).is_err());
    assert!(encode(f64::NAN, 16).is_err() && encode(1e30, 16).is_err());
}

/// Rounds longer than one piece go out as several messages and come back whole, for products,
/// ANDs, inputs and reveals.
#[test]
fn long_rounds_travel_in_pieces() {
    let n = 2 * crate::party::PIECE + 123;
    let x: Vec<u64> = (0..n as u64).map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
    let y: Vec<u64> = (0..n as u64).map(|k| k ^ 0xdead_beef).collect();
    let (xs, ys) = (shared(&x), shared(&y));
    let logs: Vec<MessageLog> = (0..3).map(|_| Arc::default()).collect();
    let transports: Vec<Recording<LocalTransport>> = local(Duration::from_secs(20))
        .into_iter()
        .zip(&logs)
        .map(|(t, log)| Recording::new(t, log.clone()))
        .collect();
    let out: Vec<(Vec<u64>, Vec<u64>, Vec<u64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = transports
            .into_iter()
            .enumerate()
            .map(|(id, t)| {
                let (xs, ys, x, y) = (&xs, &ys, &x, &y);
                s.spawn(move || {
                    let mut p = Party::new(id, t).unwrap();
                    let prod = p.mul(&xs[id], &ys[id]).unwrap();
                    let prod = p.reveal(&prod).unwrap();
                    let xb = p.input_bool(0, (id == 0).then_some(&x[..]), n).unwrap();
                    let yb = p.input_bool(1, (id == 1).then_some(&y[..]), n).unwrap();
                    let and = p.and(&xb, &yb).unwrap();
                    let and = p.reveal_bool(&and).unwrap();
                    let input = p.input(2, (id == 2).then_some(&y[..]), n).unwrap();
                    let input = p.reveal(&input).unwrap();
                    (prod, and, input)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (prod, and, input) in out {
        assert!(prod.iter().enumerate().all(|(k, p)| *p == x[k].wrapping_mul(y[k])));
        assert!(and.iter().enumerate().all(|(k, a)| *a == x[k] & y[k]));
        assert_eq!(input, y);
    }
    // Key, then three pieces for each of the eight rounds.
    for log in &logs {
        assert_eq!(log.lock().unwrap().len(), 1 + 8 * 3);
    }
}

/// A receiver takes a peer's words in pieces of any size but refuses pieces that are not whole
/// words, empty pieces while words are missing, and more words than expected.
#[test]
fn pieces_of_any_size_are_accepted_and_bad_ones_refused() {
    let words = |w: &[u64]| w.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
    let reveal_with = |pieces: Vec<Vec<u8>>| -> Result<Vec<u64>> {
        let mut ends = local(Duration::from_millis(500));
        let mut t2 = ends.pop().unwrap();
        let mut t1 = ends.pop().unwrap();
        let t0 = ends.pop().unwrap();
        // Party 0 gets k_1 from party 1; party 2 plays the peer that sends the pieces.
        t1.send(0, vec![7; 16]).unwrap();
        for piece in pieces {
            t2.send(0, piece).unwrap();
        }
        let mut p = Party::new(0, t0)?;
        let x = AShare::from_parts(vec![1; 8], vec![2; 8])?;
        let out = p.reveal(&x);
        drop((t1, t2));
        out
    };
    let all: Vec<u64> = (10..18).collect();
    let got = reveal_with(vec![words(&all[..3]), words(&all[3..4]), words(&all[4..])]).unwrap();
    assert_eq!(got, all.iter().map(|w| w + 3).collect::<Vec<_>>());
    for bad in [
        vec![words(&all[..3])[..20].to_vec()],
        vec![Vec::new(), words(&all)],
        vec![words(&all[..5]), words(&all[..5])],
    ] {
        let err = reveal_with(bad).unwrap_err();
        assert!(matches!(err, MpcError::Protocol { peer: 2, .. }), "{err}");
    }
}
