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
//! * A neighbor one shard resolves is installed on the others. The stack's
//!   public API offers only static entries for that, so on the other shards
//!   the entry does not age; it is replaced when the resolving shard learns
//!   a new MAC. (A `Stack::learn_neighbor` that ages like a learned entry
//!   would remove that difference.)
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
