//! IPv4 (RFC 791).
//!
//! * RFC 791 3.1: the header format. Options are accepted and skipped, never
//!   emitted.
//! * RFC 2474 3 / RFC 3168 5: the old TOS octet is DSCP (6 bits) and ECN (2 bits).
//! * RFC 1071 / RFC 1624: the header checksum, patched incrementally when a
//!   forwarder decrements the TTL.
//! * RFC 791 3.2 / RFC 1122 3.3.3: `MIN_MTU`, the datagram size every host
//!   must accept without fragmentation at the IP layer (68 octets).

use crate::wire::{checksum, Error, IpProtocol, Result};
use std::net::Ipv4Addr;

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;
/// The minimum MTU of an IPv4 link (RFC 791 3.2).
pub const MIN_MTU: usize = 68;

mod field {
    use crate::wire::field::{Field, Rest};

    // RFC 791 3.1: Internet Header Format.
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
    pub const OPTIONS: Rest = 20..;
}

// RFC 791 3.1: bit 0 reserved, bit 1 DF, bit 2 MF, then a 13-bit offset in 8-octet units.
const FLAG_RESERVED: u16 = 0x8000;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wrap a buffer without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Ensure the header, its options and `total_len` octets are in the buffer.
    ///
    /// `Truncated` if the buffer is shorter than 20 octets, the header length
    /// or the total length; `Malformed` if IHL < 5 or the total length is
    /// shorter than the header. The buffer may be longer than `total_len`
    /// (Ethernet padding); [`payload`](Ipv4Packet::payload) stops at `total_len`.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = usize::from(self.header_len());
        // RFC 791 3.1: "the minimum value for a correct header is 5".
        if header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(Error::Malformed);
        }
        if len < header_len || len < total_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Give back the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn u16_at(&self, f: crate::wire::field::Field) -> u16 {
        let d = &self.buffer.as_ref()[f];
        u16::from_be_bytes([d[0], d[1]])
    }

    /// The `header_len..total_len` range, clamped so that it never panics
    /// even after a setter broke what `check_len` verified.
    #[inline]
    fn payload_range(&self) -> core::ops::Range<usize> {
        let len = self.buffer.as_ref().len();
        let end = usize::from(self.total_len()).min(len);
        let start = usize::from(self.header_len()).min(end);
        start..end
    }

    /// The version field (4 for IPv4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in octets (IHL * 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The Differentiated Services Code Point (RFC 2474 3).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// The ECN field (RFC 3168 5).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// The total length of the datagram, header included.
    #[inline]
    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    /// The identification field.
    #[inline]
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }

    /// The Don't Fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_DF != 0
    }

    /// The More Fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_MF != 0
    }

    /// The fragment offset in octets (the field times 8).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.u16_at(field::FLG_OFF) & OFFSET_MASK) << 3
    }

    /// The time to live.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The protocol of the payload.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// The header checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let d = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(d[0], d[1], d[2], d[3])
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let d = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(d[0], d[1], d[2], d[3])
    }

    /// The options, between the fixed header and `header_len`.
    #[inline]
    pub fn options(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        let end = usize::from(self.header_len()).min(data.len());
        data.get(field::OPTIONS.start..end).unwrap_or(&[])
    }

    /// Whether the header checksum verifies (RFC 791 3.1, RFC 1071).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let data = self.buffer.as_ref();
        let end = usize::from(self.header_len()).min(data.len());
        // The common header without options: fixed-size loads.
        if let Some(h) = data
            .first_chunk::<HEADER_LEN>()
            .filter(|_| end == HEADER_LEN)
        {
            return checksum::header20(h) == !0;
        }
        checksum::data(&data[..end]) == !0
    }

    /// The checks [`Ipv4Repr::parse`] makes, without building the repr:
    /// [`check_len`](Self::check_len), version 4 (`Malformed` otherwise)
    /// and, if asked, the header checksum (`Checksum`), in that order.
    #[inline]
    pub fn validate(&self, verify_checksum: bool) -> Result<()> {
        self.check_len()?;
        // RFC 791 3.1: Version 4.
        if self.version() != 4 {
            return Err(Error::Malformed);
        }
        if verify_checksum && !self.verify_checksum() {
            return Err(Error::Checksum);
        }
        Ok(())
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv4Packet<&'a T> {
    /// The payload: octets `header_len..total_len` (Ethernet padding excluded).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let range = self.payload_range();
        &self.buffer.as_ref()[range]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    fn set_u16_at(&mut self, f: crate::wire::field::Field, value: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&value.to_be_bytes());
    }

    /// Set the version field.
    #[inline]
    pub fn set_version(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (value << 4);
    }

    /// Set the header length in octets (stored as `value / 4`).
    #[inline]
    pub fn set_header_len(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((value / 4) & 0x0f);
    }

    /// Set the DSCP (6 bits).
    #[inline]
    pub fn set_dscp(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0x03) | (value << 2);
    }

    /// Set the ECN field (2 bits).
    #[inline]
    pub fn set_ecn(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0xfc) | (value & 0x03);
    }

    /// Set the total length.
    #[inline]
    pub fn set_total_len(&mut self, value: u16) {
        self.set_u16_at(field::LENGTH, value);
    }

    /// Set the identification field.
    #[inline]
    pub fn set_ident(&mut self, value: u16) {
        self.set_u16_at(field::IDENT, value);
    }

    /// Clear the three flag bits (reserved, DF, MF), keeping the offset.
    #[inline]
    pub fn clear_flags(&mut self) {
        let v = self.u16_at(field::FLG_OFF) & OFFSET_MASK;
        self.set_u16_at(field::FLG_OFF, v);
    }

    /// Set the Don't Fragment flag.
    #[inline]
    pub fn set_dont_frag(&mut self, value: bool) {
        let v = self.u16_at(field::FLG_OFF);
        let v = if value { v | FLAG_DF } else { v & !FLAG_DF };
        self.set_u16_at(field::FLG_OFF, v);
    }

    /// Set the More Fragments flag.
    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        let v = self.u16_at(field::FLG_OFF);
        let v = if value { v | FLAG_MF } else { v & !FLAG_MF };
        self.set_u16_at(field::FLG_OFF, v);
    }

    /// Set the fragment offset in octets (a multiple of 8; the low 3 bits are dropped).
    #[inline]
    pub fn set_frag_offset(&mut self, value: u16) {
        let v = self.u16_at(field::FLG_OFF) & !OFFSET_MASK;
        self.set_u16_at(field::FLG_OFF, v | (value >> 3));
    }

    /// Set the time to live (does not touch the checksum).
    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    /// Set the protocol field.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = value.into();
    }

    /// Store a checksum value.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.set_u16_at(field::CHECKSUM, value);
    }

    /// Set the source address.
    #[inline]
    pub fn set_src_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets());
    }

    /// Set the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets());
    }

    /// Compute and store the header checksum over `header_len` octets.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = {
            let data = self.buffer.as_ref();
            let end = usize::from(self.header_len()).min(data.len());
            checksum::data(&data[..end])
        };
        self.set_checksum(!sum);
    }

    /// Decrement the TTL by one and patch the checksum incrementally
    /// (RFC 1624 3; RFC 1812 5.3.1: forwarders decrement the TTL and RFC 1812
    /// 5.2.2 permits updating the checksum incrementally). The caller has
    /// checked that the TTL is above 1; a TTL of 0 stays 0.
    #[inline(always)]
    pub fn decrement_hop_limit(&mut self) {
        // One bounds check for the three fields (TTL, protocol, checksum).
        let Some(h) = self.buffer.as_mut().first_chunk_mut::<12>() else {
            return;
        };
        let (ttl, proto) = (h[field::TTL], h[field::PROTOCOL]);
        // The TTL shares a 16-bit checksum word with the protocol octet.
        let old = u16::from_be_bytes([ttl, proto]);
        let new = u16::from_be_bytes([ttl.saturating_sub(1), proto]);
        h[field::TTL] = ttl.saturating_sub(1);
        let c = u16::from_be_bytes([h[10], h[11]]);
        let [c0, c1] = checksum::update16(c, old, new).to_be_bytes();
        h[10] = c0;
        h[11] = c1;
    }

    /// The payload (`header_len..total_len`), mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        &mut self.buffer.as_mut()[range]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The meaning of an IPv4 header (options are not represented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub next_header: IpProtocol,
    /// Payload length (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub hop_limit: u8,
    /// The whole TOS octet: DSCP << 2 | ECN.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment flag.
    pub dont_frag: bool,
    /// More Fragments flag.
    pub more_frags: bool,
    /// Fragment offset in octets (a multiple of 8).
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Parse a header, checking the version and, if asked, the checksum.
    /// Options are skipped: `payload_len` counts from the end of them.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Ipv4Packet<&T>,
        verify_checksum: bool,
    ) -> Result<Ipv4Repr> {
        packet.validate(verify_checksum)?;
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.total_len()) - usize::from(packet.header_len()),
            hop_limit: packet.hop_limit(),
            tos: packet.buffer.as_ref()[field::DSCP_ECN],
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    /// The header length this repr emits (no options): 20.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// The emitted header length: 20.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header (no options) and its checksum into a buffer of at
    /// least 20 octets. A `payload_len` above 65515 saturates the total length.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN as u8);
        packet.buffer.as_mut()[field::DSCP_ECN] = self.tos;
        let total = u16::try_from(HEADER_LEN + self.payload_len).unwrap_or(u16::MAX);
        packet.set_total_len(total);
        packet.set_ident(self.ident);
        // RFC 791 3.1: the reserved flag bit must be zero.
        let mut flags = 0;
        if self.dont_frag {
            flags |= FLAG_DF;
        }
        if self.more_frags {
            flags |= FLAG_MF;
        }
        debug_assert_eq!(flags & FLAG_RESERVED, 0);
        packet.set_u16_at(
            field::FLG_OFF,
            flags | ((self.frag_offset >> 3) & OFFSET_MASK),
        );
        packet.set_hop_limit(self.hop_limit);
        packet.set_next_header(self.next_header);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A TCP SYN 198.18.0.1:42162 -> 198.18.0.2:80 (DF, TTL 64, MSS/SACK/TS/WS options).
    const SYN: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x92, 0x4e, 0xc6, 0x12, //
        0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, // end of IPv4 header
        0xa4, 0xb2, 0x00, 0x50, 0x6b, 0x8b, 0x45, 0x67, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, //
        0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, //
        0x00, 0x9c, 0x27, 0x24, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    /// An IGMPv2 report for 239.1.2.3 with the Router Alert option (RFC 2113), TTL 1.
    const IGMP_RA: [u8; 32] = [
        0x46, 0xc0, 0x00, 0x20, 0x00, 0x00, 0x40, 0x00, 0x01, 0x02, 0x2d, 0x00, 0xc6, 0x12, //
        0x00, 0x01, 0xef, 0x01, 0x02, 0x03, 0x94, 0x04, 0x00, 0x00, // options
        0x16, 0x00, 0xf8, 0xfa, 0xef, 0x01, 0x02, 0x03,
    ];

    fn syn_repr() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(198, 18, 0, 1),
            dst_addr: Ipv4Addr::new(198, 18, 0, 2),
            next_header: IpProtocol::Tcp,
            payload_len: 40,
            hop_limit: 64,
            tos: 0,
            ident: 0x1c46,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Ipv4Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp(), 0);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 60);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.next_header(), IpProtocol::Tcp);
        assert_eq!(p.checksum(), 0x924e);
        assert_eq!(p.src_addr(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 18, 0, 2));
        assert!(p.options().is_empty());
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &SYN[20..]);
        assert_eq!(Ipv4Repr::parse(&p, true).unwrap(), syn_repr());
    }

    #[test]
    fn deconstruct_with_options() {
        let p = Ipv4Packet::new_checked(&IGMP_RA[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.dscp(), 48); // CS6
        assert_eq!(p.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &IGMP_RA[24..]);
        let r = Ipv4Repr::parse(&p, true).unwrap();
        assert_eq!(r.payload_len, 8);
        assert_eq!(r.next_header, IpProtocol::Igmp);
        assert_eq!(r.tos, 0xc0);
        assert_eq!(r.hop_limit, 1);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 60];
        buf[20..].copy_from_slice(&SYN[20..]);
        let repr = syn_repr();
        assert_eq!(repr.buffer_len(), 20);
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, SYN);
    }

    #[test]
    fn padding_is_not_payload() {
        let mut buf = SYN.to_vec();
        buf.extend_from_slice(&[0; 6]);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.payload().len(), 40);
    }

    #[test]
    fn truncation_at_every_length() {
        for len in 0..SYN.len() {
            assert_eq!(
                Ipv4Packet::new_checked(&SYN[..len]).unwrap_err(),
                Error::Truncated,
                "len {len}"
            );
        }
        for len in 0..IGMP_RA.len() {
            assert_eq!(
                Ipv4Packet::new_checked(&IGMP_RA[..len]).unwrap_err(),
                Error::Truncated
            );
        }
    }

    #[test]
    fn malformed_and_bad_checksum() {
        let mut b = SYN;
        b[0] = 0x44; // IHL 4
        assert_eq!(Ipv4Packet::new_checked(&b[..]), Err(Error::Malformed));
        let mut b = SYN;
        b[2] = 0;
        b[3] = 19; // total length below the header
        assert_eq!(Ipv4Packet::new_checked(&b[..]), Err(Error::Malformed));
        let mut b = SYN;
        b[0] = 0x65;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p, false), Err(Error::Malformed));
        let mut b = SYN;
        b[15] ^= 1;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p, true), Err(Error::Checksum));
        assert!(Ipv4Repr::parse(&p, false).is_ok());
        // IHL says 60 octets of header but the buffer has 40.
        let mut b = SYN;
        b[0] = 0x4f;
        assert_eq!(Ipv4Packet::new_checked(&b[..40]), Err(Error::Truncated));
    }

    #[test]
    fn setters() {
        let mut buf = SYN;
        let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        p.set_dscp(46);
        p.set_ecn(1);
        p.set_ident(0xbeef);
        p.set_more_frags(true);
        p.set_frag_offset(1480);
        p.set_dont_frag(false);
        p.set_hop_limit(7);
        p.set_next_header(IpProtocol::Udp);
        p.set_src_addr(Ipv4Addr::new(10, 0, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(10, 0, 0, 2));
        p.fill_checksum();
        assert_eq!((p.dscp(), p.ecn()), (46, 1));
        assert_eq!(p.ident(), 0xbeef);
        assert!(p.more_frags() && !p.dont_frag());
        assert_eq!(p.frag_offset(), 1480);
        assert_eq!(p.hop_limit(), 7);
        assert_eq!(p.next_header(), IpProtocol::Udp);
        assert_eq!(p.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
        assert!(p.verify_checksum());
        p.clear_flags();
        assert!(!p.more_frags() && !p.dont_frag());
        assert_eq!(p.frag_offset(), 1480);
        p.payload_mut()[0] = 0xff;
        // Setters that break the checked lengths must not make accessors panic.
        p.set_header_len(60);
        p.set_total_len(1000);
        assert_eq!(p.payload_mut().len(), 0);
        assert_eq!(p.options().len(), 40);
        assert!(!p.verify_checksum());
        p.set_header_len(0);
        p.set_total_len(10);
        assert_eq!(p.payload_mut().len(), 10);
        assert!(p.options().is_empty());
        p.set_version(6);
        assert_eq!(p.version(), 6);
        assert_eq!(buf[20], 0xff);
    }

    #[test]
    fn decrement_hop_limit_keeps_checksum() {
        let mut buf = SYN;
        let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        for ttl in (1..64).rev() {
            p.decrement_hop_limit();
            assert_eq!(p.hop_limit(), ttl);
            assert!(p.verify_checksum(), "ttl {ttl}");
        }
    }

    pub(crate) fn arb_repr() -> impl Strategy<Value = Ipv4Repr> {
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            0usize..=65515,
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            any::<(bool, bool)>(),
            0u16..8192,
        )
            .prop_map(
                |(s, d, proto, payload_len, ttl, tos, ident, (df, mf), off)| Ipv4Repr {
                    src_addr: Ipv4Addr::from(s),
                    dst_addr: Ipv4Addr::from(d),
                    next_header: IpProtocol::from(proto),
                    payload_len,
                    hop_limit: ttl,
                    tos,
                    ident,
                    dont_frag: df,
                    more_frags: mf,
                    frag_offset: off * 8,
                },
            )
    }

    proptest! {
        #[test]
        fn repr_round_trip(repr in arb_repr()) {
            let mut buf = vec![0u8; repr.buffer_len() + repr.payload_len];
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
            let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(p.payload().len(), repr.payload_len);
            prop_assert_eq!(Ipv4Repr::parse(&p, true).unwrap(), repr);
        }

        #[test]
        fn decrement_matches_full_checksum(repr in arb_repr(), ttl in 2u8..=255) {
            let repr = Ipv4Repr { payload_len: 0, hop_limit: ttl, ..repr };
            let mut buf = [0u8; 20];
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
            let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
            p.decrement_hop_limit();
            prop_assert!(p.verify_checksum());
            prop_assert_eq!(p.hop_limit(), ttl - 1);
        }

        #[test]
        fn no_panic_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = Ipv4Packet::new_checked(&bytes[..]) {
                let _ = (p.options(), p.payload(), p.frag_offset(), p.verify_checksum());
                let _ = Ipv4Repr::parse(&p, true);
                if let Ok(r) = Ipv4Repr::parse(&p, false) {
                    prop_assert_eq!(r.payload_len, p.payload().len());
                }
            }
        }
    }
}
