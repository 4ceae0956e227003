"""MiniBatchKMeans: scikit-learn's runs on NumPy, every backend's results in place.

Parity: with the same ``random_state`` the same batches, reassignments,
stopping step, labels and centres as scikit-learn's MiniBatchKMeans (float64:
centres to 1e-9; float32: to float32 accuracy), checked for data sets and
parameters chosen so that each rule (early stopping, tol, reassignment,
n_init, init_size, sample weights, partial_fit) actually fires, which the
tests assert through scikit-learn's own verbose messages.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings

import numpy as np
import pytest
from conftest import assert_close, assert_same_place, make_blobs

import arraykmeans as ak
from arraykmeans.algorithm import _minibatch as mb
from arraykmeans.backends import get_backend

sklearn_cluster = pytest.importorskip("sklearn.cluster")
SKMiniBatchKMeans = sklearn_cluster.MiniBatchKMeans


def _blobs(n, d, k, seed=0, spread=1.0):
    return make_blobs(n=n, d=d, k=k, seed=seed, spread=spread)


def _unbalanced(seed=0):
    """A big blob and a few tiny ones far away: many centres starve, so that
    low-count centres are reassigned."""
    rng = np.random.RandomState(seed)
    big = rng.randn(2000, 2)
    small = np.repeat(rng.uniform(20, 40, size=(5, 2)), 4, axis=0)
    return np.vstack([big, small + 0.1 * rng.randn(20, 2)])


def _fit_both(X, sample_weight=None, **params):
    """scikit-learn's and arraykmeans' fits, and what each printed (verbose)."""
    out = {}
    for name, cls in (("sk", SKMiniBatchKMeans), ("ak", ak.MiniBatchKMeans)):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            est = cls(verbose=1, **params).fit(X, sample_weight=sample_weight)
        out[name] = (est, buffer.getvalue())
    return out


def _events(text):
    """The lines of a verbose log that report decisions, not float values."""
    keep = ("Converged", "[MiniBatchKMeans] Reassigning")
    return [line for line in text.splitlines() if line.startswith(keep)]


def _assert_same_fit(sk, ours, dtype):
    assert ours.n_steps_ == sk.n_steps_
    assert ours.n_iter_ == sk.n_iter_
    np.testing.assert_array_equal(ours.labels_, sk.labels_)
    assert ours.labels_.dtype == np.int32
    assert ours.cluster_centers_.dtype == dtype
    rtol = 1e-9 if dtype == np.float64 else 1e-5
    scale = np.abs(sk.cluster_centers_).max()
    np.testing.assert_allclose(
        ours.cluster_centers_, sk.cluster_centers_, rtol=rtol, atol=rtol * scale
    )
    assert ours.inertia_ == pytest.approx(
        sk.inertia_, rel=1e-9 if rtol < 1e-6 else 1e-5
    )
    np.testing.assert_array_equal(ours._counts, sk._counts)


# (data, params, the events that must occur) for each rule of a fit.
CASES = {
    "early-stop": (
        lambda: _blobs(3000, 5, 6, seed=0),
        dict(n_clusters=6, batch_size=100, max_iter=20),
        ["Converged (lack of improvement in inertia)"],
    ),
    "tol": (
        lambda: _blobs(20000, 32, 25, seed=1),
        dict(n_clusters=50, batch_size=1024, tol=1e-3),
        ["Converged (small centers change)"],
    ),
    "all-steps": (
        lambda: _blobs(2000, 3, 4, seed=2),
        dict(n_clusters=4, batch_size=256, max_iter=3, max_no_improvement=None),
        [],
    ),
    "reassign": (
        lambda: _unbalanced(0),
        dict(n_clusters=12, batch_size=64, reassignment_ratio=0.3, max_iter=5),
        ["[MiniBatchKMeans] Reassigning"],
    ),
    "random-n_init": (
        lambda: _blobs(4000, 8, 10, seed=3),
        dict(n_clusters=10, init="random", n_init=4, batch_size=200),
        [],
    ),
    "init_size": (
        lambda: _blobs(5000, 4, 8, seed=4),
        dict(n_clusters=8, init_size=300, n_init=3, batch_size=500),
        [],
    ),
    "k-exceeds-batch": (
        lambda: _blobs(1000, 2, 20, seed=5, spread=0.3),
        dict(n_clusters=40, batch_size=30, max_iter=3),
        ["[MiniBatchKMeans] Reassigning"],
    ),
}


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(CASES))
def test_fit_matches_sklearn(case, dtype, weighted, compiled):
    make, params, events = CASES[case]
    X = make().astype(dtype)
    w = np.random.RandomState(7).uniform(0.1, 2, X.shape[0]) if weighted else None
    with ak.config_context(use_compiled=compiled):
        fits = _fit_both(X, w, random_state=0, **params)
    (sk, sk_log), (ours, our_log) = fits["sk"], fits["ak"]
    _assert_same_fit(sk, ours, dtype)
    assert _events(our_log) == _events(sk_log)
    for event in events:
        assert event in sk_log, f"the case does not exercise {event!r}"
    if case == "early-stop":
        assert sk.n_steps_ < params["max_iter"] * X.shape[0] // params["batch_size"]


def test_init_array_matches_sklearn():
    X = _blobs(2000, 3, 5, seed=6)
    init = X[[0, 100, 200, 300, 400]]
    kw = dict(n_clusters=5, init=init, batch_size=128, random_state=1)
    sk = SKMiniBatchKMeans(**kw).fit(X)
    ours = ak.MiniBatchKMeans(**kw).fit(X)
    _assert_same_fit(sk, ours, np.float64)


def test_callable_init_matches_sklearn():
    def first_rows(X, k, random_state):
        return X[random_state.permutation(X.shape[0])[:k]]

    X = _blobs(2000, 3, 5, seed=7)
    kw = dict(n_clusters=5, init=first_rows, batch_size=128, random_state=2)
    _assert_same_fit(
        SKMiniBatchKMeans(**kw).fit(X), ak.MiniBatchKMeans(**kw).fit(X), np.float64
    )


def test_compute_labels_false_matches_sklearn():
    X = _blobs(3000, 4, 5, seed=8)
    kw = dict(n_clusters=5, batch_size=100, random_state=3, compute_labels=False)
    sk = SKMiniBatchKMeans(**kw).fit(X)
    ours = ak.MiniBatchKMeans(**kw).fit(X)
    assert not hasattr(ours, "labels_")
    assert ours.n_steps_ == sk.n_steps_
    assert ours.inertia_ == pytest.approx(sk.inertia_, rel=1e-9)
    np.testing.assert_allclose(ours.cluster_centers_, sk.cluster_centers_, rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunk", [37, 200])
def test_partial_fit_sequence_matches_sklearn(dtype, chunk):
    """Chunks smaller and larger than 10 * n_clusters: the reassignment
    counter of partial_fit, its first-call initialisation and its steps."""
    X = _unbalanced(1).astype(dtype)
    w = np.random.RandomState(0).uniform(0.5, 1.5, X.shape[0]).astype(dtype)
    kw = dict(n_clusters=8, random_state=4, reassignment_ratio=0.2, batch_size=64)
    sk, ours = SKMiniBatchKMeans(verbose=1, **kw), ak.MiniBatchKMeans(verbose=1, **kw)
    logs = {"sk": io.StringIO(), "ak": io.StringIO()}
    rtol = 1e-9 if dtype == np.float64 else 1e-5
    for start in range(0, X.shape[0], chunk):
        part, wpart = X[start : start + chunk], w[start : start + chunk]
        for name, est in (("sk", sk), ("ak", ours)):
            with contextlib.redirect_stdout(logs[name]):
                est.partial_fit(part, sample_weight=wpart)
        assert ours.n_steps_ == sk.n_steps_
        np.testing.assert_allclose(
            ours.cluster_centers_, sk.cluster_centers_, rtol=rtol, atol=rtol * 40
        )
        np.testing.assert_array_equal(ours.labels_, sk.labels_)
        np.testing.assert_array_equal(ours._counts, sk._counts)
        assert ours._n_since_last_reassign == sk._n_since_last_reassign
        assert ours.inertia_ == pytest.approx(sk.inertia_, rel=rtol * 10)
    assert not hasattr(ours, "n_iter_")
    assert "[MiniBatchKMeans] Reassigning" in logs["sk"].getvalue()
    assert _events(logs["ak"].getvalue()) == _events(logs["sk"].getvalue())


def test_partial_fit_after_fit_matches_sklearn():
    X = _blobs(3000, 4, 6, seed=9)
    kw = dict(n_clusters=6, random_state=5, batch_size=256)
    sk = SKMiniBatchKMeans(**kw).fit(X)
    ours = ak.MiniBatchKMeans(**kw).fit(X)
    for start in range(0, 1000, 250):
        sk.partial_fit(X[start : start + 250])
        ours.partial_fit(X[start : start + 250])
    assert ours.n_steps_ == sk.n_steps_
    np.testing.assert_allclose(ours.cluster_centers_, sk.cluster_centers_, rtol=1e-9)
    np.testing.assert_array_equal(ours.labels_, sk.labels_)


def test_batches_are_numpys_choice():
    w = np.random.RandomState(0).uniform(0, 3, 5000).astype(np.float32)
    sampler = mb.BatchSampler(w)
    a, b = np.random.RandomState(1), np.random.RandomState(1)
    for _ in range(5):
        expected = a.choice(5000, 300, p=w / w.sum(), replace=True)
        np.testing.assert_array_equal(sampler.draw(b, 300), expected)


# ------------------------------------------------------- warnings and errors


def _caught(fn):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fn()
    return [(w.category, str(w.message)) for w in record]


@pytest.mark.parametrize(
    "params",
    [
        dict(n_clusters=5, init_size=3),
        dict(n_clusters=3, init="explicit", n_init=3),
        dict(n_clusters=3, init="explicit", n_init=2, init_size=2),
    ],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_warnings_as_sklearn(params, method):
    X = _blobs(300, 2, 3, seed=0)
    if params.get("init") == "explicit":
        params = {**params, "init": X[:3]}
    sk = _caught(lambda: getattr(SKMiniBatchKMeans(**params), method)(X))
    ours = _caught(lambda: getattr(ak.MiniBatchKMeans(**params), method)(X))
    assert sk, "scikit-learn warned nothing: the case is wrong"
    assert [(issubclass(c, RuntimeWarning), m) for c, m in ours] == [
        (issubclass(c, RuntimeWarning), m) for c, m in sk
    ]


def _error(fn):
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("no error raised")


@pytest.mark.parametrize(
    "params",
    [
        dict(batch_size=0),
        dict(batch_size=2.5),
        dict(compute_labels=1),
        dict(max_no_improvement=-1),
        dict(init_size=0),
        dict(reassignment_ratio=-0.5),
        dict(reassignment_ratio="a"),
        dict(n_init=0),
        dict(n_init="x"),
        dict(tol=-1.0),
        dict(tol=np.inf),
        dict(max_iter=0),
        dict(n_clusters=0),
        dict(verbose=-1),
        dict(random_state="a"),
    ],
)
def test_parameter_errors_as_sklearn(params):
    X = _blobs(50, 2, 2)
    sk = _error(lambda: SKMiniBatchKMeans(**params).fit(X))
    ours = _error(lambda: ak.MiniBatchKMeans(**params).fit(X))
    assert type(sk).__name__ == type(ours).__name__ == "InvalidParameterError"
    assert isinstance(ours, type(sk))
    assert str(ours) == str(sk)
    partial = _error(lambda: ak.MiniBatchKMeans(**params).partial_fit(X))
    assert str(partial) == str(sk)


def test_bad_init_names_the_parameter():
    X = _blobs(50, 2, 2)
    with pytest.raises(ValueError, match="The 'init' parameter of MiniBatchKMeans"):
        ak.MiniBatchKMeans(init="kmeans").fit(X)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_too_few_samples_as_sklearn(method):
    X = _blobs(5, 2, 2)
    sk = _error(lambda: getattr(SKMiniBatchKMeans(n_clusters=6), method)(X))
    ours = _error(lambda: getattr(ak.MiniBatchKMeans(n_clusters=6), method)(X))
    assert type(ours) is type(sk) is ValueError
    assert str(ours) == str(sk) == "n_samples=5 should be >= n_clusters=6."


def test_init_shape_errors_as_sklearn():
    X = _blobs(50, 3, 2)
    for init in (X[:2, :2], X[:3]):
        sk = _error(lambda init=init: SKMiniBatchKMeans(2, init=init).fit(X))
        ours = _error(lambda init=init: ak.MiniBatchKMeans(2, init=init).fit(X))
        assert str(ours) == str(sk)


def test_partial_fit_checks_features_and_fitted_state():
    X = _blobs(100, 3, 2)
    km = ak.MiniBatchKMeans(2, random_state=0)
    with pytest.raises(ak.NotFittedError):
        km.predict(X)
    km.partial_fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but MiniBatchKMeans"):
        km.partial_fit(X[:, :2])


# -------------------------------------------------------------- properties


def test_same_random_state_same_model_and_clone():
    from sklearn.base import clone

    X = _blobs(1000, 3, 4, seed=1)
    a = ak.MiniBatchKMeans(4, random_state=0, batch_size=50).fit(X)
    b = clone(a).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert repr(a) == "MiniBatchKMeans(n_clusters=4, batch_size=50, random_state=0)"


def test_fit_predict_transform_score_agree():
    X = _blobs(1200, 4, 5, seed=2)
    km = ak.MiniBatchKMeans(5, random_state=0, batch_size=100)
    labels = km.fit_predict(X)
    np.testing.assert_array_equal(labels, km.predict(X))
    dist = km.transform(X)
    assert dist.shape == (1200, 5)
    np.testing.assert_array_equal(np.argmin(dist, axis=1), labels)
    assert km.score(X) == pytest.approx(-km.inertia_, rel=1e-12)
    sk = SKMiniBatchKMeans(5, random_state=0, batch_size=100).fit(X)
    np.testing.assert_allclose(dist, sk.transform(X), rtol=1e-9)
    assert km.score(X) == pytest.approx(sk.score(X), rel=1e-9)
    ft = ak.MiniBatchKMeans(5, random_state=0, batch_size=100).fit_transform(X)
    np.testing.assert_allclose(ft, dist, rtol=1e-12)


def _small(backend, seed=0):
    X = _blobs(300, 3, 4, seed=seed).astype(backend.np_dtype)
    return X, backend.asarray(X)


def test_every_backend_results_in_place(backend):
    X, Xb = _small(backend)
    kw = dict(n_clusters=4, random_state=0, batch_size=40, max_iter=3,
              reassignment_ratio=0.2)  # fmt: skip
    km = ak.MiniBatchKMeans(**kw).fit(Xb)
    assert_same_place(backend, km.cluster_centers_)
    assert km.cluster_centers_.dtype == backend.dtype
    assert km.labels_.dtype == backend.xp.int32
    centres = backend.to_numpy(km.cluster_centers_)
    assert np.isfinite(centres).all()
    assert np.isfinite(km.inertia_)
    labels = backend.to_numpy(km.labels_)
    np.testing.assert_array_equal(labels, backend.to_numpy(km.predict(Xb)))
    dist = km.transform(Xb)
    assert_same_place(backend, dist)
    assert tuple(dist.shape) == (300, 4)
    ref = ak.MiniBatchKMeans(**kw).fit(X)
    assert km.n_steps_ == ref.n_steps_
    assert km.n_iter_ == ref.n_iter_
    if backend.np_dtype == np.float64:
        np.testing.assert_array_equal(labels, ref.labels_)
        assert_close(backend, km.cluster_centers_, ref.cluster_centers_)
        assert km.inertia_ == pytest.approx(ref.inertia_, rel=1e-9)
    else:
        assert km.inertia_ == pytest.approx(ref.inertia_, rel=1e-3)


def test_every_backend_partial_fit(backend):
    X, Xb = _small(backend, seed=1)
    km = ak.MiniBatchKMeans(4, random_state=1, reassignment_ratio=0.3)
    ref = ak.MiniBatchKMeans(4, random_state=1, reassignment_ratio=0.3)
    for start in (0, 100, 200):
        km.partial_fit(Xb[start : start + 100, ...])
        ref.partial_fit(X[start : start + 100])
    assert km.n_steps_ == 3
    assert_same_place(backend, km.cluster_centers_)
    assert_same_place(backend, km.labels_)
    assert km.score(Xb) < 0
    if backend.np_dtype == np.float64:
        assert_close(backend, km.cluster_centers_, ref.cluster_centers_)
        np.testing.assert_array_equal(backend.to_numpy(km.labels_), ref.labels_)


def test_every_backend_sample_weight_and_init_array(backend):
    X, Xb = _small(backend, seed=2)
    w = np.random.RandomState(0).uniform(0.5, 2, 300)
    init = X[:4]
    kw = dict(n_clusters=4, random_state=2, batch_size=60, max_iter=2)
    km = ak.MiniBatchKMeans(init=backend.asarray(init), **kw)
    km.fit(Xb, sample_weight=backend.asarray(w))
    ref = ak.MiniBatchKMeans(init=init, **kw).fit(
        X, sample_weight=w.astype(backend.np_dtype)
    )
    assert km.n_steps_ == ref.n_steps_
    if backend.np_dtype == np.float64:
        assert_close(backend, km.cluster_centers_, ref.cluster_centers_)


def test_standard_update_matches_numpy_on_strict():
    """The pure-standard mini-batch update (array-api-strict) against the
    NumPy one: same labels, counts and inertia, centres to rounding."""
    import array_api_strict as xps

    rng = np.random.RandomState(0)
    X = rng.randn(500, 6)
    w = rng.uniform(0, 2, 500)
    w[:50] = 0
    C = X[:7].copy()
    counts = np.r_[0.0, 3.0, 0.0, 10.0, 1.5, 0.0, 2.0]
    C_np, counts_np, inertia_np = get_backend(np).minibatch_update(X, w, C, counts)
    be = get_backend(xps)
    C_s, counts_s, inertia_s = be.minibatch_update(
        xps.asarray(X), xps.asarray(w), xps.asarray(C), xps.asarray(counts)
    )
    np.testing.assert_allclose(np.asarray(C_s), C_np, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(counts_s), counts_np, rtol=1e-14)
    assert float(inertia_s) == pytest.approx(float(inertia_np), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_update_is_numpys_bit_for_bit(dtype):
    from conftest import require_compiled

    require_compiled()
    rng = np.random.RandomState(1)
    X = rng.randn(700, 5).astype(dtype)
    w = rng.uniform(0, 2, 700).astype(dtype)
    C = X[:9].copy()
    counts = rng.randint(0, 4, 9).astype(dtype)
    be = get_backend(np)
    compiled = be.minibatch_update(X, w, C, counts)
    with ak.config_context(use_compiled=False):
        plain = be.minibatch_update(X, w, C, counts)
    np.testing.assert_array_equal(compiled[0], plain[0])
    np.testing.assert_array_equal(compiled[1], plain[1])
    assert compiled[2] == pytest.approx(plain[2], rel=1e-5)
    assert not re.search("nan", str(compiled[0]))


# scikit-learn's estimator checks; sample-weight equivalence cannot hold
# exactly for randomised batches (scikit-learn marks it so for its own).
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message=".*does not inherit from", category=UserWarning
    )
    from sklearn.utils.estimator_checks import parametrize_with_checks

    _CHECKS = parametrize_with_checks(
        [ak.MiniBatchKMeans(n_clusters=3, max_iter=5, batch_size=10, n_init=2)],
        expected_failed_checks=lambda est: {
            "check_sample_weight_equivalence_on_dense_data": "random batches",
            "check_sample_weight_equivalence_on_sparse_data": "no sparse input",
        },
    )


@_CHECKS
def test_sklearn_estimator_checks(estimator, check):
    from arraykmeans import ArrayMismatchError

    keywords = getattr(check, "keywords", {})
    x_lib = keywords.get("X_ns_and_device")
    other_lib = keywords.get("other_ns_and_device")
    if x_lib is not None and other_lib is not None and x_lib.xp != other_lib.xp:
        with pytest.raises(ArrayMismatchError, match="same array library as X"):
            check(estimator)
        return
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*does not inherit from", category=UserWarning
        )
        check(estimator)
