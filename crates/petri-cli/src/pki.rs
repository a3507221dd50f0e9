//! `petri pki`: a root CA, name-constrained organisation CAs, node certificates, CSRs and CRLs.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use petri_pki::{CaKind, NodeRequest, OrgRequest, Pki};
use serde::Serialize;

use crate::output::{Output, kv, table};

#[derive(Args)]
pub(crate) struct PkiArgs {
    /// The PKI directory (root CA in DIR/root, organisation CAs in DIR/orgs/NAME).
    #[arg(long, env = "PETRI_PKI_DIR", default_value = "pki", global = true)]
    dir: PathBuf,
    #[command(subcommand)]
    command: PkiCmd,
}

#[derive(Subcommand)]
enum PkiCmd {
    /// Create the root CA.
    Init {
        /// The root's common name.
        #[arg(long, default_value = "petri root CA")]
        name: String,
        /// Validity in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Create an organisation CA, constrained to the DNS subtrees and IP ranges it may issue.
    Org {
        /// Organisation name (lowercase letters, digits, '-').
        #[arg(long)]
        name: String,
        /// A permitted DNS subtree, such as hospital-a.example (repeatable; at least one).
        #[arg(long = "dns", required = true)]
        dns: Vec<String>,
        /// A permitted IP range ADDR/PREFIX (repeatable; none means no IP address may be issued).
        #[arg(long = "ip")]
        ip: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 1825)]
        days: u32,
    },
    /// Issue a node certificate (server and client authentication) with a new key.
    Node {
        /// The issuing organisation.
        #[arg(long)]
        org: String,
        /// The node's common name.
        #[arg(long)]
        name: String,
        /// A DNS name of the node (repeatable).
        #[arg(long = "dns")]
        dns: Vec<String>,
        /// An IP address of the node (repeatable).
        #[arg(long = "ip")]
        ip: Vec<std::net::IpAddr>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Where to write cert.pem (node + organisation CA), key.pem (0600) and ca.pem (root).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a certificate request (PEM) whose key stays on the node.
    Sign {
        /// The issuing organisation.
        #[arg(long)]
        org: String,
        /// The request file.
        #[arg(long)]
        csr: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Where to write cert.pem and ca.pem.
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke a certificate and rewrite the issuing CA's CRL.
    Revoke {
        /// The certificate file to revoke (its issuer and serial are read from it).
        #[arg(long, conflicts_with = "serial")]
        cert: Option<PathBuf>,
        /// The serial (hex) to revoke; needs --org, or --root for an organisation CA.
        #[arg(long)]
        serial: Option<String>,
        /// The organisation whose CA issued the serial.
        #[arg(long)]
        org: Option<String>,
        /// The serial was issued by the root (an organisation CA).
        #[arg(long)]
        root: bool,
    },
    /// List the certificates a CA issued.
    Ls {
        /// The organisation; without it, the root's organisation CAs.
        #[arg(long)]
        org: Option<String>,
    },
    /// Print the CRL files peers should load.
    Crl,
}

#[derive(Serialize)]
struct Written {
    serial: String,
    files: Vec<String>,
}

pub(crate) fn run(args: PkiArgs, out: &Output) -> anyhow::Result<()> {
    let dir = args.dir;
    match args.command {
        PkiCmd::Init { name, days } => {
            let pki = Pki::init(&dir, &name, days)?;
            let cert = pki.root_cert_path();
            out.show(&serde_json::json!({ "root": cert }), || {
                outln!(
                    "root CA created: {} (key {} is 0600)",
                    cert.display(),
                    dir.join("root/ca.key").display()
                );
            })
        }
        PkiCmd::Org { name, dns, ip, days } => {
            let pki = Pki::open(&dir)?;
            let ip_ranges = ip
                .iter()
                .map(|r| petri_pki::parse_cidr(r))
                .collect::<Result<Vec<_>, _>>()?;
            let record = pki.create_org(&OrgRequest {
                name: name.clone(),
                dns,
                ip_ranges,
                days,
            })?;
            out.show(&record, || {
                kv(
                    &format!("organisation CA {name}"),
                    &[
                        ("serial", record.serial.clone()),
                        ("permitted", record.names.join(", ")),
                        (
                            "directory",
                            pki.ca_dir(&CaKind::Org(name.clone())).display().to_string(),
                        ),
                    ],
                );
            })
        }
        PkiCmd::Node {
            org,
            name,
            dns,
            ip,
            days,
            out: out_dir,
        } => {
            let pki = Pki::open(&dir)?;
            let issued = pki.issue_node(
                &org,
                &NodeRequest {
                    name,
                    dns,
                    ips: ip,
                    days,
                },
            )?;
            issued.write_to(&out_dir)?;
            show_written(out, &issued.serial, &out_dir, true)
        }
        PkiCmd::Sign {
            org,
            csr,
            days,
            out: out_dir,
        } => {
            let pki = Pki::open(&dir)?;
            let text = std::fs::read_to_string(&csr).with_context(|| format!("cannot read {}", csr.display()))?;
            let issued = pki.sign_csr(&org, &text, days)?;
            issued.write_to(&out_dir)?;
            show_written(out, &issued.serial, &out_dir, false)
        }
        PkiCmd::Revoke {
            cert,
            serial,
            org,
            root,
        } => {
            let pki = Pki::open(&dir)?;
            let (ca, serial) = match (cert, serial) {
                (Some(cert), _) => pki.identify(&cert)?,
                (None, Some(serial)) => {
                    let ca = match (org, root) {
                        (Some(org), false) => CaKind::Org(org),
                        (None, true) => CaKind::Root,
                        _ => anyhow::bail!("give exactly one of --org NAME or --root with --serial"),
                    };
                    (ca, serial)
                }
                (None, None) => anyhow::bail!("give --cert FILE or --serial HEX"),
            };
            let outcome = pki.revoke(&ca, &serial)?;
            out.show(&outcome.record, || {
                outln!(
                    "revoked {} ({}) issued by {ca}; CRL written to {}",
                    outcome.record.serial,
                    outcome.record.subject,
                    outcome.crl_path.display()
                );
            })
        }
        PkiCmd::Ls { org } => {
            let pki = Pki::open(&dir)?;
            let ca = org.map(CaKind::Org).unwrap_or(CaKind::Root);
            let records = pki.list(&ca)?;
            out.show(&records, || {
                let mut t = table(&["serial", "kind", "subject", "names", "expires", "revoked"]);
                for r in &records {
                    t.add_row(vec![
                        r.serial.clone(),
                        r.kind.clone(),
                        r.subject.clone(),
                        r.names.join(" "),
                        unix_date(r.not_after),
                        r.revoked_at.map(unix_date).unwrap_or_default(),
                    ]);
                }
                outln!("{t}");
            })
        }
        PkiCmd::Crl => {
            let pki = Pki::open(&dir)?;
            let paths = pki.crl_paths()?;
            out.show(&paths, || {
                for p in &paths {
                    outln!("{}", p.display());
                }
            })
        }
    }
}

fn show_written(out: &Output, serial: &str, dir: &std::path::Path, with_key: bool) -> anyhow::Result<()> {
    let mut files = vec![dir.join("cert.pem"), dir.join("ca.pem")];
    if with_key {
        files.push(dir.join("key.pem"));
    }
    let written = Written {
        serial: serial.to_string(),
        files: files.iter().map(|f| f.display().to_string()).collect(),
    };
    out.show(&written, || {
        outln!("certificate {serial} written: {}", written.files.join(", "));
    })
}

fn unix_date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| secs.to_string())
}
