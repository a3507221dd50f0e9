//! Tables for people, JSON for scripts.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde::Serialize;

/// Writes one line to stdout, exiting quietly when the reader has gone away.
pub(crate) fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

pub(crate) struct Output {
    pub(crate) json: bool,
}

impl Output {
    /// Prints `value` as JSON, or calls `table` to print it for people.
    pub(crate) fn show<T: Serialize>(&self, value: &T, table: impl FnOnce()) -> anyhow::Result<()> {
        if self.json {
            outln!("{}", serde_json::to_string_pretty(value)?);
        } else {
            table();
        }
        Ok(())
    }
}

pub(crate) fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !header.is_empty() {
        t.set_header(header.to_vec());
    }
    t
}

/// A two-column key/value table with a title line above it.
pub(crate) fn kv(title: &str, rows: &[(&str, String)]) {
    let mut t = table(&[]);
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v.clone()]);
    }
    outln!("{title}:\n{t}");
}

/// Compact text of a JSON list for table cells.
pub(crate) fn join_values(values: &[serde_json::Value]) -> String {
    values
        .iter()
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
