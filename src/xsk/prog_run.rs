//! `BPF_PROG_RUN` of an XDP program with live frames
//! (`BPF_F_TEST_XDP_LIVE_FRAMES`) by program fd.
//!
//! libbpf-rs 0.25 offers `test_run` only on a `ProgramMut`, which is
//! neither `Send` nor `Sync`, so generator threads could not share one
//! loaded program. A file descriptor can be shared: this is the one call
//! they need, on a borrowed fd. Used by `app::pktgen::engine_live`.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd};

use libbpf_rs::libbpf_sys;

/// `BPF_F_TEST_XDP_LIVE_FRAMES` from `<linux/bpf.h>`.
pub const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// Run the XDP program `prog` `repeat` times over frames built from `data`
/// with context `ctx` (a `struct xdp_md`), transmitting what it returns
/// XDP_TX/XDP_REDIRECT for. The kernel reads `data` and `ctx` only.
pub fn xdp_live_frames_run(
    prog: BorrowedFd<'_>,
    data: &[u8],
    ctx: &[u8],
    repeat: u32,
) -> io::Result<()> {
    let mut opts = libbpf_sys::bpf_test_run_opts {
        sz: size_of::<libbpf_sys::bpf_test_run_opts>() as _,
        ..Default::default()
    };
    opts.data_in = data.as_ptr().cast();
    opts.data_size_in = data.len() as u32;
    opts.ctx_in = ctx.as_ptr().cast();
    opts.ctx_size_in = ctx.len() as u32;
    opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
    opts.repeat = repeat as i32;
    // SAFETY: `opts` is a zero-initialised bpf_test_run_opts with `sz` set,
    // as libbpf requires; its input pointers point into `data` and `ctx`,
    // which outlive the call, with their lengths, and the kernel only reads
    // them (live frames take no data_out/ctx_out, which stay null). `prog`
    // is an open fd for the duration of the call.
    let rc = unsafe { libbpf_sys::bpf_prog_test_run_opts(prog.as_raw_fd(), &mut opts) };
    if rc < 0 {
        return Err(io::Error::from_raw_os_error(-rc));
    }
    Ok(())
}
