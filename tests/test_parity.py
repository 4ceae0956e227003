"""Parity with scikit-learn's KMeans(algorithm="lloyd"), the reference oracle.

On NumPy float64, for the same random_state or the same explicit init, labels_
and n_iter_ must equal scikit-learn's and centres/inertia agree to ~1e-9
relative; float32 agrees to float32 accuracy. The same holds on every other
backend, because random numbers are drawn on the host in scikit-learn's order.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, make_blobs

sklearn_cluster = pytest.importorskip("sklearn.cluster")

import arraykmeans as ak  # noqa: E402

DATASETS = {
    # well separated blobs: strict convergence
    "blobs": lambda: make_blobs(n=500, d=4, k=5, seed=0),
    # overlapping clusters, more centres than natural clusters: many iterations,
    # convergence by tol
    "overlap": lambda: make_blobs(n=800, d=6, k=3, seed=1, spread=4.0),
    # uniform noise in 2-D, k=12
    "uniform": lambda: np.random.RandomState(2).uniform(size=(700, 2)),
}
K = {"blobs": 5, "overlap": 9, "uniform": 12}


def _check_parity(backend, ours, theirs):
    """Compare a fitted arraykmeans model with a fitted scikit-learn model."""
    labels = backend.to_numpy(ours.labels_)
    # On the CPU the products are formed like scikit-learn's; a GPU's float32
    # products round differently and may flip a point that lies on a boundary.
    if backend.name != "cupy" or backend.dtype_name == "float64":
        np.testing.assert_array_equal(labels, theirs.labels_)
        assert ours.n_iter_ == theirs.n_iter_
    else:
        # float32: rounding may flip a point lying on a boundary, no more.
        assert np.mean(labels != theirs.labels_) < 0.01
    assert_close(
        backend,
        ours.cluster_centers_,
        theirs.cluster_centers_,
        atol=1e-9 if backend.dtype_name == "float64" else 1e-4,
    )
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=backend.rtol)
    assert isinstance(ours.inertia_, float)
    assert isinstance(ours.n_iter_, int)


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_same_seed_same_result(backend, dataset, init):
    X = DATASETS[dataset]().astype(backend.np_dtype)
    k = K[dataset]
    ours = ak.KMeans(n_clusters=k, init=init, random_state=7).fit(backend.asarray(X))
    theirs = sklearn_cluster.KMeans(n_clusters=k, init=init, random_state=7).fit(X)
    _check_parity(backend, ours, theirs)


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_same_explicit_init_same_result(backend, dataset):
    X = DATASETS[dataset]().astype(backend.np_dtype)
    k = K[dataset]
    init = X[np.random.RandomState(5).choice(X.shape[0], k, replace=False)] + 0.25
    ours = ak.KMeans(n_clusters=k, init=backend.asarray(init), n_init=1).fit(
        backend.asarray(X)
    )
    theirs = sklearn_cluster.KMeans(n_clusters=k, init=init, n_init=1).fit(X)
    _check_parity(backend, ours, theirs)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_sample_weight(backend, init):
    X = DATASETS["overlap"]().astype(backend.np_dtype)
    w = np.random.RandomState(3).uniform(0, 3, size=X.shape[0]).astype(backend.np_dtype)
    w[::7] = 0  # zero weights are allowed and must not count
    ours = ak.KMeans(n_clusters=6, init=init, random_state=1, n_init=2).fit(
        backend.asarray(X), sample_weight=backend.asarray(w)
    )
    theirs = sklearn_cluster.KMeans(n_clusters=6, init=init, random_state=1, n_init=2)
    theirs.fit(X, sample_weight=w)
    _check_parity(backend, ours, theirs)


def test_n_init_keeps_best_run(backend):
    X = DATASETS["uniform"]().astype(backend.np_dtype)
    ours = ak.KMeans(n_clusters=12, init="random", random_state=3, n_init=6).fit(
        backend.asarray(X)
    )
    theirs = sklearn_cluster.KMeans(
        n_clusters=12, init="random", random_state=3, n_init=6
    ).fit(X)
    _check_parity(backend, ours, theirs)
    single = ak.KMeans(n_clusters=12, init="random", random_state=3, n_init=1).fit(
        backend.asarray(X)
    )
    assert ours.inertia_ <= single.inertia_


def test_empty_cluster_relocation(backend):
    """A centre that attracts no point is moved to the farthest point, as in sklearn."""
    X = DATASETS["blobs"]().astype(backend.np_dtype)
    init = X[:4].copy()
    init = np.concatenate([init, np.full((2, X.shape[1]), 1e3, dtype=X.dtype)])
    ours = ak.KMeans(n_clusters=6, init=backend.asarray(init), n_init=1).fit(
        backend.asarray(X)
    )
    theirs = sklearn_cluster.KMeans(n_clusters=6, init=init, n_init=1).fit(X)
    _check_parity(backend, ours, theirs)
    centres = backend.to_numpy(ours.cluster_centers_)
    assert np.all(np.abs(centres) < 100), (
        "empty clusters must be relocated into the data"
    )
    assert len(np.unique(backend.to_numpy(ours.labels_))) == 6


def test_not_converged_labels_match_predict(backend):
    X = DATASETS["overlap"]().astype(backend.np_dtype)
    ours = ak.KMeans(n_clusters=9, random_state=0, max_iter=3).fit(backend.asarray(X))
    theirs = sklearn_cluster.KMeans(n_clusters=9, random_state=0, max_iter=3).fit(X)
    _check_parity(backend, ours, theirs)
    assert ours.n_iter_ == 3
    np.testing.assert_array_equal(
        backend.to_numpy(ours.predict(backend.asarray(X))),
        backend.to_numpy(ours.labels_),
    )


@pytest.mark.parametrize("tol", [0.0, 1e-2])
def test_tol(backend, tol):
    X = DATASETS["overlap"]().astype(backend.np_dtype)
    ours = ak.KMeans(n_clusters=9, random_state=4, tol=tol).fit(backend.asarray(X))
    theirs = sklearn_cluster.KMeans(n_clusters=9, random_state=4, tol=tol).fit(X)
    _check_parity(backend, ours, theirs)


def test_k_means_function(backend):
    X = DATASETS["blobs"]().astype(backend.np_dtype)
    centers, labels, inertia, n_iter = ak.k_means(
        backend.asarray(X), 5, random_state=2, return_n_iter=True
    )
    sk_centers, sk_labels, sk_inertia, sk_n_iter = sklearn_cluster.k_means(
        X, 5, random_state=2, return_n_iter=True
    )
    np.testing.assert_array_equal(backend.to_numpy(labels), sk_labels)
    assert_close(
        backend,
        centers,
        sk_centers,
        atol=1e-9 if backend.dtype_name == "float64" else 1e-4,
    )
    assert inertia == pytest.approx(sk_inertia, rel=backend.rtol)
    assert n_iter == sk_n_iter
    assert len(ak.k_means(backend.asarray(X), 5, random_state=2)) == 3


@pytest.mark.parametrize("n_local_trials", [None, 1, 5])
def test_kmeans_plusplus_indices(backend, n_local_trials):
    X = DATASETS["uniform"]().astype(backend.np_dtype)
    w = np.random.RandomState(9).uniform(size=X.shape[0]).astype(backend.np_dtype)
    centers, indices = ak.kmeans_plusplus(
        backend.asarray(X),
        10,
        sample_weight=backend.asarray(w),
        random_state=11,
        n_local_trials=n_local_trials,
    )
    sk_centers, sk_indices = sklearn_cluster.kmeans_plusplus(
        X, 10, sample_weight=w, random_state=11, n_local_trials=n_local_trials
    )
    np.testing.assert_array_equal(backend.to_numpy(indices), sk_indices)
    assert_close(backend, centers, sk_centers, rtol=0)
    assert indices.dtype == backend.xp.int64


def test_kmeans_plusplus_with_given_norms():
    X = DATASETS["uniform"]()
    norms = (X**2).sum(axis=1)
    _, ours = ak.kmeans_plusplus(X, 5, x_squared_norms=norms, random_state=0)
    _, theirs = sklearn_cluster.kmeans_plusplus(
        X, 5, x_squared_norms=norms, random_state=0
    )
    np.testing.assert_array_equal(ours, theirs)


def test_random_state_instance_is_advanced_like_sklearn():
    """Two fits sharing one RandomState see the same draws as in scikit-learn."""
    X = DATASETS["uniform"]()
    ours_rs, theirs_rs = np.random.RandomState(0), np.random.RandomState(0)
    for _ in range(2):
        ours = ak.KMeans(
            n_clusters=4, init="random", n_init=2, random_state=ours_rs
        ).fit(X)
        theirs = sklearn_cluster.KMeans(
            n_clusters=4, init="random", n_init=2, random_state=theirs_rs
        ).fit(X)
        np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours_rs.random_sample() == theirs_rs.random_sample()


def test_callable_init_receives_random_state():
    X = DATASETS["blobs"]()

    def init(data, k, random_state):
        return data[random_state.permutation(data.shape[0])[:k]]

    ours = ak.KMeans(n_clusters=5, init=init, random_state=0).fit(X)
    theirs = sklearn_cluster.KMeans(n_clusters=5, init=init, random_state=0).fit(X)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-9)


def test_same_seed_same_initial_centres_on_every_backend(backend):
    """k-means++ on this backend picks exactly the rows NumPy float64 picks."""
    X = DATASETS["overlap"]()
    _, reference = ak.kmeans_plusplus(X, 9, random_state=123)
    _, indices = ak.kmeans_plusplus(backend.asarray(X), 9, random_state=123)
    np.testing.assert_array_equal(backend.to_numpy(indices), reference)
