//! TCP (RFC 9293) with window scaling and timestamps (RFC 7323), SACK
//! (RFC 2018, RFC 6675), RTO (RFC 6298), congestion control (RFC 5681,
//! RFC 6582, RFC 9438), challenge ACKs (RFC 5961) and SYN cookies
//! (RFC 4987).
//!
//! The split follows gVisor's `transport/tcp`:
//!
//! | file | what |
//! |---|---|
//! | [`connection`] | the TCB, state machine and receive path (RFC 9293 3.10.7) |
//! | `send.rs` | which segments go out, building them, GSO (RFC 9293 3.8.6, RFC 6675 NextSeg) |
//! | `recv.rs` | out-of-order assembler with a memory bound, SACK blocks we send |
//! | `sack.rs` | the sender's SACK scoreboard (RFC 6675 pipe, holes) |
//! | `rack.rs` | RACK-TLP loss detection (RFC 8985) with per-segment transmit times |
//! | `undo.rs` | undoing spurious window reductions and timeouts (Eifel RFC 3522, DSACK RFC 3708, F-RTO RFC 5682, RFC 9438 4.9) |
//! | `rtt.rs` | SRTT/RTTVAR/RTO (RFC 6298) |
//! | `timer.rs` | retransmit, persist, delayed ACK, keepalive, idle buffers, TIME-WAIT |
//! | [`congestion`] | the [`CongestionControl`](congestion::CongestionControl) trait, NewReno, CUBIC |
//! | `listen.rs` | listeners, SYN backlog, SYN cookies, ISS (RFC 6528) |
//! | `ring.rs` | send/receive byte rings |
//! | `buffers.rs` | giving idle rings' memory back |
//! | `info.rs` | [`TcpInfo`] (Linux `TCP_INFO`) |
//! | `api.rs` | the socket-like [`Stack`] API and the glue to the demux and timers |
//!
//! Segments that match no endpoint are answered with a reset, as RFC 9293
//! 3.10.7.1 asks of a CLOSED port.

use crate::buffer::PacketBuffer;
use crate::link::Capabilities;
use crate::network::L4Info;
use crate::stack::{DropReason, Stack};
use crate::time::{Duration, Instant};
use crate::transport::demux::Lookup;
use crate::wire::tcp::{TcpControl, TcpPacket, TcpRepr, TcpSeqNumber};
use crate::wire::{Error as WireError, IpProtocol};

mod api;
mod buffers;
pub mod congestion;
pub mod connection;
mod info;
mod listen;
mod rack;
mod recv;
mod ring;
mod rtt;
mod sack;
mod send;
mod timer;
mod undo;

pub use api::TcpTable;
pub use congestion::CongestionAlgorithm;
pub use connection::Keepalive;
pub use info::TcpInfo;

/// Connection states (RFC 9293 3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// No connection.
    Closed,
    /// Waiting for a connection request.
    Listen,
    /// SYN sent, waiting for the matching SYN.
    SynSent,
    /// SYN received and sent, waiting for its acknowledgment.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We closed; our FIN is not yet acknowledged.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's.
    FinWait2,
    /// The peer closed; waiting for the application to close.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed first and so did we; waiting for the last ACK.
    LastAck,
    /// Waiting 2 MSL so that stray segments die (RFC 9293 3.4.2).
    TimeWait,
}

/// Why a TCP call failed or a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpError {
    /// The handle names no TCP endpoint.
    UnknownHandle,
    /// The handle names a listener where a connection is needed, or the
    /// other way round.
    WrongKind,
    /// The address and port are in use.
    AddressInUse,
    /// The local address is not one of ours.
    AddressNotAvailable,
    /// No free ephemeral port maps to this shard.
    NoFreePort,
    /// The destination cannot be routed.
    NoRoute,
    /// Local and remote address families differ.
    AddressFamilyMismatch,
    /// The flow belongs to another shard (its flow hash maps there).
    WrongShard {
        /// The shard that owns the flow.
        owner: usize,
    },
    /// Nothing to read or no room to write right now.
    WouldBlock,
    /// The operation is not allowed in this state (e.g. send after
    /// shutdown).
    InvalidState,
    /// The peer reset the connection (RFC 9293 3.10.7.4).
    ConnectionReset,
    /// The peer refused the connection (RST in SYN-SENT).
    ConnectionRefused,
    /// Retransmissions, probes or the user timeout ran out.
    TimedOut,
    /// The connection was aborted locally.
    Aborted,
}

impl core::fmt::Display for TcpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TcpError::UnknownHandle => "no such TCP endpoint",
            TcpError::WrongKind => "wrong kind of TCP endpoint for this call",
            TcpError::AddressInUse => "address and port already in use",
            TcpError::AddressNotAvailable => "local address is not assigned to any NIC",
            TcpError::NoFreePort => "no free ephemeral port",
            TcpError::NoRoute => "no route to destination",
            TcpError::AddressFamilyMismatch => "local and remote address families differ",
            TcpError::WrongShard { owner } => {
                return write!(
                    f,
                    "the flow belongs to shard {owner}: connect from that shard's stack"
                )
            }
            TcpError::WouldBlock => "operation would block",
            TcpError::InvalidState => "not allowed in this connection state",
            TcpError::ConnectionReset => "connection reset by peer",
            TcpError::ConnectionRefused => "connection refused",
            TcpError::TimedOut => "connection timed out",
            TcpError::Aborted => "connection aborted",
        })
    }
}

impl std::error::Error for TcpError {}

/// TCP settings of one stack (Linux's `net.ipv4.tcp_*` sysctls).
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// Maximum segment lifetime; TIME-WAIT lasts 2 MSL (RFC 9293 3.4.2).
    /// Default 30 s (Linux's 60 s TIME-WAIT).
    pub msl: Duration,
    /// RTO before any RTT sample (RFC 6298 2.1: 1 s).
    pub initial_rto: Duration,
    /// Lower bound of the RTO: 200 ms like Linux (RFC 6298 2.4 says 1 s).
    pub min_rto: Duration,
    /// Upper bound of the RTO (RFC 6298 2.5; Linux 120 s).
    pub max_rto: Duration,
    /// Retransmission timeouts before the connection is aborted
    /// (RFC 9293 3.8.3 R2; Linux `tcp_retries2` = 15).
    pub max_retries: u32,
    /// SYN retransmissions before a connect fails (Linux `tcp_syn_retries`).
    pub syn_retries: u32,
    /// Abort when data stays unacknowledged this long (RFC 5482
    /// `TCP_USER_TIMEOUT`); `None`: only `max_retries` applies.
    pub user_timeout: Option<Duration>,
    /// Delayed ACK timeout (RFC 9293 3.8.6.3: under 500 ms; Linux 40 ms).
    /// Zero ACKs every segment.
    pub delayed_ack: Duration,
    /// Nagle's algorithm (RFC 896) on new connections.
    pub nagle: bool,
    /// Largest send queue per connection, bytes. Below it the queue is
    /// auto-tuned to four congestion windows (at least 64 KiB), so the
    /// memory a connection uses follows its window, as Linux's `tcp_wmem`
    /// maximum with `tcp_sndbuf_expand`.
    pub send_buffer: usize,
    /// Receive buffer per connection, bytes; it bounds the receive window
    /// and the out-of-order data held.
    pub recv_buffer: usize,
    /// Give the memory behind a connection's send or receive queue back
    /// once the queue has stayed empty this long (it grows again on the
    /// next write); `None` keeps it for the connection's life. Default
    /// 1 s. See `buffers.rs`.
    pub buffer_idle_release: Option<Duration>,
    /// Offer window scaling (RFC 7323 2).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 3).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Detect spurious retransmission timeouts with F-RTO (RFC 5682) and
    /// undo them (Linux `tcp_frto`, on by default). Off, an RTO is undone
    /// only when timestamps prove it spurious (Eifel, RFC 3522). See
    /// `undo.rs`.
    pub frto: bool,
    /// Congestion control for new connections.
    pub congestion: CongestionAlgorithm,
    /// Keepalive for new connections; off by default (RFC 1122 4.2.3.6).
    pub keepalive: Option<Keepalive>,
    /// Answer SYNs beyond a listener's backlog with SYN cookies (RFC 4987).
    pub syn_cookies: bool,
    /// How long an orphaned connection waits in FIN-WAIT-2 (Linux
    /// `tcp_fin_timeout`).
    pub fin_wait2_timeout: Duration,
    /// Challenge ACKs per connection per second (RFC 5961 7).
    pub challenge_ack_limit: u32,
    /// Secret for initial sequence numbers, timestamp offsets and SYN
    /// cookies (RFC 6528). Set it from OS entropy: the stack never reads
    /// one itself.
    pub secret: u64,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            msl: Duration::from_secs(30),
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(120),
            max_retries: 15,
            syn_retries: 6,
            user_timeout: None,
            delayed_ack: Duration::from_millis(40),
            nagle: true,
            send_buffer: 1 << 20,
            recv_buffer: 1 << 20,
            buffer_idle_release: Some(buffers::DEFAULT_BUFFER_IDLE_RELEASE),
            window_scaling: true,
            timestamps: true,
            sack: true,
            frto: true,
            congestion: CongestionAlgorithm::Cubic,
            keepalive: None,
            syn_cookies: true,
            fin_wait2_timeout: Duration::from_secs(60),
            challenge_ack_limit: 100,
            secret: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

/// Stack-wide TCP counters (Linux's `TcpExt`/`Tcp` MIB subset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Connections opened with `tcp_connect` (`ActiveOpens`).
    pub active_opens: u64,
    /// Connections created from a SYN (`PassiveOpens`).
    pub passive_opens: u64,
    /// Segments sent (`OutSegs`; a GSO packet counts its segments).
    pub segs_out: u64,
    /// Segments received for an endpoint (`InSegs`).
    pub segs_in: u64,
    /// Segments retransmitted (`RetransSegs`).
    pub retransmitted_segs: u64,
    /// Fast retransmit episodes.
    pub fast_retransmits: u64,
    /// Tail loss probes sent (RFC 8985 7.3).
    pub tlp_probes: u64,
    /// Losses repaired by a tail loss probe (RFC 8985 7.4.2).
    pub tlp_recoveries: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Connections aborted by timeouts.
    pub timeouts_aborted: u64,
    /// Resets sent by connections (aborts).
    pub resets_sent: u64,
    /// Acceptable resets received.
    pub resets_received: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Segments failing the sequence test (answered with an ACK).
    pub out_of_window: u64,
    /// ACKs outside the acceptable range (RFC 5961 5.2).
    pub bad_acks: u64,
    /// Segments rejected by PAWS (RFC 7323 5).
    pub paws_rejected: u64,
    /// Out-of-order segments dropped by the reassembly bound.
    pub ooo_dropped: u64,
    /// SYN cookies sent.
    pub syncookies_sent: u64,
    /// Valid SYN cookies received.
    pub syncookies_recv: u64,
    /// Invalid SYN cookies received.
    pub syncookies_failed: u64,
    /// SYNs dropped at a full accept queue or SYN backlog
    /// (`ListenOverflows`/`ListenDrops`).
    pub listen_drops: u64,
    /// ICMP errors that lowered a connection's path MTU.
    pub pmtu_updates: u64,
    /// Times a connection's output waited a poll for its NIC's transmit
    /// queue (half the backlog or more queued).
    pub output_deferred: u64,
    /// Malformed or otherwise dropped segments (also counted in the stack's
    /// drop counters).
    pub dropped: u64,
    /// Send or receive queues whose memory was given back after staying
    /// empty for [`TcpConfig::buffer_idle_release`].
    pub buffers_released: u64,
    /// Fast-recovery episodes whose window reduction was undone because
    /// every retransmission proved unnecessary (Eifel or DSACK).
    pub spurious_undos: u64,
    /// Retransmission timeouts whose window reduction was undone because
    /// they proved spurious (F-RTO, RFC 5682, or Eifel, RFC 3522; Linux
    /// `TCPSpuriousRTOs`).
    pub spurious_rto_undos: u64,
}

impl Stack {
    /// Receive a TCP segment addressed to us.
    pub(crate) fn process_tcp(&mut self, info: L4Info, pkt: PacketBuffer, now: Instant) {
        let verify = !pkt.csum_verified
            && !self.nics[info.nic]
                .caps
                .contains(Capabilities::RX_CHECKSUM_OFFLOAD);
        let data = &pkt.as_slice()[info.l4_offset..];
        let repr = match TcpPacket::new_checked(data)
            .and_then(|p| TcpRepr::parse(&p, &info.src, &info.dst, verify))
        {
            Ok(r) => r,
            Err(WireError::Checksum) => {
                self.tcp.stats.dropped += 1;
                return self.drop_packet(DropReason::TcpBadChecksum);
            }
            Err(_) => {
                self.tcp.stats.dropped += 1;
                return self.drop_packet(DropReason::TcpMalformed);
            }
        };
        // RFC 9293 3.9.1 / RFC 1122 4.2.3.10: port 0 and group destinations
        // are not valid for TCP.
        if repr.src_port == 0 || repr.dst_port == 0 {
            self.tcp.stats.dropped += 1;
            return self.drop_packet(DropReason::TcpMalformed);
        }
        match self.demux.lookup(
            IpProtocol::Tcp,
            info.dst,
            repr.dst_port,
            info.src,
            repr.src_port,
        ) {
            Lookup::OtherPartition(owner) => self.hand_off(owner, info.nic, pkt),
            Lookup::Found(h) if !info.dst_is_group => self.tcp_input(h, &info, &repr, now),
            _ => {
                self.drop_packet(DropReason::NoListener);
                if info.dst_is_group {
                    return;
                }
                self.send_tcp_reset(&info, &repr, now);
            }
        }
    }

    /// RFC 9293 3.10.7.1: in CLOSED, an incoming RST is discarded; any other
    /// segment gets a RST — `<SEQ=SEG.ACK><CTL=RST>` when it carried an ACK,
    /// else `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
    pub(crate) fn send_tcp_reset(&mut self, info: &L4Info, seg: &TcpRepr, now: Instant) {
        if seg.control == TcpControl::Rst {
            return;
        }
        let (seq_number, ack_number) = match seg.ack_number {
            Some(ack) => (ack, None),
            None => (TcpSeqNumber(0), Some(seg.seq_number + seg.segment_len())),
        };
        let rst = TcpRepr {
            src_port: seg.dst_port,
            dst_port: seg.src_port,
            control: TcpControl::Rst,
            seq_number,
            ack_number,
            window_len: 0,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 4],
            timestamp: None,
            payload: &[],
        };
        let Ok(route) = self.route_output(Some(info.dst), info.src, Some(info.nic)) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let mut pkt = PacketBuffer::new(self.l4_headroom(), rst.buffer_len());
        rst.emit(
            &mut TcpPacket::new_unchecked(pkt.append(rst.buffer_len())),
            &route.src,
            &route.dst,
            true,
        );
        self.send_ip(&route, IpProtocol::Tcp, None, pkt, now);
    }
}
