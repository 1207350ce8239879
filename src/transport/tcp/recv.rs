//! The receive side's out-of-order assembler (RFC 9293 3.10.7.4 "seventh":
//! segments beyond RCV.NXT are held for later delivery; RFC 2018 4: the
//! blocks reported in SACK options).
//!
//! Out-of-order data is written straight into the receive ring at its
//! offset from RCV.NXT; the assembler only remembers which byte ranges are
//! present. Memory is bounded twice: the data can never exceed the ring
//! (the receive window), and the range list holds at most
//! [`MAX_RANGES`] entries (12 bytes each) — a segment that would need more
//! is dropped and counted, as Linux prunes its out-of-order queue.

/// Most disjoint out-of-order ranges kept. Reordering by a few
/// milliseconds at hundreds of segments per round trip leaves many holes
/// at once: with 32, a 10 ms path with 3 ms of jitter made the receiver
/// drop in-window segments (41 in a 20 MB transfer, 256 retransmissions
/// in all, 1.25 s of fake time); with 256 none (2 retransmissions, both
/// undone as spurious, 0.35 s).
pub(crate) const MAX_RANGES: usize = 256;

/// One held range of offsets from RCV.NXT and when it last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    start: u32,
    end: u32,
    /// The assembler's clock when data last arrived in this range.
    touched: u32,
}

/// Out-of-order byte ranges, as offsets from RCV.NXT, sorted and disjoint.
///
/// Each range remembers when data last arrived in it, so SACK options
/// report the most recently changed ranges first (RFC 2018 4: the first
/// block holds the segment that triggered the ACK, then the blocks most
/// recently reported), as Linux keeps its SACK blocks in
/// most-recently-used order.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    ranges: Vec<Range>,
    /// Bumped on every arrival.
    clock: u32,
}

impl Assembler {
    /// Whether no out-of-order data is held.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Record `[start, end)` as present. Returns false (and changes
    /// nothing) if the range list would exceed [`MAX_RANGES`].
    pub(crate) fn add(&mut self, start: u32, end: u32) -> bool {
        if start >= end {
            return true;
        }
        let (mut s, mut e) = (start, end);
        // Ranges overlapping or touching [s, e) merge into it.
        let first = self.ranges.partition_point(|r| r.end < s);
        let mut last = first;
        while last < self.ranges.len() && self.ranges[last].start <= e {
            s = s.min(self.ranges[last].start);
            e = e.max(self.ranges[last].end);
            last += 1;
        }
        if first == last && self.ranges.len() >= MAX_RANGES {
            return false;
        }
        self.clock = self.clock.wrapping_add(1);
        let touched = self.clock;
        self.ranges.splice(
            first..last,
            [Range {
                start: s,
                end: e,
                touched,
            }],
        );
        true
    }

    /// Whether `[start, end)` is already held whole.
    pub(crate) fn covers(&self, start: u32, end: u32) -> bool {
        let i = self.ranges.partition_point(|r| r.end < end);
        self.ranges
            .get(i)
            .is_some_and(|r| r.start <= start && end <= r.end)
    }

    /// Remove and return the length of the range starting at offset 0 (data
    /// now contiguous with RCV.NXT), shifting the rest down by `advance`
    /// octets, where `advance` is what RCV.NXT moves by (at least that
    /// range's length).
    pub(crate) fn take_front(&mut self, in_order: u32) -> u32 {
        let mut advance = in_order;
        let mut front = 0;
        while let Some(r) = self.ranges.get(front) {
            if r.start > advance {
                break;
            }
            advance = advance.max(r.end);
            front += 1;
        }
        self.ranges.drain(..front);
        self.shift(advance);
        advance
    }

    /// Shift every range down by `n` (RCV.NXT advanced), dropping what falls
    /// below zero.
    fn shift(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        self.ranges.retain_mut(|r| {
            if r.end <= n {
                return false;
            }
            r.start = r.start.saturating_sub(n);
            r.end -= n;
            true
        });
    }

    /// Age of `r` (0 = the most recently touched), comparing clock values
    /// modulo 2^32.
    fn age(&self, r: &Range) -> u32 {
        self.clock.wrapping_sub(r.touched)
    }

    /// How many ranges are held (each is one SACK block).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Up to `max` blocks as offsets, most recently changed first
    /// (RFC 2018 4).
    pub(crate) fn sack_blocks(&self, max: usize) -> impl Iterator<Item = (u32, u32)> + '_ {
        // A selection by age, one block at a time, without sorting or
        // allocating (`max` is at most 4).
        let mut floor: Option<u32> = None;
        core::iter::from_fn(move || {
            let next = self
                .ranges
                .iter()
                .filter(|r| floor.is_none_or(|f| self.age(r) > f))
                .min_by_key(|r| self.age(r))?;
            floor = Some(self.age(next));
            Some((next.start, next.end))
        })
        .take(max)
    }

    /// The held ranges.
    #[cfg(test)]
    pub(crate) fn ranges(&self) -> Vec<(u32, u32)> {
        self.ranges.iter().map(|r| (r.start, r.end)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_delivers_in_order() {
        let mut a = Assembler::default();
        assert!(a.add(10, 20));
        assert!(a.add(30, 40));
        assert!(a.add(20, 30));
        assert_eq!(a.ranges(), vec![(10, 40)]);
        // 10 bytes arrive in order: the held range joins them.
        assert_eq!(a.take_front(10), 40);
        assert!(a.is_empty());
    }

    #[test]
    fn bounded_range_count() {
        let mut a = Assembler::default();
        for i in 0..MAX_RANGES as u32 {
            assert!(a.add(i * 10 + 5, i * 10 + 6));
        }
        assert!(!a.add(100_000, 100_001), "a new disjoint range is refused");
        assert!(a.add(5, 7), "extending one is fine");
    }

    #[test]
    fn sack_blocks_most_recent_first() {
        let mut a = Assembler::default();
        a.add(100, 200);
        a.add(300, 400);
        a.add(10, 20);
        let b: Vec<_> = a.sack_blocks(3).collect();
        assert_eq!(b, vec![(10, 20), (300, 400), (100, 200)]);
        // Data arriving in an older range makes it the most recent.
        a.add(200, 210);
        let b: Vec<_> = a.sack_blocks(3).collect();
        assert_eq!(b, vec![(100, 210), (10, 20), (300, 400)]);
    }
}
