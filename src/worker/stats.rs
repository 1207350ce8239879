//! Per-worker counters and how they reach the stats thread.
//!
//! A worker counts in plain fields of its own (its stack's `NicStats`,
//! `DropCounters`, `StackStats`, and the loop counters below): nothing on
//! the per-packet path is shared. Once per publish interval (and once more
//! when it stops) it copies them into its [`StatsSlot`], a `Mutex` taken for
//! the length of a copy by exactly two threads (the worker, the reader), a
//! few times per second. The stats thread reads all slots, sums them per
//! interface and computes rates from two readings.

use std::sync::Mutex;

use crate::link::LinkDriverStats;
use crate::stack::{DropCounters, NicStats, StackStats};
use crate::time::Instant;

use super::placement::RxQueue;

/// The counters of one worker at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Worker index.
    pub worker: usize,
    /// Core it was pinned to (`None`: not pinned, or pinning failed).
    pub core: Option<usize>,
    /// The rx queues it serves.
    pub queues: Vec<RxQueue>,
    /// When these counters were copied (runtime clock).
    pub at: Instant,
    /// Per-interface NIC counters, indexed like the router's interfaces.
    pub nics: Vec<NicStats>,
    /// Per-interface driver drop counters (AF_XDP `XDP_STATISTICS`),
    /// indexed like `nics`; `None` for links without them.
    pub driver: Vec<Option<LinkDriverStats>>,
    /// Drops by reason.
    pub drops: DropCounters,
    /// Protocol counters.
    pub stack: StackStats,
    /// Loop iterations.
    pub loops: u64,
    /// Iterations that did work (rx, tx, timers, inbox).
    pub busy_loops: u64,
    /// Times the worker slept in `poll(2)`.
    pub sleeps: u64,
    /// Frames handed to other shards.
    pub handoff_out: u64,
    /// Frames received from other shards.
    pub handoff_in: u64,
    /// Frames dropped because the owner's inbox was full.
    pub handoff_dropped: u64,
    /// Control events applied.
    pub control_applied: u64,
    /// Control events that could not be applied (e.g. a route naming a
    /// NIC the shard lacks) or sent (a full queue).
    pub control_failed: u64,
    /// Whether the loop has ended (final counters).
    pub stopped: bool,
}

impl WorkerStats {
    /// Total rx packets over all NICs.
    pub fn rx_packets(&self) -> u64 {
        self.nics.iter().map(|n| n.rx_packets).sum()
    }

    /// Total tx packets over all NICs.
    pub fn tx_packets(&self) -> u64 {
        self.nics.iter().map(|n| n.tx_packets).sum()
    }

    /// Total rx bytes over all NICs.
    pub fn rx_bytes(&self) -> u64 {
        self.nics.iter().map(|n| n.rx_bytes).sum()
    }

    /// Total tx bytes over all NICs.
    pub fn tx_bytes(&self) -> u64 {
        self.nics.iter().map(|n| n.tx_bytes).sum()
    }
}

/// Where a worker publishes its counters for the stats thread.
#[derive(Debug, Default)]
pub struct StatsSlot(Mutex<WorkerStats>);

impl StatsSlot {
    /// An empty slot.
    pub fn new() -> StatsSlot {
        StatsSlot::default()
    }

    /// Replace the published counters (worker side).
    pub fn publish(&self, stats: &WorkerStats) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.clone_from(stats);
    }

    /// The last published counters (reader side).
    pub fn read(&self) -> WorkerStats {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Sum NIC counters of several workers per interface.
pub fn sum_nics(workers: &[WorkerStats], n_ifaces: usize) -> Vec<NicStats> {
    let mut out = vec![NicStats::default(); n_ifaces];
    for w in workers {
        for (o, s) in out.iter_mut().zip(&w.nics) {
            o.rx_packets += s.rx_packets;
            o.rx_bytes += s.rx_bytes;
            o.tx_packets += s.tx_packets;
            o.tx_bytes += s.tx_bytes;
            o.disabled_rx_packets += s.disabled_rx_packets;
            o.disabled_rx_bytes += s.disabled_rx_bytes;
            o.tx_dropped += s.tx_dropped;
            o.tx_batches += s.tx_batches;
        }
    }
    out
}

/// Sum the drop counters of several workers.
pub fn sum_drops(workers: &[WorkerStats]) -> DropCounters {
    let mut d = DropCounters::default();
    for w in workers {
        d.merge(&w.drops);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::DropReason;

    #[test]
    fn publish_read_and_sum() {
        let slot = StatsSlot::new();
        let mut w = WorkerStats {
            worker: 1,
            nics: vec![
                NicStats {
                    rx_packets: 3,
                    rx_bytes: 300,
                    ..NicStats::default()
                },
                NicStats {
                    tx_packets: 2,
                    ..NicStats::default()
                },
            ],
            ..WorkerStats::default()
        };
        w.drops.count(DropReason::NoRoute);
        slot.publish(&w);
        let r = slot.read();
        assert_eq!(r, w);
        let sums = sum_nics(&[r.clone(), r.clone()], 2);
        assert_eq!(sums[0].rx_packets, 6);
        assert_eq!(sums[1].tx_packets, 4);
        assert_eq!(sum_drops(&[r.clone(), r]).get(DropReason::NoRoute), 2);
        assert_eq!(w.rx_packets(), 3);
        assert_eq!(w.tx_packets(), 2);
    }
}
