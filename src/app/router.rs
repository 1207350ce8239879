//! `xdpnet router`: a line-rate IPv4/IPv6 router on the sharded stack.
//!
//! # Pieces
//!
//! * [`preflight`] runs the setup checks on the real host before anything
//!   is touched: privileges, every interface exists and is up, the queues to
//!   serve exist (channel count from sysfs), the MTU fits an AF_XDP frame;
//!   then computes and returns the queue → worker [`Placement`]. Every
//!   failure is a cause and a fix ([`RouterError`]).
//! * [`Steering`] loads one steering program per interface (policy `all`:
//!   a router owns its links), attaches it in the asked XDP mode (reporting
//!   the mode really used), puts each worker's socket into the XSKMAP, and
//!   reads the counters for the summary.
//! * [`RouterApp`] runs the workers over any [`LinkFactory`] — the AF_XDP
//!   factory in production, in-memory pipes in tests — prints one stats line
//!   per interface per interval and returns a [`RouterSummary`] when stopped
//!   (stop flag, signal, or duration).
//! * [`xdp_link_factory`] builds the AF_XDP link factory
//!   ([`XdpLinkFactory`]).
//!
//! Every shard starts with the same addresses, routes and forwarding on
//! every interface; route changes later go through
//! [`Runtime::publish_routes`](crate::worker::runtime::Runtime::publish_routes).

use core::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant as WallClock};

use serde_json::{json, Value};

use crate::config::{ConfigError, CopyMode, QueueSelection, RouterConfig};
use crate::link::LinkDriverStats;
use crate::stack::{DropCounters, NicStats, StackConfig};
use crate::steering::{
    Attachment, Policy, SteeringCounters, SteeringError, SteeringOptions, SteeringProgram, XdpMode,
};
use crate::worker::host::{usable_cores, HostError, InterfaceInfo, Privileges, DEFAULT_FRAME_SIZE};
use crate::worker::links::{LinkFactory, LinkRole};
use crate::worker::placement::{place, Placement, PlacementError};
use crate::worker::runtime::{
    InterfaceSetup, NoApp, ReadyLink, Runtime, RuntimeConfig, RuntimeError, ShardApp, ShardSetup,
};
use crate::worker::stats::{sum_drops, sum_nics, WorkerStats};
use crate::worker::xdp_factory::XdpLinkFactory;
use crate::xsk::UmemAccounting;

/// Rx batches per poll for a host application's shards: up to 64 × 64
/// frames, more than a 2048-entry rx ring holds, so each poll drains it.
pub const HOST_RX_BATCHES: usize = 64;

/// Why the router could not start or run; each names the cause and the fix.
#[derive(Debug)]
pub enum RouterError {
    /// A configuration error.
    Config(ConfigError),
    /// A host setup problem.
    Host(HostError),
    /// The queues cannot be placed on the workers.
    Placement(PlacementError),
    /// Loading/attaching the steering program failed on an interface.
    Steering {
        /// The interface.
        ifname: String,
        /// What went wrong (with its fix).
        error: SteeringError,
    },
    /// The workers failed.
    Runtime(RuntimeError),
}

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "{e}"),
            Self::Host(e) => write!(f, "{e}"),
            Self::Placement(e) => write!(f, "{e}"),
            Self::Steering { ifname, error } => write!(f, "{ifname}: {error}"),
            Self::Runtime(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RouterError {}

impl From<ConfigError> for RouterError {
    fn from(e: ConfigError) -> Self {
        RouterError::Config(e)
    }
}
impl From<HostError> for RouterError {
    fn from(e: HostError) -> Self {
        RouterError::Host(e)
    }
}
impl From<PlacementError> for RouterError {
    fn from(e: PlacementError) -> Self {
        RouterError::Placement(e)
    }
}
impl From<RuntimeError> for RouterError {
    fn from(e: RuntimeError) -> Self {
        RouterError::Runtime(e)
    }
}

/// What the setup checks found.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// Facts about each interface, in config order.
    pub interfaces: Vec<InterfaceInfo>,
    /// Where each queue will be served.
    pub placement: Placement,
}

/// The setup checks, in the order a user would fix them: privileges; each
/// interface exists and is up; its queues exist; its MTU fits a
/// [`DEFAULT_FRAME_SIZE`] frame. Then the placement.
pub fn preflight(config: &RouterConfig) -> Result<Preflight, RouterError> {
    Privileges::current().check()?;
    let mut infos = Vec::new();
    let mut iface_queues = Vec::new();
    for spec in &config.interfaces {
        let info = InterfaceInfo::lookup(&spec.name)?;
        info.check_up()?;
        let queues: Vec<u32> = match &config.queues {
            QueueSelection::All => (0..info.rx_queues.unwrap_or(1).max(1)).collect(),
            QueueSelection::List(l) => {
                info.check_queues(l)?;
                l.clone()
            }
        };
        info.check_mtu(DEFAULT_FRAME_SIZE)?;
        iface_queues.push((spec.name.clone(), queues));
        infos.push(info);
    }
    let placement = place(
        &iface_queues,
        config.workers,
        config.cores.as_deref(),
        &usable_cores(),
    )?;
    Ok(Preflight {
        interfaces: infos,
        placement,
    })
}

/// The placement for interfaces whose queue lists are known (no host
/// access: tests and pipes).
pub fn plan(
    config: &RouterConfig,
    iface_queues: &[(String, Vec<u32>)],
    available_cores: &[usize],
) -> Result<Placement, RouterError> {
    Ok(place(
        iface_queues,
        config.workers,
        config.cores.as_deref(),
        available_cores,
    )?)
}

/// The AF_XDP link factory for `config`: one socket per (interface, rx
/// queue), a UMEM per worker shared by its sockets, the requested copy mode
/// and busy polling.
pub fn xdp_link_factory(config: &RouterConfig) -> Result<Arc<dyn LinkFactory>, RouterError> {
    Ok(Arc::new(XdpLinkFactory::new(
        config.copy_mode,
        config.busy_poll,
    )))
}

/// The steering programs of the router's interfaces.
pub struct Steering {
    programs: Vec<(String, SteeringProgram)>,
    attachments: Vec<Attachment>,
}

impl fmt::Debug for Steering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Steering")
            .field("attachments", &self.attachments)
            .finish_non_exhaustive()
    }
}

impl Steering {
    /// Load and attach one program per interface (policy `all`). On any
    /// failure the programs attached so far are detached (Drop).
    pub fn attach_all(config: &RouterConfig, max_queues: u32) -> Result<Steering, RouterError> {
        let mut s = Steering {
            programs: Vec::new(),
            attachments: Vec::new(),
        };
        for spec in &config.interfaces {
            let wrap = |error| RouterError::Steering {
                ifname: spec.name.clone(),
                error,
            };
            let mut prog = SteeringProgram::load(SteeringOptions {
                max_queues: max_queues.max(1),
                policy: Policy::All,
                ..SteeringOptions::default()
            })
            .map_err(wrap)?;
            let att = prog.attach(&spec.name, config.xdp_mode).map_err(wrap)?;
            s.attachments.push(att);
            s.programs.push((spec.name.clone(), prog));
        }
        Ok(s)
    }

    /// What was attached where, in which mode (with any warnings).
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// Put every rx socket into its interface's XSKMAP.
    pub fn insert_sockets(&self, links: &[ReadyLink]) -> Result<(), RouterError> {
        use std::os::fd::AsFd;
        for l in links.iter().filter(|l| l.role == LinkRole::RxTx) {
            let (Some(fd), Some((name, prog))) = (&l.fd, self.programs.get(l.iface)) else {
                continue;
            };
            prog.insert_socket(l.queue, fd.as_fd())
                .map_err(|error| RouterError::Steering {
                    ifname: name.clone(),
                    error,
                })?;
        }
        Ok(())
    }

    /// Randomly drop this fraction (0.0–1.0) of the frames every program
    /// would redirect (loss injection on the real receive path).
    pub fn set_drop_probability(&mut self, p: f64) -> Result<(), RouterError> {
        for (ifname, prog) in &mut self.programs {
            prog.set_drop_probability(p)
                .map_err(|error| RouterError::Steering {
                    ifname: ifname.clone(),
                    error,
                })?;
        }
        Ok(())
    }

    /// Counters per interface (`None` where reading failed).
    pub fn counters(&self) -> Vec<(String, Option<SteeringCounters>)> {
        self.programs
            .iter()
            .map(|(n, p)| (n.clone(), p.counters().ok()))
            .collect()
    }
}

/// The router over a link factory.
pub struct RouterApp {
    config: RouterConfig,
    placement: Placement,
    factory: Arc<dyn LinkFactory>,
    steering: Option<Steering>,
    pin: bool,
    forwarding: bool,
    apps: Option<ShardApps>,
}

/// Builds the application of each shard (shard index → app).
pub type ShardApps = Box<dyn FnMut(usize) -> Box<dyn ShardApp>>;

impl fmt::Debug for RouterApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterApp")
            .field("factory", &self.factory.name())
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}

impl RouterApp {
    /// A router for `config`, placed by `placement`, with links from
    /// `factory`.
    pub fn new(config: RouterConfig, placement: Placement, factory: Arc<dyn LinkFactory>) -> Self {
        RouterApp {
            config,
            placement,
            factory,
            steering: None,
            pin: true,
            forwarding: true,
            apps: None,
        }
    }

    /// Run `apps(shard)` on every shard (default: none, a pure router) —
    /// how a host application (e.g. `xdpnet echo`) reuses the router's
    /// workers, links, steering and stats.
    pub fn with_apps(mut self, apps: ShardApps) -> Self {
        self.apps = Some(apps);
        self
    }

    /// Where each queue will be served.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The steering attachments (none without steering).
    pub fn attachments(&self) -> &[Attachment] {
        self.steering.as_ref().map_or(&[], |s| s.attachments())
    }

    /// Forward between interfaces (default true; a host application
    /// turns it off).
    pub fn with_forwarding(mut self, forwarding: bool) -> Self {
        self.forwarding = forwarding;
        self
    }

    /// Use these attached steering programs (their XSKMAPs get the workers'
    /// sockets; their counters go into the summary).
    pub fn with_steering(mut self, steering: Steering) -> Self {
        self.steering = Some(steering);
        self
    }

    /// Pin workers to cores (default true; tests on shared machines may
    /// turn it off).
    pub fn with_pinning(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// Start the workers. `stop` ends them when set.
    pub fn start(mut self, stop: Arc<AtomicBool>) -> Result<RunningRouter, RouterError> {
        let routes = self.config.stack_routes()?;
        let neighbors = self.config.stack_neighbors()?;
        let setup = ShardSetup {
            interfaces: self
                .config
                .interfaces
                .iter()
                .map(|i| InterfaceSetup {
                    name: i.name.clone(),
                    addresses: i.addresses.clone(),
                })
                .collect(),
            routes,
            neighbors,
            forwarding: self.forwarding,
            stack: StackConfig {
                // A host application drains its rx rings each poll (see
                // `rx_batches`); the pure router keeps the one batch per
                // round it was benchmarked with.
                rx_batches: if self.apps.is_some() {
                    HOST_RX_BATCHES
                } else {
                    1
                },
                ..StackConfig::default()
            },
        };
        let mut rc = RuntimeConfig::new(self.placement.clone(), setup);
        rc.busy_poll = self.config.busy_poll;
        rc.pin = self.pin;
        let runtime = match self.apps.take() {
            Some(apps) => Runtime::start(rc, self.factory.clone(), apps, stop)?,
            None => Runtime::start(rc, self.factory.clone(), |_| Box::new(NoApp), stop)?,
        };
        if let Some(s) = &self.steering {
            s.insert_sockets(runtime.links())?;
        }
        let ifnames = self.placement.ifnames.clone();
        let n = ifnames.len();
        Ok(RunningRouter {
            copy_modes: copy_modes(runtime.links(), n),
            runtime,
            steering: self.steering,
            link_kind: self.factory.name().to_string(),
            factory: self.factory,
            ifnames,
            started: WallClock::now(),
            last: None,
            config: self.config,
        })
    }

    /// Start, print the placement and one stats line per interface per
    /// interval to `out` (unless `--json` or interval 0), and stop when
    /// `stop` is set, the duration ends, or a worker dies. Returns the
    /// summary (the caller prints it).
    pub fn run(
        self,
        stop: Arc<AtomicBool>,
        out: &mut dyn Write,
    ) -> Result<RouterSummary, RouterError> {
        let quiet = self.config.json;
        let interval = self.config.interval;
        let duration = self.config.duration.map(StdDuration::from_secs_f64);
        if !quiet {
            let _ = write!(out, "{}", self.placement);
            if let Some(s) = &self.steering {
                for a in s.attachments() {
                    let _ = writeln!(out, "{a}");
                }
            }
        }
        let mut running = self.start(stop.clone())?;
        if !quiet {
            let _ = writeln!(
                out,
                "routing on {} ({} link{}); Ctrl-C to stop",
                running.ifnames.join(", "),
                running.link_kind,
                if running.ifnames.len() == 1 { "" } else { "s" }
            );
        }
        let start = WallClock::now();
        let tick = StdDuration::from_millis(20);
        let mut next_line = (interval > 0.0).then(|| start + StdDuration::from_secs_f64(interval));
        running.sample();
        loop {
            if stop.load(Ordering::Relaxed) || running.runtime.any_finished() {
                break;
            }
            if duration.is_some_and(|d| start.elapsed() >= d) {
                break;
            }
            std::thread::sleep(tick);
            if let Some(t) = next_line {
                if WallClock::now() >= t {
                    let s = running.sample();
                    if !quiet {
                        let _ = write!(out, "{s}");
                        let _ = out.flush();
                    }
                    next_line = Some(t + StdDuration::from_secs_f64(interval));
                }
            }
        }
        running.stop()
    }
}

fn copy_modes(links: &[ReadyLink], n: usize) -> Vec<Option<CopyMode>> {
    (0..n)
        .map(|i| {
            let mut it = links.iter().filter(|l| l.iface == i).map(|l| l.copy_mode);
            let first = it.next().flatten();
            // Mixed modes on one interface are reported as copy (the slower).
            if it.any(|m| m != first) {
                Some(CopyMode::Copy)
            } else {
                first
            }
        })
        .collect()
}

/// A running router.
pub struct RunningRouter {
    runtime: Runtime,
    steering: Option<Steering>,
    link_kind: String,
    factory: Arc<dyn LinkFactory>,
    ifnames: Vec<String>,
    copy_modes: Vec<Option<CopyMode>>,
    started: WallClock,
    last: Option<(WallClock, Vec<NicStats>, DropCounters)>,
    config: RouterConfig,
}

impl fmt::Debug for RunningRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningRouter")
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

/// Rates of one interface over one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceRate {
    /// Interface name.
    pub name: String,
    /// Received packets per second.
    pub rx_pps: f64,
    /// Transmitted packets per second.
    pub tx_pps: f64,
    /// Received Mbit/s (L2 bytes).
    pub rx_mbps: f64,
    /// Transmitted Mbit/s (L2 bytes).
    pub tx_mbps: f64,
    /// Frames per second dropped at this interface (link full, NIC off).
    pub drop_pps: f64,
}

/// One interval's stats.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalSample {
    /// Interval length in seconds.
    pub secs: f64,
    /// Per-interface rates.
    pub interfaces: Vec<InterfaceRate>,
    /// Stack drops per second by reason (all shards), non-zero only.
    pub drops: Vec<(&'static str, f64)>,
}

impl fmt::Display for IntervalSample {
    /// xdp-bench style, thousands separators:
    /// `veth0   1,234 rx/s   1,200 tx/s   0 drop/s   0.6 Mbit/s rx   0.6 Mbit/s tx`
    /// and, when the stack dropped something, one `drops` line by reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in &self.interfaces {
            writeln!(
                f,
                "{:<15} {:>13} rx/s {:>13} tx/s {:>9} drop/s {:>10.1} Mbit/s rx {:>10.1} Mbit/s tx",
                i.name,
                thousands(i.rx_pps.round() as u64),
                thousands(i.tx_pps.round() as u64),
                thousands(i.drop_pps.round() as u64),
                i.rx_mbps,
                i.tx_mbps
            )?;
        }
        if !self.drops.is_empty() {
            let parts: Vec<String> = self
                .drops
                .iter()
                .map(|(r, n)| format!("{r} {}/s", thousands(n.round() as u64)))
                .collect();
            writeln!(f, "{:<15} {}", "drops", parts.join(", "))?;
        }
        Ok(())
    }
}

impl RunningRouter {
    /// The runtime (stats, route publishing).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Rates since the previous sample (the first call starts the clock).
    pub fn sample(&mut self) -> IntervalSample {
        let now = WallClock::now();
        let stats = self.runtime.stats();
        let nics = sum_nics(&stats, self.ifnames.len());
        let drops = sum_drops(&stats);
        let (secs, interfaces, drop_rates) = match &self.last {
            Some((t, prev, prev_drops)) => {
                let secs = now.duration_since(*t).as_secs_f64().max(1e-9);
                let rates = self
                    .ifnames
                    .iter()
                    .zip(nics.iter().zip(prev))
                    .map(|(name, (c, p))| {
                        let d = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
                        InterfaceRate {
                            name: name.clone(),
                            rx_pps: d(c.rx_packets, p.rx_packets),
                            tx_pps: d(c.tx_packets, p.tx_packets),
                            rx_mbps: d(c.rx_bytes, p.rx_bytes) * 8.0 / 1e6,
                            tx_mbps: d(c.tx_bytes, p.tx_bytes) * 8.0 / 1e6,
                            drop_pps: d(
                                c.tx_dropped + c.disabled_rx_packets,
                                p.tx_dropped + p.disabled_rx_packets,
                            ),
                        }
                    })
                    .collect();
                let dr = drops
                    .nonzero()
                    .filter_map(|(r, n)| {
                        let delta = n.saturating_sub(prev_drops.get(r));
                        (delta > 0).then(|| (r.name(), delta as f64 / secs))
                    })
                    .collect();
                (secs, rates, dr)
            }
            None => (0.0, Vec::new(), Vec::new()),
        };
        self.last = Some((now, nics, drops));
        IntervalSample {
            secs,
            interfaces,
            drops: drop_rates,
        }
    }

    /// Stop the workers and build the summary.
    pub fn stop(self) -> Result<RouterSummary, RouterError> {
        let duration = self.started.elapsed().as_secs_f64();
        let steering = self.steering.as_ref().map(|s| s.counters());
        let attachments: Vec<Attachment> = self
            .steering
            .as_ref()
            .map(|s| s.attachments().to_vec())
            .unwrap_or_default();
        let workers = self.runtime.shutdown()?;
        let nics = sum_nics(&workers, self.ifnames.len());
        let drops = sum_drops(&workers);
        let placement_names = |w: &WorkerStats| -> Vec<String> {
            w.queues
                .iter()
                .map(|q| format!("{}:{}", self.ifnames[q.iface], q.queue))
                .collect()
        };
        let interfaces = self
            .ifnames
            .iter()
            .enumerate()
            .map(|(i, name)| InterfaceTotals {
                name: name.clone(),
                rx_packets: nics[i].rx_packets,
                rx_bytes: nics[i].rx_bytes,
                tx_packets: nics[i].tx_packets,
                tx_bytes: nics[i].tx_bytes,
                tx_dropped: nics[i].tx_dropped,
                xdp_mode: attachments
                    .iter()
                    .find(|a| &a.ifname == name)
                    .map(|a| a.mode),
                copy_mode: self.copy_modes.get(i).copied().flatten(),
                steering: steering
                    .as_ref()
                    .and_then(|s| s.iter().find(|(n, _)| n == name))
                    .and_then(|(_, c)| *c),
                driver: workers
                    .iter()
                    .filter_map(|w| w.driver.get(i).copied().flatten())
                    .fold(None, |acc: Option<LinkDriverStats>, d| {
                        let mut a = acc.unwrap_or_default();
                        a.add(&d);
                        Some(a)
                    }),
            })
            .collect();
        let worker_totals = workers
            .iter()
            .map(|w| WorkerTotals {
                worker: w.worker,
                core: w.core,
                queues: placement_names(w),
                rx_packets: w.rx_packets(),
                rx_bytes: w.rx_bytes(),
                tx_packets: w.tx_packets(),
                tx_bytes: w.tx_bytes(),
                handoff_out: w.handoff_out,
                handoff_in: w.handoff_in,
                handoff_dropped: w.handoff_dropped,
                loops: w.loops,
                sleeps: w.sleeps,
                // The workers and their links are gone: every frame must be
                // back on the free list.
                umem: self.factory.umem_accounting(w.worker),
            })
            .collect();
        Ok(RouterSummary {
            duration_secs: duration,
            link_kind: self.link_kind,
            busy_poll: self.config.busy_poll,
            interfaces,
            workers: worker_totals,
            drops: drops
                .nonzero()
                .map(|(r, n)| (r.name().to_string(), n))
                .collect(),
            forwarded: workers.iter().map(|w| w.stack.ip_forwarded).sum(),
        })
    }
}

/// Totals of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceTotals {
    /// Interface name.
    pub name: String,
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames transmitted.
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Frames dropped because the link stayed full.
    pub tx_dropped: u64,
    /// XDP mode the steering program really runs in (`None`: no program,
    /// e.g. pipe links).
    pub xdp_mode: Option<XdpMode>,
    /// Copy mode the sockets really use (`None`: links without one).
    pub copy_mode: Option<CopyMode>,
    /// Steering counters, when a program is attached.
    pub steering: Option<SteeringCounters>,
    /// The AF_XDP sockets' `XDP_STATISTICS`, summed over workers (`None`:
    /// links without them).
    pub driver: Option<LinkDriverStats>,
}

/// Totals of one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerTotals {
    /// Worker index.
    pub worker: usize,
    /// Its core, if pinned.
    pub core: Option<usize>,
    /// Queues served (`IF:Q`).
    pub queues: Vec<String>,
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames transmitted.
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Frames handed to other shards.
    pub handoff_out: u64,
    /// Frames received from other shards.
    pub handoff_in: u64,
    /// Handoffs dropped (owner's inbox full).
    pub handoff_dropped: u64,
    /// Loop iterations.
    pub loops: u64,
    /// Idle sleeps.
    pub sleeps: u64,
    /// Where the frames of its UMEM were after it stopped (`None`: links
    /// without one). A frame not free here was leaked.
    pub umem: Option<UmemAccounting>,
}

/// What the router did, printed on exit.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterSummary {
    /// Wall-clock run time in seconds.
    pub duration_secs: f64,
    /// The link factory's name.
    pub link_kind: String,
    /// Whether workers spun instead of sleeping.
    pub busy_poll: bool,
    /// Per interface.
    pub interfaces: Vec<InterfaceTotals>,
    /// Per worker.
    pub workers: Vec<WorkerTotals>,
    /// Drops by reason (non-zero), all shards.
    pub drops: Vec<(String, u64)>,
    /// Packets forwarded, all shards.
    pub forwarded: u64,
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mode_name(m: Option<XdpMode>, kind: &str) -> String {
    m.map_or_else(|| format!("none ({kind} links)"), |m| m.to_string())
}

fn copy_name(m: Option<CopyMode>, kind: &str) -> String {
    m.map_or_else(|| format!("n/a ({kind} links)"), |m| m.to_string())
}

impl fmt::Display for RouterSummary {
    /// The fixed `--- summary ---` block (field names are stable).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.duration_secs.max(1e-9);
        writeln!(f, "--- summary ---")?;
        writeln!(f, "Duration            : {:.1}s", self.duration_secs)?;
        writeln!(f, "Links               : {}", self.link_kind)?;
        writeln!(
            f,
            "Polling             : {}",
            if self.busy_poll {
                "busy"
            } else {
                "poll(2) when idle"
            }
        )?;
        writeln!(f, "Packets forwarded   : {}", thousands(self.forwarded))?;
        for i in &self.interfaces {
            writeln!(f, "Interface {}", i.name)?;
            writeln!(
                f,
                "  XDP mode          : {}",
                mode_name(i.xdp_mode, &self.link_kind)
            )?;
            writeln!(
                f,
                "  Copy mode         : {}",
                copy_name(i.copy_mode, &self.link_kind)
            )?;
            writeln!(
                f,
                "  RX                : {} packets, {} bytes ({} pps avg)",
                thousands(i.rx_packets),
                thousands(i.rx_bytes),
                thousands((i.rx_packets as f64 / secs).round() as u64)
            )?;
            writeln!(
                f,
                "  TX                : {} packets, {} bytes ({} pps avg)",
                thousands(i.tx_packets),
                thousands(i.tx_bytes),
                thousands((i.tx_packets as f64 / secs).round() as u64)
            )?;
            writeln!(f, "  TX dropped        : {}", thousands(i.tx_dropped))?;
            if let Some(d) = &i.driver {
                writeln!(
                    f,
                    "  XDP socket        : rx dropped {} rx ring full {} fill ring empty {} tx ring empty {} invalid descs {}",
                    thousands(d.rx_dropped),
                    thousands(d.rx_ring_full),
                    thousands(d.rx_fill_ring_empty),
                    thousands(d.tx_ring_empty),
                    thousands(d.invalid_descs)
                )?;
            }
            match &i.steering {
                Some(c) => writeln!(f, "  Steering          : {c}")?,
                None => writeln!(f, "  Steering          : none")?,
            }
        }
        for w in &self.workers {
            let core = w
                .core
                .map_or_else(|| "not pinned".to_string(), |c| format!("core {c}"));
            writeln!(f, "Worker {} ({core}; {})", w.worker, w.queues.join(" "))?;
            writeln!(
                f,
                "  RX                : {} packets, {} bytes",
                thousands(w.rx_packets),
                thousands(w.rx_bytes)
            )?;
            writeln!(
                f,
                "  TX                : {} packets, {} bytes",
                thousands(w.tx_packets),
                thousands(w.tx_bytes)
            )?;
            writeln!(
                f,
                "  Handoff           : {} out, {} in, {} dropped",
                thousands(w.handoff_out),
                thousands(w.handoff_in),
                thousands(w.handoff_dropped)
            )?;
            writeln!(
                f,
                "  Loops             : {} ({} idle sleeps)",
                thousands(w.loops),
                thousands(w.sleeps)
            )?;
            if let Some(u) = &w.umem {
                write!(
                    f,
                    "  UMEM frames       : {} total, {} free",
                    thousands(u64::from(u.total)),
                    thousands(u64::from(u.free))
                )?;
                if !u.all_free() {
                    write!(
                        f,
                        " (LEAK: {} fill side, {} user, {} tx side)",
                        thousands(u64::from(u.fill)),
                        thousands(u64::from(u.user)),
                        thousands(u64::from(u.tx))
                    )?;
                }
                writeln!(f)?;
            }
        }
        if self.drops.is_empty() {
            writeln!(f, "Drops               : none")?;
        } else {
            writeln!(f, "Drops")?;
            for (r, n) in &self.drops {
                writeln!(f, "  {r:<28}: {}", thousands(*n))?;
            }
        }
        Ok(())
    }
}

fn steering_json(c: &SteeringCounters) -> Value {
    json!({
        "seen": c.seen,
        "redirected": c.redirected,
        "pass_not_owned": c.pass_not_owned,
        "pass_no_socket": c.pass_no_socket,
        "pass_unsure": c.pass_unsure,
        "drop_random": c.drop_random,
        "drop_malformed": c.drop_malformed,
    })
}

impl RouterSummary {
    /// The summary as one JSON document.
    pub fn to_json(&self) -> Value {
        json!({
            "command": "router",
            "duration_secs": self.duration_secs,
            "links": self.link_kind,
            "busy_poll": self.busy_poll,
            "forwarded": self.forwarded,
            "interfaces": self.interfaces.iter().map(|i| json!({
                "name": i.name,
                "xdp_mode": i.xdp_mode.map(|m| m.to_string()),
                "copy_mode": i.copy_mode.map(|m| m.to_string()),
                "rx_packets": i.rx_packets,
                "rx_bytes": i.rx_bytes,
                "tx_packets": i.tx_packets,
                "tx_bytes": i.tx_bytes,
                "tx_dropped": i.tx_dropped,
                "steering": i.steering.as_ref().map(steering_json),
                "xdp_statistics": i.driver.map(|d| json!({
                    "rx_dropped": d.rx_dropped,
                    "rx_ring_full": d.rx_ring_full,
                    "rx_fill_ring_empty": d.rx_fill_ring_empty,
                    "tx_ring_empty": d.tx_ring_empty,
                    "invalid_descs": d.invalid_descs,
                })),
            })).collect::<Vec<_>>(),
            "workers": self.workers.iter().map(|w| json!({
                "worker": w.worker,
                "core": w.core,
                "queues": w.queues,
                "rx_packets": w.rx_packets,
                "rx_bytes": w.rx_bytes,
                "tx_packets": w.tx_packets,
                "tx_bytes": w.tx_bytes,
                "handoff_out": w.handoff_out,
                "handoff_in": w.handoff_in,
                "handoff_dropped": w.handoff_dropped,
                "loops": w.loops,
                "sleeps": w.sleeps,
                "umem": w.umem.map(|u| json!({
                    "frames_total": u.total,
                    "frames_free": u.free,
                    "fill": u.fill,
                    "user": u.user,
                    "tx": u.tx,
                })),
            })).collect::<Vec<_>>(),
            "drops": self.drops.iter().map(|(r, n)| json!({"reason": r, "count": n})).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn interval_lines() {
        let s = IntervalSample {
            secs: 1.0,
            interfaces: vec![InterfaceRate {
                name: "veth0".into(),
                rx_pps: 1234567.0,
                tx_pps: 1000.0,
                rx_mbps: 632.1,
                tx_mbps: 0.5,
                drop_pps: 0.0,
            }],
            drops: vec![("no_route", 12.0)],
        };
        let t = s.to_string();
        assert!(t.starts_with("veth0"), "{t}");
        assert!(t.contains("1,234,567 rx/s"), "{t}");
        assert!(t.contains("632.1 Mbit/s rx"), "{t}");
        assert!(t.contains("drops           no_route 12/s"), "{t}");
    }
}
