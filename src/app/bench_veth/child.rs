//! The benchmark's child processes (`xdpnet pktgen`, `sink`, `router` run
//! in a namespace with `ip netns exec NS taskset -c CORES …`; both exec,
//! so the child's pid is the xdpnet process's pid).
//!
//! A [`Spawned`] child is killed on drop, so an error or a panic in the
//! benchmark never leaves a generator or a router running. Standard error
//! is read by a thread line by line: [`Spawned::wait_for_line`] waits for
//! a readiness line, and the collected text is quoted when the child
//! fails.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A running child process, killed on drop.
#[derive(Debug)]
pub struct Spawned {
    what: String,
    child: Option<Child>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Spawned {
    /// Spawn `cmd` with piped stdout/stderr; `what` names it in errors.
    pub fn spawn(what: &str, mut cmd: Command) -> Result<Spawned, String> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let err = child.stderr.take();
        let (tx, rx) = channel();
        let stderr = Arc::new(Mutex::new(String::new()));
        let acc = stderr.clone();
        let reader = std::thread::spawn(move || {
            let Some(err) = err else { return };
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut s) = acc.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
                let _ = tx.send(line);
            }
        });
        Ok(Spawned {
            what: what.to_string(),
            child: Some(child),
            lines: rx,
            stderr,
            reader: Some(reader),
        })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// What the child wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Wait until a stderr line contains `needle`; error when the child
    /// exits first or `timeout` passes.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> Result<(), String> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return Ok(()),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "{} did not get ready within {:.0} s; its stderr: {}",
                        self.what,
                        timeout.as_secs_f64(),
                        self.stderr_text().trim()
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let out = self.finish(Duration::from_secs(1)).err();
                    return Err(out.unwrap_or_else(|| {
                        format!(
                            "{} exited before it was ready; its stderr: {}",
                            self.what,
                            self.stderr_text().trim()
                        )
                    }));
                }
            }
        }
    }

    /// Whether the child is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Send SIGTERM (the xdpnet commands then print their summary) and
    /// collect the output.
    pub fn terminate(&mut self, timeout: Duration) -> Result<String, String> {
        if self.running() {
            let _ = kill(Pid::from_raw(self.pid() as i32), Signal::SIGTERM);
        }
        self.finish(timeout)
    }

    /// Wait for the child to exit (SIGKILL after `timeout`) and return its
    /// standard output; an error quoting stderr when it failed.
    pub fn finish(&mut self, timeout: Duration) -> Result<String, String> {
        let Some(mut child) = self.child.take() else {
            return Err(format!("{} was already collected", self.what));
        };
        let end = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) | Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let mut out = String::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        match status {
            Some(s) if s.success() => Ok(out),
            Some(s) => Err(format!(
                "{} failed ({s}): {}",
                self.what,
                self.stderr_text().trim()
            )),
            None => Err(format!(
                "{} did not stop within {:.0} s and was killed; its stderr: {}",
                self.what,
                timeout.as_secs_f64(),
                self.stderr_text().trim()
            )),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
