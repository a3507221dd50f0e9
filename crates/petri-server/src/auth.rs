//! Role checks. The messages are the ones Colonies clients expect (pycolonies's
//! tests look for "Access denied").

use petri_api::model::{Colony, Executor, User, executor_state};

use crate::AppState;
use crate::error::{RpcFailure, RpcResult};

/// A colony member: an approved executor or a user.
pub(crate) enum Member {
    Executor(Executor),
    User(User),
}

impl Member {
    /// The member's executor or user name (the initiator name of what it submits).
    pub(crate) fn name(&self) -> &str {
        match self {
            Member::Executor(e) => &e.executorname,
            Member::User(u) => &u.name,
        }
    }
}

fn not_member(colony: &str) -> RpcFailure {
    RpcFailure::forbidden(format!("Access denied, not a member of Colony with name {colony}"))
}

impl AppState {
    pub(crate) fn require_server_owner(&self, signer: &str) -> RpcResult<()> {
        if signer == self.config.server_id {
            Ok(())
        } else {
            Err(RpcFailure::forbidden("Access denied, not server owner"))
        }
    }

    pub(crate) async fn require_colony_owner(&self, signer: &str, colony: &str) -> RpcResult<Colony> {
        if colony.is_empty() {
            return Err(RpcFailure::bad_request("Empty Colony name"));
        }
        let found = self
            .store
            .get_colony(colony)
            .await?
            .ok_or_else(|| RpcFailure::bad_request(format!("Colony with name {colony} does not exists")))?;
        if found.colonyid != signer {
            return Err(RpcFailure::forbidden("Access denied, not colony owner"));
        }
        Ok(found)
    }

    /// An approved executor or a user of `colony`.
    pub(crate) async fn require_member(&self, signer: &str, colony: &str) -> RpcResult<Member> {
        let found = self.store.membership(colony, signer).await?;
        match (found.executor, found.user) {
            (Some(e), _) if e.state == executor_state::APPROVED => Ok(Member::Executor(e)),
            (_, Some(u)) => Ok(Member::User(u)),
            _ => Err(not_member(colony)),
        }
    }

    /// A member in any state (pending, rejected and removed executors pass).
    pub(crate) async fn require_any_member(&self, signer: &str, colony: &str) -> RpcResult<()> {
        let found = self.store.membership(colony, signer).await?;
        if found.executor.is_some() || found.user.is_some() {
            Ok(())
        } else {
            Err(not_member(colony))
        }
    }

    /// An approved executor of `colony` (users may not execute).
    pub(crate) async fn require_executor(&self, signer: &str, colony: &str) -> RpcResult<Executor> {
        match self.require_member(signer, colony).await? {
            Member::Executor(e) => Ok(e),
            Member::User(_) => Err(RpcFailure::forbidden(
                "Access denied, only executors may do this, and the signer is a user",
            )),
        }
    }
}
