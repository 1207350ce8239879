#!/usr/bin/env bash
# xdpnet demo: two kernel hosts in network namespaces joined through
# `xdpnet router` running on AF_XDP in a third namespace.
#
#   xdpnet-a (kernel)        xdpnet-r (xdpnet router)          xdpnet-b (kernel)
#   a0 198.18.0.1/24 ─── r0 198.18.0.254/24   r1 198.18.1.254/24 ─── b0 198.18.1.2/24
#      2001:2::1/64         2001:2::fe/64        2001:2:0:1::fe/64        2001:2:0:1::2/64
#
# Usage (root):
#   scripts/demo.sh          build if needed, create the topology, run the router
#                            (Ctrl-C stops it and removes everything)
#   scripts/demo.sh up       only create the topology
#   scripts/demo.sh down     remove it
# While it runs, from another terminal:
#   ip netns exec xdpnet-a ping 198.18.1.2
#   ip netns exec xdpnet-a ping -6 2001:2:0:1::2
set -euo pipefail
cd "$(dirname "$0")/.."

A=xdpnet-a R=xdpnet-r B=xdpnet-b

down() {
    for ns in $A $R $B; do ip netns del "$ns" 2>/dev/null || true; done
}

up() {
    down
    for ns in $A $R $B; do ip netns add "$ns"; done
    ip -n $R link add r0 type veth peer name a0 netns $A
    ip -n $R link add r1 type veth peer name b0 netns $B
    ip -n $R link set r0 up; ip -n $R link set r1 up
    ip -n $A link set a0 up; ip -n $A link set lo up
    ip -n $B link set b0 up; ip -n $B link set lo up
    ip -n $A addr add 198.18.0.1/24 dev a0
    ip -n $A addr add 2001:2::1/64 dev a0 nodad
    ip -n $A route add default via 198.18.0.254
    ip -n $A -6 route add default via 2001:2::fe
    ip -n $B addr add 198.18.1.2/24 dev b0
    ip -n $B addr add 2001:2:0:1::2/64 dev b0 nodad
    ip -n $B route add default via 198.18.1.254
    ip -n $B -6 route add default via 2001:2:0:1::fe
    echo "topology up: $A — $R — $B"
}

if [ "$(id -u)" -ne 0 ]; then
    echo "demo.sh: needs root (network namespaces, XDP, AF_XDP): sudo $0 $*" >&2
    exit 1
fi

case "${1:-run}" in
    up) up ;;
    down) down ;;
    run)
        [ -x target/release/xdpnet ] || cargo build --release
        up
        trap down EXIT
        echo "router starting; in another terminal: ip netns exec $A ping 198.18.1.2 (Ctrl-C here to stop)"
        ip netns exec $R target/release/xdpnet router \
            --iface r0=198.18.0.254/24,2001:2::fe/64 \
            --iface r1=198.18.1.254/24,2001:2:0:1::fe/64 \
            --workers 1 -i 1
        ;;
    *) echo "usage: $0 [run|up|down]" >&2; exit 2 ;;
esac
