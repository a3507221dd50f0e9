//! Generators: workflows submitted once enough arguments are packed, or
//! after a timeout (protocol reference, section 4.8).

use petri_api::Timestamp;
use petri_api::model::Generator;
use petri_api::msg::{AddGenerator, GetGenerator, GetGenerators, PackGenerator, RemoveGenerator, ResolveGenerator};
use petri_core::ext::{parse_workflow_spec, validate_generator};

use super::crons::MAX_SPEC_BYTES;
use super::{check_count, check_name, empty, json};
use crate::AppState;
use crate::error::{RpcFailure, RpcResult};
use crate::ext::CHECKER_PERIOD_MS;

/// Most generators one list returns.
const MAX_LIST: i64 = 1000;
/// Largest packed argument.
const MAX_ARG_BYTES: usize = 64 * 1024;

async fn find(state: &AppState, id: &str) -> RpcResult<Generator> {
    state
        .store
        .get_generator(id)
        .await?
        .ok_or_else(|| RpcFailure::not_found(format!("Generator with id {id:?} not found")))
}

async fn shown(state: &AppState, mut g: Generator) -> RpcResult<Generator> {
    g.checkerperiod = CHECKER_PERIOD_MS;
    g.queuesize = state.store.generator_args(&g.generatorid, 0).await?.1;
    Ok(g)
}

pub(crate) async fn add_generator(state: &AppState, signer: &str, msg: AddGenerator) -> RpcResult<Vec<u8>> {
    let mut g = msg.generator;
    let member = state.require_member(signer, &g.colonyname).await?;
    check_name("Generator name", &g.name)?;
    if g.workflowspec.len() > MAX_SPEC_BYTES {
        return Err(RpcFailure::bad_request(format!(
            "Failed to add generator, the workflow spec is larger than {MAX_SPEC_BYTES} bytes"
        )));
    }
    parse_workflow_spec(&g.workflowspec, &g.colonyname)?;
    validate_generator(&g)?;
    g.generatorid = petri_crypto::random_id();
    g.initiatorid = signer.to_owned();
    g.initiatorname = member.name().to_owned();
    g.firstpack = Timestamp::UNSET;
    g.lastrun = Timestamp::UNSET;
    g.queuesize = 0;
    g.checkerperiod = 0;
    state.store.add_generator(g.clone()).await?;
    tracing::info!(generator = %g.generatorid, name = %g.name, colony = %g.colonyname, "generator added");
    json(&shown(state, g).await?)
}

pub(crate) async fn get_generator(state: &AppState, signer: &str, msg: GetGenerator) -> RpcResult<Vec<u8>> {
    let g = find(state, &msg.generatorid).await?;
    state.require_member(signer, &g.colonyname).await?;
    json(&shown(state, g).await?)
}

pub(crate) async fn resolve_generator(state: &AppState, signer: &str, msg: ResolveGenerator) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    let g = state
        .store
        .generator_by_name(&msg.colonyname, &msg.generatorname)
        .await?
        .ok_or_else(|| {
            RpcFailure::not_found(format!(
                "Generator with name {:?} not found in Colony {}",
                msg.generatorname, msg.colonyname
            ))
        })?;
    json(&shown(state, g).await?)
}

pub(crate) async fn get_generators(state: &AppState, signer: &str, msg: GetGenerators) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    let count = check_count(msg.count, MAX_LIST)?;
    let mut out = Vec::new();
    for g in state.store.list_generators(&msg.colonyname, count).await? {
        out.push(shown(state, g).await?);
    }
    json(&out)
}

pub(crate) async fn remove_generator(state: &AppState, signer: &str, msg: RemoveGenerator) -> RpcResult<Vec<u8>> {
    let g = find(state, &msg.generatorid).await?;
    state.require_member(signer, &g.colonyname).await?;
    state.store.remove_generator(&g.generatorid).await?;
    tracing::info!(generator = %g.generatorid, "generator removed");
    empty()
}

pub(crate) async fn pack_generator(state: &AppState, signer: &str, msg: PackGenerator) -> RpcResult<Vec<u8>> {
    let g = find(state, &msg.generatorid).await?;
    state.require_member(signer, &g.colonyname).await?;
    if msg.arg.len() > MAX_ARG_BYTES {
        return Err(RpcFailure::bad_request(format!(
            "Failed to pack generator, the argument is larger than {MAX_ARG_BYTES} bytes"
        )));
    }
    state
        .store
        .pack_generator(&g.generatorid, msg.arg, Timestamp::now())
        .await?;
    empty()
}
