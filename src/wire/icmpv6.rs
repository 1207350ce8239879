//! ICMP for IPv6 (RFC 4443).
//!
//! * RFC 4443 2.1: message layout; 2.3: the checksum covers the IPv6
//!   pseudo-header (RFC 8200 8.1) and the whole message.
//! * RFC 4443 3.1-3.4: Destination Unreachable, Packet Too Big, Time
//!   Exceeded, Parameter Problem; 4.1-4.2: Echo Request and Reply.
//! * Neighbor Discovery (RFC 4861) messages are ICMPv6 types 133-137; their
//!   bodies and options live in [`crate::wire::ndp`] and appear here as
//!   [`Icmpv6Repr::Ndisc`].
//!
//! Error messages carry "as much of invoking packet as possible without the
//! ICMPv6 packet exceeding the minimum IPv6 MTU" (RFC 4443 2.4 (c)); the Repr
//! keeps that quote as raw bytes (`invoking`), sized by the sender. MLD
//! messages (types 130-132, 143) are recognised by the view but parse as
//! [`Error::Unrecognized`].

use crate::wire::checksum;
use crate::wire::ndp::{self, NdiscRepr};
use crate::wire::{Error, IpProtocol, Result};
use std::net::Ipv6Addr;

enum_with_unknown! {
    /// ICMPv6 message types (IANA "ICMPv6 Parameters").
    pub enum Icmpv6Message(u8) {
        /// Destination Unreachable (RFC 4443 3.1).
        DstUnreachable = 1,
        /// Packet Too Big (RFC 4443 3.2).
        PktTooBig = 2,
        /// Time Exceeded (RFC 4443 3.3).
        TimeExceeded = 3,
        /// Parameter Problem (RFC 4443 3.4).
        ParamProblem = 4,
        /// Echo Request (RFC 4443 4.1).
        EchoRequest = 128,
        /// Echo Reply (RFC 4443 4.2).
        EchoReply = 129,
        /// Multicast Listener Query (RFC 2710).
        MldQuery = 130,
        /// Multicast Listener Report (RFC 2710).
        MldReport = 131,
        /// Multicast Listener Done (RFC 2710).
        MldDone = 132,
        /// Router Solicitation (RFC 4861 4.1).
        RouterSolicit = 133,
        /// Router Advertisement (RFC 4861 4.2).
        RouterAdvert = 134,
        /// Neighbor Solicitation (RFC 4861 4.3).
        NeighborSolicit = 135,
        /// Neighbor Advertisement (RFC 4861 4.4).
        NeighborAdvert = 136,
        /// Redirect (RFC 4861 4.5).
        Redirect = 137,
        /// Version 2 Multicast Listener Report (RFC 9777).
        MldV2Report = 143,
    }
}

impl Icmpv6Message {
    /// Whether this is an error message (RFC 4443 2.1: types 0-127).
    #[inline]
    pub fn is_error(self) -> bool {
        u8::from(self) < 128
    }
}

enum_with_unknown! {
    /// Codes of Destination Unreachable (RFC 4443 3.1).
    pub enum Icmpv6DstUnreachable(u8) {
        /// No route to destination.
        NoRoute = 0,
        /// Communication administratively prohibited.
        AdminProhibit = 1,
        /// Beyond scope of source address.
        BeyondScope = 2,
        /// Address unreachable.
        AddrUnreachable = 3,
        /// Port unreachable.
        PortUnreachable = 4,
        /// Source address failed ingress/egress policy.
        FailedPolicy = 5,
        /// Reject route to destination.
        RejectRoute = 6,
    }
}

enum_with_unknown! {
    /// Codes of Time Exceeded (RFC 4443 3.3).
    pub enum Icmpv6TimeExceeded(u8) {
        /// Hop limit exceeded in transit.
        HopLimitExceeded = 0,
        /// Fragment reassembly time exceeded.
        FragReassemExceeded = 1,
    }
}

enum_with_unknown! {
    /// Codes of Parameter Problem (RFC 4443 3.4).
    pub enum Icmpv6ParamProblem(u8) {
        /// Erroneous header field encountered.
        ErroneousHdrField = 0,
        /// Unrecognized Next Header type encountered.
        UnrecognizedNxtHdr = 1,
        /// Unrecognized IPv6 option encountered.
        UnrecognizedOption = 2,
    }
}

mod field {
    use crate::wire::field::{Field, Rest};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;

    /// Unused word of Destination Unreachable / Time Exceeded.
    pub const UNUSED: Field = 4..8;
    /// MTU of Packet Too Big (RFC 4443 3.2).
    pub const MTU: Field = 4..8;
    /// Pointer of Parameter Problem (RFC 4443 3.4).
    pub const POINTER: Field = 4..8;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;

    pub const PAYLOAD: Rest = 8..;
}

/// Length of the ICMPv6 header: type, code, checksum and the 4-octet
/// type-specific word (RFC 4443 2.1).
pub const HEADER_LEN: usize = 8;

/// Fixed MLDv1 message length (RFC 2710 3).
const MLD_LEN: usize = 24;

/// A read/write view of an ICMPv6 message.
///
/// The buffer must be exactly the message (the IPv6 payload after any
/// extension headers): the checksum and the payload extend to its end.
/// Neighbor Discovery accessors are in [`crate::wire::ndp`].
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    pub(super) buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wrap a buffer without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Icmpv6Packet<T> {
        Icmpv6Packet { buffer }
    }

    /// Wrap a buffer and validate it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Icmpv6Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// [`Error::Truncated`] if the buffer is shorter than [`HEADER_LEN`] or
    /// than the fixed part of its message type ([`header_len`](Self::header_len):
    /// 16 octets for a Router Advertisement, 24 for NS / NA / MLDv1, 40 for
    /// a Redirect).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < self.header_len() {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Return the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn read_u16(&self, range: core::ops::Range<usize>) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[range.start], data[range.start + 1]])
    }

    #[inline]
    fn read_u32(&self, range: core::ops::Range<usize>) -> u32 {
        let d = &self.buffer.as_ref()[range];
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }

    /// The message type.
    #[inline]
    pub fn msg_type(&self) -> Icmpv6Message {
        Icmpv6Message::from(self.buffer.as_ref()[field::TYPE])
    }

    /// The message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// Length of the fixed part of this message type: the 8-octet header,
    /// or the longer body of an NDP or MLDv1 message.
    #[inline]
    pub fn header_len(&self) -> usize {
        let msg_type = self.msg_type();
        match msg_type {
            Icmpv6Message::MldQuery | Icmpv6Message::MldReport | Icmpv6Message::MldDone => MLD_LEN,
            _ => ndp::options_offset(msg_type).unwrap_or(HEADER_LEN),
        }
    }

    /// The identifier of an Echo Request / Reply.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        self.read_u16(field::ECHO_IDENT)
    }

    /// The sequence number of an Echo Request / Reply.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        self.read_u16(field::ECHO_SEQNO)
    }

    /// The MTU of a Packet Too Big (RFC 4443 3.2).
    #[inline]
    pub fn pkt_too_big_mtu(&self) -> u32 {
        self.read_u32(field::MTU)
    }

    /// The pointer of a Parameter Problem (RFC 4443 3.4).
    #[inline]
    pub fn param_problem_ptr(&self) -> u32 {
        self.read_u32(field::POINTER)
    }

    /// Verify the checksum over the IPv6 pseudo-header of `src`, `dst` and
    /// the whole message (RFC 4443 2.3).
    #[inline]
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let data = self.buffer.as_ref();
        checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, data.len() as u32),
            checksum::data(data),
        ]) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Icmpv6Packet<&'a T> {
    /// Everything after the 8-octet header: echo data, the invoking packet of
    /// an error, or an NDP body.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.as_ref().get(field::PAYLOAD).unwrap_or(&[])
    }

    /// The same as [`payload`](Self::payload) (named like
    /// `Icmpv4Packet::data`).
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.payload()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    #[inline]
    fn write(&mut self, range: core::ops::Range<usize>, bytes: &[u8]) {
        self.buffer.as_mut()[range].copy_from_slice(bytes);
    }

    /// Set the message type.
    #[inline]
    pub fn set_msg_type(&mut self, value: Icmpv6Message) {
        self.buffer.as_mut()[field::TYPE] = value.into();
    }

    /// Set the message code.
    #[inline]
    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.write(field::CHECKSUM, &value.to_be_bytes())
    }

    /// Set the Echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        self.write(field::ECHO_IDENT, &value.to_be_bytes())
    }

    /// Set the Echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        self.write(field::ECHO_SEQNO, &value.to_be_bytes())
    }

    /// Set the Packet Too Big MTU.
    #[inline]
    pub fn set_pkt_too_big_mtu(&mut self, value: u32) {
        self.write(field::MTU, &value.to_be_bytes())
    }

    /// Set the Parameter Problem pointer.
    #[inline]
    pub fn set_param_problem_ptr(&mut self, value: u32) {
        self.write(field::POINTER, &value.to_be_bytes())
    }

    /// Zero the unused word of Destination Unreachable / Time Exceeded.
    #[inline]
    pub fn clear_unused(&mut self) {
        self.buffer.as_mut()[field::UNUSED].fill(0);
    }

    /// Everything after the 8-octet header, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(field::PAYLOAD)
            .unwrap_or(&mut [])
    }

    /// Compute and store the checksum over the pseudo-header of `src`, `dst`
    /// and the whole message (RFC 4443 2.3).
    #[inline]
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let sum = checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, data.len() as u32),
            checksum::data(data),
        ]);
        self.set_checksum(!sum);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Icmpv6Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The meaning of an ICMPv6 message the stack handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Repr<'a> {
    /// Destination Unreachable (RFC 4443 3.1).
    DstUnreachable {
        /// The code.
        reason: Icmpv6DstUnreachable,
        /// The quoted invoking packet: IPv6 header and leading payload.
        invoking: &'a [u8],
    },
    /// Packet Too Big (RFC 4443 3.2).
    PktTooBig {
        /// The MTU of the next-hop link.
        mtu: u32,
        /// The quoted invoking packet.
        invoking: &'a [u8],
    },
    /// Time Exceeded (RFC 4443 3.3).
    TimeExceeded {
        /// The code.
        reason: Icmpv6TimeExceeded,
        /// The quoted invoking packet.
        invoking: &'a [u8],
    },
    /// Parameter Problem (RFC 4443 3.4).
    ParamProblem {
        /// The code.
        reason: Icmpv6ParamProblem,
        /// Offset of the offending octet in the invoking packet.
        pointer: u32,
        /// The quoted invoking packet.
        invoking: &'a [u8],
    },
    /// Echo Request (RFC 4443 4.1).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data, echoed back unchanged.
        data: &'a [u8],
    },
    /// Echo Reply (RFC 4443 4.2).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data of the Echo Request being answered.
        data: &'a [u8],
    },
    /// A Neighbor Discovery message (RFC 4861).
    Ndisc(NdiscRepr<'a>),
}

impl<'a> Icmpv6Repr<'a> {
    /// Parse an ICMPv6 message sent from `src` to `dst`, verifying its
    /// checksum.
    ///
    /// [`Error::Truncated`] if shorter than its type needs;
    /// [`Error::Checksum`]; [`Error::Malformed`] for an Echo with a nonzero
    /// code (RFC 4443 4.1, 4.2: code 0) or a structurally bad NDP message
    /// (see [`NdiscRepr::parse`]); [`Error::Unrecognized`] for MLD and other
    /// types. Unknown codes of error messages are kept (`Unknown(n)`); the
    /// code of Packet Too Big is ignored (RFC 4443 3.2: "ignored by the
    /// receiver").
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &Icmpv6Packet<&'a T>,
    ) -> Result<Icmpv6Repr<'a>> {
        packet.check_len()?;
        // RFC 4443 2.3 / RFC 8200 8.1: the checksum is mandatory.
        if !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let code = packet.msg_code();
        match packet.msg_type() {
            Icmpv6Message::DstUnreachable => Ok(Icmpv6Repr::DstUnreachable {
                reason: Icmpv6DstUnreachable::from(code),
                invoking: packet.payload(),
            }),
            Icmpv6Message::PktTooBig => Ok(Icmpv6Repr::PktTooBig {
                mtu: packet.pkt_too_big_mtu(),
                invoking: packet.payload(),
            }),
            Icmpv6Message::TimeExceeded => Ok(Icmpv6Repr::TimeExceeded {
                reason: Icmpv6TimeExceeded::from(code),
                invoking: packet.payload(),
            }),
            Icmpv6Message::ParamProblem => Ok(Icmpv6Repr::ParamProblem {
                reason: Icmpv6ParamProblem::from(code),
                pointer: packet.param_problem_ptr(),
                invoking: packet.payload(),
            }),
            Icmpv6Message::EchoRequest | Icmpv6Message::EchoReply if code != 0 => {
                Err(Error::Malformed)
            }
            Icmpv6Message::EchoRequest => Ok(Icmpv6Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data: packet.payload(),
            }),
            Icmpv6Message::EchoReply => Ok(Icmpv6Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data: packet.payload(),
            }),
            Icmpv6Message::RouterSolicit
            | Icmpv6Message::RouterAdvert
            | Icmpv6Message::NeighborSolicit
            | Icmpv6Message::NeighborAdvert
            | Icmpv6Message::Redirect => NdiscRepr::parse(packet).map(Icmpv6Repr::Ndisc),
            _ => Err(Error::Unrecognized),
        }
    }

    /// Length of the message [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv6Repr::DstUnreachable { invoking, .. }
            | Icmpv6Repr::PktTooBig { invoking, .. }
            | Icmpv6Repr::TimeExceeded { invoking, .. }
            | Icmpv6Repr::ParamProblem { invoking, .. } => HEADER_LEN + invoking.len(),
            Icmpv6Repr::EchoRequest { data, .. } | Icmpv6Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            Icmpv6Repr::Ndisc(ndisc) => ndisc.buffer_len(),
        }
    }

    /// Whether this is an error message (RFC 4443 2.4 (e): never answered
    /// with another error).
    #[inline]
    pub const fn is_error(&self) -> bool {
        matches!(
            self,
            Icmpv6Repr::DstUnreachable { .. }
                | Icmpv6Repr::PktTooBig { .. }
                | Icmpv6Repr::TimeExceeded { .. }
                | Icmpv6Repr::ParamProblem { .. }
        )
    }

    /// Write the message and its checksum (for the pseudo-header of `src`,
    /// `dst`) into `packet`.
    ///
    /// Does not panic if the buffer is at least [`buffer_len`](Self::buffer_len)
    /// octets; the checksum covers the first `buffer_len()` octets, so the IP
    /// layer must send exactly those.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &mut Icmpv6Packet<T>,
    ) {
        let mut payload: &[u8] = &[];
        match *self {
            Icmpv6Repr::DstUnreachable { reason, invoking } => {
                packet.set_msg_type(Icmpv6Message::DstUnreachable);
                packet.set_msg_code(reason.into());
                packet.clear_unused();
                payload = invoking;
            }
            Icmpv6Repr::PktTooBig { mtu, invoking } => {
                packet.set_msg_type(Icmpv6Message::PktTooBig);
                packet.set_msg_code(0);
                packet.set_pkt_too_big_mtu(mtu);
                payload = invoking;
            }
            Icmpv6Repr::TimeExceeded { reason, invoking } => {
                packet.set_msg_type(Icmpv6Message::TimeExceeded);
                packet.set_msg_code(reason.into());
                packet.clear_unused();
                payload = invoking;
            }
            Icmpv6Repr::ParamProblem {
                reason,
                pointer,
                invoking,
            } => {
                packet.set_msg_type(Icmpv6Message::ParamProblem);
                packet.set_msg_code(reason.into());
                packet.set_param_problem_ptr(pointer);
                payload = invoking;
            }
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                packet.set_msg_type(Icmpv6Message::EchoRequest);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                payload = data;
            }
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                packet.set_msg_type(Icmpv6Message::EchoReply);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                payload = data;
            }
            Icmpv6Repr::Ndisc(ndisc) => ndisc.emit(packet),
        }
        let total = self.buffer_len();
        packet.set_checksum(0);
        let buf = packet.buffer.as_mut();
        if !matches!(self, Icmpv6Repr::Ndisc(_)) {
            buf[HEADER_LEN..total].copy_from_slice(payload);
        }
        // RFC 4443 2.3: pseudo-header with the upper-layer length.
        let sum = checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, total as u32),
            checksum::data(&buf[..total]),
        ]);
        packet.set_checksum(!sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// Echo Request 2001:2::1 -> 2001:2::2 (id 0x4321, seq 7, "abcdefgh"),
    /// sent by a Linux raw socket over a veth pair.
    const ECHO_REQUEST: [u8; 16] = [
        0x80, 0x00, 0x6a, 0xee, 0x43, 0x21, 0x00, 0x07, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
        0x68,
    ];
    /// The Linux kernel's Echo Reply 2001:2::2 -> 2001:2::1.
    const ECHO_REPLY: [u8; 16] = [
        0x81, 0x00, 0x69, 0xee, 0x43, 0x21, 0x00, 0x07, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
        0x68,
    ];
    /// Port Unreachable ::1 -> ::1 from the Linux kernel, quoting a UDP
    /// datagram "xdpnet udp6" to port 9999 (checksum offloaded in the quote).
    const PORT_UNREACH: [u8; 67] = [
        0x01, 0x04, 0x63, 0x8a, 0x00, 0x00, 0x00, 0x00, 0x60, 0x08, 0x4b, 0xc1, 0x00, 0x13, 0x11,
        0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x01, 0xad, 0x5e, 0x27, 0x0f, 0x00, 0x13, 0x00, 0x26, 0x78, 0x64, 0x70, 0x6e,
        0x65, 0x74, 0x20, 0x75, 0x64, 0x70, 0x36,
    ];

    #[test]
    fn deconstruct_echo() {
        let (src, dst) = (a("2001:2::1"), a("2001:2::2"));
        let p = Icmpv6Packet::new_checked(&ECHO_REQUEST[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv6Message::EchoRequest);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0x6aee);
        assert_eq!(p.echo_ident(), 0x4321);
        assert_eq!(p.echo_seq_no(), 7);
        assert_eq!(p.payload(), b"abcdefgh");
        assert!(p.verify_checksum(&src, &dst));
        assert!(!p.verify_checksum(&dst, &a("2001:2::3")));
        assert_eq!(
            Icmpv6Repr::parse(&src, &dst, &p),
            Ok(Icmpv6Repr::EchoRequest {
                ident: 0x4321,
                seq_no: 7,
                data: b"abcdefgh"
            })
        );
        // Swapped addresses sum alike; a different address does not.
        assert_eq!(
            Icmpv6Repr::parse(&a("2001:2::9"), &dst, &p),
            Err(Error::Checksum)
        );
    }

    #[test]
    fn construct_echo_reply() {
        let repr = Icmpv6Repr::EchoReply {
            ident: 0x4321,
            seq_no: 7,
            data: b"abcdefgh",
        };
        let mut buf = [0x55u8; 16];
        repr.emit(
            &a("2001:2::2"),
            &a("2001:2::1"),
            &mut Icmpv6Packet::new_unchecked(&mut buf[..]),
        );
        assert_eq!(buf, ECHO_REPLY);
        assert!(!repr.is_error());
    }

    #[test]
    fn port_unreachable_both_ways() {
        let lo = Ipv6Addr::LOCALHOST;
        let p = Icmpv6Packet::new_checked(&PORT_UNREACH[..]).unwrap();
        let repr = Icmpv6Repr::parse(&lo, &lo, &p).unwrap();
        assert_eq!(
            repr,
            Icmpv6Repr::DstUnreachable {
                reason: Icmpv6DstUnreachable::PortUnreachable,
                invoking: &PORT_UNREACH[8..],
            }
        );
        assert!(repr.is_error());
        assert!(Icmpv6Message::DstUnreachable.is_error());
        assert!(!Icmpv6Message::NeighborSolicit.is_error());
        let mut buf = [0u8; 67];
        repr.emit(&lo, &lo, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, PORT_UNREACH);
    }

    #[test]
    fn pkt_too_big_and_param_problem() {
        let (src, dst) = (a("2001:2::1"), a("2001:2::2"));
        let repr = Icmpv6Repr::PktTooBig {
            mtu: 1280,
            invoking: &PORT_UNREACH[8..],
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[4..8], &[0, 0, 5, 0]);
        let mut p = Icmpv6Packet::new_checked(&mut buf[..]).unwrap();
        assert_eq!(p.pkt_too_big_mtu(), 1280);
        // The code of Packet Too Big is ignored by the receiver.
        p.set_msg_code(9);
        p.fill_checksum(&src, &dst);
        let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Icmpv6Repr::parse(&src, &dst, &p), Ok(repr));

        let repr = Icmpv6Repr::ParamProblem {
            reason: Icmpv6ParamProblem::UnrecognizedNxtHdr,
            pointer: 6,
            invoking: &PORT_UNREACH[8..48],
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..2], &[4, 1]);
        assert_eq!(&buf[4..8], &[0, 0, 0, 6]);
        let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.param_problem_ptr(), 6);
        assert_eq!(Icmpv6Repr::parse(&src, &dst, &p), Ok(repr));
    }

    #[test]
    fn errors() {
        let (src, dst) = (a("2001:2::1"), a("2001:2::2"));
        for n in 0..HEADER_LEN {
            assert_eq!(
                Icmpv6Packet::new_checked(&ECHO_REQUEST[..n]).err(),
                Some(Error::Truncated)
            );
        }
        for n in HEADER_LEN..ECHO_REQUEST.len() {
            let p = Icmpv6Packet::new_checked(&ECHO_REQUEST[..n]).unwrap();
            assert_eq!(Icmpv6Repr::parse(&src, &dst, &p), Err(Error::Checksum));
        }
        // NS needs 24 octets.
        let mut ns = [0u8; 23];
        ns[0] = 135;
        assert_eq!(
            Icmpv6Packet::new_checked(&ns[..]).err(),
            Some(Error::Truncated)
        );
        // Echo with a nonzero code.
        let mut buf = ECHO_REQUEST;
        let mut p = Icmpv6Packet::new_unchecked(&mut buf[..]);
        p.set_msg_code(3);
        p.fill_checksum(&src, &dst);
        let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Icmpv6Repr::parse(&src, &dst, &p), Err(Error::Malformed));
        // MLDv2 report: recognised type, not handled.
        let mut buf = [0u8; 8];
        let mut p = Icmpv6Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(Icmpv6Message::MldV2Report);
        p.fill_checksum(&src, &dst);
        let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Icmpv6Repr::parse(&src, &dst, &p), Err(Error::Unrecognized));
    }

    fn leak(v: Vec<u8>) -> &'static [u8] {
        Box::leak(v.into_boxed_slice())
    }

    fn repr_strategy() -> impl Strategy<Value = Icmpv6Repr<'static>> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..64).prop_map(leak);
        prop_oneof![
            (any::<u8>(), bytes()).prop_map(|(c, invoking)| Icmpv6Repr::DstUnreachable {
                reason: c.into(),
                invoking
            }),
            (any::<u32>(), bytes())
                .prop_map(|(mtu, invoking)| Icmpv6Repr::PktTooBig { mtu, invoking }),
            (any::<u8>(), bytes()).prop_map(|(c, invoking)| Icmpv6Repr::TimeExceeded {
                reason: c.into(),
                invoking
            }),
            (any::<u8>(), any::<u32>(), bytes()).prop_map(|(c, pointer, invoking)| {
                Icmpv6Repr::ParamProblem {
                    reason: c.into(),
                    pointer,
                    invoking,
                }
            }),
            (any::<u16>(), any::<u16>(), bytes()).prop_map(|(ident, seq_no, data)| {
                Icmpv6Repr::EchoRequest {
                    ident,
                    seq_no,
                    data,
                }
            }),
            (any::<u16>(), any::<u16>(), bytes()).prop_map(|(ident, seq_no, data)| {
                Icmpv6Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn roundtrip(repr in repr_strategy(), src in any::<[u8; 16]>(), dst in any::<[u8; 16]>()) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
            let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
            prop_assert!(p.verify_checksum(&src, &dst));
            prop_assert_eq!(Icmpv6Repr::parse(&src, &dst, &p), Ok(repr));
        }

        #[test]
        fn any_bytes_no_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96),
                              src in any::<[u8; 16]>(), dst in any::<[u8; 16]>()) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            if let Ok(p) = Icmpv6Packet::new_checked(&bytes[..]) {
                let _ = Icmpv6Repr::parse(&src, &dst, &p);
                // Checksum aside, the NDP parser must not panic either.
                let _ = NdiscRepr::parse(&p);
                let _ = (p.payload(), p.pkt_too_big_mtu(), p.param_problem_ptr(),
                         p.target_addr(), p.dest_addr(), p.ndisc_options());
            }
        }
    }
}
