"""Batched K-means benchmark: one call against Python loops of single fits.

B independent problems of shape (n, d) with k clusters, float32, on NumPy:

* ``batched``: ``arraykmeans.batched_k_means(X, k, random_state=seeds)``;
* ``loop arraykmeans``: ``KMeans(k, random_state=seeds[b]).fit(X[b])`` for every b;
* ``loop scikit-learn``: the same with ``sklearn.cluster.KMeans``.

Every contender uses the same per-problem seeds (k-means++ draws the same initial
centres), ``max_iter`` and ``tol``, so each problem runs the same iterations in
all three; the script checks that the batched labels equal the loop's. The
contenders run interleaved, the first one rotating, ``--repeat`` times; the
report gives medians and the speed-up of the batched call over each loop.

Targets (issue "Batched K-means"): at B=1000, n=1000, d=16, k=8 float32 the
batched call is at least 20x faster than the scikit-learn loop and at least 5x
faster than the loop of single arraykmeans fits.

Usage::

    python benchmarks/bench_batched.py              # B=1000, n=1000, d=16, k=8
    python benchmarks/bench_batched.py --quick      # B=200
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import default_machine_name, describe_machine, machine_info

import arraykmeans as ak


def make_problems(
    B: int, n: int, d: int, k: int, seed: int, kind: str = "blobs"
) -> np.ndarray:
    """Blobs (own k centres and unit-variance clusters per problem) or plain noise."""
    rng = np.random.RandomState(seed)
    if kind == "noise":
        return rng.randn(B, n, d).astype(np.float32)
    centres = rng.uniform(-6, 6, size=(B, k, d))
    labels = rng.randint(k, size=(B, n))
    X = np.take_along_axis(centres, labels[:, :, None], axis=1) + rng.randn(B, n, d)
    return X.astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--B", type=int, default=1000)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="B=200, 3 repetitions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data",
        choices=["blobs", "noise"],
        default="blobs",
        help="blobs converge in a few iterations; noise (no clusters) needs many",
    )
    parser.add_argument(
        "--warm-memory",
        type=float,
        default=2.0,
        help="before each timed run, touch and free this many times X's size of "
        "memory (default 2; 0 turns it off; see bench_cpu.py --warm-memory)",
    )
    parser.add_argument("--output", help="JSON path (the .md goes next to it)")
    args = parser.parse_args(argv)
    if args.quick:
        args.B, args.repeat = 200, 3

    from sklearn.cluster import KMeans as SkKMeans

    X = make_problems(args.B, args.n, args.d, args.k, args.seed, args.data)
    seeds = ak.batch_seeds(args.seed, args.B)
    kw = {"max_iter": args.max_iter, "tol": args.tol}

    def batched():
        return ak.batched_k_means(X, args.k, random_state=seeds, **kw)

    def loop_ak():
        return [
            ak.KMeans(args.k, random_state=int(s), **kw).fit(X[b]).labels_
            for b, s in enumerate(seeds)
        ]

    def loop_sk():
        return [
            SkKMeans(args.k, random_state=int(s), **kw).fit(X[b]).labels_
            for b, s in enumerate(seeds)
        ]

    contenders = {
        "batched": batched,
        "loop arraykmeans": loop_ak,
        "loop scikit-learn": loop_sk,
    }

    # Correctness before timing: the same labels problem by problem.
    _, labels, _, n_iter = batched()
    loop_labels = np.stack(loop_ak())
    sk_labels = np.stack(loop_sk())
    agree_ak = float(np.mean(np.all(labels == loop_labels, axis=1)))
    agree_sk = float(np.mean(np.all(labels == sk_labels, axis=1)))

    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for rep in range(args.repeat):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            gc.collect()
            if args.warm_memory:
                # As in bench_cpu.py: every contender starts from recently used
                # free memory (this machine hands long-freed memory back to the
                # host, and faulting it in again is slow).
                np.ones(int(args.warm_memory * X.nbytes) // 8)
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(ts) for name, ts in times.items()}

    doc = {
        "benchmark": "batched",
        "machine": machine_info(),
        "shape": {
            "B": args.B,
            "n": args.n,
            "d": args.d,
            "k": args.k,
            "dtype": "float32",
        },
        "max_iter": args.max_iter,
        "tol": args.tol,
        "repeat": args.repeat,
        "iterations": {
            "mean": float(np.mean(n_iter)),
            "min": int(np.min(n_iter)),
            "max": int(np.max(n_iter)),
        },
        "problems_with_identical_labels": {
            "loop arraykmeans": agree_ak,
            "loop scikit-learn": agree_sk,
        },
        "times_s": times,
        "median_s": med,
        "speedup_of_batched": {
            name: med[name] / med["batched"] for name in names if name != "batched"
        },
        "command": "python benchmarks/bench_batched.py"
        + (" --quick" if args.quick else ""),
    }
    out = (
        Path(args.output)
        if args.output
        else (
            Path(__file__).resolve().parent
            / "results"
            / f"{default_machine_name()}-{time.strftime('%Y-%m-%d')}-batched-{args.data}"
            f"{'-quick' if args.quick else ''}.json"
        )
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, default=str))
    lines = [
        f"# Batched K-means, {default_machine_name()}, {time.strftime('%Y-%m-%d')}",
        "",
        *[f"- {line}" for line in describe_machine(doc["machine"])],
        f"- B={args.B} problems of n={args.n}, d={args.d}, k={args.k}, float32, "
        f"{args.data} data; "
        f"k-means++ with the same per-problem seeds, max_iter={args.max_iter}, tol={args.tol}; "
        f"iterations per problem: mean {doc['iterations']['mean']:.1f}, "
        f"min {doc['iterations']['min']}, max {doc['iterations']['max']}.",
        f"- Problems whose batched labels equal the loop's: arraykmeans {100 * agree_ak:.1f}%, "
        f"scikit-learn {100 * agree_sk:.1f}%.",
        f"- {args.repeat} repetitions, interleaved with rotating order, "
        f"{args.warm_memory} x X's size of memory touched and freed before each "
        "run; medians.",
        f"- Command: `{doc['command']}`",
        "",
        "| contender | median s | batched speed-up |",
        "|---|---:|---:|",
    ]
    for name in names:
        speed = (
            "1.0" if name == "batched" else f"{doc['speedup_of_batched'][name]:.1f}x"
        )
        lines.append(f"| {name} | {med[name]:.3f} | {speed} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten: {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
