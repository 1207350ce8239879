//! The output path shared by locally originated and forwarded packets:
//! route selection, IP header, MTU handling (software GSO or fragmentation),
//! neighbor resolution, and hand-off to `Stack::dispatch_ethernet`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::buffer::{PacketBuffer, DEFAULT_HEADROOM};
use crate::gso::GsoCut;
use crate::link::Capabilities;
use crate::network::fragment::plan_fragments;
use crate::stack::neighbor::{Enqueued, NeighborAction, NeighborCache, Released};
use crate::stack::route::NextHop;
use crate::stack::{DropReason, Stack, StackEvent};
use crate::time::Instant;
use crate::wire::checksum;
use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use crate::wire::ipv6ext::{Ipv6FragmentHeader, Ipv6FragmentRepr};
use crate::wire::{EtherType, EthernetAddress, IpProtocol};

/// Where a locally originated packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutRoute {
    /// Egress NIC index (for local destinations: the NIC owning the address).
    pub nic: usize,
    /// The next hop: the gateway, or the destination itself when on-link.
    pub next_hop: IpAddr,
    /// The source address to use.
    pub src: IpAddr,
    /// The destination.
    pub dst: IpAddr,
    /// Whether the destination is one of our own addresses (loopback).
    pub local: bool,
}

/// The IP header shared by the segments of one GSO run, and where they go
/// (see [`Stack::send_ip_batch`]).
struct IpTemplate {
    /// The header (`len` bytes) with the per-segment fields zeroed.
    hdr: [u8; 40],
    /// 20 (IPv4) or 40 (IPv6).
    len: usize,
    /// IPv4: partial sum of the header with the per-segment fields zeroed.
    sum: u16,
    nic: usize,
    mtu: usize,
    mac: EthernetAddress,
    ethertype: EtherType,
}

impl Stack {
    /// Choose egress NIC, next hop and source address for a packet to `dst`.
    ///
    /// `src`, when given, must be one of our addresses unless the egress NIC
    /// allows spoofing. `nic_hint` pins the egress NIC for destinations the
    /// FIB cannot route (link-local and multicast).
    pub(crate) fn route_output(
        &mut self,
        src: Option<IpAddr>,
        dst: IpAddr,
        nic_hint: Option<usize>,
    ) -> Result<OutRoute, DropReason> {
        if self.is_local(&dst) {
            let nic = self.nic_of_local(&dst).unwrap_or(0);
            return Ok(OutRoute {
                nic,
                next_hop: dst,
                src: src.unwrap_or(dst),
                dst,
                local: true,
            });
        }
        let scoped = match dst {
            IpAddr::V4(d) => d.is_multicast() || d.is_broadcast(),
            IpAddr::V6(d) => d.is_multicast() || crate::stack::address::is_link_local_v6(&d),
        };
        let (nic, next_hop) = match (nic_hint, scoped) {
            (Some(n), true) if n < self.nics.len() => (n, dst),
            // A link-local destination names no NIC by itself (it needs a
            // scope): use the NIC that already knows the neighbor, or the
            // only NIC there is.
            (None, true) if dst.is_ipv6() && !dst_is_multicast(&dst) => {
                let IpAddr::V6(d) = dst else {
                    return Err(DropReason::NoRoute);
                };
                let known = self.nics.iter().position(|n| n.ndp.get(d).is_some());
                match (known, self.nics.len()) {
                    (Some(n), _) => (n, dst),
                    (None, 1) => (0, dst),
                    _ => return Err(DropReason::NoRoute),
                }
            }
            _ => match self.fib().lookup(dst).map(|r| r.next_hop) {
                Some(NextHop::Connected { nic }) => (nic.0 as usize, dst),
                Some(NextHop::Gateway { nic, gateway }) => (nic.0 as usize, gateway),
                Some(NextHop::Blackhole) => return Err(DropReason::BlackholeRoute),
                Some(NextHop::Unreachable) => return Err(DropReason::UnreachableRoute),
                None => return Err(DropReason::NoRoute),
            },
        };
        if nic >= self.nics.len() {
            return Err(DropReason::NoRoute);
        }
        let n = &self.nics[nic];
        let src = match src {
            Some(s) => {
                if !n.spoofing && !self.is_local(&s) {
                    return Err(DropReason::SendFailed);
                }
                s
            }
            None => match dst {
                IpAddr::V4(d) => {
                    IpAddr::V4(n.addrs.primary_v4(Some(d)).ok_or(DropReason::SendFailed)?)
                }
                IpAddr::V6(d) => {
                    IpAddr::V6(n.addrs.primary_v6(Some(&d)).ok_or(DropReason::SendFailed)?)
                }
            },
        };
        Ok(OutRoute {
            nic,
            next_hop,
            src,
            dst,
            local: false,
        })
    }

    /// Headroom a locally built packet needs in front of its transport header.
    pub(crate) fn l4_headroom(&self) -> usize {
        DEFAULT_HEADROOM
    }

    /// Push the IP header onto `pkt` (which holds the transport header and
    /// payload) and send it along `route`.
    pub(crate) fn send_ip(
        &mut self,
        route: &OutRoute,
        protocol: IpProtocol,
        hop_limit: Option<u8>,
        mut pkt: PacketBuffer,
        now: Instant,
    ) {
        let payload_len = pkt.len();
        match (route.src, route.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let mtu = self.nics.get(route.nic).map_or(usize::MAX, |n| n.mtu);
                let ident = self.next_ipv4_ident();
                let repr = Ipv4Repr {
                    src_addr: src,
                    dst_addr: dst,
                    next_header: protocol,
                    payload_len,
                    hop_limit: hop_limit.unwrap_or(self.config.default_ttl),
                    tos: 0,
                    ident,
                    // Linux's IP_PMTUDISC_WANT: DF when the packet fits, local
                    // fragmentation when it does not (RFC 1191 3).
                    dont_frag: pkt.gso.is_some() || payload_len + 20 <= mtu,
                    more_frags: false,
                    frag_offset: 0,
                };
                let hdr = pkt.prepend(repr.buffer_len());
                repr.emit(&mut Ipv4Packet::new_unchecked(hdr));
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let repr = Ipv6Repr {
                    src_addr: src,
                    dst_addr: dst,
                    next_header: protocol,
                    payload_len,
                    hop_limit: hop_limit.unwrap_or(self.config.default_hop_limit),
                    traffic_class: 0,
                    flow_label: 0,
                };
                let hdr = pkt.prepend(repr.buffer_len());
                repr.emit(&mut Ipv6Packet::new_unchecked(hdr));
            }
            _ => return self.drop_packet(DropReason::SendFailed),
        }
        self.stats.ip_originated += 1;
        self.count_gso_cut(pkt.gso_cut);
        if route.local {
            self.loopback.push_back((route.nic, pkt));
        } else {
            self.output_ip(route.nic, route.next_hop, pkt, now);
        }
    }

    /// Send a transport endpoint's packets (transport header and payload
    /// each) along `route`, in order. A run of segments the endpoint cut by
    /// software GSO (a [`GsoCut::First`] segment and the [`GsoCut::Rest`]
    /// that follow it) gets its IP headers from one template built for the
    /// run: per segment only the total length (IPv6: payload length), the
    /// IPv4 identification and the header checksum change, the checksum
    /// summed from the template's constant part and those two words (RFC
    /// 1071, RFC 791 3.1), and the next hop's MAC is looked up once. Every
    /// other packet — and a run whose next hop is not resolved, or on the
    /// loopback — goes through [`Stack::send_ip`] one by one.
    pub(crate) fn send_ip_batch(
        &mut self,
        route: &OutRoute,
        protocol: IpProtocol,
        pkts: &mut Vec<PacketBuffer>,
        now: Instant,
    ) {
        let mut tmpl: Option<IpTemplate> = None;
        for pkt in pkts.drain(..) {
            match pkt.gso_cut {
                GsoCut::First if !route.local => tmpl = self.ip_template(route, protocol, now),
                GsoCut::Rest => {}
                _ => tmpl = None,
            }
            match &tmpl {
                Some(t) if pkt.len() + t.len <= t.mtu => self.send_templated(t, pkt),
                _ => self.send_ip(route, protocol, None, pkt, now),
            }
        }
    }

    /// The IP header template of a GSO run along `route`, or `None` when
    /// the next hop is not resolved (the packets then park one by one).
    fn ip_template(
        &mut self,
        route: &OutRoute,
        protocol: IpProtocol,
        now: Instant,
    ) -> Option<IpTemplate> {
        let mtu = self.nics.get(route.nic)?.mtu;
        let mut hdr = [0u8; 40];
        let (len, sum, ethertype, mac) = match (route.src, route.dst, route.next_hop) {
            (IpAddr::V4(src), IpAddr::V4(dst), IpAddr::V4(nh)) => {
                let repr = Ipv4Repr {
                    src_addr: src,
                    dst_addr: dst,
                    next_header: protocol,
                    payload_len: 0,
                    hop_limit: self.config.default_ttl,
                    tos: 0,
                    ident: 0,
                    // Every segment fits the MTU (RFC 1191 3, as send_ip).
                    dont_frag: true,
                    more_frags: false,
                    frag_offset: 0,
                };
                repr.emit(&mut Ipv4Packet::new_unchecked(&mut hdr[..20]));
                // Total length, identification and checksum zeroed: the
                // sum of the rest is what every segment shares.
                hdr[2..6].fill(0);
                hdr[10..12].fill(0);
                let sum = checksum::data(&hdr[..20]);
                (
                    20,
                    sum,
                    EtherType::Ipv4,
                    self.next_hop_mac_v4(route.nic, nh, now)?,
                )
            }
            (IpAddr::V6(src), IpAddr::V6(dst), IpAddr::V6(nh)) => {
                let repr = Ipv6Repr {
                    src_addr: src,
                    dst_addr: dst,
                    next_header: protocol,
                    payload_len: 0,
                    hop_limit: self.config.default_hop_limit,
                    traffic_class: 0,
                    flow_label: 0,
                };
                repr.emit(&mut Ipv6Packet::new_unchecked(&mut hdr[..40]));
                (
                    40,
                    0,
                    EtherType::Ipv6,
                    self.next_hop_mac_v6(route.nic, nh, now)?,
                )
            }
            _ => return None,
        };
        Some(IpTemplate {
            hdr,
            len,
            sum,
            nic: route.nic,
            mtu,
            mac,
            ethertype,
        })
    }

    /// Push the IP header from template `t` onto one segment of a GSO run
    /// and queue the frame.
    fn send_templated(&mut self, t: &IpTemplate, mut pkt: PacketBuffer) {
        let mut h = t.hdr;
        if t.len == 20 {
            let total = (pkt.len() + 20) as u16;
            let ident = self.next_ipv4_ident();
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[4..6].copy_from_slice(&ident.to_be_bytes());
            let c = !checksum::combine(&[t.sum, total, ident]);
            h[10..12].copy_from_slice(&c.to_be_bytes());
        } else {
            h[4..6].copy_from_slice(&(pkt.len() as u16).to_be_bytes());
        }
        // Constant lengths: the copies inline instead of calling memcpy.
        if t.len == 20 {
            pkt.prepend(20).copy_from_slice(&h[..20]);
        } else {
            pkt.prepend(40).copy_from_slice(&h[..40]);
        }
        self.stats.ip_originated += 1;
        self.count_gso_cut(pkt.gso_cut);
        self.dispatch_ethernet(t.nic, pkt, t.mac, t.ethertype);
    }

    pub(crate) fn next_ipv4_ident(&mut self) -> u16 {
        self.ipv4_ident = self.ipv4_ident.wrapping_add(1);
        self.ipv4_ident
    }

    /// Send an IP packet (header included) out of NIC `i` towards
    /// `next_hop`, cutting it to the MTU first: software GSO when it carries
    /// GSO metadata, else fragmentation (IPv4 without DF; IPv6 at the source).
    ///
    /// The common case, a packet that fits, is inlined into its callers
    /// (the forwarding path among them); cutting is out of line.
    #[inline(always)]
    pub(crate) fn output_ip(
        &mut self,
        i: usize,
        next_hop: IpAddr,
        mut pkt: PacketBuffer,
        now: Instant,
    ) {
        let mtu = self.nics[i].mtu;
        if pkt.len() <= mtu {
            pkt.gso = None;
            return self.resolve_and_queue(i, next_hop, pkt, now);
        }
        self.output_ip_cut(i, next_hop, pkt, now)
    }

    /// [`Stack::output_ip`] as a call rather than inlined, for the
    /// forwarding path's rare cases (fragmentation, unresolved next hop).
    #[inline(never)]
    pub(crate) fn output_ip_outlined(
        &mut self,
        i: usize,
        next_hop: IpAddr,
        pkt: PacketBuffer,
        now: Instant,
    ) {
        self.output_ip(i, next_hop, pkt, now)
    }

    /// [`Stack::output_ip`] for a packet above the MTU of NIC `i`.
    #[inline(never)]
    fn output_ip_cut(&mut self, i: usize, next_hop: IpAddr, mut pkt: PacketBuffer, now: Instant) {
        let mtu = self.nics[i].mtu;
        if let Some(gso) = pkt.gso.take() {
            let mut segs = Vec::with_capacity(pkt.len() / usize::from(gso.mss.max(1)) + 1);
            match crate::gso::segment(pkt, &gso, &mut segs) {
                Ok(n) => {
                    self.stats.gso_packets += 1;
                    self.stats.gso_segments += n as u64;
                    for s in segs {
                        self.resolve_and_queue(i, next_hop, s, now);
                    }
                }
                Err(e) => self.drop_packet(e.into()),
            }
            return;
        }
        let frags = match pkt.as_slice().first().map(|b| b >> 4) {
            Some(4) => self.fragment_ipv4(pkt, mtu),
            Some(6) => self.fragment_ipv6(pkt, mtu),
            _ => Err(DropReason::SendFailed),
        };
        match frags {
            Ok(frags) => {
                self.stats.fragments_created += frags.len() as u64;
                for f in frags {
                    self.resolve_and_queue(i, next_hop, f, now);
                }
            }
            Err(reason) => self.drop_packet(reason),
        }
    }

    /// Cut an IPv4 packet into fragments that fit `mtu` (RFC 791 3.2). The
    /// caller has checked DF. Options with the copy flag are repeated in
    /// every fragment, the others only in the first (RFC 791 3.1).
    pub(crate) fn fragment_ipv4(
        &mut self,
        pkt: PacketBuffer,
        mtu: usize,
    ) -> Result<Vec<PacketBuffer>, DropReason> {
        let view = Ipv4Packet::new_checked(pkt.as_slice()).map_err(|_| DropReason::SendFailed)?;
        if view.dont_frag() {
            return Err(DropReason::MtuExceeded);
        }
        let hl = usize::from(view.header_len());
        let header = &pkt.as_slice()[..hl];
        let payload = view.payload();
        let base_offset = usize::from(view.frag_offset());
        let orig_more = view.more_frags();
        // Options of later fragments: only those with the copy bit set.
        let mut later_header = header[..20].to_vec();
        copy_flagged_options(&header[20..], &mut later_header);
        let mut out = Vec::new();
        let mut first = true;
        for plan in plan_fragments(payload.len(), later_header.len().max(hl), mtu) {
            let h: &[u8] = if first { header } else { &later_header };
            let mut f = PacketBuffer::new(DEFAULT_HEADROOM, h.len() + plan.len);
            f.append(h.len()).copy_from_slice(h);
            f.append(plan.len)
                .copy_from_slice(&payload[plan.offset..plan.offset + plan.len]);
            let mut v = Ipv4Packet::new_unchecked(f.as_mut_slice());
            v.set_header_len(h.len() as u8);
            v.set_total_len((h.len() + plan.len) as u16);
            v.set_more_frags(plan.more || orig_more);
            v.set_frag_offset((base_offset + plan.offset) as u16);
            v.fill_checksum();
            out.push(f);
            first = false;
        }
        if out.is_empty() {
            return Err(DropReason::MtuExceeded);
        }
        Ok(out)
    }

    /// Fragment a locally originated IPv6 packet (RFC 8200 4.5). Only the
    /// source fragments in IPv6; the unfragmentable part is the fixed header
    /// (the stack emits no extension headers of its own).
    pub(crate) fn fragment_ipv6(
        &mut self,
        pkt: PacketBuffer,
        mtu: usize,
    ) -> Result<Vec<PacketBuffer>, DropReason> {
        let view = Ipv6Packet::new_checked(pkt.as_slice()).map_err(|_| DropReason::SendFailed)?;
        let header = &pkt.as_slice()[..40];
        let payload = view.payload();
        self.ipv6_frag_ident = self.ipv6_frag_ident.wrapping_add(1);
        let ident = self.ipv6_frag_ident;
        let next_header = view.next_header();
        let mut out = Vec::new();
        for plan in plan_fragments(payload.len(), 48, mtu) {
            let mut f = PacketBuffer::new(DEFAULT_HEADROOM, 48 + plan.len);
            f.append(40).copy_from_slice(header);
            let fh = Ipv6FragmentRepr {
                next_header,
                frag_offset: plan.offset as u16,
                more_frags: plan.more,
                ident,
            };
            fh.emit(&mut Ipv6FragmentHeader::new_unchecked(f.append(8)));
            f.append(plan.len)
                .copy_from_slice(&payload[plan.offset..plan.offset + plan.len]);
            let mut v = Ipv6Packet::new_unchecked(f.as_mut_slice());
            v.set_next_header(IpProtocol::Ipv6Frag);
            v.set_payload_len((8 + plan.len) as u16);
            out.push(f);
        }
        if out.is_empty() {
            return Err(DropReason::MtuExceeded);
        }
        Ok(out)
    }

    /// Find the next hop's MAC and queue the frame, or park the packet in
    /// the neighbor cache and solicit (RFC 826, RFC 4861 7.2.2).
    #[inline(always)]
    pub(crate) fn resolve_and_queue(
        &mut self,
        i: usize,
        next_hop: IpAddr,
        pkt: PacketBuffer,
        now: Instant,
    ) {
        match next_hop {
            IpAddr::V4(a) => match self.next_hop_mac_v4(i, a, now) {
                Some(mac) => self.dispatch_ethernet(i, pkt, mac, EtherType::Ipv4),
                None => self.park_v4(i, a, pkt, now),
            },
            IpAddr::V6(a) => match self.next_hop_mac_v6(i, a, now) {
                Some(mac) => self.dispatch_ethernet(i, pkt, mac, EtherType::Ipv6),
                None => self.park_v6(i, a, pkt, now),
            },
        }
    }

    /// The MAC of IPv4 next hop `a` on NIC `i`: broadcast for (directed)
    /// broadcast addresses and links without resolution, the RFC 1112 6.4
    /// mapping for multicast, else the ARP cache (`None`: not resolved).
    #[inline(always)]
    pub(crate) fn next_hop_mac_v4(
        &mut self,
        i: usize,
        a: Ipv4Addr,
        now: Instant,
    ) -> Option<EthernetAddress> {
        let nic = &mut self.nics[i];
        if a.is_broadcast() || nic.addrs.is_subnet_broadcast_v4(a) {
            Some(EthernetAddress::BROADCAST)
        } else if a.is_multicast() {
            Some(EthernetAddress::from_ipv4_multicast(&a))
        } else if !nic.caps.contains(Capabilities::RESOLUTION_REQUIRED) {
            Some(EthernetAddress::BROADCAST)
        } else {
            nic.arp.lookup(a, now)
        }
    }

    /// The MAC of IPv6 next hop `a` on NIC `i`: the RFC 2464 7 mapping for
    /// multicast, broadcast on links without resolution, else the NDP cache
    /// (`None`: not resolved).
    #[inline(always)]
    pub(crate) fn next_hop_mac_v6(
        &mut self,
        i: usize,
        a: Ipv6Addr,
        now: Instant,
    ) -> Option<EthernetAddress> {
        let nic = &mut self.nics[i];
        if a.is_multicast() {
            Some(EthernetAddress::from_ipv6_multicast(&a))
        } else if !nic.caps.contains(Capabilities::RESOLUTION_REQUIRED) {
            Some(EthernetAddress::BROADCAST)
        } else {
            nic.ndp.lookup(a, now)
        }
    }

    #[inline(never)]
    fn park_v4(&mut self, i: usize, a: Ipv4Addr, pkt: PacketBuffer, now: Instant) {
        let elsewhere = self.neighbor_queued() - self.nics[i].arp.queued();
        match self.nics[i].arp.enqueue_shared(a, pkt, now, elsewhere) {
            Enqueued::Queued { solicit, dropped } => {
                if dropped.is_some() {
                    self.drop_packet(DropReason::NeighborQueueFull);
                }
                if solicit {
                    self.dispatch_arp_request(i, a, None);
                }
            }
            Enqueued::Resolved { packet, mac } => {
                self.dispatch_ethernet(i, packet, mac, EtherType::Ipv4)
            }
            Enqueued::Dropped { reason, .. } => self.drop_packet(reason),
        }
    }

    #[inline(never)]
    fn park_v6(&mut self, i: usize, a: Ipv6Addr, pkt: PacketBuffer, now: Instant) {
        let elsewhere = self.neighbor_queued() - self.nics[i].ndp.queued();
        match self.nics[i].ndp.enqueue_shared(a, pkt, now, elsewhere) {
            Enqueued::Queued { solicit, dropped } => {
                if dropped.is_some() {
                    self.drop_packet(DropReason::NeighborQueueFull);
                }
                if solicit {
                    self.dispatch_neighbor_solicitation(i, a, None);
                }
            }
            Enqueued::Resolved { packet, mac } => {
                self.dispatch_ethernet(i, packet, mac, EtherType::Ipv6)
            }
            Enqueued::Dropped { reason, .. } => self.drop_packet(reason),
        }
    }

    /// Packets parked in every neighbor cache of the stack: the budget
    /// `StackConfig::neighbor.queue_total_limit` bounds (slow path only).
    pub(crate) fn neighbor_queued(&self) -> usize {
        self.nics
            .iter()
            .map(|n| n.arp.queued() + n.ndp.queued())
            .sum()
    }

    /// An upper-layer reachability confirmation (RFC 4861 7.3.1) for
    /// `next_hop` on NIC `i`. Cheap enough for every ACK that advances
    /// SND.UNA: one hash probe, no timer change while REACHABLE. Returns
    /// whether an entry with a MAC was confirmed.
    pub(crate) fn confirm_next_hop(&mut self, i: usize, next_hop: IpAddr, now: Instant) -> bool {
        let Some(n) = self.nics.get_mut(i) else {
            return false;
        };
        match next_hop {
            IpAddr::V4(a) => n.arp.confirm_reachable(a, now),
            IpAddr::V6(a) => n.ndp.confirm_reachable(a, now),
        }
    }

    /// Transmit packets the neighbor cache released once `mac` was learned.
    pub(crate) fn release_parked(
        &mut self,
        i: usize,
        addr: IpAddr,
        released: Released<PacketBuffer>,
    ) {
        let Some(mac) = released.mac else { return };
        let ethertype = match addr {
            IpAddr::V4(_) => EtherType::Ipv4,
            IpAddr::V6(_) => EtherType::Ipv6,
        };
        for p in released.packets {
            self.dispatch_ethernet(i, p, mac, ethertype);
        }
    }

    /// Run the neighbor caches' timers: retransmit solicitations, probe
    /// stale entries, fail unresolved ones (RFC 4861 7.3.3).
    pub(crate) fn process_neighbor_timers(&mut self, now: Instant) {
        for i in 0..self.nics.len() {
            let mut actions = Vec::new();
            if due(&self.nics[i].arp, now) {
                self.nics[i].arp.poll(now, &mut actions);
            }
            for a in actions.drain(..) {
                match a {
                    NeighborAction::SendSolicitation { target, unicast } => {
                        self.dispatch_arp_request(i, target, unicast)
                    }
                    NeighborAction::ResolutionFailed { target: _, dropped } => {
                        self.resolution_failed(i, dropped, now)
                    }
                }
            }
            let mut actions = Vec::new();
            if due(&self.nics[i].ndp, now) {
                self.nics[i].ndp.poll(now, &mut actions);
            }
            for a in actions {
                match a {
                    NeighborAction::SendSolicitation { target, unicast } => {
                        self.dispatch_neighbor_solicitation(i, target, unicast)
                    }
                    NeighborAction::ResolutionFailed { target: _, dropped } => {
                        self.resolution_failed(i, dropped, now)
                    }
                }
            }
        }
    }

    /// Count a segment the transport cut by software GSO itself. The mark
    /// is read, not cleared: a byte store into the buffer's header just
    /// before it is moved on stalls the move's wide loads (store
    /// forwarding), and nothing after the network layer reads it.
    #[inline(always)]
    fn count_gso_cut(&mut self, cut: GsoCut) {
        match cut {
            GsoCut::No => {}
            GsoCut::First => {
                self.stats.gso_packets += 1;
                self.stats.gso_segments += 1;
            }
            GsoCut::Rest => self.stats.gso_segments += 1,
        }
    }

    /// Packets whose next hop never answered: count them, and tell the
    /// sources of forwarded ones (RFC 1812 4.3.3.1 host unreachable, RFC 4443
    /// 3.1 address unreachable).
    fn resolution_failed(&mut self, i: usize, dropped: Vec<PacketBuffer>, now: Instant) {
        for p in dropped {
            self.drop_packet(DropReason::NeighborUnresolved);
            self.send_unreachable_for(i, &p, now);
        }
    }

    /// Record a neighbor's answer (ARP reply, neighbor advertisement) as an
    /// event for the owner of the stack: with RSS the answer may reach a
    /// different shard than the one that asked, so workers share these
    /// (see [`Stack::learn_neighbor`]).
    pub(crate) fn neighbor_learned(
        &mut self,
        i: usize,
        addr: IpAddr,
        mac: EthernetAddress,
        confirmed: bool,
    ) {
        if self.events.len() < 1024 {
            self.events.push_back(StackEvent::NeighborResolved {
                nic: self.nics[i].id,
                addr,
                mac,
                confirmed,
            });
        }
    }
}

fn dst_is_multicast(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => a.is_multicast(),
        IpAddr::V6(a) => a.is_multicast(),
    }
}

fn due<A: Copy + Eq + core::hash::Hash + core::fmt::Debug, P>(
    c: &NeighborCache<A, P>,
    now: Instant,
) -> bool {
    c.poll_at().is_some_and(|t| t <= now)
}

/// Append the IPv4 options of `options` whose copy flag is set (RFC 791
/// 3.1, "copied flag") to `out`, padded to a multiple of four octets.
fn copy_flagged_options(options: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < options.len() {
        let kind = options[i];
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                let len = usize::from(*options.get(i + 1).unwrap_or(&0));
                if len < 2 || i + len > options.len() {
                    break;
                }
                if kind & 0x80 != 0 {
                    out.extend_from_slice(&options[i..i + len]);
                }
                i += len;
            }
        }
    }
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::copy_flagged_options;

    #[test]
    fn only_copied_options_repeat() {
        // Record route (7, not copied), then security (130, copied), then EOL.
        let opts = [7, 7, 4, 0, 0, 0, 0, 130, 4, 0xaa, 0xbb, 0, 0, 0, 0, 0];
        let mut out = vec![0u8; 20];
        copy_flagged_options(&opts, &mut out);
        assert_eq!(&out[20..], &[130, 4, 0xaa, 0xbb]);
        let mut out = vec![0u8; 20];
        copy_flagged_options(&[7, 1], &mut out); // lying length: stop, no panic
        assert_eq!(out.len(), 20);
    }
}
