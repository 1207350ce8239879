//! NewReno congestion control (RFC 5681 3.1, RFC 6582 3.2).

use super::{initial_window, CongestionControl};
use crate::time::{Duration, Instant};

/// RFC 5681 slow start and congestion avoidance with the RFC 6582 recovery
/// exit.
#[derive(Debug, Clone)]
pub struct NewReno {
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged since the last congestion-avoidance increase.
    acked_accum: usize,
}

impl NewReno {
    /// A fresh controller: IW10 and an "arbitrarily high" ssthresh
    /// (RFC 5681 3.1).
    pub fn new(mss: usize) -> Self {
        NewReno {
            cwnd: initial_window(mss),
            ssthresh: usize::MAX / 2,
            acked_accum: 0,
        }
    }
}

impl CongestionControl for NewReno {
    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(
        &mut self,
        acked: usize,
        _flight: usize,
        mss: usize,
        _now: Instant,
        _srtt: Option<Duration>,
    ) {
        if self.cwnd < self.ssthresh {
            // RFC 5681 3.1 slow start with byte counting (RFC 3465). ACKs are
            // coalesced per poll (stretch ACKs), so like Linux every acked
            // byte counts (no L limit), capped at ssthresh.
            self.cwnd = (self.cwnd + acked).min(self.ssthresh.max(self.cwnd + mss));
        } else {
            // RFC 5681 3.1 equation 3: about one SMSS per RTT.
            self.acked_accum += acked;
            if self.acked_accum >= self.cwnd {
                self.acked_accum -= self.cwnd;
                self.cwnd += mss;
            }
        }
    }

    fn on_congestion_event(&mut self, flight: usize, mss: usize, _now: Instant) {
        // RFC 5681 3.2 step 2, equation 4: ssthresh = max(FlightSize / 2, 2*SMSS).
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = self.ssthresh;
        self.acked_accum = 0;
    }

    fn on_recovery_exit(&mut self, flight: usize, mss: usize) {
        // RFC 6582 3.2 step 6, option 1: min(ssthresh, FlightSize + SMSS).
        self.cwnd = self.ssthresh.min(flight + mss).max(mss);
    }

    fn on_rto(&mut self, flight: usize, mss: usize, first: bool) {
        if first {
            // RFC 5681 3.1 equation 4.
            self.ssthresh = (flight / 2).max(2 * mss);
        }
        // RFC 5681 3.1: cwnd = LW = 1 SMSS.
        self.cwnd = mss;
        self.acked_accum = 0;
    }

    fn on_idle_restart(&mut self, mss: usize) {
        // RFC 5681 4.1: cwnd = min(RW, cwnd), RW = IW.
        self.cwnd = self.cwnd.min(initial_window(mss));
    }

    fn boxed_clone(&self) -> Box<dyn CongestionControl> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_avoidance() {
        let mss = 1000;
        let mut r = NewReno::new(mss);
        assert_eq!(r.cwnd(), 10_000);
        r.on_ack(1000, 10_000, mss, Instant::ZERO, None);
        assert_eq!(r.cwnd(), 11_000);
        r.on_congestion_event(20_000, mss, Instant::ZERO);
        assert_eq!((r.cwnd(), r.ssthresh()), (10_000, 10_000));
        for _ in 0..10 {
            r.on_ack(1000, 10_000, mss, Instant::ZERO, None);
        }
        assert_eq!(r.cwnd(), 11_000, "one SMSS per window");
        r.on_rto(8000, mss, true);
        assert_eq!((r.cwnd(), r.ssthresh()), (1000, 4000));
    }
}
