//! Connection establishment (RFC 9293 3.5), option negotiation (RFC 9293
//! 3.7.1 MSS, RFC 7323 window scale and timestamps, RFC 2018
//! SACK-permitted), resets for closed ports (RFC 9293 3.10.7.1), SYN
//! retransmission (RFC 6298 5, RFC 9293 3.8.3) and SYN cookies (RFC 4987).

mod tcp_common;

use tcp_common::*;
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::{TcpError, TcpState};
use xdpnet::wire::tcp::TcpControl;

// ---- over the pipe ---------------------------------------------------------

#[test]
fn active_and_passive_open_v4_negotiates_everything() {
    let (mut a, mut b) = two_hosts(1500);
    let mut now = Instant::from_secs(1);
    let (c, s, l) = connect(&mut a, &mut b, "198.18.0.2:80", &mut now);
    for (st, h) in [(&a, c), (&b, s)] {
        let i = st.tcp_info(h).unwrap();
        assert_eq!(i.state, TcpState::Established);
        assert!(i.timestamps && i.sack, "{i:?}");
        // 1500 - 20 - 20 = 1460, less 12 octets of timestamps.
        assert_eq!(i.mss, 1448);
        assert_eq!(i.advertised_mss, 1460);
        // A 1 MiB buffer needs a shift of 5 (RFC 7323 2.3).
        assert_eq!((i.snd_wscale, i.rcv_wscale), (5, 5));
    }
    assert_eq!(a.tcp_peer_addr(c), Some(sock("198.18.0.2:80")));
    assert_eq!(b.tcp_peer_addr(s), a.tcp_local_addr(c));
    assert_eq!(b.tcp_accept(l), None);
    assert_eq!(a.tcp_stats().active_opens, 1);
    assert_eq!(b.tcp_stats().passive_opens, 1);
}

#[test]
fn open_v6_and_options_off() {
    let (mut a, mut b) = two_hosts(1500);
    for s in [&mut a, &mut b] {
        let cfg = s.tcp_config_mut();
        cfg.timestamps = false;
        cfg.sack = false;
        cfg.window_scaling = false;
    }
    let mut now = Instant::from_secs(1);
    let (c, _s, _l) = connect(&mut a, &mut b, "[2001:2::2]:443", &mut now);
    let i = a.tcp_info(c).unwrap();
    assert!(!i.timestamps && !i.sack);
    assert_eq!((i.snd_wscale, i.rcv_wscale), (0, 0));
    assert_eq!(i.mss, 1500 - 40 - 20);
}

#[test]
fn ephemeral_port_maps_reply_to_this_shard() {
    use xdpnet::stack::{Stack, StackConfig};
    use xdpnet::worker::flow_hash::{shard_of, FlowTuple};
    let (la, lb) = pipe_pair(1500);
    let mut a = Stack::new(StackConfig {
        partition: 2,
        partitions: 4,
        ..StackConfig::default()
    });
    let na = a.add_nic("eth0", la);
    a.add_address(na, "198.18.0.1/24".parse().unwrap()).unwrap();
    let mut b = host(lb, &["198.18.0.2/24"]);
    let _l = b.tcp_listen(sock("198.18.0.2:80"), 4).unwrap();
    let c = a
        .tcp_connect(sock("198.18.0.2:80"), None, Instant::ZERO)
        .unwrap();
    let local = a.tcp_local_addr(c).unwrap();
    let reply = FlowTuple {
        src_addr: "198.18.0.2".parse().unwrap(),
        dst_addr: local.ip(),
        src_port: 80,
        dst_port: local.port(),
        protocol: xdpnet::wire::IpProtocol::Tcp,
    };
    assert_eq!(shard_of(&reply, 4), 2);
    settle(&mut a, &mut b, Instant::ZERO);
    assert_eq!(a.tcp_state(c), TcpState::Established);
}

// ---- against a hand-driven peer --------------------------------------------

#[test]
fn passive_open_syn_ack_carries_options_and_clamped_mss() {
    let mut h = RawHost::new(1280);
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 1000,
        mss: Some(9000),
        window_scale: Some(7),
        sack_permitted: true,
        ts: Some((555, 0)),
        ..Inject::new(80)
    });
    let sa = h.recv_one();
    assert_eq!(sa.control, TcpControl::Syn);
    assert_eq!(sa.ack, Some(1001));
    assert_eq!(sa.mss, Some(1280 - 40), "clamped to the route MTU");
    assert_eq!(sa.window_scale, Some(5));
    assert!(sa.sack_permitted);
    assert_eq!(sa.ts.unwrap().1, 555, "TSecr echoes the SYN's TSval");
    assert_eq!(h.stack.tcp_accept(l), None, "not before the handshake ends");
    h.send(&Inject {
        seq: 1001,
        ack: Some(sa.seq.wrapping_add(1)),
        ts: Some((556, sa.ts.unwrap().0)),
        window: 100,
        ..Inject::new(80)
    });
    let c = h.stack.tcp_accept(l).expect("established");
    let i = h.stack.tcp_info(c).unwrap();
    assert_eq!(i.state, TcpState::Established);
    assert_eq!(i.snd_wscale, 7);
    assert_eq!(i.snd_wnd, 100 << 7);
    assert_eq!(i.mss, 1240 - 12);
}

#[test]
fn syn_without_options_gets_none_and_default_mss() {
    let mut h = RawHost::new(1500);
    let l = h.stack.tcp_listen(sock("0.0.0.0:80"), 8).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 7,
        ..Inject::new(80)
    });
    let sa = h.recv_one();
    assert_eq!(
        (sa.window_scale, sa.sack_permitted, sa.ts),
        (None, false, None)
    );
    h.send(&Inject {
        seq: 8,
        ack: Some(sa.seq.wrapping_add(1)),
        ..Inject::new(80)
    });
    let c = h.stack.tcp_accept(l).unwrap();
    // RFC 9293 3.7.1: 536 when the peer sends no MSS option.
    assert_eq!(h.stack.tcp_info(c).unwrap().mss, 536);
}

#[test]
fn simultaneous_open() {
    let mut h = RawHost::new(1500);
    let c = h
        .stack
        .tcp_connect(
            sock("198.18.0.2:5000"),
            Some(sock("198.18.0.1:5001")),
            h.now,
        )
        .unwrap();
    h.poll();
    let syn = h.recv_one();
    assert_eq!((syn.control, syn.ack), (TcpControl::Syn, None));
    // The peer's own SYN crosses ours (RFC 9293 Figure 8).
    let mut peer = Inject::new(5001);
    peer.src_port = 5000;
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 300,
        mss: Some(1460),
        ..peer.clone()
    });
    assert_eq!(h.stack.tcp_state(c), TcpState::SynReceived);
    let sa = h.recv_one();
    assert_eq!(sa.control, TcpControl::Syn);
    assert_eq!(sa.seq, syn.seq, "same ISS");
    assert_eq!(sa.ack, Some(301));
    // The peer's SYN-ACK arrives.
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 300,
        ack: Some(syn.seq.wrapping_add(1)),
        ..peer.clone()
    });
    // A SYN in SYN-RECEIVED that is not the original gets a challenge ACK;
    // the plain ACK completes the handshake.
    h.recv();
    h.send(&Inject {
        seq: 301,
        ack: Some(syn.seq.wrapping_add(1)),
        ..peer
    });
    assert_eq!(h.stack.tcp_state(c), TcpState::Established);
}

#[test]
fn closed_port_answers_with_reset() {
    let mut h = RawHost::new(1500);
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 41,
        ..Inject::new(81)
    });
    let r = h.recv_one();
    assert_eq!((r.control, r.seq, r.ack), (TcpControl::Rst, 0, Some(42)));
    h.send(&Inject {
        seq: 50,
        ack: Some(7777),
        payload: b"hi".to_vec(),
        ..Inject::new(81)
    });
    let r = h.recv_one();
    assert_eq!((r.control, r.seq, r.ack), (TcpControl::Rst, 7777, None));
    // A reset is never answered.
    h.send(&Inject {
        control: TcpControl::Rst,
        seq: 1,
        ..Inject::new(81)
    });
    assert!(h.recv().is_empty());
}

#[test]
fn connection_refused() {
    let mut h = RawHost::new(1500);
    let c = h
        .stack
        .tcp_connect(sock("198.18.0.2:80"), None, h.now)
        .unwrap();
    h.poll();
    let syn = h.recv_one();
    let mut rst = Inject::new(syn.src_port);
    rst.src_port = 80;
    // RST without ACK in SYN-SENT is ignored (RFC 9293 3.10.7.3).
    h.send(&Inject {
        control: TcpControl::Rst,
        seq: 0,
        ..rst.clone()
    });
    assert_eq!(h.stack.tcp_state(c), TcpState::SynSent);
    // A bad ACK is answered with a reset at SEG.ACK.
    h.send(&Inject {
        seq: 0,
        ack: Some(syn.seq.wrapping_add(1000)),
        ..rst.clone()
    });
    let r = h.recv_one();
    assert_eq!(
        (r.control, r.seq),
        (TcpControl::Rst, syn.seq.wrapping_add(1000))
    );
    h.send(&Inject {
        control: TcpControl::Rst,
        seq: 0,
        ack: Some(syn.seq.wrapping_add(1)),
        ..rst
    });
    assert_eq!(h.stack.tcp_state(c), TcpState::Closed);
    assert_eq!(h.stack.tcp_error(c), Some(TcpError::ConnectionRefused));
    let mut buf = [0u8; 4];
    assert_eq!(
        h.stack.tcp_recv(c, &mut buf),
        Err(TcpError::ConnectionRefused)
    );
}

#[test]
fn syn_retransmits_with_exponential_backoff_then_times_out() {
    let mut h = RawHost::new(1500);
    let c = h
        .stack
        .tcp_connect(sock("198.18.0.2:80"), None, h.now)
        .unwrap();
    h.poll();
    let first = h.recv_one();
    let t0 = h.now;
    let mut times = Vec::new();
    for _ in 0..20_000 {
        h.advance(Duration::from_millis(10));
        for s in h.recv() {
            assert_eq!(s.seq, first.seq);
            assert_eq!(s.control, TcpControl::Syn);
            times.push(h.now.saturating_duration_since(t0).as_millis());
        }
        if h.stack.tcp_state(c) == TcpState::Closed {
            break;
        }
    }
    // RFC 6298 2.1 (1 s initial RTO) and 5.5 (doubling); six retries
    // (Linux tcp_syn_retries).
    assert_eq!(times, vec![1000, 3000, 7000, 15000, 31000, 63000]);
    assert_eq!(h.stack.tcp_error(c), Some(TcpError::TimedOut));
    assert_eq!(h.now.saturating_duration_since(t0).as_millis(), 127_000);
}

#[test]
fn syn_cookies_beyond_the_backlog() {
    let mut h = RawHost::new(1500);
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 1).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 10,
        ..Inject::new(80)
    });
    let _first = h.recv_one();
    // The backlog of 1 is full: the next SYN gets a cookie, no state.
    let mut second = Inject::new(80);
    second.src_port = 40001;
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 5000,
        mss: Some(1460),
        ts: Some((9, 0)),
        window_scale: Some(3),
        sack_permitted: true,
        ..second.clone()
    });
    let sa = h.recv_one();
    assert_eq!(sa.control, TcpControl::Syn);
    assert_eq!(h.stack.tcp_stats().syncookies_sent, 1);
    // A forged cookie is refused with a reset.
    h.send(&Inject {
        seq: 5001,
        ack: Some(sa.seq.wrapping_add(2)),
        ts: Some((10, sa.ts.unwrap().0)),
        ..second.clone()
    });
    assert_eq!(h.recv_one().control, TcpControl::Rst);
    assert_eq!(h.stack.tcp_accept(l), None);
    // The real one creates the connection, options intact.
    h.send(&Inject {
        seq: 5001,
        ack: Some(sa.seq.wrapping_add(1)),
        ts: Some((10, sa.ts.unwrap().0)),
        window: 1000,
        payload: b"hello".to_vec(),
        ..second
    });
    let c = h.stack.tcp_accept(l).expect("cookie accepted");
    let i = h.stack.tcp_info(c).unwrap();
    assert_eq!(i.state, TcpState::Established);
    assert!(i.sack && i.timestamps);
    assert_eq!(i.snd_wscale, 3);
    assert_eq!(i.snd_wnd, 8000);
    assert_eq!(i.mss, 1448);
    let mut buf = [0u8; 16];
    assert_eq!(h.stack.tcp_recv(c, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(h.stack.tcp_stats().syncookies_recv, 1);
}

/// The peer's SYN-ACK was lost: its retransmitted SYN (Linux resends every
/// second, `tcp_syn_linear_timeouts`) must get the SYN-ACK again at once,
/// echoing the retransmission's TSval, not a bare ACK (which a peer in
/// SYN-SENT drops, leaving the handshake to our 1 s, 2 s, 4 s … SYN-ACK
/// backoff) nor the first SYN's TSval (which made Linux take the seconds
/// since its first SYN as its first RTT sample: an RTO of 15 s and more,
/// and a 1 MB echo connection under loss stalled past 60 s).
#[test]
fn retransmitted_syn_gets_the_syn_ack_again_with_its_tsval_echoed() {
    let mut h = RawHost::new(1500);
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
    let syn = Inject {
        control: TcpControl::Syn,
        seq: 1000,
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        ts: Some((5_000, 0)),
        ..Inject::new(80)
    };
    h.send(&syn);
    let lost = h.recv_one();
    assert_eq!(lost.control, TcpControl::Syn);
    assert_eq!(lost.ts.unwrap().1, 5_000);
    // The peer's SYN timer (1 s here; ours runs 1 s too, so come in just
    // before it) fires first.
    h.advance(Duration::from_millis(900));
    assert!(h.recv().is_empty(), "nothing before our own SYN-ACK RTO");
    h.send(&Inject {
        ts: Some((5_900, 0)),
        ..syn.clone()
    });
    let again = h.recv_one();
    assert_eq!(again.control, TcpControl::Syn, "a SYN-ACK, not a bare ACK");
    assert_eq!(again.seq, lost.seq);
    assert_eq!(again.ack, Some(1001));
    assert_eq!(
        again.ts.unwrap().1,
        5_900,
        "TSecr echoes the retransmitted SYN"
    );
    // The handshake ends on the ACK of the second SYN-ACK, 20 ms later:
    // the RTT sample is 20 ms, not the 920 ms since the first SYN-ACK.
    h.advance(Duration::from_millis(20));
    h.send(&Inject {
        seq: 1001,
        ack: Some(lost.seq.wrapping_add(1)),
        ts: Some((5_920, again.ts.unwrap().0)),
        ..Inject::new(80)
    });
    let c = h.stack.tcp_accept(l).expect("established");
    let i = h.stack.tcp_info(c).unwrap();
    assert_eq!(i.state, TcpState::Established);
    assert_eq!(i.srtt, Some(Duration::from_millis(20)));
    // Once established, a late copy of the SYN gets a challenge ACK
    // (RFC 5961 4.2), not a SYN-ACK.
    let _ = h.recv();
    h.send(&Inject {
        ts: Some((5_930, 0)),
        ..syn
    });
    let challenge = h.recv_one();
    assert_eq!(challenge.control, TcpControl::None);
    assert_eq!(challenge.ack, Some(1001));
}
