//! Packet endpoints: see every frame a NIC receives or sends, link header
//! included (the seeds' `PacketEndpoint`, Linux's `AF_PACKET`).
//!
//! Copies are made only while at least one packet endpoint is open on the
//! NIC, so the data path pays nothing otherwise.

use std::collections::VecDeque;

use crate::buffer::PacketBuffer;
use crate::stack::{NicId, Stack, StackError};
use crate::transport::Handle;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketDirection {
    /// Received by the NIC.
    Incoming,
    /// Sent by the NIC.
    Outgoing,
}

/// A packet endpoint.
#[derive(Debug)]
pub struct PacketEndpoint {
    pub(crate) nic: usize,
    pub(crate) rx: VecDeque<(PacketDirection, PacketBuffer)>,
    pub(crate) rx_limit: usize,
    pub(crate) dropped: u64,
}

impl Stack {
    /// Open a packet endpoint on a NIC.
    pub fn packet_open(&mut self, nic: NicId) -> Result<Handle, StackError> {
        let i = nic.0 as usize;
        if i >= self.nics.len() {
            return Err(StackError::UnknownNic(nic));
        }
        let h = self.packet.insert(PacketEndpoint {
            nic: i,
            rx: VecDeque::new(),
            rx_limit: 4096,
            dropped: 0,
        });
        self.nics[i].packet_endpoints.push(h);
        Ok(h)
    }

    /// Take the next frame seen by a packet endpoint.
    pub fn packet_recv(&mut self, h: Handle) -> Option<(PacketDirection, PacketBuffer)> {
        self.packet.get_mut(h)?.rx.pop_front()
    }

    /// Frames a packet endpoint dropped because its queue was full.
    pub fn packet_dropped(&self, h: Handle) -> u64 {
        self.packet.get(h).map_or(0, |e| e.dropped)
    }

    /// Close a packet endpoint.
    pub fn packet_close(&mut self, h: Handle) -> bool {
        match self.packet.remove(h) {
            Some(ep) => {
                if let Some(nic) = self.nics.get_mut(ep.nic) {
                    nic.packet_endpoints.retain(|x| *x != h);
                }
                true
            }
            None => false,
        }
    }

    pub(crate) fn deliver_to_packet_endpoints(
        &mut self,
        nic: usize,
        frame: &PacketBuffer,
        dir: PacketDirection,
    ) {
        for k in 0..self.nics[nic].packet_endpoints.len() {
            let h = self.nics[nic].packet_endpoints[k];
            if let Some(ep) = self.packet.get_mut(h) {
                if ep.rx.len() >= ep.rx_limit {
                    ep.dropped += 1;
                } else {
                    ep.rx
                        .push_back((dir, PacketBuffer::from_slice(0, frame.as_slice())));
                }
            }
        }
    }
}
