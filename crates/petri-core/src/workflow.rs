//! Workflows: building a process graph from a spec, and drawing it.

use std::collections::{BTreeMap, HashMap, HashSet};

use petri_api::Timestamp;
use petri_api::model::{Edge, Node, Position, Process, ProcessGraph, WorkflowSpec, state};

use crate::CoreError;
use crate::spec::{Initiator, new_process, normalize_spec};

/// Builds the graph and its processes for a workflow spec.
///
/// Each function spec becomes one process; a node without dependencies is a
/// root and can run at once, any other waits for its parents. Node names must
/// be present and unique, and dependencies must name nodes of the workflow.
pub fn build_workflow(
    spec: WorkflowSpec,
    initiator: &Initiator,
    now: Timestamp,
) -> Result<(ProcessGraph, Vec<Process>), CoreError> {
    if spec.functionspecs.is_empty() {
        return Err(CoreError::bad_request(
            "Failed to submit workflow, the workflow has no function specs",
        ));
    }
    let graph_id = petri_crypto::random_id();
    let mut processes = Vec::with_capacity(spec.functionspecs.len());
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for mut fs in spec.functionspecs {
        if fs.nodename.is_empty() {
            return Err(CoreError::bad_request(
                "Failed to submit workflow, Nodename is missing in function spec",
            ));
        }
        if by_name.contains_key(&fs.nodename) {
            return Err(CoreError::bad_request(format!(
                "Failed to submit workflow, Duplicate nodename: {}",
                fs.nodename
            )));
        }
        fs.conditions.colonyname = spec.colonyname.clone();
        if fs.maxexectime == 0 {
            fs.maxexectime = -1;
        }
        normalize_spec(&mut fs)?;
        let mut p = new_process(fs, initiator, now);
        p.processgraphid = graph_id.clone();
        for a in &mut p.attributes {
            a.targetprocessgraphid = graph_id.clone();
        }
        by_name.insert(p.spec.nodename.clone(), processes.len());
        processes.push(p);
    }
    let mut links = Vec::new();
    for (child, p) in processes.iter().enumerate() {
        for dep in &p.spec.conditions.dependencies {
            let parent = *by_name.get(dep).ok_or_else(|| {
                CoreError::bad_request(format!(
                    "Failed to submit workflow, invalid dependencies, are you depending on a nodename that does not exits? (unknown node {dep:?})"
                ))
            })?;
            if parent == child {
                return Err(CoreError::bad_request(format!(
                    "Failed to submit workflow, node {dep:?} depends on itself"
                )));
            }
            links.push((parent, child));
        }
    }
    for (parent, child) in links {
        let (pid, cid) = (processes[parent].processid.clone(), processes[child].processid.clone());
        processes[child].parents.push(pid);
        processes[parent].children.push(cid);
    }
    if has_cycle(&processes) {
        return Err(CoreError::bad_request(
            "Failed to submit workflow, the dependencies form a cycle",
        ));
    }
    let mut roots = Vec::new();
    for p in &mut processes {
        p.waitforparents = !p.parents.is_empty();
        if p.parents.is_empty() {
            roots.push(p.processid.clone());
        }
    }
    let graph = ProcessGraph {
        processgraphid: graph_id,
        initiatorid: initiator.id.clone(),
        initiatorname: initiator.name.clone(),
        colonyname: spec.colonyname,
        rootprocessids: roots,
        state: state::WAITING,
        submissiontime: now,
        processids: processes.iter().map(|p| p.processid.clone()).collect(),
        ..ProcessGraph::default()
    };
    Ok((graph, processes))
}

fn has_cycle(processes: &[Process]) -> bool {
    // Kahn's algorithm: a graph is acyclic iff every node can be peeled off
    // once all its parents are.
    let index: HashMap<&str, usize> = processes
        .iter()
        .enumerate()
        .map(|(i, p)| (p.processid.as_str(), i))
        .collect();
    let mut indegree: Vec<usize> = processes.iter().map(|p| p.parents.len()).collect();
    let mut ready: Vec<usize> = (0..processes.len()).filter(|i| indegree[*i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = ready.pop() {
        seen += 1;
        for c in &processes[i].children {
            if let Some(&ci) = index.get(c.as_str()) {
                indegree[ci] -= 1;
                if indegree[ci] == 0 {
                    ready.push(ci);
                }
            }
        }
    }
    seen != processes.len()
}

/// Colour of a node by process state, as the Colonies dashboard draws it.
fn background(state: i32) -> &'static str {
    match state {
        state::RUNNING => "#4689cd",
        state::SUCCESS => "#92d050",
        state::FAILED => "#cb4239",
        _ => "#eee8d8",
    }
}

/// The graph as clients see it: `processids` in depth-first order from the
/// roots (dynamically added children included) and `nodes`/`edges` for drawing.
pub fn graph_view(graph: &ProcessGraph, processes: &[Process]) -> ProcessGraph {
    let by_id: HashMap<&str, &Process> = processes.iter().map(|p| (p.processid.as_str(), p)).collect();
    let mut order = Vec::new();
    let mut depth: HashMap<String, i64> = HashMap::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<(String, i64)> = graph.rootprocessids.iter().rev().map(|r| (r.clone(), 0)).collect();
    while let Some((id, d)) = stack.pop() {
        let e = depth.entry(id.clone()).or_insert(d);
        *e = (*e).max(d);
        if !seen.insert(id.clone()) {
            continue;
        }
        order.push(id.clone());
        if let Some(p) = by_id.get(id.as_str()) {
            for c in p.children.iter().rev() {
                stack.push((c.clone(), d + 1));
            }
        }
    }
    // Depths are the longest path from a root, so a node sits below all its parents.
    for _ in 0..order.len() {
        let mut changed = false;
        for id in &order {
            if let Some(p) = by_id.get(id.as_str()) {
                let d = depth[id];
                for c in &p.children {
                    if let Some(cd) = depth.get_mut(c)
                        && *cd <= d
                    {
                        *cd = d + 1;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut levels: BTreeMap<i64, Vec<&String>> = BTreeMap::new();
    for id in &order {
        levels.entry(depth[id]).or_default().push(id);
    }
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for (d, ids) in &levels {
        let width = ids.len() as i64;
        for (i, id) in ids.iter().enumerate() {
            let Some(p) = by_id.get(id.as_str()) else {
                continue;
            };
            let kind = if p.parents.is_empty() {
                "input"
            } else if p.children.is_empty() {
                "output"
            } else {
                ""
            };
            nodes.push(Node {
                id: (*id).clone(),
                data: BTreeMap::from([("label".to_owned(), p.label().to_owned())]),
                position: Position {
                    x: (i as i64) * 200 - (width - 1) * 100,
                    y: d * 80,
                },
                kind: kind.into(),
                style: BTreeMap::from([
                    ("color".to_owned(), String::new()),
                    ("background".to_owned(), background(p.state).to_owned()),
                ]),
            });
            for c in &p.children {
                edges.push(Edge {
                    id: format!("{id}-{c}"),
                    source: (*id).clone(),
                    target: c.clone(),
                    animated: p.state == state::RUNNING,
                });
            }
        }
    }
    ProcessGraph {
        processids: order,
        nodes,
        edges,
        ..graph.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use petri_api::model::FunctionSpec;

    pub(crate) fn node(name: &str, deps: &[&str]) -> FunctionSpec {
        let mut fs = FunctionSpec {
            nodename: name.into(),
            funcname: name.into(),
            ..FunctionSpec::default()
        };
        fs.conditions.executortype = "t".into();
        fs.conditions.dependencies = deps.iter().map(|d| d.to_string()).collect();
        fs
    }

    fn wf(nodes: Vec<FunctionSpec>) -> WorkflowSpec {
        WorkflowSpec {
            colonyname: "c".into(),
            functionspecs: nodes,
        }
    }

    #[test]
    fn builds_links_and_roots() {
        let (g, ps) = build_workflow(
            wf(vec![
                node("a", &[]),
                node("b", &["a"]),
                node("c", &["a"]),
                node("d", &["b", "c"]),
            ]),
            &Initiator::default(),
            Timestamp::now(),
        )
        .unwrap();
        assert_eq!(g.rootprocessids, vec![ps[0].processid.clone()]);
        assert_eq!(ps[3].parents, vec![ps[1].processid.clone(), ps[2].processid.clone()]);
        assert!(ps[3].waitforparents && !ps[0].waitforparents);
        assert_eq!(ps[0].spec.maxexectime, -1);
        let view = graph_view(&g, &ps);
        assert_eq!(view.processids.len(), 4);
        assert_eq!(view.edges.len(), 4);
        let d = view.nodes.iter().find(|n| n.id == ps[3].processid).unwrap();
        assert_eq!(d.position.y, 160);
        assert_eq!(d.kind, "output");
    }

    #[test]
    fn rejects_bad_specs() {
        let init = Initiator::default();
        let now = Timestamp::now();
        assert!(build_workflow(wf(vec![]), &init, now).is_err());
        assert!(build_workflow(wf(vec![node("", &[])]), &init, now).is_err());
        assert!(build_workflow(wf(vec![node("a", &[]), node("a", &[])]), &init, now).is_err());
        assert!(build_workflow(wf(vec![node("a", &["x"])]), &init, now).is_err());
        assert!(build_workflow(wf(vec![node("a", &["b"]), node("b", &["a"])]), &init, now).is_err());
        assert!(build_workflow(wf(vec![node("a", &["a"])]), &init, now).is_err());
    }
}
