use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::secagg::{Advert, Client, Config, Masked, Server, UnmaskReply, decode_average, encode};
use crate::shamir::{random_scalar, recover, share};
use crate::{FlError, fedavg};

fn config(len: usize, threshold: usize, degree: Option<usize>) -> Config {
    Config {
        round: 7,
        threshold,
        degree,
        frac_bits: 24,
        clip: 8.0,
        max_weight: 1000,
        len: len + 1,
    }
}

/// The aggregate, the masked inputs the server saw, and the plain (update, weight) pairs.
type RoundResult = (Vec<f64>, Vec<Masked>, Vec<(Vec<f64>, u32)>);

/// Runs one round; clients in `drop_after_sharing` share keys and then vanish. Returns the
/// aggregate, the masked inputs the server saw, and the plain updates.
fn round(
    n: u32,
    len: usize,
    threshold: usize,
    degree: Option<usize>,
    drop_after_sharing: &[u32],
    seed: u64,
) -> Result<RoundResult, FlError> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let cfg = config(len, threshold, degree);
    let mut server = Server::new(cfg.clone());
    let mut clients = Vec::new();
    let mut adverts: Vec<Advert> = Vec::new();
    for id in 0..n {
        let (c, a) = Client::new(id, cfg.clone(), &mut rng);
        clients.push(c);
        adverts.push(a);
    }
    let all = server.adverts(adverts)?;
    let mut boxes = Vec::new();
    for c in &mut clients {
        boxes.extend(c.share_keys(&all, &mut rng)?);
    }
    let mut routed = server.route(boxes);
    let mut masked = Vec::new();
    let mut plain = Vec::new();
    for c in clients.iter_mut() {
        let update: Vec<f64> = (0..len).map(|_| rng.random_range(-3.0..3.0)).collect();
        let weight = rng.random_range(1..=500u32);
        let inbox = routed.remove(&c.id()).unwrap_or_default();
        if drop_after_sharing.contains(&c.id()) {
            continue;
        }
        masked.push(c.masked_input(&inbox, &update, weight)?);
        plain.push((update, weight));
    }
    let request = server.collect(masked.clone())?;
    let mut replies: Vec<UnmaskReply> = Vec::new();
    for c in clients.iter_mut().filter(|c| request.survivors.contains(&c.id())) {
        replies.push(c.unmask(&request)?);
    }
    let sum = server.finish(&replies)?;
    let (_, avg) = decode_average(&cfg, &sum)?;
    Ok((avg, masked, plain))
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn secure_aggregate_equals_fedavg() {
    for (n, degree) in [(3, None), (5, None), (10, Some(4)), (20, Some(6))] {
        let (avg, _, plain) = round(n, 50, 3, degree, &[], n as u64).expect("round");
        let reference = fedavg(&plain).expect("fedavg");
        assert!(
            close(&avg, &reference, 1e-6),
            "n={n}: {:?} vs {:?}",
            &avg[..3],
            &reference[..3]
        );
    }
}

#[test]
fn a_collaborator_dropping_mid_round_is_recovered() {
    for (n, degree, dropped) in [(5, None, vec![2]), (10, Some(4), vec![0, 7]), (20, Some(6), vec![19])] {
        let (avg, _, plain) = round(n, 30, 3, degree, &dropped, 99).expect("round with dropouts");
        // The aggregate is the survivors' FedAvg.
        let reference = fedavg(&plain).expect("fedavg");
        assert!(close(&avg, &reference, 1e-6), "n={n} dropped={dropped:?}");
    }
}

#[test]
fn the_aggregator_never_receives_an_unmasked_update() {
    let cfg = config(200, 3, None);
    let (_, masked, plain) = round(5, 200, 3, None, &[], 5).expect("round");
    for (m, (update, weight)) in masked.iter().zip(&plain) {
        let encoded = encode(&cfg, update, *weight).expect("encode");
        let equal = m.y.iter().zip(&encoded).filter(|(a, b)| a == b).count();
        assert_eq!(equal, 0, "client {} sent coordinates in the clear", m.id);
        // Masked words look uniform: their high bits are set about half the time.
        let high = m.y.iter().filter(|v| **v >> 63 == 1).count();
        assert!((60..=140).contains(&high), "client {}: {high} of 201 high bits", m.id);
    }
}

#[test]
fn too_many_dropouts_fail_with_a_reason() {
    let e = round(4, 5, 3, None, &[0, 1], 3).unwrap_err().to_string();
    assert!(e.contains("fewer than the threshold"), "{e}");
}

#[test]
fn a_client_never_reveals_both_secrets_of_one_peer() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let cfg = config(4, 2, None);
    let mut clients = Vec::new();
    let mut adverts = Vec::new();
    for id in 0..3 {
        let (c, a) = Client::new(id, cfg.clone(), &mut rng);
        clients.push(c);
        adverts.push(a);
    }
    let mut server = Server::new(cfg);
    let all = server.adverts(adverts).unwrap();
    let mut boxes = Vec::new();
    for c in &mut clients {
        boxes.extend(c.share_keys(&all, &mut rng).unwrap());
    }
    let mut routed: BTreeMap<_, _> = server.route(boxes);
    let c0 = &mut clients[0];
    c0.masked_input(&routed.remove(&0).unwrap(), &[1.0; 4], 1).unwrap();
    // A server claiming client 1 both survived and dropped is refused.
    let bad = crate::secagg::UnmaskRequest {
        survivors: vec![0, 1, 2],
        dropped: vec![1],
    };
    let e = c0.unmask(&bad).unwrap_err().to_string();
    assert!(e.contains("both survivor and dropped"), "{e}");
    // And a second request after an answer is refused too.
    let good = crate::secagg::UnmaskRequest {
        survivors: vec![0, 2],
        dropped: vec![1],
    };
    c0.unmask(&good).unwrap();
    assert!(c0.unmask(&good).is_err());
}

#[test]
fn shamir_recovers_with_any_threshold_subset() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let secret = random_scalar(&mut rng);
    let shares = share(&secret, 3, &[4, 9, 2, 11, 0], &mut rng);
    assert_eq!(recover(&shares[..3]), Some(secret));
    assert_eq!(recover(&shares[2..]), Some(secret));
    assert_ne!(recover(&shares[..2]), Some(secret));
    assert_eq!(recover(&[shares[0], shares[0], shares[1]]), None);
}

#[test]
fn bad_updates_are_refused() {
    let cfg = config(3, 2, None);
    assert!(encode(&cfg, &[1.0, 2.0], 1).is_err());
    assert!(encode(&cfg, &[1.0, 2.0, 3.0], 0).is_err());
    assert!(encode(&cfg, &[1.0, 2.0, 3.0], 1001).is_err());
    let huge = Config { clip: 1e12, ..cfg };
    assert!(huge.check(10).is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
    #[test]
    fn any_small_round_matches_fedavg(n in 3u32..9, len in 1usize..20, seed in 0u64..1000, drop in proptest::option::of(0u32..9)) {
        let dropped: Vec<u32> = drop.filter(|d| *d < n && n > 3).into_iter().collect();
        let (avg, _, plain) = round(n, len, 3, None, &dropped, seed).expect("round");
        let reference = fedavg(&plain).expect("fedavg");
        proptest::prop_assert!(close(&avg, &reference, 1e-6));
    }
}

mod training {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    use crate::train::{Dataset, Model, mean_std};

    /// Two Gaussian blobs (linear) or an XOR pattern (not linear).
    fn data(n: usize, xor: bool, seed: u64) -> Dataset {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut d = Dataset::default();
        for _ in 0..n {
            let (a, b): (f64, f64) = (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
            let y = if xor {
                (a * b > 0.0) as u8
            } else {
                (a + 0.5 * b > 0.1) as u8
            };
            d.x.push(vec![a * 10.0 + 3.0, b * 0.1 - 7.0, rng.random_range(-1.0..1.0)]);
            d.y.push(f64::from(y));
        }
        d
    }

    fn standardized(mut d: Dataset) -> Dataset {
        let (s, s2, n) = d.moments();
        let (m, sd) = mean_std(&s, &s2, n as f64);
        d.standardize(&m, &sd);
        d
    }

    #[test]
    fn logistic_regression_learns_a_linear_boundary() {
        let train = standardized(data(800, false, 1));
        let model = Model::Logreg;
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut w = model.init(3, &mut rng);
        let (loss0, _) = model.evaluate(&w, &train).unwrap();
        model.train(&mut w, &train, 20, 0.5, 16, &mut rng).unwrap();
        let (loss, acc) = model.evaluate(&w, &train).unwrap();
        assert!(loss < loss0 && acc > 0.95, "loss {loss0} -> {loss}, accuracy {acc}");
    }

    #[test]
    fn the_mlp_learns_xor_where_logistic_regression_cannot() {
        let train = standardized(data(1000, true, 3));
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mlp = Model::Mlp { hidden: 8 };
        let mut w = mlp.init(3, &mut rng);
        mlp.train(&mut w, &train, 200, 0.3, 16, &mut rng).unwrap();
        let (_, acc) = mlp.evaluate(&w, &train).unwrap();
        let mut l = Model::Logreg.init(3, &mut rng);
        Model::Logreg.train(&mut l, &train, 50, 0.3, 16, &mut rng).unwrap();
        let (_, lin) = Model::Logreg.evaluate(&l, &train).unwrap();
        assert!(acc > 0.9 && lin < 0.7, "mlp {acc}, logreg {lin}");
    }

    /// Backpropagation matches finite differences of the loss.
    #[test]
    fn mlp_gradients_match_finite_differences() {
        let d = standardized(data(5, true, 5));
        let model = Model::Mlp { hidden: 3 };
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let w = model.init(3, &mut rng);
        // One full-batch SGD step with learning rate lr moves w by -lr * mean gradient.
        let lr = 1e-3;
        let mut stepped = w.clone();
        model.train(&mut stepped, &d, 1, lr, d.x.len(), &mut rng).unwrap();
        for i in 0..w.len() {
            let analytic = (w[i] - stepped[i]) / lr;
            let h = 1e-6;
            let (mut up, mut down) = (w.clone(), w.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (model.evaluate(&up, &d).unwrap().0 - model.evaluate(&down, &d).unwrap().0) / (2.0 * h);
            assert!(
                (analytic - numeric).abs() < 1e-5,
                "parameter {i}: {analytic} vs {numeric}"
            );
        }
    }

    #[test]
    fn bad_csvs_are_refused_with_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        for (text, reason) in [
            ("a,label\n1,0\nx,1\n", "row 3 column 1 is not a number"),
            ("a,label\n1,2\n", "label 2 is not 0 or 1"),
            ("a,b\n1,0\n", "no column \"label\""),
            ("a,label\n", "no rows"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = Dataset::load_csv(&path, "label").unwrap_err().to_string();
            assert!(e.contains(reason), "{e}");
        }
        std::fs::write(&path, "a,label,b\n1,1,2\n3,0,4\n").unwrap();
        let d = Dataset::load_csv(&path, "label").unwrap();
        assert_eq!(d.x, vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        assert_eq!(d.y, vec![1.0, 0.0]);
    }
}

mod rounds {
    use std::time::Duration;

    use tokio::sync::mpsc;

    use crate::FlError;
    use crate::plan::Plan;
    use crate::round::{Link, Member, Message, RoundSettings, Trainer, aggregate_round, collaborate_round};

    /// One end of an in-memory link.
    struct Mem {
        tx: mpsc::UnboundedSender<Message>,
        rx: mpsc::UnboundedReceiver<Message>,
        /// Messages the aggregator received, to check none is an unmasked update.
        seen: Option<mpsc::UnboundedSender<Message>>,
    }

    #[async_trait::async_trait]
    impl Link for Mem {
        async fn send(&mut self, message: &Message) -> Result<(), FlError> {
            self.tx
                .send(message.clone())
                .map_err(|_| FlError::Protocol("link closed".into()))
        }
        async fn recv(&mut self) -> Result<Message, FlError> {
            let m = self
                .rx
                .recv()
                .await
                .ok_or_else(|| FlError::Protocol("link closed".into()))?;
            if let Some(seen) = &self.seen {
                let _ = seen.send(m.clone());
            }
            Ok(m)
        }
    }

    fn pair(seen: mpsc::UnboundedSender<Message>) -> (Mem, Mem) {
        let (a_tx, a_rx) = mpsc::unbounded_channel();
        let (b_tx, b_rx) = mpsc::unbounded_channel();
        (
            Mem {
                tx: a_tx,
                rx: b_rx,
                seen: Some(seen),
            },
            Mem {
                tx: b_tx,
                rx: a_rx,
                seen: None,
            },
        )
    }

    /// A trainer whose update is a fixed vector, so the expected average is known.
    struct Fixed {
        update: Vec<f64>,
        weight: u32,
        /// Fail training in this round (a collaborator that drops after sharing keys).
        crash_in: Option<u32>,
    }

    impl Trainer for Fixed {
        fn train(&mut self, round: u32, _weights: &[f64]) -> Result<(Vec<f64>, u32), FlError> {
            if self.crash_in == Some(round) {
                return Err(FlError::Data("the disk is gone".into()));
            }
            Ok((self.update.clone(), self.weight))
        }
        fn evaluate(&mut self, _weights: &[f64]) -> Result<(f64, f64, u64), FlError> {
            Ok((0.5, 0.75, 10))
        }
    }

    async fn run(
        n: usize,
        secure: bool,
        crash: Option<usize>,
    ) -> (Result<crate::round::RoundOutcome, FlError>, Vec<Message>, Vec<Fixed>) {
        let names: Vec<String> = (0..n).map(|i| format!("site-{i}")).collect();
        let plan = Plan::parse(&format!(
            "name = 't'\nrounds = 1\nfeatures = 3\ncollaborators = {names:?}\nmin_collaborators = {}\n[model]\nkind = 'logreg'\n\
             [training]\nlearning_rate = 0.1\n[secure_aggregation]\nenabled = {secure}\nthreshold = 2\n",
            n - usize::from(crash.is_some())
        ))
        .expect("plan");
        let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
        let mut members = Vec::new();
        let mut tasks = Vec::new();
        let mut trainers = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let (agg_end, collab_end) = pair(seen_tx.clone());
            members.push(Member::new(name.clone(), agg_end));
            let mut trainer = Fixed {
                update: (0..4).map(|k| (i * 10 + k) as f64 / 7.0).collect(),
                weight: 10 + i as u32,
                crash_in: (crash == Some(i)).then_some(1),
            };
            trainers.push(Fixed {
                update: trainer.update.clone(),
                weight: trainer.weight,
                crash_in: trainer.crash_in,
            });
            tasks.push(tokio::spawn(async move {
                let mut link = collab_end;
                collaborate_round(&mut link, &mut trainer).await
            }));
        }
        let settings = RoundSettings {
            round: 1,
            secagg: secure.then(|| plan.secagg(1, 4)),
            min_collaborators: plan.min_collaborators(),
            stage: Duration::from_secs(5),
        };
        let outcome = aggregate_round(&mut members, &[0.0; 4], &settings).await;
        for t in tasks {
            let _ = t.await;
        }
        drop(members);
        let mut seen = Vec::new();
        while let Ok(m) = seen_rx.try_recv() {
            seen.push(m);
        }
        (outcome, seen, trainers)
    }

    fn expected(trainers: &[Fixed]) -> Vec<f64> {
        let updates: Vec<(Vec<f64>, u32)> = trainers
            .iter()
            .filter(|t| t.crash_in.is_none())
            .map(|t| (t.update.clone(), t.weight))
            .collect();
        crate::fedavg(&updates).expect("fedavg")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_secure_round_gives_fedavg_and_the_aggregator_sees_only_masked_updates() {
        let (outcome, seen, trainers) = run(5, true, None).await;
        let outcome = outcome.expect("round");
        let want = expected(&trainers);
        assert!(
            outcome.weights.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{outcome:?}"
        );
        assert_eq!(outcome.aggregated.len(), 5);
        assert_eq!(outcome.accuracy, Some(0.75));
        assert!(seen.iter().all(|m| !matches!(m, Message::Plain { .. })));
        for t in &trainers {
            for m in &seen {
                if let Message::Masked(masked) = m {
                    // No coordinate of any update appears in any masked message.
                    let encoded = crate::secagg::encode(
                        &crate::secagg::Config {
                            len: 5,
                            ..Default::default()
                        },
                        &t.update,
                        t.weight,
                    );
                    if let Ok(e) = encoded {
                        assert!(masked.y.iter().zip(&e).all(|(a, b)| a != b));
                    }
                }
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_collaborator_failing_mid_round_is_recovered() {
        let (outcome, _, trainers) = run(4, true, Some(2)).await;
        let outcome = outcome.expect("round despite a dropout");
        assert_eq!(outcome.dropped, vec!["site-2".to_string()]);
        let want = expected(&trainers);
        assert!(outcome.weights.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_plain_round_gives_fedavg() {
        let (outcome, seen, trainers) = run(3, false, None).await;
        let outcome = outcome.expect("round");
        let want = expected(&trainers);
        assert!(outcome.weights.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12));
        assert!(seen.iter().any(|m| matches!(m, Message::Plain { .. })));
    }
}

/// The statistics round's formula gives the pooled means and deviations of all sites' rows.
#[test]
fn federated_statistics_equal_the_pooled_ones() {
    use crate::train::{Dataset, federated_mean_std, local_moments, mean_std};
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let sites: Vec<Dataset> = [40usize, 7, 90]
        .iter()
        .enumerate()
        .map(|(k, &n)| Dataset {
            x: (0..n)
                .map(|_| {
                    vec![
                        rng.random_range(0.0..1000.0) + 300.0 * k as f64,
                        rng.random_range(0.0..0.01),
                    ]
                })
                .collect(),
            y: vec![0.0; n],
        })
        .collect();
    let updates: Vec<(Vec<f64>, u32)> = sites.iter().map(|s| (local_moments(s), s.x.len() as u32)).collect();
    let avg = fedavg(&updates).unwrap();
    let (m, sd) = federated_mean_std(&avg, 2).unwrap();
    let pooled = Dataset {
        x: sites.iter().flat_map(|s| s.x.clone()).collect(),
        y: vec![],
    };
    let (s, s2, n) = pooled.moments();
    let (pm, psd) = mean_std(&s, &s2, n as f64);
    for i in 0..2 {
        assert!((m[i] - pm[i]).abs() < 1e-9 * pm[i].abs().max(1.0));
        assert!((sd[i] - psd[i]).abs() < 1e-6 * psd[i]);
    }
    assert!(federated_mean_std(&avg, 3).is_err());
}

#[test]
fn plans_name_their_aggregation_and_refuse_unknown_ones() {
    let base = "name = 'p'\nrounds = 1\nfeatures = 2\ncollaborators = ['a', 'b']\n[model]\nkind = 'logreg'\n\
                [training]\nlearning_rate = 0.1\n";
    let with = |line: &str| base.replacen("rounds = 1\n", &format!("rounds = 1\n{line}\n"), 1);
    assert_eq!(
        crate::plan::Plan::parse(&with("aggregation = 'fedavg'"))
            .unwrap()
            .aggregation,
        crate::plan::Aggregation::FedAvg
    );
    let e = crate::plan::Plan::parse(&with("aggregation = 'median'"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown variant `median`"), "{e}");
    let e = crate::plan::Plan::parse(&with("rounds_typo = 3"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field"), "{e}");
}
