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
