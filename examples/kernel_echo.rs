//! The Linux side of `scripts/bench-tcp.sh`: an efficient kernel TCP echo
//! server and the kernel clients that load both it and `xdpnet echo`.
//!
//! ```text
//! kernel_echo serve  ADDR:PORT                 echo server, one thread, epoll
//! kernel_echo wait   ADDR:PORT SECS            connect until a server answers
//! kernel_echo stream ADDR:PORT BYTES           one connection: send BYTES,
//!                                              read the echo back (JSON line)
//! kernel_echo rate   ADDR:PORT SECS PARALLEL   connections/s: PARALLEL threads
//!                                              loop connect, 64-byte request,
//!                                              read the echo, close (JSON line)
//! ```
//!
//! The server is what a careful Linux service looks like, so the benchmark
//! compares xdpnet with Linux's TCP, not with a slow server: one thread
//! (like one xdpnet worker), level-triggered epoll, non-blocking sockets,
//! `TCP_NODELAY`, a 256 KiB read buffer, and per connection at most one
//! buffer of bytes read but not yet echoed: while the peer does not take
//! its echo, the connection is not read (flow control, as `xdpnet echo`).
//! When the peer half-closes and everything is echoed, the server closes.
//!
//! `stream` writes from one thread and reads on another, so the echo
//! flows both ways at once; it fails if fewer bytes come back than were
//! sent. `rate` counts completed request/response connections; a
//! connection error is counted, not fatal. Both print one JSON object.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

const LISTENER: u64 = u64::MAX;
const READ_BUF: usize = 256 * 1024;

fn usage() -> ! {
    eprintln!(
        "usage: kernel_echo serve ADDR:PORT | wait ADDR:PORT SECS | \
         stream ADDR:PORT BYTES | rate ADDR:PORT SECS PARALLEL"
    );
    std::process::exit(2);
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        eprintln!("kernel_echo: missing or bad {what}");
        usage()
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = arg(&args, 2, "ADDR:PORT");
    let r = match args.get(1).map(String::as_str) {
        Some("serve") => serve(addr),
        Some("wait") => wait(addr, arg(&args, 3, "SECS")),
        Some("stream") => stream(addr, arg(&args, 3, "BYTES")),
        Some("rate") => rate(addr, arg(&args, 3, "SECS"), arg(&args, 4, "PARALLEL")),
        _ => usage(),
    };
    if let Err(e) = r {
        eprintln!("kernel_echo: {e}");
        std::process::exit(1);
    }
}

/// One connection of the server.
struct Conn {
    s: TcpStream,
    /// Read, not yet echoed: `pending[head..]`.
    pending: Vec<u8>,
    head: usize,
    /// Registered for EPOLLOUT (waiting to flush) instead of EPOLLIN.
    want_out: bool,
}

fn serve(addr: SocketAddr) -> Result<(), String> {
    let l = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| e.to_string())?;
    ep.add(l.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))
        .map_err(|e| e.to_string())?;
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next: u64 = 0;
    let mut buf = vec![0u8; READ_BUF];
    let mut events = vec![EpollEvent::empty(); 256];
    loop {
        let n = match ep.wait(&mut events, EpollTimeout::NONE) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("epoll_wait: {e}")),
        };
        for ev in &events[..n] {
            let id = ev.data();
            if id == LISTENER {
                loop {
                    match l.accept() {
                        Ok((s, _)) => {
                            let _ = s.set_nonblocking(true);
                            let _ = s.set_nodelay(true);
                            next += 1;
                            if ep
                                .add(s.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, next))
                                .is_ok()
                            {
                                conns.insert(
                                    next,
                                    Conn {
                                        s,
                                        pending: Vec::new(),
                                        head: 0,
                                        want_out: false,
                                    },
                                );
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        // EMFILE, ECONNABORTED: drop this one, keep serving.
                        Err(_) => break,
                    }
                }
                continue;
            }
            let done = match conns.get_mut(&id) {
                Some(c) => service(&ep, c, id, &mut buf),
                None => false,
            };
            if done {
                if let Some(c) = conns.remove(&id) {
                    let _ = ep.delete(c.s.as_fd());
                }
            }
        }
    }
}

/// Echo what can be echoed; returns whether the connection is finished.
fn service(ep: &Epoll, c: &mut Conn, id: u64, buf: &mut [u8]) -> bool {
    // Flush what is pending first.
    while c.head < c.pending.len() {
        match c.s.write(&c.pending[c.head..]) {
            Ok(n) => c.head += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if !c.want_out {
                    c.want_out = true;
                    let mut ev = EpollEvent::new(EpollFlags::EPOLLOUT, id);
                    let _ = ep.modify(c.s.as_fd(), &mut ev);
                }
                return false;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    c.pending.clear();
    c.head = 0;
    if c.want_out {
        c.want_out = false;
        let mut ev = EpollEvent::new(EpollFlags::EPOLLIN, id);
        let _ = ep.modify(c.s.as_fd(), &mut ev);
    }
    // Then read once (level-triggered: more readable data re-fires).
    match c.s.read(buf) {
        // The peer closed its side and everything is echoed: close.
        Ok(0) => true,
        Ok(n) => {
            let mut off = 0;
            while off < n {
                match c.s.write(&buf[off..n]) {
                    Ok(w) => off += w,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return true,
                }
            }
            if off < n {
                c.pending.extend_from_slice(&buf[off..n]);
                c.want_out = true;
                let mut ev = EpollEvent::new(EpollFlags::EPOLLOUT, id);
                let _ = ep.modify(c.s.as_fd(), &mut ev);
            }
            false
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => false,
        Err(_) => true,
    }
}

fn wait(addr: SocketAddr, secs: f64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(s) => {
                let _ = s.shutdown(Shutdown::Both);
                return Ok(());
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("no server on {addr} after {secs} s: {e}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn stream(addr: SocketAddr, bytes: u64) -> Result<(), String> {
    let t0 = Instant::now();
    let s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    let connect_us = t0.elapsed().as_micros() as u64;
    let _ = s.set_nodelay(true);
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        // A pattern with a period that is no power of two.
        let chunk: Vec<u8> = (0..(1 << 20) + 13).map(|i: u32| (i % 251) as u8).collect();
        let mut left = bytes;
        while left > 0 {
            let n = (left as usize).min(chunk.len());
            w.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        w.shutdown(Shutdown::Write)
    });
    let mut r = s;
    let mut buf = vec![0u8; READ_BUF];
    let mut got: u64 = 0;
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n as u64,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read after {got} bytes: {e}")),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    writer
        .join()
        .map_err(|_| "writer panicked".to_string())?
        .map_err(|e| format!("write: {e}"))?;
    if got != bytes {
        return Err(format!("{got} bytes echoed of {bytes} sent"));
    }
    println!(
        "{{\"bytes\": {bytes}, \"secs\": {secs:.4}, \"mbit_s\": {:.1}, \"connect_us\": {connect_us}}}",
        bytes as f64 * 8.0 / secs / 1e6
    );
    Ok(())
}

/// One request/response connection; Ok(connect time in µs).
fn one(addr: SocketAddr, req: &[u8], buf: &mut [u8]) -> std::io::Result<u64> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    let us = t0.elapsed().as_micros() as u64;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(req)?;
    let mut got = 0;
    while got < req.len() {
        match s.read(&mut buf[got..req.len()])? {
            0 => return Err(ErrorKind::UnexpectedEof.into()),
            n => got += n,
        }
    }
    if buf[..req.len()] != *req {
        return Err(std::io::Error::new(ErrorKind::InvalidData, "echo differs"));
    }
    // Closing first leaves TIME-WAIT here, on the client.
    drop(s);
    Ok(us)
}

fn rate(addr: SocketAddr, secs: f64, parallel: usize) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let connect_us = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let t0 = Instant::now();
    let threads: Vec<_> = (0..parallel.max(1))
        .map(|i| {
            let (stop, ok, failed, connect_us, first_error) = (
                stop.clone(),
                ok.clone(),
                failed.clone(),
                connect_us.clone(),
                first_error.clone(),
            );
            std::thread::spawn(move || {
                let req: Vec<u8> = (0..64u8).map(|b| b.wrapping_add(i as u8)).collect();
                let mut buf = [0u8; 64];
                while !stop.load(Ordering::Relaxed) {
                    match one(addr, &req, &mut buf) {
                        Ok(us) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            connect_us.fetch_add(us, Ordering::Relaxed);
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut f) = first_error.lock() {
                                f.get_or_insert_with(|| e.to_string());
                            }
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let err = first_error.lock().ok().and_then(|f| f.clone());
    println!(
        "{{\"conns\": {ok}, \"failed\": {failed}, \"secs\": {elapsed:.3}, \"conns_per_s\": {:.1}, \
         \"connect_us_avg\": {:.1}, \"parallel\": {parallel}, \"first_error\": {}}}",
        ok as f64 / elapsed,
        connect_us.load(Ordering::Relaxed) as f64 / ok.max(1) as f64,
        err.map_or("null".to_string(), |e| format!("{e:?}"))
    );
    Ok(())
}
