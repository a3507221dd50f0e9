//! The `petri` binary as a user runs it: `petri pki` and `petri mpc demo`.

use std::path::Path;
use std::process::Command;

fn petri(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_petri"))
        .args(args)
        .current_dir(dir)
        .env("PETRI_LOG", "warn")
        .output()
        .expect("run petri")
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "petri failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn pki_commands_issue_revoke_and_refuse_foreign_names() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(&petri(&["pki", "--dir", "p", "init", "--name", "test root"], d));
    ok(&petri(
        &[
            "pki",
            "--dir",
            "p",
            "org",
            "--name",
            "hospital-a",
            "--dns",
            "a.example",
            "--ip",
            "10.1.0.0/16",
        ],
        d,
    ));
    let issued = ok(&petri(
        &[
            "--json",
            "pki",
            "--dir",
            "p",
            "node",
            "--org",
            "hospital-a",
            "--name",
            "n1",
        ]
        .into_iter()
        .chain(["--dns", "n1.a.example", "--ip", "10.1.2.3", "--out", "n1"])
        .collect::<Vec<_>>(),
        d,
    ));
    let issued: serde_json::Value = serde_json::from_str(&issued).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in ["p/root/ca.key", "p/orgs/hospital-a/ca.key", "n1/key.pem"] {
            let mode = std::fs::metadata(d.join(key)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{key}");
        }
    }
    // A name outside the organisation is refused with a reason.
    let out = petri(
        &[
            "pki",
            "--dir",
            "p",
            "node",
            "--org",
            "hospital-a",
            "--name",
            "x",
            "--dns",
            "x.b.example",
            "--out",
            "x",
        ],
        d,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside organisation hospital-a"));
    let revoked = ok(&petri(
        &["--json", "pki", "--dir", "p", "revoke", "--cert", "n1/cert.pem"],
        d,
    ));
    let revoked: serde_json::Value = serde_json::from_str(&revoked).unwrap();
    assert_eq!(revoked["serial"], issued["serial"]);
    assert!(revoked["revoked_at"].is_number());
    let listed = ok(&petri(&["--json", "pki", "--dir", "p", "ls", "--org", "hospital-a"], d));
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["serial"], issued["serial"]);
    assert!(listed[0]["revoked_at"].is_number());
    let out = petri(&["pki", "--dir", "p", "init"], d);
    assert!(!out.status.success(), "a second root is refused");
}

#[test]
fn the_millionaires_example_runs_with_one_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(&petri(
        &[
            "--json",
            "mpc",
            "demo",
            "examples/mpc/millionaires",
            "--dir",
            tmp.path().to_str().unwrap(),
        ],
        &root,
    ));
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "only alice learns a result: {results:?}");
    assert_eq!(results[0][0], "alice");
    assert_eq!(results[0][1]["alice_is_richer"]["values"], serde_json::json!([1]));
    for party in out["parties"].as_array().unwrap() {
        assert_eq!(party["status"], "FINISHED");
    }
    // Each data node answered under a policy pinning the program's hash, as `petri mpc hash`
    // prints it, and audited its releases.
    let hash = ok(&petri(
        &["mpc", "hash", "examples/mpc/millionaires/program.json"],
        &root,
    ));
    let hash = hash.trim();
    assert_eq!(hash.len(), 64, "{hash}");
    let policies = out["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 2, "{policies:?}");
    for entry in policies {
        let path = Path::new(entry[1].as_str().unwrap());
        let policy = std::fs::read_to_string(path).unwrap();
        assert!(policy.contains(hash), "{policy}");
        let audit = std::fs::read_to_string(path.with_file_name(format!("{}.audit.jsonl", entry[0].as_str().unwrap())))
            .unwrap();
        assert_eq!(audit.matches("\"released\"").count(), 3, "{audit}");
    }
}

#[test]
fn an_mpc_data_node_with_data_needs_a_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("data.json"), r#"{"x": {"v": {"type": "u32", "value": 1}}}"#).unwrap();
    let out = petri(
        &[
            "mpc",
            "data",
            "--listen",
            "127.0.0.1:0",
            "--name",
            "bob",
            "--input",
            "data.json",
            "--party",
            "a",
            "--party",
            "b",
            "--party",
            "c",
            "--ca",
            "x",
            "--cert",
            "x",
            "--key",
            "x",
        ],
        d,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--policy"), "{out:?}");
}

#[test]
fn policy_and_mask_key_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A mask key is written 0600 and never overwritten.
    let public = ok(&petri(&["he", "mask-keygen", "--out", "m.key"], d));
    assert_eq!(public.trim().len(), 44, "{public}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("m.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let again = petri(&["he", "mask-keygen", "--out", "m.key"], d);
    assert!(!again.status.success());
    // A policy with a typo is refused with the reason; a good one is summarised.
    std::fs::write(
        d.join("bad.toml"),
        "audit_log = 'a.jsonl'\n[[dataset]]\nname = 'x'\nintiators = []\n",
    )
    .unwrap();
    let bad = petri(&["policy", "check", "bad.toml"], d);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("unknown field `intiators`"), "{err}");
    std::fs::write(
        d.join("good.toml"),
        format!(
            "audit_log = 'a.jsonl'\n[[dataset]]\nname = 'x'\ninitiators = ['*']\nanalyst_keys = ['{}']\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let summary = ok(&petri(&["policy", "check", "good.toml"], d));
    assert!(
        summary.contains("is valid") && summary.contains("1 analyst keys"),
        "{summary}"
    );
    // An empty audit log verifies; an altered one does not.
    let audit = ok(&petri(&["policy", "audit", "a.jsonl"], d));
    assert!(audit.contains("0 decisions, chain intact"), "{audit}");
    std::fs::write(d.join("a.jsonl"), "{\"seq\":1}\n").unwrap();
    assert!(!petri(&["policy", "audit", "a.jsonl"], d).status.success());
}

#[test]
fn fl_local_trains_three_sites_and_bad_plans_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let names = ["a.fl.local", "b.fl.local", "c.fl.local"];
    for (i, name) in names.iter().enumerate() {
        let site = d.join("sites").join(name);
        std::fs::create_dir_all(&site).unwrap();
        let mut text = String::from("x1,x2,label\n");
        for k in 0..40 {
            let y = (k + i) % 2;
            text += &format!(
                "{},{},{y}\n",
                y as f64 * 4.0 + (k % 7) as f64 * 0.1,
                100.0 + (k % 5) as f64
            );
        }
        std::fs::write(site.join("train.csv"), text).unwrap();
    }
    std::fs::write(
        d.join("plan.toml"),
        format!(
            "name = 'cli'\nrounds = 2\nfeatures = 2\ncollaborators = {names:?}\n[model]\nkind = 'logreg'\n\
             [training]\nlearning_rate = 0.5\nepochs = 3\n"
        ),
    )
    .unwrap();
    let hash = ok(&petri(&["fl", "hash", "plan.toml"], d));
    assert_eq!(hash.trim().len(), 64, "{hash}");
    let out = ok(&petri(
        &["--json", "fl", "local", "--plan", "plan.toml", "--sites", "sites"],
        d,
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rounds = v["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 2);
    assert!(rounds[1]["accuracy"].as_f64().unwrap() > 0.9, "{out}");
    // A plan with one collaborator is refused with the reason.
    std::fs::write(
        d.join("bad.toml"),
        "name = 'x'\nrounds = 1\nfeatures = 2\ncollaborators = ['a']\n[model]\nkind = 'logreg'\n[training]\nlearning_rate = 0.1\n",
    )
    .unwrap();
    let bad = petri(&["fl", "hash", "bad.toml"], d);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("at least 2 collaborators"));
}
