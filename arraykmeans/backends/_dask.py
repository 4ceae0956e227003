"""The Dask backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._standard import StandardBackend

Array = Any


class DaskBackend(StandardBackend):
    """Dask arrays."""

    name = "dask"

    def to_host(self, x: Array) -> np.ndarray:
        return np.asarray(x.compute())
