//! Fuzz targets for the L2/L3 parsers (bolero).
//!
//! Under plain `cargo test` each target replays its seed corpus and then runs
//! random inputs for a short while (`TEST_TIME`; override with
//! `BOLERO_RANDOM_TEST_TIME_MS=60000` or `BOLERO_RANDOM_ITERATIONS=N`).
//!
//! Seed corpus: bolero replays every file in `tests/__fuzz__/<target>/corpus/`
//! (the test name without its `fuzz_` prefix), here real frames and headers:
//! an ARP request, a tagged TCP SYN, an IGMP report with Router Alert, an
//! ICMPv6 echo, an MLD report behind a hop-by-hop header, IPv6 fragments.
//!
//! To fuzz for real with coverage guidance (needs `cargo install cargo-bolero`
//! and a nightly toolchain):
//!
//! ```text
//! cargo bolero test --test fuzz_wire_l3 fuzz_l3_ethernet -T 10min
//! cargo bolero test --test fuzz_wire_l3 fuzz_l3_ext_chain --engine afl
//! ```
//!
//! cargo-bolero adds what it finds to the same corpus directories; crashes
//! land in `tests/__fuzz__/<target>/crashes/` and are replayed by `cargo test`.
//!
//! Each target checks more than "no panic": what parses must re-emit to the
//! same bytes or the same `Repr`.

use std::time::Duration;
use xdpnet::wire::arp::{ArpPacket, ArpRepr};
use xdpnet::wire::ethernet::{EthernetFrame, EthernetRepr};
use xdpnet::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use xdpnet::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use xdpnet::wire::ipv6ext::{
    walk_ext_headers, ExtHeaderError, Ipv6FragmentHeader, Ipv6FragmentRepr, Ipv6OptionsHeader,
};
use xdpnet::wire::{EtherType, IpProtocol};

const TEST_TIME: Duration = Duration::from_millis(300);
const MAX_LEN: usize = 2048;

fn check_arp(bytes: &[u8]) {
    let Ok(packet) = ArpPacket::new_checked(bytes) else {
        return;
    };
    let _ = (
        packet.operation(),
        packet.source_hardware_addr(),
        packet.source_protocol_addr(),
        packet.target_hardware_addr(),
        packet.target_protocol_addr(),
    );
    if let Ok(repr) = ArpRepr::parse(&packet) {
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
        assert_eq!(&out[..], &bytes[..repr.buffer_len()]);
    }
}

fn check_ipv4(bytes: &[u8]) {
    let Ok(packet) = Ipv4Packet::new_checked(bytes) else {
        return;
    };
    let _ = (packet.options(), packet.payload(), packet.verify_checksum());
    let checked = Ipv4Repr::parse(&packet, true);
    if let Ok(repr) = Ipv4Repr::parse(&packet, false) {
        assert_eq!(repr.payload_len, packet.payload().len());
        assert_eq!(checked.is_ok(), packet.verify_checksum());
        let mut out = vec![0u8; repr.buffer_len() + repr.payload_len];
        let mut emitted = Ipv4Packet::new_unchecked(&mut out[..]);
        repr.emit(&mut emitted);
        emitted.payload_mut().copy_from_slice(packet.payload());
        let again = Ipv4Packet::new_checked(&out[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&again, true), Ok(repr));
        if repr.hop_limit > 1 {
            let mut copy = bytes.to_vec();
            let mut p = Ipv4Packet::new_checked(&mut copy[..]).unwrap();
            p.decrement_hop_limit();
            assert_eq!(p.verify_checksum(), checked.is_ok());
        }
    }
}

fn check_ipv6(bytes: &[u8]) {
    let Ok(packet) = Ipv6Packet::new_checked(bytes) else {
        return;
    };
    if let Ok(repr) = Ipv6Repr::parse(&packet) {
        let mut out = [0u8; 40];
        repr.emit(&mut Ipv6Packet::new_unchecked(&mut out[..]));
        assert_eq!(&out[..], &bytes[..40]);
        check_ext_chain(
            repr.next_header,
            packet.payload(),
            repr.dst_addr.is_multicast(),
        );
    }
}

fn check_ext_chain(first: IpProtocol, payload: &[u8], multicast: bool) {
    match walk_ext_headers(first, payload, multicast) {
        Ok(chain) => {
            assert!(chain.upper_offset <= payload.len());
            if let Some((at, frag)) = chain.fragment {
                assert!(at + 8 <= chain.upper_offset);
                let h = Ipv6FragmentHeader::new_checked(&payload[at..]).unwrap();
                assert_eq!(Ipv6FragmentRepr::parse(&h), Ok(frag));
            }
        }
        Err(ExtHeaderError::ParamProblem { code, pointer }) => {
            assert!(code <= 2);
            assert!((pointer as usize) < 40 + payload.len());
        }
        Err(ExtHeaderError::Truncated | ExtHeaderError::Discard) => {}
    }
    if let Ok(h) = Ipv6OptionsHeader::new_checked(payload) {
        for option in h.options() {
            let _ = option;
        }
    }
}

fn check_ethernet(bytes: &[u8]) {
    let Ok(frame) = EthernetFrame::new_checked(bytes) else {
        return;
    };
    let repr = EthernetRepr::parse(&frame).unwrap();
    assert_eq!(repr.buffer_len(), frame.header_len());
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
    assert_eq!(&out[..], &bytes[..repr.buffer_len()]);
    match frame.payload_ethertype() {
        EtherType::Arp => check_arp(frame.payload()),
        EtherType::Ipv4 => check_ipv4(frame.payload()),
        EtherType::Ipv6 => check_ipv6(frame.payload()),
        _ => {}
    }
}

#[test]
fn fuzz_l3_ethernet() {
    bolero::check!()
        .with_test_time(TEST_TIME)
        .with_max_len(MAX_LEN)
        .for_each(check_ethernet);
}

#[test]
fn fuzz_l3_arp() {
    bolero::check!()
        .with_test_time(TEST_TIME)
        .with_max_len(64)
        .for_each(check_arp);
}

#[test]
fn fuzz_l3_ipv4() {
    bolero::check!()
        .with_test_time(TEST_TIME)
        .with_max_len(MAX_LEN)
        .for_each(check_ipv4);
}

#[test]
fn fuzz_l3_ipv6() {
    bolero::check!()
        .with_test_time(TEST_TIME)
        .with_max_len(MAX_LEN)
        .for_each(check_ipv6);
}

/// Input: the first next header, a flags octet (bit 0: multicast
/// destination), then the IPv6 payload.
#[test]
fn fuzz_l3_ext_chain() {
    bolero::check!()
        .with_test_time(TEST_TIME)
        .with_max_len(MAX_LEN)
        .for_each(|input: &[u8]| {
            if let [first, flags, payload @ ..] = input {
                check_ext_chain(IpProtocol::from(*first), payload, flags & 1 != 0);
            }
        });
}

/// The seed corpus is where bolero looks for it, and every seed is a valid
/// packet of its kind (so the fuzzers start from real traffic).
#[test]
fn seed_corpus_parses() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/__fuzz__");
    let seeds = |target: &str| -> Vec<(String, Vec<u8>)> {
        let dir = root.join(target).join("corpus");
        let mut v: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        v.sort();
        assert!(!v.is_empty(), "no seeds for {target}");
        v
    };
    for (name, bytes) in seeds("l3_ethernet") {
        let frame = EthernetFrame::new_checked(&bytes[..]).expect(&name);
        let payload = frame.payload();
        match frame.payload_ethertype() {
            EtherType::Arp => {
                ArpRepr::parse(&ArpPacket::new_checked(payload).expect(&name)).expect(&name);
            }
            EtherType::Ipv4 => {
                Ipv4Repr::parse(&Ipv4Packet::new_checked(payload).expect(&name), true)
                    .expect(&name);
            }
            EtherType::Ipv6 => {
                let p = Ipv6Packet::new_checked(payload).expect(&name);
                let r = Ipv6Repr::parse(&p).expect(&name);
                walk_ext_headers(r.next_header, p.payload(), r.dst_addr.is_multicast())
                    .expect(&name);
            }
            other => panic!("{name}: unexpected {other:?}"),
        }
        check_ethernet(&bytes);
    }
    for (name, bytes) in seeds("l3_arp") {
        ArpRepr::parse(&ArpPacket::new_checked(&bytes[..]).expect(&name)).expect(&name);
    }
    for (name, bytes) in seeds("l3_ipv4") {
        Ipv4Repr::parse(&Ipv4Packet::new_checked(&bytes[..]).expect(&name), true).expect(&name);
    }
    for (name, bytes) in seeds("l3_ipv6") {
        let p = Ipv6Packet::new_checked(&bytes[..]).expect(&name);
        let r = Ipv6Repr::parse(&p).expect(&name);
        walk_ext_headers(r.next_header, p.payload(), r.dst_addr.is_multicast()).expect(&name);
    }
    for (name, bytes) in seeds("l3_ext_chain") {
        let chain = walk_ext_headers(IpProtocol::from(bytes[0]), &bytes[2..], bytes[1] & 1 != 0)
            .expect(&name);
        assert!(chain.upper_offset > 0, "{name}");
    }
}
