//! The behaviour every [`ExtStore`] must show. Backends call [`run_all`]
//! from their own tests with a fresh, empty store.

use std::sync::Arc;

use petri_api::Timestamp;
use petri_api::model::{
    Blueprint, BlueprintDefinition, BlueprintHistory, Colony, Cron, File, FunctionSpec, Generator, MsgEntry, Payload,
    Snapshot, WorkflowSpec, state,
};
use petri_core::{Initiator, build_workflow, new_process};
use serde_json::json;

use super::{ChannelLimits, NewGraph};
use crate::{Store, StoreError};

/// Runs every extended-surface check against `store`, panicking on the first failure.
pub async fn run_all(store: Arc<dyn Store>) {
    crons(&*store).await;
    generators(store.clone()).await;
    channels(&*store).await;
    files_and_snapshots(&*store).await;
    blueprints(&*store).await;
    colony_removal(&*store).await;
}

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_nanos(secs * 1_000_000_000)
}

fn graph(colony: &str) -> NewGraph {
    let mut spec = FunctionSpec {
        nodename: "n".into(),
        funcname: "f".into(),
        ..FunctionSpec::default()
    };
    spec.conditions.executortype = "t".into();
    build_workflow(
        WorkflowSpec {
            colonyname: colony.into(),
            functionspecs: vec![spec],
        },
        &Initiator::default(),
        Timestamp::now(),
    )
    .unwrap()
}

async fn crons(store: &dyn Store) {
    let colony = "conf-cron";
    let c = Cron {
        cronid: petri_crypto::random_id(),
        colonyname: colony.into(),
        name: "every".into(),
        interval: 1,
        ..Cron::default()
    };
    store.add_cron(c.clone()).await.unwrap();
    assert!(matches!(store.add_cron(c.clone()).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.get_cron(&c.cronid).await.unwrap(), Some(c.clone()));
    assert_eq!(store.list_crons(colony, 10).await.unwrap(), vec![c.clone()]);
    assert!(store.list_crons(colony, 0).await.unwrap().is_empty());
    assert!(
        store
            .crons_due(ts(1), 100)
            .await
            .unwrap()
            .iter()
            .any(|d| d.cronid == c.cronid),
        "a cron without a next run is due for scheduling"
    );

    // Schedule it: no graph yet.
    let mut scheduled = c.clone();
    scheduled.nextrun = ts(100);
    assert!(store.fire_cron(&c, scheduled.clone(), None).await.unwrap());
    assert!(
        !store
            .crons_due(ts(99), 100)
            .await
            .unwrap()
            .iter()
            .any(|d| d.cronid == c.cronid)
    );
    assert!(
        store
            .crons_due(ts(100), 100)
            .await
            .unwrap()
            .iter()
            .any(|d| d.cronid == c.cronid)
    );

    // Two servers fire from the same read: only one wins, and only its graph is stored.
    let (g1, g2) = (graph(colony), graph(colony));
    let mut fired = scheduled.clone();
    fired.nextrun = ts(101);
    fired.prevprocessgraphid = g1.0.processgraphid.clone();
    let mut other = fired.clone();
    other.prevprocessgraphid = g2.0.processgraphid.clone();
    assert!(
        store
            .fire_cron(&scheduled, fired.clone(), Some(g1.clone()))
            .await
            .unwrap()
    );
    assert!(!store.fire_cron(&scheduled, other, Some(g2.clone())).await.unwrap());
    assert!(store.get_graph(&g1.0.processgraphid).await.unwrap().is_some());
    assert!(store.get_graph(&g2.0.processgraphid).await.unwrap().is_none());
    assert_eq!(store.get_cron(&c.cronid).await.unwrap(), Some(fired.clone()));

    assert!(store.remove_cron(&c.cronid).await.unwrap());
    assert!(!store.remove_cron(&c.cronid).await.unwrap());
    assert!(
        !store.fire_cron(&fired, fired.clone(), None).await.unwrap(),
        "a removed cron never fires"
    );
}

async fn generators(store: Arc<dyn Store>) {
    let colony = "conf-gen";
    let g = Generator {
        generatorid: petri_crypto::random_id(),
        colonyname: colony.into(),
        name: "gen".into(),
        trigger: 2,
        ..Generator::default()
    };
    store.add_generator(g.clone()).await.unwrap();
    assert!(matches!(
        store.add_generator(g.clone()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.generator_by_name(colony, "gen").await.unwrap(), Some(g.clone()));
    assert_eq!(store.list_generators(colony, 10).await.unwrap().len(), 1);
    assert!(
        store
            .generators_with_args(100)
            .await
            .unwrap()
            .iter()
            .all(|x| x.generatorid != g.generatorid)
    );
    assert!(matches!(
        store.pack_generator("missing", "x".into(), ts(1)).await,
        Err(StoreError::NotFound(_))
    ));
    for (i, arg) in ["a", "b", "c"].iter().enumerate() {
        store
            .pack_generator(&g.generatorid, (*arg).into(), ts(10 + i as i64))
            .await
            .unwrap();
    }
    let packed = store.get_generator(&g.generatorid).await.unwrap().unwrap();
    assert_eq!(packed.firstpack, ts(10), "the first pack is remembered");
    assert!(
        store
            .generators_with_args(100)
            .await
            .unwrap()
            .iter()
            .any(|x| x.generatorid == g.generatorid)
    );
    let (args, total) = store.generator_args(&g.generatorid, 2).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(args.iter().map(|a| a.arg.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);

    // Concurrent fires over the same arguments: exactly one submits.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (store, args) = (store.clone(), args.clone());
        let mut next = packed.clone();
        next.lastrun = ts(20);
        let colony = colony.to_owned();
        tasks.push(tokio::spawn(async move {
            store.fire_generator(next, &args, graph(&colony)).await.unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1, "one fire takes the arguments");
    let (rest, total) = store.generator_args(&g.generatorid, 10).await.unwrap();
    assert_eq!((rest.len(), total, rest[0].arg.as_str()), (1, 1, "c"));
    assert_eq!(
        store.get_generator(&g.generatorid).await.unwrap().unwrap().lastrun,
        ts(20)
    );
    assert_eq!(store.stats(colony).await.unwrap().waitingworkflows, 1);

    assert!(store.remove_generator(&g.generatorid).await.unwrap());
    assert_eq!(
        store.generator_args(&g.generatorid, 10).await.unwrap().1,
        0,
        "arguments go with it"
    );
    assert!(!store.remove_generator(&g.generatorid).await.unwrap());
}

fn entry(sender: &str, sequence: i64, payload: &str) -> MsgEntry {
    MsgEntry {
        sequence,
        senderid: sender.into(),
        payload: Payload(payload.as_bytes().to_vec()),
        kind: "data".into(),
        timestamp: Timestamp::now(),
        ..MsgEntry::default()
    }
}

async fn channels(store: &dyn Store) {
    let limits = ChannelLimits {
        max_entries: 6,
        max_bytes: 64,
    };
    let open = new_process(FunctionSpec::default(), &Initiator::default(), Timestamp::now());
    store.add_process(open.clone()).await.unwrap();
    let pid = open.processid.as_str();
    let texts = |v: &[super::StoredEntry]| {
        v.iter()
            .map(|e| String::from_utf8(e.entry.payload.0.clone()).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(store.channel_last_arrival(pid, "chat").await.unwrap(), 0);
    let a1 = store
        .append_channel(pid, "chat", entry("a", 1, "a1"), limits)
        .await
        .unwrap();
    let a3 = store
        .append_channel(pid, "chat", entry("a", 3, "a3"), limits)
        .await
        .unwrap();
    store
        .append_channel(pid, "chat", entry("b", 1, "b1"), limits)
        .await
        .unwrap();
    // Sequence 2 of sender a arrives late: it goes before a3, which moves to a's next slot.
    let a2 = store
        .append_channel(pid, "chat", entry("a", 2, "a2"), limits)
        .await
        .unwrap();
    assert!(a1 < a3 && a3 < a2);
    let all = store.read_channel(pid, "chat", 0, 0).await.unwrap();
    assert_eq!(texts(&all), vec!["a1", "a2", "b1", "a3"]);
    assert_eq!(
        texts(&store.read_channel(pid, "chat", 1, 2).await.unwrap()),
        vec!["a2", "b1"]
    );
    assert!(store.read_channel(pid, "chat", 9, 0).await.unwrap().is_empty());
    assert!(
        store.read_channel(pid, "other", 0, 0).await.unwrap().is_empty(),
        "channels are separate"
    );
    assert_eq!(
        texts(&store.channel_arrivals(pid, "chat", a3).await.unwrap()),
        vec!["b1", "a2"]
    );
    assert_eq!(store.channel_last_arrival(pid, "chat").await.unwrap(), a2);
    assert_eq!(all[0].entry.senderid, "a");
    assert_eq!(all[0].entry.kind, "data");

    // Limits: bytes, then entries.
    let big = "x".repeat(60);
    let refused = store.append_channel(pid, "chat", entry("a", 4, &big), limits).await;
    assert!(matches!(refused, Err(StoreError::Rule(_))), "{refused:?}");
    store
        .append_channel(pid, "chat", entry("a", 4, "a4"), limits)
        .await
        .unwrap();
    store
        .append_channel(pid, "chat", entry("a", 5, "a5"), limits)
        .await
        .unwrap();
    assert!(matches!(
        store.append_channel(pid, "chat", entry("a", 6, "a6"), limits).await,
        Err(StoreError::Rule(_))
    ));
    assert_eq!(store.read_channel(pid, "chat", 0, 0).await.unwrap().len(), 6);

    // The sweep keeps open processes' messages and drops those of closed or missing ones.
    store
        .append_channel("gone", "c", entry("a", 1, "x"), limits)
        .await
        .unwrap();
    let closed = new_process(FunctionSpec::default(), &Initiator::default(), Timestamp::now());
    store.add_process(closed.clone()).await.unwrap();
    store
        .append_channel(&closed.processid, "c", entry("a", 1, "x"), limits)
        .await
        .unwrap();
    store
        .edit(
            &closed.processid,
            Box::new(|ws| {
                let e = petri_api::model::Executor {
                    executorid: "e".into(),
                    ..Default::default()
                };
                ws.assign(&e, Timestamp::now());
                ws.close_failed("e", vec![], Timestamp::now())
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        store.sweep_channels(ts(1)).await.unwrap(),
        1,
        "only the missing process's message"
    );
    assert_eq!(store.sweep_channels(Timestamp::now().plus_secs(1)).await.unwrap(), 1);
    assert_eq!(store.read_channel(pid, "chat", 0, 0).await.unwrap().len(), 6);
    assert_eq!(
        store.get_process(&closed.processid).await.unwrap().map(|p| p.state),
        Some(state::FAILED)
    );
}

fn file(colony: &str, label: &str, name: &str) -> File {
    File {
        fileid: petri_crypto::random_id(),
        colonyname: colony.into(),
        label: label.into(),
        name: name.into(),
        size: 3,
        sequencenr: 1,
        ..File::default()
    }
}

async fn files_and_snapshots(store: &dyn Store) {
    let colony = "conf-files";
    let v1 = store.add_file(file(colony, "/data", "a.txt")).await.unwrap();
    let v2 = store.add_file(file(colony, "/data", "a.txt")).await.unwrap();
    let sub = store.add_file(file(colony, "/data/sub", "b.txt")).await.unwrap();
    let other = store.add_file(file(colony, "/database", "c.txt")).await.unwrap();
    assert!(v1.sequencenr < v2.sequencenr && v2.sequencenr < sub.sequencenr);
    assert_eq!(store.get_file(colony, &v1.fileid).await.unwrap(), Some(v1.clone()));
    assert_eq!(store.get_file("elsewhere", &v1.fileid).await.unwrap(), None);
    let versions = store.file_versions(colony, "/data", "a.txt").await.unwrap();
    assert_eq!(versions, vec![v2.clone(), v1.clone()]);
    let under: Vec<_> = store.files_under(colony, "/data/").await.unwrap();
    assert_eq!(under.len(), 3);
    assert!(!under.contains(&other));
    assert_eq!(
        store.file_labels(colony).await.unwrap(),
        vec![("/data".into(), 2), ("/data/sub".into(), 1), ("/database".into(), 1)]
    );
    assert!(matches!(store.add_file(v1.clone()).await, Err(StoreError::Conflict(_))));

    let snap = Snapshot {
        snapshotid: petri_crypto::random_id(),
        colonyname: colony.into(),
        label: "/data".into(),
        name: "s1".into(),
        fileids: Some(vec![v2.fileid.clone(), sub.fileid.clone()]),
        // Whole seconds: stored times keep microseconds at most.
        added: ts(1_700_000_000),
    };
    store.add_snapshot(snap.clone()).await.unwrap();
    let mut dup = snap.clone();
    dup.snapshotid = petri_crypto::random_id();
    assert!(matches!(store.add_snapshot(dup).await, Err(StoreError::Conflict(_))));
    assert_eq!(
        store.get_snapshot(colony, &snap.snapshotid).await.unwrap(),
        Some(snap.clone())
    );
    assert_eq!(store.snapshot_by_name(colony, "s1").await.unwrap(), Some(snap.clone()));
    assert_eq!(store.snapshot_by_name("elsewhere", "s1").await.unwrap(), None);
    let mut s2 = snap.clone();
    s2.snapshotid = petri_crypto::random_id();
    s2.name = "s2".into();
    s2.fileids = None;
    s2.added = snap.added.plus_secs(1);
    store.add_snapshot(s2.clone()).await.unwrap();
    assert_eq!(
        store.list_snapshots(colony).await.unwrap(),
        vec![s2.clone(), snap.clone()]
    );
    assert!(store.remove_snapshot(colony, &snap.snapshotid).await.unwrap());
    assert!(!store.remove_snapshot(colony, &snap.snapshotid).await.unwrap());
    assert_eq!(store.remove_snapshots(colony).await.unwrap(), 1);

    assert!(store.remove_file(colony, &v1.fileid).await.unwrap());
    assert!(!store.remove_file(colony, &v1.fileid).await.unwrap());
    assert_eq!(store.remove_file_versions(colony, "/data", "a.txt").await.unwrap(), 1);
    assert!(store.file_versions(colony, "/data", "a.txt").await.unwrap().is_empty());
}

fn definition(colony: &str, name: &str, kind: &str) -> BlueprintDefinition {
    serde_json::from_value(json!({
        "blueprintdefinitionid": petri_crypto::random_id(),
        "kind": "BlueprintDefinition",
        "metadata": {"name": name, "colonyname": colony},
        "spec": {"names": {"kind": kind}}
    }))
    .unwrap()
}

fn blueprint(colony: &str, name: &str, kind: &str, location: &str) -> Blueprint {
    serde_json::from_value(json!({
        "blueprintid": petri_crypto::random_id(),
        "kind": kind,
        "metadata": {"name": name, "colonyname": colony, "locationname": location, "generation": 1},
        "spec": {"power": true}
    }))
    .unwrap()
}

fn history(b: &Blueprint, change: &str) -> BlueprintHistory {
    BlueprintHistory {
        historyid: petri_crypto::random_id(),
        blueprintid: b.blueprintid.clone(),
        generation: b.metadata.generation,
        changetype: change.into(),
        ..BlueprintHistory::default()
    }
}

async fn blueprints(store: &dyn Store) {
    let colony = "conf-bp";
    let d = definition(colony, "lamps", "Lamp");
    store.add_blueprint_definition(d.clone()).await.unwrap();
    assert!(matches!(
        store.add_blueprint_definition(d.clone()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_blueprint_definition(colony, "lamps").await.unwrap(),
        Some(d.clone())
    );
    assert_eq!(store.list_blueprint_definitions(colony).await.unwrap(), vec![d.clone()]);

    let b1 = blueprint(colony, "kitchen", "Lamp", "home");
    let b2 = blueprint(colony, "garden", "Lamp", "");
    let b3 = blueprint(colony, "fan", "Fan", "home");
    for b in [&b1, &b2, &b3] {
        store.add_blueprint(b.clone(), history(b, "create")).await.unwrap();
    }
    let mut dup = blueprint(colony, "kitchen", "Lamp", "");
    dup.blueprintid = petri_crypto::random_id();
    assert!(matches!(
        store.add_blueprint(dup.clone(), history(&dup, "create")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_blueprint(colony, "kitchen").await.unwrap(), Some(b1.clone()));
    assert_eq!(store.blueprint_by_id(&b1.blueprintid).await.unwrap(), Some(b1.clone()));
    let names = |v: Vec<Blueprint>| v.into_iter().map(|b| b.metadata.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_blueprints(colony, None, None).await.unwrap()),
        vec!["fan", "garden", "kitchen"]
    );
    assert_eq!(
        names(store.list_blueprints(colony, Some("Lamp"), None).await.unwrap()),
        vec!["garden", "kitchen"]
    );
    assert_eq!(
        names(store.list_blueprints(colony, Some("Lamp"), Some("home")).await.unwrap()),
        vec!["kitchen"]
    );

    let mut changed = b1.clone();
    changed.spec.insert("power".into(), json!(false));
    changed.metadata.generation = 2;
    store
        .update_blueprint(changed.clone(), Some(history(&changed, "update")))
        .await
        .unwrap();
    let mut status_only = changed.clone();
    status_only.status = Some(json!({"on": false}).as_object().unwrap().clone());
    store.update_blueprint(status_only.clone(), None).await.unwrap();
    assert_eq!(store.get_blueprint(colony, "kitchen").await.unwrap(), Some(status_only));
    let h = store.blueprint_history(&b1.blueprintid, 0).await.unwrap();
    assert_eq!(
        h.iter().map(|h| h.generation).collect::<Vec<_>>(),
        vec![2, 1],
        "newest first"
    );
    assert_eq!(store.blueprint_history(&b1.blueprintid, 1).await.unwrap().len(), 1);
    let missing = blueprint(colony, "nowhere", "Lamp", "");
    assert!(matches!(
        store.update_blueprint(missing, None).await,
        Err(StoreError::NotFound(_))
    ));

    assert!(store.remove_blueprint(colony, "kitchen").await.unwrap());
    assert!(!store.remove_blueprint(colony, "kitchen").await.unwrap());
    assert!(store.blueprint_history(&b1.blueprintid, 0).await.unwrap().is_empty());
    assert!(store.remove_blueprint_definition(colony, "lamps").await.unwrap());
    assert!(!store.remove_blueprint_definition(colony, "lamps").await.unwrap());
}

async fn colony_removal(store: &dyn Store) {
    let colony = "conf-ext-cascade";
    store
        .add_colony(Colony {
            colonyid: "e".repeat(64),
            name: colony.into(),
        })
        .await
        .unwrap();
    let c = Cron {
        cronid: petri_crypto::random_id(),
        colonyname: colony.into(),
        interval: 1,
        ..Cron::default()
    };
    store.add_cron(c.clone()).await.unwrap();
    let g = Generator {
        generatorid: petri_crypto::random_id(),
        colonyname: colony.into(),
        trigger: 1,
        ..Generator::default()
    };
    store.add_generator(g.clone()).await.unwrap();
    store.pack_generator(&g.generatorid, "x".into(), ts(1)).await.unwrap();
    let f = store.add_file(file(colony, "/l", "f")).await.unwrap();
    store
        .add_snapshot(Snapshot {
            snapshotid: petri_crypto::random_id(),
            colonyname: colony.into(),
            name: "s".into(),
            ..Snapshot::default()
        })
        .await
        .unwrap();
    store
        .add_blueprint_definition(definition(colony, "d", "K"))
        .await
        .unwrap();
    let b = blueprint(colony, "b", "K", "");
    store.add_blueprint(b.clone(), history(&b, "create")).await.unwrap();

    assert!(store.remove_colony(colony).await.unwrap());
    assert_eq!(store.get_cron(&c.cronid).await.unwrap(), None);
    assert_eq!(store.get_generator(&g.generatorid).await.unwrap(), None);
    assert_eq!(store.generator_args(&g.generatorid, 10).await.unwrap().1, 0);
    assert_eq!(store.get_file(colony, &f.fileid).await.unwrap(), None);
    assert!(store.list_snapshots(colony).await.unwrap().is_empty());
    assert!(store.list_blueprint_definitions(colony).await.unwrap().is_empty());
    assert!(store.list_blueprints(colony, None, None).await.unwrap().is_empty());
    assert!(store.blueprint_history(&b.blueprintid, 0).await.unwrap().is_empty());
}
