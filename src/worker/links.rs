//! How a worker gets its links: the [`LinkFactory`] contract, and the
//! [`QueueGroup`] that presents several queues of one interface as one NIC.
//!
//! # The factory
//!
//! The runtime never names a link type. For every worker and every
//! interface it asks a [`LinkFactory`] — **on the worker thread**, after the
//! thread is pinned, so per-queue memory (UMEM, rings) is allocated and
//! first touched on the core that will use it — for:
//!
//! * one [`LinkRole::RxTx`] link per rx queue the worker serves on that
//!   interface (placement decides, see [`super::placement`]);
//! * one [`LinkRole::TxOnly`] link when the worker serves no rx queue of
//!   that interface but must still transmit there (a frame received on
//!   `eth0` routed out of `eth1`).
//!
//! The factory returns an [`OpenedLink`]: the link itself, and optionally a
//! file descriptor to wait on (`poll(2)` readiness for rx — an AF_XDP socket
//! fd; a pipe has none) which the runtime also hands to the main thread for
//! the steering program's XSKMAP. The fd is a `dup` of the link's own
//! descriptor, owned by the caller.
//!
//! # One NIC per interface
//!
//! Every shard's stack has exactly one NIC per interface, in the router's
//! interface order, so a `NicId` means the same interface on every shard
//! (handoffs and control events carry NIC ids between shards). When a
//! worker serves several queues of one interface, a [`QueueGroup`] joins
//! their links: it reads from each in turn within the poll budget and
//! transmits on one of them, moving to the next when one is full.

use std::os::fd::OwnedFd;

use core::fmt;

use crate::buffer::PacketBatch;
use crate::config::CopyMode;
use crate::link::{Capabilities, LinkDriverStats, LinkEndpoint};
use crate::time::Instant;
use crate::wire::EthernetAddress;
use crate::xsk::UmemAccounting;

/// What a requested link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkRole {
    /// Receive on `queue` and transmit: the worker serves this rx queue.
    RxTx,
    /// Transmit only: the worker serves no rx queue of the interface;
    /// `queue` names the queue to transmit through (an AF_XDP link binds a
    /// socket sharing that queue's UMEM, or transmits on a tx queue of its
    /// own when the driver has more tx than rx queues).
    TxOnly,
}

/// One link wanted by one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequest {
    /// Interface name.
    pub ifname: String,
    /// Index of the interface in the router's list (= its `NicId`).
    pub iface: usize,
    /// Queue id.
    pub queue: u32,
    /// The worker (shard) asking; the call runs on its thread.
    pub worker: usize,
    /// Rx+tx or tx only.
    pub role: LinkRole,
}

/// A link opened by a [`LinkFactory`].
pub struct OpenedLink {
    /// The link, moved into the worker's stack.
    pub link: Box<dyn LinkEndpoint + Send>,
    /// A descriptor that becomes readable when frames arrive (an AF_XDP
    /// socket); `None` for links that cannot be waited on (in-memory pipes:
    /// the worker then sleeps on its timeout only).
    pub fd: Option<OwnedFd>,
    /// The copy mode actually negotiated (AF_XDP bind), `None` when the link
    /// has no such notion.
    pub copy_mode: Option<CopyMode>,
}

impl fmt::Debug for OpenedLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedLink")
            .field("mac", &self.link.link_address())
            .field("mtu", &self.link.mtu())
            .field("fd", &self.fd)
            .field("copy_mode", &self.copy_mode)
            .finish()
    }
}

/// Why a link could not be opened: the cause and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkOpenError {
    /// What went wrong (with the kernel's reason).
    pub cause: String,
    /// What the user can do about it.
    pub fix: String,
}

impl fmt::Display for LinkOpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}. Fix: {}", self.cause, self.fix)
    }
}

impl std::error::Error for LinkOpenError {}

/// Creates links for workers. Implementations: the AF_XDP factory (one
/// socket per (interface, queue) over a UMEM), and in-memory pipes in tests.
pub trait LinkFactory: Send + Sync {
    /// A short name for reports ("af_xdp", "pipe").
    fn name(&self) -> &str;

    /// Open the link for `req`. Called on the requesting worker's thread,
    /// once per request, before the worker's loop starts.
    fn open(&self, req: &LinkRequest) -> Result<OpenedLink, LinkOpenError>;

    /// Where the frames of `worker`'s packet memory are (the AF_XDP UMEM
    /// it shares between its sockets). Read after the workers stopped, every
    /// frame must be free again: the shutdown report shows it. `None` for
    /// links without such memory (the default) or a worker that opened none.
    fn umem_accounting(&self, worker: usize) -> Option<UmemAccounting> {
        let _ = worker;
        None
    }
}

/// Several links of one interface (one per queue) seen as one.
///
/// * `read_packets` reads from each member in turn, starting where the last
///   call stopped, until the budget is used or every member was asked once.
/// * `write_packets` offers the batch to the current tx member, then to the
///   next ones while frames remain, once each per call.
/// * MTU, header length and capabilities are the most restrictive of the
///   members; the MAC is the first member's (all queues of an interface
///   share its MAC).
pub struct QueueGroup {
    members: Vec<Box<dyn LinkEndpoint + Send>>,
    rx_next: usize,
    tx_next: usize,
}

impl fmt::Debug for QueueGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueGroup")
            .field("members", &self.members.len())
            .finish()
    }
}

impl QueueGroup {
    /// Join `members` (at least one; an empty group is a link that carries
    /// nothing).
    pub fn new(members: Vec<Box<dyn LinkEndpoint + Send>>) -> QueueGroup {
        QueueGroup {
            members,
            rx_next: 0,
            tx_next: 0,
        }
    }

    /// The number of member links.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the group has no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Join `members`, returning the single member itself when there is one.
    pub fn join(mut members: Vec<Box<dyn LinkEndpoint + Send>>) -> Box<dyn LinkEndpoint + Send> {
        if members.len() == 1 {
            members.remove(0)
        } else {
            Box::new(QueueGroup::new(members))
        }
    }
}

impl LinkEndpoint for QueueGroup {
    fn mtu(&self) -> usize {
        self.members.iter().map(|m| m.mtu()).min().unwrap_or(0)
    }

    fn max_header_len(&self) -> usize {
        self.members
            .iter()
            .map(|m| m.max_header_len())
            .max()
            .unwrap_or(14)
    }

    fn link_address(&self) -> EthernetAddress {
        self.members
            .first()
            .map_or(EthernetAddress([0; 6]), |m| m.link_address())
    }

    fn capabilities(&self) -> Capabilities {
        let mut it = self.members.iter().map(|m| m.capabilities().bits());
        let first = it.next().unwrap_or(0);
        let bits = it.fold(first, |a, b| a & b);
        let mut caps = Capabilities::NONE;
        for c in [
            Capabilities::TX_CHECKSUM_OFFLOAD,
            Capabilities::RX_CHECKSUM_OFFLOAD,
            Capabilities::RESOLUTION_REQUIRED,
            Capabilities::LOOPBACK,
            Capabilities::SOFTWARE_GSO,
        ] {
            if bits & c.bits() == c.bits() {
                caps |= c;
            }
        }
        caps
    }

    fn gso_max_size(&self) -> usize {
        self.members
            .iter()
            .map(|m| m.gso_max_size())
            .min()
            .unwrap_or(0)
    }

    fn write_packets(&mut self, batch: &mut PacketBatch, now: Instant) -> usize {
        let n = self.members.len();
        let mut taken = 0;
        for _ in 0..n {
            if batch.is_empty() {
                break;
            }
            let i = self.tx_next % n;
            let k = self.members[i].write_packets(batch, now);
            taken += k;
            if batch.is_empty() {
                break;
            }
            // This member is full: the next call starts at the next one.
            self.tx_next = (i + 1) % n;
        }
        taken
    }

    fn read_packets(&mut self, batch: &mut PacketBatch, budget: usize, now: Instant) -> usize {
        let n = self.members.len();
        let mut got = 0;
        for _ in 0..n {
            if got >= budget {
                break;
            }
            let i = self.rx_next % n;
            self.rx_next = (i + 1) % n;
            got += self.members[i].read_packets(batch, budget - got, now);
        }
        got
    }

    fn driver_stats(&self) -> Option<LinkDriverStats> {
        let mut sum: Option<LinkDriverStats> = None;
        for m in &self.members {
            if let Some(d) = m.driver_stats() {
                sum.get_or_insert_with(LinkDriverStats::default).add(&d);
            }
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::PacketBuffer;
    use crate::link::pipe::{Pipe, PipeConfig};

    fn mac(n: u8) -> EthernetAddress {
        EthernetAddress([2, 0, 0, 0, 0, n])
    }

    #[test]
    fn group_reads_all_members_and_spills_tx() {
        let (a0, mut b0) = Pipe::pair(
            PipeConfig::new(mac(1)),
            PipeConfig::new(mac(2)).with_queue_capacity(2),
        );
        let (a1, mut b1) = Pipe::pair(
            PipeConfig::new(mac(1)).with_mtu(1400),
            PipeConfig::new(mac(3)),
        );
        let mut g = QueueGroup::new(vec![Box::new(a0), Box::new(a1)]);
        assert_eq!(g.mtu(), 1400);
        assert_eq!(g.link_address(), mac(1));
        let now = Instant::ZERO;
        // Peers send 3 frames into each member.
        for peer in [&mut b0, &mut b1] {
            let mut batch: PacketBatch = (0..3)
                .map(|i| PacketBuffer::from_slice(0, &[i; 60]))
                .collect();
            peer.write_packets(&mut batch, now);
        }
        let mut rx = PacketBatch::new();
        assert_eq!(g.read_packets(&mut rx, 4, now), 4);
        assert_eq!(g.read_packets(&mut rx, 64, now), 2);
        assert_eq!(g.read_packets(&mut rx, 64, now), 0);
        // Member 0's peer queue holds 2: the rest spills into member 1.
        let mut tx: PacketBatch = (0..5)
            .map(|i| PacketBuffer::from_slice(0, &[i; 60]))
            .collect();
        assert_eq!(g.write_packets(&mut tx, now), 5);
        assert!(tx.is_empty());
        assert_eq!(b0.rx_queue_len(), 2);
        assert_eq!(b1.rx_queue_len(), 3);
    }
}
