//! `xdpnet bench pipeline`: the router's per-packet path over in-memory
//! frames, with no kernel involved. Reports ns/packet and packets/s on one
//! core; under `valgrind --tool=callgrind` it gives a repeatable
//! instructions-per-packet figure (see the README).
//!
//! `xdpnet bench veth [-d SECS] [-s SIZE] [--json] [--out DIR] …`: the
//! kernel's forwarding and `xdpnet router` side by side over veth pairs in
//! network namespaces (see `xdpnet::app::bench_veth`).

use clap::{Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant as WallClock;
use xdpnet::app::bench_veth::{self, topology::Placement, BenchConfig};
use xdpnet::app::pipeline::{Pipeline, PipelineConfig};
use xdpnet::app::pktgen::Engine;
use xdpnet::worker::placement::parse_list;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    kind: BenchKind,
}

#[derive(Debug, Subcommand)]
enum BenchKind {
    /// Forward frames through a router stack in memory (rx batch → parse →
    /// FIB → neighbor → rewrite → tx batch) and report ns/packet.
    Pipeline(PipelineArgs),
    /// The Linux kernel's forwarding and `xdpnet router` side by side:
    /// generator → DUT → sink in network namespaces over veth pairs, a
    /// sweep of offered loads, CPU per packet, latency and the no-drop
    /// rate (root).
    Veth(VethArgs),
}

#[derive(Debug, Args)]
struct VethArgs {
    /// Seconds per trial (1..=60).
    #[arg(short = 'd', long, value_name = "SECS", default_value_t = 10.0)]
    duration: f64,
    /// Ethernet frame size without FCS (60..=1514).
    #[arg(short = 's', long, value_name = "SIZE", default_value_t = 64)]
    size: usize,
    /// Print the report as one JSON document on stdout (progress goes to
    /// stderr).
    #[arg(long)]
    json: bool,
    /// Write DIR/<date>-veth.json and DIR/<date>-veth.svg.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Cores of the generator, e.g. 0 or 2,3. With several DUT cores and
    /// the xdp-live engine, one per DUT queue: veth puts the frames sent
    /// from core C on queue C mod (number of DUT cores).
    #[arg(
        long,
        visible_alias = "gen-cores",
        value_name = "LIST",
        default_value = "0"
    )]
    gen_core: String,
    /// Core of the sink.
    #[arg(long, value_name = "CORE", default_value_t = 0)]
    sink_core: usize,
    /// Cores of the DUT, e.g. 1 or 2,3: one veth queue per core, served by
    /// one router worker or one kernel NAPI thread (or RPS target) each.
    #[arg(long, value_name = "LIST", default_value = "1")]
    dut_cores: String,
    /// Load points of the sweep: POINTS−1 even fractions of the
    /// generator's maximum, then the maximum.
    #[arg(long, value_name = "N", default_value_t = 5)]
    points: usize,
    /// Trials of the binary search for the no-drop rate.
    #[arg(long, value_name = "N", default_value_t = 4)]
    search_steps: usize,
    /// Generator engine for both DUTs: xdp-live (BPF_PROG_RUN live frames,
    /// the faster; the kernel DUT's ingress then runs an XDP_PASS program)
    /// or xsk (AF_XDP tx ring).
    #[arg(long, value_name = "ENGINE", default_value_t = Engine::DEFAULT)]
    gen_engine: Engine,
    /// Run the router with --busy-poll (its CPU time is then the whole
    /// core, not the work done).
    #[arg(long)]
    busy_poll: bool,
    /// Do not draw the SVG plot (with --out).
    #[arg(long)]
    no_plot: bool,
    /// Leave the namespaces and veth pairs in place for inspection.
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Args)]
struct PipelineArgs {
    /// Packets to forward.
    #[arg(short = 'n', long, default_value_t = 10_000_000)]
    count: u64,
    /// Ethernet frame size in bytes, without FCS (raised to the smallest
    /// size that holds the headers: 42 for IPv4, 62 for IPv6).
    #[arg(short = 's', long, default_value_t = 64)]
    size: usize,
    /// Distinct UDP flows, cycled.
    #[arg(long, default_value_t = 16)]
    flows: u16,
    /// Frames per rx batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Forward IPv6 instead of IPv4.
    #[arg(long)]
    ipv6: bool,
    /// Print one JSON document instead of the summary block.
    #[arg(long)]
    json: bool,
}

pub fn run(a: BenchArgs) -> Result<(), String> {
    match a.kind {
        BenchKind::Pipeline(p) => pipeline(p),
        BenchKind::Veth(v) => veth(v),
    }
}

fn veth(a: VethArgs) -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(
            "bench veth needs root (it creates network namespaces, veth pairs and \
                    AF_XDP sockets): run it with sudo"
                .into(),
        );
    }
    let dut_cores = parse_list(&a.dut_cores).map_err(|e| format!("--dut-cores: {e}"))?;
    let gen_cores = parse_list(&a.gen_core).map_err(|e| format!("--gen-core: {e}"))?;
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the xdpnet binary to spawn: {e}"))?;
    let cfg = BenchConfig {
        exe,
        duration: a.duration,
        size: a.size,
        placement: Placement {
            gen_cores,
            sink_core: a.sink_core,
            dut_cores,
        },
        points: a.points,
        search_steps: a.search_steps,
        gen_engine: a.gen_engine,
        busy_poll: a.busy_poll,
        keep: a.keep,
    };
    let stop = super::pktgen::stop_flag()?;
    let mut progress = std::io::stderr();
    let report = bench_veth::run(cfg, &stop, &mut progress)?;
    let doc = bench_veth::report::to_json(&report);
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let json_path = dir.join(format!("{}-veth.json", report.date));
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(&json_path, text + "\n")
            .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
        eprintln!("wrote {}", json_path.display());
        if !a.no_plot {
            let svg = dir.join(format!("{}-veth.svg", report.date));
            bench_veth::plot::write_svg(&report, &svg)?;
            eprintln!("wrote {}", svg.display());
        }
    }
    if a.json {
        println!("{doc}");
    } else {
        print!("{}", bench_veth::report::to_table(&report));
    }
    Ok(())
}

fn pipeline(a: PipelineArgs) -> Result<(), String> {
    if a.batch == 0 || a.batch > 4096 {
        return Err(format!(
            "--batch {} is out of range: use 1..=4096 (default 64)",
            a.batch
        ));
    }
    if a.flows == 0 {
        return Err("--flows must be at least 1".into());
    }
    if a.size > 1514 {
        return Err(format!(
            "--size {} exceeds the 1514-byte frame of a 1500-byte MTU",
            a.size
        ));
    }
    let cfg = PipelineConfig {
        frame_size: a.size,
        flows: a.flows,
        ipv6: a.ipv6,
        batch: a.batch,
    };
    let mut p = Pipeline::new(cfg);
    // Warm up: fill the buffer free lists and caches.
    p.run((a.batch as u64) * 16);
    let start = WallClock::now();
    let forwarded = p.run(a.count);
    let secs = start.elapsed().as_secs_f64();
    let drops: Vec<(String, u64)> = p
        .stack()
        .drops()
        .nonzero()
        .map(|(r, n)| (r.name().to_string(), n))
        .collect();
    let ns_per_packet = secs * 1e9 / forwarded.max(1) as f64;
    let mpps = forwarded as f64 / secs / 1e6;
    if a.json {
        let doc = json!({
            "benchmark": "pipeline",
            "family": if a.ipv6 { "ipv6" } else { "ipv4" },
            "frame_size": a.size,
            "flows": a.flows,
            "batch": a.batch,
            "packets": forwarded,
            "seconds": secs,
            "ns_per_packet": ns_per_packet,
            "mpps_per_core": mpps,
            "drops": drops.iter().map(|(r, n)| json!({"reason": r, "count": n})).collect::<Vec<_>>(),
        });
        println!("{doc}");
    } else {
        println!("--- summary ---");
        println!(
            "benchmark      pipeline ({}, {} B frames, {} flows, batch {})",
            if a.ipv6 { "IPv6" } else { "IPv4" },
            a.size,
            a.flows,
            a.batch
        );
        println!("forwarded      {forwarded} packets in {secs:.3} s");
        println!("per packet     {ns_per_packet:.1} ns");
        println!("rate           {mpps:.2} Mpps on one core");
        if drops.is_empty() {
            println!("drops          none");
        } else {
            for (r, n) in &drops {
                println!("drop           {r}: {n}");
            }
        }
    }
    if forwarded < a.count {
        return Err(format!(
            "only {forwarded} of {} packets were forwarded",
            a.count
        ));
    }
    Ok(())
}
