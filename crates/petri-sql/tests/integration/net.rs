//! A query between six parties over real mutual TLS from `petri pki`: two owners, three compute
//! nodes and the analyst, each with its own certificate and listener.

use std::path::Path;
use std::sync::Arc;

use petri_pki::tls::{TlsFiles, TlsMaterial};
use petri_pki::{NodeRequest, OrgRequest, Pki, parse_cidr};
use petri_sql::net::{Endpoint, Gate, GateAsk, Job, NodeReport, OwnerReport, run_analyst, run_node, run_owner};
use petri_sql::{ResultSet, SqlError, Table};
use tokio::net::TcpListener;

use super::{check_against_sqlite, tables};

pub(crate) const ORGS: [&str; 6] = ["owner-a", "owner-b", "node0", "node1", "node2", "analyst"];

pub(crate) fn name(org: &str) -> String {
    format!("node.{org}.sql.test")
}

/// One certificate per party under the root `root`.
pub(crate) fn pki(dir: &Path, root: &str, orgs: &[&str]) -> Vec<TlsMaterial> {
    let pki = Pki::init(&dir.join(root), root, 2).unwrap();
    orgs.iter()
        .map(|org| {
            let dns = format!("{org}.sql.test");
            pki.create_org(&OrgRequest {
                name: org.to_string(),
                dns: vec![dns.clone()],
                ip_ranges: vec![parse_cidr("127.0.0.0/8").unwrap()],
                days: 2,
            })
            .unwrap();
            let node = pki
                .issue_node(
                    org,
                    &NodeRequest {
                        name: name(org),
                        dns: vec![name(org)],
                        ips: vec![],
                        days: 2,
                    },
                )
                .unwrap();
            let d = dir.join(format!("{root}-{org}"));
            std::fs::create_dir_all(&d).unwrap();
            node.write_to(&d).unwrap();
            TlsMaterial::load(&TlsFiles {
                ca: d.join("ca.pem"),
                cert: d.join("cert.pem"),
                key: d.join("key.pem"),
                crls: vec![],
            })
            .unwrap()
        })
        .collect()
}

fn allow(_: GateAsk<'_>) -> Result<(), SqlError> {
    Ok(())
}

struct Run {
    result: Result<ResultSet, SqlError>,
    owners: Vec<Result<OwnerReport, SqlError>>,
    nodes: Vec<Result<NodeReport, SqlError>>,
}

async fn run(query: &str, tables: [&Table; 2], tls: Vec<TlsMaterial>, gate_b: Gate<'static>) -> Run {
    let mut ls = Vec::new();
    for _ in 0..4 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        ls.push((l, addr));
    }
    let analyst = ls.pop().unwrap();
    let job = Arc::new(Job {
        session: "sql-test".into(),
        query: query.into(),
        schemas: vec![tables[0].schema.clone(), tables[1].schema.clone()],
        owners: vec![
            Endpoint {
                name: name(ORGS[0]),
                addr: format!("127.0.0.1:{}", petri_e2e::free_port()),
            },
            Endpoint {
                name: name(ORGS[1]),
                addr: "127.0.0.1:9".into(),
            },
        ],
        nodes: (0..3)
            .map(|i| Endpoint {
                name: name(ORGS[2 + i]),
                addr: ls[i].1.clone(),
            })
            .collect(),
        analyst: Endpoint {
            name: name(ORGS[5]),
            addr: analyst.1.clone(),
        },
        timeout_secs: Some(10),
        psi_protocol: None,
    });
    let tls: Vec<Arc<TlsMaterial>> = tls.into_iter().map(Arc::new).collect();
    let mut node_tasks = Vec::new();
    for (i, (l, _)) in ls.into_iter().enumerate() {
        let (job, tls) = (job.clone(), tls[2 + i].clone());
        node_tasks.push(tokio::spawn(async move { run_node(&job, i, l, &tls).await }));
    }
    let analyst_task = {
        let (job, tls) = (job.clone(), tls[5].clone());
        tokio::spawn(async move { run_analyst(&job, analyst.0, &tls).await })
    };
    let mut owner_tasks = Vec::new();
    for t in 0..2 {
        let (job, tls, table) = (job.clone(), tls[t].clone(), tables[t].clone());
        owner_tasks.push(tokio::spawn(async move {
            let gate: Gate<'static> = if t == 1 { gate_b } else { &allow };
            run_owner(&job, t, &table, &tls, gate).await
        }));
    }
    let mut owners = Vec::new();
    for o in owner_tasks {
        owners.push(o.await.unwrap());
    }
    let mut nodes = Vec::new();
    for n in node_tasks {
        nodes.push(n.await.unwrap());
    }
    Run {
        result: analyst_task.await.unwrap(),
        owners,
        nodes,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_query_between_six_parties_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let tls = pki(dir.path(), "root", &ORGS);
    let (a, b) = tables(11, 80, true);
    let q =
        "SELECT g, name, COUNT(*), SUM(x), AVG(y), MIN(x) FROM a JOIN b ON a.id = b.id WHERE y > -20 GROUP BY g, name";
    let r = run(q, [&a, &b], tls, &allow).await;
    for o in &r.owners {
        o.as_ref().unwrap();
    }
    for n in &r.nodes {
        n.as_ref().unwrap();
    }
    let result = r.result.unwrap();
    check_against_sqlite(q, &[&a, &b], &result.rows);
    assert_eq!(
        r.owners[0].as_ref().unwrap().intersection,
        r.owners[1].as_ref().unwrap().intersection
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_owner_whose_policy_refuses_sends_nothing_and_nothing_is_revealed() {
    let dir = tempfile::tempdir().unwrap();
    let tls = pki(dir.path(), "root", &ORGS);
    let (a, b) = tables(12, 20, false);
    fn refuse(ask: GateAsk<'_>) -> Result<(), SqlError> {
        match ask {
            GateAsk::Shares { .. } => Err(SqlError::Input("refused by policy: query not pinned".into())),
            GateAsk::Join { .. } => Ok(()),
        }
    }
    let r = run("SELECT COUNT(*) FROM a JOIN b ON a.id = b.id", [&a, &b], tls, &refuse).await;
    let e = r.owners[1].as_ref().unwrap_err().to_string();
    assert!(e.contains("refused by policy"), "{e}");
    // The nodes never get owner b's shares: they stop at the timeout, and nothing is revealed.
    assert!(r.nodes.iter().all(Result::is_err));
    assert!(r.result.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_compute_node_from_another_ca_gets_no_shares() {
    let dir = tempfile::tempdir().unwrap();
    let mut tls = pki(dir.path(), "root", &ORGS);
    // node1's certificate comes from another root, with the same names.
    tls[3] = pki(dir.path(), "rogue", &["node1"]).remove(0);
    let (a, b) = tables(13, 10, false);
    let r = run("SELECT COUNT(*) FROM a JOIN b ON a.id = b.id", [&a, &b], tls, &allow).await;
    assert!(r.result.is_err());
    assert!(r.nodes[1].is_err());
    assert!(
        r.owners.iter().all(Result::is_err),
        "an owner must not hand shares to a node it cannot verify"
    );
}
