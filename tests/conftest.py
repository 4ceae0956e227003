"""The backend fixture: every test taking ``backend`` runs on each array library.

Backends: NumPy (float64, float32); array-api-strict on its CPU device and on
``device1`` (float64, float32) and on ``no_float64`` (float32: a device without
float64, like some GPUs); CuPy (float64, float32) when a CUDA device is usable,
marked ``gpu`` and skipped otherwise.
"""

from __future__ import annotations

import math
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
def compiled_for_small_data() -> Any:
    """Let the compiled loops take the tests' small data too; restore the config.

    By default calls below ``compiled_min_work`` use plain NumPy; the data
    here are that small, and the compiled loops would otherwise go untested.
    The routing itself is tested in ``test_routing.py``, which undoes this.
    Every setting a test changes (``set_config``) is undone after it.
    """
    import arraykmeans as ak

    with ak.config_context(compiled_min_work=0):
        yield


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
        if self.name == "dask":
            import dask.array as da

            a = a.astype(dtype) if dtype is not None else a
            # Several blocks along the first axis, so that block-wise code is
            # exercised.
            rows = max(1, -(-a.shape[0] // 3)) if a.ndim else ()
            return da.from_array(a, chunks=(rows, *a.shape[1:]) if a.ndim else ())
        return self.xp.asarray(a, dtype=dtype, device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        if self.name == "cupy":
            return x.get()
        if self.name == "dask":
            return np.asarray(x.compute())
        if self.name in ("numpy", "jax", "jax-native"):
            return np.asarray(x)
        if self.name.startswith("torch"):
            return x.detach().cpu().numpy()
        return np.from_dlpack(x)

    def __str__(self) -> str:
        return f"{self.name}-{self.dtype_name}"


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _torch_cuda_usable() -> bool:
    try:
        import torch
    except Exception:
        return False
    return bool(torch.cuda.is_available())


def _backends() -> list[Any]:
    params = []
    for dt in ("float64", "float32"):
        params.append(pytest.param(("numpy", None, dt), id=f"numpy-{dt}"))
    # PyTorch (CPU), JAX (float64 with x64 enabled) and Dask (NumPy chunks):
    # run where installed, skipped otherwise.
    # "-native": CPU tensors fitted with the library's own operations (the
    # code accelerators run), not with NumPy on their memory.
    for lib in ("torch", "torch-native", "jax", "jax-native", "dask"):
        # JAX's own operations and Dask in float64 only: they are the suite's
        # slowest (compiled per shape, graphs per call), and their float32
        # code is the float64 code in another dtype, which the shared paths
        # (jax, torch) run in float32 here and tests/test_float32_slow.py
        # checks for them.
        for dt in (
            ("float64",) if lib in ("jax-native", "dask") else ("float64", "float32")
        ):
            params.append(
                pytest.param(
                    (lib, None, dt),
                    id=f"{lib}-{dt}",
                    marks=pytest.mark.skipif(
                        not _installed(lib.split("-")[0]),
                        reason=f"{lib} not installed",
                    ),
                )
            )
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
        params.append(
            pytest.param(
                ("torch-cuda", None, dt),
                id=f"torch-cuda-{dt}",
                marks=[
                    pytest.mark.gpu,
                    pytest.mark.skipif(
                        not _torch_cuda_usable(), reason="no usable CUDA device"
                    ),
                ],
            )
        )
    return params


@pytest.fixture(params=_backends())
def backend(request: pytest.FixtureRequest) -> Any:
    name, dev, dt = request.param
    import arraykmeans as ak

    with ak.config_context(share_cpu_memory=not name.endswith("-native")):
        yield _backend(name, dev, dt)


def _backend(name: str, dev: Any, dt: str) -> Backend:
    if name == "numpy":
        return Backend("numpy", np, "cpu", dt)
    if name == "strict":
        import array_api_strict as xp

        return Backend("strict", xp, xp.Device(dev), dt)
    if name in ("torch", "torch-native", "torch-cuda"):
        import array_api_compat.torch as xp
        import torch

        where = torch.device("cuda" if name == "torch-cuda" else "cpu")
        return Backend(name, xp, where, dt)
    if name in ("jax", "jax-native"):
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as xp

        return Backend(name, xp, jax.devices("cpu")[0], dt)
    if name == "dask":
        import array_api_compat.dask.array as xp

        return Backend("dask", xp, None, dt)
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
    elif backend.name.startswith("torch"):
        assert type(x).__module__.startswith("torch"), type(x)
        assert device(x).type == backend.device.type
    elif backend.name.startswith("jax"):
        assert type(x).__module__.startswith("jax"), type(x)
    elif backend.name == "dask":
        assert type(x).__module__.startswith("dask"), type(x)
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
    import arraykmeans as ak

    if not ak.get_config()["use_compiled"]:
        pytest.skip("compiled loops switched off (ARRAYKMEANS_DISABLE_NUMBA)")
    from arraykmeans.backends._numba_kernels import KERNELS

    if KERNELS is None:
        pytest.skip("compiled loops unavailable (numba missing or disabled)")


def few_distinct_rows(seed: int, n_problems: int | None = None) -> tuple:
    """A small data set of few distinct rows (duplicates, ties) and a k close
    to n: ``(X, k, init)`` with X integer-valued (uint8 on every other seed),
    of shape (n, d), or (n_problems, n, d) with each problem drawn on its own.
    The corner where empty clusters are relocated in the iteration that
    converges."""
    rng = np.random.RandomState(seed)
    n = int(rng.randint(2, 21))
    d = int(rng.randint(1, 4))
    k = (
        int(rng.randint(max(1, n - 5), n + 1))
        if seed % 3
        else int(rng.randint(1, n + 1))
    )
    init = ("random", "k-means++")[seed % 2]
    shape = (n, d) if n_problems is None else (n_problems, n, d)
    X = rng.randint(int(rng.randint(2, 4)), size=shape) * int(rng.choice([1, 5, 7]))
    return X.astype(np.uint8 if seed % 2 else np.float64), k, init


# Largest magnitudes from the subnormals to the top of each float range.
RANGE_MAGNITUDES = {
    "float64": (1e-320, 1e-310, 1e-300, 1e-160, 1e-20, 1.0, 1e20, 1e160, 1e300, 1e308),
    "float32": (1e-44, 1e-40, 1e-38, 1e-25, 1e-12, 1.0, 1e12, 1e25, 1e38, 3e38),
}
RANGE_SIGNS = ("positive", "negative", "mixed")
RANGE_SHAPES = ((12, 1), (30, 3))


def range_case(magnitude: float, sign: str, shape: tuple, dtype: str) -> np.ndarray:
    """Three well-separated blobs (rows 0, 1, 2 lie one in each), largest
    magnitude about ``magnitude``: all positive, all negative or straddling 0."""
    n, d = shape
    rng = np.random.RandomState(n * d)
    base = np.array([-1.0, -0.2, 0.6])[np.arange(n) % 3][:, None]
    base = base + 0.02 * rng.uniform(-1, 1, size=(n, d))
    if sign != "mixed":
        base = 0.55 + 0.45 * base
    if sign == "negative":
        base = -base
    return (base / np.abs(base).max() * magnitude).astype(dtype)


def _ldexp_float(value: float, exponent: int) -> float:
    try:
        return math.ldexp(value, exponent)
    except OverflowError:
        return math.inf


_REFERENCES: dict = {}


def in_range_reference(X: np.ndarray, init_rows: Any = (0, 1, 2)) -> dict:
    """scikit-learn's fit of X from the rows ``init_rows``, computed on X brought
    near 1 by a power of two (exact: the same problem, where scikit-learn's
    squares neither overflow nor underflow) and given back in X's units:
    labels, centres, inertia (a float, inf beyond float64) and transform
    (float64, inf beyond X's dtype). Kept for the next test of the same X."""
    key = (X.dtype.str, X.shape, X.tobytes(), tuple(init_rows))
    if key not in _REFERENCES:
        _REFERENCES[key] = _in_range_reference(X, init_rows)
    return _REFERENCES[key]


def _in_range_reference(X: np.ndarray, init_rows: Any) -> dict:
    from sklearn.cluster import KMeans as SKKMeans

    e = -math.frexp(float(np.abs(X).max()))[1]
    Xr = np.ldexp(X, e)
    sk = SKKMeans(len(init_rows), init=Xr[list(init_rows)], n_init=1).fit(Xr)
    with np.errstate(over="ignore", under="ignore"):
        dist = np.ldexp(sk.transform(Xr).astype(np.float64), -e)
        centers = np.ldexp(sk.cluster_centers_.astype(np.float64), -e)
    dist[dist > np.finfo(X.dtype).max] = np.inf
    return {
        "labels": sk.labels_,
        "centers": centers,
        "inertia": _ldexp_float(float(sk.inertia_), -2 * e),
        "transform": dist,
    }


def check_in_range_fit(
    X: np.ndarray, ref: dict, labels, predicted, centers, inertia, score, dist
) -> None:
    """A fit of range_case data (NumPy results) against in_range_reference:
    finite centres, the reference's labels, inertia and distances (inf exactly
    where those exceed the float range), score == -inertia."""
    dtype = X.dtype
    f64 = dtype == np.float64
    rtol = 1e-7 if f64 else 1e-4
    mag = float(np.abs(X).max())
    atol = (1e-6 if f64 else 1e-3) * mag + 2 * float(np.finfo(dtype).smallest_subnormal)
    assert np.all(np.isfinite(centers))
    np.testing.assert_array_equal(labels, ref["labels"])
    np.testing.assert_array_equal(predicted, ref["labels"])
    np.testing.assert_allclose(centers, ref["centers"], rtol=rtol, atol=atol)
    if math.isfinite(ref["inertia"]):
        assert inertia == pytest.approx(ref["inertia"], rel=rtol * 10, abs=1e-320)
    else:
        assert inertia == math.inf
    assert -score == pytest.approx(inertia, rel=1e-9 if f64 else 1e-6)
    finite = np.isfinite(ref["transform"])
    assert np.all(np.isinf(dist[~finite]))
    np.testing.assert_allclose(
        dist[finite], ref["transform"][finite], rtol=rtol, atol=atol
    )
