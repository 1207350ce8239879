//! Data transfer (RFC 9293 3.8-3.9): large payloads both ways over IPv4 and
//! IPv6, with and without software GSO, through the fault injector; flow
//! control with a zero window and window updates (RFC 9293 3.8.6);
//! delayed ACKs (RFC 9293 3.8.6.3, RFC 5681 4.2); Nagle (RFC 896);
//! out-of-order reassembly with SACK blocks (RFC 2018 4).

mod tcp_common;

use tcp_common::*;
use xdpnet::link::fault::{Fault, FaultConfig};
use xdpnet::link::pipe::{Pipe, PipeConfig};
use xdpnet::link::Capabilities;
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::{TcpError, TcpState};
use xdpnet::wire::tcp::TcpControl;

const MB: usize = 1 << 20;

fn bulk(server: &str, mtu: usize, gso: bool) {
    let caps = if gso {
        Capabilities::RESOLUTION_REQUIRED | Capabilities::SOFTWARE_GSO
    } else {
        Capabilities::RESOLUTION_REQUIRED
    };
    let (la, lb) = Pipe::pair(
        PipeConfig::new(mac(1))
            .with_mtu(mtu)
            .with_capabilities(caps),
        PipeConfig::new(mac(2))
            .with_mtu(mtu)
            .with_capabilities(caps),
    );
    let mut a = host(la, &["198.18.0.1/24", "2001:2::1/64"]);
    let mut b = host(lb, &["198.18.0.2/24", "2001:2::2/64"]);
    let mut now = Instant::from_secs(1);
    let (c, s, _l) = connect(&mut a, &mut b, server, &mut now);
    let up = payload(10 * MB, 1);
    let down = payload(10 * MB, 2);
    let step = Duration::from_millis(1);
    let (got, _) = transfer(
        &mut a,
        c,
        &mut b,
        s,
        &up,
        &mut now,
        step,
        Duration::from_secs(120),
    );
    assert!(got == up, "client→server data differs");
    let (got, _) = transfer(
        &mut b,
        s,
        &mut a,
        c,
        &down,
        &mut now,
        step,
        Duration::from_secs(120),
    );
    assert!(got == down, "server→client data differs");
    let ia = a.tcp_info(c).unwrap();
    assert_eq!(ia.bytes_acked, up.len() as u64);
    assert_eq!(ia.bytes_received, down.len() as u64);
    assert_eq!(ia.retransmits, 0, "a clean pipe loses nothing: {ia:?}");
    if gso {
        assert!(a.stats().gso_packets > 0, "GSO was used");
    } else {
        assert_eq!(a.stats().gso_packets, 0);
    }
    assert_eq!(
        a.drops().total(),
        0,
        "{:?}",
        a.drops().nonzero().collect::<Vec<_>>()
    );
}

#[test]
fn ten_megabytes_each_way_v4_gso() {
    bulk("198.18.0.2:80", 1500, true);
}

#[test]
fn ten_megabytes_each_way_v6_gso() {
    bulk("[2001:2::2]:80", 1500, true);
}

#[test]
fn ten_megabytes_each_way_v4_no_gso_jumbo() {
    bulk("198.18.0.2:80", 9000, false);
}

fn faulty(cfg: FaultConfig, len: usize) {
    let (la, lb) = pipe_pair(1500);
    let la = Fault::new(la, cfg).unwrap();
    let lb = Fault::new(
        lb,
        FaultConfig {
            seed: cfg.seed + 1,
            ..cfg
        },
    )
    .unwrap();
    let mut a = host(la, &["198.18.0.1/24"]);
    let mut b = host(lb, &["198.18.0.2/24"]);
    let mut now = Instant::from_secs(1);
    let l = b.tcp_listen(sock("198.18.0.2:80"), 4).unwrap();
    let c = a.tcp_connect(sock("198.18.0.2:80"), None, now).unwrap();
    let step = Duration::from_millis(1);
    let mut s = None;
    for _ in 0..100_000 {
        let _ = a.poll(now) | b.poll(now);
        if let Some(h) = b.tcp_accept(l) {
            s = Some(h);
        }
        if s.is_some() && a.tcp_state(c) == TcpState::Established {
            break;
        }
        now += step;
    }
    let s = s.expect("handshake through the faults");
    let up = payload(len, 3);
    let (got, _) = transfer(
        &mut a,
        c,
        &mut b,
        s,
        &up,
        &mut now,
        step,
        Duration::from_secs(600),
    );
    assert_eq!(got.len(), up.len());
    assert!(got == up, "data differs after faults");
    let down = payload(len / 2, 4);
    let (got, _) = transfer(
        &mut b,
        s,
        &mut a,
        c,
        &down,
        &mut now,
        step,
        Duration::from_secs(600),
    );
    assert!(got == down, "reverse data differs after faults");
    let i = a.tcp_info(c).unwrap();
    if cfg.drop > 0.0 {
        assert!(
            i.retransmits > 0,
            "losses were repaired by retransmission: {i:?}"
        );
    }
}

#[test]
fn faults_drop_dup_reorder_corrupt_delay_complete_intact() {
    faulty(
        FaultConfig {
            drop: 0.02,
            duplicate: 0.01,
            reorder: 0.02,
            corrupt: 0.01,
            delay: Duration::from_millis(1),
            jitter: Duration::from_millis(2),
            seed: 7,
            ..FaultConfig::default()
        },
        2 * MB,
    );
}

#[test]
fn five_percent_loss_completes_intact() {
    faulty(
        FaultConfig {
            drop: 0.05,
            seed: 11,
            ..FaultConfig::default()
        },
        MB,
    );
}

#[test]
fn zero_window_probe_and_window_update() {
    let (mut a, mut b) = two_hosts(1500);
    b.tcp_config_mut().recv_buffer = 64 * 1024;
    let mut now = Instant::from_secs(1);
    let (c, s, _l) = connect(&mut a, &mut b, "198.18.0.2:80", &mut now);
    let data = payload(300 * 1024, 5);
    let mut off = 0;
    // The receiver does not read: the sender fills the window and stops.
    for _ in 0..200 {
        if let Ok(n) = a.tcp_send(c, &data[off..], now) {
            off += n;
        }
        let until = now + Duration::from_millis(10);
        run_until(&mut a, &mut b, &mut now, until, Duration::from_millis(10));
    }
    let ia = a.tcp_info(c).unwrap();
    let ib = b.tcp_info(s).unwrap();
    assert_eq!(ib.rcv_wnd, 0, "{ib:?}");
    assert_eq!(ib.recv_queue, 64 * 1024);
    assert_eq!(ia.snd_wnd, 0);
    assert_eq!(ia.unacked, 0, "nothing beyond the window in flight");
    assert_eq!(ia.timeouts, 0, "a zero window is not a loss");
    let probes_before = ib.segs_in;
    // Persist timer: probes keep coming, backing off (RFC 9293 3.8.6.1).
    let until = now + Duration::from_secs(20);
    run_until(&mut a, &mut b, &mut now, until, Duration::from_millis(100));
    let probes = b.tcp_info(s).unwrap().segs_in - probes_before;
    assert!((2..=12).contains(&probes), "{probes} probes in 20 s");
    assert_eq!(a.tcp_state(c), TcpState::Established);
    // Reading opens the window; the update restarts the flow.
    let mut got = Vec::new();
    for _ in 0..10_000 {
        drain(&mut b, s, &mut got);
        if let Ok(n) = a.tcp_send(c, &data[off..], now) {
            off += n;
        }
        if got.len() == data.len() {
            break;
        }
        now += Duration::from_millis(1);
        settle(&mut a, &mut b, now);
    }
    assert!(got == data);
}

#[test]
fn delayed_ack_every_second_segment_or_40ms() {
    let mut h = RawHost::new(1500);
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 100,
        mss: Some(1000),
        ..Inject::new(80)
    });
    let sa = h.recv_one();
    let iss1 = sa.seq.wrapping_add(1);
    h.send(&Inject {
        seq: 101,
        ack: Some(iss1),
        ..Inject::new(80)
    });
    let c = h.stack.tcp_accept(l).unwrap();
    let seg = |seq: u32, len: usize| Inject {
        seq,
        ack: Some(iss1),
        payload: vec![7; len],
        ..Inject::new(80)
    };
    h.send(&seg(101, 1000));
    assert!(h.recv().is_empty(), "one segment: the ACK is delayed");
    h.advance(Duration::from_millis(39));
    assert!(h.recv().is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(h.recv_one().ack, Some(1101), "sent after 40 ms");
    h.send(&seg(1101, 1000));
    h.send(&seg(2101, 1000));
    assert_eq!(h.recv_one().ack, Some(3101), "second full segment: at once");
    // Out of order: an immediate duplicate ACK with a SACK block? (SACK was
    // not negotiated here, so just the ACK.)
    h.send(&seg(4101, 1000));
    let d = h.recv_one();
    assert_eq!((d.ack, d.sack.len()), (Some(3101), 0));
    // Filling the hole: acknowledged at once, up to the end.
    h.send(&seg(3101, 1000));
    assert_eq!(h.recv_one().ack, Some(5101));
    let mut buf = vec![0u8; 10_000];
    assert_eq!(h.stack.tcp_recv(c, &mut buf), Ok(5000));
}

#[test]
fn out_of_order_segments_are_sacked_and_reassembled() {
    let mut h = RawHost::new(1500);
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 0,
        mss: Some(1000),
        sack_permitted: true,
        ..Inject::new(80)
    });
    let iss1 = h.recv_one().seq.wrapping_add(1);
    h.send(&Inject {
        seq: 1,
        ack: Some(iss1),
        ..Inject::new(80)
    });
    let c = h.stack.tcp_accept(l).unwrap();
    let data = payload(5000, 9);
    let seg = |i: usize| Inject {
        seq: 1 + (i * 1000) as u32,
        ack: Some(iss1),
        payload: data[i * 1000..(i + 1) * 1000].to_vec(),
        ..Inject::new(80)
    };
    h.send(&seg(2));
    let a = h.recv_one();
    assert_eq!(a.ack, Some(1));
    assert_eq!(a.sack, vec![(2001, 3001)]);
    h.send(&seg(4));
    let a = h.recv_one();
    // RFC 2018 4: the block with the newest segment comes first.
    assert_eq!(a.sack, vec![(4001, 5001), (2001, 3001)]);
    h.send(&seg(4)); // a duplicate changes nothing
    assert_eq!(h.recv_one().ack, Some(1));
    h.send(&seg(0));
    h.send(&seg(1));
    let a = h.recv();
    assert_eq!(a.last().unwrap().ack, Some(3001));
    h.send(&seg(3));
    let a = h.recv_one();
    assert_eq!((a.ack, a.sack.len()), (Some(5001), 0));
    let mut buf = vec![0u8; 10_000];
    assert_eq!(h.stack.tcp_recv(c, &mut buf), Ok(5000));
    assert!(buf[..5000] == data[..]);
    assert_eq!(h.stack.tcp_recv(c, &mut buf), Err(TcpError::WouldBlock));
}

#[test]
fn nagle_holds_small_segments_nodelay_does_not() {
    for nodelay in [false, true] {
        let mut h = RawHost::new(1500);
        let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
        h.send(&Inject {
            control: TcpControl::Syn,
            seq: 0,
            mss: Some(1000),
            ..Inject::new(80)
        });
        let iss1 = h.recv_one().seq.wrapping_add(1);
        h.send(&Inject {
            seq: 1,
            ack: Some(iss1),
            ..Inject::new(80)
        });
        let c = h.stack.tcp_accept(l).unwrap();
        h.stack.tcp_set_nodelay(c, nodelay).unwrap();
        let now = h.now;
        h.stack.tcp_send(c, b"a", now).unwrap();
        h.poll();
        assert_eq!(h.recv_one().payload, b"a");
        h.stack.tcp_send(c, b"b", now).unwrap();
        h.stack.tcp_send(c, b"c", now).unwrap();
        h.poll();
        let segs = h.recv();
        if nodelay {
            let p: Vec<_> = segs.iter().map(|s| s.payload.clone()).collect();
            assert_eq!(
                p,
                vec![b"b".to_vec(), b"c".to_vec()],
                "each write goes at once"
            );
        } else {
            assert!(segs.is_empty(), "Nagle holds the tail while 'a' is unacked");
            h.send(&Inject {
                seq: 1,
                ack: Some(iss1.wrapping_add(1)),
                ..Inject::new(80)
            });
            assert_eq!(h.recv_one().payload, b"bc", "released by the ACK");
        }
    }
}

/// RFC 9293 3.7.1: while we hold out-of-order data every segment carries
/// SACK blocks, and the data it carries shrinks by their length, so no
/// frame exceeds the MTU (and none is IP-fragmented).
#[test]
fn data_segments_with_sack_blocks_fit_the_mtu() {
    let mut h = RawHost::new(1500);
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 1000,
        mss: Some(1460),
        sack_permitted: true,
        ts: Some((1, 0)),
        ..Inject::new(80)
    });
    let sa = h.recv_one();
    let (ours, tsecr) = (sa.seq.wrapping_add(1), sa.ts.unwrap().0);
    h.send(&Inject {
        seq: 1001,
        ack: Some(ours),
        ts: Some((2, tsecr)),
        ..Inject::new(80)
    });
    let c = h.stack.tcp_accept(l).unwrap();
    // Out of order (RCV.NXT is 1001): from now on our segments carry SACK.
    h.send(&Inject {
        seq: 1101,
        ack: Some(ours),
        ts: Some((3, tsecr)),
        payload: vec![7; 100],
        ..Inject::new(80)
    });
    let _ = h.recv();
    let now = h.now;
    h.stack.tcp_send(c, &[1u8; 20_000], now).unwrap();
    h.poll();
    let frames = h.link.take_outbound();
    let data_frames = frames.iter().filter(|f| f.as_slice().len() > 200).count();
    assert!(
        data_frames >= 2,
        "expected data segments, got {data_frames}"
    );
    for f in &frames {
        let b = f.as_slice();
        let frag = u16::from_be_bytes([b[20], b[21]]);
        assert!(
            b.len() <= 1514 && frag & 0x3fff == 0,
            "frame of {} bytes (fragment field {frag:#x})",
            b.len()
        );
    }
}

/// RFC 9293 3.10.7.4: a peer accepts a segment only if its SEQ lies in its
/// receive window. When the peer dropped what we sent and then closed its
/// window, a pure ACK with SEQ = SND.NXT would be discarded and the two
/// sides would stall (seen against Linux with its receive memory full); the
/// ACK carries the window's right edge instead, as Linux does.
#[test]
fn pure_ack_seq_stays_inside_a_shrunk_peer_window() {
    let mut h = RawHost::new(1500);
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 1000,
        mss: Some(1460),
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
    let now = h.now;
    h.stack.tcp_send(c, &[1u8; 8_000], now).unwrap();
    h.poll();
    // All of it is lost on the way.
    let sent: usize = h.recv().iter().map(|s| s.payload.len()).sum();
    assert!(sent > 0, "no data went out");
    // The peer's window is now closed; it sends us data to acknowledge.
    h.send(&Inject {
        seq: 1001,
        ack: Some(ours),
        window: 0,
        payload: vec![9; 100],
        ..Inject::new(80)
    });
    // Past the delayed-ACK timer (RFC 9293 3.8.6.3: at most 500 ms).
    h.advance(Duration::from_millis(100));
    let acks: Vec<_> = h
        .recv()
        .into_iter()
        .filter(|s| s.ack == Some(1101) && s.payload.is_empty())
        .collect();
    assert!(!acks.is_empty(), "the data was not acknowledged");
    for a in &acks {
        assert_eq!(
            a.seq,
            ours,
            "ACK SEQ {} is past the peer's window edge {ours} (SND.NXT = {})",
            a.seq,
            ours.wrapping_add(sent as u32)
        );
    }
}
