//! Objects exchanged with clients, in the JSON shape Colonies uses.
#![allow(missing_docs)] // Field meanings are given in the protocol reference, section 5.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::Timestamp;
use crate::lenient;

/// Process states.
pub mod state {
    /// Waiting for an executor (or for its parents).
    pub const WAITING: i32 = 0;
    /// Assigned to an executor.
    pub const RUNNING: i32 = 1;
    /// Closed successfully.
    pub const SUCCESS: i32 = 2;
    /// Closed as failed.
    pub const FAILED: i32 = 3;
}

/// Executor states.
pub mod executor_state {
    /// Added, not yet approved.
    pub const PENDING: i32 = 0;
    /// Approved: may be assigned work.
    pub const APPROVED: i32 = 1;
    /// Rejected by the colony owner.
    pub const REJECTED: i32 = 2;
    /// Removed; the record is kept.
    pub const UNREGISTERED: i32 = 3;
}

/// Attribute types.
pub mod attribute_type {
    /// Input attribute.
    pub const IN: i32 = 0;
    /// Output attribute.
    pub const OUT: i32 = 1;
    /// Error attribute.
    pub const ERR: i32 = 2;
    /// Environment attribute (from `spec.env`).
    pub const ENV: i32 = 3;
}

fn is_empty_str(s: &str) -> bool {
    s.is_empty()
}

lenient!(
    /// A colony: a namespace owned by the holder of the colony key.
    Colony { colonyid: String, name: String }
);

lenient!(
    /// An executor registered in a colony.
    Executor {
        executorid: String,
        executortype: String,
        executorname: String,
        colonyname: String,
        state: i32,
        requirefuncreg: bool,
        commissiontime: Timestamp,
        lastheardfromtime: Timestamp,
        #[serde(skip_serializing_if = "is_empty_str")]
        locationname: String,
        capabilities: Value,
        allocations: Value,
        #[serde(skip_serializing_if = "is_empty_str")]
        blueprintid: String,
        blueprintgen: i64,
    }
);

lenient!(
    /// GPU requirements of a function spec.
    Gpu { name: String, mem: String, count: i64, nodecount: i64 }
);

lenient!(
    /// Where a process may run.
    Conditions {
        colonyname: String,
        executornames: Option<Vec<String>>,
        executortype: String,
        #[serde(skip_serializing_if = "is_empty_str")]
        locationname: String,
        dependencies: Vec<String>,
        nodes: i64,
        cpu: String,
        processes: i64,
        processespernode: i64,
        mem: String,
        storage: String,
        gpu: Gpu,
        walltime: i64,
    }
);

lenient!(
    /// File-system requirements of a function spec (files live outside the broker).
    Fs { mount: String, snapshots: Option<Vec<Value>>, dirs: Option<Vec<Value>> }
);

lenient!(
    /// What to compute: a function name, its arguments and where it may run.
    FunctionSpec {
        nodename: String,
        // Older Colonies documents (and seed 001's echo spec) call it `func`.
        #[serde(alias = "func")]
        funcname: String,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
        priority: i64,
        maxwaittime: i64,
        maxexectime: i64,
        maxretries: i64,
        conditions: Conditions,
        label: String,
        fs: Fs,
        env: BTreeMap<String, String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        channels: Vec<String>,
    }
);

lenient!(
    /// A key/value attached to a process.
    Attribute {
        attributeid: String,
        targetid: String,
        targetcolonyname: String,
        targetprocessgraphid: String,
        state: i32,
        attributetype: i32,
        key: String,
        value: String,
    }
);

lenient!(
    /// A function spec being executed: its state, timings, input and output.
    Process {
        processid: String,
        initiatorid: String,
        initiatorname: String,
        assignedexecutorid: String,
        isassigned: bool,
        state: i32,
        prioritytime: i64,
        submissiontime: Timestamp,
        starttime: Timestamp,
        endtime: Timestamp,
        waitdeadline: Timestamp,
        execdeadline: Timestamp,
        retries: i64,
        attributes: Vec<Attribute>,
        spec: FunctionSpec,
        waitforparents: bool,
        parents: Vec<String>,
        children: Vec<String>,
        processgraphid: String,
        #[serde(rename = "in")]
        input: Option<Vec<Value>>,
        #[serde(rename = "out")]
        output: Vec<Value>,
        errors: Vec<String>,
    }
);

lenient!(
    /// A workflow to submit: function specs linked by node names.
    WorkflowSpec { colonyname: String, functionspecs: Vec<FunctionSpec> }
);

lenient!(
    /// Where a graph node is drawn.
    Position { x: i64, y: i64 }
);

lenient!(
    /// A node of a process graph, for display.
    Node {
        id: String,
        data: BTreeMap<String, String>,
        position: Position,
        #[serde(rename = "type")]
        kind: String,
        style: BTreeMap<String, String>,
    }
);

lenient!(
    /// An edge of a process graph, for display.
    Edge { id: String, source: String, target: String, animated: bool }
);

lenient!(
    /// A submitted workflow: its processes and their state.
    ProcessGraph {
        processgraphid: String,
        initiatorid: String,
        initiatorname: String,
        colonyname: String,
        rootprocessids: Vec<String>,
        state: i32,
        submissiontime: Timestamp,
        starttime: Timestamp,
        endtime: Timestamp,
        processids: Vec<String>,
        nodes: Vec<Node>,
        edges: Vec<Edge>,
    }
);

lenient!(
    /// A function an executor has declared it can run, with call statistics.
    Function {
        functionid: String,
        executorname: String,
        executortype: String,
        colonyname: String,
        funcname: String,
        counter: i64,
        minwaittime: f64,
        maxwaittime: f64,
        minexectime: f64,
        maxexectime: f64,
        avgwaittime: f64,
        avgexectime: f64,
    }
);

lenient!(
    /// A log line written by the executor running a process.
    Log { processid: String, colonyname: String, executorname: String, message: String, timestamp: i64 }
);

lenient!(
    /// Counts of executors, processes and workflows.
    Statistics {
        colonies: i64,
        executors: i64,
        activeexecutors: i64,
        unregisteredexecutors: i64,
        waitingprocesses: i64,
        runningprocesses: i64,
        successfulprocesses: i64,
        failedprocesses: i64,
        waitingworkflows: i64,
        runningworkflows: i64,
        successfulworkflows: i64,
        failedworkflows: i64,
    }
);

lenient!(
    /// A colony member that submits and reads but does not execute.
    User { colonyname: String, userid: String, name: String, email: String, phone: String }
);

lenient!(
    /// Reply to `versionmsg`. `serverid` is petri's addition (the id replay-protected
    /// messages must name, see [`crate::replay`]); Colonies servers leave it out.
    Version { buildversion: String, buildtime: String, serverid: String }
);

impl Process {
    /// A short label for the process in tables and logs.
    pub fn label(&self) -> &str {
        if self.spec.nodename.is_empty() {
            &self.spec.funcname
        } else {
            &self.spec.nodename
        }
    }
}

/// Human name of a process state.
pub fn state_name(state: i32) -> &'static str {
    match state {
        state::WAITING => "waiting",
        state::RUNNING => "running",
        state::SUCCESS => "successful",
        state::FAILED => "failed",
        _ => "unknown",
    }
}

/// Human name of an executor state.
pub fn executor_state_name(state: i32) -> &'static str {
    match state {
        executor_state::PENDING => "pending",
        executor_state::APPROVED => "approved",
        executor_state::REJECTED => "rejected",
        executor_state::UNREGISTERED => "removed",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_read_as_defaults() {
        let spec: FunctionSpec = serde_json::from_str(
            r#"{"nodename":"n","funcname":"f","args":null,"kwargs":null,"fs":null,"env":null,
                "conditions":{"executortype":"t","executornames":null,"dependencies":null},"extra":1}"#,
        )
        .unwrap();
        assert!(spec.args.is_empty());
        assert!(spec.kwargs.is_empty());
        assert_eq!(spec.conditions.executornames, None);
        assert_eq!(spec.conditions.executortype, "t");
    }

    #[test]
    fn process_has_required_keys() {
        let json = serde_json::to_value(Process::default()).unwrap();
        for key in [
            "processid",
            "initiatorid",
            "initiatorname",
            "assignedexecutorid",
            "isassigned",
            "state",
            "prioritytime",
            "submissiontime",
            "starttime",
            "endtime",
            "waitdeadline",
            "execdeadline",
            "retries",
            "attributes",
            "spec",
            "parents",
            "children",
            "processgraphid",
            "in",
            "out",
            "errors",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert_eq!(
            json["spec"]["fs"],
            serde_json::json!({"mount": "", "snapshots": null, "dirs": null})
        );
        assert!(json["spec"].get("channels").is_none());
        assert_eq!(json["submissiontime"], "0001-01-01T00:00:00Z");
    }
}

mod ext;
pub use ext::*;
