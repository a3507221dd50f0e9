//! The CA directory: a root CA, organisation CAs under `orgs/NAME`, and their ledgers.
//!
//! ```text
//! DIR/root/ca.pem  ca.key (0600)  index.json  crl.pem
//! DIR/orgs/NAME/ca.pem (the organisation CA)  chain.pem (org CA + root)  ca.key (0600)  index.json  crl.pem
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertificateSigningRequestParams, CidrSubnet,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, NameConstraints, RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::files::{io_err, read_string, write_private, write_public};
use crate::{PkiError, Result};

/// Which CA of the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaKind {
    /// The root CA.
    Root,
    /// The CA of the named organisation.
    Org(String),
}

impl std::fmt::Display for CaKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaKind::Root => f.write_str("root"),
            CaKind::Org(name) => write!(f, "org {name}"),
        }
    }
}

/// One certificate a CA issued, as its ledger remembers it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CertRecord {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// `org-ca` or `node`.
    pub kind: String,
    /// The subject's common name.
    pub subject: String,
    /// DNS names and IP addresses (nodes) or permitted subtrees (organisation CAs).
    pub names: Vec<String>,
    /// Expiry, Unix seconds.
    pub not_after: i64,
    /// Revocation time, Unix seconds, if revoked.
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Ledger {
    crl_number: u64,
    certs: Vec<CertRecord>,
}

/// An organisation CA to create.
#[derive(Clone, Debug)]
pub struct OrgRequest {
    /// Organisation name: lowercase letters, digits and `-`.
    pub name: String,
    /// DNS subtrees the organisation may issue names in (for example `hospital-a.example`);
    /// at least one.
    pub dns: Vec<String>,
    /// IP ranges the organisation may issue addresses in; none means no IP address at all.
    pub ip_ranges: Vec<(IpAddr, u8)>,
    /// Validity in days.
    pub days: u32,
}

/// A node certificate to issue.
#[derive(Clone, Debug)]
pub struct NodeRequest {
    /// Common name of the node (informational; peers verify the SANs).
    pub name: String,
    /// DNS subject alternative names.
    pub dns: Vec<String>,
    /// IP subject alternative names.
    pub ips: Vec<IpAddr>,
    /// Validity in days.
    pub days: u32,
}

/// A freshly issued node certificate.
pub struct IssuedNode {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// The node certificate followed by its organisation CA (what a TLS peer presents).
    pub chain_pem: String,
    /// The node's private key (PKCS#8 PEM); `None` when signed from a CSR.
    pub key_pem: Option<String>,
    /// The root CA certificate that peers trust.
    pub root_pem: String,
}

impl std::fmt::Debug for IssuedNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is deliberately left out.
        f.debug_struct("IssuedNode")
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

impl IssuedNode {
    /// Writes `cert.pem`, `key.pem` (0600, when there is a key) and `ca.pem` into `dir`.
    pub fn write_to(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        write_public(&dir.join("cert.pem"), self.chain_pem.as_bytes())?;
        write_public(&dir.join("ca.pem"), self.root_pem.as_bytes())?;
        if let Some(key) = &self.key_pem {
            write_private(&dir.join("key.pem"), key.as_bytes())?;
        }
        Ok(())
    }
}

/// What a revocation did.
#[derive(Debug)]
pub struct RevocationOutcome {
    /// The revoked certificate's record.
    pub record: CertRecord,
    /// The CRL file rewritten.
    pub crl_path: PathBuf,
}

/// A PKI directory.
#[derive(Clone, Debug)]
pub struct Pki {
    dir: PathBuf,
}

const ORG_NAME_MAX: usize = 63;

/// An IP range: address and prefix length.
type IpRange = (IpAddr, u8);

impl Pki {
    /// Creates a root CA in `dir/root`. Refuses to overwrite an existing one.
    pub fn init(dir: &Path, common_name: &str, days: u32) -> Result<Pki> {
        check_common_name(common_name)?;
        check_days(days)?;
        let root = dir.join("root");
        if root.join("ca.pem").exists() {
            return Err(PkiError::Exists(format!(
                "a root CA already exists in {}",
                root.display()
            )));
        }
        std::fs::create_dir_all(&root).map_err(|e| io_err(&root, e))?;
        let key = KeyPair::generate()?;
        let mut params = ca_params(common_name, days)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        let cert = params.self_signed(&key)?;
        write_private(&root.join("ca.key"), key.serialize_pem().as_bytes())?;
        write_public(&root.join("ca.pem"), cert.pem().as_bytes())?;
        let pki = Pki { dir: dir.to_path_buf() };
        pki.save_ledger(
            &CaKind::Root,
            &Ledger {
                crl_number: 0,
                certs: Vec::new(),
            },
        )?;
        pki.write_crl(&CaKind::Root)?;
        Ok(pki)
    }

    /// Opens an existing PKI directory.
    pub fn open(dir: &Path) -> Result<Pki> {
        let root = dir.join("root").join("ca.pem");
        if !root.exists() {
            return Err(PkiError::NotFound(format!(
                "no root CA in {} (create one with `petri pki init`)",
                dir.display()
            )));
        }
        Ok(Pki { dir: dir.to_path_buf() })
    }

    /// The directory of a CA.
    pub fn ca_dir(&self, ca: &CaKind) -> PathBuf {
        match ca {
            CaKind::Root => self.dir.join("root"),
            CaKind::Org(name) => self.dir.join("orgs").join(name),
        }
    }

    /// The root certificate file peers trust.
    pub fn root_cert_path(&self) -> PathBuf {
        self.dir.join("root").join("ca.pem")
    }

    /// The CRL files of every CA in the directory (root first).
    pub fn crl_paths(&self) -> Result<Vec<PathBuf>> {
        let mut paths = vec![self.ca_dir(&CaKind::Root).join("crl.pem")];
        for org in self.orgs()? {
            paths.push(self.ca_dir(&CaKind::Org(org)).join("crl.pem"));
        }
        Ok(paths)
    }

    /// Names of the organisation CAs, sorted.
    pub fn orgs(&self) -> Result<Vec<String>> {
        let orgs = self.dir.join("orgs");
        let mut names = Vec::new();
        match std::fs::read_dir(&orgs) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(|e| io_err(&orgs, e))?;
                    if entry.path().join("ca.pem").exists() {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&orgs, e)),
        }
        names.sort();
        Ok(names)
    }

    /// Creates a name-constrained organisation CA signed by the root.
    pub fn create_org(&self, req: &OrgRequest) -> Result<CertRecord> {
        check_org_name(&req.name)?;
        check_days(req.days)?;
        if req.dns.is_empty() {
            return Err(PkiError::Invalid(
                "an organisation CA needs at least one permitted DNS subtree (--dns)".into(),
            ));
        }
        for dns in &req.dns {
            check_dns_name(dns)?;
        }
        let dir = self.ca_dir(&CaKind::Org(req.name.clone()));
        if dir.join("ca.pem").exists() {
            return Err(PkiError::Exists(format!("organisation {} already has a CA", req.name)));
        }
        let (root_issuer, root_pem) = self.issuer(&CaKind::Root)?;
        let key = KeyPair::generate()?;
        let mut params = ca_params(&format!("petri organisation CA {}", req.name), req.days)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params
            .distinguished_name
            .push(DnType::OrganizationName, req.name.as_str());
        let mut permitted: Vec<GeneralSubtree> = req.dns.iter().map(|d| GeneralSubtree::DnsName(d.clone())).collect();
        let mut excluded = Vec::new();
        for (addr, prefix) in &req.ip_ranges {
            permitted.push(GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(*addr, *prefix)));
        }
        if req.ip_ranges.is_empty() {
            // Without an IP subtree RFC 5280 would leave IP addresses unconstrained: exclude them all.
            excluded.push(GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix([0; 4], 0)));
            excluded.push(GeneralSubtree::IpAddress(CidrSubnet::from_v6_prefix([0; 16], 0)));
        }
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: permitted,
            excluded_subtrees: excluded,
        });
        let serial = random_serial()?;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.use_authority_key_identifier_extension = true;
        let not_after = params.not_after;
        let cert = params.signed_by(&key, &root_issuer)?;
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        write_private(&dir.join("ca.key"), key.serialize_pem().as_bytes())?;
        write_public(&dir.join("ca.pem"), cert.pem().as_bytes())?;
        write_public(&dir.join("chain.pem"), format!("{}{}", cert.pem(), root_pem).as_bytes())?;
        let mut names = req.dns.clone();
        names.extend(req.ip_ranges.iter().map(|(a, p)| format!("{a}/{p}")));
        let record = CertRecord {
            serial: hex(&serial),
            kind: "org-ca".into(),
            subject: req.name.clone(),
            names,
            not_after: not_after.unix_timestamp(),
            revoked_at: None,
        };
        self.save_ledger(
            &CaKind::Org(req.name.clone()),
            &Ledger {
                crl_number: 0,
                certs: Vec::new(),
            },
        )?;
        self.write_crl(&CaKind::Org(req.name.clone()))?;
        self.append_record(&CaKind::Root, record.clone())?;
        Ok(record)
    }

    /// Issues a node certificate (server and client authentication) with a new key.
    pub fn issue_node(&self, org: &str, req: &NodeRequest) -> Result<IssuedNode> {
        let key = KeyPair::generate()?;
        let mut issued = self.sign_node(org, req, &key)?;
        issued.key_pem = Some(key.serialize_pem());
        Ok(issued)
    }

    /// Signs a certificate request. Only the request's public key and subject alternative names are
    /// taken from it; the CA decides everything else (not a CA, key usages, validity, serial).
    pub fn sign_csr(&self, org: &str, csr_pem: &str, days: u32) -> Result<IssuedNode> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| PkiError::Invalid(format!("not a valid certificate request: {e}")))?;
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        for san in &csr.params.subject_alt_names {
            match san {
                SanType::DnsName(name) => dns.push(name.as_str().to_string()),
                SanType::IpAddress(ip) => ips.push(*ip),
                other => {
                    return Err(PkiError::Invalid(format!(
                        "certificate request has an unsupported subject alternative name {other:?}"
                    )));
                }
            }
        }
        let name = csr
            .params
            .distinguished_name
            .get(&DnType::CommonName)
            .map(dn_value_text)
            .or_else(|| dns.first().cloned())
            .unwrap_or_else(|| "node".into());
        let req = NodeRequest { name, dns, ips, days };
        self.sign_node(org, &req, &csr.public_key)
    }

    fn sign_node(&self, org: &str, req: &NodeRequest, public_key: &impl rcgen::PublicKeyData) -> Result<IssuedNode> {
        check_org_name(org)?;
        check_common_name(&req.name)?;
        check_days(req.days)?;
        if req.dns.is_empty() && req.ips.is_empty() {
            return Err(PkiError::Invalid(
                "a node certificate needs at least one DNS name or IP address".into(),
            ));
        }
        let ca = CaKind::Org(org.to_string());
        let dir = self.ca_dir(&ca);
        if !dir.join("ca.pem").exists() {
            return Err(PkiError::NotFound(format!(
                "organisation {org} has no CA (create it with `petri pki org`)"
            )));
        }
        let (permitted_dns, permitted_ips) = self.org_constraints(org)?;
        for dns in &req.dns {
            check_dns_name(dns)?;
            if !permitted_dns.iter().any(|c| dns_within(dns, c)) {
                return Err(PkiError::Invalid(format!(
                    "{dns} is outside organisation {org}'s DNS names ({})",
                    permitted_dns.join(", ")
                )));
            }
        }
        for ip in &req.ips {
            if !permitted_ips.iter().any(|(net, prefix)| ip_within(ip, net, *prefix)) {
                return Err(PkiError::Invalid(format!(
                    "{ip} is outside organisation {org}'s IP ranges ({})",
                    if permitted_ips.is_empty() {
                        "none".to_string()
                    } else {
                        permitted_ips
                            .iter()
                            .map(|(a, p)| format!("{a}/{p}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )));
            }
        }
        let (issuer, _) = self.issuer(&ca)?;
        let mut params = CertificateParams::default();
        let (not_before, not_after) = validity(req.days)?;
        params.not_before = not_before;
        params.not_after = not_after;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, req.name.as_str());
        dn.push(DnType::OrganizationName, org);
        params.distinguished_name = dn;
        for dns in &req.dns {
            params.subject_alt_names.push(SanType::DnsName(
                dns.as_str()
                    .try_into()
                    .map_err(|_| PkiError::Invalid(format!("{dns} is not a valid DNS name")))?,
            ));
        }
        for ip in &req.ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let serial = random_serial()?;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let cert = params.signed_by(public_key, &issuer)?;
        let org_pem = read_string(&dir.join("ca.pem"))?;
        let root_pem = read_string(&self.root_cert_path())?;
        let mut names = req.dns.clone();
        names.extend(req.ips.iter().map(ToString::to_string));
        self.append_record(
            &ca,
            CertRecord {
                serial: hex(&serial),
                kind: "node".into(),
                subject: req.name.clone(),
                names,
                not_after: not_after.unix_timestamp(),
                revoked_at: None,
            },
        )?;
        Ok(IssuedNode {
            serial: hex(&serial),
            chain_pem: format!("{}{}", cert.pem(), org_pem),
            key_pem: None,
            root_pem,
        })
    }

    /// Certificates a CA issued.
    pub fn list(&self, ca: &CaKind) -> Result<Vec<CertRecord>> {
        Ok(self.load_ledger(ca)?.certs)
    }

    /// Revokes the certificate with `serial` (hex) issued by `ca` and rewrites that CA's CRL.
    pub fn revoke(&self, ca: &CaKind, serial: &str) -> Result<RevocationOutcome> {
        let serial = serial.trim().trim_start_matches("0x").to_ascii_lowercase();
        let mut ledger = self.load_ledger(ca)?;
        let record = ledger
            .certs
            .iter_mut()
            .find(|r| r.serial == serial)
            .ok_or_else(|| PkiError::NotFound(format!("{ca} issued no certificate with serial {serial}")))?;
        if record.revoked_at.is_some() {
            return Err(PkiError::Exists(format!("certificate {serial} is already revoked")));
        }
        record.revoked_at = Some(OffsetDateTime::now_utc().unix_timestamp());
        let record = record.clone();
        self.save_ledger(ca, &ledger)?;
        let crl_path = self.write_crl(ca)?;
        Ok(RevocationOutcome { record, crl_path })
    }

    /// The serial (hex) of the first certificate in a PEM file, and which CA of this directory issued
    /// it (matched by the issuer's name).
    pub fn identify(&self, cert_pem_path: &Path) -> Result<(CaKind, String)> {
        let certs = crate::read_pem_certs(cert_pem_path)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&certs[0])
            .map_err(|e| PkiError::Invalid(format!("{}: {e}", cert_pem_path.display())))?;
        let serial = hex(cert.raw_serial()).trim_start_matches("00").to_string();
        let issuer = cert.issuer().to_string();
        let mut candidates = vec![CaKind::Root];
        candidates.extend(self.orgs()?.into_iter().map(CaKind::Org));
        for ca in candidates {
            let ca_pem = self.ca_dir(&ca).join("ca.pem");
            let ca_certs = crate::read_pem_certs(&ca_pem)?;
            let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_certs[0])
                .map_err(|e| PkiError::Invalid(format!("{}: {e}", ca_pem.display())))?;
            if ca_cert.subject().to_string() == issuer {
                return Ok((ca, serial));
            }
        }
        Err(PkiError::NotFound(format!(
            "{} was not issued by a CA in {}",
            cert_pem_path.display(),
            self.dir.display()
        )))
    }

    /// Writes a fresh CRL for `ca` (a new CRL number, every revoked certificate) and returns its path.
    pub fn write_crl(&self, ca: &CaKind) -> Result<PathBuf> {
        let mut ledger = self.load_ledger(ca)?;
        ledger.crl_number += 1;
        let (issuer, _) = self.issuer(ca)?;
        let now = OffsetDateTime::now_utc();
        let mut revoked = Vec::new();
        for record in &ledger.certs {
            if let Some(at) = record.revoked_at {
                revoked.push(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&unhex(&record.serial)?),
                    revocation_time: OffsetDateTime::from_unix_timestamp(at)
                        .map_err(|e| PkiError::Invalid(format!("revocation time: {e}")))?,
                    reason_code: Some(RevocationReason::Unspecified),
                    invalidity_date: None,
                });
            }
        }
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(5),
            next_update: now + Duration::days(30),
            crl_number: SerialNumber::from_slice(&ledger.crl_number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&issuer)?;
        let path = self.ca_dir(ca).join("crl.pem");
        write_public(&path, crl.pem()?.as_bytes())?;
        self.save_ledger(ca, &ledger)?;
        Ok(path)
    }

    pub(crate) fn issuer(&self, ca: &CaKind) -> Result<(Issuer<'static, KeyPair>, String)> {
        let dir = self.ca_dir(ca);
        let cert_pem = read_string(&dir.join("ca.pem"))?;
        let key_pem = read_string(&dir.join("ca.key"))?;
        let key = KeyPair::from_pem(&key_pem)?;
        Ok((Issuer::from_ca_cert_pem(&cert_pem, key)?, cert_pem))
    }

    /// The permitted DNS subtrees and IP ranges of an organisation CA, read back from its certificate.
    fn org_constraints(&self, org: &str) -> Result<(Vec<String>, Vec<IpRange>)> {
        let path = self.ca_dir(&CaKind::Org(org.to_string())).join("ca.pem");
        let certs = crate::read_pem_certs(&path)?;
        let (_, cert) =
            x509_parser::parse_x509_certificate(&certs[0]).map_err(|e| PkiError::Invalid(format!("{org}: {e}")))?;
        let constraints = cert
            .name_constraints()
            .map_err(|e| PkiError::Invalid(format!("{org}: name constraints: {e}")))?
            .ok_or_else(|| PkiError::Invalid(format!("organisation CA {org} has no name constraints")))?;
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        for subtree in constraints.value.permitted_subtrees.iter().flatten() {
            match &subtree.base {
                x509_parser::extensions::GeneralName::DNSName(name) => dns.push(name.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                    if let Some(range) = cidr_from_bytes(bytes) {
                        ips.push(range);
                    }
                }
                _ => {}
            }
        }
        Ok((dns, ips))
    }

    fn ledger_path(&self, ca: &CaKind) -> PathBuf {
        self.ca_dir(ca).join("index.json")
    }

    fn load_ledger(&self, ca: &CaKind) -> Result<Ledger> {
        let path = self.ledger_path(ca);
        if !path.exists() {
            return Err(PkiError::NotFound(format!(
                "{ca} does not exist in {}",
                self.dir.display()
            )));
        }
        let text = read_string(&path)?;
        serde_json::from_str(&text).map_err(|e| PkiError::Ledger {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    fn save_ledger(&self, ca: &CaKind, ledger: &Ledger) -> Result<()> {
        let path = self.ledger_path(ca);
        let text = serde_json::to_string_pretty(ledger).map_err(|e| PkiError::Ledger {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        // Written whole to a temporary file first so a crash never leaves half a ledger.
        let tmp = path.with_extension("json.tmp");
        write_public(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))
    }

    fn append_record(&self, ca: &CaKind, record: CertRecord) -> Result<()> {
        let mut ledger = self.load_ledger(ca)?;
        ledger.certs.push(record);
        self.save_ledger(ca, &ledger)
    }
}

/// The subject common names of the certificates in a PEM file (for display).
pub fn ca_subject_names(path: &Path) -> Result<Vec<String>> {
    let certs = crate::read_pem_certs(path)?;
    let mut names = Vec::new();
    for der in &certs {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| PkiError::Invalid(format!("{}: {e}", path.display())))?;
        names.push(cert.subject().to_string());
    }
    Ok(names)
}

/// Parses `ADDR/PREFIX` (or a bare address, meaning a single host).
pub fn parse_cidr(text: &str) -> Result<(IpAddr, u8)> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| PkiError::Invalid(format!("{text} is not an IP address or ADDR/PREFIX range")))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| PkiError::Invalid(format!("{text}: prefix must be 0..={max}")))?,
        None => max,
    };
    Ok((addr, prefix))
}

fn ca_params(common_name: &str, days: u32) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    let (not_before, not_after) = validity(days)?;
    params.not_before = not_before;
    params.not_after = not_after;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let serial = random_serial()?;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(params)
}

fn validity(days: u32) -> Result<(OffsetDateTime, OffsetDateTime)> {
    let now = OffsetDateTime::now_utc();
    // A few minutes of slack for clocks that run behind.
    Ok((now - Duration::minutes(5), now + Duration::days(i64::from(days))))
}

fn random_serial() -> Result<[u8; 16]> {
    let mut serial = [0u8; 16];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut serial)
        .map_err(|_| PkiError::Invalid("no system randomness for a serial number".into()))?;
    // Positive and without a leading zero byte, so the DER encoding is exactly these 16 bytes.
    serial[0] = (serial[0] & 0x7f) | 0x01;
    Ok(serial)
}

fn check_days(days: u32) -> Result<()> {
    if days == 0 || days > 36_500 {
        return Err(PkiError::Invalid("validity must be 1..=36500 days".into()));
    }
    Ok(())
}

fn check_common_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(PkiError::Invalid(format!(
            "{name:?} is not a usable name (1..=64 printable characters)"
        )));
    }
    Ok(())
}

fn check_org_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= ORG_NAME_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if !ok {
        return Err(PkiError::Invalid(format!(
            "organisation name {name:?} must be 1..={ORG_NAME_MAX} lowercase letters, digits or '-'"
        )));
    }
    Ok(())
}

fn check_dns_name(name: &str) -> Result<()> {
    if name.contains('*') {
        return Err(PkiError::Invalid(format!("{name}: wildcard names are not issued")));
    }
    rustls_pki_types::DnsName::try_from(name)
        .map(|_| ())
        .map_err(|_| PkiError::Invalid(format!("{name} is not a valid DNS name")))
}

fn dns_within(name: &str, subtree: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let subtree = subtree.trim_start_matches('.').to_ascii_lowercase();
    name == subtree || name.ends_with(&format!(".{subtree}"))
}

fn ip_within(ip: &IpAddr, net: &IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(*a) & mask == u32::from(*n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(*a) & mask == u128::from(*n) & mask
        }
        _ => false,
    }
}

fn cidr_from_bytes(bytes: &[u8]) -> Option<(IpAddr, u8)> {
    match bytes.len() {
        8 => {
            let addr: [u8; 4] = bytes[..4].try_into().ok()?;
            let mask: [u8; 4] = bytes[4..].try_into().ok()?;
            Some((IpAddr::from(addr), u32::from_be_bytes(mask).leading_ones() as u8))
        }
        32 => {
            let addr: [u8; 16] = bytes[..16].try_into().ok()?;
            let mask: [u8; 16] = bytes[16..].try_into().ok()?;
            Some((IpAddr::from(addr), u128::from_be_bytes(mask).leading_ones() as u8))
        }
        _ => None,
    }
}

fn dn_value_text(value: &rcgen::DnValue) -> String {
    match value {
        rcgen::DnValue::Utf8String(s) => s.clone(),
        rcgen::DnValue::PrintableString(s) => s.as_str().to_string(),
        other => format!("{other:?}"),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return Err(PkiError::Invalid(format!("{text} is not a hex serial")));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|_| PkiError::Invalid(format!("{text} is not hex"))))
        .collect()
}
