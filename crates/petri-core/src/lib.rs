//! The broker's rules, free of IO: how a function spec becomes a process, which
//! executor may take which process, how a process moves through its states, and
//! how a workflow's graph follows its processes.
//!
//! The store loads the processes an operation touches into a [`Workspace`],
//! calls one of its methods, and writes back what changed, all in one
//! transaction; every rule therefore lives here once, for every backend.
//!
//! Process records are the Colonies objects themselves ([`petri_api::model`]):
//! they are stored as documents in exactly the shape clients read, so nothing
//! is lost or reshaped between what an executor wrote and what a user reads.

mod error;
pub mod ext;
mod matching;
mod spec;
mod stats;
mod workflow;
mod workspace;

pub use error::{CoreError, ErrorKind};
pub use matching::{Limits, matches, restricted};
pub use spec::{Initiator, new_process, normalize_spec, parse_cpu_millis, parse_mem_mib};
pub use stats::record_call;
pub use workflow::{build_workflow, graph_view};
pub use workspace::Workspace;

/// Priority bounds accepted on submission.
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i64> = -50_000..=50_000;

/// Nanoseconds of queue age one priority point is worth (one day).
pub const PRIORITY_UNIT_NANOS: i64 = 86_400 * 1_000_000_000;
