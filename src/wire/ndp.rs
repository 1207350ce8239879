//! Neighbor Discovery messages and options (RFC 4861).
//!
//! * RFC 4861 4.1-4.5: Router Solicitation, Router Advertisement, Neighbor
//!   Solicitation, Neighbor Advertisement and Redirect, read and written
//!   through extra accessors on [`Icmpv6Packet`].
//! * RFC 4861 4.6: the option format ([`NdiscOption`]) and the Source/Target
//!   Link-Layer Address (4.6.1), Prefix Information (4.6.2), Redirected
//!   Header (4.6.3) and MTU (4.6.4) options ([`NdiscOptionRepr`]).
//!
//! Parsing here checks structure only: the ICMP code is 0, the message is
//! long enough, every option has a nonzero length that fits. The validation
//! rules of RFC 4861 6.1, 7.1 and 8.1 that need the IP header or state (hop
//! limit 255, source address rules, target not multicast, solicited flag on
//! multicast replies, ...) are the stack's job; it counts failures as
//! `ndp_invalid`. Only Ethernet link-layer addresses are supported: the
//! first six octets of a link-layer address option are read.

use crate::wire::field::Field;
use crate::wire::icmpv6::{Icmpv6Message, Icmpv6Packet};
use crate::wire::{Error, EthernetAddress, Result};
use std::net::Ipv6Addr;

enum_with_unknown! {
    /// Neighbor Discovery option types (RFC 4861 4.6).
    pub enum NdiscOptionType(u8) {
        /// Source Link-Layer Address (RFC 4861 4.6.1).
        SourceLinkLayerAddr = 1,
        /// Target Link-Layer Address (RFC 4861 4.6.1).
        TargetLinkLayerAddr = 2,
        /// Prefix Information (RFC 4861 4.6.2).
        PrefixInformation = 3,
        /// Redirected Header (RFC 4861 4.6.3).
        RedirectedHeader = 4,
        /// MTU (RFC 4861 4.6.4).
        Mtu = 5,
    }
}

/// Read a big-endian integer from a fixed field; zero if the buffer is too
/// short (only possible on a view that was not checked for its type).
#[inline]
fn get_be<const N: usize>(data: &[u8], range: Field) -> [u8; N] {
    data.get(range)
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .unwrap_or([0; N])
}

/// Write a fixed field; a no-op if the buffer is too short.
#[inline]
fn set_be(data: &mut [u8], range: Field, value: &[u8]) {
    if let Some(b) = data.get_mut(range) {
        if b.len() == value.len() {
            b.copy_from_slice(value);
        }
    }
}

/// NDP fields of the ICMPv6 message body (RFC 4861 4.1-4.5).
mod field {
    use crate::wire::field::Field;

    // Router Advertisement (RFC 4861 4.2).
    pub const CUR_HOP_LIMIT: Field = 4..5;
    pub const ROUTER_FLAGS: Field = 5..6;
    pub const ROUTER_LT: Field = 6..8;
    pub const REACHABLE_TM: Field = 8..12;
    pub const RETRANS_TM: Field = 12..16;

    // Neighbor Solicitation / Advertisement (4.3, 4.4), Redirect (4.5).
    pub const RESERVED: Field = 4..8;
    pub const NEIGHBOR_FLAGS: Field = 4..5;
    pub const TARGET_ADDR: Field = 8..24;
    pub const DEST_ADDR: Field = 24..40;

    // Options (4.6).
    pub const OPT_TYPE: usize = 0;
    pub const OPT_LENGTH: usize = 1;
    pub const OPT_LL_ADDR: Field = 2..8;
    pub const OPT_PREFIX_LEN: Field = 2..3;
    pub const OPT_PREFIX_FLAGS: Field = 3..4;
    pub const OPT_VALID_LT: Field = 4..8;
    pub const OPT_PREF_LT: Field = 8..12;
    pub const OPT_PREFIX_RESERVED: Field = 12..16;
    pub const OPT_PREFIX: Field = 16..32;
    pub const OPT_REDIR_DATA: usize = 8;
    pub const OPT_MTU_RESERVED: Field = 2..4;
    pub const OPT_MTU: Field = 4..8;
}

/// Offset of the options in each NDP message (RFC 4861 4.1-4.5); `None` for
/// other ICMPv6 types.
#[inline]
pub(crate) fn options_offset(msg_type: Icmpv6Message) -> Option<usize> {
    match msg_type {
        Icmpv6Message::RouterSolicit => Some(8),
        Icmpv6Message::RouterAdvert => Some(16),
        Icmpv6Message::NeighborSolicit | Icmpv6Message::NeighborAdvert => Some(24),
        Icmpv6Message::Redirect => Some(40),
        _ => None,
    }
}

/// Flags of a Neighbor Advertisement (RFC 4861 4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NdiscNeighborFlags(pub u8);

impl NdiscNeighborFlags {
    /// R: the sender is a router.
    pub const ROUTER: u8 = 0x80;
    /// S: sent in response to a Neighbor Solicitation.
    pub const SOLICITED: u8 = 0x40;
    /// O: override an existing cache entry.
    pub const OVERRIDE: u8 = 0x20;

    /// The R (router) flag.
    #[inline]
    pub const fn router(self) -> bool {
        self.0 & Self::ROUTER != 0
    }

    /// The S (solicited) flag.
    #[inline]
    pub const fn solicited(self) -> bool {
        self.0 & Self::SOLICITED != 0
    }

    /// The O (override) flag.
    #[inline]
    pub const fn override_(self) -> bool {
        self.0 & Self::OVERRIDE != 0
    }
}

/// Flags of a Router Advertisement (RFC 4861 4.2; other bits from later
/// RFCs are kept as received).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NdiscRouterFlags(pub u8);

impl NdiscRouterFlags {
    /// M: addresses are available via DHCPv6.
    pub const MANAGED: u8 = 0x80;
    /// O: other configuration is available via DHCPv6.
    pub const OTHER: u8 = 0x40;

    /// The M (managed address configuration) flag.
    #[inline]
    pub const fn managed(self) -> bool {
        self.0 & Self::MANAGED != 0
    }

    /// The O (other configuration) flag.
    #[inline]
    pub const fn other(self) -> bool {
        self.0 & Self::OTHER != 0
    }
}

/// NDP accessors on ICMPv6 messages (RFC 4861 4.1-4.5).
///
/// `check_len` of [`Icmpv6Packet`] checks the length each NDP type needs, so
/// these accessors are in range on a checked message of the right type; on
/// any other message they read zero and write nothing instead of panicking.
impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Cur Hop Limit of a Router Advertisement (RFC 4861 4.2).
    #[inline]
    pub fn current_hop_limit(&self) -> u8 {
        get_be::<1>(self.buffer.as_ref(), field::CUR_HOP_LIMIT)[0]
    }

    /// Flags of a Router Advertisement (RFC 4861 4.2).
    #[inline]
    pub fn router_flags(&self) -> NdiscRouterFlags {
        NdiscRouterFlags(get_be::<1>(self.buffer.as_ref(), field::ROUTER_FLAGS)[0])
    }

    /// Router Lifetime in seconds (RFC 4861 4.2; 0 = not a default router).
    #[inline]
    pub fn router_lifetime(&self) -> u16 {
        u16::from_be_bytes(get_be(self.buffer.as_ref(), field::ROUTER_LT))
    }

    /// Reachable Time in milliseconds (RFC 4861 4.2; 0 = unspecified).
    #[inline]
    pub fn reachable_time(&self) -> u32 {
        u32::from_be_bytes(get_be(self.buffer.as_ref(), field::REACHABLE_TM))
    }

    /// Retrans Timer in milliseconds (RFC 4861 4.2; 0 = unspecified).
    #[inline]
    pub fn retrans_time(&self) -> u32 {
        u32::from_be_bytes(get_be(self.buffer.as_ref(), field::RETRANS_TM))
    }

    /// Target Address of a Neighbor Solicitation, Neighbor Advertisement or
    /// Redirect (RFC 4861 4.3-4.5).
    #[inline]
    pub fn target_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(get_be::<16>(self.buffer.as_ref(), field::TARGET_ADDR))
    }

    /// Flags of a Neighbor Advertisement (RFC 4861 4.4); reserved bits are
    /// masked off (they "MUST be ignored by the receiver").
    #[inline]
    pub fn neighbor_flags(&self) -> NdiscNeighborFlags {
        NdiscNeighborFlags(get_be::<1>(self.buffer.as_ref(), field::NEIGHBOR_FLAGS)[0] & 0xe0)
    }

    /// Destination Address of a Redirect (RFC 4861 4.5).
    #[inline]
    pub fn dest_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(get_be::<16>(self.buffer.as_ref(), field::DEST_ADDR))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Icmpv6Packet<&'a T> {
    /// The options of an NDP message (empty for other types).
    #[inline]
    pub fn ndisc_options(&self) -> &'a [u8] {
        let data = self.buffer.as_ref();
        data.first()
            .and_then(|&t| options_offset(Icmpv6Message::from(t)))
            .and_then(|at| data.get(at..))
            .unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Set Cur Hop Limit (Router Advertisement).
    #[inline]
    pub fn set_current_hop_limit(&mut self, value: u8) {
        set_be(self.buffer.as_mut(), field::CUR_HOP_LIMIT, &[value])
    }

    /// Set the Router Advertisement flags.
    #[inline]
    pub fn set_router_flags(&mut self, value: NdiscRouterFlags) {
        set_be(self.buffer.as_mut(), field::ROUTER_FLAGS, &[value.0])
    }

    /// Set Router Lifetime in seconds.
    #[inline]
    pub fn set_router_lifetime(&mut self, value: u16) {
        set_be(self.buffer.as_mut(), field::ROUTER_LT, &value.to_be_bytes())
    }

    /// Set Reachable Time in milliseconds.
    #[inline]
    pub fn set_reachable_time(&mut self, value: u32) {
        set_be(
            self.buffer.as_mut(),
            field::REACHABLE_TM,
            &value.to_be_bytes(),
        )
    }

    /// Set Retrans Timer in milliseconds.
    #[inline]
    pub fn set_retrans_time(&mut self, value: u32) {
        set_be(
            self.buffer.as_mut(),
            field::RETRANS_TM,
            &value.to_be_bytes(),
        )
    }

    /// Set the Target Address (NS, NA, Redirect).
    #[inline]
    pub fn set_target_addr(&mut self, value: Ipv6Addr) {
        set_be(self.buffer.as_mut(), field::TARGET_ADDR, &value.octets())
    }

    /// Set the Neighbor Advertisement flags (and zero the reserved bits of
    /// the flags word).
    #[inline]
    pub fn set_neighbor_flags(&mut self, value: NdiscNeighborFlags) {
        set_be(
            self.buffer.as_mut(),
            field::RESERVED,
            &[value.0 & 0xe0, 0, 0, 0],
        )
    }

    /// Set the Destination Address (Redirect).
    #[inline]
    pub fn set_dest_addr(&mut self, value: Ipv6Addr) {
        set_be(self.buffer.as_mut(), field::DEST_ADDR, &value.octets())
    }

    /// Zero the reserved word (octets 4..8) of RS, NS and Redirect.
    #[inline]
    pub fn clear_reserved(&mut self) {
        set_be(self.buffer.as_mut(), field::RESERVED, &[0; 4])
    }
}

/// A read/write view of one NDP option (RFC 4861 4.6).
///
/// The buffer may extend past the option; the option itself is its first
/// [`option_len`](Self::option_len) octets.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct NdiscOption<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NdiscOption<T> {
    /// Wrap a buffer without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> NdiscOption<T> {
        NdiscOption { buffer }
    }

    /// Wrap a buffer and validate it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<NdiscOption<T>> {
        let opt = Self::new_unchecked(buffer);
        opt.check_len()?;
        Ok(opt)
    }

    /// Check the option's length.
    ///
    /// [`Error::Truncated`] if the buffer is shorter than 2 octets or than
    /// the length field says; [`Error::Malformed`] if the length field is 0
    /// (RFC 4861 4.6: "Nodes MUST silently discard an ND packet that contains
    /// an option with length zero"), or if a Prefix Information option is not
    /// 4 units (4.6.2) or an MTU option not 1 unit (4.6.4).
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < 2 {
            return Err(Error::Truncated);
        }
        let units = data[field::OPT_LENGTH];
        if units == 0 {
            return Err(Error::Malformed);
        }
        if data.len() < usize::from(units) * 8 {
            return Err(Error::Truncated);
        }
        match (self.option_type(), units) {
            (NdiscOptionType::PrefixInformation, 4) | (NdiscOptionType::Mtu, 1) => Ok(()),
            (NdiscOptionType::PrefixInformation | NdiscOptionType::Mtu, _) => Err(Error::Malformed),
            _ => Ok(()),
        }
    }

    /// Return the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The option type.
    #[inline]
    pub fn option_type(&self) -> NdiscOptionType {
        NdiscOptionType::from(self.buffer.as_ref()[field::OPT_TYPE])
    }

    /// The length field, in units of 8 octets.
    #[inline]
    pub fn data_len(&self) -> u8 {
        self.buffer.as_ref()[field::OPT_LENGTH]
    }

    /// The option's length in octets (length field times 8), clamped to the
    /// buffer.
    #[inline]
    pub fn option_len(&self) -> usize {
        (usize::from(self.data_len()) * 8).min(self.buffer.as_ref().len())
    }

    /// The link-layer address of a Source/Target Link-Layer Address option
    /// (RFC 4861 4.6.1; RFC 2464 6 for Ethernet).
    #[inline]
    pub fn link_layer_addr(&self) -> EthernetAddress {
        EthernetAddress(get_be(self.buffer.as_ref(), field::OPT_LL_ADDR))
    }

    /// Prefix Length of a Prefix Information option (RFC 4861 4.6.2).
    #[inline]
    pub fn prefix_len(&self) -> u8 {
        get_be::<1>(self.buffer.as_ref(), field::OPT_PREFIX_LEN)[0]
    }

    /// The flags octet of a Prefix Information option (L = 0x80, A = 0x40).
    #[inline]
    pub fn prefix_flags(&self) -> u8 {
        get_be::<1>(self.buffer.as_ref(), field::OPT_PREFIX_FLAGS)[0]
    }

    /// Valid Lifetime in seconds (RFC 4861 4.6.2; all ones = infinity).
    #[inline]
    pub fn valid_lifetime(&self) -> u32 {
        u32::from_be_bytes(get_be(self.buffer.as_ref(), field::OPT_VALID_LT))
    }

    /// Preferred Lifetime in seconds (RFC 4861 4.6.2; all ones = infinity).
    #[inline]
    pub fn preferred_lifetime(&self) -> u32 {
        u32::from_be_bytes(get_be(self.buffer.as_ref(), field::OPT_PREF_LT))
    }

    /// The Prefix of a Prefix Information option.
    #[inline]
    pub fn prefix(&self) -> Ipv6Addr {
        Ipv6Addr::from(get_be::<16>(self.buffer.as_ref(), field::OPT_PREFIX))
    }

    /// The MTU of an MTU option (RFC 4861 4.6.4).
    #[inline]
    pub fn mtu(&self) -> u32 {
        u32::from_be_bytes(get_be(self.buffer.as_ref(), field::OPT_MTU))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> NdiscOption<&'a T> {
    /// The option's contents after the type and length octets.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        let end = self.option_len();
        self.buffer.as_ref().get(2..end).unwrap_or(&[])
    }

    /// The IP header and data of a Redirected Header option (RFC 4861 4.6.3),
    /// including any zero padding.
    #[inline]
    pub fn redirected_header(&self) -> &'a [u8] {
        let end = self.option_len();
        self.buffer
            .as_ref()
            .get(field::OPT_REDIR_DATA..end)
            .unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NdiscOption<T> {
    /// Set the option type.
    #[inline]
    pub fn set_option_type(&mut self, value: NdiscOptionType) {
        self.buffer.as_mut()[field::OPT_TYPE] = value.into();
    }

    /// Set the length field, in units of 8 octets.
    #[inline]
    pub fn set_data_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::OPT_LENGTH] = value;
    }

    /// Set the link-layer address.
    #[inline]
    pub fn set_link_layer_addr(&mut self, value: EthernetAddress) {
        set_be(self.buffer.as_mut(), field::OPT_LL_ADDR, &value.0)
    }

    /// Set the Prefix Length.
    #[inline]
    pub fn set_prefix_len(&mut self, value: u8) {
        set_be(self.buffer.as_mut(), field::OPT_PREFIX_LEN, &[value])
    }

    /// Set the Prefix Information flags octet.
    #[inline]
    pub fn set_prefix_flags(&mut self, value: u8) {
        set_be(self.buffer.as_mut(), field::OPT_PREFIX_FLAGS, &[value])
    }

    /// Set the Valid Lifetime.
    #[inline]
    pub fn set_valid_lifetime(&mut self, value: u32) {
        set_be(
            self.buffer.as_mut(),
            field::OPT_VALID_LT,
            &value.to_be_bytes(),
        )
    }

    /// Set the Preferred Lifetime.
    #[inline]
    pub fn set_preferred_lifetime(&mut self, value: u32) {
        set_be(
            self.buffer.as_mut(),
            field::OPT_PREF_LT,
            &value.to_be_bytes(),
        )
    }

    /// Set the Prefix (and zero the reserved word before it).
    #[inline]
    pub fn set_prefix(&mut self, value: Ipv6Addr) {
        let data = self.buffer.as_mut();
        set_be(data, field::OPT_PREFIX_RESERVED, &[0; 4]);
        set_be(data, field::OPT_PREFIX, &value.octets())
    }

    /// Set the MTU (and zero the reserved octets before it).
    #[inline]
    pub fn set_mtu(&mut self, value: u32) {
        let data = self.buffer.as_mut();
        set_be(data, field::OPT_MTU_RESERVED, &[0; 2]);
        set_be(data, field::OPT_MTU, &value.to_be_bytes())
    }

    /// The option's contents after the type and length octets, mutably.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let end = self.option_len();
        self.buffer.as_mut().get_mut(2..end).unwrap_or(&mut [])
    }
}

/// The contents of a Prefix Information option (RFC 4861 4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NdiscPrefixInformation {
    /// Number of leading bits of `prefix` that are valid (0..=128; not
    /// checked here).
    pub prefix_len: u8,
    /// Flags: on-link [`ON_LINK`](Self::ON_LINK) and autonomous
    /// [`AUTONOMOUS`](Self::AUTONOMOUS); other bits as received.
    pub flags: u8,
    /// Valid Lifetime in seconds (all ones = infinity).
    pub valid_lifetime: u32,
    /// Preferred Lifetime in seconds (all ones = infinity).
    pub preferred_lifetime: u32,
    /// The prefix.
    pub prefix: Ipv6Addr,
}

impl NdiscPrefixInformation {
    /// L: the prefix is on-link.
    pub const ON_LINK: u8 = 0x80;
    /// A: the prefix can be used for SLAAC (RFC 4862).
    pub const AUTONOMOUS: u8 = 0x40;

    /// The L (on-link) flag.
    #[inline]
    pub const fn on_link(&self) -> bool {
        self.flags & Self::ON_LINK != 0
    }

    /// The A (autonomous address configuration) flag.
    #[inline]
    pub const fn autonomous(&self) -> bool {
        self.flags & Self::AUTONOMOUS != 0
    }
}

/// The meaning of one NDP option (RFC 4861 4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdiscOptionRepr<'a> {
    /// Source Link-Layer Address (RFC 4861 4.6.1).
    SourceLinkLayerAddr(EthernetAddress),
    /// Target Link-Layer Address (RFC 4861 4.6.1).
    TargetLinkLayerAddr(EthernetAddress),
    /// Prefix Information (RFC 4861 4.6.2).
    PrefixInformation(NdiscPrefixInformation),
    /// Redirected Header (RFC 4861 4.6.3): the IP header and data of the
    /// redirected packet, as carried (with its zero padding to 8 octets).
    RedirectedHeader(&'a [u8]),
    /// MTU (RFC 4861 4.6.4).
    Mtu(u32),
    /// An option this implementation does not interpret (RFC 4861 4.6:
    /// receivers ignore it).
    Unknown {
        /// The option type.
        type_: u8,
        /// The length field, in units of 8 octets.
        length: u8,
        /// The contents after the type and length octets.
        data: &'a [u8],
    },
}

impl<'a> NdiscOptionRepr<'a> {
    /// Parse an option, checking it with [`NdiscOption::check_len`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(opt: &NdiscOption<&'a T>) -> Result<NdiscOptionRepr<'a>> {
        opt.check_len()?;
        Ok(match opt.option_type() {
            NdiscOptionType::SourceLinkLayerAddr => {
                NdiscOptionRepr::SourceLinkLayerAddr(opt.link_layer_addr())
            }
            NdiscOptionType::TargetLinkLayerAddr => {
                NdiscOptionRepr::TargetLinkLayerAddr(opt.link_layer_addr())
            }
            NdiscOptionType::PrefixInformation => {
                NdiscOptionRepr::PrefixInformation(NdiscPrefixInformation {
                    prefix_len: opt.prefix_len(),
                    flags: opt.prefix_flags(),
                    valid_lifetime: opt.valid_lifetime(),
                    preferred_lifetime: opt.preferred_lifetime(),
                    prefix: opt.prefix(),
                })
            }
            NdiscOptionType::RedirectedHeader => {
                NdiscOptionRepr::RedirectedHeader(opt.redirected_header())
            }
            NdiscOptionType::Mtu => NdiscOptionRepr::Mtu(opt.mtu()),
            NdiscOptionType::Unknown(type_) => NdiscOptionRepr::Unknown {
                type_,
                length: opt.data_len(),
                data: opt.data(),
            },
        })
    }

    /// Parse the option at the start of `bytes`; return the rest after it.
    pub fn parse_first(bytes: &'a [u8]) -> Result<(&'a [u8], NdiscOptionRepr<'a>)> {
        let opt = NdiscOption::new_checked(bytes)?;
        let repr = NdiscOptionRepr::parse(&opt)?;
        Ok((&bytes[opt.option_len()..], repr))
    }

    /// Largest redirected data an option can carry: 255 units minus the
    /// 8-octet option header.
    const MAX_REDIRECTED: usize = 255 * 8 - 8;

    /// Length of the option [`emit`](Self::emit) writes, a multiple of 8.
    ///
    /// A Redirected Header is padded to 8 octets (and cut at 2032); an
    /// Unknown option is `length` units long.
    pub fn buffer_len(&self) -> usize {
        match self {
            NdiscOptionRepr::SourceLinkLayerAddr(_)
            | NdiscOptionRepr::TargetLinkLayerAddr(_)
            | NdiscOptionRepr::Mtu(_) => 8,
            NdiscOptionRepr::PrefixInformation(_) => 32,
            NdiscOptionRepr::RedirectedHeader(data) => {
                8 + data.len().min(Self::MAX_REDIRECTED).div_ceil(8) * 8
            }
            NdiscOptionRepr::Unknown { length, .. } => usize::from(*length) * 8,
        }
    }

    /// Write the option into `opt`.
    ///
    /// Does not panic if the buffer is at least [`buffer_len`](Self::buffer_len)
    /// octets. An Unknown option with `length` 0 writes nothing; its data is
    /// cut or zero-padded to `length` units.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, opt: &mut NdiscOption<T>) {
        let len = self.buffer_len();
        if len == 0 {
            return;
        }
        let units = (len / 8) as u8;
        opt.buffer.as_mut()[..len].fill(0);
        match *self {
            NdiscOptionRepr::SourceLinkLayerAddr(addr) => {
                opt.set_option_type(NdiscOptionType::SourceLinkLayerAddr);
                opt.set_data_len(units);
                opt.set_link_layer_addr(addr);
            }
            NdiscOptionRepr::TargetLinkLayerAddr(addr) => {
                opt.set_option_type(NdiscOptionType::TargetLinkLayerAddr);
                opt.set_data_len(units);
                opt.set_link_layer_addr(addr);
            }
            NdiscOptionRepr::PrefixInformation(info) => {
                opt.set_option_type(NdiscOptionType::PrefixInformation);
                opt.set_data_len(units);
                opt.set_prefix_len(info.prefix_len);
                opt.set_prefix_flags(info.flags);
                opt.set_valid_lifetime(info.valid_lifetime);
                opt.set_preferred_lifetime(info.preferred_lifetime);
                opt.set_prefix(info.prefix);
            }
            NdiscOptionRepr::RedirectedHeader(data) => {
                opt.set_option_type(NdiscOptionType::RedirectedHeader);
                opt.set_data_len(units);
                let n = data.len().min(Self::MAX_REDIRECTED);
                let at = field::OPT_REDIR_DATA;
                opt.buffer.as_mut()[at..at + n].copy_from_slice(&data[..n]);
            }
            NdiscOptionRepr::Mtu(mtu) => {
                opt.set_option_type(NdiscOptionType::Mtu);
                opt.set_data_len(units);
                opt.set_mtu(mtu);
            }
            NdiscOptionRepr::Unknown { type_, data, .. } => {
                opt.set_option_type(NdiscOptionType::Unknown(type_));
                opt.set_data_len(units);
                let n = data.len().min(len - 2);
                opt.buffer.as_mut()[2..2 + n].copy_from_slice(&data[..n]);
            }
        }
    }
}

/// Iterator over the options of an NDP message, yielding each parsed
/// option; after an error it yields that error once and stops.
#[derive(Debug, Clone)]
pub struct NdiscOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> NdiscOptionIter<'a> {
    /// Iterate over the options in `options` (e.g.
    /// [`Icmpv6Packet::ndisc_options`]).
    #[inline]
    pub const fn new(options: &'a [u8]) -> NdiscOptionIter<'a> {
        NdiscOptionIter { rest: options }
    }
}

impl<'a> Iterator for NdiscOptionIter<'a> {
    type Item = Result<NdiscOptionRepr<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match NdiscOptionRepr::parse_first(self.rest) {
            Ok((rest, repr)) => {
                self.rest = rest;
                Some(Ok(repr))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// The meaning of a Neighbor Discovery message (RFC 4861 4.1-4.5).
///
/// Options a message type does not use, and unknown options, are skipped
/// (RFC 4861 4.6); of repeated options the first is kept. A Router
/// Advertisement may carry several Prefix Information options: the Repr
/// keeps the first; walk [`NdiscOptionIter`] over
/// [`Icmpv6Packet::ndisc_options`] for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdiscRepr<'a> {
    /// Router Solicitation (RFC 4861 4.1).
    RouterSolicit {
        /// Source Link-Layer Address option.
        lladdr: Option<EthernetAddress>,
    },
    /// Router Advertisement (RFC 4861 4.2).
    RouterAdvert {
        /// Cur Hop Limit (0 = unspecified).
        hop_limit: u8,
        /// M / O (and later) flags.
        flags: NdiscRouterFlags,
        /// Router Lifetime in seconds.
        router_lifetime: u16,
        /// Reachable Time in milliseconds.
        reachable_time: u32,
        /// Retrans Timer in milliseconds.
        retrans_time: u32,
        /// Source Link-Layer Address option.
        lladdr: Option<EthernetAddress>,
        /// MTU option.
        mtu: Option<u32>,
        /// The first Prefix Information option.
        prefix_info: Option<NdiscPrefixInformation>,
    },
    /// Neighbor Solicitation (RFC 4861 4.3).
    NeighborSolicit {
        /// Target Address.
        target_addr: Ipv6Addr,
        /// Source Link-Layer Address option.
        lladdr: Option<EthernetAddress>,
    },
    /// Neighbor Advertisement (RFC 4861 4.4).
    NeighborAdvert {
        /// R / S / O flags.
        flags: NdiscNeighborFlags,
        /// Target Address.
        target_addr: Ipv6Addr,
        /// Target Link-Layer Address option.
        lladdr: Option<EthernetAddress>,
    },
    /// Redirect (RFC 4861 4.5).
    Redirect {
        /// Target Address (the better first hop).
        target_addr: Ipv6Addr,
        /// Destination Address (being redirected).
        dest_addr: Ipv6Addr,
        /// Target Link-Layer Address option.
        lladdr: Option<EthernetAddress>,
        /// Redirected Header option contents.
        redirected_hdr: Option<&'a [u8]>,
    },
}

impl<'a> NdiscRepr<'a> {
    /// Parse an NDP message (the ICMPv6 checksum is checked by
    /// [`Icmpv6Repr::parse`](crate::wire::icmpv6::Icmpv6Repr::parse)).
    ///
    /// [`Error::Truncated`] if shorter than its type needs or an option is
    /// cut; [`Error::Malformed`] if the code is not 0 (RFC 4861 6.1.1, 6.1.2,
    /// 7.1.1, 7.1.2, 8.1: "ICMP Code is 0") or an option is bad (see
    /// [`NdiscOption::check_len`]); [`Error::Unrecognized`] if the message is
    /// not an NDP type.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Icmpv6Packet<&'a T>) -> Result<NdiscRepr<'a>> {
        packet.check_len()?;
        let msg_type = packet.msg_type();
        if options_offset(msg_type).is_none() {
            return Err(Error::Unrecognized);
        }
        if packet.msg_code() != 0 {
            return Err(Error::Malformed);
        }
        let mut source_lladdr = None;
        let mut target_lladdr = None;
        let mut mtu = None;
        let mut prefix_info = None;
        let mut redirected_hdr = None;
        for option in NdiscOptionIter::new(packet.ndisc_options()) {
            match option? {
                NdiscOptionRepr::SourceLinkLayerAddr(a) => {
                    source_lladdr.get_or_insert(a);
                }
                NdiscOptionRepr::TargetLinkLayerAddr(a) => {
                    target_lladdr.get_or_insert(a);
                }
                NdiscOptionRepr::PrefixInformation(p) => {
                    prefix_info.get_or_insert(p);
                }
                NdiscOptionRepr::RedirectedHeader(h) => {
                    redirected_hdr.get_or_insert(h);
                }
                NdiscOptionRepr::Mtu(m) => {
                    mtu.get_or_insert(m);
                }
                NdiscOptionRepr::Unknown { .. } => {}
            }
        }
        Ok(match msg_type {
            Icmpv6Message::RouterSolicit => NdiscRepr::RouterSolicit {
                lladdr: source_lladdr,
            },
            Icmpv6Message::RouterAdvert => NdiscRepr::RouterAdvert {
                hop_limit: packet.current_hop_limit(),
                flags: packet.router_flags(),
                router_lifetime: packet.router_lifetime(),
                reachable_time: packet.reachable_time(),
                retrans_time: packet.retrans_time(),
                lladdr: source_lladdr,
                mtu,
                prefix_info,
            },
            Icmpv6Message::NeighborSolicit => NdiscRepr::NeighborSolicit {
                target_addr: packet.target_addr(),
                lladdr: source_lladdr,
            },
            Icmpv6Message::NeighborAdvert => NdiscRepr::NeighborAdvert {
                flags: packet.neighbor_flags(),
                target_addr: packet.target_addr(),
                lladdr: target_lladdr,
            },
            // options_offset() returned Some, so this is a Redirect.
            _ => NdiscRepr::Redirect {
                target_addr: packet.target_addr(),
                dest_addr: packet.dest_addr(),
                lladdr: target_lladdr,
                redirected_hdr,
            },
        })
    }

    /// The ICMPv6 type of this message.
    #[inline]
    pub const fn msg_type(&self) -> Icmpv6Message {
        match self {
            NdiscRepr::RouterSolicit { .. } => Icmpv6Message::RouterSolicit,
            NdiscRepr::RouterAdvert { .. } => Icmpv6Message::RouterAdvert,
            NdiscRepr::NeighborSolicit { .. } => Icmpv6Message::NeighborSolicit,
            NdiscRepr::NeighborAdvert { .. } => Icmpv6Message::NeighborAdvert,
            NdiscRepr::Redirect { .. } => Icmpv6Message::Redirect,
        }
    }

    /// The options this message carries, in emit order.
    fn options(&self) -> [Option<NdiscOptionRepr<'a>>; 3] {
        match *self {
            NdiscRepr::RouterSolicit { lladdr } | NdiscRepr::NeighborSolicit { lladdr, .. } => {
                [lladdr.map(NdiscOptionRepr::SourceLinkLayerAddr), None, None]
            }
            NdiscRepr::RouterAdvert {
                lladdr,
                mtu,
                prefix_info,
                ..
            } => [
                lladdr.map(NdiscOptionRepr::SourceLinkLayerAddr),
                mtu.map(NdiscOptionRepr::Mtu),
                prefix_info.map(NdiscOptionRepr::PrefixInformation),
            ],
            NdiscRepr::NeighborAdvert { lladdr, .. } => {
                [lladdr.map(NdiscOptionRepr::TargetLinkLayerAddr), None, None]
            }
            NdiscRepr::Redirect {
                lladdr,
                redirected_hdr,
                ..
            } => [
                lladdr.map(NdiscOptionRepr::TargetLinkLayerAddr),
                redirected_hdr.map(NdiscOptionRepr::RedirectedHeader),
                None,
            ],
        }
    }

    /// Length of the message [`emit`](Self::emit) writes (ICMPv6 header
    /// included).
    pub fn buffer_len(&self) -> usize {
        // options_offset is Some for every NDP type.
        let header = options_offset(self.msg_type()).unwrap_or(8);
        header
            + self
                .options()
                .iter()
                .flatten()
                .map(NdiscOptionRepr::buffer_len)
                .sum::<usize>()
    }

    /// Write the message (type, code 0, body, options) into `packet`; the
    /// checksum is left to
    /// [`Icmpv6Repr::emit`](crate::wire::icmpv6::Icmpv6Repr::emit).
    ///
    /// Does not panic if the buffer is at least [`buffer_len`](Self::buffer_len)
    /// octets.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Icmpv6Packet<T>) {
        packet.set_msg_type(self.msg_type());
        packet.set_msg_code(0);
        packet.clear_reserved();
        match *self {
            NdiscRepr::RouterSolicit { .. } => {}
            NdiscRepr::RouterAdvert {
                hop_limit,
                flags,
                router_lifetime,
                reachable_time,
                retrans_time,
                ..
            } => {
                packet.set_current_hop_limit(hop_limit);
                packet.set_router_flags(flags);
                packet.set_router_lifetime(router_lifetime);
                packet.set_reachable_time(reachable_time);
                packet.set_retrans_time(retrans_time);
            }
            NdiscRepr::NeighborSolicit { target_addr, .. } => {
                packet.set_target_addr(target_addr);
            }
            NdiscRepr::NeighborAdvert {
                flags, target_addr, ..
            } => {
                packet.set_neighbor_flags(flags);
                packet.set_target_addr(target_addr);
            }
            NdiscRepr::Redirect {
                target_addr,
                dest_addr,
                ..
            } => {
                packet.set_target_addr(target_addr);
                packet.set_dest_addr(dest_addr);
            }
        }
        let mut at = options_offset(self.msg_type()).unwrap_or(8);
        for option in self.options().iter().flatten() {
            let len = option.buffer_len();
            let buf = &mut packet.buffer.as_mut()[at..at + len];
            option.emit(&mut NdiscOption::new_unchecked(buf));
            at += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmpv6::Icmpv6Repr;
    use proptest::prelude::*;

    const MAC1: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
    const MAC2: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// Neighbor Solicitation 2001:2::1 -> ff02::1:ff00:2 for 2001:2::2 with
    /// SLLA 02:00:00:00:00:01, sent by Linux 6.x over a veth pair.
    const NS: [u8; 32] = [
        0x87, 0x00, 0x37, 0x93, 0x00, 0x00, 0x00, 0x00, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00,
        0x00, 0x01,
    ];
    /// The solicited Neighbor Advertisement 2001:2::2 -> 2001:2::1 (S, O)
    /// with TLLA 02:00:00:00:00:02.
    const NA: [u8; 32] = [
        0x88, 0x00, 0xb3, 0x93, 0x60, 0x00, 0x00, 0x00, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00,
        0x00, 0x02,
    ];
    /// Router Solicitation fe80::ff:fe00:2 -> ff02::2 with SLLA, sent by
    /// Linux on link up.
    const RS: [u8; 16] = [
        0x85, 0x00, 0x7b, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x02,
    ];
    /// Duplicate Address Detection NS from :: for fe80::ff:fe00:2 (no SLLA,
    /// RFC 4862 5.4.2), sent by Linux with a Nonce option (type 14,
    /// RFC 7527), which this implementation does not interpret.
    const DAD_NS: [u8; 32] = [
        0x87, 0x00, 0x67, 0x44, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x02, 0x0e, 0x01, 0x78, 0xb2, 0xc3, 0x98,
        0xcb, 0x8a,
    ];

    fn ns_src() -> Ipv6Addr {
        a("2001:2::1")
    }
    fn ns_dst() -> Ipv6Addr {
        a("ff02::1:ff00:2")
    }

    #[test]
    fn deconstruct_ns() {
        let p = Icmpv6Packet::new_checked(&NS[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv6Message::NeighborSolicit);
        assert_eq!(p.target_addr(), a("2001:2::2"));
        assert!(p.verify_checksum(&ns_src(), &ns_dst()));
        let opt = NdiscOption::new_checked(p.ndisc_options()).unwrap();
        assert_eq!(opt.option_type(), NdiscOptionType::SourceLinkLayerAddr);
        assert_eq!(opt.data_len(), 1);
        assert_eq!(opt.link_layer_addr(), MAC1);
        let repr = NdiscRepr::parse(&p).unwrap();
        assert_eq!(
            repr,
            NdiscRepr::NeighborSolicit {
                target_addr: a("2001:2::2"),
                lladdr: Some(MAC1)
            }
        );
        assert_eq!(
            Icmpv6Repr::parse(&ns_src(), &ns_dst(), &p),
            Ok(Icmpv6Repr::Ndisc(repr))
        );
    }

    #[test]
    fn construct_ns_na_rs() {
        let cases: [(&[u8], Ipv6Addr, Ipv6Addr, NdiscRepr); 3] = [
            (
                &NS,
                ns_src(),
                ns_dst(),
                NdiscRepr::NeighborSolicit {
                    target_addr: a("2001:2::2"),
                    lladdr: Some(MAC1),
                },
            ),
            (
                &NA,
                a("2001:2::2"),
                a("2001:2::1"),
                NdiscRepr::NeighborAdvert {
                    flags: NdiscNeighborFlags(
                        NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::OVERRIDE,
                    ),
                    target_addr: a("2001:2::2"),
                    lladdr: Some(MAC2),
                },
            ),
            (
                &RS,
                a("fe80::ff:fe00:2"),
                a("ff02::2"),
                NdiscRepr::RouterSolicit { lladdr: Some(MAC2) },
            ),
        ];
        for (bytes, src, dst, ndisc) in cases {
            let repr = Icmpv6Repr::Ndisc(ndisc);
            assert_eq!(repr.buffer_len(), bytes.len());
            let mut buf = vec![0xeeu8; bytes.len()];
            repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
            assert_eq!(buf, bytes);
            let p = Icmpv6Packet::new_checked(bytes).unwrap();
            assert_eq!(Icmpv6Repr::parse(&src, &dst, &p), Ok(repr));
        }
        // The DAD probe parses; its Nonce option is skipped.
        let p = Icmpv6Packet::new_checked(&DAD_NS[..]).unwrap();
        let (unspec, dst) = (Ipv6Addr::UNSPECIFIED, a("ff02::1:ff00:2"));
        assert!(p.verify_checksum(&unspec, &dst));
        assert_eq!(
            Icmpv6Repr::parse(&unspec, &dst, &p),
            Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
                target_addr: a("fe80::ff:fe00:2"),
                lladdr: None,
            }))
        );
        let nonce: Vec<_> = NdiscOptionIter::new(p.ndisc_options()).collect();
        assert_eq!(
            nonce,
            [Ok(NdiscOptionRepr::Unknown {
                type_: 14,
                length: 1,
                data: &DAD_NS[26..32],
            })]
        );
        let p = Icmpv6Packet::new_checked(&NA[..]).unwrap();
        let f = p.neighbor_flags();
        assert!(f.solicited() && f.override_() && !f.router());
    }

    #[test]
    fn router_advert_fields() {
        // Constructed per RFC 4861 4.2 (no router ran in the capture setup):
        // hop limit 64, M flag, lifetime 1800 s, SLLA, MTU 1500, and a /64
        // prefix with L and A set.
        let prefix = NdiscPrefixInformation {
            prefix_len: 64,
            flags: NdiscPrefixInformation::ON_LINK | NdiscPrefixInformation::AUTONOMOUS,
            valid_lifetime: 86400,
            preferred_lifetime: 14400,
            prefix: a("2001:2::"),
        };
        let repr = NdiscRepr::RouterAdvert {
            hop_limit: 64,
            flags: NdiscRouterFlags(NdiscRouterFlags::MANAGED),
            router_lifetime: 1800,
            reachable_time: 30000,
            retrans_time: 1000,
            lladdr: Some(MAC1),
            mtu: Some(1500),
            prefix_info: Some(prefix),
        };
        assert_eq!(repr.buffer_len(), 16 + 8 + 8 + 32);
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        #[rustfmt::skip]
        let want: [u8; 64] = [
            0x86, 0x00, 0x00, 0x00, 64, 0x80, 0x07, 0x08,
            0x00, 0x00, 0x75, 0x30, 0x00, 0x00, 0x03, 0xe8,
            0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
            0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, 0xdc,
            0x03, 0x04, 64, 0xc0, 0x00, 0x01, 0x51, 0x80,
            0x00, 0x00, 0x38, 0x40, 0x00, 0x00, 0x00, 0x00,
            0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(buf, want);
        let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.current_hop_limit(), 64);
        assert!(p.router_flags().managed() && !p.router_flags().other());
        assert_eq!(p.router_lifetime(), 1800);
        assert_eq!(p.reachable_time(), 30000);
        assert_eq!(p.retrans_time(), 1000);
        assert_eq!(NdiscRepr::parse(&p), Ok(repr));
        let opts: Vec<_> = NdiscOptionIter::new(p.ndisc_options())
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(
            opts,
            [
                NdiscOptionRepr::SourceLinkLayerAddr(MAC1),
                NdiscOptionRepr::Mtu(1500),
                NdiscOptionRepr::PrefixInformation(prefix),
            ]
        );
        assert!(prefix.on_link() && prefix.autonomous());
    }

    #[test]
    fn structural_errors() {
        // Zero-length option (RFC 4861 4.6).
        let mut buf = NS;
        buf[25] = 0;
        let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(NdiscRepr::parse(&p), Err(Error::Malformed));
        // Option running past the message.
        let mut buf = NS;
        buf[25] = 2;
        let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(NdiscRepr::parse(&p), Err(Error::Truncated));
        // Nonzero code.
        let mut buf = NS;
        buf[1] = 1;
        let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(NdiscRepr::parse(&p), Err(Error::Malformed));
        // Bad Prefix Information / MTU lengths.
        assert_eq!(
            NdiscOption::new_checked(&[3u8, 1, 0, 0, 0, 0, 0, 0][..]).err(),
            Some(Error::Malformed)
        );
        assert_eq!(
            NdiscOption::new_checked(&[5u8, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..]).err(),
            Some(Error::Malformed)
        );
        // Truncation at every length: Err, never a panic.
        for bytes in [&NS[..], &NA[..], &RS[..], &DAD_NS[..]] {
            for n in 0..bytes.len() {
                let r = Icmpv6Packet::new_checked(&bytes[..n]).and_then(|p| NdiscRepr::parse(&p));
                // Cutting exactly at the options leaves a valid message.
                let boundary = options_offset(Icmpv6Message::from(bytes[0]));
                assert!(r.is_err() || Some(n) == boundary, "len {n}");
            }
        }
        // Unknown options are skipped.
        let mut buf = NS.to_vec();
        buf.extend_from_slice(&[0xfe, 1, 1, 2, 3, 4, 5, 6]);
        let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert!(NdiscRepr::parse(&p).is_ok());
        // NDP accessors on a short non-NDP message do not panic.
        let echo = [0x80u8, 0, 0, 0, 0, 0, 0, 0];
        let mut echo_mut = echo;
        let p = Icmpv6Packet::new_checked(&echo[..]).unwrap();
        assert_eq!(p.target_addr(), Ipv6Addr::UNSPECIFIED);
        assert_eq!(p.retrans_time(), 0);
        assert!(p.ndisc_options().is_empty());
        let mut p = Icmpv6Packet::new_checked(&mut echo_mut[..]).unwrap();
        p.set_dest_addr(a("::1"));
        p.set_retrans_time(7);
    }

    fn mac() -> impl Strategy<Value = EthernetAddress> {
        any::<[u8; 6]>().prop_map(EthernetAddress)
    }

    fn ip6() -> impl Strategy<Value = Ipv6Addr> {
        any::<[u8; 16]>().prop_map(Ipv6Addr::from)
    }

    prop_compose! {
        fn prefix_info()(prefix_len in any::<u8>(), flags in any::<u8>(), valid_lifetime in any::<u32>(),
                         preferred_lifetime in any::<u32>(), prefix in ip6()) -> NdiscPrefixInformation {
            NdiscPrefixInformation { prefix_len, flags, valid_lifetime, preferred_lifetime, prefix }
        }
    }

    /// Byte strings whose length is a multiple of 8 (redirected headers
    /// round-trip with their padding).
    fn padded_bytes() -> impl Strategy<Value = &'static [u8]> {
        (0usize..6).prop_flat_map(|units| {
            proptest::collection::vec(any::<u8>(), units * 8)
                .prop_map(|v| &*Box::leak(v.into_boxed_slice()))
        })
    }

    pub(crate) fn ndisc_repr() -> impl Strategy<Value = NdiscRepr<'static>> {
        prop_oneof![
            proptest::option::of(mac()).prop_map(|lladdr| NdiscRepr::RouterSolicit { lladdr }),
            (
                any::<(u8, u8, u16, u32, u32)>(),
                proptest::option::of(mac()),
                proptest::option::of(any::<u32>()),
                proptest::option::of(prefix_info())
            )
                .prop_map(
                    |((hop_limit, flags, lt, reach, retrans), lladdr, mtu, prefix_info)| {
                        NdiscRepr::RouterAdvert {
                            hop_limit,
                            flags: NdiscRouterFlags(flags),
                            router_lifetime: lt,
                            reachable_time: reach,
                            retrans_time: retrans,
                            lladdr,
                            mtu,
                            prefix_info,
                        }
                    }
                ),
            (ip6(), proptest::option::of(mac())).prop_map(|(target_addr, lladdr)| {
                NdiscRepr::NeighborSolicit {
                    target_addr,
                    lladdr,
                }
            }),
            (any::<u8>(), ip6(), proptest::option::of(mac())).prop_map(
                |(flags, target_addr, lladdr)| NdiscRepr::NeighborAdvert {
                    flags: NdiscNeighborFlags(flags & 0xe0),
                    target_addr,
                    lladdr,
                }
            ),
            (
                ip6(),
                ip6(),
                proptest::option::of(mac()),
                proptest::option::of(padded_bytes())
            )
                .prop_map(|(target_addr, dest_addr, lladdr, redirected_hdr)| {
                    NdiscRepr::Redirect {
                        target_addr,
                        dest_addr,
                        lladdr,
                        redirected_hdr,
                    }
                }),
        ]
    }

    fn option_repr() -> impl Strategy<Value = NdiscOptionRepr<'static>> {
        prop_oneof![
            mac().prop_map(NdiscOptionRepr::SourceLinkLayerAddr),
            mac().prop_map(NdiscOptionRepr::TargetLinkLayerAddr),
            prefix_info().prop_map(NdiscOptionRepr::PrefixInformation),
            padded_bytes().prop_map(NdiscOptionRepr::RedirectedHeader),
            any::<u32>().prop_map(NdiscOptionRepr::Mtu),
            (6u8..=255, 1u8..5).prop_flat_map(|(type_, length)| {
                proptest::collection::vec(any::<u8>(), usize::from(length) * 8 - 2).prop_map(
                    move |v| NdiscOptionRepr::Unknown {
                        type_,
                        length,
                        data: Box::leak(v.into_boxed_slice()),
                    },
                )
            }),
        ]
    }

    proptest! {
        #[test]
        fn ndisc_roundtrip(repr in ndisc_repr(), src in ip6(), dst in ip6()) {
            let repr = Icmpv6Repr::Ndisc(repr);
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
            let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
            prop_assert!(p.verify_checksum(&src, &dst));
            prop_assert_eq!(Icmpv6Repr::parse(&src, &dst, &p), Ok(repr));
        }

        #[test]
        fn option_roundtrip(repr in option_repr()) {
            let mut buf = vec![0u8; repr.buffer_len() + 5];
            repr.emit(&mut NdiscOption::new_unchecked(&mut buf[..]));
            let (rest, parsed) = NdiscOptionRepr::parse_first(&buf).unwrap();
            prop_assert_eq!(rest.len(), 5);
            prop_assert_eq!(parsed, repr);
        }

        #[test]
        fn any_option_bytes_no_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            for r in NdiscOptionIter::new(&bytes) {
                let _ = r;
            }
            if let Ok(o) = NdiscOption::new_checked(&bytes[..]) {
                let _ = (o.data(), o.redirected_header(), o.prefix(), o.mtu(), o.link_layer_addr());
            }
        }

        #[test]
        fn any_ndisc_bytes_no_panic(ty in 133u8..=137, code in 0u8..2,
                                    body in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut bytes = vec![ty, code, 0, 0];
            bytes.extend_from_slice(&body);
            if let Ok(p) = Icmpv6Packet::new_checked(&bytes[..]) {
                let _ = NdiscRepr::parse(&p);
            }
        }
    }
}
