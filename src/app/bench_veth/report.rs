//! The benchmark's JSON document and text table.
//!
//! JSON (stable keys; CI checks that both DUTs are present):
//!
//! ```text
//! { "benchmark": "veth", "date", "frame_size", "trial_seconds",
//!   "placement": {"generator_cores", "sink_core", "dut_cores"},
//!   "generator_engine": "xsk"|"xdp-live", "kernel_ingress_xdp_pass": bool,
//!   "machine": {"cpu", "cpus", "kernel"},
//!   "generator_max_pps", "offered_loads_pps": [...],
//!   "duts": [ { "key": "linux"|"xdpnet", "name", "capacity_mpps",
//!               "cpu_ns_per_packet_at_capacity", "cpu_ns_per_packet_at_half_load",
//!               "loss_at_capacity", "latency_at_half_load": {"offered_pps", "p50_us", …},
//!               "no_drop_mpps", "sweep": [trial…], "search": [trial…],
//!               "variants": [{"variant", "trial"}] (kernel) } ],
//!   "xdpnet_vs_linux": {"throughput_ratio", "p99_ratio_at_half_load"},
//!   "notes": [...] }
//! ```

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::sweep::{Trial, NO_DROP_LOSS};
use super::{BenchReport, DutReport};
use crate::app::pktgen::Engine;

/// The machine the numbers come from.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// CPU model (`/proc/cpuinfo`).
    pub cpu: String,
    /// Online CPUs.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// Read it from `/proc`.
    pub fn detect() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Machine {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel,
        }
    }
}

/// `YYYY-MM-DD` (UTC) of `t` (days-from-civil inverse, H. Hinnant).
pub fn utc_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

fn trial_json(t: &Trial) -> Value {
    json!({
        "target_pps": t.target_pps,
        "offered_pps": t.offered_pps,
        "tx_packets": t.tx_packets,
        "rx_packets": t.rx_packets,
        "duration_s": t.duration_s,
        "throughput_pps": t.throughput_pps,
        "throughput_mpps": t.throughput_pps / 1e6,
        "loss": t.loss,
        "latency_us": {
            "p50": us(t.latency.p50_ns),
            "p90": us(t.latency.p90_ns),
            "p99": us(t.latency.p99_ns),
            "p99_9": us(t.latency.p999_ns),
            "max": us(t.latency.max_ns),
        },
        "cpu": {
            "softirq_ns": t.cpu.softirq_ns,
            "threads_ns": t.cpu.threads_ns,
            "total_ns": t.cpu.total_ns(),
            "ns_per_packet": t.cpu_ns_per_packet,
        },
        "dut_forwarded": t.dut_forwarded,
        "ingress_drops": t.ingress_drops,
        "dut_xsk_drops": t.dut_xsk_drops,
        "sink_queue_packets": t.sink_queue_packets,
        "dut_worker_packets": t.dut_worker_packets,
    })
}

fn dut_json(d: &DutReport) -> Value {
    let best = d.best().cloned().unwrap_or_default();
    let h = &d.half_load;
    json!({
        "key": d.key,
        "name": d.name,
        "capacity_pps": d.capacity_pps,
        "capacity_mpps": d.capacity_pps / 1e6,
        "cpu_ns_per_packet_at_capacity": best.cpu_ns_per_packet,
        "cpu_ns_per_packet_at_half_load": h.cpu_ns_per_packet,
        "loss_at_capacity": best.loss,
        "latency_at_half_load": {
            "offered_pps": h.offered_pps,
            "loss": h.loss,
            "p50_us": us(h.latency.p50_ns),
            "p90_us": us(h.latency.p90_ns),
            "p99_us": us(h.latency.p99_ns),
            "p99_9_us": us(h.latency.p999_ns),
            "max_us": us(h.latency.max_ns),
        },
        "no_drop_pps": d.no_drop_pps,
        "no_drop_mpps": d.no_drop_pps / 1e6,
        "sweep": d.sweep.iter().map(trial_json).collect::<Vec<_>>(),
        "half_load": trial_json(h),
        "search": d.search.iter().map(trial_json).collect::<Vec<_>>(),
        "variants": d.variants.iter().map(|(v, t)| json!({"variant": v, "trial": trial_json(t)})).collect::<Vec<_>>(),
    })
}

/// Notes every report carries (how to read the numbers).
pub const NOTES: &[&str] = &[
    "veth numbers are a relative signal between the two DUTs on the same machine, not NIC line rate: AF_XDP runs in copy mode on veth and every frame is copied by the kernel",
    "CPU per packet = DUT-core softirq time (/proc/stat) + run time of the router's threads and the DUT ends' NAPI threads (/proc/PID/task/TID/schedstat), divided by frames received; without CONFIG_IRQ_TIME_ACCOUNTING a softirq run in one of those threads' context is in both parts, so the sum is an upper bound",
    "no-drop rate: highest offered load with loss < 0.1 % (binary search, RFC 2544 style)",
    "latency: one-way, stamped by the generator and read by the sink (same host clock), at 50 % of each DUT's own capacity",
];

/// [`NOTES`], and with the xdp-live generator what the kernel DUT's
/// ingress runs.
fn notes(engine: Engine) -> Vec<&'static str> {
    let mut n = NOTES.to_vec();
    n.push(match engine {
        Engine::XdpLive => "generator: xdp-live engine (BPF_PROG_RUN live frames sent with the generator end's ndo_xdp_xmit) for both DUTs; veth delivers such frames only to an end with an XDP program, so the kernel DUT's ingress end runs an XDP_PASS program (bpf/pass.bpf.c, as xdp-trafficgen users do) and the router's its steering program",
        Engine::Xsk => "generator: xsk engine (AF_XDP tx ring, copy mode) for both DUTs; the kernel DUT's ingress end has no XDP program",
    });
    n
}

/// The JSON document.
pub fn to_json(r: &BenchReport) -> Value {
    let p = &r.config.placement;
    let ratio = match (r.duts.first(), r.duts.get(1)) {
        (Some(k), Some(x)) if k.capacity_pps > 0.0 => json!({
            "throughput_ratio": x.capacity_pps / k.capacity_pps,
            "p99_ratio_at_half_load": if k.half_load.latency.p99_ns > 0 {
                Some(x.half_load.latency.p99_ns as f64 / k.half_load.latency.p99_ns as f64)
            } else {
                None
            },
        }),
        _ => Value::Null,
    };
    json!({
        "benchmark": "veth",
        "date": r.date,
        "frame_size": r.config.size,
        "trial_seconds": r.config.duration,
        "busy_poll": r.config.busy_poll,
        "placement": {
            "generator_cores": p.gen_cores,
            "sink_core": p.sink_core,
            "dut_cores": p.dut_cores,
        },
        "generator_engine": r.config.gen_engine.as_str(),
        "kernel_ingress_xdp_pass": r.config.gen_engine == Engine::XdpLive,
        "priorities": super::topology::priorities(r.config.busy_poll),
        "machine": {
            "cpu": r.machine.cpu,
            "cpus": r.machine.cpus,
            "kernel": r.machine.kernel,
        },
        "no_drop_loss_threshold": NO_DROP_LOSS,
        "generator_max_pps": r.gen_max_pps,
        "offered_loads_pps": r.loads_pps,
        "duts": r.duts.iter().map(dut_json).collect::<Vec<_>>(),
        "xdpnet_vs_linux": ratio,
        "notes": notes(r.config.gen_engine),
    })
}

/// The summary table (Markdown, so the README can take it as is) and the
/// per-load sweep.
pub fn to_table(r: &BenchReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} B frames, {} s per trial, {}; generator engine {}{}; {}; {} ({} CPUs), Linux {}",
        r.config.size,
        r.config.duration,
        r.config.placement.describe(),
        r.config.gen_engine,
        if r.config.gen_engine == Engine::XdpLive {
            " (kernel DUT ingress: XDP_PASS program)"
        } else {
            ""
        },
        super::topology::priorities(r.config.busy_poll),
        r.machine.cpu,
        r.machine.cpus,
        r.machine.kernel
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| DUT | max throughput (Mpps) | loss there | DUT CPU / packet at max | DUT CPU / packet at 50 % | p50 / p99 latency at 50 % (µs) | no-drop rate (Mpps) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for d in &r.duts {
        let best = d.best().cloned().unwrap_or_default();
        let h = &d.half_load;
        let _ = writeln!(
            s,
            "| {} | {:.3} | {:.1} % | {:.0} ns | {:.0} ns | {:.0} / {:.0} | {:.3} |",
            d.name,
            d.capacity_pps / 1e6,
            best.loss * 100.0,
            best.cpu_ns_per_packet,
            h.cpu_ns_per_packet,
            us(h.latency.p50_ns),
            us(h.latency.p99_ns),
            d.no_drop_pps / 1e6
        );
    }
    let _ = writeln!(s);
    let _ = write!(s, "| offered (Mpps) |");
    for d in &r.duts {
        let _ = write!(s, " {} (Mpps, loss) |", d.key);
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "|---|{}", "---|".repeat(r.duts.len()));
    let rows = r.duts.iter().map(|d| d.sweep.len()).max().unwrap_or(0);
    for i in 0..rows {
        let label = match r.duts.first().and_then(|d| d.sweep.get(i)) {
            Some(t) if t.target_pps.is_none() => "max".to_string(),
            Some(t) => format!("{:.3}", t.target_pps.unwrap_or(0.0) / 1e6),
            None => "-".into(),
        };
        let _ = write!(s, "| {label} |");
        for d in &r.duts {
            match d.sweep.get(i) {
                Some(t) => {
                    let _ = write!(
                        s,
                        " {:.3} ({:.1} %) |",
                        t.throughput_pps / 1e6,
                        t.loss * 100.0
                    );
                }
                None => {
                    let _ = write!(s, " - |");
                }
            }
        }
        let _ = writeln!(s);
    }
    if let Some(k) = r.duts.iter().find(|d| !d.variants.is_empty()) {
        let _ = writeln!(s);
        for (v, t) in &k.variants {
            let _ = writeln!(
                s,
                "kernel tuning {v}: {:.3} Mpps at full offered load",
                t.throughput_pps / 1e6
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_civil() {
        assert_eq!(utc_date(UNIX_EPOCH), "1970-01-01");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(utc_date(t), "2000-02-29");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_392_000); // 2026-11-23
        assert_eq!(utc_date(t), "2026-11-23");
    }
}
