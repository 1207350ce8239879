//! The TCP send path with software GSO against the per-segment path: the
//! same connection driven by a hand-written peer over a channel link,
//! once on a link with `SOFTWARE_GSO` (segments cut from a header
//! template straight out of the send ring, payload copied and summed in
//! one pass) and once without (one segment built at a time).
//!
//! * A burst within the initial window must come out byte-identical on
//!   both paths (IPv4 and IPv6, timestamps, an odd payload length, FIN
//!   and PSH on the last segment only).
//! * A long transfer through a small send ring that wraps at an odd
//!   offset must give checksum-valid, MTU-sized frames whose payloads
//!   reassemble to the data, on both paths.

use std::net::IpAddr;

use etherparse::{PacketBuilder, SlicedPacket, TcpOptionElement, TransportSlice};
use xdpnet::buffer::PacketBuffer;
use xdpnet::link::pipe::{Channel, ChannelHandle};
use xdpnet::link::Capabilities;
use xdpnet::stack::Stack;
use xdpnet::time::{Duration, Instant};
use xdpnet::transport::tcp::TcpError;
use xdpnet::transport::Handle;
use xdpnet::wire::ipv4::Ipv4Packet;
use xdpnet::wire::tcp::TcpPacket;
use xdpnet::wire::EthernetAddress;

const MAC_US: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_PEER: [u8; 6] = [2, 0, 0, 0, 0, 2];
const MTU: usize = 1500;

/// The stack under test (passive side, port 80) and the peer's state.
struct Peer {
    stack: Stack,
    link: ChannelHandle,
    conn: Handle,
    v6: bool,
    now: Instant,
    /// The peer's next sequence number (it sends no data).
    seq: u32,
    /// In-order end of what the peer received.
    rcv_nxt: u32,
    ts_recent: u32,
    tsval: u32,
    fin_seen: bool,
}

fn addrs(v6: bool) -> (IpAddr, IpAddr) {
    if v6 {
        ("2001:2::1".parse().unwrap(), "2001:2::2".parse().unwrap())
    } else {
        ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap())
    }
}

/// Sequence number, payload, FIN, PSH and TSval of an outbound frame,
/// after checking its checksums and size.
struct Seg {
    seq: u32,
    payload: Vec<u8>,
    fin: bool,
    psh: bool,
    tsval: u32,
}

fn check_frame(f: &[u8], v6: bool) -> Seg {
    assert!(
        f.len() <= 14 + MTU,
        "frame of {} bytes above the MTU",
        f.len()
    );
    let (us, peer) = addrs(v6);
    let l3 = if v6 { 40 } else { 20 };
    if !v6 {
        assert!(Ipv4Packet::new_checked(&f[14..]).unwrap().verify_checksum());
    }
    let tcp = TcpPacket::new_checked(&f[14 + l3..]).unwrap();
    assert!(tcp.verify_checksum(&us, &peer), "TCP checksum");
    let p = SlicedPacket::from_ethernet(f).unwrap();
    let Some(TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP")
    };
    let tsval = t
        .options_iterator()
        .find_map(|o| match o {
            Ok(TcpOptionElement::Timestamp(v, _)) => Some(v),
            _ => None,
        })
        .expect("timestamps on every segment");
    Seg {
        seq: t.sequence_number(),
        payload: t.payload().to_vec(),
        fin: t.fin(),
        psh: t.psh(),
        tsval,
    }
}

impl Peer {
    fn new(gso: bool, v6: bool, send_buffer: usize) -> Peer {
        let caps = if gso {
            Capabilities::RESOLUTION_REQUIRED | Capabilities::SOFTWARE_GSO
        } else {
            Capabilities::RESOLUTION_REQUIRED
        };
        let (ep, link) = Channel::with_capacity(EthernetAddress(MAC_US), MTU, caps, 1 << 16);
        let mut stack = Stack::default();
        let nic = stack.add_nic("eth0", ep);
        let (us, peer) = addrs(v6);
        let prefix = if v6 { "2001:2::1/64" } else { "198.18.0.1/24" };
        stack.add_address(nic, prefix.parse().unwrap()).unwrap();
        stack
            .add_static_neighbor(nic, peer, EthernetAddress(MAC_PEER))
            .unwrap();
        stack.tcp_config_mut().send_buffer = send_buffer;
        let l = stack
            .tcp_listen(std::net::SocketAddr::new(us, 80), 4)
            .unwrap();
        let mut p = Peer {
            stack,
            link,
            conn: l,
            v6,
            now: Instant::from_secs(1),
            seq: 5000,
            rcv_nxt: 0,
            ts_recent: 0,
            tsval: 100,
            fin_seen: false,
        };
        p.inject(true, None);
        p.stack.poll(p.now);
        let out = p.link.take_outbound();
        assert_eq!(out.len(), 1, "one SYN-ACK");
        let s = check_frame(out[0].as_slice(), v6);
        p.ts_recent = s.tsval;
        p.seq += 1;
        p.rcv_nxt = s.seq.wrapping_add(1);
        p.inject(false, Some(p.rcv_nxt));
        p.stack.poll(p.now);
        p.conn = p.stack.tcp_accept(l).expect("accepted");
        p.stack.tcp_set_nodelay(p.conn, true).unwrap();
        p
    }

    /// Deliver a SYN or an ACK from the peer.
    fn inject(&mut self, syn: bool, ack: Option<u32>) {
        self.inject_at(syn, ack, 0, &[]);
    }

    /// Deliver a segment `gap` bytes past the peer's next sequence number
    /// carrying `payload` (out of order when `gap > 0`).
    fn inject_at(&mut self, syn: bool, ack: Option<u32>, gap: u32, payload: &[u8]) {
        self.tsval += 1;
        let b = PacketBuilder::ethernet2(MAC_PEER, MAC_US);
        let b = match addrs(self.v6) {
            (IpAddr::V6(us), IpAddr::V6(peer)) => b.ipv6(peer.octets(), us.octets(), 64),
            (IpAddr::V4(us), IpAddr::V4(peer)) => b.ipv4(peer.octets(), us.octets(), 64),
            _ => unreachable!(),
        };
        let b = b.tcp(40000, 80, self.seq.wrapping_add(gap), 65535);
        let b = if syn {
            b.syn()
                .options(&[
                    TcpOptionElement::MaximumSegmentSize(1460),
                    TcpOptionElement::SelectiveAcknowledgementPermitted,
                    TcpOptionElement::Timestamp(self.tsval, 0),
                    TcpOptionElement::Noop,
                    TcpOptionElement::WindowScale(10),
                ])
                .unwrap()
        } else {
            b.ack(ack.unwrap())
                .options(&[
                    TcpOptionElement::Noop,
                    TcpOptionElement::Noop,
                    TcpOptionElement::Timestamp(self.tsval, self.ts_recent),
                ])
                .unwrap()
        };
        let mut f = Vec::new();
        b.write(&mut f, payload).unwrap();
        self.link.inject_buffer(PacketBuffer::from_slice(64, &f));
    }

    /// Send `data` (then close if `close`), ACKing each poll's segments
    /// with one cumulative ACK. Returns every frame the stack sent, and
    /// checks each on the way.
    fn transfer(&mut self, data: &[u8], close: bool) -> Vec<Vec<u8>> {
        let start = self.rcv_nxt;
        let mut sent = 0;
        let mut closed = false;
        let mut frames = Vec::new();
        let mut got = vec![0u8; data.len()];
        for _ in 0..100_000 {
            while sent < data.len() {
                match self.stack.tcp_send(self.conn, &data[sent..], self.now) {
                    Ok(0) | Err(TcpError::WouldBlock) => break,
                    Ok(k) => sent += k,
                    Err(e) => panic!("{e}"),
                }
            }
            if sent == data.len() && close && !closed {
                self.stack.tcp_close(self.conn).unwrap();
                closed = true;
            }
            self.stack.poll(self.now);
            let out = self.link.take_outbound();
            let before = self.rcv_nxt;
            for f in &out {
                let s = check_frame(f.as_slice(), self.v6);
                let off = s.seq.wrapping_sub(start) as usize;
                got[off..off + s.payload.len()].copy_from_slice(&s.payload);
                let end = off + s.payload.len();
                if s.fin {
                    assert!(close && end == data.len(), "FIN on the last segment only");
                }
                if s.psh {
                    assert!(end <= sent, "PSH only where queued data ended");
                }
                if s.seq == self.rcv_nxt {
                    self.rcv_nxt = s
                        .seq
                        .wrapping_add(s.payload.len() as u32 + u32::from(s.fin));
                    self.ts_recent = s.tsval;
                }
                self.fin_seen |= s.fin;
                frames.push(f.as_slice().to_vec());
            }
            let done = self.rcv_nxt.wrapping_sub(start) as usize == data.len() + usize::from(close);
            if self.rcv_nxt != before {
                self.inject(false, Some(self.rcv_nxt));
                self.stack.poll(self.now);
            } else {
                self.now += Duration::from_millis(1);
            }
            if done {
                assert_eq!(&got[..], data, "the payloads reassemble to the data");
                return frames;
            }
        }
        panic!("transfer did not finish");
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + i / 7) as u8).collect()
}

#[test]
fn gso_sends_are_byte_identical_to_per_segment_sends() {
    for v6 in [false, true] {
        // Odd lengths. Without close: five full segments and a 777-byte
        // tail with PSH, all within the initial window. With close: the
        // initial window goes out at once, the FIN is queued behind the
        // rest, which then leaves as one GSO send whose last segment (odd
        // length) carries the FIN.
        for (len, close) in [(5 * 1448 + 777, false), (15 * 1448 + 777, true)] {
            let data = pattern(len);
            let mut a = Peer::new(true, v6, 1 << 20);
            let mut b = Peer::new(false, v6, 1 << 20);
            let fa = a.transfer(&data, close);
            let fb = b.transfer(&data, close);
            assert_eq!(fa.len(), fb.len(), "v6={v6}: same number of segments");
            assert!(fa.len() >= 6, "the send was cut into MSS-sized segments");
            for (i, (x, y)) in fa.iter().zip(&fb).enumerate() {
                assert_eq!(x, y, "v6={v6} len={len}: segment {i} differs");
            }
            let last = check_frame(fa.last().unwrap(), v6);
            assert_eq!(last.payload.len() % 2, 1, "odd tail");
            assert_eq!((last.fin, last.psh), (close, !close));
            assert!(a.fin_seen == close && b.fin_seen == close);
            let flagged = fa
                .iter()
                .map(|f| check_frame(f, v6))
                .filter(|s| s.fin || s.psh)
                .count();
            assert_eq!(flagged, 1, "FIN/PSH on the last segment only");
            // Counted as software GSO output only on the GSO link.
            assert!(a.stack.stats().gso_packets >= 1);
            assert!(a.stack.stats().gso_segments >= 6);
            assert_eq!(b.stack.stats().gso_packets, 0);
            assert_eq!(
                a.stack.tcp_stats().segs_out,
                b.stack.tcp_stats().segs_out,
                "segments counted alike"
            );
        }
    }
}

/// Send `data` (and close) while the stack holds out-of-order data from
/// the peer, so every segment it sends carries a SACK block; the frames
/// sent.
fn transfer_with_a_sack_block(gso: bool, v6: bool, data: &[u8]) -> Vec<Vec<u8>> {
    let mut p = Peer::new(gso, v6, 1 << 20);
    p.inject_at(false, Some(p.rcv_nxt), 1000, &[7u8; 99]);
    p.stack.poll(p.now);
    let ack = p.link.take_outbound();
    assert!(!ack.is_empty(), "immediate ACKs with the SACK block");
    p.transfer(data, true)
}

/// The payload of a full segment carrying one SACK block (12 option
/// bytes with its NOPs) at MTU 1500.
fn sack_shrunk_mss(v6: bool) -> usize {
    let mss = if v6 { 1428 } else { 1448 };
    mss - 12
}

#[test]
fn segments_shrink_by_the_sack_option_alike_on_both_paths() {
    // The stack holds out-of-order data from the peer, so every segment
    // it sends carries a SACK block: 12 more option bytes, so 12 fewer
    // payload bytes per segment (RFC 9293 3.7.1), on both paths.
    for v6 in [false, true] {
        let data = pattern(7 * 1448 + 301);
        let mut frames = Vec::new();
        for gso in [true, false] {
            let f = transfer_with_a_sack_block(gso, v6, &data);
            let mss = sack_shrunk_mss(v6);
            let lens: Vec<usize> = f.iter().map(|x| check_frame(x, v6).payload.len()).collect();
            assert_eq!(
                lens.iter().filter(|&&l| l == mss).count(),
                data.len() / mss,
                "{lens:?}"
            );
            assert!(lens.iter().all(|&l| l <= mss));
            frames.push(f);
        }
        assert_eq!(
            frames[0], frames[1],
            "v6={v6}: GSO and per-segment frames differ"
        );
    }
}

#[test]
fn wrapped_send_ring_gives_valid_segments_on_both_paths() {
    for v6 in [false, true] {
        for gso in [true, false] {
            // A 64 KiB ring; an odd first send moves the ring's head to an
            // odd offset, so later sends wrap around the ring's end at odd
            // positions (the payload reaches the fused copy in two pieces).
            let mut p = Peer::new(gso, v6, 1 << 16);
            p.transfer(&pattern(1001), false);
            let data = pattern(300_001);
            let frames = p.transfer(&data, true);
            assert!(frames.len() >= 300_001 / 1448, "v6={v6} gso={gso}");
        }
    }
}

/// More data than the congestion window while SACK blocks shrink the
/// segments: the window (ten 1448-byte segments, counted in bytes) is not
/// a multiple of the shrunk size. The per-segment path sends whole
/// segments and holds the rest (RFC 9293 3.8.6.2.1); the GSO path must
/// too, not end its cut with a runt.
#[test]
fn a_window_cut_into_sack_shrunk_segments_has_no_runt_on_either_path() {
    for v6 in [false, true] {
        let data = pattern(40_000);
        let mut frames = Vec::new();
        for gso in [true, false] {
            let f = transfer_with_a_sack_block(gso, v6, &data);
            let mss = sack_shrunk_mss(v6);
            let lens: Vec<usize> = f
                .iter()
                .map(|x| check_frame(x, v6).payload.len())
                .filter(|&l| l > 0)
                .collect();
            let short = lens.iter().filter(|&&l| l < mss).count();
            assert_eq!(short, 1, "v6={v6} gso={gso}: one short tail only: {lens:?}");
            frames.push(f);
        }
        assert_eq!(
            frames[0], frames[1],
            "v6={v6}: GSO and per-segment frames differ"
        );
    }
}
