use petri_api::model::state;
use serde_json::json;

use super::*;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_nanos(secs * 1_000_000_000)
}

fn cron(interval: i64, expr: &str) -> Cron {
    Cron {
        interval,
        cronexpression: expr.into(),
        ..Cron::default()
    }
}

#[test]
fn cron_validation() {
    assert!(validate_cron(&cron(0, "")).is_err());
    assert!(validate_cron(&cron(-2, "")).is_err());
    assert!(validate_cron(&cron(5, "")).is_ok());
    assert!(validate_cron(&cron(-1, "0/1 * * * * *")).is_ok());
    assert!(validate_cron(&cron(-1, "* * * * *")).is_err(), "seconds are required");
    assert!(validate_cron(&cron(-1, "nonsense")).is_err());
    let mut random = cron(-1, "* * * * * *");
    random.random = true;
    assert!(validate_cron(&random).is_err());
}

#[test]
fn next_runs() {
    // 2024-01-01T00:00:00Z
    let now = ts(1_704_067_200);
    assert_eq!(next_run(&cron(10, ""), now, 0).unwrap(), ts(1_704_067_210));
    assert_eq!(next_run(&cron(-1, "*/5 * * * * *"), now, 0).unwrap(), ts(1_704_067_205));
    assert_eq!(next_run(&cron(-1, "0 30 * * * *"), now, 0).unwrap(), ts(1_704_069_000));
    // An interval cron keeps its beat, skipping the runs it missed.
    let mut beat = cron(10, "");
    beat.nextrun = ts(1_704_067_195);
    assert_eq!(next_run(&beat, now, 0).unwrap(), ts(1_704_067_205));
    beat.nextrun = ts(1_704_067_100);
    assert_eq!(next_run(&beat, now, 0).unwrap(), ts(1_704_067_210));
    beat.nextrun = ts(1_704_067_200);
    assert_eq!(next_run(&beat, now, 0).unwrap(), ts(1_704_067_210));
    let mut random = cron(10, "");
    random.random = true;
    for e in [0, 3, 9, 10, u64::MAX] {
        let next = next_run(&random, now, e).unwrap();
        assert!(next > now && next <= ts(1_704_067_210));
    }
}

#[test]
fn cron_waits_for_previous() {
    let mut c = cron(1, "");
    assert!(!cron_due(&c, ts(100), None), "no next run yet");
    c.nextrun = ts(100);
    assert!(!cron_due(&c, ts(99), None));
    assert!(cron_due(&c, ts(100), Some(state::RUNNING)));
    c.waitforprevprocessgraph = true;
    assert!(!cron_due(&c, ts(100), Some(state::RUNNING)));
    assert!(cron_due(&c, ts(100), Some(state::FAILED)));
    assert!(cron_due(&c, ts(100), None));
}

fn spec() -> WorkflowSpec {
    serde_json::from_value(json!({"colonyname": "c", "functionspecs": [
        {"nodename": "a", "funcname": "a", "conditions": {"executortype": "t"}},
        {"nodename": "b", "funcname": "b", "conditions": {"executortype": "t", "dependencies": ["a"]}}
    ]}))
    .unwrap()
}

#[test]
fn workflow_text_is_checked() {
    let text = serde_json::to_string(&spec()).unwrap();
    assert_eq!(parse_workflow_spec(&text, "c").unwrap().functionspecs.len(), 2);
    assert!(parse_workflow_spec(&text, "other").is_err());
    assert!(parse_workflow_spec("{", "c").is_err());
    assert!(parse_workflow_spec(r#"{"functionspecs":[{"funcname":"x"}]}"#, "c").is_err());
}

#[test]
fn cron_roots_get_previous_leaf_outputs() {
    let (_, ps) = build_cron_workflow(spec(), &Initiator::default(), ts(1), vec![json!("x")]).unwrap();
    assert_eq!(ps[0].input, Some(vec![json!("x")]));
    assert_eq!(ps[1].input, Some(vec![]));
    let (_, mut ps) = build_cron_workflow(spec(), &Initiator::default(), ts(1), vec![]).unwrap();
    assert_eq!(ps[0].input, Some(vec![]));
    ps[0].output = vec![json!(1)];
    ps[1].output = vec![json!(2), json!(3)];
    assert_eq!(leaf_outputs(&ps), vec![json!(2), json!(3)]);
}

#[test]
fn generator_batches() {
    let mut g = Generator {
        trigger: 3,
        timeout: 5,
        ..Generator::default()
    };
    assert_eq!(generator_batch(&g, 0, ts(100)), None);
    assert_eq!(generator_batch(&g, 3, ts(100)), Some(3));
    assert_eq!(generator_batch(&g, 7, ts(100)), Some(3));
    assert_eq!(generator_batch(&g, 2, ts(100)), None, "never packed");
    g.firstpack = ts(90);
    assert_eq!(generator_batch(&g, 2, ts(95)), None);
    assert_eq!(generator_batch(&g, 2, ts(96)), Some(2));
    g.lastrun = ts(94);
    assert_eq!(generator_batch(&g, 1, ts(96)), None, "timeout counts from the last run");
    g.timeout = 0;
    assert_eq!(generator_batch(&g, 1, ts(1000)), None);
    assert!(validate_generator(&Generator::default()).is_err());
    let (_, ps) = build_generator_workflow(spec(), &Initiator::default(), ts(1), vec!["x".into()]).unwrap();
    assert_eq!(ps[0].spec.args, vec![json!("x")]);
    assert!(ps[1].spec.args.is_empty());
}

#[test]
fn messages_of_one_sender_follow_their_sequence() {
    let slots = |v: &[(i64, i64)]| {
        v.iter()
            .map(|&(pos, sequence)| SenderSlot { pos, sequence })
            .collect::<Vec<_>>()
    };
    // In order: appended at the end.
    assert_eq!(place_message(&slots(&[(0, 1), (2, 2)]), 3, 5), (5, vec![]));
    // Sequence 2 arrives after 3 and 5 (at positions 1 and 3): it takes 3's place,
    // 3 moves to 5's slot, 5 to the end.
    assert_eq!(
        place_message(&slots(&[(0, 1), (1, 3), (3, 5)]), 2, 6),
        (1, vec![(1, 3), (3, 6)])
    );
    assert_eq!(place_message(&[], 7, 0), (0, vec![]));
}

#[test]
fn labels() {
    assert!(label_covers("/a", "/a"));
    assert!(label_covers("/a/", "/a/b"));
    assert!(!label_covers("/a", "/ab"));
    assert!(label_covers("", "/x"));
    assert_eq!(
        count_labels(["/b", "/a", "/b"].into_iter()),
        vec![("/a".into(), 1), ("/b".into(), 2)]
    );
}

#[test]
fn blueprint_schema_and_generations() {
    let schema = json!({"type": "object", "required": ["power"], "properties": {
        "power": {"type": "boolean"},
        "mode": {"type": "string", "enum": ["eco", "max"]},
        "levels": {"type": "array", "items": {"type": "integer"}}
    }});
    let bp = |spec: Value| Blueprint {
        spec: spec.as_object().unwrap().clone(),
        ..Blueprint::default()
    };
    assert!(validate_blueprint(&bp(json!({"power": true, "mode": "eco", "levels": [1, 2]})), &schema).is_ok());
    assert!(validate_blueprint(&bp(json!({"mode": "eco"})), &schema).is_err());
    assert!(validate_blueprint(&bp(json!({"power": 1})), &schema).is_err());
    assert!(validate_blueprint(&bp(json!({"power": true, "mode": "off"})), &schema).is_err());
    assert!(validate_blueprint(&bp(json!({"power": true, "levels": [1.5]})), &schema).is_err());

    let mut old = bp(json!({"power": true}));
    old.metadata.generation = 4;
    assert_eq!(next_generation(&old, &bp(json!({"power": true})), false), (4, false));
    assert_eq!(next_generation(&old, &bp(json!({"power": true})), true), (5, true));
    assert_eq!(next_generation(&old, &bp(json!({"power": false})), false), (5, true));
}
