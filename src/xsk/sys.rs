//! Thin, checked wrappers over the syscalls AF_XDP needs, and the few
//! kernel ABI items `libc` 0.2 does not carry.
//!
//! Every function here returns `io::Error` with the raw errno; turning an
//! errno into an explanation is [`super::error`]'s job, which knows what
//! was being attempted. ABI references are to `include/uapi/linux/if_xdp.h`
//! (Linux 6.17+ for `XDP_MAX_TX_SKB_BUDGET`), `asm-generic/socket.h` and
//! `uapi/linux/ethtool.h`.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

/// `if_xdp.h`: `#define XDP_MAX_TX_SKB_BUDGET 9` (Linux 6.17). Older
/// kernels answer `ENOPROTOOPT`.
pub(crate) const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;
/// `if_xdp.h`: `#define XDP_RING_NEED_WAKEUP (1 << 0)` (ring `flags` word).
pub(crate) const XDP_RING_NEED_WAKEUP: u32 = 1;
/// `if_xdp.h`: `XDP_PACKET_HEADROOM` — the kernel places received data
/// this far after the configured UMEM headroom of a chunk.
pub(crate) const XDP_PACKET_HEADROOM: u32 = 256;
/// `asm-generic/socket.h`: `#define SO_PREFER_BUSY_POLL 69` (Linux 5.11).
pub(crate) const SO_PREFER_BUSY_POLL: libc::c_int = 69;
/// `asm-generic/socket.h`: `#define SO_BUSY_POLL_BUDGET 70` (Linux 5.11).
pub(crate) const SO_BUSY_POLL_BUDGET: libc::c_int = 70;
/// `ethtool.h`: `#define ETHTOOL_GCHANNELS 0x0000003c`.
const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// `ethtool.h`: `struct ethtool_channels`.
#[repr(C)]
#[derive(Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A new `AF_XDP` socket.
pub(crate) fn xdp_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments; on success the kernel
    // returns a fresh descriptor that nothing else owns.
    let fd = cvt(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A UDP socket of the calling thread's network namespace, for interface
/// ioctls.
fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(fd, level, name, &value, sizeof value)`.
pub(crate) fn setsockopt<T>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` is a valid, initialised `T` for the duration of the
    // call and the length passed is its size; the kernel only reads it.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `getsockopt` into a zero-initialised `T`; returns the value and the
/// length the kernel wrote (older kernels write shorter structs).
pub(crate) fn getsockopt<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<(T, usize)> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: the buffer is `size_of::<T>()` writable bytes and `len` says
    // so; the kernel writes at most `len` bytes and updates `len`.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    // SAFETY: the value was zero-initialised and every `T` used here is a
    // plain-old-data kernel struct for which all-zero bytes are valid; the
    // kernel may have overwritten a prefix with valid data.
    Ok((unsafe { value.assume_init() }, len as usize))
}

/// `bind()` an AF_XDP socket.
pub(crate) fn bind_xdp(
    fd: BorrowedFd<'_>,
    ifindex: u32,
    queue: u32,
    flags: u16,
    shared_umem_fd: Option<RawFd>,
) -> io::Result<()> {
    let sa = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: shared_umem_fd.map_or(0, |f| f as u32),
    };
    // SAFETY: `sa` is a valid sockaddr_xdp and its exact size is passed.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_xdp).cast(),
            size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// The TX kick: `sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0)`. In copy
/// mode the kernel transmits up to its per-call budget from the TX ring.
pub(crate) fn kick_tx(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a zero-length send with null buffers; the kernel reads
    // nothing from userspace memory.
    let r = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The RX kick: `recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL)`. Wakes
/// the driver to refill from the fill ring, or runs a busy-poll round.
pub(crate) fn kick_rx(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a zero-length receive with null buffers; the kernel writes
    // nothing to userspace memory.
    let r = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `poll()` one descriptor for `POLLIN`; returns whether it is readable.
pub(crate) fn poll_in(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1.
    let n = cvt(unsafe { libc::poll(&mut p, 1, timeout_ms) })?;
    Ok(n > 0 && p.revents & libc::POLLIN != 0)
}

/// An owned memory mapping, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory; all access to its contents goes
// through the ring and frame types, which carry their own rules.
unsafe impl Send for Mmap {}
// SAFETY: as above; `Mmap` itself hands out only the base pointer.
unsafe impl Sync for Mmap {}

impl Mmap {
    /// Anonymous private memory of `len` bytes, pre-faulted (the UMEM).
    pub(crate) fn anonymous(len: usize) -> io::Result<Mmap> {
        // SAFETY: a fresh anonymous mapping; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Self::from_result(p, len)
    }

    /// Map `len` bytes of a socket's ring at page offset `pgoff`.
    pub(crate) fn ring(fd: BorrowedFd<'_>, len: usize, pgoff: u64) -> io::Result<Mmap> {
        // SAFETY: maps kernel ring memory of the socket; a fresh mapping
        // that aliases no Rust object.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                pgoff as libc::off_t,
            )
        };
        Self::from_result(p, len)
    }

    fn from_result(p: *mut libc::c_void, len: usize) -> io::Result<Mmap> {
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Mmap { ptr, len })
    }

    /// Start of the mapping.
    pub(crate) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe a mapping this object created and
        // still owns; nothing borrowed from it outlives the owner (frames
        // and rings keep their owner alive).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// Facts about a network interface of the calling thread's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IfaceInfo {
    pub(crate) index: u32,
    pub(crate) mac: [u8; 6],
    pub(crate) mtu: u32,
}

fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
    let bytes = c.as_bytes_with_nul();
    if bytes.len() > libc::IFNAMSIZ {
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    }
    // SAFETY: ifreq is a plain C struct/union; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Ok(req)
}

/// Index, MAC address and MTU of `name`.
pub(crate) fn iface_info(name: &str) -> io::Result<IfaceInfo> {
    let index =
        nix::net::if_::if_nametoindex(name).map_err(|e| io::Error::from_raw_os_error(e as i32))?;
    let s = ioctl_socket()?;
    let mut req = ifreq_for(name)?;
    // SAFETY: SIOCGIFHWADDR reads the name and writes the `ifru_hwaddr`
    // member of the ifreq we own.
    cvt(unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) })?;
    // SAFETY: the ioctl succeeded, so the union holds `ifru_hwaddr`.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    let mut req = ifreq_for(name)?;
    // SAFETY: SIOCGIFMTU reads the name and writes `ifru_mtu`.
    cvt(unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFMTU, &mut req) })?;
    // SAFETY: the ioctl succeeded, so the union holds `ifru_mtu`.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    Ok(IfaceInfo {
        index,
        mac,
        mtu: mtu.max(0) as u32,
    })
}

/// The number of queues an AF_XDP socket can bind on `name`
/// (`ETHTOOL_GCHANNELS`: combined channels plus the smaller of the
/// dedicated rx/tx counts, the kernel needing both an rx and a tx queue),
/// or `None` when the driver does not report channels.
pub(crate) fn queue_count(name: &str) -> Option<u32> {
    let s = ioctl_socket().ok()?;
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..EthtoolChannels::default()
    };
    let mut req = ifreq_for(name).ok()?;
    req.ifr_ifru.ifru_data = (&mut ch as *mut EthtoolChannels).cast();
    // SAFETY: SIOCETHTOOL with ETHTOOL_GCHANNELS writes one
    // `ethtool_channels` through `ifru_data`, which points at `ch`, alive
    // for the call.
    cvt(unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCETHTOOL, &mut req) }).ok()?;
    Some(ch.combined_count + ch.rx_count.min(ch.tx_count))
}

/// The driver name of `name` (`ETHTOOL_GDRVINFO`), best effort, for error
/// messages.
pub(crate) fn driver_name(name: &str) -> Option<String> {
    const ETHTOOL_GDRVINFO: u32 = 0x3;
    /// `ethtool.h`: `struct ethtool_drvinfo` (only the prefix we read,
    /// padded to the full 196-byte size).
    #[repr(C)]
    struct DrvInfo {
        cmd: u32,
        driver: [u8; 32],
        rest: [u8; 160],
    }
    let s = ioctl_socket().ok()?;
    let mut info = DrvInfo {
        cmd: ETHTOOL_GDRVINFO,
        driver: [0; 32],
        rest: [0; 160],
    };
    let mut req = ifreq_for(name).ok()?;
    req.ifr_ifru.ifru_data = (&mut info as *mut DrvInfo).cast();
    // SAFETY: ETHTOOL_GDRVINFO writes one 196-byte `ethtool_drvinfo`
    // through `ifru_data`, which points at `info` (196 bytes), alive for
    // the call.
    cvt(unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCETHTOOL, &mut req) }).ok()?;
    let end = info.driver.iter().position(|&b| b == 0).unwrap_or(32);
    String::from_utf8(info.driver[..end].to_vec()).ok()
}

/// Raise `RLIMIT_MEMLOCK` to infinity if allowed (the kernel charges UMEM
/// pages to it unless the process has `CAP_IPC_LOCK`); returns the limit
/// in force afterwards (`None` = unlimited).
pub(crate) fn raise_memlock() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
    let _ = setrlimit(Resource::RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY);
    match getrlimit(Resource::RLIMIT_MEMLOCK) {
        Ok((soft, _)) if soft != RLIM_INFINITY => Some(soft),
        _ => None,
    }
}
