//! Neighbor cache for ARP and NDP: the RFC 4861 7.3.2 state machine.
//!
//! Implements RFC 4861 (Neighbor Discovery for IPv6) 7.2 "Address Resolution"
//! and 7.3 "Neighbor Unreachability Detection", and uses the same machine for
//! IPv4 over Ethernet (RFC 826 ARP, which defines no states of its own; Linux
//! runs ARP through the same NUD machine). Configuration defaults are the
//! RFC 4861 10 protocol constants.
//!
//! # Contract
//!
//! [`NeighborCache<A, P>`] is sans-I/O: it never sends, never reads a clock and
//! never frees a packet. Every method takes the current [`Instant`] where time
//! matters and *returns* what the caller must do: send a solicitation (an ARP
//! request or a Neighbor Solicitation, built by the stack), transmit released
//! packets to a learned MAC, or count and free dropped packets. A packet handed
//! to the cache is always handed back exactly once (released, dropped, or
//! returned by [`NeighborCache::remove`] / [`NeighborCache::clear`]), so frames
//! stay accounted for.
//!
//! `A` is the protocol address (`Ipv4Addr` for ARP, `Ipv6Addr` for NDP) and `P`
//! the queued packet type. Use one cache per NIC per protocol.
//!
//! # State machine
//!
//! ```text
//!            enqueue (absent): multicast NS / broadcast ARP request (7.2.2)
//! (absent) ───────────────► INCOMPLETE ──solicited NA / ARP reply (7.2.5)──────► REACHABLE
//!                            │   │                                                ▲  │
//!   RetransTimer x           │   └─unsolicited NA, NS/ARP-request source──┐       │  │ ReachableTime
//!   MAX_MULTICAST_SOLICIT    │     (7.2.5, 7.2.3)                          ▼       │  │ (7.3.3)
//!   unanswered (7.2.2)       ▼                                           STALE ◄───┼──┘
//!                          FAILED ──failed_hold_time──► (purged)           │ lookup / enqueue
//!                                                                          ▼ (7.3.3)
//!                                                 confirmation (7.3.1)   DELAY ─┤
//!                                                 or solicited NA          │ DELAY_FIRST_PROBE_TIME
//!                                                                          ▼
//!                                                                        PROBE ─┘ (unicast NS
//!                                                                          │       every RetransTimer)
//!                        MAX_UNICAST_SOLICIT probes unanswered (7.3.3)     ▼
//!                                                                      (deleted)
//! STATIC: set by configuration; never ages, never probed, never changed by
//!         received messages (Linux NUD_PERMANENT).
//! ```
//!
//! `FAILED` is not an RFC 4861 state: RFC 4861 7.2.2 just drops the queued
//! packets when resolution fails. Like Linux `NUD_FAILED` and FreeBSD's
//! `net.link.ether.inet.wait` (20 s), the entry is kept for
//! [`NeighborConfig::failed_hold_time`] so that traffic to a dead host fails
//! fast (dropped as [`DropReason::NeighborUnresolved`]) instead of restarting
//! resolution, and queuing a frame, for every packet. A late answer during the
//! hold time is still accepted.
//!
//! # Cost
//!
//! [`NeighborCache::lookup`] is one probe of a hash table keyed by a small
//! FxHash-style hasher. It allocates nothing except on the once-per-aging-cycle
//! `STALE -> DELAY` transition, which arms a timer. Timers live in an ordered map
//! keyed by `(deadline, sequence)`; every entry has at most one timer, which is
//! removed when the entry changes state, so [`NeighborCache::poll_at`] is the
//! exact earliest deadline and [`NeighborCache::poll`] touches only due entries
//! (never a scan of the table).
//!
//! The table is bounded by [`NeighborConfig::max_entries`] dynamic entries.
//! When full, a new entry evicts the oldest `FAILED` entry, else the oldest
//! `STALE` entry (found through lazily-validated FIFO queues, amortised O(1));
//! if every entry is `INCOMPLETE`, `REACHABLE`, `DELAY` or `PROBE` the new
//! entry is refused and its packet dropped, so a scan of random addresses can
//! neither grow the table nor flush neighbors in active use. Static entries
//! are not counted and never evicted.
//!
//! Only INCOMPLETE entries hold packets (RFC 4861 7.3.3: STALE, DELAY and
//! PROBE keep sending to the cached address while reachability is being
//! re-confirmed). Each queue holds [`NeighborConfig::queue_limit`] packets and
//! all queues together [`NeighborConfig::queue_total_limit`] (shared across
//! caches with [`NeighborCache::enqueue_shared`]); past either bound the new
//! packet replaces its neighbor's oldest.
//!
//! Upper-layer confirmations (RFC 4861 7.3.1, e.g. TCP ACKs of new data) on a
//! REACHABLE entry only record the time; the REACHABLE timer extends the
//! state from the last one when it fires, so an active flow is never probed
//! and a confirmation per ACK costs one hash probe.
//!
//! The hasher is not DoS-resistant by design (it is keyed by
//! [`NeighborConfig::seed`], which should be random per shard in production);
//! the table bound limits the damage of crafted collisions.

use core::fmt;
use core::hash::Hash;
use std::collections::{BTreeMap, HashMap, VecDeque};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::fxhash::FxBuildHasher;
use crate::stack::DropReason;
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;

/// RFC 4861 10: `REACHABLE_TIME`, the default BaseReachableTime.
pub const REACHABLE_TIME: Duration = Duration::from_secs(30);
/// RFC 4861 10: `RETRANS_TIMER`, the default time between solicitations.
pub const RETRANS_TIMER: Duration = Duration::from_secs(1);
/// RFC 4861 10: `DELAY_FIRST_PROBE_TIME`.
pub const DELAY_FIRST_PROBE_TIME: Duration = Duration::from_secs(5);
/// RFC 4861 10: `MAX_MULTICAST_SOLICIT`.
pub const MAX_MULTICAST_SOLICIT: u32 = 3;
/// RFC 4861 10: `MAX_UNICAST_SOLICIT`.
pub const MAX_UNICAST_SOLICIT: u32 = 3;
/// RFC 4861 10: `MIN_RANDOM_FACTOR` as a ratio (numerator, denominator).
const MIN_RANDOM_FACTOR: (u64, u64) = (1, 2);
/// RFC 4861 10: `MAX_RANDOM_FACTOR` as a ratio (numerator, denominator).
const MAX_RANDOM_FACTOR: (u64, u64) = (3, 2);
/// How often ReachableTime is re-drawn. RFC 4861 6.3.4 asks for "at least
/// every few hours"; Linux re-draws every 300 s (`neigh_periodic_work`).
const REACHABLE_TIME_REDRAW: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------
// Public types

/// The state of a neighbor cache entry (RFC 4861 7.3.2, plus `Failed` and
/// `Static`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighborState {
    /// Address resolution is in progress; packets are queued.
    Incomplete,
    /// Reachability was confirmed within the last ReachableTime.
    Reachable,
    /// Reachability is unknown; nothing happens until traffic is sent.
    Stale,
    /// Traffic was sent to a stale neighbor; waiting for an upper-layer
    /// confirmation before probing.
    Delay,
    /// Unicast solicitations are being sent to confirm reachability.
    Probe,
    /// Resolution failed recently; packets are dropped until the entry is
    /// purged after the hold time.
    Failed,
    /// Configured; never ages, never probed.
    Static,
}

impl NeighborState {
    /// The `ip neigh` name of the state (`PERMANENT` for static entries).
    pub const fn name(self) -> &'static str {
        match self {
            NeighborState::Incomplete => "INCOMPLETE",
            NeighborState::Reachable => "REACHABLE",
            NeighborState::Stale => "STALE",
            NeighborState::Delay => "DELAY",
            NeighborState::Probe => "PROBE",
            NeighborState::Failed => "FAILED",
            NeighborState::Static => "PERMANENT",
        }
    }
}

impl fmt::Display for NeighborState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Neighbor cache configuration. Defaults are the RFC 4861 10 constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborConfig {
    /// BaseReachableTime (RFC 4861 6.3.2); the actual ReachableTime is drawn
    /// uniformly from 0.5x to 1.5x of it. Default 30 s (`REACHABLE_TIME`).
    pub base_reachable_time: Duration,
    /// RetransTimer: time between solicitations (RFC 4861 6.3.2). Default 1 s.
    pub retrans_timer: Duration,
    /// Time in DELAY before the first probe (RFC 4861 7.3.3). Default 5 s.
    pub delay_first_probe_time: Duration,
    /// Multicast solicitations before resolution fails (RFC 4861 7.2.2).
    /// Default 3.
    pub max_multicast_solicit: u32,
    /// Unicast probes before an entry is deleted (RFC 4861 7.3.3). Default 3.
    pub max_unicast_solicit: u32,
    /// Packets queued per unresolved (INCOMPLETE) neighbor. RFC 4861 7.2.2
    /// asks for at least one. Default 512: a burst such as hundreds of SYNs
    /// opened at once, or a 64 KiB GSO send, to one next hop must survive
    /// resolution (Linux bounds the same queue by `unres_qlen_bytes`,
    /// 212992 bytes, about 100 full-size frames or 300 small ones).
    pub queue_limit: usize,
    /// Packets queued across all unresolved neighbors of the cache (the
    /// [`Stack`](crate::stack::Stack) applies it across all of its caches
    /// through [`NeighborCache::enqueue_shared`]). Past it a new packet
    /// replaces the oldest of its own neighbor's queue, or is dropped when
    /// that queue is empty, both counted as [`DropReason::NeighborQueueFull`]:
    /// the memory held for unresolved neighbors stays bounded however many
    /// addresses are being resolved. Default 2048 (at most about 3.5 MB of
    /// full-size frames).
    pub queue_total_limit: usize,
    /// How long a FAILED entry is kept (dropping packets at once) before it
    /// is purged and resolution may be retried. Default 20 s (FreeBSD
    /// `net.link.ether.inet.wait`).
    pub failed_hold_time: Duration,
    /// Maximum number of dynamic (non-static) entries. Default 1024 (Linux
    /// `gc_thresh3`).
    pub max_entries: usize,
    /// Seed of the ReachableTime random generator and the hash key. Use a
    /// random value per shard in production; tests fix it.
    pub seed: u64,
}

impl Default for NeighborConfig {
    fn default() -> Self {
        NeighborConfig {
            base_reachable_time: REACHABLE_TIME,
            retrans_timer: RETRANS_TIMER,
            delay_first_probe_time: DELAY_FIRST_PROBE_TIME,
            max_multicast_solicit: MAX_MULTICAST_SOLICIT,
            max_unicast_solicit: MAX_UNICAST_SOLICIT,
            queue_limit: 512,
            queue_total_limit: 2048,
            failed_hold_time: Duration::from_secs(20),
            max_entries: 1024,
            seed: 0x6e65_6967_6862_6f72,
        }
    }
}

/// Flags of a received Neighbor Advertisement (RFC 4861 4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdvertisementFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in response to a solicitation (a reachability confirmation).
    pub solicited: bool,
    /// O: the advertisement should override an existing cached address.
    pub override_: bool,
}

impl AdvertisementFlags {
    /// How an ARP reply is treated: solicited and override (RFC 826 has no
    /// flags; a reply both confirms reachability and carries the address).
    pub const ARP_REPLY: AdvertisementFlags = AdvertisementFlags {
        router: false,
        solicited: true,
        override_: true,
    };
}

/// Something the stack must do, produced by [`NeighborCache::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeighborAction<A, P> {
    /// Send a solicitation for `target`: a multicast Neighbor Solicitation /
    /// broadcast ARP request when `unicast` is `None` (resolution, RFC 4861
    /// 7.2.2), else a unicast probe to that MAC (RFC 4861 7.3.3).
    SendSolicitation {
        /// The address being resolved or probed.
        target: A,
        /// The cached MAC to probe, or `None` for multicast / broadcast.
        unicast: Option<EthernetAddress>,
    },
    /// Address resolution for `target` failed (RFC 4861 7.2.2). The packets
    /// that waited for it, oldest first, are dropped: count each as
    /// [`DropReason::NeighborUnresolved`] and, where appropriate, answer it
    /// with an ICMP destination unreachable (address/host unreachable).
    ResolutionFailed {
        /// The address that could not be resolved.
        target: A,
        /// The queued packets, now the caller's to drop.
        dropped: Vec<P>,
    },
}

/// Result of [`NeighborCache::enqueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the packet, a dropped packet or a solicitation must be handled"]
pub enum Enqueued<P> {
    /// The packet waits for resolution.
    Queued {
        /// This call created the entry: send a multicast solicitation (or
        /// broadcast ARP request) for the address now. Retransmissions come
        /// from [`NeighborCache::poll`].
        solicit: bool,
        /// A packet pushed out of the full queue (the oldest, RFC 4861 7.2.2;
        /// the new one itself when `queue_limit` is 0): count it as
        /// [`DropReason::NeighborQueueFull`].
        dropped: Option<P>,
    },
    /// The neighbor already has a MAC (the caller skipped or raced
    /// [`NeighborCache::lookup`]): send the packet now.
    Resolved {
        /// The packet, back to the caller.
        packet: P,
        /// Where to send it.
        mac: EthernetAddress,
    },
    /// The packet was not queued: count it under `reason`
    /// ([`DropReason::NeighborUnresolved`]: resolution failed within the hold
    /// time, or the table is full of entries that may not be evicted).
    Dropped {
        /// The packet, now the caller's to drop.
        packet: P,
        /// Why.
        reason: DropReason,
    },
}

/// Packets released by learning a neighbor's link-layer address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "released packets must be transmitted or freed"]
pub struct Released<P> {
    /// The entry's MAC after processing the message; `None` when the message
    /// was ignored and no MAC is known.
    pub mac: Option<EthernetAddress>,
    /// Packets that waited for resolution, oldest first; send them to `mac`
    /// (never non-empty without a `mac`).
    pub packets: Vec<P>,
}

impl<P> Released<P> {
    fn none(mac: Option<EthernetAddress>) -> Self {
        Released {
            mac,
            packets: Vec::new(),
        }
    }

    /// Whether no packet was released.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }
}

/// One entry as shown by `ip neigh`-style listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborEntryInfo<A> {
    /// The protocol address.
    pub addr: A,
    /// The cached MAC (`None` while INCOMPLETE or FAILED).
    pub mac: Option<EthernetAddress>,
    /// The state.
    pub state: NeighborState,
    /// Packets waiting for resolution.
    pub queued: usize,
    /// The IsRouter flag (RFC 4861 7.2.5), learned from advertisements.
    pub router: bool,
    /// When this entry's timer fires next (`None`: STALE or STATIC).
    pub deadline: Option<Instant>,
}

/// Neighbor cache counters (monotonic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NeighborStats {
    /// Multicast solicitations / broadcast ARP requests asked for.
    pub solicitations_sent: u64,
    /// Unicast probes asked for (RFC 4861 7.3.3).
    pub probes_sent: u64,
    /// Resolutions that failed (INCOMPLETE -> FAILED).
    pub resolution_failures: u64,
    /// Entries deleted after unanswered probes (reachability lost).
    pub probe_failures: u64,
    /// Packets pushed out of a full queue (`NeighborQueueFull`).
    pub queue_drops: u64,
    /// Packets handed back as `NeighborUnresolved`: dropped by `enqueue`
    /// (FAILED entry, full table) or by a failed resolution.
    pub unresolved_drops: u64,
    /// Packets released after resolution.
    pub released: u64,
    /// Dynamic entries created.
    pub entries_created: u64,
    /// Entries evicted to make room (FAILED or STALE only).
    pub evictions: u64,
    /// New entries refused because the table was full of busy entries.
    pub table_full: u64,
    /// Non-unicast link-layer addresses in received messages, ignored.
    pub rejected_lladdr: u64,
}

// ---------------------------------------------------------------------------
// Internals

type TimerKey = (Instant, u64);

struct Entry<P> {
    state: NeighborState,
    /// `Some` in every state but INCOMPLETE and FAILED.
    mac: Option<EthernetAddress>,
    router: bool,
    /// Solicitations sent in the current INCOMPLETE / PROBE episode.
    sent: u32,
    /// This entry's one timer, if armed (key into `Core::timers`).
    timer: Option<TimerKey>,
    /// Identifies the entry's latest push onto an eviction queue.
    stamp: u64,
    /// The last upper-layer confirmation received while REACHABLE (RFC 4861
    /// 7.3.1). Recorded without touching the timer (it may come with every
    /// ACK); the REACHABLE timer extends the state from it when it fires,
    /// like Linux's `neigh->confirmed`.
    confirmed: Option<Instant>,
    queue: VecDeque<P>,
}

impl<P> Entry<P> {
    fn new(state: NeighborState, mac: Option<EthernetAddress>) -> Self {
        Entry {
            state,
            mac,
            router: false,
            sent: 0,
            timer: None,
            stamp: 0,
            confirmed: None,
            queue: VecDeque::new(),
        }
    }
}

/// Everything but the entry table, so transitions can borrow an entry and
/// the rest of the cache at once.
struct Core<A> {
    config: NeighborConfig,
    timers: BTreeMap<TimerKey, A>,
    seq: u64,
    evict_failed: VecDeque<(A, u64)>,
    evict_stale: VecDeque<(A, u64)>,
    dynamic: usize,
    /// Packets queued across all entries.
    queued: usize,
    rng: SmallRng,
    reachable_time: Duration,
    redraw_at: Option<Instant>,
    stats: NeighborStats,
}

fn draw_reachable_time(rng: &mut SmallRng, base: Duration) -> Duration {
    // RFC 4861 6.3.2: uniformly between MIN_RANDOM_FACTOR and
    // MAX_RANDOM_FACTOR times BaseReachableTime.
    let base = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
    let lo = base / MIN_RANDOM_FACTOR.1 * MIN_RANDOM_FACTOR.0;
    let hi = (base / MAX_RANDOM_FACTOR.1).saturating_mul(MAX_RANDOM_FACTOR.0);
    Duration::from_nanos(rng.gen_range(lo..=hi.max(lo)))
}

impl<A: Copy + Eq + Hash + fmt::Debug> Core<A> {
    fn arm<P>(&mut self, addr: A, e: &mut Entry<P>, at: Instant) {
        self.disarm(e);
        self.seq = self.seq.wrapping_add(1);
        let key = (at, self.seq);
        self.timers.insert(key, addr);
        e.timer = Some(key);
    }

    fn disarm<P>(&mut self, e: &mut Entry<P>) {
        if let Some(key) = e.timer.take() {
            self.timers.remove(&key);
        }
    }

    fn next_stamp(&mut self) -> u64 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// The current ReachableTime, re-drawn every `REACHABLE_TIME_REDRAW`
    /// (RFC 4861 6.3.4).
    fn reachable_time(&mut self, now: Instant) -> Duration {
        match self.redraw_at {
            Some(at) if now < at => {}
            Some(_) => {
                self.reachable_time =
                    draw_reachable_time(&mut self.rng, self.config.base_reachable_time);
                self.redraw_at = Some(now + REACHABLE_TIME_REDRAW);
            }
            None => self.redraw_at = Some(now + REACHABLE_TIME_REDRAW),
        }
        self.reachable_time
    }

    fn enter_reachable<P>(&mut self, addr: A, e: &mut Entry<P>, now: Instant) {
        e.state = NeighborState::Reachable;
        e.sent = 0;
        e.confirmed = None;
        let rt = self.reachable_time(now);
        self.arm(addr, e, now + rt);
    }

    fn enter_stale<P>(&mut self, addr: A, e: &mut Entry<P>) {
        e.state = NeighborState::Stale;
        e.sent = 0;
        self.disarm(e);
        e.stamp = self.next_stamp();
        self.evict_stale.push_back((addr, e.stamp));
    }

    fn enter_delay<P>(&mut self, addr: A, e: &mut Entry<P>, now: Instant) {
        e.state = NeighborState::Delay;
        e.sent = 0;
        let at = now + self.config.delay_first_probe_time;
        self.arm(addr, e, at);
    }

    fn enter_failed<P>(&mut self, addr: A, e: &mut Entry<P>, now: Instant) {
        e.state = NeighborState::Failed;
        e.mac = None;
        e.sent = 0;
        let at = now + self.config.failed_hold_time;
        self.arm(addr, e, at);
        e.stamp = self.next_stamp();
        self.evict_failed.push_back((addr, e.stamp));
    }

    /// The fast-path transition of a lookup on an entry.
    #[inline]
    fn use_entry<P>(&mut self, addr: A, e: &mut Entry<P>, now: Instant) -> Option<EthernetAddress> {
        match e.state {
            NeighborState::Reachable
            | NeighborState::Delay
            | NeighborState::Probe
            | NeighborState::Static => e.mac,
            NeighborState::Stale => {
                // RFC 4861 7.3.3: "the first time a node sends a packet to a
                // neighbor whose entry is STALE, the sender changes the state
                // to DELAY and sets a timer to expire in DELAY_FIRST_PROBE_TIME".
                self.enter_delay(addr, e, now);
                e.mac
            }
            NeighborState::Incomplete | NeighborState::Failed => None,
        }
    }

    /// Learn `mac` for an entry without one (INCOMPLETE or FAILED) and
    /// release its queue.
    fn resolve<P>(
        &mut self,
        addr: A,
        e: &mut Entry<P>,
        mac: EthernetAddress,
        reachable: bool,
        now: Instant,
    ) -> Released<P> {
        e.mac = Some(mac);
        if reachable {
            self.enter_reachable(addr, e, now);
        } else {
            self.enter_stale(addr, e);
        }
        let packets = Vec::from(core::mem::take(&mut e.queue));
        self.queued -= packets.len();
        self.stats.released += packets.len() as u64;
        Released {
            mac: Some(mac),
            packets,
        }
    }

    /// Queue `pkt` on an INCOMPLETE entry within both bounds: the entry's
    /// `queue_limit` and `queue_total_limit` (counting `elsewhere` packets
    /// queued outside this cache). Returns the packet pushed out, if any.
    fn push<P>(&mut self, e: &mut Entry<P>, pkt: P, elsewhere: usize) -> Option<P> {
        let limit = self.config.queue_limit;
        let total_full = self.queued.saturating_add(elsewhere) >= self.config.queue_total_limit;
        let dropped = if limit == 0 || (total_full && e.queue.is_empty()) {
            // Nothing of this neighbor's to replace: the new one goes.
            Some(pkt)
        } else {
            // RFC 4861 7.2.2: "the new arrival SHOULD replace the oldest
            // entry" when the queue (or the cache-wide budget) is full.
            let old = if e.queue.len() >= limit || total_full {
                e.queue.pop_front()
            } else {
                None
            };
            if old.is_none() {
                self.queued += 1;
            }
            e.queue.push_back(pkt);
            old
        };
        if dropped.is_some() {
            self.stats.queue_drops += 1;
        }
        dropped
    }
}

fn info<A: Copy, P>(addr: A, e: &Entry<P>) -> NeighborEntryInfo<A> {
    NeighborEntryInfo {
        addr,
        mac: e.mac,
        state: e.state,
        queued: e.queue.len(),
        router: e.router,
        deadline: e.timer.map(|(t, _)| t),
    }
}

// ---------------------------------------------------------------------------
// The cache

/// A neighbor cache for one NIC and one protocol (ARP or NDP). See the
/// [module documentation](self) for the state machine and the contract.
pub struct NeighborCache<A, P> {
    entries: HashMap<A, Entry<P>, FxBuildHasher>,
    core: Core<A>,
    /// The last [`lookup`](NeighborCache::lookup) that found a MAC in a
    /// state where a further lookup changes nothing (REACHABLE, DELAY,
    /// PROBE, STATIC). Every other `&mut self` method clears it first, so
    /// it is exactly what a table probe would answer; a router sends most
    /// packets of a batch to one next hop, and then skips the hash.
    hit: Option<(A, EthernetAddress)>,
}

impl<A: fmt::Debug, P> fmt::Debug for NeighborCache<A, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NeighborCache")
            .field("entries", &self.entries.len())
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}

impl<A: Copy + Eq + Hash + fmt::Debug, P> NeighborCache<A, P> {
    /// Create an empty cache.
    pub fn new(config: NeighborConfig) -> Self {
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let reachable_time = draw_reachable_time(&mut rng, config.base_reachable_time);
        let key = rng.gen::<u64>();
        NeighborCache {
            entries: HashMap::with_hasher(FxBuildHasher::with_seed(key)),
            core: Core {
                config,
                timers: BTreeMap::new(),
                seq: 0,
                evict_failed: VecDeque::new(),
                evict_stale: VecDeque::new(),
                dynamic: 0,
                queued: 0,
                rng,
                reachable_time,
                redraw_at: None,
                stats: NeighborStats::default(),
            },
            hit: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NeighborConfig {
        &self.core.config
    }

    /// The counters.
    pub fn stats(&self) -> &NeighborStats {
        &self.core.stats
    }

    /// The current ReachableTime (RFC 4861 6.3.2), drawn from
    /// [0.5, 1.5] x BaseReachableTime.
    pub fn reachable_time(&self) -> Duration {
        self.core.reachable_time
    }

    /// Set BaseReachableTime (from a Router Advertisement, RFC 4861 6.3.4)
    /// and draw a new ReachableTime at once, as 6.3.4 requires. Entries
    /// already REACHABLE keep their deadline.
    pub fn set_base_reachable_time(&mut self, base: Duration) {
        self.hit = None;
        let core = &mut self.core;
        core.config.base_reachable_time = base;
        core.reachable_time = draw_reachable_time(&mut core.rng, base);
        core.redraw_at = None;
    }

    /// Set RetransTimer (from a Router Advertisement, RFC 4861 6.3.4); it
    /// applies from the next solicitation on.
    pub fn set_retrans_timer(&mut self, retrans: Duration) {
        self.hit = None;
        self.core.config.retrans_timer = retrans;
    }

    /// Number of entries, static ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The fast path: the MAC to send to `addr`, if known.
    ///
    /// REACHABLE, DELAY, PROBE and STATIC entries return their MAC; a STALE
    /// entry returns its MAC and moves to DELAY (RFC 4861 7.3.3). INCOMPLETE,
    /// FAILED and absent entries return `None`: call
    /// [`enqueue`](Self::enqueue) with the packet. One hash probe; allocates
    /// only on the STALE -> DELAY transition.
    #[inline(always)]
    pub fn lookup(&mut self, addr: A, now: Instant) -> Option<EthernetAddress> {
        if let Some((a, mac)) = self.hit {
            if a == addr {
                return Some(mac);
            }
        }
        self.lookup_table(addr, now)
    }

    /// The last hit's MAC if it is `addr`'s (no side effects).
    #[inline(always)]
    pub fn peek_hit(&self, addr: A) -> Option<EthernetAddress> {
        match self.hit {
            Some((a, mac)) if a == addr => Some(mac),
            _ => None,
        }
    }

    /// [`lookup`](Self::lookup) past the last-hit entry: the table probe.
    #[inline(never)]
    fn lookup_table(&mut self, addr: A, now: Instant) -> Option<EthernetAddress> {
        let e = self.entries.get_mut(&addr)?;
        let mac = self.core.use_entry(addr, e, now);
        if let (Some(m), false) = (mac, e.state == NeighborState::Stale) {
            // use_entry left the entry REACHABLE, DELAY, PROBE or STATIC
            // (STALE became DELAY): lookups until the next change are pure.
            self.hit = Some((addr, m));
        }
        mac
    }

    /// The entry for `addr`, without changing anything.
    pub fn get(&self, addr: A) -> Option<NeighborEntryInfo<A>> {
        self.entries.get(&addr).map(|e| info(addr, e))
    }

    /// All entries, in no particular order (for `ip neigh`-style output).
    pub fn entries(&self) -> impl Iterator<Item = NeighborEntryInfo<A>> + '_ {
        self.entries.iter().map(|(a, e)| info(*a, e))
    }

    /// The slow path, after [`lookup`](Self::lookup) returned `None`: queue
    /// `pkt` until `addr` is resolved.
    ///
    /// Creates an INCOMPLETE entry if absent and asks for the first multicast
    /// solicitation (RFC 4861 7.2.2). Only INCOMPLETE entries queue: an entry
    /// with a MAC (REACHABLE, STALE, DELAY, PROBE, STATIC) hands the packet
    /// back as [`Enqueued::Resolved`], since 7.3.3 keeps using the cached
    /// address while reachability is being re-confirmed. The per-neighbor
    /// queue holds `queue_limit` packets and the cache `queue_total_limit`;
    /// on overflow the oldest of the neighbor's queue is pushed out and
    /// returned (7.2.2: "the new arrival SHOULD replace the oldest entry").
    /// A FAILED entry (within its hold time) or a full table drops the packet.
    pub fn enqueue(&mut self, addr: A, pkt: P, now: Instant) -> Enqueued<P> {
        self.enqueue_shared(addr, pkt, now, 0)
    }

    /// [`enqueue`](Self::enqueue) with `elsewhere` packets already queued in
    /// other caches sharing the `queue_total_limit` budget (the stack's ARP
    /// and NDP caches of every NIC).
    pub fn enqueue_shared(
        &mut self,
        addr: A,
        pkt: P,
        now: Instant,
        elsewhere: usize,
    ) -> Enqueued<P> {
        self.hit = None;
        if let Some(e) = self.entries.get_mut(&addr) {
            return match e.state {
                NeighborState::Incomplete => Enqueued::Queued {
                    solicit: false,
                    dropped: self.core.push(e, pkt, elsewhere),
                },
                NeighborState::Failed => {
                    self.core.stats.unresolved_drops += 1;
                    Enqueued::Dropped {
                        packet: pkt,
                        reason: DropReason::NeighborUnresolved,
                    }
                }
                _ => match self.core.use_entry(addr, e, now) {
                    Some(mac) => Enqueued::Resolved { packet: pkt, mac },
                    // Unreachable: every other state holds a MAC.
                    None => Enqueued::Dropped {
                        packet: pkt,
                        reason: DropReason::NeighborUnresolved,
                    },
                },
            };
        }
        if !self.make_room() {
            self.core.stats.table_full += 1;
            self.core.stats.unresolved_drops += 1;
            return Enqueued::Dropped {
                packet: pkt,
                reason: DropReason::NeighborUnresolved,
            };
        }
        // RFC 4861 7.2.2: create an INCOMPLETE entry, send a solicitation and
        // retransmit every RetransTimer until MAX_MULTICAST_SOLICIT are sent.
        let mut e = Entry::new(NeighborState::Incomplete, None);
        let solicit = self.core.config.max_multicast_solicit > 0;
        if solicit {
            e.sent = 1;
            self.core.stats.solicitations_sent += 1;
        }
        let at = now + self.core.config.retrans_timer;
        self.core.arm(addr, &mut e, at);
        let dropped = self.core.push(&mut e, pkt, elsewhere);
        self.insert_dynamic(addr, e);
        Enqueued::Queued { solicit, dropped }
    }

    /// Packets queued across all entries, waiting for resolution.
    pub fn queued(&self) -> usize {
        self.core.queued
    }

    /// Process a Neighbor Advertisement (or an ARP reply, with
    /// [`AdvertisementFlags::ARP_REPLY`]) for `addr` carrying the target
    /// link-layer address `mac` (`None` when the option was absent), RFC 4861
    /// 7.2.5.
    ///
    /// Advertisements for absent entries are ignored (7.2.5: "silently
    /// discarded"); so are advertisements for static entries. A FAILED entry
    /// is treated like INCOMPLETE so a late answer is accepted.
    pub fn handle_advertisement(
        &mut self,
        addr: A,
        mac: Option<EthernetAddress>,
        flags: AdvertisementFlags,
        now: Instant,
    ) -> Released<P> {
        let r = self.advertisement(addr, mac, flags, now);
        self.compact_eviction_queues();
        r
    }

    fn advertisement(
        &mut self,
        addr: A,
        mac: Option<EthernetAddress>,
        flags: AdvertisementFlags,
        now: Instant,
    ) -> Released<P> {
        self.hit = None;
        let Some(e) = self.entries.get_mut(&addr) else {
            // 7.2.5: "If no entry exists, the advertisement SHOULD be silently
            // discarded."
            return Released::none(None);
        };
        let core = &mut self.core;
        if let Some(m) = mac {
            if !m.is_unicast() {
                core.stats.rejected_lladdr += 1;
                return Released::none(e.mac);
            }
        }
        match e.state {
            NeighborState::Static => Released::none(e.mac),
            NeighborState::Incomplete | NeighborState::Failed => {
                // 7.2.5: without a Target Link-Layer Address option the
                // advertisement SHOULD be silently discarded.
                let Some(mac) = mac else {
                    return Released::none(None);
                };
                e.router = flags.router;
                // 7.2.5: record the address; REACHABLE if Solicited, else
                // STALE; send the queued packets. (Override is ignored.)
                core.resolve(addr, e, mac, flags.solicited, now)
            }
            NeighborState::Reachable
            | NeighborState::Stale
            | NeighborState::Delay
            | NeighborState::Probe => {
                let differs = mac.is_some() && mac != e.mac;
                if !flags.override_ && differs {
                    // 7.2.5: Override clear and a different address: a
                    // REACHABLE entry becomes STALE, nothing else changes;
                    // in any other state the advertisement is ignored.
                    if e.state == NeighborState::Reachable {
                        core.enter_stale(addr, e);
                    }
                    return Released::none(e.mac);
                }
                // 7.2.5: Override set, same address, or no address: the
                // address (if any) is recorded ...
                if differs {
                    e.mac = mac;
                }
                if flags.solicited {
                    // ... Solicited: REACHABLE ...
                    core.enter_reachable(addr, e, now);
                } else if differs {
                    // ... unsolicited with a new address: STALE ...
                    core.enter_stale(addr, e);
                }
                // ... otherwise the state is unchanged; IsRouter is set
                // from the Router flag.
                e.router = flags.router;
                Released::none(e.mac)
            }
        }
    }

    /// Process the source link-layer address of a received Neighbor
    /// An answer another shard of the same router received for `addr` on
    /// this link (the stack's `learn_neighbor`). Every shard keeps its own
    /// cache, but they stand for one router on one link, so:
    ///
    /// * an existing entry takes it as a solicited advertisement with
    ///   override (RFC 4861 7.2.5): an INCOMPLETE or FAILED one is
    ///   resolved and its queue released, others are refreshed;
    /// * without an entry, a `confirmed` answer — one the other shard
    ///   accepted into an entry of its own, i.e. the router asked — creates
    ///   a REACHABLE entry, as a single table would hold it (subject to the
    ///   table bound); an unconfirmed one is ignored (7.2.5: an
    ///   advertisement nobody asked for creates no entry).
    ///
    /// Returns what was released and whether the entry had been waiting
    /// for resolution (INCOMPLETE or FAILED): the stack passes such an
    /// answer on as confirmed, so the shard that received it without
    /// having asked learns it too.
    pub fn learn_from_peer(
        &mut self,
        addr: A,
        mac: EthernetAddress,
        confirmed: bool,
        now: Instant,
    ) -> (Released<P>, bool) {
        let waiting = self
            .entries
            .get(&addr)
            .map(|e| matches!(e.state, NeighborState::Incomplete | NeighborState::Failed));
        match waiting {
            Some(waiting) => {
                let flags = AdvertisementFlags {
                    solicited: true,
                    override_: true,
                    router: false,
                };
                (
                    self.handle_advertisement(addr, Some(mac), flags, now),
                    waiting,
                )
            }
            None if confirmed && mac.is_unicast() => {
                self.hit = None;
                if !self.make_room() {
                    self.core.stats.table_full += 1;
                    return (Released::none(None), false);
                }
                let mut e = Entry::new(NeighborState::Reachable, Some(mac));
                self.core.enter_reachable(addr, &mut e, now);
                self.insert_dynamic(addr, e);
                (Released::none(Some(mac)), false)
            }
            None => (Released::none(None), false),
        }
    }

    /// Solicitation or ARP request (also usable for the source option of
    /// Router Solicitations/Advertisements and Redirects), RFC 4861 7.2.3.
    ///
    /// Creates a STALE entry if absent (subject to the table bound), sets an
    /// existing entry with a different address to STALE with the new address,
    /// and resolves an INCOMPLETE (or FAILED) entry to STALE, releasing its
    /// queue. Static entries are never changed.
    pub fn handle_solicitation_source(
        &mut self,
        addr: A,
        mac: EthernetAddress,
        now: Instant,
    ) -> Released<P> {
        let r = self.solicitation_source(addr, mac, now);
        self.compact_eviction_queues();
        r
    }

    fn solicitation_source(&mut self, addr: A, mac: EthernetAddress, now: Instant) -> Released<P> {
        self.hit = None;
        if !mac.is_unicast() {
            self.core.stats.rejected_lladdr += 1;
            return Released::none(self.entries.get(&addr).and_then(|e| e.mac));
        }
        let Some(e) = self.entries.get_mut(&addr) else {
            // 7.2.3: "If an entry does not already exist, the node SHOULD
            // create a new one and set its reachability state to STALE";
            // 6.3.4/7.2.3: IsRouter starts FALSE.
            if !self.make_room() {
                self.core.stats.table_full += 1;
                return Released::none(None);
            }
            let mut e = Entry::new(NeighborState::Stale, Some(mac));
            self.core.enter_stale(addr, &mut e);
            self.insert_dynamic(addr, e);
            return Released::none(Some(mac));
        };
        let core = &mut self.core;
        match e.state {
            NeighborState::Static => Released::none(e.mac),
            // 7.2.3 via 7.2.5's INCOMPLETE rule: record the address, STALE,
            // send the queued packets.
            NeighborState::Incomplete | NeighborState::Failed => {
                core.resolve(addr, e, mac, false, now)
            }
            _ => {
                // 7.2.3: a different cached address is replaced and the entry
                // MUST be set to STALE; the same address changes nothing.
                if e.mac != Some(mac) {
                    e.mac = Some(mac);
                    core.enter_stale(addr, e);
                }
                Released::none(e.mac)
            }
        }
    }

    /// An upper-layer reachability confirmation for `addr` (RFC 4861 7.3.1),
    /// e.g. new TCP acknowledgements. Moves an entry with a MAC (STALE,
    /// DELAY, PROBE) to REACHABLE; a REACHABLE entry only records the time,
    /// and its timer extends REACHABLE from it when it fires, so a
    /// confirmation per ACK costs one hash probe and never re-arms a timer.
    /// Returns whether the entry was confirmed.
    pub fn confirm_reachable(&mut self, addr: A, now: Instant) -> bool {
        let Some(e) = self.entries.get_mut(&addr) else {
            return false;
        };
        match e.state {
            NeighborState::Reachable => {
                // The `hit` shortcut stays valid: nothing observable changes.
                e.confirmed = Some(now);
                true
            }
            NeighborState::Stale | NeighborState::Delay | NeighborState::Probe => {
                self.hit = None;
                // 7.3.1: "When a reachability confirmation is received ... an
                // entry's state changes to REACHABLE."
                self.core.enter_reachable(addr, e, now);
                true
            }
            _ => false,
        }
    }

    /// Configure a static entry (`ip neigh add ... nud permanent`). Replaces
    /// any dynamic entry; if it was INCOMPLETE its queued packets are
    /// released to `mac`. Static entries do not count against `max_entries`.
    pub fn add_static(&mut self, addr: A, mac: EthernetAddress) -> Released<P> {
        self.hit = None;
        let mut packets = Vec::new();
        if let Some(e) = self.entries.get_mut(&addr) {
            if e.state != NeighborState::Static {
                self.core.dynamic = self.core.dynamic.saturating_sub(1);
            }
            self.core.disarm(e);
            packets = Vec::from(core::mem::take(&mut e.queue));
            self.core.queued -= packets.len();
            self.core.stats.released += packets.len() as u64;
            e.state = NeighborState::Static;
            e.mac = Some(mac);
            e.sent = 0;
        } else {
            self.entries
                .insert(addr, Entry::new(NeighborState::Static, Some(mac)));
        }
        Released {
            mac: Some(mac),
            packets,
        }
    }

    /// Delete the entry for `addr` (static or not). Returns the packets that
    /// were waiting for it: the caller drops them (`NeighborUnresolved`).
    #[must_use = "queued packets must be freed"]
    pub fn remove(&mut self, addr: A) -> Vec<P> {
        self.hit = None;
        self.remove_entry(addr)
            .map(|e| Vec::from(e.queue))
            .unwrap_or_default()
    }

    /// Delete every entry, static ones included (e.g. the NIC went down or
    /// changed its address). Returns all queued packets for the caller to
    /// drop.
    #[must_use = "queued packets must be freed"]
    pub fn clear(&mut self) -> Vec<P> {
        self.hit = None;
        let mut dropped = Vec::new();
        for (_, e) in self.entries.drain() {
            dropped.extend(e.queue);
        }
        let core = &mut self.core;
        core.timers.clear();
        core.evict_failed.clear();
        core.evict_stale.clear();
        core.dynamic = 0;
        core.queued = 0;
        dropped
    }

    /// When [`poll`](Self::poll) next has work: the earliest timer deadline,
    /// exactly (`None` when no timer is armed).
    pub fn poll_at(&self) -> Option<Instant> {
        self.core.timers.first_key_value().map(|((t, _), _)| *t)
    }

    /// Perform every transition due at `now`, pushing the resulting actions
    /// onto `out`. Only due entries are visited.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<NeighborAction<A, P>>) {
        self.hit = None;
        enum Next {
            Keep,
            Delete,
        }
        while let Some(first) = self.core.timers.first_entry() {
            if first.key().0 > now {
                break;
            }
            let (_, addr) = first.remove_entry();
            let Some(e) = self.entries.get_mut(&addr) else {
                continue;
            };
            e.timer = None;
            let core = &mut self.core;
            let next = match e.state {
                NeighborState::Incomplete => {
                    if e.sent < core.config.max_multicast_solicit {
                        // 7.2.2: retransmit every RetransTimer.
                        e.sent += 1;
                        core.stats.solicitations_sent += 1;
                        let at = now + core.config.retrans_timer;
                        core.arm(addr, e, at);
                        out.push(NeighborAction::SendSolicitation {
                            target: addr,
                            unicast: None,
                        });
                    } else {
                        // 7.2.2: no answer after MAX_MULTICAST_SOLICIT
                        // solicitations: resolution failed; the queued
                        // packets are dropped (with ICMP unreachable).
                        let dropped = Vec::from(core::mem::take(&mut e.queue));
                        core.queued -= dropped.len();
                        core.stats.resolution_failures += 1;
                        core.stats.unresolved_drops += dropped.len() as u64;
                        core.enter_failed(addr, e, now);
                        out.push(NeighborAction::ResolutionFailed {
                            target: addr,
                            dropped,
                        });
                    }
                    Next::Keep
                }
                NeighborState::Reachable => {
                    let rt = core.reachable_time(now);
                    match e.confirmed.map(|c| c + rt) {
                        // 7.3.1: a confirmation arrived since the timer was
                        // armed: ReachableTime runs from it.
                        Some(until) if until > now => {
                            e.confirmed = None;
                            core.arm(addr, e, until);
                        }
                        // 7.3.3: ReachableTime since the last confirmation:
                        // REACHABLE -> STALE.
                        _ => core.enter_stale(addr, e),
                    }
                    Next::Keep
                }
                NeighborState::Delay => {
                    // 7.3.3: no confirmation within DELAY_FIRST_PROBE_TIME:
                    // send a unicast probe and enter PROBE.
                    e.state = NeighborState::Probe;
                    e.sent = 0;
                    probe(core, addr, e, now, out);
                    Next::Keep
                }
                NeighborState::Probe => {
                    if e.sent < core.config.max_unicast_solicit {
                        // 7.3.3: retransmit the probe every RetransTimer.
                        probe(core, addr, e, now, out);
                        Next::Keep
                    } else {
                        // 7.3.3: no answer RetransTimer after the last of
                        // MAX_UNICAST_SOLICIT probes: "the entry SHOULD be
                        // deleted"; later traffic resolves afresh.
                        core.stats.probe_failures += 1;
                        Next::Delete
                    }
                }
                // The hold time is over: purge, so resolution may be retried.
                NeighborState::Failed => Next::Delete,
                // Never armed.
                NeighborState::Stale | NeighborState::Static => Next::Keep,
            };
            if let Next::Delete = next {
                // Neither PROBE nor FAILED entries hold packets.
                let _ = self.remove_entry(addr);
            }
        }
        self.compact_eviction_queues();
    }

    // -- helpers ------------------------------------------------------------

    fn insert_dynamic(&mut self, addr: A, e: Entry<P>) {
        self.entries.insert(addr, e);
        self.core.dynamic += 1;
        self.core.stats.entries_created += 1;
        self.compact_eviction_queues();
    }

    fn remove_entry(&mut self, addr: A) -> Option<Entry<P>> {
        let mut e = self.entries.remove(&addr)?;
        self.core.disarm(&mut e);
        self.core.queued -= e.queue.len();
        if e.state != NeighborState::Static {
            self.core.dynamic = self.core.dynamic.saturating_sub(1);
        }
        Some(e)
    }

    /// Make room for one more dynamic entry: evict the oldest FAILED entry,
    /// else the oldest STALE one. Returns false if the table is full of
    /// entries that may not be evicted.
    fn make_room(&mut self) -> bool {
        if self.core.dynamic < self.core.config.max_entries {
            return true;
        }
        for state in [NeighborState::Failed, NeighborState::Stale] {
            loop {
                let q = match state {
                    NeighborState::Failed => &mut self.core.evict_failed,
                    _ => &mut self.core.evict_stale,
                };
                let Some((addr, stamp)) = q.pop_front() else {
                    break;
                };
                let valid = self
                    .entries
                    .get(&addr)
                    .is_some_and(|e| e.state == state && e.stamp == stamp);
                if valid {
                    // FAILED and STALE entries hold no packets.
                    let _ = self.remove_entry(addr);
                    self.core.stats.evictions += 1;
                    return true;
                }
            }
        }
        false
    }

    /// Drop invalidated items from the eviction queues once they hold more
    /// than twice the live entries (amortised O(1) per push).
    fn compact_eviction_queues(&mut self) {
        let limit = 2 * self.core.dynamic + 32;
        let entries = &self.entries;
        for (q, state) in [
            (&mut self.core.evict_failed, NeighborState::Failed),
            (&mut self.core.evict_stale, NeighborState::Stale),
        ] {
            if q.len() > limit {
                q.retain(|(a, s)| {
                    entries
                        .get(a)
                        .is_some_and(|e| e.state == state && e.stamp == *s)
                });
            }
        }
    }
}

/// Send one unicast probe from PROBE and arm the retransmission.
fn probe<A: Copy + Eq + Hash + fmt::Debug, P>(
    core: &mut Core<A>,
    addr: A,
    e: &mut Entry<P>,
    now: Instant,
    out: &mut Vec<NeighborAction<A, P>>,
) {
    if e.sent < core.config.max_unicast_solicit {
        e.sent += 1;
        core.stats.probes_sent += 1;
        out.push(NeighborAction::SendSolicitation {
            target: addr,
            unicast: e.mac,
        });
    }
    let at = now + core.config.retrans_timer;
    core.arm(addr, e, at);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    type Cache = NeighborCache<Ipv4Addr, u32>;
    type Action = NeighborAction<Ipv4Addr, u32>;

    const MAC_A: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xa]);
    const MAC_B: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xb]);
    const SOLICITED: AdvertisementFlags = AdvertisementFlags {
        router: false,
        solicited: true,
        override_: false,
    };
    const UNSOLICITED: AdvertisementFlags = AdvertisementFlags {
        router: false,
        solicited: false,
        override_: false,
    };
    const UNSOLICITED_OVERRIDE: AdvertisementFlags = AdvertisementFlags {
        router: false,
        solicited: false,
        override_: true,
    };

    fn ip(n: u32) -> Ipv4Addr {
        Ipv4Addr::from(0xc612_0000 + n) // 198.18.0.0/15 (RFC 2544)
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn cache() -> Cache {
        NeighborCache::new(NeighborConfig::default())
    }

    fn poll(c: &mut Cache, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        c.poll(now, &mut out);
        out
    }

    fn state(c: &Cache, a: Ipv4Addr) -> Option<NeighborState> {
        c.get(a).map(|i| i.state)
    }

    fn multicast(a: Ipv4Addr) -> Action {
        NeighborAction::SendSolicitation {
            target: a,
            unicast: None,
        }
    }

    fn unicast(a: Ipv4Addr, mac: EthernetAddress) -> Action {
        NeighborAction::SendSolicitation {
            target: a,
            unicast: Some(mac),
        }
    }

    /// A REACHABLE entry for `a` with MAC_A, learned at `now`.
    fn reachable(c: &mut Cache, a: Ipv4Addr, now: Instant) {
        assert!(matches!(c.enqueue(a, 0, now), Enqueued::Queued { .. }));
        let r = c.handle_advertisement(a, Some(MAC_A), SOLICITED, now);
        assert_eq!(r.packets, vec![0]);
        assert_eq!(state(c, a), Some(NeighborState::Reachable));
    }

    /// A STALE entry for `a` with MAC_A.
    fn stale(c: &mut Cache, a: Ipv4Addr, now: Instant) {
        let r = c.handle_solicitation_source(a, MAC_A, now);
        assert!(r.is_empty());
        assert_eq!(state(c, a), Some(NeighborState::Stale));
    }

    // -- resolution (RFC 4861 7.2.2, 7.2.5) ---------------------------------

    #[test]
    fn resolution_solicits_once_and_releases_in_order() {
        let mut c = cache();
        let a = ip(1);
        assert_eq!(c.lookup(a, ms(0)), None);
        assert_eq!(
            c.enqueue(a, 1, ms(0)),
            Enqueued::Queued {
                solicit: true,
                dropped: None
            }
        );
        for p in [2, 3] {
            assert_eq!(
                c.enqueue(a, p, ms(10)),
                Enqueued::Queued {
                    solicit: false,
                    dropped: None
                }
            );
        }
        assert_eq!(c.stats().solicitations_sent, 1);
        assert_eq!(c.lookup(a, ms(20)), None);
        let info = c.get(a).unwrap();
        assert_eq!(
            (info.state, info.mac, info.queued),
            (NeighborState::Incomplete, None, 3)
        );

        let r = c.handle_advertisement(a, Some(MAC_A), SOLICITED, ms(500));
        assert_eq!(r.mac, Some(MAC_A));
        assert_eq!(r.packets, vec![1, 2, 3]);
        assert_eq!(state(&c, a), Some(NeighborState::Reachable));
        assert_eq!(c.lookup(a, ms(501)), Some(MAC_A));
        assert_eq!(c.get(a).unwrap().queued, 0);
        assert_eq!(c.stats().released, 3);
        // No retransmission after resolution.
        assert!(poll(&mut c, ms(1000)).is_empty());
    }

    #[test]
    fn arp_reply_resolves_to_reachable() {
        let mut c = cache();
        let _ = c.enqueue(ip(1), 7, ms(0));
        let r = c.handle_advertisement(ip(1), Some(MAC_B), AdvertisementFlags::ARP_REPLY, ms(1));
        assert_eq!(r.packets, vec![7]);
        assert_eq!(c.get(ip(1)).unwrap().mac, Some(MAC_B));
        assert_eq!(state(&c, ip(1)), Some(NeighborState::Reachable));
    }

    #[test]
    fn unsolicited_advert_resolves_incomplete_to_stale() {
        let mut c = cache();
        let _ = c.enqueue(ip(1), 7, ms(0));
        let r = c.handle_advertisement(ip(1), Some(MAC_A), UNSOLICITED, ms(1));
        assert_eq!(r.packets, vec![7]);
        assert_eq!(state(&c, ip(1)), Some(NeighborState::Stale));
    }

    #[test]
    fn advert_without_lladdr_does_not_resolve() {
        let mut c = cache();
        let _ = c.enqueue(ip(1), 7, ms(0));
        let r = c.handle_advertisement(ip(1), None, SOLICITED, ms(1));
        assert_eq!(
            r,
            Released {
                mac: None,
                packets: vec![]
            }
        );
        assert_eq!(state(&c, ip(1)), Some(NeighborState::Incomplete));
        assert_eq!(c.get(ip(1)).unwrap().queued, 1);
    }

    #[test]
    fn advert_for_absent_entry_is_discarded() {
        let mut c = cache();
        let r = c.handle_advertisement(ip(1), Some(MAC_A), SOLICITED, ms(0));
        assert!(r.is_empty());
        assert!(c.is_empty());
    }

    #[test]
    fn multicast_lladdr_is_never_learned() {
        let mut c = cache();
        let _ = c.enqueue(ip(1), 7, ms(0));
        let r = c.handle_advertisement(ip(1), Some(EthernetAddress::BROADCAST), SOLICITED, ms(1));
        assert!(r.is_empty());
        let r = c.handle_solicitation_source(ip(2), EthernetAddress::BROADCAST, ms(1));
        assert!(r.is_empty());
        assert_eq!(state(&c, ip(1)), Some(NeighborState::Incomplete));
        assert_eq!(state(&c, ip(2)), None);
        assert_eq!(c.stats().rejected_lladdr, 2);
    }

    #[test]
    fn retransmits_every_second_then_fails_and_holds() {
        let mut c = cache();
        let a = ip(1);
        let _ = c.enqueue(a, 1, ms(0));
        let _ = c.enqueue(a, 2, ms(100));
        assert_eq!(c.poll_at(), Some(ms(1000)));
        assert!(poll(&mut c, ms(999)).is_empty());
        assert_eq!(poll(&mut c, ms(1000)), vec![multicast(a)]);
        assert_eq!(c.poll_at(), Some(ms(2000)));
        assert!(poll(&mut c, ms(1999)).is_empty());
        assert_eq!(poll(&mut c, ms(2000)), vec![multicast(a)]);
        assert_eq!(c.stats().solicitations_sent, 3);
        // RetransTimer after the third solicitation: failure.
        assert!(poll(&mut c, ms(2999)).is_empty());
        assert_eq!(
            poll(&mut c, ms(3000)),
            vec![NeighborAction::ResolutionFailed {
                target: a,
                dropped: vec![1, 2]
            }]
        );
        assert_eq!(state(&c, a), Some(NeighborState::Failed));
        assert_eq!(c.stats().resolution_failures, 1);
        assert_eq!(c.stats().solicitations_sent, 3);

        // Within the hold time: dropped at once, no new solicitation.
        assert_eq!(c.lookup(a, ms(4000)), None);
        assert_eq!(
            c.enqueue(a, 3, ms(4000)),
            Enqueued::Dropped {
                packet: 3,
                reason: DropReason::NeighborUnresolved
            }
        );
        assert_eq!(c.stats().unresolved_drops, 3);
        assert_eq!(c.poll_at(), Some(ms(23_000)));
        assert!(poll(&mut c, ms(22_999)).is_empty());
        assert_eq!(state(&c, a), Some(NeighborState::Failed));
        assert!(poll(&mut c, ms(23_000)).is_empty());
        assert_eq!(state(&c, a), None);
        assert_eq!(c.poll_at(), None);
        // After the purge resolution starts afresh.
        assert_eq!(
            c.enqueue(a, 4, ms(23_001)),
            Enqueued::Queued {
                solicit: true,
                dropped: None
            }
        );
    }

    #[test]
    fn late_answer_during_hold_is_accepted() {
        let mut c = cache();
        let _ = c.enqueue(ip(1), 1, ms(0));
        for t in [1000, 2000, 3000] {
            let _ = poll(&mut c, ms(t));
        }
        assert_eq!(state(&c, ip(1)), Some(NeighborState::Failed));
        let r = c.handle_advertisement(ip(1), Some(MAC_A), SOLICITED, ms(3500));
        assert!(r.is_empty());
        assert_eq!(c.lookup(ip(1), ms(3500)), Some(MAC_A));
        // The hold timer is gone; only the reachable timer remains.
        let d = c.poll_at().unwrap();
        assert!(d >= ms(3500 + 15_000));
    }

    #[test]
    fn queue_bound_drops_the_oldest() {
        let mut c = Cache::new(NeighborConfig {
            queue_limit: 3,
            ..NeighborConfig::default()
        });
        let a = ip(1);
        for p in 1..=3 {
            assert!(matches!(
                c.enqueue(a, p, ms(0)),
                Enqueued::Queued { dropped: None, .. }
            ));
        }
        assert_eq!(
            c.enqueue(a, 4, ms(1)),
            Enqueued::Queued {
                solicit: false,
                dropped: Some(1)
            }
        );
        assert_eq!(
            c.enqueue(a, 5, ms(2)),
            Enqueued::Queued {
                solicit: false,
                dropped: Some(2)
            }
        );
        assert_eq!(c.stats().queue_drops, 2);
        let r = c.handle_advertisement(a, Some(MAC_A), SOLICITED, ms(3));
        assert_eq!(r.packets, vec![3, 4, 5]);
    }

    #[test]
    fn default_queue_holds_a_burst_of_512() {
        let mut c = cache();
        for p in 0..512 {
            assert!(matches!(
                c.enqueue(ip(1), p, ms(0)),
                Enqueued::Queued { dropped: None, .. }
            ));
        }
        assert_eq!(c.queued(), 512);
        let r = c.handle_advertisement(ip(1), Some(MAC_A), SOLICITED, ms(1));
        assert_eq!(r.packets, (0..512).collect::<Vec<_>>());
        assert_eq!((c.queued(), c.stats().queue_drops), (0, 0));
    }

    #[test]
    fn total_limit_bounds_all_queues_and_replaces_the_neighbors_oldest() {
        let mut c = Cache::new(NeighborConfig {
            queue_limit: 4,
            queue_total_limit: 6,
            ..NeighborConfig::default()
        });
        for p in 0..4 {
            let _ = c.enqueue(ip(1), p, ms(0));
        }
        for p in 10..12 {
            let _ = c.enqueue(ip(2), p, ms(0));
        }
        assert_eq!(c.queued(), 6);
        // Full: a neighbor with packets queued replaces its own oldest ...
        assert_eq!(
            c.enqueue(ip(2), 12, ms(0)),
            Enqueued::Queued {
                solicit: false,
                dropped: Some(10)
            }
        );
        // ... a new one has nothing to replace: its packet goes, but it is
        // still solicited.
        assert_eq!(
            c.enqueue(ip(3), 20, ms(0)),
            Enqueued::Queued {
                solicit: true,
                dropped: Some(20)
            }
        );
        assert_eq!(c.queued(), 6);
        assert_eq!(c.stats().queue_drops, 2);
        // Packets queued in other caches count against the same budget.
        let _ = c.remove(ip(1));
        assert_eq!(c.queued(), 2);
        assert_eq!(
            c.enqueue_shared(ip(3), 21, ms(0), 4),
            Enqueued::Queued {
                solicit: false,
                dropped: Some(21)
            }
        );
        assert!(matches!(
            c.enqueue_shared(ip(3), 22, ms(0), 3),
            Enqueued::Queued { dropped: None, .. }
        ));
        // Releases, failures and clears give the budget back.
        let r = c.handle_advertisement(ip(2), Some(MAC_A), SOLICITED, ms(1));
        assert_eq!(r.packets, vec![11, 12]);
        assert_eq!(c.queued(), 1);
        for t in [1000, 2000, 3000] {
            let _ = poll(&mut c, ms(t));
        }
        assert_eq!(state(&c, ip(3)), Some(NeighborState::Failed));
        assert_eq!(c.queued(), 0);
        let _ = c.enqueue(ip(4), 30, ms(3000));
        assert_eq!(c.clear(), vec![30]);
        assert_eq!(c.queued(), 0);
    }

    #[test]
    fn zero_queue_limit_drops_every_packet_but_still_resolves() {
        let mut c = Cache::new(NeighborConfig {
            queue_limit: 0,
            ..NeighborConfig::default()
        });
        assert_eq!(
            c.enqueue(ip(1), 9, ms(0)),
            Enqueued::Queued {
                solicit: true,
                dropped: Some(9)
            }
        );
        assert_eq!(c.get(ip(1)).unwrap().queued, 0);
    }

    #[test]
    fn enqueue_on_resolved_entry_returns_the_mac() {
        let mut c = cache();
        stale(&mut c, ip(1), ms(0));
        assert_eq!(
            c.enqueue(ip(1), 5, ms(1)),
            Enqueued::Resolved {
                packet: 5,
                mac: MAC_A
            }
        );
        // Like a lookup, use of a STALE entry starts DELAY (7.3.3).
        assert_eq!(state(&c, ip(1)), Some(NeighborState::Delay));
    }

    // -- aging and NUD (RFC 4861 7.3) ----------------------------------------

    #[test]
    fn reachable_ages_to_stale_after_randomised_reachable_time() {
        let mut seen = std::collections::HashSet::new();
        for seed in 0..32 {
            let mut c = Cache::new(NeighborConfig {
                seed,
                ..NeighborConfig::default()
            });
            let t0 = ms(1000);
            reachable(&mut c, ip(1), t0);
            let rt = c.reachable_time();
            assert!(
                rt >= Duration::from_secs(15) && rt <= Duration::from_secs(45),
                "{rt:?}"
            );
            assert_eq!(c.poll_at(), Some(t0 + rt));
            assert_eq!(c.get(ip(1)).unwrap().deadline, Some(t0 + rt));
            let before = Instant::from_nanos((t0 + rt).total_nanos() - 1);
            assert!(poll(&mut c, before).is_empty());
            assert_eq!(state(&c, ip(1)), Some(NeighborState::Reachable));
            assert!(poll(&mut c, t0 + rt).is_empty());
            assert_eq!(state(&c, ip(1)), Some(NeighborState::Stale));
            assert_eq!(c.poll_at(), None, "STALE has no timer");
            seen.insert(rt);
        }
        assert!(seen.len() > 16, "reachable time is not randomised");
    }

    #[test]
    fn same_seed_same_reachable_time() {
        let a = Cache::new(NeighborConfig::default()).reachable_time();
        let b = Cache::new(NeighborConfig::default()).reachable_time();
        assert_eq!(a, b);
    }

    #[test]
    fn reachable_time_is_redrawn_when_base_changes() {
        let mut c = cache();
        c.set_base_reachable_time(Duration::from_secs(2));
        let rt = c.reachable_time();
        assert!(rt >= Duration::from_secs(1) && rt <= Duration::from_secs(3));
        reachable(&mut c, ip(1), ms(0));
        assert_eq!(c.poll_at(), Some(ms(0) + rt));
    }

    #[test]
    fn stale_delay_probe_then_answered_probe_is_reachable() {
        let mut c = cache();
        let a = ip(1);
        stale(&mut c, a, ms(0));
        assert_eq!(c.lookup(a, ms(100)), Some(MAC_A));
        assert_eq!(state(&c, a), Some(NeighborState::Delay));
        assert_eq!(c.poll_at(), Some(ms(5100)));
        // Further lookups in DELAY do not restart the timer.
        assert_eq!(c.lookup(a, ms(2000)), Some(MAC_A));
        assert_eq!(c.poll_at(), Some(ms(5100)));
        assert!(poll(&mut c, ms(5099)).is_empty());
        assert_eq!(poll(&mut c, ms(5100)), vec![unicast(a, MAC_A)]);
        assert_eq!(state(&c, a), Some(NeighborState::Probe));
        assert_eq!(c.lookup(a, ms(5200)), Some(MAC_A));
        assert_eq!(c.stats().probes_sent, 1);
        let r = c.handle_advertisement(a, Some(MAC_A), SOLICITED, ms(5300));
        assert!(r.is_empty());
        assert_eq!(state(&c, a), Some(NeighborState::Reachable));
        assert!(
            poll(&mut c, ms(6100)).is_empty(),
            "no probe after the answer"
        );
    }

    #[test]
    fn remembered_hit_never_outlives_a_change() {
        let mut c = cache();
        let (a, b) = (ip(1), ip(2));
        reachable(&mut c, a, ms(0));
        // Remembered: REACHABLE lookups change nothing.
        assert_eq!(c.lookup(a, ms(1)), Some(MAC_A));
        assert_eq!(c.lookup(a, ms(2)), Some(MAC_A));
        // Aging to STALE (poll) must not leave the remembered answer
        // standing: the next lookup moves the entry to DELAY.
        let rt = c.reachable_time();
        poll(&mut c, ms(0) + rt);
        assert_eq!(state(&c, a), Some(NeighborState::Stale));
        assert_eq!(c.lookup(a, ms(0) + rt), Some(MAC_A));
        assert_eq!(state(&c, a), Some(NeighborState::Delay));
        // A new MAC (override) is seen at once.
        let r = c.handle_advertisement(a, Some(MAC_B), UNSOLICITED_OVERRIDE, ms(0) + rt);
        assert!(r.is_empty());
        assert_eq!(c.lookup(a, ms(0) + rt), Some(MAC_B));
        // Removal and clearing forget it.
        assert!(c.remove(a).is_empty());
        assert_eq!(c.lookup(a, ms(0) + rt), None);
        assert!(c.add_static(b, MAC_A).is_empty());
        assert_eq!(c.lookup(b, ms(0)), Some(MAC_A));
        assert!(c.clear().is_empty());
        assert_eq!(c.lookup(b, ms(0)), None);
        // An INCOMPLETE entry is never remembered.
        assert!(matches!(c.enqueue(a, 7, ms(0)), Enqueued::Queued { .. }));
        assert_eq!(c.lookup(a, ms(0)), None);
    }

    #[test]
    fn confirmation_in_delay_avoids_probing() {
        let mut c = cache();
        stale(&mut c, ip(1), ms(0));
        let _ = c.lookup(ip(1), ms(0));
        assert!(c.confirm_reachable(ip(1), ms(1000)));
        assert_eq!(state(&c, ip(1)), Some(NeighborState::Reachable));
        let d = c.poll_at().unwrap();
        assert_eq!(d, ms(1000) + c.reachable_time());
        assert!(poll(&mut c, d).is_empty());
        assert_eq!(state(&c, ip(1)), Some(NeighborState::Stale));
    }

    #[test]
    fn confirmations_while_reachable_extend_it_without_probes() {
        let mut c = cache();
        let a = ip(1);
        reachable(&mut c, a, ms(0));
        let rt = c.reachable_time();
        let first = c.poll_at().unwrap();
        // An upper layer confirms every 100 ms for five ReachableTimes (well
        // within one 300 s ReachableTime draw): the entry never leaves
        // REACHABLE, no probe is asked for, and the timer is not re-armed
        // per confirmation.
        let end = ms(0) + rt * 5;
        let mut now = ms(0);
        while now < end {
            now += Duration::from_millis(100);
            assert!(c.confirm_reachable(a, now));
            assert!(c.poll_at().unwrap() >= first);
            if c.poll_at().is_some_and(|t| t <= now) {
                assert!(poll(&mut c, now).is_empty());
            }
            assert_eq!(c.lookup(a, now), Some(MAC_A));
            assert_eq!(state(&c, a), Some(NeighborState::Reachable));
        }
        assert!(c.poll_at().unwrap() > first);
        assert_eq!(c.stats().probes_sent, 0);
        // Confirmations stop: STALE exactly one ReachableTime after the last.
        let last = now;
        let mut at = last;
        while state(&c, a) == Some(NeighborState::Reachable) {
            at = c.poll_at().unwrap();
            assert!(poll(&mut c, at).is_empty());
        }
        assert_eq!(at, last + rt);
        assert_eq!(state(&c, a), Some(NeighborState::Stale));
    }

    #[test]
    fn confirm_reachable_needs_a_mac() {
        let mut c = cache();
        let _ = c.enqueue(ip(1), 1, ms(0));
        assert!(!c.confirm_reachable(ip(1), ms(1)));
        assert!(!c.confirm_reachable(ip(2), ms(1)));
        c.add_static(ip(3), MAC_A).packets.clear();
        assert!(!c.confirm_reachable(ip(3), ms(1)));
        assert_eq!(state(&c, ip(1)), Some(NeighborState::Incomplete));
        assert_eq!(state(&c, ip(3)), Some(NeighborState::Static));
    }

    #[test]
    fn unanswered_probes_delete_the_entry() {
        let mut c = cache();
        let a = ip(1);
        stale(&mut c, a, ms(0));
        let _ = c.lookup(a, ms(0));
        assert_eq!(poll(&mut c, ms(5000)), vec![unicast(a, MAC_A)]);
        assert!(poll(&mut c, ms(5999)).is_empty());
        assert_eq!(poll(&mut c, ms(6000)), vec![unicast(a, MAC_A)]);
        assert_eq!(poll(&mut c, ms(7000)), vec![unicast(a, MAC_A)]);
        assert_eq!(state(&c, a), Some(NeighborState::Probe));
        assert!(poll(&mut c, ms(7999)).is_empty());
        assert!(poll(&mut c, ms(8000)).is_empty());
        assert_eq!(state(&c, a), None);
        assert_eq!(c.stats().probes_sent, 3);
        assert_eq!(c.stats().probe_failures, 1);
        assert_eq!(c.lookup(a, ms(8001)), None);
        assert_eq!(c.poll_at(), None);
    }

    #[test]
    fn late_poll_does_one_step_per_timer() {
        let mut c = cache();
        let _ = c.enqueue(ip(1), 1, ms(0));
        // A poll long after the deadline sends one retransmission and
        // re-arms from now; it does not burst.
        assert_eq!(poll(&mut c, ms(10_000)), vec![multicast(ip(1))]);
        assert_eq!(c.poll_at(), Some(ms(11_000)));
    }

    // -- advertisements on existing entries (RFC 4861 7.2.5) -----------------

    #[test]
    fn unsolicited_advert_without_override_different_mac() {
        let mut c = cache();
        let a = ip(1);
        reachable(&mut c, a, ms(0));
        let r = c.handle_advertisement(a, Some(MAC_B), UNSOLICITED, ms(10));
        assert_eq!(r.mac, Some(MAC_A));
        let info = c.get(a).unwrap();
        assert_eq!((info.state, info.mac), (NeighborState::Stale, Some(MAC_A)));
        assert_eq!(c.poll_at(), None);
        // In STALE (or any non-REACHABLE state) it is ignored entirely.
        let _ = c.handle_advertisement(a, Some(MAC_B), SOLICITED, ms(20));
        let info = c.get(a).unwrap();
        assert_eq!((info.state, info.mac), (NeighborState::Stale, Some(MAC_A)));
    }

    #[test]
    fn advert_with_override_updates_the_mac() {
        let mut c = cache();
        let a = ip(1);
        reachable(&mut c, a, ms(0));
        let r = c.handle_advertisement(a, Some(MAC_B), UNSOLICITED_OVERRIDE, ms(10));
        assert_eq!(r.mac, Some(MAC_B));
        let info = c.get(a).unwrap();
        assert_eq!((info.state, info.mac), (NeighborState::Stale, Some(MAC_B)));
        // Solicited + override: updated and REACHABLE.
        let flags = AdvertisementFlags {
            router: true,
            solicited: true,
            override_: true,
        };
        let _ = c.handle_advertisement(a, Some(MAC_A), flags, ms(20));
        let info = c.get(a).unwrap();
        assert_eq!(
            (info.state, info.mac, info.router),
            (NeighborState::Reachable, Some(MAC_A), true)
        );
    }

    #[test]
    fn unsolicited_advert_same_mac_keeps_state() {
        let mut c = cache();
        let a = ip(1);
        reachable(&mut c, a, ms(0));
        let d = c.poll_at();
        let _ = c.handle_advertisement(a, Some(MAC_A), UNSOLICITED, ms(10));
        assert_eq!(state(&c, a), Some(NeighborState::Reachable));
        assert_eq!(c.poll_at(), d, "not a confirmation: timer unchanged");
        stale(&mut c, ip(2), ms(10));
        let _ = c.handle_advertisement(ip(2), Some(MAC_A), UNSOLICITED_OVERRIDE, ms(10));
        assert_eq!(state(&c, ip(2)), Some(NeighborState::Stale));
    }

    #[test]
    fn solicited_advert_without_lladdr_confirms() {
        let mut c = cache();
        stale(&mut c, ip(1), ms(0));
        let _ = c.handle_advertisement(ip(1), None, SOLICITED, ms(5));
        let info = c.get(ip(1)).unwrap();
        assert_eq!(
            (info.state, info.mac),
            (NeighborState::Reachable, Some(MAC_A))
        );
    }

    // -- solicitation source (RFC 4861 7.2.3) --------------------------------

    #[test]
    fn solicitation_source_creates_stale() {
        let mut c = cache();
        let r = c.handle_solicitation_source(ip(1), MAC_A, ms(0));
        assert_eq!(r.mac, Some(MAC_A));
        let info = c.get(ip(1)).unwrap();
        assert_eq!(
            (info.state, info.mac, info.router, info.deadline),
            (NeighborState::Stale, Some(MAC_A), false, None)
        );
        assert_eq!(c.stats().entries_created, 1);
        assert_eq!(c.poll_at(), None);
    }

    #[test]
    fn solicitation_source_resolves_incomplete_to_stale() {
        let mut c = cache();
        let _ = c.enqueue(ip(1), 1, ms(0));
        let _ = c.enqueue(ip(1), 2, ms(0));
        let r = c.handle_solicitation_source(ip(1), MAC_B, ms(10));
        assert_eq!(r.mac, Some(MAC_B));
        assert_eq!(r.packets, vec![1, 2]);
        assert_eq!(state(&c, ip(1)), Some(NeighborState::Stale));
        assert_eq!(c.poll_at(), None, "retransmission timer cancelled");
    }

    #[test]
    fn solicitation_source_same_mac_keeps_state_new_mac_goes_stale() {
        let mut c = cache();
        reachable(&mut c, ip(1), ms(0));
        let _ = c.handle_solicitation_source(ip(1), MAC_A, ms(1));
        assert_eq!(state(&c, ip(1)), Some(NeighborState::Reachable));
        let _ = c.handle_solicitation_source(ip(1), MAC_B, ms(2));
        let info = c.get(ip(1)).unwrap();
        assert_eq!((info.state, info.mac), (NeighborState::Stale, Some(MAC_B)));
    }

    // -- static entries ------------------------------------------------------

    #[test]
    fn static_never_ages_probes_or_learns() {
        let mut c = cache();
        let a = ip(1);
        assert!(c.add_static(a, MAC_A).is_empty());
        assert_eq!(c.poll_at(), None);
        assert_eq!(c.lookup(a, ms(0)), Some(MAC_A));
        let _ = c.handle_advertisement(a, Some(MAC_B), UNSOLICITED_OVERRIDE, ms(1));
        let _ = c.handle_solicitation_source(a, MAC_B, ms(2));
        for t in [10_000, 100_000, 10_000_000] {
            assert!(poll(&mut c, ms(t)).is_empty());
            assert_eq!(c.lookup(a, ms(t)), Some(MAC_A));
        }
        let info = c.get(a).unwrap();
        assert_eq!((info.state, info.mac), (NeighborState::Static, Some(MAC_A)));
        assert_eq!(c.stats().probes_sent, 0);
        assert_eq!(info.state.to_string(), "PERMANENT");
    }

    #[test]
    fn add_static_over_incomplete_releases_queue() {
        let mut c = cache();
        let _ = c.enqueue(ip(1), 1, ms(0));
        let r = c.add_static(ip(1), MAC_B);
        assert_eq!(r.packets, vec![1]);
        assert_eq!(r.mac, Some(MAC_B));
        assert_eq!(c.poll_at(), None);
        assert!(poll(&mut c, ms(5000)).is_empty());
    }

    #[test]
    fn remove_and_clear_return_queued_packets() {
        let mut c = cache();
        let _ = c.enqueue(ip(1), 1, ms(0));
        let _ = c.enqueue(ip(1), 2, ms(0));
        let _ = c.enqueue(ip(2), 3, ms(0));
        c.add_static(ip(3), MAC_A).packets.clear();
        assert_eq!(c.remove(ip(1)), vec![1, 2]);
        assert_eq!(c.remove(ip(1)), Vec::<u32>::new());
        assert_eq!(c.clear(), vec![3]);
        assert!(c.is_empty());
        assert_eq!(c.poll_at(), None);
        assert!(poll(&mut c, ms(100_000)).is_empty());
    }

    // -- table bound -----------------------------------------------------------

    #[test]
    fn eviction_prefers_failed_then_stale_never_static_or_busy() {
        let mut c = Cache::new(NeighborConfig {
            max_entries: 3,
            ..NeighborConfig::default()
        });
        c.add_static(ip(100), MAC_A).packets.clear();
        stale(&mut c, ip(1), ms(0));
        reachable(&mut c, ip(2), ms(0));
        let _ = c.enqueue(ip(3), 3, ms(0));
        // Full: the STALE entry goes.
        assert!(matches!(
            c.enqueue(ip(4), 4, ms(0)),
            Enqueued::Queued { solicit: true, .. }
        ));
        assert_eq!(state(&c, ip(1)), None);
        assert_eq!(c.stats().evictions, 1);
        // Full of busy entries: refused.
        assert_eq!(
            c.enqueue(ip(5), 5, ms(0)),
            Enqueued::Dropped {
                packet: 5,
                reason: DropReason::NeighborUnresolved
            }
        );
        assert!(c.handle_solicitation_source(ip(6), MAC_A, ms(0)).is_empty());
        assert_eq!(state(&c, ip(6)), None);
        assert_eq!(c.stats().table_full, 2);
        // ip(3) and ip(4) fail at 3 s: FAILED entries are evicted first,
        // oldest first, ahead of a STALE one.
        for t in [1000, 2000, 3000] {
            let _ = poll(&mut c, ms(t));
        }
        assert_eq!(state(&c, ip(3)), Some(NeighborState::Failed));
        let _ = c.handle_advertisement(ip(2), Some(MAC_B), UNSOLICITED, ms(3000));
        assert_eq!(state(&c, ip(2)), Some(NeighborState::Stale));
        let _ = c.enqueue(ip(7), 7, ms(3001));
        assert_eq!(state(&c, ip(3)), None);
        assert_eq!(state(&c, ip(4)), Some(NeighborState::Failed));
        assert_eq!(state(&c, ip(2)), Some(NeighborState::Stale));
        assert_eq!(state(&c, ip(100)), Some(NeighborState::Static));
        assert_eq!(c.stats().evictions, 2);
    }

    #[test]
    fn table_stays_bounded_under_an_address_scan() {
        const MAX: usize = 256;
        const N: u32 = 100_000;
        let mut c = Cache::new(NeighborConfig {
            max_entries: MAX,
            ..NeighborConfig::default()
        });
        c.add_static(ip(N + 1), MAC_A).packets.clear();
        let (mut queued, mut dropped, mut failed) = (0u64, 0u64, 0u64);
        let mut out = Vec::new();
        // 10 new addresses per millisecond, plus a few learned neighbors.
        for i in 0..N {
            let now = Instant::from_micros(u64::from(i) * 100);
            match c.enqueue(ip(i), i, now) {
                Enqueued::Queued { dropped: None, .. } => queued += 1,
                Enqueued::Queued {
                    dropped: Some(_), ..
                } => unreachable!("distinct"),
                Enqueued::Dropped { .. } => dropped += 1,
                Enqueued::Resolved { .. } => unreachable!("never learned"),
            }
            if i % 97 == 0 {
                let _ = c.handle_solicitation_source(ip(N + i), MAC_B, now);
            }
            c.poll(now, &mut out);
            for a in out.drain(..) {
                if let NeighborAction::ResolutionFailed { dropped, .. } = a {
                    failed += dropped.len() as u64;
                }
            }
            assert!(c.len() <= MAX + 1, "{} entries", c.len());
        }
        let still: u64 = c.entries().map(|e| e.queued as u64).sum();
        assert_eq!(queued, failed + still, "every queued packet accounted for");
        assert_eq!(queued + dropped, u64::from(N));
        let s = *c.stats();
        // Busy (INCOMPLETE) entries are never evicted: the scan gets a fresh
        // batch of MAX slots each time the previous batch fails (3 s), by
        // evicting the FAILED entries; the rest of the scan is refused.
        assert!(s.evictions >= 3 * MAX as u64, "{s:?}");
        assert_eq!(s.entries_created, MAX as u64 + s.evictions, "{s:?}");
        assert!(s.table_full > 0, "{s:?}");
        assert_eq!(s.unresolved_drops, dropped + failed);
        assert_eq!(state(&c, ip(N + 1)), Some(NeighborState::Static));
        // Internal queues stay bounded too.
        assert!(c.core.evict_failed.len() <= 2 * MAX + 32);
        assert!(c.core.evict_stale.len() <= 2 * MAX + 32);
        assert!(c.core.timers.len() <= MAX);
    }

    #[test]
    fn works_for_ndp_addresses() {
        let mut c: NeighborCache<Ipv6Addr, &'static str> =
            NeighborCache::new(NeighborConfig::default());
        let a: Ipv6Addr = "2001:2::1".parse().unwrap();
        let _ = c.enqueue(a, "p", ms(0));
        let flags = AdvertisementFlags {
            router: true,
            solicited: true,
            override_: true,
        };
        let r = c.handle_advertisement(a, Some(MAC_A), flags, ms(1));
        assert_eq!(r.packets, vec!["p"]);
        assert!(c.get(a).unwrap().router);
        assert_eq!(c.lookup(a, ms(2)), Some(MAC_A));
    }

    // -- poll_at is exact (property) -------------------------------------------

    mod prop {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Lookup(u8),
            Enqueue(u8),
            Advert(u8, Option<bool>, bool, bool, bool),
            SolSource(u8, bool),
            Confirm(u8),
            Static(u8),
            Remove(u8),
            Advance(u64),
            SetBase(u64),
        }

        fn op() -> impl Strategy<Value = Op> {
            let a = 0u8..6;
            prop_oneof![
                3 => a.clone().prop_map(Op::Lookup),
                3 => a.clone().prop_map(Op::Enqueue),
                3 => (a.clone(), proptest::option::of(any::<bool>()), any::<bool>(), any::<bool>(), any::<bool>())
                    .prop_map(|(a, m, r, s, o)| Op::Advert(a, m, r, s, o)),
                2 => (a.clone(), any::<bool>()).prop_map(|(a, m)| Op::SolSource(a, m)),
                2 => a.clone().prop_map(Op::Confirm),
                1 => a.clone().prop_map(Op::Static),
                1 => a.prop_map(Op::Remove),
                6 => (0u64..8_000).prop_map(Op::Advance),
                1 => (1u64..60_000).prop_map(Op::SetBase),
            ]
        }

        fn snapshot(c: &Cache) -> Vec<(Ipv4Addr, NeighborEntryInfo<Ipv4Addr>)> {
            let mut v: Vec<_> = c.entries().map(|e| (e.addr, e)).collect();
            v.sort_by_key(|(a, _)| *a);
            v
        }

        /// Poll every due deadline exactly at its time, checking that
        /// nothing happens a nanosecond earlier and something happens at it.
        fn run_until(c: &mut Cache, target: Instant) -> Result<(), TestCaseError> {
            while let Some(at) = c.poll_at() {
                if at > target {
                    break;
                }
                let min = c.entries().filter_map(|e| e.deadline).min();
                prop_assert_eq!(min, Some(at), "poll_at is the earliest entry deadline");
                if at.total_nanos() > 0 {
                    let before = snapshot(c);
                    let acts = poll(c, Instant::from_nanos(at.total_nanos() - 1));
                    prop_assert!(acts.is_empty(), "action before poll_at: {:?}", acts);
                    prop_assert_eq!(&before, &snapshot(c), "state change before poll_at");
                }
                let before = snapshot(c);
                let acts = poll(c, at);
                prop_assert!(
                    !acts.is_empty() || before != snapshot(c),
                    "poll at poll_at made no progress"
                );
                prop_assert!(c.poll_at().is_none_or(|n| n > at), "due timer left behind");
            }
            let before = snapshot(c);
            prop_assert!(poll(c, target).is_empty());
            prop_assert_eq!(before, snapshot(c));
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn poll_at_is_exact(ops in proptest::collection::vec(op(), 1..80), seed in any::<u64>()) {
                let mut c = Cache::new(NeighborConfig { seed, max_entries: 4, ..NeighborConfig::default() });
                let mut now = Instant::ZERO;
                let mut pkt = 0u32;
                let macs = [MAC_A, MAC_B];
                for op in ops {
                    match op {
                        Op::Lookup(a) => { let _ = c.lookup(ip(a.into()), now); }
                        Op::Enqueue(a) => { pkt += 1; let _ = c.enqueue(ip(a.into()), pkt, now); }
                        Op::Advert(a, m, r, s, o) => {
                            let flags = AdvertisementFlags { router: r, solicited: s, override_: o };
                            let r = c.handle_advertisement(ip(a.into()), m.map(|b| macs[usize::from(b)]), flags, now);
                            prop_assert!(r.packets.is_empty() || r.mac.is_some());
                        }
                        Op::SolSource(a, m) => {
                            let _ = c.handle_solicitation_source(ip(a.into()), macs[usize::from(m)], now);
                        }
                        Op::Confirm(a) => { c.confirm_reachable(ip(a.into()), now); }
                        Op::Static(a) => { let _ = c.add_static(ip(a.into()), MAC_A); }
                        Op::Remove(a) => { let _ = c.remove(ip(a.into())); }
                        Op::Advance(d) => {
                            let target = now + Duration::from_millis(d);
                            run_until(&mut c, target)?;
                            now = target;
                        }
                        Op::SetBase(b) => c.set_base_reachable_time(Duration::from_millis(b)),
                    }
                    // Every armed timer is in the future of the last poll.
                    prop_assert!(c.poll_at().is_none_or(|t| t >= now));
                    // Invariants: MAC iff the state carries one; queues only
                    // while INCOMPLETE; dynamic entries bounded.
                    for e in c.entries() {
                        let has_mac = !matches!(e.state, NeighborState::Incomplete | NeighborState::Failed);
                        prop_assert_eq!(e.mac.is_some(), has_mac, "{:?}", e);
                        prop_assert!(e.queued == 0 || e.state == NeighborState::Incomplete);
                        let armed = !matches!(e.state, NeighborState::Stale | NeighborState::Static);
                        prop_assert_eq!(e.deadline.is_some(), armed, "{:?}", e);
                    }
                    let dynamic = c.entries().filter(|e| e.state != NeighborState::Static).count();
                    prop_assert!(dynamic <= 4);
                    prop_assert_eq!(c.core.dynamic, dynamic);
                    prop_assert_eq!(c.core.timers.len(), c.entries().filter(|e| e.deadline.is_some()).count());
                }
            }
        }
    }
}
