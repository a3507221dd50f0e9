use petri_api::msg::{AddColony, AddUser, GetColonies, GetColony, GetColonyStats, GetUsers, RemoveColony, RemoveUser};

use super::{check_id, check_name, empty, json};
use crate::AppState;
use crate::error::{RpcFailure, RpcResult};

pub(crate) async fn add_colony(state: &AppState, signer: &str, msg: AddColony) -> RpcResult<Vec<u8>> {
    state.require_server_owner(signer)?;
    let colony = msg.colony;
    check_id("colonyid", &colony.colonyid)?;
    check_name("Colony name", &colony.name)?;
    if state.store.get_colony(&colony.name).await?.is_some() {
        return Err(RpcFailure::bad_request(format!(
            "A Colony with name {} already exists",
            colony.name
        )));
    }
    state.store.add_colony(colony.clone()).await?;
    tracing::info!(colony = %colony.name, "colony added");
    json(&colony)
}

pub(crate) async fn remove_colony(state: &AppState, signer: &str, msg: RemoveColony) -> RpcResult<Vec<u8>> {
    state.require_server_owner(signer)?;
    if !state.store.remove_colony(&msg.colonyname).await? {
        return Err(RpcFailure::bad_request(format!(
            "Colony with name {} does not exists",
            msg.colonyname
        )));
    }
    tracing::info!(colony = %msg.colonyname, "colony removed");
    empty()
}

pub(crate) async fn get_colonies(state: &AppState, signer: &str, _msg: GetColonies) -> RpcResult<Vec<u8>> {
    state.require_server_owner(signer)?;
    json(&state.store.list_colonies().await?)
}

pub(crate) async fn get_colony(state: &AppState, signer: &str, msg: GetColony) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    let colony = state
        .store
        .get_colony(&msg.colonyname)
        .await?
        .ok_or_else(|| RpcFailure::not_found(format!("Colony with name {} does not exists", msg.colonyname)))?;
    json(&colony)
}

pub(crate) async fn get_colony_stats(state: &AppState, signer: &str, msg: GetColonyStats) -> RpcResult<Vec<u8>> {
    state.require_member(signer, &msg.colonyname).await?;
    json(&state.store.stats(&msg.colonyname).await?)
}

pub(crate) async fn add_user(state: &AppState, signer: &str, msg: AddUser) -> RpcResult<Vec<u8>> {
    let user = msg.user;
    state.require_colony_owner(signer, &user.colonyname).await?;
    check_id("userid", &user.userid)?;
    check_name("User name", &user.name)?;
    state.store.add_user(user.clone()).await.map_err(|_| {
        RpcFailure::bad_request(format!(
            "A user with name {} or id {} already exists in Colony {}",
            user.name, user.userid, user.colonyname
        ))
    })?;
    json(&user)
}

pub(crate) async fn get_users(state: &AppState, signer: &str, msg: GetUsers) -> RpcResult<Vec<u8>> {
    state.require_any_member(signer, &msg.colonyname).await?;
    json(&state.store.list_users(&msg.colonyname).await?)
}

pub(crate) async fn remove_user(state: &AppState, signer: &str, msg: RemoveUser) -> RpcResult<Vec<u8>> {
    state.require_colony_owner(signer, &msg.colonyname).await?;
    if !state.store.remove_user(&msg.colonyname, &msg.name).await? {
        return Err(RpcFailure::not_found(format!("User with name {} not found", msg.name)));
    }
    empty()
}
