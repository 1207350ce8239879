#!/usr/bin/env bash
# Install what a fresh machine lacks to build and test xdpnet. Idempotent:
# packages already present are not touched, and apt-get runs only when needed.
set -euo pipefail

PKGS=(clang llvm libelf-dev zlib1g-dev m4 pkg-config make iproute2 valgrind linux-libc-dev bpftool iputils-ping procps ethtool socat python3 nftables netsniff-ng)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps.sh: missing packages: ${missing[*]}" >&2
        echo "deps.sh: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "deps.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

for c in rustfmt clippy; do
    if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$c"
    fi
done
