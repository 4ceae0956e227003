"""Data frames: feature names, nullable columns and ``set_output``, with
scikit-learn's behaviour (its messages and warnings, compared case by case)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import arraykmeans as ak

pd = pytest.importorskip("pandas")
sklearn_cluster = pytest.importorskip("sklearn.cluster")


def _frame(columns=("a", "b", "c"), n=60, seed=0, index=None):
    rng = np.random.RandomState(seed)
    values = np.concatenate(
        [rng.randn(n // 2, len(columns)), rng.randn(n // 2, len(columns)) + 6]
    )
    return pd.DataFrame(values, columns=list(columns), index=index)


def _outcome(fn):
    """What a call does: its result kind, or its error and message, and the
    messages of the warnings it gives."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn()
            result = "ok"
        except Exception as exc:  # compared with scikit-learn's
            result = (type(exc).__name__, str(exc))
    return result, sorted(str(w.message) for w in caught if w.category is UserWarning)


FIT_PREDICT = [
    ("same", _frame(), _frame(seed=1)),
    ("reordered", _frame(), _frame(("c", "a", "b"))),
    ("renamed", _frame(), _frame(("a", "b", "z"))),
    ("more", _frame(), _frame(("a", "b", "c", "d"))),
    ("many unseen", _frame(), _frame(tuple("bcdefghij"))),
    ("array after frame", _frame(), _frame().to_numpy()),
    ("frame after array", _frame().to_numpy(), _frame()),
    ("int names", _frame(), _frame((0, 1, 2))),
]


@pytest.mark.parametrize(
    ("case", "train", "test"), FIT_PREDICT, ids=[c[0] for c in FIT_PREDICT]
)
@pytest.mark.parametrize("method", ["predict", "transform", "score"])
@pytest.mark.parametrize("Estimator", ["KMeans", "MiniBatchKMeans"])
def test_feature_names_as_scikit_learn(case, train, test, method, Estimator):
    ours = getattr(ak, Estimator)(2, n_init=1, random_state=0).fit(train)
    theirs = getattr(sklearn_cluster, Estimator)(2, n_init=1, random_state=0).fit(train)
    if hasattr(theirs, "feature_names_in_"):
        np.testing.assert_array_equal(ours.feature_names_in_, theirs.feature_names_in_)
        assert ours.feature_names_in_.dtype == object
    else:
        assert not hasattr(ours, "feature_names_in_")
    got = _outcome(lambda: getattr(ours, method)(test))
    want = _outcome(lambda: getattr(theirs, method)(test))
    assert got == want


def test_mixed_names_and_refits():
    mixed = _frame(("a", 1, "c"))
    got = _outcome(lambda: ak.KMeans(2, n_init=1).fit(mixed))
    want = _outcome(lambda: sklearn_cluster.KMeans(2, n_init=1).fit(mixed))
    assert got == want
    assert got[0][0] == "TypeError"
    km = ak.KMeans(2, n_init=1, random_state=0).fit(_frame())
    assert list(km.feature_names_in_) == ["a", "b", "c"]
    km.fit(_frame().to_numpy())  # a refit on an array forgets the names
    assert not hasattr(km, "feature_names_in_")
    mb = ak.MiniBatchKMeans(2, random_state=0, n_init=1).partial_fit(_frame())
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        mb.partial_fit(_frame(("b", "a", "c")))


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [("Float32", np.float32), ("Float64", np.float64), ("Int64", np.float64),
     ("float32", np.float32), ("int32", np.float64)],
)  # fmt: skip
def test_nullable_columns_keep_their_float_dtype(dtype, expected):
    frame = (_frame() * 10).round().astype(dtype)
    km = ak.KMeans(2, n_init=1, random_state=0).fit(frame)
    assert km.cluster_centers_.dtype == expected
    ref = ak.KMeans(2, n_init=1, random_state=0).fit(frame.to_numpy(dtype=expected))
    np.testing.assert_array_equal(km.labels_, ref.labels_)
    missing = frame.copy()
    missing.iloc[3, 1] = pd.NA
    with pytest.raises(ValueError, match="Input X contains NaN"):
        ak.KMeans(2, n_init=1).fit(missing)


def test_set_output_in_a_pipeline():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = _frame(index=[f"row{i}" for i in range(60)])
    for Estimator in (ak.KMeans, ak.MiniBatchKMeans):
        pipe = make_pipeline(StandardScaler(), Estimator(3, n_init=1, random_state=0))
        out = pipe.set_output(transform="pandas").fit_transform(frame)
        assert isinstance(out, pd.DataFrame)
        prefix = Estimator.__name__.lower()
        assert list(out.columns) == [f"{prefix}{j}" for j in range(3)]
        assert list(out.index) == list(frame.index)
        plain = make_pipeline(StandardScaler(), Estimator(3, n_init=1, random_state=0))
        np.testing.assert_allclose(out.to_numpy(), plain.fit_transform(frame))
        assert isinstance(pipe.transform(frame), pd.DataFrame)
        pipe.set_output(transform="default")
        # The scaler's output is an array now: the names seen in the fit are not.
        with pytest.warns(UserWarning, match="does not have valid feature names"):
            assert isinstance(pipe.transform(frame), np.ndarray)
    km = ak.KMeans(3, n_init=1, random_state=0).fit(frame)
    with pytest.raises(ValueError, match="output config must be in"):
        km.set_output(transform="arrow")
    assert km.set_output() is km
    import sklearn

    with sklearn.config_context(transform_output="pandas"):
        assert isinstance(km.transform(frame), pd.DataFrame)
    assert isinstance(km.transform(frame), np.ndarray)
    with pytest.raises(ValueError, match="3-D array"):
        ak.BatchedKMeans(2).set_output(transform="pandas")


def test_polars_output_and_input():
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(_frame().to_numpy(), schema=["a", "b", "c"])
    km = ak.KMeans(2, n_init=1, random_state=0).fit(frame)
    assert list(km.feature_names_in_) == ["a", "b", "c"]
    out = km.set_output(transform="polars").transform(frame)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == ["kmeans0", "kmeans1"]


def test_get_feature_names_out_checks_its_input():
    km = ak.KMeans(2, n_init=1, random_state=0).fit(_frame())
    sk = sklearn_cluster.KMeans(2, n_init=1, random_state=0).fit(_frame())
    for given in (None, ["a", "b", "c"], ["a", "b", "x"], ["a", "b"]):
        got = _outcome(lambda g=given: km.get_feature_names_out(g))
        want = _outcome(lambda g=given: sk.get_feature_names_out(g))
        assert got == want, given
    bare = ak.KMeans(2, n_init=1, random_state=0).fit(_frame().to_numpy())
    bare_sk = sklearn_cluster.KMeans(2, n_init=1, random_state=0).fit(
        _frame().to_numpy()
    )
    for given in (["x", "y", "z"], ["x"]):
        got = _outcome(lambda g=given: bare.get_feature_names_out(g))
        want = _outcome(lambda g=given: bare_sk.get_feature_names_out(g))
        assert got == want, given
