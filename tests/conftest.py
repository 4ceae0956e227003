"""The backend fixture: every test taking ``backend`` runs on each array library.

Backends: NumPy (float64, float32); array-api-strict on its CPU device and on
``device1`` (float64, float32) and on ``no_float64`` (float32: a device without
float64, like some GPUs); CuPy (float64, float32) when a CUDA device is usable,
marked ``gpu`` and skipped otherwise.
"""

from __future__ import annotations

import os

# Lets scikit-learn's estimator checks exercise array API input (array-api-strict);
# must be set before scipy or scikit-learn is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest


def _cupy_usable() -> bool:
    try:
        import cupy
    except Exception:
        return False
    try:
        return bool(cupy.is_available())
    except Exception:
        return False


@pytest.fixture(autouse=True)
def compiled_for_small_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the compiled loops take the tests' small data too.

    By default calls below ``COMPILED_MIN_WORK`` use plain NumPy; the data
    here are that small, and the compiled loops would otherwise go untested.
    The routing itself is tested in ``test_routing.py``, which undoes this.
    """
    from arraykmeans import _primitives as prim

    monkeypatch.setattr(prim, "COMPILED_MIN_WORK", 0)


@dataclass(frozen=True)
class Backend:
    """One array library, device and floating dtype to run a test on."""

    name: str
    xp: Any
    device: Any
    dtype_name: str

    @property
    def dtype(self) -> Any:
        return getattr(self.xp, self.dtype_name)

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype_name)

    @property
    def rtol(self) -> float:
        return 1e-9 if self.dtype_name == "float64" else 2e-4

    def asarray(self, a: Any, dtype: Any = "same") -> Any:
        """Move a NumPy array to this backend (floating arrays in this dtype)."""
        a = np.asarray(a)
        if dtype == "same":
            dtype = self.dtype if a.dtype.kind == "f" else None
        if self.name == "numpy":
            return np.asarray(a, dtype=dtype) if dtype is not None else a.copy()
        return self.xp.asarray(a, dtype=dtype, device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        if self.name == "cupy":
            return x.get()
        return np.asarray(x) if self.name == "numpy" else np.from_dlpack(x)

    def __str__(self) -> str:
        return f"{self.name}-{self.dtype_name}"


def _backends() -> list[Any]:
    params = []
    for dt in ("float64", "float32"):
        params.append(pytest.param(("numpy", None, dt), id=f"numpy-{dt}"))
    for dev in ("CPU_DEVICE", "device1"):
        for dt in ("float64", "float32"):
            params.append(pytest.param(("strict", dev, dt), id=f"strict-{dev}-{dt}"))
    params.append(
        pytest.param(
            ("strict", "no_float64", "float32"), id="strict-no_float64-float32"
        )
    )
    for dt in ("float64", "float32"):
        params.append(
            pytest.param(
                ("cupy", None, dt),
                id=f"cupy-{dt}",
                marks=[
                    pytest.mark.gpu,
                    pytest.mark.skipif(
                        not _cupy_usable(), reason="no usable CUDA device"
                    ),
                ],
            )
        )
    return params


@pytest.fixture(params=_backends())
def backend(request: pytest.FixtureRequest) -> Backend:
    name, dev, dt = request.param
    if name == "numpy":
        return Backend("numpy", np, "cpu", dt)
    if name == "strict":
        import array_api_strict as xp

        return Backend("strict", xp, xp.Device(dev), dt)
    import array_api_compat.cupy as xp
    import cupy

    return Backend("cupy", xp, cupy.cuda.Device(), dt)


def assert_same_place(backend: Backend, x: Any) -> None:
    """``x`` is an array of the backend's library, on its device."""
    from array_api_compat import array_namespace, device

    xp = array_namespace(x)
    if backend.name == "numpy":
        assert isinstance(x, np.ndarray), type(x)
    elif backend.name == "strict":
        assert xp.__name__ == "array_api_strict", xp
        assert device(x) == backend.device
    else:
        assert type(x).__module__.startswith("cupy"), type(x)


def assert_close(
    backend: Backend,
    actual: Any,
    desired: Any,
    *,
    rtol: float | None = None,
    atol: float = 0.0,
    dtype: Any = "float",
) -> None:
    """Namespace, device, dtype and values of ``actual`` against a NumPy ``desired``."""
    assert_same_place(backend, actual)
    if dtype == "float":
        assert actual.dtype == backend.dtype, (actual.dtype, backend.dtype)
    elif dtype is not None:
        assert actual.dtype == getattr(backend.xp, dtype), (actual.dtype, dtype)
    np.testing.assert_allclose(
        backend.to_numpy(actual),
        desired,
        rtol=backend.rtol if rtol is None else rtol,
        atol=atol,
    )


def make_blobs(
    n: int = 600,
    d: int = 4,
    k: int = 5,
    *,
    seed: int = 0,
    spread: float = 1.0,
    offset: float = 0.0,
) -> np.ndarray:
    """Gaussian blobs around random centres (NumPy float64)."""
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-10, 10, size=(k, d))
    labels = rng.randint(k, size=n)
    return centres[labels] + spread * rng.randn(n, d) + offset


def require_compiled() -> None:
    """Skip the calling test when the compiled loops are unavailable (numba
    missing, or ``ARRAYKMEANS_DISABLE_NUMBA`` set)."""
    from arraykmeans._numba_kernels import KERNELS

    if KERNELS is None:
        pytest.skip("compiled loops unavailable (numba missing or disabled)")
