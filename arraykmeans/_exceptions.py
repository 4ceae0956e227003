"""Exceptions and warnings.

scikit-learn is not a dependency, but code written against it catches
``sklearn.exceptions.NotFittedError`` or filters ``ConvergenceWarning``. When
scikit-learn has already been imported by the caller, the classes raised here are
also subclasses of scikit-learn's, so that such code keeps working.
"""

from __future__ import annotations

import sys
import warnings
from functools import cache


class NotFittedError(ValueError, AttributeError):
    """Raised when a method that needs a fitted model is called before ``fit``."""


class ConvergenceWarning(UserWarning):
    """Warned when the clustering is degenerate (fewer distinct clusters than asked)."""


class InvalidParameterError(ValueError, TypeError):
    """Raised when a constructor parameter has a wrong type or value."""


class ArrayMismatchError(ValueError, TypeError):
    """Raised when arrays of different libraries or devices are mixed in one call."""


_SKLEARN_TWINS = {
    NotFittedError: "NotFittedError",
    ConvergenceWarning: "ConvergenceWarning",
    InvalidParameterError: "InvalidParameterError",
}


@cache
def _twin(cls: type, sk_cls: type) -> type:
    return type(cls.__name__, (cls, sk_cls), {"__module__": cls.__module__})


def compatible(cls: type) -> type:
    """Return ``cls``, or a subclass of it and of scikit-learn's namesake.

    scikit-learn is looked up only if the caller imported it already, so this
    never pays for importing it.
    """
    if "sklearn" not in sys.modules:
        return cls
    name = _SKLEARN_TWINS[cls]
    if cls is InvalidParameterError:
        from sklearn.utils._param_validation import InvalidParameterError as sk_cls
    else:
        import sklearn.exceptions

        sk_cls = getattr(sklearn.exceptions, name)
    return _twin(cls, sk_cls)


def warn(message: str, category: type[Warning], stacklevel: int = 2) -> None:
    """``warnings.warn`` with the scikit-learn-compatible category."""
    if category in _SKLEARN_TWINS:
        category = compatible(category)
    warnings.warn(message, category, stacklevel=stacklevel + 1)
