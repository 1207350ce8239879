//! Forwarding information base: routes and longest-prefix match.
//!
//! # Design
//!
//! Two types, split the way the control plane and the packet path use them:
//!
//! * [`RouteTable`] — the control plane. Holds every route (several per
//!   prefix are allowed if their metrics differ; on equal prefix the lowest
//!   metric wins, as in Linux) in a `prefix_trie::PrefixMap` per family. Every
//!   change that alters the best route of a prefix is applied *incrementally*
//!   to the [`Fib`] the table owns, so adding one route costs in proportion to
//!   the address space it covers, never a rebuild.
//! * [`Fib`] — the lookup structure the per-packet path reads. It is
//!   immutable once published: [`RouteTable::snapshot`] returns an
//!   `Arc<Fib>` in O(256 + IPv6 pages) (reference-count bumps, no copying;
//!   ≈7 µs at 500k IPv6 routes). Workers keep
//!   reading their snapshot without locks while the control plane keeps
//!   changing the table; the table's next change copies only the parts a
//!   snapshot still shares (copy-on-write through `Arc::make_mut`).
//!   [`Fib::build`] compiles a table from scratch (same result; used by tests
//!   and for bulk loads).
//!
//! ## IPv4: DIR-24-8, split into 256 copy-on-write chunks
//!
//! The IPv4 structure is DPDK's DIR-24-8 (Gupta, Lin, McKeown, "Routing
//! Lookups in Hardware at Memory Access Speeds", INFOCOM 1998) with the 2^24
//! entry first level cut into 256 chunks, one per /8, each behind an `Arc`:
//!
//! ```text
//! chunk = v4[dst >> 24]                    (256 Arcs, always cached)
//! e     = chunk.tbl[(dst >> 8) & 0xffff]   (65536 × u32, or `uniform` if the
//!                                           chunk holds no prefix longer than /8)
//! if e & EXT: e = chunk.tbl8[group(e) * 256 + (dst & 0xff)]   (prefixes /25–/32)
//! route = chunk.routes[e]                  (slot 0 = no route)
//! ```
//!
//! Entries are slot numbers into the chunk's own route array, so a change
//! inside one /8 copies at most that chunk. A chunk with no prefix longer than
//! /8 stores no table at all (`uniform`), which keeps small tables small and
//! makes their lookups two loads. Updates follow DPDK `rte_lpm`: adding P/L
//! overwrites the entries in P's range whose current prefix is not longer
//! than L; removing P rewrites the entries that point at P with P's longest
//! covering prefix. /25–/32 groups are freed when they become uniform again,
//! and a chunk drops its table when its last prefix longer than /8 goes.
//!
//! ## IPv6: rte_lpm6-style multibit trie with compact tables
//!
//! In the spirit of DPDK `rte_lpm6`: a first level indexed by address bits
//! 0..24, then 8-bit stride tables allocated on demand; every entry is a
//! route slot (0 = none) or a child table:
//!
//! ```text
//! e = dir[dst >> 104]                       (2^24 × u32, pages of 64 Ki)
//! while e is a child:                       (one step per 8 bits past /24)
//!     e = table(e)[next 8 bits of dst]
//! route = routes[e]
//! ```
//!
//! As in `rte_lpm`/`rte_lpm6`, prefixes are leaf-pushed: adding P/L
//! overwrites the entries in P's range (in P's own table, and every table
//! below it) whose route is not more specific than L; the "prefix-length
//! bookkeeping" is the slot's route, whose prefix length is read back. Removing
//! P rewrites the entries holding P's slot with the slot of P's longest
//! covering prefix, which the control plane finds in its `prefix_trie` map
//! (the source of truth). A table left uniform (all one leaf) is freed on the
//! way back up and its parent entry becomes that leaf, so a child table
//! exists exactly while some prefix longer than its depth lies under it (the
//! tests check the incremental FIB has as many tables as a fresh build).
//!
//! Unlike `rte_lpm6`, a table is stored *compactly* when its 256 entries
//! form at most 8 runs of equal values (nearly all tables: one /48 in a /40
//! is 3 runs): one 64-byte line holding the run starts as u16 lanes and the
//! 8 run values; the entry is found with a SWAR compare (no loop, no
//! branch). Only tables with more runs are full (16 lines, 1 KiB). This cut
//! memory 7× on the bench's tables (1050 → 145 MiB at 500k routes) for a
//! few ns per step.
//!
//! Path compression without a second structure: a compact line has four
//! spare words, where a table that is one leaf everywhere but one index
//! keeps a *shortcut* over the chain of such tables below it (up to 7
//! levels with one fallback leaf): one masked compare of the next address
//! bytes instead of a table per byte. A /56 alone under its /24 is then two
//! steps instead of four (the pipeline benchmark's lookup: 273 → 164
//! instructions, callgrind). Updates keep working on the tables; every
//! table stored on the way up from a change refreshes its shortcut (details
//! at `Line`).
//!
//! Copy-on-write: the first level, the table lines and the route slots live
//! in 256 KiB (route slots: 1024-slot) pages behind `Arc`s; a change copies
//! the pages it writes if a snapshot shares them, so a change with a
//! snapshot outstanding costs ≈15–80 µs. Prefix → slot and the free lists
//! live in the [`RouteTable`] (`Lpm6Ctl`), not in the `Fib`, so snapshots do
//! not copy them. Freed tables and slots are reused, and pages are never
//! returned.
//!
//! Memory: one 256 KiB first-level page per /8 that holds a route
//! (2000::/3 in full: 8 MiB), 64 bytes per compact and 1 KiB per full table,
//! ≈56 bytes per route slot, all rounded up to whole pages; a prefix longer
//! than /24 whose path shares no table costs one table per 8 bits past /24
//! (a lone /48: 3 lines; a lone /128: 13). Measured: 1.8 MiB at 1k, 30 MiB at
//! 100k and 145 MiB at 500k realistic routes (2.1 tables per route, 6% full),
//! 35 MiB for 100k uniformly random prefixes; prefix-trie: 0.2/13.5/86/21.5
//! MiB. The control side adds ≈40 bytes per prefix (slot map).
//!
//! ## Costs (measured, `bench/lpm.rs`, shared 2-core machine)
//!
//! * IPv6 lookup (realistic mix, half of the addresses inside a route):
//!   1k routes ≈29 ns (prefix-trie ≈61 ns in the same run; ≈17 ns before
//!   tables were made compact). At 100k and 500k routes the lookups are bound by
//!   DRAM and TLB misses — 4–7 dependent loads into 30–150 MiB, on a VM with
//!   4 KiB pages — and ran 120–830 ns over three runs, depending on how
//!   loaded the shared machine was: 0.7–0.95× prefix-trie's time in the same
//!   run (0.47× for
//!   random prefixes). **The ≤ 30 ns target at 500k routes is not met.**
//!   Reaching it needs about two dependent misses per lookup, as IPv4's
//!   DIR-24-8 has. The next step is a hash index at /48 and /64 that jumps
//!   straight to the entry below it, with the trie as fallback for the
//!   other lengths.
//! * IPv6 add ≈3–8 µs, remove ≈4–13 µs per route at 100k–500k (each
//!   touched table is decoded to 256 entries and re-encoded); a prefix of
//!   /24 or shorter rewrites 2^(24−L) first-level entries (/0: 16 Mi).
//! * IPv4 lookup: ≈6.5 ns at 1k routes, ≈13 ns at 500k routes
//!   (prefix-trie's own `get_lpm` on the same routes: ≈21 ns / ≈71 ns).
//! * Adding a route: ≈1.4 µs at 500k routes. The first prefix longer than /8
//!   in a /8 materialises that chunk's 256 KiB table (≈18 µs), which
//!   dominates for small random tables. A /0–/7 prefix rewrites up to 256
//!   chunks.
//! * Snapshot: ≈2–15 µs (256 `Arc` clones plus the allocation), plus
//!   ≈3–7 µs for the IPv6 pages at 100k–500k routes.
//!
//! ## Memory (IPv4; IPv6 above)
//!
//! * empty table: 256 pointers (all chunks share one empty chunk);
//! * each /8 holding a prefix longer than /8: 256 KiB of `tbl`, 1 KiB per /24
//!   holding a prefix longer than /24, and per prefix overlapping the chunk
//!   one route slot plus one hash-map entry (≈80 bytes);
//! * so 1k random routes already cost ≈64 MiB (every /8 materialised), and
//!   the bench's 500k routes (10% longer than /24) ≈162 MiB. Each
//!   outstanding snapshot that differs from the table costs the chunks that
//!   changed since. [`Fib::memory_bytes`] reports the figure for one Fib.
//!
//! # Contracts
//!
//! * Prefixes are normalised (`trunc()`): `10.1.2.3/8` is stored as `10.0.0.0/8`.
//! * A gateway must have the family of its prefix ([`RouteError::FamilyMismatch`]).
//! * Lookups never allocate, never panic, and return the best route of the
//!   longest matching prefix, or `None`. Blackhole and unreachable routes are
//!   returned like any other; the caller counts
//!   [`DropReason::BlackholeRoute`](crate::stack::DropReason::BlackholeRoute) /
//!   `UnreachableRoute`.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::ops::RangeInclusive;
use std::collections::HashMap;
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::{Prefix, PrefixMap};

use crate::stack::NicId;

/// Where packets matching a route go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// The destination is on the link of `nic` (resolve the destination itself).
    Connected {
        /// Egress NIC.
        nic: NicId,
    },
    /// Forward to `gateway` through `nic` (resolve the gateway).
    Gateway {
        /// Egress NIC.
        nic: NicId,
        /// Next-hop router; same family as the route's prefix.
        gateway: IpAddr,
    },
    /// Discard silently.
    Blackhole,
    /// Discard and answer with ICMP destination unreachable.
    Unreachable,
}

impl NextHop {
    /// The egress NIC, if packets leave through one.
    pub fn nic(&self) -> Option<NicId> {
        match *self {
            NextHop::Connected { nic } | NextHop::Gateway { nic, .. } => Some(nic),
            NextHop::Blackhole | NextHop::Unreachable => None,
        }
    }
}

/// One route: a prefix, what to do with matching packets, and a preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// Destination prefix (host bits zero once in a table).
    pub prefix: IpNet,
    /// Where matching packets go.
    pub next_hop: NextHop,
    /// Preference among routes of the same prefix; lowest wins.
    pub metric: u32,
}

impl Route {
    /// A connected route (metric 0) for `prefix` on `nic`.
    pub fn connected(prefix: IpNet, nic: NicId) -> Route {
        Route {
            prefix: prefix.trunc(),
            next_hop: NextHop::Connected { nic },
            metric: 0,
        }
    }

    /// A route to `prefix` via `gateway` on `nic`.
    pub fn gateway(prefix: IpNet, nic: NicId, gateway: IpAddr, metric: u32) -> Route {
        Route {
            prefix: prefix.trunc(),
            next_hop: NextHop::Gateway { nic, gateway },
            metric,
        }
    }

    /// A blackhole route for `prefix`.
    pub fn blackhole(prefix: IpNet, metric: u32) -> Route {
        Route {
            prefix: prefix.trunc(),
            next_hop: NextHop::Blackhole,
            metric,
        }
    }

    /// An unreachable route for `prefix`.
    pub fn unreachable(prefix: IpNet, metric: u32) -> Route {
        Route {
            prefix: prefix.trunc(),
            next_hop: NextHop::Unreachable,
            metric,
        }
    }
}

/// Why a route change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// A route with this prefix and metric already exists.
    Exists {
        /// The prefix.
        prefix: IpNet,
        /// The metric.
        metric: u32,
    },
    /// No route with this prefix (and metric, where given).
    NotFound {
        /// The prefix.
        prefix: IpNet,
    },
    /// The gateway's address family differs from the prefix's.
    FamilyMismatch {
        /// The prefix.
        prefix: IpNet,
        /// The gateway.
        gateway: IpAddr,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::Exists { prefix, metric } => {
                write!(f, "route {prefix} metric {metric} already exists")
            }
            RouteError::NotFound { prefix } => write!(f, "no route for {prefix}"),
            RouteError::FamilyMismatch { prefix, gateway } => {
                write!(f, "gateway {gateway} is not in the family of {prefix}")
            }
        }
    }
}

impl std::error::Error for RouteError {}

/// The control-plane routing table; owns an incrementally maintained [`Fib`].
#[derive(Clone, Default)]
pub struct RouteTable {
    v4: PrefixMap<Ipv4Net, Vec<Route>>,
    v6: PrefixMap<Ipv6Net, Vec<Route>>,
    len: usize,
    fib: Fib,
    v6_ctl: Lpm6Ctl,
}

impl fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.routes()).finish()
    }
}

/// Apply `f` to the (metric-sorted) route list of `p`; returns `f`'s result
/// and the best route before and after. Empty lists are removed.
fn mutate_list<P: Prefix + Copy, T>(
    map: &mut PrefixMap<P, Vec<Route>>,
    len: &mut usize,
    p: P,
    f: impl FnOnce(&mut Vec<Route>) -> Result<T, RouteError>,
) -> Result<(T, Option<Route>, Option<Route>), RouteError> {
    let list = map.entry(p).or_default();
    let before = list.first().copied();
    let n0 = list.len();
    let res = f(list);
    let after = list.first().copied();
    let n1 = list.len();
    if list.is_empty() {
        map.remove(&p);
    }
    *len = (*len + n1).saturating_sub(n0);
    res.map(|t| (t, before, after))
}

impl RouteTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of routes (all metrics).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every route, IPv4 then IPv6, in prefix order, best first per prefix.
    pub fn routes(&self) -> impl Iterator<Item = &Route> + '_ {
        self.v4
            .iter()
            .flat_map(|(_, l)| l.iter())
            .chain(self.v6.iter().flat_map(|(_, l)| l.iter()))
    }

    /// The routes of one prefix (normalised), best first.
    pub fn get(&self, prefix: IpNet) -> &[Route] {
        let l = match prefix.trunc() {
            IpNet::V4(p) => self.v4.get(&p),
            IpNet::V6(p) => self.v6.get(&p),
        };
        l.map_or(&[], |l| l.as_slice())
    }

    /// The lookup structure kept in step with this table.
    pub fn fib(&self) -> &Fib {
        &self.fib
    }

    /// An immutable snapshot of the current FIB for the workers: one
    /// reference-count bump per IPv4 chunk (256) and per IPv6 page.
    pub fn snapshot(&self) -> Arc<Fib> {
        Arc::new(self.fib.clone())
    }

    fn normalise(route: Route) -> Result<Route, RouteError> {
        let prefix = route.prefix.trunc();
        if let NextHop::Gateway { gateway, .. } = route.next_hop {
            if gateway.is_ipv4() != matches!(prefix, IpNet::V4(_)) {
                return Err(RouteError::FamilyMismatch { prefix, gateway });
            }
        }
        Ok(Route { prefix, ..route })
    }

    /// Run `f` on the route list of `prefix` and push a changed best route
    /// into the FIB.
    fn apply<T>(
        &mut self,
        prefix: IpNet,
        f: impl FnOnce(&mut Vec<Route>) -> Result<T, RouteError>,
    ) -> Result<T, RouteError> {
        match prefix.trunc() {
            IpNet::V4(p) => {
                let (t, before, after) = mutate_list(&mut self.v4, &mut self.len, p, f)?;
                if before != after {
                    match after {
                        Some(r) => self.fib.set_v4(p, r),
                        None => {
                            let cover = p
                                .supernet()
                                .and_then(|s| self.v4.get_lpm(&s))
                                .and_then(|(cp, l)| l.first().map(|r| (cp, *r)));
                            self.fib.unset_v4(p, cover);
                        }
                    }
                }
                Ok(t)
            }
            IpNet::V6(p) => {
                let (t, before, after) = mutate_list(&mut self.v6, &mut self.len, p, f)?;
                if before != after {
                    match after {
                        Some(r) => self.fib.v6.set(&mut self.v6_ctl, p, r),
                        None => {
                            let cover = p
                                .supernet()
                                .and_then(|s| self.v6.get_lpm(&s))
                                .map(|(cp, _)| cp);
                            self.fib.v6.unset(&mut self.v6_ctl, p, cover);
                        }
                    }
                }
                Ok(t)
            }
        }
    }

    /// Add a route. Fails if the prefix already has a route with this metric.
    pub fn add(&mut self, route: Route) -> Result<(), RouteError> {
        let route = Self::normalise(route)?;
        self.apply(route.prefix, |l| {
            let at = l.partition_point(|r| r.metric < route.metric);
            if l.get(at).is_some_and(|r| r.metric == route.metric) {
                return Err(RouteError::Exists {
                    prefix: route.prefix,
                    metric: route.metric,
                });
            }
            l.insert(at, route);
            Ok(())
        })
    }

    /// Add a route, replacing the one with the same prefix and metric if any
    /// (returned).
    pub fn replace(&mut self, route: Route) -> Result<Option<Route>, RouteError> {
        let route = Self::normalise(route)?;
        self.apply(route.prefix, |l| {
            let at = l.partition_point(|r| r.metric < route.metric);
            match l.get_mut(at) {
                Some(r) if r.metric == route.metric => Ok(Some(core::mem::replace(r, route))),
                _ => {
                    l.insert(at, route);
                    Ok(None)
                }
            }
        })
    }

    /// Remove every route of `prefix` (normalised); returns them, best first.
    pub fn remove(&mut self, prefix: IpNet) -> Result<Vec<Route>, RouteError> {
        let prefix = prefix.trunc();
        self.apply(prefix, |l| {
            if l.is_empty() {
                Err(RouteError::NotFound { prefix })
            } else {
                Ok(core::mem::take(l))
            }
        })
    }

    /// Remove the route of `prefix` with `metric`.
    pub fn remove_route(&mut self, prefix: IpNet, metric: u32) -> Result<Route, RouteError> {
        let prefix = prefix.trunc();
        self.apply(prefix, |l| {
            match l.iter().position(|r| r.metric == metric) {
                Some(i) => Ok(l.remove(i)),
                None => Err(RouteError::NotFound { prefix }),
            }
        })
    }

    /// Remove every route whose next hop uses `nic` (the NIC went away).
    /// Returns how many were removed.
    pub fn remove_nic(&mut self, nic: NicId) -> usize {
        let doomed: Vec<Route> = self
            .routes()
            .filter(|r| r.next_hop.nic() == Some(nic))
            .copied()
            .collect();
        doomed
            .iter()
            .filter(|r| self.remove_route(r.prefix, r.metric).is_ok())
            .count()
    }

    /// Add the connected route implied by an interface address, e.g.
    /// `198.18.0.1/24` on `nic` gives `198.18.0.0/24` connected, metric 0.
    pub fn add_connected(&mut self, nic: NicId, addr: IpNet) -> Result<(), RouteError> {
        self.add(Route::connected(addr, nic))
    }

    /// Add a static route via a gateway.
    pub fn add_gateway(
        &mut self,
        prefix: IpNet,
        nic: NicId,
        gateway: IpAddr,
        metric: u32,
    ) -> Result<(), RouteError> {
        self.add(Route::gateway(prefix, nic, gateway, metric))
    }

    /// Add a default route (`0.0.0.0/0` or `::/0`, by the gateway's family).
    pub fn add_default(
        &mut self,
        nic: NicId,
        gateway: IpAddr,
        metric: u32,
    ) -> Result<(), RouteError> {
        let prefix = match gateway {
            IpAddr::V4(_) => IpNet::V4(Ipv4Net::default()),
            IpAddr::V6(_) => IpNet::V6(Ipv6Net::default()),
        };
        self.add_gateway(prefix, nic, gateway, metric)
    }

    /// Add a blackhole route.
    pub fn add_blackhole(&mut self, prefix: IpNet, metric: u32) -> Result<(), RouteError> {
        self.add(Route::blackhole(prefix, metric))
    }

    /// Add an unreachable route.
    pub fn add_unreachable(&mut self, prefix: IpNet, metric: u32) -> Result<(), RouteError> {
        self.add(Route::unreachable(prefix, metric))
    }
}

// ---------------------------------------------------------------------------
// The FIB.

const CHUNKS: usize = 256;
const TBL_LEN: usize = 1 << 16;
const GROUP: usize = 256;
/// Entry flag: the low bits are a /25–/32 group number.
const EXT: u32 = 1 << 31;

/// One /8 of the IPv4 DIR-24-8 structure (see the module docs).
#[derive(Clone)]
struct Chunk4 {
    /// The entry of every address when `tbl` is empty.
    uniform: u32,
    /// Empty, or `TBL_LEN` entries indexed by address bits 8..24.
    tbl: Box<[u32]>,
    /// /25–/32 groups of `GROUP` entries, indexed by address bits 0..8.
    tbl8: Vec<u32>,
    free_groups: Vec<u32>,
    /// Best route per slot; slot 0 is "no route" and stays `None`.
    routes: Vec<Option<Route>>,
    free_slots: Vec<u32>,
    /// The slot of every table prefix overlapping this chunk.
    slots: HashMap<Ipv4Net, u32>,
    /// How many of those prefixes are longer than /8.
    deep: usize,
}

impl Default for Chunk4 {
    fn default() -> Self {
        Chunk4 {
            uniform: 0,
            tbl: Box::default(),
            tbl8: Vec::new(),
            free_groups: Vec::new(),
            routes: vec![None],
            free_slots: Vec::new(),
            slots: HashMap::new(),
            deep: 0,
        }
    }
}

/// Prefix length of the route an entry points at; -1 for "no route".
#[inline]
fn depth(routes: &[Option<Route>], e: u32) -> i32 {
    match routes.get(e as usize) {
        Some(Some(r)) => i32::from(r.prefix.prefix_len()),
        _ => -1,
    }
}

/// The `tbl` index range of a prefix within its chunk.
fn tbl_range(p: Ipv4Net) -> core::ops::Range<usize> {
    let l = p.prefix_len();
    if l <= 8 {
        return 0..TBL_LEN;
    }
    let lo = ((u32::from(p.network()) >> 8) & 0xffff) as usize;
    lo..lo + (1usize << (24 - l.min(24)))
}

/// The group index range of a /25–/32 prefix.
fn group_range(p: Ipv4Net) -> core::ops::Range<usize> {
    let lo = (u32::from(p.network()) & 0xff) as usize;
    lo..lo + (1usize << (32 - p.prefix_len().clamp(24, 32)))
}

impl Chunk4 {
    fn alloc_slot(&mut self, p: Ipv4Net, r: Route) -> u32 {
        let s = match self.free_slots.pop() {
            Some(s) => {
                if let Some(slot) = self.routes.get_mut(s as usize) {
                    *slot = Some(r);
                }
                s
            }
            None => {
                self.routes.push(Some(r));
                u32::try_from(self.routes.len() - 1).unwrap_or(0)
            }
        };
        self.slots.insert(p, s);
        if p.prefix_len() > 8 {
            self.deep += 1;
        }
        s
    }

    fn alloc_group(&mut self, fill: u32) -> usize {
        match self.free_groups.pop() {
            Some(g) => {
                let base = g as usize * GROUP;
                if let Some(grp) = self.tbl8.get_mut(base..base + GROUP) {
                    grp.fill(fill);
                }
                g as usize
            }
            None => {
                let g = self.tbl8.len() / GROUP;
                self.tbl8.resize(self.tbl8.len() + GROUP, fill);
                g
            }
        }
    }

    /// Install `r` as the best route of `p` (new prefix, or new best route).
    fn set(&mut self, p: Ipv4Net, r: Route) {
        if let Some(&s) = self.slots.get(&p) {
            if let Some(slot) = self.routes.get_mut(s as usize) {
                *slot = Some(r);
            }
            return;
        }
        let s = self.alloc_slot(p, r);
        self.paint(p, s);
    }

    /// Point every entry in `p`'s range whose prefix is not longer than `p`
    /// at slot `s`.
    fn paint(&mut self, p: Ipv4Net, s: u32) {
        let l = i32::from(p.prefix_len());
        if self.tbl.is_empty() {
            if l <= 8 {
                if depth(&self.routes, self.uniform) <= l {
                    self.uniform = s;
                }
                return;
            }
            self.tbl = vec![self.uniform; TBL_LEN].into_boxed_slice();
        }
        let range = tbl_range(p);
        if l <= 24 {
            let Some(entries) = self.tbl.get_mut(range) else {
                return;
            };
            for e in entries {
                if *e & EXT != 0 {
                    let base = (*e & !EXT) as usize * GROUP;
                    if let Some(grp) = self.tbl8.get_mut(base..base + GROUP) {
                        for x in grp {
                            if depth(&self.routes, *x) <= l {
                                *x = s;
                            }
                        }
                    }
                } else if depth(&self.routes, *e) <= l {
                    *e = s;
                }
            }
        } else {
            let i = range.start;
            let Some(&e) = self.tbl.get(i) else { return };
            let g = if e & EXT != 0 {
                (e & !EXT) as usize
            } else {
                let g = self.alloc_group(e);
                if let Some(slot) = self.tbl.get_mut(i) {
                    *slot = EXT | g as u32;
                }
                g
            };
            let gr = group_range(p);
            let base = g * GROUP;
            if let Some(xs) = self.tbl8.get_mut(base + gr.start..base + gr.end) {
                for x in xs {
                    if depth(&self.routes, *x) <= l {
                        *x = s;
                    }
                }
            }
        }
    }

    /// Remove `p`; its entries fall back to `cover`, the best route of its
    /// longest covering prefix.
    fn unset(&mut self, p: Ipv4Net, cover: Option<(Ipv4Net, Route)>) {
        let Some(s) = self.slots.remove(&p) else {
            return;
        };
        let new = match cover {
            Some((cp, cr)) => match self.slots.get(&cp) {
                Some(&c) => c,
                // Unreachable while the invariant "every table prefix
                // overlapping the chunk has a slot" holds; stay correct anyway.
                None => self.alloc_slot(cp, cr),
            },
            None => 0,
        };
        let l = p.prefix_len();
        if self.tbl.is_empty() {
            if self.uniform == s {
                self.uniform = new;
            }
        } else if l <= 24 {
            if let Some(entries) = self.tbl.get_mut(tbl_range(p)) {
                for e in entries {
                    if *e & EXT != 0 {
                        let base = (*e & !EXT) as usize * GROUP;
                        if let Some(grp) = self.tbl8.get_mut(base..base + GROUP) {
                            grp.iter_mut().filter(|x| **x == s).for_each(|x| *x = new);
                        }
                    } else if *e == s {
                        *e = new;
                    }
                }
            }
        } else {
            let i = tbl_range(p).start;
            if let Some(&e) = self.tbl.get(i) {
                if e & EXT != 0 {
                    let g = (e & !EXT) as usize;
                    let base = g * GROUP;
                    let gr = group_range(p);
                    if let Some(xs) = self.tbl8.get_mut(base + gr.start..base + gr.end) {
                        xs.iter_mut().filter(|x| **x == s).for_each(|x| *x = new);
                    }
                    // Collapse a group that became uniform.
                    if let Some(grp) = self.tbl8.get(base..base + GROUP) {
                        let first = grp.first().copied().unwrap_or(0);
                        if grp.iter().all(|&x| x == first) {
                            if let Some(slot) = self.tbl.get_mut(i) {
                                *slot = first;
                            }
                            self.free_groups.push(g as u32);
                        }
                    }
                }
            }
        }
        if let Some(slot) = self.routes.get_mut(s as usize) {
            *slot = None;
            self.free_slots.push(s);
        }
        if l > 8 {
            self.deep = self.deep.saturating_sub(1);
            if self.deep == 0 && !self.tbl.is_empty() {
                // Only prefixes covering the whole chunk remain: every entry
                // is the same plain slot.
                self.uniform = self.tbl.first().copied().unwrap_or(0) & !EXT;
                self.tbl = Box::default();
                self.tbl8 = Vec::new();
                self.free_groups = Vec::new();
            }
        }
    }

    #[inline(always)]
    fn lookup(&self, a: u32) -> Option<&Route> {
        let mut e = match self.tbl.get(((a >> 8) & 0xffff) as usize) {
            Some(&e) => e,
            None => self.uniform,
        };
        if e & EXT != 0 {
            let i = ((e & !EXT) as usize) * GROUP + (a & 0xff) as usize;
            e = self.tbl8.get(i).copied().unwrap_or(0);
        }
        self.routes.get(e as usize)?.as_ref()
    }

    fn memory_bytes(&self) -> usize {
        use core::mem::size_of;
        size_of::<Chunk4>()
            + self.tbl.len() * 4
            + self.tbl8.capacity() * 4
            + self.routes.capacity() * size_of::<Option<Route>>()
            + (self.free_slots.capacity() + self.free_groups.capacity()) * 4
            // hashbrown: key + value + one control byte per bucket.
            + self.slots.capacity() * (size_of::<(Ipv4Net, u32)>() + 1)
    }
}

/// The chunks a prefix spans.
fn chunk_span(p: Ipv4Net) -> RangeInclusive<usize> {
    let first = (u32::from(p.network()) >> 24) as usize;
    let l = p.prefix_len();
    if l >= 8 {
        first..=first
    } else {
        first..=(first + (1usize << (8 - l)) - 1).min(CHUNKS - 1)
    }
}

// ---------------------------------------------------------------------------
// IPv6: rte_lpm6-style multibit trie with compact stride tables (see the
// module docs).

/// Address bits resolved by the first-level table.
const V6_FIRST: u32 = 24;
/// Address bits resolved by each child table (one byte: `Lpm6::lookup`
/// relies on it).
const V6_STRIDE: u32 = 8;
/// Entries per child table.
const TBL6: usize = 1 << V6_STRIDE;
/// log2 of the first-level entries per copy-on-write page (256 KiB).
const DIR_PAGE_BITS: u32 = 16;
const DIR_PAGE: usize = 1 << DIR_PAGE_BITS;
/// log2 of the 64-byte lines per copy-on-write node page (256 KiB).
const LINE_PAGE_BITS: u32 = 12;
const LINE_PAGE: usize = 1 << LINE_PAGE_BITS;
/// Lines of a full (256-entry) table.
const FULL_LINES: u32 = (TBL6 / 16) as u32;
/// log2 of the route slots per copy-on-write route page.
const RPAGE_BITS: u32 = 10;
const RPAGE: usize = 1 << RPAGE_BITS;
/// Entry flag: a child table (else a route slot; 0 = no route).
const CHILD: u32 = 1 << 31;
/// Child flag: the table is compact (one line) rather than full.
const COMPACT: u32 = 1 << 30;
/// The line index of a child entry.
const LINE_IDX: u32 = COMPACT - 1;
/// Runs of equal entries a compact table holds.
const RUNS: usize = 8;
/// Start of an unused run: above every index, and small enough for the SWAR
/// compare in [`runs_le`] not to borrow across lanes.
const NO_RUN: u32 = 0x1ff;
/// Levels (address bytes) one shortcut skips at most: its key and length
/// share one u64.
const SKIP_MAX: u32 = 7;
/// Word of a compact line holding its shortcut's fallback leaf; the target
/// entry and the key follow (see [`Line`]).
const SKIP_WORD: usize = 12;

/// 64 bytes, cache-line aligned: a compact table, or 1/16 of a full one.
///
/// Compact layout: words 0–3 hold the start index of runs 0–7 as u16 lanes
/// (`NO_RUN` when unused; run 0 starts at 0), words 4–11 their entries,
/// words 12–15 the table's *shortcut* (all zero: none).
///
/// A shortcut is path compression kept beside the table, not instead of
/// it: a *single-exception* table — every entry one leaf `L` but one, at
/// index `x` — is how a sparse trie spends its levels (a /56 alone under
/// its /24 walks three such tables before the one that tells it from its
/// neighbours). If the exception is a child whose table is single-exception
/// with the same `L` in turn, and so on, the walk down that chain either
/// follows every `x` and arrives at the chain's last exception `D`, or
/// leaves it at the first other byte and ends at `L`. So the shortcut holds
/// `L` (word 12), `D` (word 13) and, in words 14–15 as one u64, the chain's
/// `m` ≤ [`SKIP_MAX`] index bytes left-aligned with `m` in the low byte: a
/// lookup compares `m` address bytes at once instead of walking `m` tables.
/// The tables stay, so updates work on them as before; every table an
/// update stores (or finds unchanged) below a change is on the path from
/// the change up, and refreshes its shortcut after its children (see
/// [`Lpm6::refresh_shortcut`]).
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Line([u32; 16]);

/// How many of the four u16 lanes of `starts` are ≤ `x` (x < 256).
#[inline]
fn runs_le(starts: u64, x: u64) -> u64 {
    const HI: u64 = 0x8000_8000_8000_8000;
    const ONES: u64 = 0x0001_0001_0001_0001;
    let t = ((x * ONES) | HI).wrapping_sub(starts) & HI;
    (t >> 15).wrapping_mul(ONES) >> 48
}

/// Entry `i` of the compact table in `w` (see [`Line`]).
#[inline]
fn packed_get(w: &[u32; 16], i: u32) -> u32 {
    let lo = u64::from(w[0]) | u64::from(w[1]) << 32;
    let hi = u64::from(w[2]) | u64::from(w[3]) << 32;
    let n = runs_le(lo, u64::from(i)) + runs_le(hi, u64::from(i));
    w.get((3 + n as usize) & 15).copied().unwrap_or(0)
}

impl Line {
    /// Entry `i` of this compact table.
    #[inline]
    fn compact_get(&self, i: u32) -> u32 {
        packed_get(&self.0, i)
    }

    /// `t` as a compact table, if it has at most `RUNS` runs.
    fn compact(t: &[u32; TBL6]) -> Option<Line> {
        let mut line = Line([0; 16]);
        let mut starts = [NO_RUN; RUNS];
        let mut n = 0;
        for (i, &e) in t.iter().enumerate() {
            if i == 0 || t.get(i - 1) != Some(&e) {
                *starts.get_mut(n)? = i as u32;
                *line.0.get_mut(4 + n)? = e;
                n += 1;
            }
        }
        for (k, s) in starts.iter().enumerate() {
            if let Some(w) = line.0.get_mut(k / 2) {
                *w |= s << (16 * (k % 2));
            }
        }
        Some(line)
    }

    /// The 256 entries of this compact table.
    fn expand(&self) -> [u32; TBL6] {
        core::array::from_fn(|i| self.compact_get(i as u32))
    }

    /// `(L, x, E)` when this compact table is the leaf `L` everywhere but
    /// at index `x`, which holds `E`.
    fn single_exception(&self) -> Option<(u32, u32, u32)> {
        let t = self.expand();
        // With one exception, two of the first three entries are `L`.
        let l = if t[0] == t[1] { t[0] } else { t[2] };
        if l & CHILD != 0 {
            return None;
        }
        let mut others = t.iter().enumerate().filter(|(_, e)| **e != l);
        let (x, &e) = others.next()?;
        match others.next() {
            None => Some((l, x as u32, e)),
            Some(_) => None,
        }
    }
}

/// The lookup side of the IPv6 trie: first-level pages, table lines and
/// route slots, each copy-on-write per page. Cloning bumps one reference
/// count per page.
#[derive(Clone, Default)]
struct Lpm6 {
    /// The first level, `2^24` entries indexed by address bits 0..24, in
    /// pages of `DIR_PAGE`; `None` is an all-zero page nobody wrote yet.
    dir: Vec<Option<Arc<[u32]>>>,
    /// Child tables: a compact table is one line, a full one `FULL_LINES`
    /// consecutive lines (entry `i` in line `i / 16`, word `i % 16`).
    lines: Vec<Option<Arc<[Line]>>>,
    /// Best route per slot, `RPAGE` per page; slot 0 is "no route".
    routes: Vec<Arc<[Option<Route>]>>,
    /// Prefixes installed.
    prefixes: usize,
    /// Live child tables, and how many of them are full.
    tables: usize,
    full_tables: usize,
}

/// The control-plane bookkeeping of one [`Lpm6`], kept out of the `Fib` so
/// snapshots do not copy it: prefix → slot and the free lists.
#[derive(Clone, Default)]
struct Lpm6Ctl {
    slots: HashMap<Ipv6Net, u32>,
    free_slots: Vec<u32>,
    /// Slots ever used (slot 0 is reserved, so the next new one is this + 1).
    used_slots: u32,
    free_lines: Vec<u32>,
    free_fulls: Vec<u32>,
    /// Lines ever used.
    used_lines: u32,
}

impl Lpm6Ctl {
    fn alloc_slot(&mut self) -> u32 {
        match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.used_slots += 1;
                self.used_slots
            }
        }
    }

    fn alloc_line(&mut self) -> u32 {
        match self.free_lines.pop() {
            Some(l) => l,
            None => {
                self.used_lines += 1;
                self.used_lines - 1
            }
        }
    }

    /// `FULL_LINES` consecutive lines, never across a page.
    fn alloc_full(&mut self) -> u32 {
        if let Some(l) = self.free_fulls.pop() {
            return l;
        }
        while !self.used_lines.is_multiple_of(FULL_LINES) {
            self.free_lines.push(self.used_lines);
            self.used_lines += 1;
        }
        self.used_lines += FULL_LINES;
        self.used_lines - FULL_LINES
    }
}

/// Prefix length of the route in slot `s`; -1 for "no route".
#[inline]
fn depth6(routes: &[Arc<[Option<Route>]>], s: u32) -> i32 {
    if s == 0 {
        return -1;
    }
    match routes
        .get((s >> RPAGE_BITS) as usize)
        .and_then(|p| p.get(s as usize & (RPAGE - 1)))
    {
        Some(Some(r)) => i32::from(r.prefix.prefix_len()),
        _ => -1,
    }
}

/// Page `pi` of `pages`, materialised (`n` default items) and unshared.
fn page_mut<T: Clone + Default>(
    pages: &mut Vec<Option<Arc<[T]>>>,
    pi: usize,
    n: usize,
) -> Option<&mut [T]> {
    if pages.len() <= pi {
        pages.resize(pi + 1, None);
    }
    let p = pages
        .get_mut(pi)?
        .get_or_insert_with(|| Arc::from(vec![T::default(); n]));
    Some(Arc::make_mut(p))
}

/// A change applied to the leaves under a prefix.
#[derive(Clone, Copy)]
enum Op6 {
    /// Adding slot `s` of a /`l`: leaves no more specific than /`l` become `s`.
    Add { s: u32, l: i32 },
    /// Removing slot `s`: its leaves become `new` (the covering prefix).
    Del { s: u32, new: u32 },
}

impl Op6 {
    /// The new value of the leaf entry `e`.
    #[inline]
    fn leaf(self, routes: &[Arc<[Option<Route>]>], e: u32) -> u32 {
        match self {
            Op6::Add { s, l } if depth6(routes, e) <= l => s,
            Op6::Del { s, new } if e == s => new,
            _ => e,
        }
    }
}

impl Lpm6 {
    #[inline]
    fn dir_entry(&self, i: usize) -> u32 {
        match self.dir.get(i >> DIR_PAGE_BITS) {
            Some(Some(p)) => p.get(i & (DIR_PAGE - 1)).copied().unwrap_or(0),
            _ => 0,
        }
    }

    fn set_dir_entry(&mut self, i: usize, v: u32) {
        if self.dir_entry(i) == v {
            return;
        }
        if let Some(e) = page_mut(&mut self.dir, i >> DIR_PAGE_BITS, DIR_PAGE)
            .and_then(|p| p.get_mut(i & (DIR_PAGE - 1)))
        {
            *e = v;
        }
    }

    #[inline]
    fn line(&self, l: usize) -> Option<&Line> {
        match self.lines.get(l >> LINE_PAGE_BITS) {
            Some(Some(p)) => p.get(l & (LINE_PAGE - 1)),
            _ => None,
        }
    }

    fn line_mut(&mut self, l: usize) -> Option<&mut Line> {
        page_mut(&mut self.lines, l >> LINE_PAGE_BITS, LINE_PAGE)?.get_mut(l & (LINE_PAGE - 1))
    }

    #[inline]
    fn route(&self, s: u32) -> Option<&Route> {
        self.routes
            .get((s >> RPAGE_BITS) as usize)?
            .get(s as usize & (RPAGE - 1))?
            .as_ref()
    }

    fn set_route(&mut self, s: u32, r: Option<Route>) {
        let pi = (s >> RPAGE_BITS) as usize;
        while self.routes.len() <= pi {
            self.routes.push(Arc::from(vec![None; RPAGE]));
        }
        if let Some(slot) = self
            .routes
            .get_mut(pi)
            .and_then(|p| Arc::make_mut(p).get_mut(s as usize & (RPAGE - 1)))
        {
            *slot = r;
        }
    }

    /// Longest-prefix match: one first-level load, then one line per 8 bits
    /// of the matching prefix beyond /24 — or per shortcut, which skips a
    /// chain of single-exception tables at once (see [`Line`]) — then the
    /// route.
    #[inline]
    fn lookup(&self, a: u128) -> Option<&Route> {
        let mut e = self.dir_entry((a >> (128 - V6_FIRST)) as usize);
        // One address byte per level below the first (V6_STRIDE is 8): a
        // byte load instead of a 128-bit shift on every step.
        let bytes = a.to_be_bytes();
        let mut k = (V6_FIRST / V6_STRIDE) as usize;
        // (A branch-free step computing both the compact and the full
        // table's answer measured slower: it puts the SWAR search on every
        // level's dependency chain.)
        while e & CHILD != 0 {
            // A table at depth 8k exists only for k < 16.
            let i = u32::from(*bytes.get(k)?);
            let l = (e & LINE_IDX) as usize;
            if e & COMPACT == 0 {
                e = *self.line(l + (i >> 4) as usize)?.0.get((i & 15) as usize)?;
                k += 1;
                continue;
            }
            let w = &self.line(l)?.0;
            let key = u64::from(w[SKIP_WORD + 2]) | u64::from(w[SKIP_WORD + 3]) << 32;
            let m = (key & 0xff) as u32;
            if m == 0 {
                e = packed_get(w, i);
                k += 1;
                continue;
            }
            // Address bytes k.. left-aligned (k < 16: the shift is < 128)
            // against the chain's m bytes.
            let next = ((a << (8 * k as u32)) >> 64) as u64;
            if (next ^ key) & (!0u64 << (64 - 8 * m)) == 0 {
                e = w[SKIP_WORD + 1];
                k += m as usize;
            } else {
                e = w[SKIP_WORD];
            }
        }
        self.route(e)
    }

    /// The shortcut words of the compact table `e` (see [`Line`]): the
    /// longest chain, at most [`SKIP_MAX`] tables, of single-exception
    /// tables with one fallback leaf, starting at `e`; all zero when `e` is
    /// not single-exception.
    fn shortcut(&self, e: u32) -> [u32; 4] {
        let (mut key, mut m, mut fallback, mut target) = (0u64, 0u32, None, 0u32);
        let mut cur = e;
        while m < SKIP_MAX && cur & (CHILD | COMPACT) == CHILD | COMPACT {
            let Some((l, x, ex)) = self
                .line((cur & LINE_IDX) as usize)
                .and_then(Line::single_exception)
            else {
                break;
            };
            if fallback.is_some_and(|f| f != l) {
                break;
            }
            fallback = Some(l);
            key |= u64::from(x) << (56 - 8 * m);
            m += 1;
            target = ex;
            cur = ex;
        }
        match fallback {
            Some(l) => {
                let key = key | u64::from(m);
                [l, target, key as u32, (key >> 32) as u32]
            }
            None => [0; 4],
        }
    }

    /// Recompute the shortcut of the child table `e` (a no-op for a full
    /// table or a leaf). Called for every table an update stores or finds
    /// unchanged: those are the tables whose subtree may have changed, and
    /// they are stored after their children. Writes only what changed, so
    /// a page a snapshot shares is not copied for nothing.
    fn refresh_shortcut(&mut self, e: u32) {
        if e & (CHILD | COMPACT) != CHILD | COMPACT {
            return;
        }
        let s = self.shortcut(e);
        let l = (e & LINE_IDX) as usize;
        if self.line(l).is_some_and(|x| x.0[SKIP_WORD..] != s) {
            if let Some(x) = self.line_mut(l) {
                x.0[SKIP_WORD..].copy_from_slice(&s);
            }
        }
    }

    /// The 256 entries of the child table `e`.
    fn read_table(&self, e: u32) -> [u32; TBL6] {
        let l = (e & LINE_IDX) as usize;
        if e & COMPACT != 0 {
            return self.line(l).map_or([0; TBL6], Line::expand);
        }
        core::array::from_fn(|i| {
            self.line(l + i / 16)
                .and_then(|x| x.0.get(i % 16))
                .copied()
                .unwrap_or(0)
        })
    }

    fn free_table(&mut self, ctl: &mut Lpm6Ctl, e: u32) {
        if e & COMPACT != 0 {
            ctl.free_lines.push(e & LINE_IDX);
        } else {
            ctl.free_fulls.push(e & LINE_IDX);
            self.full_tables = self.full_tables.saturating_sub(1);
        }
        self.tables = self.tables.saturating_sub(1);
    }

    /// Store `t` in place of the child table `old` (or as a new table) and
    /// return the entry for its parent: a leaf if `t` is uniform, else the
    /// (possibly moved) compact or full table.
    fn store_table(&mut self, ctl: &mut Lpm6Ctl, old: Option<u32>, t: &[u32; TBL6]) -> u32 {
        let first = t[0];
        if first & CHILD == 0 && t.iter().all(|&e| e == first) {
            if let Some(o) = old {
                self.free_table(ctl, o);
            }
            return first;
        }
        if let Some(o) = old {
            if self.read_table(o) == *t {
                // Same entries, but a table below may have changed.
                self.refresh_shortcut(o);
                return o;
            }
        }
        match Line::compact(t) {
            Some(line) => {
                let l = match old {
                    Some(o) if o & COMPACT != 0 => o & LINE_IDX,
                    _ => {
                        if let Some(o) = old {
                            self.free_table(ctl, o);
                        }
                        self.tables += 1;
                        ctl.alloc_line()
                    }
                };
                if let Some(x) = self.line_mut(l as usize) {
                    *x = line;
                }
                self.refresh_shortcut(CHILD | COMPACT | l);
                CHILD | COMPACT | l
            }
            None => {
                let l = match old {
                    Some(o) if o & COMPACT == 0 => o & LINE_IDX,
                    _ => {
                        if let Some(o) = old {
                            self.free_table(ctl, o);
                        }
                        self.tables += 1;
                        self.full_tables += 1;
                        ctl.alloc_full()
                    }
                };
                for (k, chunk) in t.chunks_exact(16).enumerate() {
                    if let Some(x) = self.line_mut(l as usize + k) {
                        x.0.copy_from_slice(chunk);
                    }
                }
                CHILD | l
            }
        }
    }

    /// Apply `op` to every leaf of the subtree the entry `e` stands for;
    /// returns the new entry.
    fn apply(&mut self, ctl: &mut Lpm6Ctl, e: u32, op: Op6) -> u32 {
        if e & CHILD == 0 {
            return op.leaf(&self.routes, e);
        }
        let mut t = self.read_table(e);
        for x in t.iter_mut() {
            *x = self.apply(ctl, *x, op);
        }
        self.store_table(ctl, Some(e), &t)
    }

    /// Apply `op` to the entries of prefix `a`/`l` below the entry `e`,
    /// which covers address bits `0..base` of `a`; returns the new entry.
    /// Tables are created on the way down and freed on the way up when they
    /// become uniform.
    fn update(&mut self, ctl: &mut Lpm6Ctl, e: u32, base: u32, a: u128, l: u32, op: Op6) -> u32 {
        let (old, mut t) = if e & CHILD != 0 {
            (Some(e), self.read_table(e))
        } else if matches!(op, Op6::Del { .. }) {
            // No table here: nothing of the prefix below.
            return e;
        } else {
            (None, [e; TBL6])
        };
        let byte = (a >> (128 - base - V6_STRIDE)) as usize & (TBL6 - 1);
        if l <= base + V6_STRIDE {
            let n = 1usize << (base + V6_STRIDE - l);
            for i in byte..byte + n {
                if let Some(&x) = t.get(i) {
                    let v = self.apply(ctl, x, op);
                    if let Some(y) = t.get_mut(i) {
                        *y = v;
                    }
                }
            }
        } else if let Some(&x) = t.get(byte) {
            let v = self.update(ctl, x, base + V6_STRIDE, a, l, op);
            if let Some(y) = t.get_mut(byte) {
                *y = v;
            }
        }
        self.store_table(ctl, old, &t)
    }

    /// Apply `op` to the entries of `p`.
    fn change(&mut self, ctl: &mut Lpm6Ctl, p: Ipv6Net, op: Op6) {
        let a = u128::from(p.network());
        let l = u32::from(p.prefix_len());
        let idx = (a >> (128 - V6_FIRST)) as usize;
        if l <= V6_FIRST {
            // Up to 2^24 entries: a page at a time, leaves in place, touching
            // (and so unsharing) only pages that change.
            let end = idx + (1usize << (V6_FIRST - l));
            let mut i = idx;
            let mut children = Vec::new();
            while i < end {
                let (pi, off) = (i >> DIR_PAGE_BITS, i & (DIR_PAGE - 1));
                let m = (end - i).min(DIR_PAGE - off);
                let dirty = match self.dir.get(pi) {
                    Some(Some(page)) => page.get(off..off + m).is_some_and(|es| {
                        let mut dirty = false;
                        for (k, &e) in es.iter().enumerate() {
                            if e & CHILD != 0 {
                                children.push(i + k);
                            } else {
                                dirty |= op.leaf(&self.routes, e) != e;
                            }
                        }
                        dirty
                    }),
                    _ => op.leaf(&self.routes, 0) != 0,
                };
                if dirty {
                    let Lpm6 { dir, routes, .. } = self;
                    if let Some(es) =
                        page_mut(dir, pi, DIR_PAGE).and_then(|p| p.get_mut(off..off + m))
                    {
                        for e in es.iter_mut().filter(|e| **e & CHILD == 0) {
                            *e = op.leaf(routes, *e);
                        }
                    }
                }
                i += m;
            }
            for c in children {
                let e = self.dir_entry(c);
                let v = self.apply(ctl, e, op);
                self.set_dir_entry(c, v);
            }
        } else {
            let e = self.dir_entry(idx);
            let v = self.update(ctl, e, V6_FIRST, a, l, op);
            self.set_dir_entry(idx, v);
        }
    }

    /// Install `r` as the best route of `p` (new prefix, or new best route).
    fn set(&mut self, ctl: &mut Lpm6Ctl, p: Ipv6Net, r: Route) {
        if let Some(&s) = ctl.slots.get(&p) {
            self.set_route(s, Some(r));
            return;
        }
        let s = ctl.alloc_slot();
        ctl.slots.insert(p, s);
        self.set_route(s, Some(r));
        self.prefixes += 1;
        let l = i32::from(p.prefix_len());
        self.change(ctl, p, Op6::Add { s, l });
    }

    /// Remove `p`; its entries fall back to the longest covering prefix
    /// `cover`.
    fn unset(&mut self, ctl: &mut Lpm6Ctl, p: Ipv6Net, cover: Option<Ipv6Net>) {
        let Some(s) = ctl.slots.remove(&p) else {
            return;
        };
        let new = cover.and_then(|c| ctl.slots.get(&c).copied()).unwrap_or(0);
        self.change(ctl, p, Op6::Del { s, new });
        self.set_route(s, None);
        ctl.free_slots.push(s);
        self.prefixes = self.prefixes.saturating_sub(1);
    }

    fn memory_bytes(&self) -> usize {
        use core::mem::size_of;
        self.dir.capacity() * size_of::<Option<Arc<[u32]>>>()
            + self.dir.iter().flatten().count() * DIR_PAGE * 4
            + self.lines.capacity() * size_of::<Option<Arc<[Line]>>>()
            + self.lines.iter().flatten().count() * LINE_PAGE * size_of::<Line>()
            + self.routes.capacity() * size_of::<Arc<[Option<Route>]>>()
            + self.routes.len() * RPAGE * size_of::<Option<Route>>()
    }
}

/// The lookup-optimised forwarding table: an immutable snapshot for the
/// per-packet path (see the module docs for the structure).
///
/// `Clone` is cheap (one reference-count bump per IPv4 chunk and per IPv6
/// page); the clones share storage until one of them is changed.
#[derive(Clone)]
pub struct Fib {
    v4: [Arc<Chunk4>; CHUNKS],
    v6: Lpm6,
    v4_prefixes: usize,
}

impl Default for Fib {
    fn default() -> Self {
        let empty = Arc::new(Chunk4::default());
        Fib {
            v4: core::array::from_fn(|_| Arc::clone(&empty)),
            v6: Lpm6::default(),
            v4_prefixes: 0,
        }
    }
}

impl fmt::Debug for Fib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fib")
            .field("v4_prefixes", &self.v4_prefixes)
            .field("v6_prefixes", &self.v6.prefixes)
            .field("v6_tables", &self.v6.tables)
            .field("v6_full_tables", &self.v6.full_tables)
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

impl Fib {
    /// An empty FIB (no routes: every lookup misses).
    pub fn new() -> Self {
        Self::default()
    }

    /// Compile `table` from scratch. Equivalent to `table.fib().clone()`,
    /// which is what the table maintains incrementally.
    pub fn build(table: &RouteTable) -> Fib {
        let mut fib = Fib::new();
        for (p, l) in table.v4.iter() {
            if let Some(r) = l.first() {
                fib.set_v4(p, *r);
            }
        }
        let mut ctl = Lpm6Ctl::default();
        for (p, l) in table.v6.iter() {
            if let Some(r) = l.first() {
                fib.v6.set(&mut ctl, p, *r);
            }
        }
        fib
    }

    /// Number of prefixes (one best route each), IPv4 and IPv6.
    pub fn len(&self) -> usize {
        self.v4_prefixes + self.v6.prefixes
    }

    /// Whether the FIB has no routes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Longest-prefix match for an IPv4 destination.
    #[inline(always)]
    pub fn lookup_v4(&self, dst: Ipv4Addr) -> Option<&Route> {
        let a = u32::from(dst);
        self.v4[(a >> 24) as usize].lookup(a)
    }

    /// Longest-prefix match for an IPv6 destination.
    #[inline(always)]
    pub fn lookup_v6(&self, dst: Ipv6Addr) -> Option<&Route> {
        self.v6.lookup(u128::from(dst))
    }

    /// Longest-prefix match for either family.
    #[inline]
    pub fn lookup(&self, dst: IpAddr) -> Option<&Route> {
        match dst {
            IpAddr::V4(a) => self.lookup_v4(a),
            IpAddr::V6(a) => self.lookup_v6(a),
        }
    }

    /// Approximate heap bytes of this FIB (storage shared with other
    /// snapshots is counted in full; chunks shared among several /8s of this
    /// FIB once).
    pub fn memory_bytes(&self) -> usize {
        let mut seen: Vec<*const Chunk4> = Vec::new();
        let mut total = core::mem::size_of::<Fib>();
        for c in &self.v4 {
            let ptr = Arc::as_ptr(c);
            if !seen.contains(&ptr) {
                seen.push(ptr);
                total += c.memory_bytes();
            }
        }
        total + self.v6.memory_bytes()
    }

    fn set_v4(&mut self, p: Ipv4Net, r: Route) {
        let mut fresh = false;
        for c in chunk_span(p) {
            if let Some(chunk) = self.v4.get_mut(c) {
                let chunk = Arc::make_mut(chunk);
                fresh |= !chunk.slots.contains_key(&p);
                chunk.set(p, r);
            }
        }
        if fresh {
            self.v4_prefixes += 1;
        }
    }

    fn unset_v4(&mut self, p: Ipv4Net, cover: Option<(Ipv4Net, Route)>) {
        let mut found = false;
        for c in chunk_span(p) {
            if let Some(chunk) = self.v4.get_mut(c) {
                if chunk.slots.contains_key(&p) {
                    found = true;
                    Arc::make_mut(chunk).unset(p, cover);
                }
            }
        }
        if found {
            self.v4_prefixes = self.v4_prefixes.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    const N0: NicId = NicId(0);
    const N1: NicId = NicId(1);

    /// Linear-scan oracle: longest prefix, then lowest metric.
    fn oracle(routes: &[Route], dst: IpAddr) -> Option<Route> {
        routes
            .iter()
            .filter(|r| r.prefix.contains(&dst))
            .min_by_key(|r| (core::cmp::Reverse(r.prefix.prefix_len()), r.metric))
            .copied()
    }

    #[test]
    fn default_route_and_longest_match() {
        let mut t = RouteTable::new();
        t.add_default(N0, ip("198.18.0.254"), 0).unwrap();
        t.add_connected(N1, net("198.19.1.7/24")).unwrap();
        t.add_gateway(net("198.19.1.128/25"), N1, ip("198.19.1.1"), 0)
            .unwrap();
        t.add_gateway(net("198.19.1.200/32"), N0, ip("198.18.0.1"), 0)
            .unwrap();
        let f = t.fib();
        assert_eq!(f.lookup(ip("8.8.8.8")).unwrap().prefix, net("0.0.0.0/0"));
        assert_eq!(
            f.lookup(ip("198.19.1.5")).unwrap().next_hop,
            NextHop::Connected { nic: N1 }
        );
        assert_eq!(
            f.lookup(ip("198.19.1.130")).unwrap().prefix,
            net("198.19.1.128/25")
        );
        assert_eq!(
            f.lookup(ip("198.19.1.200")).unwrap().prefix,
            net("198.19.1.200/32")
        );
        assert_eq!(
            f.lookup(ip("198.19.1.201")).unwrap().prefix,
            net("198.19.1.128/25")
        );
        assert!(f.lookup(ip("2001:2::1")).is_none());
        // Connected route was normalised.
        assert_eq!(t.get(net("198.19.1.0/24")).len(), 1);
        assert_eq!(t.len(), 4);
        assert_eq!(t.fib().len(), 4);
    }

    #[test]
    fn blackhole_unreachable_and_v6() {
        let mut t = RouteTable::new();
        t.add_default(N0, ip("2001:2::1"), 0).unwrap();
        t.add_blackhole(net("2001:2:0:1::/64"), 0).unwrap();
        t.add_unreachable(net("198.18.0.0/15"), 0).unwrap();
        t.add_blackhole(net("198.18.5.0/24"), 0).unwrap();
        let f = t.snapshot();
        assert_eq!(
            f.lookup(ip("2001:2:0:1::9")).unwrap().next_hop,
            NextHop::Blackhole
        );
        assert_eq!(f.lookup(ip("2001:3::9")).unwrap().next_hop.nic(), Some(N0));
        assert_eq!(
            f.lookup(ip("198.19.0.1")).unwrap().next_hop,
            NextHop::Unreachable
        );
        assert_eq!(
            f.lookup(ip("198.18.5.1")).unwrap().next_hop,
            NextHop::Blackhole
        );
        assert!(f.lookup(ip("10.0.0.1")).is_none());
    }

    #[test]
    fn metric_tie_break_and_errors() {
        let mut t = RouteTable::new();
        let p = net("198.18.0.0/16");
        t.add_gateway(p, N0, ip("198.18.0.1"), 10).unwrap();
        t.add_gateway(p, N1, ip("198.18.0.2"), 5).unwrap();
        assert_eq!(t.fib().lookup(ip("198.18.3.3")).unwrap().metric, 5);
        assert_eq!(
            t.add_blackhole(p, 5),
            Err(RouteError::Exists {
                prefix: p,
                metric: 5
            })
        );
        assert!(matches!(
            t.add_gateway(p, N0, ip("2001:2::1"), 1),
            Err(RouteError::FamilyMismatch { .. })
        ));
        t.remove_route(p, 5).unwrap();
        assert_eq!(t.fib().lookup(ip("198.18.3.3")).unwrap().metric, 10);
        let old = t.replace(Route::blackhole(p, 10)).unwrap().unwrap();
        assert_eq!(old.metric, 10);
        assert_eq!(
            t.fib().lookup(ip("198.18.3.3")).unwrap().next_hop,
            NextHop::Blackhole
        );
        assert_eq!(t.remove(p).unwrap().len(), 1);
        assert_eq!(t.remove(p), Err(RouteError::NotFound { prefix: p }));
        assert!(t.fib().lookup(ip("198.18.3.3")).is_none());
        assert!(t.is_empty());
    }

    #[test]
    fn snapshot_isolation() {
        let mut t = RouteTable::new();
        t.add_connected(N0, net("198.18.0.1/24")).unwrap();
        t.add_gateway(net("198.18.0.64/26"), N0, ip("198.18.0.1"), 0)
            .unwrap();
        let snap = t.snapshot();
        t.remove(net("198.18.0.0/24")).unwrap();
        t.remove(net("198.18.0.64/26")).unwrap();
        t.add_blackhole(net("0.0.0.0/0"), 0).unwrap();
        t.add_blackhole(net("::/0"), 0).unwrap();
        assert_eq!(
            snap.lookup(ip("198.18.0.9")).unwrap().next_hop,
            NextHop::Connected { nic: N0 }
        );
        assert_eq!(
            snap.lookup(ip("198.18.0.65")).unwrap().prefix,
            net("198.18.0.64/26")
        );
        assert!(snap.lookup(ip("10.1.1.1")).is_none());
        assert!(snap.lookup(ip("::1")).is_none());
        assert_eq!(
            t.fib().lookup(ip("198.18.0.9")).unwrap().next_hop,
            NextHop::Blackhole
        );
    }

    /// Whether every compact table reachable in `f` holds the shortcut a
    /// fresh computation gives (the invariant updates keep).
    fn shortcuts_are_fresh(f: &Lpm6) -> bool {
        f.dir
            .iter()
            .flatten()
            .all(|page| page.iter().all(|&e| shortcuts_fresh_below(f, e)))
    }

    /// Whether every shortcut in the tables below directory entry `e` is
    /// what its chain is now.
    fn shortcuts_fresh_below(f: &Lpm6, e: u32) -> bool {
        if e & CHILD == 0 {
            return true;
        }
        let fresh = e & COMPACT == 0
            || f.line((e & LINE_IDX) as usize)
                .is_some_and(|x| x.0[SKIP_WORD..] == f.shortcut(e));
        fresh && f.read_table(e).iter().all(|&c| shortcuts_fresh_below(f, c))
    }

    /// [`shortcuts_are_fresh`] for the tables under the /24s of `routes`
    /// only (child tables exist only under prefixes longer than /24, so
    /// this is all of them when `routes` is what the FIB holds), without
    /// walking every directory page: the property test checks many FIBs.
    fn shortcuts_are_fresh_under(f: &Lpm6, routes: &[Route]) -> bool {
        routes.iter().all(|r| match r.prefix {
            IpNet::V6(n) => {
                let a = u128::from(n.network());
                shortcuts_fresh_below(f, f.dir_entry((a >> (128 - V6_FIRST)) as usize))
            }
            IpNet::V4(_) => true,
        })
    }

    /// `(m, fallback)` of the shortcut of the table under the /24 of `a`.
    fn first_shortcut(f: &Fib, a: &str) -> (u32, u32) {
        let a = u128::from(a.parse::<Ipv6Addr>().unwrap());
        let e = f.v6.dir_entry((a >> (128 - V6_FIRST)) as usize);
        assert_eq!(e & (CHILD | COMPACT), CHILD | COMPACT);
        let w = f.v6.line((e & LINE_IDX) as usize).unwrap().0;
        (w[SKIP_WORD + 2] & 0xff, w[SKIP_WORD])
    }

    #[test]
    fn v6_shortcuts_skip_single_exception_chains() {
        let mut t = RouteTable::new();
        // The pipeline benchmark's routes: a /56 alone under its /24 but
        // for two /64s, three single-exception tables deep.
        t.add_connected(N0, net("2001:2::fe/64")).unwrap();
        t.add_connected(N0, net("2001:2:0:1::fe/64")).unwrap();
        t.add_blackhole(net("2001:2:0:100::/56"), 0).unwrap();
        assert_eq!(first_shortcut(t.fib(), "2001:2::"), (3, 0));
        let hit = |t: &RouteTable, a: &str| t.fib().lookup(ip(a)).map(|r| r.prefix);
        assert_eq!(hit(&t, "2001:2:0:1ff::1"), Some(net("2001:2:0:100::/56")));
        assert_eq!(hit(&t, "2001:2:0:1::9"), Some(net("2001:2:0:1::/64")));
        assert_eq!(hit(&t, "2001:2::9"), Some(net("2001:2::/64")));
        // Leaving the chain at its first, second or third byte.
        for a in [
            "2001:3::1",
            "2001:2:100::1",
            "2001:2:1::1",
            "2001:2:0:200::1",
        ] {
            assert_eq!(hit(&t, a), None, "{a}");
        }
        // A covering /16 becomes every chain table's fallback.
        t.add_blackhole(net("2001::/16"), 0).unwrap();
        // (2001:100::, in the /16 and outside every deeper prefix.)
        let cover = t.fib().v6.dir_entry(0x20_0101);
        assert_eq!(cover & CHILD, 0);
        assert_ne!(cover, 0);
        assert_eq!(first_shortcut(t.fib(), "2001:2::"), (3, cover));
        assert_eq!(hit(&t, "2001:2:1::1"), Some(net("2001::/16")));
        assert_eq!(hit(&t, "2001:2:0:1ff::1"), Some(net("2001:2:0:100::/56")));
        // A second exception two tables down shortens the chain; taking it
        // away restores it.
        let snap = t.snapshot();
        t.add_blackhole(net("2001:2:5::/48"), 0).unwrap();
        assert_eq!(first_shortcut(t.fib(), "2001:2::"), (2, cover));
        assert_eq!(hit(&t, "2001:2:5::1"), Some(net("2001:2:5::/48")));
        assert_eq!(hit(&t, "2001:2:0:1ff::1"), Some(net("2001:2:0:100::/56")));
        assert_eq!(
            first_shortcut(&snap, "2001:2::"),
            (3, cover),
            "snapshot untouched"
        );
        t.remove(net("2001:2:5::/48")).unwrap();
        assert_eq!(first_shortcut(t.fib(), "2001:2::"), (3, cover));
        assert!(shortcuts_are_fresh(&t.fib().v6) && shortcuts_are_fresh(&snap.v6));
    }

    #[test]
    fn memory_shrinks_when_deep_prefixes_go() {
        let mut t = RouteTable::new();
        let empty = t.fib().memory_bytes();
        t.add_blackhole(net("10.0.0.0/8"), 0).unwrap();
        t.add_blackhole(net("10.1.2.3/32"), 0).unwrap();
        assert!(t.fib().memory_bytes() > empty + TBL_LEN * 4);
        assert_eq!(
            t.fib().lookup(ip("10.1.2.3")).unwrap().prefix,
            net("10.1.2.3/32")
        );
        assert_eq!(
            t.fib().lookup(ip("10.1.2.4")).unwrap().prefix,
            net("10.0.0.0/8")
        );
        t.remove(net("10.1.2.3/32")).unwrap();
        assert!(t.fib().memory_bytes() < empty + TBL_LEN * 4);
        assert_eq!(
            t.fib().lookup(ip("10.1.2.3")).unwrap().prefix,
            net("10.0.0.0/8")
        );
    }

    #[test]
    fn group_reuse_after_collapse() {
        let mut t = RouteTable::new();
        t.add_blackhole(net("198.18.1.128/25"), 0).unwrap();
        t.add_blackhole(net("198.18.9.0/24"), 0).unwrap();
        t.remove(net("198.18.1.128/25")).unwrap();
        t.add_unreachable(net("198.18.2.1/32"), 0).unwrap();
        t.add_unreachable(net("198.18.3.64/26"), 0).unwrap();
        let f = t.fib();
        assert_eq!(
            f.lookup(ip("198.18.2.1")).unwrap().prefix,
            net("198.18.2.1/32")
        );
        assert!(f.lookup(ip("198.18.2.2")).is_none());
        assert!(f.lookup(ip("198.18.3.1")).is_none());
        assert_eq!(
            f.lookup(ip("198.18.3.65")).unwrap().prefix,
            net("198.18.3.64/26")
        );
        assert!(f.lookup(ip("198.18.1.129")).is_none());
    }

    /// The prefix of the route `addr` resolves to.
    fn hit(f: &Fib, addr: &str) -> Option<IpNet> {
        f.lookup(ip(addr)).map(|r| r.prefix)
    }

    #[test]
    fn v6_nested_prefixes_across_strides() {
        let mut t = RouteTable::new();
        for p in [
            "2001:db8::/16",
            "2001:db8::/24",
            "2001:db8::/25",
            "2001:db8::/32",
            "2001:db8::/33",
            "2001:db8:1::/48",
            "2001:db8:1:2::/64",
            "2001:db8:1:2::1/128",
        ] {
            t.add_blackhole(net(p), 0).unwrap();
        }
        let f = t.fib();
        assert_eq!(hit(f, "2001:db8:1:2::1"), Some(net("2001:db8:1:2::1/128")));
        assert_eq!(hit(f, "2001:db8:1:2::2"), Some(net("2001:db8:1:2::/64")));
        assert_eq!(hit(f, "2001:db8:1:3::"), Some(net("2001:db8:1::/48")));
        assert_eq!(hit(f, "2001:db8:2::"), Some(net("2001:db8::/33")));
        assert_eq!(hit(f, "2001:db8:8000::"), Some(net("2001:db8::/32")));
        assert_eq!(hit(f, "2001:db9::"), Some(net("2001:d80::/25")));
        assert_eq!(hit(f, "2001:d00::"), Some(net("2001:d00::/24")));
        assert_eq!(hit(f, "2001:e00::"), Some(net("2001::/16")));
        assert_eq!(hit(f, "2002::"), None);
        // The /128 needs a table at every stride from /24 to /120.
        assert_eq!(f.v6.tables, 13);

        // Removing re-expands the covering prefix; tables only the removed
        // prefixes needed are freed at once.
        t.remove(net("2001:db8:1:2::/64")).unwrap();
        assert_eq!(
            hit(t.fib(), "2001:db8:1:2::2"),
            Some(net("2001:db8:1::/48"))
        );
        assert_eq!(t.fib().v6.tables, 13);
        t.remove(net("2001:db8:1:2::1/128")).unwrap();
        assert_eq!(
            hit(t.fib(), "2001:db8:1:2::1"),
            Some(net("2001:db8:1::/48"))
        );
        assert_eq!(t.fib().v6.tables, 3);
        assert_eq!(t.fib().v6.tables, Fib::build(&t).v6.tables);
        t.remove(net("2001:db8::/25")).unwrap();
        assert_eq!(hit(t.fib(), "2001:db9::"), Some(net("2001:d00::/24")));
        assert_eq!(hit(t.fib(), "2001:db8:8000::"), Some(net("2001:db8::/32")));
        t.remove(net("2001:db8::/32")).unwrap();
        assert_eq!(hit(t.fib(), "2001:db8:8000::"), Some(net("2001:d00::/24")));
        assert_eq!(hit(t.fib(), "2001:db8:2::"), Some(net("2001:db8::/33")));
        t.remove(net("2001:db8:1::/48")).unwrap();
        t.remove(net("2001:db8::/33")).unwrap();
        assert_eq!(t.fib().v6.tables, 0);
        assert_eq!(hit(t.fib(), "2001:db8:1:2::1"), Some(net("2001:d00::/24")));
        t.remove(net("2001:db8::/24")).unwrap();
        assert_eq!(hit(t.fib(), "2001:db8:1:2::1"), Some(net("2001::/16")));
        assert_eq!(t.fib().len(), 1);
    }

    #[test]
    fn v6_snapshot_isolation_and_table_reuse() {
        let mut t = RouteTable::new();
        t.add_blackhole(net("2001:db8::/32"), 0).unwrap();
        t.add_unreachable(net("2001:db8:0:1::/64"), 0).unwrap();
        let snap = t.snapshot();
        let used = t.v6_ctl.used_lines;
        // Churn deep routes: their tables are freed and reused, not leaked.
        for i in 0..100u16 {
            let p = net(&format!("2001:db8:{i:x}::1/128"));
            t.add_blackhole(p, 0).unwrap();
            assert_eq!(hit(t.fib(), &format!("2001:db8:{i:x}::1")), Some(p));
            t.remove(p).unwrap();
        }
        assert!(t.v6_ctl.used_lines <= used + 13);
        assert_eq!(t.fib().v6.tables, Fib::build(&t).v6.tables);
        // A change elsewhere in the address space leaves the snapshot's
        // first-level page for 2001:db8::/32 shared (copy-on-write per page).
        t.add_blackhole(net("2a00:1::/48"), 0).unwrap();
        let page = |f: &Fib| f.v6.dir.get(0x20).cloned().flatten();
        assert!(matches!((page(&snap), page(t.fib())), (Some(a), Some(b)) if Arc::ptr_eq(&a, &b)));
        // Changes under the snapshot's routes do not show through it.
        t.remove(net("2001:db8:0:1::/64")).unwrap();
        t.replace(Route::gateway(net("2001:db8::/32"), N0, ip("fe80::1"), 0))
            .unwrap();
        t.add_blackhole(net("::/0"), 0).unwrap();
        let s = &*snap;
        assert_eq!(
            s.lookup(ip("2001:db8:0:1::5")).unwrap().next_hop,
            NextHop::Unreachable
        );
        assert_eq!(
            s.lookup(ip("2001:db8:5::")).unwrap().next_hop,
            NextHop::Blackhole
        );
        assert_eq!(hit(s, "2a00:1::1"), None);
        assert_eq!(hit(s, "::1"), None);
        assert_eq!(s.len(), 2);
        assert_eq!(
            t.fib()
                .lookup(ip("2001:db8:0:1::5"))
                .unwrap()
                .next_hop
                .nic(),
            Some(N0)
        );
        assert_eq!(hit(t.fib(), "2a00:1::1"), Some(net("2a00:1::/48")));
        assert_eq!(hit(t.fib(), "::1"), Some(net("::/0")));
    }

    #[test]
    fn v6_memory_follows_tables() {
        let mut t = RouteTable::new();
        let empty = t.fib().memory_bytes();
        t.add_blackhole(net("2001:d00::/24"), 0).unwrap();
        assert_eq!(t.fib().v6.tables, 0);
        let shallow = t.fib().memory_bytes();
        // One first-level page and one route page.
        assert!(shallow >= empty + DIR_PAGE * 4);
        t.add_blackhole(net("2001:db8:1:2::/64"), 0).unwrap();
        assert_eq!(t.fib().v6.tables, 5);
        // Five compact child tables: one new page of lines.
        assert!(t.fib().memory_bytes() >= shallow + LINE_PAGE * 64);
        t.remove(net("2001:db8:1:2::/64")).unwrap();
        assert_eq!(t.fib().v6.tables, 0);
        assert_eq!(t.v6_ctl.free_lines.len(), 5);
    }

    #[test]
    fn v6_tables_turn_full_and_compact_again() {
        let mut t = RouteTable::new();
        t.add_unreachable(net("2001:db8::/32"), 0).unwrap();
        // Nine /48s in one /40 table: 2 × 9 + 1 runs, too many for a line.
        for i in 0..9u16 {
            t.add_blackhole(net(&format!("2001:db8:{:x}::/48", i * 3 + 1)), 0)
                .unwrap();
        }
        // Tables at /24 (holding the /32), /32 and /40 (the full one).
        assert_eq!((t.fib().v6.tables, t.fib().v6.full_tables), (3, 1));
        for i in 0..28u16 {
            let want = if i % 3 == 1 {
                net(&format!("2001:db8:{i:x}::/48"))
            } else {
                net("2001:db8::/32")
            };
            assert_eq!(hit(t.fib(), &format!("2001:db8:{i:x}::5")), Some(want));
        }
        let snap = t.snapshot();
        // Down to seven /48s (15 runs): still full; then three (7 runs).
        for i in [1u16, 4, 7, 10, 13, 16] {
            t.remove(net(&format!("2001:db8:{i:x}::/48"))).unwrap();
            assert_eq!(
                hit(t.fib(), &format!("2001:db8:{i:x}::5")),
                Some(net("2001:db8::/32"))
            );
        }
        assert_eq!((t.fib().v6.tables, t.fib().v6.full_tables), (3, 0));
        assert_eq!(
            hit(t.fib(), "2001:db8:13::5"),
            Some(net("2001:db8:13::/48"))
        );
        assert_eq!(hit(t.fib(), "2001:db8:19::"), Some(net("2001:db8:19::/48")));
        assert_eq!(hit(t.fib(), "2001:db8:1a::"), Some(net("2001:db8::/32")));
        // The snapshot keeps its full table.
        assert_eq!(snap.v6.full_tables, 1);
        assert_eq!(hit(&snap, "2001:db8:4::5"), Some(net("2001:db8:4::/48")));
        assert_eq!(t.fib().v6.tables, Fib::build(&t).v6.tables);
    }

    #[test]
    fn remove_nic_drops_its_routes() {
        let mut t = RouteTable::new();
        t.add_connected(N0, net("198.18.0.1/24")).unwrap();
        t.add_connected(N1, net("198.19.0.1/24")).unwrap();
        t.add_default(N1, ip("198.19.0.254"), 0).unwrap();
        assert_eq!(t.remove_nic(N1), 2);
        assert_eq!(t.len(), 1);
        assert!(t.fib().lookup(ip("8.8.8.8")).is_none());
    }

    // Prefixes clustered around a few bases so that they overlap often: the
    // last base keeps them within four /24s of one /8 so /25–/32 groups are
    // allocated, freed and reused.
    const BASES: [u32; 4] = [0x0a00_0000, 0xc612_0000, 0xc613_ff00, 0xc612_0a00];
    const SHIFTS: [usize; 4] = [4, 12, 20, 22];
    fn v4_prefix() -> impl Strategy<Value = IpNet> + Clone {
        (
            0usize..4,
            any::<u32>(),
            prop_oneof![Just(0u8), Just(32u8), 0u8..=32, 20u8..=30, 24u8..=32],
        )
            .prop_map(|(b, bits, len)| {
                let a = BASES[b] ^ (bits >> SHIFTS[b]);
                IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).unwrap().trunc())
            })
    }
    fn v4_addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|a| IpAddr::V4(a.into())),
            (0usize..4, any::<u32>())
                .prop_map(|(b, bits)| IpAddr::V4((BASES[b] ^ (bits >> SHIFTS[b])).into())),
        ]
    }
    // IPv6 prefixes around bases that share long common parts (64, 100 and
    // 120 bits with the first), each perturbed below a random depth, so that
    // prefixes pile up in the same stride tables at every level.
    const V6_BASES: [u128; 4] = [
        0x2001_0db8_0000_0000_0000_0000_0000_0000,
        0x2001_0db8_0000_0000_8000_0000_0000_0000,
        0x2001_0db8_0000_0000_0000_0000_f000_0000,
        0x2001_0db8_0000_0000_0000_0000_0000_0080,
    ];
    /// How many leading bits of the base a generated address keeps.
    fn v6_keep() -> impl Strategy<Value = u32> + Clone {
        prop_oneof![Just(3u32), Just(24), Just(44), 0u32..=127, 96u32..=127]
    }
    fn v6_around(b: usize, keep: u32, bits: u128) -> u128 {
        V6_BASES[b % 4] ^ bits.checked_shr(keep).unwrap_or(0)
    }
    fn v6_prefix() -> impl Strategy<Value = IpNet> + Clone {
        (
            0usize..4,
            v6_keep(),
            any::<u128>(),
            prop_oneof![
                1 => Just(0u8),
                6 => 0u8..=128,
                // Stride boundaries (/24, /32, ..., /128) and their neighbours.
                6 => (0u8..=13, 0u8..=2).prop_map(|(k, d)| (23 + 8 * k + d).min(128)),
                3 => 40u8..=72,
                2 => 100u8..=128,
            ],
        )
            .prop_map(|(b, keep, bits, len)| {
                let a = v6_around(b, keep, bits);
                IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), len).unwrap().trunc())
            })
    }
    fn v6_addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u128>().prop_map(|a| IpAddr::V6(a.into())),
            (0usize..4, v6_keep(), any::<u128>())
                .prop_map(|(b, keep, bits)| IpAddr::V6(v6_around(b, keep, bits).into())),
        ]
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(IpNet, u32, u8),
        Remove(IpNet),
        RemoveMetric(IpNet, u32),
    }

    fn ops(
        prefix: impl Strategy<Value = IpNet> + Clone,
        n: core::ops::Range<usize>,
    ) -> impl Strategy<Value = Vec<Op>> {
        proptest::collection::vec(
            prop_oneof![
                4 => (prefix.clone(), 0u32..3, 0u8..4).prop_map(|(p, m, k)| Op::Add(p, m, k)),
                1 => prefix.clone().prop_map(Op::Remove),
                1 => (prefix, 0u32..3).prop_map(|(p, m)| Op::RemoveMetric(p, m)),
            ],
            n,
        )
    }

    fn mk(p: IpNet, m: u32, k: u8) -> Route {
        match k {
            0 => Route::blackhole(p, m),
            1 => Route::unreachable(p, m),
            2 => Route {
                metric: m,
                ..Route::connected(p, NicId(m as u16))
            },
            _ => Route::gateway(p, NicId(7), p.network(), m),
        }
    }

    /// Apply ops to the table and to a naive Vec, checking results agree;
    /// check lookups after every op and snapshot isolation at the end.
    fn run(ops: Vec<Op>, addrs: Vec<IpAddr>) -> Result<(), TestCaseError> {
        let mut t = RouteTable::new();
        let mut naive: Vec<Route> = Vec::new();
        let mut snaps: Vec<(Arc<Fib>, Vec<Route>)> = Vec::new();
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Add(p, m, k) => {
                    let r = mk(p, m, k);
                    let dup = naive.iter().any(|x| x.prefix == p && x.metric == m);
                    prop_assert_eq!(t.add(r).is_err(), dup);
                    if !dup {
                        naive.push(r);
                    }
                }
                Op::Remove(p) => {
                    let had = naive.iter().any(|x| x.prefix == p);
                    prop_assert_eq!(t.remove(p).is_ok(), had);
                    naive.retain(|x| x.prefix != p);
                }
                Op::RemoveMetric(p, m) => {
                    let had = naive.iter().any(|x| x.prefix == p && x.metric == m);
                    prop_assert_eq!(t.remove_route(p, m).is_ok(), had);
                    naive.retain(|x| !(x.prefix == p && x.metric == m));
                }
            }
            prop_assert_eq!(t.len(), naive.len());
            let edges = naive.iter().flat_map(|r| edges(r.prefix));
            for a in addrs.iter().copied().chain(edges) {
                prop_assert_eq!(t.fib().lookup(a).copied(), oracle(&naive, a), "addr {}", a);
            }
            if i % 5 == 0 {
                snaps.push((t.snapshot(), naive.clone()));
            }
        }
        let built = Fib::build(&t);
        // The incremental FIB has exactly the IPv6 tables a fresh build has:
        // every table no deeper prefix needs any more was freed.
        prop_assert_eq!(t.fib().v6.tables, built.v6.tables);
        // Every shortcut is what its chain is now, in the table and in
        // every snapshot.
        prop_assert!(shortcuts_are_fresh_under(&t.fib().v6, &naive));
        prop_assert!(shortcuts_are_fresh_under(&built.v6, &naive));
        for (snap, then) in &snaps {
            prop_assert!(shortcuts_are_fresh_under(&snap.v6, then));
        }
        prop_assert_eq!(t.fib().len(), built.len());
        for a in &addrs {
            prop_assert_eq!(built.lookup(*a).copied(), oracle(&naive, *a));
        }
        // Snapshots still answer as the table did when they were taken.
        let check_snaps = |snaps: &[(Arc<Fib>, Vec<Route>)]| -> Result<(), TestCaseError> {
            for (snap, then) in snaps {
                let probes = then.iter().flat_map(|r| edges(r.prefix));
                for a in addrs.iter().copied().chain(probes) {
                    prop_assert_eq!(snap.lookup(a).copied(), oracle(then, a), "addr {}", a);
                }
            }
            Ok(())
        };
        check_snaps(&snaps)?;
        // Remove everything in random-ish order: the trie collapses back to
        // no child table at all, and the snapshots are still untouched.
        let mut prefixes: Vec<IpNet> = naive.iter().map(|r| r.prefix).collect();
        prefixes.sort_by_key(|p| (p.prefix_len() % 3, *p));
        prefixes.dedup();
        for p in prefixes {
            prop_assert!(t.remove(p).is_ok());
            naive.retain(|x| x.prefix != p);
            for a in addrs.iter().copied() {
                prop_assert_eq!(t.fib().lookup(a).copied(), oracle(&naive, a), "addr {}", a);
            }
        }
        prop_assert!(t.is_empty());
        prop_assert_eq!(t.fib().len(), 0);
        prop_assert_eq!(t.fib().v6.tables, 0);
        check_snaps(&snaps)?;
        Ok(())
    }

    /// A prefix's first and last address and the addresses just outside it.
    fn edges(p: IpNet) -> [IpAddr; 4] {
        match p {
            IpNet::V4(p) => {
                let (lo, hi) = (u32::from(p.network()), u32::from(p.broadcast()));
                [lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)].map(|a| IpAddr::V4(a.into()))
            }
            IpNet::V6(p) => {
                let (lo, hi) = (u128::from(p.network()), u128::from(p.broadcast()));
                [lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)].map(|a| IpAddr::V6(a.into()))
            }
        }
    }

    proptest! {
        /// A table of up to `RUNS` runs (9 or more: not compact) survives
        /// the compact encoding, and the SWAR search finds every entry.
        #[test]
        fn compact_line_matches_table(
            cuts in proptest::collection::btree_set(1u32..256, 0..12),
            vals in proptest::collection::vec(0u32..4, 12),
        ) {
            let mut t = [0u32; TBL6];
            let mut run = 0usize;
            let mut v = vals[0];
            let mut runs = 1;
            for (i, e) in t.iter_mut().enumerate() {
                if cuts.contains(&(i as u32)) {
                    run += 1;
                    // Distinct from the previous run, so every cut is a run.
                    let nv = (v + 1 + vals[run]) % 8;
                    v = nv;
                    runs += 1;
                }
                *e = v | (CHILD * (v & 1));
            }
            match Line::compact(&t) {
                Some(line) => {
                    prop_assert!(runs <= RUNS);
                    prop_assert_eq!(line.expand(), t);
                    for (i, &e) in t.iter().enumerate() {
                        prop_assert_eq!(line.compact_get(i as u32), e);
                    }
                }
                None => prop_assert!(runs > RUNS),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn lpm_v4_matches_oracle(ops in ops(v4_prefix(), 1..40), addrs in proptest::collection::vec(v4_addr(), 32)) {
            run(ops, addrs)?;
        }

        #[test]
        fn lpm_v6_matches_oracle(ops in ops(v6_prefix(), 1..80), addrs in proptest::collection::vec(v6_addr(), 48)) {
            run(ops, addrs)?;
        }
    }
}
