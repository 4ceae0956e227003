"""init='k-means||' against init='k-means++' on in-memory NumPy data.

For each k: the time of the initialisation alone (median of ``--repeat``
runs, both methods interleaved, on the centred data a fit works on), and the
inertia of a whole fit from each after the same Lloyd iterations
(``max_iter``, ``tol=0``, one run each, same seed).

Usage::

    python benchmarks/bench_init.py              # n=1_000_000, d=32, k=64 and 256
    python benchmarks/bench_init.py --quick      # n / 10

Results go to ``benchmarks/results/<machine>-<date>-init.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import time

import _common as cm

cm.ensure_repo_on_path()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--ks", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--max-iter", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output")
    args = parser.parse_args()
    if args.quick:
        args.n //= 10

    import array_api_compat.numpy as xp
    import numpy as np

    import arraykmeans as ak
    from arraykmeans.algorithm import _init
    from arraykmeans.backends import get_backend

    rng = np.random.RandomState(0)
    true_k = 100
    centres = rng.randn(true_k, args.d).astype(np.float32) * 3
    X = centres[rng.randint(0, true_k, args.n)] + rng.randn(args.n, args.d).astype(
        np.float32
    )
    Xc = X - X.mean(axis=0)
    w = np.ones(args.n, dtype=np.float32)
    be = get_backend(xp)

    def init_time(method: str, k: int) -> float:
        start = time.perf_counter()
        _init.initial_centers(be, Xc, k, method, w, np.random.RandomState(0))
        return time.perf_counter() - start

    rows = []
    doc = {"machine": cm.machine_info(), "args": vars(args), "results": []}
    for k in args.ks:
        times: dict[str, list[float]] = {"k-means++": [], "k-means||": []}
        init_time("k-means||", k)  # warm-up (compiled loops)
        for rep in range(args.repeat):
            for method in cm.rotated(list(times), rep):
                times[method].append(init_time(method, k))
        inertia = {}
        for method in times:
            km = ak.KMeans(
                k, init=method, max_iter=args.max_iter, tol=0, random_state=0
            )
            inertia[method] = km.fit(X).inertia_
        med = {m: cm.median(v) for m, v in times.items()}
        speedup = med["k-means++"] / med["k-means||"]
        ratio = inertia["k-means||"] / inertia["k-means++"]
        doc["results"].append(
            {"k": k, "init_times": times, "medians": med, "inertia": inertia}
        )
        rows.append(
            f"| {k} | {med['k-means++']:.3f} | {med['k-means||']:.3f} | "
            f"**{speedup:.1f}x** | {inertia['k-means++']:.6g} | "
            f"{inertia['k-means||']:.6g} | {ratio:.4f} |"
        )
    lines = [
        f"# k-means|| against k-means++ ({cm.today()})",
        "",
        *cm.describe_machine(doc["machine"]),
        "",
        f"X: {args.n} x {args.d} float32 ({true_k} blobs); init times are medians "
        f"of {args.repeat}; inertia after {args.max_iter} Lloyd iterations (tol=0).",
        "",
        "| k | k-means++ s | k-means\\|\\| s | speed-up | inertia ++ | inertia \\|\\| |"
        " \\|\\| / ++ |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    cm.write_report(cm.result_path("init", output=args.output), doc, "\n".join(lines))


if __name__ == "__main__":
    main()
