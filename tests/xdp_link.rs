//! Root tests of the AF_XDP link over real veth pairs.
//!
//! Each test builds its own hosts: two network namespaces, `a` (the
//! dataplane: `dp0`, `dp1`, … with the steering program attached natively,
//! policy `all`, and an AF_XDP socket in its XSKMAP) and `b` (the kernel
//! peer: `pe0`, `pe1`, … addressed 198.18.<i>.2/24). A guard deletes both
//! namespaces — and with them every veth — even when a test fails.
//!
//! On veth the redirect target is an AF_XDP socket, not another device,
//! so the "peer needs an XDP program" rule of `ndo_xdp_xmit` does not
//! apply to receive; transmit in copy mode builds skbs that enter the
//! peer through the normal veth path. `frames_written_reach_the_kernel`
//! checks exactly that, so a kernel that changes it fails loudly.
//!
//! Without root every test prints `SKIP: <reason>` and returns.
//! Addresses come from 198.18.0.0/15 only.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant as StdInstant};

mod root_common;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use root_common::{addresses, in_ns, is_root, link_up, netns, sh, veth, NetNs};
use xdpnet::buffer::{PacketBatch, PacketBuffer, DEFAULT_HEADROOM};
use xdpnet::link::xdp::XdpLink;
use xdpnet::link::LinkEndpoint;
use xdpnet::stack::Stack;
use xdpnet::steering::{Policy, SteeringOptions, SteeringProgram, XdpMode};
use xdpnet::time::Instant;
use xdpnet::xsk::{
    interface_info, BoundMode, CopyMode, SocketConfig, Umem, UmemConfig, XskError, XskSocket,
};

// ------------------------------------------------------------ topology

/// Namespaces `a` (dataplane) and `b` (kernel peer) joined by `pairs` veth
/// pairs `dp<i>` — `pe<i>`; `pe<i>` has 198.18.<i>.2/24. Dropping it
/// deletes both namespaces and so every veth.
struct Topo {
    a: String,
    b: String,
    _guards: [NetNs; 2],
}

impl Topo {
    fn new(pairs: u32) -> Topo {
        let guards = [netns("xdpnet-xsk-a"), netns("xdpnet-xsk-b")];
        let t = Topo {
            a: guards[0].name().to_string(),
            b: guards[1].name().to_string(),
            _guards: guards,
        };
        for i in 0..pairs {
            let (dp, pe) = (format!("dp{i}"), format!("pe{i}"));
            veth(&t.a, &dp, &t.b, &pe, 1);
            // No IPv6 on the dataplane side: the kernel there must not
            // talk (router solicitations, MLD) on links the stack owns.
            sh(&[
                "ip",
                "netns",
                "exec",
                &t.a,
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{dp}.disable_ipv6=1"),
            ]);
            addresses(&t.b, &pe, &format!("198.18.{i}.2/24"), None);
            link_up(&t.a, &dp);
            link_up(&t.b, &pe);
        }
        t
    }

    fn run_in<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
        in_ns(ns, f)
    }

    /// Runs `f` on a thread inside the dataplane namespace.
    fn in_a<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        Self::run_in(&self.a, f)
    }

    fn mac(&self, ns: &str, dev: &str) -> [u8; 6] {
        Self::run_in(ns, || interface_info(dev).unwrap().1)
    }

    /// A permanent neighbor entry in `b` for the dataplane address
    /// 198.18.<i>.1 (so kernel senders need no ARP for tests a and e).
    fn static_neighbor(&self, i: u32) {
        let mac = self.mac(&self.a, &format!("dp{i}"));
        let mac = mac.map(|b| format!("{b:02x}")).join(":");
        sh(&[
            "ip",
            "-n",
            &self.b,
            "neigh",
            "replace",
            &format!("198.18.{i}.1"),
            "lladdr",
            &mac,
            "dev",
            &format!("pe{i}"),
            "nud",
            "permanent",
        ]);
    }

    /// A UDP socket in `b` bound to `addr`, with a receive timeout.
    fn udp_in_b(&self, addr: SocketAddrV4) -> UdpSocket {
        Self::run_in(&self.b, || {
            let s = UdpSocket::bind(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s
        })
    }
}

/// The steering program on `dev` (native, policy `all`) with `link`'s
/// socket in XSKMAP[0]. Call inside the dataplane namespace.
fn steer(dev: &str, link: &XdpLink) -> SteeringProgram {
    let mut prog = SteeringProgram::load(SteeringOptions {
        policy: Policy::All,
        ..SteeringOptions::default()
    })
    .unwrap_or_else(|e| panic!("load: {e}"));
    let att = prog
        .attach(dev, XdpMode::Native)
        .unwrap_or_else(|e| panic!("attach {dev}: {e}"));
    assert_eq!(att.mode, XdpMode::Native, "{att}");
    prog.insert_socket(link.socket().queue(), link.fd())
        .unwrap_or_else(|e| panic!("insert socket: {e}"));
    prog
}

fn small_umem() -> Umem {
    Umem::new(UmemConfig::default()).unwrap()
}

fn udp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src, dst, 64)
        .udp(40_000, dport);
    let mut f = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut f, payload).unwrap();
    f
}

/// The UDP payload of `frame` if it is IPv4/UDP to `dport`.
fn udp_payload(frame: &[u8], dport: u16) -> Option<Vec<u8>> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        return None;
    };
    let Some(TransportSlice::Udp(udp)) = &p.transport else {
        return None;
    };
    if udp.destination_port() != dport {
        return None;
    }
    // The IPv4 header checksum survived the trip.
    let h = ip.header().to_header();
    assert_eq!(h.header_checksum, h.calc_header_checksum(), "ipv4 checksum");
    Some(udp.payload().to_vec())
}

/// Reads from `link` until `done` says so or `timeout` passes; every
/// buffer read is offered to `f` and then dropped (back to the UMEM).
fn read_until(
    link: &mut XdpLink,
    timeout: Duration,
    mut f: impl FnMut(&PacketBuffer) -> bool,
) -> bool {
    let end = StdInstant::now() + timeout;
    let mut batch = PacketBatch::new();
    while StdInstant::now() < end {
        if link.read_packets(&mut batch, 64, Instant::ZERO) == 0 {
            let _ = link.socket().wait_readable(10);
            continue;
        }
        for p in batch.drain(..) {
            if f(&p) {
                return true;
            }
        }
    }
    false
}

/// After a run: reclaim, reap and check the UMEM's frames are either free
/// or resting in the fill ring; then close and check they are all free.
fn assert_all_frames_come_home(link: XdpLink, umem: &Umem) {
    let end = StdInstant::now() + Duration::from_secs(5);
    let mut link = link;
    loop {
        link.service();
        let a = link.accounting();
        if (a.umem.user, a.umem.tx) == (0, 0) {
            assert_eq!(a.umem.free + a.umem.fill, a.umem.total, "{}", a.umem);
            break;
        }
        assert!(StdInstant::now() < end, "frames still out: {}", a.umem);
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(link);
    let a = umem.accounting();
    assert!(a.all_free(), "after close: {a}");
}

// --------------------------------------------------------------- tests

/// (a) Frames sent by the kernel in the peer namespace arrive intact.
#[test]
fn frames_from_the_kernel_arrive_intact() {
    if !is_root("frames_from_the_kernel_arrive_intact") {
        return;
    }
    let t = Topo::new(1);
    t.static_neighbor(0);
    let dp_mac = t.mac(&t.a, "dp0");
    let pe_mac = t.mac(&t.b, "pe0");
    let payloads: Vec<Vec<u8>> = [1usize, 100, 1400]
        .iter()
        .map(|&n| (0..n).map(|i| (i * 7 + n) as u8).collect())
        .collect();
    let umem = small_umem();
    t.in_a(|| {
        let mut link = XdpLink::new("dp0", 0, &umem, &SocketConfig::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(link.bound_mode(), BoundMode::Copy, "veth is copy mode only");
        assert_eq!(link.link_address().0, dp_mac);
        assert_eq!(link.mtu(), 1500);
        let _prog = steer("dp0", &link);

        let sender = t.udp_in_b(SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 0));
        for p in &payloads {
            sender
                .send_to(p, SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 9))
                .unwrap();
        }
        let mut seen = Vec::new();
        let done = read_until(&mut link, Duration::from_secs(5), |p| {
            assert!(p.is_umem(), "received frames live in the UMEM");
            assert!(p.headroom() >= DEFAULT_HEADROOM);
            if let Some(body) = udp_payload(p.as_slice(), 9) {
                assert_eq!(&p.as_slice()[0..6], &dp_mac);
                assert_eq!(&p.as_slice()[6..12], &pe_mac);
                seen.push(body);
            }
            seen.len() == payloads.len()
        });
        assert!(done, "got {} of {} datagrams", seen.len(), payloads.len());
        assert_eq!(seen, payloads);
        let st = link.xdp_statistics().unwrap();
        eprintln!("xdp statistics: {st}");
        assert_eq!(st.rx_dropped + st.rx_invalid_descs, 0, "{st}");
        assert!(link.stats().rx_packets >= 3);
        assert_all_frames_come_home(link, &umem);
    });
}

/// (b) Frames written with `write_packets` (heap and UMEM-backed) reach a
/// kernel socket in the peer namespace.
#[test]
fn frames_written_reach_the_kernel() {
    if !is_root("frames_written_reach_the_kernel") {
        return;
    }
    let t = Topo::new(1);
    let dp_mac = t.mac(&t.a, "dp0");
    let pe_mac = t.mac(&t.b, "pe0");
    let rx = t.udp_in_b(SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 7777));
    let umem = small_umem();
    t.in_a(|| {
        let mut link = XdpLink::new("dp0", 0, &umem, &SocketConfig::default()).unwrap();
        let _prog = steer("dp0", &link);
        let frame =
            |body: &[u8]| udp_frame(dp_mac, pe_mac, [198, 18, 0, 1], [198, 18, 0, 2], 7777, body);
        let mut batch = PacketBatch::new();
        // A heap buffer (copied once into a frame) ...
        batch.push(PacketBuffer::from_slice(
            DEFAULT_HEADROOM,
            &frame(b"from the heap"),
        ));
        // ... and one built in a UMEM frame (sent from where it is).
        let mut b = link.alloc_buffer().expect("a free frame");
        let f = frame(b"built in the umem");
        b.append(f.len()).copy_from_slice(&f);
        batch.push(b);
        assert_eq!(link.write_packets(&mut batch, Instant::ZERO), 2);
        assert!(batch.is_empty());
        let c = link.counters();
        assert_eq!((c.tx_copied, c.tx_zero_copy), (1, 1), "{c:?}");
        // XDP_MAX_TX_SKB_BUDGET (Linux 6.17+) raised to the ring size, or
        // absent on older kernels (default 32).
        let budget = link.socket().tx_budget();
        eprintln!("tx budget per sendto: {budget:?}");
        assert!(budget.is_none_or(|b| b == 512), "{budget:?}");

        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while got.len() < 2 {
            let (n, from) = rx.recv_from(&mut buf).expect("datagram within 5 s");
            assert_eq!(from, "198.18.0.1:40000".parse().unwrap());
            got.push(buf[..n].to_vec());
        }
        got.sort();
        assert_eq!(
            got,
            vec![b"built in the umem".to_vec(), b"from the heap".to_vec()]
        );
        let st = link.xdp_statistics().unwrap();
        assert_eq!(st.tx_invalid_descs, 0, "{st}");
        assert_all_frames_come_home(link, &umem);
    });
}

/// (c) An xdpnet stack on an `XdpLink` answers `ping` from the kernel in
/// the peer namespace, ARP included: the first end-to-end proof.
#[test]
fn stack_on_xdp_link_answers_kernel_ping() {
    if !is_root("stack_on_xdp_link_answers_kernel_ping") {
        return;
    }
    let t = Topo::new(1);
    let umem = small_umem();
    t.in_a(|| {
        let link = XdpLink::new("dp0", 0, &umem, &SocketConfig::default()).unwrap();
        let _prog = steer("dp0", &link);
        let mut stack = Stack::default();
        let nic = stack.add_nic("dp0", link);
        stack
            .add_address(nic, "198.18.0.1/24".parse().unwrap())
            .unwrap();

        let mut ping = Command::new("ip")
            .args([
                "netns", "exec", &t.b, "ping", "-c", "5", "-i", "0.2", "-W", "2",
            ])
            .arg("198.18.0.1")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let start = StdInstant::now();
        let status = loop {
            let now = Instant::from_secs(1)
                + xdpnet::time::Duration::from_nanos(start.elapsed().as_nanos() as u64);
            if !stack.poll(now) {
                std::thread::sleep(Duration::from_micros(200));
            }
            if let Some(s) = ping.try_wait().unwrap() {
                break s;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "ping hung");
        };
        let out = ping.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        eprintln!("{text}");
        assert!(status.success(), "ping failed:\n{text}");
        assert!(text.contains("5 received"), "{text}");
        assert!(stack.stats().icmp_echo_replies >= 5, "{:?}", stack.stats());
        // The kernel resolved us by ARP (no static entry was set).
        let neigh = sh(&["ip", "-n", &t.b, "neigh", "show", "198.18.0.1"]);
        assert!(neigh.contains("lladdr"), "{neigh}");
        drop(stack); // closes the socket
        assert!(umem.accounting().all_free(), "{}", umem.accounting());
    });
}

/// (d) 10⁶ packets through an rx→tx reflection loop (the peer reflects
/// every frame back with tc mirred), then a clean shutdown with every
/// UMEM frame back on the free list.
#[test]
fn a_million_packets_and_every_frame_comes_home() {
    if !is_root("a_million_packets_and_every_frame_comes_home") {
        return;
    }
    const TOTAL: u64 = 1_000_000;
    const IN_FLIGHT: usize = 256;
    let t = Topo::new(1);
    // pe0 sends every frame it receives straight back out.
    sh(&["tc", "-n", &t.b, "qdisc", "add", "dev", "pe0", "ingress"]);
    sh(&[
        "tc", "-n", &t.b, "filter", "add", "dev", "pe0", "ingress", "protocol", "all", "u32",
        "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", "pe0",
    ]);
    let dp_mac = t.mac(&t.a, "dp0");
    let pe_mac = t.mac(&t.b, "pe0");
    let umem = small_umem();
    t.in_a(|| {
        let mut link = XdpLink::new("dp0", 0, &umem, &SocketConfig::default()).unwrap();
        let _prog = steer("dp0", &link);
        let template = udp_frame(dp_mac, pe_mac, [198, 18, 0, 1], [198, 18, 0, 2], 9, &[0x5a; 18]);
        let inject = |link: &mut XdpLink, n: usize| {
            let mut batch = PacketBatch::new();
            for _ in 0..n {
                let Some(mut b) = link.alloc_buffer() else {
                    break;
                };
                b.append(template.len()).copy_from_slice(&template);
                batch.push(b);
            }
            link.write_packets(&mut batch, Instant::ZERO)
        };

        let start = StdInstant::now();
        let mut received = 0u64;
        let mut reinjections = 0u32;
        let mut batch = PacketBatch::new();
        let mut last_rx = StdInstant::now();
        inject(&mut link, IN_FLIGHT);
        while received < TOTAL {
            let n = link.read_packets(&mut batch, 64, Instant::ZERO);
            if n > 0 {
                received += n as u64;
                last_rx = StdInstant::now();
                for p in &batch[batch.len() - n..] {
                    assert!(p.is_umem());
                }
            }
            if !batch.is_empty() {
                link.write_packets(&mut batch, Instant::ZERO);
                // What the ring refused goes on the next round.
                batch.truncate(IN_FLIGHT);
            }
            if last_rx.elapsed() > Duration::from_millis(50) {
                // Lost frames shrink the loop; top it up.
                reinjections += 1;
                inject(&mut link, IN_FLIGHT);
                last_rx = StdInstant::now();
            }
            assert!(
                start.elapsed() < Duration::from_secs(240),
                "only {received} packets in 240 s"
            );
        }
        let secs = start.elapsed().as_secs_f64();
        let c = link.counters();
        let st = link.xdp_statistics().unwrap();
        eprintln!(
            "reflected {received} packets in {secs:.2} s: {:.0} packets/s; \
             {reinjections} reinjections; tx zero-copy {} copied {}; kicks tx {} (again {}) rx {}; {st}",
            received as f64 / secs,
            c.tx_zero_copy,
            c.tx_copied,
            c.tx_kicks,
            c.tx_kicks_again,
            c.rx_kicks
        );
        assert_eq!(c.tx_copied, 0, "reflection never copies");
        assert_eq!(c.bad_descriptors, 0);

        // Shutdown: stop reflecting, let the loop drain, drop what arrives.
        drop(batch);
        let quiet = StdInstant::now();
        let mut drained = PacketBatch::new();
        let mut last = StdInstant::now();
        while last.elapsed() < Duration::from_millis(300) && quiet.elapsed() < Duration::from_secs(10) {
            if link.read_packets(&mut drained, 64, Instant::ZERO) > 0 {
                last = StdInstant::now();
                drained.clear();
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let a = link.accounting();
        eprintln!("before close: {} / {:?}", a.umem, a.socket);
        assert_all_frames_come_home(link, &umem);
    });
}

/// (e) Two sockets on one UMEM (two veth pairs): a frame received on one
/// leaves through the other from the same UMEM address, uncopied.
#[test]
fn shared_umem_forwards_without_copying() {
    if !is_root("shared_umem_forwards_without_copying") {
        return;
    }
    let t = Topo::new(2);
    t.static_neighbor(0);
    let dp1_mac = t.mac(&t.a, "dp1");
    let pe1_mac = t.mac(&t.b, "pe1");
    let sender = t.udp_in_b(SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 0));
    let rx = t.udp_in_b(SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, 2), 9));
    let umem = small_umem();
    t.in_a(|| {
        let mut l0 = XdpLink::new("dp0", 0, &umem, &SocketConfig::default()).unwrap();
        let mut l1 = XdpLink::new("dp1", 0, &umem, &SocketConfig::default()).unwrap();
        assert_eq!(l1.bound_mode(), BoundMode::Copy);
        let _p0 = steer("dp0", &l0);
        let _p1 = steer("dp1", &l1);
        // Both sockets hold fill frames from the one UMEM.
        let a = umem.accounting();
        assert_eq!(a.fill, 2 * 1024, "{a}");

        sender
            .send_to(
                b"forward me",
                SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 9),
            )
            .unwrap();
        let mut batch = PacketBatch::new();
        let end = StdInstant::now() + Duration::from_secs(5);
        let mut fwd = None;
        while fwd.is_none() && StdInstant::now() < end {
            l0.read_packets(&mut batch, 64, Instant::ZERO);
            for p in batch.drain(..) {
                if udp_payload(p.as_slice(), 9).as_deref() == Some(b"forward me") {
                    fwd = Some(p);
                }
            }
        }
        let mut p = fwd.expect("datagram received on dp0");
        let addr = p.umem_addr().unwrap();
        // Rewrite in place as a forwarder/NAT would: MACs for the other
        // link, addresses 198.18.1.1 -> 198.18.1.2, new header checksum,
        // UDP checksum off (allowed for IPv4).
        {
            let f = p.as_mut_slice();
            f[0..6].copy_from_slice(&pe1_mac);
            f[6..12].copy_from_slice(&dp1_mac);
            f[26..30].copy_from_slice(&[198, 18, 1, 1]);
            f[30..34].copy_from_slice(&[198, 18, 1, 2]);
            f[24..26].fill(0);
            let sum = ipv4_checksum(&f[14..34]);
            f[24..26].copy_from_slice(&sum.to_be_bytes());
            f[40..42].fill(0);
        }
        assert_eq!(p.umem_addr(), Some(addr), "rewritten where it lies");
        let mut out = vec![p];
        assert_eq!(l1.write_packets(&mut out, Instant::ZERO), 1);
        let c = l1.counters();
        assert_eq!((c.tx_zero_copy, c.tx_copied), (1, 0), "{c:?}");
        assert_eq!(l1.socket().last_tx_addr(), Some(addr), "same UMEM address");
        let mut buf = [0u8; 64];
        let (n, from) = rx.recv_from(&mut buf).expect("forwarded datagram on pe1");
        assert_eq!(&buf[..n], b"forward me");
        assert_eq!(from.ip(), Ipv4Addr::new(198, 18, 1, 1), "rewritten source");
        // The frame completes on dp1's completion ring; then only the two
        // fill rings hold frames, and closing both frees everything.
        let end = StdInstant::now() + Duration::from_secs(5);
        loop {
            l0.service();
            l1.service();
            let a = umem.accounting();
            if (a.user, a.tx) == (0, 0) {
                assert_eq!(a.fill, 2 * 1024, "{a}");
                break;
            }
            assert!(StdInstant::now() < end, "{a}");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(l1);
        assert_eq!(
            umem.accounting().fill,
            1024,
            "dp1's fill frames freed on close"
        );
        drop(l0);
        assert!(umem.accounting().all_free(), "{}", umem.accounting());
    });
}

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum = 0u32;
    for w in h.chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// (f) Setup errors are explained: a queue beyond the channel count, a
/// queue already taken, zero-copy on veth; auto binds copy mode on veth.
#[test]
fn setup_errors_name_cause_and_fix() {
    if !is_root("setup_errors_name_cause_and_fix") {
        return;
    }
    let t = Topo::new(1);
    t.in_a(|| {
        let umem = small_umem();
        let e = XskSocket::new("dp0", 5, &umem, &SocketConfig::default()).unwrap_err();
        let msg = e.to_string();
        eprintln!("queue 5: {msg}");
        assert!(
            matches!(
                e,
                XskError::QueueOutOfRange {
                    queue: 5,
                    queues: Some(1),
                    ..
                }
            ),
            "{msg}"
        );
        assert!(
            msg.contains("dp0 has 1 queue(s) (0–0); queue 5 does not exist"),
            "{msg}"
        );
        assert!(msg.contains("numrxqueues 6"), "{msg}");

        let e = XskSocket::new(
            "dp0",
            0,
            &umem,
            &SocketConfig {
                copy_mode: CopyMode::ZeroCopy,
                ..SocketConfig::default()
            },
        )
        .unwrap_err();
        let msg = e.to_string();
        eprintln!("zero-copy: {msg}");
        assert!(matches!(e, XskError::ZeroCopyUnsupported { .. }), "{msg}");
        assert!(msg.contains("driver veth"), "{msg}");
        assert!(msg.contains("--copy-mode copy"), "{msg}");

        let e = XskSocket::new("nope0", 0, &umem, &SocketConfig::default()).unwrap_err();
        assert!(matches!(e, XskError::NoSuchInterface { .. }), "{e}");

        let first = XskSocket::new("dp0", 0, &umem, &SocketConfig::default()).unwrap();
        assert_eq!(
            first.bound_mode(),
            BoundMode::Copy,
            "auto falls back to copy"
        );
        let other = small_umem();
        let e = XskSocket::new("dp0", 0, &other, &SocketConfig::default()).unwrap_err();
        let msg = e.to_string();
        eprintln!("busy: {msg}");
        assert!(matches!(e, XskError::QueueBusy { .. }), "{msg}");
        assert!(msg.contains("queue 0 of dp0 is already used"), "{msg}");
        drop(first);
        // Failed attempts leaked nothing.
        assert!(umem.accounting().all_free());
        assert!(other.accounting().all_free());
    });
}

/// Busy polling: the socket options are accepted (as root) and frames
/// still move, each read driving the kernel with `recvfrom`.
#[test]
fn busy_polling_socket_moves_frames() {
    if !is_root("busy_polling_socket_moves_frames") {
        return;
    }
    let t = Topo::new(1);
    t.static_neighbor(0);
    let umem = small_umem();
    let config = SocketConfig {
        busy_poll: Some(xdpnet::xsk::BusyPoll::default()),
        ..SocketConfig::default()
    };
    t.in_a(|| {
        let mut link = XdpLink::new("dp0", 0, &umem, &config).unwrap_or_else(|e| panic!("{e}"));
        let _prog = steer("dp0", &link);
        let sender = t.udp_in_b(SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 0));
        sender
            .send_to(b"busy", SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 9))
            .unwrap();
        let got = read_until(&mut link, Duration::from_secs(5), |p| {
            udp_payload(p.as_slice(), 9).as_deref() == Some(b"busy")
        });
        assert!(got);
        assert!(link.counters().rx_kicks > 0, "{:?}", link.counters());
        assert_eq!(link.counters().kick_errors, 0, "{:?}", link.counters());
        assert_all_frames_come_home(link, &umem);
    });
}
