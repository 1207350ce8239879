//! Why a packet was dropped: the one `DropReason` enum and its counters.
//!
//! Every path that discards a packet (or a frame, or a queued datagram) names a
//! reason from this enum and bumps its counter in the shard's [`DropCounters`].
//! The names are stable (`snake_case`, in the spirit of VPP's `show errors`):
//! they appear in the stats lines, the JSON summary and the metrics, and tests
//! assert on them. Adding a reason is cheap; reusing a vague one is not.

use core::fmt;

macro_rules! drop_reasons {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )+) => {
        /// The reason a packet was dropped.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum DropReason {
            $( $(#[$doc])* $variant, )+
        }

        impl DropReason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant),+];
            /// The number of reasons.
            pub const COUNT: usize = [$(DropReason::$variant),+].len();

            /// The stable `snake_case` name used in stats, JSON and metrics.
            pub const fn name(self) -> &'static str {
                match self { $( DropReason::$variant => $name, )+ }
            }
        }
    };
}

drop_reasons! {
    /// The frame is shorter than an Ethernet header or its VLAN tag.
    EthernetMalformed => "ethernet_malformed",
    /// The destination MAC is neither ours, broadcast, a joined multicast
    /// group, nor accepted by promiscuous mode.
    NotOurMac => "not_our_mac",
    /// A VLAN-tagged frame for a VLAN this NIC is not on (only untagged and
    /// priority-tagged, VID 0, frames are accepted).
    WrongVlan => "wrong_vlan",
    /// An EtherType no network protocol handles.
    UnknownEthertype => "unknown_ethertype",
    /// The NIC is disabled.
    NicDisabled => "nic_disabled",
    /// An ARP packet with bad lengths or types other than Ethernet/IPv4.
    ArpMalformed => "arp_malformed",
    /// An IPv4 header that is truncated, has IHL < 5, a bad version, or a
    /// total length that lies.
    Ipv4Malformed => "ipv4_malformed",
    /// The IPv4 header checksum does not verify.
    Ipv4BadChecksum => "ipv4_bad_checksum",
    /// An IPv6 header that is truncated, has a bad version or a payload
    /// length that lies.
    Ipv6Malformed => "ipv6_malformed",
    /// An IPv6 extension header chain that is truncated or out of order.
    Ipv6ExtHeaderMalformed => "ipv6_ext_header_malformed",
    /// A packet from outside carries one of our own addresses as its source.
    OwnSourceAddress => "own_source_address",
    /// A source address that must never appear (multicast, broadcast,
    /// unspecified where forbidden, loopback from a link).
    MartianSource => "martian_source",
    /// A link-local or broadcast packet that must not be forwarded.
    NotForwardable => "not_forwardable",
    /// Addressed to someone else and forwarding is disabled on the NIC.
    ForwardingDisabled => "forwarding_disabled",
    /// No route matches the destination.
    NoRoute => "no_route",
    /// The route is a blackhole (silently discarded).
    BlackholeRoute => "blackhole_route",
    /// The route is unreachable (discarded with ICMP unreachable).
    UnreachableRoute => "unreachable_route",
    /// The TTL or hop limit ran out while forwarding.
    TtlExceeded => "ttl_exceeded",
    /// The packet exceeds the egress MTU and may not be fragmented.
    MtuExceeded => "mtu_exceeded",
    /// Neighbor resolution failed; packets waiting for it are dropped.
    NeighborUnresolved => "neighbor_unresolved",
    /// The per-neighbor queue of packets awaiting resolution overflowed; the
    /// oldest packet is dropped (RFC 4861 7.2.2).
    NeighborQueueFull => "neighbor_queue_full",
    /// The link took fewer packets than offered and the rest could not wait.
    TxQueueFull => "tx_queue_full",
    /// A fragment with a bad offset or length.
    FragmentMalformed => "fragment_malformed",
    /// A fragment overlapping data already received (RFC 5722).
    FragmentOverlap => "fragment_overlap",
    /// Reassembly would exceed the maximum datagram size.
    FragmentTooBig => "fragment_too_big",
    /// Reassembly did not complete before the timeout.
    ReassemblyTimeout => "reassembly_timeout",
    /// The reassembly memory bound was reached.
    ReassemblyMemory => "reassembly_memory",
    /// An ICMPv4 message that is truncated or malformed.
    Icmpv4Malformed => "icmpv4_malformed",
    /// The ICMPv4 checksum does not verify.
    Icmpv4BadChecksum => "icmpv4_bad_checksum",
    /// An ICMPv6 message that is truncated or malformed.
    Icmpv6Malformed => "icmpv6_malformed",
    /// The ICMPv6 checksum does not verify.
    Icmpv6BadChecksum => "icmpv6_bad_checksum",
    /// An NDP message failing RFC 4861 validation (hop limit != 255, ...).
    NdpInvalid => "ndp_invalid",
    /// An ICMP message type the stack does not act on (RFC 1122 3.2.2:
    /// silently discarded), or an echo request to a broadcast address.
    IcmpUnhandled => "icmp_unhandled",
    /// A neighbor solicitation or ARP request for an address that is not ours.
    NdpTargetNotOurs => "ndp_target_not_ours",
    /// An ICMP error we would send was suppressed by the rate limit.
    IcmpRateLimited => "icmp_rate_limited",
    /// A UDP header that is truncated or whose length lies.
    UdpMalformed => "udp_malformed",
    /// The UDP checksum does not verify.
    UdpBadChecksum => "udp_bad_checksum",
    /// A TCP header that is truncated or has a bad data offset.
    TcpMalformed => "tcp_malformed",
    /// The TCP checksum does not verify.
    TcpBadChecksum => "tcp_bad_checksum",
    /// No transport endpoint for the destination port.
    NoListener => "no_listener",
    /// A transport protocol the stack does not handle locally.
    UnknownProtocol => "unknown_protocol",
    /// A packet addressed to a multicast group we have not joined.
    MulticastNotJoined => "multicast_not_joined",
    /// An endpoint's receive queue is full.
    EndpointQueueFull => "endpoint_queue_full",
    /// A packet we were asked to send could not be built (too large, no
    /// source address, ...).
    SendFailed => "send_failed",
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-shard drop counters, one per [`DropReason`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropCounters {
    counts: [u64; DropReason::COUNT],
}

impl Default for DropCounters {
    fn default() -> Self {
        DropCounters {
            counts: [0; DropReason::COUNT],
        }
    }
}

impl DropCounters {
    /// Count one drop.
    #[inline]
    pub fn count(&mut self, reason: DropReason) {
        self.counts[reason as usize] += 1;
    }

    /// Count `n` drops.
    #[inline]
    pub fn count_n(&mut self, reason: DropReason, n: u64) {
        self.counts[reason as usize] += n;
    }

    /// The count for one reason.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts[reason as usize]
    }

    /// The sum over all reasons.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Reasons with a non-zero count, in declaration order.
    pub fn nonzero(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|r| (*r, self.counts[*r as usize]))
            .filter(|(_, c)| *c > 0)
    }

    /// Add another shard's counters into these.
    pub fn merge(&mut self, other: &DropCounters) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_counted() {
        let mut seen = std::collections::HashSet::new();
        for r in DropReason::ALL {
            assert!(seen.insert(r.name()), "duplicate name {}", r.name());
        }
        let mut c = DropCounters::default();
        c.count(DropReason::NoRoute);
        c.count_n(DropReason::TtlExceeded, 2);
        assert_eq!(c.get(DropReason::NoRoute), 1);
        assert_eq!(c.total(), 3);
        assert_eq!(
            c.nonzero().collect::<Vec<_>>(),
            vec![(DropReason::NoRoute, 1), (DropReason::TtlExceeded, 2)]
        );
    }
}
