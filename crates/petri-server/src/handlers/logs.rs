use petri_api::Timestamp;
use petri_api::model::{Log, state};
use petri_api::msg::{AddLog, GetLogs};
use petri_store::LogQuery;

use super::{empty, json};
use crate::AppState;
use crate::error::{RpcFailure, RpcResult};
use crate::handlers::processes::find_process;

/// Longest log line accepted, in bytes.
const MAX_LOG_BYTES: usize = 64 * 1024;

pub(crate) async fn add_log(state: &AppState, signer: &str, msg: AddLog) -> RpcResult<Vec<u8>> {
    let p = find_process(state, &msg.processid).await?;
    let e = state.require_executor(signer, &p.spec.conditions.colonyname).await?;
    if p.state != state::RUNNING {
        return Err(RpcFailure::forbidden("Failed to add log, process is not running"));
    }
    if p.assignedexecutorid != signer {
        return Err(RpcFailure::forbidden(
            "Failed to add log, the process is not assigned to the signer",
        ));
    }
    if msg.message.len() > MAX_LOG_BYTES {
        return Err(RpcFailure::bad_request(format!(
            "Failed to add log, message longer than {MAX_LOG_BYTES} bytes"
        )));
    }
    state
        .store
        .add_log(Log {
            processid: p.processid,
            colonyname: p.spec.conditions.colonyname,
            executorname: e.executorname,
            message: msg.message,
            timestamp: Timestamp::now().nanos().unwrap_or(0),
        })
        .await?;
    empty()
}

pub(crate) async fn get_logs(state: &AppState, signer: &str, msg: GetLogs) -> RpcResult<Vec<u8>> {
    if msg.count > 500 {
        return Err(RpcFailure::bad_request("Count is larger than MaxCount limit <500>"));
    }
    let mut query = LogQuery {
        colony: msg.colonyname.clone(),
        since: msg.since,
        latest: msg.latest,
        count: msg.count.max(0) as usize,
        ..LogQuery::default()
    };
    if !msg.executorname.is_empty() {
        if state
            .store
            .get_executor(&msg.colonyname, &msg.executorname)
            .await?
            .is_none()
        {
            return Err(RpcFailure::not_found(format!(
                "Executor with name {} not found",
                msg.executorname
            )));
        }
        state.require_member(signer, &msg.colonyname).await?;
        query.executorname = Some(msg.executorname);
    } else {
        let p = find_process(state, &msg.processid).await?;
        state.require_member(signer, &p.spec.conditions.colonyname).await?;
        query.processid = Some(p.processid);
    }
    json(&state.store.get_logs(&query).await?)
}
