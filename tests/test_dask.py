"""Dask: a fit is lazy and chunked, one pass over X per iteration.

The whole suite runs on Dask through the backend fixture (same labels as
NumPy); these tests check how it runs: how many graph computations a fit
makes, how often the input's blocks are read, and that the fitted
attributes and the predictions are Dask arrays whose graphs do not hold the
fit.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import arraykmeans as ak

da = pytest.importorskip("dask.array")
dask_callbacks = pytest.importorskip("dask.callbacks")


class _Computes(dask_callbacks.Callback):
    """Counts graph computations (``compute`` and ``persist`` calls)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def _start(self, dsk):
        self.count += 1


# Persist budgets for data read from their source: the labels of a step held
# on the workers for the next one (100 kB: the labels fit, X does not), or
# recomputed there from the centres (1 byte).
STREAMED_BUDGETS = [1, 100_000]


def _data(n=6000, d=5, k=6, seed=0):
    rng = np.random.RandomState(seed)
    centres = rng.randn(k, d) * 3
    return centres[rng.randint(0, k, n)] + rng.randn(n, d)


def _dask(X, blocks=4):
    return da.from_array(X, chunks=(-(-X.shape[0] // blocks), X.shape[1]))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("max_iter", [3, 12])
def test_computations_bounded_per_iteration(seed, max_iter):
    """A small constant for the set-up and at most two per iteration: the pass
    over X and the read of the stopping flags (both small results)."""
    X = _dask(_data(seed=seed))
    with _Computes() as counter:
        km = ak.KMeans(6, n_init=1, tol=0, max_iter=max_iter, random_state=seed)
        km.fit(X)
    assert 1 <= km.n_iter_ <= max_iter
    assert counter.count <= 10 + 2 * (km.n_iter_ + 1), (counter.count, km.n_iter_)


def test_input_blocks_read_a_bounded_number_of_times():
    """X is persisted once centred: its blocks are not recomputed per iteration."""
    X = _data()
    reads = []
    lock = threading.Lock()

    def read(block):
        if block.shape[0]:  # not Dask's probe of the output type
            with lock:
                reads.append(block.shape[0])
        return block

    Xd = _dask(X).map_blocks(read, dtype=X.dtype)
    few = ak.KMeans(6, n_init=1, tol=0, max_iter=2, random_state=0).fit(Xd)
    reads_few = len(reads)
    reads.clear()
    many = ak.KMeans(6, n_init=1, tol=0, max_iter=25, random_state=0).fit(Xd)
    assert many.n_iter_ > few.n_iter_ + 5
    # The finiteness check with the column moments, and the persisted copy.
    assert reads_few <= 2 * Xd.numblocks[0]
    assert len(reads) == reads_few


def test_results_are_dask_arrays_without_the_fit_in_their_graphs():
    X = _data()
    Xd = _dask(X)
    short = ak.KMeans(6, n_init=1, tol=0, max_iter=2, random_state=0).fit(Xd)
    long = ak.KMeans(6, n_init=1, tol=0, max_iter=20, random_state=0).fit(Xd)
    assert long.n_iter_ > short.n_iter_
    for km in (short, long):
        assert isinstance(km.labels_, da.Array)
        assert isinstance(km.cluster_centers_, da.Array)
        assert isinstance(km.inertia_, float)
    # Graphs of the same size whatever the number of iterations: computed
    # from the final centres, not from the history of the fit.
    for method in ("predict", "transform"):
        a = getattr(short, method)(Xd)
        b = getattr(long, method)(Xd)
        assert isinstance(a, da.Array)
        assert isinstance(b, da.Array)
        assert len(a.__dask_graph__()) == len(b.__dask_graph__())
    assert len(long.labels_.__dask_graph__()) <= Xd.numblocks[0] + 2
    # And they are NumPy's answers.
    ref = ak.KMeans(6, n_init=1, tol=0, max_iter=20, random_state=0).fit(X)
    np.testing.assert_array_equal(long.labels_.compute(), ref.labels_)
    np.testing.assert_array_equal(long.predict(Xd).compute(), ref.predict(X))
    np.testing.assert_allclose(long.transform(Xd).compute(), ref.transform(X))


def test_predict_is_lazy(monkeypatch):
    """predict checks X is finite (one read, as every backend does) and reads
    the small centres; the assignment itself runs only when the labels are
    computed."""
    from arraykmeans.backends import _dask as dask_backend

    X = _data()
    km = ak.KMeans(6, n_init=1, random_state=0).fit(_dask(X))
    calls = []
    original = dask_backend._labels_of_block

    def counted(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(dask_backend, "_labels_of_block", counted)
    labels = km.predict(_dask(X))
    assert isinstance(labels, da.Array)
    assert not calls
    np.testing.assert_array_equal(labels.compute(), km.labels_.compute())
    assert len(calls) == 4


@pytest.mark.parametrize("blocks", [1, 3, 7])
def test_any_blocking_gives_numpys_answer(blocks):
    X = _data(n=2100, seed=5).astype(np.float32)
    w = np.random.RandomState(1).uniform(0.5, 2, X.shape[0]).astype(np.float32)
    ref = ak.KMeans(6, random_state=3).fit(X, sample_weight=w)
    Xd = _dask(X, blocks)
    wd = da.from_array(w, chunks=max(1, X.shape[0] // (blocks + 1)))
    km = ak.KMeans(6, random_state=3).fit(Xd, sample_weight=wd)
    assert km.n_iter_ == ref.n_iter_
    np.testing.assert_array_equal(km.labels_.compute(), ref.labels_)
    assert km.cluster_centers_.dtype == np.float32
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-5)


def test_columns_in_several_blocks():
    X = _data(n=1500, d=6)
    Xd = da.from_array(X, chunks=(500, 2))
    km = ak.KMeans(4, random_state=0).fit(Xd)
    ref = ak.KMeans(4, random_state=0).fit(X)
    np.testing.assert_array_equal(km.labels_.compute(), ref.labels_)


def test_settings_reach_the_blocks(monkeypatch):
    """Settings are context variables, which Dask's worker threads do not
    inherit: the blocks run under the caller's settings."""
    from arraykmeans.backends import _dask as dask_backend

    X = _data(n=3000)
    seen = []
    host = dask_backend.numpy_backend()

    class Spy:
        def assign_chunked(self, *args, **kwargs):
            seen.append(ak.get_config()["working_memory"])
            return host.assign_chunked(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(host, name)

    monkeypatch.setattr(dask_backend, "numpy_backend", Spy)
    with ak.config_context(working_memory=7):
        ak.KMeans(3, n_init=1, max_iter=2, random_state=0).fit(_dask(X))
    assert len(seen) >= 4
    assert set(seen) == {7}


@pytest.mark.parametrize("budget", STREAMED_BUDGETS)
def test_data_larger_than_the_budget_are_read_once_per_pass(budget):
    """Data over the persist budget stay lazy: every Lloyd iteration reads each
    input block once (one pass), a fixed number of set-up passes come on top
    (the finiteness check with the column moments, the seeding, the
    final labels), and the fit is the one made with X held in memory."""
    X = _data()
    reads = []
    lock = threading.Lock()

    def read(block):
        if block.shape[0]:  # not Dask's probe of the output type
            with lock:
                reads.append(block.shape[0])
        return block

    Xd = _dask(X).map_blocks(read, dtype=X.dtype)
    blocks = Xd.numblocks[0]
    passes, iterations = [], []
    for max_iter in (2, 9):
        fit = ak.KMeans(6, n_init=1, tol=0, max_iter=max_iter, random_state=0)
        held = fit.fit(Xd)
        held_labels, held_iter = np.asarray(held.labels_), held.n_iter_
        reads.clear()
        with ak.config_context(dask_persist_bytes=budget):
            streamed = ak.KMeans(6, n_init=1, tol=0, max_iter=max_iter, random_state=0)
            streamed.fit(Xd)
        np.testing.assert_array_equal(np.asarray(streamed.labels_), held_labels)
        assert streamed.n_iter_ == held_iter
        # Whole passes (each block's moments are taken around its own shift).
        assert len(reads) % blocks == 0
        passes.append(len(reads) // blocks)
        iterations.append(streamed.n_iter_)
    assert iterations[1] > iterations[0]
    for p, i in zip(passes, iterations, strict=True):
        assert i <= p <= i + 6, (passes, iterations)


@pytest.mark.parametrize("budget", STREAMED_BUDGETS)
@pytest.mark.parametrize("max_iter", [1, 4, 8])
def test_streamed_fit_from_given_centres_is_one_pass_per_iteration(max_iter, budget):
    """From given centres, a fit of data read from their source makes one
    pass per iteration and two more: the finiteness check with the column
    moments (one pass for both) and the last assignment, which measures the
    inertia and the clusters with rows in its pass (a fit ended by unchanged
    labels has its last assignment already). Its inertia and
    labels are those of the fit with X held in memory."""
    X = _data()
    reads = []
    lock = threading.Lock()

    def read(block):
        if block.shape[0]:
            with lock:
                reads.append(block.shape[0])
        return block

    Xd = _dask(X).map_blocks(read, dtype=X.dtype)
    init = X[:6] + 0.5
    init_d = _dask(init)
    held = ak.KMeans(6, init=init_d, n_init=1, tol=0, max_iter=max_iter).fit(Xd)
    reads.clear()
    with ak.config_context(dask_persist_bytes=budget):
        km = ak.KMeans(6, init=init_d, n_init=1, tol=0, max_iter=max_iter).fit(Xd)
    # Unchanged labels end a fit without a last assignment: then n_iter_ + 1.
    passes = {(km.n_iter_ + extra) * Xd.numblocks[0] for extra in (1, 2)}
    assert len(reads) in passes, (len(reads), km.n_iter_)
    assert km.n_iter_ == held.n_iter_
    np.testing.assert_array_equal(np.asarray(km.labels_), np.asarray(held.labels_))
    assert km.inertia_ == pytest.approx(held.inertia_, rel=1e-12)
    ref = ak.KMeans(6, init=init, n_init=1, tol=0, max_iter=max_iter).fit(X)
    np.testing.assert_array_equal(np.asarray(km.labels_), ref.labels_)


def test_kmeans_parallel_passes_do_not_grow_with_the_centres():
    """k-means|| on data over the persist budget: a fixed number of passes
    over X whatever the number of centres (k-means++ makes one per centre):
    the set-up, one per round (the distances to the round's new candidates,
    the nearest-candidate update and the next candidates drawn, in one
    persist; two per round before) and one Lloyd iteration; the seeding is
    the one made with X held in memory."""
    X = _data(n=4000, k=6)
    reads = []
    lock = threading.Lock()

    def read(block):
        if block.shape[0]:
            with lock:
                reads.append(block.shape[0])
        return block

    Xd = _dask(X).map_blocks(read, dtype=X.dtype)
    blocks = Xd.numblocks[0]
    seen = {}
    for k in (4, 12):
        fit = ak.KMeans(k, init="k-means||", n_init=1, max_iter=1, random_state=0)
        held = np.asarray(fit.fit(Xd).cluster_centers_)
        reads.clear()
        with ak.config_context(dask_persist_bytes=1), _Computes() as counter:
            fit.fit(Xd)
        np.testing.assert_array_equal(np.asarray(fit.cluster_centers_), held)
        # Whole passes, and a few blocks more: the centring shift's and the
        # first candidate's.
        seen[k] = (len(reads) / blocks, counter.count)
    # The set-up pass and the shift's rows, the first candidate's gather, one
    # pass per round for 5 rounds and the last round's distances, one
    # iteration and the last assignment.
    assert seen[4][0] == seen[12][0] <= 1.5 + 1 + (5 + 1) + 2, seen


@pytest.mark.parametrize("budget", [None, *STREAMED_BUDGETS])
def test_on_a_distributed_cluster(budget):
    """With a ``distributed`` client the fit runs on its workers (labels kept
    there between passes) and gives NumPy's fit, held in memory or streamed."""
    distributed = pytest.importorskip("distributed")
    X = _data(n=3000)
    ref = ak.KMeans(6, n_init=1, random_state=0).fit(X)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster),
        ak.config_context(dask_persist_bytes=budget),
    ):
        km = ak.KMeans(6, n_init=1, random_state=0).fit(_dask(X))
        labels = np.asarray(km.labels_.compute())
        predicted = np.asarray(km.predict(_dask(X)).compute())
    np.testing.assert_array_equal(labels, ref.labels_)
    np.testing.assert_array_equal(predicted, ref.labels_)
    np.testing.assert_allclose(np.asarray(km.cluster_centers_), ref.cluster_centers_)
    assert km.n_iter_ == ref.n_iter_


@pytest.mark.parametrize("cap", [0, 1, 3])
def test_kmeans_parallel_blocks_past_their_cap_are_read_again(monkeypatch, cap):
    """A k-means|| round's blocks return a bounded number of rows that may be
    kept; a block that may have more is tested again from its held distances
    and read once more: the seeding stays the one made in memory."""
    from arraykmeans.backends import _dask as dask_backend

    X = _data(n=2000, k=5)
    ref = ak.KMeans(5, init="k-means||", n_init=1, max_iter=2, random_state=1).fit(X)
    monkeypatch.setattr(dask_backend, "_round_cap", lambda ell: cap)
    km = ak.KMeans(5, init="k-means||", n_init=1, max_iter=2, random_state=1)
    km.fit(_dask(X))
    np.testing.assert_allclose(
        np.asarray(km.cluster_centers_), ref.cluster_centers_, rtol=1e-12, atol=1e-12
    )
    np.testing.assert_array_equal(np.asarray(km.labels_), ref.labels_)


@pytest.mark.parametrize("budget", STREAMED_BUDGETS)
@pytest.mark.parametrize("d", [3, 20])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streamed_fit_is_the_held_fit_bit_for_bit(budget, d, dtype):
    """Streamed data, their labels held on the workers or recomputed between
    steps: the centres, labels and iterations are those of the fit with the
    centred X held in memory, to the last bit, with the compiled loops that
    form distances themselves (d=3) and those that take them from BLAS
    (d=20)."""
    rng = np.random.RandomState(d)
    # Off the origin (centring matters) but not far: the mean added back
    # to the centres would hide a last bit of difference.
    centres = rng.randn(40, d) * 2 + 0.5
    X = (centres[rng.randint(0, 40, 40000)] + rng.randn(40000, d)).astype(dtype)
    Xd = _dask(X, blocks=1)
    init = _dask(X[::1000])
    held = ak.KMeans(40, init=init, n_init=1, max_iter=6, tol=0).fit(Xd)
    with ak.config_context(dask_persist_bytes=budget * 2):
        km = ak.KMeans(40, init=init, n_init=1, max_iter=6, tol=0).fit(Xd)
    assert km.n_iter_ == held.n_iter_
    np.testing.assert_array_equal(
        np.asarray(km.cluster_centers_), np.asarray(held.cluster_centers_)
    )
    np.testing.assert_array_equal(np.asarray(km.labels_), np.asarray(held.labels_))
    assert km.inertia_ == pytest.approx(
        held.inertia_, rel=1e-5 if dtype == np.float32 else 1e-12
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_column_moments_in_one_read(seed, dtype):
    """The finiteness check's pass gives the centring its moments: each
    block's around its own first rows' mean, combined exactly, so that data
    far from the origin keep their variance (NumPy's to float64 rounding),
    with or without the compiled loop (the same moments to the last bit),
    whatever the blocking."""
    from array_api_compat import array_namespace

    from arraykmeans.backends import get_backend

    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(50, 5000)), int(rng.integers(1, 40))
    X = (rng.normal(size=(n, d)) * rng.uniform(0.01, 10, d) + 1e5).astype(dtype)
    Xd = da.from_array(X, chunks=(int(rng.integers(1, n + 1)), d))
    backend = get_backend(array_namespace(Xd))
    got = []
    for compiled in (True, False):
        with ak.config_context(use_compiled=compiled, compiled_min_work=0):
            low, high = backend.fit_extremes(Xd)
            Xc, mean, var = backend.centre_columns(Xd)
        assert (low, high) == (float(X.min()), float(X.max()))
        got.append((mean.compute(), var.compute()))
        np.testing.assert_array_equal(Xc.compute(), X - got[-1][0])
    np.testing.assert_array_equal(got[0][0], got[1][0])
    np.testing.assert_array_equal(got[0][1], got[1][1])
    ref = X.astype(np.float64)
    np.testing.assert_allclose(got[0][0], ref.mean(axis=0), rtol=1e-7)
    np.testing.assert_allclose(got[0][1], ref.var(axis=0), rtol=1e-9)
    assert got[0][0].dtype == X.dtype
