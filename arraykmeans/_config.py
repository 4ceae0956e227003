"""Library-wide settings: the working-memory budget and the number of threads.

Settings are thread-local: :func:`set_config` and :func:`config_context` change
them for the calling thread only (arraykmeans' own worker threads run with the
settings of the call they work for).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral
from typing import Any

_DEFAULTS: dict[str, Any] = {"working_memory": 256, "n_threads": None}
_local = threading.local()
# ``n_threads=None`` is a value (back to the default), so "not given" needs its own
# marker.
_UNCHANGED: Any = type("_Unchanged", (), {"__repr__": lambda self: "<unchanged>"})()


def _settings() -> dict[str, Any]:
    if not hasattr(_local, "settings"):
        _local.settings = dict(_DEFAULTS)
    return _local.settings


def get_config() -> dict[str, Any]:
    """Return a copy of the current settings (of the calling thread).

    Returns
    -------
    config : dict
        ``working_memory`` : float
            Budget in MiB for the temporary arrays of one chunk (distance block,
            one-hot block, gathered rows). The data itself, its centred copy and the
            outputs are not counted. Default 256.
        ``n_threads`` : int or None
            The most worker threads one call uses on the CPU (NumPy). None (the
            default): as many as the CPUs this process may run on, and no more
            than :mod:`threadpoolctl` currently allows (the smallest thread
            count of the loaded BLAS and OpenMP libraries, so that
            ``threadpool_limits(1)`` means one thread). See :func:`set_config`.

    Examples
    --------
    >>> import arraykmeans
    >>> sorted(arraykmeans.get_config())
    ['n_threads', 'working_memory']
    """
    return dict(_settings())


def set_config(
    *, working_memory: float | None = None, n_threads: int | None = _UNCHANGED
) -> None:
    """Change settings for the current thread.

    Parameters
    ----------
    working_memory : float, optional
        Budget in MiB for chunk temporaries. Larger chunks amortise per-call
        overhead (useful on GPUs); smaller chunks stay in cache and lower peak
        memory. Must be positive.
    n_threads : int or None, optional
        The most threads one arraykmeans call computes with on the CPU (NumPy
        fast paths: assignment steps, centring, batched k-means++ and
        inertia). Work is dealt, a piece at a time, to this many threads (the
        caller's and arraykmeans' own pool), or done in the caller's thread
        when it is too small to share; BLAS is held to one thread in these
        paths and in the k-means++ seeding, so that the call uses at most
        ``n_threads`` cores. ``None`` restores the default: the CPUs this
        process may run on, capped by what :mod:`threadpoolctl` currently
        allows (so ``threadpool_limits(1)`` runs everything in the caller's
        thread). Results do not depend on it. Other BLAS calls (``transform``,
        ``score``) follow threadpoolctl's limits; other backends (CuPy,
        PyTorch, ...) manage their own threads. Without threadpoolctl installed
        everything runs in the caller's thread. Not given: unchanged.

    Raises
    ------
    TypeError
        If ``working_memory`` is not a number or ``n_threads`` not an integer.
    ValueError
        If ``working_memory`` is not positive or ``n_threads`` is below 1.
    """
    if working_memory is not None:
        if isinstance(working_memory, bool) or not isinstance(
            working_memory, (int, float)
        ):
            raise TypeError(
                f"working_memory must be a number of MiB, got {working_memory!r}."
            )
        if not working_memory > 0:
            raise ValueError(
                f"working_memory must be positive, got {working_memory!r}."
            )
    if n_threads is not _UNCHANGED and n_threads is not None:
        if isinstance(n_threads, bool) or not isinstance(n_threads, Integral):
            raise TypeError(
                f"n_threads must be a positive integer or None, got {n_threads!r}."
            )
        if n_threads < 1:
            raise ValueError(f"n_threads must be at least 1, got {n_threads!r}.")
    # Validated first, so that a bad value changes nothing.
    if working_memory is not None:
        _settings()["working_memory"] = float(working_memory)
    if n_threads is not _UNCHANGED:
        _settings()["n_threads"] = None if n_threads is None else int(n_threads)


@contextmanager
def config_context(
    *, working_memory: float | None = None, n_threads: int | None = _UNCHANGED
) -> Iterator[None]:
    """Temporarily change settings inside a ``with`` block.

    The previous settings come back on exit, also when the block raises.

    Parameters
    ----------
    working_memory : float, optional
        See :func:`set_config`.
    n_threads : int or None, optional
        See :func:`set_config`.

    Examples
    --------
    >>> import arraykmeans
    >>> with arraykmeans.config_context(working_memory=32):
    ...     arraykmeans.get_config()["working_memory"]
    32.0
    >>> with arraykmeans.config_context(n_threads=1):
    ...     arraykmeans.get_config()["n_threads"]
    1
    """
    old = get_config()
    set_config(working_memory=working_memory, n_threads=n_threads)
    try:
        yield
    finally:
        _settings().clear()
        _settings().update(old)
