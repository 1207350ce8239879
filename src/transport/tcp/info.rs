//! Connection information, modelled on Linux's `TCP_INFO` (`struct
//! tcp_info`).

use super::connection::TcpConnection;
use super::TcpState;
use crate::time::Duration;

/// A snapshot of one connection's state and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// The RFC 9293 state.
    pub state: TcpState,
    /// Congestion window, bytes.
    pub cwnd: usize,
    /// Slow-start threshold, bytes (very large until the first loss).
    pub ssthresh: usize,
    /// Smoothed RTT (RFC 6298), if measured.
    pub srtt: Option<Duration>,
    /// RTT variance.
    pub rttvar: Duration,
    /// Current retransmission timeout, backoff included.
    pub rto: Duration,
    /// Consecutive timeouts without progress (`tcpi_backoff`).
    pub backoff: u32,
    /// Segments retransmitted (`tcpi_total_retrans`).
    pub retransmits: u64,
    /// Fast retransmit episodes.
    pub fast_retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Payload bytes acknowledged by the peer (`tcpi_bytes_acked`).
    pub bytes_acked: u64,
    /// Payload bytes received in order (`tcpi_bytes_received`).
    pub bytes_received: u64,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Segments received.
    pub segs_in: u64,
    /// Segments sent.
    pub segs_out: u64,
    /// Payload bytes per segment we send (`tcpi_snd_mss`).
    pub mss: usize,
    /// The MSS we advertised (`tcpi_advmss`).
    pub advertised_mss: u16,
    /// The path MTU.
    pub pmtu: usize,
    /// The peer's receive window, bytes.
    pub snd_wnd: usize,
    /// Our receive window as last advertised, bytes.
    pub rcv_wnd: usize,
    /// Window scale we apply to the peer's window (`tcpi_snd_wscale`).
    pub snd_wscale: u8,
    /// Window scale the peer applies to ours (`tcpi_rcv_wscale`).
    pub rcv_wscale: u8,
    /// Timestamps in use (RFC 7323).
    pub timestamps: bool,
    /// SACK in use (RFC 2018).
    pub sack: bool,
    /// Bytes sent and not yet acknowledged.
    pub unacked: usize,
    /// Duplicate ACKs received.
    pub dup_acks: u64,
    /// Bytes queued to send (not yet acknowledged).
    pub send_queue: usize,
    /// Bytes received and not yet read.
    pub recv_queue: usize,
    /// Memory allocated behind the send queue, bytes (grows with use up to
    /// the send buffer; given back after the queue stays empty, see
    /// `TcpConfig::buffer_idle_release`). Like the `tb` of `ss -m`.
    pub send_memory: usize,
    /// Memory allocated behind the receive queue, bytes (likewise; `rb`).
    pub recv_memory: usize,
    /// Out-of-order segments dropped because the reassembly bound was hit.
    pub ooo_dropped: u64,
    /// Whether loss recovery is under way.
    pub in_recovery: bool,
    /// Tail loss probes sent (RFC 8985 7.3).
    pub tlp_probes: u64,
    /// Losses a tail loss probe repaired (RFC 8985 7.4.2).
    pub tlp_recoveries: u64,
    /// ACKs on which RACK marked segments lost (RFC 8985 6.2).
    pub rack_losses: u64,
    /// DSACK blocks received (RFC 2883).
    pub dsacks: u64,
    /// Fast-recovery window reductions undone as spurious (RFC 3522 /
    /// RFC 3708).
    pub spurious_undos: u64,
    /// Retransmission timeouts undone as spurious (F-RTO RFC 5682, or
    /// Eifel RFC 3522).
    pub spurious_rto_undos: u64,
    /// RACK saw reordering on this connection (RFC 8985 6.2 step 3).
    pub reordering_seen: bool,
    /// Without SACK: the duplicate ACKs that start fast retransmit, 3
    /// (RFC 5681 DupThresh) until an undone recovery proves deeper
    /// reordering (Linux `tcpi_reordering`).
    pub reordering: u32,
    /// RACK's minimum RTT (RFC 8985 6.2 step 1), once sampled.
    pub min_rtt: Option<Duration>,
}

impl TcpConnection {
    /// The `TCP_INFO` snapshot.
    pub(crate) fn info(&self) -> TcpInfo {
        TcpInfo {
            state: self.state,
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            srtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            rto: self.rtt.rto(),
            backoff: self.rtt.backoff(),
            retransmits: self.counters.retransmits,
            fast_retransmits: self.counters.fast_retransmits,
            timeouts: self.counters.timeouts,
            bytes_acked: self.counters.bytes_acked,
            bytes_received: self.counters.bytes_received,
            bytes_sent: self.counters.bytes_sent,
            segs_in: self.counters.segs_in,
            segs_out: self.counters.segs_out,
            mss: self.mss,
            advertised_mss: self.our_mss,
            pmtu: self.pmtu,
            snd_wnd: self.snd_wnd,
            rcv_wnd: self.rcv_wnd(),
            snd_wscale: self.snd_wscale,
            rcv_wscale: self.rcv_wscale,
            timestamps: self.ts_enabled,
            sack: self.sack_enabled,
            unacked: self.flight(),
            dup_acks: self.counters.dup_acks_in,
            send_queue: self.tx.len(),
            recv_queue: self.rx.len(),
            send_memory: self.tx.allocated(),
            recv_memory: self.rx.allocated(),
            ooo_dropped: self.counters.ooo_dropped,
            in_recovery: self.recovery.is_some(),
            tlp_probes: self.counters.tlp_probes,
            tlp_recoveries: self.counters.tlp_recoveries,
            rack_losses: self.counters.rack_losses,
            dsacks: self.rack.dsacks,
            spurious_undos: self.counters.spurious_undos,
            spurious_rto_undos: self.counters.spurious_rto_undos,
            reordering_seen: self.rack.reordering_seen,
            reordering: self.reordering,
            min_rtt: self.rack.min_rtt(),
        }
    }
}
