"""K-means on a stack of independent problems, written against the Array API standard.

The algorithm is the one of :mod:`arraykmeans._lloyd` applied to B problems at
once: every step is a batched array operation over the leading axis; no Python
loop runs over the problems (only the host random number generators, one per
problem, are driven one by one). Each problem keeps its own stopping state:
converged problems stop changing while the others go on.

Rows with zero weight are padding: they do not enter the initialisation, the
centres, the relocation of empty clusters or the inertia, and their label is
-1. Problem b therefore gives what a single fit on its rows of positive weight
gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from . import _primitives as prim
from ._lloyd import average_centers

Array = Any


@dataclass
class BatchedResult:
    labels: Array  # (B, n), -1 on padding rows
    inertia: Array  # (B,), accumulation dtype
    centers: Array  # (B, k, d)
    n_iter: Array  # (B,), integer


def _last_valid_index(xp: ModuleType, valid: Array) -> Array:
    n = valid.shape[1]
    positions = xp.arange(n, device=prim._dev(valid))
    return xp.max(xp.where(valid, positions, -1), axis=1)


def kmeans_plusplus_draws(n_clusters: int, n_local_trials: int | None = None) -> int:
    """How many uniform doubles one k-means++ initialisation draws."""
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    return 1 + (n_clusters - 1) * n_local_trials


def kmeans_plusplus_batched(
    xp: ModuleType,
    X: Array,
    n_clusters: int,
    sample_weight: Array,
    draws: np.ndarray,
    *,
    n_local_trials: int | None = None,
) -> Array:
    """Greedy k-means++ for every problem.

    ``draws[b]`` holds problem b's uniform doubles in the order a single fit
    draws them from its ``RandomState`` (one for the first centre, then
    ``n_local_trials`` per further centre: see :func:`kmeans_plusplus_draws`),
    so problem b selects the rows ``KMeans`` selects on its rows of positive
    weight with the same random state.

    Returns
    -------
    centers : array of shape (B, n_clusters, d)
    """
    B, n, d = X.shape
    device = prim._dev(X)
    dtype = X.dtype
    acc = prim.accumulation_dtype(xp, dtype, device)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    m = n_local_trials
    first_u = prim.from_host(xp, draws[:, :1], dtype=acc, device=device)
    trial_u = prim.from_host(
        xp, draws[:, 1:].reshape(B, n_clusters - 1, m), dtype=acc, device=device
    )
    p = sample_weight / xp.sum(sample_weight, axis=1, keepdims=True)
    fast = prim.kmeanspp_indices_compiled(
        xp,
        X,
        sample_weight,
        p,
        draws[:, 0],
        draws[:, 1:].reshape(B, n_clusters - 1, m),
    )
    if fast is not None:
        return prim.gather_rows(xp, X, fast)
    last = _last_valid_index(xp, sample_weight > 0)[:, None]
    cdf = xp.cumulative_sum(xp.astype(p, acc, copy=False), axis=1)
    cdf = cdf / cdf[:, -1:]
    first = xp.minimum(prim.count_sorted(xp, cdf, first_u, side="right"), last)

    x_norms = xp.concat(
        [
            xp.sum(xp.astype(X[pr, ...], acc, copy=False) ** 2, axis=2)
            for pr, _ in prim.iter_problem_chunks(xp, B, n, 2 * d * 8)
        ],
        axis=0,
    )

    # Widen X once when the copy fits the working-memory budget, not per centre.
    X_acc = X
    if dtype != acc and B * n * d * prim._itemsize(acc) <= prim.working_memory_bytes():
        X_acc = xp.astype(X, acc)

    def distances_to(idx: Array) -> Array:
        Y = xp.astype(prim.gather_rows(xp, X, idx), acc, copy=False)
        y_norms = xp.sum(Y * Y, axis=2)
        # -2 is a power of two: (-2 Y) X^T is exactly -2 (Y X^T), one pass less.
        Y = Y * -2
        parts = []
        for pr, _ in prim.iter_problem_chunks(xp, B, n, (idx.shape[1] + d) * 8):
            Xa = xp.astype(X_acc[pr, ...], acc, copy=False)
            dist = Y[pr, ...] @ xp.permute_dims(Xa, (0, 2, 1))
            dist = dist + y_norms[pr, :, None]
            dist = dist + x_norms[pr, None, :]
            parts.append(xp.astype(xp.maximum(dist, 0.0), dtype, copy=False))
        return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)

    closest = distances_to(first)[:, 0, :]
    current_pot = xp.sum(closest * sample_weight, axis=1)
    indices = [first]
    for c in range(1, n_clusters):
        rand_vals = trial_u[:, c - 1, :] * xp.astype(current_pot, acc)[:, None]
        cum = xp.astype(
            xp.cumulative_sum(sample_weight * closest, axis=1), acc, copy=False
        )
        candidates = xp.minimum(
            prim.count_sorted(xp, cum, rand_vals, side="left"), last
        )
        dist = xp.minimum(closest[:, None, :], distances_to(candidates))
        pots = xp.sum(dist * sample_weight[:, None, :], axis=2)
        best = xp.argmin(pots, axis=1)[:, None]
        current_pot = xp.take_along_axis(pots, best, axis=1)[:, 0]
        # Row best[b] of every problem: one gather of whole rows.
        flat = xp.reshape(best, (B,)) + xp.arange(B, device=device) * m
        closest = xp.take(xp.reshape(dist, (B * m, n)), flat, axis=0)
        indices.append(xp.take_along_axis(candidates, best, axis=1))
    indices = xp.concat(indices, axis=1)
    return prim.gather_rows(xp, X, indices)


def random_init_batched(
    xp: ModuleType,
    X: Array,
    n_clusters: int,
    sample_weight: Array,
    random_states: list[np.random.RandomState],
) -> Array:
    """``n_clusters`` distinct rows per problem, drawn like ``random_init``.

    Every problem runs the rounds of ``RandomState.choice(..., replace=False,
    p=w/w.sum())``; rounds are batched across the problems that still need
    rows, the small de-duplication of drawn indices happens on the host.
    """
    B, n, _ = X.shape
    device = prim._dev(X)
    acc = prim.accumulation_dtype(xp, X.dtype, device)
    p = xp.astype(sample_weight / xp.sum(sample_weight, axis=1, keepdims=True), acc)
    positions = xp.arange(n, device=device)
    found: list[list[int]] = [[] for _ in range(B)]
    while True:
        todo = [b for b in range(B) if len(found[b]) < n_clusters]
        if not todo:
            break
        u = np.full((B, n_clusters), 2.0)  # 2 > any cdf value: never used
        taken = np.full((B, n_clusters), -1, dtype=np.int64)
        for b in todo:
            draw = random_states[b].random_sample(n_clusters - len(found[b]))
            u[b, : draw.size] = draw
            taken[b, : len(found[b])] = found[b]
        if (taken >= 0).any():
            # Membership of every row in its problem's drawn set, by binary
            # search in the sorted set (padding -1 sorts first, matches no row).
            taken = np.sort(taken, axis=1)
            taken_dev = prim.from_host(xp, taken, dtype=xp.int64, device=device)
            rows = xp.broadcast_to(positions[None, :], (B, n))
            slot = prim.count_sorted(xp, taken_dev, rows, side="left")
            slot = xp.clip(slot, max=n_clusters - 1)
            is_taken = xp.take_along_axis(taken_dev, slot, axis=1) == rows
            p = xp.where(is_taken, xp.zeros_like(p), p)
        cdf = xp.cumulative_sum(p, axis=1)
        cdf = cdf / cdf[:, -1:]
        u_dev = prim.from_host(xp, u, dtype=acc, device=device)
        new = prim.to_host(xp, prim.count_sorted(xp, cdf, u_dev, side="right"))
        for b in todo:
            drawn = new[b, : n_clusters - len(found[b])]
            _, first_seen = np.unique(drawn, return_index=True)
            found[b].extend(int(i) for i in drawn[np.sort(first_seen)])
    indices = prim.from_host(xp, np.asarray(found), dtype=xp.int64, device=device)
    return prim.gather_rows(xp, X, indices)


def lloyd_batched(
    xp: ModuleType,
    X: Array,
    sample_weight: Array,
    centers_init: Array,
    *,
    max_iter: int,
    tol: Array,
) -> BatchedResult:
    """Lloyd's algorithm on every problem with scikit-learn's stopping rules.

    ``tol`` has shape (B,): each problem's absolute tolerance. The rules are
    those of :func:`arraykmeans._lloyd.lloyd`, applied per problem: a problem
    stops on strict convergence, on a centre shift ``<= tol[b]`` or after
    ``max_iter`` iterations; from then on its centres, labels and iteration
    count stay as they are. One small device-to-host copy per iteration (how
    many problems are still running, are clusters empty) is the only
    synchronisation. When few problems are left running, the iterations go on
    with a copy of those alone (see ``COMPACT_RATIO``).
    """
    B, n, _ = X.shape
    device = prim._dev(X)
    acc = prim.accumulation_dtype(xp, X.dtype, device)
    # Every step's labels, -1 on padding; a problem that stops keeps its last.
    labels = xp.full((B, n), -1, dtype=xp.int32, device=device)
    centers, labels, n_iter = _iterate(
        xp,
        X,
        sample_weight,
        tol,
        centers_init,
        labels,
        xp.zeros((B,), dtype=xp.int64, device=device),
        xp.full((B,), math.inf, dtype=acc, device=device),
        xp.zeros((B,), dtype=xp.bool, device=device),
        xp.zeros((B,), dtype=xp.bool, device=device),
        0,
        max_iter,
    )
    inertia = prim.weighted_inertia_batched(xp, X, sample_weight, centers, labels)
    return BatchedResult(labels=labels, inertia=inertia, centers=centers, n_iter=n_iter)


# Once at most 1/COMPACT_RATIO of the problems are still running (and there are
# at least COMPACT_MIN_PROBLEMS), the loop goes on with a copy of those alone, so
# that the per-iteration work no longer scales with the problems that stopped.
# At B=1000, n=1000, d=16, k=8 (clustered data: most problems stop after 2-3
# iterations, the last after about 20), each later iteration took about 1.3 ms
# of bookkeeping over the whole stack besides the assignment.
COMPACT_RATIO = 4
COMPACT_MIN_PROBLEMS = 8


def _iterate(
    xp: ModuleType,
    X: Array,
    sample_weight: Array,
    tol: Array,
    centers: Array,
    labels: Array,
    n_iter: Array,
    shift_prev: Array,
    clean: Array,
    finishing: Array,
    i: int,
    max_iter: int,
) -> tuple[Array, Array, Array]:
    """Iterations ``i``, ``i + 1``, ... until every problem has stopped.

    All problems are running at entry. ``clean`` (B,) marks the problems
    whose last step had no empty cluster: their centres are the means of
    their last labels. If a step leaves such a problem's labels as they were,
    its sums are the last step's, bit for bit (same rows, same order), and so
    its means are the centres it has: it stops with them (strict
    convergence), and the fast path need not form those sums. A problem
    that is not clean converges strictly with centres that moved since its
    labels were assigned: it updates them and is ``finishing``, stopping
    after one more assignment (see :func:`arraykmeans._lloyd.lloyd`).
    Returns (centers, labels, n_iter).
    """
    B = X.shape[0]
    device = prim._dev(X)
    acc = shift_prev.dtype
    active = xp.ones((B,), dtype=xp.bool, device=device)
    while True:
        step = prim.assign_batched(
            xp,
            X,
            centers,
            sample_weight=sample_weight,
            accumulate=True,
            acc_dtype=acc,
            active=active,
            previous=labels,
            settled=clean,
        )
        labels = step.labels
        sums, weights = step.sums, step.weights
        going = active & ~finishing  # the finishing ones stop here
        if i > 0:
            tol_done = going & (shift_prev <= tol)
        else:
            tol_done = xp.zeros((B,), dtype=xp.bool, device=device)
        max_done = (going & ~tol_done) if i == max_iter else xp.zeros_like(tol_done)
        stepping = going & ~tol_done & ~max_done
        unchanged = stepping & ~step.changed if i > 0 else xp.zeros_like(tol_done)
        strict_done = unchanged & clean
        finishing = unchanged & ~clean
        updating = stepping & ~strict_done
        empty = (weights == 0) & updating[:, None]
        n_empty = xp.sum(xp.astype(empty, xp.int64), axis=1)
        running = xp.reshape(xp.sum(xp.astype(stepping & ~strict_done, xp.int64)), (1,))
        # One small copy to the host per iteration: problems still running,
        # empty clusters per problem.
        flags = prim.to_host(xp, xp.concat([running, n_empty]))
        # Only updating problems' means are used: when none of them has an
        # empty cluster, the fallback for empty ones is not needed.
        any_empty = bool(flags[1:].any())
        if any_empty:
            sums, weights = _relocate_empty_batched(
                xp, X, sample_weight, centers, sums, weights, labels, empty, flags[1:]
            )
        new_centers = average_centers(xp, sums, weights, X.dtype, empty=any_empty)
        shift = xp.sqrt(xp.sum((new_centers - centers) ** 2, axis=2))
        shift = xp.sum(shift**2, axis=1)
        centers = xp.where(updating[:, None, None], new_centers, centers)
        n_iter = xp.where(tol_done | max_done, i, xp.where(unchanged, i + 1, n_iter))
        shift_prev = xp.where(updating, xp.astype(shift, acc), shift_prev)
        active = stepping & ~strict_done
        clean = n_empty == 0
        i += 1
        remaining = int(flags[0])
        if remaining == 0:
            return centers, labels, n_iter
        if (
            B >= COMPACT_MIN_PROBLEMS
            and remaining < B
            and remaining * COMPACT_RATIO <= B
        ):
            break
    keep = xp.nonzero(active)[0]
    sub_centers, sub_labels, sub_n_iter = _iterate(
        xp,
        xp.take(X, keep, axis=0),
        xp.take(sample_weight, keep, axis=0),
        xp.take(tol, keep, axis=0),
        xp.take(centers, keep, axis=0),
        xp.take(labels, keep, axis=0),
        xp.take(n_iter, keep, axis=0),
        xp.take(shift_prev, keep, axis=0),
        xp.take(clean, keep, axis=0),
        xp.take(finishing, keep, axis=0),
        i,
        max_iter,
    )
    # Back into the stack: running problem b is row pos[b] of the copy, which
    # follows the stack's B rows in one gather (a broadcast ``where`` over the
    # labels took about 5x as long at B=1000, n=1000).
    pos = xp.cumulative_sum(xp.astype(active, xp.int64)) - 1
    source = xp.where(active, B + pos, xp.arange(B, device=device, dtype=xp.int64))

    def merged(full: Array, part: Array) -> Array:
        return xp.take(xp.concat([full, part], axis=0), source, axis=0)

    return (
        merged(centers, sub_centers),
        merged(labels, sub_labels),
        merged(n_iter, sub_n_iter),
    )


def _relocate_empty_batched(
    xp: ModuleType,
    X: Array,
    sample_weight: Array,
    centers_old: Array,
    sums: Array,
    weights: Array,
    labels: Array,
    empty: Array,
    n_empty: np.ndarray,
) -> tuple[Array, Array]:
    """Per problem, :func:`arraykmeans._lloyd._relocate_empty_clusters`."""
    k = centers_old.shape[1]
    device = prim._dev(X)
    acc = sums.dtype
    valid = labels >= 0
    safe_labels = xp.where(valid, labels, 0)
    assigned = prim.gather_rows(xp, centers_old, safe_labels)
    diff = X - assigned
    dist = xp.sum(diff * diff, axis=2)
    # Padding rows are never the farthest point.
    dist = xp.where(valid, dist, -xp.ones_like(dist))
    movable = xp.max(dist, axis=1) > 0
    far = prim.largest_indices_batched(xp, dist, n_empty)  # (B, width)
    width = far.shape[1]
    # The r-th empty cluster (by index) of a problem takes its r-th farthest row.
    rank = xp.cumulative_sum(xp.astype(empty, xp.int64), axis=1) - 1
    rank = xp.clip(rank, min=0, max=width - 1)
    far_for_cluster = xp.take_along_axis(far, rank, axis=1)  # (B, k)
    takes = empty & movable[:, None]
    x_far = prim.gather_rows(xp, X, far_for_cluster)  # (B, k, d)
    w_far = xp.take_along_axis(sample_weight, far_for_cluster, axis=1)
    w_far = xp.astype(xp.where(takes, w_far, xp.zeros_like(w_far)), acc)
    moved = xp.astype(x_far, acc) * w_far[:, :, None]
    old = xp.take_along_axis(safe_labels, far_for_cluster, axis=1)  # (B, k)
    ids = xp.arange(k, device=device)
    # out_of[b, j, c] = 1 when cluster j's new row leaves cluster c.
    out_of = (
        xp.astype(old[:, :, None] == ids[None, None, :], acc)
        * xp.astype(takes, acc)[:, :, None]
    )
    leave = xp.permute_dims(out_of, (0, 2, 1))
    sums = sums + moved - leave @ moved
    weights = weights + w_far - (leave @ w_far[:, :, None])[:, :, 0]
    return sums, weights
