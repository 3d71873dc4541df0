#!/usr/bin/env bash
# Runs the standard comparison matrix of `parex bench` and refreshes the
# numbers and plots of docs/BENCHMARKS.md: the raw rows (JSON lines), the
# table, and the SVG plots. Extra arguments go to `parex bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

out="${PAREX_BENCH_OUT:-docs/bench}"
mkdir -p "$out"
cargo build --release -p parex-node --bin parex
parex="$CARGO_TARGET_DIR/release/parex"

"$parex" bench --json "$@" | tee "$out/rows.jsonl"
python3 - "$out/rows.jsonl" > "$out/table.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("| workload | txs | accounts | threads | seq ms | par ms | speedup | auto ms | auto | switched | reexec/tx | ideal | equal | rt ns |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
for r in rows:
    rt = r.get("round_trip_ns")
    print(f'| {r["workload"]} | {r["txs"]} | {r["accounts"]} | {r["threads"]} | {r["seq_ms"]:.3f} '
          f'| {r["par_ms"]:.3f} | {r["speedup"]:.2f}x | {r["auto_ms"]:.3f} | {r["auto_speedup"]:.2f}x '
          f'| {r.get("auto_switched", 0) * 100:.0f}% | {r["reexec_per_tx"]:.3f} '
          f'| {r["ideal_speedup"]:.2f}x | {"yes" if r["outputs_equal"] else "NO"} '
          f'| {"-" if rt is None else f"{rt:.0f}"} |')
PY
python3 scripts/plot_benchmarks.py "$out/rows.jsonl" docs/plots
echo "rows: $out/rows.jsonl, table: $out/table.md, plots: docs/plots/" >&2
