//! Token-bucket rate limit for ICMP errors.
//!
//! RFC 1812 4.3.2.8 requires a router to limit the rate at which it originates
//! ICMP error messages, and RFC 4443 2.4(f) requires the same of every IPv6
//! node ("an IPv6 node MUST limit the rate of ICMPv6 error messages it
//! originates"), recommending a token bucket. [`TokenBucket`] is that bucket.
//!
//! # Design and contract
//!
//! * The bucket is driven by the injected clock ([`crate::time`]): every
//!   [`TokenBucket::try_take`] passes `now`; nothing here reads a clock.
//! * It starts full (`burst` tokens) and refills at `rate_per_sec` tokens per
//!   second, never holding more than `burst`.
//! * Tokens are kept in fixed point, in units of 10^-9 token, and the refill is
//!   `elapsed_nanos * rate_per_sec` units. This is exact: the fractional
//!   remainder of a token survives between calls, so there is no drift however
//!   the calls are spaced (a token per millisecond at 1000/s, also when polled
//!   every 333 333 ns). The product is computed in `u128` and clamped to the
//!   burst, so a gap of any length (up to `u64::MAX` ns) neither overflows nor
//!   mints more than `burst` tokens.
//! * Time going backwards (a caller bug or a clock step) is tolerated: the
//!   bucket refills nothing and keeps its reference point, so the interval is
//!   not counted twice when time moves forward again. No input panics.
//!
//! Linux keeps one global bucket for ICMP errors (`icmp_global_allow`, shared
//! by IPv4 and IPv6) plus a per-destination limit in the inet peer cache; the
//! stack owns one [`TokenBucket`] per shard with the Linux global defaults,
//! [`DEFAULT_ICMP_RATE_PER_SEC`] and [`DEFAULT_ICMP_BURST`]. A suppressed
//! error is counted as `DropReason::IcmpRateLimited` by the caller.

use crate::time::Instant;

/// Default ICMP error rate, tokens per second: Linux `net.ipv4.icmp_msgs_per_sec`
/// (1000), which also governs ICMPv6 errors through the shared global limit.
pub const DEFAULT_ICMP_RATE_PER_SEC: u32 = 1000;

/// Default ICMP error burst: Linux `net.ipv4.icmp_msgs_burst` (50).
pub const DEFAULT_ICMP_BURST: u32 = 50;

/// Fixed-point units per token (one unit = 10^-9 token, so one nanosecond at
/// one token per second refills exactly one unit).
const UNITS_PER_TOKEN: u64 = 1_000_000_000;

/// A token bucket on the injected clock (RFC 4443 2.4(f)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    rate_per_sec: u32,
    burst: u32,
    /// Tokens held, in units of 10^-9 token; at most `burst * UNITS_PER_TOKEN`
    /// (< 2^63, as `burst` is a `u32`).
    units: u64,
    /// The latest instant seen; `None` until the first call.
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilling at `rate_per_sec` tokens per
    /// second. A rate of 0 never refills; a burst of 0 never allows anything.
    pub fn new(rate_per_sec: u32, burst: u32) -> TokenBucket {
        TokenBucket {
            rate_per_sec,
            burst,
            units: u64::from(burst) * UNITS_PER_TOKEN,
            last: None,
        }
    }

    /// A bucket with the Linux ICMP defaults ([`DEFAULT_ICMP_RATE_PER_SEC`],
    /// [`DEFAULT_ICMP_BURST`]).
    pub fn icmp_default() -> TokenBucket {
        TokenBucket::new(DEFAULT_ICMP_RATE_PER_SEC, DEFAULT_ICMP_BURST)
    }

    /// The refill rate in tokens per second.
    pub fn rate_per_sec(&self) -> u32 {
        self.rate_per_sec
    }

    /// The bucket size in tokens.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Take one token at `now` if one is available; `false` means the event
    /// (an ICMP error) must be suppressed.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.units >= UNITS_PER_TOKEN {
            self.units -= UNITS_PER_TOKEN;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at `now` (refills first, takes nothing).
    pub fn available(&mut self, now: Instant) -> u32 {
        self.refill(now);
        // units <= burst * UNITS_PER_TOKEN, so the quotient fits a u32.
        u32::try_from(self.units / UNITS_PER_TOKEN).unwrap_or(self.burst)
    }

    /// Add the tokens earned since the last call, capped at the burst.
    fn refill(&mut self, now: Instant) {
        let cap = u64::from(self.burst) * UNITS_PER_TOKEN;
        let Some(last) = self.last else {
            self.last = Some(now);
            return;
        };
        if now <= last {
            // Time stood still or went backwards: earn nothing, and keep the
            // later reference point so the interval is never counted twice.
            return;
        }
        let elapsed = u128::from(now.total_nanos() - last.total_nanos());
        // At most (2^64 - 1) * (2^32 - 1) < 2^96: no overflow in u128.
        let earned = elapsed * u128::from(self.rate_per_sec);
        let total = (u128::from(self.units) + earned).min(u128::from(cap));
        self.units = u64::try_from(total).unwrap_or(cap);
        self.last = Some(now);
    }
}

impl Default for TokenBucket {
    /// The Linux ICMP defaults, as [`TokenBucket::icmp_default`].
    fn default() -> Self {
        TokenBucket::icmp_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    fn drain(b: &mut TokenBucket, now: Instant) -> u32 {
        let mut n = 0;
        while b.try_take(now) {
            n += 1;
            assert!(n <= b.burst(), "took more than the burst");
        }
        n
    }

    #[test]
    fn burst_then_exactly_rate_per_second_for_ten_seconds() {
        let mut b = TokenBucket::icmp_default();
        let t0 = Instant::from_secs(100);
        assert_eq!(drain(&mut b, t0), DEFAULT_ICMP_BURST);
        assert!(!b.try_take(t0));

        // Poll at an awkward step (not a divisor of the 1 ms token period) so
        // any rounding drift would show up as a missing or extra token.
        let step = Duration::from_nanos(333_333);
        let end = t0 + Duration::from_secs(10);
        let mut now = t0;
        let mut taken = 0u64;
        while now < end {
            now = (now + step).min(end);
            while b.try_take(now) {
                taken += 1;
            }
        }
        assert_eq!(taken, 10 * u64::from(DEFAULT_ICMP_RATE_PER_SEC));
    }

    #[test]
    fn each_second_yields_rate_tokens_when_drained() {
        let mut b = TokenBucket::new(7, 3);
        let mut now = Instant::from_millis(5);
        assert_eq!(drain(&mut b, now), 3);
        for _ in 0..10 {
            // 7 tokens/s but a burst of 3: drained every 100 ms the bucket
            // never saturates, so each second yields exactly 7.
            let mut per_sec = 0;
            for _ in 0..10 {
                now += Duration::from_millis(100);
                per_sec += drain(&mut b, now);
            }
            assert_eq!(per_sec, 7);
        }
    }

    #[test]
    fn long_gap_caps_at_burst() {
        let mut b = TokenBucket::new(u32::MAX, 50);
        assert_eq!(drain(&mut b, Instant::ZERO), 50);
        assert_eq!(drain(&mut b, Instant::MAX), 50);

        let mut b = TokenBucket::new(1000, 50);
        assert_eq!(drain(&mut b, Instant::from_secs(1)), 50);
        assert_eq!(b.available(Instant::from_secs(1_000_000)), 50);
        assert_eq!(drain(&mut b, Instant::from_secs(1_000_000)), 50);
    }

    #[test]
    fn time_going_backwards_mints_nothing() {
        let mut b = TokenBucket::new(1000, 10);
        let t = Instant::from_secs(50);
        assert_eq!(drain(&mut b, t), 10);
        // Backwards by 10 s, then forwards to t again: no time has really
        // passed since the drain, so no token may appear.
        assert!(!b.try_take(Instant::from_secs(40)));
        assert!(!b.try_take(Instant::ZERO));
        assert!(!b.try_take(t));
        // 1 ms after the latest instant seen: exactly one token.
        assert!(b.try_take(t + Duration::from_millis(1)));
        assert!(!b.try_take(t + Duration::from_millis(1)));
    }

    #[test]
    fn zero_rate_and_zero_burst() {
        let mut b = TokenBucket::new(0, 2);
        assert_eq!(drain(&mut b, Instant::ZERO), 2);
        assert!(!b.try_take(Instant::MAX));

        let mut b = TokenBucket::new(1000, 0);
        assert!(!b.try_take(Instant::ZERO));
        assert!(!b.try_take(Instant::from_secs(10)));
    }

    #[test]
    fn fractional_tokens_carry_over() {
        // 3 tokens/s: one token every 333.33 ms; polled every 100 ms for 3 s.
        // A burst of 2 never binds (at most 1.3 tokens held between drains),
        // so the 0.3-token steps must add up to exactly 9 tokens.
        let mut b = TokenBucket::new(3, 2);
        let mut now = Instant::ZERO;
        assert_eq!(drain(&mut b, now), 2);
        let mut taken = 0;
        for _ in 0..30 {
            now += Duration::from_millis(100);
            taken += drain(&mut b, now);
        }
        assert_eq!(taken, 9);
    }
}
