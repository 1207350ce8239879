//! The receiver under reordering: out-of-order data in many holes at once
//! is held (RFC 9293 3.10.7.4 "seventh"), SACK blocks name the most
//! recently changed ranges first (RFC 2018 4), every duplicate of a batch
//! is reported in a DSACK block (RFC 2883 4), and a transfer over a path
//! that reorders by milliseconds needs no retransmission.

mod tcp_common;

use tcp_common::*;
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::TcpError;
use xdpnet::transport::Handle;
use xdpnet::wire::tcp::TcpControl;

/// A connection accepted from the raw peer, which offered SACK and an MSS
/// of 1000; returns it and the ACK number the peer's segments carry.
fn sack_peer(h: &mut RawHost) -> (Handle, u32) {
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 1000,
        mss: Some(1000),
        sack_permitted: true,
        ..Inject::new(80)
    });
    let synack = h.recv_one();
    let ours = synack.seq.wrapping_add(1);
    h.send(&Inject {
        seq: 1001,
        ack: Some(ours),
        ..Inject::new(80)
    });
    (h.stack.tcp_accept(l).expect("accepted"), ours)
}

fn data(ours: u32, seq: u32, len: usize) -> Inject {
    Inject {
        seq,
        ack: Some(ours),
        payload: (0..len).map(|i| (seq as usize + i) as u8).collect(),
        ..Inject::new(80)
    }
}

/// 60 segments each with a hole before it: all are held (60 ranges),
/// SACKed, and delivered in order once the holes are filled.
#[test]
fn sixty_holes_at_once_are_held_not_dropped() {
    let mut h = RawHost::new(1500);
    let (c, ours) = sack_peer(&mut h);
    const SEG: u32 = 40;
    const HOLES: u32 = 60;
    // Segments 1, 3, 5, ... (of 40 bytes) arrive; 0, 2, 4, ... do not.
    for k in 0..HOLES {
        h.send(&data(ours, 1001 + (2 * k + 1) * SEG, SEG as usize));
        let a = h.recv_one();
        assert_eq!(a.ack, Some(1001));
        // RFC 2018 4: the first block holds the segment just received.
        let s = 1001 + (2 * k + 1) * SEG;
        assert_eq!(a.sack.first(), Some(&(s, s + SEG)), "{a:?}");
    }
    let i = h.stack.tcp_info(c).unwrap();
    assert_eq!(i.ooo_dropped, 0, "every out-of-order segment held: {i:?}");
    // Data arriving in old ranges makes each the first block in turn, and
    // the block reported before it comes next (not the highest range).
    h.send(&data(ours, 1001 + 2 * SEG, SEG as usize));
    let a = h.recv_one();
    let last = 1001 + (2 * HOLES - 1) * SEG;
    assert_eq!(
        &a.sack[..2],
        &[(1001 + SEG, 1001 + 4 * SEG), (last, last + SEG)],
        "{a:?}"
    );
    h.send(&data(ours, 1001 + 10 * SEG, SEG as usize));
    let a = h.recv_one();
    assert_eq!(
        &a.sack[..2],
        &[
            (1001 + 9 * SEG, 1001 + 12 * SEG),
            (1001 + SEG, 1001 + 4 * SEG)
        ],
        "{a:?}"
    );
    // Fill the holes: everything is delivered, in order.
    for k in (0..HOLES).filter(|k| ![1, 5].contains(k)) {
        h.send(&data(ours, 1001 + 2 * k * SEG, SEG as usize));
    }
    let end = 1001 + 2 * HOLES * SEG;
    let acks = h.recv();
    assert_eq!(acks.last().and_then(|a| a.ack), Some(end), "{acks:?}");
    assert!(acks.last().unwrap().sack.is_empty());
    let mut buf = vec![0u8; 8192];
    let n = h.stack.tcp_recv(c, &mut buf).unwrap();
    assert_eq!(n, (end - 1001) as usize);
    let want: Vec<u8> = (1001..end).map(|s| s as u8).collect();
    assert_eq!(&buf[..n], &want[..]);
    assert!(matches!(
        h.stack.tcp_recv(c, &mut buf),
        Err(TcpError::WouldBlock)
    ));
}

/// Duplicates that arrive in one poll are all reported: touching ones in
/// one DSACK block, others each in an ACK of their own (RFC 2883 allows
/// one DSACK block per ACK).
#[test]
fn every_duplicate_of_a_batch_gets_a_dsack_block() {
    let mut h = RawHost::new(1500);
    let (_c, ours) = sack_peer(&mut h);
    for k in 0..6 {
        h.send(&data(ours, 1001 + k * 100, 100));
    }
    let acks = h.recv();
    assert_eq!(acks.last().and_then(|a| a.ack), Some(1601));
    // Two separate duplicates in one batch: two ACKs, the older first.
    h.inject(&data(ours, 1001, 100));
    h.inject(&data(ours, 1301, 100));
    h.poll();
    let d: Vec<_> = h.recv().into_iter().map(|a| (a.ack, a.sack)).collect();
    assert_eq!(
        d,
        vec![
            (Some(1601), vec![(1001, 1101)]),
            (Some(1601), vec![(1301, 1401)])
        ]
    );
    // Touching duplicates in one batch: one block covering both.
    h.inject(&data(ours, 1101, 100));
    h.inject(&data(ours, 1201, 100));
    h.poll();
    let d: Vec<_> = h.recv().into_iter().map(|a| (a.ack, a.sack)).collect();
    assert_eq!(d, vec![(Some(1601), vec![(1101, 1301)])]);
    // Nothing is owed afterwards.
    h.advance(Duration::from_millis(500));
    assert!(h.recv().iter().all(|a| a.sack.is_empty()));
}

/// Without SACK, each out-of-order segment of a batch gets its own
/// duplicate ACK (RFC 5681 4.2): a sender without SACK counts them to find
/// a loss (RFC 5681 3.2), and one ACK per batch would leave it to the
/// retransmission timer.
#[test]
fn without_sack_each_out_of_order_segment_gets_a_duplicate_ack() {
    let mut h = RawHost::new(1500);
    let (_c, ack) = h.passive_open(80);
    let ours = ack.unwrap();
    for k in 1..=4 {
        h.inject(&data(ours, 1001 + k * 100, 100));
    }
    h.poll();
    let acks = h.recv();
    assert_eq!(acks.len(), 4, "{acks:?}");
    assert!(
        acks.iter()
            .all(|a| a.ack == Some(1001) && a.sack.is_empty() && a.payload.is_empty()),
        "{acks:?}"
    );
    // The hole filled: one ACK for everything.
    h.send(&data(ours, 1001, 100));
    let a = h.recv();
    assert_eq!(a.iter().map(|a| a.ack).collect::<Vec<_>>(), [Some(1501)]);
}

/// 8 MB client → server over a 10 ms RTT path whose data direction adds
/// 0..3 ms of random delay per frame (heavy reordering at this rate): no
/// segment is dropped at the receiver and RACK's reordering window keeps
/// the sender's retransmissions to a handful (1, undone, in this build;
/// 32 held ranges made it drop segments and resend hundreds).
#[test]
fn three_ms_of_jitter_drops_nothing_and_retransmits_little() {
    let one_way = Duration::from_millis(5);
    let (mut a, mut b) = fault_hosts(
        1500,
        tx_faults(one_way, Duration::from_millis(3), 0.0, 1),
        tx_faults(one_way, Duration::ZERO, 0.0, 2),
    );
    let mut now = Instant::from_secs(1);
    let (c, s, took) = bulk_transfer(
        &mut a,
        &mut b,
        8 << 20,
        5,
        &mut now,
        Duration::from_secs(120),
    );
    let (tx, rx) = (a.tcp_info(c).unwrap(), b.tcp_info(s).unwrap());
    eprintln!("took {took:?}; sender {tx:?}; receiver {rx:?}");
    assert!(tx.reordering_seen, "{tx:?}");
    assert_eq!(rx.ooo_dropped, 0, "{rx:?}");
    assert!(tx.retransmits <= 10, "{tx:?}");
}
