//! IPv6 and its extension headers (RFC 8200).
