//! The in-process pipeline: the router's per-packet path with no kernel in
//! the loop.
//!
//! A router [`Stack`] gets two [`ReplayLink`]s: the ingress link replays
//! template frames (`flows` distinct UDP flows of `size` bytes, IPv4 or
//! IPv6) towards a routed destination, the egress link swallows what is
//! forwarded and recycles the buffers. Each [`Stack::poll`] then runs the
//! whole path for a batch: rx batch → Ethernet → IP validation → FIB →
//! neighbor → TTL / hop-limit rewrite in place → egress batch → one
//! `write_packets`. Nothing allocates after warm-up.
//!
//! This module only builds and drives the stack; timing is the caller's
//! (the CLI reads the clock, criterion has its own), so the same setup
//! serves `valgrind --tool=callgrind` instruction counts.

use crate::link::replay::{FramePool, ReplayLink};
use crate::stack::{NextHop, Route, Stack, StackConfig};
use crate::time::Instant;
use crate::wire::ethernet::{EthernetFrame, EthernetRepr};
use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use crate::wire::udp::{UdpPacket, UdpRepr};
use crate::wire::{EtherType, EthernetAddress, IpProtocol};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// MAC of the traffic source in front of the router.
pub const SOURCE_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
/// MAC of the router's ingress NIC.
pub const INGRESS_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0a]);
/// MAC of the router's egress NIC.
pub const EGRESS_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0b]);
/// MAC of the next hop behind the router.
pub const NEXT_HOP_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);

/// What to push through the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Ethernet frame size without FCS (at least 64 for IPv4, 66 for IPv6
    /// is the minimum that holds the headers; smaller sizes are raised).
    pub frame_size: usize,
    /// Distinct UDP flows (source ports), cycled.
    pub flows: u16,
    /// IPv6 instead of IPv4.
    pub ipv6: bool,
    /// Frames per poll (the rx batch).
    pub batch: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            frame_size: 64,
            flows: 16,
            ipv6: false,
            batch: 64,
        }
    }
}

/// A router stack wired to replay links.
#[derive(Debug)]
pub struct Pipeline {
    stack: Stack,
    config: PipelineConfig,
}

impl Pipeline {
    /// Build the router and its frames.
    pub fn new(config: PipelineConfig) -> Pipeline {
        let frames: Vec<Vec<u8>> = (0..config.flows.max(1))
            .map(|f| build_frame(config.frame_size, f, config.ipv6))
            .collect();
        let mut stack = Stack::new(StackConfig {
            rx_budget: config.batch.max(1),
            ..StackConfig::default()
        });
        // One pool for both links, like one UMEM shared by a worker's
        // sockets: forwarded frames return to where the next rx comes from.
        let pool = FramePool::new();
        let n0 = stack.add_nic(
            "in",
            ReplayLink::with_pool(INGRESS_MAC, 1500, frames, pool.clone()),
        );
        let n1 = stack.add_nic(
            "out",
            ReplayLink::with_pool(EGRESS_MAC, 1500, Vec::new(), pool),
        );
        // These literals are valid by construction.
        let ok = |r: Result<(), crate::stack::StackError>| debug_assert!(r.is_ok(), "{r:?}");
        ok(stack.add_address(n0, "198.18.0.254/24".parse().expect("prefix")));
        ok(stack.add_address(n1, "198.18.1.254/24".parse().expect("prefix")));
        ok(stack.add_address(n0, "2001:2::fe/64".parse().expect("prefix")));
        ok(stack.add_address(n1, "2001:2:0:1::fe/64".parse().expect("prefix")));
        ok(stack.add_route(Route {
            prefix: "198.19.0.0/16".parse().expect("prefix"),
            next_hop: NextHop::Gateway {
                nic: n1,
                gateway: IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2)),
            },
            metric: 0,
        }));
        ok(stack.add_route(Route {
            prefix: "2001:2:0:100::/56".parse().expect("prefix"),
            next_hop: NextHop::Gateway {
                nic: n1,
                gateway: IpAddr::V6("2001:2:0:1::2".parse().expect("address")),
            },
            metric: 0,
        }));
        ok(stack.set_forwarding(n0, true, true));
        ok(stack.add_static_neighbor(n1, IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2)), NEXT_HOP_MAC));
        ok(stack.add_static_neighbor(
            n1,
            IpAddr::V6("2001:2:0:1::2".parse().expect("address")),
            NEXT_HOP_MAC,
        ));
        Pipeline { stack, config }
    }

    /// Forward `packets` frames (rounded up to whole batches); returns how
    /// many were forwarded.
    pub fn run(&mut self, packets: u64) -> u64 {
        let before = self.stack.stats().ip_forwarded;
        let now = Instant::from_secs(1);
        let batch = self.config.batch.max(1) as u64;
        let polls = packets.div_ceil(batch);
        for _ in 0..polls {
            self.stack.poll(now);
        }
        self.stack.stats().ip_forwarded - before
    }

    /// The router stack (for counters).
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The configuration.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }
}

/// Build one UDP frame of `size` bytes for flow `flow`, from the source host
/// to a routed destination.
pub fn build_frame(size: usize, flow: u16, ipv6: bool) -> Vec<u8> {
    let l3 = if ipv6 { 40 } else { 20 };
    let size = size.max(14 + l3 + 8);
    let payload = size - 14 - l3 - 8;
    let mut f = vec![0u8; size];
    let eth = EthernetRepr {
        src_addr: SOURCE_MAC,
        dst_addr: INGRESS_MAC,
        ethertype: if ipv6 {
            EtherType::Ipv6
        } else {
            EtherType::Ipv4
        },
        vlan: None,
    };
    eth.emit(&mut EthernetFrame::new_unchecked(&mut f[..14]));
    let udp = UdpRepr {
        src_port: 1024 + flow,
        dst_port: 9,
    };
    let (src, dst): (IpAddr, IpAddr) = if ipv6 {
        let src: Ipv6Addr = "2001:2::1".parse().expect("address");
        let dst = Ipv6Addr::new(0x2001, 2, 0, 0x100, 0, 0, 0, 1 + flow);
        let ip = Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Udp,
            payload_len: 8 + payload,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        };
        ip.emit(&mut Ipv6Packet::new_unchecked(&mut f[14..54]));
        (src.into(), dst.into())
    } else {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 19, (flow >> 8) as u8, flow as u8);
        let ip = Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Udp,
            payload_len: 8 + payload,
            hop_limit: 64,
            tos: 0,
            ident: flow,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        };
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut f[14..34]));
        (src.into(), dst.into())
    };
    let at = 14 + l3;
    udp.emit(
        &mut UdpPacket::new_unchecked(&mut f[at..]),
        &src,
        &dst,
        payload,
        |p| p.fill(0x5a),
        true,
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::{PacketBuffer, DEFAULT_HEADROOM};
    use crate::stack::DropReason;

    /// Feed one frame to the router's ingress NIC and flush; what it did.
    fn deliver(p: &mut Pipeline, frame: &[u8]) -> Result<(), DropReason> {
        let drops_before: Vec<u64> = DropReason::ALL
            .iter()
            .map(|r| p.stack.drops().get(*r))
            .collect();
        let fwd = p.stack.stats().ip_forwarded;
        let now = Instant::from_secs(1);
        let pkt = PacketBuffer::from_slice(DEFAULT_HEADROOM, frame);
        p.stack.deliver_network_packet(0, pkt, now);
        p.stack.flush(now);
        let dropped: Vec<DropReason> = DropReason::ALL
            .iter()
            .zip(drops_before)
            .filter(|(r, n)| p.stack.drops().get(**r) != *n)
            .map(|(r, _)| *r)
            .collect();
        match (dropped.as_slice(), p.stack.stats().ip_forwarded - fwd) {
            ([], 1) => Ok(()),
            ([r], 0) => Err(*r),
            (d, n) => panic!("dropped {d:?}, forwarded {n}"),
        }
    }

    fn v4(edit: impl Fn(&mut Ipv4Packet<&mut [u8]>)) -> Vec<u8> {
        let mut f = build_frame(64, 0, false);
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..34]);
        edit(&mut ip);
        ip.fill_checksum();
        f
    }

    fn v6(edit: impl Fn(&mut Ipv6Packet<&mut [u8]>)) -> Vec<u8> {
        let mut f = build_frame(78, 0, true);
        edit(&mut Ipv6Packet::new_unchecked(&mut f[14..54]));
        f
    }

    /// The router's per-packet checks, one frame each, with the drop reason
    /// each must be counted under (and the counters of a frame that passes).
    #[test]
    fn forwarding_checks_and_counters() {
        let mut p = Pipeline::new(PipelineConfig::default());
        let a = |s: &str| s.parse::<Ipv4Addr>().expect("address");
        assert_eq!(deliver(&mut p, &v4(|_| {})), Ok(()));
        let mut bad_sum = v4(|_| {});
        bad_sum[24] ^= 1;
        assert_eq!(deliver(&mut p, &bad_sum), Err(DropReason::Ipv4BadChecksum));
        let mut short = v4(|_| {});
        short.truncate(30);
        assert_eq!(deliver(&mut p, &short), Err(DropReason::Ipv4Malformed));
        for ttl in [0, 1] {
            let f = v4(|ip| ip.set_hop_limit(ttl));
            assert_eq!(deliver(&mut p, &f), Err(DropReason::TtlExceeded));
        }
        let martians = ["127.0.0.1", "224.0.0.9", "255.255.255.255", "198.18.0.255"];
        for src in martians {
            let f = v4(|ip| ip.set_src_addr(a(src)));
            assert_eq!(deliver(&mut p, &f), Err(DropReason::MartianSource), "{src}");
        }
        let f = v4(|ip| ip.set_dst_addr(a("127.0.0.2")));
        assert_eq!(deliver(&mut p, &f), Err(DropReason::MartianSource));
        for own in ["198.18.0.254", "198.18.1.254"] {
            let f = v4(|ip| ip.set_src_addr(a(own)));
            assert_eq!(deliver(&mut p, &f), Err(DropReason::OwnSourceAddress));
        }
        for (src, dst) in [
            ("169.254.1.1", "198.19.0.1"),
            ("198.18.0.1", "169.254.1.1"),
            ("0.0.0.0", "198.19.0.1"),
            // The egress subnet's directed broadcast (RFC 2644).
            ("198.18.0.1", "198.18.1.255"),
        ] {
            let f = v4(|ip| {
                ip.set_src_addr(a(src));
                ip.set_dst_addr(a(dst));
            });
            assert_eq!(
                deliver(&mut p, &f),
                Err(DropReason::NotForwardable),
                "{dst}"
            );
        }
        // Ours, the ingress subnet's broadcast and the limited broadcast
        // are delivered, not forwarded (and answered by nothing: no UDP
        // endpoint listens).
        for dst in ["198.18.1.254", "198.18.0.255", "255.255.255.255"] {
            let delivered = p.stack.stats().ip_delivered;
            let f = v4(|ip| ip.set_dst_addr(a(dst)));
            assert!(deliver(&mut p, &f).is_err(), "{dst}");
            assert_eq!(p.stack.stats().ip_delivered, delivered + 1, "{dst}");
        }
        let f = v4(|ip| ip.set_dst_addr(a("239.1.1.1")));
        assert_eq!(deliver(&mut p, &f), Err(DropReason::MulticastNotJoined));
        let f = v4(|ip| ip.set_dst_addr(a("203.0.113.1")));
        assert_eq!(deliver(&mut p, &f), Err(DropReason::NoRoute));

        let a6 = |s: &str| s.parse::<Ipv6Addr>().expect("address");
        assert_eq!(deliver(&mut p, &v6(|_| {})), Ok(()));
        for hl in [0, 1] {
            let f = v6(|ip| ip.set_hop_limit(hl));
            assert_eq!(deliver(&mut p, &f), Err(DropReason::TtlExceeded));
        }
        for src in ["ff02::1", "::1"] {
            let f = v6(|ip| ip.set_src_addr(a6(src)));
            assert_eq!(deliver(&mut p, &f), Err(DropReason::MartianSource), "{src}");
        }
        let f = v6(|ip| ip.set_src_addr(a6("2001:2:0:1::fe")));
        assert_eq!(deliver(&mut p, &f), Err(DropReason::OwnSourceAddress));
        let f = v6(|ip| ip.set_src_addr(a6("fe80::1")));
        assert_eq!(deliver(&mut p, &f), Err(DropReason::NotForwardable));
        let f = v6(|ip| ip.set_dst_addr(a6("2001:db8::1")));
        assert_eq!(deliver(&mut p, &f), Err(DropReason::NoRoute));

        // Frames seen, IP packets accepted, forwarded and sent, exactly.
        let s = p.stack();
        let (rx, tx) = (s.nics()[0].stats(), s.nics()[1].stats());
        assert_eq!(rx.rx_packets, 21 + 8);
        assert_eq!(rx.rx_bytes, 64 * 20 + 30 + 78 * 8);
        assert_eq!(
            s.stats().ip_rx,
            19 + 8,
            "all but the bad checksum and the runt"
        );
        assert_eq!(s.stats().ip_forwarded, 2);
        assert_eq!((tx.tx_packets, tx.tx_bytes), (2, 64 + 78));
    }

    #[test]
    fn every_frame_is_forwarded_v4_and_v6() {
        for ipv6 in [false, true] {
            let mut p = Pipeline::new(PipelineConfig {
                ipv6,
                frame_size: 128,
                ..PipelineConfig::default()
            });
            assert_eq!(
                p.run(640),
                640,
                "ipv6={ipv6}: {:?}",
                p.stack().drops().nonzero().collect::<Vec<_>>()
            );
            assert_eq!(p.stack().drops().total(), 0);
            assert_eq!(p.stack().drops().get(DropReason::TtlExceeded), 0);
            let out = &p.stack().nics()[1];
            assert_eq!(out.stats().tx_packets, 640);
            assert_eq!(out.stats().tx_batches, 10, "one write_packets per poll");
        }
    }
}
