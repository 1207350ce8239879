//! Applications on the stack.
//!
//! * [`echo`] — `xdpnet echo`: TCP and UDP echo per shard on the
//!   router's workers.
//! * [`pipeline`] — the router's per-packet path over in-memory frames, the
//!   workload behind `xdpnet bench pipeline` and the criterion `forward`
//!   benchmark.
//! * [`router`] — `xdpnet router`: setup checks, steering, workers over
//!   any link factory, stats lines and the summary.

pub mod echo;
pub mod pipeline;
pub mod router;
