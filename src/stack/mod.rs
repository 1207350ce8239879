//! The stack: one per shard, owning NICs, addresses, routes and neighbors.

mod drop;
pub mod neighbor;
pub mod route;

pub use drop::{DropCounters, DropReason};
