use std::path::Path;

use super::*;

const ANALYST: &str = "a41f0000000000000000000000000000000000000000000000000000000000a9";
const OTHER_KEY: &str = "b000000000000000000000000000000000000000000000000000000000000001";
const PROGRAM: &str = "77c0000000000000000000000000000000000000000000000000000000000e3e";
const CLOUD: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn policy(dir: &Path, extra: &str) -> Policy {
    let text = format!(
        r#"
owner = "hospital-a"
audit_log = "audit.jsonl"
[[dataset]]
name = "default"
initiators = ["{CLOUD}", "orchestrator.example"]
functions = ["get_patient_data"]
analyst_keys = ["{ANALYST}"]
programs = ["{PROGRAM}"]
recipients = ["analyst"]
{extra}
"#
    );
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).unwrap();
    Policy::load(&path).unwrap()
}

fn aggregate<'a>(who: &'a [String], key: &'a str, rows: usize, contributors: Option<usize>) -> Request<'a> {
    Request {
        dataset: "default",
        initiators: who,
        ask: Ask::Aggregate {
            function: "get_patient_data",
            analyst_key: key,
            rows,
            contributors,
        },
        reference: "p1",
        session: None,
    }
}

fn check(p: &Policy, r: &Request<'_>) -> Result<(), String> {
    p.decide(r).map_err(|e| e.0)
}

#[test]
fn aggregates_follow_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), "");
    let cloud = vec![CLOUD.to_string()];
    assert_eq!(check(&p, &aggregate(&cloud, ANALYST, 10, Some(3))), Ok(()));
    // A key the owner did not pin (the attacker's own Paillier key).
    let e = check(&p, &aggregate(&cloud, OTHER_KEY, 10, Some(3))).unwrap_err();
    assert!(e.contains("not a pinned analyst key"), "{e}");
    // A stranger.
    let stranger = vec!["2".repeat(64)];
    let e = check(&p, &aggregate(&stranger, ANALYST, 10, Some(3))).unwrap_err();
    assert!(e.contains("may not ask"), "{e}");
    // Too few rows, too few contributors, no masks.
    let e = check(&p, &aggregate(&cloud, ANALYST, 4, Some(3))).unwrap_err();
    assert!(e.contains("4 rows, fewer than the 5"), "{e}");
    let e = check(&p, &aggregate(&cloud, ANALYST, 10, Some(2))).unwrap_err();
    assert!(e.contains("2 contributors are fewer than the 3"), "{e}");
    let e = check(&p, &aggregate(&cloud, ANALYST, 10, None)).unwrap_err();
    assert!(e.contains("only masked"), "{e}");
    // Another function.
    let r = Request {
        ask: Ask::Aggregate {
            function: "dump_table",
            analyst_key: ANALYST,
            rows: 10,
            contributors: Some(3),
        },
        ..aggregate(&cloud, ANALYST, 10, Some(3))
    };
    assert!(check(&p, &r).unwrap_err().contains("\"dump_table\" is not allowed"));
    // An unknown dataset.
    let r = Request {
        dataset: "genomes",
        ..aggregate(&cloud, ANALYST, 10, Some(3))
    };
    assert!(check(&p, &r).unwrap_err().contains("no rules for dataset \"genomes\""));
    // Every decision is in the log, and the chain holds.
    let (count, _) = verify_log(&dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(count, 8);
}

#[test]
fn programs_need_their_hash_and_recipients() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), "min_cohort = 1");
    let who = vec!["orchestrator.example".to_string()];
    let to_analyst = vec!["analyst".to_string()];
    let to_alice = vec!["alice".to_string()];
    let program = |hash, recipients| Request {
        dataset: "default",
        initiators: &who,
        ask: Ask::Program {
            hash,
            recipients,
            rows: 1,
        },
        reference: "session-1",
        session: None,
    };
    assert_eq!(check(&p, &program(PROGRAM, &to_analyst)), Ok(()));
    assert!(
        check(&p, &program(OTHER_KEY, &to_analyst))
            .unwrap_err()
            .contains("program b000")
    );
    assert!(
        check(&p, &program(PROGRAM, &to_alice))
            .unwrap_err()
            .contains("\"alice\" may not receive")
    );
}

#[test]
fn unmasked_answers_are_an_explicit_choice() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), "allow_unmasked = true");
    let cloud = vec![CLOUD.to_string()];
    assert_eq!(check(&p, &aggregate(&cloud, ANALYST, 10, None)), Ok(()));
}

#[test]
fn bad_policies_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let load = |text: &str| {
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).unwrap();
        Policy::load(&path).unwrap_err().to_string()
    };
    assert!(load("audit_log = 'a.jsonl'\nbogus = 1").contains("unknown field"));
    assert!(load("[[dataset]]\nname = 'x'").contains("missing field `audit_log`"));
    let e = load("audit_log = 'a.jsonl'\n[[dataset]]\nname = 'x'\nprograms = ['nothex']");
    assert!(e.contains("not a 64-character hex hash"), "{e}");
    let e = load("audit_log = 'a.jsonl'\n[[dataset]]\nname = 'x'\nrecipients = ['*']");
    assert!(e.contains("no wildcard"), "{e}");
    let e = load("audit_log = 'a.jsonl'\n[[dataset]]\nname = 'x'\nmin_contributors = 1");
    assert!(e.contains("at least 2"), "{e}");
    let e = load("audit_log = 'a.jsonl'\n[[dataset]]\nname = 'x'\n[[dataset]]\nname = 'x'");
    assert!(e.contains("listed twice"), "{e}");
    assert!(
        Policy::load(&dir.path().join("missing.toml"))
            .unwrap_err()
            .to_string()
            .contains("cannot read policy")
    );
}

#[test]
fn an_altered_log_is_detected_and_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = vec![CLOUD.to_string()];
    {
        let p = policy(dir.path(), "");
        for rows in [10, 11, 12] {
            check(&p, &aggregate(&cloud, ANALYST, rows, Some(3))).unwrap();
        }
    }
    let log = dir.path().join("audit.jsonl");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Reopening continues the chain.
    {
        let p = policy(dir.path(), "");
        check(&p, &aggregate(&cloud, ANALYST, 13, Some(3))).unwrap();
    }
    assert_eq!(verify_log(&log).unwrap().0, 4);
    let text = std::fs::read_to_string(&log).unwrap();
    for (name, altered) in [
        ("edited", text.replacen("\"rows\":11", "\"rows\":99", 1)),
        ("removed", {
            let mut lines: Vec<&str> = text.lines().collect();
            lines.remove(1);
            lines.join("\n") + "\n"
        }),
        ("truncated", text[..text.len() - 5].to_string()),
    ] {
        std::fs::write(&log, &altered).unwrap();
        let e = verify_log(&log).unwrap_err().to_string();
        assert!(e.contains("audit log"), "{name}: {e}");
        let path = dir.path().join("policy.toml");
        assert!(Policy::load(&path).is_err(), "{name}: a policy opened an altered log");
    }
}

proptest::proptest! {
    #[test]
    fn any_entry_round_trips_through_the_chain(reference in "\\PC{0,40}", dataset in "[a-z]{1,10}") {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("a.jsonl")).unwrap();
        let who = vec![reference.clone()];
        let request = Request {
            dataset: &dataset,
            initiators: &who,
            ask: Ask::Aggregate { function: "f", analyst_key: "k", rows: 1, contributors: None },
            reference: &reference,
            session: Some("s"),
        };
        log.append(AuditEntry::of(&request, Some("because \"quoted\"\n"))).unwrap();
        log.append(AuditEntry::of(&request, None)).unwrap();
        proptest::prop_assert_eq!(verify_log(&dir.path().join("a.jsonl")).unwrap().0, 2);
    }
}

#[test]
fn a_secure_sum_session_answers_one_process_only() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = vec![CLOUD.to_string()];
    let ask = |reference, session| Request {
        reference,
        session,
        ..aggregate(&cloud, ANALYST, 10, Some(3))
    };
    {
        let p = policy(dir.path(), "");
        assert_eq!(check(&p, &ask("p1", Some("s1"))), Ok(()));
        // A retry of the same process gets the same masks over the same data: allowed.
        assert_eq!(check(&p, &ask("p1", Some("s1"))), Ok(()));
        let e = check(&p, &ask("p2", Some("s1"))).unwrap_err();
        assert!(e.contains("already answered for p1"), "{e}");
    }
    // The binding survives a restart (it is read back from the audit log).
    let p = policy(dir.path(), "");
    assert!(check(&p, &ask("p3", Some("s1"))).is_err());
    assert_eq!(check(&p, &ask("p3", Some("s2"))), Ok(()));
}

fn intersection<'a>(who: &'a [String], mode: &'a str, peer: &'a str, rows: usize) -> Request<'a> {
    Request {
        dataset: "default",
        initiators: who,
        ask: Ask::Intersection { mode, peer, rows },
        reference: "psi-1",
        session: None,
    }
}

#[test]
fn intersections_need_a_listed_peer_and_mode() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(
        dir.path(),
        "psi_peers = [\"bank-b.example\"]\npsi_modes = [\"cardinality\"]",
    );
    let cloud = vec![CLOUD.to_string()];
    assert_eq!(
        check(&p, &intersection(&cloud, "cardinality", "bank-b.example", 10)),
        Ok(())
    );
    let e = check(&p, &intersection(&cloud, "intersection", "bank-b.example", 10)).unwrap_err();
    assert!(e.contains("mode \"intersection\" is not allowed"), "{e}");
    let e = check(&p, &intersection(&cloud, "cardinality", "evil.example", 10)).unwrap_err();
    assert!(e.contains("may not be intersected with \"evil.example\""), "{e}");
    let e = check(&p, &intersection(&cloud, "cardinality", "bank-b.example", 2)).unwrap_err();
    assert!(e.contains("fewer than"), "{e}");
    let stranger = vec!["stranger".to_string()];
    assert!(check(&p, &intersection(&stranger, "cardinality", "bank-b.example", 10)).is_err());
    // Decisions are audited with the peer and the mode.
    p.decide(&intersection(&cloud, "cardinality", "bank-b.example", 10))
        .unwrap();
    let log = std::fs::read_to_string(p.audit().path()).unwrap();
    assert!(
        log.contains("\"kind\":\"intersection\"") && log.contains("bank-b.example"),
        "{log}"
    );
    // Nothing is allowed by default, and bad entries are refused at load.
    let q = policy(dir.path(), "");
    assert!(check(&q, &intersection(&cloud, "cardinality", "bank-b.example", 10)).is_err());
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "audit_log = 'a.jsonl'\n[[dataset]]\nname = 'x'\npsi_modes = ['everything']",
    )
    .unwrap();
    assert!(Policy::load(&path).unwrap_err().to_string().contains("psi mode"));
    std::fs::write(
        &path,
        "audit_log = 'a.jsonl'\n[[dataset]]\nname = 'x'\npsi_peers = ['*']",
    )
    .unwrap();
    assert!(Policy::load(&path).unwrap_err().to_string().contains("no wildcard"));
}
