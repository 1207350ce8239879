//! The skeleton libbpf-cargo generates from `bpf/pass.bpf.c` (see
//! build.rs).
//!
//! Generated code: it uses `unsafe` internally to map the object's data
//! sections, which the crate root denies, so this module alone allows it.
//! Nothing here is written by hand; [`super::xdp_pass`] uses only the
//! skeleton's safe API.
#![allow(unsafe_code)]
#![allow(missing_docs, clippy::all, clippy::undocumented_unsafe_blocks)]

include!(concat!(env!("OUT_DIR"), "/pass.skel.rs"));
