#!/usr/bin/env bash
# The main job: a devnet on embedded RocksDB that executes every block with
# the parallel engine. Extra arguments go to `parex devnet`; without
# --blocks / --txs-per-block it produces 1,000 blocks of 100 transactions.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

args=("$@")
[[ " ${args[*]-} " == *" --blocks"* ]] || args+=(--blocks 1000)
[[ " ${args[*]-} " == *" --txs-per-block"* ]] || args+=(--txs-per-block 100)
dir="${PAREX_DEVNET_DIR:-$(mktemp -d /tmp/parex-devnet.XXXXXX)}"
echo "devnet directory: $dir" >&2
cargo run --release -p parex-node --bin parex -- devnet --dir-path "$dir" "${args[@]}"
