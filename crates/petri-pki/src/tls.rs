//! rustls configurations (ring provider, TLS 1.3) for mutual TLS under a petri root.
//!
//! Both sides verify the whole chain up to the root in `ca.pem`, the organisation CA's name
//! constraints, the CRLs given, and the extended key usage. Clients always check that the server's
//! certificate names the host they dialled; nothing here can switch that off.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::files::read_string;
use crate::{PkiError, Result};

/// The files a node needs for mutual TLS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The root certificate(s) to trust.
    pub ca: PathBuf,
    /// This node's certificate chain (node certificate first).
    pub cert: PathBuf,
    /// This node's private key.
    pub key: PathBuf,
    /// CRLs to honour (any number).
    pub crls: Vec<PathBuf>,
}

/// The crypto provider petri uses everywhere: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loaded TLS material, ready to build configurations.
#[derive(Clone)]
pub struct TlsMaterial {
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    crls: Vec<CertificateRevocationListDer<'static>>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("roots", &self.roots.len())
            .field("chain", &self.chain.len())
            .field("crls", &self.crls.len())
            .finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Reads the files.
    pub fn load(files: &TlsFiles) -> Result<TlsMaterial> {
        let mut roots = RootCertStore::empty();
        for cert in crate::read_pem_certs(&files.ca)? {
            roots
                .add(cert)
                .map_err(|e| PkiError::Invalid(format!("{}: not a usable CA certificate: {e}", files.ca.display())))?;
        }
        let chain = crate::read_pem_certs(&files.cert)?;
        let key = load_key(&files.key)?;
        let mut crls = Vec::new();
        for path in &files.crls {
            crls.extend(load_crls(path)?);
        }
        Ok(TlsMaterial {
            roots: Arc::new(roots),
            chain,
            key: Arc::new(key),
            crls,
        })
    }

    /// A server configuration that requires a client certificate chaining to the root.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>> {
        let verifier = WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider())
            .with_crls(self.crls.clone())
            .build()
            .map_err(|e| PkiError::Invalid(format!("client verifier: {e}")))?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// A client configuration that presents this node's certificate and verifies the server's chain,
    /// CRLs and name.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>> {
        let verifier = WebPkiServerVerifier::builder_with_provider(self.roots.clone(), provider())
            .with_crls(self.crls.clone())
            .build()
            .map_err(|e| PkiError::Invalid(format!("server verifier: {e}")))?;
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_webpki_verifier(verifier)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// A server configuration for a service whose clients authenticate otherwise (the broker: every
/// request is signed), from a certificate chain and its key in PEM files. TLS 1.2 and 1.3.
pub fn server_config_from_files(cert: &Path, key: &Path, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>> {
    let chain = crate::read_pem_certs(cert)?;
    let private = load_key(key)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            PkiError::Invalid(format!(
                "{} and {} are not a usable certificate and key: {e}",
                cert.display(),
                key.display()
            ))
        })?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A client configuration for a client without a certificate (one that only needs to trust the
/// server, such as a CLI talking to an HTTPS broker).
pub fn anonymous_client_config(ca: &Path, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in crate::read_pem_certs(ca)? {
        roots
            .add(cert)
            .map_err(|e| PkiError::Invalid(format!("{}: not a usable CA certificate: {e}", ca.display())))?;
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let text = read_string(path)?;
    PrivateKeyDer::from_pem_slice(text.as_bytes())
        .map_err(|_| PkiError::Invalid(format!("{}: no private key in file", path.display())))
}

fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>> {
    let text = read_string(path)?;
    let crls = CertificateRevocationListDer::pem_slice_iter(text.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Invalid(format!("{}: not a PEM CRL file: {e}", path.display())))?;
    if crls.is_empty() {
        return Err(PkiError::Invalid(format!("{}: no CRL in file", path.display())));
    }
    Ok(crls)
}

/// The DNS names and IP addresses in a certificate's subject alternative names.
pub fn subject_alt_names(cert: &CertificateDer<'_>) -> Result<Vec<String>> {
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert).map_err(|e| PkiError::Invalid(format!("certificate: {e}")))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(n) => names.push(n.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) if b.len() == 4 => {
                    let octets: [u8; 4] = [b[0], b[1], b[2], b[3]];
                    names.push(std::net::IpAddr::from(octets).to_string());
                }
                x509_parser::extensions::GeneralName::IPAddress(b) if b.len() == 16 => {
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(b);
                    names.push(std::net::IpAddr::from(octets).to_string());
                }
                _ => {}
            }
        }
    }
    Ok(names)
}
