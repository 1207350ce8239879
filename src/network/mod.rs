//! The network layer: Ethernet demux, IPv4, IPv6, ARP, NDP, ICMP,
//! fragmentation, forwarding and the output path.
//!
//! The files here add `impl Stack` blocks, one concern each, in the style of
//! smoltcp's `iface/interface/{ipv4,ipv6,...}.rs`: receive paths are named
//! `process_*` and take ownership of the packet buffer; send paths are named
//! `dispatch_*` (or `send_*`/`output_*` for the shared output pipeline).
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

pub mod arp;
pub mod ethernet;
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
