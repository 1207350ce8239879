//! The four AF_XDP rings as single-producer/single-consumer queues shared
//! with the kernel.
//!
//! Memory-ordering contract (`net/xdp/xsk_queue.h`, which states it once):
//!
//! ```text
//!  producer                          consumer
//!  if (LOAD ->consumer) {   (A)      LOAD ->producer   (C)
//!     STORE $data                    LOAD $data
//!     STORE ->producer      (B)      STORE ->consumer  (D)
//!  }
//!  (A) pairs with (D), and (B) pairs with (C).
//! ```
//!
//! In Rust terms: a producer reads the consumer index with `Acquire` (A) —
//! once it sees the kernel moved past a slot, the kernel has finished
//! reading it — writes descriptors, then publishes with a `Release` store
//! of the producer index (B). A consumer reads the producer index with
//! `Acquire` (C) — the descriptors it then reads are complete — and hands
//! slots back with a `Release` store of the consumer index (D), ordering
//! its reads of the slots before the kernel may overwrite them. Every
//! `Ordering` below names its letter.
//!
//! `cached_*` fields are ours alone (libxdp's vocabulary: `reserve/submit`
//! for producers, `peek/release` for consumers). A producer's
//! `cached_cons` is kept `size` larger than the real consumer index so
//! `cached_cons - cached_prod` is the free count (the libxdp trick).
//!
//! The `flags` word carries `XDP_RING_NEED_WAKEUP`; checking it after a
//! submit is a store→load pattern, so a `SeqCst` fence separates the
//! producer store from the flag load (the kernel does the mirror image,
//! setting the flag and then re-checking the ring under a full barrier).

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, Ordering};

use super::sys::XDP_RING_NEED_WAKEUP;

/// Where the words and the descriptor array of one ring live in a mapping
/// (`struct xdp_ring_offset`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingLayout {
    pub(crate) producer: usize,
    pub(crate) consumer: usize,
    pub(crate) flags: usize,
    pub(crate) desc: usize,
}

impl From<libc::xdp_ring_offset> for RingLayout {
    fn from(o: libc::xdp_ring_offset) -> Self {
        RingLayout {
            producer: o.producer as usize,
            consumer: o.consumer as usize,
            flags: o.flags as usize,
            desc: o.desc as usize,
        }
    }
}

/// Raw pointers into one mapped ring.
#[derive(Debug)]
struct RawRing<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    desc: NonNull<T>,
    size: u32,
    mask: u32,
    _t: PhantomData<T>,
}

impl<T: Copy> RawRing<T> {
    /// # Safety
    ///
    /// `base` must point to a mapping of at least `len` bytes laid out as
    /// `layout` says, with 4-byte aligned index words and a descriptor
    /// array of `size` (a power of two) `T`s, that stays mapped for as
    /// long as the ring is used.
    unsafe fn new(base: NonNull<u8>, len: usize, layout: RingLayout, size: u32) -> RawRing<T> {
        assert!(size.is_power_of_two(), "ring size must be a power of two");
        assert!(layout.desc + size as usize * std::mem::size_of::<T>() <= len);
        assert!(
            layout.producer + 4 <= len && layout.consumer + 4 <= len && layout.flags + 4 <= len
        );
        let at = |off: usize| {
            // SAFETY: `off` is inside the mapping (asserted above).
            unsafe { NonNull::new_unchecked(base.as_ptr().add(off)) }
        };
        RawRing {
            producer: at(layout.producer).cast(),
            consumer: at(layout.consumer).cast(),
            flags: at(layout.flags).cast(),
            desc: at(layout.desc).cast(),
            size,
            mask: size - 1,
            _t: PhantomData,
        }
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: in the mapping for the ring's lifetime (constructor
        // contract); the kernel only accesses it atomically.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.flags.as_ref() }
    }

    fn slot(&self, index: u32) -> *mut T {
        // SAFETY: `index & mask < size`, inside the descriptor array.
        unsafe { self.desc.as_ptr().add((index & self.mask) as usize) }
    }
}

/// Our side of a ring we produce into (fill, TX).
#[derive(Debug)]
pub(crate) struct ProdRing<T> {
    raw: RawRing<T>,
    cached_prod: u32,
    /// The consumer index plus `size`.
    cached_cons: u32,
}

impl<T: Copy> ProdRing<T> {
    /// # Safety
    ///
    /// As for the raw ring: `base..base+len` is the ring's mapping laid out
    /// as `layout`, alive while this value is used, and no other
    /// userspace producer writes to it.
    pub(crate) unsafe fn new(base: NonNull<u8>, len: usize, layout: RingLayout, size: u32) -> Self {
        // SAFETY: forwarded contract.
        let raw = unsafe { RawRing::new(base, len, layout, size) };
        // (A): a fresh ring; Acquire anyway so the contract holds uniformly.
        let cons = raw.consumer().load(Ordering::Acquire);
        let prod = raw.producer().load(Ordering::Relaxed);
        ProdRing {
            cached_prod: prod,
            cached_cons: cons.wrapping_add(size),
            raw,
        }
    }

    /// How many slots are free, up to `want` (refreshes from the kernel
    /// only when the cached view has fewer).
    pub(crate) fn reserve(&mut self, want: u32) -> u32 {
        let free = self.cached_cons.wrapping_sub(self.cached_prod);
        if free >= want {
            return want;
        }
        // (A): pairs with the kernel's (D); slots up to here are read.
        self.cached_cons = self
            .raw
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(self.raw.size);
        self.cached_cons.wrapping_sub(self.cached_prod).min(want)
    }

    /// Write the `i`-th reserved slot (`i` < what `reserve` returned).
    pub(crate) fn write(&mut self, i: u32, value: T) {
        debug_assert!(i < self.cached_cons.wrapping_sub(self.cached_prod));
        // SAFETY: the slot is free per (A): the kernel has consumed it and
        // will not read it again before we publish it with (B).
        unsafe { self.raw.slot(self.cached_prod.wrapping_add(i)).write(value) }
    }

    /// Publish `n` written slots to the kernel.
    pub(crate) fn submit(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        self.cached_prod = self.cached_prod.wrapping_add(n);
        // (B): pairs with the kernel's (C); the slots are visible first.
        self.raw
            .producer()
            .store(self.cached_prod, Ordering::Release);
    }

    /// Whether the kernel asked to be woken (`XDP_RING_NEED_WAKEUP`).
    pub(crate) fn needs_wakeup(&self) -> bool {
        // Store (B) → load of flags: needs a full barrier (module docs).
        fence(Ordering::SeqCst);
        self.raw.flags().load(Ordering::Relaxed) & XDP_RING_NEED_WAKEUP != 0
    }

    /// Entries published but not yet taken by the kernel.
    pub(crate) fn pending(&self) -> u32 {
        // (A): a plain observation of the kernel's progress.
        self.cached_prod
            .wrapping_sub(self.raw.consumer().load(Ordering::Acquire))
    }

    /// Ring size.
    pub(crate) fn size(&self) -> u32 {
        self.raw.size
    }
}

/// Our side of a ring we consume from (RX, completion).
#[derive(Debug)]
pub(crate) struct ConsRing<T> {
    raw: RawRing<T>,
    cached_prod: u32,
    cached_cons: u32,
}

impl<T: Copy> ConsRing<T> {
    /// # Safety
    ///
    /// As for [`ProdRing::new`], with "consumer" for "producer".
    pub(crate) unsafe fn new(base: NonNull<u8>, len: usize, layout: RingLayout, size: u32) -> Self {
        // SAFETY: forwarded contract.
        let raw = unsafe { RawRing::new(base, len, layout, size) };
        let cons = raw.consumer().load(Ordering::Relaxed);
        // (C)
        let prod = raw.producer().load(Ordering::Acquire);
        ConsRing {
            cached_prod: prod,
            cached_cons: cons,
            raw,
        }
    }

    /// How many entries are ready, up to `max`.
    pub(crate) fn peek(&mut self, max: u32) -> u32 {
        let mut avail = self.cached_prod.wrapping_sub(self.cached_cons);
        if avail < max {
            // (C): pairs with the kernel's (B); entries are complete.
            self.cached_prod = self.raw.producer().load(Ordering::Acquire);
            avail = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        avail.min(max)
    }

    /// Read the `i`-th peeked entry (`i` < what `peek` returned).
    pub(crate) fn read(&self, i: u32) -> T {
        debug_assert!(i < self.cached_prod.wrapping_sub(self.cached_cons));
        // SAFETY: the entry was published by (B)/(C) and stays ours until
        // `release` stores (D).
        unsafe { self.raw.slot(self.cached_cons.wrapping_add(i)).read() }
    }

    /// Hand `n` read entries back to the kernel.
    pub(crate) fn release(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        self.cached_cons = self.cached_cons.wrapping_add(n);
        // (D): pairs with the kernel's (A); our reads happen first.
        self.raw
            .consumer()
            .store(self.cached_cons, Ordering::Release);
    }

    /// Entries published by the kernel and not yet released by us.
    pub(crate) fn pending(&self) -> u32 {
        // (C)
        self.raw
            .producer()
            .load(Ordering::Acquire)
            .wrapping_sub(self.cached_cons)
    }
}

#[cfg(test)]
mod tests {
    //! The kernel's side is played by a second ring object over the same
    //! memory (a producer ring read by a consumer ring and vice versa).
    use super::*;

    const LAYOUT: RingLayout = RingLayout {
        producer: 0,
        consumer: 64,
        flags: 128,
        desc: 192,
    };

    fn memory(size: u32) -> Vec<u64> {
        vec![0u64; (192 + size as usize * 8) / 8]
    }

    fn pair(mem: &mut [u64], size: u32) -> (ProdRing<u64>, ConsRing<u64>) {
        let len = mem.len() * 8;
        let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: `mem` outlives both rings in each test and has the
        // layout above; each side is used by one owner.
        unsafe {
            (
                ProdRing::new(base, len, LAYOUT, size),
                ConsRing::new(base, len, LAYOUT, size),
            )
        }
    }

    #[test]
    fn fills_wraps_and_respects_capacity() {
        let mut mem = memory(8);
        let (mut p, mut c) = pair(&mut mem, 8);
        let mut next = 0u64;
        let mut expect = 0u64;
        for round in 0..100u32 {
            let want = round % 11;
            let n = p.reserve(want);
            assert!(n <= want && n <= 8);
            for i in 0..n {
                p.write(i, next);
                next += 1;
            }
            p.submit(n);
            assert!(p.pending() <= 8);
            let m = c.peek(round % 7 + 1);
            for i in 0..m {
                assert_eq!(c.read(i), expect);
                expect += 1;
            }
            c.release(m);
        }
        let m = c.peek(8);
        for i in 0..m {
            assert_eq!(c.read(i), expect);
            expect += 1;
        }
        c.release(m);
        assert_eq!(expect, next, "every entry produced was consumed once");
        assert_eq!(p.reserve(8), 8, "drained ring is all free");
    }

    #[test]
    fn full_ring_refuses_more() {
        let mut mem = memory(4);
        let (mut p, mut c) = pair(&mut mem, 4);
        assert_eq!(p.reserve(10), 4);
        for i in 0..4 {
            p.write(i, i as u64);
        }
        p.submit(4);
        assert_eq!(p.reserve(1), 0);
        assert_eq!(c.peek(1), 1);
        c.release(1);
        assert_eq!(p.reserve(3), 1);
        assert_eq!(c.pending(), 3);
        assert!(!p.needs_wakeup());
    }
}
