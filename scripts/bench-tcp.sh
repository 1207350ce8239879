#!/usr/bin/env bash
# Side-by-side TCP benchmark over veth: xdpnet's userspace TCP on AF_XDP
# (`xdpnet echo`) against Linux's own TCP (examples/kernel_echo.rs, an
# epoll echo server), each as the server on the same core, loaded by the
# same kernel client on another core.
#
#   ns C (client, core 0)                      ns S (server, core 1)
#   C-IF 198.18.0.1/24  ──────── veth ───────  S-IF 198.18.0.2/24
#   kernel_echo stream / rate                  (a) xdpnet echo --cores 1
#                                              (b) kernel_echo serve (taskset 1)
#                                              (c) the same, offloads off
#
# Placement: RPS on C-IF sends the client's receive path to the client
# core; both veth ends have NAPI (GRO on, and an XDP program on S-IF
# for xdpnet) in threaded mode; C-IF's NAPI thread is pinned to the client
# core and S-IF's to the server core, so receiving for the server is
# charged to the server core (for Linux: its whole receive path; for
# xdpnet: XDP and the copy into the AF_XDP ring) and receiving for the
# client to the client core. The client end sends plain MTU frames with
# full checksums (`tx off tso off gso off`, needed by AF_XDP on veth) in
# every run. Server (b) keeps Linux's defaults (GRO, TSO/GSO: 64 KiB
# super-frames cross the veth); server (c) turns them off, so it moves the
# same MTU-sized frames as xdpnet, with RPS steering its receive path to
# the server core.
#
# Measurements (each repeated RUNS times, the median reported):
#   throughput   one connection, BYTES sent through the echo and read back
#                concurrently (Mbit/s each way);
#   conn rate    PARALLEL client threads loop connect, 64-byte request,
#                read the echo, close, for SECS seconds (connections/s).
#
# Usage: scripts/bench-tcp.sh [-b BYTES] [-d SECS] [-p PARALLEL] [-r RUNS]
#                             [-o FILE.json] [--no-build]
# Root only. Writes bench/results/<UTC date>-tcp.json unless -o is given.
# XDPNET=/path/to/xdpnet benchmarks that binary instead of the tree's
# (A/B runs of two builds on the same machine state).
set -euo pipefail

BYTES=$((500 * 1024 * 1024))
SECS=5
PARALLEL=16
RUNS=3
OUT=""
BUILD=1
CLIENT_CORE=${CLIENT_CORE:-0}
SERVER_CORE=${SERVER_CORE:-1}
PORT=7

usage() { sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        -b) BYTES=$2; shift 2 ;;
        -d) SECS=$2; shift 2 ;;
        -p) PARALLEL=$2; shift 2 ;;
        -r) RUNS=$2; shift 2 ;;
        -o) OUT=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) usage 0 ;;
        *) echo "bench-tcp.sh: unknown argument $1" >&2; usage 2 >&2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "bench-tcp.sh: needs root (network namespaces, XDP); run it with sudo" >&2
    exit 1
fi
for tool in ip ethtool taskset python3; do
    command -v "$tool" >/dev/null || { echo "bench-tcp.sh: $tool missing; run scripts/deps.sh" >&2; exit 1; }
done

cd "$(dirname "$0")/.."
if [ "$BUILD" = 1 ]; then
    cargo build --release --bin xdpnet --example kernel_echo >&2
fi
XDPNET=${XDPNET:-$PWD/target/release/xdpnet}
KECHO=$PWD/target/release/examples/kernel_echo
[ -z "$OUT" ] && OUT=bench/results/$(date -u +%Y-%m-%d)-tcp.json

NC=xdpnet-tcpb-$$-c
NS=xdpnet-tcpb-$$-s
CIF=tbc$$
SIF=tbs$$
SERVER_PID=""
WORK=$(mktemp -d)

cleanup() {
    if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; sleep 0.5; fi
    ip netns del "$NC" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

inc() { ip netns exec "$NC" "$@"; }
ins() { ip netns exec "$NS" "$@"; }

# The NAPI threads of a veth end (kernel threads named napi/IF-ID).
pin_napi() { # IF CORE
    local pids
    pids=$(ps -e -o pid=,comm= | awk -v p="napi/$1-" 'index($2, p) == 1 {print $1}')
    [ -n "$pids" ] || { echo "bench-tcp.sh: no NAPI thread for $1" >&2; exit 1; }
    for p in $pids; do taskset -pc "$2" "$p" >/dev/null; done
}

ip netns add "$NC"
ip netns add "$NS"
ip -n "$NC" link add "$CIF" type veth peer name "$SIF" netns "$NS"
ip -n "$NC" link set lo up
ip -n "$NS" link set lo up
ip -n "$NC" addr add 198.18.0.1/24 dev "$CIF"
ip -n "$NC" link set "$CIF" up
ip -n "$NS" link set "$SIF" up
# Wait for carrier on both ends (xdpnet refuses an interface that is down).
for _ in $(seq 50); do
    [ "$(ins cat /sys/class/net/$SIF/operstate)" = up ] &&
        [ "$(inc cat /sys/class/net/$CIF/operstate)" = up ] && break
    sleep 0.1
done
inc ethtool -K "$CIF" tx off tso off gso off gro on >/dev/null
inc sh -c "echo 1 > /sys/class/net/$CIF/threaded"
pin_napi "$CIF" "$CLIENT_CORE"
# Frames from a TSO-capable veth end skip the peer's NAPI (netif_rx on the
# sending core): RPS moves the client's receive path to the client core
# whichever way its frames arrive.
inc sh -c "printf '%x' $((1 << CLIENT_CORE)) > /sys/class/net/$CIF/queues/rx-0/rps_cpus"
# The client closes first (TIME-WAIT is on its side): reuse those ports.
inc sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65535"

client() { inc taskset -c "$CLIENT_CORE" "$KECHO" "$@"; }

# Wait until the server answers; fail if it died.
wait_server() {
    if ! client wait 198.18.0.2:$PORT 15 || ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "bench-tcp.sh: the server did not come up" >&2
        exit 1
    fi
}

# measure NAME: RUNS × (stream, rate), one JSON line each, in $WORK/NAME.
measure() {
    local name=$1 i
    wait_server
    : > "$WORK/$name"
    for i in $(seq "$RUNS"); do
        client stream 198.18.0.2:$PORT "$BYTES" | sed 's/^/{"kind": "stream", "r": /; s/$/}/' >> "$WORK/$name"
        tail -n1 "$WORK/$name" >&2
        client rate 198.18.0.2:$PORT "$SECS" "$PARALLEL" | sed 's/^/{"kind": "rate", "r": /; s/$/}/' >> "$WORK/$name"
        tail -n1 "$WORK/$name" >&2
        sleep 1
    done
}

# start_server OUT CMD…: run CMD in ns S on the server core, stdout to
# $WORK/OUT; SERVER_PID is the server itself (written by the shell that
# execs it: $! would be a subshell of this script, and a signal sent there
# would not reach the server).
start_server() {
    local out=$1 i
    shift
    [ "$out" = /dev/null ] || out=$WORK/$out
    rm -f "$WORK/server.pid"
    ip netns exec "$NS" sh -c 'echo $$ > "$1"; shift; exec "$@"' sh "$WORK/server.pid" \
        taskset -c "$SERVER_CORE" "$@" > "$out" &
    for i in $(seq 50); do [ -s "$WORK/server.pid" ] && break; sleep 0.1; done
    SERVER_PID=$(cat "$WORK/server.pid")
}

stop_server() {
    local i
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "bench-tcp.sh: server $SERVER_PID did not stop on SIGTERM" >&2
        exit 1
    fi
    SERVER_PID=""
    # Nothing may answer for the next server (an XDP program left behind
    # would steer its frames away).
    if ins ip link show "$SIF" | grep -q "prog/xdp"; then
        echo "bench-tcp.sh: an XDP program is still attached to $SIF" >&2
        exit 1
    fi
}

echo "== (a) xdpnet echo on core $SERVER_CORE (AF_XDP, copy mode)" >&2
ins ethtool -K "$SIF" gro on >/dev/null
start_server xdpnet-summary.json "$XDPNET" echo --iface "$SIF=198.18.0.2/24" \
    --port $PORT --cores "$SERVER_CORE" --json
wait_server
ins sh -c "echo 1 > /sys/class/net/$SIF/threaded"
pin_napi "$SIF" "$SERVER_CORE"
measure xdpnet
stop_server

echo "== (b) Linux TCP, kernel_echo on core $SERVER_CORE (GRO, TSO/GSO on)" >&2
ip -n "$NS" addr add 198.18.0.2/24 dev "$SIF"
ins ethtool -K "$SIF" gro on tso on gso on >/dev/null
ins sh -c "echo 1 > /sys/class/net/$SIF/threaded"
pin_napi "$SIF" "$SERVER_CORE"
start_server /dev/null "$KECHO" serve 198.18.0.2:$PORT
measure linux
stop_server

echo "== (c) Linux TCP, offloads off (MTU frames, RPS to core $SERVER_CORE)" >&2
ins sh -c "echo 0 > /sys/class/net/$SIF/threaded"
ins ethtool -K "$SIF" gro off tso off gso off >/dev/null
ins sh -c "printf '%x' $((1 << SERVER_CORE)) > /sys/class/net/$SIF/queues/rx-0/rps_cpus"
start_server /dev/null "$KECHO" serve 198.18.0.2:$PORT
measure linux_mtu
stop_server

mkdir -p "$(dirname "$OUT")"
python3 - "$WORK" "$OUT" "$BYTES" "$SECS" "$PARALLEL" "$RUNS" "$CLIENT_CORE" "$SERVER_CORE" <<'EOF'
import json, os, platform, statistics, sys, time
work, out, nbytes, secs, par, runs, ccore, score = sys.argv[1:9]
def load(name):
    rows = [json.loads(l) for l in open(os.path.join(work, name)) if l.strip()]
    s = [r["r"]["mbit_s"] for r in rows if r["kind"] == "stream"]
    c = [r["r"]["conns_per_s"] for r in rows if r["kind"] == "rate"]
    f = sum(r["r"]["failed"] for r in rows if r["kind"] == "rate")
    return {"stream_mbit_s": s, "rate_conns_s": c, "rate_failed": f,
            "stream_median": statistics.median(s), "rate_median": statistics.median(c)}
res = {n: load(n) for n in ("xdpnet", "linux", "linux_mtu")}
try:
    summ = json.load(open(os.path.join(work, "xdpnet-summary.json")))
    res["xdpnet"]["echo_summary"] = summ.get("echo")
    res["xdpnet"]["interfaces"] = summ.get("interfaces")
except Exception:
    pass
x = res["xdpnet"]
ratios = {n: {"throughput": x["stream_median"] / res[n]["stream_median"],
              "conn_rate": x["rate_median"] / res[n]["rate_median"]}
          for n in ("linux", "linux_mtu")}
doc = {
    "benchmark": "tcp-echo-veth",
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "host": {"kernel": platform.release(), "cpus": os.cpu_count()},
    "config": {"stream_bytes": int(nbytes), "rate_secs": float(secs),
               "rate_parallel": int(par), "runs": int(runs),
               "client_core": int(ccore), "server_core": int(score),
               "servers": {
                   "xdpnet": "xdpnet echo, 1 worker pinned to the server core, AF_XDP copy mode, native XDP",
                   "linux": "examples/kernel_echo.rs serve (epoll, 1 thread) on the server core; GRO/TSO/GSO on; threaded NAPI on the server core",
                   "linux_mtu": "the same with GRO/TSO/GSO off (MTU frames like xdpnet); RPS to the server core"}},
    "results": res,
    "ratios_xdpnet_over": ratios,
}
json.dump(doc, open(out, "w"), indent=2)
print()
print(f"TCP echo over veth, server on core {score}, kernel client on core {ccore} "
      f"(median of {runs}; stream {int(nbytes) >> 20} MiB, rate {secs} s x {par} threads)")
print(f"{'server':<34}{'throughput Mbit/s':>20}{'connections/s':>16}")
names = {"xdpnet": "xdpnet echo (AF_XDP)", "linux": "Linux TCP (GRO/TSO on)",
         "linux_mtu": "Linux TCP (offloads off)"}
for n in ("xdpnet", "linux", "linux_mtu"):
    r = res[n]
    print(f"{names[n]:<34}{r['stream_median']:>20.1f}{r['rate_median']:>16.1f}")
for n in ("linux", "linux_mtu"):
    print(f"xdpnet / {names[n]:<25}{ratios[n]['throughput']:>20.2f}{ratios[n]['conn_rate']:>16.2f}")
print(f"results: {out}")
EOF
