"""Input checking: turn what callers pass into arrays the algorithm can trust.

Messages follow scikit-learn's wording where it has one, so that code and tests
written against scikit-learn keep working; each names the offending parameter.
Nothing here modifies its input: conversions make new arrays.
"""

from __future__ import annotations

import math
import numbers
import threading
from types import ModuleType
from typing import Any

import numpy as np
from array_api_compat import array_namespace, device, is_array_api_obj

from . import _frames
from ._exceptions import (
    ArrayMismatchError,
    InvalidParameterError,
    NotFittedError,
    compatible,
)
from .backends import get_backend

Array = Any


def namespace_of(x: Any) -> tuple[Any, ModuleType]:
    """``(array, xp)``: arrays keep their library; anything else becomes NumPy.

    Lists, tuples, pandas objects and other array-likes are converted with
    ``numpy.asarray``, as scikit-learn does; data frames by the dtypes of their
    columns (see :func:`arraykmeans._frames.frame_values`).
    """
    if is_array_api_obj(x):
        return x, array_namespace(x)
    x = _frames.frame_values(x)
    if isinstance(x, np.ndarray):
        return x, array_namespace(x)
    if hasattr(x, "__array_namespace__"):
        return x, x.__array_namespace__()
    try:
        arr = np.asarray(x)
    except Exception as exc:
        raise TypeError(
            f"Cannot convert input of type {type(x).__name__} to an array."
        ) from exc
    return arr, array_namespace(arr)


def _is_sparse(x: Any) -> bool:
    return type(x).__module__.startswith("scipy.sparse")


def check_array(
    X: Any,
    *,
    name: str = "X",
    estimator_name: str = "KMeans",
    min_samples: int = 1,
    batched: bool = False,
    finite: bool = True,
) -> tuple[Array, ModuleType, Any]:
    """Validate a data array and give it a floating dtype to compute in.

    float32 and float64 arrays are used as they are; half-precision floats
    (float16, bfloat16, including ml_dtypes' bfloat16 NumPy arrays) are computed
    in float32; integer and boolean data in
    float64 (float32 on devices without float64). Complex and non-numeric
    data, wrong dimensions, empty arrays and non-finite values raise.

    Parameters
    ----------
    batched : bool
        Expect a stack of problems, shape (n_problems, n_samples, n_features),
        instead of one (n_samples, n_features) array.
    finite : bool
        Check for NaN and infinity here. A caller that reads X's extremes anyway
        passes False and calls :func:`check_finite` with them.

    Returns
    -------
    X : array
        The input itself when no conversion was needed (never modified), else a
        new array in the same namespace and on the same device.
    xp : namespace
    result_dtype : dtype
        The dtype results are given back in: the input's floating dtype, or the
        computing dtype for non-floating input.
    """
    if _is_sparse(X):
        raise TypeError(
            f"Sparse input is not supported: {estimator_name} needs a dense {name} "
            f"(convert it with {name}.toarray())."
        )
    X, xp = namespace_of(X)
    if isinstance(X, np.ndarray) and not X.dtype.isnative:
        # Byte-swapped data (from some file formats): compute on a native copy.
        X = X.astype(X.dtype.newbyteorder("="))
    if isinstance(X, np.ndarray) and X.dtype.name == "bfloat16":
        # NumPy has no bfloat16 of its own; ml_dtypes (used by JAX) adds one
        # as a non-standard dtype. Computed in float32 like other half floats.
        X32, xp, _ = check_array(
            X.astype(np.float32),
            name=name,
            estimator_name=estimator_name,
            min_samples=min_samples,
            batched=batched,
            finite=finite,
        )
        return X32, xp, X.dtype
    if isinstance(X, np.ndarray) and X.dtype.kind in "OUSV":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise type(exc)(
                f"{name} must contain numbers; could not convert it: {exc}"
            ) from exc
        xp = array_namespace(X)
    _check_ndim(X, name, estimator_name, batched)
    _check_kind_and_size(xp, X, name, estimator_name, min_samples)
    dtype = X.dtype
    if dtype in (xp.float32, xp.float64):
        if finite:
            check_finite(xp, X, name)
        return X, xp, dtype
    if xp.isdtype(dtype, "real floating"):
        # Half precision: distances and sums are formed in float32.
        X = xp.astype(X, xp.float32)
        if finite:
            check_finite(xp, X, name)
        return X, xp, dtype
    target = xp.float64 if get_backend(xp).has_float64(device(X)) else xp.float32
    return xp.astype(X, target), xp, target


def _check_kind_and_size(
    xp: ModuleType, X: Array, name: str, estimator_name: str, min_samples: int
) -> None:
    """Raise for complex or non-numeric dtypes and for empty problems, rows or
    features."""
    dtype = X.dtype
    if xp.isdtype(dtype, "complex floating"):
        raise ValueError(f"Complex data not supported: {name} has dtype {dtype}.")
    if not xp.isdtype(dtype, ("real floating", "integral", "bool")):
        raise TypeError(f"{name} must have a numeric dtype, got {dtype}.")
    *batch, n, d = X.shape
    if batch and batch[0] < 1:
        raise ValueError(
            f"Found array with 0 problem(s) (shape={tuple(X.shape)}) while a "
            f"minimum of 1 is required by {estimator_name}."
        )
    if n < min_samples:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={tuple(X.shape)}) while a "
            f"minimum of {min_samples} is required by {estimator_name}."
        )
    if d < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(X.shape)}) while a "
            f"minimum of 1 is required by {estimator_name}."
        )


def _check_ndim(X: Array, name: str, estimator_name: str, batched: bool) -> None:
    if batched:
        if X.ndim == 2:
            raise ValueError(
                f"Expected a 3D array of shape (n_problems, n_samples, n_features), "
                f"got a 2D {name} of shape {tuple(X.shape)}: for a single problem "
                "use arraykmeans.KMeans, or add a leading axis (X[None])."
            )
        if X.ndim != 3:
            raise ValueError(
                f"Found array with dim {X.ndim}. {estimator_name} expected a 3D "
                f"{name} of shape (n_problems, n_samples, n_features)."
            )
        return
    if X.ndim == 0:
        raise ValueError(
            f"Expected 2D array, got scalar array instead:\n{name}={X!r}.\n"
            "Reshape your data either using array.reshape(-1, 1) if your data has "
            "a single feature or array.reshape(1, -1) if it contains a single sample."
        )
    if X.ndim == 1:
        raise ValueError(
            f"Expected 2D array, got 1D array instead:\n{name}={X!r}.\n"
            "Reshape your data either using array.reshape(-1, 1) if your data has "
            "a single feature or array.reshape(1, -1) if it contains a single sample."
        )
    if X.ndim > 2:
        raise ValueError(
            f"Found array with dim {X.ndim}. {estimator_name} expected <= 2 "
            f"(expected a 2D {name} of shape (n_samples, n_features)); for a stack "
            "of problems use arraykmeans.BatchedKMeans."
        )


def check_finite(
    xp: ModuleType, X: Array, name: str, extremes: tuple[float, float] | None = None
) -> None:
    """Raise a ValueError naming ``name`` if ``X`` holds NaN or infinity.

    ``extremes``, X's (min, max) if the caller has them, saves reading X:
    otherwise :func:`arraykmeans._primitives.extremes` finds them (min and max
    propagate NaN and expose infinities; no n×d boolean temporary).
    """
    low, high = get_backend(xp).extremes(X) if extremes is None else extremes
    if math.isfinite(low) and math.isfinite(high):
        return
    if math.isnan(low) or math.isnan(high):
        raise ValueError(f"Input {name} contains NaN.")
    raise ValueError(
        f"Input {name} contains infinity or a value too large for dtype({str(X.dtype)!r})."
    )


def same_namespace(xp: ModuleType, X: Array, value: Any, name: str) -> Array:
    """Bring ``value`` (an array or array-like) into ``X``'s namespace and device.

    Plain array-likes (lists, tuples, NumPy arrays when ``X`` is NumPy) are
    converted onto ``X``'s device. An array of a *different* array library, or
    on a different device, raises: moving data between libraries or devices is
    left to the caller, who knows what it costs.
    """
    if is_array_api_obj(value) or hasattr(value, "__array_namespace__"):
        other = array_namespace(value)
        native = isinstance(value, np.ndarray) and get_backend(xp).takes_numpy_arrays
        if other is not xp and not native:
            raise ArrayMismatchError(
                f"{name} is a {_lib(other)} array but X is a {_lib(xp)} array: pass "
                f"{name} in the same array library as X (for example "
                f"{_lib(xp)}.asarray({name}))."
            )
        if device(value) != device(X):
            raise ArrayMismatchError(
                f"{name} is on device {device(value)!r} but X is on device "
                f"{device(X)!r}: move {name} to X's device first."
            )
        return value
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise TypeError(
            f"{name} must be array-like, got {type(value).__name__}."
        ) from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}.")
    return get_backend(xp).from_host(arr, dtype=X.dtype, device=device(X))


def _lib(xp: ModuleType) -> str:
    name = getattr(xp, "__name__", str(xp))
    return name.replace("array_api_compat.", "").split(".")[0]


def check_sample_weight(
    xp: ModuleType, X: Array, sample_weight: Any, *, batched: bool = False
) -> Array:
    """Validate ``sample_weight``; return it with X's leading shape and X's dtype.

    ``None`` means unit weights, a scalar a constant weight. Weights must be
    finite and non-negative. For one problem (shape (n,)) they must not all be
    zero; for a stack of problems (shape (B, n)) zero marks padding and the
    caller checks each problem.
    """
    shape = tuple(X.shape[:-1])
    if sample_weight is None:
        return xp.ones(shape, dtype=X.dtype, device=device(X))
    if isinstance(sample_weight, numbers.Number) and not isinstance(
        sample_weight, bool
    ):
        sw = xp.full(shape, float(sample_weight), dtype=X.dtype, device=device(X))
    else:
        sw = same_namespace(xp, X, sample_weight, "sample_weight")
        if not batched and sw.ndim != 1:
            raise ValueError(
                f"Sample weights must be 1D array or scalar, got sample_weight of "
                f"shape {tuple(sw.shape)}."
            )
        if tuple(sw.shape) != shape:
            hint = " (one weight per row of every problem)" if batched else ""
            raise ValueError(
                f"sample_weight.shape == {tuple(sw.shape)}, expected {shape}!{hint}"
            )
        if xp.isdtype(sw.dtype, "complex floating") or not xp.isdtype(
            sw.dtype, ("real floating", "integral", "bool")
        ):
            raise TypeError(f"sample_weight must be real numbers, got {sw.dtype}.")
        sw = xp.astype(sw, X.dtype)
    check_finite(xp, sw, "sample_weight")
    if bool(xp.any(sw < 0)):
        raise ValueError("Negative values in data passed to sample_weight.")
    if not batched and not bool(xp.any(sw > 0)):
        raise ValueError(
            "sample_weight must have at least one positive value; all are zero."
        )
    return sw


def not_fitted_error(estimator: Any) -> Exception:
    """The error for a method called before ``fit`` (ValueError and AttributeError)."""
    return compatible(NotFittedError)(
        f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' "
        "with appropriate arguments before using this estimator."
    )


def check_model_input(
    xp: ModuleType, X: Array, model_array: Array, where: str, n_features: int
) -> None:
    """X must share the fitted model's library and device and its feature count."""
    model_xp = array_namespace(model_array)
    if xp is not model_xp:
        raise ArrayMismatchError(
            f"Inputs passed to {where} must use the same namespace and device "
            f"as those passed to fit(): X is a {_lib(xp)} array but the model "
            f"was fitted on {_lib(model_xp)} arrays."
        )
    if device(X) != device(model_array):
        raise ArrayMismatchError(
            f"Inputs passed to {where} must use the same namespace and device "
            f"as those passed to fit(): X is on device {device(X)!r} but the "
            f"model's centres are on {device(model_array)!r}."
        )
    if X.shape[-1] != n_features:
        owner = where.split(".")[0]
        raise ValueError(
            f"X has {X.shape[-1]} features, but {owner} is expecting {n_features} "
            "features as input."
        )


_reseeded = threading.local()


def check_random_state(seed: Any, *, private: bool = False) -> np.random.RandomState:
    """A ``RandomState`` from None, an int or a ``RandomState`` (as scikit-learn).

    Parameters
    ----------
    private : bool
        The caller uses the generator only for its own draws and lets no other
        code see it. An int seed then reseeds a generator kept for this thread
        instead of constructing one: the same draws, without the 0.15-0.2 ms
        a new ``RandomState`` spends seeding itself from OS entropy first
        (a sixth of a fit on the 150-row iris data).
    """
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if not private:
            return np.random.RandomState(seed)
        generator = getattr(_reseeded, "generator", None)
        if generator is None:
            generator = _reseeded.generator = np.random.RandomState()
        generator.seed(seed)
        return generator
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(
        f"{seed!r} cannot be used to seed a numpy.random.RandomState instance."
    )


# ----------------------------------------------------------------- parameters


def _param_error(owner: str, name: str, expected: str, value: Any) -> Exception:
    cls = compatible(InvalidParameterError)
    return cls(
        f"The {name!r} parameter of {owner} must be {expected}. Got {value!r} instead."
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(
    owner: str, name: str, value: Any, low: int, *, allow_none: bool = False
) -> None:
    """An int >= ``low`` (or None when ``allow_none``), else InvalidParameterError."""
    if allow_none and value is None:
        return
    if not _is_int(value) or value < low:
        expected = f"an int in the range [{low}, inf)" + (
            " or None" if allow_none else ""
        )
        raise _param_error(owner, name, expected, value)


def check_random_state_param(owner: str, value: Any) -> None:
    """None, an int in [0, 2**32 - 1] or a RandomState, else InvalidParameterError."""
    if not (
        value is None
        or isinstance(value, np.random.RandomState)
        or (_is_int(value) and 0 <= value <= 2**32 - 1)
    ):
        raise _param_error(
            owner,
            "random_state",
            "an int in the range [0, 4294967295], an instance of "
            "'numpy.random.mtrand.RandomState' or None",
            value,
        )


def check_init_param(
    owner: str,
    init: Any,
    *,
    callable_ok: bool,
    names: tuple[str, ...] = (),
    objects: tuple[type, ...] = (),
) -> None:
    """``init``: 'k-means++', 'random', one of ``names``, an instance of one
    of ``objects`` (seeding options such as ``KMeansParallel``, passed in by
    the caller: this module knows no algorithm), an array-like, or
    (``callable_ok``) a callable."""
    allowed = ("k-means++", "random", *names)
    also = ", a callable or an array-like" if callable_ok else " or an array"
    kinds = "".join(f", an instance of {cls.__name__!r}" for cls in objects)
    expected = (
        "a str among {" + ", ".join(repr(a) for a in allowed) + "}" + kinds + also
    )
    if isinstance(init, str):
        if init not in allowed:
            raise _param_error(owner, "init", expected, init)
    elif isinstance(init, objects):
        return
    elif not (callable_ok and callable(init)) and not _is_arraylike(init):
        raise _param_error(owner, "init", expected, init)


def check_tol_param(owner: str, tol: Any) -> None:
    """``tol``: a real number in [0, inf)."""
    if (
        not isinstance(tol, numbers.Real)
        or isinstance(tol, bool)
        or not (tol >= 0)
        or tol == float("inf")
    ):
        raise _param_error(owner, "tol", "a float in the range [0.0, inf)", tol)


def check_params(
    owner: str, params: dict[str, Any], *, init_objects: tuple[type, ...] = ()
) -> None:
    """Validate KMeans' constructor parameters (scikit-learn's constraints);
    ``init_objects``: the seeding option classes ``init`` may be an instance
    of (see :func:`check_init_param`)."""
    check_int(owner, "n_clusters", params["n_clusters"], 1)
    check_init_param(
        owner, params["init"], callable_ok=True, names=("k-means||",),
        objects=init_objects,
    )  # fmt: skip
    n_init = params["n_init"]
    if not (
        n_init == "auto" if isinstance(n_init, str) else _is_int(n_init) and n_init >= 1
    ):
        raise _param_error(
            owner,
            "n_init",
            "a str among {'auto'} or an int in the range [1, inf)",
            n_init,
        )
    check_int(owner, "max_iter", params["max_iter"], 1)
    check_tol_param(owner, params["tol"])
    verbose = params["verbose"]
    if not (
        isinstance(verbose, (bool, np.bool_)) or (_is_int(verbose) and verbose >= 0)
    ):
        raise _param_error(
            owner,
            "verbose",
            "an int in the range [0, inf), an instance of 'bool' or an instance of "
            "'numpy.bool'",
            verbose,
        )
    check_random_state_param(owner, params["random_state"])
    if not isinstance(params["copy_x"], (bool, np.bool_)):
        raise _param_error(
            owner,
            "copy_x",
            "an instance of 'bool' or an instance of 'numpy.bool'",
            params["copy_x"],
        )
    if params["algorithm"] not in ("lloyd", "elkan") or not isinstance(
        params["algorithm"], str
    ):
        raise _param_error(
            owner, "algorithm", "a str among {'elkan', 'lloyd'}", params["algorithm"]
        )


def _is_arraylike(value: Any) -> bool:
    return (
        hasattr(value, "__len__")
        or hasattr(value, "shape")
        or hasattr(value, "__array__")
        or is_array_api_obj(value)
    ) and not isinstance(value, (str, bytes))


def check_init_array(xp: ModuleType, X: Array, init: Any, n_clusters: int) -> Array:
    """Validate an explicit array of initial centres; return a new array."""
    centers = same_namespace(xp, X, init, "init")
    if centers.ndim != 2:
        raise ValueError(
            f"init must be a 2D array of shape (n_clusters, n_features), got shape "
            f"{tuple(centers.shape)}."
        )
    if xp.isdtype(centers.dtype, "complex floating"):
        raise ValueError("Complex data not supported: init is complex.")
    centers = xp.astype(centers, X.dtype, copy=True)
    validate_center_shape(X, centers, n_clusters)
    check_finite(xp, centers, "init")
    return centers


def validate_center_shape(X: Array, centers: Array, n_clusters: int) -> None:
    if centers.shape[0] != n_clusters:
        raise ValueError(
            f"The shape of the initial centers {tuple(centers.shape)} does not "
            f"match the number of clusters {n_clusters}."
        )
    if centers.shape[1] != X.shape[1]:
        raise ValueError(
            f"The shape of the initial centers {tuple(centers.shape)} does not "
            f"match the number of features of the data {X.shape[1]}."
        )
