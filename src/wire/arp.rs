//! ARP for Ethernet/IPv4 (RFC 826).
