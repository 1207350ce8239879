//! `xdpnet echo` end to end over veth, with the Linux kernel as the client:
//!
//! ```text
//!  ns A (kernel client)             ns E (xdpnet echo, one worker)
//!  a0 198.18.0.1/24, 2001:2::1/64  ───  e0 198.18.0.2/24, 2001:2::2/64
//! ```
//!
//! UDP echo (both families), a 20 MB TCP transfer echoed back (sha256
//! compared), 50 concurrent connections of 100 KB each, and the 20 MB
//! transfer with 2 % of the frames reaching e0 dropped by the steering
//! program (`--drop-probability`). The
//! clients are python3 scripts run in ns A; each prints one JSON line.
//! Throughput is printed (run with `--nocapture` to see it).
//!
//! Root only; without root (or python3) each test prints `SKIP:` and
//! returns. Namespaces are unique per test and removed by a guard.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_xdpnet");
static NEXT: AtomicU32 = AtomicU32::new(0);

const PORT: &str = "7007";

fn ready(test: &str) -> bool {
    if !nix::unistd::Uid::effective().is_root() {
        println!("SKIP: {test}: needs root to create network namespaces and attach XDP");
        return false;
    }
    if Command::new("python3").arg("-V").output().is_err() {
        println!("SKIP: {test}: needs python3 for the kernel-side clients");
        return false;
    }
    true
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
    e: String,
    echo: Option<Child>,
}

impl Topology {
    fn new() -> Topology {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = format!("xdpnet-ev-{}-{n}", std::process::id());
        let t = Topology {
            a: format!("{base}-a"),
            e: format!("{base}-e"),
            echo: None,
        };
        for ns in [&t.a, &t.e] {
            sh(&["ip", "netns", "add", ns]);
        }
        sh(&[
            "ip", "-n", &t.e, "link", "add", "e0", "type", "veth", "peer", "name", "a0", "netns",
            &t.a,
        ]);
        for (ns, dev) in [(&t.e, "e0"), (&t.a, "a0"), (&t.a, "lo"), (&t.e, "lo")] {
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
        // The kernel client sends plain frames: no TSO/GSO super-packets and
        // no partial checksums cross the veth into XDP.
        let _ = t.exec(
            &t.a.clone(),
            &[
                "ethtool", "-K", "a0", "tx", "off", "tso", "off", "gso", "off",
            ],
        );
        t
    }

    fn start_echo(&mut self, extra: &[&str]) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.e, BIN, "echo"])
            .args(["--iface", "e0=198.18.0.2/24,2001:2::2/64"])
            .args(["--port", PORT, "--workers", "1", "-i", "1"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.echo = Some(cmd.spawn().expect("spawn xdpnet echo"));
    }

    fn exec(&self, ns: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .expect("spawn")
    }

    fn wait_ping(&self, dst: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let o = self.exec(&self.a, &["ping", "-c", "1", "-W", "1", dst]);
            if o.status.success() {
                return;
            }
            if let Some(pid) = self.echo.as_ref().map(|c| c.id()) {
                assert!(
                    std::path::Path::new(&format!("/proc/{pid}")).exists(),
                    "xdpnet echo exited early"
                );
            }
            assert!(Instant::now() < deadline, "no answer from {dst}");
        }
    }

    /// Run a python3 client in ns A; returns its last stdout line.
    fn client(&self, script: &str, args: &[&str]) -> String {
        let mut a = vec!["python3", "-c", script];
        a.extend_from_slice(args);
        let o = self.exec(&self.a, &a);
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            o.status.success(),
            "client failed: {out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out.lines().last().unwrap_or_default().to_string()
    }

    fn stop_echo(&mut self) -> (String, String, bool) {
        let mut child = self.echo.take().expect("echo running");
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .output();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "echo did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(50));
        };
        let (mut out, mut err) = (String::new(), String::new());
        let _ = child.stdout.take().map(|mut s| s.read_to_string(&mut out));
        let _ = child.stderr.take().map(|mut s| s.read_to_string(&mut err));
        (out, err, status.success())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Some(mut c) = self.echo.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.a, &self.e] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// A field of the client's one-line JSON (numbers and booleans only).
fn field(json: &str, key: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    v[key].to_string()
}

const UDP_CLIENT: &str = r#"
import json, os, socket, sys
ok = 0
for fam, dst in ((socket.AF_INET, "198.18.0.2"), (socket.AF_INET6, "2001:2::2")):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    for size in (1, 64, 512, 1400, 1000, 7):
        msg = os.urandom(size)
        for attempt in range(10):
            s.sendto(msg, (dst, int(sys.argv[1])))
            try:
                data, src = s.recvfrom(65536)
            except socket.timeout:
                continue
            if data == msg and src[0] == dst:
                ok += 1
                break
s.close()
print(json.dumps({"ok": ok}))
"#;

#[test]
fn udp_echo_v4_v6() {
    if !ready("udp_echo_v4_v6") {
        return;
    }
    let mut t = Topology::new();
    t.start_echo(&[]);
    t.wait_ping("198.18.0.2");
    let r = t.client(UDP_CLIENT, &[PORT]);
    assert_eq!(field(&r, "ok"), "12", "{r}");
    let (out, err, ok) = t.stop_echo();
    assert!(ok, "exit status: {err}");
    assert!(out.contains("--- summary ---"), "{out}");
    assert!(out.contains("UDP datagrams       : 12 in, 12 out"), "{out}");
}

/// One connection: send N bytes (a writer thread), read the echo back
/// concurrently, compare sha256; the server must close after our FIN.
const TCP_BULK: &str = r#"
import hashlib, json, os, socket, sys, threading, time
dst, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = os.urandom(1 << 20) * (total >> 20) + os.urandom(total % (1 << 20))
s = socket.create_connection((dst, port), timeout=60)
def writer():
    view = memoryview(data)
    while view:
        n = s.send(view[:1 << 16])
        view = view[n:]
    s.shutdown(socket.SHUT_WR)
t0 = time.time()
w = threading.Thread(target=writer)
w.start()
h = hashlib.sha256()
got = 0
while True:
    b = s.recv(1 << 18)
    if not b:
        break
    h.update(b)
    got += len(b)
secs = time.time() - t0
w.join()
s.close()
print(json.dumps({"bytes": got, "equal": h.hexdigest() == hashlib.sha256(data).hexdigest(),
                  "secs": round(secs, 3), "mbit_s": round(total * 8 / secs / 1e6, 1)}))
"#;

fn bulk(t: &Topology, dst: &str, total: usize) -> String {
    let r = t.client(TCP_BULK, &[dst, PORT, &total.to_string()]);
    assert_eq!(field(&r, "bytes"), total.to_string(), "{r}");
    assert_eq!(field(&r, "equal"), "true", "{r}");
    r
}

#[test]
fn tcp_echo_20mb_sha256() {
    if !ready("tcp_echo_20mb_sha256") {
        return;
    }
    let mut t = Topology::new();
    t.start_echo(&[]);
    t.wait_ping("198.18.0.2");
    let r = bulk(&t, "198.18.0.2", 20 << 20);
    println!("tcp 20 MB echo over IPv4: {r}");
    let r6 = bulk(&t, "2001:2::2", 4 << 20);
    println!("tcp 4 MB echo over IPv6: {r6}");
    let (out, err, ok) = t.stop_echo();
    assert!(ok, "exit status: {err}");
    println!("{out}");
    assert!(
        out.contains("TCP connections     : 2 accepted, 0 active, 2 closed (0 failed)"),
        "{out}"
    );
}

const TCP_MANY: &str = r#"
import hashlib, json, os, socket, sys, threading, time
dst, port, conns, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
results = [None] * conns
def one(i):
    try:
        data = os.urandom(size)
        s = socket.create_connection((dst, port), timeout=60)
        def writer():
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        w = threading.Thread(target=writer)
        w.start()
        buf = bytearray()
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            buf += b
        w.join()
        s.close()
        results[i] = bytes(buf) == data
    except Exception as e:
        results[i] = repr(e)
t0 = time.time()
ts = [threading.Thread(target=one, args=(i,)) for i in range(conns)]
for t in ts:
    t.start()
for t in ts:
    t.join()
secs = time.time() - t0
good = sum(1 for r in results if r is True)
bad = [r for r in results if r is not True][:3]
print(json.dumps({"good": good, "secs": round(secs, 3),
                  "mbit_s": round(conns * size * 8 / secs / 1e6, 1), "errors": str(bad)}))
"#;

#[test]
fn tcp_echo_50_concurrent_100kb() {
    if !ready("tcp_echo_50_concurrent_100kb") {
        return;
    }
    let mut t = Topology::new();
    t.start_echo(&[]);
    t.wait_ping("198.18.0.2");
    let r = t.client(TCP_MANY, &["198.18.0.2", PORT, "50", "102400"]);
    println!("50 concurrent connections x 100 KB: {r}");
    assert_eq!(field(&r, "good"), "50", "{r}");
    let (out, err, ok) = t.stop_echo();
    assert!(ok, "exit status: {err}");
    println!("{out}");
    assert!(
        out.contains("TCP connections     : 50 accepted, 0 active, 50 closed (0 failed)"),
        "{out}"
    );
    assert!(out.contains("5,120,000 in, 5,120,000 out"), "{out}");
}

#[test]
fn tcp_echo_20mb_with_2pct_loss() {
    if !ready("tcp_echo_20mb_with_2pct_loss") {
        return;
    }
    let mut t = Topology::new();
    // 2 % of the frames reaching e0 are dropped by the steering program.
    t.start_echo(&["--drop-probability", "0.02"]);
    t.wait_ping("198.18.0.2");
    let r = bulk(&t, "198.18.0.2", 20 << 20);
    println!("tcp 20 MB echo with 2 % loss (client to echo): {r}");
    let (out, err, ok) = t.stop_echo();
    assert!(ok, "exit status: {err}");
    println!("{out}");
    assert!(
        out.contains("1 accepted, 0 active, 1 closed (0 failed)"),
        "{out}"
    );
    let random = out
        .split("(random ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(random > 0, "no frame dropped at random: {out}");
}

/// No root needed: the command exists, documents its flags, and refuses a
/// port of 0 before touching the host.
#[test]
fn echo_cli_help_and_bad_port() {
    let o = Command::new(BIN).args(["echo", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{help}");
    for flag in ["--iface", "--port", "--workers", "--cores", "--json", "-d"] {
        assert!(help.contains(flag), "{flag} missing: {help}");
    }
    let o = Command::new(BIN)
        .args(["echo", "--iface", "lo=198.18.0.2/24", "--port", "0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--port"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
