//! Differential tests of the L2/L3 wire layer against etherparse.
//!
//! Both directions, on random valid packets:
//! * etherparse's `PacketBuilder` writes Ethernet (optionally 802.1Q tagged)
//!   frames carrying ARP, IPv4 (with options, fragments) or IPv6 (with
//!   hop-by-hop, destination options, routing and fragment headers), and our
//!   views and `Repr`s must read back every field it was given;
//! * our `Repr`s emit the same kinds of frames, and etherparse's
//!   `SlicedPacket::from_ethernet` must read back every field we wrote.

use etherparse as ep;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};
use xdpnet::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use xdpnet::wire::ethernet::{EthernetFrame, EthernetRepr, VlanTag};
use xdpnet::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use xdpnet::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use xdpnet::wire::ipv6ext::{
    walk_ext_headers, Ipv6FragmentHeader, Ipv6FragmentRepr, Ipv6OptionsHeader,
};
use xdpnet::wire::{EtherType, EthernetAddress, IpProtocol};

/// Upper-layer protocol numbers etherparse does not try to decode, so a
/// random payload never makes its parser fail.
const RAW_PROTOCOLS: [u8; 5] = [47, 89, 132, 253, 254];

#[derive(Debug, Clone)]
struct Link {
    src: [u8; 6],
    dst: [u8; 6],
    vlan: Option<VlanTag>,
}

fn arb_link() -> impl Strategy<Value = Link> {
    (
        any::<[u8; 6]>(),
        any::<[u8; 6]>(),
        proptest::option::of((0u8..8, any::<bool>(), 0u16..4096)),
    )
        .prop_map(|(src, dst, vlan)| Link {
            src,
            dst,
            vlan: vlan.map(|(pcp, dei, vid)| VlanTag { pcp, dei, vid }),
        })
}

fn ep_vlan(tag: VlanTag) -> ep::VlanHeader {
    ep::VlanHeader::Single(ep::SingleVlanHeader {
        pcp: ep::VlanPcp::try_new(tag.pcp).unwrap(),
        drop_eligible_indicator: tag.dei,
        vlan_id: ep::VlanId::try_new(tag.vid).unwrap(),
        ether_type: ep::EtherType(0),
    })
}

/// Write `ip` after an Ethernet (and maybe VLAN) header with etherparse.
fn ep_write_ip(link: &Link, ip: ep::IpHeaders, last: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let b = ep::PacketBuilder::ethernet2(link.src, link.dst);
    match link.vlan {
        Some(tag) => b
            .vlan(ep_vlan(tag))
            .ip(ip)
            .write(&mut out, ep::IpNumber(last), payload),
        None => b.ip(ip).write(&mut out, ep::IpNumber(last), payload),
    }
    .unwrap();
    out
}

/// Check our Ethernet view of a frame etherparse wrote; returns the payload.
fn check_our_ethernet<'a>(link: &Link, bytes: &'a [u8], et: EtherType) -> &'a [u8] {
    let frame = EthernetFrame::new_checked(bytes).unwrap();
    let repr = EthernetRepr::parse(&frame).unwrap();
    assert_eq!(
        repr,
        EthernetRepr {
            src_addr: EthernetAddress(link.src),
            dst_addr: EthernetAddress(link.dst),
            ethertype: et,
            vlan: link.vlan,
        }
    );
    assert_eq!(
        frame.ethertype(),
        if link.vlan.is_some() {
            EtherType::Vlan
        } else {
            et
        }
    );
    frame.payload()
}

/// Emit our Ethernet header in front of `inner` (already serialized).
fn our_frame(link: &Link, et: EtherType, inner: &[u8]) -> Vec<u8> {
    let repr = EthernetRepr {
        src_addr: EthernetAddress(link.src),
        dst_addr: EthernetAddress(link.dst),
        ethertype: et,
        vlan: link.vlan,
    };
    let mut buf = vec![0u8; repr.buffer_len() + inner.len()];
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
    repr.emit(&mut frame);
    frame.payload_mut().copy_from_slice(inner);
    buf
}

/// Check etherparse's reading of our Ethernet header.
fn check_ep_ethernet(link: &Link, sliced: &ep::SlicedPacket<'_>, et: EtherType) {
    let Some(ep::LinkSlice::Ethernet2(eth)) = &sliced.link else {
        panic!("no ethernet: {sliced:?}");
    };
    assert_eq!(eth.source(), link.src);
    assert_eq!(eth.destination(), link.dst);
    match link.vlan {
        Some(tag) => {
            assert_eq!(eth.ether_type(), ep::EtherType::VLAN_TAGGED_FRAME);
            assert_eq!(sliced.link_exts.len(), 1);
            let ep::LinkExtSlice::Vlan(v) = &sliced.link_exts[0] else {
                panic!("not a vlan");
            };
            assert_eq!(v.priority_code_point().value(), tag.pcp);
            assert_eq!(v.drop_eligible_indicator(), tag.dei);
            assert_eq!(v.vlan_identifier().value(), tag.vid);
            assert_eq!(v.ether_type().0, u16::from(et));
        }
        None => {
            assert_eq!(eth.ether_type().0, u16::from(et));
            assert!(sliced.link_exts.is_empty());
        }
    }
}

// ------------------------------------------------------------------- IPv4

#[derive(Debug, Clone)]
struct V4 {
    repr: Ipv4Repr,
    options: Vec<u8>,
    payload: Vec<u8>,
}

fn arb_v4() -> impl Strategy<Value = V4> {
    (
        (any::<[u8; 4]>(), any::<[u8; 4]>(), 0u8..64, 0u8..4),
        (
            any::<u16>(),
            any::<bool>(),
            any::<bool>(),
            0u16..8192,
            any::<u8>(),
        ),
        proptest::sample::select(&RAW_PROTOCOLS[..]),
        (0usize..=10).prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n * 4)),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |((s, d, dscp, ecn), (ident, df, mf, off, ttl), proto, options, payload)| V4 {
                repr: Ipv4Repr {
                    src_addr: Ipv4Addr::from(s),
                    dst_addr: Ipv4Addr::from(d),
                    next_header: IpProtocol::from(proto),
                    payload_len: payload.len(),
                    hop_limit: ttl,
                    tos: (dscp << 2) | ecn,
                    ident,
                    dont_frag: df,
                    more_frags: mf,
                    frag_offset: off * 8,
                },
                options,
                payload,
            },
        )
}

fn ep_ipv4_header(v4: &V4) -> ep::Ipv4Header {
    let r = &v4.repr;
    ep::Ipv4Header {
        dscp: ep::IpDscp::try_new(r.tos >> 2).unwrap(),
        ecn: ep::IpEcn::try_new(r.tos & 3).unwrap(),
        total_len: 0,
        identification: r.ident,
        dont_fragment: r.dont_frag,
        more_fragments: r.more_frags,
        fragment_offset: ep::IpFragOffset::try_new(r.frag_offset / 8).unwrap(),
        time_to_live: r.hop_limit,
        protocol: ep::IpNumber(u8::from(r.next_header)),
        header_checksum: 0,
        source: r.src_addr.octets(),
        destination: r.dst_addr.octets(),
        options: ep::Ipv4Options::try_from(&v4.options[..]).unwrap(),
    }
}

proptest! {
    #[test]
    fn ipv4_etherparse_to_ours(link in arb_link(), v4 in arb_v4(), pad in 0usize..8) {
        let ip = ep::IpHeaders::Ipv4(ep_ipv4_header(&v4), Default::default());
        let mut bytes = ep_write_ip(&link, ip, u8::from(v4.repr.next_header), &v4.payload);
        bytes.extend(std::iter::repeat_n(0u8, pad)); // Ethernet padding
        let l3 = check_our_ethernet(&link, &bytes, EtherType::Ipv4);
        let packet = Ipv4Packet::new_checked(l3).unwrap();
        prop_assert!(packet.verify_checksum());
        prop_assert_eq!(usize::from(packet.header_len()), 20 + v4.options.len());
        prop_assert_eq!(packet.options(), &v4.options[..]);
        prop_assert_eq!(packet.payload(), &v4.payload[..]);
        prop_assert_eq!(packet.dscp(), v4.repr.tos >> 2);
        prop_assert_eq!(packet.ecn(), v4.repr.tos & 3);
        prop_assert_eq!(Ipv4Repr::parse(&packet, true).unwrap(), v4.repr);
    }

    #[test]
    fn ipv4_ours_to_etherparse(link in arb_link(), v4 in arb_v4()) {
        let mut inner = vec![0u8; v4.repr.buffer_len() + v4.payload.len()];
        let mut packet = Ipv4Packet::new_unchecked(&mut inner[..]);
        v4.repr.emit(&mut packet);
        packet.payload_mut().copy_from_slice(&v4.payload);
        let bytes = our_frame(&link, EtherType::Ipv4, &inner);

        let sliced = ep::SlicedPacket::from_ethernet(&bytes).unwrap();
        check_ep_ethernet(&link, &sliced, EtherType::Ipv4);
        let Some(ep::NetSlice::Ipv4(ip)) = &sliced.net else { panic!("no ipv4") };
        let h = ip.header().to_header();
        let mut expected = ep_ipv4_header(&V4 { options: Vec::new(), ..v4.clone() });
        expected.total_len = u16::try_from(20 + v4.payload.len()).unwrap();
        expected.header_checksum = expected.calc_header_checksum();
        prop_assert_eq!(h, expected);
        prop_assert_eq!(ip.payload().payload, &v4.payload[..]);
        prop_assert_eq!(ip.payload().ip_number.0, u8::from(v4.repr.next_header));
    }
}

#[test]
fn ipv4_udp_datagram_from_etherparse() {
    // A "real" UDP datagram: etherparse fills lengths and both checksums.
    let mut bytes = Vec::new();
    ep::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
        .udp(5353, 53)
        .write(&mut bytes, b"hello")
        .unwrap();
    let frame = EthernetFrame::new_checked(&bytes[..]).unwrap();
    assert_eq!(frame.payload_ethertype(), EtherType::Ipv4);
    let p = Ipv4Packet::new_checked(frame.payload()).unwrap();
    let r = Ipv4Repr::parse(&p, true).unwrap();
    assert_eq!(r.next_header, IpProtocol::Udp);
    assert_eq!(r.payload_len, 8 + 5);
    assert_eq!(r.src_addr, Ipv4Addr::new(198, 18, 0, 1));
    assert_eq!(&p.payload()[..4], &[0x14, 0xe9, 0x00, 0x35]);
    // Forwarding keeps a header etherparse still accepts.
    let mut bytes = bytes.clone();
    let mut p = Ipv4Packet::new_checked(&mut bytes[14..]).unwrap();
    p.decrement_hop_limit();
    let sliced = ep::SlicedPacket::from_ethernet(&bytes).unwrap();
    let Some(ep::NetSlice::Ipv4(ip)) = &sliced.net else {
        panic!("no ipv4")
    };
    let h = ip.header().to_header();
    assert_eq!(h.time_to_live, 63);
    assert_eq!(h.header_checksum, h.calc_header_checksum());
}

// ------------------------------------------------------------------- IPv6

/// An extension header chain in etherparse's fixed order.
#[derive(Debug, Clone)]
struct Exts {
    /// Hop-by-hop options area size in 8-octet units beyond the first.
    hbh: Option<u8>,
    dest: Option<u8>,
    routing: Option<u8>,
    fragment: Option<(u16, bool, u32)>,
    final_dest: Option<u8>,
}

#[derive(Debug, Clone)]
struct V6 {
    repr: Ipv6Repr,
    exts: Exts,
    upper: u8,
    payload: Vec<u8>,
}

/// An options area of `6 + 8 * units` octets: a skippable unknown option
/// (action 00, RFC 8200 4.2) and PadN over the rest.
fn options_area(units: u8) -> Vec<u8> {
    let len = 6 + 8 * usize::from(units);
    let mut v = vec![0u8; len];
    v[0] = 0x1e; // experimental, action "skip"
    v[1] = 0;
    v[2] = 1; // PadN
    v[3] = (len - 4) as u8;
    v
}

/// A routing header body with segments left 0 (type 4, RFC 8754).
fn routing_area(units: u8) -> Vec<u8> {
    let mut v = vec![0u8; 6 + 8 * usize::from(units)];
    v[0] = 4;
    v
}

fn arb_v6() -> impl Strategy<Value = V6> {
    let exts = (
        proptest::option::of(0u8..3),
        proptest::option::of(0u8..3),
        proptest::option::of(0u8..3),
        proptest::option::of((0u16..8192, any::<bool>(), any::<u32>())),
        proptest::option::of(0u8..3),
    )
        .prop_map(|(hbh, dest, routing, fragment, final_dest)| {
            // etherparse writes the final destination options only after a
            // routing header, and keeps parsing after a non-first fragment
            // header where we stop; keep the chains where both agree.
            let non_first = matches!(fragment, Some((off, _, _)) if off != 0);
            let final_dest = if routing.is_some() && !non_first {
                final_dest
            } else {
                None
            };
            Exts {
                hbh,
                dest,
                routing,
                fragment: fragment.map(|(o, m, i)| (o * 8, m, i)),
                final_dest,
            }
        });
    (
        (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u8>(),
            any::<u8>(),
            0u32..(1 << 20),
        ),
        exts,
        proptest::sample::select(&RAW_PROTOCOLS[..]),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|((s, d, hl, tc, fl), exts, upper, payload)| V6 {
            repr: Ipv6Repr {
                src_addr: Ipv6Addr::from(s),
                dst_addr: Ipv6Addr::from(d),
                next_header: IpProtocol::Unknown(0), // filled in by the builders
                payload_len: 0,
                hop_limit: hl,
                traffic_class: tc,
                flow_label: fl,
            },
            exts,
            upper,
            payload,
        })
}

fn ep_exts(e: &Exts) -> ep::Ipv6Extensions {
    let raw = |area: Vec<u8>| ep::Ipv6RawExtHeader::new_raw(ep::IpNumber(0), &area).unwrap();
    ep::Ipv6Extensions {
        hop_by_hop_options: e.hbh.map(|u| raw(options_area(u))),
        destination_options: e.dest.map(|u| raw(options_area(u))),
        routing: e.routing.map(|u| ep::Ipv6RoutingExtensions {
            routing: raw(routing_area(u)),
            final_destination_options: e.final_dest.map(|u| raw(options_area(u))),
        }),
        fragment: e.fragment.map(|(off, m, ident)| {
            ep::Ipv6FragmentHeader::new(
                ep::IpNumber(0),
                ep::IpFragOffset::try_new(off / 8).unwrap(),
                m,
                ident,
            )
        }),
        auth: None,
    }
}

/// Our serialization of the same chain: (bytes, first next header,
/// fragment header offset).
fn our_exts(e: &Exts, upper: u8) -> (Vec<u8>, u8, Option<usize>) {
    // (protocol number, body) in wire order.
    let mut hdrs: Vec<(u8, Vec<u8>)> = Vec::new();
    if let Some(u) = e.hbh {
        hdrs.push((0, options_area(u)));
    }
    if let Some(u) = e.dest {
        hdrs.push((60, options_area(u)));
    }
    if let Some(u) = e.routing {
        hdrs.push((43, routing_area(u)));
    }
    if let Some((off, m, ident)) = e.fragment {
        let repr = Ipv6FragmentRepr {
            next_header: IpProtocol::Unknown(0),
            frag_offset: off,
            more_frags: m,
            ident,
        };
        let mut b = [0u8; 8];
        repr.emit(&mut Ipv6FragmentHeader::new_unchecked(&mut b[..]));
        hdrs.push((44, b[2..].to_vec()));
    }
    if let Some(u) = e.final_dest {
        hdrs.push((60, options_area(u)));
    }
    let mut out = Vec::new();
    let mut frag_at = None;
    for i in 0..hdrs.len() {
        let next = hdrs.get(i + 1).map_or(upper, |h| h.0);
        let (proto, body) = &hdrs[i];
        let start = out.len();
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(body);
        if *proto == 44 {
            frag_at = Some(start);
            let mut f = Ipv6FragmentHeader::new_checked(&mut out[start..]).unwrap();
            f.set_next_header(IpProtocol::from(next));
        } else {
            let mut h = Ipv6OptionsHeader::new_unchecked(&mut out[start..]);
            h.set_next_header(IpProtocol::from(next));
            h.set_header_len(body.len() + 2);
        }
    }
    let first = hdrs.first().map_or(upper, |h| h.0);
    (out, first, frag_at)
}

fn expected_fragment(e: &Exts, exts_len_before: usize) -> Option<(usize, Ipv6FragmentRepr)> {
    e.fragment.map(|(off, m, ident)| {
        let next = if e.final_dest.is_some() { 60 } else { 0 };
        (
            exts_len_before,
            Ipv6FragmentRepr {
                next_header: IpProtocol::from(next),
                frag_offset: off,
                more_frags: m,
                ident,
            },
        )
    })
}

proptest! {
    #[test]
    fn ipv6_etherparse_to_ours(link in arb_link(), v6 in arb_v6(), pad in 0usize..8) {
        let r = &v6.repr;
        let hdr = ep::Ipv6Header {
            traffic_class: r.traffic_class,
            flow_label: ep::Ipv6FlowLabel::try_new(r.flow_label).unwrap(),
            payload_length: 0,
            next_header: ep::IpNumber(0),
            hop_limit: r.hop_limit,
            source: r.src_addr.octets(),
            destination: r.dst_addr.octets(),
        };
        let exts = ep_exts(&v6.exts);
        let exts_len = exts.header_len();
        let ip = ep::IpHeaders::Ipv6(hdr, exts);
        let mut bytes = ep_write_ip(&link, ip, v6.upper, &v6.payload);
        bytes.extend(std::iter::repeat_n(0u8, pad));

        let l3 = check_our_ethernet(&link, &bytes, EtherType::Ipv6);
        let packet = Ipv6Packet::new_checked(l3).unwrap();
        let repr = Ipv6Repr::parse(&packet).unwrap();
        prop_assert_eq!(repr.payload_len, exts_len + v6.payload.len());
        prop_assert_eq!(repr.src_addr, r.src_addr);
        prop_assert_eq!(repr.dst_addr, r.dst_addr);
        prop_assert_eq!(repr.hop_limit, r.hop_limit);
        prop_assert_eq!(repr.traffic_class, r.traffic_class);
        prop_assert_eq!(repr.flow_label, r.flow_label);

        let chain = walk_ext_headers(repr.next_header, packet.payload(), false).unwrap();
        prop_assert_eq!(chain.upper_protocol, IpProtocol::from(v6.upper));
        prop_assert_eq!(chain.upper_offset, exts_len);
        prop_assert_eq!(&packet.payload()[chain.upper_offset..], &v6.payload[..]);
        // The fragment header's position: after everything but the final
        // destination options.
        let before = exts_len
            - 8 * usize::from(v6.exts.fragment.is_some())
            - v6.exts.final_dest.map_or(0, |u| 8 + 8 * usize::from(u));
        let mut expected = expected_fragment(&v6.exts, before);
        if let (Some((_, f)), None) = (&mut expected, v6.exts.final_dest) {
            f.next_header = IpProtocol::from(v6.upper);
        }
        prop_assert_eq!(chain.fragment, expected);
    }

    #[test]
    fn ipv6_ours_to_etherparse(link in arb_link(), v6 in arb_v6()) {
        let (exts, first, frag_at) = our_exts(&v6.exts, v6.upper);
        let repr = Ipv6Repr {
            next_header: IpProtocol::from(first),
            payload_len: exts.len() + v6.payload.len(),
            ..v6.repr
        };
        let mut inner = vec![0u8; repr.buffer_len() + repr.payload_len];
        let mut packet = Ipv6Packet::new_unchecked(&mut inner[..]);
        repr.emit(&mut packet);
        packet.payload_mut()[..exts.len()].copy_from_slice(&exts);
        packet.payload_mut()[exts.len()..].copy_from_slice(&v6.payload);
        let bytes = our_frame(&link, EtherType::Ipv6, &inner);

        // Our own walk agrees with what we built.
        let chain = walk_ext_headers(repr.next_header, &inner[40..], false).unwrap();
        prop_assert_eq!(chain.upper_offset, exts.len());
        prop_assert_eq!(chain.fragment.map(|f| f.0), frag_at);

        let sliced = ep::SlicedPacket::from_ethernet(&bytes).unwrap();
        check_ep_ethernet(&link, &sliced, EtherType::Ipv6);
        let Some(ep::NetSlice::Ipv6(ip)) = &sliced.net else { panic!("no ipv6") };
        let h = ip.header();
        prop_assert_eq!(h.version(), 6);
        prop_assert_eq!(h.traffic_class(), repr.traffic_class);
        prop_assert_eq!(h.flow_label().value(), repr.flow_label);
        prop_assert_eq!(usize::from(h.payload_length()), repr.payload_len);
        prop_assert_eq!(h.next_header().0, first);
        prop_assert_eq!(h.hop_limit(), repr.hop_limit);
        prop_assert_eq!(h.source_addr(), repr.src_addr);
        prop_assert_eq!(h.destination_addr(), repr.dst_addr);
        prop_assert_eq!(ip.payload().ip_number.0, v6.upper);
        prop_assert_eq!(ip.payload().payload, &v6.payload[..]);
        prop_assert_eq!(ip.extensions().slice().len(), exts.len());
        let (decoded, _, _) = ep::Ipv6Extensions::from_slice(ep::IpNumber(first), &exts).unwrap();
        prop_assert_eq!(decoded.hop_by_hop_options.is_some(), v6.exts.hbh.is_some());
        prop_assert_eq!(decoded.destination_options.is_some(), v6.exts.dest.is_some());
        prop_assert_eq!(decoded.routing.is_some(), v6.exts.routing.is_some());
        match (decoded.fragment, v6.exts.fragment) {
            (Some(f), Some((off, m, ident))) => {
                prop_assert_eq!(f.fragment_offset.value() * 8, off);
                prop_assert_eq!(f.more_fragments, m);
                prop_assert_eq!(f.identification, ident);
                prop_assert_eq!(ip.is_payload_fragmented(), off != 0 || m);
            }
            (None, None) => {}
            (a, b) => prop_assert!(false, "fragment mismatch {a:?} vs {b:?}"),
        }
    }
}

// -------------------------------------------------------------------- ARP

fn arb_arp() -> impl Strategy<Value = ArpRepr> {
    (
        prop_oneof![Just(1u16), Just(2u16), 3u16..10],
        any::<[u8; 6]>(),
        any::<[u8; 4]>(),
        any::<[u8; 6]>(),
        any::<[u8; 4]>(),
    )
        .prop_map(|(op, sha, spa, tha, tpa)| ArpRepr {
            operation: ArpOperation::from(op),
            source_hardware_addr: EthernetAddress(sha),
            source_protocol_addr: Ipv4Addr::from(spa),
            target_hardware_addr: EthernetAddress(tha),
            target_protocol_addr: Ipv4Addr::from(tpa),
        })
}

fn ep_arp(r: &ArpRepr) -> ep::ArpPacket {
    ep::ArpPacket::new(
        ep::ArpHardwareId::ETHERNET,
        ep::EtherType::IPV4,
        ep::ArpOperation(u16::from(r.operation)),
        r.source_hardware_addr.as_bytes(),
        &r.source_protocol_addr.octets(),
        r.target_hardware_addr.as_bytes(),
        &r.target_protocol_addr.octets(),
    )
    .unwrap()
}

proptest! {
    #[test]
    fn arp_etherparse_to_ours(link in arb_link(), arp in arb_arp()) {
        let mut bytes = Vec::new();
        let b = ep::PacketBuilder::ethernet2(link.src, link.dst);
        match link.vlan {
            Some(tag) => b.vlan(ep_vlan(tag)).arp(ep_arp(&arp)).write(&mut bytes),
            None => b.arp(ep_arp(&arp)).write(&mut bytes),
        }
        .unwrap();
        let l3 = check_our_ethernet(&link, &bytes, EtherType::Arp);
        let packet = ArpPacket::new_checked(l3).unwrap();
        prop_assert_eq!(ArpRepr::parse(&packet).unwrap(), arp);
    }

    #[test]
    fn arp_ours_to_etherparse(link in arb_link(), arp in arb_arp()) {
        let mut inner = vec![0u8; arp.buffer_len()];
        arp.emit(&mut ArpPacket::new_unchecked(&mut inner[..]));
        let bytes = our_frame(&link, EtherType::Arp, &inner);
        let sliced = ep::SlicedPacket::from_ethernet(&bytes).unwrap();
        check_ep_ethernet(&link, &sliced, EtherType::Arp);
        let Some(ep::NetSlice::Arp(a)) = &sliced.net else { panic!("no arp") };
        let eth_ipv4 = a.to_packet().try_eth_ipv4().unwrap();
        prop_assert_eq!(eth_ipv4.operation.0, u16::from(arp.operation));
        prop_assert_eq!(eth_ipv4.sender_mac, arp.source_hardware_addr.0);
        prop_assert_eq!(eth_ipv4.sender_ipv4, arp.source_protocol_addr.octets());
        prop_assert_eq!(eth_ipv4.target_mac, arp.target_hardware_addr.0);
        prop_assert_eq!(eth_ipv4.target_ipv4, arp.target_protocol_addr.octets());
    }
}
