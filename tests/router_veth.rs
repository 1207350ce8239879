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
//! program behind. The tests run one at a time (a lock): they measure loss
//! and throughput on a small shared machine, and parallel routers would
//! steal each other's cores.
//!
//! The kernel hosts have transmit checksum offload turned off on a0/b0
//! (`ethtool -K a0 tx off`). With it on, a veth hands the frame over with
//! only the pseudo-header sum in the TCP/UDP checksum field
//! (`CHECKSUM_PARTIAL`: the "hardware" is expected to finish it); the XDP
//! program and AF_XDP see those bytes as they are, the router forwards them
//! unchanged (a router does not rewrite L4 checksums), and the receiving
//! kernel drops every segment as `TcpInCsumErrors`. A real NIC always puts
//! finished checksums on the wire, so this is a property of the veth test
//! bench, not of the router.
//!
//! Helpers that need sockets in a namespace run on a thread that entered it
//! with `setns(2)` ([`in_ns`]); kernel tools (ping, socat, python3 for raw
//! frames) run under `ip netns exec`.

use std::io::Read;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

mod root_common;

use root_common::{enter, in_ns, is_root, link_up, netns, serial, sh, veth, NetNs};

const BIN: &str = env!("CARGO_BIN_EXE_xdpnet");
static NEXT: AtomicU32 = AtomicU32::new(0);

/// Kills a helper process when the test ends, passed or not.
struct Helper(Option<Child>);

impl Helper {
    fn spawn(cmd: &mut Command) -> Helper {
        Helper(Some(cmd.spawn().expect("spawn a helper")))
    }

    /// Wait up to `limit` for the exit; stdout and success.
    fn finish(&mut self, limit: Duration) -> (String, bool) {
        let mut c = self.0.take().expect("helper running");
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = c.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("helper did not finish within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        let _ = c.stdout.take().map(|mut s| s.read_to_string(&mut out));
        (out, status.success())
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A file removed when the test ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// How to build the three hosts.
#[derive(Clone, Copy)]
struct Shape {
    /// Rx and tx queues of every veth.
    queues: u32,
    /// MTU of the B link (r1 and b0), when not 1500.
    b_mtu: Option<u32>,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape {
            queues: 1,
            b_mtu: None,
        }
    }
}

struct Topology {
    a: String,
    r: String,
    b: String,
    router: Option<Child>,
    _guards: [NetNs; 3],
}

impl Topology {
    fn new() -> Topology {
        Topology::with(Shape::default())
    }

    fn with(shape: Shape) -> Topology {
        let guards = [
            netns("xdpnet-rv-a"),
            netns("xdpnet-rv-r"),
            netns("xdpnet-rv-b"),
        ];
        let t = Topology {
            a: guards[0].name().to_string(),
            r: guards[1].name().to_string(),
            b: guards[2].name().to_string(),
            router: None,
            _guards: guards,
        };
        veth(&t.r, "r0", &t.a, "a0", shape.queues);
        veth(&t.r, "r1", &t.b, "b0", shape.queues);
        if let Some(mtu) = shape.b_mtu {
            let mtu = mtu.to_string();
            sh(&["ip", "-n", &t.r, "link", "set", "r1", "mtu", &mtu]);
            sh(&["ip", "-n", &t.b, "link", "set", "b0", "mtu", &mtu]);
        }
        for (ns, dev) in [(&t.r, "r0"), (&t.r, "r1"), (&t.a, "a0"), (&t.b, "b0")] {
            link_up(ns, dev);
        }
        // Finished checksums on the wire (see the module docs).
        for (ns, dev) in [(&t.a, "a0"), (&t.b, "b0")] {
            sh(&["ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off"]);
        }
        for (ns, dev, v4, v6, gw4, gw6) in [
            (
                &t.a,
                "a0",
                "198.18.0.1/24",
                "2001:2::1/64",
                "198.18.0.254",
                "2001:2::fe",
            ),
            (
                &t.b,
                "b0",
                "198.18.1.2/24",
                "2001:2:0:1::2/64",
                "198.18.1.254",
                "2001:2:0:1::fe",
            ),
        ] {
            sh(&["ip", "-n", ns, "addr", "add", v4, "dev", dev]);
            sh(&["ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
            sh(&["ip", "-n", ns, "route", "add", "default", "via", gw4]);
            sh(&["ip", "-n", ns, "-6", "route", "add", "default", "via", gw6]);
        }
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

    /// Ping both ways in both families until the router forwards (and has
    /// learned every neighbor).
    fn wait_forwarding(&self) {
        self.wait_ping(&self.a, "198.18.1.2");
        self.wait_ping(&self.b, "198.18.0.1");
        self.wait_ping(&self.a, "2001:2:0:1::2");
        self.wait_ping(&self.b, "2001:2::1");
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

    /// Stop a router started with `--json`; its summary document.
    fn stop_router_json(&mut self) -> Value {
        let (out, err, ok) = self.stop_router();
        assert!(ok, "router exit status: {err}");
        let line = out
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no JSON summary in: {out}\n{err}"));
        serde_json::from_str(line).expect("summary is JSON")
    }

    /// One ping from `ns` with `-M pmtu` (`do`: set DF, `dont`: clear it)
    /// and `size` payload bytes.
    fn ping_pmtu(&self, ns: &str, v6: bool, pmtu: &str, size: u32, dst: &str) -> Output {
        let size = size.to_string();
        let mut args = vec!["ping"];
        if v6 {
            args.push("-6");
        }
        args.extend(["-M", pmtu, "-s", &size, "-c", "1", "-W", "2", dst]);
        self.exec(ns, &args)
    }

    fn xdp_attached(&self, dev: &str) -> bool {
        self.xdp_attached_in(&self.r, dev)
    }

    fn xdp_attached_in(&self, ns: &str, dev: &str) -> bool {
        let o = self.exec(ns, &["ip", "-d", "link", "show", "dev", dev]);
        String::from_utf8_lossy(&o.stdout).contains("prog/xdp")
    }

    /// No XDP program on any interface of the three hosts.
    fn assert_no_xdp_anywhere(&self) {
        for (ns, dev) in [
            (&self.r, "r0"),
            (&self.r, "r1"),
            (&self.a, "a0"),
            (&self.b, "b0"),
        ] {
            assert!(!self.xdp_attached_in(ns, dev), "XDP program left on {dev}");
        }
    }

    /// Packets `dev` in `ns` received, from the kernel's counters.
    fn rx_packets(&self, ns: &str, dev: &str) -> u64 {
        let o = self.exec(ns, &["ip", "-s", "-j", "link", "show", "dev", dev]);
        let v: Value = serde_json::from_slice(&o.stdout).expect("ip -j output");
        v[0]["stats64"]["rx"]["packets"]
            .as_u64()
            .expect("rx packet counter")
    }

    /// MAC address of `dev` in `ns`.
    fn mac(&self, ns: &str, dev: &str) -> String {
        let o = self.exec(ns, &["ip", "-j", "link", "show", "dev", dev]);
        let v: Value = serde_json::from_slice(&o.stdout).expect("ip -j output");
        v[0]["address"].as_str().expect("address").to_string()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Some(mut c) = self.router.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The count of drop reason `reason` in a JSON summary (0 when absent).
fn drop_count(summary: &Value, reason: &str) -> u64 {
    summary["drops"]
        .as_array()
        .expect("drops")
        .iter()
        .find(|d| d["reason"] == reason)
        .and_then(|d| d["count"].as_u64())
        .unwrap_or(0)
}

/// The JSON entry of interface `name`.
fn iface<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no interface {name} in {summary}"))
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// `"1,234"` → 1234.
fn parse_thousands(s: &str) -> u64 {
    s.trim()
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

/// A bigger receive buffer than `net.core.rmem_max` allows (we are root),
/// so a briefly descheduled receiver loses nothing to its own socket.
fn big_rcvbuf(sock: &UdpSocket) {
    nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::RcvBufForce, &(8 << 20))
        .expect("SO_RCVBUFFORCE");
}

#[test]
fn router_forwards_v4_v6_answers_ping_and_sends_time_exceeded() {
    if !is_root("router_forwards_v4_v6_answers_ping_and_sends_time_exceeded") {
        return;
    }
    let _serial = serial();
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
    // XDP_STATISTICS of the sockets are reported per interface.
    assert!(out.contains("XDP socket        : rx dropped"), "{out}");
    assert!(out.contains("ttl_exceeded"), "{out}");
    assert!(
        !t.xdp_attached("r0") && !t.xdp_attached("r1"),
        "XDP program left behind"
    );
}

/// Send `path` from A to B over TCP to `dst` (socat on both ends); B's
/// sha256 of what arrived and the transfer time.
fn tcp_transfer(t: &Topology, path: &str, listen: &str, connect: &str) -> (String, Duration) {
    let mut rx = Helper::spawn(
        Command::new("ip")
            .args(["netns", "exec", &t.b, "sh", "-c"])
            .arg(format!(
                "timeout 60 socat -u {listen},reuseaddr STDOUT | sha256sum"
            ))
            .stdout(Stdio::piped()),
    );
    let start = Instant::now();
    let o = t.exec(
        &t.a,
        &[
            "timeout",
            "60",
            "socat",
            "-u",
            &format!("FILE:{path}"),
            &format!("{connect},retry=50,interval=0.1"),
        ],
    );
    let took = start.elapsed();
    assert!(
        o.status.success(),
        "sender failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (out, ok) = rx.finish(Duration::from_secs(30));
    assert!(ok, "receiver failed: {out}");
    let hash = out
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    (hash, took)
}

#[test]
fn router_carries_200mb_tcp_v4_and_v6_intact() {
    if !is_root("router_carries_200mb_tcp_v4_and_v6_intact") {
        return;
    }
    let _serial = serial();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let file =
        TempFile(std::env::temp_dir().join(format!("xdpnet-rv-{}-{n}.bin", std::process::id())));
    let path = file.0.to_str().expect("utf-8 path").to_string();
    sh(&["sh", "-c", &format!("head -c 200M /dev/urandom > {path}")]);
    let o = Command::new("sha256sum")
        .arg(&path)
        .output()
        .expect("sha256sum");
    let want = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .expect("a hash")
        .to_string();
    let mut t = Topology::new();
    t.start_router(&["--workers", "1", "-i", "0", "--json"]);
    t.wait_forwarding();
    let mb = 200.0 * 1024.0 * 1024.0 / 1e6;
    for (family, listen, connect) in [
        ("IPv4", "TCP4-LISTEN:5001", "TCP4:198.18.1.2:5001"),
        ("IPv6", "TCP6-LISTEN:5002", "TCP6:[2001:2:0:1::2]:5002"),
    ] {
        let (got, took) = tcp_transfer(&t, &path, listen, connect);
        assert_eq!(got, want, "{family}: the file arrived changed");
        println!(
            "{family}: 200 MiB through the router in {:.2}s = {:.0} Mbit/s",
            took.as_secs_f64(),
            mb * 8.0 / took.as_secs_f64()
        );
    }
    let s = t.stop_router_json();
    // 2 x 200 MiB in segments of at most 1448 bytes: 290k data segments at
    // least went A -> B.
    assert!(num(&s["forwarded"]) > 290_000, "{s}");
    assert!(
        num(&iface(&s, "r1")["tx_bytes"]) > 2 * 200 * 1024 * 1024,
        "{s}"
    );
}

#[test]
fn router_forwards_udp_at_20k_pps_with_little_loss_and_counts_it() {
    if !is_root("router_forwards_udp_at_20k_pps_with_little_loss_and_counts_it") {
        return;
    }
    let _serial = serial();
    const PPS: u64 = 20_000;
    const TOTAL: u32 = 40_000; // 2 s
    let mut t = Topology::new();
    t.start_router(&["--workers", "1", "-i", "0", "--json"]);
    t.wait_forwarding();
    let done = AtomicBool::new(false);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (sent, got) = std::thread::scope(|s| {
        let receiver = s.spawn(|| {
            enter(&t.b);
            let sock = UdpSocket::bind("198.18.1.2:7000").expect("bind in B");
            big_rcvbuf(&sock);
            sock.set_read_timeout(Some(Duration::from_millis(300)))
                .expect("timeout");
            ready_tx.send(()).expect("ready");
            let mut seen = vec![false; TOTAL as usize];
            let mut got = 0u32;
            let mut buf = [0u8; 2048];
            loop {
                match sock.recv(&mut buf) {
                    Ok(n) if n >= 4 => {
                        let seq = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes"));
                        if let Some(slot) = seen.get_mut(seq as usize) {
                            got += u32::from(!*slot);
                            *slot = true;
                        }
                    }
                    Ok(_) => {}
                    Err(_) if done.load(Ordering::SeqCst) => break got,
                    Err(_) => {}
                }
            }
        });
        ready_rx.recv().expect("receiver ready");
        let sent = in_ns(&t.a, || {
            let sock = UdpSocket::bind("198.18.0.1:0").expect("bind in A");
            sock.connect("198.18.1.2:7000").expect("connect");
            let mut pkt = [0u8; 64];
            let start = Instant::now();
            let mut sent = 0u32;
            for seq in 0..TOTAL {
                if u64::from(seq) % (PPS / 1000) == 0 {
                    let due = start + Duration::from_micros(u64::from(seq) * 1_000_000 / PPS);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                pkt[..4].copy_from_slice(&seq.to_be_bytes());
                sent += u32::from(sock.send(&pkt).is_ok());
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "sent {sent} datagrams in {secs:.2}s ({:.0} pps)",
                f64::from(sent) / secs
            );
            sent
        });
        done.store(true, Ordering::SeqCst);
        (sent, receiver.join().expect("receiver"))
    });
    let loss = f64::from(sent - got) / f64::from(sent.max(1));
    println!(
        "UDP: {sent} sent, {got} received, loss {:.3}%",
        loss * 100.0
    );
    assert!(sent >= TOTAL * 99 / 100, "the sender itself failed: {sent}");
    assert!(loss < 0.05, "loss {:.2}% ({got} of {sent})", loss * 100.0);
    let s = t.stop_router_json();
    let fwd = num(&s["forwarded"]);
    println!(
        "router: forwarded {fwd}, r0 rx {}, r1 tx {}",
        iface(&s, "r0")["rx_packets"],
        iface(&s, "r1")["tx_packets"]
    );
    assert!(
        fwd >= u64::from(got),
        "forwarded {fwd} < received {got}: {s}"
    );
    assert!(num(&iface(&s, "r0")["rx_packets"]) >= u64::from(got), "{s}");
    assert!(num(&iface(&s, "r1")["tx_packets"]) >= u64::from(got), "{s}");
}

#[test]
fn router_sends_frag_needed_and_packet_too_big_for_a_smaller_egress_mtu() {
    if !is_root("router_sends_frag_needed_and_packet_too_big_for_a_smaller_egress_mtu") {
        return;
    }
    let _serial = serial();
    let mut t = Topology::with(Shape {
        b_mtu: Some(1280),
        ..Shape::default()
    });
    t.start_router(&["--workers", "1", "-i", "0", "--json"]);
    t.wait_forwarding();
    let a = t.a.clone();
    // Fits: 1200 + 28 = 1228 bytes.
    let o = t.ping_pmtu(&a, false, "do", 1200, "198.18.1.2");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // 1428 bytes with DF: fragmentation needed, next-hop MTU 1280, from the
    // router's address on A's side.
    let o = t.ping_pmtu(&a, false, "do", 1400, "198.18.1.2");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("From 198.18.0.254")
            && out.contains("Frag needed")
            && out.contains("mtu = 1280"),
        "{out}"
    );
    // A learned the path MTU from it.
    let o = t.exec(&a, &["ip", "route", "get", "198.18.1.2"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("mtu 1280"));
    // Without DF the router fragments, and B's answer (fragmented by B)
    // comes back.
    let o = t.ping_pmtu(&a, false, "dont", 1400, "198.18.1.2");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // IPv6: packet too big (routers never fragment).
    let o = t.ping_pmtu(&a, true, "do", 1200, "2001:2:0:1::2");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let o = t.ping_pmtu(&a, true, "do", 1400, "2001:2:0:1::2");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("From 2001:2::fe")
            && out.contains("Packet too big")
            && out.contains("mtu=1280"),
        "{out}"
    );
    let s = t.stop_router_json();
    assert!(drop_count(&s, "mtu_exceeded") >= 2, "{s}");
}

#[test]
fn router_two_workers_serve_both_queues_of_a_two_queue_veth() {
    if !is_root("router_two_workers_serve_both_queues_of_a_two_queue_veth") {
        return;
    }
    let _serial = serial();
    let mut t = Topology::with(Shape {
        queues: 2,
        ..Shape::default()
    });
    t.start_router(&["--workers", "2", "-i", "0", "--json"]);
    t.wait_forwarding();
    // 32 flows (source ports): a0 picks a tx queue per flow by hash, and a
    // veth delivers on the peer's rx queue of the same number, so both of
    // r0's queues see traffic (all on one queue: chance 2^-31).
    const FLOWS: u16 = 32;
    const EACH: u32 = 300;
    let received_before = t.rx_packets(&t.b, "b0");
    in_ns(&t.a, || {
        let socks: Vec<UdpSocket> = (0..FLOWS)
            .map(|i| {
                let s = UdpSocket::bind(("198.18.0.1", 41000 + i)).expect("bind in A");
                s.connect("198.18.1.2:9").expect("connect");
                s
            })
            .collect();
        for round in 0..EACH {
            for s in &socks {
                let _ = s.send(&round.to_be_bytes());
            }
            // Paced (160 frames, then a pause): a burst larger than the
            // veth's 256-frame rings per queue is lost whenever this
            // shared host deschedules the router's core for a few ms.
            if round % 5 == 4 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    // The flows are forwarded (B's own counter).
    let deadline = Instant::now() + Duration::from_secs(5);
    let want = u64::from(FLOWS) * u64::from(EACH) * 95 / 100;
    while t.rx_packets(&t.b, "b0") - received_before < want {
        assert!(
            Instant::now() < deadline,
            "flows not forwarded to B: {} of {want} wanted",
            t.rx_packets(&t.b, "b0") - received_before
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t.wait_ping(&t.a, "198.18.1.2");
    let s = t.stop_router_json();
    let workers = s["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 2, "{s}");
    for w in workers {
        let (rx, tx) = (num(&w["rx_packets"]), num(&w["tx_packets"]));
        println!("worker {} ({}): rx {rx}, tx {tx}", w["worker"], w["queues"]);
        assert!(rx > 0 && tx > 0, "an idle worker: {w}");
        assert!(
            num(&w["rx_packets"]) > u64::from(FLOWS) * u64::from(EACH) / 32,
            "worker {} got almost nothing: {w}",
            w["worker"]
        );
        assert_eq!(w["umem"]["frames_total"], w["umem"]["frames_free"], "{w}");
    }
    let qs: Vec<&Value> = workers.iter().map(|w| &w["queues"]).collect();
    assert_ne!(qs[0], qs[1], "{s}");
    t.assert_no_xdp_anywhere();
}

/// Raw frames written to a0 (so they reach r0): counts per kind, then random
/// ones. Argument 1: r0's MAC.
const GARBAGE_PY: &str = r#"
import random, socket, struct, sys
N = int(sys.argv[2])
dst = bytes.fromhex(sys.argv[1].replace(':', ''))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('a0', 0))
src = s.getsockname()[4]
def eth(t, payload): return dst + src + struct.pack('!H', t) + payload
def csum(b):
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
def ipv4(payload, bad):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 1, 0x4000, 64, 17, 0,
                    bytes([198, 18, 0, 1]), bytes([198, 18, 1, 2]))
    c = csum(h) ^ (0x5555 if bad else 0)
    return h[:10] + struct.pack('!H', c) + h[12:] + payload
udp = struct.pack('!HHHH', 1234, 9, 8, 0)
kinds = [
    eth(0x8100, b''),                  # VLAN tag cut off: ethernet_malformed
    eth(0x0800, b'\x45\x00\x00'),      # IPv4 header cut off: ipv4_malformed
    eth(0x0800, ipv4(udp, True)),      # ipv4_bad_checksum
    eth(0x86dd, b'\x60\x00\x00\x00'),  # IPv6 header cut off: ipv6_malformed
]
for f in kinds:
    for _ in range(N): s.send(f)
r = random.Random(7)
for _ in range(3000):
    t = r.choice([0x0800, 0x86dd, 0x0806, 0x8100, r.randrange(0x600, 0x10000)])
    s.send(eth(t, bytes(r.getrandbits(8) for _ in range(r.randrange(0, 1400)))))
"#;

#[test]
fn router_survives_garbage_frames_and_counts_them() {
    if !is_root("router_survives_garbage_frames_and_counts_them") {
        return;
    }
    let _serial = serial();
    const N: u64 = 100;
    let mut t = Topology::new();
    t.start_router(&["--workers", "1", "-i", "0", "--json"]);
    t.wait_forwarding();
    let mac = t.mac(&t.r, "r0");
    let o = t.exec(&t.a, &["python3", "-c", GARBAGE_PY, &mac, &N.to_string()]);
    assert!(
        o.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(t.router_exited().is_none(), "the router died on garbage");
    // Still forwarding, both families.
    let a = t.a.clone();
    for dst in ["198.18.1.2", "2001:2:0:1::2"] {
        let o = t.exec(&a, &["ping", "-c", "3", "-i", "0.2", "-W", "2", dst]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    let s = t.stop_router_json();
    println!("drops: {}", s["drops"]);
    for reason in [
        "ethernet_malformed",
        "ipv4_malformed",
        "ipv4_bad_checksum",
        "ipv6_malformed",
    ] {
        assert!(drop_count(&s, reason) >= N, "{reason}: {}", s["drops"]);
    }
    // All of it reached the router (policy `all` drops only frames shorter
    // than an Ethernet header, which a veth cannot carry).
    assert!(num(&iface(&s, "r0")["rx_packets"]) >= 4 * N + 3000, "{s}");
}

#[test]
fn router_returns_every_umem_frame_after_a_million_packets_and_detaches() {
    if !is_root("router_returns_every_umem_frame_after_a_million_packets_and_detaches") {
        return;
    }
    let _serial = serial();
    const WANT: u64 = 1_000_000;
    let mut t = Topology::new();
    t.start_router(&["--workers", "1", "-i", "0"]);
    t.wait_forwarding();
    let before = t.rx_packets(&t.b, "b0");
    let start = Instant::now();
    let mut sent = 0u64;
    // Flood A -> B in bursts until B has seen a million forwarded packets.
    while t.rx_packets(&t.b, "b0") - before < WANT {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "B saw only {} packets after {sent} sent",
            t.rx_packets(&t.b, "b0") - before
        );
        assert!(t.router_exited().is_none(), "router died under load");
        sent += in_ns(&t.a, || {
            let sock = UdpSocket::bind("198.18.0.1:0").expect("bind in A");
            sock.connect("198.18.1.2:9").expect("connect");
            let pkt = [0x5au8; 18];
            (0..250_000u64)
                .map(|_| u64::from(sock.send(&pkt).is_ok()))
                .sum::<u64>()
        });
    }
    let secs = start.elapsed().as_secs_f64();
    let got = t.rx_packets(&t.b, "b0") - before;
    println!(
        "flood: {sent} sent, {got} forwarded to B in {secs:.1}s ({:.0} pps)",
        got as f64 / secs
    );
    let (out, err, ok) = t.stop_router();
    assert!(ok, "router exit status after SIGINT: {err}\n{out}");
    let forwarded = out
        .lines()
        .find_map(|l| l.strip_prefix("Packets forwarded   :"))
        .map(parse_thousands)
        .unwrap_or_else(|| panic!("no forwarded count: {out}"));
    assert!(forwarded >= WANT, "{out}");
    // "  UMEM frames       : 8,192 total, 8,192 free"
    let umem: Vec<(u64, u64)> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("UMEM frames"))
        .map(|l| {
            let l = l.trim_start_matches([' ', ':']);
            let (total, rest) = l.split_once(" total, ").expect("total");
            let free = rest.split(" free").next().expect("free");
            (parse_thousands(total), parse_thousands(free))
        })
        .collect();
    assert_eq!(umem.len(), 1, "one worker, one UMEM line: {out}");
    for (total, free) in umem {
        assert!(total > 0, "{out}");
        assert_eq!(total, free, "UMEM frames not returned: {out}");
    }
    t.assert_no_xdp_anywhere();
}
