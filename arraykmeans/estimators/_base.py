"""What KMeans and BatchedKMeans share: the parameter protocol, fitted checks,
and the methods that use a fitted model (fit_predict, fit_transform, transform).
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _frames
from .. import _validation as val
from .._typing import Array as ArrayT
from .._typing import ArrayLike
from ..algorithm._frame import Frame
from ..backends import StandardBackend, device_of, get_backend

if TYPE_CHECKING:
    from typing_extensions import Self

Array = Any


@functools.cache
def _init_param_names(cls: type) -> tuple[str, ...]:
    # Read once per class: inspecting the signature took a tenth of a fit on
    # the 150-row iris data.
    sig = inspect.signature(cls.__init__)
    return tuple(sorted(p for p in sig.parameters if p != "self"))


class _ParamsProtocol:
    """scikit-learn's parameter protocol: ``get_params``, ``set_params``, ``repr``.

    Parameters are the keyword arguments of ``__init__``, stored unchanged.
    """

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return list(_init_param_names(cls))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of this estimator, as scikit-learn's ``get_params``."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set parameters, as scikit-learn's ``set_params``; returns self."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {self!r}. "
                    f"Valid parameters are: {valid!r}."
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default
            for name, p in inspect.signature(type(self).__init__).parameters.items()
            if name != "self"
        }
        changed = []
        for name in defaults:
            value = getattr(self, name)
            default = defaults[name]
            same = value is default or (
                type(value) is type(default) and _safe_equal(value, default)
            )
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"


def _safe_equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


class _BaseKMeans(_ParamsProtocol):
    """The methods of a fitted K-means model, for one problem or a stack.

    A fitted model holds ``cluster_centers_`` (in the caller's units and
    dtype), ``_fit_centers`` (the same centres in the frame the model was
    fitted in) and ``_frame`` (see :class:`arraykmeans.algorithm._frame.Frame`).
    Subclasses say how many leading axes a problem has (``_batched``) and
    check their own test data; ``transform`` and the fitted checks are shared.
    """

    # Fitted attributes (for type checkers; set by fit).
    cluster_centers_: ArrayT
    labels_: ArrayT
    n_features_in_: int
    feature_names_in_: np.ndarray[Any, Any]

    _batched = False

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "cluster_centers_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise val.not_fitted_error(self)

    def _check_test_data(self, X: Any, method: str) -> tuple[Array, StandardBackend]:
        """X checked against the fitted model, in the fitted dtype, and its backend."""
        self._check_fitted()
        _frames.check_feature_names(self, X)
        X, xp, _ = val.check_array(
            X, estimator_name=type(self).__name__, batched=self._batched
        )
        where = f"{type(self).__name__}.{method}()"
        val.check_model_input(xp, X, self.cluster_centers_, where, self.n_features_in_)
        if self._batched and X.shape[0] != self.cluster_centers_.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} problems, but {type(self).__name__} was fitted "
                f"on {self.cluster_centers_.shape[0]} problems."
            )
        if X.dtype != self._fit_centers.dtype:
            X = xp.astype(X, self._fit_centers.dtype)
        return X, get_backend(xp)

    def transform(self, X: ArrayLike) -> ArrayT:
        """Euclidean distances of every row of X to every centre.

        Returns
        -------
        distances : array of shape (n_samples, n_clusters), or (n_problems,
            n_samples, n_clusters) for a batched model; in the dtype of
            ``cluster_centers_``.
        """
        X_in = X
        X, be = self._check_test_data(X, "transform")
        xp = be.xp
        if self._batched:
            return distances(be, X, self._fit_centers, self._frame, self._out_dtype)
        frame = Frame(mean=self._frame.mean[None, None, :], scale=self._frame.scale)
        out = distances(
            be, X[None, ...], self._fit_centers[None, ...], frame, self._out_dtype
        )
        return _frames.wrap_output(self, xp.reshape(out, out.shape[1:]), X_in)

    def set_output(self, *, transform: str | None = None) -> Self:
        """The container ``transform`` and ``fit_transform`` return, as
        scikit-learn's ``set_output``: ``"pandas"`` or ``"polars"`` (a data
        frame with the columns of :meth:`get_feature_names_out`, and the
        input frame's index), ``"default"`` (the array), None (unchanged).
        Without a call, scikit-learn's global ``transform_output`` applies
        where scikit-learn is loaded. Returns self."""
        _frames.check_output(transform)
        if transform is None:
            return self
        if self._batched and transform != "default":
            raise ValueError(
                f"{type(self).__name__}.transform returns a 3-D array: it has no "
                f"data-frame output ({transform!r})."
            )
        self._sklearn_output_config = {"transform": transform}
        return self

    @property
    def _out_dtype(self) -> Any:
        return self.cluster_centers_.dtype

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray[Any, Any]:
        """Output feature names for ``transform``: ``kmeans0``, ``kmeans1``, ...

        ``input_features``, if given, must be the feature names seen in the
        fit (or as many names as features, for a fit without names).
        """
        self._check_fitted()
        if input_features is not None:
            given = np.asarray(input_features, dtype=object)
            fitted = getattr(self, "feature_names_in_", None)
            if fitted is not None and not (
                given.shape == fitted.shape and bool(np.all(given == fitted))
            ):
                raise ValueError("input_features is not equal to feature_names_in_")
            if fitted is None and given.shape[0] != self.n_features_in_:
                raise ValueError(
                    "input_features should have length equal to number of "
                    f"features ({self.n_features_in_}), got {given.shape[0]}"
                )
        prefix = type(self).__name__.lower()
        k = self.cluster_centers_.shape[-2]
        return np.asarray([f"{prefix}{i}" for i in range(k)], dtype=object)


def distances(
    be: StandardBackend, X: Array, centers: Array, frame: Frame, out_dtype: Any
) -> Array:
    """Distances of the rows of a stack (B, n, d) to its problems' centres → (B, n, k).

    Formed in the accumulation dtype in the fitted frame (``x * scale -
    mean``, mean of shape (B, 1, d)) as ``sqrt(‖x‖² − 2 x·c + ‖c‖²)``, one
    chunk of problems and rows at a time, and returned in X's units as
    ``out_dtype``.
    """
    xp = be.xp
    acc = be.accumulation_dtype(X.dtype, device_of(X))
    C = xp.astype(centers, acc, copy=False)
    c_norms = be.row_sq_norms(C)
    Ct = be.stacked_transpose(C)
    B, n, d = X.shape
    k = C.shape[1]
    chunks = be.iter_problem_chunks(B, n, 3 * (k + d) * 8, cache_bytes=be.cache_bytes)
    problems: list[list[Array]] = []
    for p, r in chunks:
        Xs = X[p, r, :] * frame.scale if frame.scale != 1.0 else X[p, r, :]
        Xa = xp.astype(Xs - frame.mean[p, ...], acc)
        sq = be.row_sq_norms(Xa)[:, :, None] - 2 * (Xa @ Ct[p, ...])
        sq = xp.maximum(sq + c_norms[p, None, :], xp.zeros_like(sq))
        part = be.scale_into(xp.sqrt(sq), frame.unit, out_dtype)
        if r.start == 0:
            problems.append([])
        problems[-1].append(part)
    rows = [ps[0] if len(ps) == 1 else xp.concat(ps, axis=1) for ps in problems]
    return rows[0] if len(rows) == 1 else xp.concat(rows, axis=0)
