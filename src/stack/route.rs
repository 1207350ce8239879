//! Forwarding information base (longest-prefix match).
