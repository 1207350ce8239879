//! The skeleton libbpf-cargo generates from `bpf/live.bpf.c` (see build.rs).
//!
//! Generated code: it uses `unsafe` internally to map the object's data
//! sections, which the crate root denies, so this module alone allows it.
//! Nothing here is written by hand; the loader ([`super::engine_live`])
//! uses only the skeleton's safe API and its generated `types`.
#![allow(unsafe_code)]
#![allow(missing_docs, clippy::all, clippy::undocumented_unsafe_blocks)]

include!(concat!(env!("OUT_DIR"), "/live.skel.rs"));
