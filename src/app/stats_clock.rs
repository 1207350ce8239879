//! When the long-running applications print their next stats line.
//!
//! `xdpnet echo` and `xdpnet tcpclient` sample their counters every
//! `-i SECS`; lines are due on a fixed grid from the start (`start + k ×
//! interval`), so a late wake-up does not shift every later line, and
//! each line's rates are computed over the time since the previous line
//! actually printed. An interval of 0 prints no lines.

use std::time::{Duration, Instant};

/// The stats-line schedule of one run.
#[derive(Debug, Clone)]
pub struct StatsClock {
    interval: Option<Duration>,
    next: Option<Instant>,
    last: Instant,
}

impl StatsClock {
    /// A schedule with lines every `interval_secs` after `start` (none when
    /// `interval_secs` is 0 or negative).
    pub fn new(start: Instant, interval_secs: f64) -> StatsClock {
        let interval = (interval_secs > 0.0).then(|| Duration::from_secs_f64(interval_secs));
        StatsClock {
            interval,
            next: interval.map(|i| start + i),
            last: start,
        }
    }

    /// If a line is due at `now`: the seconds since the previous line (at
    /// least 1 ns, so rates stay finite), and the schedule moves on.
    pub fn due(&mut self, now: Instant) -> Option<f64> {
        let (next, interval) = (self.next?, self.interval?);
        if now < next {
            return None;
        }
        let secs = now.duration_since(self.last).as_secs_f64().max(1e-9);
        self.last = now;
        self.next = Some(next + interval);
        Some(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fall_on_a_fixed_grid() {
        let t0 = Instant::now();
        let mut c = StatsClock::new(t0, 1.0);
        assert_eq!(c.due(t0 + Duration::from_millis(999)), None);
        // Late by 300 ms: the line covers 1.3 s, the next is still due at 2 s.
        let s = c.due(t0 + Duration::from_millis(1300)).unwrap();
        assert!((s - 1.3).abs() < 1e-9, "{s}");
        assert_eq!(c.due(t0 + Duration::from_millis(1999)), None);
        let s = c.due(t0 + Duration::from_millis(2000)).unwrap();
        assert!((s - 0.7).abs() < 1e-9, "{s}");
    }

    #[test]
    fn zero_interval_prints_nothing() {
        let t0 = Instant::now();
        let mut c = StatsClock::new(t0, 0.0);
        assert_eq!(c.due(t0 + Duration::from_secs(100)), None);
    }
}
