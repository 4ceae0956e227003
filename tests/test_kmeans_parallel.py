"""init='k-means||': deterministic, on every backend, as good as k-means++."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_same_place, make_blobs

import arraykmeans as ak


def _blobs(seed, n=1500, d=3, k=5):
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-20, 20, size=(k, d))
    return centres[rng.randint(0, k, n)] + rng.randn(n, d)


@pytest.mark.parametrize("seed", range(3))
def test_same_seed_same_result_on_every_backend(backend, seed):
    X = _blobs(seed).astype(backend.np_dtype)
    km = ak.KMeans(5, init="k-means||", random_state=seed).fit(backend.asarray(X))
    again = ak.KMeans(5, init="k-means||", random_state=seed).fit(backend.asarray(X))
    assert_same_place(backend, km.cluster_centers_)
    centres = backend.to_numpy(km.cluster_centers_)
    np.testing.assert_array_equal(centres, backend.to_numpy(again.cluster_centers_))
    assert np.isfinite(centres).all()
    assert len({tuple(c) for c in centres}) == 5
    labels = backend.to_numpy(km.labels_)
    np.testing.assert_array_equal(
        labels, backend.to_numpy(km.predict(backend.asarray(X)))
    )
    if backend.np_dtype == np.float64:
        ref = ak.KMeans(5, init="k-means||", random_state=seed).fit(X)
        np.testing.assert_array_equal(labels, ref.labels_)
        assert km.n_iter_ == ref.n_iter_


@pytest.mark.parametrize("seed", range(8))
def test_as_good_as_kmeanspp(seed):
    """Separated blobs: after Lloyd, k-means|| finds what k-means++ finds."""
    X = _blobs(seed, n=3000, d=4, k=8)
    pp = ak.KMeans(8, random_state=seed).fit(X)
    par = ak.KMeans(8, init="k-means||", random_state=seed).fit(X)
    assert par.inertia_ <= pp.inertia_ * 1.01


def test_zero_weight_rows_attract_no_centre():
    X = _blobs(0, n=1000)
    far = np.full((20, 3), 1e4)
    w = np.r_[np.ones(1000), np.zeros(20)]
    km = ak.KMeans(5, init="k-means||", random_state=0, max_iter=1)
    km.fit(np.vstack([X, far]), sample_weight=w)
    assert np.abs(km.cluster_centers_).max() < 100


@pytest.mark.parametrize("n", [5, 6, 12])
def test_few_rows(n):
    """As many rows as clusters, or nearly: still n_clusters finite centres."""
    X = make_blobs(n=n, d=2, k=2)
    km = ak.KMeans(5, init="k-means||", random_state=0).fit(X)
    assert km.cluster_centers_.shape == (5, 2)
    assert np.isfinite(km.cluster_centers_).all()


def test_n_init_auto_runs_once():
    km = ak.KMeans(3, init="k-means||", random_state=0).fit(_blobs(1))
    assert km._n_init == 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_distances_to_assigned_equal_the_standard_ones(dtype):
    """The NumPy backend's compiled pass (used by k-means||) against the
    pure-standard code, which widens first and sums the same terms."""
    from array_api_compat import numpy as np_xp

    from arraykmeans.backends import StandardBackend, get_backend

    rng = np.random.RandomState(4)
    X = rng.randn(3000, 7).astype(dtype)
    C = rng.randn(9, 7).astype(dtype)
    labels = rng.randint(0, 9, 3000)
    fast = get_backend(np_xp).sq_distances_to_assigned(X, C, labels, dtype=np.float64)
    slow = StandardBackend(np_xp).sq_distances_to_assigned(
        X, C, labels, dtype=np.float64
    )
    assert fast.dtype == np.float64
    np.testing.assert_allclose(fast, slow, rtol=1e-13)
