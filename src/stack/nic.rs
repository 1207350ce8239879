//! A network interface: one link endpoint plus the state the stack keeps
//! for it.
//!
//! A `Nic` owns its [`LinkEndpoint`], its addresses, one neighbor cache per
//! resolution protocol (ARP for IPv4, NDP for IPv6), its counters, and the
//! batch of frames queued for transmission during the current poll. That
//! batch is flushed with a single `write_packets` call per poll (one kick per
//! link per poll, DESIGN.md principle 4).
//!
//! Behaviour switches follow the seeds' NIC: a disabled NIC drops everything
//! it receives (counted separately as disabled-rx) and sends nothing;
//! *promiscuous* accepts frames for any MAC and IP packets for any address;
//! *spoofing* lets local endpoints send from addresses the NIC does not own;
//! *forwarding* (per address family) routes packets not addressed to us.

use crate::buffer::PacketBatch;
use crate::buffer::PacketBuffer;
use crate::link::{Capabilities, LinkEndpoint};
use crate::stack::address::AddressSet;
use crate::stack::neighbor::{NeighborCache, NeighborConfig};
use crate::stack::NicId;
use crate::transport::Handle;
use crate::wire::EthernetAddress;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Per-NIC packet and byte counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NicStats {
    /// Frames received while enabled.
    pub rx_packets: u64,
    /// Bytes received while enabled.
    pub rx_bytes: u64,
    /// Frames the link accepted for transmission.
    pub tx_packets: u64,
    /// Bytes the link accepted for transmission.
    pub tx_bytes: u64,
    /// Frames received while the NIC was disabled (dropped).
    pub disabled_rx_packets: u64,
    /// Bytes received while the NIC was disabled (dropped).
    pub disabled_rx_bytes: u64,
    /// Frames the link refused and that were dropped.
    pub tx_dropped: u64,
    /// `write_packets` calls (kicks).
    pub tx_batches: u64,
}

/// A network interface within one stack.
pub struct Nic {
    pub(crate) id: NicId,
    pub(crate) name: String,
    pub(crate) link: Box<dyn LinkEndpoint + Send>,
    pub(crate) mac: EthernetAddress,
    pub(crate) mtu: usize,
    pub(crate) caps: Capabilities,
    pub(crate) enabled: bool,
    pub(crate) promiscuous: bool,
    pub(crate) spoofing: bool,
    pub(crate) forwarding_v4: bool,
    pub(crate) forwarding_v6: bool,
    pub(crate) addrs: AddressSet,
    pub(crate) arp: NeighborCache<Ipv4Addr, PacketBuffer>,
    pub(crate) ndp: NeighborCache<Ipv6Addr, PacketBuffer>,
    pub(crate) stats: NicStats,
    /// Frames queued for transmission, flushed once per poll.
    pub(crate) tx: PacketBatch,
    /// Packet endpoints that see every frame of this NIC.
    pub(crate) packet_endpoints: Vec<Handle>,
    /// IPv6 addresses with duplicate address detection in progress.
    pub(crate) dad: Vec<DadProbe>,
    /// Received IPv4 frames may take the forwarding fast path (enabled,
    /// forwarding, no packet endpoints, no rx checksum offload); refreshed
    /// every poll ([`crate::network::fast_path`]).
    pub(crate) fast_rx_v4: bool,
    /// The same for IPv6 (enabled, forwarding, no packet endpoints).
    pub(crate) fast_rx_v6: bool,
    /// The fast path may transmit here, either family (resolves
    /// neighbors, no packet endpoints).
    pub(crate) fast_tx: bool,
}

/// Duplicate address detection in progress for one tentative address
/// (RFC 4862 5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DadProbe {
    pub(crate) addr: Ipv6Addr,
    /// Solicitations still to send.
    pub(crate) remaining: u8,
    /// When the next solicitation is due, or when DAD completes once none
    /// remain.
    pub(crate) deadline: crate::time::Instant,
}

impl core::fmt::Debug for Nic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Nic")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("mac", &self.mac)
            .field("mtu", &self.mtu)
            .field("enabled", &self.enabled)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Nic {
    pub(crate) fn new(
        id: NicId,
        name: String,
        link: Box<dyn LinkEndpoint + Send>,
        neighbor: NeighborConfig,
    ) -> Nic {
        let mac = link.link_address();
        let mtu = link.mtu();
        let caps = link.capabilities();
        Nic {
            id,
            name,
            link,
            mac,
            mtu,
            caps,
            enabled: true,
            promiscuous: false,
            spoofing: false,
            forwarding_v4: false,
            forwarding_v6: false,
            addrs: AddressSet::default(),
            arp: NeighborCache::new(neighbor.clone()),
            ndp: NeighborCache::new(neighbor),
            stats: NicStats::default(),
            tx: Vec::with_capacity(64),
            packet_endpoints: Vec::new(),
            dad: Vec::new(),
            fast_rx_v4: false,
            fast_rx_v6: false,
            fast_tx: false,
        }
    }

    /// The NIC's id within its stack.
    pub fn id(&self) -> NicId {
        self.id
    }

    /// The NIC's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The link's MAC address.
    pub fn mac(&self) -> EthernetAddress {
        self.mac
    }

    /// The link's network-layer MTU.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// The link's capabilities.
    pub fn capabilities(&self) -> Capabilities {
        self.caps
    }

    /// Whether the NIC is enabled.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether promiscuous mode is on.
    pub fn is_promiscuous(&self) -> bool {
        self.promiscuous
    }

    /// Whether spoofing is allowed.
    pub fn is_spoofing(&self) -> bool {
        self.spoofing
    }

    /// Whether IPv4 forwarding is on.
    pub fn forwarding_v4(&self) -> bool {
        self.forwarding_v4
    }

    /// Whether IPv6 forwarding is on.
    pub fn forwarding_v6(&self) -> bool {
        self.forwarding_v6
    }

    /// The NIC's addresses.
    pub fn addresses(&self) -> &AddressSet {
        &self.addrs
    }

    /// The NIC's counters.
    pub fn stats(&self) -> &NicStats {
        &self.stats
    }

    /// The ARP cache.
    pub fn arp_cache(&self) -> &NeighborCache<Ipv4Addr, PacketBuffer> {
        &self.arp
    }

    /// The NDP neighbor cache.
    pub fn ndp_cache(&self) -> &NeighborCache<Ipv6Addr, PacketBuffer> {
        &self.ndp
    }

    /// Whether a frame for `dst` is for this NIC (RFC 1122 2.4 style
    /// link-layer filtering): our MAC, broadcast, or multicast we listen to.
    /// IPv6 multicast (33:33:…) is accepted wholesale and filtered by group
    /// at the IPv6 layer; other multicast only in promiscuous mode.
    #[inline]
    pub(crate) fn accepts_mac(&self, dst: &EthernetAddress) -> bool {
        *dst == self.mac
            || dst.is_broadcast()
            || (dst.0[0] == 0x33 && dst.0[1] == 0x33)
            || self.promiscuous
    }
}
