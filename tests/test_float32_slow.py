"""float32 on JAX's own operations and on Dask: the backend fixture runs these
two in float64 only (they are the suite's slowest), so their float32 paths
are checked here on the properties that matter, against NumPy float32."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import _backend, assert_same_place

import arraykmeans as ak


def _libraries():
    for name in ("jax-native", "dask"):
        installed = importlib.util.find_spec(name.split("-")[0]) is not None
        yield pytest.param(
            name,
            marks=pytest.mark.skipif(not installed, reason=f"{name} not installed"),
        )


@pytest.fixture(params=list(_libraries()))
def backend32(request):
    name = request.param
    with ak.config_context(share_cpu_memory=not name.endswith("-native")):
        yield _backend(name, None, "float32")


def _blobs(seed, n=500, d=3, k=4):
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-8, 8, (k, d))
    X = centres[rng.randint(0, k, n)] + rng.randn(n, d)
    return X.astype(np.float32)


@pytest.mark.parametrize("init", ["k-means++", "random", "k-means||"])
def test_kmeans_float32_equals_numpy(backend32, init):
    """Property-style over two data sets (one for k-means||, whose rounds
    compile anew on JAX): the labels and iterations of NumPy's float32 fit,
    centres to float32 rounding, results in place and in float32, labels_ ==
    predict(X)."""
    for seed in range(1 if init == "k-means||" else 2):
        X = _blobs(seed, d=2 + seed)
        ref = ak.KMeans(4, init=init, n_init=2, random_state=seed).fit(X)
        Xb = backend32.asarray(X)
        km = ak.KMeans(4, init=init, n_init=2, random_state=seed).fit(Xb)
        for result in (km.cluster_centers_, km.labels_):
            assert_same_place(backend32, result)
        assert km.cluster_centers_.dtype == backend32.dtype
        labels = backend32.to_numpy(km.labels_)
        np.testing.assert_array_equal(labels, ref.labels_)
        assert km.n_iter_ == ref.n_iter_
        np.testing.assert_allclose(
            backend32.to_numpy(km.cluster_centers_), ref.cluster_centers_,
            rtol=2e-4, atol=1e-4,
        )  # fmt: skip
        assert km.inertia_ == pytest.approx(ref.inertia_, rel=2e-4)
        np.testing.assert_array_equal(backend32.to_numpy(km.predict(Xb)), labels)


def test_batched_and_minibatch_float32_equal_numpy(backend32):
    stack = np.stack([_blobs(s, n=120) for s in range(3)])
    ref = ak.BatchedKMeans(4, random_state=1).fit(stack)
    got = ak.BatchedKMeans(4, random_state=1).fit(backend32.asarray(stack))
    assert got.cluster_centers_.dtype == backend32.dtype
    np.testing.assert_array_equal(backend32.to_numpy(got.labels_), ref.labels_)
    X = _blobs(5, n=1000)
    ref = ak.MiniBatchKMeans(4, batch_size=256, random_state=0).fit(X)
    got = ak.MiniBatchKMeans(4, batch_size=256, random_state=0).fit(
        backend32.asarray(X)
    )
    assert got.cluster_centers_.dtype == backend32.dtype
    np.testing.assert_array_equal(backend32.to_numpy(got.labels_), ref.labels_)
    assert got.n_steps_ == ref.n_steps_
