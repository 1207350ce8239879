//! Round-trip time estimation and the retransmission timeout (RFC 6298).
//!
//! Samples come from the Timestamps option (RFC 7323 4) when both ends use
//! it, else from timing one segment at a time and discarding samples of
//! retransmitted segments (Karn's algorithm, RFC 6298 3).

use crate::time::{Duration, Instant};

/// Clock granularity G (RFC 6298 2): 1 ms, the timestamp clock's tick.
const GRANULARITY: Duration = Duration::from_millis(1);

/// SRTT, RTTVAR and RTO of one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min_rto: Duration,
    max_rto: Duration,
    /// Exponential backoff shift (RFC 6298 5.5).
    backoff: u32,
    /// The segment being timed without timestamps: (sequence that must be
    /// acknowledged, when it was sent).
    pub(crate) timing: Option<(crate::wire::tcp::TcpSeqNumber, Instant)>,
}

impl RttEstimator {
    /// RFC 6298 2.1: until a sample arrives, RTO is the initial value.
    pub(crate) fn new(initial: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial.clamp(min_rto, max_rto),
            min_rto,
            max_rto,
            backoff: 0,
            timing: None,
        }
    }

    /// Feed one RTT measurement.
    pub(crate) fn sample(&mut self, r: Duration) {
        match self.srtt {
            // RFC 6298 2.2: first measurement.
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            // RFC 6298 2.3: RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|,
            // SRTT <- 7/8 SRTT + 1/8 R'.
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        self.backoff = 0;
        self.recompute();
    }

    fn recompute(&mut self) {
        let base = match self.srtt {
            // RFC 6298 2.2/2.3: RTO <- SRTT + max(G, K*RTTVAR), K = 4.
            Some(srtt) => srtt + GRANULARITY.max(self.rttvar * 4),
            None => self.rto,
        };
        // RFC 6298 2.4 (minimum, configurable) and 2.5 (maximum).
        self.rto = base.clamp(self.min_rto, self.max_rto);
    }

    /// The current timeout, backoff included.
    pub(crate) fn rto(&self) -> Duration {
        let shift = self.backoff.min(16);
        (self.rto * (1u32 << shift)).min(self.max_rto)
    }

    /// RFC 6298 5.5: double the timeout after it expired.
    pub(crate) fn back_off(&mut self) {
        if self.rto() < self.max_rto {
            self.backoff += 1;
        }
        self.timing = None;
    }

    /// New data was acknowledged: the backoff ends (Linux clears it on
    /// forward progress; RFC 6298 5.7 lets a new sample do it).
    pub(crate) fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// RFC 6298 5.7: after the SYN timed out, the RTO for data is 3 s
    /// unless a sample arrives.
    pub(crate) fn syn_timed_out(&mut self) {
        if self.srtt.is_none() {
            self.rto = Duration::from_secs(3).clamp(self.min_rto, self.max_rto);
        }
    }

    /// Smoothed RTT, if measured.
    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTT variance.
    pub(crate) fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// Backoff count.
    pub(crate) fn backoff(&self) -> u32 {
        self.backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6298_formulas() {
        let mut e = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(120),
        );
        assert_eq!(e.rto(), Duration::from_secs(1));
        e.sample(Duration::from_millis(100));
        // SRTT 100, RTTVAR 50, RTO 100 + 200 = 300.
        assert_eq!(e.rto(), Duration::from_millis(300));
        e.sample(Duration::from_millis(100));
        // RTTVAR 37.5, SRTT 100: 250.
        assert_eq!(e.rto(), Duration::from_millis(250));
        e.back_off();
        assert_eq!(e.rto(), Duration::from_millis(500));
        e.back_off();
        assert_eq!(e.rto(), Duration::from_millis(1000));
    }

    #[test]
    fn min_rto_clamps() {
        let mut e = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(120),
        );
        e.sample(Duration::from_micros(10));
        assert_eq!(e.rto(), Duration::from_millis(200));
    }
}
