"""Good input is handled well: results in the caller's library, device and dtype,
inputs left untouched, array-likes and odd layouts accepted, extreme values
clustered correctly.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from array_api_compat import array_namespace
from conftest import (
    RANGE_MAGNITUDES,
    RANGE_SHAPES,
    RANGE_SIGNS,
    assert_close,
    assert_same_place,
    check_in_range_fit,
    few_distinct_rows,
    in_range_reference,
    make_blobs,
    range_case,
)

import arraykmeans
import arraykmeans as ak
from arraykmeans import ConvergenceWarning, KMeans, k_means, kmeans_plusplus

N, D, K = 240, 4, 5


def _blobs(seed=0, **kw):
    kw.setdefault("n", N)
    kw.setdefault("d", D)
    kw.setdefault("k", K)
    return make_blobs(seed=seed, **kw)


def _has_float64(backend):
    if backend.name != "strict":
        return True
    info = backend.xp.__array_namespace_info__()
    return "float64" in info.dtypes(device=backend.device, kind="real floating")


def _np(backend, x):
    return np.asarray(backend.to_numpy(x))


# ------------------------------------------------------------------ result types


class TestResultTypes:
    """Every result lives in X's library, on X's device, in X's dtype."""

    @pytest.fixture
    def fitted(self, backend):
        X = backend.asarray(_blobs())
        return X, KMeans(n_clusters=K, random_state=0).fit(X)

    def test_fitted_attributes(self, backend, fitted):
        _, km = fitted
        assert_same_place(backend, km.cluster_centers_)
        assert km.cluster_centers_.dtype == backend.dtype
        assert tuple(km.cluster_centers_.shape) == (K, D)
        assert_same_place(backend, km.labels_)
        assert km.labels_.dtype == backend.xp.int32
        assert tuple(km.labels_.shape) == (N,)
        assert type(km.inertia_) is float
        assert type(km.n_iter_) is int
        assert km.n_features_in_ == D

    def test_predict(self, backend, fitted):
        X, km = fitted
        labels = km.predict(X)
        assert_same_place(backend, labels)
        assert labels.dtype == backend.xp.int32
        assert tuple(labels.shape) == (N,)

    def test_transform(self, backend, fitted):
        X, km = fitted
        dist = km.transform(X)
        assert_same_place(backend, dist)
        assert dist.dtype == backend.dtype
        assert tuple(dist.shape) == (N, K)

    def test_score(self, backend, fitted):
        X, km = fitted
        s = km.score(X)
        assert type(s) is float
        assert s <= 0

    def test_fit_predict_and_fit_transform(self, backend):
        X = backend.asarray(_blobs())
        labels = KMeans(n_clusters=K, random_state=0).fit_predict(X)
        assert_same_place(backend, labels)
        assert labels.dtype == backend.xp.int32
        dist = KMeans(n_clusters=K, random_state=0).fit_transform(X)
        assert_same_place(backend, dist)
        assert dist.dtype == backend.dtype

    def test_k_means(self, backend):
        X = backend.asarray(_blobs())
        centers, labels, inertia, n_iter = k_means(
            X, K, random_state=0, return_n_iter=True
        )
        assert_same_place(backend, centers)
        assert centers.dtype == backend.dtype
        assert_same_place(backend, labels)
        assert labels.dtype == backend.xp.int32
        assert type(inertia) is float
        assert type(n_iter) is int

    def test_kmeans_plusplus(self, backend):
        Xn = _blobs()
        X = backend.asarray(Xn)
        centers, indices = kmeans_plusplus(X, K, random_state=0)
        assert_same_place(backend, centers)
        assert centers.dtype == backend.dtype
        assert_same_place(backend, indices)
        assert indices.dtype == backend.xp.int64
        idx = _np(backend, indices)
        np.testing.assert_array_equal(_np(backend, centers), _np(backend, X)[idx])


# ------------------------------------------------------------- no mutation


class TestInputsNotModified:
    """X, init and sample_weight are never written to."""

    @pytest.mark.parametrize("copy_x", [True, False])
    def test_fit_and_methods(self, backend, copy_x):
        Xn = _blobs()
        initn = Xn[[0, 50, 100, 150, 200]] + 0.5
        swn = np.random.RandomState(3).uniform(0.5, 2.0, size=N)
        X, init, sw = backend.asarray(Xn), backend.asarray(initn), backend.asarray(swn)
        X_before = _np(backend, X).copy()
        init_before = _np(backend, init).copy()
        sw_before = _np(backend, sw).copy()

        km = KMeans(n_clusters=K, init=init, copy_x=copy_x).fit(X, sample_weight=sw)
        km.predict(X)
        km.transform(X)
        km.score(X, sample_weight=sw)
        km.fit_predict(X, sample_weight=sw)
        km.fit_transform(X, sample_weight=sw)
        k_means(X, K, init=init, sample_weight=sw, copy_x=copy_x)
        kmeans_plusplus(X, K, sample_weight=sw, random_state=0)

        np.testing.assert_array_equal(_np(backend, X), X_before)
        np.testing.assert_array_equal(_np(backend, init), init_before)
        np.testing.assert_array_equal(_np(backend, sw), sw_before)
        # The fitted centres do not alias the caller's init.
        assert not np.array_equal(_np(backend, km.cluster_centers_), init_before)

    def test_random_init_and_kmeanspp_do_not_touch_X(self, backend):
        X = backend.asarray(_blobs(seed=2))
        before = _np(backend, X).copy()
        KMeans(n_clusters=K, init="random", n_init=2, random_state=0, copy_x=False).fit(
            X
        )
        KMeans(n_clusters=K, random_state=0, copy_x=False).fit(X)
        np.testing.assert_array_equal(_np(backend, X), before)

    def test_centres_are_not_views_of_X(self):
        X = _blobs()
        centers, _ = kmeans_plusplus(X, K, random_state=0)
        centers[...] = 1e6  # writing to the result must not reach X
        assert not np.any(X == 1e6)


# ------------------------------------------------------ layouts and array-likes


class TestNumpyLayouts:
    """Read-only, Fortran-ordered and integer NumPy arrays; Python lists."""

    def test_read_only(self):
        X = _blobs()
        init = X[:K].copy()
        sw = np.random.RandomState(0).uniform(0.5, 2, size=N)
        ref = KMeans(n_clusters=K, init=init).fit(X, sample_weight=sw)
        for a in (X, init, sw):
            a.flags.writeable = False
        km = KMeans(n_clusters=K, init=init).fit(X, sample_weight=sw)
        np.testing.assert_array_equal(km.labels_, ref.labels_)
        np.testing.assert_array_equal(km.cluster_centers_, ref.cluster_centers_)
        np.testing.assert_array_equal(km.predict(X), ref.labels_)
        assert km.transform(X).shape == (N, K)
        assert km.score(X, sample_weight=sw) == pytest.approx(
            ref.score(X, sample_weight=sw)
        )
        kmeans_plusplus(X, K, sample_weight=sw, random_state=0)

    def test_read_only_float32(self):
        X = _blobs().astype(np.float32)
        X.flags.writeable = False
        km = KMeans(n_clusters=K, random_state=0).fit(X)
        assert km.cluster_centers_.dtype == np.float32
        np.testing.assert_array_equal(km.predict(X), km.labels_)

    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    def test_fortran_order(self, dtype):
        X = _blobs().astype(dtype)
        F = np.asfortranarray(X)
        assert F.flags.f_contiguous
        assert not F.flags.c_contiguous
        a = KMeans(n_clusters=K, random_state=0).fit(X)
        b = KMeans(n_clusters=K, random_state=0).fit(F)
        np.testing.assert_array_equal(b.labels_, a.labels_)
        rtol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(b.cluster_centers_, a.cluster_centers_, rtol=rtol)
        assert b.cluster_centers_.dtype == dtype
        assert b.inertia_ == pytest.approx(a.inertia_, rel=rtol)
        assert b.n_iter_ == a.n_iter_
        np.testing.assert_array_equal(b.predict(F), a.predict(X))

    def test_non_contiguous_view(self):
        big = _blobs(d=8)
        X = big[::2, ::2]
        assert not X.flags.c_contiguous
        a = KMeans(n_clusters=K, random_state=0).fit(np.ascontiguousarray(X))
        b = KMeans(n_clusters=K, random_state=0).fit(X)
        np.testing.assert_array_equal(b.labels_, a.labels_)
        np.testing.assert_allclose(b.cluster_centers_, a.cluster_centers_, rtol=1e-12)

    @pytest.mark.parametrize("int_dtype", [np.int64, np.int32, np.uint8])
    def test_integer_numpy(self, int_dtype):
        Xi = np.round(np.abs(_blobs()) * 5).astype(int_dtype)
        a = KMeans(n_clusters=K, random_state=0).fit(Xi)
        b = KMeans(n_clusters=K, random_state=0).fit(Xi.astype(np.float64))
        assert a.cluster_centers_.dtype == np.float64
        np.testing.assert_array_equal(a.labels_, b.labels_)
        np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
        assert a.inertia_ == b.inertia_
        assert a.transform(Xi).dtype == np.float64

    def test_bool_numpy(self):
        Xb = _blobs() > 0
        a = KMeans(n_clusters=3, random_state=0, n_init=1).fit(Xb)
        b = KMeans(n_clusters=3, random_state=0, n_init=1).fit(Xb.astype(np.float64))
        assert a.cluster_centers_.dtype == np.float64
        np.testing.assert_array_equal(a.labels_, b.labels_)

    def test_python_lists(self):
        X = _blobs(n=60)
        init = X[:K]
        a = KMeans(n_clusters=K, init=init.tolist()).fit(
            X.tolist(), sample_weight=[1.0] * 60
        )
        b = KMeans(n_clusters=K, init=init).fit(X)
        assert isinstance(a.cluster_centers_, np.ndarray)
        assert a.cluster_centers_.dtype == np.float64
        assert isinstance(a.labels_, np.ndarray)
        assert a.labels_.dtype == np.int32
        np.testing.assert_array_equal(a.labels_, b.labels_)
        np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12)
        pred = a.predict(X[:7].tolist())
        assert isinstance(pred, np.ndarray)
        assert pred.dtype == np.int32
        np.testing.assert_array_equal(pred, b.labels_[:7])
        assert a.score(X.tolist()) == pytest.approx(b.score(X), rel=1e-12)

    def test_integer_lists(self):
        X = [[0, 0], [0, 1], [10, 10], [10, 11]]
        km = KMeans(n_clusters=2, random_state=0).fit(X)
        assert km.cluster_centers_.dtype == np.float64
        assert sorted(km.cluster_centers_.tolist()) == [[0.0, 0.5], [10.0, 10.5]]

    def test_k_means_and_kmeans_plusplus_accept_lists(self):
        X = _blobs(n=50)
        centers, labels, _ = k_means(X.tolist(), 3, random_state=0)
        assert isinstance(centers, np.ndarray)
        assert centers.shape == (3, D)
        assert isinstance(labels, np.ndarray)
        assert labels.dtype == np.int32
        c2, idx = kmeans_plusplus(X.tolist(), 3, random_state=0)
        np.testing.assert_array_equal(c2, X[idx])


class TestIntegerOnBackend:
    """Integer X becomes float64 (float32 on a device without float64)."""

    def test_integer_becomes_float(self, backend):
        Xi = np.round(np.abs(_blobs()) * 5).astype(np.int64)
        target = np.float64 if _has_float64(backend) else np.float32
        X = backend.asarray(Xi)  # integer input keeps its dtype in asarray
        a = KMeans(n_clusters=K, random_state=0).fit(X)
        assert_same_place(backend, a.cluster_centers_)
        assert a.cluster_centers_.dtype == getattr(backend.xp, np.dtype(target).name)
        b = KMeans(n_clusters=K, random_state=0).fit(
            backend.asarray(Xi.astype(target), dtype=None)
        )
        np.testing.assert_array_equal(_np(backend, a.labels_), _np(backend, b.labels_))
        np.testing.assert_array_equal(
            _np(backend, a.cluster_centers_), _np(backend, b.cluster_centers_)
        )
        np.testing.assert_array_equal(
            _np(backend, a.predict(X)), _np(backend, b.labels_)
        )


# ------------------------------------------------------------------ dtype mixing


class TestDtypeMixing:
    """predict/transform/score with the other floating dtype than the fit."""

    def test_other_dtype_is_cast_to_model_dtype(self, backend):
        if not _has_float64(backend):
            pytest.skip("device has no float64")
        other = np.float32 if backend.dtype_name == "float64" else np.float64
        Xn = _blobs()
        X = backend.asarray(Xn)
        Xo = backend.asarray(Xn, dtype=getattr(backend.xp, np.dtype(other).name))
        km = KMeans(n_clusters=K, random_state=0).fit(X)

        labels = km.predict(Xo)
        assert labels.dtype == backend.xp.int32
        # Identical to predicting the data cast to the model's dtype.
        cast = array_namespace(Xo).astype(Xo, backend.dtype)
        np.testing.assert_array_equal(
            _np(backend, labels), _np(backend, km.predict(cast))
        )
        dist = km.transform(Xo)
        assert_same_place(backend, dist)
        assert dist.dtype == backend.dtype
        np.testing.assert_allclose(
            _np(backend, dist), _np(backend, km.transform(cast)), rtol=backend.rtol
        )
        assert km.score(Xo) == pytest.approx(km.score(cast), rel=backend.rtol)

    def test_float64_sample_weight_with_float32_X(self):
        X = _blobs().astype(np.float32)
        sw = np.random.RandomState(0).uniform(0.5, 2, size=N)  # float64
        km = KMeans(n_clusters=K, random_state=0).fit(X, sample_weight=sw)
        assert km.cluster_centers_.dtype == np.float32
        ref = KMeans(n_clusters=K, random_state=0).fit(
            X, sample_weight=sw.astype(np.float32)
        )
        np.testing.assert_array_equal(km.labels_, ref.labels_)

    def test_float64_init_with_float32_X(self):
        X = _blobs().astype(np.float32)
        init = _blobs()[:K]  # float64
        km = KMeans(n_clusters=K, init=init).fit(X)
        assert km.cluster_centers_.dtype == np.float32
        ref = KMeans(n_clusters=K, init=init.astype(np.float32)).fit(X)
        np.testing.assert_array_equal(km.labels_, ref.labels_)
        np.testing.assert_array_equal(km.cluster_centers_, ref.cluster_centers_)


# ---------------------------------------------------------------- sample weights


class TestSampleWeightForms:
    """Scalars, lists and arrays of weights."""

    def test_scalar(self, backend):
        X = backend.asarray(_blobs())
        a = KMeans(n_clusters=K, random_state=0).fit(X)
        b = KMeans(n_clusters=K, random_state=0).fit(X, sample_weight=2.0)
        np.testing.assert_array_equal(_np(backend, b.labels_), _np(backend, a.labels_))
        assert_close(backend, b.cluster_centers_, _np(backend, a.cluster_centers_))
        assert b.inertia_ == pytest.approx(2 * a.inertia_, rel=backend.rtol)
        assert b.score(X, sample_weight=3) == pytest.approx(
            3 * a.score(X), rel=backend.rtol
        )

    def test_list(self, backend):
        Xn = _blobs()
        swn = np.random.RandomState(5).uniform(0.5, 2.0, size=N)
        X = backend.asarray(Xn)
        a = KMeans(n_clusters=K, random_state=0).fit(
            X, sample_weight=backend.asarray(swn)
        )
        b = KMeans(n_clusters=K, random_state=0).fit(X, sample_weight=swn.tolist())
        np.testing.assert_array_equal(_np(backend, b.labels_), _np(backend, a.labels_))
        np.testing.assert_array_equal(
            _np(backend, b.cluster_centers_), _np(backend, a.cluster_centers_)
        )
        assert b.inertia_ == a.inertia_

    def test_integer_weights(self, backend):
        Xn = _blobs()
        swi = np.random.RandomState(5).randint(1, 4, size=N)
        X = backend.asarray(Xn)
        a = KMeans(n_clusters=K, random_state=0).fit(
            X, sample_weight=backend.asarray(swi)
        )
        b = KMeans(n_clusters=K, random_state=0).fit(
            X, sample_weight=backend.asarray(swi.astype(float))
        )
        np.testing.assert_array_equal(_np(backend, b.labels_), _np(backend, a.labels_))
        assert a.inertia_ == pytest.approx(b.inertia_, rel=backend.rtol)

    def test_zero_weights_ignore_points(self, backend):
        # Points of weight zero do not pull the centres.
        Xn = _blobs()
        far = np.vstack([Xn, np.full((5, D), 1e3)])
        sw = np.r_[np.ones(N), np.zeros(5)]
        init = Xn[[0, 40, 80, 120, 160]]
        a = KMeans(n_clusters=K, init=backend.asarray(init)).fit(backend.asarray(Xn))
        b = KMeans(n_clusters=K, init=backend.asarray(init)).fit(
            backend.asarray(far), sample_weight=backend.asarray(sw)
        )
        assert_close(
            backend,
            b.cluster_centers_,
            _np(backend, a.cluster_centers_),
            rtol=max(backend.rtol, 1e-7) if backend.dtype_name == "float64" else 1e-3,
            atol=1e-9 if backend.dtype_name == "float64" else 1e-3,
        )


# ------------------------------------------------------------- degenerate data


class TestDegenerate:
    """Fewer distinct points than clusters; explicit init with n_init > 1."""

    def test_fewer_distinct_points_than_clusters(self, backend):
        Xn = np.repeat(
            np.array([[0.0, 0.0], [5.0, 5.0], [-3.0, 7.0]]), [4, 3, 3], axis=0
        )
        X = backend.asarray(Xn)
        with pytest.warns(
            ConvergenceWarning, match="Number of distinct clusters"
        ) as rec:
            km = KMeans(n_clusters=5, random_state=0).fit(X)
        assert "(3)" in str(rec[0].message)
        centers = _np(backend, km.cluster_centers_)
        assert np.all(np.isfinite(centers))
        assert math.isfinite(km.inertia_)
        assert km.inertia_ == pytest.approx(0.0, abs=1e-6)
        assert len(np.unique(_np(backend, km.labels_))) == 3
        # Every point sits on its centre.
        np.testing.assert_allclose(centers[_np(backend, km.labels_)], Xn, atol=1e-6)

    def test_convergence_warning_is_userwarning(self):
        assert issubclass(ConvergenceWarning, UserWarning)

    def test_explicit_init_with_n_init(self, backend):
        Xn = _blobs()
        init = backend.asarray(Xn[[1, 2, 3, 4, 5]])
        X = backend.asarray(Xn)
        with pytest.warns(
            RuntimeWarning, match="Explicit initial center position passed"
        ) as rec:
            a = KMeans(n_clusters=K, init=init, n_init=3).fit(X)
        assert len([w for w in rec if issubclass(w.category, RuntimeWarning)]) == 1
        assert "n_init=3" in str(rec[0].message)
        b = KMeans(n_clusters=K, init=init, n_init=1).fit(X)
        np.testing.assert_array_equal(_np(backend, a.labels_), _np(backend, b.labels_))
        np.testing.assert_array_equal(
            _np(backend, a.cluster_centers_), _np(backend, b.cluster_centers_)
        )
        assert a.inertia_ == b.inertia_
        assert a.n_iter_ == b.n_iter_

    def test_explicit_init_with_auto_n_init_does_not_warn(self):
        X = _blobs()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            KMeans(n_clusters=K, init=X[:K]).fit(X)
            KMeans(n_clusters=K, init=X[:K], n_init=1).fit(X)

    def test_single_cluster(self, backend):
        Xn = _blobs()
        km = KMeans(n_clusters=1, random_state=0).fit(backend.asarray(Xn))
        assert_close(
            backend,
            km.cluster_centers_,
            Xn.mean(axis=0, keepdims=True),
            atol=1e-12 if backend.dtype_name == "float64" else 1e-4,
        )
        assert np.all(_np(backend, km.labels_) == 0)

    def test_one_sample(self, backend):
        Xn = np.array([[1.0, 2.0, 3.0]])
        km = KMeans(n_clusters=1, random_state=0).fit(backend.asarray(Xn))
        assert_close(backend, km.cluster_centers_, Xn)
        assert km.inertia_ == 0.0

    def test_constant_data(self, backend):
        Xn = np.full((20, 3), 7.0)
        with pytest.warns(ConvergenceWarning, match="Number of distinct clusters"):
            km = KMeans(n_clusters=2, random_state=0).fit(backend.asarray(Xn))
        assert np.all(np.isfinite(_np(backend, km.cluster_centers_)))
        assert km.inertia_ == 0.0


# ----------------------------------------------------------------- consistency


class TestConsistency:
    """Methods agree with each other and with plain NumPy arithmetic."""

    def test_elkan_equals_lloyd(self, backend):
        X = backend.asarray(_blobs(seed=4))
        a = KMeans(n_clusters=K, random_state=1, algorithm="lloyd").fit(X)
        b = KMeans(n_clusters=K, random_state=1, algorithm="elkan").fit(X)
        np.testing.assert_array_equal(_np(backend, a.labels_), _np(backend, b.labels_))
        np.testing.assert_array_equal(
            _np(backend, a.cluster_centers_), _np(backend, b.cluster_centers_)
        )
        assert a.inertia_ == b.inertia_
        assert a.n_iter_ == b.n_iter_

    def test_labels_equal_predict_without_strict_convergence(self, backend):
        Xn = np.random.RandomState(7).uniform(
            -1, 1, size=(N, 3)
        )  # no cluster structure
        X = backend.asarray(Xn)
        km = KMeans(
            n_clusters=8, init="random", n_init=1, max_iter=2, random_state=0
        ).fit(X)
        assert km.n_iter_ == 2
        np.testing.assert_array_equal(
            _np(backend, km.labels_), _np(backend, km.predict(X))
        )

    def test_labels_equal_predict_with_tol_stop(self, backend):
        Xn = np.random.RandomState(8).uniform(-1, 1, size=(N, 3))
        X = backend.asarray(Xn)
        km = KMeans(n_clusters=8, n_init=1, tol=1e-1, random_state=0).fit(X)
        np.testing.assert_array_equal(
            _np(backend, km.labels_), _np(backend, km.predict(X))
        )

    @pytest.mark.parametrize(
        ("where", "cases"),
        [("numba", 200), ("no-numba", 200), ("strict", 40)],
    )
    def test_labels_and_inertia_are_those_of_the_centres(
        self, monkeypatch, where, cases
    ):
        """On the training data labels_ == predict(X) and inertia_ == -score(X),
        also where a run converges strictly in the iteration that relocated an
        empty cluster (few distinct rows, k close to n). scikit-learn reports
        the labels and inertia of the centres before the relocation there."""
        ak.set_config(use_compiled=where == "numba")
        xp = np
        if where == "strict":
            import array_api_strict as xp
        for seed in range(cases):
            Xn, k, init = few_distinct_rows(seed)
            X = xp.asarray(Xn)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                km = KMeans(k, init=init, n_init=1, random_state=seed).fit(X)
            case = f"seed={seed}, X={Xn.tolist()}, k={k}, init={init}"
            np.testing.assert_array_equal(
                np.asarray(km.labels_), np.asarray(km.predict(X)), err_msg=case
            )
            assert -km.score(X) == pytest.approx(km.inertia_, rel=1e-9, abs=1e-9), case

    def test_fit_predict(self, backend):
        X = backend.asarray(_blobs())
        km = KMeans(n_clusters=K, random_state=0).fit(X)
        labels = KMeans(n_clusters=K, random_state=0).fit_predict(X)
        np.testing.assert_array_equal(_np(backend, labels), _np(backend, km.labels_))

    def test_fit_transform_equals_transform(self, backend):
        X = backend.asarray(_blobs())
        km = KMeans(n_clusters=K, random_state=0)
        d1 = km.fit_transform(X)
        d2 = km.transform(X)
        assert tuple(d1.shape) == (N, K)
        assert_close(backend, d1, _np(backend, d2))
        # Each row's smallest distance is to its own centre.
        np.testing.assert_array_equal(
            np.argmin(_np(backend, d1), axis=1), _np(backend, km.labels_)
        )

    def test_score_equals_minus_inertia(self, backend):
        X = backend.asarray(_blobs(spread=0.5))
        km = KMeans(n_clusters=K, random_state=0).fit(X)
        assert km.n_iter_ < km.max_iter
        assert km.score(X) == pytest.approx(-km.inertia_, rel=max(backend.rtol, 1e-12))

    def test_score_with_weights_equals_minus_inertia(self, backend):
        Xn = _blobs(spread=0.5)
        sw = np.random.RandomState(1).uniform(0.5, 2.0, size=N)
        X, w = backend.asarray(Xn), backend.asarray(sw)
        km = KMeans(n_clusters=K, random_state=0).fit(X, sample_weight=w)
        assert km.score(X, sample_weight=w) == pytest.approx(
            -km.inertia_, rel=max(backend.rtol, 1e-12)
        )

    def test_inertia_matches_numpy(self, backend):
        Xn = _blobs(spread=0.5)
        km = KMeans(n_clusters=K, random_state=0).fit(backend.asarray(Xn))
        C = _np(backend, km.cluster_centers_).astype(np.float64)
        labels = _np(backend, km.labels_)
        expected = float(
            (
                (backend.to_numpy(backend.asarray(Xn)).astype(np.float64) - C[labels])
                ** 2
            ).sum()
        )
        assert km.inertia_ == pytest.approx(expected, rel=max(backend.rtol, 1e-12))

    def test_transform_matches_numpy_distances(self, backend):
        Xn = _blobs(seed=5)
        X = backend.asarray(Xn)
        km = KMeans(n_clusters=K, random_state=0).fit(X)
        X64 = _np(backend, X).astype(np.float64)
        C64 = _np(backend, km.cluster_centers_).astype(np.float64)
        expected = np.sqrt(((X64[:, None, :] - C64[None, :, :]) ** 2).sum(axis=2))
        # float32 expanded-form distances lose ~sqrt(eps)·|x| near zero.
        atol = 0.0 if backend.dtype_name == "float64" else 3e-3
        assert_close(backend, km.transform(X), expected, atol=atol)

    def test_predict_new_points(self, backend):
        Xn = _blobs(spread=0.3)
        km = KMeans(n_clusters=K, random_state=0).fit(backend.asarray(Xn))
        C = _np(backend, km.cluster_centers_).astype(np.float64)
        new = C + 0.01 * np.random.RandomState(2).randn(K, D)
        np.testing.assert_array_equal(
            _np(backend, km.predict(backend.asarray(new))), np.arange(K)
        )


# --------------------------------------------------------------- numerical range


class TestNumericalRange:
    """Data far from the origin, huge or tiny in magnitude."""

    def test_far_from_origin(self, backend):
        Xn = _blobs(offset=1e4, spread=1.0)
        ref = KMeans(n_clusters=K, random_state=0).fit(Xn)  # NumPy float64
        km = KMeans(n_clusters=K, random_state=0).fit(backend.asarray(Xn))
        np.testing.assert_array_equal(_np(backend, km.labels_), ref.labels_)
        centers = _np(backend, km.cluster_centers_).astype(np.float64)
        np.testing.assert_allclose(centers, ref.cluster_centers_, rtol=1e-4)
        # Stronger: about ten float32 ulps at 1e4 (the ulp is ~1e-3).
        assert np.abs(centers - ref.cluster_centers_).max() <= 1e-2
        assert km.inertia_ == pytest.approx(ref.inertia_, rel=1e-3)
        np.testing.assert_array_equal(
            _np(backend, km.predict(backend.asarray(Xn))), ref.labels_
        )

    def _scaled_fits(self, backend, factor):
        Xn = _blobs(spread=0.5)
        init = Xn[[0, 60, 120, 180, 239]]
        ref = KMeans(n_clusters=K, init=init).fit(Xn)
        X = backend.asarray(Xn * factor)
        km = KMeans(n_clusters=K, init=backend.asarray(init * factor)).fit(X)
        return Xn, ref, X, km

    def test_huge_values(self, backend):
        # float32 squares overflow past ~1.8e19; float64 ones past ~1e154.
        factor = 1e30 if backend.dtype_name == "float64" else 1e18
        _, ref, X, km = self._scaled_fits(backend, factor)
        centers = _np(backend, km.cluster_centers_).astype(np.float64)
        assert np.all(np.isfinite(centers))
        assert math.isfinite(km.inertia_)
        assert km.inertia_ > 0
        np.testing.assert_array_equal(_np(backend, km.labels_), ref.labels_)
        np.testing.assert_array_equal(_np(backend, km.predict(X)), ref.labels_)
        rtol = 1e-9 if backend.dtype_name == "float64" else 1e-4
        np.testing.assert_allclose(
            centers / factor, ref.cluster_centers_, rtol=rtol, atol=rtol
        )
        assert km.inertia_ / factor**2 == pytest.approx(ref.inertia_, rel=rtol * 10)
        dist = _np(backend, km.transform(X)).astype(np.float64)
        assert np.all(np.isfinite(dist))
        np.testing.assert_array_equal(np.argmin(dist, axis=1), ref.labels_)

    def test_float64_squares_overflow(self, backend):
        if backend.dtype_name != "float64":
            pytest.skip("float64 only")
        _, ref, X, km = self._scaled_fits(backend, 1e200)
        assert np.all(np.isfinite(_np(backend, km.cluster_centers_)))
        np.testing.assert_array_equal(_np(backend, km.labels_), ref.labels_)
        np.testing.assert_array_equal(_np(backend, km.predict(X)), ref.labels_)
        # inertia (~1e400) cannot be a finite float64: it must not be NaN at least.
        assert not math.isnan(km.inertia_)

    def test_tiny_values(self, backend):
        # Squares underflow: float32 below ~1e-19, float64 below ~1e-154.
        factor = 1e-160 if backend.dtype_name == "float64" else 1e-22
        _, ref, X, km = self._scaled_fits(backend, factor)
        centers = _np(backend, km.cluster_centers_).astype(np.float64)
        assert np.all(np.isfinite(centers))
        assert math.isfinite(km.inertia_)
        assert km.inertia_ >= 0
        np.testing.assert_array_equal(_np(backend, km.labels_), ref.labels_)
        np.testing.assert_array_equal(_np(backend, km.predict(X)), ref.labels_)
        rtol = 1e-9 if backend.dtype_name == "float64" else 1e-4
        np.testing.assert_allclose(
            centers / factor, ref.cluster_centers_, rtol=rtol, atol=rtol
        )

    @pytest.mark.parametrize("dtype", ["float64", "float32"])
    @pytest.mark.parametrize("where", ["numba", "no-numba", "strict"])
    def test_magnitudes_across_the_float_range(self, monkeypatch, where, dtype):
        """From subnormals to the top of the range, any sign and shape: finite
        centres, scikit-learn's labels, inertia and distances on the same data
        brought into range by a power of two (inf exactly where those exceed
        the float range), and score == -inertia_."""
        ak.set_config(use_compiled=where == "numba")
        xp = np
        if where == "strict":
            import array_api_strict as xp
        for mag, sign, shape in itertools.product(
            RANGE_MAGNITUDES[dtype], RANGE_SIGNS, RANGE_SHAPES
        ):
            Xn = range_case(mag, sign, shape, dtype)
            X = xp.asarray(Xn)
            km = KMeans(3, init=X[:3, :], n_init=1).fit(X)
            case = f"magnitude={mag}, sign={sign}, shape={shape}"
            try:
                check_in_range_fit(
                    Xn,
                    in_range_reference(Xn),
                    np.asarray(km.labels_),
                    np.asarray(km.predict(X)),
                    np.asarray(km.cluster_centers_),
                    km.inertia_,
                    km.score(X),
                    np.asarray(km.transform(X)),
                )
            except AssertionError as exc:
                raise AssertionError(f"{case}: {exc}") from exc

    @pytest.mark.parametrize("where", ["numba", "no-numba", "strict"])
    def test_score_transform_and_inertia_agree_far_from_origin(
        self, monkeypatch, where
    ):
        """float32 data 1e4 to 1e8 from the origin, clusters a few ulps wide:
        score, transform and inertia_ all measure in the fitted frame, so
        -score(X) and the squared distances to the closest centres add up to
        inertia_ (scoring against the rounded cluster_centers_ was 19 % off
        at 1e7)."""
        ak.set_config(use_compiled=where == "numba")
        xp = np
        if where == "strict":
            import array_api_strict as xp
        rng = np.random.RandomState(3)
        w = rng.uniform(0.5, 2.0, size=N)
        for offset in (1e4, 1e5, 1e6, 1e7, 1e8):
            # One unit of spread is about ten float32 ulps at the offset.
            Xn = (offset + 1e-6 * offset * _blobs(seed=6)).astype(np.float32)
            X, sw = xp.asarray(Xn), xp.asarray(w.astype(np.float32))
            km = KMeans(n_clusters=K, random_state=0).fit(X, sample_weight=sw)
            inertia = km.inertia_
            assert inertia > 0
            score = km.score(X, sample_weight=sw)
            assert -score == pytest.approx(inertia, rel=1e-4), offset
            dist = np.asarray(km.transform(X)).astype(np.float64).min(axis=1)
            assert float(w @ dist**2) == pytest.approx(inertia, rel=1e-4), offset
            np.testing.assert_array_equal(
                np.asarray(km.predict(X)), np.asarray(km.labels_)
            )

    def test_smallest_subnormals(self):
        """Data of a few units of the smallest subnormal (5e-324) fit without
        error, with finite results."""
        X = np.array([[0.0], [5e-324], [5e-324], [1e-323], [0.0], [2e-323]])
        km = KMeans(2, random_state=0).fit(X)
        assert np.all(np.isfinite(km.cluster_centers_))
        assert km.inertia_ == -km.score(X) == 0.0
        np.testing.assert_array_equal(km.labels_, km.predict(X))
        assert np.all(np.isfinite(km.transform(X)))


# ---------------------------------------------------------------- configuration


class TestWorkingMemory:
    """A tiny working-memory budget (many chunks) changes nothing but speed."""

    def test_tiny_budget_same_result(self, backend):
        Xn = _blobs(n=300)
        swn = np.random.RandomState(9).uniform(0.5, 2.0, size=300)
        X, sw = backend.asarray(Xn), backend.asarray(swn)
        ref = KMeans(n_clusters=K, random_state=0).fit(X, sample_weight=sw)
        with arraykmeans.config_context(working_memory=0.001):
            assert arraykmeans.get_config()["working_memory"] == 0.001
            km = KMeans(n_clusters=K, random_state=0).fit(X, sample_weight=sw)
            pred = km.predict(X)
            dist = km.transform(X)
            centers_pp, _ = kmeans_plusplus(X, K, random_state=0)
        assert arraykmeans.get_config()["working_memory"] == 256
        np.testing.assert_array_equal(
            _np(backend, km.labels_), _np(backend, ref.labels_)
        )
        np.testing.assert_array_equal(_np(backend, pred), _np(backend, ref.labels_))
        assert_close(backend, km.cluster_centers_, _np(backend, ref.cluster_centers_))
        assert km.inertia_ == pytest.approx(ref.inertia_, rel=backend.rtol)
        assert km.n_iter_ == ref.n_iter_
        assert_close(
            backend,
            dist,
            _np(backend, ref.transform(X)),
            atol=0.0 if backend.dtype_name == "float64" else 1e-4,
        )
        ref_pp, _ = kmeans_plusplus(X, K, random_state=0)
        assert_close(backend, centers_pp, _np(backend, ref_pp))


# ---------------------------------------------------------------------- verbose


class TestVerbose:
    """``verbose`` prints progress to stdout."""

    def test_messages(self, backend, capsys):
        X = backend.asarray(_blobs(spread=0.5))
        km = KMeans(n_clusters=K, random_state=0, verbose=1).fit(X)
        out = capsys.readouterr().out
        assert "Initialization complete" in out
        assert "Iteration 0, inertia" in out
        assert "Converged at iteration" in out
        assert out.count("Iteration ") == km.n_iter_

    def test_silent_by_default(self, capsys):
        KMeans(n_clusters=K, random_state=0).fit(_blobs())
        assert capsys.readouterr().out == ""

    def test_one_block_per_init(self, capsys):
        KMeans(n_clusters=K, random_state=0, n_init=3, verbose=True).fit(_blobs())
        out = capsys.readouterr().out
        assert out.count("Initialization complete") == 3
        assert out.count("Converged at iteration") == 3


def test_byte_swapped_input_gives_native_results():
    """Big-endian arrays (as some file formats produce) fit like native ones."""
    import arraykmeans as ak

    X = np.random.RandomState(0).randn(2000, 3)
    swapped = ak.KMeans(4, random_state=0).fit(X.astype(">f8"))
    native = ak.KMeans(4, random_state=0).fit(X)
    assert swapped.cluster_centers_.dtype == np.float64
    assert swapped.cluster_centers_.dtype.isnative
    np.testing.assert_array_equal(swapped.labels_, native.labels_)
    np.testing.assert_array_equal(swapped.cluster_centers_, native.cluster_centers_)
    np.testing.assert_array_equal(swapped.predict(X.astype(">f4")), native.predict(X))
