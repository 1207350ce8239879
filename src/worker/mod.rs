//! Per-core runtime.
//!
//! Today this holds the flow hash that decides which shard owns a flow; the
//! AF_XDP worker loop, core pinning and cross-shard inboxes build on it.

pub mod flow_hash;
