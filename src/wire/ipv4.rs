//! IPv4 (RFC 791).
