//! Workflows: data passing along the graph, graph state, failure propagation
//! and dynamically added children.

use std::collections::{BTreeSet, HashMap};

use petri_api::model::{Process, ProcessGraph, state};
use petri_crypto::PrivateKey;
use petri_e2e::{TestServer, node, within, workflow};
use petri_sdk::Client;
use serde_json::{Value, json};

/// The graph's processes by node name.
async fn by_node(client: &Client, graph: &ProcessGraph, key: &PrivateKey) -> HashMap<String, Process> {
    let mut out = HashMap::new();
    for id in &graph.processids {
        let p = client.get_process(id, key).await.unwrap();
        out.insert(p.spec.nodename.clone(), p);
    }
    out
}

async fn assign_now(client: &Client, colony: &str, key: &PrivateKey) -> Option<Process> {
    client.assign(colony, -1, key).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diamond_passes_outputs_along_the_graph() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let c = colony.name.as_str();
        let key = &colony.executor.key;

        let submitted = client
            .submit_workflow(
                workflow(
                    c,
                    vec![
                        node(c, "a", &[]),
                        node(c, "b", &["a"]),
                        node(c, "c", &["a"]),
                        node(c, "d", &["b", "c"]),
                    ],
                ),
                key,
            )
            .await
            .unwrap();
        assert_eq!(submitted.state, state::WAITING);
        assert_eq!(submitted.colonyname, colony.name);
        assert_eq!(submitted.processids.len(), 4);
        assert_eq!(submitted.rootprocessids, vec![submitted.processids[0].clone()]);
        assert_eq!(submitted.initiatorname, colony.executor.name);
        let gid = submitted.processgraphid.clone();

        let graph = client.get_graph(&gid, key).await.unwrap();
        assert_eq!(graph.state, state::WAITING);
        let ids: BTreeSet<_> = graph.processids.iter().cloned().collect();
        assert_eq!(ids, submitted.processids.iter().cloned().collect());
        assert_eq!(graph.nodes.len(), 4);
        let node_ids: BTreeSet<_> = graph.nodes.iter().map(|n| n.id.clone()).collect();
        assert_eq!(node_ids, ids);
        let p = by_node(&client, &graph, key).await;
        let id = |n: &str| p[n].processid.clone();
        let edges: BTreeSet<(String, String)> = graph
            .edges
            .iter()
            .map(|e| (e.source.clone(), e.target.clone()))
            .collect();
        let expected: BTreeSet<(String, String)> = [
            (id("a"), id("b")),
            (id("a"), id("c")),
            (id("b"), id("d")),
            (id("c"), id("d")),
        ]
        .into_iter()
        .collect();
        assert_eq!(edges, expected);
        let labels: BTreeSet<_> = graph
            .nodes
            .iter()
            .map(|n| n.data.get("label").cloned().unwrap_or_default())
            .collect();
        assert_eq!(labels, ["a", "b", "c", "d"].map(String::from).into());
        assert_eq!(p["d"].parents, vec![id("b"), id("c")]);
        assert!(p["d"].waitforparents && p["b"].waitforparents && !p["a"].waitforparents);
        assert!(p.values().all(|q| q.processgraphid == gid && q.state == state::WAITING));

        // Only the root is ready.
        let a = assign_now(&client, c, key).await.expect("a is ready");
        assert_eq!(a.spec.nodename, "a");
        assert!(assign_now(&client, c, key).await.is_none(), "b and c wait for a");
        assert_eq!(client.get_graph(&gid, key).await.unwrap().state, state::RUNNING);
        client
            .close(&a.processid, vec![json!("A1"), json!("A2")], key)
            .await
            .unwrap();

        let first = assign_now(&client, c, key).await.expect("b or c is ready");
        let second = assign_now(&client, c, key).await.expect("b and c are both ready");
        let mut mids = [first.spec.nodename.clone(), second.spec.nodename.clone()];
        mids.sort();
        assert_eq!(mids, ["b".to_owned(), "c".to_owned()]);
        for mid in [&first, &second] {
            assert_eq!(mid.input, Some(vec![json!("A1"), json!("A2")]), "{}", mid.spec.nodename);
        }
        assert!(assign_now(&client, c, key).await.is_none(), "d waits for b and c");
        let (b, cc) = if first.spec.nodename == "b" {
            (first, second)
        } else {
            (second, first)
        };

        // Close c first: d's input follows its parents' order, not the closing order.
        client.close(&cc.processid, vec![json!("c-out")], key).await.unwrap();
        assert!(assign_now(&client, c, key).await.is_none(), "d still waits for b");
        assert_eq!(client.get_graph(&gid, key).await.unwrap().state, state::RUNNING);
        client.close(&b.processid, vec![json!("b-out")], key).await.unwrap();

        let d = assign_now(&client, c, key).await.expect("d is ready");
        assert_eq!(d.spec.nodename, "d");
        assert_eq!(d.input, Some(vec![json!("b-out"), json!("c-out")]));
        client.close(&d.processid, vec![json!("done")], key).await.unwrap();

        let graph = client.get_graph(&gid, key).await.unwrap();
        assert_eq!(graph.state, state::SUCCESS);
        assert!(!graph.starttime.is_unset() && !graph.endtime.is_unset());
        let p = by_node(&client, &graph, key).await;
        assert!(p.values().all(|q| q.state == state::SUCCESS));
        assert_eq!(p["d"].output, vec![json!("done")]);
        assert_eq!(p["d"].input, Some(vec![json!("b-out"), json!("c-out")]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_node_fails_its_descendants_and_the_graph() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let c = colony.name.as_str();
        let key = &colony.executor.key;

        // a → b → {c, d}, and e independent.
        let graph = client
            .submit_workflow(
                workflow(
                    c,
                    vec![
                        node(c, "a", &[]),
                        node(c, "b", &["a"]),
                        node(c, "c", &["b"]),
                        node(c, "d", &["b"]),
                        node(c, "e", &[]),
                    ],
                ),
                key,
            )
            .await
            .unwrap();
        let gid = graph.processgraphid.clone();
        assert_eq!(graph.rootprocessids.len(), 2);

        let mut a = None;
        while let Some(p) = assign_now(&client, c, key).await {
            if p.spec.nodename == "a" {
                a = Some(p);
            } else {
                assert_eq!(p.spec.nodename, "e");
                client.close(&p.processid, vec![json!("e")], key).await.unwrap();
            }
        }
        let a = a.expect("a was assigned");
        client.close(&a.processid, vec![json!("a")], key).await.unwrap();
        let b = assign_now(&client, c, key).await.expect("b is ready");
        assert_eq!(b.spec.nodename, "b");
        client.fail(&b.processid, vec!["boom".into()], key).await.unwrap();

        let graph = client.get_graph(&gid, key).await.unwrap();
        assert_eq!(graph.state, state::FAILED);
        assert!(!graph.endtime.is_unset());
        let p = by_node(&client, &graph, key).await;
        assert_eq!(p["b"].state, state::FAILED);
        assert_eq!(p["b"].errors, vec!["boom".to_owned()]);
        for child in ["c", "d"] {
            let q = &p[child];
            assert_eq!(q.state, state::FAILED, "{child} fails with its parent");
            assert!(
                q.errors.iter().any(|e| e.contains(&b.processid)),
                "{child}'s errors name the failed parent {}: {:?}",
                b.processid,
                q.errors
            );
        }
        assert_eq!(p["a"].state, state::SUCCESS, "an ancestor keeps its result");
        assert_eq!(p["e"].state, state::SUCCESS);
        assert!(
            assign_now(&client, c, key).await.is_none(),
            "nothing behind a failed node runs"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_leaf_fails_the_graph() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let c = colony.name.as_str();
        let key = &colony.executor.key;
        let graph = client
            .submit_workflow(workflow(c, vec![node(c, "a", &[]), node(c, "b", &["a"])]), key)
            .await
            .unwrap();
        let a = assign_now(&client, c, key).await.unwrap();
        client.close(&a.processid, vec![], key).await.unwrap();
        let b = assign_now(&client, c, key).await.unwrap();
        assert_eq!(b.input, None, "parents without output give no input");
        client.fail(&b.processid, vec!["x".into()], key).await.unwrap();
        let graph = client.get_graph(&graph.processgraphid, key).await.unwrap();
        assert_eq!(graph.state, state::FAILED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_workflow_specs_are_refused() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let c = colony.name.as_str();
        let key = &colony.executor.key;
        let cases = [
            vec![node(c, "", &[])],
            vec![node(c, "a", &[]), node(c, "a", &[])],
            vec![node(c, "a", &["missing"])],
            vec![node(c, "a", &["b"]), node(c, "b", &["a"])],
            vec![],
        ];
        for nodes in cases {
            let names: Vec<_> = nodes.iter().map(|n| n.nodename.clone()).collect();
            let r = client.submit_workflow(workflow(c, nodes), key).await;
            assert!(r.is_err(), "workflow {names:?} must be refused: {r:?}");
        }
        assert!(
            client
                .get_processes(c, state::WAITING, 100, key)
                .await
                .unwrap()
                .is_empty(),
            "a refused workflow leaves no processes behind"
        );
    })
    .await;
}

/// The map-reduce of the Colonies Python SDK's README: `map` adds five
/// `gen_nums` children in front of `reduce`, the first with insert=true.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_reduce_with_add_child() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let c = colony.name.as_str();
        let key = &colony.executor.key;

        let submitted = client
            .submit_workflow(workflow(c, vec![node(c, "map", &[]), node(c, "reduce", &["map"])]), key)
            .await
            .unwrap();
        let gid = submitted.processgraphid.clone();
        let map = assign_now(&client, c, key).await.expect("map is ready");
        assert_eq!(map.spec.nodename, "map");

        let graph = client.get_graph(&gid, key).await.unwrap();
        let reduce = by_node(&client, &graph, key).await["reduce"].clone();

        let mut gens = Vec::new();
        for i in 0..5 {
            let mut s = node(c, &format!("gen_nums_{i}"), &[]);
            s.funcname = "gen_nums".into();
            s.priority = 200;
            let child = client
                .add_child(&gid, &map.processid, &reduce.processid, s, i == 0, key)
                .await
                .unwrap();
            assert_eq!(child.processgraphid, gid);
            assert_eq!(child.parents, vec![map.processid.clone()]);
            assert_eq!(child.children, vec![reduce.processid.clone()]);
            assert!(child.waitforparents);
            assert_eq!(child.state, state::WAITING);
            gens.push(child.processid);
        }
        assert!(assign_now(&client, c, key).await.is_none(), "children wait for map");

        let graph = client.get_graph(&gid, key).await.unwrap();
        assert_eq!(graph.processids.len(), 7);
        assert_eq!(graph.state, state::RUNNING);
        let map_now = client.get_process(&map.processid, key).await.unwrap();
        assert_eq!(map_now.children, gens);
        let reduce_now = client.get_process(&reduce.processid, key).await.unwrap();
        assert_eq!(
            reduce_now.parents, gens,
            "reduce's parents are the five children, in order"
        );

        client.close(&map.processid, vec![json!("M")], key).await.unwrap();
        let mut seen = BTreeSet::new();
        for _ in 0..5 {
            let g = assign_now(&client, c, key).await.expect("a gen_nums child is ready");
            assert_eq!(g.spec.funcname, "gen_nums");
            assert_eq!(g.input, Some(vec![json!("M")]));
            seen.insert(g.processid.clone());
            let i = g.spec.nodename.trim_start_matches("gen_nums_").to_owned();
            client
                .close(&g.processid, vec![json!(format!("g{i}")), json!(1), json!(2)], key)
                .await
                .unwrap();
        }
        assert_eq!(seen, gens.iter().cloned().collect());

        let r = assign_now(&client, c, key).await.expect("reduce is ready");
        assert_eq!(r.processid, reduce.processid);
        let input = r.input.clone().expect("reduce gets its parents' outputs");
        let expected: Vec<Value> = (0..5)
            .flat_map(|i| [json!(format!("g{i}")), json!(1), json!(2)])
            .collect();
        assert_eq!(input, expected);
        let total: i64 = input.iter().filter_map(Value::as_i64).sum();
        client.close(&r.processid, vec![json!(total)], key).await.unwrap();

        let graph = client.get_graph(&gid, key).await.unwrap();
        assert_eq!(graph.state, state::SUCCESS);
        assert_eq!(graph.processids.len(), 7);
        let all = by_node(&client, &graph, key).await;
        assert_eq!(all.len(), 7);
        assert!(all.values().all(|p| p.state == state::SUCCESS));
        assert_eq!(all["reduce"].output, vec![json!(15)]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_child_needs_the_running_parent_and_its_executor() {
    within(30, async {
        let server = TestServer::start().await;
        let client = server.client();
        let colony = server.colony().await;
        let other = server.executor(&colony, petri_e2e::WORKER, true).await;
        let c = colony.name.as_str();
        let key = &colony.executor.key;
        let graph = client
            .submit_workflow(workflow(c, vec![node(c, "map", &[]), node(c, "reduce", &["map"])]), key)
            .await
            .unwrap();
        let gid = graph.processgraphid.clone();
        let map_id = graph.rootprocessids[0].clone();
        let child = || node(c, "extra", &[]);

        // The parent is not running yet.
        let r = client.add_child(&gid, &map_id, "", child(), false, key).await;
        assert!(r.is_err(), "adding to a waiting parent: {r:?}");

        let map = assign_now(&client, c, key).await.unwrap();
        assert_eq!(map.processid, map_id);
        // Another executor may not add children to it.
        let r = client.add_child(&gid, &map_id, "", child(), false, &other.key).await;
        assert_eq!(r.as_ref().err().and_then(|e| e.status()), Some(403), "{r:?}");
        // A standalone process has no graph.
        let lone = client
            .submit(petri_e2e::spec(c, petri_e2e::WORKER, "lone"), &other.key)
            .await
            .unwrap();
        let got = assign_now(&client, c, &other.key).await.unwrap();
        assert_eq!(got.processid, lone.processid);
        let r = client
            .add_child(&gid, &lone.processid, "", child(), false, &other.key)
            .await;
        assert!(r.is_err(), "adding to a standalone process: {r:?}");

        let g = client.get_graph(&gid, key).await.unwrap();
        assert_eq!(g.processids.len(), 2, "refused calls added nothing");
    })
    .await;
}
