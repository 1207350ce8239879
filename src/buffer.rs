//! Packet buffers: one frame with headroom, and batches of them.
//!
//! A [`PacketBuffer`] owns one frame's storage and marks the valid bytes
//! within it as `head..tail`. Headers are *pushed* on the send path by growing
//! into the headroom ([`PacketBuffer::prepend`]) and *pulled* on the receive
//! path by advancing `head` ([`PacketBuffer::advance`]), so a received frame can
//! be parsed, rewritten and transmitted in the storage it arrived in.
//!
//! A buffer has exactly one owner at a time (it is not `Clone`): the link that
//! received it, then the stack, then the link that transmits it. Its storage
//! is either heap memory or a UMEM frame ([`crate::xsk::Frame`]) received by
//! the AF_XDP link: the stack parses, rewrites in place and prepends headers
//! on both alike, and the AF_XDP link sends a UMEM-backed buffer from the
//! frame it is in. Dropping a UMEM-backed buffer returns its frame to the
//! worker's free list.
//!
//! Growing past the storage never panics: the buffer reallocates (a cold
//! path) so a caller that mis-sized the headroom loses speed, not
//! correctness. A UMEM-backed buffer that grows past its frame becomes a
//! heap buffer (its frame goes back to the free list); such fallbacks are
//! counted ([`umem_heap_fallbacks`]).
//!
//! A [`PacketBatch`] is what links read into and write from: `write_packets`
//! takes packets from the front and leaves the rest with the caller.
//!
//! Frames the send path builds by the thousand (the segments software GSO
//! cuts) come from a per-thread pool of [`POOL_FRAME_SIZE`]-byte storages
//! ([`PacketBuffer::pooled`]): dropping such a buffer puts its storage back
//! on the pool of the dropping thread (up to [`POOL_LIMIT`] storages), so a
//! steady send loop allocates nothing once warm. Other buffers (received
//! frames, UMEM frames) are untouched by the pool. The pool is per thread
//! because a worker builds, transmits and drops its frames on one core; a
//! buffer dropped on another thread just joins that thread's pool.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::gso::{Gso, GsoCut};
use crate::xsk::Frame;

/// Default headroom reserved for link and network headers on locally built
/// packets: Ethernet + 802.1Q (18) + IPv6 (40) + fragment header (8) + TCP
/// with options (60), rounded up.
pub const DEFAULT_HEADROOM: usize = 128;

/// Storage size of pooled frames: headroom, an Ethernet MTU's IP packet,
/// and the largest TCP header fit.
pub const POOL_FRAME_SIZE: usize = 2048;

/// Storages each thread's pool keeps at most (8 MiB of 2 KiB frames):
/// more than a poll's worth of GSO segments, and bounded so a burst does
/// not pin memory for ever.
pub const POOL_LIMIT: usize = 4096;

thread_local! {
    /// This thread's free storages, all [`POOL_FRAME_SIZE`] bytes long.
    static POOL: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// Free storages in this thread's pool.
pub fn pool_len() -> usize {
    POOL.try_with(|p| p.borrow().len()).unwrap_or(0)
}

/// Take a storage from this thread's pool, or allocate one.
#[inline]
fn pool_take() -> Box<[u8]> {
    POOL.try_with(|p| p.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| vec![0u8; POOL_FRAME_SIZE].into_boxed_slice())
}

/// Return a [`POOL_FRAME_SIZE`] storage to this thread's pool (freed if
/// the pool is full or the thread is exiting).
#[inline]
fn pool_put(b: Box<[u8]>) {
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_LIMIT {
            p.push(b);
        }
    });
}

/// UMEM-backed buffers that had to move to the heap because they grew
/// past their frame (cold path; process-wide).
static UMEM_HEAP_FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// How many UMEM-backed buffers grew past their frame and were copied to
/// the heap, process-wide. Non-zero means some headroom is mis-sized.
pub fn umem_heap_fallbacks() -> u64 {
    UMEM_HEAP_FALLBACKS.load(Ordering::Relaxed)
}

/// A [`POOL_FRAME_SIZE`] storage taken from this thread's pool; dropping
/// it puts it back. Only buffers made by [`PacketBuffer::pooled`] carry
/// one, so no other buffer pays for the pool on drop (`PacketBuffer` has no
/// `Drop` of its own: the router's per-packet path moves buffers freely).
#[derive(Debug, PartialEq, Eq)]
struct PoolBox(Box<[u8]>);

impl PoolBox {
    /// The storage, no longer tied to the pool.
    fn into_inner(mut self) -> Box<[u8]> {
        core::mem::take(&mut self.0)
    }
}

impl Drop for PoolBox {
    #[inline]
    fn drop(&mut self) {
        if !self.0.is_empty() {
            pool_put(core::mem::take(&mut self.0));
        }
    }
}

/// Where a buffer's bytes live.
#[derive(Debug, PartialEq, Eq)]
enum Storage {
    Heap(Box<[u8]>),
    Pooled(PoolBox),
    Umem(Frame),
}

impl Storage {
    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Heap(b) | Storage::Pooled(PoolBox(b)) => b,
            Storage::Umem(f) => f.as_slice(),
        }
    }

    #[inline(always)]
    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Storage::Heap(b) | Storage::Pooled(PoolBox(b)) => b,
            Storage::Umem(f) => f.as_mut_slice(),
        }
    }

    #[inline(always)]
    fn len(&self) -> usize {
        match self {
            Storage::Heap(b) | Storage::Pooled(PoolBox(b)) => b.len(),
            Storage::Umem(f) => f.capacity(),
        }
    }
}

/// One packet in a frame with headroom.
#[derive(Debug, PartialEq, Eq)]
pub struct PacketBuffer {
    storage: Storage,
    head: usize,
    tail: usize,
    /// Segmentation metadata for a send above the MTU (software GSO).
    pub gso: Option<Gso>,
    /// Set by a link with receive checksum offload: the transport checksum
    /// was verified already.
    pub csum_verified: bool,
    /// Whether this packet is a segment a transport endpoint cut by
    /// software GSO itself (counted by the network layer as GSO output).
    pub(crate) gso_cut: GsoCut,
}

impl PacketBuffer {
    /// An empty buffer of `headroom + capacity` bytes, positioned after the
    /// headroom.
    pub fn new(headroom: usize, capacity: usize) -> PacketBuffer {
        PacketBuffer {
            storage: Storage::Heap(vec![0u8; headroom + capacity].into_boxed_slice()),
            head: headroom,
            tail: headroom,
            gso: None,
            csum_verified: false,
            gso_cut: GsoCut::No,
        }
    }

    /// An empty buffer positioned after `headroom` bytes with room for
    /// `capacity` more, from this thread's frame pool when it fits in
    /// [`POOL_FRAME_SIZE`] (else freshly allocated, as [`PacketBuffer::new`]).
    ///
    /// The storage is *not* zeroed: it may hold an earlier frame's bytes.
    /// The caller writes every byte it [`append`](Self::append)s; the
    /// headroom is only ever written through [`prepend`](Self::prepend).
    #[inline]
    pub fn pooled(headroom: usize, capacity: usize) -> PacketBuffer {
        if headroom + capacity > POOL_FRAME_SIZE {
            return PacketBuffer::new(headroom, capacity);
        }
        PacketBuffer {
            storage: Storage::Pooled(PoolBox(pool_take())),
            head: headroom,
            tail: headroom,
            gso: None,
            csum_verified: false,
            gso_cut: GsoCut::No,
        }
    }

    /// A buffer holding a copy of `data` after `headroom` bytes.
    pub fn from_slice(headroom: usize, data: &[u8]) -> PacketBuffer {
        let mut b = PacketBuffer::new(headroom, data.len());
        b.append(data.len()).copy_from_slice(data);
        b
    }

    /// Wrap storage whose valid bytes are `head..tail` (a received frame).
    /// Out-of-range positions are clamped to the storage.
    pub fn from_storage(storage: Box<[u8]>, head: usize, tail: usize) -> PacketBuffer {
        let tail = tail.min(storage.len());
        let head = head.min(tail);
        PacketBuffer {
            storage: Storage::Heap(storage),
            head,
            tail,
            gso: None,
            csum_verified: false,
            gso_cut: GsoCut::No,
        }
    }

    /// Wrap a UMEM frame whose valid bytes are `head..tail` (a frame
    /// received by the AF_XDP link). Out-of-range positions are clamped to
    /// the frame.
    pub fn from_frame(frame: Frame, head: usize, tail: usize) -> PacketBuffer {
        let tail = tail.min(frame.capacity());
        let head = head.min(tail);
        PacketBuffer {
            storage: Storage::Umem(frame),
            head,
            tail,
            gso: None,
            csum_verified: false,
            gso_cut: GsoCut::No,
        }
    }

    /// Give the storage back (for recycling by a pool). A UMEM-backed
    /// buffer is copied out and its frame returned to its free list.
    #[inline]
    pub fn into_storage(self) -> Box<[u8]> {
        match self.storage {
            Storage::Heap(b) => b,
            Storage::Pooled(p) => p.into_inner(),
            Storage::Umem(f) => f.as_slice().into(),
        }
    }

    /// The UMEM frame backing this buffer, if it is UMEM-backed.
    #[inline]
    pub fn frame(&self) -> Option<&Frame> {
        match &self.storage {
            Storage::Umem(f) => Some(f),
            Storage::Heap(_) | Storage::Pooled(_) => None,
        }
    }

    /// Whether the bytes live in a UMEM frame.
    #[inline]
    pub fn is_umem(&self) -> bool {
        matches!(self.storage, Storage::Umem(_))
    }

    /// UMEM address (descriptor address space) of the first valid byte,
    /// for a UMEM-backed buffer.
    pub fn umem_addr(&self) -> Option<u64> {
        self.frame().map(|f| f.addr() + self.head as u64)
    }

    /// Take the UMEM frame out, with the valid range `head..tail` within
    /// it; the buffer is left empty (heap-backed, no allocation). `None`
    /// (and nothing changes) for a heap buffer.
    pub fn take_frame(&mut self) -> Option<(Frame, usize, usize)> {
        if !self.is_umem() {
            return None;
        }
        let storage = core::mem::replace(&mut self.storage, Storage::Heap(Box::default()));
        let (head, tail) = (self.head, self.tail);
        self.head = 0;
        self.tail = 0;
        match storage {
            Storage::Umem(f) => Some((f, head, tail)),
            Storage::Heap(_) | Storage::Pooled(_) => None,
        }
    }

    /// The valid bytes.
    #[inline(always)]
    pub fn as_slice(&self) -> &[u8] {
        &self.storage.bytes()[self.head..self.tail]
    }

    /// The valid bytes, mutably.
    #[inline(always)]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let (h, t) = (self.head, self.tail);
        &mut self.storage.bytes_mut()[h..t]
    }

    /// Number of valid bytes.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.tail - self.head
    }

    /// Whether there are no valid bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.tail == self.head
    }

    /// Bytes available in front of the data.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.head
    }

    /// Bytes available after the data.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.storage.len() - self.tail
    }

    /// Total storage size.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.storage.len()
    }

    /// Grow the data by `n` bytes at the front and return them (push a header).
    #[inline(always)]
    pub fn prepend(&mut self, n: usize) -> &mut [u8] {
        if n > self.head {
            self.regrow(n - self.head + DEFAULT_HEADROOM, 0);
        }
        self.head -= n;
        let h = self.head;
        &mut self.storage.bytes_mut()[h..h + n]
    }

    /// Drop `n` bytes from the front (pull a parsed header); clamps to the length.
    #[inline(always)]
    pub fn advance(&mut self, n: usize) {
        self.head += n.min(self.len());
    }

    /// Move the front back by `n` bytes into the headroom, exposing bytes that
    /// were pulled earlier (e.g. to reuse a received Ethernet header). Clamps
    /// to the headroom.
    #[inline]
    pub fn retreat(&mut self, n: usize) {
        self.head -= n.min(self.head);
    }

    /// Grow the data by `n` bytes at the back and return them.
    #[inline]
    pub fn append(&mut self, n: usize) -> &mut [u8] {
        if n > self.tailroom() {
            self.regrow(0, n - self.tailroom());
        }
        let at = self.tail;
        self.tail += n;
        &mut self.storage.bytes_mut()[at..at + n]
    }

    /// Shorten the data to `len` bytes (no effect if already shorter).
    #[inline(always)]
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.tail = self.head + len;
        }
    }

    /// Empty the buffer and position it after `headroom` bytes.
    pub fn reset(&mut self, headroom: usize) {
        let h = headroom.min(self.storage.len());
        self.head = h;
        self.tail = h;
        self.gso = None;
        self.csum_verified = false;
        self.gso_cut = GsoCut::No;
    }

    /// Slow path: reallocate with `front` more headroom and `back` more
    /// tailroom. A UMEM frame cannot grow: its bytes move to the heap and
    /// the frame goes back to its free list (counted).
    #[cold]
    fn regrow(&mut self, front: usize, back: usize) {
        let mut s = vec![0u8; self.storage.len() + front + back].into_boxed_slice();
        let len = self.len();
        s[self.head + front..self.head + front + len].copy_from_slice(self.as_slice());
        if self.is_umem() {
            UMEM_HEAP_FALLBACKS.fetch_add(1, Ordering::Relaxed);
        }
        self.storage = Storage::Heap(s);
        self.head += front;
        self.tail = self.head + len;
    }
}

/// A batch of packets, read from or written to a link in one call.
pub type PacketBatch = Vec<PacketBuffer>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_pull_headers() {
        let mut b = PacketBuffer::from_slice(16, b"payload");
        b.prepend(4).copy_from_slice(b"hdr:");
        assert_eq!(b.as_slice(), b"hdr:payload");
        assert_eq!(b.headroom(), 12);
        b.advance(4);
        assert_eq!(b.as_slice(), b"payload");
        b.retreat(4);
        assert_eq!(b.as_slice(), b"hdr:payload");
        b.advance(100);
        assert!(b.is_empty());
    }

    #[test]
    fn growing_past_storage_reallocates_instead_of_panicking() {
        let mut b = PacketBuffer::from_slice(2, b"xy");
        b.prepend(10).fill(b'a');
        b.append(5).fill(b'z');
        assert_eq!(b.as_slice(), b"aaaaaaaaaaxyzzzzz");
        b.truncate(3);
        assert_eq!(b.as_slice(), b"aaa");
        b.reset(1);
        assert!(b.is_empty());
        assert_eq!(b.headroom(), 1);
    }

    fn umem() -> crate::xsk::Umem {
        crate::xsk::Umem::new(crate::xsk::UmemConfig {
            frame_count: 4,
            ..crate::xsk::UmemConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn umem_buffers_parse_rewrite_and_prepend_in_place() {
        let u = umem();
        let mut f = u.alloc().unwrap();
        let addr = f.addr();
        f.as_mut_slice()[256..263].copy_from_slice(b"payload");
        let mut b = PacketBuffer::from_frame(f, 256, 263);
        assert!(b.is_umem());
        assert_eq!(b.umem_addr(), Some(addr + 256));
        assert_eq!(b.as_slice(), b"payload");
        assert_eq!((b.headroom(), b.capacity()), (256, 4096));
        b.prepend(4).copy_from_slice(b"hdr:");
        b.as_mut_slice()[4] = b'P';
        b.append(1)[0] = b'!';
        assert_eq!(b.as_slice(), b"hdr:Payload!");
        assert_eq!(b.umem_addr(), Some(addr + 252), "still in its frame");
        b.advance(4);
        assert_eq!(b.as_slice(), b"Payload!");
        let (f, head, tail) = b.take_frame().unwrap();
        assert_eq!((f.addr(), head, tail), (addr, 256, 264));
        assert!(b.is_empty() && !b.is_umem());
        drop(f);
        assert!(u.accounting().all_free());
    }

    #[test]
    fn umem_buffer_growing_past_its_frame_moves_to_the_heap() {
        let u = umem();
        let f = u.alloc().unwrap();
        let before = umem_heap_fallbacks();
        let mut b = PacketBuffer::from_frame(f, 8, 10);
        b.as_mut_slice().copy_from_slice(b"ok");
        b.prepend(64)[0] = 1;
        assert!(!b.is_umem());
        assert_eq!(&b.as_slice()[64..], b"ok");
        assert!(umem_heap_fallbacks() > before);
        assert!(u.accounting().all_free(), "the frame went home");
        // Dropping a UMEM buffer returns its frame as well.
        let b = PacketBuffer::from_frame(u.alloc().unwrap(), 0, 5000);
        assert_eq!(b.len(), 4096, "clamped to the frame");
        assert_eq!(u.accounting().user, 1);
        drop(b);
        assert!(u.accounting().all_free());
    }

    #[test]
    fn pooled_storage_is_reused_after_drop() {
        // Drain whatever this test thread pooled before.
        let warm: Vec<PacketBuffer> = (0..pool_len())
            .map(|_| PacketBuffer::pooled(0, 1))
            .collect();
        assert_eq!(pool_len(), 0);
        drop(warm);
        let before = pool_len();
        let mut b = PacketBuffer::pooled(64, 1500);
        assert_eq!(pool_len(), before.saturating_sub(1));
        assert_eq!(
            (b.headroom(), b.len(), b.capacity()),
            (64, 0, POOL_FRAME_SIZE)
        );
        b.append(3).copy_from_slice(b"abc");
        b.prepend(2).copy_from_slice(b"xy");
        assert_eq!(b.as_slice(), b"xyabc");
        let n = pool_len();
        drop(b);
        assert_eq!(pool_len(), n + 1, "the storage went back to the pool");
        // A buffer too big for a pooled frame is allocated apart and not pooled.
        let big = PacketBuffer::pooled(128, POOL_FRAME_SIZE);
        assert!(big.capacity() > POOL_FRAME_SIZE);
        let n = pool_len();
        drop(big);
        assert_eq!(pool_len(), n);
        // into_storage still hands the bytes over.
        let s = PacketBuffer::from_slice(1, b"zz").into_storage();
        assert_eq!(&s[..], &[0, b'z', b'z']);
    }

    #[test]
    fn from_storage_clamps() {
        let b = PacketBuffer::from_storage(vec![1, 2, 3].into_boxed_slice(), 5, 10);
        assert!(b.is_empty());
        let b = PacketBuffer::from_storage(vec![1, 2, 3].into_boxed_slice(), 1, 3);
        assert_eq!(b.as_slice(), &[2, 3]);
    }
}
