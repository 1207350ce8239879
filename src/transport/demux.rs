//! The transport demultiplexer: which endpoint receives an incoming packet.
//!
//! Modelled on gVisor netstack's `transportDemuxer`, keyed by its
//! `TransportEndpointID` ([`TransportEndpointId`]: local port and address,
//! remote port and address), with the stack's flow-hash partitioning on top.
//!
//! # Partitions
//!
//! One [`Demuxer`] serves one worker shard: it is built for
//! `(partition, n_partitions)`. The owner of a flow is
//! [`shard_of`](crate::worker::flow_hash::shard_of) of its tuple (symmetric,
//! so both directions agree), the same function the NIC's RSS uses.
//!
//! * A **connected** endpoint (remote address set) is registered only in the
//!   partition owning its tuple; registering it elsewhere fails with
//!   [`RegisterError::OtherPartition`] naming the owner.
//! * A **bound-only** endpoint (listener, unconnected UDP socket) must be
//!   registered in every partition (the stack calls [`Demuxer::register`] on
//!   each shard's demuxer): any shard can receive the first packet of a flow.
//!
//! # Lookup
//!
//! For an incoming packet `(protocol, dst_addr, dst_port, src_addr, src_port)`
//! (destination = local side):
//!
//! 1. the flow belongs to another partition → [`Lookup::OtherPartition`]
//!    (the worker hands the frame to that shard's inbox);
//! 2. an exact 4-tuple match (connected endpoint);
//! 3. an endpoint bound to `(dst_addr, dst_port)`;
//! 4. an endpoint bound to `(unspecified, dst_port)`;
//! 5. [`Lookup::NotFound`]: the stack applies unknown-destination handling
//!    (TCP RST, ICMP port unreachable, RFC 9293 3.10.7.1 / RFC 1122 4.1.3.1).
//!
//! Each tier is one hash-map probe with a small multiplicative hasher
//! (FxHash-style, seeded per demuxer); nothing allocates. The flow hash
//! itself is skipped when there is a single partition, and a caller that
//! already has the hash (from the NIC's rx metadata or the handoff) passes it
//! to [`Demuxer::lookup_with_hash`].
//!
//! # Registration rules (gVisor port manager, Linux `bind(2)` without
//! `SO_REUSEADDR`/`SO_REUSEPORT`)
//!
//! * A bind to the unspecified address conflicts with any bind on the port
//!   ([`RegisterError::PortInUse`]).
//! * A bind to a specific address conflicts with a bind to the unspecified
//!   address on the port (`PortInUse`) or to the same address and port
//!   ([`RegisterError::AddressInUse`]).
//! * A connected endpoint conflicts only with the same 4-tuple
//!   (`AddressInUse`); it coexists with the listener it was accepted from.
//! * Unspecified addresses (`0.0.0.0`, `::`) given as `Some` are treated as
//!   `None`. An unspecified local address matches both families.
//! * For TCP and UDP, a local port of 0 is invalid (allocate one first); a
//!   connected endpoint needs a local address of the remote's family and a
//!   non-zero remote port ([`RegisterError::InvalidId`]).
//!
//! The hasher is FxHash with a per-demuxer random seed. It is fast but not
//! collision resistant against an adversary who can learn the seed; a peer
//! controls only the remote half of connected keys.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::ops::RangeInclusive;
use std::collections::HashMap;

use crate::fxhash::FxBuildHasher;
use crate::wire::IpProtocol;
use crate::worker::flow_hash::{
    flow_hash, hashes_ports, pick_ephemeral_port, shard_of_hash, FlowTuple,
};

/// Identifies a transport endpoint (gVisor's `TransportEndpointID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransportEndpointId {
    /// Local port.
    pub local_port: u16,
    /// Local address; `None` = unspecified (any local address).
    pub local_addr: Option<IpAddr>,
    /// Remote port (0 unless connected).
    pub remote_port: u16,
    /// Remote address; `None` = not connected.
    pub remote_addr: Option<IpAddr>,
}

impl TransportEndpointId {
    /// A bound-only id: `addr:port` (`None` = any address).
    pub fn bound(local_addr: Option<IpAddr>, local_port: u16) -> Self {
        TransportEndpointId {
            local_port,
            local_addr,
            remote_port: 0,
            remote_addr: None,
        }
    }

    /// A connected id: `local:lport` ↔ `remote:rport`.
    pub fn connected(local: IpAddr, local_port: u16, remote: IpAddr, remote_port: u16) -> Self {
        TransportEndpointId {
            local_port,
            local_addr: Some(local),
            remote_port,
            remote_addr: Some(remote),
        }
    }

    /// Whether the remote side is set.
    pub fn is_connected(&self) -> bool {
        self.remote_addr.is_some()
    }

    fn normalised(mut self) -> Self {
        self.local_addr = self.local_addr.filter(|a| !a.is_unspecified());
        self.remote_addr = self.remote_addr.filter(|a| !a.is_unspecified());
        if self.remote_addr.is_none() {
            self.remote_port = 0;
        }
        self
    }
}

/// The outcome of [`Demuxer::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<E> {
    /// The endpoint that receives the packet.
    Found(E),
    /// The flow is owned by this other partition: hand the packet off.
    OtherPartition(usize),
    /// No endpoint: unknown-destination handling applies.
    NotFound,
}

/// Why [`Demuxer::register`] refused an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterError {
    /// The port is taken in a way that excludes this bind (a wildcard bind
    /// against any bind, or any bind against a wildcard bind).
    PortInUse {
        /// The port.
        port: u16,
    },
    /// The same local address and port (or the same 4-tuple) is registered.
    AddressInUse {
        /// The conflicting id.
        id: TransportEndpointId,
    },
    /// A connected endpoint whose flow another partition owns.
    OtherPartition {
        /// The owning partition.
        owner: usize,
    },
    /// The id is not registrable (port 0, connected without a local address,
    /// mixed address families, ...).
    InvalidId,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::PortInUse { port } => write!(f, "port {port} in use"),
            RegisterError::AddressInUse { id } => write!(f, "address in use: {id:?}"),
            RegisterError::OtherPartition { owner } => {
                write!(f, "flow belongs to partition {owner}")
            }
            RegisterError::InvalidId => f.write_str("invalid transport endpoint id"),
        }
    }
}

impl std::error::Error for RegisterError {}

// ---------------------------------------------------------------------------
// Hashing.

type FxMap<K, V> = HashMap<K, V, FxBuildHasher>;

#[inline]
fn addr_bits(a: IpAddr) -> (u128, u64) {
    match a {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 0),
        IpAddr::V6(a) => (u128::from(a), 1),
    }
}

fn bits_addr(bits: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(bits))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(bits).unwrap_or(0)))
    }
}

/// Key of a connected endpoint: both addresses and ports.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ConnKey {
    local: u128,
    remote: u128,
    /// local port | remote port << 16 | local v6 << 32 | remote v6 << 33.
    meta: u64,
}

impl ConnKey {
    #[inline]
    fn new(local: IpAddr, lport: u16, remote: IpAddr, rport: u16) -> Self {
        let (l, lf) = addr_bits(local);
        let (r, rf) = addr_bits(remote);
        ConnKey {
            local: l,
            remote: r,
            meta: u64::from(lport) | u64::from(rport) << 16 | lf << 32 | rf << 33,
        }
    }

    fn id(&self) -> TransportEndpointId {
        TransportEndpointId::connected(
            bits_addr(self.local, self.meta >> 32 & 1 == 1),
            self.meta as u16,
            bits_addr(self.remote, self.meta >> 33 & 1 == 1),
            (self.meta >> 16) as u16,
        )
    }
}

impl Hash for ConnKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.local as u64 ^ (self.local >> 64) as u64);
        h.write_u64(self.remote as u64 ^ (self.remote >> 64) as u64);
        h.write_u64(self.meta);
    }
}

/// Key of an endpoint bound to a specific local address.
#[derive(Clone, Copy, PartialEq, Eq)]
struct BoundKey {
    addr: u128,
    /// port | v6 << 16.
    meta: u64,
}

impl BoundKey {
    #[inline]
    fn new(addr: IpAddr, port: u16) -> Self {
        let (a, f) = addr_bits(addr);
        BoundKey {
            addr: a,
            meta: u64::from(port) | f << 16,
        }
    }

    fn id(&self) -> TransportEndpointId {
        TransportEndpointId::bound(
            Some(bits_addr(self.addr, self.meta >> 16 & 1 == 1)),
            self.meta as u16,
        )
    }
}

impl Hash for BoundKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.addr as u64 ^ (self.addr >> 64) as u64);
        h.write_u64(self.meta);
    }
}

/// The endpoints of one transport protocol.
#[derive(Clone)]
struct ProtoTable<E> {
    connected: FxMap<ConnKey, E>,
    bound: FxMap<BoundKey, E>,
    wildcard: FxMap<u16, E>,
    /// Number of specific-address binds per port (for the wildcard rule).
    specific_per_port: FxMap<u16, u32>,
}

impl<E: Copy> ProtoTable<E> {
    fn new(h: FxBuildHasher) -> Self {
        ProtoTable {
            connected: HashMap::with_hasher(h),
            bound: HashMap::with_hasher(h),
            wildcard: HashMap::with_hasher(h),
            specific_per_port: HashMap::with_hasher(h),
        }
    }

    fn len(&self) -> usize {
        self.connected.len() + self.bound.len() + self.wildcard.len()
    }

    #[inline]
    fn lookup(&self, dst: IpAddr, dport: u16, src: IpAddr, sport: u16) -> Option<E> {
        if !self.connected.is_empty() {
            if let Some(e) = self.connected.get(&ConnKey::new(dst, dport, src, sport)) {
                return Some(*e);
            }
        }
        if !self.bound.is_empty() {
            if let Some(e) = self.bound.get(&BoundKey::new(dst, dport)) {
                return Some(*e);
            }
        }
        self.wildcard.get(&dport).copied()
    }

    fn iter(&self) -> impl Iterator<Item = (TransportEndpointId, E)> + '_ {
        self.connected
            .iter()
            .map(|(k, e)| (k.id(), *e))
            .chain(self.bound.iter().map(|(k, e)| (k.id(), *e)))
            .chain(
                self.wildcard
                    .iter()
                    .map(|(p, e)| (TransportEndpointId::bound(None, *p), *e)),
            )
    }
}

/// The transport demultiplexer of one partition, generic over the endpoint
/// handle `E` (a small `Copy` value such as a slab index).
#[derive(Clone)]
pub struct Demuxer<E> {
    partition: usize,
    n: usize,
    hasher: FxBuildHasher,
    tcp: ProtoTable<E>,
    udp: ProtoTable<E>,
    /// Raw and other protocols, few: searched linearly.
    other: Vec<(IpProtocol, ProtoTable<E>)>,
}

impl<E> fmt::Debug for Demuxer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Demuxer")
            .field("partition", &self.partition)
            .field("n_partitions", &self.n)
            .finish_non_exhaustive()
    }
}

impl<E: Copy> Demuxer<E> {
    /// A demuxer for `partition` of `n_partitions` (0 is treated as 1; the
    /// partition is reduced modulo the count).
    pub fn new(partition: usize, n_partitions: usize) -> Self {
        let n = n_partitions.max(1);
        let hasher = FxBuildHasher::random();
        Demuxer {
            partition: partition % n,
            n,
            hasher,
            tcp: ProtoTable::new(hasher),
            udp: ProtoTable::new(hasher),
            other: Vec::new(),
        }
    }

    /// This demuxer's partition.
    pub fn partition(&self) -> usize {
        self.partition
    }

    /// The number of partitions.
    pub fn n_partitions(&self) -> usize {
        self.n
    }

    #[inline]
    fn table(&self, protocol: IpProtocol) -> Option<&ProtoTable<E>> {
        match protocol {
            IpProtocol::Tcp => Some(&self.tcp),
            IpProtocol::Udp => Some(&self.udp),
            p => self.other.iter().find(|(q, _)| *q == p).map(|(_, t)| t),
        }
    }

    fn table_mut(&mut self, protocol: IpProtocol) -> &mut ProtoTable<E> {
        match protocol {
            IpProtocol::Tcp => &mut self.tcp,
            IpProtocol::Udp => &mut self.udp,
            p => {
                let i = match self.other.iter().position(|(q, _)| *q == p) {
                    Some(i) => i,
                    None => {
                        self.other.push((p, ProtoTable::new(self.hasher)));
                        self.other.len() - 1
                    }
                };
                &mut self.other[i].1
            }
        }
    }

    /// The partition owning the flow of a packet (or endpoint) tuple.
    #[inline]
    pub fn owner(
        &self,
        protocol: IpProtocol,
        dst_addr: IpAddr,
        dst_port: u16,
        src_addr: IpAddr,
        src_port: u16,
    ) -> usize {
        if self.n == 1 {
            return 0;
        }
        shard_of_hash(
            flow_hash(&FlowTuple {
                src_addr,
                dst_addr,
                src_port,
                dst_port,
                protocol,
            }),
            self.n,
        )
    }

    /// Register endpoint `ep` under `id` for `protocol` (see the module docs
    /// for the rules).
    pub fn register(
        &mut self,
        protocol: IpProtocol,
        id: TransportEndpointId,
        ep: E,
    ) -> Result<(), RegisterError> {
        let id = id.normalised();
        let ported = hashes_ports(protocol);
        if ported && id.local_port == 0 {
            return Err(RegisterError::InvalidId);
        }
        match (id.local_addr, id.remote_addr) {
            (Some(l), Some(r)) => {
                if l.is_ipv4() != r.is_ipv4() || (ported && id.remote_port == 0) {
                    return Err(RegisterError::InvalidId);
                }
                let owner = self.owner(protocol, l, id.local_port, r, id.remote_port);
                if owner != self.partition {
                    return Err(RegisterError::OtherPartition { owner });
                }
                let t = self.table_mut(protocol);
                let key = ConnKey::new(l, id.local_port, r, id.remote_port);
                if t.connected.contains_key(&key) {
                    return Err(RegisterError::AddressInUse { id });
                }
                t.connected.insert(key, ep);
            }
            (None, Some(_)) => return Err(RegisterError::InvalidId),
            (Some(l), None) => {
                let t = self.table_mut(protocol);
                if t.wildcard.contains_key(&id.local_port) {
                    return Err(RegisterError::PortInUse {
                        port: id.local_port,
                    });
                }
                let key = BoundKey::new(l, id.local_port);
                if t.bound.contains_key(&key) {
                    return Err(RegisterError::AddressInUse { id });
                }
                t.bound.insert(key, ep);
                *t.specific_per_port.entry(id.local_port).or_insert(0) += 1;
            }
            (None, None) => {
                let t = self.table_mut(protocol);
                if t.wildcard.contains_key(&id.local_port)
                    || t.specific_per_port.contains_key(&id.local_port)
                {
                    return Err(RegisterError::PortInUse {
                        port: id.local_port,
                    });
                }
                t.wildcard.insert(id.local_port, ep);
            }
        }
        Ok(())
    }

    /// Remove the endpoint registered under `id`; returns its handle.
    pub fn unregister(&mut self, protocol: IpProtocol, id: &TransportEndpointId) -> Option<E> {
        let id = id.normalised();
        let t = match protocol {
            IpProtocol::Tcp => &mut self.tcp,
            IpProtocol::Udp => &mut self.udp,
            p => &mut self.other.iter_mut().find(|(q, _)| *q == p)?.1,
        };
        match (id.local_addr, id.remote_addr) {
            (Some(l), Some(r)) => {
                t.connected
                    .remove(&ConnKey::new(l, id.local_port, r, id.remote_port))
            }
            (None, Some(_)) => None,
            (Some(l), None) => {
                let e = t.bound.remove(&BoundKey::new(l, id.local_port))?;
                if let Some(c) = t.specific_per_port.get_mut(&id.local_port) {
                    *c = c.saturating_sub(1);
                    if *c == 0 {
                        t.specific_per_port.remove(&id.local_port);
                    }
                }
                Some(e)
            }
            (None, None) => t.wildcard.remove(&id.local_port),
        }
    }

    /// Find the endpoint for an incoming packet (module docs: tier order).
    #[inline]
    pub fn lookup(
        &self,
        protocol: IpProtocol,
        dst_addr: IpAddr,
        dst_port: u16,
        src_addr: IpAddr,
        src_port: u16,
    ) -> Lookup<E> {
        let owner = self.owner(protocol, dst_addr, dst_port, src_addr, src_port);
        self.lookup_owned(owner, protocol, dst_addr, dst_port, src_addr, src_port)
    }

    /// [`lookup`](Self::lookup) with the flow hash already computed
    /// ([`flow_hash`] of the packet's tuple, e.g. the NIC's RSS hash when the
    /// NIC is programmed with the symmetric key).
    #[inline]
    pub fn lookup_with_hash(
        &self,
        protocol: IpProtocol,
        dst_addr: IpAddr,
        dst_port: u16,
        src_addr: IpAddr,
        src_port: u16,
        hash: u32,
    ) -> Lookup<E> {
        let owner = shard_of_hash(hash, self.n);
        self.lookup_owned(owner, protocol, dst_addr, dst_port, src_addr, src_port)
    }

    #[inline]
    fn lookup_owned(
        &self,
        owner: usize,
        protocol: IpProtocol,
        dst_addr: IpAddr,
        dst_port: u16,
        src_addr: IpAddr,
        src_port: u16,
    ) -> Lookup<E> {
        if owner != self.partition {
            return Lookup::OtherPartition(owner);
        }
        match self
            .table(protocol)
            .and_then(|t| t.lookup(dst_addr, dst_port, src_addr, src_port))
        {
            Some(e) => Lookup::Found(e),
            None => Lookup::NotFound,
        }
    }

    /// Number of registered endpoints.
    pub fn len(&self) -> usize {
        self.tcp.len() + self.udp.len() + self.other.iter().map(|(_, t)| t.len()).sum::<usize>()
    }

    /// Whether no endpoint is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every registered endpoint (for stats), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (IpProtocol, TransportEndpointId, E)> + '_ {
        [(IpProtocol::Tcp, &self.tcp), (IpProtocol::Udp, &self.udp)]
            .into_iter()
            .chain(self.other.iter().map(|(p, t)| (*p, t)))
            .flat_map(|(p, t)| t.iter().map(move |(id, e)| (p, id, e)))
    }

    /// Choose a local port for a new connection `local` → `remote:remote_port`
    /// such that the flow belongs to this partition and the port is free: no
    /// endpoint has the same 4-tuple and no bind (wildcard, or to `local`)
    /// holds the port. Candidates start at `start` and wrap within `range`.
    pub fn pick_ephemeral_port(
        &self,
        protocol: IpProtocol,
        local: IpAddr,
        remote: IpAddr,
        remote_port: u16,
        range: RangeInclusive<u16>,
        start: u16,
    ) -> Option<u16> {
        let t = self.table(protocol);
        let in_use = |p: u16| {
            t.is_some_and(|t| {
                t.connected
                    .contains_key(&ConnKey::new(local, p, remote, remote_port))
                    || t.wildcard.contains_key(&p)
                    || t.bound.contains_key(&BoundKey::new(local, p))
            })
        };
        pick_ephemeral_port(
            local,
            remote,
            remote_port,
            protocol,
            self.partition,
            self.n,
            range,
            start,
            in_use,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::flow_hash::shard_of;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    const TCP: IpProtocol = IpProtocol::Tcp;
    const UDP: IpProtocol = IpProtocol::Udp;

    #[test]
    fn tier_order() {
        let mut d: Demuxer<u32> = Demuxer::new(0, 1);
        let (l, r) = (ip("198.18.0.1"), ip("198.19.0.9"));
        d.register(TCP, TransportEndpointId::bound(None, 80), 1)
            .unwrap();
        d.register(TCP, TransportEndpointId::bound(Some(l), 80), 2)
            .unwrap_err();
        d.register(UDP, TransportEndpointId::bound(Some(l), 53), 3)
            .unwrap();
        d.register(UDP, TransportEndpointId::connected(l, 53, r, 4000), 4)
            .unwrap();
        d.register(TCP, TransportEndpointId::connected(l, 80, r, 5000), 5)
            .unwrap();
        assert_eq!(d.lookup(TCP, l, 80, r, 5000), Lookup::Found(5));
        assert_eq!(d.lookup(TCP, l, 80, r, 5001), Lookup::Found(1));
        assert_eq!(
            d.lookup(TCP, ip("198.18.0.2"), 80, r, 5000),
            Lookup::Found(1)
        );
        assert_eq!(d.lookup(UDP, l, 53, r, 4000), Lookup::Found(4));
        assert_eq!(d.lookup(UDP, l, 53, r, 4001), Lookup::Found(3));
        assert_eq!(
            d.lookup(UDP, ip("198.18.0.2"), 53, r, 4000),
            Lookup::NotFound
        );
        assert_eq!(d.lookup(TCP, l, 81, r, 5000), Lookup::NotFound);
        assert_eq!(d.lookup(IpProtocol::Icmp, l, 0, r, 0), Lookup::NotFound);
        // A bound entry beats the wildcard once both exist (different ports
        // here since they conflict on one port).
        d.register(TCP, TransportEndpointId::bound(Some(l), 443), 6)
            .unwrap();
        assert_eq!(d.lookup(TCP, l, 443, r, 1), Lookup::Found(6));
        assert_eq!(d.len(), 5);
        // Raw protocol without ports.
        d.register(
            IpProtocol::Unknown(253),
            TransportEndpointId::bound(None, 0),
            7,
        )
        .unwrap();
        assert_eq!(
            d.lookup(IpProtocol::Unknown(253), l, 0, r, 0),
            Lookup::Found(7)
        );
    }

    #[test]
    fn conflict_rules() {
        let mut d: Demuxer<u8> = Demuxer::new(0, 1);
        let (a, b) = (ip("198.18.0.1"), ip("198.18.0.2"));
        d.register(UDP, TransportEndpointId::bound(Some(a), 9), 0)
            .unwrap();
        // Another address on the same port is fine; the same is not.
        d.register(UDP, TransportEndpointId::bound(Some(b), 9), 0)
            .unwrap();
        assert_eq!(
            d.register(UDP, TransportEndpointId::bound(Some(a), 9), 0),
            Err(RegisterError::AddressInUse {
                id: TransportEndpointId::bound(Some(a), 9)
            })
        );
        // Wildcard conflicts with any bind on the port.
        assert_eq!(
            d.register(UDP, TransportEndpointId::bound(None, 9), 0),
            Err(RegisterError::PortInUse { port: 9 })
        );
        // 0.0.0.0 given explicitly is the wildcard.
        assert_eq!(
            d.register(UDP, TransportEndpointId::bound(Some(ip("0.0.0.0")), 9), 0),
            Err(RegisterError::PortInUse { port: 9 })
        );
        // Other protocol: independent.
        d.register(TCP, TransportEndpointId::bound(None, 9), 0)
            .unwrap();
        // Specific conflicts with wildcard.
        assert_eq!(
            d.register(TCP, TransportEndpointId::bound(Some(a), 9), 0),
            Err(RegisterError::PortInUse { port: 9 })
        );
        // Unregister the specifics, then the wildcard fits.
        assert_eq!(
            d.unregister(UDP, &TransportEndpointId::bound(Some(a), 9)),
            Some(0)
        );
        assert_eq!(
            d.unregister(UDP, &TransportEndpointId::bound(Some(b), 9)),
            Some(0)
        );
        assert_eq!(
            d.unregister(UDP, &TransportEndpointId::bound(Some(b), 9)),
            None
        );
        d.register(UDP, TransportEndpointId::bound(None, 9), 0)
            .unwrap();
        // Connected: only identical tuples conflict.
        let id = TransportEndpointId::connected(a, 9, b, 10);
        d.register(UDP, id, 1).unwrap();
        assert_eq!(
            d.register(UDP, id, 2),
            Err(RegisterError::AddressInUse { id })
        );
        // Invalid ids.
        let bad = [
            TransportEndpointId::bound(None, 0),
            TransportEndpointId::connected(a, 9, b, 0),
            TransportEndpointId::connected(a, 9, ip("2001:2::1"), 1),
            TransportEndpointId {
                local_addr: None,
                ..id
            },
        ];
        for bad in bad {
            assert_eq!(
                d.register(TCP, bad, 0),
                Err(RegisterError::InvalidId),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn partition_ownership() {
        let n = 4;
        let mut ds: Vec<Demuxer<usize>> = (0..n).map(|p| Demuxer::new(p, n)).collect();
        let l = ip("2001:2::1");
        for d in &mut ds {
            d.register(TCP, TransportEndpointId::bound(None, 443), 99)
                .unwrap();
        }
        for port in 1000..1100u16 {
            let r = ip("2001:2::2");
            let id = TransportEndpointId::connected(l, 443, r, port);
            let t = FlowTuple {
                src_addr: l,
                dst_addr: r,
                src_port: 443,
                dst_port: port,
                protocol: TCP,
            };
            let owner = shard_of(&t, n);
            for (p, d) in ds.iter_mut().enumerate() {
                let res = d.register(TCP, id, port as usize);
                if p == owner {
                    res.unwrap();
                } else {
                    assert_eq!(res, Err(RegisterError::OtherPartition { owner }));
                }
            }
            for (p, d) in ds.iter().enumerate() {
                let got = d.lookup(TCP, l, 443, r, port);
                let hashed = d.lookup_with_hash(TCP, l, 443, r, port, flow_hash(&t.reversed()));
                assert_eq!(got, hashed);
                if p == owner {
                    assert_eq!(got, Lookup::Found(port as usize));
                } else {
                    assert_eq!(got, Lookup::OtherPartition(owner));
                }
            }
        }
        // The listener answers new flows in their owning partition.
        let r = ip("2001:2::3");
        let owner = ds[0].owner(TCP, l, 443, r, 7);
        assert_eq!(ds[owner].lookup(TCP, l, 443, r, 7), Lookup::Found(99));
        // Iteration sees everything.
        let total: usize = ds.iter().map(|d| d.iter().count()).sum();
        assert_eq!(total, 100 + n);
        assert!(ds[0]
            .iter()
            .any(|(p, id, e)| p == TCP && id.remote_addr.is_none() && e == 99));
    }

    #[test]
    fn ephemeral_allocator() {
        let n = 3;
        let mut ds: Vec<Demuxer<u16>> = (0..n).map(|p| Demuxer::new(p, n)).collect();
        let (l, r) = (ip("198.18.0.1"), ip("198.19.0.1"));
        for (p, d) in ds.iter_mut().enumerate() {
            let mut got = Vec::new();
            // Exhaust a small range.
            while let Some(port) = d.pick_ephemeral_port(TCP, l, r, 80, 40000..=40100, 40000) {
                d.register(TCP, TransportEndpointId::connected(l, port, r, 80), port)
                    .unwrap();
                assert_eq!(d.lookup(TCP, l, port, r, 80), Lookup::Found(port));
                got.push(port);
            }
            assert!(!got.is_empty(), "partition {p} got no port");
            assert!(got.len() < 101);
        }
        // A wildcard bind makes its port unavailable.
        let mut d: Demuxer<u16> = Demuxer::new(0, 1);
        d.register(TCP, TransportEndpointId::bound(None, 5000), 0)
            .unwrap();
        assert_eq!(
            d.pick_ephemeral_port(TCP, l, r, 80, 5000..=5001, 5000),
            Some(5001)
        );
    }

    // ---- proptest against a naive oracle --------------------------------

    #[derive(Default)]
    struct Naive {
        eps: Vec<(IpProtocol, TransportEndpointId, u32)>,
    }

    impl Naive {
        fn register(
            &mut self,
            part: usize,
            n: usize,
            proto: IpProtocol,
            id: TransportEndpointId,
            e: u32,
        ) -> Result<(), RegisterError> {
            let id = id.normalised();
            if id.local_port == 0 {
                return Err(RegisterError::InvalidId);
            }
            let same = self.eps.iter().filter(|(p, _, _)| *p == proto);
            if let Some(r) = id.remote_addr {
                let l = id.local_addr.ok_or(RegisterError::InvalidId)?;
                if l.is_ipv4() != r.is_ipv4() || id.remote_port == 0 {
                    return Err(RegisterError::InvalidId);
                }
                let t = FlowTuple {
                    src_addr: l,
                    dst_addr: r,
                    src_port: id.local_port,
                    dst_port: id.remote_port,
                    protocol: proto,
                };
                let owner = shard_of(&t, n);
                if owner != part {
                    return Err(RegisterError::OtherPartition { owner });
                }
                if self.eps.iter().any(|(p, x, _)| *p == proto && *x == id) {
                    return Err(RegisterError::AddressInUse { id });
                }
            } else {
                let binds: Vec<_> = same
                    .filter(|(_, x, _)| x.remote_addr.is_none() && x.local_port == id.local_port)
                    .collect();
                match id.local_addr {
                    None if !binds.is_empty() => {
                        return Err(RegisterError::PortInUse {
                            port: id.local_port,
                        })
                    }
                    Some(_) if binds.iter().any(|(_, x, _)| x.local_addr.is_none()) => {
                        return Err(RegisterError::PortInUse {
                            port: id.local_port,
                        })
                    }
                    Some(a) if binds.iter().any(|(_, x, _)| x.local_addr == Some(a)) => {
                        return Err(RegisterError::AddressInUse { id })
                    }
                    _ => {}
                }
            }
            self.eps.push((proto, id, e));
            Ok(())
        }

        fn unregister(&mut self, proto: IpProtocol, id: TransportEndpointId) -> Option<u32> {
            let id = id.normalised();
            let i = self
                .eps
                .iter()
                .position(|(p, x, _)| *p == proto && *x == id)?;
            Some(self.eps.remove(i).2)
        }

        #[allow(clippy::too_many_arguments)]
        fn lookup(
            &self,
            part: usize,
            n: usize,
            proto: IpProtocol,
            dst: IpAddr,
            dport: u16,
            src: IpAddr,
            sport: u16,
        ) -> Lookup<u32> {
            let t = FlowTuple {
                src_addr: src,
                dst_addr: dst,
                src_port: sport,
                dst_port: dport,
                protocol: proto,
            };
            let owner = shard_of(&t, n);
            if owner != part {
                return Lookup::OtherPartition(owner);
            }
            let tiers: [&dyn Fn(&TransportEndpointId) -> bool; 3] = [
                &|x| {
                    x.local_addr == Some(dst)
                        && x.remote_addr == Some(src)
                        && x.remote_port == sport
                },
                &|x| x.local_addr == Some(dst) && x.remote_addr.is_none(),
                &|x| x.local_addr.is_none() && x.remote_addr.is_none(),
            ];
            for tier in tiers {
                if let Some((_, _, e)) = self
                    .eps
                    .iter()
                    .find(|(p, x, _)| *p == proto && x.local_port == dport && tier(x))
                {
                    return Lookup::Found(*e);
                }
            }
            Lookup::NotFound
        }
    }

    fn addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            Just(ip("198.18.0.1")),
            Just(ip("198.18.0.2")),
            Just(ip("198.19.0.1")),
            Just(ip("2001:2::1")),
            Just(ip("2001:2::2")),
        ]
    }
    fn maybe_addr() -> impl Strategy<Value = Option<IpAddr>> {
        prop_oneof![Just(None), Just(Some(ip("0.0.0.0"))), addr().prop_map(Some)]
    }
    fn id() -> impl Strategy<Value = TransportEndpointId> {
        (0u16..4, maybe_addr(), 0u16..4, maybe_addr()).prop_map(|(lp, la, rp, ra)| {
            TransportEndpointId {
                local_port: lp,
                local_addr: la,
                remote_port: rp,
                remote_addr: ra,
            }
        })
    }
    fn proto() -> impl Strategy<Value = IpProtocol> {
        prop_oneof![Just(TCP), Just(UDP)]
    }

    #[derive(Debug, Clone)]
    enum Op {
        Register(IpProtocol, TransportEndpointId),
        Unregister(IpProtocol, TransportEndpointId),
        Lookup(IpProtocol, IpAddr, u16, IpAddr, u16),
        /// Look up a packet aimed at the i-th registered endpoint (so that
        /// exact matches are common), from its remote or a random source.
        LookupRegistered(usize, IpAddr, u16),
    }

    proptest! {
        #[test]
        fn demux_matches_oracle(
            n in 1usize..4,
            part in 0usize..4,
            ops in proptest::collection::vec(prop_oneof![
                3 => (proto(), id()).prop_map(|(p, i)| Op::Register(p, i)),
                1 => (proto(), id()).prop_map(|(p, i)| Op::Unregister(p, i)),
                4 => (proto(), addr(), 0u16..4, addr(), 0u16..4)
                    .prop_map(|(p, d, dp, s, sp)| Op::Lookup(p, d, dp, s, sp)),
                3 => (any::<usize>(), addr(), 0u16..4)
                    .prop_map(|(i, s, sp)| Op::LookupRegistered(i, s, sp)),
            ], 1..60),
        ) {
            let part = part % n;
            let mut d: Demuxer<u32> = Demuxer::new(part, n);
            let mut naive = Naive::default();
            for (i, op) in ops.into_iter().enumerate() {
                let i = i as u32;
                match op {
                    Op::Register(p, id) => prop_assert_eq!(
                        d.register(p, id, i),
                        naive.register(part, n, p, id, i),
                        "register {:?}", id
                    ),
                    Op::Unregister(p, id) => {
                        prop_assert_eq!(d.unregister(p, &id), naive.unregister(p, id))
                    }
                    Op::Lookup(p, dst, dp, src, sp) => prop_assert_eq!(
                        d.lookup(p, dst, dp, src, sp),
                        naive.lookup(part, n, p, dst, dp, src, sp)
                    ),
                    Op::LookupRegistered(k, s, sp) => {
                        if naive.eps.is_empty() {
                            continue;
                        }
                        let (p, id, _) = naive.eps[k % naive.eps.len()];
                        let dst = id.local_addr.unwrap_or(s);
                        let (src, sp) = match id.remote_addr {
                            Some(r) if k % 4 != 0 => (r, id.remote_port),
                            _ => (s, sp),
                        };
                        prop_assert_eq!(
                            d.lookup(p, dst, id.local_port, src, sp),
                            naive.lookup(part, n, p, dst, id.local_port, src, sp)
                        );
                    }
                }
                prop_assert_eq!(d.len(), naive.eps.len());
            }
            let mut got: Vec<_> = d.iter().map(|(p, id, e)| (u8::from(p), id, e)).collect();
            let mut want: Vec<_> = naive.eps.iter().map(|(p, id, e)| (u8::from(*p), *id, *e)).collect();
            got.sort_by_key(|x| x.2);
            want.sort_by_key(|x| x.2);
            prop_assert_eq!(got, want);
        }
    }
}
