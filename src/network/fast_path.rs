//! The forwarding fast path: the common case of the router's per-packet
//! work in one pass over the frame's headers, for IPv4 (below) and IPv6
//! (`Stack::fast_forward_v6`, the same idea with RFC 8200's checks).
//!
//! [`Stack::poll`] offers every received frame to
//! `Stack::fast_forward_v4` first. It takes a frame only when every
//! check the general receive path (`process_ethernet` → `process_ipv4` →
//! `forward_ipv4`, see [`crate::network`]) would make is certain to pass
//! and its outcome certain to be "rewritten and queued on NIC e":
//!
//! * the ingress NIC is enabled, forwards IPv4, has no packet endpoints
//!   and no receive checksum offload (its flags are refreshed at the start
//!   of every poll, `Stack::refresh_fast_path`);
//! * the frame is unicast to the NIC's own MAC, untagged IPv4 with a
//!   20-byte header (no options), a total length that fits the frame, a
//!   valid header checksum (RFC 1812 5.2.2) and a TTL above 1 (RFC 1812
//!   5.3.1);
//! * neither address is in 0/8, 127/8, 169.254/16 or 224/3 (so no
//!   martian, loopback, link-local, multicast or broadcast address), and
//!   the stack's address filter says neither is one of ours or a subnet
//!   broadcast of any NIC (RFC 1812 5.3.7, RFC 2644);
//! * the FIB gives a connected or IPv4 gateway route to an existing NIC
//!   that resolves neighbors and has no packet endpoints, the packet fits
//!   its MTU (no fragmentation question), and the next hop is the neighbor
//!   cache's last hit (a pure read: no state changes, as in the general
//!   path's lookup).
//!
//! Anything else — including every frame the general path would drop,
//! answer with an ICMP error, deliver locally, fragment or park for
//! resolution — is left untouched for the general path, which decides and
//! counts as always. A taken frame gets exactly the general path's effects:
//! the same counters (`rx_packets`, `rx_bytes`, `ip_rx`, `ip_forwarded`),
//! the TTL decrement with the RFC 1624 checksum update, link padding
//! trimmed, the Ethernet header rewritten in place, and the buffer moved
//! into the egress NIC's batch. `tests/fast_path.rs` checks that
//! equivalence on random frames against a stack with the fast path off
//! ([`StackConfig::fast_path`](crate::stack::StackConfig::fast_path)).
//!
//! Why: the general path serves every protocol and configuration, and
//! pays for it per packet in branches and in re-deriving the frame from
//! the buffer at each layer (527 instructions per forwarded 64-byte frame
//! in `xdpnet bench pipeline`, callgrind); this pass reads the 34 header
//! bytes once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::buffer::PacketBuffer;
use crate::link::Capabilities;
use crate::stack::address::is_link_local_v6;
use crate::stack::route::NextHop;
use crate::stack::Stack;
use crate::wire::checksum;

/// Ethernet + IPv4 header without options.
const HEADERS: usize = 34;
/// Ethernet + IPv6 header.
const HEADERS_V6: usize = 54;

/// Whether `a` is in a block the fast path leaves to the general path:
/// 0/8 ("this network", RFC 1122 3.2.1.3), 127/8 (loopback), 169.254/16
/// (link-local, RFC 3927 2.7) or 224/3 (multicast, reserved, limited
/// broadcast).
#[inline(always)]
fn special_block(o: [u8; 4]) -> bool {
    o[0] == 0 || o[0] == 127 || o[0] >= 224 || (o[0] == 169 && o[1] == 254)
}

/// Whether `a` is an IPv6 address the fast path leaves to the general
/// path: unspecified, loopback, multicast (RFC 4291 2.5.2, 2.5.3, 2.7) or
/// link-local (2.5.6: never forwarded).
#[inline(always)]
fn special_v6(a: &Ipv6Addr) -> bool {
    a.is_unspecified() || a.is_loopback() || a.is_multicast() || is_link_local_v6(a)
}

impl Stack {
    /// Recompute every NIC's fast-path flags from its configuration (once
    /// per poll: configuration changes between polls).
    pub(crate) fn refresh_fast_path(&mut self) {
        let on = self.config.fast_path;
        for nic in &mut self.nics {
            let plain = nic.packet_endpoints.is_empty();
            nic.fast_rx_v4 = on
                && plain
                && nic.enabled
                && nic.forwarding_v4
                && !nic.caps.contains(Capabilities::RX_CHECKSUM_OFFLOAD);
            nic.fast_rx_v6 = on && plain && nic.enabled && nic.forwarding_v6;
            nic.fast_tx = on && plain && nic.caps.contains(Capabilities::RESOLUTION_REQUIRED);
        }
    }

    /// What the general path does to a forwarded frame besides the
    /// rewrite: link padding trimmed to `frame_len`, no GSO, and the
    /// counters of ingress NIC `i` (`len`: the frame as received) and of
    /// the stack.
    #[inline(always)]
    fn fast_taken(&mut self, i: usize, pkt: &mut PacketBuffer, len: usize, frame_len: usize) {
        pkt.truncate(frame_len);
        pkt.gso = None;
        let nic = &mut self.nics[i];
        nic.stats.rx_packets += 1;
        nic.stats.rx_bytes += len as u64;
        self.stats.ip_rx += 1;
        self.stats.ip_forwarded += 1;
        self.stats.fast_path_forwarded += 1;
    }

    /// Forward `pkt`, received on NIC `i`, if it is the common case (see
    /// the module docs): rewritten in place and counted, it is the
    /// caller's to queue on the returned egress NIC. `None` leaves the
    /// frame and every counter untouched.
    #[inline(always)]
    pub(crate) fn fast_forward_v4(&mut self, i: usize, pkt: &mut PacketBuffer) -> Option<usize> {
        let nic = self.nics.get(i)?;
        if !nic.fast_rx_v4 {
            return None;
        }
        let len = pkt.len();
        let f = pkt.as_mut_slice().first_chunk_mut::<HEADERS>()?;
        // Unicast to us, EtherType IPv4 (untagged), version 4 with IHL 5.
        if f[..6] != nic.mac.0 || f[12..15] != [0x08, 0x00, 0x45] {
            return None;
        }
        // RFC 791 3.1: the total length covers the header and fits the
        // frame (the rest is link padding, trimmed below).
        let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
        if total < 20 || total > len - 14 {
            return None;
        }
        // RFC 1812 5.2.2: verify the header checksum.
        if checksum::header20(f[14..34].first_chunk()?) != !0 {
            return None;
        }
        let ttl = f[22];
        let src = [f[26], f[27], f[28], f[29]];
        let dst = [f[30], f[31], f[32], f[33]];
        let (src_a, dst_a) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
        // RFC 1812 5.3.1: a TTL that would reach 0 takes the general path
        // (time exceeded).
        if ttl <= 1
            || special_block(src)
            || special_block(dst)
            || self.may_be_special_v4(src_a)
            || self.may_be_special_v4(dst_a)
        {
            return None;
        }
        let (e, next_hop) = match self.fib().lookup_v4(dst_a).map(|r| &r.next_hop)? {
            NextHop::Connected { nic } => (usize::from(nic.0), None),
            NextHop::Gateway {
                nic,
                gateway: IpAddr::V4(g),
            } => (usize::from(nic.0), Some(*g)),
            _ => return None,
        };
        // A gateway gets the destination's checks (it is resolved like
        // one: a broadcast or multicast gateway maps to a group MAC).
        if let Some(g) = next_hop {
            if special_block(g.octets()) || self.may_be_special_v4(g) {
                return None;
            }
        }
        let egress = self.nics.get(e)?;
        if !egress.fast_tx || total > egress.mtu {
            return None;
        }
        let mac = egress.arp.peek_hit(next_hop.unwrap_or(dst_a))?;
        let src_mac = egress.mac;
        // RFC 1812 5.3.1 / RFC 1624: TTL − 1, the checksum patched.
        let word = u16::from_be_bytes([ttl, f[23]]);
        f[22] = ttl - 1;
        let sum = checksum::update16(u16::from_be_bytes([f[24], f[25]]), word, word - 0x100);
        f[24..26].copy_from_slice(&sum.to_be_bytes());
        f[..6].copy_from_slice(&mac.0);
        f[6..12].copy_from_slice(&src_mac.0);
        self.fast_taken(i, pkt, len, 14 + total);
        Some(e)
    }

    /// `Stack::fast_forward_v4` for IPv6 (RFC 8200; the general path's
    /// `process_ipv6` and `forward_ipv6`): unicast to us, version 6, a
    /// payload length that fits the frame, a hop limit above 1, no
    /// hop-by-hop options header (RFC 8200 4.3; left to the general path), neither
    /// address unspecified, loopback, multicast or link-local nor possibly
    /// one of ours (the stack's IPv6 address filter, tentative addresses
    /// included), a connected or IPv6 gateway route whose next hop is the
    /// egress neighbor cache's last hit, and a packet that fits the egress
    /// MTU (routers never fragment IPv6: too big is the general path's
    /// ICMP error). The hop limit is decremented (no header checksum).
    #[inline(always)]
    pub(crate) fn fast_forward_v6(&mut self, i: usize, pkt: &mut PacketBuffer) -> Option<usize> {
        let nic = self.nics.get(i)?;
        if !nic.fast_rx_v6 {
            return None;
        }
        let len = pkt.len();
        let f = pkt.as_mut_slice().first_chunk_mut::<HEADERS_V6>()?;
        if f[..6] != nic.mac.0 || f[12..14] != [0x86, 0xdd] || f[14] >> 4 != 6 {
            return None;
        }
        let total = 40 + usize::from(u16::from_be_bytes([f[18], f[19]]));
        let (next_header, hop_limit) = (f[20], f[21]);
        if total > len - 14 || next_header == 0 || hop_limit <= 1 {
            return None;
        }
        let src = Ipv6Addr::from(*f[22..38].first_chunk::<16>()?);
        let dst = Ipv6Addr::from(*f[38..54].first_chunk::<16>()?);
        if special_v6(&src)
            || special_v6(&dst)
            || self.local_v6_filter.may_contain_v6(&src)
            || self.local_v6_filter.may_contain_v6(&dst)
        {
            return None;
        }
        let (e, next_hop) = match self.fib().lookup_v6(dst).map(|r| &r.next_hop)? {
            NextHop::Connected { nic } => (usize::from(nic.0), dst),
            NextHop::Gateway {
                nic,
                gateway: IpAddr::V6(g),
            } => (usize::from(nic.0), *g),
            _ => return None,
        };
        // A multicast gateway maps to a group MAC in the general path.
        if next_hop.is_multicast() {
            return None;
        }
        let egress = self.nics.get(e)?;
        if !egress.fast_tx || total > egress.mtu {
            return None;
        }
        let mac = egress.ndp.peek_hit(next_hop)?;
        let src_mac = egress.mac;
        // RFC 8200 3: the hop limit is decremented by each forwarding node.
        f[21] = hop_limit - 1;
        f[..6].copy_from_slice(&mac.0);
        f[6..12].copy_from_slice(&src_mac.0);
        self.fast_taken(i, pkt, len, 14 + total);
        Some(e)
    }
}
