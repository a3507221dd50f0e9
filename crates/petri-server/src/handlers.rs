//! One handler per message type. Each validates its input, checks the
//! signer's role, runs, and returns the reply JSON.

mod blueprints;
pub(crate) mod channels;
mod colonies;
mod crons;
mod executors;
mod files;
mod generators;
mod logs;
mod processes;
mod workflows;

use petri_api::msg::Message;
use petri_api::{ApiError, Envelope};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::{RpcFailure, RpcResult};

/// Decodes the envelope's payload as message `T`.
pub(crate) fn decode<T: DeserializeOwned + Message>(envelope: &Envelope) -> RpcResult<T> {
    envelope.decode().map_err(|e| match e {
        ApiError::MsgTypeMismatch => RpcFailure::bad_request(format!(
            "Failed to parse {}, msg.MsgType does not match payloadType",
            T::MSGTYPE
        )),
        other => RpcFailure::bad_request(format!("Failed to parse {}, {other}", T::MSGTYPE)),
    })
}

/// The JSON of a reply object.
pub(crate) fn json<T: Serialize>(value: &T) -> RpcResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| RpcFailure::new(500, format!("failed to encode reply: {e}")))
}

/// The empty reply.
pub(crate) fn empty() -> RpcResult<Vec<u8>> {
    Ok(b"{}".to_vec())
}

macro_rules! route {
    ($state:expr, $signer:expr, $env:expr, { $($msg:ty => $handler:path),* $(,)? }) => {
        match $env.payloadtype.as_str() {
            $(<$msg as Message>::MSGTYPE => $handler($state, $signer, decode::<$msg>($env)?).await,)*
            other => Err(RpcFailure::forbidden(format!("invalid rpcMsg.PayloadType: {other}"))),
        }
    };
}

/// Runs the message in `envelope`, signed by `signer`.
pub(crate) async fn dispatch(state: &AppState, signer: &str, envelope: &Envelope) -> RpcResult<Vec<u8>> {
    use petri_api::msg::*;
    route!(state, signer, envelope, {
        AddColony => colonies::add_colony,
        RemoveColony => colonies::remove_colony,
        GetColonies => colonies::get_colonies,
        GetColony => colonies::get_colony,
        GetColonyStats => colonies::get_colony_stats,
        AddUser => colonies::add_user,
        GetUsers => colonies::get_users,
        RemoveUser => colonies::remove_user,
        AddExecutor => executors::add_executor,
        GetExecutors => executors::get_executors,
        GetExecutor => executors::get_executor,
        ApproveExecutor => executors::approve_executor,
        RejectExecutor => executors::reject_executor,
        RemoveExecutor => executors::remove_executor,
        AddFunction => executors::add_function,
        GetFunctions => executors::get_functions,
        RemoveFunction => executors::remove_function,
        SubmitFunctionSpec => processes::submit,
        AssignProcess => processes::assign,
        CloseSuccessful => processes::close_successful,
        CloseFailed => processes::close_failed,
        SetOutput => processes::set_output,
        GetProcess => processes::get_process,
        GetProcesses => processes::get_processes,
        RemoveProcess => processes::remove_process,
        RemoveAllProcesses => processes::remove_all_processes,
        AddAttribute => processes::add_attribute,
        GetAttribute => processes::get_attribute,
        SubmitWorkflowSpec => workflows::submit,
        GetProcessGraph => workflows::get_graph,
        GetProcessGraphs => workflows::get_graphs,
        RemoveProcessGraph => workflows::remove_graph,
        RemoveAllProcessGraphs => workflows::remove_all_graphs,
        AddChild => workflows::add_child,
        AddLog => logs::add_log,
        GetLogs => logs::get_logs,
        AddCron => crons::add_cron,
        GetCron => crons::get_cron,
        GetCrons => crons::get_crons,
        RemoveCron => crons::remove_cron,
        RunCron => crons::run_cron,
        AddGenerator => generators::add_generator,
        GetGenerator => generators::get_generator,
        ResolveGenerator => generators::resolve_generator,
        GetGenerators => generators::get_generators,
        RemoveGenerator => generators::remove_generator,
        PackGenerator => generators::pack_generator,
        ChannelAppend => channels::append,
        ChannelRead => channels::read,
        AddFile => files::add_file,
        GetFile => files::get_file,
        GetFiles => files::get_files,
        GetFileLabels => files::get_file_labels,
        RemoveFile => files::remove_file,
        CreateSnapshot => files::create_snapshot,
        GetSnapshot => files::get_snapshot,
        GetSnapshots => files::get_snapshots,
        RemoveSnapshot => files::remove_snapshot,
        RemoveAllSnapshots => files::remove_all_snapshots,
        AddBlueprintDefinition => blueprints::add_definition,
        GetBlueprintDefinition => blueprints::get_definition,
        GetBlueprintDefinitions => blueprints::get_definitions,
        RemoveBlueprintDefinition => blueprints::remove_definition,
        AddBlueprint => blueprints::add_blueprint,
        GetBlueprint => blueprints::get_blueprint,
        GetBlueprints => blueprints::get_blueprints,
        UpdateBlueprint => blueprints::update_blueprint,
        RemoveBlueprint => blueprints::remove_blueprint,
        UpdateBlueprintStatus => blueprints::update_status,
        ReconcileBlueprint => blueprints::reconcile,
        GetBlueprintHistory => blueprints::get_history,
    })
}

/// Rejects a `count` above the protocol's limit.
pub(crate) fn check_count(count: i64, max: i64) -> RpcResult<usize> {
    if count > max {
        return Err(RpcFailure::bad_request(format!(
            "Count is larger than MaxCount limit <{max}>"
        )));
    }
    Ok(count.max(0) as usize)
}

/// Checks an id is 64 lowercase hex characters.
pub(crate) fn check_id(what: &str, id: &str) -> RpcResult<()> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(RpcFailure::bad_request(format!(
            "Invalid {what} {id:?}, expected 64 lowercase hex characters"
        )))
    }
}

/// Checks a name is usable: non-empty, at most 256 characters, no control characters.
pub(crate) fn check_name(what: &str, name: &str) -> RpcResult<()> {
    if name.is_empty() {
        return Err(RpcFailure::bad_request(format!("{what} is empty")));
    }
    if name.len() > 256 || name.chars().any(char::is_control) {
        return Err(RpcFailure::bad_request(format!("Invalid {what} {name:?}")));
    }
    Ok(())
}
