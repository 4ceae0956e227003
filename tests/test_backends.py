"""The dispatch point and the settings that replaced module switches."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import numpy as np
import pytest
from array_api_compat import array_namespace

import arraykmeans as ak
from arraykmeans.backends import StandardBackend, get_backend

PACKAGE = Path(ak.__file__).resolve().parent
CHECKS = ("is_numpy_namespace", "is_cupy_namespace", "is_torch_namespace",
          "is_jax_namespace", "is_dask_namespace", "is_array_api_strict_namespace")  # fmt: skip


def test_backend_checks_live_in_the_backends_package_only():
    """No module outside ``backends/`` asks which library it runs on."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if "backends" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = getattr(node, "id", None) or getattr(node, "attr", None)
            if name in CHECKS:
                found.append(f"{path.name}:{node.lineno} {name}")
    assert found == []


def test_one_backend_per_namespace(backend):
    """get_backend picks the library's own backend (the standard one for
    array-api-strict) and returns the same object every time."""
    xp = array_namespace(backend.asarray(np.zeros(3)))
    be = get_backend(xp)
    assert be is get_backend(xp)
    assert isinstance(be, StandardBackend)
    expected = {"strict": "standard"}.get(backend.name, backend.name.split("-")[0])
    assert be.name == expected


def test_cpu_tensors_are_fitted_on_their_memory_unless_configured_not_to():
    """PyTorch and JAX CPU arrays of float32/float64 have the NumPy backend as
    host twin (``share_cpu_memory``); other dtypes and the setting off have
    none; either way a fit returns the library's arrays with the same labels."""
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)  # as the backend fixture does
    import jax.numpy as jnp

    X = np.random.RandomState(0).randn(300, 3)
    for lib in (torch.asarray, jnp.asarray):
        Xl = lib(X)
        be = get_backend(array_namespace(Xl))
        assert be.host_twin(Xl).name == "numpy"
        assert be.host_twin(lib(X.astype(np.int64))) is None
        with ak.config_context(share_cpu_memory=False):
            assert be.host_twin(Xl) is None
            native = ak.KMeans(4, random_state=0, n_init=1).fit(Xl)
        shared = ak.KMeans(4, random_state=0, n_init=1).fit(Xl)
        for km in (native, shared):
            assert type(km.cluster_centers_) is type(Xl)
            assert type(km.labels_) is type(Xl)
        np.testing.assert_array_equal(np.asarray(native.labels_), shared.labels_)
        np.testing.assert_array_equal(
            np.asarray(shared.labels_),
            ak.KMeans(4, random_state=0, n_init=1).fit(X).labels_,
        )
    assert (
        get_backend(array_namespace(torch.zeros(3))).host_twin(
            torch.zeros((3, 2), dtype=torch.float16)
        )
        is None
    )


class TestSettings:
    def test_defaults(self):
        config = ak.get_config()
        assert config["use_compiled"] in (True, False)
        assert config["use_gpu_kernels"] is True
        assert config["compact_ratio"] == 4

    @pytest.mark.parametrize(
        ("name", "value", "error"),
        [("use_compiled", 1, TypeError), ("compiled_min_work", -1, ValueError),
         ("compiled_min_work", 1.5, TypeError), ("compact_ratio", 0, ValueError),
         ("no_such_setting", 1, TypeError)],
    )  # fmt: skip
    def test_bad_values_name_the_setting_and_change_nothing(self, name, value, error):
        before = ak.get_config()
        with pytest.raises(error, match=name):
            ak.set_config(**{name: value})
        assert ak.get_config() == before

    def test_context_is_local_to_the_thread(self):
        seen = {}

        def other() -> None:
            seen["other"] = ak.get_config()["use_compiled"]

        with ak.config_context(use_compiled=False):
            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
            assert ak.get_config()["use_compiled"] is False
        assert seen["other"] == ak.get_config()["use_compiled"]

    @pytest.mark.parametrize("switch", ["use_compiled", "use_scipy"])
    def test_switches_change_the_path_not_the_labels(self, switch):
        rng = np.random.RandomState(0)
        X = np.concatenate([rng.randn(300, 3) + c for c in (0, 6, 12)])
        on = ak.KMeans(3, random_state=0).fit(X)
        with ak.config_context(**{switch: False}):
            off = ak.KMeans(3, random_state=0).fit(X)
        np.testing.assert_array_equal(on.labels_, off.labels_)
        assert on.n_iter_ == off.n_iter_


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_native_assignment_equals_the_shared_numpy_one(seed, dtype):
    """CPU tensors are assigned by the NumPy backend on their memory; the
    torch-native path (CUDA, half precision) must give the same labels and
    sums to rounding, here on CPU tensors."""
    torch = pytest.importorskip("torch")
    import array_api_compat.torch as txp

    be = get_backend(txp)
    rng = np.random.RandomState(seed)
    n, d, k = rng.randint(50, 3000), rng.randint(1, 40), rng.randint(1, 30)
    X = torch.from_numpy(rng.randn(n, d).astype(dtype))
    C = torch.from_numpy(rng.randn(k, d).astype(dtype))
    w = torch.from_numpy(rng.uniform(0.5, 2, n).astype(dtype))
    offset = torch.from_numpy(rng.randn(d).astype(dtype))
    for kw in ({}, {"offset": offset, "scale": 0.5}):
        off, scale = kw.get("offset"), kw.get("scale", 1.0)
        shared = be._assign(X, C, w, True, torch.float64, off, scale)
        native = be._assign_torch(X, C, w, True, torch.float64, off, scale)
        agree = (shared.labels.long() == native.labels).double().mean().item()
        # Different BLAS calls may break near ties differently in float32.
        assert agree == 1.0 if dtype == "float64" else agree > 0.999
        if agree == 1.0:
            tol = 1e-9 if dtype == "float64" else 1e-3
            np.testing.assert_allclose(shared.sums, native.sums, rtol=tol, atol=tol)
            np.testing.assert_allclose(shared.weights, native.weights, rtol=1e-12)
        assert shared.labels.dtype in (torch.int32, torch.int64)
        assert isinstance(shared.sums, torch.Tensor)


def test_torch_fits_leave_torch_threads_and_numpy_workers_as_they_were():
    """During a fit on CPU tensors torch runs its small operations in the
    caller's thread, while the NumPy passes keep the worker count they had
    (it follows the OpenMP libraries' counts, torch's among them); torch's
    thread count is restored after the fit, also when the fit fails."""
    torch = pytest.importorskip("torch")
    import array_api_compat.torch as txp

    from arraykmeans.backends import _threads

    be = get_backend(txp)
    X = torch.from_numpy(np.random.RandomState(0).randn(200, 3))
    before = torch.get_num_threads()
    workers = _threads.worker_threads()
    seen = []
    with be.fitting(X):
        seen.append((torch.get_num_threads(), _threads.worker_threads()))
    assert seen == [(1, workers)]
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="n_clusters"):
        ak.KMeans(500).fit(X)
    assert torch.get_num_threads() == before
    ak.KMeans(3, random_state=0, n_init=1).fit(X)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("seed", range(5))
def test_count_distinct_agrees_on_every_backend(backend, seed):
    """Fast counts (bincount, host) give the standard sort-and-count's answer."""
    rng = np.random.RandomState(seed)
    k = rng.randint(1, 40)
    labels = rng.randint(0, k, rng.randint(1, 500)).astype(np.int32)
    be = get_backend(array_namespace(backend.asarray(labels)))
    want = len(np.unique(labels))
    assert be.count_distinct(backend.asarray(labels), k) == want


@pytest.mark.parametrize("seed", range(4))
def test_jax_native_assignment_equals_the_shared_numpy_one(seed):
    """CPU JAX arrays are assigned by the NumPy backend on their memory; the
    JAX-native path (accelerators: the standard code with JAX's segment sums)
    must agree with it, here on CPU arrays."""
    jax = pytest.importorskip("jax")
    jxp = array_namespace(jax.numpy.zeros(1))
    be = get_backend(jxp)
    rng = np.random.RandomState(seed)
    n, d, k = rng.randint(50, 2000), rng.randint(1, 20), rng.randint(1, 20)
    X = jax.numpy.asarray(rng.randn(n, d).astype("float32"))
    C = jax.numpy.asarray(rng.randn(k, d).astype("float32"))
    w = jax.numpy.asarray(rng.uniform(0.5, 2, n).astype("float32"))
    shared = be._assign(X, C, w, True, jxp.float32, None, 1.0)
    native = StandardBackend._assign(be, X, C, w, True, jxp.float32, None, 1.0)
    agree = np.mean(np.asarray(shared.labels) == np.asarray(native.labels))
    assert agree > 0.999
    assert type(shared.sums) is type(native.sums)
    if agree == 1.0:
        np.testing.assert_allclose(shared.sums, native.sums, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(shared.weights, native.weights, rtol=1e-5)
