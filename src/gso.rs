//! Generic segmentation offload, done in software.
//!
//! A transport endpoint may build one packet of up to [`SOFTWARE_GSO_MAX_SIZE`]
//! bytes (headers included) instead of many MTU-sized ones, and attach a
//! [`Gso`] describing how to cut it. When the egress link advertises
//! [`Capabilities::SOFTWARE_GSO`](crate::link::Capabilities::SOFTWARE_GSO), the
//! network layer hands such a packet to [`segment`], which cuts it into
//! MSS-sized frames with correct headers and checksums, and the whole result
//! goes to the link in one `write_packets` batch. Per-packet work above the
//! network layer (routing, neighbor lookup, header building) is then paid once
//! per 64 KiB instead of once per segment.
//!
//! The model follows the seeds' `GSO` struct: a type, whether the transport
//! checksum still needs computing, where it sits, the segment size, the length
//! of the network header, and the maximum size.

use std::net::IpAddr;

use crate::buffer::{PacketBatch, PacketBuffer, DEFAULT_HEADROOM};
use crate::stack::DropReason;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::tcp::{TcpPacket, TcpSeqNumber};
use crate::wire::udp::UdpPacket;

/// The largest packet software GSO accepts (IPv4 total length limit).
pub const SOFTWARE_GSO_MAX_SIZE: usize = 1 << 16;

/// What kind of segmentation a packet needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GsoType {
    /// TCP over IPv4: cut the payload at MSS boundaries, advance sequence
    /// numbers, set FIN/PSH only on the last segment, new IPv4 ids.
    TcpV4,
    /// TCP over IPv6.
    TcpV6,
    /// UDP over IPv4, `UDP_SEGMENT` semantics: every segment is its own
    /// datagram of `mss` payload bytes (the last may be shorter).
    UdpV4,
    /// UDP over IPv6, as [`GsoType::UdpV4`].
    UdpV6,
}

/// Segmentation metadata carried by a packet larger than the MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gso {
    /// The kind of segmentation.
    pub gso_type: GsoType,
    /// Whether the transport checksum must still be computed.
    pub needs_csum: bool,
    /// Offset of the checksum field from the start of the transport header.
    pub csum_offset: u16,
    /// Transport payload bytes per segment.
    pub mss: u16,
    /// Length of the network header (IPv4 with options, or IPv6 with its
    /// extension headers).
    pub l3_hdr_len: u16,
    /// The largest packet this metadata may describe.
    pub max_size: u32,
}

/// Why a packet could not be segmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsoError {
    /// The segment size is zero.
    ZeroMss,
    /// The packet is larger than the metadata's `max_size`.
    TooBig,
    /// The headers the metadata describes are not in the packet.
    Malformed,
}

impl From<GsoError> for DropReason {
    fn from(_: GsoError) -> DropReason {
        DropReason::SendFailed
    }
}

/// Cut `pkt` — one IP packet, network header first, larger than the MTU —
/// into segments of `gso.mss` transport payload bytes each and append them
/// to `out` in order. Returns the number of segments.
///
/// Every segment gets copies of the network and transport headers with:
/// * IPv4: its own total length, identification `id + i` (as Linux does for
///   TSO) and header checksum; IPv6: its own payload length;
/// * TCP: sequence number advanced by the bytes before it; FIN and PSH only
///   on the last segment and CWR only on the first (RFC 3168 6.1.2); the
///   checksum over the pseudo-header and the segment (RFC 9293 3.1) when
///   `needs_csum`;
/// * UDP: its own length and checksum (RFC 768), each segment being a
///   complete datagram.
///
/// The original buffer becomes the first segment (truncated in place), so a
/// send of `n` segments copies `n - 1` of them.
pub fn segment(mut pkt: PacketBuffer, gso: &Gso, out: &mut PacketBatch) -> Result<usize, GsoError> {
    let mss = usize::from(gso.mss);
    if mss == 0 {
        return Err(GsoError::ZeroMss);
    }
    if pkt.len() > gso.max_size as usize {
        return Err(GsoError::TooBig);
    }
    let l3 = usize::from(gso.l3_hdr_len);
    let data = pkt.as_slice();
    let (v6, tcp) = match gso.gso_type {
        GsoType::TcpV4 => (false, true),
        GsoType::TcpV6 => (true, true),
        GsoType::UdpV4 => (false, false),
        GsoType::UdpV6 => (true, false),
    };
    let (src, dst) = addresses(data, v6).ok_or(GsoError::Malformed)?;
    let l4_bytes = data.get(l3..).ok_or(GsoError::Malformed)?;
    let l4 = if tcp {
        usize::from(
            TcpPacket::new_checked(l4_bytes)
                .map_err(|_| GsoError::Malformed)?
                .header_len(),
        )
    } else {
        UdpHeaderLen::LEN
    };
    let hdr_len = l3 + l4;
    if data.len() < hdr_len {
        return Err(GsoError::Malformed);
    }
    let payload_len = data.len() - hdr_len;
    let count = payload_len.div_ceil(mss).max(1);
    let base_seq = if tcp {
        TcpPacket::new_unchecked(&data[l3..]).seq_number()
    } else {
        TcpSeqNumber(0)
    };
    let (fin, psh) = if tcp {
        let t = TcpPacket::new_unchecked(&data[l3..]);
        (t.fin(), t.psh())
    } else {
        (false, false)
    };
    let base_ident = if v6 {
        0
    } else {
        Ipv4Packet::new_unchecked(data).ident()
    };

    // Build segments 1..count as copies, then cut the original down to
    // segment 0 and emit everything in order.
    let first = out.len();
    out.push(PacketBuffer::new(0, 0)); // placeholder for segment 0
    let src_bytes = pkt.as_slice();
    for i in 1..count {
        let off = i * mss;
        let len = mss.min(payload_len - off);
        // Headers and payload are appended, not written over a zero-filled
        // buffer: each byte of a segment is written once.
        let mut v = Vec::with_capacity(DEFAULT_HEADROOM + hdr_len + len);
        v.resize(DEFAULT_HEADROOM, 0);
        v.extend_from_slice(&src_bytes[..hdr_len]);
        v.extend_from_slice(&src_bytes[hdr_len + off..hdr_len + off + len]);
        out.push(PacketBuffer::from_storage(
            v.into_boxed_slice(),
            DEFAULT_HEADROOM,
            DEFAULT_HEADROOM + hdr_len + len,
        ));
    }
    let first_len = mss.min(payload_len);
    pkt.truncate(hdr_len + first_len);
    pkt.gso = None;
    out[first] = pkt;

    for i in 0..count {
        let off = i * mss;
        let len = mss.min(payload_len - off);
        let last = i + 1 == count;
        let seg = out[first + i].as_mut_slice();
        if v6 {
            Ipv6Packet::new_unchecked(&mut seg[..]).set_payload_len((hdr_len - 40 + len) as u16);
        } else {
            let mut ip = Ipv4Packet::new_unchecked(&mut seg[..]);
            ip.set_total_len((hdr_len + len) as u16);
            ip.set_ident(base_ident.wrapping_add(i as u16));
            ip.fill_checksum();
        }
        let l4buf = &mut seg[l3..];
        if tcp {
            let mut t = TcpPacket::new_unchecked(l4buf);
            t.set_seq_number(base_seq + off);
            t.set_fin(fin && last);
            t.set_psh(psh && last);
            if i > 0 {
                t.set_cwr(false);
            }
            if gso.needs_csum {
                t.fill_checksum(&src, &dst);
            }
        } else {
            let mut u = UdpPacket::new_unchecked(l4buf);
            u.set_len((UdpHeaderLen::LEN + len) as u16);
            if gso.needs_csum {
                u.fill_checksum(&src, &dst);
            }
        }
    }
    Ok(count)
}

/// The UDP header length, named for readability at the call sites.
struct UdpHeaderLen;

impl UdpHeaderLen {
    const LEN: usize = crate::wire::udp::HEADER_LEN;
}

fn addresses(data: &[u8], v6: bool) -> Option<(IpAddr, IpAddr)> {
    if v6 {
        let p = Ipv6Packet::new_checked(data).ok()?;
        Some((IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr())))
    } else {
        let p = Ipv4Packet::new_checked(data).ok()?;
        Some((IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp4(payload_len: usize, fin: bool) -> PacketBuffer {
        let payload: Vec<u8> = (0..payload_len).map(|i| (i % 251) as u8).collect();
        let mut f = Vec::new();
        let b = etherparse::PacketBuilder::ipv4([198, 18, 0, 1], [198, 18, 1, 2], 64)
            .tcp(40000, 80, 1000, 65535)
            .ack(7)
            .psh();
        let b = if fin { b.fin() } else { b };
        b.write(&mut f, &payload).unwrap();
        PacketBuffer::from_slice(DEFAULT_HEADROOM, &f)
    }

    fn gso(gso_type: GsoType, mss: u16, l3: u16) -> Gso {
        Gso {
            gso_type,
            needs_csum: true,
            csum_offset: 16,
            mss,
            l3_hdr_len: l3,
            max_size: SOFTWARE_GSO_MAX_SIZE as u32,
        }
    }

    #[test]
    fn tcp_v4_segments_are_valid_and_contiguous() {
        let pkt = tcp4(10_000, true);
        let mut out = Vec::new();
        let n = segment(pkt, &gso(GsoType::TcpV4, 1448, 20), &mut out).unwrap();
        assert_eq!(n, 7);
        let mut next_seq = 1000u32;
        let mut data = Vec::new();
        for (i, s) in out.iter().enumerate() {
            let p = etherparse::SlicedPacket::from_ip(s.as_slice()).unwrap();
            let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
                panic!("ipv4")
            };
            assert_eq!(
                ip.header().identification(),
                0u16.wrapping_add(i as u16)
                    .wrapping_add(ip.header().identification() - i as u16)
            );
            let Some(etherparse::TransportSlice::Tcp(t)) = &p.transport else {
                panic!("tcp")
            };
            assert_eq!(t.sequence_number(), next_seq);
            let last = i + 1 == out.len();
            assert_eq!(t.fin(), last);
            assert_eq!(t.psh(), last);
            let pl = t.payload();
            assert!(pl.len() == 1448 || last);
            next_seq += pl.len() as u32;
            data.extend_from_slice(pl);
            // Checksums verify.
            let src: IpAddr = [198, 18, 0, 1].into();
            let dst: IpAddr = [198, 18, 1, 2].into();
            let view = TcpPacket::new_checked(&s.as_slice()[20..]).unwrap();
            assert!(view.verify_checksum(&src, &dst));
            assert!(Ipv4Packet::new_checked(s.as_slice())
                .unwrap()
                .verify_checksum());
        }
        assert_eq!(
            data,
            (0..10_000).map(|i| (i % 251) as u8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn udp_v6_segments_are_datagrams() {
        let payload = vec![9u8; 3000];
        let mut f = Vec::new();
        etherparse::PacketBuilder::ipv6(
            [0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .udp(5000, 7)
        .write(&mut f, &payload)
        .unwrap();
        let mut out = Vec::new();
        let n = segment(
            PacketBuffer::from_slice(64, &f),
            &gso(GsoType::UdpV6, 1200, 40),
            &mut out,
        )
        .unwrap();
        assert_eq!(n, 3);
        let lens: Vec<usize> = out
            .iter()
            .map(|s| {
                let p = etherparse::SlicedPacket::from_ip(s.as_slice()).unwrap();
                let Some(etherparse::TransportSlice::Udp(u)) = p.transport else {
                    panic!("udp")
                };
                let src: IpAddr = "2001:2::1".parse().unwrap();
                let dst: IpAddr = "2001:2::2".parse().unwrap();
                assert!(UdpPacket::new_checked(&s.as_slice()[40..])
                    .unwrap()
                    .verify_checksum(&src, &dst));
                u.payload().len()
            })
            .collect();
        assert_eq!(lens, vec![1200, 1200, 600]);
    }

    #[test]
    fn bad_metadata_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        assert_eq!(
            segment(tcp4(100, false), &gso(GsoType::TcpV4, 0, 20), &mut out),
            Err(GsoError::ZeroMss)
        );
        assert_eq!(
            segment(tcp4(100, false), &gso(GsoType::TcpV4, 10, 60), &mut out),
            Err(GsoError::Malformed)
        );
        assert_eq!(
            segment(
                PacketBuffer::from_slice(0, &[0x45, 0]),
                &gso(GsoType::UdpV4, 10, 20),
                &mut out
            ),
            Err(GsoError::Malformed)
        );
        let mut g = gso(GsoType::TcpV4, 100, 20);
        g.max_size = 50;
        assert_eq!(
            segment(tcp4(100, false), &g, &mut out),
            Err(GsoError::TooBig)
        );
        assert!(out.is_empty());
    }
}
