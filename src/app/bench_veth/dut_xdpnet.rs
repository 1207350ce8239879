//! `xdpnet router` as the DUT, one router process per trial.
//!
//! The DUT namespace has no kernel addresses and `ip_forward=0`, so
//! nothing but the router can forward. The router runs as
//! `ip netns exec DUT chrt -f 50 taskset -c DUTCORES xdpnet router --iface D0=… --iface
//! D1=… --cores DUTCORES -i 0 --json` as SCHED_FIFO (see
//! [`super::topology::RT_PRIO`]), the DUT ends' NAPI threads
//! (threaded, GRO on so they exist before the router attaches XDP) pinned
//! to the DUT cores one real-time level below it
//! ([`super::topology::NAPI_PRIO`]: the router preempts its receive path,
//! so overload is dropped at the veth ring, not after the copy into a full
//! AF_XDP ring).
//!
//! Why one process per trial: each trial starts from the same state (empty
//! rings, fresh counters), and the router's `--json` summary is the
//! trial's. The sink's AF_XDP socket takes every frame on its veth end
//! (steering policy `all`), ARP included, so the sink never answers ARP
//! while it runs: the router gets the sink's MAC as a static neighbor
//! (`--neighbor`, on every worker). A learned entry would do for a short
//! trial (resolved by the ping below and passed to every worker), but it
//! ages, and its re-probes would go unanswered. Each trial starts the router, pings
//! the sink's address from the generator's kernel *through the router*
//! (the sink's kernel answers the echo), which proves the router is
//! forwarding; then the sink and the generator start.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::child::Spawned;
use super::cpu;
use super::topology::{set_gro, set_rps, set_threaded, Topology, DUT_GEN_ADDR, DUT_SINK_ADDR};
use super::topology::{DUT_NICE, GEN_ADDR, RT_PRIO, SINK_ADDR};
use super::Dut;

/// The router DUT.
#[derive(Debug)]
pub struct XdpnetDut {
    exe: std::path::PathBuf,
    busy_poll: bool,
    router: Option<Spawned>,
}

impl XdpnetDut {
    /// Configure the DUT namespace for the router.
    pub fn setup(
        topo: &Topology,
        exe: std::path::PathBuf,
        busy_poll: bool,
    ) -> Result<XdpnetDut, String> {
        let ns = &topo.dut;
        ns.sysctl("net.ipv4.ip_forward", "0")?;
        for ifname in [topo.dut_gen_if(), topo.dut_sink_if()] {
            ns.ip(&["addr", "flush", "dev", ifname])?;
            set_rps(ns, ifname, topo.queues, &[])?;
            set_gro(ns, ifname, true)?;
            set_threaded(ns, ifname, true)?;
        }
        let _ = ns.ip(&["neigh", "flush", "all"]);
        Ok(XdpnetDut {
            exe,
            busy_poll,
            router: None,
        })
    }

    fn cores_list(topo: &Topology) -> String {
        topo.placement
            .dut_cores
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Ping the sink from the generator through the DUT until it answers.
fn ping_through(topo: &Topology, timeout: Duration) -> Result<(), String> {
    let end = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < end {
        match topo
            .gen
            .run(&["ping", "-c", "1", "-W", "1", "-I", GEN_ADDR, SINK_ADDR])
        {
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "the router did not forward a ping from {GEN_ADDR} to {SINK_ADDR} within {:.0} s: {last}",
        timeout.as_secs_f64()
    ))
}

impl Dut for XdpnetDut {
    fn name(&self) -> String {
        if self.busy_poll {
            "xdpnet router (busy-poll)".into()
        } else {
            "xdpnet router".into()
        }
    }

    fn start_trial(&mut self, topo: &Topology) -> Result<Vec<(u32, u32)>, String> {
        let cores = Self::cores_list(topo);
        // Priority: see topology::RT_PRIO.
        let mut cmd = if self.busy_poll {
            let mut c = topo.dut.command("nice");
            c.args(["-n", &DUT_NICE.to_string()]);
            c
        } else {
            let mut c = topo.dut.command("chrt");
            c.args(["-f", &RT_PRIO.to_string()]);
            c
        };
        cmd.args(["taskset", "-c"])
            .arg(&cores)
            .arg(&self.exe)
            .args([
                "router",
                "--iface",
                &format!("{}={DUT_GEN_ADDR}/24", topo.dut_gen_if()),
                "--iface",
                &format!("{}={DUT_SINK_ADDR}/24", topo.dut_sink_if()),
                "--neighbor",
                &format!(
                    "{SINK_ADDR} lladdr {} dev {}",
                    topo.sink_mac,
                    topo.dut_sink_if()
                ),
                "--cores",
                &cores,
                "-i",
                "0",
                "--json",
            ]);
        if self.busy_poll {
            cmd.arg("--busy-poll");
        }
        let mut router = Spawned::spawn("xdpnet router (DUT)", cmd)?;
        if let Err(e) = ping_through(topo, Duration::from_secs(15)) {
            let why = if router.running() {
                String::new()
            } else {
                router
                    .finish(Duration::from_secs(1))
                    .err()
                    .unwrap_or_default()
            };
            return Err(format!("{e} {why}"));
        }
        let napi = topo.pin_napi()?;
        let mut threads = cpu::process_threads(router.pid());
        threads.extend(napi.into_iter().map(|p| (p, p)));
        self.router = Some(router);
        Ok(threads)
    }

    fn end_trial(&mut self, _topo: &Topology) -> Result<Option<Value>, String> {
        let Some(mut r) = self.router.take() else {
            return Ok(None);
        };
        let out = r.terminate(Duration::from_secs(10))?;
        serde_json::from_str(out.trim())
            .map(Some)
            .map_err(|e| format!("the router's --json output is not JSON ({e}): {out}"))
    }
}
