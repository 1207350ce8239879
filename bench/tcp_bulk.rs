//! Bulk TCP transfer between two stacks over the in-memory pipe, with and
//! without software GSO. Throughput is payload bits per second of wall
//! time for both stacks on one core (the fake clock advances only when
//! both stacks are idle, so timers never limit the rate).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xdpnet::link::pipe::{Pipe, PipeConfig};
use xdpnet::link::Capabilities;
use xdpnet::stack::Stack;
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::TcpError;
use xdpnet::transport::Handle;
use xdpnet::wire::EthernetAddress;

const CHUNK: usize = 4 << 20;

struct Pair {
    a: Stack,
    b: Stack,
    c: Handle,
    s: Handle,
    now: Instant,
    data: Vec<u8>,
    buf: Vec<u8>,
}

fn pair(gso: bool) -> Pair {
    let caps = if gso {
        Capabilities::RESOLUTION_REQUIRED | Capabilities::SOFTWARE_GSO
    } else {
        Capabilities::RESOLUTION_REQUIRED
    };
    let (la, lb) = Pipe::pair(
        PipeConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1])).with_capabilities(caps),
        PipeConfig::new(EthernetAddress([2, 0, 0, 0, 0, 2])).with_capabilities(caps),
    );
    let mut a = Stack::default();
    let na = a.add_nic("eth0", la);
    a.add_address(na, "198.18.0.1/24".parse().unwrap()).unwrap();
    let mut b = Stack::default();
    let nb = b.add_nic("eth0", lb);
    b.add_address(nb, "198.18.0.2/24".parse().unwrap()).unwrap();
    let now = Instant::from_secs(1);
    let l = b.tcp_listen("198.18.0.2:80".parse().unwrap(), 4).unwrap();
    let c = a
        .tcp_connect("198.18.0.2:80".parse().unwrap(), None, now)
        .unwrap();
    for _ in 0..100 {
        a.poll(now);
        b.poll(now);
    }
    let s = b.tcp_accept(l).expect("connected");
    Pair {
        a,
        b,
        c,
        s,
        now,
        data: (0..65536).map(|i| i as u8).collect(),
        buf: vec![0; 1 << 20],
    }
}

/// Move `CHUNK` bytes from a to b.
fn run(p: &mut Pair) {
    let mut sent = 0;
    let mut got = 0;
    while got < CHUNK {
        while sent < CHUNK {
            let n = (CHUNK - sent).min(p.data.len());
            match p.a.tcp_send(p.c, &p.data[..n], p.now) {
                Ok(0) | Err(TcpError::WouldBlock) => break,
                Ok(k) => sent += k,
                Err(e) => panic!("{e}"),
            }
        }
        loop {
            match p.b.tcp_recv(p.s, &mut p.buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => got += k,
            }
        }
        let did = p.a.poll(p.now) | p.b.poll(p.now);
        if !did {
            p.now += Duration::from_millis(1);
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_bulk");
    g.throughput(Throughput::Bytes(CHUNK as u64));
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(3));
    g.warm_up_time(std::time::Duration::from_millis(500));
    for (name, gso) in [("gso", true), ("no_gso", false)] {
        let mut p = pair(gso);
        g.bench_function(name, |bch| bch.iter(|| run(&mut p)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
