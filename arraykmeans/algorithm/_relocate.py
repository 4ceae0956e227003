"""Relocation of empty clusters, as scikit-learn does it.

After an assignment step, each empty cluster takes one of the points farthest
from their centres (the i-th empty cluster by index the i-th farthest point),
which leaves its old cluster. One problem, and the same rule per problem of a
stack (padding rows never move).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends import StandardBackend, device_of

Array = Any


def relocate_empty_clusters(
    be: StandardBackend,
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
    xp = be.xp
    k = centers_old.shape[0]
    device = device_of(X)
    acc = sums.dtype
    dist = be.sq_distances_to_assigned(X, centers_old, labels, dtype=X.dtype)
    if float(xp.max(dist)) == 0:
        return sums, weights
    far = be.largest_indices(dist, n_empty)
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


def relocate_empty_batched(
    be: StandardBackend,
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
    xp = be.xp
    k = centers_old.shape[1]
    device = device_of(X)
    acc = sums.dtype
    valid = labels >= 0
    safe_labels = xp.where(valid, labels, 0)
    assigned = be.gather_rows(centers_old, safe_labels)
    diff = X - assigned
    dist = xp.sum(diff * diff, axis=2)
    # Padding rows are never the farthest point.
    dist = xp.where(valid, dist, -xp.ones_like(dist))
    movable = xp.max(dist, axis=1) > 0
    far = be.largest_indices_batched(dist, n_empty)  # (B, width)
    width = far.shape[1]
    # The r-th empty cluster (by index) of a problem takes its r-th farthest row.
    rank = xp.cumulative_sum(xp.astype(empty, xp.int64), axis=1) - 1
    rank = xp.clip(rank, min=0, max=width - 1)
    far_for_cluster = xp.take_along_axis(far, rank, axis=1)  # (B, k)
    takes = empty & movable[:, None]
    x_far = be.gather_rows(X, far_for_cluster)  # (B, k, d)
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
