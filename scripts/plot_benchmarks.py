#!/usr/bin/env python3
"""Plots `parex bench --json` rows as SVG charts, with no dependency.

    parex bench --json > rows.jsonl
    scripts/plot_benchmarks.py rows.jsonl docs/plots

writes speedup_vs_accounts.svg (rows of one block size, by account count)
and speedup_vs_block_size.svg (rows of the largest account count, by block
size) for Block-STM (the rows' `speedup`), and auto_speedup_vs_block_size.svg
for the executor as it ships (`auto_speedup`: Block-STM only where the
transactions proved expensive), one line per workload and thread count,
with the ideal speedup the block's dependencies allow dashed.

    cargo run --release -p parex-benches --example cost_sweep -- 2 11 cost.jsonl
    scripts/plot_benchmarks.py --cost cost.jsonl docs/plots

writes speedup_vs_transaction_cost.svg: the speedup by the sequential cost
of one transaction.

    scripts/scaling.sh                       (runs the next line itself)
    scripts/plot_benchmarks.py --threads rows.jsonl docs/bench/scaling

writes speedup_vs_threads.svg: Block-STM's speedup by thread count, one
line per workload and block size, and auto_speedup_vs_threads.svg: the
same for the executor as it ships.
"""

import json
import math
import sys
from collections import defaultdict
from pathlib import Path

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#e377c2", "#7f7f7f", "#bcbd22"]
W, H, LEFT, RIGHT, TOP, BOTTOM = 720, 420, 70, 190, 40, 60


def load(path):
    rows = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def tick(x):
    """A tick label: integers with separators, costs with two digits."""
    return f"{x:,}" if isinstance(x, int) else f"{x:.2g}"


def chart(title, xlabel, series, ideal):
    """series: {label: [(x, y)]}; ideal: {label: [(x, y)]} drawn dashed."""
    xs = [x for pts in series.values() for x, _ in pts] or [1, 10]
    ys = [y for pts in list(series.values()) + list(ideal.values()) for _, y in pts] or [1]
    x_lo, x_hi = math.log10(min(xs)), math.log10(max(xs))
    if x_hi - x_lo < 1e-9:
        x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
    y_hi = max(2.0, math.ceil(max(ys) * 2) / 2)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x):
        return LEFT + (math.log10(x) - x_lo) / (x_hi - x_lo) * pw

    def py(y):
        return TOP + ph - y / y_hi * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2 - RIGHT / 2}" y="22" text-anchor="middle" font-size="15">{title}</text>',
    ]
    step = 0.5 if y_hi <= 4 else 1.0
    y = 0.0
    while y <= y_hi + 1e-9:
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 8}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}x</text>')
        y += step
    out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{py(1):.1f}" y2="{py(1):.1f}" stroke="#888"/>')
    last = None
    for x in sorted(set(xs)):
        # Node blocks carry two extra transactions (reward, payout): label
        # a tick only where it does not overlap the previous one.
        if last is not None and px(x) - px(last) < 30:
            continue
        last = x
        out.append(f'<text x="{px(x):.1f}" y="{TOP + ph + 18}" text-anchor="middle">{tick(x)}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 15}" text-anchor="middle">{xlabel}</text>')
    out.append(
        f'<text transform="translate(18,{TOP + ph / 2}) rotate(-90)" text-anchor="middle">'
        "speedup (sequential median / parallel median)</text>"
    )
    for i, (label, pts) in enumerate(sorted(series.items())):
        color = COLORS[i % len(COLORS)]
        pts = sorted(pts)
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        if label in ideal:
            ipts = sorted(ideal[label])
            ipath = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in ipts)
            out.append(
                f'<polyline points="{ipath}" fill="none" stroke="{color}" '
                'stroke-width="1" stroke-dasharray="4 3"/>'
            )
        ly = TOP + 10 + i * 18
        out.append(f'<line x1="{W - RIGHT + 15}" x2="{W - RIGHT + 35}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{W - RIGHT + 40}" y="{ly + 4}">{label}</text>')
    ly = TOP + 10 + len(series) * 18
    out.append(f'<line x1="{W - RIGHT + 15}" x2="{W - RIGHT + 35}" y1="{ly}" y2="{ly}" stroke="#444" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{W - RIGHT + 40}" y="{ly + 4}">ideal (dependencies)</text>')
    out.append("</svg>")
    return "\n".join(out)


def write_chart(outdir, name, title, xlabel, points, metric="speedup"):
    """Writes outdir/name: points are (label, x, row) triples; each row's
    `metric` is drawn on its label's line, the ideal its dependencies allow
    dashed."""
    series, ideal = defaultdict(list), defaultdict(list)
    for label, x, row in points:
        series[label].append((x, row[metric]))
        ideal[label].append((x, row["ideal_speedup"]))
    (outdir / name).write_text(chart(title, xlabel, series, ideal))
    print(f"wrote {outdir}/{name}")


# One chart from rows of one kind: its file, title, x axis, each row's
# line and x.
LINE_CHARTS = {
    "--cost": (
        "speedup_vs_transaction_cost.svg",
        "Speedup vs cost of a transaction (10,000 transactions)",
        "µs per transaction, sequential (log scale)",
        lambda r: (f'{r["workload"]}, {r["threads"]} thr', r["us_per_txn"]),
    ),
    "--threads": (
        "speedup_vs_threads.svg",
        "Block-STM speedup vs threads",
        "threads (log scale)",
        lambda r: (f'{r["workload"]}, {r["txs"]:,} txs', r["threads"]),
    ),
}


def line_chart(kind):
    name, title, xlabel, place = LINE_CHARTS[kind]

    def draw(rows, outdir):
        points = [(*place(r), r) for r in rows]
        write_chart(outdir, name, title, xlabel, points)
        # The shipped executor's line, where the rows measured it.
        if kind == "--threads" and all("auto_speedup" in r for r in rows):
            write_chart(
                outdir,
                "auto_" + name,
                "Shipped executor (auto) speedup vs threads",
                xlabel,
                points,
                metric="auto_speedup",
            )

    return draw


def matrix_charts(rows, outdir):
    def label(row):
        return f'{row["workload"]}, {row["threads"]} thr'

    # Speedup against accounts, at the most common block size with several
    # account counts.
    by_size = defaultdict(set)
    for row in rows:
        by_size[row["txs"]].add(row["accounts"])
    size = max(by_size, key=lambda s: (len(by_size[s]), s))
    write_chart(
        outdir,
        "speedup_vs_accounts.svg",
        f"Block-STM speedup vs accounts ({size:,} transactions)",
        "accounts (log scale)",
        [(label(r), r["accounts"], r) for r in rows if r["txs"] == size],
    )

    # Speedup against block size, at the largest account count of each row
    # group (accounts = block size when the matrix ties them).
    best = {}
    for row in rows:
        key = (label(row), row["txs"])
        if key not in best or row["accounts"] > best[key]["accounts"]:
            best[key] = row
    by_block_size = [(lab, txs, row) for (lab, txs), row in best.items()]
    xlabel = "transactions per block (log scale)"
    write_chart(
        outdir, "speedup_vs_block_size.svg", "Block-STM speedup vs block size", xlabel, by_block_size
    )
    # Rows from before the shipped executor was measured have no auto.
    if all("auto_speedup" in row for _, _, row in by_block_size):
        write_chart(
            outdir,
            "auto_speedup_vs_block_size.svg",
            "Shipped executor (auto) speedup vs block size",
            xlabel,
            by_block_size,
            metric="auto_speedup",
        )


def main():
    if len(sys.argv) == 4 and sys.argv[1] in LINE_CHARTS:
        draw, path, outdir = line_chart(sys.argv[1]), sys.argv[2], sys.argv[3]
    elif len(sys.argv) == 3:
        draw, path, outdir = matrix_charts, sys.argv[1], sys.argv[2]
    else:
        sys.exit(__doc__)
    rows = load(path)
    if not rows:
        sys.exit(f"no JSON rows in {path}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    draw(rows, outdir)


if __name__ == "__main__":
    main()
