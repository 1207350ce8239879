//! Ethernet II frames with an optional 802.1Q tag (IEEE 802.3, IEEE 802.1Q).

use core::fmt;
use core::str::FromStr;

/// A six-octet Ethernet (MAC) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// Construct from a slice of exactly six octets; `None` otherwise.
    pub fn from_bytes(data: &[u8]) -> Option<EthernetAddress> {
        <[u8; 6]>::try_from(data).ok().map(EthernetAddress)
    }

    /// The six octets.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Whether this is a unicast address (I/G bit clear).
    pub const fn is_unicast(&self) -> bool {
        self.0[0] & 0x01 == 0
    }

    /// Whether this is a multicast (or broadcast) address.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether this is the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether the locally administered bit is set.
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }

    /// The multicast MAC an IPv6 multicast group maps to (RFC 2464 7).
    pub fn from_ipv6_multicast(group: &std::net::Ipv6Addr) -> EthernetAddress {
        let o = group.octets();
        EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }

    /// The multicast MAC an IPv4 multicast group maps to (RFC 1112 6.4).
    pub fn from_ipv4_multicast(group: &std::net::Ipv4Addr) -> EthernetAddress {
        let o = group.octets();
        EthernetAddress([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Error returned when a MAC address string does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseEthernetAddressError(String);

impl fmt::Display for ParseEthernetAddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid MAC address {:?}: expected six hex octets like 02:00:00:00:00:01",
            self.0
        )
    }
}

impl std::error::Error for ParseEthernetAddressError {}

impl FromStr for EthernetAddress {
    type Err = ParseEthernetAddressError;

    /// Parse `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseEthernetAddressError(s.to_string());
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for o in out.iter_mut() {
            let p = parts.next().ok_or_else(err)?;
            if p.is_empty() || p.len() > 2 {
                return Err(err());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(EthernetAddress(out))
    }
}

enum_with_unknown! {
    /// Ethernet protocol types (IEEE 802 numbers).
    pub enum EtherType(u16) {
        /// IPv4 (RFC 894).
        Ipv4 = 0x0800,
        /// ARP (RFC 826).
        Arp = 0x0806,
        /// An 802.1Q VLAN tag follows.
        Vlan = 0x8100,
        /// IPv6 (RFC 2464).
        Ipv6 = 0x86dd,
    }
}

// ---- Ethernet II frame view and Repr: below this line (wire L2/L3 owner) ----

use crate::wire::{Error, Result as WireResult};

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;
/// Length of an Ethernet II header carrying one 802.1Q tag.
pub const VLAN_HEADER_LEN: usize = 18;

mod field {
    use crate::wire::field::{Field, Rest};

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    // IEEE 802.1Q 9.6: the tag control information follows the TPID 0x8100.
    pub const VLAN_TCI: Field = 14..16;
    pub const VLAN_ETHERTYPE: Field = 16..18;
    pub const PAYLOAD: Rest = 14..;
    pub const VLAN_PAYLOAD: Rest = 18..;
}

/// An 802.1Q tag control information (IEEE 802.1Q 9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VlanTag {
    /// Priority code point (3 bits).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier (12 bits).
    pub vid: u16,
}

impl VlanTag {
    /// Decode a 16-bit TCI field.
    #[inline]
    pub const fn from_tci(tci: u16) -> VlanTag {
        VlanTag {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
        }
    }

    /// Encode as a 16-bit TCI field; out-of-range `pcp`/`vid` bits are masked off.
    #[inline]
    pub const fn to_tci(&self) -> u16 {
        ((self.pcp as u16 & 0x7) << 13) | ((self.dei as u16) << 12) | (self.vid & 0x0fff)
    }
}

/// A read/write view of an Ethernet II frame, optionally 802.1Q tagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wrap a buffer without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> EthernetFrame<T> {
        EthernetFrame { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    #[inline]
    pub fn new_checked(buffer: T) -> WireResult<EthernetFrame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Ensure the buffer holds the whole header: 14 octets, 18 when the
    /// outer EtherType is 802.1Q. A second (QinQ) tag is not parsed.
    #[inline]
    pub fn check_len(&self) -> WireResult<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.ethertype() == EtherType::Vlan && len < VLAN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Give back the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Whether the frame carries an 802.1Q tag (and is long enough for it).
    #[inline]
    fn is_tagged(&self) -> bool {
        self.ethertype() == EtherType::Vlan && self.buffer.as_ref().len() >= VLAN_HEADER_LEN
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::DESTINATION]);
        EthernetAddress(a)
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SOURCE]);
        EthernetAddress(a)
    }

    /// The outer EtherType (octets 12..14): [`EtherType::Vlan`] for a tagged frame.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        let d = &self.buffer.as_ref()[field::ETHERTYPE];
        EtherType::from(u16::from_be_bytes([d[0], d[1]]))
    }

    /// The 802.1Q tag, if the outer EtherType is [`EtherType::Vlan`].
    #[inline]
    pub fn vlan(&self) -> Option<VlanTag> {
        if !self.is_tagged() {
            return None;
        }
        let d = &self.buffer.as_ref()[field::VLAN_TCI];
        Some(VlanTag::from_tci(u16::from_be_bytes([d[0], d[1]])))
    }

    /// The EtherType of the payload: the inner one of a tagged frame, else
    /// the outer one. A QinQ frame yields [`EtherType::Vlan`] here.
    #[inline]
    pub fn payload_ethertype(&self) -> EtherType {
        if !self.is_tagged() {
            return self.ethertype();
        }
        let d = &self.buffer.as_ref()[field::VLAN_ETHERTYPE];
        EtherType::from(u16::from_be_bytes([d[0], d[1]]))
    }

    /// The header length: [`HEADER_LEN`] or [`VLAN_HEADER_LEN`].
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> EthernetFrame<&'a T> {
    /// The payload after the (possibly tagged) header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let data = self.buffer.as_ref();
        let range = if self.is_tagged() {
            field::VLAN_PAYLOAD
        } else {
            field::PAYLOAD
        };
        data.get(range).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Set the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&value.0);
    }

    /// Set the source address.
    #[inline]
    pub fn set_src_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&value.0);
    }

    /// Set the outer EtherType (octets 12..14).
    #[inline]
    pub fn set_ethertype(&mut self, value: EtherType) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&u16::from(value).to_be_bytes());
    }

    /// Rewrite the 802.1Q tag of a tagged frame; does nothing on an untagged one.
    #[inline]
    pub fn set_vlan(&mut self, tag: VlanTag) {
        if self.is_tagged() {
            self.buffer.as_mut()[field::VLAN_TCI].copy_from_slice(&tag.to_tci().to_be_bytes());
        }
    }

    /// Set the payload EtherType: the inner one of a tagged frame, else the outer one.
    #[inline]
    pub fn set_payload_ethertype(&mut self, value: EtherType) {
        let range = if self.is_tagged() {
            field::VLAN_ETHERTYPE
        } else {
            field::ETHERTYPE
        };
        self.buffer.as_mut()[range].copy_from_slice(&u16::from(value).to_be_bytes());
    }

    /// The payload after the (possibly tagged) header, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = if self.is_tagged() {
            field::VLAN_PAYLOAD
        } else {
            field::PAYLOAD
        };
        self.buffer.as_mut().get_mut(range).unwrap_or(&mut [])
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for EthernetFrame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The meaning of an Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source address.
    pub src_addr: EthernetAddress,
    /// Destination address.
    pub dst_addr: EthernetAddress,
    /// EtherType of the payload (the inner one when tagged). With `vlan:
    /// None` this must not be [`EtherType::Vlan`] for a round trip.
    pub ethertype: EtherType,
    /// The 802.1Q tag, if any.
    pub vlan: Option<VlanTag>,
}

impl EthernetRepr {
    /// Parse a frame's header.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &EthernetFrame<&T>) -> WireResult<EthernetRepr> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.payload_ethertype(),
            vlan: frame.vlan(),
        })
    }

    /// The header length this repr emits.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        if self.vlan.is_some() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Write the header into a frame of at least [`buffer_len`](Self::buffer_len) octets.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut EthernetFrame<T>) {
        frame.set_src_addr(self.src_addr);
        frame.set_dst_addr(self.dst_addr);
        match self.vlan {
            Some(tag) => {
                // IEEE 802.1Q 9.5: TPID 0x8100 takes the EtherType position.
                frame.set_ethertype(EtherType::Vlan);
                let buf = frame.buffer.as_mut();
                buf[field::VLAN_TCI].copy_from_slice(&tag.to_tci().to_be_bytes());
                buf[field::VLAN_ETHERTYPE]
                    .copy_from_slice(&u16::from(self.ethertype).to_be_bytes());
            }
            None => frame.set_ethertype(self.ethertype),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An ARP request as captured on a LAN: broadcast, untagged, padded to 60 octets.
    const ARP_FRAME: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06, //
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, //
        0xc6, 0x12, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x02, //
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    /// The head of an 802.1Q tagged IPv4 frame: VLAN 100, PCP 5, DEI 0.
    const VLAN_FRAME: [u8; 22] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x81, 0x00, //
        0xa0, 0x64, 0x08, 0x00, 0x45, 0x00, 0x00, 0x14,
    ];

    const SRC: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

    #[test]
    fn deconstruct_untagged() {
        let f = EthernetFrame::new_checked(&ARP_FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), EthernetAddress::BROADCAST);
        assert_eq!(f.src_addr(), SRC);
        assert_eq!(f.ethertype(), EtherType::Arp);
        assert_eq!(f.payload_ethertype(), EtherType::Arp);
        assert_eq!(f.vlan(), None);
        assert_eq!(f.header_len(), 14);
        assert_eq!(f.payload(), &ARP_FRAME[14..]);
        assert_eq!(f.payload()[..2], [0x00, 0x01]);
    }

    #[test]
    fn deconstruct_tagged() {
        let f = EthernetFrame::new_checked(&VLAN_FRAME[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::Vlan);
        assert_eq!(f.payload_ethertype(), EtherType::Ipv4);
        assert_eq!(
            f.vlan(),
            Some(VlanTag {
                pcp: 5,
                dei: false,
                vid: 100
            })
        );
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.payload(), &[0x45, 0x00, 0x00, 0x14]);
    }

    #[test]
    fn qinq_is_not_parsed() {
        let mut b = VLAN_FRAME;
        b[16] = 0x81;
        b[17] = 0x00;
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.payload_ethertype(), EtherType::Vlan);
        assert_eq!(f.header_len(), 18);
    }

    #[test]
    fn construct_tagged() {
        let repr = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            ethertype: EtherType::Ipv4,
            vlan: Some(VlanTag {
                pcp: 5,
                dei: false,
                vid: 100,
            }),
        };
        assert_eq!(repr.buffer_len(), 18);
        let mut buf = [0u8; 22];
        buf[18..].copy_from_slice(&VLAN_FRAME[18..]);
        repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
        assert_eq!(buf, VLAN_FRAME);
        let parsed = EthernetRepr::parse(&EthernetFrame::new_checked(&buf[..]).unwrap()).unwrap();
        assert_eq!(parsed, repr);
    }

    #[test]
    fn construct_untagged() {
        let repr = EthernetRepr {
            src_addr: SRC,
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EtherType::Arp,
            vlan: None,
        };
        let mut buf = [0u8; 60];
        buf[14..].copy_from_slice(&ARP_FRAME[14..]);
        repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
        assert_eq!(buf, ARP_FRAME);
    }

    #[test]
    fn truncation_at_every_length() {
        for len in 0..14 {
            assert_eq!(
                EthernetFrame::new_checked(&ARP_FRAME[..len]).unwrap_err(),
                Error::Truncated
            );
        }
        for len in 0..18 {
            assert_eq!(
                EthernetFrame::new_checked(&VLAN_FRAME[..len]).unwrap_err(),
                Error::Truncated
            );
        }
        assert!(EthernetFrame::new_checked(&VLAN_FRAME[..18]).is_ok());
        assert_eq!(
            EthernetFrame::new_checked(&ARP_FRAME[..14])
                .unwrap()
                .payload(),
            &[] as &[u8]
        );
    }

    #[test]
    fn setters() {
        let mut buf = VLAN_FRAME;
        let mut f = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        f.set_src_addr(SRC);
        f.set_dst_addr(EthernetAddress::BROADCAST);
        let tag = VlanTag {
            pcp: 7,
            dei: true,
            vid: 4095,
        };
        f.set_vlan(tag);
        f.set_payload_ethertype(EtherType::Ipv6);
        f.payload_mut()[0] = 0x60;
        assert_eq!(f.src_addr(), SRC);
        assert_eq!(f.dst_addr(), EthernetAddress::BROADCAST);
        assert_eq!(f.vlan(), Some(tag));
        assert_eq!(f.payload_ethertype(), EtherType::Ipv6);
        assert_eq!(f.ethertype(), EtherType::Vlan);
        assert_eq!(&buf[12..19], &[0x81, 0x00, 0xff, 0xff, 0x86, 0xdd, 0x60]);

        // On an untagged 14-octet frame the VLAN setter is a no-op and
        // set_ethertype(Vlan) cannot make later accessors panic.
        let mut short = [0u8; 14];
        let mut f = EthernetFrame::new_checked(&mut short[..]).unwrap();
        f.set_vlan(tag);
        f.set_payload_ethertype(EtherType::Ipv4);
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        f.set_ethertype(EtherType::Vlan);
        assert_eq!(f.vlan(), None);
        assert_eq!(f.header_len(), 14);
        assert!(f.payload_mut().is_empty());
    }

    fn arb_mac() -> impl Strategy<Value = EthernetAddress> {
        any::<[u8; 6]>().prop_map(EthernetAddress)
    }

    pub(crate) fn arb_repr() -> impl Strategy<Value = EthernetRepr> {
        (
            arb_mac(),
            arb_mac(),
            any::<u16>(),
            proptest::option::of((0u8..8, any::<bool>(), 0u16..4096)),
        )
            .prop_map(|(src_addr, dst_addr, et, vlan)| {
                let vlan = vlan.map(|(pcp, dei, vid)| VlanTag { pcp, dei, vid });
                let mut ethertype = EtherType::from(et);
                if vlan.is_none() && ethertype == EtherType::Vlan {
                    ethertype = EtherType::Ipv4;
                }
                EthernetRepr {
                    src_addr,
                    dst_addr,
                    ethertype,
                    vlan,
                }
            })
    }

    proptest! {
        #[test]
        fn repr_round_trip(repr in arb_repr(), extra in 0usize..4) {
            let mut buf = vec![0u8; repr.buffer_len() + extra];
            repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
            let frame = EthernetFrame::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(frame.header_len(), repr.buffer_len());
            prop_assert_eq!(frame.payload().len(), extra);
            prop_assert_eq!(EthernetRepr::parse(&frame).unwrap(), repr);
        }

        #[test]
        fn no_panic_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(f) = EthernetFrame::new_checked(&bytes[..]) {
                let _ = (f.dst_addr(), f.src_addr(), f.vlan(), f.payload_ethertype(), f.payload());
                let r = EthernetRepr::parse(&f).unwrap();
                prop_assert_eq!(r.buffer_len(), f.header_len());
            }
        }
    }
}
