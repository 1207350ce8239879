//! `--gateway`: resolve the destination MAC on the AF_XDP socket itself.
//!
//! IPv4: an ARP request "who-has GATEWAY tell SRC" to the broadcast
//! address (RFC 826); the answer is the ARP reply whose sender protocol
//! address is the gateway. IPv6: a Neighbor Solicitation for the gateway
//! to its solicited-node multicast group, hop limit 255, with our
//! link-layer address as the Source Link-Layer Address option (RFC 4861
//! 4.3, 7.2.2); the answer is the Neighbor Advertisement whose target is
//! the gateway, its Target Link-Layer Address option (or, without one, the
//! advertisement's Ethernet source) is the MAC.
//!
//! The request goes out on the first queue's socket; replies are read on
//! every queue's socket (the peer picks the queue), everything else that
//! arrives meanwhile is dropped. [`TRIES`] requests, [`WAIT`] apart.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use crate::buffer::PacketBatch;
use crate::link::xdp::XdpLink;
use crate::link::LinkEndpoint;
use crate::time::Instant;
use crate::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use crate::wire::ethernet::{EthernetFrame, EthernetRepr};
use crate::wire::icmpv6::{Icmpv6Packet, Icmpv6Repr};
use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use crate::wire::ndp::NdiscRepr;
use crate::wire::{EtherType, EthernetAddress, IpProtocol};

use super::monotonic_ns;

/// Requests sent before giving up.
pub const TRIES: u32 = 3;
/// How long to wait for a reply to each request.
pub const WAIT: Duration = Duration::from_millis(1000);

const ETH: usize = 14;

/// The solicited-node multicast address of `a` (RFC 4291 2.7.1):
/// ff02::1:ff00:0/104 with the low 24 bits of `a`.
pub fn solicited_node(a: &Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The request frame for `gateway` from `src_mac`/`src_ip`.
pub fn request_frame(
    src_mac: EthernetAddress,
    src_ip: IpAddr,
    gateway: IpAddr,
) -> Result<Vec<u8>, String> {
    match (src_ip, gateway) {
        (IpAddr::V4(s), IpAddr::V4(g)) => {
            let arp = ArpRepr {
                operation: ArpOperation::Request,
                source_hardware_addr: src_mac,
                source_protocol_addr: s,
                target_hardware_addr: EthernetAddress([0; 6]),
                target_protocol_addr: g,
            };
            // Padded to the 60-byte Ethernet minimum.
            let mut f = vec![0u8; 60];
            EthernetRepr {
                src_addr: src_mac,
                dst_addr: EthernetAddress::BROADCAST,
                ethertype: EtherType::Arp,
                vlan: None,
            }
            .emit(&mut EthernetFrame::new_unchecked(&mut f[..ETH]));
            arp.emit(&mut ArpPacket::new_unchecked(
                &mut f[ETH..ETH + arp.buffer_len()],
            ));
            Ok(f)
        }
        (IpAddr::V6(s), IpAddr::V6(g)) => {
            let dst = solicited_node(&g);
            let icmp = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
                target_addr: g,
                lladdr: Some(src_mac),
            });
            let l4 = icmp.buffer_len();
            let mut f = vec![0u8; (ETH + 40 + l4).max(60)];
            EthernetRepr {
                src_addr: src_mac,
                dst_addr: EthernetAddress::from_ipv6_multicast(&dst),
                ethertype: EtherType::Ipv6,
                vlan: None,
            }
            .emit(&mut EthernetFrame::new_unchecked(&mut f[..ETH]));
            Ipv6Repr {
                src_addr: s,
                dst_addr: dst,
                next_header: IpProtocol::Icmpv6,
                payload_len: l4,
                // RFC 4861 7.1.1: NDP messages carry hop limit 255.
                hop_limit: 255,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(&mut Ipv6Packet::new_unchecked(&mut f[ETH..ETH + 40]));
            icmp.emit(
                &s,
                &dst,
                &mut Icmpv6Packet::new_unchecked(&mut f[ETH + 40..ETH + 40 + l4]),
            );
            Ok(f)
        }
        _ => Err(format!(
            "--gateway {gateway} and --src-ip {src_ip} are of different families: give a gateway of the source's family"
        )),
    }
}

/// The gateway's MAC if `frame` is its answer to our request.
pub fn process_reply(frame: &[u8], gateway: IpAddr) -> Option<EthernetAddress> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    match (eth.ethertype(), gateway) {
        (EtherType::Arp, IpAddr::V4(g)) => {
            let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()?;
            // RFC 826: the reply's sender fields are the answer.
            (arp.operation == ArpOperation::Reply && arp.source_protocol_addr == g)
                .then_some(arp.source_hardware_addr)
        }
        (EtherType::Ipv6, IpAddr::V6(g)) => {
            let ip = Ipv6Packet::new_checked(eth.payload()).ok()?;
            if ip.next_header() != IpProtocol::Icmpv6 || ip.hop_limit() != 255 {
                // RFC 4861 7.1.2: drop NDP with a hop limit other than 255.
                return None;
            }
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            let icmp = Icmpv6Packet::new_checked(ip.payload()).ok()?;
            match Icmpv6Repr::parse(&src, &dst, &icmp).ok()? {
                Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
                    target_addr,
                    lladdr,
                    ..
                }) if target_addr == g => Some(lladdr.unwrap_or(eth.src_addr())),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Resolve `gateway` over `links` (requests on the first, replies read on
/// all).
pub fn resolve(
    links: &mut [XdpLink],
    iface: &str,
    src_mac: EthernetAddress,
    src_ip: IpAddr,
    gateway: IpAddr,
) -> Result<EthernetAddress, String> {
    let req = request_frame(src_mac, src_ip, gateway)?;
    let what = if gateway.is_ipv4() {
        "ARP reply"
    } else {
        "Neighbor Advertisement"
    };
    let mut rx: PacketBatch = Vec::with_capacity(64);
    for _ in 0..TRIES {
        let now = monotonic_ns();
        let first = links
            .first_mut()
            .ok_or_else(|| "--gateway needs a queue to send on".to_string())?;
        let mut buf = first.alloc_buffer().ok_or_else(|| {
            format!("no free UMEM frame on {iface} to send the request for {gateway}")
        })?;
        buf.append(req.len()).copy_from_slice(&req);
        let mut batch: PacketBatch = vec![buf];
        first.write_packets(&mut batch, Instant::from_nanos(now));
        let until = now + WAIT.as_nanos() as u64;
        while monotonic_ns() < until {
            let mut any = false;
            for link in links.iter_mut() {
                link.service();
                if link.read_packets(&mut rx, 64, Instant::from_nanos(monotonic_ns())) > 0 {
                    any = true;
                }
                for f in rx.drain(..) {
                    if let Some(mac) = process_reply(f.as_slice(), gateway) {
                        return Ok(mac);
                    }
                }
            }
            if !any {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    Err(format!(
        "no {what} from {gateway} on {iface} after {TRIES} tries: check the address and that the peer is up"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const OURS: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const THEIRS: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    #[test]
    fn arp_request_and_reply() {
        let (s, g) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        let f = request_frame(OURS, s.into(), g.into()).unwrap();
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(eth.dst_addr(), EthernetAddress::BROADCAST);
        let req = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        assert_eq!(req.operation, ArpOperation::Request);
        assert_eq!(req.target_protocol_addr, g);
        // The peer's answer.
        let reply = ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: THEIRS,
            source_protocol_addr: g,
            target_hardware_addr: OURS,
            target_protocol_addr: s,
        };
        let mut r = vec![0u8; 60];
        EthernetRepr {
            src_addr: THEIRS,
            dst_addr: OURS,
            ethertype: EtherType::Arp,
            vlan: None,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut r[..ETH]));
        reply.emit(&mut ArpPacket::new_unchecked(&mut r[ETH..ETH + 28]));
        assert_eq!(process_reply(&r, g.into()), Some(THEIRS));
        // Not from the gateway, or our own request: no answer.
        assert_eq!(process_reply(&r, Ipv4Addr::new(198, 18, 0, 3).into()), None);
        assert_eq!(process_reply(&f, g.into()), None);
    }

    #[test]
    fn neighbor_solicitation_and_advertisement() {
        let s: Ipv6Addr = "2001:2::1".parse().unwrap();
        let g: Ipv6Addr = "2001:2::2".parse().unwrap();
        let f = request_frame(OURS, s.into(), g.into()).unwrap();
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(eth.dst_addr(), EthernetAddress([0x33, 0x33, 0xff, 0, 0, 2]));
        let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ip.dst_addr(), "ff02::1:ff00:2".parse::<Ipv6Addr>().unwrap());
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(matches!(
            Icmpv6Repr::parse(&ip.src_addr(), &ip.dst_addr(), &icmp).unwrap(),
            Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit { target_addr, lladdr: Some(OURS) }) if target_addr == g
        ));
        // The advertisement.
        let na = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags: crate::wire::ndp::NdiscNeighborFlags(0x60),
            target_addr: g,
            lladdr: Some(THEIRS),
        });
        let l4 = na.buffer_len();
        let mut r = vec![0u8; ETH + 40 + l4];
        EthernetRepr {
            src_addr: THEIRS,
            dst_addr: OURS,
            ethertype: EtherType::Ipv6,
            vlan: None,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut r[..ETH]));
        Ipv6Repr {
            src_addr: g,
            dst_addr: s,
            next_header: IpProtocol::Icmpv6,
            payload_len: l4,
            hop_limit: 255,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut Ipv6Packet::new_unchecked(&mut r[ETH..ETH + 40]));
        na.emit(&g, &s, &mut Icmpv6Packet::new_unchecked(&mut r[ETH + 40..]));
        assert_eq!(process_reply(&r, g.into()), Some(THEIRS));
        // A hop limit below 255 is not NDP (RFC 4861 7.1.2).
        r[ETH + 7] = 64;
        assert_eq!(process_reply(&r, g.into()), None);
    }
}
