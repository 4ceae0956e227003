"""The PyTorch backend (CPU and CUDA tensors)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._standard import StandardBackend

Array = Any


class TorchBackend(StandardBackend):
    """PyTorch tensors: int64 gather indices, copies to the host by DLPack."""

    name = "torch"

    def to_host(self, x: Array) -> np.ndarray:
        return x.detach().cpu().numpy()

    def take_along_rows(self, values: Array, indices: Array) -> Array:
        # torch's gather wants int64 indices.
        return super().take_along_rows(values, self.xp.astype(indices, self.xp.int64))

    def gather_rows(self, X: Array, indices: Array) -> Array:
        return super().gather_rows(X, self.xp.astype(indices, self.xp.int64))
