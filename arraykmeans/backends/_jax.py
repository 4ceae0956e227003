"""The JAX backend: the standard operations, which never assign into arrays."""

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
