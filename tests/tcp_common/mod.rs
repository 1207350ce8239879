//! Helpers shared by the TCP tests: two stacks on a pipe, a fake clock,
//! and a driver that moves bytes between connections.
#![allow(dead_code)]

use std::net::SocketAddr;

use xdpnet::link::pipe::{Pipe, PipeConfig, PipeEnd};
use xdpnet::link::LinkEndpoint;
use xdpnet::stack::Stack;
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::{TcpError, TcpState};
use xdpnet::transport::Handle;
use xdpnet::wire::EthernetAddress;

/// A locally administered MAC ending in `n`.
pub fn mac(n: u8) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0, n])
}

/// Parse a socket address.
pub fn sock(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// Two pipe ends with the given MTU and default capabilities.
pub fn pipe_pair(mtu: usize) -> (PipeEnd, PipeEnd) {
    Pipe::pair(
        PipeConfig::new(mac(1)).with_mtu(mtu),
        PipeConfig::new(mac(2)).with_mtu(mtu),
    )
}

/// A stack on `link` with `addrs`.
pub fn host(link: impl LinkEndpoint + Send + 'static, addrs: &[&str]) -> Stack {
    let mut s = Stack::default();
    let nic = s.add_nic("eth0", link);
    for a in addrs {
        s.add_address(nic, a.parse().expect("prefix"))
            .expect("address");
    }
    s
}

/// Client (198.18.0.1 / 2001:2::1) and server (198.18.0.2 / 2001:2::2)
/// stacks on one pipe.
pub fn two_hosts(mtu: usize) -> (Stack, Stack) {
    let (la, lb) = pipe_pair(mtu);
    (
        host(la, &["198.18.0.1/24", "2001:2::1/64"]),
        host(lb, &["198.18.0.2/24", "2001:2::2/64"]),
    )
}

/// Poll both stacks at `now` until nothing moves (bounded).
pub fn settle(a: &mut Stack, b: &mut Stack, now: Instant) {
    for _ in 0..100_000 {
        let did = a.poll(now) | b.poll(now);
        if !did {
            return;
        }
    }
    panic!("stacks did not settle");
}

/// Advance the clock to `until`, jumping from one timer to the next and
/// settling at each (at most `max_step` at a time).
pub fn run_until(
    a: &mut Stack,
    b: &mut Stack,
    now: &mut Instant,
    until: Instant,
    max_step: Duration,
) {
    settle(a, b, *now);
    while *now < until {
        let next = [a.poll_at(), b.poll_at()]
            .into_iter()
            .flatten()
            .filter(|t| *t > *now)
            .min()
            .unwrap_or(until);
        *now = next.min(*now + max_step).min(until);
        settle(a, b, *now);
    }
}

/// Open a connection from `a` to `server` on `b`; returns (client,
/// server-side connection, listener) once both are ESTABLISHED.
pub fn connect(
    a: &mut Stack,
    b: &mut Stack,
    server: &str,
    now: &mut Instant,
) -> (Handle, Handle, Handle) {
    let server = sock(server);
    let l = b.tcp_listen(server, 16).expect("listen");
    let c = a.tcp_connect(server, None, *now).expect("connect");
    settle(a, b, *now);
    let s = b.tcp_accept(l).expect("accepted");
    assert_eq!(a.tcp_state(c), TcpState::Established);
    assert_eq!(b.tcp_state(s), TcpState::Established);
    (c, s, l)
}

/// Read everything available on `h` into `out`; whether EOF was seen.
pub fn drain(s: &mut Stack, h: Handle, out: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 65536];
    loop {
        match s.tcp_recv(h, &mut buf) {
            Ok(0) => return true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(TcpError::WouldBlock) => return false,
            Err(e) => panic!("recv failed: {e}"),
        }
    }
}

/// A deterministic payload.
pub fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Send `data` from `(sa, ha)` to `(sb, hb)`, then shut down the sender's
/// write side; drive both stacks until the receiver has read everything
/// and seen EOF. Returns the bytes received and the fake time it took.
#[allow(clippy::too_many_arguments)]
pub fn transfer(
    sa: &mut Stack,
    ha: Handle,
    sb: &mut Stack,
    hb: Handle,
    data: &[u8],
    now: &mut Instant,
    max_step: Duration,
    deadline: Duration,
) -> (Vec<u8>, Duration) {
    transfer_observed(
        sa,
        ha,
        sb,
        hb,
        data,
        now,
        max_step,
        deadline,
        &mut |_, _| {},
    )
}

/// [`transfer`], calling `observe` with the sender's stack and handle
/// after every poll.
#[allow(clippy::too_many_arguments)]
pub fn transfer_observed(
    sa: &mut Stack,
    ha: Handle,
    sb: &mut Stack,
    hb: Handle,
    data: &[u8],
    now: &mut Instant,
    max_step: Duration,
    deadline: Duration,
    observe: &mut dyn FnMut(&Stack, Handle),
) -> (Vec<u8>, Duration) {
    let start = *now;
    let end = *now + deadline;
    let mut off = 0;
    let mut shut = false;
    let mut got = Vec::with_capacity(data.len());
    loop {
        while off < data.len() {
            let chunk = &data[off..(off + 65536).min(data.len())];
            match sa.tcp_send(ha, chunk, *now) {
                Ok(n) if n > 0 => off += n,
                Ok(_) | Err(TcpError::WouldBlock) => break,
                Err(e) => panic!("send failed: {e}"),
            }
        }
        if off == data.len() && !shut {
            sa.tcp_shutdown(ha).expect("shutdown");
            shut = true;
        }
        let eof = drain(sb, hb, &mut got);
        if eof {
            break;
        }
        let did = sa.poll(*now) | sb.poll(*now);
        observe(sa, ha);
        if !did {
            let next = [sa.poll_at(), sb.poll_at()]
                .into_iter()
                .flatten()
                .filter(|t| *t > *now)
                .min()
                .unwrap_or(*now + max_step);
            *now = next.min(*now + max_step);
        }
        assert!(
            *now < end,
            "transfer stalled: {} of {} bytes; sender {:?}, receiver {:?}",
            got.len(),
            data.len(),
            sa.tcp_info(ha),
            sb.tcp_info(hb)
        );
    }
    (got, now.saturating_duration_since(start))
}

// ---- a hand-driven peer: inject segments, read what the stack sends -------

use std::net::{IpAddr, Ipv4Addr};
use xdpnet::link::pipe::{Channel, ChannelHandle};
use xdpnet::link::Capabilities;
use xdpnet::wire::ethernet::{EthernetFrame, EthernetRepr};
use xdpnet::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use xdpnet::wire::tcp::{TcpControl, TcpPacket, TcpRepr, TcpSeqNumber, TcpTimestampRepr};
use xdpnet::wire::{EtherType, IpProtocol};

/// Our stack's address in raw tests.
pub const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The hand-driven peer's address.
pub const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// A segment the stack sent, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seg {
    pub src_port: u16,
    pub dst_port: u16,
    pub control: TcpControl,
    pub seq: u32,
    pub ack: Option<u32>,
    pub window: u16,
    pub window_scale: Option<u8>,
    pub mss: Option<u16>,
    pub sack_permitted: bool,
    pub sack: Vec<(u32, u32)>,
    pub ts: Option<(u32, u32)>,
    pub payload: Vec<u8>,
}

/// A segment to inject, by struct update from [`Inject::new`].
#[derive(Debug, Clone)]
pub struct Inject {
    pub src_port: u16,
    pub dst_port: u16,
    pub control: TcpControl,
    pub seq: u32,
    pub ack: Option<u32>,
    pub window: u16,
    pub window_scale: Option<u8>,
    pub mss: Option<u16>,
    pub sack_permitted: bool,
    pub sack: Vec<(u32, u32)>,
    pub ts: Option<(u32, u32)>,
    pub payload: Vec<u8>,
}

impl Inject {
    /// A plain segment from the peer's port 40000 to our `port`.
    pub fn new(port: u16) -> Inject {
        Inject {
            src_port: 40000,
            dst_port: port,
            control: TcpControl::None,
            seq: 0,
            ack: None,
            window: 65535,
            window_scale: None,
            mss: None,
            sack_permitted: false,
            sack: Vec::new(),
            ts: None,
            payload: Vec::new(),
        }
    }
}

/// A stack on a channel, with the peer's MAC statically known.
pub struct RawHost {
    pub stack: Stack,
    pub link: ChannelHandle,
    pub now: Instant,
}

impl RawHost {
    /// A stack at 198.18.0.1 whose peer 198.18.0.2 is driven by the test.
    pub fn new(mtu: usize) -> RawHost {
        let (ep, link) = Channel::new(mac(1), mtu, Capabilities::RESOLUTION_REQUIRED);
        let mut stack = Stack::default();
        let nic = stack.add_nic("eth0", ep);
        stack
            .add_address(nic, "198.18.0.1/24".parse().unwrap())
            .unwrap();
        stack
            .add_static_neighbor(nic, IpAddr::V4(PEER), mac(2))
            .unwrap();
        RawHost {
            stack,
            link,
            now: Instant::from_secs(100),
        }
    }

    /// Deliver a segment from the peer and poll.
    pub fn send(&mut self, s: &Inject) {
        self.inject(s);
        self.stack.poll(self.now);
    }

    /// Put one segment on the link without polling, so that several
    /// arrive in one poll's batch.
    pub fn inject(&mut self, s: &Inject) {
        let sack: [Option<(u32, u32)>; 4] = core::array::from_fn(|i| s.sack.get(i).copied());
        let repr = TcpRepr {
            src_port: s.src_port,
            dst_port: s.dst_port,
            control: s.control,
            seq_number: TcpSeqNumber::from(s.seq),
            ack_number: s.ack.map(TcpSeqNumber::from),
            window_len: s.window,
            window_scale: s.window_scale,
            max_seg_size: s.mss,
            sack_permitted: s.sack_permitted,
            sack_ranges: sack,
            timestamp: s.ts.map(|(tsval, tsecr)| TcpTimestampRepr { tsval, tsecr }),
            payload: &s.payload,
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
        let mut frame = vec![0u8; 14 + 20 + tcp_len];
        EthernetRepr {
            src_addr: mac(2),
            dst_addr: mac(1),
            ethertype: EtherType::Ipv4,
            vlan: None,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut frame[14..34]));
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut frame[34..]),
            &IpAddr::V4(PEER),
            &IpAddr::V4(US),
            true,
        );
        self.link.inject_inbound(&frame);
    }

    /// Poll at the current time.
    pub fn poll(&mut self) {
        self.stack.poll(self.now);
    }

    /// Move the clock by `d` and poll.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.stack.poll(self.now);
    }

    /// Take the TCP segments the stack sent.
    pub fn recv(&mut self) -> Vec<Seg> {
        let mut out = Vec::new();
        for f in self.link.take_outbound() {
            let Ok(eth) = EthernetFrame::new_checked(f.as_slice()) else {
                continue;
            };
            if eth.payload_ethertype() != EtherType::Ipv4 {
                continue;
            }
            let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
                continue;
            };
            if ip.next_header() != IpProtocol::Tcp {
                continue;
            }
            let tcp = TcpPacket::new_checked(ip.payload()).expect("tcp");
            let r = TcpRepr::parse(&tcp, &IpAddr::V4(US), &IpAddr::V4(PEER), true)
                .expect("valid TCP from the stack");
            out.push(Seg {
                src_port: r.src_port,
                dst_port: r.dst_port,
                control: r.control,
                seq: r.seq_number.as_u32(),
                ack: r.ack_number.map(|a| a.as_u32()),
                window: r.window_len,
                window_scale: r.window_scale,
                mss: r.max_seg_size,
                sack_permitted: r.sack_permitted,
                sack: r.sack_ranges.iter().flatten().copied().collect(),
                ts: r.timestamp.map(|t| (t.tsval, t.tsecr)),
                payload: r.payload.to_vec(),
            });
        }
        out
    }

    /// Listen on `port` and complete a passive open with the peer (ISN
    /// 1000, no options); returns the accepted connection and the ACK
    /// number the peer's segments carry.
    pub fn passive_open(&mut self, port: u16) -> (Handle, Option<u32>) {
        let l = self
            .stack
            .tcp_listen(SocketAddr::new(IpAddr::V4(US), port), 8)
            .unwrap();
        self.send(&Inject {
            control: TcpControl::Syn,
            seq: 1000,
            ..Inject::new(port)
        });
        let sa = self.recv_one();
        let ack = Some(sa.seq.wrapping_add(1));
        self.send(&Inject {
            seq: 1001,
            ack,
            ..Inject::new(port)
        });
        (self.stack.tcp_accept(l).expect("accepted"), ack)
    }

    /// Take exactly one segment.
    pub fn recv_one(&mut self) -> Seg {
        let mut v = self.recv();
        assert_eq!(v.len(), 1, "expected one segment, got {v:#?}");
        v.remove(0)
    }
}

// ---- lossy, delayed pipes ---------------------------------------------------

use xdpnet::link::fault::{Direction, Fault, FaultConfig};

/// Client and server stacks (as [`two_hosts`]) whose links apply `client`
/// and `server` to the frames each sends.
pub fn fault_hosts(mtu: usize, client: FaultConfig, server: FaultConfig) -> (Stack, Stack) {
    let (la, lb) = pipe_pair(mtu);
    let fa = Fault::new(la, client).expect("fault config");
    let fb = Fault::new(lb, server).expect("fault config");
    (
        host(fa, &["198.18.0.1/24", "2001:2::1/64"]),
        host(fb, &["198.18.0.2/24", "2001:2::2/64"]),
    )
}

/// Faults on the frames a link sends: held `one_way`, plus up to `jitter`
/// (which reorders), dropped with probability `drop`.
pub fn tx_faults(one_way: Duration, jitter: Duration, drop: f64, seed: u64) -> FaultConfig {
    FaultConfig {
        drop,
        delay: one_way,
        jitter,
        seed,
        direction: Direction::Tx,
        limit: 100_000,
        ..FaultConfig::default()
    }
}

/// Client and server stacks (as [`two_hosts`]) whose links each delay
/// their outgoing frames by `one_way` and drop them with probability
/// `drop` (seeded; the two directions use different seeds). The round
/// trip time is `2 * one_way`.
pub fn lossy_hosts(mtu: usize, one_way: Duration, drop: f64, seed: u64) -> (Stack, Stack) {
    fault_hosts(
        mtu,
        tx_faults(one_way, Duration::ZERO, drop, seed),
        tx_faults(one_way, Duration::ZERO, drop, seed ^ 0x5555),
    )
}

/// The bulk-transfer case many tests and the fault bench share: `a`
/// connects to `b`'s 198.18.0.2:80 over delaying links
/// ([`connect_delayed`]), sends `len` bytes of [`payload`]`(len, seed)` in
/// 1 ms clock steps within `deadline` of fake time, and the test fails
/// unless `b` got them intact. Returns the client's and the server's
/// connection and the fake time the transfer took.
pub fn bulk_transfer(
    a: &mut Stack,
    b: &mut Stack,
    len: usize,
    seed: u32,
    now: &mut Instant,
    deadline: Duration,
) -> (Handle, Handle, Duration) {
    let (c, s, _l) = connect_delayed(a, b, "198.18.0.2:80", now);
    let data = payload(len, seed);
    let (got, took) = transfer(a, c, b, s, &data, now, Duration::from_millis(1), deadline);
    assert!(got == data, "data intact");
    (c, s, took)
}

/// [`connect`] over links that delay frames: the clock advances in 1 ms
/// steps until both ends are ESTABLISHED (within 10 s of fake time).
pub fn connect_delayed(
    a: &mut Stack,
    b: &mut Stack,
    server: &str,
    now: &mut Instant,
) -> (Handle, Handle, Handle) {
    let server = sock(server);
    let l = b.tcp_listen(server, 16).expect("listen");
    let c = a.tcp_connect(server, None, *now).expect("connect");
    let end = *now + Duration::from_secs(10);
    loop {
        settle(a, b, *now);
        if let Some(s) = b.tcp_accept(l) {
            settle(a, b, *now);
            if a.tcp_state(c) == TcpState::Established {
                return (c, s, l);
            }
            // The handshake's last ACK is still in flight at the server
            // side only if accept ran early; wait for the client.
            while a.tcp_state(c) != TcpState::Established {
                *now += Duration::from_millis(1);
                settle(a, b, *now);
                assert!(*now < end, "handshake did not complete");
            }
            return (c, s, l);
        }
        *now += Duration::from_millis(1);
        assert!(*now < end, "handshake did not complete");
    }
}

// ---- a link that drops chosen TCP segments by sequence number --------------

use std::sync::{Arc, Mutex};
use xdpnet::buffer::{PacketBatch, PacketBuffer};

/// What a [`SeqFilter`] saw: the ISN of the first SYN it sent and, for
/// each watched segment (by offset from ISN + 1), when a copy passed or
/// was dropped.
#[derive(Debug, Default)]
pub struct FilterLog {
    /// The sender's initial sequence number.
    pub isn: Option<u32>,
    /// (offset, drops still to do).
    pub rules: Vec<(u32, u32)>,
    /// (offset, delay): the first transmission of that segment is held
    /// back this long (reordering), later ones pass.
    pub holds: Vec<(u32, Duration)>,
    /// (offset, time, dropped) for every transmission of a watched offset.
    pub events: Vec<(u32, Instant, bool)>,
    /// Data segments (with payload) written, all offsets.
    pub data_frames: u64,
    /// (offset, length): when the segment at that offset is first sent,
    /// the other direction (the receiver's ACKs) stalls this long — every
    /// frame the receiver writes meanwhile is held and then released in
    /// order (an ACK-path delay spike). See [`Stall`].
    pub stall: Option<(u32, Duration)>,
    /// When the stall began and ends, once triggered.
    pub stall_window: Option<(Instant, Instant)>,
}

impl FilterLog {
    /// Times the segment at `offset` was transmitted (dropped or not).
    pub fn sends(&self, offset: u32) -> Vec<(Instant, bool)> {
        self.events
            .iter()
            .filter(|e| e.0 == offset)
            .map(|e| (e.1, e.2))
            .collect()
    }
}

/// A link wrapper that drops outgoing IPv4 TCP segments whose sequence
/// number is ISN + 1 + offset, as many times as each rule says, and holds
/// back (delays) the first transmission of the offsets in `holds`.
pub struct SeqFilter<L: LinkEndpoint> {
    inner: L,
    log: Arc<Mutex<FilterLog>>,
    held: Vec<(Instant, PacketBuffer)>,
}

impl<L: LinkEndpoint> SeqFilter<L> {
    /// Wrap `inner`; drop the segment at each `(offset, times)` `times`
    /// times. Returns the link and a handle on its log.
    pub fn new(inner: L, rules: &[(u32, u32)]) -> (Self, Arc<Mutex<FilterLog>>) {
        let log = Arc::new(Mutex::new(FilterLog {
            rules: rules.to_vec(),
            ..FilterLog::default()
        }));
        (
            SeqFilter {
                inner,
                log: log.clone(),
                held: Vec::new(),
            },
            log,
        )
    }
}

impl<L: LinkEndpoint> SeqFilter<L> {
    /// Send the held frames whose time has come.
    fn release_held(&mut self, now: Instant) {
        if self.held.iter().all(|(t, _)| *t > now) {
            return;
        }
        let (due, wait): (Vec<_>, Vec<_>) = self.held.drain(..).partition(|(t, _)| *t <= now);
        self.held = wait;
        let mut out: PacketBatch = due.into_iter().map(|(_, f)| f).collect();
        self.inner.write_packets(&mut out, now);
    }
}

/// (seq, SYN, payload length) of an Ethernet/IPv4/TCP frame.
fn tcp_seq(frame: &[u8]) -> Option<(u32, bool, usize)> {
    if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] || frame[14 + 9] != 6 {
        return None;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    let tcp = frame.get(14 + ihl..14 + total)?;
    if tcp.len() < 20 {
        return None;
    }
    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    let doff = usize::from(tcp[12] >> 4) * 4;
    let syn = tcp[13] & 0x02 != 0;
    Some((seq, syn, tcp.len().saturating_sub(doff)))
}

impl<L: LinkEndpoint> LinkEndpoint for SeqFilter<L> {
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn max_header_len(&self) -> usize {
        self.inner.max_header_len()
    }
    fn link_address(&self) -> EthernetAddress {
        self.inner.link_address()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn gso_max_size(&self) -> usize {
        self.inner.gso_max_size()
    }
    fn write_packets(&mut self, batch: &mut PacketBatch, now: Instant) -> usize {
        self.release_held(now);
        let mut log = self.log.lock().unwrap();
        let before = batch.len();
        let mut kept = PacketBatch::new();
        for f in batch.drain(..) {
            let Some((seq, syn, len)) = tcp_seq(f.as_slice()) else {
                kept.push(f);
                continue;
            };
            if syn {
                log.isn.get_or_insert(seq);
                kept.push(f);
                continue;
            }
            let Some(isn) = log.isn else {
                kept.push(f);
                continue;
            };
            if len == 0 {
                kept.push(f);
                continue;
            }
            log.data_frames += 1;
            let off = seq.wrapping_sub(isn.wrapping_add(1));
            if let Some((at, d)) = log.stall {
                if at == off && log.stall_window.is_none() {
                    log.stall_window = Some((now, now + d));
                }
            }
            if let Some(i) = log.holds.iter().position(|h| h.0 == off) {
                let (_, d) = log.holds.remove(i);
                log.events.push((off, now, false));
                self.held.push((now + d, f));
                continue;
            }
            let Some(rule) = log.rules.iter_mut().find(|r| r.0 == off) else {
                kept.push(f);
                continue;
            };
            let drop = rule.1 > 0;
            rule.1 = rule.1.saturating_sub(1);
            log.events.push((off, now, drop));
            if !drop {
                kept.push(f);
            }
        }
        *batch = kept;
        let taken = before - batch.len();
        drop(log);
        taken + self.inner.write_packets(batch, now)
    }
    fn read_packets(&mut self, batch: &mut PacketBatch, budget: usize, now: Instant) -> usize {
        self.release_held(now);
        self.inner.read_packets(batch, budget, now)
    }
}

/// The receiving side's link in [`filtered_hosts`]: while the stall window
/// its client's [`SeqFilter`] opened is on, every frame written is held
/// back until the window ends, then sent in order.
pub struct Stall<L: LinkEndpoint> {
    inner: L,
    log: Arc<Mutex<FilterLog>>,
    held: PacketBatch,
    until: Option<Instant>,
}

impl<L: LinkEndpoint> Stall<L> {
    /// Wrap `inner`, watching `log` for the stall window.
    pub fn new(inner: L, log: Arc<Mutex<FilterLog>>) -> Self {
        Stall {
            inner,
            log,
            held: PacketBatch::new(),
            until: None,
        }
    }

    /// Send what was held once the window is over.
    fn release(&mut self, now: Instant) {
        if self.until.is_some_and(|u| u <= now) {
            self.until = None;
            let mut out = std::mem::take(&mut self.held);
            self.inner.write_packets(&mut out, now);
        }
    }
}

impl<L: LinkEndpoint> LinkEndpoint for Stall<L> {
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn max_header_len(&self) -> usize {
        self.inner.max_header_len()
    }
    fn link_address(&self) -> EthernetAddress {
        self.inner.link_address()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn gso_max_size(&self) -> usize {
        self.inner.gso_max_size()
    }
    fn write_packets(&mut self, batch: &mut PacketBatch, now: Instant) -> usize {
        self.release(now);
        let window = self.log.lock().unwrap().stall_window;
        if let Some((from, until)) = window {
            if from <= now && now < until {
                self.until = Some(until);
                let n = batch.len();
                self.held.append(batch);
                return n;
            }
        }
        self.inner.write_packets(batch, now)
    }
    fn read_packets(&mut self, batch: &mut PacketBatch, budget: usize, now: Instant) -> usize {
        self.release(now);
        self.inner.read_packets(batch, budget, now)
    }
}

/// Move `len` bytes client → server over [`filtered_hosts`] pipes: the
/// client's segments dropped as `rules` say and held back as `holds` say,
/// its TCP settings changed by `client` before it connects. Checks every
/// byte; returns the time taken, the client's info and stack counters,
/// and the filter log.
pub fn filtered_transfer_with(
    one_way: Duration,
    len: usize,
    rules: &[(u32, u32)],
    holds: &[(u32, Duration)],
    client: impl FnOnce(&mut xdpnet::transport::tcp::TcpConfig),
) -> (
    Duration,
    xdpnet::transport::tcp::TcpInfo,
    xdpnet::transport::tcp::TcpStats,
    Arc<Mutex<FilterLog>>,
) {
    filtered_transfer_observed(one_way, len, rules, holds, None, client, &mut |_| {})
}

/// [`filtered_transfer_with`], and the server's ACKs stalled as
/// `stall` says ([`FilterLog::stall`]); `observe` sees the client's
/// [`TcpInfo`](xdpnet::transport::tcp::TcpInfo) after every poll.
pub fn filtered_transfer_observed(
    one_way: Duration,
    len: usize,
    rules: &[(u32, u32)],
    holds: &[(u32, Duration)],
    stall: Option<(u32, Duration)>,
    client: impl FnOnce(&mut xdpnet::transport::tcp::TcpConfig),
    observe: &mut dyn FnMut(&xdpnet::transport::tcp::TcpInfo),
) -> (
    Duration,
    xdpnet::transport::tcp::TcpInfo,
    xdpnet::transport::tcp::TcpStats,
    Arc<Mutex<FilterLog>>,
) {
    let (mut a, mut b, log) = filtered_hosts(one_way, rules);
    log.lock().unwrap().holds = holds.to_vec();
    log.lock().unwrap().stall = stall;
    client(a.tcp_config_mut());
    let mut now = Instant::from_secs(1);
    let (c, s, _l) = connect_delayed(&mut a, &mut b, "198.18.0.2:80", &mut now);
    let data = payload(len, 17);
    let (got, took) = transfer_observed(
        &mut a,
        c,
        &mut b,
        s,
        &data,
        &mut now,
        Duration::from_millis(1),
        Duration::from_secs(60),
        &mut |st, h| {
            if let Some(i) = st.tcp_info(h) {
                observe(&i);
            }
        },
    );
    assert!(got == data, "data intact");
    (took, a.tcp_info(c).unwrap(), *a.tcp_stats(), log)
}

/// Client and server on a pipe with `one_way` delay each way, the
/// client's segments at the given offsets dropped as [`SeqFilter`] says,
/// the server's frames stalled as [`Stall`] says.
pub fn filtered_hosts(
    one_way: Duration,
    rules: &[(u32, u32)],
) -> (Stack, Stack, Arc<Mutex<FilterLog>>) {
    let (la, lb) = pipe_pair(1500);
    let delay = |seed| FaultConfig {
        delay: one_way,
        seed,
        direction: Direction::Tx,
        limit: 100_000,
        ..FaultConfig::default()
    };
    let fa = Fault::new(la, delay(1)).expect("fault config");
    let fb = Fault::new(lb, delay(2)).expect("fault config");
    let (fa, log) = SeqFilter::new(fa, rules);
    let fb = Stall::new(fb, log.clone());
    (
        host(fa, &["198.18.0.1/24"]),
        host(fb, &["198.18.0.2/24"]),
        log,
    )
}
