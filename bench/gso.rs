//! Software GSO: one 64 KiB TCP/IPv4 send cut into 1448-byte segments with
//! headers and checksums.
//!
//! * `gso/tcp4_64KiB_mss1448`: a whole GSO packet at the network layer
//!   ([`segment`]).
//! * `gso/tcp_template_cut_64KiB`: what the TCP endpoint does, the header
//!   template cut straight out of a (wrapped) send buffer given as two
//!   slices ([`TcpTemplate::cut`]), no IP header.
//! * `gso/payload_1448_{fused,copy_then_sum}`: one segment's payload
//!   copied and checksummed in one pass, against a copy then a sum.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xdpnet::buffer::{PacketBuffer, DEFAULT_HEADROOM};
use xdpnet::gso::{segment, Gso, GsoType, TcpTemplate, SOFTWARE_GSO_MAX_SIZE};
use xdpnet::wire::checksum;

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
    let raw = pkt.as_slice().to_vec();
    let (src, dst) = ([198, 18, 0, 1].into(), [198, 18, 1, 2].into());
    let t = TcpTemplate::new(&[], &raw[20..52], src, dst, true, 1448).expect("template");
    let (a, b) = raw[52..].split_at(40_001);
    g.bench_function("tcp_template_cut_64KiB", |bch| {
        bch.iter(|| {
            out.clear();
            t.cut([a, b], DEFAULT_HEADROOM, &mut out)
        })
    });
    g.throughput(Throughput::Bytes(1448));
    let payload = &raw[52..52 + 1448];
    let mut frame = vec![0u8; 2048];
    g.bench_function("payload_1448_fused", |bch| {
        bch.iter(|| checksum::copy_and_sum(&mut frame[180..], std::hint::black_box(payload)))
    });
    g.bench_function("payload_1448_copy_then_sum", |bch| {
        bch.iter(|| {
            let d = &mut frame[180..180 + 1448];
            d.copy_from_slice(std::hint::black_box(payload));
            checksum::data(d)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
