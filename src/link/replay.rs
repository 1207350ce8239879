//! A replay link for benchmarks: it serves the same frames over and over and
//! swallows what is written to it, recycling every buffer.
//!
//! The in-process pipeline benchmark (`xdpnet bench pipeline`, the criterion
//! `forward` bench and `valgrind --tool=callgrind` instruction counts) needs
//! a link that costs as little as a NIC's DMA: [`ReplayLink::read_packets`]
//! copies a template frame into a recycled buffer (one memcpy of the frame,
//! standing in for the DMA write) and [`ReplayLink::write_packets`] takes
//! every frame, counts it, and returns its storage to the free list. After
//! warm-up nothing allocates.

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
    free: Vec<Box<[u8]>>,
    frame_size: usize,
    stats: ReplayStats,
}

impl ReplayLink {
    /// A link with MAC `mac` serving `templates` round-robin (an empty
    /// list serves nothing).
    pub fn new(mac: EthernetAddress, mtu: usize, templates: Vec<Vec<u8>>) -> ReplayLink {
        let longest = templates.iter().map(Vec::len).max().unwrap_or(0);
        ReplayLink {
            mac,
            mtu,
            caps: Capabilities::RESOLUTION_REQUIRED | Capabilities::SOFTWARE_GSO,
            templates,
            next: 0,
            remaining: u64::MAX,
            free: Vec::new(),
            frame_size: DEFAULT_HEADROOM + longest.max(mtu + 18),
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
        self.stats.tx_batches += 1;
        for p in batch.drain(..) {
            self.stats.tx_frames += 1;
            self.stats.tx_bytes += p.len() as u64;
            let s = p.into_storage();
            if s.len() >= self.frame_size {
                self.free.push(s);
            }
        }
        n
    }

    fn read_packets(&mut self, batch: &mut PacketBatch, budget: usize, _now: Instant) -> usize {
        if self.templates.is_empty() {
            return 0;
        }
        let n = (budget as u64).min(self.remaining) as usize;
        for _ in 0..n {
            let t = &self.templates[self.next];
            self.next = (self.next + 1) % self.templates.len();
            let mut storage = self
                .free
                .pop()
                .unwrap_or_else(|| vec![0u8; self.frame_size].into_boxed_slice());
            storage[DEFAULT_HEADROOM..DEFAULT_HEADROOM + t.len()].copy_from_slice(t);
            batch.push(PacketBuffer::from_storage(
                storage,
                DEFAULT_HEADROOM,
                DEFAULT_HEADROOM + t.len(),
            ));
        }
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
        assert_eq!(l.free.len(), 4, "storage recycled");
        assert_eq!(
            l.read_packets(&mut b, 4, Instant::ZERO),
            1,
            "only 5 in total"
        );
        assert_eq!(l.read_packets(&mut b, 4, Instant::ZERO), 0);
        assert_eq!(l.stats().tx_frames, 4);
    }
}
