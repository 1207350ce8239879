//! Undoing spurious window reductions (RFC 3522 Eifel detection with
//! timestamps, RFC 3708 DSACK detection; the response restores the
//! congestion controller, RFC 4015 / RFC 9438 4.9): a segment that is only
//! late makes RACK retransmit it and cut the window; when the original
//! turns out to have arrived, the cut is taken back. A real loss at the
//! same place keeps it.

mod tcp_common;

use tcp_common::*;
use xdpnet::time::Duration;
use xdpnet::transport::tcp::{TcpInfo, TcpStats};

/// One-way delay of the pipes; the RTT is twice this.
const ONE_WAY: Duration = Duration::from_millis(5);

/// What happens to the client's segment 100.
#[derive(Clone, Copy)]
enum Fate {
    /// Its first transmission arrives 8 ms late (after segments sent
    /// later: reordering, no loss).
    Late,
    /// As `Late`, and the retransmission is lost: no DSACK can come back,
    /// only the timestamp echo tells.
    LateRetransmissionLost,
    /// Its first transmission is lost.
    Lost,
}

/// Move 400 kB client → server with segment 100 treated as `fate` (the
/// client offers timestamps and SACK or not); returns the client's info
/// and the stack counters.
fn transfer_with(fate: Fate, timestamps: bool, sack: bool) -> (TcpInfo, TcpStats) {
    let mss: u32 = if timestamps { 1448 } else { 1460 };
    let off = 100 * mss;
    let rules: &[(u32, u32)] = match fate {
        // No drop; the rule makes the filter log every transmission.
        Fate::Late => &[(off, 0)],
        // The hold takes the first transmission; the rule the second.
        Fate::LateRetransmissionLost | Fate::Lost => &[(off, 1)],
    };
    let holds: &[(u32, Duration)] = match fate {
        Fate::Late | Fate::LateRetransmissionLost => &[(off, Duration::from_millis(8))],
        Fate::Lost => &[],
    };
    let (_took, info, stats, log) = filtered_transfer_with(ONE_WAY, 400_000, rules, holds, |c| {
        c.timestamps = timestamps;
        c.sack = sack;
    });
    let sends = log.lock().unwrap().sends(off);
    assert_eq!(sends.len(), 2, "segment 100 sent twice: {sends:?} {info:?}");
    assert_eq!(info.mss, mss as usize);
    assert_eq!((info.timestamps, info.sack), (timestamps, sack));
    assert_eq!(info.fast_retransmits, 1, "one recovery episode: {info:?}");
    assert_eq!(info.timeouts, 0, "{info:?}");
    (info, stats)
}

/// No window reduction is left: ssthresh is still the initial "infinite"
/// one (the transfer never leaves slow start otherwise).
fn not_reduced(i: &TcpInfo) -> bool {
    i.ssthresh > 1 << 40
}

#[test]
fn eifel_undoes_a_reduction_for_a_late_segment() {
    let (i, st) = transfer_with(Fate::LateRetransmissionLost, true, true);
    assert_eq!(i.dsacks, 0, "{i:?}");
    assert_eq!(i.spurious_undos, 1, "{i:?}");
    assert_eq!(st.spurious_undos, 1);
    assert!(not_reduced(&i), "the reduction was taken back: {i:?}");
}

#[test]
fn dsack_undoes_a_reduction_for_a_late_segment_without_timestamps() {
    let (i, st) = transfer_with(Fate::Late, false, true);
    assert!(i.dsacks >= 1, "the receiver reported the duplicate: {i:?}");
    assert_eq!(i.spurious_undos, 1, "{i:?}");
    assert_eq!(st.spurious_undos, 1);
    assert!(not_reduced(&i), "{i:?}");
}

/// Without SACK (the receiver sends one duplicate ACK per out-of-order
/// segment): the late segment's fast retransmit is found spurious — by
/// Eifel with timestamps, by the ACK arriving sooner than the minimum RTT
/// after the retransmission without them — and undone, and DupThresh rises
/// past the reordering seen so the next one waits for more duplicates.
#[test]
fn without_sack_a_late_segment_is_undone_and_dupthresh_rises() {
    for timestamps in [true, false] {
        let (i, st) = transfer_with(Fate::Late, timestamps, false);
        let what = format!("timestamps {timestamps}: {i:?}");
        assert_eq!(i.spurious_undos, 1, "{what}");
        assert_eq!(st.spurious_undos, 1);
        assert!(not_reduced(&i), "{what}");
        assert!(i.reordering > 3, "{what}");
    }
}

/// Without SACK, two late segments in one window, the second later still:
/// the fast retransmit of the first is proven spurious by the ACK its late
/// original brings, which only reaches the second hole (a partial ACK). That proof is enough (as
/// Linux's `tcp_try_undo_partial`): the reduction is undone then, not
/// carried through NewReno's partial-ACK retransmissions, whose episode no
/// detector could clear (a 3 ms-jitter pipe took 14.3 s instead of 0.37 s
/// for 20 MB without it).
#[test]
fn without_sack_a_partial_ack_proving_the_retransmission_spurious_undoes_it() {
    for timestamps in [true, false] {
        let mss: u32 = if timestamps { 1448 } else { 1460 };
        let (a, b) = (100 * mss, 104 * mss);
        let (_took, i, st, _log) = filtered_transfer_with(
            ONE_WAY,
            400_000,
            &[(a, 0), (b, 0)],
            &[
                (a, Duration::from_millis(8)),
                (b, Duration::from_millis(11)),
            ],
            |c| {
                c.timestamps = timestamps;
                c.sack = false;
            },
        );
        let what = format!("timestamps {timestamps}: {i:?}");
        assert!(i.fast_retransmits >= 1, "{what}");
        assert_eq!(i.spurious_undos, i.fast_retransmits, "{what}");
        assert_eq!(st.spurious_undos, i.fast_retransmits);
        assert!(not_reduced(&i), "{what}");
        assert_eq!(i.timeouts, 0, "{what}");
    }
}

#[test]
fn a_real_loss_keeps_its_reduction() {
    for (timestamps, sack) in [(true, true), (false, true), (true, false), (false, false)] {
        let (i, st) = transfer_with(Fate::Lost, timestamps, sack);
        let what = format!("timestamps {timestamps}, SACK {sack}: {i:?}");
        assert_eq!(i.spurious_undos, 0, "{what}");
        assert_eq!(st.spurious_undos, 0);
        assert!(!not_reduced(&i), "{what}");
        assert_eq!(i.reordering, 3, "{what}");
    }
}
