//! The broker over HTTPS and WSS with certificates from `petri pki`: the binary serves TLS with
//! `--tls-cert/--tls-key`, clients that trust the root (`PETRI_CA_FILE`) work end to end, and
//! clients that trust another root, or speak plain HTTP, get nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use petri_api::model::state;
use petri_crypto::PrivateKey;
use petri_e2e::{WORKER, add_colony, free_port, petri_bin, spec, within};
use petri_sdk::Client;
use serde_json::json;

fn petri(args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(petri_bin())
        .args(args)
        .output()
        .expect("run the petri binary");
    assert!(
        out.status.success(),
        "petri {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A root CA in `dir/pki` with an organisation allowed `localhost` and 127.0.0.0/8, and a
/// broker certificate in `dir/broker`; returns the broker's directory.
fn make_pki(dir: &Path) -> PathBuf {
    let pki = dir.join("pki");
    let pki = pki.to_str().unwrap();
    petri(&["pki", "--dir", pki, "init"]);
    petri(&[
        "pki",
        "--dir",
        pki,
        "org",
        "--name",
        "ops",
        "--dns",
        "localhost",
        "--ip",
        "127.0.0.0/8",
    ]);
    let out = dir.join("broker");
    petri(&[
        "pki",
        "--dir",
        pki,
        "node",
        "--org",
        "ops",
        "--name",
        "broker",
        "--dns",
        "localhost",
        "--ip",
        "127.0.0.1",
        "--out",
        out.to_str().unwrap(),
    ]);
    out
}

struct TlsBroker {
    child: tokio::process::Child,
    port: u16,
    log: PathBuf,
}

impl TlsBroker {
    async fn start(dir: &Path, certs: &Path, server_id: &str) -> Self {
        let port = free_port();
        let log = dir.join("server.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = tokio::process::Command::new(petri_bin())
            .args([
                "server",
                "start",
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--data-dir",
            ])
            .arg(dir.join("data"))
            .arg("--tls-cert")
            .arg(certs.join("cert.pem"))
            .arg("--tls-key")
            .arg(certs.join("key.pem"))
            .env("COLONIES_SERVER_ID", server_id)
            .env("PETRI_LOG", "warn")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut broker = Self { child, port, log };
        let client = broker.client(&certs.join("ca.pem"), "localhost");
        let started = Instant::now();
        while !client.alive().await.unwrap_or(false) {
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!(
                    "server exited with {status}: {}",
                    std::fs::read_to_string(&broker.log).unwrap()
                );
            }
            assert!(started.elapsed() < Duration::from_secs(15), "TLS broker did not answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        broker
    }

    fn client(&self, ca: &Path, host: &str) -> Client {
        Client::with_ca_file(host, self.port, ca).expect("load the CA file")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_serves_https_and_wss_to_clients_that_trust_its_root() {
    within(60, async {
        let dir = tempfile::tempdir().unwrap();
        let certs = make_pki(dir.path());
        let server_key = PrivateKey::generate();
        let broker = TlsBroker::start(dir.path(), &certs, &server_key.id()).await;
        let ca = certs.join("ca.pem");

        // By name and by IP address: the certificate names both.
        for host in ["localhost", "127.0.0.1"] {
            let client = broker.client(&ca, host);
            let colony = add_colony(&client, &server_key).await;
            let key = &colony.executor.key;
            let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();
            // A websocket wait (WSS) sees the close done over HTTPS.
            let waiter = {
                let client = client.clone();
                let key = key.clone();
                let p = p.clone();
                tokio::spawn(async move { client.wait(&p, state::SUCCESS, 20, &key).await })
            };
            tokio::time::sleep(Duration::from_millis(200)).await;
            let assigned = client.assign(&colony.name, 5, key).await.unwrap().unwrap();
            client.close(&assigned.processid, vec![json!(host)], key).await.unwrap();
            let done = waiter.await.unwrap().unwrap().expect("wait returns the closed process");
            assert_eq!(done.state, state::SUCCESS);
            assert_eq!(done.output, vec![json!(host)]);
        }

        // The CLI trusts the root through PETRI_CA_FILE.
        let out = std::process::Command::new(petri_bin())
            .args(["server", "status", "--json"])
            .env("COLONIES_SERVER_HOST", "localhost")
            .env("COLONIES_SERVER_PORT", broker.port.to_string())
            .env("PETRI_CA_FILE", &ca)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(status["alive"], json!(true), "{status}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_do_not_trust_the_root_or_speak_plain_http_get_nothing() {
    within(60, async {
        let dir = tempfile::tempdir().unwrap();
        let certs = make_pki(dir.path());
        let server_key = PrivateKey::generate();
        let broker = TlsBroker::start(dir.path(), &certs, &server_key.id()).await;

        // Another petri root: the handshake fails, no request is sent.
        let other = tempfile::tempdir().unwrap();
        let other_certs = make_pki(other.path());
        let stranger = broker.client(&other_certs.join("ca.pem"), "localhost");
        let err = stranger.version(&server_key).await.unwrap_err().to_string();
        assert!(err.contains("cannot reach the server"), "{err}");

        // The public web's roots do not include a petri root either.
        let public = Client::new("localhost", broker.port, true);
        assert!(public.version(&server_key).await.is_err());

        // A name the certificate does not carry.
        let by_other_name = broker.client(&certs.join("ca.pem"), "127.0.0.2");
        assert!(by_other_name.version(&server_key).await.is_err());

        // Plain HTTP to the TLS port.
        let plain = Client::new("127.0.0.1", broker.port, false);
        assert!(plain.version(&server_key).await.is_err());

        // The server keeps serving trusted clients afterwards.
        let trusted = broker.client(&certs.join("ca.pem"), "localhost");
        trusted.version(&server_key).await.unwrap();

        // A missing or foreign key file is a clear start-up error.
        let out = std::process::Command::new(petri_bin())
            .args(["server", "start", "--port", "0", "--data-dir"])
            .arg(dir.path().join("data2"))
            .arg("--tls-cert")
            .arg(certs.join("cert.pem"))
            .arg("--tls-key")
            .arg(other_certs.join("key.pem"))
            .env("COLONIES_SERVER_ID", server_key.id())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("TLS"), "{stderr}");
    })
    .await;
}
