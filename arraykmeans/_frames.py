"""Data frames in and out: feature names, the values of nullable columns, and
``set_output`` (scikit-learn's conventions, messages and warnings).

A pandas or polars ``DataFrame`` is fitted on its values. Its column names,
when they are all strings, are kept as ``feature_names_in_`` and checked on
later calls; ``set_output(transform="pandas")`` (or ``"polars"``) makes
``transform`` and ``fit_transform`` return a frame of that library, with the
names of :meth:`get_feature_names_out` and the input's index.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj

OUTPUTS = ("default", "pandas", "polars")


def _is_frame(X: Any) -> bool:
    """A pandas or polars DataFrame (not an array of any library)."""
    if is_array_api_obj(X):
        return False
    module = type(X).__module__.split(".")[0]
    return module in ("pandas", "polars") and hasattr(X, "columns")


def feature_names(X: Any) -> np.ndarray | None:
    """X's column names as an object array when they are all strings; None
    for arrays and for frames whose names are not strings. Names of mixed
    types raise TypeError, as in scikit-learn."""
    if not _is_frame(X):
        return None
    names = np.asarray(list(X.columns), dtype=object)
    kinds = sorted({type(name).__name__ for name in names})
    strings = [isinstance(name, str) for name in names]
    if names.size and all(strings):
        return names
    if any(strings):
        raise TypeError(
            "Feature names are only supported if all input features have string "
            f"names, but your input has {kinds} as feature name / column name "
            "types. If you want feature names to be stored and validated, you "
            "must convert them all to strings, by using X.columns = "
            "X.columns.astype(str) for example. Otherwise you can remove feature "
            "/ column names from your input data, or convert them all to a "
            "non-string data type."
        )
    return None


def frame_values(X: Any) -> Any:
    """The values of a data frame as one NumPy array in the dtype its columns
    suggest: nullable float columns (``Float32``, ``Float64``) keep their
    width with NaN for missing values, nullable integer and boolean ones
    become float64 where values are missing; other inputs unchanged."""
    if not _is_frame(X):
        return X
    if type(X).__module__.startswith("polars"):
        return np.asarray(X.to_numpy())
    dtypes = [getattr(dt, "numpy_dtype", dt) for dt in X.dtypes]
    try:
        common = np.result_type(*dtypes) if dtypes else np.dtype(np.float64)
    except TypeError:
        return X.to_numpy()  # mixed or object columns: checked by the caller
    if common.kind in "iub" and bool(X.isna().to_numpy().any()):
        common = np.dtype(np.float64)
    if common.kind in "iubf":
        na = np.nan if common.kind == "f" else None
        return X.to_numpy(dtype=common, na_value=na)
    return X.to_numpy()


def set_feature_names(estimator: Any, X: Any) -> None:
    """Keep X's feature names on ``estimator`` (a fit), or forget old ones."""
    names = feature_names(X)
    if names is not None:
        estimator.feature_names_in_ = names
    elif hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_


def check_feature_names(estimator: Any, X: Any) -> None:
    """X's feature names against those seen in the fit: a UserWarning where
    only one of the two has names, a ValueError naming the unseen and the
    missing ones (or the order) where they differ."""
    names = feature_names(X)
    fitted = getattr(estimator, "feature_names_in_", None)
    owner = type(estimator).__name__
    if names is None and fitted is None:
        return
    if fitted is None:
        warnings.warn(
            f"X has feature names, but {owner} was fitted without feature names",
            UserWarning,
            stacklevel=4,
        )
        return
    if names is None:
        warnings.warn(
            f"X does not have valid feature names, but {owner} was fitted with "
            "feature names",
            UserWarning,
            stacklevel=4,
        )
        return
    if len(names) == len(fitted) and bool(np.all(names == fitted)):
        return
    raise ValueError(_mismatch(list(fitted), list(names)))


def _mismatch(fitted: list[str], names: list[str]) -> str:
    unseen = sorted(set(names) - set(fitted))
    missing = sorted(set(fitted) - set(names))
    lines = ["The feature names should match those that were passed during fit."]
    for title, group in (
        ("Feature names unseen at fit time:", unseen),
        ("Feature names seen at fit time, yet now missing:", missing),
    ):
        if group:
            lines.append(title)
            lines += [f"- {name}" for name in group[:5]]
            if len(group) > 5:
                lines.append("- ...")
    if not unseen and not missing:
        lines.append("Feature names must be in the same order as they were in fit.")
    return "\n".join(lines) + "\n"


def check_output(transform: Any) -> None:
    if transform is not None and transform not in OUTPUTS:
        raise ValueError(
            f"output config must be in {list(OUTPUTS)}, got {transform!r}."
        )


def output_mode(estimator: Any) -> str:
    """The container ``transform`` returns: the estimator's ``set_output``,
    else scikit-learn's global ``transform_output`` where scikit-learn is
    loaded, else "default"."""
    mode = getattr(estimator, "_sklearn_output_config", {}).get("transform")
    if mode is None and "sklearn" in sys.modules:
        try:
            mode = sys.modules["sklearn"].get_config().get("transform_output")
        except AttributeError:  # pragma: no cover - a partial import
            mode = None
    return "default" if mode is None else mode


def wrap_output(estimator: Any, out: Any, X: Any) -> Any:
    """``out`` (a transform's result) in the container of :func:`output_mode`."""
    mode = output_mode(estimator)
    if mode == "default":
        return out
    from .backends import to_numpy

    values = to_numpy(out)
    columns = list(estimator.get_feature_names_out())
    if mode == "pandas":
        import pandas as pd

        index = X.index if _is_frame(X) and hasattr(X, "index") else None
        return pd.DataFrame(values, columns=columns, index=index)
    import polars as pl

    return pl.DataFrame(values, schema=columns)
