"""The CuPy backend: the assignment's argmin and sums in CUDA kernels.

The same computation as the standard backend with everything after the distance
product in the kernels of :mod:`arraykmeans.backends._cupy_kernels`: a
warp-per-row argmin that adds the centre norms as it reads, and float64 sums
over the rows sorted by label (deterministic: no atomics). The labels are the
same as the standard backend's (same product, same additions, first index on
ties); the sums are equal to rounding, accumulated in float64 rather than
formed by a product in the data dtype. ``config_context(use_gpu_kernels=False)``
runs the standard code on CuPy instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._config import _settings
from ._standard import Assignment, StandardBackend, _framed, iter_chunks

Array = Any


class CupyBackend(StandardBackend):
    """CuPy arrays on an NVIDIA GPU."""

    name = "cupy"

    def to_host(self, x: Array) -> np.ndarray:
        return x.get()

    def _kernels_for(self, dtype: Any, acc_dtype: Any) -> Any:
        if not _settings()["use_gpu_kernels"]:
            return None
        from . import _cupy_kernels as cuk

        ok = cuk.supported(dtype) and acc_dtype == self.xp.float64
        return cuk if ok else None

    def _assign(self, X, centers, sample_weight, accumulate, acc_dtype, offset, scale):
        cuk = self._kernels_for(X.dtype, acc_dtype)
        if cuk is None:
            return super()._assign(
                X, centers, sample_weight, accumulate, acc_dtype, offset, scale
            )
        import cupy

        n, d = X.shape
        k = centers.shape[0]
        # The distance block is the one temporary per row (plus the moved rows).
        rows = self.chunk_rows(n, X.dtype.itemsize * (k + d) + 16)
        neg2_ct = (centers * -2).T
        c_norms = cupy.ascontiguousarray(self.row_sq_norms(centers)[None, :])
        labels = cupy.empty(n, dtype=cupy.int64)
        sums = weights = None
        if accumulate:
            sums = cupy.zeros((k, d), dtype=cupy.float64)
            weights = cupy.zeros(k, dtype=cupy.float64)
        # Rows used as they are (the Lloyd steps) are summed in one pass after
        # the loop: one sort for all rows instead of one per chunk.
        moved = offset is not None or scale != 1.0
        for sl in iter_chunks(n, rows):
            Xc = _framed(X[sl], offset, scale)
            dist = cupy.matmul(Xc, neg2_ct)
            cuk.argmin_rows(dist, c_norms, dist.shape[0], labels[sl])
            if accumulate and moved:
                cuk.segment_sums(Xc, sample_weight[sl], labels[sl], sums, weights)
        if accumulate and not moved:
            cuk.segment_sums(X, sample_weight, labels, sums, weights)
        return Assignment(labels=labels, sums=sums, weights=weights)

    def _assign_stack(
        self, X, centers, sample_weight, accumulate, acc_dtype, offset, scale,
        active, previous, settled,
    ):  # fmt: skip
        cuk = self._kernels_for(X.dtype, acc_dtype)
        if cuk is None:
            return super()._assign_stack(
                X, centers, sample_weight, accumulate, acc_dtype, offset, scale,
                active, previous, settled,
            )  # fmt: skip
        import cupy

        B, n, d = X.shape
        k = centers.shape[1]
        neg2_ct = self.stacked_transpose(centers * -2)
        c_norms = self.row_sq_norms(centers)
        moved = offset is not None or scale != 1.0
        sums = weights = None
        if accumulate:
            sums = cupy.zeros((B, k, d), dtype=acc_dtype)
            weights = cupy.zeros((B, k), dtype=acc_dtype)
        labels = cupy.empty((B, n), dtype=cupy.int64)
        per_chunk = accumulate and moved
        for p, r in self.iter_problem_chunks(B, n, X.dtype.itemsize * (2 * k + d) + 16):
            Xc = _framed(X[p, r, :], None if offset is None else offset[p], scale)
            # The batched product, then the kernels over all the chunk's rows
            # at once, adding into views of the sums (rows used as they are
            # are summed after the loop, in one pass).
            dist = cupy.matmul(Xc, neg2_ct[p])
            P, R, _ = Xc.shape
            flat = cupy.empty(P * R, dtype=cupy.int64)
            cuk.argmin_rows(dist.reshape(P * R, k), c_norms[p], R, flat)
            chunk_labels = flat.reshape(P, R)
            labels[p, r] = chunk_labels
            if per_chunk:
                _sum_problems(
                    cuk, Xc, sample_weight[p, r], chunk_labels, sums[p], weights[p]
                )
        if accumulate and not moved:
            _sum_problems(cuk, X, sample_weight, labels, sums, weights)
        return Assignment(labels=labels, sums=sums, weights=weights)


def _sum_problems(cuk, X, w, labels, sums, weights):
    # The sums of a stack (or of a chunk of one) in one pass: cells
    # problem * k + label, added into ``sums`` (B, k, d) and ``weights`` (B, k).
    import cupy

    B, n, d = X.shape
    k = weights.shape[1]
    cells = labels + (cupy.arange(B, dtype=labels.dtype) * k)[:, None]
    cuk.segment_sums(
        X.reshape(B * n, d), w.reshape(B * n), cells.reshape(B * n), sums, weights
    )
