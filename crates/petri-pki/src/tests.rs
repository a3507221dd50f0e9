use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConnection, ServerConnection};
use rustls_pki_types::ServerName;

use super::*;
use crate::tls::{TlsFiles, TlsMaterial};

const ALPN: &[&[u8]] = &[b"h2"];

fn org(name: &str, dns: &str) -> OrgRequest {
    OrgRequest {
        name: name.into(),
        dns: vec![dns.into()],
        ip_ranges: vec![parse_cidr("127.0.0.0/8").unwrap()],
        days: 30,
    }
}

fn node(name: &str, dns: &str) -> NodeRequest {
    NodeRequest {
        name: name.into(),
        dns: vec![dns.into()],
        ips: vec!["127.0.0.1".parse().unwrap()],
        days: 30,
    }
}

fn material(pki_dir: &Path, node_dir: &Path, crls: bool) -> TlsMaterial {
    let crls = if crls {
        Pki::open(pki_dir).unwrap().crl_paths().unwrap()
    } else {
        Vec::new()
    };
    TlsMaterial::load(&TlsFiles {
        ca: node_dir.join("ca.pem"),
        cert: node_dir.join("cert.pem"),
        key: node_dir.join("key.pem"),
        crls,
    })
    .unwrap()
}

/// Runs a TLS handshake in memory; the error is the first side's failure.
fn handshake(client: &TlsMaterial, server: &TlsMaterial, name: &str) -> Result<(), rustls::Error> {
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let mut c = ClientConnection::new(client.client_config(ALPN).unwrap(), server_name)?;
    let mut s = ServerConnection::new(server.server_config(ALPN).unwrap())?;
    for _ in 0..20 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            s.read_tls(&mut rd).unwrap();
        }
        s.process_new_packets()?;
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            c.read_tls(&mut rd).unwrap();
        }
        c.process_new_packets()?;
        if !c.is_handshaking() && !s.is_handshaking() {
            // The server learns of a rejected client certificate only after the client's last flight.
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf).unwrap();
            }
            let mut rd = &buf[..];
            while !rd.is_empty() {
                s.read_tls(&mut rd).unwrap();
            }
            s.process_new_packets()?;
            assert!(s.peer_certificates().is_some(), "server saw no client certificate");
            return Ok(());
        }
    }
    panic!("handshake did not finish");
}

struct Fixture {
    _tmp: tempfile::TempDir,
    pki_dir: std::path::PathBuf,
    a: std::path::PathBuf,
    b: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let pki_dir = tmp.path().join("pki");
    let pki = Pki::init(&pki_dir, "test root", 30).unwrap();
    pki.create_org(&org("hospital-a", "a.example")).unwrap();
    pki.create_org(&org("hospital-b", "b.example")).unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    pki.issue_node("hospital-a", &node("node-a", "node.a.example"))
        .unwrap()
        .write_to(&a)
        .unwrap();
    pki.issue_node("hospital-b", &node("node-b", "node.b.example"))
        .unwrap()
        .write_to(&b)
        .unwrap();
    Fixture {
        _tmp: tmp,
        pki_dir,
        a,
        b,
    }
}

#[test]
fn nodes_of_two_organisations_complete_mutual_tls() {
    let f = fixture();
    let a = material(&f.pki_dir, &f.a, true);
    let b = material(&f.pki_dir, &f.b, true);
    handshake(&a, &b, "node.b.example").unwrap();
    handshake(&b, &a, "node.a.example").unwrap();
    handshake(&a, &b, "127.0.0.1").unwrap();
}

#[cfg(unix)]
#[test]
fn private_keys_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let f = fixture();
    for path in [
        f.pki_dir.join("root/ca.key"),
        f.pki_dir.join("orgs/hospital-a/ca.key"),
        f.a.join("key.pem"),
    ] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
    let mode = std::fs::metadata(f.a.join("cert.pem")).unwrap().permissions().mode() & 0o077;
    assert_ne!(mode, 0, "certificates stay readable");
}

#[test]
fn a_node_certificate_from_a_foreign_ca_is_refused() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let foreign = Pki::init(&tmp.path().join("pki"), "foreign root", 30).unwrap();
    foreign.create_org(&org("hospital-a", "a.example")).unwrap();
    let intruder_dir = tmp.path().join("intruder");
    // Same organisation name, same DNS name: only the root differs.
    foreign
        .issue_node("hospital-a", &node("node-a", "node.a.example"))
        .unwrap()
        .write_to(&intruder_dir)
        .unwrap();
    let intruder_own_ca = material(&tmp.path().join("pki"), &intruder_dir, false);
    // The intruder presents its certificate but trusts our root, so only its own chain is foreign.
    let intruder = TlsMaterial::load(&TlsFiles {
        ca: f.a.join("ca.pem"),
        cert: intruder_dir.join("cert.pem"),
        key: intruder_dir.join("key.pem"),
        crls: Vec::new(),
    })
    .unwrap();
    let b = material(&f.pki_dir, &f.b, true);
    let err = handshake(&intruder, &b, "node.b.example").unwrap_err();
    assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err:?}");
    // As a server, the intruder is refused by an honest client.
    let err = handshake(&b, &intruder_own_ca, "node.a.example").unwrap_err();
    assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err:?}");
}

#[test]
fn the_server_name_is_always_checked() {
    let f = fixture();
    let a = material(&f.pki_dir, &f.a, true);
    let b = material(&f.pki_dir, &f.b, true);
    let err = handshake(&a, &b, "node.a.example").unwrap_err();
    assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err:?}");
    let err = handshake(&a, &b, "127.0.0.2").unwrap_err();
    assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err:?}");
}

#[test]
fn organisation_cas_are_name_constrained() {
    let f = fixture();
    let pki = Pki::open(&f.pki_dir).unwrap();
    // The CLI path refuses a name outside the organisation.
    let err = pki.issue_node("hospital-a", &node("x", "node.b.example")).unwrap_err();
    assert!(err.to_string().contains("outside organisation hospital-a"), "{err}");
    let mut outside = node("x", "node.a.example");
    outside.ips = vec!["10.0.0.1".parse::<IpAddr>().unwrap()];
    assert!(pki.issue_node("hospital-a", &outside).is_err());
    // A certificate forged with hospital-a's CA key for hospital-b's name is refused by peers.
    let (issuer, _) = pki.issuer(&CaKind::Org("hospital-a".into())).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["node.b.example".to_string()]).unwrap();
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key, &issuer).unwrap();
    let dir = f._tmp.path().join("forged");
    std::fs::create_dir_all(&dir).unwrap();
    let org_pem = std::fs::read_to_string(f.pki_dir.join("orgs/hospital-a/ca.pem")).unwrap();
    std::fs::write(dir.join("cert.pem"), format!("{}{}", cert.pem(), org_pem)).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::copy(f.a.join("ca.pem"), dir.join("ca.pem")).unwrap();
    let forged = material(&f.pki_dir, &dir, false);
    let a = material(&f.pki_dir, &f.a, true);
    let err = handshake(&a, &forged, "node.b.example").unwrap_err();
    assert!(format!("{err:?}").contains("NameConstraint"), "{err:?}");
}

#[test]
fn a_revoked_certificate_is_refused() {
    let f = fixture();
    let pki = Pki::open(&f.pki_dir).unwrap();
    let (ca, serial) = pki.identify(&f.a.join("cert.pem")).unwrap();
    assert_eq!(ca, CaKind::Org("hospital-a".into()));
    let outcome = pki.revoke(&ca, &serial).unwrap();
    assert!(outcome.record.revoked_at.is_some());
    assert!(pki.revoke(&ca, &serial).is_err(), "revoking twice is an error");
    let a = material(&f.pki_dir, &f.a, true);
    let b = material(&f.pki_dir, &f.b, true);
    let err = handshake(&a, &b, "node.b.example").unwrap_err();
    assert!(format!("{err:?}").contains("Revoked"), "{err:?}");
    let err = handshake(&b, &a, "node.a.example").unwrap_err();
    assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err:?}");
    // Revoking the organisation CA at the root cuts off every node of the organisation.
    let f = fixture();
    let pki = Pki::open(&f.pki_dir).unwrap();
    let org_serial = pki.list(&CaKind::Root).unwrap()[1].serial.clone();
    pki.revoke(&CaKind::Root, &org_serial).unwrap();
    let a = material(&f.pki_dir, &f.a, true);
    let b = material(&f.pki_dir, &f.b, true);
    assert!(handshake(&a, &b, "node.b.example").is_err());
}

#[test]
fn signing_a_request_keeps_the_key_on_the_node_and_decides_the_usages() {
    let f = fixture();
    let pki = Pki::open(&f.pki_dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["edge.a.example".to_string()]).unwrap();
    // A request for a CA certificate gets a leaf certificate.
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    let issued = pki.sign_csr("hospital-a", &csr, 10).unwrap();
    assert!(issued.key_pem.is_none());
    let dir = f._tmp.path().join("edge");
    issued.write_to(&dir).unwrap();
    write_private(&dir.join("key.pem"), key.serialize_pem().as_bytes()).unwrap();
    let edge = material(&f.pki_dir, &dir, true);
    let b = material(&f.pki_dir, &f.b, true);
    handshake(&b, &edge, "edge.a.example").unwrap();
    let certs = read_pem_certs(&dir.join("cert.pem")).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&certs[0]).unwrap();
    assert!(!cert.is_ca());
    // A request for another organisation's name is refused.
    let mut params = rcgen::CertificateParams::new(vec!["edge.b.example".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::NoCa;
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    assert!(pki.sign_csr("hospital-a", &csr, 10).is_err());
    assert!(pki.sign_csr("hospital-a", "not a csr", 10).is_err());
}

#[test]
fn bad_input_gets_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    assert!(Pki::open(&dir).unwrap_err().to_string().contains("no root CA"));
    let pki = Pki::init(&dir, "root", 30).unwrap();
    assert!(matches!(Pki::init(&dir, "root", 30), Err(PkiError::Exists(_))));
    assert!(pki.create_org(&org("Bad Name", "x.example")).is_err());
    assert!(pki.create_org(&org("ok", "not a name")).is_err());
    assert!(pki.create_org(&org("ok", "*.example")).is_err());
    pki.create_org(&org("ok", "ok.example")).unwrap();
    assert!(matches!(
        pki.create_org(&org("ok", "ok.example")),
        Err(PkiError::Exists(_))
    ));
    assert!(pki.issue_node("missing", &node("n", "n.ok.example")).is_err());
    assert!(pki.revoke(&CaKind::Org("ok".into()), "abcd").is_err());
    assert!(parse_cidr("10.0.0.0/33").is_err());
    assert_eq!(parse_cidr("10.1.2.3").unwrap().1, 32);
    assert!(material_fails(&tmp.path().join("nothing")));
}

fn material_fails(dir: &Path) -> bool {
    TlsMaterial::load(&TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        crls: Vec::new(),
    })
    .is_err()
}

#[test]
fn debug_output_never_shows_keys() {
    let f = fixture();
    let pki = Pki::open(&f.pki_dir).unwrap();
    let issued = pki.issue_node("hospital-a", &node("n2", "n2.a.example")).unwrap();
    let key = issued.key_pem.clone().unwrap();
    let shown = format!("{issued:?} {:?}", material(&f.pki_dir, &f.a, false));
    assert!(!shown.contains("PRIVATE KEY") && !shown.contains(key.lines().nth(1).unwrap()));
    let _ = Arc::new(0);
}
