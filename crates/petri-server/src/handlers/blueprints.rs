//! Blueprints: declarative desired-state objects and the definitions of
//! their kinds (protocol reference, section 4.12). A definition with a
//! handler gets its blueprints reconciled: a reconcile process is submitted
//! when a blueprint is added or its spec changes (or on request), and a
//! cron (`reconcile-<kind>[-<location>]`, every 60 s) repeats it while
//! blueprints of that kind exist there.

use petri_api::Timestamp;
use petri_api::model::{Blueprint, BlueprintDefinition, BlueprintHistory, Cron, FunctionSpec, Process, WorkflowSpec};
use petri_api::msg::{
    AddBlueprint, AddBlueprintDefinition, GetBlueprint, GetBlueprintDefinition, GetBlueprintDefinitions,
    GetBlueprintHistory, GetBlueprints, ReconcileBlueprint, RemoveBlueprint, RemoveBlueprintDefinition,
    UpdateBlueprint, UpdateBlueprintStatus,
};
use petri_core::ext::{next_generation, next_run, validate_blueprint};
use petri_core::{Initiator, new_process, normalize_spec};
use serde_json::{Value, json};

use super::{check_name, empty, json};
use crate::AppState;
use crate::auth::Member;
use crate::error::{RpcFailure, RpcResult};

/// Seconds between the reconcile cron's runs.
const RECONCILE_INTERVAL: i64 = 60;
/// Largest blueprint or definition document.
const MAX_DOC_BYTES: usize = 1024 * 1024;

fn conflict(message: String) -> RpcFailure {
    RpcFailure::new(409, message)
}

fn check_size<T: serde::Serialize>(what: &str, value: &T) -> RpcResult<()> {
    let n = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX);
    if n > MAX_DOC_BYTES {
        return Err(RpcFailure::bad_request(format!(
            "The {what} is {n} bytes, more than the limit of {MAX_DOC_BYTES}"
        )));
    }
    Ok(())
}

/// A member of the colony or its owner; the initiator of what it submits.
async fn member_or_owner(state: &AppState, signer: &str, colony: &str) -> RpcResult<Initiator> {
    match state.require_member(signer, colony).await {
        Ok(m) => Ok(initiator(signer, &m)),
        Err(not_member) => match state.require_colony_owner(signer, colony).await {
            Ok(_) => Ok(Initiator {
                id: signer.to_owned(),
                name: String::new(),
            }),
            Err(f) if f.status == 403 => Err(not_member),
            Err(f) => Err(f),
        },
    }
}

fn initiator(signer: &str, m: &Member) -> Initiator {
    Initiator {
        id: signer.to_owned(),
        name: m.name().to_owned(),
    }
}

async fn definition_for(state: &AppState, colony: &str, kind: &str) -> RpcResult<BlueprintDefinition> {
    state
        .store
        .list_blueprint_definitions(colony)
        .await?
        .into_iter()
        .find(|d| d.declared_kind() == kind)
        .ok_or_else(|| {
            RpcFailure::bad_request(format!(
                "BlueprintDefinition for kind '{kind}' not found in namespace '{colony}'"
            ))
        })
}

async fn find(state: &AppState, colony: &str, name: &str) -> RpcResult<Blueprint> {
    state
        .store
        .get_blueprint(colony, name)
        .await?
        .ok_or_else(|| RpcFailure::not_found("Blueprint not found"))
}

fn history(b: &Blueprint, changedby: &str, change: &str) -> BlueprintHistory {
    BlueprintHistory {
        historyid: petri_crypto::random_id(),
        blueprintid: b.blueprintid.clone(),
        kind: b.kind.clone(),
        namespace: b.metadata.colonyname.clone(),
        name: b.metadata.name.clone(),
        generation: b.metadata.generation,
        spec: b.spec.clone(),
        status: b.status.clone(),
        timestamp: Timestamp::now(),
        changedby: changedby.to_owned(),
        changetype: change.to_owned(),
    }
}

fn reconcile_spec(colony: &str, executortype: &str, funcname: &str, location: &str, kwargs: Value) -> FunctionSpec {
    let mut spec = FunctionSpec {
        nodename: "reconcile".into(),
        funcname: funcname.into(),
        kwargs: kwargs.as_object().cloned().unwrap_or_default(),
        maxwaittime: -1,
        maxexectime: -1,
        maxretries: -1,
        ..FunctionSpec::default()
    };
    spec.conditions.colonyname = colony.into();
    spec.conditions.executortype = executortype.into();
    spec.conditions.locationname = location.into();
    spec
}

/// Submits a process that reconciles blueprint `b` on the definition's handler.
async fn submit_reconcile(
    state: &AppState,
    b: &Blueprint,
    def: &BlueprintDefinition,
    by: &Initiator,
) -> RpcResult<Option<Process>> {
    let Some((executortype, funcname)) = def.handler() else {
        return Ok(None);
    };
    let mut spec = reconcile_spec(
        &b.metadata.colonyname,
        executortype,
        funcname,
        &b.metadata.locationname,
        json!({"kind": b.kind, "blueprintName": b.metadata.name}),
    );
    normalize_spec(&mut spec)?;
    let p = new_process(spec, by, Timestamp::now());
    state.store.add_process(p.clone()).await?;
    state.events.wake_for(&p);
    tracing::info!(blueprint = %b.metadata.name, process = %p.processid, "reconcile process submitted");
    Ok(Some(p))
}

fn cron_name(b: &Blueprint) -> String {
    match b.metadata.locationname.as_str() {
        "" => format!("reconcile-{}", b.kind),
        loc => format!("reconcile-{}-{loc}", b.kind),
    }
}

async fn crons_named(state: &AppState, colony: &str, name: &str) -> RpcResult<Vec<Cron>> {
    Ok(state
        .store
        .list_crons(colony, 10_000)
        .await?
        .into_iter()
        .filter(|c| c.name == name)
        .collect())
}

/// Adds the periodic reconcile cron for `b`'s kind and location, unless it exists.
async fn ensure_reconcile_cron(
    state: &AppState,
    b: &Blueprint,
    def: &BlueprintDefinition,
    by: &Initiator,
) -> RpcResult<()> {
    let Some((executortype, funcname)) = def.handler() else {
        return Ok(());
    };
    let colony = &b.metadata.colonyname;
    let name = cron_name(b);
    if !crons_named(state, colony, &name).await?.is_empty() {
        return Ok(());
    }
    let spec = WorkflowSpec {
        colonyname: colony.clone(),
        functionspecs: vec![reconcile_spec(
            colony,
            executortype,
            funcname,
            &b.metadata.locationname,
            json!({"kind": b.kind}),
        )],
    };
    let mut cron = Cron {
        cronid: petri_crypto::random_id(),
        initiatorid: by.id.clone(),
        initiatorname: by.name.clone(),
        colonyname: colony.clone(),
        name,
        interval: RECONCILE_INTERVAL,
        workflowspec: serde_json::to_string(&spec)
            .map_err(|e| RpcFailure::new(500, format!("cannot encode the reconcile workflow: {e}")))?,
        waitforprevprocessgraph: true,
        ..Cron::default()
    };
    cron.nextrun = next_run(&cron, Timestamp::now(), 0)?;
    state.store.add_cron(cron).await?;
    Ok(())
}

pub(crate) async fn add_definition(state: &AppState, signer: &str, msg: AddBlueprintDefinition) -> RpcResult<Vec<u8>> {
    let mut d = msg.blueprintdefinition;
    state.require_colony_owner(signer, &d.metadata.colonyname).await?;
    check_name("Blueprint definition name", &d.metadata.name)?;
    if d.declared_kind().is_empty() {
        return Err(RpcFailure::bad_request(
            "Failed to add blueprint definition, spec.names.kind is required",
        ));
    }
    check_size("blueprint definition", &d)?;
    if d.blueprintdefinitionid.is_empty() {
        d.blueprintdefinitionid = petri_crypto::random_id();
    }
    let now = Timestamp::now();
    d.metadata.created_at = now;
    d.metadata.updated_at = now;
    if state
        .store
        .get_blueprint_definition(&d.metadata.colonyname, &d.metadata.name)
        .await?
        .is_some()
    {
        return Err(conflict(format!(
            "blueprint definition '{}' already exists in colony '{}'",
            d.metadata.name, d.metadata.colonyname
        )));
    }
    state.store.add_blueprint_definition(d.clone()).await?;
    json(&d)
}

pub(crate) async fn get_definition(state: &AppState, signer: &str, msg: GetBlueprintDefinition) -> RpcResult<Vec<u8>> {
    member_or_owner(state, signer, &msg.colonyname).await?;
    let d = state
        .store
        .get_blueprint_definition(&msg.colonyname, &msg.name)
        .await?
        .ok_or_else(|| RpcFailure::not_found("Blueprint definition not found"))?;
    json(&d)
}

pub(crate) async fn get_definitions(
    state: &AppState,
    signer: &str,
    msg: GetBlueprintDefinitions,
) -> RpcResult<Vec<u8>> {
    member_or_owner(state, signer, &msg.colonyname).await?;
    json(&state.store.list_blueprint_definitions(&msg.colonyname).await?)
}

pub(crate) async fn remove_definition(
    state: &AppState,
    signer: &str,
    msg: RemoveBlueprintDefinition,
) -> RpcResult<Vec<u8>> {
    state.require_colony_owner(signer, &msg.namespace).await?;
    let d = state
        .store
        .get_blueprint_definition(&msg.namespace, &msg.name)
        .await?
        .ok_or_else(|| {
            RpcFailure::not_found(format!(
                "BlueprintDefinition '{}' not found in namespace '{}'",
                msg.name, msg.namespace
            ))
        })?;
    let kind = d.declared_kind();
    let left = state.store.list_blueprints(&msg.namespace, Some(kind), None).await?;
    if !left.is_empty() {
        return Err(conflict(format!(
            "cannot remove BlueprintDefinition '{}': {} blueprint(s) of kind '{kind}' still exist",
            msg.name,
            left.len()
        )));
    }
    state
        .store
        .remove_blueprint_definition(&msg.namespace, &msg.name)
        .await?;
    empty()
}

fn check_blueprint(b: &Blueprint) -> RpcResult<()> {
    check_name("Blueprint name", &b.metadata.name)?;
    if b.kind.is_empty() {
        return Err(RpcFailure::bad_request("blueprint kind is required"));
    }
    check_size("blueprint", b)
}

pub(crate) async fn add_blueprint(state: &AppState, signer: &str, msg: AddBlueprint) -> RpcResult<Vec<u8>> {
    let mut b = msg.blueprint;
    let by = member_or_owner(state, signer, &b.metadata.colonyname).await?;
    check_blueprint(&b)?;
    let def = definition_for(state, &b.metadata.colonyname, &b.kind).await?;
    if let Some(schema) = def.schema() {
        validate_blueprint(&b, schema)?;
    }
    if state
        .store
        .get_blueprint(&b.metadata.colonyname, &b.metadata.name)
        .await?
        .is_some()
    {
        return Err(conflict(format!(
            "blueprint with name '{}' already exists in colony '{}'",
            b.metadata.name, b.metadata.colonyname
        )));
    }
    b.blueprintid = petri_crypto::random_id();
    b.metadata.generation = b.metadata.generation.max(1);
    let now = Timestamp::now();
    b.metadata.created_at = now;
    b.metadata.updated_at = now;
    let created = history(&b, signer, "create");
    state
        .store
        .add_blueprint(b.clone(), created)
        .await
        .map_err(|e| match e {
            petri_store::StoreError::Conflict(m) => conflict(m),
            other => other.into(),
        })?;
    ensure_reconcile_cron(state, &b, &def, &by).await?;
    submit_reconcile(state, &b, &def, &by).await?;
    json(&b)
}

pub(crate) async fn get_blueprint(state: &AppState, signer: &str, msg: GetBlueprint) -> RpcResult<Vec<u8>> {
    member_or_owner(state, signer, &msg.namespace).await?;
    json(&find(state, &msg.namespace, &msg.name).await?)
}

pub(crate) async fn get_blueprints(state: &AppState, signer: &str, msg: GetBlueprints) -> RpcResult<Vec<u8>> {
    member_or_owner(state, signer, &msg.namespace).await?;
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let (kind, location) = (some(&msg.kind), some(&msg.locationname));
    json(
        &state
            .store
            .list_blueprints(&msg.namespace, kind.as_deref(), location.as_deref())
            .await?,
    )
}

pub(crate) async fn update_blueprint(state: &AppState, signer: &str, msg: UpdateBlueprint) -> RpcResult<Vec<u8>> {
    let mut b = msg.blueprint;
    let by = member_or_owner(state, signer, &b.metadata.colonyname).await?;
    check_blueprint(&b)?;
    let old = state
        .store
        .get_blueprint(&b.metadata.colonyname, &b.metadata.name)
        .await?
        .ok_or_else(|| {
            RpcFailure::not_found(format!(
                "blueprint '{}' not found in namespace '{}'",
                b.metadata.name, b.metadata.colonyname
            ))
        })?;
    let def = definition_for(state, &b.metadata.colonyname, &b.kind).await?;
    if let Some(schema) = def.schema() {
        validate_blueprint(&b, schema)?;
    }
    let (generation, changed) = next_generation(&old, &b, msg.forcegeneration);
    b.blueprintid = old.blueprintid.clone();
    b.metadata.generation = generation;
    b.metadata.created_at = old.metadata.created_at;
    b.metadata.updated_at = Timestamp::now();
    let record = changed.then(|| history(&b, signer, "update"));
    state.store.update_blueprint(b.clone(), record).await?;
    if changed {
        submit_reconcile(state, &b, &def, &by).await?;
    }
    json(&b)
}

pub(crate) async fn remove_blueprint(state: &AppState, signer: &str, msg: RemoveBlueprint) -> RpcResult<Vec<u8>> {
    member_or_owner(state, signer, &msg.namespace).await?;
    let b = find(state, &msg.namespace, &msg.name).await?;
    state.store.remove_blueprint(&msg.namespace, &msg.name).await?;
    let left = state
        .store
        .list_blueprints(&msg.namespace, Some(&b.kind), Some(&b.metadata.locationname))
        .await?;
    if left.is_empty() {
        for c in crons_named(state, &msg.namespace, &cron_name(&b)).await? {
            state.store.remove_cron(&c.cronid).await?;
        }
    }
    empty()
}

pub(crate) async fn update_status(state: &AppState, signer: &str, msg: UpdateBlueprintStatus) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    let mut b = find(state, &msg.colonyname, &msg.blueprintname).await?;
    b.status = Some(msg.status);
    check_size("blueprint", &b)?;
    b.metadata.updated_at = Timestamp::now();
    state.store.update_blueprint(b, None).await?;
    empty()
}

pub(crate) async fn reconcile(state: &AppState, signer: &str, msg: ReconcileBlueprint) -> RpcResult<Vec<u8>> {
    let member = state.require_member(signer, &msg.namespace).await?;
    let mut b = find(state, &msg.namespace, &msg.name).await?;
    let def = definition_for(state, &msg.namespace, &b.kind).await?;
    if def.handler().is_none() {
        return Err(RpcFailure::bad_request(
            "Blueprint has no handler with executor type defined",
        ));
    }
    if msg.force {
        b.metadata.generation += 1;
        b.metadata.updated_at = Timestamp::now();
        let record = history(&b, signer, "update");
        state.store.update_blueprint(b.clone(), Some(record)).await?;
    }
    let p = submit_reconcile(state, &b, &def, &initiator(signer, &member))
        .await?
        .ok_or_else(|| RpcFailure::new(500, "no reconcile process was submitted"))?;
    json(&p)
}

pub(crate) async fn get_history(state: &AppState, signer: &str, msg: GetBlueprintHistory) -> RpcResult<Vec<u8>> {
    let b = state
        .store
        .blueprint_by_id(&msg.blueprintid)
        .await?
        .ok_or_else(|| RpcFailure::not_found("Blueprint not found"))?;
    member_or_owner(state, signer, &b.metadata.colonyname).await?;
    if msg.limit < 0 {
        return Err(RpcFailure::bad_request("limit must not be negative"));
    }
    let list: Vec<BlueprintHistory> = state
        .store
        .blueprint_history(&b.blueprintid, msg.limit as usize)
        .await?;
    json(&list)
}
