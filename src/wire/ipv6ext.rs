//! IPv6 extension headers: fragment header, options headers and the chain walk (RFC 8200 4).
//!
//! * RFC 8200 4.1: extension header order; hop-by-hop options only directly
//!   after the IPv6 header.
//! * RFC 8200 4.2: the option TLVs of hop-by-hop and destination options
//!   headers, Pad1/PadN, and the action for an unrecognized option encoded in
//!   the two high bits of its type.
//! * RFC 8200 4.3 / 4.6: hop-by-hop and destination options headers.
//! * RFC 8200 4.4: the routing header (no routing type is implemented, so a
//!   routing header with segments left is answered with a Parameter Problem).
//! * RFC 8200 4.5: the fragment header.
//! * RFC 8200 4.7: No Next Header.
//! * RFC 4443 3.4: the Parameter Problem codes and pointer.
//!
//! ESP and AH (RFC 4303, RFC 4302) end the walk like an upper-layer protocol.

use crate::wire::ipv6::HEADER_LEN as IPV6_HEADER_LEN;
use crate::wire::{Error, IpProtocol, Result};
use core::fmt;

/// Length of the fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;
/// The most extension headers [`walk_ext_headers`] follows before discarding.
pub const MAX_EXT_HEADERS: usize = 8;

mod field {
    use crate::wire::field::{Field, Rest};

    // RFC 8200 4.3-4.6: every options/routing header starts with these two octets.
    pub const NXT_HDR: usize = 0;
    pub const LENGTH: usize = 1;
    pub const DATA: Rest = 2..;
    // RFC 8200 4.4: routing header.
    pub const ROUTING_TYPE: usize = 2;
    pub const SEGMENTS_LEFT: usize = 3;
    // RFC 8200 4.5: fragment header.
    pub const FR_OF_M: Field = 2..4;
    pub const IDENT: Field = 4..8;
}

// ---------------------------------------------------------------- fragment

/// A read/write view of a fragment header (RFC 8200 4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6FragmentHeader<T> {
    /// Wrap a buffer without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv6FragmentHeader<T> {
        Ipv6FragmentHeader { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv6FragmentHeader<T>> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// Ensure the buffer holds the 8-octet header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < FRAGMENT_HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Give back the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn fr_of_m(&self) -> u16 {
        let d = &self.buffer.as_ref()[field::FR_OF_M];
        u16::from_be_bytes([d[0], d[1]])
    }

    /// The protocol of the fragmentable part.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NXT_HDR])
    }

    /// The fragment offset in octets (a multiple of 8).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        // RFC 8200 4.5: 13-bit offset in 8-octet units, then Res (2 bits) and M.
        self.fr_of_m() & 0xfff8
    }

    /// The M (more fragments) flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.fr_of_m() & 0x1 != 0
    }

    /// The identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        let d = &self.buffer.as_ref()[field::IDENT];
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6FragmentHeader<T> {
    #[inline]
    fn set_fr_of_m(&mut self, value: u16) {
        self.buffer.as_mut()[field::FR_OF_M].copy_from_slice(&value.to_be_bytes());
    }

    /// Set the protocol of the fragmentable part.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = value.into();
    }

    /// Set the fragment offset in octets (the low 3 bits are dropped).
    #[inline]
    pub fn set_frag_offset(&mut self, value: u16) {
        let v = (self.fr_of_m() & 0x0007) | (value & 0xfff8);
        self.set_fr_of_m(v);
    }

    /// Set the M flag.
    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        let v = (self.fr_of_m() & !0x1) | u16::from(value);
        self.set_fr_of_m(v);
    }

    /// Set the identification.
    #[inline]
    pub fn set_ident(&mut self, value: u32) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&value.to_be_bytes());
    }

    /// Zero both reserved fields (RFC 8200 4.5: "set to zero for transmission").
    #[inline]
    pub fn clear_reserved(&mut self) {
        self.buffer.as_mut()[1] = 0;
        let v = self.fr_of_m() & !0x0006;
        self.set_fr_of_m(v);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv6FragmentHeader<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The meaning of a fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6FragmentRepr {
    /// Protocol of the fragmentable part.
    pub next_header: IpProtocol,
    /// Offset in octets (a multiple of 8).
    pub frag_offset: u16,
    /// More fragments follow.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

impl Ipv6FragmentRepr {
    /// Parse a fragment header. Reserved bits are ignored (RFC 8200 4.5).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        header: &Ipv6FragmentHeader<&T>,
    ) -> Result<Ipv6FragmentRepr> {
        header.check_len()?;
        Ok(Ipv6FragmentRepr {
            next_header: header.next_header(),
            frag_offset: header.frag_offset(),
            more_frags: header.more_frags(),
            ident: header.ident(),
        })
    }

    /// The emitted length: 8.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        FRAGMENT_HEADER_LEN
    }

    /// Write the header into a buffer of at least 8 octets.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut Ipv6FragmentHeader<T>) {
        header.set_next_header(self.next_header);
        header.buffer.as_mut()[1] = 0;
        header.set_fr_of_m((self.frag_offset & 0xfff8) | u16::from(self.more_frags));
        header.set_ident(self.ident);
    }
}

// ----------------------------------------------------------------- options

/// A read/write view of a hop-by-hop options, destination options or routing
/// header: the shared "next header, header extension length" layout
/// (RFC 8200 4.3, 4.4, 4.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6OptionsHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6OptionsHeader<T> {
    /// Wrap a buffer without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv6OptionsHeader<T> {
        Ipv6OptionsHeader { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv6OptionsHeader<T>> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// Ensure the buffer holds the whole header, `header_len()` octets (at least 8).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len <= field::LENGTH || len < self.header_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Give back the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The next header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NXT_HDR])
    }

    /// The header length in octets: (Hdr Ext Len + 1) * 8.
    #[inline]
    pub fn header_len(&self) -> usize {
        // RFC 8200 4.3: "in 8-octet units, not including the first 8 octets".
        (usize::from(self.buffer.as_ref()[field::LENGTH]) + 1) * 8
    }

    /// The routing type (meaningful for a routing header only).
    #[inline]
    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[field::ROUTING_TYPE]
    }

    /// The segments left (meaningful for a routing header only).
    #[inline]
    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[field::SEGMENTS_LEFT]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv6OptionsHeader<&'a T> {
    /// The octets after the first two, up to `header_len()`: the options
    /// area of a hop-by-hop or destination options header.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        let d = self.buffer.as_ref();
        let end = self.header_len().min(d.len());
        d.get(field::DATA.start..end).unwrap_or(&[])
    }

    /// Iterate over the option TLVs in [`data`](Self::data) (RFC 8200 4.2).
    #[inline]
    pub fn options(&self) -> Ipv6OptionsIter<'a> {
        Ipv6OptionsIter::new(self.data())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6OptionsHeader<T> {
    /// Set the next header.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = value.into();
    }

    /// Set the header length in octets (a multiple of 8, at least 8, at most 2048).
    #[inline]
    pub fn set_header_len(&mut self, value: usize) {
        let units = (value / 8).clamp(1, 256) - 1;
        self.buffer.as_mut()[field::LENGTH] = units as u8;
    }

    /// Set the routing type (routing header only).
    #[inline]
    pub fn set_routing_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::ROUTING_TYPE] = value;
    }

    /// Set the segments left (routing header only).
    #[inline]
    pub fn set_segments_left(&mut self, value: u8) {
        self.buffer.as_mut()[field::SEGMENTS_LEFT] = value;
    }

    /// The octets after the first two, up to `header_len()`, mutably.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let end = self.header_len().min(self.buffer.as_ref().len());
        self.buffer
            .as_mut()
            .get_mut(field::DATA.start..end)
            .unwrap_or(&mut [])
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv6OptionsHeader<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// One option TLV of a hop-by-hop or destination options header (RFC 8200 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Option<'a> {
    /// A single octet of padding (type 0, no length or data).
    Pad1,
    /// Padding of `2 + n` octets (type 1) with `n` data octets.
    PadN(u8),
    /// Any other option: its type octet and data.
    Other {
        /// The option type octet (action bits, change bit, number).
        option_type: u8,
        /// The option data.
        data: &'a [u8],
    },
}

impl Ipv6Option<'_> {
    /// The option type octet.
    #[inline]
    pub fn option_type(&self) -> u8 {
        match self {
            Ipv6Option::Pad1 => 0,
            Ipv6Option::PadN(_) => 1,
            Ipv6Option::Other { option_type, .. } => *option_type,
        }
    }
}

/// What to do with an option whose type is not recognized (RFC 8200 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnrecognizedOptionAction {
    /// `00`: skip over this option and continue processing the header.
    Skip,
    /// `01`: discard the packet.
    Discard,
    /// `10`: discard and send an ICMP Parameter Problem, code 2.
    DiscardSendParamProblem,
    /// `11`: discard and send a Parameter Problem, code 2, only if the
    /// destination was not a multicast address.
    DiscardSendParamProblemUnlessMulticast,
}

impl UnrecognizedOptionAction {
    /// The action encoded in the two high bits of an option type.
    #[inline]
    pub const fn from_option_type(option_type: u8) -> UnrecognizedOptionAction {
        // RFC 8200 4.2: "the highest-order 2 bits of the Option Type".
        match option_type >> 6 {
            0 => UnrecognizedOptionAction::Skip,
            1 => UnrecognizedOptionAction::Discard,
            2 => UnrecognizedOptionAction::DiscardSendParamProblem,
            _ => UnrecognizedOptionAction::DiscardSendParamProblemUnlessMulticast,
        }
    }
}

/// Iterator over the option TLVs of an options area.
///
/// Yields `Err(Error::Malformed)` once, and then stops, when an option runs
/// past the end of the area; [`offset`](Self::offset) then points at that
/// option's type octet.
#[derive(Debug, Clone)]
pub struct Ipv6OptionsIter<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Ipv6OptionsIter<'a> {
    /// Iterate over `data`, an options area (a header minus its first two octets).
    #[inline]
    pub const fn new(data: &'a [u8]) -> Ipv6OptionsIter<'a> {
        Ipv6OptionsIter {
            data,
            pos: 0,
            done: false,
        }
    }

    /// The offset within the area of the next option (or of the one that
    /// failed).
    #[inline]
    pub const fn offset(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Ipv6OptionsIter<'a> {
    type Item = Result<Ipv6Option<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.data.len() {
            return None;
        }
        let option_type = self.data[self.pos];
        // RFC 8200 4.2: Pad1 "has no length and value fields".
        if option_type == 0 {
            self.pos += 1;
            return Some(Ok(Ipv6Option::Pad1));
        }
        let Some(&len) = self.data.get(self.pos + 1) else {
            self.done = true;
            return Some(Err(Error::Malformed));
        };
        let start = self.pos + 2;
        let end = start + usize::from(len);
        let Some(data) = self.data.get(start..end) else {
            self.done = true;
            return Some(Err(Error::Malformed));
        };
        self.pos = end;
        Some(Ok(match option_type {
            1 => Ipv6Option::PadN(len),
            _ => Ipv6Option::Other { option_type, data },
        }))
    }
}

// -------------------------------------------------------------- chain walk

/// Where the upper layer starts after the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6ExtChain {
    /// The first protocol that is not an extension header walked here
    /// (TCP, UDP, ICMPv6, No Next Header, ESP, AH, or unknown), or the
    /// fragment's next header when the walk stopped at a non-first fragment.
    pub upper_protocol: IpProtocol,
    /// Offset of the upper layer within the IPv6 payload.
    pub upper_offset: usize,
    /// The last fragment header seen: its offset within the payload and its value.
    pub fragment: Option<(usize, Ipv6FragmentRepr)>,
    /// Offset from the start of the IPv6 header of the next-header field
    /// that names `upper_protocol` (the pointer of an RFC 8200 4
    /// "unrecognized Next Header" parameter problem).
    pub next_header_field: usize,
}

/// Why [`walk_ext_headers`] rejected a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtHeaderError {
    /// A header runs past the payload: drop silently, counted as malformed.
    Truncated,
    /// Discard silently: an unrecognized option said so (RFC 8200 4.2
    /// action `01`, or `11` to a multicast destination), or the chain is
    /// longer than [`MAX_EXT_HEADERS`].
    Discard,
    /// Discard and send an ICMPv6 Parameter Problem (RFC 4443 3.4).
    ParamProblem {
        /// 0: erroneous header field, 1: unrecognized next header, 2:
        /// unrecognized IPv6 option.
        code: u8,
        /// Offset of the offending octet from the start of the IPv6 header.
        pointer: u32,
    },
}

impl fmt::Display for ExtHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtHeaderError::Truncated => f.write_str("truncated IPv6 extension header"),
            ExtHeaderError::Discard => f.write_str("IPv6 extension header requires discard"),
            ExtHeaderError::ParamProblem { code, pointer } => write!(
                f,
                "IPv6 extension header parameter problem (code {code}, pointer {pointer})"
            ),
        }
    }
}

impl std::error::Error for ExtHeaderError {}

#[inline]
fn param_problem(code: u8, payload_offset: usize) -> ExtHeaderError {
    let pointer = u32::try_from(IPV6_HEADER_LEN + payload_offset).unwrap_or(u32::MAX);
    ExtHeaderError::ParamProblem { code, pointer }
}

/// Process the option TLVs of a hop-by-hop or destination options header
/// whose options area starts at `area_offset` within the IPv6 payload.
fn process_options(
    area: &[u8],
    area_offset: usize,
    dst_is_multicast: bool,
) -> core::result::Result<(), ExtHeaderError> {
    let mut iter = Ipv6OptionsIter::new(area);
    loop {
        let at = iter.offset();
        match iter.next() {
            None => return Ok(()),
            Some(Ok(Ipv6Option::Pad1 | Ipv6Option::PadN(_))) => {}
            Some(Ok(Ipv6Option::Other { option_type, .. })) => {
                // No options other than padding are implemented: every other
                // one is unrecognized (RFC 8200 4.2).
                match UnrecognizedOptionAction::from_option_type(option_type) {
                    UnrecognizedOptionAction::Skip => {}
                    UnrecognizedOptionAction::Discard => return Err(ExtHeaderError::Discard),
                    UnrecognizedOptionAction::DiscardSendParamProblem => {
                        return Err(param_problem(2, area_offset + at))
                    }
                    UnrecognizedOptionAction::DiscardSendParamProblemUnlessMulticast => {
                        if dst_is_multicast {
                            return Err(ExtHeaderError::Discard);
                        }
                        return Err(param_problem(2, area_offset + at));
                    }
                }
            }
            Some(Err(_)) => {
                // RFC 4443 3.4 code 0: point at the length that runs past
                // the header (or at the type if even the length is missing).
                let ptr = if at + 1 < area.len() { at + 1 } else { at };
                return Err(param_problem(0, area_offset + ptr));
            }
        }
    }
}

/// Walk the extension header chain of an IPv6 payload.
///
/// `first` is the IPv6 header's next header, `payload` the IPv6 payload
/// (`Ipv6Packet::payload`). This implements the processing of the node a
/// packet is addressed to (RFC 8200 4: headers other than hop-by-hop are
/// examined only there):
///
/// * hop-by-hop options only first (RFC 8200 4.1), else Parameter Problem
///   code 1 at the next header field that named it;
/// * options are checked against their header and unrecognized ones acted
///   on (RFC 8200 4.2);
/// * a routing header with segments left is answered with code 0 at the
///   routing type, since no routing type is implemented (RFC 8200 4.4);
/// * a fragment header with a non-zero offset ends the walk: the rest is
///   fragment data (RFC 8200 4.5);
/// * any other protocol (TCP, UDP, ICMPv6, No Next Header, ESP, AH,
///   unknown) ends the walk as the upper layer;
/// * more than [`MAX_EXT_HEADERS`] headers are discarded.
pub fn walk_ext_headers(
    first: IpProtocol,
    payload: &[u8],
    dst_is_multicast: bool,
) -> core::result::Result<Ipv6ExtChain, ExtHeaderError> {
    let mut next = first;
    let mut offset = 0usize;
    // Offset from the start of the IPv6 header of the next header field
    // naming `next` (RFC 8200 3: the fixed header's is octet 6).
    let mut next_field: usize = 6;
    let mut fragment = None;
    let mut count = 0usize;
    loop {
        let rest = payload.get(offset..).unwrap_or(&[]);
        match next {
            IpProtocol::HopByHop | IpProtocol::Ipv6Opts | IpProtocol::Ipv6Route => {
                // RFC 8200 4.1: hop-by-hop "is restricted to appear immediately
                // after an IPv6 header" -> code 1 at the field that named it.
                if next == IpProtocol::HopByHop && offset != 0 {
                    return Err(ExtHeaderError::ParamProblem {
                        code: 1,
                        pointer: u32::try_from(next_field).unwrap_or(u32::MAX),
                    });
                }
                count += 1;
                if count > MAX_EXT_HEADERS {
                    return Err(ExtHeaderError::Discard);
                }
                let header =
                    Ipv6OptionsHeader::new_checked(rest).map_err(|_| ExtHeaderError::Truncated)?;
                if next == IpProtocol::Ipv6Route {
                    // RFC 8200 4.4: Segments Left zero -> ignore the header;
                    // non-zero with an unrecognized type -> code 0 at the type.
                    if header.segments_left() != 0 {
                        return Err(param_problem(0, offset + field::ROUTING_TYPE));
                    }
                } else {
                    process_options(header.data(), offset + field::DATA.start, dst_is_multicast)?;
                }
                next_field = IPV6_HEADER_LEN + offset;
                next = header.next_header();
                offset += header.header_len();
            }
            IpProtocol::Ipv6Frag => {
                count += 1;
                if count > MAX_EXT_HEADERS {
                    return Err(ExtHeaderError::Discard);
                }
                let header =
                    Ipv6FragmentHeader::new_checked(rest).map_err(|_| ExtHeaderError::Truncated)?;
                let repr =
                    Ipv6FragmentRepr::parse(&header).map_err(|_| ExtHeaderError::Truncated)?;
                fragment = Some((offset, repr));
                next_field = IPV6_HEADER_LEN + offset;
                next = repr.next_header;
                offset += FRAGMENT_HEADER_LEN;
                // RFC 8200 4.5: after a non-first fragment's header comes
                // fragment data, not headers.
                if repr.frag_offset != 0 {
                    return Ok(Ipv6ExtChain {
                        upper_protocol: next,
                        upper_offset: offset,
                        fragment,
                        next_header_field: next_field,
                    });
                }
            }
            // RFC 8200 4.7 (No Next Header), upper layers, ESP/AH, unknown.
            upper => {
                return Ok(Ipv6ExtChain {
                    upper_protocol: upper,
                    upper_offset: offset,
                    fragment,
                    next_header_field: next_field,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The extension headers of an MLDv2 report: hop-by-hop with Router
    /// Alert (RFC 2711, value 0 = MLD) and a PadN(0).
    const HBH_RA: [u8; 8] = [0x3a, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00];

    /// A first fragment (offset 0, M=1, ident 0xdeadbeef) of a UDP datagram.
    const FIRST_FRAG: [u8; 16] = [
        0x11, 0x00, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, // fragment header
        0x30, 0x39, 0x00, 0x35, 0x05, 0xdc, 0x00, 0x00, // UDP header
    ];

    /// A last fragment at offset 1232 (M=0) of the same datagram.
    const LAST_FRAG: [u8; 12] = [
        0x11, 0x00, 0x04, 0xd0, 0xde, 0xad, 0xbe, 0xef, 0x61, 0x62, 0x63, 0x64,
    ];

    /// Hop-by-hop, destination options (PadN 4), routing (type 4, segments
    /// left 0), an atomic fragment, then TCP.
    const LONG_CHAIN: [u8; 44] = [
        0x3c, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, // HBH: PadN(4)
        0x2b, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, // DestOpts: PadN(4)
        0x2c, 0x02, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, // Routing: 24 octets, type 4, SL 0
        0x06, 0x00, 0x00, 0x00, // fragment header (continues)
    ];

    fn long_chain() -> Vec<u8> {
        let mut v = LONG_CHAIN.to_vec();
        v.extend_from_slice(&[0x00, 0x00, 0x00, 0x2a]); // rest of the fragment header
        v.extend_from_slice(&[0u8; 20]); // TCP header
        v
    }

    #[test]
    fn fragment_deconstruct_construct() {
        let h = Ipv6FragmentHeader::new_checked(&LAST_FRAG[..]).unwrap();
        assert_eq!(h.next_header(), IpProtocol::Udp);
        assert_eq!(h.frag_offset(), 1232);
        assert!(!h.more_frags());
        assert_eq!(h.ident(), 0xdeadbeef);
        let repr = Ipv6FragmentRepr::parse(&h).unwrap();
        let mut buf = [0u8; 8];
        repr.emit(&mut Ipv6FragmentHeader::new_unchecked(&mut buf[..]));
        assert_eq!(buf, LAST_FRAG[..8]);
        for len in 0..8 {
            assert_eq!(
                Ipv6FragmentHeader::new_checked(&LAST_FRAG[..len]),
                Err(Error::Truncated)
            );
        }
    }

    #[test]
    fn fragment_setters() {
        let mut buf = [0xffu8; 8];
        let mut h = Ipv6FragmentHeader::new_checked(&mut buf[..]).unwrap();
        h.clear_reserved();
        h.set_next_header(IpProtocol::Tcp);
        h.set_frag_offset(8 * 100);
        h.set_more_frags(false);
        h.set_ident(7);
        assert_eq!(buf, [0x06, 0x00, 0x03, 0x20, 0, 0, 0, 7]);
        let mut h = Ipv6FragmentHeader::new_checked(&mut buf[..]).unwrap();
        h.set_more_frags(true);
        assert_eq!(h.frag_offset(), 800);
        assert!(h.more_frags());
    }

    #[test]
    fn options_header_deconstruct() {
        let h = Ipv6OptionsHeader::new_checked(&HBH_RA[..]).unwrap();
        assert_eq!(h.next_header(), IpProtocol::Icmpv6);
        assert_eq!(h.header_len(), 8);
        assert_eq!(h.data(), &HBH_RA[2..]);
        let opts: Vec<_> = h.options().collect();
        assert_eq!(
            opts,
            vec![
                Ok(Ipv6Option::Other {
                    option_type: 5,
                    data: &[0, 0]
                }),
                Ok(Ipv6Option::PadN(0)),
            ]
        );
        for len in 0..8 {
            assert_eq!(
                Ipv6OptionsHeader::new_checked(&HBH_RA[..len]),
                Err(Error::Truncated)
            );
        }
    }

    #[test]
    fn options_header_setters() {
        let mut buf = [0u8; 16];
        let mut h = Ipv6OptionsHeader::new_unchecked(&mut buf[..]);
        h.set_next_header(IpProtocol::Udp);
        h.set_header_len(16);
        h.data_mut()[0] = 1;
        h.data_mut()[1] = 12;
        assert_eq!(h.header_len(), 16);
        h.set_routing_type(4);
        h.set_segments_left(3);
        assert_eq!((h.routing_type(), h.segments_left()), (4, 3));
        h.set_routing_type(1);
        h.set_segments_left(12);
        let h = Ipv6OptionsHeader::new_checked(&buf[..]).unwrap();
        assert_eq!(
            h.options().collect::<Vec<_>>(),
            vec![Ok(Ipv6Option::PadN(12))]
        );
        assert_eq!(buf[..2], [0x11, 0x01]);
        // A header length beyond the buffer never makes accessors panic.
        let mut buf = [0u8; 8];
        let mut h = Ipv6OptionsHeader::new_checked(&mut buf[..]).unwrap();
        h.set_header_len(2048);
        assert_eq!(h.data_mut().len(), 6);
        assert_eq!(h.check_len(), Err(Error::Truncated));
    }

    #[test]
    fn options_iter_pad1_and_overflow() {
        let data = [0x00, 0x00, 0x01, 0x01, 0x00, 0x00];
        let v: Vec<_> = Ipv6OptionsIter::new(&data).collect();
        assert_eq!(
            v,
            vec![
                Ok(Ipv6Option::Pad1),
                Ok(Ipv6Option::Pad1),
                Ok(Ipv6Option::PadN(1)),
                Ok(Ipv6Option::Pad1)
            ]
        );
        let data = [0x00, 0x01, 0x05, 0x00];
        let mut it = Ipv6OptionsIter::new(&data);
        assert_eq!(it.next(), Some(Ok(Ipv6Option::Pad1)));
        assert_eq!(it.next(), Some(Err(Error::Malformed)));
        assert_eq!(it.offset(), 1);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn walk_hbh_to_icmpv6() {
        let chain = walk_ext_headers(IpProtocol::HopByHop, &HBH_RA, false).unwrap();
        assert_eq!(chain.upper_protocol, IpProtocol::Icmpv6);
        assert_eq!(chain.upper_offset, 8);
        assert_eq!(chain.fragment, None);
    }

    #[test]
    fn walk_no_ext_headers() {
        for p in [
            IpProtocol::Tcp,
            IpProtocol::Udp,
            IpProtocol::Icmpv6,
            IpProtocol::Ipv6NoNxt,
            IpProtocol::Esp,
            IpProtocol::Ah,
            IpProtocol::Unknown(253),
        ] {
            let chain = walk_ext_headers(p, &[], false).unwrap();
            assert_eq!((chain.upper_protocol, chain.upper_offset), (p, 0));
        }
    }

    #[test]
    fn walk_fragments() {
        let chain = walk_ext_headers(IpProtocol::Ipv6Frag, &FIRST_FRAG, false).unwrap();
        assert_eq!(chain.upper_protocol, IpProtocol::Udp);
        assert_eq!(chain.upper_offset, 8);
        let (at, frag) = chain.fragment.unwrap();
        assert_eq!(at, 0);
        assert_eq!(
            frag,
            Ipv6FragmentRepr {
                next_header: IpProtocol::Udp,
                frag_offset: 0,
                more_frags: true,
                ident: 0xdeadbeef
            }
        );
        // A non-first fragment: the walk stops; the data is not parsed as headers.
        let mut last = LAST_FRAG;
        last[0] = 0x00; // even if it claims hop-by-hop follows
        let chain = walk_ext_headers(IpProtocol::Ipv6Frag, &last, false).unwrap();
        assert_eq!(chain.upper_protocol, IpProtocol::HopByHop);
        assert_eq!(chain.upper_offset, 8);
        assert_eq!(chain.fragment.unwrap().1.frag_offset, 1232);
    }

    #[test]
    fn walk_long_chain() {
        let bytes = long_chain();
        let chain = walk_ext_headers(IpProtocol::HopByHop, &bytes, false).unwrap();
        assert_eq!(chain.upper_protocol, IpProtocol::Tcp);
        assert_eq!(chain.upper_offset, 48);
        let (at, frag) = chain.fragment.unwrap();
        assert_eq!(at, 40);
        assert_eq!(
            (frag.frag_offset, frag.more_frags, frag.ident),
            (0, false, 42)
        );
        for len in 0..48 {
            assert_eq!(
                walk_ext_headers(IpProtocol::HopByHop, &bytes[..len], false),
                Err(ExtHeaderError::Truncated),
                "len {len}"
            );
        }
    }

    #[test]
    fn walk_hbh_not_first() {
        let mut bytes = long_chain();
        bytes[8] = 0x00; // destination options -> hop-by-hop
        assert_eq!(
            walk_ext_headers(IpProtocol::HopByHop, &bytes, false),
            Err(ExtHeaderError::ParamProblem {
                code: 1,
                pointer: 48
            })
        );
    }

    #[test]
    fn walk_routing_with_segments_left() {
        let mut bytes = long_chain();
        bytes[19] = 2; // segments left
        assert_eq!(
            walk_ext_headers(IpProtocol::HopByHop, &bytes, false),
            Err(ExtHeaderError::ParamProblem {
                code: 0,
                pointer: 40 + 16 + 2
            })
        );
    }

    #[test]
    fn walk_unrecognized_option_actions() {
        // Destination options: PadN(0), then option type T with 2 data octets.
        let hdr = |t: u8| [0x3b, 0x00, 0x01, 0x00, t, 0x02, 0x00, 0x00];
        let walk = |t: u8, mc: bool| walk_ext_headers(IpProtocol::Ipv6Opts, &hdr(t), mc);
        let ok = Ok(Ipv6ExtChain {
            upper_protocol: IpProtocol::Ipv6NoNxt,
            upper_offset: 8,
            fragment: None,
            next_header_field: 40,
        });
        let pp = Err(ExtHeaderError::ParamProblem {
            code: 2,
            pointer: 44,
        });
        assert_eq!(walk(0x1e, false), ok);
        assert_eq!(walk(0x1e, true), ok);
        assert_eq!(walk(0x5e, false), Err(ExtHeaderError::Discard));
        assert_eq!(walk(0x9e, false), pp);
        assert_eq!(walk(0x9e, true), pp);
        assert_eq!(walk(0xde, false), pp);
        assert_eq!(walk(0xde, true), Err(ExtHeaderError::Discard));
    }

    #[test]
    fn walk_option_overflowing_header() {
        // PadN claiming 7 octets in a 6-octet options area.
        let bytes = [0x3b, 0x00, 0x01, 0x07, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            walk_ext_headers(IpProtocol::HopByHop, &bytes, false),
            Err(ExtHeaderError::ParamProblem {
                code: 0,
                pointer: 43
            })
        );
        // A type octet with no room for its length: point at the type.
        let bytes = [0x3b, 0x00, 0x01, 0x02, 0, 0, 0x00, 0x05];
        assert_eq!(
            walk_ext_headers(IpProtocol::HopByHop, &bytes, false),
            Err(ExtHeaderError::ParamProblem {
                code: 0,
                pointer: 47
            })
        );
    }

    #[test]
    fn walk_is_bounded() {
        let mut bytes = Vec::new();
        for _ in 0..MAX_EXT_HEADERS {
            bytes.extend_from_slice(&[0x3c, 0x00, 0x01, 0x04, 0, 0, 0, 0]);
        }
        bytes[56] = 0x3b;
        let ok = walk_ext_headers(IpProtocol::Ipv6Opts, &bytes, false).unwrap();
        assert_eq!(ok.upper_protocol, IpProtocol::Ipv6NoNxt);
        assert_eq!(ok.upper_offset, 64);
        bytes[56] = 0x3c;
        bytes.extend_from_slice(&[0x3b, 0x00, 0x01, 0x04, 0, 0, 0, 0]);
        assert_eq!(
            walk_ext_headers(IpProtocol::Ipv6Opts, &bytes, false),
            Err(ExtHeaderError::Discard)
        );
    }

    /// One extension header for the generator: (kind: destination options,
    /// routing or fragment; 8-octet units beyond the first; M flag; ident).
    fn arb_header() -> impl Strategy<Value = (u8, u8, bool, u32)> {
        (0u8..3, 0u8..4, any::<bool>(), any::<u32>())
    }

    fn build_chain(
        hbh: Option<u8>,
        headers: &[(u8, u8, bool, u32)],
        upper: u8,
    ) -> (Vec<u8>, usize, Option<usize>) {
        let mut protos = Vec::new();
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        if let Some(units) = hbh {
            protos.push(0u8);
            let mut b = vec![0u8; (usize::from(units) + 1) * 8];
            b[1] = units;
            b[2] = 1;
            b[3] = (b.len() - 4) as u8;
            bodies.push(b);
        }
        let mut frag_at = None;
        for &(kind, units, more, ident) in headers {
            match kind {
                0 | 1 => {
                    protos.push(if kind == 0 { 60 } else { 43 });
                    let mut b = vec![0u8; (usize::from(units) + 1) * 8];
                    b[1] = units;
                    if kind == 0 {
                        // Pad1s, then one PadN over the rest.
                        b[2] = 0;
                        b[3] = 1;
                        b[4] = (b.len() - 5) as u8;
                    }
                    bodies.push(b);
                }
                _ => {
                    protos.push(44);
                    // Only atomic/first fragments continue the walk.
                    let repr = Ipv6FragmentRepr {
                        next_header: IpProtocol::Unknown(0),
                        frag_offset: 0,
                        more_frags: more,
                        ident,
                    };
                    let mut b = vec![0u8; 8];
                    repr.emit(&mut Ipv6FragmentHeader::new_unchecked(&mut b[..]));
                    bodies.push(b);
                }
            }
        }
        protos.push(upper);
        let mut out = Vec::new();
        for (i, mut b) in bodies.into_iter().enumerate() {
            b[0] = protos[i + 1];
            if protos[i] == 44 {
                frag_at = Some(out.len());
            }
            out.extend_from_slice(&b);
        }
        let upper_offset = out.len();
        out.extend_from_slice(&[0xaa; 8]);
        (out, upper_offset, frag_at)
    }

    proptest! {
        #[test]
        fn fragment_repr_round_trip(nh in any::<u8>(), off in 0u16..8192, more in any::<bool>(), ident in any::<u32>()) {
            let repr = Ipv6FragmentRepr { next_header: IpProtocol::from(nh), frag_offset: off * 8, more_frags: more, ident };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Ipv6FragmentHeader::new_unchecked(&mut buf[..]));
            let h = Ipv6FragmentHeader::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Ipv6FragmentRepr::parse(&h).unwrap(), repr);
        }

        #[test]
        fn walk_finds_generated_upper_layer(
            hbh in proptest::option::of(0u8..3),
            headers in proptest::collection::vec(arb_header(), 0..6),
            upper in prop_oneof![Just(6u8), Just(17), Just(58), Just(59), Just(50), Just(51)],
            mc in any::<bool>(),
        ) {
            let (bytes, upper_offset, frag_at) = build_chain(hbh, &headers, upper);
            let first = if hbh.is_some() { 0 } else if let Some(h) = headers.first() {
                [60, 43, 44][usize::from(h.0)]
            } else { upper };
            let chain = walk_ext_headers(IpProtocol::from(first), &bytes, mc).unwrap();
            prop_assert_eq!(chain.upper_protocol, IpProtocol::from(upper));
            prop_assert_eq!(chain.upper_offset, upper_offset);
            prop_assert_eq!(chain.fragment.map(|f| f.0), frag_at);
        }

        #[test]
        fn walk_never_panics(first in any::<u8>(), bytes in proptest::collection::vec(any::<u8>(), 0..200), mc in any::<bool>()) {
            match walk_ext_headers(IpProtocol::from(first), &bytes, mc) {
                Ok(chain) => {
                    prop_assert!(chain.upper_offset <= bytes.len());
                    if let Some((at, _)) = chain.fragment {
                        prop_assert!(at + FRAGMENT_HEADER_LEN <= chain.upper_offset);
                    }
                }
                Err(ExtHeaderError::ParamProblem { pointer, .. }) => {
                    prop_assert!((pointer as usize) < IPV6_HEADER_LEN + bytes.len());
                }
                Err(_) => {}
            }
            if let Ok(h) = Ipv6OptionsHeader::new_checked(&bytes[..]) {
                for o in h.options() { let _ = o; }
                let _ = (h.routing_type(), h.segments_left(), h.data());
            }
            if let Ok(h) = Ipv6FragmentHeader::new_checked(&bytes[..]) {
                let _ = Ipv6FragmentRepr::parse(&h);
            }
        }
    }
}
