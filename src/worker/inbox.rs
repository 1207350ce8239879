//! A worker's inbox: frames other shards hand over, control events, and a
//! doorbell that wakes the worker when it sleeps.
//!
//! # Frames
//!
//! When a shard's stack finds that a packet's flow belongs to another shard
//! ([`Stack::take_handoff`](crate::stack::Stack::take_handoff)), the worker
//! pushes it into the owner's [`Inbox`]; the owner drains its inbox every
//! loop iteration and gives each packet to
//! [`Stack::deliver_handoff`](crate::stack::Stack::deliver_handoff). The
//! queue is a bounded lock-free `crossbeam_queue::ArrayQueue` (many
//! producers, one consumer); a full inbox drops the frame, counted by the
//! *sender* (`handoff_dropped` in its [`WorkerStats`](super::stats::WorkerStats)).
//! Handoff is the rare path (RSS and the symmetric flow hash agree), so the
//! frame is moved, not shared.
//!
//! # Control events
//!
//! Route changes and learned neighbors travel as [`ControlEvent`]s in a
//! separate bounded queue, so a flood of frames never crowds them out.
//! A route change is an immutable snapshot (`Arc<[RouteChange]>`) shared by
//! every shard; each shard applies the whole set between two polls, never
//! in the middle of a batch, so every packet sees either the old or the new
//! table (DESIGN.md principle 2: configuration is published, not locked
//! per packet).
//!
//! # Doorbell
//!
//! An idle worker sleeps in `poll(2)` on its links' fds and its doorbell
//! (an `eventfd`). Producers ring it after pushing, but only when the
//! worker said it is going to sleep (`sleeping`): the worker sets the flag,
//! re-checks its queues, then sleeps; a producer pushes, then reads the
//! flag. With sequentially consistent ordering on both sides either the
//! worker sees the item or the producer sees the flag, so no wakeup is
//! lost, and a busy worker costs producers no syscall. The flag is written
//! by its own worker twice per sleep and by producers at most once per
//! wakeup — never per packet.

use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use ipnet::IpNet;
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::buffer::PacketBuffer;
use crate::stack::{NicId, Route};
use crate::wire::EthernetAddress;

/// One change to the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteChange {
    /// Add (or replace, same prefix and metric) a route.
    Add(Route),
    /// Remove every route for a prefix.
    Remove(IpNet),
}

/// A configuration event every shard applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlEvent {
    /// Apply these route changes together (one snapshot shared by all
    /// shards).
    Routes(Arc<[RouteChange]>),
    /// Another shard resolved a neighbor: install it here too (ARP/NDP
    /// replies arrive on one queue only, whichever RSS picks).
    Neighbor {
        /// The NIC (same id on every shard).
        nic: NicId,
        /// The protocol address.
        addr: IpAddr,
        /// Its MAC.
        mac: EthernetAddress,
        /// The answering shard had an entry for it (see
        /// [`Stack::learn_neighbor`](crate::stack::Stack::learn_neighbor)).
        confirmed: bool,
    },
}

/// The inbox of one worker.
#[derive(Debug)]
pub struct Inbox {
    frames: ArrayQueue<(NicId, PacketBuffer)>,
    control: ArrayQueue<ControlEvent>,
    doorbell: EventFd,
    sleeping: AtomicBool,
}

impl Inbox {
    /// An inbox holding up to `frames` handed-off frames and `control`
    /// control events (both at least 1).
    pub fn new(frames: usize, control: usize) -> std::io::Result<Arc<Inbox>> {
        let doorbell = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(std::io::Error::from)?;
        Ok(Arc::new(Inbox {
            frames: ArrayQueue::new(frames.max(1)),
            control: ArrayQueue::new(control.max(1)),
            doorbell,
            sleeping: AtomicBool::new(false),
        }))
    }

    /// Push a handed-off frame; gives it back when the inbox is full. Call
    /// [`Inbox::ring`] after a batch of pushes.
    pub fn push_frame(&self, nic: NicId, pkt: PacketBuffer) -> Result<(), PacketBuffer> {
        self.frames.push((nic, pkt)).map_err(|(_, p)| p)
    }

    /// Push a control event; gives it back when the queue is full. Rings.
    pub fn push_control(&self, ev: ControlEvent) -> Result<(), ControlEvent> {
        let r = self.control.push(ev);
        self.ring();
        r
    }

    /// Wake the worker if it is (about to be) asleep.
    pub fn ring(&self) {
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            // A full counter (EAGAIN) still wakes the reader: ignore.
            let _ = self.doorbell.write(1);
        }
    }

    /// Wake the worker unconditionally (shutdown).
    pub fn wake(&self) {
        let _ = self.doorbell.write(1);
    }

    /// Take the next handed-off frame.
    pub fn pop_frame(&self) -> Option<(NicId, PacketBuffer)> {
        self.frames.pop()
    }

    /// Take the next control event.
    pub fn pop_control(&self) -> Option<ControlEvent> {
        self.control.pop()
    }

    /// Whether both queues are empty.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.control.is_empty()
    }

    /// Frames waiting.
    pub fn frames_len(&self) -> usize {
        self.frames.len()
    }

    /// Announce that the worker is going to sleep. Returns `false` if the
    /// inbox is not empty (then it must not sleep).
    pub fn prepare_sleep(&self) -> bool {
        self.sleeping.store(true, Ordering::SeqCst);
        if self.is_empty() {
            true
        } else {
            self.sleeping.store(false, Ordering::SeqCst);
            false
        }
    }

    /// The worker woke up: clear the flag and the doorbell counter.
    pub fn after_sleep(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
        let _ = self.doorbell.read();
    }

    /// The doorbell's fd, for `poll(2)`.
    pub fn doorbell_fd(&self) -> BorrowedFd<'_> {
        self.doorbell.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    #[test]
    fn frames_and_control_are_separate_and_bounded() {
        let inbox = Inbox::new(2, 1).unwrap();
        for _ in 0..2 {
            inbox
                .push_frame(NicId(0), PacketBuffer::from_slice(0, b"x"))
                .unwrap();
        }
        assert!(inbox
            .push_frame(NicId(0), PacketBuffer::from_slice(0, b"y"))
            .is_err());
        let ev = ControlEvent::Routes(Arc::from(vec![RouteChange::Remove(
            "198.18.0.0/24".parse().unwrap(),
        )]));
        inbox.push_control(ev.clone()).unwrap();
        assert!(inbox.push_control(ev.clone()).is_err());
        assert_eq!(inbox.frames_len(), 2);
        assert_eq!(inbox.pop_control(), Some(ev));
        assert!(inbox.pop_frame().is_some());
        assert!(inbox.pop_frame().is_some());
        assert!(inbox.is_empty());
    }

    #[test]
    fn doorbell_rings_only_a_sleeper() {
        let inbox = Inbox::new(4, 4).unwrap();
        let readable = |inbox: &Inbox| {
            let mut fds = [PollFd::new(inbox.doorbell_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::ZERO).unwrap() == 1
        };
        inbox.ring();
        assert!(!readable(&inbox), "awake worker: no syscall, no wakeup");
        assert!(inbox.prepare_sleep());
        inbox
            .push_frame(NicId(0), PacketBuffer::from_slice(0, b"x"))
            .unwrap();
        inbox.ring();
        assert!(readable(&inbox));
        inbox.after_sleep();
        assert!(!readable(&inbox));
        // Not empty: the worker must not sleep.
        assert!(!inbox.prepare_sleep());
    }
}
