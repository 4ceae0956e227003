"""Fit time of arraykmeans on each CPU backend, and NumPy before/after a change.

Every contender fits the same data from the same initial centres for the same
fixed number of Lloyd iterations (``tol=0``, ``n_init=1``, an explicit
``init=``). Contenders:

* ``numpy``: this checkout on NumPy (with numba, the default install);
* ``numpy (before)``: another checkout given by ``--before PATH`` (for example
  a ``git worktree`` of an earlier commit), on NumPy;
* ``torch``: this checkout on PyTorch CPU tensors;
* ``jax``: this checkout on JAX arrays (CPU, float64 enabled).

Each timed fit runs in its own worker process (``--worker``) that imports the
package from the contender's path, fits once to warm up (compiled loops,
caches) and then times ``--inner`` fits. Contenders are interleaved, the order
rotating between repetitions, and the report gives the median per contender
and its ratio to ``numpy`` measured in the same run.

Usage (from the repository root)::

    git worktree add /tmp/before <commit>
    python benchmarks/bench_backends.py --before /tmp/before
    python benchmarks/bench_backends.py --quick      # n / 10

Results go to ``benchmarks/results/<machine>-backends.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import _common as cm

REPO = Path(__file__).resolve().parent.parent
# The standard shapes of bench_cpu.py: (n, d, k).
SHAPES = [(200_000, 64, 256), (1_000_000, 32, 100), (100_000, 2, 8), (50_000, 512, 64)]


def _worker(args: argparse.Namespace) -> None:
    """Fit in this process and print the seconds of each timed fit as JSON."""
    import time

    import numpy as np

    if args.lib == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    import arraykmeans as ak

    rng = np.random.RandomState(0)
    X = rng.standard_normal((args.n, args.d)).astype(args.dtype)
    init = X[rng.choice(args.n, args.k, replace=False)].copy()
    if args.lib == "torch":
        import torch

        X, init = torch.asarray(X), torch.asarray(init)
    elif args.lib == "jax":
        import jax.numpy as jnp

        X, init = jnp.asarray(X), jnp.asarray(init)

    def fit() -> Any:
        km = ak.KMeans(args.k, init=init, n_init=1, max_iter=args.iters, tol=0)
        return km.fit(X)

    km = fit()
    times = []
    for _ in range(args.inner):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    labels = np.asarray(km.labels_)
    print(json.dumps({"times": times, "n_iter": int(km.n_iter_),
                      "labels_head": labels[:1000].tolist(),
                      "module": ak.__file__}))  # fmt: skip


def _run_worker(path: Path, lib: str, shape: tuple, dtype: str, args) -> dict:
    n, d, k = shape
    cmd = [
        sys.executable, __file__, "--worker", "--lib", lib, "--n", str(n),
        "--d", str(d), "--k", str(k), "--dtype", dtype, "--iters",
        str(args.iters), "--inner", str(args.inner),
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(path))
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, check=True, cwd="/tmp"
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _contenders(args: argparse.Namespace) -> list[tuple[str, Path, str]]:
    found = [("numpy", REPO, "numpy")]
    if args.before:
        found.append(("numpy (before)", Path(args.before).resolve(), "numpy"))
    for lib in ("torch", "jax"):
        if lib in args.libs:
            found.append((lib, REPO, lib))
    return found


def _measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for shape in SHAPES:
        n, d, k = shape
        shape = (max(1000, n // 10) if args.quick else n, d, k)
        for dtype in args.dtypes:
            times: dict[str, list[float]] = {}
            heads: dict[str, list[int]] = {}
            contenders = _contenders(args)
            for rep in range(args.repeat):
                for name, path, lib in cm.interleaved(contenders, rep):
                    found = _run_worker(path, lib, shape, dtype, args)
                    times.setdefault(name, []).extend(found["times"])
                    heads[name] = found["labels_head"]
            base = cm.median(times["numpy"])
            for name, values in times.items():
                rows.append({
                    "shape": shape, "dtype": dtype, "contender": name,
                    "median_s": cm.median(values), "ratio_to_numpy":
                    cm.median(values) / base, "samples": values,
                    "same_first_labels": heads[name] == heads["numpy"],
                })  # fmt: skip
                print(rows[-1]["shape"], dtype, name, f"{rows[-1]['median_s']:.3f}s",
                      f"x{rows[-1]['ratio_to_numpy']:.2f}", flush=True)  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--lib", default="numpy", help=argparse.SUPPRESS)
    for name in ("n", "d", "k"):
        parser.add_argument(f"--{name}", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--before", help="another checkout to compare on NumPy")
    parser.add_argument("--libs", nargs="*", default=["torch", "jax"])
    parser.add_argument("--dtypes", nargs="*", default=["float32", "float64"])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--inner", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--machine")
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0
    rows = _measure(args)
    info = cm.machine_info(["torch", "jax"])
    doc = {"machine": info, "iterations": args.iters, "rows": rows}
    headers = ["shape (n, d, k)", "dtype", "contender", "median s", "÷ numpy",
               "same labels"]  # fmt: skip
    table = [
        [str(tuple(r["shape"])), r["dtype"], r["contender"], cm.fmt_s(r["median_s"]),
         cm.fmt_ratio(r["ratio_to_numpy"]), "yes" if r["same_first_labels"] else "NO"]
        for r in rows
    ]  # fmt: skip
    markdown = "\n".join(
        [
            "# arraykmeans fit time per CPU backend",
            "",
            *cm.describe_machine(info),
            "",
            f"{args.iters} Lloyd iterations from the same initial centres, "
            "median over repetitions; ÷ numpy: this contender's median over this "
            "checkout's on NumPy, measured in the same run. same labels: the "
            "first 1000 labels equal NumPy's.",
            "",
            cm.markdown_table(headers, table),
        ]
    )
    name = args.machine or cm.default_machine_name()
    suffix = "-quick" if args.quick else ""
    path = REPO / "benchmarks" / "results" / f"{name}-backends{suffix}.json"
    cm.write_report(path, doc, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
