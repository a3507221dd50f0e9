//! `petri policy ...`: check a data owner's policy file and verify its audit log.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::output::{Output, table};

#[derive(Subcommand)]
pub(crate) enum PolicyCmd {
    /// Read a policy file and print its datasets and rules (an invalid one fails with the reason).
    Check {
        /// The policy (TOML).
        file: PathBuf,
    },
    /// Verify an audit log's hash chain and print its decisions.
    Audit {
        /// The audit log (JSON lines).
        file: PathBuf,
        /// Print only the last N decisions.
        #[arg(long)]
        last: Option<usize>,
    },
}

pub(crate) fn run(cmd: PolicyCmd, out: &Output) -> anyhow::Result<()> {
    match cmd {
        PolicyCmd::Check { file } => {
            let policy = petri_policy::Policy::load(&file)?;
            let names: Vec<String> = policy.dataset_names().map(str::to_owned).collect();
            let datasets: Vec<Value> = names
                .iter()
                .filter_map(|n| policy.dataset(n))
                .map(|d| {
                    json!({"name": d.name, "initiators": d.initiators, "functions": d.functions,
                        "programs": d.programs, "recipients": d.recipients, "analyst_keys": d.analyst_keys,
                        "min_cohort": d.min_cohort, "min_contributors": d.min_contributors,
                        "allow_unmasked": d.allow_unmasked})
                })
                .collect();
            out.show(
                &json!({"owner": policy.owner(), "audit_log": policy.audit().path(), "datasets": datasets}),
                || {
                    outln!(
                        "policy {} is valid; audit log {}",
                        file.display(),
                        policy.audit().path().display()
                    );
                    let mut t = table(&["dataset", "initiators", "asks", "min cohort", "min contributors"]);
                    for d in names.iter().filter_map(|n| policy.dataset(n)) {
                        let asks = [
                            (!d.functions.is_empty()).then(|| format!("functions {}", d.functions.join(", "))),
                            (!d.programs.is_empty()).then(|| format!("{} programs", d.programs.len())),
                            (!d.analyst_keys.is_empty()).then(|| format!("{} analyst keys", d.analyst_keys.len())),
                        ];
                        t.add_row(vec![
                            d.name.clone(),
                            d.initiators.len().to_string(),
                            asks.into_iter().flatten().collect::<Vec<_>>().join("; "),
                            d.min_cohort.to_string(),
                            d.min_contributors.to_string(),
                        ]);
                    }
                    outln!("{t}");
                },
            )
        }
        PolicyCmd::Audit { file, last } => {
            let (count, head) = petri_policy::verify_log(&file)?;
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let mut entries: Vec<Value> = text
                .lines()
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()
                .context("the audit log holds a line that is not JSON")?;
            if let Some(n) = last {
                entries.drain(..entries.len().saturating_sub(n));
            }
            out.show(&json!({"entries": count, "head": head, "decisions": entries}), || {
                outln!("{} decisions, chain intact (head {head})", count);
                let mut t = table(&["seq", "time", "decision", "dataset", "kind", "reference", "reason"]);
                let s = |e: &Value, k: &str| match e.get(k) {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                };
                for e in &entries {
                    t.add_row(vec![
                        s(e, "seq"),
                        s(e, "time"),
                        s(e, "decision"),
                        s(e, "dataset"),
                        s(e, "kind"),
                        s(e, "reference"),
                        s(e, "reason"),
                    ]);
                }
                outln!("{t}");
            })
        }
    }
}
