"""scikit-learn interoperability: estimator checks, clone, Pipeline, GridSearchCV.

scikit-learn is a test dependency only; these tests are the proof that the
estimator behaves as one of its own when it is installed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from arraykmeans import ArrayMismatchError, KMeans  # noqa: E402

# The two checks scikit-learn itself marks as expected failures for its KMeans:
# sample-weight equivalence cannot hold exactly for a randomised initialisation.
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": (
        "k-means++ with weights differs from repeated samples by randomness"
    ),
    "check_sample_weight_equivalence_on_sparse_data": "sparse input is not supported",
}


# scikit-learn warns that KMeans does not inherit from its BaseEstimator: that is
# by design (scikit-learn is not a runtime dependency); the checks below are what
# shows the protocol is honoured anyway.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message=".*does not inherit from", category=UserWarning
    )
    _CHECKS = parametrize_with_checks(
        [KMeans(n_clusters=3, max_iter=5, n_init=2)],
        expected_failed_checks=lambda est: EXPECTED_FAILURES,
    )


@_CHECKS
def test_sklearn_estimator_checks(estimator, check):
    keywords = getattr(check, "keywords", {})
    x_lib = keywords.get("X_ns_and_device")
    other_lib = keywords.get("other_ns_and_device")
    if x_lib is not None and other_lib is not None and x_lib.xp != other_lib.xp:
        # scikit-learn moves sample_weight into X's library; arraykmeans leaves
        # moving data between libraries to the caller and says so.
        with pytest.raises(ArrayMismatchError, match="same array library as X"):
            check(estimator)
        return
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*does not inherit from", category=UserWarning
        )
        check(estimator)


def _blobs():
    from conftest import make_blobs

    return make_blobs(n=300, d=3, k=4, seed=3)


class TestInterop:
    """clone, Pipeline, GridSearchCV and tags work as for scikit-learn's KMeans."""

    def test_clone_keeps_params_and_drops_fit(self):
        km = KMeans(n_clusters=4, random_state=0, n_init=3).fit(_blobs())
        cloned = clone(km)
        assert cloned.get_params() == km.get_params()
        assert not hasattr(cloned, "cluster_centers_")

    def test_pipeline_matches_manual_steps(self):
        X = _blobs()
        pipe = make_pipeline(StandardScaler(), KMeans(n_clusters=4, random_state=0))
        labels = pipe.fit_predict(X)
        manual = KMeans(n_clusters=4, random_state=0).fit(
            StandardScaler().fit_transform(X)
        )
        np.testing.assert_array_equal(labels, manual.labels_)
        assert pipe.transform(X).shape == (X.shape[0], 4)

    def test_grid_search_picks_lowest_inertia_k(self):
        X = _blobs()
        search = GridSearchCV(
            KMeans(random_state=0), {"n_clusters": [2, 4, 6]}, cv=3
        ).fit(X)
        # score is minus the inertia, which falls as k grows.
        assert search.best_params_ == {"n_clusters": 6}
        assert isinstance(search.best_estimator_, KMeans)

    def test_tags(self):
        from sklearn.utils import get_tags

        tags = get_tags(KMeans())
        assert tags.estimator_type == "clusterer"
        assert tags.array_api_support is True
        assert tags.input_tags.sparse is False

    def test_repr_shows_changed_params_only(self):
        assert repr(KMeans()) == "KMeans()"
        assert repr(KMeans(n_clusters=3, random_state=0)) == (
            "KMeans(n_clusters=3, random_state=0)"
        )

    def test_set_params_rejects_unknown(self):
        with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
            KMeans().set_params(bogus=1)

    def test_errors_are_sklearn_exceptions_when_sklearn_is_loaded(self):
        from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
        from sklearn.exceptions import NotFittedError as SkNotFittedError

        with pytest.raises(SkNotFittedError):
            KMeans().predict(np.zeros((2, 2)))
        X = np.repeat(np.eye(2), 5, axis=0)
        with pytest.warns(SkConvergenceWarning, match="Number of distinct clusters"):
            KMeans(n_clusters=3, random_state=0).fit(X)


def test_pandas_input_is_used_as_numpy():
    pd = pytest.importorskip("pandas")
    X = _blobs()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    weights = pd.Series(np.linspace(0.5, 1.5, X.shape[0]))
    from_frame = KMeans(n_clusters=4, random_state=0).fit(frame, sample_weight=weights)
    from_array = KMeans(n_clusters=4, random_state=0).fit(
        X, sample_weight=weights.to_numpy()
    )
    assert isinstance(from_frame.cluster_centers_, np.ndarray)
    np.testing.assert_array_equal(from_frame.labels_, from_array.labels_)
    np.testing.assert_array_equal(from_frame.predict(frame), from_array.predict(X))


def _init_forms(X):
    def first_rows(data, k, random_state=None):
        return data[:k]

    return {
        "k-means++": "k-means++",
        "random": "random",
        "callable": first_rows,
        "array": X[:4],
    }


@pytest.mark.parametrize("n_init", ["auto", 1, 3])
@pytest.mark.parametrize("init", ["k-means++", "random", "callable", "array"])
def test_n_init_attribute_as_sklearn(init, n_init):
    """The fitted ``_n_init`` (runs actually made) is scikit-learn's: 'auto' is
    1 for k-means++ and an array, 10 for 'random' and a callable; an array
    init warns and runs once."""
    from sklearn.cluster import KMeans as SKKMeans

    X = _blobs()
    fitted = []
    for cls in (KMeans, SKKMeans):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = cls(4, init=_init_forms(X)[init], n_init=n_init, random_state=0)
            fitted.append(est.fit(X))
        fitted.append([str(w.message) for w in caught if w.category is RuntimeWarning])
    ours, our_warnings, theirs, their_warnings = fitted
    assert ours._n_init == theirs._n_init
    assert our_warnings == their_warnings


def test_batched_n_init_attribute():
    """BatchedKMeans records its runs too: n_init, or 1 for an array init."""
    from arraykmeans import BatchedKMeans

    X = np.stack([_blobs(), _blobs()[::-1]])
    assert BatchedKMeans(4, n_init=3, random_state=0).fit(X)._n_init == 3
    with pytest.warns(RuntimeWarning, match="performing only one init"):
        est = BatchedKMeans(4, init=X[0, :4], n_init=3).fit(X)
    assert est._n_init == 1


def test_kmeans_plusplus_norms_length_message_as_sklearn():
    from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus

    from arraykmeans import kmeans_plusplus

    X = _blobs()
    norms = np.ones(X.shape[0] - 3)
    with pytest.raises(ValueError) as theirs:
        sk_kmeans_plusplus(X, 4, x_squared_norms=norms, random_state=0)
    with pytest.raises(ValueError) as ours:
        kmeans_plusplus(X, 4, x_squared_norms=norms, random_state=0)
    assert str(ours.value) == str(theirs.value)
