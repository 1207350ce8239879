//! In-memory links: a [`Pipe`] joining two stacks, and a [`Channel`] a test
//! drives by hand.
//!
//! # Pipe
//!
//! [`Pipe::pair`] returns two [`PipeEnd`]s joined like the two ends of a veth
//! pair. Each end has its own MAC address, MTU, header length and
//! [`Capabilities`] (from its [`PipeConfig`]), and each direction has its own
//! bounded queue of frames in flight. The queue A→B is B's receive queue, so
//! its bound is `config_b.queue_capacity`.
//!
//! Contract (see [`crate::link`]):
//! * `write_packets(batch)` takes frames from the *front* of `batch` until the
//!   peer's receive queue is full, removes them from the batch and returns how
//!   many it took; the rest stays in the batch and belongs to the caller again
//!   (counted per frame as [`LinkStats::tx_full`]).
//! * A frame longer than `min(mtu_a, mtu_b) + max_header_len` is *taken*
//!   (it counts toward the return value and leaves the batch) but discarded
//!   and counted as [`LinkStats::oversize`] on the sending end: a real wire
//!   would not carry it, and Linux veth likewise drops frames the receiving
//!   device's MTU cannot take. Oversize frames do not use queue space.
//! * `read_packets(batch, budget)` appends at most `budget` frames, oldest first.
//!
//! Ownership and allocation: a frame is *moved* from the writer's batch into
//! the queue and out into the reader's batch, so the pipe copies nothing and
//! allocates nothing per frame in the common case. On receive every frame is
//! given at least [`DEFAULT_HEADROOM`] bytes of headroom so the receiving stack
//! can push headers in place: if the arriving buffer has less, its bytes are
//! moved within their own storage when it is large enough, and only otherwise
//! copied once into a new buffer (at most one allocation per frame, never
//! two). Receive metadata is reset like a wire would: GSO metadata is
//! cleared, and `csum_verified` is set exactly when the *receiving* end has
//! [`Capabilities::RX_CHECKSUM_OFFLOAD`] (the pipe vouches for checksums like
//! veth's `CHECKSUM_UNNECESSARY`; it never looks inside a frame). A test that
//! gives one end [`Capabilities::TX_CHECKSUM_OFFLOAD`] should give the other
//! end `RX_CHECKSUM_OFFLOAD`, or the receiver will verify checksums that were
//! never computed.
//!
//! Threads: ends are `Send`, so two stacks can run on two threads. Each
//! direction's queue sits behind its own `Mutex`, taken once per batch (not per
//! frame) by exactly one writer and one reader. Counters live in the end
//! itself and need no synchronisation.
//!
//! # Channel
//!
//! [`Channel::new`] (gVisor's `link/channel`) returns a [`ChannelEndpoint`] to
//! move into a stack and a [`ChannelHandle`] the test keeps: frames the stack
//! writes are collected for [`ChannelHandle::take_outbound`] (bounded by the
//! outbound capacity, so a test can make the link refuse frames), and frames
//! the test injects are returned by the endpoint's `read_packets`. The channel
//! records what the stack wrote exactly as written: it discards nothing,
//! oversize frames included, so tests can assert on them.

use super::{Capabilities, LinkEndpoint};
use crate::buffer::{PacketBatch, PacketBuffer, DEFAULT_HEADROOM};
use crate::time::Instant;
use crate::wire::EthernetAddress;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// Default MTU of a pipe end or channel (Ethernet).
pub const DEFAULT_MTU: usize = 1500;

/// Default link-layer header length: an untagged Ethernet header.
pub const DEFAULT_MAX_HEADER_LEN: usize = 14;

/// Default number of frames a receive queue (or channel outbound queue) holds.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;

/// Default capabilities of a pipe end: resolution required, software GSO.
pub const DEFAULT_CAPABILITIES: Capabilities =
    Capabilities(Capabilities::RESOLUTION_REQUIRED.bits() | Capabilities::SOFTWARE_GSO.bits());

/// Counters of one pipe end or channel endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames accepted for the peer (oversize frames excluded).
    pub tx_frames: u64,
    /// Bytes of the frames counted in `tx_frames`.
    pub tx_bytes: u64,
    /// Frames handed up by `read_packets`.
    pub rx_frames: u64,
    /// Bytes of the frames counted in `rx_frames`.
    pub rx_bytes: u64,
    /// Frames `write_packets` refused because the peer's queue was full
    /// (they stayed in the caller's batch).
    pub tx_full: u64,
    /// Frames taken but discarded because they exceed the MTU of either end
    /// plus the header length.
    pub oversize: u64,
}

/// Configuration of one pipe end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipeConfig {
    /// The end's MAC address.
    pub mac: EthernetAddress,
    /// The largest network packet the end carries (default [`DEFAULT_MTU`]).
    pub mtu: usize,
    /// Link header bytes in front of the network packet (default 14).
    pub max_header_len: usize,
    /// What the end offers the stack (default [`DEFAULT_CAPABILITIES`]).
    pub capabilities: Capabilities,
    /// Frames the end's receive queue holds, i.e. how many the peer may have
    /// in flight towards this end (default [`DEFAULT_QUEUE_CAPACITY`]).
    pub queue_capacity: usize,
}

impl PipeConfig {
    /// A configuration with the given MAC and every other field at its default.
    pub fn new(mac: EthernetAddress) -> PipeConfig {
        PipeConfig {
            mac,
            mtu: DEFAULT_MTU,
            max_header_len: DEFAULT_MAX_HEADER_LEN,
            capabilities: DEFAULT_CAPABILITIES,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }

    /// Set the MTU.
    pub fn with_mtu(mut self, mtu: usize) -> PipeConfig {
        self.mtu = mtu;
        self
    }

    /// Set the link header length.
    pub fn with_max_header_len(mut self, len: usize) -> PipeConfig {
        self.max_header_len = len;
        self
    }

    /// Set the capabilities (e.g. to turn checksum offloads on or GSO off).
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> PipeConfig {
        self.capabilities = capabilities;
        self
    }

    /// Set the receive queue capacity in frames.
    pub fn with_queue_capacity(mut self, capacity: usize) -> PipeConfig {
        self.queue_capacity = capacity;
        self
    }
}

/// Lock a mutex, ignoring poisoning: the protected queues stay consistent
/// whatever a panicking thread was doing (every update is a single
/// `extend`/`drain`), and a link must not panic because a peer did.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Give a received frame [`DEFAULT_HEADROOM`] and fresh receive metadata.
fn prepare_rx(buf: &mut PacketBuffer, rx_csum_offload: bool) {
    if buf.headroom() < DEFAULT_HEADROOM {
        let old = core::mem::replace(buf, PacketBuffer::new(0, 0));
        *buf = rehome(old);
    }
    buf.gso = None;
    buf.csum_verified = rx_csum_offload;
}

/// Move a frame's bytes so that they start at [`DEFAULT_HEADROOM`]: within its
/// own storage if it is large enough, otherwise into one new buffer.
fn rehome(buf: PacketBuffer) -> PacketBuffer {
    let len = buf.len();
    if buf.capacity() >= DEFAULT_HEADROOM + len {
        let head = buf.headroom();
        let mut storage = buf.into_storage();
        storage.copy_within(head..head + len, DEFAULT_HEADROOM);
        PacketBuffer::from_storage(storage, DEFAULT_HEADROOM, DEFAULT_HEADROOM + len)
    } else {
        PacketBuffer::from_slice(DEFAULT_HEADROOM, buf.as_slice())
    }
}

/// One direction of a pipe: the receiving end's queue.
#[derive(Debug)]
struct Lane {
    queue: Mutex<VecDeque<PacketBuffer>>,
    capacity: usize,
    /// Longest frame the lane carries (the smaller MTU of the two ends plus
    /// the sender's header length).
    max_frame_len: usize,
}

/// Factory for pipe pairs.
#[derive(Debug)]
pub struct Pipe;

impl Pipe {
    /// Two connected ends: what `a` writes, `b` reads, and vice versa.
    pub fn pair(config_a: PipeConfig, config_b: PipeConfig) -> (PipeEnd, PipeEnd) {
        let mtu = config_a.mtu.min(config_b.mtu);
        let lane = |from: &PipeConfig, to: &PipeConfig| Lane {
            queue: Mutex::new(VecDeque::new()),
            capacity: to.queue_capacity,
            max_frame_len: mtu.saturating_add(from.max_header_len),
        };
        let lanes = Arc::new([lane(&config_a, &config_b), lane(&config_b, &config_a)]);
        let a = PipeEnd {
            config: config_a,
            lanes: Arc::clone(&lanes),
            tx: 0,
            stats: LinkStats::default(),
        };
        let b = PipeEnd {
            config: config_b,
            lanes,
            tx: 1,
            stats: LinkStats::default(),
        };
        (a, b)
    }
}

/// One end of a [`Pipe`]: a [`LinkEndpoint`] that is `Send`.
#[derive(Debug)]
pub struct PipeEnd {
    config: PipeConfig,
    lanes: Arc<[Lane; 2]>,
    /// Index of the lane this end writes into; it reads from the other.
    tx: usize,
    stats: LinkStats,
}

impl PipeEnd {
    /// This end's counters.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// This end's configuration.
    pub fn config(&self) -> &PipeConfig {
        &self.config
    }

    /// Frames waiting to be read by this end.
    pub fn rx_queue_len(&self) -> usize {
        lock(&self.lanes[1 - self.tx].queue).len()
    }

    /// Frames this end wrote that the peer has not read yet.
    pub fn tx_queue_len(&self) -> usize {
        lock(&self.lanes[self.tx].queue).len()
    }
}

impl LinkEndpoint for PipeEnd {
    fn mtu(&self) -> usize {
        self.config.mtu
    }

    fn max_header_len(&self) -> usize {
        self.config.max_header_len
    }

    fn link_address(&self) -> EthernetAddress {
        self.config.mac
    }

    fn capabilities(&self) -> Capabilities {
        self.config.capabilities
    }

    fn write_packets(&mut self, batch: &mut PacketBatch, _now: Instant) -> usize {
        let lane = &self.lanes[self.tx];
        let max = lane.max_frame_len;
        let stats = &mut self.stats;
        let mut q = lock(&lane.queue);
        let mut room = lane.capacity.saturating_sub(q.len());
        // The prefix to take: oversize frames are always taken (and dropped);
        // the others while the queue has room.
        let mut take = 0;
        for frame in batch.iter() {
            if frame.len() <= max {
                if room == 0 {
                    break;
                }
                room -= 1;
            }
            take += 1;
        }
        q.extend(batch.drain(..take).filter(|frame| {
            if frame.len() > max {
                stats.oversize += 1;
                false
            } else {
                stats.tx_frames += 1;
                stats.tx_bytes += frame.len() as u64;
                true
            }
        }));
        drop(q);
        stats.tx_full += batch.len() as u64;
        take
    }

    fn read_packets(&mut self, batch: &mut PacketBatch, budget: usize, _now: Instant) -> usize {
        let start = batch.len();
        {
            let mut q = lock(&self.lanes[1 - self.tx].queue);
            let n = budget.min(q.len());
            batch.extend(q.drain(..n));
        }
        let rx_csum = self
            .config
            .capabilities
            .contains(Capabilities::RX_CHECKSUM_OFFLOAD);
        for frame in &mut batch[start..] {
            prepare_rx(frame, rx_csum);
            self.stats.rx_frames += 1;
            self.stats.rx_bytes += frame.len() as u64;
        }
        batch.len() - start
    }
}

/// State shared by a [`ChannelEndpoint`] and its [`ChannelHandle`]s.
#[derive(Debug)]
struct ChannelState {
    outbound: PacketBatch,
    outbound_capacity: usize,
    inbound: VecDeque<PacketBuffer>,
    stats: LinkStats,
}

/// Factory for a hand-driven test link (gVisor's `link/channel`).
#[derive(Debug)]
pub struct Channel;

impl Channel {
    /// An endpoint with [`DEFAULT_MAX_HEADER_LEN`] and an outbound queue of
    /// [`DEFAULT_QUEUE_CAPACITY`] frames, and the handle a test keeps.
    // `Channel` is only a namespace: `new` returns the two sides, as in gVisor.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(
        mac: EthernetAddress,
        mtu: usize,
        capabilities: Capabilities,
    ) -> (ChannelEndpoint, ChannelHandle) {
        Channel::with_capacity(mac, mtu, capabilities, DEFAULT_QUEUE_CAPACITY)
    }

    /// As [`Channel::new`], with an outbound queue of `outbound_capacity`
    /// frames: writes beyond it are refused until the test takes the frames.
    pub fn with_capacity(
        mac: EthernetAddress,
        mtu: usize,
        capabilities: Capabilities,
        outbound_capacity: usize,
    ) -> (ChannelEndpoint, ChannelHandle) {
        let state = Arc::new(Mutex::new(ChannelState {
            outbound: Vec::new(),
            outbound_capacity,
            inbound: VecDeque::new(),
            stats: LinkStats::default(),
        }));
        let endpoint = ChannelEndpoint {
            mac,
            mtu,
            capabilities,
            state: Arc::clone(&state),
        };
        let handle = ChannelHandle {
            mac,
            capabilities,
            state,
        };
        (endpoint, handle)
    }
}

/// The link side of a [`Channel`]; move it into a stack.
#[derive(Debug)]
pub struct ChannelEndpoint {
    mac: EthernetAddress,
    mtu: usize,
    capabilities: Capabilities,
    state: Arc<Mutex<ChannelState>>,
}

impl LinkEndpoint for ChannelEndpoint {
    fn mtu(&self) -> usize {
        self.mtu
    }

    fn max_header_len(&self) -> usize {
        DEFAULT_MAX_HEADER_LEN
    }

    fn link_address(&self) -> EthernetAddress {
        self.mac
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn write_packets(&mut self, batch: &mut PacketBatch, _now: Instant) -> usize {
        let mut st = lock(&self.state);
        let room = st.outbound_capacity.saturating_sub(st.outbound.len());
        let take = room.min(batch.len());
        let bytes: u64 = batch[..take].iter().map(|f| f.len() as u64).sum();
        st.outbound.extend(batch.drain(..take));
        st.stats.tx_frames += take as u64;
        st.stats.tx_bytes += bytes;
        st.stats.tx_full += batch.len() as u64;
        take
    }

    fn read_packets(&mut self, batch: &mut PacketBatch, budget: usize, _now: Instant) -> usize {
        let mut st = lock(&self.state);
        let n = budget.min(st.inbound.len());
        let bytes: u64 = st.inbound.iter().take(n).map(|f| f.len() as u64).sum();
        batch.extend(st.inbound.drain(..n));
        st.stats.rx_frames += n as u64;
        st.stats.rx_bytes += bytes;
        n
    }
}

/// The test side of a [`Channel`]; clone it freely.
#[derive(Debug, Clone)]
pub struct ChannelHandle {
    mac: EthernetAddress,
    capabilities: Capabilities,
    state: Arc<Mutex<ChannelState>>,
}

impl ChannelHandle {
    /// The endpoint's MAC address.
    pub fn link_address(&self) -> EthernetAddress {
        self.mac
    }

    /// Remove and return every frame the endpoint has written, oldest first.
    pub fn take_outbound(&self) -> Vec<PacketBuffer> {
        core::mem::take(&mut lock(&self.state).outbound)
    }

    /// Frames written and not yet taken.
    pub fn outbound_len(&self) -> usize {
        lock(&self.state).outbound.len()
    }

    /// Queue a copy of `frame` (a complete Ethernet frame) for the endpoint
    /// to receive, with [`DEFAULT_HEADROOM`] in front of it.
    pub fn inject_inbound(&self, frame: &[u8]) {
        let mut buf = PacketBuffer::from_slice(DEFAULT_HEADROOM, frame);
        buf.csum_verified = self
            .capabilities
            .contains(Capabilities::RX_CHECKSUM_OFFLOAD);
        lock(&self.state).inbound.push_back(buf);
    }

    /// Queue `buf` for the endpoint to receive. It is moved to give it at
    /// least [`DEFAULT_HEADROOM`]; its metadata is kept as the test set it,
    /// except that `csum_verified` is also set when the endpoint has
    /// [`Capabilities::RX_CHECKSUM_OFFLOAD`].
    pub fn inject_buffer(&self, buf: PacketBuffer) {
        let mut buf = if buf.headroom() < DEFAULT_HEADROOM {
            let (gso, csum) = (buf.gso, buf.csum_verified);
            let mut b = rehome(buf);
            b.gso = gso;
            b.csum_verified = csum;
            b
        } else {
            buf
        };
        buf.csum_verified |= self
            .capabilities
            .contains(Capabilities::RX_CHECKSUM_OFFLOAD);
        lock(&self.state).inbound.push_back(buf);
    }

    /// Injected frames the endpoint has not read yet.
    pub fn inbound_len(&self) -> usize {
        lock(&self.state).inbound.len()
    }

    /// Change the outbound capacity (frames written beyond it are refused).
    pub fn set_outbound_capacity(&self, capacity: usize) {
        lock(&self.state).outbound_capacity = capacity;
    }

    /// The endpoint's counters (`oversize` is always 0: a channel keeps
    /// everything it is given).
    pub fn stats(&self) -> LinkStats {
        lock(&self.state).stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC_A: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const MAC_B: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
    const T0: Instant = Instant::ZERO;

    /// A frame of `len` bytes whose contents encode `tag`.
    fn frame(tag: u32, len: usize) -> PacketBuffer {
        let mut data = vec![0u8; len];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (tag as usize).wrapping_mul(31).wrapping_add(i) as u8;
        }
        if len >= 4 {
            data[..4].copy_from_slice(&tag.to_be_bytes());
        }
        PacketBuffer::from_slice(0, &data)
    }

    fn tag(buf: &PacketBuffer) -> u32 {
        u32::from_be_bytes(buf.as_slice()[..4].try_into().unwrap())
    }

    fn pair() -> (PipeEnd, PipeEnd) {
        Pipe::pair(PipeConfig::new(MAC_A), PipeConfig::new(MAC_B))
    }

    #[test]
    fn frames_arrive_in_order_and_intact() {
        let (mut a, mut b) = pair();
        let sent: Vec<PacketBuffer> = (0..10).map(|i| frame(i, 60 + i as usize)).collect();
        let mut batch: PacketBatch = (0..10).map(|i| frame(i, 60 + i as usize)).collect();
        assert_eq!(a.write_packets(&mut batch, T0), 10);
        assert!(batch.is_empty());
        assert_eq!(b.rx_queue_len(), 10);
        assert_eq!(a.tx_queue_len(), 10);

        let mut rx = PacketBatch::new();
        assert_eq!(b.read_packets(&mut rx, 64, T0), 10);
        assert_eq!(rx.len(), 10);
        for (got, want) in rx.iter().zip(&sent) {
            assert_eq!(got.as_slice(), want.as_slice());
            assert!(got.headroom() >= DEFAULT_HEADROOM);
            assert!(!got.csum_verified);
        }
        // Nothing flows back, and nothing is left.
        assert_eq!(a.read_packets(&mut rx, 64, T0), 0);
        assert_eq!(b.read_packets(&mut rx, 64, T0), 0);
        let sa = a.stats();
        assert_eq!((sa.tx_frames, sa.tx_bytes), (10, (60..70).sum::<u64>()));
        let sb = b.stats();
        assert_eq!((sb.rx_frames, sb.rx_bytes), (10, (60..70).sum::<u64>()));
        assert_eq!(a.link_address(), MAC_A);
        assert_eq!(b.link_address(), MAC_B);
        assert_eq!(a.mtu(), 1500);
        assert_eq!(a.capabilities(), DEFAULT_CAPABILITIES);
        assert!(a.capabilities().contains(Capabilities::SOFTWARE_GSO));
    }

    #[test]
    fn both_directions_are_independent() {
        let (mut a, mut b) = pair();
        let mut batch = vec![frame(1, 64)];
        assert_eq!(b.write_packets(&mut batch, T0), 1);
        let mut batch = vec![frame(2, 64)];
        assert_eq!(a.write_packets(&mut batch, T0), 1);
        let mut rx = PacketBatch::new();
        assert_eq!(a.read_packets(&mut rx, 8, T0), 1);
        assert_eq!(tag(&rx[0]), 1);
        rx.clear();
        assert_eq!(b.read_packets(&mut rx, 8, T0), 1);
        assert_eq!(tag(&rx[0]), 2);
    }

    #[test]
    fn queue_bound_leaves_the_rest_in_the_batch() {
        let (mut a, mut b) = Pipe::pair(
            PipeConfig::new(MAC_A),
            PipeConfig::new(MAC_B).with_queue_capacity(8),
        );
        let mut batch: PacketBatch = (0..20).map(|i| frame(i, 64)).collect();
        assert_eq!(a.write_packets(&mut batch, T0), 8);
        // The 12 refused frames stay, in order, starting with frame 8.
        assert_eq!(batch.len(), 12);
        assert_eq!(tag(&batch[0]), 8);
        assert_eq!(a.stats().tx_full, 12);
        // Still full: nothing taken.
        assert_eq!(a.write_packets(&mut batch, T0), 0);
        assert_eq!(batch.len(), 12);
        // Drain 3, then exactly 3 more fit.
        let mut rx = PacketBatch::new();
        assert_eq!(b.read_packets(&mut rx, 3, T0), 3);
        assert_eq!(a.write_packets(&mut batch, T0), 3);
        assert_eq!(tag(&batch[0]), 11);
        rx.clear();
        assert_eq!(b.read_packets(&mut rx, 100, T0), 8);
        let tags: Vec<u32> = rx.iter().map(tag).collect();
        assert_eq!(tags, vec![3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn read_respects_budget_and_appends() {
        let (mut a, mut b) = pair();
        let mut batch: PacketBatch = (0..10).map(|i| frame(i, 64)).collect();
        a.write_packets(&mut batch, T0);
        let mut rx = vec![frame(99, 64)];
        assert_eq!(b.read_packets(&mut rx, 4, T0), 4);
        assert_eq!(rx.len(), 5);
        assert_eq!(tag(&rx[0]), 99);
        assert_eq!(tag(&rx[1]), 0);
        assert_eq!(b.read_packets(&mut rx, 0, T0), 0);
        assert_eq!(b.rx_queue_len(), 6);
        assert_eq!(b.read_packets(&mut rx, 4, T0), 4);
        assert_eq!(tag(&rx[8]), 7);
        assert_eq!(b.rx_queue_len(), 2);
    }

    #[test]
    fn oversize_frames_are_taken_counted_and_discarded() {
        let (mut a, mut b) = Pipe::pair(
            PipeConfig::new(MAC_A).with_mtu(9000),
            PipeConfig::new(MAC_B).with_mtu(1500).with_queue_capacity(2),
        );
        // Limit is min(9000, 1500) + 14 = 1514.
        let mut batch = vec![
            frame(0, 1514),
            frame(1, 1515),
            frame(2, 64),
            frame(3, 9014),
            frame(4, 64),
        ];
        // 0 and 2 fill the queue; 1 and 3 are oversize (taken, dropped); 4 is refused.
        assert_eq!(a.write_packets(&mut batch, T0), 4);
        assert_eq!(batch.len(), 1);
        assert_eq!(tag(&batch[0]), 4);
        let s = a.stats();
        assert_eq!((s.tx_frames, s.oversize, s.tx_full), (2, 2, 1));
        let mut rx = PacketBatch::new();
        assert_eq!(b.read_packets(&mut rx, 10, T0), 2);
        assert_eq!(rx.iter().map(tag).collect::<Vec<_>>(), vec![0, 2]);
    }

    #[test]
    fn receive_metadata_is_reset_and_headroom_given() {
        let (mut a, mut b) = Pipe::pair(
            PipeConfig::new(MAC_A).with_capabilities(Capabilities::TX_CHECKSUM_OFFLOAD),
            PipeConfig::new(MAC_B).with_capabilities(Capabilities::RX_CHECKSUM_OFFLOAD),
        );
        // Large storage with little headroom: shifted in place.
        let mut big = PacketBuffer::new(4, 2000);
        big.append(100).fill(7);
        big.gso = Some(crate::gso::Gso {
            gso_type: crate::gso::GsoType::UdpV4,
            needs_csum: false,
            csum_offset: 6,
            mss: 100,
            l3_hdr_len: 20,
            max_size: 65536,
        });
        let mut batch = vec![big, PacketBuffer::from_slice(200, &[9; 50])];
        a.write_packets(&mut batch, T0);
        let mut rx = PacketBatch::new();
        b.read_packets(&mut rx, 10, T0);
        assert_eq!(rx[0].as_slice(), &[7; 100][..]);
        assert_eq!(rx[0].headroom(), DEFAULT_HEADROOM);
        assert_eq!(rx[0].capacity(), 2004, "shifted within its own storage");
        assert_eq!(rx[0].gso, None);
        assert!(rx[0].csum_verified);
        assert_eq!(rx[1].headroom(), 200, "enough headroom: untouched");
        assert_eq!(rx[1].as_slice(), &[9; 50][..]);
        assert!(rx[1].csum_verified);
        // And the sender's frames are not marked on the way back.
        let mut batch = vec![frame(1, 64)];
        b.write_packets(&mut batch, T0);
        a.read_packets(&mut rx, 10, T0);
        assert!(!rx[2].csum_verified);
    }

    #[test]
    fn channel_collects_writes_and_delivers_injections() {
        let caps = Capabilities::RESOLUTION_REQUIRED;
        let (mut ep, handle) = Channel::with_capacity(MAC_A, 1500, caps, 3);
        assert_eq!(ep.link_address(), MAC_A);
        assert_eq!(handle.link_address(), MAC_A);
        assert_eq!(ep.capabilities(), caps);
        assert_eq!(ep.mtu(), 1500);

        let mut batch: PacketBatch = (0..5).map(|i| frame(i, 64)).collect();
        assert_eq!(ep.write_packets(&mut batch, T0), 3);
        assert_eq!(batch.len(), 2);
        assert_eq!(handle.outbound_len(), 3);
        let out = handle.take_outbound();
        assert_eq!(out.iter().map(tag).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(handle.outbound_len(), 0);
        assert_eq!(ep.write_packets(&mut batch, T0), 2);
        assert_eq!(handle.stats().tx_full, 2);
        assert_eq!(handle.stats().tx_frames, 5);

        handle.inject_inbound(&[1, 2, 3, 4, 5]);
        handle.inject_buffer(PacketBuffer::from_slice(0, &[6, 7, 8, 9]));
        handle.inject_buffer(frame(42, 64));
        assert_eq!(handle.inbound_len(), 3);
        let mut rx = PacketBatch::new();
        assert_eq!(ep.read_packets(&mut rx, 2, T0), 2);
        assert_eq!(rx[0].as_slice(), &[1, 2, 3, 4, 5]);
        assert_eq!(rx[1].as_slice(), &[6, 7, 8, 9]);
        assert!(rx.iter().all(|b| b.headroom() >= DEFAULT_HEADROOM));
        // The stack can push a header in place.
        let cap = rx[0].capacity();
        rx[0].prepend(14);
        assert_eq!(rx[0].capacity(), cap);
        assert_eq!(ep.read_packets(&mut rx, 2, T0), 1);
        assert_eq!(tag(&rx[2]), 42);
        assert_eq!(ep.read_packets(&mut rx, 2, T0), 0);
        assert_eq!(handle.stats().rx_frames, 3);

        // Clones share state; capacity can change.
        let h2 = handle.clone();
        h2.set_outbound_capacity(0);
        let mut batch = vec![frame(7, 64)];
        assert_eq!(ep.write_packets(&mut batch, T0), 0);
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn channel_rx_checksum_offload_marks_frames() {
        let (mut ep, handle) = Channel::new(MAC_B, 1500, Capabilities::RX_CHECKSUM_OFFLOAD);
        handle.inject_inbound(&[0; 60]);
        handle.inject_buffer(PacketBuffer::from_slice(0, &[0; 60]));
        let mut rx = PacketBatch::new();
        ep.read_packets(&mut rx, 8, T0);
        assert!(rx.iter().all(|b| b.csum_verified));
    }

    #[test]
    fn ends_are_send() {
        fn assert_send<T: Send>() {}
        assert_send::<PipeEnd>();
        assert_send::<ChannelEndpoint>();
        assert_send::<ChannelHandle>();
    }

    #[test]
    fn two_threads_exchange_100k_frames() {
        const N: u32 = 100_000;
        let (a, b) = Pipe::pair(
            PipeConfig::new(MAC_A).with_queue_capacity(256),
            PipeConfig::new(MAC_B).with_queue_capacity(256),
        );
        fn run(mut end: PipeEnd) -> (PipeEnd, u64) {
            let mut next_tx = 0u32;
            let mut next_rx = 0u32;
            let mut batch = PacketBatch::new();
            let mut rx = PacketBatch::new();
            let mut checksum = 0u64;
            while next_rx < N || next_tx < N || !batch.is_empty() {
                while batch.len() < 64 && next_tx < N {
                    batch.push(frame(next_tx, 64 + (next_tx % 64) as usize));
                    next_tx += 1;
                }
                end.write_packets(&mut batch, T0);
                rx.clear();
                end.read_packets(&mut rx, 64, T0);
                for f in &rx {
                    assert_eq!(tag(f), next_rx, "frames arrive in order");
                    assert_eq!(f.len(), 64 + (next_rx % 64) as usize);
                    assert_eq!(f.as_slice(), frame(next_rx, f.len()).as_slice());
                    checksum += f.as_slice().iter().map(|&b| b as u64).sum::<u64>();
                    next_rx += 1;
                }
                if rx.is_empty() {
                    std::thread::yield_now();
                }
            }
            (end, checksum)
        }
        let ta = std::thread::spawn(move || run(a));
        let tb = std::thread::spawn(move || run(b));
        let (a, ca) = ta.join().unwrap();
        let (b, cb) = tb.join().unwrap();
        assert_eq!(ca, cb);
        for end in [&a, &b] {
            let s = end.stats();
            assert_eq!(s.tx_frames, N as u64);
            assert_eq!(s.rx_frames, N as u64);
            assert_eq!(s.oversize, 0);
        }
        assert_eq!(a.stats().tx_bytes, b.stats().rx_bytes);
    }
}
