//! Fuzz target for the whole receive path: arbitrary bytes injected as a
//! frame into a stack (with UDP and raw endpoints open, forwarding on, and
//! static neighbors so answers go out) must never panic, and every frame
//! must be accounted for in the NIC counters.
//!
//! Under `cargo test` bolero runs a short random campaign; the deterministic
//! test below seeds it with real frames (ARP, ICMP echo, UDP, TCP SYN,
//! IPv6 NDP, fragments, VLAN) and every single-byte corruption and every
//! truncation of each. For a long campaign with libFuzzer:
//! `cargo install cargo-bolero && cargo bolero test --release receive_path_never_panics`.

mod common;

use common::*;
use xdpnet::link::pipe::{Channel, ChannelHandle};
use xdpnet::link::Capabilities;
use xdpnet::stack::Stack;
use xdpnet::time::{Duration, Instant};

fn victim() -> (Stack, ChannelHandle) {
    let (ep, h) = Channel::new(mac(2), 1500, Capabilities::RESOLUTION_REQUIRED);
    let (ep2, _h2) = Channel::new(mac(3), 1280, Capabilities::RESOLUTION_REQUIRED);
    let mut s = Stack::default();
    let n = s.add_nic("eth0", ep);
    let n2 = s.add_nic("eth1", ep2);
    s.add_address(n, net("198.18.0.2/24")).unwrap();
    s.add_address(n, net("2001:2::2/64")).unwrap();
    s.add_address(n2, net("198.18.1.2/24")).unwrap();
    s.add_address(n2, net("2001:2:0:1::2/64")).unwrap();
    s.set_forwarding(n, true, true).unwrap();
    s.add_static_neighbor(n, ip("198.18.0.1"), mac(1)).unwrap();
    s.add_static_neighbor(n2, ip("198.18.1.1"), mac(4)).unwrap();
    // A wildcard bind covers both families (dual-stack).
    s.udp_bind(sock("[::]:7")).unwrap();
    s.raw_open(
        xdpnet::transport::raw::IpFamily::V4,
        xdpnet::wire::IpProtocol::Icmp,
    );
    (s, h)
}

fn feed(s: &mut Stack, h: &ChannelHandle, frame: &[u8], now: Instant) {
    let before: u64 = s.nics().iter().map(|n| n.stats().rx_packets).sum();
    h.inject_inbound(frame);
    s.poll(now);
    let after: u64 = s.nics().iter().map(|n| n.stats().rx_packets).sum();
    assert_eq!(after, before + 1, "every frame is counted");
    // Bound the output queue of the test channel.
    h.take_outbound();
}

/// Real frames the campaign starts from.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let b = || etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut f = Vec::new();
    b().ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
        .udp(4000, 7)
        .write(&mut f, b"hello")
        .unwrap();
    out.push(f);
    let mut f = Vec::new();
    b().ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut f, b"ping")
        .unwrap();
    out.push(f);
    let mut f = Vec::new();
    b().ipv4([198, 18, 0, 1], [198, 18, 1, 9], 2)
        .tcp(4000, 80, 1, 1000)
        .syn()
        .write(&mut f, &[])
        .unwrap();
    out.push(f);
    let mut f = Vec::new();
    b().ipv6(
        [0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        64,
    )
    .icmpv6_echo_request(1, 1)
    .write(&mut f, b"ping6")
    .unwrap();
    out.push(f);
    let mut f = Vec::new();
    b().ipv6(
        [0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0x20, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9],
        64,
    )
    .udp(1, 2)
    .write(&mut f, &[0u8; 1400])
    .unwrap();
    out.push(f);
    // ARP request for our address.
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[
        2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 198, 18, 0, 1,
    ]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[198, 18, 0, 2]);
    out.push(arp);
    // A first IPv4 fragment.
    let mut frag = out[0].clone();
    frag[20] = 0x20; // MF
    out.push(frag);
    // VLAN priority-tagged UDP.
    let mut vlan = out[0][..12].to_vec();
    vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x00]);
    vlan.extend_from_slice(&out[0][12..]);
    out.push(vlan);
    out
}

#[test]
fn seeded_mutations_never_panic() {
    let (mut s, h) = victim();
    let mut now = Instant::from_secs(1);
    for seed in seeds() {
        feed(&mut s, &h, &seed, now);
        for n in 0..seed.len() {
            feed(&mut s, &h, &seed[..n], now);
        }
        for i in 0..seed.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut m = seed.clone();
                m[i] ^= flip;
                feed(&mut s, &h, &m, now);
            }
            now += Duration::from_millis(3);
        }
    }
    // Time moves on: reassembly and neighbor timers fire without trouble.
    s.poll(now + Duration::from_secs(120));
    assert!(s.drops().total() > 0);
}

#[test]
fn receive_path_never_panics() {
    // bolero wants an unwind-safe closure; a panic fails the test anyway,
    // so the stack is never observed after one.
    let state =
        std::panic::AssertUnwindSafe(std::cell::RefCell::new((victim(), Instant::from_secs(1))));
    bolero::check!().for_each(|input: &[u8]| {
        let mut st = state.borrow_mut();
        let ((s, h), now) = &mut *st;
        *now += Duration::from_millis(1);
        let t = *now;
        feed(s, h, input, t);
    });
}
