//! Congestion control behind one trait (RFC 5681 3, RFC 9438).
//!
//! The connection owns loss detection and recovery (fast retransmit, SACK
//! and RTO recovery); the algorithm owns `cwnd` and `ssthresh` and is told
//! about acknowledged bytes, congestion events and timeouts. Windows are in
//! bytes.

use crate::time::{Duration, Instant};

pub mod cubic;
pub mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

/// Which congestion control algorithm a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CongestionAlgorithm {
    /// NewReno (RFC 5681, RFC 6582).
    NewReno,
    /// CUBIC (RFC 9438), the default as on Linux.
    #[default]
    Cubic,
}

/// A congestion control algorithm.
pub trait CongestionControl: core::fmt::Debug + Send {
    /// The congestion window, bytes.
    fn cwnd(&self) -> usize;
    /// The slow-start threshold, bytes.
    fn ssthresh(&self) -> usize;
    /// `acked` new bytes were cumulatively acknowledged outside recovery,
    /// with `flight` bytes outstanding before the ACK.
    fn on_ack(
        &mut self,
        acked: usize,
        flight: usize,
        mss: usize,
        now: Instant,
        srtt: Option<Duration>,
    );
    /// Loss detected by duplicate ACKs or SACK: enter recovery (RFC 5681
    /// 3.2 step 2, RFC 9438 4.6).
    fn on_congestion_event(&mut self, flight: usize, mss: usize, now: Instant);
    /// Recovery ended with `flight` bytes outstanding (RFC 6582 3.2 step 6).
    fn on_recovery_exit(&mut self, flight: usize, mss: usize);
    /// The retransmission timer expired; `first` is the first expiry of
    /// this loss episode (RFC 5681 3.1 equation 4 applies once).
    fn on_rto(&mut self, flight: usize, mss: usize, first: bool);
    /// The connection was idle longer than an RTO (RFC 5681 4.1).
    fn on_idle_restart(&mut self, mss: usize);
    /// A copy of the whole state: the connection keeps one from before a
    /// congestion event and puts it back if the event proves spurious
    /// (RFC 9438 4.9 restores `cwnd`, `ssthresh`, `W_max`, `K` and the
    /// epoch; RFC 4015).
    fn boxed_clone(&self) -> Box<dyn CongestionControl>;
}

/// The initial window: RFC 6928, ten segments (as Linux).
pub fn initial_window(mss: usize) -> usize {
    10 * mss
}

/// Build an algorithm.
pub fn new_controller(alg: CongestionAlgorithm, mss: usize) -> Box<dyn CongestionControl> {
    match alg {
        CongestionAlgorithm::NewReno => Box::new(NewReno::new(mss)),
        CongestionAlgorithm::Cubic => Box::new(Cubic::new(mss)),
    }
}
