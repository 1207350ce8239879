//! Fault injection: a link wrapper that drops, duplicates, reorders, corrupts
//! and delays frames, reproducibly.
//!
//! [`Fault<L>`] wraps any [`LinkEndpoint`] and applies the faults of its
//! [`FaultConfig`] to frames going out ([`Direction::Tx`]), coming in
//! ([`Direction::Rx`]) or both. Randomness comes from a
//! [`SmallRng`] per direction seeded from [`FaultConfig::seed`] (the receive
//! side uses a derived seed), so a run is reproducible frame for frame, and
//! the transmit pattern does not depend on how reads and writes interleave.
//! Time is the `now` argument of each call; the wrapper never reads a clock.
//!
//! Per frame, in this order (each decision is an independent draw, skipped
//! when its probability is 0 or 1):
//! 1. **drop** with probability `drop`: the frame vanishes.
//! 2. **corrupt** with probability `corrupt`: one random bit of one random
//!    byte is flipped (empty frames are left alone and not counted).
//! 3. **duplicate** with probability `duplicate`: an identical copy (after
//!    corruption) follows the frame.
//! 4. **reorder** with probability `reorder`: the frame is held back and
//!    released right after the next frame that passes this stage, or at the
//!    end of the next call servicing that direction if none does (any call
//!    for transmit, a `read_packets` for receive), so it is never lost. One frame is held at a time; a frame that would be held while
//!    another is waiting passes normally and releases the waiting one.
//! 5. **delay**: when `delay` or `jitter` is non-zero, every frame is held
//!    until `now_at_entry + delay + uniform(0..=jitter)`, so `delay` is a
//!    strict lower bound (unlike netem, jitter only adds). Held frames are
//!    released, earliest release time first and FIFO among equal times, by
//!    any later `read_packets`/`write_packets` call whose `now` has reached
//!    their release time; [`Fault::next_release`] tells a driver when that
//!    is. The hold queue of each direction is bounded by
//!    [`FaultConfig::limit`]; a frame arriving at a full hold queue is dropped
//!    and counted as `overflow` (netem's `limit`).
//!
//! Ownership and backpressure: like netem, the wrapper is a queue of its own.
//! `write_packets` takes frames from the *front* of the caller's batch (they
//! leave the batch, and the return value counts them, dropped ones included)
//! while its transmit queue — frames that passed the faults and are waiting
//! for the inner link — holds fewer than `limit` frames; it then offers that
//! queue to the inner link once (one kick). Frames the inner link refuses stay
//! queued for the next call, and once `limit` of them pile up the caller's
//! frames stay in the caller's batch. On receive, `read_packets` reads from
//! the inner link at most as many frames as the budget has room for, so
//! duplicates or released frames beyond the budget wait for the next call.
//! Dropping the wrapper (or [`Fault::into_inner`]) discards held frames.
//!
//! Everything is counted in [`FaultStats`], per direction. The inner link's
//! MTU, header length, address and capabilities are passed through unchanged.
//! Frame contents are never interpreted, so nothing a frame holds can panic.

use super::{Capabilities, LinkEndpoint};
use crate::buffer::{PacketBatch, PacketBuffer};
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;
use core::cmp::Ordering;
use core::fmt;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BinaryHeap;

/// Default bound of each hold queue and of the transmit queue, in frames
/// (netem's default `limit`).
pub const DEFAULT_LIMIT: usize = 1000;

/// Which frames the faults apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Frames written to the link.
    Tx,
    /// Frames read from the link.
    Rx,
    /// Both.
    #[default]
    Both,
}

impl Direction {
    fn tx(self) -> bool {
        matches!(self, Direction::Tx | Direction::Both)
    }

    fn rx(self) -> bool {
        matches!(self, Direction::Rx | Direction::Both)
    }
}

/// What faults to inject. Probabilities are per frame, in `0.0..=1.0`.
///
/// Build with struct update syntax:
/// `FaultConfig { drop: 0.01, seed: 7, ..FaultConfig::default() }`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    /// Probability that a frame is dropped.
    pub drop: f64,
    /// Probability that a frame is followed by an identical copy.
    pub duplicate: f64,
    /// Probability that a frame is held back behind the next one.
    pub reorder: f64,
    /// Probability that one bit of a frame is flipped.
    pub corrupt: f64,
    /// Minimum time every frame is held.
    pub delay: Duration,
    /// Extra hold time, uniform in `0..=jitter`, added to `delay`.
    pub jitter: Duration,
    /// Seed of the random number generators.
    pub seed: u64,
    /// Which direction the faults apply to.
    pub direction: Direction,
    /// Bound of each hold queue and of the transmit queue, in frames; at
    /// least 1.
    pub limit: usize,
}

impl Default for FaultConfig {
    /// No faults, both directions, seed 0, limit [`DEFAULT_LIMIT`].
    fn default() -> Self {
        FaultConfig {
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            seed: 0,
            direction: Direction::Both,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl FaultConfig {
    /// Check the configuration; the error names the field and the fix.
    pub fn validate(&self) -> Result<(), FaultConfigError> {
        for (field, p) in [
            ("drop", self.drop),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
            ("corrupt", self.corrupt),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(FaultConfigError {
                    field,
                    message: format!(
                        "fault config: `{field}` is {p}, which is not a probability; \
                         use a value in 0.0..=1.0 (e.g. 0.01 for 1% of frames)"
                    ),
                });
            }
        }
        if self.limit == 0 {
            return Err(FaultConfigError {
                field: "limit",
                message: "fault config: `limit` is 0, so no frame could ever be queued; \
                          use at least 1 (the default is 1000)"
                    .to_string(),
            });
        }
        Ok(())
    }

    fn holds(&self) -> bool {
        !self.delay.is_zero() || !self.jitter.is_zero()
    }
}

/// An invalid [`FaultConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultConfigError {
    field: &'static str,
    message: String,
}

impl FaultConfigError {
    /// The offending field's name.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for FaultConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FaultConfigError {}

/// Fault counters of one direction (or, from [`Fault::stats`], both summed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Frames that entered the fault stage.
    pub seen: u64,
    /// Frames dropped by the `drop` probability.
    pub dropped: u64,
    /// Copies added by the `duplicate` probability.
    pub duplicated: u64,
    /// Frames held back behind a later one.
    pub reordered: u64,
    /// Frames with a flipped bit.
    pub corrupted: u64,
    /// Frames put in the hold queue for `delay`/`jitter`.
    pub delayed: u64,
    /// Frames dropped because the hold queue was full.
    pub overflow: u64,
}

impl FaultStats {
    fn add(&self, o: &FaultStats) -> FaultStats {
        FaultStats {
            seen: self.seen + o.seen,
            dropped: self.dropped + o.dropped,
            duplicated: self.duplicated + o.duplicated,
            reordered: self.reordered + o.reordered,
            corrupted: self.corrupted + o.corrupted,
            delayed: self.delayed + o.delayed,
            overflow: self.overflow + o.overflow,
        }
    }
}

/// A frame in a hold queue; the heap's top is the earliest release.
#[derive(Debug)]
struct Held {
    release: Instant,
    seq: u64,
    frame: PacketBuffer,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.release, self.seq) == (other.release, other.seq)
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap.
        (other.release, other.seq).cmp(&(self.release, self.seq))
    }
}

/// The fault state of one direction.
#[derive(Debug)]
struct Lane {
    rng: SmallRng,
    /// Frames past the faults, ready for the inner link (Tx) or the caller (Rx).
    out: PacketBatch,
    /// Delayed frames.
    held: BinaryHeap<Held>,
    seq: u64,
    /// The frame held back for reordering, and the call it was held in.
    reorder_slot: Option<(PacketBuffer, u64)>,
    /// Calls serviced so far.
    calls: u64,
    stats: FaultStats,
}

impl Lane {
    fn new(seed: u64) -> Lane {
        Lane {
            rng: SmallRng::seed_from_u64(seed),
            out: PacketBatch::new(),
            held: BinaryHeap::new(),
            seq: 0,
            reorder_slot: None,
            calls: 0,
            stats: FaultStats::default(),
        }
    }

    /// A Bernoulli draw that consumes no randomness for 0 and 1.
    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.rng.gen_bool(p)
        }
    }

    /// Start a call: count it and release held frames that are due.
    fn begin(&mut self, now: Instant) {
        self.calls += 1;
        while self.held.peek().is_some_and(|h| h.release <= now) {
            if let Some(h) = self.held.pop() {
                self.out.push(h.frame);
            }
        }
    }

    /// Apply the faults to one frame.
    fn process(&mut self, mut frame: PacketBuffer, cfg: &FaultConfig, now: Instant) {
        self.stats.seen += 1;
        if self.chance(cfg.drop) {
            self.stats.dropped += 1;
            return;
        }
        if self.chance(cfg.corrupt) && !frame.is_empty() {
            let byte = self.rng.gen_range(0..frame.len());
            let bit = self.rng.gen_range(0..8u32);
            frame.as_mut_slice()[byte] ^= 1 << bit;
            self.stats.corrupted += 1;
        }
        let copy = if self.chance(cfg.duplicate) {
            self.stats.duplicated += 1;
            let mut c = PacketBuffer::from_slice(frame.headroom(), frame.as_slice());
            c.gso = frame.gso;
            c.csum_verified = frame.csum_verified;
            Some(c)
        } else {
            None
        };
        if self.chance(cfg.reorder) && self.reorder_slot.is_none() {
            self.stats.reordered += 1;
            self.reorder_slot = Some((frame, self.calls));
            // The copy (if any) overtakes the original too.
            if let Some(c) = copy {
                self.emit(c, cfg, now);
            }
            return;
        }
        self.emit(frame, cfg, now);
        if let Some(c) = copy {
            self.emit(c, cfg, now);
        }
        if let Some((held, _)) = self.reorder_slot.take() {
            self.emit(held, cfg, now);
        }
    }

    /// End a call: a reordered frame that saw a whole call pass without a
    /// follower is released.
    fn end(&mut self, cfg: &FaultConfig, now: Instant) {
        if self
            .reorder_slot
            .as_ref()
            .is_some_and(|(_, call)| *call < self.calls)
        {
            if let Some((held, _)) = self.reorder_slot.take() {
                self.emit(held, cfg, now);
            }
        }
    }

    /// Pass a frame to the delay stage: hold it, or make it ready now.
    fn emit(&mut self, frame: PacketBuffer, cfg: &FaultConfig, now: Instant) {
        if !cfg.holds() {
            self.out.push(frame);
            return;
        }
        if self.held.len() >= cfg.limit {
            self.stats.overflow += 1;
            return;
        }
        let jitter = u64::try_from(cfg.jitter.as_nanos()).unwrap_or(u64::MAX);
        let extra = if jitter == 0 {
            0
        } else {
            self.rng.gen_range(0..=jitter)
        };
        let release = now + cfg.delay + Duration::from_nanos(extra);
        self.stats.delayed += 1;
        self.seq += 1;
        self.held.push(Held {
            release,
            seq: self.seq,
            frame,
        });
    }
}

/// Seed offset for the receive lane, so both lanes draw different streams.
const RX_SEED_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

/// A link wrapper injecting the faults of a [`FaultConfig`].
#[derive(Debug)]
pub struct Fault<L: LinkEndpoint> {
    inner: L,
    config: FaultConfig,
    tx: Lane,
    rx: Lane,
    /// Scratch batch for reading from the inner link.
    scratch: PacketBatch,
}

impl<L: LinkEndpoint> Fault<L> {
    /// Wrap `inner`; fails if `config` does not [validate](FaultConfig::validate).
    pub fn new(inner: L, config: FaultConfig) -> Result<Fault<L>, FaultConfigError> {
        config.validate()?;
        Ok(Fault {
            inner,
            config,
            tx: Lane::new(config.seed),
            rx: Lane::new(config.seed ^ RX_SEED_SALT),
            scratch: PacketBatch::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// The wrapped link.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// The wrapped link, mutably.
    pub fn inner_mut(&mut self) -> &mut L {
        &mut self.inner
    }

    /// Unwrap the link; frames held or queued by the wrapper are discarded.
    pub fn into_inner(self) -> L {
        self.inner
    }

    /// Transmit-side counters.
    pub fn tx_stats(&self) -> FaultStats {
        self.tx.stats
    }

    /// Receive-side counters.
    pub fn rx_stats(&self) -> FaultStats {
        self.rx.stats
    }

    /// Both directions' counters summed.
    pub fn stats(&self) -> FaultStats {
        self.tx.stats.add(&self.rx.stats)
    }

    /// Frames the wrapper holds in either direction: delayed, held back for
    /// reordering, or waiting for the inner link or the caller.
    pub fn pending(&self) -> usize {
        [&self.tx, &self.rx]
            .iter()
            .map(|l| l.held.len() + l.out.len() + usize::from(l.reorder_slot.is_some()))
            .sum()
    }

    /// The earliest time a delayed frame becomes due, if any is held; a
    /// driver should call `read_packets` or `write_packets` at or after it.
    pub fn next_release(&self) -> Option<Instant> {
        let t = self.tx.held.peek().map(|h| h.release);
        let r = self.rx.held.peek().map(|h| h.release);
        match (t, r) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Release due transmit frames and offer queued ones to the inner link.
    /// `batch` (if given) is the caller's batch to take new frames from;
    /// returns how many of those were taken.
    fn service_tx(&mut self, batch: Option<&mut PacketBatch>, now: Instant) -> usize {
        let cfg = self.config;
        let lane = &mut self.tx;
        lane.begin(now);
        let mut taken = 0;
        if let Some(batch) = batch {
            taken = cfg.limit.saturating_sub(lane.out.len()).min(batch.len());
            for frame in batch.drain(..taken) {
                lane.process(frame, &cfg, now);
            }
        }
        lane.end(&cfg, now);
        if !lane.out.is_empty() {
            self.inner.write_packets(&mut lane.out, now);
        }
        taken
    }
}

impl<L: LinkEndpoint> LinkEndpoint for Fault<L> {
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }

    fn max_header_len(&self) -> usize {
        self.inner.max_header_len()
    }

    fn link_address(&self) -> EthernetAddress {
        self.inner.link_address()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn gso_max_size(&self) -> usize {
        self.inner.gso_max_size()
    }

    fn write_packets(&mut self, batch: &mut PacketBatch, now: Instant) -> usize {
        if !self.config.direction.tx() {
            return self.inner.write_packets(batch, now);
        }
        self.service_tx(Some(batch), now)
    }

    fn read_packets(&mut self, batch: &mut PacketBatch, budget: usize, now: Instant) -> usize {
        if self.config.direction.tx() {
            self.service_tx(None, now);
        }
        if !self.config.direction.rx() {
            return self.inner.read_packets(batch, budget, now);
        }
        let cfg = self.config;
        let lane = &mut self.rx;
        lane.begin(now);
        let want = budget.saturating_sub(lane.out.len());
        if want > 0 {
            self.scratch.clear();
            self.inner.read_packets(&mut self.scratch, want, now);
            for frame in self.scratch.drain(..) {
                lane.process(frame, &cfg, now);
            }
        }
        lane.end(&cfg, now);
        let n = budget.min(lane.out.len());
        batch.extend(lane.out.drain(..n));
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::pipe::{Channel, ChannelEndpoint, ChannelHandle};

    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 9]);
    const T0: Instant = Instant::ZERO;

    fn channel(capacity: usize) -> (ChannelEndpoint, ChannelHandle) {
        Channel::with_capacity(MAC, 1500, Capabilities::RESOLUTION_REQUIRED, capacity)
    }

    fn frame(tag: u32) -> PacketBuffer {
        let mut data = vec![0xa5u8; 64];
        data[..4].copy_from_slice(&tag.to_be_bytes());
        PacketBuffer::from_slice(16, &data)
    }

    fn tag(buf: &PacketBuffer) -> u32 {
        u32::from_be_bytes(buf.as_slice()[..4].try_into().unwrap())
    }

    fn frames(range: core::ops::Range<u32>) -> PacketBatch {
        range.map(frame).collect()
    }

    fn tags(batch: &[PacketBuffer]) -> Vec<u32> {
        batch.iter().map(tag).collect()
    }

    fn tx_config(f: impl FnOnce(&mut FaultConfig)) -> FaultConfig {
        let mut c = FaultConfig {
            direction: Direction::Tx,
            limit: 100_000,
            ..FaultConfig::default()
        };
        f(&mut c);
        c
    }

    /// Push `n` frames through a Tx fault in batches of 64; return what the
    /// inner link got and the stats.
    fn run_tx(config: FaultConfig, n: u32) -> (Vec<u32>, FaultStats) {
        let (ep, handle) = channel(usize::MAX);
        let mut link = Fault::new(ep, config).unwrap();
        let mut next = 0;
        while next < n {
            let end = (next + 64).min(n);
            let mut batch = frames(next..end);
            assert_eq!(link.write_packets(&mut batch, T0), (end - next) as usize);
            assert!(batch.is_empty());
            next = end;
        }
        // One more call releases a frame still held for reordering.
        link.write_packets(&mut PacketBatch::new(), T0);
        (tags(&handle.take_outbound()), link.tx_stats())
    }

    #[test]
    fn drop_rate_is_close_and_reproducible() {
        let cfg = tx_config(|c| {
            c.drop = 0.3;
            c.seed = 42;
        });
        let (out1, s1) = run_tx(cfg, 10_000);
        let (out2, s2) = run_tx(cfg, 10_000);
        // Expected 3000, sigma ~46: allow 5 sigma.
        assert!(
            (2750..=3250).contains(&s1.dropped),
            "dropped {} of 10000 at p=0.3",
            s1.dropped
        );
        assert_eq!(s1, s2, "same seed, same counts");
        assert_eq!(out1, out2, "same seed, same survivors");
        assert_eq!(s1.seen, 10_000);
        assert_eq!(out1.len() as u64 + s1.dropped, 10_000);
        assert!(out1.windows(2).all(|w| w[0] < w[1]), "order kept");
        let (out3, _) = run_tx(tx_config(|c| c.drop = 0.3), 10_000);
        assert_ne!(out1, out3, "another seed, another pattern");
        // Nothing else happened.
        assert_eq!(
            (s1.duplicated, s1.reordered, s1.corrupted, s1.delayed),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn receive_side_faults_and_direction_filter() {
        let (ep, handle) = channel(usize::MAX);
        let cfg = FaultConfig {
            drop: 0.5,
            seed: 3,
            direction: Direction::Rx,
            ..FaultConfig::default()
        };
        let mut link = Fault::new(ep, cfg).unwrap();
        // Writes pass untouched.
        let mut batch = frames(0..100);
        assert_eq!(link.write_packets(&mut batch, T0), 100);
        assert_eq!(tags(&handle.take_outbound()), (0..100).collect::<Vec<_>>());
        assert_eq!(link.tx_stats(), FaultStats::default());
        // Reads lose about half.
        for i in 0..1000u32 {
            handle.inject_buffer(frame(i));
        }
        let mut rx = PacketBatch::new();
        while link.read_packets(&mut rx, 64, T0) > 0 || handle.inbound_len() > 0 {}
        let s = link.rx_stats();
        assert_eq!(s.seen, 1000);
        assert_eq!(rx.len() as u64 + s.dropped, 1000);
        assert!((400..=600).contains(&s.dropped), "dropped {}", s.dropped);
        assert_eq!(link.stats(), s);
    }

    #[test]
    fn read_budget_holds_with_duplicates() {
        let (ep, handle) = channel(16);
        let cfg = FaultConfig {
            duplicate: 1.0,
            direction: Direction::Rx,
            ..FaultConfig::default()
        };
        let mut link = Fault::new(ep, cfg).unwrap();
        for i in 0..5 {
            handle.inject_buffer(frame(i));
        }
        let mut rx = PacketBatch::new();
        assert_eq!(link.read_packets(&mut rx, 3, T0), 3);
        assert_eq!(link.read_packets(&mut rx, 3, T0), 3);
        assert_eq!(link.read_packets(&mut rx, 3, T0), 3);
        assert_eq!(link.read_packets(&mut rx, 3, T0), 1);
        assert_eq!(link.read_packets(&mut rx, 3, T0), 0);
        assert_eq!(tags(&rx), vec![0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    }

    #[test]
    fn duplicates_are_identical_and_follow() {
        let (out, s) = run_tx(tx_config(|c| c.duplicate = 1.0), 50);
        let want: Vec<u32> = (0..50).flat_map(|i| [i, i]).collect();
        assert_eq!(out, want);
        assert_eq!(s.duplicated, 50);

        let (ep, handle) = channel(usize::MAX);
        let mut link = Fault::new(ep, tx_config(|c| c.duplicate = 1.0)).unwrap();
        let mut orig = PacketBuffer::from_slice(40, &[1, 2, 3, 4, 5, 6, 7]);
        orig.csum_verified = true;
        link.write_packets(&mut vec![orig], T0);
        let out = handle.take_outbound();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], out[1], "bytes, headroom and metadata equal");

        let (out, s) = run_tx(
            tx_config(|c| {
                c.duplicate = 0.2;
                c.seed = 5
            }),
            10_000,
        );
        assert!((1750..=2250).contains(&s.duplicated), "{}", s.duplicated);
        assert_eq!(out.len() as u64, 10_000 + s.duplicated);
    }

    #[test]
    fn reorder_changes_order_and_loses_nothing() {
        let (out, s) = run_tx(
            tx_config(|c| {
                c.reorder = 0.3;
                c.seed = 11
            }),
            2000,
        );
        assert!(s.reordered > 300, "reordered {}", s.reordered);
        assert_eq!(out.len(), 2000, "nothing lost");
        let inversions = out.windows(2).filter(|w| w[0] > w[1]).count();
        assert_eq!(inversions as u64, s.reordered, "each held frame swaps once");
        let mut sorted = out.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..2000).collect::<Vec<_>>());
        // A held frame moves back by exactly one place.
        for w in out.windows(2) {
            if w[0] > w[1] {
                assert_eq!(w[0], w[1] + 1);
            }
        }
    }

    #[test]
    fn reordered_frame_waits_at_most_one_call() {
        let (ep, handle) = channel(usize::MAX);
        let mut link = Fault::new(ep, tx_config(|c| c.reorder = 1.0)).unwrap();
        link.write_packets(&mut frames(0..1), T0);
        assert_eq!(handle.outbound_len(), 0, "frame 0 held back");
        assert_eq!(link.pending(), 1);
        link.write_packets(&mut frames(1..2), T0);
        assert_eq!(tags(&handle.take_outbound()), vec![1, 0]);
        link.write_packets(&mut frames(2..3), T0);
        assert_eq!(handle.outbound_len(), 0);
        // No follower in the next call: released at its end (a read counts).
        link.read_packets(&mut PacketBatch::new(), 8, T0);
        assert_eq!(tags(&handle.take_outbound()), vec![2]);
        assert_eq!(link.pending(), 0);
        // Within one batch with p=1: pairs swap.
        link.write_packets(&mut frames(10..16), T0);
        assert_eq!(tags(&handle.take_outbound()), vec![11, 10, 13, 12, 15, 14]);
    }

    #[test]
    fn corruption_flips_exactly_one_bit() {
        let (ep, handle) = channel(usize::MAX);
        let mut link = Fault::new(
            ep,
            tx_config(|c| {
                c.corrupt = 1.0;
                c.seed = 9
            }),
        )
        .unwrap();
        let originals: Vec<Vec<u8>> = (0..500u32)
            .map(|i| (0..(1 + i % 100)).map(|j| (i * 7 + j) as u8).collect())
            .collect();
        let mut batch: PacketBatch = originals
            .iter()
            .map(|d| PacketBuffer::from_slice(0, d))
            .collect();
        batch.push(PacketBuffer::new(0, 0)); // empty: left alone, no panic
        assert_eq!(link.write_packets(&mut batch, T0), 501);
        let out = handle.take_outbound();
        assert_eq!(out.len(), 501);
        let mut positions = std::collections::HashSet::new();
        for (got, want) in out.iter().zip(&originals) {
            assert_eq!(got.len(), want.len());
            let diff: u32 = got
                .as_slice()
                .iter()
                .zip(want)
                .map(|(a, b)| (a ^ b).count_ones())
                .sum();
            assert_eq!(diff, 1);
            let at = got.as_slice().iter().zip(want).position(|(a, b)| a != b);
            positions.insert(at);
        }
        assert!(positions.len() > 20, "random byte positions");
        assert!(out[500].is_empty());
        assert_eq!(link.tx_stats().corrupted, 500);
    }

    #[test]
    fn delay_holds_until_due_then_releases_all() {
        let (ep, handle) = channel(usize::MAX);
        let delay = Duration::from_millis(10);
        let jitter = Duration::from_millis(5);
        let mut link = Fault::new(
            ep,
            tx_config(|c| {
                c.delay = delay;
                c.jitter = jitter;
                c.seed = 1
            }),
        )
        .unwrap();
        let start = Instant::from_secs(100);
        let mut batch = frames(0..200);
        assert_eq!(link.write_packets(&mut batch, start), 200);
        assert_eq!(link.tx_stats().delayed, 200);
        let first = link.next_release().unwrap();
        assert!(first >= start + delay);
        assert!(first <= start + delay + jitter);
        let mut empty = PacketBatch::new();
        link.write_packets(&mut empty, start + (delay - Duration::from_nanos(1)));
        assert_eq!(handle.outbound_len(), 0, "nothing before now + delay");
        // Partial release in the jitter window, in release order.
        link.read_packets(&mut empty, 8, start + delay + jitter / 2);
        let some = handle.outbound_len();
        assert!(some > 0 && some < 200, "released {some} mid-window");
        link.write_packets(&mut empty, start + delay + jitter);
        let out = handle.take_outbound();
        assert_eq!(out.len(), 200, "everything after delay + jitter");
        let mut got = tags(&out);
        got.sort_unstable();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
        assert_eq!(link.next_release(), None);
        assert_eq!(link.pending(), 0);
    }

    #[test]
    fn fixed_delay_keeps_order_on_receive() {
        let (ep, handle) = channel(usize::MAX);
        let cfg = FaultConfig {
            delay: Duration::from_micros(500),
            direction: Direction::Rx,
            ..FaultConfig::default()
        };
        let mut link = Fault::new(ep, cfg).unwrap();
        for i in 0..10 {
            handle.inject_buffer(frame(i));
        }
        let mut rx = PacketBatch::new();
        assert_eq!(link.read_packets(&mut rx, 64, T0), 0);
        let t1 = Instant::from_micros(100);
        for i in 10..20 {
            handle.inject_buffer(frame(i));
        }
        assert_eq!(link.read_packets(&mut rx, 64, t1), 0);
        assert_eq!(link.next_release(), Some(Instant::from_micros(500)));
        assert_eq!(link.read_packets(&mut rx, 64, Instant::from_micros(499)), 0);
        assert_eq!(
            link.read_packets(&mut rx, 64, Instant::from_micros(500)),
            10
        );
        assert_eq!(link.read_packets(&mut rx, 4, Instant::from_micros(600)), 4);
        assert_eq!(link.read_packets(&mut rx, 64, Instant::from_micros(600)), 6);
        assert_eq!(tags(&rx), (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn hold_queue_overflow_is_counted() {
        let (ep, handle) = channel(usize::MAX);
        let mut link = Fault::new(
            ep,
            tx_config(|c| {
                c.delay = Duration::from_millis(1);
                c.limit = 10
            }),
        )
        .unwrap();
        let mut batch = frames(0..25);
        // At most `limit` frames are taken per call.
        assert_eq!(link.write_packets(&mut batch, T0), 10);
        assert_eq!(link.write_packets(&mut batch, T0), 10);
        assert_eq!(link.write_packets(&mut batch, T0), 5);
        let s = link.tx_stats();
        assert_eq!((s.delayed, s.overflow), (10, 15));
        link.write_packets(&mut PacketBatch::new(), Instant::from_millis(1));
        assert_eq!(tags(&handle.take_outbound()), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn inner_backpressure_reaches_the_caller() {
        let (ep, handle) = channel(5);
        let mut link = Fault::new(ep, tx_config(|c| c.limit = 8)).unwrap();
        let mut batch = frames(0..20);
        // Takes up to the limit; the inner link takes 5, 3 wait in the wrapper.
        assert_eq!(link.write_packets(&mut batch, T0), 8);
        assert_eq!(batch.len(), 12);
        assert_eq!(tag(&batch[0]), 8);
        assert_eq!(link.pending(), 3);
        assert_eq!(link.write_packets(&mut batch, T0), 5);
        assert_eq!(link.write_packets(&mut batch, T0), 0, "wrapper full");
        assert_eq!(batch.len(), 7);
        let mut got = tags(&handle.take_outbound());
        // A read drains the wrapper's queue into the inner link.
        link.read_packets(&mut PacketBatch::new(), 8, T0);
        got.extend(tags(&handle.take_outbound()));
        while !batch.is_empty() || link.pending() > 0 {
            link.write_packets(&mut batch, T0);
            got.extend(tags(&handle.take_outbound()));
        }
        assert_eq!(got, (0..20).collect::<Vec<_>>(), "nothing lost, in order");
    }

    #[test]
    fn invalid_config_names_field_and_fix() {
        let (ep, _h) = channel(4);
        let err = Fault::new(
            ep,
            FaultConfig {
                drop: 1.5,
                ..FaultConfig::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.field(), "drop");
        let msg = err.to_string();
        assert!(msg.contains("`drop` is 1.5"), "{msg}");
        assert!(msg.contains("0.0..=1.0"), "{msg}");

        for (cfg, field) in [
            (
                FaultConfig {
                    duplicate: -0.1,
                    ..FaultConfig::default()
                },
                "duplicate",
            ),
            (
                FaultConfig {
                    reorder: f64::NAN,
                    ..FaultConfig::default()
                },
                "reorder",
            ),
            (
                FaultConfig {
                    corrupt: 2.0,
                    ..FaultConfig::default()
                },
                "corrupt",
            ),
            (
                FaultConfig {
                    limit: 0,
                    ..FaultConfig::default()
                },
                "limit",
            ),
        ] {
            let err = cfg.validate().unwrap_err();
            assert_eq!(err.field(), field);
            assert!(err.to_string().contains(field));
        }
        let edges = FaultConfig {
            drop: 0.0,
            duplicate: 1.0,
            ..FaultConfig::default()
        };
        assert!(edges.validate().is_ok());
    }

    #[test]
    fn inner_properties_pass_through() {
        let (ep, _h) = Channel::new(
            MAC,
            9000,
            Capabilities::TX_CHECKSUM_OFFLOAD | Capabilities::SOFTWARE_GSO,
        );
        let link = Fault::new(ep, FaultConfig::default()).unwrap();
        assert_eq!(link.mtu(), 9000);
        assert_eq!(link.max_header_len(), 14);
        assert_eq!(link.link_address(), MAC);
        assert_eq!(
            link.capabilities(),
            Capabilities::TX_CHECKSUM_OFFLOAD | Capabilities::SOFTWARE_GSO
        );
        assert_eq!(link.gso_max_size(), crate::gso::SOFTWARE_GSO_MAX_SIZE);
        let _inner: ChannelEndpoint = link.into_inner();
    }
}
