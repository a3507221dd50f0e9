//! The wire between the two parties: mutual TLS under a petri root, and length-prefixed frames.
//!
//! A frame is `u32 length (big-endian) ‖ u8 tag ‖ payload`, at most [`MAX_FRAME`] bytes, so a
//! peer cannot make us allocate more. Large sets travel as many frames (chunks). Every read has a
//! time limit: a silent peer is an error naming the limit. Writes go through a task of their own,
//! so both parties can stream at once without filling each other's socket buffers; it flushes
//! whenever its queue runs empty, so no frame waits in the TLS layer for a next one.
//!
//! Both sides check the other's certificate: the chain up to the petri root, the organisation's
//! name constraints and CRLs (rustls and `petri-pki`), and the *name*. The dialling side asks
//! for the configured peer name (rustls refuses a server certificate without it); the listening
//! side accepts only a client certificate whose subject alternative names include it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use petri_pki::tls::TlsMaterial;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::PsiError;

/// The largest frame accepted or sent (tag and payload).
pub const MAX_FRAME: usize = 16 << 20;

/// The ALPN protocol name of a PSI connection.
pub const ALPN: &[u8] = b"petri-psi/1";

/// Queues frames for the channel's writer task.
#[derive(Debug, Clone)]
pub struct FrameSender(mpsc::UnboundedSender<Vec<u8>>);

impl FrameSender {
    /// Queues a frame. Fails if the connection is gone or the frame is over [`MAX_FRAME`].
    pub fn send(&self, tag: u8, payload: &[u8]) -> Result<(), PsiError> {
        if payload.len() + 1 > MAX_FRAME {
            return Err(PsiError::Protocol(format!(
                "a frame of {} bytes is over the {MAX_FRAME}-byte limit",
                payload.len() + 1
            )));
        }
        let mut frame = Vec::with_capacity(5 + payload.len());
        frame.extend_from_slice(&((payload.len() + 1) as u32).to_be_bytes());
        frame.push(tag);
        frame.extend_from_slice(payload);
        self.0
            .send(frame)
            .map_err(|_| PsiError::Transport("the connection to the peer is closed".into()))
    }
}

/// A framed, timed, two-way channel to the peer.
pub struct Channel {
    tx: Option<FrameSender>,
    writer: tokio::task::JoinHandle<std::io::Result<()>>,
    reader: Box<dyn AsyncRead + Unpin + Send>,
    timeout: Duration,
    sent: Arc<AtomicU64>,
    received: u64,
    tap: Option<Vec<(u8, Vec<u8>)>>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("timeout", &self.timeout)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// A channel over any stream (TLS in production; an in-memory pipe in tests). Every read
    /// waits at most `timeout`.
    pub fn new<S>(stream: S, timeout: Duration) -> Channel
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (reader, mut write) = tokio::io::split(stream);
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let writer = tokio::spawn(async move {
            let result = async {
                while let Some(frame) = rx.recv().await {
                    write.write_all(&frame).await?;
                    counter.fetch_add(frame.len() as u64, Ordering::Relaxed);
                    // A TLS stream may accept a frame into its own buffer while the socket is
                    // full and send it only when written to again or flushed. Before waiting for
                    // the next frame, push out what this one left behind: the peer may be
                    // waiting for exactly those bytes before it says anything more.
                    if rx.is_empty() {
                        write.flush().await?;
                    }
                }
                write.flush().await
            }
            .await;
            if let Err(e) = &result {
                tracing::warn!(error = %e, "writing to the PSI peer failed");
                return result;
            }
            // Every frame was handed to the socket. A peer that had all it needed may close
            // first, so the close_notify can meet a reset connection: not worth a warning.
            if let Err(e) = write.shutdown().await {
                tracing::debug!(error = %e, "closing the connection to the PSI peer");
            }
            Ok(())
        });
        Channel {
            tx: Some(FrameSender(tx)),
            writer,
            reader: Box::new(reader),
            timeout,
            sent,
            received: 0,
            tap: None,
        }
    }

    /// Keeps a copy of every frame received, for tests that scan what a party learns.
    pub fn record(&mut self) {
        self.tap = Some(Vec::new());
    }

    /// The frames received so far (after [`Channel::record`]).
    pub fn recorded(&self) -> &[(u8, Vec<u8>)] {
        self.tap.as_deref().unwrap_or(&[])
    }

    /// A handle that queues frames, for a task that sends while this one receives.
    pub fn sender(&self) -> Result<FrameSender, PsiError> {
        self.tx
            .clone()
            .ok_or_else(|| PsiError::Transport("the connection to the peer is closed".into()))
    }

    /// Queues a frame. Fails if the connection is gone.
    pub fn send(&self, tag: u8, payload: &[u8]) -> Result<(), PsiError> {
        self.sender()?.send(tag, payload)
    }

    /// Receives one frame, waiting at most the channel's timeout.
    pub async fn recv(&mut self) -> Result<(u8, Vec<u8>), PsiError> {
        // The writer stops on its own only when a write failed: what we queued will not arrive,
        // so waiting for the peer's answer would only run into the timeout.
        if self.tx.is_some() && self.writer.is_finished() {
            return Err(PsiError::Transport(
                "writing to the peer failed; frames were lost".into(),
            ));
        }
        let limit = self.timeout;
        let silent = || {
            PsiError::Timeout(format!(
                "the peer sent nothing for {} s (is it running, and in the same session?)",
                limit.as_secs_f64()
            ))
        };
        let closed = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                PsiError::Transport("the peer closed the connection".into())
            } else {
                PsiError::Transport(format!("reading from the peer: {e}"))
            }
        };
        let mut len = [0u8; 4];
        tokio::time::timeout(limit, self.reader.read_exact(&mut len))
            .await
            .map_err(|_| silent())?
            .map_err(closed)?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > MAX_FRAME {
            return Err(PsiError::Protocol(format!(
                "the peer announced a frame of {len} bytes (limit {MAX_FRAME})"
            )));
        }
        let mut body = vec![0u8; len];
        tokio::time::timeout(limit, self.reader.read_exact(&mut body))
            .await
            .map_err(|_| silent())?
            .map_err(closed)?;
        self.received += 4 + len as u64;
        let payload = body.split_off(1);
        if let Some(tap) = &mut self.tap {
            tap.push((body[0], payload.clone()));
        }
        Ok((body[0], payload))
    }

    /// Bytes written to the peer so far (frames handed to the socket).
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Bytes read from the peer so far.
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// Flushes what is queued and closes our side; returns the bytes sent.
    pub async fn finish(&mut self) -> Result<u64, PsiError> {
        drop(self.tx.take());
        let limit = self.timeout;
        match tokio::time::timeout(limit, &mut self.writer).await {
            Err(_) => Err(PsiError::Timeout(format!(
                "the peer did not read our last frames within {} s",
                limit.as_secs_f64()
            ))),
            Ok(Err(e)) => Err(PsiError::Transport(format!("writer: {e}"))),
            // The peer may close first once it has all it needs; what we sent was flushed.
            Ok(Ok(_)) => Ok(self.sent.load(Ordering::Relaxed)),
        }
    }
}

/// Dials `addr` and completes mutual TLS, requiring the server's certificate to name `peer_name`.
pub async fn connect(
    addr: &str,
    peer_name: &str,
    tls: &TlsMaterial,
    timeout: Duration,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, PsiError> {
    let config = tls.client_config(&[ALPN]).map_err(|e| PsiError::Tls(e.to_string()))?;
    let name = ServerName::try_from(peer_name.to_string())
        .map_err(|_| PsiError::Tls(format!("{peer_name:?} is not a DNS name or IP address")))?;
    let deadline = Instant::now() + timeout;
    // The peer may start a little later: retry refused connections until the deadline.
    let tcp = loop {
        match tokio::time::timeout_at(deadline.into(), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => break s,
            Ok(Err(e)) if Instant::now() + Duration::from_millis(100) < deadline => {
                tracing::debug!(%addr, error = %e, "peer not listening yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(Err(e)) => return Err(PsiError::Transport(format!("cannot connect to {addr}: {e}"))),
            Err(_) => {
                return Err(PsiError::Timeout(format!(
                    "could not connect to {addr} within {} s",
                    timeout.as_secs_f64()
                )));
            }
        }
    };
    tcp.set_nodelay(true).ok();
    let connector = tokio_rustls::TlsConnector::from(config);
    tokio::time::timeout(timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| {
            PsiError::Timeout(format!(
                "the TLS handshake with {addr} took over {} s",
                timeout.as_secs_f64()
            ))
        })?
        .map_err(|e| PsiError::Tls(format!("handshake with {addr} (expecting {peer_name:?}) failed: {e}")))
}

/// Binds `addr` for one peer.
pub async fn listen(addr: &str) -> Result<TcpListener, PsiError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| PsiError::Transport(format!("cannot listen on {addr}: {e}")))
}

/// Accepts the first connection that completes mutual TLS with a client certificate naming
/// `peer_name`. Connections that fail (another CA, another name) are refused and logged; if no
/// right peer arrives within `timeout` the error carries the last refusal.
pub async fn accept(
    listener: &TcpListener,
    peer_name: &str,
    tls: &TlsMaterial,
    timeout: Duration,
) -> Result<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr), PsiError> {
    let (stream, from, _) = accept_any(listener, &[peer_name], tls, timeout).await?;
    Ok((stream, from))
}

/// Accepts the first connection that completes mutual TLS with a client certificate naming one
/// of `peer_names`, and says which. Others are refused and logged, as in [`accept`].
pub async fn accept_any(
    listener: &TcpListener,
    peer_names: &[&str],
    tls: &TlsMaterial,
    timeout: Duration,
) -> Result<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr, String), PsiError> {
    let peer_name = peer_names.join(" or ");
    let config = tls.server_config(&[ALPN]).map_err(|e| PsiError::Tls(e.to_string()))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = None::<String>;
    loop {
        let Ok(accepted) = tokio::time::timeout_at(deadline, listener.accept()).await else {
            return Err(match last {
                Some(reason) => PsiError::Tls(format!(
                    "no peer named {peer_name:?} connected within {} s; refused: {reason}",
                    timeout.as_secs_f64()
                )),
                None => PsiError::Timeout(format!("no peer connected within {} s", timeout.as_secs_f64())),
            });
        };
        let (tcp, from) = accepted.map_err(|e| PsiError::Transport(format!("accept: {e}")))?;
        tcp.set_nodelay(true).ok();
        let stream = match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::warn!(%from, error = %e, "refused a PSI connection in the handshake");
                last = Some(format!("{from}: {e}"));
                continue;
            }
            Err(_) => continue,
        };
        let names = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(petri_pki::tls::subject_alt_names)
            .transpose()
            .map_err(|e| PsiError::Tls(e.to_string()))?
            .unwrap_or_default();
        if let Some(name) = peer_names
            .iter()
            .find(|p| names.iter().any(|n| n.eq_ignore_ascii_case(p)))
        {
            return Ok((stream, from, name.to_string()));
        }
        tracing::warn!(%from, ?names, expected = peer_name, "refused a PSI peer with another name");
        last = Some(format!("{from} presented {names:?}, not {peer_name:?}"));
    }
}
