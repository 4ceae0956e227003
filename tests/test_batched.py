"""Batched K-means: every problem of a stack as if fitted alone, in one call."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import (
    RANGE_MAGNITUDES,
    RANGE_SHAPES,
    RANGE_SIGNS,
    assert_close,
    assert_same_place,
    check_in_range_fit,
    few_distinct_rows,
    in_range_reference,
    range_case,
    require_compiled,
)

import arraykmeans as ak
from arraykmeans.algorithm import _seeds as _batched_module
from arraykmeans.backends import get_backend

B, N, D, K = 5, 240, 3, 4


def _problems(seed: int = 0, n: int = N) -> np.ndarray:
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-6, 6, size=(B, K, D))
    labels = rng.randint(K, size=(B, n))
    return np.take_along_axis(centres, labels[:, :, None], axis=1) + rng.randn(B, n, D)


def _single(backend, X, b, seed, rows=None, weights=None, **kw):
    """KMeans on problem b alone (optionally on its first ``rows`` rows)."""
    rows = X.shape[1] if rows is None else rows
    w = None if weights is None else backend.asarray(weights[b, :rows])
    return ak.KMeans(K, random_state=int(seed), **kw).fit(
        backend.asarray(X[b, :rows]), sample_weight=w
    )


def _check_problem(backend, single, centers, labels, inertia, n_iter, b, rows=None):
    rows = labels.shape[1] if rows is None else rows
    np.testing.assert_array_equal(labels[b, :rows], backend.to_numpy(single.labels_))
    assert int(n_iter[b]) == single.n_iter_
    np.testing.assert_allclose(
        centers[b],
        backend.to_numpy(single.cluster_centers_),
        rtol=backend.rtol,
        atol=1e-9 if backend.dtype_name == "float64" else 1e-4,
    )
    assert float(inertia[b]) == pytest.approx(single.inertia_, rel=backend.rtol)


def _checked(backend, labels, numpy_labels):
    """The problems to fit alone: all; on JAX's own operations and Dask (where
    each single fit compiles or builds its graphs anew, and which the suite
    runs in float64) the first and the last, the whole stack's labels being
    NumPy's, whose every problem is fitted alone on NumPy."""
    if not backend.name.startswith(("jax-native", "dask")):
        return range(B)
    np.testing.assert_array_equal(labels, numpy_labels())
    return (0, B - 1)


def _fit_and_check_all(backend, X, seed, **kw):
    """batched_k_means on X; every problem equals KMeans on it alone, own seed."""
    out = ak.batched_k_means(backend.asarray(X), K, random_state=seed, **kw)
    centers, labels, inertia, n_iter = (backend.to_numpy(a) for a in out)
    seeds = ak.batch_seeds(seed, B)

    def numpy_labels():
        return ak.batched_k_means(X, K, random_state=seed, **kw)[1]

    for b in _checked(backend, labels, numpy_labels):
        single = _single(backend, X, b, seeds[b], **kw)
        _check_problem(backend, single, centers, labels, inertia, n_iter, b)


class TestSameAsSingleFits:
    @pytest.mark.parametrize(
        "kw",
        [
            {},
            {"init": "random", "n_init": 3},
            {"tol": 0.0, "max_iter": 3},
            {"tol": 1e-2},
        ],
        ids=["k-means++", "random-n_init3", "max_iter3", "tol1e-2"],
    )
    def test_every_problem_equals_its_own_fit(self, backend, kw):
        _fit_and_check_all(backend, _problems().astype(backend.np_dtype), 42, **kw)

    def test_results_in_callers_namespace(self, backend):
        X = backend.asarray(_problems())
        centers, labels, inertia, n_iter = ak.batched_k_means(X, K, random_state=0)
        for arr in (centers, labels, inertia, n_iter):
            assert_same_place(backend, arr)
        assert centers.dtype == backend.dtype
        assert labels.dtype == backend.xp.int32
        assert tuple(centers.shape) == (B, K, D)
        assert tuple(labels.shape) == (B, N)
        assert tuple(inertia.shape) == (B,)
        assert tuple(n_iter.shape) == (B,)

    def test_problems_converge_on_their_own(self, backend):
        X = _problems(3).astype(backend.np_dtype)
        X[0] *= 10  # very different scales still converge per problem
        _, _, _, n_iter = ak.batched_k_means(backend.asarray(X), K, random_state=1)
        n_iter = backend.to_numpy(n_iter)
        assert (n_iter >= 1).all()
        assert len(set(n_iter.tolist())) > 1, "expected different iteration counts"

    @pytest.mark.parametrize("kw", [{}, {"tol": 0.0, "max_iter": 6}])
    def test_stopped_problems_leave_the_stack(self, backend, monkeypatch, kw):
        """Once some problems stop, the loop goes on with a copy of the running
        ones; every problem still equals its own fit."""
        from arraykmeans.algorithm import _batched_lloyd

        ak.set_config(compact_min_problems=2)
        ak.set_config(compact_ratio=1)
        sizes = []
        real = _batched_lloyd._iterate

        def spy(xp, X, *args):
            sizes.append(X.shape[0])
            return real(xp, X, *args)

        monkeypatch.setattr(_batched_lloyd, "_iterate", spy)
        X = _problems(3).astype(backend.np_dtype)
        X[0] *= 10
        _fit_and_check_all(backend, X, 7, **kw)
        # The batched fit's stack sizes (a NumPy reference fit may follow).
        restart = [i for i in range(1, len(sizes)) if sizes[i] == B]
        sizes = sizes[: restart[0]] if restart else sizes
        assert sizes[0] == B
        assert len(sizes) > 1, sizes
        assert sizes == sorted(set(sizes), reverse=True), sizes

    def test_empty_cluster_relocation(self, backend):
        X = _problems(4).astype(backend.np_dtype)
        init = np.concatenate(
            [X[:, :2, :], np.full((B, 2, D), 1e3, dtype=X.dtype)], axis=1
        )
        out = ak.batched_k_means(backend.asarray(X), K, init=backend.asarray(init))
        centers, labels, inertia, n_iter = (backend.to_numpy(a) for a in out)
        for b in _checked(
            backend, labels, lambda: ak.batched_k_means(X, K, init=init)[1]
        ):
            single = ak.KMeans(K, init=backend.asarray(init[b])).fit(
                backend.asarray(X[b])
            )
            _check_problem(backend, single, centers, labels, inertia, n_iter, b)
        assert np.abs(centers).max() < 100


@pytest.mark.parametrize(
    ("where", "cases"), [("numba", 120), ("no-numba", 120), ("strict", 30)]
)
def test_labels_and_inertia_are_those_of_the_centres(monkeypatch, where, cases):
    """Per problem, labels_ == predict(X) and inertia_ == -score(X) on the
    training data, also where a problem converges strictly in the iteration
    that relocated an empty cluster (few distinct rows, k close to n). Without
    numba the running problems also leave the stack as soon as one stops."""

    ak.set_config(use_compiled=where == "numba")
    if where != "numba":
        ak.set_config(compact_min_problems=2)
        ak.set_config(compact_ratio=1)
    xp = np
    if where == "strict":
        import array_api_strict as xp
    for seed in range(cases):
        Xn, k, init = few_distinct_rows(seed, n_problems=3)
        X = xp.asarray(Xn)
        est = ak.BatchedKMeans(k, init=init, random_state=seed).fit(X)
        case = f"seed={seed}, X={Xn.tolist()}, k={k}, init={init}"
        np.testing.assert_array_equal(
            np.asarray(est.labels_), np.asarray(est.predict(X)), err_msg=case
        )
        np.testing.assert_allclose(
            -np.asarray(est.score(X)),
            np.asarray(est.inertia_),
            rtol=1e-9,
            atol=1e-9,
            err_msg=case,
        )


class TestRagged:
    SIZES = (240, 150, 60, 239, 12)

    def _mask(self):
        return np.arange(N)[None, :] < np.asarray(self.SIZES)[:, None]

    @pytest.mark.parametrize("how", ["mask", "zero-weight"])
    def test_padding_never_counts(self, backend, how):
        X = _problems(5).astype(backend.np_dtype)
        mask = self._mask()
        weights = np.random.RandomState(6).uniform(0.5, 2, size=(B, N))
        weights = weights.astype(backend.np_dtype)
        X_padded = np.where(mask[:, :, None], X, 1e4).astype(backend.np_dtype)
        if how == "mask":
            kwargs = {
                "mask": backend.asarray(mask),
                "sample_weight": backend.asarray(weights),
            }
        else:
            kwargs = {"sample_weight": backend.asarray(np.where(mask, weights, 0))}
        out = ak.batched_k_means(backend.asarray(X_padded), K, random_state=9, **kwargs)
        centers, labels, inertia, n_iter = (backend.to_numpy(a) for a in out)
        seeds = ak.batch_seeds(9, B)

        def numpy_labels():
            host = {
                key: np.asarray(value.compute() if hasattr(value, "compute") else value)
                for key, value in kwargs.items()
            }
            return ak.batched_k_means(X_padded, K, random_state=9, **host)[1]

        checked = _checked(backend, labels, numpy_labels)
        for b, rows in enumerate(self.SIZES):
            if b not in checked:
                continue
            single = _single(backend, X, b, seeds[b], rows=rows, weights=weights)
            _check_problem(backend, single, centers, labels, inertia, n_iter, b, rows)
            assert (labels[b, rows:] == -1).all(), "padding rows are labelled -1"

    def test_too_few_rows_names_the_problem(self, backend):
        mask = self._mask()
        mask[3, 2:] = False
        with pytest.raises(ValueError, match=r"Problem 3 has 2 rows .* n_clusters=4"):
            ak.batched_k_means(
                backend.asarray(_problems()), K, mask=backend.asarray(mask)
            )


class TestSeeds:
    def test_int_seed_is_reproducible_and_spawns_distinct_streams(self):
        a, b = ak.batch_seeds(5, 100), ak.batch_seeds(5, 100)
        np.testing.assert_array_equal(a, b)
        assert len(set(a.tolist())) == 100
        assert a.dtype == np.uint32
        expected = [
            c.generate_state(1)[0] for c in np.random.SeedSequence(5).spawn(100)
        ]
        np.testing.assert_array_equal(a, expected)

    @pytest.mark.parametrize(
        "entropy",
        [
            0,
            1,
            2**32 - 1,
            2**32,
            2**64 + 3,
            2**127 + 99,
            [1, 2, 3, 4],
            [7, 8, 9, 10, 11],
        ],
    )
    def test_seeds_equal_numpys_spawned_children(self, entropy):
        # The vectorised hash must give what spawning SeedSequence children
        # gives, for one-word, multi-word and list entropy.
        expected = [
            c.generate_state(1)[0] for c in np.random.SeedSequence(entropy).spawn(257)
        ]
        entropy_words = [
            int(w)
            for e in (entropy if isinstance(entropy, list) else [entropy])
            for w in _batched_module._int_words(e)
        ]
        got = _batched_module._spawned_first_words(entropy_words, 257)
        np.testing.assert_array_equal(got, expected)
        got = _batched_module._first_words_of_children(
            np.random.SeedSequence(entropy), 257
        )
        np.testing.assert_array_equal(got, expected)

    def test_none_and_random_state_seeds_follow_their_sequence(self, monkeypatch):
        spawned = []
        real = np.random.SeedSequence

        def recording(*args, **kwargs):
            sequence = real(*args, **kwargs)
            spawned.append(sequence.entropy)
            return sequence

        monkeypatch.setattr(np.random, "SeedSequence", recording)
        for random_state in (None, np.random.RandomState(3)):
            spawned.clear()
            seeds = ak.batch_seeds(random_state, 50)
            expected = [c.generate_state(1)[0] for c in real(spawned[0]).spawn(50)]
            np.testing.assert_array_equal(seeds, expected)

    def test_sequence_is_used_as_is(self):
        np.testing.assert_array_equal(ak.batch_seeds([3, 1, 2], 3), [3, 1, 2])
        with pytest.raises(ValueError, match="one int seed per problem"):
            ak.batch_seeds([1, 2], 3)

    def test_random_state_instance_is_advanced(self):
        rs = np.random.RandomState(0)
        first = ak.batch_seeds(rs, 4)
        second = ak.batch_seeds(rs, 4)
        assert not np.array_equal(first, second)

    def test_bad_seed(self):
        with pytest.raises(ValueError, match="cannot be used to seed a batch"):
            ak.batch_seeds("x", 2)


class TestEstimator:
    def test_fit_predict_transform(self, backend):
        X = backend.asarray(_problems(7))
        bkm = ak.BatchedKMeans(n_clusters=K, random_state=0).fit(X)
        assert_same_place(backend, bkm.cluster_centers_)
        np.testing.assert_array_equal(ak.batch_seeds(0, B), bkm.seeds_)
        labels = bkm.predict(X)
        assert labels.dtype == backend.xp.int32
        np.testing.assert_array_equal(
            backend.to_numpy(labels), backend.to_numpy(bkm.labels_)
        )
        dist = bkm.transform(X)
        Xn = backend.to_numpy(X).astype(np.float64)
        Cn = backend.to_numpy(bkm.cluster_centers_).astype(np.float64)
        expected = np.sqrt(((Xn[:, :, None, :] - Cn[:, None, :, :]) ** 2).sum(-1))
        assert_close(backend, dist, expected, rtol=backend.rtol, atol=1e-3)
        fp = ak.BatchedKMeans(n_clusters=K, random_state=0).fit_predict(X)
        np.testing.assert_array_equal(
            backend.to_numpy(fp), backend.to_numpy(bkm.labels_)
        )

    @pytest.mark.parametrize("working_memory", [0.1, 0.005])
    def test_transform_in_chunks(self, backend, working_memory):
        """A small budget splits transform over problems (0.1 MiB) and over rows
        (5 KiB): every chunk lands in its place of the output."""
        X = backend.asarray(_problems(9, n=600))
        bkm = ak.BatchedKMeans(n_clusters=K, random_state=0).fit(X)
        whole = bkm.transform(X)
        with ak.config_context(working_memory=working_memory):
            chunked = bkm.transform(X)
        assert_same_place(backend, chunked)
        assert chunked.shape == whole.shape
        assert_close(backend, chunked, backend.to_numpy(whole), rtol=1e-6, atol=0)

    def test_predict_mask(self):
        X = _problems(8)
        bkm = ak.BatchedKMeans(n_clusters=K, random_state=0).fit(X)
        mask = np.ones((B, N), dtype=bool)
        mask[:, -3:] = False
        labels = bkm.predict(X, mask=mask)
        assert (labels[:, -3:] == -1).all()
        np.testing.assert_array_equal(labels[:, :-3], bkm.labels_[:, :-3])

    def test_predict_bad_mask(self):
        X = _problems(8)
        bkm = ak.BatchedKMeans(n_clusters=K, random_state=0).fit(X)
        with pytest.raises(ValueError, match=r"mask.shape == \(5, 3\)"):
            bkm.predict(X, mask=np.ones((B, 3), dtype=bool))
        with pytest.raises(TypeError, match="mask must be a boolean array"):
            bkm.score(X, mask=np.ones((B, N)))

    def test_score_and_fit_transform(self, backend):
        """score is minus each problem's inertia, as KMeans.score per problem;
        fit_transform is fit then transform."""
        Xn = _problems(10)
        rng = np.random.RandomState(3)
        wn = rng.uniform(0.5, 2.0, size=(B, N))
        mask = np.ones((B, N), dtype=bool)
        mask[1, -40:] = False
        X, w = backend.asarray(Xn), backend.asarray(wn)
        bkm = ak.BatchedKMeans(n_clusters=K, random_state=0)
        dist = bkm.fit_transform(X, sample_weight=w)
        assert_close(backend, dist, backend.to_numpy(bkm.transform(X)), atol=0)
        score = bkm.score(X, sample_weight=w)
        assert_same_place(backend, score)
        assert score.shape == (B,)
        assert score.dtype == bkm.inertia_.dtype
        np.testing.assert_allclose(
            backend.to_numpy(score), -backend.to_numpy(bkm.inertia_), rtol=backend.rtol
        )
        masked = backend.to_numpy(
            bkm.score(X, sample_weight=w, mask=backend.asarray(mask))
        )
        centres = backend.to_numpy(bkm.cluster_centers_).astype(np.float64)
        sq = ((Xn[:, :, None, :] - centres[:, None, :, :]) ** 2).sum(-1).min(-1)
        expected = -(sq * wn * mask).sum(axis=1)
        np.testing.assert_allclose(masked, expected, rtol=backend.rtol)
        assert masked[1] > backend.to_numpy(score)[1]

    def test_explicit_init_shared_or_per_problem(self):
        X = _problems(9)
        shared = X[0, :K]
        a = ak.BatchedKMeans(K, init=shared).fit(X)
        b = ak.BatchedKMeans(K, init=np.broadcast_to(shared, (B, K, D)).copy()).fit(X)
        np.testing.assert_array_equal(a.labels_, b.labels_)
        for p in range(B):
            single = ak.KMeans(K, init=shared).fit(X[p])
            np.testing.assert_array_equal(a.labels_[p], single.labels_)
        with pytest.warns(RuntimeWarning, match="Explicit initial center"):
            ak.BatchedKMeans(K, init=shared, n_init=2).fit(X)

    def test_params_protocol(self):
        bkm = ak.BatchedKMeans(n_clusters=3, random_state=1)
        assert bkm.get_params()["n_clusters"] == 3
        assert repr(bkm) == "BatchedKMeans(n_clusters=3, random_state=1)"
        assert bkm.set_params(n_clusters=5).n_clusters == 5


def _half_dtype(name):
    if name == "float16":
        return np.dtype(np.float16)
    # NumPy's bfloat16 comes from ml_dtypes (as used by JAX).
    return np.dtype(pytest.importorskip("ml_dtypes").bfloat16)


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
class TestHalfPrecision:
    """Half floats are computed in float32 and come back in their own dtype."""

    def test_batched(self, half):
        dt = _half_dtype(half)
        X = _problems(10)
        c16, l16, inertia, _ = ak.batched_k_means(X.astype(dt), K, random_state=0)
        c32, l32, inertia32, _ = ak.batched_k_means(
            X.astype(dt).astype(np.float32), K, random_state=0
        )
        assert c16.dtype == dt
        np.testing.assert_array_equal(l16, l32)
        np.testing.assert_array_equal(c16, c32.astype(dt))
        np.testing.assert_array_equal(inertia, inertia32)
        bkm = ak.BatchedKMeans(K, random_state=0).fit(X.astype(dt))
        assert bkm.transform(X.astype(dt)).dtype == dt
        np.testing.assert_array_equal(bkm.predict(X.astype(dt)), l32)

    def test_single(self, half):
        dt = _half_dtype(half)
        X = _problems(11)[0].astype(dt)
        km = ak.KMeans(K, random_state=0).fit(X)
        ref = ak.KMeans(K, random_state=0).fit(X.astype(np.float32))
        assert km.cluster_centers_.dtype == dt
        np.testing.assert_array_equal(km.labels_, ref.labels_)
        np.testing.assert_array_equal(km.predict(X), ref.labels_)
        assert km.transform(X).dtype == dt
        assert km.inertia_ == ref.inertia_
        centres, _ = ak.kmeans_plusplus(X, K, random_state=0)
        assert centres.dtype == dt

    @pytest.mark.parametrize("compiled", [True, False], ids=["numba", "no-numba"])
    def test_methods_equal_float32_ones(self, half, compiled, monkeypatch):
        """score, predict and transform of half floats are those of their
        float32 copy, with or without the compiled loops (which have no half
        floats: none may be handed one)."""
        ak.set_config(use_compiled=compiled)
        dt = _half_dtype(half)
        X = _problems(12).astype(dt)
        X32 = X.astype(np.float32)
        fits = [
            (ak.BatchedKMeans(K, random_state=0), X, X32),
            (ak.KMeans(K, random_state=0), X[0], X32[0]),
        ]
        for est, Xh, Xf in fits:
            est.fit(Xh)
            ref = type(est)(K, random_state=0).fit(Xf)
            np.testing.assert_array_equal(est.predict(Xh), ref.predict(Xf))
            np.testing.assert_allclose(est.score(Xh), ref.score(Xf), rtol=1e-12)
            np.testing.assert_allclose(-est.score(Xh), est.inertia_, rtol=1e-6)
            dist = est.transform(Xh)
            assert dist.dtype == dt
            np.testing.assert_array_equal(dist, ref.transform(Xf).astype(dt))


class TestBadInput:
    def test_two_d_points_to_kmeans(self):
        with pytest.raises(
            ValueError, match=r"for a single problem use arraykmeans\.KMeans"
        ):
            ak.batched_k_means(np.zeros((10, 2)), 2)

    def test_four_d(self):
        with pytest.raises(ValueError, match="Found array with dim 4"):
            ak.batched_k_means(np.zeros((2, 10, 2, 1)), 2)

    def test_no_problems(self):
        with pytest.raises(ValueError, match="0 problem"):
            ak.batched_k_means(np.zeros((0, 10, 2)), 2)

    def test_weight_and_mask_shapes(self):
        X = _problems()
        with pytest.raises(ValueError, match=r"sample_weight.shape == \(5, 3\)"):
            ak.batched_k_means(X, K, sample_weight=np.ones((5, 3)))
        with pytest.raises(ValueError, match=r"mask.shape == \(5,\)"):
            ak.batched_k_means(X, K, mask=np.ones(5, dtype=bool))
        with pytest.raises(TypeError, match="mask must be a boolean array"):
            ak.batched_k_means(X, K, mask=np.ones((B, N)))
        with pytest.raises(ValueError, match="Negative values"):
            ak.batched_k_means(X, K, sample_weight=-np.ones((B, N)))

    def test_nan(self):
        X = _problems()
        X[2, 5, 1] = np.nan
        with pytest.raises(ValueError, match="Input X contains NaN"):
            ak.batched_k_means(X, K)

    def test_init_shape(self):
        with pytest.raises(ValueError, match="does not match"):
            ak.batched_k_means(_problems(), K, init=np.zeros((B, K + 1, D)))

    @pytest.mark.parametrize(
        ("param", "value"),
        [("n_clusters", 0), ("n_init", 0), ("max_iter", 0), ("tol", -1.0)],
    )
    def test_bad_params(self, param, value):
        kwargs = {"n_clusters": K, param: value}
        with pytest.raises(ValueError, match=f"'{param}' parameter of BatchedKMeans"):
            ak.BatchedKMeans(**kwargs).fit(_problems())

    def test_predict_checks(self):
        X = _problems()
        bkm = ak.BatchedKMeans(K, random_state=0)
        with pytest.raises(ak.NotFittedError):
            bkm.predict(X)
        bkm.fit(X)
        with pytest.raises(ValueError, match="fitted on 5 problems"):
            bkm.predict(X[:2])
        with pytest.raises(ValueError, match="expecting 3 features"):
            bkm.predict(X[:, :, :2])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("d", [D, 16, 17])
@pytest.mark.parametrize("trials", [None, 4, 9])
def test_compiled_kmeans_plusplus_selects_the_fallbacks_rows(
    monkeypatch, dtype, d, trials
):
    """The compiled per-problem k-means++ picks the rows the array version picks,
    padding (zero weight, first and last rows) included; with the feature loop
    unrolled (d <= 16) and not (d = 17), and with candidates taken four at a
    time (4, 9 trials), one at a time (the default, 3) or both (9)."""
    require_compiled()
    from arraykmeans.algorithm import _init

    be = get_backend(__import__("array_api_compat").array_namespace(np.zeros(1)))
    X = _problems(3, n=300).astype(dtype)
    # More features: copies of the three, each shifted (distinct rows stay).
    X = np.concatenate([X + t for t in range(-(-d // D))], axis=2)[:, :, :d]
    w = np.random.RandomState(1).uniform(0.5, 2, size=X.shape[:2]).astype(dtype)
    w[0, :20] = 0
    w[1, -30:] = 0
    draws = np.random.RandomState(2).random_sample(
        (B, _init.kmeans_plusplus_draws(K, trials))
    )
    found = []
    for compiled in (True, False):
        ak.set_config(use_compiled=compiled)
        found.append(
            _init.kmeans_plusplus_batched(be, X, K, w, draws, n_local_trials=trials)
        )
    np.testing.assert_array_equal(found[0], found[1])
    assert not np.any(np.all(found[0][0][:, None, :] == X[0, :20][None], axis=2))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("where", ["numba", "no-numba", "strict"])
def test_magnitudes_across_the_float_range(monkeypatch, where, dtype):
    """From subnormals to the top of the range, any sign and shape: every
    problem gets finite centres and scikit-learn's labels, inertia and
    distances on its data brought into range by a power of two (inf exactly
    where those exceed the float range), and score == -inertia_."""
    ak.set_config(use_compiled=where == "numba")
    xp = np
    if where == "strict":
        import array_api_strict as xp
    for mag, sign, shape in itertools.product(
        RANGE_MAGNITUDES[dtype], RANGE_SIGNS, RANGE_SHAPES
    ):
        # Two problems: the case and its mirror image, with other extremes.
        one = range_case(mag, sign, shape, dtype)
        Xn = np.stack([one, -one[::-1] * 0.5])
        X = xp.asarray(Xn)
        est = ak.BatchedKMeans(3, init=X[:, :3, :]).fit(X)
        results = [
            np.asarray(a)
            for a in (
                est.labels_,
                est.predict(X),
                est.cluster_centers_,
                est.inertia_,
                est.score(X),
                est.transform(X),
            )
        ]
        for b in range(2):
            try:
                check_in_range_fit(
                    Xn[b],
                    in_range_reference(Xn[b]),
                    *(r[b] for r in results),
                )
            except AssertionError as exc:
                case = f"magnitude={mag}, sign={sign}, shape={shape}, problem {b}"
                raise AssertionError(f"{case}: {exc}") from exc


@pytest.mark.parametrize("where", ["numba", "no-numba", "strict"])
def test_score_transform_and_inertia_agree_far_from_origin(monkeypatch, where):
    """float32 problems 1e4 to 1e8 from the origin, clusters a few ulps wide:
    per problem, -score(X) and the squared distances to the closest centres
    add up to inertia_ (all measured in the fitted frame)."""
    ak.set_config(use_compiled=where == "numba")
    xp = np
    if where == "strict":
        import array_api_strict as xp
    offsets = np.array([1e4, 1e5, 1e6, 1e7, 1e8])[:, None, None]
    # One unit of spread is about ten float32 ulps at each offset.
    Xn = (offsets + 1e-6 * offsets * _problems(8)).astype(np.float32)
    X = xp.asarray(Xn)
    est = ak.BatchedKMeans(K, random_state=0).fit(X)
    inertia = np.asarray(est.inertia_)
    assert np.all(inertia > 0)
    np.testing.assert_allclose(-np.asarray(est.score(X)), inertia, rtol=1e-4)
    dist = np.asarray(est.transform(X)).astype(np.float64).min(axis=2)
    np.testing.assert_allclose((dist**2).sum(axis=1), inertia, rtol=1e-4)
    np.testing.assert_array_equal(np.asarray(est.predict(X)), np.asarray(est.labels_))


@pytest.mark.parametrize("factor", [1e20, 1e-20], ids=["huge", "tiny"])
def test_huge_and_tiny_values_keep_their_units(factor):
    """Data beyond 2**±40 are rescaled inside the fit: centres, inertia, predict
    and transform come back in the caller's units, as from single fits."""
    X = _problems(4) * factor
    est = ak.BatchedKMeans(K, random_state=7).fit(X)
    for b, seed in enumerate(est.seeds_):
        single = ak.KMeans(K, random_state=int(seed)).fit(X[b])
        np.testing.assert_array_equal(est.labels_[b], single.labels_)
        np.testing.assert_allclose(
            est.cluster_centers_[b], single.cluster_centers_, rtol=1e-9
        )
        assert est.inertia_[b] == pytest.approx(single.inertia_, rel=1e-9)
        np.testing.assert_allclose(
            est.transform(X)[b], single.transform(X[b]), rtol=1e-9
        )
    np.testing.assert_array_equal(est.predict(X), est.labels_)


@pytest.mark.parametrize("where", ["numba", "no-numba", "strict"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_seeding_rules_are_one_rule_for_one_problem_and_a_stack(where, dtype):
    """k-means++ and random rows: a single problem's seeding and the stack's
    pick the same rows for the same uniforms, whatever the data, weights
    (zeros included) and k; both are one function over stacks."""
    from arraykmeans.algorithm import _init

    ak.set_config(use_compiled=where == "numba")
    xp = np
    if where == "strict":
        import array_api_strict as xp
    be = get_backend(__import__("array_api_compat").array_namespace(xp.asarray(1.0)))
    for seed in range(6):
        rng = np.random.RandomState(seed)
        n, d, k = rng.randint(20, 400), rng.randint(1, 6), rng.randint(1, 12)
        Xn = (rng.randn(n, d) * rng.uniform(0.1, 10)).astype(dtype)
        wn = rng.uniform(0.1, 3, n).astype(dtype)
        wn[rng.rand(n) < 0.2] = 0
        wn[:k] = 1  # at least k rows of positive weight
        X, w = xp.asarray(Xn), xp.asarray(wn)
        single, _ = _init.kmeans_plusplus_init(be, X, k, w, np.random.RandomState(seed))
        draws = np.random.RandomState(seed).random_sample(
            (1, _init.kmeans_plusplus_draws(k))
        )
        stack = _init.kmeans_plusplus_batched(be, X[None, ...], k, w[None, ...], draws)
        np.testing.assert_array_equal(np.asarray(single), np.asarray(stack)[0])
        single = _init.random_init(be, X, k, w, np.random.RandomState(seed))
        stack = _init.random_init_batched(
            be, X[None, ...], k, w[None, ...], [np.random.RandomState(seed)]
        )
        np.testing.assert_array_equal(np.asarray(single), np.asarray(stack)[0])
        assert np.all(wn[_rows_of(Xn, np.asarray(single))] > 0)


def _rows_of(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The index in X of each of ``rows`` (rows of X)."""
    return np.array([np.flatnonzero(np.all(r == X, axis=1))[0] for r in rows])
