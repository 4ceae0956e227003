"""Memory goal: fit and predict on n=1,000,000, d=16, k=1000 float32 stay in budget.

The budget for the extra memory of one call is ``2 × X.nbytes + 512 MiB`` (room
for a centred copy of X, its labels and the chunk temporaries of the default
256 MiB ``working_memory``). Each case runs in a fresh Python subprocess that
imports everything, creates X (and, for ``predict``, fits a model on the first
rows of X), and only then takes its baseline; the peak of the call over that
baseline is measured three ways:

* ``ru_maxrss Δ``: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the process'
  resident-set high-water mark) after the call minus its value at the baseline;
* ``VmHWM Δ``: ``VmHWM`` from ``/proc/self/status`` after the call minus
  ``VmRSS`` at the baseline.

  At the baseline the high-water mark is first reset to the current resident
  set through ``/proc/self/clear_refs`` (Linux), so that an earlier, higher
  peak (creating X, the small fit before ``predict``) does not hide the call's;
  where that reset is impossible only ``ru_maxrss Δ`` is given, a lower bound;
* ``traced``: the ``tracemalloc`` peak of the call (NumPy and Python
  allocations, pages touched or not), in a second subprocess so that the
  tracing does not inflate the resident-set figures.

A case PASSes when the largest of these is below the budget; the exit code is 1
if an arraykmeans case FAILs (2 if a subprocess crashed). ``--sklearn`` adds
scikit-learn's ``KMeans(algorithm="lloyd")`` as a reference (never counted).
A small ``max_iter`` (default 3) keeps the run short: the memory of a Lloyd
iteration does not grow with the iteration count.

Usage (from the repository root)::

    python benchmarks/memory_bound.py             # full size, about a minute or two
    python benchmarks/memory_bound.py --n 200000  # scaled down
    python benchmarks/memory_bound.py --cases fit,predict,batched-fit

Results go to ``benchmarks/results/<machine>-<YYYY-MM-DD>-memory[-n<N>].json``
and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common as cm

MARK = "@@memory_bound@@"
CASES = ("fit", "predict", "fit-k-means++", "batched-fit")
PREDICT_FIT_ROWS = 20  # predict: the model is fitted on the first 20·k rows of X
# batched-fit: the same X as a stack of problems of 1000 rows, k=8 (the shape of
# the batched benchmark), default k-means++ initialisation.
BATCHED_ROWS, BATCHED_K = 1000, 8


# ------------------------------------------------------------------ the child


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one case in this (fresh) process and return its measurements."""
    import gc
    import tracemalloc

    import numpy as np

    cm.ensure_repo_on_path()
    import arraykmeans

    n, d, k = spec["n"], spec["d"], spec["k"]
    lib, case, method = spec["library"], spec["case"], spec["method"]
    if lib == "sklearn":
        from sklearn.cluster import KMeans
    else:
        KMeans = arraykmeans.KMeans

    rng = np.random.default_rng(spec["seed"])
    X = rng.standard_normal((n, d), dtype=np.float32)  # no float64 temporary
    X += np.float32(3.0) * rng.standard_normal((1, d), dtype=np.float32)
    init = X[:k].copy()  # the rows are i.i.d.: the first k are a random sample

    def make(initial: Any = init) -> Any:
        kw: dict[str, Any] = {"n_clusters": k, "max_iter": spec["max_iter"]}
        if isinstance(initial, str):
            kw.update(init=initial, n_init=1, random_state=0)
        else:
            kw.update(init=initial, n_init=1, tol=0.0)
        if lib == "sklearn":
            kw["algorithm"] = "lloyd"
        return KMeans(**kw)

    est = None
    if case == "batched-fit":
        X = X[: n - n % BATCHED_ROWS].reshape(-1, BATCHED_ROWS, d)
        est = arraykmeans.BatchedKMeans(
            BATCHED_K, max_iter=spec["max_iter"], random_state=0
        )
    elif case == "predict":
        rows = min(n, PREDICT_FIT_ROWS * k)
        est = make().fit(X[:rows])
    elif case == "fit-k-means++":
        est = make("k-means++")
    else:
        est = make()

    working_memory = (
        spec["working_memory"] or arraykmeans.get_config()["working_memory"]
    )
    with arraykmeans.config_context(working_memory=working_memory):
        gc.collect()
        if method == "tracemalloc":
            tracemalloc.start()
        # Reset the high-water mark first: then neither measure is masked by an
        # earlier peak (X's creation, the small fit before predict).
        reset_ok = cm.reset_rss_peak()
        base_rss = cm.rss_bytes()
        base_ru = cm.ru_maxrss_bytes()
        t0 = time.perf_counter()
        out = est.predict(X) if case == "predict" else est.fit(X)
        seconds = time.perf_counter() - t0
        peak_ru = cm.ru_maxrss_bytes()
        hwm = cm.rss_peak_bytes()
        traced = tracemalloc.get_traced_memory()[1] if method == "tracemalloc" else None
        if method == "tracemalloc":
            tracemalloc.stop()
    del out
    n_iter = getattr(est, "n_iter_", None)
    return {
        "x_nbytes": int(X.nbytes),
        "x_shape": list(X.shape),
        "baseline_rss": base_rss,
        "baseline_ru_maxrss": base_ru,
        "ru_maxrss_delta": peak_ru - base_ru if method == "rss" else None,
        "vmhwm_delta": (hwm - base_rss)
        if (method == "rss" and reset_ok and hwm and base_rss)
        else None,
        "traced_peak": traced,
        "seconds": seconds,
        "working_memory": working_memory,
        # Batched fits have one count per problem: the largest is reported.
        "n_iter": None if n_iter is None else int(np.max(n_iter)),
    }


# ------------------------------------------------------------------ the parent


def run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"error": f"exit code {proc.returncode}: " + " | ".join(tail)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=1_000_000, help="rows of X (default 1e6)")
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--max-iter", type=int, default=3)
    p.add_argument(
        "--cases",
        default="fit,predict",
        help=f"comma-separated, from {', '.join(CASES)} (default fit,predict; "
        "fit-k-means++ includes the default initialisation and takes minutes; "
        f"batched-fit clusters X as a stack of {BATCHED_ROWS}-row problems with "
        f"k={BATCHED_K})",
    )
    p.add_argument(
        "--methods",
        default="rss,tracemalloc",
        help="rss (ru_maxrss and VmHWM), tracemalloc, or both (default)",
    )
    p.add_argument(
        "--working-memory",
        type=float,
        default=None,
        help="arraykmeans working_memory in MiB (default: the library's)",
    )
    p.add_argument(
        "--sklearn", action="store_true", help="add scikit-learn as a reference"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=1200, help="seconds per subprocess")
    p.add_argument("--machine", default=None)
    p.add_argument("--output", type=Path, default=None)
    args = p.parse_args(argv)

    if args.child:
        result = child(json.loads(args.child))
        print(MARK + json.dumps(result), flush=True)
        return 0

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    bad = [c for c in cases if c not in CASES]
    if bad:
        p.error(f"unknown case(s) {bad}; choose from {CASES}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not set(methods) <= {"rss", "tracemalloc"}:
        p.error("--methods takes rss and/or tracemalloc")
    libraries = ["arraykmeans"] + (["sklearn"] if args.sklearn else [])
    x_nbytes = args.n * args.d * 4
    budget = 2 * x_nbytes + 512 * 2**20

    print(
        f"n={args.n} d={args.d} k={args.k} float32, X = {cm.mib(x_nbytes)} MiB, "
        f"budget 2·X + 512 MiB = {cm.mib(budget)} MiB, max_iter={args.max_iter}, "
        "working_memory="
        + (
            f"{args.working_memory:g} MiB" if args.working_memory else "library default"
        ),
        flush=True,
    )
    t_start = time.perf_counter()
    working_memory = args.working_memory
    rows: list[dict[str, Any]] = []
    crashed = False
    for lib in libraries:
        for case in cases:
            if lib == "sklearn" and case == "batched-fit":
                continue  # scikit-learn has no batched estimator
            merged: dict[str, Any] = {"library": lib, "case": case}
            for method in methods:
                spec = {
                    "n": args.n,
                    "d": args.d,
                    "k": args.k,
                    "max_iter": args.max_iter,
                    "library": lib,
                    "case": case,
                    "method": method,
                    "seed": args.seed,
                    "working_memory": args.working_memory,
                }
                res = run_child(spec, args.timeout)
                if "error" in res:
                    crashed = True
                    merged.setdefault("errors", []).append(f"{method}: {res['error']}")
                    continue
                merged.setdefault("seconds", {})[method] = res.pop("seconds")
                working_memory = res.pop("working_memory")
                for key, value in res.items():
                    if value is not None:
                        merged[key] = value
            measures = [
                merged.get(key)
                for key in ("ru_maxrss_delta", "vmhwm_delta", "traced_peak")
            ]
            measures = [m for m in measures if m is not None]
            merged["peak"] = max(measures) if measures else None
            merged["budget"] = budget
            if merged["peak"] is None:
                merged["verdict"] = "ERROR"
            else:
                merged["verdict"] = "PASS" if merged["peak"] < budget else "FAIL"
            rows.append(merged)
            print(
                f"  {lib:12s} {case:14s} peak {cm.mib(merged['peak'])} MiB "
                f"-> {merged['verdict']} {merged.get('errors', '')}",
                flush=True,
            )

    machine = cm.machine_info()
    name = args.machine or cm.default_machine_name()
    suffix = "-memory" + ("" if args.n == 1_000_000 else f"-n{args.n}")
    out_json = args.output or cm.RESULTS_DIR / f"{name}-{cm.today()}{suffix}.json"
    doc = {
        "benchmark": "memory_bound",
        "created": cm.now_iso(),
        "machine_name": name,
        "command": [Path(sys.executable).name, *sys.argv],
        "settings": {
            "n": args.n,
            "d": args.d,
            "k": args.k,
            "dtype": "float32",
            "max_iter": args.max_iter,
            "cases": cases,
            "methods": methods,
            "working_memory_mib": working_memory,
            "seed": args.seed,
            "predict_fit_rows": min(args.n, PREDICT_FIT_ROWS * args.k),
        },
        "x_nbytes": x_nbytes,
        "budget_bytes": budget,
        "machine": machine,
        "wall_s": time.perf_counter() - t_start,
        "results": rows,
    }
    md = report_markdown(doc)
    cm.write_json(out_json, doc)
    out_json.with_suffix(".md").write_text(md)
    print()
    print(md)
    print(f"wrote {out_json} and {out_json.with_suffix('.md').name}")
    akm_fail = any(
        r["verdict"] != "PASS" for r in rows if r["library"] == "arraykmeans"
    )
    if crashed:
        return 2
    return 1 if akm_fail else 0


def report_markdown(doc: dict[str, Any]) -> str:
    s = doc["settings"]
    lines = [
        f"# Memory bound, {doc['machine_name']}, {doc['created']}",
        "",
        f"- n={s['n']}, d={s['d']}, k={s['k']}, float32, max_iter={s['max_iter']}, "
        f"working_memory={s['working_memory_mib'] or 0:g} MiB; predict uses a model fitted on "
        f"the first {s['predict_fit_rows']} rows.",
        f"- X = {cm.mib(doc['x_nbytes'])} MiB; budget for the peak over the baseline "
        f"(after X exists) = 2·X + 512 MiB = {cm.mib(doc['budget_bytes'])} MiB.",
        "- ru_maxrss Δ and VmHWM Δ: resident set; traced: tracemalloc peak (separate "
        "process). The verdict uses the largest. One fresh process per case and method.",
        f"- Command: `{' '.join(doc['command'])}`",
    ]
    if "batched-fit" in s["cases"]:
        lines.append(
            f"- batched-fit: `BatchedKMeans(n_clusters={BATCHED_K})` with k-means++ "
            f"on the same X as a stack of {BATCHED_ROWS}-row problems."
        )
    lines += [f"- {line}" for line in cm.describe_machine(doc["machine"])]
    lines.append("")
    headers = [
        "library",
        "case",
        "baseline RSS MiB",
        "ru_maxrss Δ MiB",
        "VmHWM Δ MiB",
        "traced MiB",
        "budget MiB",
        "peak ÷ budget",
        "verdict",
        "call s",
    ]
    table = []
    for r in doc["results"]:
        secs = r.get("seconds", {})
        verdict = (
            r["verdict"] if r["library"] == "arraykmeans" else f"({r['verdict']}, ref.)"
        )
        table.append(
            [
                r["library"],
                r["case"],
                cm.mib(r.get("baseline_rss")),
                cm.mib(r.get("ru_maxrss_delta")),
                cm.mib(r.get("vmhwm_delta")),
                cm.mib(r.get("traced_peak")),
                cm.mib(r["budget"]),
                "-" if r["peak"] is None else f"{r['peak'] / r['budget']:.2f}",
                verdict,
                cm.fmt_s(secs.get("rss", secs.get("tracemalloc"))),
            ]
        )
    lines.append(cm.markdown_table(headers, table))
    errors = [
        f"{r['library']} {r['case']}: {e}"
        for r in doc["results"]
        for e in r.get("errors", [])
    ]
    if errors:
        lines += ["", "**Errors**", ""] + [f"- {e}" for e in errors]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    # The parent imports no NumPy before the children ran: a child's ru_maxrss
    # starts from its parent's high-water mark when the child is spawned by vfork.
    sys.exit(main())
