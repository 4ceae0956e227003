"""The NumPy backend: cache-sized chunks, worker threads and compiled loops.

:class:`NumpyBackend` overrides the standard backend where NumPy can do better:
the assignment step is organised for CPU caches and cores (chunks small enough
that the distance block stays in cache, spread over worker threads with BLAS
held to one thread, as scikit-learn does with OpenMP; see
:mod:`arraykmeans.backends._threads`), sums use sorted segment sums, a sparse
product (SciPy) or ``np.add.at``, and where numba is installed the compiled
row loops of :mod:`arraykmeans.backends._numba_kernels` fuse the argmin with
the sums. Rows are cut into pieces by the data's shape alone, threads take
pieces one at a time, and the pieces' partial sums are added in piece order:
results depend neither on the thread count nor on timing.

Every path gives the labels of the standard backend (the same products, the
same comparisons, first index on ties) and sums equal to rounding; the tests
compare them. Switches and thresholds come from the config
(``use_compiled``, ``compiled_min_work``, ``thread_min_work``, ``use_scipy``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._config import _settings
from . import _threads
from ._standard import (
    MIN_CHUNK_ROWS,
    Assignment,
    StandardBackend,
    iter_chunks,
    working_memory_bytes,
)

Array = Any


def _chunk_rows(n_rows: int, bytes_per_row: int, cache_rows: int) -> int:
    rows = min(working_memory_bytes() // max(bytes_per_row, 1), cache_rows)
    return max(1, min(n_rows, max(rows, MIN_CHUNK_ROWS)))


def _row_sq_norms(X: np.ndarray) -> np.ndarray:
    return np.einsum("...j,...j->...", X, X)


def _contiguous_transpose(C: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.swapaxes(C, -1, -2))


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
# Below ``thread_min_work`` multiply-adds (n * k * d) one thread is as fast as
# the pool
# (the config's ``thread_min_work``, default 2**27)
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
# The compiled row loops (config ``use_compiled``) are used for calls doing at
# least ``compiled_min_work`` (default 2**16) of work: multiply-adds of an assignment
# step (n * k * d), elements of a pass over the data, or their equivalent.
# Below it plain NumPy operations are used, and a fit that small neither
# imports numba nor compiles anything. The loops cost once per process: 0.8-1.3 s
# to load numba and them from a filled cache, 3-6 s to compile them (a first
# fit of the 150-row iris data took 3.6 s). NumPy steps took 1.1-7x the
# compiled time at every size measured (2**14 to 2**22), but below 2**16 at
# most 0.5 ms each, so a whole fit takes milliseconds; the data sets of the
# benchmarks above that (digits at 1.15e6, single problems of bench_batched at
# 1.3e5, bench_cpu's smallest at 1.6e5 in quick mode) stay compiled.
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
    part = (
        _sparse_segment_sum(values, ids, weights, k)
        if _settings()["use_scipy"]
        else None
    )
    if part is None:
        part = _segment_sum_numpy(values * weights[:, None], ids, k, acc_dtype)
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
    """NumPy assignment: BLAS distance blocks (or the compiled direct loop),
    pieces of rows shared between threads, partial sums added at the end."""
    plan = _RowAssignment(
        X, centers, sample_weight, accumulate, acc_dtype, offset, scale
    )
    n, k = plan.n, plan.k
    # Threads pay only when there is enough work to share.
    thread_min_work = _settings()["thread_min_work"]
    work = n * k * plan.d
    enough = work >= thread_min_work or (
        n >= NUMPY_THREAD_MIN_ROWS and work >= thread_min_work // 4
    )
    # The rows are cut into pieces whatever the thread count (see _row_pieces).
    pieces = _row_pieces(n, plan.rows, (k * plan.d + k) * np.dtype(acc_dtype).itemsize)
    partials = _threads.pool_map(
        plan.piece,
        pieces,
        hold_blas=plan.direct is None
        and plan.rows * k * plan.d >= NUMPY_BLAS_THREADS_MIN_WORK,
        parallel=n > plan.rows and enough,
    )
    if not accumulate:
        return Assignment(labels=plan.labels, sums=None, weights=None)
    sums, weights = partials[0]
    for part_sums, part_weights in partials[1:]:
        sums += part_sums
        if part_weights is not None:
            weights += part_weights
    if weights is None:
        weights = np.bincount(plan.labels, weights=sample_weight, minlength=k)
        weights = weights.astype(acc_dtype, copy=False)
    return Assignment(labels=plan.labels, sums=sums, weights=weights)


class _RowAssignment:
    """One NumPy assignment call: its constants, its output labels, and the
    work on one piece of rows (:meth:`piece`), which threads share."""

    def __init__(self, X, centers, sample_weight, accumulate, acc_dtype, offset, scale):
        self.X, self.offset, self.scale = X, offset, scale
        self.accumulate, self.acc_dtype = accumulate, acc_dtype
        self.n, self.d = n, d = X.shape
        self.k = k = centers.shape[0]
        self.dtype = dtype = X.dtype
        rows = NUMPY_BLOCK_BYTES // (dtype.itemsize * max(k, 1))
        rows = min(rows, NUMPY_CHUNK_BYTES // (dtype.itemsize * max(d, 1)))
        rows = int(min(max(rows, NUMPY_MIN_ROWS), NUMPY_MAX_ROWS, n))
        self.rows = _chunk_rows(n, dtype.itemsize * (k + 2 * d) + 16, rows)
        self.neg2_ct = (centers * -2).T
        self.c_norms = _row_sq_norms(centers)
        self.kernels = _compiled_kernels(n * k * d, X, centers, sample_weight)
        self.labels = np.empty(n, dtype=np.int32)
        self.no_weights = np.zeros(0, dtype=dtype)
        self.weights = self.no_weights if sample_weight is None else sample_weight
        # Within a piece, sums are formed per group of rows, so that the
        # sparse product's fixed cost is paid rarely.
        self.group_rows = max(self.rows, NUMPY_GROUP_ROWS)
        # With many centres per feature, a column of ones appended to the rows
        # and the centre norms appended to the product's right-hand side let
        # BLAS add the norms: one pass over the distance block less, for a
        # copy of the rows.
        self.augment = self.kernels is None and k >= 2 * d
        if self.augment:
            self.rhs = np.concatenate([self.neg2_ct, self.c_norms[None, :]], axis=0)
        self.row_major = d >= NUMPY_ROW_MAJOR_RATIO * k or (
            k <= NUMPY_ROW_MAJOR_SMALL_K and 2 * d >= k and d >= 12
        )
        self.direct = None
        if self.kernels is not None:
            self.neg2_c = np.ascontiguousarray(self.neg2_ct.T)  # shared by the workers
            if d <= NUMPY_DIRECT_MAX_D or (d <= NUMPY_DIRECT_WIDE_D and k >= 2 * d):
                self.direct = self.kernels.assign_direct(d)

    def framed(self, rows: slice) -> np.ndarray:
        Xc = self.X[rows]
        if self.scale != 1.0:
            Xc = Xc * self.scale
        if self.offset is not None:
            Xc = Xc - self.offset
        return Xc

    def piece(self, piece: tuple[int, int]):
        """(sums, weights) of the rows ``lo:hi`` (None where not accumulating;
        weights None on the uncompiled path, counted at the end), labels
        written into ``self.labels``."""
        if self.kernels is None:
            return self._piece_numpy(*piece), None
        if self.direct is not None:
            return self._piece_direct(*piece)
        return self._piece_compiled(*piece)

    def _piece_numpy(self, lo: int, hi: int):
        X, rows, k, d = self.X, self.rows, self.k, self.d
        block = np.empty((rows, k), dtype=self.dtype)
        if self.augment:
            padded = np.empty((rows, d + 1), dtype=self.dtype)
            padded[:, d] = 1
        sums = np.zeros((k, d), dtype=self.acc_dtype) if self.accumulate else None
        for g0 in range(lo, hi, self.group_rows):
            g1 = min(g0 + self.group_rows, hi)
            for c0 in range(g0, g1, rows):
                sl = slice(c0, min(c0 + rows, g1))
                dist = block[: sl.stop - sl.start]
                if self.augment:
                    lhs = padded[: sl.stop - sl.start]
                    lhs[:, :d] = X[sl]
                    if self.scale != 1.0:
                        lhs[:, :d] *= self.scale
                    if self.offset is not None:
                        lhs[:, :d] -= self.offset
                    np.matmul(lhs, self.rhs, out=dist)
                else:
                    np.matmul(self.framed(sl), self.neg2_ct, out=dist)
                    dist += self.c_norms
                self.labels[sl] = dist.argmin(axis=1)
            if self.accumulate:
                group = slice(g0, g1)
                Xg, lab, w = self.framed(group), self.labels[group], self.weights[group]
                sums += _weighted_rows_sum(Xg, lab, w, k, self.acc_dtype)
        return sums

    def _piece_direct(self, lo: int, hi: int):
        # No BLAS: the compiled loop forms the distances itself, one call for
        # the piece's rows (group by group only where the rows must first be
        # shifted or scaled: the loop moves its sums into ``sums`` every
        # group of rows and at the end of a call, so the sums are the same
        # bit for bit either way).
        k, acc = self.k if self.accumulate else 0, self.acc_dtype
        sums = np.zeros((k, self.d), dtype=acc)
        totals = np.zeros(k, dtype=acc)
        plain = self.offset is None and self.scale == 1.0
        step = max(1, hi - lo if plain else NUMPY_GROUP_ROWS)
        for c0 in range(lo, hi, step):
            sl = slice(c0, min(c0 + step, hi))
            self.direct(
                self.framed(sl), self.neg2_c, self.c_norms,
                self.weights[sl] if self.accumulate else self.no_weights,
                self.labels[sl], sums, totals, self.accumulate, NUMPY_GROUP_ROWS,
            )  # fmt: skip
        return (sums, totals) if self.accumulate else (None, None)

    def _piece_compiled(self, lo: int, hi: int):
        # BLAS forms each distance block centre-major, (k, rows); one compiled
        # pass takes every row's argmin (vectorised across rows, norms added on
        # the way) and another adds the rows, still in cache, to their sums.
        # Where BLAS is faster writing the block row-major (see
        # NUMPY_ROW_MAJOR_*), the argmin runs along each row instead.
        rows, k, d, dtype = self.rows, self.k, self.d, self.dtype
        acc = self.accumulate
        block = np.empty((rows, k) if self.row_major else (k, rows), dtype=dtype)
        sums = np.zeros((k, d), dtype=self.acc_dtype) if acc else None
        # Rows are added in the data dtype (vectorised) and the partial sums
        # moved into the accumulation dtype every NUMPY_GROUP_ROWS rows.
        local = np.zeros((k if acc else 0, d), dtype=dtype)
        totals = np.zeros(k if acc else 0, dtype=self.acc_dtype)
        pending = 0
        for c0 in range(lo, hi, rows):
            sl = slice(c0, min(c0 + rows, hi))
            Xc = self.framed(sl)
            m = Xc.shape[0]
            if self.row_major:
                dist = block[:m]
                np.matmul(Xc, self.neg2_ct, out=dist)
            else:
                dist = block if m == rows else np.empty((k, m), dtype=dtype)
                np.matmul(self.neg2_c, Xc.T, out=dist)
            self.kernels.assign_block(
                dist, self.c_norms, Xc,
                self.weights[sl] if acc else self.no_weights,
                self.labels[sl], local, totals, 1 if self.row_major else 0, acc,
            )  # fmt: skip
            if acc:
                pending += m
                if pending >= NUMPY_GROUP_ROWS:
                    sums += local
                    local[...] = 0
                    pending = 0
        if acc:
            sums += local
            return sums, totals
        return None, None


# The dtypes the compiled loops are typed for: numba has no float16 or
# bfloat16 arithmetic (a float16 operand raises NotImplementedError).
_COMPILED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _compiled_kernels(work: int, *arrays: Any) -> Any:
    """The numba row loops for a call doing ``work`` (see ``compiled_min_work``),
    or None: numba absent or disabled, the work too small to need them, or
    operands they are not typed for.

    The size test comes first, so that small calls never import numba.
    ``arrays`` are the floating operands the caller will pass (None entries are
    ignored): the loops are returned only if they all share one dtype the
    loops support, so that half-precision or mixed operands take the array
    path instead of failing to compile.
    """
    settings = _settings()
    if not settings["use_compiled"] or work < settings["compiled_min_work"]:
        return None
    from ._numba_kernels import KERNELS

    dtypes = {np.dtype(a.dtype) for a in arrays if a is not None}
    if KERNELS is None or len(dtypes) > 1 or not dtypes <= set(_COMPILED_DTYPES):
        return None
    return KERNELS


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
    call = _BatchedCall(
        X=X, centers=centers, sample_weight=sample_weight, accumulate=accumulate,
        acc_dtype=acc_dtype, offset=offset, scale=scale, previous=previous,
        settled=settled, kernels=kernels, labels=labels, changed=changed,
        sums=sums, weights=weights,
    )  # fmt: skip
    _threads.pool_map(
        call.group, groups, hold_blas=n * k * d >= NUMPY_BLAS_THREADS_MIN_WORK
    )
    return Assignment(labels=labels, sums=sums, weights=weights, changed=changed)


@dataclass
class _BatchedCall:
    """One batched NumPy assignment: inputs, outputs (written in place by
    groups of problems, which threads share) and the work on one group."""

    X: np.ndarray
    centers: np.ndarray
    sample_weight: np.ndarray | None
    accumulate: bool
    acc_dtype: Any
    offset: np.ndarray | None
    scale: float
    previous: np.ndarray | None
    settled: np.ndarray | None
    kernels: Any
    labels: np.ndarray
    changed: np.ndarray | None
    sums: np.ndarray | None
    weights: np.ndarray | None

    def group(self, idx: np.ndarray) -> None:
        """Assign the problems ``idx`` (sorted)."""
        # A run of consecutive problems is sliced (a view), not gathered.
        contiguous = idx[-1] - idx[0] + 1 == idx.size
        sel = slice(int(idx[0]), int(idx[-1]) + 1) if contiguous else idx
        Xg = self.X[sel]
        if self.scale != 1.0:
            Xg = Xg * self.scale
        if self.offset is not None:
            Xg = Xg - self.offset[sel]
        # Centre terms of this group only (late iterations run few problems).
        Cg = self.centers[sel]
        c_norms = _row_sq_norms(Cg)
        # Every product is X @ (-2 C)ᵀ with both operands contiguous (see
        # stacked_transpose).
        neg2_ct = _contiguous_transpose(Cg * -2)
        if self.kernels is not None:
            self._compiled(idx, sel, Xg, neg2_ct, c_norms)
        else:
            self._plain(idx, sel, Xg, neg2_ct, c_norms)

    def _compiled(self, idx, sel, Xg, neg2_ct, c_norms) -> None:
        m, n, d = Xg.shape
        k = c_norms.shape[1]
        acc = self.accumulate
        row_major = d >= NUMPY_ROW_MAJOR_RATIO * k and k >= NUMPY_ROW_MAJOR_MIN_K
        if row_major:
            dist = np.matmul(Xg, neg2_ct)
        else:
            # Centre-major blocks (m, k, n) for the vectorised argmin, written
            # through their transpose.
            dist = np.empty((m, k, n), dtype=Xg.dtype)
            np.matmul(Xg, neg2_ct, out=dist.transpose(0, 2, 1))
        part = np.empty((m, k, d) if acc else (0, k, d), dtype=self.acc_dtype)
        totals = np.empty((m, k) if acc else (0, k), dtype=self.acc_dtype)
        no_changes = np.zeros(0, dtype=bool)
        weights = self.sample_weight
        self.kernels.assign_group(
            dist, c_norms, np.ascontiguousarray(Xg),
            np.ascontiguousarray(
                np.zeros((0, n), Xg.dtype) if weights is None else weights[sel]
            ),
            idx, self.labels,
            no_changes if self.changed is None else self.changed,
            part, totals, row_major, self.previous is not None, acc,
            no_changes if self.settled is None else self.settled,
        )  # fmt: skip
        if acc:
            self.sums[sel] = part
            self.weights[sel] = totals

    def _plain(self, idx, sel, Xg, neg2_ct, c_norms) -> None:
        m, n, d = Xg.shape
        k = c_norms.shape[1]
        dist = np.matmul(Xg, neg2_ct)
        dist += c_norms[:, None, :]
        lab = dist.argmin(axis=2).astype(np.int32)
        if self.previous is None:
            self.labels[sel] = lab
        else:
            lab_w = np.where(self.sample_weight[sel] > 0, lab, -1)
            self.changed[sel] = (lab_w != self.labels[sel]).any(axis=1)
            self.labels[sel] = lab_w
        if self.accumulate:
            ids = (lab + (np.arange(m, dtype=np.int32) * k)[:, None]).reshape(-1)
            w = self.sample_weight[sel].reshape(-1)
            rows = np.ascontiguousarray(Xg).reshape(m * n, d)
            part = _weighted_rows_sum(rows, ids, w, m * k, self.acc_dtype)
            self.sums[sel] = np.asarray(part, dtype=self.acc_dtype).reshape(m, k, d)
            self.weights[sel] = np.bincount(ids, weights=w, minlength=m * k).reshape(
                m, k
            )


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


def legacy_uniforms(
    seeds: np.ndarray, count: int, *, work: int | None = None
) -> np.ndarray:
    """Row b = ``numpy.random.RandomState(seeds[b]).random_sample(count)``.

    ``seeds`` holds 32-bit ints. One compiled loop for all seeds where numba
    is available (the same Mersenne Twister, bit for bit), else one reseeded
    generator per row (1000 seeds of 40 draws: 4.7 ms, compiled 1.4 ms).
    ``work`` is that of the fit the draws are for (see ``compiled_min_work``), so
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


def _map_problems(n_problems: int, work: Any) -> None:
    """Call ``work(slice)`` on consecutive groups of problems, on the thread pool."""
    # Several groups per thread, taken one at a time; each problem's results are
    # its own, so the grouping does not change them.
    parts = 4 * _threads.worker_threads()
    size = -(-n_problems // min(n_problems, parts))
    _threads.pool_map(work, iter_chunks(n_problems, size))


class NumpyBackend(StandardBackend):
    """NumPy arrays on the CPU: threads, cache-sized chunks, compiled loops."""

    name = "numpy"
    prefers_cache_chunks = True
    cache_bytes = NUMPY_BATCH_BYTES
    takes_numpy_arrays = True

    def to_host(self, x: Array) -> np.ndarray:
        return np.asarray(x)

    def host_scalars(self, values: list[Array], dtype: Any) -> list[float]:
        # Reading them costs nothing here: no stacking.
        return [float(v) for v in values]

    def one_blas_thread(self) -> Any:
        """Hold BLAS to one thread, for work that calls BLAS on cache-sized chunks
        in the caller's thread, such as the k-means++ seeding: at (100000, 32)
        float32, k=64, seeding took the same time idle with one BLAS thread as
        with two, and 0.3-0.4x the time with two when another process kept one
        of the two cores busy (BLAS splits each small product between its
        threads, which then wait for each other).
        """
        return _threads.blas_limit(1)

    def row_sq_norms(self, X: Array) -> Array:
        return _row_sq_norms(X)

    def stacked_transpose(self, C: Array) -> Array:
        # A contiguous copy: a stacked ``matmul`` whose operand is a transposed
        # view runs NumPy's own loop instead of BLAS (1.6x the time of the
        # batched assignment at n=1000, d=16, k=8, and the pool's threads did
        # not run it side by side).
        return _contiguous_transpose(C)

    def segment_sum(self, values, segment_ids, n_segments, *, dtype):
        return _segment_sum_numpy(values, segment_ids, n_segments, dtype)

    def sq_distances_to_assigned(self, X, centers, labels, *, dtype):
        """One compiled pass in float64 where numba is there (the standard
        code widens every chunk first: 80% of a k-means|| seeding)."""
        kernels = _compiled_kernels(X.shape[0] * X.shape[1], X, centers)
        if kernels is None or np.dtype(dtype) != np.float64:
            return super().sq_distances_to_assigned(X, centers, labels, dtype=dtype)
        out = np.empty(X.shape[0], dtype=np.float64)
        kernels.sq_distances_rows(X, np.ascontiguousarray(centers), labels, out)
        return out

    def weight_sum(self, weights, segment_ids, n_segments, *, dtype):
        return np.bincount(segment_ids, weights=weights, minlength=n_segments).astype(
            dtype, copy=False
        )

    def count_distinct(self, labels: Array, k: int) -> int:
        return int(np.count_nonzero(np.bincount(labels, minlength=k)))

    def take_rows(self, X: Array, indices: Array) -> Array:
        return X[indices]

    def _assign(self, X, centers, sample_weight, accumulate, acc_dtype, offset, scale):
        return _assign_numpy(
            X, centers, sample_weight, accumulate, acc_dtype, offset, scale
        )

    def weighted_inertia(self, X, sample_weight, centers, labels) -> float:
        """Each row's squared distance is formed in the data dtype (as
        scikit-learn does), with no widened copy of the data; the sum is
        accumulated in float64."""
        acc = self.accumulation_dtype(X.dtype, None)
        n, d = X.shape
        kernels = _compiled_kernels(n * d, X, centers, sample_weight)
        if kernels is not None:
            return float(kernels.inertia_rows(X, centers, labels, sample_weight))
        cache_rows = max(MIN_CHUNK_ROWS, 2**20 // (X.dtype.itemsize * d))
        rows = _chunk_rows(n, 2 * d * X.dtype.itemsize + 16, cache_rows)
        total = 0.0
        for sl in iter_chunks(n, rows):
            diff = X[sl] - centers[labels[sl]]
            sq = np.einsum("ij,ij->i", diff, diff)
            total += float(
                np.dot(sq.astype(acc, copy=False), sample_weight[sl].astype(acc))
            )
        return total

    def centre_columns(self, X: Array) -> tuple[Array, Array, Array]:
        """NumPy's own ``mean`` and ``var`` in X's dtype, bit for bit.

        That is what scikit-learn centres with and derives its tolerance from:
        the centred data then match scikit-learn's to the last bit, so
        k-means++ draws the same centres in float32 as in float64, with or
        without the compiled loops. A C-ordered copy first, as scikit-learn
        makes: along a contiguous axis NumPy would sum pairwise, not row after
        row.
        """
        return _centre_columns_numpy_exact(np.ascontiguousarray(X))

    def extremes(self, X: Array) -> tuple[float, float]:
        """One compiled pass where numba is available (large arrays in pieces
        on the thread pool), else two reductions."""
        kernels = _compiled_kernels(X.size, X)
        if kernels is None or not X.size:
            return float(np.min(X)), float(np.max(X))
        if not (X.flags.c_contiguous or X.flags.f_contiguous):
            return float(np.min(X)), float(np.max(X))
        flat = np.ravel(X, order="K")  # a view, no copy
        parts = 4 * _threads.worker_threads() if flat.size >= 2**22 else 1
        pieces = iter_chunks(flat.size, -(-flat.size // parts))
        found = _threads.pool_map(lambda sl: kernels.min_max(flat[sl]), pieces)
        lows = [float(lo) for lo, _ in found]
        highs = [float(hi) for _, hi in found]
        if any(math.isnan(v) for v in lows):
            return math.nan, math.nan
        return min(lows), max(highs)

    def largest_indices(self, values: Array, count: int) -> Array:
        """The selection scikit-learn makes for relocating empty clusters
        (``argpartition``), so that ties are broken identically."""
        return np.argpartition(values, -count)[: -count - 1 : -1]

    def assign_batched(self, X, centers, *, sample_weight=None, accumulate=False,
                       acc_dtype=None, offset=None, scale=1.0, active=None,
                       previous=None, settled=None) -> Assignment:  # fmt: skip
        """Only the problems still running are computed (the others' outputs
        are zeros, which the algorithm ignores), in groups of problems small
        enough for the caches, on the thread pool with BLAS held to one thread.
        """
        if acc_dtype is None:
            acc_dtype = self.accumulation_dtype(X.dtype, None)
        if previous is not None and sample_weight is None:
            raise ValueError("previous labels need the sample weights")
        return _assign_batched_numpy(
            X, centers, sample_weight, accumulate, acc_dtype, offset, scale,
            active, previous, settled,
        )  # fmt: skip

    def count_sorted(self, rows: Array, values: Array, *, side: str) -> Array:
        # NumPy has no batched searchsorted; B binary searches, O(m log n) each,
        # beat the O(n m) comparisons of the standard version whenever n is
        # more than tiny.
        out = np.empty(values.shape, dtype=np.intp)
        for b in range(rows.shape[0]):
            out[b] = np.searchsorted(rows[b], values[b], side=side)
        return out

    def largest_indices_batched(self, values: Array, counts: np.ndarray) -> Array:
        """Each row uses the selection of :meth:`largest_indices` (only rows
        with a positive count are searched), so a problem relocates its empty
        clusters exactly as a single fit does."""
        out = np.zeros((values.shape[0], int(counts.max())), dtype=np.intp)
        for b in np.flatnonzero(counts):
            # Searched among the non-padding rows only, as a fit on those rows.
            rows = np.flatnonzero(values[b] >= 0)
            out[b, : counts[b]] = rows[
                self.largest_indices(values[b, rows], int(counts[b]))
            ]
        return out

    def gather_rows(self, X: Array, indices: Array) -> Array:
        # Fancy indexing: 5x faster than take_along_axis with a broadcast index.
        return X[np.arange(indices.shape[0])[:, None], indices]

    def centre_problems(self, X, sample_weight, scale, *, with_extremes=False):
        """The compiled pass centres each problem and finds the extremes of X
        in one read of X (with ``with_extremes`` all four items are returned)."""
        B, n, d = X.shape
        kernels = _compiled_kernels(B * n * d, X, sample_weight)
        if kernels is None:
            return super().centre_problems(
                X, sample_weight, scale, with_extremes=with_extremes
            )
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

    def kmeanspp_batched_indices(self, X, sample_weight, p, first_u, trial_u):
        """The compiled greedy k-means++ of every problem: the same float
        operations as the array version, in a loop per problem that keeps the
        problem in cache. None without numba."""
        B, n, d = X.shape
        k = trial_u.shape[1] + 1
        # Counted as one assignment step: compiled when the fit's steps are.
        kernels = _compiled_kernels(B * n * k * d, X, sample_weight, p)
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

    def weighted_inertia_batched(self, X, sample_weight, centers, labels):
        B, n, d = X.shape
        kernels = _compiled_kernels(B * n * d, X, centers, sample_weight)
        if kernels is None:
            return super().weighted_inertia_batched(X, sample_weight, centers, labels)
        out = np.zeros(B, dtype=np.float64)

        def work(sl: slice) -> None:
            kernels.inertia_problems(
                X[sl], centers[sl], labels[sl], sample_weight[sl], out[sl]
            )

        _map_problems(B, work)
        return out

    def minibatch_update(self, X, sample_weight, centers, weight_sums):
        """scikit-learn's mini-batch update, bit for bit given the same labels.

        Labels come from BLAS blocks ``‖c‖² − 2 x·c`` (scikit-learn's
        expanded form; one-thread products on cache-sized blocks); the move is
        the compiled loop :func:`~arraykmeans.backends._numba_kernels.minibatch_move`
        or, without numba, ``np.add.at``, which also adds the rows one after
        the other in batch order. See :meth:`StandardBackend.minibatch_update`.
        """
        X = np.ascontiguousarray(X)
        n, d = X.shape
        k = centers.shape[0]
        kernels = _compiled_kernels(n * k * d, X, centers, sample_weight, weight_sums)
        labels = self._minibatch_labels(X, centers, kernels)
        counts = np.array(weight_sums, copy=True)
        if kernels is not None:
            inertia = kernels.inertia_rows(X, centers, labels, sample_weight)
            new = np.empty_like(centers)
            kernels.minibatch_move(X, sample_weight, labels, centers, counts, new)
            return new, counts, np.float64(inertia)
        inertia = self.weighted_inertia(X, sample_weight, centers, labels)
        batch = np.zeros(k, dtype=X.dtype)
        np.add.at(batch, labels, sample_weight)
        moved = batch > 0
        acc = centers * np.where(moved, weight_sums, 1)[:, None]
        np.add.at(acc, labels, X * sample_weight[:, None])
        counts[moved] += batch[moved]
        alpha = 1 / np.where(moved, counts, 1)
        new = np.where(moved[:, None], acc * alpha[:, None], centers)
        return new, counts, np.float64(inertia)

    def _minibatch_labels(self, X, centers, kernels):
        """Closest centres from BLAS blocks of cache size: first index on ties."""
        n = X.shape[0]
        k = centers.shape[0]
        neg2_ct = (centers * -2).T
        c_norms = _row_sq_norms(centers)
        labels = np.empty(n, dtype=np.int32)
        rows = max(MIN_CHUNK_ROWS, NUMPY_CHUNK_BYTES // (X.dtype.itemsize * max(k, 1)))
        for sl in iter_chunks(n, rows):
            dist = X[sl] @ neg2_ct
            if kernels is not None:
                kernels.argmin_rows(dist[None], c_norms[None], labels[None, sl])
            else:
                labels[sl] = np.argmin(dist + c_norms, axis=1)
        return labels
