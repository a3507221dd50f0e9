//! `petri bench`: the load generator run as a binary against a broker, speaking
//! only the protocol. Each mode finishes every process it submits and reports
//! figures that hang together; bad arguments get a clear error.

use petri_api::model::{executor_state, state};
use petri_e2e::{TestServer, petri_bin, within};
use serde_json::Value;

/// Runs `petri --json bench <args>` as a member of `colony`, returning the exit
/// status, the parsed report (if any) and stderr.
async fn bench(server: &TestServer, colony: &petri_e2e::TestColony, args: &[&str]) -> (bool, Value, String) {
    let out = tokio::process::Command::new(petri_bin())
        .args(["--json", "bench"])
        .args(args)
        .env("COLONIES_SERVER_HOST", "127.0.0.1")
        .env("COLONIES_SERVER_PORT", server.addr().port().to_string())
        .env("COLONIES_TLS", "false")
        .env("COLONIES_COLONY_NAME", &colony.name)
        .env("COLONIES_COLONY_PRVKEY", colony.key.to_hex().as_str())
        .env("COLONIES_PRVKEY", colony.executor.key.to_hex().as_str())
        .output()
        .await
        .expect("run the petri binary");
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ordered(report: &Value, key: &str) {
    let p = |q: &str| {
        report[key][q]
            .as_f64()
            .unwrap_or_else(|| panic!("{key}.{q} missing: {report}"))
    };
    assert!(
        0.0 <= p("p50") && p("p50") <= p("p90") && p("p90") <= p("p99") && p("p99") <= p("max"),
        "{key} percentiles out of order: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_runs_every_process_once_and_reports_percentiles() {
    within(120, async {
        let server = TestServer::start().await;
        let colony = server.colony().await;

        let (ok, report, stderr) = bench(&server, &colony, &["load", "-n", "60", "-c", "2", "-e", "4"]).await;
        assert!(ok, "{stderr}");
        assert_eq!(report["processes"], 60, "{report}");
        assert_eq!(report["mode"], "process");
        assert!(report["completed_per_s"].as_f64().unwrap() > 0.0, "{report}");
        ordered(&report, "submit_to_assigned_ms");
        ordered(&report, "submit_to_closed_ms");
        // Latency to close includes the latency to assignment.
        assert!(report["submit_to_closed_ms"]["p50"].as_f64() >= report["submit_to_assigned_ms"]["p50"].as_f64());

        // Workflow mode: diamonds of four, rounded up to whole diamonds.
        let (ok, report, stderr) = bench(&server, &colony, &["load", "--workflow", "-n", "18", "-e", "3"]).await;
        assert!(ok, "{stderr}");
        assert_eq!(report["processes"], 20, "{report}");
        assert_eq!(report["mode"], "workflow");

        // Everything the benchmark submitted finished successfully, and its
        // executors are unregistered again (their records are kept).
        let client = server.client();
        let key = &colony.executor.key;
        assert!(
            client
                .get_processes(&colony.name, state::WAITING, 100, key)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            client
                .get_processes(&colony.name, state::RUNNING, 100, key)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            client
                .get_processes(&colony.name, state::FAILED, 100, key)
                .await
                .unwrap()
                .is_empty()
        );
        let executors = client.get_executors(&colony.name, key).await.unwrap();
        let approved: Vec<_> = executors
            .iter()
            .filter(|e| e.state == executor_state::APPROVED)
            .map(|e| &e.executorname)
            .collect();
        assert_eq!(approved, vec![&colony.executor.name], "{executors:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_and_ping_report_rates() {
    within(60, async {
        let server = TestServer::start().await;
        let colony = server.colony().await;

        let (ok, report, stderr) = bench(&server, &colony, &["rounds", "--rounds", "20"]).await;
        assert!(ok, "{stderr}");
        assert_eq!(report["rounds"], 20, "{report}");
        assert!(report["p50_ms"].as_f64().unwrap() <= report["p99_ms"].as_f64().unwrap());

        let (ok, report, stderr) = bench(&server, &colony, &["ping", "-n", "300", "-c", "4"]).await;
        assert!(ok, "{stderr}");
        assert_eq!(report["requests"], 300, "{report}");
        assert!(report["requests_per_s"].as_f64().unwrap() > 0.0, "{report}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_get_a_clear_error() {
    within(60, async {
        let server = TestServer::start().await;
        let colony = server.colony().await;
        let (ok, _, stderr) = bench(&server, &colony, &["load", "-n", "0"]).await;
        assert!(!ok);
        assert!(stderr.contains("must be at least 1"), "{stderr}");
        let (ok, _, stderr) = bench(&server, &colony, &["load", "-n", "5", "--server", "nowhere"]).await;
        assert!(!ok);
        assert!(stderr.contains("is not host:port"), "{stderr}");
    })
    .await;
}
