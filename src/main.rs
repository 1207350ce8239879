//! The `xdpnet` command line.
//!
//! One file per subcommand under `src/cli/`. Long runs print one stats line
//! per interval and a fixed `--- summary ---` block; `--json` prints one
//! machine-readable document instead.

use clap::Parser;

/// mimalloc: fast, scalable allocation for the control paths (the per-packet
/// path does not allocate).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        eprintln!("xdpnet: {e}");
        std::process::exit(1);
    }
}
