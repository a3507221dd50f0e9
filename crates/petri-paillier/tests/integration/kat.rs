//! Vectors produced by phe 1.5.0 (`tests/kat/make_phe_vectors.py`): fixed primes and nonces.

use num_bigint::BigUint;
use petri_paillier::{EncodedNumber, Number, PrivateKey, PublicKey, WireCiphertext};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../kat/phe-1.5.0.json")).expect("vector file is JSON")
}

fn big(v: &Value) -> BigUint {
    let s = v.as_str().expect("string");
    match s.strip_prefix("0x") {
        Some(hex) => BigUint::parse_bytes(hex.as_bytes(), 16).expect("hex"),
        None => s.parse().expect("decimal"),
    }
}

fn keys(v: &Value) -> (PublicKey, PrivateKey) {
    let pk = PublicKey::parse(v["seed_pubkey"].as_str().expect("string")).expect("seed public key");
    assert_eq!(pk.n(), &big(&v["n"]));
    let sk =
        PrivateKey::from_primes_be(&pk, &big(&v["p"]).to_bytes_be(), &big(&v["q"]).to_bytes_be()).expect("private key");
    (pk, sk)
}

fn wire(v: &Value, e: &str) -> WireCiphertext {
    WireCiphertext {
        v: v["v"].as_str().map(str::to_owned).unwrap_or_default(),
        e: v[e].as_i64().expect("exponent"),
        label: None,
    }
}

#[test]
fn encryption_with_fixed_nonces_matches_phe() {
    let v = vectors();
    let (pk, sk) = keys(&v);
    for case in v["encrypt"].as_array().expect("cases") {
        let value: Number = case["value"].as_str().expect("repr").parse().expect("number");
        let encoded = EncodedNumber::encode(&pk, &value, None, None).expect("encodes");
        assert_eq!(
            encoded.exponent(),
            case["e"].as_i64().expect("e"),
            "exponent of {value}"
        );
        let r = big(&case["r"]);
        let c =
            petri_paillier::hazmat::raw_encrypt(&pk, encoded.encoding(), Some(&r), &mut rand::rng()).expect("encrypts");
        assert_eq!(c, big(&case["v"]), "ciphertext of {value}");
        let back = pk.from_wire(&wire(case, "e")).expect("valid ciphertext");
        assert_eq!(sk.decrypt(&back).expect("decrypts"), value);
    }
}

#[test]
fn addition_and_multiplication_match_phe() {
    let v = vectors();
    let (pk, _) = keys(&v);
    let add = &v["add"];
    let a = pk
        .from_wire(&WireCiphertext {
            v: add["a"].as_str().expect("a").into(),
            e: add["ae"].as_i64().expect("ae"),
            label: None,
        })
        .expect("a");
    let b = pk
        .from_wire(&WireCiphertext {
            v: add["b"].as_str().expect("b").into(),
            e: add["be"].as_i64().expect("be"),
            label: None,
        })
        .expect("b");
    let sum = a.add(&b).expect("adds");
    assert_eq!(sum.to_wire_raw(), wire(add, "e"));
    let neg = a.mul_plain(&Number::from(-3)).expect("multiplies");
    assert_eq!(neg.to_wire_raw(), wire(&v["mul_neg"], "e"));
    let half = b.mul_plain(&Number::Float(0.5)).expect("multiplies");
    assert_eq!(half.to_wire_raw(), wire(&v["mul_half"], "e"));
}
