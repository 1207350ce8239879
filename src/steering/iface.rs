//! Network interface lookups for attach and for error messages.
//!
//! Names and indexes are resolved with `if_nametoindex`/`if_indextoname`,
//! which see the calling thread's network namespace (so a thread that
//! entered a namespace with `setns` finds that namespace's interfaces).
//! MTU and driver come from sysfs and are best effort: sysfs shows the
//! namespace it was mounted in, so they are reported only when the sysfs
//! entry has the same ifindex.

use std::fs;
use std::path::PathBuf;

use super::error::SteeringError;

/// A resolved interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Iface {
    pub(crate) name: String,
    pub(crate) index: u32,
}

impl Iface {
    pub(crate) fn by_name(name: &str) -> Result<Self, SteeringError> {
        let missing = || SteeringError::NoSuchInterface {
            name: name.to_string(),
        };
        if name.is_empty() || name.len() >= 16 || name.contains(['/', '\0']) {
            return Err(missing());
        }
        let index = nix::net::if_::if_nametoindex(name).map_err(|_| missing())?;
        Ok(Self {
            name: name.to_string(),
            index,
        })
    }

    pub(crate) fn by_index(index: u32) -> Result<Self, SteeringError> {
        // The kernel takes the index as a C int.
        let valid = index != 0 && i32::try_from(index).is_ok();
        let name = valid
            .then(|| nix::net::if_::if_indextoname(index))
            .and_then(Result::ok)
            .and_then(|n| n.into_string().ok())
            // nix 0.30 reports a failed lookup as an empty name.
            .filter(|n| !n.is_empty())
            .ok_or_else(|| SteeringError::NoSuchInterface {
                name: format!("#{index}"),
            })?;
        Ok(Self { name, index })
    }

    fn sysfs(&self) -> Option<PathBuf> {
        let dir = PathBuf::from("/sys/class/net").join(&self.name);
        let index: u32 = fs::read_to_string(dir.join("ifindex"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        (index == self.index).then_some(dir)
    }

    /// The MTU, when sysfs shows this interface.
    pub(crate) fn mtu(&self) -> Option<u32> {
        fs::read_to_string(self.sysfs()?.join("mtu"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The driver name, when sysfs shows this interface and it has a
    /// device (virtual interfaces such as veth have none).
    pub(crate) fn driver(&self) -> Option<String> {
        let link = fs::read_link(self.sysfs()?.join("device/driver")).ok()?;
        Some(link.file_name()?.to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolves_both_ways() {
        let lo = Iface::by_name("lo").expect("every namespace has lo");
        assert_eq!(Iface::by_index(lo.index).unwrap(), lo);
    }

    #[test]
    fn unknown_names_are_no_such_interface() {
        for name in ["", "xdpnet-nope0", "a/b", "waytoolonginterfacename"] {
            let err = Iface::by_name(name).unwrap_err();
            assert!(
                matches!(err, SteeringError::NoSuchInterface { .. }),
                "{name}: {err}"
            );
        }
        for index in [0, 0x7fff_fff0] {
            let r = Iface::by_index(index);
            assert!(
                matches!(r, Err(SteeringError::NoSuchInterface { .. })),
                "{index}: {r:?}"
            );
        }
    }
}
