//! TCP through loss and reordering on the in-memory pipe, in fake time:
//! the figures behind the README's reordering/loss paragraph.
//!
//! Each case moves 20 MB client → server over a 10 ms RTT pipe (5 ms each
//! way); the client's direction drops and/or delays each frame by a
//! random 0..jitter on top (reordering), the ACK direction is clean. The
//! clock is injected, so a case gives the same fake time on any machine:
//! this is a deterministic measurement, not a wall-clock benchmark.
//!
//! `cargo bench --bench tcp_faults` runs every case;
//! `TCP_FAULTS="jitter_ms:drop:sack:timestamps[;…]"` (e.g. `3:0:0:1`)
//! runs the ones given. Printed per case: fake time, segments
//! retransmitted, fast retransmits, timeouts, undone recoveries and
//! timeouts, the receiver's dropped out-of-order segments.

#[path = "../tests/tcp_common/mod.rs"]
mod tcp_common;

use tcp_common::*;
use xdpnet::time::{Duration, Instant};

const LEN: usize = 20 << 20;

fn run(jitter_ms: u64, drop: f64, sack: bool, timestamps: bool) {
    let one_way = Duration::from_millis(5);
    let (mut a, mut b) = fault_hosts(
        1500,
        tx_faults(one_way, Duration::from_millis(jitter_ms), drop, 1),
        tx_faults(one_way, Duration::ZERO, 0.0, 2),
    );
    a.tcp_config_mut().sack = sack;
    a.tcp_config_mut().timestamps = timestamps;
    let mut now = Instant::from_secs(1);
    let (c, s, took) = bulk_transfer(&mut a, &mut b, LEN, 3, &mut now, Duration::from_secs(3600));
    let (i, r) = (a.tcp_info(c).unwrap(), b.tcp_info(s).unwrap());
    println!(
        "jitter {jitter_ms} ms, drop {:>4.1} %, sack {sack:<5}, timestamps {timestamps:<5}: \
         {:>9.3} s, retransmitted {:>4}, fast {:>3}, timeouts {:>3}, undone {:>3} + {} RTO, \
         receiver ooo drops {}",
        drop * 100.0,
        took.as_secs_f64(),
        i.retransmits,
        i.fast_retransmits,
        i.timeouts,
        i.spurious_undos,
        i.spurious_rto_undos,
        r.ooo_dropped,
    );
}

fn main() {
    let cases = std::env::var("TCP_FAULTS").unwrap_or_else(|_| {
        [
            "1:0:1:1",
            "3:0:1:1",
            "0:0.02:1:1",
            "0:0.02:0:1",
            "0:0.02:0:0",
            "1:0:0:1",
            "3:0:0:1",
            "1:0:0:0",
            "3:0:0:0",
            "1:0.01:0:1",
        ]
        .join(";")
    });
    for case in cases.split(';').filter(|c| !c.is_empty()) {
        let f: Vec<&str> = case.split(':').collect();
        let parsed = (|| {
            Some((
                f.first()?.parse().ok()?,
                f.get(1)?.parse().ok()?,
                *f.get(2)? == "1",
                *f.get(3)? == "1",
            ))
        })();
        let Some((j, d, sack, ts)) = parsed else {
            panic!("TCP_FAULTS case {case:?}: want jitter_ms:drop:sack:timestamps, e.g. 3:0:0:1");
        };
        run(j, d, sack, ts);
    }
}
