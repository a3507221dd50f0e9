//! The secure-sum workflow of seed 000 end to end, and the attacks on it: a real broker, data-owner
//! executors with their policies and the aggregator in this process, the analyst's key only here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use petri_api::model::{FunctionSpec, Process, state};
use petri_e2e::{TestColony, TestServer, unique, within, workflow};
use petri_he_executors::mask::MaskKey;
use petri_he_executors::{DataOwner, DataSource, PUBKEY_KWARG, aggregator_executor, data_executor, key_fingerprint};
use petri_paillier::wire::collect_ciphertexts;
use petri_paillier::{Keypair, Number};
use petri_sdk::{Client, Env, PrivateKey};
use serde_json::{Value, json};

/// A running broker with three hospitals (each with a policy, a mask key and an audit log) and
/// the cloud aggregator; the analyst's key pair; the colony.
struct World {
    server: TestServer,
    colony: TestColony,
    analyst: Keypair,
    dir: tempfile::TempDir,
    kinds: Vec<String>,
    cloud_kind: String,
    stop: tokio::sync::broadcast::Sender<()>,
    tasks: Vec<tokio::task::JoinHandle<Result<(), petri_executor::ExecutorError>>>,
}

const HOSPITALS: [&str; 3] = ["h1", "h2", "h3"];

/// Each hospital's patients: h1 five rows from a CSV, h2 and h3 five and six rows.
fn patients(i: usize) -> Vec<i64> {
    match i {
        0 => vec![40, 15, 33, 71, 8],
        1 => vec![5, 6, 7, 8, 9],
        _ => vec![60, 61, 62, 63, 64, 65],
    }
}

fn analyst_keys() -> Keypair {
    petri_paillier::generate_keypair(&mut rand::rng(), 2048).expect("keygen")
}

fn policy_text(name: &str, initiator: &str, analyst: &str, peers: &[(String, String)], extra: &str) -> String {
    let mut text = format!(
        "owner = {name:?}\naudit_log = \"{name}.audit.jsonl\"\nmask_key = \"{name}.mask.key\"\n{extra}\n[peers]\n"
    );
    for (peer, key) in peers {
        text += &format!("{peer:?} = {key:?}\n");
    }
    text += &format!(
        "[[dataset]]\nname = \"default\"\ninitiators = [{initiator:?}]\nfunctions = [\"get_patient_data\"]\nanalyst_keys = [{analyst:?}]\n"
    );
    text
}

impl World {
    async fn start() -> World {
        let server = TestServer::start().await;
        let colony = server.colony().await;
        let mut env = Env::default();
        env.host = "127.0.0.1".into();
        env.port = server.addr().port();
        env.colony = colony.name.clone();
        let analyst = tokio::task::spawn_blocking(analyst_keys).await.expect("keygen");
        let fingerprint = key_fingerprint(&analyst.public);
        let dir = tempfile::tempdir().expect("tempdir");
        let masks: Vec<MaskKey> = HOSPITALS.iter().map(|_| MaskKey::generate()).collect();
        let kinds: Vec<String> = HOSPITALS.iter().map(|h| unique(h)).collect();
        let cloud_kind = unique("cloud");
        let mut runtimes = Vec::new();
        for (i, name) in HOSPITALS.iter().enumerate() {
            masks[i]
                .save(&dir.path().join(format!("{name}.mask.key")))
                .expect("mask key");
            let peers: Vec<(String, String)> = HOSPITALS
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(j, peer)| (peer.to_string(), masks[j].public_base64()))
                .collect();
            let path = dir.path().join(format!("{name}.policy.toml"));
            // The colony's analyst (the colony's test executor) may ask; nobody else.
            std::fs::write(
                &path,
                policy_text(name, &colony.executor.id(), &fingerprint, &peers, ""),
            )
            .expect("policy");
            let csv = dir.path().join(format!("{name}.csv"));
            let rows: String = patients(i).iter().map(|v| format!("p,{v}\n")).collect();
            std::fs::write(&csv, format!("patient,age\n{rows}")).expect("csv");
            let policy = petri_policy::Policy::load(&path).expect("policy loads");
            let source = DataSource::Csv {
                path: csv,
                column: "age".into(),
            };
            let owner = DataOwner::new(name, source, Arc::new(policy)).expect("data owner");
            runtimes.push(data_executor(
                &env,
                &unique(name),
                &kinds[i],
                PrivateKey::generate(),
                "get_patient_data",
                owner,
            ));
        }
        runtimes.push(aggregator_executor(
            &env,
            &unique("cloud"),
            &cloud_kind,
            PrivateKey::generate(),
            "sum_patient_data",
        ));
        let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
        let mut tasks = Vec::new();
        for rt in runtimes {
            rt.register(Some(&colony.key)).await.expect("register");
            let mut stopped = stop.subscribe();
            tasks.push(tokio::spawn(async move {
                rt.run(async move {
                    let _ = stopped.recv().await;
                })
                .await
            }));
        }
        World {
            server,
            colony,
            analyst,
            dir,
            kinds,
            cloud_kind,
            stop,
            tasks,
        }
    }

    fn client(&self) -> Client {
        self.server.client()
    }

    fn audit(&self, hospital: &str) -> PathBuf {
        self.dir.path().join(format!("{hospital}.audit.jsonl"))
    }

    fn spec(&self, hospital: usize, key: &str, kwargs: Value) -> FunctionSpec {
        let mut spec = petri_e2e::spec(&self.colony.name, &self.kinds[hospital], "get_patient_data");
        spec.nodename = format!("{}:get_patient_data", HOSPITALS[hospital]);
        spec.kwargs.insert(PUBKEY_KWARG.into(), json!(key));
        if let Value::Object(map) = kwargs {
            spec.kwargs.extend(map);
        }
        spec.maxretries = 0;
        spec
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        for t in self.tasks {
            t.await.expect("join").expect("executor ran");
        }
        self.server.stop().await;
    }
}

/// Waits until `id` is finished.
async fn finished(client: &Client, id: &str, key: &PrivateKey) -> Process {
    within(60, async {
        loop {
            let p = client.get_process(id, key).await.expect("get process");
            if p.state == state::SUCCESS || p.state == state::FAILED {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

fn decrypt_all(keys: &Keypair, output: &[Value]) -> Vec<(Option<String>, Result<Number, String>)> {
    collect_ciphertexts(&json!(output))
        .expect("ciphertexts")
        .into_iter()
        .map(|w| {
            let c = keys.public.from_wire(&w).expect("valid");
            (w.label.clone(), keys.private.decrypt(&c).map_err(|e| e.to_string()))
        })
        .collect()
}

fn decisions(path: &Path) -> Vec<Value> {
    petri_policy::verify_log(path).expect("the audit chain holds");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

/// Seed 000's secure sum over three hospitals with pairwise masks. The analyst's key decrypts the
/// total; the same key on one hospital's own output (attack: read a hospital's process and
/// decrypt it) gives a number unrelated to that hospital's data.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn masked_secure_sum_reveals_only_the_total() {
    let world = World::start().await;
    let client = world.client();
    let key = &world.colony.executor.key;
    let pubkey = world.analyst.public.to_seed_base64();
    let contributors = json!({"aggregate": "mean", "contributors": HOSPITALS});
    let mut specs: Vec<FunctionSpec> = (0..3).map(|i| world.spec(i, &pubkey, contributors.clone())).collect();
    let mut cloud = petri_e2e::spec(&world.colony.name, &world.cloud_kind, "sum_patient_data");
    cloud.nodename = "cloud:sum_patient_data".into();
    cloud.conditions.dependencies = specs.iter().map(|s| s.nodename.clone()).collect();
    cloud.kwargs.insert(PUBKEY_KWARG.into(), json!(pubkey));
    cloud.kwargs.insert("contributors".into(), json!(HOSPITALS));
    specs.push(cloud);
    let graph = client
        .submit_workflow(workflow(&world.colony.name, specs), key)
        .await
        .expect("submit");
    let mut by_node = std::collections::HashMap::new();
    for id in &graph.processids {
        let p = finished(&client, id, key).await;
        assert_eq!(p.state, state::SUCCESS, "{}: {:?}", p.spec.nodename, p.errors);
        by_node.insert(p.spec.nodename.clone(), p);
    }
    let total: i64 = (0..3).map(|i| patients(i).iter().sum::<i64>()).sum();
    let count: i64 = (0..3).map(|i| patients(i).len() as i64).sum();
    let sums = decrypt_all(&world.analyst, &by_node["cloud:sum_patient_data"].output);
    assert_eq!(
        sums,
        vec![
            (Some("sum".into()), Ok(Number::from(total))),
            (Some("count".into()), Ok(Number::from(count)))
        ]
    );
    // The attack: the key holder decrypts each hospital's own ciphertexts.
    for (i, h) in HOSPITALS.iter().enumerate() {
        let own = decrypt_all(&world.analyst, &by_node[&format!("{h}:get_patient_data")].output);
        assert_eq!(own.len(), 2);
        let (sum, rows) = (patients(i).iter().sum::<i64>(), patients(i).len() as i64);
        for ((label, value), truth) in own.iter().zip([sum, rows]) {
            // A masked encoding is uniform modulo n: it decodes to a huge number or not at all.
            if let Ok(v) = value {
                assert_ne!(v, &Number::from(truth), "{h}'s {label:?} decrypted to its true value");
                assert!(
                    v.to_f64().abs() > 1e100,
                    "{h}'s {label:?} decrypted to a small number {v:?}"
                );
            }
        }
        let log = decisions(&world.audit(h));
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["decision"], "released");
        assert_eq!(log[0]["contributors"], 3);
    }
    world.stop().await;
}

/// Attack: a colony member sends a hospital `get_patient_data` with its own Paillier key, hoping
/// to decrypt the answer. The hospital refuses (the key is not pinned), releases no ciphertext,
/// and writes the refusal to its audit log. Then: a request without masks, with too few
/// contributors, naming a contributor whose mask key is not pinned, or from a member the policy
/// does not list, is refused the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_outside_the_policy_release_nothing() {
    let world = World::start().await;
    let client = world.client();
    let analyst = world.analyst.public.to_seed_base64();
    let own = tokio::task::spawn_blocking(analyst_keys).await.expect("keygen");
    let attacker_key = own.public.to_seed_base64();
    let stranger = petri_e2e::add_executor(&client, &world.colony, "attacker", true).await;
    let all = json!(HOSPITALS);
    let cases: Vec<(&str, PrivateKey, String, Value, &str)> = vec![
        (
            "attacker's own key",
            world.colony.executor.key.clone(),
            attacker_key.clone(),
            json!({"contributors": all, "session": "s1"}),
            "is not a pinned analyst key",
        ),
        (
            "no masks",
            world.colony.executor.key.clone(),
            analyst.clone(),
            json!({}),
            "answers only masked secure sums",
        ),
        (
            "two contributors",
            world.colony.executor.key.clone(),
            analyst.clone(),
            json!({"contributors": ["h1", "h2"], "session": "s2"}),
            "2 contributors are fewer than the 3",
        ),
        (
            "an unpinned contributor",
            world.colony.executor.key.clone(),
            analyst.clone(),
            json!({"contributors": ["h1", "h2", "mallory"], "session": "s3"}),
            "\"mallory\" has no pinned mask key",
        ),
        (
            "another member",
            stranger.key.clone(),
            analyst.clone(),
            json!({"contributors": all, "session": "s4"}),
            "may not ask for dataset",
        ),
        (
            "an oversized key",
            world.colony.executor.key.clone(),
            ((num_bigint::BigUint::from(1u32) << 9000u32) + 1u32).to_string(),
            json!({"contributors": all, "session": "s5"}),
            "more than 8192",
        ),
    ];
    for (what, submitter, pubkey, kwargs, reason) in cases {
        let spec = world.spec(0, &pubkey, kwargs);
        let p = client.submit(spec, &submitter).await.expect("submit");
        let p = finished(&client, &p.processid, &submitter).await;
        assert_eq!(p.state, state::FAILED, "{what}: the hospital answered");
        assert!(p.output.is_empty(), "{what}: output {:?}", p.output);
        let errors = p.errors.join("; ");
        assert!(errors.contains(reason), "{what}: {errors}");
    }
    // Each refusal the policy decided is in the audit log; none was released.
    let log = decisions(&world.audit("h1"));
    assert!(log.len() >= 4, "{log:?}");
    assert!(log.iter().all(|e| e["decision"] == "refused"), "{log:?}");
    assert!(
        log.iter()
            .any(|e| e["reason"].as_str().unwrap_or("").contains("not a pinned analyst key"))
    );
    world.stop().await;
}

/// Attack: a hospital with fewer rows than the policy's minimum cohort is asked for its sum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_cohorts_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let analyst = tokio::task::spawn_blocking(analyst_keys).await.expect("keygen");
    let path = dir.path().join("p.toml");
    let text = policy_text("h1", &"a".repeat(64), &key_fingerprint(&analyst.public), &[], "")
        .replace("mask_key = \"h1.mask.key\"\n", "")
        + "allow_unmasked = true\n";
    std::fs::write(&path, text).expect("policy");
    let policy = petri_policy::Policy::load(&path).expect("loads");
    let owner = DataOwner::new("h1", DataSource::Value(Number::from(42)), Arc::new(policy)).expect("owner");
    let mut process = Process {
        processid: "p1".into(),
        initiatorid: "a".repeat(64),
        ..Process::default()
    };
    process.spec.funcname = "get_patient_data".into();
    process
        .spec
        .kwargs
        .insert(PUBKEY_KWARG.into(), json!(analyst.public.to_seed_base64()));
    let e = owner.answer(&process).await.unwrap_err().to_string();
    assert!(e.contains("1 rows, fewer than the 5"), "{e}");
    assert_eq!(decisions(&dir.path().join("h1.audit.jsonl"))[0]["decision"], "refused");
}

/// A data owner configured with a PostgreSQL query reads the real database: integer and
/// numeric columns, NULLs skipped, and a clear error for a query that fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_source_reads_its_query() {
    let Some(schema) = petri_e2e::TestSchema::new("postgres_source_reads_its_query") else {
        return;
    };
    // Creates the schema (and petri's tables, unused here).
    let _ = schema.store().await;
    {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&schema.url()).await.expect("connect");
        for sql in [
            "CREATE TABLE patients (name text, age integer, weight numeric)",
            "INSERT INTO patients VALUES ('a', 40, 71.5), ('b', 15, NULL), ('c', NULL, 80.25)",
        ] {
            sqlx::query(sql).execute(&mut conn).await.expect(sql);
        }
    }
    let source = |query: &str| DataSource::Postgres {
        url: schema.url(),
        query: query.into(),
    };
    let ages = petri_he_executors::read_values(&source("SELECT age FROM patients ORDER BY name"))
        .await
        .unwrap();
    assert_eq!(ages, vec![Number::Int(40.into()), Number::Int(15.into())]);
    let weights = petri_he_executors::read_values(&source("SELECT weight FROM patients ORDER BY name"))
        .await
        .unwrap();
    assert_eq!(weights, vec![Number::Float(71.5), Number::Float(80.25)]);
    let err = petri_he_executors::read_values(&source("SELECT nope FROM patients"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("query failed") && err.contains("nope"), "{err}");
    let err = petri_he_executors::read_values(&source("SELECT name FROM patients"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a number"), "{err}");
}
