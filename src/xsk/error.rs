//! [`XskError`]: every way creating or configuring an AF_XDP socket can
//! fail, rendered as the cause and the fix (DESIGN.md principle 7;
//! `notes/user-conventions.md` §5 rows 1–7, 11–12).

use std::fmt;
use std::io;

/// Why an AF_XDP setup step failed. `Display` names the cause and the fix.
#[derive(Debug)]
#[non_exhaustive]
pub enum XskError {
    /// Creating or binding the socket needs privileges the process lacks.
    PermissionDenied {
        /// What was attempted.
        op: &'static str,
    },
    /// The kernel has no AF_XDP (`CONFIG_XDP_SOCKETS` off, or a container
    /// that filters the address family).
    Unsupported {
        /// The errno text.
        source: io::Error,
    },
    /// Registering the UMEM hit the locked-memory limit (the kernel charges
    /// UMEM pages to `RLIMIT_MEMLOCK` without `CAP_IPC_LOCK`).
    Memlock {
        /// UMEM size in bytes.
        bytes: u64,
        /// The locked-memory limit in force (`None` = unlimited/unknown).
        limit: Option<u64>,
        /// The errno text (`ENOBUFS` or `ENOMEM`).
        source: io::Error,
    },
    /// No interface of that name in this network namespace.
    NoSuchInterface {
        /// The name asked for.
        iface: String,
    },
    /// The queue id is not below the interface's channel count.
    QueueOutOfRange {
        /// The interface.
        iface: String,
        /// The queue asked for.
        queue: u32,
        /// Queues the interface has, when the driver reports them.
        queues: Option<u32>,
    },
    /// Another AF_XDP socket is bound to that queue.
    QueueBusy {
        /// The interface.
        iface: String,
        /// The queue.
        queue: u32,
    },
    /// Zero-copy was required but the driver cannot do it.
    ZeroCopyUnsupported {
        /// The interface.
        iface: String,
        /// The driver name, when known.
        driver: Option<String>,
    },
    /// A configuration value the kernel would reject.
    InvalidConfig {
        /// What is wrong.
        what: String,
        /// How to fix it.
        fix: String,
    },
    /// Any other failing syscall.
    Syscall {
        /// What was attempted.
        op: &'static str,
        /// The interface, if any.
        iface: String,
        /// The errno.
        source: io::Error,
        /// How to fix it.
        fix: String,
    },
}

impl XskError {
    /// The errno behind the error, when there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            XskError::Unsupported { source }
            | XskError::Memlock { source, .. }
            | XskError::Syscall { source, .. } => source.raw_os_error(),
            XskError::PermissionDenied { .. } => Some(libc::EPERM),
            XskError::NoSuchInterface { .. } => Some(libc::ENODEV),
            XskError::QueueOutOfRange { .. } => Some(libc::EINVAL),
            XskError::QueueBusy { .. } => Some(libc::EBUSY),
            XskError::ZeroCopyUnsupported { .. } => Some(libc::EOPNOTSUPP),
            XskError::InvalidConfig { .. } => None,
        }
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

impl fmt::Display for XskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XskError::PermissionDenied { op } => write!(
                f,
                "cannot {op}: permission denied (AF_XDP needs CAP_NET_RAW to create a socket \
                 and CAP_NET_ADMIN to bind it); fix: run as root, or grant the capabilities \
                 (`setcap cap_net_raw,cap_net_admin,cap_bpf,cap_ipc_lock+ep <binary>`, or \
                 systemd `AmbientCapabilities=`)"
            ),
            XskError::Unsupported { source } => write!(
                f,
                "this kernel offers no AF_XDP sockets ({source}); fix: use a kernel built with \
                 CONFIG_XDP_SOCKETS=y (5.4 or newer), and in containers allow the address family \
                 (systemd `RestrictAddressFamilies=` must include AF_XDP)"
            ),
            XskError::Memlock {
                bytes,
                limit,
                source,
            } => {
                write!(
                    f,
                    "registering the UMEM failed ({source}): the kernel charges its {} to the \
                     locked-memory limit",
                    mib(*bytes)
                )?;
                if let Some(l) = limit {
                    write!(f, ", which is {}", mib(*l))?;
                }
                write!(
                    f,
                    "; fix: run with CAP_IPC_LOCK, `ulimit -l unlimited`, or systemd \
                     `LimitMEMLOCK=infinity`, or use fewer frames"
                )
            }
            XskError::NoSuchInterface { iface } => write!(
                f,
                "no interface `{iface}` in this network namespace; fix: check the name with \
                 `ip link show` (and the namespace with `ip netns identify`)"
            ),
            XskError::QueueOutOfRange {
                iface,
                queue,
                queues,
            } => {
                match queues {
                    Some(n) => write!(
                        f,
                        "{iface} has {n} queue(s) (0–{}); queue {queue} does not exist",
                        n.saturating_sub(1)
                    )?,
                    None => write!(f, "{iface} has no queue {queue}")?,
                }
                write!(
                    f,
                    "; fix: bind queues below the channel count (e.g. `--queues 0-{}`) or add \
                     channels: `ethtool -L {iface} combined {}` on a NIC, or recreate a veth \
                     with `numrxqueues {} numtxqueues {}`",
                    queues.unwrap_or(1).saturating_sub(1),
                    queue + 1,
                    queue + 1,
                    queue + 1
                )
            }
            XskError::QueueBusy { iface, queue } => write!(
                f,
                "queue {queue} of {iface} is already used by another AF_XDP socket (another \
                 instance, or one of ours still being torn down); fix: stop the other user \
                 (find it with `ss -a --xdp` or `bpftool net`), pick another queue, or wait a \
                 second and retry"
            ),
            XskError::ZeroCopyUnsupported { iface, driver } => {
                write!(f, "{iface}")?;
                if let Some(d) = driver {
                    write!(f, " (driver {d})")?;
                }
                write!(
                    f,
                    " does not support AF_XDP zero-copy; fix: use `--copy-mode copy` or \
                     `--copy-mode auto` (veth and generic-XDP interfaces are copy mode only)"
                )
            }
            XskError::InvalidConfig { what, fix } => write!(f, "{what}; fix: {fix}"),
            XskError::Syscall {
                op,
                iface,
                source,
                fix,
            } => {
                write!(f, "cannot {op}")?;
                if !iface.is_empty() {
                    write!(f, " on {iface}")?;
                }
                write!(f, ": {source}; fix: {fix}")
            }
        }
    }
}

impl std::error::Error for XskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            XskError::Unsupported { source }
            | XskError::Memlock { source, .. }
            | XskError::Syscall { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_error_names_count_and_fix() {
        let e = XskError::QueueOutOfRange {
            iface: "veth0".into(),
            queue: 3,
            queues: Some(1),
        };
        let s = e.to_string();
        assert!(s.contains("veth0 has 1 queue(s) (0–0); queue 3"), "{s}");
        assert!(s.contains("ethtool -L veth0 combined 4"), "{s}");
        assert!(s.contains("numrxqueues 4"), "{s}");
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn memlock_error_names_sizes() {
        let e = XskError::Memlock {
            bytes: 16 << 20,
            limit: Some(8 << 20),
            source: io::Error::from_raw_os_error(libc::ENOBUFS),
        };
        let s = e.to_string();
        assert!(s.contains("16.0 MiB") && s.contains("8.0 MiB"), "{s}");
        assert!(s.contains("ulimit -l unlimited"), "{s}");
    }
}
