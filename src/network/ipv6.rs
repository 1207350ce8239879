//! IPv6 receive path (RFC 8200, RFC 4291 addressing, RFC 4861 for NDP).
//!
//! `process_ipv6` validates the fixed header, trims link padding, rejects
//! multicast and own sources, and decides: local delivery (our addresses,
//! all-nodes, solicited-node groups of our addresses, all-routers when
//! forwarding), forwarding, or drop. Tentative addresses (RFC 4862 5.4)
//! receive only ICMPv6, so DAD's neighbor solicitations and advertisements
//! get through. `process_ipv6_local` walks the extension header chain
//! (answering RFC 8200 4 parameter problems), reassembles fragments (RFC
//! 8200 4.5), and hands the payload to ICMPv6, UDP, TCP or raw endpoints;
//! an unknown next header gets ICMPv6 parameter problem code 1.

use std::net::IpAddr;

use crate::buffer::PacketBuffer;
use crate::network::fragment::Fragment;
use crate::network::{L4Info, Rx};
use crate::stack::address::{AddressState, ALL_NODES_V6, ALL_ROUTERS_V6};
use crate::stack::{DropReason, Stack};
use crate::time::Instant;
use crate::wire::icmpv6::Icmpv6ParamProblem;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::ipv6ext::{walk_ext_headers, ExtHeaderError};
use crate::wire::IpProtocol;

impl Stack {
    /// Receive an IPv6 packet on NIC `i` (Ethernet header already pulled),
    /// in place: the verdict says whether it is for us or forwarded.
    #[inline(always)]
    pub(crate) fn process_ipv6(&mut self, i: usize, pkt: &mut PacketBuffer, now: Instant) -> Rx {
        // The checks of `Ipv6Repr::parse`, without building the repr.
        let view = Ipv6Packet::new_unchecked(pkt.as_slice());
        if view.validate().is_err() {
            return self.drop_rx(DropReason::Ipv6Malformed);
        }
        let (src, dst, hop_limit) = (view.src_addr(), view.dst_addr(), view.hop_limit());
        let payload_len = usize::from(view.payload_len());
        pkt.truncate(40 + payload_len);
        self.stats.ip_rx += 1;
        // RFC 4291 2.7: multicast is never a source; loopback never on a link
        // (RFC 4291 2.5.3).
        if src.is_multicast() || src.is_loopback() || dst.is_loopback() {
            return self.drop_rx(DropReason::MartianSource);
        }
        if !src.is_unspecified() && self.is_local_v6(&src) {
            return self.drop_rx(DropReason::OwnSourceAddress);
        }
        let nic = &self.nics[i];
        if dst.is_multicast() {
            let joined = dst == ALL_NODES_V6
                || nic.addrs.is_solicited_node_v6(&dst)
                || (dst == ALL_ROUTERS_V6 && nic.forwarding_v6);
            if joined {
                return Rx::Ipv6Local;
            }
            return self.drop_rx(DropReason::MulticastNotJoined);
        }
        match nic.addrs.state_v6(&dst) {
            Some(AddressState::Permanent) => return Rx::Ipv6Local,
            Some(AddressState::Tentative) => {
                // RFC 4862 5.4: only DAD-related NDP reaches a tentative address.
                if Ipv6Packet::new_unchecked(pkt.as_slice()).next_header() == IpProtocol::Icmpv6 {
                    return Rx::Ipv6Local;
                }
                return self.drop_rx(DropReason::NdpTargetNotOurs);
            }
            None => {}
        }
        if self.is_local_v6(&dst) {
            return Rx::Ipv6Local;
        }
        if nic.forwarding_v6 {
            return self.forward_ipv6(i, pkt, (src, dst, hop_limit), now);
        }
        if nic.promiscuous {
            return Rx::Ipv6Local;
        }
        self.drop_rx(DropReason::ForwardingDisabled)
    }

    /// Deliver an IPv6 packet addressed to us (also the loopback path).
    pub(crate) fn process_ipv6_local(&mut self, i: usize, mut pkt: PacketBuffer, now: Instant) {
        let Ok(view) = Ipv6Packet::new_checked(pkt.as_slice()) else {
            return self.drop_packet(DropReason::Ipv6Malformed);
        };
        let (src, dst) = (view.src_addr(), view.dst_addr());
        let mut chain =
            match walk_ext_headers(view.next_header(), view.payload(), dst.is_multicast()) {
                Ok(c) => c,
                Err(ExtHeaderError::ParamProblem { code, pointer }) => {
                    self.drop_packet(DropReason::Ipv6ExtHeaderMalformed);
                    return self.send_icmpv6_param_problem(i, &pkt, code, pointer, now);
                }
                Err(_) => return self.drop_packet(DropReason::Ipv6ExtHeaderMalformed),
            };
        if let Some((frag_at, frag)) = chain.fragment {
            // RFC 8200 4.5: the unfragmentable part is everything up to the
            // fragment header; the fragmentable part follows it.
            let unfrag_len = 40 + frag_at;
            let data_at = unfrag_len + 8;
            let offset = usize::from(frag.frag_offset);
            // RFC 8200 4.5: a fragment whose length is not a multiple of 8
            // and that is not the last is answered with a parameter problem
            // pointing at the payload length field.
            let data_len = pkt.len().saturating_sub(data_at);
            if frag.more_frags && data_len % 8 != 0 {
                self.drop_packet(DropReason::FragmentMalformed);
                return self.send_icmpv6_param_problem(i, &pkt, 0, 4, now);
            }
            if !frag.more_frags && offset == 0 {
                // An atomic fragment (RFC 6946): process it as a whole
                // packet, skipping the fragment header.
                chain.fragment = None;
            } else {
                let key = (src, dst, frag.ident);
                let first = (offset == 0).then(|| &pkt.as_slice()[..unfrag_len]);
                let data = pkt.as_slice().get(data_at..).unwrap_or(&[]);
                let fragment = Fragment {
                    offset,
                    more_fragments: frag.more_frags,
                    data,
                    first_header: first,
                };
                match self.reasm_v6.process(key, now, fragment) {
                    Ok(None) => return,
                    Ok(Some(whole)) => {
                        pkt = whole.buffer;
                        // Splice out the fragment header: the unfragmentable
                        // part's last next-header field now names what the
                        // fragment header did (RFC 8200 4.5 reassembly).
                        if let Err(r) = finish_v6_reassembly(&mut pkt, unfrag_len, frag.next_header)
                        {
                            return self.drop_packet(r);
                        }
                        self.stats.reassembled += 1;
                        return self.process_ipv6_local(i, pkt, now);
                    }
                    Err(reason) => return self.drop_packet(reason),
                }
            }
        }
        let l4_offset = 40 + chain.upper_offset;
        let proto = chain.upper_protocol;
        let info = L4Info {
            nic: i,
            src: IpAddr::V6(src),
            dst: IpAddr::V6(dst),
            l4_offset,
            dst_is_group: dst.is_multicast(),
        };
        self.stats.ip_delivered += 1;
        let raw_taken = self.deliver_to_raw(i, &pkt, true, proto);
        match proto {
            IpProtocol::Icmpv6 => self.process_icmpv6(info, pkt, now),
            IpProtocol::Udp => self.process_udp(info, pkt, now),
            IpProtocol::Tcp => self.process_tcp(info, pkt, now),
            IpProtocol::Ipv6NoNxt => {}
            _ if raw_taken => {}
            _ => {
                self.drop_packet(DropReason::UnknownProtocol);
                // RFC 8200 4: unrecognized next header → parameter problem
                // code 1 pointing at the field that named it.
                let pointer = chain.next_header_field as u32;
                self.send_icmpv6_param_problem(
                    i,
                    &pkt,
                    u8::from(Icmpv6ParamProblem::UnrecognizedNxtHdr),
                    pointer,
                    now,
                );
            }
        }
    }
}

/// Remove the fragment header from a reassembled packet whose fragment
/// header started at `frag_hdr_at` (from the start of the IPv6 header) and
/// patch the preceding next-header field and the payload length.
fn finish_v6_reassembly(
    pkt: &mut PacketBuffer,
    frag_hdr_at: usize,
    next: IpProtocol,
) -> Result<(), DropReason> {
    // The reassembler returns unfragmentable part (which ends with the
    // fragment header's position) followed directly by the payload; the
    // fragment header itself was not kept. Find the field that named it.
    let data = pkt.as_mut_slice();
    if data.len() < frag_hdr_at || frag_hdr_at < 40 {
        return Err(DropReason::FragmentMalformed);
    }
    let payload_len = data.len() - 40;
    if payload_len > usize::from(u16::MAX) {
        return Err(DropReason::FragmentTooBig);
    }
    // Walk the unfragmentable extension headers to the last next-header
    // field; it currently says "fragment".
    let mut field = 6usize;
    let mut at = 40usize;
    let mut nh = IpProtocol::from(data[6]);
    while at < frag_hdr_at {
        match nh {
            IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts => {
                let len =
                    (usize::from(*data.get(at + 1).ok_or(DropReason::FragmentMalformed)?) + 1) * 8;
                field = at;
                nh = IpProtocol::from(data[at]);
                at += len;
            }
            _ => return Err(DropReason::FragmentMalformed),
        }
    }
    data[field] = u8::from(next);
    let mut v = Ipv6Packet::new_unchecked(&mut data[..]);
    v.set_payload_len(payload_len as u16);
    Ok(())
}
