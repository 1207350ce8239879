//! Link wrappers composed over a pipe, with the capture checked by an
//! independent parser (etherparse) and, when installed, by tcpdump.

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use std::io::BufWriter;
use xdpnet::buffer::{PacketBatch, PacketBuffer, DEFAULT_HEADROOM};
use xdpnet::link::fault::{Direction, Fault, FaultConfig};
use xdpnet::link::pcap::{read_pcap_file, PcapTap};
use xdpnet::link::pipe::{Pipe, PipeConfig};
use xdpnet::link::LinkEndpoint;
use xdpnet::time::{Duration, Instant};
use xdpnet::wire::EthernetAddress;

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// An Ethernet/IPv4/UDP frame from 198.18.0.1 to 198.19.0.1 whose UDP
/// payload starts with `seq`.
fn udp_frame(seq: u32) -> Vec<u8> {
    let mut payload = seq.to_be_bytes().to_vec();
    payload.resize(18 + (seq % 200) as usize, 0x5a);
    let builder = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([198, 18, 0, 1], [198, 19, 0, 1], 64)
        .udp(40_000, 9);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, &payload).unwrap();
    frame
}

fn seq_of(frame: &[u8]) -> u32 {
    let p = SlicedPacket::from_ethernet(frame).expect("valid Ethernet frame");
    assert!(matches!(p.net, Some(NetSlice::Ipv4(_))));
    match p.transport {
        Some(TransportSlice::Udp(udp)) => {
            assert_eq!((udp.source_port(), udp.destination_port()), (40_000, 9));
            u32::from_be_bytes(udp.payload()[..4].try_into().unwrap())
        }
        other => panic!("expected UDP, got {other:?}"),
    }
}

#[test]
fn tap_under_fault_captures_exactly_what_crossed_the_wire() {
    let path =
        std::env::temp_dir().join(format!("xdpnet-link-pcap-it-{}.pcap", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let (a, mut b) = Pipe::pair(
        PipeConfig::new(EthernetAddress(MAC_A)).with_queue_capacity(128),
        PipeConfig::new(EthernetAddress(MAC_B)).with_queue_capacity(128),
    );
    // Stack → Fault → PcapTap → pipe: the capture sees the wire.
    let tap = PcapTap::new(a, BufWriter::new(file));
    let config = FaultConfig {
        drop: 0.1,
        duplicate: 0.05,
        reorder: 0.05,
        seed: 2544,
        direction: Direction::Tx,
        ..FaultConfig::default()
    };
    let mut link = Fault::new(tap, config).unwrap();
    assert_eq!(link.link_address(), EthernetAddress(MAC_A));

    let mut received = Vec::new();
    let mut rx = PacketBatch::new();
    let mut next = 0u32;
    let mut now = Instant::from_secs(1);
    let mut batch = PacketBatch::new();
    while next < 1000 || !batch.is_empty() || link.pending() > 0 {
        while batch.len() < 32 && next < 1000 {
            batch.push(PacketBuffer::from_slice(DEFAULT_HEADROOM, &udp_frame(next)));
            next += 1;
        }
        link.write_packets(&mut batch, now);
        rx.clear();
        b.read_packets(&mut rx, 64, now);
        received.extend(rx.iter().map(|f| (now, f.as_slice().to_vec())));
        now += Duration::from_micros(10);
    }
    rx.clear();
    b.read_packets(&mut rx, 1024, now);
    received.extend(rx.iter().map(|f| (now, f.as_slice().to_vec())));

    let stats = link.tx_stats();
    assert_eq!(stats.seen, 1000);
    assert!(stats.dropped > 50 && stats.duplicated > 20 && stats.reordered > 20);
    assert_eq!(
        received.len() as u64,
        1000 - stats.dropped + stats.duplicated,
        "every frame accounted for"
    );

    let mut tap = link.into_inner();
    assert!(tap.flush().is_ok());
    assert_eq!(tap.stats().tx_frames as usize, received.len());
    drop(tap);

    let captured = read_pcap_file(&path).unwrap();
    assert_eq!(captured.len(), received.len());
    for ((ts, cap), (rx_at, got)) in captured.iter().zip(&received) {
        assert_eq!(cap, got, "capture equals what the peer received");
        assert!(ts <= rx_at, "captured when sent, before it was read");
        seq_of(cap);
    }
    let seqs: Vec<u32> = captured.iter().map(|(_, f)| seq_of(f)).collect();
    assert!(seqs.windows(2).any(|w| w[0] > w[1]), "reordering visible");
    assert!(seqs.windows(2).any(|w| w[0] == w[1]), "duplicates visible");

    // Optional: the system's tcpdump reads it too.
    match std::process::Command::new("tcpdump")
        .args(["-n", "-r"])
        .arg(&path)
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text.lines().count(), captured.len());
            assert!(text.contains("198.18.0.1.40000 > 198.19.0.1.9: UDP"));
        }
        Ok(out) => panic!(
            "tcpdump refused the capture: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => eprintln!("tcpdump not installed; skipped the tcpdump check"),
    }
    std::fs::remove_file(&path).unwrap();
}
