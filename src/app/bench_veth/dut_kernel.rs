//! The Linux kernel as the DUT: `net.ipv4.ip_forward=1` in the DUT
//! namespace, the DUT's addresses on its two veth ends and a permanent
//! neighbor entry for the sink (whose AF_XDP socket swallows ARP).
//!
//! Tuned two ways so that the kernel's forwarding runs on the DUT core,
//! and the benchmark keeps the better ([`KernelVariant`]):
//!
//! * **RPS**: GRO off on the DUT's ingress end, so it has no NAPI; a frame
//!   the generator sends goes through `netif_rx` and RPS
//!   (`queues/rx-N/rps_cpus` = the DUT cores) queues it to the DUT core's
//!   backlog, whose softirq forwards it. That work is softirq time of the
//!   DUT core.
//! * **threaded NAPI**: GRO on (so the end has NAPI), `threaded` = 1, and
//!   the `napi/IF-ID` threads pinned to the DUT cores; forwarding runs in
//!   those threads (their run time).
//!
//! With the `xdp-live` generator the ingress end also runs an XDP_PASS
//! program ([`super::xdp_pass`], attached by [`KernelDut::setup`] and
//! detached when the [`KernelDut`] is dropped): the engine's frames reach
//! a veth end only through its XDP receive path. They then arrive through
//! the end's NAPI whatever GRO says, and unthreaded that NAPI would run in
//! softirq on the generator's core (the core that transmitted them), so
//! RPS does not apply: only threaded NAPI is tried
//! ([`KernelVariant::for_engine`]).

use std::fmt;

use crate::app::pktgen::Engine;

use super::topology::{
    set_gro, set_rps, set_threaded, Topology, DUT_GEN_ADDR, DUT_SINK_ADDR, SINK_ADDR,
};
use super::xdp_pass::PassProgram;
use super::Dut;

/// How the kernel's forwarding work is put on the DUT core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelVariant {
    /// Receive Packet Steering to the DUT cores, no NAPI on ingress.
    Rps,
    /// Threaded NAPI (GRO on), the NAPI threads pinned to the DUT cores.
    ThreadedNapi,
}

impl KernelVariant {
    /// Both, in the order they are tried.
    pub const ALL: [KernelVariant; 2] = [KernelVariant::Rps, KernelVariant::ThreadedNapi];

    /// The tunings that put the forwarding on the DUT core with this
    /// generator engine (see the module docs).
    pub fn for_engine(engine: Engine) -> &'static [KernelVariant] {
        match engine {
            Engine::Xsk => &Self::ALL,
            Engine::XdpLive => &[KernelVariant::ThreadedNapi],
        }
    }

    /// Stable name used in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            KernelVariant::Rps => "rps",
            KernelVariant::ThreadedNapi => "threaded_napi",
        }
    }
}

impl fmt::Display for KernelVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kernel DUT in one variant.
#[derive(Debug)]
pub struct KernelDut {
    variant: KernelVariant,
    // XDP_PASS on the ingress end (xdp-live generator); detached on drop.
    pass: Option<PassProgram>,
}

impl KernelDut {
    /// Configure the DUT namespace for kernel forwarding in `variant`,
    /// fed by the `engine` generator.
    pub fn setup(
        topo: &Topology,
        variant: KernelVariant,
        engine: Engine,
    ) -> Result<KernelDut, String> {
        if !KernelVariant::for_engine(engine).contains(&variant) {
            return Err(format!(
                "kernel tuning {variant} does not apply to the {engine} generator (see \
                 KernelVariant::for_engine)"
            ));
        }
        let ns = &topo.dut;
        let (din, dout) = (topo.dut_gen_if(), topo.dut_sink_if());
        for (ifname, addr) in [(din, DUT_GEN_ADDR), (dout, DUT_SINK_ADDR)] {
            ns.ip(&["addr", "flush", "dev", ifname])?;
            ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", ifname])?;
        }
        ns.ip(&[
            "neigh",
            "replace",
            SINK_ADDR,
            "lladdr",
            &topo.sink_mac,
            "dev",
            dout,
            "nud",
            "permanent",
        ])?;
        // The kernel transmits toward the sink's AF_XDP socket.
        crate::netns::tx_csum_off(ns, dout)?;
        ns.sysctl("net.ipv4.ip_forward", "1")?;
        // The reverse-path filter has nothing to check here; keep it from
        // dropping anything on the benchmark's asymmetric setup.
        ns.sysctl("net.ipv4.conf.all.rp_filter", "0")?;
        let cores = &topo.placement.dut_cores;
        match variant {
            KernelVariant::Rps => {
                set_gro(ns, din, false)?;
                set_rps(ns, din, topo.queues, cores)?;
            }
            KernelVariant::ThreadedNapi => {
                set_rps(ns, din, topo.queues, &[])?;
                set_gro(ns, din, true)?;
                set_threaded(ns, din, true)?;
            }
        }
        // The egress end receives nothing of the benchmark; its NAPI (if
        // any) stays threaded on the DUT core like the router's.
        set_gro(ns, dout, true)?;
        set_threaded(ns, dout, true)?;
        let pass = match engine {
            Engine::XdpLive => Some(PassProgram::attach(ns, din)?),
            Engine::Xsk => None,
        };
        Ok(KernelDut { variant, pass })
    }

    /// Undo what [`KernelDut::setup`] changed that another DUT would see
    /// (the XDP_PASS program first: the router attaches its own).
    pub fn teardown(mut self, topo: &Topology) -> Result<(), String> {
        drop(self.pass.take());
        let ns = &topo.dut;
        ns.sysctl("net.ipv4.ip_forward", "0")?;
        ns.ip(&["neigh", "flush", "all"])?;
        for ifname in [topo.dut_gen_if(), topo.dut_sink_if()] {
            ns.ip(&["addr", "flush", "dev", ifname])?;
        }
        set_rps(ns, topo.dut_gen_if(), topo.queues, &[])?;
        set_gro(ns, topo.dut_gen_if(), true)?;
        set_threaded(ns, topo.dut_gen_if(), true)
    }
}

impl Dut for KernelDut {
    fn name(&self) -> String {
        format!("linux ({})", self.variant)
    }

    fn start_trial(&mut self, topo: &Topology) -> Result<Vec<(u32, u32)>, String> {
        Ok(topo.pin_napi()?.into_iter().map(|p| (p, p)).collect())
    }

    fn end_trial(&mut self, _topo: &Topology) -> Result<Option<serde_json::Value>, String> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdp_live_frames_leave_only_threaded_napi() {
        assert_eq!(KernelVariant::for_engine(Engine::Xsk), &KernelVariant::ALL);
        assert_eq!(
            KernelVariant::for_engine(Engine::XdpLive),
            &[KernelVariant::ThreadedNapi]
        );
    }
}
