//! Internet checksum (RFC 1071) throughput: 64-byte and 1500-byte buffers,
//! and the RFC 1624 incremental update used per forwarded packet.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use xdpnet::wire::checksum;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum");
    for size in [64usize, 1500] {
        let data: Vec<u8> = (0..size).map(|i| (i * 31) as u8).collect();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("data_{size}B"), |b| {
            b.iter(|| checksum::data(black_box(&data)))
        });
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("update16_ttl", |b| {
        b.iter(|| checksum::update16(black_box(0xb861), black_box(0x4011), black_box(0x3f11)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
