//! `xdpnet tcpclient`: TCP connections from the sharded stack to an echo
//! server, with every echoed byte verified.
//!
//! The workers, links, steering, stats lines and the interface/worker part
//! of the summary are the router's ([`RouterApp`] with
//! [`RouterApp::with_apps`], forwarding off), as for `xdpnet echo`; this
//! module adds the per-shard application ([`ClientShard`], a
//! [`ShardApp`]) and the client report ([`ClientSummary`]).
//!
//! Work split: connection `i` of `conns` belongs to shard `i % workers`,
//! and each shard keeps at most its share of `parallel` connections open.
//! `tcp_connect` picks an ephemeral port whose reply hashes to the
//! connecting shard, so each connection stays on the shard that opened it.
//!
//! One connection: connect, send `bytes` of the run's pattern (below),
//! half-close (`shutdown(SHUT_WR)`: the FIN follows the data), read the
//! echo and compare every byte with what was sent, and once all `bytes`
//! came back, close. A connection fails when the stack reports an error
//! (refused, reset, timed out), when the peer closes before the whole echo
//! arrived, or when a byte differs or is extra (counted as a mismatch).
//!
//! The pattern: a table of `PATTERN_PERIOD` random bytes (a prime, so no
//! buffer or segment size is a multiple of it), stored twice so any slice
//! of up to one period is contiguous. Connection `i` starts at offset
//! `i × 7919 mod period`; byte `k` of it is `table[(start + k) mod
//! period]`. Sending is a slice of the table and verifying is a `memcmp`,
//! so neither costs more than a copy; a reordering, loss, duplication or
//! corruption shows up as a mismatch unless it moves data by an exact
//! multiple of the period (1,048,573 bytes), which no TCP error does.

use core::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant as WallClock};

use rand::{RngCore, SeedableRng};
use serde_json::{json, Value};

use super::echo::os_secret;
use super::router::{thousands, RouterApp, RouterError, RouterSummary};
use super::stats_clock::StatsClock;
use crate::stack::Stack;
use crate::time::Instant;
use crate::transport::tcp::{TcpError, TcpState};
use crate::transport::Handle;
use crate::worker::runtime::ShardApp;

/// Length of the repeating send pattern (a prime).
pub const PATTERN_PERIOD: usize = 1_048_573;

/// Largest read or write per call.
const CHUNK: usize = 64 * 1024;

/// The bytes every connection sends, shared read-only by the shards.
#[derive(Debug, Clone)]
pub struct Pattern(Arc<[u8]>);

impl Pattern {
    /// A pattern from `seed` (the same seed gives the same bytes).
    pub fn new(seed: u64) -> Pattern {
        let mut table = vec![0u8; 2 * PATTERN_PERIOD];
        rand::rngs::SmallRng::seed_from_u64(seed).fill_bytes(&mut table[..PATTERN_PERIOD]);
        table.copy_within(..PATTERN_PERIOD, PATTERN_PERIOD);
        Pattern(table.into())
    }

    /// Where connection `conn` starts in the table.
    fn start(conn: u64) -> usize {
        (conn.wrapping_mul(7919) % PATTERN_PERIOD as u64) as usize
    }

    /// Up to `len` (at most one period) bytes of connection `conn` from
    /// stream offset `off`.
    pub fn slice(&self, conn: u64, off: u64, len: usize) -> &[u8] {
        let at = (Self::start(conn) + (off % PATTERN_PERIOD as u64) as usize) % PATTERN_PERIOD;
        &self.0[at..at + len.min(PATTERN_PERIOD)]
    }
}

/// What the client does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPlan {
    /// The echo server.
    pub remote: SocketAddr,
    /// Connections in total.
    pub conns: u64,
    /// Bytes each connection sends (and expects back).
    pub bytes: u64,
    /// Connections open at a time (over all shards).
    pub parallel: u64,
}

impl ClientPlan {
    /// Connections shard `shard` of `shards` makes: indices `shard`,
    /// `shard + shards`, … below `conns`.
    fn share(&self, shard: usize, shards: usize) -> u64 {
        let (s, n) = (shard as u64, shards.max(1) as u64);
        if s >= self.conns {
            0
        } else {
            (self.conns - s).div_ceil(n)
        }
    }

    /// Connections shard `shard` keeps open at a time.
    fn parallel_share(&self, shards: usize) -> u64 {
        self.parallel.div_ceil(shards.max(1) as u64).max(1)
    }
}

/// Counters of one shard, written by its worker, read by the main thread.
#[derive(Debug, Default)]
pub struct ClientCounters {
    /// Connections opened (`tcp_connect` called).
    pub opened: AtomicU64,
    /// Connections that reached ESTABLISHED.
    pub connected: AtomicU64,
    /// Connections that got their whole echo back, verified.
    pub completed: AtomicU64,
    /// Connections that failed.
    pub failed: AtomicU64,
    /// Connections that saw a byte differ from what was sent (or extra
    /// bytes); also counted in `failed`.
    pub mismatched: AtomicU64,
    /// Payload bytes taken by the send buffers.
    pub bytes_out: AtomicU64,
    /// Echoed payload bytes received (and compared).
    pub bytes_in: AtomicU64,
    /// Segments retransmitted (the stack's `RetransSegs`).
    pub retransmitted_segs: AtomicU64,
    /// Retransmission timeouts.
    pub timeouts: AtomicU64,
    /// Every connection of this shard is finished.
    pub finished: AtomicBool,
    /// Written once, when the shard finishes or stops.
    pub report: Mutex<ShardReport>,
}

/// What a shard hands over at the end.
#[derive(Debug, Default, Clone)]
pub struct ShardReport {
    /// Connect times (connect call to ESTABLISHED), microseconds.
    pub connect_us: Vec<u64>,
    /// When the shard opened its first connection.
    pub first_open: Option<WallClock>,
    /// When its last connection finished.
    pub last_done: Option<WallClock>,
    /// The first failure, in words.
    pub first_error: Option<String>,
}

/// One connection in flight.
#[derive(Debug)]
struct Conn {
    h: Handle,
    /// Its index among all the run's connections (selects the pattern).
    id: u64,
    opened: Instant,
    connected: bool,
    sent: u64,
    received: u64,
    shut: bool,
}

/// How a connection ended.
enum Outcome {
    Open,
    Done,
    Failed(String),
    Mismatch(String),
}

/// The client application of one shard.
#[derive(Debug)]
pub struct ClientShard {
    plan: ClientPlan,
    pattern: Pattern,
    counters: Arc<ClientCounters>,
    /// Next connection index to open (step `shards`).
    next_id: u64,
    shards: u64,
    /// Connections still to open.
    to_open: u64,
    parallel: u64,
    conns: Vec<Conn>,
    report: ShardReport,
    scratch: Vec<u8>,
    reported: bool,
}

impl ClientShard {
    /// The client of shard `shard` of `shards`, following `plan`.
    pub fn new(
        plan: ClientPlan,
        pattern: Pattern,
        shard: usize,
        shards: usize,
        counters: Arc<ClientCounters>,
    ) -> ClientShard {
        ClientShard {
            to_open: plan.share(shard, shards),
            parallel: plan.parallel_share(shards),
            plan,
            pattern,
            counters,
            next_id: shard as u64,
            shards: shards.max(1) as u64,
            conns: Vec::new(),
            report: ShardReport::default(),
            scratch: vec![0; CHUNK],
            reported: false,
        }
    }

    fn fail(&mut self, why: String) {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        if self.report.first_error.is_none() {
            self.report.first_error = Some(why);
        }
    }

    /// Open connections up to the parallel limit.
    fn open(&mut self, stack: &mut Stack, now: Instant) -> bool {
        let mut did = false;
        while self.to_open > 0 && (self.conns.len() as u64) < self.parallel {
            self.to_open -= 1;
            let id = self.next_id;
            self.next_id += self.shards;
            self.report.first_open.get_or_insert_with(WallClock::now);
            self.counters.opened.fetch_add(1, Ordering::Relaxed);
            did = true;
            match stack.tcp_connect(self.plan.remote, None, now) {
                Ok(h) => {
                    let _ = stack.tcp_set_nodelay(h, true);
                    self.conns.push(Conn {
                        h,
                        id,
                        opened: now,
                        connected: false,
                        sent: 0,
                        received: 0,
                        shut: false,
                    });
                }
                Err(e) => {
                    self.fail(format!("connect to {}: {e}", self.plan.remote));
                    self.report.last_done = Some(WallClock::now());
                }
            }
        }
        did
    }

    /// Move one connection forward; returns (did work, outcome).
    fn service(&mut self, stack: &mut Stack, i: usize, now: Instant) -> (bool, Outcome) {
        let bytes = self.plan.bytes;
        let c = &mut self.conns[i];
        let mut did = false;
        if !c.connected {
            match stack.tcp_state(c.h) {
                TcpState::SynSent | TcpState::SynReceived => {}
                TcpState::Closed => {
                    let e = stack
                        .tcp_error(c.h)
                        .map_or("closed".into(), |e| e.to_string());
                    return (true, Outcome::Failed(format!("connect: {e}")));
                }
                _ => {
                    c.connected = true;
                    did = true;
                    let us = now.saturating_duration_since(c.opened).as_micros() as u64;
                    self.report.connect_us.push(us);
                    self.counters.connected.fetch_add(1, Ordering::Relaxed);
                }
            }
            if !c.connected {
                return (false, Outcome::Open);
            }
        }
        // Send the next part of the pattern while the send buffer takes it.
        while c.sent < bytes && stack.tcp_writable(c.h) {
            let len = ((bytes - c.sent) as usize).min(CHUNK);
            match stack.tcp_send(c.h, self.pattern.slice(c.id, c.sent, len), now) {
                Ok(0) | Err(TcpError::WouldBlock) => break,
                Ok(n) => {
                    c.sent += n as u64;
                    did = true;
                    self.counters
                        .bytes_out
                        .fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) => return (true, Outcome::Failed(format!("send: {e}"))),
            }
        }
        if c.sent == bytes && !c.shut {
            // RFC 9293 3.10.4: the FIN follows the data.
            let _ = stack.tcp_shutdown(c.h);
            c.shut = true;
            did = true;
        }
        // Read and verify the echo.
        while stack.tcp_readable(c.h) {
            match stack.tcp_recv(c.h, &mut self.scratch) {
                Ok(0) => {
                    if c.received < bytes {
                        let e = stack
                            .tcp_error(c.h)
                            .map_or("peer closed".to_string(), |e| e.to_string());
                        return (
                            true,
                            Outcome::Failed(format!(
                                "{e} after {} of {bytes} echoed bytes",
                                c.received
                            )),
                        );
                    }
                    break;
                }
                Ok(n) => {
                    did = true;
                    self.counters
                        .bytes_in
                        .fetch_add(n as u64, Ordering::Relaxed);
                    if c.received + n as u64 > bytes {
                        return (
                            true,
                            Outcome::Mismatch(format!(
                                "{} bytes echoed, {bytes} sent",
                                c.received + n as u64
                            )),
                        );
                    }
                    let want = self.pattern.slice(c.id, c.received, n);
                    // One memcmp; the byte-wise search only on a mismatch.
                    let got = &self.scratch[..n];
                    if let Some(k) = (got != want)
                        .then(|| (0..n).find(|&k| got[k] != want[k]))
                        .flatten()
                    {
                        return (
                            true,
                            Outcome::Mismatch(format!(
                                "echoed byte {} differs from the byte sent",
                                c.received + k as u64
                            )),
                        );
                    }
                    c.received += n as u64;
                }
                Err(TcpError::WouldBlock) => break,
                Err(e) => {
                    return (
                        true,
                        Outcome::Failed(format!(
                            "{e} after {} of {bytes} echoed bytes",
                            c.received
                        )),
                    )
                }
            }
        }
        if c.received == bytes && c.shut {
            return (true, Outcome::Done);
        }
        if stack.tcp_closed(c.h) {
            let e = stack
                .tcp_error(c.h)
                .map_or("closed".into(), |e| e.to_string());
            return (
                true,
                Outcome::Failed(format!("{e} after {} of {bytes} echoed bytes", c.received)),
            );
        }
        (did, Outcome::Open)
    }

    fn publish_report(&mut self) {
        if self.reported {
            return;
        }
        self.reported = true;
        if let Ok(mut r) = self.counters.report.lock() {
            *r = core::mem::take(&mut self.report);
        }
    }
}

impl ShardApp for ClientShard {
    fn start(&mut self, stack: &mut Stack, _shard: usize, _now: Instant) {
        stack.tcp_config_mut().secret = os_secret();
        if self.to_open == 0 {
            self.publish_report();
            self.counters.finished.store(true, Ordering::Release);
        }
    }

    fn poll(&mut self, stack: &mut Stack, now: Instant) -> bool {
        if self.reported {
            return false;
        }
        let mut did = self.open(stack, now);
        let mut i = 0;
        while i < self.conns.len() {
            let (d, outcome) = self.service(stack, i, now);
            did |= d;
            let end = match outcome {
                Outcome::Open => {
                    i += 1;
                    continue;
                }
                Outcome::Done => {
                    // Everything sent and echoed: close (our FIN is already
                    // out; this releases the handle, TIME-WAIT runs on).
                    let _ = stack.tcp_close(self.conns[i].h);
                    self.counters.completed.fetch_add(1, Ordering::Relaxed);
                    None
                }
                Outcome::Failed(why) => Some((why, false)),
                Outcome::Mismatch(why) => Some((why, true)),
            };
            let c = self.conns.swap_remove(i);
            if let Some((why, mismatch)) = end {
                let _ = stack.tcp_abort(c.h);
                if mismatch {
                    self.counters.mismatched.fetch_add(1, Ordering::Relaxed);
                }
                self.fail(format!("connection {}: {why}", c.id));
            }
            self.report.last_done = Some(WallClock::now());
            // A freed slot: open the next one in this iteration.
            did |= self.open(stack, now);
        }
        let s = stack.tcp_stats();
        self.counters
            .retransmitted_segs
            .store(s.retransmitted_segs, Ordering::Relaxed);
        self.counters.timeouts.store(s.timeouts, Ordering::Relaxed);
        if did {
            stack.flush(now);
        }
        if self.to_open == 0 && self.conns.is_empty() {
            self.publish_report();
            self.counters.finished.store(true, Ordering::Release);
        }
        did
    }

    fn stop(&mut self, stack: &mut Stack) {
        for c in self.conns.drain(..) {
            let _ = stack.tcp_abort(c.h);
        }
        self.publish_report();
    }
}

/// A snapshot of the client counters (summed over shards).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientTotals {
    /// Connections opened.
    pub opened: u64,
    /// Connections established.
    pub connected: u64,
    /// Connections completed and verified.
    pub completed: u64,
    /// Connections failed.
    pub failed: u64,
    /// Connections with a wrong or extra echoed byte.
    pub mismatched: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Payload bytes received and compared.
    pub bytes_in: u64,
    /// Segments retransmitted.
    pub retransmitted_segs: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
}

impl ClientTotals {
    /// Sum of every shard's counters.
    pub fn read(shards: &[Arc<ClientCounters>]) -> ClientTotals {
        let mut t = ClientTotals::default();
        for c in shards {
            let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
            t.opened += g(&c.opened);
            t.connected += g(&c.connected);
            t.completed += g(&c.completed);
            t.failed += g(&c.failed);
            t.mismatched += g(&c.mismatched);
            t.bytes_out += g(&c.bytes_out);
            t.bytes_in += g(&c.bytes_in);
            t.retransmitted_segs += g(&c.retransmitted_segs);
            t.timeouts += g(&c.timeouts);
        }
        t
    }

    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.opened.saturating_sub(self.completed + self.failed)
    }
}

/// Connect-time distribution, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ConnectTimes {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub avg_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
}

impl ConnectTimes {
    /// The distribution of `us` (sorted in place).
    pub fn of(us: &mut [u64]) -> ConnectTimes {
        if us.is_empty() {
            return ConnectTimes::default();
        }
        us.sort_unstable();
        let n = us.len();
        let q = |p: f64| us[((n as f64 * p).ceil() as usize).clamp(1, n) - 1];
        ConnectTimes {
            count: n as u64,
            avg_us: us.iter().sum::<u64>() as f64 / n as f64,
            p50_us: q(0.50),
            p99_us: q(0.99),
            max_us: us[n - 1],
        }
    }
}

/// What `xdpnet tcpclient` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSummary {
    /// The plan it followed.
    pub plan: ClientPlan,
    /// The counters.
    pub totals: ClientTotals,
    /// First connection opened to last one finished, seconds.
    pub transfer_secs: f64,
    /// Connect times.
    pub connect: ConnectTimes,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Workers, links, interfaces and drops (the router's summary).
    pub base: RouterSummary,
}

impl ClientSummary {
    /// Every connection completed with its echo verified.
    pub fn ok(&self) -> bool {
        self.totals.completed == self.plan.conns
            && self.totals.failed == 0
            && self.totals.mismatched == 0
    }

    /// Echoed throughput, each way, Mbit/s.
    pub fn mbit_s(&self) -> f64 {
        self.totals.bytes_in as f64 * 8.0 / self.transfer_secs.max(1e-9) / 1e6
    }

    /// Completed connections per second.
    pub fn conns_per_sec(&self) -> f64 {
        self.totals.completed as f64 / self.transfer_secs.max(1e-9)
    }

    /// The summary as one JSON document.
    pub fn to_json(&self) -> Value {
        let t = &self.totals;
        let mut v = self.base.to_json();
        v["command"] = json!("tcpclient");
        v["client"] = json!({
            "remote": self.plan.remote.to_string(),
            "conns": self.plan.conns,
            "bytes_per_conn": self.plan.bytes,
            "parallel": self.plan.parallel,
            "opened": t.opened,
            "connected": t.connected,
            "completed": t.completed,
            "failed": t.failed,
            "mismatched": t.mismatched,
            "verified": self.ok(),
            "bytes_out": t.bytes_out,
            "bytes_in": t.bytes_in,
            "transfer_secs": self.transfer_secs,
            "mbit_s": self.mbit_s(),
            "conns_per_sec": self.conns_per_sec(),
            "connect_us": {
                "count": self.connect.count,
                "avg": self.connect.avg_us,
                "p50": self.connect.p50_us,
                "p99": self.connect.p99_us,
                "max": self.connect.max_us,
            },
            "retransmitted_segs": t.retransmitted_segs,
            "timeouts": t.timeouts,
            "first_error": self.first_error,
        });
        v
    }
}

impl fmt::Display for ClientSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        let base = self.base.to_string();
        for line in base.lines() {
            if !line.starts_with("Packets forwarded") {
                writeln!(f, "{line}")?;
            }
        }
        writeln!(
            f,
            "TCP client          : {} × {} bytes to {} ({} at a time)",
            thousands(self.plan.conns),
            thousands(self.plan.bytes),
            self.plan.remote,
            thousands(self.plan.parallel)
        )?;
        writeln!(
            f,
            "TCP connections     : {} completed, {} failed ({} mismatched), {} open",
            thousands(t.completed),
            thousands(t.failed),
            thousands(t.mismatched),
            thousands(t.open())
        )?;
        writeln!(
            f,
            "TCP bytes           : {} sent, {} echoed and verified{}",
            thousands(t.bytes_out),
            thousands(t.bytes_in),
            if self.ok() { "" } else { " (INCOMPLETE)" }
        )?;
        writeln!(
            f,
            "Transfer            : {:.3} s, {:.1} Mbit/s each way, {:.1} connections/s",
            self.transfer_secs,
            self.mbit_s(),
            self.conns_per_sec()
        )?;
        let c = &self.connect;
        writeln!(
            f,
            "Connect time        : avg {:.0} us, p50 {} us, p99 {} us, max {} us ({} samples)",
            c.avg_us,
            thousands(c.p50_us),
            thousands(c.p99_us),
            thousands(c.max_us),
            thousands(c.count)
        )?;
        writeln!(
            f,
            "TCP retransmits     : {} segments ({} timeouts)",
            thousands(t.retransmitted_segs),
            thousands(t.timeouts)
        )?;
        if let Some(e) = &self.first_error {
            writeln!(f, "First error         : {e}")?;
        }
        Ok(())
    }
}

/// The client line of one interval.
fn client_line(now: &ClientTotals, prev: &ClientTotals, secs: f64) -> String {
    let d = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
    format!(
        "{:<15} {:>6} open {:>8} done/s {:>10.1} Mbit/s out {:>10.1} Mbit/s in {:>7} failed\n",
        "tcpclient",
        thousands(now.open()),
        thousands(d(now.completed, prev.completed).round() as u64),
        d(now.bytes_out, prev.bytes_out) * 8.0 / 1e6,
        d(now.bytes_in, prev.bytes_in) * 8.0 / 1e6,
        thousands(now.failed),
    )
}

/// Run `app` with a [`ClientShard`] on every shard following `plan`:
/// print the placement and stats lines every `interval` seconds (none with
/// `quiet`), and stop when every connection finished, on `stop`, after
/// `duration` (unfinished connections count as failed), or when a worker
/// dies.
pub fn run_client(
    app: RouterApp,
    plan: ClientPlan,
    interval: f64,
    duration: Option<f64>,
    quiet: bool,
    stop: Arc<AtomicBool>,
    out: &mut dyn Write,
) -> Result<ClientSummary, RouterError> {
    let n = app.placement().n_workers();
    let shards: Vec<Arc<ClientCounters>> = (0..n).map(|_| Arc::default()).collect();
    let pattern = Pattern::new(os_secret());
    let (per_shard, shard_plan) = (shards.clone(), plan.clone());
    let app = app.with_forwarding(false).with_apps(Box::new(move |i| {
        Box::new(ClientShard::new(
            shard_plan.clone(),
            pattern.clone(),
            i,
            n,
            per_shard[i].clone(),
        )) as Box<dyn ShardApp>
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
            "tcpclient: {} connections × {} bytes to {} ({} at a time)",
            plan.conns, plan.bytes, plan.remote, plan.parallel
        );
        let _ = out.flush();
    }
    let start = WallClock::now();
    let tick = StdDuration::from_millis(5);
    let duration = duration.map(StdDuration::from_secs_f64);
    let mut clock = StatsClock::new(start, interval);
    running.sample();
    let mut prev = ClientTotals::read(&shards);
    let mut finished_at: Option<WallClock> = None;
    loop {
        if stop.load(Ordering::Relaxed) || running.runtime().any_finished() {
            break;
        }
        if duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        if shards.iter().all(|s| s.finished.load(Ordering::Acquire)) {
            // Every echo is in: give the last FIN/ACK exchanges a moment to
            // leave before the workers stop.
            let t = *finished_at.get_or_insert_with(WallClock::now);
            if t.elapsed() >= StdDuration::from_millis(100) {
                break;
            }
        }
        std::thread::sleep(tick);
        if let Some(secs) = clock.due(WallClock::now()) {
            let s = running.sample();
            let cur = ClientTotals::read(&shards);
            if !quiet {
                let _ = write!(out, "{s}{}", client_line(&cur, &prev, secs));
                let _ = out.flush();
            }
            prev = cur;
        }
    }
    let base = running.stop()?;
    let mut totals = ClientTotals::read(&shards);
    // Connections never opened or still open when the run was cut short
    // did not complete.
    let unfinished = plan.conns.saturating_sub(totals.completed + totals.failed);
    let reports: Vec<ShardReport> = shards
        .iter()
        .map(|s| s.report.lock().map(|r| r.clone()).unwrap_or_default())
        .collect();
    let mut first_error = reports.iter().find_map(|r| r.first_error.clone());
    if unfinished > 0 {
        totals.failed += unfinished;
        first_error.get_or_insert_with(|| {
            format!("{unfinished} connections unfinished when the run stopped")
        });
    }
    let first = reports.iter().filter_map(|r| r.first_open).min();
    let last_done = reports.iter().filter_map(|r| r.last_done).max();
    let transfer_secs = match (first, last_done) {
        (Some(a), Some(b)) if b > a => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let mut us: Vec<u64> = reports
        .iter()
        .flat_map(|r| r.connect_us.iter().copied())
        .collect();
    Ok(ClientSummary {
        connect: ConnectTimes::of(&mut us),
        plan,
        totals,
        transfer_secs,
        first_error,
        base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::echo::{EchoCounters, EchoShard, EchoTotals};
    use crate::link::fault::{Fault, FaultConfig};
    use crate::link::pipe::{Pipe, PipeConfig};
    use crate::time::Duration;
    use crate::wire::EthernetAddress;

    #[test]
    fn pattern_is_periodic_and_differs_per_connection() {
        let p = Pattern::new(1);
        assert_eq!(p.slice(0, 0, 100), p.slice(0, PATTERN_PERIOD as u64, 100));
        assert_ne!(p.slice(0, 0, 100), p.slice(1, 0, 100));
        assert_eq!(p.slice(3, 10, 50)[5..], p.slice(3, 15, 45)[..]);
        let end = p.slice(2, PATTERN_PERIOD as u64 - 3, 10);
        assert_eq!(end.len(), 10);
        assert_eq!(&end[3..], p.slice(2, 0, 7));
    }

    #[test]
    fn shares_cover_every_connection_once() {
        let plan = ClientPlan {
            remote: "198.18.0.2:7".parse().unwrap(),
            conns: 10,
            bytes: 1,
            parallel: 3,
        };
        let total: u64 = (0..4).map(|s| plan.share(s, 4)).sum();
        assert_eq!(total, 10);
        assert_eq!(plan.share(0, 4), 3);
        assert_eq!(plan.share(3, 4), 2);
        assert_eq!(plan.parallel_share(4), 1);
        let small = ClientPlan { conns: 2, ..plan };
        assert_eq!(small.share(3, 4), 0);
    }

    #[test]
    fn connect_time_quantiles() {
        let mut us: Vec<u64> = (1..=100).rev().collect();
        let c = ConnectTimes::of(&mut us);
        assert_eq!((c.count, c.p50_us, c.p99_us, c.max_us), (100, 50, 99, 100));
        assert!((c.avg_us - 50.5).abs() < 1e-9);
        assert_eq!(ConnectTimes::of(&mut []), ConnectTimes::default());
    }

    fn hosts(loss: f64) -> (Stack, Stack) {
        let (la, lb) = Pipe::pair(
            PipeConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1])).with_mtu(1500),
            PipeConfig::new(EthernetAddress([2, 0, 0, 0, 0, 2])).with_mtu(1500),
        );
        let fault = |seed: u64| FaultConfig {
            drop: loss,
            seed,
            ..FaultConfig::default()
        };
        let mut a = Stack::default();
        let n = a.add_nic("eth0", Fault::new(la, fault(1)).unwrap());
        a.add_address(n, "198.18.0.1/24".parse().unwrap()).unwrap();
        let mut b = Stack::default();
        let n = b.add_nic("eth0", Fault::new(lb, fault(2)).unwrap());
        b.add_address(n, "198.18.0.2/24".parse().unwrap()).unwrap();
        (a, b)
    }

    /// The client against the echo app over a pipe: every connection
    /// completes with its echo verified, `parallel` bounds the open ones.
    fn run_pipe(loss: f64, conns: u64, bytes: u64, parallel: u64) -> (ClientTotals, EchoTotals) {
        let (mut a, mut b) = hosts(loss);
        let ec = Arc::new(EchoCounters::default());
        let mut echo = EchoShard::new(7, ec.clone());
        let cc = Arc::new(ClientCounters::default());
        let plan = ClientPlan {
            remote: "198.18.0.2:7".parse().unwrap(),
            conns,
            bytes,
            parallel,
        };
        let mut client = ClientShard::new(plan, Pattern::new(9), 0, 1, cc.clone());
        let mut now = Instant::ZERO;
        echo.start(&mut b, 0, now);
        client.start(&mut a, 0, now);
        for _ in 0..2_000_000 {
            if cc.finished.load(Ordering::Acquire) {
                break;
            }
            let mut did = a.poll(now);
            did |= b.poll(now);
            did |= echo.poll(&mut b, now);
            did |= client.poll(&mut a, now);
            assert!(client.conns.len() as u64 <= parallel);
            if !did {
                now += Duration::from_millis(1);
            }
        }
        assert!(cc.finished.load(Ordering::Acquire), "client did not finish");
        (ClientTotals::read(&[cc]), EchoTotals::read(&[ec]))
    }

    #[test]
    fn every_echo_verified_over_a_pipe() {
        let (c, e) = run_pipe(0.0, 20, 300_000, 7);
        assert_eq!(
            (c.opened, c.completed, c.failed, c.mismatched),
            (20, 20, 0, 0)
        );
        assert_eq!(c.bytes_out, 20 * 300_000);
        assert_eq!(c.bytes_in, 20 * 300_000);
        assert_eq!(e.tcp_bytes_in, 20 * 300_000);
        assert_eq!(e.accepted, 20);
    }

    #[test]
    fn zero_bytes_is_connect_and_close() {
        let (c, e) = run_pipe(0.0, 5, 0, 5);
        assert_eq!((c.completed, c.failed, c.bytes_in), (5, 0, 0));
        assert_eq!(e.accepted, 5);
    }

    #[test]
    fn echo_verified_under_loss() {
        let (c, _) = run_pipe(0.02, 4, 200_000, 4);
        assert_eq!((c.completed, c.failed, c.mismatched), (4, 0, 0));
        assert_eq!(c.bytes_in, 4 * 200_000);
        assert!(c.retransmitted_segs > 0);
    }

    /// A server that echoes the wrong bytes is caught.
    #[test]
    fn a_wrong_echo_is_a_mismatch() {
        let (mut a, mut b) = hosts(0.0);
        let l = b.tcp_listen("0.0.0.0:7".parse().unwrap(), 8).unwrap();
        let cc = Arc::new(ClientCounters::default());
        let plan = ClientPlan {
            remote: "198.18.0.2:7".parse().unwrap(),
            conns: 1,
            bytes: 1000,
            parallel: 1,
        };
        let mut client = ClientShard::new(plan, Pattern::new(9), 0, 1, cc.clone());
        let mut now = Instant::ZERO;
        client.start(&mut a, 0, now);
        let mut server = None;
        let mut buf = [0u8; 4096];
        for _ in 0..100_000 {
            if cc.finished.load(Ordering::Acquire) {
                break;
            }
            let mut did = a.poll(now) | b.poll(now);
            if server.is_none() {
                server = b.tcp_accept(l);
            }
            if let Some(s) = server {
                if let Ok(n) = b.tcp_recv(s, &mut buf) {
                    if n > 0 {
                        buf[n / 2] ^= 1;
                        b.tcp_send(s, &buf[..n], now).unwrap();
                        did = true;
                    }
                }
            }
            did |= client.poll(&mut a, now);
            if !did {
                now += Duration::from_millis(1);
            }
        }
        let t = ClientTotals::read(std::slice::from_ref(&cc));
        assert_eq!((t.completed, t.failed, t.mismatched), (0, 1, 1));
        let r = cc.report.lock().unwrap();
        assert!(
            r.first_error.as_deref().unwrap_or("").contains("differs"),
            "{:?}",
            r.first_error
        );
    }

    #[test]
    fn refused_connection_fails_with_the_reason() {
        let (mut a, mut b) = hosts(0.0);
        let cc = Arc::new(ClientCounters::default());
        let plan = ClientPlan {
            remote: "198.18.0.2:9".parse().unwrap(),
            conns: 2,
            bytes: 10,
            parallel: 2,
        };
        let mut client = ClientShard::new(plan, Pattern::new(9), 0, 1, cc.clone());
        let mut now = Instant::ZERO;
        client.start(&mut a, 0, now);
        for _ in 0..10_000 {
            if cc.finished.load(Ordering::Acquire) {
                break;
            }
            let did = a.poll(now) | b.poll(now) | client.poll(&mut a, now);
            if !did {
                now += Duration::from_millis(1);
            }
        }
        let t = ClientTotals::read(std::slice::from_ref(&cc));
        assert_eq!((t.completed, t.failed), (0, 2));
        let r = cc.report.lock().unwrap();
        assert!(r.first_error.as_deref().unwrap_or("").contains("connect"));
    }
}
