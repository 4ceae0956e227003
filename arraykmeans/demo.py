"""A demo on built-in data: ``python -m arraykmeans.demo``.

Generates Gaussian blobs with a fixed seed, clusters them with
:class:`arraykmeans.KMeans`, and prints what was found next to the truth. With
``--plot [FILE]`` (needs matplotlib) it also draws the clustering and the
inertia per iteration. The time reported is a second, warm fit's; the
first call's (imports, start-up) is reported apart. With
``--backend cupy`` or ``--backend array_api_strict`` the same call runs on that
array library.
"""

from __future__ import annotations

import argparse
import importlib
import time

import numpy as np

from . import KMeans, config_context
from .backends import to_numpy


def make_data(
    n_samples: int, n_clusters: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Blobs in 2-D around ``n_clusters`` well separated centres, and their labels."""
    rng = np.random.RandomState(seed)
    angles = np.linspace(0, 2 * np.pi, n_clusters, endpoint=False)
    centres = 8 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    truth = rng.randint(n_clusters, size=n_samples)
    X = (
        centres[truth]
        + rng.randn(n_samples, 2) * rng.uniform(0.6, 1.4, n_clusters)[truth, None]
    )
    return X, truth


def _agreement(truth: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of points whose cluster's majority true label is their own."""
    hits = 0
    for j in range(k):
        members = truth[labels == j]
        if members.size:
            hits += np.bincount(members).max()
    return hits / truth.size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=30000)
    parser.add_argument("--n-clusters", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--backend", default="numpy", choices=["numpy", "cupy", "array_api_strict"]
    )
    parser.add_argument(
        "--plot", metavar="FILE", nargs="?", const="demo.png",
        help="save a picture of the clustering (default demo.png; needs matplotlib)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    X_host, truth = make_data(args.n_samples, args.n_clusters, args.seed)
    xp = importlib.import_module(args.backend)
    X = X_host if args.backend == "numpy" else xp.asarray(X_host)

    # The first call pays for imports, thread start and loading the compiled
    # loops; the second is what a fit costs afterwards.
    fit = KMeans(n_clusters=args.n_clusters, random_state=args.seed)
    start = time.perf_counter()
    fit.fit(X)
    first = time.perf_counter() - start
    history: list[float] = []

    def progress(event: str, info: dict) -> None:
        if event == "iteration":
            history.append(info["inertia"])

    # The inertia per iteration (for the picture) costs a pass per iteration.
    with config_context(progress=progress if args.plot else None):
        start = time.perf_counter()
        km = KMeans(n_clusters=args.n_clusters, random_state=args.seed).fit(X)
        warm = time.perf_counter() - start

    labels = to_numpy(km.labels_)
    centres = to_numpy(km.cluster_centers_)
    print(
        f"arraykmeans demo: {args.n_samples} points in 2-D, {args.n_clusters} blobs, "
        f"backend {args.backend}"
    )
    print(
        f"fit in {warm:.3f} s ({km.n_iter_} iterations, inertia {km.inertia_:.1f}); "
        f"the first call took {first:.3f} s (imports, start-up)"
    )
    print(
        f"results are {type(km.cluster_centers_).__module__} arrays, "
        f"dtype {km.cluster_centers_.dtype}"
    )
    print("cluster   size      centre")
    for j in range(args.n_clusters):
        size = int((labels == j).sum())
        print(f"{j:7d} {size:6d}   ({centres[j, 0]:6.2f}, {centres[j, 1]:6.2f})")
    print(
        f"points in a cluster that matches their true blob: "
        f"{100 * _agreement(truth, labels, args.n_clusters):.1f}%"
    )
    if args.plot:
        from ._plot import PlotError, draw

        title = f"arraykmeans demo: k={args.n_clusters}, inertia {km.inertia_:.0f}"
        try:
            draw(args.plot, X_host, labels, centres, history, title=title)
        except PlotError as exc:
            raise SystemExit(f"arraykmeans demo: {exc}") from None
        print(f"picture saved to {args.plot}")


if __name__ == "__main__":
    main()
