"""The K-means algorithm, written once against the Array API standard.

Everything here operates on arrays of one namespace ``xp`` (passed in, never
re-derived), using ``xp.*`` functions and the primitives of
:mod:`arraykmeans._primitives`. Random numbers are drawn on the host from a NumPy
``RandomState`` in the order scikit-learn draws them and moved to the device as
small arrays, so a seed selects the same initial centres on every backend.

Data reaching this module is already validated, centred (and possibly rescaled by
a power of two, which is exact); see :mod:`arraykmeans._kmeans`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from . import _primitives as prim

Array = Any


# ------------------------------------------------------------------ initialisation


def kmeans_plusplus_init(
    xp: ModuleType,
    X: Array,
    n_clusters: int,
    sample_weight: Array,
    random_state: np.random.RandomState,
    *,
    x_squared_norms: Array | None = None,
    n_local_trials: int | None = None,
) -> tuple[Array, Array]:
    """Greedy k-means++ seeding, as scikit-learn's ``_kmeans_plusplus``.

    The random draws are made up front on the host (one uniform for the first
    centre, then ``n_local_trials`` per further centre, in scikit-learn's order);
    distances, cumulative sums and searches run on the device with no host round
    trip per centre.

    Returns
    -------
    centers : array of shape (n_clusters, d)
    indices : array of shape (n_clusters,), default integer dtype
    """
    n, d = X.shape
    device = prim._dev(X)
    dtype = X.dtype
    acc = prim.accumulation_dtype(xp, dtype, device)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))

    # Host draws, same stream as scikit-learn: choice(n, p=...) takes one double,
    # then uniform(size=n_local_trials) for every further centre.
    first_u = random_state.random_sample()
    trial_u = random_state.uniform(size=(n_clusters - 1, n_local_trials))
    first_u = prim.from_host(xp, np.asarray([first_u]), dtype=acc, device=device)
    trial_u = prim.from_host(xp, trial_u, dtype=acc, device=device)

    # First centre: numpy's choice with p = w / sum(w), cdf in float64.
    p = sample_weight / xp.sum(sample_weight)
    cdf = xp.cumulative_sum(xp.astype(p, acc, copy=False))
    cdf = cdf / cdf[-1]
    first = xp.searchsorted(cdf, first_u, side="right")
    # minimum, not clip: the same indices, a twentieth of the time on NumPy.
    first = xp.minimum(first, n - 1)

    # Squared distances are formed in the accumulation dtype (scikit-learn upcasts
    # float32 to float64 here too), then stored in the data dtype.
    if x_squared_norms is None:
        x_norms = _row_norms_acc(xp, X, acc)
    else:
        x_norms = xp.astype(x_squared_norms, acc)
    # On the CPU, chunks of about a megabyte keep the widened rows in cache.
    rows = prim.chunk_rows(
        xp,
        n,
        (n_local_trials + 1) * prim._itemsize(acc) + d * prim._itemsize(acc),
        cache_rows=max(prim.MIN_CHUNK_ROWS, 2**20 // (d * prim._itemsize(acc))),
    )
    chunks = list(prim.iter_chunks(n, rows))

    def distances_to(idx: Array) -> Array:
        """(len(idx), n) squared distances, stored in the data dtype."""
        Y = xp.astype(xp.take(X, idx, axis=0), acc, copy=False)
        y_norms = prim.row_sq_norms(xp, Y)
        # -2 is a power of two: (-2 Y) X^T is exactly -2 (Y X^T), one pass less.
        Y = Y * -2
        out = []
        for sl in chunks:
            Xa = xp.astype(X[sl, ...], acc, copy=False)
            dist = Y @ xp.permute_dims(Xa, (1, 0))
            dist = dist + y_norms[:, None]
            dist = dist + x_norms[None, sl]
            out.append(xp.astype(xp.maximum(dist, 0.0), dtype, copy=False))
        return out[0] if len(out) == 1 else xp.concat(out, axis=1)

    # The potentials are products with the weights over whole rows of
    # distances, shaped as scikit-learn shapes them ((1, n) @ (n,), then
    # (trials, n) @ (n, 1)): the same BLAS call adds the terms in the same
    # order, so in float32 the same candidate wins.
    closest = distances_to(first)
    current_pot = (closest @ sample_weight)[0]
    closest = closest[0, :]
    weights_column = sample_weight[:, None]
    indices = [first]
    for c in range(1, n_clusters):
        rand_vals = trial_u[c - 1, :] * xp.astype(current_pot, acc, copy=False)
        cum = xp.astype(xp.cumulative_sum(sample_weight * closest), acc, copy=False)
        candidates = xp.searchsorted(cum, rand_vals)
        candidates = xp.minimum(candidates, n - 1)
        dist = xp.minimum(closest[None, :], distances_to(candidates))
        pots = (dist @ weights_column)[:, 0]
        best = xp.argmin(pots)
        best_arr = xp.reshape(best, (1,))
        current_pot = pots[best]
        closest = xp.take(dist, best_arr, axis=0)[0, :]
        indices.append(xp.take(candidates, best_arr))
    indices = xp.concat(indices)
    centers = xp.take(X, indices, axis=0)
    return centers, indices


def _row_norms_acc(xp: ModuleType, X: Array, acc: Any) -> Array:
    if X.dtype == acc:
        return prim.row_sq_norms(xp, X)
    n, d = X.shape
    rows = prim.chunk_rows(xp, n, d * prim._itemsize(acc) + 16)
    parts = [
        prim.row_sq_norms(xp, xp.astype(X[sl, ...], acc, copy=False))
        for sl in prim.iter_chunks(n, rows)
    ]
    return xp.concat(parts)


def random_init(
    xp: ModuleType,
    X: Array,
    n_clusters: int,
    sample_weight: Array,
    random_state: np.random.RandomState,
) -> Array:
    """``n_clusters`` distinct rows drawn with probability ∝ ``sample_weight``.

    Reproduces ``RandomState.choice(n, size=k, replace=False, p=w / w.sum())``
    draw for draw: rounds of uniforms on the host, cumulative sums and searches
    on the device, de-duplication of the (k or fewer) found indices on the host.
    """
    n = X.shape[0]
    device = prim._dev(X)
    acc = prim.accumulation_dtype(xp, X.dtype, device)
    positive = int(xp.sum(xp.astype(sample_weight > 0, xp.int32)))
    if positive < n_clusters:
        raise ValueError(
            f"init='random' needs at least n_clusters={n_clusters} samples with a "
            f"positive sample_weight, got {positive}."
        )
    p = xp.astype(sample_weight / xp.sum(sample_weight), acc)
    positions = xp.arange(n, dtype=xp.int64, device=device)
    found: list[int] = []
    while len(found) < n_clusters:
        u = random_state.random_sample(n_clusters - len(found))
        if found:
            taken = prim.from_host(
                xp, np.sort(np.asarray(found)), dtype=xp.int64, device=device
            )
            slot = xp.minimum(xp.searchsorted(taken, positions), len(found) - 1)
            p = xp.where(xp.take(taken, slot) == positions, xp.zeros_like(p), p)
        cdf = xp.cumulative_sum(p)
        cdf = cdf / cdf[-1]
        new = prim.to_host(
            xp,
            xp.searchsorted(
                cdf, prim.from_host(xp, u, dtype=acc, device=device), side="right"
            ),
        )
        _, first_seen = np.unique(new, return_index=True)
        found.extend(int(i) for i in new[np.sort(first_seen)])
    indices = prim.from_host(xp, np.asarray(found), dtype=xp.int64, device=device)
    return xp.take(X, indices, axis=0)


# ---------------------------------------------------------------------- Lloyd loop


@dataclass
class LloydResult:
    labels: Array
    inertia: float
    centers: Array
    n_iter: int


def lloyd(
    xp: ModuleType,
    X: Array,
    sample_weight: Array,
    centers_init: Array,
    *,
    max_iter: int,
    tol: float,
    verbose: bool = False,
    unit: float = 1.0,
) -> LloydResult:
    """One run of Lloyd's algorithm with scikit-learn's stopping rules.

    Iteration ``i`` assigns the rows to ``centers`` and moves every centre to the
    weighted mean of its rows (empty clusters are relocated to the points farthest
    from their centres). The run stops on strict convergence (labels unchanged),
    when the squared centre shift is ``<= tol``, or after ``max_iter`` iterations;
    except on strict convergence, the labels are then recomputed from the final
    centres so that they match ``predict``. ``unit`` converts the verbose
    output's distances to the caller's units (see ``_Frame.squared``).

    That final assignment is the next iteration's assignment, so the loop runs it
    first and reads the previous iteration's shift test together with this one's
    label test and empty-cluster count: one small device-to-host copy per
    iteration is the only synchronisation.

    Strict convergence returns the labels as they are only when neither this
    iteration nor the previous one had an empty cluster: then the new centres
    are the previous ones bit for bit (the same rows summed in the same
    order), so the labels are those of the returned centres. Otherwise a
    relocation (or an empty cluster's fallback centre) has moved centres
    since the labels were assigned, and the run stops after a final
    assignment, as on the other stopping rules. scikit-learn returns the
    labels and inertia of the centres before the move there; the iteration
    count is the same. (Going on iterating instead can cycle: with fewer
    distinct points than clusters, relocations driven by rounding residuals
    may move the same points back and forth.)
    """
    device = prim._dev(X)
    acc = prim.accumulation_dtype(xp, X.dtype, device)
    centers = centers_init
    labels_prev = None
    # Whether the previous iteration's centres came from a relocation or
    # copied a centre into an empty cluster (were not plain means).
    empty_prev = False
    # Strict convergence with moved centres: one more assignment, then stop.
    final = False
    shift_prev = xp.asarray(math.inf, dtype=acc, device=device)
    i = 0
    while True:
        step = prim.assign_chunked(
            xp, X, centers, sample_weight=sample_weight, accumulate=True, acc_dtype=acc
        )
        labels, sums, weights = step.labels, step.sums, step.weights
        if labels_prev is None:
            unchanged = xp.asarray(False, device=device)
        else:
            unchanged = xp.all(labels == labels_prev)
        n_empty = xp.count_nonzero(weights == 0)
        flags = prim.host_scalars(xp, [unchanged, n_empty, shift_prev], acc)
        strict, n_empty, shift_tot = bool(flags[0]), int(flags[1]), float(flags[2])

        if final:
            break
        if i > 0 and shift_tot <= tol:
            if verbose:
                print(
                    f"Converged at iteration {i - 1}: center shift "
                    f"{shift_tot * unit * unit} within tolerance "
                    f"{tol * unit * unit}."
                )
            break
        if i == max_iter:
            break
        if verbose:
            it_inertia = prim.weighted_inertia(xp, X, sample_weight, centers, labels)
            print(f"Iteration {i}, inertia {it_inertia * unit * unit}.")

        if n_empty:
            sums, weights = _relocate_empty_clusters(
                xp, X, sample_weight, centers, sums, weights, labels, n_empty
            )
        new_centers = average_centers(xp, sums, weights, X.dtype, empty=n_empty > 0)
        shift = xp.sqrt(xp.sum((new_centers - centers) ** 2, axis=1))
        shift_prev = xp.sum(shift**2)
        centers = new_centers
        i += 1
        if strict:
            if verbose:
                print(f"Converged at iteration {i - 1}: strict convergence.")
            if not n_empty and not empty_prev:
                break
            final = True
        labels_prev = labels
        empty_prev = n_empty > 0

    return LloydResult(
        labels=labels,
        inertia=prim.weighted_inertia(xp, X, sample_weight, centers, labels),
        centers=centers,
        n_iter=i,
    )


def _relocate_empty_clusters(
    xp: ModuleType,
    X: Array,
    sample_weight: Array,
    centers_old: Array,
    sums: Array,
    weights: Array,
    labels: Array,
    n_empty: int,
) -> tuple[Array, Array]:
    """Give each empty cluster one of the points farthest from their centres.

    As scikit-learn does: the i-th empty cluster (by index) takes the i-th
    farthest point, which leaves its old cluster. Nothing moves if every point
    sits exactly on its centre.
    """
    k = centers_old.shape[0]
    device = prim._dev(X)
    acc = sums.dtype
    dist = prim.sq_distances_to_assigned(xp, X, centers_old, labels, dtype=X.dtype)
    if float(xp.max(dist)) == 0:
        return sums, weights
    far = prim.largest_indices(xp, dist, n_empty)
    # Empty clusters in increasing index order: a stable sort puts them first.
    empty = xp.argsort(xp.astype(weights != 0, xp.int32), stable=True)[:n_empty]
    w_far = xp.take(sample_weight, far)
    moved = xp.astype(xp.take(X, far, axis=0) * w_far[:, None], acc)
    ids = xp.arange(k, dtype=labels.dtype, device=device)
    into = xp.astype(xp.astype(empty, labels.dtype)[:, None] == ids[None, :], acc)
    out_of = xp.astype(xp.take(labels, far)[:, None] == ids[None, :], acc)
    w_far = xp.astype(w_far, acc)
    transfer = xp.permute_dims(into - out_of, (1, 0))
    return sums + transfer @ moved, weights + transfer @ w_far


def average_centers(
    xp: ModuleType, sums: Array, weights: Array, dtype: Any, *, empty: bool = True
) -> Array:
    """Weighted means; a cluster still empty copies the heaviest cluster's centre.

    ``sums`` has shape (..., k, d) and ``weights`` (..., k): one problem or a
    stack of them. ``empty=False`` promises that no cluster whose mean is used
    is empty (the caller knows it from its empty-cluster count) and skips the
    fallback; the means are the same.
    """
    positive = weights > 0
    safe = xp.where(positive, weights, xp.ones_like(weights))
    means = sums * (1 / safe)[..., None]
    if not empty:
        return xp.astype(means, dtype, copy=False)
    heaviest = xp.argmax(weights, axis=-1, keepdims=True)[..., None]
    heaviest = xp.broadcast_to(heaviest, (*means.shape[:-2], 1, means.shape[-1]))
    fallback = xp.take_along_axis(means, heaviest, axis=-2)
    means = xp.where(positive[..., None], means, fallback)
    return xp.astype(means, dtype, copy=False)


def is_better(
    xp: ModuleType,
    result: LloydResult,
    best: LloydResult | None,
) -> bool:
    """scikit-learn's rule for keeping a run: lower inertia and a different partition."""
    if best is None:
        return True
    return result.inertia < best.inertia and not prim.is_same_clustering(
        xp, result.labels, best.labels
    )
