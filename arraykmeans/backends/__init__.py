"""Backends: the one place that knows which array library it runs on.

:func:`get_backend` is the single dispatch point. It is called once per public
call with the input's namespace and returns an object exposing the few
operations the algorithm needs (chunked assignment with optional sums, segment
sums, distances, selections, host <-> device copies). The algorithm
(:mod:`arraykmeans.algorithm`) calls only these methods and ``xp.*`` functions.

The pure-standard implementation (:class:`StandardBackend`) is the base; the
NumPy (with numba), CuPy, PyTorch, JAX and Dask backends subclass it and
override only what their library makes faster or possible.
"""

from __future__ import annotations

import functools
from types import ModuleType

from array_api_compat import (
    is_cupy_namespace,
    is_dask_namespace,
    is_jax_namespace,
    is_numpy_namespace,
    is_torch_namespace,
)

from ._standard import (
    MIN_CHUNK_ROWS,
    Assignment,
    StandardBackend,
    ceil_log2,
    device_of,
    itemsize,
    iter_chunks,
    working_memory_bytes,
)

__all__ = [
    "MIN_CHUNK_ROWS",
    "Assignment",
    "StandardBackend",
    "ceil_log2",
    "device_of",
    "get_backend",
    "itemsize",
    "iter_chunks",
    "legacy_uniforms",
    "numpy_backend",
    "to_numpy",
    "working_memory_bytes",
]


@functools.cache
def get_backend(xp: ModuleType) -> StandardBackend:
    """The backend for arrays of namespace ``xp`` (as returned by
    ``array_api_compat.array_namespace``).

    Libraries without a backend of their own get :class:`StandardBackend`.
    """
    if is_numpy_namespace(xp):
        from ._numpy import NumpyBackend

        return NumpyBackend(xp)
    if is_cupy_namespace(xp):
        from ._cupy import CupyBackend

        return CupyBackend(xp)
    if is_torch_namespace(xp):
        from ._torch import TorchBackend

        return TorchBackend(xp)
    if is_jax_namespace(xp):
        from ._jax import JaxBackend

        return JaxBackend(xp)
    if is_dask_namespace(xp):
        from ._dask import DaskBackend

        return DaskBackend(xp)
    return StandardBackend(xp)


def numpy_backend() -> StandardBackend:
    """The NumPy backend, which the lazy and the CPU tensor backends hand
    their passes over X to (on the same memory where they can)."""
    import array_api_compat.numpy as np_xp

    return get_backend(np_xp)


def to_numpy(a):
    """Any array of a supported library (or a NumPy one) as a NumPy array on
    the host: a copy from a device, the array itself where it is NumPy's."""
    import numpy as np
    from array_api_compat import array_namespace

    if isinstance(a, np.ndarray):
        return a
    return np.asarray(get_backend(array_namespace(a)).to_host(a))


def legacy_uniforms(seeds, count, *, work=None):
    """Row b = ``numpy.random.RandomState(seeds[b]).random_sample(count)`` (host).

    See :func:`arraykmeans.backends._numpy.legacy_uniforms`.
    """
    from ._numpy import legacy_uniforms as draw

    return draw(seeds, count, work=work)
