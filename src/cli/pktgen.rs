//! `xdpnet pktgen`: XDP UDP traffic generator (engines `xdp-live` and `xsk`).
//!
//! ```text
//! xdpnet pktgen IF (--dst-mac MAC | --gateway IP) --src-ip IP[/N] --dst-ip IP[/N]
//!               [--src-mac MAC] [--src-port RANGE] [--dst-port RANGE] [--flows N]
//!               [-s SIZE] [-r RATE] [-d SECS | -n COUNT] [--queues LIST] [--cores LIST]
//!               [--engine xdp-live|xsk] [-i SECS] [--xdp-mode M] [--json]
//! ```

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Args;
use ipnet::IpNet;
use std::net::IpAddr;

use xdpnet::app::pktgen::{parse_ip_range, Engine, NextHop, Pktgen, PktgenConfig, PortRange, Rate};
use xdpnet::config::parse_xdp_mode;
use xdpnet::steering::XdpMode;
use xdpnet::wire::EthernetAddress;
use xdpnet::worker::placement::parse_list;

/// Default engine and why (shown in `--help`).
const ENGINE_HELP: &str = "Transmit engine: xdp-live (BPF_PROG_RUN with \
BPF_F_TEST_XDP_LIVE_FRAMES of a stamping XDP program returning XDP_TX: no skb, no \
socket; the receiver needs an XDP program on veth) or xsk (AF_XDP socket per queue, \
copy mode on veth). Default xdp-live: the faster on veth (README, pktgen).";

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("next_hop").required(true).args(["dst_mac", "gateway"])))]
pub struct PktgenArgs {
    /// Interface to send on.
    #[arg(value_name = "IF")]
    iface: String,
    /// Destination MAC (the next hop or the receiver), e.g. 02:00:00:00:00:02.
    /// Exactly one of --dst-mac and --gateway.
    #[arg(long, value_name = "MAC")]
    dst_mac: Option<EthernetAddress>,
    /// Resolve the destination MAC from this neighbour: ARP (IPv4) or a
    /// Neighbor Solicitation (IPv6) sent and answered on the AF_XDP
    /// socket, 3 tries, 1 s apart.
    #[arg(long, value_name = "IP")]
    gateway: Option<IpAddr>,
    /// Source MAC (default: the interface's).
    #[arg(long, value_name = "MAC")]
    src_mac: Option<EthernetAddress>,
    /// Source address, or a range from the address to the end of its
    /// prefix: 198.18.0.1/24 (flow i takes the i-th address, cycled).
    #[arg(long, value_name = "IP[/N]", value_parser = parse_ip_range)]
    src_ip: IpNet,
    /// Destination address or range (same family as --src-ip).
    #[arg(long, value_name = "IP[/N]", value_parser = parse_ip_range)]
    dst_ip: IpNet,
    /// Source UDP port or range, e.g. 1024-2047 (flow i takes the i-th).
    #[arg(long, value_name = "RANGE", default_value = "1024-65535")]
    src_port: PortRange,
    /// Destination UDP port or range.
    #[arg(long, value_name = "RANGE", default_value = "9")]
    dst_port: PortRange,
    /// Distinct flows (5-tuples), sent round-robin.
    #[arg(long, value_name = "N", default_value_t = 1)]
    flows: u32,
    /// Ethernet frame size in bytes WITHOUT the 4-byte FCS: 60..=MTU+14
    /// (IPv4 needs 60, IPv6 78 for headers and the 16-byte stamp).
    #[arg(short = 's', long = "size", value_name = "SIZE", default_value_t = 64)]
    size: usize,
    /// Rate: packets/s (10k, 500k, 2M, 2Mpps) or L1 bit rate (800Mbit,
    /// 1Gbit; frame + 20 B preamble/IFG). 0 = as fast as possible.
    #[arg(short = 'r', long, value_name = "RATE", default_value = "0")]
    rate: Rate,
    /// Stop after this many seconds.
    #[arg(
        short = 'd',
        long,
        value_name = "SECS",
        conflicts_with = "count",
        allow_negative_numbers = true
    )]
    duration: Option<f64>,
    /// Stop after this many packets.
    #[arg(short = 'n', long = "count", value_name = "COUNT")]
    count: Option<u64>,
    /// TX queues, one thread each (e.g. 0-1 or 0,2): the rate and -n are
    /// split between them, flows partitioned (flow i on queue i mod N).
    #[arg(long, value_name = "LIST", default_value = "0")]
    queues: String,
    /// Cores to pin the queues' threads to, one per queue (e.g. 0,1);
    /// default: not pinned.
    #[arg(long, value_name = "LIST")]
    cores: Option<String>,
    #[arg(long, value_name = "xdp-live|xsk", default_value = "xdp-live", help = ENGINE_HELP)]
    engine: Engine,
    /// Seconds between stats lines (0: none).
    #[arg(short = 'i', long, value_name = "SECS", default_value_t = 1.0)]
    interval: f64,
    /// XDP attach mode of the steering program: auto, native, generic.
    #[arg(long, value_name = "auto|native|generic", value_parser = parse_xdp_mode, default_value = "auto")]
    xdp_mode: XdpMode,
    /// Print the summary as one JSON document (and no stats lines).
    #[arg(long)]
    json: bool,
}

/// Install SIGINT/SIGTERM handlers that set `stop`.
pub fn stop_flag() -> Result<Arc<AtomicBool>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping exits at once (exit status 1).
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())
            .and_then(|_| signal_hook::flag::register(sig, stop.clone()))
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }
    Ok(stop)
}

pub fn run(a: PktgenArgs) -> Result<(), String> {
    let queues = parse_list(&a.queues)
        .map_err(|e| format!("--queues: {e}"))?
        .into_iter()
        .map(|q| u32::try_from(q).map_err(|_| format!("--queues: queue {q} is too large")))
        .collect::<Result<Vec<u32>, String>>()?;
    let cores = a
        .cores
        .as_deref()
        .map(|c| parse_list(c).map_err(|e| format!("--cores: {e}")))
        .transpose()?;
    if a.interval < 0.0 {
        return Err("-i must be 0 (no stats lines) or a positive number of seconds".into());
    }
    let next_hop =
        match (a.dst_mac, a.gateway) {
            (Some(m), None) => NextHop::Mac(m),
            (None, Some(g)) => NextHop::Gateway(g),
            _ => return Err(
                "give exactly one of --dst-mac MAC and --gateway IP (the MAC to send to, or the \
                 neighbour to resolve it from)"
                    .into(),
            ),
        };
    let cfg = PktgenConfig {
        iface: a.iface,
        queues,
        cores,
        engine: a.engine,
        next_hop,
        src_mac: a.src_mac,
        src_ip: a.src_ip,
        dst_ip: a.dst_ip,
        src_ports: a.src_port,
        dst_ports: a.dst_port,
        flows: a.flows,
        size: a.size,
        rate: a.rate,
        duration: a.duration,
        count: a.count,
        interval: a.interval,
        json: a.json,
        xdp_mode: a.xdp_mode,
    };
    let mut g = Pktgen::new(cfg)?;
    for w in &g.warnings() {
        eprintln!("warning: {w}");
    }
    eprintln!("Sending on {} to {}", g.describe(), g.dst_mac());
    let stop = stop_flag()?;
    let mut out = std::io::stdout();
    let s = g.run(&stop, &mut out)?;
    if a.json {
        println!("{}", s.to_json());
    } else {
        print!("{s}");
    }
    let _ = out.flush();
    Ok(())
}
