//! Loss detection with RACK-TLP (RFC 8985) and SACK recovery (RFC 6675)
//! over lossy pipes and a hand-driven peer.

mod tcp_common;

use tcp_common::*;
use xdpnet::time::{Duration, Instant};

/// 10 MB over a 10 ms RTT pipe losing 2 % of the frames in each direction.
#[test]
fn random_loss_two_percent_recovers_without_rto() {
    let (mut a, mut b) = lossy_hosts(1500, Duration::from_millis(5), 0.02, 42);
    let mut now = Instant::from_secs(1);
    let (c, _s, took) = bulk_transfer(
        &mut a,
        &mut b,
        10 << 20,
        9,
        &mut now,
        Duration::from_secs(600),
    );
    let i = a.tcp_info(c).unwrap();
    let lost = a.tcp_stats().retransmitted_segs;
    eprintln!("took {took:?}; sender {i:?}; {:?}", a.tcp_stats());
    // About 2 % of ~7300 data segments are lost (~150): RACK, SACK
    // recovery and TLP repair them. Before RACK-TLP, 34 of ~180 losses
    // needed an RTO and this took 21.5 s.
    assert!(i.retransmits >= 100, "the link did lose segments: {i:?}");
    assert!(
        i.timeouts * 20 <= lost,
        "recovery must be mostly ACK-driven, not RTO-driven: {i:?}"
    );
    // Mathis et al.: rate <= MSS / RTT * 1.22 / sqrt(p) ~ 1.25 MB/s at
    // p = 2 %, RTT = 10 ms, so a Reno-like sender needs ~8.4 s for 10 MB;
    // allow 15 s (RTO-driven recovery needs over 20 s).
    assert!(
        took < Duration::from_secs(15),
        "10 MB took {took:?} of fake time: {i:?}"
    );
}

/// Payload octets per segment over the pipe (1500 - 40 - 12 of timestamps).
const MSS: u32 = 1448;
/// One-way delay of the filtered pipes; the RTT is twice this.
const ONE_WAY: Duration = Duration::from_millis(5);

/// [`filtered_transfer_with`] over [`ONE_WAY`] pipes, nothing held back,
/// default settings.
fn filtered_transfer(
    len: usize,
    rules: &[(u32, u32)],
) -> (
    Duration,
    xdpnet::transport::tcp::TcpInfo,
    xdpnet::transport::tcp::TcpStats,
    std::sync::Arc<std::sync::Mutex<FilterLog>>,
) {
    filtered_transfer_with(ONE_WAY, len, rules, &[], |_| {})
}

#[test]
fn rack_detects_a_lost_retransmission_without_rto() {
    // Segment 100 is lost, and so is its first retransmission.
    let off = 100 * MSS;
    let (_took, i, _st, log) = filtered_transfer(400_000, &[(off, 2)]);
    let log = log.lock().unwrap();
    let sends = log.sends(off);
    assert_eq!(
        sends.len(),
        3,
        "original, lost retransmission, repair: {sends:?}"
    );
    assert!(sends[0].1 && sends[1].1 && !sends[2].1);
    // RACK (RFC 8985 6.2): the first retransmission has its own transmit
    // time; once segments sent after it are SACKed (one RTT later) it is
    // lost too. Far sooner than the RTO (at least 200 ms).
    let rtt = ONE_WAY * 2;
    let gap = sends[2].0.saturating_duration_since(sends[1].0);
    assert!(gap <= rtt * 3, "second repair {gap:?} after the first");
    assert_eq!(i.timeouts, 0, "{i:?}");
    assert_eq!(i.fast_retransmits, 1, "one recovery episode: {i:?}");
}

#[test]
fn sack_recovery_repairs_three_holes_in_one_rtt() {
    // Three non-adjacent segments of one window (slow start's third round
    // sends segments 30..70).
    let offs = [40 * MSS, 46 * MSS, 52 * MSS];
    let rules: Vec<(u32, u32)> = offs.iter().map(|&o| (o, 1)).collect();
    let (_took, i, _st, log) = filtered_transfer(300_000, &rules);
    let log = log.lock().unwrap();
    let repairs: Vec<Instant> = offs
        .iter()
        .map(|&o| {
            let s = log.sends(o);
            assert_eq!(s.len(), 2, "lost once, repaired once: {s:?}");
            s[1].0
        })
        .collect();
    let first = *repairs.iter().min().unwrap();
    let last = *repairs.iter().max().unwrap();
    assert!(
        last.saturating_duration_since(first) <= ONE_WAY * 2,
        "all holes repaired within one RTT: {repairs:?}"
    );
    // The first repair comes one RTT after the loss, when SACKs show it.
    let lost_at = log.sends(offs[0])[0].0;
    assert!(first.saturating_duration_since(lost_at) <= ONE_WAY * 4);
    assert_eq!(i.timeouts, 0, "{i:?}");
    assert_eq!(i.fast_retransmits, 1, "one episode, one cwnd cut: {i:?}");
    assert_eq!(i.retransmits, 3, "only the holes: {i:?}");
}

#[test]
fn tail_loss_probe_repairs_a_tail_loss_before_the_rto() {
    // 14 segments; the last two (the second carrying the FIN) are lost.
    // Nothing follows them to be SACKed, so only a probe or the RTO can
    // reveal the loss.
    let (took, i, st, log) = filtered_transfer(14 * MSS as usize, &[(12 * MSS, 1), (13 * MSS, 1)]);
    let log = log.lock().unwrap();
    eprintln!(
        "{took:?} {st:?} {:?} {:?}",
        log.sends(12 * MSS),
        log.sends(13 * MSS)
    );
    assert_eq!(log.sends(12 * MSS).len(), 2);
    assert_eq!(log.sends(13 * MSS).len(), 2);
    // RFC 8985 7.2: PTO = 2 SRTT = ~20 ms; the probe resends the last
    // segment, its SACK lets RACK mark segment 12 lost.
    assert!(st.tlp_probes >= 1 && i.tlp_probes >= 1, "{st:?}");
    assert_eq!(i.timeouts, 0, "{i:?}");
    assert!(
        took < Duration::from_millis(150),
        "repaired by the probe, not the 200 ms RTO: {took:?}"
    );
}

// ---- a hand-driven peer ---------------------------------------------------

use xdpnet::transport::Handle;
use xdpnet::wire::tcp::TcpControl;

/// An established SACK connection where the stack sends, with a measured
/// RTT of 20 ms: (host, connection, our first data sequence, theirs).
fn sender_20ms() -> (RawHost, Handle, u32, u32) {
    let mut h = RawHost::new(1500);
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 1000,
        mss: Some(1000),
        sack_permitted: true,
        ..Inject::new(80)
    });
    let sa = h.recv_one();
    let ours = sa.seq.wrapping_add(1);
    h.now += Duration::from_millis(20);
    h.send(&Inject {
        seq: 1001,
        ack: Some(ours),
        ..Inject::new(80)
    });
    let c = h.stack.tcp_accept(l).unwrap();
    h.stack.tcp_set_nodelay(c, true).unwrap();
    (h, c, ours, 1001)
}

fn sack_ack(theirs: u32, a: u32, sack: &[(u32, u32)]) -> Inject {
    Inject {
        seq: theirs,
        ack: Some(a),
        sack: sack.to_vec(),
        ..Inject::new(80)
    }
}

/// One round: `n` segments from `base` are in flight; segment 0's
/// delivery is delayed `late` behind the others, which arrive reordered
/// (2 before 1). Returns the segments the stack sent meanwhile.
fn reordered_round(h: &mut RawHost, theirs: u32, base: u32, n: u32, late: Duration) -> Vec<Seg> {
    let s = |i: u32| base + i * 1000;
    h.advance(Duration::from_millis(20));
    h.send(&sack_ack(theirs, base, &[(s(2), s(3))]));
    // Segment 1 arrives after segment 2: never retransmitted and below
    // RACK.fack, so RACK sees reordering (RFC 8985 6.2 step 3).
    h.send(&sack_ack(theirs, base, &[(s(1), s(3))]));
    h.send(&sack_ack(theirs, base, &[(s(1), s(n))]));
    let mut out = h.recv();
    h.advance(late);
    out.extend(h.recv());
    out
}

#[test]
fn dsack_widens_the_reordering_window() {
    let (mut h, c, ours, theirs) = sender_20ms();
    let now = h.now;
    h.stack.tcp_send(c, &payload(10_000, 5), now).unwrap();
    h.poll();
    assert_eq!(h.recv().len(), 10);
    // Round 1: segment 0 is 7 ms late. RACK's window is min_RTT / 4 =
    // 5 ms, so it is (spuriously) retransmitted by the reordering timer.
    let sent = reordered_round(&mut h, theirs, ours, 10, Duration::from_millis(7));
    let seqs: Vec<u32> = sent.iter().map(|x| x.seq).collect();
    assert_eq!(seqs, vec![ours], "spurious retransmission of segment 0");
    assert_eq!(h.stack.tcp_info(c).unwrap().retransmits, 1);
    // The original arrives, then the retransmission: the receiver reports
    // the duplicate in a DSACK block (RFC 2883) below the cumulative ACK.
    let end = ours + 10_000;
    h.send(&sack_ack(theirs, end, &[(ours, ours + 1000)]));
    assert!(!h.stack.tcp_info(c).unwrap().in_recovery);
    // Round 2: the same reordering. The DSACK doubled the window to 10 ms
    // (RFC 8985 6.2 step 4): no spurious retransmission this time.
    let now = h.now;
    h.stack.tcp_send(c, &payload(5_000, 6), now).unwrap();
    h.poll();
    let new: Vec<u32> = h.recv().iter().map(|x| x.seq).collect();
    assert_eq!(new.len(), 5, "{new:?}");
    assert_eq!(new[0], end);
    let sent = reordered_round(&mut h, theirs, end, 5, Duration::from_millis(7));
    assert!(sent.is_empty(), "no spurious retransmission: {sent:?}");
    h.send(&sack_ack(theirs, end + 5000, &[]));
    let i = h.stack.tcp_info(c).unwrap();
    assert_eq!(i.retransmits, 1, "{i:?}");
    assert!(i.dsacks >= 1 && i.reordering_seen, "{i:?}");
    assert_eq!(i.min_rtt, Some(Duration::from_millis(20)));
    assert_eq!(i.timeouts, 0, "{i:?}");
    assert_eq!(i.unacked, 0);
}

#[test]
fn receiver_reports_a_duplicate_in_a_dsack_block() {
    let mut h = RawHost::new(1500);
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 1000,
        mss: Some(1000),
        sack_permitted: true,
        ..Inject::new(80)
    });
    let ours = h.recv_one().seq.wrapping_add(1);
    h.send(&Inject {
        seq: 1001,
        ack: Some(ours),
        ..Inject::new(80)
    });
    let _c = h.stack.tcp_accept(l).unwrap();
    let data = |seq: u32| Inject {
        seq,
        ack: Some(ours),
        payload: vec![7; 100],
        ..Inject::new(80)
    };
    // Out of order: 1201..1301 held, SACKed.
    h.send(&data(1201));
    assert_eq!(h.recv_one().sack, vec![(1201, 1301)]);
    // The same segment again: a DSACK block first (RFC 2883 4.1.2), then
    // the SACK block holding it.
    h.send(&data(1201));
    assert_eq!(h.recv_one().sack, vec![(1201, 1301), (1201, 1301)]);
    // In order, then a duplicate below RCV.NXT (RFC 2883 4.1.1).
    h.send(&data(1001));
    h.send(&data(1101));
    let a = h.recv();
    assert_eq!(a.last().unwrap().ack, Some(1301));
    h.send(&data(1001));
    let d = h.recv_one();
    assert_eq!((d.ack, d.sack.clone()), (Some(1301), vec![(1001, 1101)]));
    // The next ACK no longer carries it.
    h.send(&data(1301));
    let n = h.recv();
    assert!(n.iter().all(|s| s.sack.is_empty()), "{n:?}");
}
