//! IP fragmentation and reassembly.
//!
//! Implements RFC 791 3.2 (IPv4 fragmentation and reassembly), RFC 815 (hole
//! tracking), RFC 8200 4.5 (the IPv6 fragment header), RFC 5722 (overlapping
//! IPv6 fragments; applied to IPv4 as well, as Linux does) and RFC 1122 3.3.2
//! (reassembly timeout, ICMP time exceeded code 1).
//!
//! This module works on byte ranges and a small key type only; the IPv4 and
//! IPv6 layers parse their headers and call it.
//!
//! # Reassembly
//!
//! A [`Reassembler<K>`] holds the datagrams in progress, keyed by `K`: IPv4
//! uses `(src, dst, ident, protocol)` (RFC 791 3.2), IPv6 `(src, dst, ident)`
//! (RFC 8200 4.5). The IP layer hands each fragment over as a [`Fragment`]: its
//! byte offset, its more-fragments flag, its fragmentable data, and, for the
//! offset-0 fragment, the header bytes to keep (the IPv4 header or the IPv6
//! unfragmentable part). On completion [`Reassembler::process`] returns a
//! [`Reassembled`]: one [`PacketBuffer`] holding `header ++ payload`
//! contiguously, with [`DEFAULT_HEADROOM`] in front, and the header length.
//! The caller rewrites the length fields (and, for IPv6, removes the fragment
//! header's next-header link) and reparses it as an ordinary packet.
//!
//! Each datagram keeps its fragments in a `BTreeMap` from offset to bytes.
//! Fragments never overlap (an overlap discards the datagram), so the received
//! byte count equals the covered length, and the datagram is complete when the
//! first fragment is in, the last fragment fixed the total length, and the
//! byte count reaches it: the RFC 815 "no holes left" test in O(1). Finding the
//! neighbours of a new fragment is O(log n); arrival order does not matter and
//! nothing is quadratic.
//!
//! ## Errors: what is dropped
//!
//! [`Reassembler::process`] returns `Err(DropReason)`; the caller counts it.
//! Two kinds of error are distinguished:
//!
//! * **The fragment alone is dropped**, the datagram (if any) is untouched:
//!   * [`DropReason::FragmentMalformed`]: the offset is not a multiple of 8, or
//!     a fragment with more-fragments set has a length that is zero or not a
//!     multiple of 8 (RFC 8200 4.5; RFC 791 3.2 fragments on 8-octet units).
//!   * [`DropReason::FragmentTooBig`]: `offset + len`, plus the header length
//!     when known, exceeds [`ReassemblerConfig::max_datagram_len`] (RFC 8200
//!     4.5 "must be discarded"; RFC 791 total length is 16 bits). Also on
//!     `usize` overflow of `offset + len`.
//!   * [`DropReason::ReassemblyMemory`]: storing the fragment would exceed
//!     [`ReassemblerConfig::memory_limit`], or it would start a datagram beyond
//!     [`ReassemblerConfig::max_datagrams`] (a fragment that completes its
//!     datagram on its own holds nothing and is exempt from both bounds).
//!     **The newcomer is rejected and nothing is evicted**: datagrams
//!     already held keep their chance to complete and are reported through
//!     [`Reassembler::expire`] if they do not. (Evicting the oldest would let a flood flush legitimate traffic
//!     with no trace; rejecting bounds the damage to the flood's own window.)
//!   * [`DropReason::FragmentOverlap`] for any fragment of a *poisoned* key
//!     (see below).
//! * **The whole datagram is discarded** with the fragment:
//!   * [`DropReason::FragmentOverlap`]: the fragment overlaps data already held
//!     without being an exact duplicate (same offset and length, which is
//!     silently ignored). RFC 5722 section 4: "the entire datagram (and any
//!     constituent fragments, including those not yet received) MUST be
//!     silently discarded". The key is then *poisoned* until the discarded
//!     datagram's deadline, so its late fragments cannot start a new datagram.
//!     Poisoned keys are bounded by `max_datagrams`; when that many are
//!     already poisoned the datagram is still discarded but the key is not
//!     remembered.
//!   * [`DropReason::FragmentMalformed`]: a last fragment (more-fragments
//!     clear) ending somewhere else than a previous last fragment, or before
//!     data already held, or a non-last fragment ending past the known end
//!     (as Linux `ip_frag_queue`: the datagram is corrupt, which part is
//!     unknowable).
//!   * [`DropReason::FragmentTooBig`]: the first fragment arrives and its
//!     header plus data already held exceed `max_datagram_len`.
//!
//! ## Memory
//!
//! [`Reassembler::memory_used`] charges each held fragment its data length
//! plus [`FRAGMENT_OVERHEAD`], and the kept header its length. The overhead
//! term stands for the allocation and tree node behind each fragment (as Linux
//! charges `skb->truesize`, not the data length): without it a flood of 8-byte
//! fragments would use several times the configured bound.
//!
//! ## Timeouts
//!
//! A datagram's deadline is fixed when its first fragment arrives (of any
//! offset): `now + timeout`, 30 s for IPv4 (Linux `ipfrag_time`; RFC 791
//! suggests 15 s as a lower bound), 60 s for IPv6 (RFC 8200 4.5). Later
//! fragments do not extend it. [`Reassembler::expire`] drops the datagrams
//! whose deadline is `<= now` and hands each to a callback with the first
//! fragment (header and leading data) when that fragment had arrived, so the
//! caller can send ICMP time exceeded, code 1 (RFC 792, RFC 1122 3.3.2,
//! RFC 4443 3.3, RFC 8200 4.5). [`Reassembler::poll_at`] is the earliest
//! deadline. `process` does not expire anything itself: callers run `expire`
//! when `poll_at` is due (every poll, before feeding a batch, is fine).
//!
//! # Fragmentation
//!
//! [`plan_fragments`] cuts a payload into fragments that fit an MTU, every
//! non-last fragment a multiple of 8 octets long (RFC 791 3.2, RFC 8200 4.5).
//! It only computes ranges; the IP layer builds the packets.

use core::ops::Bound;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use crate::buffer::{PacketBuffer, DEFAULT_HEADROOM};
use crate::stack::DropReason;
use crate::time::{Duration, Instant};

/// IPv4 reassembly timeout: 30 s, as Linux `net.ipv4.ipfrag_time`.
pub const IPV4_REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(30);

/// IPv6 reassembly timeout: 60 s (RFC 8200 4.5).
pub const IPV6_REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest reassembled IPv4 datagram, header included: the 16-bit Total
/// Length (RFC 791 3.1).
pub const IPV4_MAX_DATAGRAM_LEN: usize = 65_535;

/// Largest reassembled IPv6 packet counted as `header ++ payload` where the
/// header includes the 40-octet fixed header: the 16-bit Payload Length
/// excludes the fixed header (RFC 8200 3, 4.5), hence 40 + 65 535.
pub const IPV6_MAX_DATAGRAM_LEN: usize = 40 + 65_535;

/// Default bound on buffered reassembly memory: 4 MiB, as Linux
/// `ipfrag_high_thresh`.
pub const DEFAULT_MEMORY_LIMIT: usize = 4 << 20;

/// Default bound on datagrams in reassembly at once (per shard).
pub const DEFAULT_MAX_DATAGRAMS: usize = 1024;

/// Bytes charged per held fragment on top of its data (allocation and tree
/// node), see the module docs.
pub const FRAGMENT_OVERHEAD: usize = 64;

/// Reassembly limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblerConfig {
    /// How long a datagram may stay incomplete, from its first-arriving
    /// fragment.
    pub timeout: Duration,
    /// Largest reassembled `header ++ payload`, in octets.
    pub max_datagram_len: usize,
    /// Bound on [`Reassembler::memory_used`].
    pub memory_limit: usize,
    /// Bound on datagrams in progress (and, separately, on poisoned keys).
    pub max_datagrams: usize,
}

impl ReassemblerConfig {
    /// IPv4 defaults: 30 s, 65 535 octets, 4 MiB, 1024 datagrams.
    pub const fn ipv4() -> ReassemblerConfig {
        ReassemblerConfig {
            timeout: IPV4_REASSEMBLY_TIMEOUT,
            max_datagram_len: IPV4_MAX_DATAGRAM_LEN,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            max_datagrams: DEFAULT_MAX_DATAGRAMS,
        }
    }

    /// IPv6 defaults: 60 s, 40 + 65 535 octets (the caller's header includes
    /// the fixed header), 4 MiB, 1024 datagrams.
    pub const fn ipv6() -> ReassemblerConfig {
        ReassemblerConfig {
            timeout: IPV6_REASSEMBLY_TIMEOUT,
            max_datagram_len: IPV6_MAX_DATAGRAM_LEN,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            max_datagrams: DEFAULT_MAX_DATAGRAMS,
        }
    }
}

impl Default for ReassemblerConfig {
    /// The IPv4 defaults ([`ReassemblerConfig::ipv4`]).
    fn default() -> Self {
        ReassemblerConfig::ipv4()
    }
}

/// One received fragment, as the IP layer hands it over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// Offset of `data` in the fragmentable part, in octets (the wire field
    /// times 8).
    pub offset: usize,
    /// The more-fragments flag (IPv4 MF, IPv6 M).
    pub more_fragments: bool,
    /// The fragment's share of the fragmentable part.
    pub data: &'a [u8],
    /// For the offset-0 fragment, the header to keep in front of the
    /// reassembled payload (the IPv4 header, or the IPv6 fixed header and
    /// unfragmentable part). Ignored on other fragments; `None` on the
    /// offset-0 fragment keeps an empty header.
    pub first_header: Option<&'a [u8]>,
}

/// A completed datagram.
#[derive(Debug, PartialEq, Eq)]
pub struct Reassembled {
    /// `header ++ payload`, contiguous, after [`DEFAULT_HEADROOM`] octets of
    /// headroom.
    pub buffer: PacketBuffer,
    /// Length of the header at the front of `buffer`.
    pub header_len: usize,
    /// How many fragments holding data made it (duplicates and zero-length
    /// last fragments not counted).
    pub fragments: usize,
}

impl Reassembled {
    /// The header kept from the first fragment.
    pub fn header(&self) -> &[u8] {
        let all = self.buffer.as_slice();
        &all[..self.header_len.min(all.len())]
    }

    /// The reassembled fragmentable part.
    pub fn payload(&self) -> &[u8] {
        let all = self.buffer.as_slice();
        &all[self.header_len.min(all.len())..]
    }
}

/// Reassembly counters (errors are also returned to the caller, which counts
/// them as drops).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Datagrams started (first fragment of a new key stored).
    pub started: u64,
    /// Datagrams completed and returned.
    pub completed: u64,
    /// Datagrams dropped by [`Reassembler::expire`].
    pub timed_out: u64,
    /// Exact duplicate fragments ignored.
    pub duplicates: u64,
    /// Fragments rejected as [`DropReason::FragmentMalformed`].
    pub malformed: u64,
    /// Fragments rejected as [`DropReason::FragmentOverlap`] (including those
    /// of poisoned keys).
    pub overlaps: u64,
    /// Fragments rejected as [`DropReason::FragmentTooBig`].
    pub too_big: u64,
    /// Fragments rejected as [`DropReason::ReassemblyMemory`].
    pub memory: u64,
    /// Datagrams discarded (with everything they held) by an error.
    pub discarded: u64,
}

/// One datagram in progress.
#[derive(Debug)]
struct Datagram {
    /// Header of the offset-0 fragment, once it arrived.
    header: Option<Vec<u8>>,
    /// Held fragments by offset; never overlapping, never empty.
    pieces: BTreeMap<usize, Vec<u8>>,
    /// Data octets held (= octets covered, as pieces never overlap).
    received: usize,
    /// Highest end offset held (0 when nothing is held).
    max_end: usize,
    /// Length of the fragmentable part, fixed by the last fragment.
    total_len: Option<usize>,
    /// Bytes charged to the memory bound.
    memory: usize,
}

impl Datagram {
    fn new() -> Datagram {
        Datagram {
            header: None,
            pieces: BTreeMap::new(),
            received: 0,
            max_end: 0,
            total_len: None,
            memory: 0,
        }
    }

    fn is_complete(&self) -> bool {
        self.header.is_some() && self.total_len == Some(self.received)
    }

    /// The first fragment's header and data, if it arrived, into `out`.
    fn first_fragment(&self, out: &mut Vec<u8>) -> bool {
        out.clear();
        let Some(h) = &self.header else {
            return false;
        };
        out.extend_from_slice(h);
        if let Some(d) = self.pieces.get(&0) {
            out.extend_from_slice(d);
        }
        true
    }

    fn into_reassembled(self) -> Reassembled {
        let header = self.header.unwrap_or_default();
        let mut buffer = PacketBuffer::new(DEFAULT_HEADROOM, header.len() + self.received);
        buffer.append(header.len()).copy_from_slice(&header);
        let fragments = self.pieces.len();
        for piece in self.pieces.into_values() {
            buffer.append(piece.len()).copy_from_slice(&piece);
        }
        Reassembled {
            buffer,
            header_len: header.len(),
            fragments,
        }
    }
}

/// A slot in the table: a datagram in progress or a poisoned key.
#[derive(Debug)]
struct Slot {
    deadline: Instant,
    /// Tie-breaker in the deadline index.
    seq: u64,
    /// `None` once poisoned (RFC 5722).
    datagram: Option<Datagram>,
}

/// What adding a fragment did.
enum Added {
    Stored,
    Duplicate,
}

/// Why a fragment was refused, and what happens to its datagram.
enum Fault {
    /// Drop the fragment only.
    Reject(DropReason),
    /// Drop the fragment and discard the datagram.
    Discard(DropReason),
    /// Drop everything and poison the key (RFC 5722).
    Overlap,
}

/// Reassembles fragmented datagrams keyed by `K` (see the module docs).
#[derive(Debug)]
pub struct Reassembler<K> {
    config: ReassemblerConfig,
    slots: HashMap<K, Slot>,
    /// Deadline index over `slots`, earliest first.
    deadlines: BTreeMap<(Instant, u64), K>,
    next_seq: u64,
    active: usize,
    poisoned: usize,
    memory: usize,
    stats: ReassemblyStats,
    /// Reused by `expire` to assemble the first fragment for the callback.
    scratch: Vec<u8>,
}

impl<K: Copy + Eq + Hash> Reassembler<K> {
    /// An empty reassembler with `config`.
    pub fn new(config: ReassemblerConfig) -> Reassembler<K> {
        Reassembler {
            config,
            slots: HashMap::new(),
            deadlines: BTreeMap::new(),
            next_seq: 0,
            active: 0,
            poisoned: 0,
            memory: 0,
            stats: ReassemblyStats::default(),
            scratch: Vec::new(),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &ReassemblerConfig {
        &self.config
    }

    /// Datagrams in progress (poisoned keys not counted).
    pub fn len(&self) -> usize {
        self.active
    }

    /// Whether no datagram is in progress.
    pub fn is_empty(&self) -> bool {
        self.active == 0
    }

    /// Keys poisoned by an overlap and not yet timed out.
    pub fn poisoned_len(&self) -> usize {
        self.poisoned
    }

    /// Bytes charged to the memory bound (see the module docs).
    pub fn memory_used(&self) -> usize {
        self.memory
    }

    /// The counters.
    pub fn stats(&self) -> &ReassemblyStats {
        &self.stats
    }

    /// The earliest deadline (of a datagram, or of a poisoned key), when
    /// [`Reassembler::expire`] should run next; `None` when idle.
    pub fn poll_at(&self) -> Option<Instant> {
        self.deadlines.keys().next().map(|(t, _)| *t)
    }

    /// Add one fragment of datagram `key` received at `now`.
    ///
    /// Returns `Ok(Some(_))` when it completes the datagram, `Ok(None)` when
    /// it was stored (or ignored as an exact duplicate) and the datagram is
    /// incomplete, `Err(reason)` when it was dropped (see the module docs for
    /// which errors also discard the datagram).
    pub fn process(
        &mut self,
        key: K,
        now: Instant,
        frag: Fragment<'_>,
    ) -> Result<Option<Reassembled>, DropReason> {
        let result = self.process_inner(key, now, frag);
        if let Err(reason) = result {
            match reason {
                DropReason::FragmentMalformed => self.stats.malformed += 1,
                DropReason::FragmentOverlap => self.stats.overlaps += 1,
                DropReason::FragmentTooBig => self.stats.too_big += 1,
                DropReason::ReassemblyMemory => self.stats.memory += 1,
                _ => {}
            }
        }
        result
    }

    fn process_inner(
        &mut self,
        key: K,
        now: Instant,
        frag: Fragment<'_>,
    ) -> Result<Option<Reassembled>, DropReason> {
        // Checks that need no state drop the fragment alone.
        let end = frag
            .offset
            .checked_add(frag.data.len())
            .ok_or(DropReason::FragmentTooBig)?;
        // RFC 791 3.2: offsets count 8-octet units, so every fragment but the
        // last carries a multiple of 8 octets. RFC 8200 4.5: "If the length
        // of a fragment ... is not a multiple of 8 octets and the M flag of
        // that fragment is 1, then that fragment must be discarded".
        if !frag.offset.is_multiple_of(8)
            || (frag.more_fragments && !frag.data.len().is_multiple_of(8))
        {
            return Err(DropReason::FragmentMalformed);
        }
        if frag.more_fragments && frag.data.is_empty() {
            return Err(DropReason::FragmentMalformed);
        }
        // RFC 8200 4.5: a fragment whose reassembled length would exceed the
        // maximum "must be discarded". The header is checked once known.
        if end > self.config.max_datagram_len {
            return Err(DropReason::FragmentTooBig);
        }

        if let Some(slot) = self.slots.get(&key) {
            if slot.datagram.is_none() {
                if slot.deadline > now {
                    // RFC 5722 4: fragments "not yet received" of a datagram
                    // discarded for overlap are discarded too.
                    return Err(DropReason::FragmentOverlap);
                }
                // The poison has outlived the datagram's timeout: forget it
                // and treat the fragment as a new datagram's.
                self.remove_slot(key);
            }
        }

        let memory_free = self.config.memory_limit.saturating_sub(self.memory);
        let Some(slot) = self.slots.get_mut(&key) else {
            // A new datagram: add into an empty one (which runs the per-
            // fragment checks), then apply the bounds to what would be held.
            // A lone fragment that completes at once holds nothing.
            let mut dg = Datagram::new();
            match add_fragment(&mut dg, &frag, end, &self.config, usize::MAX) {
                Ok(_) => {}
                Err(Fault::Reject(r) | Fault::Discard(r)) => return Err(r),
                Err(Fault::Overlap) => return Err(DropReason::FragmentOverlap),
            }
            if dg.is_complete() {
                self.stats.started += 1;
                self.stats.completed += 1;
                return Ok(Some(dg.into_reassembled()));
            }
            if self.active >= self.config.max_datagrams || dg.memory > memory_free {
                return Err(DropReason::ReassemblyMemory);
            }
            self.stats.started += 1;
            self.memory += dg.memory;
            self.active += 1;
            let deadline = now.saturating_add(self.config.timeout);
            let seq = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
            self.deadlines.insert((deadline, seq), key);
            self.slots.insert(
                key,
                Slot {
                    deadline,
                    seq,
                    datagram: Some(dg),
                },
            );
            return Ok(None);
        };

        let Some(dg) = slot.datagram.as_mut() else {
            // Unreachable: poisoned slots were handled above. Drop the
            // fragment rather than panic.
            return Err(DropReason::FragmentOverlap);
        };
        let before = dg.memory;
        match add_fragment(dg, &frag, end, &self.config, memory_free) {
            Ok(Added::Duplicate) => {
                self.stats.duplicates += 1;
            }
            Ok(Added::Stored) => {}
            Err(Fault::Reject(r)) => return Err(r),
            Err(Fault::Discard(r)) => {
                self.stats.discarded += 1;
                self.remove_slot(key);
                return Err(r);
            }
            Err(Fault::Overlap) => {
                self.stats.discarded += 1;
                self.poison(key);
                return Err(DropReason::FragmentOverlap);
            }
        }
        self.memory += dg.memory - before;
        if !dg.is_complete() {
            return Ok(None);
        }
        let dg = self.remove_slot(key);
        match dg {
            Some(dg) => {
                self.stats.completed += 1;
                Ok(Some(dg.into_reassembled()))
            }
            None => Ok(None),
        }
    }

    /// Drop every datagram (and poisoned key) whose deadline is `<= now`.
    ///
    /// `f` is called once per timed-out datagram with its key and, when its
    /// offset-0 fragment had arrived, that fragment's header and data (for
    /// ICMP time exceeded, code 1: RFC 1122 3.3.2, RFC 8200 4.5; the caller
    /// truncates to what the ICMP message may quote). Returns how many
    /// datagrams timed out (poisoned keys are forgotten silently).
    pub fn expire(&mut self, now: Instant, mut f: impl FnMut(K, Option<&[u8]>)) -> usize {
        let mut expired = 0;
        while let Some(entry) = self.deadlines.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            let Some(slot) = self.slots.remove(&key) else {
                continue;
            };
            match slot.datagram {
                None => self.poisoned -= 1,
                Some(dg) => {
                    self.active -= 1;
                    self.memory -= dg.memory;
                    self.stats.timed_out += 1;
                    expired += 1;
                    let mut scratch = core::mem::take(&mut self.scratch);
                    if dg.first_fragment(&mut scratch) {
                        f(key, Some(&scratch));
                    } else {
                        f(key, None);
                    }
                    self.scratch = scratch;
                }
            }
        }
        expired
    }

    /// Remove a slot and its deadline entry, returning its datagram.
    fn remove_slot(&mut self, key: K) -> Option<Datagram> {
        let slot = self.slots.remove(&key)?;
        self.deadlines.remove(&(slot.deadline, slot.seq));
        match slot.datagram {
            Some(dg) => {
                self.active -= 1;
                self.memory -= dg.memory;
                Some(dg)
            }
            None => {
                self.poisoned -= 1;
                None
            }
        }
    }

    /// Discard the datagram of `key` and remember the key until its deadline
    /// (RFC 5722 4), unless too many keys are poisoned already.
    fn poison(&mut self, key: K) {
        if self.poisoned >= self.config.max_datagrams {
            self.remove_slot(key);
            return;
        }
        let Some(slot) = self.slots.get_mut(&key) else {
            return;
        };
        if let Some(dg) = slot.datagram.take() {
            self.active -= 1;
            self.memory -= dg.memory;
            self.poisoned += 1;
        }
    }
}

/// Check `frag` (ending at `end`) against `dg` and store it. All checks run
/// before any change, so an error leaves `dg` as it was.
fn add_fragment(
    dg: &mut Datagram,
    frag: &Fragment<'_>,
    end: usize,
    config: &ReassemblerConfig,
    memory_free: usize,
) -> Result<Added, Fault> {
    let is_first = frag.offset == 0;
    let new_header = if is_first && dg.header.is_none() {
        Some(frag.first_header.unwrap_or(&[]))
    } else {
        None
    };

    // Size with the header (RFC 791 3.1 total length; RFC 8200 4.5). When
    // the header arrives, what is already held (data, or an end fixed by a
    // zero-length last fragment) counts too, and its excess dooms the datagram.
    if let Some(h) = new_header {
        let held = dg.max_end.max(dg.total_len.unwrap_or(0));
        if h.len().saturating_add(held.max(end)) > config.max_datagram_len {
            return Err(if held > end {
                Fault::Discard(DropReason::FragmentTooBig)
            } else {
                Fault::Reject(DropReason::FragmentTooBig)
            });
        }
    } else if let Some(h) = &dg.header {
        if h.len().saturating_add(end) > config.max_datagram_len {
            return Err(Fault::Reject(DropReason::FragmentTooBig));
        }
    }

    // The end of the datagram (as Linux ip_frag_queue): a last fragment fixes
    // it, and nothing may lie beyond it.
    let mut total_len = dg.total_len;
    if !frag.more_fragments {
        if total_len.is_some_and(|t| t != end) || dg.max_end > end {
            return Err(Fault::Discard(DropReason::FragmentMalformed));
        }
        total_len = Some(end);
    } else if total_len.is_some_and(|t| end > t) {
        return Err(Fault::Discard(DropReason::FragmentMalformed));
    }

    if !frag.data.is_empty() {
        // RFC 5722 4 / RFC 8200 4.5: an overlap discards the datagram; an
        // exact duplicate (same offset and length) is not an overlap.
        if let Some((&start, held)) = dg.pieces.range(..=frag.offset).next_back() {
            if start == frag.offset && held.len() == frag.data.len() {
                dg.total_len = total_len;
                return Ok(Added::Duplicate);
            }
            if start + held.len() > frag.offset {
                return Err(Fault::Overlap);
            }
        }
        if let Some((&start, _)) = dg
            .pieces
            .range((Bound::Excluded(frag.offset), Bound::Unbounded))
            .next()
        {
            if start < end {
                return Err(Fault::Overlap);
            }
        }
    }

    let cost = new_header.map_or(0, <[u8]>::len)
        + if frag.data.is_empty() {
            0
        } else {
            frag.data.len() + FRAGMENT_OVERHEAD
        };
    if cost > memory_free {
        return Err(Fault::Reject(DropReason::ReassemblyMemory));
    }

    if let Some(h) = new_header {
        dg.header = Some(h.to_vec());
    }
    if !frag.data.is_empty() {
        dg.pieces.insert(frag.offset, frag.data.to_vec());
        dg.received += frag.data.len();
        dg.max_end = dg.max_end.max(end);
    }
    dg.total_len = total_len;
    dg.memory += cost;
    Ok(Added::Stored)
}

/// One fragment of a [`plan_fragments`] plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentPlan {
    /// Offset in the payload, in octets (a multiple of 8).
    pub offset: usize,
    /// Payload octets in this fragment.
    pub len: usize,
    /// The more-fragments flag: set on all but the last.
    pub more: bool,
}

/// Iterator over a fragmentation plan, see [`plan_fragments`].
#[derive(Debug, Clone)]
pub struct FragmentPlanIter {
    next_offset: usize,
    payload_len: usize,
    /// Payload octets per non-last fragment (a non-zero multiple of 8), or 0
    /// for an empty plan.
    chunk: usize,
    remaining: usize,
}

impl Iterator for FragmentPlanIter {
    type Item = FragmentPlan;

    fn next(&mut self) -> Option<FragmentPlan> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let offset = self.next_offset;
        let left = self.payload_len - offset;
        let len = left.min(self.chunk);
        self.next_offset = offset + len;
        Some(FragmentPlan {
            offset,
            len,
            more: self.remaining > 0,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for FragmentPlanIter {}

/// Plan the fragments of a `payload_len`-octet payload sent with a
/// `header_len`-octet header over a link of `mtu` octets (RFC 791 3.2,
/// RFC 8200 4.5).
///
/// Every fragment satisfies `header_len + len <= mtu`, every non-last length
/// is a multiple of 8, and the fragments cover `0..payload_len` exactly, in
/// order. A payload of 0 octets yields one empty fragment.
///
/// The plan is **empty** when `mtu < header_len + 8` (no fragment could carry
/// a data unit): the caller drops the packet as `MtuExceeded`.
///
/// * IPv4: `header_len` is the header of the first fragment (options
///   included). Options not copied into later fragments only make those
///   smaller than they could be, never too large.
/// * IPv6: `header_len` is the unfragmentable part (fixed header included)
///   **plus 8** for the fragment header.
pub fn plan_fragments(payload_len: usize, header_len: usize, mtu: usize) -> FragmentPlanIter {
    // RFC 791 3.2: fragments are cut on 8-octet boundaries.
    let chunk = mtu.saturating_sub(header_len) & !7;
    let remaining = if chunk == 0 {
        0
    } else {
        payload_len.div_ceil(chunk).max(1)
    };
    FragmentPlanIter {
        next_offset: 0,
        payload_len,
        chunk,
        remaining,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Key = (u32, u32, u16, u8);
    const K: Key = (0xc612_0001, 0xc612_0002, 0x1234, 17);
    const HDR: &[u8] = &[0x45; 20];

    fn frag(offset: usize, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            offset,
            more_fragments: more,
            data,
            first_header: if offset == 0 { Some(HDR) } else { None },
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn new() -> Reassembler<Key> {
        Reassembler::new(ReassemblerConfig::ipv4())
    }

    /// Feed `plan` in the given order; return the completed datagram, which
    /// must appear exactly at the last fragment.
    fn feed(r: &mut Reassembler<Key>, payload: &[u8], plan: &[FragmentPlan]) -> Reassembled {
        let mut done = None;
        for (i, p) in plan.iter().enumerate() {
            let f = frag(p.offset, p.more, &payload[p.offset..p.offset + p.len]);
            let out = r
                .process(K, Instant::from_secs(1), f)
                .expect("fragment accepted");
            assert_eq!(out.is_some(), i + 1 == plan.len(), "completed at {i}");
            done = done.or(out);
        }
        done.expect("complete")
    }

    fn check_done(r: &Reassembler<Key>, out: &Reassembled, payload: &[u8], n: usize) {
        assert_eq!(out.header(), HDR);
        assert_eq!(out.header_len, HDR.len());
        assert_eq!(out.payload(), payload);
        assert_eq!(out.fragments, n);
        assert_eq!(out.buffer.headroom(), DEFAULT_HEADROOM);
        assert!(r.is_empty());
        assert_eq!(r.memory_used(), 0);
        assert_eq!(r.poll_at(), None);
    }

    #[test]
    fn in_order_and_reverse() {
        let payload = data(3000);
        let plan: Vec<_> = plan_fragments(payload.len(), 20, 1500).collect();
        assert_eq!(plan.len(), 3);

        let mut r = new();
        let out = feed(&mut r, &payload, &plan);
        check_done(&r, &out, &payload, 3);

        let rev: Vec<_> = plan.iter().rev().copied().collect();
        let out = feed(&mut r, &payload, &rev);
        check_done(&r, &out, &payload, 3);
        assert_eq!(r.stats().completed, 2);
        assert_eq!(r.stats().started, 2);
    }

    #[test]
    fn lone_complete_fragment_and_empty_last_fragment() {
        let mut r = new();
        let out = r
            .process(K, Instant::ZERO, frag(0, false, b"abc"))
            .unwrap()
            .unwrap();
        assert_eq!(out.payload(), b"abc");
        assert!(r.is_empty());

        // A zero-length last fragment only fixes the end.
        let payload = data(16);
        assert_eq!(r.process(K, Instant::ZERO, frag(16, false, &[])), Ok(None));
        assert_eq!(
            r.process(K, Instant::ZERO, frag(8, true, &payload[8..])),
            Ok(None)
        );
        let out = r
            .process(K, Instant::ZERO, frag(0, true, &payload[..8]))
            .unwrap()
            .unwrap();
        check_done(&r, &out, &payload, 2);
    }

    #[test]
    fn keys_are_independent() {
        let mut r = new();
        let k2 = (K.0, K.1, K.2 + 1, K.3);
        let t = Instant::ZERO;
        assert_eq!(r.process(K, t, frag(0, true, &[1; 8])), Ok(None));
        assert_eq!(r.process(k2, t, frag(8, false, &[2; 3])), Ok(None));
        assert_eq!(r.len(), 2);
        let a = r.process(k2, t, frag(0, true, &[3; 8])).unwrap().unwrap();
        assert_eq!(a.payload(), &[3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2]);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn exact_duplicates_are_ignored() {
        let payload = data(24);
        let mut r = new();
        let t = Instant::ZERO;
        assert_eq!(r.process(K, t, frag(0, true, &payload[..8])), Ok(None));
        let mem = r.memory_used();
        assert_eq!(r.process(K, t, frag(0, true, &payload[..8])), Ok(None));
        assert_eq!(r.process(K, t, frag(8, true, &payload[8..16])), Ok(None));
        assert_eq!(r.process(K, t, frag(8, true, &payload[8..16])), Ok(None));
        assert!(r.memory_used() > mem);
        let out = r
            .process(K, t, frag(16, false, &payload[16..]))
            .unwrap()
            .unwrap();
        check_done(&r, &out, &payload, 3);
        assert_eq!(r.stats().duplicates, 2);
        // A duplicate of the last fragment after completion starts afresh.
        assert_eq!(r.process(K, t, frag(16, false, &payload[16..])), Ok(None));
        assert_eq!(r.len(), 1);
    }

    fn assert_overlap_poisons(held: &[(usize, bool, usize)], bad: (usize, bool, usize)) {
        let payload = data(64);
        let mut r = new();
        let t0 = Instant::from_secs(10);
        for &(off, more, len) in held {
            assert_eq!(
                r.process(K, t0, frag(off, more, &payload[off..off + len])),
                Ok(None)
            );
        }
        let deadline = r.poll_at().unwrap();
        let (off, more, len) = bad;
        assert_eq!(
            r.process(K, t0, frag(off, more, &payload[off..off + len])),
            Err(DropReason::FragmentOverlap),
            "{held:?} then {bad:?}"
        );
        assert!(r.is_empty());
        assert_eq!(r.memory_used(), 0);
        assert_eq!(r.poisoned_len(), 1);
        // Later fragments, even ones that would complete it, stay dropped
        // until the original datagram's deadline.
        let later = t0 + Duration::from_secs(29);
        for (off, more, len) in [(0, true, 8), (8, true, 8), (16, false, 8), (0, false, 64)] {
            assert_eq!(
                r.process(K, later, frag(off, more, &payload[off..off + len])),
                Err(DropReason::FragmentOverlap)
            );
        }
        assert!(r.is_empty());
        // After the deadline the key is usable again; expire reports no
        // datagram for a poisoned key.
        assert_eq!(
            r.expire(deadline, |_, _| panic!("poisoned key reported")),
            0
        );
        assert_eq!(r.poisoned_len(), 0);
        assert_eq!(r.poll_at(), None);
        let out = r
            .process(K, deadline, frag(0, false, &payload[..24]))
            .unwrap()
            .unwrap();
        assert_eq!(out.payload(), &payload[..24]);
    }

    #[test]
    fn partial_overlap_discards_and_poisons() {
        // Overlapping the predecessor, the successor, containing, contained,
        // same start with another length, and overlapping a last fragment.
        assert_overlap_poisons(&[(0, true, 16)], (8, true, 16));
        assert_overlap_poisons(&[(16, true, 16)], (8, true, 16));
        assert_overlap_poisons(&[(16, true, 8)], (8, true, 24));
        assert_overlap_poisons(&[(8, true, 24)], (16, true, 8));
        assert_overlap_poisons(&[(8, true, 8)], (8, true, 16));
        assert_overlap_poisons(&[(0, true, 8), (24, false, 8)], (16, false, 16));
    }

    #[test]
    fn poisoned_keys_are_bounded() {
        let cfg = ReassemblerConfig {
            max_datagrams: 1,
            ..ReassemblerConfig::ipv4()
        };
        let mut r: Reassembler<u8> = Reassembler::new(cfg);
        let t = Instant::ZERO;
        let overlap = Err(DropReason::FragmentOverlap);
        for key in [1, 2] {
            assert_eq!(r.process(key, t, frag(0, true, &[0; 16])), Ok(None));
            assert_eq!(r.process(key, t, frag(8, true, &[0; 16])), overlap);
            assert!(r.is_empty());
        }
        // Key 1 is remembered; key 2 found the poison table full and was
        // discarded without being remembered.
        assert_eq!(r.poisoned_len(), 1);
        assert_eq!(r.process(1, t, frag(0, true, &[0; 8])), overlap);
        assert_eq!(r.process(2, t, frag(0, true, &[0; 8])), Ok(None));
        assert_eq!(r.stats().discarded, 2);
    }

    #[test]
    fn poisoned_expiry_lazily_on_process() {
        let mut r = new();
        let t0 = Instant::ZERO;
        assert_eq!(r.process(K, t0, frag(0, true, &[0; 16])), Ok(None));
        assert_eq!(
            r.process(K, t0, frag(8, true, &[0; 16])),
            Err(DropReason::FragmentOverlap)
        );
        let t1 = t0 + IPV4_REASSEMBLY_TIMEOUT;
        // No expire call: the poison has still run out at its deadline.
        assert_eq!(r.process(K, t1, frag(0, true, &[0; 8])), Ok(None));
        assert_eq!(r.poisoned_len(), 0);
        assert_eq!(r.len(), 1);
        assert_eq!(r.poll_at(), Some(t1 + IPV4_REASSEMBLY_TIMEOUT));
    }

    #[test]
    fn malformed_fragments() {
        let mut r = new();
        let t = Instant::ZERO;
        let bad = DropReason::FragmentMalformed;
        // Stateless: the fragment alone is dropped, nothing is created.
        assert_eq!(r.process(K, t, frag(0, true, &[0; 12])), Err(bad));
        assert_eq!(r.process(K, t, frag(3, false, &[0; 8])), Err(bad));
        assert_eq!(r.process(K, t, frag(8, true, &[])), Err(bad));
        assert!(r.is_empty());
        assert_eq!(r.stats().started, 0);

        // A last fragment conflicting with a known end discards the datagram.
        assert_eq!(r.process(K, t, frag(0, true, &[0; 8])), Ok(None));
        assert_eq!(r.process(K, t, frag(16, false, &[0; 8])), Ok(None));
        assert_eq!(r.process(K, t, frag(16, false, &[0; 9])), Err(bad));
        assert!(r.is_empty());
        assert_eq!(r.memory_used(), 0);
        assert_eq!(r.poll_at(), None);

        // A last fragment ending before data already held.
        assert_eq!(r.process(K, t, frag(32, true, &[0; 8])), Ok(None));
        assert_eq!(r.process(K, t, frag(8, false, &[0; 8])), Err(bad));
        assert!(r.is_empty());

        // A non-last fragment beyond the known end.
        assert_eq!(r.process(K, t, frag(8, false, &[0; 8])), Ok(None));
        assert_eq!(r.process(K, t, frag(16, true, &[0; 8])), Err(bad));
        assert!(r.is_empty());
        assert_eq!(r.stats().malformed, 6);
        assert_eq!(r.stats().discarded, 3);
        // Not poisoned: the key can start again.
        assert_eq!(r.process(K, t, frag(0, true, &[0; 8])), Ok(None));
    }

    #[test]
    fn too_big() {
        let mut r = new();
        let t = Instant::ZERO;
        let big = DropReason::FragmentTooBig;
        // Past 65535 on its own, and near usize::MAX (no overflow).
        assert_eq!(r.process(K, t, frag(65528, false, &[0; 8])), Err(big));
        assert_eq!(
            r.process(K, t, frag(usize::MAX & !7, false, &[0; 8])),
            Err(big)
        );
        assert_eq!(r.process(K, t, frag(usize::MAX & !7, false, &[])), Err(big));
        assert!(r.is_empty());

        // Fits alone (65528 + 7 = 65535) but not with the 20-byte header:
        // the header arriving discards the datagram.
        assert_eq!(r.process(K, t, frag(65528, false, &[0; 7])), Ok(None));
        assert_eq!(r.process(K, t, frag(0, true, &[0; 8])), Err(big));
        assert!(r.is_empty());
        assert_eq!(r.memory_used(), 0);

        // Same when a zero-length last fragment fixed the end.
        assert_eq!(r.process(K, t, frag(65528, false, &[])), Ok(None));
        assert_eq!(r.process(K, t, frag(0, true, &[0; 8])), Err(big));
        assert!(r.is_empty());

        // With the header held, an oversized fragment is dropped alone.
        assert_eq!(r.process(K, t, frag(0, true, &[0; 8])), Ok(None));
        assert_eq!(r.process(K, t, frag(65512, false, &[0; 8])), Err(big));
        assert_eq!(r.len(), 1);
        // The largest legal datagram completes: 20 + 65515 = 65535.
        let payload = data(65515);
        let plan: Vec<_> = plan_fragments(payload.len(), 20, 1500).collect();
        let mut r = new();
        let out = feed(&mut r, &payload, &plan);
        assert_eq!(out.buffer.len(), 65535);
        assert_eq!(out.payload(), &payload[..]);
    }

    #[test]
    fn memory_bound_rejects_newcomers() {
        let cfg = ReassemblerConfig {
            memory_limit: 2 * (HDR.len() + 8 + FRAGMENT_OVERHEAD) + 8 + FRAGMENT_OVERHEAD,
            ..ReassemblerConfig::ipv4()
        };
        let mut r: Reassembler<Key> = Reassembler::new(cfg);
        let t = Instant::ZERO;
        let k = |i: u16| (K.0, K.1, i, K.3);
        assert_eq!(r.process(k(1), t, frag(0, true, &[1; 8])), Ok(None));
        assert_eq!(r.process(k(2), t, frag(0, true, &[2; 8])), Ok(None));
        assert_eq!(r.process(k(2), t, frag(8, true, &[2; 8])), Ok(None));
        assert_eq!(r.memory_used(), cfg.memory_limit);
        // Full: a new datagram and a fragment of a held one are refused;
        // nothing held is evicted.
        let mem = DropReason::ReassemblyMemory;
        assert_eq!(r.process(k(3), t, frag(8, true, &[3; 8])), Err(mem));
        assert_eq!(r.process(k(1), t, frag(8, true, &[1; 8])), Err(mem));
        assert_eq!(r.len(), 2);
        assert_eq!(r.stats().memory, 2);
        // Completion frees memory; a zero-length last fragment costs nothing.
        assert!(r.process(k(2), t, frag(16, false, &[])).unwrap().is_some());
        assert_eq!(r.memory_used(), HDR.len() + 8 + FRAGMENT_OVERHEAD);
        let out = r
            .process(k(1), t, frag(8, false, &[1; 3]))
            .unwrap()
            .unwrap();
        assert_eq!(out.payload(), &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        assert_eq!(r.memory_used(), 0);
    }

    #[test]
    fn max_datagrams_bound() {
        let cfg = ReassemblerConfig {
            max_datagrams: 2,
            ..ReassemblerConfig::ipv6()
        };
        let mut r: Reassembler<u32> = Reassembler::new(cfg);
        let t = Instant::ZERO;
        assert_eq!(r.process(1, t, frag(8, true, &[0; 8])), Ok(None));
        assert_eq!(r.process(2, t, frag(8, true, &[0; 8])), Ok(None));
        assert_eq!(
            r.process(3, t, frag(8, true, &[0; 8])),
            Err(DropReason::ReassemblyMemory)
        );
        // Existing datagrams still take fragments.
        assert_eq!(r.process(2, t, frag(16, true, &[0; 8])), Ok(None));
        assert_eq!(r.len(), 2);
        // A datagram that completes in one fragment needs no slot.
        assert!(r.process(3, t, frag(0, false, &[0; 8])).unwrap().is_some());
    }

    #[test]
    fn timeout_reports_first_fragment() {
        let mut r = new();
        let t0 = Instant::from_secs(5);
        let k2 = (K.0, K.1, 99, K.3);
        assert_eq!(r.poll_at(), None);
        assert_eq!(r.process(K, t0, frag(8, true, b"BBBBBBBB")), Ok(None));
        assert_eq!(r.poll_at(), Some(t0 + Duration::from_secs(30)));
        // A later fragment does not extend the deadline.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(r.process(K, t1, frag(0, true, b"AAAAAAAA")), Ok(None));
        assert_eq!(r.process(k2, t1, frag(8, true, b"CCCCCCCC")), Ok(None));
        assert_eq!(r.poll_at(), Some(t0 + Duration::from_secs(30)));

        let mut seen = Vec::new();
        let mut cb = |k: Key, first: Option<&[u8]>| seen.push((k, first.map(<[u8]>::to_vec)));
        assert_eq!(r.expire(t0 + Duration::from_millis(29_999), &mut cb), 0);
        assert_eq!(r.expire(t0 + Duration::from_secs(30), &mut cb), 1);
        let mut first = HDR.to_vec();
        first.extend_from_slice(b"AAAAAAAA");
        assert_eq!(seen, vec![(K, Some(first))]);
        assert_eq!(r.len(), 1);
        assert_eq!(r.poll_at(), Some(t1 + Duration::from_secs(30)));

        // Without its first fragment, the datagram is reported with None.
        seen.clear();
        let mut cb = |k: Key, first: Option<&[u8]>| seen.push((k, first.map(<[u8]>::to_vec)));
        assert_eq!(r.expire(Instant::MAX, &mut cb), 1);
        assert_eq!(seen, vec![(k2, None)]);
        assert!(r.is_empty());
        assert_eq!(r.memory_used(), 0);
        assert_eq!(r.poll_at(), None);
        assert_eq!(r.stats().timed_out, 2);
    }

    #[test]
    fn ipv6_timeout_and_deadline_saturates() {
        let mut r: Reassembler<u8> = Reassembler::new(ReassemblerConfig::ipv6());
        assert_eq!(
            r.process(1, Instant::ZERO, frag(8, true, &[0; 8])),
            Ok(None)
        );
        assert_eq!(r.poll_at(), Some(Instant::from_secs(60)));
        assert_eq!(r.process(2, Instant::MAX, frag(8, true, &[0; 8])), Ok(None));
        assert_eq!(r.expire(Instant::from_secs(60), |k, _| assert_eq!(k, 1)), 1);
        assert_eq!(r.poll_at(), Some(Instant::MAX));
        assert_eq!(r.expire(Instant::MAX, |k, _| assert_eq!(k, 2)), 1);
    }

    fn check_plan(payload_len: usize, header_len: usize, mtu: usize) {
        let plan: Vec<_> = plan_fragments(payload_len, header_len, mtu).collect();
        assert_eq!(
            plan_fragments(payload_len, header_len, mtu).len(),
            plan.len()
        );
        if mtu < header_len.saturating_add(8) {
            assert!(plan.is_empty());
            return;
        }
        assert!(!plan.is_empty());
        let mut next = 0;
        for (i, p) in plan.iter().enumerate() {
            let last = i + 1 == plan.len();
            assert_eq!(p.offset, next, "contiguous");
            assert!(header_len + p.len <= mtu, "fits the MTU");
            assert_eq!(p.more, !last);
            if !last {
                assert!(
                    p.len > 0 && p.len.is_multiple_of(8),
                    "non-last multiple of 8"
                );
            }
            next += p.len;
        }
        assert_eq!(next, payload_len, "exact cover");
        // As few fragments as the MTU allows.
        let chunk = (mtu - header_len) / 8 * 8;
        assert_eq!(plan.len(), payload_len.div_ceil(chunk).max(1));
    }

    #[test]
    fn plan_edges() {
        check_plan(0, 20, 1500);
        check_plan(1480, 20, 1500);
        check_plan(1481, 20, 1500);
        check_plan(65515, 20, 68);
        check_plan(100, 48, 1280);
        check_plan(100, 60, 67);
        check_plan(100, 60, 68);
        check_plan(100, usize::MAX, 1500);
        assert_eq!(
            plan_fragments(usize::MAX, 20, 1500).len(),
            usize::MAX.div_ceil(1480)
        );
        assert_eq!(
            plan_fragments(1481, 20, 1500).collect::<Vec<_>>(),
            vec![
                FragmentPlan {
                    offset: 0,
                    len: 1480,
                    more: true
                },
                FragmentPlan {
                    offset: 1480,
                    len: 1,
                    more: false
                },
            ]
        );
    }

    proptest! {
        #[test]
        fn plan_properties(payload_len in 0usize..70_000, header_len in 20usize..120, mtu in 68usize..9000) {
            check_plan(payload_len, header_len, mtu);
        }

        #[test]
        fn any_permutation_reassembles(
            (payload, plan) in (proptest::collection::vec(any::<u8>(), 1..6000), 68usize..1600)
                .prop_flat_map(|(payload, mtu)| {
                    let plan: Vec<_> = plan_fragments(payload.len(), HDR.len(), mtu).collect();
                    (Just(payload), Just(plan).prop_shuffle())
                }),
            dup_pick in any::<proptest::sample::Index>(),
        ) {
            let n = plan.len();
            prop_assert!(n >= 1);
            // One fragment is re-sent after every arrival: duplicates on the way.
            let dup = plan[dup_pick.index(n)];
            let mut r = new();
            let t = Instant::ZERO;
            let mut done = None;
            for (i, p) in plan.iter().enumerate() {
                let f = frag(p.offset, p.more, &payload[p.offset..p.offset + p.len]);
                let out = r.process(K, t, f).unwrap();
                prop_assert_eq!(out.is_some(), i + 1 == n);
                done = done.or(out);
                if i + 1 < n && plan[..=i].contains(&dup) {
                    let f = frag(dup.offset, dup.more, &payload[dup.offset..dup.offset + dup.len]);
                    prop_assert!(r.process(K, t, f).unwrap().is_none());
                }
            }
            let out = done.unwrap();
            prop_assert_eq!(out.payload(), &payload[..]);
            prop_assert_eq!(out.header(), HDR);
            prop_assert_eq!(out.fragments, n);
            prop_assert!(r.is_empty());
            prop_assert_eq!(r.memory_used(), 0);
        }

        #[test]
        fn arbitrary_fragments_never_panic_and_account(
            frags in proptest::collection::vec(
                (0usize..4, 0usize..80, any::<bool>(), 0usize..40, any::<bool>()),
                0..40,
            ),
        ) {
            let cfg = ReassemblerConfig { memory_limit: 600, max_datagrams: 3, max_datagram_len: 200, ..ReassemblerConfig::ipv4() };
            let mut r: Reassembler<usize> = Reassembler::new(cfg);
            let bytes = data(200);
            for (i, (key, off, more, len, odd)) in frags.into_iter().enumerate() {
                let offset = if odd { off } else { off * 8 };
                let offset = offset.min(bytes.len());
                let len = len.min(bytes.len() - offset);
                let now = Instant::from_secs(i as u64);
                let f = Fragment { offset, more_fragments: more, data: &bytes[offset..offset + len], first_header: Some(HDR) };
                if let Ok(Some(out)) = r.process(key, now, f) {
                    prop_assert!(out.buffer.len() <= cfg.max_datagram_len);
                    prop_assert_eq!(out.payload(), &bytes[..out.payload().len()]);
                }
                prop_assert!(r.memory_used() <= cfg.memory_limit);
                prop_assert!(r.len() <= cfg.max_datagrams);
                if i % 7 == 6 {
                    r.expire(now, |_, _| {});
                }
            }
            r.expire(Instant::MAX, |_, _| {});
            prop_assert!(r.is_empty());
            prop_assert_eq!(r.memory_used(), 0);
            prop_assert_eq!(r.poisoned_len(), 0);
            prop_assert_eq!(r.poll_at(), None);
        }
    }
}
