//! Packet buffers: one frame with headroom, and batches of them.
//!
//! A [`PacketBuffer`] owns one frame's storage and marks the valid bytes
//! within it as `head..tail`. Headers are *pushed* on the send path by growing
//! into the headroom ([`PacketBuffer::prepend`]) and *pulled* on the receive
//! path by advancing `head` ([`PacketBuffer::advance`]), so a received frame can
//! be parsed, rewritten and transmitted in the storage it arrived in.
//!
//! A buffer has exactly one owner at a time (it is not `Clone`): the link that
//! received it, then the stack, then the link that transmits it. The AF_XDP
//! link will back buffers with UMEM frames; everything else uses heap storage.
//!
//! Growing past the storage never panics: the buffer reallocates (a cold
//! path) so a caller that mis-sized the headroom loses speed, not
//! correctness.
//!
//! A [`PacketBatch`] is what links read into and write from: `write_packets`
//! takes packets from the front and leaves the rest with the caller.

use crate::gso::Gso;

/// Default headroom reserved for link and network headers on locally built
/// packets: Ethernet + 802.1Q (18) + IPv6 (40) + fragment header (8) + TCP
/// with options (60), rounded up.
pub const DEFAULT_HEADROOM: usize = 128;

/// One packet in a frame with headroom.
#[derive(Debug, PartialEq, Eq)]
pub struct PacketBuffer {
    storage: Box<[u8]>,
    head: usize,
    tail: usize,
    /// Segmentation metadata for a send above the MTU (software GSO).
    pub gso: Option<Gso>,
    /// Set by a link with receive checksum offload: the transport checksum
    /// was verified already.
    pub csum_verified: bool,
}

impl PacketBuffer {
    /// An empty buffer of `headroom + capacity` bytes, positioned after the
    /// headroom.
    pub fn new(headroom: usize, capacity: usize) -> PacketBuffer {
        PacketBuffer {
            storage: vec![0u8; headroom + capacity].into_boxed_slice(),
            head: headroom,
            tail: headroom,
            gso: None,
            csum_verified: false,
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
            storage,
            head,
            tail,
            gso: None,
            csum_verified: false,
        }
    }

    /// Give the storage back (for recycling by a pool).
    pub fn into_storage(self) -> Box<[u8]> {
        self.storage
    }

    /// The valid bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.head..self.tail]
    }

    /// The valid bytes, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.head..self.tail]
    }

    /// Number of valid bytes.
    #[inline]
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
    #[inline]
    pub fn prepend(&mut self, n: usize) -> &mut [u8] {
        if n > self.head {
            self.regrow(n - self.head + DEFAULT_HEADROOM, 0);
        }
        self.head -= n;
        &mut self.storage[self.head..self.head + n]
    }

    /// Drop `n` bytes from the front (pull a parsed header); clamps to the length.
    #[inline]
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
        &mut self.storage[at..at + n]
    }

    /// Shorten the data to `len` bytes (no effect if already shorter).
    #[inline]
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
    }

    /// Slow path: reallocate with `front` more headroom and `back` more tailroom.
    #[cold]
    fn regrow(&mut self, front: usize, back: usize) {
        let mut s = vec![0u8; self.storage.len() + front + back].into_boxed_slice();
        let len = self.len();
        s[self.head + front..self.head + front + len].copy_from_slice(self.as_slice());
        self.storage = s;
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

    #[test]
    fn from_storage_clamps() {
        let b = PacketBuffer::from_storage(vec![1, 2, 3].into_boxed_slice(), 5, 10);
        assert!(b.is_empty());
        let b = PacketBuffer::from_storage(vec![1, 2, 3].into_boxed_slice(), 1, 3);
        assert_eq!(b.as_slice(), &[2, 3]);
    }
}
