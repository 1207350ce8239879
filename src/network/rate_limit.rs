//! Token-bucket rate limit for ICMP errors.
