//! Longest-prefix-match lookup: the xdpnet `Fib` (chunked DIR-24-8 for IPv4,
//! an rte_lpm6-style multibit trie for IPv6) against
//! `prefix_trie::PrefixMap::get_lpm` on the same routes and addresses, in the
//! same run: 1k and 500k IPv4 routes; 1k, 100k and 500k IPv6 routes, plus
//! 100k uniformly random IPv6 prefixes (the memory worst case).
//!
//! IPv4 prefix lengths follow a DFZ-like mix (about 60% /24, the rest spread
//! over /8–/32); lookup addresses are half inside an inserted prefix, half
//! uniformly random. IPv6 prefixes sit inside /32 allocations (one per eight
//! routes) drawn from six RIR-style /12s: 45% /48, 22% /64, 10% /32, the rest
//! /33–/47, /49–/63 and /65–/128; lookups are half inside an inserted prefix,
//! a quarter inside an allocation, a quarter anywhere in 2000::/3. The setup
//! also prints add, remove and snapshot costs and memory. Run briefly:
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

/// RIR-style /12 blocks the IPv6 allocations are drawn from.
const V6_BLOCKS: [u128; 6] = [0x200, 0x240, 0x260, 0x280, 0x2a0, 0x2c0];

/// A realistic IPv6 prefix: inside one of `allocs` (/32s), mostly /48 and
/// /64, some /32–/47, /49–/63 and /65–/128.
fn v6_realistic(rng: &mut SmallRng, allocs: &[u128]) -> Ipv6Net {
    let alloc = allocs[rng.gen_range(0..allocs.len())];
    let len = match rng.gen_range(0..100) {
        0..=9 => 32,
        10..=19 => rng.gen_range(33..=47),
        20..=64 => 48,
        65..=69 => rng.gen_range(49..=63),
        70..=91 => 64,
        _ => rng.gen_range(65..=128),
    };
    let a = alloc | (rng.gen::<u128>() >> 32);
    Ipv6Net::new(Ipv6Addr::from(a), len).unwrap().trunc()
}

/// A uniformly random global-unicast prefix with the same length mix: the
/// worst case for memory (nothing shares a table).
fn v6_random(rng: &mut SmallRng, allocs: &[u128]) -> Ipv6Net {
    let p = v6_realistic(rng, allocs);
    let a = (rng.gen::<u128>() >> 3) | (1u128 << 125);
    Ipv6Net::new(Ipv6Addr::from(a), p.prefix_len())
        .unwrap()
        .trunc()
}

/// Draws one prefix given the allocations.
type V6Gen = fn(&mut SmallRng, &[u128]) -> Ipv6Net;

fn bench_v6(c: &mut Criterion) {
    let mut group = c.benchmark_group("lpm_v6");
    let cases: [(&str, usize, V6Gen); 4] = [
        ("", 1_000, v6_realistic),
        ("", 100_000, v6_realistic),
        ("", 500_000, v6_realistic),
        ("random/", 100_000, v6_random),
    ];
    for (kind, n, gen) in cases {
        let mut rng = SmallRng::seed_from_u64(n as u64);
        // One /32 allocation per 8 routes, inside the RIR blocks.
        let allocs: Vec<u128> = (0..n.div_ceil(8))
            .map(|_| {
                let block = V6_BLOCKS[rng.gen_range(0..V6_BLOCKS.len())];
                (block << 116) | (u128::from(rng.gen::<u32>() >> 12) << 96)
            })
            .collect();
        let mut table = RouteTable::new();
        let mut trie: PrefixMap<Ipv6Net, Route> = PrefixMap::new();
        let mut prefixes = Vec::with_capacity(n);
        let start = Instant::now();
        while prefixes.len() < n {
            let p = gen(&mut rng, &allocs);
            if table.add(route(IpNet::V6(p), prefixes.len())).is_ok() {
                prefixes.push(p);
            }
        }
        let add_time = start.elapsed();
        for p in &prefixes {
            trie.insert(*p, *table.get(IpNet::V6(*p)).first().unwrap());
        }
        // Route churn: remove and re-add 10k prefixes, without and with a
        // snapshot outstanding (then each change copies the pages it touches).
        let churn = &prefixes[..prefixes.len().min(10_000)];
        let t = Instant::now();
        let removed: Vec<Route> = churn
            .iter()
            .map(|p| table.remove(IpNet::V6(*p)).unwrap()[0])
            .collect();
        let remove_time = t.elapsed();
        let t = Instant::now();
        for r in &removed {
            table.add(*r).unwrap();
        }
        let readd_time = t.elapsed();
        let mut cow_time = std::time::Duration::ZERO;
        let cycles = churn.len().min(200);
        for r in &removed[..cycles] {
            let snap = table.snapshot();
            let t = Instant::now();
            table.remove(r.prefix).unwrap();
            table.add(*r).unwrap();
            cow_time += t.elapsed();
            drop(snap);
        }
        let t = Instant::now();
        let snap = table.snapshot();
        let snap_time = t.elapsed();
        let per = |d: std::time::Duration, k: usize| d.as_nanos() as f64 / k as f64;
        eprintln!(
            "lpm_v6 {kind}{n} routes: add {:.0} ns/route, remove {:.0} ns, re-add {:.0} ns, \
             remove+add with a snapshot outstanding {:.1} us, snapshot {:?}, \
             Fib memory {:.1} MiB ({:?}), prefix-trie {:.1} MiB",
            per(add_time, n),
            per(remove_time, churn.len()),
            per(readd_time, churn.len()),
            per(cow_time, cycles) / 1e3,
            snap_time,
            snap.memory_bytes() as f64 / (1 << 20) as f64,
            snap,
            trie.mem_size() as f64 / (1 << 20) as f64,
        );
        // Half inside an inserted prefix, a quarter inside an allocation, a
        // quarter anywhere in 2000::/3.
        let addrs: Vec<Ipv6Addr> = (0..LOOKUPS)
            .map(|i| match i % 4 {
                0 | 2 => {
                    let p = prefixes[rng.gen_range(0..prefixes.len())];
                    let host = rng.gen::<u128>() & !u128::from(p.netmask());
                    Ipv6Addr::from(u128::from(p.network()) | host)
                }
                1 => Ipv6Addr::from(
                    allocs[rng.gen_range(0..allocs.len())] | (rng.gen::<u128>() >> 32),
                ),
                _ => Ipv6Addr::from((rng.gen::<u128>() >> 3) | (1u128 << 125)),
            })
            .collect();
        // The two structures agree.
        for a in &addrs {
            assert_eq!(
                snap.lookup_v6(*a),
                trie.get_lpm(&Ipv6Net::from(*a)).map(|(_, r)| r)
            );
        }
        let mut i = 0usize;
        group.bench_function(format!("lpm6/{kind}{n}"), |b| {
            b.iter(|| {
                i = (i + 1) & (LOOKUPS - 1);
                black_box(snap.lookup_v6(black_box(addrs[i])))
            })
        });
        let mut i = 0usize;
        group.bench_function(format!("prefix_trie/{kind}{n}"), |b| {
            b.iter(|| {
                i = (i + 1) & (LOOKUPS - 1);
                black_box(trie.get_lpm(&Ipv6Net::from(black_box(addrs[i]))))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_v4, bench_v6);
criterion_main!(benches);
