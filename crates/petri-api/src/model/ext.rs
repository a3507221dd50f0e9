//! Objects of the extended surface: crons, generators, files, snapshots,
//! channel entries and blueprints (protocol reference, sections 4.8 to 4.12 and 5.11).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Timestamp;
use crate::lenient;

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_empty_str(s: &str) -> bool {
    s.is_empty()
}

lenient!(
    /// A workflow submitted on a schedule: a cron expression with seconds, or an interval.
    Cron {
        cronid: String,
        initiatorid: String,
        initiatorname: String,
        colonyname: String,
        name: String,
        cronexpression: String,
        interval: i64,
        random: bool,
        nextrun: Timestamp,
        lastrun: Timestamp,
        workflowspec: String,
        prevprocessgraphid: String,
        waitforprevprocessgraph: bool,
        checkerperiod: i64,
    }
);

lenient!(
    /// A workflow submitted once enough arguments are packed, or after a timeout.
    Generator {
        generatorid: String,
        initiatorid: String,
        initiatorname: String,
        colonyname: String,
        name: String,
        workflowspec: String,
        trigger: i64,
        timeout: i64,
        firstpack: Timestamp,
        lastrun: Timestamp,
        queuesize: i64,
        checkerperiod: i64,
    }
);

lenient!(
    /// Where a file's bytes live in an S3-compatible object store.
    S3Object {
        server: String,
        port: i64,
        tls: bool,
        accesskey: String,
        secretkey: String,
        region: String,
        encryptionkey: String,
        encryptionalg: String,
        object: String,
        bucket: String,
    }
);

lenient!(
    /// A reference to a file's bytes.
    FileRef { protocol: String, s3object: S3Object }
);

lenient!(
    /// File metadata; the bytes are in the object store `ref` names.
    File {
        fileid: String,
        colonyname: String,
        label: String,
        name: String,
        size: i64,
        sequencenr: i64,
        checksum: String,
        checksumalg: String,
        #[serde(rename = "ref")]
        reference: FileRef,
        added: Timestamp,
    }
);

lenient!(
    /// The latest version of a file under a label, as `getfilesmsg` lists it.
    FileData { name: String, checksum: String, size: i64, s3filename: String }
);

lenient!(
    /// A file label and how many file versions carry it.
    Label { name: String, files: i64 }
);

lenient!(
    /// The file versions under a label at one moment.
    Snapshot {
        snapshotid: String,
        colonyname: String,
        label: String,
        name: String,
        fileids: Option<Vec<String>>,
        added: Timestamp,
    }
);

/// Bytes of a channel message. Written as base64 text; read from base64 text
/// or from an array of byte values (pycolonies sends the latter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload(pub Vec<u8>);

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Bytes(Vec<u8>),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(Payload::default()),
            Some(Raw::Bytes(b)) => Ok(Payload(b)),
            Some(Raw::Text(t)) => STANDARD
                .decode(t.as_bytes())
                .map(Payload)
                .map_err(|e| serde::de::Error::custom(format!("payload is not base64: {e}"))),
        }
    }
}

lenient!(
    /// One message of a process channel.
    MsgEntry {
        sequence: i64,
        #[serde(skip_serializing_if = "is_zero")]
        inreplyto: i64,
        timestamp: Timestamp,
        senderid: String,
        payload: Payload,
        #[serde(rename = "type", skip_serializing_if = "is_empty_str")]
        kind: String,
        #[serde(skip_serializing_if = "is_empty_str")]
        error: String,
    }
);

/// Metadata shared by blueprints and blueprint definitions. Fields petri does
/// not interpret are kept as they were sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlueprintMetadata {
    #[serde(deserialize_with = "crate::nullable")]
    pub name: String,
    #[serde(deserialize_with = "crate::nullable")]
    pub colonyname: String,
    #[serde(deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub locationname: String,
    #[serde(deserialize_with = "crate::nullable")]
    pub generation: i64,
    #[serde(rename = "createdAt", deserialize_with = "crate::nullable")]
    pub created_at: Timestamp,
    #[serde(rename = "updatedAt", deserialize_with = "crate::nullable")]
    pub updated_at: Timestamp,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A declarative desired-state object of a kind some definition declares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Blueprint {
    #[serde(deserialize_with = "crate::nullable")]
    pub blueprintid: String,
    #[serde(deserialize_with = "crate::nullable")]
    pub kind: String,
    #[serde(deserialize_with = "crate::nullable")]
    pub metadata: BlueprintMetadata,
    #[serde(deserialize_with = "crate::nullable")]
    pub spec: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Declares a blueprint kind (`spec.names.kind`), optionally with a schema
/// for its spec and a handler that reconciles its blueprints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlueprintDefinition {
    #[serde(deserialize_with = "crate::nullable")]
    pub blueprintdefinitionid: String,
    #[serde(deserialize_with = "crate::nullable")]
    pub kind: String,
    #[serde(deserialize_with = "crate::nullable")]
    pub metadata: BlueprintMetadata,
    #[serde(deserialize_with = "crate::nullable")]
    pub spec: Map<String, Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl BlueprintDefinition {
    /// The kind of blueprint this definition declares (`spec.names.kind`).
    pub fn declared_kind(&self) -> &str {
        self.spec
            .get("names")
            .and_then(|n| n.get("kind"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The handler's executor type and function name, when both are set.
    pub fn handler(&self) -> Option<(&str, &str)> {
        let h = self.spec.get("handler")?;
        let t = h.get("executorType").and_then(Value::as_str).unwrap_or("");
        let f = h.get("functionName").and_then(Value::as_str).unwrap_or("");
        (!t.is_empty() && !f.is_empty()).then_some((t, f))
    }

    /// The schema blueprints of this kind must satisfy, when there is one.
    pub fn schema(&self) -> Option<&Value> {
        self.spec.get("schema").filter(|s| !s.is_null())
    }
}

/// One recorded version of a blueprint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlueprintHistory {
    #[serde(deserialize_with = "crate::nullable")]
    pub historyid: String,
    #[serde(deserialize_with = "crate::nullable")]
    pub blueprintid: String,
    #[serde(deserialize_with = "crate::nullable")]
    pub kind: String,
    #[serde(deserialize_with = "crate::nullable")]
    pub namespace: String,
    #[serde(deserialize_with = "crate::nullable")]
    pub name: String,
    #[serde(deserialize_with = "crate::nullable")]
    pub generation: i64,
    #[serde(deserialize_with = "crate::nullable")]
    pub spec: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Map<String, Value>>,
    #[serde(deserialize_with = "crate::nullable")]
    pub timestamp: Timestamp,
    #[serde(deserialize_with = "crate::nullable")]
    pub changedby: String,
    #[serde(deserialize_with = "crate::nullable")]
    pub changetype: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_reads_bytes_and_base64_and_writes_base64() {
        let e: MsgEntry = serde_json::from_str(r#"{"sequence":1,"payload":[104,105],"extra":1}"#).unwrap();
        assert_eq!(e.payload.0, b"hi");
        let e: MsgEntry = serde_json::from_str(r#"{"payload":"aGk=","inreplyto":null}"#).unwrap();
        assert_eq!(e.payload.0, b"hi");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["payload"], "aGk=");
        assert!(json.get("inreplyto").is_none() && json.get("type").is_none());
        assert!(serde_json::from_str::<MsgEntry>(r#"{"payload":"***"}"#).is_err());
    }

    #[test]
    fn blueprints_keep_unknown_fields_and_drop_missing_status() {
        let text = r#"{"kind":"K","metadata":{"name":"b","colonyname":"c","labels":{"a":"b"}},
                       "handler":{"executortype":"x"},"spec":{"power":false},"status":null}"#;
        let b: Blueprint = serde_json::from_str(text).unwrap();
        assert_eq!(b.metadata.extra["labels"]["a"], "b");
        assert_eq!(b.extra["handler"]["executortype"], "x");
        let json = serde_json::to_value(&b).unwrap();
        assert!(json.get("status").is_none());
        assert_eq!(json["handler"]["executortype"], "x");
        assert_eq!(json["spec"]["power"], false);
    }

    #[test]
    fn definitions_expose_kind_handler_and_schema() {
        let d: BlueprintDefinition = serde_json::from_str(
            r#"{"kind":"K","metadata":{"name":"d","colonyname":"c"},
                "spec":{"names":{"kind":"Lamp"},"handler":{"executorType":"r","functionName":"reconcile"}}}"#,
        )
        .unwrap();
        assert_eq!(d.declared_kind(), "Lamp");
        assert_eq!(d.handler(), Some(("r", "reconcile")));
        assert!(d.schema().is_none());
    }

    #[test]
    fn file_ref_is_named_ref() {
        let f: File =
            serde_json::from_str(r#"{"ref":{"protocol":"s3","s3object":{"bucket":"b","port":9000}}}"#).unwrap();
        assert_eq!(f.reference.s3object.bucket, "b");
        assert_eq!(serde_json::to_value(&f).unwrap()["ref"]["s3object"]["port"], 9000);
    }
}
