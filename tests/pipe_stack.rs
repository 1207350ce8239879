//! Stacks wired by in-memory pipes: resolution, ping, UDP, fragmentation,
//! forwarding with ICMP errors, neighbor queueing and aging, DAD.
//! Deterministic: a fake clock, no root, no kernel.

mod common;

use common::*;
use std::net::{IpAddr, Ipv4Addr};
use xdpnet::stack::neighbor::NeighborState;
use xdpnet::stack::{DropReason, NextHop, Route, Stack, StackConfig, StackEvent};
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::ControlType;

// ---- resolution and ping -------------------------------------------------

fn ping_once(a: &mut Stack, b: &mut Stack, dst: &str, now: Instant) -> Vec<IcmpSeen> {
    let dst = ip(dst);
    let h = icmp_endpoint(a, dst);
    a.send_echo_request(dst, 0x4242, 1, b"xdpnet ping", now)
        .expect("route");
    settle(&mut [a, b], now);
    let seen = icmp_seen(a, h);
    a.raw_close(h);
    seen
}

#[test]
fn arp_resolution_then_ping_v4() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, na) = host(la, &["198.18.0.1/24"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24"]);
    let now = Instant::from_secs(1);
    let seen = ping_once(&mut a, &mut b, "198.18.0.2", now);
    let replies: Vec<_> = seen.iter().filter(|s| s.echo.is_some()).collect();
    assert_eq!(replies.len(), 1, "{seen:?}");
    assert_eq!(replies[0].src, ip("198.18.0.2"));
    assert_eq!(replies[0].echo.as_ref().unwrap().2, b"xdpnet ping");
    // A learned B's MAC from the ARP reply, B learned A's from the request.
    let e = a
        .nic(na)
        .unwrap()
        .arp_cache()
        .get(Ipv4Addr::new(198, 18, 0, 2))
        .expect("entry");
    assert_eq!(e.mac, Some(mac(2)));
    assert_eq!(e.state, NeighborState::Reachable);
    assert_eq!(
        b.nic(na)
            .unwrap()
            .arp_cache()
            .get(Ipv4Addr::new(198, 18, 0, 1))
            .unwrap()
            .mac,
        Some(mac(1))
    );
    assert_eq!(a.stats().solicitations_sent, 1);
    assert_eq!(b.stats().icmp_echo_replies, 1);
    assert_eq!(
        a.drops().total(),
        0,
        "{:?}",
        a.drops().nonzero().collect::<Vec<_>>()
    );
}

#[test]
fn ndp_resolution_then_ping_v6() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, na) = host(la, &["2001:2::1/64"]);
    let (mut b, _) = host(lb, &["2001:2::2/64"]);
    let now = Instant::from_secs(1);
    let seen = ping_once(&mut a, &mut b, "2001:2::2", now);
    let replies: Vec<_> = seen.iter().filter(|s| s.echo.is_some()).collect();
    assert_eq!(replies.len(), 1, "{seen:?}");
    assert_eq!(replies[0].src, ip("2001:2::2"));
    let e = a
        .nic(na)
        .unwrap()
        .ndp_cache()
        .get("2001:2::2".parse().unwrap())
        .expect("entry");
    assert_eq!(e.mac, Some(mac(2)));
    assert_eq!(e.state, NeighborState::Reachable);
    // The link-local addresses answer too.
    let ll_b = xdpnet::stack::address::link_local_from_mac(&mac(2));
    let seen = ping_once(&mut a, &mut b, &ll_b.to_string(), now);
    assert_eq!(
        seen.iter().filter(|s| s.echo.is_some()).count(),
        1,
        "{seen:?}"
    );
}

// ---- UDP -----------------------------------------------------------------

fn udp_echo(a: &mut Stack, b: &mut Stack, server: &str, payload: &[u8], now: Instant) -> Vec<u8> {
    let server = sock(server);
    let srv = b
        .udp_bind(std::net::SocketAddr::new(server.ip(), server.port()))
        .unwrap();
    let unspec: IpAddr = if server.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let cli = a.udp_bind(std::net::SocketAddr::new(unspec, 0)).unwrap();
    a.udp_send_to(cli, payload, server, now).unwrap();
    settle(&mut [a, b], now);
    let d = b.udp_recv(srv).expect("server got the datagram");
    assert_eq!(d.dst, server);
    let reply = d.payload.as_slice().to_vec();
    b.udp_send_to(srv, &reply, d.src, now).unwrap();
    settle(&mut [a, b], now);
    let r = a.udp_recv(cli).expect("client got the echo");
    assert_eq!(r.src, server);
    b.udp_close(srv);
    a.udp_close(cli);
    r.payload.as_slice().to_vec()
}

#[test]
fn udp_echo_v4_and_v6() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, _) = host(la, &["198.18.0.1/24", "2001:2::1/64"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24", "2001:2::2/64"]);
    let now = Instant::from_secs(1);
    assert_eq!(
        udp_echo(&mut a, &mut b, "198.18.0.2:7", b"hello v4", now),
        b"hello v4"
    );
    assert_eq!(
        udp_echo(&mut a, &mut b, "[2001:2::2]:7", b"hello v6", now),
        b"hello v6"
    );
    assert_eq!(a.stats().udp_rx, 2);
    assert_eq!(b.stats().udp_rx, 2);
}

#[test]
fn fragmented_udp_round_trip_v4_and_v6() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, _) = host(la, &["198.18.0.1/24", "2001:2::1/64"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24", "2001:2::2/64"]);
    let now = Instant::from_secs(1);
    let payload: Vec<u8> = (0..9000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    assert_eq!(
        udp_echo(&mut a, &mut b, "198.18.0.2:9", &payload, now),
        payload
    );
    // 9008 bytes of UDP in 1480-byte fragments: 7 each way.
    assert_eq!(a.stats().fragments_created, 7);
    assert_eq!(b.stats().reassembled, 1);
    assert_eq!(a.stats().reassembled, 1);
    assert_eq!(
        udp_echo(&mut a, &mut b, "[2001:2::2]:9", &payload, now),
        payload
    );
    assert_eq!(b.stats().reassembled, 2);
    assert_eq!(a.stats().reassembled, 2);
    assert_eq!(a.drops().total() + b.drops().total(), 0);
}

#[test]
fn udp_to_closed_port_gets_port_unreachable_as_control_event() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, _) = host(la, &["198.18.0.1/24", "2001:2::1/64"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24", "2001:2::2/64"]);
    let now = Instant::from_secs(1);
    for dst in ["198.18.0.2:9999", "[2001:2::2]:9999"] {
        let dst = sock(dst);
        let bind = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let cli = a.udp_bind(sock(bind)).unwrap();
        a.udp_connect(cli, dst).unwrap();
        a.udp_send(cli, b"anyone?", now).unwrap();
        settle(&mut [&mut a, &mut b], now);
        let ev = a.udp_take_error(cli).expect("control event");
        assert_eq!(ev.kind, ControlType::PortUnreachable);
        assert_eq!(ev.remote, dst);
        assert_eq!(ev.reporter, dst.ip());
    }
    assert_eq!(b.drops().get(DropReason::NoListener), 2);
}

#[test]
fn packets_to_own_address_loop_back_without_the_link() {
    let (la, _lb) = pipe(1, 2, 1500);
    let (mut a, na) = host(la, &["198.18.0.1/24"]);
    let now = Instant::from_secs(1);
    let srv = a.udp_bind(sock("198.18.0.1:5000")).unwrap();
    let cli = a.udp_bind(sock("0.0.0.0:0")).unwrap();
    a.udp_send_to(cli, b"self", sock("198.18.0.1:5000"), now)
        .unwrap();
    settle(&mut [&mut a], now);
    assert_eq!(a.udp_recv(srv).unwrap().payload.as_slice(), b"self");
    assert_eq!(a.nic(na).unwrap().stats().tx_packets, 0);
    assert_eq!(a.stats().ip_looped_back, 1);
}

// ---- neighbor queueing and aging -------------------------------------------

#[test]
fn pending_packets_are_released_when_the_neighbor_resolves() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, _) = host(la, &["198.18.0.1/24"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24"]);
    let now = Instant::from_secs(1);
    let srv = b.udp_bind(sock("0.0.0.0:7")).unwrap();
    let cli = a.udp_bind(sock("0.0.0.0:0")).unwrap();
    let limit = a.config().neighbor.queue_limit;
    // Send more than the queue holds before anything is resolved.
    for k in 0..limit + 2 {
        a.udp_send_to(cli, &(k as u16).to_be_bytes(), sock("198.18.0.2:7"), now)
            .unwrap();
    }
    assert_eq!(
        a.drops().get(DropReason::NeighborQueueFull),
        2,
        "the two oldest are dropped"
    );
    settle(&mut [&mut a, &mut b], now);
    let got: Vec<u16> = std::iter::from_fn(|| b.udp_recv(srv))
        .map(|d| u16::from_be_bytes([d.payload.as_slice()[0], d.payload.as_slice()[1]]))
        .collect();
    // RFC 4861 7.2.2: the newest `limit` survive, in order.
    assert_eq!(got, (2..limit as u16 + 2).collect::<Vec<_>>());
    assert_eq!(
        a.stats().solicitations_sent,
        1,
        "one request for the whole queue"
    );
}

#[test]
fn neighbor_entries_age_and_are_reprobed_with_the_fake_clock() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, na) = host(la, &["198.18.0.1/24"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24"]);
    let mut now = Instant::from_secs(1);
    let srv = b.udp_bind(sock("0.0.0.0:7")).unwrap();
    let cli = a.udp_bind(sock("0.0.0.0:0")).unwrap();
    a.udp_send_to(cli, b"1", sock("198.18.0.2:7"), now).unwrap();
    settle(&mut [&mut a, &mut b], now);
    let b_ip = Ipv4Addr::new(198, 18, 0, 2);
    let state = |s: &Stack| s.nic(na).unwrap().arp_cache().get(b_ip).unwrap().state;
    assert_eq!(state(&a), NeighborState::Reachable);
    // ReachableTime is at most 1.5 × 30 s (RFC 4861 6.3.2).
    run_for(
        &mut [&mut a, &mut b],
        &mut now,
        Duration::from_secs(46),
        Duration::from_secs(1),
    );
    assert_eq!(state(&a), NeighborState::Stale);
    // Sending to a stale entry uses it and starts the delay timer (7.3.3).
    a.udp_send_to(cli, b"2", sock("198.18.0.2:7"), now).unwrap();
    assert_eq!(state(&a), NeighborState::Delay);
    settle(&mut [&mut a, &mut b], now);
    assert_eq!(b.udp_recv(srv).unwrap().payload.as_slice(), b"1");
    assert_eq!(b.udp_recv(srv).unwrap().payload.as_slice(), b"2");
    let before = a.stats().solicitations_sent;
    // After DELAY_FIRST_PROBE_TIME a unicast probe goes out and B answers.
    run_for(
        &mut [&mut a, &mut b],
        &mut now,
        Duration::from_secs(6),
        Duration::from_millis(500),
    );
    assert_eq!(a.stats().solicitations_sent, before + 1);
    assert_eq!(state(&a), NeighborState::Reachable);
}

#[test]
fn unresolvable_next_hop_fails_and_drops_the_queue() {
    let (la, _lb) = pipe(1, 2, 1500);
    let (mut a, _) = host(la, &["198.18.0.1/24"]);
    let mut now = Instant::from_secs(1);
    let cli = a.udp_bind(sock("0.0.0.0:0")).unwrap();
    a.udp_send_to(cli, b"void", sock("198.18.0.77:7"), now)
        .unwrap();
    run_for(
        &mut [&mut a],
        &mut now,
        Duration::from_secs(5),
        Duration::from_millis(250),
    );
    // MAX_MULTICAST_SOLICIT = 3 requests, then failure.
    assert_eq!(a.stats().solicitations_sent, 3);
    assert_eq!(a.drops().get(DropReason::NeighborUnresolved), 1);
}

// ---- forwarding ------------------------------------------------------------

/// A ── R ── B: A on 198.18.0.0/24 and 2001:2:0::/64, B on 198.18.1.0/24 and
/// 2001:2:1::/64; R forwards. R's link towards B has `mtu_rb`.
struct Triangle {
    a: Stack,
    r: Stack,
    b: Stack,
}

fn triangle(mtu_rb: usize, cfg_a: StackConfig) -> Triangle {
    let (la, lra) = pipe(1, 10, 1500);
    let (lrb, lb) = pipe(11, 2, mtu_rb);
    let mut a = Stack::new(cfg_a);
    let na = a.add_nic("eth0", la);
    a.add_address(na, net("198.18.0.1/24")).unwrap();
    a.add_address(na, net("2001:2::1/64")).unwrap();
    a.add_route(Route {
        prefix: net("0.0.0.0/0"),
        next_hop: NextHop::Gateway {
            nic: na,
            gateway: ip("198.18.0.254"),
        },
        metric: 0,
    })
    .unwrap();
    a.add_route(Route {
        prefix: net("::/0"),
        next_hop: NextHop::Gateway {
            nic: na,
            gateway: ip("2001:2::fe"),
        },
        metric: 0,
    })
    .unwrap();
    let mut r = Stack::default();
    let r0 = r.add_nic("r0", lra);
    let r1 = r.add_nic("r1", lrb);
    r.add_address(r0, net("198.18.0.254/24")).unwrap();
    r.add_address(r0, net("2001:2::fe/64")).unwrap();
    r.add_address(r1, net("198.18.1.254/24")).unwrap();
    r.add_address(r1, net("2001:2:0:1::fe/64")).unwrap();
    r.set_forwarding(r0, true, true).unwrap();
    r.set_forwarding(r1, true, true).unwrap();
    let mut b = Stack::default();
    let nb = b.add_nic("eth0", lb);
    b.add_address(nb, net("198.18.1.2/24")).unwrap();
    b.add_address(nb, net("2001:2:0:1::2/64")).unwrap();
    b.add_route(Route {
        prefix: net("0.0.0.0/0"),
        next_hop: NextHop::Gateway {
            nic: nb,
            gateway: ip("198.18.1.254"),
        },
        metric: 0,
    })
    .unwrap();
    b.add_route(Route {
        prefix: net("::/0"),
        next_hop: NextHop::Gateway {
            nic: nb,
            gateway: ip("2001:2:0:1::fe"),
        },
        metric: 0,
    })
    .unwrap();
    Triangle { a, r, b }
}

#[test]
fn forwarding_a_to_b_through_a_router_stack() {
    let mut t = triangle(1500, StackConfig::default());
    let now = Instant::from_secs(1);
    for dst in ["198.18.1.2", "2001:2:0:1::2"] {
        let h = icmp_endpoint(&mut t.a, ip(dst));
        t.a.send_echo_request(ip(dst), 7, 1, b"through", now)
            .unwrap();
        settle(&mut [&mut t.a, &mut t.r, &mut t.b], now);
        let seen = icmp_seen(&mut t.a, h);
        assert!(
            seen.iter().any(|s| s.echo.is_some() && s.src == ip(dst)),
            "{dst}: {seen:?}"
        );
    }
    // Two echo requests and two replies crossed R.
    assert_eq!(t.r.stats().ip_forwarded, 4);
    // The router's far address answers ping (weak host model).
    let h = icmp_endpoint(&mut t.a, ip("198.18.1.254"));
    t.a.send_echo_request(ip("198.18.1.254"), 7, 2, b"router", now)
        .unwrap();
    settle(&mut [&mut t.a, &mut t.r, &mut t.b], now);
    assert!(icmp_seen(&mut t.a, h).iter().any(|s| s.echo.is_some()));
    assert_eq!(
        t.r.drops().total(),
        0,
        "{:?}",
        t.r.drops().nonzero().collect::<Vec<_>>()
    );
}

#[test]
fn ttl_expiry_at_the_router_gives_time_exceeded_back_to_a() {
    let cfg = StackConfig {
        default_ttl: 1,
        default_hop_limit: 1,
        ..StackConfig::default()
    };
    let mut t = triangle(1500, cfg);
    let now = Instant::from_secs(1);
    for (dst, reporter) in [
        ("198.18.1.2:7", "198.18.0.254"),
        ("[2001:2:0:1::2]:7", "2001:2::fe"),
    ] {
        let dst = sock(dst);
        let bind = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let cli = t.a.udp_bind(sock(bind)).unwrap();
        let raw = icmp_endpoint(&mut t.a, dst.ip());
        t.a.udp_send_to(cli, b"short-lived", dst, now).unwrap();
        settle(&mut [&mut t.a, &mut t.r, &mut t.b], now);
        let ev = t.a.udp_take_error(cli).expect("time exceeded event");
        assert_eq!(ev.kind, ControlType::TimeExceeded);
        assert_eq!(
            ev.reporter,
            ip(reporter),
            "from the router's address on A's side"
        );
        let seen = icmp_seen(&mut t.a, raw);
        let te = if dst.is_ipv4() { 11 } else { 3 };
        assert!(
            seen.iter()
                .any(|s| s.msg_type == te && s.code == 0 && s.src == ip(reporter)),
            "{seen:?}"
        );
    }
    assert_eq!(t.r.drops().get(DropReason::TtlExceeded), 2);
    assert_eq!(t.b.stats().udp_rx, 0);
}

#[test]
fn too_big_for_the_egress_link_gives_frag_needed_and_packet_too_big() {
    let mut t = triangle(1280, StackConfig::default());
    let now = Instant::from_secs(1);
    // 1400 bytes fit A's link, so A sets DF (PMTU discovery); R cannot pass it.
    for dst in ["198.18.1.2:7", "[2001:2:0:1::2]:7"] {
        let dst = sock(dst);
        let bind = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let cli = t.a.udp_bind(sock(bind)).unwrap();
        t.a.udp_send_to(cli, &[0u8; 1400], dst, now).unwrap();
        settle(&mut [&mut t.a, &mut t.r, &mut t.b], now);
        let ev = t.a.udp_take_error(cli).expect("too-big event");
        assert_eq!(ev.kind, ControlType::PacketTooBig);
        assert_eq!(ev.info, 1280, "the next-hop MTU");
    }
    assert_eq!(t.r.drops().get(DropReason::MtuExceeded), 2);
}

#[test]
fn router_fragments_ipv4_without_df() {
    let mut t = triangle(1280, StackConfig::default());
    let now = Instant::from_secs(1);
    let srv = t.b.udp_bind(sock("0.0.0.0:7")).unwrap();
    let cli = t.a.udp_bind(sock("0.0.0.0:0")).unwrap();
    // Larger than A's MTU: A fragments (no DF), R re-fragments for 1280.
    let payload: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    t.a.udp_send_to(cli, &payload, sock("198.18.1.2:7"), now)
        .unwrap();
    settle(&mut [&mut t.a, &mut t.r, &mut t.b], now);
    assert_eq!(
        t.b.udp_recv(srv).expect("reassembled").payload.as_slice(),
        &payload[..]
    );
    assert!(t.r.stats().fragments_created >= 3, "{:?}", t.r.stats());
}

#[test]
fn no_route_and_unreachable_routes_answer_with_icmp() {
    let mut t = triangle(1500, StackConfig::default());
    let now = Instant::from_secs(1);
    t.r.add_route(Route {
        prefix: net("198.19.0.0/16"),
        next_hop: NextHop::Unreachable,
        metric: 0,
    })
    .unwrap();
    t.r.add_route(Route {
        prefix: net("198.19.9.0/24"),
        next_hop: NextHop::Blackhole,
        metric: 0,
    })
    .unwrap();
    let cli = t.a.udp_bind(sock("0.0.0.0:0")).unwrap();
    t.a.udp_send_to(cli, b"x", sock("198.19.1.1:7"), now)
        .unwrap();
    settle(&mut [&mut t.a, &mut t.r, &mut t.b], now);
    assert_eq!(
        t.a.udp_take_error(cli).map(|e| e.kind),
        Some(ControlType::NoRoute)
    );
    t.a.udp_send_to(cli, b"x", sock("198.19.9.1:7"), now)
        .unwrap();
    settle(&mut [&mut t.a, &mut t.r, &mut t.b], now);
    assert_eq!(t.a.udp_take_error(cli), None, "blackhole is silent");
    assert_eq!(t.r.drops().get(DropReason::UnreachableRoute), 1);
    assert_eq!(t.r.drops().get(DropReason::BlackholeRoute), 1);
}

// ---- IPv6 duplicate address detection ----------------------------------------

#[test]
fn dad_confirms_a_unique_address_and_detects_a_duplicate() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, na) = host(la, &[]);
    let (mut b, _) = host(lb, &["2001:2::5/64"]);
    let mut now = Instant::from_secs(1);
    use xdpnet::stack::PrimaryEndpointBehavior as P;
    a.add_address_with(na, net("2001:2::1/64"), P::CanBePrimary, true, now)
        .unwrap();
    a.add_address_with(na, net("2001:2::5/64"), P::CanBePrimary, true, now)
        .unwrap();
    assert!(
        !a.is_local(&ip("2001:2::1")),
        "tentative until DAD completes"
    );
    run_for(
        &mut [&mut a, &mut b],
        &mut now,
        Duration::from_secs(3),
        Duration::from_millis(100),
    );
    let events: Vec<_> = std::iter::from_fn(|| a.next_event()).collect();
    assert!(
        events.contains(&StackEvent::DadSucceeded {
            nic: na,
            addr: "2001:2::1".parse().unwrap()
        }),
        "{events:?}"
    );
    assert!(
        events.contains(&StackEvent::DadFailed {
            nic: na,
            addr: "2001:2::5".parse().unwrap()
        }),
        "{events:?}"
    );
    assert!(a.is_local(&ip("2001:2::1")));
    assert!(!a.is_local(&ip("2001:2::5")));
    assert!(a
        .nic(na)
        .unwrap()
        .addresses()
        .state_v6(&"2001:2::5".parse().unwrap())
        .is_none());
}

// ---- NIC switches and endpoints ------------------------------------------------

#[test]
fn disabled_nic_counts_and_drops() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, _) = host(la, &["198.18.0.1/24"]);
    let (mut b, nb) = host(lb, &["198.18.0.2/24"]);
    let now = Instant::from_secs(1);
    b.set_enabled(nb, false).unwrap();
    a.send_echo_request(ip("198.18.0.2"), 1, 1, b"", now)
        .unwrap();
    settle(&mut [&mut a, &mut b], now);
    let st = b.nic(nb).unwrap().stats();
    assert_eq!(st.disabled_rx_packets, 1, "the ARP request");
    assert_eq!(st.rx_packets, 0);
    assert_eq!(b.drops().get(DropReason::NicDisabled), 1);
}

#[test]
fn packet_endpoints_see_every_frame_both_ways() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, na) = host(la, &["198.18.0.1/24"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24"]);
    let now = Instant::from_secs(1);
    let tap = a.packet_open(na).unwrap();
    a.send_echo_request(ip("198.18.0.2"), 1, 1, b"", now)
        .unwrap();
    settle(&mut [&mut a, &mut b], now);
    use xdpnet::transport::packet::PacketDirection::*;
    let dirs: Vec<_> = std::iter::from_fn(|| a.packet_recv(tap))
        .map(|(d, f)| (d, f.as_slice()[12..14].to_vec()))
        .collect();
    // ARP request out, ARP reply in, echo request out, echo reply in.
    assert_eq!(
        dirs,
        vec![
            (Outgoing, vec![8, 6]),
            (Incoming, vec![8, 6]),
            (Outgoing, vec![8, 0]),
            (Incoming, vec![8, 0])
        ]
    );
}

#[test]
fn tcp_to_a_closed_port_is_reset() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, na) = host(la, &["198.18.0.1/24"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24"]);
    let now = Instant::from_secs(1);
    let tap = a.packet_open(na).unwrap();
    let raw = a.raw_open(
        xdpnet::transport::raw::IpFamily::V4,
        xdpnet::wire::IpProtocol::Tcp,
    );
    // A SYN to port 80, built by hand.
    let syn = [
        0x9c, 0x40, 0, 80, 0, 0, 0, 100, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ];
    let mut seg = syn;
    let ck = {
        use xdpnet::wire::checksum;
        let ph = checksum::pseudo_header_v4(
            &"198.18.0.1".parse().unwrap(),
            &"198.18.0.2".parse().unwrap(),
            xdpnet::wire::IpProtocol::Tcp,
            20,
        );
        !checksum::combine(&[ph, checksum::data(&seg)])
    };
    seg[16..18].copy_from_slice(&ck.to_be_bytes());
    a.raw_send(raw, ip("198.18.0.2"), &seg, now).unwrap();
    settle(&mut [&mut a, &mut b], now);
    let rst = std::iter::from_fn(|| a.raw_recv(raw))
        .next()
        .expect("a reset came back");
    let tcp = &rst.packet.as_slice()[20..];
    assert_eq!(tcp[13] & 0x14, 0x14, "RST+ACK");
    assert_eq!(
        u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]),
        101,
        "ack = SEG.SEQ + 1"
    );
    assert_eq!(b.drops().get(DropReason::NoListener), 1);
    let _ = a.packet_recv(tap);
}

// ---- software GSO ----------------------------------------------------------

#[test]
fn udp_segmented_send_is_cut_by_gso_into_one_batch() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, na) = host(la, &["198.18.0.1/24", "2001:2::1/64"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24", "2001:2::2/64"]);
    let now = Instant::from_secs(1);
    let payload: Vec<u8> = (0..60_000u32).map(|i| (i % 241) as u8).collect();
    for (k, dst) in ["198.18.0.2:7", "[2001:2::2]:7"].into_iter().enumerate() {
        let dst = sock(dst);
        let srv = b.udp_bind(dst).unwrap();
        let bind = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let cli = a.udp_bind(sock(bind)).unwrap();
        let n = a.udp_send_segmented(cli, &payload, 1400, dst, now).unwrap();
        assert_eq!(n, 43);
        let batches_before = a.nic(na).unwrap().stats().tx_batches;
        settle(&mut [&mut a, &mut b], now);
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| b.udp_recv(srv))
            .map(|d| d.payload.as_slice().to_vec())
            .collect();
        assert_eq!(got.len(), 43, "every segment is its own datagram");
        assert!(got[..42].iter().all(|d| d.len() == 1400));
        assert_eq!(got.concat(), payload);
        assert_eq!(a.stats().gso_packets, k as u64 + 1);
        assert_eq!(a.stats().gso_segments, 43 * (k as u64 + 1));
        // The 43 segments left in one write_packets call (plus the
        // resolution exchange on the first round).
        let batches = a.nic(na).unwrap().stats().tx_batches - batches_before;
        assert!(batches <= 2, "{batches} batches");
    }
    assert_eq!(a.drops().total() + b.drops().total(), 0);
}

// ---- NIC modes, rate limits, capture ------------------------------------------

#[test]
fn promiscuous_nic_accepts_other_macs_and_addresses() {
    use xdpnet::link::pipe::Channel;
    use xdpnet::link::Capabilities;
    let (ep, h) = Channel::new(mac(2), 1500, Capabilities::RESOLUTION_REQUIRED);
    let mut s = Stack::default();
    let n = s.add_nic("eth0", ep);
    s.add_address(n, net("198.18.0.2/24")).unwrap();
    let srv = s.udp_bind(sock("[::]:7")).unwrap();
    let mut f = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 9, 9, 9, 9, 9])
        .ipv4([198, 18, 0, 1], [198, 18, 0, 99], 64)
        .udp(1000, 7)
        .write(&mut f, b"sniffed")
        .unwrap();
    let now = Instant::from_secs(1);
    h.inject_inbound(&f);
    s.poll(now);
    assert_eq!(s.drops().get(DropReason::NotOurMac), 1);
    s.set_promiscuous(n, true).unwrap();
    h.inject_inbound(&f);
    s.poll(now);
    assert_eq!(
        s.udp_recv(srv)
            .expect("promiscuous delivery")
            .payload
            .as_slice(),
        b"sniffed"
    );
}

#[test]
fn spoofing_controls_sending_from_foreign_addresses() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, na) = host(la, &["198.18.0.1/24"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24"]);
    let now = Instant::from_secs(1);
    assert!(
        a.udp_bind(sock("198.18.0.77:5000")).is_err(),
        "not ours, no spoofing"
    );
    a.set_spoofing(na, true).unwrap();
    let cli = a.udp_bind(sock("198.18.0.77:5000")).unwrap();
    let srv = b.udp_bind(sock("0.0.0.0:7")).unwrap();
    a.udp_send_to(cli, b"from elsewhere", sock("198.18.0.2:7"), now)
        .unwrap();
    settle(&mut [&mut a, &mut b], now);
    assert_eq!(b.udp_recv(srv).unwrap().src, sock("198.18.0.77:5000"));
}

#[test]
fn icmp_errors_are_rate_limited() {
    let (la, lb) = pipe(1, 2, 1500);
    let (mut a, _) = host(la, &["198.18.0.1/24"]);
    let (mut b, _) = host(lb, &["198.18.0.2/24"]);
    let now = Instant::from_secs(1);
    let cli = a.udp_bind(sock("0.0.0.0:0")).unwrap();
    // Resolve first (echo replies are not rate limited), then flood.
    a.send_echo_request(ip("198.18.0.2"), 1, 1, b"", now)
        .unwrap();
    settle(&mut [&mut a, &mut b], now);
    let burst = u64::from(b.config().icmp_burst);
    for _ in 0..burst + 30 {
        a.udp_send_to(cli, b"?", sock("198.18.0.2:9"), now).unwrap();
    }
    settle(&mut [&mut a, &mut b], now);
    assert_eq!(
        b.stats().icmp_errors_sent,
        burst,
        "one bucket's worth at one instant"
    );
    assert_eq!(b.drops().get(DropReason::IcmpRateLimited), 30);
    // A second later the bucket has refilled.
    let later = now + Duration::from_secs(1);
    a.udp_send_to(cli, b"?", sock("198.18.0.2:9"), later)
        .unwrap();
    settle(&mut [&mut a, &mut b], later);
    assert_eq!(b.stats().icmp_errors_sent, burst + 1);
}

/// A `Write` whose bytes the test can read while the tap owns the writer.
#[derive(Clone, Default)]
struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn pcap_tap_captures_a_ping_exchange_readable_back() {
    use xdpnet::link::pcap::{read_pcap, PcapTap};
    let (la, lb) = pipe(1, 2, 1500);
    let buf = SharedBuf::default();
    let mut a = Stack::default();
    let na = a.add_nic("eth0", PcapTap::new(la, buf.clone()));
    a.add_address(na, net("198.18.0.1/24")).unwrap();
    let (mut b, _) = host(lb, &["198.18.0.2/24"]);
    let now = Instant::from_secs(3);
    a.send_echo_request(ip("198.18.0.2"), 1, 1, b"capture me", now)
        .unwrap();
    settle(&mut [&mut a, &mut b], now);
    let bytes = buf.0.lock().unwrap().clone();
    let frames = read_pcap(&bytes[..]).expect("a valid pcap file");
    // ARP request, ARP reply, echo request, echo reply — as tcpdump would show.
    let types: Vec<[u8; 2]> = frames.iter().map(|(_, f)| [f[12], f[13]]).collect();
    assert_eq!(types, vec![[8, 6], [8, 6], [8, 0], [8, 0]]);
    assert!(frames.iter().all(|(t, _)| *t == now));
    let reply = etherparse::SlicedPacket::from_ethernet(&frames[3].1).unwrap();
    let Some(etherparse::TransportSlice::Icmpv4(icmp)) = reply.transport else {
        panic!("icmp")
    };
    assert_eq!(icmp.payload(), b"capture me");
}
