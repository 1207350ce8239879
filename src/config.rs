//! Router configuration: a TOML file that can say everything the
//! `xdpnet router` flags say, and the flags, which override it.
//!
//! # The file
//!
//! ```toml
//! # Top-level keys first (TOML puts keys after a [[table]] into that table).
//! routes = ["198.19.0.0/16 via 198.18.0.2", "default via 198.18.1.2",
//!           "198.20.0.0/16 blackhole", "2001:2:0:ff::/64 unreachable"]
//! neighbors = ["198.18.1.2 lladdr 02:00:00:00:00:02 dev veth1"]
//! workers = 2              # default: number of --cores, else one per rx queue
//! cores = "0,2-3"          # or [0, 2, 3]
//! queues = "all"           # or "0-3": rx queues served on every interface
//! xdp_mode = "auto"        # auto | native | generic
//! copy_mode = "auto"       # auto | copy | zero-copy
//! busy_poll = false
//! interval = 1.0           # seconds between stats lines; 0 = none
//! duration = 10.0          # optional: stop after this many seconds
//! json = false
//!
//! [[interface]]
//! name = "veth0"
//! addresses = ["198.18.0.1/24", "2001:2::1/64"]
//! ```
//!
//! Unknown keys are errors (`deny_unknown_fields`): a typo must not be
//! silently ignored. Every error names the field, the problem and the fix.
//!
//! # Precedence
//!
//! Both the file and the command line produce a [`RouterOptions`] (every
//! field optional); [`RouterOptions::overlay`] lets each field given on the
//! command line replace the file's (`--iface` and `--route` replace the whole
//! list when given at least once; `--busy-poll`/`--json` can only switch
//! on). [`RouterOptions::finish`] applies defaults and validates, giving a
//! [`RouterConfig`]. [`RouterConfig::to_toml`] prints the effective
//! configuration in the file syntax (`xdpnet router --print-config`), which
//! parses back to the same configuration.
//!
//! # Syntax of the values
//!
//! * Interface (`--iface`): `IF=ADDR/PREFIX[,ADDR/PREFIX…]`, e.g.
//!   `veth0=198.18.0.1/24,2001:2::1/64`.
//! * Route (`--route`), `ip route` shaped: `PREFIX via GW [dev IF] [metric N]`,
//!   `PREFIX blackhole`, `PREFIX unreachable` (also `blackhole PREFIX`),
//!   `default via GW` (IPv4 or IPv6 by the gateway). A bare address is a
//!   host route. Without `dev`, the gateway's interface is the one whose
//!   subnet contains it.
//! * Static neighbor (`--neighbor`), `ip neigh` shaped:
//!   `ADDR lladdr MAC dev IF` (a trailing `nud permanent` is accepted), e.g.
//!   `198.18.1.2 lladdr 02:00:00:00:00:02 dev veth1`. Every shard gets the
//!   entry; it never ages and is never probed (ARP / NDP are not asked).
//! * Cores: `0,2-3` (the `taskset -c` syntax).

use core::fmt;
use core::str::FromStr;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use crate::stack::{NicId, Route};
use crate::steering::XdpMode;
use crate::wire::EthernetAddress;
use crate::worker::placement::parse_list;

/// AF_XDP copy mode (`--copy-mode`), as in xdp-bench `-C`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CopyMode {
    /// Zero-copy when the driver supports it, else copy.
    #[default]
    Auto,
    /// Always copy (XDP_COPY): works everywhere.
    Copy,
    /// Zero-copy only (XDP_ZEROCOPY): fail if the driver cannot.
    ZeroCopy,
}

impl CopyMode {
    /// The command-line spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CopyMode::Auto => "auto",
            CopyMode::Copy => "copy",
            CopyMode::ZeroCopy => "zero-copy",
        }
    }
}

impl fmt::Display for CopyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CopyMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(CopyMode::Auto),
            "copy" => Ok(CopyMode::Copy),
            "zero-copy" | "zerocopy" | "zc" => Ok(CopyMode::ZeroCopy),
            other => Err(format!(
                "unknown copy mode `{other}`: use auto, copy or zero-copy"
            )),
        }
    }
}

/// Parse an XDP mode with a message that names the accepted values.
pub fn parse_xdp_mode(s: &str) -> Result<XdpMode, String> {
    s.parse::<XdpMode>()
        .map_err(|_| format!("unknown XDP mode `{s}`: use auto, native or generic"))
}

/// One router interface: `IF=ADDR/PREFIX[,ADDR/PREFIX…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceSpec {
    /// Interface name.
    pub name: String,
    /// Addresses with prefix lengths.
    pub addresses: Vec<IpNet>,
}

fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the interface name is empty: write IF=ADDR/PREFIX, e.g. \
                    veth0=198.18.0.1/24"
            .into());
    }
    if name.len() >= 16 || name.contains(['/', ' ', '\0', '=', ',', ':']) {
        return Err(format!(
            "`{name}` is not a valid interface name (at most 15 characters, no `/`, \
             spaces, `=`, `,` or `:`)"
        ));
    }
    Ok(())
}

fn parse_addr(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if !s.contains('/') {
        return if s.parse::<IpAddr>().is_ok() {
            Err(format!(
                "address `{s}` has no prefix length: write it as {s}/{}",
                if s.contains(':') { "64" } else { "24" }
            ))
        } else {
            Err(format!(
                "`{s}` is not an address with a prefix length (e.g. 198.18.0.1/24 or \
                 2001:2::1/64)"
            ))
        };
    }
    s.parse::<IpNet>().map_err(|_| {
        format!("`{s}` is not an address with a prefix length (e.g. 198.18.0.1/24 or 2001:2::1/64)")
    })
}

impl InterfaceSpec {
    /// Build from a name and address strings (the config file's form).
    pub fn new(name: &str, addresses: &[String]) -> Result<InterfaceSpec, String> {
        check_ifname(name)?;
        if addresses.is_empty() {
            return Err(format!(
                "interface {name} has no address: give at least one, e.g. \
                 {name}=198.18.0.1/24"
            ));
        }
        let addresses = addresses
            .iter()
            .map(|a| parse_addr(a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(InterfaceSpec {
            name: name.to_string(),
            addresses,
        })
    }
}

impl FromStr for InterfaceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let Some((name, addrs)) = s.split_once('=') else {
            return Err(format!(
                "`{s}` lacks `=`: write IF=ADDR/PREFIX[,ADDR/PREFIX…], e.g. \
                 veth0=198.18.0.1/24,2001:2::1/64"
            ));
        };
        let addrs: Vec<String> = addrs
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        InterfaceSpec::new(name.trim(), &addrs)
    }
}

impl fmt::Display for InterfaceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addrs: Vec<String> = self.addresses.iter().map(|a| a.to_string()).collect();
        write!(f, "{}={}", self.name, addrs.join(","))
    }
}

/// Where a route sends packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// To a gateway, optionally through a named interface.
    Via {
        /// The next-hop router.
        gateway: IpAddr,
        /// The interface, if named (`dev IF`).
        dev: Option<String>,
    },
    /// Drop silently.
    Blackhole,
    /// Drop and answer ICMP destination unreachable.
    Unreachable,
}

/// A static route as written by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination prefix (host bits cleared).
    pub prefix: IpNet,
    /// Where matching packets go.
    pub target: RouteTarget,
    /// Preference among routes of one prefix (lowest wins; default 0;
    /// `metric N` sets it).
    pub metric: u32,
}

const ROUTE_SYNTAX: &str = "write `PREFIX via GW [dev IF] [metric N]`, `PREFIX blackhole`, \
                            `PREFIX unreachable` or `default via GW`, e.g. \
                            `198.19.0.0/16 via 198.18.0.2`";

fn parse_prefix(s: &str) -> Result<IpNet, String> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n.trunc());
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(a));
    }
    Err(format!(
        "`{s}` is not a prefix (e.g. 198.19.0.0/16); {ROUTE_SYNTAX}"
    ))
}

impl FromStr for RouteSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut toks: Vec<&str> = s.split_whitespace().collect();
        if toks.is_empty() {
            return Err(format!("empty route: {ROUTE_SYNTAX}"));
        }
        // iproute2 order: `blackhole PREFIX`, `unreachable PREFIX`.
        if matches!(toks[0], "blackhole" | "unreachable") && toks.len() >= 2 {
            toks.swap(0, 1);
        }
        let dest = toks[0];
        let mut target = None;
        let mut dev = None;
        let mut metric = 0u32;
        let mut i = 1;
        while i < toks.len() {
            let arg = toks.get(i + 1).copied();
            match (toks[i], arg) {
                ("via", Some(gw)) => {
                    let gw: IpAddr = gw.parse().map_err(|_| {
                        format!("gateway `{gw}` is not an IP address; {ROUTE_SYNTAX}")
                    })?;
                    target = Some(RouteTarget::Via {
                        gateway: gw,
                        dev: None,
                    });
                    i += 2;
                }
                ("dev", Some(d)) => {
                    check_ifname(d)?;
                    dev = Some(d.to_string());
                    i += 2;
                }
                ("metric", Some(m)) => {
                    metric = m
                        .parse()
                        .map_err(|_| format!("metric `{m}` is not a number (0..=4294967295)"))?;
                    i += 2;
                }
                ("blackhole", _) => {
                    target = Some(RouteTarget::Blackhole);
                    i += 1;
                }
                ("unreachable", _) => {
                    target = Some(RouteTarget::Unreachable);
                    i += 1;
                }
                (w, None) if matches!(w, "via" | "dev" | "metric") => {
                    return Err(format!("`{w}` needs a value in `{s}`; {ROUTE_SYNTAX}"))
                }
                (w, _) => return Err(format!("unexpected `{w}` in route `{s}`; {ROUTE_SYNTAX}")),
            }
        }
        let target = match (target, dev) {
            (Some(RouteTarget::Via { gateway, .. }), dev) => RouteTarget::Via { gateway, dev },
            (Some(_), Some(_)) => {
                return Err(format!(
                    "`dev` only goes with `via` in route `{s}`: a blackhole or unreachable \
                     route has no interface"
                ))
            }
            (Some(t), None) => t,
            (None, _) => return Err(format!("route `{s}` says nowhere to go; {ROUTE_SYNTAX}")),
        };
        let prefix = if dest == "default" {
            match &target {
                RouteTarget::Via { gateway, .. } if gateway.is_ipv4() => {
                    "0.0.0.0/0".parse().expect("literal")
                }
                RouteTarget::Via { .. } => "::/0".parse().expect("literal"),
                _ => {
                    return Err(format!(
                        "`default` without a gateway is ambiguous in `{s}`: write \
                         0.0.0.0/0 or ::/0"
                    ))
                }
            }
        } else {
            parse_prefix(dest)?
        };
        if let RouteTarget::Via { gateway, .. } = &target {
            if gateway.is_ipv4() != matches!(prefix, IpNet::V4(_)) {
                return Err(format!(
                    "route `{s}` mixes address families: gateway {gateway} for prefix \
                     {prefix}. Fix: use a gateway of the prefix's family"
                ));
            }
        }
        Ok(RouteSpec {
            prefix,
            target,
            metric,
        })
    }
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.prefix_len() == 0 && matches!(self.target, RouteTarget::Via { .. }) {
            f.write_str("default")?;
        } else {
            write!(f, "{}", self.prefix)?;
        }
        match &self.target {
            RouteTarget::Via { gateway, dev } => {
                write!(f, " via {gateway}")?;
                if let Some(d) = dev {
                    write!(f, " dev {d}")?;
                }
            }
            RouteTarget::Blackhole => f.write_str(" blackhole")?,
            RouteTarget::Unreachable => f.write_str(" unreachable")?,
        }
        if self.metric != 0 {
            write!(f, " metric {}", self.metric)?;
        }
        Ok(())
    }
}

impl RouteSpec {
    /// The stack route, with the gateway's interface resolved among
    /// `interfaces` (index = `NicId`).
    pub fn resolve(&self, interfaces: &[InterfaceSpec]) -> Result<Route, String> {
        match &self.target {
            RouteTarget::Blackhole => Ok(Route::blackhole(self.prefix, self.metric)),
            RouteTarget::Unreachable => Ok(Route::unreachable(self.prefix, self.metric)),
            RouteTarget::Via { gateway, dev } => {
                let idx = match dev {
                    Some(d) => interfaces
                        .iter()
                        .position(|i| &i.name == d)
                        .ok_or_else(|| {
                            format!(
                                "route `{self}` names interface {d}, which is not one of the \
                             router's (--iface). Fix: add --iface {d}=ADDR/PREFIX or fix \
                             the name"
                            )
                        })?,
                    None => interfaces
                        .iter()
                        .position(|i| i.addresses.iter().any(|a| a.contains(gateway)))
                        .ok_or_else(|| {
                            format!(
                                "gateway {gateway} of route `{self}` is on none of the \
                                 router's subnets. Fix: give an interface an address in \
                                 the gateway's subnet, or add `dev IF`"
                            )
                        })?,
                };
                let nic = NicId(u16::try_from(idx).map_err(|_| "too many interfaces")?);
                Ok(Route::gateway(self.prefix, nic, *gateway, self.metric))
            }
        }
    }
}

/// A static neighbor entry as written by the user:
/// `ADDR lladdr MAC dev IF [nud permanent]` (`ip neigh replace` syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborSpec {
    /// The neighbor's IPv4 or IPv6 address.
    pub addr: IpAddr,
    /// Its MAC (unicast).
    pub mac: EthernetAddress,
    /// The interface it is on.
    pub dev: String,
}

const NEIGHBOR_SYNTAX: &str = "write `ADDR lladdr MAC dev IF`, e.g. \
                               `198.18.1.2 lladdr 02:00:00:00:00:02 dev veth1`";

impl FromStr for NeighborSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let toks: Vec<&str> = s.split_whitespace().collect();
        let toks = match toks.as_slice() {
            [head @ .., "nud", "permanent"] => head,
            t => t,
        };
        let [addr, "lladdr", mac, "dev", dev] = toks else {
            return Err(format!("`{s}` is not a neighbor entry: {NEIGHBOR_SYNTAX}"));
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IP address; {NEIGHBOR_SYNTAX}"))?;
        let mac: EthernetAddress = mac
            .parse()
            .map_err(|_| format!("`{mac}` is not a MAC address; {NEIGHBOR_SYNTAX}"))?;
        if !mac.is_unicast() {
            return Err(format!(
                "{mac} is a multicast or broadcast MAC: a neighbor's MAC is unicast"
            ));
        }
        if addr.is_multicast() || addr.is_unspecified() {
            return Err(format!(
                "{addr} is not a unicast address: neighbors are unicast hosts (multicast \
                 MACs are derived from the group address)"
            ));
        }
        check_ifname(dev)?;
        Ok(NeighborSpec {
            addr,
            mac,
            dev: dev.to_string(),
        })
    }
}

impl fmt::Display for NeighborSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} lladdr {} dev {}", self.addr, self.mac, self.dev)
    }
}

impl NeighborSpec {
    /// The interface index (= `NicId`) among `interfaces`.
    pub fn resolve(&self, interfaces: &[InterfaceSpec]) -> Result<NicId, String> {
        let idx = interfaces
            .iter()
            .position(|i| i.name == self.dev)
            .ok_or_else(|| {
                format!(
                    "neighbor `{self}` names interface {}, which is not one of the router's \
                     (--iface). Fix: add --iface {}=ADDR/PREFIX or fix the name",
                    self.dev, self.dev
                )
            })?;
        Ok(NicId(
            u16::try_from(idx).map_err(|_| "too many interfaces")?,
        ))
    }
}

/// Which rx queues to serve on every interface.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum QueueSelection {
    /// Every rx queue the interface has.
    #[default]
    All,
    /// These queue ids.
    List(Vec<u32>),
}

impl FromStr for QueueSelection {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim() == "all" {
            return Ok(QueueSelection::All);
        }
        let l = parse_list(s).map_err(|e| format!("queues: {e}, or `all`"))?;
        let mut out = Vec::new();
        for q in l {
            let q = u32::try_from(q).map_err(|_| format!("queue {q} is out of range"))?;
            if out.contains(&q) {
                return Err(format!("queue {q} is listed twice: list each queue once"));
            }
            out.push(q);
        }
        Ok(QueueSelection::List(out))
    }
}

impl fmt::Display for QueueSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueSelection::All => f.write_str("all"),
            QueueSelection::List(l) => {
                let v: Vec<usize> = l.iter().map(|&q| q as usize).collect();
                f.write_str(&crate::worker::placement::format_core_list(&v))
            }
        }
    }
}

/// A configuration problem: the field, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field (`interface[1].addresses[0]`, `--route`, a file name …).
    pub field: String,
    /// What is wrong (often already ending in the fix).
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn err(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// The `cores` key: a list string or an array of numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum CoresField {
    Text(String),
    Numbers(Vec<usize>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileInterface {
    name: String,
    #[serde(default)]
    addresses: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouterFile {
    #[serde(default)]
    interface: Vec<FileInterface>,
    #[serde(default)]
    routes: Vec<String>,
    #[serde(default)]
    neighbors: Vec<String>,
    workers: Option<usize>,
    cores: Option<CoresField>,
    queues: Option<String>,
    xdp_mode: Option<String>,
    copy_mode: Option<String>,
    busy_poll: Option<bool>,
    interval: Option<f64>,
    duration: Option<f64>,
    json: Option<bool>,
}

/// Router settings as given by one source (file or command line); `None` /
/// empty means "not said here".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouterOptions {
    /// Interfaces (`--iface`, `[[interface]]`).
    pub interfaces: Vec<InterfaceSpec>,
    /// Static routes (`--route`, `routes`).
    pub routes: Vec<RouteSpec>,
    /// Static neighbors (`--neighbor`, `neighbors`).
    pub neighbors: Vec<NeighborSpec>,
    /// `--workers`.
    pub workers: Option<usize>,
    /// `--cores`.
    pub cores: Option<Vec<usize>>,
    /// `--queues`.
    pub queues: Option<QueueSelection>,
    /// `--xdp-mode`.
    pub xdp_mode: Option<XdpMode>,
    /// `--copy-mode`.
    pub copy_mode: Option<CopyMode>,
    /// `--busy-poll`.
    pub busy_poll: Option<bool>,
    /// `-i/--interval` in seconds.
    pub interval: Option<f64>,
    /// `-d/--duration` in seconds.
    pub duration: Option<f64>,
    /// `--json`.
    pub json: Option<bool>,
}

impl RouterOptions {
    /// Parse a TOML configuration; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<RouterOptions, ConfigError> {
        let file: RouterFile = toml::from_str(text).map_err(|e| {
            err(
                origin,
                format!(
                    "{}. Fix: keys are interface (tables with name, addresses), routes, \
                     neighbors, workers, cores, queues, xdp_mode, copy_mode, busy_poll, interval, \
                     duration, json; top-level keys must come before the first \
                     [[interface]]",
                    e.to_string().trim_end()
                ),
            )
        })?;
        let mut o = RouterOptions::default();
        for (i, fi) in file.interface.iter().enumerate() {
            let spec = InterfaceSpec::new(&fi.name, &fi.addresses)
                .map_err(|e| err(format!("{origin}: interface[{i}] ({})", fi.name), e))?;
            o.interfaces.push(spec);
        }
        for (i, r) in file.routes.iter().enumerate() {
            o.routes.push(
                r.parse()
                    .map_err(|e: String| err(format!("{origin}: routes[{i}]"), e))?,
            );
        }
        for (i, n) in file.neighbors.iter().enumerate() {
            o.neighbors.push(
                n.parse()
                    .map_err(|e: String| err(format!("{origin}: neighbors[{i}]"), e))?,
            );
        }
        o.workers = file.workers;
        o.cores = match file.cores {
            None => None,
            Some(CoresField::Numbers(v)) => Some(v),
            Some(CoresField::Text(s)) => {
                Some(parse_list(&s).map_err(|e| err(format!("{origin}: cores"), e))?)
            }
        };
        o.queues = file
            .queues
            .map(|q| {
                q.parse()
                    .map_err(|e: String| err(format!("{origin}: queues"), e))
            })
            .transpose()?;
        o.xdp_mode = file
            .xdp_mode
            .map(|m| parse_xdp_mode(&m).map_err(|e| err(format!("{origin}: xdp_mode"), e)))
            .transpose()?;
        o.copy_mode = file
            .copy_mode
            .map(|m| {
                m.parse()
                    .map_err(|e: String| err(format!("{origin}: copy_mode"), e))
            })
            .transpose()?;
        o.busy_poll = file.busy_poll;
        o.interval = file.interval;
        o.duration = file.duration;
        o.json = file.json;
        Ok(o)
    }

    /// Read and parse a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<RouterOptions, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            err(
                &origin,
                format!("cannot read the config file: {e}. Fix: check the path given to --config"),
            )
        })?;
        RouterOptions::from_toml(&text, &origin)
    }

    /// These options with every field `over` says replacing ours.
    pub fn overlay(mut self, over: RouterOptions) -> RouterOptions {
        if !over.interfaces.is_empty() {
            self.interfaces = over.interfaces;
        }
        if !over.routes.is_empty() {
            self.routes = over.routes;
        }
        if !over.neighbors.is_empty() {
            self.neighbors = over.neighbors;
        }
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f; } )* };
        }
        take!(workers, cores, queues, xdp_mode, copy_mode, busy_poll, interval, duration, json);
        self
    }

    /// Apply defaults and validate.
    pub fn finish(self) -> Result<RouterConfig, ConfigError> {
        if self.interfaces.is_empty() {
            return Err(err(
                "--iface",
                "no interface given. Fix: --iface IF=ADDR/PREFIX (repeatable), or \
                 [[interface]] tables in the --config file",
            ));
        }
        for (i, a) in self.interfaces.iter().enumerate() {
            if self.interfaces[..i].iter().any(|b| b.name == a.name) {
                return Err(err(
                    "--iface",
                    format!(
                        "interface {} is given twice. Fix: give each interface once, with \
                         all its addresses comma-separated ({}=A/P,B/Q)",
                        a.name, a.name
                    ),
                ));
            }
        }
        if self.workers == Some(0) {
            return Err(err("--workers", "0 workers. Fix: --workers 1 or more"));
        }
        if let Some(w) = self.workers {
            if w > 1024 {
                return Err(err("--workers", format!("{w} workers is more than 1024")));
            }
        }
        if matches!(&self.cores, Some(c) if c.is_empty()) {
            return Err(err("--cores", "empty core list. Fix: e.g. --cores 0,2-3"));
        }
        if matches!(&self.queues, Some(QueueSelection::List(l)) if l.is_empty()) {
            return Err(err(
                "--queues",
                "empty queue list. Fix: e.g. --queues 0-3 or all",
            ));
        }
        let interval = self.interval.unwrap_or(1.0);
        if !interval.is_finite() || !(0.0..=3600.0).contains(&interval) {
            return Err(err(
                "--interval",
                format!(
                    "{interval} is out of range. Fix: seconds between 0 (no stats lines) and 3600"
                ),
            ));
        }
        if let Some(d) = self.duration {
            if !d.is_finite() || d <= 0.0 {
                return Err(err(
                    "--duration",
                    format!("{d} is out of range. Fix: a positive number of seconds (omit it to run until Ctrl-C)"),
                ));
            }
        }
        let xdp_mode = self.xdp_mode.unwrap_or_default();
        let copy_mode = self.copy_mode.unwrap_or_default();
        if xdp_mode == XdpMode::Generic && copy_mode == CopyMode::ZeroCopy {
            return Err(err(
                "--copy-mode",
                "zero-copy needs native XDP; generic (skb) mode always copies. Fix: \
                 --xdp-mode native, or --copy-mode auto/copy",
            ));
        }
        for (i, n) in self.neighbors.iter().enumerate() {
            if self.neighbors[..i]
                .iter()
                .any(|m| m.addr == n.addr && m.dev == n.dev)
            {
                return Err(err(
                    "--neighbor",
                    format!(
                        "{} on {} is given twice. Fix: give each neighbor once",
                        n.addr, n.dev
                    ),
                ));
            }
        }
        let cfg = RouterConfig {
            interfaces: self.interfaces,
            routes: self.routes,
            neighbors: self.neighbors,
            workers: self.workers,
            cores: self.cores,
            queues: self.queues.unwrap_or_default(),
            xdp_mode,
            copy_mode,
            busy_poll: self.busy_poll.unwrap_or(false),
            interval,
            duration: self.duration,
            json: self.json.unwrap_or(false),
        };
        cfg.stack_routes()?;
        cfg.stack_neighbors()?;
        Ok(cfg)
    }
}

/// The effective, validated router configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterConfig {
    /// Interfaces, in order (`NicId(i)` = interface `i` on every shard).
    pub interfaces: Vec<InterfaceSpec>,
    /// Static routes.
    pub routes: Vec<RouteSpec>,
    /// Static neighbors.
    pub neighbors: Vec<NeighborSpec>,
    /// Worker count, if fixed.
    pub workers: Option<usize>,
    /// Cores to pin workers to, if given.
    pub cores: Option<Vec<usize>>,
    /// Rx queues to serve.
    pub queues: QueueSelection,
    /// XDP attach mode asked for.
    pub xdp_mode: XdpMode,
    /// AF_XDP copy mode asked for.
    pub copy_mode: CopyMode,
    /// Spin instead of sleeping when idle.
    pub busy_poll: bool,
    /// Seconds between stats lines (0: none).
    pub interval: f64,
    /// Stop after this many seconds.
    pub duration: Option<f64>,
    /// Print the summary as JSON.
    pub json: bool,
}

impl RouterConfig {
    /// The routes as stack routes (gateways resolved to interfaces).
    pub fn stack_routes(&self) -> Result<Vec<Route>, ConfigError> {
        self.routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.resolve(&self.interfaces)
                    .map_err(|e| err(format!("route {} (`{r}`)", i + 1), e))
            })
            .collect()
    }

    /// The static neighbors as (interface, address, MAC).
    pub fn stack_neighbors(&self) -> Result<Vec<(NicId, IpAddr, EthernetAddress)>, ConfigError> {
        self.neighbors
            .iter()
            .enumerate()
            .map(|(i, n)| {
                n.resolve(&self.interfaces)
                    .map(|nic| (nic, n.addr, n.mac))
                    .map_err(|e| err(format!("neighbor {} (`{n}`)", i + 1), e))
            })
            .collect()
    }

    /// The configuration in the config-file syntax (parses back to itself).
    pub fn to_toml(&self) -> String {
        use std::fmt::Write;
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut o = String::new();
        let routes: Vec<String> = self.routes.iter().map(|r| q(&r.to_string())).collect();
        let _ = writeln!(o, "routes = [{}]", routes.join(", "));
        if !self.neighbors.is_empty() {
            let n: Vec<String> = self.neighbors.iter().map(|n| q(&n.to_string())).collect();
            let _ = writeln!(o, "neighbors = [{}]", n.join(", "));
        }
        if let Some(w) = self.workers {
            let _ = writeln!(o, "workers = {w}");
        }
        if let Some(c) = &self.cores {
            let c: Vec<String> = c.iter().map(|c| c.to_string()).collect();
            let _ = writeln!(o, "cores = [{}]", c.join(", "));
        }
        let _ = writeln!(o, "queues = {}", q(&self.queues.to_string()));
        let _ = writeln!(o, "xdp_mode = {}", q(self.xdp_mode.as_str()));
        let _ = writeln!(o, "copy_mode = {}", q(self.copy_mode.as_str()));
        let _ = writeln!(o, "busy_poll = {}", self.busy_poll);
        let _ = writeln!(o, "interval = {:?}", self.interval);
        if let Some(d) = self.duration {
            let _ = writeln!(o, "duration = {d:?}");
        }
        let _ = writeln!(o, "json = {}", self.json);
        for i in &self.interfaces {
            let addrs: Vec<String> = i.addresses.iter().map(|a| q(&a.to_string())).collect();
            let _ = writeln!(
                o,
                "\n[[interface]]\nname = {}\naddresses = [{}]",
                q(&i.name),
                addrs.join(", ")
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::NextHop;

    #[test]
    fn interface_specs() {
        let s: InterfaceSpec = "veth0=198.18.0.1/24, 2001:2::1/64".parse().unwrap();
        assert_eq!(s.name, "veth0");
        assert_eq!(s.addresses.len(), 2);
        assert_eq!(s.to_string(), "veth0=198.18.0.1/24,2001:2::1/64");
        for (bad, needle) in [
            ("veth0", "lacks `=`"),
            ("=198.18.0.1/24", "name is empty"),
            ("veth0=", "no address"),
            ("veth0=198.18.0.1", "198.18.0.1/24"),
            ("veth0=2001:2::1", "2001:2::1/64"),
            ("veth0=bogus/24", "not an address"),
            (
                "averyveryverylongname=198.18.0.1/24",
                "not a valid interface name",
            ),
        ] {
            let e = bad.parse::<InterfaceSpec>().unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn route_specs() {
        let r: RouteSpec = "198.19.0.0/16 via 198.18.0.2".parse().unwrap();
        assert_eq!(
            r.target,
            RouteTarget::Via {
                gateway: "198.18.0.2".parse().unwrap(),
                dev: None
            }
        );
        let r: RouteSpec = "default via 2001:2::2 dev veth1 metric 5".parse().unwrap();
        assert_eq!(r.prefix, "::/0".parse::<IpNet>().unwrap());
        assert_eq!(r.metric, 5);
        assert_eq!(r.to_string(), "default via 2001:2::2 dev veth1 metric 5");
        let r: RouteSpec = "198.19.1.7/16 blackhole".parse().unwrap();
        assert_eq!(r.prefix.to_string(), "198.19.0.0/16");
        assert_eq!(r.target, RouteTarget::Blackhole);
        let r2: RouteSpec = "blackhole 198.19.0.0/16".parse().unwrap();
        assert_eq!(r, r2);
        let r: RouteSpec = "2001:2:0:ff::/64 unreachable".parse().unwrap();
        assert_eq!(r.target, RouteTarget::Unreachable);
        let r: RouteSpec = "198.19.0.9 via 198.18.0.2".parse().unwrap();
        assert_eq!(r.prefix.to_string(), "198.19.0.9/32");
        for (bad, needle) in [
            ("", "empty route"),
            ("198.19.0.0/16", "says nowhere to go"),
            ("198.19.0.0/16 via", "needs a value"),
            ("198.19.0.0/16 via nowhere", "not an IP address"),
            ("198.19.0.0/16 via 2001:2::1", "mixes address families"),
            ("default blackhole", "ambiguous"),
            ("198.19.0.0/16 blackhole dev veth0", "only goes with `via`"),
            ("198.19.0.0/16 via 198.18.0.2 metric x", "not a number"),
            ("198.19.0.0/16 via 198.18.0.2 onlink", "unexpected `onlink`"),
            ("nonsense via 198.18.0.2", "not a prefix"),
        ] {
            let e = bad.parse::<RouteSpec>().unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn routes_resolve_to_interfaces() {
        let ifs: Vec<InterfaceSpec> = vec![
            "a=198.18.0.1/24".parse().unwrap(),
            "b=198.18.1.1/24,2001:2:0:1::1/64".parse().unwrap(),
        ];
        let r: RouteSpec = "default via 198.18.1.2".parse().unwrap();
        assert_eq!(
            r.resolve(&ifs).unwrap().next_hop,
            NextHop::Gateway {
                nic: NicId(1),
                gateway: "198.18.1.2".parse().unwrap()
            }
        );
        let r: RouteSpec = "198.19.0.0/16 via 198.19.9.9 dev a".parse().unwrap();
        assert_eq!(r.resolve(&ifs).unwrap().next_hop.nic(), Some(NicId(0)));
        let e = "198.19.0.0/16 via 198.19.9.9"
            .parse::<RouteSpec>()
            .unwrap()
            .resolve(&ifs)
            .unwrap_err();
        assert!(e.contains("on none of the router's subnets"), "{e}");
        let e = "198.19.0.0/16 via 198.19.9.9 dev zz"
            .parse::<RouteSpec>()
            .unwrap()
            .resolve(&ifs)
            .unwrap_err();
        assert!(e.contains("--iface zz="), "{e}");
    }

    #[test]
    fn neighbor_syntax_and_its_errors() {
        let n: NeighborSpec = "198.18.1.2 lladdr 02:00:00:00:00:02 dev veth1 nud permanent"
            .parse()
            .unwrap();
        assert_eq!(
            n.to_string(),
            "198.18.1.2 lladdr 02:00:00:00:00:02 dev veth1"
        );
        assert_eq!(n.to_string().parse::<NeighborSpec>().unwrap(), n);
        for (bad, needle) in [
            (
                "198.18.1.2 02:00:00:00:00:02 dev veth1",
                "ADDR lladdr MAC dev IF",
            ),
            (
                "198.18.1.2 lladdr 02:00:00:00:00:02",
                "ADDR lladdr MAC dev IF",
            ),
            (
                "host lladdr 02:00:00:00:00:02 dev v",
                "`host` is not an IP address",
            ),
            (
                "198.18.1.2 lladdr 02:00:00:00:02 dev v",
                "not a MAC address",
            ),
            (
                "198.18.1.2 lladdr ff:ff:ff:ff:ff:ff dev v",
                "multicast or broadcast MAC",
            ),
            (
                "224.0.0.1 lladdr 02:00:00:00:00:02 dev v",
                "not a unicast address",
            ),
        ] {
            let e = bad.parse::<NeighborSpec>().unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
        let base = || RouterOptions {
            interfaces: vec!["veth0=198.18.0.1/24".parse().unwrap()],
            ..RouterOptions::default()
        };
        let e = RouterOptions {
            neighbors: vec!["198.18.0.2 lladdr 02:00:00:00:00:02 dev veth9"
                .parse()
                .unwrap()],
            ..base()
        }
        .finish()
        .unwrap_err();
        assert!(e.to_string().contains("--iface veth9="), "{e}");
        let twice: NeighborSpec = "198.18.0.2 lladdr 02:00:00:00:00:02 dev veth0"
            .parse()
            .unwrap();
        let e = RouterOptions {
            neighbors: vec![twice.clone(), twice],
            ..base()
        }
        .finish()
        .unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
    }

    #[test]
    fn toml_file_and_overlay() {
        let text = r#"
routes = ["198.19.0.0/16 via 198.18.0.2"]
neighbors = ["198.18.0.2 lladdr 02:00:00:00:00:02 dev veth0", "2001:2::2 lladdr 2-0-0-0-0-3 dev veth0"]
workers = 2
cores = "0-1"
xdp_mode = "generic"
interval = 0.5

[[interface]]
name = "veth0"
addresses = ["198.18.0.1/24", "2001:2::1/64"]
"#;
        let file = RouterOptions::from_toml(text, "r.toml").unwrap();
        let cli = RouterOptions {
            workers: Some(1),
            json: Some(true),
            ..RouterOptions::default()
        };
        let c = file.overlay(cli).finish().unwrap();
        assert_eq!(c.workers, Some(1));
        assert_eq!(c.cores, Some(vec![0, 1]));
        assert_eq!(c.xdp_mode, XdpMode::Generic);
        assert!(c.json);
        assert_eq!(c.interval, 0.5);
        assert_eq!(
            c.stack_neighbors().unwrap(),
            vec![
                (
                    NicId(0),
                    "198.18.0.2".parse().unwrap(),
                    EthernetAddress([2, 0, 0, 0, 0, 2])
                ),
                (
                    NicId(0),
                    "2001:2::2".parse().unwrap(),
                    EthernetAddress([2, 0, 0, 0, 0, 3])
                ),
            ]
        );
        // The printed form parses back to the same configuration.
        let again = RouterOptions::from_toml(&c.to_toml(), "printed")
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn toml_errors_name_the_field() {
        let e = RouterOptions::from_toml("worker = 2\n", "r.toml").unwrap_err();
        assert!(e.to_string().contains("unknown field `worker`"), "{e}");
        let e = RouterOptions::from_toml(
            "[[interface]]\nname = \"v\"\naddresses = [\"198.18.0.1\"]\n",
            "r.toml",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("r.toml: interface[0] (v)"), "{e}");
        assert!(e.to_string().contains("198.18.0.1/24"), "{e}");
        let e = RouterOptions::from_toml("routes = [\"x\"]\n", "r.toml").unwrap_err();
        assert!(e.to_string().starts_with("r.toml: routes[0]"), "{e}");
        let e = RouterOptions::from_toml("copy_mode = \"fast\"\n", "r.toml").unwrap_err();
        assert!(e.to_string().contains("auto, copy or zero-copy"), "{e}");
        let e = RouterOptions::from_toml("cores = \"3-1\"\n", "r.toml").unwrap_err();
        assert!(e.to_string().contains("r.toml: cores"), "{e}");
    }

    #[test]
    fn validation() {
        let base = || RouterOptions {
            interfaces: vec!["veth0=198.18.0.1/24".parse().unwrap()],
            ..RouterOptions::default()
        };
        assert!(RouterOptions::default()
            .finish()
            .unwrap_err()
            .to_string()
            .contains("--iface IF=ADDR/PREFIX"));
        let mut o = base();
        o.interfaces.push("veth0=198.18.1.1/24".parse().unwrap());
        assert!(o.finish().unwrap_err().to_string().contains("given twice"));
        let o = RouterOptions {
            xdp_mode: Some(XdpMode::Generic),
            copy_mode: Some(CopyMode::ZeroCopy),
            ..base()
        };
        assert!(o
            .finish()
            .unwrap_err()
            .to_string()
            .contains("zero-copy needs native"));
        let o = RouterOptions {
            interval: Some(-1.0),
            ..base()
        };
        assert!(o.finish().unwrap_err().field == "--interval");
        let o = RouterOptions {
            routes: vec!["default via 198.19.0.1".parse().unwrap()],
            ..base()
        };
        let e = o.finish().unwrap_err();
        assert!(
            e.to_string().contains("on none of the router's subnets"),
            "{e}"
        );
        let c = base().finish().unwrap();
        assert_eq!(c.queues, QueueSelection::All);
        assert_eq!((c.xdp_mode, c.copy_mode), (XdpMode::Auto, CopyMode::Auto));
        assert_eq!(c.interval, 1.0);
    }

    #[test]
    fn queue_selection() {
        assert_eq!(
            "all".parse::<QueueSelection>().unwrap(),
            QueueSelection::All
        );
        assert_eq!(
            "0-2,5".parse::<QueueSelection>().unwrap(),
            QueueSelection::List(vec![0, 1, 2, 5])
        );
        assert_eq!(
            "0-2,5".parse::<QueueSelection>().unwrap().to_string(),
            "0-2,5"
        );
        assert!("1,1".parse::<QueueSelection>().is_err());
    }
}
