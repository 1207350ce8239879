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
//! One instance of `bpf/live.bpf.c` is loaded for all generator threads:
//! `live_state[q]` holds queue `q`'s flow range, next flow and counters,
//! and each flow (with its sequence number) belongs to one queue, so every
//! map entry is written by one thread's runs only. Each thread calls
//! `test_run` on the shared object with its queue as `rx_queue_index`,
//! with as many frames as the [`Pacer`] has credit for (rate-limited), or
//! sized to last about [`RUN_TARGET_NS`] at the measured rate (unlimited,
//! up to [`RUN_MAX`]).
//!
//! Per-call cost: `BPF_PROG_RUN` adds the program to the kernel's XDP
//! dispatcher and removes it afterwards, each a rewrite of the dispatcher
//! image followed by `synchronize_rcu()` — tens of milliseconds per call —
//! unless the program is already in the dispatcher because it is attached
//! to a device. So while it runs, the program is also attached (generic
//! XDP, through a BPF link) to the namespace's `lo`, where it passes every
//! frame untouched (their ingress is not the configured device). If `lo`
//! already has an XDP program, the engine runs without the attachment and
//! says so: it works, with bursts of what one slow call's time accrued.
//!
//! veth: a frame sent with `ndo_xdp_xmit` reaches the peer only when the
//! peer has an XDP program attached (xdpnet sink attaches one), otherwise
//! veth drops it (counted in the peer's `rx_dropped`/xdp stats, not here).

use std::mem::MaybeUninit;
use std::mem::{offset_of, size_of};
use std::sync::atomic::{AtomicBool, Ordering};

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, Object, OpenObject};
use std::os::fd::{AsFd, BorrowedFd};

use crate::xsk::xdp_live_frames_run;

use super::live_skel::{types, LiveSkel, LiveSkelBuilder};
use super::{monotonic_ns, FlowTemplate, Pacer, Progress, QueuePlan, QueueResult};

/// Frames per `BPF_PROG_RUN` at most (the kernel transmits them in
/// batches of 64 inside one call).
pub const RUN_MAX: u64 = 1 << 22;
/// Rate-limited: frames per run at most. The kernel flushes the frames
/// to the device every 64 and lets softirqs (veth: the peer's NAPI) run
/// between those batches, so a run does not pile up in veth's 256-frame
/// ring; the cap keeps a catch-up burst (after the thread was preempted on
/// a busy machine) within a receiver's rings (xdpnet sink: 2048 rx).
pub const RUN_MAX_PACED: usize = 1024;
/// Rate-limited: a run waits for this much credit (in time at the asked
/// rate), between 1 and [`RUN_MIN_PACED_FRAMES`] frames.
///
/// Why: every `BPF_PROG_RUN` with live frames creates a page pool and
/// registers it as an XDP memory model, whose id comes from one
/// machine-wide space of 65 533 (net/core/xdp.c, `MEM_ID_MAX`). A pool
/// whose frames are still in flight when the run returns (queued at the
/// peer, or forwarded as skbs by a kernel receiver) keeps its id until
/// the kernel's deferred release finds them all back, a second or more
/// later. Sending each frame as soon as its credit accrued made one run
/// per one or two frames — 15 000 runs/s at 20 kpps — and at 50 kpps and
/// up the runs failed with ENOSPC (measured through the kernel DUT of
/// `xdpnet bench veth`). Half a millisecond of frames per run keeps the
/// run rate near 2 000/s at most, and the bursts within a veth ring.
pub const RUN_MIN_PACED_NS: f64 = 500_000.0;
/// Upper bound of the minimum paced run: one kernel batch (64 frames,
/// flushed together).
pub const RUN_MIN_PACED_FRAMES: u64 = 64;
/// How long a run is retried while the kernel says ENOSPC (memory-model
/// ids exhausted by pools still in flight, see [`RUN_MIN_PACED_NS`]),
/// before the engine gives up.
pub const ENOSPC_RETRY_NS: u64 = 2_000_000_000;

/// The smallest paced run at `pps`.
pub fn paced_run_min(pps: f64) -> u64 {
    ((pps * RUN_MIN_PACED_NS / 1e9) as u64).clamp(1, RUN_MIN_PACED_FRAMES)
}

/// Frames of the first unlimited run, before the rate is known.
pub const RUN_FIRST: u64 = 4096;
/// Unlimited rate: each run is sized to last about this long at the rate
/// measured so far (each call has a fixed cost of tens of ms: the kernel
/// adds the program to the XDP dispatcher and builds a page pool, then
/// undoes both).
pub const RUN_TARGET_NS: u64 = 200_000_000;

const ETH: usize = 14;

/// The loaded program (shared by the threads) and its lo attachment.
pub struct LiveProgram {
    skel: LiveSkel<'static>,
    // Keeps the program in the XDP dispatcher (see the module docs);
    // detached on drop.
    _lo_link: Option<libbpf_rs::Link>,
    /// Why the lo attachment is missing, if it is.
    pub warning: Option<String>,
}

impl std::fmt::Debug for LiveProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveProgram")
            .field("lo_attached", &self._lo_link.is_some())
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

fn encode_state(ifindex: u32, first: u32, nflows: u32, ipv6: bool) -> Vec<u8> {
    let mut b = vec![0u8; size_of::<types::live_state>()];
    for (at, v) in [
        (offset_of!(types::live_state, ifindex), ifindex),
        (offset_of!(types::live_state, first), first),
        (offset_of!(types::live_state, nflows), nflows),
        (offset_of!(types::live_state, ipv6), u32::from(ipv6)),
    ] {
        b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }
    b
}

/// Bytes of XDP metadata in front of the frame: the thread index.
const META: usize = 4;

/// `data_in` of a run: the thread index as metadata, then the frame.
fn with_meta(thread: u32, frame: &[u8]) -> Vec<u8> {
    let mut b = thread.to_ne_bytes().to_vec();
    b.extend_from_slice(frame);
    b
}

/// `struct xdp_md` for the runs: `META` bytes of metadata, then the
/// frame of `len` bytes; the frames "arrive" on `ifindex`/`queue` (and
/// XDP_TX sends them out there).
fn encode_ctx(len: usize, ifindex: u32, queue: u32) -> Vec<u8> {
    let mut b = vec![0u8; size_of::<types::xdp_md>()];
    for (at, v) in [
        (offset_of!(types::xdp_md, data), META as u32),
        (offset_of!(types::xdp_md, data_end), (META + len) as u32),
        (offset_of!(types::xdp_md, ingress_ifindex), ifindex),
        (offset_of!(types::xdp_md, rx_queue_index), queue),
    ] {
        b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }
    b
}

impl LiveProgram {
    /// Load the program for `plans` (one per queue, each with its own
    /// flows) on device `ifindex`, write the flows and per-queue state, and
    /// attach it to lo (see the module docs).
    pub fn load(plans: &[QueuePlan], ifindex: u32, ipv6: bool) -> Result<LiveProgram, String> {
        let nflows: usize = plans.iter().map(|p| p.flows.len()).sum();
        // The skeleton borrows its object storage for its whole life; one
        // leaked pointer-sized slot per load keeps it 'static without
        // unsafe (as src/steering/ does).
        let storage: &'static mut MaybeUninit<OpenObject> =
            Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = LiveSkelBuilder::default()
            .open(storage)
            .map_err(|e| err("opening bpf/live.bpf.c", e))?;
        open.maps
            .live_flows
            .set_max_entries(nflows.max(1) as u32)
            .map_err(|e| err("sizing the flow map", e))?;
        open.maps
            .live_state
            .set_max_entries(plans.len().max(1) as u32)
            .map_err(|e| err("sizing the state map", e))?;
        let skel = open.load().map_err(|e| err("loading bpf/live.bpf.c", e))?;
        let mut first = 0u32;
        for (t, plan) in plans.iter().enumerate() {
            for (i, f) in plan.flows.iter().enumerate() {
                skel.maps
                    .live_flows
                    .update(
                        &(first + i as u32).to_ne_bytes(),
                        &encode_flow(f, ipv6),
                        MapFlags::ANY,
                    )
                    .map_err(|e| err("writing the flow map", e))?;
            }
            skel.maps
                .live_state
                .update(
                    &(t as u32).to_ne_bytes(),
                    &encode_state(ifindex, first, plan.flows.len() as u32, ipv6),
                    MapFlags::ANY,
                )
                .map_err(|e| err("writing the state map", e))?;
            first += plan.flows.len() as u32;
        }
        let (lo_link, warning) = match nix::net::if_::if_nametoindex("lo") {
            Ok(lo) => match skel.progs.xdpnet_live.attach_xdp(lo as i32) {
                Ok(l) => (Some(l), None),
                Err(e) => (
                    None,
                    Some(format!(
                        "xdp-live: cannot attach to lo ({e}; another XDP program there?): each \
                         BPF_PROG_RUN then costs tens of ms, so frames leave in larger bursts"
                    )),
                ),
            },
            Err(e) => (
                None,
                Some(format!(
                    "xdp-live: no lo in this namespace ({e}): runs will be slow"
                )),
            ),
        };
        Ok(LiveProgram {
            skel,
            _lo_link: lo_link,
            warning,
        })
    }

    /// The object, for its maps (`libbpf_rs::Object` is `Sync`).
    pub fn object(&self) -> &Object {
        self.skel.object()
    }

    /// The program's fd, which the threads run.
    pub fn prog_fd(&self) -> BorrowedFd<'_> {
        self.skel.progs.xdpnet_live.as_fd()
    }
}

/// `ENOSPC` from `<errno.h>`.
fn libc_enospc() -> i32 {
    nix::errno::Errno::ENOSPC as i32
}

/// `[sent, aborted, first_ns, last_ns]` of thread `thread`, as counted by
/// the program.
fn counters(obj: &Object, thread: u32) -> [u64; 4] {
    let v = obj
        .maps()
        .find(|m| m.name() == "live_state")
        .and_then(|m| {
            m.lookup(&thread.to_ne_bytes(), MapFlags::ANY)
                .ok()
                .flatten()
        })
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

/// Check with one probe run (a frame too short to stamp: the program
/// aborts it, nothing is sent) that the kernel accepts live frames on this
/// device and queue.
pub fn probe(
    prog: BorrowedFd<'_>,
    thread: u32,
    plan: &QueuePlan,
    ifindex: u32,
) -> Result<(), String> {
    let probe = plan
        .flows
        .first()
        .map(|t| with_meta(thread, &t.bytes[..ETH]))
        .ok_or_else(|| "xdp-live engine: a queue without flows".to_string())?;
    let ctx = encode_ctx(ETH, ifindex, plan.queue);
    xdp_live_frames_run(prog, &probe, &ctx, 1).map_err(|e| {
        format!(
            "xdp-live engine: the kernel refused BPF_PROG_RUN with live frames on {} queue {}: {e} \
             (the queue must exist on the device: see `ethtool -l {}`; Linux 5.18+ needed; \
             use --engine xsk otherwise)",
            plan.iface, plan.queue, plan.iface
        )
    })
}

/// Send `plan` until `stop`, the plan's duration or its count, with the
/// program in `obj` on device `ifindex`.
pub fn run(
    obj: &Object,
    prog: BorrowedFd<'_>,
    thread: u32,
    plan: &QueuePlan,
    ifindex: u32,
    stop: &AtomicBool,
    progress: &Progress,
) -> Result<QueueResult, String> {
    let template = plan
        .flows
        .first()
        .map(|t| t.bytes.clone())
        .ok_or_else(|| "xdp-live engine: a queue without flows".to_string())?;
    let ctx = encode_ctx(template.len(), ifindex, plan.queue);
    let template = with_meta(thread, &template);
    let [_, aborted0, _, _] = counters(obj, thread);
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
    let mut run_size = RUN_FIRST;
    let min_run = plan.pps.map_or(1, paced_run_min);
    let mut enospc_since: Option<u64> = None;
    loop {
        let now = monotonic_ns();
        if stop.load(Ordering::Relaxed)
            || deadline.is_some_and(|d| now >= d)
            || plan.count.is_some_and(|c| sent >= c)
        {
            break;
        }
        let mut want = match plan.pps {
            Some(_) => {
                let credit = pacer.available(now, RUN_MAX_PACED) as u64;
                // Small runs wait for more credit (see RUN_MIN_PACED_NS);
                // -n's last frames go as they are.
                let rest = plan.count.map_or(u64::MAX, |c| c - sent);
                if credit < min_run.min(rest) {
                    0
                } else {
                    credit
                }
            }
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
        if let Err(e) = xdp_live_frames_run(prog, &template, &ctx, want as u32) {
            // A signal (Ctrl-C, SIGTERM) ends a run early with EINTR;
            // the program's counter has what went.
            if stop.load(Ordering::Relaxed) {
                break;
            }
            // ENOSPC: no XDP memory-model id free right now (see
            // RUN_MIN_PACED_NS); pools in flight release theirs within
            // seconds, so wait a little (the pacer's credit keeps the
            // rate) rather than fail the whole run.
            if e.raw_os_error() == Some(libc_enospc()) {
                let since = *enospc_since.get_or_insert(now);
                if now - since < ENOSPC_RETRY_NS {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    continue;
                }
                return Err(err(
                    &format!(
                        "BPF_PROG_RUN on queue {} (ENOSPC for {} s: the machine's XDP \
                         memory-model ids are taken by page pools still in flight, other \
                         generators' included; lower the rate or use fewer generators)",
                        plan.queue,
                        ENOSPC_RETRY_NS / 1_000_000_000
                    ),
                    e,
                ));
            }
            return Err(err(&format!("BPF_PROG_RUN on queue {}", plan.queue), e));
        }
        enospc_since = None;
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
    let [counted, aborted, first_tx, last_tx] = counters(obj, thread);
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

#[cfg(test)]
mod tests {
    use super::super::build_flows;
    use super::super::tests::cfg;
    use super::*;
    use crate::wire::EthernetAddress;

    fn field(b: &[u8], at: usize, len: usize) -> &[u8] {
        &b[at..at + len]
    }

    #[test]
    fn flow_entries_carry_the_template_bytes() {
        for (s, d, ipv6) in [
            ("198.18.0.1/30", "198.18.1.1", false),
            ("2001:2::1/126", "2001:2:0:1::1", true),
        ] {
            let flows = build_flows(
                &cfg(s, d),
                EthernetAddress([2, 0, 0, 0, 0, 1]),
                EthernetAddress([2, 0, 0, 0, 0, 2]),
            )
            .unwrap();
            for t in &flows {
                let e = encode_flow(t, ipv6);
                assert_eq!(e.len(), size_of::<types::live_flow>());
                let f = &t.bytes;
                let (src, dst, alen) = if ipv6 { (22, 38, 16) } else { (26, 30, 4) };
                assert_eq!(
                    field(&e, offset_of!(types::live_flow, src_addr), alen),
                    &f[src..src + alen]
                );
                assert_eq!(
                    field(&e, offset_of!(types::live_flow, dst_addr), alen),
                    &f[dst..dst + alen]
                );
                let l4 = t.stamp_at - 8;
                assert_eq!(
                    field(&e, offset_of!(types::live_flow, src_port), 2),
                    &f[l4..l4 + 2]
                );
                assert_eq!(
                    field(&e, offset_of!(types::live_flow, udp_csum0), 2),
                    &f[t.csum_at..t.csum_at + 2]
                );
                let ip_csum = field(&e, offset_of!(types::live_flow, ip_csum), 2);
                if ipv6 {
                    assert_eq!(ip_csum, [0, 0]);
                } else {
                    assert_eq!(ip_csum, &f[24..26]);
                }
                // The sequence number starts at 0.
                assert_eq!(field(&e, offset_of!(types::live_flow, seq), 4), [0; 4]);
            }
        }
    }

    #[test]
    fn paced_runs_hold_half_a_millisecond_within_one_kernel_batch() {
        assert_eq!(paced_run_min(100.0), 1);
        assert_eq!(paced_run_min(20_000.0), 10);
        assert_eq!(paced_run_min(100_000.0), 50);
        assert_eq!(paced_run_min(1e6), RUN_MIN_PACED_FRAMES);
    }

    #[test]
    fn run_context_puts_the_thread_index_in_metadata() {
        let ctx = encode_ctx(64, 7, 1);
        let word = |at: usize| u32::from_ne_bytes(ctx[at..at + 4].try_into().unwrap());
        assert_eq!(word(offset_of!(types::xdp_md, data)), META as u32);
        assert_eq!(
            word(offset_of!(types::xdp_md, data_end)),
            (META + 64) as u32
        );
        assert_eq!(word(offset_of!(types::xdp_md, data_meta)), 0);
        assert_eq!(word(offset_of!(types::xdp_md, ingress_ifindex)), 7);
        assert_eq!(word(offset_of!(types::xdp_md, rx_queue_index)), 1);
        let d = with_meta(3, &[0xaa; 64]);
        assert_eq!(d.len(), META + 64);
        assert_eq!(u32::from_ne_bytes(d[..4].try_into().unwrap()), 3);
    }
}
