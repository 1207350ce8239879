//! [`XdpLink`]: the AF_XDP link endpoint — one [`XskSocket`] on one
//! queue of one interface, presented to the stack as a [`LinkEndpoint`].
//!
//! * [`read_packets`](LinkEndpoint::read_packets) reaps completions, takes
//!   up to `budget` frames from the RX ring as UMEM-backed
//!   [`PacketBuffer`]s (the stack parses and rewrites them in place), and
//!   tops the fill ring up; it kicks the kernel only when the fill ring's
//!   `need_wakeup` flag asks (or every call with busy polling).
//! * [`write_packets`](LinkEndpoint::write_packets) puts the front of the
//!   batch on the TX ring: a buffer in a frame of this socket's UMEM goes
//!   as its own descriptor (zero copy — a frame received on another
//!   socket of the same worker leaves without a byte copied), a heap
//!   buffer is copied once into a free frame. It returns how many it took
//!   (fewer when the TX ring is full or no frame is free; the rest stays in
//!   the batch) and kicks at most once.
//! * Nothing here blocks: when idle, the worker `poll()`s
//!   [`XdpLink::fd`].
//!
//! The interface's MAC and MTU are read from the system when the link is
//! created (in the calling thread's network namespace). The MTU reported
//! is the smaller of the interface's and what fits a frame after the
//! receive headroom (AF_XDP here is single-buffer).

use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;

use crate::buffer::{PacketBatch, PacketBuffer};
use crate::link::{Capabilities, LinkDriverStats, LinkEndpoint};
use crate::time::Instant;
use crate::wire::EthernetAddress;
use crate::xsk::{
    interface_info, BoundMode, SocketAccounting, SocketConfig, Umem, UmemAccounting, XdpStatistics,
    XskCounters, XskError, XskSocket,
};

/// Ethernet header without VLAN tag.
const ETH_HEADER: usize = 14;

/// Counters of an [`XdpLink`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpLinkStats {
    /// Frames handed to the stack.
    pub rx_packets: u64,
    /// Bytes handed to the stack.
    pub rx_bytes: u64,
    /// `read_packets` calls that returned at least one frame.
    pub rx_batches: u64,
    /// Frames taken by `write_packets`.
    pub tx_packets: u64,
    /// Bytes taken by `write_packets`.
    pub tx_bytes: u64,
    /// `write_packets` calls.
    pub tx_batches: u64,
    /// `write_packets` calls that could not take the whole batch.
    pub tx_partial: u64,
}

/// Where the frames of this link's socket and UMEM are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkAccounting {
    /// The whole UMEM (shared with the worker's other links).
    pub umem: UmemAccounting,
    /// This link's socket's rings.
    pub socket: SocketAccounting,
}

/// A link over one AF_XDP socket.
pub struct XdpLink {
    sock: XskSocket,
    mac: EthernetAddress,
    mtu: usize,
    caps: Capabilities,
    stats: XdpLinkStats,
}

impl fmt::Debug for XdpLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XdpLink")
            .field("socket", &self.sock)
            .field("mac", &self.mac)
            .field("mtu", &self.mtu)
            .finish()
    }
}

impl XdpLink {
    /// Open a socket on `queue` of `iface` over `umem` (shared with the
    /// worker's other links) and wrap it. The socket's fd still has to go
    /// into the steering program's XSKMAP for frames to arrive.
    pub fn new(
        iface: &str,
        queue: u32,
        umem: &Umem,
        config: &SocketConfig,
    ) -> Result<XdpLink, XskError> {
        XdpLink::from_socket(XskSocket::new(iface, queue, umem, config)?)
    }

    /// Wrap an existing socket.
    pub fn from_socket(sock: XskSocket) -> Result<XdpLink, XskError> {
        let (_, mac, mtu) = interface_info(sock.iface())?;
        let frame = sock.umem().config().frame_size as usize;
        let fits = frame.saturating_sub(sock.umem().rx_headroom() + ETH_HEADER);
        Ok(XdpLink {
            mac: EthernetAddress(mac),
            mtu: (mtu as usize).min(fits),
            caps: Capabilities::RESOLUTION_REQUIRED | Capabilities::SOFTWARE_GSO,
            stats: XdpLinkStats::default(),
            sock,
        })
    }

    /// The socket's file descriptor (for the XSKMAP, and for `poll()`
    /// when the worker is idle).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.fd()
    }

    /// The data path the kernel bound (copy or zero-copy).
    pub fn bound_mode(&self) -> BoundMode {
        self.sock.bound_mode()
    }

    /// The socket.
    pub fn socket(&self) -> &XskSocket {
        &self.sock
    }

    /// The socket, mutably (e.g. to wait on it).
    pub fn socket_mut(&mut self) -> &mut XskSocket {
        &mut self.sock
    }

    /// The link's counters.
    pub fn stats(&self) -> XdpLinkStats {
        self.stats
    }

    /// The socket's userspace counters (kicks, zero-copy vs copied sends).
    pub fn counters(&self) -> XskCounters {
        self.sock.counters()
    }

    /// The kernel's drop counters for the socket (`XDP_STATISTICS`).
    pub fn xdp_statistics(&self) -> io::Result<XdpStatistics> {
        self.sock.statistics()
    }

    /// Where the frames are: the UMEM as a whole and this socket's rings.
    pub fn accounting(&self) -> LinkAccounting {
        LinkAccounting {
            umem: self.sock.umem().accounting(),
            socket: self.sock.accounting(),
        }
    }

    /// An empty UMEM-backed buffer positioned after the configured
    /// headroom, for building a packet in place (a generator); `None` when
    /// no frame is free.
    pub fn alloc_buffer(&self) -> Option<PacketBuffer> {
        let umem = self.sock.umem();
        let frame = umem.alloc()?;
        let h = umem.config().headroom as usize;
        Some(PacketBuffer::from_frame(frame, h, h))
    }

    /// Housekeeping without moving packets: reclaim dropped frames, reap
    /// completions, top up the fill ring, kick frames still waiting in the
    /// TX ring. Call it when idle and before shutdown.
    pub fn service(&mut self) {
        self.sock.service();
    }
}

impl LinkEndpoint for XdpLink {
    fn mtu(&self) -> usize {
        self.mtu
    }

    fn max_header_len(&self) -> usize {
        ETH_HEADER
    }

    fn link_address(&self) -> EthernetAddress {
        self.mac
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn write_packets(&mut self, batch: &mut PacketBatch, _now: Instant) -> usize {
        let offered = batch.len();
        let bytes_before: usize = batch.iter().map(PacketBuffer::len).sum();
        let n = self.sock.transmit(batch);
        let bytes_after: usize = batch.iter().map(PacketBuffer::len).sum();
        self.stats.tx_batches += 1;
        self.stats.tx_packets += n as u64;
        self.stats.tx_bytes += bytes_before.saturating_sub(bytes_after) as u64;
        if n < offered {
            self.stats.tx_partial += 1;
        }
        n
    }

    fn read_packets(&mut self, batch: &mut PacketBatch, budget: usize, _now: Instant) -> usize {
        let start = batch.len();
        let n = self.sock.receive(batch, budget);
        if n > 0 {
            self.stats.rx_batches += 1;
            self.stats.rx_packets += n as u64;
            self.stats.rx_bytes += batch[start..].iter().map(|p| p.len() as u64).sum::<u64>();
        }
        n
    }

    fn driver_stats(&self) -> Option<LinkDriverStats> {
        let x = self.xdp_statistics().ok()?;
        Some(LinkDriverStats {
            rx_dropped: x.rx_dropped,
            rx_ring_full: x.rx_ring_full,
            rx_fill_ring_empty: x.rx_fill_ring_empty_descs,
            tx_ring_empty: x.tx_ring_empty_descs,
            invalid_descs: x.rx_invalid_descs + x.tx_invalid_descs,
        })
    }
}
