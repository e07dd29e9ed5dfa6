//! Downloads: the chunk scheduler, the runtime that drives it over sessions for one file,
//! and `get`, which downloads whole shares or selected paths.

pub mod get;
pub mod runtime;
pub mod swarm;
