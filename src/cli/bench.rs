//! `xdpnet bench pipeline`: the router's per-packet path over in-memory
//! frames, with no kernel involved. Reports ns/packet and packets/s on one
//! core; under `valgrind --tool=callgrind` it gives a repeatable
//! instructions-per-packet figure (see the README).

use clap::{Args, Subcommand};
use serde_json::json;
use std::time::Instant as WallClock;
use xdpnet::app::pipeline::{Pipeline, PipelineConfig};

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
    }
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
