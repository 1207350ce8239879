//! Listeners: the SYN backlog, the accept queue and SYN cookies
//! (RFC 9293 3.10.7.2, RFC 4987 3.6).
//!
//! A SYN creates a connection in SYN-RECEIVED, registered in the demux
//! under its own 4-tuple, while fewer than `backlog` such half-open
//! connections exist. Beyond that, when SYN cookies are on, the SYN-ACK's
//! ISS encodes what the connection needs (RFC 4987 3.6, the Linux layout):
//!
//! ```text
//! ISS = H1(tuple) + SEG.SEQ + (t << 24) + ((H2(tuple, t) + mss_index) mod 2^24)
//! ```
//!
//! with `t` a 64-second counter. No state is kept; the returning ACK is
//! checked (t within the last two periods, mss_index valid) and the
//! connection is created ESTABLISHED. With timestamps, the low six bits
//! of our TSval carry the window scale and SACK-permitted, as Linux does,
//! so those options survive a cookie round trip.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use crate::time::Instant;
use crate::transport::Handle;
use crate::wire::tcp::TcpSeqNumber as Seq;

/// MSS values a cookie can carry (Linux's `msstab`).
pub(crate) const COOKIE_MSS: [u16; 4] = [536, 1300, 1440, 1460];

/// A listening endpoint.
#[derive(Debug)]
pub(crate) struct TcpListener {
    pub(crate) local: SocketAddr,
    /// The demux id it is registered under.
    pub(crate) id: crate::transport::demux::TransportEndpointId,
    /// Bound of both the SYN backlog and the accept queue.
    pub(crate) backlog: usize,
    /// Half-open connections (SYN-RECEIVED) it owns.
    pub(crate) syn_count: usize,
    /// Established connections waiting for `tcp_accept`.
    pub(crate) accept_queue: VecDeque<Handle>,
}

fn keyed_hash(secret: u64, salt: u32, local: SocketAddr, remote: SocketAddr) -> u32 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    secret.hash(&mut h);
    salt.hash(&mut h);
    local.hash(&mut h);
    remote.hash(&mut h);
    h.finish() as u32
}

/// The 64-second counter of SYN cookies.
fn cookie_time(now: Instant) -> u32 {
    (now.total_millis() / 64_000) as u32
}

/// An initial sequence number (RFC 9293 3.4.1, RFC 6528): a 4 µs clock
/// plus a keyed hash of the connection's addresses and ports.
pub(crate) fn initial_seq(secret: u64, local: SocketAddr, remote: SocketAddr, now: Instant) -> Seq {
    let m = (now.total_nanos() / 4_000) as u32;
    Seq::from(m.wrapping_add(keyed_hash(secret, 0x1553, local, remote)))
}

/// The timestamp offset of a connection (RFC 7323 5.4: per-connection
/// random offsets), from the same secret.
pub(crate) fn ts_offset(secret: u64, local: SocketAddr, remote: SocketAddr) -> u32 {
    keyed_hash(secret, 0x7570, local, remote)
}

/// The ISS for a SYN cookie.
pub(crate) fn cookie_iss(
    secret: u64,
    local: SocketAddr,
    remote: SocketAddr,
    peer_seq: Seq,
    mss_index: u32,
    now: Instant,
) -> Seq {
    let t = cookie_time(now);
    let h1 = keyed_hash(secret, 1, local, remote);
    let h2 = keyed_hash(secret, 2u32.wrapping_add(t << 2), local, remote);
    Seq::from(
        h1.wrapping_add(peer_seq.as_u32())
            .wrapping_add(t << 24)
            .wrapping_add(h2.wrapping_add(mss_index) & 0x00ff_ffff),
    )
}

/// Check the cookie an ACK returns (`ack - 1` is our ISS, `seq - 1` the
/// peer's); the MSS index if valid.
pub(crate) fn cookie_check(
    secret: u64,
    local: SocketAddr,
    remote: SocketAddr,
    seq: Seq,
    ack: Seq,
    now: Instant,
) -> Option<u32> {
    let iss = (ack - 1).as_u32();
    let peer = (seq - 1).as_u32();
    let h1 = keyed_hash(secret, 1, local, remote);
    let v = iss.wrapping_sub(h1).wrapping_sub(peer);
    let t_now = cookie_time(now);
    let t = (t_now & !0xff) | (v >> 24);
    // The counter's low 8 bits travel; accept the current and previous
    // period (RFC 4987 3.6: cookies expire).
    let t = if t > t_now { t.wrapping_sub(256) } else { t };
    if t_now.wrapping_sub(t) > 1 {
        return None;
    }
    let h2 = keyed_hash(secret, 2u32.wrapping_add(t << 2), local, remote);
    let index = (v.wrapping_sub(t << 24)).wrapping_sub(h2) & 0x00ff_ffff;
    ((index as usize) < COOKIE_MSS.len()).then_some(index)
}

/// The largest cookie MSS not above `mss`.
pub(crate) fn cookie_mss_index(mss: u16) -> u32 {
    COOKIE_MSS.iter().rposition(|&m| m <= mss).unwrap_or(0) as u32
}

/// Options carried in the low bits of a cookie SYN-ACK's TSval: window
/// scale (4 bits, 0xf = none) and SACK-permitted.
pub(crate) fn cookie_ts_bits(wscale: Option<u8>, sack: bool) -> u32 {
    u32::from(wscale.map_or(0xf, |w| w.min(14))) | (u32::from(sack) << 4)
}

/// Decode [`cookie_ts_bits`].
pub(crate) fn cookie_ts_decode(tsecr: u32) -> (Option<u8>, bool) {
    let ws = (tsecr & 0xf) as u8;
    ((ws != 0xf).then_some(ws), tsecr & 0x10 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cookie_round_trip_and_expiry() {
        let (l, r) = (sa("198.18.0.1:80"), sa("198.18.0.2:40000"));
        let now = Instant::from_secs(1000);
        let peer = Seq::from(12345u32);
        for idx in 0..4 {
            let iss = cookie_iss(7, l, r, peer, idx, now);
            let ok = cookie_check(
                7,
                l,
                r,
                peer + 1,
                iss + 1,
                now + crate::time::Duration::from_secs(30),
            );
            assert_eq!(ok, Some(idx));
        }
        let iss = cookie_iss(7, l, r, peer, 3, now);
        assert_eq!(
            cookie_check(8, l, r, peer + 1, iss + 1, now),
            None,
            "other secret"
        );
        assert_eq!(
            cookie_check(7, l, sa("198.18.0.3:40000"), peer + 1, iss + 1, now),
            None
        );
        assert_eq!(
            cookie_check(
                7,
                l,
                r,
                peer + 1,
                iss + 1,
                now + crate::time::Duration::from_secs(200)
            ),
            None,
            "expired"
        );
        assert_eq!(cookie_mss_index(1460), 3);
        assert_eq!(cookie_mss_index(1400), 1);
        assert_eq!(
            cookie_ts_decode(cookie_ts_bits(Some(7), true)),
            (Some(7), true)
        );
        assert_eq!(cookie_ts_decode(cookie_ts_bits(None, false)), (None, false));
    }
}
