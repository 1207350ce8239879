//! Giving an idle connection's buffer memory back.
//!
//! A connection's send and receive rings ([`super::ring`]) allocate on
//! demand, doubling up to their capacity (1 MiB each by default), so a
//! connection that moved a lot of data holds up to 2 MiB even when both
//! queues are empty. Linux's queues are lists of skbs and shrink as data
//! is acknowledged or read; a ring cannot shrink while it holds bytes, but
//! an empty one can be dropped whole and grown again on the next write.
//!
//! Dropping a ring every time it empties would make a steady transfer
//! (whose send queue empties at every round trip when the application
//! writes in bursts) allocate and fault in its memory again and again. So
//! a ring is given back only after it has stayed empty for
//! [`TcpConfig::buffer_idle_release`] (default 1 s, `None` keeps the memory
//! for the connection's life):
//!
//! * every dispatch of the connection (which follows every segment it
//!   receives, every application write, and any read that drains the
//!   receive queue) notes since when each ring has been empty with memory
//!   behind it, and forgets it as soon as the ring holds data again;
//! * the earliest of those instants plus the idle time is one of the
//!   connection's timers ([`TcpConnection::next_deadline`]);
//! * when it fires, the rings still empty are released (counted in
//!   [`TcpStats::buffers_released`]).
//!
//! The send ring is empty only when everything sent was acknowledged. The
//! receive ring also keeps out-of-order data past its readable part, so it
//! counts as empty only when the reassembly set is empty too.

use super::connection::TcpConnection;
#[cfg(doc)]
use super::TcpConfig;
use super::TcpStats;
use crate::time::{Duration, Instant};

/// The default of [`TcpConfig::buffer_idle_release`].
pub const DEFAULT_BUFFER_IDLE_RELEASE: Duration = Duration::from_secs(1);

impl TcpConnection {
    fn send_ring_idle(&self) -> bool {
        self.tx.is_empty() && self.tx.allocated() > 0
    }

    fn recv_ring_idle(&self) -> bool {
        self.rx.is_empty() && self.ooo.is_empty() && self.rx.allocated() > 0
    }

    /// Note which rings sit empty with memory behind them (see the module
    /// docs); called after every dispatch of the connection.
    pub(crate) fn track_idle_buffers(&mut self, now: Instant) {
        if self.buffer_idle_release.is_none() {
            self.tx_idle_since = None;
            self.rx_idle_since = None;
            return;
        }
        self.tx_idle_since = self
            .send_ring_idle()
            .then(|| self.tx_idle_since.unwrap_or(now));
        self.rx_idle_since = self
            .recv_ring_idle()
            .then(|| self.rx_idle_since.unwrap_or(now));
    }

    /// When the first idle ring is due to be released.
    pub(crate) fn buffer_release_deadline(&self) -> Option<Instant> {
        let idle = self.buffer_idle_release?;
        [self.tx_idle_since, self.rx_idle_since]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t + idle)
    }

    /// Release the rings that have been empty for the idle time.
    pub(crate) fn release_idle_buffers(&mut self, now: Instant, stats: &mut TcpStats) {
        let Some(idle) = self.buffer_idle_release else {
            return;
        };
        let due = |since: Option<Instant>| since.is_some_and(|t| t + idle <= now);
        if due(self.tx_idle_since) {
            self.tx_idle_since = None;
            if self.send_ring_idle() {
                self.tx.release();
                stats.buffers_released += 1;
            }
        }
        if due(self.rx_idle_since) {
            self.rx_idle_since = None;
            if self.recv_ring_idle() {
                self.rx.release();
                stats.buffers_released += 1;
            }
        }
    }
}
