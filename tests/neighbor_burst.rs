//! Neighbor resolution under bursts and aging, over in-memory pipes with a
//! fake clock: a burst to an unresolved next hop survives resolution, the
//! stack-wide queue budget bounds what is parked, STALE / DELAY / PROBE
//! entries keep sending with the cached MAC (RFC 4861 7.3.3), and TCP's
//! forward progress confirms reachability (RFC 4861 7.3.1) so an
//! established flow is never probed.

mod common;

use common::*;
use std::net::{Ipv4Addr, SocketAddr};
use xdpnet::link::pipe::PipeEnd;
use xdpnet::stack::neighbor::{NeighborConfig, NeighborState};
use xdpnet::stack::{DropReason, NicId, Stack, StackConfig};
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::{TcpError, TcpState};

const B_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn host_with(link: PipeEnd, addrs: &[&str], config: StackConfig) -> (Stack, NicId) {
    let mut s = Stack::new(config);
    let nic = s.add_nic("eth0", link);
    for a in addrs {
        s.add_address(nic, net(a)).expect("address");
    }
    (s, nic)
}

fn arp_state(s: &Stack, nic: NicId, a: Ipv4Addr) -> Option<NeighborState> {
    s.nic(nic).unwrap().arp_cache().get(a).map(|e| e.state)
}

/// ARP requests and unicast probes a stack's NIC asked for, both caches.
fn probes(s: &Stack, nic: NicId) -> u64 {
    let n = s.nic(nic).unwrap();
    n.arp_cache().stats().probes_sent + n.ndp_cache().stats().probes_sent
}

#[test]
fn a_burst_of_300_datagrams_to_an_unresolved_neighbor_all_arrive() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, na) = host(la, &["198.18.0.1/24"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24"]);
    let now = Instant::from_secs(1);
    let srv = b.udp_bind(sock("0.0.0.0:7")).unwrap();
    let cli = a.udp_bind(sock("0.0.0.0:0")).unwrap();
    for k in 0..300u16 {
        a.udp_send_to(cli, &k.to_be_bytes(), sock("198.18.0.2:7"), now)
            .unwrap();
    }
    // All parked on the one INCOMPLETE entry, one request sent.
    let e = a.nic(na).unwrap().arp_cache().get(B_V4).unwrap();
    assert_eq!((e.state, e.queued), (NeighborState::Incomplete, 300));
    assert_eq!(a.drops().get(DropReason::NeighborQueueFull), 0);
    settle(&mut [&mut a, &mut b], now);
    let got: Vec<u16> = std::iter::from_fn(|| b.udp_recv(srv))
        .map(|d| u16::from_be_bytes([d.payload.as_slice()[0], d.payload.as_slice()[1]]))
        .collect();
    assert_eq!(got, (0..300).collect::<Vec<_>>(), "all, in order");
    assert_eq!(a.drops().get(DropReason::NeighborQueueFull), 0);
    assert_eq!(a.stats().solicitations_sent, 1);
    assert_eq!(a.nic(na).unwrap().arp_cache().queued(), 0);
}

#[test]
fn three_hundred_connects_at_once_all_establish_without_a_syn_retransmission() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, _) = host(la, &["198.18.0.1/24"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24"]);
    let now = Instant::from_secs(1);
    let l = b.tcp_listen(sock("198.18.0.2:80"), 512).unwrap();
    let conns: Vec<_> = (0..300)
        .map(|_| a.tcp_connect(sock("198.18.0.2:80"), None, now).unwrap())
        .collect();
    // The clock does not move: any SYN dropped while resolving would wait
    // for its 1 s RTO and stay in SYN-SENT.
    settle(&mut [&mut a, &mut b], now);
    for c in &conns {
        assert_eq!(a.tcp_state(*c), TcpState::Established);
    }
    let accepted = std::iter::from_fn(|| b.tcp_accept(l)).count();
    assert_eq!(accepted, 300);
    assert_eq!(a.drops().get(DropReason::NeighborQueueFull), 0);
    assert_eq!(b.drops().get(DropReason::NeighborQueueFull), 0);
}

#[test]
fn the_stack_wide_budget_bounds_parked_packets_across_neighbors_and_families() {
    let (la, lb) = pipe(1, 2, 1500);
    let config = StackConfig {
        neighbor: NeighborConfig {
            queue_limit: 512,
            queue_total_limit: 100,
            ..NeighborConfig::default()
        },
        ..StackConfig::default()
    };
    let (mut a, na) = host_with(la, &["198.18.0.1/24", "2001:2::1/64"], config);
    let (mut b, _) = host(lb, &["198.18.0.2/24", "2001:2::2/64"]);
    let mut now = Instant::from_secs(1);
    // Let IPv6 duplicate address detection finish on both.
    run_for(
        &mut [&mut a, &mut b],
        &mut now,
        Duration::from_secs(3),
        Duration::from_millis(500),
    );
    let srv = b.udp_bind(sock("0.0.0.0:7")).unwrap();
    let cli = a.udp_bind(sock("0.0.0.0:0")).unwrap();
    let cli6 = a.udp_bind(sock("[::]:0")).unwrap();
    let send = |a: &mut Stack, h, k: u8, to: &str| {
        a.udp_send_to(h, &[k], sock(to), now).unwrap();
    };
    // 80 for a host that never answers, then 80 for b: b gets the 20 slots
    // left, then each new datagram replaces b's oldest.
    for k in 0..80 {
        send(&mut a, cli, k, "198.18.0.9:7");
    }
    for k in 0..80 {
        send(&mut a, cli, k, "198.18.0.2:7");
    }
    let queued = |a: &Stack| {
        let n = a.nic(na).unwrap();
        n.arp_cache().queued() + n.ndp_cache().queued()
    };
    assert_eq!(queued(&a), 100);
    assert_eq!(a.drops().get(DropReason::NeighborQueueFull), 60);
    // The budget is the stack's, not the ARP cache's: a new IPv6 neighbor
    // has nothing to replace, so its packets are dropped (still solicited).
    for k in 0..5 {
        send(&mut a, cli6, k, "[2001:2::2]:7");
    }
    assert_eq!(queued(&a), 100);
    assert_eq!(a.drops().get(DropReason::NeighborQueueFull), 65);
    settle(&mut [&mut a, &mut b], now);
    let got: Vec<u8> = std::iter::from_fn(|| b.udp_recv(srv))
        .map(|d| d.payload.as_slice()[0])
        .collect();
    assert_eq!(got, (60..80).collect::<Vec<_>>(), "the newest 20 for b");
    // The dead host fails after three requests; its packets are freed.
    run_for(
        &mut [&mut a, &mut b],
        &mut now,
        Duration::from_secs(4),
        Duration::from_millis(500),
    );
    assert_eq!(queued(&a), 0);
    assert_eq!(a.drops().get(DropReason::NeighborUnresolved), 80);
    // With the budget back, a new burst parks and is delivered whole.
    a.udp_send_to(cli6, b"v6", sock("[2001:2::2]:7"), now)
        .unwrap();
    settle(&mut [&mut a, &mut b], now);
    assert_eq!(b.udp_recv(srv).unwrap().payload.as_slice(), b"v6");
    assert_eq!(a.drops().get(DropReason::NeighborQueueFull), 65);
}

#[test]
fn stale_delay_and_probe_send_at_once_with_the_cached_mac() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, na) = host(la, &["198.18.0.1/24"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24"]);
    let mut now = Instant::from_secs(1);
    let srv = b.udp_bind(sock("0.0.0.0:7")).unwrap();
    let cli = a.udp_bind(sock("0.0.0.0:0")).unwrap();
    a.udp_send_to(cli, &[0], sock("198.18.0.2:7"), now).unwrap();
    settle(&mut [&mut a, &mut b], now);
    assert!(b.udp_recv(srv).is_some());
    // ReachableTime is at most 1.5 x 30 s: STALE after 46 s of silence.
    run_for(
        &mut [&mut a, &mut b],
        &mut now,
        Duration::from_secs(46),
        Duration::from_secs(1),
    );
    assert_eq!(arp_state(&a, na, B_V4), Some(NeighborState::Stale));
    let tx = |a: &Stack| a.nic(na).unwrap().stats().tx_packets;
    let parked = |a: &Stack| a.nic(na).unwrap().arp_cache().queued();
    // From here only `a` runs: b's answers cannot come back, so the entry
    // walks STALE -> DELAY -> PROBE while a keeps sending.
    let sent_before = tx(&a);
    let solicit_before = a.stats().solicitations_sent;
    let mut datagrams = 0u8;
    let mut send = |a: &mut Stack, now: Instant| {
        datagrams += 1;
        a.udp_send_to(cli, &[datagrams], sock("198.18.0.2:7"), now)
            .unwrap();
        a.poll(now);
    };
    // RFC 4861 7.3.3: the first packet to a STALE entry goes out with the
    // cached address and starts DELAY.
    send(&mut a, now);
    assert_eq!(arp_state(&a, na, B_V4), Some(NeighborState::Delay));
    assert_eq!((tx(&a) - sent_before, parked(&a)), (1, 0));
    let delay_end = now + Duration::from_secs(5);
    while now < delay_end {
        now += Duration::from_millis(500);
        send(&mut a, now);
        assert_eq!(parked(&a), 0, "nothing queues in DELAY or PROBE");
    }
    // PROBE: a unicast probe every RetransTimer while traffic still flows.
    assert_eq!(arp_state(&a, na, B_V4), Some(NeighborState::Probe));
    assert_eq!(probes(&a, na), 1);
    for _ in 0..4 {
        now += Duration::from_millis(500);
        send(&mut a, now);
        assert_eq!(parked(&a), 0);
        assert_eq!(arp_state(&a, na, B_V4), Some(NeighborState::Probe));
    }
    assert_eq!(probes(&a, na), 3);
    assert_eq!(
        a.stats().solicitations_sent - solicit_before,
        3,
        "only unicast probes, no broadcast request"
    );
    let data_frames = tx(&a) - sent_before - 3;
    assert_eq!(data_frames, u64::from(datagrams));
    // b runs again: every datagram was delivered, and its answer to a probe
    // confirms the entry.
    settle(&mut [&mut a, &mut b], now);
    let got = std::iter::from_fn(|| b.udp_recv(srv)).count();
    assert_eq!(got, usize::from(datagrams));
    assert_eq!(arp_state(&a, na, B_V4), Some(NeighborState::Reachable));
    assert_eq!(a.drops().get(DropReason::NeighborQueueFull), 0);
}

/// Read what is there on `h`.
fn read(s: &mut Stack, h: xdpnet::transport::Handle) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.tcp_recv(h, &mut buf) {
            Ok(0) | Err(TcpError::WouldBlock) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("recv: {e}"),
        }
    }
}

#[test]
fn an_established_tcp_flow_confirms_reachability_and_is_never_probed() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, na) = host(la, &["198.18.0.1/24"]);
    let (mut b, nb) = host(lb, &["198.18.0.2/24"]);
    let mut now = Instant::from_secs(1);
    let server: SocketAddr = sock("198.18.0.2:80");
    let l = b.tcp_listen(server, 4).unwrap();
    let c = a.tcp_connect(server, None, now).unwrap();
    settle(&mut [&mut a, &mut b], now);
    let s = b.tcp_accept(l).unwrap();
    // Two minutes of fake time (more than 2.5 ReachableTimes), data both
    // ways every 100 ms: each side's ACKs advance the other's SND.UNA.
    let (mut sent, mut echoed) = (0usize, 0usize);
    let end = now + Duration::from_secs(120);
    let chunk = [0x5au8; 1000];
    while now < end {
        now += Duration::from_millis(100);
        sent += a.tcp_send(c, &chunk, now).unwrap();
        settle(&mut [&mut a, &mut b], now);
        let got = read(&mut b, s);
        b.tcp_send(s, &got, now).unwrap();
        settle(&mut [&mut a, &mut b], now);
        echoed += read(&mut a, c).len();
    }
    assert_eq!((sent, echoed), (1_200_000, 1_200_000));
    for (st, nic, peer) in [(&a, na, B_V4), (&b, nb, Ipv4Addr::new(198, 18, 0, 1))] {
        assert_eq!(probes(st, nic), 0, "no NUD probe while TCP makes progress");
        assert_eq!(arp_state(st, nic, peer), Some(NeighborState::Reachable));
    }
    assert_eq!(a.stats().solicitations_sent, 1, "the one initial request");
    assert_eq!(b.stats().solicitations_sent, 0);
    // Explicit hints from the application work too, and need an entry.
    let far = Ipv4Addr::new(198, 18, 0, 77).into();
    assert!(a.confirm_reachable(na, B_V4.into(), now).unwrap());
    assert!(!a.confirm_reachable(na, far, now).unwrap());
    // Once traffic stops, NUD takes over again: STALE, then (on use) a probe.
    run_for(
        &mut [&mut a, &mut b],
        &mut now,
        Duration::from_secs(46),
        Duration::from_secs(1),
    );
    assert_eq!(arp_state(&a, na, B_V4), Some(NeighborState::Stale));
}
