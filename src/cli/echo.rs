//! `xdpnet echo`: TCP and UDP echo over AF_XDP.
//!
//! ```text
//! xdpnet echo --iface IF=ADDR/PREFIX[,…] (repeat) [--route "PREFIX via GW"] (repeat)
//!             [--port N] [--workers N] [--cores LIST] [--queues LIST|all]
//!             [--xdp-mode auto|native|generic] [--copy-mode auto|copy|zero-copy]
//!             [--busy-poll] [--drop-probability P] [-i SECS] [-d SECS] [--json]
//! ```
//!
//! The same setup as `xdpnet router` (checks, placement, the AF_XDP link
//! factory, steering, workers) with forwarding off and an echo application
//! on every shard.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Args;
use xdpnet::app::echo::{run_echo, DEFAULT_PORT};
use xdpnet::app::router::{preflight, RouterApp, Steering};
use xdpnet::config::{
    parse_xdp_mode, CopyMode, InterfaceSpec, QueueSelection, RouteSpec, RouterOptions,
};
use xdpnet::steering::XdpMode;
use xdpnet::worker::links::LinkFactory;
use xdpnet::worker::placement::{parse_list, Placement};
use xdpnet::worker::xdp_factory::{XdpLinkFactory, FRAMES_PER_WORKER};

#[derive(Debug, Args)]
pub struct EchoArgs {
    #[command(flatten)]
    host: HostArgs,
    /// TCP and UDP port to echo on.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PORT)]
    port: u16,
}

/// The host part shared by `xdpnet echo` and `xdpnet tcpclient`:
/// interfaces, routes, workers, XDP and AF_XDP modes, stats and loss.
#[derive(Debug, Args)]
pub struct HostArgs {
    /// An interface and its addresses: IF=ADDR/PREFIX[,ADDR/PREFIX…]
    /// (repeat for each interface), e.g. veth0=198.18.0.2/24,2001:2::2/64.
    #[arg(long = "iface", value_name = "IF=ADDR/PREFIX[,…]", required = true)]
    iface: Vec<InterfaceSpec>,
    /// A static route (repeatable): "PREFIX via GW [dev IF] [metric N]",
    /// "default via GW".
    #[arg(long = "route", value_name = "\"PREFIX via GW\"")]
    route: Vec<RouteSpec>,
    /// Worker threads (default: the number of --cores, else one per rx
    /// queue).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Cores to pin workers to, e.g. 0,2-3 (one per worker).
    #[arg(long, value_name = "LIST", value_parser = parse_cores)]
    cores: Option<Cores>,
    /// Rx queues to serve on every interface (default: all).
    #[arg(long, value_name = "LIST|all")]
    queues: Option<QueueSelection>,
    /// XDP attach mode: auto, native, generic.
    #[arg(long, value_name = "auto|native|generic", value_parser = parse_xdp_mode)]
    xdp_mode: Option<XdpMode>,
    /// AF_XDP copy mode: auto, copy, zero-copy.
    #[arg(long, value_name = "auto|copy|zero-copy")]
    copy_mode: Option<CopyMode>,
    /// Spin on the rings instead of sleeping when idle.
    #[arg(long)]
    busy_poll: bool,
    /// Seconds between stats lines (0: none; default 1).
    #[arg(short = 'i', long, value_name = "SECS", allow_negative_numbers = true)]
    interval: Option<f64>,
    /// Stop after this many seconds (default: run until Ctrl-C / SIGTERM).
    #[arg(short = 'd', long, value_name = "SECS", allow_negative_numbers = true)]
    duration: Option<f64>,
    /// Drop this fraction (0.0-1.0) of received frames in the steering
    /// program, at random (loss injection for tests).
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    drop_probability: f64,
    /// Print the summary as one JSON document (and no stats lines).
    #[arg(long)]
    json: bool,
}

/// A host ready to run: the router's app (links, steering, placement),
/// the stop flag wired to SIGINT/SIGTERM, and the run options.
pub struct Host {
    pub app: RouterApp,
    pub stop: Arc<AtomicBool>,
    pub json: bool,
    pub interval: f64,
    pub duration: Option<f64>,
}

impl HostArgs {
    /// Check the setup, attach steering (with the loss probability) and
    /// install the signal handlers.
    pub fn prepare(self) -> Result<Host, String> {
        let a = self;
        let cfg = RouterOptions::default()
            .overlay(RouterOptions {
                interfaces: a.iface,
                routes: a.route,
                neighbors: Vec::new(),
                workers: a.workers,
                cores: a.cores.map(|c| c.0),
                queues: a.queues,
                xdp_mode: a.xdp_mode,
                copy_mode: a.copy_mode,
                busy_poll: a.busy_poll.then_some(true),
                interval: a.interval,
                duration: a.duration,
                json: a.json.then_some(true),
            })
            .finish()
            .map_err(|e| e.to_string())?;
        let pre = preflight(&cfg).map_err(|e| e.to_string())?;
        let factory: Arc<dyn LinkFactory> = Arc::new(
            XdpLinkFactory::new(cfg.copy_mode, cfg.busy_poll).with_rx_ring(rx_ring(&pre.placement)),
        );
        let mut steering =
            Steering::attach_all(&cfg, pre.placement.xskmap_slots()).map_err(|e| e.to_string())?;
        if a.drop_probability > 0.0 {
            steering
                .set_drop_probability(a.drop_probability)
                .map_err(|e| e.to_string())?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())
                .and_then(|_| signal_hook::flag::register(sig, stop.clone()))
                .map_err(|e| format!("cannot install the signal handler: {e}"))?;
        }
        let (json, interval, duration) = (cfg.json, cfg.interval, cfg.duration);
        let app = RouterApp::new(cfg, pre.placement, factory).with_steering(steering);
        Ok(Host {
            app,
            stop,
            json,
            interval,
            duration,
        })
    }
}

/// Rx ring size for the echo's sockets: a host stack receiving bulk TCP
/// on a busy machine overflows the default 512-entry ring (frames dropped
/// before the stack sees them, then retransmissions and timeouts), so take
/// up to 2048, keeping every worker's fill rings within half its UMEM.
fn rx_ring(p: &Placement) -> u32 {
    let sockets = p
        .workers
        .iter()
        .map(|w| {
            (0..p.ifnames.len())
                .map(|i| w.queues.iter().filter(|q| q.iface == i).count().max(1))
                .sum::<usize>()
        })
        .max()
        .unwrap_or(1)
        .max(1) as u32;
    // fill = 2 × rx per socket; all fill rings ≤ FRAMES_PER_WORKER / 2.
    let per_socket = FRAMES_PER_WORKER / 2 / sockets / 2;
    let rx = if per_socket >= 512 {
        1 << (31 - per_socket.leading_zeros())
    } else {
        512
    };
    rx.min(2048)
}

/// A parsed `--cores` list (one value for clap, not many).
#[derive(Debug, Clone)]
pub struct Cores(Vec<usize>);

fn parse_cores(s: &str) -> Result<Cores, String> {
    parse_list(s).map(Cores)
}

pub fn run(a: EchoArgs) -> Result<(), String> {
    if a.port == 0 {
        return Err("--port: 0 is not a port to listen on; give 1-65535".into());
    }
    let h = a.host.prepare()?;
    let mut out = std::io::stdout();
    let summary = run_echo(
        h.app, a.port, h.interval, h.duration, h.json, h.stop, &mut out,
    )
    .map_err(|e| e.to_string())?;
    if h.json {
        println!("{}", summary.to_json());
    } else {
        print!("{summary}");
    }
    let _ = out.flush();
    Ok(())
}
