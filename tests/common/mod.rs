//! Test harness: stacks wired by in-memory pipes, driven by a fake clock.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};

use xdpnet::link::pipe::{Pipe, PipeConfig, PipeEnd};
use xdpnet::stack::{NicId, Stack};
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::raw::IpFamily;
use xdpnet::transport::Handle;
use xdpnet::wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use xdpnet::wire::icmpv6::{Icmpv6Packet, Icmpv6Repr};
use xdpnet::wire::ipv4::Ipv4Packet;
use xdpnet::wire::ipv6::Ipv6Packet;
use xdpnet::wire::{EthernetAddress, IpProtocol};

/// A locally administered MAC ending in `n`.
pub fn mac(n: u8) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0, n])
}

/// A pipe pair with MACs `a` and `b` and the given MTU.
pub fn pipe(a: u8, b: u8, mtu: usize) -> (PipeEnd, PipeEnd) {
    Pipe::pair(
        PipeConfig::new(mac(a)).with_mtu(mtu),
        PipeConfig::new(mac(b)).with_mtu(mtu),
    )
}

/// Parse `"198.18.0.1/24"`.
pub fn net(s: &str) -> ipnet::IpNet {
    s.parse().expect("test prefix")
}

/// Parse `"198.18.0.1"`.
pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// Parse `"198.18.0.1:7"` or `"[2001:2::1]:7"`.
pub fn sock(s: &str) -> SocketAddr {
    s.parse().expect("test socket address")
}

/// A stack with one NIC on `link` holding `addrs`.
pub fn host(link: PipeEnd, addrs: &[&str]) -> (Stack, NicId) {
    let mut s = Stack::default();
    let nic = s.add_nic("eth0", link);
    for a in addrs {
        s.add_address(nic, net(a)).expect("address");
    }
    (s, nic)
}

/// Poll every stack until a whole round does nothing (bounded), without
/// moving the clock.
pub fn settle(stacks: &mut [&mut Stack], now: Instant) {
    for _ in 0..10_000 {
        let mut did = false;
        for s in stacks.iter_mut() {
            did |= s.poll(now);
        }
        if !did {
            return;
        }
    }
    panic!("stacks did not settle");
}

/// Advance the clock in `step`s for `total`, settling at each step.
pub fn run_for(stacks: &mut [&mut Stack], now: &mut Instant, total: Duration, step: Duration) {
    let end = *now + total;
    while *now < end {
        *now += step;
        settle(stacks, *now);
    }
}

/// Open a raw ICMP endpoint of the address family of `dst`.
pub fn icmp_endpoint(s: &mut Stack, dst: IpAddr) -> Handle {
    match dst {
        IpAddr::V4(_) => s.raw_open(IpFamily::V4, IpProtocol::Icmp),
        IpAddr::V6(_) => s.raw_open(IpFamily::V6, IpProtocol::Icmpv6),
    }
}

/// What a raw ICMP endpoint received, decoded: (source, type, code, ident/seq
/// for echo replies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpSeen {
    pub src: IpAddr,
    pub msg_type: u8,
    pub code: u8,
    pub echo: Option<(u16, u16, Vec<u8>)>,
}

/// Drain a raw ICMP endpoint.
pub fn icmp_seen(s: &mut Stack, h: Handle) -> Vec<IcmpSeen> {
    let mut out = Vec::new();
    while let Some(p) = s.raw_recv(h) {
        let b = p.packet.as_slice();
        match b[0] >> 4 {
            4 => {
                let ip = Ipv4Packet::new_checked(b).expect("ipv4");
                let icmp = Icmpv4Packet::new_checked(ip.payload()).expect("icmpv4");
                let echo = match Icmpv4Repr::parse(&icmp) {
                    Ok(Icmpv4Repr::EchoReply {
                        ident,
                        seq_no,
                        data,
                    }) => Some((ident, seq_no, data.to_vec())),
                    _ => None,
                };
                out.push(IcmpSeen {
                    src: IpAddr::V4(ip.src_addr()),
                    msg_type: icmp.msg_type().into(),
                    code: icmp.msg_code(),
                    echo,
                });
            }
            _ => {
                let ip = Ipv6Packet::new_checked(b).expect("ipv6");
                let (src, dst) = (ip.src_addr(), ip.dst_addr());
                let icmp = Icmpv6Packet::new_checked(ip.payload()).expect("icmpv6");
                let echo = match Icmpv6Repr::parse(&src, &dst, &icmp) {
                    Ok(Icmpv6Repr::EchoReply {
                        ident,
                        seq_no,
                        data,
                    }) => Some((ident, seq_no, data.to_vec())),
                    _ => None,
                };
                out.push(IcmpSeen {
                    src: IpAddr::V6(src),
                    msg_type: icmp.msg_type().into(),
                    code: icmp.msg_code(),
                    echo,
                });
            }
        }
    }
    out
}
