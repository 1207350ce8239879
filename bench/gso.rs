//! Software GSO: one 64 KiB TCP/IPv4 send cut into 1448-byte segments with
//! headers and checksums, and the same for UDP (`UDP_SEGMENT` semantics).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xdpnet::buffer::{PacketBuffer, DEFAULT_HEADROOM};
use xdpnet::gso::{segment, Gso, GsoType, SOFTWARE_GSO_MAX_SIZE};

fn tcp_super_packet() -> (PacketBuffer, Gso) {
    let payload = vec![0x42u8; 65535 - 20 - 32];
    let mut f = Vec::new();
    etherparse::PacketBuilder::ipv4([198, 18, 0, 1], [198, 18, 1, 2], 64)
        .tcp(40000, 80, 1000, 65535)
        .ack(1)
        .options(&[
            etherparse::TcpOptionElement::Noop,
            etherparse::TcpOptionElement::Noop,
            etherparse::TcpOptionElement::Timestamp(1, 2),
        ])
        .expect("options")
        .write(&mut f, &payload)
        .expect("build");
    let gso = Gso {
        gso_type: GsoType::TcpV4,
        needs_csum: true,
        csum_offset: 16,
        mss: 1448,
        l3_hdr_len: 20,
        max_size: SOFTWARE_GSO_MAX_SIZE as u32,
    };
    (PacketBuffer::from_slice(DEFAULT_HEADROOM, &f), gso)
}

fn bench(c: &mut Criterion) {
    let (pkt, gso) = tcp_super_packet();
    let bytes = pkt.len() as u64;
    let mut g = c.benchmark_group("gso");
    g.throughput(Throughput::Bytes(bytes));
    let mut out = Vec::with_capacity(64);
    g.bench_function("tcp4_64KiB_mss1448", |b| {
        b.iter_batched(
            || PacketBuffer::from_slice(DEFAULT_HEADROOM, pkt.as_slice()),
            |p| {
                out.clear();
                segment(p, &gso, &mut out).expect("segment")
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
