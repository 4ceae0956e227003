"""Contention benchmark: arraykmeans and scikit-learn with another process busy.

Shared machines are rarely idle. This script times, for arraykmeans (NumPy) and
scikit-learn, on the same data (standard normal, float32):

* ``kmeans++``: ``kmeans_plusplus(X, k, random_state=0)``;
* ``fit``: ``KMeans(k, n_init=1, random_state=0).fit(X)`` (k-means++ included;
  ``--max-iter`` and ``--tol``, scikit-learn's defaults unless given);
* ``floor``: the plain matrix product ``X @ C.T`` of one assignment step;

twice per repetition: with the machine as it is ("idle") and while one competing
process spins a CPU-bound loop ("loaded"; pure Python, or small NumPy
element-wise operations with ``--load numpy``, one core's worth either way). The
competing process is started once, switched on and off between the two halves,
told to stop at the end and stops by itself after ``--load-limit`` seconds in
any case. Contenders run interleaved (rotating, reversed every other
repetition), the idle and loaded halves alternate which goes first; medians.

Ratios reported: loaded / idle per library and task (how much each suffers from
the competitor; with one busy core out of c, about c / (c - 1) is the fair
share), and arraykmeans / scikit-learn per task, idle and loaded.

Usage (from the repository root)::

    python benchmarks/bench_contention.py            # n=300000, d=32, k=64, 5 reps
    python benchmarks/bench_contention.py --quick    # n=60000, 30 iterations, 3 reps

Results: ``benchmarks/results/<machine>-contention.json`` and ``.md``
(``-contention-quick`` in quick mode; ``--output`` changes it).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as cm

cm.ensure_repo_on_path()

TASKS = ("kmeans++", "fit", "floor")
LIBS = ("arraykmeans", "scikit-learn")


# ------------------------------------------------------------------ the load


def _spin(kind: str, running: Any, stop: Any, limit_s: float) -> None:
    """The competing process: spin while ``running`` is set, until ``stop``."""
    deadline = time.monotonic() + limit_s
    if kind == "numpy":
        import numpy as np

        a = np.ones(4096)
    while not stop.is_set() and time.monotonic() < deadline:
        if not running.wait(0.1):
            continue
        if kind == "numpy":
            for _ in range(2000):
                a *= 1.0000001  # element-wise: one thread, no BLAS
        else:
            x = 0
            for i in range(200000):
                x += i


class Load:
    """One competing CPU-bound process, switched on and off, bounded in time."""

    def __init__(self, kind: str, limit_s: float) -> None:
        ctx = mp.get_context("spawn")  # no copy of this process' threads
        self.running, self.stop = ctx.Event(), ctx.Event()
        self.process = ctx.Process(
            target=_spin, args=(kind, self.running, self.stop, limit_s), daemon=True
        )
        self.process.start()

    def on(self, settle_s: float) -> None:
        self.running.set()
        time.sleep(settle_s)

    def off(self, settle_s: float) -> None:
        self.running.clear()
        time.sleep(settle_s)

    def close(self) -> None:
        self.stop.set()
        self.running.set()
        self.process.join(timeout=10)
        if self.process.is_alive():  # pragma: no cover - a stuck child
            self.process.terminate()
            self.process.join()


# ------------------------------------------------------------------ contenders


def contenders(
    X: Any, k: int, max_iter: int, tol: float
) -> dict[tuple[str, str], Callable]:
    import numpy as np
    import sklearn.cluster as skc

    import arraykmeans as ak

    C = np.ascontiguousarray(X[:k].T)
    out = np.empty((X.shape[0], k), dtype=X.dtype)
    fit_kw = {"n_init": 1, "random_state": 0, "max_iter": max_iter, "tol": tol}
    return {
        ("kmeans++", "arraykmeans"): lambda: ak.kmeans_plusplus(X, k, random_state=0),
        ("kmeans++", "scikit-learn"): lambda: skc.kmeans_plusplus(X, k, random_state=0),
        ("fit", "arraykmeans"): lambda: ak.KMeans(k, **fit_kw).fit(X),
        ("fit", "scikit-learn"): lambda: skc.KMeans(k, **fit_kw).fit(X),
        ("floor", "numpy"): lambda: np.matmul(X, C, out=out),
    }


def check(runs: dict[tuple[str, str], Callable]) -> dict[str, Any]:
    """Warm-up and agreement: the same seeds, and each fit's iteration count."""
    import numpy as np

    _, ak_idx = runs["kmeans++", "arraykmeans"]()
    _, sk_idx = runs["kmeans++", "scikit-learn"]()
    ak_fit = runs["fit", "arraykmeans"]()
    sk_fit = runs["fit", "scikit-learn"]()
    runs["floor", "numpy"]()
    return {
        "same_kmeanspp_indices": bool(np.array_equal(ak_idx, sk_idx)),
        "n_iter": {
            "arraykmeans": int(ak_fit.n_iter_),
            "scikit-learn": int(sk_fit.n_iter_),
        },
        "same_labels": bool(np.array_equal(ak_fit.labels_, sk_fit.labels_)),
    }


def timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(runs: dict, load: Load, repeat: int, settle_s: float) -> dict[str, dict]:
    """Seconds per mode ("idle", "loaded") and contender, over ``repeat`` reps."""
    names = list(runs)
    times: dict[str, dict] = {m: {n: [] for n in names} for m in ("idle", "loaded")}
    for rep in range(repeat):
        modes = ("idle", "loaded") if rep % 2 == 0 else ("loaded", "idle")
        for mode in modes:
            if mode == "loaded":
                load.on(settle_s)
            for name in cm.interleaved(names, rep):
                times[mode][name].append(timed(runs[name]))
            if mode == "loaded":
                load.off(settle_s)
            print(f"rep {rep + 1}/{repeat} {mode}: done", flush=True)
    return times


# ------------------------------------------------------------------ report


def ratios(median: dict[str, dict]) -> dict[str, Any]:
    def m(mode: str, task: str, lib: str) -> float:
        return median[mode][f"{task}|{lib}"]

    loaded_over_idle = {
        f"{task}|{lib}": m("loaded", task, lib) / m("idle", task, lib)
        for task in ("kmeans++", "fit")
        for lib in LIBS
    }
    loaded_over_idle["floor|numpy"] = m("loaded", "floor", "numpy") / m(
        "idle", "floor", "numpy"
    )
    ak_over_sk = {
        f"{task}|{mode}": m(mode, task, "arraykmeans") / m(mode, task, "scikit-learn")
        for task in ("kmeans++", "fit")
        for mode in ("idle", "loaded")
    }
    return {
        "loaded_over_idle": loaded_over_idle,
        "arraykmeans_over_sklearn": ak_over_sk,
    }


def markdown(doc: dict[str, Any]) -> str:
    med, rat = doc["median_s"], doc["ratios"]
    rows = []
    for name in med["idle"]:
        task, lib = name.split("|")
        ak_sk = [
            cm.fmt_ratio(rat["arraykmeans_over_sklearn"][f"{task}|{mode}"])
            if lib == "arraykmeans"
            else "-"
            for mode in ("idle", "loaded")
        ]
        rows.append(
            [
                task,
                lib,
                cm.fmt_s(med["idle"][name]),
                cm.fmt_s(med["loaded"][name]),
                cm.fmt_ratio(rat["loaded_over_idle"][name]),
                *ak_sk,
            ]
        )
    s, agree = doc["shape"], doc["agreement"]
    lines = [
        f"# Contention, {doc['machine_name']}, {doc['date']}",
        "",
        *[f"- {line}" for line in cm.describe_machine(doc["machine"])],
        f"- X: {s['n']}x{s['d']} float32 standard normal, k={s['k']}; fit: "
        f"n_init=1, random_state=0, max_iter={doc['max_iter']}, tol={doc['tol']}; "
        f"iterations: {agree['n_iter']}; same k-means++ rows: "
        f"{agree['same_kmeanspp_indices']}; same labels: {agree['same_labels']}.",
        f"- Load: one {doc['load']} process spinning during the loaded half; "
        f"arraykmeans decided on {doc['arraykmeans_threads']} thread(s).",
        f"- {doc['repeat']} repetitions, contenders interleaved, idle/loaded halves "
        "alternating; medians. Command: `" + doc["command"] + "`",
        "",
        cm.markdown_table(
            [
                "task",
                "library",
                "idle s",
                "loaded s",
                "loaded ÷ idle",
                "akm ÷ sklearn idle",
                "akm ÷ sklearn loaded",
            ],
            rows,
        ),
    ]
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="rows (300000; --quick: 60000)")
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--max-iter", type=int, help="300 (--quick: 30)")
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--repeat", type=int, help="repetitions (5; --quick: 3)")
    parser.add_argument("--load", choices=["python", "numpy"], default="python")
    parser.add_argument(
        "--load-limit", type=float, default=3600, help="the load stops by itself then"
    )
    parser.add_argument("--settle", type=float, default=0.5, help="s after on/off")
    parser.add_argument("--quick", action="store_true", help="smaller defaults")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="JSON path (the .md goes next to it)")
    args = parser.parse_args(argv)
    defaults = (60000, 30, 3) if args.quick else (300000, 300, 5)
    for name, value in zip(("n", "max_iter", "repeat"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def decided_threads() -> int | None:
    """The threads arraykmeans would use now (None: a version without the query)."""
    try:
        from arraykmeans.backends._threads import worker_threads
    except ImportError:
        return None
    return worker_threads()


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    args = parse(argv)
    machine = cm.machine_info()  # the load average before this script's own load
    X = np.random.RandomState(args.seed).randn(args.n, args.d).astype(np.float32)
    runs = contenders(X, args.k, args.max_iter, args.tol)
    agreement = check(runs)
    load = Load(args.load, args.load_limit)
    try:
        times = run(
            {f"{t}|{lib}": fn for (t, lib), fn in runs.items()},
            load,
            args.repeat,
            args.settle,
        )
    finally:
        load.close()
    median = {
        mode: {n: cm.median(v) for n, v in t.items()} for mode, t in times.items()
    }
    name = cm.default_machine_name()
    doc = {
        "benchmark": "contention",
        "machine_name": name,
        "date": cm.today(),
        "machine": machine,
        "shape": {"n": args.n, "d": args.d, "k": args.k, "dtype": "float32"},
        "max_iter": args.max_iter,
        "tol": args.tol,
        "repeat": args.repeat,
        "load": args.load,
        "arraykmeans_threads": decided_threads(),
        "agreement": agreement,
        "times_s": {
            m: {n: cm.summary(v) for n, v in t.items()} for m, t in times.items()
        },
        "median_s": median,
        "ratios": ratios(median),
        "command": "python benchmarks/bench_contention.py " + " ".join(sys.argv[1:]),
    }
    suffix = "-contention-quick" if args.quick else "-contention"
    out = Path(args.output) if args.output else cm.RESULTS_DIR / f"{name}{suffix}.json"
    cm.write_json(out, doc)
    text = markdown(doc)
    out.with_suffix(".md").write_text(text)
    print(text)
    print(f"written: {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
