//! Attaching the steering program to an interface, and taking it off again.
//!
//! The mode selection is described in the parent module's docs (public);
//! this module implements it.
//!
//! # Refusing to replace
//!
//! Before attaching, the interface is queried; if any XDP program is there
//! (ours from another process, xdp-loader's, Cilium's, ...) the attach is
//! refused with [`SteeringError::AlreadyAttached`], naming the program, its
//! mode, the bpf_link holding it if any, and the command that removes it.
//! Nothing is ever replaced silently.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::str::FromStr;

use libbpf_rs::libbpf_sys;
use libbpf_rs::query::{LinkInfoIter, LinkTypeInfo, ProgInfoIter};
use libbpf_rs::{Link, ProgramMut, Xdp, XdpFlags};

use super::error::{cause_of, errno_of, SteeringError};
use super::iface::Iface;
use super::libbpf_log::with_captured_log;
use super::privilege;

const EPERM: i32 = 1;
const ENODEV: i32 = 19;
const EBUSY: i32 = 16;
const EEXIST: i32 = 17;
const EINVAL: i32 = 22;
const ERANGE: i32 = 34;
const EOPNOTSUPP: i32 = 95;

/// How the XDP program runs on the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum XdpMode {
    /// Native if the driver supports it, else generic (with a warning).
    /// Only ever asked for; [`Attachment::mode`] is never `Auto`.
    #[default]
    Auto,
    /// Driver mode: the program runs in the driver's rx path, before any
    /// skb is allocated. Required for AF_XDP zero-copy.
    Native,
    /// Generic (skb) mode: runs after the skb is built. Works on every
    /// interface; slow, and AF_XDP sockets run in copy mode.
    Generic,
}

impl XdpMode {
    /// The name used on the command line (`--xdp-mode`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Native => "native",
            Self::Generic => "generic",
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for XdpMode {
    type Err = SteeringError;

    /// Accepts `auto`, `native` (alias `drv`) and `generic` (alias `skb`),
    /// the latter two as xdp-tools and iproute2 spell them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "native" | "drv" => Ok(Self::Native),
            "generic" | "skb" => Ok(Self::Generic),
            other => Err(SteeringError::InvalidArgument {
                what: format!("unknown XDP mode `{other}`"),
                fix: "use one of auto, native, generic".into(),
            }),
        }
    }
}

/// How the attachment is held by the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMethod {
    /// A bpf_link owned by this process: detached when the process exits,
    /// even by a crash.
    Link,
    /// A netlink attachment: stays until detached (Drop does it; after a
    /// crash, `ip link set dev IF xdpgeneric off`).
    Netlink,
}

/// Where and how the program was attached (the honest report: the mode
/// here is the one the kernel actually used).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an attachment may carry warnings (e.g. a fallback to generic mode) that must be shown"]
pub struct Attachment {
    /// Interface name.
    pub ifname: String,
    /// Interface index (in the attaching thread's network namespace).
    pub ifindex: u32,
    /// [`XdpMode::Native`] or [`XdpMode::Generic`], never `Auto`.
    pub mode: XdpMode,
    /// bpf_link or netlink.
    pub method: AttachMethod,
    /// Kernel id of the attached program (as `ip link` and `bpftool` show).
    pub prog_id: u32,
    /// Things the user should know, e.g. why native mode was not used.
    pub warnings: Vec<String>,
}

impl Attachment {
    /// The command that removes this attachment by hand.
    pub fn cleanup_command(&self) -> String {
        let kw = if self.mode == XdpMode::Generic {
            "xdpgeneric"
        } else {
            "xdp"
        };
        format!("ip link set dev {} {kw} off", self.ifname)
    }
}

impl fmt::Display for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = match self.method {
            AttachMethod::Link => "bpf_link",
            AttachMethod::Netlink => "netlink",
        };
        write!(
            f,
            "XDP steering program (id {}) on {} in {} mode via {method}",
            self.prog_id, self.ifname, self.mode
        )?;
        for w in &self.warnings {
            write!(f, "; warning: {w}")?;
        }
        Ok(())
    }
}

/// An XDP program found on an interface we were asked to attach to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingProgram {
    /// Kernel program id.
    pub id: u32,
    /// Program name, when it could be read.
    pub name: Option<String>,
    /// "native", "generic", "offload" or "multiple".
    pub mode: &'static str,
    /// The bpf_link holding it, if it is held by one.
    pub link_id: Option<u32>,
}

impl ExistingProgram {
    /// The `ip link set dev IF <keyword> off` keyword for its mode.
    pub fn ip_link_keyword(&self) -> &'static str {
        match self.mode {
            "generic" => "xdpgeneric",
            "native" => "xdp",
            "offload" => "xdpoffload",
            _ => "xdp",
        }
    }
}

impl fmt::Display for ExistingProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "program `{}` (id {}, {} mode",
            self.name.as_deref().unwrap_or("?"),
            self.id,
            self.mode
        )?;
        match self.link_id {
            Some(l) => write!(f, ", bpf_link {l})"),
            None => write!(f, ", netlink)"),
        }
    }
}

/// An attachment made by this process.
pub(crate) struct Active {
    pub(crate) info: Attachment,
    /// `Some` for [`AttachMethod::Link`]: dropping it detaches.
    link: Option<Link>,
}

fn mode_name(attach_mode: u8) -> &'static str {
    match u32::from(attach_mode) {
        libbpf_sys::XDP_ATTACHED_DRV => "native",
        libbpf_sys::XDP_ATTACHED_SKB => "generic",
        libbpf_sys::XDP_ATTACHED_HW => "offload",
        _ => "multiple",
    }
}

/// What is attached to `iface` now, if anything.
fn existing(
    prog_fd: BorrowedFd<'_>,
    iface: &Iface,
) -> Result<Option<ExistingProgram>, SteeringError> {
    let q = Xdp::new(prog_fd)
        .query(iface.index as i32, XdpFlags::NONE)
        .map_err(|e| query_error(&e, iface))?;
    if u32::from(q.attach_mode) == libbpf_sys::XDP_ATTACHED_NONE {
        return Ok(None);
    }
    let id = [q.prog_id, q.drv_prog_id, q.skb_prog_id, q.hw_prog_id]
        .into_iter()
        .find(|&id| id != 0)
        .unwrap_or(0);
    // Enumerating programs and links needs CAP_SYS_ADMIN; without it the
    // report just lacks the name and link id.
    let name = ProgInfoIter::default()
        .find(|p| p.id == id)
        .map(|p| p.name.to_string_lossy().into_owned());
    let link_id = LinkInfoIter::default()
        .find(|l| {
            l.prog_id == id && matches!(&l.info, LinkTypeInfo::Xdp(x) if x.ifindex == iface.index)
        })
        .map(|l| l.id);
    Ok(Some(ExistingProgram {
        id,
        name,
        mode: mode_name(q.attach_mode),
        link_id,
    }))
}

fn query_error(e: &libbpf_rs::Error, iface: &Iface) -> SteeringError {
    match errno_of(e) {
        Some(ENODEV) => SteeringError::NoSuchInterface {
            name: iface.name.clone(),
        },
        Some(EPERM) => SteeringError::PermissionDenied {
            operation: "query XDP on the interface",
            missing: vec!["CAP_NET_ADMIN"],
        },
        _ => SteeringError::Attach {
            ifname: iface.name.clone(),
            mode: XdpMode::Auto,
            cause: format!("querying attached XDP programs: {}", cause_of(e)),
            extack: None,
        },
    }
}

/// The mode the kernel placed our program in.
fn placed_mode(prog_fd: BorrowedFd<'_>, iface: &Iface) -> Result<XdpMode, SteeringError> {
    let q = Xdp::new(prog_fd)
        .query(iface.index as i32, XdpFlags::NONE)
        .map_err(|e| query_error(&e, iface))?;
    Ok(match u32::from(q.attach_mode) {
        libbpf_sys::XDP_ATTACHED_SKB => XdpMode::Generic,
        _ => XdpMode::Native,
    })
}

/// Replays an attach through netlink to learn the kernel's extack text.
fn probe_extack(prog_fd: BorrowedFd<'_>, iface: &Iface, flags: XdpFlags) -> Option<String> {
    let xdp = Xdp::new(prog_fd);
    let modes = XdpFlags::from_bits_truncate(flags.bits() & XdpFlags::MODES.bits());
    let flags = flags | XdpFlags::UPDATE_IF_NOEXIST;
    let (res, log) = with_captured_log(|| xdp.attach(iface.index as i32, flags));
    if res.is_ok() {
        // Succeeded where the link failed (a race with the interface's
        // configuration): take it off again, we only wanted the message.
        let _ = xdp.detach(iface.index as i32, modes);
    }
    log.kernel_message()
}

/// Maps a failed attach to the error that explains it.
fn attach_error(
    e: &libbpf_rs::Error,
    prog_fd: BorrowedFd<'_>,
    iface: &Iface,
    mode: XdpMode,
    extack: Option<String>,
) -> SteeringError {
    let errno = errno_of(e);
    let mode_flag = if mode == XdpMode::Generic {
        XdpFlags::SKB_MODE
    } else {
        XdpFlags::DRV_MODE
    };
    let extack = match (extack, errno) {
        (Some(m), _) => Some(m),
        (None, Some(EINVAL | ERANGE | EOPNOTSUPP)) => probe_extack(prog_fd, iface, mode_flag),
        (None, _) => None,
    };
    let mentions_mtu = extack
        .as_deref()
        .is_some_and(|m| m.to_ascii_lowercase().contains("mtu"));
    match errno {
        Some(EPERM) => SteeringError::PermissionDenied {
            operation: "attach XDP to the interface",
            missing: vec!["CAP_NET_ADMIN"],
        },
        Some(ENODEV) => SteeringError::NoSuchInterface {
            name: iface.name.clone(),
        },
        Some(EBUSY | EEXIST) => match existing(prog_fd, iface) {
            Ok(Some(existing)) => SteeringError::AlreadyAttached {
                ifname: iface.name.clone(),
                existing,
            },
            _ => SteeringError::Attach {
                ifname: iface.name.clone(),
                mode,
                cause: cause_of(e),
                extack,
            },
        },
        Some(ERANGE) => SteeringError::MtuTooLarge {
            ifname: iface.name.clone(),
            mtu: iface.mtu(),
            extack,
        },
        Some(EINVAL) if mentions_mtu => SteeringError::MtuTooLarge {
            ifname: iface.name.clone(),
            mtu: iface.mtu(),
            extack,
        },
        Some(EOPNOTSUPP) if mode != XdpMode::Generic => SteeringError::NativeUnsupported {
            ifname: iface.name.clone(),
            driver: iface.driver(),
            extack,
        },
        _ => SteeringError::Attach {
            ifname: iface.name.clone(),
            mode,
            cause: cause_of(e),
            extack,
        },
    }
}

fn attach_generic(
    prog_fd: BorrowedFd<'_>,
    iface: &Iface,
    prog_id: u32,
    warnings: Vec<String>,
) -> Result<Active, SteeringError> {
    let flags = XdpFlags::SKB_MODE | XdpFlags::UPDATE_IF_NOEXIST;
    let (res, log) = with_captured_log(|| Xdp::new(prog_fd).attach(iface.index as i32, flags));
    if let Err(e) = res {
        return Err(attach_error(
            &e,
            prog_fd,
            iface,
            XdpMode::Generic,
            log.kernel_message(),
        ));
    }
    log.replay();
    let mut info = Attachment {
        ifname: iface.name.clone(),
        ifindex: iface.index,
        mode: XdpMode::Generic,
        method: AttachMethod::Netlink,
        prog_id,
        warnings,
    };
    info.warnings.push(format!(
        "generic mode is attached via netlink and survives a crash of this process; \
         clean up with `{}`",
        info.cleanup_command()
    ));
    Ok(Active { info, link: None })
}

/// Attaches `prog` to `iface` as described in the module docs.
pub(crate) fn attach(
    prog: &ProgramMut<'_>,
    prog_id: u32,
    iface: &Iface,
    mode: XdpMode,
) -> Result<Active, SteeringError> {
    let missing = privilege::missing_for_attach();
    if !missing.is_empty() {
        return Err(SteeringError::PermissionDenied {
            operation: "attach XDP to the interface",
            missing,
        });
    }
    let prog_fd = prog.as_fd();
    if let Some(existing) = existing(prog_fd, iface)? {
        return Err(SteeringError::AlreadyAttached {
            ifname: iface.name.clone(),
            existing,
        });
    }

    if mode == XdpMode::Generic {
        return attach_generic(prog_fd, iface, prog_id, Vec::new());
    }

    let (res, log) = with_captured_log(|| prog.attach_xdp(iface.index as i32));
    let link = match res {
        Ok(link) => link,
        Err(e) if mode == XdpMode::Auto && errno_of(&e) == Some(EOPNOTSUPP) => {
            let why = probe_extack(prog_fd, iface, XdpFlags::DRV_MODE)
                .unwrap_or_else(|| "the driver refused native XDP (EOPNOTSUPP)".into());
            let warning = format!(
                "native XDP is not available on {}: {why}; fell back to generic mode \
                 (slow; AF_XDP in copy mode)",
                iface.name
            );
            return attach_generic(prog_fd, iface, prog_id, vec![warning]);
        }
        Err(e) => return Err(attach_error(&e, prog_fd, iface, mode, log.kernel_message())),
    };
    log.replay();

    let placed = match placed_mode(prog_fd, iface) {
        Ok(m) => m,
        Err(e) => {
            let _ = link.detach();
            return Err(e);
        }
    };
    let mut warnings = Vec::new();
    if placed == XdpMode::Generic {
        if mode == XdpMode::Native {
            let _ = link.detach();
            // The kernel placed it in generic mode by itself: the driver
            // has no XDP hook (no ndo_bpf), so there is no extack to show.
            return Err(SteeringError::NativeUnsupported {
                ifname: iface.name.clone(),
                driver: iface.driver(),
                extack: None,
            });
        }
        warnings.push(format!(
            "the driver of {} has no native XDP support; the kernel runs the program \
             in generic mode (slow; AF_XDP in copy mode)",
            iface.name
        ));
    }
    Ok(Active {
        info: Attachment {
            ifname: iface.name.clone(),
            ifindex: iface.index,
            mode: placed,
            method: AttachMethod::Link,
            prog_id,
            warnings,
        },
        link: Some(link),
    })
}

/// Takes the attachment off. For netlink attachments only our own program
/// is removed: if something else replaced it meanwhile, it is left alone.
pub(crate) fn detach(prog_fd: BorrowedFd<'_>, active: Active) -> Result<(), SteeringError> {
    let Active { info, link } = active;
    let failed = |cause: String| SteeringError::Detach {
        ifname: info.ifname.clone(),
        cause,
        cleanup: info.cleanup_command(),
    };
    match link {
        Some(link) => {
            // Explicit BPF_LINK_DETACH: the attachment goes even if a copy
            // of the link fd survives (e.g. inherited by a child process).
            let res = link.detach();
            drop(link);
            match res {
                Ok(()) => Ok(()),
                // Interface already gone: nothing left to detach.
                Err(e) if errno_of(&e) == Some(ENODEV) => Ok(()),
                Err(e) => Err(failed(cause_of(&e))),
            }
        }
        None => {
            let xdp = Xdp::new(prog_fd);
            let ifindex = info.ifindex as i32;
            match xdp.query(ifindex, XdpFlags::NONE) {
                Ok(q) if q.skb_prog_id == info.prog_id => xdp
                    .detach(ifindex, XdpFlags::SKB_MODE)
                    .map_err(|e| failed(cause_of(&e))),
                Ok(_) => Ok(()),
                Err(e) if errno_of(&e) == Some(ENODEV) => Ok(()),
                Err(e) => Err(failed(cause_of(&e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        for (s, m) in [
            ("auto", XdpMode::Auto),
            ("native", XdpMode::Native),
            ("drv", XdpMode::Native),
            ("generic", XdpMode::Generic),
            ("skb", XdpMode::Generic),
        ] {
            assert_eq!(s.parse::<XdpMode>().unwrap(), m);
        }
        assert_eq!(XdpMode::Generic.to_string(), "generic");
        let err = "hw".parse::<XdpMode>().unwrap_err().to_string();
        assert!(err.contains("auto, native, generic"), "{err}");
    }

    #[test]
    fn cleanup_commands_match_the_mode() {
        let mut a = Attachment {
            ifname: "eth0".into(),
            ifindex: 2,
            mode: XdpMode::Generic,
            method: AttachMethod::Netlink,
            prog_id: 7,
            warnings: vec!["w".into()],
        };
        assert_eq!(a.cleanup_command(), "ip link set dev eth0 xdpgeneric off");
        assert!(a
            .to_string()
            .contains("generic mode via netlink; warning: w"));
        a.mode = XdpMode::Native;
        assert_eq!(a.cleanup_command(), "ip link set dev eth0 xdp off");

        let e = ExistingProgram {
            id: 9,
            name: Some("xdp_dispatcher".into()),
            mode: "generic",
            link_id: None,
        };
        assert_eq!(e.ip_link_keyword(), "xdpgeneric");
        let msg = SteeringError::AlreadyAttached {
            ifname: "eth0".into(),
            existing: e,
        }
        .to_string();
        assert!(
            msg.contains("`xdp_dispatcher` (id 9, generic mode, netlink)"),
            "{msg}"
        );
        assert!(msg.contains("ip link set dev eth0 xdpgeneric off"), "{msg}");
    }
}
