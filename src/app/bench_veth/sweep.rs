//! One trial (one offered load through one DUT), the load points of the
//! sweep, and the RFC 2544-style search for the no-drop rate.
//!
//! Priorities (see [`super::topology::RT_PRIO`] and
//! [`super::topology::NAPI_PRIO`]): the DUT's threads and the sink end's
//! NAPI thread SCHED_FIFO (the DUT's NAPI threads one level below the
//! router), the sink nice −20, the generator
//! nice −10, so builds elsewhere on a shared machine take as little as
//! possible from the three, and the generator (which spins between
//! rate-limited batches) never starves the sink.
//!
//! A trial: the DUT gets ready → `xdpnet sink` starts on the sink core,
//! one socket per queue, and says "Receiving on" → CPU snapshot →
//! `xdpnet pktgen` runs for the trial's duration, one thread per queue on
//! the generator core that feeds it → CPU snapshot → 300 ms for frames in
//! flight → the sink gets SIGTERM and prints its JSON → the DUT ends the
//! trial.
//!
//! * offered load = the generators' measured transmit rate (`tx_pps`);
//! * throughput = frames the sinks received / the generators' duration;
//! * loss = 1 − received / transmitted (frames, not the sink's
//!   sequence-gap count, so loss at the end of a run is counted too);
//! * latency = the sinks' one-way latency percentiles (with several
//!   queues, the worst queue's value of each percentile);
//! * CPU per packet = the DUT's CPU time in the window / frames received.

use std::time::Duration;

use serde_json::Value;

use super::child::Spawned;
use super::cpu::{self, CpuUsage};
use super::topology::{Topology, GEN_ADDR, GEN_NICE, SINK_ADDR, SINK_NICE};
use super::{BenchConfig, Dut};

/// Loss below which a trial counts as "no drop" (RFC 2544 allows none;
/// the issue allows 0.1 % for veth noise).
pub const NO_DROP_LOSS: f64 = 0.001;

/// Latency percentiles of one trial, ns.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest.
    pub max_ns: u64,
}

/// What one trial measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trial {
    /// Rate asked of the generators (pps); `None` = as fast as they go.
    pub target_pps: Option<f64>,
    /// Measured transmit rate of the generators (pps).
    pub offered_pps: f64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Frames received by the sinks.
    pub rx_packets: u64,
    /// Generator run time (s).
    pub duration_s: f64,
    /// Frames received per second of generator run time.
    pub throughput_pps: f64,
    /// 1 − received/sent (0 when nothing was sent).
    pub loss: f64,
    /// One-way latency at the sink.
    pub latency: Latency,
    /// DUT CPU time in the window.
    pub cpu: CpuUsage,
    /// DUT CPU time per received frame (ns).
    pub cpu_ns_per_packet: f64,
    /// Frames the router reports as forwarded (xdpnet only).
    pub dut_forwarded: Option<u64>,
    /// Frames the veth dropped on the way into the DUT (the generator
    /// end's `tx_dropped`: the DUT end's NAPI ring or backlog was full).
    pub ingress_drops: u64,
    /// Frames the router's AF_XDP sockets dropped (`XDP_STATISTICS`
    /// rx_dropped + rx_ring_full; xdpnet only).
    pub dut_xsk_drops: Option<u64>,
    /// Frames the sink received on each queue.
    pub sink_queue_packets: Vec<u64>,
    /// Frames each router worker received (xdpnet only).
    pub dut_worker_packets: Option<Vec<u64>>,
}

impl Trial {
    /// Whether the loss is under [`NO_DROP_LOSS`].
    pub fn no_drop(&self) -> bool {
        self.tx_packets > 0 && self.loss < NO_DROP_LOSS
    }
}

fn u64_at(v: &Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_u64()
        .or_else(|| cur.as_f64().map(|f| f.max(0.0) as u64))
        .unwrap_or(0)
}

fn f64_at(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(0.0)
}

fn parse_json(what: &str, out: &str) -> Result<Value, String> {
    serde_json::from_str(out.trim())
        .map_err(|e| format!("{what} printed no JSON document ({e}): {}", out.trim()))
}

/// Combine the generators' and sinks' documents into a [`Trial`].
pub fn combine(target_pps: Option<f64>, gens: &[Value], sinks: &[Value], cpu: CpuUsage) -> Trial {
    let tx_packets: u64 = gens.iter().map(|g| u64_at(g, &["tx_packets"])).sum();
    let offered_pps: f64 = gens.iter().map(|g| f64_at(g, "tx_pps")).sum();
    let duration_s = gens
        .iter()
        .map(|g| f64_at(g, "duration_s"))
        .fold(0.0, f64::max);
    let rx_packets: u64 = sinks.iter().map(|s| u64_at(s, &["stamped"])).sum();
    let worst = |k: &str| {
        sinks
            .iter()
            .map(|s| u64_at(s, &["latency", k]))
            .max()
            .unwrap_or(0)
    };
    let latency = Latency {
        p50_ns: worst("p50_ns"),
        p90_ns: worst("p90_ns"),
        p99_ns: worst("p99_ns"),
        p999_ns: worst("p999_ns"),
        max_ns: worst("max_ns"),
    };
    let loss = if tx_packets == 0 {
        0.0
    } else {
        (1.0 - rx_packets as f64 / tx_packets as f64).max(0.0)
    };
    Trial {
        target_pps,
        offered_pps,
        tx_packets,
        rx_packets,
        duration_s,
        throughput_pps: if duration_s > 0.0 {
            rx_packets as f64 / duration_s
        } else {
            0.0
        },
        loss,
        latency,
        cpu,
        cpu_ns_per_packet: if rx_packets > 0 {
            cpu.total_ns() as f64 / rx_packets as f64
        } else {
            0.0
        },
        dut_forwarded: None,
        ingress_drops: 0,
        dut_xsk_drops: None,
        sink_queue_packets: sinks
            .iter()
            .flat_map(|s| {
                s["per_queue_rx_packets"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|v| v.as_u64().unwrap_or(0))
            .collect(),
        dut_worker_packets: None,
    }
}

/// Run one trial at `target_pps` (None: as fast as the generator goes).
pub fn run_trial(
    cfg: &BenchConfig,
    topo: &Topology,
    dut: &mut dyn Dut,
    target_pps: Option<f64>,
) -> Result<Trial, String> {
    let threads = dut.start_trial(topo)?;
    let result = measure(cfg, topo, &threads, target_pps);
    let dut_doc = dut.end_trial(topo);
    let mut t = result?;
    if let Some(doc) = dut_doc? {
        t.dut_forwarded = doc["forwarded"].as_u64();
        t.dut_xsk_drops = doc["interfaces"].as_array().map(|a| {
            a.iter()
                .map(|i| {
                    u64_at(i, &["xdp_statistics", "rx_dropped"])
                        + u64_at(i, &["xdp_statistics", "rx_ring_full"])
                })
                .sum()
        });
        t.dut_worker_packets = doc["workers"]
            .as_array()
            .map(|a| a.iter().map(|w| u64_at(w, &["rx_packets"])).collect());
    }
    Ok(t)
}

fn measure(
    cfg: &BenchConfig,
    topo: &Topology,
    threads: &[(u32, u32)],
    target_pps: Option<f64>,
) -> Result<Trial, String> {
    let p = &topo.placement;
    let exe = cfg.exe.as_os_str();
    let queues = topo.queues as usize;
    let mut sink = start_sink(cfg, topo)?;
    let tx_dropped = format!("/sys/class/net/{}/statistics/tx_dropped", topo.gen_if());
    let read_drops = || -> u64 {
        topo.gen
            .read_sys(&tx_dropped)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let drops_before = read_drops();
    let before = cpu::snapshot(&p.dut_cores, threads)?;
    // One generator thread per queue, each on the core that feeds that
    // queue (validated: see Placement::gen_core_of_queue); one flow per
    // queue (pktgen puts flow i on its queue i mod N).
    let gen_cores = (0..queues)
        .map(|q| {
            p.gen_core_of_queue(q, cfg.gen_engine)
                .map(|c| c.to_string())
                .ok_or_else(|| format!("no generator core feeds DUT queue {q}"))
        })
        .collect::<Result<Vec<_>, String>>()?
        .join(",");
    let last_queue = queues - 1;
    // Priorities: see topology::GEN_NICE.
    let mut cmd = topo.gen.command("nice");
    cmd.args(["-n", &GEN_NICE.to_string(), "taskset", "-c"])
        .arg(&gen_cores)
        .arg(exe)
        .args([
            "pktgen",
            topo.gen_if(),
            // The same engine for both DUTs (xdp-live: the kernel DUT's
            // ingress runs an XDP_PASS program, see xdp_pass).
            "--engine",
            cfg.gen_engine.as_str(),
            "--queues",
            &format!("0-{last_queue}"),
            "--cores",
            &gen_cores,
            "--flows",
            &queues.to_string(),
            "--dst-mac",
            &topo.dut_gen_mac,
            "--src-ip",
            GEN_ADDR,
            "--dst-ip",
            SINK_ADDR,
            "--src-port",
            &format!("1024-{}", 1024 + last_queue),
            "-s",
            &cfg.size.to_string(),
            "-r",
            &target_pps.map_or_else(|| "0".to_string(), |r| format!("{:.0}", r.max(1.0))),
            "-d",
            &cfg.duration.to_string(),
            "-i",
            "0",
            "--json",
        ]);
    let mut gen = Spawned::spawn("xdpnet pktgen", cmd)?;
    let wait = Duration::from_secs_f64(cfg.duration + 30.0);
    let gen_doc = parse_json("xdpnet pktgen", &gen.finish(wait)?)?;
    let after = cpu::snapshot(&p.dut_cores, threads)?;
    // Frames still in the DUT's and the sink's rings.
    std::thread::sleep(Duration::from_millis(300));
    let sink_doc = parse_json("xdpnet sink", &sink.terminate(Duration::from_secs(10))?)?;
    let mut t = combine(
        target_pps,
        &[gen_doc],
        &[sink_doc],
        cpu::usage(&before, &after),
    );
    t.ingress_drops = read_drops().saturating_sub(drops_before);
    Ok(t)
}

/// Attempts at starting a sink while the previous trial's socket on the
/// queue is still being released (250 ms apart: 30 s; releases of over
/// 5 s were seen on the loaded 2-vCPU machine after kernel-DUT trials).
const SINK_ATTEMPTS: usize = 120;

/// Start `xdpnet sink` on every queue and wait until it receives.
///
/// The previous trial's sink has exited, but the kernel may not have
/// released its AF_XDP sockets yet (a socket is freed asynchronously
/// after the process exits; the cause of the multi-second delays seen was
/// not pinned down), and the new sink then finds a queue busy. That is
/// retried for up to 30 s; any other failure is returned at once.
fn start_sink(cfg: &BenchConfig, topo: &Topology) -> Result<Spawned, String> {
    let p = &topo.placement;
    let mut last = String::new();
    for _ in 0..SINK_ATTEMPTS {
        let mut cmd = topo.sink.command("nice");
        cmd.args(["-n", &SINK_NICE.to_string(), "taskset", "-c"])
            .arg(p.sink_core.to_string())
            .arg(&cfg.exe)
            .args([
                "sink",
                topo.sink_if(),
                "-q",
                &format!("0-{}", topo.queues.max(1) - 1),
                "-i",
                "0",
                "--json",
            ]);
        let mut s = Spawned::spawn("xdpnet sink", cmd)?;
        match s.wait_for_line("Receiving on", Duration::from_secs(20)) {
            Ok(()) => return Ok(s),
            Err(e) if e.contains("already used by another AF_XDP socket") => {
                last = e;
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// The rate-limited load points: `points − 1` evenly spaced fractions of
/// the generator's maximum (the last point of a sweep is unlimited).
pub fn load_points(gen_max_pps: f64, points: usize) -> Vec<f64> {
    let n = points.max(2);
    (1..n)
        .map(|i| (gen_max_pps * i as f64 / n as f64).round())
        .collect()
}

/// Binary search for the highest offered load with loss under
/// [`NO_DROP_LOSS`] (RFC 2544 26.1 style, bounded to `steps` trials).
///
/// Starts from what the sweep already showed: the highest load that was
/// clean (`lo`, else 0) and the lowest above it that was not (`hi`); when
/// every sweep point was clean, the generator's maximum is the answer and
/// no trial runs. Returns the highest clean trial's measured offered load
/// (0 when none was clean) and the search's trials.
pub fn no_drop_search(
    sweep: &[Trial],
    steps: usize,
    mut trial: impl FnMut(f64) -> Result<Trial, String>,
) -> Result<(f64, Vec<Trial>), String> {
    let clean = |t: &Trial| t.no_drop();
    let target = |t: &Trial| t.target_pps.unwrap_or(t.offered_pps);
    let mut lo = 0.0f64;
    let mut lo_measured = 0.0f64;
    for t in sweep.iter().filter(|t| clean(t)) {
        if target(t) > lo {
            lo = target(t);
            lo_measured = t.offered_pps;
        }
    }
    let Some(mut hi) = sweep
        .iter()
        .filter(|t| !clean(t) && target(t) > lo)
        .map(target)
        .reduce(f64::min)
    else {
        return Ok((lo_measured, Vec::new()));
    };
    let mut tried = Vec::new();
    for _ in 0..steps {
        let mid = ((lo + hi) / 2.0).round();
        if mid <= lo || mid >= hi {
            break;
        }
        let t = trial(mid)?;
        if clean(&t) {
            lo = mid;
            lo_measured = t.offered_pps;
        } else {
            hi = mid;
        }
        tried.push(t);
    }
    Ok((lo_measured, tried))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(target: Option<f64>, offered: f64, loss: f64) -> Trial {
        Trial {
            target_pps: target,
            offered_pps: offered,
            tx_packets: 1000,
            loss,
            ..Trial::default()
        }
    }

    #[test]
    fn points_are_even_fractions_below_the_maximum() {
        assert_eq!(
            load_points(400_000.0, 4),
            vec![100_000.0, 200_000.0, 300_000.0]
        );
        assert_eq!(load_points(100.0, 1), vec![50.0]);
    }

    #[test]
    fn combine_sums_queues_and_takes_the_worst_latency() {
        let gens = [
            json!({"tx_packets": 600, "tx_pps": 200.0, "duration_s": 3.0}),
            json!({"tx_packets": 400, "tx_pps": 133.0, "duration_s": 2.9}),
        ];
        let sinks = [
            json!({"stamped": 500, "per_queue_rx_packets": [300, 200],
                   "latency": {"p50_ns": 10, "p99_ns": 90, "max_ns": 100}}),
            json!({"stamped": 490, "latency": {"p50_ns": 20, "p99_ns": 50, "max_ns": 70}}),
        ];
        let cpu = CpuUsage {
            softirq_ns: 9_000,
            threads_ns: 90_000,
        };
        let r = combine(Some(333.0), &gens, &sinks, cpu);
        assert_eq!((r.tx_packets, r.rx_packets), (1000, 990));
        assert!((r.loss - 0.01).abs() < 1e-12);
        assert!((r.throughput_pps - 330.0).abs() < 1e-9);
        assert_eq!((r.latency.p50_ns, r.latency.p99_ns), (20, 90));
        assert!((r.cpu_ns_per_packet - 100.0).abs() < 1e-9);
        assert_eq!(r.sink_queue_packets, [300, 200]);
        assert!(!r.no_drop());
    }

    #[test]
    fn nothing_sent_is_not_clean() {
        let r = combine(None, &[json!({})], &[json!({})], CpuUsage::default());
        assert_eq!(r.loss, 0.0);
        assert!(!r.no_drop());
    }

    #[test]
    fn search_converges_on_the_capacity() {
        // A DUT that drops above 250 kpps.
        let sweep = [
            t(Some(100_000.0), 100_000.0, 0.0),
            t(Some(200_000.0), 200_000.0, 0.0),
            t(Some(300_000.0), 300_000.0, 0.05),
            t(None, 400_000.0, 0.3),
        ];
        let mut asked = Vec::new();
        let (rate, trials) = no_drop_search(&sweep, 6, |r| {
            asked.push(r);
            Ok(t(Some(r), r, if r <= 250_000.0 { 0.0 } else { 0.01 }))
        })
        .unwrap();
        assert_eq!(asked[0], 250_000.0);
        assert_eq!(trials.len(), 6);
        assert!(asked.iter().all(|&r| r > 200_000.0 && r < 300_000.0));
        assert!((250_000.0 - 1_600.0..=250_000.0).contains(&rate), "{rate}");
    }

    #[test]
    fn search_needs_no_trial_when_everything_was_clean() {
        let sweep = [t(Some(1.0), 1.0, 0.0), t(None, 7.0, 0.0)];
        let (rate, trials) = no_drop_search(&sweep, 5, |_| panic!("no trial expected")).unwrap();
        assert_eq!((rate, trials.len()), (7.0, 0));
    }

    #[test]
    fn search_from_zero_when_nothing_was_clean() {
        let sweep = [t(Some(100.0), 100.0, 0.5)];
        let (rate, trials) = no_drop_search(&sweep, 3, |r| {
            Ok(t(Some(r), r, if r < 20.0 { 0.0 } else { 0.2 }))
        })
        .unwrap();
        // 50 (lossy) → 25 (lossy) → 13 (clean)
        assert_eq!(trials.len(), 3);
        assert_eq!(rate, 13.0);
    }
}
