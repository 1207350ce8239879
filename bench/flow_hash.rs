//! Flow hash cost: the symmetric Toeplitz hash of IPv4 and IPv6 5-tuples and
//! the shard choice built on it. Run briefly:
//! `cargo bench --bench flow_hash -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{criterion_group, criterion_main, Criterion};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use xdpnet::wire::IpProtocol;
use xdpnet::worker::flow_hash::{flow_hash, shard_of, FlowTuple};

fn tuples(v6: bool) -> Vec<FlowTuple> {
    let mut rng = SmallRng::seed_from_u64(1);
    (0..1024)
        .map(|_| {
            let (s, d): (IpAddr, IpAddr) = if v6 {
                (
                    Ipv6Addr::from(rng.gen::<u128>()).into(),
                    Ipv6Addr::from(rng.gen::<u128>()).into(),
                )
            } else {
                (
                    Ipv4Addr::from(rng.gen::<u32>()).into(),
                    Ipv4Addr::from(rng.gen::<u32>()).into(),
                )
            };
            FlowTuple {
                src_addr: s,
                dst_addr: d,
                src_port: rng.gen(),
                dst_port: rng.gen(),
                protocol: IpProtocol::Tcp,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_hash");
    for (name, v6) in [("v4_tcp", false), ("v6_tcp", true)] {
        let ts = tuples(v6);
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                black_box(flow_hash(black_box(&ts[i])))
            })
        });
    }
    let ts = tuples(false);
    let mut i = 0usize;
    g.bench_function("shard_of_v4_4", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(shard_of(black_box(&ts[i]), 4))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
