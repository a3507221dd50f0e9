//! The secure-sum workflow of seed 000 end to end: a real broker, two data-owner executors and
//! the aggregator in this process, the analyst's key only here.

use std::time::Duration;

use petri_api::model::FunctionSpec;
use petri_e2e::{TestServer, unique, within, workflow};
use petri_he_executors::{DataSource, PUBKEY_KWARG, aggregator_executor, data_executor};
use petri_paillier::wire::collect_ciphertexts;
use petri_paillier::{Number, hazmat};
use petri_sdk::{Env, PrivateKey};
use serde_json::json;

fn node(colony: &str, name: &str, kind: &str, func: &str, deps: &[&str], pubkey: &str) -> FunctionSpec {
    let mut spec = petri_e2e::spec(colony, kind, func);
    spec.nodename = name.into();
    spec.conditions.dependencies = deps.iter().map(|d| (*d).to_owned()).collect();
    spec.kwargs.insert(PUBKEY_KWARG.into(), json!(pubkey));
    spec.kwargs.insert("aggregate".into(), json!("mean"));
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secure_sum_workflow() {
    let server = TestServer::start().await;
    let colony = server.colony().await;
    let client = server.client();
    let mut env = Env::default();
    env.host = "127.0.0.1".into();
    env.port = server.addr().port();
    env.colony = colony.name.clone();
    let keys = hazmat::generate_keypair_any_size(&mut rand::rng(), 1024).expect("keygen");
    let pubkey = keys.public.to_seed_base64();
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("r1.csv");
    std::fs::write(&csv, "patient,age\na,40\nb,15\n").expect("write");

    let (r1_kind, r2_kind, cloud_kind) = (unique("r1"), unique("r2"), unique("cloud"));
    let runtimes = vec![
        data_executor(
            &env,
            &unique("r1"),
            &r1_kind,
            PrivateKey::generate(),
            "get_patient_data",
            DataSource::Csv {
                path: csv,
                column: "age".into(),
            },
        ),
        data_executor(
            &env,
            &unique("r2"),
            &r2_kind,
            PrivateKey::generate(),
            "get_patient_data",
            DataSource::Value(Number::from(5)),
        ),
        aggregator_executor(
            &env,
            &unique("cloud"),
            &cloud_kind,
            PrivateKey::generate(),
            "sum_patient_data",
        ),
    ];
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for rt in runtimes {
        rt.register(Some(&colony.key)).await.expect("register");
        let mut stop = stop_tx.subscribe();
        tasks.push(tokio::spawn(async move {
            rt.run(async move {
                let _ = stop.recv().await;
            })
            .await
        }));
    }

    let c = &colony.name;
    let wf = workflow(
        c,
        vec![
            node(c, "r1:get_patent_data", &r1_kind, "get_patient_data", &[], &pubkey),
            node(c, "r2:get_patent_data", &r2_kind, "get_patient_data", &[], &pubkey),
            node(
                c,
                "cloud:sum_patent_data",
                &cloud_kind,
                "sum_patient_data",
                &["r1:get_patent_data", "r2:get_patent_data"],
                &pubkey,
            ),
        ],
    );
    let graph = client.submit_workflow(wf, &colony.executor.key).await.expect("submit");
    let key = &colony.executor.key;
    let cloud = within(60, async {
        loop {
            let mut found = None;
            for id in &graph.processids {
                let p = client.get_process(id, key).await.expect("get process");
                assert_ne!(p.state, petri_api::model::state::FAILED, "failed: {:?}", p.errors);
                if p.spec.nodename == "cloud:sum_patent_data" && p.state == petri_api::model::state::SUCCESS {
                    found = Some(p);
                }
            }
            if let Some(p) = found {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let _ = stop_tx.send(());
    for t in tasks {
        t.await.expect("join").expect("executor ran");
    }

    // The cloud's input holds only ciphertexts; its output decrypts to the sum and the count.
    let input = cloud.input.clone().unwrap_or_default();
    assert_eq!(collect_ciphertexts(&json!(input)).expect("ciphertexts").len(), 4);
    let sums: Vec<(Option<String>, Number)> = collect_ciphertexts(&json!(cloud.output))
        .expect("ciphertexts")
        .into_iter()
        .map(|w| {
            (
                w.label.clone(),
                keys.private
                    .decrypt(&keys.public.from_wire(&w).expect("valid"))
                    .expect("decrypts"),
            )
        })
        .collect();
    assert_eq!(
        sums,
        vec![
            (Some("sum".into()), Number::from(60)),
            (Some("count".into()), Number::from(3))
        ]
    );
    server.stop().await;
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
