"""CPU benchmark: arraykmeans on NumPy against scikit-learn and faiss-cpu.

Every contender gets the same data, the same initial centres and the same fixed
number of Lloyd iterations (``tol=0``, ``max_iter=N``, ``n_init=1``, an explicit
``init=`` array; faiss: ``niter=N``, ``init_centroids=``, every point used). The
data are standard normal, without cluster structure, so that no contender
converges before N iterations (a warning says so if one does). The contenders
run interleaved in one process, the first one rotating from one repetition to
the next (and the order reversed every other repetition, so that no contender
always runs right after the same one), with a short pause before each timed run
(``--pause``) for the previous contender's BLAS/OpenMP threads to stop
spinning, which on a machine with few cores slows whatever runs next. The
report gives medians and ratios:

* ``akm ÷ this``: arraykmeans' median time over this contender's (above 1:
  arraykmeans is slower);
* ``÷ floor``: this contender's seconds per iteration over the floor, the plain
  matrix product ``X @ C.T`` of the same shape (n×d times d×k, written into a
  preallocated n×k array), timed in the same run; its GFLOP/s are reported too.

A second scikit-learn contender (``scikit-learn #2``, the very same call) shows
the noise level: its ratio to the first should be close to 1. Before timing, the
float64 labels of arraykmeans and scikit-learn are compared (a warning line
goes into the report if they differ). Outside the timed runs, one extra fit per
contender measures its peak memory: the resident-set high-water mark over the
RSS just before the call (Linux ``/proc/self/clear_refs``; memory freed earlier
and kept by the allocator can hide part of it) and the ``tracemalloc`` peak
(NumPy and Python allocations only: faiss' C++ buffers and scikit-learn's
OpenMP buffers are not traced).

Usage (from the repository root)::

    python benchmarks/bench_cpu.py            # default shapes, 7 repetitions
    python benchmarks/bench_cpu.py --quick    # n / 10: one to two minutes on 2 cores

Results go to ``benchmarks/results/<machine>-<YYYY-MM-DD>.json`` and ``.md``
(``-quick`` is added to the name in quick mode; ``--machine`` and ``--output``
change it).

Timing note: some environments set ``OPENBLAS_CORETYPE`` and/or
``OPENBLAS_L2_SIZE``, which make OpenBLAS pick slower kernels. This script never
changes them (it prints them with the machine description); for timings, unset
both in the command::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_cpu.py
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common as cm
import numpy as np

cm.ensure_repo_on_path()

import arraykmeans  # noqa: E402

DEFAULT_SHAPES = [
    (200_000, 64, 256, 20),
    (1_000_000, 32, 100, 10),
    (100_000, 2, 8, 30),
    (50_000, 512, 64, 10),
]
QUICK_DIVISOR = 10  # --quick divides every n by this

AKM = "arraykmeans"
SKL = "scikit-learn"
SKL2 = "scikit-learn #2"
FAISS = "faiss"
FLOOR = "floor X@C.T"


# ------------------------------------------------------------------ contenders


@dataclass
class Fit:
    labels: np.ndarray
    centers: np.ndarray
    n_iter: int


@dataclass
class Contender:
    name: str
    run: Callable[[np.ndarray, np.ndarray, int], Any]
    result: Callable[[Any, np.ndarray], Fit]
    float32_only: bool = False


def _akm_run(X: np.ndarray, C: np.ndarray, iters: int) -> Any:
    return arraykmeans.KMeans(
        n_clusters=C.shape[0], init=C, n_init=1, max_iter=iters, tol=0.0
    ).fit(X)


def _skl_run(X: np.ndarray, C: np.ndarray, iters: int) -> Any:
    from sklearn.cluster import KMeans

    return KMeans(
        n_clusters=C.shape[0],
        init=C,
        n_init=1,
        max_iter=iters,
        tol=0.0,
        algorithm="lloyd",
    ).fit(X)


def _est_result(est: Any, X: np.ndarray) -> Fit:
    return Fit(
        np.asarray(est.labels_), np.asarray(est.cluster_centers_), int(est.n_iter_)
    )


def _faiss_run(X: np.ndarray, C: np.ndarray, iters: int) -> Any:
    import faiss

    n, d = X.shape
    km = faiss.Kmeans(
        d,
        C.shape[0],
        niter=iters,
        nredo=1,
        verbose=False,
        seed=1234,
        max_points_per_centroid=n,  # never subsample: every point is used
        min_points_per_centroid=1,  # and no "too few points" warning
    )
    km.train(X, init_centroids=C)
    return km


def _faiss_result(km: Any, X: np.ndarray) -> Fit:
    import faiss

    index = faiss.IndexFlatL2(X.shape[1])
    index.add(np.ascontiguousarray(km.centroids, dtype=np.float32))
    _, labels = index.search(X, 1)
    return Fit(labels[:, 0], np.asarray(km.centroids), len(km.obj))


def available_contenders(use_faiss: bool, self_check: bool) -> list[Contender]:
    import sklearn.cluster  # noqa: F401 - loads scikit-learn's OpenMP and SciPy's BLAS

    out = [Contender(AKM, _akm_run, _est_result), Contender(SKL, _skl_run, _est_result)]
    if self_check:
        out.append(Contender(SKL2, _skl_run, _est_result))
    if use_faiss:
        try:
            import faiss  # noqa: F401
        except ImportError:
            print("faiss not importable: no faiss contender", file=sys.stderr)
        else:
            out.append(Contender(FAISS, _faiss_run, _faiss_result, float32_only=True))
    return out


# ------------------------------------------------------------------ measurements


def make_data(n: int, d: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard normal data and k distinct rows as initial centres, float64.

    Data without cluster structure: Lloyd keeps moving points for many
    iterations (on the default shapes it needs 2 to 30 times the iterations
    timed before it converges), so every contender runs the full count.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    init = X[rng.choice(n, size=k, replace=False)].copy()
    return X, init


def timed(fn: Callable[[], Any], pause: float = 0.0, warm_bytes: int = 0) -> float:
    gc.collect()
    if warm_bytes:
        # Touch and free as much memory as a fit allocates, so that every
        # contender finds the same recently used free memory (see --warm-memory).
        np.ones(warm_bytes // 8)
    if pause:
        time.sleep(pause)  # let the previous contender's spinning threads go idle
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure_memory(fn: Callable[[], Any]) -> dict[str, int | None]:
    """Peak of one extra call: RSS high-water over the RSS before, tracemalloc peak."""
    out: dict[str, int | None] = {"rss_peak": None, "traced_peak": None}
    gc.collect()
    if cm.reset_rss_peak():
        base = cm.rss_bytes()
        result = fn()
        peak = cm.rss_peak_bytes()
        del result
        if base is not None and peak is not None:
            out["rss_peak"] = peak - base
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        out["traced_peak"] = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        tracemalloc.stop()
    return out


def check_agreement(
    fits: dict[str, Fit], dtype: str, iters: int
) -> tuple[dict, list[str]]:
    """Labels of every contender against scikit-learn's; the float64 rule is strict."""
    info: dict[str, Any] = {}
    warn_lines: list[str] = []
    ref = fits.get(SKL)
    if ref is None:
        return info, warn_lines
    for name, fit in fits.items():
        if name == SKL:
            continue
        agree = float(np.mean(fit.labels == ref.labels))
        scale = float(np.max(np.abs(ref.centers))) or 1.0
        info[name] = {
            "label_agreement": agree,
            "max_abs_center_diff_rel": float(np.max(np.abs(fit.centers - ref.centers)))
            / scale,
            "n_iter": fit.n_iter,
        }
    info[SKL] = {"n_iter": ref.n_iter}
    if dtype == "float64" and AKM in fits:
        a = info[AKM]
        if a["label_agreement"] != 1.0 or fits[AKM].n_iter != ref.n_iter:
            warn_lines.append(
                f"WARNING: float64 arraykmeans and scikit-learn disagree: label agreement "
                f"{a['label_agreement']:.6f}, n_iter {fits[AKM].n_iter} vs {ref.n_iter}"
            )
    for name, fit in fits.items():
        if name != FAISS and fit.n_iter != iters:
            warn_lines.append(
                f"WARNING: {name} stopped after {fit.n_iter} of {iters} iterations "
                "(strict convergence): its per-iteration figures use the actual count"
            )
    return info, warn_lines


def run_case(
    n: int,
    d: int,
    k: int,
    iters: int,
    dtype: str,
    X64: np.ndarray,
    C64: np.ndarray,
    contenders: list[Contender],
    args: argparse.Namespace,
) -> dict[str, Any]:
    X = np.ascontiguousarray(X64, dtype=dtype)
    C = np.ascontiguousarray(C64, dtype=dtype)
    active = [c for c in contenders if not (c.float32_only and dtype != "float32")]
    label = f"n={n} d={d} k={k} it={iters} {dtype}"

    # Correctness (and warm-up): one untimed run of every contender.
    fits: dict[str, Fit] = {}
    caught: list[str] = []
    for c in active:
        with warnings.catch_warnings(record=True) as wlist:
            warnings.simplefilter("always")
            est = c.run(X, C, iters)
        caught += [f"{c.name}: {w.category.__name__}: {w.message}" for w in wlist]
        fits[c.name] = c.result(est, X)
        del est
    agreement, warn_lines = check_agreement(fits, dtype, iters)
    n_iters = {name: fit.n_iter for name, fit in fits.items()}
    del fits

    # The floor: X @ C.T into a preallocated output, repeated enough to be timeable.
    out = np.empty((n, k), dtype=dtype)
    CT = C.T

    def floor_once() -> None:
        np.matmul(X, CT, out=out)

    first = max(timed(floor_once), 1e-7)
    inner = int(min(50, max(1, math.ceil(0.1 / first))))

    def floor_block() -> None:
        for _ in range(inner):
            floor_once()

    warm = int(args.warm_memory * X.nbytes)
    runners: dict[str, Callable[[], Any]] = {
        c.name: (lambda c=c: c.run(X, C, iters)) for c in active
    }
    runners[FLOOR] = floor_block
    order = list(runners)
    times: dict[str, list[float]] = {name: [] for name in order}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rep in range(args.repeat):
            for name in cm.interleaved(order, rep):
                times[name].append(timed(runners[name], args.pause, warm))
    times[FLOOR] = [t / inner for t in times[FLOOR]]

    memory: dict[str, dict[str, int | None]] = {}
    if not args.no_memory:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for c in active:
                memory[c.name] = measure_memory(lambda c=c: c.run(X, C, iters))
            memory[FLOOR] = measure_memory(lambda: X @ CT)

    flops_iter = 2.0 * n * d * k
    floor_med = cm.median(times[FLOOR])
    akm_med = cm.median(times[AKM]) if AKM in times else None
    results: dict[str, Any] = {}
    for name in order:
        med = cm.median(times[name])
        if name == FLOOR:
            per_iter = med
            it = 1
        else:
            it = n_iters[name] or iters
            per_iter = med / it
        results[name] = {
            "times_s": cm.summary(times[name]),
            "iterations": it,
            "s_per_iter": per_iter,
            "akm_over_this": (akm_med / med) if (akm_med and name != FLOOR) else None,
            "this_over_floor": per_iter / floor_med,
            "gflops": flops_iter / per_iter / 1e9,
            "memory": memory.get(name, {}),
        }
    if FLOOR in results:
        results[FLOOR]["inner_repeats"] = inner
    noise = None
    if SKL in results and SKL2 in results:
        noise = cm.median(times[SKL2]) / cm.median(times[SKL])
    line = f"{label}: " + ", ".join(
        f"{name} {cm.fmt_s(results[name]['times_s']['median'])}s" for name in order
    )
    print(line, flush=True)
    for w in warn_lines:
        print("  " + w, flush=True)
    return {
        "n": n,
        "d": d,
        "k": k,
        "iterations": iters,
        "dtype": dtype,
        "flops_per_iteration": flops_iter,
        "agreement_vs_sklearn": agreement,
        "warnings": warn_lines,
        "caught_warnings": sorted(set(caught)),
        "contenders": results,
        "sklearn_self_ratio": noise,
        "order": order,
    }


# ------------------------------------------------------------------ report


def report_markdown(doc: dict[str, Any]) -> str:
    lines = [f"# CPU benchmark, {doc['machine_name']}, {doc['created']}", ""]
    lines += [f"- {line}" for line in cm.describe_machine(doc["machine"])]
    lines.append(
        f"- Load average at end {doc['loadavg_at_end']} (other work on the "
        "machine shows here and in the noise line below)"
    )
    s = doc["settings"]
    lines += [
        f"- Command: `{' '.join(doc['command'])}`",
        f"- {s['repeat']} repetitions per case, contenders interleaved (rotating, reversed "
        f"every other time, {s['pause_s']} s pause before each run, "
        f"{s.get('warm_memory', 0)} x X's size of memory touched and freed before "
        "each run); medians. Same data "
        "(standard normal), same initial centres, tol=0, fixed iterations.",
        "- `akm ÷ this`: arraykmeans median time over this contender's (>1: arraykmeans "
        "slower). `÷ floor`: s/iteration over the floor, the plain `X @ C.T` (n x d times d x k, "
        "preallocated output). GFLOP/s count 2·n·d·k per iteration.",
        "- scikit-learn and arraykmeans run max_iter assignment+update steps plus one "
        "final assignment; faiss runs niter assignment+update steps.",
        "- Peak MiB: `rss` = resident-set high-water over the RSS before one extra fit; "
        "`traced` = tracemalloc peak (NumPy/Python allocations only).",
        "",
    ]
    warn_all = [w for case in doc["cases"] for w in case["warnings"]]
    if warn_all:
        lines += ["**Warnings**", ""] + [f"- {w}" for w in warn_all] + [""]
    headers = [
        "shape (n, d, k, it)",
        "dtype",
        "contender",
        "median s",
        "s/iteration",
        "akm ÷ this",
        "÷ floor",
        "GFLOP/s",
        "peak MiB rss",
        "peak MiB traced",
    ]
    rows = []
    for case in doc["cases"]:
        shape = f"{case['n']}, {case['d']}, {case['k']}, {case['iterations']}"
        for name, r in case["contenders"].items():
            mem = r["memory"] or {}
            rows.append(
                [
                    shape,
                    case["dtype"],
                    name,
                    cm.fmt_s(r["times_s"]["median"]),
                    cm.fmt_s(r["s_per_iter"]),
                    cm.fmt_ratio(r["akm_over_this"]),
                    cm.fmt_ratio(r["this_over_floor"]),
                    f"{r['gflops']:.1f}",
                    cm.mib(mem.get("rss_peak")),
                    cm.mib(mem.get("traced_peak")),
                ]
            )
    lines.append(cm.markdown_table(headers, rows))
    noise = [
        f"{c['n']},{c['d']},{c['k']} {c['dtype']}: {c['sklearn_self_ratio']:.3f}"
        for c in doc["cases"]
        if c["sklearn_self_ratio"] is not None
    ]
    if noise:
        lines += [
            "",
            "Noise level (scikit-learn #2 ÷ scikit-learn, should be ≈ 1): "
            + "; ".join(noise),
        ]
    agree = []
    for c in doc["cases"]:
        for name, a in c["agreement_vs_sklearn"].items():
            if "label_agreement" in a:
                agree.append(
                    f"{c['n']},{c['d']},{c['k']} {c['dtype']} {name}: "
                    f"{a['label_agreement']:.4f}"
                )
    if agree:
        lines += [
            "",
            "Label agreement with scikit-learn (float64 must be 1 for arraykmeans): "
            + "; ".join(agree),
        ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ main


def parse_shapes(text: str) -> list[tuple[int, int, int, int]]:
    shapes = []
    for part in text.split(";"):
        if part.strip():
            n, d, k, it = (int(float(v)) for v in part.split(","))
            shapes.append((n, d, k, it))
    return shapes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"divide every n by {QUICK_DIVISOR} (about a minute on 2 cores)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=7,
        help="timed repetitions per contender (default 7)",
    )
    p.add_argument(
        "--shapes",
        type=parse_shapes,
        default=None,
        help='cases as "n,d,k,iterations;..." (default: the four standard shapes)',
    )
    p.add_argument(
        "--dtypes", default="float32,float64", help="comma-separated (default both)"
    )
    p.add_argument("--no-faiss", action="store_true", help="leave faiss out")
    p.add_argument(
        "--no-self",
        action="store_true",
        help="leave out the scikit-learn #2 noise check",
    )
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory fits")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="limit the BLAS/OpenMP threads of all libraries (threadpoolctl, "
        "faiss); arraykmeans' own worker threads follow the CPU affinity "
        "instead, so use taskset to give every contender the same cores",
    )
    p.add_argument(
        "--pause",
        type=float,
        default=None,
        help="seconds of sleep before each timed run, so that the BLAS/OpenMP "
        "threads of the previous one stop spinning (default 0.2; 0.1 with "
        "--quick)",
    )
    p.add_argument(
        "--warm-memory",
        type=float,
        default=2.0,
        help="before each timed run, touch and free this many times X's size "
        "of memory (default 2; 0 turns it off). On virtual machines that hand "
        "freed memory back to the host, a fit that allocates after a second or "
        "more of idling pays for faulting it in again (100 MB took 0.1-0.25 s "
        "instead of 0.015 s on the machine of the committed results), so "
        "without it a contender's time depends on what ran before it",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--machine", default=None, help="machine name for the result files")
    p.add_argument(
        "--output", type=Path, default=None, help="JSON path (the .md goes next to it)"
    )
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.pause is None:
        args.pause = 0.1 if args.quick else 0.2

    shapes = args.shapes or [
        (max(n // QUICK_DIVISOR, k) if args.quick else n, d, k, it)
        for n, d, k, it in DEFAULT_SHAPES
    ]
    dtypes = [t.strip() for t in args.dtypes.split(",") if t.strip()]
    machine_name = args.machine or cm.default_machine_name()
    out_json = args.output or cm.RESULTS_DIR / (
        f"{machine_name}-{cm.today()}{'-quick' if args.quick else ''}.json"
    )

    contenders = available_contenders(not args.no_faiss, not args.no_self)
    limiter = None
    if args.threads:
        # every library is loaded by now (available_contenders imported them), so
        # the limit reaches all of their thread pools
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=args.threads)
        try:
            import faiss

            faiss.omp_set_num_threads(args.threads)
        except ImportError:
            pass

    machine = cm.machine_info(extra_modules=("faiss",))
    print("\n".join(cm.describe_machine(machine)), flush=True)
    print(f"contenders: {', '.join(c.name for c in contenders)}, {FLOOR}", flush=True)
    t_start = time.perf_counter()
    cases = []
    for n, d, k, it in shapes:
        X64, C64 = make_data(n, d, k, args.seed)
        for dtype in dtypes:
            cases.append(run_case(n, d, k, it, dtype, X64, C64, contenders, args))
        del X64, C64
    if limiter is not None:
        limiter.restore_original_limits()

    doc = {
        "benchmark": "bench_cpu",
        "created": cm.now_iso(),
        "machine_name": machine_name,
        "command": [Path(sys.executable).name, *sys.argv],
        "settings": {
            "quick": args.quick,
            "repeat": args.repeat,
            "shapes": shapes,
            "dtypes": dtypes,
            "threads": args.threads,
            "seed": args.seed,
            "pause_s": args.pause,
            "warm_memory": args.warm_memory,
            "contenders": [c.name for c in contenders] + [FLOOR],
        },
        "machine": machine,
        "wall_s": time.perf_counter() - t_start,
        "loadavg_at_end": cm.loadavg(),
        "cases": cases,
    }
    md = report_markdown(doc)
    cm.write_json(out_json, doc)
    out_json.with_suffix(".md").write_text(md)
    print()
    print(md)
    print(
        f"wrote {out_json} and {out_json.with_suffix('.md').name} "
        f"({doc['wall_s']:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
