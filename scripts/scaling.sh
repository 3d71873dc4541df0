#!/usr/bin/env bash
# Speedup by thread count, as issue 5 asks of a many-core machine: heavy and
# transfer blocks of 10,000, and the seed's blocks of 50 and 100, at 1, 2,
# 4, 8 and 16 threads (those above this machine's cores are skipped).
#
#   scripts/scaling.sh [OUT_DIR]        (default docs/bench/scaling)
#
# Writes OUT_DIR/rows.jsonl (`parex bench --json` rows), OUT_DIR/table.md
# (speedup by threads of Block-STM and of the executor as it ships, and the
# machine it ran on), OUT_DIR/speedup_vs_threads.svg and
# OUT_DIR/auto_speedup_vs_threads.svg. PAREX_BIN runs a parex built elsewhere
# (a machine without the toolchain); PAREX_SCALING_THREADS overrides the
# thread counts, PAREX_SCALING_RUNS the runs per executor (12).
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-docs/bench/scaling}"
if [ -n "${PAREX_BIN:-}" ]; then
    parex="$PAREX_BIN"
else
    source scripts/setup.sh
    cargo build --release -p parex-node --bin parex
    parex="$CARGO_TARGET_DIR/release/parex"
fi
runs="${PAREX_SCALING_RUNS:-12}"
cores="$(nproc)"
mkdir -p "$out"
rows="$out/rows.jsonl"
: > "$rows"

for threads in ${PAREX_SCALING_THREADS:-1 2 4 8 16}; do
    if [ "$threads" -gt "$cores" ]; then
        echo "scaling: $threads threads skipped: this machine has $cores cores" >&2
        continue
    fi
    echo "scaling: $threads threads" >&2
    bench=("$parex" bench --json --threads "$threads" --runs "$runs")
    "${bench[@]}" --workload heavy,transfer --txs 10000 >> "$rows"
    for txs in 50 100; do
        "${bench[@]}" --workload heavy,transfer,node-transfer --txs "$txs" >> "$rows"
    done
done

machine="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
python3 - "$rows" "$cores" "${machine:-unknown processor}" > "$out/table.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
cores, machine = sys.argv[2], sys.argv[3]
threads = sorted({r["threads"] for r in rows})
blocks = []
for r in rows:
    if (r["workload"], r["txs"]) not in blocks:
        blocks.append((r["workload"], r["txs"]))
trips = sorted(r["round_trip_ns"] for r in rows if r.get("round_trip_ns") is not None)
trip = f"{trips[0]:.0f}–{trips[-1]:.0f} ns" if trips else "not measured"
print(f"{cores} cores ({machine}); speedup = sequential median / parallel median, "
      "side by side in one run; outputs equal in every row: "
      + ("yes" if all(r["outputs_equal"] for r in rows) else "NO")
      + f"; cross-core round trip {trip}")
# Block-STM from the first transaction, then the executor as it ships
# (every block started sequentially, Block-STM once its transactions prove
# expensive; at 1 thread it never switches).
for field, title in (("speedup", "Block-STM"), ("auto_speedup", "As shipped (`auto`)")):
    print()
    print(f"{title}:")
    print()
    print("| workload | txs | " + " | ".join(f"{t} thr" for t in threads) + " | seq ms |")
    print("|---|---:|" + "---:|" * len(threads) + "---:|")
    for workload, txs in blocks:
        cells, seq = [], []
        for t in threads:
            match = [r for r in rows if (r["workload"], r["txs"], r["threads"]) == (workload, txs, t)]
            cells.append(f'{match[0][field]:.2f}x' if match else "—")
            seq += [r["seq_ms"] for r in match]
        seq.sort()
        print(f"| {workload} | {txs} | " + " | ".join(cells) + f" | {seq[len(seq) // 2]:.3f} |")
PY
python3 scripts/plot_benchmarks.py --threads "$rows" "$out"
echo "rows: $rows, table: $out/table.md, plots: $out/speedup_vs_threads.svg, $out/auto_speedup_vs_threads.svg" >&2
