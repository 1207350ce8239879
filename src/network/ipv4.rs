//! IPv4 receive path (RFC 791, RFC 1122 3.2.1, RFC 1812 5.2–5.3).
//!
//! `process_ipv4` validates the header (version, IHL, lengths that lie,
//! header checksum unless the link verified it), trims link padding, rejects
//! martian and spoofed-own sources, and decides: local delivery (our
//! addresses on any NIC — the weak host model of RFC 1122 3.3.4.2 — limited
//! and directed broadcast, all-hosts multicast), forwarding, or drop.
//! `process_ipv4_local` reassembles fragments and hands the datagram to ICMP,
//! UDP, TCP or raw endpoints; unknown protocols get ICMP protocol
//! unreachable (RFC 1122 3.2.2.1).

use std::net::{IpAddr, Ipv4Addr};

use crate::buffer::PacketBuffer;
use crate::link::Capabilities;
use crate::network::forward::Ipv4Header;
use crate::network::fragment::Fragment;
use crate::network::{L4Info, Rx};
use crate::stack::{DropReason, Stack};
use crate::time::Instant;
use crate::wire::icmpv4::{Icmpv4DstUnreachable, Icmpv4TimeExceeded};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::{Error as WireError, IpProtocol};

/// The all-hosts group every IPv4 host belongs to (RFC 1112 4).
const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);

impl Stack {
    /// Receive an IPv4 packet on NIC `i` (Ethernet header already pulled),
    /// in place: the verdict says whether it is for us or forwarded.
    #[inline(always)]
    pub(crate) fn process_ipv4(&mut self, i: usize, pkt: &mut PacketBuffer, now: Instant) -> Rx {
        let nic = &self.nics[i];
        let verify = !nic.caps.contains(Capabilities::RX_CHECKSUM_OFFLOAD);
        // The checks of `Ipv4Repr::parse`, without building the repr.
        let view = Ipv4Packet::new_unchecked(pkt.as_slice());
        match view.validate(verify) {
            Ok(()) => {}
            Err(WireError::Checksum) => return self.drop_rx(DropReason::Ipv4BadChecksum),
            Err(_) => return self.drop_rx(DropReason::Ipv4Malformed),
        }
        let (src, dst) = (view.src_addr(), view.dst_addr());
        let (ttl, dont_frag) = (view.hop_limit(), view.dont_frag());
        // RFC 791 3.1: total length bounds the datagram; the rest is padding.
        let total_len = view.total_len();
        pkt.truncate(usize::from(total_len));
        self.stats.ip_rx += 1;

        // Our addresses and the NICs' subnet broadcasts, for the checks
        // below: one filter probe per address says "none of them" for
        // nearly all forwarded traffic.
        let (src_special, dst_special) = (self.may_be_special_v4(src), self.may_be_special_v4(dst));
        // RFC 1812 5.3.7 / RFC 1122 3.2.1.3: a source must be a unicast host
        // address; loopback addresses never appear on a link.
        if src.is_multicast()
            || src.is_broadcast()
            || src.is_loopback()
            || dst.is_loopback()
            || (src_special && nic.addrs.is_subnet_broadcast_v4(src))
        {
            return self.drop_rx(DropReason::MartianSource);
        }
        if src_special && self.local_v4.contains(&src) {
            return self.drop_rx(DropReason::OwnSourceAddress);
        }
        let local = dst.is_broadcast()
            || dst == ALL_HOSTS
            || (dst_special
                && (self.local_v4.contains(&dst) || nic.addrs.is_subnet_broadcast_v4(dst)));
        if local {
            return Rx::Ipv4Local;
        }
        if dst.is_multicast() {
            return self.drop_rx(DropReason::MulticastNotJoined);
        }
        if nic.forwarding_v4 {
            let h = Ipv4Header {
                src,
                dst,
                ttl,
                dont_frag,
                total_len,
                dst_special,
            };
            return self.forward_ipv4(i, pkt, h, now);
        }
        if nic.promiscuous {
            return Rx::Ipv4Local;
        }
        self.drop_rx(DropReason::ForwardingDisabled)
    }

    /// Deliver an IPv4 datagram addressed to us (also the loopback path).
    pub(crate) fn process_ipv4_local(&mut self, i: usize, mut pkt: PacketBuffer, now: Instant) {
        let Ok(view) = Ipv4Packet::new_checked(pkt.as_slice()) else {
            return self.drop_packet(DropReason::Ipv4Malformed);
        };
        let (src, dst, proto) = (view.src_addr(), view.dst_addr(), view.next_header());
        if view.more_frags() || view.frag_offset() != 0 {
            let key = (src, dst, view.ident(), u8::from(proto));
            let hl = usize::from(view.header_len());
            let offset = usize::from(view.frag_offset());
            let first = (offset == 0).then(|| &pkt.as_slice()[..hl]);
            let frag = Fragment {
                offset,
                more_fragments: view.more_frags(),
                data: view.payload(),
                first_header: first,
            };
            let result = self.reasm_v4.process(key, now, frag);
            match result {
                Ok(None) => return,
                Ok(Some(whole)) => {
                    pkt = whole.buffer;
                    // The datagram is whole again: fix length, flags, checksum.
                    let len = pkt.len();
                    let Ok(mut v) = Ipv4Packet::new_checked(pkt.as_mut_slice()) else {
                        return self.drop_packet(DropReason::FragmentMalformed);
                    };
                    if len > usize::from(u16::MAX) {
                        return self.drop_packet(DropReason::FragmentTooBig);
                    }
                    v.set_total_len(len as u16);
                    v.set_more_frags(false);
                    v.set_frag_offset(0);
                    v.fill_checksum();
                    self.stats.reassembled += 1;
                }
                Err(reason) => return self.drop_packet(reason),
            }
        }
        let view = Ipv4Packet::new_unchecked(pkt.as_slice());
        let l4_offset = usize::from(view.header_len());
        let nic = &self.nics[i];
        let info = L4Info {
            nic: i,
            src: IpAddr::V4(src),
            dst: IpAddr::V4(dst),
            l4_offset,
            dst_is_group: dst.is_broadcast()
                || dst.is_multicast()
                || nic.addrs.is_subnet_broadcast_v4(dst),
        };
        self.stats.ip_delivered += 1;
        let raw_taken = self.deliver_to_raw(i, &pkt, false, proto);
        match proto {
            IpProtocol::Icmp => self.process_icmpv4(info, pkt, now),
            IpProtocol::Udp => self.process_udp(info, pkt, now),
            IpProtocol::Tcp => self.process_tcp(info, pkt, now),
            _ if raw_taken => {}
            _ => {
                self.drop_packet(DropReason::UnknownProtocol);
                if !info.dst_is_group {
                    self.send_icmpv4_dst_unreachable(
                        i,
                        &pkt,
                        Icmpv4DstUnreachable::ProtoUnreachable,
                        0,
                        now,
                    );
                }
            }
        }
    }

    /// Reassembly timeouts: count them and, when the first fragment had
    /// arrived, send ICMP time exceeded, fragment reassembly (RFC 792;
    /// RFC 8200 4.5 for IPv6).
    pub(crate) fn process_reassembly_timers(&mut self, now: Instant) {
        if self.reasm_v4.poll_at().is_some_and(|t| t <= now) {
            let mut firsts = Vec::new();
            let n = self.reasm_v4.expire(now, |_, first| {
                if let Some(f) = first {
                    firsts.push(PacketBuffer::from_slice(0, f));
                }
            });
            self.drops.count_n(DropReason::ReassemblyTimeout, n as u64);
            for f in firsts {
                self.send_icmpv4_time_exceeded_for(&f, Icmpv4TimeExceeded::FragExpired, now);
            }
        }
        if self.reasm_v6.poll_at().is_some_and(|t| t <= now) {
            let mut firsts = Vec::new();
            let n = self.reasm_v6.expire(now, |_, first| {
                if let Some(f) = first {
                    firsts.push(PacketBuffer::from_slice(0, f));
                }
            });
            self.drops.count_n(DropReason::ReassemblyTimeout, n as u64);
            for f in firsts {
                self.send_icmpv6_frag_time_exceeded(&f, now);
            }
        }
    }
}
