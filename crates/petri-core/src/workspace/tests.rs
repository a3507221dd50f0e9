use super::*;
use crate::build_workflow;
use petri_api::model::WorkflowSpec;
use serde_json::json;

fn node(name: &str, deps: &[&str]) -> FunctionSpec {
    let mut fs = FunctionSpec {
        nodename: name.into(),
        funcname: name.into(),
        ..FunctionSpec::default()
    };
    fs.conditions.executortype = "t".into();
    fs.conditions.dependencies = deps.iter().map(|d| d.to_string()).collect();
    fs
}

fn executor() -> Executor {
    Executor {
        executorid: "ex".into(),
        executortype: "t".into(),
        executorname: "e".into(),
        ..Executor::default()
    }
}

/// A workflow workspace targeting the node named `name`.
struct Wf {
    ws: Workspace,
}

impl Wf {
    fn new(nodes: Vec<FunctionSpec>) -> Self {
        let (graph, ps) = build_workflow(
            WorkflowSpec {
                colonyname: "c".into(),
                functionspecs: nodes,
            },
            &Initiator::default(),
            Timestamp::now(),
        )
        .unwrap();
        let target = ps[0].processid.clone();
        Self {
            ws: Workspace::new(target, Some(graph), ps),
        }
    }
    fn id(&self, name: &str) -> String {
        self.ws
            .processes
            .values()
            .find(|p| p.spec.nodename == name)
            .unwrap()
            .processid
            .clone()
    }
    fn get(&self, name: &str) -> &Process {
        &self.ws.processes[&self.id(name)]
    }
    fn at(&mut self, name: &str) -> &mut Workspace {
        self.ws.target = self.id(name);
        &mut self.ws
    }
    fn run(&mut self, name: &str, out: Vec<Value>) {
        let now = Timestamp::now();
        self.at(name).assign(&executor(), now);
        self.at(name).close_successful("ex", out, now).unwrap();
    }
}

#[test]
fn diamond_passes_outputs_in_parent_order() {
    let mut wf = Wf::new(vec![
        node("a", &[]),
        node("b", &["a"]),
        node("c", &["a"]),
        node("d", &["b", "c"]),
    ]);
    assert!(wf.get("b").waitforparents);
    wf.run("a", vec![json!("A1"), json!("A2")]);
    assert!(!wf.get("b").waitforparents && !wf.get("c").waitforparents);
    assert!(wf.get("d").waitforparents);
    wf.run("c", vec![json!("c-out")]);
    assert!(wf.get("d").waitforparents, "d waits for b too");
    wf.run("b", vec![json!("b-out")]);
    assert_eq!(wf.get("b").input, Some(vec![json!("A1"), json!("A2")]));
    wf.at("d").assign(&executor(), Timestamp::now());
    assert_eq!(wf.get("d").input, Some(vec![json!("b-out"), json!("c-out")]));
    wf.at("d").close_successful("ex", vec![], Timestamp::now()).unwrap();
    assert_eq!(wf.ws.graph.as_ref().unwrap().state, state::SUCCESS);
}

#[test]
fn empty_parent_outputs_give_null_input() {
    let mut wf = Wf::new(vec![node("a", &[]), node("b", &["a"])]);
    wf.run("a", vec![]);
    wf.at("b").assign(&executor(), Timestamp::now());
    assert_eq!(wf.get("b").input, None);
}

#[test]
fn failure_propagates_to_descendants_only() {
    let mut wf = Wf::new(vec![
        node("a", &[]),
        node("x", &[]),
        node("b", &["a"]),
        node("c", &["b"]),
    ]);
    wf.run("x", vec![json!(1)]);
    wf.at("a").assign(&executor(), Timestamp::now());
    wf.at("a")
        .close_failed("ex", vec!["boom".into()], Timestamp::now())
        .unwrap();
    assert_eq!(wf.get("a").errors, vec!["boom".to_string()]);
    assert_eq!(wf.get("b").state, state::FAILED);
    assert_eq!(wf.get("c").state, state::FAILED);
    assert!(wf.get("c").errors[0].contains("parent process"));
    assert_eq!(
        wf.get("x").state,
        state::SUCCESS,
        "an independent finished node keeps its result"
    );
    assert_eq!(wf.ws.graph.as_ref().unwrap().state, state::FAILED);
}

#[test]
fn close_rules() {
    let mut wf = Wf::new(vec![node("a", &[])]);
    let now = Timestamp::now();
    assert_eq!(
        wf.at("a").close_successful("ex", vec![], now).unwrap_err().kind,
        crate::ErrorKind::Forbidden
    );
    wf.at("a").assign(&executor(), now);
    assert_eq!(
        wf.at("a").close_successful("other", vec![], now).unwrap_err().kind,
        crate::ErrorKind::Forbidden
    );
    wf.at("a").close_successful("ex", vec![json!("y")], now).unwrap();
    wf.at("a").close_successful("ex", vec![], now.plus_secs(5)).unwrap();
    assert_eq!(wf.get("a").output, vec![json!("y")]);
    assert_eq!(
        wf.get("a").endtime,
        now,
        "a repeated close keeps the time the process finished"
    );
    assert!(wf.at("a").close_failed("ex", vec![], now).is_err());
}

#[test]
fn add_child_map_reduce_shape() {
    let mut wf = Wf::new(vec![node("map", &[]), node("reduce", &["map"])]);
    let now = Timestamp::now();
    wf.at("map").assign(&executor(), now);
    let reduce = wf.id("reduce");
    for (i, insert) in [true, false, false].into_iter().enumerate() {
        let spec = node(&format!("g{i}"), &[]);
        wf.at("map").add_child("ex", &reduce, insert, spec, now).unwrap();
    }
    assert_eq!(wf.get("map").children.len(), 3);
    assert_eq!(wf.get("reduce").parents.len(), 3);
    wf.at("map").close_successful("ex", vec![json!("M")], now).unwrap();
    for g in ["g0", "g1", "g2"] {
        assert!(!wf.get(g).waitforparents);
        wf.run(g, vec![json!(g)]);
        assert_eq!(wf.get(g).input, Some(vec![json!("M")]));
    }
    wf.at("reduce").assign(&executor(), now);
    assert_eq!(
        wf.get("reduce").input,
        Some(vec![json!("g0"), json!("g1"), json!("g2")])
    );
    assert_eq!(wf.ws.graph.as_ref().unwrap().processids.len(), 5);
}

#[test]
fn add_child_needs_running_assigned_parent() {
    let mut wf = Wf::new(vec![node("map", &[])]);
    let now = Timestamp::now();
    assert!(wf.at("map").add_child("ex", "", true, node("g", &[]), now).is_err());
    wf.at("map").assign(&executor(), now);
    assert!(wf.at("map").add_child("other", "", true, node("g", &[]), now).is_err());
    assert!(
        wf.at("map")
            .add_child("ex", "nope", false, node("g", &[]), now)
            .is_err()
    );
}

#[test]
fn unassign_requeues_and_counts() {
    let mut wf = Wf::new(vec![node("a", &[])]);
    let now = Timestamp::now();
    wf.at("a").assign(&executor(), now);
    wf.at("a").unassign(now, true);
    let a = wf.get("a");
    assert_eq!((a.state, a.isassigned, a.retries), (state::WAITING, false, 1));
}

#[test]
fn exec_deadline_requeues_then_fails() {
    let mut spec = node("a", &[]);
    spec.maxexectime = 1;
    spec.maxretries = 1;
    let mut wf = Wf::new(vec![spec]);
    let t0 = Timestamp::now();
    wf.at("a").assign(&executor(), t0);
    assert!(!wf.at("a").enforce_deadlines(t0), "not yet expired");
    let later = t0.plus_secs(2);
    assert!(wf.at("a").enforce_deadlines(later));
    assert_eq!((wf.get("a").state, wf.get("a").retries), (state::WAITING, 1));
    wf.at("a").assign(&executor(), later);
    assert!(wf.at("a").enforce_deadlines(later.plus_secs(2)));
    assert_eq!(wf.get("a").state, state::FAILED);
    assert_eq!(
        wf.get("a").errors,
        vec!["Maximum execution time limit exceeded".to_string()]
    );
}

#[test]
fn wait_deadline_fails_waiting_process() {
    let mut spec = node("a", &[]);
    spec.maxwaittime = 1;
    let mut wf = Wf::new(vec![spec]);
    let later = wf.get("a").submissiontime.plus_secs(2);
    assert!(wf.at("a").enforce_deadlines(later));
    assert_eq!(wf.get("a").state, state::FAILED);
}
