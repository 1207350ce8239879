//! `xdpnet router` end to end over veth, with the Linux kernel as the real
//! peer on both sides:
//!
//! ```text
//!  ns A (kernel)            ns R (xdpnet router)            ns B (kernel)
//!  a0 198.18.0.1/24  ───  r0 198.18.0.254/24   r1 198.18.1.254/24  ───  b0 198.18.1.2/24
//!     2001:2::1/64           2001:2::fe/64        2001:2:0:1::fe/64         2001:2:0:1::2/64
//! ```
//!
//! Root only (CI runs as root); without root each test prints `SKIP:` and
//! returns. Namespaces are unique per test and removed by a guard even when
//! the test fails; the router is stopped with SIGINT and must leave no XDP
//! program behind.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_xdpnet");
static NEXT: AtomicU32 = AtomicU32::new(0);

fn is_root(test: &str) -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    if !root {
        println!("SKIP: {test}: needs root to create network namespaces and attach XDP");
    }
    root
}

fn sh(args: &[&str]) {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

struct Topology {
    a: String,
    r: String,
    b: String,
    router: Option<Child>,
}

impl Topology {
    fn new() -> Topology {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = format!("xdpnet-rv-{}-{n}", std::process::id());
        let t = Topology {
            a: format!("{base}-a"),
            r: format!("{base}-r"),
            b: format!("{base}-b"),
            router: None,
        };
        for ns in [&t.a, &t.r, &t.b] {
            sh(&["ip", "netns", "add", ns]);
        }
        sh(&[
            "ip", "-n", &t.r, "link", "add", "r0", "type", "veth", "peer", "name", "a0", "netns",
            &t.a,
        ]);
        sh(&[
            "ip", "-n", &t.r, "link", "add", "r1", "type", "veth", "peer", "name", "b0", "netns",
            &t.b,
        ]);
        for (ns, dev) in [
            (&t.r, "r0"),
            (&t.r, "r1"),
            (&t.a, "a0"),
            (&t.b, "b0"),
            (&t.a, "lo"),
            (&t.b, "lo"),
        ] {
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        sh(&[
            "ip",
            "-n",
            &t.a,
            "addr",
            "add",
            "198.18.0.1/24",
            "dev",
            "a0",
        ]);
        sh(&[
            "ip",
            "-n",
            &t.a,
            "addr",
            "add",
            "2001:2::1/64",
            "dev",
            "a0",
            "nodad",
        ]);
        sh(&[
            "ip",
            "-n",
            &t.a,
            "route",
            "add",
            "default",
            "via",
            "198.18.0.254",
        ]);
        sh(&[
            "ip",
            "-n",
            &t.a,
            "-6",
            "route",
            "add",
            "default",
            "via",
            "2001:2::fe",
        ]);
        sh(&[
            "ip",
            "-n",
            &t.b,
            "addr",
            "add",
            "198.18.1.2/24",
            "dev",
            "b0",
        ]);
        sh(&[
            "ip",
            "-n",
            &t.b,
            "addr",
            "add",
            "2001:2:0:1::2/64",
            "dev",
            "b0",
            "nodad",
        ]);
        sh(&[
            "ip",
            "-n",
            &t.b,
            "route",
            "add",
            "default",
            "via",
            "198.18.1.254",
        ]);
        sh(&[
            "ip",
            "-n",
            &t.b,
            "-6",
            "route",
            "add",
            "default",
            "via",
            "2001:2:0:1::fe",
        ]);
        t
    }

    fn start_router(&mut self, extra: &[&str]) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.r, BIN, "router"])
            .args(["--iface", "r0=198.18.0.254/24,2001:2::fe/64"])
            .args(["--iface", "r1=198.18.1.254/24,2001:2:0:1::fe/64"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.router = Some(cmd.spawn().expect("spawn the router"));
    }

    fn exec(&self, ns: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .expect("spawn")
    }

    /// Ping until it answers (the router needs a moment to attach).
    fn wait_ping(&self, ns: &str, dst: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let o = self.exec(ns, &["ping", "-c", "1", "-W", "1", dst]);
            if o.status.success() {
                return;
            }
            if let Some(c) = self.router_exited() {
                panic!("router exited early: {c}");
            }
            assert!(
                Instant::now() < deadline,
                "no answer from {dst}: {}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
    }

    fn router_exited(&self) -> Option<String> {
        None.or_else(|| {
            let pid = self.router.as_ref()?.id();
            let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
            (!alive).then(|| "process gone".to_string())
        })
    }

    /// SIGINT the router and return (stdout, stderr, success).
    fn stop_router(&mut self) -> (String, String, bool) {
        let mut child = self.router.take().expect("router running");
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .output();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "router did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(50));
        };
        let (mut out, mut err) = (String::new(), String::new());
        let _ = child.stdout.take().map(|mut s| s.read_to_string(&mut out));
        let _ = child.stderr.take().map(|mut s| s.read_to_string(&mut err));
        (out, err, status.success())
    }

    fn xdp_attached(&self, dev: &str) -> bool {
        let o = self.exec(&self.r, &["ip", "-d", "link", "show", "dev", dev]);
        String::from_utf8_lossy(&o.stdout).contains("prog/xdp")
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Some(mut c) = self.router.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.a, &self.r, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

#[test]
fn router_forwards_v4_v6_answers_ping_and_sends_time_exceeded() {
    if !is_root("router_forwards_v4_v6_answers_ping_and_sends_time_exceeded") {
        return;
    }
    let mut t = Topology::new();
    t.start_router(&["--workers", "1", "-i", "1"]);
    // The router's own addresses answer, on both sides.
    t.wait_ping(&t.a, "198.18.0.254");
    let a = t.a.clone();
    let b = t.b.clone();
    t.wait_ping(&a, "198.18.1.254");
    // Through the router, both families, both directions.
    t.wait_ping(&a, "198.18.1.2");
    t.wait_ping(&b, "198.18.0.1");
    t.wait_ping(&a, "2001:2:0:1::2");
    let o = t.exec(
        &a,
        &["ping", "-c", "5", "-i", "0.2", "-W", "2", "198.18.1.2"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // TTL 1: ICMP time exceeded from the router's address on A's side.
    let o = t.exec(&a, &["ping", "-c", "1", "-t", "1", "-W", "2", "198.18.1.2"]);
    let out = String::from_utf8_lossy(&o.stdout).to_lowercase();
    assert!(
        out.contains("198.18.0.254") && out.contains("time to live exceeded"),
        "{out}"
    );
    let o = t.exec(
        &a,
        &[
            "ping",
            "-6",
            "-c",
            "1",
            "-t",
            "1",
            "-W",
            "2",
            "2001:2:0:1::2",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout).to_lowercase();
    assert!(
        out.contains("2001:2::fe") && out.contains("time exceeded"),
        "{out}"
    );
    assert!(t.xdp_attached("r0") && t.xdp_attached("r1"));
    let (out, err, ok) = t.stop_router();
    assert!(ok, "router exit status: {err}");
    assert!(out.contains("--- summary ---"), "{out}\n{err}");
    assert!(out.contains("ttl_exceeded"), "{out}");
    assert!(
        !t.xdp_attached("r0") && !t.xdp_attached("r1"),
        "XDP program left behind"
    );
}
