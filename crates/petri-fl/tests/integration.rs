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

fn write_csv(path: &Path, d: &Dataset) {
    let mut text = String::from("a,b,c,d,label\n");
    for (x, y) in d.x.iter().zip(&d.y) {
        let row: Vec<String> = x.iter().map(|v| v.to_string()).collect();
        text += &format!("{},{y}\n", row.join(","));
    }
    std::fs::write(path, text).unwrap();
}

/// A federation as a petri workflow: the broker schedules every round's aggregation and training
/// processes; weights travel over mTLS only; a plan the sites did not pin is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_federation_runs_as_a_workflow_and_sites_refuse_unpinned_plans() {
    use petri_api::model::state;
    use petri_fl::executor::{
        Aggregator, Collaborator, aggregator_executor, collaborator_executor, plan_hash, workflow,
    };
    use petri_sdk::{Env, PrivateKey};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let ours = pki(dir.path(), "root", "fed", "fed.test");
    let server = petri_e2e::TestServer::start().await;
    let colony = server.colony().await;
    let client = server.client();
    let mut env = Env::default();
    env.host = "127.0.0.1".into();
    env.port = server.addr().port();
    env.colony = colony.name.clone();

    let names: Vec<String> = (0..3).map(|i| format!("site-{i}.fed.test")).collect();
    let plan_text = format!(
        "name = 'blobs'\nrounds = 3\nfeatures = 4\ncollaborators = {names:?}\n[model]\nkind = 'mlp'\nhidden = 4\n\
         [training]\nlearning_rate = 0.3\nepochs = 2\n[timeouts]\nstage_secs = 20\n"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let out = dir.path().join("models");
    let aggregator = Arc::new(Aggregator::new(
        listener,
        issue(&ours, "fed", "agg.fed.test", dir.path()),
        vec![colony.executor.id()],
        &out,
    ));
    let mut runtimes = vec![aggregator_executor(
        &env,
        "agg.fed.test",
        PrivateKey::generate(),
        aggregator,
    )];
    for (i, name) in names.iter().enumerate() {
        let site = dir.path().join(format!("data-{i}"));
        std::fs::create_dir_all(&site).unwrap();
        write_csv(&site.join("train.csv"), &blobs(150, i as u64));
        write_csv(&site.join("test.csv"), &blobs(50, 10 + i as u64));
        std::fs::write(
            site.join("policy.toml"),
            format!(
                "audit_log = 'audit.jsonl'\n[[dataset]]\nname = 'default'\ninitiators = ['{}']\nprograms = ['{}']\n\
                 recipients = ['agg.fed.test']\n",
                colony.executor.id(),
                plan_hash(&plan_text)
            ),
        )
        .unwrap();
        let policy = petri_policy::Policy::load(&site.join("policy.toml")).unwrap();
        let collaborator = Collaborator::new(
            name,
            &site.join("train.csv"),
            Some(&site.join("test.csv")),
            issue(&ours, "fed", name, dir.path()),
            Arc::new(policy),
            &site.join("work"),
        );
        runtimes.push(collaborator_executor(
            &env,
            PrivateKey::generate(),
            Arc::new(collaborator),
        ));
    }
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for rt in runtimes {
        rt.register(Some(&colony.key)).await.unwrap();
        let mut stopped = stop.subscribe();
        tasks.push(tokio::spawn(async move {
            rt.run(async move {
                let _ = stopped.recv().await;
            })
            .await
        }));
    }

    let submit = |text: &str, federation: &str| {
        let specs = workflow(&colony.name, federation, text, &addr, "agg.fed.test").unwrap();
        petri_api::model::WorkflowSpec {
            colonyname: colony.name.clone(),
            functionspecs: specs,
        }
    };
    let key = &colony.executor.key;
    let graph = client.submit_workflow(submit(&plan_text, "fed-1"), key).await.unwrap();
    let outputs = petri_e2e::within(120, async {
        loop {
            let mut rounds = Vec::new();
            for id in &graph.processids {
                let p = client.get_process(id, key).await.unwrap();
                assert_ne!(p.state, state::FAILED, "{}: {:?}", p.spec.nodename, p.errors);
                if p.spec.funcname == "fl_aggregate" && p.state == state::SUCCESS {
                    rounds.push(p.output.clone());
                }
            }
            // Round 0 sums the feature statistics; rounds 1 to 3 train.
            if rounds.len() == 4 {
                break rounds;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    for output in &outputs {
        let text = output[0].as_str().unwrap();
        let r: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(r["aggregated"].as_array().unwrap().len(), 3, "{r}");
        assert!(!text.contains("weights"), "a process output carries the model: {text}");
    }
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fed-1").join("model.json")).unwrap()).unwrap();
    assert_eq!(model["round"], 3);

    // A plan the sites did not pin (one more round) is refused by every site's policy.
    let other = plan_text
        .replace("rounds = 3", "rounds = 4")
        .replace("stage_secs = 20", "stage_secs = 3");
    let graph = client.submit_workflow(submit(&other, "fed-2"), key).await.unwrap();
    let refused = petri_e2e::within(60, async {
        loop {
            let mut errors = Vec::new();
            for id in &graph.processids {
                let p = client.get_process(id, key).await.unwrap();
                if p.spec.funcname == "fl_train" && p.state == state::FAILED {
                    errors.push(p.errors.join("; "));
                }
            }
            if errors.len() == 3 {
                break errors;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(refused.iter().all(|e| e.contains("is not allowed")), "{refused:?}");
    let _ = stop.send(());
    for t in tasks {
        let _ = t.await;
    }
    server.stop().await;
}

/// A user's training command (here a few lines of Python's standard library reading and writing
/// the safetensors files) trains in place of the built-in trainer.
#[test]
fn a_training_command_reads_and_writes_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("train.py");
    std::fs::write(
        &script,
        r#"import json, os, struct
def load(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    start, end = header["weights"]["data_offsets"]
    raw = data[8 + n + start:8 + n + end]
    return list(struct.unpack("<%dd" % (len(raw) // 8), raw))
def save(path, values):
    raw = struct.pack("<%df" % len(values), *values)
    header = json.dumps({"weights": {"dtype": "F32", "shape": [len(values)], "data_offsets": [0, len(raw)]}}).encode()
    header += b" " * (-len(header) % 8)
    open(path, "wb").write(struct.pack("<Q", len(header)) + header + raw)
w = load(os.environ["PETRI_FL_WEIGHTS_IN"])
assert os.path.exists(os.environ["PETRI_FL_DATA"])
save(os.environ["PETRI_FL_WEIGHTS_OUT"], [v + float(os.environ["PETRI_FL_ROUND"]) for v in w])
"#,
    )
    .unwrap();
    let data = dir.path().join("train.csv");
    std::fs::write(&data, "a,label\n1,0\n").unwrap();
    let command = vec!["python3".to_string(), script.display().to_string()];
    let out =
        petri_fl::executor::run_command(&command, &dir.path().join("work"), &data, 2, &[0.5, -1.25, 3.0]).unwrap();
    assert_eq!(out, vec![2.5, 0.75, 5.0]);
    // A command that fails, or writes the wrong shape, is an error with the reason.
    let bad = vec![
        "python3".to_string(),
        "-c".to_string(),
        "raise SystemExit(3)".to_string(),
    ];
    let e = petri_fl::executor::run_command(&bad, &dir.path().join("work"), &data, 1, &[1.0]).unwrap_err();
    assert!(e.to_string().contains("exited with"), "{e}");
    let silent = vec!["python3".to_string(), "-c".to_string(), "pass".to_string()];
    let e = petri_fl::executor::run_command(&silent, &dir.path().join("work"), &data, 1, &[1.0]).unwrap_err();
    assert!(e.to_string().contains("update-1.safetensors"), "{e}");
}
