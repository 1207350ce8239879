//! Many connections sending at once through a link that takes only part
//! of each poll's output: TCP waits for the NIC's transmit queue instead
//! of overflowing it (frames past `StackConfig::tx_backlog` are dropped).
//! Found over veth: 500 `xdpnet tcpclient` connections turning ESTABLISHED
//! in one poll queued 500 initial windows at once; the dropped frames were
//! handshake ACKs and first segments, and hundreds of connections waited
//! for their RTO together.

mod tcp_common;

use tcp_common::*;
use xdpnet::link::pipe::{Pipe, PipeConfig};
use xdpnet::stack::{DropReason, Stack, StackConfig};
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::TcpState;

/// A stack with a transmit backlog of `backlog` frames on `link`.
fn host_with_backlog(link: xdpnet::link::pipe::PipeEnd, addr: &str, backlog: usize) -> Stack {
    let mut s = Stack::new(StackConfig {
        tx_backlog: backlog,
        ..StackConfig::default()
    });
    let nic = s.add_nic("eth0", link);
    s.add_address(nic, addr.parse().unwrap()).unwrap();
    s
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
