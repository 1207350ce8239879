//! Wire formats: zero-copy packet views and high-level `Repr` values.
//!
//! Every protocol has two layers, in the style of smoltcp's `wire` module:
//!
//! * A **view** `XPacket<T: AsRef<[u8]>>` over a byte buffer (a UMEM frame, a
//!   `Vec`, a slice). `XPacket::new_checked` validates every length the accessors
//!   depend on, once; afterwards no accessor or setter panics. `new_unchecked`
//!   skips the check and is meant for emitting into a buffer the caller sized
//!   with `Repr::buffer_len`. Field offsets live in a private `field` module as
//!   `Range<usize>` constants. Getters are on `impl<T: AsRef<[u8]>>`, setters on
//!   `impl<T: AsRef<[u8]> + AsMut<[u8]>>`.
//! * A **Repr** (`XRepr`), a small `Copy` value holding the header's meaning.
//!   `XRepr::parse(&view)` checks semantics (versions, lengths that lie,
//!   checksums when asked); `emit(&mut view)` writes it and never panics when the
//!   buffer is exactly `buffer_len()` octets (or longer, where documented).
//!
//! Parsing untrusted input must go through `new_checked` and `parse`; errors are
//! the small [`Error`] enum, which the stack maps to a counted
//! [`DropReason`](crate::stack::DropReason). Unknown protocol numbers are kept
//! (`Unknown(n)` variants), not rejected, so the stack can answer them properly.

use core::fmt;

#[macro_use]
mod macros;

pub mod checksum;

pub mod arp;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6ext;
pub mod ndp;
pub mod tcp;
pub mod udp;

/// Byte ranges of header fields.
pub(crate) mod field {
    /// A fixed field.
    pub type Field = core::ops::Range<usize>;
    /// The rest of the buffer from an offset.
    pub type Rest = core::ops::RangeFrom<usize>;
}

/// Why a buffer could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than a header or a length field says.
    Truncated,
    /// A field holds a value the protocol forbids (version, header length, ...).
    Malformed,
    /// The checksum does not verify.
    Checksum,
    /// Well-formed, but a variant this implementation does not handle.
    Unrecognized,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::Checksum => "checksum error",
            Error::Unrecognized => "unrecognized packet",
        })
    }
}

impl std::error::Error for Error {}

/// Result type of the wire layer.
pub type Result<T> = core::result::Result<T, Error>;

enum_with_unknown! {
    /// IP protocol numbers (IPv4 protocol, IPv6 next header), IANA registry.
    pub enum IpProtocol(u8) {
        /// IPv6 hop-by-hop options (RFC 8200 4.3).
        HopByHop = 0x00,
        /// ICMP for IPv4 (RFC 792).
        Icmp = 0x01,
        /// IGMP.
        Igmp = 0x02,
        /// TCP (RFC 9293).
        Tcp = 0x06,
        /// UDP (RFC 768).
        Udp = 0x11,
        /// IPv6 routing header (RFC 8200 4.4).
        Ipv6Route = 0x2b,
        /// IPv6 fragment header (RFC 8200 4.5).
        Ipv6Frag = 0x2c,
        /// Encapsulating security payload.
        Esp = 0x32,
        /// Authentication header.
        Ah = 0x33,
        /// ICMP for IPv6 (RFC 4443).
        Icmpv6 = 0x3a,
        /// No next header (RFC 8200 4.7).
        Ipv6NoNxt = 0x3b,
        /// IPv6 destination options (RFC 8200 4.6).
        Ipv6Opts = 0x3c,
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::Unknown(n) => write!(f, "proto{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

pub use ethernet::{EtherType, EthernetAddress};
