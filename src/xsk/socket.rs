//! One AF_XDP socket: setup (UMEM registration or `XDP_SHARED_UMEM`, ring
//! sizes, mmap, bind with the copy mode asked for), and the batch
//! operations the link layer calls: [`XskSocket::receive`] and
//! [`XskSocket::transmit`].
//!
//! Each socket has its own fill/completion pair (the kernel requires one
//! per (interface, queue) of a shared UMEM), so the rules are per socket:
//! the fill ring is topped up to its size from the worker's free list on
//! every call, completions are reaped on every call, and the kernel is
//! kicked only when its `need_wakeup` flag asks (once per call at most).

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::error::XskError;
use super::ring::{ConsRing, ProdRing, RingLayout};
use super::sys::{self, Mmap};
use super::umem::{Pool, Umem, UmemInner};
use crate::buffer::{PacketBatch, PacketBuffer};

/// `struct xdp_desc` (`if_xdp.h`): an RX/TX ring entry.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct XdpDesc {
    addr: u64,
    len: u32,
    options: u32,
}

/// Which AF_XDP data path to ask the kernel for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CopyMode {
    /// Zero-copy if the driver supports it, else copy (the kernel's own
    /// fallback; the result is reported by [`XskSocket::bound_mode`]).
    #[default]
    Auto,
    /// Copy mode (`XDP_COPY`): works on every interface, including veth.
    Copy,
    /// Zero-copy (`XDP_ZEROCOPY`) or fail with
    /// [`XskError::ZeroCopyUnsupported`].
    ZeroCopy,
}

impl fmt::Display for CopyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CopyMode::Auto => "auto",
            CopyMode::Copy => "copy",
            CopyMode::ZeroCopy => "zero-copy",
        })
    }
}

/// The data path the kernel actually bound (from `XDP_OPTIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundMode {
    /// Copy mode: the kernel copies frames between skbs and the UMEM.
    Copy,
    /// Zero-copy: the driver DMAs straight into and out of the UMEM.
    ZeroCopy,
}

impl fmt::Display for BoundMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BoundMode::Copy => "copy",
            BoundMode::ZeroCopy => "zero-copy",
        })
    }
}

/// Busy-polling settings (`SO_PREFER_BUSY_POLL`, `SO_BUSY_POLL`,
/// `SO_BUSY_POLL_BUDGET`).
///
/// Kernel requirements: Linux 5.11+ built with `CONFIG_NET_RX_BUSY_POLL`;
/// raising the timeout or budget above the `net.core.busy_poll` sysctl
/// needs `CAP_NET_ADMIN`. To keep the driver's interrupts out of the way,
/// also set `napi_defer_hard_irqs` (e.g. 2) and `gro_flush_timeout` (e.g.
/// 200000 ns) in `/sys/class/net/<if>/`. The application must keep calling
/// the socket (every [`XskSocket::receive`] then issues a `recvfrom`
/// that runs the driver's NAPI poll in the caller's context). Interfaces
/// without NAPI for the queue (veth without XDP) gain nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPoll {
    /// `SO_BUSY_POLL`: microseconds to spin in the driver per call.
    pub timeout_us: u32,
    /// `SO_BUSY_POLL_BUDGET`: packets per busy-poll round.
    pub budget: u32,
}

impl Default for BusyPoll {
    fn default() -> Self {
        BusyPoll {
            timeout_us: 20,
            budget: 64,
        }
    }
}

/// Ring sizes and options of one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketConfig {
    /// RX ring entries (power of two). Default 512.
    pub rx_size: u32,
    /// TX ring entries (power of two). Default 512.
    pub tx_size: u32,
    /// Fill ring entries (power of two, at least 2× `rx_size`). Default 1024.
    pub fill_size: u32,
    /// Completion ring entries (power of two, at least `tx_size`). Default 1024.
    pub comp_size: u32,
    /// Copy mode to ask for. Sockets sharing a UMEM inherit the mode the
    /// first one bound.
    pub copy_mode: CopyMode,
    /// Ask the kernel to set `need_wakeup` flags (`XDP_USE_NEED_WAKEUP`)
    /// so kicks happen only when needed. Default true.
    pub need_wakeup: bool,
    /// Busy polling, off by default.
    pub busy_poll: Option<BusyPoll>,
    /// In copy mode, raise the per-`sendto` TX budget (default 32) to the
    /// TX ring size with `XDP_MAX_TX_SKB_BUDGET` (Linux 6.17+; ignored
    /// where the kernel lacks it). Default true.
    pub raise_tx_budget: bool,
}

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig {
            rx_size: 512,
            tx_size: 512,
            fill_size: 1024,
            comp_size: 1024,
            copy_mode: CopyMode::Auto,
            need_wakeup: true,
            busy_poll: None,
            raise_tx_budget: true,
        }
    }
}

impl SocketConfig {
    fn validate(&self) -> Result<(), XskError> {
        for (name, v) in [
            ("rx", self.rx_size),
            ("tx", self.tx_size),
            ("fill", self.fill_size),
            ("completion", self.comp_size),
        ] {
            if !v.is_power_of_two() || v < 32 {
                return Err(XskError::InvalidConfig {
                    what: format!("{name} ring size {v} is not a power of two ≥ 32"),
                    fix: "use sizes like 512, 1024, 2048".into(),
                });
            }
        }
        if self.fill_size < 2 * self.rx_size {
            return Err(XskError::InvalidConfig {
                what: format!(
                    "fill ring ({}) smaller than twice the rx ring ({})",
                    self.fill_size, self.rx_size
                ),
                fix: "make the fill ring at least 2x the rx ring so the kernel never runs dry"
                    .into(),
            });
        }
        if self.comp_size < self.tx_size {
            return Err(XskError::InvalidConfig {
                what: format!(
                    "completion ring ({}) smaller than the tx ring ({})",
                    self.comp_size, self.tx_size
                ),
                fix: "make the completion ring at least as large as the tx ring".into(),
            });
        }
        Ok(())
    }
}

/// The kernel's drop counters for one socket (`XDP_STATISTICS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpStatistics {
    /// Frames dropped for reasons other than invalid descriptors.
    pub rx_dropped: u64,
    /// RX descriptors the kernel rejected.
    pub rx_invalid_descs: u64,
    /// TX descriptors the kernel rejected (bad address or length).
    pub tx_invalid_descs: u64,
    /// Frames dropped because the RX ring was full (worker too slow).
    pub rx_ring_full: u64,
    /// Times the fill ring was empty (worker not refilling fast enough).
    pub rx_fill_ring_empty_descs: u64,
    /// Times the kernel found the TX ring empty when kicked.
    pub tx_ring_empty_descs: u64,
}

impl fmt::Display for XdpStatistics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rx dropped {}, rx invalid {}, tx invalid {}, rx ring full {} (worker too slow), \
             fill ring empty {} (refill too slow), tx ring empty {}",
            self.rx_dropped,
            self.rx_invalid_descs,
            self.tx_invalid_descs,
            self.rx_ring_full,
            self.rx_fill_ring_empty_descs,
            self.tx_ring_empty_descs
        )
    }
}

/// Userspace counters of one socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskCounters {
    /// Frames taken from the RX ring.
    pub rx_frames: u64,
    /// Frames put on the TX ring.
    pub tx_frames: u64,
    /// Of those, sent from the UMEM frame they were in (no copy).
    pub tx_zero_copy: u64,
    /// Of those, copied once from heap (or another UMEM) into a frame.
    pub tx_copied: u64,
    /// Packets dropped on transmit: empty, or too large for a frame.
    pub tx_dropped: u64,
    /// Completions reaped.
    pub completions: u64,
    /// `recvfrom` kicks (need_wakeup on the fill ring, or busy polling).
    pub rx_kicks: u64,
    /// `sendto` kicks.
    pub tx_kicks: u64,
    /// Kicks answered `EAGAIN`/`EBUSY`/`ENOBUFS`: the kernel will take the
    /// rest on the next kick (copy mode's per-call budget).
    pub tx_kicks_again: u64,
    /// Kicks that failed otherwise (e.g. `ENETDOWN`).
    pub kick_errors: u64,
    /// Descriptors from the kernel naming no frame we gave it (never
    /// expected; counted, the entry skipped).
    pub bad_descriptors: u64,
}

/// Where the frames given to one socket are (see
/// [`XskSocket::accounting`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketAccounting {
    /// In the fill ring, not yet taken by the kernel.
    pub fill_ring: u32,
    /// Taken by the kernel from the fill ring, not yet in the RX ring.
    pub kernel_rx: u32,
    /// In the RX ring, not yet read.
    pub rx_ring: u32,
    /// In the TX ring, not yet taken by the kernel.
    pub tx_ring: u32,
    /// Taken by the kernel for sending, not yet completed.
    pub kernel_tx: u32,
    /// In the completion ring, not yet reaped.
    pub completion_ring: u32,
}

/// The parts of a socket that must outlive every user of its rings, and
/// whose drop closes the socket and frees the frames it held.
pub(crate) struct SocketShared {
    fd: Option<OwnedFd>,
    id: u16,
    umem: Arc<UmemInner>,
    _maps: [Mmap; 4],
}

impl SocketShared {
    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("fd present until drop").as_fd()
    }
}

impl Drop for SocketShared {
    fn drop(&mut self) {
        // Close first: `xsk_release` unbinds, removes the socket from every
        // XSKMAP and waits (`synchronize_net`) until no receive path can
        // still write into its frames. Only then are they free again.
        drop(self.fd.take());
        self.umem.lock().release_socket(self.id);
        // The ring mappings go when the fields drop, after this.
    }
}

/// An AF_XDP socket bound to one queue of one interface, on a [`Umem`].
pub struct XskSocket {
    rx: ConsRing<XdpDesc>,
    tx: ProdRing<XdpDesc>,
    fill: ProdRing<u64>,
    comp: ConsRing<u64>,
    shared: Arc<SocketShared>,
    umem: Umem,
    id: u16,
    iface: String,
    ifindex: u32,
    queue: u32,
    bound: BoundMode,
    config: SocketConfig,
    tx_budget: Option<u32>,
    in_fill: u32,
    in_tx: u32,
    last_tx_addr: Option<u64>,
    counters: XskCounters,
}

// SAFETY: the rings' raw pointers point into mappings owned by `shared`,
// which moves with the socket; no other userspace code uses these rings.
unsafe impl Send for XskSocket {}

impl fmt::Debug for XskSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XskSocket")
            .field("iface", &self.iface)
            .field("queue", &self.queue)
            .field("fd", &self.shared.fd().as_raw_fd())
            .field("bound", &self.bound)
            .field("tx_budget", &self.tx_budget)
            .finish_non_exhaustive()
    }
}

fn setup_err(op: &'static str, iface: &str, e: io::Error, fix: &str) -> XskError {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => XskError::PermissionDenied { op },
        _ => XskError::Syscall {
            op,
            iface: iface.to_string(),
            source: e,
            fix: fix.to_string(),
        },
    }
}

impl XskSocket {
    /// Create a socket on `queue` of `iface` (in the calling thread's
    /// network namespace) using `umem`, and bind it. The first socket of a
    /// UMEM registers it with the kernel; later ones bind with
    /// `XDP_SHARED_UMEM` and get their own fill/completion rings. Any
    /// number of interfaces and queues may share one UMEM, one socket per
    /// (interface, queue).
    ///
    /// The socket loads no XDP program (xdpnet's steering program does
    /// that): put [`XskSocket::fd`] into its XSKMAP with
    /// `SteeringProgram::insert_socket(queue, fd)`.
    pub fn new(
        iface: &str,
        queue: u32,
        umem: &Umem,
        config: &SocketConfig,
    ) -> Result<XskSocket, XskError> {
        config.validate()?;
        let info = sys::iface_info(iface).map_err(|_| XskError::NoSuchInterface {
            iface: iface.to_string(),
        })?;
        let fd = sys::xdp_socket().map_err(|e| match e.raw_os_error() {
            Some(libc::EAFNOSUPPORT) | Some(libc::EPROTONOSUPPORT) => {
                XskError::Unsupported { source: e }
            }
            _ => setup_err("create an AF_XDP socket", iface, e, "check `ulimit -n`"),
        })?;
        let inner = &umem.inner;
        // Held across creation so the anchor socket stays alive and two
        // threads cannot both register the UMEM.
        let mut sockets = inner.sockets.lock().unwrap_or_else(|p| p.into_inner());
        sockets.retain(|w| w.strong_count() > 0);
        let anchor = sockets.iter().find_map(Weak::upgrade);
        let ucfg = inner.config;

        if anchor.is_none() {
            let limit = sys::raise_memlock();
            let region = inner.region();
            let reg = libc::xdp_umem_reg {
                addr: region.base().as_ptr() as u64,
                len: region.len() as u64,
                chunk_size: ucfg.frame_size,
                headroom: ucfg.headroom,
                flags: 0,
                tx_metadata_len: 0,
            };
            sys::setsockopt(fd.as_fd(), libc::SOL_XDP, libc::XDP_UMEM_REG, &reg).map_err(|e| {
                match e.raw_os_error() {
                    Some(libc::ENOBUFS) | Some(libc::ENOMEM) => XskError::Memlock {
                        bytes: region.len() as u64,
                        limit,
                        source: e,
                    },
                    _ => setup_err(
                        "register the UMEM",
                        iface,
                        e,
                        "check the frame size (2048 or 4096) and headroom",
                    ),
                }
            })?;
        }
        let ring_opt = |name: libc::c_int, size: u32, what: &'static str| {
            sys::setsockopt(fd.as_fd(), libc::SOL_XDP, name, &size).map_err(|e| {
                setup_err(
                    what,
                    iface,
                    e,
                    "use power-of-two ring sizes the kernel accepts",
                )
            })
        };
        ring_opt(
            libc::XDP_UMEM_FILL_RING,
            config.fill_size,
            "size the fill ring",
        )?;
        ring_opt(
            libc::XDP_UMEM_COMPLETION_RING,
            config.comp_size,
            "size the completion ring",
        )?;
        ring_opt(libc::XDP_RX_RING, config.rx_size, "size the rx ring")?;
        ring_opt(libc::XDP_TX_RING, config.tx_size, "size the tx ring")?;

        let (off, _) = sys::getsockopt::<libc::xdp_mmap_offsets>(
            fd.as_fd(),
            libc::SOL_XDP,
            libc::XDP_MMAP_OFFSETS,
        )
        .map_err(|e| setup_err("read the ring offsets", iface, e, "use Linux 5.4 or newer"))?;
        let map = |layout: &libc::xdp_ring_offset, entries: u32, elem: usize, pgoff: u64| {
            let len = layout.desc as usize + entries as usize * elem;
            Mmap::ring(fd.as_fd(), len, pgoff).map_err(|e| {
                setup_err(
                    "map a ring",
                    iface,
                    e,
                    "lower the ring sizes or raise memory limits",
                )
            })
        };
        let rx_map = map(&off.rx, config.rx_size, 16, libc::XDP_PGOFF_RX_RING as u64)?;
        let tx_map = map(&off.tx, config.tx_size, 16, libc::XDP_PGOFF_TX_RING as u64)?;
        let fill_map = map(&off.fr, config.fill_size, 8, libc::XDP_UMEM_PGOFF_FILL_RING)?;
        let comp_map = map(
            &off.cr,
            config.comp_size,
            8,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        )?;

        if let Some(bp) = config.busy_poll {
            let one: libc::c_int = 1;
            let timeout = bp.timeout_us as libc::c_int;
            let budget = bp.budget as libc::c_int;
            for (name, val, what) in [
                (sys::SO_PREFER_BUSY_POLL, &one, "set SO_PREFER_BUSY_POLL"),
                (libc::SO_BUSY_POLL, &timeout, "set SO_BUSY_POLL"),
                (sys::SO_BUSY_POLL_BUDGET, &budget, "set SO_BUSY_POLL_BUDGET"),
            ] {
                sys::setsockopt(fd.as_fd(), libc::SOL_SOCKET, name, val).map_err(|e| {
                    setup_err(
                        what,
                        iface,
                        e,
                        "busy polling needs Linux 5.11+ with CONFIG_NET_RX_BUSY_POLL \
                         (and CAP_NET_ADMIN above the net.core.busy_poll sysctl); \
                         or run without --busy-poll",
                    )
                })?;
            }
        }

        let flags: u16 = match &anchor {
            Some(_) => libc::XDP_SHARED_UMEM,
            None => {
                let mode = match config.copy_mode {
                    CopyMode::Auto => 0,
                    CopyMode::Copy => libc::XDP_COPY,
                    CopyMode::ZeroCopy => libc::XDP_ZEROCOPY,
                };
                let wake = if config.need_wakeup {
                    libc::XDP_USE_NEED_WAKEUP
                } else {
                    0
                };
                mode | wake
            }
        };
        let anchor_fd = anchor.as_ref().map(|a| a.fd().as_raw_fd());
        let mut attempt = 0;
        loop {
            match sys::bind_xdp(fd.as_fd(), info.index, queue, flags, anchor_fd) {
                Ok(()) => break,
                // Our own previous socket on this queue may still be
                // going away (the kernel tears sockets down
                // asynchronously): retry for about a second.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 5 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(bind_error(iface, queue, config.copy_mode, e)),
            }
        }

        let (opts, _) =
            sys::getsockopt::<libc::xdp_options>(fd.as_fd(), libc::SOL_XDP, libc::XDP_OPTIONS)
                .map_err(|e| setup_err("read XDP_OPTIONS", iface, e, "use Linux 5.3 or newer"))?;
        let bound = if opts.flags & libc::XDP_OPTIONS_ZEROCOPY != 0 {
            BoundMode::ZeroCopy
        } else {
            BoundMode::Copy
        };
        if config.copy_mode == CopyMode::ZeroCopy && bound != BoundMode::ZeroCopy {
            // Shared sockets inherit the anchor's mode.
            return Err(XskError::ZeroCopyUnsupported {
                iface: iface.to_string(),
                driver: sys::driver_name(iface),
            });
        }
        let tx_budget = if bound == BoundMode::Copy && config.raise_tx_budget {
            let b = config.tx_size.max(32);
            sys::setsockopt(fd.as_fd(), libc::SOL_XDP, sys::XDP_MAX_TX_SKB_BUDGET, &b)
                .ok()
                .map(|()| b)
        } else {
            None
        };

        let id = inner
            .lock()
            .new_socket_id()
            .ok_or_else(|| XskError::InvalidConfig {
                what: "too many sockets created on one UMEM".into(),
                fix: "use one UMEM per worker and reuse sockets".into(),
            })?;
        let layouts = (
            RingLayout::from(off.rx),
            RingLayout::from(off.tx),
            RingLayout::from(off.fr),
            RingLayout::from(off.cr),
        );
        let ptrs = [&rx_map, &tx_map, &fill_map, &comp_map].map(|m| (m.ptr(), m.len()));
        let shared = Arc::new(SocketShared {
            fd: Some(fd),
            id,
            umem: Arc::clone(inner),
            _maps: [rx_map, tx_map, fill_map, comp_map],
        });
        sockets.push(Arc::downgrade(&shared));
        drop(sockets);
        drop(anchor);

        // SAFETY: each mapping is the ring of this socket at the offsets
        // the kernel reported, sized for the entries we configured; they
        // live in `shared`, which this socket holds for as long as the
        // rings; this socket is the only userspace user of each ring.
        let (rx, tx, fill, comp) = unsafe {
            (
                ConsRing::new(ptrs[0].0, ptrs[0].1, layouts.0, config.rx_size),
                ProdRing::new(ptrs[1].0, ptrs[1].1, layouts.1, config.tx_size),
                ProdRing::new(ptrs[2].0, ptrs[2].1, layouts.2, config.fill_size),
                ConsRing::new(ptrs[3].0, ptrs[3].1, layouts.3, config.comp_size),
            )
        };
        let mut s = XskSocket {
            rx,
            tx,
            fill,
            comp,
            shared,
            umem: umem.clone(),
            id,
            iface: iface.to_string(),
            ifindex: info.index,
            queue,
            bound,
            config: *config,
            tx_budget,
            in_fill: 0,
            in_tx: 0,
            last_tx_addr: None,
            counters: XskCounters::default(),
        };
        s.service();
        Ok(s)
    }

    /// The socket's file descriptor: for the XSKMAP, and for `poll()` when
    /// the worker is idle.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.shared.fd()
    }

    /// The interface name.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// The interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The queue id.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// The data path the kernel bound.
    pub fn bound_mode(&self) -> BoundMode {
        self.bound
    }

    /// The configuration.
    pub fn config(&self) -> &SocketConfig {
        &self.config
    }

    /// The per-`sendto` TX budget set with `XDP_MAX_TX_SKB_BUDGET`, or
    /// `None` when the kernel default (32) applies (zero-copy, option off,
    /// or a kernel before 6.17).
    pub fn tx_budget(&self) -> Option<u32> {
        self.tx_budget
    }

    /// The UMEM.
    pub fn umem(&self) -> &Umem {
        &self.umem
    }

    /// UMEM address of the last descriptor put on the TX ring (to show
    /// which frame a packet left in).
    pub fn last_tx_addr(&self) -> Option<u64> {
        self.last_tx_addr
    }

    /// Userspace counters.
    pub fn counters(&self) -> XskCounters {
        self.counters
    }

    /// The kernel's counters (`XDP_STATISTICS`).
    pub fn statistics(&self) -> io::Result<XdpStatistics> {
        let (s, _) = sys::getsockopt::<libc::xdp_statistics>(
            self.fd(),
            libc::SOL_XDP,
            libc::XDP_STATISTICS,
        )?;
        Ok(XdpStatistics {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }

    /// Where the frames given to this socket are right now.
    pub fn accounting(&self) -> SocketAccounting {
        debug_assert_eq!(
            self.umem.inner.lock().socket_frames(self.id),
            (self.in_fill, self.in_tx),
            "the socket's own counts agree with the frame state table"
        );
        let fill_ring = self.fill.pending();
        let rx_ring = self.rx.pending();
        let tx_ring = self.tx.pending();
        let completion_ring = self.comp.pending();
        SocketAccounting {
            fill_ring,
            kernel_rx: self.in_fill.saturating_sub(fill_ring + rx_ring),
            rx_ring,
            tx_ring,
            kernel_tx: self.in_tx.saturating_sub(tx_ring + completion_ring),
            completion_ring,
        }
    }

    /// Wait up to `timeout_ms` for received frames (`poll(POLLIN)`).
    pub fn wait_readable(&self, timeout_ms: i32) -> io::Result<bool> {
        sys::poll_in(self.fd(), timeout_ms)
    }

    /// Housekeeping without moving packets: take back dropped frames, reap
    /// completions, top up the fill ring, and kick TX if frames wait there.
    pub fn service(&mut self) {
        {
            let inner = Arc::clone(&self.umem.inner);
            let mut pool = inner.lock();
            pool.reclaim_returned();
            self.reap(&mut pool);
            self.refill(&mut pool);
        }
        if self.tx.pending() > 0 {
            self.kick_tx();
        }
    }

    fn reap(&mut self, pool: &mut Pool) {
        let n = self.comp.peek(self.comp.pending().max(1));
        for i in 0..n {
            let addr = self.comp.read(i);
            if pool.complete(self.id, addr) {
                self.in_tx -= 1;
            } else {
                self.counters.bad_descriptors += 1;
            }
        }
        self.comp.release(n);
        self.counters.completions += u64::from(n);
    }

    fn refill(&mut self, pool: &mut Pool) {
        let want = self.fill.size().saturating_sub(self.in_fill);
        let want = want.min(pool.free_len() as u32);
        let n = self.fill.reserve(want);
        for i in 0..n {
            // `n` ≤ free frames, so this always yields.
            let Some(addr) = pool.give_to_fill(self.id) else {
                self.fill.submit(i);
                self.in_fill += i;
                return;
            };
            self.fill.write(i, addr);
        }
        self.fill.submit(n);
        self.in_fill += n;
    }

    /// Append up to `budget` received frames to `batch` as UMEM-backed
    /// buffers (the data where the kernel put it; headroom in front).
    /// Reaps completions and tops the fill ring up in the same pass.
    /// Returns how many were appended.
    pub fn receive(&mut self, batch: &mut PacketBatch, budget: usize) -> usize {
        if self.config.busy_poll.is_some() {
            self.kick_rx();
        }
        let mask = !(u64::from(self.umem.inner.config.frame_size) - 1);
        let got;
        {
            let inner = Arc::clone(&self.umem.inner);
            let mut pool = inner.lock();
            pool.reclaim_returned();
            self.reap(&mut pool);
            let n = self.rx.peek(budget.min(u32::MAX as usize) as u32);
            let mut ok = 0;
            for i in 0..n {
                let d = self.rx.read(i);
                let chunk = d.addr & mask;
                match pool.take_from_rx(self.id, chunk) {
                    Some(frame) => {
                        let head = (d.addr - chunk) as usize;
                        batch.push(PacketBuffer::from_frame(frame, head, head + d.len as usize));
                        ok += 1;
                    }
                    None => self.counters.bad_descriptors += 1,
                }
            }
            self.rx.release(n);
            self.in_fill -= ok;
            self.counters.rx_frames += u64::from(ok);
            self.refill(&mut pool);
            got = ok;
        }
        if got == 0 && self.config.busy_poll.is_none() && self.fill.needs_wakeup() {
            self.kick_rx();
        }
        got as usize
    }

    /// Put packets from the front of `batch` on the TX ring and remove
    /// them from the batch; returns how many were taken. Buffers in a
    /// frame of this socket's UMEM go as their own descriptor (no copy);
    /// others are copied once into a free frame. Stops early when the TX
    /// ring is full or no frame is free for a copy (the rest stays in the
    /// batch). Empty packets and packets larger than a frame are taken
    /// and dropped (counted in `tx_dropped`). Kicks the kernel at most
    /// once, and only when it asks.
    pub fn transmit(&mut self, batch: &mut PacketBatch) -> usize {
        let want = batch.len().min(u32::MAX as usize) as u32;
        let headroom = self.umem.inner.config.headroom as usize;
        let region = self.umem.inner.region_ptr();
        let mut taken = 0usize;
        let mut placed = 0u32;
        {
            let inner = Arc::clone(&self.umem.inner);
            let mut pool = inner.lock();
            pool.reclaim_returned();
            self.reap(&mut pool);
            let slots = self.tx.reserve(want);
            while taken < batch.len() && placed < slots {
                let p = &mut batch[taken];
                let len = p.len();
                let same_umem = p.frame().is_some_and(|f| f.region_ptr() == region);
                if len == 0 || (!same_umem && len > self.umem.inner.config.frame_size as usize) {
                    self.counters.tx_dropped += 1;
                    taken += 1;
                    continue;
                }
                let desc = if same_umem {
                    let Some((frame, head, _tail)) = p.take_frame() else {
                        unreachable!("checked above")
                    };
                    let chunk = pool.give_to_tx(self.id, frame);
                    self.counters.tx_zero_copy += 1;
                    XdpDesc {
                        addr: chunk + head as u64,
                        len: len as u32,
                        options: 0,
                    }
                } else {
                    let Some(mut frame) = pool.alloc() else {
                        break;
                    };
                    let at = if headroom + len <= frame.capacity() {
                        headroom
                    } else {
                        0
                    };
                    frame.as_mut_slice()[at..at + len].copy_from_slice(p.as_slice());
                    let chunk = pool.give_to_tx(self.id, frame);
                    self.counters.tx_copied += 1;
                    XdpDesc {
                        addr: chunk + at as u64,
                        len: len as u32,
                        options: 0,
                    }
                };
                self.last_tx_addr = Some(desc.addr);
                self.tx.write(placed, desc);
                placed += 1;
                taken += 1;
            }
            self.tx.submit(placed);
            self.in_tx += placed;
            self.counters.tx_frames += u64::from(placed);
        }
        batch.drain(..taken);
        if self.tx.pending() > 0 {
            self.kick_tx();
        }
        taken
    }

    fn kick_tx(&mut self) {
        if self.config.need_wakeup && !self.tx.needs_wakeup() {
            return;
        }
        self.counters.tx_kicks += 1;
        if let Err(e) = sys::kick_tx(self.fd()) {
            match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENOBUFS) => {
                    self.counters.tx_kicks_again += 1
                }
                _ => self.counters.kick_errors += 1,
            }
        }
    }

    fn kick_rx(&mut self) {
        self.counters.rx_kicks += 1;
        if let Err(e) = sys::kick_rx(self.fd()) {
            if e.raw_os_error() != Some(libc::EAGAIN) {
                self.counters.kick_errors += 1;
            }
        }
    }
}

fn bind_error(iface: &str, queue: u32, mode: CopyMode, e: io::Error) -> XskError {
    match e.raw_os_error() {
        Some(libc::EINVAL) => {
            let queues = sys::queue_count(iface);
            if queues.is_none_or(|n| queue >= n) {
                XskError::QueueOutOfRange {
                    iface: iface.to_string(),
                    queue,
                    queues,
                }
            } else {
                XskError::Syscall {
                    op: "bind the AF_XDP socket",
                    iface: iface.to_string(),
                    source: e,
                    fix: "check the frame size/headroom (the interface MTU must fit a frame) \
                          and that one UMEM has at most one socket per interface and queue"
                        .into(),
                }
            }
        }
        Some(libc::EBUSY) => XskError::QueueBusy {
            iface: iface.to_string(),
            queue,
        },
        Some(libc::EOPNOTSUPP) if mode == CopyMode::ZeroCopy => XskError::ZeroCopyUnsupported {
            iface: iface.to_string(),
            driver: sys::driver_name(iface),
        },
        Some(libc::ENODEV) | Some(libc::ENXIO) => XskError::NoSuchInterface {
            iface: iface.to_string(),
        },
        Some(libc::EPERM) | Some(libc::EACCES) => XskError::PermissionDenied {
            op: "bind an AF_XDP socket",
        },
        _ => XskError::Syscall {
            op: "bind the AF_XDP socket",
            iface: iface.to_string(),
            source: e,
            fix: "check the interface is up and the kernel log (`dmesg`)".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_configs_are_validated() {
        assert!(SocketConfig::default().validate().is_ok());
        let e = SocketConfig {
            fill_size: 512,
            rx_size: 512,
            ..SocketConfig::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("2x the rx ring"), "{e}");
        let e = SocketConfig {
            tx_size: 100,
            ..SocketConfig::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("power of two"), "{e}");
    }
}
