//! Crons: workflows submitted on a schedule (protocol reference, section 4.8).

use petri_api::Timestamp;
use petri_api::model::Cron;
use petri_api::msg::{AddCron, GetCron, GetCrons, RemoveCron, RunCron};
use petri_core::ext::{next_run, parse_workflow_spec, previous_finished, validate_cron};

use super::{check_count, check_name, empty, json};
use crate::AppState;
use crate::error::{RpcFailure, RpcResult};
use crate::ext::{CHECKER_PERIOD_MS, fire_cron, previous_state};

/// Most crons one list returns.
const MAX_LIST: i64 = 1000;
/// Largest workflow spec text a cron or generator may carry.
pub(crate) const MAX_SPEC_BYTES: usize = 1024 * 1024;

async fn find(state: &AppState, id: &str) -> RpcResult<Cron> {
    state
        .store
        .get_cron(id)
        .await?
        .ok_or_else(|| RpcFailure::not_found(format!("Cron with id {id:?} not found")))
}

fn shown(mut cron: Cron) -> Cron {
    cron.checkerperiod = CHECKER_PERIOD_MS;
    cron
}

pub(crate) async fn add_cron(state: &AppState, signer: &str, msg: AddCron) -> RpcResult<Vec<u8>> {
    let mut cron = msg.cron;
    let member = state.require_member(signer, &cron.colonyname).await?;
    check_name("Cron name", &cron.name)?;
    if cron.workflowspec.len() > MAX_SPEC_BYTES {
        return Err(RpcFailure::bad_request(format!(
            "Failed to add cron, the workflow spec is larger than {MAX_SPEC_BYTES} bytes"
        )));
    }
    parse_workflow_spec(&cron.workflowspec, &cron.colonyname)?;
    validate_cron(&cron)?;
    let now = Timestamp::now();
    cron.cronid = petri_crypto::random_id();
    cron.initiatorid = signer.to_owned();
    cron.initiatorname = member.name().to_owned();
    cron.lastrun = Timestamp::UNSET;
    cron.prevprocessgraphid = String::new();
    cron.checkerperiod = 0;
    cron.nextrun = next_run(&cron, now, 0)?;
    state.store.add_cron(cron.clone()).await?;
    tracing::info!(cron = %cron.cronid, name = %cron.name, colony = %cron.colonyname, "cron added");
    json(&shown(cron))
}

pub(crate) async fn get_cron(state: &AppState, signer: &str, msg: GetCron) -> RpcResult<Vec<u8>> {
    let cron = find(state, &msg.cronid).await?;
    state.require_member(signer, &cron.colonyname).await?;
    json(&shown(cron))
}

pub(crate) async fn get_crons(state: &AppState, signer: &str, msg: GetCrons) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    let count = check_count(msg.count, MAX_LIST)?;
    let crons: Vec<Cron> = state
        .store
        .list_crons(&msg.colonyname, count)
        .await?
        .into_iter()
        .map(shown)
        .collect();
    json(&crons)
}

pub(crate) async fn remove_cron(state: &AppState, signer: &str, msg: RemoveCron) -> RpcResult<Vec<u8>> {
    let cron = find(state, &msg.cronid).await?;
    state.require_member(signer, &cron.colonyname).await?;
    state.store.remove_cron(&cron.cronid).await?;
    tracing::info!(cron = %cron.cronid, "cron removed");
    empty()
}

pub(crate) async fn run_cron(state: &AppState, signer: &str, msg: RunCron) -> RpcResult<Vec<u8>> {
    // A schedule tick may change the cron between our read and our fire: try again then.
    for _ in 0..5 {
        let cron = find(state, &msg.cronid).await?;
        state.require_member(signer, &cron.colonyname).await?;
        if cron.waitforprevprocessgraph && !previous_finished(previous_state(state, &cron).await?) {
            // The previous run has not finished: nothing is started.
            return json(&shown(cron));
        }
        if let Some(fired) = fire_cron(state, &cron, false).await? {
            return json(&shown(fired));
        }
    }
    Err(RpcFailure::new(503, "Failed to run cron, it kept changing; try again"))
}
