//! What the runtime needs to know about the host before it starts:
//! privileges, interfaces (existence, state, driver, MTU, rx/tx channel
//! counts), the kernel, AF_XDP support and usable cores.
//!
//! Everything is read from `/proc` and `/sys` or through safe `nix`
//! wrappers: the crate has no `unsafe` outside `src/xsk/`, so the channel
//! count comes from `/sys/class/net/IF/queues/rx-*` (what the kernel
//! exposes as `real_num_rx_queues`, the same number `ethtool -l` reports as
//! usable channels) instead of an `ETHTOOL_GCHANNELS` ioctl.
//!
//! Namespaces: interface names are resolved with `if_nametoindex` in the
//! calling thread's network namespace; sysfs shows the namespace it was
//! mounted in (`ip netns exec` remounts it). A sysfs entry is trusted only
//! when its `ifindex` matches, otherwise the sysfs-derived facts are
//! `None` ("unknown") and checks based on them are skipped, never guessed.
//!
//! The [`HostError`] variants are the setup failures users hit most; each
//! renders as the cause and the fix.

use core::fmt;
use std::fs;
use std::path::PathBuf;

/// `XDP_PACKET_HEADROOM`: the kernel reserves this much in front of every
/// frame in an AF_XDP UMEM chunk (and in native XDP buffers).
pub const XDP_PACKET_HEADROOM: usize = 256;

/// Link-layer bytes a frame carries beyond the MTU: Ethernet header plus
/// one VLAN tag (no FCS: the NIC strips it).
pub const L2_OVERHEAD: usize = 18;

/// Default AF_XDP frame (UMEM chunk) size: one page, like xdp-bench.
pub const DEFAULT_FRAME_SIZE: usize = 4096;

/// The largest MTU whose frames fit a UMEM chunk of `frame_size` bytes with
/// `headroom` bytes of UMEM headroom (single-buffer AF_XDP).
pub fn max_mtu_for_frame(frame_size: usize, headroom: usize) -> usize {
    frame_size.saturating_sub(XDP_PACKET_HEADROOM + headroom + L2_OVERHEAD)
}

const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const CAP_IPC_LOCK: u32 = 14;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// The privileges of the calling thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privileges {
    /// Effective uid 0.
    pub root: bool,
    /// Effective capability set, if `/proc/thread-self/status` was readable.
    pub effective: Option<u64>,
}

impl Privileges {
    /// Read the calling thread's privileges.
    pub fn current() -> Privileges {
        let effective = fs::read_to_string("/proc/thread-self/status")
            .ok()
            .and_then(|s| {
                let hex = s
                    .lines()
                    .find_map(|l| l.strip_prefix("CapEff:"))?
                    .trim()
                    .to_string();
                u64::from_str_radix(&hex, 16).ok()
            });
        Privileges {
            root: nix::unistd::geteuid().is_root(),
            effective,
        }
    }

    fn has(&self, cap: u32) -> bool {
        self.effective.is_none_or(|c| c & (1u64 << cap) != 0)
    }

    /// Capabilities missing for the dataplane: CAP_NET_ADMIN (attach XDP,
    /// bind AF_XDP), CAP_BPF or CAP_SYS_ADMIN (load the program),
    /// CAP_NET_RAW (AF_XDP sockets). Empty when all are present or the set
    /// could not be read (the kernel then decides).
    pub fn missing(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if !self.has(CAP_BPF) && !self.has(CAP_SYS_ADMIN) {
            m.push("CAP_BPF");
        }
        if !self.has(CAP_NET_ADMIN) {
            m.push("CAP_NET_ADMIN");
        }
        if !self.has(CAP_NET_RAW) {
            m.push("CAP_NET_RAW");
        }
        m
    }

    /// Whether CAP_IPC_LOCK is held (UMEM is then not charged to
    /// RLIMIT_MEMLOCK).
    pub fn has_ipc_lock(&self) -> bool {
        self.has(CAP_IPC_LOCK)
    }

    /// `Err` with the cause and fix when something is missing.
    pub fn check(&self) -> Result<(), HostError> {
        let missing = self.missing();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(HostError::NotPrivileged {
                root: self.root,
                missing,
            })
        }
    }
}

/// Facts about one network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Name.
    pub name: String,
    /// Index in the calling thread's network namespace.
    pub index: u32,
    /// MTU, if sysfs shows this interface.
    pub mtu: Option<usize>,
    /// `operstate` (`up`, `down`, `unknown`, `lowerlayerdown`, …), if known.
    pub operstate: Option<String>,
    /// Administratively up (IFF_UP in `flags`), if known.
    pub admin_up: Option<bool>,
    /// Driver name: the device's driver, or the link kind for virtual
    /// interfaces without a device (`veth` …), if known.
    pub driver: Option<String>,
    /// Number of rx queues (channels), if known.
    pub rx_queues: Option<u32>,
    /// Number of tx queues, if known.
    pub tx_queues: Option<u32>,
}

impl InterfaceInfo {
    /// Look an interface up by name.
    pub fn lookup(name: &str) -> Result<InterfaceInfo, HostError> {
        let missing = || HostError::NoSuchInterface {
            name: name.to_string(),
        };
        if name.is_empty() || name.len() >= 16 || name.contains(['/', '\0', ' ']) {
            return Err(missing());
        }
        let index = nix::net::if_::if_nametoindex(name).map_err(|_| missing())?;
        let dir = PathBuf::from("/sys/class/net").join(name);
        let sysfs = fs::read_to_string(dir.join("ifindex"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .filter(|i| *i == index)
            .map(|_| dir);
        let read = |f: &str| -> Option<String> {
            let d = sysfs.as_ref()?;
            fs::read_to_string(d.join(f))
                .ok()
                .map(|s| s.trim().to_string())
        };
        let count = |prefix: &str| -> Option<u32> {
            let d = sysfs.as_ref()?;
            let n = fs::read_dir(d.join("queues"))
                .ok()?
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .count();
            u32::try_from(n).ok()
        };
        let driver = sysfs.as_ref().and_then(|d| {
            fs::read_link(d.join("device/driver"))
                .ok()
                .and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()))
                .or_else(|| {
                    // Virtual devices: the DEVTYPE in uevent (veth has none),
                    // else the name of the rtnl link kind, which sysfs does
                    // not show; fall back on what we can tell.
                    let ue = fs::read_to_string(d.join("uevent")).ok()?;
                    ue.lines()
                        .find_map(|l| l.strip_prefix("DEVTYPE="))
                        .map(str::to_string)
                })
        });
        let flags =
            read("flags").and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok());
        Ok(InterfaceInfo {
            name: name.to_string(),
            index,
            mtu: read("mtu").and_then(|m| m.parse().ok()),
            operstate: read("operstate"),
            admin_up: flags.map(|f| f & 1 != 0),
            driver,
            rx_queues: count("rx-"),
            tx_queues: count("tx-"),
        })
    }

    /// Whether the interface can carry traffic: administratively up and
    /// not `down`/`lowerlayerdown` (`unknown` counts as up: many virtual
    /// devices report it). `None` when unknown.
    pub fn is_up(&self) -> Option<bool> {
        let admin = self.admin_up?;
        let oper = self.operstate.as_deref().unwrap_or("unknown");
        Some(admin && !matches!(oper, "down" | "lowerlayerdown" | "notpresent"))
    }

    /// Check that every queue in `queues` exists.
    pub fn check_queues(&self, queues: &[u32]) -> Result<(), HostError> {
        let Some(n) = self.rx_queues else {
            return Ok(());
        };
        match queues.iter().find(|&&q| q >= n) {
            Some(&q) => Err(HostError::QueueOutOfRange {
                ifname: self.name.clone(),
                queue: q,
                channels: n,
            }),
            None => Ok(()),
        }
    }

    /// Check that the MTU fits a frame of `frame_size` bytes.
    pub fn check_mtu(&self, frame_size: usize) -> Result<(), HostError> {
        let Some(mtu) = self.mtu else {
            return Ok(());
        };
        let max = max_mtu_for_frame(frame_size, 0);
        if mtu > max {
            return Err(HostError::MtuTooLarge {
                ifname: self.name.clone(),
                mtu,
                frame_size,
                max,
            });
        }
        Ok(())
    }

    /// Check that the interface is up.
    pub fn check_up(&self) -> Result<(), HostError> {
        match self.is_up() {
            Some(false) => Err(HostError::InterfaceDown {
                ifname: self.name.clone(),
                operstate: self.operstate.clone().unwrap_or_default(),
            }),
            _ => Ok(()),
        }
    }
}

/// The running kernel's release string and `(major, minor)`.
pub fn kernel_version() -> Option<(String, (u32, u32))> {
    let u = nix::sys::utsname::uname().ok()?;
    let release = u.release().to_string_lossy().into_owned();
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().ok());
    let major = it.next()??;
    let minor = it.next()??;
    Some((release, (major, minor)))
}

/// Whether the AF_XDP address family is registered in this kernel (the
/// `XDP` protocol in `/proc/net/protocols`; it is there exactly when
/// CONFIG_XDP_SOCKETS is built in or loaded). `None` when unreadable.
pub fn af_xdp_registered() -> Option<bool> {
    let p = fs::read_to_string("/proc/net/protocols").ok()?;
    Some(
        p.lines()
            .any(|l| l.split_whitespace().next() == Some("XDP")),
    )
}

/// Whether a BPF filesystem is mounted somewhere (only needed for pinning,
/// which xdpnet does not do). `None` when `/proc/mounts` is unreadable.
pub fn bpffs_mounted() -> Option<bool> {
    let m = fs::read_to_string("/proc/mounts").ok()?;
    Some(
        m.lines()
            .any(|l| l.split_whitespace().nth(2) == Some("bpf")),
    )
}

/// The cores this process may run on (its affinity mask), in order; empty
/// when unknown.
pub fn usable_cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default()
}

/// A setup problem, rendered as the cause and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// Missing root or capabilities.
    NotPrivileged {
        /// Whether the process is root (root without the capabilities: a
        /// container or a capability bounding set).
        root: bool,
        /// Missing capabilities.
        missing: Vec<&'static str>,
    },
    /// No interface of that name in this network namespace.
    NoSuchInterface {
        /// The name.
        name: String,
    },
    /// The interface is down.
    InterfaceDown {
        /// The interface.
        ifname: String,
        /// Its operstate.
        operstate: String,
    },
    /// A queue id beyond the interface's channel count.
    QueueOutOfRange {
        /// The interface.
        ifname: String,
        /// The queue asked for.
        queue: u32,
        /// Its rx channel count.
        channels: u32,
    },
    /// The MTU is larger than an AF_XDP frame can hold.
    MtuTooLarge {
        /// The interface.
        ifname: String,
        /// Its MTU.
        mtu: usize,
        /// The frame size.
        frame_size: usize,
        /// The largest MTU that fits.
        max: usize,
    },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPrivileged { root, missing } => {
                if *root {
                    write!(
                        f,
                        "running as root but without {} (a container or a capability \
                         bounding set removed them). Fix: run the container privileged or \
                         add the capabilities (`--cap-add NET_ADMIN --cap-add BPF --cap-add \
                         NET_RAW`; systemd: `AmbientCapabilities=CAP_BPF CAP_NET_ADMIN \
                         CAP_NET_RAW CAP_IPC_LOCK`)",
                        missing.join(", ")
                    )
                } else {
                    write!(
                        f,
                        "this needs root or the capabilities {} (loading the XDP program, \
                         attaching it and binding AF_XDP sockets). Fix: run with sudo, or \
                         `sudo setcap cap_bpf,cap_net_admin,cap_net_raw,cap_ipc_lock+ep \
                         $(command -v xdpnet)`",
                        missing.join(", ")
                    )
                }
            }
            Self::NoSuchInterface { name } => write!(
                f,
                "no network interface `{name}` in this network namespace. Fix: check the \
                 name with `ip link show`; an interface in another namespace is reached \
                 with `ip netns exec NS xdpnet …`"
            ),
            Self::InterfaceDown { ifname, operstate } => write!(
                f,
                "interface {ifname} is down (operstate `{operstate}`): it would receive \
                 nothing. Fix: `ip link set dev {ifname} up` (and check the cable / peer)"
            ),
            Self::QueueOutOfRange {
                ifname,
                queue,
                channels,
            } => write!(
                f,
                "{ifname} has {channels} rx queue{} ({}); requested queue {queue} does not \
                 exist (an AF_XDP bind would fail with EINVAL). Fix: use --queues {}, or add \
                 channels: `ethtool -L {ifname} combined {}` (veth: recreate it with \
                 `numrxqueues {} numtxqueues {}`)",
                if *channels == 1 { "" } else { "s" },
                if *channels == 1 {
                    "queue 0".to_string()
                } else {
                    format!("queues 0-{}", channels.saturating_sub(1))
                },
                if *channels <= 1 {
                    "0".to_string()
                } else {
                    format!("0-{}", channels - 1)
                },
                queue + 1,
                queue + 1,
                queue + 1,
            ),
            Self::MtuTooLarge {
                ifname,
                mtu,
                frame_size,
                max,
            } => write!(
                f,
                "{ifname} has MTU {mtu}, but a {frame_size}-byte AF_XDP frame holds at most \
                 MTU {max} ({XDP_PACKET_HEADROOM} bytes of XDP headroom and {L2_OVERHEAD} of \
                 Ethernet+VLAN header; single-buffer XDP cannot split a frame). Fix: `ip \
                 link set dev {ifname} mtu {}` (and on its peer/switch)",
                (*max).min(1500)
            ),
        }
    }
}

impl std::error::Error for HostError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_budget() {
        assert_eq!(max_mtu_for_frame(4096, 0), 3822);
        assert_eq!(max_mtu_for_frame(2048, 0), 1774);
        assert_eq!(max_mtu_for_frame(100, 0), 0);
    }

    #[test]
    fn loopback_is_found_and_unknown_names_are_not() {
        let lo = InterfaceInfo::lookup("lo").unwrap();
        assert!(lo.index > 0);
        for bad in ["", "xdpnet-none0", "a/b", "waytoolonginterfacename"] {
            assert_eq!(
                InterfaceInfo::lookup(bad).unwrap_err(),
                HostError::NoSuchInterface { name: bad.into() }
            );
        }
    }

    #[test]
    fn checks_explain_the_fix() {
        let info = InterfaceInfo {
            name: "veth0".into(),
            index: 3,
            mtu: Some(9000),
            operstate: Some("down".into()),
            admin_up: Some(false),
            driver: None,
            rx_queues: Some(2),
            tx_queues: Some(2),
        };
        let e = info.check_queues(&[0, 1, 2]).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("veth0 has 2 rx queues (queues 0-1)"), "{s}");
        assert!(s.contains("requested queue 2"), "{s}");
        assert!(s.contains("ethtool -L veth0 combined 3"), "{s}");
        assert!(info.check_queues(&[0, 1]).is_ok());
        let s = info.check_mtu(4096).unwrap_err().to_string();
        assert!(s.contains("MTU 9000") && s.contains("mtu 1500"), "{s}");
        let s = info.check_up().unwrap_err().to_string();
        assert!(s.contains("ip link set dev veth0 up"), "{s}");
        let unknown = InterfaceInfo {
            mtu: None,
            rx_queues: None,
            admin_up: None,
            ..info
        };
        assert!(unknown.check_queues(&[7]).is_ok());
        assert!(unknown.check_mtu(2048).is_ok());
        assert!(unknown.check_up().is_ok());
    }

    #[test]
    fn privileges_name_what_is_missing() {
        let p = Privileges {
            root: false,
            effective: Some(0),
        };
        assert_eq!(p.missing(), vec!["CAP_BPF", "CAP_NET_ADMIN", "CAP_NET_RAW"]);
        let s = p.check().unwrap_err().to_string();
        assert!(s.contains("setcap") && s.contains("CAP_NET_ADMIN"), "{s}");
        let all = Privileges {
            root: true,
            effective: Some(u64::MAX),
        };
        assert!(all.check().is_ok());
        // Unknown set: the kernel decides.
        assert!(Privileges {
            root: false,
            effective: None
        }
        .check()
        .is_ok());
    }

    #[test]
    fn kernel_version_parses() {
        let (release, (major, _)) = kernel_version().unwrap();
        assert!(!release.is_empty());
        assert!(major >= 3);
    }
}
