"""The command line's picture of a clustering (needs matplotlib).

Left: the points coloured by cluster, the centres marked, the cluster sizes
in the legend; 2-D data as they are, more features projected on their first
two principal axes (computed in the data's own array library). Right: the
inertia after each iteration (or mini-batch step) of the fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# At most this many points are drawn (a fixed random subset): more only
# blacken the picture and slow the drawing.
MAX_POINTS = 20_000


class PlotError(RuntimeError):
    """The picture cannot be drawn (matplotlib missing)."""


def principal_axes(X: Any, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The column means of X and its first ``n_components`` principal axes
    (columns of a (d, n_components) array), as NumPy arrays: the means and
    the covariance are computed in X's own array library (a pass over X, on
    its device), the (d, d) eigendecomposition on the host. Each axis's
    largest component is positive."""
    from array_api_compat import array_namespace

    from .backends import get_backend

    xp = array_namespace(X)
    be = get_backend(xp)
    mean = xp.mean(X, axis=0)
    centred = X - mean
    cov = xp.matmul(xp.matrix_transpose(centred), centred)
    cov = np.asarray(be.to_host(cov), dtype=np.float64) / max(X.shape[0] - 1, 1)
    _, vectors = np.linalg.eigh(cov)
    axes = vectors[:, ::-1][:, :n_components]
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(axes.shape[1])])
    return np.asarray(be.to_host(mean), dtype=np.float64), axes * np.where(
        signs == 0, 1.0, signs
    )


def project(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """X and the centres in two dimensions, and how (axis labels' source)."""
    X = np.asarray(X, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)
    d = X.shape[1]
    if d == 1:
        return (
            np.column_stack([X[:, 0], np.zeros(len(X))]),
            np.column_stack([centers[:, 0], np.zeros(len(centers))]),
            "feature",
        )
    if d == 2:
        return X, centers, "feature"
    mean, axes = principal_axes(X)
    return (X - mean) @ axes, (centers - mean) @ axes, "PCA"


def draw(
    path: str,
    X: np.ndarray,
    labels: np.ndarray,
    centers: np.ndarray,
    history: list[float],
    *,
    title: str,
    columns: list[str] | None = None,
    history_label: str = "iteration",
) -> None:
    """Write the picture (PNG, 12 x 5 inches at 100 dpi) to ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotError(
            "drawing needs matplotlib: pip install 'arraykmeans[plot]' (or matplotlib)."
        ) from exc
    labels = np.asarray(labels)
    k = centers.shape[0]
    keep = np.arange(X.shape[0])
    if keep.size > MAX_POINTS:
        keep = np.sort(np.random.default_rng(0).choice(keep, MAX_POINTS, replace=False))
    points, marks, how = project(np.asarray(X)[keep], centers)
    sizes = np.bincount(labels, minlength=k)
    fig, (ax, ax_hist) = plt.subplots(
        1, 2, figsize=(12, 5), dpi=100, gridspec_kw={"width_ratios": [3, 2]}
    )
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20" if k <= 20 else "turbo")
    colours = [cmap(j % cmap.N if k <= 20 else j / max(k - 1, 1)) for j in range(k)]
    for j in range(k):
        mine = labels[keep] == j
        ax.scatter(
            points[mine, 0], points[mine, 1], s=6, alpha=0.6, color=colours[j],
            linewidths=0, label=f"cluster {j} ({sizes[j]:,})",
        )  # fmt: skip
    ax.scatter(
        marks[:, 0], marks[:, 1], marker="X", s=160, c=colours, edgecolors="black",
        linewidths=1.5, label="centres", zorder=3,
    )  # fmt: skip
    _axis_names(ax, how, columns, X.shape[1])
    shown = "" if keep.size == X.shape[0] else f" ({keep.size:,} of {X.shape[0]:,})"
    ax.set_title(title + shown)
    if k <= 20:
        legend = ax.legend(loc="best", fontsize="small", framealpha=0.8)
        for handle in legend.legend_handles:
            handle.set_sizes([30 if handle.get_label() != "centres" else 80])
    _history(ax_hist, history, history_label)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _axis_names(ax: Any, how: str, columns: list[str] | None, d: int) -> None:
    if how == "PCA":
        ax.set_xlabel(f"first principal axis (of {d} features)")
        ax.set_ylabel("second principal axis")
        return
    names = columns if columns is not None else [f"feature {j}" for j in range(d)]
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1] if d > 1 else "")


def _history(ax: Any, history: list[float], label: str) -> None:
    if not history:
        ax.text(0.5, 0.5, "no per-iteration inertia", ha="center", va="center")
        ax.set_axis_off()
        return
    steps = np.arange(1, len(history) + 1)
    ax.plot(steps, history, marker="o" if len(history) <= 50 else None, ms=3)
    if min(history) > 0 and max(history) / min(history) > 20:
        ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label)
    ax.set_ylabel("inertia" if label == "iteration" else "mean batch inertia")
    ax.set_title(f"inertia per {label}")
    ax.grid(alpha=0.3)
