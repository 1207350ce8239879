//! ARP for IPv4 over Ethernet (RFC 826, RFC 5227 for probes).
//!
//! Receive: validate, then the RFC 826 packet reception algorithm — update
//! the sender's entry if we already have one (the "merge" step), and if the
//! target is one of our addresses, learn the sender and answer requests.
//! Send: requests for the neighbor cache (broadcast, or unicast to re-probe
//! a cached entry) and replies.

use std::net::Ipv4Addr;

use crate::buffer::{PacketBuffer, DEFAULT_HEADROOM};
use crate::stack::neighbor::AdvertisementFlags;
use crate::stack::{DropReason, Stack};
use crate::time::Instant;
use crate::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use crate::wire::{EtherType, EthernetAddress};

impl Stack {
    /// Receive an ARP packet on NIC `i` (Ethernet header already pulled).
    pub(crate) fn process_arp(&mut self, i: usize, pkt: PacketBuffer, now: Instant) {
        let repr = match ArpPacket::new_checked(pkt.as_slice()).and_then(|p| ArpRepr::parse(&p)) {
            Ok(r) => r,
            Err(_) => return self.drop_packet(DropReason::ArpMalformed),
        };
        let sender = repr.source_protocol_addr;
        let sender_mac = repr.source_hardware_addr;
        // A sender MAC that is not unicast, or a sender address that cannot
        // be a host, is never learned (RFC 1812 3.3.2 spirit).
        if !sender_mac.is_unicast() || sender.is_multicast() || sender.is_broadcast() {
            return self.drop_packet(DropReason::ArpMalformed);
        }
        let nic = &self.nics[i];
        let target_is_ours = nic.addrs.has_v4(repr.target_protocol_addr);
        // RFC 826 "Packet Reception": if the sender is already in the table,
        // update its hardware address (merge flag), whether or not the
        // target is us. RFC 5227 probes (sender 0.0.0.0) teach nothing.
        if !sender.is_unspecified() {
            let known = nic.arp.get(sender).is_some();
            if target_is_ours || known {
                let flags = match repr.operation {
                    ArpOperation::Reply => AdvertisementFlags {
                        solicited: true,
                        override_: true,
                        router: false,
                    },
                    _ => AdvertisementFlags {
                        solicited: false,
                        override_: true,
                        router: false,
                    },
                };
                let released = if repr.operation == ArpOperation::Reply || known {
                    self.nics[i]
                        .arp
                        .handle_advertisement(sender, Some(sender_mac), flags, now)
                } else {
                    self.nics[i]
                        .arp
                        .handle_solicitation_source(sender, sender_mac, now)
                };
                if repr.operation == ArpOperation::Reply {
                    // Confirmed when this shard had an entry (it asked, or
                    // holds the neighbor): see Stack::learn_neighbor.
                    self.neighbor_learned(i, sender.into(), sender_mac, known);
                }
                self.release_parked(i, sender.into(), released);
            }
        }
        if !target_is_ours {
            return self.drop_packet(DropReason::NdpTargetNotOurs);
        }
        if repr.operation == ArpOperation::Request {
            let reply = ArpRepr {
                operation: ArpOperation::Reply,
                source_hardware_addr: self.nics[i].mac,
                source_protocol_addr: repr.target_protocol_addr,
                target_hardware_addr: sender_mac,
                target_protocol_addr: sender,
            };
            self.dispatch_arp(i, &reply, sender_mac);
        }
    }

    /// Send an ARP request for `target` from NIC `i`: broadcast, or unicast
    /// to `unicast` when re-probing a cached entry.
    pub(crate) fn dispatch_arp_request(
        &mut self,
        i: usize,
        target: Ipv4Addr,
        unicast: Option<EthernetAddress>,
    ) {
        let Some(src) = self.nics[i].addrs.primary_v4(Some(target)) else {
            // No IPv4 address on this NIC: we cannot ask.
            return self.drop_packet(DropReason::SendFailed);
        };
        let req = ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: self.nics[i].mac,
            source_protocol_addr: src,
            target_hardware_addr: EthernetAddress::default(),
            target_protocol_addr: target,
        };
        self.stats.solicitations_sent += 1;
        self.dispatch_arp(i, &req, unicast.unwrap_or(EthernetAddress::BROADCAST));
    }

    fn dispatch_arp(&mut self, i: usize, repr: &ArpRepr, dst: EthernetAddress) {
        let mut pkt = PacketBuffer::new(DEFAULT_HEADROOM, repr.buffer_len());
        repr.emit(&mut ArpPacket::new_unchecked(pkt.append(repr.buffer_len())));
        self.dispatch_ethernet(i, pkt, dst, EtherType::Arp);
    }
}
