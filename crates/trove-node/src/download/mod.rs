//! Downloads: the chunk scheduler, the runtime that drives it over sessions for one file,
//! `get`, which downloads whole shares or selected paths, and `fetch`, which downloads one
//! file by content id.

pub mod fetch;
pub mod get;
pub mod manager;
mod out_dir;
pub mod runtime;
pub mod swarm;
