//! xdpnet: a kernel-bypass network dataplane.
//!
//! Per-core workers poll AF_XDP rings; each runs its own shard of a userspace
//! TCP/IP stack modelled on gVisor's netstack. The crate is layered top-down:
//!
//! * [`app`] — applications on the stack (the pipeline benchmark workload).
//! * [`stack`] — the `Stack` of one shard: NICs, addresses, the FIB, the
//!   neighbor cache, drop accounting. It is the network dispatcher links
//!   deliver to.
//! * [`network`] — IPv4, IPv6, ARP, ICMP, fragmentation and forwarding.
//! * [`transport`] — the flow-hash partitioned demultiplexer and endpoints.
//! * [`gso`] — software segmentation of large sends into MSS-sized frames.
//! * [`link`] — the `LinkEndpoint` contract and its implementations.
//! * [`wire`] — zero-copy packet views and `Repr` values.
//! * [`buffer`], [`time`] — frames with headroom; the injected clock.
//! * [`worker`] — the per-core runtime: placement, inboxes, workers, the
//!   flow hash.
//! * [`config`] — the router's TOML configuration and flag overrides.
//! * [`netns`] — network namespaces and veth pairs for test hosts and
//!   benchmarks, removed by guards.
//! * [`xsk`] — AF_XDP sockets, the UMEM and frame ownership (the only
//!   module allowed `unsafe`).
//!
//! Everything from `wire` to `transport` is sans-I/O: no syscalls, no clock.
#![deny(unsafe_code)]

pub mod app;
pub mod buffer;
pub mod config;
mod fxhash;
pub mod gso;
pub mod link;
pub mod netns;
pub mod network;
pub mod stack;
pub mod steering;
pub mod time;
pub mod transport;
pub mod wire;
pub mod worker;
pub mod xsk;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
