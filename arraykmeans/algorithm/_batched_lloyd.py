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
from typing import Any

import numpy as np

from .._config import _settings
from ..backends import StandardBackend, device_of
from ._lloyd import average_centers, stopping_rules
from ._relocate import relocate_empty_batched

Array = Any


@dataclass
class BatchedResult:
    labels: Array  # (B, n), -1 on padding rows
    inertia: Array  # (B,), accumulation dtype
    centers: Array  # (B, k, d)
    n_iter: Array  # (B,), integer


def lloyd_batched(
    be: StandardBackend,
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
    with a copy of those alone (see the config's ``compact_ratio``).
    """
    xp = be.xp
    B, n, _ = X.shape
    device = device_of(X)
    acc = be.accumulation_dtype(X.dtype, device)
    # Every step's labels, -1 on padding; a problem that stops keeps its last.
    labels = xp.full((B, n), -1, dtype=xp.int32, device=device)
    centers, labels, n_iter = _iterate(
        be,
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
    inertia = be.weighted_inertia_batched(X, sample_weight, centers, labels)
    return BatchedResult(labels=labels, inertia=inertia, centers=centers, n_iter=n_iter)


# Once at most 1/compact_ratio of the problems are still running (and there are
# at least compact_min_problems; both in the config), the loop goes on with a
# copy of those alone, so that the per-iteration work no longer scales with the
# problems that stopped. At B=1000, n=1000, d=16, k=8 (clustered data: most
# problems stop after 2-3 iterations, the last after about 20), each later
# iteration took about 1.3 ms of bookkeeping over the whole stack besides the
# assignment.


def better_of(
    be: StandardBackend, result: BatchedResult, best: BatchedResult | None
) -> BatchedResult:
    """Per problem, scikit-learn's rule for keeping a run (see
    :func:`arraykmeans.algorithm._lloyd.is_better`): lower inertia and a
    different partition."""
    if best is None:
        return result
    xp = be.xp
    better = (result.inertia < best.inertia) & ~be.same_clustering_batched(
        result.labels, best.labels
    )
    return BatchedResult(
        labels=xp.where(better[:, None], result.labels, best.labels),
        inertia=xp.where(better, result.inertia, best.inertia),
        centers=xp.where(better[:, None, None], result.centers, best.centers),
        n_iter=xp.where(better, result.n_iter, best.n_iter),
    )


def _iterate(
    be: StandardBackend,
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
    xp = be.xp
    B = X.shape[0]
    acc = shift_prev.dtype
    active = xp.ones((B,), dtype=xp.bool, device=device_of(X))
    while True:
        step = be.assign_batched(
            X, centers, sample_weight=sample_weight, accumulate=True,
            acc_dtype=acc, active=active, previous=labels, settled=clean,
        )  # fmt: skip
        labels = step.labels
        rule = stopping_rules(
            be.xp,
            i,
            max_iter,
            active & ~finishing,
            shift_prev,
            tol,
            step.changed,
            clean,
        )
        tol_done, max_done, stepping, unchanged, strict_done, finishing = rule
        updating = stepping & ~strict_done
        empty = (step.weights == 0) & updating[:, None]
        n_empty = xp.sum(xp.astype(empty, xp.int64), axis=1)
        running = xp.reshape(xp.sum(xp.astype(updating, xp.int64)), (1,))
        # One small copy to the host per iteration: problems still running,
        # empty clusters per problem.
        flags = be.to_host(xp.concat([running, n_empty]))
        new_centers, shift = _updated_centers(
            be, X, sample_weight, centers, step, labels, empty, flags[1:]
        )
        centers = xp.where(updating[:, None, None], new_centers, centers)
        n_iter = xp.where(tol_done | max_done, i, xp.where(unchanged, i + 1, n_iter))
        shift_prev = xp.where(updating, xp.astype(shift, acc), shift_prev)
        active = updating
        clean = n_empty == 0
        i += 1
        remaining = int(flags[0])
        if remaining == 0:
            return centers, labels, n_iter
        if _worth_compacting(B, remaining):
            break
    state = (tol, centers, labels, n_iter, shift_prev, clean, finishing)
    return _compacted(be, X, sample_weight, active, state, i, max_iter)


def _updated_centers(
    be: StandardBackend, X, sample_weight, centers, step, labels, empty, n_empty
) -> tuple[Array, Array]:
    """The means of the step (empty clusters relocated first) and each
    problem's squared centre shift."""
    xp = be.xp
    sums, weights = step.sums, step.weights
    # Only updating problems' means are used: when none of them has an
    # empty cluster, the fallback for empty ones is not needed.
    any_empty = bool(n_empty.any())
    if any_empty:
        sums, weights = relocate_empty_batched(
            be, X, sample_weight, centers, sums, weights, labels, empty, n_empty
        )
    new_centers = average_centers(be, sums, weights, X.dtype, empty=any_empty)
    shift = xp.sqrt(xp.sum((new_centers - centers) ** 2, axis=2))
    return new_centers, xp.sum(shift**2, axis=1)


def _worth_compacting(B: int, remaining: int) -> bool:
    settings = _settings()
    return (
        settings["compact_min_problems"] <= B
        and remaining < B
        and remaining * settings["compact_ratio"] <= B
    )


def _compacted(
    be: StandardBackend,
    X: Array,
    sample_weight: Array,
    active: Array,
    state: tuple[Array, ...],
    i: int,
    max_iter: int,
) -> tuple[Array, Array, Array]:
    """Go on with a copy of the running problems, then merge them back.

    ``state`` is ``(tol, centers, labels, n_iter, shift_prev, clean,
    finishing)`` of the whole stack.
    """
    xp = be.xp
    B = X.shape[0]
    device = device_of(X)
    # The running problems' indices, found on the host: no data-dependent
    # shape on the device.
    keep = be.from_host(
        np.flatnonzero(be.to_host(active)), dtype=xp.int64, device=device
    )
    _, centers, labels, n_iter = state[:4]
    sub = [xp.take(a, keep, axis=0) for a in state]
    sub_centers, sub_labels, sub_n_iter = _iterate(
        be, xp.take(X, keep, axis=0), xp.take(sample_weight, keep, axis=0),
        *sub, i, max_iter,
    )  # fmt: skip
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
