use petri_paillier::wire::collect_ciphertexts;
use petri_paillier::{Number, PrivateKey, PublicKey};
use serde_json::json;

use crate::{rng, small_keys};

#[test]
fn public_key_shapes() {
    let pk = &small_keys().public;
    let n = pk.n().to_string();
    // The minimum size for parsed keys is 1024 bits, so use a 1024-bit modulus here.
    let big = crate::keys_2048();
    let shapes = [
        big.public.to_seed_base64(),
        big.public.to_phe_json(),
        format!("{{\"public_key\": {}, \"values\": []}}", big.public.to_phe_json()),
        big.public.to_jwk("test").to_string(),
        big.public.n().to_string(),
        base64_urlsafe(&format!("{{\"n\": \"{}\"}}", big.public.n())),
    ];
    for s in shapes {
        assert_eq!(PublicKey::parse(&s).expect("parses"), big.public, "{s}");
    }
    assert!(PublicKey::parse(&n).is_err(), "512-bit keys are refused from outside");
    // An odd modulus over the 8192-bit cap (a data owner would spend hours per encryption).
    let huge = (num_bigint::BigUint::from(1u32) << 8200u32) + 1u32;
    let e = PublicKey::parse(&huge.to_string()).unwrap_err().to_string();
    assert!(e.contains("more than 8192"), "{e}");
    let bad_g = format!("{{\"g\": 5, \"n\": {}}}", big.public.n());
    assert!(PublicKey::parse(&bad_g).is_err());
    for bad in ["", "{}", "hello", "{\"n\": \"12a\"}", "[1,2]"] {
        assert!(PublicKey::parse(bad).is_err(), "{bad:?}");
    }
}

fn base64_urlsafe(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[test]
fn private_jwk_round_trip() {
    let k = crate::keys_2048();
    let text = k.private.to_jwk("test");
    let back = PrivateKey::from_jwk(&text).expect("parses");
    assert_eq!(back.public_key(), &k.public);
    let mut r = rng(6);
    let c = k.public.encrypt(&Number::from(42), None, &mut r).unwrap();
    assert_eq!(back.decrypt(&c).unwrap(), Number::from(42));
    assert!(PrivateKey::from_jwk("{\"kty\": \"RSA\", \"p\": \"AQ\", \"q\": \"AQ\", \"pub\": {}}").is_err());
    assert!(PrivateKey::from_jwk("not json").is_err());
}

#[test]
fn ciphertext_shapes() {
    let k = small_keys();
    let mut r = rng(7);
    let mut c = k.public.encrypt(&Number::Float(2.5), None, &mut r).unwrap();
    let w = c.to_wire(&mut r);
    let v = w.v.clone();
    let e = w.e;
    let shapes = [
        json!({"v": v, "e": e}),
        json!([v, e]),
        json!({"public_key": {"n": "1"}, "values": [[v, e]]}),
        json!([{"v": v, "e": e}]),
        json!(json!({"v": v, "e": e}).to_string()),
    ];
    for s in shapes {
        let got = collect_ciphertexts(&s).expect("collects");
        assert_eq!(got.len(), 1, "{s}");
        assert_eq!((got[0].v.as_str(), got[0].e), (v.as_str(), e));
    }
    for bad in [
        json!(5),
        json!({"v": 5, "e": 0}),
        json!({"v": "1", "e": "x"}),
        json!("not base64!"),
    ] {
        assert!(collect_ciphertexts(&bad).is_err(), "{bad}");
    }
    let labelled = collect_ciphertexts(&json!([{"v": "7", "e": 0, "label": "count"}])).unwrap();
    assert_eq!(labelled[0].label.as_deref(), Some("count"));
}
