//! Neighbor Discovery (RFC 4861) and duplicate address detection (RFC 4862).
//!
//! Every received NDP message is validated first (RFC 4861 7.1.1, 7.1.2,
//! 6.1.2: hop limit 255, code 0 — checked by the wire parser —, a target
//! that is not multicast, no source link-layer option from the unspecified
//! address). Solicitations for our addresses are answered with solicited
//! advertisements and teach us the solicitor's MAC (7.2.3, 7.2.4);
//! advertisements update the neighbor cache (7.2.5) and release queued
//! packets; router advertisements teach the router's MAC (6.3.4). Hosts
//! ignore router solicitations and redirects are not acted on.
//!
//! DAD: a tentative address gets `DupAddrDetectTransmits` solicitations from
//! the unspecified address to its solicited-node group, `RetransTimer`
//! apart; if nobody claims it by then it becomes usable (RFC 4862 5.4.2). A
//! solicitation from the unspecified address or an advertisement for a
//! tentative address means someone else has it: DAD fails and the address
//! is removed (5.4.3, 5.4.4, 5.4.5).

use std::net::{IpAddr, Ipv6Addr};

use crate::stack::address::{solicited_node, AddressState, ALL_NODES_V6};
use crate::stack::neighbor::AdvertisementFlags;
use crate::stack::{DropReason, Stack, StackEvent};
use crate::time::Instant;
use crate::wire::icmpv6::Icmpv6Repr;
use crate::wire::ndp::{NdiscNeighborFlags, NdiscRepr};
use crate::wire::EthernetAddress;

impl Stack {
    /// Process a parsed NDP message received on NIC `i`.
    pub(crate) fn process_ndisc(
        &mut self,
        i: usize,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        nd: NdiscRepr,
        now: Instant,
    ) {
        // RFC 4861 7.1.1 / 7.1.2 / 6.1.2: hop limit must be 255 (the message
        // was not forwarded).
        if hop_limit != 255 {
            return self.drop_packet(DropReason::NdpInvalid);
        }
        match nd {
            NdiscRepr::NeighborSolicit {
                target_addr,
                lladdr,
            } => self.process_neighbor_solicit(i, src, dst, target_addr, lladdr, now),
            NdiscRepr::NeighborAdvert {
                flags,
                target_addr,
                lladdr,
            } => self.process_neighbor_advert(i, dst, flags, target_addr, lladdr, now),
            NdiscRepr::RouterAdvert { lladdr, .. } => {
                // RFC 4861 6.1.2: the source must be link-local.
                if !crate::stack::address::is_link_local_v6(&src) {
                    return self.drop_packet(DropReason::NdpInvalid);
                }
                // RFC 4861 6.3.4: a source link-layer option creates or
                // updates the router's entry as STALE.
                if let Some(mac) = lladdr {
                    let released = self.nics[i].ndp.handle_solicitation_source(src, mac, now);
                    self.release_parked(i, IpAddr::V6(src), released);
                }
            }
            // RFC 4861 6.2.6: hosts discard router solicitations; redirects
            // (8.3) are not acted on by this stack.
            NdiscRepr::RouterSolicit { .. } | NdiscRepr::Redirect { .. } => {
                self.drop_packet(DropReason::IcmpUnhandled)
            }
        }
    }

    fn process_neighbor_solicit(
        &mut self,
        i: usize,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        target: Ipv6Addr,
        lladdr: Option<EthernetAddress>,
        now: Instant,
    ) {
        // RFC 4861 7.1.1: the target is never multicast; from the
        // unspecified address, the destination is a solicited-node group and
        // there is no source link-layer option.
        if target.is_multicast()
            || (src.is_unspecified() && (lladdr.is_some() || dst != solicited_node(&target)))
        {
            return self.drop_packet(DropReason::NdpInvalid);
        }
        match self.nics[i].addrs.state_v6(&target) {
            None => self.drop_packet(DropReason::NdpTargetNotOurs),
            Some(AddressState::Tentative) => {
                // RFC 4862 5.4.3: another node probing the same tentative
                // address means it is a duplicate.
                if src.is_unspecified() {
                    self.dad_failed(i, target);
                }
            }
            Some(AddressState::Permanent) => {
                if src.is_unspecified() {
                    // RFC 4861 7.2.4: answer a DAD probe to all-nodes,
                    // unsolicited.
                    self.dispatch_neighbor_advert(i, target, ALL_NODES_V6, false, now);
                    return;
                }
                // RFC 4861 7.2.3: learn the solicitor's link-layer address.
                if let Some(mac) = lladdr {
                    let released = self.nics[i].ndp.handle_solicitation_source(src, mac, now);
                    self.release_parked(i, IpAddr::V6(src), released);
                }
                self.dispatch_neighbor_advert(i, target, src, true, now);
            }
        }
    }

    fn process_neighbor_advert(
        &mut self,
        i: usize,
        dst: Ipv6Addr,
        flags: NdiscNeighborFlags,
        target: Ipv6Addr,
        lladdr: Option<EthernetAddress>,
        now: Instant,
    ) {
        // RFC 4861 7.1.2: the target is not multicast, and a solicited
        // advertisement is not sent to a multicast group.
        if target.is_multicast() || (flags.solicited() && dst.is_multicast()) {
            return self.drop_packet(DropReason::NdpInvalid);
        }
        if let Some(state) = self.nics[i].addrs.state_v6(&target) {
            if state == AddressState::Tentative {
                // RFC 4862 5.4.4: someone else owns our tentative address.
                self.dad_failed(i, target);
            }
            // An advertisement for an address we own teaches nothing.
            return;
        }
        // RFC 4861 7.2.5: without a target link-layer option only an
        // existing entry's state may change; the cache handles both cases.
        let f = AdvertisementFlags {
            solicited: flags.solicited(),
            override_: flags.override_(),
            router: flags.router(),
        };
        let known = self.nics[i].ndp.get(target).is_some();
        let released = self.nics[i]
            .ndp
            .handle_advertisement(target, lladdr, f, now);
        // An answer to a solicitation: with RSS it may reach a different
        // shard than the one that asked, which learns it through this event
        // (as for ARP replies); confirmed when this shard had an entry.
        if let (true, Some(mac)) = (flags.solicited(), lladdr) {
            self.neighbor_learned(i, IpAddr::V6(target), mac, known);
        }
        self.release_parked(i, IpAddr::V6(target), released);
    }

    /// Send a neighbor advertisement for our address `target` to `to`.
    fn dispatch_neighbor_advert(
        &mut self,
        i: usize,
        target: Ipv6Addr,
        to: Ipv6Addr,
        solicited: bool,
        now: Instant,
    ) {
        let mut flags = NdiscNeighborFlags::OVERRIDE;
        if solicited {
            flags |= NdiscNeighborFlags::SOLICITED;
        }
        if self.nics[i].forwarding_v6 {
            flags |= NdiscNeighborFlags::ROUTER;
        }
        let repr = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags(flags),
            target_addr: target,
            lladdr: Some(self.nics[i].mac),
        });
        if let Err(r) = self.send_icmpv6(
            Some(IpAddr::V6(target)),
            IpAddr::V6(to),
            &repr,
            Some(i),
            now,
        ) {
            self.drop_packet(r);
        }
    }

    /// Send a neighbor solicitation for `target` from NIC `i`: to its
    /// solicited-node group, or unicast to `unicast` when probing (RFC 4861
    /// 7.2.2, 7.3.3).
    pub(crate) fn dispatch_neighbor_solicitation(
        &mut self,
        i: usize,
        target: Ipv6Addr,
        unicast: Option<EthernetAddress>,
    ) {
        let nic = &self.nics[i];
        let Some(src) = nic.addrs.primary_v6(Some(&target)) else {
            return self.drop_packet(DropReason::SendFailed);
        };
        let dst = if unicast.is_some() {
            target
        } else {
            solicited_node(&target)
        };
        let repr = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
            target_addr: target,
            lladdr: Some(nic.mac),
        });
        self.stats.solicitations_sent += 1;
        self.send_ndisc_raw(i, IpAddr::V6(src), dst, unicast, &repr);
    }

    /// Send an NDP message bypassing neighbor resolution: to a group MAC, or
    /// to a known unicast MAC (probes must not wait for the entry they probe).
    fn send_ndisc_raw(
        &mut self,
        i: usize,
        src: IpAddr,
        dst: Ipv6Addr,
        mac: Option<EthernetAddress>,
        repr: &Icmpv6Repr,
    ) {
        use crate::buffer::PacketBuffer;
        use crate::wire::icmpv6::Icmpv6Packet;
        use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr};
        let IpAddr::V6(s) = src else { return };
        let mut pkt = PacketBuffer::new(self.l4_headroom(), repr.buffer_len());
        repr.emit(
            &s,
            &dst,
            &mut Icmpv6Packet::new_unchecked(pkt.append(repr.buffer_len())),
        );
        let ip = Ipv6Repr {
            src_addr: s,
            dst_addr: dst,
            next_header: crate::wire::IpProtocol::Icmpv6,
            payload_len: pkt.len(),
            hop_limit: 255,
            traffic_class: 0,
            flow_label: 0,
        };
        ip.emit(&mut Ipv6Packet::new_unchecked(pkt.prepend(ip.buffer_len())));
        let mac = mac.unwrap_or_else(|| EthernetAddress::from_ipv6_multicast(&dst));
        self.stats.ip_originated += 1;
        self.dispatch_ethernet(i, pkt, mac, crate::wire::EtherType::Ipv6);
    }

    /// Run duplicate address detection: send due probes, confirm addresses
    /// nobody claimed (RFC 4862 5.4.2, 5.4.5).
    pub(crate) fn process_dad_timers(&mut self, now: Instant) {
        let retrans = self.config.dad_retrans;
        for i in 0..self.nics.len() {
            let mut k = 0;
            while k < self.nics[i].dad.len() {
                let probe = self.nics[i].dad[k];
                if probe.deadline > now {
                    k += 1;
                    continue;
                }
                if probe.remaining > 0 {
                    self.nics[i].dad[k].remaining -= 1;
                    self.nics[i].dad[k].deadline = now + retrans;
                    let repr = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
                        target_addr: probe.addr,
                        lladdr: None,
                    });
                    let group = solicited_node(&probe.addr);
                    self.stats.solicitations_sent += 1;
                    self.send_ndisc_raw(i, IpAddr::V6(Ipv6Addr::UNSPECIFIED), group, None, &repr);
                    k += 1;
                } else {
                    self.nics[i].dad.remove(k);
                    self.nics[i].addrs.confirm_v6(probe.addr);
                    let nic = self.nics[i].id;
                    self.events.push_back(StackEvent::DadSucceeded {
                        nic,
                        addr: probe.addr,
                    });
                }
            }
        }
    }

    fn dad_failed(&mut self, i: usize, addr: Ipv6Addr) {
        let nic = &mut self.nics[i];
        nic.dad.retain(|d| d.addr != addr);
        nic.addrs.remove_v6(addr);
        let id = nic.id;
        self.refresh_local_filters();
        self.events
            .push_back(StackEvent::DadFailed { nic: id, addr });
    }
}
