//! AF_XDP sockets, UMEM and frame ownership — the only tree of the crate
//! allowed `unsafe` (DESIGN.md principle 5; every block carries a
//! `// SAFETY:` comment).
//!
//! # Design
//!
//! A worker owns one [`Umem`] (an anonymous mapping cut into equal frames)
//! and any number of [`XskSocket`]s on it, one per (interface, queue). The
//! first socket registers the UMEM; the others bind with
//! `XDP_SHARED_UMEM` and get their own fill/completion ring pair, as the
//! kernel requires for sharing across devices and queues. Because all of a
//! worker's sockets share the memory, a frame received on one and sent on
//! another moves as a descriptor: not a byte is copied (DESIGN.md
//! principle 3). Sockets are created with the equivalent of libxdp's
//! `XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD`: nothing here loads an XDP
//! program; xdpnet's steering program redirects into its own XSKMAP, where
//! [`XskSocket::fd`] goes via `SteeringProgram::insert_socket`.
//!
//! # Ownership
//!
//! A frame has exactly one owner at any time:
//!
//! ```text
//!  free list ─► fill ring ─► (kernel) ─► rx ring ─► Frame handle (stack)
//!      ▲                                                   │
//!      │◄── drop(Frame), anywhere, any thread ─────────────┤
//!      │                                                   ▼
//!      └◄── completion ring ◄── (kernel) ◄──────────── tx ring
//! ```
//!
//! [`Frame`] is not `Clone` or `Copy`; it is the only way to read or write
//! a frame's bytes (`&[u8]`/`&mut [u8]` of that one chunk, never of the
//! whole UMEM — the rule from vm-memory for memory another agent writes).
//! Putting a frame on a ring consumes its handle, so the kernel and
//! userspace never both hold it. Dropping a handle returns the frame
//! through a lock-free queue the worker drains on its next call (`umem.rs`
//! explains the drop path and the UMEM's lifetime); the rx→tx→completion
//! path moves indices under the worker's pool lock, taken once per batch,
//! with no per-frame atomics. A per-frame
//! state table makes every frame accountable: [`Umem::accounting`] and
//! [`XskSocket::accounting`] say where each one is, and a test drives 10⁶
//! packets and checks they all come home.
//!
//! # Rings and memory ordering
//!
//! The four rings are single-producer/single-consumer queues shared with
//! the kernel. We produce fill and TX, consume RX and completion. A
//! producer reads the consumer index with `Acquire` before reusing slots,
//! writes descriptors, then publishes them with a `Release` store of the
//! producer index; a consumer reads the producer index with `Acquire`
//! before reading descriptors and gives slots back with a `Release` store
//! of the consumer index. These are barriers (A)–(D) of the kernel's
//! `xsk_queue.h`; `ring.rs` annotates each site. A `SeqCst` fence precedes
//! every `need_wakeup` flag check (a store→load pattern).
//!
//! # Why raw syscalls and not xsk-rs
//!
//! xsk-rs 0.11 resolves alongside libbpf-rs 0.25 and supports shared UMEM
//! and `XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD`, but: its `FrameDesc` is
//! `Copy`, so every ring operation is an `unsafe fn` whose safety moves to
//! each call site; frame bytes are reachable only through borrows tied to
//! the `Umem`, which a handle stored inside a `PacketBuffer` cannot hold;
//! it hides the ring indices needed to account for frames in each ring;
//! every ring operation is an out-of-line call into libxdp; and it builds
//! libxdp from C sources. The kernel ABI it wraps is small (one socket
//! family, nine socket options, four mmaps, `bind`), so this module talks
//! to it directly with `libc`, mirrors the few constants `libc` lacks
//! (`sys.rs`), and keeps the ownership rules in the types.
//!
//! # Kernel facts relied upon
//!
//! * Copy mode sends at most 32 frames per `sendto` unless
//!   `XDP_MAX_TX_SKB_BUDGET` (6.17+) raises it; [`XskSocket::tx_budget`]
//!   reports what was set. Leftovers go on the next kick.
//! * veth binds in copy mode only; [`CopyMode::Auto`] lets the kernel try
//!   zero-copy first and report the result ([`XskSocket::bound_mode`]).
//! * Received data sits `headroom + 256` (`XDP_PACKET_HEADROOM`) bytes into
//!   its frame; sends may start anywhere inside a frame.

#![allow(unsafe_code)]

mod error;
mod prog_run;
mod ring;
mod socket;
mod sys;
mod umem;

pub use error::XskError;
pub use prog_run::{xdp_live_frames_run, BPF_F_TEST_XDP_LIVE_FRAMES};
pub use socket::{
    BoundMode, BusyPoll, CopyMode, SocketAccounting, SocketConfig, XdpStatistics, XskCounters,
    XskSocket,
};
pub use umem::{Frame, Umem, UmemAccounting, UmemConfig};

/// Index, MAC address and MTU of an interface in the calling thread's
/// network namespace.
pub fn interface_info(iface: &str) -> Result<(u32, [u8; 6], u32), XskError> {
    sys::iface_info(iface)
        .map(|i| (i.index, i.mac, i.mtu))
        .map_err(|_| XskError::NoSuchInterface {
            iface: iface.to_string(),
        })
}
