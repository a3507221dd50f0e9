//! The `sql` job on a real broker: six `sql` processes in one workflow, each taken by its party's
//! executor; only parameters and counts pass through the broker.

use std::sync::Arc;
use std::time::Duration;

use petri_api::model::{Process, state};
use petri_e2e::{TestServer, unique, within, workflow};
use petri_sdk::{Client, Env, PrivateKey};
use petri_sql::executor::{Role, SqlParty, sql_executor};
use petri_sql::net::{Endpoint, Job};
use petri_sql::{Table, Value};
use serde_json::json;

use super::net::{ORGS, name, pki};
use super::{check_against_sqlite, tables};

async fn finished(client: &Client, id: &str, key: &PrivateKey) -> Process {
    within(90, async {
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

fn free_addr() -> String {
    format!("127.0.0.1:{}", petri_e2e::free_port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_query_runs_as_a_workflow_and_the_broker_sees_no_value() {
    let dir = tempfile::tempdir().unwrap();
    let tls = pki(dir.path(), "root", &ORGS);
    let (a, b) = tables(21, 40, false);
    let server = TestServer::start().await;
    let colony = server.colony().await;
    let mut env = Env::default();
    env.host = "127.0.0.1".into();
    env.port = server.addr().port();
    env.colony = colony.name.clone();
    let initiator = colony.executor.id();

    let addrs: Vec<String> = (0..6).map(|_| free_addr()).collect();
    let query = "SELECT g, COUNT(*), SUM(x), MAX(y) FROM a JOIN b ON a.id = b.id WHERE x > 0 GROUP BY g";
    let job = Job {
        session: "wf-sql".into(),
        query: query.into(),
        schemas: vec![a.schema.clone(), b.schema.clone()],
        owners: (0..2)
            .map(|t| Endpoint {
                name: name(ORGS[t]),
                addr: addrs[t].clone(),
            })
            .collect(),
        nodes: (0..3)
            .map(|i| Endpoint {
                name: name(ORGS[2 + i]),
                addr: addrs[2 + i].clone(),
            })
            .collect(),
        analyst: Endpoint {
            name: name(ORGS[5]),
            addr: addrs[5].clone(),
        },
        timeout_secs: Some(30),
        psi_protocol: Some("kkrt".into()),
    };
    let hash = job.query_hash().unwrap();
    let policy = |t: usize, table: &Table| {
        let path = dir.path().join(format!("owner{t}.policy.toml"));
        std::fs::write(
            &path,
            format!(
                "owner = \"owner{t}\"\naudit_log = \"owner{t}.audit.jsonl\"\n[[dataset]]\nname = {:?}\ninitiators = [{initiator:?}]\npsi_peers = [{:?}]\npsi_modes = [\"intersection\"]\nprograms = [{hash:?}]\nrecipients = [{:?}]\nmin_cohort = 1\n",
                table.schema.name,
                name(ORGS[1 - t]),
                name(ORGS[5]),
            ),
        )
        .unwrap();
        Arc::new(petri_policy::Policy::load(&path).unwrap())
    };
    let out_dir = dir.path().join("analyst-out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let kinds: Vec<String> = ORGS.iter().map(|o| unique(o)).collect();
    let roles = vec![
        Role::Owner {
            table: a.clone(),
            policy: policy(0, &a),
        },
        Role::Owner {
            table: b.clone(),
            policy: policy(1, &b),
        },
        Role::Node {
            party: 0,
            initiators: vec![initiator.clone()],
        },
        Role::Node {
            party: 1,
            initiators: vec![initiator.clone()],
        },
        Role::Node {
            party: 2,
            initiators: vec![initiator.clone()],
        },
        Role::Analyst {
            output_dir: out_dir.clone(),
        },
    ];
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for (i, (role, tls)) in roles.into_iter().zip(tls).enumerate() {
        let party = SqlParty {
            role,
            name: name(ORGS[i]),
            tls,
            listen: addrs[i].clone(),
        };
        let rt = sql_executor(&env, &unique(ORGS[i]), &kinds[i], PrivateKey::generate(), party);
        rt.register(Some(&colony.key)).await.unwrap();
        let mut stopped = stop.subscribe();
        tasks.push(tokio::spawn(async move {
            rt.run(async move {
                let _ = stopped.recv().await;
            })
            .await
        }));
    }
    let client = server.client();
    let key = &colony.executor.key;
    let job_json = serde_json::to_value(&job).unwrap();
    let spec = |i: usize, role: &str, party: Option<usize>| {
        let mut s = petri_e2e::spec(&colony.name, &kinds[i], "sql");
        s.nodename = format!("{}:sql", ORGS[i]);
        s.maxretries = 0;
        s.kwargs.insert("job".into(), job_json.clone());
        s.kwargs.insert("role".into(), json!(role));
        if let Some(p) = party {
            s.kwargs.insert("party".into(), json!(p));
        }
        s
    };
    let graph = client
        .submit_workflow(
            workflow(
                &colony.name,
                vec![
                    spec(0, "owner", Some(0)),
                    spec(1, "owner", Some(1)),
                    spec(2, "node", Some(0)),
                    spec(3, "node", Some(1)),
                    spec(4, "node", Some(2)),
                    spec(5, "analyst", None),
                ],
            ),
            key,
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    for id in &graph.processids {
        let p = finished(&client, id, key).await;
        assert_eq!(p.state, state::SUCCESS, "{}: {:?}", p.spec.nodename, p.errors);
        seen.push(p);
    }
    // The result, at the analyst's site only.
    let text = std::fs::read_to_string(out_dir.join("wf-sql.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<Vec<Value>> = reader
        .records()
        .map(|r| {
            r.unwrap()
                .iter()
                .map(|c| {
                    if c.is_empty() {
                        Value::Null
                    } else if let Ok(i) = c.parse::<i64>() {
                        Value::Int(i)
                    } else if let Ok(f) = c.parse::<f64>() {
                        Value::Real(f)
                    } else {
                        Value::Text(c.to_string())
                    }
                })
                .collect()
        })
        .collect();
    check_against_sqlite(query, &[&a, &b], &rows);
    // The broker's records carry no value of either table: no group label or name, no y value.
    let records = serde_json::to_string(&seen).unwrap();
    for t in [&a, &b] {
        for col in &t.columns {
            for v in col {
                if let Value::Text(s) = v {
                    assert!(
                        !records.contains(&format!("\"{s}\"")),
                        "the broker's records contain {s}"
                    );
                }
                // Negative values with a fraction ("-3.17") cannot be confused with ports,
                // counts or timestamps in the records.
                if let Value::Real(r) = v
                    && *r < 0.0
                    && r.fract() != 0.0
                {
                    assert!(!records.contains(&r.to_string()), "the broker's records contain {r}");
                }
            }
        }
    }
    petri_policy::verify_log(&dir.path().join("owner1.audit.jsonl")).unwrap();
    let _ = stop.send(());
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    server.stop().await;
}
