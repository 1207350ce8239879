//! Neighbor cache (ARP / NDP, RFC 4861 states).
