//! Spurious retransmission timeouts detected and undone (F-RTO, RFC 5682;
//! Eifel, RFC 3522, for a timeout), and real ones left alone.
//!
//! Over the fake-clock pipe: the receiver's ACKs stall for 300 ms (an
//! ACK-path delay spike) while nothing is lost, so the sender's RTO
//! (200 ms, the minimum) expires; then every ACK arrives. And with a
//! hand-driven peer, the F-RTO steps one ACK at a time.

mod tcp_common;

use tcp_common::*;
use xdpnet::time::Duration;
use xdpnet::transport::tcp::{TcpInfo, TcpStats};

/// One-way delay of the pipes; the RTT is twice this.
const ONE_WAY: Duration = Duration::from_millis(5);

/// How long the receiver's ACKs are held: longer than the RTO (200 ms,
/// plus a 20 ms tail loss probe first with SACK), shorter than the RTO
/// after one backoff.
const STALL: Duration = Duration::from_millis(300);

/// Bytes moved: well past what one window holds when the stall begins.
const LEN: usize = 2_000_000;

/// The segment whose first transmission starts the stall.
const STALL_AT: u32 = 150;

/// The client's state around the timeout.
struct Run {
    /// At the end of the transfer.
    end: TcpInfo,
    stats: TcpStats,
    /// The last sample before the stall's timeout, and the first after it.
    before_rto: TcpInfo,
    after_rto: TcpInfo,
    /// The first sample after the undo, if one happened.
    at_undo: Option<TcpInfo>,
}

/// Move [`LEN`] bytes client → server; the server's ACKs stall for [`STALL`]
/// once the client sends segment [`STALL_AT`], and the client's segments
/// at `drops` offsets (in segments) are dropped once each. The stall's
/// timeout is the transfer's `timeouts`-th (the last).
fn stalled(
    timestamps: bool,
    sack: bool,
    frto: bool,
    drops: &[u32],
    stall_at: u32,
    timeouts: u64,
) -> Run {
    let mss: u32 = if timestamps { 1448 } else { 1460 };
    let rules: Vec<(u32, u32)> = drops.iter().map(|d| (d * mss, 1)).collect();
    let mut samples: Vec<TcpInfo> = Vec::new();
    let (_took, end, stats, log) = filtered_transfer_observed(
        ONE_WAY,
        LEN,
        &rules,
        &[],
        Some((stall_at * mss, STALL)),
        |c| {
            c.timestamps = timestamps;
            c.sack = sack;
            c.frto = frto;
        },
        &mut |i| samples.push(*i),
    );
    assert!(
        log.lock().unwrap().stall_window.is_some(),
        "the stall happened"
    );
    assert_eq!(end.mss, mss as usize);
    assert_eq!((end.timestamps, end.sack), (timestamps, sack));
    assert_eq!(end.timeouts, timeouts, "{end:?}");
    let k = samples
        .iter()
        .position(|i| i.timeouts == timeouts)
        .expect("RTO");
    let at_undo = samples.iter().find(|i| i.spurious_rto_undos > 0).copied();
    Run {
        end,
        stats,
        before_rto: samples[k - 1],
        after_rto: samples[k],
        at_undo,
    }
}

/// The timeout cut the window (RFC 5681 3.1: cwnd one segment, ssthresh
/// from the flight).
fn assert_rto_reduced(r: &Run) {
    let (b, a) = (&r.before_rto, &r.after_rto);
    assert_eq!(a.cwnd, a.mss, "cwnd = 1 SMSS after the RTO: {a:?}");
    assert!(
        a.ssthresh < b.ssthresh && a.ssthresh < b.cwnd,
        "{b:?} {a:?}"
    );
}

/// The timeout was found spurious once and its reduction undone: ssthresh
/// exactly as before it, cwnd at least as before (the controller was
/// restored, then the ACKs processed in the same poll may have grown it).
fn assert_undone(r: &Run, what: &str) {
    assert_rto_reduced(r);
    let u = r.at_undo.unwrap_or_else(|| {
        panic!(
            "{what}: no undo; before {:?} after {:?} end {:?}",
            r.before_rto, r.after_rto, r.end
        )
    });
    assert_eq!(u.spurious_rto_undos, 1, "{what}: {u:?}");
    assert_eq!(r.end.spurious_rto_undos, 1, "{what}: {:?}", r.end);
    assert_eq!(r.stats.spurious_rto_undos, 1, "{what}");
    assert_eq!(r.end.spurious_undos, 0, "not a fast-recovery undo: {what}");
    let b = &r.before_rto;
    assert_eq!(u.ssthresh, b.ssthresh, "{what}: before {b:?}, undone {u:?}");
    assert!(u.cwnd >= b.cwnd, "{what}: before {b:?}, undone {u:?}");
    assert!(!u.in_recovery, "{what}: {u:?}");
    assert_eq!(u.backoff, 0, "{what}: {u:?}");
    assert_eq!(r.end.ssthresh, b.ssthresh, "{what}: {:?}", r.end);
}

/// No timeout was undone, by either count.
fn assert_not_undone(r: &Run, what: &str) {
    assert!(r.at_undo.is_none(), "{what}");
    assert_eq!(r.end.spurious_rto_undos, 0, "{what}: {:?}", r.end);
    assert_eq!(r.stats.spurious_rto_undos, 0, "{what}");
}

/// The timeout's reduction stayed.
fn assert_kept(r: &Run, what: &str) {
    assert_rto_reduced(r);
    assert_not_undone(r, what);
    assert!(
        r.end.ssthresh < r.before_rto.ssthresh,
        "{what}: before {:?}, end {:?}",
        r.before_rto,
        r.end
    );
}

#[test]
fn frto_undoes_a_spurious_rto_with_sack() {
    let on = stalled(false, true, true, &[], STALL_AT, 1);
    assert_undone(&on, "F-RTO, SACK");
    let off = stalled(false, true, false, &[], STALL_AT, 1);
    assert_kept(
        &off,
        "no F-RTO, SACK (no timestamps: nothing else can tell)",
    );
}

#[test]
fn frto_undoes_a_spurious_rto_without_sack() {
    let on = stalled(false, false, true, &[], STALL_AT, 1);
    assert_undone(&on, "F-RTO, no SACK");
    let off = stalled(false, false, false, &[], STALL_AT, 1);
    assert_kept(&off, "no F-RTO, no SACK");
}

#[test]
fn frto_restores_a_finite_ssthresh() {
    // Segment 20 is really lost first and RACK repairs it in fast
    // recovery, so ssthresh is below the initial one when the stall comes;
    // that value is what the undo brings back.
    let what = "F-RTO after a fast recovery, SACK";
    let on = stalled(false, true, true, &[20], 400, 1);
    assert!(
        on.before_rto.ssthresh < 1 << 30,
        "{what}: {:?}",
        on.before_rto
    );
    assert_eq!(on.end.fast_retransmits, 1, "{what}: {:?}", on.end);
    assert_undone(&on, what);
    let off = stalled(false, true, false, &[20], 400, 1);
    assert_kept(&off, "no F-RTO after a fast recovery, SACK");
}

#[test]
fn without_sack_an_ack_for_everything_is_no_proof() {
    // Without SACK, segment 20's loss is repaired by fast retransmit (the
    // receiver sends a duplicate ACK per out-of-order segment), leaving a
    // small window: by the stall it goes out in bursts that the receiver
    // acknowledges with one ACK each, so the first ACK after the stall's
    // timeout covers all that was sent before it: RFC 5682 2 step 2a,
    // conventional recovery. Without SACK nothing tells a delay spike
    // from a loss of only the first segment, so the timeout may not be
    // undone. (The ssthresh the fast recovery left is below the one the
    // timeout sets, so `assert_kept`'s comparison does not apply.)
    let r = stalled(false, false, true, &[20], 400, 1);
    let what = "F-RTO, no SACK, one ACK for the whole window";
    assert_eq!(r.before_rto.fast_retransmits, 1, "{:?}", r.before_rto);
    assert_eq!(r.after_rto.cwnd, r.after_rto.mss, "{:?}", r.after_rto);
    assert_not_undone(&r, what);
    assert!(
        r.end.ssthresh < r.before_rto.cwnd,
        "{what}: before {:?}, end {:?}",
        r.before_rto,
        r.end
    );
}

#[test]
fn eifel_undoes_a_spurious_rto_with_timestamps() {
    // F-RTO off: the timestamp echo alone (RFC 3522 DET-3) shows the
    // first ACK after the timeout was for the original transmission.
    for sack in [true, false] {
        let r = stalled(true, sack, false, &[], STALL_AT, 1);
        assert_undone(&r, &format!("Eifel, SACK {sack}"));
    }
}

#[test]
fn a_real_tail_loss_timeout_is_not_undone() {
    // 14 segments; the last two (the second carrying the FIN) are lost,
    // and with SACK so is the tail loss probe that resends the last one:
    // only the RTO repairs them. Its retransmission is acknowledged, no
    // data sent before the timeout ever is, and there is no new data for
    // F-RTO step 2b: the timeout stands.
    for (timestamps, sack) in [(false, true), (false, false), (true, true), (true, false)] {
        let mss: u32 = if timestamps { 1448 } else { 1460 };
        let last = if sack { 2 } else { 1 };
        let rules = [(12 * mss, 1), (13 * mss, last)];
        let (_took, i, st, log) =
            filtered_transfer_with(ONE_WAY, 14 * mss as usize, &rules, &[], |c| {
                c.timestamps = timestamps;
                c.sack = sack;
            });
        let what = format!("timestamps {timestamps}, SACK {sack}: {i:?}");
        assert_eq!(log.lock().unwrap().sends(12 * mss).len(), 2, "{what}");
        assert!(i.timeouts >= 1, "{what}");
        assert_eq!(i.spurious_rto_undos, 0, "{what}");
        assert_eq!(st.spurious_rto_undos, 0, "{what}");
        assert!(i.ssthresh < 1 << 30, "the reduction stayed: {what}");
    }
}

// ---- a hand-driven peer: the basic algorithm one ACK at a time --------------

use xdpnet::transport::Handle;
use xdpnet::wire::tcp::TcpControl;

/// Our MSS towards a peer whose SYN carried no MSS option (RFC 9293 3.7.1).
const RAW_MSS: u32 = 536;

/// A passive open with a peer that offers SACK (and nothing else).
fn open_with_sack(h: &mut RawHost) -> (Handle, u32) {
    let l = h
        .stack
        .tcp_listen(std::net::SocketAddr::new(US.into(), 80), 8)
        .unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 1000,
        sack_permitted: true,
        ..Inject::new(80)
    });
    let sa = h.recv_one();
    assert!(sa.sack_permitted, "{sa:?}");
    // A 10 ms handshake RTT, so RACK's min_RTT is not zero (RFC 8985 6.2
    // step 2 tells the ACK of an original from one of its retransmission
    // by it).
    h.advance(Duration::from_millis(10));
    h.send(&ack_of(sa.seq + 1));
    (h.stack.tcp_accept(l).expect("accepted"), sa.seq + 1)
}

/// The stack sends 60 kB to a hand-driven peer (no timestamps; SACK as
/// `sack` says: RFC 5682 3.1 or 2), which acknowledges two rounds and
/// then goes quiet until the RTO fires (with SACK a tail loss probe of
/// new data goes first). Returns the host, the connection, SND.UNA at the
/// timeout, SND.NXT before it, and the info before and after it.
fn timed_out(frto: bool, sack: bool) -> (RawHost, Handle, u32, u32, TcpInfo, TcpInfo) {
    let mut h = RawHost::new(1500);
    h.stack.tcp_config_mut().frto = frto;
    let (c, mut una) = if sack {
        open_with_sack(&mut h)
    } else {
        let (c, ack) = h.passive_open(80);
        (c, ack.unwrap())
    };
    let mut nxt = una;
    let track = |segs: &[Seg], nxt: &mut u32| {
        for s in segs {
            assert!(s.seq >= *nxt, "no retransmission yet: {s:?}");
            *nxt = s.seq + s.payload.len() as u32;
        }
    };
    let data = payload(60_000, 3);
    assert_eq!(h.stack.tcp_send(c, &data, h.now).unwrap(), data.len());
    h.poll();
    for _ in 0..2 {
        h.advance(Duration::from_millis(10));
        track(&h.recv(), &mut nxt);
        una = nxt;
        h.send(&ack_of(una));
    }
    // The third round is not acknowledged: the RTO fires (at least
    // 200 ms) and resends only SND.UNA (step 1).
    let mut before = h.stack.tcp_info(c).unwrap();
    let mut segs = Vec::new();
    for _ in 0..1000 {
        h.advance(Duration::from_millis(1));
        segs = h.recv();
        let i = h.stack.tcp_info(c).unwrap();
        if i.timeouts > 0 {
            break;
        }
        track(&segs, &mut nxt);
        before = i;
    }
    assert_eq!(before.timeouts, 0, "{before:?}");
    assert_eq!(before.unacked as u32, nxt - una, "{before:?}");
    assert!(before.unacked > 10 * RAW_MSS as usize, "{before:?}");
    let after = h.stack.tcp_info(c).unwrap();
    assert_eq!(after.timeouts, 1, "{after:?}");
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_eq!(segs[0].seq, una, "the first unacknowledged segment");
    assert_eq!(after.cwnd, RAW_MSS as usize);
    (h, c, una, nxt, before, after)
}

/// A pure ACK from the peer.
fn ack_of(a: u32) -> Inject {
    Inject {
        seq: 1001,
        ack: Some(a),
        ..Inject::new(80)
    }
}

/// RFC 5682 2 step 2b: the first ACK after the timeout lets two new
/// segments go (cwnd 2 SMSS after it), not the retransmission of the
/// next presumed-lost one.
fn step_2b(h: &mut RawHost, una: u32, nxt: u32) {
    h.send(&ack_of(una + RAW_MSS));
    let segs = h.recv();
    let seqs: Vec<u32> = segs.iter().map(|s| s.seq).collect();
    assert_eq!(
        seqs,
        [nxt, nxt + RAW_MSS],
        "new data, not {}",
        una + RAW_MSS
    );
}

#[test]
fn frto_sends_new_data_then_undoes_on_an_ack_of_original_data() {
    for sack in [false, true] {
        let (mut h, c, una, nxt, before, _) = timed_out(true, sack);
        step_2b(&mut h, una, nxt);
        // Step 3b: the next ACK covers segments never retransmitted.
        h.send(&ack_of(una + 3 * RAW_MSS));
        let u = h.stack.tcp_info(c).unwrap();
        assert_eq!(u.spurious_rto_undos, 1, "SACK {sack}: {u:?}");
        assert_eq!(h.stack.tcp_stats().spurious_rto_undos, 1);
        assert_eq!(
            (u.cwnd, u.ssthresh),
            (before.cwnd, before.ssthresh),
            "{u:?}"
        );
        assert!(!u.in_recovery && u.backoff == 0, "{u:?}");
        // What follows is new data again (once the window has room):
        // no go-back-N.
        let mut segs = h.recv();
        h.send(&ack_of(una + 5 * RAW_MSS));
        segs.extend(h.recv());
        assert!(!segs.is_empty(), "SACK {sack}");
        let seqs: Vec<u32> = segs.iter().map(|s| s.seq).collect();
        let low = nxt + 2 * RAW_MSS;
        assert!(
            seqs.iter().all(|&s| s >= low),
            "SACK {sack}: {seqs:?} < {low}, una {una}"
        );
    }
}

#[test]
fn a_duplicate_ack_after_the_new_data_means_real_loss() {
    for sack in [false, true] {
        let (mut h, c, una, nxt, _, after) = timed_out(true, sack);
        step_2b(&mut h, una, nxt);
        // Step 3a: a duplicate ACK — the new data arrived (with SACK, the
        // block says so), the data sent before the timeout did not.
        let mut dup = ack_of(una + RAW_MSS);
        if sack {
            dup.sack = vec![(nxt, nxt + 2 * RAW_MSS)];
        }
        h.send(&dup);
        let i = h.stack.tcp_info(c).unwrap();
        assert_eq!(i.spurious_rto_undos, 0, "SACK {sack}: {i:?}");
        assert!(i.in_recovery, "{i:?}");
        assert_eq!(i.ssthresh, after.ssthresh, "{i:?}");
        // Conventional recovery resumes with the next presumed-lost
        // segment.
        let segs = h.recv();
        assert_eq!(segs.first().map(|s| s.seq), Some(una + RAW_MSS), "{segs:?}");
    }
}

#[test]
fn without_frto_the_first_ack_continues_go_back_n() {
    for sack in [false, true] {
        let (mut h, c, una, _, _, _) = timed_out(false, sack);
        h.send(&ack_of(una + RAW_MSS));
        let segs = h.recv();
        assert_eq!(segs.first().map(|s| s.seq), Some(una + RAW_MSS), "{segs:?}");
        h.send(&ack_of(una + 3 * RAW_MSS));
        let i = h.stack.tcp_info(c).unwrap();
        assert_eq!(i.spurious_rto_undos, 0, "SACK {sack}: {i:?}");
    }
}

/// Without SACK, a first ACK after the timeout that covers several
/// segments grows the window by slow start, yet step 2b sends only two
/// new segments (RFC 5682 2); and an ACK that then leaves SND.UNA where
/// it was while moving the window edge (the peer's application read) is
/// step 3a's evidence too: the next presumed-lost segment goes at once,
/// not after a second timeout. (20 MB over a 10 ms pipe with 2 % loss,
/// no SACK: 280 timeouts with neither rule, 265 with the 3a rule only,
/// 242 with both; 240 with F-RTO off.)
#[test]
fn step_2b_sends_two_segments_and_a_window_update_means_real_loss() {
    let (mut h, c, una, nxt, _, after) = timed_out(true, false);
    // The retransmission filled a hole below seven segments that had
    // arrived: SND.UNA moves eight segments, short of SND.NXT.
    let hole = una + 8 * RAW_MSS;
    assert!(hole < nxt);
    h.send(&ack_of(hole));
    let i = h.stack.tcp_info(c).unwrap();
    assert!(i.cwnd >= 4 * RAW_MSS as usize, "slow start grew it: {i:?}");
    let seqs: Vec<u32> = h.recv().iter().map(|s| s.seq).collect();
    assert_eq!(seqs, [nxt, nxt + RAW_MSS], "two new segments only");
    // The new data arrived, the hole did not fill: same ACK number, a
    // larger window.
    h.send(&Inject {
        window: 65535 - 1,
        ..ack_of(hole)
    });
    let segs = h.recv();
    assert_eq!(segs.first().map(|s| s.seq), Some(hole), "{segs:?}");
    let i = h.stack.tcp_info(c).unwrap();
    assert_eq!(i.spurious_rto_undos, 0, "{i:?}");
    assert_eq!(i.timeouts, 1, "{i:?}");
    assert_eq!(i.ssthresh, after.ssthresh, "{i:?}");
}

/// RFC 5682 2 step 2a, hand-driven without SACK: the first ACK after the
/// timeout covers everything sent before it. Without SACK that cannot
/// tell a delay spike from the loss of only the retransmitted segment, so
/// conventional recovery goes on and the ACKs of the data sent after it
/// undo nothing.
#[test]
fn without_sack_a_first_ack_for_everything_ends_frto() {
    let (mut h, c, _una, nxt, _, after) = timed_out(true, false);
    h.send(&ack_of(nxt));
    let segs = h.recv();
    let last = segs.last().expect("new data goes");
    assert!(last.seq >= nxt, "{segs:?}");
    let end = last.seq + last.payload.len() as u32;
    h.send(&ack_of(end));
    let i = h.stack.tcp_info(c).unwrap();
    assert_eq!(i.spurious_rto_undos, 0, "{i:?}");
    assert_eq!(i.ssthresh, after.ssthresh, "{i:?}");
}
