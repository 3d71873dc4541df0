#!/usr/bin/env bash
# The whole test suite: every crate's unit, integration, property and doc
# tests, then the loom model checks of the concurrent core.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

echo "== cargo test --workspace --release" >&2
cargo test --workspace --release

echo "== loom model checks (RUSTFLAGS=--cfg loom)" >&2
if [ -d loom-tests ]; then
    RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$CARGO_TARGET_DIR-loom" \
        cargo test -p parex-loom-tests --release --tests
fi
