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
    sits exactly on its centre. The rule is :func:`relocate_empty_batched`'s,
    on a stack of one problem.
    """
    sums, weights = relocate_empty_batched(
        be, X[None, ...], sample_weight[None, ...], centers_old[None, ...],
        sums[None, ...], weights[None, ...], labels[None, ...],
        (weights == 0)[None, ...], np.asarray([n_empty]),
    )  # fmt: skip
    return sums[0, ...], weights[0, ...]


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
    """Per problem, the relocation of :func:`relocate_empty_clusters`.

    ``empty`` (B, k) marks the empty clusters, ``n_empty`` (host, (B,)) counts
    them; labels are -1 on padding rows, which never move.
    """
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
    far_for_cluster = be.take_along_rows(far, rank)  # (B, k)
    takes = empty & movable[:, None]
    x_far = be.gather_rows(X, far_for_cluster)  # (B, k, d)
    w_far = be.take_along_rows(sample_weight, far_for_cluster)
    w_far = xp.astype(xp.where(takes, w_far, xp.zeros_like(w_far)), acc)
    moved = xp.astype(x_far, acc) * w_far[:, :, None]
    old = be.take_along_rows(safe_labels, far_for_cluster)  # (B, k)
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
