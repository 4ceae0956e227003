"""Library-wide settings: the working-memory budget for chunked computations."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_DEFAULTS: dict[str, Any] = {"working_memory": 256}
_local = threading.local()


def _settings() -> dict[str, Any]:
    if not hasattr(_local, "settings"):
        _local.settings = dict(_DEFAULTS)
    return _local.settings


def get_config() -> dict[str, Any]:
    """Return a copy of the current settings.

    Returns
    -------
    config : dict
        ``working_memory`` : float
            Budget in MiB for the temporary arrays of one chunk (distance block,
            one-hot block, gathered rows). The data itself, its centred copy and the
            outputs are not counted. Default 256.
    """
    return dict(_settings())


def set_config(*, working_memory: float | None = None) -> None:
    """Change settings for the current thread.

    Parameters
    ----------
    working_memory : float, optional
        Budget in MiB for chunk temporaries. Larger chunks amortise per-call
        overhead (useful on GPUs); smaller chunks stay in cache and lower peak
        memory. Must be positive.
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
        _settings()["working_memory"] = float(working_memory)


@contextmanager
def config_context(*, working_memory: float | None = None) -> Iterator[None]:
    """Temporarily change settings inside a ``with`` block.

    Parameters
    ----------
    working_memory : float, optional
        See :func:`set_config`.

    Examples
    --------
    >>> import arraykmeans
    >>> with arraykmeans.config_context(working_memory=32):
    ...     arraykmeans.get_config()["working_memory"]
    32.0
    """
    old = get_config()
    set_config(working_memory=working_memory)
    try:
        yield
    finally:
        _settings().clear()
        _settings().update(old)
