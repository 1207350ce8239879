//! TCP (RFC 9293).
//!
//! This module holds the TCP receive entry point. Segments that match no
//! endpoint are answered with a reset, as RFC 9293 3.10.7.1 asks of a
//! CLOSED port and as the seeds' `HandleUnknownDestinationPacket` does.
//! The connection state machine builds on this entry point.

use crate::buffer::PacketBuffer;
use crate::link::Capabilities;
use crate::network::L4Info;
use crate::stack::{DropReason, Stack};
use crate::time::Instant;
use crate::transport::demux::Lookup;
use crate::wire::tcp::{TcpControl, TcpPacket, TcpRepr, TcpSeqNumber};
use crate::wire::{Error as WireError, IpProtocol};

impl Stack {
    /// Receive a TCP segment addressed to us.
    pub(crate) fn process_tcp(&mut self, info: L4Info, pkt: PacketBuffer, now: Instant) {
        let verify = !pkt.csum_verified
            && !self.nics[info.nic]
                .caps
                .contains(Capabilities::RX_CHECKSUM_OFFLOAD);
        let data = &pkt.as_slice()[info.l4_offset..];
        let repr = match TcpPacket::new_checked(data)
            .and_then(|p| TcpRepr::parse(&p, &info.src, &info.dst, verify))
        {
            Ok(r) => r,
            Err(WireError::Checksum) => return self.drop_packet(DropReason::TcpBadChecksum),
            Err(_) => return self.drop_packet(DropReason::TcpMalformed),
        };
        match self.demux.lookup(
            IpProtocol::Tcp,
            info.dst,
            repr.dst_port,
            info.src,
            repr.src_port,
        ) {
            Lookup::OtherPartition(owner) => self.hand_off(owner, info.nic, pkt),
            // No TCP endpoint can be registered yet, so anything else is a
            // segment for a closed port.
            _ => {
                self.drop_packet(DropReason::NoListener);
                if info.dst_is_group {
                    return;
                }
                self.send_tcp_reset(&info, &repr, now);
            }
        }
    }

    /// RFC 9293 3.10.7.1: in CLOSED, an incoming RST is discarded; any other
    /// segment gets a RST — `<SEQ=SEG.ACK><CTL=RST>` when it carried an ACK,
    /// else `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
    fn send_tcp_reset(&mut self, info: &L4Info, seg: &TcpRepr, now: Instant) {
        if seg.control == TcpControl::Rst {
            return;
        }
        let (seq_number, ack_number) = match seg.ack_number {
            Some(ack) => (ack, None),
            None => (TcpSeqNumber(0), Some(seg.seq_number + seg.segment_len())),
        };
        let rst = TcpRepr {
            src_port: seg.dst_port,
            dst_port: seg.src_port,
            control: TcpControl::Rst,
            seq_number,
            ack_number,
            window_len: 0,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 4],
            timestamp: None,
            payload: &[],
        };
        let Ok(route) = self.route_output(Some(info.dst), info.src, Some(info.nic)) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let mut pkt = PacketBuffer::new(self.l4_headroom(), rst.buffer_len());
        rst.emit(
            &mut TcpPacket::new_unchecked(pkt.append(rst.buffer_len())),
            &route.src,
            &route.dst,
            true,
        );
        self.send_ip(&route, IpProtocol::Tcp, None, pkt, now);
    }
}
