//! Compute, data and result nodes for `petri-mpc` over gRPC (tonic, prost) and mutual TLS.
//!
//! The services and messages are those of the CipherCore runtime (`proto/`, package
//! `ciphercore`): `PartyService` on compute nodes (programs, sessions, and the peer-to-peer
//! `SendValue` stream), `DataManagerService` and `ResultProviderService` on data nodes. The
//! `graph_json` a compute node accepts is petri's own program format ([`program`]).
//!
//! Every connection is mutual TLS with certificates from `petri pki`; servers learn who called
//! from the verified certificate, and clients always verify the server's name. Who may do what is
//! configuration, never what a request says:
//!
//! - a compute node ([`ComputeConfig`]) takes programs and sessions only from its configured
//!   orchestrators (certificate names) or, in workflow mode, from processes of its configured
//!   initiators (key ids); it is always its configured party, with the configured compute nodes as
//!   peers, and accepts a peer stream only from the certificate naming that peer's configured host;
//! - a data node ([`data`]) serves party i only party i's shares, and only for a session whose
//!   program, result nodes, initiator and size its owner's `petri-policy` allows; every decision
//!   goes to the owner's audit log;
//! - peer links carry messages no longer than the engine sends and hold a bounded backlog
//!   ([`compute`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cluster;
pub mod compute;
pub mod data;
pub mod orchestrate;
pub mod program;
pub mod tls;
pub mod values;
pub mod workflow;

/// Generated gRPC types and services.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("ciphercore");
}

use std::future::Future;

use tokio::net::TcpListener;

pub use compute::{ComputeConfig, ComputeNode};
pub use data::DataNode;
pub use tls::NodeTls;

/// Errors of the network layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// Bad configuration or arguments.
    #[error("{0}")]
    Config(String),
    /// TLS material could not be loaded.
    #[error(transparent)]
    Pki(#[from] petri_pki::PkiError),
    /// A connection could not be made.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// host:port.
        target: String,
        /// Why.
        reason: String,
    },
    /// A remote node answered with an error.
    #[error("{0}")]
    Remote(String),
    /// Serving failed.
    #[error("server: {0}")]
    Serve(String),
}

/// Result type of this crate.
pub type Result<T, E = NetError> = std::result::Result<T, E>;

/// Serves a compute node on `listener` until `shutdown` completes.
pub async fn serve_compute(
    listener: TcpListener,
    tls: NodeTls,
    node: ComputeNode,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let incoming = tls.incoming(listener);
    tonic::transport::Server::builder()
        .initial_stream_window_size(Some(tls::WINDOW))
        .initial_connection_window_size(Some(2 * tls::WINDOW))
        .add_service(
            proto::party_service_server::PartyServiceServer::new(node)
                .max_decoding_message_size(compute::MAX_MESSAGE)
                .max_encoding_message_size(compute::MAX_MESSAGE),
        )
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| NetError::Serve(tls::error_chain(&e)))
}

/// Serves a data and result node on `listener` until `shutdown` completes.
pub async fn serve_data(
    listener: TcpListener,
    tls: NodeTls,
    node: DataNode,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let incoming = tls.incoming(listener);
    tonic::transport::Server::builder()
        .add_service(
            proto::data_manager_service_server::DataManagerServiceServer::new(node.clone())
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            proto::result_provider_service_server::ResultProviderServiceServer::new(node)
                .max_decoding_message_size(usize::MAX),
        )
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| NetError::Serve(tls::error_chain(&e)))
}
