//! The AF_XDP [`LinkFactory`]: one [`XdpLink`] per (interface, rx queue) a
//! worker serves, all of a worker's sockets sharing one [`Umem`] so a frame
//! received on one interface is transmitted out of another without a copy
//! (DESIGN.md principle 3).
//!
//! The factory is shared by every worker; `open` runs on the requesting
//! worker's pinned thread, so each worker's UMEM is created (and its pages
//! first touched) there, on first use.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::CopyMode;
use crate::link::xdp::XdpLink;
use crate::worker::links::{LinkFactory, LinkOpenError, LinkRequest, LinkRole, OpenedLink};
use crate::xsk::{BoundMode, BusyPoll, SocketConfig, Umem, UmemAccounting, UmemConfig};

/// Frames per worker UMEM: enough for the fill and tx rings of several
/// sockets plus frames held by the stack (8192 × 4 KiB = 32 MiB).
pub const FRAMES_PER_WORKER: u32 = 8192;

/// Creates AF_XDP links; see the module docs.
#[derive(Debug)]
pub struct XdpLinkFactory {
    umem: UmemConfig,
    socket: SocketConfig,
    umems: Mutex<HashMap<usize, Umem>>,
}

impl XdpLinkFactory {
    /// A factory binding sockets with `copy_mode`, busy polling when asked.
    pub fn new(copy_mode: CopyMode, busy_poll: bool) -> XdpLinkFactory {
        let copy_mode = match copy_mode {
            CopyMode::Auto => crate::xsk::CopyMode::Auto,
            CopyMode::Copy => crate::xsk::CopyMode::Copy,
            CopyMode::ZeroCopy => crate::xsk::CopyMode::ZeroCopy,
        };
        XdpLinkFactory {
            umem: UmemConfig {
                frame_count: FRAMES_PER_WORKER,
                ..UmemConfig::default()
            },
            socket: SocketConfig {
                copy_mode,
                busy_poll: busy_poll.then(BusyPoll::default),
                ..SocketConfig::default()
            },
            umems: Mutex::new(HashMap::new()),
        }
    }

    /// Rx rings of `rx` entries and fill rings of `2 × rx` (defaults 512
    /// and 1024; powers of two): deeper rings ride out longer worker
    /// stalls (a loaded host) before the kernel drops frames. Every socket
    /// of a worker fills its ring from the worker's [`FRAMES_PER_WORKER`]
    /// frames, so keep `2 × rx × sockets` well below that.
    pub fn with_rx_ring(mut self, rx: u32) -> XdpLinkFactory {
        self.socket.rx_size = rx;
        self.socket.fill_size = 2 * rx;
        self
    }

    fn umem_for(&self, worker: usize) -> Result<Umem, LinkOpenError> {
        // A poisoned map is still a valid map (every update is one insert).
        let mut map = self.umems.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = map.get(&worker) {
            return Ok(u.clone());
        }
        let u = Umem::new(self.umem).map_err(|e| LinkOpenError {
            cause: format!("cannot create the UMEM of worker {worker}: {e}"),
            fix: "see the cause; run `xdpnet doctor` for the full checklist".into(),
        })?;
        map.insert(worker, u.clone());
        Ok(u)
    }
}

impl LinkFactory for XdpLinkFactory {
    fn name(&self) -> &str {
        "af_xdp"
    }

    fn open(&self, req: &LinkRequest) -> Result<OpenedLink, LinkOpenError> {
        if req.role == LinkRole::TxOnly {
            // An AF_XDP socket transmits through the queue it is bound to, and
            // a queue belongs to the worker that serves it.
            return Err(LinkOpenError {
                cause: format!(
                    "worker {} serves no queue of {} but must transmit there; an AF_XDP \
                     socket needs a queue of its own",
                    req.worker, req.ifname
                ),
                fix: format!(
                    "give {} at least as many queues as workers (`ethtool -L {} combined N`, \
                     or `numrxqueues N numtxqueues N` for veth), or use fewer --workers",
                    req.ifname, req.ifname
                ),
            });
        }
        let umem = self.umem_for(req.worker)?;
        let link = XdpLink::new(&req.ifname, req.queue, &umem, &self.socket).map_err(|e| {
            LinkOpenError {
                cause: format!(
                    "cannot open AF_XDP socket on {} queue {}: {e}",
                    req.ifname, req.queue
                ),
                fix: "see the cause; run `xdpnet doctor` for the full checklist".into(),
            }
        })?;
        let fd = link.fd().try_clone_to_owned().map_err(|e| LinkOpenError {
            cause: format!("cannot duplicate the AF_XDP socket descriptor: {e}"),
            fix: "raise the open-file limit (`ulimit -n`)".into(),
        })?;
        let copy_mode = Some(match link.bound_mode() {
            BoundMode::Copy => CopyMode::Copy,
            BoundMode::ZeroCopy => CopyMode::ZeroCopy,
        });
        Ok(OpenedLink {
            link: Box::new(link),
            fd: Some(fd),
            copy_mode,
        })
    }

    fn umem_accounting(&self, worker: usize) -> Option<UmemAccounting> {
        let map = self.umems.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&worker).map(Umem::accounting)
    }
}
