//! ICMP for IPv4 (RFC 792, RFC 1191, RFC 1812 4.3).
//!
//! * RFC 792: message layout, the checksum over the whole ICMP message (no
//!   pseudo-header), Echo / Echo Reply, Destination Unreachable, Time
//!   Exceeded and Parameter Problem.
//! * RFC 1191 4: the Next-Hop MTU in octets 6..8 of "fragmentation needed".
//! * RFC 1812 4.3.2.3: errors quote as much of the invoking datagram as fits
//!   in 576 octets; [`Icmpv4Repr`] keeps the quote as raw bytes (`invoking`)
//!   and leaves sizing it to the sender.
//!
//! [`Icmpv4Packet`] is the view; [`Icmpv4Repr`] covers echo and the three
//! error messages the stack sends and handles. Other types parse as
//! [`Error::Unrecognized`]; their fields stay readable through the view.

use crate::wire::checksum;
use crate::wire::{Error, Result};

enum_with_unknown! {
    /// ICMPv4 message types (IANA "ICMP Type Numbers").
    pub enum Icmpv4Message(u8) {
        /// Echo Reply (RFC 792).
        EchoReply = 0,
        /// Destination Unreachable (RFC 792).
        DstUnreachable = 3,
        /// Redirect (RFC 792).
        Redirect = 5,
        /// Echo (RFC 792).
        EchoRequest = 8,
        /// Router Advertisement (RFC 1256).
        RouterAdvert = 9,
        /// Router Solicitation (RFC 1256).
        RouterSolicit = 10,
        /// Time Exceeded (RFC 792).
        TimeExceeded = 11,
        /// Parameter Problem (RFC 792).
        ParamProblem = 12,
        /// Timestamp (RFC 792).
        Timestamp = 13,
        /// Timestamp Reply (RFC 792).
        TimestampReply = 14,
    }
}

enum_with_unknown! {
    /// Codes of Destination Unreachable (RFC 792, RFC 1122 3.2.2.1,
    /// RFC 1812 5.2.7.1).
    pub enum Icmpv4DstUnreachable(u8) {
        /// Net unreachable.
        NetUnreachable = 0,
        /// Host unreachable.
        HostUnreachable = 1,
        /// Protocol unreachable.
        ProtoUnreachable = 2,
        /// Port unreachable.
        PortUnreachable = 3,
        /// Fragmentation needed and DF set (RFC 1191 carries the MTU).
        FragRequired = 4,
        /// Source route failed.
        SrcRouteFailed = 5,
        /// Destination network unknown.
        DstNetUnknown = 6,
        /// Destination host unknown.
        DstHostUnknown = 7,
        /// Source host isolated.
        SrcHostIsolated = 8,
        /// Network administratively prohibited.
        NetProhibited = 9,
        /// Host administratively prohibited.
        HostProhibited = 10,
        /// Network unreachable for type of service.
        NetUnreachToS = 11,
        /// Host unreachable for type of service.
        HostUnreachToS = 12,
        /// Communication administratively prohibited (RFC 1812).
        CommProhibited = 13,
        /// Host precedence violation (RFC 1812).
        HostPrecedViol = 14,
        /// Precedence cutoff in effect (RFC 1812).
        PrecedCutoff = 15,
    }
}

enum_with_unknown! {
    /// Codes of Time Exceeded (RFC 792).
    pub enum Icmpv4TimeExceeded(u8) {
        /// TTL expired in transit.
        TtlExpired = 0,
        /// Fragment reassembly time exceeded.
        FragExpired = 1,
    }
}

enum_with_unknown! {
    /// Codes of Parameter Problem (RFC 792, RFC 1122 3.2.2.5).
    pub enum Icmpv4ParamProblem(u8) {
        /// The pointer indicates the error.
        AtPointer = 0,
        /// A required option is missing.
        MissingOption = 1,
        /// Bad length.
        BadLength = 2,
    }
}

mod field {
    use crate::wire::field::{Field, Rest};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;

    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;

    /// Unused word of the error messages (RFC 792), zero on emit.
    pub const UNUSED: Field = 4..8;
    /// Parameter Problem pointer (RFC 792).
    pub const POINTER: usize = 4;
    /// Next-Hop MTU of "fragmentation needed" (RFC 1191 4).
    pub const MTU: Field = 6..8;

    pub const DATA: Rest = 8..;
}

/// Length of the ICMPv4 header: type, code, checksum and the 4-octet
/// type-specific word (RFC 792).
pub const HEADER_LEN: usize = 8;

/// A read/write view of an ICMPv4 message.
///
/// The buffer must be exactly the message (the IP payload): the checksum and
/// the data extend to its end.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wrap a buffer without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Icmpv4Packet<T> {
        Icmpv4Packet { buffer }
    }

    /// Wrap a buffer and validate it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Icmpv4Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// [`Error::Truncated`] if the buffer is shorter than [`HEADER_LEN`].
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
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

    /// The message type.
    #[inline]
    pub fn msg_type(&self) -> Icmpv4Message {
        Icmpv4Message::from(self.buffer.as_ref()[field::TYPE])
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

    /// The identifier of an Echo / Echo Reply.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        self.read_u16(field::ECHO_IDENT)
    }

    /// The sequence number of an Echo / Echo Reply.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        self.read_u16(field::ECHO_SEQNO)
    }

    /// The Next-Hop MTU of Destination Unreachable / fragmentation needed
    /// (RFC 1191 4); zero from routers predating RFC 1191.
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        self.read_u16(field::MTU)
    }

    /// The octet pointer of Parameter Problem (RFC 792).
    #[inline]
    pub fn pointer(&self) -> u8 {
        self.buffer.as_ref()[field::POINTER]
    }

    /// The header length: always [`HEADER_LEN`].
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Verify the checksum over the whole message (RFC 792).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Icmpv4Packet<&'a T> {
    /// The data after the 8-octet header: echo data, or the invoking
    /// datagram quoted by an error.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.buffer.as_ref().get(field::DATA).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    #[inline]
    fn write_u16(&mut self, range: core::ops::Range<usize>, value: u16) {
        self.buffer.as_mut()[range].copy_from_slice(&value.to_be_bytes());
    }

    /// Set the message type.
    #[inline]
    pub fn set_msg_type(&mut self, value: Icmpv4Message) {
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
        self.write_u16(field::CHECKSUM, value)
    }

    /// Set the Echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        self.write_u16(field::ECHO_IDENT, value)
    }

    /// Set the Echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        self.write_u16(field::ECHO_SEQNO, value)
    }

    /// Set the Next-Hop MTU (RFC 1191 4).
    #[inline]
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        self.write_u16(field::MTU, value)
    }

    /// Set the Parameter Problem pointer.
    #[inline]
    pub fn set_pointer(&mut self, value: u8) {
        self.buffer.as_mut()[field::POINTER] = value;
    }

    /// Zero the type-specific word (octets 4..8).
    #[inline]
    pub fn clear_rest_of_header(&mut self) {
        self.buffer.as_mut()[field::UNUSED].fill(0);
    }

    /// The data after the header, mutably.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut().get_mut(field::DATA).unwrap_or(&mut [])
    }

    /// Compute and store the checksum over the whole message (RFC 792).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = !checksum::data(self.buffer.as_ref());
        self.set_checksum(sum);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Icmpv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The meaning of an ICMPv4 message the stack handles.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Icmpv4Repr<'a> {
    /// Echo (RFC 792).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data, echoed back unchanged.
        data: &'a [u8],
    },
    /// Echo Reply (RFC 792).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data of the Echo being answered.
        data: &'a [u8],
    },
    /// Destination Unreachable (RFC 792, RFC 1191).
    DstUnreachable {
        /// The code.
        reason: Icmpv4DstUnreachable,
        /// Next-Hop MTU (RFC 1191 4), meaningful with `FragRequired`, else 0.
        next_hop_mtu: u16,
        /// The quoted invoking datagram: IP header and leading payload.
        invoking: &'a [u8],
    },
    /// Time Exceeded (RFC 792).
    TimeExceeded {
        /// The code.
        reason: Icmpv4TimeExceeded,
        /// The quoted invoking datagram.
        invoking: &'a [u8],
    },
    /// Parameter Problem (RFC 792).
    ParamProblem {
        /// The code.
        reason: Icmpv4ParamProblem,
        /// Offset of the offending octet in the invoking datagram.
        pointer: u8,
        /// The quoted invoking datagram.
        invoking: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parse an ICMPv4 message, verifying its checksum.
    ///
    /// [`Error::Truncated`] below 8 octets; [`Error::Checksum`];
    /// [`Error::Malformed`] for an Echo or Echo Reply with a nonzero code
    /// (RFC 792: code 0); [`Error::Unrecognized`] for other message types.
    /// Unknown codes of the error messages are kept (`Unknown(n)`), and the
    /// quoted datagram is not interpreted here.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Icmpv4Packet<&'a T>) -> Result<Icmpv4Repr<'a>> {
        packet.check_len()?;
        // RFC 792: the checksum covers the whole ICMP message.
        if !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        match (packet.msg_type(), packet.msg_code()) {
            (Icmpv4Message::EchoRequest, 0) => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data: packet.data(),
            }),
            (Icmpv4Message::EchoReply, 0) => Ok(Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data: packet.data(),
            }),
            (Icmpv4Message::EchoRequest | Icmpv4Message::EchoReply, _) => Err(Error::Malformed),
            (Icmpv4Message::DstUnreachable, code) => Ok(Icmpv4Repr::DstUnreachable {
                reason: Icmpv4DstUnreachable::from(code),
                // RFC 1191 4: the low-order 16 bits of the unused field.
                next_hop_mtu: packet.next_hop_mtu(),
                invoking: packet.data(),
            }),
            (Icmpv4Message::TimeExceeded, code) => Ok(Icmpv4Repr::TimeExceeded {
                reason: Icmpv4TimeExceeded::from(code),
                invoking: packet.data(),
            }),
            (Icmpv4Message::ParamProblem, code) => Ok(Icmpv4Repr::ParamProblem {
                reason: Icmpv4ParamProblem::from(code),
                pointer: packet.pointer(),
                invoking: packet.data(),
            }),
            _ => Err(Error::Unrecognized),
        }
    }

    /// The data or quoted datagram after the header.
    #[inline]
    fn data(&self) -> &'a [u8] {
        match *self {
            Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => data,
            Icmpv4Repr::DstUnreachable { invoking, .. }
            | Icmpv4Repr::TimeExceeded { invoking, .. }
            | Icmpv4Repr::ParamProblem { invoking, .. } => invoking,
        }
    }

    /// Length of the message [`emit`](Self::emit) writes.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data().len()
    }

    /// Whether this is an error message (RFC 1122 3.2.2: never answered with
    /// another error).
    #[inline]
    pub const fn is_error(&self) -> bool {
        matches!(
            self,
            Icmpv4Repr::DstUnreachable { .. }
                | Icmpv4Repr::TimeExceeded { .. }
                | Icmpv4Repr::ParamProblem { .. }
        )
    }

    /// Write the message and its checksum into `packet`.
    ///
    /// Does not panic if the buffer is at least [`buffer_len`](Self::buffer_len)
    /// octets; the checksum covers the first `buffer_len()` octets, so the
    /// IP layer must send exactly those.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Icmpv4Packet<T>) {
        packet.clear_rest_of_header();
        match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, .. } => {
                packet.set_msg_type(Icmpv4Message::EchoRequest);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
            }
            Icmpv4Repr::EchoReply { ident, seq_no, .. } => {
                packet.set_msg_type(Icmpv4Message::EchoReply);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
            }
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                ..
            } => {
                packet.set_msg_type(Icmpv4Message::DstUnreachable);
                packet.set_msg_code(reason.into());
                packet.set_next_hop_mtu(next_hop_mtu);
            }
            Icmpv4Repr::TimeExceeded { reason, .. } => {
                packet.set_msg_type(Icmpv4Message::TimeExceeded);
                packet.set_msg_code(reason.into());
            }
            Icmpv4Repr::ParamProblem {
                reason, pointer, ..
            } => {
                packet.set_msg_type(Icmpv4Message::ParamProblem);
                packet.set_msg_code(reason.into());
                packet.set_pointer(pointer);
            }
        }
        let data = self.data();
        let total = HEADER_LEN + data.len();
        packet.set_checksum(0);
        let buf = packet.buffer.as_mut();
        buf[HEADER_LEN..total].copy_from_slice(data);
        let sum = !checksum::data(&buf[..total]);
        packet.set_checksum(sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A Linux `SOCK_RAW` echo request to 127.0.0.1 (id 0x1234, seq 1,
    /// 16 data octets), captured on loopback.
    const ECHO_REQUEST: [u8; 24] = [
        0x08, 0x00, 0x87, 0x64, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
        0x68, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    ];
    /// The kernel's echo reply to it.
    const ECHO_REPLY: [u8; 24] = [
        0x00, 0x00, 0x8f, 0x64, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
        0x68, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    ];
    /// The kernel's port unreachable for a UDP datagram to 127.0.0.1:9999,
    /// quoting the whole 38-octet invoking datagram.
    const PORT_UNREACH: [u8; 46] = [
        0x03, 0x03, 0x45, 0x8d, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x26, 0x85, 0x05, 0x40,
        0x00, 0x40, 0x11, 0xb7, 0xbf, 0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01, 0xbe, 0xfb,
        0x27, 0x0f, 0x00, 0x12, 0xfe, 0x25, 0x78, 0x64, 0x70, 0x6e, 0x65, 0x74, 0x20, 0x75, 0x64,
        0x70,
    ];

    #[test]
    fn deconstruct_echo() {
        let p = Icmpv4Packet::new_checked(&ECHO_REQUEST[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv4Message::EchoRequest);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0x8764);
        assert_eq!(p.echo_ident(), 0x1234);
        assert_eq!(p.echo_seq_no(), 1);
        assert_eq!(p.data(), b"abcdefgh01234567");
        assert!(p.verify_checksum());
        assert_eq!(
            Icmpv4Repr::parse(&p),
            Ok(Icmpv4Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 1,
                data: b"abcdefgh01234567"
            })
        );
    }

    #[test]
    fn construct_echo_reply() {
        let repr = Icmpv4Repr::EchoReply {
            ident: 0x1234,
            seq_no: 1,
            data: b"abcdefgh01234567",
        };
        assert!(!repr.is_error());
        let mut buf = [0xaau8; 24];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, ECHO_REPLY);
    }

    #[test]
    fn port_unreachable_both_ways() {
        let p = Icmpv4Packet::new_checked(&PORT_UNREACH[..]).unwrap();
        let repr = Icmpv4Repr::parse(&p).unwrap();
        assert_eq!(
            repr,
            Icmpv4Repr::DstUnreachable {
                reason: Icmpv4DstUnreachable::PortUnreachable,
                next_hop_mtu: 0,
                invoking: &PORT_UNREACH[8..],
            }
        );
        assert!(repr.is_error());
        let mut buf = [0u8; 46];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, PORT_UNREACH);
    }

    #[test]
    fn frag_needed_and_param_problem_fields() {
        let invoking = &PORT_UNREACH[8..36];
        let repr = Icmpv4Repr::DstUnreachable {
            reason: Icmpv4DstUnreachable::FragRequired,
            next_hop_mtu: 1400,
            invoking,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..8], &[3, 4, buf[2], buf[3], 0, 0, 0x05, 0x78]);
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.next_hop_mtu(), 1400);
        let repr = Icmpv4Repr::ParamProblem {
            reason: Icmpv4ParamProblem::AtPointer,
            pointer: 9,
            invoking,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[4..8], &[9, 0, 0, 0]);
        assert_eq!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&buf[..]).unwrap()),
            Ok(repr)
        );
    }

    #[test]
    fn errors() {
        for n in 0..HEADER_LEN {
            assert_eq!(
                Icmpv4Packet::new_checked(&ECHO_REQUEST[..n]).err(),
                Some(Error::Truncated)
            );
        }
        // Every shorter prefix breaks the checksum; none panics.
        for n in HEADER_LEN..ECHO_REQUEST.len() {
            let p = Icmpv4Packet::new_checked(&ECHO_REQUEST[..n]).unwrap();
            assert_eq!(Icmpv4Repr::parse(&p), Err(Error::Checksum), "len {n}");
        }
        let mut buf = ECHO_REQUEST;
        buf[9] ^= 1;
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Icmpv4Repr::parse(&p), Err(Error::Checksum));
        // Echo with a nonzero code.
        let mut buf = ECHO_REQUEST;
        let mut p = Icmpv4Packet::new_unchecked(&mut buf[..]);
        p.set_msg_code(1);
        p.fill_checksum();
        assert_eq!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&buf[..]).unwrap()),
            Err(Error::Malformed)
        );
        // Timestamp: well-formed but not handled.
        let mut buf = [0u8; 20];
        let mut p = Icmpv4Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(Icmpv4Message::Timestamp);
        p.fill_checksum();
        assert_eq!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&buf[..]).unwrap()),
            Err(Error::Unrecognized)
        );
        // Unknown codes are kept.
        let mut buf = PORT_UNREACH;
        let mut p = Icmpv4Packet::new_unchecked(&mut buf[..]);
        p.set_msg_code(77);
        p.fill_checksum();
        assert!(matches!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&buf[..]).unwrap()),
            Ok(Icmpv4Repr::DstUnreachable {
                reason: Icmpv4DstUnreachable::Unknown(77),
                ..
            })
        ));
    }

    fn repr_strategy(data: Vec<u8>) -> impl Strategy<Value = Icmpv4Repr<'static>> {
        let data: &'static [u8] = Box::leak(data.into_boxed_slice());
        prop_oneof![
            (any::<u16>(), any::<u16>()).prop_map(move |(ident, seq_no)| {
                Icmpv4Repr::EchoRequest {
                    ident,
                    seq_no,
                    data,
                }
            }),
            (any::<u16>(), any::<u16>()).prop_map(move |(ident, seq_no)| {
                Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                }
            }),
            (any::<u8>(), any::<u16>()).prop_map(move |(code, next_hop_mtu)| {
                Icmpv4Repr::DstUnreachable {
                    reason: code.into(),
                    next_hop_mtu,
                    invoking: data,
                }
            }),
            any::<u8>().prop_map(move |code| Icmpv4Repr::TimeExceeded {
                reason: code.into(),
                invoking: data,
            }),
            (any::<u8>(), any::<u8>()).prop_map(move |(code, pointer)| {
                Icmpv4Repr::ParamProblem {
                    reason: code.into(),
                    pointer,
                    invoking: data,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn roundtrip(repr in proptest::collection::vec(any::<u8>(), 0..64).prop_flat_map(repr_strategy)) {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
            let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert!(p.verify_checksum());
            prop_assert_eq!(Icmpv4Repr::parse(&p), Ok(repr));
        }

        #[test]
        fn any_bytes_no_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(p) = Icmpv4Packet::new_checked(&bytes[..]) {
                let _ = Icmpv4Repr::parse(&p);
                let _ = (p.data(), p.next_hop_mtu(), p.pointer(), p.echo_ident());
            }
        }
    }
}
