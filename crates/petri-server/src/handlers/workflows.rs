use petri_api::Timestamp;
use petri_api::model::state;
use petri_api::msg::{
    AddChild, GetProcessGraph, GetProcessGraphs, RemoveAllProcessGraphs, RemoveProcessGraph, SubmitWorkflowSpec,
};
use petri_core::{Initiator, build_workflow, graph_view};

use super::{check_count, empty, json};
use crate::AppState;
use crate::error::{RpcFailure, RpcResult};
use crate::handlers::processes::{find_process, removable_state};

/// Most function specs one workflow may hold.
const MAX_WORKFLOW_NODES: usize = 10_000;

pub(crate) async fn submit(state: &AppState, signer: &str, msg: SubmitWorkflowSpec) -> RpcResult<Vec<u8>> {
    let spec = msg.spec;
    let member = state.require_member(signer, &spec.colonyname).await?;
    if spec.functionspecs.len() > MAX_WORKFLOW_NODES {
        return Err(RpcFailure::bad_request(format!(
            "Failed to submit workflow, more than {MAX_WORKFLOW_NODES} function specs"
        )));
    }
    let initiator = Initiator {
        id: signer.to_owned(),
        name: member.name().to_owned(),
    };
    let (graph, processes) = build_workflow(spec, &initiator, Timestamp::now())?;
    let roots: Vec<_> = processes.iter().filter(|p| !p.waitforparents).cloned().collect();
    state.store.add_graph(graph.clone(), processes).await?;
    for p in &roots {
        state.events.wake_for(p);
    }
    tracing::debug!(graph = %graph.processgraphid, "workflow submitted");
    json(&graph)
}

async fn load_graph(
    state: &AppState,
    id: &str,
) -> RpcResult<(petri_api::model::ProcessGraph, Vec<petri_api::model::Process>)> {
    state
        .store
        .get_graph(id)
        .await?
        .ok_or_else(|| RpcFailure::not_found(format!("Failed to get processgraph, graph with id {id:?} not found")))
}

pub(crate) async fn get_graph(state: &AppState, signer: &str, msg: GetProcessGraph) -> RpcResult<Vec<u8>> {
    let (graph, processes) = load_graph(state, &msg.processgraphid).await?;
    state.require_member(signer, &graph.colonyname).await?;
    json(&graph_view(&graph, &processes))
}

pub(crate) async fn get_graphs(state: &AppState, signer: &str, msg: GetProcessGraphs) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    let count = check_count(msg.count, 100)?;
    if !(state::WAITING..=state::FAILED).contains(&msg.state) {
        return Err(RpcFailure::bad_request(
            "Failed to get processgraphs, invalid msg.State",
        ));
    }
    json(&state.store.list_graphs(&msg.colonyname, msg.state, count).await?)
}

pub(crate) async fn remove_graph(state: &AppState, signer: &str, msg: RemoveProcessGraph) -> RpcResult<Vec<u8>> {
    let (graph, _) = load_graph(state, &msg.processgraphid).await?;
    state.require_member(signer, &graph.colonyname).await?;
    if graph.state == state::RUNNING {
        return Err(RpcFailure::bad_request(
            "Failed to remove processgraph, the workflow is running",
        ));
    }
    state.store.remove_graph(&graph.processgraphid).await?;
    empty()
}

pub(crate) async fn remove_all_graphs(
    state: &AppState,
    signer: &str,
    msg: RemoveAllProcessGraphs,
) -> RpcResult<Vec<u8>> {
    state.require_colony_owner(signer, &msg.colonyname).await?;
    let filter = removable_state(msg.state)?;
    state.store.remove_graphs(&msg.colonyname, filter).await?;
    empty()
}

pub(crate) async fn add_child(state: &AppState, signer: &str, msg: AddChild) -> RpcResult<Vec<u8>> {
    let parent = find_process(state, &msg.parentprocessid).await?;
    state
        .require_executor(signer, &parent.spec.conditions.colonyname)
        .await?;
    if parent.processgraphid != msg.processgraphid {
        return Err(RpcFailure::bad_request(format!(
            "Failed to add child, process {} is not part of processgraph {}",
            msg.parentprocessid, msg.processgraphid
        )));
    }
    let caller = signer.to_owned();
    let child = msg.childprocessid.clone();
    let spec = msg.spec;
    let ws = state
        .store
        .edit(
            &msg.parentprocessid,
            Box::new(move |ws| {
                ws.add_child(&caller, &child, msg.insert, spec, Timestamp::now())
                    .map(drop)
            }),
        )
        .await?;
    state.publish(&ws);
    let new_id = ws.created.iter().next().cloned().unwrap_or_default();
    let created = ws
        .processes
        .get(&new_id)
        .ok_or_else(|| RpcFailure::new(500, "failed to add child, the new process was not stored"))?;
    json(created)
}
