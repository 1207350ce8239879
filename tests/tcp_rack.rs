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
    let (c, s, _l) = connect_delayed(&mut a, &mut b, "198.18.0.2:80", &mut now);
    let data = payload(10 << 20, 9);
    let (got, took) = transfer(
        &mut a,
        c,
        &mut b,
        s,
        &data,
        &mut now,
        Duration::from_millis(1),
        Duration::from_secs(600),
    );
    assert!(got == data, "data intact");
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
