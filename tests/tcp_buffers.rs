//! Buffer memory of idle connections (`TcpConfig::buffer_idle_release`):
//! a queue that stays empty gives its memory back and grows again when
//! data comes; a queue holding data, or a connection configured to keep
//! its memory, keeps it.

mod tcp_common;

use tcp_common::*;
use xdpnet::stack::Stack;
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::TcpConfig;
use xdpnet::transport::Handle;

const BYTES: usize = 512 * 1024;

/// Send `data` from `c` on `a` to `s` on `b` and read it all (no FIN);
/// returns what `b` read.
fn exchange(
    a: &mut Stack,
    b: &mut Stack,
    (c, s): (Handle, Handle),
    data: &[u8],
    now: &mut Instant,
) -> Vec<u8> {
    let mut sent = 0;
    let mut got = Vec::new();
    for _ in 0..100_000 {
        if sent < data.len() {
            sent += a.tcp_send(c, &data[sent..], *now).unwrap_or(0);
        }
        *now += Duration::from_micros(100);
        a.poll(*now);
        b.poll(*now);
        drain(b, s, &mut got);
        if got.len() == data.len() && a.tcp_info(c).unwrap().unacked == 0 {
            break;
        }
    }
    settle(a, b, *now);
    got
}

fn pair_with(cfg: TcpConfig) -> (Stack, Stack, Handle, Handle, Instant) {
    let (mut a, mut b) = two_hosts(1500);
    *a.tcp_config_mut() = cfg.clone();
    *b.tcp_config_mut() = cfg;
    let mut now = Instant::from_secs(1);
    let (c, s, _) = connect(&mut a, &mut b, "198.18.0.2:80", &mut now);
    (a, b, c, s, now)
}

#[test]
fn idle_queues_give_their_memory_back_and_grow_again() {
    let (mut a, mut b, c, s, mut now) = pair_with(TcpConfig::default());
    let data = payload(BYTES, 7);
    assert_eq!(exchange(&mut a, &mut b, (c, s), &data, &mut now), data);
    let (ai, bi) = (a.tcp_info(c).unwrap(), b.tcp_info(s).unwrap());
    assert!(ai.send_memory >= 64 * 1024, "{ai:?}");
    assert!(bi.recv_memory >= 64 * 1024, "{bi:?}");
    assert_eq!((ai.send_queue, bi.recv_queue), (0, 0));

    // Just under the idle time: still held.
    let emptied = now;
    let until = emptied + Duration::from_millis(900);
    run_until(&mut a, &mut b, &mut now, until, Duration::from_millis(50));
    assert!(a.tcp_info(c).unwrap().send_memory > 0);
    assert!(b.tcp_info(s).unwrap().recv_memory > 0);
    assert_eq!(a.tcp_stats().buffers_released, 0);

    // Past it: given back, by the connection's own timer.
    let until = emptied + Duration::from_millis(1100);
    run_until(&mut a, &mut b, &mut now, until, Duration::from_secs(1));
    assert_eq!(a.tcp_info(c).unwrap().send_memory, 0);
    assert_eq!(b.tcp_info(s).unwrap().recv_memory, 0);
    assert!(a.tcp_stats().buffers_released >= 1);
    assert!(b.tcp_stats().buffers_released >= 1);

    // The connection still works both ways, every byte in order.
    let more = payload(BYTES, 8);
    assert_eq!(exchange(&mut a, &mut b, (c, s), &more, &mut now), more);
    let back = payload(100_000, 9);
    assert_eq!(exchange(&mut b, &mut a, (s, c), &back, &mut now), back);
    assert!(a.tcp_info(c).unwrap().send_memory > 0, "grown again");
}

#[test]
fn a_queue_with_unread_data_keeps_its_memory() {
    let (mut a, mut b, c, s, mut now) = pair_with(TcpConfig::default());
    let data = payload(100_000, 3);
    let mut sent = 0;
    while sent < data.len() {
        sent += a.tcp_send(c, &data[sent..], now).unwrap();
        let until = now + Duration::from_millis(10);
        run_until(&mut a, &mut b, &mut now, until, Duration::from_millis(1));
    }
    let until = now + Duration::from_secs(5);
    run_until(&mut a, &mut b, &mut now, until, Duration::from_secs(1));
    let bi = b.tcp_info(s).unwrap();
    assert_eq!(bi.recv_queue, data.len(), "nothing read");
    assert!(bi.recv_memory >= data.len());
    assert_eq!(a.tcp_info(c).unwrap().send_memory, 0, "all acked: released");
    let mut got = Vec::new();
    drain(&mut b, s, &mut got);
    assert_eq!(got, data);
}

#[test]
fn configured_to_keep_memory_keeps_it() {
    let cfg = TcpConfig {
        buffer_idle_release: None,
        ..TcpConfig::default()
    };
    let (mut a, mut b, c, s, mut now) = pair_with(cfg);
    let data = payload(BYTES, 5);
    assert_eq!(exchange(&mut a, &mut b, (c, s), &data, &mut now), data);
    let until = now + Duration::from_secs(10);
    run_until(&mut a, &mut b, &mut now, until, Duration::from_secs(1));
    assert!(a.tcp_info(c).unwrap().send_memory > 0);
    assert!(b.tcp_info(s).unwrap().recv_memory > 0);
    assert_eq!(a.tcp_stats().buffers_released, 0);
    assert_eq!(b.tcp_stats().buffers_released, 0);
}

#[test]
fn out_of_order_data_keeps_the_receive_memory_until_the_hole_is_filled() {
    let mut h = RawHost::new(1500);
    let (s, ack) = h.passive_open(80);
    // 500 bytes arrive 500 bytes past RCV.NXT: the readable queue is empty,
    // the bytes wait past it.
    let data = payload(1000, 11);
    h.send(&Inject {
        seq: 1501,
        ack,
        payload: data[500..].to_vec(),
        ..Inject::new(80)
    });
    assert_eq!(h.stack.tcp_info(s).unwrap().recv_queue, 0);
    let held = h.stack.tcp_info(s).unwrap().recv_memory;
    assert!(held > 0);
    for _ in 0..5 {
        h.advance(Duration::from_secs(1));
    }
    assert_eq!(h.stack.tcp_info(s).unwrap().recv_memory, held, "kept");
    assert_eq!(h.stack.tcp_stats().buffers_released, 0);
    h.send(&Inject {
        seq: 1001,
        ack,
        payload: data[..500].to_vec(),
        ..Inject::new(80)
    });
    let mut got = Vec::new();
    drain(&mut h.stack, s, &mut got);
    assert_eq!(got, data, "the out-of-order bytes survived in place");
    h.poll();
    h.advance(Duration::from_millis(900));
    assert!(h.stack.tcp_info(s).unwrap().recv_memory > 0, "not yet");
    h.advance(Duration::from_millis(200));
    assert_eq!(
        h.stack.tcp_info(s).unwrap().recv_memory,
        0,
        "drained: released"
    );
}
