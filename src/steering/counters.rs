//! [`SteeringCounters`]: the program's per-CPU counters, summed.
//!
//! The program bumps `seen` and exactly one outcome counter per frame, so
//! `seen == redirected + passed() + dropped()` once traffic stops. Reading
//! while frames flow is not atomic across counters or CPUs: `seen` may run
//! a few frames ahead of the outcomes.
//!
//! Indexes come from the skeleton's generated `types::steer_counter`
//! (enum steer_counter in steer.h); a compile-time check fails when steer.h
//! gains a counter this struct does not carry.

use std::fmt;

use libbpf_rs::{MapCore, MapFlags};

use super::error::{cause_of, SteeringError};
use super::skel::types::steer_counter;

/// Frames the steering program handled, summed over all CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SteeringCounters {
    /// Frames the program ran on.
    pub seen: u64,
    /// Claimed and redirected to the rx queue's AF_XDP socket.
    pub redirected: u64,
    /// Passed to the kernel: the policy says the frame is the host's.
    pub pass_not_owned: u64,
    /// Claimed, but no AF_XDP socket is bound on that rx queue; passed to
    /// the kernel. Non-zero usually means a queue without a worker.
    pub pass_no_socket: u64,
    /// Passed because the parser could not decide (QinQ, IPv6 extension
    /// headers in front of possible NDP).
    pub pass_unsure: u64,
    /// Claimed, then dropped by the configured random-drop probability.
    pub drop_random: u64,
    /// Dropped: truncated or invalid headers.
    pub drop_malformed: u64,
}

const _: () = assert!(
    steer_counter::STEER_CNT_MAX.0 == 7,
    "steer.h changed its counters: update SteeringCounters"
);

impl SteeringCounters {
    /// All frames given to the kernel.
    pub fn passed(&self) -> u64 {
        self.pass_not_owned + self.pass_no_socket + self.pass_unsure
    }

    /// All frames dropped by the program.
    pub fn dropped(&self) -> u64 {
        self.drop_random + self.drop_malformed
    }

    /// Counts accumulated since `earlier` (a previous reading).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            seen: self.seen.saturating_sub(earlier.seen),
            redirected: self.redirected.saturating_sub(earlier.redirected),
            pass_not_owned: self.pass_not_owned.saturating_sub(earlier.pass_not_owned),
            pass_no_socket: self.pass_no_socket.saturating_sub(earlier.pass_no_socket),
            pass_unsure: self.pass_unsure.saturating_sub(earlier.pass_unsure),
            drop_random: self.drop_random.saturating_sub(earlier.drop_random),
            drop_malformed: self.drop_malformed.saturating_sub(earlier.drop_malformed),
        }
    }

    fn slot(&mut self, idx: steer_counter) -> Option<&mut u64> {
        Some(match idx {
            steer_counter::STEER_CNT_SEEN => &mut self.seen,
            steer_counter::STEER_CNT_REDIRECTED => &mut self.redirected,
            steer_counter::STEER_CNT_PASS_NOT_OWNED => &mut self.pass_not_owned,
            steer_counter::STEER_CNT_PASS_NO_SOCKET => &mut self.pass_no_socket,
            steer_counter::STEER_CNT_PASS_UNSURE => &mut self.pass_unsure,
            steer_counter::STEER_CNT_DROP_RANDOM => &mut self.drop_random,
            steer_counter::STEER_CNT_DROP_MALFORMED => &mut self.drop_malformed,
            _ => return None,
        })
    }
}

impl fmt::Display for SteeringCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seen {} redirected {} passed {} (not-owned {}, no-socket {}, unsure {}) \
             dropped {} (random {}, malformed {})",
            self.seen,
            self.redirected,
            self.passed(),
            self.pass_not_owned,
            self.pass_no_socket,
            self.pass_unsure,
            self.dropped(),
            self.drop_random,
            self.drop_malformed
        )
    }
}

/// Reads and sums the per-CPU counter map.
pub(crate) fn read(map: &dyn MapCore) -> Result<SteeringCounters, SteeringError> {
    let mut c = SteeringCounters::default();
    for i in 0..steer_counter::STEER_CNT_MAX.0 {
        let per_cpu = map
            .lookup_percpu(&i.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| SteeringError::Map {
                map: "steer_cnt",
                operation: format!("reading counter {i}"),
                cause: cause_of(&e),
                fix: "the program's maps are gone or unreadable; reload the program".into(),
            })?
            .unwrap_or_default();
        let sum = per_cpu
            .iter()
            .filter_map(|v| v.get(..8).and_then(|b| b.try_into().ok()))
            .map(u64::from_ne_bytes)
            .fold(0u64, u64::wrapping_add);
        if let Some(slot) = c.slot(steer_counter(i)) {
            *slot = sum;
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_and_deltas() {
        let a = SteeringCounters {
            seen: 10,
            redirected: 4,
            pass_not_owned: 2,
            pass_no_socket: 1,
            pass_unsure: 1,
            drop_random: 1,
            drop_malformed: 1,
        };
        assert_eq!(a.passed(), 4);
        assert_eq!(a.dropped(), 2);
        assert_eq!(a.seen, a.redirected + a.passed() + a.dropped());
        let d = a.since(&SteeringCounters {
            seen: 3,
            ..Default::default()
        });
        assert_eq!(d.seen, 7);
        assert_eq!(
            SteeringCounters::default().since(&a),
            SteeringCounters::default()
        );
        assert!(a.to_string().contains("passed 4 (not-owned 2"));
    }
}
