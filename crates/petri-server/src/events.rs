//! In-memory wake-up signals: a process became ready to assign, or a process
//! changed state. They carry no state of their own; listeners re-read the store.
//!
//! Long-polling executors wait on the queue of their colony and executor type.
//! A newly ready process wakes *one* waiter of its queue (waking all of them
//! would make every executor race for one process), unless only some
//! executors may take it (named executors, resources, location), in which
//! case all waiters of the queue re-check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use petri_api::model::Process;
use tokio::sync::{Notify, broadcast, watch};

/// A process reached a state.
#[derive(Debug, Clone)]
pub struct ProcessEvent {
    /// The process.
    pub processid: String,
    /// Its new state.
    pub state: i32,
}

type QueueKey = (String, String);

/// Signals shared by the request handlers of one server.
pub struct Events {
    queues: Mutex<HashMap<QueueKey, Arc<Notify>>>,
    pub(crate) changes: broadcast::Sender<ProcessEvent>,
    shutdown: watch::Sender<bool>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    /// Fresh signals.
    pub fn new() -> Self {
        Self {
            queues: Mutex::new(HashMap::new()),
            changes: broadcast::channel(4096).0,
            shutdown: watch::channel(false).0,
        }
    }

    /// The wake-up signal of one queue, created on first use.
    pub(crate) fn queue(&self, colony: &str, executortype: &str) -> Arc<Notify> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues
            .entry((colony.to_owned(), executortype.to_owned()))
            .or_default()
            .clone()
    }

    /// Wakes the executors that may take a newly ready process of this queue:
    /// one of them, or all when `all`.
    pub fn wake(&self, colony: &str, executortype: &str, all: bool) {
        let queue = self.queue(colony, executortype);
        if all {
            queue.notify_waiters();
        } else {
            queue.notify_one();
        }
    }

    /// Wakes the executors that may take `p`.
    pub(crate) fn wake_for(&self, p: &Process) {
        self.wake(
            &p.spec.conditions.colonyname,
            &p.spec.conditions.executortype,
            petri_core::restricted(p),
        );
    }

    /// Wakes every waiting executor of every queue (when it is not known what became ready).
    pub fn wake_everyone(&self) {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        for q in queues.values() {
            q.notify_waiters();
        }
    }

    /// Tells long-polls and subscriptions to end: the server is stopping.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Resolves once the server has begun shutting down.
    pub async fn stopping(&self) {
        let mut rx = self.shutdown.subscribe();
        // An error means the sender is gone, which also means stopping.
        let _ = rx.wait_for(|stopping| *stopping).await;
    }

    /// Announces that `processid` reached `state`.
    pub fn process_changed(&self, processid: &str, state: i32) {
        // No receivers is normal: nobody is subscribed.
        let _ = self.changes.send(ProcessEvent {
            processid: processid.to_owned(),
            state,
        });
    }

    /// Subscribes to process state changes.
    pub fn subscribe(&self) -> broadcast::Receiver<ProcessEvent> {
        self.changes.subscribe()
    }
}
