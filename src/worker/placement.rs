//! Queue → worker placement, VPP style (`show interface rx-placement`).
//!
//! # Rules
//!
//! * Every rx queue of every interface is served by exactly one worker:
//!   AF_XDP receives only on the queue a frame arrived on, so an unserved
//!   queue is traffic the dataplane never sees (the steering program would
//!   pass it to the kernel as `pass_no_socket`).
//! * The worker count is, in order of precedence: `--workers N`; the number
//!   of cores in `--cores` (capped at the number of queues, the extra cores
//!   are reported as unused); one worker per rx queue.
//! * Queues are dealt round-robin in interface-major order (interface 0
//!   queue 0, interface 0 queue 1, …, interface 1 queue 0, …): queue `k` of
//!   that list goes to worker `k % workers`. With fewer workers than queues
//!   a worker serves several queues, possibly of several interfaces.
//! * More workers than queues is refused: a worker without a queue would
//!   poll nothing (the fix is more channels, or fewer workers).
//! * Worker `i` is pinned to `cores[i]` when `--cores` is given (each
//!   worker gets its own core: fewer cores than workers is refused), else to
//!   the `i`-th core the process may run on when there are enough of them,
//!   else it is not pinned (and the placement says so).
//!
//! [`place`] is pure: it takes the queue lists and the usable cores as
//! arguments, so every combination is unit tested without a host.

use core::fmt;

/// One rx queue of one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RxQueue {
    /// Index of the interface in the router's interface list.
    pub iface: usize,
    /// Queue id on that interface.
    pub queue: u32,
}

/// What one worker serves and where it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPlacement {
    /// Worker index (also its shard / demux partition).
    pub worker: usize,
    /// Core the worker is pinned to, if any.
    pub core: Option<usize>,
    /// The rx queues it polls, in placement order.
    pub queues: Vec<RxQueue>,
}

/// The full placement: workers, their cores and queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Interface names, indexed by [`RxQueue::iface`].
    pub ifnames: Vec<String>,
    /// Queue ids served per interface (same index as `ifnames`).
    pub iface_queues: Vec<Vec<u32>>,
    /// One entry per worker.
    pub workers: Vec<WorkerPlacement>,
    /// Notes for the user (unused cores, unpinned workers).
    pub notes: Vec<String>,
}

impl Placement {
    /// The number of workers (shards).
    pub fn n_workers(&self) -> usize {
        self.workers.len()
    }

    /// XSKMAP slots the steering program needs: one per queue id up to the
    /// highest queue served on any interface.
    pub fn xskmap_slots(&self) -> u32 {
        self.iface_queues
            .iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(0)
            + 1
    }

    /// The queues worker `w` serves on interface `iface`.
    pub fn queues_of(&self, w: usize, iface: usize) -> impl Iterator<Item = u32> + '_ {
        self.workers
            .get(w)
            .into_iter()
            .flat_map(|p| p.queues.iter())
            .filter(move |q| q.iface == iface)
            .map(|q| q.queue)
    }

    /// The worker serving `queue` of interface `iface`.
    pub fn worker_of(&self, iface: usize, queue: u32) -> Option<usize> {
        self.workers
            .iter()
            .find(|w| w.queues.contains(&RxQueue { iface, queue }))
            .map(|w| w.worker)
    }

    /// `IF:Q` for a queue.
    pub fn queue_name(&self, q: RxQueue) -> String {
        let name = self.ifnames.get(q.iface).map_or("?", String::as_str);
        format!("{name}:{}", q.queue)
    }
}

impl fmt::Display for Placement {
    /// ```text
    /// placement: 2 workers for 4 rx queues
    ///   worker 0 (core 0): veth0:0 veth1:0
    ///   worker 1 (core 1): veth0:1 veth1:1
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: usize = self.iface_queues.iter().map(Vec::len).sum();
        writeln!(
            f,
            "placement: {} worker{} for {} rx queue{}",
            self.workers.len(),
            if self.workers.len() == 1 { "" } else { "s" },
            total,
            if total == 1 { "" } else { "s" }
        )?;
        for w in &self.workers {
            let core = w
                .core
                .map_or_else(|| "not pinned".to_string(), |c| format!("core {c}"));
            let queues: Vec<String> = w.queues.iter().map(|q| self.queue_name(*q)).collect();
            writeln!(f, "  worker {} ({core}): {}", w.worker, queues.join(" "))?;
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        Ok(())
    }
}

/// Why a placement is impossible; `Display` gives the cause and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementError {
    /// No interface or no queue to serve.
    NoQueues,
    /// `--workers 0`.
    ZeroWorkers,
    /// More workers than rx queues.
    MoreWorkersThanQueues {
        /// Workers asked for.
        workers: usize,
        /// Rx queues available.
        queues: usize,
    },
    /// `--cores` lists fewer cores than there are workers.
    TooFewCores {
        /// Workers.
        workers: usize,
        /// Cores listed.
        cores: usize,
    },
    /// A listed core is not one the process may run on.
    CoreUnavailable {
        /// The core.
        core: usize,
        /// The usable cores.
        available: Vec<usize>,
    },
    /// A core is listed twice.
    DuplicateCore(usize),
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoQueues => write!(
                f,
                "nothing to serve: no interface has an rx queue. Fix: give at least one \
                 --iface IF=ADDR/PREFIX"
            ),
            Self::ZeroWorkers => write!(
                f,
                "--workers 0: at least one worker is needed. Fix: --workers 1 or more"
            ),
            Self::MoreWorkersThanQueues { workers, queues } => write!(
                f,
                "--workers {workers} but only {queues} rx queue{} to serve: a worker without a \
                 queue would poll nothing. Fix: use --workers {queues} or fewer, or add \
                 channels (`ethtool -L IF combined {workers}`; veth: create it with \
                 `numrxqueues {workers} numtxqueues {workers}`)",
                if *queues == 1 { "" } else { "s" }
            ),
            Self::TooFewCores { workers, cores } => write!(
                f,
                "{workers} workers but --cores lists {cores} core{}: each worker needs its own \
                 core. Fix: list {workers} cores, or use --workers {cores}",
                if *cores == 1 { "" } else { "s" }
            ),
            Self::CoreUnavailable { core, available } => write!(
                f,
                "core {core} is not available to this process (usable: {}). Fix: pick cores \
                 from that list (check `taskset -p $$` / cgroup cpusets)",
                format_core_list(available)
            ),
            Self::DuplicateCore(c) => write!(
                f,
                "core {c} is listed twice in --cores. Fix: list each core once"
            ),
        }
    }
}

impl std::error::Error for PlacementError {}

/// Place the rx queues on workers (see the module docs for the rules).
///
/// * `iface_queues[i]` is `(name, queue ids)` of interface `i`.
/// * `workers`: `--workers`, if given.
/// * `cores`: `--cores`, if given (already parsed, in order).
/// * `available`: the cores this process may run on (for validation and
///   default pinning; empty = unknown, then nothing is pinned by default and
///   listed cores are not validated).
pub fn place(
    iface_queues: &[(String, Vec<u32>)],
    workers: Option<usize>,
    cores: Option<&[usize]>,
    available: &[usize],
) -> Result<Placement, PlacementError> {
    let all: Vec<RxQueue> = iface_queues
        .iter()
        .enumerate()
        .flat_map(|(iface, (_, qs))| qs.iter().map(move |&queue| RxQueue { iface, queue }))
        .collect();
    if all.is_empty() {
        return Err(PlacementError::NoQueues);
    }
    let mut notes = Vec::new();
    if let Some(cores) = cores {
        let mut seen = std::collections::HashSet::new();
        for &c in cores {
            if !seen.insert(c) {
                return Err(PlacementError::DuplicateCore(c));
            }
            if !available.is_empty() && !available.contains(&c) {
                return Err(PlacementError::CoreUnavailable {
                    core: c,
                    available: available.to_vec(),
                });
            }
        }
    }
    let n = match (workers, cores) {
        (Some(0), _) => return Err(PlacementError::ZeroWorkers),
        (Some(n), _) => n,
        (None, Some(cores)) if !cores.is_empty() => {
            if cores.len() > all.len() {
                notes.push(format!(
                    "--cores lists {} cores but there are only {} rx queues: cores {} unused",
                    cores.len(),
                    all.len(),
                    format_core_list(&cores[all.len()..])
                ));
            }
            cores.len().min(all.len())
        }
        _ => all.len(),
    };
    if n > all.len() {
        return Err(PlacementError::MoreWorkersThanQueues {
            workers: n,
            queues: all.len(),
        });
    }
    let pins: Vec<Option<usize>> = match cores {
        Some(cores) if !cores.is_empty() => {
            if cores.len() < n {
                return Err(PlacementError::TooFewCores {
                    workers: n,
                    cores: cores.len(),
                });
            }
            cores[..n].iter().map(|&c| Some(c)).collect()
        }
        _ if available.len() >= n => available[..n].iter().map(|&c| Some(c)).collect(),
        _ => {
            if available.is_empty() {
                notes.push("usable cores unknown: workers are not pinned".into());
            } else {
                notes.push(format!(
                    "{n} workers but {} usable cores: workers are not pinned and share cores",
                    available.len()
                ));
            }
            vec![None; n]
        }
    };
    let mut placed: Vec<WorkerPlacement> = (0..n)
        .map(|w| WorkerPlacement {
            worker: w,
            core: pins[w],
            queues: Vec::new(),
        })
        .collect();
    for (k, q) in all.iter().enumerate() {
        placed[k % n].queues.push(*q);
    }
    Ok(Placement {
        ifnames: iface_queues.iter().map(|(n, _)| n.clone()).collect(),
        iface_queues: iface_queues.iter().map(|(_, q)| q.clone()).collect(),
        workers: placed,
        notes,
    })
}

/// Parse a CPU/queue list: `0,2-3,7` (the `taskset -c` / DPDK `-l` syntax).
/// Ranges are inclusive; the result is in the order written, duplicates
/// kept (the caller decides whether they are an error).
pub fn parse_list(s: &str) -> Result<Vec<usize>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty list: use e.g. `0,2-3`".into());
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let num = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{t}` is not a number: use e.g. `0,2-3`"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!(
                        "range `{part}` runs backwards: write it as `{b}-{a}`"
                    ));
                }
                if b - a >= 4096 {
                    return Err(format!(
                        "range `{part}` is too large (at most 4096 entries)"
                    ));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    Ok(out)
}

/// Format a list compactly: `[0, 1, 2, 5]` → `0-2,5`.
pub fn format_core_list(list: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < list.len() {
        let start = list[i];
        let mut end = start;
        while i + 1 < list.len() && list[i + 1] == end + 1 {
            end += 1;
            i += 1;
        }
        out.push(if end > start {
            format!("{start}-{end}")
        } else {
            start.to_string()
        });
        i += 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifs(spec: &[(&str, u32)]) -> Vec<(String, Vec<u32>)> {
        spec.iter()
            .map(|(n, q)| (n.to_string(), (0..*q).collect()))
            .collect()
    }

    fn names(p: &Placement) -> Vec<Vec<String>> {
        p.workers
            .iter()
            .map(|w| w.queues.iter().map(|q| p.queue_name(*q)).collect())
            .collect()
    }

    #[test]
    fn one_worker_per_queue_by_default() {
        let p = place(&ifs(&[("a", 2), ("b", 2)]), None, None, &[0, 1, 2, 3]).unwrap();
        assert_eq!(
            names(&p),
            vec![vec!["a:0"], vec!["a:1"], vec!["b:0"], vec!["b:1"]]
        );
        assert_eq!(
            p.workers.iter().map(|w| w.core).collect::<Vec<_>>(),
            vec![Some(0), Some(1), Some(2), Some(3)]
        );
        assert!(p.notes.is_empty());
    }

    #[test]
    fn fewer_workers_round_robin() {
        let p = place(&ifs(&[("a", 2), ("b", 2)]), Some(2), None, &[0, 1]).unwrap();
        assert_eq!(names(&p), vec![vec!["a:0", "b:0"], vec!["a:1", "b:1"]]);
        let p = place(&ifs(&[("a", 3)]), Some(2), None, &[0, 1]).unwrap();
        assert_eq!(names(&p), vec![vec!["a:0", "a:2"], vec!["a:1"]]);
        let p = place(&ifs(&[("a", 1), ("b", 4)]), Some(3), None, &[]).unwrap();
        assert_eq!(
            names(&p),
            vec![vec!["a:0", "b:2"], vec!["b:0", "b:3"], vec!["b:1"]]
        );
        // Unknown cores: not pinned, and said so.
        assert!(p.workers.iter().all(|w| w.core.is_none()));
        assert_eq!(p.notes.len(), 1);
    }

    #[test]
    fn every_queue_served_exactly_once() {
        for nq in 1..6u32 {
            for nb in 0..4u32 {
                let spec = ifs(&[("a", nq), ("b", nb)]);
                let total = (nq + nb) as usize;
                for w in 1..=total {
                    let p = place(&spec, Some(w), None, &[0, 1]).unwrap();
                    let mut served: Vec<RxQueue> =
                        p.workers.iter().flat_map(|w| w.queues.clone()).collect();
                    assert_eq!(served.len(), total);
                    served.sort();
                    served.dedup();
                    assert_eq!(served.len(), total, "{spec:?} w={w}");
                    assert!(p.workers.iter().all(|w| !w.queues.is_empty()));
                    // Balanced: sizes differ by at most one.
                    let sizes: Vec<usize> = p.workers.iter().map(|w| w.queues.len()).collect();
                    assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
                    // More workers than the 2 usable cores: unpinned.
                    assert_eq!(p.workers[0].core.is_some(), w <= 2);
                    for q in &served {
                        assert!(p.worker_of(q.iface, q.queue).is_some());
                    }
                }
            }
        }
    }

    #[test]
    fn cores_set_worker_count_and_pinning() {
        let p = place(&ifs(&[("a", 4)]), None, Some(&[2, 3]), &[0, 1, 2, 3]).unwrap();
        assert_eq!(p.n_workers(), 2);
        assert_eq!(p.workers[0].core, Some(2));
        assert_eq!(p.workers[1].core, Some(3));
        assert_eq!(names(&p), vec![vec!["a:0", "a:2"], vec!["a:1", "a:3"]]);
        // More cores than queues: capped, with a note.
        let p = place(&ifs(&[("a", 1)]), None, Some(&[0, 1, 2]), &[]).unwrap();
        assert_eq!(p.n_workers(), 1);
        assert!(p.notes[0].contains("cores 1-2 unused"), "{:?}", p.notes);
    }

    #[test]
    fn impossible_placements_explain_the_fix() {
        let e = place(&ifs(&[("a", 2)]), Some(3), None, &[]).unwrap_err();
        assert_eq!(
            e,
            PlacementError::MoreWorkersThanQueues {
                workers: 3,
                queues: 2
            }
        );
        assert!(e.to_string().contains("Fix: use --workers 2"), "{e}");
        let e = place(&ifs(&[("a", 4)]), Some(3), Some(&[0, 1]), &[]).unwrap_err();
        assert!(e.to_string().contains("list 3 cores"), "{e}");
        let e = place(&ifs(&[("a", 4)]), None, Some(&[0, 9]), &[0, 1]).unwrap_err();
        assert!(e.to_string().contains("core 9 is not available"), "{e}");
        assert!(e.to_string().contains("usable: 0-1"), "{e}");
        let e = place(&ifs(&[("a", 4)]), None, Some(&[1, 1]), &[]).unwrap_err();
        assert_eq!(e, PlacementError::DuplicateCore(1));
        assert_eq!(
            place(&ifs(&[("a", 0)]), None, None, &[]).unwrap_err(),
            PlacementError::NoQueues
        );
        assert_eq!(
            place(&ifs(&[("a", 1)]), Some(0), None, &[]).unwrap_err(),
            PlacementError::ZeroWorkers
        );
    }

    #[test]
    fn display_lists_workers() {
        let p = place(&ifs(&[("veth0", 2), ("veth1", 2)]), Some(2), None, &[0, 1]).unwrap();
        assert_eq!(
            p.to_string(),
            "placement: 2 workers for 4 rx queues\n  worker 0 (core 0): veth0:0 veth1:0\n  \
             worker 1 (core 1): veth0:1 veth1:1\n"
        );
    }

    #[test]
    fn lists_parse_and_format() {
        assert_eq!(parse_list("0,2-3").unwrap(), vec![0, 2, 3]);
        assert_eq!(parse_list(" 5 ").unwrap(), vec![5]);
        assert_eq!(parse_list("1-1,0").unwrap(), vec![1, 0]);
        for bad in ["", "a", "3-1", "1,,2", "-1", "0-99999"] {
            assert!(parse_list(bad).is_err(), "{bad}");
        }
        assert!(parse_list("3-1").unwrap_err().contains("`1-3`"));
        assert_eq!(format_core_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(format_core_list(&[]), "");
    }
}
