//! The stack: one per shard, owning NICs, addresses, routes and neighbors.
//!
//! A [`Stack`] is the seeds' `Stack` for one worker. It owns its NICs (each
//! with a [`LinkEndpoint`]), the route table and its compiled FIB, the
//! reassembly state, the transport endpoints of its demux partition, and one
//! [`DropCounters`]. It is single-threaded and sans-I/O: the worker calls
//! [`Stack::poll`] with the current time; the stack reads a batch from every
//! link, processes each frame to completion (receive paths are `process_*`),
//! queues what it sends on the egress NIC's batch (send paths are
//! `dispatch_*`), runs due timers and flushes every NIC's batch with one
//! `write_packets` call. [`Stack::poll_at`] says when timers next need a
//! poll, so an idle worker can sleep.
//!
//! The network layer lives in [`crate::network`] as further `impl Stack`
//! blocks (IPv4, IPv6, ARP, NDP, ICMP, forwarding, output); the transport
//! endpoints in [`crate::transport`].

use core::fmt;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv6Net};

use crate::buffer::{PacketBatch, PacketBuffer};
use crate::link::LinkEndpoint;
use crate::network::fragment::{Reassembler, ReassemblerConfig};
use crate::network::rate_limit::TokenBucket;
use crate::network::Rx;
use crate::time::{Duration, Instant};
use crate::transport::demux::Demuxer;
use crate::transport::packet::PacketEndpoint;
use crate::transport::raw::RawEndpoint;
use crate::transport::udp::UdpEndpoint;
use crate::transport::{Handle, Slab};
use crate::wire::EthernetAddress;

pub mod address;
mod drop;
pub mod neighbor;
pub mod nic;
pub mod route;

pub use address::{AddressError, AddressState, PrimaryEndpointBehavior};
pub use drop::{DropCounters, DropReason};
pub use nic::{Nic, NicStats};
pub use route::{NextHop, Route, RouteTable};

use neighbor::NeighborConfig;
use route::Fib;

/// Identifies a NIC within one stack (dense, assigned in creation order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NicId(pub u16);

impl fmt::Display for NicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nic{}", self.0)
    }
}

/// Stack-wide settings.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// TTL of IPv4 packets the stack originates (RFC 1122 3.2.1.7).
    pub default_ttl: u8,
    /// Hop limit of IPv6 packets the stack originates (RFC 8200 3).
    pub default_hop_limit: u8,
    /// ICMP errors per second (token refill rate), RFC 1812 4.3.2.8.
    pub icmp_rate_per_sec: u32,
    /// ICMP error burst (bucket size).
    pub icmp_burst: u32,
    /// IPv4 reassembly limits.
    pub reassembly_v4: ReassemblerConfig,
    /// IPv6 reassembly limits.
    pub reassembly_v6: ReassemblerConfig,
    /// Neighbor cache settings (both ARP and NDP).
    pub neighbor: NeighborConfig,
    /// Datagrams a UDP endpoint queues before dropping.
    pub udp_rx_queue_len: usize,
    /// Frames read from a link at once (one `read_packets` call).
    pub rx_budget: usize,
    /// Reads of `rx_budget` frames per link per poll while the link keeps
    /// returning full batches (default 1). A host whose application work
    /// between polls is heavy (hundreds of TCP connections) should drain
    /// its rx ring in one poll: `xdpnet tcpclient` with 500 connections to
    /// a kernel echo server lost 20 % of the frames at its 2048-entry ring
    /// (the kernel peer's replies arrive while the worker transmits) and
    /// took 15–40 s; reading up to 64 batches per poll it lost about
    /// 1.5 % (none with a 4096-entry ring) and took about 3 s. Linux's NAPI
    /// polls 64 at a time within a `netdev_budget` of 300 per softirq round
    /// for the same reason.
    pub rx_batches: usize,
    /// Frames a NIC may hold for a link that is momentarily full; beyond
    /// this they are dropped ([`DropReason::TxQueueFull`]).
    pub tx_backlog: usize,
    /// This stack's demux partition (its shard index).
    pub partition: usize,
    /// The number of partitions (shards).
    pub partitions: usize,
    /// Duplicate address detection transmits (RFC 4862 5.1
    /// `DupAddrDetectTransmits`).
    pub dad_transmits: u8,
    /// Interval between DAD solicitations (RFC 4861 `RetransTimer`).
    pub dad_retrans: Duration,
    /// Offer received frames to the forwarding fast path (IPv4 and IPv6)
    /// first (default on; [`crate::network::fast_path`]). Off, every frame
    /// takes the general receive path, with the same results.
    pub fast_path: bool,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            default_ttl: 64,
            default_hop_limit: 64,
            icmp_rate_per_sec: crate::network::rate_limit::DEFAULT_ICMP_RATE_PER_SEC,
            icmp_burst: crate::network::rate_limit::DEFAULT_ICMP_BURST,
            reassembly_v4: ReassemblerConfig::ipv4(),
            reassembly_v6: ReassemblerConfig::ipv6(),
            // Per neighbor, a burst (hundreds of SYNs opened at once, a
            // fragment train, a 64 KiB GSO batch) survives resolution, like
            // Linux's 208 KiB unres_qlen_bytes; `queue_total_limit` applies
            // to the sum over every NIC's ARP and NDP caches.
            neighbor: NeighborConfig::default(),
            udp_rx_queue_len: 1024,
            rx_budget: 64,
            rx_batches: 1,
            tx_backlog: 4096,
            partition: 0,
            partitions: 1,
            dad_transmits: 1,
            dad_retrans: Duration::from_secs(1),
            fast_path: true,
        }
    }
}

/// Protocol counters of one stack (beyond per-NIC and drop counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackStats {
    /// IP packets received (both families) and accepted for processing.
    pub ip_rx: u64,
    /// IP packets delivered to a local protocol.
    pub ip_delivered: u64,
    /// IP packets forwarded.
    pub ip_forwarded: u64,
    /// Of those, packets the fast path forwarded
    /// ([`crate::network::fast_path`]).
    pub fast_path_forwarded: u64,
    /// IP packets originated locally.
    pub ip_originated: u64,
    /// Packets looped back to ourselves without touching a link.
    pub ip_looped_back: u64,
    /// Fragments created on send.
    pub fragments_created: u64,
    /// Datagrams reassembled.
    pub reassembled: u64,
    /// Packets cut by software GSO.
    pub gso_packets: u64,
    /// Segments produced by software GSO.
    pub gso_segments: u64,
    /// ICMP echo requests answered (both families).
    pub icmp_echo_replies: u64,
    /// ICMP errors sent.
    pub icmp_errors_sent: u64,
    /// ICMP errors received and delivered as control events.
    pub icmp_errors_received: u64,
    /// ARP requests and neighbor solicitations sent.
    pub solicitations_sent: u64,
    /// UDP datagrams delivered to endpoints.
    pub udp_rx: u64,
    /// UDP datagrams sent.
    pub udp_tx: u64,
}

/// Something that happened in the stack that its owner may want to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackEvent {
    /// IPv6 duplicate address detection succeeded; the address is usable.
    DadSucceeded {
        /// The NIC.
        nic: NicId,
        /// The address.
        addr: Ipv6Addr,
    },
    /// IPv6 duplicate address detection found a duplicate; the address was
    /// removed (RFC 4862 5.4.5).
    DadFailed {
        /// The NIC.
        nic: NicId,
        /// The address.
        addr: Ipv6Addr,
    },
    /// A neighbor answered (the worker shares these with other shards).
    NeighborResolved {
        /// The NIC.
        nic: NicId,
        /// The protocol address.
        addr: IpAddr,
        /// Its MAC.
        mac: EthernetAddress,
        /// Whether this shard took the answer into an entry it already had
        /// (it, or the router, asked); an answer to a shard without an
        /// entry is passed on unconfirmed, for the shard that asked.
        confirmed: bool,
    },
}

/// Errors from stack configuration calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackError {
    /// No NIC with this id.
    UnknownNic(NicId),
    /// An address could not be added.
    Address(AddressError),
    /// A route could not be added.
    Route(String),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::UnknownNic(n) => write!(f, "no such NIC: {n}"),
            StackError::Address(e) => write!(f, "{e}"),
            StackError::Route(e) => write!(f, "bad route: {e}"),
        }
    }
}

impl std::error::Error for StackError {}

/// The key of an IPv4 datagram under reassembly (RFC 791 3.2).
pub(crate) type ReasmKeyV4 = (Ipv4Addr, Ipv4Addr, u16, u8);
/// The key of an IPv6 datagram under reassembly (RFC 8200 4.5).
pub(crate) type ReasmKeyV6 = (Ipv6Addr, Ipv6Addr, u32);

/// One shard's TCP/IP stack.
pub struct Stack {
    pub(crate) config: StackConfig,
    pub(crate) nics: Vec<Nic>,
    /// The route table; it keeps its lookup-optimised FIB up to date on
    /// every change.
    pub(crate) routes: RouteTable,
    pub(crate) drops: DropCounters,
    pub(crate) stats: StackStats,
    pub(crate) reasm_v4: Reassembler<ReasmKeyV4>,
    pub(crate) reasm_v6: Reassembler<ReasmKeyV6>,
    pub(crate) icmp_bucket: TokenBucket,
    pub(crate) demux: Demuxer<Handle>,
    pub(crate) udp: Slab<UdpEndpoint>,
    pub(crate) raw: Slab<RawEndpoint>,
    pub(crate) packet: Slab<PacketEndpoint>,
    /// Raw endpoints by protocol, for delivery without a demux probe.
    pub(crate) raw_by_proto: Vec<(crate::wire::IpProtocol, Handle)>,
    /// Locally addressed packets waiting to be delivered (loopback).
    pub(crate) loopback: VecDeque<(usize, PacketBuffer)>,
    pub(crate) ipv4_ident: u16,
    /// Where the next ephemeral port search starts.
    pub(crate) ephemeral_cursor: u32,
    pub(crate) ipv6_frag_ident: u32,
    /// Scratch batch reused for reading from links.
    pub(crate) rx_scratch: PacketBatch,
    pub(crate) events: VecDeque<StackEvent>,
    /// Packets whose flow belongs to another shard: (owner, NIC index,
    /// packet starting at the IP header). The worker moves them to the
    /// owner's inbox.
    pub(crate) handoff: VecDeque<(usize, usize, PacketBuffer)>,
    /// Local IPv4 addresses of every NIC (weak host model, RFC 1122
    /// 3.3.4.2), kept contiguous for the per-packet check.
    pub(crate) local_v4: Vec<Ipv4Addr>,
    /// `local_v4` and every NIC's subnet broadcast addresses as a filter:
    /// most addresses a router sees are neither, so one probe per address
    /// skips the own-address, martian-broadcast and directed-broadcast
    /// checks of the receive and forwarding paths (`process_ipv4`).
    pub(crate) local_v4_filter: address::AddrFilter,
    /// Every NIC's IPv6 addresses (any state) as a filter, for the same
    /// reason. Both are rebuilt by `refresh_local_filters`.
    pub(crate) local_v6_filter: address::AddrFilter,
    /// TCP listeners, connections, settings and timers.
    pub(crate) tcp: crate::transport::tcp::TcpTable,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("nics", &self.nics)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Default for Stack {
    fn default() -> Self {
        Stack::new(StackConfig::default())
    }
}

impl Stack {
    /// A stack with no NICs.
    pub fn new(config: StackConfig) -> Stack {
        let partitions = config.partitions.max(1);
        Stack {
            nics: Vec::new(),
            routes: RouteTable::new(),
            drops: DropCounters::default(),
            stats: StackStats::default(),
            reasm_v4: Reassembler::new(config.reassembly_v4),
            reasm_v6: Reassembler::new(config.reassembly_v6),
            icmp_bucket: TokenBucket::new(config.icmp_rate_per_sec, config.icmp_burst),
            demux: Demuxer::new(config.partition.min(partitions - 1), partitions),
            udp: Slab::default(),
            raw: Slab::default(),
            packet: Slab::default(),
            raw_by_proto: Vec::new(),
            loopback: VecDeque::new(),
            ipv4_ident: 1,
            ephemeral_cursor: 0,
            ipv6_frag_ident: 1,
            rx_scratch: Vec::with_capacity(64),
            events: VecDeque::new(),
            handoff: VecDeque::new(),
            local_v4: Vec::new(),
            local_v4_filter: address::AddrFilter::default(),
            local_v6_filter: address::AddrFilter::default(),
            tcp: Default::default(),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    // ---- NICs ------------------------------------------------------------

    /// Attach a link as a new NIC. An IPv6 link-local address derived from
    /// the MAC (RFC 4291 2.5.1) is assigned at once.
    pub fn add_nic(
        &mut self,
        name: impl Into<String>,
        link: impl LinkEndpoint + Send + 'static,
    ) -> NicId {
        self.add_boxed_nic(name, Box::new(link))
    }

    /// Attach a boxed link as a new NIC.
    pub fn add_boxed_nic(
        &mut self,
        name: impl Into<String>,
        link: Box<dyn LinkEndpoint + Send>,
    ) -> NicId {
        let id = NicId(self.nics.len() as u16);
        let mut nic = Nic::new(id, name.into(), link, self.config.neighbor.clone());
        let ll = address::link_local_from_mac(&nic.mac);
        if let Ok(net) = Ipv6Net::new(ll, 64) {
            // A fresh NIC has no addresses, so this cannot conflict.
            let _ = nic
                .addrs
                .add_v6(net, PrimaryEndpointBehavior::CanBePrimary, false);
        }
        self.nics.push(nic);
        self.refresh_local_filters();
        id
    }

    /// Rebuild the local-address filters after any address change.
    pub(crate) fn refresh_local_filters(&mut self) {
        let mut v4 = address::AddrFilter::default();
        for a in &self.local_v4 {
            v4.insert_v4(*a);
        }
        let mut v6 = address::AddrFilter::default();
        for n in &self.nics {
            for b in n.addrs.broadcasts_v4() {
                v4.insert_v4(*b);
            }
            for e in n.addrs.v6() {
                v6.insert_v6(&e.net.addr());
            }
        }
        self.local_v4_filter = v4;
        self.local_v6_filter = v6;
    }

    /// The NICs.
    pub fn nics(&self) -> &[Nic] {
        &self.nics
    }

    /// One NIC.
    pub fn nic(&self, id: NicId) -> Option<&Nic> {
        self.nics.get(id.0 as usize)
    }

    /// One NIC by name.
    pub fn nic_by_name(&self, name: &str) -> Option<&Nic> {
        self.nics.iter().find(|n| n.name == name)
    }

    /// The link behind a NIC (for statistics of the link itself).
    pub fn link(&self, id: NicId) -> Option<&(dyn LinkEndpoint + Send)> {
        self.nics.get(id.0 as usize).map(|n| n.link.as_ref())
    }

    /// The link behind a NIC, mutably.
    pub fn link_mut(&mut self, id: NicId) -> Option<&mut (dyn LinkEndpoint + Send)> {
        match self.nics.get_mut(id.0 as usize) {
            Some(n) => Some(n.link.as_mut()),
            None => None,
        }
    }

    fn nic_mut(&mut self, id: NicId) -> Result<&mut Nic, StackError> {
        self.nics
            .get_mut(id.0 as usize)
            .ok_or(StackError::UnknownNic(id))
    }

    /// Enable or disable a NIC.
    pub fn set_enabled(&mut self, id: NicId, on: bool) -> Result<(), StackError> {
        self.nic_mut(id)?.enabled = on;
        Ok(())
    }

    /// Turn promiscuous mode on or off.
    pub fn set_promiscuous(&mut self, id: NicId, on: bool) -> Result<(), StackError> {
        self.nic_mut(id)?.promiscuous = on;
        Ok(())
    }

    /// Allow or forbid sending from addresses the NIC does not own.
    pub fn set_spoofing(&mut self, id: NicId, on: bool) -> Result<(), StackError> {
        self.nic_mut(id)?.spoofing = on;
        Ok(())
    }

    /// Turn IPv4 and IPv6 forwarding on or off for packets arriving on a NIC.
    pub fn set_forwarding(&mut self, id: NicId, v4: bool, v6: bool) -> Result<(), StackError> {
        let n = self.nic_mut(id)?;
        n.forwarding_v4 = v4;
        n.forwarding_v6 = v6;
        Ok(())
    }

    // ---- addresses and routes ----------------------------------------------

    /// Assign an address (IPv4 or IPv6, no DAD) and its connected route.
    pub fn add_address(&mut self, id: NicId, net: IpNet) -> Result<(), StackError> {
        self.add_address_with(
            id,
            net,
            PrimaryEndpointBehavior::CanBePrimary,
            false,
            Instant::ZERO,
        )
    }

    /// Assign an address with a primary behaviour; for IPv6 with `dad` the
    /// address stays tentative until duplicate address detection, started at
    /// `now`, completes (RFC 4862 5.4).
    pub fn add_address_with(
        &mut self,
        id: NicId,
        net: IpNet,
        behavior: PrimaryEndpointBehavior,
        dad: bool,
        now: Instant,
    ) -> Result<(), StackError> {
        let dad_transmits = self.config.dad_transmits;
        let nic = self.nic_mut(id)?;
        match net {
            IpNet::V4(n) => {
                nic.addrs.add_v4(n, behavior).map_err(StackError::Address)?;
                self.local_v4.push(n.addr());
            }
            IpNet::V6(n) => {
                let dad = dad && dad_transmits > 0;
                nic.addrs
                    .add_v6(n, behavior, dad)
                    .map_err(StackError::Address)?;
                if dad {
                    nic.dad.push(nic::DadProbe {
                        addr: n.addr(),
                        remaining: dad_transmits,
                        deadline: now,
                    });
                }
            }
        }
        self.refresh_local_filters();
        if net.prefix_len() < net.max_prefix_len() {
            self.add_route(Route {
                prefix: net.trunc(),
                next_hop: NextHop::Connected { nic: id },
                metric: 0,
            })?;
        }
        Ok(())
    }

    /// Remove an address and its connected route.
    pub fn remove_address(&mut self, id: NicId, addr: IpAddr) -> Result<bool, StackError> {
        let nic = self.nic_mut(id)?;
        let (removed, net) = match addr {
            IpAddr::V4(a) => {
                let net = nic
                    .addrs
                    .v4()
                    .iter()
                    .find(|e| e.net.addr() == a)
                    .map(|e| IpNet::V4(e.net));
                (nic.addrs.remove_v4(a), net)
            }
            IpAddr::V6(a) => {
                let net = nic
                    .addrs
                    .v6()
                    .iter()
                    .find(|e| e.net.addr() == a)
                    .map(|e| IpNet::V6(e.net));
                nic.dad.retain(|d| d.addr != a);
                (nic.addrs.remove_v6(a), net)
            }
        };
        if let IpAddr::V4(a) = addr {
            self.local_v4.retain(|x| *x != a);
        }
        self.refresh_local_filters();
        if let Some(net) = net {
            let still_used = self.nics.iter().any(|n| match net {
                IpNet::V4(p) => n.addrs.v4().iter().any(|e| e.net.trunc() == p.trunc()),
                IpNet::V6(p) => n.addrs.v6().iter().any(|e| e.net.trunc() == p.trunc()),
            });
            if !still_used {
                self.remove_route(net.trunc());
            }
        }
        Ok(removed)
    }

    /// Add a route (replacing one with the same prefix and metric).
    pub fn add_route(&mut self, route: Route) -> Result<(), StackError> {
        if let NextHop::Connected { nic } | NextHop::Gateway { nic, .. } = route.next_hop {
            if nic.0 as usize >= self.nics.len() {
                return Err(StackError::UnknownNic(nic));
            }
        }
        self.routes
            .replace(route)
            .map_err(|e| StackError::Route(e.to_string()))?;
        Ok(())
    }

    /// Remove every route for `prefix`; whether one existed.
    pub fn remove_route(&mut self, prefix: IpNet) -> bool {
        self.routes.remove(prefix).is_ok()
    }

    /// The route table.
    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    /// The FIB the per-packet path reads.
    #[inline(always)]
    pub(crate) fn fib(&self) -> &Fib {
        self.routes.fib()
    }

    /// Add a static neighbor entry (never ages, never probed).
    pub fn add_static_neighbor(
        &mut self,
        id: NicId,
        addr: IpAddr,
        mac: EthernetAddress,
    ) -> Result<(), StackError> {
        let nic = self.nic_mut(id)?;
        match addr {
            IpAddr::V4(a) => {
                let released = nic.arp.add_static(a, mac);
                let i = id.0 as usize;
                self.release_parked(i, addr, released);
            }
            IpAddr::V6(a) => {
                let released = nic.ndp.add_static(a, mac);
                let i = id.0 as usize;
                self.release_parked(i, addr, released);
            }
        }
        Ok(())
    }

    /// Apply a neighbor answer another shard received (its
    /// [`StackEvent::NeighborResolved`]; see
    /// [`NeighborCache::learn_from_peer`](neighbor::NeighborCache::learn_from_peer)):
    /// an entry this shard has is resolved (sending the packets queued for
    /// it) or refreshed, like a solicited advertisement with override (RFC
    /// 4861 7.2.5); without one, a `confirmed` answer (one the other shard
    /// took into an entry of its own) creates a REACHABLE entry and an
    /// unconfirmed one is ignored. Entries learned so still age and get
    /// re-probed here, unlike static ones. When this resolves an entry that
    /// was waiting, the answer is passed on as confirmed (a new
    /// `NeighborResolved` event), so every shard learns it: one request per
    /// neighbor for the whole router, not one per shard.
    pub fn learn_neighbor(
        &mut self,
        id: NicId,
        addr: IpAddr,
        mac: EthernetAddress,
        confirmed: bool,
        now: Instant,
    ) -> Result<(), StackError> {
        let nic = self.nic_mut(id)?;
        let (released, was_waiting) = match addr {
            IpAddr::V4(a) => nic.arp.learn_from_peer(a, mac, confirmed, now),
            IpAddr::V6(a) => nic.ndp.learn_from_peer(a, mac, confirmed, now),
        };
        let i = id.0 as usize;
        if was_waiting {
            self.neighbor_learned(i, addr, mac, true);
        }
        self.release_parked(i, addr, released);
        Ok(())
    }

    /// An upper-layer reachability hint (RFC 4861 7.3.1), e.g. from an
    /// application protocol that saw an answer from next hop `addr` on NIC
    /// `id`: a STALE, DELAY or PROBE entry becomes REACHABLE and a REACHABLE
    /// one stays so for another ReachableTime, without a probe. Returns
    /// whether an entry with a MAC was confirmed. TCP gives this hint itself
    /// for every ACK that advances SND.UNA.
    pub fn confirm_reachable(
        &mut self,
        id: NicId,
        addr: IpAddr,
        now: Instant,
    ) -> Result<bool, StackError> {
        self.nic_mut(id)?;
        Ok(self.confirm_next_hop(id.0 as usize, addr, now))
    }

    /// Whether `a` is one of our IPv4 addresses (on any NIC).
    #[inline(always)]
    pub fn is_local_v4(&self, a: Ipv4Addr) -> bool {
        self.local_v4_filter.may_contain_v4(a) && self.local_v4.contains(&a)
    }

    /// False only if `a` is none of our IPv4 addresses and no subnet
    /// broadcast address of any NIC (one filter probe).
    #[inline(always)]
    pub(crate) fn may_be_special_v4(&self, a: Ipv4Addr) -> bool {
        self.local_v4_filter.may_contain_v4(a)
    }

    /// Whether `a` is one of our (non-tentative) IPv6 addresses.
    #[inline(always)]
    pub fn is_local_v6(&self, a: &Ipv6Addr) -> bool {
        self.local_v6_filter.may_contain_v6(a) && self.nics.iter().any(|n| n.addrs.has_v6(a))
    }

    /// Whether `a` is one of our addresses.
    pub fn is_local(&self, a: &IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => self.is_local_v4(*a),
            IpAddr::V6(a) => self.is_local_v6(a),
        }
    }

    /// The NIC that owns a local address.
    pub(crate) fn nic_of_local(&self, a: &IpAddr) -> Option<usize> {
        self.nics.iter().position(|n| match a {
            IpAddr::V4(a) => n.addrs.has_v4(*a),
            IpAddr::V6(a) => n.addrs.has_v6(a),
        })
    }

    // ---- counters and events ---------------------------------------------

    /// The drop counters.
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    /// The protocol counters.
    pub fn stats(&self) -> &StackStats {
        &self.stats
    }

    /// Take the next event.
    pub fn next_event(&mut self) -> Option<StackEvent> {
        self.events.pop_front()
    }

    /// Take the next packet that belongs to another shard: `(owner shard,
    /// NIC, packet starting at its IP header)`.
    pub fn take_handoff(&mut self) -> Option<(usize, NicId, PacketBuffer)> {
        let (owner, nic, pkt) = self.handoff.pop_front()?;
        Some((owner, self.nics[nic].id, pkt))
    }

    /// Accept a packet another shard handed to this one (it starts at the
    /// IP header and was validated by the receiving shard).
    pub fn deliver_handoff(&mut self, nic: NicId, pkt: PacketBuffer, now: Instant) {
        let i = nic.0 as usize;
        if i < self.nics.len() {
            self.process_ip_local(i, pkt, now);
        }
    }

    pub(crate) fn hand_off(&mut self, owner: usize, nic: usize, pkt: PacketBuffer) {
        if self.handoff.len() >= self.config.tx_backlog {
            return self.drop_packet(DropReason::EndpointQueueFull);
        }
        self.handoff.push_back((owner, nic, pkt));
    }

    /// Deliver a packet addressed to us by IP version.
    pub(crate) fn process_ip_local(&mut self, i: usize, pkt: PacketBuffer, now: Instant) {
        match pkt.as_slice().first().map(|b| b >> 4) {
            Some(4) => self.process_ipv4_local(i, pkt, now),
            Some(6) => self.process_ipv6_local(i, pkt, now),
            _ => self.drop_packet(DropReason::Ipv4Malformed),
        }
    }

    #[inline]
    pub(crate) fn drop_packet(&mut self, reason: DropReason) {
        self.drops.count(reason);
    }

    // ---- the poll loop ---------------------------------------------------

    /// Run one round: receive a batch from every link and process it, run
    /// due timers, and flush every NIC's transmit batch with one
    /// `write_packets` call. Returns whether anything was received or sent.
    pub fn poll(&mut self, now: Instant) -> bool {
        let mut did = false;
        let mut batch = core::mem::take(&mut self.rx_scratch);
        let budget = self.config.rx_budget;
        self.refresh_fast_path();
        for i in 0..self.nics.len() {
            for _ in 0..self.config.rx_batches.max(1) {
                batch.clear();
                let n = self.nics[i].link.read_packets(&mut batch, budget, now);
                did |= n > 0;
                for mut pkt in batch.drain(..) {
                    let fast = match self.fast_forward_v4(i, &mut pkt) {
                        None => self.fast_forward_v6(i, &mut pkt),
                        e => e,
                    };
                    if let Some(e) = fast {
                        self.nics[e].tx.push(pkt);
                        continue;
                    }
                    self.receive_frame(i, pkt, now);
                }
                // Local deliveries produced while processing are handled in
                // the same round, bounded so a loop cannot spin forever.
                self.process_loopback(now);
                if n < budget {
                    break;
                }
            }
        }
        self.rx_scratch = batch;
        self.process_loopback(now);
        self.process_timers(now);
        did |= self.flush(now);
        did
    }

    /// When the stack next needs [`Stack::poll`] for its timers, if at all.
    /// Received frames need a poll too, of course; this covers timers only.
    pub fn poll_at(&self) -> Option<Instant> {
        let mut at: Option<Instant> = None;
        let mut fold = |t: Option<Instant>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        for nic in &self.nics {
            fold(nic.arp.poll_at());
            fold(nic.ndp.poll_at());
            fold(nic.dad.iter().map(|d| d.deadline).min());
            if !nic.tx.is_empty() {
                fold(Some(Instant::ZERO));
            }
        }
        fold(self.reasm_v4.poll_at());
        fold(self.reasm_v6.poll_at());
        if !self.loopback.is_empty() {
            fold(Some(Instant::ZERO));
        }
        fold(self.tcp.poll_at());
        at
    }

    /// Hand every NIC's queued frames to its link, one `write_packets` per
    /// NIC. Frames a link refuses stay queued up to the backlog limit.
    pub fn flush(&mut self, now: Instant) -> bool {
        let mut did = false;
        let backlog = self.config.tx_backlog;
        for nic in &mut self.nics {
            if nic.tx.is_empty() {
                continue;
            }
            did = true;
            let offered = nic.tx.len();
            let bytes_before: usize = nic.tx.iter().map(|p| p.len()).sum();
            let n = nic.link.write_packets(&mut nic.tx, now);
            let bytes_left: usize = nic.tx.iter().map(|p| p.len()).sum();
            nic.stats.tx_batches += 1;
            nic.stats.tx_packets += n.min(offered) as u64;
            nic.stats.tx_bytes += bytes_before.saturating_sub(bytes_left) as u64;
            if nic.tx.len() > backlog {
                let excess = nic.tx.len() - backlog;
                nic.tx.drain(..excess);
                nic.stats.tx_dropped += excess as u64;
                self.drops.count_n(DropReason::TxQueueFull, excess as u64);
            }
        }
        did
    }

    /// Deliver a received frame (the seeds' `DeliverNetworkPacket`): the
    /// entry point of the receive path, called by [`Stack::poll`] for every
    /// frame a link returns, and by tests and workers that read links
    /// themselves.
    ///
    /// The receive path up to the forwarding decision works on the buffer
    /// in place and says what to do with it (`Rx`); the buffer is moved
    /// here, once (see [`crate::network`]).
    #[inline(never)]
    pub fn deliver_network_packet(&mut self, nic: usize, pkt: PacketBuffer, now: Instant) {
        self.receive_frame(nic, pkt, now);
    }

    /// [`Stack::deliver_network_packet`], inlined into the [`Stack::poll`]
    /// loop: no call, and the buffer is processed where the loop put it.
    #[inline(always)]
    fn receive_frame(&mut self, nic: usize, mut pkt: PacketBuffer, now: Instant) {
        match self.process_ethernet(nic, &mut pkt, now) {
            Rx::Consumed => {}
            Rx::Transmit { nic: out } => self.nics[out].tx.push(pkt),
            Rx::Output { nic: out, next_hop } => self.output_ip_outlined(out, next_hop, pkt, now),
            Rx::Ipv4Local => self.process_ipv4_local(nic, pkt, now),
            Rx::Ipv6Local => self.process_ipv6_local(nic, pkt, now),
            Rx::Arp => self.process_arp(nic, pkt, now),
        }
    }

    fn process_loopback(&mut self, now: Instant) {
        // Bound the work so a pathological ping-pong cannot stall the poll.
        let mut budget = 4096;
        while let Some((nic, pkt)) = self.loopback.pop_front() {
            self.stats.ip_looped_back += 1;
            self.process_ip_local(nic, pkt, now);
            budget -= 1;
            if budget == 0 {
                break;
            }
        }
    }

    fn process_timers(&mut self, now: Instant) {
        self.process_neighbor_timers(now);
        self.process_dad_timers(now);
        self.process_reassembly_timers(now);
        self.process_tcp_timers(now);
    }
}
