//! Forwarding 64-byte frames through a stack end to end: rx batch → Ethernet
//! → IPv4 validation → FIB → neighbor → TTL/checksum rewrite in place →
//! egress batch → one `write_packets` per poll. Links are `ReplayLink`s, so
//! what is measured is the stack's per-packet path (plus one 64-byte copy
//! per frame standing in for the NIC's DMA write).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xdpnet::link::replay::ReplayLink;
use xdpnet::stack::{NextHop, Route, Stack, StackConfig};
use xdpnet::time::Instant;
use xdpnet::wire::EthernetAddress;

const BATCH: usize = 64;

fn frame(flow: u16) -> Vec<u8> {
    let mut f = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 10])
        .ipv4([198, 18, 0, 1], [198, 18, 1, 2], 64)
        .udp(1024 + flow, 7)
        .write(&mut f, &[0x5a; 18])
        .expect("build frame");
    f
}

fn router() -> Stack {
    let mut s = Stack::new(StackConfig { rx_budget: BATCH, ..StackConfig::default() });
    let templates = (0..16).map(frame).collect();
    let n0 = s.add_nic("in", ReplayLink::new(EthernetAddress([2, 0, 0, 0, 0, 10]), 1500, templates));
    let n1 = s.add_nic("out", ReplayLink::new(EthernetAddress([2, 0, 0, 0, 0, 11]), 1500, Vec::new()));
    s.add_address(n0, "198.18.0.254/24".parse().unwrap()).unwrap();
    s.add_address(n1, "198.18.1.254/24".parse().unwrap()).unwrap();
    s.add_route(Route {
        prefix: "198.18.128.0/17".parse().unwrap(),
        next_hop: NextHop::Gateway { nic: n1, gateway: "198.18.1.1".parse().unwrap() },
        metric: 0,
    })
    .unwrap();
    s.set_forwarding(n0, true, true).unwrap();
    s.add_static_neighbor(n1, "198.18.1.2".parse().unwrap(), EthernetAddress([2, 0, 0, 0, 0, 2])).unwrap();
    s
}

fn bench(c: &mut Criterion) {
    let mut s = router();
    let now = Instant::from_secs(1);
    s.poll(now);
    assert_eq!(s.stats().ip_forwarded, BATCH as u64, "{:?}", s.drops().nonzero().collect::<Vec<_>>());
    let mut g = c.benchmark_group("forward");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("ipv4_64B_batch64", |b| b.iter(|| s.poll(now)));
    g.finish();
    assert_eq!(s.drops().total(), 0);
}

criterion_group!(benches, bench);
criterion_main!(benches);
