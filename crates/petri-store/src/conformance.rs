//! The behaviour every [`Store`] backend must show. Backends call [`run_all`]
//! from their own tests with a fresh, empty store.

use std::collections::HashSet;
use std::sync::Arc;

use petri_api::Timestamp;
use petri_api::model::{Colony, Executor, FunctionSpec, Log, WorkflowSpec, executor_state, state};
use petri_core::{Initiator, Limits, build_workflow, new_process};
use serde_json::json;

use crate::{LogQuery, ProcessQuery, Store, StoreError};

/// Runs every conformance check against `store`, panicking on the first failure.
pub async fn run_all(store: Arc<dyn Store>) {
    colonies(&*store).await;
    executors(&*store).await;
    queue_order(&*store).await;
    exactly_once(store.clone()).await;
    workflow_edit(&*store).await;
    logs(&*store).await;
    cascade(&*store).await;
    nonces(store.clone()).await;
}

/// A nonce is accepted once until it expires and is purged; of concurrent uses exactly one wins.
async fn nonces(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let (old, fresh) = (petri_crypto::random_nonce(), petri_crypto::random_nonce());
    assert!(store.use_nonce(&old, now.plus_secs(-10)).await.unwrap());
    assert!(store.use_nonce(&fresh, now.plus_secs(60)).await.unwrap());
    assert!(
        !store.use_nonce(&old, now.plus_secs(60)).await.unwrap(),
        "a replayed nonce"
    );
    assert!(
        !store.use_nonce(&fresh, now.plus_secs(60)).await.unwrap(),
        "a replayed nonce"
    );
    // Only the expired one goes.
    assert_eq!(store.purge_nonces(now).await.unwrap(), 1);
    assert_eq!(store.purge_nonces(now).await.unwrap(), 0);
    assert!(
        !store.use_nonce(&fresh, now.plus_secs(60)).await.unwrap(),
        "purge kept the live nonce"
    );
    assert!(
        store.use_nonce(&old, now.plus_secs(60)).await.unwrap(),
        "purge forgot the expired nonce"
    );

    let contested = petri_crypto::random_nonce();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (store, nonce) = (store.clone(), contested.clone());
            tokio::spawn(async move { store.use_nonce(&nonce, now.plus_secs(60)).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1, "exactly one use of a nonce wins");
    store.purge_nonces(now.plus_secs(120)).await.unwrap();
}

fn spec(colony: &str, kind: &str, priority: i64) -> FunctionSpec {
    let mut s = FunctionSpec {
        funcname: "f".into(),
        priority,
        ..FunctionSpec::default()
    };
    s.conditions.colonyname = colony.into();
    s.conditions.executortype = kind.into();
    s
}

fn executor(colony: &str, name: &str, kind: &str) -> Executor {
    Executor {
        executorid: petri_crypto::random_id(),
        executorname: name.into(),
        executortype: kind.into(),
        colonyname: colony.into(),
        state: executor_state::APPROVED,
        ..Executor::default()
    }
}

async fn colonies(store: &dyn Store) {
    let c = Colony {
        colonyid: "a".repeat(64),
        name: "conf-col".into(),
    };
    store.add_colony(c.clone()).await.unwrap();
    assert!(matches!(
        store.add_colony(c.clone()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_colony("conf-col").await.unwrap(), Some(c));
    assert!(
        store
            .list_colonies()
            .await
            .unwrap()
            .iter()
            .any(|c| c.name == "conf-col")
    );
    assert!(store.remove_colony("conf-col").await.unwrap());
    assert!(!store.remove_colony("conf-col").await.unwrap());
    assert_eq!(store.get_colony("conf-col").await.unwrap(), None);
}

async fn executors(store: &dyn Store) {
    let e = executor("conf-ex", "e1", "t");
    store.add_executor(e.clone()).await.unwrap();
    assert!(matches!(
        store.add_executor(e.clone()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.executors_by_id(&e.executorid).await.unwrap().len(), 1);
    let mut changed = e.clone();
    changed.state = executor_state::REJECTED;
    store.update_executor(changed).await.unwrap();
    let got = store.get_executor("conf-ex", "e1").await.unwrap().unwrap();
    assert_eq!(got.state, executor_state::REJECTED);
    store.touch_executor("conf-ex", "e1", Timestamp::now()).await.unwrap();
    let got = store.get_executor("conf-ex", "e1").await.unwrap().unwrap();
    assert!(!got.lastheardfromtime.is_unset());
}

async fn queue_order(store: &dyn Store) {
    let colony = "conf-queue";
    let init = Initiator::default();
    let now = Timestamp::now();
    let low1 = new_process(spec(colony, "t", 0), &init, now);
    let low2 = new_process(spec(colony, "t", 0), &init, now);
    let high = new_process(spec(colony, "t", 5), &init, now);
    let other = new_process(spec(colony, "u", 9), &init, now);
    for p in [&low1, &low2, &high, &other] {
        store.add_process(p.clone()).await.unwrap();
    }
    let e = executor(colony, "e", "t");
    let mut got = Vec::new();
    while let Some(ws) = store.assign(&e, Limits::default(), now).await.unwrap() {
        assert_eq!(ws.process().state, state::RUNNING);
        assert_eq!(ws.process().assignedexecutorid, e.executorid);
        got.push(ws.process().processid.clone());
    }
    assert_eq!(
        got,
        vec![high.processid.clone(), low1.processid.clone(), low2.processid.clone()]
    );
    let running = store
        .list_processes(&ProcessQuery {
            colony: colony.into(),
            state: state::RUNNING,
            count: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(running.len(), 3);
    assert_eq!(store.running_on(&e.executorid).await.unwrap().len(), 3);
    let stats = store.stats(colony).await.unwrap();
    assert_eq!((stats.waitingprocesses, stats.runningprocesses), (1, 3));

    let id = high.processid.clone();
    let exid = e.executorid.clone();
    store
        .edit(
            &id,
            Box::new(move |ws| ws.close_successful(&exid, vec![json!("ok")], Timestamp::now())),
        )
        .await
        .unwrap();
    let p = store.get_process(&id).await.unwrap().unwrap();
    assert_eq!((p.state, p.output.clone()), (state::SUCCESS, vec![json!("ok")]));
    let refused = store
        .edit(
            &id,
            Box::new(|ws| ws.close_failed("someone-else", vec![], Timestamp::now())),
        )
        .await;
    assert!(matches!(refused, Err(StoreError::Rule(_))));
    assert!(matches!(
        store.edit("missing", Box::new(|_| Ok(()))).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.remove_process(&other.processid).await.unwrap());
    assert_eq!(store.get_process(&other.processid).await.unwrap(), None);
    assert_eq!(store.remove_processes(colony, None).await.unwrap(), 3);
}

async fn exactly_once(store: Arc<dyn Store>) {
    let colony = "conf-once";
    let now = Timestamp::now();
    let n = 200;
    for _ in 0..n {
        store
            .add_process(new_process(spec(colony, "t", 0), &Initiator::default(), now))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let e = executor(colony, &format!("e{i}"), "t");
            let mut mine = Vec::new();
            while let Some(ws) = store.assign(&e, Limits::default(), Timestamp::now()).await.unwrap() {
                mine.push(ws.process().processid.clone());
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), n, "every process assigned");
    assert_eq!(unique.len(), n, "no process assigned twice");
}

async fn workflow_edit(store: &dyn Store) {
    let colony = "conf-wf";
    let mut a = spec(colony, "t", 0);
    a.nodename = "a".into();
    let mut b = spec(colony, "t", 0);
    b.nodename = "b".into();
    b.conditions.dependencies = vec!["a".into()];
    let (graph, ps) = build_workflow(
        WorkflowSpec {
            colonyname: colony.into(),
            functionspecs: vec![a, b],
        },
        &Initiator::default(),
        Timestamp::now(),
    )
    .unwrap();
    let gid = graph.processgraphid.clone();
    store.add_graph(graph, ps).await.unwrap();
    let e = executor(colony, "e", "t");
    let ws = store
        .assign(&e, Limits::default(), Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ws.process().spec.nodename, "a");
    assert!(
        store
            .assign(&e, Limits::default(), Timestamp::now())
            .await
            .unwrap()
            .is_none(),
        "b waits for a"
    );
    let exid = e.executorid.clone();
    let a_id = ws.process().processid.clone();
    let done = store
        .edit(
            &a_id,
            Box::new(move |ws| ws.close_successful(&exid, vec![json!(1), json!(2)], Timestamp::now())),
        )
        .await
        .unwrap();
    assert_eq!(done.ready.len(), 1);
    let ws = store
        .assign(&e, Limits::default(), Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ws.process().input, Some(vec![json!(1), json!(2)]));
    let (g, procs) = store.get_graph(&gid).await.unwrap().unwrap();
    assert_eq!(g.state, state::RUNNING);
    assert_eq!(procs.len(), 2);
    assert_eq!(store.list_graphs(colony, state::RUNNING, 10).await.unwrap().len(), 1);
    assert!(
        !store.remove_process(&a_id).await.unwrap_or(true),
        "workflow processes go with their graph"
    );
    assert!(store.remove_graph(&gid).await.unwrap());
    assert_eq!(store.get_process(&a_id).await.unwrap(), None);
}

async fn logs(store: &dyn Store) {
    for i in 0..5 {
        store
            .add_log(Log {
                processid: "p".into(),
                colonyname: "conf-log".into(),
                executorname: "e".into(),
                message: format!("line {i}"),
                timestamp: 1000 + i,
            })
            .await
            .unwrap();
    }
    let q = LogQuery {
        colony: "conf-log".into(),
        processid: Some("p".into()),
        count: 3,
        ..Default::default()
    };
    let got = store.get_logs(&q).await.unwrap();
    assert_eq!(
        got.iter().map(|l| l.timestamp).collect::<Vec<_>>(),
        vec![1000, 1001, 1002]
    );
    let q = LogQuery {
        since: 1002,
        latest: true,
        count: 10,
        ..q
    };
    let got = store.get_logs(&q).await.unwrap();
    assert_eq!(got.iter().map(|l| l.timestamp).collect::<Vec<_>>(), vec![1004, 1003]);
}

async fn cascade(store: &dyn Store) {
    let colony = "conf-cascade";
    store
        .add_colony(Colony {
            colonyid: "b".repeat(64),
            name: colony.into(),
        })
        .await
        .unwrap();
    store.add_executor(executor(colony, "e", "t")).await.unwrap();
    store
        .add_process(new_process(
            spec(colony, "t", 0),
            &Initiator::default(),
            Timestamp::now(),
        ))
        .await
        .unwrap();
    assert!(store.remove_colony(colony).await.unwrap());
    assert!(store.list_executors(colony).await.unwrap().is_empty());
    assert_eq!(store.stats(colony).await.unwrap().waitingprocesses, 0);
}
