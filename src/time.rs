//! The injected clock.
//!
//! The stack never reads a clock: every entry point that needs the time takes an
//! [`Instant`] argument. Workers read the monotonic clock once per poll and pass
//! it down; tests drive a fake clock by hand, so timers (neighbor aging, reassembly
//! timeouts, ICMP rate limits, TCP retransmissions) are fully deterministic.
//!
//! `Instant` is a point on an arbitrary monotonic time line, counted in
//! nanoseconds from an unspecified origin. Durations are `core::time::Duration`.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
pub use core::time::Duration;

/// A point in time, in nanoseconds since an arbitrary origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The origin of the time line.
    pub const ZERO: Instant = Instant { nanos: 0 };
    /// The latest representable instant ("never").
    pub const MAX: Instant = Instant { nanos: u64::MAX };

    /// Create an instant from nanoseconds since the origin.
    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant { nanos }
    }

    /// Create an instant from microseconds since the origin.
    pub const fn from_micros(micros: u64) -> Instant {
        Instant {
            nanos: micros.saturating_mul(1_000),
        }
    }

    /// Create an instant from milliseconds since the origin.
    pub const fn from_millis(millis: u64) -> Instant {
        Instant {
            nanos: millis.saturating_mul(1_000_000),
        }
    }

    /// Create an instant from seconds since the origin.
    pub const fn from_secs(secs: u64) -> Instant {
        Instant {
            nanos: secs.saturating_mul(1_000_000_000),
        }
    }

    /// Nanoseconds since the origin.
    pub const fn total_nanos(self) -> u64 {
        self.nanos
    }

    /// Milliseconds since the origin.
    pub const fn total_millis(self) -> u64 {
        self.nanos / 1_000_000
    }

    /// The time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }

    /// `self + d`, saturating at [`Instant::MAX`].
    pub fn saturating_add(self, d: Duration) -> Instant {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant {
            nanos: self.nanos.saturating_add(add),
        }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = self.saturating_add(d);
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.nanos / 1_000_000_000,
            self.nanos % 1_000_000_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(1500);
        assert_eq!(t.total_nanos(), 1_500_000_000);
        assert_eq!((t + Duration::from_millis(500)).total_millis(), 2000);
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(t - Instant::from_secs(1), Duration::from_millis(500));
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(t.to_string(), "1.500000000s");
    }
}
