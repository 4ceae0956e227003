"""Backend primitives: the few operations the Array API standard lacks or does slowly.

Every function here takes the array namespace ``xp`` first and has a pure-standard
implementation that runs on any conforming library (array-api-strict is the test
of that). Where a library offers something much faster, a fast path is selected
with ``is_<library>_namespace(xp)``; fast paths must give the same results as the
fallback up to floating-point rounding, and both are tested.

The algorithm layer (:mod:`arraykmeans._lloyd`) only calls ``xp.*`` functions and
the functions below, so adding a backend (PyTorch, Dask, JAX) means adding fast
paths here, never touching the algorithm.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from array_api_compat import is_cupy_namespace, is_numpy_namespace

from ._config import get_config

Array = Any

# Chunks never get smaller than this many rows, whatever the budget says: below it
# the per-call overhead of the array library dominates.
MIN_CHUNK_ROWS = 64
# On NumPy the distance block of a chunk is kept about this size so that it stays
# in the CPU caches between the product and the argmin.
NUMPY_BLOCK_BYTES = 4 * 2**20


# --------------------------------------------------------------------------- dtypes


def has_float64(xp: ModuleType, device: Any) -> bool:
    """Whether ``device`` supports float64 (some GPUs and test devices do not)."""
    try:
        kinds = xp.__array_namespace_info__().dtypes(
            device=device, kind="real floating"
        )
    except (AttributeError, TypeError):  # pragma: no cover - very old namespaces
        return True
    return "float64" in kinds


def accumulation_dtype(xp: ModuleType, dtype: Any, device: Any) -> Any:
    """The dtype sums are accumulated in: float64 where the device has it."""
    return xp.float64 if has_float64(xp, device) else dtype


# ------------------------------------------------------------------- host <-> device


def to_host(xp: ModuleType, x: Array) -> np.ndarray:
    """Copy a (small) array to a NumPy array on the host. One synchronisation."""
    if is_numpy_namespace(xp):
        return np.asarray(x)
    if is_cupy_namespace(xp):
        return x.get()
    try:
        return np.from_dlpack(x)
    except Exception:
        flat = xp.reshape(x, (-1,))
        values = [float(flat[i]) for i in range(flat.shape[0])]
        return np.asarray(values).reshape(tuple(x.shape))


def from_host(xp: ModuleType, values: np.ndarray, *, dtype: Any, device: Any) -> Array:
    """Move a small host NumPy array to ``device`` as ``dtype``."""
    values = np.ascontiguousarray(values)
    try:
        return xp.asarray(values, dtype=dtype, device=device)
    except (TypeError, ValueError):
        return xp.asarray(values.tolist(), dtype=dtype, device=device)


# ----------------------------------------------------------------------- chunking


def chunk_rows(
    xp: ModuleType, n_rows: int, bytes_per_row: int, *, cache_rows: int | None = None
) -> int:
    """Rows per chunk so that a chunk's temporaries fit the working-memory budget.

    Parameters
    ----------
    n_rows : int
        Rows to process in total.
    bytes_per_row : int
        Bytes of temporaries one row of a chunk needs.
    cache_rows : int, optional
        A smaller preferred size for CPU backends, where chunks that fit the cache
        are faster than big ones.
    """
    budget = get_config()["working_memory"] * 2**20
    rows = int(budget // max(bytes_per_row, 1))
    if cache_rows is not None and is_numpy_namespace(xp):
        rows = min(rows, cache_rows)
    return max(1, min(n_rows, max(rows, MIN_CHUNK_ROWS)))


def iter_chunks(n_rows: int, rows: int) -> Iterator[slice]:
    """Consecutive row slices of at most ``rows`` rows covering ``range(n_rows)``."""
    for start in range(0, n_rows, rows):
        yield slice(start, min(start + rows, n_rows))


# ------------------------------------------------------------------------ reductions


def row_sq_norms(xp: ModuleType, X: Array) -> Array:
    """Squared Euclidean norm of each row, in ``X``'s dtype."""
    if is_numpy_namespace(xp):
        return np.einsum("ij,ij->i", X, X)
    return xp.sum(X * X, axis=1)


def segment_sum(
    xp: ModuleType, values: Array, segment_ids: Array, n_segments: int, *, dtype: Any
) -> Array:
    """Sum the rows of ``values`` that share a segment id.

    Parameters
    ----------
    values : array of shape (m, d)
    segment_ids : integer array of shape (m,)
        Values in ``[0, n_segments)``.
    n_segments : int
    dtype : dtype
        The dtype of the result (sums are accumulated in it where the backend
        allows).

    Returns
    -------
    sums : array of shape (n_segments, d)
    """
    if is_numpy_namespace(xp):
        return _segment_sum_numpy(values, segment_ids, n_segments, dtype)
    return _segment_sum_onehot(xp, values, segment_ids, n_segments, dtype)


def _segment_sum_onehot(xp, values, segment_ids, n_segments, dtype):
    # (n_segments, m) @ (m, d): standard-only, deterministic, O(m * n_segments * d).
    # Each sum is formed in ``values``' dtype by the product, then widened.
    ids = xp.arange(n_segments, dtype=segment_ids.dtype, device=_dev(values))
    onehot = xp.astype(ids[:, None] == segment_ids[None, :], values.dtype)
    return xp.astype(onehot @ values, dtype)


def _segment_sum_numpy(values, segment_ids, n_segments, dtype):
    # Sort the rows by segment and add each run with one reduceat: O(m log m + m d),
    # summed directly in ``dtype``.
    out = np.zeros((n_segments, values.shape[1]), dtype=dtype)
    if values.shape[0] == 0:
        return out
    order = np.argsort(segment_ids, kind="stable")
    counts = np.bincount(segment_ids, minlength=n_segments)
    starts = np.cumsum(counts) - counts
    present = np.flatnonzero(counts)
    out[present] = np.add.reduceat(values[order], starts[present], axis=0, dtype=dtype)
    return out


def weight_sum(
    xp: ModuleType, weights: Array, segment_ids: Array, n_segments: int, *, dtype: Any
) -> Array:
    """Sum of ``weights`` per segment, shape (n_segments,), in ``dtype``."""
    if is_numpy_namespace(xp):
        return np.bincount(segment_ids, weights=weights, minlength=n_segments).astype(
            dtype, copy=False
        )
    ids = xp.arange(n_segments, dtype=segment_ids.dtype, device=_dev(weights))
    onehot = xp.astype(segment_ids[:, None] == ids[None, :], dtype)
    return xp.astype(weights, dtype) @ onehot


# ------------------------------------------------------------------- assignment step


@dataclass
class Assignment:
    """Result of :func:`assign_chunked`."""

    labels: Array
    """Index of the closest centre of every row, default index dtype."""
    sums: Array | None
    """Weighted sum of the rows assigned to each centre, (k, d), accumulation dtype."""
    weights: Array | None
    """Total weight assigned to each centre, (k,), accumulation dtype."""


def assign_chunked(
    xp: ModuleType,
    X: Array,
    centers: Array,
    *,
    sample_weight: Array | None = None,
    accumulate: bool = False,
    acc_dtype: Any = None,
    offset: Array | None = None,
    scale: float = 1.0,
) -> Assignment:
    """Assign every row of ``X`` to its closest centre, chunk by chunk.

    The squared distance is ``‖c‖² − 2 x·c`` (the ``‖x‖²`` term does not change
    the argmin), formed one chunk of rows at a time: the n×k distance matrix
    never exists. With ``accumulate=True`` the weighted sums of the rows assigned
    to each centre and the total weight per centre are gathered in the same pass
    (the M-step's inputs).

    Parameters
    ----------
    X : array of shape (n, d)
    centers : array of shape (k, d), same dtype and device as ``X``
    sample_weight : array of shape (n,), optional
        Needed when ``accumulate`` is true.
    accumulate : bool
    acc_dtype : dtype, optional
        Dtype of the sums. Defaults to :func:`accumulation_dtype`.
    offset, scale : optional
        Rows are used as ``(x - offset) * scale`` (the frame the centres live
        in), transformed one chunk at a time.

    Returns
    -------
    Assignment
    """
    n, d = X.shape
    k = centers.shape[0]
    device = _dev(X)
    if acc_dtype is None:
        acc_dtype = accumulation_dtype(xp, X.dtype, device)
    itemsize = _itemsize(X.dtype)
    # Distance block, plus (fallback path) the one-hot block and the weighted rows.
    per_row = itemsize * (2 * k + d) + 16
    cache_rows = max(MIN_CHUNK_ROWS, NUMPY_BLOCK_BYTES // (itemsize * max(k, 1)))
    rows = chunk_rows(xp, n, per_row, cache_rows=cache_rows)

    # -2 is a power of two, so (-2 C) x is exactly -2 (C x): same bits as scaling
    # the product afterwards, one pass less.
    neg2_ct = xp.permute_dims(centers * -2, (1, 0))
    c_norms = row_sq_norms(xp, centers)
    labels_parts = []
    sums = weights = None
    if accumulate:
        sums = xp.zeros((k, d), dtype=acc_dtype, device=device)
        weights = xp.zeros((k,), dtype=acc_dtype, device=device)
    for sl in iter_chunks(n, rows):
        Xc = X[sl, ...]
        if offset is not None:
            Xc = Xc - offset
        if scale != 1.0:
            Xc = Xc * scale
        dist = Xc @ neg2_ct
        dist = dist + c_norms[None, :]
        labels = xp.argmin(dist, axis=1)
        labels_parts.append(labels)
        if accumulate:
            w = sample_weight[sl]
            sums = sums + segment_sum(xp, Xc * w[:, None], labels, k, dtype=acc_dtype)
            weights = weights + weight_sum(xp, w, labels, k, dtype=acc_dtype)
    labels = labels_parts[0] if len(labels_parts) == 1 else xp.concat(labels_parts)
    return Assignment(labels=labels, sums=sums, weights=weights)


def sq_distances_to_assigned(
    xp: ModuleType, X: Array, centers: Array, labels: Array, *, dtype: Any
) -> Array:
    """``‖x_i − c_{labels_i}‖²`` for every row, computed from differences, in ``dtype``.

    Used for the inertia and for finding the points farthest from their centres;
    the difference form is exact to rounding, unlike the expanded form used in
    the assignment.
    """
    n, d = X.shape
    per_row = 2 * d * max(_itemsize(dtype), _itemsize(X.dtype)) + 16
    rows = chunk_rows(xp, n, per_row)
    parts = []
    for sl in iter_chunks(n, rows):
        diff = xp.astype(X[sl, ...], dtype) - xp.astype(
            xp.take(centers, labels[sl], axis=0), dtype
        )
        parts.append(xp.sum(diff * diff, axis=1))
    return parts[0] if len(parts) == 1 else xp.concat(parts)


# ---------------------------------------------------------------------- selections


def largest_indices(xp: ModuleType, values: Array, count: int) -> Array:
    """Indices of the ``count`` largest values, largest first.

    On NumPy this is the same selection scikit-learn makes for relocating empty
    clusters (``argpartition``), so ties are broken identically; the fallback
    breaks ties by the lower index.
    """
    if is_numpy_namespace(xp):
        return np.argpartition(values, -count)[: -count - 1 : -1]
    return xp.argsort(values, descending=True, stable=True)[:count]


def is_same_clustering(xp: ModuleType, labels1: Array, labels2: Array) -> bool:
    """Whether ``labels2`` is a function of ``labels1`` (same partition, relabelled).

    Mirrors scikit-learn's check: every group of ``labels1`` maps to a single
    value of ``labels2``.
    """
    if labels1.shape[0] < 2:
        return True
    order = xp.argsort(labels1, stable=True)
    a = xp.take(labels1, order)
    b = xp.take(labels2, order)
    consistent = (a[1:] != a[:-1]) | (b[1:] == b[:-1])
    return bool(xp.all(consistent))


# ------------------------------------------------------------------------- helpers


def _dev(x: Array) -> Any:
    from array_api_compat import device

    return device(x)


def _itemsize(dtype: Any) -> int:
    try:
        return np.dtype(str(dtype).rsplit(".", 1)[-1]).itemsize
    except TypeError:
        return 8


def ceil_log2(x: float) -> int:
    """Smallest integer e with 2**e >= x, for positive finite x."""
    mantissa, exponent = math.frexp(x)
    return exponent - 1 if mantissa == 0.5 else exponent
