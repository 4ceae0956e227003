"""The PyTorch backend (CPU and CUDA tensors).

PyTorch has scatter-adds the standard lacks: centre sums are formed with
``index_add_`` (O(n d), instead of the standard backend's (k, n) one-hot
product, O(n k d)) and weights with ``bincount``. On CUDA, ``index_add_`` on
floating tensors adds in an order that can vary between runs; results stay
deterministic for a fixed seed on the CPU, and on CUDA when
``torch.use_deterministic_algorithms(True)`` is set. Gathers need int64
indices.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import numpy_backend
from ._standard import StandardBackend

Array = Any


class TorchBackend(StandardBackend):
    """PyTorch tensors: scatter-add sums, int64 gather indices, DLPack copies."""

    name = "torch"
    prefers_cache_chunks = True  # chunk_rows' cache_rows is only given on the CPU

    def to_host(self, x: Array) -> np.ndarray:
        return x.detach().cpu().numpy()

    def segment_sum(self, values, segment_ids, n_segments, *, dtype):
        import torch

        # Added in the values' dtype, as the standard backend's product adds
        # them, then widened: widening n x d values first took twice as long
        # as the whole assignment.
        out = torch.zeros(
            (n_segments, values.shape[1]), dtype=values.dtype, device=values.device
        )
        out.index_add_(0, segment_ids.to(torch.int64), values)
        return out.to(dtype)

    def weight_sum(self, weights, segment_ids, n_segments, *, dtype):
        import torch

        out = torch.zeros((n_segments,), dtype=dtype, device=weights.device)
        return out.index_add_(0, segment_ids.to(torch.int64), weights.to(dtype))

    def host_twin(self, X: Array) -> StandardBackend | None:
        """The NumPy backend for CPU tensors of float32 or float64: it fits
        them on their own memory, 1.0-1.1x NumPy's time where torch's own
        operations took 1.1-2.2x (per-operation costs dominate small fits)."""
        from .._config import _settings

        if _settings()["share_cpu_memory"] and _numpy_shareable(X):
            return numpy_backend()
        return None

    @contextlib.contextmanager
    def fitting(self, X: Array) -> Iterator[None]:
        """On the CPU, torch's own operations run in the caller's thread
        during the fit (``torch.set_num_threads(1)``, restored after; torch's
        setting is process-wide).

        The passes over X run in the NumPy backend on the tensors' memory,
        with its own threads; the algorithm's torch operations are on small
        (k, d) arrays. torch runs those of 32768 elements or more on its
        OpenMP threads, which then spin-wait for the next parallel region
        and hold cores the next NumPy pass needs: at (5000, 512) float64,
        k=64, on 2 cores a fit took 1.85x NumPy's time with torch's 2 threads
        and 1.07x with one.
        """
        import torch

        if X.device.type != "cpu" or torch.get_num_threads() == 1:
            yield
            return
        from .._config import config_context
        from ._threads import worker_threads

        # The NumPy passes keep the thread count they had: it follows the
        # OpenMP libraries' counts, torch's among them.
        workers = worker_threads()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with config_context(n_threads=workers):
                yield
        finally:
            torch.set_num_threads(threads)

    def assign_chunked(self, X, centers, *, previous=None, **options):
        """The standard assignment; on the CPU, whether labels changed is
        compared by NumPy on the tensors' memory.

        torch runs an elementwise operation over n labels on its OpenMP
        threads, which then spin-wait for the next parallel region and hold a
        core the following compiled NumPy pass needs: on 2 cores that
        comparison made torch's fits 1.5x NumPy's at (100000, 32) float32,
        k=100, against 1.03x without it.
        """
        step = super().assign_chunked(X, centers, **options)
        if previous is not None:
            if step.labels.device.type == "cpu":
                import torch

                differ = np.any(step.labels.numpy() != previous.numpy())
                step.changed = torch.asarray(bool(differ))
            else:
                step.changed = self.xp.any(step.labels != previous)
        return step

    def count_distinct(self, labels: Array, k: int) -> int:
        # A count per label (O(n)); torch's sort of 100000 labels took 0.1 s
        # on one thread, half a 10-iteration fit at (100000, 32), k=100.
        import torch

        return int(torch.count_nonzero(torch.bincount(labels, minlength=k)))

    def _assign(self, X, centers, sample_weight, accumulate, acc_dtype, offset, scale):
        """On the CPU, the NumPy backend's assignment on the same memory;
        elsewhere (CUDA, half precision) :meth:`_assign_torch`.

        CPU tensors and NumPy arrays share memory, so the NumPy backend (and
        its compiled loops) runs on the tensors without a copy. The
        torch-native step took 1.1-3.6x the time of this one at the standard
        benchmark shapes (2-core AMD EPYC; 2.2x at (100000, 32) float32,
        k=100; 3.6x at (10000, 2), k=8, where per-call costs dominate).
        """
        arrays = [X, centers, sample_weight, offset]
        if not all(a is None or _numpy_shareable(a) for a in arrays):
            return self._assign_torch(
                X, centers, sample_weight, accumulate, acc_dtype, offset, scale
            )
        import torch

        from ._standard import Assignment

        def host(a):
            return None if a is None else a.detach().numpy()

        step = numpy_backend().assign_chunked(
            host(X), host(centers), sample_weight=host(sample_weight),
            accumulate=accumulate, acc_dtype=_numpy_dtype(acc_dtype),
            offset=host(offset), scale=scale,
        )  # fmt: skip

        def back(a):
            return None if a is None else torch.from_numpy(np.ascontiguousarray(a))

        # int32 labels, as NumPy's: a cast to int64 took a tenth of a step.
        return Assignment(
            labels=back(step.labels),
            sums=back(step.sums),
            weights=back(step.weights),
        )

    def _assign_torch(
        self, X, centers, sample_weight, accumulate, acc_dtype, offset, scale
    ):
        """The standard chunked assignment with the norms added by ``addmm``
        (one pass over the distance block less)."""
        import torch

        from ._standard import Assignment, _framed, itemsize, iter_chunks

        n, d = X.shape
        k = centers.shape[0]
        per_row = itemsize(X.dtype) * (k + d) + 16
        # On the CPU, distance blocks of about 2 MiB stay in cache.
        cache_rows = 2**21 // per_row if X.device.type == "cpu" else None
        rows = self.chunk_rows(n, per_row, cache_rows=cache_rows)
        neg2_ct = (centers * -2).T
        c_norms = self.row_sq_norms(centers)[None, :]
        labels, sums, weights = [], None, None
        for sl in iter_chunks(n, rows):
            Xc = _framed(X[sl], offset, scale)
            lab = torch.argmin(torch.addmm(c_norms, Xc, neg2_ct), dim=1)
            labels.append(lab)
            if accumulate:
                w = sample_weight[sl]
                part = self.segment_sum(Xc * w[:, None], lab, k, dtype=acc_dtype)
                part_w = self.weight_sum(w, lab, k, dtype=acc_dtype)
                sums = part if sums is None else sums + part
                weights = part_w if weights is None else weights + part_w
        labels = labels[0] if len(labels) == 1 else torch.cat(labels)
        return Assignment(labels=labels, sums=sums, weights=weights)

    # Passes over X on the CPU: the NumPy backend's (compiled, one read) on the
    # tensors' memory, as for the assignment. At (5000, 512) float32 the
    # standard centring and extremes took half of a 10-iteration fit.

    def extremes(self, X: Array) -> tuple[float, float]:
        if not _numpy_shareable(X):
            return super().extremes(X)
        return numpy_backend().extremes(X.detach().numpy())

    def centre_columns(self, X: Array) -> tuple[Array, Array, Array]:
        if not _numpy_shareable(X):
            return super().centre_columns(X)
        import torch

        found = numpy_backend().centre_columns(X.detach().numpy())
        return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in found)

    def weighted_inertia(self, X, sample_weight, centers, labels) -> float:
        arrays = (X, sample_weight, centers)
        if not all(_numpy_shareable(a) for a in arrays) or labels.device.type != "cpu":
            return super().weighted_inertia(X, sample_weight, centers, labels)
        host = [a.detach().numpy() for a in (*arrays, labels)]
        return numpy_backend().weighted_inertia(*host)

    def take_along_rows(self, values: Array, indices: Array) -> Array:
        return super().take_along_rows(values, self.xp.astype(indices, self.xp.int64))

    def gather_rows(self, X: Array, indices: Array) -> Array:
        return super().gather_rows(X, self.xp.astype(indices, self.xp.int64))


def _numpy_dtype(dtype: Any) -> Any:
    """The NumPy dtype of a torch floating dtype (float32 or float64)."""
    import torch

    return np.float64 if dtype == torch.float64 else np.float32


def _numpy_shareable(a: Array) -> bool:
    """Whether NumPy can compute on tensor ``a`` in place: a CPU tensor of a
    dtype the NumPy backend computes in (float32, float64)."""
    import torch

    return a.device.type == "cpu" and a.dtype in (torch.float32, torch.float64)
