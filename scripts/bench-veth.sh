#!/usr/bin/env bash
# Side-by-side veth benchmark: the Linux kernel's forwarding and
# `xdpnet router`, generator -> DUT -> sink in network namespaces.
#
# Writes bench/results/<date>-veth.json and bench/results/<date>-veth.svg
# and prints the table (Markdown) for the README's Performance section.
# Both DUTs get the same generator: the xdp-live engine by default (the
# kernel DUT's ingress veth end then runs an XDP_PASS program, without
# which veth drops the engine's frames); `--gen-engine xsk` for the
# AF_XDP tx-ring generator.
# Needs root. Extra arguments go to `xdpnet bench veth`, e.g.
#   scripts/bench-veth.sh -d 5 --dut-cores 1 --points 6 --gen-engine xsk
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "bench-veth.sh: needs root (network namespaces, veth, XDP): run it with sudo" >&2
    exit 1
fi

scripts/deps.sh
cargo build --release
exec ./target/release/xdpnet bench veth --out bench/results "$@"
