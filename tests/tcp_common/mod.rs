//! Helpers shared by the TCP tests: two stacks on a pipe, a fake clock,
//! and a driver that moves bytes between connections.
#![allow(dead_code)]

use std::net::SocketAddr;

use xdpnet::link::pipe::{Pipe, PipeConfig, PipeEnd};
use xdpnet::link::LinkEndpoint;
use xdpnet::stack::Stack;
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::{TcpError, TcpState};
use xdpnet::transport::Handle;
use xdpnet::wire::EthernetAddress;

/// A locally administered MAC ending in `n`.
pub fn mac(n: u8) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0, n])
}

/// Parse a socket address.
pub fn sock(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// Two pipe ends with the given MTU and default capabilities.
pub fn pipe_pair(mtu: usize) -> (PipeEnd, PipeEnd) {
    Pipe::pair(
        PipeConfig::new(mac(1)).with_mtu(mtu),
        PipeConfig::new(mac(2)).with_mtu(mtu),
    )
}

/// A stack on `link` with `addrs`.
pub fn host(link: impl LinkEndpoint + Send + 'static, addrs: &[&str]) -> Stack {
    let mut s = Stack::default();
    let nic = s.add_nic("eth0", link);
    for a in addrs {
        s.add_address(nic, a.parse().expect("prefix"))
            .expect("address");
    }
    s
}

/// Client (198.18.0.1 / 2001:2::1) and server (198.18.0.2 / 2001:2::2)
/// stacks on one pipe.
pub fn two_hosts(mtu: usize) -> (Stack, Stack) {
    let (la, lb) = pipe_pair(mtu);
    (
        host(la, &["198.18.0.1/24", "2001:2::1/64"]),
        host(lb, &["198.18.0.2/24", "2001:2::2/64"]),
    )
}

/// Poll both stacks at `now` until nothing moves (bounded).
pub fn settle(a: &mut Stack, b: &mut Stack, now: Instant) {
    for _ in 0..100_000 {
        let did = a.poll(now) | b.poll(now);
        if !did {
            return;
        }
    }
    panic!("stacks did not settle");
}

/// Advance the clock to `until`, jumping from one timer to the next and
/// settling at each (at most `max_step` at a time).
pub fn run_until(
    a: &mut Stack,
    b: &mut Stack,
    now: &mut Instant,
    until: Instant,
    max_step: Duration,
) {
    settle(a, b, *now);
    while *now < until {
        let next = [a.poll_at(), b.poll_at()]
            .into_iter()
            .flatten()
            .filter(|t| *t > *now)
            .min()
            .unwrap_or(until);
        *now = next.min(*now + max_step).min(until);
        settle(a, b, *now);
    }
}

/// Open a connection from `a` to `server` on `b`; returns (client,
/// server-side connection, listener) once both are ESTABLISHED.
pub fn connect(
    a: &mut Stack,
    b: &mut Stack,
    server: &str,
    now: &mut Instant,
) -> (Handle, Handle, Handle) {
    let server = sock(server);
    let l = b.tcp_listen(server, 16).expect("listen");
    let c = a.tcp_connect(server, None, *now).expect("connect");
    settle(a, b, *now);
    let s = b.tcp_accept(l).expect("accepted");
    assert_eq!(a.tcp_state(c), TcpState::Established);
    assert_eq!(b.tcp_state(s), TcpState::Established);
    (c, s, l)
}

/// Read everything available on `h` into `out`; whether EOF was seen.
pub fn drain(s: &mut Stack, h: Handle, out: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 65536];
    loop {
        match s.tcp_recv(h, &mut buf) {
            Ok(0) => return true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(TcpError::WouldBlock) => return false,
            Err(e) => panic!("recv failed: {e}"),
        }
    }
}

/// A deterministic payload.
pub fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Send `data` from `(sa, ha)` to `(sb, hb)`, then shut down the sender's
/// write side; drive both stacks until the receiver has read everything
/// and seen EOF. Returns the bytes received and the fake time it took.
#[allow(clippy::too_many_arguments)]
pub fn transfer(
    sa: &mut Stack,
    ha: Handle,
    sb: &mut Stack,
    hb: Handle,
    data: &[u8],
    now: &mut Instant,
    max_step: Duration,
    deadline: Duration,
) -> (Vec<u8>, Duration) {
    let start = *now;
    let end = *now + deadline;
    let mut off = 0;
    let mut shut = false;
    let mut got = Vec::with_capacity(data.len());
    loop {
        while off < data.len() {
            let chunk = &data[off..(off + 65536).min(data.len())];
            match sa.tcp_send(ha, chunk, *now) {
                Ok(n) if n > 0 => off += n,
                Ok(_) | Err(TcpError::WouldBlock) => break,
                Err(e) => panic!("send failed: {e}"),
            }
        }
        if off == data.len() && !shut {
            sa.tcp_shutdown(ha).expect("shutdown");
            shut = true;
        }
        let eof = drain(sb, hb, &mut got);
        if eof {
            break;
        }
        let did = sa.poll(*now) | sb.poll(*now);
        if !did {
            let next = [sa.poll_at(), sb.poll_at()]
                .into_iter()
                .flatten()
                .filter(|t| *t > *now)
                .min()
                .unwrap_or(*now + max_step);
            *now = next.min(*now + max_step);
        }
        assert!(
            *now < end,
            "transfer stalled: {} of {} bytes; sender {:?}, receiver {:?}",
            got.len(),
            data.len(),
            sa.tcp_info(ha),
            sb.tcp_info(hb)
        );
    }
    (got, now.saturating_duration_since(start))
}
