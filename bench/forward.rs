//! Forwarding frames through a stack end to end: rx batch → Ethernet → IP
//! validation → FIB → neighbor → TTL/checksum rewrite in place → egress
//! batch → one `write_packets` per poll, over `ReplayLink`s (see
//! `xdpnet::app::pipeline`). One 64-byte copy per frame stands in for the
//! NIC's DMA write.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xdpnet::app::pipeline::{Pipeline, PipelineConfig};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("forward");
    for (name, ipv6, size) in [
        ("ipv4_64B_batch64", false, 64),
        ("ipv6_78B_batch64", true, 78),
    ] {
        let cfg = PipelineConfig {
            frame_size: size,
            ipv6,
            ..PipelineConfig::default()
        };
        let mut p = Pipeline::new(cfg);
        assert_eq!(
            p.run(64),
            64,
            "{name}: {:?}",
            p.stack().drops().nonzero().collect::<Vec<_>>()
        );
        g.throughput(Throughput::Elements(cfg.batch as u64));
        g.bench_function(name, |b| b.iter(|| p.run(cfg.batch as u64)));
        assert_eq!(p.stack().drops().total(), 0);
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
