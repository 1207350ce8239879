//! Byte ring buffers for the send and receive queues (RFC 9293 3.3.1: the
//! send and receive sequence spaces are backed by these buffers).
//!
//! The ring has a fixed capacity chosen at connection setup. The readable
//! part starts at `head` and is `len` bytes long; the receive side may also
//! write *past* the readable part (out-of-order data, placed at its offset
//! from `rcv_nxt`) and commit it later, so reassembly needs no extra memory
//! beyond the window the ring backs.

/// A fixed-capacity byte ring.
#[derive(Debug)]
pub(crate) struct RingBuffer {
    buf: Box<[u8]>,
    head: usize,
    len: usize,
}

impl RingBuffer {
    /// A ring of `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> RingBuffer {
        RingBuffer {
            buf: vec![0; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    /// Capacity in bytes.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Readable (committed) bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is readable.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room after the readable bytes.
    #[inline]
    pub(crate) fn free(&self) -> usize {
        self.buf.len() - self.len
    }

    /// Write `data` at `offset` bytes past the readable part, without
    /// committing it. Writes beyond the free room are cut; returns how many
    /// bytes were written.
    pub(crate) fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        let cap = self.buf.len();
        if cap == 0 || offset >= self.free() {
            return 0;
        }
        let n = data.len().min(self.free() - offset);
        let start = (self.head + self.len + offset) % cap;
        let first = n.min(cap - start);
        self.buf[start..start + first].copy_from_slice(&data[..first]);
        self.buf[..n - first].copy_from_slice(&data[first..n]);
        n
    }

    /// Make `n` bytes written with [`write_at`](Self::write_at) readable.
    pub(crate) fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.buf.len());
    }

    /// Append as much of `data` as fits; returns the bytes taken.
    pub(crate) fn push(&mut self, data: &[u8]) -> usize {
        let n = self.write_at(0, data);
        self.commit(n);
        n
    }

    /// Copy readable bytes starting `offset` bytes from the head into `out`
    /// without consuming them; returns the bytes copied.
    pub(crate) fn peek(&self, offset: usize, out: &mut [u8]) -> usize {
        let cap = self.buf.len();
        if offset >= self.len {
            return 0;
        }
        let n = out.len().min(self.len - offset);
        let start = (self.head + offset) % cap;
        let first = n.min(cap - start);
        out[..first].copy_from_slice(&self.buf[start..start + first]);
        out[first..n].copy_from_slice(&self.buf[..n - first]);
        n
    }

    /// Append `len` bytes from `offset` to `out` (no zero-filling first);
    /// returns how many were appended.
    pub(crate) fn peek_extend(&self, offset: usize, len: usize, out: &mut Vec<u8>) -> usize {
        let cap = self.buf.len();
        if offset >= self.len {
            return 0;
        }
        let n = len.min(self.len - offset);
        let start = (self.head + offset) % cap;
        let first = n.min(cap - start);
        out.extend_from_slice(&self.buf[start..start + first]);
        out.extend_from_slice(&self.buf[..n - first]);
        n
    }

    /// The readable bytes `[offset, offset + len)` (cut to what is
    /// readable) in place, as two slices: the second is non-empty only
    /// when the range wraps around the end of the ring.
    pub(crate) fn slices(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        let cap = self.buf.len();
        if offset >= self.len {
            return (&[], &[]);
        }
        let n = len.min(self.len - offset);
        let start = (self.head + offset) % cap;
        let first = n.min(cap - start);
        (&self.buf[start..start + first], &self.buf[..n - first])
    }

    /// Drop `n` readable bytes from the head.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if self.buf.is_empty() {
            return;
        }
        self.head = (self.head + n) % self.buf.len();
        // The head is not rewound when the ring empties: out-of-order data
        // may sit past the readable part at positions relative to it.
        self.len -= n;
    }

    /// Copy readable bytes into `out` and consume them.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let n = self.peek(0, out);
        self.consume(n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_reads_back() {
        let mut r = RingBuffer::new(8);
        assert_eq!(r.push(b"abcdef"), 6);
        let mut o = [0u8; 4];
        assert_eq!(r.read(&mut o), 4);
        assert_eq!(&o, b"abcd");
        assert_eq!(r.push(b"ghijklmn"), 6, "only the free room is taken");
        let mut all = [0u8; 8];
        assert_eq!(r.peek(0, &mut all), 8);
        assert_eq!(&all, b"efghijkl");
        assert_eq!(r.free(), 0);
        assert_eq!(
            r.slices(1, 6),
            (&b"fgh"[..], &b"ijk"[..]),
            "in place, wrapped"
        );
        assert_eq!(
            r.slices(6, 9),
            (&b"kl"[..], &b""[..]),
            "cut to the readable part"
        );
        assert_eq!(r.slices(8, 1), (&b""[..], &b""[..]));
    }

    #[test]
    fn out_of_order_write_then_commit() {
        let mut r = RingBuffer::new(8);
        assert_eq!(r.write_at(3, b"xyz"), 3);
        assert_eq!(r.len(), 0);
        assert_eq!(r.write_at(0, b"abc"), 3);
        r.commit(6);
        let mut o = [0u8; 6];
        r.read(&mut o);
        assert_eq!(&o, b"abcxyz");
        assert_eq!(r.write_at(8, b"q"), 0, "beyond the ring is refused");
    }

    #[test]
    fn draining_keeps_out_of_order_data_in_place() {
        let mut r = RingBuffer::new(8);
        r.push(b"ab");
        assert_eq!(r.write_at(1, b"d"), 1);
        let mut o = [0u8; 2];
        r.read(&mut o);
        assert_eq!(r.write_at(0, b"c"), 1);
        r.commit(2);
        r.read(&mut o);
        assert_eq!(&o, b"cd");
    }
}
