//! Shared helpers of the integration tests (also used by `examples/sim.rs`).

pub mod simnet;
