//! Undoing a congestion response that turned out to be spurious.
//!
//! Reordering can make loss detection retransmit segments that were only
//! late; the congestion window was then cut for nothing. Two detectors
//! tell, after the fact, that every retransmission of a fast-recovery
//! episode was unnecessary:
//!
//! * **Eifel** (RFC 3522), with timestamps: the first ACK that covers the
//!   episode's first retransmission echoes the TSval of the segment that
//!   made the receiver send it. An echo older than the retransmission's
//!   TSval (`RetransmitTS`) means the original arrived (RFC 3522 3.2 step
//!   DET-3). Only the first such ACK counts; with a 1 ms timestamp clock a
//!   retransmission sent within the original's millisecond cannot be told
//!   apart and is never taken for spurious.
//! * **DSACK** (RFC 3708 3, as Linux's `undo_retrans`): every segment
//!   retransmitted in the episode is counted, every DSACK block at or past
//!   the episode's start takes its segments off; when the count reaches
//!   zero each retransmission arrived twice, so none was needed.
//!
//! The response (RFC 4015 in spirit; RFC 9438 4.9 for CUBIC) restores the
//! congestion controller exactly as it was before the congestion event
//! (cwnd, ssthresh and CUBIC's `W_max`, `K` and epoch), leaves recovery if
//! nothing else is marked lost, and counts `spurious_undos`. It is applied
//! only while no other segment is marked lost (without SACK: once recovery
//! has ended): a real loss in the same episode keeps the reduction.
//!
//! Scope: fast recovery (RACK or duplicate ACKs). An RTO is not undone (F-RTO, RFC 5682, is not
//! implemented); it ends any open episode. An episode's undo state is kept
//! until data sent after recovery ended is acknowledged (late DSACKs
//! arrive before that), or until the next congestion event.

use super::congestion::CongestionControl;
use super::connection::TcpConnection;
use super::TcpStats;
use crate::time::Instant;
use crate::wire::tcp::TcpSeqNumber as Seq;

/// What an episode needs to be undone.
#[derive(Debug)]
pub(crate) struct Undo {
    /// The congestion controller as it was before the event.
    prior: Box<dyn CongestionControl>,
    /// SND.UNA when the episode began (Linux `undo_marker`): DSACKs for
    /// data below it are about older retransmissions.
    marker: Seq,
    /// Segments retransmitted in the episode and not yet reported twice.
    retrans: u64,
    /// Whether anything was retransmitted (a zero count means "all
    /// spurious" only then).
    any_retransmitted: bool,
    /// RFC 3522 `RetransmitTS`: the first retransmission's sequence number
    /// and TSval, until the first ACK covering it has been looked at.
    eifel: Option<(Seq, u32)>,
    /// SND.NXT when recovery ended; the state is dropped once this is
    /// acknowledged.
    horizon: Option<Seq>,
}

impl TcpConnection {
    /// A congestion event is about to reduce the window: remember the
    /// controller as it is (called before the reduction).
    pub(crate) fn undo_begin(&mut self) {
        self.undo = Some(Undo {
            prior: self.cc.boxed_clone(),
            marker: self.snd_una,
            retrans: 0,
            any_retransmitted: false,
            eifel: None,
            horizon: None,
        });
    }

    /// `segs` segments starting at `start` were retransmitted at `now`.
    pub(crate) fn undo_note_retransmit(&mut self, start: Seq, segs: u64, now: Instant) {
        let tsval = self.ts_enabled.then(|| self.ts_now(now));
        let Some(u) = &mut self.undo else { return };
        if u.horizon.is_some() {
            // Recovery is over: a retransmission now (a TLP, a late
            // RACK loss) belongs to no undoable episode.
            self.undo = None;
            return;
        }
        u.retrans += segs;
        if !u.any_retransmitted {
            u.any_retransmitted = true;
            u.eifel = tsval.map(|ts| (start, ts));
        }
    }

    /// Recovery ended with SND.NXT at `snd_nxt`.
    pub(crate) fn undo_recovery_ended(&mut self) {
        let snd_nxt = self.snd_nxt;
        if let Some(u) = &mut self.undo {
            u.horizon.get_or_insert(snd_nxt);
        }
    }

    /// An RTO or another reduction: the episode can no longer be undone.
    pub(crate) fn undo_cancel(&mut self) {
        self.undo = None;
    }

    /// Look at an ACK (`ack`, its DSACK block and TSecr) for proof that
    /// the episode was spurious, and undo it if so. Called after the ACK
    /// was processed.
    pub(crate) fn undo_on_ack(
        &mut self,
        ack: Seq,
        dsack: Option<(Seq, Seq)>,
        tsecr: Option<u32>,
        stats: &mut TcpStats,
    ) {
        let mss = self.mss.max(1);
        let Some(u) = &mut self.undo else { return };
        let mut spurious = false;
        if let Some((first, rts)) = u.eifel {
            if ack > first {
                // RFC 3522 3.2: only the first ACK acknowledging the
                // retransmitted octet is tested.
                u.eifel = None;
                if let Some(ecr) = tsecr {
                    // DET-3: TSecr < RetransmitTS (modulo 2^32).
                    spurious |= (ecr.wrapping_sub(rts) as i32) < 0;
                }
            }
        }
        if let Some((s, e)) = dsack {
            // RFC 3708 3: a DSACK for data of this episode reports one of
            // its retransmissions arriving twice.
            if e > u.marker && u.retrans > 0 {
                let segs = (e.wrapping_sub(s).max(0) as usize).div_ceil(mss) as u64;
                u.retrans = u.retrans.saturating_sub(segs.max(1));
                spurious |= u.retrans == 0 && u.any_retransmitted;
            }
        }
        let expired = u.horizon.is_some_and(|h| ack > h);
        // With SACK, RACK knows whether anything else is lost; without it
        // (NewReno's partial ACKs), only the end of recovery says so.
        let nothing_lost = if self.sack_enabled {
            !self.rack.has_lost()
        } else {
            self.recovery.is_none()
        };
        if spurious && nothing_lost {
            let Some(u) = self.undo.take() else { return };
            self.cc = u.prior;
            if self.recovery.is_some() {
                self.recovery = None;
                self.dupacks = 0;
            }
            self.counters.spurious_undos += 1;
            stats.spurious_undos += 1;
        } else if expired {
            self.undo = None;
        }
    }
}
