//! Which waiting process an executor may take.

use petri_api::model::{Executor, Process, state};

use crate::spec::{parse_cpu_millis, parse_mem_mib};

/// Resources an executor offers when it asks for work; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Available millicores.
    pub cpu_millis: Option<i64>,
    /// Available memory in MiB.
    pub mem_mib: Option<i64>,
}

/// Whether only some executors of the process's type may take it (named
/// executors, a location, or resource needs), so all of them should look
/// when it becomes ready rather than any one.
pub fn restricted(process: &Process) -> bool {
    let c = &process.spec.conditions;
    c.executornames.as_ref().is_some_and(|n| !n.is_empty())
        || !c.locationname.is_empty()
        || parse_cpu_millis(&c.cpu).unwrap_or(0) > 0
        || parse_mem_mib(&c.mem).unwrap_or(0) > 0
}

/// Whether `executor` may be assigned `process` (the store has already
/// filtered on colony, executor type and readiness; this re-checks them and
/// applies the finer conditions).
pub fn matches(process: &Process, executor: &Executor, limits: Limits) -> bool {
    let c = &process.spec.conditions;
    if process.state != state::WAITING || process.isassigned || process.waitforparents {
        return false;
    }
    if c.executortype != executor.executortype {
        return false;
    }
    if let Some(names) = &c.executornames
        && !names.is_empty()
        && !names.iter().any(|n| n == &executor.executorname)
    {
        return false;
    }
    if !c.locationname.is_empty() && !c.locationname.eq_ignore_ascii_case(&executor.locationname) {
        return false;
    }
    if let Some(cpu) = limits.cpu_millis
        && parse_cpu_millis(&c.cpu).unwrap_or(0) > cpu
    {
        return false;
    }
    if let Some(mem) = limits.mem_mib
        && parse_mem_mib(&c.mem).unwrap_or(0) > mem
    {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Process, Executor) {
        let mut p = Process::default();
        p.spec.conditions.executortype = "t".into();
        let e = Executor {
            executortype: "t".into(),
            executorname: "e1".into(),
            ..Executor::default()
        };
        (p, e)
    }

    #[test]
    fn type_and_names() {
        let (mut p, e) = pair();
        assert!(matches(&p, &e, Limits::default()));
        p.spec.conditions.executornames = Some(vec!["e2".into()]);
        assert!(!matches(&p, &e, Limits::default()));
        p.spec.conditions.executornames = Some(vec!["e2".into(), "e1".into()]);
        assert!(matches(&p, &e, Limits::default()));
        p.spec.conditions.executortype = "u".into();
        assert!(!matches(&p, &e, Limits::default()));
    }

    #[test]
    fn waiting_for_parents_is_not_ready() {
        let (mut p, e) = pair();
        p.waitforparents = true;
        assert!(!matches(&p, &e, Limits::default()));
    }

    #[test]
    fn resources() {
        let (mut p, e) = pair();
        p.spec.conditions.cpu = "2000m".into();
        assert!(!matches(
            &p,
            &e,
            Limits {
                cpu_millis: Some(1000),
                mem_mib: None
            }
        ));
        assert!(matches(
            &p,
            &e,
            Limits {
                cpu_millis: Some(2000),
                mem_mib: None
            }
        ));
    }
}
