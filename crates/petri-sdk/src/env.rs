use petri_crypto::PrivateKey;

use crate::{SdkError, SdkResult};

/// Client settings from the `COLONIES_*` environment variables (the same ones
/// pycolonies reads), so one environment serves petri and Colonies tools alike.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `COLONIES_SERVER_HOST` (default `localhost`).
    pub host: String,
    /// `COLONIES_SERVER_PORT` (default 50080).
    pub port: u16,
    /// `COLONIES_TLS` or `COLONIES_SERVER_TLS` equal to `true`.
    pub tls: bool,
    /// `COLONIES_COLONY_NAME`.
    pub colony: String,
    /// `COLONIES_EXECUTOR_NAME`.
    pub executor_name: String,
    /// `COLONIES_EXECUTOR_TYPE`.
    pub executor_type: String,
    prvkey: Option<String>,
    colony_prvkey: Option<String>,
    server_prvkey: Option<String>,
    /// `PETRI_CA_FILE`, read when the environment is: trust only the root certificate(s) in
    /// this PEM file for HTTPS/WSS (implies TLS). Without it, TLS trusts the public web's roots.
    ca: Option<(std::path::PathBuf, std::sync::Arc<rustls::ClientConfig>)>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn key(value: &Option<String>, name: &str) -> SdkResult<PrivateKey> {
    let text = value
        .as_deref()
        .ok_or_else(|| SdkError::Config(format!("{name} is not set")))?;
    PrivateKey::from_hex(text).map_err(|e| SdkError::Config(format!("{name}: {e}")))
}

impl Env {
    /// Reads the variables; only the port must parse if set.
    pub fn from_env() -> SdkResult<Self> {
        let port = match var("COLONIES_SERVER_PORT") {
            Some(p) => p
                .parse()
                .map_err(|_| SdkError::Config(format!("COLONIES_SERVER_PORT {p:?} is not a port")))?,
            None => 50080,
        };
        let ca = match var("PETRI_CA_FILE") {
            Some(path) => {
                let config = petri_pki::tls::anonymous_client_config(path.as_ref(), &[b"http/1.1"])
                    .map_err(|e| SdkError::Config(format!("PETRI_CA_FILE: {e}")))?;
                Some((path.into(), config))
            }
            None => None,
        };
        let tls = var("COLONIES_TLS")
            .or_else(|| var("COLONIES_SERVER_TLS"))
            .is_some_and(|v| v == "true");
        Ok(Self {
            host: var("COLONIES_SERVER_HOST").unwrap_or_else(|| "localhost".into()),
            port,
            tls: tls || ca.is_some(),
            ca,
            colony: var("COLONIES_COLONY_NAME").unwrap_or_default(),
            executor_name: var("COLONIES_EXECUTOR_NAME").unwrap_or_default(),
            executor_type: var("COLONIES_EXECUTOR_TYPE").unwrap_or_default(),
            prvkey: var("COLONIES_PRVKEY"),
            colony_prvkey: var("COLONIES_COLONY_PRVKEY"),
            server_prvkey: var("COLONIES_SERVER_PRVKEY"),
        })
    }

    /// A client for the configured server, with the configured TLS trust.
    pub fn client(&self) -> crate::Client {
        match &self.ca {
            Some((_, config)) => crate::Client::with_tls_config(&self.host, self.port, config.clone()),
            None => crate::Client::new(&self.host, self.port, self.tls),
        }
    }

    /// The CA file from `PETRI_CA_FILE`, if one is trusted.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.ca.as_ref().map(|(path, _)| path.as_path())
    }

    /// The member key, `COLONIES_PRVKEY`.
    pub fn prvkey(&self) -> SdkResult<PrivateKey> {
        key(&self.prvkey, "COLONIES_PRVKEY")
    }

    /// The colony owner key, `COLONIES_COLONY_PRVKEY`.
    pub fn colony_prvkey(&self) -> SdkResult<PrivateKey> {
        key(&self.colony_prvkey, "COLONIES_COLONY_PRVKEY")
    }

    /// The server owner key, `COLONIES_SERVER_PRVKEY`.
    pub fn server_prvkey(&self) -> SdkResult<PrivateKey> {
        key(&self.server_prvkey, "COLONIES_SERVER_PRVKEY")
    }

    /// The colony name, or an error saying which variable to set.
    pub fn colony(&self) -> SdkResult<&str> {
        if self.colony.is_empty() {
            return Err(SdkError::Config("COLONIES_COLONY_NAME is not set".into()));
        }
        Ok(&self.colony)
    }
}
