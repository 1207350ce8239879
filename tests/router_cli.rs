//! `xdpnet router` and `xdpnet doctor` as users run them: the real binary.
//!
//! * Parsing (no root): every flag, the TOML file saying the same thing,
//!   flags overriding the file, and bad values — each must exit non-zero
//!   with a message naming the field and the fix. `--print-config` shows
//!   the effective configuration without touching the host.
//! * Setup checks and doctor (root): on a veth pair in fresh network
//!   namespaces (unique names, removed by a guard even when a test fails).
//!   Without root these print `SKIP: reason` and return. Addresses come
//!   from 198.18.0.0/15 and 2001:2::/48 only.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

mod root_common;

use root_common::{is_root, link_up, netns, sh, veth, NetNs};

const BIN: &str = env!("CARGO_BIN_EXE_xdpnet");

static NEXT: AtomicU32 = AtomicU32::new(0);

fn xdpnet(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run xdpnet")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A config file in the temp dir, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(contents: &str) -> TempFile {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("xdpnet-router-{}-{n}.toml", std::process::id()));
        std::fs::write(&p, contents).unwrap();
        TempFile(p)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn print_config(args: &[&str]) -> String {
    let mut a = vec!["router"];
    a.extend_from_slice(args);
    a.push("--print-config");
    let o = xdpnet(&a);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{args:?}: {err}");
    out
}

const ALL_FLAGS: &[&str] = &[
    "--iface",
    "veth0=198.18.0.1/24,2001:2::1/64",
    "--iface",
    "veth1=198.18.1.1/24",
    "--route",
    "198.19.0.0/16 via 198.18.1.2",
    "--route",
    "default via 2001:2::2 metric 10",
    "--route",
    "198.20.0.0/16 blackhole",
    "--workers",
    "2",
    "--cores",
    "0,1",
    "--queues",
    "0-1",
    "--xdp-mode",
    "native",
    "--copy-mode",
    "zero-copy",
    "--busy-poll",
    "-i",
    "2.5",
    "-d",
    "30",
    "--json",
];

const ALL_FLAGS_TOML: &str = r#"
routes = ["198.19.0.0/16 via 198.18.1.2", "default via 2001:2::2 metric 10", "blackhole 198.20.0.0/16"]
workers = 2
cores = "0,1"
queues = "0-1"
xdp_mode = "native"
copy_mode = "zero-copy"
busy_poll = true
interval = 2.5
duration = 30
json = true

[[interface]]
name = "veth0"
addresses = ["198.18.0.1/24", "2001:2::1/64"]

[[interface]]
name = "veth1"
addresses = ["198.18.1.1/24"]
"#;

#[test]
fn help_lists_every_flag() {
    let o = xdpnet(&["router", "--help"]);
    let (out, _) = text(&o);
    assert!(o.status.success());
    for flag in [
        "--iface",
        "--route",
        "--workers",
        "--cores",
        "--xdp-mode",
        "--copy-mode",
        "--busy-poll",
        "--interval",
        "--json",
        "--config",
        "--queues",
        "--duration",
        "--print-config",
    ] {
        assert!(out.contains(flag), "{flag} missing from help:\n{out}");
    }
    let o = xdpnet(&["doctor", "--help"]);
    assert!(o.status.success());
}

#[test]
fn every_flag_reaches_the_configuration() {
    let out = print_config(ALL_FLAGS);
    for line in [
        r#"routes = ["198.19.0.0/16 via 198.18.1.2", "default via 2001:2::2 metric 10", "198.20.0.0/16 blackhole"]"#,
        "workers = 2",
        "cores = [0, 1]",
        r#"queues = "0-1""#,
        r#"xdp_mode = "native""#,
        r#"copy_mode = "zero-copy""#,
        "busy_poll = true",
        "interval = 2.5",
        "duration = 30.0",
        "json = true",
        r#"name = "veth0""#,
        r#"addresses = ["198.18.0.1/24", "2001:2::1/64"]"#,
        r#"name = "veth1""#,
    ] {
        assert!(out.lines().any(|l| l == line), "`{line}` missing:\n{out}");
    }
    // Defaults when nothing is said.
    let out = print_config(&["--iface", "veth0=198.18.0.1/24"]);
    for line in [
        "routes = []",
        r#"queues = "all""#,
        r#"xdp_mode = "auto""#,
        r#"copy_mode = "auto""#,
        "busy_poll = false",
        "interval = 1.0",
        "json = false",
    ] {
        assert!(out.lines().any(|l| l == line), "`{line}` missing:\n{out}");
    }
    assert!(!out.contains("workers") && !out.contains("cores") && !out.contains("duration"));
}

#[test]
fn toml_file_says_the_same_as_the_flags() {
    let f = TempFile::new(ALL_FLAGS_TOML);
    assert_eq!(
        print_config(&["--config", f.path()]),
        print_config(ALL_FLAGS)
    );
    // What --print-config prints is itself a valid config file.
    let printed = TempFile::new(&print_config(ALL_FLAGS));
    assert_eq!(
        print_config(&["--config", printed.path()]),
        print_config(ALL_FLAGS)
    );
}

#[test]
fn flags_override_the_file() {
    let f = TempFile::new(ALL_FLAGS_TOML);
    let out = print_config(&[
        "--config",
        f.path(),
        "--workers",
        "1",
        "--xdp-mode",
        "generic",
        "--copy-mode",
        "copy",
        "-i",
        "0",
        "--iface",
        "veth9=198.18.9.1/24",
        "--route",
        "198.21.0.0/16 via 198.18.9.2",
    ]);
    for line in [
        "workers = 1",
        r#"xdp_mode = "generic""#,
        r#"copy_mode = "copy""#,
        "interval = 0.0",
        r#"name = "veth9""#,
        r#"routes = ["198.21.0.0/16 via 198.18.9.2"]"#,
        // Not overridden: from the file.
        "cores = [0, 1]",
        "busy_poll = true",
    ] {
        assert!(out.lines().any(|l| l == line), "`{line}` missing:\n{out}");
    }
    assert!(
        !out.contains("veth0"),
        "--iface replaces the file's interfaces:\n{out}"
    );
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let o = xdpnet(args);
    let (out, err) = text(&o);
    assert!(!o.status.success(), "{args:?} succeeded:\n{out}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{n}` not in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_values_say_what_and_how_to_fix() {
    let iface = ["router", "--iface", "veth0=198.18.0.1/24"];
    fn with<'a>(iface: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = iface.to_vec();
        v.extend_from_slice(extra);
        v.push("--print-config");
        v
    }
    fails_with(
        &["router", "--print-config"],
        &["--iface", "Fix: --iface IF=ADDR/PREFIX"],
    );
    fails_with(&["router", "--iface", "veth0"], &["--iface", "lacks `=`"]);
    fails_with(
        &["router", "--iface", "veth0=198.18.0.1"],
        &["198.18.0.1/24"],
    );
    fails_with(
        &with(&iface, &["--route", "198.19.0.0/16 via x"]),
        &["--route", "not an IP address"],
    );
    fails_with(
        &with(&iface, &["--route", "198.19.0.0/16 via 198.30.0.1"]),
        &["on none of the router's subnets", "Fix:"],
    );
    fails_with(
        &with(&iface, &["--xdp-mode", "fast"]),
        &["--xdp-mode", "auto, native or generic"],
    );
    fails_with(
        &with(&iface, &["--copy-mode", "fast"]),
        &["--copy-mode", "auto, copy or zero-copy"],
    );
    fails_with(&with(&iface, &["--cores", "3-1"]), &["--cores", "1-3"]);
    fails_with(&with(&iface, &["--workers", "many"]), &["--workers"]);
    fails_with(
        &with(&iface, &["--workers", "0"]),
        &["--workers", "Fix: --workers 1"],
    );
    fails_with(&with(&iface, &["-i", "-1"]), &["--interval", "Fix:"]);
    fails_with(&with(&iface, &["-d", "0"]), &["--duration", "Fix:"]);
    fails_with(&with(&iface, &["--queues", "0,0"]), &["listed twice"]);
    fails_with(
        &with(
            &iface,
            &["--xdp-mode", "generic", "--copy-mode", "zero-copy"],
        ),
        &["zero-copy needs native XDP", "Fix:"],
    );
    fails_with(
        &[
            "router",
            "--iface",
            "a=198.18.0.1/24",
            "--iface",
            "a=198.18.1.1/24",
            "--print-config",
        ],
        &["given twice"],
    );
    // The file: unknown keys and bad values name the key.
    let f = TempFile::new("worker = 2\n");
    fails_with(
        &with(&iface, &["--config", f.path()]),
        &["unknown field `worker`", "Fix:"],
    );
    let f = TempFile::new("[[interface]]\nname = \"v\"\naddresses = [\"198.18.0.1\"]\n");
    fails_with(
        &["router", "--config", f.path(), "--print-config"],
        &["interface[0] (v)", "198.18.0.1/24"],
    );
    let f = TempFile::new("routes = [\"198.19.0.0/16 via\"]\n");
    fails_with(
        &with(&iface, &["--config", f.path()]),
        &["routes[0]", "needs a value"],
    );
    fails_with(
        &with(&iface, &["--config", "/nonexistent/xdpnet.toml"]),
        &["cannot read the config file", "Fix:"],
    );
}

// ------------------------------------------------------------- root tests

/// Namespaces `a` and `b` joined by veth0 (in a, `queues` rx/tx queues)
/// and veth1 (in b); removed on drop.
struct Netns {
    a: String,
    b: String,
    _guards: [NetNs; 2],
}

impl Netns {
    fn new(queues: u32) -> Netns {
        let guards = [netns("xdpnet-rt-a"), netns("xdpnet-rt-b")];
        let ns = Netns {
            a: guards[0].name().to_string(),
            b: guards[1].name().to_string(),
            _guards: guards,
        };
        veth(&ns.a, "veth0", &ns.b, "veth1", queues);
        link_up(&ns.a, "veth0");
        link_up(&ns.b, "veth1");
        ns
    }

    /// Run xdpnet inside namespace a.
    fn xdpnet(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.a, BIN])
            .args(args)
            .output()
            .unwrap()
    }

    fn xdp_on_veth0(&self) -> String {
        let o = Command::new("ip")
            .args(["-n", &self.a, "-d", "link", "show", "dev", "veth0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

#[test]
fn setup_checks_name_the_problem() {
    if !is_root("setup_checks_name_the_problem") {
        return;
    }
    let ns = Netns::new(2);
    // No such interface.
    let o = ns.xdpnet(&["router", "--iface", "nope0=198.18.0.1/24"]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("no network interface `nope0`"), "{err}");
    assert!(
        err.contains("Fix: check the name with `ip link show`"),
        "{err}"
    );
    // Queue beyond the channel count.
    let o = ns.xdpnet(&[
        "router",
        "--iface",
        "veth0=198.18.0.1/24",
        "--queues",
        "0-3",
    ]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("veth0 has 2 rx queues (queues 0-1)"), "{err}");
    assert!(err.contains("requested queue 2"), "{err}");
    assert!(err.contains("Fix: use --queues 0-1"), "{err}");
    // Too many workers for the queues.
    let o = ns.xdpnet(&["router", "--iface", "veth0=198.18.0.1/24", "--workers", "3"]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("--workers 3 but only 2 rx queues"), "{err}");
    // MTU larger than a frame.
    sh(&["ip", "-n", &ns.a, "link", "set", "veth0", "mtu", "9000"]);
    let o = ns.xdpnet(&["router", "--iface", "veth0=198.18.0.1/24"]);
    let (_, err) = text(&o);
    assert!(err.contains("veth0 has MTU 9000"), "{err}");
    assert!(err.contains("ip link set dev veth0 mtu 1500"), "{err}");
    sh(&["ip", "-n", &ns.a, "link", "set", "veth0", "mtu", "1500"]);
    // Down.
    sh(&["ip", "-n", &ns.a, "link", "set", "veth0", "down"]);
    let o = ns.xdpnet(&["router", "--iface", "veth0=198.18.0.1/24"]);
    let (_, err) = text(&o);
    assert!(err.contains("ip link set dev veth0 up"), "{err}");
    sh(&["ip", "-n", &ns.a, "link", "set", "veth0", "up"]);
}

#[test]
fn doctor_on_a_veth() {
    if !is_root("doctor_on_a_veth") {
        return;
    }
    let ns = Netns::new(2);
    let o = ns.xdpnet(&["doctor", "veth0"]);
    let (out, err) = text(&o);
    for line in [
        "PASS  privileges",
        "PASS  AF_XDP",
        "PASS  BPF",
        "PASS  interface      veth0 exists",
        "PASS  link           veth0 is up",
        "PASS  channels       2 rx queues, 2 tx",
        "PASS  MTU            1500 fits 2048-byte frames",
        "PASS  native XDP     veth0 runs XDP in native (driver) mode",
        "PASS  XDP programs   none attached to veth0",
        "WARN  veth offload   veth0 is a veth",
        "fix: turn it off on the peer end, in the peer's namespace: `ethtool -K PEER tx off`",
    ] {
        assert!(out.contains(line), "`{line}` missing:\n{out}\n{err}");
    }
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        !ns.xdp_on_veth0().contains("prog/xdp"),
        "doctor left a program"
    );

    // Another program attached (ours, held by this test's bpf_link): doctor
    // warns, names it and says how to remove it, and does not fail.
    let path = format!("/run/netns/{}", ns.a);
    std::thread::scope(|s| {
        s.spawn(|| {
            let f = std::fs::File::open(&path).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let mut prog = xdpnet::steering::SteeringProgram::load(Default::default()).unwrap();
            let _att = prog
                .attach("veth0", xdpnet::steering::XdpMode::Native)
                .unwrap();
            let o = ns.xdpnet(&["doctor", "veth0"]);
            let (out, err) = text(&o);
            assert!(
                out.contains("WARN  XDP programs   veth0 has program `xdpnet_steer`"),
                "{out}"
            );
            assert!(out.contains("bpftool link detach id"), "{out}");
            assert!(o.status.success(), "{out}\n{err}");
            prog.detach().unwrap();
        })
        .join()
        .unwrap()
    });
}
