//! In-memory wake-up signals: a process became ready to assign, or a process
//! changed state. They carry no state of their own; listeners re-read the store.

use tokio::sync::{Notify, broadcast, watch};

/// A process reached a state.
#[derive(Debug, Clone)]
pub struct ProcessEvent {
    /// The process.
    pub processid: String,
    /// Its new state.
    pub state: i32,
}

/// Signals shared by the request handlers of one server.
pub struct Events {
    /// Woken (all waiters) whenever some process may have become assignable.
    pub(crate) ready: Notify,
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
            ready: Notify::new(),
            changes: broadcast::channel(4096).0,
            shutdown: watch::channel(false).0,
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

    /// Wakes every long-polling executor so it re-checks the queue.
    pub fn wake_assigners(&self) {
        self.ready.notify_waiters();
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
