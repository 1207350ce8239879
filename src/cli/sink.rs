//! `xdpnet sink`: AF_XDP receive-and-drop with loss, reordering and
//! latency of `xdpnet pktgen` traffic.
//!
//! ```text
//! xdpnet sink IF [-d SECS] [-q LIST] [-i SECS] [--xdp-mode M] [--json] [--hgrm FILE]
//! ```

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use xdpnet::app::sink::{hgrm, Sink, SinkConfig};
use xdpnet::config::parse_xdp_mode;
use xdpnet::steering::XdpMode;
use xdpnet::worker::placement::parse_list;

#[derive(Debug, Args)]
pub struct SinkArgs {
    /// Interface to receive on.
    #[arg(value_name = "IF")]
    iface: String,
    /// Stop after this many seconds (default: until Ctrl-C / SIGTERM).
    #[arg(short = 'd', long, value_name = "SECS", allow_negative_numbers = true)]
    duration: Option<f64>,
    /// Rx queues, e.g. 0 or 0-1 (one socket each, polled by one thread;
    /// `--queue` is an alias).
    #[arg(
        short = 'q',
        long = "queues",
        visible_alias = "queue",
        value_name = "LIST",
        default_value = "0"
    )]
    queues: String,
    /// Seconds between stats lines (0: none).
    #[arg(short = 'i', long, value_name = "SECS", default_value_t = 1.0)]
    interval: f64,
    /// XDP attach mode of the steering program: auto, native, generic.
    #[arg(long, value_name = "auto|native|generic", value_parser = parse_xdp_mode, default_value = "auto")]
    xdp_mode: XdpMode,
    /// Print the summary as one JSON document (and no stats lines).
    #[arg(long)]
    json: bool,
    /// Also write the latency distribution (µs) in HdrHistogram's `.hgrm`
    /// text format, for the HdrHistogram plotter.
    #[arg(long, value_name = "FILE")]
    hgrm: Option<PathBuf>,
}

pub fn run(a: SinkArgs) -> Result<(), String> {
    if a.interval < 0.0 {
        return Err("-i must be 0 (no stats lines) or a positive number of seconds".into());
    }
    let mut sink = Sink::new(SinkConfig {
        iface: a.iface,
        queues: parse_list(&a.queues)
            .map_err(|e| format!("--queues: {e}"))?
            .into_iter()
            .map(|q| u32::try_from(q).map_err(|_| format!("--queues: queue {q} is too large")))
            .collect::<Result<Vec<u32>, String>>()?,
        duration: a.duration,
        interval: a.interval,
        json: a.json,
        xdp_mode: a.xdp_mode,
    })?;
    for w in &sink.port().attachment.warnings {
        eprintln!("warning: {w}");
    }
    let stop = super::pktgen::stop_flag()?;
    eprintln!("Receiving on {}", sink.port().describe());
    let mut out = std::io::stdout();
    let s = sink.run(&stop, &mut out);
    if let Some(p) = &a.hgrm {
        std::fs::write(p, hgrm(sink.tracker().histogram()))
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    if a.json {
        println!("{}", s.to_json());
    } else {
        print!("{s}");
    }
    let _ = out.flush();
    Ok(())
}
