//! The UMEM of one worker, its free list, and the [`Frame`] handle.
//!
//! # Frame states
//!
//! Every chunk of the UMEM is in exactly one state, recorded in a byte-pair
//! array under the pool lock and moved only by the transitions below:
//!
//! ```text
//!  Free ──fill──► Fill(s) ──rx──► User ──tx──► Tx(s) ──completion──► Free
//!    ▲                              │  ▲                              │
//!    │                              │  └───── alloc (pktgen, copies) ─┤
//!    └──────────── drop(Frame) ─────┘                                 │
//!    ◄────────────────────────────────────────────────────────────────┘
//! ```
//!
//! `User` frames are owned by a [`Frame`] handle (inside a
//! `PacketBuffer`, a batch, an inbox). A handle is not `Clone`/`Copy`, so
//! the state machine above is also the ownership story: the only way to put
//! a frame on a ring is to give up its handle. Closing a socket moves its
//! `Fill(s)`/`Tx(s)` frames back to `Free` (after the kernel released them).
//!
//! # The drop path
//!
//! Dropping a handle anywhere — the stack discarding a malformed frame, an
//! inbox on another core — pushes its index onto a lock-free bounded queue
//! (`crossbeam_queue::ArrayQueue`, sized to the frame count, so a push never
//! fails: each frame is in it at most once). The worker drains that queue
//! into its plain `Vec` free list at the start of every link call, under the
//! per-worker pool lock it takes once per batch anyway. The common paths
//! (rx → stack → tx → completion) never touch the queue; they move indices
//! under that lock, with no per-frame atomics.
//!
//! # Lifetime
//!
//! A handle points at the UMEM region without a reference count (no
//! per-frame atomics). The region is freed only when the last `Umem` /
//! socket reference goes *and* no handle is outstanding; if handles are
//! still alive at that point (a program bug: frames outlived their worker)
//! the region is deliberately leaked so those handles stay valid.

use std::fmt;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crossbeam_queue::ArrayQueue;

use super::error::XskError;
use super::socket::SocketShared;
use super::sys::{Mmap, XDP_PACKET_HEADROOM};
use crate::buffer::DEFAULT_HEADROOM;

/// Size and layout of a UMEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UmemConfig {
    /// Number of frames (chunks). Default 4096.
    pub frame_count: u32,
    /// Bytes per frame: a power of two from 2048 to the page size (aligned
    /// mode). Default 4096.
    pub frame_size: u32,
    /// Headroom the kernel leaves in front of received data, in addition
    /// to its own `XDP_PACKET_HEADROOM` (256); also where frames copied for
    /// transmit start. Default [`DEFAULT_HEADROOM`].
    pub headroom: u32,
}

impl Default for UmemConfig {
    fn default() -> Self {
        UmemConfig {
            frame_count: 4096,
            frame_size: 4096,
            headroom: DEFAULT_HEADROOM as u32,
        }
    }
}

impl UmemConfig {
    fn validate(&self) -> Result<(), XskError> {
        let bad = |what: String, fix: &str| {
            Err(XskError::InvalidConfig {
                what,
                fix: fix.to_string(),
            })
        };
        if !self.frame_size.is_power_of_two() || !(2048..=4096).contains(&self.frame_size) {
            return bad(
                format!("frame size {} is not 2048 or 4096", self.frame_size),
                "use --frame-size 2048 or 4096 (aligned UMEM chunks must be a power of two no larger than a page)",
            );
        }
        if self.frame_count == 0 {
            return bad("frame count 0".into(), "use at least 2x the fill ring size");
        }
        if (self.headroom as u64) + (XDP_PACKET_HEADROOM as u64) + 128 > self.frame_size as u64 {
            return bad(
                format!(
                    "headroom {} leaves no room for data in {}-byte frames (the kernel adds {XDP_PACKET_HEADROOM})",
                    self.headroom, self.frame_size
                ),
                "lower the headroom or use 4096-byte frames",
            );
        }
        Ok(())
    }
}

/// Where every frame of a UMEM is (from [`Umem::accounting`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UmemAccounting {
    /// Frames in the UMEM.
    pub total: u32,
    /// On the free list.
    pub free: u32,
    /// Given to a socket's fill side: in a fill ring, being written by the
    /// kernel, or in an rx ring not yet read (see
    /// [`SocketAccounting`](super::SocketAccounting) for the split).
    pub fill: u32,
    /// Owned by a [`Frame`] handle (the stack, a batch, an inbox).
    pub user: u32,
    /// Given to a socket's tx side: in a tx ring, being sent, or in a
    /// completion ring not yet reaped.
    pub tx: u32,
}

impl UmemAccounting {
    /// Whether every frame is on the free list.
    pub fn all_free(&self) -> bool {
        self.free == self.total
    }
}

impl fmt::Display for UmemAccounting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} frames: {} free, {} fill side, {} user, {} tx side",
            self.total, self.free, self.fill, self.user, self.tx
        )
    }
}

/// The mapped memory and the lock-free return queue. Handles point here.
pub(crate) struct Region {
    map: Mmap,
    frame_size: u32,
    shift: u32,
    frames: u32,
    returned: ArrayQueue<u32>,
}

impl Region {
    /// Bytes of the whole UMEM.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Start of the UMEM (for `XDP_UMEM_REG`).
    pub(crate) fn base(&self) -> NonNull<u8> {
        self.map.ptr()
    }
}

/// Frame state, encoded: 0 free, 1 user, 2+2s fill of socket s, 3+2s tx
/// of socket s.
const FREE: u16 = 0;
const USER: u16 = 1;
const fn fill_of(s: u16) -> u16 {
    2 + 2 * s
}
const fn tx_of(s: u16) -> u16 {
    3 + 2 * s
}

/// The free list and frame states, behind the per-worker lock.
pub(crate) struct Pool {
    region: NonNull<Region>,
    free: Vec<u32>,
    state: Vec<u16>,
    /// Handles created and not yet consumed by a ring or drained from the
    /// return queue.
    outstanding: u32,
    next_socket: u16,
}

// SAFETY: `region` points at a `Region` (Sync: a mapping plus a lock-free
// queue) that outlives the pool (`UmemInner::drop`).
unsafe impl Send for Pool {}

impl Pool {
    fn region(&self) -> &Region {
        // SAFETY: the region outlives the pool (see `UmemInner::drop`).
        unsafe { self.region.as_ref() }
    }

    /// Move frames dropped anywhere back onto the free list.
    pub(crate) fn reclaim_returned(&mut self) {
        // SAFETY: as in `region()`; borrowed separately from `self.free`.
        let region = unsafe { self.region.as_ref() };
        while let Some(i) = region.returned.pop() {
            debug_assert_eq!(self.state[i as usize], USER);
            self.state[i as usize] = FREE;
            self.outstanding -= 1;
            self.free.push(i);
        }
    }

    /// Frames on the free list (after the last reclaim).
    pub(crate) fn free_len(&self) -> usize {
        self.free.len()
    }

    /// A new socket id on this UMEM.
    pub(crate) fn new_socket_id(&mut self) -> Option<u16> {
        let id = self.next_socket;
        if tx_of(id) == u16::MAX {
            return None;
        }
        self.next_socket += 1;
        Some(id)
    }

    /// Take a free frame for socket `s`'s fill ring; returns its UMEM
    /// address.
    pub(crate) fn give_to_fill(&mut self, s: u16) -> Option<u64> {
        let i = self.free.pop()?;
        self.state[i as usize] = fill_of(s);
        Some(u64::from(i) << self.region().shift)
    }

    /// A received descriptor of socket `s` at `addr` becomes a handle.
    /// `None` (and nothing changes) if the address is not a frame that
    /// socket gave to the kernel — never expected from a correct kernel.
    pub(crate) fn take_from_rx(&mut self, s: u16, addr: u64) -> Option<Frame> {
        let i = self.index_of(addr)?;
        if self.state[i as usize] != fill_of(s) {
            return None;
        }
        self.state[i as usize] = USER;
        self.outstanding += 1;
        Some(Frame {
            region: self.region,
            index: i,
        })
    }

    /// A free frame as a handle (for copies and locally built packets).
    pub(crate) fn alloc(&mut self) -> Option<Frame> {
        if self.free.is_empty() {
            self.reclaim_returned();
        }
        let i = self.free.pop()?;
        self.state[i as usize] = USER;
        self.outstanding += 1;
        Some(Frame {
            region: self.region,
            index: i,
        })
    }

    /// Consume a handle for socket `s`'s tx ring; returns its chunk address.
    pub(crate) fn give_to_tx(&mut self, s: u16, frame: Frame) -> u64 {
        debug_assert!(frame.region == self.region);
        let i = frame.index;
        std::mem::forget(frame);
        debug_assert_eq!(self.state[i as usize], USER);
        self.state[i as usize] = tx_of(s);
        self.outstanding -= 1;
        u64::from(i) << self.region().shift
    }

    /// A completion of socket `s` for `addr`: the frame is free again.
    /// Returns false (and changes nothing) for an address that socket did
    /// not send.
    pub(crate) fn complete(&mut self, s: u16, addr: u64) -> bool {
        let Some(i) = self.index_of(addr) else {
            return false;
        };
        if self.state[i as usize] != tx_of(s) {
            return false;
        }
        self.state[i as usize] = FREE;
        self.free.push(i);
        true
    }

    /// Socket `s` is closed: every frame it held is free.
    pub(crate) fn release_socket(&mut self, s: u16) -> u32 {
        let mut n = 0;
        for (i, st) in self.state.iter_mut().enumerate() {
            if *st == fill_of(s) || *st == tx_of(s) {
                *st = FREE;
                self.free.push(i as u32);
                n += 1;
            }
        }
        n
    }

    /// Frames of socket `s` on its fill side and on its tx side.
    pub(crate) fn socket_frames(&self, s: u16) -> (u32, u32) {
        let fill = self.state.iter().filter(|&&x| x == fill_of(s)).count();
        let tx = self.state.iter().filter(|&&x| x == tx_of(s)).count();
        (fill as u32, tx as u32)
    }

    fn index_of(&self, addr: u64) -> Option<u32> {
        let r = self.region();
        let i = addr >> r.shift;
        (i < u64::from(r.frames)).then_some(i as u32)
    }

    fn accounting(&mut self) -> UmemAccounting {
        self.reclaim_returned();
        let mut a = UmemAccounting {
            total: self.region().frames,
            ..UmemAccounting::default()
        };
        for &s in &self.state {
            match s {
                FREE => a.free += 1,
                USER => a.user += 1,
                s if s % 2 == 0 => a.fill += 1,
                _ => a.tx += 1,
            }
        }
        debug_assert_eq!(a.free as usize, self.free.len());
        debug_assert_eq!(a.user, self.outstanding);
        a
    }
}

/// Shared part of a [`Umem`]: the region, the pool, the sockets.
pub(crate) struct UmemInner {
    region: NonNull<Region>,
    pub(crate) config: UmemConfig,
    pool: Mutex<Pool>,
    /// Sockets using this UMEM; a live one is the `XDP_SHARED_UMEM` anchor.
    pub(crate) sockets: Mutex<Vec<Weak<SocketShared>>>,
}

// SAFETY: `region` points at a `Region`, which is Sync (plain memory whose
// chunks are accessed only through exclusively owned handles, and a
// lock-free queue); everything else is behind mutexes.
unsafe impl Send for UmemInner {}
// SAFETY: as above.
unsafe impl Sync for UmemInner {}

impl UmemInner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Pool> {
        // Every critical section leaves the pool consistent before it can
        // panic (index arithmetic only), so a poisoned pool is usable.
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn region(&self) -> &Region {
        // SAFETY: the region outlives `self` (freed only in our Drop).
        unsafe { self.region.as_ref() }
    }

    pub(crate) fn region_ptr(&self) -> NonNull<Region> {
        self.region
    }
}

impl Drop for UmemInner {
    fn drop(&mut self) {
        let pool = self.pool.get_mut().unwrap_or_else(|p| p.into_inner());
        pool.reclaim_returned();
        if pool.outstanding == 0 {
            // SAFETY: the region came from `Box::into_raw` in `Umem::new`;
            // no socket refers to it (they hold `Arc<UmemInner>`) and no
            // handle is outstanding, so nothing can reach it any more.
            drop(unsafe { Box::from_raw(self.region.as_ptr()) });
        }
        // Otherwise: handles outlived the UMEM; keep the region mapped
        // (leaked) so they stay valid. See the module docs.
    }
}

/// The packet memory of one worker, shared by all of its AF_XDP sockets
/// (cheap to clone: a reference).
#[derive(Clone)]
pub struct Umem {
    pub(crate) inner: Arc<UmemInner>,
}

impl fmt::Debug for Umem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Umem")
            .field("config", &self.inner.config)
            .field("base", &self.inner.region().base())
            .finish()
    }
}

impl Umem {
    /// Map (and pre-fault) the memory for `config.frame_count` frames. The
    /// kernel registration happens when the first socket is created on it.
    pub fn new(config: UmemConfig) -> Result<Umem, XskError> {
        config.validate()?;
        let len = config.frame_count as usize * config.frame_size as usize;
        let map = Mmap::anonymous(len).map_err(|e| XskError::Syscall {
            op: "mmap the UMEM",
            iface: String::new(),
            source: e,
            fix: format!("{len} bytes could not be mapped: use fewer frames"),
        })?;
        let region = Box::new(Region {
            map,
            frame_size: config.frame_size,
            shift: config.frame_size.trailing_zeros(),
            frames: config.frame_count,
            returned: ArrayQueue::new(config.frame_count as usize),
        });
        let region = NonNull::from(Box::leak(region));
        let pool = Pool {
            region,
            // Pop order: lowest addresses first.
            free: (0..config.frame_count).rev().collect(),
            state: vec![FREE; config.frame_count as usize],
            outstanding: 0,
            next_socket: 0,
        };
        Ok(Umem {
            inner: Arc::new(UmemInner {
                region,
                config,
                pool: Mutex::new(pool),
                sockets: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &UmemConfig {
        &self.inner.config
    }

    /// Headroom in front of received data: the configured headroom plus
    /// the kernel's `XDP_PACKET_HEADROOM`.
    pub fn rx_headroom(&self) -> usize {
        (self.inner.config.headroom + XDP_PACKET_HEADROOM) as usize
    }

    /// A free frame, or `None` when every frame is in use.
    pub fn alloc(&self) -> Option<Frame> {
        self.inner.lock().alloc()
    }

    /// Where every frame is. Exact when no other thread is moving frames
    /// at the same moment (the pool is locked while counting).
    pub fn accounting(&self) -> UmemAccounting {
        self.inner.lock().accounting()
    }

    /// Whether `frame` is a frame of this UMEM.
    pub fn owns(&self, frame: &Frame) -> bool {
        frame.region == self.inner.region
    }
}

/// One UMEM chunk, owned by userspace: the only way to read or write a
/// frame's bytes. Not `Clone`/`Copy`; giving it to a ring consumes it, and
/// dropping it returns the chunk to its UMEM's free list (from any thread).
pub struct Frame {
    region: NonNull<Region>,
    index: u32,
}

// SAFETY: a handle is the unique owner of its chunk (the pool hands out
// each index once until it comes back), so moving it to another thread
// moves exclusive access; `Region` is Sync.
unsafe impl Send for Frame {}
// SAFETY: `&Frame` only gives `&[u8]` of the owned chunk.
unsafe impl Sync for Frame {}

impl Frame {
    fn region(&self) -> &Region {
        // SAFETY: the region outlives every handle (`UmemInner::drop`
        // leaks it while handles are outstanding).
        unsafe { self.region.as_ref() }
    }

    /// Offset of the chunk in its UMEM (the descriptor address space).
    #[inline]
    pub fn addr(&self) -> u64 {
        u64::from(self.index) << self.region().shift
    }

    /// Size of the chunk in bytes.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.region().frame_size as usize
    }

    /// The chunk's bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        let r = self.region();
        // SAFETY: the chunk `[addr, addr + frame_size)` lies inside the
        // mapping and is owned by this handle: neither the kernel (it is on
        // no ring) nor another handle accesses it while `self` is borrowed.
        unsafe {
            std::slice::from_raw_parts(
                r.map.ptr().as_ptr().add(self.addr() as usize),
                r.frame_size as usize,
            )
        }
    }

    /// The chunk's bytes, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let r = self.region();
        let (base, len) = (r.map.ptr(), r.frame_size as usize);
        // SAFETY: as in `as_slice`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(base.as_ptr().add(self.addr() as usize), len) }
    }

    pub(crate) fn region_ptr(&self) -> NonNull<Region> {
        self.region
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // Capacity equals the frame count and each index is queued at most
        // once, so this cannot fail; if it ever did, the frame would leak
        // (visible in accounting), never be handed out twice.
        let _ = self.region().returned.push(self.index);
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frame(addr={:#x})", self.addr())
    }
}

impl PartialEq for Frame {
    /// Frames are equal when their bytes are (handles are unique, so
    /// identity would make every comparison false).
    fn eq(&self, other: &Frame) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Frame {}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Umem {
        Umem::new(UmemConfig {
            frame_count: 8,
            ..UmemConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn alloc_write_drop_returns_to_free_list() {
        let u = small();
        let mut f = u.alloc().unwrap();
        assert_eq!(f.capacity(), 4096);
        f.as_mut_slice()[..3].copy_from_slice(b"abc");
        assert_eq!(&f.as_slice()[..3], b"abc");
        assert!(u.owns(&f));
        let a = u.accounting();
        assert_eq!((a.free, a.user), (7, 1), "{a}");
        // Dropped on another thread: still comes home.
        std::thread::spawn(move || drop(f)).join().unwrap();
        assert!(u.accounting().all_free());
    }

    #[test]
    fn exhausting_the_pool_is_not_an_error() {
        let u = small();
        let frames: Vec<Frame> = (0..8).map(|_| u.alloc().unwrap()).collect();
        assert!(u.alloc().is_none());
        let mut addrs: Vec<u64> = frames.iter().map(Frame::addr).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 8, "every handle owns a distinct chunk");
        drop(frames);
        assert!(u.alloc().is_some());
    }

    #[test]
    fn handles_outliving_the_umem_stay_valid() {
        let u = small();
        let mut f = u.alloc().unwrap();
        drop(u);
        f.as_mut_slice()[0] = 7; // region leaked on purpose, still mapped
        assert_eq!(f.as_slice()[0], 7);
    }

    #[test]
    fn bad_configs_are_explained() {
        for c in [
            UmemConfig {
                frame_size: 3000,
                ..UmemConfig::default()
            },
            UmemConfig {
                frame_count: 0,
                ..UmemConfig::default()
            },
            UmemConfig {
                frame_size: 2048,
                headroom: 1800,
                ..UmemConfig::default()
            },
        ] {
            let e = Umem::new(c).unwrap_err().to_string();
            assert!(e.contains("fix:"), "{e}");
        }
    }
}
