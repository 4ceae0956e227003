"""Bad input is refused with a clear error that names the parameter and the problem.

Messages follow scikit-learn's wording where scikit-learn has one; the checks
run on every backend of the ``backend`` fixture where the input can be built
there, and on NumPy or array-api-strict where the problem is library specific.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from array_api_compat import array_namespace, device
from conftest import make_blobs

import arraykmeans
from arraykmeans import KMeans, NotFittedError, k_means, kmeans_plusplus
from arraykmeans._exceptions import InvalidParameterError

N, D, K = 30, 4, 3


def _X(backend, n=N, d=D, seed=0):
    return backend.asarray(np.random.RandomState(seed).randn(n, d))


def _fitted(backend, n=N, d=D):
    return KMeans(n_clusters=K, n_init=1, random_state=0).fit(_X(backend, n, d))


def _complex_dtype(backend):
    return np.complex128 if backend.dtype_name == "float64" else np.complex64


# --------------------------------------------------------------------------- X


class TestDataArray:
    """``X`` passed to ``fit``: values, shape and dtype."""

    def test_nan(self, backend):
        X = np.random.RandomState(0).randn(N, D)
        X[7, 2] = np.nan
        with pytest.raises(ValueError, match="Input X contains NaN"):
            KMeans(n_clusters=K).fit(backend.asarray(X))

    @pytest.mark.parametrize("value", [np.inf, -np.inf])
    def test_inf(self, backend, value):
        X = np.random.RandomState(0).randn(N, D)
        X[3, 0] = value
        with pytest.raises(ValueError, match="Input X contains infinity"):
            KMeans(n_clusters=K).fit(backend.asarray(X))

    def test_nan_made_in_namespace(self, backend):
        X = _X(backend)
        xp = array_namespace(X)
        nan = xp.full(X.shape, float("nan"), dtype=X.dtype, device=device(X))
        X = xp.where(X > 1.5, nan, X)
        with pytest.raises(ValueError, match="Input X contains NaN"):
            KMeans(n_clusters=K).fit(X)

    def test_no_samples(self, backend):
        X = backend.asarray(np.empty((0, D)))
        with pytest.raises(
            ValueError, match=r"Found array with 0 sample\(s\) \(shape=\(0, 4\)\)"
        ):
            KMeans(n_clusters=K).fit(X)

    def test_no_features(self, backend):
        X = backend.asarray(np.empty((N, 0)))
        with pytest.raises(
            ValueError, match=r"Found array with 0 feature\(s\) \(shape=\(30, 0\)\)"
        ):
            KMeans(n_clusters=K).fit(X)

    def test_1d(self, backend):
        X = backend.asarray(np.random.RandomState(0).randn(N))
        with pytest.raises(ValueError, match="Expected 2D array, got 1D array") as info:
            KMeans(n_clusters=K).fit(X)
        assert "Reshape your data" in str(info.value)

    def test_0d(self, backend):
        with pytest.raises(ValueError, match="Reshape your data"):
            KMeans(n_clusters=1).fit(backend.asarray(np.asarray(1.0)))

    def test_3d(self, backend):
        X = backend.asarray(np.random.RandomState(0).randn(N, D, 2))
        with pytest.raises(
            ValueError, match=re.escape("Found array with dim 3. KMeans expected <= 2")
        ):
            KMeans(n_clusters=K).fit(X)

    def test_complex(self, backend):
        X = np.random.RandomState(0).randn(N, D).astype(_complex_dtype(backend))
        with pytest.raises(ValueError, match="Complex data not supported"):
            KMeans(n_clusters=K).fit(backend.asarray(X))

    def test_numpy_strings(self):
        X = np.array([["a", "b"], ["c", "d"], ["e", "f"]])
        with pytest.raises(ValueError, match="X must contain numbers"):
            KMeans(n_clusters=2).fit(X)

    def test_object_with_strings(self):
        X = np.array([[1.0, "x"], [2.0, 3.0], [4.0, 5.0]], dtype=object)
        with pytest.raises(ValueError, match="X must contain numbers"):
            KMeans(n_clusters=2).fit(X)

    def test_list_of_strings(self):
        with pytest.raises(ValueError, match="X must contain numbers"):
            KMeans(n_clusters=2).fit([["a", "b"], ["c", "d"]])

    def test_predict_checks_values_too(self, backend):
        km = _fitted(backend)
        X = np.random.RandomState(1).randn(5, D)
        X[0, 0] = np.nan
        with pytest.raises(ValueError, match="Input X contains NaN"):
            km.predict(backend.asarray(X))


# ------------------------------------------------------------------- n_clusters


class TestNClusters:
    """``n_clusters`` against the data and as a parameter."""

    def test_more_clusters_than_samples(self, backend):
        with pytest.raises(
            ValueError, match=re.escape("n_samples=30 should be >= n_clusters=31.")
        ):
            KMeans(n_clusters=31).fit(_X(backend))

    def test_k_means_more_clusters_than_samples(self, backend):
        with pytest.raises(
            ValueError, match=re.escape("n_samples=30 should be >= n_clusters=40.")
        ):
            k_means(_X(backend), 40)

    def test_kmeans_plusplus_more_clusters_than_samples(self, backend):
        with pytest.raises(
            ValueError, match=re.escape("n_samples=30 should be >= n_clusters=31.")
        ):
            kmeans_plusplus(_X(backend), 31)

    @pytest.mark.parametrize("value", [0, -2])
    def test_below_one(self, backend, value):
        with pytest.raises(
            InvalidParameterError,
            match=re.escape(
                f"The 'n_clusters' parameter of KMeans must be an int in the range "
                f"[1, inf). Got {value} instead."
            ),
        ):
            KMeans(n_clusters=value).fit(_X(backend))

    @pytest.mark.parametrize("value", [2.5, "3", True, 3.0, None])
    def test_not_an_int(self, value):
        X = make_blobs(n=20, d=2, k=2)
        with pytest.raises(
            InvalidParameterError,
            match=re.escape(
                f"The 'n_clusters' parameter of KMeans must be an int in the range "
                f"[1, inf). Got {value!r} instead."
            ),
        ):
            KMeans(n_clusters=value).fit(X)

    def test_numpy_integer_accepted(self):
        km = KMeans(n_clusters=np.int64(2), n_init=1, random_state=0).fit(
            make_blobs(n=20, d=2, k=2)
        )
        assert km.cluster_centers_.shape == (2, 2)


# ------------------------------------------------------------------- parameters


def _msg(name, expected, got, owner="KMeans"):
    return re.escape(
        f"The {name!r} parameter of {owner} must be {expected}. Got {got!r} instead."
    )


_INT1 = "an int in the range [1, inf)"
_N_INIT = "a str among {'auto'} or an int in the range [1, inf)"
_TOL = "a float in the range [0.0, inf)"
# scikit-learn's wording, with the one method it lacks and its options.
_INIT = (
    "a str among {'k-means++', 'random', 'k-means||'}, an instance of "
    "'KMeansParallel', a callable or an array-like"
)
_ALGO = "a str among {'elkan', 'lloyd'}"
_RS = (
    "an int in the range [0, 4294967295], an instance of "
    "'numpy.random.mtrand.RandomState' or None"
)
_VERBOSE = (
    "an int in the range [0, inf), an instance of 'bool' or an instance of 'numpy.bool'"
)
_COPY_X = "an instance of 'bool' or an instance of 'numpy.bool'"

# (parameter, bad value, expected constraint wording as scikit-learn 1.9 writes it)
_BAD_PARAMS = [
    ("max_iter", 0, _INT1),
    ("max_iter", -5, _INT1),
    ("max_iter", 1.5, _INT1),
    ("tol", -1e-3, _TOL),
    ("tol", float("nan"), _TOL),
    ("tol", "small", _TOL),
    ("n_init", 0, _N_INIT),
    ("n_init", -1, _N_INIT),
    ("n_init", "bad", _N_INIT),
    ("n_init", "AUTO", _N_INIT),
    ("n_init", 2.0, _N_INIT),
    ("init", "kmeans++", _INIT),
    ("init", "Random", _INIT),
    ("init", 5, _INIT),
    ("algorithm", "full", _ALGO),
    ("algorithm", "auto", _ALGO),
    ("algorithm", None, _ALGO),
    ("random_state", "seed", _RS),
    ("random_state", 1.5, _RS),
    ("random_state", -1, _RS),
    ("random_state", 2**32, _RS),
    ("random_state", np.random.default_rng(0), _RS),
]


class TestConstructorParameters:
    """Invalid constructor parameters raise ``InvalidParameterError`` at ``fit``."""

    def test_error_is_value_and_type_error(self):
        assert issubclass(InvalidParameterError, ValueError)
        assert issubclass(InvalidParameterError, TypeError)

    @pytest.mark.parametrize(
        ("name", "value", "expected"),
        _BAD_PARAMS,
        # A Generator's repr holds its address: ids must be the same in
        # every test process.
        ids=[
            f"{p[0]}={type(p[1]).__name__ if isinstance(p[1], np.random.Generator) else repr(p[1])}"
            for p in _BAD_PARAMS
        ],
    )
    def test_bad_value(self, name, value, expected):
        X = make_blobs(n=20, d=2, k=2)
        with pytest.raises(InvalidParameterError, match=_msg(name, expected, value)):
            KMeans(n_clusters=2, **{name: value}).fit(X)

    @pytest.mark.parametrize("name", ["max_iter", "tol", "n_init", "algorithm"])
    def test_checked_on_every_backend(self, backend, name):
        bad = {"max_iter": 0, "tol": -1.0, "n_init": 0, "algorithm": "full"}[name]
        with pytest.raises(
            InvalidParameterError, match=f"The '{name}' parameter of KMeans"
        ):
            KMeans(n_clusters=2, **{name: bad}).fit(_X(backend))

    @pytest.mark.parametrize("value", ["yes", -1, 1.5])
    def test_bad_verbose(self, value):
        X = make_blobs(n=20, d=2, k=2)
        with pytest.raises(
            InvalidParameterError, match=_msg("verbose", _VERBOSE, value)
        ):
            KMeans(n_clusters=2, verbose=value).fit(X)

    @pytest.mark.parametrize("value", ["yes", 1, None])
    def test_bad_copy_x(self, value):
        X = make_blobs(n=20, d=2, k=2)
        with pytest.raises(InvalidParameterError, match=_msg("copy_x", _COPY_X, value)):
            KMeans(n_clusters=2, copy_x=value).fit(X)

    def test_checked_at_fit_not_construction(self):
        km = KMeans(n_clusters=0, max_iter=-1)  # scikit-learn validates in fit
        assert km.n_clusters == 0
        with pytest.raises(InvalidParameterError, match="n_clusters"):
            km.fit(make_blobs(n=20, d=2, k=2))

    def test_set_params_then_fit(self):
        km = KMeans(n_clusters=2).set_params(tol=-1.0)
        with pytest.raises(InvalidParameterError, match=_msg("tol", _TOL, -1.0)):
            km.fit(make_blobs(n=20, d=2, k=2))

    def test_sklearn_invalid_parameter_error_when_sklearn_loaded(self):
        from sklearn.utils._param_validation import InvalidParameterError as SkError

        with pytest.raises(SkError, match="The 'max_iter' parameter of KMeans"):
            KMeans(n_clusters=2, max_iter=0).fit(make_blobs(n=20, d=2, k=2))


# ------------------------------------------------------------------------- init


class TestInitArray:
    """An explicit ``init`` array: shape and values."""

    def test_too_many_rows(self, backend):
        X = _X(backend)
        init = backend.asarray(np.random.RandomState(1).randn(K + 1, D))
        with pytest.raises(
            ValueError,
            match=re.escape(
                "The shape of the initial centers (4, 4) does not match the number of clusters 3."
            ),
        ):
            KMeans(n_clusters=K, init=init).fit(X)

    def test_too_few_rows(self, backend):
        init = backend.asarray(np.random.RandomState(1).randn(K - 1, D))
        with pytest.raises(ValueError, match="does not match the number of clusters 3"):
            KMeans(n_clusters=K, init=init).fit(_X(backend))

    def test_wrong_columns(self, backend):
        init = backend.asarray(np.random.RandomState(1).randn(K, D - 1))
        with pytest.raises(
            ValueError,
            match=re.escape(
                "The shape of the initial centers (3, 3) does not match the number of "
                "features of the data 4."
            ),
        ):
            KMeans(n_clusters=K, init=init).fit(_X(backend))

    def test_1d_init(self, backend):
        init = backend.asarray(np.random.RandomState(1).randn(K))
        with pytest.raises(ValueError, match="init"):
            KMeans(n_clusters=K, init=init).fit(_X(backend))

    def test_nan(self, backend):
        init = np.random.RandomState(1).randn(K, D)
        init[1, 1] = np.nan
        with pytest.raises(ValueError, match="Input init contains NaN"):
            KMeans(n_clusters=K, init=backend.asarray(init)).fit(_X(backend))

    def test_inf(self, backend):
        init = np.random.RandomState(1).randn(K, D)
        init[0, 3] = np.inf
        with pytest.raises(ValueError, match="Input init contains infinity"):
            KMeans(n_clusters=K, init=backend.asarray(init)).fit(_X(backend))

    def test_k_means_wrong_init_shape(self, backend):
        init = backend.asarray(np.random.RandomState(1).randn(K, D + 1))
        with pytest.raises(ValueError, match="does not match the number of features"):
            k_means(_X(backend), K, init=init)

    def test_callable_returning_wrong_shape(self):
        def bad_init(X, k, random_state):
            return np.zeros((k + 1, X.shape[1]))

        with pytest.raises(ValueError, match="does not match the number of clusters"):
            KMeans(n_clusters=2, init=bad_init, n_init=1).fit(
                make_blobs(n=20, d=2, k=2)
            )


# ----------------------------------------------------------------- sample_weight


class TestSampleWeight:
    """``sample_weight``: length, dimensions and values."""

    def test_wrong_length(self, backend):
        sw = backend.asarray(np.ones(N - 1))
        with pytest.raises(
            ValueError, match=re.escape("sample_weight.shape == (29,), expected (30,)!")
        ):
            KMeans(n_clusters=K).fit(_X(backend), sample_weight=sw)

    def test_2d(self, backend):
        sw = backend.asarray(np.ones((N, 1)))
        with pytest.raises(
            ValueError, match="Sample weights must be 1D array or scalar"
        ):
            KMeans(n_clusters=K).fit(_X(backend), sample_weight=sw)

    def test_negative(self, backend):
        sw = np.ones(N)
        sw[4] = -1.0
        with pytest.raises(
            ValueError, match="Negative values in data passed to sample_weight"
        ):
            KMeans(n_clusters=K).fit(_X(backend), sample_weight=backend.asarray(sw))

    def test_nan(self, backend):
        sw = np.ones(N)
        sw[2] = np.nan
        with pytest.raises(ValueError, match="Input sample_weight contains NaN"):
            KMeans(n_clusters=K).fit(_X(backend), sample_weight=backend.asarray(sw))

    def test_inf(self, backend):
        sw = np.ones(N)
        sw[2] = np.inf
        with pytest.raises(ValueError, match="Input sample_weight contains infinity"):
            KMeans(n_clusters=K).fit(_X(backend), sample_weight=backend.asarray(sw))

    def test_all_zero(self, backend):
        sw = backend.asarray(np.zeros(N))
        with pytest.raises(ValueError, match=r"sample_weight.*zero"):
            KMeans(n_clusters=K).fit(_X(backend), sample_weight=sw)

    @pytest.mark.parametrize("value", [0.0, -1.0, float("nan")])
    def test_bad_scalar(self, value):
        with pytest.raises(ValueError, match="sample_weight"):
            KMeans(n_clusters=2).fit(make_blobs(n=20, d=2, k=2), sample_weight=value)

    def test_strings(self):
        with pytest.raises(TypeError, match="sample_weight"):
            KMeans(n_clusters=2).fit(
                make_blobs(n=4, d=2, k=2), sample_weight=["a", "b", "c", "d"]
            )

    def test_score_checks_sample_weight(self, backend):
        km = _fitted(backend)
        sw = backend.asarray(np.ones(N + 2))
        with pytest.raises(
            ValueError, match=r"sample_weight.shape == \(32,\), expected \(30,\)"
        ):
            km.score(_X(backend), sample_weight=sw)

    def test_kmeans_plusplus_checks_sample_weight(self, backend):
        sw = np.ones(N)
        sw[0] = -3.0
        with pytest.raises(
            ValueError, match="Negative values in data passed to sample_weight"
        ):
            kmeans_plusplus(_X(backend), K, sample_weight=backend.asarray(sw))


# ------------------------------------------------------------- fitted methods


_METHODS = ["predict", "transform", "score"]


class TestFittedMethods:
    """``predict``, ``transform`` and ``score``: fitted state and feature count."""

    @pytest.mark.parametrize("method", _METHODS)
    def test_wrong_number_of_features(self, backend, method):
        km = _fitted(backend)
        X3 = backend.asarray(np.random.RandomState(1).randn(5, 3))
        with pytest.raises(
            ValueError,
            match=re.escape(
                "X has 3 features, but KMeans is expecting 4 features as input."
            ),
        ):
            getattr(km, method)(X3)

    @pytest.mark.parametrize("method", _METHODS)
    def test_not_fitted(self, backend, method):
        km = KMeans(n_clusters=K)
        with pytest.raises(
            NotFittedError, match="This KMeans instance is not fitted yet"
        ) as info:
            getattr(km, method)(_X(backend))
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, AttributeError)

    @pytest.mark.parametrize("method", [*_METHODS, "get_feature_names_out"])
    def test_not_fitted_is_sklearn_error(self, method):
        import sklearn.exceptions

        km = KMeans(n_clusters=K)
        args = (
            () if method == "get_feature_names_out" else (make_blobs(n=10, d=2, k=2),)
        )
        with pytest.raises(sklearn.exceptions.NotFittedError) as info:
            getattr(km, method)(*args)
        assert isinstance(info.value, arraykmeans.NotFittedError)
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, AttributeError)

    def test_not_fitted_caught_by_hasattr_style_code(self):
        # AttributeError lets getattr(..., default) style probes work.
        km = KMeans(n_clusters=2)
        try:
            km.predict(np.zeros((2, 2)))
        except AttributeError:
            pass
        else:  # pragma: no cover - the test fails here
            pytest.fail("predict before fit did not raise")

    def test_not_fitted_without_sklearn_import(self):
        code = textwrap.dedent(
            """
            import sys
            import numpy as np
            import arraykmeans
            try:
                arraykmeans.KMeans(2).predict(np.zeros((3, 2)))
            except arraykmeans.NotFittedError as exc:
                assert isinstance(exc, ValueError) and isinstance(exc, AttributeError)
            else:
                raise SystemExit("no error")
            assert "sklearn" not in sys.modules, "arraykmeans imported scikit-learn"
            print("ok")
            """
        )
        res = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "ok"

    def test_predict_1d(self, backend):
        km = _fitted(backend)
        with pytest.raises(ValueError, match="Reshape your data"):
            km.predict(backend.asarray(np.zeros(D)))


# --------------------------------------------------------- namespaces, devices


@pytest.fixture
def strict():
    return pytest.importorskip("array_api_strict")


class TestMixedNamespaces:
    """Arrays of another library or on another device than ``X`` are refused."""

    def _X(self, xp, device="CPU_DEVICE"):
        return xp.asarray(
            np.random.RandomState(0).randn(N, D), device=xp.Device(device)
        )

    def test_init_numpy_with_strict_X(self, strict):
        init = np.random.RandomState(1).randn(K, D)
        with pytest.raises(
            TypeError, match=r"init is a numpy array but X is a array_api_strict array"
        ):
            KMeans(n_clusters=K, init=init).fit(self._X(strict))

    def test_sample_weight_numpy_with_strict_X(self, strict):
        with pytest.raises(TypeError, match=r"sample_weight is a numpy array"):
            KMeans(n_clusters=K).fit(self._X(strict), sample_weight=np.ones(N))

    def test_x_squared_norms_numpy_with_strict_X(self, strict):
        with pytest.raises(TypeError, match="x_squared_norms"):
            kmeans_plusplus(self._X(strict), K, x_squared_norms=np.ones(N))

    def test_init_on_other_device(self, strict):
        X = self._X(strict, "device1")
        init = strict.asarray(
            np.random.RandomState(1).randn(K, D), device=strict.Device("CPU_DEVICE")
        )
        with pytest.raises(
            ValueError,
            match=r"init is on device .*CPU_DEVICE.* but X is on device .*device1",
        ):
            KMeans(n_clusters=K, init=init).fit(X)

    def test_sample_weight_on_other_device(self, strict):
        X = self._X(strict, "device1")
        sw = strict.ones((N,), dtype=strict.float64, device=strict.Device("CPU_DEVICE"))
        with pytest.raises(
            ValueError, match=r"sample_weight is on device .*CPU_DEVICE"
        ):
            KMeans(n_clusters=K).fit(X, sample_weight=sw)

    @pytest.mark.parametrize("method", _METHODS)
    def test_numpy_X_on_strict_model(self, strict, method):
        km = KMeans(n_clusters=K, n_init=1, random_state=0).fit(self._X(strict))
        with pytest.raises(TypeError, match=r"numpy.*array_api_strict"):
            getattr(km, method)(np.random.RandomState(1).randn(5, D))

    @pytest.mark.parametrize("method", _METHODS)
    def test_strict_X_on_numpy_model(self, strict, method):
        km = KMeans(n_clusters=K, n_init=1, random_state=0).fit(
            np.random.RandomState(0).randn(N, D)
        )
        Xs = strict.asarray(np.random.RandomState(1).randn(5, D))
        with pytest.raises(TypeError, match=r"array_api_strict.*numpy"):
            getattr(km, method)(Xs)

    def test_predict_on_other_device(self, strict):
        km = KMeans(n_clusters=K, n_init=1, random_state=0).fit(
            self._X(strict, "device1")
        )
        with pytest.raises(ValueError, match=r"device"):
            km.predict(self._X(strict, "CPU_DEVICE"))

    def test_list_init_with_strict_X_is_fine(self, strict):
        # Plain Python sequences are not arrays of another library: converted.
        X = self._X(strict, "device1")
        init = np.random.RandomState(1).randn(K, D).tolist()
        km = KMeans(n_clusters=K, init=init, max_iter=2).fit(X)
        assert km.cluster_centers_.device == strict.Device("device1")


# ---------------------------------------------------------- random_state, functions


class TestFunctions:
    """The same checks reach ``k_means`` and ``kmeans_plusplus``."""

    def test_k_means_n_clusters(self, backend):
        with pytest.raises(
            InvalidParameterError, match=r"The 'n_clusters' parameter of \w+ must be"
        ):
            k_means(_X(backend), 0)

    def test_k_means_names_itself(self):
        # scikit-learn's k_means says "parameter of k_means", not "of KMeans".
        with pytest.raises(
            InvalidParameterError, match=_msg("n_clusters", _INT1, 0, "k_means")
        ):
            k_means(make_blobs(n=20, d=2, k=2), 0)

    def test_k_means_max_iter(self):
        with pytest.raises(
            InvalidParameterError, match=_msg("max_iter", _INT1, 0, "k_means")
        ):
            k_means(make_blobs(n=20, d=2, k=2), 2, max_iter=0)

    def test_k_means_random_state(self):
        with pytest.raises(
            InvalidParameterError, match=_msg("random_state", _RS, "bad", "k_means")
        ):
            k_means(make_blobs(n=20, d=2, k=2), 2, random_state="bad")

    def test_k_means_nan(self, backend):
        X = np.random.RandomState(0).randn(N, D)
        X[0, 0] = np.nan
        with pytest.raises(ValueError, match="Input X contains NaN"):
            k_means(backend.asarray(X), K)

    def test_k_means_sample_weight(self, backend):
        with pytest.raises(ValueError, match=re.escape("sample_weight.shape ==")):
            k_means(_X(backend), K, sample_weight=backend.asarray(np.ones(N + 1)))

    def test_kmeans_plusplus_n_clusters(self, backend):
        with pytest.raises(
            InvalidParameterError,
            match=_msg("n_clusters", _INT1, 0, "kmeans_plusplus"),
        ):
            kmeans_plusplus(_X(backend), 0)

    def test_kmeans_plusplus_x_squared_norms_length(self, backend):
        norms = backend.asarray(np.ones(N - 3))
        with pytest.raises(
            ValueError,
            match=re.escape(
                "The length of x_squared_norms 27 should be equal to the length of n_samples 30."
            ),
        ):
            kmeans_plusplus(_X(backend), K, x_squared_norms=norms)

    @pytest.mark.parametrize("value", [0, -1])
    def test_kmeans_plusplus_n_local_trials(self, backend, value):
        with pytest.raises(
            InvalidParameterError,
            match=re.escape(
                "The 'n_local_trials' parameter of kmeans_plusplus must be an int in the range [1, inf)"
            ),
        ):
            kmeans_plusplus(_X(backend), K, n_local_trials=value)

    def test_kmeans_plusplus_n_local_trials_sklearn_wording(self):
        with pytest.raises(
            InvalidParameterError,
            match=_msg(
                "n_local_trials",
                "an int in the range [1, inf) or None",
                0,
                "kmeans_plusplus",
            ),
        ):
            kmeans_plusplus(make_blobs(n=20, d=2, k=2), 2, n_local_trials=0)

    @pytest.mark.parametrize("value", ["bad", 1.5, -3])
    def test_kmeans_plusplus_random_state(self, value):
        with pytest.raises(
            InvalidParameterError,
            match=_msg("random_state", _RS, value, "kmeans_plusplus"),
        ):
            kmeans_plusplus(make_blobs(n=20, d=2, k=2), 2, random_state=value)

    def test_kmeans_plusplus_nan(self, backend):
        X = np.random.RandomState(0).randn(N, D)
        X[5, 1] = np.inf
        with pytest.raises(ValueError, match="Input X contains infinity"):
            kmeans_plusplus(backend.asarray(X), K)

    def test_kmeans_plusplus_1d(self, backend):
        with pytest.raises(ValueError, match="Reshape your data"):
            kmeans_plusplus(backend.asarray(np.ones(N)), K)


# ------------------------------------------------------------- random_state


@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1])
def test_private_random_state_draws_as_a_new_one(seed):
    """A private generator is one per thread, reseeded: the same draws as a new
    RandomState(seed), however it was used before."""
    from arraykmeans._validation import check_random_state

    first = check_random_state(seed, private=True)
    first.random_sample(5)
    first.standard_normal()  # leaves a cached Gaussian behind
    again = check_random_state(seed, private=True)
    assert again is first
    fresh = np.random.RandomState(seed)
    np.testing.assert_array_equal(again.standard_normal(3), fresh.standard_normal(3))
    assert check_random_state(seed) is not first


def test_callable_init_gets_its_own_generator():
    """User code may keep the generator it is handed: it is never reseeded by
    a later fit."""
    kept = []

    def init(X, k, random_state):
        kept.append(random_state)
        return X[:k]

    X = np.random.RandomState(0).randn(40, 2)
    KMeans(3, init=init, n_init=1, random_state=5).fit(X)
    state = kept[0].get_state()[1].copy()
    KMeans(3, random_state=5).fit(X)
    np.testing.assert_array_equal(kept[0].get_state()[1], state)
