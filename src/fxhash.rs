//! The fast hasher of the per-packet hash maps (neighbor cache, demux).
//!
//! FxHash as rustc-hash 2 computes it — one add and one multiply per word —
//! which beats SipHash several times over on the small fixed-size keys the
//! data path looks up (addresses, endpoint ids). It is not DoS-resistant;
//! each map is keyed with its own seed (random for the demux, configured
//! for the neighbor cache so tests are reproducible), and every table that
//! uses it is bounded.

use core::hash::{BuildHasher, Hasher};

/// Builds [`FxHasher`]s starting from a seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FxBuildHasher {
    seed: u64,
}

impl FxBuildHasher {
    /// A builder keyed with `seed`.
    pub(crate) const fn with_seed(seed: u64) -> FxBuildHasher {
        FxBuildHasher { seed }
    }

    /// A builder keyed with a seed from the standard library's random state.
    pub(crate) fn random() -> FxBuildHasher {
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x6d5a_u64);
        FxBuildHasher { seed }
    }
}

/// The hasher state of [`FxBuildHasher`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_K: u64 = 0xf135_7aea_2e62_a9c5;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = self.hash.wrapping_add(word).wrapping_mul(FX_K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the best-mixed bits at the top; hashbrown takes
        // the bucket from the low bits.
        self.hash.rotate_left(26)
    }
}

impl BuildHasher for FxBuildHasher {
    type Hasher = FxHasher;
    #[inline]
    fn build_hasher(&self) -> FxHasher {
        FxHasher { hash: self.seed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn distinguishes_addresses_and_seeds() {
        let b = FxBuildHasher::with_seed(1);
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000u32 {
            assert!(seen.insert(b.hash_one(Ipv4Addr::from(i))));
            assert!(seen.insert(b.hash_one(Ipv6Addr::from(u128::from(i) << 64 | 1))));
        }
        let other = FxBuildHasher::with_seed(2);
        assert_ne!(b.hash_one(7u64), other.hash_one(7u64));
    }
}
