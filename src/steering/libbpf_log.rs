//! Captures libbpf's log lines around one operation, so that the verifier
//! log of a failed load and the kernel's netlink extack text ("Kernel error
//! message: ...") end up inside the [`SteeringError`](super::SteeringError)
//! instead of scrolling past on stderr.
//!
//! libbpf has one process-wide print callback, so captures are serialised by
//! a lock and the previous callback is restored afterwards. Lines logged by
//! other threads during the window are captured too; on success every
//! captured line is replayed to the previous callback, so nothing is lost.

use std::sync::{Mutex, MutexGuard, PoisonError};

use libbpf_rs::PrintLevel;

static LINES: Mutex<Vec<(PrintLevel, String)>> = Mutex::new(Vec::new());
static SERIAL: Mutex<()> = Mutex::new(());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn capture(level: PrintLevel, msg: String) {
    lock(&LINES).push((level, msg));
}

/// libbpf's log lines from one [`with_captured_log`] window.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    lines: Vec<(PrintLevel, String)>,
    previous: Option<(PrintLevel, libbpf_rs::PrintCallback)>,
}

impl Captured {
    /// The kernel's netlink extack text, if libbpf logged one.
    pub(crate) fn kernel_message(&self) -> Option<String> {
        const TAG: &str = "Kernel error message: ";
        self.lines.iter().rev().find_map(|(_, l)| {
            l.find(TAG)
                .map(|i| l[i + TAG.len()..].trim_end().to_string())
        })
    }

    /// The last `n` warning lines (verifier output lives there).
    pub(crate) fn tail(&self, n: usize) -> Vec<String> {
        let warn: Vec<&String> = self
            .lines
            .iter()
            .filter(|(lvl, _)| *lvl == PrintLevel::Warn)
            .map(|(_, l)| l)
            .collect();
        warn[warn.len().saturating_sub(n)..]
            .iter()
            .map(|l| l.to_string())
            .collect()
    }

    /// Hands the lines to the callback that was installed before the
    /// capture (libbpf's default prints warnings and info to stderr).
    pub(crate) fn replay(self) {
        if let Some((min, cb)) = self.previous {
            for (level, line) in self.lines {
                if level <= min {
                    cb(level, line);
                }
            }
        }
    }
}

/// Runs `f` with libbpf's log redirected into the returned [`Captured`].
/// Must not be nested.
pub(crate) fn with_captured_log<T>(f: impl FnOnce() -> T) -> (T, Captured) {
    let _serial = lock(&SERIAL);
    lock(&LINES).clear();
    let previous = libbpf_rs::set_print(Some((PrintLevel::Debug, capture)));
    let value = f();
    libbpf_rs::set_print(previous);
    let lines = std::mem::take(&mut *lock(&LINES));
    (value, Captured { lines, previous })
}
