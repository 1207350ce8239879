//! A replay link for benchmarks: it serves the same frames over and over and
//! swallows what is written to it, recycling every buffer.
//!
//! The in-process pipeline benchmark (`xdpnet bench pipeline`, the criterion
//! `forward` bench and `valgrind --tool=callgrind` instruction counts) needs
//! a link that costs as little as a NIC's DMA: [`ReplayLink::read_packets`]
//! copies a template frame into a recycled buffer (one memcpy of the frame,
//! standing in for the DMA write) and [`ReplayLink::write_packets`] takes
//! every frame, counts it, and returns its storage to a [`FramePool`]. Links
//! built with the same pool share their frames, the way the AF_XDP sockets
//! of a worker share one UMEM: a frame received on one link and forwarded
//! out of another comes back to the pool the first link draws from. After
//! warm-up nothing allocates; the pool is locked once per batch, not per
//! frame.

use std::sync::{Arc, Mutex};

use crate::buffer::{PacketBatch, PacketBuffer, DEFAULT_HEADROOM};
use crate::link::{Capabilities, LinkEndpoint};
use crate::time::Instant;
use crate::wire::EthernetAddress;

/// Counters of a [`ReplayLink`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Frames handed to the stack.
    pub rx_frames: u64,
    /// Frames the stack wrote.
    pub tx_frames: u64,
    /// Bytes the stack wrote.
    pub tx_bytes: u64,
    /// `write_packets` calls.
    pub tx_batches: u64,
}

/// Frame storage shared by the [`ReplayLink`]s of one pipeline.
#[derive(Debug, Clone, Default)]
pub struct FramePool {
    free: Arc<Mutex<Vec<Box<[u8]>>>>,
}

impl FramePool {
    /// An empty pool.
    pub fn new() -> FramePool {
        FramePool::default()
    }

    /// Frames currently free in the pool.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no frame is free.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Box<[u8]>>> {
        // Every update is a single push/pop loop; a poisoned pool is usable.
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A link that replays template frames and sinks everything written.
#[derive(Debug)]
pub struct ReplayLink {
    mac: EthernetAddress,
    mtu: usize,
    caps: Capabilities,
    templates: Vec<Vec<u8>>,
    next: usize,
    /// Frames still to serve; `u64::MAX` for unlimited.
    remaining: u64,
    pool: FramePool,
    frame_size: usize,
    stats: ReplayStats,
}

impl ReplayLink {
    /// A link with MAC `mac` serving `templates` round-robin (an empty
    /// list serves nothing), with a pool of its own.
    pub fn new(mac: EthernetAddress, mtu: usize, templates: Vec<Vec<u8>>) -> ReplayLink {
        ReplayLink::with_pool(mac, mtu, templates, FramePool::new())
    }

    /// As [`ReplayLink::new`], drawing frames from and returning them to
    /// `pool`.
    pub fn with_pool(
        mac: EthernetAddress,
        mtu: usize,
        templates: Vec<Vec<u8>>,
        pool: FramePool,
    ) -> ReplayLink {
        let longest = templates.iter().map(Vec::len).max().unwrap_or(0);
        ReplayLink {
            mac,
            mtu,
            caps: Capabilities::RESOLUTION_REQUIRED | Capabilities::SOFTWARE_GSO,
            templates,
            next: 0,
            remaining: u64::MAX,
            pool,
            // Every link of a pool must agree on the frame size: size for
            // the largest frame any of them can carry.
            frame_size: DEFAULT_HEADROOM + longest.max(mtu + 18).max(9216 + 18),
            stats: ReplayStats::default(),
        }
    }

    /// Serve at most `n` more frames, then nothing.
    pub fn set_remaining(&mut self, n: u64) {
        self.remaining = n;
    }

    /// The counters.
    pub fn stats(&self) -> ReplayStats {
        self.stats
    }
}

impl LinkEndpoint for ReplayLink {
    fn mtu(&self) -> usize {
        self.mtu
    }

    fn max_header_len(&self) -> usize {
        14
    }

    fn link_address(&self) -> EthernetAddress {
        self.mac
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn write_packets(&mut self, batch: &mut PacketBatch, _now: Instant) -> usize {
        let n = batch.len();
        let frame_size = self.frame_size;
        let mut bytes = 0;
        let mut free = self.pool.lock();
        free.reserve(n);
        for p in batch.drain(..) {
            bytes += p.len() as u64;
            let s = p.into_storage();
            // Frames the stack allocated itself (ICMP errors, ...) are
            // smaller or larger; only pool-sized frames go back.
            if s.len() == frame_size {
                free.push(s);
            }
        }
        self.stats.tx_batches += 1;
        self.stats.tx_frames += n as u64;
        self.stats.tx_bytes += bytes;
        n
    }

    fn read_packets(&mut self, batch: &mut PacketBatch, budget: usize, _now: Instant) -> usize {
        let count = self.templates.len();
        if count == 0 {
            return 0;
        }
        let n = (budget as u64).min(self.remaining) as usize;
        let (templates, frame_size) = (&self.templates, self.frame_size);
        let mut next = self.next;
        let mut free = self.pool.lock();
        // A counted loop (`extend` over a mapped range) writes each handle
        // straight into the batch, with one capacity check per batch.
        batch.extend((0..n).map(|_| {
            // `next < count` always; an empty template is the fallback the
            // compiler wants, never taken.
            let t = templates.get(next).map_or(&[][..], Vec::as_slice);
            next += 1;
            if next == count {
                next = 0;
            }
            let mut storage = free
                .pop()
                .unwrap_or_else(|| vec![0u8; frame_size].into_boxed_slice());
            let end = DEFAULT_HEADROOM + t.len();
            // Every template fits: frame_size covers the longest.
            if let Some(dma) = storage.get_mut(DEFAULT_HEADROOM..end) {
                dma.copy_from_slice(t);
            }
            PacketBuffer::from_storage(storage, DEFAULT_HEADROOM, end)
        }));
        self.next = next;
        if self.remaining != u64::MAX {
            self.remaining -= n as u64;
        }
        self.stats.rx_frames += n as u64;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_and_recycles() {
        let mut l = ReplayLink::new(
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            1500,
            vec![vec![1, 2, 3], vec![4, 5]],
        );
        l.set_remaining(5);
        let mut b = Vec::new();
        assert_eq!(l.read_packets(&mut b, 4, Instant::ZERO), 4);
        assert_eq!(b[0].as_slice(), &[1, 2, 3]);
        assert_eq!(b[1].as_slice(), &[4, 5]);
        assert_eq!(b[0].headroom(), DEFAULT_HEADROOM);
        assert_eq!(l.write_packets(&mut b, Instant::ZERO), 4);
        assert!(b.is_empty());
        assert_eq!(l.pool.len(), 4, "storage recycled");
        assert_eq!(
            l.read_packets(&mut b, 4, Instant::ZERO),
            1,
            "only 5 in total"
        );
        assert_eq!(l.read_packets(&mut b, 4, Instant::ZERO), 0);
        assert_eq!(l.stats().tx_frames, 4);
    }

    #[test]
    fn links_sharing_a_pool_recycle_each_others_frames() {
        let pool = FramePool::new();
        let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let mut rx = ReplayLink::with_pool(mac, 1500, vec![vec![7; 60]], pool.clone());
        let mut tx = ReplayLink::with_pool(mac, 1500, Vec::new(), pool.clone());
        let mut b = Vec::new();
        for _ in 0..10 {
            rx.read_packets(&mut b, 64, Instant::ZERO);
            tx.write_packets(&mut b, Instant::ZERO);
        }
        assert_eq!(pool.len(), 64, "64 frames in circulation, no more");
    }
}
