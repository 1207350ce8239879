//! UDP endpoints (RFC 768, RFC 1122 4.1) and the UDP receive/send paths.
//!
//! An endpoint is bound to a local port (and optionally a local address),
//! may be connected to one remote, and holds a bounded queue of received
//! datagrams plus a queue of control events (ICMP errors about datagrams it
//! sent, RFC 1122 4.1.3.3). Received datagrams stay in the buffer they
//! arrived in: the application gets that buffer positioned at the payload.
//!
//! Sends build the UDP header, compute the checksum over the pseudo-header
//! unless the link offloads it, and go through the output path. A send of
//! a large buffer with a segment size (`udp_send_segmented`, Linux's
//! `UDP_SEGMENT`) becomes one packet with GSO metadata that the output path
//! cuts into datagrams in one batch.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use crate::buffer::PacketBuffer;
use crate::gso::{Gso, GsoType, SOFTWARE_GSO_MAX_SIZE};
use crate::link::Capabilities;
use crate::network::L4Info;
use crate::stack::{DropReason, NicId, Stack};
use crate::time::Instant;
use crate::transport::demux::{Lookup, RegisterError, TransportEndpointId};
use crate::transport::{ControlEvent, Handle};
use crate::wire::icmpv4::Icmpv4DstUnreachable;
use crate::wire::icmpv6::Icmpv6DstUnreachable;
use crate::wire::udp::{UdpPacket, UdpRepr, HEADER_LEN};
use crate::wire::{Error as WireError, IpProtocol};

/// The ephemeral port range (RFC 6335 6, IANA dynamic ports).
pub const EPHEMERAL_PORTS: core::ops::RangeInclusive<u16> = 49152..=65535;

/// A received datagram.
#[derive(Debug)]
pub struct UdpDatagram {
    /// The buffer, positioned at the payload.
    pub payload: PacketBuffer,
    /// The sender.
    pub src: SocketAddr,
    /// The address and port it was sent to.
    pub dst: SocketAddr,
    /// The NIC it arrived on.
    pub nic: NicId,
}

/// A UDP endpoint.
#[derive(Debug)]
pub struct UdpEndpoint {
    pub(crate) id: TransportEndpointId,
    pub(crate) rx: VecDeque<UdpDatagram>,
    pub(crate) rx_limit: usize,
    pub(crate) errors: VecDeque<ControlEvent>,
    /// Datagrams dropped because the queue was full.
    pub(crate) rx_dropped: u64,
}

/// Why a UDP call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpError {
    /// The handle names no UDP endpoint.
    UnknownHandle,
    /// The address and port are in use.
    AddressInUse,
    /// No free ephemeral port.
    NoFreePort,
    /// The local address is not one of ours.
    AddressNotAvailable,
    /// `send` on an endpoint that is not connected.
    NotConnected,
    /// The datagram is larger than UDP allows (or the GSO maximum).
    MessageTooLong,
    /// The segment size is zero or larger than a datagram can be.
    BadSegmentSize,
    /// The destination cannot be routed.
    NoRoute,
    /// Local and remote address families differ.
    AddressFamilyMismatch,
    /// The connected flow belongs to another shard (its flow hash maps
    /// there): connect from that shard's stack instead.
    WrongShard {
        /// The shard that owns the flow.
        owner: usize,
    },
}

impl core::fmt::Display for UdpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            UdpError::UnknownHandle => "no such UDP endpoint",
            UdpError::AddressInUse => "address and port already in use",
            UdpError::NoFreePort => "no free ephemeral port",
            UdpError::AddressNotAvailable => "local address is not assigned to any NIC",
            UdpError::NotConnected => "endpoint is not connected",
            UdpError::MessageTooLong => "datagram too long",
            UdpError::BadSegmentSize => "segment size must be between 1 and 65507",
            UdpError::NoRoute => "no route to destination",
            UdpError::AddressFamilyMismatch => "local and remote address families differ",
            UdpError::WrongShard { owner } => {
                return write!(
                    f,
                    "the flow belongs to shard {owner}: connect from that shard's stack"
                )
            }
        })
    }
}

impl std::error::Error for UdpError {}

impl Stack {
    // ---- application API -------------------------------------------------

    /// Bind a UDP endpoint to `local` (port 0: an ephemeral port). An
    /// unspecified address (`0.0.0.0` or `::`) binds every local address of
    /// both families, like a Linux dual-stack socket, so the two conflict.
    pub fn udp_bind(&mut self, local: SocketAddr) -> Result<Handle, UdpError> {
        let local_addr = (!local.ip().is_unspecified()).then_some(local.ip());
        if let Some(a) = local_addr {
            if !self.is_local(&a) && !self.nics.iter().any(|n| n.spoofing) {
                return Err(UdpError::AddressNotAvailable);
            }
        }
        let h = self.udp.insert(UdpEndpoint {
            id: TransportEndpointId {
                local_port: local.port(),
                local_addr,
                remote_port: 0,
                remote_addr: None,
            },
            rx: VecDeque::new(),
            rx_limit: self.config.udp_rx_queue_len,
            errors: VecDeque::new(),
            rx_dropped: 0,
        });
        let result = if local.port() == 0 {
            self.bind_ephemeral(h, local_addr)
        } else {
            let id = self.udp.get(h).map(|e| e.id);
            match id {
                Some(id) => self
                    .demux
                    .register(IpProtocol::Udp, id, h)
                    .map_err(|_| UdpError::AddressInUse),
                None => Err(UdpError::UnknownHandle),
            }
        };
        match result {
            Ok(()) => Ok(h),
            Err(e) => {
                self.udp.remove(h);
                Err(e)
            }
        }
    }

    /// Register `h` on a free ephemeral port, trying ports from a
    /// stack-dependent starting point so shards spread out.
    fn bind_ephemeral(&mut self, h: Handle, addr: Option<IpAddr>) -> Result<(), UdpError> {
        let span = u32::from(*EPHEMERAL_PORTS.end() - *EPHEMERAL_PORTS.start()) + 1;
        self.ephemeral_cursor = self.ephemeral_cursor.wrapping_add(7919);
        let start = (self.ephemeral_cursor + self.config.partition as u32 * 4099) % span;
        for k in 0..span {
            let port = *EPHEMERAL_PORTS.start() + ((start + k) % span) as u16;
            let id = TransportEndpointId {
                local_port: port,
                local_addr: addr,
                remote_port: 0,
                remote_addr: None,
            };
            if self.demux.register(IpProtocol::Udp, id, h).is_ok() {
                if let Some(ep) = self.udp.get_mut(h) {
                    ep.id = id;
                }
                return Ok(());
            }
        }
        Err(UdpError::NoFreePort)
    }

    /// Connect an endpoint to `remote`: it then receives only from there and
    /// `udp_send` sends there.
    pub fn udp_connect(&mut self, h: Handle, remote: SocketAddr) -> Result<(), UdpError> {
        let old = self.udp.get(h).ok_or(UdpError::UnknownHandle)?.id;
        let local_addr = match old.local_addr {
            Some(a) => a,
            None => {
                self.route_output(None, remote.ip(), None)
                    .map_err(|_| UdpError::NoRoute)?
                    .src
            }
        };
        if local_addr.is_ipv4() != remote.is_ipv4() {
            return Err(UdpError::AddressFamilyMismatch);
        }
        let id = TransportEndpointId {
            local_port: old.local_port,
            local_addr: Some(local_addr),
            remote_port: remote.port(),
            remote_addr: Some(remote.ip()),
        };
        self.demux.unregister(IpProtocol::Udp, &old);
        if let Err(e) = self.demux.register(IpProtocol::Udp, id, h) {
            // Put the old binding back; it was ours a moment ago.
            let _ = self.demux.register(IpProtocol::Udp, old, h);
            return Err(match e {
                RegisterError::OtherPartition { owner } => UdpError::WrongShard { owner },
                _ => UdpError::AddressInUse,
            });
        }
        if let Some(ep) = self.udp.get_mut(h) {
            ep.id = id;
        }
        Ok(())
    }

    /// The local address and port of an endpoint.
    pub fn udp_local_addr(&self, h: Handle) -> Option<SocketAddr> {
        self.udp.get(h).map(|e| {
            let ip =
                e.id.local_addr
                    .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
            SocketAddr::new(ip, e.id.local_port)
        })
    }

    /// Send a datagram to `dst`.
    pub fn udp_send_to(
        &mut self,
        h: Handle,
        payload: &[u8],
        dst: SocketAddr,
        now: Instant,
    ) -> Result<(), UdpError> {
        if payload.len() > usize::from(u16::MAX) - HEADER_LEN - 40 {
            return Err(UdpError::MessageTooLong);
        }
        self.udp_dispatch(h, payload, dst, None, now)
    }

    /// Send a datagram to the connected remote.
    pub fn udp_send(&mut self, h: Handle, payload: &[u8], now: Instant) -> Result<(), UdpError> {
        let id = self.udp.get(h).ok_or(UdpError::UnknownHandle)?.id;
        let (Some(ip), port) = (id.remote_addr, id.remote_port) else {
            return Err(UdpError::NotConnected);
        };
        self.udp_send_to(h, payload, SocketAddr::new(ip, port), now)
    }

    /// Send `payload` as datagrams of `segment_size` bytes each (the last may
    /// be shorter) with one call, like Linux's `UDP_SEGMENT`: the stack
    /// builds one packet and software GSO cuts it. Returns the number of
    /// datagrams.
    pub fn udp_send_segmented(
        &mut self,
        h: Handle,
        payload: &[u8],
        segment_size: usize,
        dst: SocketAddr,
        now: Instant,
    ) -> Result<usize, UdpError> {
        if segment_size == 0 || segment_size > usize::from(u16::MAX) - HEADER_LEN - 40 {
            return Err(UdpError::BadSegmentSize);
        }
        if payload.len() + HEADER_LEN + 40 > SOFTWARE_GSO_MAX_SIZE {
            return Err(UdpError::MessageTooLong);
        }
        let count = payload.len().div_ceil(segment_size).max(1);
        if payload.len() <= segment_size {
            self.udp_dispatch(h, payload, dst, None, now)?;
            return Ok(1);
        }
        let (gso_type, l3) = if dst.is_ipv4() {
            (GsoType::UdpV4, 20)
        } else {
            (GsoType::UdpV6, 40)
        };
        let gso = Gso {
            gso_type,
            needs_csum: true,
            csum_offset: 6,
            mss: segment_size as u16,
            l3_hdr_len: l3,
            max_size: SOFTWARE_GSO_MAX_SIZE as u32,
        };
        self.udp_dispatch(h, payload, dst, Some(gso), now)?;
        Ok(count)
    }

    fn udp_dispatch(
        &mut self,
        h: Handle,
        payload: &[u8],
        dst: SocketAddr,
        gso: Option<Gso>,
        now: Instant,
    ) -> Result<(), UdpError> {
        let id = self.udp.get(h).ok_or(UdpError::UnknownHandle)?.id;
        if id.local_addr.is_some_and(|a| a.is_ipv4() != dst.is_ipv4()) {
            return Err(UdpError::AddressFamilyMismatch);
        }
        let route = self
            .route_output(id.local_addr, dst.ip(), None)
            .map_err(|_| UdpError::NoRoute)?;
        let offload = !route.local
            && self
                .nics
                .get(route.nic)
                .is_some_and(|n| n.caps.contains(Capabilities::TX_CHECKSUM_OFFLOAD));
        let repr = UdpRepr {
            src_port: id.local_port,
            dst_port: dst.port(),
        };
        let mut pkt = PacketBuffer::new(self.l4_headroom(), HEADER_LEN + payload.len());
        let buf = pkt.append(HEADER_LEN + payload.len());
        let mut view = UdpPacket::new_unchecked(buf);
        // With GSO the checksum is computed per segment by gso.rs.
        repr.emit(
            &mut view,
            &route.src,
            &route.dst,
            payload.len(),
            |p| p.copy_from_slice(payload),
            !offload && gso.is_none(),
        );
        pkt.gso = gso;
        self.stats.udp_tx += 1;
        self.send_ip(&route, IpProtocol::Udp, None, pkt, now);
        Ok(())
    }

    /// Take the next received datagram.
    pub fn udp_recv(&mut self, h: Handle) -> Option<UdpDatagram> {
        self.udp.get_mut(h)?.rx.pop_front()
    }

    /// Datagrams waiting on an endpoint.
    pub fn udp_rx_len(&self, h: Handle) -> usize {
        self.udp.get(h).map_or(0, |e| e.rx.len())
    }

    /// Take the next control event (ICMP error) for an endpoint.
    pub fn udp_take_error(&mut self, h: Handle) -> Option<ControlEvent> {
        self.udp.get_mut(h)?.errors.pop_front()
    }

    /// Close an endpoint; queued datagrams are dropped.
    pub fn udp_close(&mut self, h: Handle) -> bool {
        match self.udp.remove(h) {
            Some(ep) => {
                self.demux.unregister(IpProtocol::Udp, &ep.id);
                true
            }
            None => false,
        }
    }

    // ---- receive path ----------------------------------------------------

    /// Receive a UDP datagram addressed to us.
    pub(crate) fn process_udp(&mut self, info: L4Info, mut pkt: PacketBuffer, now: Instant) {
        let verify = !pkt.csum_verified
            && !self.nics[info.nic]
                .caps
                .contains(Capabilities::RX_CHECKSUM_OFFLOAD);
        let data = &pkt.as_slice()[info.l4_offset..];
        let (repr, len) = match UdpPacket::new_checked(data) {
            Ok(view) => match UdpRepr::parse(&view, &info.src, &info.dst, verify) {
                Ok(r) => (r, usize::from(view.len())),
                Err(WireError::Checksum) => return self.drop_packet(DropReason::UdpBadChecksum),
                Err(_) => return self.drop_packet(DropReason::UdpMalformed),
            },
            Err(_) => return self.drop_packet(DropReason::UdpMalformed),
        };
        match self.demux.lookup(
            IpProtocol::Udp,
            info.dst,
            repr.dst_port,
            info.src,
            repr.src_port,
        ) {
            Lookup::Found(h) => {
                let Some(ep) = self.udp.get_mut(h) else {
                    return self.drop_packet(DropReason::NoListener);
                };
                if ep.rx.len() >= ep.rx_limit {
                    ep.rx_dropped += 1;
                    return self.drop_packet(DropReason::EndpointQueueFull);
                }
                let nic = self.nics[info.nic].id;
                pkt.advance(info.l4_offset + HEADER_LEN);
                pkt.truncate(len - HEADER_LEN);
                ep.rx.push_back(UdpDatagram {
                    payload: pkt,
                    src: SocketAddr::new(info.src, repr.src_port),
                    dst: SocketAddr::new(info.dst, repr.dst_port),
                    nic,
                });
                self.stats.udp_rx += 1;
            }
            Lookup::OtherPartition(owner) => self.hand_off(owner, info.nic, pkt),
            Lookup::NotFound => {
                self.drop_packet(DropReason::NoListener);
                // RFC 1122 4.1.3.1: port unreachable, unless the datagram was
                // sent to a broadcast or multicast address.
                if !info.dst_is_group {
                    match info.src {
                        IpAddr::V4(_) => self.send_icmpv4_dst_unreachable(
                            info.nic,
                            &pkt,
                            Icmpv4DstUnreachable::PortUnreachable,
                            0,
                            now,
                        ),
                        IpAddr::V6(_) => self.send_icmpv6_error(
                            info.nic,
                            &pkt,
                            crate::network::icmp::Icmpv6Error::DstUnreachable(
                                Icmpv6DstUnreachable::PortUnreachable,
                            ),
                            now,
                        ),
                    }
                }
            }
        }
    }

    /// Deliver an ICMP error about a datagram we sent from `local` to `remote`.
    pub(crate) fn udp_control(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        event: ControlEvent,
    ) {
        // The quoted datagram went from us to the remote: look it up as if
        // the remote had sent to us.
        if let Lookup::Found(h) = self.demux.lookup(
            IpProtocol::Udp,
            local.ip(),
            local.port(),
            remote.ip(),
            remote.port(),
        ) {
            if let Some(ep) = self.udp.get_mut(h) {
                if ep.errors.len() < 64 {
                    ep.errors.push_back(event);
                }
            }
        }
    }
}
