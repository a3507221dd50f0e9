use std::sync::Arc;
use std::time::Duration;

use petri_api::Timestamp;
use petri_api::model::{Executor, Process, executor_state, state};
use petri_api::msg::{
    AddAttribute, AssignProcess, CloseFailed, CloseSuccessful, GetAttribute, GetProcess, GetProcesses,
    RemoveAllProcesses, RemoveProcess, SetOutput, SubmitFunctionSpec,
};
use petri_core::{
    CoreError, Initiator, Limits, Workspace, new_process, normalize_spec, parse_cpu_millis, parse_mem_mib,
};
use petri_store::ProcessQuery;
use tokio::time::Instant;

use super::{check_count, empty, json};
use crate::AppState;
use crate::error::{RpcFailure, RpcResult};

/// Largest output or error list accepted on close, in bytes of JSON.
const MAX_OUTPUT_BYTES: usize = 8 * 1024 * 1024;

impl AppState {
    /// Tells listeners what an operation changed: subscribers get the new
    /// states, long-polling executors wake if something became ready.
    pub(crate) fn publish(&self, ws: &Workspace) {
        for id in &ws.dirty {
            if let Some(p) = ws.processes.get(id) {
                self.events.process_changed(id, p.state);
            }
        }
        for id in &ws.ready {
            if let Some(p) = ws.processes.get(id) {
                self.events.wake_for(p);
            }
        }
    }
}

pub(crate) async fn find_process(state: &AppState, id: &str) -> RpcResult<Process> {
    state
        .store
        .get_process(id)
        .await?
        .ok_or_else(|| RpcFailure::not_found(format!("Failed to get process, process with id {id:?} not found")))
}

pub(crate) async fn submit(state: &AppState, signer: &str, msg: SubmitFunctionSpec) -> RpcResult<Vec<u8>> {
    let mut spec = msg.spec;
    let member = state.require_member(signer, &spec.conditions.colonyname).await?;
    normalize_spec(&mut spec)?;
    let initiator = Initiator {
        id: signer.to_owned(),
        name: member.name().to_owned(),
    };
    let process = new_process(spec, &initiator, Timestamp::now());
    state.store.add_process(process.clone()).await?;
    state.events.wake_for(&process);
    tracing::debug!(process = %process.processid, func = %process.spec.funcname, "process submitted");
    json(&process)
}

fn limits(msg: &AssignProcess) -> RpcResult<Limits> {
    let cpu = if msg.availablecpu.is_empty() {
        None
    } else {
        Some(parse_cpu_millis(&msg.availablecpu).ok_or_else(|| {
            RpcFailure::bad_request(format!("Invalid availablecpu {:?}, expected <int>m", msg.availablecpu))
        })?)
    };
    let mem = if msg.availablemem.is_empty() {
        None
    } else {
        Some(parse_mem_mib(&msg.availablemem).ok_or_else(|| {
            RpcFailure::bad_request(format!(
                "Invalid availablemem {:?}, expected <int><unit>",
                msg.availablemem
            ))
        })?)
    };
    Ok(Limits {
        cpu_millis: cpu,
        mem_mib: mem,
    })
}

pub(crate) async fn assign(state: &AppState, signer: &str, msg: AssignProcess) -> RpcResult<Vec<u8>> {
    if msg.timeout == 0 {
        return Err(RpcFailure::bad_request("Invalid timeout value, timeout cannot be zero"));
    }
    let executor = state.require_executor(signer, &msg.colonyname).await?;
    let limits = limits(&msg)?;
    state.touch(&executor).await?;
    let wait = Duration::from_secs(msg.timeout.max(0) as u64).min(state.config.max_assign_timeout);
    let deadline = Instant::now() + wait;
    let queue = state.events.queue(&executor.colonyname, &executor.executortype);
    loop {
        // Register for wake-ups before looking, so a process submitted between
        // the look and the wait is not missed.
        let notified = queue.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(ws) = state.store.assign(&executor, limits, Timestamp::now()).await? {
            state.publish(&ws);
            let p = ws.process();
            tracing::debug!(process = %p.processid, executor = %executor.executorname, "process assigned");
            return json(p);
        }
        if msg.timeout < 0 || Instant::now() >= deadline {
            return Err(RpcFailure::not_found("No process available for assignment"));
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = state.events.stopping() => {
                return Err(RpcFailure::new(503, "Server is shutting down, try again"));
            }
        }
    }
}

fn check_size<T: serde::Serialize>(what: &str, value: &T) -> RpcResult<()> {
    let n = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX);
    if n > MAX_OUTPUT_BYTES {
        return Err(RpcFailure::bad_request(format!(
            "{what} is {n} bytes, more than the limit of {MAX_OUTPUT_BYTES}"
        )));
    }
    Ok(())
}

/// What the membership check inside an edit saw.
#[derive(Default)]
struct Seen {
    /// The colony of a process the signer may not execute in.
    refused: Option<String>,
    /// The process's state before the edit.
    before: i32,
}

/// Runs `change` on process `id` for the executor `signer`. The colony
/// membership check runs inside the edit, on the process as the edit reads it,
/// so the process is read once: an unknown process is refused as not found
/// first, then a signer that is not an approved executor of its colony.
/// Returns the edited workspace, the signer's executor record and the state
/// the process had before.
async fn edit_as_executor(
    state: &AppState,
    signer: &str,
    id: &str,
    change: impl FnOnce(&mut Workspace) -> Result<(), CoreError> + Send + 'static,
) -> RpcResult<(Workspace, Executor, i32)> {
    let approved: Vec<Executor> = state
        .store
        .executors_by_id(signer)
        .await?
        .into_iter()
        .filter(|e| e.state == executor_state::APPROVED)
        .collect();
    let colonies: Vec<String> = approved.iter().map(|e| e.colonyname.clone()).collect();
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let probe = seen.clone();
    let edited = state
        .store
        .edit(
            id,
            Box::new(move |ws| {
                let p = ws.process();
                let mut probe = probe.lock().unwrap_or_else(|e| e.into_inner());
                probe.before = p.state;
                if !colonies.contains(&p.spec.conditions.colonyname) {
                    probe.refused = Some(p.spec.conditions.colonyname.clone());
                    return Err(CoreError::forbidden("Access denied"));
                }
                drop(probe);
                change(ws)
            }),
        )
        .await;
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
    let ws = match (edited, seen.refused) {
        (Ok(ws), _) => ws,
        (Err(_), Some(colony)) => {
            // Say exactly why (a user, or no member at all), as the other calls do.
            state.require_executor(signer, &colony).await?;
            return Err(RpcFailure::forbidden(format!(
                "Access denied, not an approved executor of Colony with name {colony}"
            )));
        }
        (Err(e), None) => return Err(e.into()),
    };
    let colony = &ws.process().spec.conditions.colonyname;
    let executor = approved
        .into_iter()
        .find(|e| &e.colonyname == colony)
        .ok_or_else(|| RpcFailure::new(500, "edited a process outside the signer's colonies"))?;
    Ok((ws, executor, seen.before))
}

pub(crate) async fn close_successful(state: &AppState, signer: &str, msg: CloseSuccessful) -> RpcResult<Vec<u8>> {
    check_size("Output", &msg.out)?;
    let caller = signer.to_owned();
    let (ws, executor, before) = edit_as_executor(state, signer, &msg.processid, move |ws| {
        ws.close_successful(&caller, msg.out, Timestamp::now())
    })
    .await?;
    state.publish(&ws);
    if before == state::SUCCESS {
        // Closing an already successful process again is allowed but is not another call.
        return empty();
    }
    let p = ws.process();
    let wait = p.starttime.secs_since(p.submissiontime);
    let exec = p.endtime.secs_since(p.starttime);
    state
        .store
        .record_call(
            &p.spec.conditions.colonyname,
            &executor.executorname,
            &p.spec.funcname,
            wait,
            exec,
        )
        .await?;
    empty()
}

pub(crate) async fn close_failed(state: &AppState, signer: &str, msg: CloseFailed) -> RpcResult<Vec<u8>> {
    check_size("Errors", &msg.errors)?;
    let caller = signer.to_owned();
    let (ws, _, _) = edit_as_executor(state, signer, &msg.processid, move |ws| {
        ws.close_failed(&caller, msg.errors, Timestamp::now())
    })
    .await?;
    state.publish(&ws);
    empty()
}

pub(crate) async fn set_output(state: &AppState, signer: &str, msg: SetOutput) -> RpcResult<Vec<u8>> {
    check_size("Output", &msg.out)?;
    let caller = signer.to_owned();
    let (ws, _, _) = edit_as_executor(state, signer, &msg.processid, move |ws| ws.set_output(&caller, msg.out)).await?;
    state.publish(&ws);
    empty()
}

pub(crate) async fn get_process(state: &AppState, signer: &str, msg: GetProcess) -> RpcResult<Vec<u8>> {
    let p = find_process(state, &msg.processid).await?;
    state.require_member(signer, &p.spec.conditions.colonyname).await?;
    json(&p)
}

pub(crate) async fn get_processes(state: &AppState, signer: &str, msg: GetProcesses) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    let count = check_count(msg.count, 100)?;
    if !(state::WAITING..=state::FAILED).contains(&msg.state) {
        return Err(RpcFailure::bad_request("Failed to get processes, invalid msg.State"));
    }
    let some = |s: String| (!s.is_empty()).then_some(s);
    let query = ProcessQuery {
        colony: msg.colonyname,
        state: msg.state,
        executortype: some(msg.executortype),
        initiator: some(msg.initiator),
        label: some(msg.label),
        count,
    };
    json(&state.store.list_processes(&query).await?)
}

pub(crate) async fn remove_process(state: &AppState, signer: &str, msg: RemoveProcess) -> RpcResult<Vec<u8>> {
    let p = find_process(state, &msg.processid).await?;
    state.require_member(signer, &p.spec.conditions.colonyname).await?;
    if !p.processgraphid.is_empty() {
        return Err(RpcFailure::bad_request(
            "Failed to remove, cannot remove a process part of a workflow, delete the entire workflow instead",
        ));
    }
    if p.state == state::RUNNING {
        return Err(RpcFailure::bad_request(
            "Failed to remove process, the process is running",
        ));
    }
    state.store.remove_process(&p.processid).await?;
    empty()
}

/// The state filter of a remove-all request: −1 means all; running processes cannot be removed.
pub(crate) fn removable_state(s: i32) -> RpcResult<Option<i32>> {
    match s {
        -1 => Ok(None),
        state::WAITING | state::SUCCESS | state::FAILED => Ok(Some(s)),
        state::RUNNING => Err(RpcFailure::bad_request("Cannot remove running processes")),
        _ => Err(RpcFailure::bad_request(format!(
            "Invalid state {s}, expected -1, 0, 2 or 3"
        ))),
    }
}

pub(crate) async fn remove_all_processes(
    state: &AppState,
    signer: &str,
    msg: RemoveAllProcesses,
) -> RpcResult<Vec<u8>> {
    state.require_colony_owner(signer, &msg.colonyname).await?;
    let filter = removable_state(msg.state)?;
    let n = state.store.remove_processes(&msg.colonyname, filter).await?;
    tracing::info!(colony = %msg.colonyname, removed = n, "processes removed");
    empty()
}

pub(crate) async fn add_attribute(state: &AppState, signer: &str, msg: AddAttribute) -> RpcResult<Vec<u8>> {
    let attr = msg.attribute;
    let p = find_process(state, &attr.targetid).await?;
    state.require_executor(signer, &p.spec.conditions.colonyname).await?;
    let caller = signer.to_owned();
    let (key, kind) = (attr.key.clone(), attr.attributetype);
    let ws = state
        .store
        .edit(
            &p.processid,
            Box::new(move |ws| ws.add_attribute(&caller, attr).map(drop)),
        )
        .await?;
    let added = ws
        .process()
        .attributes
        .iter()
        .find(|a| a.key == key && a.attributetype == kind);
    json(&added)
}

pub(crate) async fn get_attribute(state: &AppState, signer: &str, msg: GetAttribute) -> RpcResult<Vec<u8>> {
    let attr = state.store.get_attribute(&msg.attributeid).await?.ok_or_else(|| {
        RpcFailure::not_found(format!(
            "Failed to get attribute, attribute {} not found",
            msg.attributeid
        ))
    })?;
    let p = find_process(state, &attr.targetid).await?;
    state.require_member(signer, &p.spec.conditions.colonyname).await?;
    json(&attr)
}
