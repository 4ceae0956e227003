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

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from array_api_compat import is_cupy_namespace, is_numpy_namespace

from . import _threads
from ._config import get_config

Array = Any

# Chunks never get smaller than this many rows, whatever the budget says: below it
# the per-call overhead of the array library dominates.
MIN_CHUNK_ROWS = 64


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


def host_scalars(xp: ModuleType, values: list[Array], dtype: Any) -> list[float]:
    """Zero-dimensional arrays as Python floats, in one device-to-host copy.

    Elsewhere than on NumPy (where reading them costs nothing) they are cast to
    ``dtype`` and stacked first, so that reading all of them is one
    synchronisation.
    """
    if is_numpy_namespace(xp):
        return [float(v) for v in values]
    stacked = xp.stack([xp.astype(v, dtype) for v in values])
    return [float(v) for v in to_host(xp, stacked)]


def from_host(xp: ModuleType, values: np.ndarray, *, dtype: Any, device: Any) -> Array:
    """Move a small host NumPy array to ``device`` as ``dtype``."""
    values = np.ascontiguousarray(values)
    try:
        return xp.asarray(values, dtype=dtype, device=device)
    except (TypeError, ValueError):
        return xp.asarray(values.tolist(), dtype=dtype, device=device)


# ----------------------------------------------------------------------- chunking


def working_memory_bytes() -> int:
    """The working-memory budget in bytes."""
    return int(get_config()["working_memory"] * 2**20)


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
    rows = working_memory_bytes() // max(bytes_per_row, 1)
    if cache_rows is not None and is_numpy_namespace(xp):
        rows = min(rows, cache_rows)
    return max(1, min(n_rows, max(rows, MIN_CHUNK_ROWS)))


def iter_chunks(n_rows: int, rows: int) -> Iterator[slice]:
    """Consecutive row slices of at most ``rows`` rows covering ``range(n_rows)``."""
    for start in range(0, n_rows, rows):
        yield slice(start, min(start + rows, n_rows))


# ------------------------------------------------------------------------ reductions


def row_sq_norms(xp: ModuleType, X: Array) -> Array:
    """Squared Euclidean norm of each row (along the last axis), in ``X``'s dtype."""
    if is_numpy_namespace(xp):
        return np.einsum("...j,...j->...", X, X)
    return xp.sum(X * X, axis=-1)


def stacked_transpose(xp: ModuleType, C: Array) -> Array:
    """``C`` of shape (B, k, d) as (B, d, k), the right operand of stacked products.

    On NumPy the result is a contiguous copy: a stacked ``matmul`` whose operand
    is a transposed view runs NumPy's own loop instead of BLAS (1.6x the time of
    the batched assignment at n=1000, d=16, k=8, and the pool's threads did not
    run it side by side).
    """
    Ct = xp.permute_dims(C, (0, 2, 1))
    if is_numpy_namespace(xp):
        return np.ascontiguousarray(Ct)
    return Ct


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
    return xp.astype(onehot @ values, dtype, copy=False)


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
    return xp.astype(weights, dtype, copy=False) @ onehot


def count_distinct(xp: ModuleType, labels: Array, k: int) -> int:
    """How many of the labels ``0 .. k-1`` occur in ``labels``."""
    if is_numpy_namespace(xp):
        return int(np.count_nonzero(np.bincount(labels, minlength=k)))
    # A sort of the labels: no (n, k) one-hot block.
    return int(xp.unique_values(labels).shape[0])


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
    changed: Array | None = None
    """Batched steps given the previous labels: (B,) bool, did any label change."""


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
        Rows are used as ``x * scale - offset`` (the frame the centres live
        in; ``offset`` in that frame's units), transformed one chunk at a
        time. Scaling first keeps data near the ends of the float range
        finite: ``x - offset`` in the data's own units can overflow.

    Returns
    -------
    Assignment
    """
    if acc_dtype is None:
        acc_dtype = accumulation_dtype(xp, X.dtype, _dev(X))
    if is_numpy_namespace(xp):
        return _assign_numpy(
            X, centers, sample_weight, accumulate, acc_dtype, offset, scale
        )
    if _use_cupy_kernels(xp, X.dtype, acc_dtype):
        return _assign_cupy(X, centers, sample_weight, accumulate, offset, scale)
    return _assign_standard(
        xp, X, centers, sample_weight, accumulate, acc_dtype, offset, scale
    )


def _assign_standard(
    xp: ModuleType,
    X: Array,
    centers: Array,
    sample_weight: Array | None,
    accumulate: bool,
    acc_dtype: Any,
    offset: Array | None,
    scale: float,
) -> Assignment:
    """Pure-standard assignment: one chunk at a time, one-hot products for the sums."""
    n, d = X.shape
    k = centers.shape[0]
    device = _dev(X)
    itemsize = _itemsize(X.dtype)
    # Distance block, the one-hot block and the weighted rows.
    rows = chunk_rows(xp, n, itemsize * (2 * k + d) + 16)

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
        if scale != 1.0:
            Xc = Xc * scale
        if offset is not None:
            Xc = Xc - offset
        dist = Xc @ neg2_ct
        dist = dist + c_norms[None, :]
        labels = xp.argmin(dist, axis=1)
        labels_parts.append(labels)
        if accumulate:
            w = sample_weight[sl]
            sums = sums + _segment_sum_onehot(xp, Xc * w[:, None], labels, k, acc_dtype)
            weights = weights + weight_sum(xp, w, labels, k, dtype=acc_dtype)
    labels = labels_parts[0] if len(labels_parts) == 1 else xp.concat(labels_parts)
    return Assignment(labels=labels, sums=sums, weights=weights)


# ----------------------------------------------------------------- CuPy fast path
#
# The same computation as _assign_standard with everything after the distance
# product in CUDA kernels (arraykmeans._cupy_kernels): a warp-per-row argmin
# that adds the centre norms as it reads, and float64 sums over the rows sorted
# by label (deterministic: no atomics). The labels are the same as the
# fallback's (same product, same additions, first index on ties); the sums are
# equal to rounding, accumulated in float64 rather than formed by a product in
# the data dtype.

# Use the CUDA kernels on CuPy (float32 and float64 data, float64 sums).
USE_CUPY_KERNELS = True


def _use_cupy_kernels(xp: ModuleType, dtype: Any, acc_dtype: Any) -> bool:
    if not (USE_CUPY_KERNELS and is_cupy_namespace(xp)):
        return False
    from . import _cupy_kernels

    return _cupy_kernels.supported(dtype) and acc_dtype == xp.float64


def _assign_cupy(X, centers, sample_weight, accumulate, offset, scale):
    import cupy

    from . import _cupy_kernels as cuk

    n, d = X.shape
    k = centers.shape[0]
    # The distance block is the one temporary per row (plus the moved rows).
    rows = chunk_rows(cupy, n, X.dtype.itemsize * (k + d) + 16)
    neg2_ct = (centers * -2).T
    c_norms = cupy.ascontiguousarray(row_sq_norms(cupy, centers)[None, :])
    labels = cupy.empty(n, dtype=cupy.int64)
    sums = weights = None
    if accumulate:
        sums = cupy.zeros((k, d), dtype=cupy.float64)
        weights = cupy.zeros(k, dtype=cupy.float64)
    # Rows used as they are (the Lloyd steps) are summed in one pass after the
    # loop: one sort for all rows instead of one per chunk.
    moved = offset is not None or scale != 1.0
    for sl in iter_chunks(n, rows):
        Xc = X[sl]
        if scale != 1.0:
            Xc = Xc * scale
        if offset is not None:
            Xc = Xc - offset
        dist = cupy.matmul(Xc, neg2_ct)
        cuk.argmin_rows(dist, c_norms, dist.shape[0], labels[sl])
        if accumulate and moved:
            cuk.segment_sums(Xc, sample_weight[sl], labels[sl], sums, weights)
    if accumulate and not moved:
        cuk.segment_sums(X, sample_weight, labels, sums, weights)
    return Assignment(labels=labels, sums=sums, weights=weights)


# ---------------------------------------------------------------- NumPy fast path
#
# The same computation as _assign_standard, organised for CPU caches and cores:
# chunks small enough that the distance block stays in cache, spread over worker
# threads (NumPy releases the GIL in BLAS, argmin and sparse products) with
# BLAS itself limited to one thread, as scikit-learn does with OpenMP (see
# arraykmeans._threads), also when the caller's thread works alone. Sums use a sparse one-hot product (SciPy,
# O(rows * d)) when SciPy is present. Rows are cut into pieces by the data's
# shape alone, the threads take pieces one at a time (a thread slowed by other
# processes holds up one piece, not a fixed share), and the pieces' partial sums
# are added in piece order: results depend neither on the thread count nor on
# timing.

# Distance blocks of about this size stay in a core's L2 cache.
NUMPY_BLOCK_BYTES = 2**19
# ... and chunks of rows of about this size, which the accumulation reads again
# after the product: at (50000, 512, 64) float64 (4 MiB chunks before) the step
# took 0.92x the time, interleaved A/B over 15 runs.
NUMPY_CHUNK_BYTES = 2**20
NUMPY_MIN_ROWS = 256
NUMPY_MAX_ROWS = 16384
# Rows per sparse segment-sum product, and per piece of an assignment.
NUMPY_GROUP_ROWS = 16384
# ... but at least this many pieces where chunks allow: several per thread, so
# that a thread slowed by another process holds up a small share of the step
# while the others take the rest.
NUMPY_MIN_PIECES = 16
# Below this many multiply-adds (n * k * d) one thread is as fast as the pool.
NUMPY_THREAD_MIN_WORK = 2**27
# ... or a quarter of it over at least this many rows: at (100000, 64, 8) and
# (100000, 64, 16) float32 the pool took 0.85x the time of one thread, while at
# (50000, 32, 32) and (20000, 64, 64) one thread (BLAS threading each product
# on its own) was faster. (Measured before the caller's thread held BLAS to one
# thread as well; on a shared machine the pool was then 1.0-1.1x one thread's
# time at those shapes, so the thresholds stayed.)
NUMPY_THREAD_MIN_ROWS = 65536
# OpenBLAS computes products of fewer multiply-adds than this on the calling
# thread alone (SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD): holding BLAS to
# one thread for them would only cost the hold.
NUMPY_BLAS_THREADS_MIN_WORK = 65536 * 4
# Use the optional compiled row loops (numba) when they are available.
USE_COMPILED = True
# ... for calls doing at least this much work: multiply-adds of an assignment
# step (n * k * d), elements of a pass over the data, or their equivalent.
# Below it plain NumPy operations are used, and a fit that small neither
# imports numba nor compiles anything. The loops cost once per process: 0.8-1.3 s
# to load numba and them from a filled cache, 3-6 s to compile them (a first
# fit of the 150-row iris data took 3.6 s). NumPy steps took 1.1-7x the
# compiled time at every size measured (2**14 to 2**22), but below 2**16 at
# most 0.5 ms each, so a whole fit takes milliseconds; the data sets of the
# benchmarks above that (digits at 1.15e6, single problems of bench_batched at
# 1.3e5, bench_cpu's smallest at 1.6e5 in quick mode) stay compiled.
COMPILED_MIN_WORK = 2**16
# The compiled path has BLAS write distance blocks row-major (rows, k) or
# centre-major (k, rows), whichever was faster with one BLAS thread (float32,
# product plus argmin, row-major time over centre-major): row-major when
# d >= 2k (0.40-0.92 at d/k from 2 to 8) or, with at most 64 centres, when
# d >= k/2 and d >= 12 (0.73-0.86 at (d, k) = (16, 16), (32, 32), (16, 32),
# (32, 64), (64, 64)); centre-major otherwise (row-major 1.05-1.23 at (64, 128),
# (32, 100), (64, 256), (8, 16)).
NUMPY_ROW_MAJOR_RATIO = 2
NUMPY_ROW_MAJOR_SMALL_K = 64
# Stacks of small problems measured differently (k=8, d=16: row-major 1.1x;
# 0.94-1.04x once both layouts' products went to BLAS): there, row-major only
# when d >= 2k and k >= 16 (whole batched fits, row-major over centre-major:
# 0.88 at (d, k) = (32, 16), 1.21 at (8, 32)).
NUMPY_ROW_MAJOR_MIN_K = 16
# With at most this many features the compiled path forms distances itself
# (vectorised across rows, one call per piece) instead of calling BLAS, and
# with up to NUMPY_DIRECT_WIDE_D features when there are at least twice as many
# centres. Fit time over the BLAS path's at n=100000, float32 / float64:
# (2, 8) 0.67 / 0.77 (against the earlier direct loop), (6, 8) 0.43 / 0.66,
# (8, 32) 0.33 / 0.32, (12, 16) 0.51 / 0.59, (12, 64) 0.63 / 0.77, (10, 256)
# 0.57 / 0.65, (16, 32) 0.81 / 0.80, (16, 128) 0.58 / 0.86; but (16, 8)
# 1.15 / 1.57, (24, 16) 0.98 / 1.42 and (32, 8) 1.52 / 2.49.
NUMPY_DIRECT_MAX_D = 12
NUMPY_DIRECT_WIDE_D = 16
# Batched problems are processed in groups of about this many bytes of
# temporaries (distance block and rows): at B=1000, n=1000, d=16, k=8 float32
# 4 MiB groups fitted in 0.96-1.0x the time of 2 MiB ones (3 runs of 5,
# clustered data and noise), 512 KiB groups in 1.3-1.6x.
NUMPY_BATCH_BYTES = 2**22


# Weighted row sums over at most this many elements are added one row at a
# time by np.add.at (flat, which NumPy runs fast): as fast as SciPy's sparse
# product or faster, and SciPy (0.2-0.3 s to import) is not needed.
NUMPY_ADD_AT_ELEMENTS = 2**13


def _weighted_rows_sum(
    values: np.ndarray, ids: np.ndarray, weights: np.ndarray, k: int, acc_dtype: Any
) -> np.ndarray:
    """``sum_i weights[i] * values[i]`` per id in ``range(k)``, shape (k, d).

    Each product is rounded to the data dtype and added to its id's sum in
    order, in the data dtype (as the compiled loops add them): by np.add.at
    for few elements, else by a sparse product (SciPy) or, without SciPy, a
    sort and segmented sums (in ``acc_dtype``).
    """
    m, d = values.shape
    if m * d <= NUMPY_ADD_AT_ELEMENTS:
        out = np.zeros(k * d, dtype=values.dtype)
        cells = (ids[:, None] * d + np.arange(d, dtype=ids.dtype)).reshape(-1)
        np.add.at(out, cells, (values * weights[:, None]).reshape(-1))
        return out.reshape(k, d)
    part = _sparse_segment_sum(values, ids, weights, k)
    if part is None:
        part = segment_sum(np, values * weights[:, None], ids, k, dtype=acc_dtype)
    return part


def _sparse_segment_sum(
    values: np.ndarray, ids: np.ndarray, weights: np.ndarray, k: int
):
    """``sum_i weights[i] * values[i]`` per id, via a (k, m) sparse one-hot product."""
    try:
        import scipy.sparse
    except ImportError:
        return None
    m = values.shape[0]
    # int32 indices: SciPy would otherwise convert them on every call.
    onehot = scipy.sparse.csc_matrix(
        (weights, ids.astype(np.int32, copy=False), np.arange(m + 1, dtype=np.int32)),
        shape=(k, m),
    )
    return onehot @ values


def one_blas_thread(xp: ModuleType) -> Any:
    """A context that holds BLAS to one thread on NumPy (does nothing elsewhere).

    For work that calls BLAS on cache-sized chunks in the caller's thread, such
    as the k-means++ seeding: at (100000, 32) float32, k=64, seeding took the
    same time idle with one BLAS thread as with two, and 0.3-0.4x the time with
    two when another process kept one of the two cores busy (BLAS splits each
    small product between its threads, which then wait for each other).
    """
    if not is_numpy_namespace(xp):
        return contextlib.nullcontext()
    return _threads.blas_limit(1)


def _row_pieces(n: int, rows: int, partial_bytes: int) -> list[tuple[int, int]]:
    """Row ranges ``(start, stop)`` that the assignment's workers take one at a time.

    Whole chunks of ``rows``, about NUMPY_GROUP_ROWS rows each but at least
    NUMPY_MIN_PIECES pieces where chunks allow, and no more pieces than the
    working memory holds partial sums (``partial_bytes`` each) for. The cut
    depends on the data's shape only: the partial sums, added in piece order,
    are the same whatever the number of threads.
    """
    size = max(rows, min(NUMPY_GROUP_ROWS, -(-n // NUMPY_MIN_PIECES)))
    if size < n:
        most = max(1, working_memory_bytes() // max(partial_bytes, 1))
        size = max(size, -(-n // most))
    size = -(-size // rows) * rows
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def _assign_numpy(X, centers, sample_weight, accumulate, acc_dtype, offset, scale):
    n, d = X.shape
    k = centers.shape[0]
    dtype = X.dtype
    rows = NUMPY_BLOCK_BYTES // (dtype.itemsize * max(k, 1))
    rows = min(rows, NUMPY_CHUNK_BYTES // (dtype.itemsize * max(d, 1)))
    rows = int(min(max(rows, NUMPY_MIN_ROWS), NUMPY_MAX_ROWS, n))
    rows = chunk_rows(np, n, dtype.itemsize * (k + 2 * d) + 16, cache_rows=rows)
    neg2_ct = (centers * -2).T
    c_norms = row_sq_norms(np, centers)
    kernels = _compiled_kernels(n * k * d, X, centers, sample_weight)
    # With many centres per feature, a column of ones appended to the rows and
    # the centre norms appended to the product's right-hand side let BLAS add
    # the norms: one pass over the distance block less, for a copy of the rows.
    augment = kernels is None and k >= 2 * d
    if augment:
        rhs = np.concatenate([neg2_ct, c_norms[None, :]], axis=0)
    labels = np.empty(n, dtype=np.int32)
    # Threads pay only when there is enough work to share.
    enough = n * k * d >= NUMPY_THREAD_MIN_WORK or (
        n >= NUMPY_THREAD_MIN_ROWS and n * k * d >= NUMPY_THREAD_MIN_WORK // 4
    )
    # The rows are cut into pieces whatever the thread count (see _row_pieces);
    # within a piece sums are formed per group of rows, so that the sparse
    # product's fixed cost is paid rarely.
    pieces = _row_pieces(n, rows, (k * d + k) * np.dtype(acc_dtype).itemsize)
    group_rows = max(rows, NUMPY_GROUP_ROWS)

    def framed(rows_: slice) -> np.ndarray:
        Xc = X[rows_]
        if scale != 1.0:
            Xc = Xc * scale
        if offset is not None:
            Xc = Xc - offset
        return Xc

    def work(piece: tuple[int, int]):
        lo, hi = piece
        block = np.empty((rows, k), dtype=dtype)
        if augment:
            padded = np.empty((rows, d + 1), dtype=dtype)
            padded[:, d] = 1
        sums = np.zeros((k, d), dtype=acc_dtype) if accumulate else None
        for g0 in range(lo, hi, group_rows):
            g1 = min(g0 + group_rows, hi)
            for c0 in range(g0, g1, rows):
                sl = slice(c0, min(c0 + rows, g1))
                m = sl.stop - sl.start
                dist = block[:m]
                if augment:
                    lhs = padded[:m]
                    lhs[:, :d] = X[sl]
                    if scale != 1.0:
                        lhs[:, :d] *= scale
                    if offset is not None:
                        lhs[:, :d] -= offset
                    np.matmul(lhs, rhs, out=dist)
                else:
                    np.matmul(framed(sl), neg2_ct, out=dist)
                    dist += c_norms
                labels[sl] = dist.argmin(axis=1)
            if accumulate:
                group = slice(g0, g1)
                Xg, lab, w = framed(group), labels[group], sample_weight[group]
                sums += _weighted_rows_sum(Xg, lab, w, k, acc_dtype)
        return sums

    def work_compiled(piece: tuple[int, int]):
        # BLAS forms each distance block centre-major, (k, rows); one compiled
        # pass takes every row's argmin (vectorised across rows, norms added on
        # the way) and another adds the rows, still in cache, to their sums.
        # Where BLAS is faster writing the block row-major (see
        # NUMPY_ROW_MAJOR_*), the argmin runs along each row instead; with
        # few features (NUMPY_DIRECT_*) the loop forms distances itself.
        if direct is not None:
            # No BLAS: one call takes the piece's rows (chunk by chunk only
            # where the rows must first be shifted or scaled).
            sums = np.zeros((k if accumulate else 0, d), dtype=acc_dtype)
            totals = np.zeros(k if accumulate else 0, dtype=acc_dtype)
            lo, hi = piece
            step = max(1, hi - lo if offset is None and scale == 1.0 else rows)
            for c0 in range(lo, hi, step):
                sl = slice(c0, min(c0 + step, hi))
                direct(
                    framed(sl),
                    neg2_c,
                    c_norms,
                    weights_all[sl] if accumulate else no_weights,
                    labels[sl],
                    sums,
                    totals,
                    accumulate,
                    NUMPY_GROUP_ROWS,
                )
            return (sums, totals) if accumulate else (None, None)
        block = np.empty((rows, k) if row_major else (k, rows), dtype=dtype)
        sums = np.zeros((k, d), dtype=acc_dtype) if accumulate else None
        # Rows are added in the data dtype (vectorised) and the partial sums
        # moved into the accumulation dtype every NUMPY_GROUP_ROWS rows.
        local = np.zeros((k if accumulate else 0, d), dtype=dtype)
        totals = np.zeros(k if accumulate else 0, dtype=acc_dtype)
        pending = 0
        lo, hi = piece
        for c0 in range(lo, hi, rows):
            sl = slice(c0, min(c0 + rows, hi))
            Xc = framed(sl)
            m = Xc.shape[0]
            if row_major:
                dist = block[:m]
                np.matmul(Xc, neg2_ct, out=dist)
            else:
                dist = block if m == rows else np.empty((k, m), dtype=dtype)
                np.matmul(neg2_c, Xc.T, out=dist)
            kernels.assign_block(
                dist,
                c_norms,
                Xc,
                weights_all[sl] if accumulate else no_weights,
                labels[sl],
                local,
                totals,
                layout,
                accumulate,
            )
            if accumulate:
                pending += m
                if pending >= NUMPY_GROUP_ROWS:
                    sums += local
                    local[...] = 0
                    pending = 0
        if accumulate:
            sums += local
            return sums, totals
        return None, None

    row_major = d >= NUMPY_ROW_MAJOR_RATIO * k or (
        k <= NUMPY_ROW_MAJOR_SMALL_K and 2 * d >= k and d >= 12
    )
    direct = None
    if kernels is not None and (
        d <= NUMPY_DIRECT_MAX_D or (d <= NUMPY_DIRECT_WIDE_D and k >= 2 * d)
    ):
        direct = kernels.assign_direct(d)
    layout = 1 if row_major else 0
    no_weights = np.zeros(0, dtype=dtype)
    weights_all = no_weights if sample_weight is None else sample_weight
    if kernels is not None:
        neg2_c = np.ascontiguousarray(neg2_ct.T)  # shared by the workers
    task = work if kernels is None else work_compiled
    partials = _threads.pool_map(
        task,
        pieces,
        hold_blas=direct is None and rows * k * d >= NUMPY_BLAS_THREADS_MIN_WORK,
        parallel=n > rows and enough,
    )
    sums = weights = None
    if accumulate and kernels is not None:
        sums, weights = partials[0]
        for part_sums, part_totals in partials[1:]:
            sums += part_sums
            weights += part_totals
    elif accumulate:
        sums = partials[0]
        for part in partials[1:]:
            sums += part
        weights = np.bincount(labels, weights=sample_weight, minlength=k).astype(
            acc_dtype, copy=False
        )
    return Assignment(labels=labels, sums=sums, weights=weights)


# The dtypes the compiled loops are typed for: numba has no float16 or
# bfloat16 arithmetic (a float16 operand raises NotImplementedError).
_COMPILED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _compiled_kernels(work: int, *arrays: Any) -> Any:
    """The numba row loops for a call doing ``work`` (see COMPILED_MIN_WORK),
    or None: numba absent or disabled, the work too small to need them, or
    operands they are not typed for.

    The size test comes first, so that small calls never import numba.
    ``arrays`` are the floating operands the caller will pass (None entries are
    ignored): the loops are returned only if they all share one dtype the
    loops support, so that half-precision or mixed operands take the array
    path instead of failing to compile.
    """
    if not USE_COMPILED or work < COMPILED_MIN_WORK:
        return None
    from ._numba_kernels import KERNELS

    dtypes = {np.dtype(a.dtype) for a in arrays if a is not None}
    if KERNELS is None or len(dtypes) > 1 or not dtypes <= set(_COMPILED_DTYPES):
        return None
    return KERNELS


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
        diff = xp.astype(X[sl, ...], dtype, copy=False) - xp.astype(
            xp.take(centers, labels[sl], axis=0), dtype, copy=False
        )
        parts.append(xp.sum(diff * diff, axis=1))
    return parts[0] if len(parts) == 1 else xp.concat(parts)


def weighted_inertia(
    xp: ModuleType, X: Array, sample_weight: Array, centers: Array, labels: Array
) -> float:
    """``sum_i w_i ‖x_i − c_{labels_i}‖²`` as a Python float.

    Squared distances are formed from differences; the sum is accumulated in the
    accumulation dtype. On NumPy each row's squared distance is formed in the data
    dtype (as scikit-learn does), with no widened copy of the data.
    """
    acc = accumulation_dtype(xp, X.dtype, _dev(X))
    if not is_numpy_namespace(xp):
        sq = sq_distances_to_assigned(xp, X, centers, labels, dtype=acc)
        return float(sq @ xp.astype(sample_weight, acc, copy=False))
    n, d = X.shape
    kernels = _compiled_kernels(n * d, X, centers, sample_weight)
    if kernels is not None:
        return float(kernels.inertia_rows(X, centers, labels, sample_weight))
    rows = chunk_rows(
        np,
        n,
        2 * d * X.dtype.itemsize + 16,
        cache_rows=max(MIN_CHUNK_ROWS, 2**20 // (X.dtype.itemsize * d)),
    )
    total = 0.0
    for sl in iter_chunks(n, rows):
        diff = X[sl] - centers[labels[sl]]
        sq = np.einsum("ij,ij->i", diff, diff)
        total += float(
            np.dot(sq.astype(acc, copy=False), sample_weight[sl].astype(acc))
        )
    return total


def centre_columns(xp: ModuleType, X: Array) -> tuple[Array, Array, Array]:
    """``(X - mean, mean, variance)`` per feature; X itself is not modified.

    On NumPy these are NumPy's own ``mean`` and ``var`` in X's dtype, bit for
    bit, which is what scikit-learn centres with and derives its tolerance
    from: the centred data then match scikit-learn's to the last bit, so
    k-means++ draws the same centres in float32 as in float64. The mean is the
    same whether or not the compiled loops are installed.

    Elsewhere the mean has X's dtype (it is subtracted in it) and the
    variance, used for the relative tolerance, is in the accumulation dtype:
    float32 data are summed one chunk at a time into float64 totals, with no
    widened copy of X and no n×d temporary beyond the result.
    """
    if is_numpy_namespace(xp):
        # A C-ordered copy first, as scikit-learn makes: along a contiguous
        # axis NumPy would sum pairwise, not row after row.
        return _centre_columns_numpy_exact(np.ascontiguousarray(X))
    acc = accumulation_dtype(xp, X.dtype, _dev(X))
    n, d = X.shape
    rows = chunk_rows(xp, n, 2 * d * _itemsize(acc))
    chunks = list(iter_chunks(n, rows))
    mean = xp.astype(_column_sums(xp, X, acc, chunks) / n, X.dtype)
    Xc = X - mean
    # Xc's column means are zero up to rounding; subtracting their square
    # removes what rounding left.
    s1 = _column_sums(xp, Xc, acc, chunks) / n
    s2 = _column_sums(xp, Xc, acc, chunks, squared=True) / n
    return Xc, mean, s2 - s1 * s1


def _column_sums(
    xp: ModuleType, X: Array, acc: Any, chunks: list[slice], *, squared: bool = False
) -> Array:
    """Column sums of X (or of its squares) in ``acc``, chunk by chunk.

    Each chunk is summed as a product with a row of ones: on CuPy a reduction
    over the leading axis of a (1e6, 128) float64 array took 25 ms on an H100,
    the product 1 ms.
    """
    total = None
    for sl in chunks:
        block = xp.astype(X[sl, ...], acc, copy=False)
        if squared:
            block = block * block
        ones = xp.ones((1, block.shape[0]), dtype=acc, device=_dev(X))
        part = (ones @ block)[0, :]
        total = part if total is None else total + part
    return total


def _centre_columns_numpy_exact(X: np.ndarray):
    """NumPy's ``mean`` and ``var`` bit for bit, without ``var``'s n×d temporaries.

    A reduction over axis 0 adds the rows in order; carrying the running total
    as the first row of each chunk keeps that order, so the variance is the one
    ``np.var`` (and scikit-learn's tolerance) computes.
    """
    n, d = X.shape
    mean = np.add.reduce(X, axis=0) / n
    Xc = np.empty(X.shape, dtype=X.dtype)
    rows = max(MIN_CHUNK_ROWS, 2**20 // (X.dtype.itemsize * d))
    block = np.empty((rows + 1, d), dtype=X.dtype)
    total = np.zeros(d, dtype=X.dtype)
    for sl in iter_chunks(n, rows):
        chunk = np.subtract(X[sl], mean, out=Xc[sl])
        m = chunk.shape[0]
        block[0] = total
        np.multiply(chunk, chunk, out=block[1 : m + 1])
        total = np.add.reduce(block[: m + 1], axis=0)
    return Xc, mean, total / n


def extremes(xp: ModuleType, X: Array) -> tuple[float, float]:
    """``(min, max)`` of X as floats; NaN if X holds a NaN. No temporary array.

    One compiled pass on NumPy where numba is available (large arrays in
    pieces on the thread pool), else two reductions.
    """
    kernels = _compiled_kernels(X.size, X) if is_numpy_namespace(xp) else None
    if (
        kernels is not None
        and X.size
        and (X.flags.c_contiguous or X.flags.f_contiguous)
    ):
        flat = np.ravel(X, order="K")  # a view, no copy
        parts = 4 * _threads.worker_threads() if flat.size >= 2**22 else 1
        pieces = iter_chunks(flat.size, -(-flat.size // parts))
        found = _threads.pool_map(lambda sl: kernels.min_max(flat[sl]), pieces)
        lows = [float(lo) for lo, _ in found]
        highs = [float(hi) for _, hi in found]
        if any(math.isnan(v) for v in lows):
            return math.nan, math.nan
        return min(lows), max(highs)
    return float(xp.min(X)), float(xp.max(X))


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


# ----------------------------------------------------------------- batched problems
#
# The same operations for a stack of independent problems, X of shape
# (B, n, d) and centres (B, k, d): batched products, per-problem argmin and
# per-problem segment sums, chunked over problems (and rows) from the
# working-memory budget. No loop over problems runs in Python except where a
# fast path says so.


def iter_problem_chunks(
    xp: ModuleType,
    n_problems: int,
    n_rows: int,
    bytes_per_row: int,
    *,
    cache_bytes: int | None = None,
) -> Iterator[tuple[slice, slice]]:
    """(problems, rows) slices whose temporaries fit the working-memory budget.

    ``cache_bytes`` is a smaller preferred size for CPU backends, as in
    :func:`chunk_rows`.
    """
    budget = working_memory_bytes()
    cache_rows = None
    if cache_bytes is not None and is_numpy_namespace(xp):
        budget = min(budget, cache_bytes)
        cache_rows = cache_bytes // max(bytes_per_row, 1)
    per_problem = max(1, n_rows * bytes_per_row)
    problems = max(1, min(n_problems, budget // per_problem))
    rows = (
        n_rows
        if problems > 1 or per_problem <= budget
        else chunk_rows(xp, n_rows, bytes_per_row, cache_rows=cache_rows)
    )
    for p in iter_chunks(n_problems, problems):
        for r in iter_chunks(n_rows, rows):
            yield p, r


def assign_batched(
    xp: ModuleType,
    X: Array,
    centers: Array,
    *,
    sample_weight: Array | None = None,
    accumulate: bool = False,
    acc_dtype: Any = None,
    offset: Array | None = None,
    scale: float = 1.0,
    active: Array | None = None,
    previous: Array | None = None,
    settled: Array | None = None,
) -> Assignment:
    """:func:`assign_chunked` for a stack of problems.

    Parameters
    ----------
    X : array of shape (B, n, d)
    centers : array of shape (B, k, d)
    sample_weight : array of shape (B, n), optional
    offset : array of shape (B, 1, d), optional
        Rows are used as ``x * scale - offset`` (see :func:`assign_chunked`).
    active : bool array of shape (B,), optional
        Problems whose results are needed. The others' outputs are unspecified:
        a fast path may skip them (NumPy does), the fallback computes them.
    previous : integer array of shape (B, n), optional
        The labels of the previous step (needs ``sample_weight``). The labels
        returned are then -1 on rows of zero weight and ``previous`` for
        inactive problems, and ``changed`` says which problems' labels differ
        from ``previous``. ``previous`` is consumed: a fast path may write the
        new labels into it and return it.
    settled : bool array of shape (B,), optional
        With ``previous``: problems whose sums the caller does not need if
        their labels come out unchanged. A fast path may leave those sums (and
        weights) zero; the fallback computes them.

    Returns
    -------
    Assignment
        ``labels`` (B, n), ``sums`` (B, k, d) and ``weights`` (B, k); with
        ``previous``, ``changed`` (B,) bool.
    """
    B, n, d = X.shape
    k = centers.shape[1]
    if acc_dtype is None:
        acc_dtype = accumulation_dtype(xp, X.dtype, _dev(X))
    if previous is not None and sample_weight is None:
        raise ValueError("previous labels need the sample weights")
    if is_numpy_namespace(xp):
        return _assign_batched_numpy(
            X,
            centers,
            sample_weight,
            accumulate,
            acc_dtype,
            offset,
            scale,
            active,
            previous,
            settled,
        )
    device = _dev(X)
    neg2_ct = stacked_transpose(xp, centers * -2)
    c_norms = row_sq_norms(xp, centers)
    use_kernels = _use_cupy_kernels(xp, X.dtype, acc_dtype)
    moved = offset is not None or scale != 1.0
    ids = xp.arange(k, device=device)
    sums = weights = None
    if accumulate:
        sums = xp.zeros((B, k, d), dtype=acc_dtype, device=device)
        weights = xp.zeros((B, k), dtype=acc_dtype, device=device)
    label_rows: list[list[Array]] = []
    itemsize = _itemsize(X.dtype)
    for p, r in iter_problem_chunks(xp, B, n, itemsize * (2 * k + d) + 16):
        if r.start == 0:
            label_rows.append([])
        Xc = X[p, r, :]
        if scale != 1.0:
            Xc = Xc * scale
        if offset is not None:
            Xc = Xc - offset[p, ...]
        if use_kernels:
            # Rows used as they are are summed after the loop, in one pass.
            per_chunk = accumulate and moved
            labels = _assign_problems_cupy(
                Xc,
                neg2_ct[p, ...],
                c_norms[p, ...],
                sample_weight[p, r] if per_chunk else None,
                sums[p, ...] if per_chunk else None,
                weights[p, ...] if per_chunk else None,
            )
            label_rows[-1].append(labels)
            continue
        dist = Xc @ neg2_ct[p, ...] + c_norms[p, None, :]
        labels = xp.argmin(dist, axis=2)
        label_rows[-1].append(labels)
        if accumulate:
            w = sample_weight[p, r]
            onehot = xp.astype(labels[:, :, None] == ids, X.dtype)
            part = xp.permute_dims(onehot, (0, 2, 1)) @ (Xc * w[:, :, None])
            sums[p, ...] = sums[p, ...] + xp.astype(part, acc_dtype, copy=False)
            weights[p, ...] = weights[p, ...] + xp.sum(
                xp.astype(onehot * w[:, :, None], acc_dtype, copy=False), axis=1
            )
    parts = [row[0] if len(row) == 1 else xp.concat(row, axis=1) for row in label_rows]
    labels = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
    if use_kernels and accumulate and not moved:
        _sum_problems_cupy(X, sample_weight, labels, sums, weights)
    changed = None
    if previous is not None:
        labels = xp.astype(labels, previous.dtype)
        labels = xp.where(sample_weight > 0, labels, xp.full_like(labels, -1))
        if active is not None:
            labels = xp.where(active[:, None], labels, previous)
        changed = xp.any(labels != previous, axis=1)
    return Assignment(labels=labels, sums=sums, weights=weights, changed=changed)


def _assign_problems_cupy(Xc, neg2_ct, c_norms, w, sums, weights):
    # One (problems, rows) chunk of a stack on CuPy: the batched product, then
    # the kernels over all its rows at once, adding into views of the sums.
    import cupy

    from . import _cupy_kernels as cuk

    P, R, _ = Xc.shape
    k = neg2_ct.shape[2]
    dist = cupy.matmul(Xc, neg2_ct)
    labels = cupy.empty(P * R, dtype=cupy.int64)
    cuk.argmin_rows(dist.reshape(P * R, k), c_norms, R, labels)
    labels = labels.reshape(P, R)
    if sums is not None:
        _sum_problems_cupy(Xc, w, labels, sums, weights)
    return labels


def _sum_problems_cupy(X, w, labels, sums, weights):
    # The sums of a stack (or of a chunk of one) in one pass: cells
    # problem * k + label, added into ``sums`` (B, k, d) and ``weights`` (B, k).
    import cupy

    from . import _cupy_kernels as cuk

    B, n, d = X.shape
    k = weights.shape[1]
    cells = labels + (cupy.arange(B, dtype=labels.dtype) * k)[:, None]
    cuk.segment_sums(
        X.reshape(B * n, d), w.reshape(B * n), cells.reshape(B * n), sums, weights
    )


def _assign_batched_numpy(
    X,
    centers,
    sample_weight,
    accumulate,
    acc_dtype,
    offset,
    scale,
    active,
    previous,
    settled,
):
    # Only the problems still running are computed (the others' outputs are
    # zeros, which the algorithm ignores), in groups of problems small enough
    # for the caches, spread over the thread pool with BLAS held to one thread.
    # Sums use one sparse product per group over ids problem * k + label.
    B, n, d = X.shape
    k = centers.shape[1]
    if accumulate and (offset is not None or scale != 1.0):
        raise ValueError("accumulate=True expects data already in the centres' frame")
    kernels = _compiled_kernels(B * n * k * d, X, centers, sample_weight)
    changed = None
    if previous is None:
        labels = np.zeros((B, n), dtype=np.int32)
    else:
        labels = previous
        changed = np.zeros(B, dtype=bool)
    sums = np.zeros((B, k, d), dtype=acc_dtype) if accumulate else None
    weights = np.zeros((B, k), dtype=acc_dtype) if accumulate else None
    todo = np.arange(B) if active is None else np.flatnonzero(active)
    if todo.size == 0:
        return Assignment(labels=labels, sums=sums, weights=weights, changed=changed)
    per_problem = max(1, n * X.dtype.itemsize * (2 * k + d))
    group = int(max(1, min(todo.size, NUMPY_BATCH_BYTES // per_problem)))
    if group * per_problem > working_memory_bytes():
        group = 1
    groups = [todo[i : i + group] for i in range(0, todo.size, group)]
    row_major = d >= NUMPY_ROW_MAJOR_RATIO * k and k >= NUMPY_ROW_MAJOR_MIN_K
    no_weights = np.zeros((0, n), dtype=X.dtype)
    no_changes = np.zeros(0, dtype=bool)

    def work(idx: np.ndarray) -> None:
        # A run of consecutive problems is sliced (a view), not gathered.
        contiguous = idx[-1] - idx[0] + 1 == idx.size
        sel = slice(int(idx[0]), int(idx[-1]) + 1) if contiguous else idx
        Xg = X[sel]
        if scale != 1.0:
            Xg = Xg * scale
        if offset is not None:
            Xg = Xg - offset[sel]
        m = idx.size
        # Centre terms of this group only (late iterations run few problems).
        Cg = centers[sel]
        neg2_c = Cg * -2  # (m, k, d)
        c_norms = row_sq_norms(np, Cg)
        # Every product is X @ (-2 C)ᵀ with both operands contiguous (see
        # stacked_transpose).
        neg2_ct = stacked_transpose(np, neg2_c)
        if kernels is not None:
            if row_major:
                dist = np.matmul(Xg, neg2_ct)
            else:
                # Centre-major blocks (m, k, n) for the vectorised argmin,
                # written through their transpose.
                dist = np.empty((m, k, n), dtype=Xg.dtype)
                np.matmul(Xg, neg2_ct, out=dist.transpose(0, 2, 1))
            part = np.empty((m, k, d) if accumulate else (0, k, d), dtype=acc_dtype)
            totals = np.empty((m, k) if accumulate else (0, k), dtype=acc_dtype)
            kernels.assign_group(
                dist,
                c_norms,
                np.ascontiguousarray(Xg),
                np.ascontiguousarray(
                    no_weights if sample_weight is None else sample_weight[sel]
                ),
                idx,
                labels,
                no_changes if changed is None else changed,
                part,
                totals,
                row_major,
                previous is not None,
                accumulate,
                no_changes if settled is None else settled,
            )
            if accumulate:
                sums[sel] = part
                weights[sel] = totals
            return
        dist = np.matmul(Xg, neg2_ct)
        dist += c_norms[:, None, :]
        lab = dist.argmin(axis=2).astype(np.int32)
        if previous is None:
            labels[sel] = lab
        else:
            lab_w = np.where(sample_weight[sel] > 0, lab, -1)
            changed[sel] = (lab_w != labels[sel]).any(axis=1)
            labels[sel] = lab_w
        if accumulate:
            ids = (lab + (np.arange(m, dtype=np.int32) * k)[:, None]).reshape(-1)
            w = sample_weight[sel].reshape(-1)
            rows = np.ascontiguousarray(Xg).reshape(m * n, d)
            part = _weighted_rows_sum(rows, ids, w, m * k, acc_dtype)
            sums[sel] = np.asarray(part, dtype=acc_dtype).reshape(m, k, d)
            weights[sel] = np.bincount(ids, weights=w, minlength=m * k).reshape(m, k)

    _threads.pool_map(work, groups, hold_blas=n * k * d >= NUMPY_BLAS_THREADS_MIN_WORK)
    return Assignment(labels=labels, sums=sums, weights=weights, changed=changed)


def count_sorted(xp: ModuleType, rows: Array, values: Array, *, side: str) -> Array:
    """Batched ``searchsorted``: for each row of ``rows`` (sorted ascending), how
    many entries are ``< values`` (``side='left'``) or ``<= values``
    (``side='right'``).

    Parameters
    ----------
    rows : array of shape (B, n)
    values : array of shape (B, m)

    Returns
    -------
    counts : integer array of shape (B, m), equal to ``searchsorted(rows[b],
        values[b], side=side)`` for every b.
    """
    B, n = rows.shape
    if is_numpy_namespace(xp):
        # NumPy has no batched searchsorted; B binary searches, O(m log n) each,
        # beat the O(n m) comparisons below whenever n is more than tiny.
        out = np.empty(values.shape, dtype=np.intp)
        for b in range(B):
            out[b] = np.searchsorted(rows[b], values[b], side=side)
        return out
    m = values.shape[1]
    total = xp.zeros((B, m), dtype=xp.int64, device=_dev(rows))
    for p, r in iter_problem_chunks(xp, B, n, 2 * m):
        block = rows[p, r, None]
        if side == "left":
            hits = block < values[p, None, :]
        else:
            hits = block <= values[p, None, :]
        total[p, ...] = total[p, ...] + xp.sum(xp.astype(hits, xp.int64), axis=1)
    return total


def largest_indices_batched(xp: ModuleType, values: Array, counts: np.ndarray) -> Array:
    """For each row b, the indices of its ``counts[b]`` largest values, largest first.

    Negative values mark padding rows, which are never selected. Returns an
    array of shape (B, max(counts)); entries past ``counts[b]`` are
    unspecified. On NumPy each row uses the same selection as
    :func:`largest_indices` (only rows with a positive count are searched), so a
    problem relocates its empty clusters exactly as a single fit does.
    """
    width = int(counts.max())
    if is_numpy_namespace(xp):
        out = np.zeros((values.shape[0], width), dtype=np.intp)
        for b in np.flatnonzero(counts):
            # Searched among the non-padding rows only, as a fit on those rows.
            rows = np.flatnonzero(values[b] >= 0)
            out[b, : counts[b]] = rows[
                largest_indices(np, values[b, rows], int(counts[b]))
            ]
        return out
    return xp.argsort(values, axis=1, descending=True, stable=True)[:, :width]


def same_clustering_batched(xp: ModuleType, labels1: Array, labels2: Array) -> Array:
    """Per problem, :func:`is_same_clustering` of two (B, n) label arrays → (B,) bool."""
    order = xp.argsort(labels1, axis=1, stable=True)
    a = xp.take_along_axis(labels1, order, axis=1)
    b = xp.take_along_axis(labels2, order, axis=1)
    consistent = (a[:, 1:] != a[:, :-1]) | (b[:, 1:] == b[:, :-1])
    return xp.all(consistent, axis=1)


def gather_rows(xp: ModuleType, X: Array, indices: Array) -> Array:
    """``X[b, indices[b, j], :]`` for every b, j: (B, m, d) from (B, n, d), (B, m)."""
    B, m = indices.shape
    if is_numpy_namespace(xp):
        # Fancy indexing: 5x faster than take_along_axis with a broadcast index.
        return X[np.arange(B)[:, None], indices]
    d = X.shape[2]
    idx = xp.broadcast_to(indices[:, :, None], (B, m, d))
    return xp.take_along_axis(X, idx, axis=1)


def _map_problems(n_problems: int, work: Any) -> None:
    """Call ``work(slice)`` on consecutive groups of problems, on the thread pool."""
    # Several groups per thread, taken one at a time; each problem's results are
    # its own, so the grouping does not change them.
    parts = 4 * _threads.worker_threads()
    size = -(-n_problems // min(n_problems, parts))
    _threads.pool_map(work, iter_chunks(n_problems, size))


def centre_problems(
    xp: ModuleType,
    X: Array,
    sample_weight: Array,
    scale: float,
    *,
    with_extremes: bool = False,
) -> tuple[Any, ...]:
    """Per problem, centre the rows of positive weight; the others become zeros.

    Returns ``(Xc, mean, var)``: ``Xc = (X * scale - mean) * valid`` in X's
    dtype, ``mean`` of shape (B, 1, d) in X's dtype and ``var`` of shape (B, d)
    in the accumulation dtype, both over the valid rows (weight > 0). Sums
    accumulate in X's dtype, as :func:`centre_columns` does on NumPy, so that
    a problem is centred as a single fit on its valid rows is. ``scale`` is a
    power of two (exact).

    With ``with_extremes``, a fourth item ``(min, max)`` of all of X (see
    :func:`extremes`): on NumPy the compiled pass that reads X for the sums
    finds them, which saves a pass over X from memory. Without that pass only
    the extremes are computed and the first three items are None: the caller
    picks the scale from the extremes and centres then (centring first at
    scale 1 could overflow, and would warn, for data that need rescaling).
    When X holds NaN or infinity only this item is meaningful (the caller is
    expected to raise).
    """
    B, n, d = X.shape
    acc = accumulation_dtype(xp, X.dtype, _dev(X))
    kernels = (
        _compiled_kernels(B * n * d, X, sample_weight) if is_numpy_namespace(xp) else None
    )
    if kernels is not None:
        X = np.ascontiguousarray(X)
        w = np.ascontiguousarray(sample_weight)
        Xc = np.empty_like(X)
        mean = np.empty((B, d), dtype=X.dtype)
        var = np.empty((B, d), dtype=np.float64)
        ext = np.empty((B, 2), dtype=np.float64)

        def work(sl: slice) -> None:
            kernels.centre_problems(
                X[sl], w[sl], scale, Xc[sl], mean[sl], var[sl], ext[sl]
            )

        _map_problems(B, work)
        if not with_extremes:
            return Xc, mean[:, None, :], var
        if np.isnan(ext).any():
            return Xc, mean[:, None, :], var, (math.nan, math.nan)
        return (
            Xc,
            mean[:, None, :],
            var,
            (float(ext[:, 0].min()), float(ext[:, 1].max())),
        )
    if with_extremes:
        return None, None, None, extremes(xp, X)
    Xs = X * scale if scale != 1.0 else X
    valid = xp.astype(sample_weight > 0, X.dtype)[:, :, None]
    count = xp.sum(valid, axis=1)  # (B, 1), exact below 2**24 rows
    # Sums and quotients in the data dtype, as a single fit's NumPy mean and
    # var: padding rows add exact zeros, so each problem gets its valid rows'.
    mean = (xp.sum(Xs * valid, axis=1) / count)[:, None, :]
    Xc = (Xs - mean) * valid
    var = xp.sum(Xc * Xc, axis=1) / count
    return Xc, mean, xp.astype(var, acc)


def legacy_uniforms(
    seeds: np.ndarray, count: int, *, work: int | None = None
) -> np.ndarray:
    """Row b = ``numpy.random.RandomState(seeds[b]).random_sample(count)``.

    ``seeds`` holds 32-bit ints. One compiled loop for all seeds where numba
    is available (the same Mersenne Twister, bit for bit), else one reseeded
    generator per row (1000 seeds of 40 draws: 4.7 ms, compiled 1.4 ms).
    ``work`` is that of the fit the draws are for (see COMPILED_MIN_WORK), so
    that they are compiled when its steps are; by default, the draws' count.
    """
    out = np.empty((seeds.shape[0], count))
    kernels = _compiled_kernels(out.size if work is None else work)
    if kernels is not None:
        kernels.legacy_uniforms(np.ascontiguousarray(seeds, dtype=np.uint32), out)
        return out
    generator = np.random.RandomState()
    for b, seed in enumerate(seeds):
        generator.seed(int(seed))
        out[b] = generator.random_sample(count)
    return out


def kmeanspp_indices_compiled(
    xp: ModuleType,
    X: Array,
    sample_weight: Array,
    p: Array,
    first_u: np.ndarray,
    trial_u: np.ndarray,
) -> Array | None:
    """The compiled greedy k-means++ of every problem, or None without one.

    Selects the rows of
    :func:`arraykmeans._batched_lloyd.kmeans_plusplus_batched` (the same float
    operations, in a loop per problem that keeps the problem in cache).
    ``first_u`` (B,) and ``trial_u`` (B, k - 1, n_local_trials) are the host
    uniform draws, ``p`` (B, n) the normalised weights. Returns indices of
    shape (B, k).
    """
    B, n, d = X.shape
    k = trial_u.shape[1] + 1
    # Counted as one assignment step: compiled when the fit's steps are.
    kernels = (
        _compiled_kernels(B * n * k * d, X, sample_weight, p)
        if is_numpy_namespace(xp)
        else None
    )
    if kernels is None:
        return None
    X = np.ascontiguousarray(X)
    w = np.ascontiguousarray(sample_weight)
    p = np.ascontiguousarray(p)
    first_u = np.ascontiguousarray(first_u, dtype=np.float64)
    trial_u = np.ascontiguousarray(trial_u, dtype=np.float64)
    out = np.empty((B, k), dtype=np.int64)
    loop = kernels.kmeanspp_problems(d)  # made here, not by each worker

    def work(sl: slice) -> None:
        loop(X[sl], w[sl], p[sl], first_u[sl], trial_u[sl], out[sl])

    _map_problems(B, work)
    return out


def weighted_inertia_batched(
    xp: ModuleType, X: Array, sample_weight: Array, centers: Array, labels: Array
) -> Array:
    """Per problem ``sum_i w_i ‖x_i − c_{labels_i}‖²`` → (B,), accumulation dtype.

    Rows with a negative label (padding) count as weight zero.
    """
    B, n, d = X.shape
    acc = accumulation_dtype(xp, X.dtype, _dev(X))
    kernels = (
        _compiled_kernels(B * n * d, X, centers, sample_weight)
        if is_numpy_namespace(xp)
        else None
    )
    if kernels is not None:
        out = np.zeros(B, dtype=np.float64)

        def work(sl: slice) -> None:
            kernels.inertia_problems(
                X[sl], centers[sl], labels[sl], sample_weight[sl], out[sl]
            )

        _map_problems(B, work)
        return out
    total = xp.zeros((B,), dtype=acc, device=_dev(X))
    for p, r in iter_problem_chunks(xp, B, n, 3 * d * _itemsize(X.dtype) + 16):
        lab = labels[p, r]
        assigned = gather_rows(xp, centers[p, ...], xp.where(lab < 0, 0, lab))
        diff = X[p, r, :] - assigned
        sq = xp.astype(xp.sum(diff * diff, axis=2), acc, copy=False)
        w = xp.astype(xp.where(lab < 0, 0, sample_weight[p, r]), acc, copy=False)
        total[p] = total[p] + xp.sum(sq * w, axis=1)
    return total


# ------------------------------------------------------------------------- helpers


def scale_into(xp: ModuleType, values: Array, factor: float, dtype: Any) -> Array:
    """``values * factor`` (non-negative values, positive factor) as ``dtype``.

    Results beyond ``dtype``'s range are inf, as the product would round them,
    but set directly: on NumPy an overflowing product or cast also warns, and
    distances or inertias of data near the ends of the float range overflow
    where the data themselves do not.
    """
    limit = float(xp.finfo(dtype).max) / factor  # a Python float: inf, no error
    values = xp.where(values > limit, xp.full_like(values, math.inf), values)
    if factor != 1.0:
        values = values * factor
    return xp.astype(values, dtype, copy=False)


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
