//! Links between the aggregator and its collaborators: mutual TLS under a petri root, and
//! length-prefixed postcard frames with a size limit.
//!
//! Collaborators dial the aggregator (they only connect out, so they work behind firewalls) and
//! verify that its certificate names the address they dialled; the aggregator accepts a client
//! certificate only if one of its names is a collaborator of the plan, and each name once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use petri_pki::tls::{TlsMaterial, subject_alt_names};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::FlError;
use crate::round::{Link, Member, Message};

/// The ALPN protocol of a federation link.
pub const ALPN: &[u8] = b"petri-fl/1";

/// The largest frame accepted: room for models of about 8 million parameters.
pub const MAX_FRAME: usize = 128 << 20;

/// A framed link over any stream (mutual TLS in production).
pub struct StreamLink<S> {
    stream: S,
    max_frame: usize,
}

impl<S> StreamLink<S> {
    /// A link over `stream`.
    pub fn new(stream: S) -> Self {
        StreamLink {
            stream,
            max_frame: MAX_FRAME,
        }
    }
}

fn net(e: impl std::fmt::Display) -> FlError {
    FlError::Net(e.to_string())
}

#[async_trait::async_trait]
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Link for StreamLink<S> {
    async fn send(&mut self, message: &Message) -> Result<(), FlError> {
        let bytes = postcard::to_stdvec(message).map_err(net)?;
        if bytes.len() > self.max_frame {
            return Err(FlError::Net(format!(
                "a message of {} bytes is over the {}-byte limit",
                bytes.len(),
                self.max_frame
            )));
        }
        self.stream
            .write_all(&(bytes.len() as u32).to_be_bytes())
            .await
            .map_err(net)?;
        self.stream.write_all(&bytes).await.map_err(net)?;
        self.stream.flush().await.map_err(net)
    }

    async fn recv(&mut self) -> Result<Message, FlError> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await.map_err(net)?;
        let len = u32::from_be_bytes(len) as usize;
        if len > self.max_frame {
            return Err(FlError::Net(format!(
                "the peer announced a {len}-byte message, over the {}-byte limit",
                self.max_frame
            )));
        }
        let mut buf = vec![0u8; len];
        self.stream.read_exact(&mut buf).await.map_err(net)?;
        postcard::from_bytes(&buf).map_err(|e| FlError::Net(format!("a malformed message: {e}")))
    }
}

/// A collaborator's link to the aggregator.
pub type ClientLink = StreamLink<tokio_rustls::client::TlsStream<TcpStream>>;
/// The aggregator's link to one collaborator.
pub type ServerLink = StreamLink<tokio_rustls::server::TlsStream<TcpStream>>;

/// Dials the aggregator at `addr` (retrying until `timeout` while it is not listening yet) and
/// completes mutual TLS, requiring its certificate to name `server_name`.
pub async fn connect(
    addr: &str,
    server_name: &str,
    tls: &TlsMaterial,
    timeout: Duration,
) -> Result<ClientLink, FlError> {
    let config = tls.client_config(&[ALPN]).map_err(|e| FlError::Tls(e.to_string()))?;
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|_| FlError::Tls(format!("{server_name:?} is not a DNS name or IP address")))?;
    let deadline = Instant::now() + timeout;
    let tcp = loop {
        match TcpStream::connect(addr).await {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => return Err(FlError::Net(format!("cannot connect to the aggregator at {addr}: {e}"))),
        }
    };
    tcp.set_nodelay(true).ok();
    let stream = tokio::time::timeout(timeout, tokio_rustls::TlsConnector::from(config).connect(name, tcp))
        .await
        .map_err(|_| FlError::Net(format!("the TLS handshake with {addr} took too long")))?
        .map_err(|e| FlError::Tls(format!("handshake with {addr} (expecting {server_name:?}): {e}")))?;
    Ok(StreamLink::new(stream))
}

/// Accepts collaborators on `listener` until every name in `expected` is connected, or until
/// `timeout` has passed with at least `min` of them. Connections from other CAs fail their
/// handshake; a certificate naming no expected collaborator, or one already connected, is closed.
pub async fn accept_members(
    listener: &TcpListener,
    tls: &TlsMaterial,
    expected: &[String],
    min: usize,
    timeout: Duration,
) -> Result<Vec<Member<ServerLink>>, FlError> {
    let acceptor =
        tokio_rustls::TlsAcceptor::from(tls.server_config(&[ALPN]).map_err(|e| FlError::Tls(e.to_string()))?);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut members: Vec<Member<ServerLink>> = Vec::new();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<(String, ServerLink)>(expected.len().max(1));
    let expected: Arc<Vec<String>> = Arc::new(expected.to_vec());
    while members.len() < expected.len() {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, from)) = accepted else { continue };
                tcp.set_nodelay(true).ok();
                let (acceptor, expected, done) = (acceptor.clone(), expected.clone(), done_tx.clone());
                // Each handshake on its own task with its own limit, so one slow client cannot
                // hold up the others.
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::warn!(%from, error = %e, "refused a collaborator in the TLS handshake");
                            return;
                        }
                        Err(_) => return,
                    };
                    let names = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| subject_alt_names(c).ok())
                        .unwrap_or_default();
                    match expected.iter().find(|e| names.iter().any(|n| n.eq_ignore_ascii_case(e))) {
                        Some(name) => {
                            let _ = done.send((name.clone(), StreamLink::new(stream))).await;
                        }
                        None => tracing::warn!(%from, ?names, "refused a certificate that names no collaborator"),
                    }
                });
            }
            Some((name, link)) = done_rx.recv() => {
                if members.iter().any(|m| m.name == name) {
                    tracing::warn!(collaborator = %name, "a second connection for one collaborator, refused");
                    continue;
                }
                tracing::info!(collaborator = %name, "collaborator connected");
                members.push(Member::new(name, link));
            }
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    if members.len() < min {
        return Err(FlError::Net(format!(
            "{} of the collaborators connected within {} s, fewer than the {min} needed",
            members.len(),
            timeout.as_secs()
        )));
    }
    // Ids follow the plan's order of names, so they do not depend on who dialled first.
    members.sort_by_key(|m| expected.iter().position(|e| *e == m.name));
    Ok(members)
}
