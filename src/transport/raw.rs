//! Raw endpoints: receive every IP packet of one protocol, and send IP
//! packets whose header the stack builds (the seeds' `RawTransportEndpoint`).
//!
//! A raw endpoint sees a copy of each matching packet delivered locally,
//! IP header included, before the protocol's own handler runs (as Linux raw
//! sockets do). Ping tools use raw ICMP endpoints to see echo replies.

use std::collections::VecDeque;
use std::net::IpAddr;

use crate::buffer::PacketBuffer;
use crate::stack::{NicId, Stack};
use crate::time::Instant;
use crate::transport::Handle;
use crate::wire::icmpv6::Icmpv6Packet;
use crate::wire::IpProtocol;

/// The address family of a raw endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// A packet received on a raw endpoint.
#[derive(Debug)]
pub struct RawPacket {
    /// The whole IP packet, header included.
    pub packet: PacketBuffer,
    /// The NIC it arrived on.
    pub nic: NicId,
}

/// A raw endpoint.
#[derive(Debug)]
pub struct RawEndpoint {
    pub(crate) family: IpFamily,
    pub(crate) protocol: IpProtocol,
    pub(crate) rx: VecDeque<RawPacket>,
    pub(crate) rx_limit: usize,
}

/// Why a raw send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawError {
    /// The handle names no raw endpoint.
    UnknownHandle,
    /// The destination's family differs from the endpoint's.
    AddressFamilyMismatch,
    /// No route, or no usable source address.
    NoRoute,
    /// The payload does not fit an IP packet.
    MessageTooLong,
}

impl core::fmt::Display for RawError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RawError::UnknownHandle => "no such raw endpoint",
            RawError::AddressFamilyMismatch => "destination family differs from the endpoint's",
            RawError::NoRoute => "no route to destination",
            RawError::MessageTooLong => "payload too long",
        })
    }
}

impl std::error::Error for RawError {}

impl Stack {
    /// Open a raw endpoint for `protocol` packets of `family`.
    pub fn raw_open(&mut self, family: IpFamily, protocol: IpProtocol) -> Handle {
        let h = self.raw.insert(RawEndpoint {
            family,
            protocol,
            rx: VecDeque::new(),
            rx_limit: self.config.udp_rx_queue_len,
        });
        self.raw_by_proto.push((protocol, h));
        h
    }

    /// Take the next packet from a raw endpoint.
    pub fn raw_recv(&mut self, h: Handle) -> Option<RawPacket> {
        self.raw.get_mut(h)?.rx.pop_front()
    }

    /// Send `payload` (the transport header and data) to `dst` with the
    /// endpoint's protocol; the stack builds the IP header. The ICMPv6
    /// checksum is filled in by the stack (RFC 3542 3.1), others are the
    /// caller's.
    pub fn raw_send(
        &mut self,
        h: Handle,
        dst: IpAddr,
        payload: &[u8],
        now: Instant,
    ) -> Result<(), RawError> {
        let ep = self.raw.get(h).ok_or(RawError::UnknownHandle)?;
        let (family, protocol) = (ep.family, ep.protocol);
        if (family == IpFamily::V4) != dst.is_ipv4() {
            return Err(RawError::AddressFamilyMismatch);
        }
        if payload.len() > usize::from(u16::MAX) - 60 {
            return Err(RawError::MessageTooLong);
        }
        let route = self
            .route_output(None, dst, None)
            .map_err(|_| RawError::NoRoute)?;
        let mut pkt = PacketBuffer::from_slice(self.l4_headroom(), payload);
        if protocol == IpProtocol::Icmpv6 {
            if let (IpAddr::V6(s), IpAddr::V6(d), Ok(mut v)) = (
                route.src,
                route.dst,
                Icmpv6Packet::new_checked(pkt.as_mut_slice()),
            ) {
                v.fill_checksum(&s, &d);
            }
        }
        self.send_ip(&route, protocol, None, pkt, now);
        Ok(())
    }

    /// Close a raw endpoint.
    pub fn raw_close(&mut self, h: Handle) -> bool {
        self.raw_by_proto.retain(|(_, x)| *x != h);
        self.raw.remove(h).is_some()
    }

    /// Give a copy of a locally delivered packet to every raw endpoint of
    /// its protocol. Returns whether any endpoint took it.
    pub(crate) fn deliver_to_raw(
        &mut self,
        nic: usize,
        pkt: &PacketBuffer,
        v6: bool,
        proto: IpProtocol,
    ) -> bool {
        if self.raw_by_proto.is_empty() {
            return false;
        }
        let family = if v6 { IpFamily::V6 } else { IpFamily::V4 };
        let nic_id = self.nics[nic].id;
        let mut taken = false;
        for k in 0..self.raw_by_proto.len() {
            let (p, h) = self.raw_by_proto[k];
            if p != proto {
                continue;
            }
            let Some(ep) = self.raw.get_mut(h) else {
                continue;
            };
            if ep.family != family {
                continue;
            }
            taken = true;
            if ep.rx.len() >= ep.rx_limit {
                self.drops
                    .count(crate::stack::DropReason::EndpointQueueFull);
                continue;
            }
            ep.rx.push_back(RawPacket {
                packet: PacketBuffer::from_slice(0, pkt.as_slice()),
                nic: nic_id,
            });
        }
        taken
    }
}
