//! The user half of `relay`, the shipped hybrid scheduler
//! (`bpf-objects/relay/`): its BPF half relays runnable tasks through queue
//! maps and dispatches what this half decides. [`wire`] is the record
//! layout both halves share, [`policy`] the pure scheduling policy (weighted
//! virtual time, slices computed per round), [`session`] the live loop on
//! top of the loader's public stages. The `scxpack-relay` binary is a thin
//! command line over [`session::run`].

pub mod policy;
pub mod session;
pub mod wire;

pub use crate::histogram::{Latencies, LatencySummary};
pub use policy::{Policy, PolicyConfig};
pub use session::{RelayError, RelayOptions, RelayReport, run};
pub use wire::Stats;
