//! ICMP for IPv6 (RFC 4443).
