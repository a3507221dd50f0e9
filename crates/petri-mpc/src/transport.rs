//! How parties exchange messages.
//!
//! A [`Transport`] delivers byte messages between the three parties, in order per ordered pair.
//! A round's vectors travel as several messages (pieces of at most
//! [`MAX_MESSAGE_BYTES`](crate::MAX_MESSAGE_BYTES), 256 KiB), and a party waits
//! for a peer's piece only after sending its own pieces some way ahead. `send` must not wait for
//! the peer to receive (buffer instead): with buffered sends no party ever waits for a piece its
//! sender cannot yet send, so the protocols are deadlock-free. `recv` must give up after a
//! timeout rather than wait forever.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{MpcError, PARTIES, Result};

/// Message exchange between the three parties.
pub trait Transport: Send {
    /// Queues `msg` for party `to`.
    fn send(&mut self, to: usize, msg: Vec<u8>) -> Result<()>;
    /// The next message from party `from`, or an error after the transport's timeout.
    fn recv(&mut self, from: usize) -> Result<Vec<u8>>;
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn send(&mut self, to: usize, msg: Vec<u8>) -> Result<()> {
        (**self).send(to, msg)
    }
    fn recv(&mut self, from: usize) -> Result<Vec<u8>> {
        (**self).recv(from)
    }
}

/// One party's end of the in-process transport.
pub struct LocalTransport {
    me: usize,
    senders: Vec<Option<Sender<Vec<u8>>>>,
    receivers: Vec<Option<Receiver<Vec<u8>>>>,
    timeout: Duration,
}

impl std::fmt::Debug for LocalTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTransport")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

/// Three transports connected by channels, for running three parties on threads of one process.
pub fn local(timeout: Duration) -> Vec<LocalTransport> {
    let mut ends: Vec<LocalTransport> = (0..PARTIES)
        .map(|me| LocalTransport {
            me,
            senders: (0..PARTIES).map(|_| None).collect(),
            receivers: (0..PARTIES).map(|_| None).collect(),
            timeout,
        })
        .collect();
    for from in 0..PARTIES {
        for to in 0..PARTIES {
            if from != to {
                let (tx, rx) = channel();
                ends[from].senders[to] = Some(tx);
                ends[to].receivers[from] = Some(rx);
            }
        }
    }
    ends
}

impl Transport for LocalTransport {
    fn send(&mut self, to: usize, msg: Vec<u8>) -> Result<()> {
        let tx = self
            .senders
            .get(to)
            .and_then(Option::as_ref)
            .ok_or_else(|| MpcError::Invalid(format!("party {} cannot send to {to}", self.me)))?;
        tx.send(msg).map_err(|_| MpcError::Transport {
            peer: to,
            reason: "peer has gone away".into(),
        })
    }

    fn recv(&mut self, from: usize) -> Result<Vec<u8>> {
        let rx = self
            .receivers
            .get(from)
            .and_then(Option::as_ref)
            .ok_or_else(|| MpcError::Invalid(format!("party {} cannot receive from {from}", self.me)))?;
        rx.recv_timeout(self.timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => MpcError::Timeout {
                peer: from,
                secs: self.timeout.as_secs(),
            },
            RecvTimeoutError::Disconnected => MpcError::Transport {
                peer: from,
                reason: "peer has gone away".into(),
            },
        })
    }
}

/// Messages a [`Recording`] transport received: (sender, bytes).
pub type MessageLog = Arc<Mutex<Vec<(usize, Vec<u8>)>>>;

/// A transport that keeps a copy of every message it receives, to audit what a party saw.
pub struct Recording<T> {
    inner: T,
    log: MessageLog,
}

impl<T> Recording<T> {
    /// Wraps `inner`; `log` collects (sender, message) pairs.
    pub fn new(inner: T, log: MessageLog) -> Recording<T> {
        Recording { inner, log }
    }
}

impl<T: Transport> Transport for Recording<T> {
    fn send(&mut self, to: usize, msg: Vec<u8>) -> Result<()> {
        self.inner.send(to, msg)
    }

    fn recv(&mut self, from: usize) -> Result<Vec<u8>> {
        let msg = self.inner.recv(from)?;
        if let Ok(mut log) = self.log.lock() {
            log.push((from, msg.clone()));
        }
        Ok(msg)
    }
}
