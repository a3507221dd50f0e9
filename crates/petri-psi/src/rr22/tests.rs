use super::gf128::{self, mul, mul_portable, mul_reference, mul_x};
use super::okvs::{self, BAND};
use super::vole::{self, Shape};
use super::*;

#[test]
fn gf128_multiplication_matches_the_bitwise_reference() {
    let mut rng = rand::rng();
    let mut cases: Vec<(Gf, Gf)> = (0..2000).map(|_| (rng.random(), rng.random())).collect();
    cases.extend([(0, 5), (1, u128::MAX), (u128::MAX, u128::MAX), (1 << 127, 1 << 127), (1 << 127, 2)]);
    for (a, b) in cases {
        let r = mul_reference(a, b);
        assert_eq!(mul(a, b), r, "{a:x}·{b:x}");
        assert_eq!(mul_portable(a, b), r, "portable {a:x}·{b:x}");
        assert_eq!(mul(b, a), r);
    }
    // X^127·X = X^128 = X^7 + X^2 + X + 1.
    assert_eq!(mul(1 << 127, 2), 0x87);
    assert_eq!(mul_x(1 << 127), 0x87);
    // Distributivity and a known inverse pair: a·1 = a.
    let (a, b, c): (Gf, Gf, Gf) = (rng.random(), rng.random(), rng.random());
    assert_eq!(mul(a, b ^ c), mul(a, b) ^ mul(a, c));
    assert_eq!(mul(a, 1), a);
    assert_eq!(mul(mul(a, b), c), mul(a, mul(b, c)));
    eprintln!("pclmulqdq: {}", gf128::hardware());
}

fn random_places(n: usize) -> Vec<[u8; 16]> {
    let mut rng = rand::rng();
    (0..n).map(|_| rng.random()).collect()
}

#[test]
fn okvs_decodes_every_encoded_value() {
    let mut rng = rand::rng();
    for n in [1usize, 2, 50, 300, 1000, 20_000, 100_000] {
        let m = okvs::columns(n);
        assert!(m >= BAND && m as f64 >= 1.1 * n as f64);
        let places = random_places(n);
        let values: Vec<Gf> = (0..n).map(|_| rng.random()).collect();
        let o = okvs::Okvs::new(m, rng.random());
        let rows = o.rows(&places);
        for r in &rows {
            assert!(r.start as usize + BAND <= m);
        }
        let p = o.encode(&rows, &values).expect("encodable");
        assert_eq!(p.len(), m);
        for (r, v) in rows.iter().zip(&values) {
            assert_eq!(okvs::Okvs::decode(&p, r), *v);
        }
        // Other keys decode to unrelated values.
        let other = o.rows(&random_places(20));
        let hits = other
            .iter()
            .filter(|r| values.contains(&okvs::Okvs::decode(&p, r)))
            .count();
        assert_eq!(hits, 0);
    }
}

#[test]
fn okvs_reports_dependent_rows() {
    // The same key twice with two values cannot be encoded.
    let places = vec![[7u8; 16], [7u8; 16]];
    let o = okvs::Okvs::new(okvs::columns(2), [1; 16]);
    let rows = o.rows(&places);
    assert!(o.encode(&rows, &[1, 2]).is_none());
}

/// Runs a whole VOLE locally (base OTs included) and returns `(A, C, B, Δ)`.
fn run_vole(m: usize) -> (Vec<Gf>, Vec<Gf>, Vec<Gf>, Gf) {
    let shape = Shape::new(m);
    let delta: Gf = rand::rng().random();
    let base = OtSender::new();
    let choices: Vec<bool> = (0..BASE).map(|j| (delta >> j) & 1 == 1).collect();
    let (reply, seeds) = ot::receive(b"s", &base.message(), &choices).unwrap();
    let pairs = base.seeds(b"s", &reply).unwrap();
    let (vr, columns) = vole::Receiver::new(shape, &pairs);
    assert_eq!(columns.len(), shape.columns_bytes());
    let vs = vole::Sender::new(shape, delta, &seeds);
    assert_eq!(vs.delta(), delta);
    let code_seed = [9u8; 16];
    let (trees, b) = vs.finish(&Code::new(shape, code_seed), &columns);
    assert_eq!(trees.len(), shape.tree_elements());
    let (a, c) = vr.finish(&Code::new(shape, code_seed), &trees);
    (a, c, b, delta)
}

#[test]
fn vole_correlation_holds_at_every_position() {
    for m in [257usize, 1000, 5000, 70_000] {
        let (a, c, b, delta) = run_vole(m);
        assert_eq!((a.len(), b.len(), c.len()), (m, m, m));
        for i in 0..m {
            assert_eq!(c[i], b[i] ^ mul(a[i], delta), "position {i} of {m}");
        }
        // A looks random: no zeros, no repeats to speak of.
        let distinct: std::collections::HashSet<Gf> = a.iter().copied().collect();
        assert_eq!(distinct.len(), m);
        assert!(!a.contains(&0));
    }
}

#[test]
fn vole_shape_follows_the_parameters() {
    for m in [257usize, 300_000, 1_200_000] {
        let s = Shape::new(m);
        assert_eq!(s.t, vole::NOISE);
        assert!(s.n() >= vole::SCALER * m && s.n() < 2 * vole::SCALER * m + 2 * vole::NOISE);
        assert_eq!(s.cots() % 128, 0);
    }
    // About 0.7 MB of VOLE traffic at 2^18 keys.
    let s = Shape::new(okvs::columns(1 << 18));
    let bytes = s.columns_bytes() + 16 * s.tree_elements() + BASE * ot::POINT_BYTES;
    assert!(bytes < 800_000, "{bytes}");
}

#[test]
fn value_bytes_cover_lambda_and_the_comparisons() {
    assert_eq!(value_bytes(1 << 18, 1 << 18), 10); // 40 + 36 bits
    assert_eq!(value_bytes(1 << 20, 1 << 20), 10); // 40 + 40 bits
    assert_eq!(value_bytes(1, 1), 5);
}
