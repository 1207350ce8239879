//! Command-line parsing and dispatch.

use clap::{Parser, Subcommand};

pub mod bench;
pub mod doctor;
pub mod echo;
pub mod pktgen;
pub mod router;
pub mod sink;
pub mod tcp_client;

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
    /// Route IPv4/IPv6 between interfaces on AF_XDP workers.
    Router(router::RouterArgs),
    /// TCP and UDP echo on AF_XDP workers (the router's runtime, forwarding
    /// off).
    Echo(echo::EchoArgs),
    /// TCP connections over AF_XDP to an echo server: send N bytes each,
    /// verify the echo, report throughput, connections/s, connect times.
    Tcpclient(tcp_client::TcpClientArgs),
    /// Check privileges, kernel, AF_XDP, BPF and (optionally) an interface;
    /// print PASS/WARN/FAIL with the fix.
    Doctor(doctor::DoctorArgs),
    /// Generate UDP traffic on an AF_XDP socket (sequence numbers and TX
    /// timestamps in every frame), at a rate or as fast as possible.
    Pktgen(pktgen::PktgenArgs),
    /// Receive and drop on an AF_XDP socket; report rate, loss, reordering
    /// and one-way latency of `xdpnet pktgen` traffic.
    Sink(sink::SinkArgs),
    /// Benchmarks.
    Bench(bench::BenchArgs),
}

/// Run the parsed command.
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Router(a) => router::run(a),
        Command::Echo(a) => echo::run(a),
        Command::Tcpclient(a) => tcp_client::run(a),
        Command::Doctor(a) => doctor::run(a),
        Command::Pktgen(a) => pktgen::run(a),
        Command::Sink(a) => sink::run(a),
        Command::Bench(a) => bench::run(a),
    }
}
