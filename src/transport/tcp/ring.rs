//! Byte ring buffers for the send and receive queues (RFC 9293 3.3.1: the
//! send and receive sequence spaces are backed by these buffers).
//!
//! The ring has a fixed capacity chosen at connection setup. The readable
//! part starts at `head` and is `len` bytes long; the receive side may also
//! write *past* the readable part (out-of-order data, placed at its offset
//! from `rcv_nxt`) and commit it later, so reassembly needs no extra memory
//! beyond the window the ring backs.
//!
//! The capacity is the ring's logical size (what the window calculations
//! see); the memory behind it grows on demand, doubling up to the capacity,
//! as writes need it. A new connection therefore costs no allocation and no
//! zeroing of its buffers (1 MiB each by default: zeroing them per
//! connection was most of the worker's time in a connect loop), and an idle
//! or slow connection holds only the memory its data in flight needs. On
//! growth the stored bytes are copied once, in order from the head, so
//! every position relative to the head — readable bytes and out-of-order
//! data past them — stays where the receive path expects it.

/// The first allocation of a ring that receives data (bytes).
const MIN_STORAGE: usize = 4096;

/// A fixed-capacity byte ring with storage allocated on demand.
#[derive(Debug)]
pub(crate) struct RingBuffer {
    /// The storage; positions are taken modulo its length, which grows
    /// (see [`RingBuffer::reserve`]) but never past `cap`.
    buf: Vec<u8>,
    cap: usize,
    head: usize,
    len: usize,
}

impl RingBuffer {
    /// A ring of `capacity` bytes (no memory is allocated yet).
    pub(crate) fn new(capacity: usize) -> RingBuffer {
        RingBuffer {
            buf: Vec::new(),
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

    /// Bytes of storage allocated now (at most the capacity).
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> usize {
        self.buf.len()
    }

    /// Make sure the storage holds `need` bytes from the head (`need` is at
    /// most the capacity). Grows to the next power of two, at least double
    /// the current size, capped at the capacity; the stored bytes are
    /// copied once, head first, and the head moves to 0.
    fn reserve(&mut self, need: usize) {
        let have = self.buf.len();
        if need <= have {
            return;
        }
        let size = need
            .next_power_of_two()
            .max(have * 2)
            .max(MIN_STORAGE)
            .min(self.cap);
        let mut grown = Vec::with_capacity(size);
        grown.extend_from_slice(&self.buf[self.head..]);
        grown.extend_from_slice(&self.buf[..self.head]);
        grown.resize(size, 0);
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
        self.len = (self.len + n).min(self.cap);
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

    #[test]
    fn storage_is_allocated_on_demand_and_never_past_the_capacity() {
        let mut r = RingBuffer::new(1 << 20);
        assert_eq!(r.allocated(), 0, "a new ring allocates nothing");
        assert_eq!(r.free(), 1 << 20, "but offers its whole capacity");
        r.push(&[1; 100]);
        assert_eq!(r.allocated(), MIN_STORAGE);
        r.push(&vec![2; 10_000]);
        assert_eq!(r.allocated(), 16384);
        assert_eq!(r.write_at(r.free() - 1, b"z"), 1, "the last byte");
        assert_eq!(r.allocated(), 1 << 20);
        let small = RingBuffer::new(100);
        let mut small = small;
        small.push(b"x");
        assert_eq!(small.allocated(), 100, "capped at the capacity");
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
