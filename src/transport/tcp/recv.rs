//! The receive side's out-of-order assembler (RFC 9293 3.10.7.4 "seventh":
//! segments beyond RCV.NXT are held for later delivery; RFC 2018 4: the
//! blocks reported in SACK options).
//!
//! Out-of-order data is written straight into the receive ring at its
//! offset from RCV.NXT; the assembler only remembers which byte ranges are
//! present. Memory is bounded twice: the data can never exceed the ring
//! (the receive window), and the range list holds at most
//! [`MAX_RANGES`] entries — a segment that would need more is dropped and
//! counted, as Linux prunes its out-of-order queue.

/// Most disjoint out-of-order ranges kept.
pub(crate) const MAX_RANGES: usize = 32;

/// Out-of-order byte ranges, as offsets from RCV.NXT, sorted and disjoint.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    ranges: Vec<(u32, u32)>,
    /// The range most recently added or extended (start, end), reported
    /// first in SACK options (RFC 2018 4).
    recent: Option<(u32, u32)>,
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
        let first = self.ranges.partition_point(|r| r.1 < s);
        let mut last = first;
        while last < self.ranges.len() && self.ranges[last].0 <= e {
            s = s.min(self.ranges[last].0);
            e = e.max(self.ranges[last].1);
            last += 1;
        }
        if first == last && self.ranges.len() >= MAX_RANGES {
            return false;
        }
        self.ranges.splice(first..last, [(s, e)]);
        self.recent = Some((s, e));
        true
    }

    /// Whether `[start, end)` is already held whole.
    pub(crate) fn covers(&self, start: u32, end: u32) -> bool {
        let i = self.ranges.partition_point(|r| r.1 < end);
        self.ranges
            .get(i)
            .is_some_and(|r| r.0 <= start && end <= r.1)
    }

    /// Remove and return the length of the range starting at offset 0 (data
    /// now contiguous with RCV.NXT), shifting the rest down by `advance`
    /// octets, where `advance` is what RCV.NXT moves by (at least that
    /// range's length).
    pub(crate) fn take_front(&mut self, in_order: u32) -> u32 {
        let mut advance = in_order;
        while let Some(&(s, e)) = self.ranges.first() {
            if s > advance {
                break;
            }
            advance = advance.max(e);
            self.ranges.remove(0);
        }
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
            if r.1 <= n {
                return false;
            }
            r.0 = r.0.saturating_sub(n);
            r.1 -= n;
            true
        });
        self.recent = self
            .recent
            .and_then(|(s, e)| (e > n).then(|| (s.saturating_sub(n), e - n)));
    }

    /// Up to `max` blocks as offsets, the most recent first (RFC 2018 4).
    pub(crate) fn sack_blocks(&self, max: usize) -> impl Iterator<Item = (u32, u32)> + '_ {
        let recent = self
            .recent
            .and_then(|(s, _)| self.ranges.iter().copied().find(|r| r.0 <= s && s < r.1));
        recent
            .into_iter()
            .chain(
                self.ranges
                    .iter()
                    .rev()
                    .copied()
                    .filter(move |r| Some(*r) != recent),
            )
            .take(max)
    }

    /// The held ranges.
    #[cfg(test)]
    pub(crate) fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
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
        assert_eq!(a.ranges(), &[(10, 40)]);
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
        assert!(!a.add(1000, 1001), "a new disjoint range is refused");
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
    }
}
