//! Command-line parsing and dispatch.

use clap::{Parser, Subcommand};

pub mod bench;

/// A kernel-bypass network dataplane: AF_XDP workers running a sharded
/// userspace TCP/IP stack.
#[derive(Debug, Parser)]
#[command(name = "xdpnet", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Benchmarks.
    Bench(bench::BenchArgs),
}

/// Run the parsed command.
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Bench(a) => bench::run(a),
    }
}
