"""init='k-means||' and KMeansParallel: deterministic, on every backend, as
good as k-means++, its options, and BatchedKMeans equal to single fits."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import numpy as np
import pytest
from conftest import assert_same_place, make_blobs

import arraykmeans as ak
from arraykmeans.algorithm import _init


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


# --------------------------------------------------------------- the options


def _candidate_counts(monkeypatch, X, options, seed=0, k=5):
    """The number of candidates each fit reclusters (spy on the reduction)."""
    counts = []
    real = _init._recluster

    def spy(be, cand, cand_w, n_clusters, random_state):
        counts.append(cand.shape[0])
        return real(be, cand, cand_w, n_clusters, random_state)

    monkeypatch.setattr(_init, "_recluster", spy)
    for opt in options:
        ak.KMeans(k, init=opt, random_state=seed, max_iter=1).fit(X)
    return counts


@pytest.mark.parametrize("seed", range(3))
def test_more_rounds_keep_more_candidates(monkeypatch, seed):
    """The first rounds draw the same uniforms whatever ``n_rounds`` is, so
    more rounds keep a superset: the count grows, by about ``l`` a round."""
    X = _blobs(seed)
    rounds = (1, 2, 5, 10)
    counts = _candidate_counts(
        monkeypatch, X, [ak.KMeansParallel(n_rounds=r) for r in rounds], seed
    )
    assert counts == sorted(set(counts)), counts
    for r, count in zip(rounds, counts, strict=True):
        # Expected at most l = 2k = 10 new candidates a round, plus the first.
        assert 1 + r <= count <= 1 + 3 * 10 * r, (r, count)


@pytest.mark.parametrize("seed", range(3))
def test_larger_oversampling_keeps_more_candidates(monkeypatch, seed):
    X = _blobs(seed)
    factors = (2, 20, 200)
    counts = _candidate_counts(
        monkeypatch,
        X,
        [ak.KMeansParallel(oversampling_factor=f, n_rounds=2) for f in factors],
        seed,
    )
    assert counts == sorted(set(counts)), counts
    assert counts[-1] > 100, counts


def test_default_is_2k_per_round_and_5_rounds(monkeypatch):
    """``'k-means||'``, ``KMeansParallel()`` and its documented defaults
    spelled out are one seeding; other options give other candidates."""
    X = _blobs(4)
    options = [
        "k-means||",
        ak.KMeansParallel(),
        ak.KMeansParallel(oversampling_factor=10, n_rounds=5),  # k = 5
        ak.KMeansParallel(oversampling_factor=10.0),
        ak.KMeansParallel(n_rounds=4),
        ak.KMeansParallel(oversampling_factor=11),
    ]
    counts = _candidate_counts(monkeypatch, X, options, seed=4)
    assert len(set(counts[:4])) == 1, counts
    assert counts[4] < counts[0], counts
    assert counts[5] != counts[0], counts
    fits = [ak.KMeans(5, init=o, random_state=4, max_iter=1).fit(X) for o in options]
    for fit in fits[1:4]:
        np.testing.assert_array_equal(fit.cluster_centers_, fits[0].cluster_centers_)
    assert not np.array_equal(fits[4].cluster_centers_, fits[0].cluster_centers_)


def test_k_means_function_and_minibatch_take_the_options():
    X = _blobs(2)
    opt = ak.KMeansParallel(oversampling_factor=30, n_rounds=2)
    est = ak.KMeans(5, init=opt, random_state=3).fit(X)
    centers, labels, inertia = ak.k_means(X, 5, init=opt, random_state=3)
    np.testing.assert_array_equal(centers, est.cluster_centers_)
    np.testing.assert_array_equal(labels, est.labels_)
    assert inertia == est.inertia_
    mb = ak.MiniBatchKMeans(5, init=opt, random_state=3, n_init=2).fit(X)
    again = ak.MiniBatchKMeans(5, init=opt, random_state=3, n_init=2).fit(X)
    np.testing.assert_array_equal(mb.cluster_centers_, again.cluster_centers_)
    assert mb._n_init == 2
    assert ak.MiniBatchKMeans(5, init=opt).fit(X)._n_init == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"oversampling_factor": 0}, ValueError, "oversampling_factor"),
        ({"oversampling_factor": -2.5}, ValueError, "oversampling_factor"),
        ({"oversampling_factor": float("nan")}, ValueError, "oversampling_factor"),
        ({"oversampling_factor": float("inf")}, ValueError, "oversampling_factor"),
        ({"oversampling_factor": "10"}, TypeError, "oversampling_factor"),
        ({"oversampling_factor": True}, TypeError, "oversampling_factor"),
        ({"oversampling_factor": [10]}, TypeError, "oversampling_factor"),
        ({"n_rounds": 0}, ValueError, "n_rounds"),
        ({"n_rounds": -1}, ValueError, "n_rounds"),
        ({"n_rounds": 2.0}, TypeError, "n_rounds"),
        ({"n_rounds": True}, TypeError, "n_rounds"),
        ({"n_rounds": None}, TypeError, "n_rounds"),
        ({"n_rounds": "5"}, TypeError, "n_rounds"),
    ],
)
def test_bad_options_name_the_parameter(kwargs, error, name):
    with pytest.raises(error, match=f"'{name}'"):
        ak.KMeansParallel(**kwargs)


def test_good_options_are_kept_as_given():
    opt = ak.KMeansParallel(np.float32(3.5), np.int64(2))
    assert (opt.oversampling_factor, opt.n_rounds) == (3.5, 2)
    assert ak.KMeansParallel(1e-3, 1).n_rounds == 1


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda init: ak.KMeans(3, init=init), "KMeans"),
        (lambda init: ak.MiniBatchKMeans(3, init=init), "MiniBatchKMeans"),
        (lambda init: ak.BatchedKMeans(3, init=init), "BatchedKMeans"),
    ],
)
def test_unknown_init_names_the_options(make, name):
    X = _blobs(0, n=60)
    X = X[None] if name == "BatchedKMeans" else X
    with pytest.raises(ValueError, match=f"'init' parameter of {name}") as info:
        make("k-means|").fit(X)
    assert "'k-means||'" in str(info.value)
    assert "'KMeansParallel'" in str(info.value)


def test_frozen_hashable_and_compared_by_value():
    opt = ak.KMeansParallel(oversampling_factor=8, n_rounds=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opt.n_rounds = 4
    assert opt == ak.KMeansParallel(8, 3)
    assert hash(opt) == hash(ak.KMeansParallel(8, 3))
    assert opt != ak.KMeansParallel(8, 4)
    assert copy.deepcopy(opt) == opt
    assert pickle.loads(pickle.dumps(opt)) == opt
    assert repr(opt) == "KMeansParallel(oversampling_factor=8, n_rounds=3)"
    assert ak.KMeansParallel is ak.estimators.KMeansParallel


@pytest.mark.parametrize(
    "estimator",
    [ak.KMeans(4, random_state=1), ak.MiniBatchKMeans(4, random_state=1),
     ak.BatchedKMeans(4, random_state=1)],
    ids=["KMeans", "MiniBatchKMeans", "BatchedKMeans"],
)  # fmt: skip
def test_get_params_set_params_clone(estimator):
    from sklearn.base import clone

    opt = ak.KMeansParallel(oversampling_factor=12, n_rounds=2)
    est = clone(estimator).set_params(init=opt)
    assert est.get_params()["init"] is opt
    assert f"init={opt!r}" in repr(est)
    twin = clone(est)
    assert twin.get_params()["init"] == opt
    assert type(twin).__name__ == type(est).__name__
    X = _blobs(5, n=400)
    X = X[None] if isinstance(est, ak.BatchedKMeans) else X
    a, b = est.fit(X), twin.fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    fresh = type(est)(**est.get_params()).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, fresh.cluster_centers_)


def test_options_deterministic_on_every_backend(backend):
    X = _blobs(6).astype(backend.np_dtype)
    opt = ak.KMeansParallel(oversampling_factor=7.5, n_rounds=3)
    km = ak.KMeans(5, init=opt, random_state=2).fit(backend.asarray(X))
    again = ak.KMeans(5, init=opt, random_state=2).fit(backend.asarray(X))
    named = ak.KMeans(5, init="k-means||", random_state=2).fit(backend.asarray(X))
    default = ak.KMeans(5, init=ak.KMeansParallel(), random_state=2).fit(
        backend.asarray(X)
    )
    assert_same_place(backend, km.cluster_centers_)
    assert km.cluster_centers_.dtype == backend.dtype
    centres = backend.to_numpy(km.cluster_centers_)
    np.testing.assert_array_equal(centres, backend.to_numpy(again.cluster_centers_))
    np.testing.assert_array_equal(
        backend.to_numpy(named.cluster_centers_),
        backend.to_numpy(default.cluster_centers_),
    )
    if backend.np_dtype == np.float64:
        ref = ak.KMeans(5, init=opt, random_state=2).fit(X)
        np.testing.assert_array_equal(backend.to_numpy(km.labels_), ref.labels_)
        assert km.n_iter_ == ref.n_iter_


# ----------------------------------------------------------- BatchedKMeans


def _stack(seed):
    """A random stack: problems of random sizes (padding after them), a
    random k and d, weights with some zeros scattered inside the problems."""
    rng = np.random.RandomState(seed)
    B, n, d, k = rng.randint(2, 5), rng.randint(60, 160), rng.randint(1, 5), 3
    centres = rng.uniform(-8, 8, size=(B, k + 1, d))
    labels = rng.randint(k + 1, size=(B, n))
    X = np.take_along_axis(centres, labels[:, :, None], axis=1) + rng.randn(B, n, d)
    sizes = rng.randint(2 * k, n + 1, size=B)
    mask = np.arange(n)[None, :] < sizes[:, None]
    w = rng.uniform(0.5, 2.0, size=(B, n))
    w[rng.uniform(size=(B, n)) < 0.1] = 0.0
    return X, mask, w, k


def _check_batched_equals_single(
    backend, X, mask, w, k, seed, init, n_init, problems=None
):
    """Every problem of a batched fit (or the first ``problems``) equals
    KMeans on its positive-weight rows with its seed: labels, iterations,
    centres, inertia."""
    X_padded = np.where(mask[:, :, None], X, 1e4).astype(backend.np_dtype)
    w = w.astype(backend.np_dtype)
    est = ak.BatchedKMeans(k, init=init, n_init=n_init, random_state=seed)
    est.fit(
        backend.asarray(X_padded),
        sample_weight=backend.asarray(w),
        mask=backend.asarray(mask),
    )
    for arr in (est.cluster_centers_, est.labels_, est.inertia_, est.n_iter_):
        assert_same_place(backend, arr)
    assert est.cluster_centers_.dtype == backend.dtype
    labels = backend.to_numpy(est.labels_)
    centres = backend.to_numpy(est.cluster_centers_)
    inertia, n_iter = backend.to_numpy(est.inertia_), backend.to_numpy(est.n_iter_)
    for b, problem_seed in enumerate(est.seeds_[:problems]):
        rows = mask[b] & (w[b] > 0)
        single = ak.KMeans(
            k, init=init, n_init=n_init, random_state=int(problem_seed)
        ).fit(backend.asarray(X[b, rows]), sample_weight=backend.asarray(w[b, rows]))
        case = f"seed={seed}, problem {b}"
        np.testing.assert_array_equal(
            labels[b, rows], backend.to_numpy(single.labels_), err_msg=case
        )
        assert (labels[b, ~mask[b]] == -1).all(), case
        assert int(n_iter[b]) == single.n_iter_, case
        np.testing.assert_allclose(
            centres[b],
            backend.to_numpy(single.cluster_centers_),
            rtol=backend.rtol,
            atol=1e-9 if backend.dtype_name == "float64" else 1e-4,
            err_msg=case,
        )
        assert float(inertia[b]) == pytest.approx(single.inertia_, rel=backend.rtol)
    return labels


@pytest.mark.parametrize(
    ("init", "n_init"),
    [("k-means||", 1), (ak.KMeansParallel(oversampling_factor=4, n_rounds=2), 2)],
    ids=["k-means||", "options-n_init2"],
)
def test_batched_equals_single_fits(backend, init, n_init):
    """Property-style: several generated stacks (ragged, masked, weighted).

    On the libraries that compile per shape or build graphs (JAX, Dask),
    where each single fit of a ragged problem is new work (one stack took up
    to 100 s), one stack, and its first problem fitted alone; in float64 the
    whole stack's labels are NumPy's, whose problems are checked one by one.
    """
    slow = backend.name.startswith(("jax", "dask"))
    for seed in range(1 if slow else 3):
        X, mask, w, k = _stack(seed)
        labels = _check_batched_equals_single(
            backend, X, mask, w, k, seed, init, n_init, 1 if slow else None
        )
        if backend.np_dtype == np.float64 and backend.name != "numpy":
            ref = ak.BatchedKMeans(k, init=init, n_init=n_init, random_state=seed)
            ref.fit(np.where(mask[:, :, None], X, 1e4), sample_weight=w, mask=mask)
            np.testing.assert_array_equal(labels, ref.labels_)


def test_batched_function_and_zero_weight_padding():
    """batched_k_means, padding marked by zero weight only: the same fit."""
    X, mask, w, k = _stack(7)
    opt = ak.KMeansParallel(n_rounds=3)
    X_padded = np.where(mask[:, :, None], X, 1e4)
    est = ak.BatchedKMeans(k, init=opt, random_state=1).fit(
        X_padded, sample_weight=w, mask=mask
    )
    centers, labels, inertia, n_iter = ak.batched_k_means(
        X_padded, k, sample_weight=np.where(mask, w, 0.0), init=opt, random_state=1
    )
    np.testing.assert_array_equal(centers, est.cluster_centers_)
    np.testing.assert_array_equal(labels, est.labels_)
    np.testing.assert_array_equal(inertia, est.inertia_)
    np.testing.assert_array_equal(n_iter, est.n_iter_)
