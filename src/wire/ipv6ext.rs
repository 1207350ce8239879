//! IPv6 extension headers: fragment header, options headers and the chain walk (RFC 8200 4).
