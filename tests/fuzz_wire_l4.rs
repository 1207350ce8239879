//! Bolero fuzz targets for the L4 wire parsers: UDP, TCP (and its option
//! parser), ICMPv4, ICMPv6 with Neighbor Discovery.
//!
//! Each target feeds arbitrary bytes to `new_checked` and `parse` (which must
//! never panic), and for anything that parses checks `parse(emit(repr)) ==
//! repr`. The ICMP targets also fix up the checksum of the input before
//! parsing, so random bytes reach the per-type parsers instead of stopping at
//! `Error::Checksum`.
//!
//! Under plain `cargo test` every target replays its seed corpus, then runs
//! random inputs for a short time (`TEST_TIME` below). The seeds are real
//! packets captured from Linux (loopback and a veth pair), one file each,
//! in `tests/__fuzz__/<target>/corpus/`, where bolero's corpus replay picks
//! them up (https://camshaft.github.io/bolero/features/corpus-replay.html).
//!
//! To fuzz longer:
//!
//! * random engine, no extra tools:
//!   `BOLERO_RANDOM_TEST_TIME_MS=600000 cargo test --release --test fuzz_wire_l4 l4_tcp`
//!   (`BOLERO_RANDOM_SEED=<n>` replays a failure it printed);
//! * coverage-guided: `cargo install cargo-bolero`, then
//!   `cargo bolero test --test fuzz_wire_l4 l4_tcp` (libFuzzer; new corpus
//!   entries and crashes land in `tests/__fuzz__/l4_tcp/`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use xdpnet::wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use xdpnet::wire::icmpv6::{Icmpv6Packet, Icmpv6Repr};
use xdpnet::wire::ndp::{NdiscOptionIter, NdiscOptionRepr, NdiscRepr};
use xdpnet::wire::tcp::{TcpOption, TcpPacket, TcpRepr};
use xdpnet::wire::udp::{UdpPacket, UdpRepr};

/// Random-input time per target under `cargo test` (the corpus always runs
/// in full). `BOLERO_RANDOM_TEST_TIME_MS` overrides it.
const TEST_TIME: Duration = Duration::from_millis(400);

/// Address pairs from the benchmarking ranges (RFC 2544, RFC 5180) and the
/// loopback the seeds were captured on.
fn ip_pairs() -> [(IpAddr, IpAddr); 3] {
    [
        (
            IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
        ),
        (
            IpAddr::V6("2001:2::1".parse().unwrap()),
            IpAddr::V6("2001:2::2".parse().unwrap()),
        ),
        (
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        ),
    ]
}

#[test]
fn l4_udp() {
    bolero::check!()
        .with_test_time(TEST_TIME)
        .for_each(|input: &[u8]| {
            let Ok(packet) = UdpPacket::new_checked(input) else {
                return;
            };
            let payload = packet.payload();
            for (src, dst) in ip_pairs() {
                let _ = packet.verify_checksum(&src, &dst);
                let _ = UdpRepr::parse(&packet, &src, &dst, true);
                let repr = UdpRepr::parse(&packet, &src, &dst, false).expect("checked");
                let mut buf = vec![0u8; repr.buffer_len(payload.len())];
                let mut out = UdpPacket::new_unchecked(&mut buf[..]);
                repr.emit(
                    &mut out,
                    &src,
                    &dst,
                    payload.len(),
                    |b| b.copy_from_slice(payload),
                    true,
                );
                let again = UdpPacket::new_checked(&buf[..]).expect("emitted");
                assert_eq!(UdpRepr::parse(&again, &src, &dst, true), Ok(repr));
                assert_eq!(again.payload(), payload);
            }
        });
}

#[test]
fn l4_tcp() {
    bolero::check!()
        .with_test_time(TEST_TIME)
        .for_each(|input: &[u8]| {
            // The option parser on its own, over any bytes.
            let mut rest = input;
            while let Ok((next, option)) = TcpOption::parse(rest) {
                assert!(next.len() < rest.len());
                let mut buf = vec![0u8; option.buffer_len()];
                option.emit(&mut buf);
                rest = next;
            }

            let Ok(packet) = TcpPacket::new_checked(input) else {
                return;
            };
            let _ = (packet.segment_len(), packet.flags(), packet.urgent_at());
            for (src, dst) in ip_pairs() {
                let _ = TcpRepr::parse(&packet, &src, &dst, true);
                let Ok(repr) = TcpRepr::parse(&packet, &src, &dst, false) else {
                    continue;
                };
                let mut buf = vec![0u8; repr.buffer_len()];
                assert!(repr.header_len() <= 60);
                repr.emit(
                    &mut TcpPacket::new_unchecked(&mut buf[..]),
                    &src,
                    &dst,
                    true,
                );
                let again = TcpPacket::new_checked(&buf[..]).expect("emitted");
                let parsed = TcpRepr::parse(&again, &src, &dst, true).expect("emitted");
                // SACK blocks that no longer fit are left off the tail.
                let kept = parsed.sack_ranges.iter().flatten().count();
                let mut want = repr;
                for slot in want.sack_ranges.iter_mut().skip(kept) {
                    *slot = None;
                }
                assert_eq!(parsed, want);
            }
        });
}

#[test]
fn l4_icmpv4() {
    bolero::check!()
        .with_test_time(TEST_TIME)
        .for_each(|input: &[u8]| {
            if let Ok(packet) = Icmpv4Packet::new_checked(input) {
                let _ = Icmpv4Repr::parse(&packet);
            }
            // With a valid checksum the per-type parsing is reached.
            let mut fixed = input.to_vec();
            let Ok(mut packet) = Icmpv4Packet::new_checked(&mut fixed[..]) else {
                return;
            };
            packet.fill_checksum();
            let packet = Icmpv4Packet::new_checked(&fixed[..]).expect("checked");
            let Ok(repr) = Icmpv4Repr::parse(&packet) else {
                return;
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
            let again = Icmpv4Packet::new_checked(&buf[..]).expect("emitted");
            assert_eq!(Icmpv4Repr::parse(&again), Ok(repr));
        });
}

#[test]
fn l4_icmpv6() {
    let src: Ipv6Addr = "fe80::ff:fe00:2".parse().unwrap();
    let dst: Ipv6Addr = "ff02::1:ff00:2".parse().unwrap();
    bolero::check!()
        .with_test_time(TEST_TIME)
        .for_each(|input: &[u8]| {
            // The NDP option walk over any bytes.
            for repr in NdiscOptionIter::new(input).map_while(Result::ok) {
                let mut buf = vec![0u8; repr.buffer_len()];
                repr.emit(&mut xdpnet::wire::ndp::NdiscOption::new_unchecked(
                    &mut buf[..],
                ));
                let _ = NdiscOptionRepr::parse_first(&buf);
            }
            if let Ok(packet) = Icmpv6Packet::new_checked(input) {
                let _ = Icmpv6Repr::parse(&src, &dst, &packet);
                let _ = NdiscRepr::parse(&packet);
            }
            let mut fixed = input.to_vec();
            let Ok(mut packet) = Icmpv6Packet::new_checked(&mut fixed[..]) else {
                return;
            };
            packet.fill_checksum(&src, &dst);
            let packet = Icmpv6Packet::new_checked(&fixed[..]).expect("checked");
            let Ok(repr) = Icmpv6Repr::parse(&src, &dst, &packet) else {
                return;
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
            let again = Icmpv6Packet::new_checked(&buf[..]).expect("emitted");
            assert_eq!(Icmpv6Repr::parse(&src, &dst, &again), Ok(repr));
        });
}
