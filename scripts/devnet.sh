#!/usr/bin/env bash
# The main job: a devnet on embedded RocksDB that executes every block with
# the parallel engine. Extra arguments go to `parex devnet`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

dir="${PAREX_DEVNET_DIR:-$(mktemp -d /tmp/parex-devnet.XXXXXX)}"
echo "devnet directory: $dir" >&2
cargo run --release -p parex-node --bin parex -- \
    devnet --dir-path "$dir" --blocks 1000 --txs-per-block 100 "$@"
