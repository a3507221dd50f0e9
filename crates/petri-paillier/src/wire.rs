//! The JSON shapes keys and ciphertexts travel in, as found around phe 1.5.0:
//!
//! - public key: the seed's base64 of `{"n": "<decimal>"}`; phe's documented
//!   `{"g": <int>, "n": <int>}` (bare JSON numbers, optionally inside `{"public_key": ...}`);
//!   pheutil's JWK `{"kty": "DAJ", "alg": "PAI-GN1", "n": "<base64url>"}`; or n in decimal;
//! - private key: pheutil's JWK `{"kty": "DAJ", "key_ops": ["decrypt"], "p", "q", "pub"}`;
//! - ciphertext: `{"v": "<decimal>", "e": <exponent>}` (pheutil), or `["<decimal>", <exponent>]`
//!   (phe's documented "basic JSON", whose `values` list holds such pairs).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use num_bigint::BigUint;
use num_traits::Num;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::{EncryptedNumber, Error, PrivateKey, PublicKey, Result};

/// A ciphertext as pheutil writes it: `{"v": "<decimal ciphertext>", "e": <exponent>}`, with an
/// optional `label` petri's executors use to tell sums from counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireCiphertext {
    /// The ciphertext in decimal.
    pub v: String,
    /// The exponent of the encoding.
    pub e: i64,
    /// What the value is (`"sum"`, `"count"`, ...); absent for a plain value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl WireCiphertext {
    /// The ciphertext as a number.
    pub fn value(&self) -> Result<BigUint> {
        parse_decimal(&self.v).map_err(|_| Error::InvalidCiphertext("\"v\" must be a decimal string".into()))
    }

    /// As a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn parse_decimal(s: &str) -> std::result::Result<BigUint, ()> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    BigUint::from_str_radix(s, 10).map_err(|_| ())
}

const ENGINES: [GeneralPurpose; 4] = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD];

/// Decodes standard or URL-safe base64, padded or not.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    ENGINES.iter().find_map(|e| e.decode(s).ok())
}

fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JSON integer that may be a bare number of any size or a decimal string.
fn raw_integer(raw: &RawValue, what: &str) -> Result<BigUint> {
    let text = raw.get().trim();
    let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    parse_decimal(text).map_err(|_| Error::InvalidPublicKey(format!("{what} is not a non-negative integer")))
}

fn raw_str(raw: &RawValue) -> Option<String> {
    serde_json::from_str::<String>(raw.get()).ok()
}

impl PublicKey {
    /// Reads a public key in any of the shapes listed in the module documentation.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        if t.is_empty() {
            return Err(Error::InvalidPublicKey("empty".into()));
        }
        if t.starts_with('{') {
            return Self::from_json(t);
        }
        if let Ok(n) = parse_decimal(t) {
            return Self::from_n(n);
        }
        if let Some(bytes) = decode_base64(t)
            && let Ok(inner) = String::from_utf8(bytes)
            && inner.trim_start().starts_with('{')
        {
            return Self::from_json(&inner);
        }
        Err(Error::InvalidPublicKey(
            "expected base64 of {\"n\": ...}, phe JSON, a JWK or a decimal n".into(),
        ))
    }

    fn from_json(text: &str) -> Result<Self> {
        let map: BTreeMap<String, Box<RawValue>> =
            serde_json::from_str(text).map_err(|e| Error::InvalidPublicKey(format!("not a JSON object: {e}")))?;
        if let Some(inner) = map.get("public_key").or_else(|| map.get("pub")) {
            return Self::from_json(inner.get());
        }
        let n_raw = map
            .get("n")
            .ok_or_else(|| Error::InvalidPublicKey("no \"n\" field".into()))?;
        let kty = map.get("kty").and_then(|k| raw_str(k));
        let n = if kty.as_deref() == Some("DAJ") {
            let s = raw_str(n_raw).ok_or_else(|| Error::InvalidPublicKey("JWK \"n\" must be a string".into()))?;
            let bytes =
                decode_base64(&s).ok_or_else(|| Error::InvalidPublicKey("JWK \"n\" is not base64url".into()))?;
            BigUint::from_bytes_be(&bytes)
        } else {
            raw_integer(n_raw, "\"n\"")?
        };
        if let Some(g) = map.get("g") {
            let g = raw_integer(g, "\"g\"")?;
            if g != &n + 1u32 {
                return Err(Error::InvalidPublicKey("g must be n + 1".into()));
            }
        }
        Self::from_n(n)
    }

    /// The seed's wrapper: base64 of `{"n": "<decimal>"}` (as Python's `json.dumps` writes it).
    pub fn to_seed_base64(&self) -> String {
        STANDARD.encode(format!("{{\"n\": \"{}\"}}", self.n()))
    }

    /// phe's documented JSON: `{"g": <int>, "n": <int>}` with bare numbers.
    pub fn to_phe_json(&self) -> String {
        format!("{{\"g\": {}, \"n\": {}}}", self.g(), self.n())
    }

    /// pheutil's JWK.
    pub fn to_jwk(&self, kid: &str) -> Value {
        serde_json::json!({
            "kty": "DAJ",
            "alg": "PAI-GN1",
            "key_ops": ["encrypt"],
            "n": base64url(&self.n().to_bytes_be()),
            "kid": kid,
        })
    }

    /// A ciphertext in `{"v", "e"}` form, checked against this key.
    pub fn from_wire(&self, w: &WireCiphertext) -> Result<EncryptedNumber> {
        self.ciphertext_from(&w.value()?, w.e)
    }
}

#[derive(Deserialize)]
struct PrivateJwk {
    kty: String,
    #[serde(default)]
    key_ops: Vec<String>,
    p: String,
    q: String,
    #[serde(rename = "pub")]
    public: Box<RawValue>,
}

impl PrivateKey {
    /// Reads pheutil's private JWK (`{"kty": "DAJ", "key_ops": ["decrypt"], "p", "q", "pub"}`).
    pub fn from_jwk(text: &str) -> Result<Self> {
        let jwk: PrivateJwk = serde_json::from_str(text.trim())
            .map_err(|e| Error::InvalidPrivateKey(format!("not a Paillier private JWK: {e}")))?;
        if jwk.kty != "DAJ" || (!jwk.key_ops.is_empty() && !jwk.key_ops.iter().any(|o| o == "decrypt")) {
            return Err(Error::InvalidPrivateKey(
                "expected kty \"DAJ\" with key_ops [\"decrypt\"]".into(),
            ));
        }
        let public = PublicKey::parse(jwk.public.get())?;
        let p = Zeroizing::new(
            decode_base64(&jwk.p).ok_or_else(|| Error::InvalidPrivateKey("\"p\" is not base64url".into()))?,
        );
        let q = Zeroizing::new(
            decode_base64(&jwk.q).ok_or_else(|| Error::InvalidPrivateKey("\"q\" is not base64url".into()))?,
        );
        let key = Self::from_primes_be(&public, &p, &q);
        let mut jwk = jwk;
        zeroize::Zeroize::zeroize(&mut jwk.p);
        zeroize::Zeroize::zeroize(&mut jwk.q);
        key
    }

    /// pheutil's private JWK. The returned text holds the secret primes: wipe it after use.
    pub fn to_jwk(&self, kid: &str) -> Zeroizing<String> {
        let p = self.p_be();
        let q = self.q_be();
        let value = serde_json::json!({
            "kty": "DAJ",
            "key_ops": ["decrypt"],
            "p": base64url(&p),
            "q": base64url(&q),
            "pub": self.public_key().to_jwk(kid),
            "kid": kid,
        });
        Zeroizing::new(value.to_string())
    }
}

impl EncryptedNumber {
    /// The `{"v", "e"}` form, re-randomising first if the value has not been since it was
    /// computed (phe's `ciphertext()` with `be_secure=True`).
    pub fn to_wire<R: CryptoRng + RngCore + ?Sized>(&mut self, rng: &mut R) -> WireCiphertext {
        let v = self.ciphertext_secure(rng).to_string();
        WireCiphertext {
            v,
            e: self.exponent(),
            label: None,
        }
    }

    /// The `{"v", "e"}` form of the value as it is, without re-randomising. Only for values that
    /// are already obfuscated, or for tests that compare exact results with phe.
    pub fn to_wire_raw(&self) -> WireCiphertext {
        WireCiphertext {
            v: self.ciphertext().to_string(),
            e: self.exponent(),
            label: None,
        }
    }
}

/// Parses JSON text in which some fields (phe's `public_key` with bare big numbers) may not fit
/// a JSON value: an object whose fields do not all parse keeps the fields that do.
pub fn parse_json_lenient(text: &str) -> Result<Value> {
    let text = text.trim();
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(v);
    }
    let map: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(text).map_err(|e| Error::InvalidCiphertext(format!("invalid JSON: {e}")))?;
    let kept = map
        .into_iter()
        .filter_map(|(k, raw)| serde_json::from_str::<Value>(raw.get()).ok().map(|v| (k, v)))
        .collect();
    Ok(Value::Object(kept))
}

/// Every ciphertext found in a JSON value: `{"v", "e"[, "label"]}` objects, `["<decimal>", e]`
/// pairs, phe's `{"public_key": ..., "values": [...]}`, arrays of any of these, and strings that
/// hold any of these as JSON (or as base64 of JSON).
pub fn collect_ciphertexts(value: &Value) -> Result<Vec<WireCiphertext>> {
    let mut out = Vec::new();
    collect(value, &mut out, 0)?;
    Ok(out)
}

fn collect(value: &Value, out: &mut Vec<WireCiphertext>, depth: usize) -> Result<()> {
    if depth > 16 {
        return Err(Error::InvalidCiphertext("nested too deeply".into()));
    }
    let bad = |what: &str| Error::InvalidCiphertext(what.to_owned());
    match value {
        Value::Object(map) if map.contains_key("v") => {
            let v = map
                .get("v")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("\"v\" must be a decimal string"))?;
            let e = map
                .get("e")
                .and_then(Value::as_i64)
                .ok_or_else(|| bad("\"e\" must be an integer"))?;
            let label = map.get("label").and_then(Value::as_str).map(str::to_owned);
            out.push(WireCiphertext {
                v: v.to_owned(),
                e,
                label,
            });
        }
        Value::Object(map) if map.contains_key("values") => {
            collect(&map["values"], out, depth + 1)?;
        }
        Value::Array(items) => {
            if let [Value::String(v), Value::Number(e)] = items.as_slice()
                && let Some(e) = e.as_i64()
            {
                out.push(WireCiphertext {
                    v: v.clone(),
                    e,
                    label: None,
                });
                return Ok(());
            }
            for item in items {
                collect(item, out, depth + 1)?;
            }
        }
        Value::String(s) => {
            let t = s.trim();
            if t.starts_with('{') || t.starts_with('[') {
                let inner = parse_json_lenient(t).map_err(|_| bad("a string holds invalid JSON"))?;
                return collect(&inner, out, depth + 1);
            }
            if parse_decimal(t).is_ok() {
                out.push(WireCiphertext {
                    v: t.to_owned(),
                    e: 0,
                    label: None,
                });
                return Ok(());
            }
            let bytes = decode_base64(t).ok_or_else(|| bad("a string is neither JSON, base64 nor decimal"))?;
            let inner: Value = serde_json::from_slice(&bytes).map_err(|_| bad("base64 string does not hold JSON"))?;
            return collect(&inner, out, depth + 1);
        }
        _ => return Err(bad("expected {\"v\", \"e\"}, [\"<decimal>\", e] or a list of them")),
    }
    Ok(())
}
