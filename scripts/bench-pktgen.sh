#!/usr/bin/env bash
# bench-pktgen.sh - xdpnet pktgen (each engine) against trafgen (netsniff-ng,
# PF_PACKET mmap TX ring) on one core, the same 64-byte UDP frame, measured
# at the receiver.
#
#   scripts/bench-pktgen.sh [-d SECS] [-b PATH/TO/xdpnet] [-c CORE] [-r CORE]
#
#   ns G (sender, pinned to core -c)        ns S (receiver)
#   g0 198.18.0.1  ───── veth ─────  s0 198.18.0.2
#                                    xdpnet sink s0 --json (pinned to core -r)
#
# Each sender runs for SECS seconds against a fresh sink. The table shows
# what the sender reports (trafgen: its TX ring count; pktgen: tx_packets),
# what the sink received (stamped or not) and the peer veth's rx_packets
# delta from /sys/class/net/s0/statistics (frames that reached s0, before
# the sink's socket: the sink itself can be the bottleneck). The ratio column
# is received pps over trafgen's.
#
# The sink's XDP program on s0 is what lets veth deliver the xdp-live
# engine's frames (veth drops ndo_xdp_xmit frames to a peer without XDP);
# trafgen's and the xsk engine's skbs reach it through veth's XDP-on-skb
# path, so all three senders meet the same receiver.
#
# Root only. Namespaces are removed on exit (trap), also on failure or
# Ctrl-C. Needs trafgen (`apt-get install netsniff-ng`, in scripts/deps.sh).
# Only 198.18.0.0/15 addresses are used (RFC 2544 benchmarking range).
set -euo pipefail

SECS=5
BIN=""
CORE=1
RCORE=0
while getopts "d:b:c:r:h" o; do
    case "$o" in
    d) SECS=$OPTARG ;;
    b) BIN=$OPTARG ;;
    c) CORE=$OPTARG ;;
    r) RCORE=$OPTARG ;;
    *)
        sed -n '2,12p' "$0"
        exit 2
        ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "bench-pktgen.sh: needs root (namespaces, veth, XDP, AF_XDP)" >&2
    exit 1
fi
command -v trafgen >/dev/null || {
    echo "bench-pktgen.sh: trafgen not found: apt-get install -y netsniff-ng (or scripts/deps.sh)" >&2
    exit 1
}
command -v python3 >/dev/null || {
    echo "bench-pktgen.sh: python3 is needed to read the JSON" >&2
    exit 1
}
if [ -z "$BIN" ]; then
    here=$(cd "$(dirname "$0")/.." && pwd)
    (cd "$here" && cargo build --release --quiet)
    BIN="$here/target/release/xdpnet"
fi

G="xdpnet-bpk-g-$$"
S="xdpnet-bpk-s-$$"
TMP=$(mktemp -d)
SINK_PID=""
cleanup() {
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
    ip netns del "$G" 2>/dev/null || true
    ip netns del "$S" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ip netns add "$G"
ip netns add "$S"
ip -n "$G" link add g0 type veth peer name s0 netns "$S"
ip -n "$G" addr add 198.18.0.1/24 dev g0
ip -n "$S" addr add 198.18.0.2/24 dev s0
ip -n "$G" link set g0 up
ip -n "$S" link set s0 up
ip netns exec "$S" ethtool -K s0 tx off >/dev/null
SMAC=$(ip netns exec "$S" cat /sys/class/net/s0/address)
GMAC=$(ip netns exec "$G" cat /sys/class/net/g0/address)

# The same frame for every sender: 14 + 20 + 8 + 22 = 64 bytes without FCS,
# 198.18.0.1:1024 -> 198.18.0.2:9 (pktgen's defaults with --flows 1).
cat >"$TMP/udp64.cfg" <<EOF
{
  eth(da=$SMAC, sa=$GMAC, type=0x0800),
  ipv4(saddr=198.18.0.1, daddr=198.18.0.2, ttl=64, df),
  udp(sp=1024, dp=9),
  fill(0x5a, 22)
}
EOF

rx_packets() { ip netns exec "$S" cat /sys/class/net/s0/statistics/rx_packets; }

start_sink() {
    ip netns exec "$S" taskset -c "$RCORE" "$BIN" sink s0 --json -i 0 \
        >"$TMP/sink.json" 2>"$TMP/sink.err" &
    SINK_PID=$!
    for _ in $(seq 100); do
        grep -q "^Receiving on" "$TMP/sink.err" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench-pktgen.sh: the sink did not start:" >&2
    cat "$TMP/sink.err" >&2
    exit 1
}

stop_sink() {
    sleep 0.5
    kill -INT "$SINK_PID"
    wait "$SINK_PID" || true
    SINK_PID=""
}

json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }

declare -a NAMES SENT RECV PEER
run() { # name, command...
    local name=$1
    shift
    start_sink
    local before after
    before=$(rx_packets)
    "$@"
    stop_sink
    after=$(rx_packets)
    NAMES+=("$name")
    RECV+=("$(json "$TMP/sink.json" '["rx_packets"]')")
    PEER+=("$((after - before))")
}

# trafgen: PF_PACKET mmap TX ring, one CPU; stops after SECS (SIGINT).
run "trafgen" bash -c "
    ip netns exec '$G' timeout -s INT '$SECS' taskset -c '$CORE' \
        trafgen --cpus 1 --dev g0 --conf '$TMP/udp64.cfg' --no-sock-mem \
        >'$TMP/trafgen.out' 2>&1 || true"
SENT+=("$(grep -oE '[0-9]+ packets outgoing' "$TMP/trafgen.out" | grep -oE '^[0-9]+' | tail -1 || echo '?')")

for engine in xsk xdp-live; do
    run "pktgen $engine" bash -c "
        ip netns exec '$G' '$BIN' pktgen g0 --dst-mac '$SMAC' --src-ip 198.18.0.1 \
            --dst-ip 198.18.0.2 -s 64 -r 0 -d '$SECS' --cores '$CORE' \
            --engine '$engine' --json -i 0 >'$TMP/pktgen.json' 2>'$TMP/pktgen.err' \
        || { cat '$TMP/pktgen.err' >&2; exit 1; }"
    SENT+=("$(json "$TMP/pktgen.json" '["tx_packets"]')")
done

printf '\n64-byte UDP over veth, %s s, sender on core %s, sink on core %s (%s)\n' \
    "$SECS" "$CORE" "$RCORE" "$(uname -r)"
printf '%-16s %14s %14s %14s %14s %8s\n' sender sent sink_rx peer_rx_pps sink_rx_pps ratio
base=""
for i in "${!NAMES[@]}"; do
    peer_pps=$((PEER[i] / SECS))
    sink_pps=$((RECV[i] / SECS))
    [ -z "$base" ] && base=$peer_pps
    ratio=$(python3 -c "print(f'{$peer_pps / max($base, 1):.2f}x')")
    printf '%-16s %14s %14s %14s %14s %8s\n' "${NAMES[$i]}" "${SENT[$i]}" "${RECV[$i]}" \
        "$peer_pps" "$sink_pps" "$ratio"
done
echo "(ratio: peer rx pps over trafgen's; sink_rx counts what the one-thread sink read)"
