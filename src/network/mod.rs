//! The network layer: Ethernet demux, IPv4, IPv6, ARP, NDP, ICMP,
//! fragmentation, forwarding and the output path.
//!
//! The files here add `impl Stack` blocks, one concern each, in the style of
//! smoltcp's `iface/interface/{ipv4,ipv6,...}.rs`: receive paths are named
//! `process_*`; send paths are named `dispatch_*` (or `send_*`/`output_*`
//! for the shared output pipeline).
//!
//! The first receive steps — Ethernet, IPv4/IPv6 validation and the
//! forwarding decision, i.e. everything a forwarded frame goes through —
//! work on the buffer *in place* (`&mut PacketBuffer`) and return an `Rx`
//! verdict; [`Stack::deliver_network_packet`](crate::stack::Stack::deliver_network_packet),
//! which owns the buffer, carries it out. So a forwarded frame's buffer
//! handle is moved once, into the egress NIC's batch, instead of once per
//! layer. Local delivery (`process_ipv4_local`, `process_ipv6_local`,
//! `process_arp` and what they call) takes ownership of the buffer, since
//! endpoints queue it.
//!
//! The output pipeline every locally built or forwarded packet takes:
//!
//! ```text
//! route_output (FIB, source selection) ─► send_ip (IP header) ─┬─► loopback queue (ours)
//!                                                              └─► output_ip (MTU: GSO / fragment)
//!                                      forward_* (rewrite in place) ─► output_ip
//! output_ip ─► resolve_and_queue (neighbor cache) ─► dispatch_ethernet ─► NIC tx batch
//! ```
//!
//! A received buffer keeps its headroom all the way, so a forwarded frame is
//! rewritten and transmitted in the storage it arrived in.

use std::net::IpAddr;

/// What the in-place receive path decided for a frame; the owner of the
/// buffer carries it out (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rx {
    /// Dropped (counted) or answered with an ICMP error: free the buffer.
    Consumed,
    /// Forwarded with its Ethernet header rewritten: queue it on the
    /// transmit batch of NIC `nic`.
    Transmit {
        /// The egress NIC.
        nic: usize,
    },
    /// Forwarded, but it needs the general output path (fragmentation or
    /// neighbor resolution) on NIC `nic` towards `next_hop`.
    Output {
        /// The egress NIC.
        nic: usize,
        /// The neighbor to send to.
        next_hop: IpAddr,
    },
    /// An IPv4 datagram for us (the buffer starts at the IP header).
    Ipv4Local,
    /// An IPv6 packet for us (the buffer starts at the IP header).
    Ipv6Local,
    /// An ARP packet (the buffer starts at the ARP header).
    Arp,
}

pub mod arp;
pub mod ethernet;
pub mod fast_path;
pub mod forward;
pub mod fragment;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod ndp;
pub mod output;
pub mod rate_limit;

/// What the network layer tells the transport layer about a packet it
/// delivers. The packet buffer still starts at the IP header, so ICMP errors
/// can quote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L4Info {
    /// The NIC the packet arrived on (index).
    pub nic: usize,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Offset of the transport header from the start of the buffer.
    pub l4_offset: usize,
    /// Whether the destination was a broadcast or multicast address.
    pub dst_is_group: bool,
}
