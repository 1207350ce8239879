//! One TCP connection: its state machine and the receive path
//! (RFC 9293 3.3.2 states, 3.10.7 SEGMENT ARRIVES).
//!
//! * RFC 9293 3.10.7.3 SYN-SENT, 3.10.7.4 the synchronized states: the
//!   sequence acceptability test, RST, SYN, ACK, text and FIN processing in
//!   the RFC's order.
//! * RFC 5961: RST and SYN in a synchronized state get a challenge ACK
//!   unless the RST is exactly at RCV.NXT (3.2, 4.2); the ACK acceptability
//!   range (5.2). Challenge ACKs are rate limited per connection.
//! * RFC 7323: window scaling (2), timestamps with PAWS (5) and the
//!   TS.Recent rule (4.3).
//! * RFC 2018: SACK-Permitted negotiation; received SACK blocks feed the
//!   scoreboard (`super::sack`).
//! * RFC 5681 / RFC 6582 / RFC 6675: duplicate ACK counting, entering and
//!   leaving loss recovery (the segments themselves go out in
//!   `super::send`).
//!
//! Nothing here panics on what a peer sends: every field is range-checked
//! with wrapping sequence arithmetic, and a bad segment is dropped and
//! counted.

use std::net::SocketAddr;

use super::congestion::{initial_window, new_controller, CongestionControl};
use super::rack::{Delivered, Rack, TlpEpisode};
use super::recv::Assembler;
use super::ring::RingBuffer;
use super::rtt::RttEstimator;
use super::sack::{Scoreboard, DUP_THRESH};
use super::undo::{AckFacts, Undo, UndoKind};
use super::{TcpConfig, TcpError, TcpState, TcpStats};
use crate::network::output::OutRoute;
use crate::time::{Duration, Instant};
use crate::transport::Handle;
use crate::wire::tcp::{TcpControl, TcpRepr, TcpSeqNumber as Seq};

/// The send queue holds this many congestion windows (unacknowledged data
/// included) before the application must wait; Linux's
/// `tcp_sndbuf_expand` budgets about twice the window in skb memory, which
/// is two to five windows of payload depending on segment sizes.
pub(crate) const SEND_QUEUE_CWNDS: usize = 4;

/// The send queue's smallest limit, bytes.
pub(crate) const SEND_QUEUE_MIN: usize = 64 * 1024;

/// Most DSACK blocks held for separate ACKs within one poll (see
/// `TcpConnection::note_duplicate`).
pub(crate) const DSACK_BACKLOG: usize = 8;

/// Keepalive settings (RFC 9293 3.8.4, RFC 1122 4.2.3.6; Linux's
/// `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (RFC 1122: at least two hours by
    /// default).
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is aborted.
    pub count: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            count: 9,
        }
    }
}

/// What kind of loss recovery is under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecoveryKind {
    /// Fast retransmit / fast recovery (RFC 5681 3.2, RFC 6582, RFC 6675).
    Fast,
    /// After a retransmission timeout: everything outstanding is lost.
    Rto,
    /// The path MTU dropped: resend what was too big, cwnd unchanged.
    Pmtu,
}

/// Loss recovery state (RFC 6675 `RecoveryPoint`, `HighRxt`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recovery {
    /// RecoveryPoint: SND.NXT when recovery began; it ends when this is
    /// cumulatively acknowledged.
    pub(crate) recover: Seq,
    /// HighRxt: everything below was retransmitted (or SACKed).
    pub(crate) high_rxt: Seq,
    /// Every unSACKed octet below this is considered lost.
    pub(crate) lost_limit: Seq,
    pub(crate) kind: RecoveryKind,
    /// The first retransmission goes regardless of the pipe (RFC 5681 3.2
    /// step 3, RFC 6675 5 (4.3)).
    pub(crate) force: bool,
    /// RFC 6937 `prr_delivered`, `prr_out` and `RecoverFS`, and the bytes
    /// PRR lets go on the current ACK (`sndcnt`, less what was sent).
    pub(crate) prr_delivered: usize,
    pub(crate) prr_out: usize,
    pub(crate) recover_fs: usize,
    pub(crate) prr_quota: usize,
}

impl Recovery {
    /// Recovery from `snd_una` up to the recovery point `snd_nxt`.
    pub(crate) fn new(kind: RecoveryKind, snd_una: Seq, snd_nxt: Seq, lost_limit: Seq) -> Self {
        Recovery {
            recover: snd_nxt,
            high_rxt: snd_una,
            lost_limit,
            kind,
            force: true,
            prr_delivered: 0,
            prr_out: 0,
            recover_fs: snd_nxt.wrapping_sub(snd_una).max(0) as usize,
            prr_quota: 0,
        }
    }
}

/// What the stack must do after a segment was processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing beyond the connection's own output.
    Done,
    /// Answer with a reset as a CLOSED port would (RFC 9293 3.10.7.1).
    Reset,
    /// A new SYN for this TIME-WAIT connection is acceptable: remove it and
    /// give the SYN to the listener (RFC 9293 3.10.7.4, RFC 6191).
    Reopen,
}

/// Per-connection counters (TCP_INFO).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnCounters {
    pub(crate) segs_in: u64,
    pub(crate) segs_out: u64,
    pub(crate) retransmits: u64,
    pub(crate) fast_retransmits: u64,
    pub(crate) timeouts: u64,
    pub(crate) bytes_acked: u64,
    pub(crate) bytes_received: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) dup_acks_in: u64,
    pub(crate) ooo_dropped: u64,
    pub(crate) tlp_probes: u64,
    pub(crate) tlp_recoveries: u64,
    pub(crate) spurious_undos: u64,
    pub(crate) spurious_rto_undos: u64,
    pub(crate) rack_losses: u64,
}

/// One connection (RFC 9293 3.3.1 Transmission Control Block).
#[derive(Debug)]
pub(crate) struct TcpConnection {
    pub(crate) state: TcpState,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) route: OutRoute,
    /// The listener of a passive open, until the application accepts it.
    pub(crate) parent: Option<Handle>,
    /// Moved to the parent's accept queue.
    pub(crate) in_accept_queue: bool,
    /// Whether this side sent the first SYN.
    pub(crate) active: bool,
    /// The application gave up its handle (`tcp_close`).
    pub(crate) orphan: bool,
    /// Still registered in the demux.
    pub(crate) registered: bool,
    pub(crate) error: Option<TcpError>,

    // Send sequence space (RFC 9293 3.3.1).
    pub(crate) iss: Seq,
    pub(crate) snd_una: Seq,
    pub(crate) snd_nxt: Seq,
    pub(crate) snd_wnd: usize,
    pub(crate) snd_wl1: Seq,
    pub(crate) snd_wl2: Seq,
    /// Largest window the peer offered (RFC 5961 5.2 MAX.SND.WND).
    pub(crate) max_snd_wnd: usize,
    pub(crate) tx: RingBuffer,
    /// How much the application may queue in `tx` (auto-tuned, see
    /// [`TcpConnection::send_space`]); only grows.
    snd_limit: usize,
    /// The application shut down the write side: a FIN follows the data.
    pub(crate) fin_queued: bool,
    /// The FIN's sequence number, fixed when it was queued.
    fin_at: Seq,

    // Receive sequence space.
    pub(crate) irs: Seq,
    pub(crate) rcv_nxt: Seq,
    pub(crate) rx: RingBuffer,
    pub(crate) ooo: Assembler,
    /// Right edge of the last window advertised (never moves left,
    /// RFC 9293 3.8.6.2.2).
    pub(crate) rcv_adv: Seq,
    /// A FIN that arrived beyond RCV.NXT.
    pub(crate) pending_fin: Option<Seq>,
    /// The peer's FIN was accepted.
    pub(crate) fin_received: bool,

    // Options.
    /// Payload bytes per segment (send MSS minus fixed options).
    pub(crate) mss: usize,
    /// The MSS we advertise (from the route MTU, RFC 9293 3.7.1).
    pub(crate) our_mss: u16,
    pub(crate) peer_mss: u16,
    /// Path MTU, lowered by ICMP (RFC 1191, RFC 8201).
    pub(crate) pmtu: usize,
    pub(crate) snd_wscale: u8,
    pub(crate) rcv_wscale: u8,
    pub(crate) ts_enabled: bool,
    pub(crate) ts_recent: u32,
    pub(crate) ts_recent_age: Instant,
    pub(crate) ts_offset: u32,
    pub(crate) last_ack_sent: Seq,
    pub(crate) sack_enabled: bool,
    /// What we offer in our SYN (RFC 7323 1.3, RFC 2018 2).
    pub(crate) ts_wanted: bool,
    pub(crate) ws_wanted: bool,
    pub(crate) sack_wanted: bool,
    /// The peer's SYN carried Window Scale (so our SYN-ACK may).
    pub(crate) peer_sent_ws: bool,
    pub(crate) scoreboard: Scoreboard,
    /// RACK-TLP state (RFC 8985), used when SACK is on.
    pub(crate) rack: Rack,
    /// A DSACK block (RFC 2883) to report first in the next ACK.
    pub(crate) dsack: Option<(Seq, Seq)>,
    /// Older DSACK blocks of this poll, each owed its own ACK (at most
    /// [`DSACK_BACKLOG`]; empty, and unallocated, unless duplicates that
    /// do not touch arrive in one batch).
    pub(crate) dsack_backlog: Vec<(Seq, Seq)>,
    /// Without SACK: out-of-order segments received in this poll, each
    /// owed a duplicate ACK (RFC 5681 4.2).
    pub(crate) dupacks_owed: u32,
    /// Without SACK: duplicate ACKs that start fast retransmit (RFC 5681
    /// DupThresh, 3), raised when reordering proves deeper (Linux
    /// `tp->reordering`).
    pub(crate) reordering: u32,
    /// The open fast-recovery or timeout episode's undo state (see
    /// `undo.rs`).
    pub(crate) undo: Option<Undo>,
    pub(crate) nagle: bool,

    // Timers (RFC 6298 and RFC 9293 3.8).
    pub(crate) rtt: RttEstimator,
    pub(crate) rtx_deadline: Option<Instant>,
    /// RACK reordering timer (RFC 8985 6.3).
    pub(crate) rack_deadline: Option<Instant>,
    /// Tail loss probe timer (RFC 8985 7.2).
    pub(crate) pto_deadline: Option<Instant>,
    /// The PTO fired: send a probe (RFC 8985 7.3).
    pub(crate) tlp_needed: bool,
    /// Consecutive retransmission timeouts.
    pub(crate) retries: u32,
    /// When the oldest unacknowledged retransmission started (user timeout).
    pub(crate) first_rtx: Option<Instant>,
    pub(crate) persist_deadline: Option<Instant>,
    pub(crate) persist_backoff: u32,
    pub(crate) ack_deadline: Option<Instant>,
    pub(crate) keepalive: Option<Keepalive>,
    pub(crate) keepalive_deadline: Option<Instant>,
    /// Since when the send / receive ring has been empty with memory
    /// behind it (see `buffers.rs`).
    pub(crate) tx_idle_since: Option<Instant>,
    pub(crate) rx_idle_since: Option<Instant>,
    /// [`TcpConfig::buffer_idle_release`] when the connection was made.
    pub(crate) buffer_idle_release: Option<Duration>,
    /// Unanswered zero-window or keepalive probes.
    pub(crate) probes_out: u32,
    /// TIME-WAIT expiry, or the FIN-WAIT-2 timeout of an orphan.
    pub(crate) close_deadline: Option<Instant>,
    pub(crate) last_rx: Instant,
    pub(crate) last_tx: Instant,
    /// Earliest deadline currently queued in the stack's timer heap.
    pub(crate) scheduled: Option<Instant>,
    /// Waiting in the stack's dirty list.
    pub(crate) dirty: bool,

    // Output requests.
    pub(crate) ack_now: bool,
    pub(crate) syn_needed: bool,
    pub(crate) probe_needed: bool,
    pub(crate) rst_needed: bool,
    /// Full-sized segments received since the last ACK we sent.
    pub(crate) segs_unacked: usize,

    // Loss recovery and congestion control.
    pub(crate) cc: Box<dyn CongestionControl>,
    pub(crate) dupacks: u32,
    pub(crate) recovery: Option<Recovery>,
    /// RFC 6582 `recover`: no new fast recovery until SND.UNA passes it.
    pub(crate) last_recover: Seq,

    // Challenge ACK rate limit (RFC 5961 7).
    challenge_window: Instant,
    challenge_count: u32,

    pub(crate) counters: ConnCounters,
}

/// The default MSS when the peer sends none (RFC 9293 3.7.1, RFC 8200 5).
fn default_peer_mss(v6: bool) -> u16 {
    if v6 {
        1220
    } else {
        536
    }
}

/// Timestamp value comparison modulo 2^32 (RFC 7323 5.2).
#[inline]
pub(crate) fn ts_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl TcpConnection {
    /// A connection in CLOSED state for `local` ↔ `remote` over `route`,
    /// with buffers and timers from `cfg`; `link_mtu` bounds the MSS.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        local: SocketAddr,
        remote: SocketAddr,
        route: OutRoute,
        link_mtu: usize,
        iss: Seq,
        ts_offset: u32,
        cfg: &TcpConfig,
        now: Instant,
    ) -> TcpConnection {
        let ip_hdr = if remote.is_ipv4() { 20 } else { 40 };
        let our_mss = link_mtu.saturating_sub(ip_hdr + 20).clamp(64, 65495) as u16;
        let mut rcv_wscale = 0u8;
        if cfg.window_scaling {
            // RFC 7323 2.3: the smallest shift that lets the window cover
            // the buffer.
            while rcv_wscale < 14 && (cfg.recv_buffer >> rcv_wscale) > 65535 {
                rcv_wscale += 1;
            }
        }
        TcpConnection {
            state: TcpState::Closed,
            local,
            remote,
            route,
            parent: None,
            in_accept_queue: false,
            active: false,
            orphan: false,
            registered: false,
            error: None,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_wnd: 0,
            snd_wl1: Seq(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            tx: RingBuffer::new(cfg.send_buffer),
            snd_limit: 0,
            fin_queued: false,
            fin_at: Seq(0),
            irs: Seq(0),
            rcv_nxt: Seq(0),
            rx: RingBuffer::new(cfg.recv_buffer),
            ooo: Assembler::default(),
            rcv_adv: Seq(0),
            pending_fin: None,
            fin_received: false,
            mss: usize::from(default_peer_mss(remote.is_ipv6())),
            our_mss,
            peer_mss: default_peer_mss(remote.is_ipv6()),
            pmtu: link_mtu,
            snd_wscale: 0,
            rcv_wscale,
            ts_enabled: false,
            ts_recent: 0,
            ts_recent_age: now,
            ts_offset,
            last_ack_sent: Seq(0),
            sack_enabled: false,
            ts_wanted: cfg.timestamps,
            ws_wanted: cfg.window_scaling,
            sack_wanted: cfg.sack,
            peer_sent_ws: false,
            scoreboard: Scoreboard::default(),
            rack: Rack::new(),
            dsack: None,
            dsack_backlog: Vec::new(),
            dupacks_owed: 0,
            reordering: DUP_THRESH as u32,
            undo: None,
            nagle: cfg.nagle,
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            rtx_deadline: None,
            rack_deadline: None,
            pto_deadline: None,
            tlp_needed: false,
            retries: 0,
            first_rtx: None,
            persist_deadline: None,
            persist_backoff: 0,
            ack_deadline: None,
            keepalive: cfg.keepalive,
            keepalive_deadline: None,
            tx_idle_since: None,
            rx_idle_since: None,
            buffer_idle_release: cfg.buffer_idle_release,
            probes_out: 0,
            close_deadline: None,
            last_rx: now,
            last_tx: now,
            scheduled: None,
            dirty: false,
            ack_now: false,
            syn_needed: false,
            probe_needed: false,
            rst_needed: false,
            segs_unacked: 0,
            cc: new_controller(cfg.congestion, usize::from(our_mss)),
            dupacks: 0,
            recovery: None,
            last_recover: iss,
            challenge_window: now,
            challenge_count: 0,
            counters: ConnCounters::default(),
        }
    }

    /// Active OPEN (RFC 9293 3.10.1): send a SYN, enter SYN-SENT.
    pub(crate) fn open_active(&mut self, now: Instant) {
        self.active = true;
        self.state = TcpState::SynSent;
        self.syn_needed = true;
        self.snd_nxt = self.iss;
        self.snd_una = self.iss;
        self.last_rx = now;
    }

    /// Passive open from a listener (RFC 9293 3.10.7.2): take the SYN's
    /// options, enter SYN-RECEIVED and send a SYN-ACK.
    pub(crate) fn open_passive(&mut self, syn: &TcpRepr, cfg: &TcpConfig, now: Instant) {
        self.state = TcpState::SynReceived;
        self.irs = syn.seq_number;
        self.rcv_nxt = syn.seq_number + 1;
        self.rcv_adv = self.rcv_nxt;
        self.negotiate(syn, cfg, now);
        // RFC 7323 2.2: the window of a SYN is never scaled.
        self.snd_wnd = usize::from(syn.window_len);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = syn.seq_number;
        self.syn_needed = true;
        self.last_rx = now;
    }

    /// Apply the options of the peer's SYN (RFC 9293 3.7.1, RFC 7323 1.3,
    /// RFC 2018 2).
    pub(crate) fn negotiate(&mut self, syn: &TcpRepr, cfg: &TcpConfig, now: Instant) {
        // RFC 7323 2.2: scaling is in effect only if both sides sent the
        // option.
        self.peer_sent_ws = cfg.window_scaling && syn.window_scale.is_some();
        match (cfg.window_scaling, syn.window_scale) {
            (true, Some(shift)) => self.snd_wscale = shift.min(14),
            _ => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        self.sack_enabled = cfg.sack && syn.sack_permitted;
        match (cfg.timestamps, syn.timestamp) {
            (true, Some(ts)) => {
                self.ts_enabled = true;
                self.ts_recent = ts.tsval;
                self.ts_recent_age = now;
            }
            _ => self.ts_enabled = false,
        }
        // RFC 9293 3.7.1 / RFC 6691: an MSS of 0 is nonsense; keep a floor.
        self.peer_mss = syn
            .max_seg_size
            .unwrap_or(default_peer_mss(self.remote.is_ipv6()))
            .max(64);
        self.update_mss();
        // RFC 6928: the initial window counts segments of the effective MSS.
        self.cc = new_controller(cfg.congestion, self.mss);
    }

    /// Effective send MSS (RFC 9293 3.7.1 Eff.snd.MSS): the peer's MSS, our
    /// route's MTU and the path MTU, less the options every segment carries.
    pub(crate) fn update_mss(&mut self) {
        let ip_hdr = if self.remote.is_ipv4() { 20 } else { 40 };
        let path = self.pmtu.saturating_sub(ip_hdr + 20);
        let mss = usize::from(self.peer_mss)
            .min(usize::from(self.our_mss))
            .min(path);
        let opts = if self.ts_enabled { 12 } else { 0 };
        self.mss = mss.saturating_sub(opts).max(48);
    }

    /// The sequence number of the first byte in the send buffer.
    #[inline]
    pub(crate) fn tx_seq(&self) -> Seq {
        if self.snd_una == self.iss {
            self.iss + 1
        } else {
            self.snd_una
        }
    }

    /// The FIN's sequence number once the application shut down.
    #[inline]
    pub(crate) fn fin_seq(&self) -> Option<Seq> {
        self.fin_queued.then_some(self.fin_at)
    }

    /// Queue our FIN after everything in the send buffer (no more data may
    /// be queued after it).
    pub(crate) fn queue_fin(&mut self) {
        if !self.fin_queued {
            self.fin_at = self.tx_seq() + self.tx.len();
            self.fin_queued = true;
        }
    }

    /// Whether our FIN has been acknowledged.
    pub(crate) fn fin_acked(&self) -> bool {
        self.fin_seq().is_some_and(|f| self.snd_una > f)
    }

    /// Bytes the application may queue now.
    ///
    /// Send-buffer auto-tuning in the manner of Linux's
    /// `tcp_sndbuf_expand`: the queue may hold [`SEND_QUEUE_CWNDS`]
    /// congestion windows (at least the initial window, at least
    /// [`SEND_QUEUE_MIN`] bytes), up to the configured `send_buffer`; the
    /// limit only grows. A fixed 1 MiB let every new connection's first
    /// write copy (and fault in) a whole megabyte: 500 connections opened
    /// together kept a worker from its rx ring for a second or more, so
    /// SYN-ACKs waited there past the peer's retransmission timer.
    pub(crate) fn send_space(&self) -> usize {
        self.send_limit().saturating_sub(self.tx.len())
    }

    fn send_limit(&self) -> usize {
        let want =
            (SEND_QUEUE_CWNDS * self.cc.cwnd().max(initial_window(self.mss))).max(SEND_QUEUE_MIN);
        want.max(self.snd_limit).min(self.tx.capacity())
    }

    /// Queue application data (as much as [`Self::send_space`] allows);
    /// returns the bytes taken.
    pub(crate) fn queue_send(&mut self, data: &[u8]) -> usize {
        self.snd_limit = self.send_limit();
        let n = data.len().min(self.send_space());
        self.tx.push(&data[..n])
    }

    /// Bytes sent and not yet acknowledged (FlightSize, RFC 5681 2).
    #[inline]
    pub(crate) fn flight(&self) -> usize {
        self.snd_nxt.wrapping_sub(self.snd_una).max(0) as usize
    }

    /// Our current timestamp clock value (RFC 7323 5.4: a per-connection
    /// random offset on a 1 ms clock).
    #[inline]
    pub(crate) fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// The receive window we have advertised and must honour.
    #[inline]
    pub(crate) fn rcv_wnd(&self) -> usize {
        self.rcv_adv.wrapping_sub(self.rcv_nxt).max(0) as usize
    }

    fn challenge_ack(&mut self, now: Instant, cfg: &TcpConfig, stats: &mut TcpStats) {
        // RFC 5961 7: limit the rate of challenge ACKs.
        if now.saturating_duration_since(self.challenge_window) >= Duration::from_secs(1) {
            self.challenge_window = now;
            self.challenge_count = 0;
        }
        if self.challenge_count < cfg.challenge_ack_limit {
            self.challenge_count += 1;
            self.ack_now = true;
            stats.challenge_acks += 1;
        }
    }

    /// Enter CLOSED: stop every timer; the stack unregisters and, for an
    /// orphan, frees the connection.
    pub(crate) fn enter_closed(&mut self) {
        self.state = TcpState::Closed;
        self.rtx_deadline = None;
        self.rack_deadline = None;
        self.pto_deadline = None;
        self.tlp_needed = false;
        self.rack.clear();
        self.persist_deadline = None;
        self.ack_deadline = None;
        self.keepalive_deadline = None;
        self.close_deadline = None;
        self.ack_now = false;
        self.syn_needed = false;
        self.probe_needed = false;
    }

    /// Enter TIME-WAIT for 2 MSL (RFC 9293 3.10.7.4).
    fn enter_time_wait(&mut self, now: Instant, cfg: &TcpConfig) {
        self.state = TcpState::TimeWait;
        self.rtx_deadline = None;
        self.rack_deadline = None;
        self.pto_deadline = None;
        self.persist_deadline = None;
        self.keepalive_deadline = None;
        self.close_deadline = Some(now + cfg.msl * 2);
    }

    /// Abort with an error (reset received, timeout).
    pub(crate) fn fail(&mut self, err: TcpError) {
        self.error = Some(err);
        self.enter_closed();
    }

    // ---- SEGMENT ARRIVES ----------------------------------------------

    /// Process one segment addressed to this connection.
    pub(crate) fn process(
        &mut self,
        seg: &TcpRepr,
        now: Instant,
        cfg: &TcpConfig,
        stats: &mut TcpStats,
    ) -> Verdict {
        self.counters.segs_in += 1;
        match self.state {
            // RFC 9293 3.10.7.1: a CLOSED connection answers with a reset.
            TcpState::Closed | TcpState::Listen => return Verdict::Reset,
            TcpState::SynSent => return self.process_syn_sent(seg, now, cfg, stats),
            _ => {}
        }

        // RFC 9293 3.6.1 / RFC 6191: a new SYN may reopen a TIME-WAIT
        // connection when its sequence number (or timestamp) is beyond the
        // old connection's.
        if self.state == TcpState::TimeWait
            && seg.control == TcpControl::Syn
            && seg.ack_number.is_none()
        {
            let newer = match (self.ts_enabled, seg.timestamp) {
                (true, Some(ts)) => ts_before(self.ts_recent, ts.tsval),
                _ => seg.seq_number > self.rcv_nxt,
            };
            if newer {
                return Verdict::Reopen;
            }
        }

        // RFC 7323 5.3 R1: PAWS. A segment whose TSval is older than
        // TS.Recent is a duplicate from an old incarnation: ACK, drop.
        // TS.Recent older than 24 days is stale (5.5) and not used.
        if self.ts_enabled && seg.control != TcpControl::Rst {
            if let Some(ts) = seg.timestamp {
                let stale = now.saturating_duration_since(self.ts_recent_age)
                    > Duration::from_secs(24 * 24 * 3600);
                if !stale && ts_before(ts.tsval, self.ts_recent) {
                    stats.paws_rejected += 1;
                    self.ack_now = true;
                    return Verdict::Done;
                }
            }
        }

        // SYN-RECEIVED, a retransmission of the peer's SYN (SEQ = IRS, no
        // ACK): our SYN-ACK was lost or is late. It lies below RCV.NXT, so
        // the sequence test below would answer with a bare ACK, which the
        // peer in SYN-SENT drops (RFC 9293 3.10.7.3: no SYN, no RST), and
        // the handshake would wait for our own backed-off SYN-ACK timer
        // (1 s, 2 s, 4 s …). Send the SYN-ACK again instead, as Linux
        // (`tcp_check_req`) and the BSDs do, and echo this SYN's TSval
        // (RFC 7323 4.3: it is the latest segment at Last.ACK.sent), so the
        // peer's first RTT sample measures this exchange and not the time
        // since its first SYN: a sample of seconds would give the peer an
        // RTO of many seconds for the whole connection (RFC 6298 2.2).
        if self.state == TcpState::SynReceived
            && seg.control == TcpControl::Syn
            && seg.ack_number.is_none()
            && seg.seq_number == self.irs
        {
            if let (true, Some(ts)) = (self.ts_enabled, seg.timestamp) {
                self.ts_recent = ts.tsval;
                self.ts_recent_age = now;
            }
            self.syn_needed = true;
            return Verdict::Done;
        }

        // RFC 9293 3.10.7.4 first: the sequence number test.
        let seg_len = seg.segment_len();
        let wnd = self.rcv_wnd();
        let seq = seg.seq_number;
        let in_wnd = |s: Seq| s >= self.rcv_nxt && s < self.rcv_nxt + wnd;
        let acceptable = match (seg_len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => in_wnd(seq),
            (_, 0) => false,
            (_, _) => in_wnd(seq) || in_wnd(seq + seg_len - 1),
        };
        // "special allowance should be made to accept valid ACKs, URGs and
        // RSTs" when the window is zero: process such a segment's ACK only.
        let ack_only = !acceptable && wnd == 0 && seq == self.rcv_nxt;
        if !acceptable && !ack_only {
            if seg.control != TcpControl::Rst {
                // "send an acknowledgment ... and drop the segment".
                self.ack_now = true;
                let end = seq + seg.payload.len();
                if self.sack_enabled
                    && !seg.payload.is_empty()
                    && end <= self.rcv_nxt
                    && self.rcv_nxt.wrapping_sub(seq) as usize <= self.rx.capacity()
                {
                    // RFC 2883 4.1.1: a duplicate below RCV.NXT is reported
                    // in a DSACK block (a retransmission the sender may
                    // learn was spurious, RFC 8985 6.2 step 4).
                    self.note_duplicate(seq, end);
                }
                if self.state == TcpState::TimeWait && seg.control == TcpControl::Fin {
                    // A retransmitted FIN restarts the 2 MSL timeout.
                    self.close_deadline = Some(now + cfg.msl * 2);
                }
            }
            stats.out_of_window += 1;
            return Verdict::Done;
        }
        self.last_rx = now;
        self.probes_out = 0;
        if let Some(k) = self.keepalive {
            if self.state == TcpState::Established {
                self.keepalive_deadline = Some(now + k.idle);
            }
        }

        // RFC 7323 4.3: update TS.Recent from an acceptable segment that
        // covers Last.ACK.sent.
        if self.ts_enabled {
            if let Some(ts) = seg.timestamp {
                if !ts_before(ts.tsval, self.ts_recent) && seq <= self.last_ack_sent {
                    self.ts_recent = ts.tsval;
                    self.ts_recent_age = now;
                }
            }
        }

        // Second: RST (RFC 5961 3.2).
        if seg.control == TcpControl::Rst {
            if seq != self.rcv_nxt {
                // In the window but not exact: challenge ACK.
                self.challenge_ack(now, cfg, stats);
                return Verdict::Done;
            }
            stats.resets_received += 1;
            match self.state {
                // RFC 9293 3.10.7.4: a passive open returns to LISTEN (the
                // listener lives on; this half-open connection goes), an
                // active one is refused.
                TcpState::SynReceived if !self.active => self.enter_closed(),
                TcpState::SynReceived => self.fail(TcpError::ConnectionRefused),
                TcpState::Established
                | TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::CloseWait => self.fail(TcpError::ConnectionReset),
                _ => self.enter_closed(),
            }
            return Verdict::Done;
        }

        // Fourth: SYN in a synchronized state (RFC 5961 4.2, RFC 9293
        // 3.10.7.4): challenge ACK. A retransmitted SYN in SYN-RECEIVED
        // (one carrying data, so it passed the sequence test; a bare one
        // was answered above) gets our SYN-ACK again.
        if seg.control == TcpControl::Syn {
            if self.state == TcpState::SynReceived && seq == self.irs {
                self.syn_needed = true;
            } else {
                self.challenge_ack(now, cfg, stats);
            }
            return Verdict::Done;
        }

        // Fifth: ACK. Without it the segment is dropped.
        let Some(ack) = seg.ack_number else {
            return Verdict::Done;
        };
        if self.state == TcpState::SynReceived {
            if self.snd_una < ack && ack <= self.snd_nxt {
                self.state = TcpState::Established;
                // (The RTT sample is taken by process_ack below.)
                self.syn_done();
                self.snd_wnd = usize::from(seg.window_len) << self.snd_wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seq;
                self.snd_wl2 = ack;
                if let Some(k) = self.keepalive {
                    self.keepalive_deadline = Some(now + k.idle);
                }
            } else {
                return Verdict::Reset;
            }
        }
        // RFC 5961 5.2: acceptable iff SND.UNA - MAX.SND.WND <= SEG.ACK <=
        // SND.NXT.
        if ack > self.snd_nxt {
            // RFC 9293: an ACK of something not yet sent: ACK and drop.
            self.ack_now = true;
            stats.bad_acks += 1;
            return Verdict::Done;
        }
        if ack < self.snd_una - self.max_snd_wnd.max(1) {
            self.challenge_ack(now, cfg, stats);
            stats.bad_acks += 1;
            return Verdict::Done;
        }
        self.process_ack(seg, ack, now, cfg, stats);
        match self.state {
            TcpState::Closed => return Verdict::Done,
            TcpState::TimeWait => {
                // The only thing that can arrive is a FIN retransmission:
                // ACK it and restart the 2 MSL timeout.
                if seg.control == TcpControl::Fin {
                    self.ack_now = true;
                    self.close_deadline = Some(now + cfg.msl * 2);
                }
                return Verdict::Done;
            }
            _ => {}
        }
        if ack_only {
            return Verdict::Done;
        }

        // Seventh: segment text.
        if !seg.payload.is_empty() {
            match self.state {
                TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2 => {
                    self.process_data(seg, now, cfg, stats)
                }
                // After the peer's FIN, data is a protocol error; ignore it.
                _ => {}
            }
        }

        // Eighth: FIN.
        if seg.control == TcpControl::Fin && !self.fin_received {
            let fin = seq + seg.payload.len();
            if fin == self.rcv_nxt {
                self.accept_fin(now, cfg);
            } else if fin > self.rcv_nxt {
                self.pending_fin = Some(fin);
            }
        }
        Verdict::Done
    }

    /// RFC 9293 3.10.7.3: SEGMENT ARRIVES in SYN-SENT.
    fn process_syn_sent(
        &mut self,
        seg: &TcpRepr,
        now: Instant,
        cfg: &TcpConfig,
        stats: &mut TcpStats,
    ) -> Verdict {
        // First: the ACK must acknowledge our SYN.
        if let Some(ack) = seg.ack_number {
            if ack <= self.iss || ack > self.snd_nxt {
                stats.bad_acks += 1;
                return if seg.control == TcpControl::Rst {
                    Verdict::Done
                } else {
                    Verdict::Reset
                };
            }
        }
        // Second: RST, acceptable only with an acceptable ACK (RFC 5961 3.2
        // leaves SYN-SENT to RFC 9293).
        if seg.control == TcpControl::Rst {
            if seg.ack_number.is_some() {
                stats.resets_received += 1;
                self.fail(TcpError::ConnectionRefused);
            }
            return Verdict::Done;
        }
        // Fourth: SYN.
        if seg.control != TcpControl::Syn {
            return Verdict::Done;
        }
        self.irs = seg.seq_number;
        self.rcv_nxt = seg.seq_number + 1;
        self.rcv_adv = self.rcv_nxt;
        self.negotiate(seg, cfg, now);
        self.last_rx = now;
        match seg.ack_number {
            Some(ack) => {
                self.state = TcpState::Established;
                // RFC 7323 2.2: the SYN's window is not scaled.
                self.snd_wnd = usize::from(seg.window_len);
                self.max_snd_wnd = self.snd_wnd;
                self.snd_wl1 = seg.seq_number;
                self.snd_wl2 = ack;
                self.take_rtt_sample(seg, ack, now);
                self.syn_done();
                self.snd_una = ack;
                self.rtx_deadline = None;
                self.retries = 0;
                self.first_rtx = None;
                self.syn_needed = false;
                self.ack_now = true;
                if let Some(k) = self.keepalive {
                    self.keepalive_deadline = Some(now + k.idle);
                }
            }
            None => {
                // Simultaneous open: SYN-RECEIVED, send SYN,ACK with our ISS.
                self.state = TcpState::SynReceived;
                self.snd_wnd = usize::from(seg.window_len);
                self.max_snd_wnd = self.snd_wnd;
                self.snd_wl1 = seg.seq_number;
                self.syn_needed = true;
            }
        }
        Verdict::Done
    }

    /// The handshake completed: RFC 6298 5.7 — if the SYN (or SYN-ACK)
    /// timed out and no RTT sample exists, data starts with a 3 s RTO; the
    /// SYN's backoff ends either way.
    fn syn_done(&mut self) {
        if self.retries > 0 {
            self.rtt.syn_timed_out();
        }
        self.rtt.reset_backoff();
    }

    fn take_rtt_sample(&mut self, seg: &TcpRepr, ack: Seq, now: Instant) {
        // RFC 7323 4.1: with timestamps every ACK that advances SND.UNA
        // gives a sample from TSecr.
        if self.ts_enabled {
            if let Some(ts) = seg.timestamp {
                if ts.tsecr != 0 {
                    let ms = self.ts_now(now).wrapping_sub(ts.tsecr);
                    if ms < 60_000 {
                        let r = Duration::from_millis(u64::from(ms));
                        self.rtt.sample(r);
                        // RFC 8985 6.2 step 1: RACK.min_RTT.
                        self.rack.rtt_sample(r, now);
                        return;
                    }
                }
            }
        }
        // RFC 6298 3 (Karn): time one segment at a time, never a
        // retransmitted one.
        if let Some((s, t)) = self.rtt.timing {
            if ack > s {
                let r = now.saturating_duration_since(t);
                self.rtt.sample(r);
                self.rack.rtt_sample(r, now);
                self.rtt.timing = None;
            }
        }
    }

    /// RFC 9293 3.10.7.4 fifth, ESTABLISHED and later: a new or duplicate
    /// ACK, the send window update, and loss detection.
    fn process_ack(
        &mut self,
        seg: &TcpRepr,
        ack: Seq,
        now: Instant,
        cfg: &TcpConfig,
        stats: &mut TcpStats,
    ) {
        let flight_before = self.flight();
        let una_before = self.snd_una;
        let mss = self.mss;
        let mut sack_new = false;
        let sacked_before = self.scoreboard.sacked_bytes();
        // RFC 8985 6.2: what this ACK delivers, for RACK.
        let mut delivered = Delivered::default();
        let tsecr = seg
            .timestamp
            .filter(|_| self.ts_enabled)
            .map(|t| t.tsecr)
            .filter(|&e| e != 0);
        let ts_offset = self.ts_offset;
        let ts_of = move |t: Instant| (t.total_millis() as u32).wrapping_add(ts_offset);
        let mut dsack = None;
        if self.sack_enabled && ack >= self.snd_una {
            // RFC 2883 4: a DSACK is a first block below the cumulative ACK
            // or inside the second block; it reports a duplicate, not new
            // data.
            if let Some((s0, e0)) = seg.sack_ranges[0] {
                let (s0, e0) = (Seq::from(s0), Seq::from(e0));
                let inside_second = seg.sack_ranges[1]
                    .is_some_and(|(s1, e1)| s0 >= Seq::from(s1) && e0 <= Seq::from(e1));
                if s0 < e0 && (e0 <= ack || inside_second) {
                    dsack = Some((s0, e0));
                }
            }
            for (i, (s, e)) in seg.sack_ranges.iter().flatten().enumerate() {
                if i == 0 && dsack.is_some() {
                    continue;
                }
                let (s, e) = (Seq::from(*s), Seq::from(*e));
                if self.scoreboard.add(s, e, ack, self.snd_nxt) {
                    sack_new = true;
                }
                if s < e && e <= self.snd_nxt {
                    // RFC 7323 4.3: an ACK for out-of-order data echoes an
                    // older TSval (TS.Recent only moves at RCV.NXT), so the
                    // TSecr test of RFC 8985 6.2 step 2 cannot clear a
                    // SACKed retransmission; only the min_RTT test applies.
                    self.rack.on_sack(s, e, None, &ts_of, now, &mut delivered);
                }
            }
        }
        let new_wnd = usize::from(seg.window_len) << self.snd_wscale;
        let mut exiting = false;
        let mut dupack = false;

        if ack > self.snd_una {
            // New data acknowledged.
            let tx_seq = self.tx_seq();
            let data_end = tx_seq + self.tx.len();
            let data_acked = ack.min(data_end).wrapping_sub(tx_seq).max(0) as usize;
            self.take_rtt_sample(seg, ack, now);
            self.tx.consume(data_acked);
            self.counters.bytes_acked += data_acked as u64;
            let acked = ack.wrapping_sub(self.snd_una) as usize;
            self.snd_una = ack;
            self.scoreboard.advance(ack);
            if self.sack_enabled {
                self.rack
                    .on_cumulative_ack(ack, tsecr, &ts_of, now, &mut delivered);
            }
            self.rtt.reset_backoff();
            self.retries = 0;
            self.first_rtx = None;
            self.persist_backoff = 0;
            match self.recovery {
                Some(rec) if ack >= rec.recover => {
                    // RFC 6582 3.2 step 6 / RFC 6675 5 / RFC 6937: recovery
                    // ends; cwnd = ssthresh.
                    if rec.kind == RecoveryKind::Fast {
                        self.cc.on_recovery_exit(self.flight(), mss);
                    }
                    exiting = rec.kind != RecoveryKind::Pmtu;
                    self.recovery = None;
                    self.dupacks = 0;
                    self.undo_recovery_ended();
                }
                Some(mut rec) => {
                    rec.high_rxt = rec.high_rxt.max(ack);
                    if rec.kind != RecoveryKind::Fast {
                        // After an RTO the window regrows by slow start.
                        self.cc
                            .on_ack(data_acked, flight_before, mss, now, self.rtt.srtt());
                    } else if !self.sack_enabled {
                        // RFC 6582 3.2 step 5: a partial ACK means the next
                        // segment was lost too: retransmit it.
                        rec.high_rxt = ack;
                        rec.lost_limit = ack + 1;
                        rec.force = true;
                        let gone = acked.div_ceil(mss.max(1)) as u32;
                        self.dupacks = self.dupacks.saturating_sub(gone);
                    }
                    self.recovery = Some(rec);
                }
                None => {
                    self.dupacks = 0;
                    self.cc
                        .on_ack(data_acked, flight_before, mss, now, self.rtt.srtt());
                }
            }
            // RFC 6298 5.2/5.3: stop the timer when everything is
            // acknowledged, else restart it.
            self.rtx_deadline = (self.snd_una != self.snd_nxt).then(|| now + self.rtt.rto());
        } else if ack == self.snd_una
            && flight_before > 0
            && seg.payload.is_empty()
            && seg.control == TcpControl::None
            && (new_wnd == self.snd_wnd || sack_new)
        {
            // RFC 5681 2: a duplicate ACK (RFC 6675: with new SACK info).
            dupack = true;
            self.dupacks = self.dupacks.saturating_add(1);
            self.counters.dup_acks_in += 1;
        }

        // RFC 9293 3.10.7.4: update the send window if the segment is newer
        // (SND.WL1 < SEG.SEQ, or equal and SND.WL2 <= SEG.ACK).
        let seq = seg.seq_number;
        if self.snd_wl1 < seq || (self.snd_wl1 == seq && self.snd_wl2 <= ack) {
            self.snd_wnd = new_wnd;
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(new_wnd);
            if new_wnd > 0 {
                self.persist_deadline = None;
                self.persist_backoff = 0;
            }
        }

        if self.sack_enabled {
            // RFC 8985: RACK-TLP is the loss detector with SACK.
            self.rack.on_ack(
                &delivered,
                dsack.is_some(),
                self.snd_una,
                self.snd_nxt,
                exiting,
            );
            let pure_dup = ack == una_before && !sack_new && dsack.is_none();
            self.tlp_process_ack(ack, dsack, pure_dup, now, stats);
            self.rack_detect_loss(now, stats);
            // RFC 6937: DeliveredData = change in SND.UNA + change in
            // SACKed octets.
            let delivered_data = (ack.wrapping_sub(una_before).max(0) as usize
                + self.scoreboard.sacked_bytes())
            .saturating_sub(sacked_before);
            self.prr_on_ack(delivered_data);
            if ack > una_before {
                // RFC 8985 7.2: restart the PTO on an ACK of new data.
                self.arm_pto(now);
            }
        } else {
            // Loss detection without SACK: DupThresh duplicate ACKs
            // (RFC 5681 3.2). RFC 6582 3.2 step 2: not again until SND.UNA
            // passes the previous recovery point.
            if self.recovery.is_none()
                && self.dupacks >= self.reordering
                && self.flight() > 0
                && self.snd_una > self.last_recover
            {
                self.enter_fast_recovery(now, stats);
            }
        }
        // RFC 3522 / RFC 3708 / RFC 5682: was the episode's window
        // reduction needed?
        let facts = AckFacts {
            ack,
            advanced: ack > una_before,
            dupack,
            sack_new,
            dsack,
            tsecr,
            orig_end: delivered.orig_end,
        };
        self.undo_on_ack(&facts, now, stats);

        // Our FIN acknowledged: the close sequence moves on.
        if self.fin_acked() {
            match self.state {
                TcpState::FinWait1 => {
                    self.state = TcpState::FinWait2;
                    if self.orphan {
                        // Linux's tcp_fin_timeout: an orphan does not wait
                        // forever for the peer's FIN.
                        self.close_deadline = Some(now + cfg.fin_wait2_timeout);
                    }
                }
                TcpState::Closing => self.enter_time_wait(now, cfg),
                TcpState::LastAck => self.enter_closed(),
                _ => {}
            }
        }
    }

    /// RFC 8985 6.2 step 5 and 6.3: mark what RACK deems lost, arm the
    /// reordering timer for the rest, and start fast recovery on a loss
    /// (RFC 8985 6.2: "the sender starts fast recovery").
    pub(crate) fn rack_detect_loss(&mut self, now: Instant, stats: &mut TcpStats) {
        let in_recovery = self.recovery.is_some_and(|r| r.kind != RecoveryKind::Pmtu);
        let reo_wnd = self.rack.reo_wnd(in_recovery, self.rtt.srtt());
        let (marked, timer) = self.rack.detect_loss(reo_wnd, now);
        self.rack_deadline = timer;
        if marked {
            self.counters.rack_losses += 1;
            if self.recovery.is_none() && self.flight() > 0 {
                self.enter_fast_recovery(now, stats);
                // RFC 6937: the ACK that starts recovery may already send.
                self.prr_on_ack(0);
            }
        }
    }

    /// RFC 6937 3: the PRR send quota after an ACK delivering
    /// `delivered` octets during fast recovery.
    fn prr_on_ack(&mut self, delivered: usize) {
        let pipe = self.pipe();
        let ssthresh = self.cc.ssthresh();
        let mss = self.mss;
        let Some(rec) = self.recovery.as_mut() else {
            return;
        };
        if rec.kind != RecoveryKind::Fast {
            return;
        }
        rec.prr_delivered += delivered;
        let sndcnt = if pipe > ssthresh {
            // Proportional rate reduction:
            // sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out.
            let fs = rec.recover_fs.max(1) as u128;
            let target = (rec.prr_delivered as u128 * ssthresh as u128).div_ceil(fs) as usize;
            target.saturating_sub(rec.prr_out)
        } else {
            // PRR-SSRB: limit = MAX(prr_delivered - prr_out, DeliveredData)
            // + MSS; sndcnt = MIN(ssthresh - pipe, limit).
            let limit = rec.prr_delivered.saturating_sub(rec.prr_out).max(delivered) + mss;
            (ssthresh - pipe).min(limit)
        };
        rec.prr_quota = sndcnt;
    }

    /// RFC 8985 7.2: (re)arm the probe timeout when SACK is on, nothing is
    /// being recovered, no probe episode is open and data is outstanding.
    pub(crate) fn arm_pto(&mut self, now: Instant) {
        let open = matches!(
            self.state,
            TcpState::Established
                | TcpState::CloseWait
                | TcpState::FinWait1
                | TcpState::Closing
                | TcpState::LastAck
        );
        if !self.sack_enabled
            || !open
            || self.recovery.is_some()
            || self.rack.tlp.is_some()
            || self.rack.has_lost()
            || self.flight() == 0
        {
            self.pto_deadline = None;
            return;
        }
        let pto = match self.rtt.srtt() {
            Some(srtt) => {
                // PTO = 2 * SRTT, plus the worst-case delayed ACK time
                // when only one segment is in flight (WCDelAckT = 200 ms);
                // at least 10 ms like Linux, so a tiny SRTT does not
                // probe every poll.
                let mut p = srtt * 2;
                if self.flight() <= self.mss {
                    p += Duration::from_millis(200);
                }
                p.max(Duration::from_millis(10))
            }
            None => Duration::from_secs(1),
        };
        // "If the RTO timer would fire earlier, PTO = RTO".
        let mut at = now + pto;
        if let Some(rto) = self.rtx_deadline {
            at = at.min(rto);
        }
        self.pto_deadline = Some(at);
    }

    /// RFC 8985 7.4.2: an ACK during a TLP episode. If the probe was a
    /// retransmission and the ACK shows it repaired a loss (SND.UNA moves
    /// beyond the probe without a DSACK for it), the hidden loss is a
    /// congestion signal: reduce cwnd once.
    fn tlp_process_ack(
        &mut self,
        ack: Seq,
        dsack: Option<(Seq, Seq)>,
        pure_dup: bool,
        now: Instant,
        stats: &mut TcpStats,
    ) {
        let Some(TlpEpisode {
            end_seq,
            is_retrans,
        }) = self.rack.tlp
        else {
            return;
        };
        if ack < end_seq {
            return;
        }
        if !is_retrans {
            // The probe carried new data and was delivered.
            self.rack.tlp = None;
        } else if dsack.is_some_and(|(_, e)| e <= end_seq && e > end_seq - self.mss.max(1)) {
            // Both the original and the probe arrived: no loss.
            self.rack.tlp = None;
        } else if ack > end_seq {
            // The probe repaired a loss: one cwnd reduction.
            self.rack.tlp = None;
            if self.recovery.is_none() {
                let flight = self.flight();
                // A new reduction: an older episode's undo would take it
                // back too.
                self.undo_cancel();
                self.cc.on_congestion_event(flight, self.mss, now);
                self.cc.on_recovery_exit(flight, self.mss);
                self.counters.tlp_recoveries += 1;
                stats.tlp_recoveries += 1;
            }
        } else if pure_dup {
            // A pure duplicate ACK at the probe's end: original and probe
            // both arrived.
            self.rack.tlp = None;
        }
    }

    fn enter_fast_recovery(&mut self, now: Instant, stats: &mut TcpStats) {
        // RFC 5681 3.2 step 2 / RFC 6675 5 (4.2) / RFC 6937: ssthresh and
        // cwnd, once per recovery episode (kept for an undo, undo.rs).
        self.undo_begin(UndoKind::Fast);
        self.cc.on_congestion_event(self.flight(), self.mss, now);
        // RFC 6675 (4.3) / RFC 5681 3.2 step 3: the first lost segment is
        // retransmitted at once.
        self.recovery = Some(Recovery::new(
            RecoveryKind::Fast,
            self.snd_una,
            self.snd_nxt,
            self.snd_una + 1,
        ));
        self.last_recover = self.snd_nxt;
        self.pto_deadline = None;
        self.counters.fast_retransmits += 1;
        stats.fast_retransmits += 1;
        // Karn: no RTT sample from a segment that is being retransmitted.
        self.rtt.timing = None;
    }

    /// `[start, end)` arrived twice: report it in a DSACK block
    /// (RFC 2883 4). A poll ACKs its whole batch once, so several
    /// duplicates can arrive before that ACK; the sender needs to hear of
    /// every one to tell that a whole recovery was spurious (RFC 3708 3
    /// counts DSACKed retransmissions). One that overlaps or touches the
    /// pending block extends it; one elsewhere becomes the pending block
    /// and the older one moves to the backlog, which the next dispatch
    /// sends first, one ACK each (RFC 2883 allows one DSACK block per
    /// ACK, as Linux sends one ACK per duplicate). A full backlog drops
    /// its oldest block.
    pub(crate) fn note_duplicate(&mut self, start: Seq, end: Seq) {
        self.dsack = Some(match self.dsack {
            Some((s, e)) if start <= e && end >= s => (s.min(start), e.max(end)),
            Some(older) => {
                if self.dsack_backlog.len() == DSACK_BACKLOG {
                    self.dsack_backlog.remove(0);
                }
                self.dsack_backlog.push(older);
                (start, end)
            }
            None => (start, end),
        });
    }

    /// RFC 9293 3.10.7.4 seventh: place segment text in the receive buffer
    /// (in order or, within the window, out of order) and schedule the ACK.
    fn process_data(&mut self, seg: &TcpRepr, now: Instant, cfg: &TcpConfig, stats: &mut TcpStats) {
        let mut seq = seg.seq_number;
        let mut data = seg.payload;
        if seq < self.rcv_nxt {
            let skip = self.rcv_nxt.wrapping_sub(seq) as usize;
            if self.sack_enabled {
                // RFC 2883 4: report the duplicate part in a DSACK block.
                let end = seq + skip.min(data.len());
                self.note_duplicate(seq, end);
            }
            if skip >= data.len() {
                // A duplicate: ACK at once (RFC 5681 4.2).
                self.ack_now = true;
                return;
            }
            data = &data[skip..];
            seq = self.rcv_nxt;
        }
        let off = seq.wrapping_sub(self.rcv_nxt) as usize;
        if off > 0 && self.sack_enabled {
            let start = off as u32;
            let end = start.saturating_add(data.len() as u32);
            if self.ooo.covers(start, end) {
                // RFC 2883 4.1.2: a duplicate of out-of-order data.
                self.note_duplicate(seq, seq + data.len());
            }
        }
        // Never beyond what the ring (our advertised window) holds.
        let written = self.rx.write_at(off, data);
        if written == 0 {
            self.ack_now = true;
            return;
        }
        if off == 0 {
            let had_ooo = !self.ooo.is_empty();
            let adv = self.ooo.take_front(written as u32) as usize;
            self.rx.commit(adv);
            self.rcv_nxt += adv;
            self.counters.bytes_received += adv as u64;
            if self.orphan {
                // Nobody will read it.
                self.rx.consume(adv);
            }
            if had_ooo {
                // RFC 5681 4.2: a segment that fills a hole is ACKed at once.
                self.ack_now = true;
            } else {
                // RFC 9293 3.8.6.3 / RFC 5681 4.2: ACK every second full
                // segment, else within the delayed-ACK time.
                self.segs_unacked += written.div_ceil(self.mss.max(1)).max(1);
                if self.segs_unacked >= 2 || cfg.delayed_ack.is_zero() {
                    self.ack_now = true;
                } else if self.ack_deadline.is_none() {
                    self.ack_deadline = Some(now + cfg.delayed_ack);
                }
            }
        } else {
            let start = off as u32;
            if !self.ooo.add(start, start + written as u32) {
                self.counters.ooo_dropped += 1;
                stats.ooo_dropped += 1;
            }
            // RFC 5681 4.2: an out-of-order segment is ACKed at once (with
            // SACK blocks, RFC 2018 4).
            self.ack_now = true;
            if !self.sack_enabled {
                self.dupacks_owed = self.dupacks_owed.saturating_add(1);
            }
        }
        if let Some(fin) = self.pending_fin {
            if fin == self.rcv_nxt {
                self.pending_fin = None;
                self.accept_fin(now, cfg);
            }
        }
    }

    /// RFC 9293 3.10.7.4 eighth: the peer's FIN at RCV.NXT.
    fn accept_fin(&mut self, now: Instant, cfg: &TcpConfig) {
        self.rcv_nxt += 1;
        self.fin_received = true;
        self.ack_now = true;
        match self.state {
            TcpState::SynReceived | TcpState::Established => self.state = TcpState::CloseWait,
            TcpState::FinWait1 => {
                if self.fin_acked() {
                    self.enter_time_wait(now, cfg);
                } else {
                    self.state = TcpState::Closing;
                }
            }
            TcpState::FinWait2 => self.enter_time_wait(now, cfg),
            _ => {}
        }
    }
}
