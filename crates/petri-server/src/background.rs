//! Duties that run without a request: enforcing processes' time limits, forgetting expired
//! replay nonces and idle rate-limit buckets.

use std::time::Duration;

use petri_api::Timestamp;

use crate::AppState;

/// How often time limits are checked.
const PERIOD: Duration = Duration::from_secs(1);
/// Most processes handled per check.
const BATCH: usize = 1000;
/// Periods between two purges of expired replay nonces.
const PURGE_EVERY: u64 = 10;
/// Periods between two sweeps of idle rate-limit buckets.
const FORGET_EVERY: u64 = 30;

/// Forwards changes made by other servers sharing the store to this server's
/// long-polls and subscriptions.
pub(crate) async fn relay_cluster_events(state: AppState) {
    let mut rx = match state.store.listen().await {
        Ok(Some(rx)) => rx,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for other servers' changes");
            return;
        }
    };
    while let Some(event) = rx.recv().await {
        match event {
            petri_store::ClusterEvent::Ready {
                colony,
                executortype,
                all,
            } => state.events.wake(&colony, &executortype, all),
            petri_store::ClusterEvent::Resync => state.events.wake_everyone(),
            petri_store::ClusterEvent::Changed { processid, state: s } => state.events.process_changed(&processid, s),
        }
    }
}

/// Runs the duties until the task is aborted.
pub(crate) async fn run(state: AppState) {
    let mut ticker = tokio::time::interval(PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        ticker.tick().await;
        ticks += 1;
        // Every server forgets its own idle rate-limit buckets.
        if ticks.is_multiple_of(FORGET_EVERY)
            && let Some(limiter) = &state.limiter
        {
            limiter.forget_idle();
        }
        // With several servers on one database only the leader does the duties.
        match state.store.lead().await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell whether this server leads");
                continue;
            }
        }
        if let Err(e) = enforce_deadlines(&state).await {
            tracing::warn!(error = %e, "deadline check failed");
        }
        crate::ext::run_duties(&state).await;
        if ticks.is_multiple_of(PURGE_EVERY) {
            match state.store.purge_nonces(Timestamp::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(purged = n, "expired nonces forgotten"),
                Err(e) => tracing::warn!(error = %e, "purging expired nonces failed"),
            }
        }
    }
}

async fn enforce_deadlines(state: &AppState) -> Result<(), petri_store::StoreError> {
    let now = Timestamp::now();
    for id in state.store.expired(now, BATCH).await? {
        let ws = state
            .store
            .edit(
                &id,
                Box::new(move |ws| {
                    ws.enforce_deadlines(now);
                    Ok(())
                }),
            )
            .await;
        match ws {
            Ok(ws) => {
                if !ws.dirty.is_empty() {
                    let p = ws.process();
                    tracing::info!(process = %id, state = p.state, retries = p.retries, "time limit reached");
                }
                state.publish(&ws);
            }
            // Removed meanwhile: nothing to enforce.
            Err(petri_store::StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
