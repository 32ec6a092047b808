//! Coverage-guided fuzzing of what a phone or a stranger can send the server: the shared harness
//! (one server in-process) and the targets' bodies. See docs/reliability.md.

pub mod harness;
pub mod targets;
