//! `xdpnet bench veth`: the Linux kernel's forwarding and `xdpnet router`
//! side by side, generator → DUT → sink in network namespaces joined by
//! veth pairs, with the same generator and the same offered loads.
//!
//! Order of work ([`run`]):
//!
//! 1. [`topology`] builds the three namespaces and two veth pairs (one
//!    queue per DUT core), GRO and threaded NAPI as described there, and
//!    prints the core placement and the generator's engine.
//! 2. The kernel DUT ([`dut_kernel`]) is tried in each tuning that applies
//!    to the generator's engine ([`KernelVariant::for_engine`]: RPS and
//!    threaded NAPI with `xsk`; threaded NAPI with `xdp-live`, whose
//!    frames arrive through the ingress end's NAPI and an XDP_PASS
//!    program) at the generator's full rate; the better one is kept.
//!    The first of those trials also gives the generator's maximum rate,
//!    from which the offered loads are fixed for both DUTs
//!    ([`sweep::load_points`], plus "unlimited").
//! 3. For each DUT in turn (kernel, then [`dut_xdpnet`]): the sweep over
//!    the offered loads, one trial at 50 % of that DUT's capacity (its
//!    highest throughput) for latency, and the binary search for the
//!    no-drop rate ([`sweep::no_drop_search`]).
//! 4. [`report`] writes the JSON document and the text table, [`plot`] the
//!    SVG of throughput against offered load.
//!
//! Every trial's DUT CPU time comes from `/proc` ([`cpu`]). The run stops
//! between trials on SIGINT/SIGTERM, and every namespace, veth and child
//! process is removed by guards on the way out, also on error.

pub mod child;
pub mod cpu;
pub mod dut_kernel;
pub mod dut_xdpnet;
pub mod pass_skel;
pub mod plot;
pub mod report;
pub mod sweep;
pub mod topology;
pub mod xdp_pass;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::app::pktgen::Engine;
use dut_kernel::{KernelDut, KernelVariant};
use dut_xdpnet::XdpnetDut;
use sweep::Trial;
use topology::{Placement, Topology};

/// A device under test: configured once, then asked to get ready for
/// each trial.
pub trait Dut {
    /// Name for the report.
    fn name(&self) -> String;
    /// Get ready to forward; return the (pid, tid) of every thread whose
    /// run time counts as DUT CPU time.
    fn start_trial(&mut self, topo: &Topology) -> Result<Vec<(u32, u32)>, String>;
    /// The trial is over; the DUT's own summary, if it has one.
    fn end_trial(&mut self, topo: &Topology) -> Result<Option<Value>, String>;
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The xdpnet binary spawned for the generator, the sink and the
    /// router (normally `std::env::current_exe()`).
    pub exe: PathBuf,
    /// Seconds per trial.
    pub duration: f64,
    /// Ethernet frame size without FCS.
    pub size: usize,
    /// Core placement.
    pub placement: Placement,
    /// Load points of the sweep (the last is unlimited).
    pub points: usize,
    /// Trials of the no-drop search.
    pub search_steps: usize,
    /// The generator's engine, the same for both DUTs. With `xdp-live`
    /// the kernel DUT's ingress end runs an XDP_PASS program
    /// ([`xdp_pass`]), without which veth drops the engine's frames.
    pub gen_engine: Engine,
    /// Pass `--busy-poll` to the router.
    pub busy_poll: bool,
    /// Keep the namespaces after the run.
    pub keep: bool,
}

/// Longest trial: a minute keeps a full run (about 25 trials) within
/// half an hour.
pub const MAX_TRIAL_SECS: f64 = 60.0;

impl BenchConfig {
    /// Check the settings; errors name the fix.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.duration >= 1.0 && self.duration <= MAX_TRIAL_SECS) {
            return Err(format!(
                "-d {} is out of range: use 1 to {MAX_TRIAL_SECS} seconds per trial",
                self.duration
            ));
        }
        if !(60..=1514).contains(&self.size) {
            return Err(format!(
                "-s {} is out of range: use 60..=1514 (pktgen needs 60 bytes for IPv4 headers and \
                 its stamp; veth's MTU is 1500)",
                self.size
            ));
        }
        if self.points < 2 {
            return Err(
                "--points must be at least 2 (one rate-limited load and the maximum)".into(),
            );
        }
        let p = &self.placement;
        if p.dut_cores.is_empty() {
            return Err("--dut-cores must name at least one core".into());
        }
        if p.gen_cores.is_empty() {
            return Err("--gen-core must name at least one core".into());
        }
        let queues = p.queues();
        for c in &p.dut_cores {
            if p.dut_cores.iter().filter(|d| *d == c).count() > 1 {
                return Err(format!(
                    "--dut-cores names core {c} twice: give each DUT core once (one veth queue \
                     and one router worker per core)"
                ));
            }
        }
        if let Some(q) = (0..queues).find(|&q| p.gen_core_of_queue(q, self.gen_engine).is_none()) {
            return Err(format!(
                "--gen-core {}: with the xdp-live engine veth puts a generator core's frames on \
                 DUT queue (core mod {queues}), so no generator core feeds queue {q}; give one \
                 generator core per DUT core covering every remainder (e.g. --gen-core {}), or \
                 use --gen-engine xsk (its threads pick their queue on any core)",
                p.describe_gen_cores(),
                (0..queues)
                    .map(|q| q.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        for c in p.dut_cores.iter().chain(&p.gen_cores).chain([&p.sink_core]) {
            if *c >= n {
                return Err(format!(
                    "core {c} does not exist: this machine has cores 0..={} (set --gen-core, \
                     --sink-core and --dut-cores)",
                    n - 1
                ));
            }
        }
        Ok(())
    }
}

/// Results of one DUT.
#[derive(Debug, Clone)]
pub struct DutReport {
    /// Name (with the kernel's chosen tuning).
    pub name: String,
    /// Short key: `linux` or `xdpnet`.
    pub key: &'static str,
    /// The sweep, in offered-load order (the last is unlimited).
    pub sweep: Vec<Trial>,
    /// Highest throughput of the sweep (pps).
    pub capacity_pps: f64,
    /// The trial at 50 % of capacity.
    pub half_load: Trial,
    /// No-drop rate (pps of offered load).
    pub no_drop_pps: f64,
    /// The search's trials.
    pub search: Vec<Trial>,
    /// Kernel only: full-rate throughput of each tuning tried.
    pub variants: Vec<(String, Trial)>,
}

impl DutReport {
    /// The sweep trial with the highest throughput.
    pub fn best(&self) -> Option<&Trial> {
        self.sweep
            .iter()
            .max_by(|a, b| a.throughput_pps.total_cmp(&b.throughput_pps))
    }
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Settings.
    pub config: BenchConfig,
    /// UTC date (YYYY-MM-DD).
    pub date: String,
    /// The generator's maximum rate (pps, measured through the first DUT).
    pub gen_max_pps: f64,
    /// Rate-limited offered loads of both sweeps.
    pub loads_pps: Vec<f64>,
    /// Kernel first, then xdpnet.
    pub duts: Vec<DutReport>,
    /// What the machine is.
    pub machine: report::Machine,
}

fn log(out: &mut dyn Write, msg: &str) {
    let _ = writeln!(out, "{msg}");
    let _ = out.flush();
}

fn stopped(stop: &AtomicBool) -> Result<(), String> {
    if stop.load(Ordering::Relaxed) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

fn describe(t: &Trial) -> String {
    format!(
        "offered {:>8.0} pps → {:>8.0} pps, loss {:>6.2} %, p50 {:>7.1} µs, p99 {:>8.1} µs, \
         CPU {:>6.0} ns/pkt",
        t.offered_pps,
        t.throughput_pps,
        t.loss * 100.0,
        t.latency.p50_ns as f64 / 1e3,
        t.latency.p99_ns as f64 / 1e3,
        t.cpu_ns_per_packet
    )
}

/// Sweep, latency point and no-drop search for one DUT.
struct Ctx<'a> {
    cfg: &'a BenchConfig,
    topo: &'a Topology,
    stop: &'a AtomicBool,
    out: &'a mut dyn Write,
}

fn measure_dut(
    ctx: &mut Ctx<'_>,
    dut: &mut dyn Dut,
    key: &'static str,
    loads: &[f64],
    full_rate: Option<Trial>,
) -> Result<DutReport, String> {
    let (cfg, topo, stop) = (ctx.cfg, ctx.topo, ctx.stop);
    let out = &mut *ctx.out;
    let name = dut.name();
    log(out, &format!("== {name}"));
    let mut sweep = Vec::new();
    for &rate in loads {
        stopped(stop)?;
        let t = sweep::run_trial(cfg, topo, dut, Some(rate))?;
        log(out, &format!("   sweep   {}", describe(&t)));
        sweep.push(t);
    }
    let top = match full_rate {
        Some(t) => t,
        None => {
            stopped(stop)?;
            sweep::run_trial(cfg, topo, dut, None)?
        }
    };
    log(out, &format!("   sweep   {} (unlimited)", describe(&top)));
    sweep.push(top);
    let capacity_pps = sweep.iter().map(|t| t.throughput_pps).fold(0.0, f64::max);
    stopped(stop)?;
    let half_load = sweep::run_trial(cfg, topo, dut, Some((capacity_pps / 2.0).max(1000.0)))?;
    log(out, &format!("   50 %    {}", describe(&half_load)));
    let (no_drop_pps, search) = sweep::no_drop_search(&sweep, cfg.search_steps, |rate| {
        stopped(stop)?;
        let t = sweep::run_trial(cfg, topo, dut, Some(rate))?;
        log(out, &format!("   search  {}", describe(&t)));
        Ok(t)
    })?;
    log(
        out,
        &format!(
            "   capacity {:.3} Mpps, no-drop rate {:.3} Mpps",
            capacity_pps / 1e6,
            no_drop_pps / 1e6
        ),
    );
    Ok(DutReport {
        name,
        key,
        sweep,
        capacity_pps,
        half_load,
        no_drop_pps,
        search,
        variants: Vec::new(),
    })
}

/// Run the benchmark; progress lines go to `out`.
pub fn run(
    cfg: BenchConfig,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<BenchReport, String> {
    cfg.validate()?;
    let p = &cfg.placement;
    if p.gen_cores.iter().any(|c| p.dut_cores.contains(c)) || p.dut_cores.contains(&p.sink_core) {
        log(
            out,
            "warning: the DUT shares a core with the generator or the sink; its CPU figures \
             include their softirq time",
        );
    }
    let mut topo = Topology::build(cfg.placement.clone())?;
    if cfg.keep {
        topo.keep();
    }
    log(
        out,
        &format!(
            "bench veth: {} B frames, {} s per trial; {}; generator engine {}{}; {}",
            cfg.size,
            cfg.duration,
            cfg.placement.describe(),
            cfg.gen_engine,
            if cfg.gen_engine == Engine::XdpLive {
                " (the kernel DUT's ingress end runs an XDP_PASS program)"
            } else {
                ""
            },
            topology::priorities(cfg.busy_poll)
        ),
    );
    log(
        out,
        &format!(
            "hosts: gen {} ({}) → dut {} ({} | {}) → sink {} ({}), {} queue(s) per veth end",
            topo.gen.name(),
            topo.gen_if(),
            topo.dut.name(),
            topo.dut_gen_if(),
            topo.dut_sink_if(),
            topo.sink.name(),
            topo.sink_if(),
            topo.queues
        ),
    );

    // Kernel tunings at the generator's full rate; the first trial also
    // measures the generator's maximum.
    let mut variants: Vec<(KernelVariant, Trial)> = Vec::new();
    for &v in KernelVariant::for_engine(cfg.gen_engine) {
        stopped(stop)?;
        let mut k = KernelDut::setup(&topo, v, cfg.gen_engine)?;
        let t = sweep::run_trial(&cfg, &topo, &mut k, None)?;
        log(
            out,
            &format!("   linux ({v}) at full rate: {}", describe(&t)),
        );
        variants.push((v, t));
    }
    let gen_max_pps = variants[0].1.offered_pps;
    if gen_max_pps <= 0.0 {
        return Err("the generator sent nothing; run `xdpnet doctor` for the cause".into());
    }
    let (best_v, best_t) = variants
        .iter()
        .max_by(|a, b| a.1.throughput_pps.total_cmp(&b.1.throughput_pps))
        .cloned()
        .ok_or("no kernel tuning was measured")?;
    log(
        out,
        &format!(
            "generator maximum {gen_max_pps:.0} pps; kernel keeps {best_v} (better full-rate \
             throughput)"
        ),
    );
    let loads = sweep::load_points(gen_max_pps, cfg.points);

    let mut ctx = Ctx {
        cfg: &cfg,
        topo: &topo,
        stop,
        out,
    };
    let mut kernel = KernelDut::setup(&topo, best_v, cfg.gen_engine)?;
    let mut kr = measure_dut(&mut ctx, &mut kernel, "linux", &loads, Some(best_t))?;
    kr.variants = variants
        .into_iter()
        .map(|(v, t)| (v.as_str().to_string(), t))
        .collect();
    kernel.teardown(&topo)?;

    let mut router = XdpnetDut::setup(&topo, cfg.exe.clone(), cfg.busy_poll)?;
    let xr = measure_dut(&mut ctx, &mut router, "xdpnet", &loads, None)?;

    Ok(BenchReport {
        date: report::utc_date(std::time::SystemTime::now()),
        gen_max_pps,
        loads_pps: loads,
        duts: vec![kr, xr],
        machine: report::Machine::detect(),
        config: cfg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BenchConfig {
        BenchConfig {
            exe: PathBuf::from("xdpnet"),
            duration: 3.0,
            size: 64,
            placement: Placement {
                gen_cores: vec![0],
                sink_core: 0,
                dut_cores: vec![0],
            },
            points: 5,
            search_steps: 4,
            gen_engine: Engine::XdpLive,
            busy_poll: false,
            keep: false,
        }
    }

    #[test]
    fn validate_accepts_the_defaults_and_names_each_bad_setting() {
        assert_eq!(cfg().validate(), Ok(()));
        let bad = |f: fn(&mut BenchConfig), needle: &str| {
            let mut c = cfg();
            f(&mut c);
            let e = c.validate().unwrap_err();
            assert!(e.contains(needle), "{e}");
        };
        bad(|c| c.duration = 90.0, "-d 90");
        bad(|c| c.duration = 0.5, "-d 0.5");
        bad(|c| c.size = 42, "-s 42");
        bad(|c| c.points = 1, "--points");
        bad(|c| c.placement.dut_cores = vec![], "--dut-cores");
        bad(|c| c.placement.dut_cores = vec![0, 0], "names core 0 twice");
        bad(
            |c| c.placement.gen_cores = vec![4096],
            "core 4096 does not exist",
        );
        bad(|c| c.placement.gen_cores = vec![], "--gen-core");
        // xdp-live: generator core c feeds DUT queue c mod queues.
        bad(
            |c| c.placement.dut_cores = vec![0, 1],
            "no generator core feeds queue 1",
        );
        bad(
            |c| {
                c.placement.dut_cores = vec![0, 1];
                c.placement.gen_cores = vec![0, 2];
            },
            "no generator core feeds queue 1",
        );
    }

    #[test]
    fn several_dut_cores_need_a_generator_core_per_queue_with_xdp_live() {
        let mut c = cfg();
        c.placement.dut_cores = vec![0, 1];
        c.placement.gen_cores = vec![1, 0];
        let two_cores = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
        if two_cores {
            assert_eq!(c.validate(), Ok(()));
        }
        let p = &c.placement;
        assert_eq!(p.gen_core_of_queue(0, Engine::XdpLive), Some(0));
        assert_eq!(p.gen_core_of_queue(1, Engine::XdpLive), Some(1));
        // xsk: any core feeds any queue; the threads take the cores in turn.
        c.gen_engine = Engine::Xsk;
        c.placement.gen_cores = vec![0];
        if two_cores {
            assert_eq!(c.validate(), Ok(()));
        }
        let p = &c.placement;
        assert_eq!(p.gen_core_of_queue(0, Engine::Xsk), Some(0));
        assert_eq!(p.gen_core_of_queue(1, Engine::Xsk), Some(0));
    }
}
