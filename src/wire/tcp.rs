//! TCP segments and options (RFC 9293, RFC 7323, RFC 2018).
//!
//! * RFC 9293 3.1: header layout, data offset, control bits, the
//!   pseudo-header checksum; 3.2: the option list (End of Option List,
//!   No-Operation, Maximum Segment Size); 3.4: sequence number arithmetic
//!   modulo 2^32 ([`TcpSeqNumber`]).
//! * RFC 7323 2: Window Scale (shift clamped to 14, 2.3); 3: Timestamps.
//! * RFC 2018 2-3: SACK-Permitted and SACK blocks.
//! * RFC 3168 6.1: the ECE and CWR bits (exposed on the view only).
//!
//! [`TcpPacket`] is the zero-copy view; [`TcpRepr`] is the meaning the TCP
//! endpoint needs. Parsing checks structure only: which options are honoured
//! in which segment (RFC 7323 2.2: Window Scale only on SYN; RFC 9293 3.7.1:
//! MSS only on SYN) and port-0 rules are the transport layer's job. The urgent
//! pointer and ECE/CWR are visible on the view but not carried in the Repr.

use core::{cmp, fmt, ops};

use crate::wire::checksum;
use crate::wire::{Error, IpProtocol, Result};
use std::net::IpAddr;

/// A TCP sequence number: arithmetic and comparison modulo 2^32
/// (RFC 9293 3.4).
///
/// The comparison is the usual `(a - b) as i32 < 0` wrap-around rule: valid
/// for numbers less than 2^31 apart, which the window rules guarantee. It is
/// only a partial order on the whole space; nothing here panics on any
/// value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpSeqNumber(pub i32);

impl TcpSeqNumber {
    /// The signed distance `self - other` modulo 2^32: positive when `self`
    /// is after `other` (RFC 9293 3.4).
    #[inline]
    pub const fn wrapping_sub(self, other: TcpSeqNumber) -> i32 {
        self.0.wrapping_sub(other.0)
    }

    /// The later of two sequence numbers (wrap-around order).
    #[inline]
    pub fn max(self, rhs: TcpSeqNumber) -> TcpSeqNumber {
        if self > rhs {
            self
        } else {
            rhs
        }
    }

    /// The earlier of two sequence numbers (wrap-around order).
    #[inline]
    pub fn min(self, rhs: TcpSeqNumber) -> TcpSeqNumber {
        if self < rhs {
            self
        } else {
            rhs
        }
    }

    /// The number as the unsigned 32-bit value carried on the wire.
    #[inline]
    pub const fn as_u32(self) -> u32 {
        self.0 as u32
    }
}

impl From<u32> for TcpSeqNumber {
    #[inline]
    fn from(value: u32) -> Self {
        TcpSeqNumber(value as i32)
    }
}

impl fmt::Display for TcpSeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0 as u32)
    }
}

impl ops::Add<usize> for TcpSeqNumber {
    type Output = TcpSeqNumber;

    /// Advance by `rhs` octets, modulo 2^32.
    #[inline]
    fn add(self, rhs: usize) -> TcpSeqNumber {
        // Truncating `rhs` is addition modulo 2^32 (RFC 9293 3.4).
        TcpSeqNumber(self.0.wrapping_add(rhs as u32 as i32))
    }
}

impl ops::Sub<usize> for TcpSeqNumber {
    type Output = TcpSeqNumber;

    /// Go back by `rhs` octets, modulo 2^32.
    #[inline]
    fn sub(self, rhs: usize) -> TcpSeqNumber {
        TcpSeqNumber(self.0.wrapping_sub(rhs as u32 as i32))
    }
}

impl ops::AddAssign<usize> for TcpSeqNumber {
    #[inline]
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl ops::SubAssign<usize> for TcpSeqNumber {
    #[inline]
    fn sub_assign(&mut self, rhs: usize) {
        *self = *self - rhs;
    }
}

impl PartialOrd for TcpSeqNumber {
    /// Wrap-around order (RFC 9293 3.4): `a < b` iff `(a - b) mod 2^32`,
    /// read as signed, is negative.
    #[inline]
    fn partial_cmp(&self, other: &TcpSeqNumber) -> Option<cmp::Ordering> {
        Some(self.wrapping_sub(*other).cmp(&0))
    }
}

mod field {
    use crate::wire::field::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    pub const FLAGS: Field = 12..14;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;

    /// The 12 bits below the data offset: 4 reserved bits and the 8 control
    /// bits (RFC 9293 3.1).
    pub const FLG_MASK: u16 = 0x0fff;
    pub const FLG_FIN: u16 = 0x001;
    pub const FLG_SYN: u16 = 0x002;
    pub const FLG_RST: u16 = 0x004;
    pub const FLG_PSH: u16 = 0x008;
    pub const FLG_ACK: u16 = 0x010;
    pub const FLG_URG: u16 = 0x020;
    pub const FLG_ECE: u16 = 0x040;
    pub const FLG_CWR: u16 = 0x080;

    pub const OPT_END: u8 = 0x00;
    pub const OPT_NOP: u8 = 0x01;
    pub const OPT_MSS: u8 = 0x02;
    pub const OPT_WS: u8 = 0x03;
    pub const OPT_SACKPERM: u8 = 0x04;
    pub const OPT_SACKRNG: u8 = 0x05;
    pub const OPT_TSTAMP: u8 = 0x08;
}

/// Length of a TCP header without options (RFC 9293 3.1).
pub const HEADER_LEN: usize = 20;

/// Largest TCP header: data offset 15 words (RFC 9293 3.1).
pub const MAX_HEADER_LEN: usize = 60;

/// A read/write view of a TCP segment (header, options and payload).
///
/// The buffer must be exactly the segment (the IP payload): the checksum and
/// the payload extend to its end.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wrap a buffer without checking its length.
    ///
    /// Accessors may panic on a buffer shorter than the header; use this to
    /// emit into a buffer sized by [`TcpRepr::buffer_len`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// Wrap a buffer and validate it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Check that the buffer holds the fixed header and all the options the
    /// data offset claims.
    ///
    /// [`Error::Truncated`] if the buffer is shorter than 20 octets or than
    /// the data offset; [`Error::Malformed`] if the data offset is below 5
    /// words (RFC 9293 3.1).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            Err(Error::Malformed)
        } else if len < header_len {
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
    fn read_u16(&self, at: usize) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[at], data[at + 1]])
    }

    #[inline]
    fn read_u32(&self, at: usize) -> u32 {
        let data = self.buffer.as_ref();
        u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
    }

    /// The source port field.
    #[inline]
    pub fn src_port(&self) -> u16 {
        self.read_u16(field::SRC_PORT.start)
    }

    /// The destination port field.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.read_u16(field::DST_PORT.start)
    }

    /// The sequence number field.
    #[inline]
    pub fn seq_number(&self) -> TcpSeqNumber {
        TcpSeqNumber::from(self.read_u32(field::SEQ_NUM.start))
    }

    /// The acknowledgment number field (meaningful when [`ack`](Self::ack)).
    #[inline]
    pub fn ack_number(&self) -> TcpSeqNumber {
        TcpSeqNumber::from(self.read_u32(field::ACK_NUM.start))
    }

    /// The header length in octets: data offset times four (RFC 9293 3.1).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }

    /// The raw 12 bits after the data offset: 4 reserved bits and the 8
    /// control bits (CWR ECE URG ACK PSH RST SYN FIN, RFC 9293 3.1).
    #[inline]
    pub fn flags(&self) -> u16 {
        self.read_u16(field::FLAGS.start) & field::FLG_MASK
    }

    #[inline]
    fn flag(&self, bit: u16) -> bool {
        self.read_u16(field::FLAGS.start) & bit != 0
    }

    /// The FIN control bit.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flag(field::FLG_FIN)
    }

    /// The SYN control bit.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flag(field::FLG_SYN)
    }

    /// The RST control bit.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flag(field::FLG_RST)
    }

    /// The PSH control bit.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flag(field::FLG_PSH)
    }

    /// The ACK control bit.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flag(field::FLG_ACK)
    }

    /// The URG control bit.
    #[inline]
    pub fn urg(&self) -> bool {
        self.flag(field::FLG_URG)
    }

    /// The ECE control bit (RFC 3168 6.1).
    #[inline]
    pub fn ece(&self) -> bool {
        self.flag(field::FLG_ECE)
    }

    /// The CWR control bit (RFC 3168 6.1).
    #[inline]
    pub fn cwr(&self) -> bool {
        self.flag(field::FLG_CWR)
    }

    /// The window field (unscaled).
    #[inline]
    pub fn window_len(&self) -> u16 {
        self.read_u16(field::WIN_SIZE.start)
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM.start)
    }

    /// The urgent pointer field (meaningful when [`urg`](Self::urg)).
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        self.read_u16(field::URGENT.start)
    }

    /// Start and end of the options, clamped to the buffer so that no
    /// accessor panics even after `set_header_len` with a bad value.
    #[inline]
    fn options_range(&self) -> (usize, usize) {
        let len = self.buffer.as_ref().len();
        let end = usize::from(self.header_len()).max(HEADER_LEN).min(len);
        (HEADER_LEN.min(end), end)
    }

    /// The payload length in octets (buffer minus header).
    #[inline]
    pub fn payload_len(&self) -> usize {
        self.buffer.as_ref().len() - self.options_range().1
    }

    /// The sequence space the segment occupies: payload plus one for SYN and
    /// one for FIN (RFC 9293 3.4).
    #[inline]
    pub fn segment_len(&self) -> usize {
        self.payload_len() + usize::from(self.syn()) + usize::from(self.fin())
    }

    /// Sum of the pseudo-header and the whole segment.
    fn sum(&self, src: &IpAddr, dst: &IpAddr) -> u16 {
        let data = self.buffer.as_ref();
        // RFC 9293 3.1: the pseudo-header carries the TCP length (header and
        // data) computed from the IP layer, i.e. the buffer length here.
        checksum::combine(&[
            checksum::pseudo_header(src, dst, IpProtocol::Tcp, data.len() as u32),
            checksum::data(data),
        ])
    }

    /// Verify the checksum against the pseudo-header of `src` and `dst`
    /// (RFC 9293 3.1). The buffer must be exactly the segment.
    #[inline]
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        self.sum(src, dst) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> TcpPacket<&'a T> {
    /// The options: octets 20 up to the data offset.
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        let (start, end) = self.options_range();
        &self.buffer.as_ref()[start..end]
    }

    /// The payload: everything after the header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let (_, end) = self.options_range();
        &self.buffer.as_ref()[end..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    #[inline]
    fn write_u16(&mut self, at: usize, value: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    fn write_u32(&mut self, at: usize, value: u32) {
        self.buffer.as_mut()[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }

    /// Set the source port field.
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        self.write_u16(field::SRC_PORT.start, value)
    }

    /// Set the destination port field.
    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        self.write_u16(field::DST_PORT.start, value)
    }

    /// Set the sequence number field.
    #[inline]
    pub fn set_seq_number(&mut self, value: TcpSeqNumber) {
        self.write_u32(field::SEQ_NUM.start, value.as_u32())
    }

    /// Set the acknowledgment number field.
    #[inline]
    pub fn set_ack_number(&mut self, value: TcpSeqNumber) {
        self.write_u32(field::ACK_NUM.start, value.as_u32())
    }

    /// Set the header length in octets; it is stored as a count of 32-bit
    /// words, so `value` is rounded down to a multiple of 4 (and at most 60).
    #[inline]
    pub fn set_header_len(&mut self, value: u8) {
        let words = (value / 4).min(15);
        let data = self.buffer.as_mut();
        data[field::FLAGS.start] = (data[field::FLAGS.start] & 0x0f) | (words << 4);
    }

    /// Set the raw 12 reserved and control bits, keeping the data offset.
    #[inline]
    pub fn set_flags(&mut self, value: u16) {
        let raw = self.read_u16(field::FLAGS.start);
        self.write_u16(
            field::FLAGS.start,
            (raw & !field::FLG_MASK) | (value & field::FLG_MASK),
        )
    }

    /// Clear all reserved and control bits, keeping the data offset.
    #[inline]
    pub fn clear_flags(&mut self) {
        self.set_flags(0)
    }

    #[inline]
    fn set_flag(&mut self, bit: u16, value: bool) {
        let raw = self.read_u16(field::FLAGS.start);
        let raw = if value { raw | bit } else { raw & !bit };
        self.write_u16(field::FLAGS.start, raw)
    }

    /// Set the FIN control bit.
    #[inline]
    pub fn set_fin(&mut self, value: bool) {
        self.set_flag(field::FLG_FIN, value)
    }

    /// Set the SYN control bit.
    #[inline]
    pub fn set_syn(&mut self, value: bool) {
        self.set_flag(field::FLG_SYN, value)
    }

    /// Set the RST control bit.
    #[inline]
    pub fn set_rst(&mut self, value: bool) {
        self.set_flag(field::FLG_RST, value)
    }

    /// Set the PSH control bit.
    #[inline]
    pub fn set_psh(&mut self, value: bool) {
        self.set_flag(field::FLG_PSH, value)
    }

    /// Set the ACK control bit.
    #[inline]
    pub fn set_ack(&mut self, value: bool) {
        self.set_flag(field::FLG_ACK, value)
    }

    /// Set the URG control bit.
    #[inline]
    pub fn set_urg(&mut self, value: bool) {
        self.set_flag(field::FLG_URG, value)
    }

    /// Set the ECE control bit (RFC 3168 6.1).
    #[inline]
    pub fn set_ece(&mut self, value: bool) {
        self.set_flag(field::FLG_ECE, value)
    }

    /// Set the CWR control bit (RFC 3168 6.1).
    #[inline]
    pub fn set_cwr(&mut self, value: bool) {
        self.set_flag(field::FLG_CWR, value)
    }

    /// Set the window field.
    #[inline]
    pub fn set_window_len(&mut self, value: u16) {
        self.write_u16(field::WIN_SIZE.start, value)
    }

    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.write_u16(field::CHECKSUM.start, value)
    }

    /// Set the urgent pointer field.
    #[inline]
    pub fn set_urgent_at(&mut self, value: u16) {
        self.write_u16(field::URGENT.start, value)
    }

    /// The options, mutably: octets 20 up to the data offset.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let (start, end) = self.options_range();
        &mut self.buffer.as_mut()[start..end]
    }

    /// The payload, mutably: everything after the header.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (_, end) = self.options_range();
        &mut self.buffer.as_mut()[end..]
    }

    /// Compute and store the checksum over the pseudo-header of `src`, `dst`
    /// and the whole buffer (RFC 9293 3.1).
    #[inline]
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let sum = !self.sum(src, dst);
        self.set_checksum(sum);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for TcpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// One TCP option (RFC 9293 3.2, RFC 7323, RFC 2018).
#[derive(Debug, PartialEq, Eq, Clone, Copy, Hash)]
pub enum TcpOption<'a> {
    /// End of Option List (kind 0).
    EndOfList,
    /// No-Operation (kind 1).
    NoOperation,
    /// Maximum Segment Size (kind 2, RFC 9293 3.7.1).
    MaxSegmentSize(u16),
    /// Window Scale shift count (kind 3, RFC 7323 2.2), as received.
    WindowScale(u8),
    /// SACK-Permitted (kind 4, RFC 2018 2).
    SackPermitted,
    /// SACK blocks `(left edge, right edge)` (kind 5, RFC 2018 3); present
    /// blocks first, then `None`.
    SackRange([Option<(u32, u32)>; 4]),
    /// Timestamps (kind 8, RFC 7323 3.2).
    TimeStamp {
        /// TSval: the sender's timestamp clock.
        tsval: u32,
        /// TSecr: the echoed timestamp.
        tsecr: u32,
    },
    /// Any other kind, with its data (after the kind and length octets).
    Unknown {
        /// The option kind.
        kind: u8,
        /// The option data (at most 253 octets are emitted).
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parse the option at the start of `buffer`; return the rest of the
    /// buffer after it, and the option.
    ///
    /// [`Error::Truncated`] on an empty buffer; [`Error::Malformed`] if the
    /// option's length octet is missing, below 2, runs past the buffer, or
    /// does not match the fixed length of a known kind.
    pub fn parse(buffer: &'a [u8]) -> Result<(&'a [u8], TcpOption<'a>)> {
        let (&kind, _) = buffer.split_first().ok_or(Error::Truncated)?;
        match kind {
            // RFC 9293 3.2: kinds 0 and 1 are a single octet.
            field::OPT_END => return Ok((&buffer[1..], TcpOption::EndOfList)),
            field::OPT_NOP => return Ok((&buffer[1..], TcpOption::NoOperation)),
            _ => {}
        }
        // RFC 9293 3.2: other options are kind, length (counting both), data.
        let length = usize::from(*buffer.get(1).ok_or(Error::Malformed)?);
        if length < 2 || length > buffer.len() {
            return Err(Error::Malformed);
        }
        let data = &buffer[2..length];
        let rest = &buffer[length..];
        let be32 = |d: &[u8]| u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
        let option = match (kind, length) {
            // RFC 9293 3.2: MSS has length 4.
            (field::OPT_MSS, 4) => {
                TcpOption::MaxSegmentSize(u16::from_be_bytes([data[0], data[1]]))
            }
            // RFC 7323 2.2: Window Scale has length 3.
            (field::OPT_WS, 3) => TcpOption::WindowScale(data[0]),
            // RFC 2018 2: SACK-Permitted has length 2.
            (field::OPT_SACKPERM, 2) => TcpOption::SackPermitted,
            // RFC 2018 3: SACK has length 8n + 2, 1 <= n <= 4 in 40 octets.
            (field::OPT_SACKRNG, 10 | 18 | 26 | 34) => {
                let mut ranges = [None; 4];
                for (slot, block) in ranges.iter_mut().zip(data.chunks_exact(8)) {
                    *slot = Some((be32(&block[..4]), be32(&block[4..])));
                }
                TcpOption::SackRange(ranges)
            }
            // RFC 7323 3.2: Timestamps has length 10.
            (field::OPT_TSTAMP, 10) => TcpOption::TimeStamp {
                tsval: be32(&data[..4]),
                tsecr: be32(&data[4..]),
            },
            (
                field::OPT_MSS
                | field::OPT_WS
                | field::OPT_SACKPERM
                | field::OPT_SACKRNG
                | field::OPT_TSTAMP,
                _,
            ) => return Err(Error::Malformed),
            (kind, _) => TcpOption::Unknown { kind, data },
        };
        Ok((rest, option))
    }

    /// Number of octets [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::SackRange(ranges) => match ranges.iter().flatten().count() {
                // A SACK option without blocks is not an option: emit nothing.
                0 => 0,
                n => 2 + 8 * n,
            },
            TcpOption::TimeStamp { .. } => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len().min(253),
        }
    }

    /// Write the option at the start of `buffer`; return the rest.
    ///
    /// Does not panic if `buffer` is at least [`buffer_len`](Self::buffer_len)
    /// octets. SACK blocks are written compacted (the `None` slots skipped).
    pub fn emit<'b>(&self, buffer: &'b mut [u8]) -> &'b mut [u8] {
        let length = self.buffer_len();
        let (out, rest) = buffer.split_at_mut(length);
        match *self {
            TcpOption::EndOfList => out[0] = field::OPT_END,
            TcpOption::NoOperation => out[0] = field::OPT_NOP,
            TcpOption::MaxSegmentSize(mss) => {
                out[0] = field::OPT_MSS;
                out[2..4].copy_from_slice(&mss.to_be_bytes());
            }
            TcpOption::WindowScale(shift) => {
                out[0] = field::OPT_WS;
                out[2] = shift;
            }
            TcpOption::SackPermitted => out[0] = field::OPT_SACKPERM,
            TcpOption::SackRange(ranges) => {
                if length > 0 {
                    out[0] = field::OPT_SACKRNG;
                    for ((left, right), block) in
                        ranges.iter().flatten().zip(out[2..].chunks_exact_mut(8))
                    {
                        block[..4].copy_from_slice(&left.to_be_bytes());
                        block[4..].copy_from_slice(&right.to_be_bytes());
                    }
                }
            }
            TcpOption::TimeStamp { tsval, tsecr } => {
                out[0] = field::OPT_TSTAMP;
                out[2..6].copy_from_slice(&tsval.to_be_bytes());
                out[6..10].copy_from_slice(&tsecr.to_be_bytes());
            }
            TcpOption::Unknown { kind, data } => {
                out[0] = kind;
                out[2..].copy_from_slice(&data[..length - 2]);
            }
        }
        if length >= 2 {
            out[1] = length as u8;
        }
        rest
    }
}

/// The control bits of a segment as the TCP state machine sees them.
///
/// PSH is kept only on segments without SYN, FIN or RST.
#[derive(Debug, PartialEq, Eq, Clone, Copy, Hash, Default)]
pub enum TcpControl {
    /// No SYN, FIN, RST or PSH.
    #[default]
    None,
    /// PSH alone.
    Psh,
    /// SYN (connection request or its acceptance).
    Syn,
    /// FIN (no more data from the sender).
    Fin,
    /// RST (reset).
    Rst,
}

impl TcpControl {
    /// The sequence space the control bit occupies: 1 for SYN and FIN
    /// (RFC 9293 3.4), else 0.
    #[inline]
    pub const fn len(self) -> usize {
        match self {
            TcpControl::Syn | TcpControl::Fin => 1,
            _ => 0,
        }
    }

    /// Whether the control bit occupies no sequence space.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Turn PSH into None; keep the rest.
    #[inline]
    pub const fn quash_psh(self) -> TcpControl {
        match self {
            TcpControl::Psh => TcpControl::None,
            other => other,
        }
    }
}

/// The Timestamps option values (RFC 7323 3.2).
#[derive(Debug, PartialEq, Eq, Clone, Copy, Hash)]
pub struct TcpTimestampRepr {
    /// TSval: the sender's timestamp clock.
    pub tsval: u32,
    /// TSecr: the echoed timestamp (valid when ACK is set).
    pub tsecr: u32,
}

/// The meaning of a TCP segment's header, with a borrowed payload.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// SYN / FIN / RST / PSH.
    pub control: TcpControl,
    /// Sequence number of the first octet (or of the SYN).
    pub seq_number: TcpSeqNumber,
    /// Acknowledgment number; `Some` iff the ACK bit is set.
    pub ack_number: Option<TcpSeqNumber>,
    /// Window field, unscaled.
    pub window_len: u16,
    /// Window Scale shift count, clamped to 14 on parse (RFC 7323 2.3).
    pub window_scale: Option<u8>,
    /// Maximum Segment Size option.
    pub max_seg_size: Option<u16>,
    /// SACK-Permitted option present.
    pub sack_permitted: bool,
    /// SACK blocks, present ones first.
    pub sack_ranges: [Option<(u32, u32)>; 4],
    /// Timestamps option.
    pub timestamp: Option<TcpTimestampRepr>,
    /// The payload.
    pub payload: &'a [u8],
}

/// Most option octets a header can carry (RFC 9293 3.1: 60 - 20).
const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;

impl<'a> TcpRepr<'a> {
    /// Parse a segment, verifying the checksum against the pseudo-header of
    /// `src`, `dst` if `verify_checksum`.
    ///
    /// Errors: lengths as in [`TcpPacket::check_len`]; [`Error::Checksum`];
    /// [`Error::Malformed`] for a bad option (see [`TcpOption::parse`]) or a
    /// contradictory combination of SYN, FIN and RST. Unknown options are
    /// skipped (RFC 9293 3.2: "MUST be prepared to handle an illegal option
    /// length", and ignore kinds it does not implement). Parsing stops at End
    /// of Option List.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: &IpAddr,
        dst: &IpAddr,
        verify_checksum: bool,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let control = match (packet.syn(), packet.fin(), packet.rst(), packet.psh()) {
            (false, false, false, false) => TcpControl::None,
            (false, false, false, true) => TcpControl::Psh,
            (true, false, false, _) => TcpControl::Syn,
            (false, true, false, _) => TcpControl::Fin,
            (false, false, true, _) => TcpControl::Rst,
            // SYN+FIN, SYN+RST, FIN+RST: no valid state accepts these.
            _ => return Err(Error::Malformed),
        };
        let ack_number = packet.ack().then(|| packet.ack_number());

        let mut repr = TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            control,
            seq_number: packet.seq_number(),
            ack_number,
            window_len: packet.window_len(),
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 4],
            timestamp: None,
            payload: packet.payload(),
        };
        let mut options = packet.options();
        while !options.is_empty() {
            let (rest, option) = TcpOption::parse(options)?;
            match option {
                // RFC 9293 3.2: End of Option List ends the list.
                TcpOption::EndOfList => break,
                TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
                TcpOption::MaxSegmentSize(mss) => repr.max_seg_size = Some(mss),
                // RFC 7323 2.3: a shift above 14 is used as 14.
                TcpOption::WindowScale(shift) => repr.window_scale = Some(shift.min(14)),
                TcpOption::SackPermitted => repr.sack_permitted = true,
                TcpOption::SackRange(ranges) => repr.sack_ranges = ranges,
                TcpOption::TimeStamp { tsval, tsecr } => {
                    repr.timestamp = Some(TcpTimestampRepr { tsval, tsecr })
                }
            }
            options = rest;
        }
        Ok(repr)
    }

    /// Option octets before SACK blocks, in the layout [`emit`](Self::emit)
    /// uses (each group padded to 4 octets with NOPs).
    fn fixed_options_len(&self) -> usize {
        let mut len = 0;
        if self.max_seg_size.is_some() {
            len += 4; // MSS
        }
        if self.timestamp.is_some() {
            len += 12; // SACK-Permitted + TS, or NOP NOP TS
        } else if self.sack_permitted {
            len += 4; // NOP NOP SACK-Permitted
        }
        if self.window_scale.is_some() {
            len += 4; // NOP WS
        }
        len
    }

    /// How many SACK blocks fit in the 40 octets of options after the other
    /// options (NOP NOP SACK: 4 + 8n octets).
    fn sack_blocks_emitted(&self) -> usize {
        let room = MAX_OPTIONS_LEN - self.fixed_options_len();
        let fit = room.saturating_sub(4) / 8;
        self.sack_ranges.iter().flatten().count().min(fit)
    }

    /// Length of the options [`emit`](Self::emit) writes (a multiple of 4,
    /// at most 40).
    fn options_len(&self) -> usize {
        let blocks = self.sack_blocks_emitted();
        self.fixed_options_len() + if blocks > 0 { 4 + 8 * blocks } else { 0 }
    }

    /// Length of the header [`emit`](Self::emit) writes, options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// Length of the segment [`emit`](Self::emit) writes.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// The sequence space the segment occupies (RFC 9293 3.4).
    #[inline]
    pub fn segment_len(&self) -> usize {
        self.payload.len() + self.control.len()
    }

    /// Whether the segment occupies no sequence space and carries no data
    /// (a pure ACK or window update).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty() && self.control.is_empty() && self.control != TcpControl::Rst
    }

    /// Write the segment into `packet` and, if `fill_checksum`, its checksum
    /// over the pseudo-header of `src`, `dst` (else the field is zero, for
    /// checksum offload).
    ///
    /// Options are laid out as Linux does (MSS; SACK-Permitted and TS or
    /// NOPs; NOP WS; NOP NOP SACK), which keeps every option 4-aligned and
    /// the header a multiple of 4 (RFC 9293 3.1). If all SACK blocks do not
    /// fit in 40 octets, the first ones that fit are sent (RFC 2018 3).
    /// Does not panic if the buffer is at least [`buffer_len`](Self::buffer_len)
    /// octets; the checksum covers the first `buffer_len()` octets.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: &IpAddr,
        dst: &IpAddr,
        fill_checksum: bool,
    ) {
        let header_len = self.header_len();
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number.unwrap_or_default());
        packet.set_window_len(self.window_len);
        // header_len is at most 60, so it fits in the data offset.
        packet.set_header_len(header_len as u8);
        packet.clear_flags();
        match self.control {
            TcpControl::None => {}
            TcpControl::Psh => packet.set_psh(true),
            TcpControl::Syn => packet.set_syn(true),
            TcpControl::Fin => packet.set_fin(true),
            TcpControl::Rst => packet.set_rst(true),
        }
        packet.set_ack(self.ack_number.is_some());
        packet.set_urgent_at(0);
        packet.set_checksum(0);

        let data = packet.buffer.as_mut();
        {
            let mut opts = &mut data[HEADER_LEN..header_len];
            if let Some(mss) = self.max_seg_size {
                opts = TcpOption::MaxSegmentSize(mss).emit(opts);
            }
            match (self.sack_permitted, self.timestamp) {
                (sack_perm, Some(ts)) => {
                    opts = if sack_perm {
                        TcpOption::SackPermitted.emit(opts)
                    } else {
                        let o = TcpOption::NoOperation.emit(opts);
                        TcpOption::NoOperation.emit(o)
                    };
                    opts = TcpOption::TimeStamp {
                        tsval: ts.tsval,
                        tsecr: ts.tsecr,
                    }
                    .emit(opts);
                }
                (true, None) => {
                    opts = TcpOption::NoOperation.emit(opts);
                    opts = TcpOption::NoOperation.emit(opts);
                    opts = TcpOption::SackPermitted.emit(opts);
                }
                (false, None) => {}
            }
            if let Some(shift) = self.window_scale {
                opts = TcpOption::NoOperation.emit(opts);
                opts = TcpOption::WindowScale(shift).emit(opts);
            }
            let blocks = self.sack_blocks_emitted();
            if blocks > 0 {
                let mut ranges = [None; 4];
                for (slot, range) in ranges
                    .iter_mut()
                    .zip(self.sack_ranges.iter().flatten())
                    .take(blocks)
                {
                    *slot = Some(*range);
                }
                opts = TcpOption::NoOperation.emit(opts);
                opts = TcpOption::NoOperation.emit(opts);
                opts = TcpOption::SackRange(ranges).emit(opts);
            }
            // Nothing is left by construction; zero it anyway (RFC 9293 3.1:
            // the header is padded with zeros).
            opts.fill(field::OPT_END);
        }
        let total = header_len + self.payload.len();
        data[header_len..total].copy_from_slice(self.payload);
        if fill_checksum {
            let sum = checksum::combine(&[
                checksum::pseudo_header(src, dst, IpProtocol::Tcp, total as u32),
                checksum::data(&data[..total]),
            ]);
            packet.set_checksum(!sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const LO4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const LO6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

    /// A Linux 6.x SYN to 127.0.0.1 captured on loopback: MSS 65495,
    /// SACK-Permitted, TS, NOP, WS 10. Loopback offloads the checksum; the
    /// captured field 0xfe30 is the pseudo-header sum and is replaced here by
    /// the full checksum 0xd7c2 computed by an independent implementation.
    const SYN4: [u8; 40] = [
        0xe4, 0x74, 0x8b, 0x2f, 0xe4, 0x19, 0xac, 0x35, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xff,
        0xd7, 0xd7, 0xc2, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0xae, 0xad,
        0xc9, 0x9a, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
    ];
    /// Its SYN-ACK.
    const SYNACK4: [u8; 40] = [
        0x8b, 0x2f, 0xe4, 0x74, 0x75, 0x6c, 0x2f, 0xc6, 0xe4, 0x19, 0xac, 0x36, 0xa0, 0x12, 0xff,
        0xcb, 0xfe, 0xb6, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0xd0, 0xef,
        0x62, 0xe4, 0xae, 0xad, 0xc9, 0x9a, 0x01, 0x03, 0x03, 0x0a,
    ];
    /// A PSH-ACK carrying "hello", NOP NOP TS (checksum fixed to 0xe355).
    const PSH4: [u8; 37] = [
        0xe4, 0x74, 0x8b, 0x2f, 0xe4, 0x19, 0xac, 0x36, 0x75, 0x6c, 0x2f, 0xc7, 0x80, 0x18, 0x00,
        0x40, 0xe3, 0x55, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0xae, 0xad, 0xc9, 0x9b, 0xd0, 0xef,
        0x62, 0xe4, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
    ];
    /// A Linux SYN to [::1] (checksum fixed to 0x4412; captured 0x0030).
    const SYN6: [u8; 40] = [
        0x97, 0x0a, 0x8f, 0x4d, 0x25, 0x43, 0xab, 0x2d, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xff,
        0xc4, 0x44, 0x12, 0x00, 0x00, 0x02, 0x04, 0xff, 0xc4, 0x04, 0x02, 0x08, 0x0a, 0x0c, 0x5d,
        0x06, 0xee, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
    ];

    fn syn4_repr() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 58484,
            dst_port: 35631,
            control: TcpControl::Syn,
            seq_number: TcpSeqNumber::from(0xe419ac35),
            ack_number: None,
            window_len: 65495,
            window_scale: Some(10),
            max_seg_size: Some(65495),
            sack_permitted: true,
            sack_ranges: [None; 4],
            timestamp: Some(TcpTimestampRepr {
                tsval: 0xaeadc99a,
                tsecr: 0,
            }),
            payload: &[],
        }
    }

    #[test]
    fn deconstruct_syn() {
        let p = TcpPacket::new_checked(&SYN4[..]).unwrap();
        assert_eq!(p.src_port(), 58484);
        assert_eq!(p.dst_port(), 35631);
        assert_eq!(p.seq_number(), TcpSeqNumber::from(0xe419ac35));
        assert_eq!(p.ack_number(), TcpSeqNumber(0));
        assert_eq!(p.header_len(), 40);
        assert!(p.syn() && !p.ack() && !p.fin() && !p.rst() && !p.psh() && !p.urg());
        assert!(!p.ece() && !p.cwr());
        assert_eq!(p.flags(), 0x002);
        assert_eq!(p.window_len(), 65495);
        assert_eq!(p.checksum(), 0xd7c2);
        assert_eq!(p.urgent_at(), 0);
        assert_eq!(p.options().len(), 20);
        assert!(p.payload().is_empty());
        assert_eq!(p.segment_len(), 1);
        assert!(p.verify_checksum(&LO4, &LO4));
        assert!(!p.verify_checksum(&LO6, &LO6));
        assert_eq!(TcpRepr::parse(&p, &LO4, &LO4, true), Ok(syn4_repr()));

        let mut opts = p.options();
        let mut seen = Vec::new();
        while !opts.is_empty() {
            let (rest, o) = TcpOption::parse(opts).unwrap();
            seen.push(o);
            opts = rest;
        }
        assert_eq!(
            seen,
            [
                TcpOption::MaxSegmentSize(65495),
                TcpOption::SackPermitted,
                TcpOption::TimeStamp {
                    tsval: 0xaeadc99a,
                    tsecr: 0
                },
                TcpOption::NoOperation,
                TcpOption::WindowScale(10),
            ]
        );
    }

    #[test]
    fn captured_partial_checksum_is_pseudo_header() {
        // Loopback's CHECKSUM_PARTIAL leaves the pseudo-header sum in the field.
        assert_eq!(
            checksum::pseudo_header(&LO4, &LO4, IpProtocol::Tcp, 40),
            0xfe30
        );
        assert_eq!(
            checksum::pseudo_header(&LO6, &LO6, IpProtocol::Tcp, 40),
            0x0030
        );
    }

    #[test]
    fn construct_syn_matches_capture() {
        let repr = syn4_repr();
        assert_eq!(repr.buffer_len(), SYN4.len());
        let mut buf = [0xffu8; 40];
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut buf[..]),
            &LO4,
            &LO4,
            true,
        );
        assert_eq!(buf, SYN4);

        let mut repr6 = repr;
        repr6.src_port = 0x970a;
        repr6.dst_port = 0x8f4d;
        repr6.seq_number = TcpSeqNumber::from(0x2543ab2d);
        repr6.window_len = 0xffc4;
        repr6.max_seg_size = Some(0xffc4);
        repr6.timestamp = Some(TcpTimestampRepr {
            tsval: 0x0c5d06ee,
            tsecr: 0,
        });
        let mut buf6 = [0u8; 40];
        repr6.emit(
            &mut TcpPacket::new_unchecked(&mut buf6[..]),
            &LO6,
            &LO6,
            true,
        );
        assert_eq!(buf6, SYN6);
    }

    #[test]
    fn synack_and_psh() {
        let p = TcpPacket::new_checked(&SYNACK4[..]).unwrap();
        let r = TcpRepr::parse(&p, &LO4, &LO4, true).unwrap();
        assert_eq!(r.control, TcpControl::Syn);
        assert_eq!(r.ack_number, Some(TcpSeqNumber::from(0xe419ac36)));
        let mut buf = [0u8; 40];
        r.emit(
            &mut TcpPacket::new_unchecked(&mut buf[..]),
            &LO4,
            &LO4,
            true,
        );
        assert_eq!(buf, SYNACK4);

        let p = TcpPacket::new_checked(&PSH4[..]).unwrap();
        let r = TcpRepr::parse(&p, &LO4, &LO4, true).unwrap();
        assert_eq!(r.control, TcpControl::Psh);
        assert_eq!(r.payload, b"hello");
        assert_eq!(r.window_len, 64);
        assert_eq!(r.segment_len(), 5);
        assert!(!r.is_empty());
        let mut buf = [0u8; 37];
        r.emit(
            &mut TcpPacket::new_unchecked(&mut buf[..]),
            &LO4,
            &LO4,
            true,
        );
        assert_eq!(buf, PSH4);
    }

    #[test]
    fn truncation_never_panics() {
        for fixture in [&SYN4[..], &SYNACK4[..], &PSH4[..], &SYN6[..]] {
            for n in 0..fixture.len() {
                match TcpPacket::new_checked(&fixture[..n]) {
                    Err(e) => assert_eq!(e, Error::Truncated, "len {n}"),
                    // Cutting the payload leaves a valid header.
                    Ok(p) => {
                        assert!(n >= usize::from(p.header_len()));
                        assert_eq!(
                            TcpRepr::parse(&p, &LO4, &LO4, true).err(),
                            Some(Error::Checksum)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn bad_header_len_and_flags() {
        let mut buf = SYN4;
        buf[12] = 0x40; // 16 octets
        assert_eq!(
            TcpPacket::new_checked(&buf[..]).err(),
            Some(Error::Malformed)
        );
        buf[12] = 0xf0; // 60 octets > 40
        assert_eq!(
            TcpPacket::new_checked(&buf[..]).err(),
            Some(Error::Truncated)
        );
        for bits in [0x003u16, 0x006, 0x005, 0x007] {
            let mut buf = SYN4;
            let mut p = TcpPacket::new_unchecked(&mut buf[..]);
            p.set_flags(bits);
            assert_eq!(p.flags(), bits);
            assert_eq!(p.header_len(), 40);
            let p = TcpPacket::new_checked(&buf[..]).unwrap();
            assert_eq!(
                TcpRepr::parse(&p, &LO4, &LO4, false),
                Err(Error::Malformed),
                "flags {bits:#x}"
            );
        }
        // Setters after check never panic, even with a lying header length.
        let mut buf = SYN4;
        let mut p = TcpPacket::new_checked(&mut buf[..]).unwrap();
        p.set_header_len(60);
        assert_eq!(p.header_len(), 60);
        assert_eq!(p.options_mut().len(), 20);
        assert!(p.payload_mut().is_empty());
        p.set_header_len(4);
        assert!(p.options_mut().is_empty());
        p.fill_checksum(&LO4, &LO4);
    }

    #[test]
    fn option_errors() {
        // Missing length, length < 2, runs past, wrong fixed length.
        for bad in [
            &[2u8][..],
            &[2, 0],
            &[2, 1],
            &[5, 4, 0, 0],
            &[2, 5, 0, 0],
            &[2, 3, 0],
            &[3, 4, 0, 0],
            &[4, 3, 0],
            &[5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[5, 2],
            &[8, 9, 0, 0, 0, 0, 0, 0, 0],
            &[200, 4, 0],
        ] {
            assert_eq!(TcpOption::parse(bad), Err(Error::Malformed), "{bad:?}");
        }
        assert_eq!(TcpOption::parse(&[]), Err(Error::Truncated));
        assert_eq!(
            TcpOption::parse(&[200, 3, 7, 9]),
            Ok((
                &[9u8][..],
                TcpOption::Unknown {
                    kind: 200,
                    data: &[7]
                }
            ))
        );
        // An option running past the header is Malformed at the Repr level.
        let mut buf = SYN4;
        buf[38] = 4; // the WS option now claims 4 octets, 3 remain
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, &LO4, &LO4, false), Err(Error::Malformed));
        // Unknown options are skipped; EOL stops parsing.
        let mut buf = SYN4;
        buf[20..24].copy_from_slice(&[0xfe, 0x04, 0xaa, 0xbb]);
        buf[36] = 0; // EOL before NOP WS
        let r = TcpRepr::parse(
            &TcpPacket::new_checked(&buf[..]).unwrap(),
            &LO4,
            &LO4,
            false,
        )
        .unwrap();
        assert_eq!(r.max_seg_size, None);
        assert_eq!(r.window_scale, None);
        assert!(r.sack_permitted);
    }

    #[test]
    fn window_scale_clamped() {
        let mut buf = SYN4;
        buf[39] = 15;
        let r = TcpRepr::parse(
            &TcpPacket::new_checked(&buf[..]).unwrap(),
            &LO4,
            &LO4,
            false,
        )
        .unwrap();
        assert_eq!(r.window_scale, Some(14));
    }

    #[test]
    fn sack_blocks_fit_in_40_octets() {
        let mut repr = syn4_repr();
        repr.control = TcpControl::None;
        repr.ack_number = Some(TcpSeqNumber(1));
        repr.sack_ranges = [Some((1, 2)), Some((3, 4)), Some((5, 6)), Some((7, 8))];
        let expect = |r: &TcpRepr, blocks: usize| {
            let mut buf = vec![0u8; r.buffer_len()];
            assert!(r.header_len() <= 60);
            r.emit(
                &mut TcpPacket::new_unchecked(&mut buf[..]),
                &LO4,
                &LO4,
                true,
            );
            let p = TcpPacket::new_checked(&buf[..]).unwrap();
            let parsed = TcpRepr::parse(&p, &LO4, &LO4, true).unwrap();
            assert_eq!(parsed.sack_ranges.iter().flatten().count(), blocks);
            assert_eq!(parsed.sack_ranges[..blocks], r.sack_ranges[..blocks]);
        };
        // MSS + SACK-perm/TS + WS = 20 octets: 2 blocks fit.
        expect(&repr, 2);
        repr.max_seg_size = None;
        repr.window_scale = None;
        repr.sack_permitted = false;
        // TS alone: 3 blocks (as Linux does).
        expect(&repr, 3);
        repr.timestamp = None;
        expect(&repr, 4);
        assert_eq!(repr.header_len(), 56);
    }

    #[test]
    fn seq_number_wraparound() {
        let max = TcpSeqNumber(i32::MAX);
        let min = TcpSeqNumber(i32::MIN);
        let top = TcpSeqNumber::from(u32::MAX);
        let zero = TcpSeqNumber(0);
        assert!(top < zero);
        assert!(zero > top);
        assert_eq!(top + 1, zero);
        assert_eq!(zero - 1, top);
        assert_eq!(zero.wrapping_sub(top), 1);
        assert_eq!(top.wrapping_sub(zero), -1);
        assert_eq!(max + 1, min);
        assert!(max < min);
        assert_eq!(top.max(zero), zero);
        assert_eq!(top.min(zero), top);
        let mut s = top;
        s += 10;
        assert_eq!(s, TcpSeqNumber(9));
        s -= 20;
        assert_eq!(s, TcpSeqNumber::from(u32::MAX - 10));
        // No panic on huge offsets: addition is modulo 2^32.
        assert_eq!(zero + (1usize << 32), zero);
        assert_eq!(zero + usize::MAX, top);
        assert_eq!(zero - usize::MAX, TcpSeqNumber(1));
        assert_eq!(min.wrapping_sub(max), 1);
        assert_eq!(format!("{top}"), "4294967295");
    }

    fn addr_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<[u8; 4]>())
                .prop_map(|(s, d)| (IpAddr::from(s), IpAddr::from(d))),
            (any::<[u8; 16]>(), any::<[u8; 16]>())
                .prop_map(|(s, d)| (IpAddr::from(s), IpAddr::from(d))),
        ]
    }

    fn control() -> impl Strategy<Value = TcpControl> {
        prop_oneof![
            Just(TcpControl::None),
            Just(TcpControl::Psh),
            Just(TcpControl::Syn),
            Just(TcpControl::Fin),
            Just(TcpControl::Rst),
        ]
    }

    prop_compose! {
        fn repr_parts()(src_port in any::<u16>(), dst_port in any::<u16>(), control in control(),
                        seq in any::<u32>(), ack in proptest::option::of(any::<u32>()),
                        window_len in any::<u16>(), window_scale in proptest::option::of(0u8..=14),
                        max_seg_size in proptest::option::of(any::<u16>()),
                        sack_permitted in any::<bool>(),
                        blocks in proptest::collection::vec(any::<(u32, u32)>(), 0..=4),
                        timestamp in proptest::option::of(any::<(u32, u32)>()),
                        payload in proptest::collection::vec(any::<u8>(), 0..100))
            -> (TcpRepr<'static>, Vec<(u32, u32)>, Vec<u8>)
        {
            (TcpRepr {
                src_port, dst_port, control,
                seq_number: TcpSeqNumber::from(seq),
                ack_number: ack.map(TcpSeqNumber::from),
                window_len, window_scale, max_seg_size, sack_permitted,
                sack_ranges: [None; 4],
                timestamp: timestamp.map(|(tsval, tsecr)| TcpTimestampRepr { tsval, tsecr }),
                payload: &[],
            }, blocks, payload)
        }
    }

    proptest! {
        #[test]
        fn roundtrip((template, blocks, payload) in repr_parts(), (src, dst) in addr_pair()) {
            let mut repr = TcpRepr { payload: &payload, ..template };
            for (slot, b) in repr.sack_ranges.iter_mut().zip(&blocks) {
                *slot = Some(*b);
            }
            let mut buf = vec![0u8; repr.buffer_len()];
            prop_assert_eq!(repr.header_len() % 4, 0);
            prop_assert!(repr.header_len() <= 60);
            repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &src, &dst, true);
            let p = TcpPacket::new_checked(&buf[..]).unwrap();
            prop_assert!(p.verify_checksum(&src, &dst));
            let parsed = TcpRepr::parse(&p, &src, &dst, true).unwrap();
            // SACK blocks that do not fit are dropped from the tail.
            let mut expect = repr;
            let kept = parsed.sack_ranges.iter().flatten().count();
            prop_assert!(kept >= blocks.len().min(2));
            for slot in expect.sack_ranges.iter_mut().skip(kept) {
                *slot = None;
            }
            prop_assert_eq!(parsed, expect);
            prop_assert_eq!(p.segment_len(), repr.segment_len());
        }

        #[test]
        fn option_roundtrip(kind in 0u8..12, a in any::<u32>(), b in any::<u32>(),
                            n in 0usize..=4, data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut ranges = [None; 4];
            for (i, slot) in ranges.iter_mut().enumerate().take(n) {
                *slot = Some((a.wrapping_add(i as u32), b));
            }
            let option = match kind {
                0 => TcpOption::EndOfList,
                1 => TcpOption::NoOperation,
                2 => TcpOption::MaxSegmentSize(a as u16),
                3 => TcpOption::WindowScale(a as u8),
                4 => TcpOption::SackPermitted,
                5 if n > 0 => TcpOption::SackRange(ranges),
                8 => TcpOption::TimeStamp { tsval: a, tsecr: b },
                _ => TcpOption::Unknown { kind: 9 + (a % 200) as u8, data: &data },
            };
            let mut buf = vec![0u8; option.buffer_len() + 3];
            let rest_len = option.emit(&mut buf).len();
            prop_assert_eq!(rest_len, 3);
            let (rest, parsed) = TcpOption::parse(&buf).unwrap();
            prop_assert_eq!(rest.len(), 3);
            prop_assert_eq!(parsed, option);
        }

        #[test]
        fn any_bytes_no_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80),
                              (src, dst) in addr_pair()) {
            if let Ok(p) = TcpPacket::new_checked(&bytes[..]) {
                let _ = TcpRepr::parse(&p, &src, &dst, true);
                let _ = TcpRepr::parse(&p, &src, &dst, false);
                let _ = (p.options(), p.payload(), p.segment_len(), p.flags());
            }
            let mut opts = &bytes[..];
            while let Ok((rest, _)) = TcpOption::parse(opts) {
                opts = rest;
            }
        }

        #[test]
        fn seq_order_matches_distance(a in any::<i32>(), d in 1i32..i32::MAX) {
            let x = TcpSeqNumber(a);
            let y = x + d as usize;
            prop_assert!(x < y);
            prop_assert!(y > x);
            prop_assert_eq!(y.wrapping_sub(x), d);
            prop_assert_eq!(y - d as usize, x);
            prop_assert_eq!(x.max(y), y);
        }
    }
}
