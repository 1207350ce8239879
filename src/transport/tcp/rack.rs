//! RACK-TLP loss detection (RFC 8985) for connections that use SACK.
//!
//! The sender keeps one record per transmitted segment (at most one SMSS
//! each; a GSO send is recorded as its MSS-sized pieces) with the time it
//! was last (re)transmitted, whether the receiver SACKed it, whether it is
//! marked lost and whether it was ever retransmitted. The records cover
//! `[SND.UNA, SND.NXT)` in sequence order.
//!
//! * RACK (RFC 8985 6): a segment is lost when a segment sent
//!   sufficiently later — by more than the reordering window `reo_wnd` —
//!   has been delivered. Because a retransmission gets a fresh transmit
//!   time, a lost retransmission is detected the same way, without waiting
//!   for the RTO.
//! * `reo_wnd` (RFC 8985 6.2 step 4) starts at `min_RTT / 4`, is zero until
//!   reordering has been seen while in recovery or once DupThresh segments
//!   are SACKed, grows by `min_RTT / 4` per round trip that receives a
//!   DSACK (RFC 2883) and falls back after 16 recoveries without one.
//! * TLP (RFC 8985 7) lives in the connection: it uses the records to
//!   find the last segment for a probe, and [`Rack::tlp`] for the episode.
//!
//! Memory: the records are bounded by the send window (one per SMSS
//! outstanding). Every walk stops early where the RFC's ordering allows,
//! so the common no-loss ACK costs O(segments acknowledged).

use std::collections::VecDeque;

use crate::time::{Duration, Instant};
use crate::wire::tcp::TcpSeqNumber as Seq;

use super::sack::DUP_THRESH;

/// RFC 8985 6.2 step 4: the reordering window persists for 16 recoveries
/// after the last DSACK.
const REO_WND_PERSIST: u32 = 16;

/// Window of the min-RTT filter (Linux `tcp_min_rtt_wlen`, 300 s).
const MIN_RTT_WINDOW: Duration = Duration::from_secs(300);

/// One transmitted segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SentSeg {
    pub(crate) start: Seq,
    pub(crate) end: Seq,
    /// RFC 8985 `Segment.xmit_ts`: the time of the latest (re)transmission.
    pub(crate) xmit_ts: Instant,
    /// Transmission order: breaks ties between equal `xmit_ts`.
    pub(crate) order: u64,
    /// Ever retransmitted (RFC 8985 `Segment.retransmitted`).
    pub(crate) retransmitted: bool,
    /// Covered by a SACK block.
    pub(crate) sacked: bool,
    /// Marked lost and not retransmitted since.
    pub(crate) lost: bool,
}

impl SentSeg {
    fn len(&self) -> usize {
        self.end.wrapping_sub(self.start).max(0) as usize
    }
}

/// RFC 8985 `RACK_sent_after(t1, seq1, t2, seq2)`. The RFC breaks ties
/// between equal transmit times with the end sequence number; a
/// retransmission can share its timestamp with new data sent right before
/// it, so ties are broken here by the order of transmission, which is what
/// the end sequence approximates.
#[inline]
fn sent_after(t1: Instant, o1: u64, t2: Instant, o2: u64) -> bool {
    t1 > t2 || (t1 == t2 && o1 > o2)
}

/// A TLP episode (RFC 8985 7.4.1 `TLP.end_seq`, `TLP.is_retrans`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TlpEpisode {
    pub(crate) end_seq: Seq,
    pub(crate) is_retrans: bool,
}

/// The RACK state of one connection (RFC 8985 6.1).
#[derive(Debug, Default)]
pub(crate) struct Rack {
    segs: VecDeque<SentSeg>,
    /// Octets of segments marked lost, not SACKed and not yet retransmitted.
    lost_bytes: usize,
    /// Segments SACKed (RFC 8985 `RACK.segs_sacked`).
    segs_sacked: usize,
    /// RACK.xmit_ts / RACK.end_seq of the most recently sent segment
    /// delivered so far.
    xmit_ts: Option<Instant>,
    order: u64,
    /// The next transmission's order.
    next_order: u64,
    /// RACK.rtt: the RTT of that segment.
    rtt: Duration,
    /// RACK.min_RTT with the time it was taken (windowed minimum).
    min_rtt: Option<(Duration, Instant)>,
    /// RACK.fack: the highest end sequence delivered.
    fack: Seq,
    /// RACK.reordering_seen.
    pub(crate) reordering_seen: bool,
    /// RACK.reo_wnd_mult, RACK.reo_wnd_persist, RACK.dsack_round.
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    dsack_round: Option<Seq>,
    /// DSACKs received (TCP_INFO).
    pub(crate) dsacks: u64,
    /// The current TLP episode.
    pub(crate) tlp: Option<TlpEpisode>,
}

/// What an ACK delivered, for RACK (RFC 8985 6.2 steps 1-3).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Delivered {
    /// The delivered segment sent last that passed the step 2 filter:
    /// (xmit_ts, end_seq, rtt).
    newest: Option<(Instant, u64, Duration)>,
    /// A never-retransmitted segment below RACK.fack was delivered.
    reordered: bool,
    /// Highest end sequence delivered.
    fack: Option<Seq>,
    /// Lowest end sequence of the never-retransmitted segments delivered
    /// (F-RTO's test for original data, RFC 5682 3.1 step 3b).
    pub(crate) orig_end: Option<Seq>,
}

impl Rack {
    /// Start with the reordering window multiplier at 1.
    pub(crate) fn new() -> Rack {
        Rack {
            reo_wnd_mult: 1,
            ..Rack::default()
        }
    }

    /// Octets marked lost and waiting for retransmission.
    #[inline]
    pub(crate) fn lost_bytes(&self) -> usize {
        self.lost_bytes
    }

    /// Whether any segment is marked lost.
    #[inline]
    pub(crate) fn has_lost(&self) -> bool {
        self.lost_bytes > 0
    }

    /// RACK.min_RTT, if any RTT sample was taken.
    pub(crate) fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.map(|m| m.0)
    }

    /// Feed an RTT sample to the windowed min filter (RFC 8985 6.2 step 1).
    pub(crate) fn rtt_sample(&mut self, rtt: Duration, now: Instant) {
        let replace = match self.min_rtt {
            None => true,
            Some((m, at)) => rtt <= m || now.saturating_duration_since(at) > MIN_RTT_WINDOW,
        };
        if replace {
            self.min_rtt = Some((rtt, now));
        }
    }

    /// Record `[start, end)` sent for the first time at `now`, cut into
    /// pieces of at most `mss` octets (a FIN octet rides in the last).
    pub(crate) fn on_send_new(&mut self, start: Seq, end: Seq, mss: usize, now: Instant) {
        let mut s = start;
        while s < end {
            let e = (s + mss.max(1)).min(end);
            self.next_order += 1;
            self.segs.push_back(SentSeg {
                start: s,
                end: e,
                xmit_ts: now,
                order: self.next_order,
                retransmitted: false,
                sacked: false,
                lost: false,
            });
            s = e;
        }
    }

    /// The first segment marked lost (RFC 6675 NextSeg rule 1 with RACK's
    /// notion of lost), cut to at most `mss` octets first: (start, len).
    pub(crate) fn next_lost(&mut self, mss: usize) -> Option<(Seq, usize)> {
        if self.lost_bytes == 0 {
            return None;
        }
        let i = self.segs.iter().position(|s| s.lost && !s.sacked)?;
        self.split(i, mss);
        let s = self.segs[i];
        Some((s.start, s.len()))
    }

    /// Cut the record at `i` into pieces of at most `mss` octets (after the
    /// path MTU dropped).
    fn split(&mut self, i: usize, mss: usize) {
        let mss = mss.max(1);
        let seg = self.segs[i];
        if seg.len() <= mss {
            return;
        }
        let mut pieces = Vec::new();
        let mut s = seg.start;
        while s < seg.end {
            let e = (s + mss).min(seg.end);
            pieces.push(SentSeg {
                start: s,
                end: e,
                ..seg
            });
            s = e;
        }
        self.segs.remove(i);
        for (k, p) in pieces.into_iter().enumerate() {
            self.segs.insert(i + k, p);
        }
    }

    /// The segment starting at `start` was retransmitted at `now`: it gets
    /// a new transmit time (so RACK can detect its loss too) and leaves the
    /// lost set.
    pub(crate) fn on_retransmit(&mut self, start: Seq, now: Instant) {
        let i = self.segs.partition_point(|s| s.start < start);
        if let Some(seg) = self.segs.get_mut(i) {
            if seg.start == start {
                if seg.lost && !seg.sacked {
                    self.lost_bytes -= seg.len();
                }
                seg.lost = false;
                seg.retransmitted = true;
                seg.xmit_ts = now;
                self.next_order += 1;
                seg.order = self.next_order;
            }
        }
    }

    /// What a TLP retransmission probe resends (RFC 8985 7.3: "the
    /// highest-sequence segment sent so far"): the last records not SACKed
    /// that fit in one segment of `max_len` octets — so a FIN recorded on
    /// its own rides with the data before it, and the probe carries data
    /// the receiver can SACK. (start, len).
    pub(crate) fn tail_span(&self, max_len: usize) -> Option<(Seq, usize)> {
        let mut it = self.segs.iter().rev().skip_while(|s| s.sacked);
        let last = it.next()?;
        let (mut start, end) = (last.start, last.end);
        for s in it {
            if s.sacked || s.end != start || end.wrapping_sub(s.start) as usize > max_len {
                break;
            }
            start = s.start;
        }
        Some((start, end.wrapping_sub(start).max(0) as usize))
    }

    /// Every record within `[start, end)` was retransmitted at `now`.
    pub(crate) fn on_retransmit_span(&mut self, start: Seq, end: Seq, now: Instant) {
        let mut i = self.segs.partition_point(|s| s.start < start);
        while i < self.segs.len() && self.segs[i].start < end {
            let st = self.segs[i].start;
            self.on_retransmit(st, now);
            i += 1;
        }
    }

    /// Mark every segment not SACKed as lost (RTO, RFC 8985 6.3 / RFC 5681
    /// 3.1; or a path MTU drop).
    pub(crate) fn mark_all_lost(&mut self) {
        self.lost_bytes = 0;
        for s in self.segs.iter_mut() {
            if !s.sacked {
                s.lost = true;
                self.lost_bytes += s.len();
            }
        }
    }

    /// A timeout proved spurious: nothing is presumed lost any more (the
    /// segments it marked and that were not resent since are in flight).
    pub(crate) fn unmark_lost(&mut self) {
        if self.lost_bytes == 0 {
            return;
        }
        for s in self.segs.iter_mut() {
            s.lost = false;
        }
        self.lost_bytes = 0;
    }

    /// SND.UNA moved to `una`: the records below it are delivered.
    pub(crate) fn on_cumulative_ack(
        &mut self,
        una: Seq,
        ack_tsecr: Option<u32>,
        ts: &dyn Fn(Instant) -> u32,
        now: Instant,
        d: &mut Delivered,
    ) {
        while let Some(front) = self.segs.front_mut() {
            if front.end <= una {
                let seg = *front;
                self.segs.pop_front();
                if seg.lost && !seg.sacked {
                    self.lost_bytes -= seg.len();
                }
                if seg.sacked {
                    self.segs_sacked -= 1;
                }
                if !seg.sacked {
                    self.delivered(&seg, ack_tsecr, ts, now, d);
                }
            } else {
                if front.start < una {
                    // Partially acknowledged (an MSS change or an odd
                    // peer): keep the rest.
                    let cut = una.wrapping_sub(front.start) as usize;
                    if front.lost && !front.sacked {
                        self.lost_bytes -= cut;
                    }
                    front.start = una;
                }
                break;
            }
        }
    }

    /// The receiver SACKed `[start, end)`: mark the records it covers whole.
    pub(crate) fn on_sack(
        &mut self,
        start: Seq,
        end: Seq,
        ack_tsecr: Option<u32>,
        ts: &dyn Fn(Instant) -> u32,
        now: Instant,
        d: &mut Delivered,
    ) {
        let mut i = self.segs.partition_point(|s| s.end <= start);
        while i < self.segs.len() {
            let seg = self.segs[i];
            if seg.start >= end {
                break;
            }
            if !seg.sacked && seg.start >= start && seg.end <= end {
                if seg.lost {
                    self.lost_bytes -= seg.len();
                }
                self.segs[i].sacked = true;
                self.segs[i].lost = false;
                self.segs_sacked += 1;
                self.delivered(&seg, ack_tsecr, ts, now, d);
            }
            i += 1;
        }
    }

    /// RFC 8985 6.2 steps 2 and 3 for one newly delivered segment.
    fn delivered(
        &self,
        seg: &SentSeg,
        ack_tsecr: Option<u32>,
        ts: &dyn Fn(Instant) -> u32,
        now: Instant,
        d: &mut Delivered,
    ) {
        if !seg.retransmitted && d.orig_end.is_none_or(|e| seg.end < e) {
            d.orig_end = Some(seg.end);
        }
        // Step 3: a never-retransmitted segment delivered below RACK.fack
        // was reordered.
        let fack = d.fack.unwrap_or(self.fack).max(self.fack);
        if seg.end > fack {
            d.fack = Some(seg.end);
        } else if seg.end < fack && !seg.retransmitted {
            d.reordered = true;
        }
        // Step 2: skip ambiguous samples of retransmitted segments — the
        // ACK echoes a timestamp older than the retransmission, or the RTT
        // is below min_RTT (so it must be the original's delivery).
        let rtt = now.saturating_duration_since(seg.xmit_ts);
        if seg.retransmitted {
            if let Some(ecr) = ack_tsecr {
                if super::connection::ts_before(ecr, ts(seg.xmit_ts)) {
                    return;
                }
            }
            if self.min_rtt().is_some_and(|m| rtt < m) {
                return;
            }
        }
        let newer = match d.newest {
            None => true,
            Some((t, o, _)) => sent_after(seg.xmit_ts, seg.order, t, o),
        };
        if newer {
            d.newest = Some((seg.xmit_ts, seg.order, rtt));
        }
    }

    /// Fold what the ACK delivered into the RACK state (RFC 8985 6.2 steps
    /// 2-3) and adapt the reordering window (step 4). `dsack`: the ACK
    /// carried a DSACK block; `exiting_recovery`: recovery ended on it.
    pub(crate) fn on_ack(
        &mut self,
        d: &Delivered,
        dsack: bool,
        snd_una: Seq,
        snd_nxt: Seq,
        exiting_recovery: bool,
    ) {
        if let Some((t, o, rtt)) = d.newest {
            // Step 2: RACK.rtt and, if sent after, RACK.xmit_ts/end_seq.
            self.rtt = rtt;
            let after = match self.xmit_ts {
                None => true,
                Some(rt) => sent_after(t, o, rt, self.order),
            };
            if after {
                self.xmit_ts = Some(t);
                self.order = o;
            }
        }
        if let Some(f) = d.fack {
            self.fack = self.fack.max(f);
        }
        if d.reordered {
            self.reordering_seen = true;
        }
        // Step 4 (RACK_update_reo_wnd): one increment per round trip that
        // sees a DSACK.
        if self.dsack_round.is_some_and(|r| snd_una >= r) {
            self.dsack_round = None;
        }
        if dsack {
            self.dsacks += 1;
        }
        if self.dsack_round.is_none() && dsack {
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1);
            self.reo_wnd_persist = REO_WND_PERSIST;
        } else if exiting_recovery {
            self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }

    /// RFC 8985 6.2 step 4: the reordering window.
    pub(crate) fn reo_wnd(&self, in_recovery: bool, srtt: Option<Duration>) -> Duration {
        if !self.reordering_seen && (in_recovery || self.segs_sacked >= DUP_THRESH) {
            return Duration::ZERO;
        }
        let w = self.min_rtt().unwrap_or(Duration::ZERO) / 4 * self.reo_wnd_mult;
        match srtt {
            Some(s) => w.min(s),
            None => w,
        }
    }

    /// RFC 8985 6.2 step 5 (`RACK_detect_loss`): mark the segments sent
    /// before RACK.xmit_ts by more than `reo_wnd` as lost. Returns
    /// whether any was newly marked and, for those still within the
    /// window, when the reordering timer must fire (RFC 8985 6.3).
    pub(crate) fn detect_loss(
        &mut self,
        reo_wnd: Duration,
        now: Instant,
    ) -> (bool, Option<Instant>) {
        let Some(rack_ts) = self.xmit_ts else {
            return (false, None);
        };
        let mut marked = false;
        let mut timeout: Option<Instant> = None;
        for seg in self.segs.iter_mut() {
            if !sent_after(rack_ts, self.order, seg.xmit_ts, seg.order) {
                // Original transmissions are in sequence order, and a
                // retransmission is later than its original: nothing
                // further can be before RACK.xmit_ts unless retransmitted.
                if !seg.retransmitted {
                    break;
                }
                continue;
            }
            if seg.sacked || seg.lost {
                continue;
            }
            let deadline = seg.xmit_ts + self.rtt + reo_wnd;
            if deadline <= now {
                seg.lost = true;
                self.lost_bytes += seg.len();
                marked = true;
            } else {
                timeout = Some(timeout.map_or(deadline, |t| t.max(deadline)));
            }
        }
        (marked, timeout)
    }

    /// Segments recorded.
    #[cfg(test)]
    pub(crate) fn segments(&self) -> usize {
        self.segs.len()
    }

    /// Forget everything (the connection closed or restarted its sequence
    /// space).
    pub(crate) fn clear(&mut self) {
        self.segs.clear();
        self.lost_bytes = 0;
        self.segs_sacked = 0;
        self.tlp = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> Seq {
        Seq::from(n)
    }
    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }
    fn ts(i: Instant) -> u32 {
        i.total_millis() as u32
    }

    #[test]
    fn lost_when_a_later_segment_is_delivered() {
        let mut r = Rack::new();
        r.rtt_sample(Duration::from_millis(20), t(0));
        r.on_send_new(s(0), s(3000), 1000, t(100));
        let mut d = Delivered::default();
        // Segment 2 SACKed 20 ms later: 0 and 1 are within reo_wnd (5 ms).
        r.on_sack(s(2000), s(3000), None, &ts, t(120), &mut d);
        r.on_ack(&d, false, s(0), s(3000), false);
        let w = r.reo_wnd(false, Some(Duration::from_millis(20)));
        assert_eq!(w, Duration::from_millis(5));
        let (m, timer) = r.detect_loss(w, t(120));
        assert!(!m);
        assert_eq!(timer, Some(t(125)));
        let (m, _) = r.detect_loss(w, t(125));
        assert!(m);
        assert_eq!(r.lost_bytes(), 2000);
        assert_eq!(r.next_lost(1000), Some((s(0), 1000)));
        r.on_retransmit(s(0), t(125));
        assert_eq!(r.lost_bytes(), 1000);
        assert_eq!(r.next_lost(1000), Some((s(1000), 1000)));
    }

    #[test]
    fn lost_retransmission_is_detected() {
        let mut r = Rack::new();
        r.rtt_sample(Duration::from_millis(20), t(0));
        r.on_send_new(s(0), s(2000), 1000, t(100));
        r.mark_all_lost();
        r.on_retransmit(s(0), t(300));
        r.on_retransmit(s(1000), t(310));
        // The second retransmission is delivered, the first is not.
        let mut d = Delivered::default();
        r.on_sack(s(1000), s(2000), Some(310), &ts, t(330), &mut d);
        r.on_ack(&d, false, s(0), s(2000), false);
        let (m, _) = r.detect_loss(Duration::ZERO, t(330));
        assert!(
            m,
            "segment 0's retransmission was sent before a delivered one"
        );
        assert_eq!(r.next_lost(1000), Some((s(0), 1000)));
    }

    #[test]
    fn dsack_grows_reo_wnd_once_per_round() {
        let mut r = Rack::new();
        r.rtt_sample(Duration::from_millis(40), t(0));
        r.reordering_seen = true;
        let d = Delivered::default();
        assert_eq!(r.reo_wnd(true, None), Duration::from_millis(10));
        r.on_ack(&d, true, s(0), s(5000), false);
        r.on_ack(&d, true, s(1000), s(5000), false);
        assert_eq!(r.reo_wnd(true, None), Duration::from_millis(20));
        r.on_ack(&d, true, s(5000), s(9000), false);
        assert_eq!(r.reo_wnd(true, None), Duration::from_millis(30));
        assert_eq!(
            r.reo_wnd(true, Some(Duration::from_millis(25))),
            Duration::from_millis(25)
        );
        for _ in 0..REO_WND_PERSIST {
            r.on_ack(&d, false, s(9000), s(9000), true);
        }
        assert_eq!(r.reo_wnd(true, None), Duration::from_millis(10));
    }

    #[test]
    fn split_after_mss_drop() {
        let mut r = Rack::new();
        r.on_send_new(s(0), s(1400), 1400, t(0));
        r.mark_all_lost();
        assert_eq!(r.next_lost(500), Some((s(0), 500)));
        assert_eq!(r.segments(), 3);
        assert_eq!(r.lost_bytes(), 1400);
    }
}
