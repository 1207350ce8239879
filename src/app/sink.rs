//! `xdpnet sink`: AF_XDP receive-and-drop with loss, reordering and
//! one-way latency from the stamps `xdpnet pktgen` puts in its frames.
//!
//! * Flows are told apart by (source address, destination address,
//!   source port, destination port). Per flow the sink keeps the first
//!   and highest sequence number (extended past u32 wrap-around), frames
//!   received and frames that arrived after a higher number (reordered).
//!   Loss = (highest − first + 1) − received, never below zero.
//! * Latency = receive time − stamp time, both CLOCK_MONOTONIC on the same
//!   host, recorded in nanoseconds into an HdrHistogram (3 significant
//!   digits) and printed as a p50/p90/p99/p99.9/p99.99/max ladder in µs;
//!   `--hgrm FILE` writes the percentile distribution in the HdrHistogram
//!   text format (values in µs).
//! * Frames without a stamp are counted (`other`) and dropped.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::pktgen::{check_queues, monotonic_ns, queue_words, rate_line, read_stamp, stddev, Port};
use crate::buffer::PacketBatch;
use crate::link::LinkEndpoint;
use crate::steering::XdpMode;
use crate::time::Instant;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::udp::UdpPacket;
use crate::wire::{EtherType, IpProtocol};

/// Flow key: source, destination, source port, destination port.
pub type FlowKey = (IpAddr, IpAddr, u16, u16);

/// What to receive.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Interface.
    pub iface: String,
    /// Rx queues: one socket each, all polled by the one sink thread (so
    /// a flow's sequence numbers are tracked in one place whatever queue
    /// its frames arrive on).
    pub queues: Vec<u32>,
    /// Stop after this many seconds.
    pub duration: Option<f64>,
    /// Seconds between stats lines (0: none).
    pub interval: f64,
    /// One JSON document instead of stats lines and the summary block.
    pub json: bool,
    /// XDP attach mode.
    pub xdp_mode: XdpMode,
}

/// Sequence tracking of one flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// First sequence number seen (extended).
    pub first: u64,
    /// Highest sequence number seen (extended).
    pub highest: u64,
    /// Frames received.
    pub received: u64,
    /// Frames that arrived after a higher sequence number.
    pub reordered: u64,
}

impl FlowStats {
    fn new(seq: u32) -> FlowStats {
        // Start the extended space high enough that late frames from before
        // the first one do not underflow.
        let s = (1u64 << 32) + u64::from(seq);
        FlowStats {
            first: s,
            highest: s,
            received: 1,
            reordered: 0,
        }
    }

    fn record(&mut self, seq: u32) {
        self.received += 1;
        let diff = i64::from(seq.wrapping_sub(self.highest as u32) as i32);
        let ext = (self.highest as i64 + diff).max(0) as u64;
        if ext > self.highest {
            self.highest = ext;
        } else {
            self.reordered += 1;
            self.first = self.first.min(ext);
        }
    }

    /// Frames expected from the first to the highest sequence number.
    pub fn expected(&self) -> u64 {
        self.highest - self.first + 1
    }

    /// Frames missing.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }
}

/// Loss, reordering and latency over all flows.
pub struct Tracker {
    flows: HashMap<FlowKey, FlowStats, crate::fxhash::FxBuildHasher>,
    hist: Histogram<u64>,
    /// Frames without a stamp.
    pub other: u64,
    /// Stamped-looking UDP frames whose IPv4 header or UDP checksum is
    /// wrong (not tracked).
    pub bad_checksum: u64,
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("flows", &self.flows.len())
            .field("samples", &self.hist.len())
            .field("other", &self.other)
            .finish()
    }
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new()
    }
}

impl Tracker {
    /// Empty.
    pub fn new() -> Tracker {
        Tracker {
            flows: HashMap::with_hasher(crate::fxhash::FxBuildHasher::random()),
            // 1 ns .. 60 s, 3 significant digits; clamped above.
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
            other: 0,
            bad_checksum: 0,
        }
    }

    /// Account one frame received at `rx_ns`.
    pub fn frame(&mut self, frame: &[u8], rx_ns: u64) {
        if !checksums_ok(frame) {
            self.bad_checksum += 1;
            return;
        }
        match parse(frame) {
            Some((key, seq, tx_ns)) => {
                self.flows
                    .entry(key)
                    .and_modify(|f| f.record(seq))
                    .or_insert_with(|| FlowStats::new(seq));
                let lat = rx_ns.saturating_sub(tx_ns).clamp(1, 60_000_000_000);
                let _ = self.hist.record(lat);
            }
            None => self.other += 1,
        }
    }

    /// Per-flow stats.
    pub fn flows(&self) -> impl Iterator<Item = (&FlowKey, &FlowStats)> {
        self.flows.iter()
    }

    /// The latency histogram (ns).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }
}

/// Flow key, sequence number and TX time of a stamped UDP frame.
pub fn parse(frame: &[u8]) -> Option<(FlowKey, u32, u64)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let (src, dst, l4): (IpAddr, IpAddr, &[u8]) = match eth.ethertype() {
        EtherType::Ipv4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
            if ip.next_header() != IpProtocol::Udp {
                return None;
            }
            (ip.src_addr().into(), ip.dst_addr().into(), ip.payload())
        }
        EtherType::Ipv6 => {
            let ip = Ipv6Packet::new_checked(eth.payload()).ok()?;
            if ip.next_header() != IpProtocol::Udp {
                return None;
            }
            (ip.src_addr().into(), ip.dst_addr().into(), ip.payload())
        }
        _ => return None,
    };
    let udp = UdpPacket::new_checked(l4).ok()?;
    let (seq, ts) = read_stamp(udp.payload())?;
    Some(((src, dst, udp.src_port(), udp.dst_port()), seq, ts))
}

/// Whether an IPv4 header checksum and a UDP checksum (RFC 768; zero =
/// none over IPv4) are right; `true` for anything that is not UDP.
pub fn checksums_ok(frame: &[u8]) -> bool {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return true;
    };
    let (src, dst, l4): (IpAddr, IpAddr, &[u8]) = match eth.ethertype() {
        EtherType::Ipv4 => match Ipv4Packet::new_checked(eth.payload()) {
            Ok(ip) if ip.next_header() == IpProtocol::Udp => {
                if !ip.verify_checksum() {
                    return false;
                }
                (ip.src_addr().into(), ip.dst_addr().into(), ip.payload())
            }
            _ => return true,
        },
        EtherType::Ipv6 => match Ipv6Packet::new_checked(eth.payload()) {
            Ok(ip) if ip.next_header() == IpProtocol::Udp => {
                (ip.src_addr().into(), ip.dst_addr().into(), ip.payload())
            }
            _ => return true,
        },
        _ => return true,
    };
    match UdpPacket::new_checked(l4) {
        Ok(udp) => udp.verify_checksum(&src, &dst),
        Err(_) => true,
    }
}

/// The latency ladder of a histogram (ns): p50, p90, p99, p99.9, p99.99.
pub const LADDER: [(&str, f64); 5] = [
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
    ("p99.99", 99.99),
];

/// The HdrHistogram percentile distribution text (`.hgrm`), values in µs,
/// five ticks per half distance (the Java default).
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut s = String::new();
    s.push_str("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    if h.is_empty() {
        return s;
    }
    let mut count = 0u64;
    for v in h.iter_quantiles(5) {
        let value = h.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0;
        let q = v.quantile_iterated_to();
        count += v.count_since_last_iteration();
        if q < 1.0 {
            s.push_str(&format!(
                "{value:12.3} {q:2.12} {count:10} {:14.2}\n",
                1.0 / (1.0 - q)
            ));
        } else {
            s.push_str(&format!("{value:12.3} {q:2.12} {count:10}\n"));
        }
    }
    s.push_str(&format!(
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    ));
    s.push_str(&format!(
        "#[Max     = {:12.3}, Total count    = {:12}]\n",
        h.max() as f64 / 1000.0,
        h.len()
    ));
    s.push_str(&format!(
        "#[Buckets = {:12}, SubBuckets     = {:12}]\n",
        h.buckets(),
        h.distinct_values()
    ));
    s
}

/// What a run received.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkSummary {
    /// Interface.
    pub iface: String,
    /// Queues.
    pub queues: Vec<u32>,
    /// Frames received per queue (same order).
    pub per_queue: Vec<u64>,
    /// XDP attach mode used.
    pub xdp_mode: String,
    /// AF_XDP bind mode.
    pub copy_mode: String,
    /// Seconds from the first to the last frame.
    pub seconds: f64,
    /// Frames received.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Standard deviation of the per-interval pps.
    pub pps_stddev: f64,
    /// Stamped frames.
    pub stamped: u64,
    /// Frames without a stamp.
    pub other: u64,
    /// UDP frames with a wrong checksum (not tracked).
    pub bad_checksum: u64,
    /// Flows seen.
    pub flows: usize,
    /// Frames missing (all flows).
    pub lost: u64,
    /// Frames that arrived after a higher sequence number.
    pub reordered: u64,
    /// Latency samples.
    pub latency_samples: u64,
    /// Latency ladder, ns: (name, value).
    pub latency_ns: Vec<(String, u64)>,
    /// Min, mean, stddev and max latency, ns.
    pub latency_min_mean_stddev_max: (u64, f64, f64, u64),
    /// Kernel: frames dropped for lack of rx ring room or fill frames.
    pub rx_dropped: u64,
    /// Kernel: rx ring full.
    pub rx_ring_full: u64,
    /// Kernel: fill ring empty.
    pub fill_ring_empty: u64,
}

impl SinkSummary {
    /// Average packets per second.
    pub fn pps(&self) -> f64 {
        self.packets as f64 / self.seconds.max(1e-9)
    }

    /// The `--json` document.
    pub fn to_json(&self) -> Value {
        let (min, mean, sd, max) = self.latency_min_mean_stddev_max;
        let mut lat = serde_json::Map::new();
        lat.insert("samples".into(), json!(self.latency_samples));
        lat.insert("min_ns".into(), json!(min));
        lat.insert("mean_ns".into(), json!(mean));
        lat.insert("stddev_ns".into(), json!(sd));
        for (n, v) in &self.latency_ns {
            lat.insert(format!("{}_ns", n.replace('.', "")), json!(v));
        }
        lat.insert("max_ns".into(), json!(max));
        let secs = self.seconds.max(1e-9);
        json!({
            "command": "sink",
            "interface": self.iface,
            "queue": self.queues.first().copied().unwrap_or(0),
            "queues": self.queues,
            "per_queue_rx_packets": self.per_queue,
            "xdp_mode": self.xdp_mode,
            "copy_mode": self.copy_mode,
            "duration_s": self.seconds,
            "rx_packets": self.packets,
            "rx_bytes": self.bytes,
            "rx_pps": self.pps(),
            "rx_pps_stddev": self.pps_stddev,
            "rx_mbit_l2": self.bytes as f64 * 8.0 / secs / 1e6,
            "rx_mbit_l1": (self.bytes + self.packets * 20) as f64 * 8.0 / secs / 1e6,
            "stamped": self.stamped,
            "other": self.other,
            "bad_checksum": self.bad_checksum,
            "flows": self.flows,
            "lost": self.lost,
            "reordered": self.reordered,
            "in_order": self.reordered == 0,
            "latency": Value::Object(lat),
            "rx_dropped": self.rx_dropped,
            "rx_ring_full": self.rx_ring_full,
            "fill_ring_empty_descs": self.fill_ring_empty,
        })
    }
}

impl fmt::Display for SinkSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use super::router::thousands;
        let secs = self.seconds.max(1e-9);
        writeln!(f, "--- summary ---")?;
        writeln!(
            f,
            "Interface           : {} {} (xdp {}, {} mode)",
            self.iface,
            queue_words(&self.queues),
            self.xdp_mode,
            self.copy_mode
        )?;
        if self.queues.len() > 1 {
            for (q, n) in self.queues.iter().zip(&self.per_queue) {
                writeln!(f, "  queue {q:<3}         : {} packets", thousands(*n))?;
            }
        }
        writeln!(f, "Duration            : {:.3}s", self.seconds)?;
        writeln!(f, "Packets received    : {}", thousands(self.packets))?;
        writeln!(
            f,
            "Average packets/s   : {} (StdDev {})",
            thousands(self.pps().round() as u64),
            thousands(self.pps_stddev.round() as u64)
        )?;
        writeln!(
            f,
            "Bit rate            : {:.2} Mbit/s ({:.2} Mbit/s L1)",
            self.bytes as f64 * 8.0 / secs / 1e6,
            (self.bytes + self.packets * 20) as f64 * 8.0 / secs / 1e6
        )?;
        writeln!(
            f,
            "Stamped / other     : {} / {}",
            thousands(self.stamped),
            thousands(self.other)
        )?;
        writeln!(f, "Bad checksums       : {}", thousands(self.bad_checksum))?;
        writeln!(f, "Flows               : {}", self.flows)?;
        let expected = self.stamped + self.lost;
        writeln!(
            f,
            "Lost                : {} ({:.4}%)",
            thousands(self.lost),
            self.lost as f64 * 100.0 / expected.max(1) as f64
        )?;
        writeln!(f, "Reordered           : {}", thousands(self.reordered))?;
        writeln!(
            f,
            "Rx dropped (kernel) : {} (rx ring full {}, fill ring empty {})",
            thousands(self.rx_dropped),
            thousands(self.rx_ring_full),
            thousands(self.fill_ring_empty)
        )?;
        let (min, mean, sd, max) = self.latency_min_mean_stddev_max;
        writeln!(
            f,
            "Latency (one-way)   : {} samples, min {:.3} µs, mean {:.3} µs, stddev {:.3} µs",
            thousands(self.latency_samples),
            min as f64 / 1e3,
            mean / 1e3,
            sd / 1e3
        )?;
        for (n, v) in &self.latency_ns {
            writeln!(f, "  {n:<8}          : {:>12.3} µs", *v as f64 / 1e3)?;
        }
        writeln!(f, "  max               : {:>12.3} µs", max as f64 / 1e3)
    }
}

/// The sink.
#[derive(Debug)]
pub struct Sink {
    cfg: SinkConfig,
    port: Port,
    tracker: Tracker,
}

impl Sink {
    /// Open the socket and attach the steering program.
    pub fn new(cfg: SinkConfig) -> Result<Sink, String> {
        if cfg.duration.is_some_and(|d| d.is_nan() || d <= 0.0) {
            return Err("-d must be a positive number of seconds".into());
        }
        check_queues(&cfg.iface, &cfg.queues, "--queues")?;
        let port = Port::open(&cfg.iface, &cfg.queues, cfg.xdp_mode, 2048, 512)?;
        Ok(Sink {
            cfg,
            port,
            tracker: Tracker::new(),
        })
    }

    /// The socket, program and interface this runs on.
    pub fn port(&self) -> &Port {
        &self.port
    }

    /// The flows and the histogram.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// Receive until `stop` or `-d`; stats lines go to `out`.
    pub fn run(&mut self, stop: &AtomicBool, out: &mut dyn Write) -> SinkSummary {
        let cfg = &self.cfg;
        let links = &mut self.port.links;
        let start = monotonic_ns();
        let deadline = cfg.duration.map(|d| start + (d * 1e9) as u64);
        let interval_ns = (cfg.interval * 1e9) as u64;
        let list: Vec<String> = cfg.queues.iter().map(u32::to_string).collect();
        let name = format!("{}:q{}", cfg.iface, list.join(","));
        let mut next_report = start + interval_ns;
        let (mut last_pkts, mut last_bytes, mut last_t) = (0u64, 0u64, start);
        let mut samples = Vec::new();
        let mut batch: PacketBatch = Vec::with_capacity(64);
        let (mut pkts, mut bytes) = (0u64, 0u64);
        let mut per_queue = vec![0u64; links.len()];
        let (mut first, mut last) = (0u64, 0u64);
        let mut idle = 0u32;
        loop {
            let now = monotonic_ns();
            if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d) {
                break;
            }
            let mut got = 0;
            for (i, link) in links.iter_mut().enumerate() {
                let n = link.read_packets(&mut batch, 256, Instant::from_nanos(now));
                if n == 0 {
                    continue;
                }
                let rx_ns = monotonic_ns();
                if pkts == 0 {
                    first = rx_ns;
                }
                last = rx_ns;
                for p in batch.drain(..) {
                    bytes += p.len() as u64;
                    self.tracker.frame(p.as_slice(), rx_ns);
                }
                pkts += n as u64;
                per_queue[i] += n as u64;
                got += n;
            }
            if got > 0 {
                idle = 0;
            } else {
                // Spin a little before sleeping in poll(): cheaper than a
                // wake-up at high rates. With several queues, sleep briefly
                // instead of blocking on one socket.
                idle += 1;
                if idle > 64 {
                    if links.len() == 1 {
                        let _ = links[0].socket().wait_readable(10);
                    } else {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                }
            }
            if interval_ns > 0 && now >= next_report {
                let secs = (now - last_t) as f64 / 1e9;
                samples.push((pkts - last_pkts) as f64 / secs);
                if !cfg.json {
                    let _ = writeln!(
                        out,
                        "{}",
                        rate_line(&name, "rx", pkts - last_pkts, bytes - last_bytes, secs)
                    );
                    let _ = out.flush();
                }
                (last_pkts, last_bytes, last_t) = (pkts, bytes, now);
                next_report += interval_ns;
            }
        }
        let st = links
            .iter()
            .fold(crate::xsk::XdpStatistics::default(), |mut a, l| {
                let s = l.xdp_statistics().unwrap_or_default();
                a.rx_dropped += s.rx_dropped;
                a.rx_ring_full += s.rx_ring_full;
                a.rx_fill_ring_empty_descs += s.rx_fill_ring_empty_descs;
                a
            });
        let h = &self.tracker.hist;
        let flows = self.tracker.flows.values();
        let stamped: u64 = flows.clone().map(|f| f.received).sum();
        SinkSummary {
            iface: cfg.iface.clone(),
            queues: cfg.queues.clone(),
            per_queue,
            xdp_mode: self.port.attachment.mode.as_str().to_string(),
            copy_mode: self.port.copy_mode.clone(),
            seconds: if pkts > 1 {
                (last - first) as f64 / 1e9
            } else {
                0.0
            },
            packets: pkts,
            bytes,
            pps_stddev: stddev(&samples),
            stamped,
            other: self.tracker.other,
            bad_checksum: self.tracker.bad_checksum,
            flows: self.tracker.flows.len(),
            lost: flows.clone().map(FlowStats::lost).sum(),
            reordered: flows.map(|f| f.reordered).sum(),
            latency_samples: h.len(),
            latency_ns: LADDER
                .iter()
                .map(|(n, q)| (n.to_string(), h.value_at_percentile(*q)))
                .collect(),
            latency_min_mean_stddev_max: if h.is_empty() {
                (0, 0.0, 0.0, 0)
            } else {
                (h.min(), h.mean(), h.stdev(), h.max())
            },
            rx_dropped: st.rx_dropped,
            rx_ring_full: st.rx_ring_full,
            fill_ring_empty: st.rx_fill_ring_empty_descs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_tracking_counts_loss_and_reordering() {
        let mut f = FlowStats::new(0);
        for s in [1, 2, 4, 3, 6] {
            f.record(s);
        }
        assert_eq!(f.received, 6);
        assert_eq!(f.expected(), 7);
        assert_eq!(f.lost(), 1);
        assert_eq!(f.reordered, 1);
        // Across the u32 wrap.
        let mut f = FlowStats::new(u32::MAX - 1);
        for s in [u32::MAX, 0, 1] {
            f.record(s);
        }
        assert_eq!((f.expected(), f.lost(), f.reordered), (4, 0, 0));
    }

    #[test]
    fn hgrm_has_the_hdrhistogram_layout() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let s = hgrm(&h);
        assert!(s.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
        assert!(
            s.contains("#[Max     =     1000.447, Total count    =         1000]"),
            "{s}"
        );
        assert!(s.contains("1.000000000000       1000"), "{s}");
    }
}
