//! UDP (RFC 768).
//!
//! * RFC 768: header layout, the length field, the pseudo-header checksum, and
//!   the rule that a computed checksum of zero is sent as all ones.
//! * RFC 8200 8.1: over IPv6 the checksum is mandatory; a zero checksum is
//!   invalid and the datagram must be discarded.
//! * RFC 1122 4.1.3.4: over IPv4 a zero checksum means "not computed".
//!
//! [`UdpPacket`] is the zero-copy view; [`UdpRepr`] holds the ports (the
//! payload stays in the view, the addresses come from the IP layer). Port 0
//! is not rejected here: no endpoint binds it, so the transport demux counts
//! such a datagram as `no_listener`.

use crate::wire::checksum;
use crate::wire::{Error, IpProtocol, Result};
use std::net::IpAddr;

mod field {
    use crate::wire::field::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// Length of the UDP header (RFC 768).
pub const HEADER_LEN: usize = 8;

/// A read/write view of a UDP datagram (header and payload).
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wrap a buffer without checking its length.
    ///
    /// Accessors may panic on a buffer shorter than [`HEADER_LEN`]; use this
    /// to emit into a buffer sized by [`UdpRepr::buffer_len`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> UdpPacket<T> {
        UdpPacket { buffer }
    }

    /// Wrap a buffer and validate its lengths with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<UdpPacket<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Check that the buffer holds the header and the whole datagram the
    /// length field claims.
    ///
    /// [`Error::Truncated`] if the buffer is shorter than 8 octets or than the
    /// length field; [`Error::Malformed`] if the length field is below 8
    /// (RFC 768: "the minimum value of the length is eight"). A buffer longer
    /// than the length field is accepted (link padding); the payload ends at
    /// the length field.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let buffer_len = self.buffer.as_ref().len();
        if buffer_len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN {
            Err(Error::Malformed)
        } else if buffer_len < field_len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Return the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The source port field (0 = none, RFC 768).
    #[inline]
    pub fn src_port(&self) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[field::SRC_PORT.start], data[field::SRC_PORT.start + 1]])
    }

    /// The destination port field.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[field::DST_PORT.start], data[field::DST_PORT.start + 1]])
    }

    /// The length field: header plus payload, in octets.
    #[inline]
    pub fn len(&self) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[field::LENGTH.start], data[field::LENGTH.start + 1]])
    }

    /// Whether the datagram carries no payload (length field is at most 8).
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[field::CHECKSUM.start], data[field::CHECKSUM.start + 1]])
    }

    /// The datagram (header and payload) as delimited by the length field,
    /// clamped to the buffer so it never panics after a bad `set_len`.
    #[inline]
    fn datagram_end(&self) -> usize {
        let buffer_len = self.buffer.as_ref().len();
        usize::from(self.len()).max(HEADER_LEN).min(buffer_len)
    }

    /// Sum of the pseudo-header and the datagram (checksum field included).
    fn sum(&self, src: &IpAddr, dst: &IpAddr) -> u16 {
        let data = &self.buffer.as_ref()[..self.datagram_end()];
        // RFC 768 / RFC 8200 8.1: the pseudo-header carries the UDP length.
        checksum::combine(&[
            checksum::pseudo_header(src, dst, IpProtocol::Udp, u32::from(self.len())),
            checksum::data(data),
        ])
    }

    /// Verify the checksum against the pseudo-header of `src` and `dst`.
    ///
    /// Over IPv4 a zero checksum means the sender did not compute one and
    /// verifies (RFC 768, RFC 1122 4.1.3.4). Over IPv6 a zero checksum is
    /// invalid and fails (RFC 8200 8.1).
    #[inline]
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        if self.checksum() == 0 {
            // RFC 8200 8.1: "IPv6 receivers must discard UDP packets containing
            // a zero checksum"; RFC 768: zero over IPv4 means "no checksum".
            return matches!((src, dst), (IpAddr::V4(_), IpAddr::V4(_)));
        }
        self.sum(src, dst) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> UdpPacket<&'a T> {
    /// The payload: octets 8 up to the length field.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let end = self.datagram_end();
        let data = self.buffer.as_ref();
        &data[HEADER_LEN.min(end)..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Set the source port field.
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&value.to_be_bytes());
    }

    /// Set the destination port field.
    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&value.to_be_bytes());
    }

    /// Set the length field (header plus payload).
    #[inline]
    pub fn set_len(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// The payload, mutably: octets 8 up to the length field.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.datagram_end();
        &mut self.buffer.as_mut()[HEADER_LEN.min(end)..end]
    }

    /// Compute and store the checksum for the pseudo-header of `src`, `dst`.
    ///
    /// A computed checksum of zero is stored as `0xffff` (RFC 768: "if the
    /// computed checksum is zero, it is transmitted as all ones").
    #[inline]
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let sum = !self.sum(src, dst);
        // RFC 768: zero is reserved for "no checksum".
        self.set_checksum(if sum == 0 { 0xffff } else { sum });
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for UdpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The meaning of a UDP header: its ports.
///
/// The payload stays in the packet view ([`UdpPacket::payload`]); the length
/// and checksum are derived when emitting.
#[derive(Debug, PartialEq, Eq, Clone, Copy, Hash)]
pub struct UdpRepr {
    /// Source port (0 = none).
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl UdpRepr {
    /// Parse a UDP header, checking lengths and, if `verify_checksum`, the
    /// checksum against the pseudo-header of `src` and `dst`.
    ///
    /// [`Error::Truncated`] / [`Error::Malformed`] as in
    /// [`UdpPacket::check_len`]; [`Error::Checksum`] if asked to verify and the
    /// checksum fails (including a zero checksum over IPv6, RFC 8200 8.1).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &UdpPacket<&T>,
        src: &IpAddr,
        dst: &IpAddr,
        verify_checksum: bool,
    ) -> Result<UdpRepr> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        })
    }

    /// Length of the header this emits: always [`HEADER_LEN`].
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Length of a datagram with `payload_len` octets of payload.
    #[inline]
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Write the header into `packet`, let `emit_payload` fill the
    /// `payload_len` payload octets, then (if `fill_checksum`) compute the
    /// checksum over the pseudo-header of `src`, `dst`; otherwise the field is
    /// zero (allowed over IPv4 only, RFC 768; use checksum offload otherwise).
    ///
    /// Does not panic if the buffer is at least
    /// [`buffer_len(payload_len)`](Self::buffer_len) octets. A datagram longer
    /// than 65535 octets is an IPv6 jumbogram and gets a length field of zero
    /// (RFC 2675 4); its checksum still covers `payload_len` octets.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src: &IpAddr,
        dst: &IpAddr,
        payload_len: usize,
        emit_payload: impl FnOnce(&mut [u8]),
        fill_checksum: bool,
    ) {
        let total = HEADER_LEN + payload_len;
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        // RFC 2675 4: a jumbogram's UDP length field is zero.
        packet.set_len(u16::try_from(total).unwrap_or(0));
        packet.set_checksum(0);
        let data = packet.buffer.as_mut();
        emit_payload(&mut data[HEADER_LEN..total]);
        if fill_checksum {
            let sum = checksum::combine(&[
                checksum::pseudo_header(src, dst, IpProtocol::Udp, total as u32),
                checksum::data(&data[..total]),
            ]);
            let sum = !sum;
            // RFC 768: a computed zero is transmitted as all ones.
            packet.set_checksum(if sum == 0 { 0xffff } else { sum });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const LO4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const LO6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

    /// `sendto(b"xdpnet udp", 127.0.0.1:9999)` captured on Linux loopback.
    /// Loopback offloads the checksum: the captured field (0xfe25) is the
    /// pseudo-header partial sum, not a checksum.
    const UDP4_CAPTURED: [u8; 18] = [
        0xbe, 0xfb, 0x27, 0x0f, 0x00, 0x12, 0xfe, 0x25, 0x78, 0x64, 0x70, 0x6e, 0x65, 0x74, 0x20,
        0x75, 0x64, 0x70,
    ];
    /// The full checksum of `UDP4_CAPTURED`, computed by an independent
    /// (Python, RFC 1071 byte-pair) implementation.
    const UDP4_CHECKSUM: u16 = 0x4890;
    /// `sendto(b"xdpnet udp6", [::1]:9999)` on Linux loopback; full checksum
    /// 0x222c (the captured field 0x0026 is the partial sum).
    const UDP6_CAPTURED: [u8; 19] = [
        0xad, 0x5e, 0x27, 0x0f, 0x00, 0x13, 0x00, 0x26, 0x78, 0x64, 0x70, 0x6e, 0x65, 0x74, 0x20,
        0x75, 0x64, 0x70, 0x36,
    ];
    const UDP6_CHECKSUM: u16 = 0x222c;

    #[test]
    fn deconstruct_captured() {
        let p = UdpPacket::new_checked(&UDP4_CAPTURED[..]).unwrap();
        assert_eq!(p.src_port(), 48891);
        assert_eq!(p.dst_port(), 9999);
        assert_eq!(p.len(), 18);
        assert_eq!(p.payload(), b"xdpnet udp");
        // The offloaded field is exactly our pseudo-header partial sum.
        assert_eq!(
            p.checksum(),
            checksum::pseudo_header(&LO4, &LO4, IpProtocol::Udp, 18)
        );
        assert!(!p.verify_checksum(&LO4, &LO4));
        let p6 = UdpPacket::new_checked(&UDP6_CAPTURED[..]).unwrap();
        assert_eq!(
            p6.checksum(),
            checksum::pseudo_header(&LO6, &LO6, IpProtocol::Udp, 19)
        );
        assert_eq!(p6.payload(), b"xdpnet udp6");
    }

    #[test]
    fn construct_matches_captured() {
        let mut buf = [0xa5u8; 18];
        let mut p = UdpPacket::new_unchecked(&mut buf[..]);
        let repr = UdpRepr {
            src_port: 48891,
            dst_port: 9999,
        };
        repr.emit(
            &mut p,
            &LO4,
            &LO4,
            10,
            |b| b.copy_from_slice(b"xdpnet udp"),
            true,
        );
        let mut want = UDP4_CAPTURED;
        want[6..8].copy_from_slice(&UDP4_CHECKSUM.to_be_bytes());
        assert_eq!(buf, want);

        let mut buf6 = [0u8; 19];
        let mut p6 = UdpPacket::new_unchecked(&mut buf6[..]);
        UdpRepr {
            src_port: 0xad5e,
            dst_port: 9999,
        }
        .emit(
            &mut p6,
            &LO6,
            &LO6,
            11,
            |b| b.copy_from_slice(b"xdpnet udp6"),
            true,
        );
        let mut want6 = UDP6_CAPTURED;
        want6[6..8].copy_from_slice(&UDP6_CHECKSUM.to_be_bytes());
        assert_eq!(buf6, want6);
        let p6 = UdpPacket::new_checked(&buf6[..]).unwrap();
        assert!(p6.verify_checksum(&LO6, &LO6));
        assert!(!p6.verify_checksum(&LO4, &LO4));
    }

    #[test]
    fn zero_checksum_rules() {
        let mut buf = UDP4_CAPTURED;
        buf[6] = 0;
        buf[7] = 0;
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        // RFC 768: zero over IPv4 = no checksum.
        assert!(p.verify_checksum(&LO4, &LO4));
        // RFC 8200 8.1: zero over IPv6 is invalid.
        assert!(!p.verify_checksum(&LO6, &LO6));
        assert_eq!(UdpRepr::parse(&p, &LO6, &LO6, true), Err(Error::Checksum));
        assert!(UdpRepr::parse(&p, &LO4, &LO4, true).is_ok());
    }

    #[test]
    fn fill_checksum_zero_becomes_ffff() {
        // Find a payload word that makes the checksum compute to zero.
        let mut buf = [0u8; 10];
        buf[4..6].copy_from_slice(&10u16.to_be_bytes());
        let src = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
        let dst = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
        let mut p = UdpPacket::new_unchecked(&mut buf[..]);
        p.fill_checksum(&src, &dst);
        let c = p.checksum();
        // Adding the current checksum into the payload word drives the sum to
        // 0xffff without the field, i.e. a computed checksum of 0.
        p.payload_mut().copy_from_slice(&c.to_be_bytes());
        p.fill_checksum(&src, &dst);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(&src, &dst));
    }

    #[test]
    fn length_checks() {
        for n in 0..UDP4_CAPTURED.len() {
            assert_eq!(
                UdpPacket::new_checked(&UDP4_CAPTURED[..n]).err(),
                Some(Error::Truncated),
                "len {n}"
            );
        }
        let mut buf = UDP4_CAPTURED;
        buf[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            UdpPacket::new_checked(&buf[..]).err(),
            Some(Error::Malformed)
        );
        // Trailing link padding is not payload.
        let mut padded = UDP4_CAPTURED.to_vec();
        padded.extend_from_slice(&[0; 6]);
        let p = UdpPacket::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload(), b"xdpnet udp");
    }

    #[test]
    fn no_panic_after_bad_set_len() {
        let mut buf = UDP4_CAPTURED;
        let mut p = UdpPacket::new_checked(&mut buf[..]).unwrap();
        p.set_len(0xffff);
        assert_eq!(p.payload_mut().len(), 10);
        p.set_len(0);
        assert!(p.payload_mut().is_empty());
        p.fill_checksum(&LO4, &LO4);
    }

    fn addr_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<[u8; 4]>())
                .prop_map(|(s, d)| (IpAddr::from(s), IpAddr::from(d))),
            (any::<[u8; 16]>(), any::<[u8; 16]>())
                .prop_map(|(s, d)| (IpAddr::from(s), IpAddr::from(d))),
        ]
    }

    proptest! {
        #[test]
        fn roundtrip(src_port in any::<u16>(), dst_port in any::<u16>(),
                     payload in proptest::collection::vec(any::<u8>(), 0..300),
                     (src, dst) in addr_pair()) {
            let repr = UdpRepr { src_port, dst_port };
            let mut buf = vec![0u8; repr.buffer_len(payload.len())];
            let mut p = UdpPacket::new_unchecked(&mut buf[..]);
            repr.emit(&mut p, &src, &dst, payload.len(), |b| b.copy_from_slice(&payload), true);
            let p = UdpPacket::new_checked(&buf[..]).unwrap();
            prop_assert!(p.verify_checksum(&src, &dst));
            prop_assert_eq!(UdpRepr::parse(&p, &src, &dst, true), Ok(repr));
            prop_assert_eq!(p.payload(), &payload[..]);
        }

        #[test]
        fn any_bytes_no_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                              (src, dst) in addr_pair()) {
            if let Ok(p) = UdpPacket::new_checked(&bytes[..]) {
                let _ = UdpRepr::parse(&p, &src, &dst, true);
                let _ = p.payload();
            }
        }
    }
}
