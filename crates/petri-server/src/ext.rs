//! Server side of the extended surface that is not a request handler: the
//! leader's cron and generator duties, the channel sweep, and the wake-ups
//! for channel subscribers.
//!
//! Channel messages live in the store, not in memory: with several servers
//! on one database, an executor may append on one server while its submitter
//! subscribes on another. Each append wakes this server's subscribers
//! directly and the other servers' through the store's notifications;
//! subscribers then re-read the store, as every other listener does.

use petri_api::Timestamp;
use petri_api::model::{Cron, Generator, Process};
use petri_core::Initiator;
use petri_core::ext::{
    build_cron_workflow, build_generator_workflow, cron_due, generator_batch, leaf_outputs, next_run,
    parse_workflow_spec,
};
use petri_store::StoreError;
use petri_store::ext::ChannelEvent;
use tokio::sync::broadcast;

use crate::AppState;

/// How often (ms) crons and generators are checked; reported as `checkerperiod`.
pub(crate) const CHECKER_PERIOD_MS: i64 = 1000;
/// Most crons and generators handled per check.
const BATCH: usize = 500;
/// Most workflows one generator submits per check.
const MAX_GENERATOR_FIRES: usize = 20;
/// How long channel messages outlive their closed process before the sweep
/// deletes them, so subscribers can still deliver the last ones.
const CHANNEL_GRACE_SECS: i64 = 10;

/// Duty periods between two channel sweeps (the sweep scans every stored message).
const SWEEP_EVERY: u64 = 10;

/// In-memory wake-up signals for channel subscribers of one server.
pub(crate) struct ExtEvents {
    channels: broadcast::Sender<ChannelEvent>,
    ticks: std::sync::atomic::AtomicU64,
}

impl Default for ExtEvents {
    fn default() -> Self {
        Self {
            channels: broadcast::channel(4096).0,
            ticks: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl ExtEvents {
    /// Announces a message in a channel of a process.
    pub(crate) fn channel_appended(&self, processid: &str, name: &str) {
        // No receivers is normal: nobody is subscribed.
        let _ = self.channels.send((processid.to_owned(), name.to_owned()));
    }

    /// Subscribes to channel appends.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ChannelEvent> {
        self.channels.subscribe()
    }
}

/// Forwards other servers' channel appends to this server's subscribers.
pub(crate) async fn relay_channel_events(state: AppState) {
    let mut rx = match state.store.listen_channels().await {
        Ok(Some(rx)) => rx,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for other servers' channel messages");
            return;
        }
    };
    while let Some((processid, name)) = rx.recv().await {
        state.ext.channel_appended(&processid, &name);
    }
}

/// The leader's extended duties, once per period.
pub(crate) async fn run_duties(state: &AppState) {
    if let Err(e) = fire_crons(state).await {
        tracing::warn!(error = %e, "cron check failed");
    }
    if let Err(e) = fire_generators(state).await {
        tracing::warn!(error = %e, "generator check failed");
    }
    let tick = state.ext.ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if !tick.is_multiple_of(SWEEP_EVERY) {
        return;
    }
    match state
        .store
        .sweep_channels(Timestamp::now().plus_secs(-CHANNEL_GRACE_SECS))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::debug!(messages = n, "channel messages of closed processes deleted"),
        Err(e) => tracing::warn!(error = %e, "channel sweep failed"),
    }
}

fn entropy() -> u64 {
    u64::from_str_radix(&petri_crypto::random_id()[..16], 16).unwrap_or(0)
}

fn wake_roots(state: &AppState, processes: &[Process]) {
    for p in processes.iter().filter(|p| !p.waitforparents) {
        state.events.wake_for(p);
    }
}

/// Fires `cron` now if `due` says so: submits its workflow with the previous
/// run's leaf outputs as input, and moves its schedule on when `reschedule`.
/// Returns the cron as stored afterwards, or `None` when another server (or
/// a removal) got there first.
pub(crate) async fn fire_cron(state: &AppState, cron: &Cron, reschedule: bool) -> Result<Option<Cron>, StoreError> {
    let now = Timestamp::now();
    let previous = match cron.prevprocessgraphid.as_str() {
        "" => None,
        id => state.store.get_graph(id).await?,
    };
    let mut next = cron.clone();
    if reschedule {
        next.nextrun = next_run(cron, now, entropy())?;
    }
    let spec = parse_workflow_spec(&cron.workflowspec, &cron.colonyname);
    let input = previous.as_ref().map(|(_, ps)| leaf_outputs(ps)).unwrap_or_default();
    let initiator = Initiator {
        id: cron.initiatorid.clone(),
        name: cron.initiatorname.clone(),
    };
    let built = spec.and_then(|spec| build_cron_workflow(spec, &initiator, now, input));
    let graph = match built {
        Ok(g) => g,
        Err(e) => {
            // Checked when the cron was added; if it no longer builds, skip this run.
            tracing::warn!(cron = %cron.cronid, error = %e, "cron workflow does not build, run skipped");
            return Ok(state.store.fire_cron(cron, next.clone(), None).await?.then_some(next));
        }
    };
    next.lastrun = now;
    next.prevprocessgraphid = graph.0.processgraphid.clone();
    let roots = graph.1.clone();
    if !state.store.fire_cron(cron, next.clone(), Some(graph)).await? {
        return Ok(None);
    }
    wake_roots(state, &roots);
    tracing::info!(cron = %cron.cronid, name = %cron.name, graph = %next.prevprocessgraphid, "cron fired");
    Ok(Some(next))
}

/// The state of a cron's previous workflow, `None` when it has none (or it is gone).
pub(crate) async fn previous_state(state: &AppState, cron: &Cron) -> Result<Option<i32>, StoreError> {
    if cron.prevprocessgraphid.is_empty() {
        return Ok(None);
    }
    Ok(state
        .store
        .get_graph(&cron.prevprocessgraphid)
        .await?
        .map(|(g, _)| g.state))
}

async fn fire_crons(state: &AppState) -> Result<(), StoreError> {
    let now = Timestamp::now();
    for cron in state.store.crons_due(now, BATCH).await? {
        if cron.nextrun.is_unset() {
            // Never scheduled (added before a restart cut it short): schedule it.
            let mut next = cron.clone();
            next.nextrun = next_run(&cron, now, entropy())?;
            state.store.fire_cron(&cron, next, None).await?;
            continue;
        }
        let prev = previous_state(state, &cron).await?;
        if cron_due(&cron, now, prev) {
            fire_cron(state, &cron, true).await?;
        }
    }
    Ok(())
}

/// Submits one batch of a generator's packed arguments, if one is due.
/// Returns whether it submitted.
async fn fire_generator(state: &AppState, g: &Generator) -> Result<bool, StoreError> {
    let now = Timestamp::now();
    let (_, queued) = state.store.generator_args(&g.generatorid, 0).await?;
    let Some(n) = generator_batch(g, queued, now) else {
        return Ok(false);
    };
    let (args, _) = state.store.generator_args(&g.generatorid, n).await?;
    let initiator = Initiator {
        id: g.initiatorid.clone(),
        name: g.initiatorname.clone(),
    };
    let values = args.iter().map(|a| a.arg.clone()).collect();
    let built = parse_workflow_spec(&g.workflowspec, &g.colonyname)
        .and_then(|spec| build_generator_workflow(spec, &initiator, now, values));
    let graph = match built {
        Ok(graph) => graph,
        Err(e) => {
            tracing::warn!(generator = %g.generatorid, error = %e, "generator workflow does not build");
            return Ok(false);
        }
    };
    let roots = graph.1.clone();
    let mut next = g.clone();
    next.lastrun = now;
    let gid = graph.0.processgraphid.clone();
    if !state.store.fire_generator(next, &args, graph).await? {
        return Ok(false);
    }
    wake_roots(state, &roots);
    tracing::info!(generator = %g.generatorid, args = args.len(), graph = %gid, "generator fired");
    Ok(true)
}

async fn fire_generators(state: &AppState) -> Result<(), StoreError> {
    for g in state.store.generators_with_args(BATCH).await? {
        for _ in 0..MAX_GENERATOR_FIRES {
            // Re-read: the last fire changed its last-run time.
            let Some(current) = state.store.get_generator(&g.generatorid).await? else {
                break;
            };
            if !fire_generator(state, &current).await? {
                break;
            }
        }
    }
    Ok(())
}
