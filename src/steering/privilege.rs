//! Capability checks done *before* asking the kernel, so a missing
//! privilege is reported by name instead of as `EPERM`.
//!
//! Loading an XDP program needs CAP_BPF (or CAP_SYS_ADMIN) and
//! CAP_NET_ADMIN (XDP is a "net admin" program type); attaching it needs
//! CAP_NET_ADMIN. Capabilities are read from `/proc/thread-self/status`;
//! when that cannot be read the checks pass and the kernel decides.

use std::fs;

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// The effective capability set of the calling thread.
fn effective() -> Option<u64> {
    let status = fs::read_to_string("/proc/thread-self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

fn has(caps: u64, cap: u32) -> bool {
    caps & (1u64 << cap) != 0
}

/// Capabilities missing for loading the program (empty when all present
/// or unknown).
pub(crate) fn missing_for_load() -> Vec<&'static str> {
    let Some(caps) = effective() else {
        return Vec::new();
    };
    let mut missing = Vec::new();
    if !has(caps, CAP_BPF) && !has(caps, CAP_SYS_ADMIN) {
        missing.push("CAP_BPF");
    }
    if !has(caps, CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    missing
}

/// Capabilities missing for attaching/detaching XDP.
pub(crate) fn missing_for_attach() -> Vec<&'static str> {
    match effective() {
        Some(caps) if !has(caps, CAP_NET_ADMIN) => vec!["CAP_NET_ADMIN"],
        _ => Vec::new(),
    }
}

/// `RLIMIT_MEMLOCK` (soft, hard) in bytes; `None` = unlimited or unknown.
pub(crate) fn memlock_limits() -> (Option<u64>, Option<u64>) {
    use nix::sys::resource::{getrlimit, Resource, RLIM_INFINITY};
    match getrlimit(Resource::RLIMIT_MEMLOCK) {
        Ok((soft, hard)) => {
            let f = |l: u64| (l != RLIM_INFINITY).then_some(l);
            (f(soft), f(hard))
        }
        Err(_) => (None, None),
    }
}
