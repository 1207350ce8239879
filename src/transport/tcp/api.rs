//! The socket-like TCP API of a [`Stack`] and the glue between
//! connections, the demux, the timer heap and the output path.
//!
//! No thread per connection: the application calls `tcp_*` with a
//! [`Handle`], and [`Stack::poll`] moves segments. Listeners are registered
//! in the demux under their bound address (a worker replicates a listener
//! by calling [`Stack::tcp_listen`] on every shard's stack; the demux hands
//! each SYN to the shard that owns its flow). Connections are registered
//! under their 4-tuple in the partition that owns it; `tcp_connect` picks
//! an ephemeral port whose reply hash maps to this shard
//! ([`Demuxer::pick_ephemeral_port`](crate::transport::demux::Demuxer::pick_ephemeral_port)).
//!
//! Output is coalesced per poll: receiving marks a connection dirty, and
//! the timer phase of the poll dispatches every dirty connection once, so a
//! burst of segments read in one poll is answered by one ACK.

use core::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;

use super::connection::{Keepalive, TcpConnection, Verdict};
use super::info::TcpInfo;
use super::listen::{self, TcpListener, COOKIE_MSS};
use super::send::TxEnv;
use super::{TcpConfig, TcpError, TcpState, TcpStats};
use crate::buffer::PacketBuffer;
use crate::link::Capabilities;
use crate::network::output::OutRoute;
use crate::network::L4Info;
use crate::stack::{DropReason, Stack};
use crate::time::Instant;
use crate::transport::demux::{Lookup, RegisterError, TransportEndpointId};
use crate::transport::udp::EPHEMERAL_PORTS;
use crate::transport::{ControlEvent, ControlType, Handle, Slab};
use crate::wire::tcp::{TcpControl, TcpPacket, TcpRepr, TcpSeqNumber as Seq, TcpTimestampRepr};
use crate::wire::IpProtocol;

/// A TCP endpoint: a listener or a connection.
#[derive(Debug)]
pub(crate) enum TcpSocket {
    Listener(TcpListener),
    Conn(Box<TcpConnection>),
}

/// The TCP endpoints of one stack, its settings, counters and timers.
#[derive(Debug, Default)]
pub struct TcpTable {
    pub(crate) sockets: Slab<TcpSocket>,
    pub(crate) config: TcpConfig,
    pub(crate) stats: TcpStats,
    /// Connections with output to produce this poll.
    dirty: Vec<Handle>,
    /// (deadline, connection), earliest first; entries may be stale.
    timers: BinaryHeap<Reverse<(Instant, Handle)>>,
    scratch: Vec<PacketBuffer>,
}

impl TcpTable {
    /// When TCP next needs a poll.
    pub(crate) fn poll_at(&self) -> Option<Instant> {
        if !self.dirty.is_empty() {
            return Some(Instant::ZERO);
        }
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    fn conn_mut(&mut self, h: Handle) -> Result<&mut TcpConnection, TcpError> {
        match self.sockets.get_mut(h) {
            Some(TcpSocket::Conn(c)) => Ok(c),
            Some(TcpSocket::Listener(_)) => Err(TcpError::WrongKind),
            None => Err(TcpError::UnknownHandle),
        }
    }

    fn conn(&self, h: Handle) -> Result<&TcpConnection, TcpError> {
        match self.sockets.get(h) {
            Some(TcpSocket::Conn(c)) => Ok(c),
            Some(TcpSocket::Listener(_)) => Err(TcpError::WrongKind),
            None => Err(TcpError::UnknownHandle),
        }
    }

    fn mark_dirty(&mut self, h: Handle) {
        if let Some(TcpSocket::Conn(c)) = self.sockets.get_mut(h) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(h);
            }
        }
    }
}

fn register_error(e: RegisterError) -> TcpError {
    match e {
        RegisterError::OtherPartition { owner } => TcpError::WrongShard { owner },
        _ => TcpError::AddressInUse,
    }
}

impl Stack {
    // ---- settings and counters ---------------------------------------

    /// The TCP settings new connections take.
    pub fn tcp_config(&self) -> &TcpConfig {
        &self.tcp.config
    }

    /// Change the TCP settings (they apply to connections opened later).
    pub fn tcp_config_mut(&mut self) -> &mut TcpConfig {
        &mut self.tcp.config
    }

    /// Stack-wide TCP counters.
    pub fn tcp_stats(&self) -> &TcpStats {
        &self.tcp.stats
    }

    // ---- opening -------------------------------------------------------

    /// Listen on `local` (an unspecified address listens on every local
    /// address) with room for `backlog` half-open and `backlog` accepted
    /// but not yet taken connections (RFC 9293 3.10.1 passive OPEN).
    pub fn tcp_listen(&mut self, local: SocketAddr, backlog: usize) -> Result<Handle, TcpError> {
        if local.port() == 0 {
            return Err(TcpError::AddressNotAvailable);
        }
        let local_addr = (!local.ip().is_unspecified()).then_some(local.ip());
        if let Some(a) = local_addr {
            if !self.is_local(&a) {
                return Err(TcpError::AddressNotAvailable);
            }
        }
        let id = TransportEndpointId::bound(local_addr, local.port());
        let h = self.tcp.sockets.insert(TcpSocket::Listener(TcpListener {
            local,
            id,
            backlog: backlog.max(1),
            syn_count: 0,
            accept_queue: Default::default(),
        }));
        if let Err(e) = self.demux.register(IpProtocol::Tcp, id, h) {
            self.tcp.sockets.remove(h);
            return Err(register_error(e));
        }
        Ok(h)
    }

    /// Take the next established connection from a listener.
    pub fn tcp_accept(&mut self, listener: Handle) -> Option<Handle> {
        loop {
            let h = match self.tcp.sockets.get_mut(listener) {
                Some(TcpSocket::Listener(l)) => l.accept_queue.pop_front()?,
                _ => return None,
            };
            if let Some(TcpSocket::Conn(c)) = self.tcp.sockets.get_mut(h) {
                c.parent = None;
                c.in_accept_queue = false;
                return Some(h);
            }
        }
    }

    /// Open a connection to `remote` (RFC 9293 3.10.1 active OPEN). Without
    /// a local port, an ephemeral one is chosen so that the reply's flow
    /// hash maps to this shard.
    pub fn tcp_connect(
        &mut self,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        now: Instant,
    ) -> Result<Handle, TcpError> {
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(TcpError::NoRoute);
        }
        let local_ip = local.map(|l| l.ip()).filter(|a| !a.is_unspecified());
        if let Some(a) = local_ip {
            if a.is_ipv4() != remote.is_ipv4() {
                return Err(TcpError::AddressFamilyMismatch);
            }
            if !self.is_local(&a) {
                return Err(TcpError::AddressNotAvailable);
            }
        }
        let route = self
            .route_output(local_ip, remote.ip(), None)
            .map_err(|_| TcpError::NoRoute)?;
        if route.src.is_ipv4() != remote.is_ipv4() {
            return Err(TcpError::AddressFamilyMismatch);
        }
        let port = match local.map_or(0, |l| l.port()) {
            0 => {
                let span = u32::from(*EPHEMERAL_PORTS.end() - *EPHEMERAL_PORTS.start()) + 1;
                self.ephemeral_cursor = self.ephemeral_cursor.wrapping_add(7919);
                let start = *EPHEMERAL_PORTS.start() + (self.ephemeral_cursor % span) as u16;
                self.demux
                    .pick_ephemeral_port(
                        IpProtocol::Tcp,
                        route.src,
                        remote.ip(),
                        remote.port(),
                        EPHEMERAL_PORTS,
                        start,
                    )
                    .ok_or(TcpError::NoFreePort)?
            }
            p => p,
        };
        let local = SocketAddr::new(route.src, port);
        let mut conn = self.tcp_new_conn(local, remote, route, now);
        conn.open_active(now);
        let h = self.tcp.sockets.insert(TcpSocket::Conn(Box::new(conn)));
        let id = TransportEndpointId::connected(route.src, port, remote.ip(), remote.port());
        if let Err(e) = self.demux.register(IpProtocol::Tcp, id, h) {
            self.tcp.sockets.remove(h);
            return Err(register_error(e));
        }
        if let Ok(c) = self.tcp.conn_mut(h) {
            c.registered = true;
        }
        self.tcp.stats.active_opens += 1;
        self.tcp.mark_dirty(h);
        Ok(h)
    }

    fn tcp_new_conn(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        route: OutRoute,
        now: Instant,
    ) -> TcpConnection {
        let cfg = &self.tcp.config;
        let mtu = self.nics.get(route.nic).map_or(1500, |n| n.mtu);
        let iss = listen::initial_seq(cfg.secret, local, remote, now);
        let ts_off = listen::ts_offset(cfg.secret, local, remote);
        TcpConnection::new(local, remote, route, mtu, iss, ts_off, cfg, now)
    }

    // ---- data ------------------------------------------------------------

    /// Queue bytes to send (RFC 9293 3.10.2 SEND); returns how many the
    /// send buffer took. Allowed from SYN-SENT on (data waits for the
    /// handshake) until the write side is shut down.
    pub fn tcp_send(&mut self, h: Handle, data: &[u8], now: Instant) -> Result<usize, TcpError> {
        let c = self.tcp.conn_mut(h)?;
        if let Some(e) = c.error {
            return Err(e);
        }
        let open = matches!(
            c.state,
            TcpState::SynSent | TcpState::SynReceived | TcpState::Established | TcpState::CloseWait
        );
        if !open || c.fin_queued {
            return Err(TcpError::InvalidState);
        }
        let n = c.queue_send(data);
        if n == 0 && !data.is_empty() {
            return Err(TcpError::WouldBlock);
        }
        // Segments go out now (one GSO packet per 64 KiB written); the NIC
        // batch is flushed by the next poll. While the NIC's transmit
        // queue is half full they wait for that poll instead, as output
        // after an ACK does (see `tcp_output_blocked`): an application
        // refilling hundreds of send queues each poll would overflow it.
        if self.tcp_output_blocked(h) {
            self.tcp.mark_dirty(h);
        } else {
            self.tcp_dispatch_one(h, now);
        }
        Ok(n)
    }

    /// Read received bytes (RFC 9293 3.10.3 RECEIVE). `Ok(0)` means the peer
    /// closed its side and everything was read; [`TcpError::WouldBlock`]
    /// that nothing is there yet.
    pub fn tcp_recv(&mut self, h: Handle, buf: &mut [u8]) -> Result<usize, TcpError> {
        let c = self.tcp.conn_mut(h)?;
        if !c.rx.is_empty() {
            let n = c.rx.read(buf);
            // A window update to send, or a drained queue whose idle time
            // starts now (see buffers.rs): both are noted in a dispatch.
            if c.window_update_due() || (c.rx.is_empty() && c.rx_idle_since.is_none()) {
                self.tcp.mark_dirty(h);
            }
            return Ok(n);
        }
        if c.fin_received {
            return Ok(0);
        }
        if let Some(e) = c.error {
            return Err(e);
        }
        if c.state == TcpState::Closed {
            return Ok(0);
        }
        Err(TcpError::WouldBlock)
    }

    // ---- closing -------------------------------------------------------

    /// Shut down the write side: a FIN follows the queued data (RFC 9293
    /// 3.10.4 CLOSE, as `shutdown(SHUT_WR)`).
    pub fn tcp_shutdown(&mut self, h: Handle) -> Result<(), TcpError> {
        let c = self.tcp.conn_mut(h)?;
        match c.state {
            // RFC 9293 3.10.4: in SYN-SENT, delete the TCB.
            TcpState::SynSent => c.enter_closed(),
            // Queue the FIN; it goes once ESTABLISHED.
            TcpState::SynReceived => c.queue_fin(),
            TcpState::Established => {
                c.queue_fin();
                c.state = TcpState::FinWait1;
            }
            TcpState::CloseWait => {
                c.queue_fin();
                c.state = TcpState::LastAck;
            }
            TcpState::Closed if c.error.is_some() => {
                return Err(c.error.unwrap_or(TcpError::InvalidState))
            }
            _ => {}
        }
        self.tcp.mark_dirty(h);
        Ok(())
    }

    /// Close a connection or listener and give up the handle. A connection
    /// finishes sending and closes gracefully in the background (TIME-WAIT
    /// included); if received data was left unread it is reset instead
    /// (RFC 2525 2.17, as Linux). Closing a listener resets the
    /// connections it had not handed out yet.
    pub fn tcp_close(&mut self, h: Handle) -> Result<(), TcpError> {
        match self.tcp.sockets.get(h) {
            Some(TcpSocket::Listener(_)) => {
                self.tcp_close_listener(h);
                return Ok(());
            }
            None => return Err(TcpError::UnknownHandle),
            Some(TcpSocket::Conn(_)) => {}
        }
        let c = self.tcp.conn_mut(h)?;
        c.orphan = true;
        if !c.rx.is_empty() && c.state != TcpState::Closed {
            c.rst_needed = true;
        } else {
            match c.state {
                TcpState::SynSent | TcpState::Listen => c.enter_closed(),
                TcpState::SynReceived => c.queue_fin(),
                TcpState::Established => {
                    c.queue_fin();
                    c.state = TcpState::FinWait1;
                }
                TcpState::CloseWait => {
                    c.queue_fin();
                    c.state = TcpState::LastAck;
                }
                TcpState::FinWait2 => {
                    let t = self.tcp.config.fin_wait2_timeout;
                    let c = self.tcp.conn_mut(h)?;
                    c.close_deadline = Some(c.last_rx + t);
                }
                _ => {}
            }
        }
        self.tcp.mark_dirty(h);
        Ok(())
    }

    fn tcp_close_listener(&mut self, h: Handle) {
        if let Some(TcpSocket::Listener(l)) = self.tcp.sockets.remove(h) {
            self.demux.unregister(IpProtocol::Tcp, &l.id);
        }
        let children: Vec<Handle> = self
            .tcp
            .sockets
            .iter()
            .filter_map(|(ch, s)| match s {
                TcpSocket::Conn(c) if c.parent == Some(h) => Some(ch),
                _ => None,
            })
            .collect();
        for ch in children {
            if let Ok(c) = self.tcp.conn_mut(ch) {
                c.parent = None;
                c.in_accept_queue = false;
                c.orphan = true;
                c.rst_needed = true;
            }
            self.tcp.mark_dirty(ch);
        }
    }

    /// Abort: send a reset and drop everything (RFC 9293 3.10.5 ABORT). The
    /// handle is released; the reset goes out with the next poll.
    pub fn tcp_abort(&mut self, h: Handle) -> Result<(), TcpError> {
        if let Some(TcpSocket::Listener(_)) = self.tcp.sockets.get(h) {
            self.tcp_close_listener(h);
            return Ok(());
        }
        let c = self.tcp.conn_mut(h)?;
        c.orphan = true;
        match c.state {
            TcpState::Closed | TcpState::Listen | TcpState::SynSent | TcpState::TimeWait => {
                c.enter_closed()
            }
            _ => c.rst_needed = true,
        }
        self.tcp.mark_dirty(h);
        Ok(())
    }

    // ---- readiness and information -----------------------------------

    /// The state of a connection (a listener is `Listen`; an unknown or
    /// released handle is `Closed`).
    pub fn tcp_state(&self, h: Handle) -> TcpState {
        match self.tcp.sockets.get(h) {
            Some(TcpSocket::Conn(c)) => c.state,
            Some(TcpSocket::Listener(_)) => TcpState::Listen,
            None => TcpState::Closed,
        }
    }

    /// Whether `tcp_recv` would return something other than `WouldBlock`
    /// (a listener: whether `tcp_accept` has a connection).
    pub fn tcp_readable(&self, h: Handle) -> bool {
        match self.tcp.sockets.get(h) {
            Some(TcpSocket::Conn(c)) => {
                !c.rx.is_empty()
                    || c.fin_received
                    || c.error.is_some()
                    || c.state == TcpState::Closed
            }
            Some(TcpSocket::Listener(l)) => !l.accept_queue.is_empty(),
            None => false,
        }
    }

    /// Whether `tcp_send` would take at least one byte now.
    pub fn tcp_writable(&self, h: Handle) -> bool {
        self.tcp.conn(h).is_ok_and(|c| {
            matches!(c.state, TcpState::Established | TcpState::CloseWait)
                && !c.fin_queued
                && c.send_space() > 0
        })
    }

    /// Whether the connection is closed (or the handle is unknown).
    pub fn tcp_closed(&self, h: Handle) -> bool {
        self.tcp_state(h) == TcpState::Closed
    }

    /// Why the connection ended, if it failed.
    pub fn tcp_error(&self, h: Handle) -> Option<TcpError> {
        self.tcp.conn(h).ok().and_then(|c| c.error)
    }

    /// `TCP_INFO` for a connection.
    pub fn tcp_info(&self, h: Handle) -> Option<TcpInfo> {
        self.tcp.conn(h).ok().map(|c| c.info())
    }

    /// The local address and port of a connection or listener.
    pub fn tcp_local_addr(&self, h: Handle) -> Option<SocketAddr> {
        match self.tcp.sockets.get(h)? {
            TcpSocket::Conn(c) => Some(c.local),
            TcpSocket::Listener(l) => Some(l.local),
        }
    }

    /// The remote address and port of a connection.
    pub fn tcp_peer_addr(&self, h: Handle) -> Option<SocketAddr> {
        self.tcp.conn(h).ok().map(|c| c.remote)
    }

    /// Turn Nagle's algorithm off (`TCP_NODELAY`) or back on.
    pub fn tcp_set_nodelay(&mut self, h: Handle, nodelay: bool) -> Result<(), TcpError> {
        self.tcp.conn_mut(h)?.nagle = !nodelay;
        self.tcp.mark_dirty(h);
        Ok(())
    }

    /// Turn keepalive on (with its timing) or off (RFC 9293 3.8.4).
    pub fn tcp_set_keepalive(
        &mut self,
        h: Handle,
        keepalive: Option<Keepalive>,
        now: Instant,
    ) -> Result<(), TcpError> {
        let c = self.tcp.conn_mut(h)?;
        c.keepalive = keepalive;
        c.probes_out = 0;
        c.keepalive_deadline = match (keepalive, c.state) {
            (Some(k), TcpState::Established) => Some(now + k.idle),
            _ => None,
        };
        self.tcp.mark_dirty(h);
        Ok(())
    }

    // ---- receive glue ----------------------------------------------------

    /// A segment for endpoint `h` (connection or listener).
    pub(crate) fn tcp_input(&mut self, h: Handle, info: &L4Info, seg: &TcpRepr, now: Instant) {
        self.tcp.stats.segs_in += 1;
        let TcpTable {
            sockets,
            config,
            stats,
            ..
        } = &mut self.tcp;
        let (verdict, acked) = match sockets.get_mut(h) {
            Some(TcpSocket::Conn(c)) => {
                let una = c.snd_una;
                let verdict = c.process(seg, now, config, stats);
                // The connection's route already names the next hop.
                let hop =
                    (c.snd_una != una && !c.route.local).then_some((c.route.nic, c.route.next_hop));
                (verdict, hop)
            }
            Some(TcpSocket::Listener(_)) => return self.tcp_listen_input(h, info, seg, now),
            None => (Verdict::Reset, None),
        };
        if let Some((nic, next_hop)) = acked {
            // RFC 4861 7.3.1: new data acknowledged is forward progress, a
            // reachability confirmation for the peer's next hop.
            self.confirm_next_hop(nic, next_hop, now);
        }
        self.tcp.mark_dirty(h);
        match verdict {
            Verdict::Done => self.tcp_after_input(h),
            Verdict::Reset => self.send_tcp_reset(info, seg, now),
            Verdict::Reopen => {
                // RFC 9293 3.10.7.4 / RFC 6191: drop the TIME-WAIT
                // connection and let a listener take the SYN.
                if let Ok(c) = self.tcp.conn_mut(h) {
                    c.orphan = true;
                    c.enter_closed();
                }
                self.tcp_reap(h);
                match self.demux.lookup(
                    IpProtocol::Tcp,
                    info.dst,
                    seg.dst_port,
                    info.src,
                    seg.src_port,
                ) {
                    Lookup::Found(l)
                        if matches!(self.tcp.sockets.get(l), Some(TcpSocket::Listener(_))) =>
                    {
                        self.tcp_listen_input(l, info, seg, now)
                    }
                    _ => self.send_tcp_reset(info, seg, now),
                }
            }
        }
    }

    /// After input: a passive connection that became established moves to
    /// its listener's accept queue.
    fn tcp_after_input(&mut self, h: Handle) {
        let Ok(c) = self.tcp.conn_mut(h) else { return };
        let Some(lh) = c.parent else { return };
        if c.in_accept_queue || matches!(c.state, TcpState::SynReceived | TcpState::Closed) {
            return;
        }
        if c.fin_queued && c.state == TcpState::Established {
            c.state = TcpState::FinWait1;
        }
        let accepted = match self.tcp.sockets.get_mut(lh) {
            Some(TcpSocket::Listener(l)) => {
                l.syn_count = l.syn_count.saturating_sub(1);
                if l.accept_queue.len() < l.backlog {
                    l.accept_queue.push_back(h);
                    true
                } else {
                    false
                }
            }
            _ => false,
        };
        if let Ok(c) = self.tcp.conn_mut(h) {
            if accepted {
                c.in_accept_queue = true;
            } else {
                // The accept queue overflowed: reset (Linux with
                // tcp_abort_on_overflow; it otherwise drops the ACK).
                c.parent = None;
                c.orphan = true;
                c.rst_needed = true;
                self.tcp.stats.listen_drops += 1;
            }
        }
    }

    /// RFC 9293 3.10.7.2: a segment for a LISTEN endpoint.
    fn tcp_listen_input(&mut self, lh: Handle, info: &L4Info, seg: &TcpRepr, now: Instant) {
        if seg.control == TcpControl::Rst {
            return;
        }
        let local = SocketAddr::new(info.dst, seg.dst_port);
        let remote = SocketAddr::new(info.src, seg.src_port);
        if let Some(ack) = seg.ack_number {
            // A SYN cookie coming back, or "<SEQ=SEG.ACK><CTL=RST>".
            if self.tcp.config.syn_cookies && seg.control != TcpControl::Syn {
                let secret = self.tcp.config.secret;
                match listen::cookie_check(secret, local, remote, seg.seq_number, ack, now) {
                    Some(idx) => return self.tcp_cookie_accept(lh, info, seg, idx, now),
                    None => self.tcp.stats.syncookies_failed += 1,
                }
            }
            return self.send_tcp_reset(info, seg, now);
        }
        if seg.control != TcpControl::Syn {
            return;
        }
        let (queue_full, backlog_full) = match self.tcp.sockets.get(lh) {
            Some(TcpSocket::Listener(l)) => {
                (l.accept_queue.len() >= l.backlog, l.syn_count >= l.backlog)
            }
            _ => return,
        };
        if queue_full {
            self.tcp.stats.listen_drops += 1;
            return;
        }
        let Ok(route) = self.route_output(Some(info.dst), info.src, Some(info.nic)) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        if backlog_full {
            if self.tcp.config.syn_cookies {
                return self.tcp_send_cookie(info, seg, &route, now);
            }
            self.tcp.stats.listen_drops += 1;
            return;
        }
        let mut conn = self.tcp_new_conn(local, remote, route, now);
        conn.open_passive(seg, &self.tcp.config, now);
        conn.parent = Some(lh);
        let h = self.tcp.sockets.insert(TcpSocket::Conn(Box::new(conn)));
        let id = TransportEndpointId::connected(info.dst, seg.dst_port, info.src, seg.src_port);
        if self.demux.register(IpProtocol::Tcp, id, h).is_err() {
            self.tcp.sockets.remove(h);
            self.tcp.stats.listen_drops += 1;
            return;
        }
        if let Ok(c) = self.tcp.conn_mut(h) {
            c.registered = true;
        }
        if let Some(TcpSocket::Listener(l)) = self.tcp.sockets.get_mut(lh) {
            l.syn_count += 1;
        }
        self.tcp.stats.passive_opens += 1;
        self.tcp.mark_dirty(h);
    }

    /// Answer a SYN statelessly with a cookie SYN-ACK (RFC 4987 3.6).
    fn tcp_send_cookie(&mut self, info: &L4Info, seg: &TcpRepr, route: &OutRoute, now: Instant) {
        let cfg = &self.tcp.config;
        let local = SocketAddr::new(info.dst, seg.dst_port);
        let remote = SocketAddr::new(info.src, seg.src_port);
        let mtu = self.nics.get(route.nic).map_or(1500, |n| n.mtu);
        let ip_hdr = if remote.is_ipv4() { 20 } else { 40 };
        let our_mss = mtu.saturating_sub(ip_hdr + 20).clamp(64, 65495) as u16;
        let peer_mss = seg.max_seg_size.unwrap_or(536);
        let idx = listen::cookie_mss_index(peer_mss.min(our_mss));
        let iss = listen::cookie_iss(cfg.secret, local, remote, seg.seq_number, idx, now);
        // Options survive only through the timestamp (as Linux).
        let ts = (cfg.timestamps && seg.timestamp.is_some()).then(|| {
            let peer_ws = (cfg.window_scaling).then_some(seg.window_scale).flatten();
            let bits = listen::cookie_ts_bits(peer_ws, cfg.sack && seg.sack_permitted);
            let off = listen::ts_offset(cfg.secret, local, remote);
            let tsval = ((now.total_millis() as u32).wrapping_add(off) & !0x3f) | bits;
            TcpTimestampRepr {
                tsval,
                tsecr: seg.timestamp.map_or(0, |t| t.tsval),
            }
        });
        let ws = (ts.is_some() && cfg.window_scaling && seg.window_scale.is_some())
            .then(|| our_wscale(cfg.recv_buffer));
        let synack = TcpRepr {
            src_port: seg.dst_port,
            dst_port: seg.src_port,
            control: TcpControl::Syn,
            seq_number: iss,
            ack_number: Some(seg.seq_number + 1),
            window_len: cfg.recv_buffer.min(65535) as u16,
            window_scale: ws,
            max_seg_size: Some(COOKIE_MSS[idx as usize]),
            sack_permitted: ts.is_some() && cfg.sack && seg.sack_permitted,
            sack_ranges: [None; 4],
            timestamp: ts,
            payload: &[],
        };
        let mut pkt = PacketBuffer::new(self.l4_headroom(), synack.buffer_len());
        synack.emit(
            &mut TcpPacket::new_unchecked(pkt.append(synack.buffer_len())),
            &route.src,
            &route.dst,
            true,
        );
        self.tcp.stats.syncookies_sent += 1;
        self.tcp.stats.segs_out += 1;
        self.send_ip(route, IpProtocol::Tcp, None, pkt, now);
    }

    /// A valid cookie came back: create the connection ESTABLISHED.
    fn tcp_cookie_accept(
        &mut self,
        lh: Handle,
        info: &L4Info,
        seg: &TcpRepr,
        idx: u32,
        now: Instant,
    ) {
        let Some(ack) = seg.ack_number else { return };
        let local = SocketAddr::new(info.dst, seg.dst_port);
        let remote = SocketAddr::new(info.src, seg.src_port);
        let full = match self.tcp.sockets.get(lh) {
            Some(TcpSocket::Listener(l)) => l.accept_queue.len() >= l.backlog,
            _ => return,
        };
        if full {
            self.tcp.stats.listen_drops += 1;
            return;
        }
        let Ok(route) = self.route_output(Some(info.dst), info.src, Some(info.nic)) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        self.tcp.stats.syncookies_recv += 1;
        let mut c = self.tcp_new_conn(local, remote, route, now);
        let cfg = &self.tcp.config;
        c.iss = ack - 1;
        c.snd_una = ack;
        c.snd_nxt = ack;
        c.last_recover = ack;
        c.irs = seg.seq_number - 1;
        c.rcv_nxt = seg.seq_number;
        c.rcv_adv = seg.seq_number + cfg.recv_buffer.min(65535);
        c.peer_mss = COOKIE_MSS[idx as usize];
        match (cfg.timestamps, seg.timestamp) {
            (true, Some(ts)) => {
                c.ts_enabled = true;
                c.ts_recent = ts.tsval;
                c.ts_recent_age = now;
                let (ws, sack) = listen::cookie_ts_decode(ts.tsecr);
                match ws {
                    Some(w) => c.snd_wscale = w,
                    None => c.rcv_wscale = 0,
                }
                c.sack_enabled = sack && cfg.sack;
            }
            _ => {
                c.rcv_wscale = 0;
                c.snd_wscale = 0;
            }
        }
        c.update_mss();
        c.cc = super::congestion::new_controller(cfg.congestion, c.mss);
        c.state = TcpState::Established;
        c.snd_wnd = usize::from(seg.window_len) << c.snd_wscale;
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = seg.seq_number;
        c.snd_wl2 = ack;
        c.parent = Some(lh);
        c.in_accept_queue = true;
        c.last_rx = now;
        let h = self.tcp.sockets.insert(TcpSocket::Conn(Box::new(c)));
        let id = TransportEndpointId::connected(info.dst, seg.dst_port, info.src, seg.src_port);
        if self.demux.register(IpProtocol::Tcp, id, h).is_err() {
            self.tcp.sockets.remove(h);
            return;
        }
        if let Some(TcpSocket::Listener(l)) = self.tcp.sockets.get_mut(lh) {
            l.accept_queue.push_back(h);
        }
        self.tcp.stats.passive_opens += 1;
        let TcpTable {
            sockets,
            config,
            stats,
            ..
        } = &mut self.tcp;
        if let Some(TcpSocket::Conn(c)) = sockets.get_mut(h) {
            c.registered = true;
            // Any data on the ACK is processed as usual.
            if !seg.payload.is_empty() || seg.control == TcpControl::Fin {
                c.process(seg, now, config, stats);
            }
        }
        self.tcp.mark_dirty(h);
    }

    /// An ICMP error about a segment we sent from `local` to `remote`
    /// (RFC 1122 4.2.3.9, RFC 5927): packet too big lowers the path MTU
    /// (RFC 1191, RFC 8201); other errors are soft and ignored, as Linux
    /// does for established connections. The quoted sequence number must
    /// be outstanding (RFC 5927 4.1), else the error is ignored.
    pub(crate) fn tcp_control(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        event: ControlEvent,
        invoking: &[u8],
    ) {
        let Lookup::Found(h) = self.demux.lookup(
            IpProtocol::Tcp,
            local.ip(),
            local.port(),
            remote.ip(),
            remote.port(),
        ) else {
            return;
        };
        let Some(seq) = quoted_seq(invoking) else {
            return;
        };
        let Ok(c) = self.tcp.conn_mut(h) else { return };
        if !(c.snd_una <= seq && seq < c.snd_nxt.max(c.snd_una + 1)) {
            return;
        }
        if event.kind == ControlType::PacketTooBig && c.path_mtu_dropped(event.info as usize) {
            self.tcp.stats.pmtu_updates += 1;
            self.tcp.mark_dirty(h);
        }
    }

    // ---- output and timers ---------------------------------------------

    /// Run due TCP timers and send what every dirty connection has to send.
    /// Called once per poll by the stack's timer phase.
    pub(crate) fn process_tcp_timers(&mut self, now: Instant) {
        while let Some(&Reverse((t, h))) = self.tcp.timers.peek() {
            if t > now {
                break;
            }
            self.tcp.timers.pop();
            let TcpTable {
                sockets,
                config,
                stats,
                ..
            } = &mut self.tcp;
            if let Some(TcpSocket::Conn(c)) = sockets.get_mut(h) {
                if c.scheduled == Some(t) {
                    c.scheduled = None;
                }
                c.on_timers(now, config, stats);
                self.tcp.mark_dirty(h);
            }
        }
        let mut dirty = core::mem::take(&mut self.tcp.dirty);
        for h in dirty.drain(..) {
            if self.tcp_output_blocked(h) {
                // Its NIC's transmit queue is half full: the connection
                // stays dirty and sends in the next poll, after this one's
                // flush has handed the queue to the link.
                self.tcp.dirty.push(h);
                self.tcp.stats.output_deferred += 1;
                continue;
            }
            self.tcp_dispatch_one(h, now);
        }
        if self.tcp.dirty.is_empty() {
            self.tcp.dirty = dirty;
        }
    }

    /// Whether connection `h` must wait before producing output: its NIC's
    /// transmit queue holds half the backlog ([`StackConfig::tx_backlog`]
    /// (crate::stack::StackConfig::tx_backlog)) or more. Frames past the
    /// backlog are dropped (oldest first) when the link refuses them, and
    /// hundreds of connections turning ESTABLISHED in one poll, each
    /// sending its initial window, overflowed it: the drops took
    /// handshake ACKs and first segments, and every connection recovered
    /// by RTO at the same instant. Like Linux's TCP Small Queues, TCP
    /// waits for the queue instead; the other half of the backlog leaves
    /// room for the burst of the one connection that crosses the mark.
    fn tcp_output_blocked(&self, h: Handle) -> bool {
        let Ok(c) = self.tcp.conn(h) else {
            return false;
        };
        self.nics
            .get(c.route.nic)
            .is_some_and(|nic| nic.tx.len() >= self.config.tx_backlog / 2)
    }

    /// Produce a connection's segments, send them, reschedule its timer and
    /// reap it if it closed.
    fn tcp_dispatch_one(&mut self, h: Handle, now: Instant) {
        let Ok(c) = self.tcp.conn(h) else { return };
        let route = c.route;
        let env = match self.nics.get(route.nic) {
            Some(nic) => TxEnv {
                gso_max: TxEnv::gso_limit(
                    !route.local && nic.caps.contains(Capabilities::SOFTWARE_GSO),
                    route.dst.is_ipv6(),
                ),
                csum_offload: !route.local && nic.caps.contains(Capabilities::TX_CHECKSUM_OFFLOAD),
                link_mtu: nic.mtu,
                headroom: self.l4_headroom(),
            },
            None => return,
        };
        let TcpTable {
            sockets,
            stats,
            timers,
            scratch,
            ..
        } = &mut self.tcp;
        let Some(TcpSocket::Conn(c)) = sockets.get_mut(h) else {
            return;
        };
        c.dirty = false;
        c.dispatch(now, &env, stats, scratch);
        c.track_idle_buffers(now);
        if let Some(d) = c.next_deadline() {
            if c.scheduled.is_none_or(|s| d < s) {
                timers.push(Reverse((d, h)));
                c.scheduled = Some(d);
            }
        }
        let closed = c.state == TcpState::Closed;
        let mut pkts = core::mem::take(scratch);
        self.send_ip_batch(&route, IpProtocol::Tcp, &mut pkts, now);
        self.tcp.scratch = pkts;
        if closed {
            self.tcp_reap(h);
        }
    }

    /// A connection reached CLOSED: leave the demux, leave its listener,
    /// and free it unless the application still holds the handle.
    fn tcp_reap(&mut self, h: Handle) {
        let Ok(c) = self.tcp.conn_mut(h) else { return };
        if c.state != TcpState::Closed {
            return;
        }
        let id = TransportEndpointId::connected(
            c.local.ip(),
            c.local.port(),
            c.remote.ip(),
            c.remote.port(),
        );
        let was_registered = core::mem::replace(&mut c.registered, false);
        let parent = c.parent.take().map(|p| (p, c.in_accept_queue));
        let free = c.orphan || parent.is_some();
        if was_registered {
            self.demux.unregister(IpProtocol::Tcp, &id);
        }
        if let Some((lh, queued)) = parent {
            if let Some(TcpSocket::Listener(l)) = self.tcp.sockets.get_mut(lh) {
                if queued {
                    l.accept_queue.retain(|x| *x != h);
                } else {
                    l.syn_count = l.syn_count.saturating_sub(1);
                }
            }
        }
        if free {
            self.tcp.sockets.remove(h);
        }
    }
}

/// The window scale we use for a receive buffer (RFC 7323 2.3).
fn our_wscale(recv_buffer: usize) -> u8 {
    let mut s = 0u8;
    while s < 14 && (recv_buffer >> s) > 65535 {
        s += 1;
    }
    s
}

/// The TCP sequence number in a quoted packet (our segment).
fn quoted_seq(invoking: &[u8]) -> Option<Seq> {
    let l4 = match invoking.first()? >> 4 {
        4 => usize::from(invoking[0] & 0x0f) * 4,
        6 => 40,
        _ => return None,
    };
    let b = invoking.get(l4 + 4..l4 + 8)?;
    Some(Seq::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
}
