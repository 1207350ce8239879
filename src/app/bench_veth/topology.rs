//! The three hosts of the benchmark: generator → DUT → sink.
//!
//! ```text
//!  ns gen                  ns dut                          ns sink
//!  G  198.18.0.1/24 ─veth─ D0 (198.18.0.254)  D1 (198.18.1.254) ─veth─ S 198.18.1.2/24
//!  route 198.18.1.0/24                                          route 198.18.0.0/24
//!        via .0.254                                                   via .1.254
//! ```
//!
//! Both pairs have as many queues as the DUT has cores (one per worker /
//! per RPS or NAPI target). One `xdpnet pktgen` sends on every queue (a
//! thread per queue) and one `xdpnet sink` reads every queue (each
//! attaches one XDP program to its interface, so the queues cannot be
//! split between processes); which DUT queue a frame arrives on is
//! decided by the generator's end (see [`Placement::gen_core_of_queue`]).
//! The DUT namespace is configured by the DUT under test
//! ([`super::dut_kernel`], [`super::dut_xdpnet`]); this file owns what
//! both share:
//!
//! * GRO on every veth end. A veth end has NAPI (and so a NAPI thread
//!   to pin) only while an XDP program is attached **or** GRO is on;
//!   without it, frames sent to it go through `netif_rx` on the sender's
//!   core. With GRO on, `threaded` can be written (writing it on an end
//!   without NAPI fails with EIO) and the kernel creates one `napi/IF-ID`
//!   thread per rx queue. GRO does not merge the generator's UDP frames
//!   (no UDP GRO socket, no fraglist forwarding), so it changes no
//!   per-packet work.
//! * threaded NAPI on the generator's and the sink's ends, their threads
//!   pinned to the generator / sink core, so the work of receiving into the
//!   sink's AF_XDP socket is not charged to the DUT core.
//! * `tx off` on the kernel ends (G, S): kernel peers of AF_XDP on veth.

use super::cpu;
use crate::app::pktgen::Engine;
use crate::netns::{add_address, tx_csum_off, unique_ifname, NetNs, VethPair};

/// Addresses of the benchmark (RFC 2544 range).
pub const GEN_ADDR: &str = "198.18.0.1";
/// The DUT's address toward the generator.
pub const DUT_GEN_ADDR: &str = "198.18.0.254";
/// The DUT's address toward the sink.
pub const DUT_SINK_ADDR: &str = "198.18.1.254";
/// The sink's address (the generator's destination).
pub const SINK_ADDR: &str = "198.18.1.2";

/// Real-time priority (SCHED_FIFO) of the router's process (unless
/// `--busy-poll`) and of the sink end's NAPI thread.
///
/// The machine is shared: builds run on the DUT core too. The kernel's
/// RPS forwarding runs in softirq, which preempts any task; a threaded
/// DUT at an ordinary priority instead waits up to a scheduler slice
/// behind a build after each wake-up, and a veth end queues only 256
/// frames for its NAPI, so it drops frames while using a fraction of the
/// core. Real-time threads put threaded NAPI and the router on the same
/// footing as softirq.
pub const RT_PRIO: u32 = 50;

/// Real-time priority (SCHED_FIFO) of the DUT ends' NAPI threads, for
/// both DUTs: one below [`RT_PRIO`], so the router preempts its own
/// receive path.
///
/// Why below: the NAPI thread copies frames into the router's AF_XDP rx
/// ring and, fed from the generator's core, never runs out of work under
/// overload. FIFO threads of one priority take turns only when one
/// blocks, so at the router's priority (or above it) the NAPI thread kept
/// the core while the router starved and its ring overflowed: receive
/// livelock, measured as 0.07–0.09 Mpps forwarded with 80–91 % loss at
/// the generator's maximum against 0.20 Mpps at a third of it. Below the
/// router, NAPI runs only while the router sleeps (it has drained its
/// ring), and excess load is dropped where it is cheapest, at the veth's
/// ring on the sender's core, as with the kernel's forwarding. The
/// kernel DUT has no router thread, so for it the level only orders NAPI
/// against the (other-core) sink and other real-time work: the same as
/// [`RT_PRIO`].
pub const NAPI_PRIO: u32 = RT_PRIO - 1;

/// Nice value of the router with `--busy-poll` (it spins, so it must not
/// be real-time: it would starve the NAPI thread on its core).
pub const DUT_NICE: i32 = -20;
/// Nice value of the sink and the sink end's NAPI thread: above the
/// generator's, so the sink side is never the bottleneck when they share
/// a core.
pub const SINK_NICE: i32 = -20;
/// Nice value of the generator (and its end's NAPI thread): above other
/// work on the machine, below the sink. The generator spins between
/// rate-limited batches and would otherwise starve the sink.
pub const GEN_NICE: i32 = -10;

/// The scheduling classes of the benchmark's threads, one line for the
/// log, the table and the JSON (`busy_poll`: the router runs with
/// `--busy-poll`).
pub fn priorities(busy_poll: bool) -> String {
    let router = if busy_poll {
        format!("nice {DUT_NICE} (--busy-poll)")
    } else {
        format!("SCHED_FIFO {RT_PRIO}")
    };
    format!(
        "DUT NAPI threads SCHED_FIFO {NAPI_PRIO} (both DUTs), router {router}, \
         sink NAPI SCHED_FIFO {RT_PRIO}, sink nice {SINK_NICE}, generator nice {GEN_NICE}"
    )
}

/// Which core does what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Cores of the generator: its per-queue threads (see
    /// [`Placement::gen_core_of_queue`]) and the generator end's NAPI
    /// threads.
    pub gen_cores: Vec<usize>,
    /// Core of the sink (the `sink` process, the sink end's NAPI threads).
    pub sink_core: usize,
    /// Cores of the DUT: kernel forwarding (RPS target or NAPI threads) or
    /// the router's workers, plus the DUT ends' NAPI threads.
    pub dut_cores: Vec<usize>,
}

impl Placement {
    /// One line for the log and the report.
    pub fn describe(&self) -> String {
        format!(
            "generator on core(s) {}, sink on core {}, DUT on core(s) {}",
            join(&self.gen_cores),
            self.sink_core,
            join(&self.dut_cores)
        )
    }

    /// The generator cores, `0,1`.
    pub fn describe_gen_cores(&self) -> String {
        join(&self.gen_cores)
    }

    /// Queues per veth end: one per DUT core.
    pub fn queues(&self) -> usize {
        self.dut_cores.len().max(1)
    }

    /// The generator core whose thread sends queue `q`'s frames, if any.
    ///
    /// With the `xsk` engine a thread's frames leave on its own tx queue,
    /// which veth delivers to the same-numbered rx queue of the DUT's end
    /// whatever core sends them: the threads take the generator cores in
    /// turn. With `xdp-live` veth picks the receiving queue by the sending
    /// core (`veth_xdp_xmit`: `smp_processor_id() % real_num_rx_queues`),
    /// so queue `q` needs a generator core `c` with `c % queues == q`;
    /// `None` when there is none.
    pub fn gen_core_of_queue(&self, q: usize, engine: Engine) -> Option<usize> {
        let n = self.queues();
        match engine {
            Engine::Xsk => self.gen_cores.get(q % self.gen_cores.len().max(1)).copied(),
            Engine::XdpLive => self.gen_cores.iter().copied().find(|c| c % n == q),
        }
    }
}

/// `0,1,2`.
fn join(cores: &[usize]) -> String {
    cores
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The namespaces and veth pairs; removed on drop (pairs first).
#[derive(Debug)]
pub struct Topology {
    gen_pair: VethPair,
    sink_pair: VethPair,
    /// Generator host.
    pub gen: NetNs,
    /// The device under test.
    pub dut: NetNs,
    /// Sink host.
    pub sink: NetNs,
    /// Queues per veth end.
    pub queues: u32,
    /// MAC of the DUT's end toward the generator (the generator's
    /// destination MAC).
    pub dut_gen_mac: String,
    /// MAC of the sink's end (the DUT's next hop).
    pub sink_mac: String,
    /// Core placement.
    pub placement: Placement,
}

impl Topology {
    /// Build the hosts; `placement.dut_cores.len()` queues per end.
    pub fn build(placement: Placement) -> Result<Topology, String> {
        let queues = placement.queues() as u32;
        let gen = NetNs::new("xbv-gen")?;
        let dut = NetNs::new("xbv-dut")?;
        let sink = NetNs::new("xbv-sink")?;
        let mut gen_pair = VethPair::new(&unique_ifname("xg"), &unique_ifname("xd"), queues)?;
        let mut sink_pair = VethPair::new(&unique_ifname("xe"), &unique_ifname("xs"), queues)?;
        gen_pair.place(&gen, &dut)?;
        sink_pair.place(&dut, &sink)?;
        let t = Topology {
            dut_gen_mac: dut.mac(gen_pair.b())?,
            sink_mac: sink.mac(sink_pair.b())?,
            gen_pair,
            sink_pair,
            gen,
            dut,
            sink,
            queues,
            placement,
        };
        add_address(&t.gen, t.gen_if(), &format!("{GEN_ADDR}/24"))?;
        t.gen
            .ip(&["route", "add", "198.18.1.0/24", "via", DUT_GEN_ADDR])?;
        add_address(&t.sink, t.sink_if(), &format!("{SINK_ADDR}/24"))?;
        t.sink
            .ip(&["route", "add", "198.18.0.0/24", "via", DUT_SINK_ADDR])?;
        tx_csum_off(&t.gen, t.gen_if())?;
        tx_csum_off(&t.sink, t.sink_if())?;
        for (ns, ifname) in [
            (&t.gen, t.gen_if()),
            (&t.dut, t.dut_gen_if()),
            (&t.dut, t.dut_sink_if()),
            (&t.sink, t.sink_if()),
        ] {
            set_gro(ns, ifname, true)?;
        }
        set_threaded(&t.gen, t.gen_if(), true)?;
        set_threaded(&t.sink, t.sink_if(), true)?;
        Ok(t)
    }

    /// The generator's interface.
    pub fn gen_if(&self) -> &str {
        self.gen_pair.a()
    }

    /// The DUT's interface toward the generator.
    pub fn dut_gen_if(&self) -> &str {
        self.gen_pair.b()
    }

    /// The DUT's interface toward the sink.
    pub fn dut_sink_if(&self) -> &str {
        self.sink_pair.a()
    }

    /// The sink's interface.
    pub fn sink_if(&self) -> &str {
        self.sink_pair.b()
    }

    /// Pin the NAPI threads: the generator's and sink's ends to their
    /// cores, the DUT's ends to the DUT cores (round-robin over queues).
    /// Returns the DUT's NAPI thread pids. Called before every trial:
    /// the kernel creates new threads when NAPI is re-added.
    pub fn pin_napi(&self) -> Result<Vec<u32>, String> {
        let p = &self.placement;
        for pid in cpu::napi_threads(self.gen_if()) {
            cpu::pin(pid, &p.gen_cores)?;
            cpu::renice(pid, GEN_NICE)?;
        }
        for pid in cpu::napi_threads(self.sink_if()) {
            cpu::pin(pid, &[p.sink_core])?;
            cpu::set_fifo(pid, RT_PRIO)?;
        }
        let mut dut = Vec::new();
        for ifname in [self.dut_gen_if(), self.dut_sink_if()] {
            for (i, pid) in cpu::napi_threads(ifname).into_iter().enumerate() {
                cpu::pin(pid, &[p.dut_cores[i % p.dut_cores.len()]])?;
                cpu::set_fifo(pid, NAPI_PRIO)?;
                dut.push(pid);
            }
        }
        Ok(dut)
    }

    /// Keep the namespaces and interfaces after the run (`--keep`).
    pub fn keep(&mut self) {
        self.gen_pair.keep();
        self.sink_pair.keep();
        self.gen.keep();
        self.dut.keep();
        self.sink.keep();
    }
}

/// `ethtool -K IF gro on|off`.
pub fn set_gro(ns: &NetNs, ifname: &str, on: bool) -> Result<(), String> {
    ns.run(&[
        "ethtool",
        "-K",
        ifname,
        "gro",
        if on { "on" } else { "off" },
    ])
    .map(|_| ())
}

/// Write `/sys/class/net/IF/threaded` (needs NAPI: GRO on or XDP attached).
pub fn set_threaded(ns: &NetNs, ifname: &str, on: bool) -> Result<(), String> {
    ns.write_sys(
        &format!("/sys/class/net/{ifname}/threaded"),
        if on { "1" } else { "0" },
    )
    .map_err(|e| {
        format!("{e} (threaded NAPI needs NAPI on the veth end: GRO on or an XDP program attached)")
    })
}

/// Write the RPS mask of every rx queue of `ifname` (`cores` empty: off).
pub fn set_rps(ns: &NetNs, ifname: &str, queues: u32, cores: &[usize]) -> Result<(), String> {
    let mask: u64 = cores.iter().fold(0, |m, &c| m | (1u64 << c));
    for q in 0..queues {
        ns.write_sys(
            &format!("/sys/class/net/{ifname}/queues/rx-{q}/rps_cpus"),
            &format!("{mask:x}"),
        )?;
    }
    Ok(())
}
