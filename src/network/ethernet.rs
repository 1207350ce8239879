//! Ethernet demux and framing (IEEE 802.3 Ethernet II, RFC 894, RFC 2464).
//!
//! `process_ethernet` is the first receive step for every frame: counters,
//! packet endpoints, MAC filtering, VLAN check, then the network protocol by
//! EtherType; it works in place and returns an `Rx` verdict (see
//! [`crate::network`]). `dispatch_ethernet` is the last send step: it pushes
//! the Ethernet header into the buffer's headroom (in a forwarded frame that
//! is where the old header was, `write_ethernet`) and queues the frame on the
//! NIC's batch.

use crate::buffer::PacketBuffer;
use crate::network::Rx;
use crate::stack::{DropReason, Stack};
use crate::time::Instant;
use crate::transport::packet::PacketDirection;
use crate::wire::ethernet::{HEADER_LEN, VLAN_HEADER_LEN};
use crate::wire::{EtherType, EthernetAddress};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_VLAN: u16 = 0x8100;

impl Stack {
    /// Receive one frame from NIC `i`.
    ///
    /// The header is read with fixed-offset loads and the EtherType compared
    /// as a number (the checks and their order are those of
    /// [`EthernetFrame::new_checked`], `accepts_mac` and the VLAN rule).
    ///
    /// [`EthernetFrame::new_checked`]: crate::wire::ethernet::EthernetFrame::new_checked
    #[inline(always)]
    pub(crate) fn process_ethernet(
        &mut self,
        i: usize,
        pkt: &mut PacketBuffer,
        now: Instant,
    ) -> Rx {
        let nic = &mut self.nics[i];
        let len = pkt.len() as u64;
        if !nic.enabled {
            self.drop_disabled(i, len);
            return Rx::Consumed;
        }
        nic.stats.rx_packets += 1;
        nic.stats.rx_bytes += len;
        if !nic.packet_endpoints.is_empty() {
            self.deliver_to_packet_endpoints(i, pkt, PacketDirection::Incoming);
        }
        let nic = &self.nics[i];
        let data = pkt.as_slice();
        let Some(h) = data.first_chunk::<HEADER_LEN>() else {
            return self.drop_rx(DropReason::EthernetMalformed);
        };
        let mut ethertype = u16::from_be_bytes([h[12], h[13]]);
        let mut header_len = HEADER_LEN;
        let mut vid = 0;
        if ethertype == ETHERTYPE_VLAN {
            // IEEE 802.1Q 9.6: TCI, then the inner EtherType.
            let Some(t) = data.first_chunk::<VLAN_HEADER_LEN>() else {
                return self.drop_rx(DropReason::EthernetMalformed);
            };
            vid = u16::from_be_bytes([t[14], t[15]]) & 0x0fff;
            ethertype = u16::from_be_bytes([t[16], t[17]]);
            header_len = VLAN_HEADER_LEN;
        }
        let dst = EthernetAddress([h[0], h[1], h[2], h[3], h[4], h[5]]);
        if !nic.accepts_mac(&dst) {
            return self.drop_rx(DropReason::NotOurMac);
        }
        // IEEE 802.1Q: VID 0 means priority-tagged, i.e. untagged.
        if vid != 0 {
            return self.drop_rx(DropReason::WrongVlan);
        }
        pkt.advance(header_len);
        match ethertype {
            ETHERTYPE_IPV4 => self.process_ipv4(i, pkt, now),
            ETHERTYPE_IPV6 => self.process_ipv6(i, pkt, now),
            ETHERTYPE_ARP => Rx::Arp,
            _ => self.drop_rx(DropReason::UnknownEthertype),
        }
    }

    /// Count a drop on the in-place receive path.
    #[inline(always)]
    pub(crate) fn drop_rx(&mut self, reason: DropReason) -> Rx {
        self.drop_packet(reason);
        Rx::Consumed
    }

    /// A frame received on a disabled NIC (counted apart from other drops).
    #[cold]
    #[inline(never)]
    fn drop_disabled(&mut self, i: usize, len: u64) {
        let nic = &mut self.nics[i];
        nic.stats.disabled_rx_packets += 1;
        nic.stats.disabled_rx_bytes += len;
        self.drops.count(DropReason::NicDisabled);
    }

    /// Push an Ethernet header and queue the frame on NIC `i`.
    #[inline(always)]
    pub(crate) fn dispatch_ethernet(
        &mut self,
        i: usize,
        mut pkt: PacketBuffer,
        dst: EthernetAddress,
        ethertype: EtherType,
    ) {
        self.write_ethernet(i, &mut pkt, dst, ethertype);
        self.nics[i].tx.push(pkt);
    }

    /// Push the Ethernet header of a frame NIC `i` sends to `dst` (and show
    /// the frame to the NIC's packet endpoints); the caller queues it.
    #[inline(always)]
    pub(crate) fn write_ethernet(
        &mut self,
        i: usize,
        pkt: &mut PacketBuffer,
        dst: EthernetAddress,
        ethertype: EtherType,
    ) {
        let nic = &self.nics[i];
        // The header is assembled in registers and stored with one copy (in
        // a forwarded frame, over the received header: the MAC rewrite in
        // place).
        let mut hdr = [0u8; HEADER_LEN];
        hdr[..6].copy_from_slice(&dst.0);
        hdr[6..12].copy_from_slice(&nic.mac.0);
        hdr[12..].copy_from_slice(&u16::from(ethertype).to_be_bytes());
        pkt.prepend(HEADER_LEN).copy_from_slice(&hdr);
        if !nic.packet_endpoints.is_empty() {
            self.deliver_to_packet_endpoints(i, pkt, PacketDirection::Outgoing);
        }
    }
}
