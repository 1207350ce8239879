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
