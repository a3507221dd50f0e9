//! Function specs: validation, normalisation, and turning one into a process.

use petri_api::Timestamp;
use petri_api::model::{Attribute, FunctionSpec, Process, attribute_type, state};

use crate::{CoreError, PRIORITY_RANGE, PRIORITY_UNIT_NANOS};

/// Who submitted a process.
#[derive(Debug, Clone, Default)]
pub struct Initiator {
    /// The signer's id.
    pub id: String,
    /// The signer's executor or user name.
    pub name: String,
}

/// Parses a CPU quantity: `""` (none) or `<int>m` millicores.
pub fn parse_cpu_millis(text: &str) -> Option<i64> {
    if text.is_empty() {
        return Some(0);
    }
    text.strip_suffix('m')?.parse().ok().filter(|v: &i64| *v >= 0)
}

/// Parses a memory quantity into MiB: `""` or `<int><unit>` with the units Colonies accepts.
pub fn parse_mem_mib(text: &str) -> Option<i64> {
    if text.is_empty() {
        return Some(0);
    }
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let value: i64 = digits.parse().ok()?;
    const KI: f64 = 1024.0;
    let bytes_per_unit = match unit {
        "Ki" | "KiB" => KI,
        "Mi" | "MiB" => KI * KI,
        "Gi" | "GiB" => KI * KI * KI,
        "Ti" | "TiB" => KI * KI * KI * KI,
        "K" | "KB" | "Kb" => 1e3,
        "M" | "MB" | "Mb" => 1e6,
        "G" | "GB" | "Gb" => 1e9,
        "T" | "TB" | "Tb" => 1e12,
        _ => return None,
    };
    Some((value as f64 * bytes_per_unit / (KI * KI)) as i64)
}

/// Checks a spec's priority and resource quantities, and normalises the
/// quantities to the canonical `<n>m` / `<n>Mi` forms Colonies stores.
pub fn normalize_spec(spec: &mut FunctionSpec) -> Result<(), CoreError> {
    if !PRIORITY_RANGE.contains(&spec.priority) {
        return Err(CoreError::bad_request(
            "Failed to submit function spec, priority outside range [-50000, 50000]",
        ));
    }
    if spec.conditions.executortype.is_empty() {
        return Err(CoreError::bad_request(
            "Failed to submit function spec, conditions.executortype is empty",
        ));
    }
    for (what, text) in [
        ("conditions.executortype", &spec.conditions.executortype),
        ("conditions.colonyname", &spec.conditions.colonyname),
    ] {
        if text.chars().any(char::is_control) || text.len() > 256 {
            return Err(CoreError::bad_request(format!(
                "Failed to submit function spec, invalid {what} {text:?}"
            )));
        }
    }
    let c = &mut spec.conditions;
    let cpu = parse_cpu_millis(&c.cpu).ok_or_else(|| {
        CoreError::bad_request(format!("Failed to parse conditions.cpu {:?}, expected <int>m", c.cpu))
    })?;
    c.cpu = format!("{cpu}m");
    for (field, value) in [
        ("mem", &mut c.mem),
        ("storage", &mut c.storage),
        ("gpu.mem", &mut c.gpu.mem),
    ] {
        let mib = parse_mem_mib(value).ok_or_else(|| {
            CoreError::bad_request(format!(
                "Failed to parse conditions.{field} {value:?}, expected <int><unit> such as 500Mi or 2Gi"
            ))
        })?;
        *value = format!("{mib}Mi");
    }
    Ok(())
}

/// The id of an attribute: deterministic from its target, key and type.
pub(crate) fn attribute_id(target: &str, key: &str, kind: i32) -> String {
    petri_crypto::sha3_hex(format!("{target}{key}{kind}").as_bytes())
}

/// A new waiting process for `spec`, submitted now by `initiator`.
pub fn new_process(spec: FunctionSpec, initiator: &Initiator, now: Timestamp) -> Process {
    let processid = petri_crypto::random_id();
    let now_nanos = now.nanos().unwrap_or(0);
    let attributes = spec
        .env
        .iter()
        .map(|(key, value)| Attribute {
            attributeid: attribute_id(&processid, key, attribute_type::ENV),
            targetid: processid.clone(),
            targetcolonyname: spec.conditions.colonyname.clone(),
            targetprocessgraphid: String::new(),
            state: state::WAITING,
            attributetype: attribute_type::ENV,
            key: key.clone(),
            value: value.clone(),
        })
        .collect();
    Process {
        processid,
        initiatorid: initiator.id.clone(),
        initiatorname: initiator.name.clone(),
        state: state::WAITING,
        prioritytime: now_nanos.saturating_sub(spec.priority.saturating_mul(PRIORITY_UNIT_NANOS)),
        submissiontime: now,
        waitdeadline: if spec.maxwaittime > 0 {
            now.plus_secs(spec.maxwaittime)
        } else {
            Timestamp::UNSET
        },
        attributes,
        input: Some(Vec::new()),
        spec,
        ..Process::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quantities() {
        assert_eq!(parse_cpu_millis(""), Some(0));
        assert_eq!(parse_cpu_millis("1000m"), Some(1000));
        assert_eq!(parse_cpu_millis("1"), None);
        assert_eq!(parse_mem_mib("500Mi"), Some(500));
        assert_eq!(parse_mem_mib("2Gi"), Some(2048));
        assert_eq!(parse_mem_mib("1"), None);
        assert_eq!(parse_mem_mib("1Zi"), None);
    }

    #[test]
    fn normalises_and_rejects() {
        let mut spec = FunctionSpec::default();
        spec.conditions.executortype = "t".into();
        spec.conditions.mem = "1Gi".into();
        normalize_spec(&mut spec).unwrap();
        assert_eq!(spec.conditions.cpu, "0m");
        assert_eq!(spec.conditions.mem, "1024Mi");
        spec.priority = 50_001;
        assert!(normalize_spec(&mut spec).is_err());
        spec.priority = 0;
        spec.conditions.mem = "1".into();
        assert!(normalize_spec(&mut spec).is_err());
    }

    #[test]
    fn priority_is_worth_a_day() {
        let spec = FunctionSpec {
            priority: 2,
            ..FunctionSpec::default()
        };
        let now = Timestamp::from_nanos(1_000 * PRIORITY_UNIT_NANOS);
        let p = new_process(spec, &Initiator::default(), now);
        assert_eq!(p.prioritytime, 998 * PRIORITY_UNIT_NANOS);
    }
}
