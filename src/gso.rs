//! Generic segmentation offload, done in software.
//!
//! A transport endpoint may build one packet of up to [`SOFTWARE_GSO_MAX_SIZE`]
//! bytes (headers included) instead of many MTU-sized ones, and attach a
//! [`Gso`] describing how to cut it. When the egress link advertises
//! [`Capabilities::SOFTWARE_GSO`](crate::link::Capabilities::SOFTWARE_GSO), the
//! network layer hands such a packet to [`segment`], which cuts it into
//! MSS-sized frames with correct headers and checksums, and the whole result
//! goes to the link in one `write_packets` batch. Per-packet work above the
//! network layer (routing, neighbor lookup, header building) is then paid once
//! per 64 KiB instead of once per segment.
//!
//! The model follows the seeds' `GSO` struct: a type, whether the transport
//! checksum still needs computing, where it sits, the segment size, the length
//! of the network header, and the maximum size.

/// The largest packet software GSO accepts (IPv4 total length limit).
pub const SOFTWARE_GSO_MAX_SIZE: usize = 1 << 16;

/// What kind of segmentation a packet needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GsoType {
    /// TCP over IPv4: cut the payload at MSS boundaries, advance sequence
    /// numbers, set FIN/PSH only on the last segment, new IPv4 ids.
    TcpV4,
    /// TCP over IPv6.
    TcpV6,
    /// UDP over IPv4, `UDP_SEGMENT` semantics: every segment is its own
    /// datagram of `mss` payload bytes (the last may be shorter).
    UdpV4,
    /// UDP over IPv6, as [`GsoType::UdpV4`].
    UdpV6,
}

/// Segmentation metadata carried by a packet larger than the MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gso {
    /// The kind of segmentation.
    pub gso_type: GsoType,
    /// Whether the transport checksum must still be computed.
    pub needs_csum: bool,
    /// Offset of the checksum field from the start of the transport header.
    pub csum_offset: u16,
    /// Transport payload bytes per segment.
    pub mss: u16,
    /// Length of the network header (IPv4 with options, or IPv6 with its
    /// extension headers).
    pub l3_hdr_len: u16,
    /// The largest packet this metadata may describe.
    pub max_size: u32,
}

// ---- segmentation: below this line (GSO owner) ----
