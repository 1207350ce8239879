//! Compiles the BPF programs with clang and generates their Rust skeletons
//! with libbpf-cargo:
//!
//! * `bpf/steer.bpf.c` (XDP steering) → `$OUT_DIR/steer.skel.rs`, included
//!   by `src/steering/skel.rs`;
//! * `bpf/live.bpf.c` (the `xdp-live` engine of `xdpnet pktgen`) →
//!   `$OUT_DIR/live.skel.rs`, included by `src/app/pktgen/live_skel.rs`;
//! * `bpf/pass.bpf.c` (XDP_PASS on the kernel DUT's ingress in `xdpnet
//!   bench veth`) → `$OUT_DIR/pass.skel.rs`, included by
//!   `src/app/bench_veth/pass_skel.rs`.
//!
//! Needs `clang` (override with `XDPNET_CLANG=/path/to/clang`). On
//! Debian/Ubuntu the kernel uapi headers include `<asm/types.h>`, which only
//! exists under the multiarch directory (`/usr/include/x86_64-linux-gnu`)
//! unless gcc-multilib is installed, so that directory is added to the
//! include path, computed from `gcc -dumpmachine` (or `clang
//! -print-multiarch`), never hard-coded.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use libbpf_cargo::SkeletonBuilder;

const SOURCES: &[&str] = &[
    "bpf/steer.bpf.c",
    "bpf/steer.h",
    "bpf/live.bpf.c",
    "bpf/live.h",
    "bpf/pass.bpf.c",
];
const FIX: &str = "install the BPF toolchain with `apt-get install clang llvm libelf-dev` \
                   (or run `scripts/deps.sh`), or point XDPNET_CLANG at a clang binary";

fn main() {
    for src in SOURCES {
        println!("cargo:rerun-if-changed={src}");
    }
    println!("cargo:rerun-if-env-changed=XDPNET_CLANG");

    let clang: OsString = env::var_os("XDPNET_CLANG").unwrap_or_else(|| "clang".into());
    if let Err(e) = Command::new(&clang).arg("--version").output() {
        panic!(
            "\n\nxdpnet: cannot run `{}` to compile the BPF programs in bpf/: {e}.\nFix: {FIX}.\n",
            clang.to_string_lossy()
        );
    }

    let mut args: Vec<OsString> = vec!["-Wall".into(), "-Werror".into()];
    match multiarch_include(&clang) {
        Some(dir) => args.push(format!("-I{}", dir.display()).into()),
        None => println!(
            "cargo:warning=xdpnet: no multiarch include directory found \
             (gcc -dumpmachine / clang -print-multiarch); if clang reports \
             `asm/types.h` not found, {FIX}"
        ),
    }

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (name, what) in [
        ("steer", "the XDP steering program"),
        ("live", "the xdp-live generator program"),
        ("pass", "the XDP_PASS program of bench veth"),
    ] {
        let skel = out.join(format!("{name}.skel.rs"));
        if let Err(e) = SkeletonBuilder::new()
            .source(format!("bpf/{name}.bpf.c"))
            .obj(out.join(format!("{name}.bpf.o")))
            .clang(&clang)
            .clang_args(&args)
            .build_and_generate(&skel)
        {
            panic!(
                "\n\nxdpnet: building {what} (bpf/{name}.bpf.c) failed: {e:#}\n\
                 If clang says `asm/types.h` (or another header) is not found, {FIX}; \
                 kernel uapi headers come with `linux-libc-dev`.\n"
            );
        }
    }
}

/// `/usr/include/<triple>` when it exists, where `<triple>` is the host's
/// multiarch tuple (e.g. `x86_64-linux-gnu`).
fn multiarch_include(clang: &OsString) -> Option<PathBuf> {
    let probes: [(OsString, &str); 2] = [
        ("gcc".into(), "-dumpmachine"),
        (clang.clone(), "-print-multiarch"),
    ];
    probes.iter().find_map(|(cmd, flag)| {
        let out = Command::new(cmd).arg(flag).output().ok()?;
        let triple = String::from_utf8(out.stdout).ok()?;
        let dir = Path::new("/usr/include").join(triple.trim());
        (out.status.success() && !triple.trim().is_empty() && dir.is_dir()).then_some(dir)
    })
}
