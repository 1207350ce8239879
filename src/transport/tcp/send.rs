//! The send path of a connection: which segments go out now, and building
//! them (RFC 9293 3.8.6, RFC 5681, RFC 6675, RFC 896).
//!
//! Per call (one per poll per connection, so ACK work is coalesced):
//! 1. a RST if the application aborted (RFC 9293 3.10.4);
//! 2. the SYN or SYN-ACK in SYN-SENT / SYN-RECEIVED (with MSS clamped to
//!    the route MTU, window scale, SACK-permitted and timestamps);
//! 3. in loss recovery, retransmissions chosen as RFC 6675 `NextSeg` rule 1
//!    while `pipe < cwnd` (RFC 6675 5 (C));
//! 4. new data and the FIN within min(cwnd - pipe, SND.UNA + SND.WND -
//!    SND.NXT), in chunks of up to 64 KiB when the link does software GSO
//!    (cut right here into MSS-sized segments from one header template,
//!    each payload copied once out of the send ring with its checksum
//!    summed in the same pass: [`crate::gso::TcpTemplate`]), else one
//!    MSS-sized segment at a time; the sender's silly window
//!    avoidance and Nagle's algorithm (RFC 9293 3.8.6.2.1, RFC 896) hold
//!    back small segments while data is unacknowledged;
//! 5. a zero-window or keepalive probe (RFC 9293 3.8.6.1, 3.8.4);
//! 6. a pure ACK or window update if nothing else carried one.

use super::connection::{RecoveryKind, TcpConnection};
use super::rack::TlpEpisode;
use super::{TcpState, TcpStats};
use crate::buffer::PacketBuffer;
use crate::gso::{GsoCut, TcpTemplate, SOFTWARE_GSO_MAX_SIZE};
use crate::time::Instant;
use crate::wire::tcp::{TcpControl, TcpPacket, TcpRepr, TcpSeqNumber as Seq, TcpTimestampRepr};

/// What the egress path offers the connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxEnv {
    /// Largest TCP payload of one GSO packet; 0 without software GSO.
    pub(crate) gso_max: usize,
    /// The link computes transport checksums.
    pub(crate) csum_offload: bool,
    /// The egress link's MTU.
    pub(crate) link_mtu: usize,
    /// Headroom for the IP and link headers.
    pub(crate) headroom: usize,
}

impl TxEnv {
    /// The GSO payload limit for a link: the GSO maximum less the headers.
    pub(crate) fn gso_limit(software_gso: bool, v6: bool) -> usize {
        if software_gso {
            let ip = if v6 { 40 } else { 20 };
            SOFTWARE_GSO_MAX_SIZE - 1 - ip - 60
        } else {
            0
        }
    }
}

/// A segment to build: where it starts, its control bit and the send
/// buffer bytes it carries.
struct SegSpec {
    seq: Seq,
    control: TcpControl,
    data_off: usize,
    data_len: usize,
    syn: bool,
}

impl TcpConnection {
    /// RFC 6675 `SetPipe`: octets believed to be in the network. With SACK
    /// the lost octets are those RACK marked (RFC 8985 6.2) and not yet
    /// retransmitted.
    pub(crate) fn pipe(&self) -> usize {
        let flight = self.flight();
        if self.sack_enabled {
            return flight
                .saturating_sub(self.scoreboard.sacked_bytes())
                .saturating_sub(self.rack.lost_bytes());
        }
        // Without SACK each duplicate ACK says a segment left the network
        // (RFC 5681 3.2 step 4's window inflation, as Linux emulates SACK
        // for Reno).
        let sacked = (self.dupacks as usize * self.mss).min(flight);
        let lost = match self.recovery {
            Some(rec) => {
                let from = rec.high_rxt.max(self.snd_una);
                rec.lost_limit.wrapping_sub(from).max(0) as usize
            }
            None => 0,
        };
        flight.saturating_sub(sacked).saturating_sub(lost)
    }

    /// How many octets may be sent now: PRR's quota in fast recovery with
    /// SACK (RFC 6937 3), else cwnd - pipe (RFC 6675 5 (C), RFC 5681).
    fn send_room(&self, pipe: usize) -> usize {
        match self.recovery {
            Some(rec) if self.sack_enabled && rec.kind == RecoveryKind::Fast => rec.prr_quota,
            _ => self.cc.cwnd().saturating_sub(pipe),
        }
    }

    /// Account `len` octets just sent against PRR (RFC 6937 `prr_out`).
    fn prr_sent(&mut self, len: usize) {
        if let Some(rec) = self.recovery.as_mut() {
            rec.prr_out += len;
            rec.prr_quota = rec.prr_quota.saturating_sub(len);
            rec.force = false;
        }
    }

    /// Produce this connection's segments into `out` (transport header and
    /// payload; the stack adds the IP header).
    pub(crate) fn dispatch(
        &mut self,
        now: Instant,
        env: &TxEnv,
        stats: &mut TcpStats,
        out: &mut Vec<PacketBuffer>,
    ) {
        if self.rst_needed {
            // RFC 9293 3.10.4 ABORT: <SEQ=SND.NXT><CTL=RST>.
            self.rst_needed = false;
            let spec = SegSpec {
                seq: self.snd_nxt,
                control: TcpControl::Rst,
                data_off: 0,
                data_len: 0,
                syn: false,
            };
            self.emit(&spec, now, env, stats, out);
            stats.resets_sent += 1;
            self.enter_closed();
            return;
        }
        match self.state {
            TcpState::Closed | TcpState::Listen => return,
            TcpState::SynSent => {
                if self.syn_needed {
                    self.send_syn(now, env, stats, out);
                }
                return;
            }
            TcpState::SynReceived if self.syn_needed => {
                self.send_syn(now, env, stats, out);
                return;
            }
            _ => {}
        }
        if !self.dsack_backlog.is_empty() {
            self.send_dsack_backlog(now, env, stats, out);
        }
        if self.dupacks_owed > 1 {
            // Without SACK: one duplicate ACK per out-of-order segment of
            // this poll (RFC 5681 4.2), the last being the ACK the poll
            // sends anyway; the sender counts them (RFC 5681 3.2).
            for _ in 1..self.dupacks_owed.min(64) {
                self.send_pure_ack(now, env, stats, out);
            }
            self.ack_now = true;
        }
        self.dupacks_owed = 0;
        let mut sent = false;
        if self.state != TcpState::SynReceived {
            sent = self.send_data(now, env, stats, out);
        }
        if self.probe_needed {
            self.probe_needed = false;
            if !sent {
                // Zero-window or keepalive probe: a segment below the window
                // (SEG.SEQ = SND.UNA - 1, as Linux) that the peer must answer
                // with an ACK carrying its window (RFC 9293 3.10.7.4).
                let spec = SegSpec {
                    seq: self.snd_una - 1,
                    control: TcpControl::None,
                    data_off: 0,
                    data_len: 0,
                    syn: false,
                };
                self.emit(&spec, now, env, stats, out);
                sent = true;
            }
        }
        if !sent && (self.ack_now || self.window_update_due()) {
            self.send_pure_ack(now, env, stats, out);
        }
    }

    /// A segment without data or flags: SEQ as [`Self::ack_seq`] says, the
    /// current ACK, window and options.
    fn send_pure_ack(
        &mut self,
        now: Instant,
        env: &TxEnv,
        stats: &mut TcpStats,
        out: &mut Vec<PacketBuffer>,
    ) {
        let spec = SegSpec {
            seq: self.ack_seq(),
            control: TcpControl::None,
            data_off: 0,
            data_len: 0,
            syn: false,
        };
        self.emit(&spec, now, env, stats, out);
    }

    /// One pure ACK per older DSACK block of this poll (RFC 2883 4: one
    /// DSACK block per ACK), before the segments that carry the newest.
    fn send_dsack_backlog(
        &mut self,
        now: Instant,
        env: &TxEnv,
        stats: &mut TcpStats,
        out: &mut Vec<PacketBuffer>,
    ) {
        let newest = self.dsack.take();
        let ack_now = self.ack_now;
        let backlog = core::mem::take(&mut self.dsack_backlog);
        for &blk in &backlog {
            self.dsack = Some(blk);
            self.send_pure_ack(now, env, stats, out);
        }
        // Keep the allocation for the next burst of duplicates.
        self.dsack_backlog = backlog;
        self.dsack_backlog.clear();
        self.dsack = newest;
        // The newest block still needs its ACK.
        self.ack_now = ack_now || newest.is_some();
    }

    /// SEG.SEQ of a pure ACK. RFC 9293 3.10.7.4: the peer accepts a
    /// segment only if its SEQ lies in the peer's receive window. SND.NXT
    /// can be past that window's right edge when the peer dropped data we
    /// sent (receive memory full) and then shrank its window; an ACK with
    /// SEQ = SND.NXT is then discarded, the peer never sees our
    /// acknowledgments, and both sides stall. So, as Linux
    /// (`tcp_acceptable_seq`), use the window's right edge
    /// (SND.UNA + SND.WND) when SND.NXT is beyond it.
    fn ack_seq(&self) -> Seq {
        let edge = self.snd_una + self.snd_wnd;
        if self.snd_nxt.wrapping_sub(edge) > 0 {
            edge
        } else {
            self.snd_nxt
        }
    }

    fn send_syn(
        &mut self,
        now: Instant,
        env: &TxEnv,
        stats: &mut TcpStats,
        out: &mut Vec<PacketBuffer>,
    ) {
        self.syn_needed = false;
        let spec = SegSpec {
            seq: self.iss,
            control: TcpControl::Syn,
            data_off: 0,
            data_len: 0,
            syn: true,
        };
        self.emit(&spec, now, env, stats, out);
        if self.snd_nxt == self.iss {
            self.snd_nxt = self.iss + 1;
        }
        if self.rtx_deadline.is_none() {
            self.rtx_deadline = Some(now + self.rtt.rto());
        }
        if self.retries == 0 && !self.ts_enabled {
            self.rtt.timing = Some((self.iss, now));
        }
    }

    /// Whether the window we could advertise has grown enough since the
    /// last advertisement to be worth a window update (receiver-side silly
    /// window avoidance, RFC 9293 3.8.6.2.2).
    pub(crate) fn window_update_due(&self) -> bool {
        if !matches!(
            self.state,
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        ) {
            return false;
        }
        let right = self.rcv_nxt + self.scaled_free();
        let grow = right.wrapping_sub(self.rcv_adv).max(0) as usize;
        grow >= self.mss.max(self.rx.capacity() / 4)
    }

    /// Free receive space, rounded down to the window scale.
    fn scaled_free(&self) -> usize {
        let free = self.rx.free().min(65535usize << self.rcv_wscale);
        (free >> self.rcv_wscale) << self.rcv_wscale
    }

    /// The window field for the next segment, recording the right edge.
    fn advertise_window(&mut self, syn: bool) -> u16 {
        if syn {
            // RFC 7323 2.2: the window in a SYN is not scaled.
            let w = self.rx.free().min(65535);
            self.rcv_adv = self.rcv_adv.max(self.rcv_nxt + w);
            return w as u16;
        }
        let free = self.scaled_free();
        let mut right = self.rcv_nxt + free;
        let grow = right.wrapping_sub(self.rcv_adv);
        // RFC 9293 3.8.6.2.2: advance the right edge only by at least
        // min(buffer / 2, MSS); never move it left (3.8.6.2.2 "shrinking").
        let threshold = (self.rx.capacity() / 2).min(self.mss) as i32;
        if grow < threshold {
            right = self.rcv_adv.max(self.rcv_nxt);
        }
        let wnd = right.wrapping_sub(self.rcv_nxt).max(0) as usize;
        let field = wnd.div_ceil(1 << self.rcv_wscale).min(65535);
        self.rcv_adv = self.rcv_adv.max(right);
        field as u16
    }

    /// The data one segment may carry now. RFC 9293 3.7.1: the effective
    /// send MSS less the options this segment carries. `self.mss` already
    /// allows for the timestamp option every segment has; SACK blocks
    /// (RFC 2018 3: 2 + 8n octets, after two NOPs) come on top while we
    /// hold out-of-order data or owe a DSACK. Without this, a full-sized
    /// segment sent while we reassemble is larger than the path MTU.
    pub(crate) fn seg_mss(&self) -> usize {
        if !self.sack_enabled {
            return self.mss.max(1);
        }
        let max = if self.ts_enabled { 3 } else { 4 };
        let blocks = (usize::from(self.dsack.is_some()) + self.ooo.len()).min(max);
        let extra = if blocks > 0 { 4 + 8 * blocks } else { 0 };
        self.mss.saturating_sub(extra).max(1)
    }

    /// Send retransmissions and new data; returns whether anything went.
    fn send_data(
        &mut self,
        now: Instant,
        env: &TxEnv,
        stats: &mut TcpStats,
        out: &mut Vec<PacketBuffer>,
    ) -> bool {
        let mss = self.seg_mss();
        let mut sent = false;
        // RFC 5681 4.1: restart from at most the initial window after an
        // idle period longer than the RTO.
        if self.flight() == 0
            && now.saturating_duration_since(self.last_tx) > self.rtt.rto()
            && self.recovery.is_none()
        {
            self.cc.on_idle_restart(mss);
        }
        if self.tlp_needed {
            self.tlp_needed = false;
            sent |= self.send_tlp_probe(now, env, stats, out);
        }
        // RFC 5682 2 / 3.1 step 2b: after a timeout's first retransmission
        // was acknowledged, F-RTO sends "up to two new (previously unsent)
        // segments", not the retransmissions the timeout presumed lost;
        // when none could go, the conventional recovery takes over at
        // once. More than two would fill the window with data whose ACKs,
        // if the loss was real, only come after the retransmissions: the
        // conventional recovery of step 3a would then have no room to
        // retransmit and wait for a second timeout.
        let frto = self.frto_recover();
        let new_cap = match frto {
            Some(recover) => (recover + 2 * mss).wrapping_sub(self.snd_nxt).max(0) as usize,
            None => usize::MAX,
        };
        sent |= self.send_segments(frto.is_none(), new_cap, now, env, stats, out);
        if frto.is_some_and(|recover| self.snd_nxt == recover) {
            self.frto_fall_back();
            sent |= self.send_segments(true, usize::MAX, now, env, stats, out);
        }
        if sent {
            // RFC 8985 7.2: a PTO after sending new data.
            self.arm_pto(now);
        }
        sent
    }

    /// Retransmissions (if `retransmit`) and new data within the windows
    /// and at most `new_cap` new octets; returns whether anything went.
    #[allow(clippy::too_many_arguments)]
    fn send_segments(
        &mut self,
        retransmit: bool,
        mut new_cap: usize,
        now: Instant,
        env: &TxEnv,
        stats: &mut TcpStats,
        out: &mut Vec<PacketBuffer>,
    ) -> bool {
        let mss = self.seg_mss();
        let mut sent = false;
        let max_chunk = if env.gso_max > mss {
            env.gso_max / mss * mss
        } else {
            mss
        };
        let l3 = if self.remote.is_ipv4() { 20 } else { 40 };
        for _ in 0..4096 {
            let pipe = self.pipe();
            let room = self.send_room(pipe);
            if self.sack_enabled {
                // RFC 6675 5 (C) NextSeg rule 1 with RACK's losses
                // (RFC 8985 6.2): the first segment marked lost. The first
                // retransmission of an episode goes regardless of the
                // window (RFC 5681 3.2 step 3).
                let force = self.recovery.is_some_and(|r| r.force);
                if retransmit && self.rack.has_lost() && (room > 0 || force) {
                    if let Some((s, len)) = self.rack.next_lost(mss) {
                        self.send_range(s, len, true, now, env, stats, out);
                        self.rack.on_retransmit(s, now);
                        self.prr_sent(len);
                        sent = true;
                        continue;
                    }
                }
            } else if let Some(mut rec) = self.recovery.filter(|_| retransmit) {
                // Without SACK: NewReno's retransmissions (RFC 6582 3.2),
                // or everything after an RTO or a path MTU drop.
                if room > 0 || rec.force {
                    let from = rec.high_rxt.max(self.snd_una);
                    if let Some((s, hole_end)) =
                        self.scoreboard
                            .next_hole(from, rec.lost_limit, self.snd_nxt)
                    {
                        let mut len = (hole_end.wrapping_sub(s).max(0) as usize)
                            .min(max_chunk)
                            .min(room.max(1).div_ceil(mss) * mss);
                        if len > mss && l3 + 60 + len <= env.link_mtu {
                            len = mss;
                        }
                        if len > 0 {
                            self.send_range(s, len, true, now, env, stats, out);
                            rec.high_rxt = s + len;
                            rec.force = false;
                            self.recovery = Some(rec);
                            sent = true;
                            continue;
                        }
                    }
                }
            }
            // New data (and the FIN).
            let tx_seq = self.tx_seq();
            let data_end = tx_seq + self.tx.len();
            let end = match self.fin_seq() {
                Some(f) => f + 1,
                None => data_end,
            };
            let avail = end.wrapping_sub(self.snd_nxt).max(0) as usize;
            if avail == 0 {
                break;
            }
            let wnd_room = (self.snd_una + self.snd_wnd)
                .wrapping_sub(self.snd_nxt)
                .max(0) as usize;
            let cwnd_room = room.min(new_cap);
            let flight = self.flight();
            if wnd_room == 0 {
                // RFC 9293 3.8.6.1: probe a zero window once nothing is in
                // flight to carry a window update back.
                if self.snd_wnd == 0 && flight == 0 && self.persist_deadline.is_none() {
                    self.persist_deadline = Some(now + self.rtt.rto());
                }
                break;
            }
            let mut len = avail.min(wnd_room).min(cwnd_room).min(max_chunk);
            if len == 0 {
                break;
            }
            // A FIN alone (all data sent) may always go.
            let fin_only = avail == 1 && self.fin_queued;
            if len < mss && !fin_only {
                // RFC 9293 3.8.6.2.1 sender SWS avoidance: a short segment
                // only if it is all there is, or nothing is in flight.
                if len < avail && flight > 0 {
                    break;
                }
                // RFC 896 Nagle: hold a short tail while data is
                // unacknowledged.
                if self.nagle && flight > 0 {
                    break;
                }
            }
            if len > mss && len < avail {
                // RFC 9293 3.8.6.2.1: while more data waits, whole
                // segments only, as the per-segment path sends; the rest
                // of a window counted in bytes waits for the next ACK. A
                // GSO cut at a SACK-shrunk size would otherwise end in a
                // runt (120 bytes after ten 1436-byte segments).
                len -= len % mss;
            }
            if len > mss && l3 + 60 + len <= env.link_mtu {
                len = mss;
            }
            self.send_new(len, now, env, stats, out);
            self.prr_sent(len);
            new_cap = new_cap.saturating_sub(len);
            sent = true;
        }
        sent
    }

    /// Send `len` new octets at SND.NXT and record them for RACK.
    fn send_new(
        &mut self,
        len: usize,
        now: Instant,
        env: &TxEnv,
        stats: &mut TcpStats,
        out: &mut Vec<PacketBuffer>,
    ) {
        let start = self.snd_nxt;
        self.send_range(start, len, false, now, env, stats, out);
        self.snd_nxt += len;
        if self.sack_enabled {
            let mss = self.seg_mss();
            self.rack.on_send_new(start, self.snd_nxt, mss, now);
        }
    }

    /// RFC 8985 7.3: the PTO fired. Send one segment of new data if there
    /// is any and the peer's window allows, else retransmit the last
    /// segment; either way regardless of cwnd. Then re-arm the RTO.
    fn send_tlp_probe(
        &mut self,
        now: Instant,
        env: &TxEnv,
        stats: &mut TcpStats,
        out: &mut Vec<PacketBuffer>,
    ) -> bool {
        if self.recovery.is_some() || self.rack.tlp.is_some() || self.flight() == 0 {
            return false;
        }
        let mss = self.seg_mss();
        let tx_end = self.tx_seq() + self.tx.len();
        let end = match self.fin_seq() {
            Some(f) => f + 1,
            None => tx_end,
        };
        let avail = end.wrapping_sub(self.snd_nxt).max(0) as usize;
        let wnd_room = (self.snd_una + self.snd_wnd)
            .wrapping_sub(self.snd_nxt)
            .max(0) as usize;
        let is_retrans = if avail > 0 && wnd_room > 0 {
            let len = avail.min(wnd_room).min(mss);
            self.send_new(len, now, env, stats, out);
            false
        } else if let Some((s, len)) = self.rack.tail_span(mss + 1) {
            self.send_range(s, len, true, now, env, stats, out);
            self.rack.on_retransmit_span(s, s + len, now);
            true
        } else {
            return false;
        };
        self.rack.tlp = Some(TlpEpisode {
            end_seq: self.snd_nxt,
            is_retrans,
        });
        self.counters.tlp_probes += 1;
        stats.tlp_probes += 1;
        self.pto_deadline = None;
        self.rtx_deadline = Some(now + self.rtt.rto());
        true
    }

    /// Send the sequence range `[s, s + len)` of the send buffer (and the
    /// FIN if the range covers it).
    #[allow(clippy::too_many_arguments)]
    fn send_range(
        &mut self,
        s: Seq,
        len: usize,
        retransmit: bool,
        now: Instant,
        env: &TxEnv,
        stats: &mut TcpStats,
        out: &mut Vec<PacketBuffer>,
    ) {
        let tx_seq = self.tx_seq();
        let data_end = tx_seq + self.tx.len();
        let stop = (s + len).min(data_end);
        let data_len = stop.wrapping_sub(s).max(0) as usize;
        let fin = self.fin_seq().is_some_and(|f| s <= f && f < s + len);
        let control = if fin {
            TcpControl::Fin
        } else if data_len > 0 && s + data_len == data_end {
            TcpControl::Psh
        } else {
            TcpControl::None
        };
        let spec = SegSpec {
            seq: s,
            control,
            data_off: s.wrapping_sub(tx_seq).max(0) as usize,
            data_len,
            syn: false,
        };
        self.emit(&spec, now, env, stats, out);
        let segs = data_len.div_ceil(self.mss.max(1)).max(1) as u64;
        self.counters.bytes_sent += data_len as u64;
        if retransmit {
            self.counters.retransmits += segs;
            stats.retransmitted_segs += segs;
            self.undo_note_retransmit(s, segs, now);
            // Karn: no sample from a retransmitted range.
            self.rtt.timing = None;
        } else if self.rtt.timing.is_none() && !self.ts_enabled {
            self.rtt.timing = Some((s, now));
        }
        if self.rtx_deadline.is_none() {
            // RFC 6298 5.1.
            self.rtx_deadline = Some(now + self.rtt.rto());
        }
        self.last_tx = now;
    }

    /// Build one segment (or one GSO packet) and append it to `out`.
    fn emit(
        &mut self,
        spec: &SegSpec,
        now: Instant,
        env: &TxEnv,
        stats: &mut TcpStats,
        out: &mut Vec<PacketBuffer>,
    ) {
        let syn_sent = spec.syn && self.state == TcpState::SynSent;
        let ack_number = (!syn_sent).then_some(self.rcv_nxt);
        let window_len = if spec.control == TcpControl::Rst {
            0
        } else {
            self.advertise_window(spec.syn)
        };
        let timestamp = if self.ts_enabled || (syn_sent && self.ts_wanted) {
            Some(TcpTimestampRepr {
                tsval: self.ts_now(now),
                tsecr: if syn_sent { 0 } else { self.ts_recent },
            })
        } else {
            None
        };
        // Before the DSACK is taken below: the segment size allows for it.
        let seg_mss = self.seg_mss();
        let mut sack_ranges = [None; 4];
        if self.sack_enabled && !spec.syn && spec.control != TcpControl::Rst {
            let max = if timestamp.is_some() { 3 } else { 4 };
            // RFC 2883 4: a DSACK block goes first, then the SACK blocks
            // with the most recently received first (RFC 2018 4).
            let dsack = self.dsack.take().map(|(a, b)| (a.as_u32(), b.as_u32()));
            let blocks = self.ooo.sack_blocks(max).map(|(a, b)| {
                (
                    (self.rcv_nxt + a as usize).as_u32(),
                    (self.rcv_nxt + b as usize).as_u32(),
                )
            });
            for (slot, blk) in sack_ranges
                .iter_mut()
                .zip(dsack.into_iter().chain(blocks).take(max))
            {
                *slot = Some(blk);
            }
        }
        let (max_seg_size, window_scale, sack_permitted) = if spec.syn {
            let ws = if syn_sent {
                self.ws_wanted.then_some(self.rcv_wscale)
            } else {
                // SYN-ACK: only if the peer offered it (RFC 7323 1.3).
                self.peer_sent_ws.then_some(self.rcv_wscale)
            };
            let sp = if syn_sent {
                self.sack_wanted
            } else {
                self.sack_enabled
            };
            (Some(self.our_mss), ws, sp)
        } else {
            (None, None, false)
        };
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            control: spec.control,
            seq_number: spec.seq,
            ack_number,
            window_len,
            window_scale,
            max_seg_size,
            sack_permitted,
            sack_ranges,
            timestamp,
            payload: &[],
        };
        let hdr = repr.header_len();
        let (src, dst) = (self.route.src, self.route.dst);
        let segs = if spec.data_len > seg_mss && env.gso_max > 0 {
            // Software GSO: the header is built once as a template and
            // each MSS-sized segment is cut straight from the send ring
            // into a pooled frame, its payload copied once with the
            // checksum taken in the same pass (gso.rs). The network layer
            // only adds the IP header.
            let mut template = [0u8; 60];
            let hdr_bytes = &mut template[..hdr];
            repr.emit(
                &mut TcpPacket::new_unchecked(&mut hdr_bytes[..]),
                &src,
                &dst,
                false,
            );
            let payload = self.tx.slices(spec.data_off, spec.data_len);
            match TcpTemplate::new(&[], hdr_bytes, src, dst, !env.csum_offload, seg_mss) {
                Ok(t) => {
                    let first = out.len();
                    let n = t.cut([payload.0, payload.1], env.headroom, out);
                    for (i, p) in out[first..].iter_mut().enumerate() {
                        p.gso_cut = if i == 0 { GsoCut::First } else { GsoCut::Rest };
                    }
                    n
                }
                // Not reachable: the header was just emitted and
                // seg_mss >= 1. Sending nothing leaves the range to the
                // retransmission timer rather than sending it malformed.
                Err(_) => 0,
            }
        } else {
            out.push(self.build_segment(&repr, spec, env));
            spec.data_len.div_ceil(seg_mss).max(1)
        } as u64;
        self.counters.segs_out += segs;
        stats.segs_out += segs;
        if ack_number.is_some() {
            self.last_ack_sent = self.rcv_nxt;
            self.ack_now = false;
            self.ack_deadline = None;
            self.segs_unacked = 0;
        }
    }

    /// Build one segment of at most one MSS in its own buffer: headroom
    /// and header zeroed, the payload appended straight from the send
    /// ring (written once, never zero-filled first), then the checksum
    /// over the whole segment unless the link computes it.
    fn build_segment(&self, repr: &TcpRepr, spec: &SegSpec, env: &TxEnv) -> PacketBuffer {
        let hdr = repr.header_len();
        let total = hdr + spec.data_len;
        let (src, dst) = (self.route.src, self.route.dst);
        let mut storage = Vec::with_capacity(env.headroom + total);
        storage.resize(env.headroom + hdr, 0);
        if spec.data_len > 0 {
            self.tx
                .peek_extend(spec.data_off, spec.data_len, &mut storage);
        }
        storage.resize(env.headroom + total, 0);
        let mut pkt = PacketBuffer::from_storage(
            storage.into_boxed_slice(),
            env.headroom,
            env.headroom + total,
        );
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut pkt.as_mut_slice()[..hdr]),
            &src,
            &dst,
            false,
        );
        if !env.csum_offload {
            TcpPacket::new_unchecked(pkt.as_mut_slice()).fill_checksum(&src, &dst);
        }
        pkt
    }
}
