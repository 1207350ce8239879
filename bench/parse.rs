//! Parsing one Ethernet/IPv4/UDP frame: views plus `Repr::parse` with both
//! checksums verified, as the receive path does.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::net::IpAddr;
use xdpnet::wire::ethernet::{EthernetFrame, EthernetRepr};
use xdpnet::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use xdpnet::wire::udp::{UdpPacket, UdpRepr};

fn frame() -> Vec<u8> {
    let mut f = Vec::new();
    let payload = [0x5au8; 18];
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([198, 18, 0, 1], [198, 18, 1, 2], 64)
        .udp(1234, 7)
        .write(&mut f, &payload)
        .expect("build frame");
    f
}

fn parse(f: &[u8]) -> Option<(EthernetRepr, Ipv4Repr, UdpRepr)> {
    let eth = EthernetFrame::new_checked(f).ok()?;
    let er = EthernetRepr::parse(&eth).ok()?;
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let ir = Ipv4Repr::parse(&ip, true).ok()?;
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    let ur = UdpRepr::parse(
        &udp,
        &IpAddr::V4(ir.src_addr),
        &IpAddr::V4(ir.dst_addr),
        true,
    )
    .ok()?;
    Some((er, ir, ur))
}

fn bench(c: &mut Criterion) {
    let f = frame();
    assert!(parse(&f).is_some());
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("eth_ipv4_udp_64B", |b| b.iter(|| parse(black_box(&f))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
