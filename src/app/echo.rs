//! `xdpnet echo`: TCP and UDP echo (RFC 862) on the sharded stack.
//!
//! The workers, links, steering, stats lines and the interface/worker part
//! of the summary are the router's ([`RouterApp`] with
//! [`RouterApp::with_apps`], forwarding off); this module adds the
//! per-shard application ([`EchoShard`], a [`ShardApp`]) and the echo
//! counters ([`EchoSummary`]).
//!
//! Per shard: a TCP listener on the port (every shard opens its own: the
//! demux hands each SYN to the shard owning the flow), an accept loop, and
//! per connection a bounded buffer of bytes read but not yet sent: bytes
//! are read only while the buffer has room, so a peer that does not read
//! its echo is slowed down by TCP flow control instead of growing memory.
//! When the peer closes and everything is echoed, the connection is closed.
//! A UDP endpoint on the same port sends every datagram back to its sender.
//! Each shard seeds its TCP secret (ISS, timestamps, SYN cookies) from the
//! OS (`getrandom(2)`).

use core::fmt;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant as WallClock};

use serde_json::{json, Value};

use super::router::{RouterApp, RouterError, RouterSummary};
use super::stats_clock::StatsClock;
use crate::stack::Stack;
use crate::time::Instant;
use crate::transport::tcp::TcpError;
use crate::transport::Handle;
use crate::worker::runtime::ShardApp;

/// Default echo port (RFC 862).
pub const DEFAULT_PORT: u16 = 7;

/// Bytes a connection holds that were read but not yet echoed.
pub const PENDING_LIMIT: usize = 256 * 1024;

/// Accept queue / SYN backlog of each shard's listener.
pub const BACKLOG: usize = 1024;

/// A 64-bit secret from the OS entropy pool (`getrandom(2)` through
/// `rand`'s `OsRng`; `/dev/urandom` if that fails).
pub fn os_secret() -> u64 {
    use rand::RngCore;
    let mut b = [0u8; 8];
    if rand::rngs::OsRng.try_fill_bytes(&mut b).is_err() {
        use std::io::Read;
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            let _ = f.read_exact(&mut b);
        }
    }
    u64::from_ne_bytes(b)
}

/// Counters of one shard, written by its worker, read by the main thread.
#[derive(Debug, Default)]
pub struct EchoCounters {
    /// TCP connections accepted.
    pub accepted: AtomicU64,
    /// TCP connections finished (closed by us after the peer closed, reset
    /// or failed).
    pub closed: AtomicU64,
    /// TCP connections failed (reset, timeout).
    pub failed: AtomicU64,
    /// TCP payload bytes received.
    pub tcp_bytes_in: AtomicU64,
    /// TCP payload bytes echoed (taken by the send buffer).
    pub tcp_bytes_out: AtomicU64,
    /// UDP datagrams received.
    pub udp_in: AtomicU64,
    /// UDP datagrams echoed.
    pub udp_out: AtomicU64,
    /// UDP payload bytes received.
    pub udp_bytes_in: AtomicU64,
    /// UDP payload bytes echoed.
    pub udp_bytes_out: AtomicU64,
    /// Segments retransmitted (the stack's `RetransSegs`).
    pub retransmitted_segs: AtomicU64,
    /// Fast retransmit episodes.
    pub fast_retransmits: AtomicU64,
    /// Retransmission timeouts.
    pub timeouts: AtomicU64,
    /// Segments failing the sequence test (`out_of_window`).
    pub out_of_window: AtomicU64,
    /// Segments rejected by PAWS.
    pub paws_rejected: AtomicU64,
    /// Out-of-order segments dropped by the reassembly bound.
    pub ooo_dropped: AtomicU64,
    /// Resets received.
    pub resets_received: AtomicU64,
    /// Whether the listener and the UDP endpoint are open.
    pub listening: AtomicBool,
}

/// A snapshot of the echo counters (summed over shards).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoTotals {
    /// TCP connections accepted.
    pub accepted: u64,
    /// TCP connections finished.
    pub closed: u64,
    /// TCP connections failed (among the finished).
    pub failed: u64,
    /// TCP payload bytes received.
    pub tcp_bytes_in: u64,
    /// TCP payload bytes echoed.
    pub tcp_bytes_out: u64,
    /// UDP datagrams received.
    pub udp_in: u64,
    /// UDP datagrams echoed.
    pub udp_out: u64,
    /// UDP payload bytes received.
    pub udp_bytes_in: u64,
    /// UDP payload bytes echoed.
    pub udp_bytes_out: u64,
    /// Segments retransmitted.
    pub retransmitted_segs: u64,
    /// Fast retransmit episodes.
    pub fast_retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Segments failing the sequence test.
    pub out_of_window: u64,
    /// Segments rejected by PAWS.
    pub paws_rejected: u64,
    /// Out-of-order segments dropped by the reassembly bound.
    pub ooo_dropped: u64,
    /// Resets received.
    pub resets_received: u64,
    /// Shards listening.
    pub listening: usize,
}

impl EchoTotals {
    /// Sum of every shard's counters.
    pub fn read(shards: &[Arc<EchoCounters>]) -> EchoTotals {
        let mut t = EchoTotals::default();
        for c in shards {
            let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
            t.accepted += g(&c.accepted);
            t.closed += g(&c.closed);
            t.failed += g(&c.failed);
            t.tcp_bytes_in += g(&c.tcp_bytes_in);
            t.tcp_bytes_out += g(&c.tcp_bytes_out);
            t.udp_in += g(&c.udp_in);
            t.udp_out += g(&c.udp_out);
            t.udp_bytes_in += g(&c.udp_bytes_in);
            t.udp_bytes_out += g(&c.udp_bytes_out);
            t.retransmitted_segs += g(&c.retransmitted_segs);
            t.fast_retransmits += g(&c.fast_retransmits);
            t.timeouts += g(&c.timeouts);
            t.out_of_window += g(&c.out_of_window);
            t.paws_rejected += g(&c.paws_rejected);
            t.ooo_dropped += g(&c.ooo_dropped);
            t.resets_received += g(&c.resets_received);
            t.listening += usize::from(c.listening.load(Ordering::Relaxed));
        }
        t
    }

    /// Connections accepted and not finished yet.
    pub fn active(&self) -> u64 {
        self.accepted.saturating_sub(self.closed)
    }
}

/// One echoed connection.
#[derive(Debug)]
struct Conn {
    h: Handle,
    /// Read, not yet echoed: `pending[head..]`.
    pending: Vec<u8>,
    head: usize,
    /// The peer closed its side (recv returned 0).
    eof: bool,
}

impl Conn {
    fn queued(&self) -> usize {
        self.pending.len() - self.head
    }
}

/// The echo application of one shard.
#[derive(Debug)]
pub struct EchoShard {
    port: u16,
    counters: Arc<EchoCounters>,
    listener: Option<Handle>,
    udp: Option<Handle>,
    conns: Vec<Conn>,
    scratch: Vec<u8>,
}

impl EchoShard {
    /// An echo app on `port` publishing into `counters`.
    pub fn new(port: u16, counters: Arc<EchoCounters>) -> EchoShard {
        EchoShard {
            port,
            counters,
            listener: None,
            udp: None,
            conns: Vec::new(),
            scratch: vec![0; 64 * 1024],
        }
    }

    /// Echo what can be echoed on one connection; returns (did work,
    /// finished).
    fn service(&mut self, stack: &mut Stack, i: usize, now: Instant) -> (bool, bool) {
        let c = &mut self.conns[i];
        let mut did = false;
        loop {
            // Send what is pending.
            while c.queued() > 0 && stack.tcp_writable(c.h) {
                match stack.tcp_send(c.h, &c.pending[c.head..], now) {
                    Ok(n) if n > 0 => {
                        c.head += n;
                        did = true;
                        self.counters
                            .tcp_bytes_out
                            .fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Ok(_) | Err(TcpError::WouldBlock) => break,
                    Err(_) => {
                        let _ = stack.tcp_abort(c.h);
                        self.counters.failed.fetch_add(1, Ordering::Relaxed);
                        return (true, true);
                    }
                }
            }
            if c.queued() == 0 {
                c.pending.clear();
                c.head = 0;
            } else if c.head > PENDING_LIMIT / 2 {
                c.pending.drain(..c.head);
                c.head = 0;
            }
            // Read while there is room.
            let room = PENDING_LIMIT.saturating_sub(c.queued());
            if c.eof || room == 0 || !stack.tcp_readable(c.h) {
                break;
            }
            let want = room.min(self.scratch.len());
            match stack.tcp_recv(c.h, &mut self.scratch[..want]) {
                Ok(0) => {
                    c.eof = true;
                    did = true;
                }
                Ok(n) => {
                    did = true;
                    self.counters
                        .tcp_bytes_in
                        .fetch_add(n as u64, Ordering::Relaxed);
                    c.pending.extend_from_slice(&self.scratch[..n]);
                }
                Err(TcpError::WouldBlock) => break,
                Err(_) => {
                    let _ = stack.tcp_abort(c.h);
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    return (true, true);
                }
            }
        }
        if c.eof && c.queued() == 0 {
            // Everything echoed: a FIN follows the data.
            let _ = stack.tcp_close(c.h);
            return (true, true);
        }
        if stack.tcp_closed(c.h) {
            // Reset or timed out under us.
            let _ = stack.tcp_abort(c.h);
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            return (true, true);
        }
        (did, false)
    }
}

impl ShardApp for EchoShard {
    fn start(&mut self, stack: &mut Stack, _shard: usize, _now: Instant) {
        stack.tcp_config_mut().secret = os_secret();
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), self.port);
        self.listener = stack.tcp_listen(any, BACKLOG).ok();
        self.udp = stack.udp_bind(any).ok();
        self.counters.listening.store(
            self.listener.is_some() && self.udp.is_some(),
            Ordering::Relaxed,
        );
    }

    fn poll(&mut self, stack: &mut Stack, now: Instant) -> bool {
        let mut did = false;
        if let Some(l) = self.listener {
            while let Some(h) = stack.tcp_accept(l) {
                let _ = stack.tcp_set_nodelay(h, true);
                self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                self.conns.push(Conn {
                    h,
                    pending: Vec::new(),
                    head: 0,
                    eof: false,
                });
                did = true;
            }
        }
        let mut i = 0;
        while i < self.conns.len() {
            let (d, finished) = self.service(stack, i, now);
            did |= d;
            if finished {
                self.conns.swap_remove(i);
                self.counters.closed.fetch_add(1, Ordering::Relaxed);
            } else {
                i += 1;
            }
        }
        if let Some(u) = self.udp {
            while let Some(d) = stack.udp_recv(u) {
                did = true;
                let p = d.payload.as_slice();
                self.counters.udp_in.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .udp_bytes_in
                    .fetch_add(p.len() as u64, Ordering::Relaxed);
                if stack.udp_send_to(u, p, d.src, now).is_ok() {
                    self.counters.udp_out.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .udp_bytes_out
                        .fetch_add(p.len() as u64, Ordering::Relaxed);
                }
            }
        }
        let s = stack.tcp_stats();
        self.counters
            .retransmitted_segs
            .store(s.retransmitted_segs, Ordering::Relaxed);
        self.counters
            .fast_retransmits
            .store(s.fast_retransmits, Ordering::Relaxed);
        self.counters.timeouts.store(s.timeouts, Ordering::Relaxed);
        self.counters
            .out_of_window
            .store(s.out_of_window, Ordering::Relaxed);
        self.counters
            .paws_rejected
            .store(s.paws_rejected, Ordering::Relaxed);
        self.counters
            .ooo_dropped
            .store(s.ooo_dropped, Ordering::Relaxed);
        self.counters
            .resets_received
            .store(s.resets_received, Ordering::Relaxed);
        if did {
            // Echoes leave in this iteration, not the next poll's.
            stack.flush(now);
        }
        did
    }

    fn stop(&mut self, stack: &mut Stack) {
        for c in self.conns.drain(..) {
            let _ = stack.tcp_abort(c.h);
        }
        if let Some(l) = self.listener.take() {
            let _ = stack.tcp_close(l);
        }
        if let Some(u) = self.udp.take() {
            stack.udp_close(u);
        }
    }
}

/// What `xdpnet echo` did.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoSummary {
    /// The port served.
    pub port: u16,
    /// The echo counters.
    pub echo: EchoTotals,
    /// Workers, links, interfaces and drops (the router's summary).
    pub base: RouterSummary,
}

impl fmt::Display for EchoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.echo;
        let secs = self.base.duration_secs.max(1e-9);
        let t = super::router::thousands;
        // The router's block, without its forwarding line, then ours.
        let base = self.base.to_string();
        for line in base.lines() {
            if !line.starts_with("Packets forwarded") {
                writeln!(f, "{line}")?;
            }
        }
        writeln!(f, "Echo port           : {} (tcp, udp)", self.port)?;
        writeln!(
            f,
            "TCP connections     : {} accepted, {} active, {} closed ({} failed)",
            t(e.accepted),
            t(e.active()),
            t(e.closed),
            t(e.failed)
        )?;
        writeln!(
            f,
            "TCP bytes           : {} in, {} out ({:.1} Mbit/s in avg)",
            t(e.tcp_bytes_in),
            t(e.tcp_bytes_out),
            e.tcp_bytes_in as f64 * 8.0 / secs / 1e6
        )?;
        writeln!(
            f,
            "TCP retransmits     : {} segments ({} fast retransmits, {} timeouts)",
            t(e.retransmitted_segs),
            t(e.fast_retransmits),
            t(e.timeouts)
        )?;
        writeln!(
            f,
            "TCP rx anomalies    : {} out-of-window, {} PAWS-rejected, {} out-of-order dropped, {} resets received",
            t(e.out_of_window),
            t(e.paws_rejected),
            t(e.ooo_dropped),
            t(e.resets_received)
        )?;
        writeln!(
            f,
            "UDP datagrams       : {} in, {} out ({} bytes in, {} out)",
            t(e.udp_in),
            t(e.udp_out),
            t(e.udp_bytes_in),
            t(e.udp_bytes_out)
        )
    }
}

impl EchoSummary {
    /// The summary as one JSON document.
    pub fn to_json(&self) -> Value {
        let e = &self.echo;
        let mut v = self.base.to_json();
        v["command"] = json!("echo");
        v["echo"] = json!({
            "port": self.port,
            "tcp_accepted": e.accepted,
            "tcp_active": e.active(),
            "tcp_closed": e.closed,
            "tcp_failed": e.failed,
            "tcp_bytes_in": e.tcp_bytes_in,
            "tcp_bytes_out": e.tcp_bytes_out,
            "tcp_retransmitted_segs": e.retransmitted_segs,
            "tcp_fast_retransmits": e.fast_retransmits,
            "tcp_timeouts": e.timeouts,
            "tcp_out_of_window": e.out_of_window,
            "tcp_paws_rejected": e.paws_rejected,
            "tcp_ooo_dropped": e.ooo_dropped,
            "tcp_resets_received": e.resets_received,
            "udp_in": e.udp_in,
            "udp_out": e.udp_out,
            "udp_bytes_in": e.udp_bytes_in,
            "udp_bytes_out": e.udp_bytes_out,
        });
        v
    }
}

/// The echo line of one interval: connections and TCP/UDP rates.
fn echo_line(now: &EchoTotals, prev: &EchoTotals, secs: f64) -> String {
    let d = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
    format!(
        "{:<15} {:>6} conns {:>8} acc/s {:>10.1} Mbit/s in {:>10.1} Mbit/s out {:>9} udp/s {:>7} retx/s\n",
        "echo",
        super::router::thousands(now.active()),
        super::router::thousands(d(now.accepted, prev.accepted).round() as u64),
        d(now.tcp_bytes_in, prev.tcp_bytes_in) * 8.0 / 1e6,
        d(now.tcp_bytes_out, prev.tcp_bytes_out) * 8.0 / 1e6,
        super::router::thousands(d(now.udp_in, prev.udp_in).round() as u64),
        super::router::thousands(d(now.retransmitted_segs, prev.retransmitted_segs).round() as u64),
    )
}

/// Run `app` (a [`RouterApp`] for the echo host) with an [`EchoShard`] on
/// every shard: print the placement, the steering attachments, stats lines
/// every `interval` seconds (router lines plus one `echo` line; none with
/// `quiet`), stop on `stop`, after `duration`, or when a worker dies.
pub fn run_echo(
    app: RouterApp,
    port: u16,
    interval: f64,
    duration: Option<f64>,
    quiet: bool,
    stop: Arc<AtomicBool>,
    out: &mut dyn Write,
) -> Result<EchoSummary, RouterError> {
    let n = app.placement().n_workers();
    let shards: Vec<Arc<EchoCounters>> = (0..n).map(|_| Arc::default()).collect();
    let per_shard = shards.clone();
    let app = app.with_forwarding(false).with_apps(Box::new(move |i| {
        Box::new(EchoShard::new(port, per_shard[i].clone())) as Box<dyn ShardApp>
    }));
    if !quiet {
        let _ = write!(out, "{}", app.placement());
        for a in app.attachments() {
            let _ = writeln!(out, "{a}");
        }
    }
    let mut running = app.start(stop.clone())?;
    if !quiet {
        let _ = writeln!(
            out,
            "echo on port {port} (tcp, udp) on {}; Ctrl-C to stop",
            running.runtime().placement().ifnames.join(", ")
        );
        let _ = out.flush();
    }
    let start = WallClock::now();
    let tick = StdDuration::from_millis(20);
    let duration = duration.map(StdDuration::from_secs_f64);
    let mut clock = StatsClock::new(start, interval);
    running.sample();
    let mut prev = EchoTotals::read(&shards);
    loop {
        if stop.load(Ordering::Relaxed) || running.runtime().any_finished() {
            break;
        }
        if duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        std::thread::sleep(tick);
        if let Some(secs) = clock.due(WallClock::now()) {
            let s = running.sample();
            let cur = EchoTotals::read(&shards);
            if !quiet {
                let _ = write!(out, "{s}{}", echo_line(&cur, &prev, secs));
                let _ = out.flush();
            }
            prev = cur;
        }
    }
    let base = running.stop()?;
    Ok(EchoSummary {
        port,
        echo: EchoTotals::read(&shards),
        base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::pipe::{Pipe, PipeConfig};
    use crate::time::Duration;
    use crate::wire::EthernetAddress;

    #[test]
    fn secrets_differ() {
        assert_ne!(os_secret(), os_secret());
    }

    #[test]
    fn active_is_accepted_minus_closed() {
        let t = EchoTotals {
            accepted: 5,
            closed: 3,
            ..EchoTotals::default()
        };
        assert_eq!(t.active(), 2);
        let line = echo_line(&t, &EchoTotals::default(), 1.0);
        assert!(line.starts_with("echo"), "{line}");
        assert!(line.contains("5 acc/s"), "{line}");
    }

    /// A client stack and an echo stack on one in-memory pipe.
    fn hosts() -> (Stack, Stack) {
        let (la, lb) = Pipe::pair(
            PipeConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1])).with_mtu(1500),
            PipeConfig::new(EthernetAddress([2, 0, 0, 0, 0, 2])).with_mtu(1500),
        );
        let mut a = Stack::default();
        let n = a.add_nic("eth0", la);
        a.add_address(n, "198.18.0.1/24".parse().unwrap()).unwrap();
        let mut b = Stack::default();
        let n = b.add_nic("eth0", lb);
        b.add_address(n, "198.18.0.2/24".parse().unwrap()).unwrap();
        (a, b)
    }

    /// Poll both sides (and the echo app) once at `now`.
    fn step(a: &mut Stack, b: &mut Stack, app: &mut EchoShard, now: Instant) -> bool {
        let mut did = a.poll(now);
        did |= b.poll(now);
        did |= app.poll(b, now);
        did
    }

    #[test]
    fn echoes_tcp_bytes_in_order_then_closes() {
        let (mut a, mut b) = hosts();
        let counters = Arc::new(EchoCounters::default());
        let mut app = EchoShard::new(7, counters.clone());
        let mut now = Instant::ZERO;
        app.start(&mut b, 0, now);
        assert!(counters.listening.load(Ordering::Relaxed));
        let h = a
            .tcp_connect("198.18.0.2:7".parse().unwrap(), None, now)
            .unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let (mut sent, mut got) = (0, Vec::new());
        let mut buf = vec![0u8; 65536];
        let mut shut = false;
        for _ in 0..200_000 {
            if sent < data.len() && a.tcp_writable(h) {
                if let Ok(n) = a.tcp_send(h, &data[sent..], now) {
                    sent += n;
                }
            }
            if sent == data.len() && !shut {
                a.tcp_shutdown(h).unwrap();
                shut = true;
            }
            // A slow reader: at most 16 KiB per step, so the echo buffer
            // fills and flow control has to hold the client back.
            match a.tcp_recv(h, &mut buf[..16384]) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            assert!(app.conns.iter().all(|c| c.queued() <= PENDING_LIMIT));
            if !step(&mut a, &mut b, &mut app, now) {
                now += Duration::from_millis(1);
            }
        }
        assert_eq!(got.len(), data.len());
        assert!(got == data, "echo differs");
        let t = EchoTotals::read(&[counters]);
        assert_eq!((t.accepted, t.closed, t.failed), (1, 1, 0));
        assert_eq!(t.tcp_bytes_in, data.len() as u64);
        assert_eq!(t.tcp_bytes_out, data.len() as u64);
    }

    #[test]
    fn echoes_udp_datagrams_to_their_sender() {
        let (mut a, mut b) = hosts();
        let counters = Arc::new(EchoCounters::default());
        let mut app = EchoShard::new(7, counters.clone());
        let now = Instant::ZERO;
        app.start(&mut b, 0, now);
        let u = a.udp_bind("198.18.0.1:5000".parse().unwrap()).unwrap();
        a.udp_send_to(u, b"hello", "198.18.0.2:7".parse().unwrap(), now)
            .unwrap();
        for _ in 0..100 {
            step(&mut a, &mut b, &mut app, now);
        }
        let d = a.udp_recv(u).expect("an echo");
        assert_eq!(d.payload.as_slice(), b"hello");
        assert_eq!(d.src, "198.18.0.2:7".parse().unwrap());
        let t = EchoTotals::read(&[counters]);
        assert_eq!((t.udp_in, t.udp_out, t.udp_bytes_out), (1, 1, 5));
    }
}
