//! The transport layer: the flow-hash partitioned demultiplexer and the
//! endpoints applications hold.
//!
//! Endpoints live in a per-stack [`Slab`] and are named by a [`Handle`]
//! (index plus generation, so a stale handle never reaches a new endpoint).
//! The [`demux`] maps a packet's `TransportEndpointId` to a handle; the stack
//! then hands the packet to the endpoint's receive queue. Received ICMP
//! errors reach the endpoint they concern as a [`ControlEvent`] (the seeds'
//! `ControlType`).

use std::net::{IpAddr, SocketAddr};

pub mod demux;
pub mod packet;
pub mod raw;
pub mod tcp;
pub mod udp;

/// Names an endpoint within one stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle {
    index: u32,
    generation: u32,
}

/// A slab of endpoints addressed by [`Handle`].
#[derive(Debug)]
pub struct Slab<T> {
    entries: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Store `value` and return its handle.
    pub fn insert(&mut self, value: T) -> Handle {
        self.len += 1;
        if let Some(i) = self.free.pop() {
            let e = &mut self.entries[i as usize];
            e.0 = e.0.wrapping_add(1);
            e.1 = Some(value);
            return Handle {
                index: i,
                generation: e.0,
            };
        }
        let index = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        self.entries.push((0, Some(value)));
        Handle {
            index,
            generation: 0,
        }
    }

    /// The value behind `h`, if it still exists.
    #[inline]
    pub fn get(&self, h: Handle) -> Option<&T> {
        match self.entries.get(h.index as usize) {
            Some((g, Some(v))) if *g == h.generation => Some(v),
            _ => None,
        }
    }

    /// The value behind `h`, mutably.
    #[inline]
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        match self.entries.get_mut(h.index as usize) {
            Some((g, Some(v))) if *g == h.generation => Some(v),
            _ => None,
        }
    }

    /// Remove and return the value behind `h`.
    pub fn remove(&mut self, h: Handle) -> Option<T> {
        match self.entries.get_mut(h.index as usize) {
            Some((g, slot @ Some(_))) if *g == h.generation => {
                self.free.push(h.index);
                self.len -= 1;
                slot.take()
            }
            _ => None,
        }
    }

    /// Number of live values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no live values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Iterate over live values with their handles.
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &T)> {
        self.entries.iter().enumerate().filter_map(|(i, (g, v))| {
            v.as_ref().map(|v| {
                (
                    Handle {
                        index: i as u32,
                        generation: *g,
                    },
                    v,
                )
            })
        })
    }
}

/// The kind of a network control message delivered to an endpoint (the
/// seeds' `ControlType`, extended with time exceeded and parameter problem).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlType {
    /// ICMPv6 destination unreachable, address unreachable (RFC 4443 3.1).
    AddressUnreachable,
    /// ICMPv4 net unreachable, ICMPv6 no route.
    NetworkUnreachable,
    /// ICMPv4 host unreachable.
    NoRoute,
    /// ICMPv4 fragmentation needed / ICMPv6 packet too big; the event's
    /// `info` holds the next-hop MTU.
    PacketTooBig,
    /// ICMPv4 / ICMPv6 port unreachable.
    PortUnreachable,
    /// ICMP time exceeded (TTL or reassembly).
    TimeExceeded,
    /// ICMP parameter problem; `info` holds the pointer.
    ParameterProblem,
    /// Any other ICMP error (administratively prohibited, ...).
    Unknown,
}

/// A received ICMP error, delivered to the endpoint whose packet caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlEvent {
    /// What happened.
    pub kind: ControlType,
    /// Extra information: the MTU for `PacketTooBig`, the pointer for
    /// `ParameterProblem`, else 0.
    pub info: u32,
    /// The node that sent the ICMP error.
    pub reporter: IpAddr,
    /// The remote end of the packet that caused it.
    pub remote: SocketAddr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slab_handles_do_not_alias_after_reuse() {
        let mut s = Slab::default();
        let a = s.insert("a");
        let b = s.insert("b");
        assert_eq!(s.remove(a), Some("a"));
        let c = s.insert("c");
        assert_eq!(s.get(a), None, "stale handle must not see the new value");
        assert_eq!(s.get(c), Some(&"c"));
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().count(), 2);
        assert_eq!(s.remove(a), None);
    }
}
