//! `bpf/pass.bpf.c` (XDP_PASS for every frame) on the kernel DUT's
//! ingress veth end, for the `xdp-live` generator.
//!
//! The xdp-live engine transmits with the generator end's `ndo_xdp_xmit`,
//! and veth delivers such frames to the peer only while the peer has an
//! XDP program attached in native mode (it queues them in the peer's
//! `ptr_ring` for the peer's NAPI; without a program it drops them). The
//! router DUT has its steering program there; the kernel DUT gets this
//! one, so its frames take the ordinary receive path: the end's NAPI
//! runs the program, builds an skb from each frame and hands it to the
//! stack, which forwards it. This is how xdp-trafficgen drives a kernel
//! receiver over veth.
//!
//! Attaching: the program is loaded and attached (netlink, native mode)
//! from a short-lived thread that joined the DUT namespace with
//! `setns(2)`, since interface indices belong to a namespace; the
//! attachment holds the program after the thread's file descriptors are
//! closed. [`PassProgram`]'s Drop detaches it (`ip -n NS link set dev IF
//! xdpdrv off`); deleting the namespace would also remove it.

use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::path::Path;

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Xdp, XdpFlags};
use nix::sched::{setns, CloneFlags};

use super::pass_skel::PassSkelBuilder;
use crate::netns::NetNs;

/// The program attached to one interface of one namespace; detached on
/// drop.
#[derive(Debug)]
pub struct PassProgram {
    ns: String,
    ifname: String,
}

impl PassProgram {
    /// Load `bpf/pass.bpf.c` and attach it in native (driver) mode to
    /// `ifname` in `ns`.
    pub fn attach(ns: &NetNs, ifname: &str) -> Result<PassProgram, String> {
        let path = Path::new("/run/netns").join(ns.name());
        let what = format!("XDP_PASS program on {ifname} (namespace {})", ns.name());
        std::thread::scope(|s| {
            s.spawn(|| attach_in(&path, ifname))
                .join()
                .map_err(|_| "the thread attaching it panicked".to_string())?
        })
        .map_err(|e| format!("cannot attach the {what}: {e}"))?;
        Ok(PassProgram {
            ns: ns.name().to_string(),
            ifname: ifname.to_string(),
        })
    }
}

/// Runs on a thread of its own: joins the namespace at `path` (for this
/// thread only) and attaches there.
fn attach_in(path: &Path, ifname: &str) -> Result<(), String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    setns(f.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("setns({}): {e} (needs CAP_SYS_ADMIN)", path.display()))?;
    let ifindex =
        nix::net::if_::if_nametoindex(ifname).map_err(|e| format!("no interface {ifname}: {e}"))?;
    let mut storage = MaybeUninit::uninit();
    let open = PassSkelBuilder::default()
        .open(&mut storage)
        .map_err(|e| format!("opening bpf/pass.bpf.c: {e}"))?;
    let skel = open
        .load()
        .map_err(|e| format!("loading bpf/pass.bpf.c: {e} (needs CAP_BPF)"))?;
    Xdp::new(skel.progs.xdpnet_pass.as_fd())
        .attach(
            ifindex as i32,
            XdpFlags::DRV_MODE | XdpFlags::UPDATE_IF_NOEXIST,
        )
        .map_err(|e| {
            format!(
                "native-mode attach: {e} (another XDP program on {ifname}, or no veth XDP support)"
            )
        })
}

impl Drop for PassProgram {
    fn drop(&mut self) {
        let _ = crate::netns::run(&[
            "ip",
            "-n",
            &self.ns,
            "link",
            "set",
            "dev",
            &self.ifname,
            "xdpdrv",
            "off",
        ]);
    }
}
