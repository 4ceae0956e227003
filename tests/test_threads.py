"""Threads: the ``n_threads`` setting, threadpoolctl's limits, BLAS limits restored.

NumPy only: the other backends manage their own threads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import arraykmeans as ak
from arraykmeans.backends import _threads

threadpoolctl = pytest.importorskip("threadpoolctl")

REPO = Path(__file__).resolve().parent.parent


def _blas_threads() -> dict[str, int]:
    """Thread count of every loaded BLAS library, by file."""
    return {
        pool["filepath"]: pool["num_threads"]
        for pool in threadpoolctl.threadpool_info()
        if pool["user_api"] == "blas"
    }


def _can_thread() -> bool:
    """Whether a default call here would use more than one thread."""
    return _threads.cpu_count() > 1 and min(_blas_threads().values(), default=1) > 1


# ---------------------------------------------------------------- the setting


class TestNThreadsSetting:
    def test_default_is_none(self):
        assert ak.get_config()["n_threads"] is None

    @pytest.mark.parametrize("value", [1.0, "2", True, [2]])
    def test_not_an_integer(self, value):
        with pytest.raises(TypeError, match="n_threads"):
            ak.set_config(n_threads=value)
        with (
            pytest.raises(TypeError, match="n_threads"),
            ak.config_context(n_threads=value),
        ):
            pass  # pragma: no cover - not reached
        assert ak.get_config()["n_threads"] is None

    @pytest.mark.parametrize("value", [0, -1])
    def test_below_one(self, value):
        with pytest.raises(ValueError, match="n_threads"):
            ak.set_config(n_threads=value)
        assert ak.get_config()["n_threads"] is None

    def test_bad_value_changes_nothing(self):
        before = ak.get_config()
        with pytest.raises(ValueError, match="n_threads"):
            ak.set_config(working_memory=8, n_threads=0)
        assert ak.get_config() == before
        assert before["working_memory"] == 256
        assert before["n_threads"] is None

    def test_context_sets_and_restores(self):
        with ak.config_context(n_threads=np.int64(3)):
            assert ak.get_config()["n_threads"] == 3
            assert type(ak.get_config()["n_threads"]) is int
            with ak.config_context(working_memory=16):
                assert ak.get_config()["n_threads"] == 3  # not given: unchanged
            with ak.config_context(n_threads=None):
                assert ak.get_config()["n_threads"] is None
            assert ak.get_config()["n_threads"] == 3
        assert ak.get_config()["n_threads"] is None

    def test_context_restores_after_an_exception(self):
        with pytest.raises(RuntimeError), ak.config_context(n_threads=2):
            raise RuntimeError
        assert ak.get_config()["n_threads"] is None

    def test_set_config_none_restores_the_default(self):
        with ak.config_context():
            ak.set_config(n_threads=2)
            assert ak.get_config()["n_threads"] == 2
            ak.set_config(n_threads=None)
            assert ak.get_config()["n_threads"] is None

    def test_thread_local(self):
        seen = []
        with ak.config_context(n_threads=2):
            other = threading.Thread(
                target=lambda: seen.append(ak.get_config()["n_threads"])
            )
            other.start()
            other.join()
        assert seen == [None]


# ---------------------------------------------------------------- threads used


class TestWorkerThreads:
    def test_config_decides(self):
        for n in (1, 2, 5):
            with ak.config_context(n_threads=n):
                assert _threads.worker_threads() == n
        with threadpoolctl.threadpool_limits(1), ak.config_context(n_threads=2):
            assert _threads.worker_threads() == 2  # an explicit setting wins

    def test_threadpool_limits_honoured(self):
        with threadpoolctl.threadpool_limits(1):
            assert _threads.worker_threads() == 1
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            assert _threads.worker_threads() == 1

    def test_default_is_cpus_within_blas_limit(self):
        expected = min(_threads.cpu_count(), *_blas_threads().values())
        assert _threads.worker_threads() == expected

    def test_pool_map_on_one_thread_stays_in_caller(self):
        names = []

        def work(i):
            names.append(threading.current_thread().name)
            return i * i

        with threadpoolctl.threadpool_limits(1):
            assert _threads.pool_map(work, range(20), hold_blas=True) == [
                i * i for i in range(20)
            ]
        with ak.config_context(n_threads=1):
            _threads.pool_map(work, range(20))
        assert set(names) == {threading.current_thread().name}

    def test_pool_map_order_and_errors(self):
        with ak.config_context(n_threads=3):
            out = _threads.pool_map(
                lambda i: (i, ak.get_config()["n_threads"]), range(50)
            )
            # Items come back in order, and workers see the caller's settings.
            assert out == [(i, 3) for i in range(50)]

            def fail(i):
                if i == 7:
                    raise KeyError(i)
                return i

            with pytest.raises(KeyError):
                _threads.pool_map(fail, range(30))

    def test_no_pool_threads_under_threadpool_limits_one(self):
        """A fresh interpreter: no arraykmeans thread appears during a fit under
        ``threadpool_limits(1)`` (one does afterwards without the limit)."""
        script = textwrap.dedent(
            """
            import threading
            import numpy as np
            import threadpoolctl
            import arraykmeans as ak

            def ours():
                return [t.name for t in threading.enumerate()
                        if t.name.startswith("arraykmeans")]

            X = np.random.RandomState(0).randn(70000, 16).astype(np.float32)
            seen = []
            with threadpoolctl.threadpool_limits(1):
                km = ak.KMeans(32, n_init=1, max_iter=3, random_state=0)
                km.fit(X)
                seen += ours()
                ak.BatchedKMeans(4, max_iter=3, random_state=0).fit(
                    X[:60000].reshape(60, 1000, 16)
                )
                seen += ours()
            print("limited", len(seen))
            ak.KMeans(32, n_init=1, max_iter=3, random_state=0).fit(X)
            print("unlimited", len(ours()))
            """
        )
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        ).stdout.split()
        assert out[:2] == ["limited", "0"]
        if _can_thread():
            assert out[2] == "unlimited"
            assert int(out[3]) >= 1  # the check above can fail


# ---------------------------------------------------------------- BLAS limits


class TestBlasLimit:
    def test_overlapping_holds_restore_the_first_value(self):
        if not _can_thread():
            pytest.skip("BLAS runs one thread here")
        before = _blas_threads()
        entered, release = threading.Barrier(2), threading.Event()

        def hold():
            with _threads.blas_limit(1):
                entered.wait()
                release.wait()

        other = threading.Thread(target=hold)
        other.start()
        with _threads.blas_limit(1):
            entered.wait()
            assert max(_blas_threads().values()) == 1
            # While held, the threads a call may use are counted from the
            # value BLAS had before.
            assert _threads.worker_threads() == min(
                _threads.cpu_count(), *before.values()
            )
        assert max(_blas_threads().values()) == 1  # the other hold is still on
        release.set()
        other.join()
        assert _blas_threads() == before

    @pytest.mark.parametrize("n_threads", [1, 2])
    def test_pool_map_holds_blas_to_one_thread(self, n_threads):
        """In the caller's thread alone too: cache-sized products on several
        BLAS threads were up to 5x slower on a busy machine."""
        if not _can_thread():
            pytest.skip("BLAS runs one thread here")
        before = _blas_threads()
        seen = []

        def work(i):
            seen.append(max(_blas_threads().values()))
            return i

        with ak.config_context(n_threads=n_threads):
            _threads.pool_map(work, range(6), hold_blas=True)
            assert _blas_threads() == before
            _threads.pool_map(work, range(6))
        assert seen == [1] * 6 + [max(before.values())] * 6

    def test_concurrent_fits_restore_blas(self):
        """Eight batched fits at once from the user's own threads, alone and
        inside threadpool_limits(2): BLAS ends as it was."""
        X = np.random.RandomState(0).randn(200, 500, 8).astype(np.float32)

        def fit(seed):
            return ak.BatchedKMeans(8, max_iter=20, random_state=seed).fit(X).labels_

        fit(0)  # loads whatever a fit loads (SciPy's BLAS, through numba)
        before = _blas_threads()

        for _ in range(2):
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(fit, range(8)))
            assert _blas_threads() == before
        with threadpoolctl.threadpool_limits(2):
            inside = _blas_threads()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(fit, range(8)))
            assert _blas_threads() == inside
        assert _blas_threads() == before

    def test_fit_restores_a_users_limit(self):
        X = np.random.RandomState(1).randn(70000, 16).astype(np.float32)
        with threadpoolctl.threadpool_limits(2, user_api="blas"):
            inside = _blas_threads()
            ak.KMeans(32, n_init=1, max_iter=3, random_state=0).fit(X)
            assert _blas_threads() == inside


# ------------------------------------------------- results whatever the threads


def _thread_settings():
    """Contexts: one thread (config), two threads (config), threadpool_limits(1)."""
    return {
        "n_threads=1": lambda: ak.config_context(n_threads=1),
        "n_threads=2": lambda: ak.config_context(n_threads=2),
        "n_threads=3": lambda: ak.config_context(n_threads=3),
        "threadpool_limits(1)": lambda: threadpoolctl.threadpool_limits(1),
    }


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("d", "seed"),
    [(16, 0), (20, 1)],
    ids=["direct-loop", "blas-blocks"],
)
def test_kmeans_same_result_whatever_the_threads(dtype, d, seed):
    """Labels, centres and inertia are bit-identical for any thread count (the
    data is big enough for the pool: 70000 rows)."""
    X = np.random.RandomState(seed).randn(70000, d).astype(dtype)
    results = {}
    for name, context in _thread_settings().items():
        with context():
            km = ak.KMeans(32, n_init=1, max_iter=8, tol=0, random_state=seed).fit(X)
        results[name] = km
    ref = results.pop("n_threads=1")
    for name, km in results.items():
        np.testing.assert_array_equal(km.labels_, ref.labels_, err_msg=name)
        np.testing.assert_array_equal(
            km.cluster_centers_, ref.cluster_centers_, err_msg=name
        )
        assert km.inertia_ == ref.inertia_, name


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batched_same_result_whatever_the_threads(dtype):
    X = np.random.RandomState(3).randn(120, 400, 12).astype(dtype)
    results = {}
    for name, context in _thread_settings().items():
        with context():
            results[name] = ak.BatchedKMeans(6, max_iter=10, random_state=0).fit(X)
    ref = results.pop("n_threads=1")
    for name, km in results.items():
        np.testing.assert_array_equal(km.labels_, ref.labels_, err_msg=name)
        np.testing.assert_array_equal(
            km.cluster_centers_, ref.cluster_centers_, err_msg=name
        )
        np.testing.assert_array_equal(km.inertia_, ref.inertia_, err_msg=name)
