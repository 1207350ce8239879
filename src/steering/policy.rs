//! The steering policy, the random-drop probability, and their encoding
//! into the program's config map (`steer_cfg`, one `struct steer_config`).
//!
//! The value layout is not mirrored by hand: fields are written at the
//! offsets of the skeleton's generated `types::steer_config` (via
//! `offset_of!`), and a compile-time check fails when steer.h gains a field
//! this encoder does not write.

use std::fmt;
use std::mem::{offset_of, size_of};
use std::str::FromStr;

use super::error::SteeringError;
use super::skel::types::{steer_config, steer_policy};

/// Which frames the dataplane claims; everything else goes to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// Every well-formed frame (the router's default: it owns the link).
    #[default]
    All,
    /// Only frames for the dataplane's own addresses (owned MACs, owned
    /// IPv4/IPv6 destinations, ARP/NDP for owned addresses); the host keeps
    /// the rest, e.g. SSH to the host's own address.
    Local,
}

impl Policy {
    /// The name used in configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Local => "local",
        }
    }

    pub(crate) fn to_raw(self) -> steer_policy {
        match self {
            Self::All => steer_policy::STEER_POLICY_ALL,
            Self::Local => steer_policy::STEER_POLICY_LOCAL,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Policy {
    type Err = SteeringError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(Self::All),
            "local" => Ok(Self::Local),
            other => Err(SteeringError::InvalidArgument {
                what: format!("unknown steering policy `{other}`"),
                fix: "use `all` (every frame) or `local` (only the dataplane's addresses)".into(),
            }),
        }
    }
}

/// 2^32: `bpf_get_prandom_u32() < threshold` with this threshold always holds.
const ALWAYS: u64 = 1 << 32;

/// The threshold the program compares `bpf_get_prandom_u32()` against.
pub(crate) fn drop_threshold(p: f64) -> Result<u64, SteeringError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(SteeringError::InvalidArgument {
            what: format!("drop probability {p} is out of range"),
            fix: "give a probability between 0.0 (no loss) and 1.0 (drop every claimed frame)"
                .into(),
        });
    }
    Ok(((p * ALWAYS as f64).round() as u64).min(ALWAYS))
}

/// The probability a threshold stands for.
pub(crate) fn drop_probability(threshold: u64) -> f64 {
    threshold.min(ALWAYS) as f64 / ALWAYS as f64
}

// Every byte of the value is written by `encode_config` (no field missed,
// no padding left uninitialised).
const _: () = assert!(
    size_of::<steer_policy>() + size_of::<u32>() + size_of::<u64>() == size_of::<steer_config>()
);

fn put(buf: &mut [u8], offset: usize, bytes: &[u8]) {
    buf[offset..offset + bytes.len()].copy_from_slice(bytes);
}

/// The map value bytes of `cfg` (native endian, generated layout).
pub(crate) fn encode_config(cfg: &steer_config) -> Vec<u8> {
    let mut b = vec![0u8; size_of::<steer_config>()];
    put(
        &mut b,
        offset_of!(steer_config, policy),
        &cfg.policy.0.to_ne_bytes(),
    );
    put(
        &mut b,
        offset_of!(steer_config, reserved),
        &cfg.reserved.to_ne_bytes(),
    );
    put(
        &mut b,
        offset_of!(steer_config, drop_threshold),
        &cfg.drop_threshold.to_ne_bytes(),
    );
    b
}

/// Inverse of [`encode_config`]; `None` if `b` has the wrong size.
pub(crate) fn decode_config(b: &[u8]) -> Option<steer_config> {
    if b.len() != size_of::<steer_config>() {
        return None;
    }
    let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    Some(steer_config {
        policy: steer_policy(u32_at(offset_of!(steer_config, policy))),
        reserved: u32_at(offset_of!(steer_config, reserved)),
        drop_threshold: u64_at(offset_of!(steer_config, drop_threshold)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print() {
        assert_eq!("all".parse::<Policy>().unwrap(), Policy::All);
        assert_eq!("local".parse::<Policy>().unwrap(), Policy::Local);
        assert_eq!(Policy::Local.to_string(), "local");
        assert!("some".parse::<Policy>().is_err());
        assert_eq!(Policy::default(), Policy::All);
    }

    #[test]
    fn thresholds_cover_the_whole_range() {
        assert_eq!(drop_threshold(0.0).unwrap(), 0);
        assert_eq!(drop_threshold(1.0).unwrap(), 1 << 32);
        assert_eq!(drop_threshold(0.5).unwrap(), 1 << 31);
        for bad in [-0.1, 1.000001, f64::NAN, f64::INFINITY] {
            let e = drop_threshold(bad).unwrap_err().to_string();
            assert!(e.contains("between 0.0"), "{e}");
        }
        assert_eq!(drop_probability(1 << 31), 0.5);
        assert_eq!(drop_probability(u64::MAX), 1.0);
    }

    #[test]
    fn config_round_trips_through_bytes() {
        let cfg = steer_config {
            policy: Policy::Local.to_raw(),
            reserved: 0,
            drop_threshold: drop_threshold(0.25).unwrap(),
        };
        let bytes = encode_config(&cfg);
        assert_eq!(bytes.len(), 16);
        let back = decode_config(&bytes).unwrap();
        assert_eq!(back.policy, steer_policy::STEER_POLICY_LOCAL);
        assert_eq!(back.drop_threshold, 1 << 30);
        assert!(decode_config(&bytes[..15]).is_none());
    }
}
