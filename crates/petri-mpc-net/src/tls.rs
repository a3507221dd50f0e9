//! Mutual TLS under tonic with petri's own rustls configurations (so CRLs and name checks are
//! exactly those of `petri-pki`): a listener that performs the handshake and hands tonic streams
//! carrying the peer's certificate names, and a connector that dials `host:port` and verifies the
//! server against `host`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use petri_pki::tls::{TlsFiles, TlsMaterial, subject_alt_names};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint};

use crate::{NetError, Result};

const ALPN_H2: &[&[u8]] = &[b"h2"];
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 flow-control window per stream (the connection gets twice this).
pub const WINDOW: u32 = 16 << 20;

/// Who is on the other end of a connection, from its verified certificate.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    /// DNS names and IP addresses of the peer's certificate.
    pub names: Vec<String>,
    /// The peer's socket address.
    pub addr: Option<SocketAddr>,
}

impl PeerInfo {
    /// Whether the certificate names `name` (case-insensitive).
    pub fn has_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// A node's TLS setup: the same certificate serves and dials.
#[derive(Clone)]
pub struct NodeTls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    names: Vec<String>,
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeTls(..)")
    }
}

impl NodeTls {
    /// Loads the node's CA, certificate, key and CRLs.
    pub fn load(files: &TlsFiles) -> Result<NodeTls> {
        let material = TlsMaterial::load(files)?;
        let names = match petri_pki::read_pem_certs(&files.cert)?.first() {
            Some(cert) => subject_alt_names(cert)?,
            None => Vec::new(),
        };
        Ok(NodeTls {
            acceptor: TlsAcceptor::from(material.server_config(ALPN_H2)?),
            connector: TlsConnector::from(material.client_config(ALPN_H2)?),
            names,
        })
    }

    /// The DNS names and IP addresses of this node's own certificate.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether this node's own certificate names `name` (case-insensitive).
    pub fn has_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// A gRPC channel to `host:port`, verifying that the server's certificate names `host`.
    /// Connection and handshake give up after `timeout`.
    pub async fn channel(&self, host: &str, port: u16, timeout: Duration) -> Result<Channel> {
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|_| NetError::Config(format!("{host} is not a valid DNS name or IP address")))?;
        let connector = self.connector.clone();
        let target = format!("{host}:{port}");
        // TLS is done by the connector below, so tonic sees plain HTTP/2.
        let endpoint = Endpoint::from_shared(format!("http://{target}"))
            .map_err(|e| NetError::Config(format!("bad address {target}: {e}")))?
            .connect_timeout(timeout)
            .timeout(Duration::from_secs(3600))
            // Large flow-control windows: sessions move many megabytes per round.
            .initial_stream_window_size(Some(WINDOW))
            .initial_connection_window_size(Some(2 * WINDOW));
        let dial = target.clone();
        let channel = endpoint
            .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                let connector = connector.clone();
                let server_name = server_name.clone();
                let dial = dial.clone();
                async move {
                    let tcp = tokio::time::timeout(timeout, TcpStream::connect(&dial))
                        .await
                        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
                    tcp.set_nodelay(true)?;
                    let tls = tokio::time::timeout(timeout, connector.connect(server_name, tcp))
                        .await
                        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
                }
            }))
            .await
            .map_err(|e| NetError::Connect {
                target: target.clone(),
                reason: error_chain(&e),
            })?;
        Ok(channel)
    }

    /// Accepts connections on `listener`, completes TLS handshakes (refusing peers whose
    /// certificates do not verify) and yields the streams for tonic's `serve_with_incoming`.
    pub fn incoming(
        &self,
        listener: TcpListener,
    ) -> tokio_stream::wrappers::ReceiverStream<std::result::Result<TlsConn, std::io::Error>> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let acceptor = self.acceptor.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, addr) = match listener.accept().await {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let names = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .and_then(|c| subject_alt_names(c).ok())
                                .unwrap_or_default();
                            let conn = TlsConn {
                                inner: tls,
                                info: PeerInfo {
                                    names,
                                    addr: Some(addr),
                                },
                            };
                            let _ = tx.send(Ok(conn)).await;
                        }
                        Ok(Err(e)) => tracing::warn!(peer = %addr, error = %e, "TLS handshake refused"),
                        Err(_) => tracing::warn!(peer = %addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        tokio_stream::wrappers::ReceiverStream::new(rx)
    }
}

/// A server-side TLS connection that tells tonic who the peer is.
pub struct TlsConn {
    inner: tokio_rustls::server::TlsStream<TcpStream>,
    info: PeerInfo,
}

impl Connected for TlsConn {
    type ConnectInfo = PeerInfo;
    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The peer of a request, from its certificate.
pub fn peer<T>(request: &tonic::Request<T>) -> Option<PeerInfo> {
    request.extensions().get::<PeerInfo>().cloned()
}

/// An error and its sources on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Splits `host:port` (IPv6 in brackets).
pub fn split_host_port(addr: &str) -> Result<(String, u16)> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| NetError::Config(format!("{addr:?} is not host:port")))?;
    let port = port
        .parse()
        .map_err(|_| NetError::Config(format!("{addr:?} has no valid port")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(NetError::Config(format!("{addr:?} has no host")));
    }
    Ok((host.to_string(), port))
}
