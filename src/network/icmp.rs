//! ICMP for IPv4 (RFC 792, RFC 1122 3.2.2, RFC 1812 4.3) and ICMPv6
//! (RFC 4443): echo, error generation, and received errors as control
//! events.
//!
//! Errors are generated under the rules of RFC 1812 4.3.2.7 and RFC 4443
//! 2.4(e): never about an ICMP error, a non-initial fragment, a packet sent
//! to a group address (IPv6: except packet too big and parameter problem
//! code 2), or a packet whose source is not a unicast host. They quote as
//! much of the offending packet as fits in 576 bytes (IPv4, RFC 1812
//! 4.3.2.3) or the IPv6 minimum MTU (RFC 4443 2.4(c)), and are paced by one
//! token bucket per stack (RFC 1812 4.3.2.8, RFC 4443 2.4(f)).
//!
//! A received error is matched to the endpoint whose packet caused it by
//! the quoted IP header and the first eight bytes of its transport header,
//! and delivered as a [`ControlEvent`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::buffer::PacketBuffer;
use crate::network::L4Info;
use crate::stack::{DropReason, Stack};
use crate::time::Instant;
use crate::transport::{ControlEvent, ControlType};
use crate::wire::icmpv4::{Icmpv4DstUnreachable, Icmpv4Packet, Icmpv4Repr, Icmpv4TimeExceeded};
use crate::wire::icmpv6::{
    Icmpv6DstUnreachable, Icmpv6Packet, Icmpv6ParamProblem, Icmpv6Repr, Icmpv6TimeExceeded,
};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::ipv6ext::walk_ext_headers;
use crate::wire::{Error as WireError, IpProtocol};

/// Largest IPv4 ICMP error datagram (RFC 1812 4.3.2.3).
const ICMPV4_ERROR_MAX: usize = 576;
/// Largest ICMPv6 error packet (RFC 4443 2.4(c): the IPv6 minimum MTU).
const ICMPV6_ERROR_MAX: usize = 1280;

/// An ICMPv6 error the stack sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Error {
    /// Destination unreachable.
    DstUnreachable(Icmpv6DstUnreachable),
    /// Packet too big, with the next-hop MTU.
    PacketTooBig(u32),
    /// Time exceeded.
    TimeExceeded(Icmpv6TimeExceeded),
    /// Parameter problem with the pointer.
    ParamProblem(Icmpv6ParamProblem, u32),
}

impl Stack {
    // ---- receive ---------------------------------------------------------

    /// Receive an ICMPv4 message addressed to us.
    pub(crate) fn process_icmpv4(&mut self, info: L4Info, pkt: PacketBuffer, now: Instant) {
        let data = &pkt.as_slice()[info.l4_offset..];
        let repr = match Icmpv4Packet::new_checked(data).and_then(|p| Icmpv4Repr::parse(&p)) {
            Ok(r) => r,
            Err(WireError::Checksum) => return self.drop_packet(DropReason::Icmpv4BadChecksum),
            Err(WireError::Unrecognized) => return self.drop_packet(DropReason::IcmpUnhandled),
            Err(_) => return self.drop_packet(DropReason::Icmpv4Malformed),
        };
        match repr {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                // Like Linux's icmp_echo_ignore_broadcasts=1 (RFC 1122
                // 3.2.2.6 leaves it to the implementation).
                if info.dst_is_group {
                    return self.drop_packet(DropReason::IcmpUnhandled);
                }
                let reply = Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                // RFC 1122 3.2.2.6: the reply's source is the request's
                // destination.
                if self
                    .send_icmpv4(Some(info.dst), info.src, &reply, now)
                    .is_ok()
                {
                    self.stats.icmp_echo_replies += 1;
                }
            }
            Icmpv4Repr::EchoReply { .. } => {} // raw endpoints already saw it
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                invoking,
            } => {
                let (kind, extra) = match reason {
                    Icmpv4DstUnreachable::NetUnreachable => (ControlType::NetworkUnreachable, 0),
                    Icmpv4DstUnreachable::HostUnreachable => (ControlType::NoRoute, 0),
                    Icmpv4DstUnreachable::PortUnreachable => (ControlType::PortUnreachable, 0),
                    Icmpv4DstUnreachable::FragRequired => {
                        (ControlType::PacketTooBig, u32::from(next_hop_mtu))
                    }
                    _ => (ControlType::Unknown, 0),
                };
                self.deliver_control(info.src, invoking, kind, extra);
            }
            Icmpv4Repr::TimeExceeded { invoking, .. } => {
                self.deliver_control(info.src, invoking, ControlType::TimeExceeded, 0)
            }
            Icmpv4Repr::ParamProblem {
                pointer, invoking, ..
            } => self.deliver_control(
                info.src,
                invoking,
                ControlType::ParameterProblem,
                u32::from(pointer),
            ),
        }
    }

    /// Receive an ICMPv6 message addressed to us.
    pub(crate) fn process_icmpv6(&mut self, info: L4Info, pkt: PacketBuffer, now: Instant) {
        let (IpAddr::V6(src), IpAddr::V6(dst)) = (info.src, info.dst) else {
            return self.drop_packet(DropReason::Icmpv6Malformed);
        };
        let hop_limit = Ipv6Packet::new_unchecked(pkt.as_slice()).hop_limit();
        let data = &pkt.as_slice()[info.l4_offset..];
        let repr =
            match Icmpv6Packet::new_checked(data).and_then(|p| Icmpv6Repr::parse(&src, &dst, &p)) {
                Ok(r) => r,
                Err(WireError::Checksum) => return self.drop_packet(DropReason::Icmpv6BadChecksum),
                Err(WireError::Unrecognized) => return self.drop_packet(DropReason::IcmpUnhandled),
                Err(_) => return self.drop_packet(DropReason::Icmpv6Malformed),
            };
        match repr {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                // RFC 4443 4.2: replies to multicast requests come from a
                // unicast address of the receiving interface.
                let from = if dst.is_multicast() {
                    self.nics[info.nic]
                        .addrs
                        .primary_v6(Some(&src))
                        .map(IpAddr::V6)
                } else {
                    Some(info.dst)
                };
                let reply = Icmpv6Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                if self
                    .send_icmpv6(from, info.src, &reply, Some(info.nic), now)
                    .is_ok()
                {
                    self.stats.icmp_echo_replies += 1;
                }
            }
            Icmpv6Repr::EchoReply { .. } => {}
            Icmpv6Repr::Ndisc(nd) => self.process_ndisc(info.nic, src, dst, hop_limit, nd, now),
            Icmpv6Repr::DstUnreachable { reason, invoking } => {
                let kind = match reason {
                    Icmpv6DstUnreachable::NoRoute => ControlType::NetworkUnreachable,
                    Icmpv6DstUnreachable::AddrUnreachable => ControlType::AddressUnreachable,
                    Icmpv6DstUnreachable::PortUnreachable => ControlType::PortUnreachable,
                    _ => ControlType::Unknown,
                };
                self.deliver_control(info.src, invoking, kind, 0);
            }
            Icmpv6Repr::PktTooBig { mtu, invoking } => {
                self.deliver_control(info.src, invoking, ControlType::PacketTooBig, mtu)
            }
            Icmpv6Repr::TimeExceeded { invoking, .. } => {
                self.deliver_control(info.src, invoking, ControlType::TimeExceeded, 0)
            }
            Icmpv6Repr::ParamProblem {
                pointer, invoking, ..
            } => self.deliver_control(info.src, invoking, ControlType::ParameterProblem, pointer),
        }
    }

    /// Match a quoted invoking packet to a local endpoint and give it the
    /// control event.
    fn deliver_control(&mut self, reporter: IpAddr, invoking: &[u8], kind: ControlType, info: u32) {
        self.stats.icmp_errors_received += 1;
        let Some((proto, local, remote)) = quoted_tuple(invoking) else {
            return self.drop_packet(DropReason::IcmpUnhandled);
        };
        let event = ControlEvent {
            kind,
            info,
            reporter,
            remote,
        };
        match proto {
            IpProtocol::Udp => self.udp_control(local, remote, event),
            IpProtocol::Tcp => self.tcp_control(local, remote, event, invoking),
            _ => {}
        }
    }

    // ---- send ------------------------------------------------------------

    /// Build and send an ICMPv4 message.
    pub(crate) fn send_icmpv4(
        &mut self,
        src: Option<IpAddr>,
        dst: IpAddr,
        repr: &Icmpv4Repr,
        now: Instant,
    ) -> Result<(), DropReason> {
        let route = self.route_output(src, dst, None)?;
        let mut pkt = PacketBuffer::new(self.l4_headroom(), repr.buffer_len());
        repr.emit(&mut Icmpv4Packet::new_unchecked(
            pkt.append(repr.buffer_len()),
        ));
        self.send_ip(&route, IpProtocol::Icmp, None, pkt, now);
        Ok(())
    }

    /// Build and send an ICMPv6 message (checksum over the pseudo-header of
    /// the chosen source).
    pub(crate) fn send_icmpv6(
        &mut self,
        src: Option<IpAddr>,
        dst: IpAddr,
        repr: &Icmpv6Repr,
        nic_hint: Option<usize>,
        now: Instant,
    ) -> Result<(), DropReason> {
        let route = self.route_output(src, dst, nic_hint)?;
        let (IpAddr::V6(s), IpAddr::V6(d)) = (route.src, route.dst) else {
            return Err(DropReason::SendFailed);
        };
        let mut pkt = PacketBuffer::new(self.l4_headroom(), repr.buffer_len());
        repr.emit(
            &s,
            &d,
            &mut Icmpv6Packet::new_unchecked(pkt.append(repr.buffer_len())),
        );
        // RFC 4861: NDP messages go out with hop limit 255.
        let hop = matches!(repr, Icmpv6Repr::Ndisc(_)).then_some(255);
        self.send_ip(&route, IpProtocol::Icmpv6, hop, pkt, now);
        Ok(())
    }

    /// Whether the ICMP error budget allows one more error now.
    fn icmp_error_allowed(&mut self, now: Instant) -> bool {
        if self.icmp_bucket.try_take(now) {
            true
        } else {
            self.drop_packet(DropReason::IcmpRateLimited);
            false
        }
    }

    /// Send ICMPv4 destination unreachable about `original` (an IPv4 packet
    /// received on NIC `i`).
    pub(crate) fn send_icmpv4_dst_unreachable(
        &mut self,
        _i: usize,
        original: &PacketBuffer,
        reason: Icmpv4DstUnreachable,
        next_hop_mtu: u16,
        now: Instant,
    ) {
        self.send_icmpv4_error(original.as_slice(), now, |invoking| {
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                invoking,
            }
        });
    }

    /// Send ICMPv4 time exceeded about `original`.
    pub(crate) fn send_icmpv4_time_exceeded_for(
        &mut self,
        original: &PacketBuffer,
        reason: Icmpv4TimeExceeded,
        now: Instant,
    ) {
        self.send_icmpv4_error(original.as_slice(), now, |invoking| {
            Icmpv4Repr::TimeExceeded { reason, invoking }
        });
    }

    fn send_icmpv4_error<'a>(
        &mut self,
        original: &'a [u8],
        now: Instant,
        build: impl FnOnce(&'a [u8]) -> Icmpv4Repr<'a>,
    ) {
        let Ok(view) = Ipv4Packet::new_checked(original) else {
            return;
        };
        let (src, dst) = (view.src_addr(), view.dst_addr());
        // RFC 1812 4.3.2.7: no error about a non-initial fragment, a
        // group-addressed packet, a non-unicast source, or an ICMP error.
        if view.frag_offset() != 0
            || !is_unicast_host_v4(src)
            || dst.is_multicast()
            || dst.is_broadcast()
            || self
                .nics
                .iter()
                .any(|n| n.addrs.is_subnet_broadcast_v4(dst))
            || is_icmpv4_error(&view)
        {
            return;
        }
        if !self.icmp_error_allowed(now) {
            return;
        }
        let quote = original.len().min(ICMPV4_ERROR_MAX - 20 - 8);
        let repr = build(&original[..quote]);
        // RFC 1812 4.3.2.4: the source is an address of the interface the
        // error leaves through, which route_output picks.
        if self.send_icmpv4(None, IpAddr::V4(src), &repr, now).is_ok() {
            self.stats.icmp_errors_sent += 1;
        }
    }

    /// Send an ICMPv6 error about `original` (an IPv6 packet received on
    /// NIC `i`).
    pub(crate) fn send_icmpv6_error(
        &mut self,
        i: usize,
        original: &PacketBuffer,
        err: Icmpv6Error,
        now: Instant,
    ) {
        let original = original.as_slice();
        let Ok(view) = Ipv6Packet::new_checked(original) else {
            return;
        };
        let (src, dst) = (view.src_addr(), view.dst_addr());
        // RFC 4443 2.4(e): not about errors or redirects, not to a
        // non-unicast source, not about a multicast destination except
        // packet too big and parameter problem code 2.
        let group_ok = matches!(
            err,
            Icmpv6Error::PacketTooBig(_)
                | Icmpv6Error::ParamProblem(Icmpv6ParamProblem::UnrecognizedOption, _)
        );
        if src.is_unspecified()
            || src.is_multicast()
            || (dst.is_multicast() && !group_ok)
            || is_icmpv6_error(original)
        {
            return;
        }
        if !self.icmp_error_allowed(now) {
            return;
        }
        let quote = original.len().min(ICMPV6_ERROR_MAX - 40 - 8);
        let invoking = &original[..quote];
        let repr = match err {
            Icmpv6Error::DstUnreachable(reason) => Icmpv6Repr::DstUnreachable { reason, invoking },
            Icmpv6Error::PacketTooBig(mtu) => Icmpv6Repr::PktTooBig { mtu, invoking },
            Icmpv6Error::TimeExceeded(reason) => Icmpv6Repr::TimeExceeded { reason, invoking },
            Icmpv6Error::ParamProblem(reason, pointer) => Icmpv6Repr::ParamProblem {
                reason,
                pointer,
                invoking,
            },
        };
        if self
            .send_icmpv6(None, IpAddr::V6(src), &repr, Some(i), now)
            .is_ok()
        {
            self.stats.icmp_errors_sent += 1;
        }
    }

    /// Send ICMPv6 parameter problem with a raw code.
    pub(crate) fn send_icmpv6_param_problem(
        &mut self,
        i: usize,
        original: &PacketBuffer,
        code: u8,
        pointer: u32,
        now: Instant,
    ) {
        let reason = Icmpv6ParamProblem::from(code);
        self.send_icmpv6_error(i, original, Icmpv6Error::ParamProblem(reason, pointer), now);
    }

    /// ICMPv6 time exceeded, fragment reassembly time exceeded (RFC 8200 4.5).
    pub(crate) fn send_icmpv6_frag_time_exceeded(&mut self, first: &PacketBuffer, now: Instant) {
        self.send_icmpv6_error(
            0,
            first,
            Icmpv6Error::TimeExceeded(Icmpv6TimeExceeded::FragReassemExceeded),
            now,
        );
    }

    /// Tell the source of a packet we could not deliver to its next hop
    /// (neighbor resolution failed) that the destination is unreachable.
    pub(crate) fn send_unreachable_for(&mut self, i: usize, pkt: &PacketBuffer, now: Instant) {
        match pkt.as_slice().first().map(|b| b >> 4) {
            Some(4) => self.send_icmpv4_dst_unreachable(
                i,
                pkt,
                Icmpv4DstUnreachable::HostUnreachable,
                0,
                now,
            ),
            Some(6) => self.send_icmpv6_error(
                i,
                pkt,
                Icmpv6Error::DstUnreachable(Icmpv6DstUnreachable::AddrUnreachable),
                now,
            ),
            _ => {}
        }
    }

    /// Send an ICMP echo request (for ping and tests); replies arrive on
    /// raw ICMP endpoints.
    pub fn send_echo_request(
        &mut self,
        dst: IpAddr,
        ident: u16,
        seq_no: u16,
        data: &[u8],
        now: Instant,
    ) -> Result<(), DropReason> {
        match dst {
            IpAddr::V4(_) => self.send_icmpv4(
                None,
                dst,
                &Icmpv4Repr::EchoRequest {
                    ident,
                    seq_no,
                    data,
                },
                now,
            ),
            IpAddr::V6(_) => self.send_icmpv6(
                None,
                dst,
                &Icmpv6Repr::EchoRequest {
                    ident,
                    seq_no,
                    data,
                },
                None,
                now,
            ),
        }
    }
}

/// Whether `a` may be the source of a packet we answer with an ICMP error.
fn is_unicast_host_v4(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
}

/// Whether an IPv4 packet carries an ICMP error message (RFC 1812 4.3.2.7).
fn is_icmpv4_error(view: &Ipv4Packet<&[u8]>) -> bool {
    if view.next_header() != IpProtocol::Icmp {
        return false;
    }
    match view.payload().first() {
        // Echo reply 0, echo request 8, router adv/sol 9/10, timestamp 13/14...
        Some(t) => matches!(t, 3 | 4 | 5 | 11 | 12),
        None => false,
    }
}

/// Whether an IPv6 packet carries an ICMPv6 error (types below 128) or a
/// redirect (RFC 4443 2.4(e)).
fn is_icmpv6_error(original: &[u8]) -> bool {
    let Ok(view) = Ipv6Packet::new_checked(original) else {
        return false;
    };
    let Ok(chain) = walk_ext_headers(view.next_header(), view.payload(), false) else {
        return false;
    };
    if chain.upper_protocol != IpProtocol::Icmpv6
        || chain.fragment.is_some_and(|(_, f)| f.frag_offset != 0)
    {
        return false;
    }
    match view.payload().get(chain.upper_offset) {
        Some(t) => *t < 128 || *t == 137,
        None => false,
    }
}

/// The transport tuple of a quoted packet: (protocol, our address:port,
/// their address:port). The quote holds our packet, so its source is us.
fn quoted_tuple(invoking: &[u8]) -> Option<(IpProtocol, SocketAddr, SocketAddr)> {
    match invoking.first()? >> 4 {
        4 => {
            // The quote may be truncated: read the header fields directly.
            if invoking.len() < 20 {
                return None;
            }
            let hl = usize::from(invoking[0] & 0x0f) * 4;
            let l4 = invoking.get(hl..hl + 4)?;
            let src = Ipv4Addr::new(invoking[12], invoking[13], invoking[14], invoking[15]);
            let dst = Ipv4Addr::new(invoking[16], invoking[17], invoking[18], invoking[19]);
            let proto = IpProtocol::from(invoking[9]);
            let sport = u16::from_be_bytes([l4[0], l4[1]]);
            let dport = u16::from_be_bytes([l4[2], l4[3]]);
            Some((
                proto,
                SocketAddr::new(src.into(), sport),
                SocketAddr::new(dst.into(), dport),
            ))
        }
        6 => {
            if invoking.len() < 40 {
                return None;
            }
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s.copy_from_slice(&invoking[8..24]);
            d.copy_from_slice(&invoking[24..40]);
            let chain =
                walk_ext_headers(IpProtocol::from(invoking[6]), &invoking[40..], false).ok()?;
            let l4 = invoking.get(40 + chain.upper_offset..40 + chain.upper_offset + 4)?;
            let sport = u16::from_be_bytes([l4[0], l4[1]]);
            let dport = u16::from_be_bytes([l4[2], l4[3]]);
            Some((
                chain.upper_protocol,
                SocketAddr::new(Ipv6Addr::from(s).into(), sport),
                SocketAddr::new(Ipv6Addr::from(d).into(), dport),
            ))
        }
        _ => None,
    }
}
