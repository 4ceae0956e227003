"""SphericalKMeans against a float64 NumPy reference written here, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import arraykmeans as ak


def _directions(seed, n=300, d=4, k=3):
    """Rows around k directions, at random lengths (spherical K-means sees
    only the directions), and k rows of the data as initial centres."""
    rng = np.random.RandomState(seed)
    axes = rng.randn(k, d)
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    labels = rng.randint(k, size=n)
    X = (axes[labels] + 0.25 * rng.randn(n, d)) * rng.uniform(0.1, 50, (n, 1))
    init = X[[int(np.flatnonzero(labels == j)[0]) for j in range(k)]]
    return X, init


def _reference(X, init, w, max_iter=300):
    """Spherical K-means as written in the literature: unit rows, the centre
    of largest cosine similarity, centres the normalised weighted sums; until
    the labels no longer change."""
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    C = init / np.linalg.norm(init, axis=1, keepdims=True)
    labels = None
    for _ in range(max_iter):
        new = np.argmax(U @ C.T, axis=1)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        sums = np.zeros_like(C)
        np.add.at(sums, labels, w[:, None] * U)
        C = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    inertia = float(np.sum(w * (1 - np.sum(U * C[labels], axis=1))))
    return labels, C, inertia


def test_same_as_the_reference_on_every_backend(backend):
    """Four data sets; two on JAX and Dask (each fit compiles or builds graphs
    anew there)."""
    slow = backend.name.startswith(("jax", "dask"))
    for seed in range(2 if slow else 4):
        _check_reference(backend, seed)


def _check_reference(backend, seed):
    X, init = _directions(seed, d=2 + seed)
    w = np.random.RandomState(seed).uniform(0.5, 2, X.shape[0])
    labels, C, inertia = _reference(X, init, w)
    Xb = backend.asarray(X)
    skm = ak.SphericalKMeans(3, init=backend.asarray(init), n_init=1, tol=0)
    skm.fit(Xb, sample_weight=backend.asarray(w))
    got = backend.to_numpy(skm.labels_)
    np.testing.assert_array_equal(got, labels)
    tol = 1e-12 if backend.dtype_name == "float64" else 1e-5
    np.testing.assert_allclose(backend.to_numpy(skm.cluster_centers_), C, atol=tol)
    assert skm.inertia_ == pytest.approx(inertia, rel=1e-9 if tol < 1e-6 else 1e-4)
    np.testing.assert_array_equal(backend.to_numpy(skm.predict(Xb)), labels)
    assert skm.score(Xb, sample_weight=backend.asarray(w)) == pytest.approx(
        -inertia, rel=1e-9 if tol < 1e-6 else 1e-4
    )
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(
        backend.to_numpy(skm.transform(Xb)), 1 - U @ C.T, atol=10 * tol
    )
    # Lengths do not matter: rescaled rows give the same clustering.
    scaled = X * np.random.RandomState(seed + 9).uniform(1e-3, 1e3, (X.shape[0], 1))
    again = ak.SphericalKMeans(3, init=backend.asarray(init), n_init=1, tol=0)
    again.fit(backend.asarray(scaled), sample_weight=backend.asarray(w))
    np.testing.assert_array_equal(backend.to_numpy(again.labels_), labels)


@pytest.mark.parametrize("seed", range(6))
def test_seeded_fits_are_unit_centres_and_consistent(seed):
    """Property-style, any seeding: unit centres, labels_ == predict(X),
    inertia_ == -score(X), inertia within [0, 2 Σw], no row closer by angle
    to another centre than to its own."""
    X, _ = _directions(seed, n=500, d=3 + seed % 3, k=4)
    init = ["k-means++", "random", "k-means||"][seed % 3]
    skm = ak.SphericalKMeans(4, init=init, random_state=seed).fit(X)
    np.testing.assert_allclose(np.linalg.norm(skm.cluster_centers_, axis=1), 1.0)
    np.testing.assert_array_equal(skm.labels_, skm.predict(X))
    assert skm.inertia_ == pytest.approx(-skm.score(X), rel=1e-9)
    assert 0 <= skm.inertia_ <= 2 * X.shape[0]
    cos = (X / np.linalg.norm(X, axis=1, keepdims=True)) @ skm.cluster_centers_.T
    assert np.all(cos[np.arange(len(X)), skm.labels_] >= cos.max(axis=1) - 1e-12)
    km = ak.KMeans(4, init=init, random_state=seed).fit(X)
    assert km.get_params() == skm.get_params()


def test_zero_rows_and_input_left_alone():
    X, _ = _directions(0)
    X[[5, 9]] = 0.0
    with pytest.raises(ValueError, match=r"2 row\(s\) of zeros \(first: \[5, 9\]\)"):
        ak.SphericalKMeans(3).fit(X)
    X, _ = _directions(1)
    copy = X.copy()
    skm = ak.SphericalKMeans(3, random_state=0).fit(X)
    np.testing.assert_array_equal(X, copy)
    with pytest.raises(ValueError, match="row\\(s\\) of zeros"):
        skm.predict(np.zeros((2, X.shape[1])))
