//! CPU time the DUT spends, from `/proc`.
//!
//! DUT time over a window = Δ softirq time of the DUT cores
//! (`/proc/stat`, `cpuN` line, 7th field, in `USER_HZ` ticks) + Δ run time
//! of the DUT's threads (`/proc/PID/task/TID/schedstat`, first field, ns):
//! every thread of the `xdpnet router` process and the kernel's NAPI
//! threads (`napi/IF-ID`) of the DUT's interfaces.
//!
//! Softirq work the kernel DUT does under RPS runs on the DUT core mostly
//! while that core is idle, so it shows only in the softirq column;
//! threaded NAPI and the router's workers show as thread run time.
//! Caveat, stated in the report: on a kernel without
//! `CONFIG_IRQ_TIME_ACCOUNTING` (such as this project's CI machine) a
//! softirq that runs in the context of one of those threads is in both
//! figures, so the sum is an upper bound; the two parts are reported
//! separately. Idle workers sleep (unless `--busy-poll`), so the figure is
//! the work done, not the time waited.

use std::fs;

/// `USER_HZ` (clock ticks per second of `/proc/stat`).
pub fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&t| t > 0)
        .map_or(100, |t| t as u64)
}

/// Softirq time of `cpu` so far, in ns.
pub fn softirq_ns(cpu: usize) -> Result<u64, String> {
    let stat =
        fs::read_to_string("/proc/stat").map_err(|e| format!("cannot read /proc/stat: {e}"))?;
    parse_softirq_ticks(&stat, cpu)
        .map(|t| t * 1_000_000_000 / clock_ticks())
        .ok_or_else(|| format!("/proc/stat has no line for cpu{cpu}"))
}

/// The softirq column (user nice system idle iowait irq **softirq**) of
/// the `cpuN` line.
pub fn parse_softirq_ticks(stat: &str, cpu: usize) -> Option<u64> {
    let tag = format!("cpu{cpu}");
    stat.lines()
        .find(|l| l.split_whitespace().next() == Some(tag.as_str()))
        .and_then(|l| l.split_whitespace().nth(7))
        .and_then(|v| v.parse().ok())
}

/// Run time of one thread so far, in ns (`schedstat`, else `stat`'s
/// utime+stime in ticks). `None` when the thread is gone.
pub fn thread_ns(pid: u32, tid: u32) -> Option<u64> {
    let base = format!("/proc/{pid}/task/{tid}");
    if let Ok(s) = fs::read_to_string(format!("{base}/schedstat")) {
        if let Some(v) = s.split_whitespace().next().and_then(|v| v.parse().ok()) {
            return Some(v);
        }
    }
    let s = fs::read_to_string(format!("{base}/stat")).ok()?;
    parse_stat_ticks(&s).map(|t| t * 1_000_000_000 / clock_ticks())
}

/// utime + stime (fields 14 and 15) of a `/proc/…/stat` line; the command
/// name in parentheses may contain spaces, so fields count from the last
/// `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 → index 11.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Every (pid, tid) of process `pid`.
pub fn process_threads(pid: u32) -> Vec<(u32, u32)> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .map(|tid| (pid, tid))
        .collect()
}

/// Kernel NAPI threads of interface `ifname` (`napi/IFNAME-ID`): pids.
/// Interface names in NAPI thread names are cut to fit 15 bytes, so keep
/// them short (see [`crate::netns::unique_ifname`]).
pub fn napi_threads(ifname: &str) -> Vec<u32> {
    let prefix = format!("napi/{ifname}-");
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut v: Vec<u32> = dir
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = fs::read_to_string(e.path().join("comm")).ok()?;
            comm.trim().starts_with(&prefix).then_some(pid)
        })
        .collect();
    v.sort_unstable();
    v
}

/// Pin a thread (any pid, kernel threads included) to `cores`.
pub fn pin(pid: u32, cores: &[usize]) -> Result<(), String> {
    use nix::sched::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    for &c in cores {
        set.set(c)
            .map_err(|e| format!("core {c} is out of range: {e}"))?;
    }
    sched_setaffinity(nix::unistd::Pid::from_raw(pid as i32), &set)
        .map_err(|e| format!("cannot pin thread {pid} to cores {cores:?}: {e}"))
}

/// Set the nice value of a thread (kernel threads included) with
/// `renice`.
pub fn renice(pid: u32, nice: i32) -> Result<(), String> {
    crate::netns::run(&["renice", "-n", &nice.to_string(), "-p", &pid.to_string()]).map(|_| ())
}

/// Make a thread (a NAPI thread) SCHED_FIFO at `prio` with `chrt`.
pub fn set_fifo(pid: u32, prio: u32) -> Result<(), String> {
    crate::netns::run(&["chrt", "-f", "-p", &prio.to_string(), &pid.to_string()]).map(|_| ())
}

/// The DUT's CPU time at one instant.
#[derive(Debug, Clone, Default)]
pub struct CpuSnapshot {
    softirq_ns: u64,
    threads: Vec<((u32, u32), u64)>,
}

/// What the DUT spent between two snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuUsage {
    /// Softirq time on the DUT cores, ns.
    pub softirq_ns: u64,
    /// Run time of the DUT threads, ns.
    pub threads_ns: u64,
}

impl CpuUsage {
    /// Both parts, ns.
    pub fn total_ns(&self) -> u64 {
        self.softirq_ns + self.threads_ns
    }
}

/// Take a snapshot of the DUT cores' softirq time and `threads`' run time.
pub fn snapshot(cores: &[usize], threads: &[(u32, u32)]) -> Result<CpuSnapshot, String> {
    let mut softirq = 0;
    for &c in cores {
        softirq += softirq_ns(c)?;
    }
    Ok(CpuSnapshot {
        softirq_ns: softirq,
        threads: threads
            .iter()
            .filter_map(|&(p, t)| thread_ns(p, t).map(|ns| ((p, t), ns)))
            .collect(),
    })
}

/// Usage from `before` to `after`. A thread missing from `after` (it
/// exited) counts its time up to `before` only; one missing from
/// `before` (it started in between) counts fully.
pub fn usage(before: &CpuSnapshot, after: &CpuSnapshot) -> CpuUsage {
    let threads_ns = after
        .threads
        .iter()
        .map(|(id, ns)| {
            let start = before
                .threads
                .iter()
                .find(|(b, _)| b == id)
                .map_or(0, |(_, v)| *v);
            ns.saturating_sub(start)
        })
        .sum();
    CpuUsage {
        softirq_ns: after.softirq_ns.saturating_sub(before.softirq_ns),
        threads_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softirq_column_of_the_right_cpu() {
        let stat = "cpu  10 0 20 300 0 0 5 0 0 0\n\
                    cpu0 1 0 2 30 0 0 7 0 0 0\n\
                    cpu1 1 0 2 30 0 0 9 0 0 0\n\
                    cpu10 1 0 2 30 0 0 11 0 0 0\n";
        assert_eq!(parse_softirq_ticks(stat, 0), Some(7));
        assert_eq!(parse_softirq_ticks(stat, 1), Some(9));
        assert_eq!(parse_softirq_ticks(stat, 10), Some(11));
        assert_eq!(parse_softirq_ticks(stat, 2), None);
    }

    #[test]
    fn stat_times_skip_a_comm_with_spaces() {
        let line = "42 (napi/a b-1) S 2 0 0 0 -1 2129984 0 0 0 0 17 25 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_stat_ticks(line), Some(42));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn usage_counts_only_the_window() {
        let before = CpuSnapshot {
            softirq_ns: 100,
            threads: vec![((1, 1), 1000), ((1, 2), 50)],
        };
        let after = CpuSnapshot {
            softirq_ns: 400,
            threads: vec![((1, 1), 1500), ((1, 3), 70)],
        };
        let u = usage(&before, &after);
        assert_eq!(u.softirq_ns, 300);
        assert_eq!(u.threads_ns, 500 + 70);
        assert_eq!(u.total_ns(), 870);
    }

    #[test]
    fn own_thread_has_run_time() {
        let pid = std::process::id();
        let threads = process_threads(pid);
        assert!(!threads.is_empty());
        assert!(threads.iter().any(|&(p, t)| thread_ns(p, t).is_some()));
    }
}
