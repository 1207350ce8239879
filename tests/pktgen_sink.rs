//! `xdpnet pktgen` → veth → `xdpnet sink`, each in its own namespace:
//!
//! ```text
//!  ns G (xdpnet pktgen)                ns S (xdpnet sink)
//!  g0 198.18.0.1 / 2001:2::1   ───   s0 198.18.0.2 / 2001:2::2
//! ```
//!
//! Both engines (`--engine xsk`, `--engine xdp-live`) are checked against
//! the sink; `--gateway` against the kernel of the peer namespace (it
//! answers ARP/NDP and counts the datagrams in its UDP NoPorts counter);
//! `--queues 0,1` over a 2-queue veth against a 2-queue sink.
//!
//! Root only; without root each test prints `SKIP:` and returns. The
//! namespaces are unique per test and removed by a guard even when the
//! test fails. Run in release mode for the rate test:
//! `cargo test --release --test pktgen_sink`.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod root_common;

use root_common::{addresses, is_root, link_up, netns, serial, sh, veth, NetNs};

const BIN: &str = env!("CARGO_BIN_EXE_xdpnet");
// The tests run one at a time (`serial()`): each has a generator and a
// sink spinning on a 2-vCPU machine, and the rate and exact-count checks
// need the CPUs.

struct Pair {
    g: String,
    s: String,
    sink_mac: String,
    sink: Option<Child>,
    _guards: [NetNs; 2],
}

impl Pair {
    fn new() -> Pair {
        Pair::with_queues(1)
    }

    /// A veth pair with `n` rx and tx queues on each end.
    fn with_queues(queues: u32) -> Pair {
        let guards = [netns("xdpnet-pg-g"), netns("xdpnet-pg-s")];
        let mut p = Pair {
            g: guards[0].name().to_string(),
            s: guards[1].name().to_string(),
            sink_mac: String::new(),
            sink: None,
            _guards: guards,
        };
        veth(&p.g, "g0", &p.s, "s0", queues);
        addresses(&p.g, "g0", "198.18.0.1/24", Some("2001:2::1/64"));
        addresses(&p.s, "s0", "198.18.0.2/24", Some("2001:2::2/64"));
        link_up(&p.g, "g0");
        link_up(&p.s, "s0");
        // The kernel peer must not see unfinished checksums (PREAMBLE).
        let o = p.exec(&p.s, &["ethtool", "-K", "s0", "tx", "off"]);
        assert!(
            o.status.success(),
            "ethtool: {}",
            String::from_utf8_lossy(&o.stderr)
        );
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
        self.start_sink_on("0");
    }

    /// Start the sink on the queues in `queues` (e.g. `0-1`).
    fn start_sink_on(&mut self, queues: &str) {
        let mut c = Command::new("ip")
            .args([
                "netns", "exec", &self.s, BIN, "sink", "s0", "--json", "-q", queues,
            ])
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
    let _serial = serial();
    let mut p = Pair::new();
    p.start_sink();
    let g = json_of(&p.pktgen(&[
        "-n", "10000", "-r", "10k", "--flows", "4", "--engine", "xsk", "--json",
    ]));
    assert_eq!(g["tx_packets"], 10000, "{g}");
    assert_eq!(g["engine"], "xsk", "{g}");
    let s = p.stop_sink();
    println!("pktgen: {g}\nsink: {s}");
    assert_eq!(s["stamped"], 10000, "{s}");
    assert_eq!(s["bad_checksum"], 0, "{s}");
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
    let _serial = serial();
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
    // xdp-live (the default) rewrites the UDP checksum in BPF: IPv6
    // receivers must get a valid one (RFC 8200 8.1).
    assert_eq!(s["bad_checksum"], 0, "{s}");
}

#[test]
fn rate_limit_holds_within_two_percent() {
    if !is_root("rate_limit_holds_within_two_percent") {
        return;
    }
    let _serial = serial();
    for engine in ["xsk", "xdp-live"] {
        let mut p = Pair::new();
        p.start_sink();
        let g = json_of(&p.pktgen(&["-r", "10k", "-d", "3", "--engine", engine, "--json"]));
        let s = p.stop_sink();
        println!("{engine}: pktgen: {g}\nsink: {s}");
        let pps = g["tx_pps"].as_f64().expect("tx_pps");
        assert!(
            (pps - 10_000.0).abs() <= 200.0,
            "{engine}: generator rate {pps}: {g}"
        );
        let sent = g["tx_packets"].as_u64().expect("tx_packets");
        let got = s["stamped"].as_u64().expect("stamped");
        assert!(
            (got as f64 - 30_000.0).abs() <= 600.0,
            "{engine}: sink counted {got} of 30000 asked ({sent} sent): {s}"
        );
        assert_eq!(got, sent, "{engine}: {s}");
    }
}

#[test]
fn xdp_live_engine_delivers_exactly_n_with_stamps() {
    if !is_root("xdp_live_engine_delivers_exactly_n_with_stamps") {
        return;
    }
    let _serial = serial();
    let mut p = Pair::new();
    p.start_sink();
    let g = json_of(&p.pktgen(&[
        "-n", "10000", "-r", "20k", "--flows", "4", "--engine", "xdp-live", "--json",
    ]));
    let s = p.stop_sink();
    println!("pktgen: {g}\nsink: {s}");
    assert_eq!(g["engine"], "xdp-live", "{g}");
    assert_eq!(g["tx_packets"], 10000, "{g}");
    assert_eq!(g["aborted"], 0, "{g}");
    assert_eq!(s["stamped"], 10000, "{s}");
    assert_eq!(s["bad_checksum"], 0, "{s}");
    assert_eq!(s["flows"], 4, "{s}");
    assert_eq!(s["lost"], 0, "{s}");
    assert_eq!(s["reordered"], 0, "{s}");
    assert_eq!(s["latency"]["samples"], 10000, "{s}");
    let p50 = s["latency"]["p50_ns"].as_u64().expect("p50");
    assert!(p50 > 0, "{s}");
}

#[test]
fn two_queues_two_threads_deliver_exactly_n() {
    if !is_root("two_queues_two_threads_deliver_exactly_n") {
        return;
    }
    let _serial = serial();
    for engine in ["xsk", "xdp-live"] {
        let mut p = Pair::with_queues(2);
        p.start_sink_on("0-1");
        let g = json_of(&p.pktgen(&[
            "-n", "20000", "-r", "20k", "--flows", "4", "--queues", "0,1", "--cores", "0,1",
            "--engine", engine, "--json",
        ]));
        let s = p.stop_sink();
        println!("{engine}: pktgen: {g}\nsink: {s}");
        assert_eq!(g["tx_packets"], 20000, "{g}");
        let per: Vec<u64> = g["per_queue"]
            .as_array()
            .expect("per_queue")
            .iter()
            .map(|q| q["tx_packets"].as_u64().expect("tx_packets"))
            .collect();
        assert_eq!(per, [10000, 10000], "{engine}: {g}");
        assert_eq!(s["stamped"], 20000, "{engine}: {s}");
        assert_eq!(s["flows"], 4, "{engine}: {s}");
        assert_eq!(s["lost"], 0, "{engine}: {s}");
        // Each flow lives on one thread: its sequence stays in order.
        assert_eq!(s["reordered"], 0, "{engine}: {s}");
        let rx: Vec<u64> = s["per_queue_rx_packets"]
            .as_array()
            .expect("per queue")
            .iter()
            .map(|v| v.as_u64().expect("count"))
            .collect();
        assert!(rx.len() == 2 && rx.iter().all(|&n| n > 0), "{engine}: {s}");
    }
}

/// `name`'s value in a `/proc/net/snmp`-style table (`Udp: … NoPorts …`)
/// or a `/proc/net/snmp6` line (`Udp6NoPorts N`).
fn snmp(p: &Pair, file: &str, table: &str, name: &str) -> u64 {
    let o = p.exec(&p.s, &["cat", file]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    if let Some(v) = text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some(name)).then(|| w.next()).flatten()
    }) {
        return v.parse().expect("counter");
    }
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{table}:")))
        .collect();
    let names: Vec<&str> = rows[0].split_whitespace().collect();
    let values: Vec<&str> = rows[1].split_whitespace().collect();
    let i = names.iter().position(|n| *n == name).expect("column");
    values[i].parse().expect("counter")
}

#[test]
fn gateway_resolves_the_kernel_peer_by_arp_and_ndp() {
    if !is_root("gateway_resolves_the_kernel_peer_by_arp_and_ndp") {
        return;
    }
    let _serial = serial();
    let p = Pair::new();
    for (src, gw, file, table, counter) in [
        (
            "198.18.0.1",
            "198.18.0.2",
            "/proc/net/snmp",
            "Udp",
            "NoPorts",
        ),
        (
            "2001:2::1",
            "2001:2::2",
            "/proc/net/snmp6",
            "",
            "Udp6NoPorts",
        ),
    ] {
        let before = snmp(&p, file, table, counter);
        // xsk: the kernel peer has no XDP program, so veth would drop
        // xdp-live frames (ndo_xdp_xmit) before its stack sees them.
        let o = p.exec(
            &p.g,
            &[
                BIN,
                "pktgen",
                "g0",
                "--gateway",
                gw,
                "--src-ip",
                src,
                "--dst-ip",
                gw,
                "-s",
                "128",
                "-n",
                "1000",
                "-r",
                "20k",
                "--engine",
                "xsk",
                "--json",
            ],
        );
        let g = json_of(&o);
        assert_eq!(g["dst_mac"], p.sink_mac.as_str(), "{g}");
        assert_eq!(g["gateway"], gw, "{g}");
        assert_eq!(g["tx_packets"], 1000, "{g}");
        // The kernel counts each valid datagram to the closed port 9.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = snmp(&p, file, table, counter) - before;
            if got == 1000 {
                break;
            }
            assert!(
                got < 1000 && Instant::now() < deadline,
                "{counter}: {got} of 1000 via {gw}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Nobody has 198.18.0.9: three tries, then the cause.
    let o = p.exec(
        &p.g,
        &[
            BIN,
            "pktgen",
            "g0",
            "--gateway",
            "198.18.0.9",
            "--src-ip",
            "198.18.0.1",
            "--dst-ip",
            "198.18.0.9",
            "-n",
            "10",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("no ARP reply from 198.18.0.9 on g0 after 3 tries")
            && err.contains("check the address and that the peer is up"),
        "{err}"
    );
}

#[test]
fn bad_flags_give_clear_errors() {
    if !is_root("bad_flags_give_clear_errors") {
        return;
    }
    let _serial = serial();
    let p = Pair::new();
    let cases: [(&[&str], &str); 8] = [
        (&["-s", "59"], "use -s 60 or more"),
        (&["-s", "1515"], "60..=1514"),
        (&["-r", "5furlongs"], "1Gbit"),
        (&["--queues", "0,3"], "queue 3 does not exist"),
        (&["--engine", "warp"], "unknown engine `warp`"),
        (&["--gateway", "198.18.0.2"], "cannot be used with"),
        (&["--queues", "0", "--cores", "0,1"], "one core per queue"),
        (&["--flows", "0"], "--flows"),
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
    // Neither --dst-mac nor --gateway.
    let o = p.exec(
        &p.g,
        &[
            BIN,
            "pktgen",
            "g0",
            "--src-ip",
            "198.18.0.1",
            "--dst-ip",
            "198.18.0.2",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--dst-mac") && err.contains("--gateway"),
        "{err}"
    );
    let o = p.exec(&p.s, &[BIN, "sink", "s0", "-q", "0-1", "-d", "1"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("queue 1 does not exist"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = p.exec(&p.s, &[BIN, "sink", "nope0", "-d", "1"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no interface `nope0`"));
}
