//! Link endpoints: the boundary between the stack and whatever moves frames.
//!
//! Every link (AF_XDP sockets, the in-memory [`pipe`], the [`fault`] injector,
//! the [`pcap`] tap) implements [`LinkEndpoint`], the Rust form of the seeds'
//! `LinkEndpoint`: it states its MTU, how much header room it needs, its MAC
//! address and its [`Capabilities`], takes batches of outgoing frames with
//! [`LinkEndpoint::write_packets`], and hands received frames upward with
//! [`LinkEndpoint::read_packets`]. The stack is the network dispatcher: a
//! worker reads a batch from each link and delivers every frame to
//! `Stack::deliver_network_packet` (see [`crate::stack`]).
//!
//! Contract:
//! * `write_packets(batch)` takes packets from the *front* of the batch, as many
//!   as the link can accept now, removes them from the batch and returns how
//!   many it took. What remains belongs to the caller again (retry or drop with
//!   [`DropReason::TxQueueFull`](crate::stack::DropReason::TxQueueFull)).
//!   Frames are complete Ethernet frames without FCS. One call is one kick.
//! * `read_packets(batch, budget)` appends at most `budget` received frames to
//!   the batch and returns how many it appended.
//! * Links never panic on what they carry and never look inside it, except
//!   wrappers whose job it is (fault injection, capture).
//! * Time is passed in (`now`), like everywhere in the sans-I/O core.

use crate::buffer::PacketBatch;
use crate::time::Instant;
use crate::wire::EthernetAddress;
use core::fmt;
use core::ops::{BitOr, BitOrAssign};

pub mod fault;
pub mod pcap;
pub mod pipe;
pub mod replay;
pub mod xdp;

/// What a link can do for the stack (the seeds' `LinkEndpointCapabilities`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u32);

impl Capabilities {
    /// No capabilities.
    pub const NONE: Capabilities = Capabilities(0);
    /// The link computes transport checksums on transmit.
    pub const TX_CHECKSUM_OFFLOAD: Capabilities = Capabilities(1 << 0);
    /// The link verifies transport checksums on receive.
    pub const RX_CHECKSUM_OFFLOAD: Capabilities = Capabilities(1 << 1);
    /// Frames need a link-layer destination (ARP/NDP resolution).
    pub const RESOLUTION_REQUIRED: Capabilities = Capabilities(1 << 2);
    /// Frames sent come back (a loopback link).
    pub const LOOPBACK: Capabilities = Capabilities(1 << 3);
    /// The stack may build packets up to the GSO maximum and cut them with
    /// [`crate::gso`] into one batch for this link.
    pub const SOFTWARE_GSO: Capabilities = Capabilities(1 << 4);

    /// Whether every capability in `other` is present.
    #[inline]
    pub const fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }

    /// Raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }
}

impl BitOr for Capabilities {
    type Output = Capabilities;
    fn bitor(self, rhs: Capabilities) -> Capabilities {
        Capabilities(self.0 | rhs.0)
    }
}

impl BitOrAssign for Capabilities {
    fn bitor_assign(&mut self, rhs: Capabilities) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::TX_CHECKSUM_OFFLOAD, "TX_CHECKSUM_OFFLOAD"),
            (Self::RX_CHECKSUM_OFFLOAD, "RX_CHECKSUM_OFFLOAD"),
            (Self::RESOLUTION_REQUIRED, "RESOLUTION_REQUIRED"),
            (Self::LOOPBACK, "LOOPBACK"),
            (Self::SOFTWARE_GSO, "SOFTWARE_GSO"),
        ];
        let mut first = true;
        f.write_str("Capabilities(")?;
        for (c, n) in names {
            if self.contains(c) && c.0 != 0 {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

/// Drop counters a link's driver keeps below the stack (for AF_XDP: the
/// socket's `XDP_STATISTICS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkDriverStats {
    /// Frames dropped for reasons other than invalid descriptors.
    pub rx_dropped: u64,
    /// Frames dropped because the rx ring was full (the worker fell behind).
    pub rx_ring_full: u64,
    /// Times the fill ring was empty (the worker did not refill in time).
    pub rx_fill_ring_empty: u64,
    /// Times the tx ring was empty when the kernel was kicked.
    pub tx_ring_empty: u64,
    /// Descriptors the kernel rejected, rx and tx together.
    pub invalid_descs: u64,
}

impl LinkDriverStats {
    /// Add another link's counters into these.
    pub fn add(&mut self, o: &LinkDriverStats) {
        self.rx_dropped += o.rx_dropped;
        self.rx_ring_full += o.rx_ring_full;
        self.rx_fill_ring_empty += o.rx_fill_ring_empty;
        self.tx_ring_empty += o.tx_ring_empty;
        self.invalid_descs += o.invalid_descs;
    }
}

/// A link the stack sends frames through and receives frames from.
pub trait LinkEndpoint {
    /// The largest network-layer packet (IP header included, Ethernet header
    /// excluded) the link carries.
    fn mtu(&self) -> usize;

    /// Bytes of link-layer header the stack must reserve in front of each
    /// network packet (14 for Ethernet, 18 with a VLAN tag).
    fn max_header_len(&self) -> usize;

    /// The link's own MAC address.
    fn link_address(&self) -> EthernetAddress;

    /// What the link does for the stack.
    fn capabilities(&self) -> Capabilities;

    /// The largest GSO packet the link accepts; 0 when it takes none.
    fn gso_max_size(&self) -> usize {
        if self.capabilities().contains(Capabilities::SOFTWARE_GSO) {
            crate::gso::SOFTWARE_GSO_MAX_SIZE
        } else {
            0
        }
    }

    /// Transmit frames from the front of `batch`; return how many were taken
    /// (and removed from the batch).
    fn write_packets(&mut self, batch: &mut PacketBatch, now: Instant) -> usize;

    /// Append at most `budget` received frames to `batch`; return how many.
    fn read_packets(&mut self, batch: &mut PacketBatch, budget: usize, now: Instant) -> usize;

    /// The driver's own drop counters, for links that have them (one
    /// syscall for AF_XDP: call it once per stats interval, not per poll).
    fn driver_stats(&self) -> Option<LinkDriverStats> {
        None
    }
}

impl<L: LinkEndpoint + ?Sized> LinkEndpoint for Box<L> {
    fn mtu(&self) -> usize {
        (**self).mtu()
    }
    fn max_header_len(&self) -> usize {
        (**self).max_header_len()
    }
    fn link_address(&self) -> EthernetAddress {
        (**self).link_address()
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn gso_max_size(&self) -> usize {
        (**self).gso_max_size()
    }
    fn write_packets(&mut self, batch: &mut PacketBatch, now: Instant) -> usize {
        (**self).write_packets(batch, now)
    }
    fn read_packets(&mut self, batch: &mut PacketBatch, budget: usize, now: Instant) -> usize {
        (**self).read_packets(batch, budget, now)
    }
    fn driver_stats(&self) -> Option<LinkDriverStats> {
        (**self).driver_stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_sets() {
        let c = Capabilities::RESOLUTION_REQUIRED | Capabilities::SOFTWARE_GSO;
        assert!(c.contains(Capabilities::SOFTWARE_GSO));
        assert!(!c.contains(Capabilities::LOOPBACK));
        assert!(c.contains(Capabilities::NONE));
        assert_eq!(
            format!("{c:?}"),
            "Capabilities(RESOLUTION_REQUIRED | SOFTWARE_GSO)"
        );
    }
}
