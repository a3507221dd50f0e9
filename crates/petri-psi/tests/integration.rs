//! PSI between two organisations over real mutual TLS from `petri pki`, and as a petri workflow
//! with a real broker; the attacks: a peer from another CA, a peer with another name, a silent
//! peer, a request the policy does not allow, and keys leaking to the broker.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use petri_api::model::{Process, state};
use petri_e2e::{TestServer, unique, within, workflow};
use petri_pki::tls::{TlsFiles, TlsMaterial};
use petri_pki::{NodeRequest, OrgRequest, Pki, parse_cidr};
use petri_psi::executor::{PsiOwner, psi_executor};
use petri_psi::{Link, Mode, Params, Protocol, Reveal, Role, Source};
use petri_sdk::{Client, Env, PrivateKey};
use serde_json::{Value, json};

/// A root CA with organisations `a` and `b` (one node each, `node.a.psi.test`,
/// `node.b.psi.test`), under `dir/<root>`.
fn pki(dir: &Path, root: &str) -> (TlsMaterial, TlsMaterial) {
    let pki = Pki::init(&dir.join(root), root, 2).unwrap();
    let mut out = Vec::new();
    for org in ["a", "b"] {
        let dns = format!("{org}.psi.test");
        pki.create_org(&OrgRequest {
            name: org.into(),
            dns: vec![dns.clone()],
            ip_ranges: vec![parse_cidr("127.0.0.0/8").unwrap()],
            days: 2,
        })
        .unwrap();
        let node = pki
            .issue_node(
                org,
                &NodeRequest {
                    name: format!("node.{dns}"),
                    dns: vec![format!("node.{dns}")],
                    ips: vec![],
                    days: 2,
                },
            )
            .unwrap();
        let node_dir = dir.join(format!("{root}-{org}"));
        std::fs::create_dir_all(&node_dir).unwrap();
        node.write_to(&node_dir).unwrap();
        out.push(
            TlsMaterial::load(&TlsFiles {
                ca: node_dir.join("ca.pem"),
                cert: node_dir.join("cert.pem"),
                key: node_dir.join("key.pem"),
                crls: vec![],
            })
            .unwrap(),
        );
    }
    let b = out.pop().unwrap();
    (out.pop().unwrap(), b)
}

fn free_addr() -> String {
    format!("127.0.0.1:{}", petri_e2e::free_port())
}

async fn input(keys: &[String]) -> petri_psi::Input {
    petri_psi::input::read(&Source::Rows(keys.iter().map(|k| (k.clone(), None)).collect()), false)
        .await
        .unwrap()
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("customer-{i:08}")).collect()
}

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intersection_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pki(dir.path(), "root");
    let addr = free_addr();
    let (listen, dial) = (Link::Listen(addr.clone()), Link::Dial(addr.clone()));
    let (ia, ib) = (input(&ids(0..60)).await, input(&ids(40..100)).await);
    let pa = Params::new("tls-1", Mode::Intersection, Role::Receiver, Reveal::Receiver);
    let pb = Params::new("tls-1", Mode::Intersection, Role::Sender, Reveal::Receiver);
    let (ra, rb) = tokio::join!(
        petri_psi::run_tls(&pa, &ia, &listen, "node.b.psi.test", &a, T),
        petri_psi::run_tls(&pb, &ib, &dial, "node.a.psi.test", &b, T),
    );
    let ra = ra.unwrap();
    rb.unwrap();
    let matched: Vec<&String> = ra.matched.unwrap().iter().map(|&i| &ia.keys[i]).collect();
    assert_eq!(matched, ids(40..60).iter().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kkrt_intersection_to_both_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pki(dir.path(), "root");
    let addr = free_addr();
    let (listen, dial) = (Link::Listen(addr.clone()), Link::Dial(addr.clone()));
    let (ia, ib) = (input(&ids(0..3000)).await, input(&ids(2000..6000)).await);
    let mut pa = Params::new("tls-kkrt", Mode::Intersection, Role::Receiver, Reveal::Both);
    let mut pb = Params::new("tls-kkrt", Mode::Intersection, Role::Sender, Reveal::Both);
    pa.protocol = Protocol::Kkrt;
    pb.protocol = Protocol::Kkrt;
    let (ra, rb) = tokio::join!(
        petri_psi::run_tls(&pa, &ia, &listen, "node.b.psi.test", &a, T),
        petri_psi::run_tls(&pb, &ib, &dial, "node.a.psi.test", &b, T),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let matched: Vec<&String> = ra.matched.unwrap().iter().map(|&i| &ia.keys[i]).collect();
    assert_eq!(matched, ids(2000..3000).iter().collect::<Vec<_>>());
    let matched: Vec<&String> = rb.matched.unwrap().iter().map(|&i| &ib.keys[i]).collect();
    assert_eq!(matched, ids(2000..3000).iter().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rr22_intersection_and_cardinality_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pki(dir.path(), "root");
    let (ia, ib) = (input(&ids(0..3000)).await, input(&ids(2000..6000)).await);
    for (mode, reveal) in [
        (Mode::Intersection, Reveal::Both),
        (Mode::Intersection, Reveal::Receiver),
        (Mode::Cardinality, Reveal::Both),
    ] {
        let addr = free_addr();
        let (listen, dial) = (Link::Listen(addr.clone()), Link::Dial(addr.clone()));
        let mut pa = Params::new("tls-rr22", mode, Role::Receiver, reveal);
        let mut pb = Params::new("tls-rr22", mode, Role::Sender, reveal);
        pa.protocol = Protocol::Rr22;
        pb.protocol = Protocol::Rr22;
        let (ra, rb) = tokio::join!(
            petri_psi::run_tls(&pa, &ia, &listen, "node.b.psi.test", &a, T),
            petri_psi::run_tls(&pb, &ib, &dial, "node.a.psi.test", &b, T),
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.cardinality, Some(1000));
        assert_eq!(rb.cardinality, (reveal == Reveal::Both).then_some(1000));
        if mode == Mode::Intersection {
            let matched: Vec<&String> = ra.matched.unwrap().iter().map(|&i| &ia.keys[i]).collect();
            assert_eq!(matched, ids(2000..3000).iter().collect::<Vec<_>>());
        }
        if (mode, reveal) == (Mode::Intersection, Reveal::Both) {
            let matched: Vec<&String> = rb.matched.unwrap().iter().map(|&i| &ib.keys[i]).collect();
            assert_eq!(matched, ids(2000..3000).iter().collect::<Vec<_>>());
        } else {
            assert!(rb.matched.is_none());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_from_another_ca_is_refused_in_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = pki(dir.path(), "root");
    let (_, foreign_b) = pki(dir.path(), "foreign");
    let addr = free_addr();
    let (listen, dial) = (Link::Listen(addr.clone()), Link::Dial(addr.clone()));
    let (ia, ib) = (input(&ids(0..10)).await, input(&ids(5..15)).await);
    let pa = Params::new("s", Mode::Intersection, Role::Receiver, Reveal::Receiver);
    let pb = Params::new("s", Mode::Intersection, Role::Sender, Reveal::Receiver);
    let short = Duration::from_secs(2);
    let (ra, rb) = tokio::join!(
        petri_psi::run_tls(&pa, &ia, &listen, "node.b.psi.test", &a, short),
        petri_psi::run_tls(&pb, &ib, &dial, "node.a.psi.test", &foreign_b, short),
    );
    let ea = ra.unwrap_err().to_string();
    let eb = rb.unwrap_err().to_string();
    // The listener never ran a session: it refused the handshake and says so at its deadline.
    assert!(ea.contains("tls") && ea.contains("refused"), "{ea}");
    // The dialler does not trust the listener's root either.
    assert!(eb.contains("tls") || eb.contains("transport"), "{eb}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_another_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pki(dir.path(), "root");
    let addr = free_addr();
    let (listen, dial) = (Link::Listen(addr.clone()), Link::Dial(addr.clone()));
    let (ia, ib) = (input(&ids(0..10)).await, input(&ids(5..15)).await);
    let pa = Params::new("s", Mode::Intersection, Role::Receiver, Reveal::Receiver);
    let pb = Params::new("s", Mode::Intersection, Role::Sender, Reveal::Receiver);
    let short = Duration::from_secs(2);
    // The listener expects bank c; b connects with a valid certificate of the same root.
    let (ra, rb) = tokio::join!(
        petri_psi::run_tls(&pa, &ia, &listen, "node.c.psi.test", &a, short),
        petri_psi::run_tls(&pb, &ib, &dial, "node.a.psi.test", &b, short),
    );
    let ea = ra.unwrap_err().to_string();
    assert!(ea.contains("not \"node.c.psi.test\""), "{ea}");
    assert!(rb.is_err());
    // And a dialler that expects another name refuses the listener's certificate.
    let addr = free_addr();
    let (listen, dial) = (Link::Listen(addr.clone()), Link::Dial(addr.clone()));
    let (ra, rb) = tokio::join!(
        petri_psi::run_tls(&pa, &ia, &listen, "node.b.psi.test", &a, short),
        petri_psi::run_tls(&pb, &ib, &dial, "node.c.psi.test", &b, short),
    );
    let eb = rb.unwrap_err().to_string();
    assert!(eb.contains("handshake") && eb.contains("node.c.psi.test"), "{eb}");
    assert!(ra.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_over_tls_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = pki(dir.path(), "root");
    // Something listens but never speaks TLS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let _hold = tokio::spawn(async move {
        let (_s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let ia = input(&ids(0..3)).await;
    let pa = Params::new("s", Mode::Intersection, Role::Receiver, Reveal::Receiver);
    let e = petri_psi::run_tls(
        &pa,
        &ia,
        &Link::Dial(addr),
        "node.b.psi.test",
        &a,
        Duration::from_millis(500),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("timeout") && e.contains("0.5 s"), "{e}");
}

/// A frame queued while the socket is full must still arrive when nothing follows it: a TLS
/// stream may keep the tail of a write in its own buffer until it is written to again or
/// flushed, and a peer that waits for that tail before it answers would wait forever. Small
/// socket buffers keep the socket full, so the tail is (nearly) always left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_frame_arrives_while_the_peer_reads_slowly() {
    use petri_psi::transport::{ALPN, Channel};
    use rustls::pki_types::ServerName;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pki(dir.path(), "root");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let listener = socket.listen(1).unwrap();
    const FRAMES: usize = 32;
    const BYTES: usize = 64 << 10;
    let slow = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(a.server_config(&[ALPN]).unwrap());
        let stream = acceptor.accept(tcp).await.unwrap();
        let mut channel = Channel::new(stream, Duration::from_secs(5));
        // Read slowly, so the sender's socket stays full.
        for i in 0..FRAMES {
            let (tag, payload) = channel.recv().await.unwrap_or_else(|e| panic!("frame {i}: {e}"));
            assert_eq!((tag, payload.len()), (7, BYTES));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        channel.send(8, b"all here").unwrap();
        channel.finish().await.unwrap();
    });
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(b.client_config(&[ALPN]).unwrap());
    let name = ServerName::try_from("node.a.psi.test").unwrap();
    let stream = connector.connect(name, tcp).await.unwrap();
    let mut channel = Channel::new(stream, Duration::from_secs(10));
    for _ in 0..FRAMES {
        channel.send(7, &[0x5a; BYTES]).unwrap();
    }
    // No finish (which flushes): the answer needs the last frame to have gone out on its own.
    let (tag, payload) = channel.recv().await.unwrap();
    assert_eq!((tag, payload.as_slice()), (8, &b"all here"[..]));
    slow.await.unwrap();
}

// ---- the workflow -------------------------------------------------------------------------------

fn policy(dir: &Path, org: &str, initiator: &str, peer: &str, modes: &str) -> petri_policy::Policy {
    let path = dir.join(format!("{org}.policy.toml"));
    std::fs::write(
        &path,
        format!(
            "owner = {org:?}\naudit_log = \"{org}.audit.jsonl\"\n[[dataset]]\nname = \"customers\"\ninitiators = [{initiator:?}]\npsi_peers = [{peer:?}]\npsi_modes = {modes}\n"
        ),
    )
    .unwrap();
    petri_policy::Policy::load(&path).unwrap()
}

fn csv(dir: &Path, org: &str, keys: &[String]) -> PathBuf {
    let path = dir.join(format!("{org}.csv"));
    let rows: String = keys.iter().map(|k| format!("{k},{}\n", k.len())).collect();
    std::fs::write(&path, format!("id,other\n{rows}")).unwrap();
    path
}

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

/// Two banks' `psi` executors with their policies; a workflow of two `psi` processes whose
/// kwargs carry only parameters. Bank a learns the intersection (written at its site); the
/// broker's records carry no key of either bank. A third run in a mode bank b's policy does not
/// allow is refused and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn psi_as_a_workflow_keeps_keys_off_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let (tls_a, tls_b) = pki(dir.path(), "root");
    let server = TestServer::start().await;
    let colony = server.colony().await;
    let mut env = Env::default();
    env.host = "127.0.0.1".into();
    env.port = server.addr().port();
    env.colony = colony.name.clone();
    let initiator = colony.executor.id();
    let keys_a = ids(0..40);
    let keys_b = ids(25..70);
    let listen_a = free_addr();
    let (kind_a, kind_b) = (unique("bank-a"), unique("bank-b"));
    let owners = [
        (
            "a",
            &kind_a,
            tls_a,
            policy(
                dir.path(),
                "a",
                &initiator,
                "node.b.psi.test",
                "[\"intersection\", \"cardinality\"]",
            ),
            csv(dir.path(), "a", &keys_a),
        ),
        (
            "b",
            &kind_b,
            tls_b,
            policy(dir.path(), "b", &initiator, "node.a.psi.test", "[\"intersection\"]"),
            csv(dir.path(), "b", &keys_b),
        ),
    ];
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for (org, kind, tls, policy, path) in owners {
        let out = dir.path().join(format!("out-{org}"));
        std::fs::create_dir_all(&out).unwrap();
        let owner = PsiOwner {
            dataset: (
                "customers".into(),
                Source::Csv {
                    path,
                    column: "id".into(),
                    payload: None,
                },
            ),
            tls,
            policy: Arc::new(policy),
            listen: if org == "a" { listen_a.clone() } else { free_addr() },
            output_dir: out,
            timeout: Duration::from_secs(5),
        };
        let rt = psi_executor(&env, &unique(org), kind, PrivateKey::generate(), owner);
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
    let spec = |kind: &str, node: &str, kwargs: Value| {
        let mut s = petri_e2e::spec(&colony.name, kind, "psi");
        s.nodename = node.into();
        s.maxretries = 0;
        if let Value::Object(map) = kwargs {
            s.kwargs.extend(map);
        }
        s
    };
    let run_on = |session: &str, mode: &str, protocol: &str| {
        workflow(
            &colony.name,
            vec![
                spec(
                    &kind_a,
                    "a:psi",
                    json!({"session": session, "role": "receiver", "mode": mode, "dataset": "customers",
                           "peer": "node.b.psi.test", "protocol": protocol}),
                ),
                spec(
                    &kind_b,
                    "b:psi",
                    json!({"session": session, "role": "sender", "mode": mode, "dataset": "customers",
                           "peer": "node.a.psi.test", "connect": listen_a, "protocol": protocol}),
                ),
            ],
        )
    };
    let run = |session: &str, mode: &str| run_on(session, mode, "ecdh");
    let graph = client.submit_workflow(run("wf-1", "intersection"), key).await.unwrap();
    let mut seen = Vec::new();
    for id in &graph.processids {
        let p = finished(&client, id, key).await;
        assert_eq!(p.state, state::SUCCESS, "{}: {:?}", p.spec.nodename, p.errors);
        let report: Value = serde_json::from_str(p.output[0].as_str().unwrap()).unwrap();
        assert_eq!(
            report["own_size"].as_u64().unwrap() + report["peer_size"].as_u64().unwrap(),
            85
        );
        assert!(
            report.get("cardinality").is_none(),
            "intersection mode keeps even the count local"
        );
        seen.push(p);
    }
    // Bank a's rows in the intersection, at bank a's site only.
    let written = std::fs::read_to_string(dir.path().join("out-a/wf-1.receiver.csv")).unwrap();
    let expected: String = ids(25..40).iter().map(|k| format!("{k},{}\n", k.len())).collect();
    assert_eq!(written, format!("id,other\n{expected}"));
    assert!(
        !dir.path().join("out-b/wf-1.sender.csv").exists(),
        "the sender learns nothing"
    );

    // The same with KKRT.
    let graph = client
        .submit_workflow(run_on("wf-3", "intersection", "kkrt"), key)
        .await
        .unwrap();
    for id in &graph.processids {
        let p = finished(&client, id, key).await;
        assert_eq!(p.state, state::SUCCESS, "{}: {:?}", p.spec.nodename, p.errors);
        let report: Value = serde_json::from_str(p.output[0].as_str().unwrap()).unwrap();
        assert_eq!(report["protocol"], "kkrt");
        seen.push(p);
    }
    let written = std::fs::read_to_string(dir.path().join("out-a/wf-3.receiver.csv")).unwrap();
    assert_eq!(written, format!("id,other\n{expected}"));

    // And with RR22.
    let graph = client
        .submit_workflow(run_on("wf-4", "intersection", "rr22"), key)
        .await
        .unwrap();
    for id in &graph.processids {
        let p = finished(&client, id, key).await;
        assert_eq!(p.state, state::SUCCESS, "{}: {:?}", p.spec.nodename, p.errors);
        let report: Value = serde_json::from_str(p.output[0].as_str().unwrap()).unwrap();
        assert_eq!(report["protocol"], "rr22");
        seen.push(p);
    }
    let written = std::fs::read_to_string(dir.path().join("out-a/wf-4.receiver.csv")).unwrap();
    assert_eq!(written, format!("id,other\n{expected}"));

    // Cardinality is not in bank b's policy: b refuses and audits, a fails for want of a peer.
    let graph = client.submit_workflow(run("wf-2", "cardinality"), key).await.unwrap();
    for id in &graph.processids {
        let p = finished(&client, id, key).await;
        assert_eq!(p.state, state::FAILED, "{}", p.spec.nodename);
        if p.spec.nodename == "b:psi" {
            assert!(format!("{:?}", p.errors).contains("not allowed"), "{:?}", p.errors);
        }
        seen.push(p);
    }
    let log_b = std::fs::read_to_string(dir.path().join("b.audit.jsonl")).unwrap();
    assert_eq!(log_b.matches("\"decision\":\"released\"").count(), 3);
    assert_eq!(log_b.matches("\"decision\":\"refused\"").count(), 1);
    petri_policy::verify_log(&dir.path().join("b.audit.jsonl")).unwrap();

    // Nothing the broker holds names a key of either bank.
    let text = serde_json::to_string(&seen).unwrap();
    for k in keys_a.iter().chain(&keys_b) {
        assert!(!text.contains(k.as_str()), "the broker's records contain {k}");
    }
    let _ = stop.send(());
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    server.stop().await;
}

/// The PostgreSQL key source: runs whenever `PETRI_TEST_DATABASE_URL` is set (CI sets it), and
/// fails if that database cannot be reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keys_and_payloads_are_read_normalised_and_merged() {
    use sqlx::Connection as _;
    let Ok(url) = std::env::var("PETRI_TEST_DATABASE_URL") else {
        eprintln!("PETRI_TEST_DATABASE_URL is not set: the PostgreSQL source is not tested here");
        return;
    };
    let table = format!("petri_psi_keys_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .expect("PETRI_TEST_DATABASE_URL is set but the database cannot be reached");
    for q in [
        format!("DROP TABLE IF EXISTS {table}"),
        format!("CREATE TABLE {table} (id TEXT, amount BIGINT)"),
        format!("INSERT INTO {table} VALUES (' ann ', 5), ('bob', 7), ('ann', 1), ('zoe\u{301}', 2)"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(q)).execute(&mut conn).await.unwrap();
    }
    let source = Source::Postgres {
        url: url.clone(),
        query: format!("SELECT id, amount FROM {table}"),
    };
    let read = petri_psi::input::read(&source, true).await;
    let bad = petri_psi::input::read(
        &Source::Postgres {
            url,
            query: format!("SELECT nope FROM {table}"),
        },
        false,
    )
    .await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let input = read.unwrap();
    assert_eq!(input.keys, vec!["ann".to_string(), "bob".into(), "zo\u{e9}".into()]);
    assert_eq!(input.payloads, Some(vec![6, 7, 2]));
    assert!(bad.unwrap_err().to_string().contains("query failed"));
}
