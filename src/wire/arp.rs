//! ARP for Ethernet/IPv4 (RFC 826).
//!
//! The view reads any hardware/protocol address lengths (RFC 826 "Packet
//! format": `ar$hln`, `ar$pln`); the [`ArpRepr`] only represents the
//! Ethernet/IPv4 case the stack speaks.

use crate::wire::{Error, EtherType, EthernetAddress, Result};
use std::net::Ipv4Addr;

enum_with_unknown! {
    /// ARP hardware types (`ar$hrd`, IANA "Hardware Types").
    pub enum Hardware(u16) {
        /// Ethernet (10Mb), used for every Ethernet speed.
        Ethernet = 1,
    }
}

enum_with_unknown! {
    /// ARP opcodes (`ar$op`, RFC 826).
    pub enum ArpOperation(u16) {
        /// `ares_op$REQUEST`.
        Request = 1,
        /// `ares_op$REPLY`.
        Reply = 2,
    }
}

mod field {
    use crate::wire::field::Field;

    // RFC 826 "Packet format": fixed part.
    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const ADDRS: usize = 8;

    // RFC 826: the four addresses follow, sized by ar$hln and ar$pln.
    #[inline]
    pub const fn sha(hlen: u8, _plen: u8) -> Field {
        ADDRS..ADDRS + hlen as usize
    }
    #[inline]
    pub const fn spa(hlen: u8, plen: u8) -> Field {
        let start = sha(hlen, plen).end;
        start..start + plen as usize
    }
    #[inline]
    pub const fn tha(hlen: u8, plen: u8) -> Field {
        let start = spa(hlen, plen).end;
        start..start + hlen as usize
    }
    #[inline]
    pub const fn tpa(hlen: u8, plen: u8) -> Field {
        let start = tha(hlen, plen).end;
        start..start + plen as usize
    }
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize = 28;

/// A read/write view of an ARP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wrap a buffer without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> ArpPacket<T> {
        ArpPacket { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<ArpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Ensure the buffer holds the fixed part and the four addresses.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::ADDRS {
            return Err(Error::Truncated);
        }
        if len < field::tpa(self.hardware_len(), self.protocol_len()).end {
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

    #[inline]
    fn bytes(&self, f: crate::wire::field::Field) -> &[u8] {
        // Only a setter changing a length after check_len can make this miss.
        self.buffer.as_ref().get(f).unwrap_or(&[])
    }

    /// The hardware type (`ar$hrd`).
    #[inline]
    pub fn hardware_type(&self) -> Hardware {
        Hardware::from(self.u16_at(field::HTYPE))
    }

    /// The protocol type (`ar$pro`), an EtherType.
    #[inline]
    pub fn protocol_type(&self) -> EtherType {
        EtherType::from(self.u16_at(field::PTYPE))
    }

    /// The hardware address length (`ar$hln`).
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// The protocol address length (`ar$pln`).
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// The opcode (`ar$op`).
    #[inline]
    pub fn operation(&self) -> ArpOperation {
        ArpOperation::from(self.u16_at(field::OPER))
    }

    /// The sender hardware address (`ar$sha`).
    #[inline]
    pub fn source_hardware_addr(&self) -> &[u8] {
        self.bytes(field::sha(self.hardware_len(), self.protocol_len()))
    }

    /// The sender protocol address (`ar$spa`).
    #[inline]
    pub fn source_protocol_addr(&self) -> &[u8] {
        self.bytes(field::spa(self.hardware_len(), self.protocol_len()))
    }

    /// The target hardware address (`ar$tha`).
    #[inline]
    pub fn target_hardware_addr(&self) -> &[u8] {
        self.bytes(field::tha(self.hardware_len(), self.protocol_len()))
    }

    /// The target protocol address (`ar$tpa`).
    #[inline]
    pub fn target_protocol_addr(&self) -> &[u8] {
        self.bytes(field::tpa(self.hardware_len(), self.protocol_len()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    #[inline]
    fn set_u16_at(&mut self, f: crate::wire::field::Field, value: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&value.to_be_bytes());
    }

    /// Copy `value` into the address field `f`; a length mismatch copies the
    /// common prefix rather than panicking.
    #[inline]
    fn set_bytes(&mut self, f: crate::wire::field::Field, value: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(f) {
            let n = dst.len().min(value.len());
            dst[..n].copy_from_slice(&value[..n]);
        }
    }

    /// Set the hardware type.
    #[inline]
    pub fn set_hardware_type(&mut self, value: Hardware) {
        self.set_u16_at(field::HTYPE, value.into());
    }

    /// Set the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, value: EtherType) {
        self.set_u16_at(field::PTYPE, value.into());
    }

    /// Set the hardware address length.
    #[inline]
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    /// Set the protocol address length.
    #[inline]
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value;
    }

    /// Set the opcode.
    #[inline]
    pub fn set_operation(&mut self, value: ArpOperation) {
        self.set_u16_at(field::OPER, value.into());
    }

    /// Set the sender hardware address (should be `hardware_len` octets).
    #[inline]
    pub fn set_source_hardware_addr(&mut self, value: &[u8]) {
        self.set_bytes(field::sha(self.hardware_len(), self.protocol_len()), value);
    }

    /// Set the sender protocol address (should be `protocol_len` octets).
    #[inline]
    pub fn set_source_protocol_addr(&mut self, value: &[u8]) {
        self.set_bytes(field::spa(self.hardware_len(), self.protocol_len()), value);
    }

    /// Set the target hardware address (should be `hardware_len` octets).
    #[inline]
    pub fn set_target_hardware_addr(&mut self, value: &[u8]) {
        self.set_bytes(field::tha(self.hardware_len(), self.protocol_len()), value);
    }

    /// Set the target protocol address (should be `protocol_len` octets).
    #[inline]
    pub fn set_target_protocol_addr(&mut self, value: &[u8]) {
        self.set_bytes(field::tpa(self.hardware_len(), self.protocol_len()), value);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for ArpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The meaning of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request, reply, or an opcode kept as `Unknown`.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub source_hardware_addr: EthernetAddress,
    /// Sender protocol address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target hardware address (ignored in requests, RFC 826).
    pub target_hardware_addr: EthernetAddress,
    /// Target protocol address.
    pub target_protocol_addr: Ipv4Addr,
}

fn ipv4(b: &[u8]) -> Ipv4Addr {
    match <[u8; 4]>::try_from(b) {
        Ok(a) => Ipv4Addr::from(a),
        Err(_) => Ipv4Addr::UNSPECIFIED,
    }
}

fn mac(b: &[u8]) -> EthernetAddress {
    EthernetAddress::from_bytes(b).unwrap_or_default()
}

impl ArpRepr {
    /// Parse an Ethernet/IPv4 ARP packet.
    ///
    /// `Unrecognized` for other hardware or protocol types, `Malformed` when
    /// the address lengths are not 6 and 4.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &ArpPacket<&T>) -> Result<ArpRepr> {
        packet.check_len()?;
        // RFC 826 "Packet Reception": only handle the (ar$hrd, ar$pro) pair we speak.
        if packet.hardware_type() != Hardware::Ethernet || packet.protocol_type() != EtherType::Ipv4
        {
            return Err(Error::Unrecognized);
        }
        if packet.hardware_len() != 6 || packet.protocol_len() != 4 {
            return Err(Error::Malformed);
        }
        Ok(ArpRepr {
            operation: packet.operation(),
            source_hardware_addr: mac(packet.source_hardware_addr()),
            source_protocol_addr: ipv4(packet.source_protocol_addr()),
            target_hardware_addr: mac(packet.target_hardware_addr()),
            target_protocol_addr: ipv4(packet.target_protocol_addr()),
        })
    }

    /// The emitted length: [`ETHERNET_IPV4_LEN`] (28).
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Write the packet into a buffer of at least 28 octets.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) {
        packet.set_hardware_type(Hardware::Ethernet);
        packet.set_protocol_type(EtherType::Ipv4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(self.source_hardware_addr.as_bytes());
        packet.set_source_protocol_addr(&self.source_protocol_addr.octets());
        packet.set_target_hardware_addr(self.target_hardware_addr.as_bytes());
        packet.set_target_protocol_addr(&self.target_protocol_addr.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// "who-has 198.18.0.2 tell 198.18.0.1" (the payload of an Ethernet broadcast).
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, //
        0xc6, 0x12, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x02,
    ];

    /// "198.18.0.2 is-at 52:54:00:ab:cd:ef".
    const REPLY: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, //
        0xc6, 0x12, 0x00, 0x02, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc6, 0x12, 0x00, 0x01,
    ];

    fn reply_repr() -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: EthernetAddress([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]),
            source_protocol_addr: Ipv4Addr::new(198, 18, 0, 2),
            target_hardware_addr: EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            target_protocol_addr: Ipv4Addr::new(198, 18, 0, 1),
        }
    }

    #[test]
    fn deconstruct_request() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.hardware_type(), Hardware::Ethernet);
        assert_eq!(p.protocol_type(), EtherType::Ipv4);
        assert_eq!(p.hardware_len(), 6);
        assert_eq!(p.protocol_len(), 4);
        assert_eq!(p.operation(), ArpOperation::Request);
        assert_eq!(
            p.source_hardware_addr(),
            &[0x52, 0x54, 0x00, 0x12, 0x34, 0x56]
        );
        assert_eq!(p.source_protocol_addr(), &[198, 18, 0, 1]);
        assert_eq!(p.target_hardware_addr(), &[0; 6]);
        assert_eq!(p.target_protocol_addr(), &[198, 18, 0, 2]);
    }

    #[test]
    fn parse_and_construct_reply() {
        let p = ArpPacket::new_checked(&REPLY[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p).unwrap(), reply_repr());
        let mut buf = [0u8; 28];
        reply_repr().emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(buf, REPLY);
    }

    #[test]
    fn truncation_at_every_length() {
        for len in 0..28 {
            assert_eq!(
                ArpPacket::new_checked(&REQUEST[..len]).unwrap_err(),
                Error::Truncated
            );
        }
    }

    #[test]
    fn other_types_and_lengths() {
        let mut b = REQUEST;
        b[1] = 6; // IEEE 802 hardware
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()),
            Err(Error::Unrecognized)
        );
        let mut b = REQUEST;
        b[2] = 0x86;
        b[3] = 0xdd;
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()),
            Err(Error::Unrecognized)
        );
        // Ethernet/IPv4 with hln=4: consistent with the buffer, but wrong.
        let mut b = REQUEST;
        b[4] = 4;
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()),
            Err(Error::Malformed)
        );
        // plen=16 needs 8 + 2 * (6 + 16) octets.
        let mut b = REQUEST;
        b[5] = 16;
        assert_eq!(ArpPacket::new_checked(&b[..]), Err(Error::Truncated));
    }

    #[test]
    fn setters() {
        let mut buf = REQUEST;
        let mut p = ArpPacket::new_checked(&mut buf[..]).unwrap();
        p.set_operation(ArpOperation::Reply);
        p.set_target_hardware_addr(&[1, 2, 3, 4, 5, 6]);
        p.set_target_protocol_addr(&[10, 0, 0, 1]);
        assert_eq!(p.operation(), ArpOperation::Reply);
        assert_eq!(p.target_hardware_addr(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(p.target_protocol_addr(), &[10, 0, 0, 1]);
        // A too-short value and a length grown past the buffer never panic.
        p.set_source_protocol_addr(&[9]);
        assert_eq!(p.source_protocol_addr(), &[9, 18, 0, 1]);
        p.set_protocol_len(200);
        assert_eq!(p.target_protocol_addr(), &[] as &[u8]);
        p.set_target_protocol_addr(&[1, 2, 3, 4]);
        p.set_hardware_type(Hardware::Unknown(6));
        p.set_protocol_type(EtherType::Ipv6);
        assert_eq!(p.hardware_type(), Hardware::Unknown(6));
        assert_eq!(p.protocol_type(), EtherType::Ipv6);
    }

    fn arb_repr() -> impl Strategy<Value = ArpRepr> {
        (
            any::<u16>(),
            any::<[u8; 6]>(),
            any::<[u8; 4]>(),
            any::<[u8; 6]>(),
            any::<[u8; 4]>(),
        )
            .prop_map(|(op, sha, spa, tha, tpa)| ArpRepr {
                operation: ArpOperation::from(op),
                source_hardware_addr: EthernetAddress(sha),
                source_protocol_addr: Ipv4Addr::from(spa),
                target_hardware_addr: EthernetAddress(tha),
                target_protocol_addr: Ipv4Addr::from(tpa),
            })
    }

    proptest! {
        #[test]
        fn repr_round_trip(repr in arb_repr()) {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
            let p = ArpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(ArpRepr::parse(&p).unwrap(), repr);
        }

        #[test]
        fn no_panic_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(p) = ArpPacket::new_checked(&bytes[..]) {
                let _ = (p.operation(), p.source_hardware_addr(), p.target_protocol_addr());
                let _ = ArpRepr::parse(&p);
            }
        }
    }
}
