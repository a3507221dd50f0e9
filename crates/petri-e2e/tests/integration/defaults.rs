//! Production defaults, tried as an attacker or a careless operator would:
//! `petri server start` refuses the published dev keys and plain HTTP, listens
//! on loopback unless told otherwise and keeps its files private; a key that
//! floods gets 429; silent websockets and slowly sent headers are cut off.

use std::num::NonZeroU32;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use petri_api::model::state;
use petri_api::msg::SubscribeProcess;
use petri_crypto::PrivateKey;
use petri_e2e::{TestServer, WORKER, free_port, petri_bin, refused, spec, within};
use petri_server::RateLimit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The Colonies development keys `petri dev` uses (published, so anyone can sign as them).
const DEV_SERVER_PRVKEY: &str = "fcc79953d8a751bf41db661592dc34d30004b1a651ffa0725b03ac227641499d";
const DEV_COLONY_PRVKEY: &str = "ba949fa134981372d6da62b6a56f336ab4d843b22c02a4257dcf7d0d73097514";

/// Runs `petri server start <args>` with `env` (and no inherited COLONIES_* or PETRI_* settings),
/// expecting it to exit at once.
fn start_fails(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = std::process::Command::new(petri_bin());
    cmd.args(["server", "start", "--port", &free_port().to_string()])
        .args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("COLONIES_") || k.starts_with("PETRI_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.stdin(std::process::Stdio::null()).output().expect("run petri");
    assert!(!out.status.success(), "petri server start should have refused");
    out
}

/// The one-line reason on stderr.
fn reason(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn server_start_refuses_the_published_dev_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let dev_id = PrivateKey::from_hex(DEV_SERVER_PRVKEY).unwrap().id();
    let cases = [
        ("COLONIES_SERVER_PRVKEY", DEV_SERVER_PRVKEY.to_owned()),
        ("COLONIES_SERVER_ID", dev_id),
        ("COLONIES_SERVER_PRVKEY", DEV_COLONY_PRVKEY.to_owned()),
    ];
    for (var, value) in cases {
        let out = start_fails(&["--insecure", "--data-dir", data_arg], &[(var, value)]);
        let line = reason(&out);
        assert!(line.contains("published Colonies development key"), "{var}: {line}");
    }
    assert!(!data.exists(), "nothing was created before refusing");
}

#[test]
fn server_start_refuses_plain_http_without_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let id = PrivateKey::generate().id();
    let out = start_fails(
        &["--data-dir", data.to_str().unwrap()],
        &[("COLONIES_SERVER_ID", id.clone())],
    );
    let line = reason(&out);
    assert!(line.contains("refusing to serve plain HTTP"), "{line}");
    assert!(line.contains("--insecure"), "{line}");
    assert!(!data.exists());
    // PETRI_INSECURE=false is no opt-in either.
    let out = start_fails(
        &["--data-dir", data.to_str().unwrap()],
        &[("COLONIES_SERVER_ID", id), ("PETRI_INSECURE", "false".into())],
    );
    assert!(reason(&out).contains("refusing to serve plain HTTP"));
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insecure_server_warns_listens_on_loopback_and_keeps_its_files_private() {
    within(40, async {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested").join("data");
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let server_key = PrivateKey::generate();
        let port = free_port();
        // No --bind: the default address.
        let mut child = tokio::process::Command::new(petri_bin())
            .args(["server", "start", "--port", &port.to_string(), "--data-dir"])
            .arg(&data)
            .env("PETRI_INSECURE", "true")
            .env("COLONIES_SERVER_ID", server_key.id())
            .env("PETRI_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let client = petri_sdk::Client::new("127.0.0.1", port, false);
        let started = Instant::now();
        while !client.alive().await.unwrap_or(false) {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{}",
                std::fs::read_to_string(&log_path).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A write, so SQLite has made its WAL file.
        petri_e2e::add_colony(&client, &server_key).await;
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(text.contains("serving plain HTTP (--insecure)"), "{text}");
        assert!(
            text.contains(&format!("127.0.0.1:{port}")),
            "listens on loopback: {text}"
        );
        assert_eq!(mode(&data), 0o700, "data directory");
        assert_eq!(mode(&data.join("petri.db")), 0o600, "database");
        assert_eq!(mode(&data.join("petri.db-wal")), 0o600, "write-ahead log");
        child.kill().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_key_gets_429_and_others_do_not() {
    within(30, async {
        let limit = RateLimit {
            per_second: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(5).unwrap(),
        };
        let server = TestServer::start_with(move |c| c.rate_limit = Some(limit)).await;
        let colony = server.colony().await;
        let client = server.client();
        let flooder = &colony.executor.key;
        let mut answered = 0;
        let message = loop {
            match client.get_colony(&colony.name, flooder).await {
                Ok(_) => answered += 1,
                Err(e) => break refused(Err::<(), _>(e), 429),
            }
            assert!(answered <= 5, "the burst is 5");
        };
        assert!(message.contains("too many requests"), "{message}");
        assert!(message.contains("1 per second per key"), "{message}");
        // Another key is not affected.
        let other = server.executor(&colony, WORKER, true).await;
        client.get_colony(&colony.name, &other.key).await.unwrap();
        // The bucket refills.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        client.get_colony(&colony.name, flooder).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_websockets_are_closed() {
    within(30, async {
        let server = TestServer::start_with(|c| {
            c.ws_auth_timeout = Duration::from_millis(400);
            c.ws_idle_timeout = Duration::from_millis(800);
        })
        .await;
        let url = format!("ws://{}/pubsub", server.addr());

        // A connection that only pings is closed at the authentication deadline.
        let (ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let (mut tx, mut rx) = ws.split();
        let started = Instant::now();
        let pinger = tokio::spawn(async move {
            while tx.send(WsMessage::Ping(Vec::new().into())).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        while let Some(Ok(frame)) = rx.next().await {
            if frame.is_close() {
                break;
            }
        }
        let silent = started.elapsed();
        pinger.abort();
        assert!(silent >= Duration::from_millis(350), "closed too early: {silent:?}");
        assert!(silent < Duration::from_secs(3), "not closed: {silent:?}");

        // After a subscription ends, an idle connection is closed at the idle deadline.
        let client = server.client();
        let colony = server.colony().await;
        let key = &colony.executor.key;
        let p = client.submit(spec(&colony.name, WORKER, "f"), key).await.unwrap();
        let msg = SubscribeProcess {
            processid: p.processid.clone(),
            executortype: WORKER.into(),
            state: state::WAITING,
            timeout: 5,
            colonyname: colony.name.clone(),
        };
        let text = serde_json::to_string(&client.envelope(&msg, key).await.unwrap()).unwrap();
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        ws.send(WsMessage::Text(text.into())).await.unwrap();
        let first = ws.next().await.expect("a reply").unwrap();
        assert!(first.is_text(), "{first:?}");
        let answered = Instant::now();
        while let Some(Ok(frame)) = ws.next().await {
            if frame.is_close() {
                break;
            }
        }
        let idle = answered.elapsed();
        assert!(idle >= Duration::from_millis(700), "closed too early: {idle:?}");
        assert!(idle < Duration::from_secs(3), "not closed: {idle:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowly_sent_headers_are_cut_off() {
    within(30, async {
        let server = TestServer::start_with(|c| c.header_read_timeout = Duration::from_millis(500)).await;
        // Slowloris: a request line and one header, then a header byte every 100 ms.
        let conn = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let (mut read, mut write) = conn.into_split();
        let started = Instant::now();
        write.write_all(b"POST /api HTTP/1.1\r\nHost: petri\r\n").await.unwrap();
        let trickle = tokio::spawn(async move {
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if write.write_all(b"X").await.is_err() {
                    break;
                }
            }
        });
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), read.read_to_end(&mut rest)).await;
        let cut = started.elapsed();
        trickle.abort();
        assert!(closed.is_ok(), "the server kept a trickling connection open for 5 s");
        assert!(cut >= Duration::from_millis(450), "cut before the limit: {cut:?}");
        assert!(cut < Duration::from_secs(3), "{cut:?}");
        // An ordinary client is unaffected.
        let colony = server.colony().await;
        server
            .client()
            .get_colony(&colony.name, &colony.executor.key)
            .await
            .unwrap();
    })
    .await;
}
