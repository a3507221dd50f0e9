use petri_api::Timestamp;
use petri_api::model::{Executor, Function, executor_state};
use petri_api::msg::{
    AddExecutor, AddFunction, ApproveExecutor, GetExecutor, GetExecutors, GetFunctions, RejectExecutor, RemoveExecutor,
    RemoveFunction,
};
use serde_json::json as j;

use super::{check_id, check_name, empty, json};
use crate::AppState;
use crate::error::{RpcFailure, RpcResult};

pub(crate) async fn add_executor(state: &AppState, signer: &str, msg: AddExecutor) -> RpcResult<Vec<u8>> {
    let mut e = msg.executor;
    state.require_colony_owner(signer, &e.colonyname).await?;
    check_id("executorid", &e.executorid)?;
    check_name("Executor name", &e.executorname)?;
    check_name("Executor type", &e.executortype)?;
    e.state = executor_state::PENDING;
    e.commissiontime = Timestamp::now();
    e.lastheardfromtime = Timestamp::UNSET;
    if e.capabilities.is_null() {
        e.capabilities = j!({"hardware": null, "software": null});
    }
    if e.allocations.is_null() {
        e.allocations = j!({"projects": null});
    }
    match state.store.get_executor(&e.colonyname, &e.executorname).await? {
        None => state.store.add_executor(e.clone()).await?,
        Some(_) if state.config.allow_executor_reregister => {
            // The new registration replaces the old one and must be approved again.
            state.store.update_executor(e.clone()).await?;
        }
        Some(_) => {
            return Err(RpcFailure::bad_request(format!(
                "Executor with name {} in Colony {} already exists",
                e.executorname, e.colonyname
            )));
        }
    }
    tracing::info!(colony = %e.colonyname, executor = %e.executorname, kind = %e.executortype, "executor added");
    json(&e)
}

pub(crate) async fn get_executors(state: &AppState, signer: &str, msg: GetExecutors) -> RpcResult<Vec<u8>> {
    state.require_any_member(signer, &msg.colonyname).await?;
    json(&state.store.list_executors(&msg.colonyname).await?)
}

async fn find_executor(state: &AppState, colony: &str, name: &str) -> RpcResult<Executor> {
    state.store.get_executor(colony, name).await?.ok_or_else(|| {
        RpcFailure::not_found(format!(
            "Failed to get executor, executor {name} not found in Colony {colony}"
        ))
    })
}

pub(crate) async fn get_executor(state: &AppState, signer: &str, msg: GetExecutor) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    json(&find_executor(state, &msg.colonyname, &msg.executorname).await?)
}

async fn set_state(state: &AppState, signer: &str, colony: &str, name: &str, new_state: i32) -> RpcResult<Executor> {
    state.require_colony_owner(signer, colony).await?;
    let mut e = find_executor(state, colony, name).await?;
    e.state = new_state;
    state.store.update_executor(e.clone()).await?;
    tracing::info!(colony = %colony, executor = %name, state = new_state, "executor state changed");
    Ok(e)
}

pub(crate) async fn approve_executor(state: &AppState, signer: &str, msg: ApproveExecutor) -> RpcResult<Vec<u8>> {
    set_state(
        state,
        signer,
        &msg.colonyname,
        &msg.executorname,
        executor_state::APPROVED,
    )
    .await?;
    empty()
}

pub(crate) async fn reject_executor(state: &AppState, signer: &str, msg: RejectExecutor) -> RpcResult<Vec<u8>> {
    let e = set_state(
        state,
        signer,
        &msg.colonyname,
        &msg.executorname,
        executor_state::REJECTED,
    )
    .await?;
    // A rejected executor may no longer close what it runs: give it to another.
    requeue_running(state, &e).await?;
    empty()
}

/// Puts what `e` was running in its colony back in the queue (an executor
/// id registered in several colonies keeps its work in the others).
async fn requeue_running(state: &AppState, e: &Executor) -> RpcResult<()> {
    let now = Timestamp::now();
    for id in state.store.running_on(&e.executorid).await? {
        let colony = e.colonyname.clone();
        let ws = state
            .store
            .edit(
                &id,
                Box::new(move |ws| {
                    if ws.process().spec.conditions.colonyname == colony {
                        ws.unassign(now, false);
                    }
                    Ok(())
                }),
            )
            .await?;
        state.publish(&ws);
    }
    Ok(())
}

pub(crate) async fn remove_executor(state: &AppState, signer: &str, msg: RemoveExecutor) -> RpcResult<Vec<u8>> {
    let e = set_state(
        state,
        signer,
        &msg.colonyname,
        &msg.executorname,
        executor_state::UNREGISTERED,
    )
    .await?;
    // Whatever it was running goes back to the queue for another executor.
    requeue_running(state, &e).await?;
    state.store.remove_functions_of(&e.colonyname, &e.executorname).await?;
    empty()
}

pub(crate) async fn add_function(state: &AppState, signer: &str, msg: AddFunction) -> RpcResult<Vec<u8>> {
    let mut f = msg.fun;
    state.require_member(signer, &f.colonyname).await?;
    check_name("Function name", &f.funcname)?;
    let e = state
        .store
        .get_executor(&f.colonyname, &f.executorname)
        .await?
        .ok_or_else(|| {
            RpcFailure::bad_request(format!(
                "Executor with name {} not found in Colony {}",
                f.executorname, f.colonyname
            ))
        })?;
    if e.executorid != signer {
        return Err(RpcFailure::forbidden(
            "Not allowed to add a function to another executor",
        ));
    }
    if f.functionid.is_empty() {
        f.functionid = petri_crypto::random_id();
    }
    if f.executortype.is_empty() {
        f.executortype = e.executortype;
    }
    let f = Function {
        counter: 0,
        minwaittime: 0.0,
        maxwaittime: 0.0,
        minexectime: 0.0,
        maxexectime: 0.0,
        avgwaittime: 0.0,
        avgexectime: 0.0,
        ..f
    };
    state.store.add_function(f.clone()).await?;
    json(&f)
}

pub(crate) async fn get_functions(state: &AppState, signer: &str, msg: GetFunctions) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    let name = (!msg.executorname.is_empty()).then_some(msg.executorname.as_str());
    json(&state.store.list_functions(&msg.colonyname, name).await?)
}

pub(crate) async fn remove_function(state: &AppState, signer: &str, msg: RemoveFunction) -> RpcResult<Vec<u8>> {
    let f = state
        .store
        .get_function(&msg.functionid)
        .await?
        .ok_or_else(|| RpcFailure::not_found(format!("Function with id {} not found", msg.functionid)))?;
    state.require_member(signer, &f.colonyname).await?;
    let owner = state.store.get_executor(&f.colonyname, &f.executorname).await?;
    if owner.is_some_and(|e| e.executorid != signer) {
        return Err(RpcFailure::forbidden(
            "Not allowed to remove a function of another executor",
        ));
    }
    state.store.remove_function(&msg.functionid).await?;
    empty()
}
