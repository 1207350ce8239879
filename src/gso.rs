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
//!
//! TCP segments are cut from a *header template* ([`TcpTemplate`]): every
//! segment is one pooled frame ([`PacketBuffer::pooled`], no allocation
//! once warm) into which the template's headers are copied and patched
//! (sequence number advanced, FIN/PSH only on the last segment, CWR only
//! on the first, IPv4 total length and identification) and the payload
//! copied exactly once from where it lies, fused with its checksum
//! ([`checksum::copy_and_sum`]): one pass over the payload bytes. The
//! pseudo-header and header sums are computed once per send and added
//! per segment with the few words that change. The payload may come in
//! two pieces, so a TCP endpoint cuts its GSO send straight out of its
//! send ring (which may wrap) with no 64 KiB intermediate packet: that is
//! what the TCP send path does (`transport/tcp/send.rs`), handing the
//! network layer finished MSS-sized segments that only need the IP header.
//! [`segment`] applies the same template cut to a GSO packet that arrived
//! whole at the network layer (headers then payload in one buffer).

use std::net::IpAddr;

use crate::buffer::{PacketBatch, PacketBuffer, DEFAULT_HEADROOM};
use crate::stack::DropReason;
use crate::wire::checksum;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;
use crate::wire::IpProtocol;

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

/// Marks the segments a transport endpoint cut itself with
/// [`TcpTemplate::cut`], so the network layer can count software GSO
/// output (`gso_packets`, `gso_segments`) that never reaches
/// [`segment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum GsoCut {
    /// Not a cut segment.
    #[default]
    No,
    /// The first segment of one GSO send.
    First,
    /// A later segment of the same send.
    Rest,
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
/// TCP segments are cut by [`TcpTemplate::cut`] (each payload byte copied
/// once, fused with its checksum, into a pooled frame). For UDP the
/// original buffer becomes the first segment (truncated in place), so a
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
    if tcp {
        let t = TcpTemplate::new(
            &data[..l3],
            &data[l3..hdr_len],
            src,
            dst,
            gso.needs_csum,
            mss,
        )?;
        return Ok(t.cut([&data[hdr_len..], &[]], DEFAULT_HEADROOM, out));
    }
    let payload_len = data.len() - hdr_len;
    let count = payload_len.div_ceil(mss).max(1);
    let base_ident = if v6 {
        0
    } else {
        Ipv4Packet::new_unchecked(data).ident()
    };

    // UDP: build segments 1..count as copies, then cut the original down
    // to segment 0 and emit everything in order.
    let first = out.len();
    out.push(PacketBuffer::new(0, 0)); // placeholder for segment 0
    let src_bytes = pkt.as_slice();
    for i in 1..count {
        let off = i * mss;
        let len = mss.min(payload_len - off);
        // Headers and payload are appended into a pooled frame: each byte
        // of a segment is written once.
        let mut b = PacketBuffer::pooled(DEFAULT_HEADROOM, hdr_len + len);
        b.append(hdr_len).copy_from_slice(&src_bytes[..hdr_len]);
        b.append(len)
            .copy_from_slice(&src_bytes[hdr_len + off..hdr_len + off + len]);
        out.push(b);
    }
    let first_len = mss.min(payload_len);
    pkt.truncate(hdr_len + first_len);
    pkt.gso = None;
    out[first] = pkt;

    for i in 0..count {
        let len = mss.min(payload_len - i * mss);
        let seg = out[first + i].as_mut_slice();
        if v6 {
            Ipv6Packet::new_unchecked(&mut seg[..]).set_payload_len((hdr_len - 40 + len) as u16);
        } else {
            let mut ip = Ipv4Packet::new_unchecked(&mut seg[..]);
            ip.set_total_len((hdr_len + len) as u16);
            ip.set_ident(base_ident.wrapping_add(i as u16));
            ip.fill_checksum();
        }
        let mut u = UdpPacket::new_unchecked(&mut seg[l3..]);
        u.set_len((UdpHeaderLen::LEN + len) as u16);
        if gso.needs_csum {
            u.fill_checksum(&src, &dst);
        }
    }
    Ok(count)
}

/// The headers every TCP segment of one GSO send starts from, and how to
/// finish them: the template side of software GSO for TCP.
///
/// `tcp` is the TCP header with its options as the first segment carries
/// it, with the flags of the whole send (FIN and PSH are kept only on the
/// last segment, CWR only on the first, RFC 3168 6.1.2); its checksum
/// field is ignored. `ip` is the network header to put in front of each
/// segment (IPv4 with options or IPv6; its length fields and the IPv4
/// identification and header checksum are rewritten per segment), or
/// empty when the caller pushes the IP header itself afterwards (the TCP
/// endpoint: the network layer adds it). The TCP checksum covers the
/// pseudo-header of `src`/`dst` (RFC 9293 3.1) when `needs_csum`.
#[derive(Debug, Clone, Copy)]
pub struct TcpTemplate<'a> {
    ip: &'a [u8],
    tcp: &'a [u8],
    needs_csum: bool,
    mss: usize,
    /// Partial sum of the pseudo-header without its length.
    pseudo: u16,
    /// Partial sum of the TCP header with the sequence number, the
    /// flags word and the checksum zeroed.
    hdr_base: u16,
    /// The flags word (data offset and flags, octets 12..14).
    flags_word: u16,
}

/// TCP flag bits in the flags word.
const FIN: u16 = 0x001;
const PSH: u16 = 0x008;
const CWR: u16 = 0x080;

impl<'a> TcpTemplate<'a> {
    /// Check the headers and precompute the sums that do not change from
    /// segment to segment.
    pub fn new(
        ip: &'a [u8],
        tcp: &'a [u8],
        src: IpAddr,
        dst: IpAddr,
        needs_csum: bool,
        mss: usize,
    ) -> Result<TcpTemplate<'a>, GsoError> {
        if mss == 0 {
            return Err(GsoError::ZeroMss);
        }
        let hl = TcpPacket::new_checked(tcp)
            .map_err(|_| GsoError::Malformed)?
            .header_len();
        if usize::from(hl) != tcp.len() {
            return Err(GsoError::Malformed);
        }
        match ip.first().map(|b| b >> 4) {
            None => {}
            // The header alone: its total length describes the whole send
            // and is rewritten per segment, so only its own length matters.
            Some(4)
                if ip.len() >= 20
                    && usize::from(Ipv4Packet::new_unchecked(ip).header_len()) == ip.len() => {}
            Some(6) if ip.len() >= 40 => {}
            Some(_) => return Err(GsoError::Malformed),
        }
        let mut zeroed = [0u8; 60];
        let h = &mut zeroed[..tcp.len()];
        h.copy_from_slice(tcp);
        let flags_word = u16::from_be_bytes([h[12], h[13]]);
        h[4..8].fill(0);
        h[12..14].fill(0);
        h[16..18].fill(0);
        Ok(TcpTemplate {
            ip,
            tcp,
            needs_csum,
            mss,
            pseudo: checksum::pseudo_header(&src, &dst, IpProtocol::Tcp, 0),
            hdr_base: checksum::data(h),
            flags_word,
        })
    }

    /// Cut `payload` (one range given as up to two pieces, e.g. the two
    /// sides of a wrapped ring) into segments of at most `mss` bytes, each
    /// a pooled frame positioned after `headroom` bytes, and append them to
    /// `out` in order. Returns the number of segments (at least one: a
    /// send without payload is one header-only segment).
    pub fn cut(&self, payload: [&[u8]; 2], headroom: usize, out: &mut PacketBatch) -> usize {
        let (l3, hl) = (self.ip.len(), self.ip.len() + self.tcp.len());
        let total = payload[0].len() + payload[1].len();
        let count = total.div_ceil(self.mss).max(1);
        let base_seq = TcpPacket::new_unchecked(self.tcp).seq_number();
        let base_ident = match self.ip.first().map(|b| b >> 4) {
            Some(4) => Ipv4Packet::new_unchecked(self.ip).ident(),
            _ => 0,
        };
        out.reserve(count);
        for i in 0..count {
            let off = i * self.mss;
            let len = self.mss.min(total - off);
            let mut b = PacketBuffer::pooled(headroom, hl + len);
            let f = b.append(hl + len);
            if l3 > 0 {
                f[..l3].copy_from_slice(self.ip);
            }
            f[l3..hl].copy_from_slice(self.tcp);
            let sum = copy_range(&mut f[hl..], payload, off);
            match self.ip.first().map(|b| b >> 4) {
                Some(4) => {
                    let mut ip = Ipv4Packet::new_unchecked(&mut f[..l3]);
                    ip.set_total_len((hl + len) as u16);
                    ip.set_ident(base_ident.wrapping_add(i as u16));
                    ip.fill_checksum();
                }
                Some(6) => {
                    Ipv6Packet::new_unchecked(&mut f[..l3]).set_payload_len((hl - 40 + len) as u16)
                }
                _ => {}
            }
            let mut flags = self.flags_word;
            if i + 1 < count {
                flags &= !(FIN | PSH);
            }
            if i > 0 {
                flags &= !CWR;
            }
            let seq = base_seq + off;
            let mut t = TcpPacket::new_unchecked(&mut f[l3..]);
            t.set_seq_number(seq);
            t.set_flags(flags);
            if self.needs_csum {
                // RFC 9293 3.1: pseudo-header (its length is the segment's),
                // header, payload; the constant parts were summed once.
                let s = seq.as_u32();
                let c = checksum::combine(&[
                    self.pseudo,
                    (hl - l3 + len) as u16,
                    self.hdr_base,
                    flags,
                    (s >> 16) as u16,
                    s as u16,
                    sum,
                ]);
                t.set_checksum(!c);
            }
            out.push(b);
        }
        count
    }
}

/// Copy the `dst.len()` bytes at offset `off` of the range `pieces` into
/// `dst`, returning their one's complement sum (one pass, fused).
#[inline]
fn copy_range(dst: &mut [u8], pieces: [&[u8]; 2], off: usize) -> u16 {
    let len = dst.len();
    let first = pieces[0].get(off..).unwrap_or(&[]);
    let k = first.len().min(len);
    let s0 = checksum::copy_and_sum(&mut dst[..k], &first[..k]);
    if k == len {
        return s0;
    }
    let from = off + k - pieces[0].len();
    let s1 = checksum::copy_and_sum(&mut dst[k..], &pieces[1][from..from + len - k]);
    checksum::combine(&[s0, checksum::at_offset(s1, k)])
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

    /// A TCP GSO packet with the timestamps option, as the stack builds
    /// them: IPv4 (ident 0x1234) or IPv6, flags as given.
    fn tcp_with_ts(v6: bool, payload_len: usize, fin: bool, cwr: bool) -> Vec<u8> {
        let payload: Vec<u8> = (0..payload_len).map(|i| (i * 7 + 3) as u8).collect();
        let b = if v6 {
            etherparse::PacketBuilder::ipv6(
                [0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                [0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                64,
            )
        } else {
            etherparse::PacketBuilder::ipv4([198, 18, 0, 1], [198, 18, 1, 2], 64)
        };
        let b = b
            .tcp(40000, 80, 0xffff_f000, 4000)
            .ack(77)
            .psh()
            .options(&[
                etherparse::TcpOptionElement::Noop,
                etherparse::TcpOptionElement::Noop,
                etherparse::TcpOptionElement::Timestamp(0x0102_0304, 0x0a0b_0c0d),
            ])
            .unwrap();
        let b = if fin { b.fin() } else { b };
        let b = if cwr { b.cwr() } else { b };
        let mut f = Vec::new();
        b.write(&mut f, &payload).unwrap();
        if !v6 {
            f[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
            Ipv4Packet::new_unchecked(&mut f[..]).fill_checksum();
        }
        f
    }

    /// The segments built one by one the plain way: headers copied, fields
    /// set, checksums summed over each whole segment.
    fn reference_segments(pkt: &[u8], l3: usize, mss: usize) -> Vec<Vec<u8>> {
        let v6 = pkt[0] >> 4 == 6;
        let (src, dst) = addresses(pkt, v6).unwrap();
        let hl = l3 + usize::from(TcpPacket::new_checked(&pkt[l3..]).unwrap().header_len());
        let payload = &pkt[hl..];
        let t = TcpPacket::new_unchecked(&pkt[l3..]);
        let (seq, fin, psh, cwr) = (t.seq_number(), t.fin(), t.psh(), t.cwr());
        let count = payload.len().div_ceil(mss).max(1);
        (0..count)
            .map(|i| {
                let chunk = &payload[i * mss..payload.len().min((i + 1) * mss)];
                let mut f = pkt[..hl].to_vec();
                f.extend_from_slice(chunk);
                if v6 {
                    Ipv6Packet::new_unchecked(&mut f[..])
                        .set_payload_len((hl - 40 + chunk.len()) as u16);
                } else {
                    let mut ip = Ipv4Packet::new_unchecked(&mut f[..]);
                    ip.set_total_len((hl + chunk.len()) as u16);
                    ip.set_ident(0x1234u16.wrapping_add(i as u16));
                    ip.fill_checksum();
                }
                let last = i + 1 == count;
                let mut t = TcpPacket::new_unchecked(&mut f[l3..]);
                t.set_seq_number(seq + i * mss);
                t.set_fin(fin && last);
                t.set_psh(psh && last);
                t.set_cwr(cwr && i == 0);
                t.fill_checksum(&src, &dst);
                f
            })
            .collect()
    }

    #[test]
    fn template_cut_is_byte_identical_to_per_segment_build() {
        // IPv4 and IPv6 with timestamps; odd payload lengths (the fused
        // copy's odd trailing byte), one shorter than one segment, an
        // empty one (FIN alone); FIN/PSH only on the last segment, CWR only
        // on the first; sequence numbers wrapping past 2^32.
        for v6 in [false, true] {
            let l3 = if v6 { 40 } else { 20 };
            for (len, mss) in [
                (8017, 1448),
                (10_000, 1448),
                (1001, 1448),
                (0, 1448),
                (4097, 1),
                (4097, 1447),
                (60_001, 1436),
            ] {
                let len = if mss == 1 { 7 } else { len };
                for (fin, cwr) in [(true, true), (false, false)] {
                    let pkt = tcp_with_ts(v6, len, fin, cwr);
                    let want = reference_segments(&pkt, l3, mss);
                    let g = gso(
                        if v6 { GsoType::TcpV6 } else { GsoType::TcpV4 },
                        mss as u16,
                        l3 as u16,
                    );
                    let mut out = Vec::new();
                    let n = segment(
                        PacketBuffer::from_slice(DEFAULT_HEADROOM, &pkt),
                        &g,
                        &mut out,
                    )
                    .unwrap();
                    assert_eq!(n, want.len());
                    for (i, (got, want)) in out.iter().zip(&want).enumerate() {
                        assert_eq!(
                            got.as_slice(),
                            &want[..],
                            "v6={v6} len={len} mss={mss} segment {i}"
                        );
                        assert!(got.gso.is_none());
                        assert!(got.headroom() >= DEFAULT_HEADROOM);
                    }
                }
            }
        }
    }

    #[test]
    fn payload_in_two_pieces_cuts_as_one() {
        // A send ring that wraps hands the payload over in two pieces; a
        // split at an odd byte puts the second piece's checksum at an odd
        // offset (RFC 1071 byte swap).
        let pkt = tcp_with_ts(true, 3001, true, false);
        let hl = 40 + 32;
        let (src, dst) = addresses(&pkt, true).unwrap();
        let t = TcpTemplate::new(&[], &pkt[40..hl], src, dst, true, 1000).unwrap();
        let payload = &pkt[hl..];
        let mut whole = Vec::new();
        assert_eq!(t.cut([payload, &[]], 64, &mut whole), 4);
        for cut in
            (0..=payload.len()).filter(|c| c % 97 == 0 || (995..1006).contains(c) || *c == 3001)
        {
            let mut two = Vec::new();
            assert_eq!(t.cut([&payload[..cut], &payload[cut..]], 64, &mut two), 4);
            for (a, b) in whole.iter().zip(&two) {
                assert_eq!(a.as_slice(), b.as_slice(), "split at {cut}");
            }
        }
        for s in &whole {
            assert!(TcpPacket::new_checked(s.as_slice())
                .unwrap()
                .verify_checksum(&src, &dst));
        }
        // Without checksum duty the field is left for the link.
        let t = TcpTemplate::new(&[], &pkt[40..hl], src, dst, false, 1000).unwrap();
        let mut out = Vec::new();
        t.cut([payload, &[]], 64, &mut out);
        assert_eq!(&out[0].as_slice()[..32][..16], &whole[0].as_slice()[..16]);
        assert_eq!(&out[3].as_slice()[32..], &payload[3000..]);
    }

    #[test]
    fn bad_templates_are_errors() {
        let pkt = tcp_with_ts(false, 10, false, false);
        let (src, dst) = addresses(&pkt, false).unwrap();
        let tcp = &pkt[20..52];
        assert_eq!(
            TcpTemplate::new(&[], tcp, src, dst, true, 0).unwrap_err(),
            GsoError::ZeroMss
        );
        assert_eq!(
            TcpTemplate::new(&[], &tcp[..31], src, dst, true, 9).unwrap_err(),
            GsoError::Malformed
        );
        assert_eq!(
            TcpTemplate::new(&pkt[..19], tcp, src, dst, true, 9).unwrap_err(),
            GsoError::Malformed
        );
        assert_eq!(
            TcpTemplate::new(&[0x55; 20], tcp, src, dst, true, 9).unwrap_err(),
            GsoError::Malformed
        );
        assert_eq!(
            TcpTemplate::new(&pkt[..24], tcp, src, dst, true, 9).unwrap_err(),
            GsoError::Malformed
        );
        assert!(TcpTemplate::new(&pkt[..20], tcp, src, dst, true, 9).is_ok());
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
