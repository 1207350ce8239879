//! Addresses assigned to a NIC, and source-address selection.
//!
//! Each NIC holds a short list of IPv4 and IPv6 addresses with their prefix
//! lengths. The list is small (a handful per NIC), so membership tests are a
//! linear scan over a contiguous `Vec`, which beats hashing at these sizes.
//!
//! The seeds' *primary endpoint behaviour* decides which address a NIC uses
//! as the source of packets that do not name one (ICMP errors, unbound UDP
//! sends): `FirstPrimary` addresses are preferred (most recent first), then
//! `CanBePrimary` in the order they were added; `NeverPrimary` addresses are
//! never chosen. IPv6 addresses carry their DAD state: a `Tentative` address
//! (RFC 4862 5.4) receives nothing but DAD-related NDP and is never a source.

use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Whether an address may be chosen as a primary (source) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PrimaryEndpointBehavior {
    /// May be chosen, in the order added (the default).
    #[default]
    CanBePrimary,
    /// Chosen before every `CanBePrimary` address; most recent first.
    FirstPrimary,
    /// Never chosen as a source.
    NeverPrimary,
}

/// The lifecycle state of an assigned address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressState {
    /// Assigned and usable.
    Permanent,
    /// IPv6 duplicate address detection is in progress (RFC 4862 5.4): only
    /// DAD traffic is accepted and the address is never used as a source.
    Tentative,
}

/// One address on a NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressEntry<N> {
    /// The address and its prefix.
    pub net: N,
    /// Source-selection behaviour.
    pub behavior: PrimaryEndpointBehavior,
    /// Lifecycle state.
    pub state: AddressState,
}

/// The addresses of one NIC.
#[derive(Debug, Clone, Default)]
pub struct AddressSet {
    v4: Vec<AddressEntry<Ipv4Net>>,
    v6: Vec<AddressEntry<Ipv6Net>>,
    /// Directed broadcast addresses of the IPv4 subnets (prefixes shorter
    /// than /31), kept so the per-packet check is a scan of plain addresses.
    bcast_v4: Vec<Ipv4Addr>,
    /// Every address above (IPv4, IPv4 broadcast, IPv6 in any state): the
    /// membership tests answer "no" from it without a scan for the
    /// addresses of forwarded traffic, which are none of ours.
    filter: AddrFilter,
}

/// A 256-bit Bloom filter with one hash over addresses: [`may_contain`]
/// is false for every address never inserted except a hash collision's
/// share (the inserted count / 256), so a membership test that must
/// usually answer "no" (is this forwarded packet's address one of ours?)
/// costs one multiply and one bit test instead of a scan. It is rebuilt,
/// never updated in place, when an address goes away.
///
/// [`may_contain`]: AddrFilter::may_contain_v4
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AddrFilter([u64; 4]);

impl AddrFilter {
    /// Word and bit of a 64-bit key: the top 8 bits of a Fibonacci hash.
    #[inline(always)]
    fn slot(key: u64) -> (usize, u64) {
        let h = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56;
        ((h >> 6) as usize & 3, 1u64 << (h & 63))
    }

    #[inline(always)]
    fn key_v6(a: &Ipv6Addr) -> u64 {
        let b = a.to_bits();
        (b >> 64) as u64 ^ b as u64
    }

    /// Insert an IPv4 address.
    pub(crate) fn insert_v4(&mut self, a: Ipv4Addr) {
        let (w, m) = Self::slot(u64::from(a.to_bits()));
        self.0[w] |= m;
    }

    /// Insert an IPv6 address.
    pub(crate) fn insert_v6(&mut self, a: &Ipv6Addr) {
        let (w, m) = Self::slot(Self::key_v6(a));
        self.0[w] |= m;
    }

    /// False only if `a` was never inserted.
    #[inline(always)]
    pub(crate) fn may_contain_v4(&self, a: Ipv4Addr) -> bool {
        let (w, m) = Self::slot(u64::from(a.to_bits()));
        self.0[w] & m != 0
    }

    /// False only if `a` was never inserted.
    #[inline(always)]
    pub(crate) fn may_contain_v6(&self, a: &Ipv6Addr) -> bool {
        let (w, m) = Self::slot(Self::key_v6(a));
        self.0[w] & m != 0
    }
}

/// Why an address could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressError {
    /// The address is already assigned to this NIC.
    Duplicate,
    /// The address cannot be assigned to an interface (unspecified,
    /// multicast, broadcast).
    Invalid,
}

impl core::fmt::Display for AddressError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            AddressError::Duplicate => "address already assigned to this NIC",
            AddressError::Invalid => {
                "address cannot be assigned to an interface (unspecified, multicast or broadcast)"
            }
        })
    }
}

impl std::error::Error for AddressError {}

impl AddressSet {
    /// Add an IPv4 address.
    pub fn add_v4(
        &mut self,
        net: Ipv4Net,
        behavior: PrimaryEndpointBehavior,
    ) -> Result<(), AddressError> {
        let a = net.addr();
        if a.is_unspecified() || a.is_multicast() || a.is_broadcast() {
            return Err(AddressError::Invalid);
        }
        if self.v4.iter().any(|e| e.net.addr() == a) {
            return Err(AddressError::Duplicate);
        }
        self.v4.push(AddressEntry {
            net,
            behavior,
            state: AddressState::Permanent,
        });
        self.refresh();
        Ok(())
    }

    /// Add an IPv6 address, tentative when `dad` is set.
    pub fn add_v6(
        &mut self,
        net: Ipv6Net,
        behavior: PrimaryEndpointBehavior,
        dad: bool,
    ) -> Result<(), AddressError> {
        let a = net.addr();
        if a.is_unspecified() || a.is_multicast() {
            return Err(AddressError::Invalid);
        }
        if self.v6.iter().any(|e| e.net.addr() == a) {
            return Err(AddressError::Duplicate);
        }
        self.v6.push(AddressEntry {
            net,
            behavior,
            state: if dad {
                AddressState::Tentative
            } else {
                AddressState::Permanent
            },
        });
        self.refresh();
        Ok(())
    }

    /// Remove an IPv4 address; whether it was present.
    pub fn remove_v4(&mut self, a: Ipv4Addr) -> bool {
        let before = self.v4.len();
        self.v4.retain(|e| e.net.addr() != a);
        self.refresh();
        before != self.v4.len()
    }

    /// Recompute the broadcast list and the filter after a change.
    fn refresh(&mut self) {
        self.bcast_v4 = self
            .v4
            .iter()
            .filter(|e| e.net.prefix_len() < 31)
            .map(|e| e.net.broadcast())
            .collect();
        let mut f = AddrFilter::default();
        for e in &self.v4 {
            f.insert_v4(e.net.addr());
        }
        for b in &self.bcast_v4 {
            f.insert_v4(*b);
        }
        for e in &self.v6 {
            f.insert_v6(&e.net.addr());
        }
        self.filter = f;
    }

    /// Remove an IPv6 address; whether it was present.
    pub fn remove_v6(&mut self, a: Ipv6Addr) -> bool {
        let before = self.v6.len();
        self.v6.retain(|e| e.net.addr() != a);
        self.refresh();
        before != self.v6.len()
    }

    /// Mark a tentative IPv6 address as permanent (DAD succeeded).
    pub fn confirm_v6(&mut self, a: Ipv6Addr) -> bool {
        match self.v6.iter_mut().find(|e| e.net.addr() == a) {
            Some(e) => {
                e.state = AddressState::Permanent;
                true
            }
            None => false,
        }
    }

    /// The IPv4 addresses.
    pub fn v4(&self) -> &[AddressEntry<Ipv4Net>] {
        &self.v4
    }

    /// The IPv6 addresses.
    pub fn v6(&self) -> &[AddressEntry<Ipv6Net>] {
        &self.v6
    }

    /// Whether `a` is an assigned (usable) IPv4 address of this NIC.
    #[inline(always)]
    pub fn has_v4(&self, a: Ipv4Addr) -> bool {
        self.filter.may_contain_v4(a) && self.v4.iter().any(|e| e.net.addr() == a)
    }

    /// The directed broadcast addresses of the IPv4 subnets (prefixes
    /// shorter than /31).
    pub fn broadcasts_v4(&self) -> &[Ipv4Addr] {
        &self.bcast_v4
    }

    /// Whether `a` is a directed broadcast address of one of our subnets.
    #[inline(always)]
    pub fn is_subnet_broadcast_v4(&self, a: Ipv4Addr) -> bool {
        self.filter.may_contain_v4(a) && self.bcast_v4.contains(&a)
    }

    /// The state of `a` when it is one of our IPv6 addresses.
    #[inline(always)]
    pub fn state_v6(&self, a: &Ipv6Addr) -> Option<AddressState> {
        if !self.filter.may_contain_v6(a) {
            return None;
        }
        self.v6.iter().find(|e| e.net.addr() == *a).map(|e| e.state)
    }

    /// Whether `a` is an assigned, non-tentative IPv6 address.
    #[inline(always)]
    pub fn has_v6(&self, a: &Ipv6Addr) -> bool {
        self.state_v6(a) == Some(AddressState::Permanent)
    }

    /// Whether `a` is the solicited-node multicast group (RFC 4291 2.7.1)
    /// of one of our IPv6 addresses (tentative included, for DAD).
    pub fn is_solicited_node_v6(&self, a: &Ipv6Addr) -> bool {
        self.v6.iter().any(|e| solicited_node(&e.net.addr()) == *a)
    }

    /// The primary IPv4 source address, preferring one on the same subnet
    /// as `dst` when there is one.
    pub fn primary_v4(&self, dst: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        if let Some(d) = dst {
            if let Some(e) = self
                .v4
                .iter()
                .find(|e| e.behavior != PrimaryEndpointBehavior::NeverPrimary && e.net.contains(&d))
            {
                return Some(e.net.addr());
            }
        }
        primary(&self.v4, |_| true).map(|n| n.addr())
    }

    /// The primary IPv6 source address for `dst`: a link-local address for
    /// link-local destinations, else a global one, else any (RFC 6724 rule 2,
    /// scope matching, in its simplest useful form).
    pub fn primary_v6(&self, dst: Option<&Ipv6Addr>) -> Option<Ipv6Addr> {
        let usable = |e: &AddressEntry<Ipv6Net>| e.state == AddressState::Permanent;
        let want_ll = dst.is_some_and(|d| is_link_local_v6(d) || d.is_multicast());
        primary(&self.v6, |e| {
            usable(e) && is_link_local_v6(&e.net.addr()) == want_ll
        })
        .or_else(|| primary(&self.v6, usable))
        .map(|n| n.addr())
    }
}

fn primary<N: Copy>(list: &[AddressEntry<N>], ok: impl Fn(&AddressEntry<N>) -> bool) -> Option<N> {
    list.iter()
        .rev()
        .find(|e| e.behavior == PrimaryEndpointBehavior::FirstPrimary && ok(e))
        .or_else(|| {
            list.iter()
                .find(|e| e.behavior == PrimaryEndpointBehavior::CanBePrimary && ok(e))
        })
        .map(|e| e.net)
}

/// The solicited-node multicast address of `a`: `ff02::1:ffXX:XXXX`
/// (RFC 4291 2.7.1).
pub fn solicited_node(a: &Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The all-nodes multicast group `ff02::1` (RFC 4291 2.7.1).
pub const ALL_NODES_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// The all-routers multicast group `ff02::2` (RFC 4291 2.7.1).
pub const ALL_ROUTERS_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// Whether `a` is in `fe80::/10` (RFC 4291 2.5.6).
#[inline]
pub fn is_link_local_v6(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// The modified EUI-64 link-local address for a MAC (RFC 4291 2.5.1, App. A).
pub fn link_local_from_mac(mac: &crate::wire::EthernetAddress) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
        u16::from_be_bytes([m[2], 0xff]),
        u16::from_be_bytes([0xfe, m[3]]),
        u16::from_be_bytes([m[4], m[5]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_has_no_false_negatives_and_rebuilds_on_removal() {
        let mut f = AddrFilter::default();
        let v4: Vec<Ipv4Addr> = (0..200u32)
            .map(|n| Ipv4Addr::from(0xc612_0000 + n * 7))
            .collect();
        let v6: Vec<Ipv6Addr> = (0..200u128)
            .map(|n| Ipv6Addr::from((0x2001_0002u128 << 96) | n))
            .collect();
        for a in &v4 {
            f.insert_v4(*a);
        }
        for a in &v6 {
            f.insert_v6(a);
        }
        assert!(v4.iter().all(|a| f.may_contain_v4(*a)));
        assert!(v6.iter().all(|a| f.may_contain_v6(a)));
        // One address: almost everything else is answered "no".
        let mut one = AddrFilter::default();
        one.insert_v4(v4[0]);
        let hits = (1..10_000u32)
            .filter(|n| one.may_contain_v4(Ipv4Addr::from(0xc613_0000 + n)))
            .count();
        assert!(hits < 200, "{hits} false positives in 10000");

        let mut set = AddressSet::default();
        let net: Ipv4Net = "198.18.0.1/24".parse().unwrap();
        set.add_v4(net, PrimaryEndpointBehavior::CanBePrimary)
            .unwrap();
        assert!(set.has_v4(net.addr()));
        assert!(set.is_subnet_broadcast_v4(Ipv4Addr::new(198, 18, 0, 255)));
        assert!(set.remove_v4(net.addr()));
        assert!(!set.has_v4(net.addr()));
        assert!(!set.is_subnet_broadcast_v4(Ipv4Addr::new(198, 18, 0, 255)));
        let n6: Ipv6Net = "2001:2::1/64".parse().unwrap();
        set.add_v6(n6, PrimaryEndpointBehavior::CanBePrimary, true)
            .unwrap();
        assert_eq!(set.state_v6(&n6.addr()), Some(AddressState::Tentative));
        assert!(set.confirm_v6(n6.addr()));
        assert!(set.has_v6(&n6.addr()));
        assert!(set.remove_v6(n6.addr()));
        assert_eq!(set.state_v6(&n6.addr()), None);
    }

    #[test]
    fn primary_selection_follows_behaviour() {
        let mut s = AddressSet::default();
        s.add_v4(
            "198.18.0.1/24".parse().unwrap(),
            PrimaryEndpointBehavior::CanBePrimary,
        )
        .unwrap();
        s.add_v4(
            "198.18.1.1/24".parse().unwrap(),
            PrimaryEndpointBehavior::NeverPrimary,
        )
        .unwrap();
        assert_eq!(s.primary_v4(None), Some(Ipv4Addr::new(198, 18, 0, 1)));
        // NeverPrimary is not used even for its own subnet.
        assert_eq!(
            s.primary_v4(Some(Ipv4Addr::new(198, 18, 1, 9))),
            Some(Ipv4Addr::new(198, 18, 0, 1))
        );
        s.add_v4(
            "198.18.2.1/24".parse().unwrap(),
            PrimaryEndpointBehavior::FirstPrimary,
        )
        .unwrap();
        assert_eq!(s.primary_v4(None), Some(Ipv4Addr::new(198, 18, 2, 1)));
        assert_eq!(
            s.add_v4("198.18.0.1/16".parse().unwrap(), Default::default()),
            Err(AddressError::Duplicate)
        );
        assert_eq!(
            s.add_v4("224.0.0.1/4".parse().unwrap(), Default::default()),
            Err(AddressError::Invalid)
        );
        assert!(s.is_subnet_broadcast_v4(Ipv4Addr::new(198, 18, 0, 255)));
        assert!(s.remove_v4(Ipv4Addr::new(198, 18, 2, 1)));
        assert!(!s.has_v4(Ipv4Addr::new(198, 18, 2, 1)));
    }

    #[test]
    fn tentative_v6_is_not_a_source() {
        let mut s = AddressSet::default();
        s.add_v6("2001:2::1/64".parse().unwrap(), Default::default(), true)
            .unwrap();
        assert_eq!(s.primary_v6(None), None);
        assert!(!s.has_v6(&"2001:2::1".parse().unwrap()));
        assert!(s.is_solicited_node_v6(&"ff02::1:ff00:1".parse().unwrap()));
        assert!(s.confirm_v6("2001:2::1".parse().unwrap()));
        assert_eq!(s.primary_v6(None), Some("2001:2::1".parse().unwrap()));
    }

    #[test]
    fn eui64_link_local() {
        let mac = crate::wire::EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
        assert_eq!(
            link_local_from_mac(&mac),
            "fe80::ff:fe00:1".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            solicited_node(&"2001:2::abcd:1234".parse().unwrap()),
            "ff02::1:ffcd:1234".parse::<Ipv6Addr>().unwrap()
        );
    }
}
