//! The broker end to end: real servers of its own for each test (in-process
//! over SQLite or a PostgreSQL schema, or the `petri` binary as a process),
//! driven by the SDK and the executor runtime, and by raw HTTP where the wire
//! format is what is tested.
//!
//! This is the crate's only test binary; the modules live in `integration/`.
//! (As the crate root of a test target, this file resolves modules relative to
//! `tests/`, hence the `path` attributes; files placed directly in `tests/`
//! would each become a test binary of their own.)

#[path = "integration/bench.rs"]
mod bench;
#[path = "integration/concurrency.rs"]
mod concurrency;
#[path = "integration/deadlines.rs"]
mod deadlines;
#[path = "integration/decoding.rs"]
mod decoding;
#[path = "integration/defaults.rs"]
mod defaults;
#[path = "integration/ext.rs"]
mod ext;
#[path = "integration/faults.rs"]
mod faults;
#[path = "integration/hostile.rs"]
mod hostile;
#[path = "integration/lifecycle.rs"]
mod lifecycle;
#[path = "integration/longpoll.rs"]
mod longpoll;
#[path = "integration/pubsub.rs"]
mod pubsub;
#[path = "integration/removal.rs"]
mod removal;
#[path = "integration/replay.rs"]
mod replay;
#[path = "integration/replicas.rs"]
mod replicas;
#[path = "integration/restart.rs"]
mod restart;
#[path = "integration/roles.rs"]
mod roles;
#[path = "integration/scheduling.rs"]
mod scheduling;
#[path = "integration/shutdown.rs"]
mod shutdown;
#[path = "integration/tls.rs"]
mod tls;
#[path = "integration/wire.rs"]
mod wire;
#[path = "integration/workflows.rs"]
mod workflows;
