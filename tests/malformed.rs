//! Malformed input: a table of bad frames, each of which must end in exactly
//! one specific `DropReason` counter — never a panic, never a silent loss.
//! Frames are built byte by byte here (not with the crate's own emitters) so
//! the table cannot share a bug with the code under test.

mod common;

use common::*;
use xdpnet::link::pipe::Channel;
use xdpnet::link::Capabilities;
use xdpnet::stack::{DropReason, Stack};
use xdpnet::time::{Duration, Instant};
use xdpnet::wire::checksum;
use xdpnet::wire::IpProtocol;

const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const OUR_V4: [u8; 4] = [198, 18, 0, 2];
const PEER_V4: [u8; 4] = [198, 18, 0, 1];
const OUR_V6: [u8; 16] = [0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const PEER_V6: [u8; 16] = [0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&OUR_MAC);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 header (no options) with a correct checksum, then `payload`.
fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_frag(src, dst, proto, 0x1234, 0x4000, payload)
}

fn ipv4_frag(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    ident: u16,
    flags_off: u16,
    payload: &[u8],
) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&ident.to_be_bytes());
    h.extend_from_slice(&flags_off.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = !checksum::data(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn fix_ipv4_checksum(p: &mut [u8]) {
    p[10] = 0;
    p[11] = 0;
    let hl = usize::from(p[0] & 0x0f) * 4;
    let c = !checksum::data(&p[..hl.min(p.len())]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, hop: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.push(next);
    h.push(hop);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

/// A UDP datagram with a correct IPv4 checksum.
fn udp4(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let len = (8 + data.len()) as u16;
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    let ph = checksum::pseudo_header_v4(
        &PEER_V4.into(),
        &OUR_V4.into(),
        IpProtocol::Udp,
        u32::from(len),
    );
    let c = !checksum::combine(&[ph, checksum::data(&u)]);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

fn icmp4(ty: u8, code: u8, rest: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(rest);
    let c = !checksum::data(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

fn icmp6(src: [u8; 16], dst: [u8; 16], ty: u8, code: u8, rest: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(rest);
    let ph =
        checksum::pseudo_header_v6(&src.into(), &dst.into(), IpProtocol::Icmpv6, m.len() as u32);
    let c = !checksum::combine(&[ph, checksum::data(&m)]);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

fn tcp4(flags: u8, data_offset_words: u8) -> Vec<u8> {
    let mut t = vec![
        0x9c,
        0x40,
        0,
        80,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        data_offset_words << 4,
        flags,
        0xff,
        0xff,
        0,
        0,
        0,
        0,
    ];
    let ph = checksum::pseudo_header_v4(
        &PEER_V4.into(),
        &OUR_V4.into(),
        IpProtocol::Tcp,
        t.len() as u32,
    );
    let c = !checksum::combine(&[ph, checksum::data(&t)]);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

/// A fresh stack on a channel; returns the stack and the channel handle.
fn victim() -> (Stack, xdpnet::link::pipe::ChannelHandle) {
    let (ep, handle) = Channel::new(mac(2), 1500, Capabilities::RESOLUTION_REQUIRED);
    let mut s = Stack::default();
    let nic = s.add_nic("eth0", ep);
    s.add_address(nic, net("198.18.0.2/24")).unwrap();
    s.add_address(nic, net("2001:2::2/64")).unwrap();
    // Static neighbors so answers (ICMP errors, resets) need no resolution.
    s.add_static_neighbor(nic, ip("198.18.0.1"), mac(1))
        .unwrap();
    s.add_static_neighbor(nic, ip("2001:2::1"), mac(1)).unwrap();
    (s, handle)
}

/// Inject `frames` into a fresh stack and return the drop counters.
fn drops_for(frames: &[Vec<u8>]) -> xdpnet::stack::DropCounters {
    let (mut s, h) = victim();
    let now = Instant::from_secs(1);
    for f in frames {
        h.inject_inbound(f);
    }
    s.poll(now);
    s.drops().clone()
}

fn assert_single(name: &str, frames: &[Vec<u8>], reason: DropReason) {
    let d = drops_for(frames);
    let n = frames.len() as u64;
    assert_eq!(
        d.get(reason),
        n,
        "{name}: expected {n} × {reason}, got {:?}",
        d.nonzero().collect::<Vec<_>>()
    );
    assert_eq!(
        d.total(),
        n,
        "{name}: extra drops {:?}",
        d.nonzero().collect::<Vec<_>>()
    );
}

#[test]
fn ethernet_level() {
    // Truncated at every length below the header.
    let good = eth(0x0800, &ipv4(PEER_V4, OUR_V4, 17, &udp4(1, 7, b"x")));
    let truncs: Vec<_> = (0..14).map(|n| good[..n].to_vec()).collect();
    assert_single("short ethernet", &truncs, DropReason::EthernetMalformed);
    // A VLAN tag cut short.
    let mut vlan = eth(0x8100, &[0x00]);
    vlan.truncate(15);
    assert_single("short vlan", &[vlan], DropReason::EthernetMalformed);
    // VID 5 on an untagged NIC.
    let mut tagged = eth(0x8100, &[0x00, 0x05, 0x08, 0x00]);
    tagged.extend_from_slice(&ipv4(PEER_V4, OUR_V4, 17, &udp4(1, 7, b"x")));
    assert_single("wrong vlan", &[tagged], DropReason::WrongVlan);
    let mut other = good.clone();
    other[0..6].copy_from_slice(&[0x02, 9, 9, 9, 9, 9]);
    assert_single("not our mac", &[other], DropReason::NotOurMac);
    assert_single(
        "lldp",
        &[eth(0x88cc, &[0; 40])],
        DropReason::UnknownEthertype,
    );
}

#[test]
fn arp_level() {
    let mut req = vec![0, 1, 8, 0, 6, 4, 0, 1];
    req.extend_from_slice(&PEER_MAC);
    req.extend_from_slice(&PEER_V4);
    req.extend_from_slice(&[0; 6]);
    req.extend_from_slice(&OUR_V4);
    let truncs: Vec<_> = (0..28).map(|n| eth(0x0806, &req[..n])).collect();
    assert_single("truncated arp", &truncs, DropReason::ArpMalformed);
    let mut bad_hlen = req.clone();
    bad_hlen[4] = 8;
    let mut v6 = req.clone();
    v6[2] = 0x86;
    v6[3] = 0xdd;
    assert_single(
        "arp lengths/types",
        &[eth(0x0806, &bad_hlen), eth(0x0806, &v6)],
        DropReason::ArpMalformed,
    );
}

#[test]
fn ipv4_header_level() {
    let pkt = ipv4(PEER_V4, OUR_V4, 17, &udp4(1, 9999, b"abc"));
    let truncs: Vec<_> = (1..20).map(|n| eth(0x0800, &pkt[..n])).collect();
    assert_single("truncated ipv4", &truncs, DropReason::Ipv4Malformed);
    let mut ihl = pkt.clone();
    ihl[0] = 0x44;
    fix_ipv4_checksum(&mut ihl);
    let mut lie = pkt.clone();
    lie[2..4].copy_from_slice(&500u16.to_be_bytes());
    fix_ipv4_checksum(&mut lie);
    let mut short_total = pkt.clone();
    short_total[2..4].copy_from_slice(&12u16.to_be_bytes());
    fix_ipv4_checksum(&mut short_total);
    let mut version = pkt.clone();
    version[0] = 0x55;
    fix_ipv4_checksum(&mut version);
    assert_single(
        "lying ipv4 fields",
        &[
            eth(0x0800, &ihl),
            eth(0x0800, &lie),
            eth(0x0800, &short_total),
            eth(0x0800, &version),
        ],
        DropReason::Ipv4Malformed,
    );
    let mut bad = pkt.clone();
    bad[10] ^= 0xff;
    assert_single(
        "ipv4 checksum",
        &[eth(0x0800, &bad)],
        DropReason::Ipv4BadChecksum,
    );
    let own = ipv4(OUR_V4, OUR_V4, 17, &udp4(1, 7, b"x"));
    assert_single(
        "own source",
        &[eth(0x0800, &own)],
        DropReason::OwnSourceAddress,
    );
    let mcast = ipv4([224, 0, 0, 5], OUR_V4, 17, &udp4(1, 7, b"x"));
    assert_single(
        "multicast source",
        &[eth(0x0800, &mcast)],
        DropReason::MartianSource,
    );
    let elsewhere = ipv4(PEER_V4, [198, 18, 5, 5], 17, &udp4(1, 7, b"x"));
    assert_single(
        "not forwarding",
        &[eth(0x0800, &elsewhere)],
        DropReason::ForwardingDisabled,
    );
    let unknown = ipv4(PEER_V4, OUR_V4, 253, b"whatever");
    assert_single(
        "unknown protocol",
        &[eth(0x0800, &unknown)],
        DropReason::UnknownProtocol,
    );
}

#[test]
fn ipv4_transport_level() {
    let udp_short = ipv4(PEER_V4, OUR_V4, 17, &[0, 1, 0, 7]);
    let mut udp_lie = udp4(1, 7, b"abc");
    udp_lie[4..6].copy_from_slice(&100u16.to_be_bytes());
    assert_single(
        "udp malformed",
        &[
            eth(0x0800, &udp_short),
            eth(0x0800, &ipv4(PEER_V4, OUR_V4, 17, &udp_lie)),
        ],
        DropReason::UdpMalformed,
    );
    let mut udp_bad = udp4(1, 7, b"abc");
    udp_bad[7] ^= 0x01;
    assert_single(
        "udp checksum",
        &[eth(0x0800, &ipv4(PEER_V4, OUR_V4, 17, &udp_bad))],
        DropReason::UdpBadChecksum,
    );
    assert_single(
        "udp closed port",
        &[eth(0x0800, &ipv4(PEER_V4, OUR_V4, 17, &udp4(1, 9999, b"")))],
        DropReason::NoListener,
    );

    let icmp_short = ipv4(PEER_V4, OUR_V4, 1, &[8, 0, 0]);
    assert_single(
        "icmp truncated",
        &[eth(0x0800, &icmp_short)],
        DropReason::Icmpv4Malformed,
    );
    let mut icmp_bad = icmp4(8, 0, &[0, 1, 0, 1, b'x']);
    icmp_bad[2] ^= 0x10;
    assert_single(
        "icmp checksum",
        &[eth(0x0800, &ipv4(PEER_V4, OUR_V4, 1, &icmp_bad))],
        DropReason::Icmpv4BadChecksum,
    );
    assert_single(
        "icmp unknown type",
        &[eth(
            0x0800,
            &ipv4(PEER_V4, OUR_V4, 1, &icmp4(42, 0, &[0; 4])),
        )],
        DropReason::IcmpUnhandled,
    );

    assert_single(
        "tcp data offset",
        &[eth(0x0800, &ipv4(PEER_V4, OUR_V4, 6, &tcp4(0x02, 4)))],
        DropReason::TcpMalformed,
    );
    let mut tcp_bad = tcp4(0x02, 5);
    tcp_bad[17] ^= 0x01;
    assert_single(
        "tcp checksum",
        &[eth(0x0800, &ipv4(PEER_V4, OUR_V4, 6, &tcp_bad))],
        DropReason::TcpBadChecksum,
    );
}

#[test]
fn ipv4_fragments() {
    let data = [7u8; 64];
    // Overlap: [0, 32) then [16, 48).
    let f1 = ipv4_frag(PEER_V4, OUR_V4, 17, 9, 0x2000, &data[..32]);
    let f2 = ipv4_frag(PEER_V4, OUR_V4, 17, 9, 0x2000 | 2, &data[..32]);
    // The first fragment is held; the second overlaps it and the whole
    // datagram is discarded (RFC 5722 applied to IPv4, as Linux does).
    let d = drops_for(&[eth(0x0800, &f1), eth(0x0800, &f2)]);
    assert_eq!(d.get(DropReason::FragmentOverlap), 1);
    assert_eq!(d.total(), 1, "{:?}", d.nonzero().collect::<Vec<_>>());
    // Past 65535 bytes.
    let big = ipv4_frag(PEER_V4, OUR_V4, 17, 10, 0x1fff, &data[..16]);
    assert_single("too big", &[eth(0x0800, &big)], DropReason::FragmentTooBig);
    // A non-last fragment whose length is not a multiple of 8.
    let odd = ipv4_frag(PEER_V4, OUR_V4, 17, 11, 0x2000, &data[..13]);
    assert_single(
        "misaligned",
        &[eth(0x0800, &odd)],
        DropReason::FragmentMalformed,
    );
}

#[test]
fn reassembly_timeout_is_counted() {
    let (mut s, h) = victim();
    let f1 = ipv4_frag(PEER_V4, OUR_V4, 17, 12, 0x2000, &[1u8; 32]);
    h.inject_inbound(&eth(0x0800, &f1));
    s.poll(Instant::from_secs(1));
    assert_eq!(s.drops().total(), 0);
    s.poll(Instant::from_secs(1) + Duration::from_secs(31));
    assert_eq!(s.drops().get(DropReason::ReassemblyTimeout), 1);
    // RFC 792: the first fragment had arrived, so a time exceeded (code 1)
    // went back to the sender.
    let out = h.take_outbound();
    assert!(out.iter().any(|f| f.as_slice().len() > 34 + 1
        && f.as_slice()[23] == 1
        && f.as_slice()[34] == 11
        && f.as_slice()[35] == 1));
}

#[test]
fn ipv6_level() {
    let udp = {
        let mut u = vec![0, 1, 0, 7, 0, 9, 0, 0, b'x'];
        let ph = checksum::pseudo_header_v6(&PEER_V6.into(), &OUR_V6.into(), IpProtocol::Udp, 9);
        let c = !checksum::combine(&[ph, checksum::data(&u)]);
        u[6..8].copy_from_slice(&c.to_be_bytes());
        u
    };
    let pkt = ipv6(PEER_V6, OUR_V6, 17, 64, &udp);
    let truncs: Vec<_> = (1..40).map(|n| eth(0x86dd, &pkt[..n])).collect();
    assert_single("truncated ipv6", &truncs, DropReason::Ipv6Malformed);
    let mut lie = pkt.clone();
    lie[4..6].copy_from_slice(&300u16.to_be_bytes());
    let mut version = pkt.clone();
    version[0] = 0x40;
    assert_single(
        "lying ipv6",
        &[eth(0x86dd, &lie), eth(0x86dd, &version)],
        DropReason::Ipv6Malformed,
    );
    let mcast_src = ipv6(
        [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        OUR_V6,
        17,
        64,
        &udp,
    );
    assert_single(
        "multicast source",
        &[eth(0x86dd, &mcast_src)],
        DropReason::MartianSource,
    );
    // Routing header (43) followed by hop-by-hop (0): HBH must come first.
    let mut ext = vec![0, 0, 0, 0, 0, 0, 0, 0];
    ext.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    ext.extend_from_slice(&udp);
    let hbh_late = ipv6(PEER_V6, OUR_V6, 43, 64, &ext);
    // An extension header cut short.
    let cut = ipv6(PEER_V6, OUR_V6, 60, 64, &[17, 3, 1, 0]);
    assert_single(
        "ext headers",
        &[eth(0x86dd, &hbh_late), eth(0x86dd, &cut)],
        DropReason::Ipv6ExtHeaderMalformed,
    );
}

#[test]
fn icmpv6_and_ndp_level() {
    let mut echo = icmp6(PEER_V6, OUR_V6, 128, 0, &[0, 1, 0, 1]);
    echo[3] ^= 0x40;
    assert_single(
        "icmpv6 checksum",
        &[eth(0x86dd, &ipv6(PEER_V6, OUR_V6, 58, 64, &echo))],
        DropReason::Icmpv6BadChecksum,
    );
    let mut ns_body = vec![0, 0, 0, 0];
    ns_body.extend_from_slice(&OUR_V6);
    let ns = icmp6(PEER_V6, OUR_V6, 135, 0, &ns_body);
    assert_single(
        "ndp hop limit",
        &[eth(0x86dd, &ipv6(PEER_V6, OUR_V6, 58, 64, &ns))],
        DropReason::NdpInvalid,
    );
    let mut other_body = vec![0, 0, 0, 0];
    let mut other = OUR_V6;
    other[15] = 0x99;
    other_body.extend_from_slice(&other);
    let ns_other = icmp6(PEER_V6, OUR_V6, 135, 0, &other_body);
    assert_single(
        "ndp target not ours",
        &[eth(0x86dd, &ipv6(PEER_V6, OUR_V6, 58, 255, &ns_other))],
        DropReason::NdpTargetNotOurs,
    );
}

#[test]
fn every_prefix_of_valid_frames_is_handled_without_panic() {
    // Every truncation of a handful of valid frames: each is either
    // processed or dropped with some counted reason.
    let frames = [
        eth(
            0x0800,
            &ipv4(PEER_V4, OUR_V4, 17, &udp4(1, 9999, b"payload")),
        ),
        eth(
            0x0800,
            &ipv4(PEER_V4, OUR_V4, 1, &icmp4(8, 0, &[0, 1, 0, 1, 1, 2, 3])),
        ),
        eth(0x0800, &ipv4(PEER_V4, OUR_V4, 6, &tcp4(0x02, 5))),
        eth(
            0x86dd,
            &ipv6(
                PEER_V6,
                OUR_V6,
                58,
                64,
                &icmp6(PEER_V6, OUR_V6, 128, 0, &[0, 1, 0, 1]),
            ),
        ),
    ];
    let (mut s, h) = victim();
    let mut now = Instant::from_secs(1);
    for f in &frames {
        for n in 0..=f.len() {
            h.inject_inbound(&f[..n]);
            now += Duration::from_millis(1);
            s.poll(now);
        }
    }
    let rx: u64 = s.nics().iter().map(|n| n.stats().rx_packets).sum();
    let total: usize = frames.iter().map(|f| f.len() + 1).sum();
    assert_eq!(rx, total as u64);
}
