//! `xdpnet tcpclient`: verified TCP echo connections over AF_XDP.
//!
//! ```text
//! xdpnet tcpclient --iface IF=ADDR/PREFIX[,…] (repeat) --connect ADDR:PORT
//!                  [--bytes N[K|M|G]] [--conns N] [--parallel N]
//!                  [--route …] [--workers N] [--cores LIST] [--queues LIST|all]
//!                  [--xdp-mode …] [--copy-mode …] [--busy-poll]
//!                  [--drop-probability P] [-i SECS] [-d SECS] [--json]
//! ```
//!
//! The host setup is `xdpnet echo`'s ([`HostArgs`]); every shard runs a
//! [`xdpnet::app::tcp_client::ClientShard`]. The exit status is 0 only if
//! every connection completed and every echoed byte matched.

use std::io::Write;
use std::net::SocketAddr;

use clap::Args;
use xdpnet::app::tcp_client::{run_client, ClientPlan};

use super::echo::HostArgs;

#[derive(Debug, Args)]
#[command(
    after_help = "Each connection sends --bytes of a pseudo-random pattern, \
half-closes, reads the echo back and compares every byte; it completes when the \
whole echo arrived. Works against any echo server that returns the bytes it \
reads, e.g. `xdpnet echo`, or Linux's `socat TCP-LISTEN:7,fork,reuseaddr EXEC:cat`. \
The summary reports bytes, throughput, connections/s and connect times; the exit \
status is 1 if any connection failed or any byte differed."
)]
pub struct TcpClientArgs {
    #[command(flatten)]
    host: HostArgs,
    /// The echo server to connect to.
    #[arg(long, value_name = "ADDR:PORT")]
    connect: SocketAddr,
    /// Bytes each connection sends and expects back (suffix K, M, G:
    /// ×1024, ×1024², ×1024³).
    #[arg(long, value_name = "N[K|M|G]", default_value = "1M", value_parser = parse_bytes)]
    bytes: u64,
    /// Connections in total.
    #[arg(long, value_name = "N", default_value_t = 1)]
    conns: u64,
    /// Connections open at a time (default: all of --conns).
    #[arg(long, value_name = "N")]
    parallel: Option<u64>,
}

/// `N`, `NK`, `NM` or `NG` (binary multiples).
fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("`{s}` is not a byte count; give e.g. 1000, 64K, 200M or 1G"))
}

pub fn run(a: TcpClientArgs) -> Result<(), String> {
    if a.connect.port() == 0 || a.connect.ip().is_unspecified() {
        return Err(format!(
            "--connect {}: give the echo server's address and port, e.g. 198.18.0.1:7",
            a.connect
        ));
    }
    if a.conns == 0 {
        return Err("--conns: 0 connections; give at least 1".into());
    }
    let parallel = a.parallel.unwrap_or(a.conns);
    if parallel == 0 {
        return Err("--parallel: 0; give at least 1 connection at a time".into());
    }
    let plan = ClientPlan {
        remote: a.connect,
        conns: a.conns,
        bytes: a.bytes,
        parallel: parallel.min(a.conns),
    };
    let h = a.host.prepare()?;
    let mut out = std::io::stdout();
    let summary = run_client(
        h.app, plan, h.interval, h.duration, h.json, h.stop, &mut out,
    )
    .map_err(|e| e.to_string())?;
    if h.json {
        println!("{}", summary.to_json());
    } else {
        print!("{summary}");
    }
    let _ = out.flush();
    if summary.ok() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} connections failed ({} with wrong echoed bytes){}",
            summary.totals.failed,
            summary.plan.conns,
            summary.totals.mismatched,
            summary
                .first_error
                .as_deref()
                .map(|e| format!("; first: {e}"))
                .unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("64K"), Ok(65536));
        assert_eq!(parse_bytes("200M"), Ok(200 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("0"), Ok(0));
        assert!(parse_bytes("M").is_err());
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("99999999999G").is_err());
    }
}
