"""Where a GPU fit's time goes: per-phase timings of ``KMeans.fit`` on CuPy.

The library's phases (validation, extremes, centring, initial centres, Lloyd
steps, inertia, ...) are wrapped so that each call is timed between two device
synchronisations; the table gives each phase's total time over one fit (a
phase's time includes the phases it calls). Then a few ways of computing the
column sums that centring needs are timed on the same data, to choose the
GPU path. Made for a short session on a machine with an NVIDIA GPU (see
run_gpu.sh); ``--dry-run-numpy`` checks the script on NumPy (numbers mean
nothing there).

Usage::

    python3 benchmarks/gpu_profile.py --out OUT_DIR [--n 1000000 --d 128 --k 1024]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as cm

import arraykmeans
import arraykmeans._validation as val
import arraykmeans.algorithm._init as init_mod
import arraykmeans.algorithm._lloyd as lloyd_mod
import arraykmeans.estimators._kmeans as km_mod
from arraykmeans.backends._cupy import CupyBackend as prim

# (object, attribute) pairs wrapped with synchronised timers.
PHASES = [
    (val, "check_array"),
    (prim, "extremes"),
    (val, "check_finite"),
    (val, "check_sample_weight"),
    (val, "check_init_array"),
    (km_mod, "prepare"),
    (prim, "centre_columns"),
    (init_mod, "initial_centers"),
    (lloyd_mod, "lloyd"),
    (prim, "assign_chunked"),
    (lloyd_mod, "average_centers"),
    (prim, "to_host"),
    (prim, "weighted_inertia"),
    (prim, "count_distinct"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--k", type=int, default=1024)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--out", required=True)
    parser.add_argument("--dry-run-numpy", action="store_true")
    args = parser.parse_args(argv)

    if args.dry_run_numpy:
        args.n, args.d, args.k = 20000, 16, 32
    found = cm.gpu_namespace("gpu_profile.py", dry_run=args.dry_run_numpy)
    if found is None:
        return 2
    xp, sync = found

    totals: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    originals = []
    for module, name in PHASES:
        fn = getattr(module, name)
        originals.append((module, name, fn))

        def timed(*a: Any, _fn: Any = fn, _name: str = name, **kw: Any) -> Any:
            sync()
            start = time.perf_counter()
            out = _fn(*a, **kw)
            sync()
            totals[_name] += time.perf_counter() - start
            calls[_name] += 1
            return out

        setattr(module, name, timed)

    rng = np.random.default_rng(0)
    n, d, k = args.n, args.d, args.k
    X = xp.asarray(rng.standard_normal((n, d), dtype=np.float32))
    C = X[:k].copy()
    doc: dict[str, Any] = {"shape": {"n": n, "d": d, "k": k}, "fits": {}}
    try:
        for max_iter in (1, args.iters):
            est = arraykmeans.KMeans(k, init=C, n_init=1, max_iter=max_iter, tol=0.0)
            est.fit(X)  # warm-up (kernels compiled, pools filled)
            totals.clear()
            calls.clear()
            sync()
            start = time.perf_counter()
            est.fit(X)
            sync()
            wall = time.perf_counter() - start
            doc["fits"][str(max_iter)] = {
                "wall_s": wall,
                "phases": {
                    name: {"s": totals[name], "calls": calls[name]}
                    for _, name in PHASES
                    if calls[name]
                },
            }
            print(f"fit, max_iter={max_iter}: {wall:.4f} s", flush=True)
            for _, name in PHASES:
                if calls[name]:
                    print(
                        f"  {name:22s} {totals[name]:.4f} s in {calls[name]} calls",
                        flush=True,
                    )
    finally:
        for module, name, fn in originals:
            setattr(module, name, fn)

    # Column sums in float64, the centring pass's reduction, several ways.
    ones = xp.ones((1, n), dtype=xp.float64)
    ways = {
        "sum(astype(X, f64), axis=0)": lambda: xp.sum(X.astype(xp.float64), axis=0),
        "sum(X, axis=0, dtype=f64)": lambda: xp.sum(X, axis=0, dtype=xp.float64),
        "ones @ astype(X, f64)": lambda: ones @ X.astype(xp.float64),
        "sum(astype(X, f64)**2, axis=0)": lambda: xp.sum(
            X.astype(xp.float64) ** 2, axis=0
        ),
        "X - mean (copy)": lambda: X - X[0],
        "min and max": lambda: (xp.min(X), xp.max(X)),
    }
    doc["column_sums_s"] = {}
    for name, fn in ways.items():
        seconds = cm.median_synced_seconds(fn, sync, 5)
        doc["column_sums_s"][name] = seconds
        print(f"  {name:32s} {seconds:.5f} s", flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_profile.json").write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
