"""The standard backend: every operation the algorithm needs, in pure Array API code.

:class:`StandardBackend` runs on any library that follows the Array API standard
(array-api-strict is the test of that, on all its devices and flags). It uses no
item assignment, no boolean-mask indexing and no data-dependent shapes, so JAX
(immutable arrays) and lazy libraries run it as it is. The other backends
subclass it and override only what their library makes faster or possible; they
must give the same labels (and sums equal to rounding), and the tests compare
each of them with this one.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from array_api_compat import device as _device

from .._config import _settings

Array = Any

# Chunks never get smaller than this many rows, whatever the budget says: below it
# the per-call overhead of the array library dominates.
MIN_CHUNK_ROWS = 64


@dataclass
class Assignment:
    """Result of an assignment step (:meth:`StandardBackend.assign_chunked`)."""

    labels: Array
    """Index of the closest centre of every row, default index dtype."""
    sums: Array | None
    """Weighted sum of the rows assigned to each centre, (k, d), accumulation dtype."""
    weights: Array | None
    """Total weight assigned to each centre, (k,), accumulation dtype."""
    changed: Array | None = None
    """Given the previous labels: did any label change, 0-d bool (one problem)
    or (B,) bool (a stack)."""
    inertia: float | None = None
    """The weighted inertia of the rows to their labels' centres, where the
    backend measured it in the same pass (else :meth:`weighted_inertia`)."""
    n_distinct: int | None = None
    """How many centres have rows, where measured in the same pass (else
    :meth:`count_distinct` of the labels)."""


@dataclass
class ParallelRound:
    """Result of one k-means|| round (:meth:`StandardBackend.parallel_round`)."""

    closest: Array
    """Every row's squared distance to its nearest candidate, accumulation dtype."""
    nearest: Array
    """Every row's nearest candidate (its position among the candidates), int64."""
    total: float
    """``Σ w·closest``: the potential the round's sampling divided by."""
    picked: np.ndarray | None = None
    """The rows the round sampled (ascending host indices), or None where it
    sampled nothing (the last round, or a total of 0)."""
    picked_rows: Array | None = None
    """Those rows of X, (len(picked), d)."""


# ----------------------------------------------------------------- free helpers


def device_of(x: Array) -> Any:
    """The device ``x`` lives on."""
    return _device(x)


def itemsize(dtype: Any) -> int:
    """Bytes per element of ``dtype`` (8 for dtypes NumPy does not know)."""
    try:
        return np.dtype(str(dtype).rsplit(".", 1)[-1]).itemsize
    except TypeError:
        return 8


def ceil_log2(x: float) -> int:
    """Smallest integer e with 2**e >= x, for positive finite x."""
    mantissa, exponent = math.frexp(x)
    return exponent - 1 if mantissa == 0.5 else exponent


def working_memory_bytes() -> int:
    """The working-memory budget in bytes."""
    return int(_settings()["working_memory"] * 2**20)


def iter_chunks(n_rows: int, rows: int) -> Iterator[slice]:
    """Consecutive row slices of at most ``rows`` rows covering ``range(n_rows)``."""
    for start in range(0, n_rows, rows):
        yield slice(start, min(start + rows, n_rows))


def _joined(xp: ModuleType, parts: list[Array], axis: int = 0) -> Array:
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=axis)


class StandardBackend:
    """Pure Array API implementations of the operations of the algorithm.

    One instance serves one array namespace ``xp`` (see
    :func:`arraykmeans.backends.get_backend`). Methods take and return arrays
    of that namespace, except where they say host (NumPy) arrays or Python
    numbers.
    """

    name = "standard"
    # Whether chunks are sized for CPU caches (see chunk_rows' cache_rows), and
    # the preferred bytes of temporaries per chunk of a stack then.
    prefers_cache_chunks = False
    cache_bytes = 2**22
    # Whether a plain NumPy array is an array of this backend's namespace.
    takes_numpy_arrays = False
    # Whether stacks of problems are read into memory and fitted by
    # host_backend() (lazy libraries whose stacks are many small problems).
    materialises_stacks = False

    def __init__(self, xp: ModuleType) -> None:
        self.xp = xp

    def __repr__(self) -> str:
        return f"{type(self).__name__}({getattr(self.xp, '__name__', self.xp)})"

    # ------------------------------------------------------------ dtypes

    def has_float64(self, device: Any) -> bool:
        """Whether ``device`` supports float64 (some GPUs and test devices do not)."""
        try:
            kinds = self.xp.__array_namespace_info__().dtypes(
                device=device, kind="real floating"
            )
        except (AttributeError, TypeError):  # pragma: no cover - old namespaces
            return True
        return "float64" in kinds

    def accumulation_dtype(self, dtype: Any, device: Any) -> Any:
        """The dtype sums are accumulated in: float64 where the device has it."""
        return self.xp.float64 if self.has_float64(device) else dtype

    # ---------------------------------------------------- host <-> device

    def to_host(self, x: Array) -> np.ndarray:
        """Copy a (small) array to a NumPy array on the host. One synchronisation."""
        try:
            return np.from_dlpack(x)
        except Exception:
            pass
        try:
            return np.asarray(x)
        except Exception:
            # Last resort, for libraries that export nothing: element by element.
            flat = self.xp.reshape(x, (-1,))
            values = [float(flat[i]) for i in range(flat.shape[0])]
            return np.asarray(values).reshape(tuple(x.shape))

    def host_scalars(self, values: list[Array], dtype: Any) -> list[float]:
        """Zero-dimensional arrays as Python floats, in one device-to-host copy.

        They are cast to ``dtype`` and stacked first, so that reading all of
        them is one synchronisation.
        """
        xp = self.xp
        stacked = xp.stack([xp.astype(v, dtype) for v in values])
        return [float(v) for v in self.to_host(stacked)]

    def from_host(self, values: np.ndarray, *, dtype: Any, device: Any) -> Array:
        """Move a small host NumPy array to ``device`` as ``dtype``."""
        values = np.ascontiguousarray(values)
        try:
            return self.xp.asarray(values, dtype=dtype, device=device)
        except (TypeError, ValueError):
            return self.xp.asarray(values.tolist(), dtype=dtype, device=device)

    def settle(self, *arrays: Array) -> Any:
        """The arrays computed and held, for a lazy library (the results of
        one pass that several later steps read), in one computation; other
        libraries return them. One array in, one out; several, a tuple."""
        return arrays[0] if len(arrays) == 1 else arrays

    def one_blas_thread(self) -> Any:
        """A context that holds BLAS to one thread where that matters (NumPy)."""
        return contextlib.nullcontext()

    def fitting(self, X: Array) -> Any:
        """A context for a whole fit on ``X``, for a library whose own thread
        pool competes with the backend's (PyTorch on the CPU)."""
        return contextlib.nullcontext()

    def host_twin(self, X: Array) -> StandardBackend | None:
        """A backend that fits ``X`` on the host memory it shares, without a
        copy and faster than this one (NumPy for CPU tensors); None if none.
        The fit's results are moved back to this backend's library."""
        return None

    # ----------------------------------------------------------- chunking

    def chunk_rows(
        self, n_rows: int, bytes_per_row: int, *, cache_rows: int | None = None
    ) -> int:
        """Rows per chunk so that a chunk's temporaries fit the working-memory budget.

        Parameters
        ----------
        n_rows : int
            Rows to process in total.
        bytes_per_row : int
            Bytes of temporaries one row of a chunk needs.
        cache_rows : int, optional
            A smaller preferred size for CPU backends, where chunks that fit
            the cache are faster than big ones.
        """
        rows = working_memory_bytes() // max(bytes_per_row, 1)
        if cache_rows is not None and self.prefers_cache_chunks:
            rows = min(rows, cache_rows)
        return max(1, min(n_rows, max(rows, MIN_CHUNK_ROWS)))

    def iter_problem_chunks(
        self,
        n_problems: int,
        n_rows: int,
        bytes_per_row: int,
        *,
        cache_bytes: int | None = None,
    ) -> Iterator[tuple[slice, slice]]:
        """(problems, rows) slices whose temporaries fit the working-memory budget.

        Rows run fastest: the row chunks of one group of problems come one
        after the other. ``cache_bytes`` is a smaller preferred size for CPU
        backends, as in :meth:`chunk_rows`.
        """
        budget = working_memory_bytes()
        cache_rows = None
        if cache_bytes is not None and self.prefers_cache_chunks:
            budget = min(budget, cache_bytes)
            cache_rows = cache_bytes // max(bytes_per_row, 1)
        per_problem = max(1, n_rows * bytes_per_row)
        problems = max(1, min(n_problems, budget // per_problem))
        rows = (
            n_rows
            if problems > 1 or per_problem <= budget
            else self.chunk_rows(n_rows, bytes_per_row, cache_rows=cache_rows)
        )
        for p in iter_chunks(n_problems, problems):
            for r in iter_chunks(n_rows, rows):
                yield p, r

    # --------------------------------------------------------- reductions

    def row_sq_norms(self, X: Array) -> Array:
        """Squared Euclidean norm of each row (along the last axis), in X's dtype."""
        return self.xp.sum(X * X, axis=-1)

    def stacked_transpose(self, C: Array) -> Array:
        """``C`` of shape (B, k, d) as (B, d, k), the right operand of stacked products."""
        return self.xp.permute_dims(C, (0, 2, 1))

    def segment_sum(
        self, values: Array, segment_ids: Array, n_segments: int, *, dtype: Any
    ) -> Array:
        """Sum the rows of ``values`` (m, d) that share a segment id → (n_segments, d).

        ``segment_ids`` (m,) hold values in ``[0, n_segments)``. Here a
        (n_segments, m) one-hot product: deterministic, O(m * n_segments * d),
        each sum formed in ``values``' dtype and then widened to ``dtype``.
        """
        xp = self.xp
        ids = xp.arange(n_segments, dtype=segment_ids.dtype, device=device_of(values))
        onehot = xp.astype(ids[:, None] == segment_ids[None, :], values.dtype)
        return xp.astype(onehot @ values, dtype, copy=False)

    def weight_sum(
        self, weights: Array, segment_ids: Array, n_segments: int, *, dtype: Any
    ) -> Array:
        """Sum of ``weights`` per segment, shape (n_segments,), in ``dtype``."""
        xp = self.xp
        ids = xp.arange(n_segments, dtype=segment_ids.dtype, device=device_of(weights))
        onehot = xp.astype(segment_ids[:, None] == ids[None, :], dtype)
        return xp.astype(weights, dtype, copy=False) @ onehot

    def count_distinct(self, labels: Array, k: int) -> int:
        """How many of the labels ``0 .. k-1`` occur in ``labels``."""
        xp = self.xp
        n = labels.shape[0]
        if n == 0:
            return 0
        # A sort and a count of the steps: no data-dependent shape.
        ordered = xp.sort(labels)
        steps = xp.sum(xp.astype(ordered[1:] != ordered[:-1], xp.int64))
        return int(steps) + 1

    def extremes(self, X: Array) -> tuple[float, float]:
        """``(min, max)`` of X as floats; NaN if X holds a NaN."""
        xp = self.xp
        low, high = self.host_scalars([xp.min(X), xp.max(X)], X.dtype)
        return low, high

    def fit_extremes(self, X: Array) -> tuple[float, float]:
        """:meth:`extremes` of the X a fit is about to centre: a backend that
        reads X from its source on every pass may measure what
        :meth:`centre_columns` needs in the same pass (Dask)."""
        return self.extremes(X)

    def scale_into(self, values: Array, factor: float, dtype: Any) -> Array:
        """``values * factor`` (non-negative values, positive factor) as ``dtype``.

        Results beyond ``dtype``'s range are inf, as the product would round
        them, but set directly: on NumPy an overflowing product or cast also
        warns, and distances or inertias of data near the ends of the float
        range overflow where the data themselves do not.
        """
        xp = self.xp
        limit = float(xp.finfo(dtype).max) / factor  # a Python float: inf, no error
        values = xp.where(values > limit, xp.full_like(values, math.inf), values)
        if factor != 1.0:
            values = values * factor
        return xp.astype(values, dtype, copy=False)

    # ------------------------------------------------------ one problem

    def assign_chunked(
        self,
        X: Array,
        centers: Array,
        *,
        sample_weight: Array | None = None,
        accumulate: bool = False,
        acc_dtype: Any = None,
        offset: Array | None = None,
        scale: float = 1.0,
        previous: Array | None = None,
    ) -> Assignment:
        """Assign every row of ``X`` to its closest centre, chunk by chunk.

        The squared distance is ``‖c‖² − 2 x·c`` (the ``‖x‖²`` term does not
        change the argmin), formed one chunk of rows at a time: the n×k
        distance matrix never exists. With ``accumulate=True`` the weighted
        sums of the rows assigned to each centre and the total weight per
        centre are gathered in the same pass (the M-step's inputs).

        Parameters
        ----------
        X : array of shape (n, d)
        centers : array of shape (k, d), same dtype and device as ``X``
        sample_weight : array of shape (n,), optional
            Needed when ``accumulate`` is true.
        accumulate : bool
        acc_dtype : dtype, optional
            Dtype of the sums. Defaults to :meth:`accumulation_dtype`.
        offset, scale : optional
            Rows are used as ``x * scale - offset`` (the frame the centres live
            in; ``offset`` in that frame's units), transformed one chunk at a
            time. Scaling first keeps data near the ends of the float range
            finite: ``x - offset`` in the data's own units can overflow.
        previous : integer array of shape (n,), optional
            The labels of the previous step: ``changed`` then says whether any
            label differs from them (a 0-d bool array), found in the same
            pass where a backend can.

        Returns
        -------
        Assignment
        """
        if acc_dtype is None:
            acc_dtype = self.accumulation_dtype(X.dtype, device_of(X))
        step = self._assign(
            X, centers, sample_weight, accumulate, acc_dtype, offset, scale
        )
        if previous is not None:
            step.changed = self.xp.any(step.labels != previous)
        return step

    def _assign(self, X, centers, sample_weight, accumulate, acc_dtype, offset, scale):
        """Pure-standard assignment: one chunk at a time, one-hot products for sums."""
        xp = self.xp
        n, d = X.shape
        k = centers.shape[0]
        # Distance block, the one-hot block and the weighted rows.
        rows = self.chunk_rows(n, itemsize(X.dtype) * (2 * k + d) + 16)
        # -2 is a power of two, so (-2 C) x is exactly -2 (C x): same bits as
        # scaling the product afterwards, one pass less.
        neg2_ct = xp.permute_dims(centers * -2, (1, 0))
        c_norms = self.row_sq_norms(centers)
        labels_parts = []
        sums = weights = None
        for sl in iter_chunks(n, rows):
            Xc = _framed(X[sl, ...], offset, scale)
            labels = xp.argmin(Xc @ neg2_ct + c_norms[None, :], axis=1)
            labels_parts.append(labels)
            if accumulate:
                w = sample_weight[sl]
                part = self.segment_sum(Xc * w[:, None], labels, k, dtype=acc_dtype)
                part_w = self.weight_sum(w, labels, k, dtype=acc_dtype)
                sums = part if sums is None else sums + part
                weights = part_w if weights is None else weights + part_w
        return Assignment(labels=_joined(xp, labels_parts), sums=sums, weights=weights)

    def parallel_round(
        self,
        X: Array,
        rows: Array,
        start: int,
        closest: Array | None,
        nearest: Array | None,
        sample_weight: Array,
        *,
        acc: Any,
        sampler: Any = None,
    ) -> ParallelRound:
        """One round of k-means|| seeding: the distances to the round's new
        candidates ``rows`` (positions ``start`` on among all candidates)
        update every row's nearest candidate and its squared distance to it;
        then, given a ``sampler`` (``draw(n)``: one host uniform per row;
        ``ell``: the oversampling factor; ``undo()``), the rows kept with
        probability ``min(1, ell·w·d²/Σ w·d²)`` are drawn and gathered.

        Here: an assignment pass, the nearest distances held (``settle``) and
        the sampling read from them. Lazy backends may do all of it in one
        pass (the Dask backend does), with the same rows drawn.
        """
        xp = self.xp
        closest, nearest = self.nearest_candidates(
            X, rows, start, closest, nearest, acc=acc
        )
        # Held where lazy: the next round and this one's sampling read them.
        closest, nearest = self.settle(closest, nearest)
        weighted = closest * xp.astype(sample_weight, acc)
        total = float(xp.sum(weighted))
        if sampler is None or total == 0:
            return ParallelRound(closest, nearest, total)
        u = self.from_host(sampler.draw(X.shape[0]), dtype=acc, device=device_of(X))
        picked = np.flatnonzero(self.to_host(u * total < sampler.ell * weighted))
        index = self.from_host(picked, dtype=xp.int64, device=device_of(X))
        return ParallelRound(closest, nearest, total, picked, xp.take(X, index, axis=0))

    def nearest_candidates(
        self,
        X: Array,
        rows: Array,
        start: int,
        closest: Array | None,
        nearest: Array | None,
        *,
        acc: Any,
    ) -> tuple[Array, Array]:
        """Every row's squared distance (in ``acc``) to its nearest candidate
        and that candidate's position, updated with the new candidates
        ``rows`` (positions ``start`` on): a row moves to a new candidate
        only when strictly nearer. ``closest``/``nearest`` None: the first
        candidates."""
        xp = self.xp
        labels = self.assign_chunked(X, rows).labels
        dist = self.sq_distances_to_assigned(X, rows, labels, dtype=acc)
        position = xp.astype(labels, xp.int64) + start
        if closest is None:
            return dist, position
        return xp.minimum(closest, dist), xp.where(dist < closest, position, nearest)

    def sq_distances_to_assigned(
        self, X: Array, centers: Array, labels: Array, *, dtype: Any
    ) -> Array:
        """``‖x_i − c_{labels_i}‖²`` for every row, from differences, in ``dtype``.

        Used for the inertia and for finding the points farthest from their
        centres; the difference form is exact to rounding, unlike the expanded
        form used in the assignment.
        """
        xp = self.xp
        n, d = X.shape
        per_row = 2 * d * max(itemsize(dtype), itemsize(X.dtype)) + 16
        parts = []
        for sl in iter_chunks(n, self.chunk_rows(n, per_row)):
            diff = xp.astype(X[sl, ...], dtype, copy=False) - xp.astype(
                self.take_rows(centers, labels[sl]), dtype, copy=False
            )
            parts.append(xp.sum(diff * diff, axis=1))
        return _joined(xp, parts)

    def take_rows(self, X: Array, indices: Array) -> Array:
        """``X[indices, :]`` for a 1-D integer index array."""
        return self.xp.take(X, indices, axis=0)

    def weighted_inertia(
        self, X: Array, sample_weight: Array, centers: Array, labels: Array
    ) -> float:
        """``sum_i w_i ‖x_i − c_{labels_i}‖²`` as a Python float.

        Squared distances are formed from differences, the sum accumulated in
        the accumulation dtype.
        """
        xp = self.xp
        acc = self.accumulation_dtype(X.dtype, device_of(X))
        sq = self.sq_distances_to_assigned(X, centers, labels, dtype=acc)
        return float(sq @ xp.astype(sample_weight, acc, copy=False))

    def centre_columns(self, X: Array) -> tuple[Array, Array, Array]:
        """``(X - mean, mean, variance)`` per feature; X itself is not modified.

        The mean has X's dtype (it is subtracted in it) and the variance, used
        for the relative tolerance, the accumulation dtype: float32 data are
        summed one chunk at a time into float64 totals, with no widened copy
        of X and no n×d temporary beyond the result.
        """
        xp = self.xp
        acc = self.accumulation_dtype(X.dtype, device_of(X))
        n, d = X.shape
        chunks = list(iter_chunks(n, self.chunk_rows(n, 2 * d * itemsize(acc))))
        mean = xp.astype(self._column_sums(X, acc, chunks) / n, X.dtype)
        Xc = X - mean
        # Xc's column means are zero up to rounding; subtracting their square
        # removes what rounding left.
        s1 = self._column_sums(Xc, acc, chunks) / n
        s2 = self._column_sums(Xc, acc, chunks, squared=True) / n
        return Xc, mean, s2 - s1 * s1

    def _column_sums(
        self, X: Array, acc: Any, chunks: list[slice], *, squared: bool = False
    ) -> Array:
        """Column sums of X (or of its squares) in ``acc``, chunk by chunk.

        Each chunk is summed as a product with a row of ones: on CuPy a
        reduction over the leading axis of a (1e6, 128) float64 array took
        25 ms on an H100, the product 1 ms.
        """
        xp = self.xp
        total = None
        for sl in chunks:
            block = xp.astype(X[sl, ...], acc, copy=False)
            if squared:
                block = block * block
            ones = xp.ones((1, block.shape[0]), dtype=acc, device=device_of(X))
            part = (ones @ block)[0, :]
            total = part if total is None else total + part
        return total

    # -------------------------------------------------------- selections

    def largest_indices(self, values: Array, count: int) -> Array:
        """Indices of the ``count`` largest values, largest first (lower index on ties)."""
        return self.xp.argsort(values, descending=True, stable=True)[:count]

    def is_same_clustering(self, labels1: Array, labels2: Array) -> bool:
        """Whether ``labels2`` is a function of ``labels1`` (same partition, relabelled).

        Mirrors scikit-learn's check: every group of ``labels1`` maps to a
        single value of ``labels2``.
        """
        xp = self.xp
        if labels1.shape[0] < 2:
            return True
        order = xp.argsort(labels1, stable=True)
        a = xp.take(labels1, order)
        b = xp.take(labels2, order)
        consistent = (a[1:] != a[:-1]) | (b[1:] == b[:-1])
        return bool(xp.all(consistent))

    # ------------------------------------------------ stacks of problems
    #
    # The same operations for a stack of independent problems, X of shape
    # (B, n, d) and centres (B, k, d): batched products, per-problem argmin and
    # per-problem segment sums, chunked over problems (and rows) from the
    # working-memory budget.

    def assign_batched(
        self,
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
        """:meth:`assign_chunked` for a stack of problems.

        Parameters
        ----------
        X : array of shape (B, n, d)
        centers : array of shape (B, k, d)
        sample_weight : array of shape (B, n), optional
        offset : array of shape (B, 1, d), optional
            Rows are used as ``x * scale - offset`` (see :meth:`assign_chunked`).
        active : bool array of shape (B,), optional
            Problems whose results are needed. The others' outputs are
            unspecified: a fast path may skip them (NumPy does), this one
            computes them.
        previous : integer array of shape (B, n), optional
            The labels of the previous step (needs ``sample_weight``). The
            labels returned are then -1 on rows of zero weight and ``previous``
            for inactive problems, and ``changed`` says which problems' labels
            differ from ``previous``. ``previous`` is consumed: a fast path may
            write the new labels into it and return it.
        settled : bool array of shape (B,), optional
            With ``previous``: problems whose sums the caller does not need if
            their labels come out unchanged. A fast path may leave those sums
            (and weights) zero; this one computes them.

        Returns
        -------
        Assignment
            ``labels`` (B, n), ``sums`` (B, k, d) and ``weights`` (B, k); with
            ``previous``, ``changed`` (B,) bool.
        """
        if acc_dtype is None:
            acc_dtype = self.accumulation_dtype(X.dtype, device_of(X))
        if previous is not None and sample_weight is None:
            raise ValueError("previous labels need the sample weights")
        step = self._assign_stack(
            X, centers, sample_weight, accumulate, acc_dtype, offset, scale,
            active, previous, settled,
        )  # fmt: skip
        if previous is None:
            return step
        xp = self.xp
        labels = xp.astype(step.labels, previous.dtype)
        labels = xp.where(sample_weight > 0, labels, xp.full_like(labels, -1))
        if active is not None:
            labels = xp.where(active[:, None], labels, previous)
        step.changed = xp.any(labels != previous, axis=1)
        step.labels = labels
        return step

    def _assign_stack(
        self, X, centers, sample_weight, accumulate, acc_dtype, offset, scale,
        active, previous, settled,
    ):  # fmt: skip
        """Labels (and sums) of a stack, chunk by chunk; sums of chunks added up."""
        xp = self.xp
        B, n, d = X.shape
        k = centers.shape[1]
        neg2_ct = self.stacked_transpose(centers * -2)
        c_norms = self.row_sq_norms(centers)
        ids = xp.arange(k, device=device_of(X))
        groups: list[tuple[list[Array], Any, Any]] = []
        chunks = self.iter_problem_chunks(B, n, itemsize(X.dtype) * (2 * k + d) + 16)
        for p, r in chunks:
            if r.start == 0:
                groups.append(([], None, None))
            Xc = _framed(X[p, r, :], None if offset is None else offset[p, ...], scale)
            labels = xp.argmin(Xc @ neg2_ct[p, ...] + c_norms[p, None, :], axis=2)
            rows, sums, weights = groups[-1]
            rows.append(labels)
            if accumulate:
                w = sample_weight[p, r]
                onehot = xp.astype(labels[:, :, None] == ids, X.dtype)
                part = xp.permute_dims(onehot, (0, 2, 1)) @ (Xc * w[:, :, None])
                part = xp.astype(part, acc_dtype, copy=False)
                part_w = xp.sum(
                    xp.astype(onehot * w[:, :, None], acc_dtype, copy=False), axis=1
                )
                sums = part if sums is None else sums + part
                weights = part_w if weights is None else weights + part_w
            groups[-1] = (rows, sums, weights)
        labels = _joined(xp, [_joined(xp, rows, axis=1) for rows, _, _ in groups])
        if not accumulate:
            return Assignment(labels=labels, sums=None, weights=None)
        sums = _joined(xp, [g[1] for g in groups])
        weights = _joined(xp, [g[2] for g in groups])
        return Assignment(labels=labels, sums=sums, weights=weights)

    def count_sorted(self, rows: Array, values: Array, *, side: str) -> Array:
        """Batched ``searchsorted``: for each row of ``rows`` (sorted ascending), how
        many entries are ``< values`` (``side='left'``) or ``<= values``
        (``side='right'``).

        Parameters
        ----------
        rows : array of shape (B, n)
        values : array of shape (B, m)

        Returns
        -------
        counts : integer array of shape (B, m), equal to
            ``searchsorted(rows[b], values[b], side=side)`` for every b.
        """
        xp = self.xp
        B, n = rows.shape
        m = values.shape[1]
        if B == 1:
            # One problem (a single fit's k-means++): the standard's search.
            found = xp.searchsorted(rows[0, :], values[0, :], side=side)
            return xp.astype(found, xp.int64)[None, :]
        totals: list[Array] = []
        for p, r in self.iter_problem_chunks(B, n, 2 * m):
            block = rows[p, r, None]
            if side == "left":
                hits = block < values[p, None, :]
            else:
                hits = block <= values[p, None, :]
            part = xp.sum(xp.astype(hits, xp.int64), axis=1)
            if r.start == 0:
                totals.append(part)
            else:
                totals[-1] = totals[-1] + part
        return _joined(xp, totals)

    def largest_indices_batched(self, values: Array, counts: np.ndarray) -> Array:
        """For each row b, the indices of its ``counts[b]`` largest values, largest first.

        Negative values mark padding rows, which are never selected. Returns an
        array of shape (B, max(counts)); entries past ``counts[b]`` are
        unspecified.
        """
        width = int(counts.max())
        return self.xp.argsort(values, axis=1, descending=True, stable=True)[:, :width]

    def same_clustering_batched(self, labels1: Array, labels2: Array) -> Array:
        """Per problem, :meth:`is_same_clustering` of two (B, n) label arrays → (B,)."""
        xp = self.xp
        order = xp.argsort(labels1, axis=1, stable=True)
        a = self.take_along_rows(labels1, order)
        b = self.take_along_rows(labels2, order)
        consistent = (a[:, 1:] != a[:, :-1]) | (b[:, 1:] == b[:, :-1])
        return xp.all(consistent, axis=1)

    def take_along_rows(self, values: Array, indices: Array) -> Array:
        """``values[b, indices[b, j]]`` for (B, n) values and (B, m) indices."""
        return self.xp.take_along_axis(values, indices, axis=1)

    def gather_rows(self, X: Array, indices: Array) -> Array:
        """``X[b, indices[b, j], :]`` for every b, j: (B, m, d) from (B, n, d), (B, m)."""
        xp = self.xp
        B, m = indices.shape
        d = X.shape[2]
        idx = xp.broadcast_to(indices[:, :, None], (B, m, d))
        return xp.take_along_axis(X, idx, axis=1)

    def centre_problems(
        self,
        X: Array,
        sample_weight: Array,
        scale: float,
        *,
        with_extremes: bool = False,
    ) -> tuple[Any, ...]:
        """Per problem, centre the rows of positive weight; the others become zeros.

        Returns ``(Xc, mean, var)``: ``Xc = (X * scale - mean) * valid`` in X's
        dtype, ``mean`` of shape (B, 1, d) in X's dtype and ``var`` of shape
        (B, d) in the accumulation dtype, both over the valid rows (weight >
        0). Sums accumulate in X's dtype, as :meth:`centre_columns` does on
        NumPy, so that a problem is centred as a single fit on its valid rows
        is. ``scale`` is a power of two (exact).

        With ``with_extremes``, only ``(None, None, None, (min, max))`` of all
        of X (see :meth:`extremes`): a backend that reads X for the sums anyway
        may return all four at once (NumPy does); the caller picks the scale
        from the extremes and centres then (centring first at scale 1 could
        overflow for data that need rescaling).
        """
        xp = self.xp
        if with_extremes:
            return None, None, None, self.extremes(X)
        acc = self.accumulation_dtype(X.dtype, device_of(X))
        Xs = X * scale if scale != 1.0 else X
        valid = xp.astype(sample_weight > 0, X.dtype)[:, :, None]
        count = xp.sum(valid, axis=1)  # (B, 1), exact below 2**24 rows
        # Sums and quotients in the data dtype, as a single fit's NumPy mean and
        # var: padding rows add exact zeros, so each problem gets its valid rows'.
        mean = (xp.sum(Xs * valid, axis=1) / count)[:, None, :]
        Xc = (Xs - mean) * valid
        var = xp.sum(Xc * Xc, axis=1) / count
        return Xc, mean, xp.astype(var, acc)

    def kmeanspp_batched_indices(
        self, X: Array, sample_weight: Array, p: Array, first_u: Any, trial_u: Any
    ) -> Array | None:
        """A backend's own k-means++ over a stack (indices (B, k)), or None.

        None: the algorithm's array version runs (see
        :func:`arraykmeans.algorithm._init.kmeans_plusplus_batched`).
        """
        return None

    def weighted_inertia_batched(
        self, X: Array, sample_weight: Array, centers: Array, labels: Array
    ) -> Array:
        """Per problem ``sum_i w_i ‖x_i − c_{labels_i}‖²`` → (B,), accumulation dtype.

        Rows with a negative label (padding) count as weight zero.
        """
        xp = self.xp
        B, n, d = X.shape
        acc = self.accumulation_dtype(X.dtype, device_of(X))
        totals: list[Array] = []
        for p, r in self.iter_problem_chunks(B, n, 3 * d * itemsize(X.dtype) + 16):
            lab = labels[p, r]
            safe = xp.where(lab < 0, xp.zeros_like(lab), lab)
            diff = X[p, r, :] - self.gather_rows(centers[p, ...], safe)
            sq = xp.astype(xp.sum(diff * diff, axis=2), acc, copy=False)
            w = xp.where(
                lab < 0, xp.zeros_like(sample_weight[p, r]), sample_weight[p, r]
            )
            part = xp.sum(sq * xp.astype(w, acc, copy=False), axis=1)
            if r.start == 0:
                totals.append(part)
            else:
                totals[-1] = totals[-1] + part
        return _joined(xp, totals)

    # ------------------------------------------------------ mini-batch step

    def minibatch_update(
        self, X: Array, sample_weight: Array, centers: Array, weight_sums: Array
    ) -> tuple[Array, Array, Array]:
        """One mini-batch update, as scikit-learn's ``_minibatch_update_dense``.

        Each row of the batch goes to its closest centre; a centre that
        received weight ``s`` on top of the weight ``W`` it has seen so far
        moves to ``(W c + Σ w x) / (W + s)``, i.e. per-centre learning rate
        ``s / (W + s)``; the others stay where they are.

        Parameters
        ----------
        X : array of shape (b, d)
            The batch.
        sample_weight : array of shape (b,), X's dtype
        centers : array of shape (k, d), X's dtype
        weight_sums : array of shape (k,), X's dtype
            The weight every centre has seen so far (not modified).

        Returns
        -------
        centers : array of shape (k, d)
            The moved centres (new array).
        weight_sums : array of shape (k,)
            The weights seen, this batch's included.
        inertia : 0-d array, accumulation dtype
            ``Σ w ‖x − c‖²`` of the batch to the centres *before* the move.

        Here the sums are one-hot products (the weighted rows of each centre
        added in one product, not one after the other as scikit-learn
        does): the same centres to rounding.
        """
        xp = self.xp
        k = centers.shape[0]
        acc = self.accumulation_dtype(X.dtype, device_of(X))
        labels = self.assign_chunked(X, centers).labels
        sq = self.sq_distances_to_assigned(X, centers, labels, dtype=acc)
        inertia = sq @ xp.astype(sample_weight, acc, copy=False)
        batch_weight = self.weight_sum(sample_weight, labels, k, dtype=X.dtype)
        sums = self.segment_sum(X * sample_weight[:, None], labels, k, dtype=X.dtype)
        moved = batch_weight > 0
        counts = weight_sums + batch_weight
        alpha = 1 / xp.where(moved, counts, xp.ones_like(counts))
        new = (centers * weight_sums[:, None] + sums) * alpha[:, None]
        return xp.where(moved[:, None], new, centers), counts, inertia


def _framed(Xc: Array, offset: Array | None, scale: float) -> Array:
    """Rows moved into the centres' frame: ``x * scale - offset``."""
    if scale != 1.0:
        Xc = Xc * scale
    if offset is not None:
        Xc = Xc - offset
    return Xc
