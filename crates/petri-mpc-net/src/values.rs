//! Shares on the wire, in the CipherCore runtime's value shapes.
//!
//! A shared vector of n ring elements travels as a 3-tuple of `u64[n]` arrays (little-endian bytes),
//! type `{"Tuple":[{"Array":[[n],"u64"]}, ×3]}`, in which party i's slots i and i+1 hold its two
//! components and the third slot holds random filler (as CipherCore's runtime does for shared
//! inputs). A data node answers `GetValue` with one named tuple of such 3-tuples, one per value.

use petri_mpc::AShare;

use crate::proto::{BytesValue, TypedValue, Value, VectorValue, value};

/// Little-endian bytes of words.
pub fn words_to_bytes(words: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(words.len() * 8);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

/// Words from little-endian bytes.
pub fn bytes_to_words(bytes: &[u8]) -> Result<Vec<u64>, String> {
    if !bytes.len().is_multiple_of(8) {
        return Err(format!("{} bytes is not a whole number of u64 elements", bytes.len()));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

fn bytes_value(data: Vec<u8>) -> Value {
    Value {
        value: Some(value::Value::Bytes(BytesValue { data })),
    }
}

fn vector_value(values: Vec<Value>) -> Value {
    Value {
        value: Some(value::Value::Vector(VectorValue { value: values })),
    }
}

/// The 3-tuple of party `party`'s view of a shared vector: its components in slots party and
/// party+1, random filler in the third.
pub fn share_tuple(party: usize, share: &AShare) -> Value {
    let (a, b) = share.parts();
    let filler: Vec<u64> = (0..a.len()).map(|_| rand::random()).collect();
    let mut slots: [Vec<u8>; 3] = Default::default();
    slots[party % 3] = words_to_bytes(a);
    slots[(party + 1) % 3] = words_to_bytes(b);
    slots[(party + 2) % 3] = words_to_bytes(&filler);
    vector_value(slots.into_iter().map(bytes_value).collect())
}

/// Type JSON of a 3-tuple of `u64[n]`.
pub fn share_tuple_type(n: usize) -> serde_json::Value {
    let array = serde_json::json!({"Array": [[n], "u64"]});
    serde_json::json!({"Tuple": [array, array, array]})
}

/// Party `party`'s share from a 3-tuple.
pub fn tuple_to_share(party: usize, value: &Value) -> Result<AShare, String> {
    let Some(value::Value::Vector(v)) = &value.value else {
        return Err("expected a 3-tuple of shares".into());
    };
    if v.value.len() != 3 {
        return Err(format!("expected a 3-tuple of shares, got {} elements", v.value.len()));
    }
    let slot = |i: usize| -> Result<Vec<u64>, String> {
        match &v.value[i % 3].value {
            Some(value::Value::Bytes(b)) => bytes_to_words(&b.data),
            _ => Err("a share slot is not a byte array".into()),
        }
    };
    AShare::from_parts(slot(party)?, slot(party + 1)?).map_err(|e| e.to_string())
}

/// A data node's answer for party `party`: a named tuple of 3-tuples.
pub fn named_shares(party: usize, values: &[(String, AShare)]) -> TypedValue {
    let fields: Vec<serde_json::Value> = values
        .iter()
        .map(|(name, s)| serde_json::json!([name, share_tuple_type(s.len())]))
        .collect();
    TypedValue {
        value: Some(vector_value(
            values.iter().map(|(_, s)| share_tuple(party, s)).collect(),
        )),
        type_json: serde_json::json!({ "NamedTuple": fields }).to_string(),
    }
}

/// Reads a data node's answer: (name, party's share) for each value.
pub fn read_named_shares(party: usize, typed: &TypedValue) -> Result<Vec<(String, AShare)>, String> {
    let ty: serde_json::Value =
        serde_json::from_str(&typed.type_json).map_err(|e| format!("type_json is not JSON: {e}"))?;
    let fields = ty
        .get("NamedTuple")
        .and_then(|f| f.as_array())
        .ok_or("expected a NamedTuple of shared values")?;
    let Some(Value {
        value: Some(value::Value::Vector(v)),
    }) = &typed.value
    else {
        return Err("expected a vector value".into());
    };
    if v.value.len() != fields.len() {
        return Err(format!(
            "type names {} values but the value has {}",
            fields.len(),
            v.value.len()
        ));
    }
    fields
        .iter()
        .zip(&v.value)
        .map(|(field, value)| {
            let name = field
                .get(0)
                .and_then(|n| n.as_str())
                .ok_or("a NamedTuple field has no name")?;
            Ok((name.to_string(), tuple_to_share(party, value)?))
        })
        .collect()
}
