//! Applications on the stack.
//!
//! * [`pipeline`] — the router's per-packet path over in-memory frames, the
//!   workload behind `xdpnet bench pipeline` and the criterion `forward`
//!   benchmark.

pub mod pipeline;
