//! petri's program format (what compute nodes accept as `graph_json`) and its interpreter.
//!
//! ```json
//! {"format": "petri-mpc/1",
//!  "inputs":  [{"name": "a", "from": "alice", "value": "wealth", "type": "u32"},
//!              {"name": "b", "from": "bob",   "value": "wealth", "type": "u32"}],
//!  "steps":   [{"out": "richer", "op": "gt", "args": ["a", "b"]}],
//!  "outputs": [{"value": "richer", "to": "alice"}]}
//! ```
//!
//! Inputs come from the named data node (`value` names the value there, default `name`) (each compute node fetches only its own shares), or, with
//! `"from": "random"` and a `"len"`, are random values no party knows (for benchmarks). Every step
//! names its result. Outputs go, as shares, to the named result node, which alone reconstructs
//! them. Every compute node runs the same steps in the same order.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use petri_mpc::{AShare, Party, Transport, fixed};
use serde::{Deserialize, Serialize};

/// Element types. All are carried in Z_2^64; the type decides encoding, comparison range and
/// fixed-point scaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// Unsigned 64-bit (comparisons need values below 2^63).
    U64,
    /// Signed 64-bit (comparisons need differences within i64).
    I64,
    /// Unsigned 32-bit.
    U32,
    /// Signed 32-bit.
    I32,
    /// 0 or 1 (results of comparisons).
    Bit,
    /// Fixed point with this many fractional bits.
    Fixed(u32),
}

impl ValueType {
    /// Parses `u64`, `i64`, `u32`, `i32`, `bit`, `fixed` (16 fractional bits) or `fixed:N`.
    pub fn parse(text: &str) -> Result<ValueType, String> {
        Ok(match text {
            "u64" => ValueType::U64,
            "i64" => ValueType::I64,
            "u32" => ValueType::U32,
            "i32" => ValueType::I32,
            "bit" => ValueType::Bit,
            "fixed" => ValueType::Fixed(fixed::DEFAULT_FRAC_BITS),
            other => match other.strip_prefix("fixed:").and_then(|f| f.parse::<u32>().ok()) {
                Some(f) if (1..=40).contains(&f) => ValueType::Fixed(f),
                _ => {
                    return Err(format!(
                        "unknown type {other:?} (u64, i64, u32, i32, bit, fixed or fixed:N with N in 1..=40)"
                    ));
                }
            },
        })
    }

    /// The type's name as [`ValueType::parse`] reads it.
    pub fn name(&self) -> String {
        match self {
            ValueType::U64 => "u64".into(),
            ValueType::I64 => "i64".into(),
            ValueType::U32 => "u32".into(),
            ValueType::I32 => "i32".into(),
            ValueType::Bit => "bit".into(),
            ValueType::Fixed(f) => format!("fixed:{f}"),
        }
    }

    /// Encodes one JSON number, checking the range.
    pub fn encode(&self, v: &serde_json::Value) -> Result<u64, String> {
        let bad = || format!("{v} is not a valid {}", self.name());
        match self {
            ValueType::U64 => v.as_u64().ok_or_else(bad),
            ValueType::I64 => v.as_i64().map(|x| x as u64).ok_or_else(bad),
            ValueType::U32 => v.as_u64().filter(|x| *x <= u64::from(u32::MAX)).ok_or_else(bad),
            ValueType::I32 => v
                .as_i64()
                .filter(|x| i32::try_from(*x).is_ok())
                .map(|x| x as u64)
                .ok_or_else(bad),
            ValueType::Bit => v.as_u64().filter(|x| *x <= 1).ok_or_else(bad),
            ValueType::Fixed(f) => {
                let x = v.as_f64().ok_or_else(bad)?;
                fixed::encode(x, *f).map_err(|e| e.to_string())
            }
        }
    }

    /// Decodes one ring element to JSON.
    pub fn decode(&self, x: u64) -> serde_json::Value {
        match self {
            ValueType::U64 | ValueType::Bit => x.into(),
            ValueType::I64 => (x as i64).into(),
            ValueType::U32 => (x as u32).into(),
            ValueType::I32 => (x as i32).into(),
            ValueType::Fixed(f) => fixed::decode(x, *f).into(),
        }
    }

    /// Bits spanned by values of this type, for sorting (`n` elements).
    fn value_bits(&self, n: usize) -> u32 {
        let idx_bits = usize::BITS - n.saturating_sub(1).leading_zeros();
        match self {
            ValueType::U32 | ValueType::I32 => 33,
            ValueType::Bit => 2,
            _ => 62u32.saturating_sub(idx_bits).max(1),
        }
    }
}

impl Serialize for ValueType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for ValueType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ValueType::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An input of a program.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDecl {
    /// Name of the value, at the data node and in the program.
    pub name: String,
    /// The data node that holds it, or `random`.
    pub from: String,
    /// The value's name at the data node, when it differs from `name`.
    #[serde(default)]
    pub value: Option<String>,
    /// Element type.
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// Number of elements (required for `random`; checked against the data when given).
    #[serde(default)]
    pub len: Option<usize>,
}

/// One step: `out = op(args...)`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Name of the result.
    pub out: String,
    /// The operation.
    pub op: String,
    /// Names of the operands.
    #[serde(default)]
    pub args: Vec<String>,
    /// k for `top_k`.
    #[serde(default)]
    pub k: Option<usize>,
    /// The public constant for `add_const` and `mul_const`.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}

/// An output and the result node that receives it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputDecl {
    /// The value to output.
    pub value: String,
    /// The result node's name.
    pub to: String,
}

/// A program.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// Always `petri-mpc/1`.
    pub format: String,
    /// Inputs, fetched before the first step.
    pub inputs: Vec<InputDecl>,
    /// Steps, run in order.
    pub steps: Vec<Step>,
    /// Outputs.
    pub outputs: Vec<OutputDecl>,
}

/// The format tag programs carry.
pub const FORMAT: &str = "petri-mpc/1";

const MAX_LEN: usize = 1 << 26;

/// Scale of the reciprocal used by `mean`.
const MEAN_SHIFT: u32 = 24;

fn arity(op: &str) -> Option<(usize, usize)> {
    Some(match op {
        "add" | "sub" | "mul" | "dot" | "lt" | "gt" | "le" | "ge" | "eq" | "ne" => (2, 2),
        "neg" | "sum" | "mean" | "sort" | "median" | "min" | "max" | "top_k" | "add_const" | "mul_const" => (1, 1),
        "select" => (3, 3),
        "concat" => (1, 64),
        _ => return None,
    })
}

impl Program {
    /// Parses and checks a program: format, unique names, known operations, defined operands, types.
    pub fn parse(bytes: &[u8]) -> Result<Program, String> {
        let program: Program = serde_json::from_slice(bytes).map_err(|e| format!("not a petri-mpc program: {e}"))?;
        program.check()?;
        Ok(program)
    }

    /// The types of every named value, or why the program is invalid.
    pub fn check(&self) -> Result<HashMap<String, ValueType>, String> {
        if self.format != FORMAT {
            return Err(format!("program format is {:?}, expected {FORMAT:?}", self.format));
        }
        let mut types: HashMap<String, ValueType> = HashMap::new();
        for input in &self.inputs {
            check_name(&input.name)?;
            if input.from.is_empty() {
                return Err(format!("input {} has no data node (from)", input.name));
            }
            if input.from == "random" && input.len.is_none() {
                return Err(format!("random input {} needs a len", input.name));
            }
            if input.len.is_some_and(|l| l == 0 || l > MAX_LEN) {
                return Err(format!("input {} must have 1..={MAX_LEN} elements", input.name));
            }
            if types.insert(input.name.clone(), input.ty).is_some() {
                return Err(format!("{} is defined twice", input.name));
            }
        }
        for (i, step) in self.steps.iter().enumerate() {
            check_name(&step.out)?;
            let (min, max) = arity(&step.op).ok_or_else(|| format!("step {i}: unknown operation {:?}", step.op))?;
            if step.args.len() < min || step.args.len() > max {
                return Err(format!(
                    "step {i} ({}): takes {min}..={max} operands, got {}",
                    step.op,
                    step.args.len()
                ));
            }
            let mut arg_types = Vec::new();
            for a in &step.args {
                arg_types.push(
                    *types
                        .get(a)
                        .ok_or_else(|| format!("step {i} ({}): {a} is not defined before it", step.op))?,
                );
            }
            let first = arg_types[0];
            let same = |ts: &[ValueType]| -> Result<(), String> {
                if ts.iter().any(|t| *t != ts[0]) {
                    return Err(format!(
                        "step {i} ({}): operands have different types ({})",
                        step.op,
                        ts.iter().map(ValueType::name).collect::<Vec<_>>().join(", ")
                    ));
                }
                Ok(())
            };
            let out_type = match step.op.as_str() {
                "add" | "sub" | "mul" | "dot" | "concat" => {
                    same(&arg_types)?;
                    first
                }
                "lt" | "gt" | "le" | "ge" | "eq" | "ne" => {
                    same(&arg_types)?;
                    ValueType::Bit
                }
                "select" => {
                    if arg_types[0] != ValueType::Bit {
                        return Err(format!("step {i} (select): the condition must be a bit"));
                    }
                    same(&arg_types[1..])?;
                    arg_types[1]
                }
                "mean" => match first {
                    ValueType::Fixed(f) => ValueType::Fixed(f),
                    _ => ValueType::Fixed(fixed::DEFAULT_FRAC_BITS),
                },
                "top_k" => {
                    if step.k.is_none_or(|k| k == 0) {
                        return Err(format!("step {i} (top_k): needs k ≥ 1"));
                    }
                    first
                }
                "add_const" | "mul_const" => {
                    let v = step
                        .value
                        .as_ref()
                        .ok_or_else(|| format!("step {i} ({}): needs a value", step.op))?;
                    let ty = if step.op == "mul_const" && matches!(first, ValueType::Bit) {
                        ValueType::U64
                    } else {
                        first
                    };
                    ty.encode(v).map_err(|e| format!("step {i} ({}): {e}", step.op))?;
                    first
                }
                _ => first,
            };
            if types.insert(step.out.clone(), out_type).is_some() {
                return Err(format!("step {i}: {} is defined twice", step.out));
            }
        }
        if self.outputs.is_empty() {
            return Err("the program has no outputs".into());
        }
        for out in &self.outputs {
            if !types.contains_key(&out.value) {
                return Err(format!("output {} is not defined", out.value));
            }
            if out.to.is_empty() {
                return Err(format!("output {} has no result node (to)", out.value));
            }
        }
        Ok(types)
    }

    /// The program's canonical encoding: its JSON re-serialised from the parsed form, so fields
    /// come in declaration order (absent optional fields as `null`), object keys inside constants
    /// are sorted and there is no whitespace. Two texts of one program encode alike.
    pub fn canonical(&self) -> Vec<u8> {
        // Serialising plain structs, strings and serde_json values cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The program's hash as data owners pin it: SHA3-256 of [`Program::canonical`], lowercase
    /// hex. It covers the inputs, the steps and the outputs with their result nodes.
    pub fn hash(&self) -> String {
        use sha3::Digest;
        hex::encode(sha3::Sha3_256::digest(self.canonical()))
    }

    /// The result nodes the outputs go to, sorted, each once.
    pub fn recipients(&self) -> Vec<String> {
        let mut to: Vec<String> = self.outputs.iter().map(|o| o.to.clone()).collect();
        to.sort();
        to.dedup();
        to
    }

    /// The value names the program reads from data node `source` (at the data node, so `value`
    /// where given), sorted, each once.
    pub fn values_from(&self, source: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .inputs
            .iter()
            .filter(|i| i.from == source)
            .map(|i| i.value.clone().unwrap_or_else(|| i.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Names of the data nodes the inputs come from.
    pub fn data_sources(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.inputs
            .iter()
            .filter(|i| i.from != "random" && seen.insert(i.from.clone()))
            .map(|i| i.from.clone())
            .collect()
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(format!("{name:?} is not a valid name (letters, digits, '_', '-')"));
    }
    Ok(())
}

/// The hash of a program's text ([`Program::hash`]), after checking it.
pub fn program_hash(bytes: &[u8]) -> Result<String, String> {
    Program::parse(bytes).map(|p| p.hash())
}

/// Time and communication of one step, at one party.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StepStats {
    /// The step's result name.
    pub out: String,
    /// The operation.
    pub op: String,
    /// Elements of the first operand.
    pub n: usize,
    /// Seconds.
    pub secs: f64,
    /// Rounds.
    pub rounds: u64,
    /// Bytes sent by this party.
    pub bytes_sent: u64,
    /// CPU seconds the whole node process (engine and network threads) used during the step,
    /// where the platform tells (Linux).
    #[serde(default)]
    pub cpu_secs: Option<f64>,
}

/// CPU time of this process so far, summed over its threads (Linux `/proc/self/task/*/schedstat`,
/// nanoseconds on the CPU); `None` where that is not available.
fn process_cpu_secs() -> Option<f64> {
    let mut ns: u64 = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("schedstat");
        // A thread may end between listing and reading; it then simply does not count.
        if let Ok(text) = std::fs::read_to_string(path) {
            ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(ns as f64 * 1e-9)
}

/// What one party ends with: its shares of each output, with the output's type.
pub struct Outcome {
    /// (declaration, type, this party's shares).
    pub outputs: Vec<(OutputDecl, ValueType, AShare)>,
    /// Per-step figures.
    pub steps: Vec<StepStats>,
}

/// Runs a checked program at one party. `inputs` holds this party's shares of every input that
/// comes from a data node.
pub fn execute<T: Transport>(
    party: &mut Party<T>,
    program: &Program,
    mut inputs: HashMap<String, AShare>,
) -> Result<Outcome, String> {
    let types = program.check()?;
    let mut regs: HashMap<String, (AShare, ValueType)> = HashMap::new();
    let e = |err: petri_mpc::MpcError| err.to_string();
    for input in &program.inputs {
        let share = if input.from == "random" {
            let n = input.len.unwrap_or(1);
            let r = party.random(n);
            match input.ty {
                // A random i64 shifted down by 32 bits is a uniform i32.
                ValueType::U32 | ValueType::I32 | ValueType::Fixed(_) => {
                    let r = party.trunc(&r, 32).map_err(e)?;
                    if input.ty == ValueType::U32 {
                        r.add_public(party.id(), &vec![1u64 << 31; n]).map_err(e)?
                    } else {
                        r
                    }
                }
                ValueType::Bit => {
                    let bits = party.ltz(&r).map_err(e)?;
                    party.bit2a(&bits, n).map_err(e)?
                }
                _ => r,
            }
        } else {
            inputs
                .remove(&input.name)
                .ok_or_else(|| format!("data node {} sent no value {}", input.from, input.name))?
        };
        if let Some(len) = input.len
            && share.len() != len
        {
            return Err(format!(
                "input {} has {} elements, the program expects {len}",
                input.name,
                share.len()
            ));
        }
        regs.insert(input.name.clone(), (share, input.ty));
    }
    let mut steps = Vec::new();
    for step in &program.steps {
        let before = party.stats();
        let cpu0 = process_cpu_secs();
        let t0 = Instant::now();
        let args: Vec<&(AShare, ValueType)> = step
            .args
            .iter()
            .map(|a| regs.get(a).ok_or_else(|| format!("{a} is not defined")))
            .collect::<Result<_, _>>()?;
        let (x, ty) = (&args[0].0, args[0].1);
        let n = x.len();
        let id = party.id();
        let out = match step.op.as_str() {
            "add" => x.add(&args[1].0).map_err(e)?,
            "sub" => x.sub(&args[1].0).map_err(e)?,
            "neg" => x.neg(),
            "mul" => match ty {
                ValueType::Fixed(f) => party.mul_fixed(x, &args[1].0, f).map_err(e)?,
                _ => party.mul(x, &args[1].0).map_err(e)?,
            },
            "dot" => match ty {
                ValueType::Fixed(f) => party.dot_fixed(x, &args[1].0, f).map_err(e)?,
                _ => party.dot(x, &args[1].0).map_err(e)?,
            },
            "sum" => x.sum(),
            "mean" => {
                if n == 0 {
                    return Err("the mean of no values is undefined".into());
                }
                let frac = match ty {
                    ValueType::Fixed(f) => f,
                    _ => fixed::DEFAULT_FRAC_BITS,
                };
                let sum = x.sum();
                let sum = if matches!(ty, ValueType::Fixed(_)) {
                    sum
                } else {
                    sum.mul_public(1u64 << frac)
                };
                let recip = ((1u64 << MEAN_SHIFT) as f64 / n as f64).round() as u64;
                party.trunc(&sum.mul_public(recip), MEAN_SHIFT).map_err(e)?
            }
            "add_const" => {
                let c = ty.encode(step.value.as_ref().unwrap_or(&serde_json::Value::Null))?;
                x.add_public(id, &vec![c; n]).map_err(e)?
            }
            "mul_const" => match ty {
                ValueType::Fixed(f) => {
                    let c = ty.encode(step.value.as_ref().unwrap_or(&serde_json::Value::Null))?;
                    party.trunc(&x.mul_public(c), f).map_err(e)?
                }
                _ => {
                    let c = ValueType::I64
                        .encode(step.value.as_ref().unwrap_or(&serde_json::Value::Null))
                        .or_else(|_| ValueType::U64.encode(step.value.as_ref().unwrap_or(&serde_json::Value::Null)))?;
                    x.mul_public(c)
                }
            },
            "concat" => AShare::concat(&args.iter().map(|a| &a.0).collect::<Vec<_>>()),
            "lt" | "gt" | "le" | "ge" => {
                let (a, b) = if matches!(step.op.as_str(), "lt" | "ge") {
                    (x, &args[1].0)
                } else {
                    (&args[1].0, x)
                };
                let bits = party.lt(a, b).map_err(e)?;
                let bits = if matches!(step.op.as_str(), "le" | "ge") {
                    bits.not(id)
                } else {
                    bits
                };
                party.bit2a(&bits, n).map_err(e)?
            }
            "eq" | "ne" => {
                let bits = party.eq(x, &args[1].0).map_err(e)?;
                let bits = if step.op == "ne" { bits.not(id) } else { bits };
                party.bit2a(&bits, n).map_err(e)?
            }
            "select" => {
                let (a, b) = (&args[1].0, &args[2].0);
                let d = a.sub(b).map_err(e)?;
                b.add(&party.mul(x, &d).map_err(e)?).map_err(e)?
            }
            "sort" => party.sort(x, ty.value_bits(n)).map_err(e)?,
            "median" => party.median(x, ty.value_bits(n)).map_err(e)?,
            "min" => party.select(x, 0, ty.value_bits(n)).map_err(e)?,
            "max" => party.select(x, n.saturating_sub(1), ty.value_bits(n)).map_err(e)?,
            "top_k" => party.top_k(x, step.k.unwrap_or(1), ty.value_bits(n)).map_err(e)?,
            other => return Err(format!("unknown operation {other}")),
        };
        let after = party.stats();
        steps.push(StepStats {
            out: step.out.clone(),
            op: step.op.clone(),
            n,
            secs: t0.elapsed().as_secs_f64(),
            rounds: after.rounds - before.rounds,
            bytes_sent: after.bytes_sent - before.bytes_sent,
            cpu_secs: cpu0.zip(process_cpu_secs()).map(|(a, b)| b - a),
        });
        let ty = types.get(&step.out).copied().unwrap_or(ty);
        regs.insert(step.out.clone(), (out, ty));
    }
    let outputs = program
        .outputs
        .iter()
        .map(|o| {
            let (share, ty) = regs
                .get(&o.value)
                .cloned()
                .ok_or_else(|| format!("{} is not defined", o.value))?;
            Ok((o.clone(), ty, share))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Outcome { outputs, steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MILLIONAIRES: &str = r#"{"format": "petri-mpc/1",
      "inputs": [{"name": "alice_wealth", "from": "alice", "value": "wealth", "type": "u32"},
                 {"name": "bob_wealth", "from": "bob", "value": "wealth", "type": "u32"}],
      "steps": [{"out": "alice_is_richer", "op": "gt", "args": ["alice_wealth", "bob_wealth"]}],
      "outputs": [{"value": "alice_is_richer", "to": "alice"}]}"#;

    /// The hash data owners pin for examples/mpc/millionaires: a change to the canonical
    /// encoding would void every policy written so far.
    #[test]
    fn the_hash_is_stable() {
        assert_eq!(
            program_hash(MILLIONAIRES.as_bytes()).unwrap(),
            "c8269fbfd824d5773a1eaf50da543f852862ef5aebb958f82483797c7bcf0fb8"
        );
    }

    #[test]
    fn the_hash_ignores_layout_but_covers_inputs_steps_and_recipients() {
        let base = program_hash(MILLIONAIRES.as_bytes()).unwrap();
        let relaid = r#"{"outputs":[{"to":"alice","value":"alice_is_richer"}],"steps":[{"args":["alice_wealth","bob_wealth"],"op":"gt","out":"alice_is_richer"}],"inputs":[{"type":"u32","value":"wealth","from":"alice","name":"alice_wealth"},{"name":"bob_wealth","from":"bob","value":"wealth","type":"u32","len":null}],"format":"petri-mpc/1"}"#;
        assert_eq!(program_hash(relaid.as_bytes()).unwrap(), base);
        for (from, to) in [
            (r#""to": "alice""#, r#""to": "bob""#),
            (r#""op": "gt""#, r#""op": "lt""#),
            (r#""from": "bob""#, r#""from": "carol""#),
            (r#""bob", "value": "wealth""#, r#""bob", "value": "savings""#),
        ] {
            let changed = MILLIONAIRES.replacen(from, to, 1);
            assert_ne!(changed, MILLIONAIRES);
            assert_ne!(program_hash(changed.as_bytes()).unwrap(), base, "{from} → {to}");
        }
        let p = Program::parse(MILLIONAIRES.as_bytes()).unwrap();
        assert_eq!(p.recipients(), ["alice"]);
        assert_eq!(p.values_from("bob"), ["wealth"]);
        assert!(p.values_from("carol").is_empty());
    }
}
