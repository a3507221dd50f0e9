//! The processes one operation touches, and the lifecycle rules applied to them.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use petri_api::Timestamp;
use petri_api::model::{Attribute, Executor, FunctionSpec, Process, ProcessGraph, state};
use serde_json::Value;

use crate::CoreError;
use crate::spec::{Initiator, attribute_id, new_process, normalize_spec};

/// A process and, when it belongs to a workflow, its graph and every process
/// of that graph. The store loads one, an operation edits it, and the store
/// writes back the processes listed in [`Workspace::dirty`] and the graph.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The process the operation is about.
    pub target: String,
    /// The workflow the target belongs to, if any.
    pub graph: Option<ProcessGraph>,
    /// The target and, for a workflow, all processes of its graph, by id.
    pub processes: BTreeMap<String, Process>,
    /// Processes this operation created (by [`Workspace::add_child`]).
    pub created: BTreeSet<String>,
    /// Processes this operation changed (created ones included).
    pub dirty: BTreeSet<String>,
    /// Processes that became ready to be assigned, so long-polling executors
    /// should be woken.
    pub ready: Vec<String>,
}

impl Workspace {
    /// A workspace around `target`, with its graph and the graph's processes when it has one.
    pub fn new(target: String, graph: Option<ProcessGraph>, processes: Vec<Process>) -> Self {
        Self {
            target,
            graph,
            processes: processes.into_iter().map(|p| (p.processid.clone(), p)).collect(),
            created: BTreeSet::new(),
            dirty: BTreeSet::new(),
            ready: Vec::new(),
        }
    }

    /// The target process.
    pub fn process(&self) -> &Process {
        // Invariant: the store always loads the target into the workspace.
        &self.processes[&self.target]
    }

    fn process_mut(&mut self, id: &str) -> Option<&mut Process> {
        let p = self.processes.get_mut(id)?;
        self.dirty.insert(id.to_owned());
        Some(p)
    }

    fn set_state(p: &mut Process, s: i32) {
        p.state = s;
        for a in &mut p.attributes {
            a.state = s;
        }
    }

    /// Assigns the target to `executor`: it starts running now and, in a
    /// workflow, receives its parents' outputs as input.
    pub fn assign(&mut self, executor: &Executor, now: Timestamp) {
        let parents = self.process().parents.clone();
        let input = if parents.is_empty() {
            None
        } else {
            let joined: Vec<Value> = parents
                .iter()
                .filter_map(|id| self.processes.get(id))
                .flat_map(|p| p.output.iter().cloned())
                .collect();
            Some(if joined.is_empty() { None } else { Some(joined) })
        };
        let target = self.target.clone();
        let Some(p) = self.process_mut(&target) else {
            return;
        };
        Self::set_state(p, state::RUNNING);
        p.isassigned = true;
        p.assignedexecutorid = executor.executorid.clone();
        p.starttime = now;
        p.endtime = Timestamp::UNSET;
        p.execdeadline = if p.spec.maxexectime > 0 {
            now.plus_secs(p.spec.maxexectime)
        } else {
            Timestamp::UNSET
        };
        if let Some(input) = input {
            p.input = input;
        }
        self.resolve(now);
    }

    fn check_assignee(&self, caller: &str, action: &str) -> Result<(), CoreError> {
        let p = self.process();
        if !p.isassigned || p.assignedexecutorid.is_empty() {
            return Err(CoreError::forbidden(format!(
                "Failed to {action}, process is not assigned"
            )));
        }
        if p.assignedexecutorid != caller {
            return Err(CoreError::forbidden(format!(
                "Failed to {action}, not allowed to {action}, the process is assigned to another executor"
            )));
        }
        Ok(())
    }

    /// Closes the target as successful with `out` (an empty `out` keeps what
    /// was set before). Closing a successful process again is allowed.
    pub fn close_successful(&mut self, caller: &str, out: Vec<Value>, now: Timestamp) -> Result<(), CoreError> {
        self.check_assignee(caller, "close process as successful")?;
        match self.process().state {
            state::FAILED => {
                return Err(CoreError::bad_request("Tried to set failed process as successful"));
            }
            state::WAITING => {
                return Err(CoreError::bad_request("Tried to close a waiting process"));
            }
            _ => {}
        }
        let target = self.target.clone();
        if let Some(p) = self.process_mut(&target) {
            // A repeated close (a retried or replayed report) keeps the time the process finished.
            if p.state != state::SUCCESS {
                p.endtime = now;
            }
            Self::set_state(p, state::SUCCESS);
            if !out.is_empty() {
                p.output = out;
            }
        }
        self.resolve(now);
        Ok(())
    }

    /// Closes the target as failed with `errors`; in a workflow, every
    /// descendant that has not finished fails too, naming this process.
    pub fn close_failed(&mut self, caller: &str, errors: Vec<String>, now: Timestamp) -> Result<(), CoreError> {
        self.check_assignee(caller, "close process as failed")?;
        match self.process().state {
            state::SUCCESS => {
                return Err(CoreError::bad_request("Tried to set successful process as failed"));
            }
            state::FAILED => {
                return Err(CoreError::bad_request("Tried to set failed process as failed"));
            }
            _ => {}
        }
        self.fail(&self.target.clone(), errors, now);
        Ok(())
    }

    /// Fails process `id` (by the broker, for example on a deadline, or on
    /// behalf of its executor) and propagates the failure to its descendants.
    pub fn fail(&mut self, id: &str, errors: Vec<String>, now: Timestamp) {
        let Some(p) = self.process_mut(id) else {
            return;
        };
        Self::set_state(p, state::FAILED);
        p.errors = errors;
        p.endtime = now;
        let label = p.label().to_owned();
        let mut frontier = p.children.clone();
        let mut seen = HashSet::new();
        while let Some(child) = frontier.pop() {
            if !seen.insert(child.clone()) {
                continue;
            }
            let Some(c) = self.process_mut(&child) else {
                continue;
            };
            if c.state == state::SUCCESS || c.state == state::FAILED {
                continue;
            }
            Self::set_state(c, state::FAILED);
            c.errors.push(format!("parent process {id} ({label}) failed"));
            c.endtime = now;
            frontier.extend(c.children.iter().cloned());
        }
        self.resolve(now);
    }

    /// Returns the target to the queue (its executor went away or ran out of
    /// time). `count_retry` adds one to `retries`.
    pub fn unassign(&mut self, now: Timestamp, count_retry: bool) {
        let target = self.target.clone();
        let Some(p) = self.process_mut(&target) else {
            return;
        };
        Self::set_state(p, state::WAITING);
        p.isassigned = false;
        p.assignedexecutorid.clear();
        p.execdeadline = Timestamp::UNSET;
        if count_retry {
            p.retries += 1;
            p.endtime = now;
        } else {
            p.starttime = Timestamp::UNSET;
            p.endtime = Timestamp::UNSET;
        }
        if p.spec.maxwaittime > 0 {
            p.waitdeadline = now.plus_secs(p.spec.maxwaittime);
        }
        self.ready.push(target);
        self.resolve(now);
    }

    /// Applies the target's time limits at `now`. A waiting process past its
    /// wait deadline fails. A running process past its execution deadline
    /// returns to the queue with one more retry, or fails once it has used
    /// `maxretries` retries (−1: retry without end). Returns whether anything changed.
    pub fn enforce_deadlines(&mut self, now: Timestamp) -> bool {
        let p = self.process();
        let passed = |deadline: Timestamp| deadline.nanos().is_some_and(|d| Some(d) < now.nanos());
        match p.state {
            state::WAITING if passed(p.waitdeadline) => {
                let id = self.target.clone();
                self.fail(&id, vec!["Maximum waiting time limit exceeded".into()], now);
                true
            }
            state::RUNNING if passed(p.execdeadline) => {
                if p.spec.maxretries >= 0 && p.retries >= p.spec.maxretries {
                    let id = self.target.clone();
                    self.fail(&id, vec!["Maximum execution time limit exceeded".into()], now);
                } else {
                    self.unassign(now, true);
                }
                true
            }
            _ => false,
        }
    }

    /// Replaces the target's output while it runs.
    pub fn set_output(&mut self, caller: &str, out: Vec<Value>) -> Result<(), CoreError> {
        self.check_assignee(caller, "set output")?;
        if self.process().state != state::RUNNING {
            return Err(CoreError::forbidden("Failed to set output, process is not running"));
        }
        if !out.is_empty() {
            let target = self.target.clone();
            if let Some(p) = self.process_mut(&target) {
                p.output = out;
            }
        }
        Ok(())
    }

    /// Adds an attribute to the running target; returns it with its id set.
    pub fn add_attribute(&mut self, caller: &str, mut attr: Attribute) -> Result<Attribute, CoreError> {
        self.check_assignee(caller, "add attribute")?;
        if self.process().state != state::RUNNING {
            return Err(CoreError::forbidden("Failed to add attribute, process is not running"));
        }
        if attr.key.is_empty() {
            return Err(CoreError::bad_request("Failed to add attribute, key is empty"));
        }
        attr.attributeid = attribute_id(&attr.targetid, &attr.key, attr.attributetype);
        attr.targetprocessgraphid = self.process().processgraphid.clone();
        attr.state = state::RUNNING;
        let target = self.target.clone();
        if let Some(p) = self.process_mut(&target) {
            p.attributes.retain(|a| a.attributeid != attr.attributeid);
            p.attributes.push(attr.clone());
        }
        Ok(attr)
    }

    /// Adds a process to the target's workflow while the target runs
    /// (dynamic workflows, such as map-reduce).
    ///
    /// With `insert`, the new process takes over all of the parent's current
    /// children; otherwise it becomes one more child of the parent and, when
    /// `child_id` is given, a parent of that child.
    pub fn add_child(
        &mut self,
        caller: &str,
        child_id: &str,
        insert: bool,
        mut spec: FunctionSpec,
        now: Timestamp,
    ) -> Result<String, CoreError> {
        let parent = self.process().clone();
        if parent.state != state::RUNNING {
            return Err(CoreError::bad_request(format!(
                "Process with Id {} is not running",
                parent.processid
            )));
        }
        if parent.assignedexecutorid != caller {
            return Err(CoreError::forbidden(
                "Failed to add child, only the executor assigned to the parent may add children",
            ));
        }
        let Some(graph) = &self.graph else {
            return Err(CoreError::bad_request(
                "Failed to add child, the parent process is not part of a workflow",
            ));
        };
        if !child_id.is_empty() && !self.processes.contains_key(child_id) {
            return Err(CoreError::bad_request(format!(
                "Failed to add child, process {child_id} is not part of the workflow"
            )));
        }
        if spec.conditions.colonyname.is_empty() {
            spec.conditions.colonyname = graph.colonyname.clone();
        }
        if spec.conditions.colonyname != graph.colonyname {
            return Err(CoreError::bad_request(
                "Failed to add child, the spec names another colony",
            ));
        }
        normalize_spec(&mut spec)?;
        let mut child = new_process(spec, &Initiator::default(), now);
        child.processgraphid = graph.processgraphid.clone();
        for a in &mut child.attributes {
            a.targetprocessgraphid = graph.processgraphid.clone();
        }
        child.waitforparents = true;
        child.parents = vec![parent.processid.clone()];
        let new_id = child.processid.clone();
        if insert {
            child.children = parent.children.clone();
            for former in &parent.children {
                if let Some(f) = self.process_mut(former) {
                    for p in &mut f.parents {
                        if *p == parent.processid {
                            *p = new_id.clone();
                        }
                    }
                }
            }
            if let Some(p) = self.process_mut(&parent.processid) {
                p.children = vec![new_id.clone()];
            }
        } else {
            if let Some(p) = self.process_mut(&parent.processid) {
                p.children.push(new_id.clone());
            }
            if !child_id.is_empty() {
                child.children = vec![child_id.to_owned()];
                if let Some(c) = self.process_mut(child_id) {
                    c.parents.push(new_id.clone());
                }
            }
        }
        self.processes.insert(new_id.clone(), child);
        self.created.insert(new_id.clone());
        self.dirty.insert(new_id.clone());
        Ok(new_id)
    }

    /// Brings the workflow up to date: processes whose parents all succeeded
    /// become ready, and the graph's state follows its processes.
    fn resolve(&mut self, now: Timestamp) {
        if self.graph.is_none() {
            return;
        }
        let ready: Vec<String> = self
            .processes
            .values()
            .filter(|p| {
                p.waitforparents
                    && p.state == state::WAITING
                    && p.parents
                        .iter()
                        .all(|id| self.processes.get(id).is_some_and(|q| q.state == state::SUCCESS))
            })
            .map(|p| p.processid.clone())
            .collect();
        for id in ready {
            if let Some(p) = self.process_mut(&id) {
                p.waitforparents = false;
            }
            self.ready.push(id);
        }
        let states: Vec<i32> = self.processes.values().map(|p| p.state).collect();
        let new_state = if states.contains(&state::FAILED) {
            state::FAILED
        } else if states.iter().all(|s| *s == state::SUCCESS) {
            state::SUCCESS
        } else if states.iter().any(|s| *s == state::SUCCESS || *s == state::RUNNING) {
            state::RUNNING
        } else {
            state::WAITING
        };
        let Some(graph) = &mut self.graph else { return };
        if new_state != state::WAITING && graph.starttime.is_unset() {
            graph.starttime = now;
        }
        if (new_state == state::SUCCESS || new_state == state::FAILED) && graph.endtime.is_unset() {
            graph.endtime = now;
        }
        graph.state = new_state;
        for id in &self.created {
            if !graph.processids.contains(id) {
                graph.processids.push(id.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests;
