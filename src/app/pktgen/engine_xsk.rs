//! The `xsk` engine: one AF_XDP socket per queue.
//!
//! Each thread copies its flows' template frames into UMEM frames, writes
//! the [stamp](super::write_stamp) and hands 64 frames per `write_packets`
//! (one `sendto` kick) to the TX ring, paced by the [`Pacer`]. Every 32
//! iterations it drains its rx ring (the steering program redirects the
//! queue's frames to the socket), keeping the fill ring turning. At the end
//! it waits up to 500 ms for the kernel to complete what is on the TX ring.
//!
//! On veth the socket binds in copy mode: every frame becomes an skb in
//! `xsk_generic_xmit`, at most 32 per kick by default (DESIGN.md), which is
//! what bounds this engine there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{monotonic_ns, write_stamp, Pacer, Progress, QueuePlan, QueueResult, BATCH};
use crate::buffer::PacketBatch;
use crate::link::xdp::XdpLink;
use crate::link::LinkEndpoint;
use crate::time::Instant;

/// Send `plan` on `link` until `stop`, the plan's duration or its count.
pub fn run(
    link: &mut XdpLink,
    plan: &QueuePlan,
    stop: &AtomicBool,
    progress: &Progress,
) -> QueueResult {
    let flows = &plan.flows;
    let start = monotonic_ns();
    let deadline = plan.duration.map(|d| start + (d * 1e9) as u64);
    let mut pacer = Pacer::new(plan.pps, BATCH, start);
    let mut seqs = vec![0u32; flows.len()];
    let mut flow = 0usize;
    let mut batch: PacketBatch = Vec::with_capacity(BATCH);
    let mut rx: PacketBatch = Vec::with_capacity(BATCH);
    let (mut sent, mut built, mut rx_packets) = (0u64, 0u64, 0u64);
    let mut iter = 0u64;
    let (mut first, mut end) = (0u64, start);
    loop {
        let now = monotonic_ns();
        if stop.load(Ordering::Relaxed)
            || deadline.is_some_and(|d| now >= d)
            || plan.count.is_some_and(|c| sent >= c)
        {
            break;
        }
        let mut want = pacer.available(now, BATCH - batch.len());
        if let Some(c) = plan.count {
            want = want.min((c - built) as usize);
        }
        if want == 0 && batch.is_empty() {
            if plan.pps.is_some() && plan.count.is_none_or(|c| built < c) {
                pacer.wait(now, deadline);
            } else {
                // -n reached with everything built: wait for the ring.
                link.service();
            }
        } else {
            for _ in 0..want {
                let Some(mut buf) = link.alloc_buffer() else {
                    break;
                };
                let t = &flows[flow];
                let dst = buf.append(t.bytes.len());
                dst.copy_from_slice(&t.bytes);
                write_stamp(t, dst, seqs[flow], now);
                seqs[flow] = seqs[flow].wrapping_add(1);
                flow = if flow + 1 == flows.len() { 0 } else { flow + 1 };
                batch.push(buf);
                built += 1;
                pacer.take(1);
            }
            if !batch.is_empty() {
                let n = link.write_packets(&mut batch, Instant::from_nanos(now));
                if n > 0 {
                    if sent == 0 {
                        first = now;
                    }
                    sent += n as u64;
                    progress.packets.store(sent, Ordering::Relaxed);
                    end = monotonic_ns();
                } else {
                    link.service();
                }
            }
        }
        iter += 1;
        if iter.is_multiple_of(32) {
            rx_packets += link.read_packets(&mut rx, BATCH, Instant::from_nanos(now)) as u64;
            rx.clear();
        }
    }
    drop(batch);
    // Let the kernel complete what is on the TX ring.
    let drain_until = monotonic_ns() + 500_000_000;
    while link.accounting().umem.tx > 0 && monotonic_ns() < drain_until {
        link.service();
        std::thread::sleep(Duration::from_micros(200));
    }
    let st = link.xdp_statistics().unwrap_or_default();
    QueueResult {
        queue: plan.queue,
        core: plan.core,
        packets: sent,
        bytes: sent * plan.size as u64,
        first_ns: if sent == 0 { start } else { first },
        last_ns: end,
        rx_packets,
        tx_invalid: st.tx_invalid_descs,
        tx_ring_empty: st.tx_ring_empty_descs,
        in_flight_at_exit: link.accounting().umem.tx,
        aborted: 0,
        runs: 0,
    }
}
