//! Rounds over real mutual TLS: an aggregator and collaborators with certificates from a
//! throw-away petri PKI, the built-in trainer on CSV data.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use petri_fl::FlError;
use petri_fl::net::{accept_members, connect};
use petri_fl::plan::Plan;
use petri_fl::round::{RoundSettings, Trainer, aggregate_round, collaborate_round};
use petri_fl::train::{Dataset, Model};
use petri_pki::tls::{TlsFiles, TlsMaterial};
use petri_pki::{NodeRequest, OrgRequest, Pki, parse_cidr};
use rand::{Rng, SeedableRng};

fn issue(pki: &Pki, org: &str, name: &str, dir: &Path) -> TlsMaterial {
    let out = dir.join(name);
    pki.issue_node(
        org,
        &NodeRequest {
            name: name.into(),
            dns: vec![name.into()],
            ips: vec!["127.0.0.1".parse::<IpAddr>().unwrap()],
            days: 1,
        },
    )
    .unwrap()
    .write_to(&out)
    .unwrap();
    TlsMaterial::load(&TlsFiles {
        ca: out.join("ca.pem"),
        cert: out.join("cert.pem"),
        key: out.join("key.pem"),
        crls: vec![],
    })
    .unwrap()
}

fn pki(dir: &Path, root: &str, org: &str, domain: &str) -> Pki {
    let pki = Pki::init(&dir.join(root), root, 1).unwrap();
    pki.create_org(&OrgRequest {
        name: org.into(),
        dns: vec![domain.into()],
        ip_ranges: vec![parse_cidr("127.0.0.0/8").unwrap()],
        days: 1,
    })
    .unwrap();
    pki
}

struct Builtin {
    model: Model,
    train: Dataset,
    test: Dataset,
    rng: rand_chacha::ChaCha20Rng,
}

impl Trainer for Builtin {
    fn train(&mut self, _round: u32, weights: &[f64]) -> Result<(Vec<f64>, u32), FlError> {
        let mut w = weights.to_vec();
        self.model.train(&mut w, &self.train, 2, 0.3, 8, &mut self.rng)?;
        Ok((w, self.train.x.len() as u32))
    }
    fn evaluate(&mut self, weights: &[f64]) -> Result<(f64, f64, u64), FlError> {
        let (l, a) = self.model.evaluate(weights, &self.test)?;
        Ok((l, a, self.test.x.len() as u64))
    }
}

fn blobs(n: usize, seed: u64) -> Dataset {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let mut d = Dataset::default();
    for _ in 0..n {
        let y = rng.random_bool(0.5);
        let c = if y { 1.0 } else { -1.0 };
        d.x.push((0..4).map(|_| c + rng.random_range(-1.2..1.2)).collect());
        d.y.push(f64::from(u8::from(y)));
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sites_train_over_mutual_tls_and_a_foreign_site_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ours = pki(dir.path(), "root", "fed", "fed.test");
    let theirs = pki(dir.path(), "other-root", "evil", "evil.test");
    let names: Vec<String> = (0..3).map(|i| format!("site-{i}.fed.test")).collect();
    let plan = Plan::parse(&format!(
        "name = 'blobs'\nrounds = 3\nfeatures = 4\ncollaborators = {names:?}\n[model]\nkind = 'logreg'\n[training]\nlearning_rate = 0.3\n"
    ))
    .unwrap();
    let aggregator = issue(&ours, "fed", "agg.fed.test", dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();

    // A site with a certificate from another root tries first: its handshake fails.
    let intruder = issue(&theirs, "evil", "site-0.evil.test", dir.path());
    let intrusion = {
        let addr = addr.clone();
        tokio::spawn(async move {
            let mut link = connect(&addr, "agg.fed.test", &intruder, Duration::from_secs(5)).await?;
            petri_fl::round::Link::recv(&mut link).await
        })
    };

    let mut sites = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let tls = issue(&ours, "fed", name, dir.path());
        let addr = addr.clone();
        let mut trainer = Builtin {
            model: Model::Logreg,
            train: blobs(200, i as u64),
            test: blobs(50, 100 + i as u64),
            rng: rand_chacha::ChaCha20Rng::seed_from_u64(i as u64),
        };
        sites.push(tokio::spawn(async move {
            let mut link = connect(&addr, "agg.fed.test", &tls, Duration::from_secs(10)).await?;
            let mut last = Vec::new();
            for _ in 0..3 {
                last = collaborate_round(&mut link, &mut trainer).await?.1;
            }
            Ok::<_, FlError>(last)
        }));
    }
    let mut members = accept_members(&listener, &aggregator, &plan.collaborators, 3, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(members.len(), 3);
    let mut weights = Model::Logreg.init(4, &mut rand::rng());
    let mut accuracy = 0.0;
    for round in 1..=3 {
        let settings = RoundSettings {
            round,
            secagg: Some(plan.secagg(u64::from(round), weights.len())),
            min_collaborators: plan.min_collaborators(),
            stage: Duration::from_secs(20),
        };
        let outcome = aggregate_round(&mut members, &weights, &settings).await.unwrap();
        assert_eq!(outcome.aggregated.len(), 3);
        weights = outcome.weights;
        accuracy = outcome.accuracy.unwrap();
    }
    assert!(accuracy > 0.9, "accuracy {accuracy}");
    for s in sites {
        assert_eq!(s.await.unwrap().unwrap(), weights, "every site holds the final model");
    }
    let refused = intrusion.await.unwrap();
    assert!(refused.is_err(), "a foreign certificate got a link");
    let _: PathBuf = dir.path().to_path_buf();
}
