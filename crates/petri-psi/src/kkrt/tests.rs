use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;
use rand::{Rng, RngCore};

use super::bits::{cols_to_rows, rows_to_cols, transpose64};
use super::oprf::{Code, ExtReceiver, ExtSender, Row, WIDTH, WORDS, hash_rows};
use super::*;
use crate::input::{self, Source, normalise};
use crate::protocol::Protocol;

const T: Duration = Duration::from_secs(20);

fn bit(words: &[u64], i: usize) -> bool {
    (words[i / 64] >> (i % 64)) & 1 == 1
}

fn random_words(n: usize) -> Vec<u64> {
    let mut rng = rand::rng();
    (0..n).map(|_| rng.random()).collect()
}

#[test]
fn transpose64_matches_the_definition() {
    let a: [u64; 64] = random_words(64).try_into().unwrap();
    let mut b = a;
    transpose64(&mut b);
    for (i, bi) in b.iter().enumerate() {
        for (t, at) in a.iter().enumerate() {
            assert_eq!(bit(&[*bi], t), bit(&[*at], i));
        }
    }
    transpose64(&mut b);
    assert_eq!(a, b);
}

#[test]
fn matrix_transposes_match_the_definition_and_invert_each_other() {
    let (width, rows) = (512, 384);
    let cols = random_words(width * rows / 64);
    let mut r = vec![0u64; rows * width / 64];
    cols_to_rows(&cols, width, rows, &mut r);
    for i in 0..rows {
        for j in 0..width {
            assert_eq!(bit(&r[i * width / 64..], j), bit(&cols[j * rows / 64..], i));
        }
    }
    let mut back = vec![0u64; cols.len()];
    rows_to_cols(&r, width, rows, &mut back);
    assert_eq!(back, cols);
}

#[test]
fn base_ots_deliver_the_chosen_seed_only() {
    let sender = OtSender::new();
    let choices: Vec<bool> = (0..64).map(|j| j % 3 == 0).collect();
    let (reply, chosen) = ot::receive(b"s", &sender.message(), &choices).unwrap();
    let pairs = sender.seeds(b"s", &reply).unwrap();
    for ((c, k), (k0, k1)) in choices.iter().zip(chosen.iter()).zip(pairs.iter()) {
        assert_ne!(k0, k1);
        assert_eq!(k, if *c { k1 } else { k0 });
    }
    // Another session derives other seeds; garbage is refused.
    assert_ne!(sender.seeds(b"t", &reply).unwrap()[0], pairs[0]);
    assert!(sender.seeds(b"s", &[0xff; 32]).is_err());
    assert!(ot::receive(b"s", &[0u8; 32], &choices).is_err());
}

/// Random base-OT seeds and choice bits, as the base OTs would leave them.
fn extension() -> (ExtReceiver, ExtSender, Row) {
    let mut rng = rand::rng();
    let pairs: Vec<([u8; 16], [u8; 16])> = (0..WIDTH).map(|_| (rng.random(), rng.random())).collect();
    let mut s: Row = [0; WORDS];
    rng.fill(&mut s[..]);
    let chosen: Vec<[u8; 16]> = (0..WIDTH)
        .map(|j| if bit(&s, j) { pairs[j].1 } else { pairs[j].0 })
        .collect();
    (ExtReceiver::new(&pairs), ExtSender::new(&chosen, s), s)
}

#[test]
fn the_extension_gives_q_equal_t_xor_code_and_s() {
    let (rx, tx, s) = extension();
    for r0 in [0, 128, 1024] {
        let codes: Vec<Row> = (0..256).map(|_| random_words(WORDS).try_into().unwrap()).collect();
        let (u, t) = rx.block(r0, &codes);
        assert_eq!(u.len(), 256 * WIDTH / 8);
        let q = tx.block(r0, &u);
        for i in 0..256 {
            for k in 0..WORDS {
                assert_eq!(q[i][k], t[i][k] ^ (codes[i][k] & s[k]), "row {i} word {k} at {r0}");
            }
        }
    }
}

#[test]
fn oprf_values_agree_exactly_on_equal_inputs() {
    let (rx, tx, s) = extension();
    let code = Code::new([7; 16]);
    let inputs: Vec<([u8; 16], u8)> = (0..128u8).map(|i| ([i; 16], i % 3)).collect();
    let mut codes = vec![[0u64; WORDS]; 128];
    code.encode(&inputs, &mut codes);
    let (u, t) = rx.block(0, &codes);
    let q = tx.block(0, &u);
    let bins: Vec<u32> = (0..128).collect();
    let mut own = vec![0u8; 128 * 10];
    hash_rows(&bins, &t, &mut own);
    // The sender evaluates bin 5 on its input and on two others.
    for (input, equal) in [(inputs[5], true), (inputs[6], false), (([5; 16], 1), false)] {
        let mut c = [[0u64; WORDS]];
        code.encode(&[input], &mut c);
        let row: Row = std::array::from_fn(|k| q[5][k] ^ (c[0][k] & s[k]));
        let mut v = [0u8; 10];
        hash_rows(&[5], &[row], &mut v);
        assert_eq!(v == own[50..60], equal, "{input:?}");
    }
}

#[test]
fn cuckoo_places_every_key_once_in_one_of_its_bins() {
    for n in [1usize, 100, 5000, 20000] {
        let digests: Vec<[u8; 16]> = (0..n).map(|_| rand::rng().random()).collect();
        let m = cuckoo::bins(n);
        assert!(m.is_multiple_of(128) && m as f64 >= 1.27 * n as f64);
        let locations = cuckoo::locate([1; 16], m, &digests);
        let table = cuckoo::cuckoo(&locations, m).unwrap();
        let mut seen = vec![false; n];
        for (bin, slot) in table.iter().enumerate() {
            if let Some((item, j)) = slot {
                assert_eq!(locations[*item as usize][*j as usize] as usize, bin);
                assert!(!std::mem::replace(&mut seen[*item as usize], true));
            }
        }
        assert!(seen.iter().all(|s| *s));
    }
}

#[test]
fn value_bytes_cover_lambda_and_the_comparisons() {
    assert_eq!(value_bytes(1 << 18, 1 << 18), 10); // 40 + 37.6 bits
    assert_eq!(value_bytes(1 << 20, 1 << 20), 11); // 40 + 41.6 bits
    assert_eq!(value_bytes(1, 1), 6);
}

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
    // Small frames so the tests exercise streaming: 128 rows, 5 values.
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
    pair_with((Protocol::Kkrt, Protocol::Kkrt), mode, reveal, receiver, sender).await
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

/// Every byte string by which `keys` could be recognised: the key, its digest (and the digest's
/// first 8 bytes), the ECDH hash to the group, and the blocks of its three code words under the
/// session's code key (which the receiver is sent, so the receiver's transcript has it).
fn forms(keys: &[String], code_key: Option<[u8; 16]>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for k in keys {
        out.push(k.as_bytes().to_vec());
        let d = digest(b"session-1", k.as_bytes());
        out.push(d.to_vec());
        out.push(d[..8].to_vec());
        let h = crate::ecdh::hash_to_group(b"session-1", k.as_bytes())
            .compress()
            .to_bytes();
        out.push(h[..16].to_vec());
        if let Some(key) = code_key {
            let mut c = [[0u64; WORDS]; 3];
            Code::new(key).encode(&[(d, 0), (d, 1), (d, 2)], &mut c);
            for row in c {
                for w in row.chunks(2) {
                    let mut b = w[0].to_le_bytes().to_vec();
                    b.extend_from_slice(&w[1].to_le_bytes());
                    out.push(b);
                }
            }
        }
    }
    out
}

fn code_key(receiver: &Party) -> [u8; 16] {
    let (_, f) = receiver.frames.iter().find(|(t, _)| *t == OT_B).unwrap();
    f[f.len() - 16..].try_into().unwrap()
}

fn assert_nothing_in_clear(who: &Party, peer: &Party, code_key: [u8; 16]) {
    // Forms by length, so each frame is scanned once per length.
    let mut by_len: std::collections::BTreeMap<usize, std::collections::HashSet<Vec<u8>>> = Default::default();
    for f in forms(&peer.input.keys, Some(code_key)) {
        by_len.entry(f.len()).or_default().insert(f);
    }
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
    let key = code_key(&rx);
    assert_nothing_in_clear(&rx, &tx, key);
    assert_nothing_in_clear(&tx, &rx, key);
}

#[tokio::test]
async fn intersection_to_both() {
    let r = keys(ids(0..40));
    let s = keys(ids(30..90));
    let (rx, tx) = pair(Mode::Intersection, Reveal::Both, &r, &s).await;
    assert_eq!(matched_keys(&rx), plain(&r, &s));
    assert_eq!(matched_keys(&tx), plain(&r, &s));
    assert_eq!(tx.outcome.as_ref().unwrap().cardinality, Some(10));
    let key = code_key(&rx);
    assert_nothing_in_clear(&rx, &tx, key);
    assert_nothing_in_clear(&tx, &rx, key);
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
        let key = code_key(&rx);
        assert_nothing_in_clear(&rx, &tx, key);
        assert_nothing_in_clear(&tx, &rx, key);
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
    let (rx, tx) = pair_with(
        (Protocol::Kkrt, Protocol::Ecdh),
        Mode::Intersection,
        Reveal::Receiver,
        &r,
        &r,
    )
    .await;
    let e = rx.outcome.unwrap_err().to_string();
    assert!(
        e.contains("protocol") && e.contains(PROTOCOL) && e.contains("ecdh-psi"),
        "{e}"
    );
    let e = tx.outcome.unwrap_err().to_string();
    assert!(e.contains("protocol") && e.contains(PROTOCOL), "{e}");
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
    params.protocol = Protocol::Kkrt;
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

#[tokio::test]
async fn a_larger_session_streams_many_frames() {
    let mut rng = rand::rng();
    let r = keys((0..6000).map(|_| format!("{:x}", rng.next_u64())).chain(ids(0..500)));
    let s = keys(ids(250..4000));
    let (rx, tx) = pair(Mode::Intersection, Reveal::Both, &r, &s).await;
    assert_eq!(matched_keys(&rx), plain(&r, &s));
    assert_eq!(matched_keys(&tx), plain(&r, &s));
    let columns = tx.frames.iter().filter(|(t, _)| *t == COLUMNS).count();
    assert_eq!(columns, cuckoo::bins(6500) / 128);
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
        cardinality in any::<bool>(),
    ) {
        let a: Vec<_> = a.into_iter().map(|k| (k, None)).collect();
        let b: Vec<_> = b.into_iter().map(|k| (k, None)).collect();
        prop_assume!(a.iter().all(|(k, _)| !normalise(k).is_empty()));
        prop_assume!(b.iter().all(|(k, _)| !normalise(k).is_empty()));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let expected = plain(&a, &b);
        if cardinality {
            let (rx, _) = rt.block_on(pair(Mode::Cardinality, Reveal::Receiver, &a, &b));
            prop_assert_eq!(rx.outcome.as_ref().unwrap().cardinality, Some(expected.len()));
            return Ok(());
        }
        let (rx, tx) = rt.block_on(pair(Mode::Intersection, Reveal::Both, &a, &b));
        prop_assert_eq!(&matched_keys(&rx), &expected);
        prop_assert_eq!(&matched_keys(&tx), &expected);
        // Every input row whose key matched is in the output, duplicates included.
        let rows = rx.input.matching_rows(rx.outcome.as_ref().unwrap().matched.as_ref().unwrap());
        let want = a.iter().filter(|(k, _)| expected.contains(&normalise(k))).count();
        prop_assert_eq!(rows.len(), want);
    }
}
