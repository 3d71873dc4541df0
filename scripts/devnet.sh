#!/usr/bin/env bash
# The main job: a devnet on embedded RocksDB that executes every block with
# the parallel engine, on Block-STM from each block's first transaction
# (--parallel-start block-stm: a node's default, probe, would keep these
# cheap transfers sequential on a 2-core machine, where Block-STM is slower
# for them). Extra arguments go to `parex devnet`; without --blocks /
# --txs-per-block it produces 1,000 blocks of 100 transactions.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

args=("$@")
[[ " ${args[*]-} " == *" --blocks"* ]] || args+=(--blocks 1000)
[[ " ${args[*]-} " == *" --txs-per-block"* ]] || args+=(--txs-per-block 100)
[[ " ${args[*]-} " == *" --parallel-start"* || -n "${PAREX_PARALLEL_START-}" ]] ||
    args+=(--parallel-start block-stm)
dir="${PAREX_DEVNET_DIR:-$(mktemp -d /tmp/parex-devnet.XXXXXX)}"
echo "devnet directory: $dir" >&2
cargo run --release -p parex-node --bin parex -- devnet --dir-path "$dir" "${args[@]}"
