//! Many connections sending at once through a link that takes only part
//! of each poll's output: TCP waits for the NIC's transmit queue instead
//! of overflowing it (frames past `StackConfig::tx_backlog` are dropped).
//! Found over veth: 500 `xdpnet tcpclient` connections turning ESTABLISHED
//! in one poll queued 500 initial windows at once; the dropped frames were
//! handshake ACKs and first segments, and hundreds of connections waited
//! for their RTO together.
//!
//! Also the two other limits on a many-connection burst: the send queue
//! that follows the congestion window, and how many frames one poll reads.

mod tcp_common;

use tcp_common::*;
use xdpnet::link::pipe::{Pipe, PipeConfig};
use xdpnet::stack::{DropReason, Stack, StackConfig};
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::{TcpError, TcpState};

/// A stack configured by `config` with `addr` on `link`.
fn host_with(link: xdpnet::link::pipe::PipeEnd, addr: &str, config: StackConfig) -> Stack {
    let mut s = Stack::new(config);
    let nic = s.add_nic("eth0", link);
    s.add_address(nic, addr.parse().unwrap()).unwrap();
    s
}

/// A stack with a transmit backlog of `backlog` frames on `link`.
fn host_with_backlog(link: xdpnet::link::pipe::PipeEnd, addr: &str, backlog: usize) -> Stack {
    let config = StackConfig {
        tx_backlog: backlog,
        ..StackConfig::default()
    };
    host_with(link, addr, config)
}

#[test]
fn many_connections_wait_for_the_transmit_queue_instead_of_dropping() {
    const CONNS: usize = 24;
    const BYTES: usize = 96 * 1024;
    // Each direction's link takes at most 32 frames per poll (the peer's
    // receive queue); the client may queue 256 more.
    let (la, lb) = Pipe::pair(
        PipeConfig::new(mac(1)).with_queue_capacity(32),
        PipeConfig::new(mac(2)).with_queue_capacity(32),
    );
    let mut a = host_with_backlog(la, "198.18.0.1/24", 256);
    let mut b = host_with_backlog(lb, "198.18.0.2/24", 256);
    let mut now = Instant::from_secs(1);
    let l = b.tcp_listen(sock("198.18.0.2:80"), 64).unwrap();
    let clients: Vec<_> = (0..CONNS)
        .map(|_| a.tcp_connect(sock("198.18.0.2:80"), None, now).unwrap())
        .collect();
    let mut servers = Vec::new();
    let mut sent = [0usize; CONNS];
    let mut got: Vec<Vec<u8>> = Vec::new();
    let data: Vec<Vec<u8>> = (0..CONNS).map(|i| payload(BYTES, i as u32)).collect();
    for _ in 0..200_000 {
        now += Duration::from_micros(100);
        a.poll(now);
        b.poll(now);
        while let Some(s) = b.tcp_accept(l) {
            servers.push(s);
            got.push(Vec::new());
        }
        for (i, &c) in clients.iter().enumerate() {
            if a.tcp_state(c) == TcpState::Established && sent[i] < BYTES {
                sent[i] += a.tcp_send(c, &data[i][sent[i]..], now).unwrap_or(0);
            }
        }
        for (j, &s) in servers.iter().enumerate() {
            drain(&mut b, s, &mut got[j]);
        }
        if got.len() == CONNS && got.iter().all(|g| g.len() == BYTES) {
            break;
        }
    }
    assert_eq!(servers.len(), CONNS, "every connection accepted");
    for g in &got {
        assert_eq!(g.len(), BYTES, "every byte delivered");
        assert!(data.contains(g), "the bytes of one of the connections");
    }
    assert_eq!(
        a.drops().get(DropReason::TxQueueFull),
        0,
        "nothing dropped at the client's transmit queue"
    );
    assert_eq!(
        a.tcp_stats().retransmitted_segs,
        0,
        "no loss, so no retransmission: {:?}",
        a.tcp_stats()
    );
    assert_eq!(a.tcp_stats().timeouts, 0);
    assert!(
        a.tcp_stats().output_deferred > 0,
        "the queue did fill: connections waited"
    );
}

/// The send queue follows the congestion window (auto-tuning, as Linux's
/// `tcp_sndbuf_expand`): a new connection takes 64 KiB of a 1 MiB write,
/// not the whole configured `send_buffer`, and takes more once its window
/// has grown. With a fixed 1 MiB, 500 new connections copied 500 MiB in
/// one application pass and the worker left SYN-ACKs in its rx ring for
/// over a second.
#[test]
fn the_send_queue_grows_with_the_congestion_window() {
    let (mut a, mut b) = two_hosts(1500);
    let mut now = Instant::from_secs(1);
    let (c, s, _) = connect(&mut a, &mut b, "198.18.0.2:80", &mut now);
    let big = payload(1 << 20, 7);
    let first = a.tcp_send(c, &big, now).unwrap();
    assert_eq!(first, 64 * 1024, "a new connection queues 64 KiB");
    assert!(!a.tcp_writable(c), "and then waits");
    assert_eq!(a.tcp_send(c, &big[first..], now), Err(TcpError::WouldBlock));
    // Move 4 MiB through; the window opens and the queue with it.
    let total = 4 << 20;
    let data = payload(total, 8);
    let (mut sent, mut got) = (first, Vec::new());
    let mut most = 0;
    let mut expected = big[..first].to_vec();
    for _ in 0..100_000 {
        now += Duration::from_micros(50);
        a.poll(now);
        b.poll(now);
        drain(&mut b, s, &mut got);
        if sent < total {
            let n = a.tcp_send(c, &data[sent..], now).unwrap_or(0);
            expected.extend_from_slice(&data[sent..sent + n]);
            sent += n;
            most = most.max(n);
        }
        if got.len() == expected.len() && sent == total {
            break;
        }
    }
    assert_eq!(got, expected, "every byte, in order");
    let cwnd = a.tcp_info(c).unwrap().cwnd;
    assert!(cwnd > 64 * 1024 / 4, "the window grew: {cwnd}");
    assert!(
        most > 64 * 1024,
        "a grown window lets one write queue more than 64 KiB: {most}"
    );
}

/// `rx_batches` reads that many batches of `rx_budget` frames in one poll
/// while the link keeps returning full batches.
#[test]
fn one_poll_reads_rx_batches_full_batches() {
    for (batches, want) in [(1, 8), (3, 24), (100, 50)] {
        let (la, lb) = pipe_pair(1500);
        let mut a = host(la, &["198.18.0.1/24"]);
        let config = StackConfig {
            rx_budget: 8,
            rx_batches: batches,
            ..StackConfig::default()
        };
        let mut b = host_with(lb, "198.18.0.2/24", config);
        let rx = |b: &Stack| b.nics()[0].stats().rx_packets;
        let now = Instant::from_secs(1);
        // Resolve the neighbor first so the datagrams leave at once.
        let u = a.udp_bind(sock("198.18.0.1:5000")).unwrap();
        a.udp_send_to(u, b"x", sock("198.18.0.2:9"), now).unwrap();
        settle(&mut a, &mut b, now);
        let before = rx(&b);
        for _ in 0..50 {
            a.udp_send_to(u, b"x", sock("198.18.0.2:9"), now).unwrap();
        }
        a.poll(now);
        b.poll(now);
        assert_eq!(rx(&b) - before, want, "{batches} batches of 8");
    }
}
