//! Bulk TCP transfer, with and without software GSO.
//!
//! * `tcp_bulk/{gso,no_gso}`: two stacks over the in-memory pipe, both on
//!   this core. Throughput is payload bytes per second of wall time for
//!   sender *and* receiver (the fake clock advances only when both stacks
//!   are idle, so timers never limit the rate). The receiver's copy into
//!   its ring, checksum verification and copy out to the application are
//!   in this figure.
//! * `tcp_bulk/sender_{gso,no_gso}`: the sender's per-core cost alone. The
//!   stack writes to a channel; a sink takes the frames, reads only the
//!   headers it needs, and answers each batch with one cumulative ACK
//!   built by hand (a receiving stack would cost as much as the sender).
//!   This is the figure the GSO target (>= 2x the per-segment path) is
//!   about.
//!
//! Profiling: `TCP_BULK_PROFILE=<variant>:<n>` (variant one of the four
//! names above) runs `n` transfers of that variant outside criterion and
//! exits, so `valgrind --tool=callgrind` or `perf record` see a fixed
//! amount of work (`n` x 4 MiB, 2897 segments of 1448 bytes each).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::net::{IpAddr, Ipv4Addr};
use xdpnet::buffer::PacketBuffer;
use xdpnet::link::pipe::{Channel, ChannelHandle, Pipe, PipeConfig};
use xdpnet::link::Capabilities;
use xdpnet::stack::Stack;
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::TcpError;
use xdpnet::transport::Handle;
use xdpnet::wire::ethernet::{EthernetFrame, EthernetRepr};
use xdpnet::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use xdpnet::wire::tcp::{TcpControl, TcpPacket, TcpRepr, TcpSeqNumber, TcpTimestampRepr};
use xdpnet::wire::EthernetAddress;
use xdpnet::wire::{EtherType, IpProtocol};

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

// ---- sender only: a stack against a hand-ACKing sink -----------------------

const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PEER_PORT: u16 = 40000;
/// The sink's window scale: a 64 MiB window never limits the sender.
const PEER_WSCALE: u8 = 10;

struct Sink {
    stack: Stack,
    link: ChannelHandle,
    c: Handle,
    now: Instant,
    /// The sink's own sequence number (it sends no data).
    seq: u32,
    /// Highest sequence received, TSval to echo.
    rcv_nxt: u32,
    ts_recent: u32,
    /// The sink's timestamp clock (RFC 7323: never goes back, or PAWS
    /// drops its ACKs).
    tsval: u32,
    data: Vec<u8>,
    frame: Vec<u8>,
}

fn mac(n: u8) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 0, 0, n])
}

impl Sink {
    fn new(gso: bool) -> Sink {
        let caps = if gso {
            Capabilities::RESOLUTION_REQUIRED | Capabilities::SOFTWARE_GSO
        } else {
            Capabilities::RESOLUTION_REQUIRED
        };
        let (ep, link) = Channel::with_capacity(mac(1), 1500, caps, 1 << 16);
        let mut stack = Stack::default();
        let nic = stack.add_nic("eth0", ep);
        stack
            .add_address(nic, "198.18.0.1/24".parse().unwrap())
            .unwrap();
        stack
            .add_static_neighbor(nic, IpAddr::V4(PEER), mac(2))
            .unwrap();
        let l = stack
            .tcp_listen("198.18.0.1:80".parse().unwrap(), 4)
            .unwrap();
        let mut k = Sink {
            stack,
            link,
            c: l,
            now: Instant::from_secs(1),
            seq: 5000,
            rcv_nxt: 0,
            ts_recent: 0,
            tsval: 2,
            data: (0..65536).map(|i| i as u8).collect(),
            frame: vec![0; 14 + 20 + 60],
        };
        k.inject(TcpControl::Syn, None, 1);
        k.stack.poll(k.now);
        let out = k.link.take_outbound();
        let (synack_seq, _, tsval) = headers(out[0].as_slice()).expect("SYN-ACK");
        k.ts_recent = tsval;
        k.seq += 1;
        k.rcv_nxt = synack_seq.wrapping_add(1);
        k.inject(TcpControl::None, Some(k.rcv_nxt), 2);
        k.stack.poll(k.now);
        k.c = k.stack.tcp_accept(l).expect("accepted");
        k
    }

    /// Deliver one segment from the sink to the stack.
    fn inject(&mut self, control: TcpControl, ack: Option<u32>, tsval: u32) {
        let syn = control == TcpControl::Syn;
        let repr = TcpRepr {
            src_port: PEER_PORT,
            dst_port: 80,
            control,
            seq_number: TcpSeqNumber::from(self.seq),
            ack_number: ack.map(TcpSeqNumber::from),
            window_len: 65535,
            window_scale: syn.then_some(PEER_WSCALE),
            max_seg_size: syn.then_some(1460),
            sack_permitted: syn,
            sack_ranges: [None; 4],
            timestamp: Some(TcpTimestampRepr {
                tsval,
                tsecr: self.ts_recent,
            }),
            payload: &[],
        };
        let tcp_len = repr.buffer_len();
        let ip = Ipv4Repr {
            src_addr: PEER,
            dst_addr: US,
            next_header: IpProtocol::Tcp,
            payload_len: tcp_len,
            hop_limit: 64,
            tos: 0,
            ident: 1,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        };
        let f = &mut self.frame[..14 + 20 + tcp_len];
        EthernetRepr {
            src_addr: mac(2),
            dst_addr: mac(1),
            ethertype: EtherType::Ipv4,
            vlan: None,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut f[14..34]));
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut f[34..]),
            &IpAddr::V4(PEER),
            &IpAddr::V4(US),
            true,
        );
        self.link.inject_buffer(PacketBuffer::from_slice(64, f));
    }

    /// Move `CHUNK` bytes out of the stack; the sink ACKs each batch once.
    fn run(&mut self) {
        let mut sent = 0;
        let mut acked_to = self.rcv_nxt;
        let target = self.rcv_nxt.wrapping_add(CHUNK as u32);
        while (target.wrapping_sub(acked_to) as i32) > 0 {
            while sent < CHUNK {
                let n = (CHUNK - sent).min(self.data.len());
                match self.stack.tcp_send(self.c, &self.data[..n], self.now) {
                    Ok(0) | Err(TcpError::WouldBlock) => break,
                    Ok(k) => sent += k,
                    Err(e) => panic!("{e}"),
                }
            }
            self.stack.poll(self.now);
            for f in self.link.take_outbound() {
                if let Some((seq, len, tv)) = headers(f.as_slice()) {
                    let end = seq.wrapping_add(len as u32);
                    if (end.wrapping_sub(self.rcv_nxt) as i32) > 0 {
                        self.rcv_nxt = end;
                        self.ts_recent = tv;
                    }
                }
            }
            if self.rcv_nxt != acked_to {
                acked_to = self.rcv_nxt;
                self.tsval = self.tsval.wrapping_add(1);
                self.inject(TcpControl::None, Some(acked_to), self.tsval);
            } else {
                self.now += Duration::from_millis(1);
            }
        }
    }
}

/// (seq, payload length, TSval) of an Ethernet/IPv4/TCP frame, reading
/// only the header fields (no checksum, no copy).
fn headers(f: &[u8]) -> Option<(u32, usize, u32)> {
    let ip = Ipv4Packet::new_checked(f.get(14..)?).ok()?;
    let total = usize::from(ip.total_len());
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    let hl = usize::from(tcp.header_len());
    // The timestamps option sits after two NOPs (kind 8 at offset 22).
    let opts = &ip.payload()[20..hl];
    let tsval = opts
        .windows(10)
        .position(|w| w[0] == 8 && w[1] == 10)
        .map(|i| u32::from_be_bytes([opts[i + 2], opts[i + 3], opts[i + 4], opts[i + 5]]))
        .unwrap_or(0);
    Some((tcp.seq_number().as_u32(), total - 20 - hl, tsval))
}

/// `TCP_BULK_PROFILE=<variant>:<n>`: run `n` transfers and report
/// whether the variable was set.
fn profile_mode() -> bool {
    let Ok(spec) = std::env::var("TCP_BULK_PROFILE") else {
        return false;
    };
    let (name, n) = spec
        .split_once(':')
        .and_then(|(v, n)| Some((v.to_string(), n.parse::<usize>().ok()?)))
        .expect("TCP_BULK_PROFILE=<gso|no_gso|sender_gso|sender_no_gso>:<count>");
    match name.as_str() {
        "gso" | "no_gso" => {
            let mut p = pair(name == "gso");
            for _ in 0..n {
                run(&mut p);
            }
        }
        "sender_gso" | "sender_no_gso" => {
            let mut k = Sink::new(name == "sender_gso");
            for _ in 0..n {
                k.run();
            }
        }
        other => panic!("TCP_BULK_PROFILE: unknown variant {other}"),
    }
    true
}

fn bench(c: &mut Criterion) {
    if profile_mode() {
        return;
    }
    let mut g = c.benchmark_group("tcp_bulk");
    g.throughput(Throughput::Bytes(CHUNK as u64));
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(3));
    g.warm_up_time(std::time::Duration::from_millis(500));
    for (name, gso) in [("gso", true), ("no_gso", false)] {
        let mut p = pair(gso);
        g.bench_function(name, |bch| bch.iter(|| run(&mut p)));
    }
    for (name, gso) in [("sender_gso", true), ("sender_no_gso", false)] {
        let mut k = Sink::new(gso);
        g.bench_function(name, |bch| bch.iter(|| k.run()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
