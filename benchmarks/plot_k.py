"""Time per iteration against the number of clusters k: a sweep and its plot.

Runs :mod:`bench_cpu` on one (n, d) over a range of k (float32, fixed
iterations, same protocol: interleaved contenders, medians) and draws seconds
per Lloyd iteration of every contender and of the matrix-product floor against
k, log-log, as a dependency-free SVG next to the JSON and markdown results.

Usage::

    python benchmarks/plot_k.py                   # n=100000, d=64, k=8..1024
    python benchmarks/plot_k.py --n 20000 --ks 8,64,512 --repeat 3
    python benchmarks/plot_k.py --from benchmarks/results/<file>.json   # plot only
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as cm

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#7f7f7f", "#ff7f0e"]
WIDTH, HEIGHT = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 170, 40, 50


def series(doc: dict[str, Any]) -> tuple[str, dict[str, list[tuple[int, float]]]]:
    """(title, {contender: [(k, s/iteration), ...]}) from a bench_cpu result."""
    cases = doc["cases"]
    shapes = {(c["n"], c["d"], c["dtype"]) for c in cases}
    if len(shapes) != 1:
        raise SystemExit(f"expected one (n, d, dtype) across the cases, got {shapes}")
    n, d, dtype = shapes.pop()
    out: dict[str, list[tuple[int, float]]] = {}
    for case in sorted(cases, key=lambda c: c["k"]):
        for name, res in case["contenders"].items():
            out.setdefault(name, []).append((case["k"], res["s_per_iter"]))
    iters = sorted({c["iterations"] for c in cases})
    title = f"n={n}, d={d}, {dtype}, {'/'.join(map(str, iters))} iterations"
    return title, out


def svg(title: str, data: dict[str, list[tuple[int, float]]], subtitle: str) -> str:
    """A log-log line plot of seconds per iteration against k."""
    ks = [k for points in data.values() for k, _ in points]
    ts = [t for points in data.values() for _, t in points if t > 0]
    x0, x1 = math.log2(min(ks)), math.log2(max(ks))
    y0 = math.floor(math.log10(min(ts)))
    y1 = math.ceil(math.log10(max(ts)))
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(k: float) -> float:
        return LEFT + (math.log2(k) - x0) / (x1 - x0) * pw

    def py(t: float) -> float:
        return TOP + (y1 - math.log10(t)) / (y1 - y0) * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="20" font-size="14">Seconds per iteration vs k '
        f"({_esc(title)})</text>",
        f'<text x="{LEFT}" y="{HEIGHT - 8}" fill="#555">{_esc(subtitle)}</text>',
    ]
    for e in range(y0, y1 + 1):
        y = py(10.0**e)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + pw}" y2="{y:.1f}" '
            'stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">1e{e}</text>'
        )
    for k in sorted(set(ks)):
        x = px(k)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + ph}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{TOP + ph + 16}" text-anchor="middle">{k}</text>'
        )
    parts.append(
        f'<text x="{LEFT + pw / 2:.1f}" y="{TOP + ph + 34}" text-anchor="middle">'
        "k (clusters)</text>"
    )
    parts.append(
        f'<text x="16" y="{TOP + ph / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {TOP + ph / 2:.1f})">s / iteration</text>'
    )
    parts.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" '
        'stroke="#333"/>'
    )
    for i, (name, points) in enumerate(data.items()):
        colour = COLOURS[i % len(COLOURS)]
        dash = ' stroke-dasharray="5,4"' if "floor" in name else ""
        path = " ".join(f"{px(k):.1f},{py(t):.1f}" for k, t in points if t > 0)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" '
            f'stroke-width="2"{dash}/>'
        )
        for k, t in points:
            if t > 0:
                parts.append(
                    f'<circle cx="{px(k):.1f}" cy="{py(t):.1f}" r="3" fill="{colour}"/>'
                )
        ly = TOP + 10 + 18 * i
        parts.append(
            f'<line x1="{LEFT + pw + 12}" y1="{ly}" x2="{LEFT + pw + 36}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2"{dash}/>'
        )
        parts.append(f'<text x="{LEFT + pw + 42}" y="{ly + 4}">{_esc(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", help="plot an existing result JSON")
    parser.add_argument("--n", type=int, default=100000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--ks", default="8,16,32,64,128,256,512,1024")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-faiss", action="store_true")
    parser.add_argument("--machine", default=None)
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/)")
    args = parser.parse_args(argv)

    if args.source:
        path = Path(args.source)
    else:
        import bench_cpu

        machine = args.machine or cm.default_machine_name()
        day = _dt.date.today().isoformat()
        path = Path(args.output or cm.RESULTS_DIR / f"{machine}-{day}-sweep-k.json")
        shapes = ";".join(
            f"{args.n},{args.d},{k},{args.iterations}" for k in args.ks.split(",")
        )
        bench_argv = [
            "--shapes",
            shapes,
            "--dtypes",
            "float32",
            "--repeat",
            str(args.repeat),
            "--no-memory",
            "--no-self",
            "--machine",
            machine,
            "--output",
            str(path),
        ]
        if args.no_faiss:
            bench_argv.append("--no-faiss")
        status = bench_cpu.main(bench_argv)
        if status:
            return status
    doc = json.loads(path.read_text())
    title, data = series(doc)
    subtitle = f"{doc.get('machine', {}).get('cpu_model', '')}; medians; {path.name}"
    out = path.with_suffix(".svg")
    out.write_text(svg(title, data, subtitle))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
