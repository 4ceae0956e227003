"""The backend primitives: every NumPy fast path agrees with the pure-standard fallback.

The fallbacks are exercised directly on NumPy arrays (through array-api-compat's
NumPy namespace) and on array-api-strict, and compared with a plain float64 NumPy
computation.
"""

from __future__ import annotations

import array_api_strict
import numpy as np
import pytest
import threadpoolctl
from array_api_compat import array_namespace
from conftest import assert_close, require_compiled

import arraykmeans as ak
from arraykmeans.backends import _numpy as npb
from arraykmeans.backends import ceil_log2, get_backend
from arraykmeans.backends._standard import StandardBackend

NP = array_namespace(np.zeros(1))


def _for_this_test(request, context):
    """Enter ``context`` (a config_context) until the test's teardown."""
    context.__enter__()
    request.addfinalizer(lambda: context.__exit__(None, None, None))


def _data(n=257, d=5, k=7, seed=0):
    rng = np.random.RandomState(seed)
    return (
        rng.randn(n, d),
        rng.randn(k, d),
        rng.randint(k, size=n),
        rng.uniform(0.5, 2, n),
    )


class TestSegmentSum:
    def test_numpy_fast_path_equals_onehot_fallback(self):
        X, _, labels, _ = _data()
        fast = get_backend(NP).segment_sum(X, labels, 7, dtype=np.float64)
        fallback = StandardBackend(NP).segment_sum(X, labels, 7, dtype=np.float64)
        reference = np.zeros((7, 5))
        np.add.at(reference, labels, X)
        np.testing.assert_allclose(fast, reference, rtol=1e-12)
        np.testing.assert_allclose(fallback, reference, rtol=1e-12)

    def test_empty_segments_are_zero(self):
        X, _, labels, _ = _data(k=4)
        labels = np.where(labels == 2, 1, labels)
        for out in (
            get_backend(NP).segment_sum(X, labels, 9, dtype=np.float64),
            StandardBackend(NP).segment_sum(X, labels, 9, dtype=np.float64),
        ):
            assert out.shape == (9, 5)
            np.testing.assert_array_equal(out[[2, 4, 5, 6, 7, 8]], 0.0)

    def test_no_rows(self):
        out = get_backend(NP).segment_sum(
            np.zeros((0, 3)), np.zeros(0, dtype=np.int64), 4, dtype=np.float64
        )
        np.testing.assert_array_equal(out, np.zeros((4, 3)))

    def test_float32_accumulates_in_float64(self):
        rng = np.random.RandomState(0)
        X = (1e4 + rng.rand(20000, 1)).astype(np.float32)
        labels = np.zeros(20000, dtype=np.int64)
        out = get_backend(NP).segment_sum(X, labels, 1, dtype=np.float64)
        assert out.dtype == np.float64
        assert out[0, 0] == pytest.approx(X.astype(np.float64).sum(), rel=1e-12)

    def test_every_backend(self, backend):
        X, _, labels, w = _data()
        out = get_backend(backend.xp).segment_sum(
            backend.asarray(X),
            backend.asarray(labels),
            7,
            dtype=backend.dtype,
        )
        reference = np.zeros((7, 5))
        np.add.at(reference, labels, X.astype(backend.np_dtype))
        assert_close(backend, out, reference, rtol=backend.rtol, atol=1e-5)
        wsum = get_backend(backend.xp).weight_sum(
            backend.asarray(w),
            backend.asarray(labels),
            7,
            dtype=backend.dtype,
        )
        assert_close(
            backend,
            wsum,
            np.bincount(labels, weights=w, minlength=7),
            rtol=backend.rtol * 10,
        )


class TestAssign:
    def test_matches_brute_force(self, backend):
        X, C, _, w = _data(n=1000)
        result = get_backend(backend.xp).assign_chunked(
            backend.asarray(X),
            backend.asarray(C),
            sample_weight=backend.asarray(w),
            accumulate=True,
        )
        Xb, Cb = X.astype(backend.np_dtype), C.astype(backend.np_dtype)
        dist = ((Xb[:, None, :] - Cb[None, :, :]) ** 2).sum(-1)
        expected = dist.argmin(1)
        labels = backend.to_numpy(result.labels)
        np.testing.assert_array_equal(labels, expected)
        sums = np.zeros_like(C)
        np.add.at(sums, expected, Xb * w.astype(backend.np_dtype)[:, None])
        np.testing.assert_allclose(
            backend.to_numpy(result.sums), sums, rtol=backend.rtol, atol=1e-4
        )
        np.testing.assert_allclose(
            backend.to_numpy(result.weights),
            np.bincount(expected, weights=w.astype(backend.np_dtype), minlength=7),
            rtol=backend.rtol * 10,
        )

    @pytest.mark.parametrize("compiled", [True, False], ids=["numba", "no-numba"])
    @pytest.mark.parametrize("sparse", [True, False], ids=["scipy", "no-scipy"])
    @pytest.mark.parametrize("threads", [True, False], ids=["threads", "one-thread"])
    @pytest.mark.parametrize("k", [9, 80], ids=["k9", "k80"])
    def test_numpy_fast_path_equals_standard(
        self, monkeypatch, request, compiled, sparse, threads, k
    ):
        """Many chunks; threads, SciPy, numba or not; short and long rows: as the fallback."""
        if compiled:
            require_compiled()
        ak.set_config(use_compiled=compiled)
        # d=20: BLAS forms the distances (row-major blocks at k=9, centre-major
        # at k=80); fewer features take the direct loop, tested below.
        X, C, _, w = _data(n=20000, d=20, k=k)
        if not sparse:
            ak.set_config(use_scipy=False)
        if threads:
            ak.set_config(thread_min_work=0)
        else:
            _for_this_test(request, ak.config_context(n_threads=1))
        offset = np.linspace(-1, 1, 20)
        for kwargs in ({}, {"offset": offset, "scale": 0.25}):
            fast = npb._assign_numpy(
                X,
                C,
                w,
                True,
                np.float64,
                kwargs.get("offset"),
                kwargs.get("scale", 1.0),
            )
            slow = StandardBackend(NP)._assign(
                X,
                C,
                w,
                True,
                np.float64,
                kwargs.get("offset"),
                kwargs.get("scale", 1.0),
            )
            np.testing.assert_array_equal(fast.labels, slow.labels)
            np.testing.assert_allclose(fast.sums, slow.sums, rtol=1e-10)
            np.testing.assert_allclose(fast.weights, slow.weights, rtol=1e-12)

    @pytest.mark.parametrize("threads", [True, False], ids=["threads", "one-thread"])
    @pytest.mark.parametrize(
        ("d", "k", "layout"),
        [
            (40, 16, "row-major"),
            (20, 80, "centre-major"),
            (1, 5, "direct"),
            (2, 9, "direct"),
            (3, 40, "direct"),
            (4, 64, "direct"),
            (12, 7, "direct"),
            (16, 40, "direct"),
        ],
        ids=[
            "row-major",
            "centre-major",
            "direct-d1",
            "direct-d2",
            "direct-d3",
            "direct-d4",
            "direct-d12",
            "direct-d16-wide",
        ],
    )
    def test_compiled_layouts_equal_standard(
        self, monkeypatch, request, threads, d, k, layout
    ):
        """Long rows (d >= 2k): BLAS writes row-major blocks; otherwise
        centre-major; few features: distances formed without BLAS. Same labels
        and sums as the fallback."""
        require_compiled()
        ak.set_config(use_compiled=True)
        if threads:
            ak.set_config(thread_min_work=0)
        else:
            _for_this_test(request, ak.config_context(n_threads=1))
        X, C, _, w = _data(n=9000, d=d, k=k)
        direct = d <= npb.NUMPY_DIRECT_MAX_D or (
            d <= npb.NUMPY_DIRECT_WIDE_D and k >= 2 * d
        )
        assert direct == (layout == "direct")
        if layout == "row-major":
            assert d >= npb.NUMPY_ROW_MAJOR_RATIO * k >= 2 * npb.NUMPY_ROW_MAJOR_MIN_K
        for dtype in ("float64", "float32"):
            Xd, Cd, wd = X.astype(dtype), C.astype(dtype), w.astype(dtype)
            fast = npb._assign_numpy(Xd, Cd, wd, True, np.float64, None, 1.0)
            slow = StandardBackend(NP)._assign(Xd, Cd, wd, True, np.float64, None, 1.0)
            np.testing.assert_array_equal(fast.labels, slow.labels)
            tol = 1e-10 if dtype == "float64" else 1e-4
            np.testing.assert_allclose(fast.sums, slow.sums, rtol=tol, atol=tol)
            np.testing.assert_allclose(fast.weights, slow.weights, rtol=1e-12)
            # Labels alone (predict) take the same path.
            alone = npb._assign_numpy(Xd, Cd, None, False, np.float64, None, 1.0)
            np.testing.assert_array_equal(alone.labels, slow.labels)
            # Rows shifted and scaled on the way (predict on a fitted frame).
            offset = np.linspace(-1, 1, d).astype(dtype)
            framed = npb._assign_numpy(Xd, Cd, wd, True, np.float64, offset, 0.5)
            ref = StandardBackend(NP)._assign(Xd, Cd, wd, True, np.float64, offset, 0.5)
            np.testing.assert_array_equal(framed.labels, ref.labels)
            np.testing.assert_allclose(framed.sums, ref.sums, rtol=tol, atol=tol)

    @pytest.mark.parametrize("dtype", ["float32", "float64"])
    @pytest.mark.parametrize(("d", "k"), [(2, 9), (5, 8), (12, 40), (16, 40)])
    def test_direct_loop_breaks_near_ties_as_blas(self, dtype, d, k):
        """Rows all but equidistant from two centres: the last bit of each
        distance decides the label, and the compiled loop must form the same
        bits as BLAS (the no-numba path and scikit-learn), in every regime."""
        require_compiled()
        rng = np.random.RandomState(d * k)
        C = rng.randn(k, d).astype(dtype)
        a, b = rng.randint(0, k, size=(2, 20000))
        noise = rng.randn(20000, d) * (1e-6 if dtype == "float32" else 1e-14)
        X = ((C[a] + C[b]) / 2 + noise).astype(dtype)
        with ak.config_context(working_memory=256):
            direct = npb._assign_numpy(X, C, None, False, np.float64, None, 1.0)
        # What BLAS and NumPy give (scikit-learn's distances): the product,
        # then the centre norms added.
        products = X @ (C * -2).T
        blas = np.argmin(products + np.einsum("ij,ij->i", C, C), axis=1)
        # Some BLAS builds form a product's bits differently by where it lies
        # in the matrix (edge tiles, thread splits): OpenBLAS 0.3.31 on Zen 5
        # does, in float32. There is then no single BLAS answer to match, and
        # only gross disagreement is a fault.
        if not np.array_equal(direct.labels, blas):
            with threadpoolctl.threadpool_limits(1):
                alone = X[1:] @ (C * -2).T
            if not np.array_equal(alone, products[1:]):
                assert np.mean(direct.labels == blas) > 0.98
                pytest.skip("BLAS products depend on their position in the matrix")
        np.testing.assert_array_equal(direct.labels, blas)

    def test_chunking_does_not_change_results(self):
        X, C, _, w = _data(n=3000)
        whole = get_backend(NP).assign_chunked(X, C, sample_weight=w, accumulate=True)
        with ak.config_context(working_memory=0.001):
            assert get_backend(NP).chunk_rows(3000, 1000) == npb.MIN_CHUNK_ROWS
            chunked = get_backend(NP).assign_chunked(
                X, C, sample_weight=w, accumulate=True
            )
        np.testing.assert_array_equal(whole.labels, chunked.labels)
        np.testing.assert_allclose(whole.sums, chunked.sums, rtol=1e-12)

    def test_offset_and_scale(self):
        X, C, _, _ = _data()
        offset = np.full(5, 3.0)
        plain = get_backend(NP).assign_chunked(X * 0.5 - offset, C).labels
        framed = get_backend(NP).assign_chunked(X, C, offset=offset, scale=0.5).labels
        np.testing.assert_array_equal(plain, framed)

    @pytest.mark.parametrize("dtype", ["float32", "float64"])
    @pytest.mark.parametrize(("d", "k"), [(3, 40), (8, 64), (20, 40), (20, 5)])
    def test_shifted_on_the_way_is_shifted_first_bit_for_bit(self, dtype, d, k):
        """An accumulating assignment with an ``offset`` gives the labels,
        sums and weights of the rows shifted first, to the last bit: pieces
        of several chunks, with the loop that forms distances itself (d of 3
        and 8) and with BLAS (d=20)."""
        rng = np.random.RandomState(d + k)
        X = (rng.randn(60000, d) + 0.5).astype(dtype)
        offset = X[:100].mean(axis=0)
        C = X[rng.choice(60000, k, replace=False)] - offset
        w = rng.uniform(0.5, 2, 60000).astype(dtype)
        be = get_backend(NP)
        first = be.assign_chunked(X - offset, C, sample_weight=w, accumulate=True)
        framed = be.assign_chunked(
            X, C, sample_weight=w, accumulate=True, offset=offset
        )
        np.testing.assert_array_equal(framed.labels, first.labels)
        np.testing.assert_array_equal(framed.sums, first.sums)
        np.testing.assert_array_equal(framed.weights, first.weights)


class TestChunkRows:
    def test_budget(self):
        with ak.config_context(working_memory=1):
            assert get_backend(array_api_strict).chunk_rows(10**6, 1024) == 1024
            assert get_backend(array_api_strict).chunk_rows(100, 1024) == 100

    def test_numpy_prefers_cache_sized_chunks(self):
        assert get_backend(NP).chunk_rows(10**6, 8, cache_rows=500) == 500
        assert get_backend(array_api_strict).chunk_rows(10**6, 8, cache_rows=500) > 500


class TestSelections:
    @pytest.mark.parametrize("count", [1, 3])
    def test_largest_indices_fast_and_fallback(self, count):
        values = np.array([0.5, 3.0, 1.0, 7.0, 2.0, 6.0])
        fast = get_backend(NP).largest_indices(values, count)
        fallback = get_backend(array_api_strict).largest_indices(
            array_api_strict.asarray(values), count
        )
        np.testing.assert_array_equal(fast, [3, 5, 1][:count])
        np.testing.assert_array_equal(np.asarray(fallback), [3, 5, 1][:count])

    @pytest.mark.parametrize("xp", [NP, array_api_strict], ids=["numpy", "strict"])
    def test_is_same_clustering(self, xp):
        a = xp.asarray([0, 0, 1, 2, 2, 1])
        assert get_backend(xp).is_same_clustering(a, xp.asarray([2, 2, 0, 1, 1, 0]))
        assert not get_backend(xp).is_same_clustering(a, xp.asarray([2, 1, 0, 1, 1, 0]))
        assert get_backend(xp).is_same_clustering(a[:1], a[:1])


class TestHostDevice:
    def test_round_trip(self, backend):
        values = np.array([1.5, -2.0, 3.25])
        on_device = get_backend(backend.xp).from_host(
            values, dtype=backend.dtype, device=backend.device
        )
        assert_close(backend, on_device, values)
        np.testing.assert_array_equal(
            get_backend(backend.xp).to_host(on_device), values
        )

    def test_accumulation_dtype(self):
        xp = array_api_strict
        assert (
            get_backend(xp).accumulation_dtype(xp.float32, xp.Device("CPU_DEVICE"))
            == xp.float64
        )
        assert (
            get_backend(xp).accumulation_dtype(xp.float32, xp.Device("no_float64"))
            == xp.float32
        )

    @pytest.mark.parametrize(
        ("x", "e"), [(1.0, 0), (1.5, 1), (2.0, 1), (3e10, 35), (0.3, -1)]
    )
    def test_ceil_log2(self, x, e):
        assert ceil_log2(x) == e
        assert 2.0**e >= x > 2.0 ** (e - 1)


# JAX, when another test has imported it, warns at every fork that it is
# multithreaded; the child here never uses JAX.
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")
def test_thread_pool_survives_fork():
    """A process forked after a threaded fit can fit again (no stale pool)."""
    import multiprocessing

    X = np.random.RandomState(0).randn(20000, 4)
    ak.KMeans(3, random_state=0, n_init=1).fit(X)  # starts the pool here
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        result = pool.apply_async(_fit_labels, (X,))
        labels = result.get(timeout=60)
    np.testing.assert_array_equal(labels, ak.KMeans(3, random_state=0).fit(X).labels_)


def _fit_labels(X):
    return ak.KMeans(3, random_state=0).fit(X).labels_


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "no-numba"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batched_numpy_fast_path_equals_standard(monkeypatch, compiled, dtype):
    """assign_batched on NumPy (compiled loops or not) against the standard fallback."""
    if compiled:
        require_compiled()
    ak.set_config(use_compiled=compiled)
    rng = np.random.RandomState(3)
    X = rng.randn(7, 300, 4).astype(dtype)
    C = X[:, :5, :].copy()
    w = rng.uniform(0.5, 2, size=(7, 300)).astype(dtype)
    fast = get_backend(NP).assign_batched(X, C, sample_weight=w, accumulate=True)
    slow = get_backend(array_api_strict).assign_batched(
        array_api_strict.asarray(X),
        array_api_strict.asarray(C),
        sample_weight=array_api_strict.asarray(w),
        accumulate=True,
    )
    np.testing.assert_array_equal(fast.labels, np.asarray(slow.labels))
    rtol = 1e-10 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(fast.sums, np.asarray(slow.sums), rtol=rtol, atol=1e-4)
    np.testing.assert_allclose(fast.weights, np.asarray(slow.weights), rtol=rtol)
    active = np.array([True, False, True, False, False, True, True])
    part = get_backend(NP).assign_batched(
        X, C, sample_weight=w, accumulate=True, active=active
    )
    np.testing.assert_array_equal(part.labels[active], fast.labels[active])
    np.testing.assert_allclose(part.sums[active], fast.sums[active], rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_weighted_inertia_compiled_and_numpy_agree(monkeypatch, dtype):
    require_compiled()
    rng = np.random.RandomState(4)
    X = rng.randn(3000, 5).astype(dtype)
    C = X[:4].copy()
    labels = rng.randint(4, size=3000).astype(np.int32)
    w = rng.uniform(size=3000).astype(dtype)
    expected = float(
        np.sum(w.astype(np.float64) * ((X.astype(np.float64) - C[labels]) ** 2).sum(1))
    )
    values = {}
    for compiled in (True, False):
        ak.set_config(use_compiled=compiled)
        values[compiled] = get_backend(NP).weighted_inertia(X, w, C, labels)
    rtol = 1e-12 if dtype == "float64" else 1e-6
    assert values[True] == pytest.approx(expected, rel=rtol)
    assert values[False] == pytest.approx(expected, rel=rtol)


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "no-numba"])
def test_extremes(monkeypatch, compiled):
    if compiled:
        require_compiled()
    ak.set_config(use_compiled=compiled)
    X = np.random.RandomState(0).randn(50, 3)
    for arr in (X, np.asfortranarray(X), X[:, ::2]):
        assert get_backend(NP).extremes(arr) == (arr.min(), arr.max())
    Y = X.copy()
    Y[7, 1] = np.nan
    assert all(np.isnan(v) for v in get_backend(NP).extremes(Y))
    Y[7, 1] = -np.inf
    assert get_backend(NP).extremes(Y)[0] == -np.inf
    # Large arrays are read in pieces on the thread pool (with numba).
    big = np.random.RandomState(1).randn(2**22 + 5).astype(np.float32)
    assert get_backend(NP).extremes(big) == (big.min(), big.max())
    big[2**21 + 3] = np.nan
    assert all(np.isnan(v) for v in get_backend(NP).extremes(big))
    big[2**21 + 3] = np.inf
    assert get_backend(NP).extremes(big)[1] == np.inf


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "no-numba"])
@pytest.mark.parametrize(
    "shape", [(5, 200, 4, 6), (4, 150, 40, 16)], ids=["short", "long"]
)
def test_batched_previous_labels(monkeypatch, compiled, shape):
    """With ``previous``: -1 on zero weight, inactive problems keep their labels,
    ``changed`` flags exactly the problems whose labels moved; as the fallback."""
    if compiled:
        require_compiled()
    ak.set_config(use_compiled=compiled)
    B, n, d, k = shape
    rng = np.random.RandomState(5)
    X = rng.randn(B, n, d)
    C = X[:, :k, :].copy()
    w = rng.uniform(0.5, 2, size=(B, n))
    w[:, -7:] = 0
    fresh = get_backend(NP).assign_batched(X, C, sample_weight=w)
    expected = np.where(w > 0, fresh.labels, -1)
    previous = expected.astype(np.int32)
    previous[1, :3] = (previous[1, :3] + 1) % k  # problem 1 will change
    previous[2, :3] = (previous[2, :3] + 1) % k  # problem 2 too, but it is inactive
    active = np.ones(B, dtype=bool)
    active[2] = False
    keep = previous.copy()
    fast = get_backend(NP).assign_batched(
        X, C, sample_weight=w, active=active, previous=previous.copy()
    )
    slow = get_backend(array_api_strict).assign_batched(
        array_api_strict.asarray(X),
        array_api_strict.asarray(C),
        sample_weight=array_api_strict.asarray(w),
        active=array_api_strict.asarray(active),
        previous=array_api_strict.asarray(keep),
    )
    for labels in (np.asarray(fast.labels), np.asarray(slow.labels)):
        np.testing.assert_array_equal(labels[active], expected[active])
        np.testing.assert_array_equal(labels[2], keep[2])
    changed = [False] * B
    changed[1] = True
    np.testing.assert_array_equal(np.asarray(fast.changed), changed)
    np.testing.assert_array_equal(np.asarray(slow.changed), changed)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("compiled", [True, False])
def test_centre_problems_extremes_see_non_finite_padding(monkeypatch, bad, compiled):
    if compiled:
        require_compiled()
    ak.set_config(use_compiled=compiled)
    X = np.random.RandomState(2).randn(4, 50, 3).astype("float32")
    w = np.ones((4, 50), dtype="float32")
    w[2, 40:] = 0
    X[2, 45, 1] = bad  # in a padding row: the sums never read it
    *_, (low, high) = get_backend(NP).centre_problems(X, w, 1.0, with_extremes=True)
    if np.isnan(bad):
        assert np.isnan(low)
        assert np.isnan(high)
    else:
        finite = np.where(np.isfinite(X), X, np.nan)
        expected = (np.nanmin(finite), bad) if bad > 0 else (bad, np.nanmax(finite))
        assert (low, high) == expected


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_centre_problems_compiled_equals_standard(monkeypatch, dtype):
    require_compiled()
    rng = np.random.RandomState(6)
    X = (rng.randn(6, 120, 5) * 3 + 7).astype(dtype)
    w = rng.uniform(0.5, 2, size=(6, 120)).astype(dtype)
    w[:, 100:] = 0
    w[3, :50] = 0
    ak.set_config(use_compiled=True)
    fast = get_backend(NP).centre_problems(X, w, 0.5, with_extremes=True)
    ak.set_config(use_compiled=False)
    # Without the fused pass only the extremes come back; the caller centres.
    none, none, none, found = get_backend(NP).centre_problems(
        X, w, 0.5, with_extremes=True
    )
    assert none is None
    slow = get_backend(NP).centre_problems(X, w, 0.5)
    for a, b in zip(fast, (*slow, found), strict=True):
        np.testing.assert_array_equal(a, b)
    assert fast[3] == (X.min(), X.max())  # padding rows count too
    assert not np.any(fast[0][w == 0])
    valid = w[3] > 0
    np.testing.assert_allclose(
        fast[1][3, 0], (X[3][valid] * 0.5).mean(axis=0), rtol=1e-6
    )


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "no-numba"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_centre_columns_is_numpys_mean_and_var(monkeypatch, compiled, dtype, order):
    """On NumPy the centring is scikit-learn's, bit for bit: ``X.mean(axis=0)``
    and ``np.var(X, axis=0)`` of a C-ordered X, in X's dtype, whether or not
    the compiled loops are installed. In float32 the last bit of the centred
    data decides which k-means++ candidate wins."""
    ak.set_config(use_compiled=compiled)
    rng = np.random.RandomState(8)
    for n, d in [(70000, 3), (1000, 32), (5, 1)]:
        X = np.asarray((rng.randn(n, d) * 4 + 100).astype(dtype), order=order)
        Xc, mean, var = get_backend(NP).centre_columns(X)
        C = np.ascontiguousarray(X)
        assert mean.dtype == Xc.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(mean, C.mean(axis=0))
        np.testing.assert_array_equal(Xc, C - C.mean(axis=0))
        np.testing.assert_array_equal(var, np.var(C, axis=0))


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "no-numba"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_centre_problems_centres_as_a_single_fit(monkeypatch, compiled, dtype):
    """Each problem's mean and variance are NumPy's over its valid rows, the
    values a single fit on those rows centres with."""
    if compiled:
        require_compiled()
    ak.set_config(use_compiled=compiled)
    rng = np.random.RandomState(9)
    X = (rng.randn(5, 3000, 4) * 3 + 50).astype(dtype)
    w = np.ones((5, 3000), dtype=dtype)
    w[1, 2000:] = 0
    w[2, ::3] = 0
    Xc, mean, var = get_backend(NP).centre_problems(X, w, 1.0)
    for b in range(5):
        rows = X[b][w[b] > 0]
        np.testing.assert_array_equal(mean[b, 0], rows.mean(axis=0))
        np.testing.assert_array_equal(var[b], np.var(rows, axis=0))
        np.testing.assert_array_equal(Xc[b][w[b] > 0], rows - rows.mean(axis=0))


@pytest.mark.parametrize("xp", [NP, array_api_strict], ids=["numpy", "strict"])
def test_average_centers_without_empty_clusters(xp):
    """The shortcut for "no empty cluster" gives the general path's means; the
    general path gives an empty cluster the heaviest cluster's centre."""
    from arraykmeans.algorithm._lloyd import average_centers

    be = get_backend(xp)
    rng = np.random.RandomState(0)
    sums = xp.asarray(rng.randn(2, 4, 3))
    weights = xp.asarray(rng.uniform(1, 2, (2, 4)))
    general = average_centers(be, sums, weights, xp.float32)
    short = average_centers(be, sums, weights, xp.float32, empty=False)
    assert short.dtype == xp.float32
    np.testing.assert_array_equal(np.asarray(short), np.asarray(general))
    some_empty = xp.asarray(np.where([[1, 0, 1, 1], [1, 1, 1, 1]], 1.0, 0.0))
    means = np.asarray(average_centers(be, sums, weights * some_empty, xp.float64))
    w = np.asarray(weights) * np.asarray(some_empty)
    heaviest = int(np.argmax(w[0]))
    np.testing.assert_array_equal(means[0, 1], means[0, heaviest])
    np.testing.assert_allclose(means[1], np.asarray(sums)[1] / w[1][:, None])


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("count", [1, 29, 113, 114, 200, 312, 313, 700])
def test_legacy_uniforms_equal_random_state(monkeypatch, compiled, count):
    # Partial first regenerations that do and do not read wrapped words, the
    # full one (312 doubles) and second ones; seeds at both ends of the range.
    if compiled:
        require_compiled()
    ak.set_config(use_compiled=compiled)
    seeds = np.array([0, 1, 5489, 2**31, 2**32 - 1], dtype=np.uint32)
    expected = [np.random.RandomState(int(s)).random_sample(count) for s in seeds]
    np.testing.assert_array_equal(npb.legacy_uniforms(seeds, count), expected)


def test_gather_rows_numpy_equals_standard():
    rng = np.random.RandomState(3)
    X = rng.randn(4, 30, 5)
    idx = rng.randint(0, 30, size=(4, 7))
    fast = get_backend(NP).gather_rows(X, idx)
    slow = get_backend(array_api_strict).gather_rows(
        array_api_strict.asarray(X), array_api_strict.asarray(idx)
    )
    np.testing.assert_array_equal(fast, np.asarray(slow))
    np.testing.assert_array_equal(fast[2, 3], X[2, idx[2, 3]])


def test_count_distinct(backend):
    labels = np.array([4, 0, 4, 2, 0, 4], dtype=np.int64)
    assert get_backend(backend.xp).count_distinct(backend.asarray(labels), 6) == 3
    assert get_backend(backend.xp).count_distinct(backend.asarray(labels[:1]), 6) == 1


def test_centre_columns_every_backend(backend):
    rng = np.random.default_rng(8)
    X = rng.normal(3.0, 2.0, size=(700, 5))
    with ak.config_context(working_memory=0.01):  # several chunks
        Xc, mean, var = get_backend(backend.xp).centre_columns(backend.asarray(X))
    ref = X.astype(backend.np_dtype)
    assert_close(
        backend,
        mean,
        ref.mean(axis=0),
        rtol=1e-6 if backend.dtype_name == "float32" else 1e-12,
    )
    np.testing.assert_allclose(
        backend.to_numpy(var), ref.astype(np.float64).var(axis=0), rtol=1e-5
    )
    assert_close(backend, Xc, ref - backend.to_numpy(mean), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("special", [None, "inf", "-inf", "nan", "-nan", "zeros"])
def test_compiled_min_max(dtype, special):
    require_compiled()
    from arraykmeans.backends._numba_kernels import KERNELS

    rng = np.random.default_rng(9)
    x = (rng.normal(size=999) * 1e20).astype(dtype)
    if special == "zeros":
        x[:] = -0.0
    elif special is not None:
        x[rng.integers(999)] = float(special.replace("-nan", "nan"))
        if special == "-nan":
            x = np.where(np.isnan(x), -x, x)
    low, high = KERNELS.min_max(x)
    if special in ("nan", "-nan"):
        assert np.isnan(low)
        assert np.isnan(high)
    else:
        assert low == x.min()
        assert high == x.max()


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_compiled_paths_take_only_supported_dtypes(monkeypatch, half):
    """Half-precision or mixed operands never reach a compiled loop (numba has
    no float16 or bfloat16): every primitive with one gives the array path's
    result instead of failing to compile."""
    dt = np.dtype(np.float16) if half == "float16" else None
    if dt is None:
        dt = np.dtype(pytest.importorskip("ml_dtypes").bfloat16)
    X, C, labels, w = _data(n=300, d=3, k=4)
    X32 = X.astype(np.float32)
    Xb = np.stack([X32, X32[::-1]])
    calls = {
        "inertia, half centres": lambda: get_backend(NP).weighted_inertia(
            X32, w.astype(np.float32), C.astype(dt), labels
        ),
        "batched inertia, half centres": lambda: get_backend(
            NP
        ).weighted_inertia_batched(
            Xb,
            np.ones(Xb.shape[:2], dtype=np.float32),
            np.stack([C, C]).astype(dt),
            np.stack([labels, labels]),
        ),
        "assign, mixed": lambda: (
            get_backend(NP).assign_chunked(X32, C.astype(np.float64)).labels
        ),
    }
    if half == "float16":  # NumPy computes with float16 data, not bfloat16
        calls["inertia, half data"] = lambda: get_backend(NP).weighted_inertia(
            X.astype(dt), w.astype(dt), C.astype(dt), labels
        )
        calls["assign, half data"] = lambda: (
            get_backend(NP).assign_chunked(X.astype(dt), C.astype(dt)).labels
        )
        calls["extremes, half"] = lambda: get_backend(NP).extremes(X.astype(dt))
    for name, call in calls.items():
        ak.set_config(use_compiled=False)
        expected = call()
        ak.set_config(use_compiled=True)
        np.testing.assert_array_equal(call(), expected, err_msg=name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("special", [None, "inf", "nan", "huge"])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (1000, 20), (333, 64)])
def test_compiled_column_moments_are_numpys_bit_for_bit(dtype, special, shape):
    """The one-pass column moments and extremes (the Dask finiteness check)
    against NumPy's reductions: the same sums to the last bit; the same
    extremes wherever the sums are finite, and sums that are not where the
    data hold a NaN or an infinity."""
    require_compiled()
    from arraykmeans.backends._numba_kernels import KERNELS

    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    x = (rng.normal(size=shape) * 3 + rng.normal(size=shape[1]) * 1e4).astype(dtype)
    if special == "huge":
        x[-1, 0] = np.finfo(dtype).max / 2
    elif special is not None:
        x[rng.integers(shape[0]), rng.integers(shape[1])] = float(special)
    shift = rng.normal(size=shape[1]) * 1e4
    out = np.zeros((4, shape[1]))
    KERNELS.column_moments(x, shift, out)
    with np.errstate(all="ignore"):
        xa = x.astype(np.float64) - shift
        sums, squares = xa.sum(axis=0), (xa * xa).sum(axis=0)
    np.testing.assert_array_equal(out[0], sums)
    np.testing.assert_array_equal(out[1], squares)
    finite = np.isfinite(out[0]) & np.isfinite(out[1])
    # float32's largest values square within float64's range.
    expect_finite = special is None or (special == "huge" and dtype == "float32")
    assert finite.all() == expect_finite
    np.testing.assert_array_equal(out[2][finite], x.min(axis=0)[finite])
    np.testing.assert_array_equal(out[3][finite], x.max(axis=0)[finite])
