//! Loss recovery and timers: fast retransmit on three duplicate ACKs and
//! NewReno recovery (RFC 5681 3.2, RFC 6582), SACK-based recovery
//! (RFC 6675) with RACK as the loss detector (RFC 8985; more in
//! `tcp_rack.rs`), retransmission timeout with backoff and abort (RFC 6298 5,
//! RFC 9293 3.8.3), the user timeout (RFC 5482), keepalive (RFC 9293
//! 3.8.4), and path MTU discovery from ICMP (RFC 1191, RFC 8201).

mod tcp_common;

use tcp_common::*;
use xdpnet::stack::{NextHop, Route, Stack};
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::{CongestionAlgorithm, Keepalive, TcpError, TcpState};
use xdpnet::transport::Handle;
use xdpnet::wire::tcp::TcpControl;

/// An established connection where the stack is the sender: (host,
/// connection, our first data sequence number, the peer's sequence).
fn sender(sack: bool, cc: CongestionAlgorithm) -> (RawHost, Handle, u32, u32) {
    let mut h = RawHost::new(1500);
    h.stack.tcp_config_mut().congestion = cc;
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 1000,
        mss: Some(1000),
        sack_permitted: sack,
        ..Inject::new(80)
    });
    let sa = h.recv_one();
    let ours = sa.seq.wrapping_add(1);
    h.send(&Inject {
        seq: 1001,
        ack: Some(ours),
        ..Inject::new(80)
    });
    let c = h.stack.tcp_accept(l).unwrap();
    h.stack.tcp_set_nodelay(c, true).unwrap();
    (h, c, ours, 1001)
}

fn ack(theirs: u32, a: u32, sack: &[(u32, u32)]) -> Inject {
    Inject {
        seq: theirs,
        ack: Some(a),
        sack: sack.to_vec(),
        ..Inject::new(80)
    }
}

#[test]
fn fast_retransmit_on_three_dup_acks_newreno() {
    let (mut h, c, ours, theirs) = sender(false, CongestionAlgorithm::NewReno);
    let data = payload(10_000, 1);
    let now = h.now;
    h.stack.tcp_send(c, &data, now).unwrap();
    h.poll();
    let segs = h.recv();
    // IW10 with an MSS of 1000: ten segments.
    assert_eq!(segs.len(), 10);
    assert_eq!(h.stack.tcp_info(c).unwrap().cwnd, 10_000);
    // Segment 0 is lost; segments 1.. each produce a duplicate ACK.
    h.send(&ack(theirs, ours, &[]));
    h.send(&ack(theirs, ours, &[]));
    assert!(h.recv().is_empty(), "two duplicates are not enough");
    h.send(&ack(theirs, ours, &[]));
    let r = h.recv_one();
    assert_eq!(
        r.seq, ours,
        "the first segment, without waiting for the RTO"
    );
    assert_eq!(r.payload, &data[..1000]);
    let i = h.stack.tcp_info(c).unwrap();
    assert_eq!(i.fast_retransmits, 1);
    assert_eq!(i.timeouts, 0);
    assert!(i.in_recovery);
    assert_eq!(i.ssthresh, 5000, "RFC 5681 equation 4: FlightSize / 2");
    // A partial ACK (segments 0..3 now acknowledged): the next hole is
    // retransmitted at once (RFC 6582 3.2 step 5).
    h.send(&ack(theirs, ours + 3000, &[]));
    let r = h.recv();
    assert_eq!(r[0].seq, ours + 3000);
    // The full ACK ends recovery with cwnd = min(ssthresh, flight + SMSS).
    h.send(&ack(theirs, ours + 10_000, &[]));
    let i = h.stack.tcp_info(c).unwrap();
    assert!(!i.in_recovery);
    assert!(i.cwnd <= 5000, "{i:?}");
}

#[test]
fn sack_recovery_retransmits_only_the_holes() {
    let (mut h, c, ours, theirs) = sender(true, CongestionAlgorithm::Cubic);
    let data = payload(10_000, 2);
    let now = h.now;
    h.stack.tcp_send(c, &data, now).unwrap();
    h.poll();
    assert_eq!(h.recv().len(), 10);
    // Segments 0 and 2 lost; 1, 3, 4, 5 arrive. The handshake measured an
    // RTT of 0, so RACK's reordering window (min_RTT / 4, RFC 8985 6.2) is
    // 0: a segment is lost as soon as one sent after it is SACKed.
    let s = |i: u32| ours + i * 1000;
    h.send(&ack(theirs, ours, &[(s(1), s(2))]));
    let r = h.recv();
    let seqs: Vec<u32> = r.iter().map(|x| x.seq).collect();
    assert_eq!(seqs, vec![s(0)], "segment 1 delivered: 0 is lost");
    h.send(&ack(theirs, ours, &[(s(3), s(4)), (s(1), s(2))]));
    // Segment 2 is now lost too, but PRR (RFC 6937 3) holds it: pipe
    // (10 - 2 SACKed - 1 lost = 7 segments) is at ssthresh (7000).
    assert!(h.recv().is_empty(), "PRR: pipe is at ssthresh");
    h.send(&ack(theirs, ours, &[(s(3), s(6)), (s(1), s(2))]));
    // Two more delivered: PRR-SSRB lets the lost segment go (there is no
    // new data); nothing SACKed or already retransmitted is resent.
    let r = h.recv();
    let seqs: Vec<u32> = r.iter().map(|x| x.seq).collect();
    assert_eq!(seqs, vec![s(2)], "only the second hole");
    let i = h.stack.tcp_info(c).unwrap();
    assert!(i.sack && i.in_recovery);
    assert_eq!(i.ssthresh, 7000, "CUBIC beta 0.7");
    h.send(&ack(theirs, ours + 10_000, &[]));
    assert!(!h.stack.tcp_info(c).unwrap().in_recovery);
}

#[test]
fn rto_backoff_doubles_then_aborts() {
    let (mut h, c, ours, _theirs) = sender(false, CongestionAlgorithm::Cubic);
    h.stack.tcp_config_mut().max_retries = 5;
    let now = h.now;
    h.stack.tcp_send(c, b"hello", now).unwrap();
    h.poll();
    assert_eq!(h.recv_one().seq, ours);
    // The handshake gave an RTT sample of ~0: RTO = the 200 ms minimum.
    assert_eq!(h.stack.tcp_info(c).unwrap().rto, Duration::from_millis(200));
    let t0 = h.now;
    let mut times = Vec::new();
    for _ in 0..10_000 {
        h.advance(Duration::from_millis(10));
        for s in h.recv() {
            assert_eq!((s.seq, s.payload.as_slice()), (ours, &b"hello"[..]));
            times.push(h.now.saturating_duration_since(t0).as_millis());
        }
        if h.stack.tcp_state(c) == TcpState::Closed {
            break;
        }
    }
    // RFC 6298 5.5: 200, 400, 800, 1600, 3200 ms apart.
    assert_eq!(times, vec![200, 600, 1400, 3000, 6200]);
    assert_eq!(h.stack.tcp_error(c), Some(TcpError::TimedOut));
    assert_eq!(h.now.saturating_duration_since(t0).as_millis(), 12_600);
    let i = h.stack.tcp_info(c).unwrap();
    assert_eq!(i.timeouts, 6);
    assert_eq!(i.cwnd, 1000, "loss window after the RTO");
}

#[test]
fn user_timeout_aborts_sooner() {
    let (mut h, c, _ours, _theirs) = sender(false, CongestionAlgorithm::Cubic);
    h.stack.tcp_config_mut().user_timeout = Some(Duration::from_secs(1));
    let now = h.now;
    h.stack.tcp_send(c, b"x", now).unwrap();
    h.poll();
    for _ in 0..1000 {
        h.advance(Duration::from_millis(10));
        if h.stack.tcp_state(c) == TcpState::Closed {
            break;
        }
    }
    assert_eq!(h.stack.tcp_error(c), Some(TcpError::TimedOut));
    // First retransmission at 200 ms, then 1 s after it.
    assert!(h.now.saturating_duration_since(now) < Duration::from_secs(2));
}

#[test]
fn rto_recovery_over_the_pipe_resends_from_snd_una() {
    // Kill the link for a while mid-transfer: everything outstanding is lost,
    // the RTO fires, and the transfer completes once the link is back.
    let (mut a, mut b) = two_hosts(1500);
    // Without SACK there is no tail loss probe (RFC 8985 needs SACK): the
    // RTO is what recovers here.
    a.tcp_config_mut().sack = false;
    let mut now = Instant::from_secs(1);
    let (c, s, _l) = connect(&mut a, &mut b, "198.18.0.2:80", &mut now);
    let data = payload(200_000, 3);
    let mut off = a.tcp_send(c, &data, now).unwrap();
    // Send, but drop everything B would have received.
    a.poll(now);
    let nic = xdpnet::stack::NicId(0);
    b.set_enabled(nic, false).unwrap();
    b.poll(now);
    b.set_enabled(nic, true).unwrap();
    assert!(a.tcp_info(c).unwrap().unacked > 0);
    let mut got = Vec::new();
    for _ in 0..100_000 {
        if off < data.len() {
            off += a.tcp_send(c, &data[off..], now).unwrap_or(0);
        }
        drain(&mut b, s, &mut got);
        if got.len() == data.len() {
            break;
        }
        now += Duration::from_millis(5);
        settle(&mut a, &mut b, now);
    }
    assert!(got == data);
    let i = a.tcp_info(c).unwrap();
    assert!(i.timeouts >= 1 && i.retransmits > 0, "{i:?}");
}

#[test]
fn keepalive_probes_then_aborts_a_dead_peer() {
    let (mut h, c, ours, theirs) = sender(false, CongestionAlgorithm::Cubic);
    let now = h.now;
    let k = Keepalive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(2),
        count: 3,
    };
    h.stack.tcp_set_keepalive(c, Some(k), now).unwrap();
    h.advance(Duration::from_millis(9_990));
    assert!(h.recv().is_empty());
    h.advance(Duration::from_millis(10));
    let p = h.recv_one();
    // RFC 9293 3.8.4: a segment with SEG.SEQ = SND.NXT - 1.
    assert_eq!((p.seq, p.payload.len()), (ours.wrapping_sub(1), 0));
    // An answer resets the probing.
    h.send(&ack(theirs, ours, &[]));
    assert_eq!(h.stack.tcp_state(c), TcpState::Established);
    for _ in 0..2000 {
        h.advance(Duration::from_millis(10));
        if h.stack.tcp_state(c) == TcpState::Closed {
            break;
        }
    }
    assert_eq!(h.stack.tcp_error(c), Some(TcpError::TimedOut));
}

// ---- path MTU ----------------------------------------------------------------

/// A ── R ── B, with R's link to B at `mtu_rb`.
fn triangle(mtu_rb: usize) -> (Stack, Stack, Stack) {
    let (la, lra) = pipe_pair(1500);
    // Only R's side of the R–B link is narrow, so B still advertises an
    // MSS of 1460 and A learns the path MTU from R's ICMP error alone.
    let (lrb, lb) = xdpnet::link::pipe::Pipe::pair(
        xdpnet::link::pipe::PipeConfig::new(mac(11)).with_mtu(mtu_rb),
        xdpnet::link::pipe::PipeConfig::new(mac(12)).with_mtu(1500),
    );
    let gw = |s: &mut Stack, gw: &str| {
        let nic = xdpnet::stack::NicId(0);
        s.add_route(Route {
            prefix: "0.0.0.0/0".parse().unwrap(),
            next_hop: NextHop::Gateway {
                nic,
                gateway: gw.parse().unwrap(),
            },
            metric: 0,
        })
        .unwrap();
    };
    let mut a = host(la, &["198.18.0.1/24"]);
    gw(&mut a, "198.18.0.254");
    let mut b = host(lb, &["198.18.1.2/24"]);
    gw(&mut b, "198.18.1.254");
    let mut r = Stack::default();
    let r0 = r.add_nic("r0", lra);
    let r1 = r.add_nic("r1", lrb);
    r.add_address(r0, "198.18.0.254/24".parse().unwrap())
        .unwrap();
    r.add_address(r1, "198.18.1.254/24".parse().unwrap())
        .unwrap();
    r.set_forwarding(r0, true, true).unwrap();
    r.set_forwarding(r1, true, true).unwrap();
    (a, r, b)
}

#[test]
fn icmp_frag_needed_lowers_the_mss_and_data_gets_through() {
    let (mut a, mut r, mut b) = triangle(1000);
    let mut now = Instant::from_secs(1);
    let l = b.tcp_listen(sock("198.18.1.2:80"), 4).unwrap();
    let c = a.tcp_connect(sock("198.18.1.2:80"), None, now).unwrap();
    let poll3 = |a: &mut Stack, r: &mut Stack, b: &mut Stack, now: Instant| {
        for _ in 0..10_000 {
            if !(a.poll(now) | r.poll(now) | b.poll(now)) {
                return;
            }
        }
    };
    poll3(&mut a, &mut r, &mut b, now);
    let s = b.tcp_accept(l).expect("handshake");
    // Both ends advertised 1460: the path's 1000 is not known yet.
    assert_eq!(a.tcp_info(c).unwrap().mss, 1448);
    let data = payload(100_000, 4);
    let mut off = 0;
    let mut got = Vec::new();
    for _ in 0..10_000 {
        if off < data.len() {
            off += a.tcp_send(c, &data[off..], now).unwrap_or(0);
        }
        drain(&mut b, s, &mut got);
        if got.len() == data.len() {
            break;
        }
        now += Duration::from_millis(1);
        poll3(&mut a, &mut r, &mut b, now);
    }
    assert!(got == data);
    let i = a.tcp_info(c).unwrap();
    assert_eq!(i.pmtu, 1000);
    assert_eq!(i.mss, 1000 - 20 - 20 - 12);
    assert!(a.tcp_stats().pmtu_updates >= 1);
    assert_eq!(i.timeouts, 0, "repaired without waiting for the RTO: {i:?}");
}
