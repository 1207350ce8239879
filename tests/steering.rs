//! Root tests of the XDP steering program and its loader.
//!
//! * Program level: the real, verified program runs on hand-built frames
//!   through `BPF_PROG_TEST_RUN`. A test run has no AF_XDP socket, so
//!   `bpf_redirect_map(.., XDP_PASS)` yields `XDP_PASS` for a claimed frame;
//!   the counters tell a claimed frame (`pass_no_socket`) from one left to
//!   the kernel (`pass_not_owned`), which is how the redirect path is
//!   asserted.
//! * Interface level: attach/detach on veth pairs inside fresh network
//!   namespaces (unique names, removed by a guard even when a test fails),
//!   checked with `ip -d link show`, and a ping over the real path.
//!
//! Every test needs root; without it, it prints why it is skipped and
//! returns. Addresses come from 198.18.0.0/15 and 2001:2::/48 only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::process::Command;

mod root_common;

use root_common::{addresses, in_ns, is_root, link_up, netns, sh, veth, NetNs};
use xdpnet::steering::{
    AttachMethod, Policy, SteeringCounters, SteeringError, SteeringOptions, SteeringProgram,
    XdpAction, XdpMode,
};
use xdpnet::wire::ethernet::EthernetAddress;

// ---------------------------------------------------------------- frames

const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const DP_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xd0];
const HOST_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const DP_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PEER_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const HOST_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x100);
const DP_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const PEER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

fn eth(dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// `ethertype` + payload behind one 802.1Q tag (VLAN 7).
fn vlan(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = 7u16.to_be_bytes().to_vec();
    p.extend_from_slice(&ethertype.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn tcp(dport: u16) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = 0x02; // SYN
    t
}

fn ipv4(dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&PEER_V4.octets());
    h[16..20].copy_from_slice(&dst.octets());
    h.extend_from_slice(payload);
    h
}

fn ipv6(dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 40];
    h[0] = 0x60;
    h[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    h[6] = next;
    h[7] = 255;
    h[8..24].copy_from_slice(&PEER_V6.octets());
    h[24..40].copy_from_slice(&dst.octets());
    h.extend_from_slice(payload);
    h
}

fn arp(op: u16, target: Ipv4Addr) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4];
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&PEER_MAC);
    a.extend_from_slice(&PEER_V4.octets());
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target.octets());
    a
}

/// ICMPv6 NS (135) or NA (136) for `target` (checksum not needed here).
fn nd(kind: u8, target: Ipv6Addr) -> Vec<u8> {
    let mut m = vec![kind, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m
}

fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

fn ssh_to(dst: Ipv4Addr) -> Vec<u8> {
    eth(HOST_MAC, 0x0800, &ipv4(dst, 6, &tcp(22)))
}

// --------------------------------------------------------------- helpers

fn load(policy: Policy) -> SteeringProgram {
    SteeringProgram::load(SteeringOptions {
        policy,
        ..SteeringOptions::default()
    })
    .unwrap_or_else(|e| panic!("load: {e}"))
}

/// Runs `frame` once; returns the verdict and what the counters saw.
fn run(prog: &SteeringProgram, frame: &[u8]) -> (XdpAction, SteeringCounters) {
    let before = prog.counters().unwrap();
    let verdict = prog
        .test_run(frame)
        .unwrap_or_else(|e| panic!("test run: {e}"));
    let delta = prog.counters().unwrap().since(&before);
    assert_eq!(delta.seen, 1, "{delta}");
    assert_eq!(
        delta.seen,
        delta.redirected + delta.passed() + delta.dropped()
    );
    (verdict, delta)
}

/// Claimed by the dataplane: redirected, or (no socket in a test run)
/// passed as `pass_no_socket`.
fn assert_claimed(prog: &SteeringProgram, frame: &[u8], what: &str) {
    let (v, d) = run(prog, frame);
    assert_eq!(
        v,
        XdpAction::Pass,
        "{what}: no socket, so the kernel gets it"
    );
    assert_eq!(d.pass_no_socket, 1, "{what} must be claimed: {d}");
}

fn assert_host(prog: &SteeringProgram, frame: &[u8], what: &str) {
    let (v, d) = run(prog, frame);
    assert_eq!(v, XdpAction::Pass, "{what}");
    assert_eq!(d.pass_not_owned, 1, "{what} must go to the kernel: {d}");
}

fn assert_malformed(prog: &SteeringProgram, frame: &[u8], what: &str) {
    let (v, d) = run(prog, frame);
    assert_eq!(v, XdpAction::Drop, "{what}");
    assert_eq!(d.drop_malformed, 1, "{what} must count as malformed: {d}");
}

fn local_program() -> SteeringProgram {
    let prog = load(Policy::Local);
    prog.add_owned_addr(IpAddr::V4(DP_V4)).unwrap();
    prog.add_owned_addr(IpAddr::V6(DP_V6)).unwrap();
    prog.add_owned_mac(EthernetAddress(DP_MAC)).unwrap();
    prog
}

// ------------------------------------------------------ program-level tests

#[test]
fn policy_all_claims_every_frame() {
    if !is_root("policy_all_claims_every_frame") {
        return;
    }
    let prog = load(Policy::All);
    assert_eq!(prog.read_policy().unwrap(), (Policy::All, 0.0));
    for (what, frame) in [
        ("ssh to the host", ssh_to(HOST_V4)),
        ("arp", eth([0xff; 6], 0x0806, &arp(1, HOST_V4))),
        ("ipv6", eth(HOST_MAC, 0x86dd, &ipv6(HOST_V6, 17, &[0; 8]))),
        ("unknown ethertype", eth(HOST_MAC, 0x88cc, &[0; 46])),
        // `all` does not parse past Ethernet: a bad IPv4 header is the
        // stack's to count.
        ("bad ipv4", eth(HOST_MAC, 0x0800, &[0x45, 0, 0])),
    ] {
        assert_claimed(&prog, &frame, what);
    }
    let c = prog.counters().unwrap();
    assert_eq!(
        (c.seen, c.pass_no_socket, c.pass_not_owned),
        (5, 5, 0),
        "{c}"
    );
}

#[test]
fn local_passes_host_traffic_and_claims_owned_addresses() {
    if !is_root("local_passes_host_traffic_and_claims_owned_addresses") {
        return;
    }
    let prog = local_program();
    assert_eq!(prog.read_policy().unwrap().0, Policy::Local);

    assert_host(&prog, &ssh_to(HOST_V4), "ssh to the host");
    assert_claimed(&prog, &ssh_to(DP_V4), "tcp to the dataplane");
    assert_host(
        &prog,
        &eth([0xff; 6], 0x0806, &arp(1, HOST_V4)),
        "arp for host",
    );
    assert_claimed(
        &prog,
        &eth([0xff; 6], 0x0806, &arp(1, DP_V4)),
        "arp request for dp",
    );
    assert_claimed(
        &prog,
        &eth(HOST_MAC, 0x0806, &arp(2, DP_V4)),
        "arp reply to dp",
    );
    let v6 = |dst, payload: &[u8]| eth(HOST_MAC, 0x86dd, &ipv6(dst, 17, payload));
    assert_host(&prog, &v6(HOST_V6, &[0; 8]), "ipv6 to the host");
    assert_claimed(&prog, &v6(DP_V6, &[0; 8]), "ipv6 to the dataplane");
    let ns = |target| {
        eth(
            HOST_MAC,
            0x86dd,
            &ipv6(solicited_node(target), 58, &nd(135, target)),
        )
    };
    assert_claimed(&prog, &ns(DP_V6), "NS (solicited-node) for dp");
    assert_host(&prog, &ns(HOST_V6), "NS for host");
    let na = |target| eth(HOST_MAC, 0x86dd, &ipv6(PEER_V6, 58, &nd(136, target)));
    assert_claimed(&prog, &na(DP_V6), "NA for dp target");
    assert_host(&prog, &na(HOST_V6), "NA for host target");
    let echo = eth(
        HOST_MAC,
        0x86dd,
        &ipv6(HOST_V6, 58, &[128, 0, 0, 0, 0, 1, 0, 1]),
    );
    assert_host(&prog, &echo, "icmpv6 echo to host");
    assert_claimed(
        &prog,
        &eth(DP_MAC, 0x88cc, &[0; 46]),
        "any frame to the dp's MAC",
    );
    assert_host(&prog, &eth(HOST_MAC, 0x88cc, &[0; 46]), "lldp to the host");
    assert_claimed(
        &prog,
        &eth(HOST_MAC, 0x8100, &vlan(0x0800, &ipv4(DP_V4, 17, &[0; 8]))),
        "vlan-tagged ipv4 to dp",
    );
    assert_host(
        &prog,
        &eth(HOST_MAC, 0x8100, &vlan(0x0800, &ipv4(HOST_V4, 6, &tcp(22)))),
        "vlan-tagged ssh to host",
    );

    // Fall back to the kernel when unsure.
    let qinq = eth(
        HOST_MAC,
        0x88a8,
        &vlan(0x8100, &vlan(0x0800, &ipv4(DP_V4, 17, &[0; 8]))),
    );
    let (v, d) = run(&prog, &qinq);
    assert_eq!((v, d.pass_unsure), (XdpAction::Pass, 1), "QinQ: {d}");
    let hbh_mcast = eth(
        HOST_MAC,
        0x86dd,
        &ipv6(solicited_node(DP_V6), 0, &[58, 0, 0, 0, 0, 0, 0, 0]),
    );
    let (v, d) = run(&prog, &hbh_mcast);
    assert_eq!(
        (v, d.pass_unsure),
        (XdpAction::Pass, 1),
        "ext hdr + multicast: {d}"
    );

    // Ownership is live: removing an address gives its frames back.
    assert!(prog.remove_owned_addr(IpAddr::V4(DP_V4)).unwrap());
    assert!(!prog.remove_owned_addr(IpAddr::V4(DP_V4)).unwrap());
    assert_host(&prog, &ssh_to(DP_V4), "tcp to a released address");
    assert!(prog.remove_owned_mac(EthernetAddress(DP_MAC)).unwrap());
    assert_host(
        &prog,
        &eth(DP_MAC, 0x88cc, &[0; 46]),
        "frame to a released MAC",
    );
}

#[test]
fn malformed_frames_are_dropped_and_counted() {
    if !is_root("malformed_frames_are_dropped_and_counted") {
        return;
    }
    let prog = local_program();
    let mut short_total = ipv4(DP_V4, 17, &[0; 8]);
    short_total[2..4].copy_from_slice(&10u16.to_be_bytes());
    let mut long_total = ipv4(DP_V4, 17, &[0; 8]);
    long_total[2..4].copy_from_slice(&1000u16.to_be_bytes());
    let mut bad_ihl = ipv4(DP_V4, 17, &[0; 8]);
    bad_ihl[0] = 0x44;
    let mut options_past_end = ipv4(DP_V4, 17, &[]);
    options_past_end[0] = 0x4f;
    let mut v6_long = ipv6(DP_V6, 17, &[0; 8]);
    v6_long[4..6].copy_from_slice(&100u16.to_be_bytes());
    let mut v6_version = ipv6(DP_V6, 17, &[0; 8]);
    v6_version[0] = 0x40;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "ipv4 header cut",
            eth(HOST_MAC, 0x0800, &[0x45, 0, 0, 40, 0, 0]),
        ),
        ("ipv4 ihl < 5", eth(HOST_MAC, 0x0800, &bad_ihl)),
        (
            "ipv4 options past the end",
            eth(HOST_MAC, 0x0800, &options_past_end),
        ),
        (
            "ipv4 total length < header",
            eth(HOST_MAC, 0x0800, &short_total),
        ),
        (
            "ipv4 total length > frame",
            eth(HOST_MAC, 0x0800, &long_total),
        ),
        (
            "ipv6 header cut",
            eth(HOST_MAC, 0x86dd, &ipv6(DP_V6, 17, &[])[..30]),
        ),
        (
            "ipv6 payload length > frame",
            eth(HOST_MAC, 0x86dd, &v6_long),
        ),
        ("ipv6 version 4", eth(HOST_MAC, 0x86dd, &v6_version)),
        ("arp cut", eth([0xff; 6], 0x0806, &arp(1, DP_V4)[..20])),
        ("arp header cut", eth([0xff; 6], 0x0806, &[0, 1, 8])),
        (
            "NS without target",
            eth(
                HOST_MAC,
                0x86dd,
                &ipv6(solicited_node(DP_V6), 58, &nd(135, DP_V6)[..12]),
            ),
        ),
        ("vlan tag cut", eth(HOST_MAC, 0x8100, &[0, 7])),
    ];
    for (what, frame) in &cases {
        assert_malformed(&prog, frame, what);
    }
    let c = prog.counters().unwrap();
    assert_eq!(c.drop_malformed, cases.len() as u64, "{c}");

    // The kernel refuses test frames shorter than an Ethernet header; the
    // error says so.
    let e = prog.test_run(&[0u8; 13]).unwrap_err().to_string();
    assert!(e.contains("at least 14 bytes"), "{e}");
}

#[test]
fn random_drop_at_one_drops_every_claimed_frame_and_at_zero_none() {
    if !is_root("random_drop_at_one_drops_every_claimed_frame_and_at_zero_none") {
        return;
    }
    const N: u32 = 1000;
    let mut prog = load(Policy::All);
    let frame = ssh_to(DP_V4);

    prog.set_drop_probability(1.0).unwrap();
    assert_eq!(prog.read_policy().unwrap(), (Policy::All, 1.0));
    let before = prog.counters().unwrap();
    assert_eq!(prog.test_run_repeat(&frame, N).unwrap(), XdpAction::Drop);
    let d = prog.counters().unwrap().since(&before);
    assert_eq!((d.seen, d.drop_random), (u64::from(N), u64::from(N)), "{d}");

    prog.set_drop_probability(0.0).unwrap();
    let before = prog.counters().unwrap();
    assert_eq!(prog.test_run_repeat(&frame, N).unwrap(), XdpAction::Pass);
    let d = prog.counters().unwrap().since(&before);
    assert_eq!((d.drop_random, d.pass_no_socket), (0, u64::from(N)), "{d}");

    // p = 0.5: binomial(1000, 0.5) has sd 16; 350..650 is > 9 sd wide.
    prog.set_drop_probability(0.5).unwrap();
    let before = prog.counters().unwrap();
    prog.test_run_repeat(&frame, N).unwrap();
    let d = prog.counters().unwrap().since(&before);
    assert!((350..650).contains(&d.drop_random), "{d}");

    // Injected loss never touches the host's frames.
    prog.set_policy(Policy::Local).unwrap();
    prog.set_drop_probability(1.0).unwrap();
    let before = prog.counters().unwrap();
    assert_eq!(
        prog.test_run_repeat(&ssh_to(HOST_V4), N).unwrap(),
        XdpAction::Pass
    );
    let d = prog.counters().unwrap().since(&before);
    assert_eq!((d.drop_random, d.pass_not_owned), (0, u64::from(N)), "{d}");
}

#[test]
fn xskmap_and_owned_tables_explain_their_limits() {
    if !is_root("xskmap_and_owned_tables_explain_their_limits") {
        return;
    }
    let prog = SteeringProgram::load(SteeringOptions {
        max_queues: 4,
        max_owned: 2,
        ..SteeringOptions::default()
    })
    .unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let e = prog.insert_socket(0, udp.as_fd()).unwrap_err();
    assert!(
        matches!(
            e,
            SteeringError::Map {
                map: "steer_xsks",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("AF_XDP socket"), "{e}");
    let e = prog.insert_socket(4, udp.as_fd()).unwrap_err();
    assert!(e.to_string().contains("max_queues to at least 5"), "{e}");
    prog.remove_socket(3).unwrap(); // empty slot: idempotent

    prog.add_owned_addr("198.18.0.1".parse().unwrap()).unwrap();
    prog.add_owned_addr("198.18.0.1".parse().unwrap()).unwrap(); // idempotent
    prog.add_owned_addr("198.18.0.2".parse().unwrap()).unwrap();
    let e = prog
        .add_owned_addr("198.18.0.3".parse().unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("table is full"), "{e}");
    // IPv6 has its own table.
    prog.add_owned_addr("2001:2::1".parse().unwrap()).unwrap();
}

// ------------------------------------------------------ interface tests

/// Two fresh namespaces `a` and `b` joined by veth0 (in a) <-> veth1 (in
/// b), addressed 198.18.0.1/24 + 2001:2::1/64 and .2 / ::2. Dropping it
/// deletes both namespaces, and with them the veth pair.
struct Netns {
    a: String,
    b: String,
    _guards: [NetNs; 2],
}

impl Netns {
    fn new() -> Self {
        let guards = [netns("xdpnet-steer-a"), netns("xdpnet-steer-b")];
        let ns = Netns {
            a: guards[0].name().to_string(),
            b: guards[1].name().to_string(),
            _guards: guards,
        };
        veth(&ns.a, "veth0", &ns.b, "veth1", 1);
        addresses(&ns.a, "veth0", "198.18.0.1/24", Some("2001:2::1/64"));
        addresses(&ns.b, "veth1", "198.18.0.2/24", Some("2001:2::2/64"));
        link_up(&ns.a, "veth0");
        link_up(&ns.b, "veth1");
        ns
    }

    /// Runs `f` on a thread inside namespace `a` (where veth0 lives).
    fn in_a<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_ns(&self.a, f)
    }

    fn xdp_on_veth0(&self) -> String {
        sh(&["ip", "-n", &self.a, "-d", "link", "show", "dev", "veth0"])
    }

    fn ping_from_b(&self, count: &str) -> bool {
        Command::new("ip")
            .args([
                "netns", "exec", &self.b, "ping", "-c", count, "-i", "0.2", "-W", "1",
            ])
            .arg("198.18.0.1")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }
}

fn assert_attached(ns: &Netns, prog_id: u32, keyword: &str) {
    let out = ns.xdp_on_veth0();
    let first = out.lines().next().unwrap_or("");
    assert!(
        first.split_whitespace().any(|w| w == keyword),
        "expected `{keyword}` on veth0:\n{out}"
    );
    assert!(out.contains(&format!("prog/xdp id {prog_id} ")), "{out}");
    assert!(out.contains("name xdpnet_steer"), "{out}");
}

fn assert_nothing_attached(ns: &Netns) {
    let out = ns.xdp_on_veth0();
    assert!(!out.contains("prog/xdp"), "left behind on veth0:\n{out}");
}

#[test]
fn native_attach_on_veth_and_detach_leave_nothing() {
    if !is_root("native_attach_on_veth_and_detach_leave_nothing") {
        return;
    }
    let ns = Netns::new();
    ns.in_a(|| {
        let mut prog = load(Policy::All);
        let att = prog
            .attach("veth0", XdpMode::Native)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (att.mode, att.method),
            (XdpMode::Native, AttachMethod::Link)
        );
        assert!(att.warnings.is_empty(), "{att}");
        assert_eq!(att.prog_id, prog.prog_id());
        assert_attached(&ns, prog.prog_id(), "xdp");

        prog.detach().unwrap();
        assert!(prog.attachment().is_none());
        assert_nothing_attached(&ns);
        prog.detach().unwrap(); // idempotent

        // Auto picks native on veth; Drop detaches.
        let att = prog.attach("veth0", XdpMode::Auto).unwrap();
        assert_eq!(att.mode, XdpMode::Native, "{att}");
        assert_attached(&ns, prog.prog_id(), "xdp");
        drop(prog);
        assert_nothing_attached(&ns);
    });
}

#[test]
fn generic_attach_on_veth_and_drop_leave_nothing() {
    if !is_root("generic_attach_on_veth_and_drop_leave_nothing") {
        return;
    }
    let ns = Netns::new();
    ns.in_a(|| {
        let mut prog = load(Policy::All);
        let att = prog
            .attach("veth0", XdpMode::Generic)
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!("{att}");
        assert_eq!(
            (att.mode, att.method),
            (XdpMode::Generic, AttachMethod::Netlink)
        );
        assert!(
            att.warnings
                .iter()
                .any(|w| w.contains("ip link set dev veth0 xdpgeneric off")),
            "{att}"
        );
        assert_attached(&ns, prog.prog_id(), "xdpgeneric");
        drop(prog);
        assert_nothing_attached(&ns);
    });
}

#[test]
fn driver_without_native_xdp_native_refused_auto_falls_back() {
    if !is_root("driver_without_native_xdp_native_refused_auto_falls_back") {
        return;
    }
    let ns = Netns::new();
    // The bridge driver has no XDP support of its own (no ndo_bpf).
    sh(&["ip", "-n", &ns.a, "link", "add", "br0", "type", "bridge"]);
    sh(&["ip", "-n", &ns.a, "link", "set", "br0", "up"]);
    ns.in_a(|| {
        let mut prog = load(Policy::All);
        let e = prog.attach("br0", XdpMode::Native).unwrap_err();
        let msg = e.to_string();
        eprintln!("native: {msg}");
        assert!(
            matches!(e, SteeringError::NativeUnsupported { .. }),
            "{msg}"
        );
        assert!(msg.contains("--xdp-mode generic"), "{msg}");
        let out = sh(&["ip", "-n", &ns.a, "-d", "link", "show", "dev", "br0"]);
        assert!(!out.contains("prog/xdp"), "refused attach left:\n{out}");

        let att = prog.attach("br0", XdpMode::Auto).unwrap();
        eprintln!("auto: {att}");
        assert_eq!(
            (att.mode, att.method),
            (XdpMode::Generic, AttachMethod::Link)
        );
        assert!(
            att.warnings.iter().any(|w| w.contains("no native XDP")),
            "{att}"
        );
        let out = sh(&["ip", "-n", &ns.a, "-d", "link", "show", "dev", "br0"]);
        assert!(out.contains("xdpgeneric"), "{out}");
        drop(prog);
        let out = sh(&["ip", "-n", &ns.a, "-d", "link", "show", "dev", "br0"]);
        assert!(!out.contains("prog/xdp"), "left behind:\n{out}");
    });
}

#[test]
fn attaching_twice_is_refused_with_the_culprit_and_the_fix() {
    if !is_root("attaching_twice_is_refused_with_the_culprit_and_the_fix") {
        return;
    }
    let ns = Netns::new();
    ns.in_a(|| {
        let mut first = load(Policy::All);
        let _ = first.attach("veth0", XdpMode::Native).unwrap();

        let e = first.attach("veth0", XdpMode::Native).unwrap_err();
        assert!(matches!(e, SteeringError::InUse { .. }), "{e}");

        let mut second = load(Policy::All);
        for mode in [XdpMode::Auto, XdpMode::Native, XdpMode::Generic] {
            let e = second.attach("veth0", mode).unwrap_err();
            let msg = e.to_string();
            match e {
                SteeringError::AlreadyAttached { existing, .. } => {
                    assert_eq!(existing.id, first.prog_id(), "{msg}");
                    assert_eq!(existing.name.as_deref(), Some("xdpnet_steer"), "{msg}");
                    assert_eq!(existing.mode, "native", "{msg}");
                    assert!(existing.link_id.is_some(), "{msg}");
                }
                other => panic!("{mode}: expected AlreadyAttached, got {other}"),
            }
            eprintln!("{mode}: {msg}");
            assert!(msg.contains("already attached to veth0"), "{msg}");
            assert!(msg.contains("bpftool link detach id"), "{msg}");
        }
        // The refused attempts changed nothing.
        assert_attached(&ns, first.prog_id(), "xdp");
        first.detach().unwrap();

        // A netlink (generic) attachment is named with its ip-link cleanup.
        let _ = second.attach("veth0", XdpMode::Generic).unwrap();
        let mut third = load(Policy::All);
        let msg = third
            .attach("veth0", XdpMode::Auto)
            .unwrap_err()
            .to_string();
        eprintln!("{msg}");
        assert!(msg.contains("generic mode, netlink"), "{msg}");
        assert!(
            msg.contains("`ip link set dev veth0 xdpgeneric off`"),
            "{msg}"
        );
        drop(second);
        assert_nothing_attached(&ns);
    });
}

#[test]
fn setup_errors_name_cause_and_fix() {
    if !is_root("setup_errors_name_cause_and_fix") {
        return;
    }
    let ns = Netns::new();
    let mut prog = load(Policy::All);
    let e = prog.attach("xdpnet-nope0", XdpMode::Auto).unwrap_err();
    assert!(matches!(e, SteeringError::NoSuchInterface { .. }), "{e}");
    assert!(e.to_string().contains("ip link show"), "{e}");

    // veth refuses native XDP when the peer's MTU does not fit a page.
    sh(&["ip", "-n", &ns.b, "link", "set", "veth1", "mtu", "9000"]);
    sh(&["ip", "-n", &ns.a, "link", "set", "veth0", "mtu", "9000"]);
    ns.in_a(|| {
        for mode in [XdpMode::Native, XdpMode::Auto] {
            let e = prog.attach("veth0", mode).unwrap_err();
            let msg = e.to_string();
            eprintln!("{mode}: {msg}");
            assert!(
                matches!(e, SteeringError::MtuTooLarge { .. }),
                "{mode}: {msg}"
            );
            assert!(msg.contains("mtu 1500"), "{msg}");
            assert!(msg.contains("kernel: \""), "extack text expected: {msg}");
        }
        assert_nothing_attached(&ns);
        // Generic mode does not have that limit.
        let att = prog.attach("veth0", XdpMode::Generic).unwrap();
        assert_eq!(att.mode, XdpMode::Generic);
        prog.detach().unwrap();
    });
    assert_nothing_attached(&ns);
}

#[test]
fn real_path_keeps_host_traffic_and_injects_loss_only_on_claimed_frames() {
    if !is_root("real_path_keeps_host_traffic_and_injects_loss_only_on_claimed_frames") {
        return;
    }
    let ns = Netns::new();
    ns.in_a(|| {
        let mut prog = load(Policy::Local);
        let _ = prog.attach("veth0", XdpMode::Native).unwrap();
        // Nothing owned: everything is the host's, even with loss at 1.0.
        prog.set_drop_probability(1.0).unwrap();
        assert!(
            ns.ping_from_b("3"),
            "host traffic must survive the local policy"
        );
        let c = prog.counters().unwrap();
        assert!(c.pass_not_owned >= 3 && c.dropped() == 0, "{c}");

        // Claim 198.18.0.1 with no socket: the kernel still answers
        // (pass_no_socket) until loss is injected on the claimed path.
        prog.add_owned_addr(IpAddr::V4(DP_V4)).unwrap();
        prog.set_drop_probability(0.0).unwrap();
        let before = prog.counters().unwrap();
        assert!(ns.ping_from_b("3"));
        let d = prog.counters().unwrap().since(&before);
        assert!(d.pass_no_socket >= 3, "{d}");

        prog.set_drop_probability(1.0).unwrap();
        let before = prog.counters().unwrap();
        assert!(!ns.ping_from_b("2"), "every claimed frame is dropped");
        let d = prog.counters().unwrap().since(&before);
        assert!(d.drop_random >= 2 && d.pass_no_socket == 0, "{d}");
    });
}
