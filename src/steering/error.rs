//! [`SteeringError`]: every way loading, attaching or configuring the
//! steering program can fail, each rendered as the cause *and* the fix.
//!
//! The kernel reports most failures as a bare errno; the variants here turn
//! the errno plus what we know (capabilities, interface, the kernel's extack
//! text) into a sentence a user can act on (DESIGN.md principle 7).

use std::fmt;

use super::attach::{ExistingProgram, XdpMode};

/// Why an operation on the steering program failed. `Display` names the
/// cause and the fix; nothing here is a bare errno.
#[derive(Debug)]
#[non_exhaustive]
pub enum SteeringError {
    /// The process lacks capabilities the kernel requires.
    PermissionDenied {
        /// What was attempted ("load the XDP program", "attach XDP", ...).
        operation: &'static str,
        /// The missing capabilities, e.g. `["CAP_BPF", "CAP_NET_ADMIN"]`.
        missing: Vec<&'static str>,
    },
    /// The kernel refused to allocate BPF memory although the process holds
    /// the needed capabilities (RLIMIT_MEMLOCK on kernels before 5.11, or a
    /// sysctl/LSM policy).
    Memlock {
        /// The kernel/libbpf error.
        cause: String,
        /// `RLIMIT_MEMLOCK` soft and hard limits in bytes (`None` = unlimited
        /// or unknown).
        limits: (Option<u64>, Option<u64>),
    },
    /// Opening or verifying the BPF object failed.
    Load {
        /// The kernel/libbpf error.
        cause: String,
        /// The tail of libbpf's log (verifier output) for the failed load.
        log: Vec<String>,
    },
    /// No interface of that name or index exists in this network namespace.
    NoSuchInterface {
        /// The name or `#index` asked for.
        name: String,
    },
    /// Some XDP program already sits on the interface in the way.
    AlreadyAttached {
        /// The interface.
        ifname: String,
        /// What is attached and how to remove it.
        existing: ExistingProgram,
    },
    /// This [`SteeringProgram`](super::SteeringProgram) is already attached
    /// (one program instance serves one interface).
    InUse {
        /// The interface it is attached to.
        ifname: String,
    },
    /// The interface's MTU is larger than XDP supports on this driver
    /// (single-buffer XDP needs a frame to fit in one page).
    MtuTooLarge {
        /// The interface.
        ifname: String,
        /// Its MTU, when it could be read.
        mtu: Option<u32>,
        /// The kernel's explanation (netlink extack), when available.
        extack: Option<String>,
    },
    /// The driver cannot run XDP in native (driver) mode.
    NativeUnsupported {
        /// The interface.
        ifname: String,
        /// The driver name, when it could be read.
        driver: Option<String>,
        /// The kernel's explanation (netlink extack), when available.
        extack: Option<String>,
    },
    /// Attaching failed for another reason.
    Attach {
        /// The interface.
        ifname: String,
        /// The mode that was tried.
        mode: XdpMode,
        /// The kernel/libbpf error.
        cause: String,
        /// The kernel's explanation (netlink extack), when available.
        extack: Option<String>,
    },
    /// Detaching failed; the program may still be attached.
    Detach {
        /// The interface.
        ifname: String,
        /// The kernel/libbpf error.
        cause: String,
        /// The command that removes it by hand.
        cleanup: String,
    },
    /// The rx queue index does not fit in the XSKMAP.
    QueueOutOfRange {
        /// The queue asked for.
        queue: u32,
        /// The XSKMAP size ([`SteeringOptions::max_queues`](super::SteeringOptions::max_queues)).
        max_queues: u32,
    },
    /// A BPF map operation failed.
    Map {
        /// The map (`steer_xsks`, `steer_own_v4`, ...).
        map: &'static str,
        /// What was attempted.
        operation: String,
        /// The kernel/libbpf error.
        cause: String,
        /// What to do about it.
        fix: String,
    },
    /// An argument is out of its documented range.
    InvalidArgument {
        /// What is wrong.
        what: String,
        /// The accepted range or values.
        fix: String,
    },
    /// `BPF_PROG_TEST_RUN` failed.
    TestRun {
        /// The kernel/libbpf error.
        cause: String,
    },
}

const CAPS_FIX: &str = "run as root (sudo), or grant the capabilities to the binary: \
     `setcap cap_bpf,cap_net_admin,cap_net_raw,cap_ipc_lock+ep /path/to/xdpnet` \
     (systemd: `AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK`)";

fn fmt_limit(l: Option<u64>) -> String {
    l.map_or_else(|| "unlimited".to_string(), |b| format!("{} KiB", b / 1024))
}

fn fmt_extack(f: &mut fmt::Formatter<'_>, extack: &Option<String>) -> fmt::Result {
    match extack {
        Some(msg) => write!(f, " (kernel: \"{msg}\")"),
        None => Ok(()),
    }
}

impl fmt::Display for SteeringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PermissionDenied { operation, missing } => write!(
                f,
                "cannot {operation}: the process lacks {}. Fix: {CAPS_FIX}",
                missing.join(" and ")
            ),
            Self::Memlock { cause, limits } => write!(
                f,
                "the kernel refused memory for the BPF maps/program ({cause}) although the \
                 process has CAP_BPF and CAP_NET_ADMIN; locked-memory limit is soft {}, \
                 hard {}. Fix: `ulimit -l unlimited` (systemd: `LimitMEMLOCK=infinity`), \
                 grant CAP_IPC_LOCK, and check `sysctl kernel.unprivileged_bpf_disabled` \
                 and LSM (SELinux/AppArmor) policy",
                fmt_limit(limits.0),
                fmt_limit(limits.1)
            ),
            Self::Load { cause, log } => {
                write!(
                    f,
                    "loading the XDP steering program failed: {cause}. Fix: this kernel \
                     needs BPF, BTF and XDP support (CONFIG_BPF_SYSCALL, \
                     CONFIG_DEBUG_INFO_BTF, CONFIG_XDP_SOCKETS; check with `xdpnet doctor`)"
                )?;
                if !log.is_empty() {
                    write!(f, "; libbpf/verifier log:\n{}", log.join(""))?;
                }
                Ok(())
            }
            Self::NoSuchInterface { name } => write!(
                f,
                "no network interface `{name}` in this network namespace. Fix: check the \
                 name with `ip link show`; an interface inside a namespace is reached with \
                 `ip netns exec NS xdpnet …`"
            ),
            Self::AlreadyAttached { ifname, existing } => {
                write!(
                    f,
                    "an XDP program is already attached to {ifname}: {existing}. Fix: "
                )?;
                match existing.link_id {
                    Some(link) => write!(
                        f,
                        "it is held by bpf_link {link} of a running process (xdpnet or \
                         another tool); stop that process, or remove it with \
                         `bpftool link detach id {link}`"
                    ),
                    None => write!(
                        f,
                        "if nothing should be using it (e.g. left over by a crashed run), \
                         remove it with `ip link set dev {ifname} {} off`",
                        existing.ip_link_keyword()
                    ),
                }
            }
            Self::InUse { ifname } => write!(
                f,
                "this steering program is already attached to {ifname}. Fix: call detach() \
                 first, or load one SteeringProgram per interface"
            ),
            Self::MtuTooLarge {
                ifname,
                mtu,
                extack,
            } => {
                write!(f, "the MTU of {ifname}")?;
                if let Some(mtu) = mtu {
                    write!(f, " ({mtu})")?;
                }
                write!(f, " is too large for XDP on this driver")?;
                fmt_extack(f, extack)?;
                write!(
                    f,
                    ". Fix: lower it, e.g. `ip link set dev {ifname} mtu 1500` (for veth, \
                     the peer's MTU counts), disable LRO (`ethtool -K {ifname} lro off`), \
                     or use --xdp-mode generic (slow)"
                )
            }
            Self::NativeUnsupported {
                ifname,
                driver,
                extack,
            } => {
                write!(f, "{ifname}")?;
                if let Some(d) = driver {
                    write!(f, " (driver {d})")?;
                }
                write!(f, " does not support native XDP")?;
                fmt_extack(f, extack)?;
                write!(
                    f,
                    ". Fix: use --xdp-mode generic (or auto, which falls back to it); \
                     generic XDP is slow and AF_XDP runs in copy mode"
                )
            }
            Self::Attach {
                ifname,
                mode,
                cause,
                extack,
            } => {
                write!(f, "attaching XDP ({mode} mode) to {ifname} failed: {cause}")?;
                fmt_extack(f, extack)?;
                write!(
                    f,
                    ". Fix: check `ip -d link show dev {ifname}` and `xdpnet doctor \
                     {ifname}`; try --xdp-mode generic if the driver rejects native XDP"
                )
            }
            Self::Detach {
                ifname,
                cause,
                cleanup,
            } => write!(
                f,
                "detaching the XDP program from {ifname} failed: {cause}. Fix: remove it \
                 by hand with `{cleanup}`"
            ),
            Self::QueueOutOfRange { queue, max_queues } => write!(
                f,
                "rx queue {queue} does not fit in the XSKMAP (queues 0..{max_queues}). \
                 Fix: raise SteeringOptions::max_queues to at least {}",
                queue + 1
            ),
            Self::Map {
                map,
                operation,
                cause,
                fix,
            } => write!(
                f,
                "{operation} in BPF map {map} failed: {cause}. Fix: {fix}"
            ),
            Self::InvalidArgument { what, fix } => write!(f, "{what}. Fix: {fix}"),
            Self::TestRun { cause } => write!(
                f,
                "BPF_PROG_TEST_RUN failed: {cause}. Fix: frames must be at least 14 bytes \
                 (an Ethernet header) and at most a page minus XDP headroom"
            ),
        }
    }
}

impl std::error::Error for SteeringError {}

/// The errno behind a libbpf-rs error. libbpf-rs keeps the `io::Error`
/// private and renders it as "... (os error N)", so the number is read back
/// from the rendered chain.
pub(crate) fn errno_of(e: &libbpf_rs::Error) -> Option<i32> {
    let text = format!("{e:#}");
    let start = text.rfind("(os error ")? + "(os error ".len();
    let end = start + text[start..].find(')')?;
    text[start..end].parse().ok()
}

/// `e` rendered with its whole context chain, for the `cause` fields.
pub(crate) fn cause_of(e: &libbpf_rs::Error) -> String {
    format!("{e:#}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_is_read_back_from_the_chain() {
        use libbpf_rs::ErrorExt as _;
        let e = libbpf_rs::Error::from_raw_os_error(16);
        assert_eq!(errno_of(&e), Some(16));
        let e: libbpf_rs::Result<()> = Err(libbpf_rs::Error::from_raw_os_error(95));
        let e = e.context("failed to attach XDP program").unwrap_err();
        assert_eq!(errno_of(&e), Some(95));
        assert!(cause_of(&e).starts_with("failed to attach XDP program: "));
    }

    #[test]
    fn messages_name_cause_and_fix() {
        let e = SteeringError::PermissionDenied {
            operation: "load the XDP steering program",
            missing: vec!["CAP_BPF", "CAP_NET_ADMIN"],
        };
        let s = e.to_string();
        assert!(s.contains("CAP_BPF and CAP_NET_ADMIN") && s.contains("Fix: run as root"));

        let e = SteeringError::MtuTooLarge {
            ifname: "veth0".into(),
            mtu: Some(9000),
            extack: Some("veth: Peer MTU is too large to set XDP".into()),
        };
        let s = e.to_string();
        assert!(s.contains("(9000)") && s.contains("Peer MTU is too large"));
        assert!(s.contains("ip link set dev veth0 mtu 1500"));

        let e = SteeringError::QueueOutOfRange {
            queue: 70,
            max_queues: 64,
        };
        assert!(e.to_string().contains("at least 71"));
    }
}
