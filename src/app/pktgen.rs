//! `xdpnet pktgen`: an AF_XDP UDP traffic generator (engine `xsk`).
//!
//! * One template frame per flow is built once with the wire module
//!   (Ethernet + IPv4 or IPv6 by address family + UDP). Flow `i` takes the
//!   `i`-th value (cycled) of each of the source address range, destination
//!   address range, source port range and destination port range.
//! * Every frame carries a 16-byte [stamp](write_stamp) at the start of the
//!   UDP payload: the kernel pktgen magic `0xbe9be955`, a per-flow sequence
//!   number (u32, big endian) and the TX time (CLOCK_MONOTONIC ns, u64 big
//!   endian). The UDP checksum is patched incrementally (RFC 1624), so a
//!   frame costs one copy of the template and a few stores.
//! * Frames are written straight into UMEM frames, 64 per batch, with one
//!   `write_packets` (one kick) per batch. A token bucket holds the asked
//!   rate (`0` = as fast as possible).
//! * The steering program is attached with policy `all` and the socket put
//!   into its XSKMAP, so the generator's own queue receives (the frames are
//!   read and dropped, keeping the fill ring turning).
//!
//! [`Port`] (one UMEM, one socket, one steering attachment) is shared with
//! [`super::sink`].

use std::fmt;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ipnet::IpNet;
use serde_json::{json, Value};

use crate::buffer::PacketBatch;
use crate::link::xdp::XdpLink;
use crate::link::LinkEndpoint;
use crate::steering::{Attachment, Policy, SteeringOptions, SteeringProgram, XdpMode};
use crate::time::Instant;
use crate::wire::ethernet::{EthernetFrame, EthernetRepr};
use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use crate::wire::udp::{UdpPacket, UdpRepr};
use crate::wire::{EtherType, EthernetAddress, IpProtocol};
use crate::xsk::{interface_info, SocketConfig, Umem, UmemConfig};

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

/// What to send.
#[derive(Debug, Clone)]
pub struct PktgenConfig {
    /// Interface.
    pub iface: String,
    /// TX queue.
    pub queue: u32,
    /// Destination MAC.
    pub dst_mac: EthernetAddress,
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
            dst_addr: cfg.dst_mac,
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

/// One AF_XDP socket on one queue over its own UMEM, with the steering
/// program attached (policy `all`) and the socket in its XSKMAP.
pub struct Port {
    /// The link.
    pub link: XdpLink,
    /// Where and how the program was attached.
    pub attachment: Attachment,
    /// Interface MTU.
    pub mtu: u32,
    // Dropped after the link: detaches the program.
    _steering: SteeringProgram,
}

impl fmt::Debug for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Port")
            .field("link", &self.link)
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

impl Port {
    /// Open the socket (ring sizes: powers of two ≥ 32) and attach the
    /// program. The UMEM holds the fill ring (2 × rx) and the TX and
    /// completion rings twice over.
    pub fn open(
        iface: &str,
        queue: u32,
        xdp_mode: XdpMode,
        rx_size: u32,
        tx_size: u32,
    ) -> Result<Port, String> {
        let (_, _, mtu) = interface_info(iface).map_err(|_| no_such_interface(iface))?;
        let comp_size = tx_size.max(1024);
        let umem = Umem::new(UmemConfig {
            frame_count: (2 * rx_size + comp_size) * 2,
            ..UmemConfig::default()
        })
        .map_err(|e| e.to_string())?;
        let sc = SocketConfig {
            rx_size,
            fill_size: 2 * rx_size,
            tx_size,
            comp_size,
            ..SocketConfig::default()
        };
        let link = XdpLink::new(iface, queue, &umem, &sc).map_err(|e| e.to_string())?;
        let mut prog = SteeringProgram::load(SteeringOptions {
            max_queues: queue + 1,
            policy: Policy::All,
            ..SteeringOptions::default()
        })
        .map_err(|e| e.to_string())?;
        let attachment = prog.attach(iface, xdp_mode).map_err(|e| e.to_string())?;
        prog.insert_socket(queue, link.fd())
            .map_err(|e| e.to_string())?;
        Ok(Port {
            link,
            attachment,
            mtu,
            _steering: prog,
        })
    }

    /// `IF (ifindex N; queue Q; xdp MODE; copy MODE)`.
    pub fn describe(&self) -> String {
        format!(
            "{} (ifindex {}; queue {}; xdp {}; {} mode)",
            self.attachment.ifname,
            self.attachment.ifindex,
            self.link.socket().queue(),
            self.attachment.mode.as_str(),
            self.link.bound_mode()
        )
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

/// What a run sent.
#[derive(Debug, Clone, PartialEq)]
pub struct PktgenSummary {
    /// Interface.
    pub iface: String,
    /// Queue.
    pub queue: u32,
    /// XDP attach mode used.
    pub xdp_mode: String,
    /// AF_XDP bind mode.
    pub copy_mode: String,
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
    /// Frames taken by the TX ring.
    pub packets: u64,
    /// Their bytes (without FCS).
    pub bytes: u64,
    /// Standard deviation of the per-interval pps.
    pub pps_stddev: f64,
    /// Frames received on the generator's queue (and dropped).
    pub rx_packets: u64,
    /// Kernel: invalid TX descriptors.
    pub tx_invalid: u64,
    /// Kernel: times the TX ring was empty.
    pub tx_ring_empty: u64,
    /// Frames still in flight at exit (not completed by the kernel).
    pub in_flight_at_exit: u32,
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

    /// The `--json` document.
    pub fn to_json(&self) -> Value {
        json!({
            "command": "pktgen",
            "engine": "xsk",
            "interface": self.iface,
            "queue": self.queue,
            "xdp_mode": self.xdp_mode,
            "copy_mode": self.copy_mode,
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
            "rx_packets": self.rx_packets,
            "tx_invalid_descs": self.tx_invalid,
            "tx_ring_empty_descs": self.tx_ring_empty,
            "in_flight_at_exit": self.in_flight_at_exit,
        })
    }
}

impl fmt::Display for PktgenSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use super::router::thousands;
        writeln!(f, "--- summary ---")?;
        writeln!(
            f,
            "Interface           : {}:q{} (xdp {}, {} mode, engine xsk)",
            self.iface, self.queue, self.xdp_mode, self.copy_mode
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
        writeln!(f, "Packets received    : {}", thousands(self.rx_packets))?;
        writeln!(f, "TX invalid descs    : {}", thousands(self.tx_invalid))?;
        writeln!(f, "TX ring empty       : {}", thousands(self.tx_ring_empty))?;
        writeln!(f, "In flight at exit   : {}", self.in_flight_at_exit)
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

/// The generator.
#[derive(Debug)]
pub struct Pktgen {
    cfg: PktgenConfig,
    port: Port,
    flows: Vec<FlowTemplate>,
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

impl Pktgen {
    /// Check the configuration, build the flows, open the socket and attach
    /// the steering program.
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
        let (_, mac, mtu) =
            interface_info(&cfg.iface).map_err(|_| no_such_interface(&cfg.iface))?;
        check_size(cfg.size, mtu, &cfg.iface)?;
        let flows = build_flows(&cfg, cfg.src_mac.unwrap_or(EthernetAddress(mac)))?;
        let port = Port::open(&cfg.iface, cfg.queue, cfg.xdp_mode, 512, 2048)?;
        Ok(Pktgen { cfg, port, flows })
    }

    /// The socket, program and interface this runs on.
    pub fn port(&self) -> &Port {
        &self.port
    }

    /// Send until `stop`, `-d` or `-n`; stats lines go to `out`.
    pub fn run(&mut self, stop: &AtomicBool, out: &mut dyn Write) -> PktgenSummary {
        let cfg = &self.cfg;
        let link = &mut self.port.link;
        let pps = cfg.rate.pps(cfg.size);
        // Up to 10 ms of credit (at least one batch): a preempted generator
        // catches up instead of losing rate.
        let burst = pps.map_or(BATCH as f64, |p| (p / 100.0).max(BATCH as f64));
        let start = monotonic_ns();
        let deadline = cfg.duration.map(|d| start + (d * 1e9) as u64);
        let interval_ns = (cfg.interval * 1e9) as u64;
        let name = format!("{}:q{}", cfg.iface, cfg.queue);
        let mut next_report = start + interval_ns;
        let (mut last_pkts, mut last_bytes, mut last_t) = (0u64, 0u64, start);
        let mut samples: Vec<f64> = Vec::new();
        let mut seqs = vec![0u32; self.flows.len()];
        let mut flow = 0usize;
        let mut tokens = 0.0f64;
        let mut last = start;
        let mut batch: PacketBatch = Vec::with_capacity(BATCH);
        let mut rx: PacketBatch = Vec::with_capacity(BATCH);
        let (mut sent, mut bytes, mut built, mut rx_packets) = (0u64, 0u64, 0u64, 0u64);
        let mut iter = 0u64;
        let mut end = start;
        loop {
            let now = monotonic_ns();
            if stop.load(Ordering::Relaxed)
                || deadline.is_some_and(|d| now >= d)
                || cfg.count.is_some_and(|c| sent >= c)
            {
                break;
            }
            if let Some(p) = pps {
                tokens = (tokens + (now - last) as f64 * p / 1e9).min(burst);
            }
            last = now;
            let mut want = BATCH - batch.len();
            if pps.is_some() {
                want = want.min(tokens as usize);
            }
            if let Some(c) = cfg.count {
                want = want.min((c - built) as usize);
            }
            if want == 0 && batch.is_empty() {
                if let Some(p) = pps {
                    let wait = ((1.0 - tokens) / p * 1e9) as u64;
                    let wait = deadline.map_or(wait, |d| wait.min(d.saturating_sub(now)));
                    if wait > 200_000 {
                        std::thread::sleep(Duration::from_nanos(wait - 100_000));
                    } else {
                        std::thread::yield_now();
                    }
                } else {
                    // -n reached with everything sent: the check above ends it.
                    link.service();
                }
            } else {
                for _ in 0..want {
                    let Some(mut buf) = link.alloc_buffer() else {
                        break;
                    };
                    let t = &self.flows[flow];
                    let dst = buf.append(t.bytes.len());
                    dst.copy_from_slice(&t.bytes);
                    write_stamp(t, dst, seqs[flow], now);
                    seqs[flow] = seqs[flow].wrapping_add(1);
                    flow = if flow + 1 == self.flows.len() {
                        0
                    } else {
                        flow + 1
                    };
                    batch.push(buf);
                    built += 1;
                    tokens -= 1.0;
                }
                if !batch.is_empty() {
                    let n = link.write_packets(&mut batch, Instant::from_nanos(now));
                    sent += n as u64;
                    bytes += (n * cfg.size) as u64;
                    if n > 0 {
                        end = monotonic_ns();
                    } else {
                        link.service();
                    }
                }
            }
            iter += 1;
            if iter.is_multiple_of(32) {
                rx_packets += link.read_packets(&mut rx, BATCH, Instant::from_nanos(now)) as u64;
                rx.clear();
            }
            if interval_ns > 0 && now >= next_report {
                let secs = (now - last_t) as f64 / 1e9;
                samples.push((sent - last_pkts) as f64 / secs);
                if !cfg.json {
                    let _ = writeln!(
                        out,
                        "{}",
                        rate_line(&name, "tx", sent - last_pkts, bytes - last_bytes, secs)
                    );
                    let _ = out.flush();
                }
                (last_pkts, last_bytes, last_t) = (sent, bytes, now);
                next_report += interval_ns;
            }
        }
        drop(batch);
        // Let the kernel complete what is on the TX ring.
        let drain_until = monotonic_ns() + 500_000_000;
        while link.accounting().umem.tx > 0 && monotonic_ns() < drain_until {
            link.service();
            std::thread::sleep(Duration::from_micros(200));
        }
        let st = link.xdp_statistics().unwrap_or_default();
        PktgenSummary {
            iface: cfg.iface.clone(),
            queue: cfg.queue,
            xdp_mode: self.port.attachment.mode.as_str().to_string(),
            copy_mode: link.bound_mode().to_string(),
            size: cfg.size,
            flows: self.flows.len() as u32,
            family: if cfg.src_ip.addr().is_ipv6() {
                "ipv6"
            } else {
                "ipv4"
            },
            rate_pps: pps,
            seconds: (end.max(start + 1) - start) as f64 / 1e9,
            packets: sent,
            bytes,
            pps_stddev: stddev(&samples),
            rx_packets,
            tx_invalid: st.tx_invalid_descs,
            tx_ring_empty: st.tx_ring_empty_descs,
            in_flight_at_exit: link.accounting().umem.tx,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(src: &str, dst: &str) -> PktgenConfig {
        PktgenConfig {
            iface: "lo".into(),
            queue: 0,
            dst_mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
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
            let flows = build_flows(&cfg(s, d), EthernetAddress([2, 0, 0, 0, 0, 1])).unwrap();
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
        assert!(build_flows(&c, EthernetAddress([2, 0, 0, 0, 0, 1]))
            .unwrap_err()
            .contains("--src-port"));
        let mut c = cfg("2001:2::1", "2001:2::2");
        c.size = 64;
        assert!(build_flows(&c, EthernetAddress([2, 0, 0, 0, 0, 1]))
            .unwrap_err()
            .contains("-s 78"));
        assert!(check_size(1515, 1500, "x")
            .unwrap_err()
            .contains("60..=1514"));
        let c = cfg("198.18.0.1", "2001:2::2");
        assert!(build_flows(&c, EthernetAddress([2, 0, 0, 0, 0, 1])).is_err());
    }
}
