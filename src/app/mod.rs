//! Applications on the stack.
//!
//! * [`bench_veth`] — `xdpnet bench veth`: the kernel's forwarding and
//!   `xdpnet router` side by side over veth in namespaces.
//! * [`echo`] — `xdpnet echo`: TCP and UDP echo per shard on the
//!   router's workers.
//! * [`pipeline`] — the router's per-packet path over in-memory frames, the
//!   workload behind `xdpnet bench pipeline` and the criterion `forward`
//!   benchmark.
//! * [`router`] — `xdpnet router`: setup checks, steering, workers over
//!   any link factory, stats lines and the summary.
//! * [`pktgen`] — `xdpnet pktgen`: AF_XDP UDP generator with stamped frames.
//! * [`tcp_client`] — `xdpnet tcpclient`: verified TCP echo connections
//!   from the sharded stack.
//! * [`sink`] — `xdpnet sink`: AF_XDP receive-and-drop with loss,
//!   reordering and latency.
//! * [`stats_clock`] — when `echo` and `tcpclient` print stats lines.

pub mod bench_veth;
pub mod echo;
pub mod pipeline;
pub mod pktgen;
pub mod router;
pub mod sink;
pub mod stats_clock;
pub mod tcp_client;
