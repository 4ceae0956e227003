"""KMeans on a Dask array larger than the cluster's memory, against dask-ml.

Starts its own ``distributed.LocalCluster`` (by default 2 workers of one
thread and 2 GiB each) and fits a lazily generated array (by default 6 GB of
float64: more than the 4 GiB of the workers together), so that every pass
regenerates X block by block and nothing of the size of X is ever held.
Each block is Gaussian blobs around ``k`` fixed centres, from a seed of its
own: the same array on every run.

Reported:

* one reduction pass, ``(X * X).sum(axis=0).compute()`` (median of 2): what
  a pass over X costs on this cluster;
* arraykmeans' fit from fixed initial centres, ``tol=0``: its time, its
  iterations, and the time in reduction passes; the fit makes one pass per
  iteration plus a few for its set-up (the finiteness check, the column
  means, the variances; ``tests/test_dask.py`` counts them), and the
  workers must survive it;
* dask-ml's ``KMeans`` (when installed) on the same array from the same
  centres and the same number of iterations (its ``tol=0``), and the ratio
  of times and of inertias.

Usage::

    python benchmarks/bench_dask_cluster.py                    # 6 GB
    python benchmarks/bench_dask_cluster.py --gb 0.5 --iters 3  # a quick check

Results go to ``benchmarks/results/<machine>-<date>-dask-cluster.json``/``.md``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import _common as cm

cm.ensure_repo_on_path()


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gb", type=float, default=6.0, help="size of X (float64)")
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--block-rows", type=int, default=500_000)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="2GiB")
    parser.add_argument("--no-dask-ml", action="store_true")
    parser.add_argument("--output")
    return parser.parse_args()


def _blobs_block(x: Any, centres: Any, block_info: Any = None) -> Any:
    """Block i of the data: blobs around ``centres``, from seed i."""
    import numpy as np
    from distributed import get_worker

    # Counted on the worker that generates it (read back by _generated).
    worker = get_worker()
    worker.arraykmeans_bench_blocks = getattr(worker, "arraykmeans_bench_blocks", 0) + 1
    i = block_info[0]["chunk-location"][0]
    rng = np.random.default_rng(i)
    rows = x.shape[0]
    return centres[rng.integers(0, centres.shape[0], rows)] + rng.standard_normal(
        (rows, centres.shape[1])
    )


def _data(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    import dask.array as da
    import numpy as np

    n = int(args.gb * 1e9 / (8 * args.d))
    rng = np.random.RandomState(0)
    # Overlapping blobs: Lloyd runs its max_iter iterations.
    centres = rng.uniform(-1, 1, size=(args.k, args.d))
    empty = da.zeros((n, args.d), chunks=(args.block_rows, args.d))
    X = empty.map_blocks(_blobs_block, centres, dtype=np.float64)
    init = centres + rng.randn(args.k, args.d)
    return X, init, centres


def _inertia_block(x: Any, centres: Any) -> Any:
    """Block's sum of squared distances to the nearest of ``centres``: the
    nearest by the expanded form, the distance to it directly."""
    import numpy as np

    near = np.argmin((centres * centres).sum(axis=1) - 2.0 * x @ centres.T, axis=1)
    diff = x - centres[near]
    return np.asarray([[np.einsum("ij,ij->", diff, diff)]])


def _inertia_of(X: Any, centres: Any) -> float:
    """The inertia of ``centres`` on X, one pass, the same code for every
    contender (dask-ml's own ``inertia_`` is not comparable: after its last
    iteration it sums distances, not squared distances)."""
    import numpy as np

    parts = X.map_blocks(
        _inertia_block, np.asarray(centres), chunks=(1, 1), dtype=np.float64
    )
    return float(parts.sum().compute())


def _blocks_generated(dask_worker: Any) -> int:
    return getattr(dask_worker, "arraykmeans_bench_blocks", 0)


def _generated(client: Any) -> int:
    """Blocks of X generated so far on all the workers."""
    return sum(client.run(_blocks_generated).values())


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _fits(args: argparse.Namespace, X: Any, init: Any) -> dict[str, Any]:
    import numpy as np

    import arraykmeans as ak

    out: dict[str, Any] = {}
    passes = [_timed(lambda: (X * X).sum(axis=0).compute())[0] for _ in range(2)]
    out["pass_s"] = cm.median(passes)
    import dask.array as da

    km = ak.KMeans(
        args.k, init=da.from_array(init), n_init=1, tol=0, max_iter=args.iters
    )
    from distributed import get_client

    before = _generated(get_client())
    seconds, km = _timed(lambda: km.fit(X))
    generated = _generated(get_client()) - before
    out["arraykmeans"] = {
        "seconds": seconds,
        "n_iter": km.n_iter_,
        "inertia": float(km.inertia_),
        "inertia_measured": _inertia_of(X, km.cluster_centers_),
        "passes_worth": seconds / out["pass_s"],
        "passes_made": generated / X.numblocks[0],
    }
    if not args.no_dask_ml:
        from dask_ml.cluster import KMeans as DaskMLKMeans

        ref = DaskMLKMeans(
            n_clusters=args.k, init=np.asarray(init), max_iter=args.iters, tol=0
        )
        seconds, ref = _timed(lambda: ref.fit(X))
        out["dask-ml"] = {
            "seconds": seconds,
            "n_iter": int(ref.n_iter_),
            "inertia": float(ref.inertia_),
            "inertia_measured": _inertia_of(X, ref.cluster_centers_),
            "passes_worth": seconds / out["pass_s"],
        }
    return out


def _report(args: argparse.Namespace, X: Any, out: dict[str, Any]) -> str:
    ours = out["arraykmeans"]
    lines = [
        f"# KMeans on a Dask array larger than the cluster's memory ({cm.today()})",
        "",
        *cm.describe_machine(cm.machine_info(["dask", "distributed", "dask_ml"])),
        "",
        f"Cluster: distributed.LocalCluster, {args.workers} workers x 1 thread, "
        f"memory_limit={args.memory_limit} each. X: {X.shape[0]} x {args.d} "
        f"float64 ({X.nbytes / 1e9:.2f} GB) generated lazily, {X.numblocks[0]} "
        f"blocks of {args.block_rows} rows; k={args.k}; fixed initial centres, "
        f"tol=0, max_iter={args.iters}.",
        "",
        f"One reduction pass `(X*X).sum(axis=0).compute()`: {out['pass_s']:.2f} s.",
        "",
        "| contender | fit s | iterations | fit in passes | inertia (measured) "
        "| its own inertia_ |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ("arraykmeans", "dask-ml"):
        if name in out:
            r = out[name]
            lines.append(
                f"| {name} | {r['seconds']:.1f} | {r['n_iter']} | "
                f"{r['passes_worth']:.1f} | {r['inertia_measured']:.6e} | "
                f"{r['inertia']:.6e} |"
            )
    lines += [
        "",
        "Inertia (measured): each contender's final centres scored on X by the "
        "same one-pass code. dask-ml's own `inertia_` sums distances, not squared "
        "distances, after its last iteration, so it is not comparable.",
        "",
        f"arraykmeans generated X's blocks {ours['passes_made']:.2f} times over "
        "during its fit (counted on the workers); its fit took "
        f"{ours['passes_worth'] / ours['passes_made']:.2f}x their time as "
        "reduction passes.",
        "",
    ]
    if "dask-ml" in out:
        ref = out["dask-ml"]
        ratio = ours["inertia_measured"] / ref["inertia_measured"]
        lines.append(
            f"dask-ml's time / arraykmeans': **{ref['seconds'] / ours['seconds']:.2f}x**;"
            f" arraykmeans' inertia / dask-ml's (measured): {ratio:.6f}."
        )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    args = _parse()
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            memory_limit=args.memory_limit,
        ) as cluster,
        Client(cluster) as client,
    ):
        X, init, _ = _data(args)
        out = _fits(args, X, init)
        out["workers_alive"] = len(client.scheduler_info()["workers"])
    doc = {
        "machine": cm.machine_info(["dask", "distributed", "dask_ml"]),
        "args": vars(args),
        "results": out,
    }
    markdown = _report(args, X, out)
    markdown += f"Workers alive at the end: {out['workers_alive']} of {args.workers}.\n"
    cm.write_report(cm.result_path("dask-cluster", output=args.output), doc, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
