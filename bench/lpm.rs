//! Longest-prefix-match lookup: the xdpnet `Fib` (chunked DIR-24-8 for IPv4,
//! prefix-trie for IPv6) against `prefix_trie::PrefixMap::get_lpm` on the same
//! routes, at 1k and 500k IPv4 routes and 1k and 100k IPv6 routes.
//!
//! Prefix lengths follow a DFZ-like mix (about 60% /24, the rest spread over
//! /8–/32); lookup addresses are half inside an inserted prefix, half
//! uniformly random. Run briefly:
//! `cargo bench --bench lpm -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use rand::{rngs::SmallRng, Rng, SeedableRng};
use xdpnet::stack::route::{Route, RouteTable};
use xdpnet::stack::NicId;

const LOOKUPS: usize = 1 << 16;

fn v4_len(rng: &mut SmallRng) -> u8 {
    match rng.gen_range(0..100) {
        0..=59 => 24,
        60..=69 => 23,
        70..=77 => 22,
        78..=87 => rng.gen_range(16..=21),
        88..=89 => rng.gen_range(8..=15),
        _ => rng.gen_range(25..=32),
    }
}

fn v6_len(rng: &mut SmallRng) -> u8 {
    match rng.gen_range(0..100) {
        0..=49 => 48,
        50..=69 => 32,
        70..=84 => rng.gen_range(33..=47),
        85..=94 => 64,
        _ => rng.gen_range(65..=128),
    }
}

fn route(prefix: IpNet, i: usize) -> Route {
    Route::connected(prefix, NicId((i % 8) as u16))
}

fn bench_v4(c: &mut Criterion) {
    let mut group = c.benchmark_group("lpm_v4");
    for &n in &[1_000usize, 500_000] {
        let mut rng = SmallRng::seed_from_u64(n as u64);
        let mut table = RouteTable::new();
        let mut trie: PrefixMap<Ipv4Net, Route> = PrefixMap::new();
        let mut prefixes = Vec::with_capacity(n);
        let start = Instant::now();
        while prefixes.len() < n {
            let p = Ipv4Net::new(Ipv4Addr::from(rng.gen::<u32>()), v4_len(&mut rng))
                .unwrap()
                .trunc();
            let r = route(IpNet::V4(p), prefixes.len());
            if table.add(r).is_ok() {
                prefixes.push(p);
            }
        }
        let add_time = start.elapsed();
        for p in &prefixes {
            trie.insert(*p, *table.get(IpNet::V4(*p)).first().unwrap());
        }
        let t = Instant::now();
        let snap = table.snapshot();
        let snap_time = t.elapsed();
        eprintln!(
            "lpm_v4 {n} routes: incremental add {:.0} ns/route, snapshot {:?}, Fib memory {:.1} MiB, prefix-trie {:.1} MiB",
            add_time.as_nanos() as f64 / n as f64,
            snap_time,
            snap.memory_bytes() as f64 / (1 << 20) as f64,
            trie.mem_size() as f64 / (1 << 20) as f64,
        );
        let addrs: Vec<Ipv4Addr> = (0..LOOKUPS)
            .map(|i| {
                if i % 2 == 0 {
                    let p = prefixes[rng.gen_range(0..prefixes.len())];
                    let host = rng.gen::<u32>() & !u32::from(p.netmask());
                    Ipv4Addr::from(u32::from(p.network()) | host)
                } else {
                    Ipv4Addr::from(rng.gen::<u32>())
                }
            })
            .collect();
        // The two structures agree.
        for a in &addrs {
            assert_eq!(
                snap.lookup_v4(*a),
                trie.get_lpm(&Ipv4Net::from(*a)).map(|(_, r)| r)
            );
        }
        let mut i = 0usize;
        group.bench_function(format!("dir24_8/{n}"), |b| {
            b.iter(|| {
                i = (i + 1) & (LOOKUPS - 1);
                black_box(snap.lookup_v4(black_box(addrs[i])))
            })
        });
        let mut i = 0usize;
        group.bench_function(format!("prefix_trie/{n}"), |b| {
            b.iter(|| {
                i = (i + 1) & (LOOKUPS - 1);
                black_box(trie.get_lpm(&Ipv4Net::from(black_box(addrs[i]))))
            })
        });
    }
    group.finish();
}

fn bench_v6(c: &mut Criterion) {
    let mut group = c.benchmark_group("lpm_v6");
    for &n in &[1_000usize, 100_000] {
        let mut rng = SmallRng::seed_from_u64(n as u64);
        let mut table = RouteTable::new();
        let mut prefixes = Vec::with_capacity(n);
        while prefixes.len() < n {
            // Global unicast 2000::/3, like the DFZ.
            let a = (rng.gen::<u128>() >> 3) | (1u128 << 125);
            let p = Ipv6Net::new(Ipv6Addr::from(a), v6_len(&mut rng))
                .unwrap()
                .trunc();
            if table.add(route(IpNet::V6(p), prefixes.len())).is_ok() {
                prefixes.push(p);
            }
        }
        let snap = table.snapshot();
        let addrs: Vec<Ipv6Addr> = (0..LOOKUPS)
            .map(|i| {
                if i % 2 == 0 {
                    let p = prefixes[rng.gen_range(0..prefixes.len())];
                    let host = rng.gen::<u128>() & !u128::from(p.netmask());
                    Ipv6Addr::from(u128::from(p.network()) | host)
                } else {
                    Ipv6Addr::from((rng.gen::<u128>() >> 3) | (1u128 << 125))
                }
            })
            .collect();
        let mut i = 0usize;
        group.bench_function(format!("prefix_trie/{n}"), |b| {
            b.iter(|| {
                i = (i + 1) & (LOOKUPS - 1);
                black_box(snap.lookup_v6(black_box(addrs[i])))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_v4, bench_v6);
criterion_main!(benches);
