//! Closing (RFC 9293 3.6): graceful close from either side, simultaneous
//! close, TIME-WAIT (2 MSL, reuse by a newer SYN, RFC 6191), abort
//! (RFC 9293 3.10.5), resets in every state and their acceptability with
//! challenge ACKs (RFC 5961 3, 4, 5), PAWS (RFC 7323 5).

mod tcp_common;

use tcp_common::*;
use xdpnet::stack::Stack;
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::{TcpError, TcpState};
use xdpnet::transport::Handle;
use xdpnet::wire::tcp::TcpControl;

fn short_msl(s: &mut Stack) {
    s.tcp_config_mut().msl = Duration::from_secs(1);
}

#[test]
fn graceful_close_client_first_then_time_wait_expires() {
    let (mut a, mut b) = two_hosts(1500);
    short_msl(&mut a);
    let mut now = Instant::from_secs(1);
    let (c, s, _l) = connect(&mut a, &mut b, "198.18.0.2:80", &mut now);
    a.tcp_send(c, b"last words", now).unwrap();
    a.tcp_shutdown(c).unwrap();
    assert_eq!(a.tcp_state(c), TcpState::FinWait1);
    assert!(!a.tcp_writable(c));
    assert_eq!(a.tcp_send(c, b"more", now), Err(TcpError::InvalidState));
    settle(&mut a, &mut b, now);
    assert_eq!(a.tcp_state(c), TcpState::FinWait2);
    assert_eq!(b.tcp_state(s), TcpState::CloseWait);
    let mut got = Vec::new();
    assert!(drain(&mut b, s, &mut got), "EOF after the data");
    assert_eq!(got, b"last words");
    // The half-closed server may still send.
    b.tcp_send(s, b"reply", now).unwrap();
    b.tcp_close(s).unwrap();
    assert_eq!(b.tcp_state(s), TcpState::LastAck);
    settle(&mut a, &mut b, now);
    assert_eq!(a.tcp_state(c), TcpState::TimeWait);
    assert_eq!(b.tcp_state(s), TcpState::Closed, "released after LAST-ACK");
    let mut got = Vec::new();
    assert!(drain(&mut a, c, &mut got));
    assert_eq!(got, b"reply");
    // 2 MSL = 2 s.
    let until = now + Duration::from_millis(1990);
    run_until(&mut a, &mut b, &mut now, until, Duration::from_millis(10));
    assert_eq!(a.tcp_state(c), TcpState::TimeWait);
    let until = now + Duration::from_millis(20);
    run_until(&mut a, &mut b, &mut now, until, Duration::from_millis(10));
    assert_eq!(a.tcp_state(c), TcpState::Closed);
    assert_eq!(a.tcp_error(c), None);
}

#[test]
fn graceful_close_server_first() {
    let (mut a, mut b) = two_hosts(1500);
    let mut now = Instant::from_secs(1);
    let (c, s, _l) = connect(&mut a, &mut b, "198.18.0.2:80", &mut now);
    b.tcp_close(s).unwrap();
    settle(&mut a, &mut b, now);
    assert_eq!(a.tcp_state(c), TcpState::CloseWait);
    assert!(a.tcp_readable(c));
    let mut buf = [0u8; 8];
    assert_eq!(a.tcp_recv(c, &mut buf), Ok(0));
    a.tcp_close(c).unwrap();
    settle(&mut a, &mut b, now);
    assert_eq!(a.tcp_state(c), TcpState::Closed);
    assert_eq!(b.tcp_state(s), TcpState::TimeWait);
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let (mut h, c, ours, theirs) = established(false);
    h.stack.tcp_shutdown(c).unwrap();
    h.poll();
    let fin = h.recv_one();
    assert_eq!((fin.control, fin.seq), (TcpControl::Fin, ours));
    // The peer's FIN crossed ours: it does not acknowledge our FIN yet.
    h.send(&Inject {
        control: TcpControl::Fin,
        seq: theirs,
        ack: Some(ours),
        ..Inject::new(80)
    });
    assert_eq!(h.stack.tcp_state(c), TcpState::Closing);
    assert_eq!(h.recv_one().ack, Some(theirs + 1));
    h.send(&Inject {
        seq: theirs + 1,
        ack: Some(ours + 1),
        ..Inject::new(80)
    });
    assert_eq!(h.stack.tcp_state(c), TcpState::TimeWait);
    // A retransmitted FIN in TIME-WAIT is acknowledged again.
    h.send(&Inject {
        control: TcpControl::Fin,
        seq: theirs,
        ack: Some(ours + 1),
        ..Inject::new(80)
    });
    assert_eq!(h.recv_one().ack, Some(theirs + 1));
    assert_eq!(h.stack.tcp_state(c), TcpState::TimeWait);
}

#[test]
fn abort_sends_reset_and_peer_sees_connection_reset() {
    let (mut a, mut b) = two_hosts(1500);
    let mut now = Instant::from_secs(1);
    let (c, s, _l) = connect(&mut a, &mut b, "198.18.0.2:80", &mut now);
    a.tcp_abort(c).unwrap();
    settle(&mut a, &mut b, now);
    assert_eq!(a.tcp_state(c), TcpState::Closed, "handle released");
    assert_eq!(b.tcp_state(s), TcpState::Closed);
    assert_eq!(b.tcp_error(s), Some(TcpError::ConnectionReset));
    let mut buf = [0u8; 4];
    assert_eq!(b.tcp_recv(s, &mut buf), Err(TcpError::ConnectionReset));
    assert_eq!(b.tcp_send(s, b"x", now), Err(TcpError::ConnectionReset));
}

#[test]
fn close_with_unread_data_resets() {
    let (mut a, mut b) = two_hosts(1500);
    let mut now = Instant::from_secs(1);
    let (c, s, _l) = connect(&mut a, &mut b, "198.18.0.2:80", &mut now);
    a.tcp_send(c, b"unread", now).unwrap();
    settle(&mut a, &mut b, now);
    b.tcp_close(s).unwrap();
    settle(&mut a, &mut b, now);
    assert_eq!(a.tcp_error(c), Some(TcpError::ConnectionReset));
}

#[test]
fn time_wait_blocks_the_tuple_until_a_newer_syn_reuses_it() {
    let (mut a, mut b) = two_hosts(1500);
    let mut now = Instant::from_secs(1);
    let (c, s, l) = connect(&mut a, &mut b, "198.18.0.2:80", &mut now);
    let local = a.tcp_local_addr(c).unwrap();
    // The server closes first, so the server holds TIME-WAIT.
    b.tcp_close(s).unwrap();
    settle(&mut a, &mut b, now);
    a.tcp_close(c).unwrap();
    settle(&mut a, &mut b, now);
    assert_eq!(b.tcp_state(s), TcpState::TimeWait);
    // Reconnect from the same port a while later: the new ISS is higher
    // (RFC 6528 clock) and the timestamps newer, so the SYN reuses the tuple.
    now += Duration::from_secs(1);
    let c2 = a
        .tcp_connect(sock("198.18.0.2:80"), Some(local), now)
        .unwrap();
    settle(&mut a, &mut b, now);
    assert_eq!(a.tcp_state(c2), TcpState::Established);
    let s2 = b.tcp_accept(l).expect("reused");
    assert_eq!(b.tcp_state(s2), TcpState::Established);
    assert_eq!(
        b.tcp_state(s),
        TcpState::Closed,
        "the TIME-WAIT connection is gone"
    );
}

// ---- resets and challenge ACKs against a hand-driven peer ------------------

/// An established connection with the raw peer: (host, connection, our
/// next sequence number, the peer's next sequence number).
fn established(sack_ts: bool) -> (RawHost, Handle, u32, u32) {
    let mut h = RawHost::new(1500);
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 1000,
        mss: Some(1000),
        ts: sack_ts.then_some((100, 0)),
        sack_permitted: sack_ts,
        ..Inject::new(80)
    });
    let sa = h.recv_one();
    let ours = sa.seq.wrapping_add(1);
    h.send(&Inject {
        seq: 1001,
        ack: Some(ours),
        ts: sack_ts.then(|| (101, sa.ts.unwrap().0)),
        ..Inject::new(80)
    });
    let c = h.stack.tcp_accept(l).unwrap();
    (h, c, ours, 1001)
}

fn rst(seq: u32) -> Inject {
    Inject {
        control: TcpControl::Rst,
        seq,
        ..Inject::new(80)
    }
}

#[test]
fn rst_exact_in_window_and_outside_rfc5961() {
    let (mut h, c, ours, theirs) = established(false);
    // Outside the window: dropped silently.
    h.send(&rst(theirs.wrapping_sub(100_000)));
    assert!(h.recv().is_empty());
    assert_eq!(h.stack.tcp_state(c), TcpState::Established);
    // In the window but not RCV.NXT: challenge ACK (RFC 5961 3.2).
    h.send(&rst(theirs + 10));
    let ch = h.recv_one();
    assert_eq!(
        (ch.control, ch.seq, ch.ack),
        (TcpControl::None, ours, Some(theirs))
    );
    assert_eq!(h.stack.tcp_state(c), TcpState::Established);
    assert_eq!(h.stack.tcp_stats().challenge_acks, 1);
    // Exactly RCV.NXT: reset.
    h.send(&rst(theirs));
    assert!(h.recv().is_empty());
    assert_eq!(h.stack.tcp_state(c), TcpState::Closed);
    assert_eq!(h.stack.tcp_error(c), Some(TcpError::ConnectionReset));
}

#[test]
fn syn_in_established_gets_challenge_ack() {
    let (mut h, c, ours, theirs) = established(false);
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: theirs + 5,
        ..Inject::new(80)
    });
    let ch = h.recv_one();
    assert_eq!((ch.control, ch.ack), (TcpControl::None, Some(theirs)));
    assert_eq!(ch.seq, ours);
    assert_eq!(h.stack.tcp_state(c), TcpState::Established);
}

#[test]
fn ack_of_unsent_data_and_too_old_ack_are_dropped() {
    let (mut h, c, ours, theirs) = established(false);
    // RFC 9293: ACK for something not yet sent → ACK, drop (data too).
    h.send(&Inject {
        seq: theirs,
        ack: Some(ours + 5000),
        payload: b"xx".to_vec(),
        ..Inject::new(80)
    });
    assert_eq!(h.recv_one().ack, Some(theirs));
    // RFC 5961 5.2: an ACK far below SND.UNA - MAX.SND.WND → challenge ACK.
    h.send(&Inject {
        seq: theirs,
        ack: Some(ours.wrapping_sub(1_000_000)),
        payload: b"yy".to_vec(),
        ..Inject::new(80)
    });
    assert_eq!(h.recv_one().ack, Some(theirs));
    let mut buf = [0u8; 4];
    assert_eq!(h.stack.tcp_recv(c, &mut buf), Err(TcpError::WouldBlock));
}

#[test]
fn challenge_acks_are_rate_limited() {
    let (mut h, _c, _ours, theirs) = established(false);
    h.stack.tcp_config_mut().challenge_ack_limit = 100;
    for i in 0..150 {
        h.send(&rst(theirs + 1 + i));
    }
    assert_eq!(h.recv().len(), 100);
}

#[test]
fn paws_drops_old_timestamps() {
    let (mut h, c, ours, theirs) = established(true);
    h.send(&Inject {
        seq: theirs,
        ack: Some(ours),
        ts: Some((50, 0)),
        payload: b"old".to_vec(),
        ..Inject::new(80)
    });
    let a = h.recv_one();
    assert_eq!(a.ack, Some(theirs), "ACKed but not accepted");
    assert_eq!(h.stack.tcp_stats().paws_rejected, 1);
    let mut buf = [0u8; 4];
    assert_eq!(h.stack.tcp_recv(c, &mut buf), Err(TcpError::WouldBlock));
    h.send(&Inject {
        seq: theirs,
        ack: Some(ours),
        ts: Some((102, 0)),
        payload: b"new".to_vec(),
        ..Inject::new(80)
    });
    assert_eq!(h.stack.tcp_recv(c, &mut buf), Ok(3));
}

/// Drive the connection into `state` by the application and the peer, then
/// check an exact RST closes it.
fn rst_in(state: TcpState) {
    let (mut h, c, ours, theirs) = established(false);
    let fin = |seq| Inject {
        control: TcpControl::Fin,
        seq,
        ack: Some(ours),
        ..Inject::new(80)
    };
    let mut theirs = theirs;
    match state {
        TcpState::Established => {}
        TcpState::FinWait1 => h.stack.tcp_shutdown(c).unwrap(),
        TcpState::FinWait2 => {
            h.stack.tcp_shutdown(c).unwrap();
            h.poll();
            h.send(&Inject {
                seq: theirs,
                ack: Some(ours + 1),
                ..Inject::new(80)
            });
        }
        TcpState::CloseWait => {
            h.send(&fin(theirs));
            theirs += 1;
        }
        TcpState::LastAck => {
            h.send(&fin(theirs));
            theirs += 1;
            h.stack.tcp_shutdown(c).unwrap();
        }
        TcpState::Closing => {
            h.stack.tcp_shutdown(c).unwrap();
            h.poll();
            h.send(&fin(theirs));
            theirs += 1;
        }
        TcpState::TimeWait => {
            h.stack.tcp_shutdown(c).unwrap();
            h.poll();
            h.send(&Inject {
                control: TcpControl::Fin,
                seq: theirs,
                ack: Some(ours + 1),
                ..Inject::new(80)
            });
            theirs += 1;
        }
        _ => unreachable!(),
    }
    h.poll();
    assert_eq!(h.stack.tcp_state(c), state);
    h.recv();
    h.send(&rst(theirs + 3));
    if state != TcpState::TimeWait {
        assert_eq!(
            h.recv_one().control,
            TcpControl::None,
            "challenge ACK in {state:?}"
        );
    }
    assert_eq!(h.stack.tcp_state(c), state);
    h.send(&rst(theirs));
    assert_eq!(
        h.stack.tcp_state(c),
        TcpState::Closed,
        "RST closes {state:?}"
    );
}

#[test]
fn rst_in_every_synchronized_state() {
    for s in [
        TcpState::Established,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Closing,
        TcpState::TimeWait,
    ] {
        rst_in(s);
    }
}

#[test]
fn rst_in_syn_received_returns_to_listen() {
    let mut h = RawHost::new(1500);
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 1000,
        ..Inject::new(80)
    });
    h.recv_one();
    h.send(&rst(1001));
    assert!(h.recv().is_empty());
    // The half-open connection is gone: its ACK now meets only the listener.
    h.send(&Inject {
        seq: 1001,
        ack: Some(1),
        ..Inject::new(80)
    });
    assert_eq!(h.recv_one().control, TcpControl::Rst);
    assert_eq!(h.stack.tcp_accept(l), None);
    assert_eq!(h.stack.tcp_state(l), TcpState::Listen);
}

#[test]
fn rst_in_syn_sent_needs_acceptable_ack() {
    let mut h = RawHost::new(1500);
    let c = h
        .stack
        .tcp_connect(sock("198.18.0.2:80"), None, h.now)
        .unwrap();
    h.poll();
    let syn = h.recv_one();
    let mut r = Inject::new(syn.src_port);
    r.src_port = 80;
    h.send(&Inject {
        control: TcpControl::Rst,
        seq: 0,
        ack: Some(syn.seq.wrapping_add(5)),
        ..r.clone()
    });
    assert_eq!(h.stack.tcp_state(c), TcpState::SynSent, "unacceptable ACK");
    assert!(h.recv().is_empty(), "no reset answers a reset");
    h.send(&Inject {
        control: TcpControl::Rst,
        seq: 0,
        ack: Some(syn.seq.wrapping_add(1)),
        ..r
    });
    assert_eq!(h.stack.tcp_state(c), TcpState::Closed);
}

#[test]
fn closing_listener_resets_pending_connections() {
    let mut h = RawHost::new(1500);
    let l = h.stack.tcp_listen(sock("198.18.0.1:80"), 8).unwrap();
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 1000,
        ..Inject::new(80)
    });
    let sa = h.recv_one();
    h.send(&Inject {
        seq: 1001,
        ack: Some(sa.seq.wrapping_add(1)),
        ..Inject::new(80)
    });
    h.stack.tcp_close(l).unwrap();
    h.poll();
    assert_eq!(h.recv_one().control, TcpControl::Rst);
    h.send(&Inject {
        control: TcpControl::Syn,
        seq: 5000,
        ..Inject::new(80)
    });
    assert_eq!(h.recv_one().control, TcpControl::Rst, "port closed now");
}
