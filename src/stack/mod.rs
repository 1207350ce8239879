//! The stack: one per shard, owning NICs, addresses, routes and neighbors.

use core::fmt;

mod drop;
pub mod neighbor;
pub mod route;

pub use drop::{DropCounters, DropReason};

/// Identifies a NIC within one stack (dense, assigned in creation order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NicId(pub u16);

impl fmt::Display for NicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nic{}", self.0)
    }
}
