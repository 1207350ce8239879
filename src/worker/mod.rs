//! The per-core runtime.
//!
//! * [`flow_hash`] — the symmetric Toeplitz hash that decides which shard
//!   owns a flow.
//! * [`placement`] — which worker serves which (interface, rx queue), on
//!   which core (VPP-style round robin).
//! * [`links`] — the [`LinkFactory`](links::LinkFactory) contract workers
//!   open their links through, and the queue group that joins several
//!   queues of one interface into one NIC.
//! * [`inbox`] — cross-shard frames and control events (route snapshots,
//!   learned neighbors), with a doorbell for sleeping workers.
//! * [`stats`] — per-worker counters published once per interval.
//! * [`runtime`] — the worker threads and their run-to-completion loop.
//! * [`host`] — privileges, interfaces, channel counts, MTU, kernel facts
//!   checked before anything starts.
//!
//! # Contracts
//!
//! * One shard per worker thread, pinned to its core; nothing on the
//!   per-packet path is shared (Principle 2). Cross-shard traffic goes
//!   through inboxes; counters are copied out once per publish interval.
//! * Every shard starts with the same configuration (addresses, routes,
//!   forwarding); later route changes are published as immutable snapshots
//!   ([`ControlEvent::Routes`](inbox::ControlEvent::Routes)) every shard
//!   applies between two polls.
//! * A neighbor answer one shard receives (ARP reply, neighbor
//!   advertisement) is passed to the others with
//!   [`Stack::learn_neighbor`](crate::stack::Stack::learn_neighbor): with
//!   RSS the answer may land on a different queue than the one that asked,
//!   and the asking shard's queued packets must still go out; once the
//!   asking shard has it, every shard gets the neighbor (one request per
//!   neighbor for the router, not one per worker). Learned entries age and
//!   are re-probed on every shard as usual.
//! * An idle worker sleeps in `poll(2)` (never past the stack's next timer,
//!   at most the idle timeout); `--busy-poll` spins instead.
//! * The stop flag ends every loop within one idle timeout; links are
//!   dropped on their worker's thread.

pub mod flow_hash;
pub mod host;
pub mod inbox;
pub mod links;
pub mod placement;
pub mod runtime;
pub mod stats;
pub mod xdp_factory;
