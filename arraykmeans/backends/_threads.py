"""Worker threads for the NumPy fast paths, and BLAS limits that restore what they found.

How many threads a call computes with (:func:`worker_threads`): ``n_threads`` from
the config when set; otherwise the CPUs this process may run on, capped by what
:mod:`threadpoolctl` allows at the moment of the call: the smallest thread count
among the BLAS and OpenMP libraries loaded when arraykmeans first looked (as
scikit-learn follows OpenMP's ``omp_get_max_threads``). So
``threadpool_limits(1)``, and the limits joblib and Dask set in their workers, keep
arraykmeans in the caller's thread. Without threadpoolctl there is no pool.

Work is split into more pieces than threads and the pieces are handed out one
at a time (:func:`pool_map`): a thread that the operating system sets aside (a
busy machine) holds up one piece, not a fixed share of the work. Each piece's
result is kept in its slot and callers combine them in piece order, so results
do not depend on the thread count or on timing.

While several threads run BLAS products, BLAS itself is held to one thread
(:func:`blas_limit`). The limit is process-wide, so concurrent and nested holders
share one count under one lock: the first lowers (remembering each library's
value), the last restores exactly what the first found. A BLAS threaded by
OpenMP takes its limit per calling thread; the hold leaves it alone (its
count still caps the worker threads).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import _config

_state_lock = threading.Lock()  # creation of the pool and of the controller
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
# (library controller, is BLAS) for the BLAS and OpenMP libraries; None until
# first needed, False without threadpoolctl.
_libraries: Any = None
# Marks arraykmeans' worker threads (and a caller while it works on pieces):
# work started from them runs where it is, never waits on the pool.
_worker = threading.local()

# The process-wide BLAS hold.
_hold_lock = threading.Lock()
_hold_count = 0
_hold_saved: dict[Any, int] = {}  # library controller -> thread count before


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _threadpool_libraries() -> list[tuple[Any, bool]] | None:
    """The loaded BLAS/OpenMP libraries, found once (about 0.5 ms), or None."""
    global _libraries
    if _libraries is None:
        with _state_lock:
            if _libraries is None:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:
                    _libraries = False
                else:
                    _libraries = [
                        (lib, _is_process_wide_blas(lib))
                        for lib in ThreadpoolController().lib_controllers
                        if lib.user_api in ("blas", "openmp")
                    ]
    return _libraries or None


def _is_process_wide_blas(lib: Any) -> bool:
    # A BLAS on an OpenMP threading layer takes its limit per calling thread
    # (threadpoolctl sets it through OpenMP): its count is read like OpenMP's,
    # and a hold, which saves in one thread and restores in another, leaves it
    # alone.
    return lib.user_api == "blas" and getattr(lib, "threading_layer", None) != "openmp"


def worker_threads() -> int:
    """The number of threads a call may compute with now (1: the caller's alone).

    ``n_threads`` from the config when set, else the smaller of :func:`cpu_count`
    and the current thread count of every BLAS and OpenMP library known to
    threadpoolctl (a BLAS library that arraykmeans holds to one thread counts
    with the value it had before; an OpenMP-threaded BLAS, limited per thread,
    with the calling thread's value). 1 without threadpoolctl. A few microseconds.
    """
    libraries = _threadpool_libraries()
    if libraries is None:
        return 1
    configured = _config._settings()["n_threads"]
    if configured is not None:
        return configured
    allowed = cpu_count()
    for lib, shared in libraries:
        n = _hold_saved.get(lib) if shared else None
        if n is None:
            n = lib.get_num_threads()
        if n is not None and n >= 1:
            allowed = min(allowed, n)
    return allowed


# ------------------------------------------------------------------ BLAS limit


@contextlib.contextmanager
def blas_limit(limit: int) -> Iterator[None]:
    """Hold every BLAS library to at most ``limit`` threads inside the block.

    Only lowers: a library already at or below ``limit`` is not touched (nor is
    anything without threadpoolctl). Holds from any thread share one count; the
    last one out restores each lowered library to the value it had before the
    first hold lowered it, so concurrent and nested holds leave BLAS as they
    found it. A user's ``threadpool_limits`` entered and left inside a hold is
    restored by threadpoolctl itself.
    """
    libraries = _threadpool_libraries()
    if libraries is None:
        yield
        return
    _enter_hold(libraries, limit)
    try:
        yield
    finally:
        _leave_hold()


def _enter_hold(libraries: list[tuple[Any, bool]], limit: int) -> None:
    global _hold_count
    with _hold_lock:
        _hold_count += 1
        for lib, shared in libraries:
            if not shared:
                continue
            current = lib.get_num_threads()
            if current is None or current <= limit:
                continue
            lib.set_num_threads(limit)
            # threadpoolctl >= 3.8 lets one thread at a time (the first to set,
            # until it lets go) change a process-wide OpenBLAS; while a user's
            # threadpool_limits in another thread has it, nothing changes, and
            # nothing is restored later either.
            if lib.get_num_threads() == limit:
                _hold_saved.setdefault(lib, current)


def _leave_hold() -> None:
    global _hold_count
    with _hold_lock:
        _hold_count -= 1
        if _hold_count == 0:
            for lib, n in _hold_saved.items():
                _restore(lib, n)
            _hold_saved.clear()


def _restore(lib: Any, n: int) -> None:
    # The thread that lowered keeps threadpoolctl's control for the whole hold,
    # so that a threadpool_limits entered meanwhile in another thread neither
    # changes BLAS nor later "restores" the lowered value; the last thread out,
    # whichever it is, takes control over, restores and lets go.
    let_go = getattr(type(lib), "clear_controlling_thread", None)
    if let_go is not None:
        let_go(force=True)
    lib.set_num_threads(n)
    if let_go is not None:
        let_go()


# ------------------------------------------------------------------ the pool


def pool_map(
    work: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    hold_blas: bool = False,
    parallel: bool = True,
) -> list[Any]:
    """``[work(item) for item in items]``, the items shared among worker threads.

    Up to :func:`worker_threads` threads (the caller included) take the items
    one at a time, so a thread slowed by other processes holds up one item
    only; results come back in item order. Runs in the caller's thread when one
    thread is allowed, when there is a single item, when ``parallel`` is false
    or when called from a worker. ``hold_blas``: the items call BLAS on
    products big enough for it to start its threads; BLAS is then held to one
    thread meanwhile, in the caller's thread alone too (BLAS splitting each
    cache-sized product gained at most a quarter on an idle machine, and took
    up to 5x the time when another process kept a core busy).
    """
    items = list(items)
    workers = 1
    if parallel and len(items) > 1 and not getattr(_worker, "active", False):
        workers = min(len(items), worker_threads())
    if workers <= 1:
        if not hold_blas:
            return [work(item) for item in items]
        with blas_limit(1):
            return [work(item) for item in items]
    if not hold_blas:
        return _shared(work, items, workers)
    with blas_limit(1):
        return _shared(work, items, workers)


def _get_pool(size: int) -> ThreadPoolExecutor:
    """A pool of at least ``size`` threads (started as needed), kept between calls."""
    global _pool, _pool_size
    with _state_lock:
        if _pool is None or _pool_size < size:
            # A call still using the smaller pool keeps it alive; its idle
            # threads end once it is dropped.
            _pool = ThreadPoolExecutor(
                max_workers=size, thread_name_prefix="arraykmeans"
            )
            _pool_size = size
        return _pool


def _shared(work: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """Run ``work`` over ``items`` on ``workers`` threads: the caller and a pool."""
    results: list[Any] = [None] * len(items)
    next_index = itertools.count().__next__
    take_lock = threading.Lock()
    failures: list[BaseException] = []
    settings = dict(_config._settings())

    def take() -> None:
        while not failures:
            with take_lock:
                i = next_index()
            if i >= len(items):
                return
            try:
                results[i] = work(items[i])
            except BaseException as exc:
                failures.append(exc)
                raise

    def take_in_worker() -> None:
        # Pool threads work with the settings of the call they serve.
        _config._use(settings)
        _worker.active = True
        take()

    pool = _get_pool(workers - 1)
    futures = [pool.submit(take_in_worker) for _ in range(workers - 1)]
    was_active = getattr(_worker, "active", False)
    _worker.active = True
    try:
        take()
    finally:
        _worker.active = was_active
        for future in futures:
            future.exception()  # waits; the first failure is raised below
    if failures:
        raise failures[0]
    return results


def _after_fork_in_child() -> None:
    # A forked child has the objects but not the threads: start afresh, with
    # fresh locks (another thread may have held one at the fork), and give BLAS
    # back the thread counts a hold in the parent had lowered.
    global _pool, _pool_size, _state_lock, _hold_lock, _hold_count
    _pool, _pool_size = None, 0
    _state_lock, _hold_lock = threading.Lock(), threading.Lock()
    _hold_count = 0
    for lib, n in list(_hold_saved.items()):
        with contextlib.suppress(Exception):  # a library that cannot be set
            lib.set_num_threads(n)
    _hold_saved.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
