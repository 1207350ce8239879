//! `xdpnet router`: route between interfaces on AF_XDP workers.
//!
//! ```text
//! xdpnet router --iface IF=ADDR/PREFIX[,ADDR/PREFIX…] (repeat) [--route "PREFIX via GW"] (repeat)
//!               [--workers N] [--cores LIST] [--xdp-mode auto|native|generic]
//!               [--copy-mode auto|copy|zero-copy] [--busy-poll] [-i SECS] [--json]
//!               [--config FILE.toml] [--queues LIST|all] [-d SECS] [--print-config]
//! ```
//!
//! Order of work: parse flags and the config file (flags win) → setup checks
//! (privileges, interfaces, queues, MTU) → placement → the AF_XDP link
//! factory → steering programs → workers, until SIGINT/SIGTERM or `-d`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Args;
use xdpnet::app::router::{preflight, xdp_link_factory, RouterApp, Steering};
use xdpnet::config::{
    parse_xdp_mode, CopyMode, InterfaceSpec, NeighborSpec, QueueSelection, RouteSpec, RouterOptions,
};
use xdpnet::steering::XdpMode;
use xdpnet::worker::placement::parse_list;

#[derive(Debug, Args)]
pub struct RouterArgs {
    /// An interface and its addresses: IF=ADDR/PREFIX[,ADDR/PREFIX…]
    /// (repeat for each interface), e.g. veth0=198.18.0.1/24,2001:2::1/64.
    #[arg(long = "iface", value_name = "IF=ADDR/PREFIX[,…]")]
    iface: Vec<InterfaceSpec>,
    /// A static route (repeatable): "PREFIX via GW [dev IF] [metric N]",
    /// "PREFIX blackhole", "PREFIX unreachable", "default via GW".
    #[arg(long = "route", value_name = "\"PREFIX via GW\"")]
    route: Vec<RouteSpec>,
    /// A static neighbor (repeatable), as `ip neigh replace` takes it:
    /// "ADDR lladdr MAC dev IF". Every worker gets the entry; it never ages
    /// and is never probed, so the neighbor need not answer ARP / NDP.
    #[arg(long = "neighbor", value_name = "\"ADDR lladdr MAC dev IF\"")]
    neighbor: Vec<NeighborSpec>,
    /// Worker threads (default: the number of --cores, else one per rx
    /// queue). Fewer workers than queues: round-robin.
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Cores to pin workers to, e.g. 0,2-3 (one per worker).
    #[arg(long, value_name = "LIST", value_parser = parse_cores)]
    cores: Option<Cores>,
    /// Rx queues to serve on every interface (default: all).
    #[arg(long, value_name = "LIST|all")]
    queues: Option<QueueSelection>,
    /// XDP attach mode: auto (native, else generic with a warning), native,
    /// generic.
    #[arg(long, value_name = "auto|native|generic", value_parser = parse_xdp_mode)]
    xdp_mode: Option<XdpMode>,
    /// AF_XDP copy mode: auto (zero-copy if the driver can), copy, zero-copy.
    #[arg(long, value_name = "auto|copy|zero-copy")]
    copy_mode: Option<CopyMode>,
    /// Spin on the rings instead of sleeping when idle (one full core per
    /// worker, lowest latency).
    #[arg(long)]
    busy_poll: bool,
    /// Seconds between stats lines (0: none; default 1).
    #[arg(short = 'i', long, value_name = "SECS", allow_negative_numbers = true)]
    interval: Option<f64>,
    /// Stop after this many seconds (default: run until Ctrl-C / SIGTERM).
    #[arg(short = 'd', long, value_name = "SECS", allow_negative_numbers = true)]
    duration: Option<f64>,
    /// Print the summary as one JSON document (and no stats lines).
    #[arg(long)]
    json: bool,
    /// TOML configuration file; flags given on the command line override it.
    #[arg(long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
    /// Print the effective configuration (file + flags) as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

/// A parsed `--cores` list (one value for clap, not many).
#[derive(Debug, Clone)]
struct Cores(Vec<usize>);

fn parse_cores(s: &str) -> Result<Cores, String> {
    parse_list(s).map(Cores)
}

impl RouterArgs {
    fn options(&self) -> RouterOptions {
        RouterOptions {
            interfaces: self.iface.clone(),
            routes: self.route.clone(),
            neighbors: self.neighbor.clone(),
            workers: self.workers,
            cores: self.cores.as_ref().map(|c| c.0.clone()),
            queues: self.queues.clone(),
            xdp_mode: self.xdp_mode,
            copy_mode: self.copy_mode,
            busy_poll: self.busy_poll.then_some(true),
            interval: self.interval,
            duration: self.duration,
            json: self.json.then_some(true),
        }
    }
}

pub fn run(a: RouterArgs) -> Result<(), String> {
    let file = match &a.config {
        Some(p) => RouterOptions::from_file(p).map_err(|e| e.to_string())?,
        None => RouterOptions::default(),
    };
    let cfg = file
        .overlay(a.options())
        .finish()
        .map_err(|e| e.to_string())?;
    if a.print_config {
        print!("{}", cfg.to_toml());
        return Ok(());
    }
    let pre = preflight(&cfg).map_err(|e| e.to_string())?;
    let factory = match xdp_link_factory(&cfg) {
        Ok(f) => f,
        Err(e) => {
            if !cfg.json {
                print!("setup checks passed; planned {}", pre.placement);
            }
            return Err(e.to_string());
        }
    };
    let steering =
        Steering::attach_all(&cfg, pre.placement.xskmap_slots()).map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping exits at once (exit status 1).
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())
            .and_then(|_| signal_hook::flag::register(sig, stop.clone()))
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }
    let json = cfg.json;
    let mut out = std::io::stdout();
    let summary = RouterApp::new(cfg, pre.placement, factory)
        .with_steering(steering)
        .run(stop, &mut out)
        .map_err(|e| e.to_string())?;
    if json {
        println!("{}", summary.to_json());
    } else {
        print!("{summary}");
    }
    let _ = out.flush();
    Ok(())
}
