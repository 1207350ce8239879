//! Transport demultiplexer.
