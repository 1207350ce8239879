//! Two shards of one host: the demux is partitioned by the symmetric
//! Toeplitz flow hash, a connected flow lives on the shard its hash names,
//! and a datagram that arrives on the other shard is handed over, not lost.

mod common;

use common::*;
use std::net::SocketAddr;
use xdpnet::link::pipe::Channel;
use xdpnet::link::Capabilities;
use xdpnet::stack::neighbor::NeighborState;
use xdpnet::stack::StackEvent::NeighborResolved;
use xdpnet::stack::{Stack, StackConfig};
use xdpnet::time::Instant;
use xdpnet::transport::udp::UdpError;
use xdpnet::wire::IpProtocol;
use xdpnet::worker::flow_hash::{shard_of, FlowTuple};

fn shard(partition: usize) -> (Stack, xdpnet::link::pipe::ChannelHandle) {
    let (ep, h) = Channel::new(mac(2), 1500, Capabilities::RESOLUTION_REQUIRED);
    let mut s = Stack::new(StackConfig {
        partition,
        partitions: 2,
        ..StackConfig::default()
    });
    let n = s.add_nic("eth0", ep);
    s.add_address(n, net("198.18.0.2/24")).unwrap();
    s.add_static_neighbor(n, ip("198.18.0.1"), mac(1)).unwrap();
    (s, h)
}

fn udp_frame(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        unreachable!()
    };
    let mut f = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(s.octets(), d.octets(), 64)
        .udp(src.port(), dst.port())
        .write(&mut f, b"for the owner")
        .unwrap();
    f
}

#[test]
fn connected_flow_lives_on_its_owner_and_strays_are_handed_off() {
    let (mut s0, h0) = shard(0);
    let (mut s1, _h1) = shard(1);
    let now = Instant::from_secs(1);
    let local = sock("198.18.0.2:5353");
    // Find a remote port whose flow the hash gives to shard 1.
    let remote = (1000u16..2000)
        .map(|p| sock(&format!("198.18.0.1:{p}")))
        .find(|r| {
            shard_of(
                &FlowTuple {
                    src_addr: r.ip(),
                    dst_addr: local.ip(),
                    src_port: r.port(),
                    dst_port: local.port(),
                    protocol: IpProtocol::Udp,
                },
                2,
            ) == 1
        })
        .expect("half of all ports map to shard 1");
    // Shard 0 refuses to own it and says who does.
    let e0 = s0.udp_bind(local).unwrap();
    assert_eq!(
        s0.udp_connect(e0, remote),
        Err(UdpError::WrongShard { owner: 1 })
    );
    let e1 = s1.udp_bind(local).unwrap();
    s1.udp_connect(e1, remote).unwrap();
    // The datagram lands on shard 0 (say RSS put it there): it is handed off.
    h0.inject_inbound(&udp_frame(remote, local));
    s0.poll(now);
    let (owner, nic, pkt) = s0.take_handoff().expect("handed off");
    assert_eq!(owner, 1);
    assert_eq!(s0.drops().total(), 0);
    s1.deliver_handoff(nic, pkt, now);
    let d = s1.udp_recv(e1).expect("delivered by the owner");
    assert_eq!(d.payload.as_slice(), b"for the owner");
    assert_eq!(d.src, remote);
}

#[test]
fn a_neighbor_answer_received_by_another_shard_resolves_the_asker() {
    let (mut s0, h0) = shard(0);
    let (mut s1, h1) = shard(1);
    let now = Instant::from_secs(1);
    let cli = s0.udp_bind(sock("0.0.0.0:0")).unwrap();
    // Shard 0 needs 198.18.0.9: it asks (ARP request out of shard 0).
    s0.udp_send_to(cli, b"waiting", sock("198.18.0.9:7"), now)
        .unwrap();
    s0.poll(now);
    assert_eq!(h0.take_outbound().len(), 1, "the ARP request");
    // The reply lands on shard 1's queue (RSS for ARP is not ours to pick).
    let mut reply = vec![
        2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 9, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2,
    ];
    reply.extend_from_slice(&[
        2, 0, 0, 0, 0, 9, 198, 18, 0, 9, 2, 0, 0, 0, 0, 2, 198, 18, 0, 2,
    ]);
    h1.inject_inbound(&reply);
    s1.poll(now);
    let ev = s1.next_event().expect("shard 1 reports the answer");
    let NeighborResolved {
        nic,
        addr,
        mac: m,
        confirmed,
    } = ev
    else {
        panic!("{ev:?}")
    };
    assert_eq!((addr, m), (ip("198.18.0.9"), mac(9)));
    assert!(!confirmed, "shard 1 had no entry: it cannot vouch for it");
    // Shard 1 never asked, so it did not create an entry (RFC 4861 7.2.5).
    let cache = |s: &Stack| s.nics()[0].arp_cache().get("198.18.0.9".parse().unwrap());
    assert!(cache(&s1).is_none());
    // A third shard that never asked ignores the unconfirmed answer too.
    let (mut s2, _h2) = shard(0);
    s2.learn_neighbor(nic, addr, m, confirmed, now).unwrap();
    assert!(cache(&s2).is_none());
    assert!(s2.next_event().is_none());
    // The worker passes it to shard 0, whose queued datagram now leaves.
    s0.learn_neighbor(nic, addr, m, confirmed, now).unwrap();
    s0.poll(now);
    let out = h0.take_outbound();
    assert_eq!(out.len(), 1);
    assert_eq!(
        &out[0].as_slice()[..6],
        &mac(9).0,
        "sent to the learned MAC"
    );
    // Shard 0 asked, so it passes the answer on as confirmed ...
    let ev = s0.next_event().expect("shard 0 passes it on");
    let NeighborResolved {
        confirmed: true, ..
    } = ev
    else {
        panic!("{ev:?}")
    };
    // ... and every other shard now holds the neighbor without asking.
    for s in [&mut s1, &mut s2] {
        s.learn_neighbor(nic, addr, m, true, now).unwrap();
        let e = cache(s).expect("entry from the confirmed answer");
        assert_eq!((e.state, e.mac), (NeighborState::Reachable, Some(mac(9))));
        assert!(s.next_event().is_none(), "no echo of the event");
    }
    let h = s1.udp_bind(sock("0.0.0.0:0")).unwrap();
    s1.udp_send_to(h, b"direct", sock("198.18.0.9:7"), now)
        .unwrap();
    s1.poll(now);
    let out = h1.take_outbound();
    assert_eq!(out.len(), 1, "no ARP request of its own");
    assert_eq!(&out[0].as_slice()[..6], &mac(9).0);
}
