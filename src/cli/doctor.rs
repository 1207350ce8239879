//! `xdpnet doctor [IF]`: check the host (and an interface) before running
//! the dataplane, in the spirit of `xdp-trafficgen probe` and
//! `xdp-loader features/status`.
//!
//! Every check prints one `PASS`/`WARN`/`FAIL` line; a `WARN` or `FAIL` is
//! followed by the fix. The exit status is non-zero when anything failed.
//! The interface checks run in the caller's network namespace (use
//! `ip netns exec NS xdpnet doctor IF` for an interface in a namespace).
//! The native-XDP check really attaches the steering program in native mode
//! and detaches it again at once (through a bpf_link, so even a crash
//! leaves nothing behind).

use std::ffi::OsStr;
use std::fmt;

use clap::Args;
use libbpf_rs::libbpf_sys;
use libbpf_rs::{MapHandle, MapType};
use xdpnet::steering::{SteeringError, SteeringOptions, SteeringProgram, XdpMode};
use xdpnet::worker::host::{
    af_xdp_registered, bpffs_mounted, kernel_version, max_mtu_for_frame, usable_cores,
    InterfaceInfo, Privileges, DEFAULT_FRAME_SIZE,
};
use xdpnet::worker::placement::format_core_list;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// An interface to check as well (existence, state, driver, native XDP,
    /// channels, MTU, attached programs).
    iface: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Warn,
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        })
    }
}

struct Report {
    counts: [usize; 3],
}

impl Report {
    fn line(
        &mut self,
        status: Status,
        check: &str,
        detail: impl fmt::Display,
        fix: Option<String>,
    ) {
        self.counts[status as usize] += 1;
        println!("{status}  {check:<14} {detail}");
        if let Some(fix) = fix {
            println!("      {:<14} fix: {fix}", "");
        }
    }
    fn pass(&mut self, check: &str, detail: impl fmt::Display) {
        self.line(Status::Pass, check, detail, None);
    }
    fn warn(&mut self, check: &str, detail: impl fmt::Display, fix: impl Into<String>) {
        self.line(Status::Warn, check, detail, Some(fix.into()));
    }
    fn fail(&mut self, check: &str, detail: impl fmt::Display, fix: impl Into<String>) {
        self.line(Status::Fail, check, detail, Some(fix.into()));
    }
}

/// Split an error text "cause. Fix: fix" into its two halves.
fn split_fix(text: &str) -> (String, String) {
    match text.split_once(". Fix: ") {
        Some((cause, fix)) => (cause.to_string(), fix.to_string()),
        None => (text.to_string(), "see the message".to_string()),
    }
}

pub fn run(a: DoctorArgs) -> Result<(), String> {
    let mut r = Report { counts: [0; 3] };
    host_checks(&mut r);
    let prog = bpf_check(&mut r);
    if let Some(name) = &a.iface {
        iface_checks(&mut r, name, prog);
    }
    let [pass, warn, fail] = r.counts;
    println!("{pass} passed, {warn} warnings, {fail} failed");
    if fail > 0 {
        return Err(format!(
            "doctor found {fail} problem{} (FAIL lines above, each with its fix)",
            if fail == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}

fn host_checks(r: &mut Report) {
    let p = Privileges::current();
    match p.check() {
        Ok(()) => r.pass(
            "privileges",
            if p.root {
                "running as root with CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW"
            } else {
                "CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW present"
            },
        ),
        Err(e) => {
            let (cause, fix) = split_fix(&e.to_string());
            r.fail("privileges", cause, fix);
        }
    }
    use nix::sys::resource::{getrlimit, Resource, RLIM_INFINITY};
    match getrlimit(Resource::RLIMIT_MEMLOCK) {
        Ok((soft, _)) if soft != RLIM_INFINITY && !p.has_ipc_lock() => r.warn(
            "memlock",
            format!(
                "locked-memory limit is {} KiB and CAP_IPC_LOCK is missing: AF_XDP UMEM \
                 counts against it (a 4 MiB UMEM per queue needs more)",
                soft / 1024
            ),
            "`ulimit -l unlimited` (systemd: LimitMEMLOCK=infinity) or grant CAP_IPC_LOCK",
        ),
        _ => r.pass("memlock", "UMEM is not limited by RLIMIT_MEMLOCK"),
    }
    match kernel_version() {
        Some((rel, v)) if v >= (5, 11) => r.pass(
            "kernel",
            format!(
                "{rel} (AF_XDP, need_wakeup, zero-copy, shared UMEM and busy poll all supported)"
            ),
        ),
        Some((rel, v)) if v >= (5, 4) => r.warn(
            "kernel",
            format!("{rel}: AF_XDP works, but busy poll needs 5.11 and shared UMEM 5.10"),
            "use a kernel ≥ 5.11 for --busy-poll",
        ),
        Some((rel, _)) => r.fail(
            "kernel",
            format!("{rel} is older than 5.4 (AF_XDP need_wakeup and zero-copy)"),
            "use a kernel ≥ 5.4 (≥ 5.11 recommended)",
        ),
        None => r.warn(
            "kernel",
            "version unknown (uname failed)",
            "check `uname -r`",
        ),
    }
    match af_xdp_registered() {
        Some(true) => {
            // The XSKMAP is what the steering program redirects through:
            // creating one proves CONFIG_XDP_SOCKETS end to end.
            let opts = libbpf_sys::bpf_map_create_opts {
                sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
                ..Default::default()
            };
            match MapHandle::create(MapType::Xskmap, None::<&OsStr>, 4, 4, 1, &opts) {
                Ok(_) => r.pass(
                    "AF_XDP",
                    "address family registered (XDP in /proc/net/protocols); XSKMAP created",
                ),
                Err(e) => r.fail(
                    "AF_XDP",
                    format!("address family registered but creating an XSKMAP failed: {e}"),
                    "check privileges (above) and `sysctl kernel.unprivileged_bpf_disabled`",
                ),
            }
        }
        Some(false) => r.fail(
            "AF_XDP",
            "this kernel has no AF_XDP (XDP missing from /proc/net/protocols)",
            "use a kernel built with CONFIG_XDP_SOCKETS=y",
        ),
        None => r.warn(
            "AF_XDP",
            "cannot read /proc/net/protocols",
            "mount /proc, or check CONFIG_XDP_SOCKETS in the kernel config",
        ),
    }
    match bpffs_mounted() {
        Some(true) => r.pass("bpffs", "mounted (not needed: xdpnet does not pin)"),
        _ => r.warn(
            "bpffs",
            "not mounted (not needed: xdpnet does not pin programs or maps)",
            "only for other tools that pin: `mount -t bpf bpf /sys/fs/bpf`",
        ),
    }
    let cores = usable_cores();
    if cores.is_empty() {
        r.warn(
            "cores",
            "cannot read the CPU affinity",
            "check `taskset -p $$`",
        );
    } else {
        r.pass(
            "cores",
            format!(
                "{} usable ({}); one worker per core",
                cores.len(),
                format_core_list(&cores)
            ),
        );
    }
}

fn bpf_check(r: &mut Report) -> Option<SteeringProgram> {
    match SteeringProgram::load(SteeringOptions::default()) {
        Ok(p) => {
            r.pass(
                "BPF",
                format!("steering program loaded and verified (id {})", p.prog_id()),
            );
            Some(p)
        }
        Err(e) => {
            let (cause, fix) = split_fix(&e.to_string());
            r.fail("BPF", cause, fix);
            None
        }
    }
}

fn iface_checks(r: &mut Report, name: &str, prog: Option<SteeringProgram>) {
    let info = match InterfaceInfo::lookup(name) {
        Ok(i) => {
            r.pass("interface", format!("{name} exists (ifindex {})", i.index));
            i
        }
        Err(e) => {
            let (cause, fix) = split_fix(&e.to_string());
            r.fail("interface", cause, fix);
            return;
        }
    };
    match info.is_up() {
        Some(true) => r.pass(
            "link",
            format!(
                "{name} is up (operstate {})",
                info.operstate.as_deref().unwrap_or("unknown")
            ),
        ),
        Some(false) => r.fail(
            "link",
            format!(
                "{name} is down (operstate {})",
                info.operstate.as_deref().unwrap_or("unknown")
            ),
            format!("`ip link set dev {name} up`"),
        ),
        None => r.warn(
            "link",
            "state unknown: sysfs shows another network namespace",
            "run doctor in the interface's namespace: `ip netns exec NS xdpnet doctor IF`",
        ),
    }
    match &info.driver {
        Some(d) => r.pass("driver", d),
        None => r.pass(
            "driver",
            "none: a virtual interface (veth, bridge …); AF_XDP runs in copy mode only",
        ),
    }
    if is_veth(name) {
        // A veth peer's kernel stack hands frames over with CHECKSUM_PARTIAL
        // (checksum left for an offload that never runs); AF_XDP copies the
        // bytes as they are, so TCP/UDP checksums arrive unfinished and the
        // stack drops them as bad checksums.
        r.warn(
            "veth offload",
            format!("{name} is a veth: frames the peer's kernel sends arrive with unfinished TCP/UDP checksums while the peer has tx checksum offload on"),
            "turn it off on the peer end, in the peer's namespace: `ethtool -K PEER tx off`",
        );
    }
    match (info.rx_queues, info.tx_queues) {
        (Some(rx), tx) => r.pass(
            "channels",
            format!(
                "{rx} rx queue{}{}: `xdpnet router` runs one worker per rx queue by default",
                if rx == 1 { "" } else { "s" },
                tx.map_or_else(String::new, |t| format!(", {t} tx"))
            ),
        ),
        (None, _) => r.warn(
            "channels",
            "unknown: sysfs shows another network namespace",
            "run doctor in the interface's namespace: `ip netns exec NS xdpnet doctor IF`",
        ),
    }
    match info.mtu {
        Some(mtu) => {
            let m2 = max_mtu_for_frame(2048, 0);
            let m4 = max_mtu_for_frame(DEFAULT_FRAME_SIZE, 0);
            if mtu <= m2 {
                r.pass(
                    "MTU",
                    format!(
                        "{mtu} fits 2048-byte frames (max {m2}) and 4096-byte frames (max {m4})"
                    ),
                );
            } else if mtu <= m4 {
                r.pass(
                    "MTU",
                    format!("{mtu} fits 4096-byte frames (max {m4}, the default) but not 2048-byte ones (max {m2})"),
                );
            } else {
                r.fail(
                    "MTU",
                    format!("{mtu} is larger than a 4096-byte AF_XDP frame holds (max {m4}; single-buffer XDP)"),
                    format!("`ip link set dev {name} mtu 1500` (and on the peer)"),
                );
            }
        }
        None => r.warn(
            "MTU",
            "unknown: sysfs shows another network namespace",
            "run doctor in the interface's namespace: `ip netns exec NS xdpnet doctor IF`",
        ),
    }
    let Some(mut prog) = prog else {
        r.warn(
            "native XDP",
            "not checked: the BPF program could not be loaded (see BPF above)",
            "fix the BPF check first",
        );
        r.warn(
            "XDP programs",
            "not checked: the BPF program could not be loaded",
            "fix the BPF check first",
        );
        return;
    };
    match prog.attach(name, XdpMode::Native) {
        Ok(att) => {
            let detached = prog.detach();
            r.pass(
                "native XDP",
                format!("{name} runs XDP in native (driver) mode: attached and detached again"),
            );
            if let Err(e) = detached {
                let (cause, fix) = split_fix(&e.to_string());
                r.fail("native XDP", cause, fix);
            }
            let _ = att;
            r.pass("XDP programs", format!("none attached to {name}"));
        }
        Err(SteeringError::AlreadyAttached { existing, .. }) => {
            r.warn(
                "native XDP",
                "not checked: another XDP program is attached",
                "remove it (see below) and run doctor again",
            );
            let cleanup = match existing.link_id {
                Some(l) => format!(
                    "held by bpf_link {l} of a running process: stop it, or `bpftool link detach id {l}`"
                ),
                None => format!(
                    "`ip link set dev {name} {} off`",
                    existing.ip_link_keyword()
                ),
            };
            r.warn(
                "XDP programs",
                format!("{name} has {existing}; xdpnet will not replace it"),
                cleanup,
            );
        }
        Err(SteeringError::NativeUnsupported { driver, extack, .. }) => {
            r.warn(
                "native XDP",
                format!(
                    "the driver{} does not support native XDP{}",
                    driver.map(|d| format!(" ({d})")).unwrap_or_default(),
                    extack
                        .map(|x| format!(" (kernel: \"{x}\")"))
                        .unwrap_or_default()
                ),
                "run with `--xdp-mode generic` (works everywhere, slower, copy mode only)",
            );
            r.pass("XDP programs", format!("none attached to {name}"));
        }
        Err(e) => {
            let (cause, fix) = split_fix(&e.to_string());
            r.fail("native XDP", cause, fix);
        }
    }
}

/// Whether `name` is a veth end (`ethtool -i` names the driver; sysfs has
/// no `device` link for virtual interfaces).
fn is_veth(name: &str) -> bool {
    std::process::Command::new("ethtool")
        .args(["-i", name])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == "driver: veth")
        })
}
