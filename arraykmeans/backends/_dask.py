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
  iteration reads X from memory rather than recomputing its graph.
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

from typing import Any

import numpy as np

from .._config import _settings, config_context
from ._standard import Assignment, StandardBackend

Array = Any


def _host_backend() -> StandardBackend:
    import array_api_compat.numpy as np_xp

    from . import get_backend

    return get_backend(np_xp)


def _assign_block(xb, wb, centers, offset, scale, acc, settings):
    """One block's labels, and its partial sums and weights when ``wb`` is given."""
    with config_context(**settings):
        step = _host_backend().assign_chunked(
            np.asarray(xb),
            np.asarray(centers),
            sample_weight=None if wb is None else np.asarray(wb),
            accumulate=wb is not None,
            acc_dtype=acc,
            offset=None if offset is None else np.asarray(offset),
            scale=scale,
        )
    return step.labels, step.sums, step.weights


def _labels_of_block(xb, centers, offset, scale, settings):
    return _assign_block(xb, None, centers, offset, scale, None, settings)[0]


def _add_partials(a, b):
    return a[0] + b[0], a[1] + b[1]


def _tree_sum(delayed: Any, parts: list[Any]) -> Any:
    """Pairwise sums of delayed ``(sums, weights)`` partials, in block order."""
    while len(parts) > 1:
        paired = [
            delayed(_add_partials)(parts[i], parts[i + 1])
            for i in range(0, len(parts) - 1, 2)
        ]
        if len(parts) % 2:
            paired.append(parts[-1])
        parts = paired
    return parts[0]


def _partials(step: Any) -> tuple[Any, Any]:
    return step[1], step[2]


def _block_settings() -> dict[str, Any]:
    """The caller's settings for the blocks (Dask's worker threads do not
    inherit context variables), with one thread per block: Dask runs the
    blocks in parallel already."""
    settings = dict(_settings())
    settings["n_threads"] = 1
    return settings


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

    def host_backend(self) -> StandardBackend:
        """The backend stacks are fitted with once read into memory."""
        return _host_backend()

    # ---------------------------------------------------- host <-> device

    def to_host(self, x: Array) -> np.ndarray:
        return np.asarray(x.compute()) if hasattr(x, "compute") else np.asarray(x)

    def host_scalars(self, values: list[Array], dtype: Any) -> list[float]:
        import dask

        return [float(v) for v in dask.compute(*values)]

    def from_host(self, values: np.ndarray, *, dtype: Any, device: Any) -> Array:
        import dask.array as da

        values = np.asarray(values, dtype=np.dtype(dtype))
        return da.from_array(values, chunks=values.shape or ())

    def wrap(self, values: np.ndarray, row_chunks: Any = None) -> Array:
        """An in-memory NumPy array as a Dask array (one node per chunk)."""
        import dask.array as da

        values = np.asarray(values)
        if row_chunks is None:
            return da.from_array(values, chunks=values.shape or ())
        return da.from_array(values, chunks=(row_chunks, *values.shape[1:]))

    # ------------------------------------------------------------- data

    @staticmethod
    def _row_blocks(X: Array) -> Array:
        """X with one chunk across its columns, so that blocks are whole rows."""
        return X.rechunk({1: -1}) if X.numblocks[1] > 1 else X

    def centre_columns(self, X: Array) -> tuple[Array, Array, Array]:
        """The standard centring, with the centred copy persisted: every pass
        after it reads X from memory instead of recomputing its graph."""
        import dask

        acc = self.accumulation_dtype(X.dtype, None)
        X = self._row_blocks(X)
        n = X.shape[0]
        (total,) = dask.compute(self.xp.sum(self.xp.astype(X, acc), axis=0))
        mean = (total / n).astype(X.dtype)
        Xc = (X - mean).persist()
        Xa = self.xp.astype(Xc, acc)
        s1, s2 = dask.compute(self.xp.sum(Xa, axis=0), self.xp.sum(Xa * Xa, axis=0))
        var = s2 / n - (s1 / n) ** 2
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
    ) -> Assignment:
        """Block-wise assignment by the NumPy backend.

        Accumulating: one ``compute`` of the labels and the tree-summed
        partial sums and weights, returned as Dask arrays of those in-memory
        values. Otherwise: lazy labels, a Dask array mapped over X's blocks
        (the centres, small, are read to the host first).
        """
        import dask

        X = self._row_blocks(X)
        if acc_dtype is None:
            acc_dtype = self.accumulation_dtype(X.dtype, None)
        acc = np.dtype(acc_dtype)
        settings = _block_settings()
        if not accumulate:
            C = self.to_host(centers)
            off = None if offset is None else self.to_host(offset)
            labels = X.map_blocks(
                _labels_of_block, C, off, scale, settings,
                drop_axis=1, dtype=np.intp, meta=np.empty((0,), np.intp),
            )  # fmt: skip
            return Assignment(labels=labels, sums=None, weights=None)
        delayed = dask.delayed
        w = sample_weight.rechunk((X.chunks[0],))
        blocks = X.to_delayed()[:, 0]
        wblocks = w.to_delayed()
        # Small dask arrays (the centres, the frame's offset) enter the graph
        # once and are shared by every block.
        C = delayed(np.asarray)(centers)
        off = None if offset is None else delayed(np.asarray)(offset)
        steps = [
            delayed(_assign_block, nout=3)(xb, wb, C, off, scale, acc, settings)
            for xb, wb in zip(blocks, wblocks, strict=True)
        ]
        total = _tree_sum(delayed, [delayed(_partials)(s) for s in steps])
        labels, (sums, weights) = dask.compute([s[0] for s in steps], total)
        return Assignment(
            labels=self.wrap(np.concatenate(labels), X.chunks[0]),
            sums=self.wrap(sums),
            weights=self.wrap(weights),
        )

    def weighted_inertia(self, X, sample_weight, centers, labels) -> float:
        """Block-wise on the host backend: one pass, one compute."""
        import dask

        X = self._row_blocks(X)
        w = sample_weight.rechunk((X.chunks[0],))
        lab = labels.rechunk((X.chunks[0],))
        C = dask.delayed(np.asarray)(centers)
        settings = _block_settings()
        blocks = zip(
            X.to_delayed()[:, 0], w.to_delayed(), lab.to_delayed(), strict=True
        )
        parts = [
            dask.delayed(_inertia_block)(xb, wb, C, lb, settings)
            for xb, wb, lb in blocks
        ]
        return float(sum(dask.compute(*parts)))

    # ------------------------------------------------- whole label vectors

    def count_distinct(self, labels: Array, k: int) -> int:
        return _host_backend().count_distinct(self.to_host(labels), k)

    def is_same_clustering(self, labels1: Array, labels2: Array) -> bool:
        import dask

        a, b = dask.compute(labels1, labels2)
        return _host_backend().is_same_clustering(np.asarray(a), np.asarray(b))

    # ------------------------------------------------------------ gathers

    def take_along_rows(self, values: Array, indices: Array) -> Array:
        idx = self.to_host(indices)
        rows = np.arange(idx.shape[0])[:, None]
        return self.xp.asarray(values.vindex[rows, idx])

    def gather_rows(self, X: Array, indices: Array) -> Array:
        idx = self.to_host(indices)
        rows = np.arange(idx.shape[0])[:, None]
        return X.vindex[rows, idx]


def _inertia_block(xb, wb, centers, lb, settings):
    with config_context(**settings):
        return _host_backend().weighted_inertia(
            np.asarray(xb), np.asarray(wb), np.asarray(centers), np.asarray(lb)
        )
