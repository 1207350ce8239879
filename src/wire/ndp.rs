//! Neighbor Discovery messages and options (RFC 4861).
