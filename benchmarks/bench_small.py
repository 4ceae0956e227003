"""Small-data benchmark: whole default fits on scikit-learn's bundled data sets.

On data this small a fit takes a millisecond or a few, so what is measured is
mostly per-call overhead (validation, dispatch, small array operations), not
arithmetic. Each contender fits ``KMeans(n_clusters=k, random_state=seed)``
with its defaults (k-means++, ``n_init="auto"``, i.e. one run, ``tol=1e-4``):

* iris (150 x 4, k=3), wine (178 x 13, k=3), breast_cancer (569 x 30, k=2),
  digits (1797 x 64, k=10), float64 as loaded;
* ``arraykmeans`` and ``scikit-learn``, the same seed, so the same initial
  centres and (the script checks) the same labels and iteration counts.

After one untimed fit each (numba's cache, BLAS and OpenMP warm-up), the
contenders run interleaved (rotating and reversing their order), ``--repeat``
times per data set; the report gives medians and the ratio arraykmeans /
scikit-learn (below 1: arraykmeans is faster). The floor column is the plain
product ``X @ C.T`` of the same shape, timed in the same run.

Usage (from the repository root)::

    python benchmarks/bench_small.py                 # 50 repetitions
    ARRAYKMEANS_DISABLE_NUMBA=1 python benchmarks/bench_small.py   # NumPy only

Results go to ``benchmarks/results/<machine>-<YYYY-MM-DD>-small.json`` and
``.md`` (``-small-nonumba`` with ``ARRAYKMEANS_DISABLE_NUMBA`` set).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from typing import Any

import _common as cm
import numpy as np

cm.ensure_repo_on_path()

import arraykmeans  # noqa: E402

DATASETS = {
    "iris": ("load_iris", 3),
    "wine": ("load_wine", 3),
    "breast_cancer": ("load_breast_cancer", 2),
    "digits": ("load_digits", 10),
}
AKM = "arraykmeans"
SKL = "scikit-learn"
FLOOR = "X @ C.T"


def compiled_available() -> bool:
    """Whether numba's loops can be used at all (installed, not disabled)."""
    if not arraykmeans.get_config()["use_compiled"]:
        return False
    from arraykmeans.backends._numba_kernels import KERNELS

    return KERNELS is not None


def min_work() -> int:
    """The routing threshold (0 in versions that compiled everything)."""
    return arraykmeans.get_config()["compiled_min_work"]


def run_dataset(name: str, args: argparse.Namespace) -> dict[str, Any]:
    from sklearn import datasets
    from sklearn.cluster import KMeans as SkKMeans

    loader, k = DATASETS[name]
    X = np.ascontiguousarray(getattr(datasets, loader)().data, dtype=np.float64)
    n, d = X.shape
    C = X[:k].copy()
    out = np.empty((n, k))
    fits = {
        AKM: lambda: arraykmeans.KMeans(n_clusters=k, random_state=args.seed).fit(X),
        SKL: lambda: SkKMeans(n_clusters=k, random_state=args.seed).fit(X),
    }
    timed = {**fits, FLOOR: lambda: np.matmul(X, C.T, out=out)}
    ours, theirs = fits[AKM](), fits[SKL]()
    times: dict[str, list[float]] = {name_: [] for name_ in timed}
    # As timeit does: no collection inside a timed call. A collection right
    # before each call would evict the caches and add about 0.07 ms to each
    # (a tenth of a small fit), so there is one per repetition, and the
    # rotation spreads its cost over the contenders.
    gc.disable()
    try:
        for rep in range(args.repeat):
            gc.collect()
            for contender in cm.interleaved(list(timed), rep):
                start = time.perf_counter()
                timed[contender]()
                times[contender].append(time.perf_counter() - start)
    finally:
        gc.enable()
    med = {c: cm.median(t) for c, t in times.items()}
    return {
        "dataset": name,
        "shape": [n, d],
        "n_clusters": k,
        "work_n_k_d": n * k * d,
        "compiled_path": compiled_available() and n * k * d >= min_work(),
        "n_iter": {AKM: int(ours.n_iter_), SKL: int(theirs.n_iter_)},
        "same_labels": bool(np.array_equal(ours.labels_, theirs.labels_)),
        "times_s": {c: cm.summary(t) for c, t in times.items()},
        "median_s": med,
        "ratio_akm_over_skl": med[AKM] / med[SKL],
    }


def report_markdown(doc: dict[str, Any]) -> str:
    s = doc["settings"]
    lines = [
        f"# Small data sets, {doc['machine_name']}, {doc['created'][:10]}",
        "",
        f"- Default `KMeans(n_clusters=k, random_state={s['seed']})` fits (k-means++, "
        f"n_init='auto'), {s['repeat']} repetitions per data set, contenders "
        "interleaved (rotating, reversed every other repetition), after one untimed "
        "fit each; medians.",
        f"- Compiled loops available: {s['compiled_available']}; "
        f"COMPILED_MIN_WORK = {s['compiled_min_work']} (n·k·d below it: NumPy path).",
        f"- Command: `{' '.join(doc['command'])}`",
        *[f"- {line}" for line in cm.describe_machine(doc["machine"])],
        "",
    ]
    headers = [
        "data set",
        "n x d, k",
        "path",
        "iterations (akm / skl)",
        "same labels",
        "arraykmeans ms",
        "scikit-learn ms",
        "akm ÷ skl",
        "floor ms",
    ]
    rows = []
    for r in doc["results"]:
        n, d = r["shape"]
        med = r["median_s"]
        rows.append(
            [
                r["dataset"],
                f"{n} x {d}, {r['n_clusters']}",
                "compiled" if r["compiled_path"] else "NumPy",
                f"{r['n_iter'][AKM]} / {r['n_iter'][SKL]}",
                "yes" if r["same_labels"] else "**no**",
                f"{med[AKM] * 1e3:.3f}",
                f"{med[SKL] * 1e3:.3f}",
                cm.fmt_ratio(r["ratio_akm_over_skl"]),
                f"{med[FLOOR] * 1e3:.4f}",
            ]
        )
    lines.append(cm.markdown_table(headers, rows))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated")
    p.add_argument("--machine", default=None, help="machine name for the result files")
    p.add_argument("--output", default=None, help="JSON path (the .md goes next to it)")
    args = p.parse_args(argv)
    names = [name.strip() for name in args.datasets.split(",") if name.strip()]
    available = compiled_available()
    kind = "small" if available else "small-nonumba"
    out = cm.result_path(kind, args.machine, args.output)
    machine = cm.machine_info(extra_modules=("numba",))
    start = time.perf_counter()
    results = [run_dataset(name, args) for name in names]
    doc = {
        "benchmark": "bench_small",
        "created": cm.now_iso(),
        "machine_name": args.machine or cm.default_machine_name(),
        "command": [os.path.basename(sys.executable), *sys.argv],
        "settings": {
            "repeat": args.repeat,
            "seed": args.seed,
            "compiled_available": available,
            "compiled_min_work": min_work(),
            "disable_numba_env": os.environ.get("ARRAYKMEANS_DISABLE_NUMBA"),
        },
        "machine": machine,
        "wall_s": time.perf_counter() - start,
        "loadavg_at_end": cm.loadavg(),
        "results": results,
    }
    cm.write_report(out, doc, report_markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
