//! Connection timers (RFC 9293 3.8, RFC 6298 5, RFC 1122 4.2.3).
//!
//! Each connection keeps absolute deadlines: retransmission (RFC 6298),
//! RACK's reordering timer and the tail loss probe (RFC 8985 6.3, 7.2),
//! persist (zero-window probing, RFC 9293 3.8.6.1), delayed ACK
//! (RFC 9293 3.8.6.3), keepalive (RFC 9293 3.8.4, off by default), the
//! release of idle buffer memory (`buffers.rs`) and the close timer
//! (TIME-WAIT's 2 MSL, or an orphan's FIN-WAIT-2 timeout). The stack keeps
//! a heap of the earliest deadline per connection, so a poll only touches
//! connections whose timers are due.

use super::connection::{Recovery, RecoveryKind, TcpConnection};
use super::{TcpConfig, TcpError, TcpState, TcpStats};
use crate::time::Instant;

impl TcpConnection {
    /// The earliest deadline, if any timer runs.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [
            self.rtx_deadline,
            self.rack_deadline,
            self.pto_deadline,
            self.persist_deadline,
            self.ack_deadline,
            self.keepalive_deadline,
            self.close_deadline,
            self.buffer_release_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Run the timers that are due at `now`.
    pub(crate) fn on_timers(&mut self, now: Instant, cfg: &TcpConfig, stats: &mut TcpStats) {
        if self.close_deadline.is_some_and(|d| d <= now) {
            // TIME-WAIT over (RFC 9293 3.10.7.4), or an orphan's FIN-WAIT-2
            // timed out.
            self.enter_closed();
            return;
        }
        if self.ack_deadline.is_some_and(|d| d <= now) {
            self.ack_deadline = None;
            self.ack_now = true;
        }
        if self.rack_deadline.is_some_and(|d| d <= now) {
            // RFC 8985 6.3: the reordering timer runs RACK's loss
            // detection again.
            self.rack_deadline = None;
            self.rack_detect_loss(now, stats);
        }
        if self.pto_deadline.is_some_and(|d| d <= now) {
            // RFC 8985 7.3: send a loss probe; it re-arms the RTO, so an
            // RTO due at the same instant waits.
            self.pto_deadline = None;
            if self.flight() > 0 && self.recovery.is_none() && self.rack.tlp.is_none() {
                self.tlp_needed = true;
                self.rtx_deadline = Some(now + self.rtt.rto());
            }
        }
        if self.rtx_deadline.is_some_and(|d| d <= now) {
            self.on_rto(now, cfg, stats);
            if self.state == TcpState::Closed {
                return;
            }
        }
        if self.persist_deadline.is_some_and(|d| d <= now) {
            // RFC 9293 3.8.6.1: probe, and back off exponentially.
            self.probes_out += 1;
            if self.probes_out > cfg.max_retries {
                stats.timeouts_aborted += 1;
                return self.fail(TcpError::TimedOut);
            }
            self.probe_needed = true;
            self.persist_backoff = (self.persist_backoff + 1).min(16);
            let wait = (self.rtt.rto() * (1u32 << self.persist_backoff)).min(cfg.max_rto);
            self.persist_deadline = Some(now + wait);
        }
        self.release_idle_buffers(now, stats);
        if self.keepalive_deadline.is_some_and(|d| d <= now) {
            let k = self.keepalive.unwrap_or_default();
            if self.state != TcpState::Established {
                self.keepalive_deadline = None;
            } else if self.probes_out >= k.count {
                // RFC 1122 4.2.3.6: the peer is gone.
                stats.timeouts_aborted += 1;
                self.fail(TcpError::TimedOut);
            } else {
                self.probes_out += 1;
                self.probe_needed = true;
                self.keepalive_deadline = Some(now + k.interval);
            }
        }
    }

    /// The retransmission timer expired (RFC 6298 5.4-5.7, RFC 5681 3.1).
    fn on_rto(&mut self, now: Instant, cfg: &TcpConfig, stats: &mut TcpStats) {
        self.rtx_deadline = None;
        let outstanding =
            self.flight() > 0 || matches!(self.state, TcpState::SynSent | TcpState::SynReceived);
        if !outstanding {
            return;
        }
        self.counters.timeouts += 1;
        stats.timeouts += 1;
        let first_rtx = *self.first_rtx.get_or_insert(now);
        self.retries += 1;
        let limit = match self.state {
            TcpState::SynSent | TcpState::SynReceived => cfg.syn_retries,
            _ => cfg.max_retries,
        };
        // RFC 9293 3.8.3 R2 (retry count) and the user timeout
        // (RFC 9293 3.10.2 / RFC 5482): give up.
        let user_timeout = cfg
            .user_timeout
            .is_some_and(|u| now.saturating_duration_since(first_rtx) >= u);
        if self.retries > limit || user_timeout {
            stats.timeouts_aborted += 1;
            return self.fail(TcpError::TimedOut);
        }
        // RFC 6298 5.5: back off.
        self.rtt.back_off();
        match self.state {
            TcpState::SynSent | TcpState::SynReceived => {
                self.syn_needed = true;
            }
            _ => {
                let first = self.recovery.is_none_or(|r| r.kind != RecoveryKind::Rto);
                // Before the reduction: the controller is kept for an
                // undo, and F-RTO (RFC 5682) starts if it may (undo.rs).
                self.undo_on_rto(cfg.frto);
                self.cc.on_rto(self.flight(), self.mss, first);
                // Everything outstanding is presumed lost; go back to
                // SND.UNA (RFC 5681 3.1, RFC 6675 5.1), skipping what was
                // SACKed.
                self.recovery = Some(Recovery::new(
                    RecoveryKind::Rto,
                    self.snd_una,
                    self.snd_nxt,
                    self.snd_nxt,
                ));
                self.last_recover = self.snd_nxt;
                self.dupacks = 0;
                // RFC 8985 6.3: after an RTO every segment not SACKed is
                // lost; RACK goes on detecting lost retransmissions.
                if self.sack_enabled {
                    self.rack.mark_all_lost();
                }
                self.rack_deadline = None;
                self.pto_deadline = None;
                self.rack.tlp = None;
            }
        }
    }

    /// The path MTU dropped to `mtu` (RFC 1191 6.2, RFC 8201 4): lower the
    /// MSS and resend what is outstanding at the new size, without treating
    /// it as congestion.
    pub(crate) fn path_mtu_dropped(&mut self, mtu: usize) -> bool {
        let floor = if self.remote.is_ipv4() { 576 } else { 1280 };
        // RFC 1191 / RFC 8201: never below the minimum the IP version
        // guarantees (an ICMP claiming less is ignored as bogus).
        let mtu = mtu.max(floor.min(self.pmtu));
        if mtu >= self.pmtu {
            return false;
        }
        self.pmtu = mtu;
        self.update_mss();
        if self.flight() > 0 && self.recovery.is_none() {
            self.recovery = Some(Recovery::new(
                RecoveryKind::Pmtu,
                self.snd_una,
                self.snd_nxt,
                self.snd_nxt,
            ));
            if self.sack_enabled {
                self.rack.mark_all_lost();
            }
        }
        true
    }
}
