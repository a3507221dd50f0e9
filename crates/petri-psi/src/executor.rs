//! The `psi` executor: added in the next step.
