"""The Dask backend (NumPy chunks): lazy, chunked, one pass over X per iteration.

The data stay a Dask array, chunked along rows; everything of the size of the
centres (k × d) is small. What this backend changes:

- **The Lloyd step.** An accumulating assignment is one pass over the row
  blocks: each block is assigned by the NumPy backend (numba kernels where
  installed) and returns its labels and its partial sums and weights; the
  partials are added in a tree over the blocks, and a single ``compute``
  brings back the (k, d) sums, the (k,) weights and the labels. The results
  come back as Dask arrays wrapping those in-memory values, so later steps
  start from fresh, one-node graphs: the cost of an iteration does not grow
  with the iterations before it.
- **The data are persisted** once centred (``centre_columns``), so every
  iteration reads X from memory rather than recomputing its graph — when
  they fit: up to half the memory of the workers of the current
  ``distributed`` client (or of this machine without one), or the setting
  ``dask_persist_bytes``. Larger data stay lazy and every pass reads them
  from their source (a file, a generator) once, block by block. Then the
  labels of a step are not brought back (on a cluster, sending them to the
  caller and out again cost more than the pass): they are held where they
  were computed (4 bytes a row, when that fits the budget), or else a lazy
  array recomputed from the centres where each block is read, so the next
  step tests which changed in its own pass; the step also measures its
  inertia and the clusters with rows, so the fit's last assignment is its
  last pass. (Subtracting the mean inside the steps instead of in a task
  of its own cost more than it saved: 79 s against 67 s for a 2 GB fit.)
  The finiteness check measures the column moments in its pass
  (``fit_extremes``, one compiled loop per block where numba is there), so
  a fit from given centres reads X ``n_iter + 2`` times.
- **Prediction stays lazy**: a non-accumulating assignment (``predict``) maps
  the blocks and returns a Dask array of labels computed from the centres
  alone, not a graph of the fit.
- Copies to the host are one ``compute``; gathers along an axis (Dask has
  no ``take_along_axis``) take their small index arrays to the host and index
  point-wise (``vindex``); questions about whole label vectors (how many
  clusters occur, are two partitions the same) are answered on the host.
- **Stacks of problems** (``BatchedKMeans``) are read into memory once and
  fitted by the NumPy backend (``materialises_stacks``): a stack is many
  small problems, each of which fits one machine. Results come back as Dask
  arrays.
"""

from __future__ import annotations

import functools
import math
import sys
import threading
import uuid
from typing import Any, NamedTuple

import numpy as np

from .._config import _settings, config_context
from . import numpy_backend
from ._standard import Assignment, ParallelRound, StandardBackend

Array = Any


def _assign_block(
    xb, wb, centers, offset, previous=None, *, scale, acc, settings, keep=True,
    measure=False, previous_are_centers=False,
):  # fmt: skip
    """One block's labels; with ``wb``, its partial sums and weights, with
    ``previous`` (the block's labels of the step before, or with
    ``previous_are_centers`` the centres they came from) how many changed,
    and with ``measure`` its weighted inertia and rows per centre (for a
    step whose labels are not kept: ``keep=False``)."""
    if previous_are_centers:
        previous = _labels_of_block(xb, previous, offset, scale, settings)
    with config_context(**settings):
        step = numpy_backend().assign_chunked(
            np.asarray(xb),
            np.asarray(centers),
            sample_weight=None if wb is None else np.asarray(wb),
            accumulate=wb is not None,
            acc_dtype=acc,
            offset=None if offset is None else np.asarray(offset),
            scale=scale,
        )
        inertia, rows = 0.0, 0
        if measure:
            inertia = numpy_backend().weighted_inertia(
                np.asarray(xb), np.asarray(wb), np.asarray(centers), step.labels
            )
            rows = np.bincount(step.labels, minlength=np.shape(centers)[0])
    changed = 0 if previous is None else int(np.count_nonzero(step.labels != previous))
    labels = step.labels if keep else None
    return labels, step.sums, step.weights, changed, inertia, rows


def _labels_of_block(xb, centers, offset, scale, settings):
    return _assign_block(
        xb, None, centers, offset, scale=scale, acc=None, settings=settings
    )[0]


def _rows_mean(rows, acc):
    """The column means of a few rows in ``acc``, zero where not finite (a
    shift for the moments; X's finiteness is checked with them)."""
    with np.errstate(all="ignore"):
        mean = np.mean(np.asarray(rows, dtype=acc), axis=0)
    return np.where(np.isfinite(mean), mean, 0).astype(acc)


def _block_moments(xb, acc, settings):
    """A block's column moments and extremes in one read, (1, 5, d) in ``acc``:
    a shift (the mean of its first rows), the column sums of ``x - shift``
    and of their squares, the column minima and maxima.

    Compiled, one pass over the block, where numba is there; else NumPy's
    reductions, with the same sums bit for bit. Data that are not finite,
    or whose squares overflow, give inf or NaN sums here, without a
    warning; the extremes measured with them say which it was.
    """
    from ._numpy import _compiled_kernels

    xb = np.asarray(xb)
    out = np.zeros((5, xb.shape[1]), dtype=acc)
    out[0] = shift = _rows_mean(xb[:1024], acc)
    with config_context(**settings):
        kernels = _compiled_kernels(xb.size, xb)
    if kernels is not None:
        kernels.column_moments(xb, shift, out[1:])
    else:
        with np.errstate(all="ignore"):
            xa = np.asarray(xb, dtype=acc) - shift
            out[1], out[2] = xa.sum(axis=0), (xa * xa).sum(axis=0)
        out[3], out[4] = np.inf, -np.inf
    if xb.shape[0] and not (kernels is not None and np.all(np.isfinite(out[1:3]))):
        # NumPy's extremes (a NaN where the column holds one).
        out[3], out[4] = np.min(xb, axis=0), np.max(xb, axis=0)
    return out[None]


def _combine_moments(parts, row_chunks):
    """The column means and variances of X from its blocks' moments
    (:func:`_block_moments`), each block's taken around its own shift: the
    blocks' means and sums of squared deviations, combined exactly (Chan,
    Golub and LeVeque's pairwise update, in block order)."""
    rows = np.asarray(row_chunks, dtype=parts.dtype)[:, None]
    shift, s1, s2 = parts[:, 0], parts[:, 1], parts[:, 2]
    with np.errstate(all="ignore"):
        means = shift + s1 / np.maximum(rows, 1)
        deviations = s2 - s1 * (s1 / np.maximum(rows, 1))
        n = rows.sum()
        mean = (rows * means).sum(axis=0) / n
        m2 = deviations.sum(axis=0) + (rows * (means - mean) ** 2).sum(axis=0)
    return mean, m2 / n


def _round_cap(ell: float) -> int:
    """How many rows a block returns from a k-means|| round: twice the
    expected number kept over all the blocks, and some."""
    return int(2 * math.ceil(ell) + 64)


def _parallel_block(xb, wb, ub, cb, nb, rows, start, first, ell, acc, cap, settings):
    """One block's k-means|| round (:meth:`DaskBackend.parallel_round`): its
    nearest candidates updated with the new ``rows``, its potential, and the
    (at most ``cap``) rows most likely kept whatever the round's total turns
    out to be: those of the highest ``ell·w·d²/u`` (a row is kept when that
    exceeds the total). Also the highest ratio left out, which tells whether
    the cap may have cut off a kept row."""
    xb = np.asarray(xb)
    with config_context(**settings):
        dist, position = numpy_backend().nearest_candidates(
            xb, rows, start, cb, nb, acc=acc
        )
    weighted = dist * np.asarray(wb).astype(acc)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(weighted > 0, ell * weighted / ub, -np.inf)
    if cap >= ratio.size:
        top, cut = np.arange(ratio.size), -np.inf
    else:
        # The cap highest ratios before position cap, the next one at it.
        order = np.argpartition(-ratio, cap)
        top, cut = order[:cap], float(ratio[order[cap]])
    top = np.sort(top[ratio[top] > -np.inf])
    summary = (weighted.sum(), top + first, ub[top], weighted[top], xb[top], cut)
    return dist, position, summary


def _add_partials(a, b):
    """Two blocks' (or subtrees') results: their partial sums, weights,
    changed counts, inertias and rows per centre added."""
    return (None, *(x + y for x, y in zip(a[1:], b[1:], strict=True)))


def _collect(steps, total):
    return [s[0] for s in steps], *total[1:]


def _step_graph(
    X, w, centers, offset, previous, scale, acc, settings, *, keep=True,
    measure=False, labels_name=None,
):  # fmt: skip
    """The task graph of one accumulating pass, and the key of its result.

    Task ``(name, i)`` assigns block i (labels, partial sums and weights,
    changed labels); the partials are added pairwise in block order (a tree,
    so no task waits on all blocks but the last); the result is the list of
    label blocks (None without ``keep``) and the totals. With
    ``labels_name``, the label blocks are keys ``(labels_name, i)`` of their
    own instead (to be held where they were computed) and the result holds
    the totals alone. Written as a graph rather than with ``dask.delayed``,
    whose argument traversal took a tenth of a pass.
    """
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    C = centers.rechunk(centers.shape)
    deps = [X, w, C]
    # Lazy labels of X from known centres (``_lazy_labels``): the block's
    # task assigns them itself, where it reads the block (as its own task,
    # the scheduler could run them on another worker, which then sent the
    # block over).
    source = getattr(previous, "_arraykmeans_source", None)
    prev_centers = None
    if source is not None and _same_frame(source, X, offset, scale):
        prev_centers = source.centers
    token = tokenize(
        X.name, w.name, C.name, scale, str(acc),
        None if previous is None else previous.name, keep, measure,
    )  # fmt: skip
    name = f"arraykmeans-step-{token}"
    task = functools.partial(
        _assign_block, scale=scale, acc=acc, settings=settings, keep=keep,
        measure=measure, previous_are_centers=prev_centers is not None,
    )  # fmt: skip
    off_key = None
    if offset is not None:
        offset = offset.rechunk(offset.shape)
        deps.append(offset)
        off_key = (offset.name, *([0] * offset.ndim))
    if prev_centers is not None:
        deps.append(prev_centers)
    elif previous is not None:
        deps.append(previous)
    layer: dict[Any, Any] = {}
    keys = []
    for i in range(X.numblocks[0]):
        prev_key = None if previous is None else (previous.name, i)
        if prev_centers is not None:
            prev_key = (prev_centers.name, 0, 0)
        layer[(name, i)] = (
            task,
            (X.name, i, 0),
            (w.name, i),
            (C.name, 0, 0),
            off_key,
            prev_key,
        )
        keys.append((name, i))
    level, parts = 0, keys
    while len(parts) > 1:
        level += 1
        paired = []
        for j in range(0, len(parts) - 1, 2):
            layer[(f"{name}-sum{level}", j)] = (_add_partials, parts[j], parts[j + 1])
            paired.append((f"{name}-sum{level}", j))
        if len(parts) % 2:
            paired.append(parts[-1])
        parts = paired
    if labels_name is not None:
        for i, key in enumerate(keys):
            layer[(labels_name, i)] = (_first, key)
        keys = []
    layer[name] = (_collect, keys, parts[0])
    graph = HighLevelGraph.from_collections(name, layer, dependencies=deps)
    return graph, name


def _first(values):
    return values[0]


class _LabelSource(NamedTuple):
    """What lazy labels (:func:`_lazy_labels`) are computed from: X (its
    name), the centres, and the frame (offset and scale) X is assigned in."""

    x_name: str
    centers: Array
    offset: Array | None
    scale: float


def _same_frame(source: _LabelSource, X: Array, offset: Array | None, scale: float):
    """Whether lazy labels of ``source`` assign the same rows as a step on X
    in the frame ``offset``, ``scale`` (then the step recomputes them itself)."""
    unshifted = source.offset is None and offset is None
    return unshifted and source.x_name == X.name and source.scale == scale


def _lazy_labels(X, centers, offset, scale, settings) -> Array:
    """The labels of X's row blocks from ``centers`` (and ``offset``), one-chunk
    Dask arrays, as a lazy Dask array: each block is assigned where it is
    read, so a graph that also reads X for another use reads each block
    once for both (a step's test of changed labels)."""
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    C = centers.rechunk(centers.shape)
    deps = [X, C]
    off_key = None
    if offset is not None:
        offset = offset.rechunk(offset.shape)
        deps.append(offset)
        off_key = (offset.name, *([0] * offset.ndim))
    name = f"arraykmeans-labels-{tokenize(X.name, C.name, off_key, scale)}"
    task = functools.partial(_labels_of_block, scale=scale, settings=settings)
    layer = {
        (name, i): (task, (X.name, i, 0), (C.name, 0, 0), off_key)
        for i in range(X.numblocks[0])
    }
    graph = HighLevelGraph.from_collections(name, layer, dependencies=deps)
    labels = _int_labels(graph, name, X.chunks[0])
    # What they are computed from, for a step that compares with them.
    labels._arraykmeans_source = _LabelSource(X.name, C, offset, scale)
    return labels


def _int_labels(graph: Any, name: str, row_chunks: Any) -> Array:
    """The 1-D int32 Dask array of keys ``(name, i)`` of ``graph``."""
    import dask.array as da

    return da.Array(
        graph, name, chunks=(tuple(row_chunks),), dtype=np.int32,
        meta=np.empty((0,), np.int32),
    )  # fmt: skip


def _is_held(X: Array) -> bool:
    """Whether X's blocks are held (persisted: arrays in the graph, or futures
    on a cluster) rather than tasks that read or compute them."""
    graph = X.__dask_graph__()
    if len(graph.layers) != 1:
        return False
    keys = X.__dask_keys__()
    while keys and isinstance(keys[0], list):
        keys = [key for row in keys for key in row]
    return all(
        hasattr(graph[key], "dtype") or type(graph[key]).__name__ == "Future"
        for key in keys
    )


def _array_of_blocks(blocks: list[np.ndarray], row_chunks: Any) -> Array:
    """A 1-D Dask array whose chunks are ``blocks`` (in memory), with no copy."""
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph

    name = f"arraykmeans-labels-{uuid.uuid4().hex}"
    layer = {(name, i): block for i, block in enumerate(blocks)}
    graph = HighLevelGraph.from_collections(name, layer, dependencies=())
    return da.Array(graph, name, chunks=(tuple(row_chunks),), dtype=blocks[0].dtype)


def _from_block_parts(parts: list[Any], row_chunks: Any, dtype: Any) -> Array:
    """A 1-D Dask array of delayed blocks of ``row_chunks`` rows."""
    import dask.array as da

    return da.concatenate(
        [
            da.from_delayed(p, (rows,), dtype=dtype, meta=np.empty((0,), dtype))
            for p, rows in zip(parts, row_chunks, strict=True)
        ]
    )


def _has_cluster() -> bool:
    """Whether a ``distributed`` client is current (computations then run on
    its workers). Without ``distributed`` imported there is none (and it is
    not imported here: its import is slow)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        distributed.default_client()
    except ValueError:
        return False
    return True


def _block_settings() -> dict[str, Any]:
    """The caller's settings for the blocks (Dask's worker threads do not
    inherit context variables), with one thread per block: Dask runs the
    blocks in parallel already."""
    settings = dict(_settings())
    settings["n_threads"] = 1
    settings["progress"] = None  # the caller's, called in the caller's thread
    return settings


def _small_compute(values: list[Array]) -> dict[str, Any]:
    """``compute`` options for ``values``: graphs of a few tasks (the stopping
    flags, computed from in-memory centres) run unoptimised in the calling
    thread, where a thread pool's start and optimisation cost more than the
    work (16 ms of a 250 ms iteration on 4e6 x 32); others as configured,
    and all on the workers when a ``distributed`` client is current (a small
    graph there may still read X: its blocks are the cluster's)."""
    if sum(len(v.__dask_graph__()) for v in values) <= 64 and not _has_cluster():
        return {"scheduler": "sync", "optimize_graph": False}
    return {}


class DaskBackend(StandardBackend):
    """Dask arrays with NumPy chunks: block-wise passes, one compute per step."""

    name = "dask"
    materialises_stacks = True

    # ------------------------------------------------------------ chunking
    # Dask chunks the data itself: the standard code's row chunks would only
    # add slicing nodes to the graph.

    def chunk_rows(self, n_rows, bytes_per_row, *, cache_rows=None):
        return max(1, n_rows)

    def iter_problem_chunks(
        self, n_problems, n_rows, bytes_per_row, *, cache_bytes=None
    ):
        yield slice(0, n_problems), slice(0, n_rows)

    def settle(self, *arrays: Array) -> Any:
        import dask

        # One persist: the arrays' shared graph (a pass over X) runs once.
        held = dask.persist(*arrays)
        return held[0] if len(held) == 1 else held

    def host_backend(self) -> StandardBackend:
        """The backend stacks are fitted with once read into memory."""
        return numpy_backend()

    # ---------------------------------------------------- host <-> device

    def to_host(self, x: Array) -> np.ndarray:
        return np.asarray(x.compute()) if hasattr(x, "compute") else np.asarray(x)

    def host_scalars(self, values: list[Array], dtype: Any) -> list[float]:
        import dask

        return [float(v) for v in dask.compute(*values, **_small_compute(values))]

    def from_host(self, values: np.ndarray, *, dtype: Any, device: Any) -> Array:
        dtype = None if dtype is None else np.dtype(dtype)
        return self.wrap(np.asarray(values, dtype=dtype))

    def wrap(self, values: np.ndarray) -> Array:
        """An in-memory NumPy array as a one-chunk Dask array."""
        import dask.array as da

        values = np.asarray(values)
        # name=False: a fresh name instead of a hash of the data (hashing the
        # labels of a 1 GB X took longer than comparing them).
        return da.from_array(values, chunks=values.shape or (), name=False)

    # ------------------------------------------------------------- data

    @staticmethod
    def _row_blocks(X: Array) -> Array:
        """X with one chunk across its columns, so that blocks are whole rows."""
        return X.rechunk({1: -1}) if X.numblocks[1] > 1 else X

    def fit_extremes(self, X: Array) -> tuple[float, float]:
        """X's extremes and column moments in one pass: the moments are kept
        (by X's name) for :meth:`centre_columns`, which would otherwise read
        X again: a fit of data read from their source pays one read for the
        finiteness check and the centring. Moments that are not finite (X
        not finite, or squares beyond the float range, which the fit scales
        away before centring) are not kept."""
        if X.ndim != 2:
            return self.extremes(X)
        X = self._row_blocks(X)
        parts = self._moment_parts(X)
        if not parts.shape[0]:
            return self.extremes(X)
        with np.errstate(invalid="ignore"):
            low, high = np.min(parts[:, 3]), np.max(parts[:, 4])
        moments = _combine_moments(parts, X.chunks[0])
        if np.all(np.isfinite(parts[:, :3])) and np.all(np.isfinite(moments)):
            _remember_moments(X, moments)
        return float(low), float(high)

    def _moment_parts(self, X: Array) -> np.ndarray:
        """Every block's column moments and extremes (:func:`_block_moments`),
        one read of X, one compute: a (blocks, 5, d) host array."""
        acc = np.dtype(self.accumulation_dtype(X.dtype, None))
        parts = X.map_blocks(
            _block_moments, acc, _block_settings(), new_axis=1, dtype=acc,
            chunks=((1,) * X.numblocks[0], (5,), (X.shape[1],)),
            meta=np.empty((0, 0, 0), acc),
        )  # fmt: skip
        return np.asarray(parts.compute())

    def centre_columns(self, X: Array) -> tuple[Array, Array, Array]:
        """The column means and variances, and the centred X, persisted when
        it fits: every pass after it then reads X from memory instead of
        recomputing its graph.

        Each block's moments are taken around a shift near its mean (see
        :func:`_block_moments`), so that its sum of squared deviations loses
        nothing to cancellation and one pass gives both; the blocks' are
        then combined exactly. The moments :meth:`fit_extremes` measured are
        used when it did (no pass at all here).
        """
        X = self._row_blocks(X)
        moments = _recall_moments(X)
        if moments is None:
            moments = _combine_moments(self._moment_parts(X), X.chunks[0])
        mean, var = moments
        mean = mean.astype(X.dtype)
        Xc = X - mean
        if X.nbytes <= _persist_budget():
            Xc = Xc.persist()
        return Xc, self.wrap(mean), self.wrap(var)

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
        """Block-wise assignment by the NumPy backend.

        Accumulating: one ``compute`` of the labels and the tree-summed
        partial sums, weights and (given ``previous``) counts of changed
        labels, returned as Dask arrays of those in-memory values.
        Otherwise: lazy labels, a Dask array mapped over X's blocks (the
        centres, small, are read to the host first).
        """
        X = self._row_blocks(X)
        if acc_dtype is None:
            acc_dtype = self.accumulation_dtype(X.dtype, None)
        acc = np.dtype(acc_dtype)
        if not accumulate:
            C = self.to_host(centers)
            off = None if offset is None else self.to_host(offset)
            labels = X.map_blocks(
                _labels_of_block, C, off, scale, _block_settings(),
                drop_axis=1, dtype=np.intp, meta=np.empty((0,), np.intp),
            )  # fmt: skip
            return Assignment(labels=labels, sums=None, weights=None)
        return self._step(X, centers, sample_weight, acc, offset, scale, previous)

    def _step(self, X, centers, sample_weight, acc, offset, scale, previous):
        """An accumulating assignment (:meth:`assign_chunked`): one pass."""
        from dask.delayed import Delayed

        settings = _block_settings()
        w = sample_weight.rechunk((X.chunks[0],))
        prev = None if previous is None else previous.rechunk((X.chunks[0],))
        held = _is_held(X)
        # Data read from their source on every pass: the
        # step measures its inertia and rows per centre, so that the fit's
        # last step needs no pass of its own, and its labels are not brought
        # back (nor sent out again as the next step's previous labels).
        measure = not held and offset is None and scale == 1.0
        on_workers = not held and X.shape[0] * 4 <= _persist_budget()
        if on_workers:
            # The centres as a one-key array of their values: their graph
            # (the last step's means), sent unoptimised with this step's,
            # would clash on the scheduler with its optimised form, which
            # the stopping flags' read sends.
            centers = self.wrap(self.to_host(centers))
        labels_name = f"arraykmeans-labels-{uuid.uuid4().hex}" if on_workers else None
        graph, key = _step_graph(
            X, w, centers, offset, prev, scale, acc, settings,
            keep=held or on_workers, measure=measure, labels_name=labels_name,
        )  # fmt: skip
        # Dask runs the blocks in parallel: BLAS threads within each block
        # would only contend with the other blocks'.
        with numpy_backend().one_blas_thread():
            if on_workers:
                import dask

                labels = _int_labels(graph, labels_name, X.chunks[0])
                labels, totals = dask.persist(
                    labels, Delayed(key, graph), optimize_graph=False
                )
                out = totals.compute()
            else:
                out = Delayed(key, graph).compute()
        _, sums, weights, changed, inertia, rows = out
        if held:
            labels = _array_of_blocks(out[0], X.chunks[0])
        elif not on_workers:
            labels = _lazy_labels(X, centers, offset, scale, settings)
        return Assignment(
            labels=labels,
            sums=self.wrap(sums),
            weights=self.wrap(weights),
            changed=None if previous is None else self.wrap(np.asarray(changed > 0)),
            inertia=float(inertia) if measure else None,
            n_distinct=int(np.count_nonzero(rows)) if measure else None,
        )

    def parallel_round(
        self, X, rows, start, closest, nearest, sample_weight, *, acc, sampler=None
    ) -> ParallelRound:
        """One pass over the blocks for a sampling round, one persist: each
        block updates its nearest candidates (held for the next round) and
        returns its potential and the rows that could be kept (the highest
        ``ell·w·d²/u``, a few times the expected number). The round's total
        then tells which are kept, by the same test as the standard code, so
        the same rows are drawn; a block whose returned rows may not hold all
        its kept ones (never seen but possible) is read once more. The
        uniforms are drawn before the pass (and put back if the total is 0).
        """
        if sampler is None:
            return super().parallel_round(
                X, rows, start, closest, nearest, sample_weight, acc=acc
            )
        import dask

        X = self._row_blocks(X)
        acc = np.dtype(acc)
        chunks = X.chunks[0]
        bounds = np.cumsum((0, *chunks))
        u = sampler.draw(X.shape[0]).astype(acc)
        ell = float(sampler.ell)
        cap = _round_cap(ell)
        block = dask.delayed(_parallel_block, nout=3, pure=True)
        R = dask.delayed(np.asarray(self.to_host(rows)))
        settings = _block_settings()

        def delayed_blocks(a):
            if a is None:
                return [None] * len(chunks)
            return a.rechunk((chunks,)).to_delayed(optimize_graph=False)

        parts = [
            block(x, w, u[bounds[i] : bounds[i + 1]], c, m, R, int(start),
                  int(bounds[i]), ell, acc, cap, settings)
            for i, (x, w, c, m) in enumerate(zip(
                X.to_delayed(optimize_graph=False)[:, 0],
                delayed_blocks(sample_weight), delayed_blocks(closest),
                delayed_blocks(nearest), strict=True,
            ))
        ]  # fmt: skip
        closest = _from_block_parts([p[0] for p in parts], chunks, acc)
        nearest = _from_block_parts([p[1] for p in parts], chunks, np.int64)
        with numpy_backend().one_blas_thread():
            closest, nearest, *held = dask.persist(
                closest, nearest, *[p[2] for p in parts]
            )
            summaries = dask.compute(*held)
        total = float(np.sum([s[0] for s in summaries]))
        if total == 0:
            sampler.undo()
            return ParallelRound(closest, nearest, total)
        picked, picked_rows = self._kept_rows(
            X, summaries, total, ell, (closest, sample_weight, u, bounds)
        )
        return ParallelRound(closest, nearest, total, picked, self.wrap(picked_rows))

    def _kept_rows(self, X, summaries, total, ell, held):
        """The rows a round keeps (``u·total < ell·w·d²``, as the standard code
        tests it) from the blocks' returned rows; a block whose highest ratio
        left out comes near the total is tested row by row again, from its
        held distances, and read once more for its kept rows."""
        import dask

        closest, sample_weight, u, bounds = held
        index, rows, again = [], [], []
        for i, (_, idx, us, ws, xs, cut) in enumerate(summaries):
            if cut >= total * (1 - 1e-4):
                again.append(i)
                index.append(None)
                rows.append(None)
                continue
            keep = us * total < ell * ws
            index.append(idx[keep])
            rows.append(xs[keep])
        if again:
            w = sample_weight.rechunk((closest.chunks[0],))
            got = dask.compute(
                *[(closest.blocks[i], w.blocks[i], X.blocks[i]) for i in again]
            )
            for i, (c, wb, xb) in zip(again, got, strict=True):
                ub = u[bounds[i] : bounds[i + 1]]
                keep = np.flatnonzero(ub * total < ell * (c * wb.astype(c.dtype)))
                index[i], rows[i] = keep + bounds[i], np.asarray(xb)[keep]
        return np.concatenate(index), np.concatenate(rows)

    def weighted_inertia(self, X, sample_weight, centers, labels) -> float:
        """Block-wise on the host backend: one pass, one compute."""
        import dask

        X = self._row_blocks(X)
        w = sample_weight.rechunk((X.chunks[0],))
        lab = labels.rechunk((X.chunks[0],))
        C = dask.delayed(np.asarray)(centers)
        settings = _block_settings()
        blocks = zip(
            # Not optimised: an optimised graph renames the keys of held
            # blocks, whose futures a cluster may then have released.
            X.to_delayed(optimize_graph=False)[:, 0],
            w.to_delayed(optimize_graph=False),
            lab.to_delayed(optimize_graph=False),
            strict=True,
        )
        parts = [
            dask.delayed(_inertia_block)(xb, wb, C, lb, settings)
            for xb, wb, lb in blocks
        ]
        return float(sum(dask.compute(*parts)))

    # ------------------------------------------------- whole label vectors

    def count_distinct(self, labels: Array, k: int) -> int:
        return numpy_backend().count_distinct(self.to_host(labels), k)

    def is_same_clustering(self, labels1: Array, labels2: Array) -> bool:
        import dask

        a, b = dask.compute(labels1, labels2)
        return numpy_backend().is_same_clustering(np.asarray(a), np.asarray(b))

    # ------------------------------------------------------------ gathers

    def take_along_rows(self, values: Array, indices: Array) -> Array:
        idx = self.to_host(indices)
        rows = np.arange(idx.shape[0])[:, None]
        return self.xp.asarray(values.vindex[rows, idx])

    def gather_rows(self, X: Array, indices: Array) -> Array:
        idx = self.to_host(indices)
        rows = np.arange(idx.shape[0])[:, None]
        return X.vindex[rows, idx]


def _persist_budget() -> float:
    """Bytes of data a fit may hold in memory: the setting
    ``dask_persist_bytes``, else half the memory of the current
    ``distributed`` client's workers, else half this machine's available
    memory (everything if that is unknown)."""
    from .._config import _settings

    configured = _settings()["dask_persist_bytes"]
    if configured is not None:
        return float(configured)
    try:
        from distributed import default_client

        workers = default_client().scheduler_info()["workers"].values()
        return 0.5 * sum(float(w.get("memory_limit") or np.inf) for w in workers)
    except (ImportError, ValueError):
        pass
    try:
        import psutil
    except ImportError:
        return np.inf
    return 0.5 * psutil.virtual_memory().available


# Column moments measured with a fit's finiteness check, by array name (Dask
# names are tokens of the graphs: one name, one array), until its centring.
_MOMENTS: dict[str, Any] = {}
_MOMENTS_LOCK = threading.Lock()


def _remember_moments(X: Array, moments: Any) -> None:
    with _MOMENTS_LOCK:
        _MOMENTS[X.name] = moments
        while len(_MOMENTS) > 8:  # fits abandoned between check and centring
            del _MOMENTS[next(iter(_MOMENTS))]


def _recall_moments(X: Array) -> Any:
    with _MOMENTS_LOCK:
        return _MOMENTS.pop(X.name, None)


def _inertia_block(xb, wb, centers, lb, settings):
    with config_context(**settings):
        return numpy_backend().weighted_inertia(
            np.asarray(xb), np.asarray(wb), np.asarray(centers), np.asarray(lb)
        )
