use super::*;
use proptest::prelude::*;

// Known-answer vectors from the protocol reference (computed with the
// pycolonies signer and cross-checked with an independent implementation).
const ID_VECTORS: &[(&str, &str)] = &[
    (
        "fcc79953d8a751bf41db661592dc34d30004b1a651ffa0725b03ac227641499d",
        "039231c7644e04b6895471dd5335cf332681c54e27f81fac54f9067b3f2c0103",
    ),
    (
        "ba949fa134981372d6da62b6a56f336ab4d843b22c02a4257dcf7d0d73097514",
        "4787a5071856a4acf702b2ffcea422e3237a679c681314113d86139461290cf4",
    ),
    (
        "ddf7f7791208083b6a9ed975a72684f6406a269cfa36f1b1c32045c0a71fff05",
        "3fc05cf3df4b494e95d6a3d297a34f19938f7daa7422ab0d4f794454133341ac",
    ),
    (
        "6d2fb6f546bacfd98c68769e61e0b44a697a30596c018a50e28200aa59b01c0a",
        "4fef2b5a82d134d058c1883c72d6d9caf77cd59ca82d73105017590dea3dcb87",
    ),
    (
        "d6eb959e9aec2e6fdc44b5862b269e987b8a4d6f2baca542d8acaa97ee5e74f6",
        "5d6568f883451ae2e407d1a0a7992e414f2a67b69d0e6e9176d353b98f06f696",
    ),
];

#[test]
fn ids_match_vectors() {
    for (prv, id) in ID_VECTORS {
        assert_eq!(PrivateKey::from_hex(prv).unwrap().id(), *id);
    }
}

#[test]
fn public_key_matches_vector() {
    let key = PrivateKey::from_hex("6d2fb6f546bacfd98c68769e61e0b44a697a30596c018a50e28200aa59b01c0a").unwrap();
    assert_eq!(
        key.public_key_hex(),
        "0408e903276ee7973666dceeefa5335e5c4b6b5989821906db98f8de8acf8f853824ca3234a8602200baa2d75f30cb2050cda18602824c3eb2da654a93a01a7ad4"
    );
}

#[test]
fn sha3_vectors() {
    assert_eq!(
        sha3_hex(b"hello world"),
        "644bcc7e564373040999aac89e7622f3ca71fba1d972fd94a31c3bfbf24e3938"
    );
    assert_eq!(
        sha3_hex(b"hello"),
        "3338be694f50c5f338814986cdf0686453a888b84f424d792af4b9202398f392"
    );
    assert_eq!(
        sha3_hex(b"eyJtc2d0eXBlIjogImdldGNvbG9ueW1zZyIsICJjb2xvbnluYW1lIjogImRldiJ9"),
        "de30083d05c544adc44be53d27ceeaed6f4dbd85d37714f0d6514c3f8a81ad7d"
    );
}

#[test]
fn signature_is_deterministic_and_matches_pycolonies() {
    let key = PrivateKey::from_hex("d6eb959e9aec2e6fdc44b5862b269e987b8a4d6f2baca542d8acaa97ee5e74f6").unwrap();
    let sig = key.sign("hello");
    assert_eq!(
        sig,
        "e713a1bb015fecabb5a084b0fe6d6e7271fca6f79525a634183cfdb175fe69241f4da161779d8e6b761200e1cf93766010a19072fa778f9643363e2cfadd640900"
    );
    assert_eq!(
        recover_id("hello", &sig).unwrap(),
        "5d6568f883451ae2e407d1a0a7992e414f2a67b69d0e6e9176d353b98f06f696"
    );
}

#[test]
fn recovers_signature_with_other_nonce() {
    let sig = "997eca36736d465e0e8d64e6d657ff4c939c8f5cad4272797ea0fe372bfd8d0953d21b3d06ded5dd80aee8cfa3a9be7ce615ce690eb64184fe15962943fe541300";
    assert_eq!(
        recover_id("hello", sig).unwrap(),
        "5d6568f883451ae2e407d1a0a7992e414f2a67b69d0e6e9176d353b98f06f696"
    );
}

const ENVELOPE_PAYLOAD: &str = "eyJtc2d0eXBlIjogImdldGNvbG9ueW1zZyIsICJjb2xvbnluYW1lIjogImRldiJ9";

#[test]
fn recovers_envelope_vector() {
    let sig = "c7f3e05a972b20e3986201f12cc33a03921b5b3a900c9203541cefe7f8c7b79220a19521a852fbb950469677584638f3130003e87fe5a3ab051c71bd3c0113d900";
    assert_eq!(
        recover_id(ENVELOPE_PAYLOAD, sig).unwrap(),
        "3fc05cf3df4b494e95d6a3d297a34f19938f7daa7422ab0d4f794454133341ac"
    );
    let key = PrivateKey::from_hex("ddf7f7791208083b6a9ed975a72684f6406a269cfa36f1b1c32045c0a71fff05").unwrap();
    assert_eq!(key.sign(ENVELOPE_PAYLOAD), sig);
}

#[test]
fn rejects_high_s() {
    let sig = "c7f3e05a972b20e3986201f12cc33a03921b5b3a900c9203541cefe7f8c7b792df5e6ade57ad0446afb96988a7b9c70ba7aed8fe2f62fc90bab5eccf94352d6801";
    assert_eq!(recover_id(ENVELOPE_PAYLOAD, sig), Err(CryptoError::HighS));
}

#[test]
fn server_signed_addcolony_vector() {
    let payload = "eyJtc2d0eXBlIjogImFkZGNvbG9ueW1zZyIsICJjb2xvbnkiOiB7ImNvbG9ueWlkIjogIjQ3ODdhNTA3MTg1NmE0YWNmNzAyYjJmZmNlYTQyMmUzMjM3YTY3OWM2ODEzMTQxMTNkODYxMzk0NjEyOTBjZjQiLCAibmFtZSI6ICJkZXYifX0=";
    let sig = "16b6802a133564361dca5a32dedfb3cbccfd829f5dc10cd2ddd1015622f11ab640a0aba5f009623be702cb01f166b976fc0855d072000526adcd521beb639f6a00";
    assert_eq!(
        recover_id(payload, sig).unwrap(),
        "039231c7644e04b6895471dd5335cf332681c54e27f81fac54f9067b3f2c0103"
    );
}

#[test]
fn rejects_malformed_signatures() {
    assert_eq!(recover_id("x", ""), Err(CryptoError::SignatureLength));
    assert_eq!(recover_id("x", "zz"), Err(CryptoError::SignatureEncoding));
    assert_eq!(recover_id("x", &"00".repeat(64)), Err(CryptoError::SignatureLength));
    assert!(recover_id("x", &"00".repeat(65)).is_err());
    let mut bad_v = "11".repeat(64);
    bad_v.push_str("07");
    assert!(recover_id("x", &bad_v).is_err());
}

#[test]
fn rejects_bad_private_keys() {
    assert!(PrivateKey::from_hex("").is_err());
    assert!(PrivateKey::from_hex(&"0".repeat(64)).is_err());
    assert!(PrivateKey::from_hex(&"g".repeat(64)).is_err());
    assert!(PrivateKey::from_hex(&"f".repeat(64)).is_err());
}

#[test]
fn debug_does_not_leak_secret() {
    let key = PrivateKey::generate();
    assert!(!format!("{key:?}").contains(key.to_hex().as_str()));
}

proptest! {
    #[test]
    fn sign_then_recover_round_trips(payload in ".{0,200}") {
        let key = PrivateKey::generate();
        let sig = key.sign(&payload);
        prop_assert_eq!(recover_id(&payload, &sig).unwrap(), key.id());
    }

    #[test]
    fn tampered_payload_recovers_other_id(payload in "[a-z]{1,50}") {
        let key = PrivateKey::generate();
        let sig = key.sign(&payload);
        let tampered = format!("{payload}x");
        prop_assert_ne!(recover_id(&tampered, &sig).ok(), Some(key.id()));
    }
}
