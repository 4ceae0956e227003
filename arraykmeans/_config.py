"""Library-wide settings: memory budget, threads, and the fast-path switches.

Settings are context-local (a :class:`contextvars.ContextVar`): :func:`set_config`
and :func:`config_context` change them for the calling thread (or asyncio task)
only, and arraykmeans' own worker threads run with the settings of the call
they work for. Tests and users switch fast paths off and on with
``config_context(use_compiled=False)``, never by changing module attributes.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral, Real
from typing import Any

__all__ = ["config_context", "get_config", "set_config"]


def _env_default_compiled() -> bool:
    # Read when the settings are first needed, not at import.
    return not os.environ.get("ARRAYKMEANS_DISABLE_NUMBA")


def _defaults() -> dict[str, Any]:
    return {
        "working_memory": 256.0,
        "n_threads": None,
        "use_compiled": _env_default_compiled(),
        "use_gpu_kernels": True,
        "use_scipy": True,
        "share_cpu_memory": True,
        "dask_persist_bytes": None,
        "compiled_min_work": 2**16,
        "thread_min_work": 2**27,
        "compact_min_problems": 8,
        "compact_ratio": 4,
        "progress": None,
    }


# The checks of each setting: (kind, lower bound, allow None).
_CHECKS: dict[str, tuple[str, float, bool]] = {
    "working_memory": ("number", 0.0, False),
    "n_threads": ("int", 1, True),
    "use_compiled": ("bool", 0, False),
    "use_gpu_kernels": ("bool", 0, False),
    "use_scipy": ("bool", 0, False),
    "share_cpu_memory": ("bool", 0, False),
    "dask_persist_bytes": ("number", 0.0, True),
    "compiled_min_work": ("int", 0, False),
    "thread_min_work": ("int", 0, False),
    "compact_min_problems": ("int", 1, False),
    "compact_ratio": ("number", 0.0, False),
    "progress": ("callable", 0, True),
}

_settings_var: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "arraykmeans_settings"
)


def _settings() -> dict[str, Any]:
    """The current settings (not a copy: read it, never write it)."""
    try:
        return _settings_var.get()
    except LookupError:
        settings = _defaults()
        _settings_var.set(settings)
        return settings


def _use(settings: dict[str, Any]) -> None:
    """Make ``settings`` current in this context (worker threads use it)."""
    _settings_var.set(dict(settings))


def get_config() -> dict[str, Any]:
    """Return a copy of the current settings (of the calling thread or task).

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
        ``use_compiled`` : bool
            Use the compiled (numba) loops on NumPy where they apply. Default
            True, or False when the environment variable
            ``ARRAYKMEANS_DISABLE_NUMBA`` is set.
        ``use_gpu_kernels`` : bool
            Use arraykmeans' CUDA kernels on CuPy (float32/float64). Default True.
        ``use_scipy`` : bool
            Use SciPy's sparse products for centre sums on NumPy when SciPy is
            installed. Default True.
        ``share_cpu_memory`` : bool
            Fit PyTorch tensors and JAX arrays on the CPU (float32, float64)
            with the NumPy backend on their own memory (no copy), results
            returned in their library; False: with the library's own
            operations (as on an accelerator). Default True.
        ``dask_persist_bytes`` : float or None
            A Dask X up to this many bytes is held in memory (persisted) once
            centred; larger ones are read from their source on every pass.
            None (the default): half the memory of the current ``distributed``
            client's workers, or of this machine's available memory.
        ``compiled_min_work`` : int
            Calls doing less work than this (multiply-adds of an assignment
            step, elements of a pass) use plain NumPy and never load numba.
            Default 65536.
        ``thread_min_work`` : int
            Assignment steps of fewer multiply-adds run in the caller's thread.
            Default 2**27.
        ``compact_min_problems``, ``compact_ratio`` : int, float
            A batched fit drops finished problems from its working stack once
            at least ``compact_min_problems`` problems are stacked and at most
            1/``compact_ratio`` of them still run. Defaults 8 and 4.

        ``progress`` : callable or None
            Called as ``progress(event, info)`` while a fit runs (the
            command line's progress bar uses it): ``"init"`` before each
            run's initialisation, ``"iteration"`` after each Lloyd
            assignment (``info["inertia"]``: the inertia of the centres
            just assigned to, which costs a pass over X per iteration, as
            ``verbose`` does), ``"run"`` when a run ends, and ``"step"``
            after each mini-batch step (``info["inertia"]``: the batch's
            mean inertia). ``info`` is a dict (``run``, ``n_init``,
            ``iteration``, ``n_iter``, ``step``, ``n_steps``, ``inertia``
            as they apply). Default None.

        None of these settings changes results, only how they are computed.

    Examples
    --------
    >>> import arraykmeans
    >>> arraykmeans.get_config()["working_memory"]
    256.0
    """
    return dict(_settings())


def _checked(name: str, value: Any) -> Any:
    if name not in _CHECKS:
        raise TypeError(
            f"{name!r} is not a setting; the settings are {sorted(_CHECKS)}."
        )
    kind, low, allow_none = _CHECKS[name]
    if value is None and allow_none:
        return None
    if kind == "callable":
        if not callable(value):
            raise TypeError(f"{name} must be a callable or None, got {value!r}.")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {value!r}.")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, Integral):
            what = "a positive integer or None" if allow_none else "an integer"
            raise TypeError(f"{name} must be {what}, got {value!r}.")
        if value < low:
            raise ValueError(f"{name} must be at least {low}, got {value!r}.")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, Real):
        unit = " of MiB" if name == "working_memory" else ""
        raise TypeError(f"{name} must be a number{unit}, got {value!r}.")
    if not value > low:
        raise ValueError(f"{name} must be positive, got {value!r}.")
    return float(value)


def set_config(**settings: Any) -> None:
    """Change settings for the current thread (or asyncio task).

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
        everything runs in the caller's thread.
    use_compiled, use_gpu_kernels, use_scipy : bool, optional
        Switch a fast path off (or back on). Results are the same labels either
        way (the fast paths are tested against the plain array code).
    share_cpu_memory : bool, optional
        Fit PyTorch/JAX CPU arrays with the NumPy backend on their memory
        (True, the default) or with their own operations; see :func:`get_config`.
    dask_persist_bytes : float or None, optional
        The largest Dask X held in memory during a fit; see :func:`get_config`.
    compiled_min_work, thread_min_work, compact_min_problems, compact_ratio : optional
        Tuning thresholds; see :func:`get_config`.
    progress : callable or None, optional
        A callback for a fit's progress, ``progress(event, info)``; see
        :func:`get_config`. None switches it off.

    Settings not given are unchanged.

    Raises
    ------
    TypeError
        If a name is not a setting, or a value has the wrong type.
    ValueError
        If a value is out of range (``working_memory`` not positive,
        ``n_threads`` below 1, ...).
    """
    # Validated first, so that a bad value changes nothing. None leaves a
    # setting unchanged, except n_threads and progress, where it is the default.
    checked = {
        name: _checked(name, value)
        for name, value in settings.items()
        if value is not None or name in ("n_threads", "progress")
    }
    new = dict(_settings())
    new.update(checked)
    _settings_var.set(new)


@contextmanager
def config_context(**settings: Any) -> Iterator[None]:
    """Temporarily change settings inside a ``with`` block.

    The previous settings come back on exit, also when the block raises.

    Parameters
    ----------
    **settings
        See :func:`set_config`.

    Examples
    --------
    >>> import arraykmeans
    >>> with arraykmeans.config_context(working_memory=32):
    ...     arraykmeans.get_config()["working_memory"]
    32.0
    >>> with arraykmeans.config_context(use_compiled=False):
    ...     arraykmeans.get_config()["use_compiled"]
    False
    """
    old = _settings()
    set_config(**settings)
    try:
        yield
    finally:
        _settings_var.set(old)


def _report(event: str, **info: Any) -> None:
    """Tell the ``progress`` callback, if one is set, of ``event``."""
    callback = _settings()["progress"]
    if callback is not None:
        callback(event, info)


def _reporting() -> bool:
    """Whether a ``progress`` callback is set."""
    return _settings()["progress"] is not None
