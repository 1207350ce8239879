//! The network layer: IPv4, IPv6, ARP, ICMP, fragmentation and forwarding.

pub mod fragment;
pub mod rate_limit;
