//! `xdpnet bench veth -d 3 --json` end to end: both DUTs (the kernel's
//! forwarding and `xdpnet router`) are measured with the default
//! generator engine (xdp-live, the kernel DUT's ingress running an
//! XDP_PASS program), the JSON document has their numbers and records
//! the engine, and nothing the benchmark created (namespaces, veth
//! pairs, child processes, the XDP_PASS program) is left behind.
//!
//! Root only; without root the test prints `SKIP:` and returns (under
//! `CI` it fails instead). CI runs it as root; it takes one to two
//! minutes (about 20 trials of 3 s). It does not gate on the values: veth
//! numbers on a shared machine are noise.

use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

mod root_common;

use root_common::is_root;

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("{} is not a number in {v}", path.join(".")))
}

/// Names from the "hosts:" progress line:
/// `hosts: gen NS (IF) → dut NS (IF | IF) → sink NS (IF), …`.
fn created_names(stderr: &str) -> (Vec<String>, Vec<String>) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("hosts:"))
        .unwrap_or_else(|| panic!("no hosts line in:\n{stderr}"));
    let mut namespaces = Vec::new();
    let mut links = Vec::new();
    for w in line.split_whitespace() {
        let w = w.trim_matches(|c| c == '(' || c == ')' || c == ',' || c == '|');
        if w.starts_with("xbv-") {
            namespaces.push(w.to_string());
        } else if (7..=8).contains(&w.len())
            && w.starts_with('x')
            && w.chars().all(|c| c.is_ascii_alphanumeric())
        {
            links.push(w.to_string());
        }
    }
    (namespaces, links)
}

/// One benchmark at a time: they share the machine's cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// Run `xdpnet bench veth ARGS --json` (one at a time); its JSON document
/// and its progress output.
fn bench_veth(args: &[&str]) -> (Value, String) {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(env!("CARGO_BIN_EXE_xdpnet"))
        .args(["bench", "veth"])
        .args(args)
        .arg("--json")
        .output()
        .expect("run xdpnet bench veth");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "bench veth failed ({}):\n{stderr}",
        out.status
    );
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (doc, stderr)
}

#[test]
fn bench_veth_reports_both_duts_and_cleans_up() {
    if !is_root("bench_veth_reports_both_duts_and_cleans_up") {
        return;
    }
    let (doc, stderr) = bench_veth(&["-d", "3"]);

    assert_eq!(doc["benchmark"], "veth");
    assert_eq!(doc["frame_size"], 64);
    assert_eq!(doc["trial_seconds"], 3.0);
    // The default engine, recorded: the kernel DUT got the XDP_PASS
    // program its frames need, and one kernel tuning (threaded NAPI: RPS
    // does not apply to frames arriving through XDP).
    assert_eq!(doc["generator_engine"], "xdp-live", "{doc}");
    assert_eq!(doc["kernel_ingress_xdp_pass"], true, "{doc}");
    let notes = doc["notes"].as_array().expect("notes");
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains("XDP_PASS"))),
        "{doc}"
    );
    assert!(stderr.contains("generator engine xdp-live"), "{stderr}");
    assert!(num(&doc, &["generator_max_pps"]) > 0.0);
    let loads = doc["offered_loads_pps"].as_array().expect("offered loads");
    assert!(!loads.is_empty());
    let duts = doc["duts"].as_array().expect("duts array");
    let keys: Vec<&str> = duts.iter().filter_map(|d| d["key"].as_str()).collect();
    assert_eq!(keys, ["linux", "xdpnet"], "{doc}");
    for d in duts {
        let key = d["key"].as_str().unwrap_or_default();
        // Both DUTs forwarded traffic: the sinks received frames.
        assert!(
            num(d, &["capacity_mpps"]) > 0.0,
            "{key}: no throughput: {d}"
        );
        assert!(
            num(d, &["cpu_ns_per_packet_at_capacity"]) > 0.0,
            "{key}: no CPU time: {d}"
        );
        let loss = num(d, &["loss_at_capacity"]);
        assert!((0.0..=1.0).contains(&loss), "{key}: loss {loss}");
        for p in ["p50_us", "p90_us", "p99_us", "max_us"] {
            assert!(
                num(d, &["latency_at_half_load", p]) > 0.0,
                "{key}: {p}: {d}"
            );
        }
        assert!(
            num(d, &["latency_at_half_load", "p99_us"])
                >= num(d, &["latency_at_half_load", "p50_us"])
        );
        assert!(num(d, &["no_drop_mpps"]) >= 0.0);
        let sweep = d["sweep"].as_array().expect("sweep");
        // The same rate-limited loads for both DUTs, then the maximum.
        assert_eq!(sweep.len(), loads.len() + 1, "{key}");
        for (t, l) in sweep.iter().zip(loads) {
            assert_eq!(t["target_pps"], *l, "{key}: loads differ");
        }
        assert!(sweep.last().unwrap()["target_pps"].is_null());
        for t in sweep {
            assert!(num(t, &["offered_pps"]) > 0.0, "{key}: {t}");
            assert!(num(t, &["throughput_pps"]) >= 0.0);
            assert!(num(t, &["cpu", "total_ns"]) >= 0.0);
            assert!(num(t, &["rx_packets"]) <= num(t, &["tx_packets"]));
        }
    }
    // The router's own count agrees that it forwarded.
    let x = &duts[1]["sweep"][0];
    assert!(num(x, &["dut_forwarded"]) > 0.0, "{x}");
    let k = &duts[0]["variants"].as_array().expect("kernel variants");
    assert_eq!(k.len(), 1, "{doc}");
    assert_eq!(k[0]["variant"], "threaded_napi");
    assert_eq!(duts[0]["name"], "linux (threaded_napi)");

    // Nothing left behind.
    let (namespaces, links) = created_names(&stderr);
    assert_eq!(namespaces.len(), 3, "{stderr}");
    assert_eq!(links.len(), 4, "{stderr}");
    let ns_list = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns list")
            .stdout,
    )
    .into_owned();
    for n in &namespaces {
        assert!(!ns_list.contains(n.as_str()), "namespace {n} left behind");
    }
    let link_list = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .expect("ip link")
            .stdout,
    )
    .into_owned();
    for l in &links {
        assert!(!link_list.contains(l.as_str()), "interface {l} left behind");
    }
}

/// `--dut-cores 0,1`: two veth queues per end, a router worker (or kernel
/// NAPI thread) per core, one generator thread per queue (xdp-live: on
/// the core whose number picks the queue) and one sink reading both.
/// Every queue must carry traffic through the router: both workers
/// receive, and each sink queue gets most of what its worker received.
/// (The sink's socket takes its ARP replies, so the router gets the
/// sink's MAC as a static `--neighbor` on every worker; with the MAC on
/// one worker only, half the traffic was lost.) The cores overlap with
/// the generator and the sink on this 2-core machine, so the values are
/// not looked at.
#[test]
fn bench_veth_spreads_over_several_dut_cores() {
    if !is_root("bench_veth_spreads_over_several_dut_cores") {
        return;
    }
    let (doc, stderr) = bench_veth(&[
        "-d",
        "1",
        "--points",
        "2",
        "--search-steps",
        "0",
        "--dut-cores",
        "0,1",
        "--gen-core",
        "0,1",
    ]);
    assert!(stderr.contains("2 queue(s) per veth end"), "{stderr}");
    assert_eq!(doc["placement"]["dut_cores"], serde_json::json!([0, 1]));
    assert_eq!(
        doc["placement"]["generator_cores"],
        serde_json::json!([0, 1])
    );
    let duts = doc["duts"].as_array().expect("duts");
    let linux = &duts[0]["half_load"];
    assert!(num(linux, &["rx_packets"]) > 0.0, "{linux}");
    let x = &duts[1]["half_load"];
    let counts = |k: &str| -> Vec<f64> {
        x[k].as_array()
            .unwrap_or_else(|| panic!("{k} in {x}"))
            .iter()
            .map(|v| v.as_f64().unwrap_or(0.0))
            .collect()
    };
    let workers = counts("dut_worker_packets");
    let sink = counts("sink_queue_packets");
    assert_eq!(workers.len(), 2, "{x}");
    assert_eq!(sink.len(), 2, "{x}");
    assert!(
        workers.iter().all(|&n| n > 0.0),
        "a worker got nothing: {x}"
    );
    // Worker i sends on queue i of the egress end, which the sink reads
    // as its queue i: most of what each worker received arrives there.
    for (i, (w, s)) in workers.iter().zip(&sink).enumerate() {
        assert!(*s >= w / 2.0, "queue {i}: worker got {w}, sink {s}: {x}");
    }
}
