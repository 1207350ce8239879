//! The loader around the XDP steering program (`bpf/steer.bpf.c`).
//!
//! An XDP program on each interface decides, frame by frame, whether the
//! dataplane owns it. Owned frames are redirected to the AF_XDP socket of
//! the rx queue they arrived on (`XSKMAP[rx_queue_index]`: AF_XDP cannot
//! receive on another queue, so sharding comes from RSS); everything else
//! goes to the kernel with `XDP_PASS`, so the host stays reachable
//! (DESIGN.md principle 7). A claimed frame on a queue without a socket
//! also goes to the kernel, counted as `pass_no_socket`.
//!
//! # Life cycle
//!
//! ```no_run
//! use xdpnet::steering::{Policy, SteeringOptions, SteeringProgram, XdpMode};
//! # fn main() -> Result<(), xdpnet::steering::SteeringError> {
//! let mut prog = SteeringProgram::load(SteeringOptions {
//!     policy: Policy::Local,
//!     ..SteeringOptions::default()
//! })?;
//! prog.add_owned_addr("198.18.0.1".parse().unwrap())?;
//! let att = prog.attach("eth0", XdpMode::Auto)?;
//! println!("{att}"); // the mode really used, and any warning
//! // workers: prog.insert_socket(queue, xsk_fd)?
//! println!("{}", prog.counters()?);
//! prog.detach()?; // also done by Drop
//! # Ok(())
//! # }
//! ```
//!
//! # Contracts
//!
//! * One [`SteeringProgram`] serves one interface; load one per interface.
//! * Attach never replaces a program that is already there
//!   ([`SteeringError::AlreadyAttached`] names it, the bpf_link holding it
//!   if any, and the command that removes it).
//! * [`SteeringProgram::detach`] and `Drop` remove only what this instance
//!   attached.
//! * Map updates take effect for the next frame; they need no privileges
//!   beyond holding this object.
//! * Errors name the cause and the fix ([`SteeringError`]).
//!
//! # How the XDP mode is chosen
//!
//! * [`XdpMode::Native`] and [`XdpMode::Auto`] attach through a **bpf_link**
//!   (`bpf_link_create`): the kernel holds the attachment by a file
//!   descriptor, so it disappears with the process, crash or not. A link
//!   created without mode flags is placed by the kernel in native (driver)
//!   mode when the driver implements XDP, else in generic mode; the mode
//!   actually used is read back with `bpf_xdp_query` and returned in the
//!   [`Attachment`].
//!   - `Native`: a link that landed in generic mode is removed again and
//!     reported as [`SteeringError::NativeUnsupported`].
//!   - `Auto`: generic placement is accepted with a warning; if the driver
//!     refuses native XDP (`EOPNOTSUPP`), auto falls back to an explicit
//!     generic attach, with a warning carrying the kernel's reason. Other
//!     failures (MTU too large, busy) are errors, never silent fallbacks.
//! * [`XdpMode::Generic`] (asked for, or auto's fallback) is attached
//!   through **netlink** (`XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST`)
//!   because libbpf-rs 0.25 cannot pass mode flags to a bpf_link. That
//!   attachment outlives a crashed process: `detach()` and `Drop` remove it,
//!   and [`Attachment::warnings`] carries the manual cleanup command.
//! * A failing bpf_link attach returns only an errno (the kernel sends its
//!   extack text to a tracepoint), so for ambiguous errnos the attach is
//!   replayed through netlink to obtain the kernel's message (e.g. veth's
//!   "Peer MTU is too large to set XDP"); a probe that unexpectedly
//!   succeeds is detached at once.
//!
//! # Layout
//!
//! `skel` includes the generated skeleton (the only `unsafe` here is the
//! generated code); `attach` picks the mode; `policy` and `counters` encode
//! and decode the maps through the skeleton's generated types;
//! `privilege`, `iface` and `libbpf_log` turn kernel failures into
//! explanations.

mod attach;
mod counters;
mod error;
mod iface;
mod libbpf_log;
mod policy;
mod privilege;
mod skel;

use std::fmt;
use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject, ProgramInput};

pub use attach::{AttachMethod, Attachment, ExistingProgram, XdpMode};
pub use counters::SteeringCounters;
pub use error::SteeringError;
pub use policy::Policy;

use crate::wire::ethernet::EthernetAddress;
use error::{cause_of, errno_of};
use iface::Iface;
use libbpf_log::with_captured_log;
use skel::types;

const EPERM: i32 = 1;
const ENOENT: i32 = 2;
const EBADF: i32 = 9;
const ENOMEM: i32 = 12;
const E2BIG: i32 = 7;
const ENOTSOCK: i32 = 88;
const EOPNOTSUPP: i32 = 95;

/// Sizes and initial settings for [`SteeringProgram::load`].
#[derive(Debug, Clone, PartialEq)]
pub struct SteeringOptions {
    /// XSKMAP size: rx queues `0..max_queues` can get a socket (default 64).
    pub max_queues: u32,
    /// Capacity of each owned-address table (MAC, IPv4, IPv6; default 256).
    pub max_owned: u32,
    /// Initial policy (default [`Policy::All`]).
    pub policy: Policy,
    /// Initial random-drop probability of claimed frames (default 0.0).
    pub drop_probability: f64,
}

impl Default for SteeringOptions {
    fn default() -> Self {
        Self {
            max_queues: 64,
            max_owned: 256,
            policy: Policy::All,
            drop_probability: 0.0,
        }
    }
}

/// XDP verdict of a [`SteeringProgram::test_run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpAction {
    /// `XDP_ABORTED`: program error (never returned by steer.bpf.c).
    Aborted,
    /// `XDP_DROP`.
    Drop,
    /// `XDP_PASS`: to the kernel.
    Pass,
    /// `XDP_TX`.
    Tx,
    /// `XDP_REDIRECT`: to an AF_XDP socket.
    Redirect,
    /// Any other value.
    Other(u32),
}

impl From<u32> for XdpAction {
    fn from(v: u32) -> Self {
        match v {
            0 => Self::Aborted,
            1 => Self::Drop,
            2 => Self::Pass,
            3 => Self::Tx,
            4 => Self::Redirect,
            other => Self::Other(other),
        }
    }
}

/// The loaded steering program, its maps, and (once attached) its
/// attachment. Dropping it detaches and unloads.
pub struct SteeringProgram {
    skel: skel::SteerSkel<'static>,
    options: SteeringOptions,
    config: types::steer_config,
    prog_id: u32,
    active: Option<attach::Active>,
}

impl fmt::Debug for SteeringProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SteeringProgram")
            .field("prog_id", &self.prog_id)
            .field("options", &self.options)
            .field("policy", &self.policy())
            .field("attachment", &self.attachment())
            .finish()
    }
}

fn map_error(map: &'static str, operation: String, e: &libbpf_rs::Error) -> SteeringError {
    let fix = match errno_of(e) {
        Some(E2BIG) | Some(ENOMEM) => {
            "the table is full: remove entries or load with a larger SteeringOptions::max_owned"
        }
        Some(EPERM) => "run as root or with CAP_BPF",
        _ => "check `bpftool map show name <map>`; reload the program if its maps are gone",
    };
    SteeringError::Map {
        map,
        operation,
        cause: cause_of(e),
        fix: fix.into(),
    }
}

impl SteeringProgram {
    /// Opens, sizes and loads (verifies) the program. Needs CAP_BPF and
    /// CAP_NET_ADMIN; a missing capability is reported by name before the
    /// kernel is asked.
    pub fn load(options: SteeringOptions) -> Result<Self, SteeringError> {
        if options.max_queues == 0 || options.max_owned == 0 {
            return Err(SteeringError::InvalidArgument {
                what: format!(
                    "max_queues = {} and max_owned = {} must both be at least 1",
                    options.max_queues, options.max_owned
                ),
                fix: "use SteeringOptions::default() or set both to positive sizes".into(),
            });
        }
        let drop_threshold = policy::drop_threshold(options.drop_probability)?;
        let missing = privilege::missing_for_load();
        if !missing.is_empty() {
            return Err(SteeringError::PermissionDenied {
                operation: "load the XDP steering program",
                missing,
            });
        }

        // The skeleton borrows its object storage for its whole life. The
        // storage is one pointer-sized slot; leaking it (once per load) lets
        // the skeleton be 'static and live inside `Self` without unsafe.
        // The BPF object itself is freed when the skeleton drops.
        let storage: &'static mut MaybeUninit<OpenObject> =
            Box::leak(Box::new(MaybeUninit::uninit()));
        let (loaded, log) = with_captured_log(|| {
            let mut open = skel::SteerSkelBuilder::default().open(storage)?;
            open.maps.steer_xsks.set_max_entries(options.max_queues)?;
            for m in [
                &mut open.maps.steer_own_mac,
                &mut open.maps.steer_own_v4,
                &mut open.maps.steer_own_v6,
            ] {
                m.set_max_entries(options.max_owned)?;
            }
            open.load()
        });
        let skel = match loaded {
            Ok(skel) => {
                log.replay();
                skel
            }
            Err(e) => {
                return Err(match errno_of(&e) {
                    Some(EPERM) => SteeringError::Memlock {
                        cause: cause_of(&e),
                        limits: privilege::memlock_limits(),
                    },
                    _ => SteeringError::Load {
                        cause: cause_of(&e),
                        log: log.tail(40),
                    },
                });
            }
        };
        let prog_id =
            libbpf_rs::Program::id_from_fd(skel.progs.xdpnet_steer.as_fd()).map_err(|e| {
                SteeringError::Load {
                    cause: format!("reading the program id: {}", cause_of(&e)),
                    log: Vec::new(),
                }
            })?;
        let mut this = Self {
            skel,
            config: types::steer_config {
                policy: options.policy.to_raw(),
                reserved: 0,
                drop_threshold,
            },
            options,
            prog_id,
            active: None,
        };
        this.write_config()?;
        Ok(this)
    }

    /// The options the program was loaded with.
    pub fn options(&self) -> &SteeringOptions {
        &self.options
    }

    /// Kernel id of the program (as `bpftool prog` and `ip link` show it).
    pub fn prog_id(&self) -> u32 {
        self.prog_id
    }

    /// Attaches to the interface named `ifname` (in the calling thread's
    /// network namespace). Returns the mode the kernel actually used and
    /// any warning to show; the module docs explain how the mode is chosen.
    pub fn attach(&mut self, ifname: &str, mode: XdpMode) -> Result<Attachment, SteeringError> {
        let iface = Iface::by_name(ifname)?;
        self.attach_iface(iface, mode)
    }

    /// [`attach`](Self::attach) by interface index.
    pub fn attach_index(
        &mut self,
        ifindex: u32,
        mode: XdpMode,
    ) -> Result<Attachment, SteeringError> {
        let iface = Iface::by_index(ifindex)?;
        self.attach_iface(iface, mode)
    }

    fn attach_iface(&mut self, iface: Iface, mode: XdpMode) -> Result<Attachment, SteeringError> {
        if let Some(active) = &self.active {
            return Err(SteeringError::InUse {
                ifname: active.info.ifname.clone(),
            });
        }
        let active = attach::attach(&self.skel.progs.xdpnet_steer, self.prog_id, &iface, mode)?;
        let info = active.info.clone();
        self.active = Some(active);
        Ok(info)
    }

    /// The current attachment, if any.
    pub fn attachment(&self) -> Option<&Attachment> {
        self.active.as_ref().map(|a| &a.info)
    }

    /// Takes the program off its interface. Idempotent; the program stays
    /// loaded and can be attached again.
    pub fn detach(&mut self) -> Result<(), SteeringError> {
        match self.active.take() {
            Some(active) => attach::detach(self.skel.progs.xdpnet_steer.as_fd(), active),
            None => Ok(()),
        }
    }

    fn write_config(&mut self) -> Result<(), SteeringError> {
        let value = policy::encode_config(&self.config);
        self.skel
            .maps
            .steer_cfg
            .update(&0u32.to_ne_bytes(), &value, MapFlags::ANY)
            .map_err(|e| map_error("steer_cfg", "writing the configuration".into(), &e))
    }

    /// Switches the policy; takes effect for the next frame.
    pub fn set_policy(&mut self, policy: Policy) -> Result<(), SteeringError> {
        self.config.policy = policy.to_raw();
        self.write_config()
    }

    /// The current policy.
    pub fn policy(&self) -> Policy {
        if self.config.policy == types::steer_policy::STEER_POLICY_LOCAL {
            Policy::Local
        } else {
            Policy::All
        }
    }

    /// Sets the probability (0.0..=1.0) with which a *claimed* frame is
    /// dropped (`drop_random`) instead of redirected, to inject loss on the
    /// real receive path. Frames for the kernel are never dropped.
    pub fn set_drop_probability(&mut self, p: f64) -> Result<(), SteeringError> {
        self.config.drop_threshold = policy::drop_threshold(p)?;
        self.write_config()
    }

    /// The current random-drop probability.
    pub fn drop_probability(&self) -> f64 {
        policy::drop_probability(self.config.drop_threshold)
    }

    /// The configuration as the program sees it (read back from the map).
    pub fn read_policy(&self) -> Result<(Policy, f64), SteeringError> {
        let raw = self
            .skel
            .maps
            .steer_cfg
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| map_error("steer_cfg", "reading the configuration".into(), &e))?
            .and_then(|b| policy::decode_config(&b))
            .ok_or_else(|| SteeringError::Map {
                map: "steer_cfg",
                operation: "reading the configuration".into(),
                cause: "entry 0 is missing or has the wrong size".into(),
                fix: "reload the program".into(),
            })?;
        let policy = if raw.policy == types::steer_policy::STEER_POLICY_LOCAL {
            Policy::Local
        } else {
            Policy::All
        };
        Ok((policy, policy::drop_probability(raw.drop_threshold)))
    }

    fn owned_key(addr: IpAddr) -> (&'static str, Vec<u8>) {
        match addr {
            IpAddr::V4(a) => {
                let key = types::steer_in4 { addr: a.octets() };
                ("steer_own_v4", key.addr.to_vec())
            }
            IpAddr::V6(a) => {
                let key = types::steer_in6 { addr: a.octets() };
                ("steer_own_v6", key.addr.to_vec())
            }
        }
    }

    fn owned_map(&self, name: &str) -> &dyn MapCore {
        match name {
            "steer_own_v4" => &self.skel.maps.steer_own_v4,
            "steer_own_v6" => &self.skel.maps.steer_own_v6,
            _ => &self.skel.maps.steer_own_mac,
        }
    }

    /// Claims frames to `addr` under [`Policy::Local`]: IP destination,
    /// ARP target (IPv4), NS/NA target (IPv6). Idempotent.
    pub fn add_owned_addr(&self, addr: IpAddr) -> Result<(), SteeringError> {
        let (map, key) = Self::owned_key(addr);
        self.owned_map(map)
            .update(&key, &[1], MapFlags::ANY)
            .map_err(|e| map_error(map, format!("adding {addr}"), &e))
    }

    /// Stops claiming frames to `addr`. Returns whether it was owned.
    pub fn remove_owned_addr(&self, addr: IpAddr) -> Result<bool, SteeringError> {
        let (map, key) = Self::owned_key(addr);
        Self::delete(self.owned_map(map), map, &key, format!("removing {addr}"))
    }

    /// Claims every frame sent to `mac` under [`Policy::Local`]. Only for
    /// MACs the dataplane owns exclusively: adding the kernel's own MAC
    /// claims the host's traffic (SSH included).
    pub fn add_owned_mac(&self, mac: EthernetAddress) -> Result<(), SteeringError> {
        let key = types::steer_mac { addr: mac.0 };
        self.skel
            .maps
            .steer_own_mac
            .update(&key.addr, &[1], MapFlags::ANY)
            .map_err(|e| map_error("steer_own_mac", format!("adding {mac}"), &e))
    }

    /// Stops claiming frames to `mac`. Returns whether it was owned.
    pub fn remove_owned_mac(&self, mac: EthernetAddress) -> Result<bool, SteeringError> {
        let key = types::steer_mac { addr: mac.0 };
        Self::delete(
            &self.skel.maps.steer_own_mac,
            "steer_own_mac",
            &key.addr,
            format!("removing {mac}"),
        )
    }

    fn delete(
        map: &dyn MapCore,
        name: &'static str,
        key: &[u8],
        op: String,
    ) -> Result<bool, SteeringError> {
        match map.delete(key) {
            Ok(()) => Ok(true),
            Err(e) if errno_of(&e) == Some(ENOENT) => Ok(false),
            Err(e) => Err(map_error(name, op, &e)),
        }
    }

    fn check_queue(&self, queue: u32) -> Result<(), SteeringError> {
        if queue >= self.options.max_queues {
            return Err(SteeringError::QueueOutOfRange {
                queue,
                max_queues: self.options.max_queues,
            });
        }
        Ok(())
    }

    /// Directs claimed frames of rx queue `queue` to the AF_XDP socket
    /// `xsk` (it must be bound to this interface and queue). Replaces any
    /// socket already there.
    pub fn insert_socket(&self, queue: u32, xsk: BorrowedFd<'_>) -> Result<(), SteeringError> {
        self.check_queue(queue)?;
        let fd = u32::try_from(xsk.as_raw_fd()).expect("a BorrowedFd is never negative");
        self.skel
            .maps
            .steer_xsks
            .update(&queue.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| {
                let fix = match errno_of(&e) {
                    Some(ENOTSOCK | EBADF | EOPNOTSUPP) => format!(
                        "pass the fd of an AF_XDP socket that is bound (with an rx ring) to \
                         queue {queue} of the attached interface"
                    ),
                    _ => "check the socket is still open and bound".into(),
                };
                SteeringError::Map {
                    map: "steer_xsks",
                    operation: format!("inserting fd {fd} for queue {queue}"),
                    cause: cause_of(&e),
                    fix,
                }
            })
    }

    /// Removes the socket of rx queue `queue`; its claimed frames go to the
    /// kernel again (`pass_no_socket`). Idempotent: the kernel does not say
    /// whether a socket was there (an XSKMAP cannot be read from userspace).
    pub fn remove_socket(&self, queue: u32) -> Result<(), SteeringError> {
        self.check_queue(queue)?;
        Self::delete(
            &self.skel.maps.steer_xsks,
            "steer_xsks",
            &queue.to_ne_bytes(),
            format!("removing the socket of queue {queue}"),
        )
        .map(|_| ())
    }

    /// The program's counters, summed over all CPUs.
    pub fn counters(&self) -> Result<SteeringCounters, SteeringError> {
        counters::read(&self.skel.maps.steer_cnt)
    }

    /// Runs the program once on `frame` with `BPF_PROG_TEST_RUN` (rx queue
    /// 0, not attached anywhere) and returns its verdict. Counters count
    /// the run like a real frame. `frame` must be at least 14 bytes.
    pub fn test_run(&self, frame: &[u8]) -> Result<XdpAction, SteeringError> {
        self.test_run_repeat(frame, 1)
    }

    /// [`test_run`](Self::test_run) `repeat` times in one syscall; returns
    /// the last verdict.
    pub fn test_run_repeat(&self, frame: &[u8], repeat: u32) -> Result<XdpAction, SteeringError> {
        let input = ProgramInput {
            data_in: Some(frame),
            repeat,
            ..Default::default()
        };
        self.skel
            .progs
            .xdpnet_steer
            .test_run(input)
            .map(|out| XdpAction::from(out.return_value))
            .map_err(|e| SteeringError::TestRun {
                cause: cause_of(&e),
            })
    }

    /// The program's file descriptor (e.g. for `bpftool` style tooling).
    pub fn prog_fd(&self) -> BorrowedFd<'_> {
        self.skel.progs.xdpnet_steer.as_fd()
    }
}

impl Drop for SteeringProgram {
    fn drop(&mut self) {
        if let Err(e) = self.detach() {
            // Nowhere to return it; the message carries the cleanup command.
            eprintln!("xdpnet: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_can_be_shared_with_workers() {
        fn shareable<T: Send + Sync>() {}
        shareable::<SteeringProgram>();
    }

    #[test]
    fn verdicts_map_from_the_uapi_values() {
        assert_eq!(XdpAction::from(1), XdpAction::Drop);
        assert_eq!(XdpAction::from(2), XdpAction::Pass);
        assert_eq!(XdpAction::from(4), XdpAction::Redirect);
        assert_eq!(XdpAction::from(9), XdpAction::Other(9));
    }

    #[test]
    fn options_default_to_the_router() {
        let o = SteeringOptions::default();
        assert_eq!(
            (o.max_queues, o.max_owned, o.policy),
            (64, 256, Policy::All)
        );
        assert_eq!(o.drop_probability, 0.0);
    }

    #[test]
    fn bad_options_are_refused_before_the_kernel_is_asked() {
        let e = SteeringProgram::load(SteeringOptions {
            max_queues: 0,
            ..SteeringOptions::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
        let e = SteeringProgram::load(SteeringOptions {
            drop_probability: 2.0,
            ..SteeringOptions::default()
        })
        .unwrap_err();
        assert!(matches!(e, SteeringError::InvalidArgument { .. }), "{e}");
    }
}
