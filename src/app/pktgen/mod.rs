//! `xdpnet pktgen`: an XDP UDP traffic generator with two engines.
//!
//! * One template frame per flow is built once with the wire module
//!   (Ethernet + IPv4 or IPv6 by address family + UDP). Flow `i` takes the
//!   `i`-th value (cycled) of each of the source address range, destination
//!   address range, source port range and destination port range.
//! * Every frame carries a 16-byte [stamp](write_stamp) at the start of the
//!   UDP payload: the kernel pktgen magic `0xbe9be955`, a per-flow sequence
//!   number (u32, big endian) and the TX time (CLOCK_MONOTONIC ns, u64 big
//!   endian). The UDP checksum is patched incrementally (RFC 1624), so a
//!   frame costs one copy of the template and a few stores (xsk), or a few
//!   stores in BPF (xdp-live).
//! * Engines: [`engine_xsk`] writes frames into UMEM and kicks an AF_XDP
//!   socket per queue; [`engine_live`] runs `bpf/live.bpf.c` with
//!   `BPF_PROG_RUN` + `BPF_F_TEST_XDP_LIVE_FRAMES` (the xdp-trafficgen
//!   mechanism), which stamps each frame and returns XDP_TX, so the kernel
//!   transmits it through the driver's `ndo_xdp_xmit` without an skb.
//! * **Default engine: `xdp-live`**, the faster on veth. Measured on the
//!   2-vCPU development VM, 64-byte frames, rate 0, one core, pktgen →
//!   veth → `xdpnet sink` in another namespace (noisy: other builds ran):
//!   xsk sent 0.32–0.47 Mpps (copy mode: an skb per frame, ≤ 32 per kick),
//!   xdp-live 1.5–1.8 Mpps. `scripts/bench-pktgen.sh` repeats the
//!   comparison against trafgen, counted at the peer veth: trafgen
//!   0.22–0.34 Mpps, xsk 0.18–0.21, xdp-live 0.78–1.19 (3.5×). xdp-live's one condition: on veth
//!   the receiving end must have an XDP program (xdpnet sink attaches
//!   one), or veth drops the frames; use `--engine xsk` towards a plain
//!   kernel peer.
//! * `--queues LIST`: one thread per queue (pinned with `--cores`), the
//!   rate and `-n` split evenly, flow `i` sent by thread `i mod N` only, so
//!   each flow's sequence numbers stay in order. Stats lines and the summary
//!   add the threads up; JSON also has `per_queue`.
//! * `--gateway IP` instead of `--dst-mac`: [`resolve`] asks by ARP or NDP
//!   on AF_XDP sockets (the steering program attached for the purpose).
//! * A token bucket ([`Pacer`]) holds the asked rate (`0` = as fast as
//!   possible) in both engines.
//!
//! [`Port`] (UMEM + socket per queue, one steering attachment) is shared
//! with [`super::sink`].

use std::fmt;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::{json, Value};

use crate::link::xdp::XdpLink;
use crate::steering::{Attachment, Policy, SteeringOptions, SteeringProgram, XdpMode};
use crate::wire::ethernet::{EthernetFrame, EthernetRepr};
use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use crate::wire::udp::{UdpPacket, UdpRepr};
use crate::wire::{EtherType, EthernetAddress, IpProtocol};
use crate::worker::host::InterfaceInfo;
use crate::xsk::{interface_info, SocketConfig, Umem, UmemConfig};

pub mod engine_live;
pub mod engine_xsk;
mod live_skel;
pub mod resolve;

/// Magic at the start of the stamp (the kernel pktgen header's).
pub const MAGIC: u32 = 0xbe9b_e955;
/// Bytes of the stamp: magic, sequence number, TX time.
pub const STAMP_LEN: usize = 16;
/// Frames per `write_packets`.
pub const BATCH: usize = 64;
/// Smallest frame accepted by `-s` (without FCS).
pub const MIN_FRAME: usize = 60;
/// Bytes added per frame on the wire for the L1 bit rate (preamble + IFG).
pub const L1_OVERHEAD: usize = 20;

const ETH: usize = 14;
const UDP: usize = 8;

/// CLOCK_MONOTONIC in nanoseconds: the same time line for every process
/// of the host, so a sink can compare it with a generator's stamp.
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| (t.tv_sec() as u64) * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// A transmit rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// As fast as possible.
    Unlimited,
    /// Packets per second.
    Pps(f64),
    /// L1 bits per second (frame + 20 B preamble/IFG).
    Bits(f64),
}

impl Rate {
    /// Packets per second for frames of `size` bytes (`None`: unlimited).
    pub fn pps(&self, size: usize) -> Option<f64> {
        match *self {
            Rate::Unlimited => None,
            Rate::Pps(p) => Some(p),
            Rate::Bits(b) => Some(b / ((size + L1_OVERHEAD) * 8) as f64),
        }
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let bad = || {
            format!(
                "bad rate `{s}`: use packets/s like 10k, 500k, 2M, 2Mpps or an L1 bit rate \
                 like 800Mbit, 1Gbit (units k, M, G; 0 = as fast as possible)"
            )
        };
        let t = s.trim().to_ascii_lowercase();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let v: f64 = num.parse().map_err(|_| bad())?;
        if !v.is_finite() || v < 0.0 {
            return Err(bad());
        }
        let (mult, rest) = match unit.chars().next() {
            Some('k') => (1e3, &unit[1..]),
            Some('m') => (1e6, &unit[1..]),
            Some('g') => (1e9, &unit[1..]),
            _ => (1.0, unit),
        };
        let v = v * mult;
        let rate = match rest {
            "" | "pps" => Rate::Pps(v),
            "bit" | "bps" | "bit/s" => Rate::Bits(v),
            _ => return Err(bad()),
        };
        Ok(if v == 0.0 { Rate::Unlimited } else { rate })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::Unlimited => f.write_str("unlimited"),
            Rate::Pps(p) => write!(f, "{p} pps"),
            Rate::Bits(b) => write!(f, "{b} bit/s (L1)"),
        }
    }
}

/// An inclusive port range (`N` or `N-M`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (≥ first).
    pub last: u16,
}

impl PortRange {
    /// Ports in the range.
    pub fn len(&self) -> u32 {
        u32::from(self.last - self.first) + 1
    }

    /// Never empty (for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `i`-th port, cycled.
    pub fn nth(&self, i: u32) -> u16 {
        self.first + (i % self.len()) as u16
    }
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<PortRange, String> {
        let bad = || format!("bad port range `{s}`: use a port like 9 or a range like 1024-2047");
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let first: u16 = a.trim().parse().map_err(|_| bad())?;
        let last: u16 = b.trim().parse().map_err(|_| bad())?;
        if last < first {
            return Err(bad());
        }
        Ok(PortRange { first, last })
    }
}

/// Addresses from `net`'s address to the end of its prefix (one address
/// without a prefix length).
fn host_count(net: &IpNet) -> u128 {
    match net {
        IpNet::V4(n) => u128::from(u32::from(n.broadcast()) - u32::from(n.addr())) + 1,
        IpNet::V6(n) => u128::from(n.broadcast()) - u128::from(n.addr()) + 1,
    }
}

fn nth_host(net: &IpNet, i: u32) -> IpAddr {
    let i = u128::from(i) % host_count(net);
    match net {
        IpNet::V4(n) => IpAddr::V4(Ipv4Addr::from(u32::from(n.addr()) + i as u32)),
        IpNet::V6(n) => IpAddr::V6(Ipv6Addr::from(u128::from(n.addr()) + i)),
    }
}

/// Parse `IP` or `IP/N` (the address itself is the first one used).
pub fn parse_ip_range(s: &str) -> Result<IpNet, String> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n);
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("bad address `{s}`: use an address like 198.18.0.1 or a range like 198.18.0.1/24 (or 2001:2::1/64)"))
}

/// Where frames go at layer 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHop {
    /// This destination MAC (`--dst-mac`).
    Mac(EthernetAddress),
    /// The MAC of this neighbour, resolved by ARP (IPv4) or a Neighbor
    /// Solicitation (IPv6) on the AF_XDP socket (`--gateway`).
    Gateway(IpAddr),
}

/// How frames are transmitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// An AF_XDP socket per queue: frames written into UMEM, one kick per
    /// batch (see [`engine_xsk`]).
    Xsk,
    /// BPF_PROG_RUN with live frames of a stamping XDP program returning
    /// XDP_TX (see [`engine_live`]).
    XdpLive,
}

impl Engine {
    /// The default: the faster of the two on veth (see the module docs for
    /// the measurement).
    pub const DEFAULT: Engine = Engine::XdpLive;

    /// The name on the command line and in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Engine::Xsk => "xsk",
            Engine::XdpLive => "xdp-live",
        }
    }
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Engine, String> {
        match s {
            "xsk" => Ok(Engine::Xsk),
            "xdp-live" | "live" => Ok(Engine::XdpLive),
            _ => Err(format!(
                "unknown engine `{s}`: use xsk (AF_XDP socket) or xdp-live (BPF_PROG_RUN live frames)"
            )),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub struct PktgenConfig {
    /// Interface.
    pub iface: String,
    /// TX queues, one thread each.
    pub queues: Vec<u32>,
    /// Cores the threads are pinned to (`cores[i]` runs `queues[i]`;
    /// `None`: not pinned).
    pub cores: Option<Vec<usize>>,
    /// The transmit engine.
    pub engine: Engine,
    /// Destination MAC or the gateway to resolve it from.
    pub next_hop: NextHop,
    /// Source MAC (default: the interface's).
    pub src_mac: Option<EthernetAddress>,
    /// Source addresses (from the address to the end of its prefix).
    pub src_ip: IpNet,
    /// Destination addresses.
    pub dst_ip: IpNet,
    /// Source ports.
    pub src_ports: PortRange,
    /// Destination ports.
    pub dst_ports: PortRange,
    /// Distinct flows (5-tuples).
    pub flows: u32,
    /// Frame size without FCS.
    pub size: usize,
    /// Rate.
    pub rate: Rate,
    /// Stop after this many seconds.
    pub duration: Option<f64>,
    /// Stop after this many packets.
    pub count: Option<u64>,
    /// Seconds between stats lines (0: none).
    pub interval: f64,
    /// One JSON document instead of stats lines and the summary block.
    pub json: bool,
    /// XDP attach mode of the steering program.
    pub xdp_mode: XdpMode,
}

/// One flow's template frame.
#[derive(Debug, Clone)]
pub struct FlowTemplate {
    /// The frame with a zero sequence number and time.
    pub bytes: Vec<u8>,
    /// Offset of the stamp.
    pub stamp_at: usize,
    /// Offset of the UDP checksum (`None`: IPv4 without checksum).
    pub csum_at: usize,
    /// The template's UDP checksum.
    pub csum0: u16,
}

/// Smallest frame for the family: headers + stamp.
pub fn min_frame(ipv6: bool) -> usize {
    (ETH + if ipv6 { 40 } else { 20 } + UDP + STAMP_LEN).max(MIN_FRAME)
}

/// Build the flows' template frames.
pub fn build_flows(
    cfg: &PktgenConfig,
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
) -> Result<Vec<FlowTemplate>, String> {
    let ipv6 = match (cfg.src_ip, cfg.dst_ip) {
        (IpNet::V4(_), IpNet::V4(_)) => false,
        (IpNet::V6(_), IpNet::V6(_)) => true,
        _ => return Err(
            "--src-ip and --dst-ip are of different families: give two IPv4 or two IPv6 addresses"
                .into(),
        ),
    };
    if cfg.size < min_frame(ipv6) {
        return Err(format!(
            "-s {} is too small for {} UDP frames with the 16-byte stamp: use -s {} or more",
            cfg.size,
            if ipv6 { "IPv6" } else { "IPv4" },
            min_frame(ipv6)
        ));
    }
    if cfg.flows == 0 {
        return Err("--flows must be at least 1".into());
    }
    let widest = [
        host_count(&cfg.src_ip).min(u128::from(u32::MAX)),
        host_count(&cfg.dst_ip).min(u128::from(u32::MAX)),
        u128::from(cfg.src_ports.len()),
        u128::from(cfg.dst_ports.len()),
    ]
    .into_iter()
    .max()
    .unwrap_or(1);
    if u128::from(cfg.flows) > widest {
        return Err(format!(
            "--flows {} needs that many distinct 5-tuples but the widest range has {widest}: \
             widen --src-port (e.g. --src-port 1024-{}) or an address range",
            cfg.flows,
            (1024 + cfg.flows - 1).min(65535)
        ));
    }
    let l3 = if ipv6 { 40 } else { 20 };
    let payload = cfg.size - ETH - l3 - UDP;
    let mut out = Vec::with_capacity(cfg.flows as usize);
    for i in 0..cfg.flows {
        let src = nth_host(&cfg.src_ip, i);
        let dst = nth_host(&cfg.dst_ip, i);
        let mut f = vec![0u8; cfg.size];
        EthernetRepr {
            src_addr: src_mac,
            dst_addr: dst_mac,
            ethertype: if ipv6 {
                EtherType::Ipv6
            } else {
                EtherType::Ipv4
            },
            vlan: None,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut f[..ETH]));
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Ipv4Repr {
                src_addr: s,
                dst_addr: d,
                next_header: IpProtocol::Udp,
                payload_len: UDP + payload,
                hop_limit: 64,
                tos: 0,
                ident: 0,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
            }
            .emit(&mut Ipv4Packet::new_unchecked(&mut f[ETH..ETH + 20])),
            (IpAddr::V6(s), IpAddr::V6(d)) => Ipv6Repr {
                src_addr: s,
                dst_addr: d,
                next_header: IpProtocol::Udp,
                payload_len: UDP + payload,
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(&mut Ipv6Packet::new_unchecked(&mut f[ETH..ETH + 40])),
            _ => unreachable!("families checked above"),
        }
        let at = ETH + l3;
        UdpRepr {
            src_port: cfg.src_ports.nth(i),
            dst_port: cfg.dst_ports.nth(i),
        }
        .emit(
            &mut UdpPacket::new_unchecked(&mut f[at..]),
            &src,
            &dst,
            payload,
            |p| {
                p.fill(0x5a);
                p[..STAMP_LEN].fill(0);
                p[..4].copy_from_slice(&MAGIC.to_be_bytes());
            },
            true,
        );
        let csum_at = at + 6;
        let csum0 = u16::from_be_bytes([f[csum_at], f[csum_at + 1]]);
        out.push(FlowTemplate {
            bytes: f,
            stamp_at: at + UDP,
            csum_at,
            csum0,
        });
    }
    Ok(out)
}

/// Write sequence number and time into a copy of `t` in `frame` and patch
/// the UDP checksum (RFC 1624: the template was summed with zeros there).
pub fn write_stamp(t: &FlowTemplate, frame: &mut [u8], seq: u32, tx_ns: u64) {
    let s = t.stamp_at;
    frame[s + 4..s + 8].copy_from_slice(&seq.to_be_bytes());
    frame[s + 8..s + 16].copy_from_slice(&tx_ns.to_be_bytes());
    let mut sum = u32::from(!t.csum0);
    for w in frame[s + 4..s + 16].chunks_exact(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    let c = if c == 0 { 0xffff } else { c };
    frame[t.csum_at..t.csum_at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Read `(sequence number, TX time)` from a UDP payload that starts with a
/// stamp.
pub fn read_stamp(payload: &[u8]) -> Option<(u32, u64)> {
    if payload.len() < STAMP_LEN || payload[..4] != MAGIC.to_be_bytes() {
        return None;
    }
    let seq = u32::from_be_bytes(payload[4..8].try_into().ok()?);
    let ts = u64::from_be_bytes(payload[8..16].try_into().ok()?);
    Some((seq, ts))
}

/// AF_XDP sockets on one or more queues of one interface, each over its
/// own UMEM, with one steering program attached (policy `all`) and every
/// socket in its XSKMAP.
pub struct Port {
    /// One link per queue, in the order of [`queues`](Self::queues).
    /// Taken (emptied) by the generator threads.
    pub links: Vec<XdpLink>,
    /// The queues.
    pub queues: Vec<u32>,
    /// Where and how the program was attached.
    pub attachment: Attachment,
    /// Interface MTU.
    pub mtu: u32,
    /// AF_XDP bind mode of the sockets (`copy` / `zero-copy`).
    pub copy_mode: String,
    // Dropped after the links: detaches the program.
    _steering: SteeringProgram,
}

impl fmt::Debug for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Port")
            .field("links", &self.links)
            .field("queues", &self.queues)
            .field("attachment", &self.attachment)
            .finish()
    }
}

/// The error for an interface that is not there.
pub fn no_such_interface(iface: &str) -> String {
    format!(
        "no interface `{iface}` in this network namespace: check the name with `ip link` \
         (or run inside the right namespace with `ip netns exec NS …`)"
    )
}

/// Check that `queues` is not empty, has no duplicates, and that the
/// interface has every queue (`flag` names the option in the error).
pub fn check_queues(iface: &str, queues: &[u32], flag: &str) -> Result<(), String> {
    if queues.is_empty() {
        return Err(format!("{flag}: give at least one queue, e.g. {flag} 0"));
    }
    for (i, q) in queues.iter().enumerate() {
        if queues[..i].contains(q) {
            return Err(format!(
                "{flag}: queue {q} is listed twice: list each queue once"
            ));
        }
    }
    let info = InterfaceInfo::lookup(iface).map_err(|_| no_such_interface(iface))?;
    info.check_queues(queues)
        .map_err(|e| format!("{flag}: {e}"))
}

impl Port {
    /// Open one socket per queue (ring sizes: powers of two ≥ 32) and
    /// attach the program. Each UMEM holds the fill ring (2 × rx) and the
    /// TX and completion rings twice over.
    pub fn open(
        iface: &str,
        queues: &[u32],
        xdp_mode: XdpMode,
        rx_size: u32,
        tx_size: u32,
    ) -> Result<Port, String> {
        Port::open_rings(iface, queues, xdp_mode, rx_size, tx_size, tx_size.max(1024))
    }

    /// [`open`](Self::open) with small rings on every rx queue of the
    /// interface: a peer may answer on any queue (neighbour resolution).
    pub fn open_all_queues(
        iface: &str,
        xdp_mode: XdpMode,
        fallback: &[u32],
    ) -> Result<Port, String> {
        let queues: Vec<u32> = InterfaceInfo::lookup(iface)
            .ok()
            .and_then(|i| i.rx_queues)
            .filter(|&n| n > 0)
            .map_or_else(|| fallback.to_vec(), |n| (0..n).collect());
        Port::open_rings(iface, &queues, xdp_mode, 64, 64, 64)
    }

    fn open_rings(
        iface: &str,
        queues: &[u32],
        xdp_mode: XdpMode,
        rx_size: u32,
        tx_size: u32,
        comp_size: u32,
    ) -> Result<Port, String> {
        let (_, _, mtu) = interface_info(iface).map_err(|_| no_such_interface(iface))?;
        let sc = SocketConfig {
            rx_size,
            fill_size: 2 * rx_size,
            tx_size,
            comp_size,
            ..SocketConfig::default()
        };
        let mut links = Vec::with_capacity(queues.len());
        for &queue in queues {
            let umem = Umem::new(UmemConfig {
                frame_count: (2 * rx_size + comp_size) * 2,
                ..UmemConfig::default()
            })
            .map_err(|e| e.to_string())?;
            links.push(XdpLink::new(iface, queue, &umem, &sc).map_err(|e| e.to_string())?);
        }
        let mut prog = SteeringProgram::load(SteeringOptions {
            max_queues: queues.iter().max().map_or(1, |q| q + 1),
            policy: Policy::All,
            ..SteeringOptions::default()
        })
        .map_err(|e| e.to_string())?;
        let attachment = prog.attach(iface, xdp_mode).map_err(|e| e.to_string())?;
        for (link, &queue) in links.iter().zip(queues) {
            prog.insert_socket(queue, link.fd())
                .map_err(|e| e.to_string())?;
        }
        let copy_mode = links
            .first()
            .map_or_else(|| "copy".to_string(), |l| l.bound_mode().to_string());
        Ok(Port {
            links,
            queues: queues.to_vec(),
            attachment,
            mtu,
            copy_mode,
            _steering: prog,
        })
    }

    /// `IF (ifindex N; queue Q; xdp MODE; copy MODE)` (`queues 0,1` for
    /// several).
    pub fn describe(&self) -> String {
        format!(
            "{} (ifindex {}; {}; xdp {}; {} mode)",
            self.attachment.ifname,
            self.attachment.ifindex,
            queue_words(&self.queues),
            self.attachment.mode.as_str(),
            self.copy_mode
        )
    }
}

/// `queue 0` or `queues 0,1`.
pub fn queue_words(queues: &[u32]) -> String {
    let list: Vec<String> = queues.iter().map(u32::to_string).collect();
    if list.len() == 1 {
        format!("queue {}", list[0])
    } else {
        format!("queues {}", list.join(","))
    }
}

/// Population standard deviation.
pub fn stddev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64).sqrt()
}

/// The token bucket both engines pace with: credit accrues at the asked
/// rate, up to 50 ms worth (at least one batch), so a generator preempted
/// on a busy machine catches up instead of losing rate.
#[derive(Debug, Clone)]
pub struct Pacer {
    pps: Option<f64>,
    burst: f64,
    tokens: f64,
    last: u64,
}

impl Pacer {
    /// A bucket for `pps` (`None`: unlimited), empty at `now`.
    pub fn new(pps: Option<f64>, batch: usize, now: u64) -> Pacer {
        Pacer {
            pps,
            burst: pps.map_or(batch as f64, |p| (p / 20.0).max(batch as f64)),
            tokens: 0.0,
            last: now,
        }
    }

    /// Add the credit earned since the last call; how many frames may go
    /// now, at most `max`.
    pub fn available(&mut self, now: u64, max: usize) -> usize {
        let Some(p) = self.pps else {
            return max;
        };
        self.tokens =
            (self.tokens + now.saturating_sub(self.last) as f64 * p / 1e9).min(self.burst);
        self.last = now;
        max.min(self.tokens.max(0.0) as usize)
    }

    /// `n` frames went.
    pub fn take(&mut self, n: usize) {
        if self.pps.is_some() {
            self.tokens -= n as f64;
        }
    }

    /// Sleep (or yield) until a frame's credit is there, never past
    /// `deadline`.
    pub fn wait(&self, now: u64, deadline: Option<u64>) {
        let Some(p) = self.pps else {
            return;
        };
        let wait = ((1.0 - self.tokens).max(0.0) / p * 1e9) as u64;
        let wait = deadline.map_or(wait, |d| wait.min(d.saturating_sub(now)));
        if wait > 200_000 {
            std::thread::sleep(Duration::from_nanos(wait - 100_000));
        } else {
            std::thread::yield_now();
        }
    }
}

/// What one generator thread is asked to do.
#[derive(Debug, Clone)]
pub struct QueuePlan {
    /// The interface.
    pub iface: String,
    /// Its TX queue (xdp-live: the `rx_queue_index` of the runs).
    pub queue: u32,
    /// The core the thread is pinned to.
    pub core: Option<usize>,
    /// This thread's flows (a flow lives on exactly one thread, so its
    /// sequence numbers stay in order).
    pub flows: Vec<FlowTemplate>,
    /// Frame size.
    pub size: usize,
    /// This thread's share of the rate.
    pub pps: Option<f64>,
    /// This thread's share of `-n`.
    pub count: Option<u64>,
    /// `-d` in seconds.
    pub duration: Option<f64>,
}

/// Counters a generator thread publishes for the stats lines (written by
/// that thread only).
#[derive(Debug, Default)]
pub struct Progress {
    /// Frames sent so far.
    pub packets: AtomicU64,
}

/// What one generator thread sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueResult {
    /// Queue.
    pub queue: u32,
    /// Core it was pinned to.
    pub core: Option<usize>,
    /// Frames sent (xsk: taken by the TX ring; xdp-live: stamped and
    /// returned with XDP_TX, counted by the program).
    pub packets: u64,
    /// Their bytes (without FCS).
    pub bytes: u64,
    /// CLOCK_MONOTONIC of the first and the last send.
    pub first_ns: u64,
    /// See `first_ns`.
    pub last_ns: u64,
    /// Frames received on the queue (and dropped; xsk only).
    pub rx_packets: u64,
    /// Kernel: invalid TX descriptors (xsk).
    pub tx_invalid: u64,
    /// Kernel: times the TX ring was empty (xsk).
    pub tx_ring_empty: u64,
    /// Frames still in flight at exit (xsk).
    pub in_flight_at_exit: u32,
    /// Frames the live program could not stamp (xdp-live).
    pub aborted: u64,
    /// BPF_PROG_RUN calls (xdp-live).
    pub runs: u64,
}

impl QueueResult {
    fn to_json(&self) -> Value {
        let secs = (self.last_ns.saturating_sub(self.first_ns)) as f64 / 1e9;
        json!({
            "queue": self.queue,
            "core": self.core,
            "tx_packets": self.packets,
            "tx_bytes": self.bytes,
            "tx_pps": self.packets as f64 / secs.max(1e-9),
            "rx_packets": self.rx_packets,
            "tx_invalid_descs": self.tx_invalid,
            "tx_ring_empty_descs": self.tx_ring_empty,
            "in_flight_at_exit": self.in_flight_at_exit,
            "aborted": self.aborted,
            "runs": self.runs,
        })
    }
}

/// What a run sent.
#[derive(Debug, Clone, PartialEq)]
pub struct PktgenSummary {
    /// Interface.
    pub iface: String,
    /// The engine used.
    pub engine: Engine,
    /// The queues (one thread each).
    pub queues: Vec<u32>,
    /// XDP attach mode of the steering program (`none` when the
    /// xdp-live engine ran without one).
    pub xdp_mode: String,
    /// AF_XDP bind mode (`none` for xdp-live).
    pub copy_mode: String,
    /// The destination MAC used.
    pub dst_mac: EthernetAddress,
    /// The gateway it was resolved from.
    pub gateway: Option<IpAddr>,
    /// Frame size without FCS.
    pub size: usize,
    /// Flows.
    pub flows: u32,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    /// Asked rate in pps (`None`: unlimited).
    pub rate_pps: Option<f64>,
    /// Seconds from the first to the last send.
    pub seconds: f64,
    /// Frames sent (all queues).
    pub packets: u64,
    /// Their bytes (without FCS).
    pub bytes: u64,
    /// Standard deviation of the per-interval pps.
    pub pps_stddev: f64,
    /// Per queue.
    pub per_queue: Vec<QueueResult>,
}

impl PktgenSummary {
    /// Average packets per second.
    pub fn pps(&self) -> f64 {
        self.packets as f64 / self.seconds.max(1e-9)
    }

    /// Average L2 Mbit/s.
    pub fn mbit_l2(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.seconds.max(1e-9) / 1e6
    }

    /// Average L1 Mbit/s (+20 B per frame).
    pub fn mbit_l1(&self) -> f64 {
        (self.bytes + self.packets * L1_OVERHEAD as u64) as f64 * 8.0 / self.seconds.max(1e-9) / 1e6
    }

    fn sum(&self, f: impl Fn(&QueueResult) -> u64) -> u64 {
        self.per_queue.iter().map(f).sum()
    }

    /// The `--json` document.
    pub fn to_json(&self) -> Value {
        json!({
            "command": "pktgen",
            "engine": self.engine.as_str(),
            "interface": self.iface,
            "queue": self.queues.first().copied().unwrap_or(0),
            "queues": self.queues,
            "cores": self.per_queue.iter().map(|q| q.core).collect::<Vec<_>>(),
            "xdp_mode": self.xdp_mode,
            "copy_mode": self.copy_mode,
            "dst_mac": self.dst_mac.to_string(),
            "gateway": self.gateway.map(|g| g.to_string()),
            "frame_size": self.size,
            "flows": self.flows,
            "family": self.family,
            "rate_pps": self.rate_pps,
            "duration_s": self.seconds,
            "tx_packets": self.packets,
            "tx_bytes": self.bytes,
            "tx_pps": self.pps(),
            "tx_pps_stddev": self.pps_stddev,
            "tx_mbit_l2": self.mbit_l2(),
            "tx_mbit_l1": self.mbit_l1(),
            "rx_packets": self.sum(|q| q.rx_packets),
            "tx_invalid_descs": self.sum(|q| q.tx_invalid),
            "tx_ring_empty_descs": self.sum(|q| q.tx_ring_empty),
            "in_flight_at_exit": self.sum(|q| u64::from(q.in_flight_at_exit)),
            "aborted": self.sum(|q| q.aborted),
            "per_queue": self.per_queue.iter().map(QueueResult::to_json).collect::<Vec<_>>(),
        })
    }
}

impl fmt::Display for PktgenSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use super::router::thousands;
        writeln!(f, "--- summary ---")?;
        match self.engine {
            Engine::Xsk => writeln!(
                f,
                "Interface           : {} {} (engine xsk, xdp {}, {} mode)",
                self.iface,
                queue_words(&self.queues),
                self.xdp_mode,
                self.copy_mode
            )?,
            Engine::XdpLive => writeln!(
                f,
                "Interface           : {} {} (engine xdp-live: BPF_PROG_RUN live frames, XDP_TX)",
                self.iface,
                queue_words(&self.queues)
            )?,
        }
        writeln!(
            f,
            "Destination MAC     : {}{}",
            self.dst_mac,
            self.gateway
                .map_or_else(String::new, |g| format!(" (resolved from {g})"))
        )?;
        writeln!(
            f,
            "Traffic             : {} UDP, {} B frames (no FCS), {} flows, rate {}",
            self.family,
            self.size,
            self.flows,
            self.rate_pps
                .map_or_else(|| "unlimited".to_string(), |p| format!("{p:.0} pps"))
        )?;
        writeln!(f, "Duration            : {:.3}s", self.seconds)?;
        writeln!(f, "Packets transmitted : {}", thousands(self.packets))?;
        writeln!(f, "Bytes transmitted   : {}", thousands(self.bytes))?;
        writeln!(
            f,
            "Average transmit/s  : {} (StdDev {})",
            thousands(self.pps().round() as u64),
            thousands(self.pps_stddev.round() as u64)
        )?;
        writeln!(
            f,
            "Bit rate            : {:.2} Mbit/s ({:.2} Mbit/s L1)",
            self.mbit_l2(),
            self.mbit_l1()
        )?;
        if self.per_queue.len() > 1 {
            for q in &self.per_queue {
                writeln!(
                    f,
                    "  queue {:<3} core {:<4}: {} packets",
                    q.queue,
                    q.core.map_or_else(|| "-".to_string(), |c| c.to_string()),
                    thousands(q.packets)
                )?;
            }
        }
        match self.engine {
            Engine::Xsk => {
                writeln!(
                    f,
                    "Packets received    : {}",
                    thousands(self.sum(|q| q.rx_packets))
                )?;
                writeln!(
                    f,
                    "TX invalid descs    : {}",
                    thousands(self.sum(|q| q.tx_invalid))
                )?;
                writeln!(
                    f,
                    "TX ring empty       : {}",
                    thousands(self.sum(|q| q.tx_ring_empty))
                )?;
                writeln!(
                    f,
                    "In flight at exit   : {}",
                    self.sum(|q| u64::from(q.in_flight_at_exit))
                )
            }
            Engine::XdpLive => {
                writeln!(
                    f,
                    "BPF_PROG_RUN calls  : {}",
                    thousands(self.sum(|q| q.runs))
                )?;
                writeln!(
                    f,
                    "Aborted frames      : {}",
                    thousands(self.sum(|q| q.aborted))
                )
            }
        }
    }
}

/// A stats line: `IF:qN  N tx/s  X Mbit/s (Y Mbit/s L1)`.
pub fn rate_line(name: &str, what: &str, pkts: u64, bytes: u64, secs: f64) -> String {
    use super::router::thousands;
    let secs = secs.max(1e-9);
    let pps = pkts as f64 / secs;
    let l2 = bytes as f64 * 8.0 / secs / 1e6;
    let l1 = (bytes + pkts * L1_OVERHEAD as u64) as f64 * 8.0 / secs / 1e6;
    format!(
        "{name:<12} {:>12} {what}/s {l2:>10.2} Mbit/s ({l1:.2} Mbit/s L1)",
        thousands(pps.round() as u64)
    )
}

/// Check `-s` against the interface MTU.
pub fn check_size(size: usize, mtu: u32, iface: &str) -> Result<(), String> {
    let max = mtu as usize + ETH;
    if size < MIN_FRAME || size > max {
        return Err(format!(
            "-s {size} is out of range for {iface} (MTU {mtu}): use {MIN_FRAME}..={max} \
             (frame size without FCS; raise the MTU with `ip link set dev {iface} mtu N` for larger frames)"
        ));
    }
    Ok(())
}

/// Share `total` among `n` parts: the first `total % n` get one more.
fn share(total: u64, n: usize, i: usize) -> u64 {
    let n = n as u64;
    total / n + u64::from((i as u64) < total % n)
}

/// The generator: configuration checked, destination resolved, flows
/// built and partitioned, sockets (xsk) open.
#[derive(Debug)]
pub struct Pktgen {
    cfg: PktgenConfig,
    port: Option<Port>,
    live: Option<engine_live::LiveProgram>,
    plans: Vec<QueuePlan>,
    dst_mac: EthernetAddress,
    nflows: u32,
    ifindex: u32,
}

impl Pktgen {
    /// Check the configuration, resolve the destination MAC (`--gateway`:
    /// on AF_XDP sockets opened for that and closed again), build the
    /// flows, and for xsk open the sockets and attach the steering
    /// program.
    pub fn new(cfg: PktgenConfig) -> Result<Pktgen, String> {
        if cfg.size < MIN_FRAME {
            return Err(format!(
                "-s {} is below the {MIN_FRAME}-byte minimum Ethernet frame (without FCS): use -s {MIN_FRAME} or more (default 64)",
                cfg.size
            ));
        }
        if cfg.duration.is_some_and(|d| d.is_nan() || d <= 0.0) {
            return Err("-d must be a positive number of seconds".into());
        }
        let (ifindex, mac, mtu) =
            interface_info(&cfg.iface).map_err(|_| no_such_interface(&cfg.iface))?;
        check_size(cfg.size, mtu, &cfg.iface)?;
        check_queues(&cfg.iface, &cfg.queues, "--queues")?;
        if let Some(cores) = &cfg.cores {
            if cores.len() != cfg.queues.len() {
                return Err(format!(
                    "--cores lists {} cores for {} queues: give one core per queue \
                     (thread i runs queue i on core i)",
                    cores.len(),
                    cfg.queues.len()
                ));
            }
            let usable = crate::worker::host::usable_cores();
            if let Some(c) = cores
                .iter()
                .find(|c| !usable.is_empty() && !usable.contains(c))
            {
                return Err(format!(
                    "--cores: core {c} is not one this process may run on ({}): pick cores from that list",
                    crate::worker::placement::format_core_list(&usable)
                ));
            }
        }
        if (cfg.flows as usize) < cfg.queues.len() {
            return Err(format!(
                "--flows {} is fewer than the {} queues: each queue's thread sends its own flows \
                 (so sequence numbers stay per flow), use --flows {} or more",
                cfg.flows,
                cfg.queues.len(),
                cfg.queues.len()
            ));
        }
        let src_mac = cfg.src_mac.unwrap_or(EthernetAddress(mac));
        // Template check before any socket opens: families, sizes, ranges.
        build_flows(&cfg, src_mac, EthernetAddress::BROADCAST)?;
        let dst_mac = match cfg.next_hop {
            NextHop::Mac(m) => m,
            NextHop::Gateway(gw) => {
                // Sockets on every rx queue: the answer may come on any.
                let mut p = Port::open_all_queues(&cfg.iface, cfg.xdp_mode, &cfg.queues)?;
                resolve::resolve(&mut p.links, &cfg.iface, src_mac, cfg.src_ip.addr(), gw)?
            }
        };
        // xsk: the sockets to send on (the steering program keeps their
        // fill rings turning); xdp-live needs no program on this side.
        let port = match cfg.engine {
            Engine::Xsk => Some(Port::open(
                &cfg.iface,
                &cfg.queues,
                cfg.xdp_mode,
                512,
                2048,
            )?),
            Engine::XdpLive => None,
        };
        let flows = build_flows(&cfg, src_mac, dst_mac)?;
        let nflows = flows.len() as u32;
        let n = cfg.queues.len();
        let pps = cfg.rate.pps(cfg.size);
        let plans: Vec<QueuePlan> = cfg
            .queues
            .iter()
            .enumerate()
            .map(|(i, &queue)| QueuePlan {
                iface: cfg.iface.clone(),
                queue,
                core: cfg.cores.as_ref().map(|c| c[i]),
                flows: flows.iter().skip(i).step_by(n).cloned().collect(),
                size: cfg.size,
                pps: pps.map(|p| p / n as f64),
                count: cfg.count.map(|c| share(c, n, i)),
                duration: cfg.duration,
            })
            .collect();
        let live = match cfg.engine {
            Engine::XdpLive => Some(engine_live::LiveProgram::load(
                &plans,
                ifindex,
                cfg.src_ip.addr().is_ipv6(),
            )?),
            Engine::Xsk => None,
        };
        Ok(Pktgen {
            cfg,
            port,
            live,
            plans,
            dst_mac,
            nflows,
            ifindex,
        })
    }

    /// The destination MAC (given or resolved).
    pub fn dst_mac(&self) -> EthernetAddress {
        self.dst_mac
    }

    /// One line for stderr: where and how this sends.
    pub fn describe(&self) -> String {
        match &self.port {
            Some(p) => format!("{} with engine {}", p.describe(), self.cfg.engine),
            None => format!(
                "{} (ifindex {}; {}; engine {}: BPF_PROG_RUN live frames, XDP_TX)",
                self.cfg.iface,
                self.ifindex,
                queue_words(&self.cfg.queues),
                self.cfg.engine
            ),
        }
    }

    /// Warnings from attaching the steering program (xsk) or the live
    /// program to lo (xdp-live).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = self
            .port
            .as_ref()
            .map_or_else(Vec::new, |p| p.attachment.warnings.clone());
        w.extend(self.live.as_ref().and_then(|l| l.warning.clone()));
        w
    }

    /// Send until `stop`, `-d` or `-n`, one thread per queue; aggregated
    /// stats lines go to `out`. An engine that fails to start on any queue
    /// stops all threads and returns the error.
    pub fn run(&mut self, stop: &AtomicBool, out: &mut dyn Write) -> Result<PktgenSummary, String> {
        let cfg = &self.cfg;
        let mut links: Vec<Option<XdpLink>> = match self.port.as_mut() {
            Some(p) if cfg.engine == Engine::Xsk => {
                std::mem::take(&mut p.links).into_iter().map(Some).collect()
            }
            _ => self.plans.iter().map(|_| None).collect(),
        };
        let progress: Vec<Progress> = self.plans.iter().map(|_| Progress::default()).collect();
        // 0: wait, 1: go, 2: abort (a thread failed to start).
        let go = AtomicU8::new(0);
        let interval_ns = (cfg.interval * 1e9) as u64;
        let name = format!("{}:{}", cfg.iface, short_queues(&cfg.queues));
        let ifindex = self.ifindex;
        let live_obj = self.live.as_ref().map(|l| (l.object(), l.prog_fd()));
        let mut samples: Vec<f64> = Vec::new();
        let (results, start) = std::thread::scope(|s| {
            let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
            let mut handles = Vec::new();
            for (thread, ((plan, link), prog)) in self
                .plans
                .iter()
                .zip(links.iter_mut())
                .zip(&progress)
                .enumerate()
            {
                let thread = thread as u32;
                let link = link.take();
                let ready = ready_tx.clone();
                let go = &go;
                handles.push(s.spawn(move || -> Result<QueueResult, String> {
                    let core = plan.core.filter(|&c| {
                        core_affinity::set_for_current(core_affinity::CoreId { id: c })
                    });
                    if plan.core.is_some() && core.is_none() {
                        let e = format!(
                            "cannot pin the thread of queue {} to core {}: check --cores against `nproc`/the affinity mask",
                            plan.queue,
                            plan.core.unwrap_or(0)
                        );
                        let _ = ready.send(Err(e.clone()));
                        return Err(e);
                    }
                    match link {
                        Some(mut link) => {
                            let _ = ready.send(Ok(()));
                            if !wait_go(go) {
                                return Err("aborted".into());
                            }
                            Ok(engine_xsk::run(&mut link, plan, stop, prog))
                        }
                        None => {
                            let Some((obj, fd)) = live_obj else {
                                let e = "no engine for this queue".to_string();
                                let _ = ready.send(Err(e.clone()));
                                return Err(e);
                            };
                            if let Err(e) = engine_live::probe(fd, thread, plan, ifindex) {
                                let _ = ready.send(Err(e.clone()));
                                return Err(e);
                            }
                            let _ = ready.send(Ok(()));
                            if !wait_go(go) {
                                return Err("aborted".into());
                            }
                            engine_live::run(obj, fd, thread, plan, ifindex, stop, prog)
                        }
                    }
                }));
            }
            drop(ready_tx);
            let mut first_err = None;
            for r in ready_rx.iter().take(handles.len()) {
                if let Err(e) = r {
                    first_err.get_or_insert(e);
                }
            }
            go.store(if first_err.is_some() { 2 } else { 1 }, Ordering::Release);
            let start = monotonic_ns();
            let mut next_report = start + interval_ns;
            let (mut last_pkts, mut last_t) = (0u64, start);
            while first_err.is_none() && !handles.iter().all(|h| h.is_finished()) {
                std::thread::sleep(Duration::from_millis(10));
                let now = monotonic_ns();
                if interval_ns > 0 && now >= next_report {
                    let sent: u64 = progress
                        .iter()
                        .map(|p| p.packets.load(Ordering::Relaxed))
                        .sum();
                    let secs = (now - last_t) as f64 / 1e9;
                    samples.push((sent - last_pkts) as f64 / secs);
                    if !cfg.json {
                        let _ = writeln!(
                            out,
                            "{}",
                            rate_line(
                                &name,
                                "tx",
                                sent - last_pkts,
                                (sent - last_pkts) * cfg.size as u64,
                                secs
                            )
                        );
                        let _ = out.flush();
                    }
                    (last_pkts, last_t) = (sent, now);
                    next_report += interval_ns;
                }
            }
            let mut results = Vec::new();
            for h in handles {
                match h.join() {
                    Ok(Ok(r)) => results.push(r),
                    Ok(Err(e)) => {
                        first_err.get_or_insert(e);
                    }
                    Err(_) => {
                        first_err.get_or_insert_with(|| "a generator thread panicked".into());
                    }
                }
            }
            match first_err {
                Some(e) => Err(e),
                None => Ok((results, start)),
            }
        })?;
        let first = results.iter().map(|r| r.first_ns).min().unwrap_or(start);
        let last = results.iter().map(|r| r.last_ns).max().unwrap_or(start);
        let packets: u64 = results.iter().map(|r| r.packets).sum();
        Ok(PktgenSummary {
            iface: cfg.iface.clone(),
            engine: cfg.engine,
            queues: cfg.queues.clone(),
            xdp_mode: self
                .port
                .as_ref()
                .map_or_else(|| "none".into(), |p| p.attachment.mode.as_str().to_string()),
            copy_mode: self
                .port
                .as_ref()
                .map_or_else(|| "none".into(), |p| p.copy_mode.clone()),
            dst_mac: self.dst_mac,
            gateway: match cfg.next_hop {
                NextHop::Gateway(g) => Some(g),
                NextHop::Mac(_) => None,
            },
            size: cfg.size,
            flows: self.nflows,
            family: if cfg.src_ip.addr().is_ipv6() {
                "ipv6"
            } else {
                "ipv4"
            },
            rate_pps: cfg.rate.pps(cfg.size),
            seconds: (last.max(first + 1) - first) as f64 / 1e9,
            packets,
            bytes: results.iter().map(|r| r.bytes).sum(),
            pps_stddev: stddev(&samples),
            per_queue: results,
        })
    }
}

/// Block until the main thread says go (`true`) or abort (`false`).
fn wait_go(go: &AtomicU8) -> bool {
    loop {
        match go.load(Ordering::Acquire) {
            0 => std::thread::sleep(Duration::from_micros(100)),
            1 => return true,
            _ => return false,
        }
    }
}

/// `q0` or `q0,1` for stats lines.
fn short_queues(queues: &[u32]) -> String {
    let list: Vec<String> = queues.iter().map(u32::to_string).collect();
    format!("q{}", list.join(","))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    const MAC2: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    pub(super) fn cfg(src: &str, dst: &str) -> PktgenConfig {
        PktgenConfig {
            iface: "lo".into(),
            queues: vec![0],
            cores: None,
            engine: Engine::Xsk,
            next_hop: NextHop::Mac(EthernetAddress([2, 0, 0, 0, 0, 2])),
            src_mac: None,
            src_ip: parse_ip_range(src).unwrap(),
            dst_ip: parse_ip_range(dst).unwrap(),
            src_ports: "1024-1031".parse().unwrap(),
            dst_ports: "9".parse().unwrap(),
            flows: 4,
            size: 128,
            rate: Rate::Unlimited,
            duration: None,
            count: None,
            interval: 1.0,
            json: false,
            xdp_mode: XdpMode::Auto,
        }
    }

    #[test]
    fn rates_parse_with_units() {
        assert_eq!("500k".parse::<Rate>().unwrap(), Rate::Pps(500e3));
        assert_eq!("2M".parse::<Rate>().unwrap(), Rate::Pps(2e6));
        assert_eq!("2Mpps".parse::<Rate>().unwrap(), Rate::Pps(2e6));
        assert_eq!("1Gbit".parse::<Rate>().unwrap(), Rate::Bits(1e9));
        assert_eq!("0".parse::<Rate>().unwrap(), Rate::Unlimited);
        assert!("5furlongs".parse::<Rate>().unwrap_err().contains("1Gbit"));
        // 1 Gbit/s L1 of 64-byte frames: 84 B on the wire each.
        let p = Rate::Bits(1e9).pps(64).unwrap();
        assert!((p - 1e9 / 672.0).abs() < 1.0);
    }

    #[test]
    fn stamped_frames_have_valid_checksums_v4_and_v6() {
        for (s, d) in [
            ("198.18.0.1/30", "198.18.1.1"),
            ("2001:2::1/126", "2001:2:0:1::1"),
        ] {
            let flows = build_flows(&cfg(s, d), EthernetAddress([2, 0, 0, 0, 0, 1]), MAC2).unwrap();
            assert_eq!(flows.len(), 4);
            for (i, t) in flows.iter().enumerate() {
                let mut f = t.bytes.clone();
                write_stamp(t, &mut f, 0xdead_beef - i as u32, 0x0123_4567_89ab_cdef);
                let eth = EthernetFrame::new_checked(&f[..]).unwrap();
                let (src, dst, l4): (IpAddr, IpAddr, &[u8]) = if s.contains(':') {
                    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
                    (ip.src_addr().into(), ip.dst_addr().into(), ip.payload())
                } else {
                    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
                    (ip.src_addr().into(), ip.dst_addr().into(), ip.payload())
                };
                let udp = UdpPacket::new_checked(l4).unwrap();
                assert!(udp.verify_checksum(&src, &dst), "flow {i} of {s}");
                assert_eq!(udp.src_port(), 1024 + i as u16);
                assert_eq!(
                    read_stamp(udp.payload()),
                    Some((0xdead_beef - i as u32, 0x0123_4567_89ab_cdef))
                );
            }
        }
    }

    #[test]
    fn bad_flows_and_sizes_name_the_fix() {
        let mut c = cfg("198.18.0.1", "198.18.1.1");
        c.flows = 100;
        assert!(build_flows(&c, EthernetAddress([2, 0, 0, 0, 0, 1]), MAC2)
            .unwrap_err()
            .contains("--src-port"));
        let mut c = cfg("2001:2::1", "2001:2::2");
        c.size = 64;
        assert!(build_flows(&c, EthernetAddress([2, 0, 0, 0, 0, 1]), MAC2)
            .unwrap_err()
            .contains("-s 78"));
        assert!(check_size(1515, 1500, "x")
            .unwrap_err()
            .contains("60..=1514"));
        let c = cfg("198.18.0.1", "2001:2::2");
        assert!(build_flows(&c, EthernetAddress([2, 0, 0, 0, 0, 1]), MAC2).is_err());
    }
}
