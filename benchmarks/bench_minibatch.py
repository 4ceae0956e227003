"""MiniBatchKMeans: arraykmeans against scikit-learn on in-memory NumPy data.

Both fit the same data with the same parameters and seed (k-means++ on
``init_size`` rows, then ``max_iter * n // batch_size`` steps:
``max_no_improvement=None`` so that the step count is fixed, labels of the
whole data at the end), interleaved in one process, ``--repeat`` times; the
table gives medians and the ratio scikit-learn / arraykmeans (above 1:
arraykmeans is faster), and checks that the two fits agree (same labels,
largest centre difference). The floor is the BLAS work of those steps:
``n_steps`` products of a batch with the centres plus one ``X @ C.T``.

Usage::

    python benchmarks/bench_minibatch.py            # n=1e6, d=32, k=100, b=1024 and 4096
    python benchmarks/bench_minibatch.py --quick    # n=1e5, 2 repeats

Results go to ``benchmarks/results/<machine>-<date>-minibatch.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import time

import _common as cm

cm.ensure_repo_on_path()


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--max-iter", type=int, default=1)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output")
    args = parser.parse_args()
    if args.quick:
        args.n //= 10
        args.repeat = min(args.repeat, 2)
    return args


def _data(args: argparse.Namespace):
    import numpy as np

    rng = np.random.RandomState(0)
    centres = rng.randn(args.k, args.d) * 3
    X = centres[rng.randint(0, args.k, args.n)] + rng.randn(args.n, args.d)
    return X.astype(args.dtype)


def _fit(cls, X, args, batch_size):
    est = cls(
        args.k,
        batch_size=batch_size,
        max_iter=args.max_iter,
        max_no_improvement=None,
        random_state=0,
        n_init=1,
    )
    start = time.perf_counter()
    est.fit(X)
    return time.perf_counter() - start, est


def _one_batch_size(X, args, batch_size: int) -> tuple[dict, list]:
    import numpy as np
    from sklearn.cluster import MiniBatchKMeans as SKMiniBatchKMeans

    import arraykmeans as ak

    contenders = {"scikit-learn": SKMiniBatchKMeans, "arraykmeans": ak.MiniBatchKMeans}
    _fit(ak.MiniBatchKMeans, X[: 20 * batch_size], args, batch_size)  # compile
    times: dict[str, list[float]] = {name: [] for name in contenders}
    fitted = {}
    for rep in range(args.repeat):
        for name in cm.interleaved(list(contenders), rep):
            seconds, fitted[name] = _fit(contenders[name], X, args, batch_size)
            times[name].append(seconds)
    sk, ours = fitted["scikit-learn"], fitted["arraykmeans"]
    med = {name: cm.median(v) for name, v in times.items()}
    same = bool(np.array_equal(sk.labels_, ours.labels_))
    diff = float(np.abs(sk.cluster_centers_ - ours.cluster_centers_).max())
    result = {
        "batch_size": batch_size,
        "times": times,
        "medians": med,
        "n_steps": {"scikit-learn": sk.n_steps_, "arraykmeans": ours.n_steps_},
        "same_labels": same,
        "max_centre_difference": diff,
    }
    row = [
        batch_size,
        ours.n_steps_,
        cm.fmt_s(med["scikit-learn"]),
        cm.fmt_s(med["arraykmeans"]),
        f"**{med['scikit-learn'] / med['arraykmeans']:.2f}x**",
        "yes" if same and sk.n_steps_ == ours.n_steps_ else "NO",
        f"{diff:.1e}",
    ]
    return result, row


def main() -> None:
    args = _parse()
    X = _data(args)
    doc = {"machine": cm.machine_info(["sklearn"]), "args": vars(args), "results": []}
    rows = []
    for batch_size in args.batch_sizes:
        result, row = _one_batch_size(X, args, batch_size)
        doc["results"].append(result)
        rows.append(row)
    headers = [
        "batch", "steps", "scikit-learn s", "arraykmeans s", "sk / ak",
        "same fit", "max |Δc|",
    ]  # fmt: skip
    lines = [
        f"# MiniBatchKMeans against scikit-learn ({cm.today()})",
        "",
        *cm.describe_machine(doc["machine"]),
        "",
        f"X: {args.n} x {args.d} {args.dtype} ({args.k} blobs), k={args.k}, "
        f"max_iter={args.max_iter}, max_no_improvement=None, seed 0; medians of "
        f"{args.repeat} interleaved fits (labels of X included).",
        "",
        cm.markdown_table(headers, rows),
        "",
    ]
    cm.write_report(
        cm.result_path("minibatch", output=args.output), doc, "\n".join(lines)
    )


if __name__ == "__main__":
    main()
