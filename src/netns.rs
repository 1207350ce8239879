//! Test hosts made of network namespaces and veth pairs, removed by RAII
//! guards.
//!
//! Benchmarks and root tests build their own hosts (DESIGN.md, "Test
//! hosts"): a [`NetNs`] is one `ip netns add` with a unique name, a
//! [`VethPair`] is one `ip link add … type veth peer …` with chosen queue
//! counts whose ends are moved into namespaces. Dropping a guard deletes
//! what it created — also while a panic unwinds — so a failed run leaves
//! no namespace or interface behind. Drop order matters only in that a
//! veth deleted after its namespace is already gone (deleting a namespace
//! destroys the veth ends inside it), which [`VethPair`]'s `Drop` accepts
//! quietly.
//!
//! Everything goes through the `ip`, `ethtool` and `sysctl` commands of
//! the host (iproute2, ethtool, procps); [`run`] and [`NetNs::run`] return
//! the command's standard output or an error that quotes the command line
//! and its standard error, so a setup failure names its cause.
//!
//! Names: namespaces are `PREFIX-PID-N`; interface names must fit 15
//! bytes and stay short so the kernel's NAPI thread names
//! (`napi/IFNAME-ID`, 15 bytes) keep them whole, so [`unique_ifname`]
//! builds `PREFIX` + the process id (base 36, 4 digits) + a counter.

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn next_id() -> u32 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A namespace name unique to this process: `PREFIX-PID-N`.
pub fn unique_nsname(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), next_id())
}

/// A short interface name unique to this process: `PREFIX` (at most 3
/// bytes) + the process id in base 36 (4 digits, wrapping) + a counter in
/// base 36. At most 9 bytes.
pub fn unique_ifname(prefix: &str) -> String {
    let prefix: String = prefix.chars().take(3).collect();
    format!(
        "{prefix}{}{}",
        base36(std::process::id() % 36u32.pow(4), 4),
        base36(next_id() % 36u32.pow(2), 1)
    )
}

fn base36(mut v: u32, min_digits: usize) -> String {
    const D: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut s = Vec::new();
    while v > 0 || s.len() < min_digits {
        s.push(D[(v % 36) as usize]);
        v /= 36;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

fn describe(argv: &[&str]) -> String {
    argv.join(" ")
}

fn check(argv: &[&str], out: std::io::Result<Output>) -> Result<String, String> {
    let out = out.map_err(|e| {
        format!(
            "cannot run `{}`: {e} (is the program installed? scripts/deps.sh installs iproute2, \
             ethtool and procps)",
            describe(argv)
        )
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            describe(argv),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Run `argv` in the current namespace; its standard output, or an error
/// quoting the command and its standard error.
pub fn run(argv: &[&str]) -> Result<String, String> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| "empty command line".to_string())?;
    let out = Command::new(prog).args(args).stdin(Stdio::null()).output();
    check(argv, out)
}

/// Run `argv` inside namespace `ns` (`ip netns exec NS …`), or in the
/// current one when `ns` is `None`.
pub fn run_in(ns: Option<&NetNs>, argv: &[&str]) -> Result<String, String> {
    match ns {
        Some(ns) => ns.run(argv),
        None => run(argv),
    }
}

/// Whether a namespace of this name exists (`ip netns list`).
pub fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

/// Whether an interface of this name exists in the current namespace.
pub fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// One network namespace, deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    name: String,
    keep: bool,
}

impl NetNs {
    /// `ip netns add PREFIX-PID-N`, with the loopback up.
    pub fn new(prefix: &str) -> Result<NetNs, String> {
        let name = unique_nsname(prefix);
        run(&["ip", "netns", "add", &name])?;
        let ns = NetNs { name, keep: false };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Leave the namespace in place when dropped (for inspection).
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// A `Command` that runs `prog` inside the namespace.
    pub fn command(&self, prog: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, prog]);
        c
    }

    /// Run `argv` inside the namespace: its standard output or an error.
    pub fn run(&self, argv: &[&str]) -> Result<String, String> {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(argv);
        run(&full)
    }

    /// `ip -n NS ARGS…`.
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut full = vec!["ip", "-n", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// `sysctl -qw KEY=VALUE` inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), String> {
        self.run(&["sysctl", "-qw", &format!("{key}={value}")])
            .map(|_| ())
    }

    /// Write `value` to a file under `/sys/class/net/IF/…` as seen from the
    /// namespace (sysfs shows the namespace's own interfaces there).
    pub fn write_sys(&self, path: &str, value: &str) -> Result<(), String> {
        self.run(&["sh", "-c", &format!("echo {value} > {path}")])
            .map(|_| ())
    }

    /// Read a file under `/sys` as seen from the namespace.
    pub fn read_sys(&self, path: &str) -> Result<String, String> {
        self.run(&["cat", path]).map(|s| s.trim().to_string())
    }

    /// The MAC address of `ifname` in this namespace.
    pub fn mac(&self, ifname: &str) -> Result<String, String> {
        self.read_sys(&format!("/sys/class/net/{ifname}/address"))
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if !self.keep {
            let _ = run(&["ip", "netns", "del", &self.name]);
        }
    }
}

/// The arguments after `ip [-n NS]` that create a veth pair `a` – `b`
/// with `queues` rx and tx queues on each end (the peer stays in the same
/// namespace unless the caller appends `netns NS`).
pub fn veth_add_args<'a>(a: &'a str, b: &'a str, queues: &'a str) -> [&'a str; 16] {
    [
        "link",
        "add",
        a,
        "numtxqueues",
        queues,
        "numrxqueues",
        queues,
        "type",
        "veth",
        "peer",
        "name",
        b,
        "numtxqueues",
        queues,
        "numrxqueues",
        queues,
    ]
}

/// A veth pair; deleted on drop (deleting one end deletes both).
#[derive(Debug)]
pub struct VethPair {
    a: String,
    b: String,
    /// Namespace of end `a` (None: the current one).
    a_ns: Option<String>,
    keep: bool,
}

impl VethPair {
    /// `ip link add A numtxqueues Q numrxqueues Q type veth peer name B
    /// numtxqueues Q numrxqueues Q`, in the current namespace.
    pub fn new(a: &str, b: &str, queues: u32) -> Result<VethPair, String> {
        if queues == 0 {
            return Err("a veth needs at least one queue".into());
        }
        let q = queues.to_string();
        let mut argv = vec!["ip"];
        argv.extend(veth_add_args(a, b, &q));
        run(&argv)?;
        Ok(VethPair {
            a: a.to_string(),
            b: b.to_string(),
            a_ns: None,
            keep: false,
        })
    }

    /// Name of end A.
    pub fn a(&self) -> &str {
        &self.a
    }

    /// Name of end B.
    pub fn b(&self) -> &str {
        &self.b
    }

    /// Move end A into `ns_a` and end B into `ns_b`, and set both up.
    pub fn place(&mut self, ns_a: &NetNs, ns_b: &NetNs) -> Result<(), String> {
        run(&["ip", "link", "set", &self.a, "netns", ns_a.name()])?;
        self.a_ns = Some(ns_a.name().to_string());
        run(&["ip", "link", "set", &self.b, "netns", ns_b.name()])?;
        ns_a.ip(&["link", "set", &self.a, "up"])?;
        ns_b.ip(&["link", "set", &self.b, "up"])?;
        Ok(())
    }

    /// Leave the pair in place when dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

/// Add `addr` (ADDR/PREFIX) to `ifname` in `ns`.
pub fn add_address(ns: &NetNs, ifname: &str, addr: &str) -> Result<(), String> {
    ns.ip(&["addr", "add", addr, "dev", ifname]).map(|_| ())
}

/// `ethtool -K IF tx off` in `ns`: kernel peers of AF_XDP sockets on veth
/// must finish their checksums in software (veth passes CHECKSUM_PARTIAL
/// frames that AF_XDP sees with unfinished checksums).
pub fn tx_csum_off(ns: &NetNs, ifname: &str) -> Result<(), String> {
    ns.run(&["ethtool", "-K", ifname, "tx", "off"]).map(|_| ())
}

impl Drop for VethPair {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        match &self.a_ns {
            // The namespace may be gone already, taking the pair with it.
            Some(ns) if netns_exists(ns) => {
                let _ = run(&["ip", "-n", ns, "link", "del", &self.a]);
            }
            Some(_) => {}
            None => {
                if link_exists(&self.a) {
                    let _ = run(&["ip", "link", "del", &self.a]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifnames_are_short_and_distinct() {
        let a = unique_ifname("xbv");
        let b = unique_ifname("xbv");
        assert_ne!(a, b);
        assert!(a.len() <= 9, "{a}");
        assert!(a.starts_with("xbv"));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn base36_pads_and_encodes() {
        assert_eq!(base36(0, 4), "0000");
        assert_eq!(base36(35, 1), "z");
        assert_eq!(base36(36, 1), "10");
    }

    #[test]
    fn failing_command_is_quoted_in_the_error() {
        let e = run(&["sh", "-c", "echo oops >&2; exit 3"]).unwrap_err();
        assert!(e.contains("sh -c"), "{e}");
        assert!(e.contains("oops"), "{e}");
        let e = run(&["/nonexistent/program"]).unwrap_err();
        assert!(e.contains("cannot run"), "{e}");
    }
}
