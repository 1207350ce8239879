//! `xdpnet pktgen` → veth → `xdpnet sink`, each in its own namespace:
//!
//! ```text
//!  ns G (xdpnet pktgen)                ns S (xdpnet sink)
//!  g0 198.18.0.1 / 2001:2::1   ───   s0 198.18.0.2 / 2001:2::2
//! ```
//!
//! Root only; without root each test prints `SKIP:` and returns. The
//! namespaces are unique per test and removed by a guard even when the
//! test fails. Run in release mode for the rate test:
//! `cargo test --release --test pktgen_sink`.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

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

struct Pair {
    g: String,
    s: String,
    sink_mac: String,
    sink: Option<Child>,
}

impl Pair {
    fn new() -> Pair {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = format!("xdpnet-pg-{}-{n}", std::process::id());
        let mut p = Pair {
            g: format!("{base}-g"),
            s: format!("{base}-s"),
            sink_mac: String::new(),
            sink: None,
        };
        sh(&["ip", "netns", "add", &p.g]);
        sh(&["ip", "netns", "add", &p.s]);
        sh(&[
            "ip", "-n", &p.g, "link", "add", "g0", "type", "veth", "peer", "name", "s0", "netns",
            &p.s,
        ]);
        for (ns, dev, addr) in [(&p.g, "g0", "198.18.0.1/24"), (&p.s, "s0", "198.18.0.2/24")] {
            sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        let o = p.exec(&p.s, &["cat", "/sys/class/net/s0/address"]);
        p.sink_mac = String::from_utf8_lossy(&o.stdout).trim().to_string();
        p
    }

    fn exec(&self, ns: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .expect("spawn")
    }

    /// Start the sink and wait for its start line (socket bound, program
    /// attached).
    fn start_sink(&mut self) {
        let mut c = Command::new("ip")
            .args(["netns", "exec", &self.s, BIN, "sink", "s0", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the sink");
        let mut err = BufReader::new(c.stderr.take().expect("stderr"));
        let mut line = String::new();
        err.read_line(&mut line).expect("read the sink's stderr");
        assert!(line.starts_with("Receiving on s0"), "sink: {line}");
        // Keep draining stderr so the sink never blocks on it.
        std::thread::spawn(move || drain(err));
        self.sink = Some(c);
    }

    /// SIGINT the sink and parse its JSON.
    fn stop_sink(&mut self) -> Value {
        // Let the last frames arrive.
        std::thread::sleep(Duration::from_millis(500));
        let mut child = self.sink.take().expect("sink running");
        sh(&["kill", "-INT", &child.id().to_string()]);
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "sink did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        let _ = child.stdout.take().map(|mut s| s.read_to_string(&mut out));
        assert!(status.success(), "sink exit status {status}: {out}");
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("sink JSON: {e}: {out}"))
    }

    fn pktgen(&self, extra: &[&str]) -> Output {
        let mut args = vec![
            BIN,
            "pktgen",
            "g0",
            "--dst-mac",
            &self.sink_mac,
            "--src-ip",
            "198.18.0.1",
            "--dst-ip",
            "198.18.0.2",
        ];
        args.extend_from_slice(extra);
        self.exec(&self.g, &args)
    }
}

fn drain(mut r: BufReader<ChildStderr>) {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
}

impl Drop for Pair {
    fn drop(&mut self) {
        if let Some(mut c) = self.sink.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.g, &self.s] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn json_of(o: &Output) -> Value {
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "pktgen failed: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("pktgen JSON: {e}: {out}"))
}

#[test]
fn ten_thousand_stamped_packets_arrive_in_order_with_latency() {
    if !is_root("ten_thousand_stamped_packets_arrive_in_order_with_latency") {
        return;
    }
    let mut p = Pair::new();
    p.start_sink();
    let g = json_of(&p.pktgen(&["-n", "10000", "-r", "10k", "--flows", "4", "--json"]));
    assert_eq!(g["tx_packets"], 10000, "{g}");
    let s = p.stop_sink();
    println!("pktgen: {g}\nsink: {s}");
    assert_eq!(s["stamped"], 10000, "{s}");
    assert_eq!(s["flows"], 4, "{s}");
    assert_eq!(s["lost"], 0, "{s}");
    assert_eq!(s["reordered"], 0, "{s}");
    assert_eq!(s["in_order"], true, "{s}");
    assert_eq!(s["latency"]["samples"], 10000, "{s}");
    for (ns, dev) in [(&p.g, "g0"), (&p.s, "s0")] {
        let o = p.exec(ns, &["ip", "-d", "link", "show", "dev", dev]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            !out.contains("prog/xdp"),
            "XDP program left on {dev}: {out}"
        );
    }
    let p50 = s["latency"]["p50_ns"].as_u64().expect("p50");
    let max = s["latency"]["max_ns"].as_u64().expect("max");
    assert!(p50 > 0 && p50 <= max, "{s}");
}

#[test]
fn ipv6_frames_are_tracked_too() {
    if !is_root("ipv6_frames_are_tracked_too") {
        return;
    }
    let mut p = Pair::new();
    p.start_sink();
    let o = p.exec(
        &p.g,
        &[
            BIN,
            "pktgen",
            "g0",
            "--dst-mac",
            &p.sink_mac,
            "--src-ip",
            "2001:2::1",
            "--dst-ip",
            "2001:2::2",
            "-s",
            "128",
            "-n",
            "2000",
            "-r",
            "20k",
            "--json",
        ],
    );
    assert_eq!(json_of(&o)["family"], "ipv6");
    let s = p.stop_sink();
    assert_eq!(s["stamped"], 2000, "{s}");
    assert_eq!(s["lost"], 0, "{s}");
}

#[test]
fn rate_limit_holds_within_two_percent() {
    if !is_root("rate_limit_holds_within_two_percent") {
        return;
    }
    let mut p = Pair::new();
    p.start_sink();
    let g = json_of(&p.pktgen(&["-r", "10k", "-d", "3", "--json"]));
    let s = p.stop_sink();
    println!("pktgen: {g}\nsink: {s}");
    let pps = g["tx_pps"].as_f64().expect("tx_pps");
    assert!((pps - 10_000.0).abs() <= 200.0, "generator rate {pps}: {g}");
    let sent = g["tx_packets"].as_u64().expect("tx_packets");
    let got = s["stamped"].as_u64().expect("stamped");
    assert!(
        (got as f64 - 30_000.0).abs() <= 600.0,
        "sink counted {got} of 30000 asked ({sent} sent): {s}"
    );
    assert_eq!(got, sent, "{s}");
}

#[test]
fn bad_flags_give_clear_errors() {
    if !is_root("bad_flags_give_clear_errors") {
        return;
    }
    let p = Pair::new();
    let cases: [(&[&str], &str); 4] = [
        (&["-s", "59"], "use -s 60 or more"),
        (&["-s", "1515"], "60..=1514"),
        (&["-r", "5furlongs"], "1Gbit"),
        (&["--queues", "0-1"], "one queue"),
    ];
    for (extra, want) in cases {
        let o = p.pktgen(extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra:?} succeeded");
        assert!(err.contains(want), "{extra:?}: {err}");
    }
    let o = p.exec(
        &p.g,
        &[
            BIN,
            "pktgen",
            "nope0",
            "--dst-mac",
            "02:00:00:00:00:02",
            "--src-ip",
            "198.18.0.1",
            "--dst-ip",
            "198.18.0.2",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no interface `nope0`") && err.contains("ip link"),
        "{err}"
    );
    let o = p.exec(
        &p.g,
        &[
            BIN,
            "pktgen",
            "g0",
            "--dst-mac",
            &p.sink_mac,
            "--src-ip",
            "2001:2::1",
            "--dst-ip",
            "198.18.0.2",
        ],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("different families"));
    let o = p.exec(&p.s, &[BIN, "sink", "nope0", "-d", "1"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no interface `nope0`"));
}
