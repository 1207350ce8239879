//! Ethernet demux and framing (IEEE 802.3 Ethernet II, RFC 894, RFC 2464).
//!
//! `process_ethernet` is the first receive step for every frame: counters,
//! packet endpoints, MAC filtering, VLAN check, then the network protocol by
//! EtherType. `dispatch_ethernet` is the last send step: it pushes the
//! Ethernet header into the buffer's headroom (in a forwarded frame that is
//! where the old header was) and queues the frame on the NIC's batch.

use crate::buffer::PacketBuffer;
use crate::stack::{DropReason, Stack};
use crate::time::Instant;
use crate::transport::packet::PacketDirection;
use crate::wire::ethernet::{EthernetFrame, HEADER_LEN};
use crate::wire::{EtherType, EthernetAddress};

impl Stack {
    /// Receive one frame from NIC `i`.
    pub(crate) fn process_ethernet(&mut self, i: usize, mut pkt: PacketBuffer, now: Instant) {
        let nic = &mut self.nics[i];
        let len = pkt.len() as u64;
        if !nic.enabled {
            nic.stats.disabled_rx_packets += 1;
            nic.stats.disabled_rx_bytes += len;
            self.drops.count(DropReason::NicDisabled);
            return;
        }
        nic.stats.rx_packets += 1;
        nic.stats.rx_bytes += len;
        if !nic.packet_endpoints.is_empty() {
            self.deliver_to_packet_endpoints(i, &pkt, PacketDirection::Incoming);
        }
        let nic = &self.nics[i];
        let (dst, ethertype, header_len, vid) = match EthernetFrame::new_checked(pkt.as_slice()) {
            Ok(f) => (
                f.dst_addr(),
                f.payload_ethertype(),
                f.header_len(),
                f.vlan().map(|v| v.vid),
            ),
            Err(_) => return self.drop_packet(DropReason::EthernetMalformed),
        };
        if !nic.accepts_mac(&dst) {
            return self.drop_packet(DropReason::NotOurMac);
        }
        // IEEE 802.1Q: VID 0 means priority-tagged, i.e. untagged.
        if vid.is_some_and(|v| v != 0) {
            return self.drop_packet(DropReason::WrongVlan);
        }
        pkt.advance(header_len);
        match ethertype {
            EtherType::Ipv4 => self.process_ipv4(i, pkt, now),
            EtherType::Ipv6 => self.process_ipv6(i, pkt, now),
            EtherType::Arp => self.process_arp(i, pkt, now),
            _ => self.drop_packet(DropReason::UnknownEthertype),
        }
    }

    /// Push an Ethernet header and queue the frame on NIC `i`.
    #[inline]
    pub(crate) fn dispatch_ethernet(
        &mut self,
        i: usize,
        mut pkt: PacketBuffer,
        dst: EthernetAddress,
        ethertype: EtherType,
    ) {
        let nic = &mut self.nics[i];
        let src = nic.mac;
        let mut frame = EthernetFrame::new_unchecked(pkt.prepend(HEADER_LEN));
        frame.set_dst_addr(dst);
        frame.set_src_addr(src);
        frame.set_ethertype(ethertype);
        if !nic.packet_endpoints.is_empty() {
            self.deliver_to_packet_endpoints(i, &pkt, PacketDirection::Outgoing);
        }
        self.nics[i].tx.push(pkt);
    }
}
