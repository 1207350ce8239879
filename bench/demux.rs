//! Transport demux lookup: exact 4-tuple hits among 100k connected TCP
//! endpoints, and the listener fallback (miss on tier 1, miss on tier 2, hit
//! on the wildcard listener). One partition, so the numbers are the map
//! probes alone; `lookup_2_partitions` adds the flow hash for the ownership
//! check. Run briefly:
//! `cargo bench --bench demux -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use xdpnet::transport::demux::{Demuxer, Lookup, TransportEndpointId};
use xdpnet::wire::IpProtocol;

const N: usize = 100_000;

fn bench(c: &mut Criterion) {
    let mut rng = SmallRng::seed_from_u64(3);
    let local: IpAddr = Ipv4Addr::new(198, 18, 0, 1).into();
    let mut d1: Demuxer<u32> = Demuxer::new(0, 1);
    let mut d2: Demuxer<u32> = Demuxer::new(0, 2);
    d1.register(
        IpProtocol::Tcp,
        TransportEndpointId::bound(None, 80),
        u32::MAX,
    )
    .unwrap();
    let mut conns = Vec::with_capacity(N);
    while conns.len() < N {
        let remote: IpAddr = Ipv4Addr::from(0xc613_0000 | (rng.gen::<u32>() & 0xffff)).into();
        let rport: u16 = rng.gen_range(1024..=65535);
        let id = TransportEndpointId::connected(local, 80, remote, rport);
        let h = conns.len() as u32;
        if d1.register(IpProtocol::Tcp, id, h).is_ok() {
            let _ = d2.register(IpProtocol::Tcp, id, h);
            conns.push((remote, rport));
        }
    }
    let mut g = c.benchmark_group("demux");
    let mut i = 0usize;
    g.bench_function("connected_hit_100k", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            let (r, rp) = conns[i];
            let res = d1.lookup(IpProtocol::Tcp, local, 80, black_box(r), black_box(rp));
            debug_assert!(matches!(res, Lookup::Found(_)));
            black_box(res)
        })
    });
    let mut i = 0usize;
    g.bench_function("listener_fallback_100k", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            let (r, rp) = conns[i];
            // Same remote, other port: misses the connection table.
            let res = d1.lookup(IpProtocol::Tcp, local, 80, black_box(r), black_box(rp ^ 1));
            black_box(res)
        })
    });
    let mut i = 0usize;
    g.bench_function("lookup_2_partitions", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            let (r, rp) = conns[i];
            black_box(d2.lookup(IpProtocol::Tcp, local, 80, black_box(r), black_box(rp)))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
