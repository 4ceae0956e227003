"""The same answer whatever is installed, and scikit-learn's answer in float32 too.

Every step whose rounding decides a discrete choice (the centring mean, the
k-means++ potentials and cumulative sums, the assignment's distances) is formed
with the same arithmetic by the compiled loops (numba) and by the plain NumPy
path, and with scikit-learn's arithmetic. So the same call gives the same
labels and iteration counts with or without numba, and scikit-learn's labels in
float32 as in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_blobs, require_compiled

import arraykmeans as ak

sklearn_cluster = pytest.importorskip("sklearn.cluster")

# (n, d, k, spread): every assignment regime of the NumPy path (distances
# formed without BLAS for few features, row-major and centre-major BLAS
# blocks), well separated and overlapping clusters (many iterations).
SHAPES = [
    (3000, 2, 8, 1.0),
    (2500, 5, 12, 4.0),
    (2000, 13, 30, 2.0),
    (2500, 40, 16, 3.0),
    (1500, 20, 80, 6.0),
]
SHAPE_IDS = [f"n{n}-d{d}-k{k}-s{s:g}" for n, d, k, s in SHAPES]


def _fit_both_ways(monkeypatch, fit):
    """``fit()`` with the compiled loops, then with the plain NumPy path."""
    require_compiled()
    ak.set_config(use_compiled=True)
    compiled = fit()
    ak.set_config(use_compiled=False)
    plain = fit()
    return compiled, plain


def _assert_same(a, b, dtype):
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.n_iter_, b.n_iter_)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(
        a.cluster_centers_, b.cluster_centers_, rtol=rtol, atol=rtol
    )
    np.testing.assert_allclose(a.inertia_, b.inertia_, rtol=rtol)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("n", "d", "k", "spread"), SHAPES, ids=SHAPE_IDS)
def test_kmeans_compiled_equals_plain_numpy(
    monkeypatch, n, d, k, spread, dtype, init, weighted
):
    X = make_blobs(n=n, d=d, k=max(2, k // 2), seed=d, spread=spread, offset=50)
    X = X.astype(dtype)
    w = np.random.RandomState(k).uniform(0.1, 2, n).astype(dtype) if weighted else None
    compiled, plain = _fit_both_ways(
        monkeypatch,
        lambda: ak.KMeans(k, init=init, n_init=2, random_state=3).fit(
            X, sample_weight=w
        ),
    )
    _assert_same(compiled, plain, dtype)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("d", [3, 16, 24])
def test_batched_compiled_equals_plain_numpy(monkeypatch, d, dtype, init, weighted):
    rng = np.random.RandomState(d)
    B, n, k = 12, 400, 6
    X = np.stack([make_blobs(n=n, d=d, k=4, seed=b, spread=3.0) for b in range(B)])
    X = X.astype(dtype)
    w = rng.uniform(0.1, 2, size=(B, n)).astype(dtype) if weighted else None
    mask = np.arange(n)[None, :] < rng.randint(200, n + 1, size=B)[:, None]
    compiled, plain = _fit_both_ways(
        monkeypatch,
        lambda: ak.BatchedKMeans(k, init=init, random_state=5).fit(
            X, sample_weight=w, mask=mask
        ),
    )
    _assert_same(compiled, plain, dtype)


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "no-numba"])
@pytest.mark.parametrize("seed", range(4))
def test_kmeans_plusplus_float32_indices_are_sklearns(monkeypatch, compiled, seed):
    """Late k-means++ candidates differ by little; the potentials must be the
    float32 sums scikit-learn forms (whole rows through one BLAS product), not
    sums of chunks, or another candidate wins (here from about the 130th)."""
    if compiled:
        require_compiled()
    ak.set_config(use_compiled=compiled)
    rng = np.random.RandomState(seed)
    X = rng.rand(20000, 64).astype(np.float32)
    w = rng.rand(20000).astype(np.float32) if seed % 2 else None
    _, theirs = sklearn_cluster.kmeans_plusplus(
        X, 150, random_state=seed, sample_weight=w
    )
    _, ours = ak.kmeans_plusplus(X, 150, random_state=seed, sample_weight=w)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "no-numba"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(("n", "d", "k"), [(20000, 32, 64), (30000, 8, 100)])
def test_float32_fit_is_sklearns(monkeypatch, compiled, weighted, n, d, k):
    """Well-separated float32 blobs far from the origin (where the centring
    mean's rounding shows): scikit-learn's labels and iteration count."""
    if compiled:
        require_compiled()
    ak.set_config(use_compiled=compiled)
    X = make_blobs(n=n, d=d, k=k, seed=k, spread=0.5, offset=300).astype(np.float32)
    w = np.random.RandomState(1).rand(n).astype(np.float32) if weighted else None
    theirs = sklearn_cluster.KMeans(k, random_state=0).fit(X, sample_weight=w)
    ours = ak.KMeans(k, random_state=0).fit(X, sample_weight=w)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(
        ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-5, atol=1e-3
    )
