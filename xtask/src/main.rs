//! Project chores: `cargo xtask test` runs every check CI runs.
fn main() {}
