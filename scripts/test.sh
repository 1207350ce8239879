#!/usr/bin/env bash
# The test command: install what is missing, then format check, lints and the
# whole test suite (unit, property, fuzz-harness, pipe integration tests), and
# a compile of every benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

echo "== cargo test (release, all targets)"
# Release mode: the property and fuzz harnesses run many more cases per
# second, and the end-to-end pipe tests move real traffic volumes.
cargo test --release --all-targets
cargo test --release --doc

echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
