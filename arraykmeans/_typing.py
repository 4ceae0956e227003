"""The types of the public API, for type checkers (the package has ``py.typed``).

Arrays come from many libraries (NumPy, CuPy, PyTorch, JAX, Dask,
array-api-strict), so the API speaks of them structurally: :class:`Array` is
anything with a ``shape`` and a ``dtype``; inputs may also be data frames and
nested sequences (converted with NumPy, as scikit-learn does). Results are
arrays of the input's library, typed :class:`Array`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["Array", "ArrayLike", "DataFrameLike", "SampleWeight"]


class Array(Protocol):
    """An array of any Array API library (or one array-api-compat wraps)."""

    @property
    def shape(self) -> tuple[Any, ...]: ...

    @property
    def dtype(self) -> Any: ...


class DataFrameLike(Protocol):
    """A pandas or polars ``DataFrame``: its values are fitted, its column
    names checked (``feature_names_in_``)."""

    @property
    def shape(self) -> tuple[int, int]: ...

    @property
    def columns(self) -> Any: ...


#: What the estimators take as data.
ArrayLike = Array | DataFrameLike | Sequence[Sequence[float]]

#: Sample weights: an array (or sequence) of one weight per row, a scalar, or None.
SampleWeight = Array | Sequence[float] | float | None
