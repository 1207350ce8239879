//! The `xdp-live` engine: BPF_PROG_RUN with live frames.
//!
//! Since Linux 5.18, `BPF_PROG_RUN` of an XDP program with
//! `BPF_F_TEST_XDP_LIVE_FRAMES` (the mechanism behind xdp-trafficgen) runs
//! the program `repeat` times over frames built from one template in a
//! page pool and *transmits* every frame the program returns `XDP_TX` for
//! (or redirects) through the driver's `ndo_xdp_xmit`: no skb, no socket,
//! no copy from user space per frame. The device is the one named by the
//! context's `ingress_ifindex`, and `rx_queue_index` picks the queue the
//! frames appear to come from (it must exist on the device).
//!
//! Each generator thread loads its own instance of `bpf/live.bpf.c` (its
//! maps hold its flows and their sequence numbers, so nothing is shared
//! between CPUs), and calls `test_run` with as many frames as the [`Pacer`]
//! has credit for (rate-limited), or sized to last about
//! [`RUN_TARGET_NS`] at the measured rate (unlimited, up to [`RUN_MAX`]).
//! A call costs tens of milliseconds on top of its frames (the kernel adds
//! the program to the XDP dispatcher and sets up a page pool per call), so
//! runs are large and rate-limited traffic leaves in bursts of what one
//! call's time accrued; the average rate holds. The program stamps each frame
//! exactly like the xsk engine (magic, per-flow sequence number,
//! `bpf_ktime_get_ns()` = CLOCK_MONOTONIC) and counts it; the count the
//! program keeps is what the summary reports.
//!
//! veth: a frame sent with `ndo_xdp_xmit` reaches the peer only when the
//! peer has an XDP program attached (xdpnet sink attaches one), otherwise
//! veth drops it (counted in the peer's `rx_dropped`/xdp stats, not here).

use std::mem::MaybeUninit;
use std::mem::{offset_of, size_of};
use std::sync::atomic::{AtomicBool, Ordering};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject, ProgramInput};

use super::live_skel::{types, LiveSkel, LiveSkelBuilder};
use super::{monotonic_ns, FlowTemplate, Pacer, Progress, QueuePlan, QueueResult};

/// Frames per `BPF_PROG_RUN` at most (the kernel transmits them in
/// batches of 64 inside one call).
pub const RUN_MAX: u64 = 1 << 22;
/// Frames of the first unlimited run, before the rate is known.
pub const RUN_FIRST: u64 = 4096;
/// Unlimited rate: each run is sized to last about this long at the rate
/// measured so far (each call has a fixed cost of tens of ms: the kernel
/// adds the program to the XDP dispatcher and builds a page pool, then
/// undoes both).
pub const RUN_TARGET_NS: u64 = 200_000_000;

/// `BPF_F_TEST_XDP_LIVE_FRAMES` from `<linux/bpf.h>`.
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

const ETH: usize = 14;

/// One thread's loaded program and its template frame.
pub struct LiveGen {
    skel: LiveSkel<'static>,
    template: Vec<u8>,
    ctx: Vec<u8>,
}

impl std::fmt::Debug for LiveGen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveGen")
            .field("template_len", &self.template.len())
            .finish()
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!(
        "xdp-live engine: {what}: {e} (needs root/CAP_BPF+CAP_NET_ADMIN and Linux 5.18+ \
         for BPF_F_TEST_XDP_LIVE_FRAMES; use --engine xsk otherwise)"
    )
}

/// The map value of one flow: the bytes of its frame that differ between
/// flows, copied from its template (wire order).
pub fn encode_flow(t: &FlowTemplate, ipv6: bool) -> Vec<u8> {
    let mut b = vec![0u8; size_of::<types::live_flow>()];
    let f = &t.bytes;
    let (src, dst, alen) = if ipv6 {
        (ETH + 8, ETH + 24, 16)
    } else {
        (ETH + 12, ETH + 16, 4)
    };
    let src_at = offset_of!(types::live_flow, src_addr);
    let dst_at = offset_of!(types::live_flow, dst_addr);
    b[src_at..src_at + alen].copy_from_slice(&f[src..src + alen]);
    b[dst_at..dst_at + alen].copy_from_slice(&f[dst..dst + alen]);
    let l4 = t.stamp_at - 8;
    let sp = offset_of!(types::live_flow, src_port);
    let dp = offset_of!(types::live_flow, dst_port);
    let uc = offset_of!(types::live_flow, udp_csum0);
    let ic = offset_of!(types::live_flow, ip_csum);
    b[sp..sp + 2].copy_from_slice(&f[l4..l4 + 2]);
    b[dp..dp + 2].copy_from_slice(&f[l4 + 2..l4 + 4]);
    b[uc..uc + 2].copy_from_slice(&f[t.csum_at..t.csum_at + 2]);
    if !ipv6 {
        b[ic..ic + 2].copy_from_slice(&f[ETH + 10..ETH + 12]);
    }
    // seq (host order) starts at 0: already zero.
    b
}

fn encode_state(nflows: u32, ipv6: bool) -> Vec<u8> {
    let mut b = vec![0u8; size_of::<types::live_state>()];
    let n = offset_of!(types::live_state, nflows);
    let v = offset_of!(types::live_state, ipv6);
    b[n..n + 4].copy_from_slice(&nflows.to_ne_bytes());
    b[v..v + 4].copy_from_slice(&u32::from(ipv6).to_ne_bytes());
    b
}

/// `struct xdp_md` for the runs: the whole template is packet data, the
/// frames "arrive" on `ifindex`/`queue` (and XDP_TX sends them out there).
fn encode_ctx(len: usize, ifindex: u32, queue: u32) -> Vec<u8> {
    let mut b = vec![0u8; size_of::<types::xdp_md>()];
    for (at, v) in [
        (offset_of!(types::xdp_md, data_end), len as u32),
        (offset_of!(types::xdp_md, ingress_ifindex), ifindex),
        (offset_of!(types::xdp_md, rx_queue_index), queue),
    ] {
        b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }
    b
}

impl LiveGen {
    /// Load this thread's program instance, write its flows and check
    /// with one probe run (a frame too short to stamp: the program aborts
    /// it, nothing is sent) that the kernel accepts live frames on this
    /// interface and queue.
    pub fn load(plan: &QueuePlan, ifindex: u32, ipv6: bool) -> Result<LiveGen, String> {
        let first = plan
            .flows
            .first()
            .ok_or_else(|| "xdp-live engine: a queue without flows".to_string())?;
        // The skeleton borrows its object storage for its whole life; one
        // leaked pointer-sized slot per thread keeps it 'static without
        // unsafe (as src/steering/ does).
        let storage: &'static mut MaybeUninit<OpenObject> =
            Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = LiveSkelBuilder::default()
            .open(storage)
            .map_err(|e| err("opening bpf/live.bpf.c", e))?;
        open.maps
            .live_flows
            .set_max_entries(plan.flows.len() as u32)
            .map_err(|e| err("sizing the flow map", e))?;
        let skel = open.load().map_err(|e| err("loading bpf/live.bpf.c", e))?;
        for (i, t) in plan.flows.iter().enumerate() {
            skel.maps
                .live_flows
                .update(
                    &(i as u32).to_ne_bytes(),
                    &encode_flow(t, ipv6),
                    MapFlags::ANY,
                )
                .map_err(|e| err("writing the flow map", e))?;
        }
        skel.maps
            .live_state
            .update(
                &0u32.to_ne_bytes(),
                &encode_state(plan.flows.len() as u32, ipv6),
                MapFlags::ANY,
            )
            .map_err(|e| err("writing the state map", e))?;
        let template = first.bytes.clone();
        let g = LiveGen {
            ctx: encode_ctx(template.len(), ifindex, plan.queue),
            template,
            skel,
        };
        let probe = g.template[..ETH].to_vec();
        let mut probe_ctx = encode_ctx(ETH, ifindex, plan.queue);
        let input = ProgramInput {
            data_in: Some(&probe),
            context_in: Some(&mut probe_ctx),
            flags: BPF_F_TEST_XDP_LIVE_FRAMES,
            repeat: 1,
            ..Default::default()
        };
        g.skel.progs.xdpnet_live.test_run(input).map_err(|e| {
            format!(
                "xdp-live engine: the kernel refused BPF_PROG_RUN with live frames on {} queue {}: {e} \
                 (the queue must exist on the device: see `ethtool -l {}`; Linux 5.18+ needed; \
                 use --engine xsk otherwise)",
                plan.iface, plan.queue, plan.iface
            )
        })?;
        Ok(g)
    }

    /// `[sent, aborted, first_ns, last_ns]` as counted by the program.
    fn counters(&self) -> [u64; 4] {
        let v = self
            .skel
            .maps
            .live_state
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .ok()
            .flatten()
            .unwrap_or_default();
        let get = |at: usize| {
            v.get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_ne_bytes)
        };
        [
            get(offset_of!(types::live_state, sent)),
            get(offset_of!(types::live_state, aborted)),
            get(offset_of!(types::live_state, first_ns)),
            get(offset_of!(types::live_state, last_ns)),
        ]
    }

    /// Send `plan` until `stop`, the plan's duration or its count.
    pub fn run(
        mut self,
        plan: &QueuePlan,
        stop: &AtomicBool,
        progress: &Progress,
    ) -> Result<QueueResult, String> {
        let [_, aborted0, _, _] = self.counters();
        let start = monotonic_ns();
        let deadline = plan.duration.map(|d| start + (d * 1e9) as u64);
        // Rate-limited: the bucket holds up to 100 ms of credit, so the
        // credit accrued during one (slow) call goes in the next.
        let mut pacer = Pacer::new(
            plan.pps,
            plan.pps.map_or(1, |p| (p / 10.0).max(1.0) as usize),
            start,
        );
        let (mut sent, mut runs) = (0u64, 0u64);
        let (mut first, mut end) = (0u64, start);
        let mut ctx = std::mem::take(&mut self.ctx);
        let prog = &self.skel.progs.xdpnet_live;
        let mut run_size = RUN_FIRST;
        loop {
            let now = monotonic_ns();
            if stop.load(Ordering::Relaxed)
                || deadline.is_some_and(|d| now >= d)
                || plan.count.is_some_and(|c| sent >= c)
            {
                break;
            }
            let mut want = match plan.pps {
                Some(_) => pacer.available(now, RUN_MAX as usize) as u64,
                None => {
                    if sent > 0 && now > first {
                        // Size the run from the rate so far, not past -d.
                        let rate = sent as f64 / ((now - first) as f64 / 1e9);
                        let left = deadline.map_or(RUN_TARGET_NS, |d| (d - now).min(RUN_TARGET_NS));
                        run_size = ((rate * left as f64 / 1e9) as u64).clamp(64, RUN_MAX);
                    }
                    run_size
                }
            };
            if let Some(c) = plan.count {
                want = want.min(c - sent);
            }
            if want == 0 {
                pacer.wait(now, deadline);
                continue;
            }
            let input = ProgramInput {
                data_in: Some(&self.template),
                context_in: Some(&mut ctx),
                flags: BPF_F_TEST_XDP_LIVE_FRAMES,
                repeat: want as u32,
                ..Default::default()
            };
            if let Err(e) = prog.test_run(input) {
                // A signal (Ctrl-C, SIGTERM) ends a run early with EINTR;
                // the program's counter has what went.
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                return Err(err(&format!("BPF_PROG_RUN on queue {}", plan.queue), e));
            }
            if sent == 0 {
                first = now;
            }
            runs += 1;
            sent += want;
            pacer.take(want as usize);
            progress.packets.store(sent, Ordering::Relaxed);
            end = monotonic_ns();
        }
        // The TX times of the first and last frame, as stamped.
        let [counted, aborted, first_tx, last_tx] = self.counters();
        if counted > 0 {
            (first, end) = (first_tx, last_tx);
        }
        Ok(QueueResult {
            queue: plan.queue,
            core: plan.core,
            packets: counted,
            bytes: counted * plan.size as u64,
            first_ns: if sent == 0 { start } else { first },
            last_ns: end,
            aborted: aborted - aborted0,
            runs,
            ..QueueResult::default()
        })
    }
}
