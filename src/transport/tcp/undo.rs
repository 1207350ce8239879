//! Undoing a congestion response that turned out to be spurious.
//!
//! Reordering can make loss detection retransmit segments that were only
//! late, and a delay spike can make the retransmission timer expire
//! although nothing was lost; the congestion window was then cut for
//! nothing. The detectors here tell, after the fact, that an episode's
//! retransmissions were unnecessary:
//!
//! * **Eifel** (RFC 3522), with timestamps, for fast recovery and RTOs:
//!   the first ACK that covers the episode's first retransmission echoes
//!   the TSval of the segment that made the receiver send it. An echo
//!   older than the retransmission's TSval (`RetransmitTS`) means the
//!   original arrived (RFC 3522 3.2 step DET-3). Only the first such ACK
//!   counts; with a 1 ms timestamp clock a retransmission sent within the
//!   original's millisecond cannot be told apart and is never taken for
//!   spurious.
//! * **Minimum RTT**, without timestamps or SACK, for fast recovery and
//!   RTOs: an ACK covering the first retransmission that arrives sooner
//!   than the path's minimum RTT after it was sent cannot be the
//!   retransmission's (RFC 8985 6.2 step 2 reads RTT samples the same
//!   way); the original arrived. Tested on that first ACK only, as Eifel.
//! * **DSACK** (RFC 3708 3, as Linux's `undo_retrans`), for fast recovery:
//!   every segment retransmitted in the episode is counted, every DSACK
//!   block at or past the episode's start takes its segments off; when the
//!   count reaches zero each retransmission arrived twice, so none was
//!   needed. (Not applied to RTOs: their go-back-N retransmissions are
//!   left to F-RTO and Eifel.)
//! * **F-RTO** (RFC 5682), for RTOs, with or without timestamps
//!   ([`TcpConfig::frto`](super::TcpConfig::frto)). Step 1: the timeout
//!   retransmits the first unacknowledged segment (the cwnd is one
//!   segment). Step 2: the first ACK that advances SND.UNA without
//!   covering everything sent (RFC 5682's `recover`, kept as
//!   `Frto::NewData::recover` = SND.NXT at that ACK) does not let the
//!   go-back-N retransmissions go; new, never-sent data goes instead
//!   (2b), or, when there is none or the peer's window or Nagle holds
//!   it, the conventional recovery resumes. An ACK that covers everything
//!   ends F-RTO (2a); so does a duplicate ACK without SACK (basic
//!   algorithm, section 2), while with SACK duplicate ACKs only feed the
//!   scoreboard (section 3.1 step 2). Step 3: the timeout was spurious if
//!   the next ACKs acknowledge data that was never retransmitted and was
//!   sent before `recover` (3b). Without SACK that is SND.UNA moving past
//!   everything retransmitted. With SACK it is a cumulative or selective
//!   acknowledgment of such a segment in RACK's records (Linux's
//!   `FLAG_ORIG_SACK_ACKED`), and, as in Linux's `tcp_process_loss`, it
//!   counts from the first ACK after the timeout on — so a delay spike
//!   whose first ACK covers the whole window is caught too (the basic
//!   algorithm cannot: SACK-less ACKs do not tell data that arrived late
//!   from data that arrived out of order before the timeout). A
//!   duplicate ACK, or SACK blocks for the new data only, after the new
//!   data went out, mean the data before it was really lost (3a):
//!   conventional recovery resumes.
//!
//! F-RTO starts only on a timeout outside any recovery, or on a timeout
//! that recurs on the same SND.UNA after one where F-RTO started (the
//! episode and its snapshot are kept; RFC 5682 3.2, Linux
//! `tcp_enter_loss`). A timeout during fast recovery, a path MTU
//! recovery, or an RTO recovery that has made progress is neither
//! undoable nor F-RTO'd: its outstanding retransmissions could be taken
//! for originals.
//!
//! The response (RFC 4015 in spirit; RFC 9438 4.9 for CUBIC) restores the
//! congestion controller exactly as it was before the congestion event
//! (cwnd, ssthresh and CUBIC's `W_max`, `K` and epoch). After fast
//! recovery it leaves recovery if nothing else is marked lost and counts
//! `spurious_undos`; it is applied only while no other segment is marked
//! lost: a real loss in the same episode keeps the reduction. Without
//! SACK only the end of recovery says that — or the Eifel/minimum-RTT
//! proof itself on a partial ACK (Linux's `tcp_try_undo_partial`): the
//! late original filled the hole, and a real loss further on brings
//! DupThresh duplicate ACKs again. An undone recovery without SACK also
//! raises that DupThresh (`TcpConnection::reordering`, 3 at first) past
//! the most duplicate ACKs the episode saw, at most 300 (Linux's
//! `tcp_update_reordering` and `tcp_max_reordering`), so the same
//! reordering does not trigger it again. After an RTO (as Linux's
//! `tcp_try_undo_loss`) it ends the RTO recovery, takes RACK's "lost"
//! marks off the segments the timeout marked and that were not
//! retransmitted (RACK marks them again if a later delivery says so),
//! restores the NewReno `recover` point, clears the backoff, restarts
//! the timer at the plain RTO and counts `spurious_rto_undos`. RFC 4015's
//! RTO adaptation is left to the RTT samples the ACKs give.
//!
//! An episode's undo state is kept until data sent after recovery ended
//! is acknowledged (late DSACKs arrive before that), or until the next
//! congestion event.

use super::congestion::CongestionControl;
use super::connection::{RecoveryKind, TcpConnection};
use super::TcpStats;
use crate::time::Instant;
use crate::wire::tcp::TcpSeqNumber as Seq;

/// What an episode's reduction came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UndoKind {
    /// Fast recovery (RACK or duplicate ACKs).
    Fast,
    /// A retransmission timeout.
    Rto,
}

/// F-RTO's progress through an RTO episode (RFC 5682 2, 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frto {
    /// Not running: conventional RTO recovery (or not an RTO episode).
    Off,
    /// Step 1 done: waiting for the first ACK that advances SND.UNA.
    AwaitAdvance {
        /// SND.NXT at the timeout.
        recover: Seq,
    },
    /// Step 2b: new data goes instead of retransmissions; step 3 waits
    /// for the next ACKs.
    NewData {
        /// RFC 5682 `recover`: SND.NXT when step 2 ran.
        recover: Seq,
        /// Without SACK: everything below was (or may have been)
        /// retransmitted (HighRxt at step 2).
        rtx_end: Seq,
    },
}

/// What an episode needs to be undone.
#[derive(Debug)]
pub(crate) struct Undo {
    kind: UndoKind,
    /// The congestion controller as it was before the event.
    prior: Box<dyn CongestionControl>,
    /// The NewReno recovery point (RFC 6582 `recover`) before the event.
    prior_recover: Seq,
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
    /// Without timestamps or SACK: the first retransmission's sequence
    /// number and send time, until the first ACK covering it has been
    /// looked at.
    rtx_at: Option<(Seq, Instant)>,
    /// SND.NXT when recovery ended; the state is dropped once this is
    /// acknowledged.
    horizon: Option<Seq>,
    /// F-RTO's state (RTO episodes only).
    frto: Frto,
    /// Without SACK: the most duplicate ACKs seen in the episode (how
    /// many segments arrived past the hole: the reordering degree if the
    /// episode was spurious).
    peak_dupacks: u32,
}

/// What one ACK told, for the undo detectors (gathered by `process_ack`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AckFacts {
    /// SEG.ACK.
    pub(crate) ack: Seq,
    /// SND.UNA advanced.
    pub(crate) advanced: bool,
    /// A duplicate ACK (RFC 5681 2; with SACK, RFC 6675 new SACK info).
    pub(crate) dupack: bool,
    /// The SACK blocks added SACKed octets.
    pub(crate) sack_new: bool,
    /// The DSACK block, if any.
    pub(crate) dsack: Option<(Seq, Seq)>,
    /// TSecr, with timestamps.
    pub(crate) tsecr: Option<u32>,
    /// With SACK: the lowest end of the never-retransmitted segments this
    /// ACK delivered (cumulatively or selectively), from RACK's records.
    pub(crate) orig_end: Option<Seq>,
}

impl TcpConnection {
    /// A congestion event is about to reduce the window: remember the
    /// controller as it is (called before the reduction).
    pub(crate) fn undo_begin(&mut self, kind: UndoKind) {
        self.undo = Some(Undo {
            kind,
            prior: self.cc.boxed_clone(),
            prior_recover: self.last_recover,
            marker: self.snd_una,
            retrans: 0,
            any_retransmitted: false,
            eifel: None,
            rtx_at: None,
            horizon: None,
            frto: Frto::Off,
            peak_dupacks: self.dupacks,
        });
    }

    /// The retransmission timer expired with data outstanding; called
    /// before the controller reduces the window, `retries` already counts
    /// this timeout and `recovery` is still the one it interrupts. Opens
    /// an undoable RTO episode and starts F-RTO when `frto` allows.
    pub(crate) fn undo_on_rto(&mut self, frto: bool) {
        let fresh = self.recovery.is_none();
        // RFC 5682 3.2 / Linux `tcp_enter_loss`: a timeout that recurs
        // before anything new was acknowledged keeps the episode (and the
        // snapshot from before the first one).
        let recurring = self.retries > 1
            && self.recovery.is_some_and(|r| r.kind == RecoveryKind::Rto)
            && self
                .undo
                .as_ref()
                .is_some_and(|u| u.kind == UndoKind::Rto && u.horizon.is_none());
        if fresh {
            self.undo_begin(UndoKind::Rto);
        } else if !recurring {
            // RFC 5682 2 step 1: not during another recovery, whose
            // retransmissions could be taken for originals.
            self.undo = None;
            return;
        }
        if let Some(u) = &mut self.undo {
            // RFC 5682 2 / 3.1 step 1: the timeout retransmits the first
            // unacknowledged segment (cwnd is one segment); wait for the
            // first ACK that advances the window.
            u.frto = if frto {
                Frto::AwaitAdvance {
                    recover: self.snd_nxt,
                }
            } else {
                Frto::Off
            };
        }
    }

    /// F-RTO step 2b is under way: `Some(recover)` while the send path
    /// must send new data instead of retransmissions.
    #[inline]
    pub(crate) fn frto_recover(&self) -> Option<Seq> {
        match &self.undo {
            Some(Undo {
                frto: Frto::NewData { recover, .. },
                ..
            }) => Some(*recover),
            _ => None,
        }
    }

    /// RFC 5682 2 step 2b: the sender could not send any new data (none
    /// queued, or the window or Nagle held it): continue with the
    /// conventional recovery.
    pub(crate) fn frto_fall_back(&mut self) {
        if let Some(u) = &mut self.undo {
            u.frto = Frto::Off;
        }
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
            // SACK connections have DSACK instead.
            u.rtx_at = (tsval.is_none() && !self.sack_enabled).then_some((start, now));
        }
    }

    /// Recovery ended with SND.NXT at `snd_nxt`.
    pub(crate) fn undo_recovery_ended(&mut self) {
        let snd_nxt = self.snd_nxt;
        if let Some(u) = &mut self.undo {
            u.horizon.get_or_insert(snd_nxt);
        }
    }

    /// Another reduction: the episode can no longer be undone.
    pub(crate) fn undo_cancel(&mut self) {
        self.undo = None;
    }

    /// Whether new data could go now (RFC 5682 2 step 2b: queued and
    /// within the peer's window).
    fn new_data_sendable(&self) -> bool {
        let end = match self.fin_seq() {
            Some(f) => f + 1,
            None => self.tx_seq() + self.tx.len(),
        };
        let wnd_end = self.snd_una + self.snd_wnd;
        end > self.snd_nxt && wnd_end > self.snd_nxt
    }

    /// F-RTO steps 2 and 3 on one ACK (after it was processed); returns
    /// whether it proved the timeout spurious.
    fn frto_on_ack(&mut self, a: &AckFacts) -> bool {
        let Some(u) = &self.undo else { return false };
        let in_rto = self.recovery.is_some_and(|r| r.kind == RecoveryKind::Rto);
        let next = match u.frto {
            Frto::Off => return false,
            Frto::AwaitAdvance { recover }
                if self.sack_enabled && a.orig_end.is_some_and(|e| e <= recover) =>
            {
                // RFC 5682 3.1 step 3b's test, applied from step 2 on as
                // Linux's `tcp_process_loss` does: data sent before the
                // timeout and never retransmitted was (s)acked, so not all
                // of it was lost — even when this first ACK covers
                // everything (step 2a would give up).
                return true;
            }
            Frto::AwaitAdvance { .. } if !a.advanced => {
                if a.dupack && !self.sack_enabled {
                    // RFC 5682 2 step 2a: a duplicate ACK.
                    Frto::Off
                } else {
                    // RFC 5682 3.1 step 2: duplicate ACKs before the
                    // retransmission is acknowledged only update the
                    // scoreboard.
                    u.frto
                }
            }
            // RFC 5682 2 / 3.1 step 2a: the ACK covers `recover` (the RTO
            // recovery ended on it): conventional from here.
            Frto::AwaitAdvance { .. } if !in_rto => Frto::Off,
            Frto::AwaitAdvance { .. } => {
                if self.new_data_sendable() {
                    // Step 2b: new data next (see `send.rs`).
                    Frto::NewData {
                        recover: self.snd_nxt,
                        rtx_end: self.recovery.map_or(a.ack, |r| r.high_rxt.max(a.ack)),
                    }
                } else {
                    // Step 2b: nothing new can go: conventional recovery.
                    Frto::Off
                }
            }
            Frto::NewData { recover, rtx_end } => {
                // Step 3b: never-retransmitted data sent before the
                // timeout got there, so not everything was lost.
                let orig = if self.sack_enabled {
                    a.orig_end.is_some_and(|e| e <= recover)
                } else {
                    a.advanced && a.ack > rtx_end
                };
                if orig {
                    return true;
                }
                // Without SACK, any ACK that leaves SND.UNA where it was
                // once the new data is out counts as the duplicate ACK of
                // step 3a: one that also moves the window edge (the
                // application read) is no duplicate by RFC 5681's
                // definition, and waiting for one that is can cost a
                // second, backed-off timeout when it was the only ACK.
                let hole_stays = a.dupack || a.sack_new || (!self.sack_enabled && !a.advanced);
                if !in_rto || (self.snd_nxt > recover && hole_stays) {
                    // Step 3a: the new data arrived but what was sent
                    // before it did not (or recovery is over): the loss
                    // was real; conventional recovery.
                    Frto::Off
                } else {
                    u.frto
                }
            }
        };
        if let Some(u) = &mut self.undo {
            u.frto = next;
        }
        false
    }

    /// Look at an ACK for proof that the episode was spurious, and undo
    /// it if so. Called after the ACK was processed.
    pub(crate) fn undo_on_ack(&mut self, a: &AckFacts, now: Instant, stats: &mut TcpStats) {
        let (dupacks, min_rtt) = (self.dupacks, self.rack.min_rtt());
        let Some(u) = &mut self.undo else { return };
        u.peak_dupacks = u.peak_dupacks.max(dupacks);
        let mut spurious = false;
        // Eifel's or the minimum RTT's proof that the first retransmission
        // was not needed (it also ends a no-SACK recovery, below).
        let mut proven = false;
        if let Some((first, rts)) = u.eifel {
            if a.ack > first {
                // RFC 3522 3.2: only the first ACK acknowledging the
                // retransmitted octet is tested.
                u.eifel = None;
                if let Some(ecr) = a.tsecr {
                    // DET-3: TSecr < RetransmitTS (modulo 2^32).
                    proven = (ecr.wrapping_sub(rts) as i32) < 0;
                    spurious |= proven;
                }
            }
        }
        if let Some((first, at)) = u.rtx_at {
            if a.ack > first {
                // Without timestamps or SACK: an ACK covering the
                // retransmission sooner than the path's minimum RTT after
                // it was sent cannot be the retransmission's; the original
                // arrived (RFC 8985 6.2 step 2 reads RTT samples so).
                u.rtx_at = None;
                proven = min_rtt.is_some_and(|m| now.saturating_duration_since(at) < m);
                spurious |= proven;
            }
        }
        if u.kind == UndoKind::Rto {
            spurious = spurious || self.frto_on_ack(a);
            if spurious {
                self.undo_rto(now, stats);
            } else if self
                .undo
                .as_ref()
                .is_some_and(|u| u.horizon.is_some_and(|h| a.ack > h))
            {
                self.undo = None;
            }
            return;
        }
        if let Some((s, e)) = a.dsack {
            // RFC 3708 3: a DSACK for data of this episode reports one of
            // its retransmissions arriving twice.
            if e > u.marker && u.retrans > 0 {
                let mss = self.mss.max(1);
                let segs = (e.wrapping_sub(s).max(0) as usize).div_ceil(mss) as u64;
                u.retrans = u.retrans.saturating_sub(segs.max(1));
                spurious |= u.retrans == 0 && u.any_retransmitted;
            }
        }
        let expired = u.horizon.is_some_and(|h| a.ack > h);
        // With SACK, RACK knows whether anything else is lost; without it
        // (NewReno's partial ACKs), only the end of recovery says so.
        // Without SACK, Eifel's proof on a partial ACK is taken too (as
        // Linux's `tcp_try_undo_partial`): the late original filled the
        // hole; a real loss further on brings DupThresh duplicates again.
        let nothing_lost = if self.sack_enabled {
            !self.rack.has_lost()
        } else {
            self.recovery.is_none() || proven
        };
        if spurious && nothing_lost {
            let Some(u) = self.undo.take() else { return };
            self.cc = u.prior;
            if self.recovery.is_some() {
                self.recovery = None;
                self.dupacks = 0;
            }
            if !self.sack_enabled {
                // The reordering was deeper than DupThresh: wait for more
                // duplicates next time (Linux `tcp_update_reordering`,
                // bounded as its `tcp_max_reordering`).
                self.reordering = self.reordering.max(u.peak_dupacks + 1).min(300);
            }
            self.counters.spurious_undos += 1;
            stats.spurious_undos += 1;
        } else if expired {
            self.undo = None;
        }
    }

    /// The response to a spurious timeout (RFC 4015 3 in spirit, as
    /// Linux's `tcp_try_undo_loss`): the controller as before the
    /// timeout, out of the RTO recovery, no go-back-N.
    fn undo_rto(&mut self, now: Instant, stats: &mut TcpStats) {
        let Some(u) = self.undo.take() else { return };
        self.cc = u.prior;
        self.last_recover = u.prior_recover;
        if self.recovery.is_some_and(|r| r.kind == RecoveryKind::Rto) {
            self.recovery = None;
            self.dupacks = 0;
        }
        if self.sack_enabled {
            // What the timeout marked lost and was never resent is in
            // flight after all (RACK marks it again if it is not).
            self.rack.unmark_lost();
        }
        // The backoff was for nothing (RFC 6298 5.5 backs off on a real
        // timeout); the timer restarts at the plain RTO.
        self.rtt.reset_backoff();
        self.retries = 0;
        self.first_rtx = None;
        self.rtx_deadline = (self.flight() > 0).then(|| now + self.rtt.rto());
        self.arm_pto(now);
        self.counters.spurious_rto_undos += 1;
        stats.spurious_rto_undos += 1;
    }
}
