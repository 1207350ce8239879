//! Helpers shared by the root tests: the ones that build network
//! namespaces and veth pairs and attach XDP programs or bind AF_XDP
//! sockets (router_veth, pktgen_sink, xdp_link, steering, router_cli,
//! echo_veth).
//!
//! Namespaces are [`xdpnet::netns::NetNs`] guards, so a failed test still
//! deletes them (and with them every veth end inside). Commands that must
//! succeed go through [`sh`], which panics with the command line and its
//! standard error. [`is_root`] prints a `SKIP:` line when the test cannot
//! run — and panics instead when `CI` is set, because CI runs as root and a
//! privileged test must never skip silently there.
#![allow(dead_code)]

use std::process::Command;
use std::sync::{Mutex, MutexGuard};

pub use xdpnet::netns::NetNs;

static SERIAL: Mutex<()> = Mutex::new(());

/// Take this test binary's one-test-at-a-time lock (a failed test poisons
/// it; that is fine, its guards already cleaned up).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether the test can run: true as root. Otherwise prints
/// `SKIP: <test>: <reason>` and returns false, or panics when the `CI`
/// environment variable is set (CI runs as root; a skip there would hide
/// a broken setup).
pub fn is_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let why = "needs root (network namespaces, veth, XDP, AF_XDP); \
               run the test binary as root, e.g. `sudo -E cargo test --release`";
    if std::env::var_os("CI").is_some() {
        panic!("{test}: CI is set but the tests do not run as root: {why}");
    }
    println!("SKIP: {test}: {why}");
    false
}

/// Run `args` (program first) and return its standard output; panics with
/// the command line and its standard error when it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh namespace `PREFIX-PID-N` (loopback up), deleted on drop.
pub fn netns(prefix: &str) -> NetNs {
    NetNs::new(prefix).unwrap_or_else(|e| panic!("{e}"))
}

/// A veth pair created in namespace `ns_a` as `a`, its peer `b` moved to
/// `ns_b`, with `queues` rx and tx queues on each end; both ends stay
/// down until [`link_up`] (so sysctls can be set before the kernel talks).
pub fn veth(ns_a: &str, a: &str, ns_b: &str, b: &str, queues: u32) {
    let q = queues.to_string();
    let mut argv = vec!["ip", "-n", ns_a];
    argv.extend(xdpnet::netns::veth_add_args(a, b, &q));
    argv.extend(["netns", ns_b]);
    sh(&argv);
}

/// `ip -n NS link set DEV up`.
pub fn link_up(ns: &str, dev: &str) {
    sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
}

/// Add an IPv4 and (when given) an IPv6 address to `dev` in `ns`; the
/// IPv6 one without duplicate address detection, so it is usable at once.
pub fn addresses(ns: &str, dev: &str, v4: &str, v6: Option<&str>) {
    sh(&["ip", "-n", ns, "addr", "add", v4, "dev", dev]);
    if let Some(v6) = v6 {
        sh(&["ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
    }
}

/// Move the calling thread into network namespace `ns`.
pub fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("open the namespace");
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

/// Run `f` on a thread inside network namespace `ns`; its panics propagate.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(ns);
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Whether `tool` runs (`tool ARG`, e.g. `--version`). Otherwise prints
/// `SKIP: <test>: needs <tool>` and returns false — or panics under `CI`,
/// where `scripts/deps.sh` has installed every tool the tests use.
pub fn have_tool(test: &str, tool: &str, arg: &str) -> bool {
    let ok = Command::new(tool)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !ok {
        let why = format!("needs {tool} (scripts/deps.sh installs it)");
        if std::env::var_os("CI").is_some() {
            panic!("{test}: CI is set but {why}");
        }
        println!("SKIP: {test}: {why}");
    }
    ok
}
