//! CUBIC congestion control (RFC 9438).
//!
//! Windows are kept in bytes and converted to segments for the cubic
//! function (RFC 9438 4.2, in units of SMSS). Time since the start of the
//! congestion-avoidance epoch comes from the `now` the stack passes in.

use super::{initial_window, CongestionControl};
use crate::time::{Duration, Instant};

/// RFC 9438 4.6: the multiplicative decrease factor.
const BETA_CUBIC: f64 = 0.7;
/// RFC 9438 5: C = 0.4.
const C_CUBIC: f64 = 0.4;

/// CUBIC state (RFC 9438 4.1).
#[derive(Debug, Clone)]
pub struct Cubic {
    cwnd: usize,
    ssthresh: usize,
    /// W_max in segments: the window before the last reduction.
    w_max: f64,
    /// W_last_max for fast convergence (RFC 9438 4.7).
    w_last_max: f64,
    /// Start of the current congestion-avoidance epoch.
    epoch: Option<Instant>,
    /// K in seconds (RFC 9438 4.2 equation 2).
    k: f64,
    /// W_est in segments: the Reno-friendly estimate (RFC 9438 4.3).
    w_est: f64,
    /// Fractional segment increase carried between ACKs.
    frac: f64,
}

impl Cubic {
    /// A fresh controller with IW10 (RFC 9438 4.10: slow start as Reno).
    pub fn new(mss: usize) -> Self {
        Cubic {
            cwnd: initial_window(mss),
            ssthresh: usize::MAX / 2,
            w_max: 0.0,
            w_last_max: 0.0,
            epoch: None,
            k: 0.0,
            w_est: 0.0,
            frac: 0.0,
        }
    }

    fn reduce(&mut self, flight: usize, mss: usize) {
        let m = mss.max(1) as f64;
        let cwnd_seg = self.cwnd as f64 / m;
        // RFC 9438 4.7 fast convergence.
        self.w_max = if cwnd_seg < self.w_last_max {
            cwnd_seg * (1.0 + BETA_CUBIC) / 2.0
        } else {
            cwnd_seg
        };
        self.w_last_max = cwnd_seg;
        // RFC 9438 4.6: ssthresh = cwnd * beta_cubic (as Linux; the flight
        // size only bounds it from above when the sender was app-limited).
        let base = self.cwnd.min(flight.max(2 * mss));
        self.ssthresh = ((base as f64 * BETA_CUBIC) as usize).max(2 * mss);
        self.epoch = None;
        self.frac = 0.0;
    }
}

impl CongestionControl for Cubic {
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
        now: Instant,
        srtt: Option<Duration>,
    ) {
        if self.cwnd < self.ssthresh {
            // RFC 5681 3.1 slow start with byte counting (RFC 3465). ACKs are
            // coalesced per poll (stretch ACKs), so like Linux every acked
            // byte counts (no L limit), capped at ssthresh.
            self.cwnd = (self.cwnd + acked).min(self.ssthresh.max(self.cwnd + mss));
            return;
        }
        let m = mss.max(1) as f64;
        let cwnd_seg = self.cwnd as f64 / m;
        let epoch = match self.epoch {
            Some(e) => e,
            None => {
                // RFC 9438 4.2: a new epoch; K from W_max, or 0 if the
                // window is already above it.
                self.epoch = Some(now);
                if self.w_max <= cwnd_seg {
                    self.k = 0.0;
                    self.w_max = cwnd_seg;
                } else {
                    self.k = ((self.w_max - cwnd_seg) / C_CUBIC).cbrt();
                }
                self.w_est = cwnd_seg;
                now
            }
        };
        let rtt = srtt.unwrap_or(Duration::from_millis(100)).as_secs_f64();
        let t = now.saturating_duration_since(epoch).as_secs_f64();
        // RFC 9438 4.2 equation 1, evaluated at t + RTT (4.4).
        let target = C_CUBIC * (t + rtt - self.k).powi(3) + self.w_max;
        // RFC 9438 4.3: the Reno-friendly region, alpha = 3(1-b)/(1+b).
        let alpha = 3.0 * (1.0 - BETA_CUBIC) / (1.0 + BETA_CUBIC);
        let acked_seg = acked as f64 / m;
        self.w_est += alpha * acked_seg / cwnd_seg.max(1.0);
        let inc = if self.w_est > target {
            // Reno-friendly: grow as W_est.
            (self.w_est - cwnd_seg).max(0.0)
        } else {
            // RFC 9438 4.4/4.5: (target - cwnd) / cwnd per acked segment,
            // capped at 1.5x per RTT.
            let target = target.min(1.5 * cwnd_seg);
            ((target - cwnd_seg) / cwnd_seg.max(1.0) * acked_seg).max(0.0)
        };
        self.frac += inc;
        if self.frac >= 1.0 {
            let whole = self.frac.floor();
            self.frac -= whole;
            self.cwnd += (whole as usize) * mss;
        }
    }

    fn on_congestion_event(&mut self, flight: usize, mss: usize, _now: Instant) {
        self.reduce(flight, mss);
        self.cwnd = self.ssthresh;
    }

    fn on_recovery_exit(&mut self, _flight: usize, mss: usize) {
        self.cwnd = self.ssthresh.max(mss);
    }

    fn on_rto(&mut self, flight: usize, mss: usize, first: bool) {
        if first {
            self.reduce(flight, mss);
        }
        // RFC 9438 4.8: after a timeout, cwnd restarts from 1 SMSS.
        self.cwnd = mss;
    }

    fn on_idle_restart(&mut self, mss: usize) {
        self.cwnd = self.cwnd.min(initial_window(mss));
        self.epoch = None;
    }

    fn boxed_clone(&self) -> Box<dyn CongestionControl> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_by_beta_and_regrows_to_w_max() {
        let mss = 1000;
        let mut c = Cubic::new(mss);
        let t0 = Instant::from_secs(1);
        // Leave slow start at 100 segments.
        c.cwnd = 100_000;
        c.on_congestion_event(100_000, mss, t0);
        assert_eq!(c.cwnd(), 70_000, "beta = 0.7");
        // K = cbrt(30 / 0.4) ~= 4.2 s: by ~K the window is back near W_max
        // (a long RTT keeps the Reno-friendly estimate below the curve).
        let rtt = Duration::from_millis(200);
        let mut now = t0;
        for _ in 0..21 {
            now += rtt;
            let w = c.cwnd();
            for _ in 0..(w / mss) {
                c.on_ack(mss, w, mss, now, Some(rtt));
            }
        }
        let w = c.cwnd() / mss;
        assert!(
            (95..=110).contains(&w),
            "cwnd {w} segments near W_max at t ~ K"
        );
    }
}
