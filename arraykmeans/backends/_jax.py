"""The JAX backend: the standard operations (which never assign into arrays),
with JAX's segment sums.

``jax.ops.segment_sum`` forms centre sums in O(n d) instead of the standard
backend's (k, n) one-hot product, O(n k d). Dispatch is eager: every call runs
as it is made, and the one host copy per iteration stays the only
synchronisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import numpy_backend
from ._standard import StandardBackend

Array = Any


class JaxBackend(StandardBackend):
    """JAX arrays (CPU or accelerator), eager dispatch."""

    name = "jax"

    def to_host(self, x: Array) -> np.ndarray:
        return np.asarray(x)

    def segment_sum(self, values, segment_ids, n_segments, *, dtype):
        import jax

        return jax.ops.segment_sum(
            values.astype(dtype), segment_ids, num_segments=n_segments
        )

    def weight_sum(self, weights, segment_ids, n_segments, *, dtype):
        import jax

        return jax.ops.segment_sum(
            weights.astype(dtype), segment_ids, num_segments=n_segments
        )

    # On the CPU, passes over X run in the NumPy backend on the arrays'
    # memory (np.asarray of a CPU array is a read-only view): eager JAX took
    # 4-28x NumPy's time per fit at the standard shapes, mostly in per-call
    # dispatch. Results come back as JAX arrays.

    def _assign(self, X, centers, sample_weight, accumulate, acc_dtype, offset, scale):
        arrays = [X, centers, sample_weight, offset]
        if not all(a is None or _on_cpu(a) for a in arrays):
            return super()._assign(
                X, centers, sample_weight, accumulate, acc_dtype, offset, scale
            )
        from ._standard import Assignment

        step = numpy_backend().assign_chunked(
            _view(X), _view(centers), sample_weight=_view(sample_weight),
            accumulate=accumulate, acc_dtype=np.dtype(acc_dtype),
            offset=_view(offset), scale=scale,
        )  # fmt: skip
        xp = self.xp
        return Assignment(
            labels=xp.asarray(step.labels),
            sums=None if step.sums is None else xp.asarray(step.sums),
            weights=None if step.weights is None else xp.asarray(step.weights),
        )

    def extremes(self, X: Array) -> tuple[float, float]:
        if not _on_cpu(X):
            return super().extremes(X)
        return numpy_backend().extremes(_view(X))

    def centre_columns(self, X: Array) -> tuple[Array, Array, Array]:
        if not _on_cpu(X):
            return super().centre_columns(X)
        found = numpy_backend().centre_columns(_view(X))
        return tuple(self.xp.asarray(a) for a in found)

    def host_twin(self, X: Array) -> StandardBackend | None:
        """The NumPy backend for CPU arrays of float32 or float64: it fits
        them on their own memory (read-only views), where JAX's eager
        dispatch of every small operation took 1.4-8x NumPy's time."""
        from .._config import _settings

        if _settings()["share_cpu_memory"] and _on_cpu(X) and X.dtype.kind == "f":
            return numpy_backend()
        return None

    def weighted_inertia(self, X, sample_weight, centers, labels) -> float:
        arrays = (X, sample_weight, centers, labels)
        if not all(_on_cpu(a) for a in arrays):
            return super().weighted_inertia(X, sample_weight, centers, labels)
        return numpy_backend().weighted_inertia(*(_view(a) for a in arrays))


def _on_cpu(a: Array) -> bool:
    """A JAX array on the CPU, of a dtype the NumPy backend computes in."""
    try:
        on_cpu = all(dev.platform == "cpu" for dev in a.devices())
    except AttributeError:  # a tracer, or not a JAX array
        return False
    return on_cpu and (
        np.dtype(a.dtype) in (np.float32, np.float64) or np.dtype(a.dtype).kind == "i"
    )


def _view(a: Array) -> np.ndarray | None:
    return None if a is None else np.asarray(a)
