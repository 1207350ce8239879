//! The forwarding fast path (`src/network/fast_path.rs`) is an
//! optimisation, not a second router: for any frames, a stack with it and
//! a stack without it (`StackConfig::fast_path = false`) must send the
//! same frames, in the same order, and count the same (per-NIC counters,
//! stack counters, drop reasons). Property test over frames derived from
//! forwardable IPv4 and IPv6 frames by the edits that decide the path:
//! addresses from every class the checks care about (ours, subnet and
//! limited broadcast, multicast, loopback, link-local, unspecified, class
//! E, routed, connected with and without a known neighbor, unrouted),
//! TTL / hop limit, checksum, MAC, EtherType, IHL, lengths, extension
//! headers, truncation; several frames per poll, so batches mix both paths.

mod common;

use common::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};
use xdpnet::app::pipeline::build_frame;
use xdpnet::link::pipe::{Channel, ChannelHandle};
use xdpnet::link::Capabilities;
use xdpnet::stack::{NextHop, Route, Stack, StackConfig, StackStats};
use xdpnet::time::Instant;
use xdpnet::wire::ipv4::Ipv4Packet;
use xdpnet::wire::EthernetAddress;

const IN_MAC: u8 = 0x0a;

/// Two NICs: "in" (198.18.0.254/24, 2001:2::fe/64, forwarding) and "out"
/// (198.18.1.254/24, 2001:2:0:1::fe/64, MTU 1280), routes to 198.19/16 and
/// 2001:2:0:100::/56 via neighbors on "out", a known host on "out".
fn router(fast_path: bool) -> (Stack, ChannelHandle, ChannelHandle) {
    let (e0, h0) = Channel::new(mac(IN_MAC), 1500, Capabilities::RESOLUTION_REQUIRED);
    let (e1, h1) = Channel::new(mac(0x0b), 1280, Capabilities::RESOLUTION_REQUIRED);
    let mut s = Stack::new(StackConfig {
        fast_path,
        dad_transmits: 0,
        ..StackConfig::default()
    });
    let n0 = s.add_nic("in", e0);
    let n1 = s.add_nic("out", e1);
    for (n, a) in [
        (n0, "198.18.0.254/24"),
        (n0, "2001:2::fe/64"),
        (n1, "198.18.1.254/24"),
        (n1, "2001:2:0:1::fe/64"),
    ] {
        s.add_address(n, net(a)).unwrap();
    }
    for (prefix, gw) in [
        ("198.19.0.0/16", "198.18.1.2"),
        ("2001:2:0:100::/56", "2001:2:0:1::2"),
        ("198.20.0.0/16", "198.18.1.255"),
    ] {
        s.add_route(Route {
            prefix: net(prefix),
            next_hop: NextHop::Gateway {
                nic: n1,
                gateway: ip(gw),
            },
            metric: 0,
        })
        .unwrap();
    }
    s.add_route(Route::blackhole(net("198.21.0.0/16"), 0))
        .unwrap();
    s.set_forwarding(n0, true, true).unwrap();
    // 198.18.1.8 asks for our address: a STALE entry (RFC 4861 7.2.3),
    // whose first use is the general path's (it starts DELAY).
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&mac(8).0);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&mac(8).0);
    arp.extend_from_slice(&[198, 18, 1, 8, 0, 0, 0, 0, 0, 0, 198, 18, 1, 254]);
    h1.inject_inbound(&arp);
    s.poll(Instant::from_secs(1));
    assert_eq!(h1.take_outbound().len(), 1, "the ARP reply");
    // Next hops, a host, and (a misconfiguration the checks must not
    // trust) the egress subnet's broadcast address.
    for a in [
        "198.18.1.2",
        "2001:2:0:1::2",
        "198.18.1.7",
        "2001:2:0:1::7",
        "198.18.1.255",
    ] {
        s.add_static_neighbor(n1, ip(a), mac(2)).unwrap();
    }
    (s, h0, h1)
}

const V4: &[&str] = &[
    "198.19.0.1",
    "198.19.3.4",
    "198.18.1.7",
    "198.18.1.8",
    "198.18.1.9",
    "198.18.0.1",
    "198.18.0.254",
    "198.18.1.254",
    "198.18.0.255",
    "198.18.1.255",
    "198.20.0.1",
    "198.21.0.1",
    "203.0.113.1",
    "255.255.255.255",
    "224.0.0.1",
    "239.1.1.1",
    "240.0.0.1",
    "127.0.0.1",
    "169.254.1.1",
    "0.0.0.0",
    "0.1.2.3",
];

const V6: &[&str] = &[
    "2001:2:0:100::1",
    "2001:2:0:1::7",
    "2001:2:0:1::9",
    "2001:2::1",
    "2001:2::fe",
    "2001:2:0:1::fe",
    "2001:db8::1",
    "ff02::1",
    "ff0e::1",
    "::1",
    "::",
    "fe80::1",
];

/// One edit of a base frame.
#[derive(Debug, Clone)]
enum Edit {
    Src(usize),
    Dst(usize),
    Ttl(u8),
    /// Leave the IPv4 checksum as the edits left it (wrong).
    NoChecksum,
    DstMac(u8),
    Byte(usize, u8),
    TotalLen(u16),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (0..V4.len().max(V6.len())).prop_map(Edit::Src),
        6 => (0..V4.len().max(V6.len())).prop_map(Edit::Dst),
        3 => prop_oneof![Just(0u8), Just(1), Just(2), Just(64), Just(255)].prop_map(Edit::Ttl),
        1 => Just(Edit::NoChecksum),
        1 => prop_oneof![Just(IN_MAC), Just(0xff), Just(0x33)].prop_map(Edit::DstMac),
        2 => (12usize..24, any::<u8>()).prop_map(|(i, b)| Edit::Byte(i, b)),
        1 => (0u16..200).prop_map(Edit::TotalLen),
        1 => (0usize..80).prop_map(Edit::Truncate),
    ]
}

/// A frame: IPv4 or IPv6, a size, the edits.
fn frame(ipv6: bool, size: usize, flow: u16, edits: &[Edit]) -> Vec<u8> {
    let mut f = build_frame(size, flow, ipv6);
    let mut checksum = true;
    for e in edits {
        match *e {
            Edit::Src(k) | Edit::Dst(k) => {
                let at = match (ipv6, matches!(e, Edit::Src(_))) {
                    (false, true) => 26,
                    (false, false) => 30,
                    (true, true) => 22,
                    (true, false) => 38,
                };
                if ipv6 {
                    let a: Ipv6Addr = V6[k % V6.len()].parse().unwrap();
                    f[at..at + 16].copy_from_slice(&a.octets());
                } else {
                    let a: Ipv4Addr = V4[k % V4.len()].parse().unwrap();
                    f[at..at + 4].copy_from_slice(&a.octets());
                }
            }
            Edit::Ttl(t) => f[if ipv6 { 21 } else { 22 }] = t,
            Edit::NoChecksum => checksum = false,
            Edit::DstMac(m) => f[..6].copy_from_slice(&EthernetAddress([2, 0, 0, 0, 0, m]).0),
            Edit::Byte(i, b) => {
                if i < f.len() {
                    f[i] = b
                }
            }
            Edit::TotalLen(n) => {
                let at = if ipv6 { 18 } else { 16 };
                f[at..at + 2].copy_from_slice(&n.to_be_bytes());
            }
            // Applied last, after the checksum: a runt of a good frame.
            Edit::Truncate(_) => {}
        }
    }
    if !ipv6 && checksum {
        let mut p = Ipv4Packet::new_unchecked(&mut f[14..34]);
        if p.header_len() == 20 {
            p.fill_checksum();
        }
    }
    for e in edits {
        if let Edit::Truncate(n) = *e {
            f.truncate(n.max(1));
        }
    }
    f
}

fn counters(s: &Stack) -> (Vec<xdpnet::stack::NicStats>, StackStats, Vec<(String, u64)>) {
    let mut st = *s.stats();
    st.fast_path_forwarded = 0;
    (
        s.nics().iter().map(|n| *n.stats()).collect(),
        st,
        s.drops()
            .nonzero()
            .map(|(r, n)| (format!("{r:?}"), n))
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn the_fast_path_changes_nothing_but_speed(
        polls in prop::collection::vec(
            prop::collection::vec(
                (
                    any::<bool>(),
                    // Around the egress MTU (1280) too.
                    prop_oneof![60usize..200, 1270usize..1515],
                    0u16..4,
                    prop::collection::vec(edit(), 0..4),
                ),
                1..8,
            ),
            1..4,
        )
    ) {
        let (mut fast, f0, f1) = router(true);
        let (mut slow, s0, s1) = router(false);
        let now = Instant::from_secs(1);
        for batch in &polls {
            for (ipv6, size, flow, edits) in batch {
                let fr = frame(*ipv6, *size, *flow, edits);
                f0.inject_inbound(&fr);
                s0.inject_inbound(&fr);
            }
            fast.poll(now);
            slow.poll(now);
            for (a, b, nic) in [(&f0, &s0, "in"), (&f1, &s1, "out")] {
                let fa: Vec<Vec<u8>> = a.take_outbound().iter().map(|p| p.as_slice().to_vec()).collect();
                let fb: Vec<Vec<u8>> = b.take_outbound().iter().map(|p| p.as_slice().to_vec()).collect();
                prop_assert_eq!(fa, fb, "frames sent on {}", nic);
            }
        }
        prop_assert_eq!(counters(&fast), counters(&slow));
        prop_assert_eq!(slow.stats().fast_path_forwarded, 0);
    }
}

/// The property test's frames do take the fast path (else it would prove
/// nothing): plain frames of both families to a gateway; a STALE
/// neighbor's first use goes the general way (DELAY), later ones are fast.
#[test]
fn plain_frames_take_the_fast_path() {
    let (mut s, h0, h1) = router(true);
    let now = Instant::from_secs(1);
    for ipv6 in [false, true] {
        for flow in 0..4 {
            h0.inject_inbound(&frame(ipv6, 64 + 14 * usize::from(ipv6), flow, &[]));
        }
        s.poll(now);
    }
    let out = h1.take_outbound();
    assert_eq!(out.len(), 8);
    assert_eq!(s.stats().ip_forwarded, 8);
    // All but the first of each family, which primes the neighbor
    // cache's last hit through the general path.
    assert_eq!(s.stats().fast_path_forwarded, 6);
    // Rewritten: to the next hop's MAC from ours, TTL / hop limit − 1, a
    // valid IPv4 checksum.
    for p in &out {
        let f = p.as_slice();
        assert_eq!(&f[..6], &mac(2).0);
        assert_eq!(&f[6..12], &mac(0x0b).0);
        if f[12..14] == [0x08, 0x00] {
            assert_eq!(f[22], 63);
            assert!(Ipv4Packet::new_checked(&f[14..]).unwrap().verify_checksum());
        } else {
            assert_eq!(f[21], 63);
        }
    }
    // The fast path knows only the neighbor cache's last hit: frames
    // alternating between a connected host and the gateway go the general
    // way (correct, not fast); a run to one of them is fast again.
    let host = V4.iter().position(|a| *a == "198.18.1.7").unwrap();
    let routed = V4.iter().position(|a| *a == "198.19.0.1").unwrap();
    let before = s.stats().fast_path_forwarded;
    for dst in [host, routed, host, routed, routed] {
        h0.inject_inbound(&frame(false, 64, 0, &[Edit::Dst(dst)]));
    }
    s.poll(now);
    assert_eq!(h1.take_outbound().len(), 5);
    assert_eq!(s.stats().fast_path_forwarded, before + 1);
    // The STALE neighbor: the first frame takes the general path, which
    // moves the entry to DELAY; the next is fast.
    let stale = V4.iter().position(|a| *a == "198.18.1.8").unwrap();
    let before = s.stats().fast_path_forwarded;
    h0.inject_inbound(&frame(false, 64, 0, &[Edit::Dst(stale)]));
    s.poll(now);
    assert_eq!(s.stats().fast_path_forwarded, before);
    h0.inject_inbound(&frame(false, 64, 0, &[Edit::Dst(stale)]));
    s.poll(now);
    assert_eq!(s.stats().fast_path_forwarded, before + 1);
    let out = h1.take_outbound();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|p| p.as_slice()[..6] == mac(8).0));
}
