//! Rules of the extended surface, free of IO: when crons and generators fire
//! and what they submit, where a channel message goes in its log, how
//! blueprints are validated and versioned, which files a snapshot takes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use petri_api::Timestamp;
use petri_api::model::{Blueprint, Cron, Generator, Process, ProcessGraph, WorkflowSpec};
use serde_json::{Map, Value};

use crate::{CoreError, Initiator, build_workflow};

/// Longest interval a cron may have (one year), so next-run arithmetic never overflows.
const MAX_INTERVAL_SECS: i64 = 366 * 86_400;

/// Parses a workflow spec sent as JSON text (crons and generators carry it so),
/// checks it builds, and puts it in `colony`.
pub fn parse_workflow_spec(text: &str, colony: &str) -> Result<WorkflowSpec, CoreError> {
    let mut spec: WorkflowSpec = serde_json::from_str(text)
        .map_err(|e| CoreError::bad_request(format!("Failed to parse workflow spec, invalid JSON: {e}")))?;
    if !spec.colonyname.is_empty() && spec.colonyname != colony {
        return Err(CoreError::bad_request(format!(
            "The workflow spec is for colony {}, not {colony}",
            spec.colonyname
        )));
    }
    spec.colonyname = colony.to_owned();
    // Building it once checks node names, dependencies, cycles and quantities.
    build_workflow(spec.clone(), &Initiator::default(), Timestamp::now())?;
    Ok(spec)
}

fn cron_parser() -> croner::parser::CronParser {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .sloppy_ranges(true)
        .build()
}

fn to_datetime(t: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(t.nanos().unwrap_or(0))
}

fn from_datetime(t: DateTime<Utc>) -> Timestamp {
    Timestamp::from_nanos(t.timestamp_nanos_opt().unwrap_or(i64::MAX))
}

/// Checks a cron: an interval above 0, or −1 with a six-field cron expression
/// (seconds first); `random` only with an interval.
pub fn validate_cron(cron: &Cron) -> Result<(), CoreError> {
    match cron.interval {
        0 => Err(CoreError::bad_request(
            "Cron interval must be -1 (disabled) or larger than 0",
        )),
        -1 => {
            if cron.random {
                return Err(CoreError::bad_request(
                    "Random cron is only supported when specifying intervals",
                ));
            }
            cron_parser().parse(&cron.cronexpression).map_err(|e| {
                CoreError::bad_request(format!(
                    "Invalid cron expression {:?} (six fields, seconds first, e.g. \"0/5 * * * * *\"): {e}",
                    cron.cronexpression
                ))
            })?;
            Ok(())
        }
        i if i > MAX_INTERVAL_SECS => Err(CoreError::bad_request(format!(
            "Cron interval {i} is longer than the limit of {MAX_INTERVAL_SECS} seconds"
        ))),
        i if i > 0 => Ok(()),
        i => Err(CoreError::bad_request(format!(
            "Cron interval must be -1 (disabled) or larger than 0, not {i}"
        ))),
    }
}

/// When a (valid) cron fires next after `now`. An interval cron keeps its
/// beat: the next run is the first whole number of intervals after its last
/// scheduled run that lies after `now` (or one interval from `now` when it
/// was never scheduled). A random interval cron fires at a uniformly chosen
/// second within the next interval; `entropy` supplies the randomness so the
/// rule stays deterministic under test.
pub fn next_run(cron: &Cron, now: Timestamp, entropy: u64) -> Result<Timestamp, CoreError> {
    if cron.interval > 0 {
        if cron.random {
            return Ok(now.plus_secs(1 + (entropy % cron.interval as u64) as i64));
        }
        let (Some(last), Some(at)) = (cron.nextrun.nanos(), now.nanos()) else {
            return Ok(now.plus_secs(cron.interval));
        };
        let step = cron.interval * 1_000_000_000;
        let behind = (at - last).max(0) / step;
        return Ok(Timestamp::from_nanos(last + (behind + 1) * step));
    }
    let parsed = cron_parser()
        .parse(&cron.cronexpression)
        .map_err(|e| CoreError::bad_request(format!("Invalid cron expression: {e}")))?;
    let next = parsed
        .find_next_occurrence(&to_datetime(now), false)
        .map_err(|e| CoreError::bad_request(format!("Cron expression never fires: {e}")))?;
    Ok(from_datetime(next))
}

/// Whether a cron should fire now: its next run has passed and, when it waits
/// for its previous workflow, that workflow has finished (or is gone).
pub fn cron_due(cron: &Cron, now: Timestamp, previous_state: Option<i32>) -> bool {
    if cron.nextrun.is_unset() || cron.nextrun > now {
        return false;
    }
    !cron.waitforprevprocessgraph || previous_finished(previous_state)
}

/// Whether the previous workflow (its state, `None` when there is none) lets a
/// waiting cron start again.
pub fn previous_finished(previous_state: Option<i32>) -> bool {
    use petri_api::model::state::{FAILED, SUCCESS};
    previous_state.is_none_or(|s| s == SUCCESS || s == FAILED)
}

/// Builds a cron's workflow; the leaf outputs of its previous run, when there
/// are any, become the input of the new roots.
pub fn build_cron_workflow(
    spec: WorkflowSpec,
    initiator: &Initiator,
    now: Timestamp,
    root_input: Vec<Value>,
) -> Result<(ProcessGraph, Vec<Process>), CoreError> {
    let (graph, mut processes) = build_workflow(spec, initiator, now)?;
    if !root_input.is_empty() {
        for p in processes.iter_mut().filter(|p| p.parents.is_empty()) {
            p.input = Some(root_input.clone());
        }
    }
    Ok((graph, processes))
}

/// The outputs of a finished graph's leaves, concatenated in graph order.
pub fn leaf_outputs(processes: &[Process]) -> Vec<Value> {
    processes
        .iter()
        .filter(|p| p.children.is_empty())
        .flat_map(|p| p.output.iter().cloned())
        .collect()
}

/// How many packed arguments a generator should submit now, if any: a full
/// batch of `trigger` once that many are queued, otherwise everything queued
/// once `timeout` seconds have passed since its last run (or its first pack).
pub fn generator_batch(generator: &Generator, queued: i64, now: Timestamp) -> Option<usize> {
    if generator.trigger > 0 && queued >= generator.trigger {
        return Some(generator.trigger as usize);
    }
    if queued < 1 || generator.timeout <= 0 {
        return None;
    }
    let since = if generator.lastrun.is_unset() {
        generator.firstpack
    } else {
        generator.lastrun
    };
    (!since.is_unset() && now > since.plus_secs(generator.timeout)).then_some(queued as usize)
}

/// Checks a generator's trigger and timeout.
pub fn validate_generator(generator: &Generator) -> Result<(), CoreError> {
    if generator.trigger < 1 {
        return Err(CoreError::bad_request(
            "Failed to add generator, trigger must be at least 1",
        ));
    }
    if generator.timeout < 0 {
        return Err(CoreError::bad_request(
            "Failed to add generator, timeout must not be negative",
        ));
    }
    Ok(())
}

/// Builds a generator's workflow: its roots get the packed arguments as `args`.
pub fn build_generator_workflow(
    spec: WorkflowSpec,
    initiator: &Initiator,
    now: Timestamp,
    args: Vec<String>,
) -> Result<(ProcessGraph, Vec<Process>), CoreError> {
    let (graph, mut processes) = build_workflow(spec, initiator, now)?;
    for p in processes.iter_mut().filter(|p| p.parents.is_empty()) {
        p.spec.args = args.iter().cloned().map(Value::String).collect();
        p.spec.kwargs = Map::new();
    }
    Ok((graph, processes))
}

/// An entry of one sender already in a channel: its position and sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderSlot {
    /// Position in the channel's log.
    pub pos: i64,
    /// The sender's sequence number.
    pub sequence: i64,
}

/// Where a new message goes in a channel's log. Messages keep their arrival
/// order, except that one sender's messages are ordered by their sequence
/// numbers among the positions that sender holds: a message that arrives
/// after a higher-numbered one of the same sender takes that one's place and
/// pushes it (and later ones of that sender) one of the sender's slots on.
///
/// `mine` are the sender's entries ordered by position, `end` the position
/// after the last entry. Returns the new entry's position and the positions
/// the sender's displaced entries move to, as (old, new) pairs.
pub fn place_message(mine: &[SenderSlot], sequence: i64, end: i64) -> (i64, Vec<(i64, i64)>) {
    let Some(first_later) = mine.iter().position(|s| s.sequence > sequence) else {
        return (end, Vec::new());
    };
    let later = &mine[first_later..];
    let mut moves = Vec::with_capacity(later.len());
    for (i, s) in later.iter().enumerate() {
        let to = later.get(i + 1).map_or(end, |next| next.pos);
        moves.push((s.pos, to));
    }
    (later[0].pos, moves)
}

/// Whether a file label lies under `label` (the label itself or below it).
pub fn label_covers(label: &str, file_label: &str) -> bool {
    let base = label.trim_end_matches('/');
    file_label == base || base.is_empty() || file_label.strip_prefix(base).is_some_and(|rest| rest.starts_with('/'))
}

/// Checks a blueprint's spec against its definition's schema: required
/// fields, and the type and allowed values of each declared property
/// (nested objects and array items too).
pub fn validate_blueprint(blueprint: &Blueprint, schema: &Value) -> Result<(), CoreError> {
    let spec = Value::Object(blueprint.spec.clone());
    check_schema("spec", &spec, schema).map_err(|e| CoreError::bad_request(format!("blueprint validation failed: {e}")))
}

fn check_schema(path: &str, value: &Value, schema: &Value) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        return Ok(());
    };
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let ok = match t {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "object" => value.is_object(),
            "array" => value.is_array(),
            _ => true,
        };
        if !ok {
            return Err(format!("field '{path}' must be of type {t}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.is_empty()
        && !allowed.contains(value)
    {
        return Err(format!(
            "field '{path}' has invalid value {value}, must be one of {allowed:?}"
        ));
    }
    if let Some(obj) = value.as_object() {
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(format!("required field '{path}.{r}' is missing"));
                }
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (k, v) in obj {
                if let Some(p) = props.get(k) {
                    check_schema(&format!("{path}.{k}"), v, p)?;
                }
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            check_schema(&format!("{path}[{i}]"), v, items)?;
        }
    }
    Ok(())
}

/// The generation an updated blueprint gets: one more than the stored one
/// when its spec changed or a new generation is forced, the same otherwise.
pub fn next_generation(old: &Blueprint, new: &Blueprint, force: bool) -> (i64, bool) {
    let changed = old.spec != new.spec || force;
    let generation = if changed {
        old.metadata.generation + 1
    } else {
        old.metadata.generation
    };
    (generation, changed)
}

/// Counts of file versions per label, by label.
pub fn count_labels<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<(String, i64)> {
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for l in labels {
        *counts.entry(l).or_default() += 1;
    }
    let mut out: Vec<_> = counts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests;
