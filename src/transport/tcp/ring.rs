//! Byte ring buffers for the send and receive queues (RFC 9293 3.3.1: the
//! send and receive sequence spaces are backed by these buffers).
//!
//! The ring has a fixed capacity chosen at connection setup. The readable
//! part starts at `head` and is `len` bytes long; the receive side may also
//! write *past* the readable part (out-of-order data, placed at its offset
//! from `rcv_nxt`) and commit it later, so reassembly needs no extra memory
//! beyond the window the ring backs.
//!
//! The capacity is a limit, not an allocation: the memory behind the ring
//! starts empty and grows (doubling, at least [`MIN_ALLOC`] bytes) as
//! writes reach further, up to the capacity. A connection therefore costs
//! no buffer memory until data flows, and a short one never touches its
//! full 1 MiB per direction. Allocating both rings whole at setup made
//! every new connection fault in and zero 2 MiB (two transparent huge
//! pages): 20-40 ms per connection on a busy 2-vCPU VM, so a burst of 500
//! SYNs kept a worker busy for seconds while its rx ring overflowed.

/// The first allocation behind a ring, bytes (or the capacity if smaller).
pub(crate) const MIN_ALLOC: usize = 16 * 1024;

/// A byte ring of fixed capacity whose memory grows on demand.
#[derive(Debug)]
pub(crate) struct RingBuffer {
    /// Backing memory; `buf.len()` may be below `cap`. Positions are
    /// taken modulo `buf.len()`.
    buf: Box<[u8]>,
    cap: usize,
    head: usize,
    len: usize,
}

impl RingBuffer {
    /// A ring of `capacity` bytes (nothing allocated yet).
    pub(crate) fn new(capacity: usize) -> RingBuffer {
        RingBuffer {
            buf: Box::default(),
            cap: capacity,
            head: 0,
            len: 0,
        }
    }

    /// Capacity in bytes.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// Bytes of memory allocated behind the ring.
    #[inline]
    pub(crate) fn allocated(&self) -> usize {
        self.buf.len()
    }

    /// Give the memory back; the next write allocates again from
    /// [`MIN_ALLOC`]. Only for an empty ring with nothing written past its
    /// readable part (no out-of-order data): a ring holding bytes is left
    /// alone.
    pub(crate) fn release(&mut self) {
        if self.len == 0 {
            self.buf = Box::default();
            self.head = 0;
        }
    }

    /// Make the first `end` bytes from the head addressable: grow the
    /// backing memory (rotated so the head lands at 0, everything written
    /// so far, readable or not, kept in place relative to the head).
    fn reserve(&mut self, end: usize) {
        let have = self.buf.len();
        if end <= have {
            return;
        }
        let want = end
            .next_power_of_two()
            .max(have * 2)
            .max(MIN_ALLOC)
            .min(self.cap);
        let mut grown = vec![0u8; want].into_boxed_slice();
        let (tail, front) = self.buf.split_at(self.head);
        grown[..front.len()].copy_from_slice(front);
        grown[front.len()..have].copy_from_slice(tail);
        self.buf = grown;
        self.head = 0;
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
        self.cap - self.len
    }

    /// Write `data` at `offset` bytes past the readable part, without
    /// committing it. Writes beyond the free room are cut; returns how many
    /// bytes were written.
    pub(crate) fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        if self.cap == 0 || offset >= self.free() || data.is_empty() {
            return 0;
        }
        let n = data.len().min(self.free() - offset);
        self.reserve(self.len + offset + n);
        let cap = self.buf.len();
        let start = (self.head + self.len + offset) % cap;
        let first = n.min(cap - start);
        self.buf[start..start + first].copy_from_slice(&data[..first]);
        self.buf[..n - first].copy_from_slice(&data[first..n]);
        n
    }

    /// Make `n` bytes written with [`write_at`](Self::write_at) readable.
    pub(crate) fn commit(&mut self, n: usize) {
        // Only bytes written (so backed by memory) can be committed.
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
    fn memory_grows_with_use_and_keeps_what_was_written() {
        let cap = 1 << 20;
        let mut r = RingBuffer::new(cap);
        assert_eq!(r.allocated(), 0, "nothing until data comes");
        assert_eq!(r.free(), cap);
        assert_eq!(r.write_at(0, b""), 0);
        assert_eq!(r.allocated(), 0);
        // Wrap inside the first allocation, then grow past it: the head
        // moves to 0 and the bytes keep their order.
        let a: Vec<u8> = (0..MIN_ALLOC).map(|i| i as u8).collect();
        assert_eq!(r.push(&a), MIN_ALLOC);
        assert_eq!(r.allocated(), MIN_ALLOC);
        let mut out = vec![0u8; 1000];
        assert_eq!(r.read(&mut out), 1000);
        assert_eq!(r.push(&a[..1000]), 1000, "wraps in place");
        assert_eq!(r.allocated(), MIN_ALLOC);
        // Out-of-order bytes far past the readable part force growth.
        let far = 200_000;
        assert_eq!(r.write_at(far, b"xyz"), 3);
        assert!(r.allocated() >= MIN_ALLOC + far + 3 && r.allocated() <= cap);
        let mut all = vec![0u8; MIN_ALLOC];
        assert_eq!(r.peek(0, &mut all), MIN_ALLOC);
        let want: Vec<u8> = a[1000..].iter().chain(&a[..1000]).copied().collect();
        assert_eq!(all, want, "readable bytes survive the growth in order");
        // Fill the gap and commit: the far bytes were kept in place.
        let gap = vec![7u8; far];
        assert_eq!(r.write_at(0, &gap), far);
        r.commit(far + 3);
        let mut tail = [0u8; 3];
        assert_eq!(r.peek(MIN_ALLOC + far, &mut tail), 3);
        assert_eq!(&tail, b"xyz");
        // Never past the capacity.
        let big = vec![1u8; cap];
        let before = r.len();
        assert_eq!(r.push(&big), cap - before);
        assert_eq!(r.allocated(), cap);
        assert_eq!(r.free(), 0);
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

    /// A model of the ring: the bytes from the head, `None` where nothing
    /// was written.
    #[derive(Default)]
    struct Model {
        bytes: Vec<Option<u8>>,
        len: usize,
    }

    #[derive(Debug, Clone)]
    enum Op {
        WriteAt(usize, Vec<u8>),
        Commit(usize),
        Consume(usize),
        Peek(usize, usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (0usize..300, proptest::collection::vec(any::<u8>(), 0..400))
                .prop_map(|(o, d)| Op::WriteAt(o, d)),
            (0usize..400).prop_map(Op::Commit),
            (0usize..400).prop_map(Op::Consume),
            (0usize..300, 0usize..400).prop_map(|(o, n)| Op::Peek(o, n)),
        ]
    }

    proptest::proptest! {
        /// Growing storage keeps every byte where a fixed ring would: the
        /// ring agrees with the model after any sequence of operations
        /// (writes past the readable part included), for capacities that
        /// are and are not powers of two.
        #[test]
        fn growth_keeps_bytes_in_place(
            cap in proptest::sample::select(vec![1usize, 7, 1000, 4096, 5000, 20_000]),
            ops in proptest::collection::vec(op(), 1..60),
        ) {
            let mut r = RingBuffer::new(cap);
            let mut m = Model::default();
            for op in ops {
                match op {
                    Op::WriteAt(off, data) => {
                        let n = r.write_at(off, &data);
                        let room = cap - m.len;
                        let want = if off >= room { 0 } else { data.len().min(room - off) };
                        proptest::prop_assert_eq!(n, want);
                        let end = m.len + off + n;
                        if m.bytes.len() < end {
                            m.bytes.resize(end, None);
                        }
                        for (k, b) in data[..n].iter().enumerate() {
                            m.bytes[m.len + off + k] = Some(*b);
                        }
                    }
                    Op::Commit(n) => {
                        // Only written bytes are ever committed by the stack.
                        let written = m.bytes[m.len..].iter().take_while(|b| b.is_some()).count();
                        let n = n.min(written);
                        r.commit(n);
                        m.len += n;
                    }
                    Op::Consume(n) => {
                        let n = n.min(m.len);
                        r.consume(n);
                        m.bytes.drain(..n);
                        m.len -= n;
                    }
                    Op::Peek(off, n) => {
                        let mut out = vec![0u8; n];
                        let got = r.peek(off, &mut out);
                        let want = if off >= m.len { 0 } else { n.min(m.len - off) };
                        proptest::prop_assert_eq!(got, want);
                        let model: Vec<u8> =
                            m.bytes[off.min(m.len)..off.min(m.len) + want].iter().map(|b| b.unwrap()).collect();
                        proptest::prop_assert_eq!(&out[..got], &model[..]);
                        let mut ext = Vec::new();
                        proptest::prop_assert_eq!(r.peek_extend(off, n, &mut ext), want);
                        proptest::prop_assert_eq!(ext, model);
                    }
                }
                proptest::prop_assert_eq!(r.len(), m.len);
                proptest::prop_assert_eq!(r.free(), cap - m.len);
                proptest::prop_assert!(r.allocated() <= cap);
            }
        }
    }
}
