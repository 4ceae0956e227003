"""The CUDA kernels of the CuPy fast path against the pure-standard path.

Everything here needs CuPy and a CUDA device (marked ``gpu``, skipped otherwise).
The fallback is the same code with ``USE_CUPY_KERNELS`` off, so each test
compares the two paths on the same device and data.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import _cupy_usable, make_blobs

import arraykmeans
import arraykmeans as ak
from arraykmeans.backends import get_backend

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not _cupy_usable(), reason="no usable CUDA device"),
]

DTYPES = ["float32", "float64"]


def _xp():
    import array_api_compat.cupy as xp

    return xp


def _tol(dtype: str) -> float:
    # The fallback forms the sums with a product in the data dtype; the kernels
    # add in float64.
    return 1e-5 if dtype == "float32" else 1e-12


def _data(rng, n, d, k, dtype):
    X = rng.normal(size=(n, d)).astype(dtype)
    C = X[rng.choice(n, k, replace=False)].copy()
    C[-1] = C[0]  # two equal centres: the lower index must win every tie
    w = rng.uniform(0.5, 2.0, size=n).astype(dtype)
    return X, C, w


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("n", "d", "k", "working_memory"),
    [
        (5000, 16, 8, 256),  # sums in shared memory
        (3000, 3, 100, 0.05),  # shared memory, several chunks
        (4000, 64, 300, 0.5),  # sums in device memory, several chunks
        (100, 2, 40, 256),  # more centres than a warp has lanes
        (50, 5, 3, 256),
    ],
)
def test_assign_chunked_matches_fallback(monkeypatch, dtype, n, d, k, working_memory):
    import cupy

    rng = np.random.default_rng(n + d + k)
    X, C, w = (cupy.asarray(a) for a in _data(rng, n, d, k, dtype))
    results = {}
    for kernels in (True, False):
        ak.set_config(use_gpu_kernels=kernels)
        with arraykmeans.config_context(working_memory=working_memory):
            results[kernels] = get_backend(_xp()).assign_chunked(
                X, C, sample_weight=w, accumulate=True
            )
    fast, slow = results[True], results[False]
    assert fast.labels.dtype == slow.labels.dtype
    np.testing.assert_array_equal(fast.labels.get(), slow.labels.get())
    assert fast.sums.dtype == cupy.float64
    assert fast.sums.shape == (k, d)
    np.testing.assert_allclose(
        fast.sums.get(), slow.sums.get(), rtol=_tol(dtype), atol=_tol(dtype) * n
    )
    np.testing.assert_allclose(fast.weights.get(), slow.weights.get(), rtol=1e-12)
    # The sums are the weighted rows per label, computed here on the host.
    Xh, wh, lab = (
        X.get().astype(np.float64),
        w.get().astype(np.float64),
        fast.labels.get(),
    )
    expected = np.zeros((k, d))
    np.add.at(expected, lab, Xh * wh[:, None])
    np.testing.assert_allclose(fast.sums.get(), expected, rtol=1e-6, atol=1e-6 * n)


@pytest.mark.parametrize("dtype", DTYPES)
def test_assign_chunked_offset_and_scale(monkeypatch, dtype):
    import cupy

    rng = np.random.default_rng(3)
    X, C, _ = (cupy.asarray(a) for a in _data(rng, 2000, 7, 12, dtype))
    offset = cupy.asarray(rng.normal(size=(1, 7)).astype(dtype))
    labels = {}
    for kernels in (True, False):
        ak.set_config(use_gpu_kernels=kernels)
        labels[kernels] = (
            get_backend(_xp())
            .assign_chunked(X, C, offset=offset, scale=0.25)
            .labels.get()
        )
    np.testing.assert_array_equal(labels[True], labels[False])


@pytest.mark.parametrize("dtype", DTYPES)
def test_argmin_rows_ties_and_infinities(dtype):
    import cupy

    from arraykmeans.backends import _cupy_kernels as cuk

    rng = np.random.default_rng(4)
    k = 70
    dist = rng.integers(0, 3, size=(500, k)).astype(dtype)  # many equal values
    dist[7] = np.inf  # every value infinite: index 0, like argmin
    dist[8, :40] = np.inf
    norms = rng.integers(0, 2, size=(5, k)).astype(dtype)
    out = cupy.full(500, -1, dtype=cupy.int64)
    cuk.argmin_rows(cupy.asarray(dist), cupy.asarray(norms), 100, out)
    expected = np.argmin(dist + np.repeat(norms, 100, axis=0), axis=1)
    np.testing.assert_array_equal(out.get(), expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("B", "n", "d", "k", "working_memory"),
    [(40, 300, 6, 9, 256), (3, 2000, 16, 64, 0.3), (5, 200, 3, 40, 0.01)],
)
def test_assign_batched_matches_fallback(
    monkeypatch, dtype, B, n, d, k, working_memory
):
    import cupy

    rng = np.random.default_rng(B + n)
    X = cupy.asarray(rng.normal(size=(B, n, d)).astype(dtype))
    C = cupy.asarray(rng.normal(size=(B, k, d)).astype(dtype))
    w = rng.uniform(0.5, 2.0, size=(B, n)).astype(dtype)
    w[:, -5:] = 0  # padding rows
    w = cupy.asarray(w)
    previous = cupy.asarray(rng.integers(0, k, size=(B, n)))
    active = cupy.asarray(np.arange(B) % 3 != 1)
    results = {}
    for kernels in (True, False):
        ak.set_config(use_gpu_kernels=kernels)
        with arraykmeans.config_context(working_memory=working_memory):
            results[kernels] = get_backend(_xp()).assign_batched(
                X,
                C,
                sample_weight=w,
                accumulate=True,
                active=active,
                previous=previous.copy(),
            )
    fast, slow = results[True], results[False]
    np.testing.assert_array_equal(fast.labels.get(), slow.labels.get())
    np.testing.assert_array_equal(fast.changed.get(), slow.changed.get())
    on = active.get()
    np.testing.assert_allclose(
        fast.sums.get()[on], slow.sums.get()[on], rtol=_tol(dtype), atol=_tol(dtype) * n
    )
    np.testing.assert_allclose(
        fast.weights.get()[on], slow.weights.get()[on], rtol=1e-12
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_matches_fallback_and_numpy(monkeypatch, dtype):
    import cupy

    Xh = make_blobs(3000, 8, 6, seed=5).astype(dtype)
    fits = {}
    for kernels in (True, False):
        ak.set_config(use_gpu_kernels=kernels)
        fits[kernels] = arraykmeans.KMeans(6, n_init=2, random_state=0).fit(
            cupy.asarray(Xh)
        )
    ref = arraykmeans.KMeans(6, n_init=2, random_state=0).fit(Xh)
    for km in fits.values():
        assert isinstance(km.cluster_centers_, cupy.ndarray)
        assert km.cluster_centers_.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(km.labels_.get(), ref.labels_)
        np.testing.assert_allclose(
            km.cluster_centers_.get(), ref.cluster_centers_, rtol=1e-4
        )
        assert km.n_iter_ == ref.n_iter_


@pytest.mark.parametrize("dtype", DTYPES)
def test_sums_are_deterministic(dtype):
    """Same input, same bits: the sums use no atomic additions."""
    import cupy

    rng = np.random.default_rng(6)
    X, C, w = (cupy.asarray(a) for a in _data(rng, 20000, 5, 4, dtype))
    first = get_backend(_xp()).assign_chunked(X, C, sample_weight=w, accumulate=True)
    for _ in range(3):
        again = get_backend(_xp()).assign_chunked(
            X, C, sample_weight=w, accumulate=True
        )
        np.testing.assert_array_equal(again.sums.get(), first.sums.get())
        np.testing.assert_array_equal(again.weights.get(), first.weights.get())
    a = arraykmeans.KMeans(4, n_init=1, random_state=1).fit(X)
    b = arraykmeans.KMeans(4, n_init=1, random_state=1).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_.get(), b.cluster_centers_.get())


def test_segment_sums_many_pieces():
    """Cells spread over many pieces, empty cells, rows out of order."""
    import cupy

    from arraykmeans.backends import _cupy_kernels as cuk

    rng = np.random.default_rng(7)
    X = rng.normal(size=(500, 6))
    w = rng.uniform(0, 2, size=500)
    cells = rng.choice([0, 3, 4, 9], size=500)  # cells 1, 2, 5-8 empty
    sums = cupy.ones((10, 6))
    weights = cupy.ones(10)
    cuk.segment_sums(
        cupy.asarray(X), cupy.asarray(w), cupy.asarray(cells), sums, weights,
        piece_rows=3,
    )  # fmt: skip
    expected = np.ones((10, 6))
    np.add.at(expected, cells, X * w[:, None])
    expected_w = np.ones(10)
    np.add.at(expected_w, cells, w)
    np.testing.assert_allclose(sums.get(), expected, rtol=1e-13)
    np.testing.assert_allclose(weights.get(), expected_w, rtol=1e-13)
