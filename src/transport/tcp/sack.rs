//! The sender's SACK scoreboard (RFC 2018, RFC 6675 3-4).
//!
//! Holds the sequence ranges above SND.UNA that the receiver reported in
//! SACK blocks, merged and bounded. Blocks that are not within
//! (SND.UNA, SND.NXT] are ignored (RFC 2018 has no acceptability rule; a
//! bogus block must not make us retransmit or mis-count the pipe). Which
//! segments are lost is RACK's call (`super::rack`, RFC 8985), which
//! replaces RFC 6675 `IsLost`.

use crate::wire::tcp::TcpSeqNumber as Seq;

/// RFC 6675 / RFC 5681 DupThresh.
pub(crate) const DUP_THRESH: usize = 3;

/// Most ranges the scoreboard keeps.
const MAX_BLOCKS: usize = 64;

/// SACKed ranges, sorted, disjoint, all above SND.UNA.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scoreboard {
    blocks: Vec<(Seq, Seq)>,
}

impl Scoreboard {
    /// Add a block reported by the receiver; returns whether it added new
    /// SACKed octets.
    pub(crate) fn add(&mut self, start: Seq, end: Seq, snd_una: Seq, snd_nxt: Seq) -> bool {
        let start = start.max(snd_una);
        if start >= end || end > snd_nxt {
            return false;
        }
        let before = self.sacked_bytes();
        let (mut s, mut e) = (start, end);
        let first = self.blocks.partition_point(|b| b.1 < s);
        let mut last = first;
        while last < self.blocks.len() && self.blocks[last].0 <= e {
            s = s.min(self.blocks[last].0);
            e = e.max(self.blocks[last].1);
            last += 1;
        }
        if first == last && self.blocks.len() >= MAX_BLOCKS {
            return false;
        }
        self.blocks.splice(first..last, [(s, e)]);
        self.sacked_bytes() > before
    }

    /// SND.UNA moved: drop what is now cumulatively acknowledged.
    pub(crate) fn advance(&mut self, snd_una: Seq) {
        self.blocks.retain_mut(|b| {
            if b.1 <= snd_una {
                return false;
            }
            b.0 = b.0.max(snd_una);
            true
        });
    }

    /// Total SACKed octets.
    pub(crate) fn sacked_bytes(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| b.1.wrapping_sub(b.0).max(0) as usize)
            .sum()
    }

    /// The first unSACKed sequence number at or after `from` and below
    /// `limit`, with the end of its hole (the next SACKed block, or `end`).
    pub(crate) fn next_hole(&self, from: Seq, limit: Seq, end: Seq) -> Option<(Seq, Seq)> {
        let mut s = from;
        for b in &self.blocks {
            if b.1 <= s {
                continue;
            }
            if b.0 <= s {
                s = b.1;
                continue;
            }
            // s is in a hole ending at b.0.
            return (s < limit).then_some((s, b.0));
        }
        (s < limit && s < end).then_some((s, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> Seq {
        Seq::from(n)
    }

    #[test]
    fn merge_bound_and_advance() {
        let mut sb = Scoreboard::default();
        assert!(sb.add(s(200), s(300), s(100), s(1000)));
        assert!(sb.add(s(300), s(400), s(100), s(1000)));
        assert!(!sb.add(s(250), s(350), s(100), s(1000)), "nothing new");
        assert!(!sb.add(s(900), s(1100), s(100), s(1000)), "beyond SND.NXT");
        assert_eq!(sb.sacked_bytes(), 200);
        sb.advance(s(250));
        assert_eq!(sb.sacked_bytes(), 150);
    }

    #[test]
    fn holes() {
        let mut sb = Scoreboard::default();
        sb.add(s(200), s(300), s(0), s(1000));
        sb.add(s(400), s(500), s(0), s(1000));
        sb.add(s(600), s(601), s(0), s(1000));
        assert_eq!(sb.sacked_bytes(), 201);
        assert_eq!(sb.next_hole(s(0), s(200), s(1000)), Some((s(0), s(200))));
        assert_eq!(sb.next_hole(s(0), s(1), s(1000)), Some((s(0), s(200))));
        assert_eq!(
            sb.next_hole(s(200), s(1000), s(1000)),
            Some((s(300), s(400)))
        );
        assert_eq!(
            sb.next_hole(s(601), s(1000), s(1000)),
            Some((s(601), s(1000)))
        );
    }
}
