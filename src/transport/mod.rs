//! The transport layer: the flow-hash partitioned demultiplexer and endpoints.

pub mod demux;
