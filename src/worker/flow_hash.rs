//! Symmetric Toeplitz flow hash: the one function that decides which shard
//! owns a flow.
//!
//! # What it is
//!
//! The hash is the Toeplitz hash of the Microsoft RSS specification
//! ("Receive Side Scaling", *RSS Hashing Functions* and *Verifying the RSS Hash
//! Calculation*, Windows driver docs; also Intel 82599 datasheet 7.1.2.8). For
//! every set bit `i` of the input (most significant bit of the first byte is
//! bit 0) the 32-bit window of the key starting at key bit `i` is XORed into
//! the result. The input layout is the standard RSS one, in network byte order:
//!
//! | protocol            | input                                            |
//! |---------------------|--------------------------------------------------|
//! | TCP, UDP (4-tuple)  | src addr, dst addr, src port, dst port           |
//! | anything else       | src addr, dst addr                               |
//!
//! which is what a NIC computes for `rx-flow-hash tcp4 sdfn` / `udp4 sdfn`
//! (and the IPv6 equivalents) and for the 2-tuple IP hash of other protocols.
//! Because Toeplitz is linear and zero input bits contribute nothing, the
//! 2-tuple hash equals the 4-tuple hash with both ports zero.
//!
//! # Symmetry
//!
//! [`SYMMETRIC_RSS_KEY`] is the key of Woo & Park, "Scalable TCP Session
//! Monitoring with Symmetric Receive-side Scaling" (KAIST tech report, 2012):
//! the 16-bit pattern `0x6d5a` repeated twenty times. Its windows repeat with a
//! period of 16 bits, so exchanging the source and destination addresses
//! (a shift by 32 or 128 bits) and ports (a shift by 16 bits) leaves the hash
//! unchanged: `hash(a→b) == hash(b→a)`. The same key must be programmed into
//! the NIC (`ethtool -X IF hkey 6d:5a:…`) so hardware and software agree.
//!
//! # Contract
//!
//! * [`flow_hash`] is used for the demux partition, the NIC RSS configuration,
//!   ephemeral-port choice and cross-shard handoff. Fragments use
//!   [`addr_hash`] until reassembled; ICMP errors are hashed on their inner
//!   tuple (by the caller).
//! * [`shard_of_hash`] maps a hash to a shard through the default RSS
//!   indirection table of [`RSS_INDIRECTION_SIZE`] entries, entry `i` = `i % n`
//!   (see [`indirection_table`]), indexed by the low 7 bits of the hash as a
//!   NIC does. `n == 0` is treated as 1; nothing here panics.
//! * A tuple with mixed address families (never produced by a parser) is
//!   hashed with the IPv4 address written as IPv4-mapped IPv6 (RFC 4291
//!   2.5.5.2); it is deterministic and symmetric but matches no NIC.
//!
//! # Speed
//!
//! Per-byte lookup tables (36 input positions × 256 values × 4 bytes =
//! 36 KiB, built at compile time) make the hash one load and one XOR per
//! input byte: 12 for IPv4 with ports, 36 for IPv6 with ports.

use core::net::{IpAddr, Ipv6Addr};
use core::ops::RangeInclusive;

use crate::wire::IpProtocol;

/// Length of an RSS key in bytes (the Microsoft RSS spec's 40-byte key).
pub const RSS_KEY_LEN: usize = 40;

/// The longest RSS input: two IPv6 addresses and two ports.
pub const MAX_INPUT_LEN: usize = 36;

/// Number of entries in the RSS indirection table (hash low bits → queue).
pub const RSS_INDIRECTION_SIZE: usize = 128;

/// The symmetric RSS key of Woo & Park: `0x6d5a` repeated to 40 bytes.
pub const SYMMETRIC_RSS_KEY: [u8; RSS_KEY_LEN] = {
    let mut k = [0u8; RSS_KEY_LEN];
    let mut i = 0;
    while i < RSS_KEY_LEN {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// A Toeplitz hasher for one key, with precomputed per-byte tables.
///
/// `table[pos][byte]` is the XOR of the key windows selected by the set bits
/// of `byte` at input position `pos`, so the hash of an input is the XOR of
/// one table entry per byte.
#[derive(Clone)]
pub struct Toeplitz {
    table: [[u32; 256]; MAX_INPUT_LEN],
}

impl core::fmt::Debug for Toeplitz {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Toeplitz").finish_non_exhaustive()
    }
}

/// The 32-bit key window starting at key bit `bit` (bit 0 = MSB of key[0]).
const fn key_window(key: &[u8; RSS_KEY_LEN], bit: usize) -> u32 {
    let mut w = 0u32;
    let mut j = 0;
    while j < 32 {
        let b = bit + j;
        let set = if b / 8 < RSS_KEY_LEN {
            (key[b / 8] >> (7 - (b % 8))) & 1
        } else {
            0
        };
        w = (w << 1) | set as u32;
        j += 1;
    }
    w
}

impl Toeplitz {
    /// Precompute the tables for `key`. `const`, so a fixed key costs nothing
    /// at run time.
    pub const fn new(key: &[u8; RSS_KEY_LEN]) -> Self {
        let mut table = [[0u32; 256]; MAX_INPUT_LEN];
        let mut pos = 0;
        while pos < MAX_INPUT_LEN {
            let mut windows = [0u32; 8];
            let mut bit = 0;
            while bit < 8 {
                windows[bit] = key_window(key, pos * 8 + bit);
                bit += 1;
            }
            let mut byte = 0;
            while byte < 256 {
                let mut h = 0u32;
                let mut bit = 0;
                while bit < 8 {
                    if byte & (0x80 >> bit) != 0 {
                        h ^= windows[bit];
                    }
                    bit += 1;
                }
                table[pos][byte] = h;
                byte += 1;
            }
            pos += 1;
        }
        Toeplitz { table }
    }

    /// The Toeplitz hash of `input`. Bytes past [`MAX_INPUT_LEN`] are ignored
    /// (the 40-byte key has no windows for them).
    #[inline]
    pub fn hash(&self, input: &[u8]) -> u32 {
        let mut h = 0;
        for (row, &b) in self.table.iter().zip(input) {
            h ^= row[b as usize];
        }
        h
    }

    /// Hash a tuple in the RSS layout: src addr, dst addr, then (if `ports`)
    /// src port, dst port.
    #[inline]
    pub fn hash_tuple(&self, src: IpAddr, dst: IpAddr, ports: Option<(u16, u16)>) -> u32 {
        let mut buf = [0u8; MAX_INPUT_LEN];
        let n = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                buf[0..4].copy_from_slice(&s.octets());
                buf[4..8].copy_from_slice(&d.octets());
                8
            }
            (s, d) => {
                buf[0..16].copy_from_slice(&to_v6(s).octets());
                buf[16..32].copy_from_slice(&to_v6(d).octets());
                32
            }
        };
        let len = match ports {
            Some((sp, dp)) => {
                buf[n..n + 2].copy_from_slice(&sp.to_be_bytes());
                buf[n + 2..n + 4].copy_from_slice(&dp.to_be_bytes());
                n + 4
            }
            None => n,
        };
        self.hash(&buf[..len])
    }
}

fn to_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// The Toeplitz tables for [`SYMMETRIC_RSS_KEY`].
static SYMMETRIC: Toeplitz = Toeplitz::new(&SYMMETRIC_RSS_KEY);

/// A flow's 5-tuple as seen on one packet (source = sender).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowTuple {
    /// Source address.
    pub src_addr: IpAddr,
    /// Destination address.
    pub dst_addr: IpAddr,
    /// Source port (0 for protocols without ports).
    pub src_port: u16,
    /// Destination port (0 for protocols without ports).
    pub dst_port: u16,
    /// Transport protocol.
    pub protocol: IpProtocol,
}

impl FlowTuple {
    /// The tuple of the opposite direction (replies).
    pub fn reversed(&self) -> FlowTuple {
        FlowTuple {
            src_addr: self.dst_addr,
            dst_addr: self.src_addr,
            src_port: self.dst_port,
            dst_port: self.src_port,
            protocol: self.protocol,
        }
    }
}

/// Whether RSS hashes this protocol on the 4-tuple (TCP and UDP; the NIC must
/// be configured with `rx-flow-hash udp4/udp6 sdfn` for UDP).
#[inline]
pub fn hashes_ports(protocol: IpProtocol) -> bool {
    matches!(protocol, IpProtocol::Tcp | IpProtocol::Udp)
}

/// The symmetric flow hash of a tuple: the 4-tuple Toeplitz hash for TCP and
/// UDP, the 2-tuple (address) hash for every other protocol.
#[inline]
pub fn flow_hash(t: &FlowTuple) -> u32 {
    let ports = if hashes_ports(t.protocol) {
        Some((t.src_port, t.dst_port))
    } else {
        None
    };
    SYMMETRIC.hash_tuple(t.src_addr, t.dst_addr, ports)
}

/// The symmetric hash of the addresses only, used for fragments until they are
/// reassembled (RSS "IPv4"/"IPv6" hash type).
#[inline]
pub fn addr_hash(src: IpAddr, dst: IpAddr) -> u32 {
    SYMMETRIC.hash_tuple(src, dst, None)
}

/// The default indirection table for `n` shards: entry `i` is `i % n`
/// (`n == 0` is treated as 1). This is what `ethtool -X IF equal N` programs.
pub fn indirection_table(n: usize) -> [u16; RSS_INDIRECTION_SIZE] {
    let n = n.max(1);
    let mut t = [0u16; RSS_INDIRECTION_SIZE];
    for (i, e) in t.iter_mut().enumerate() {
        *e = u16::try_from(i % n).unwrap_or(u16::MAX);
    }
    t
}

/// The shard owning `hash` among `n` shards: `indirection[hash % 128]` with the
/// default table `i % n`. `n == 0` is treated as 1.
#[inline]
pub fn shard_of_hash(hash: u32, n: usize) -> usize {
    (hash as usize % RSS_INDIRECTION_SIZE) % n.max(1)
}

/// The shard owning the flow of `t` among `n` shards (either direction).
#[inline]
pub fn shard_of(t: &FlowTuple, n: usize) -> usize {
    shard_of_hash(flow_hash(t), n)
}

/// Choose a local port for a connection from `local` to `remote:remote_port`
/// whose reply tuple maps to `shard` among `n`, so replies arrive on the shard
/// that opened the connection.
///
/// Candidates are tried in order from `start` (wrapping within `range`; a
/// `start` outside `range` is folded into it), skipping ports for which
/// `in_use` returns true. Returns `None` when the range is empty, `shard >= n`,
/// or no free port maps to `shard`. `n == 0` is treated as 1.
#[allow(clippy::too_many_arguments)]
pub fn pick_ephemeral_port(
    local: IpAddr,
    remote: IpAddr,
    remote_port: u16,
    protocol: IpProtocol,
    shard: usize,
    n: usize,
    range: RangeInclusive<u16>,
    start: u16,
    in_use: impl Fn(u16) -> bool,
) -> Option<u16> {
    let n = n.max(1);
    if shard >= n {
        return None;
    }
    let (lo, hi) = (u32::from(*range.start()), u32::from(*range.end()));
    if lo > hi {
        return None;
    }
    let size = hi - lo + 1;
    let offset = (u32::from(start).wrapping_sub(lo)) % size;
    // Only the local port varies. Toeplitz is linear, so
    // hash(tuple) = hash(tuple with local port 0) ^ contribution(port), and the
    // port's contribution is two table loads at its input position.
    let base = flow_hash(&FlowTuple {
        src_addr: local,
        dst_addr: remote,
        src_port: 0,
        dst_port: remote_port,
        protocol,
    });
    let port_pos = match (local, remote) {
        (IpAddr::V4(_), IpAddr::V4(_)) => 8,
        _ => 32,
    };
    let uses_ports = hashes_ports(protocol);
    for i in 0..size {
        let port = u16::try_from(lo + (offset + i) % size).ok()?;
        let mut h = base;
        if uses_ports {
            let [hi_b, lo_b] = port.to_be_bytes();
            h ^= SYMMETRIC.table[port_pos][hi_b as usize]
                ^ SYMMETRIC.table[port_pos + 1][lo_b as usize];
        }
        if shard_of_hash(h, n) == shard && !in_use(port) {
            return Some(port);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;
    use proptest::prelude::*;

    /// The key of the Microsoft RSS verification suite.
    const MS_KEY: [u8; RSS_KEY_LEN] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    /// Bit-by-bit reference Toeplitz, straight from the spec's pseudo code.
    fn reference(key: &[u8; RSS_KEY_LEN], input: &[u8]) -> u32 {
        let mut result = 0u32;
        for (i, &b) in input.iter().enumerate() {
            for bit in 0..8 {
                if b & (0x80 >> bit) != 0 {
                    result ^= key_window(key, i * 8 + bit);
                }
            }
        }
        result
    }

    // (dst, dst port, src, src port, IPv4-only hash, IPv4-with-TCP hash):
    // "Verifying the RSS Hash Calculation", Microsoft RSS documentation.
    const V4: [(&str, u16, &str, u16, u32, u32); 5] = [
        (
            "161.142.100.80",
            1766,
            "66.9.149.187",
            2794,
            0x323e8fc2,
            0x51ccc178,
        ),
        (
            "65.69.140.83",
            4739,
            "199.92.111.2",
            14230,
            0xd718262a,
            0xc626b0ea,
        ),
        (
            "12.22.207.184",
            38024,
            "24.19.198.95",
            12898,
            0xd2d0a5de,
            0x5c2b394a,
        ),
        (
            "209.142.163.6",
            2217,
            "38.27.205.30",
            48228,
            0x82989176,
            0xafc7327f,
        ),
        (
            "202.188.127.2",
            1303,
            "153.39.163.191",
            44251,
            0x5d1809c5,
            0x10e828a2,
        ),
    ];
    const V6: [(&str, u16, &str, u16, u32, u32); 3] = [
        (
            "3ffe:2501:200:3::1",
            1766,
            "3ffe:2501:200:1fff::7",
            2794,
            0x2cc18cd5,
            0x40207d3d,
        ),
        (
            "ff02::1",
            4739,
            "3ffe:501:8::260:97ff:fe40:efab",
            14230,
            0x0f0c461c,
            0xdde51bbf,
        ),
        (
            "fe80::200:f8ff:fe21:67cf",
            38024,
            "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
            44251,
            0x4b61e985,
            0x02d1feef,
        ),
    ];

    #[test]
    fn microsoft_vectors_v4_and_v6() {
        let ms = Toeplitz::new(&MS_KEY);
        for (dst, dp, src, sp, h2, h4) in V4.iter().chain(V6.iter()) {
            let s: IpAddr = src.parse().unwrap();
            let d: IpAddr = dst.parse().unwrap();
            assert_eq!(ms.hash_tuple(s, d, None), *h2, "{src} -> {dst}");
            assert_eq!(ms.hash_tuple(s, d, Some((*sp, *dp))), *h4, "{src} -> {dst}");
            // The bitwise reference agrees with the tables.
            let mut input = Vec::new();
            match (s, d) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    input.extend(s.octets());
                    input.extend(d.octets());
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    input.extend(s.octets());
                    input.extend(d.octets());
                }
                _ => unreachable!(),
            }
            assert_eq!(reference(&MS_KEY, &input), *h2);
            input.extend(sp.to_be_bytes());
            input.extend(dp.to_be_bytes());
            assert_eq!(reference(&MS_KEY, &input), *h4);
        }
    }

    #[test]
    fn symmetric_key_is_6d5a_repeated() {
        assert_eq!(&SYMMETRIC_RSS_KEY[..4], &[0x6d, 0x5a, 0x6d, 0x5a]);
        assert!(SYMMETRIC_RSS_KEY.chunks(2).all(|c| c == [0x6d, 0x5a]));
    }

    #[test]
    fn protocol_selects_tuple() {
        let a: IpAddr = Ipv4Addr::new(198, 18, 0, 1).into();
        let b: IpAddr = Ipv4Addr::new(198, 19, 0, 2).into();
        let t = |protocol, sp, dp| FlowTuple {
            src_addr: a,
            dst_addr: b,
            src_port: sp,
            dst_port: dp,
            protocol,
        };
        // ICMP ignores ports: equals the address hash.
        assert_eq!(flow_hash(&t(IpProtocol::Icmp, 7, 9)), addr_hash(a, b));
        // TCP uses them.
        assert_ne!(
            flow_hash(&t(IpProtocol::Tcp, 7, 9)),
            flow_hash(&t(IpProtocol::Tcp, 7, 10))
        );
        // Zero ports hash like no ports.
        assert_eq!(flow_hash(&t(IpProtocol::Udp, 0, 0)), addr_hash(a, b));
    }

    #[test]
    fn n_zero_and_indirection() {
        assert_eq!(shard_of_hash(12345, 0), 0);
        let t = indirection_table(3);
        for h in [0u32, 1, 127, 128, 129, 0xffff_ffff, 0x1234_5677] {
            assert_eq!(shard_of_hash(h, 3), usize::from(t[h as usize % 128]));
        }
        assert_eq!(indirection_table(0), [0; RSS_INDIRECTION_SIZE]);
    }

    #[test]
    fn distribution_over_shards_is_even() {
        use rand::{rngs::SmallRng, Rng, SeedableRng};
        let mut rng = SmallRng::seed_from_u64(7);
        const N: usize = 1_000_000;
        let mut c2 = [0usize; 2];
        let mut c4 = [0usize; 4];
        for i in 0..N {
            let v6 = i % 4 == 0;
            let (s, d): (IpAddr, IpAddr) = if v6 {
                (
                    Ipv6Addr::from(rng.gen::<u128>()).into(),
                    Ipv6Addr::from(rng.gen::<u128>()).into(),
                )
            } else {
                (
                    Ipv4Addr::from(rng.gen::<u32>()).into(),
                    Ipv4Addr::from(rng.gen::<u32>()).into(),
                )
            };
            let t = FlowTuple {
                src_addr: s,
                dst_addr: d,
                src_port: rng.gen(),
                dst_port: rng.gen(),
                protocol: if i % 2 == 0 {
                    IpProtocol::Tcp
                } else {
                    IpProtocol::Udp
                },
            };
            let h = flow_hash(&t);
            c2[shard_of_hash(h, 2)] += 1;
            c4[shard_of_hash(h, 4)] += 1;
        }
        for c in c2 {
            let dev = (c as f64 - N as f64 / 2.0).abs() / (N as f64 / 2.0);
            assert!(dev < 0.02, "2 shards: {c2:?}");
        }
        for c in c4 {
            let dev = (c as f64 - N as f64 / 4.0).abs() / (N as f64 / 4.0);
            assert!(dev < 0.03, "4 shards: {c4:?}");
        }
    }

    #[test]
    fn ephemeral_port_exhaustion_and_bad_input() {
        let l: IpAddr = Ipv4Addr::new(198, 18, 0, 1).into();
        let r: IpAddr = Ipv4Addr::new(198, 19, 0, 1).into();
        // Everything in use.
        assert_eq!(
            pick_ephemeral_port(l, r, 80, IpProtocol::Tcp, 0, 2, 1000..=1100, 1000, |_| true),
            None
        );
        // Empty range, shard out of range.
        #[allow(clippy::reversed_empty_ranges)]
        let empty = 10..=5;
        assert_eq!(
            pick_ephemeral_port(l, r, 80, IpProtocol::Tcp, 0, 2, empty, 7, |_| false),
            None
        );
        assert_eq!(
            pick_ephemeral_port(l, r, 80, IpProtocol::Tcp, 2, 2, 1..=100, 1, |_| false),
            None
        );
        // n == 0 behaves as 1: the first free port wins.
        assert_eq!(
            pick_ephemeral_port(l, r, 80, IpProtocol::Tcp, 0, 0, 1..=100, 50, |p| p == 50),
            Some(51)
        );
        // Full u16 range, start wraps.
        assert_eq!(
            pick_ephemeral_port(
                l,
                r,
                80,
                IpProtocol::Tcp,
                0,
                1,
                0..=u16::MAX,
                u16::MAX,
                |p| { p == u16::MAX }
            ),
            Some(0)
        );
    }

    fn any_addr_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
        prop_oneof![
            (any::<u32>(), any::<u32>())
                .prop_map(|(a, b)| (Ipv4Addr::from(a).into(), Ipv4Addr::from(b).into())),
            (any::<u128>(), any::<u128>())
                .prop_map(|(a, b)| (Ipv6Addr::from(a).into(), Ipv6Addr::from(b).into())),
        ]
    }

    proptest! {
        #[test]
        fn symmetric((s, d) in any_addr_pair(), sp in any::<u16>(), dp in any::<u16>(), p in any::<u8>()) {
            let t = FlowTuple { src_addr: s, dst_addr: d, src_port: sp, dst_port: dp, protocol: IpProtocol::from(p) };
            prop_assert_eq!(flow_hash(&t), flow_hash(&t.reversed()));
            prop_assert_eq!(addr_hash(s, d), addr_hash(d, s));
            prop_assert_eq!(shard_of(&t, 5), shard_of(&t.reversed(), 5));
        }

        #[test]
        fn tables_match_reference(input in proptest::collection::vec(any::<u8>(), 0..=36)) {
            prop_assert_eq!(SYMMETRIC.hash(&input), reference(&SYMMETRIC_RSS_KEY, &input));
        }

        #[test]
        fn ephemeral_port_maps_to_shard(
            (l, r) in any_addr_pair(), rp in any::<u16>(), n in 1usize..8, shard in 0usize..8,
            lo in 1024u16..40000, len in 0u16..2000, start in any::<u16>(), tcp in any::<bool>(),
            busy in any::<u16>(),
        ) {
            let proto = if tcp { IpProtocol::Tcp } else { IpProtocol::Udp };
            let range = lo..=lo + len;
            let got = pick_ephemeral_port(l, r, rp, proto, shard, n, range.clone(), start, |p| p % 7 == busy % 7);
            match got {
                Some(p) => {
                    prop_assert!(range.contains(&p));
                    prop_assert!(p % 7 != busy % 7);
                    // The reply (remote -> local:p) lands on the requested shard.
                    let reply = FlowTuple { src_addr: r, dst_addr: l, src_port: rp, dst_port: p, protocol: proto };
                    prop_assert_eq!(shard_of(&reply, n), shard);
                }
                None => {
                    // Exhausted: no free port in range maps to the shard.
                    for p in range {
                        let t = FlowTuple { src_addr: l, dst_addr: r, src_port: p, dst_port: rp, protocol: proto };
                        prop_assert!(shard >= n || p % 7 == busy % 7 || shard_of(&t, n) != shard);
                    }
                }
            }
        }
    }
}
