use super::gf128::{self, mul, mul_portable, mul_reference, mul_x};
use super::okvs::{self, BAND};
use super::vole::{self, Shape};
use super::*;
use rand::{Rng, RngCore};

#[test]
fn gf128_multiplication_matches_the_bitwise_reference() {
    let mut rng = rand::rng();
    let mut cases: Vec<(Gf, Gf)> = (0..2000).map(|_| (rng.random(), rng.random())).collect();
    cases.extend([
        (0, 5),
        (1, u128::MAX),
        (u128::MAX, u128::MAX),
        (1 << 127, 1 << 127),
        (1 << 127, 2),
    ]);
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

// ---- Sessions, as in `kkrt/tests.rs`. ----

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;

use crate::input::{self, Source, normalise};
use crate::protocol::Protocol;

const T: Duration = Duration::from_secs(20);

struct Party {
    outcome: Result<Outcome, PsiError>,
    frames: Vec<(u8, Vec<u8>)>,
    input: Input,
}

async fn read(rows: &[(String, Option<u64>)]) -> Input {
    input::read(&Source::Rows(rows.to_vec()), false).await.unwrap()
}

async fn pair_with(
    protocols: (Protocol, Protocol),
    mode: Mode,
    reveal: Reveal,
    receiver: &[(String, Option<u64>)],
    sender: &[(String, Option<u64>)],
) -> (Party, Party) {
    let (a, b) = tokio::io::duplex(1 << 16);
    let mut params_r = Params::new("session-1", mode, Role::Receiver, reveal);
    let mut params_s = Params::new("session-1", mode, Role::Sender, reveal);
    params_r.protocol = protocols.0;
    params_s.protocol = protocols.1;
    // Small frames so the tests exercise streaming: 5 values a frame.
    params_r.chunk = 100;
    params_s.chunk = 5;
    let ir = read(receiver).await;
    let is = read(sender).await;
    let run = |params: Params, input: Input, stream: tokio::io::DuplexStream| async move {
        let mut channel = Channel::new(stream, T);
        channel.record();
        let outcome = crate::run_on(&params, &input, &mut channel).await;
        Party {
            outcome,
            frames: channel.recorded().to_vec(),
            input,
        }
    };
    tokio::join!(run(params_r, ir, a), run(params_s, is, b))
}

async fn pair(
    mode: Mode,
    reveal: Reveal,
    receiver: &[(String, Option<u64>)],
    sender: &[(String, Option<u64>)],
) -> (Party, Party) {
    pair_with((Protocol::Rr22, Protocol::Rr22), mode, reveal, receiver, sender).await
}

fn keys(list: impl IntoIterator<Item = String>) -> Vec<(String, Option<u64>)> {
    list.into_iter().map(|k| (k, None)).collect()
}

fn matched_keys(p: &Party) -> BTreeSet<String> {
    let o = p.outcome.as_ref().unwrap();
    o.matched
        .as_ref()
        .unwrap()
        .iter()
        .map(|&i| p.input.keys[i].clone())
        .collect()
}

fn plain(a: &[(String, Option<u64>)], b: &[(String, Option<u64>)]) -> BTreeSet<String> {
    let a: BTreeSet<String> = a.iter().map(|(k, _)| normalise(k)).collect();
    b.iter().map(|(k, _)| normalise(k)).filter(|k| a.contains(k)).collect()
}

/// Every byte string by which `keys` could be recognised: the key, both halves of its digest
/// (and their first 8 bytes), its OKVS value `H(k)` as a field element, the ECDH hash to the
/// group, and the KKRT digest.
fn forms(keys: &[String]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for k in keys {
        out.push(k.as_bytes().to_vec());
        let d = digest(b"session-1", k.as_bytes());
        out.push(d[..16].to_vec());
        out.push(d[16..].to_vec());
        out.push(d[..8].to_vec());
        out.push(d[16..24].to_vec());
        let h = crate::ecdh::hash_to_group(b"session-1", k.as_bytes())
            .compress()
            .to_bytes();
        out.push(h[..16].to_vec());
        out.push(crate::kkrt::digest(b"session-1", k.as_bytes()).to_vec());
    }
    out
}

fn assert_nothing_in_clear(who: &Party, peer: &Party) {
    let mut by_len: std::collections::BTreeMap<usize, std::collections::HashSet<Vec<u8>>> = Default::default();
    for f in forms(&peer.input.keys) {
        by_len.entry(f.len()).or_default().insert(f);
    }
    assert!(!who.frames.is_empty());
    for (tag, frame) in &who.frames {
        for (len, forms) in &by_len {
            assert!(
                !frame.windows(*len).any(|w| forms.contains(w)),
                "frame {tag} contains a form of a peer key"
            );
        }
    }
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("member-{i:08}")).collect()
}

#[tokio::test]
async fn intersection_to_receiver_only() {
    let r = keys(ids(0..300));
    let s = keys(ids(200..450));
    let (rx, tx) = pair(Mode::Intersection, Reveal::Receiver, &r, &s).await;
    assert_eq!(matched_keys(&rx), plain(&r, &s));
    let so = tx.outcome.as_ref().unwrap();
    assert!(
        so.matched.is_none() && so.cardinality.is_none(),
        "the sender learns nothing"
    );
    assert_eq!((so.own, so.peer), (250, 300));
    assert_nothing_in_clear(&rx, &tx);
    assert_nothing_in_clear(&tx, &rx);
}

#[tokio::test]
async fn intersection_to_both() {
    let r = keys(ids(0..40));
    let s = keys(ids(30..90));
    let (rx, tx) = pair(Mode::Intersection, Reveal::Both, &r, &s).await;
    assert_eq!(matched_keys(&rx), plain(&r, &s));
    assert_eq!(matched_keys(&tx), plain(&r, &s));
    assert_eq!(tx.outcome.as_ref().unwrap().cardinality, Some(10));
    assert_nothing_in_clear(&rx, &tx);
    assert_nothing_in_clear(&tx, &rx);
}

#[tokio::test]
async fn cardinality_reveals_the_count_and_no_rows() {
    let r = keys(ids(0..40));
    let s = keys(ids(25..70));
    for reveal in [Reveal::Receiver, Reveal::Both] {
        let (rx, tx) = pair(Mode::Cardinality, reveal, &r, &s).await;
        let ro = rx.outcome.as_ref().unwrap();
        assert_eq!(ro.cardinality, Some(15));
        assert!(ro.matched.is_none());
        let so = tx.outcome.as_ref().unwrap();
        assert!(so.matched.is_none());
        assert_eq!(so.cardinality, (reveal == Reveal::Both).then_some(15));
        // The receiver sends back only the count, never positions.
        assert!(tx.frames.iter().all(|(t, _)| *t != MATCHES));
        assert_nothing_in_clear(&rx, &tx);
        assert_nothing_in_clear(&tx, &rx);
    }
}

#[tokio::test]
async fn disjoint_and_equal_sets() {
    let (rx, _) = pair(
        Mode::Intersection,
        Reveal::Receiver,
        &keys(ids(0..50)),
        &keys(ids(50..99)),
    )
    .await;
    assert!(matched_keys(&rx).is_empty());
    let (rx, _) = pair(Mode::Intersection, Reveal::Receiver, &keys(ids(0..1)), &keys(ids(0..1))).await;
    assert_eq!(matched_keys(&rx).len(), 1);
}

#[tokio::test]
async fn a_protocol_mismatch_stops_both_sides_with_a_reason() {
    let r = keys(ids(0..5));
    for other in [Protocol::Ecdh, Protocol::Kkrt] {
        let (rx, tx) = pair_with((Protocol::Rr22, other), Mode::Intersection, Reveal::Receiver, &r, &r).await;
        let e = rx.outcome.unwrap_err().to_string();
        assert!(e.contains("protocol") && e.contains(PROTOCOL), "{e}");
        let e = tx.outcome.unwrap_err().to_string();
        assert!(e.contains("protocol") && e.contains(PROTOCOL), "{e}");
    }
}

#[tokio::test]
async fn sum_is_refused_with_a_clear_error() {
    let r = keys(ids(0..5));
    let (rx, tx) = pair(Mode::Sum, Reveal::Receiver, &r, &r).await;
    let e = rx.outcome.unwrap_err().to_string();
    assert!(e.contains("ecdh protocol only"), "{e}");
    assert!(tx.outcome.is_err());
}

#[tokio::test]
async fn empty_and_oversized_sets_are_refused() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let mut params = Params::new("s", Mode::Intersection, Role::Receiver, Reveal::Receiver);
    params.protocol = Protocol::Rr22;
    let mut empty = read(&keys(ids(0..1))).await;
    empty.keys.clear();
    let mut c = Channel::new(a, T);
    let e = crate::run_on(&params, &empty, &mut c).await.unwrap_err().to_string();
    assert!(e.contains("1 to") && e.contains("has 0"), "{e}");
    drop(b);

    // A peer announcing more than the limit.
    let (a, b) = tokio::io::duplex(1 << 16);
    let peer = Channel::new(b, T);
    let hello = serde_json::json!({
        "version": protocol::VERSION, "protocol": PROTOCOL, "session": "s",
        "mode": "intersection", "reveal": "receiver", "role": "sender", "size": MAX_SET + 1,
    });
    peer.send(protocol::HELLO, hello.to_string().as_bytes()).unwrap();
    let input = read(&keys(ids(0..3))).await;
    let mut c = Channel::new(a, T);
    let e = crate::run_on(&params, &input, &mut c).await.unwrap_err().to_string();
    assert!(e.contains("peer announced") && e.contains(&MAX_SET.to_string()), "{e}");
}

/// A peer that says hello and then hangs up, or sends garbage, makes the other side stop with
/// an error (and neither panic nor wait for ever).
#[tokio::test]
async fn a_peer_that_stops_or_misbehaves_gives_an_error() {
    for role in [Role::Receiver, Role::Sender] {
        for garbage in [false, true] {
            let (a, b) = tokio::io::duplex(1 << 16);
            let mut params = Params::new("s", Mode::Intersection, role, Reveal::Both);
            params.protocol = Protocol::Rr22;
            let peer_role = if role == Role::Receiver { "sender" } else { "receiver" };
            let mut peer = Channel::new(b, Duration::from_secs(2));
            let hello = serde_json::json!({
                "version": protocol::VERSION, "protocol": PROTOCOL, "session": "s",
                "mode": "intersection", "reveal": "both", "role": peer_role, "size": 10,
            });
            peer.send(protocol::HELLO, hello.to_string().as_bytes()).unwrap();
            let input = read(&keys(ids(0..10))).await;
            let run = async {
                let mut c = Channel::new(a, Duration::from_secs(2));
                crate::run_on(&params, &input, &mut c).await
            };
            let misbehave = async {
                let _ = peer.recv().await;
                if garbage {
                    // Every tag this session uses, with a payload of the wrong length.
                    for tag in [OT_A, OT_B, COLUMNS, TREES, OKVS_SEED] {
                        let _ = peer.send(tag, &[1, 2, 3]);
                    }
                    let _ = peer.finish().await;
                }
                drop(peer);
            };
            let (result, ()) = tokio::join!(run, misbehave);
            let e = result.unwrap_err().to_string();
            eprintln!("{role:?} {garbage}: {e}");
            assert!(
                !e.contains("does not match")
                    && (e.contains("protocol") || e.contains("transport") || e.contains("timeout")),
                "{role:?} {garbage}: {e}"
            );
        }
    }
}

#[tokio::test]
async fn a_larger_session_streams_many_frames() {
    let mut rng = rand::rng();
    let r = keys((0..6000).map(|_| format!("{:x}", rng.next_u64())).chain(ids(0..500)));
    let s = keys(ids(250..4000));
    let (rx, tx) = pair(Mode::Intersection, Reveal::Both, &r, &s).await;
    assert_eq!(matched_keys(&rx), plain(&r, &s));
    assert_eq!(matched_keys(&tx), plain(&r, &s));
    // (Recorded frames are the ones received.)
    let values = rx.frames.iter().filter(|(t, _)| *t == VALUES).count();
    assert_eq!(values, 3750usize.div_ceil(5));
    // The receiver's traffic: the OKVS (1.1 field elements a key) plus the fixed VOLE cost.
    let ro = rx.outcome.as_ref().unwrap();
    let okvs_bytes = 16 * okvs::columns(6500) as u64;
    assert!(
        ro.bytes_sent > okvs_bytes && ro.bytes_sent < okvs_bytes + 700_000,
        "{}",
        ro.bytes_sent
    );
}

fn key_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{1,3}",
        "[éèe\u{301}ü]{1,3}",
        "[日本語]{1,2}",
        "[😀🙂]{1,2}",
        " [a-c]{1,2} ",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn intersection_equals_the_plaintext_intersection(
        a in prop::collection::vec(key_strategy(), 1..30),
        b in prop::collection::vec(key_strategy(), 1..30),
        mode in 0u8..3,
    ) {
        let a: Vec<_> = a.into_iter().map(|k| (k, None)).collect();
        let b: Vec<_> = b.into_iter().map(|k| (k, None)).collect();
        prop_assume!(a.iter().all(|(k, _)| !normalise(k).is_empty()));
        prop_assume!(b.iter().all(|(k, _)| !normalise(k).is_empty()));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let expected = plain(&a, &b);
        if mode == 0 {
            let (rx, tx) = rt.block_on(pair(Mode::Cardinality, Reveal::Both, &a, &b));
            prop_assert_eq!(rx.outcome.as_ref().unwrap().cardinality, Some(expected.len()));
            prop_assert_eq!(tx.outcome.as_ref().unwrap().cardinality, Some(expected.len()));
            return Ok(());
        }
        let reveal = if mode == 1 { Reveal::Receiver } else { Reveal::Both };
        let (rx, tx) = rt.block_on(pair(Mode::Intersection, reveal, &a, &b));
        prop_assert_eq!(&matched_keys(&rx), &expected);
        if reveal == Reveal::Both {
            prop_assert_eq!(&matched_keys(&tx), &expected);
        } else {
            prop_assert!(tx.outcome.as_ref().unwrap().matched.is_none());
        }
        // Every input row whose key matched is in the output, duplicates included.
        let rows = rx.input.matching_rows(rx.outcome.as_ref().unwrap().matched.as_ref().unwrap());
        let want = a.iter().filter(|(k, _)| expected.contains(&normalise(k))).count();
        prop_assert_eq!(rows.len(), want);
    }
}

/// Times the parts of a session at 2^18 keys per side (single process, both parties):
/// `cargo test --release -p petri-psi rr22::tests::phase_timings -- --ignored --nocapture`.
#[test]
#[ignore]
fn phase_timings() {
    use std::time::Instant;
    let n = 1 << 18;
    let t = Instant::now();
    let digests: Vec<[u8; 32]> = (0..n)
        .into_par_iter()
        .map(|i: usize| digest(b"s", format!("id-{i:013}").as_bytes()))
        .collect();
    eprintln!("digests        {:.3}s", t.elapsed().as_secs_f64());
    let m = okvs::columns(n);
    let t = Instant::now();
    let (seed, p) = encode(m, &digests).unwrap();
    eprintln!("okvs encode    {:.3}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let (a, c, b, delta) = run_vole(m);
    eprintln!("vole (both)    {:.3}s", t.elapsed().as_secs_f64());
    {
        let shape = Shape::new(m);
        let delta: Gf = rand::rng().random();
        let pairs: Vec<([u8; 16], [u8; 16])> = (0..BASE)
            .map(|_| (rand::rng().random(), rand::rng().random()))
            .collect();
        let seeds: Vec<[u8; 16]> = (0..BASE)
            .map(|j| if (delta >> j) & 1 == 1 { pairs[j].1 } else { pairs[j].0 })
            .collect();
        let t = Instant::now();
        let (vr, columns) = vole::Receiver::new(shape, &pairs);
        eprintln!("  iknp recv    {:.3}s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        let (trees, _) = vole::Sender::new(shape, delta, &seeds).finish(&Code::new(shape, [1; 16]), &columns);
        eprintln!("  sender       {:.3}s (N = {})", t.elapsed().as_secs_f64(), shape.n());
        let t = Instant::now();
        let _ = vr.finish(&Code::new(shape, [1; 16]), &trees);
        eprintln!("  receiver     {:.3}s", t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    let k: Vec<Gf> = p
        .par_iter()
        .zip(&a)
        .zip(&b)
        .map(|((p, a), b)| b ^ mul(delta, p ^ a))
        .collect();
    eprintln!("K              {:.3}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let o = okvs::Okvs::new(m, seed);
    let (places, hs): (Vec<[u8; 16]>, Vec<Gf>) = digests.par_iter().map(halves).unzip();
    let rows = o.rows(&places);
    eprintln!("rows           {:.3}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let vals: Vec<Gf> = rows
        .par_iter()
        .zip(&hs)
        .map(|(r, h)| okvs::Okvs::decode(&k, r) ^ mul(delta, *h))
        .collect();
    eprintln!("decode         {:.3}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut out = vec![0u8; n * 10];
    out.par_chunks_mut(10)
        .zip(vals.par_iter().zip(&places))
        .for_each(|(o, (v, p))| out_hash(*v, p, o));
    eprintln!("out hash       {:.3}s", t.elapsed().as_secs_f64());
    for (r, v) in rows.iter().zip(&vals).take(100) {
        assert_eq!(okvs::Okvs::decode(&c, r), *v);
    }
}

/// One VOLE for 2^18 receiver keys, both parties in this process (for CPU measurements).
#[test]
#[ignore]
fn vole_at_2_18() {
    let m = okvs::columns(1 << 18);
    let (a, c, b, delta) = run_vole(m);
    for i in (0..m).step_by(997) {
        assert_eq!(c[i], b[i] ^ mul(a[i], delta));
    }
}
