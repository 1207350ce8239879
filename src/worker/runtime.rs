//! The per-core runtime: one worker thread per shard, run to completion.
//!
//! # A shard
//!
//! A shard is one [`Stack`] (demux partition `i` of `n`) with one NIC per
//! interface (see [`super::links`]), the fds its links can be waited on,
//! and an [`Inbox`]. Every shard is configured identically at start from
//! one [`ShardSetup`]: the same addresses, routes and forwarding switches,
//! so any shard can forward any packet and answer for any local address.
//! Later route changes are published as [`ControlEvent::Routes`] snapshots
//! ([`Runtime::publish_routes`]) that every shard applies between polls.
//!
//! # The loop (one iteration)
//!
//! 1. `now` is read once from the monotonic [`Clock`] (the stack never
//!    reads a clock: Principle 1).
//! 2. [`Stack::poll`]: an rx batch from every link → the stack → one
//!    `write_packets` per egress link → due timers.
//! 3. The application hook ([`ShardApp::poll`]), if any.
//! 4. Packets whose flow another shard owns ([`Stack::take_handoff`]) are
//!    pushed into the owner's inbox; the owners' doorbells are rung once.
//! 5. Stack events: a resolved neighbor is sent to every other shard as a
//!    control event (the ARP/NDP reply arrived on one queue only).
//! 6. The inbox is drained: handed-off frames go to
//!    [`Stack::deliver_handoff`] (bounded per iteration), control events are
//!    applied, and what that produced is flushed.
//! 7. Once per publish interval the counters are copied into the worker's
//!    [`StatsSlot`].
//! 8. The stop flag is checked (a relaxed load; it is written once, at
//!    shutdown).
//! 9. If nothing happened and busy polling is off, the worker sleeps in
//!    `poll(2)` on its links' fds and its inbox doorbell, for at most
//!    [`RuntimeConfig::idle_timeout`] and never past [`Stack::poll_at`]: an
//!    idle worker does not burn its core, a timer is never late by more
//!    than the poll granularity (1 ms), and a stop or an inbox push wakes it
//!    at once.
//!
//! # Start and stop
//!
//! [`Runtime::start`] spawns one thread per worker. Each thread pins itself
//! to its core (core_affinity), asks the [`LinkFactory`] for its links (so
//! link memory is allocated on the core that uses it), builds its stack and
//! reports ready — or the error, in which case the runtime stops every
//! worker and returns the first error. [`Runtime::shutdown`] sets the stop
//! flag, rings every doorbell and joins the threads; each worker publishes
//! its final counters and drops its stack — and with it its links — on its
//! own thread. The stop flag is an `Arc<AtomicBool>` owned by the caller,
//! so a signal handler (signal-hook) can set it directly.

use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use core::fmt;

use ipnet::IpNet;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::config::CopyMode;
use crate::link::LinkEndpoint;
use crate::stack::{NicId, Route, Stack, StackConfig, StackEvent};
use crate::time::Instant;
use crate::wire::EthernetAddress;

use super::inbox::{ControlEvent, Inbox, RouteChange};
use super::links::{LinkFactory, LinkOpenError, LinkRequest, LinkRole, OpenedLink, QueueGroup};
use super::placement::Placement;
use super::stats::{StatsSlot, WorkerStats};

/// Handed-off frames a worker delivers per loop iteration at most, so a
/// flood from other shards cannot starve its own rx.
pub const INBOX_BUDGET: usize = 256;

/// The monotonic clock of a runtime: nanoseconds since the runtime started,
/// as the stack's [`Instant`]. All workers share one epoch.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: std::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    /// A clock whose zero is now.
    pub fn new() -> Clock {
        Clock {
            base: std::time::Instant::now(),
        }
    }

    /// The current time.
    #[inline]
    pub fn now(&self) -> Instant {
        Instant::from_nanos(u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

/// One interface as every shard configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceSetup {
    /// Interface name (also the NIC name in every stack).
    pub name: String,
    /// Addresses with their prefix (each adds a connected route).
    pub addresses: Vec<IpNet>,
}

/// The configuration every shard's stack starts with.
#[derive(Debug, Clone)]
pub struct ShardSetup {
    /// Interfaces in order: interface `i` is `NicId(i)` on every shard.
    pub interfaces: Vec<InterfaceSetup>,
    /// Static routes (their NIC ids index `interfaces`).
    pub routes: Vec<Route>,
    /// Static neighbor entries (NIC, address, MAC), on every shard.
    pub neighbors: Vec<(NicId, IpAddr, EthernetAddress)>,
    /// IPv4 and IPv6 forwarding on every NIC (a router: yes).
    pub forwarding: bool,
    /// Stack settings; `partition`/`partitions` are set per shard.
    pub stack: StackConfig,
}

impl ShardSetup {
    /// Build shard `partition` of `partitions` over `links` (one per
    /// interface, in order).
    pub fn build_stack(
        &self,
        partition: usize,
        partitions: usize,
        links: Vec<Box<dyn LinkEndpoint + Send>>,
    ) -> Result<Stack, String> {
        if links.len() != self.interfaces.len() {
            return Err(format!(
                "{} links for {} interfaces",
                links.len(),
                self.interfaces.len()
            ));
        }
        let mut stack = Stack::new(StackConfig {
            partition,
            partitions,
            ..self.stack.clone()
        });
        for (iface, link) in self.interfaces.iter().zip(links) {
            let id = stack.add_boxed_nic(iface.name.clone(), link);
            for a in &iface.addresses {
                stack
                    .add_address(id, *a)
                    .map_err(|e| format!("address {a} on {}: {e}", iface.name))?;
            }
            if self.forwarding {
                stack
                    .set_forwarding(id, true, true)
                    .map_err(|e| e.to_string())?;
            }
        }
        for r in &self.routes {
            stack
                .add_route(*r)
                .map_err(|e| format!("route {}: {e}", r.prefix))?;
        }
        for &(nic, addr, mac) in &self.neighbors {
            stack
                .add_static_neighbor(nic, addr, mac)
                .map_err(|e| format!("neighbor {addr}: {e}"))?;
        }
        Ok(stack)
    }
}

/// Per-shard application logic on top of the stack (the router needs none:
/// forwarding happens inside the stack; tests and future apps bind
/// endpoints here). Every method runs on the worker's thread.
pub trait ShardApp: Send {
    /// After the stack is built, before the loop.
    fn start(&mut self, _stack: &mut Stack, _shard: usize, _now: Instant) {}

    /// Every iteration, after [`Stack::poll`]. Return whether it did work.
    fn poll(&mut self, _stack: &mut Stack, _now: Instant) -> bool {
        false
    }

    /// After the loop, before the stack (and its links) are dropped.
    fn stop(&mut self, _stack: &mut Stack) {}
}

/// The application of a pure router: nothing beyond the stack.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoApp;

impl ShardApp for NoApp {}

/// How to run the workers.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Which worker serves which queues, on which core.
    pub placement: Placement,
    /// What every shard's stack starts with.
    pub setup: ShardSetup,
    /// Never sleep: spin on the links (lowest latency, one full core per
    /// worker).
    pub busy_poll: bool,
    /// Longest idle sleep (default 10 ms).
    pub idle_timeout: std::time::Duration,
    /// How often workers publish their counters (default 100 ms).
    pub publish_interval: std::time::Duration,
    /// Handed-off frames an inbox holds (default 4096).
    pub inbox_frames: usize,
    /// Control events an inbox holds (default 1024).
    pub inbox_control: usize,
    /// Pin workers to their placement cores (default true).
    pub pin: bool,
}

impl RuntimeConfig {
    /// Defaults for everything but the placement and setup.
    pub fn new(placement: Placement, setup: ShardSetup) -> RuntimeConfig {
        RuntimeConfig {
            placement,
            setup,
            busy_poll: false,
            idle_timeout: std::time::Duration::from_millis(10),
            publish_interval: std::time::Duration::from_millis(100),
            inbox_frames: 4096,
            inbox_control: 1024,
            pin: true,
        }
    }
}

/// A link a worker opened, as reported to the main thread.
#[derive(Debug)]
pub struct ReadyLink {
    /// The worker.
    pub worker: usize,
    /// Interface index.
    pub iface: usize,
    /// Queue id.
    pub queue: u32,
    /// Rx+tx or tx only.
    pub role: LinkRole,
    /// A duplicate of the link's fd (for the steering program's XSKMAP).
    pub fd: Option<OwnedFd>,
    /// The negotiated copy mode, if the link has one.
    pub copy_mode: Option<CopyMode>,
}

/// Why the runtime could not start or stopped badly.
#[derive(Debug)]
pub enum RuntimeError {
    /// The factory could not open a link.
    Link {
        /// The worker.
        worker: usize,
        /// The interface.
        ifname: String,
        /// The queue.
        queue: u32,
        /// The factory's error (cause and fix).
        error: LinkOpenError,
    },
    /// A shard's stack could not be configured.
    Setup {
        /// The worker.
        worker: usize,
        /// What failed.
        cause: String,
    },
    /// A thread or an eventfd could not be created.
    Resources(String),
    /// A worker panicked.
    WorkerPanicked {
        /// The worker.
        worker: usize,
        /// The panic message.
        message: String,
    },
    /// A control event could not be queued (a worker's control queue is
    /// full).
    ControlQueueFull {
        /// The worker.
        worker: usize,
    },
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Link {
                worker,
                ifname,
                queue,
                error,
            } => write!(
                f,
                "worker {worker} cannot open {ifname} queue {queue}: {error}"
            ),
            Self::Setup { worker, cause } => write!(
                f,
                "worker {worker} cannot configure its stack: {cause}. Fix: check the \
                 --iface addresses and --route entries (`--print-config` shows them)"
            ),
            Self::Resources(e) => write!(
                f,
                "cannot create worker resources: {e}. Fix: check `ulimit -n` and \
                 `ulimit -u` and free memory"
            ),
            Self::WorkerPanicked { worker, message } => write!(
                f,
                "worker {worker} panicked: {message}. This is a bug: please report it \
                 with the command line and `RUST_BACKTRACE=1` output"
            ),
            Self::ControlQueueFull { worker } => write!(
                f,
                "worker {worker}'s control queue is full (it is not keeping up). Fix: \
                 retry; if it persists the worker is stuck"
            ),
        }
    }
}

impl std::error::Error for RuntimeError {}

/// What a worker thread reports when it is set up.
type Ready = Result<Vec<ReadyLink>, RuntimeError>;

/// The running workers.
pub struct Runtime {
    stop: Arc<AtomicBool>,
    inboxes: Arc<[Arc<Inbox>]>,
    slots: Vec<Arc<StatsSlot>>,
    threads: Vec<(usize, JoinHandle<()>)>,
    links: Vec<ReadyLink>,
    clock: Clock,
    placement: Placement,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.threads.len())
            .field("stopping", &self.stop.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Spawn the workers and wait until every one is ready (or one failed:
    /// then all are stopped and the first error is returned). `apps(i)`
    /// makes worker `i`'s application; `stop` ends every loop when set.
    pub fn start(
        config: RuntimeConfig,
        factory: Arc<dyn LinkFactory>,
        mut apps: impl FnMut(usize) -> Box<dyn ShardApp>,
        stop: Arc<AtomicBool>,
    ) -> Result<Runtime, RuntimeError> {
        let n = config.placement.n_workers();
        let inboxes: Vec<Arc<Inbox>> = (0..n)
            .map(|_| Inbox::new(config.inbox_frames, config.inbox_control))
            .collect::<Result<_, _>>()
            .map_err(|e| RuntimeError::Resources(format!("eventfd: {e}")))?;
        let inboxes: Arc<[Arc<Inbox>]> = Arc::from(inboxes);
        let slots: Vec<Arc<StatsSlot>> = (0..n).map(|_| Arc::new(StatsSlot::new())).collect();
        let clock = Clock::new();
        let setup = Arc::new(config.setup.clone());
        let placement = Arc::new(config.placement.clone());
        let (ready_tx, ready_rx) = mpsc::channel::<(usize, Ready)>();
        let mut rt = Runtime {
            stop: stop.clone(),
            inboxes: inboxes.clone(),
            slots: slots.clone(),
            threads: Vec::new(),
            links: Vec::new(),
            clock,
            placement: config.placement.clone(),
        };
        for (w, slot) in slots.iter().enumerate() {
            let ctx = WorkerContext {
                index: w,
                placement: placement.clone(),
                setup: setup.clone(),
                factory: factory.clone(),
                app: apps(w),
                inboxes: inboxes.clone(),
                slot: slot.clone(),
                stop: stop.clone(),
                clock,
                busy_poll: config.busy_poll,
                idle_timeout: config.idle_timeout,
                publish_interval: config.publish_interval,
                pin: config.pin,
            };
            let tx = ready_tx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("xdpnet-wk{w}"))
                .spawn(move || worker_main(ctx, tx));
            match spawned {
                Ok(h) => rt.threads.push((w, h)),
                Err(e) => {
                    let _ = rt.shutdown();
                    return Err(RuntimeError::Resources(format!("spawning worker {w}: {e}")));
                }
            }
        }
        drop(ready_tx);
        let mut first_err: Option<RuntimeError> = None;
        for _ in 0..n {
            match ready_rx.recv() {
                Ok((_, Ok(links))) => rt.links.extend(links),
                Ok((_, Err(e))) => {
                    first_err.get_or_insert(e);
                }
                // A worker died before reporting: the join says why.
                Err(_) => break,
            }
        }
        if let Some(e) = first_err {
            let _ = rt.shutdown();
            return Err(e);
        }
        if rt.links.iter().filter(|l| l.role == LinkRole::RxTx).count()
            < placement.workers.iter().map(|w| w.queues.len()).sum()
        {
            // Some worker died without reporting (a panic in the factory).
            return match rt.shutdown() {
                Err(e) => Err(e),
                Ok(_) => Err(RuntimeError::Resources(
                    "a worker exited during setup".into(),
                )),
            };
        }
        Ok(rt)
    }

    /// The stop flag (set it, or call [`Runtime::shutdown`]).
    pub fn stop_flag(&self) -> &Arc<AtomicBool> {
        &self.stop
    }

    /// Whether stop was requested.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The placement the runtime runs.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The links the workers opened.
    pub fn links(&self) -> &[ReadyLink] {
        &self.links
    }

    /// The runtime's clock (shared epoch with the workers).
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The counters each worker published last.
    pub fn stats(&self) -> Vec<WorkerStats> {
        self.slots.iter().map(|s| s.read()).collect()
    }

    /// Whether any worker thread has ended (it should only end on stop).
    pub fn any_finished(&self) -> bool {
        self.threads.iter().any(|(_, h)| h.is_finished())
    }

    /// Publish route changes to every shard (applied together, between two
    /// polls, by each).
    pub fn publish_routes(&self, changes: Vec<RouteChange>) -> Result<(), RuntimeError> {
        self.broadcast(ControlEvent::Routes(Arc::from(changes)))
    }

    /// Send a control event to every shard (e.g. a neighbor learned by the
    /// control plane). Fails on the first full control queue.
    pub fn broadcast(&self, ev: ControlEvent) -> Result<(), RuntimeError> {
        for (w, inbox) in self.inboxes.iter().enumerate() {
            inbox
                .push_control(ev.clone())
                .map_err(|_| RuntimeError::ControlQueueFull { worker: w })?;
        }
        Ok(())
    }

    /// Stop every worker and wait for it; returns each worker's final
    /// counters (in worker order) or the first panic.
    pub fn shutdown(mut self) -> Result<Vec<WorkerStats>, RuntimeError> {
        self.stop.store(true, Ordering::SeqCst);
        for inbox in self.inboxes.iter() {
            inbox.wake();
        }
        let mut err = None;
        for (w, h) in self.threads.drain(..) {
            if let Err(p) = h.join() {
                let message = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                err.get_or_insert(RuntimeError::WorkerPanicked { worker: w, message });
            }
        }
        match err {
            Some(e) => Err(e),
            None => Ok(self.stats()),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop.store(true, Ordering::SeqCst);
            for inbox in self.inboxes.iter() {
                inbox.wake();
            }
            for (_, h) in self.threads.drain(..) {
                let _ = h.join();
            }
        }
    }
}

/// Everything a worker thread starts with.
struct WorkerContext {
    index: usize,
    placement: Arc<Placement>,
    setup: Arc<ShardSetup>,
    factory: Arc<dyn LinkFactory>,
    app: Box<dyn ShardApp>,
    inboxes: Arc<[Arc<Inbox>]>,
    slot: Arc<StatsSlot>,
    stop: Arc<AtomicBool>,
    clock: Clock,
    busy_poll: bool,
    idle_timeout: std::time::Duration,
    publish_interval: std::time::Duration,
    pin: bool,
}

fn worker_main(ctx: WorkerContext, ready: mpsc::Sender<(usize, Ready)>) {
    let w = ctx.index;
    let mut core = None;
    if let Some(c) = ctx.placement.workers[w].core {
        if ctx.pin && core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
            core = Some(c);
        }
    }
    let (stack, fds, links) = match open_shard(&ctx) {
        Ok(x) => x,
        Err(e) => {
            let _ = ready.send((w, Err(e)));
            return;
        }
    };
    let _ = ready.send((w, Ok(links)));
    drop(ready);
    let stats = WorkerStats {
        worker: w,
        core,
        queues: ctx.placement.workers[w].queues.clone(),
        nics: vec![Default::default(); stack.nics().len()],
        driver: vec![None; stack.nics().len()],
        ..WorkerStats::default()
    };
    let mut worker = Worker {
        n: ctx.inboxes.len(),
        inbox: ctx.inboxes[w].clone(),
        stack,
        fds,
        stats,
        ctx,
    };
    worker.run();
}

/// Open the links of worker `ctx.index` and build its stack.
fn open_shard(ctx: &WorkerContext) -> Result<(Stack, Vec<OwnedFd>, Vec<ReadyLink>), RuntimeError> {
    let w = ctx.index;
    let n = ctx.placement.n_workers();
    let mut nic_links: Vec<Box<dyn LinkEndpoint + Send>> = Vec::new();
    let mut fds = Vec::new();
    let mut ready = Vec::new();
    for (i, ifname) in ctx.placement.ifnames.iter().enumerate() {
        let mut requests: Vec<(u32, LinkRole)> = ctx
            .placement
            .queues_of(w, i)
            .map(|q| (q, LinkRole::RxTx))
            .collect();
        if requests.is_empty() {
            let qs = &ctx.placement.iface_queues[i];
            let q = qs.get(w % qs.len().max(1)).copied().unwrap_or(0);
            requests.push((q, LinkRole::TxOnly));
        }
        let mut members = Vec::new();
        for (queue, role) in requests {
            let req = LinkRequest {
                ifname: ifname.clone(),
                iface: i,
                queue,
                worker: w,
                role,
            };
            let OpenedLink {
                link,
                fd,
                copy_mode,
            } = ctx.factory.open(&req).map_err(|error| RuntimeError::Link {
                worker: w,
                ifname: ifname.clone(),
                queue,
                error,
            })?;
            let dup = match &fd {
                Some(f) => Some(
                    f.try_clone()
                        .map_err(|e| RuntimeError::Resources(format!("dup of a link fd: {e}")))?,
                ),
                None => None,
            };
            if let (Some(f), LinkRole::RxTx) = (fd, role) {
                fds.push(f);
            }
            ready.push(ReadyLink {
                worker: w,
                iface: i,
                queue,
                role,
                fd: dup,
                copy_mode,
            });
            members.push(link);
        }
        nic_links.push(QueueGroup::join(members));
    }
    let stack = ctx
        .setup
        .build_stack(w, n, nic_links)
        .map_err(|cause| RuntimeError::Setup { worker: w, cause })?;
    Ok((stack, fds, ready))
}

struct Worker {
    ctx: WorkerContext,
    n: usize,
    inbox: Arc<Inbox>,
    stack: Stack,
    fds: Vec<OwnedFd>,
    stats: WorkerStats,
}

impl Worker {
    fn run(&mut self) {
        let start = self.ctx.clock.now();
        self.ctx.app.start(&mut self.stack, self.ctx.index, start);
        let mut next_publish = start;
        let mut rang = vec![false; self.n];
        loop {
            let now = self.ctx.clock.now();
            let mut did = self.stack.poll(now);
            did |= self.ctx.app.poll(&mut self.stack, now);
            did |= self.hand_off(&mut rang);
            self.share_events();
            did |= self.drain_inbox(now);
            self.stats.loops += 1;
            if did {
                self.stats.busy_loops += 1;
            }
            if now >= next_publish {
                self.publish(now);
                next_publish = now + self.ctx.publish_interval;
            }
            if self.ctx.stop.load(Ordering::Relaxed) {
                break;
            }
            if !did && !self.ctx.busy_poll {
                self.sleep(now);
            }
        }
        self.ctx.app.stop(&mut self.stack);
        // Frames still queued for us are dropped with the inbox; count them.
        while self.inbox.pop_frame().is_some() {
            self.stats.handoff_dropped += 1;
        }
        self.stats.stopped = true;
        let now = self.ctx.clock.now();
        self.publish(now);
        // The stack, and with it every link, is dropped here, on the
        // worker's own thread.
    }

    /// Move packets owned by other shards to their inboxes.
    fn hand_off(&mut self, rang: &mut [bool]) -> bool {
        let mut any = false;
        while let Some((owner, nic, pkt)) = self.stack.take_handoff() {
            any = true;
            if owner >= self.n || owner == self.ctx.index {
                // A partition count the runtime does not have: nobody can
                // take it (delivering locally would hand it off again).
                self.stats.handoff_dropped += 1;
                continue;
            }
            match self.ctx.inboxes[owner].push_frame(nic, pkt) {
                Ok(()) => {
                    self.stats.handoff_out += 1;
                    rang[owner] = true;
                }
                Err(_) => self.stats.handoff_dropped += 1,
            }
        }
        for (w, r) in rang.iter_mut().enumerate() {
            if *r {
                self.ctx.inboxes[w].ring();
                *r = false;
            }
        }
        any
    }

    /// Tell the other shards about neighbors this one resolved.
    fn share_events(&mut self) {
        while let Some(ev) = self.stack.next_event() {
            if let StackEvent::NeighborResolved {
                nic,
                addr,
                mac,
                confirmed,
            } = ev
            {
                for (w, inbox) in self.ctx.inboxes.iter().enumerate() {
                    if w == self.ctx.index {
                        continue;
                    }
                    if inbox
                        .push_control(ControlEvent::Neighbor {
                            nic,
                            addr,
                            mac,
                            confirmed,
                        })
                        .is_err()
                    {
                        self.stats.control_failed += 1;
                    }
                }
            }
        }
    }

    fn drain_inbox(&mut self, now: Instant) -> bool {
        let mut did = false;
        for _ in 0..INBOX_BUDGET {
            let Some((nic, pkt)) = self.inbox.pop_frame() else {
                break;
            };
            self.stack.deliver_handoff(nic, pkt, now);
            self.stats.handoff_in += 1;
            did = true;
        }
        while let Some(ev) = self.inbox.pop_control() {
            self.apply(ev, now);
            did = true;
        }
        if did {
            self.stack.flush(now);
        }
        did
    }

    fn apply(&mut self, ev: ControlEvent, now: Instant) {
        match ev {
            ControlEvent::Routes(changes) => {
                let mut ok = true;
                for c in changes.iter() {
                    match *c {
                        RouteChange::Add(r) => ok &= self.stack.add_route(r).is_ok(),
                        RouteChange::Remove(p) => {
                            self.stack.remove_route(p);
                        }
                    }
                }
                if ok {
                    self.stats.control_applied += 1;
                } else {
                    self.stats.control_failed += 1;
                }
            }
            ControlEvent::Neighbor {
                nic,
                addr,
                mac,
                confirmed,
            } => {
                // Resolves what this shard is waiting for (and releases its
                // queued packets), or, confirmed, adds the neighbor; entries
                // keep aging and being probed.
                match self.stack.learn_neighbor(nic, addr, mac, confirmed, now) {
                    Ok(()) => self.stats.control_applied += 1,
                    Err(_) => self.stats.control_failed += 1,
                }
            }
        }
    }

    fn publish(&mut self, now: Instant) {
        self.stats.at = now;
        for (o, nic) in self.stats.nics.iter_mut().zip(self.stack.nics()) {
            *o = *nic.stats();
        }
        // One getsockopt per link per publish interval.
        for (i, d) in self.stats.driver.iter_mut().enumerate() {
            *d = self
                .stack
                .link(crate::stack::NicId(i as u16))
                .and_then(|l| l.driver_stats());
        }
        self.stats.drops.clone_from(self.stack.drops());
        self.stats.stack = *self.stack.stats();
        self.ctx.slot.publish(&self.stats);
    }

    /// Sleep until a link is readable, the inbox rings, a timer is due, or
    /// the idle timeout passes.
    fn sleep(&mut self, now: Instant) {
        let cap = self.ctx.idle_timeout;
        let timeout = match self.stack.poll_at() {
            Some(t) if t <= now => return,
            Some(t) => cap.min(t.saturating_duration_since(now)),
            None => cap,
        };
        // Round up to whole milliseconds: poll(2)'s granularity; rounding
        // down would spin on sub-millisecond timers.
        let ms = timeout.as_nanos().div_ceil(1_000_000).max(1);
        let ms = u16::try_from(ms).unwrap_or(u16::MAX);
        if !self.inbox.prepare_sleep() {
            return;
        }
        if self.ctx.stop.load(Ordering::SeqCst) {
            self.inbox.after_sleep();
            return;
        }
        {
            let mut pfds: Vec<PollFd<'_>> = self
                .fds
                .iter()
                .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
                .collect();
            pfds.push(PollFd::new(self.inbox.doorbell_fd(), PollFlags::POLLIN));
            // EINTR (a signal) just ends the sleep early.
            let _ = poll(&mut pfds, PollTimeout::from(ms));
        }
        self.inbox.after_sleep();
        self.stats.sleeps += 1;
    }
}
