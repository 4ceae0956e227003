"""KMeans on a Dask array: time per Lloyd iteration against one pass over X.

The data are a persisted Dask array (NumPy chunks, in memory), about 1 GB by
default. The reference is one tree-reduced pass over it,
``(X * X).sum(axis=0).compute()``: the floor for any algorithm that reads X
once per iteration. Fits use ``tol=0`` and ``n_init=1`` from fixed initial
centres, for several ``max_iter``; the time per iteration is the slope of fit
time against iterations (least squares), which removes the set-up (checks,
centring and persisting the centred copy) from it, and the fit times
themselves show whether cost grows linearly with the iterations.

Every timing is a median over ``--repeat`` runs, the reference measured in
the same run, interleaved with the fits. Also reported: the graph
computations per fit (a ``dask.callbacks.Callback``).

Usage::

    python benchmarks/bench_dask.py            # 1 GB: n=4_000_000, d=32, k=8
    python benchmarks/bench_dask.py --quick    # 100 MB

Results go to ``benchmarks/results/<machine>-<date>-dask.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import _common as cm

cm.ensure_repo_on_path()


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--block-rows", type=int, default=250_000)
    parser.add_argument("--iters", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="n / 10, 2 repeats")
    parser.add_argument("--output")
    args = parser.parse_args()
    if args.quick:
        args.n //= 10
        args.block_rows //= 10
        args.repeat = 2

    import dask
    import dask.array as da
    import numpy as np
    from dask.callbacks import Callback

    import arraykmeans as ak

    class Counter(Callback):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def _start(self, dsk: Any) -> None:
            self.count += 1

    rng = np.random.RandomState(0)
    # Overlapping clusters: Lloyd runs its max_iter iterations (tol=0).
    centres = rng.randn(args.k, args.d) * 0.5
    X = da.random.default_rng(0).standard_normal(
        (args.n, args.d), chunks=(args.block_rows, args.d)
    )
    labels = da.random.default_rng(1).integers(
        0, args.k, args.n, chunks=args.block_rows
    )
    X = (X + da.from_array(centres)[labels]).persist()
    init = da.from_array(centres + rng.randn(args.k, args.d))
    gb = args.n * args.d * 8 / 1e9

    def reduction() -> None:
        (X * X).sum(axis=0).compute()

    def fit(iters: int) -> Any:
        km = ak.KMeans(args.k, init=init, n_init=1, tol=0, max_iter=iters)
        return km.fit(X)

    fit(2)  # warm-up: compiled loops, thread pools
    reduction()
    times: dict[str, list[float]] = {"reduction": []}
    counts: dict[int, int] = {}
    n_iter: dict[int, int] = {}
    for rep in range(args.repeat):
        times["reduction"].append(_timed(reduction))
        for iters in cm.rotated(args.iters, rep):
            counter = Counter()
            with counter:
                start = time.perf_counter()
                km = fit(iters)
                elapsed = time.perf_counter() - start
            times.setdefault(f"fit{iters}", []).append(elapsed)
            counts[iters] = counter.count
            n_iter[iters] = km.n_iter_
        times["reduction"].append(_timed(reduction))

    med = {name: cm.median(v) for name, v in times.items()}
    xs = np.asarray([n_iter[i] for i in args.iters], dtype=float)
    if len(set(xs)) < 2:
        raise SystemExit(f"the fits all stopped after {n_iter} iterations: no slope")
    ys = np.asarray([med[f"fit{i}"] for i in args.iters])
    slope, intercept = np.polyfit(xs, ys, 1)
    ratio = slope / med["reduction"]
    residual = float(np.max(np.abs(ys - (slope * xs + intercept))))

    lines = [
        f"# KMeans on Dask: time per iteration vs one pass ({cm.today()})",
        "",
        *cm.describe_machine(cm.machine_info(["dask", "numba"])),
        f"Scheduler: {dask.config.get('scheduler', 'threads (default)')}",
        "",
        f"X: {args.n} x {args.d} float64 ({gb:.2f} GB), persisted, "
        f"{X.numblocks[0]} blocks of {args.block_rows} rows; k={args.k}; "
        f"medians of {args.repeat} runs (reference: {2 * args.repeat} runs).",
        "",
        "| what | iterations | median s | graph computations |",
        "|---|---|---|---|",
        f"| `(X*X).sum(axis=0).compute()` | - | {med['reduction']:.3f} | 1 |",
    ]
    for i in args.iters:
        lines.append(
            f"| KMeans fit, max_iter={i} | {n_iter[i]} | {med[f'fit{i}']:.3f} | "
            f"{counts[i]} |"
        )
    lines += [
        "",
        f"Time per iteration (slope): {slope:.3f} s = **{ratio:.2f}x** one "
        f"reduction pass; set-up (intercept) {intercept:.3f} s; largest "
        f"deviation of a fit from the line {residual:.3f} s.",
        "",
    ]
    doc = {
        "machine": cm.machine_info(["dask", "numba"]),
        "args": vars(args),
        "times": times,
        "medians": med,
        "n_iter": n_iter,
        "computations": counts,
        "seconds_per_iteration": slope,
        "setup_seconds": intercept,
        "ratio_to_reduction": ratio,
    }
    cm.write_report(cm.result_path("dask", output=args.output), doc, "\n".join(lines))


if __name__ == "__main__":
    main()
