"""Public API: the ``KMeans`` estimator and the ``k_means`` / ``kmeans_plusplus`` functions.

Names, parameters, defaults and results follow scikit-learn's ``KMeans``
(``algorithm="lloyd"``), so switching is a change of import. Arrays may come from
any library that implements the Python Array API standard; results come back in
the caller's library, on the caller's device, in the caller's floating dtype.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from array_api_compat import device

from . import _lloyd
from . import _primitives as prim
from . import _validation as val
from ._exceptions import (
    ConvergenceWarning,
    warn,
)

Array = Any

# Data whose largest magnitude lies outside [2**-_SCALE_EXP, 2**_SCALE_EXP] is
# rescaled by a power of two before fitting, so that squared distances neither
# overflow nor underflow (float32 squares overflow past about 1.8e19). Powers of
# two scale exactly: inside that range nothing is rescaled and results are
# bit-for-bit those of the unscaled computation.
_SCALE_EXP = 40


@dataclass
class _Frame:
    """Where the algorithm works: ``X * scale - mean``, scale a power of two.

    ``mean`` is in the frame's units. Scaling before centring keeps the frame
    finite for any finite X (``X - mean`` in X's units overflows for data
    spanning -1e308 to 1e308), and both ``scale`` and ``unit = 1 / scale`` are
    normal numbers of X's dtype (see :func:`_power_of_two_scale`), so that
    neither scaling nor its undoing overflows.
    """

    mean: Array
    scale: float

    @property
    def unit(self) -> float:
        """One unit of the frame in X's units: ``1 / scale``, exact."""
        return 1.0 / self.scale

    def apply(self, xp: ModuleType, X: Array) -> Array:
        out = X * self.scale if self.scale != 1.0 else X
        return out - self.mean

    def undo(self, xp: ModuleType, C: Array) -> Array:
        out = C + self.mean
        return out * self.unit if self.scale != 1.0 else out

    def squared(self, value: float) -> float:
        """A squared distance of the frame (an inertia) in X's units, a float.

        Two products by the unit, not one by its square, which may not be
        representable: the result overflows to inf only where the value itself
        does not fit a float64, and underflows to 0 only where it is below the
        smallest one.
        """
        value = float(value)
        return value if self.scale == 1.0 else value * self.unit * self.unit


def _power_of_two_scale(amax: float, dtype: Any, xp: ModuleType) -> float:
    """The power of two that brings X's largest magnitude ``amax`` near 1.

    1 when ``amax`` lies within [2**-_SCALE_EXP, 2**_SCALE_EXP] (or is 0).
    Otherwise 2**-ceil(log2(amax)), its exponent clamped so that the scale and
    its inverse are normal numbers of ``dtype``: for float64 data near 1e308
    the exact scale 2**-1024 would have an inverse that overflows, and for
    subnormal data (5e-324 is 2**-1074) the scale itself would. Scaled data
    then stay below 4 in magnitude at the top of the range and reach at least
    2**-52 (float64) or 2**-23 (float32) at the bottom, where their squares are
    far from underflowing.
    """
    if amax == 0 or 2.0**-_SCALE_EXP <= amax <= 2.0**_SCALE_EXP:
        return 1.0
    # The largest exponent e with 2**e and 2**-e both normal: 126 for
    # float32, 1022 for float64.
    limit = -prim.ceil_log2(float(xp.finfo(dtype).smallest_normal))
    exponent = min(max(-prim.ceil_log2(amax), -limit), limit)
    return 2.0**exponent


def _prepare(xp: ModuleType, X: Array, amax: float) -> tuple[Array, _Frame, Array]:
    """Centre (and if needed rescale) a private copy of X; X itself is untouched.

    ``amax`` is X's largest magnitude (read once by ``fit``, together with the
    finiteness check).
    """
    scale = _power_of_two_scale(amax, X.dtype, xp)
    Xs = X * scale if scale != 1.0 else X
    Xc, mean, var = prim.centre_columns(xp, Xs)
    return Xc, _Frame(mean=mean, scale=scale), var


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

    def set_params(self, **params: Any) -> _ParamsProtocol:
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


class KMeans(_ParamsProtocol):
    """K-Means clustering on any Array API array (NumPy, CuPy, ...).

    A drop-in for :class:`sklearn.cluster.KMeans`: same parameters, attributes
    and methods, and on NumPy float64 the same labels, iterations and (to about
    1e-9 relative) centres and inertia for the same ``random_state`` or the same
    explicit ``init``. The computation runs in the input's array library and on
    its device; fitted attributes are arrays of that library.

    Parameters
    ----------
    n_clusters : int, default=8
        The number of clusters to form and of centroids to generate.
    init : {'k-means++', 'random'}, callable or array of shape (n_clusters, n_features), default='k-means++'
        Method for initialisation:

        - ``'k-means++'``: greedy k-means++ (``2 + ln(k)`` candidates per centre,
          the one that lowers the weighted inertia most is kept).
        - ``'random'``: ``n_clusters`` distinct rows drawn with probability
          proportional to ``sample_weight``.
        - an array: the initial centres, in the same array library and on the
          same device as ``X`` (lists and tuples are converted).
        - a callable ``init(X, n_clusters, random_state=...)`` returning the
          centres; it receives the centred data.
    n_init : 'auto' or int, default='auto'
        Number of runs with different initial centres; the run with the lowest
        inertia is kept. ``'auto'`` is 1 for ``'k-means++'`` or an array, 10 for
        ``'random'`` or a callable.
    max_iter : int, default=300
        Maximum number of Lloyd iterations of one run.
    tol : float, default=1e-4
        Relative tolerance: a run stops when the squared Frobenius norm of the
        centre shift is at most ``tol`` times the mean per-feature variance of X.
    verbose : int, default=0
        Print the progress of each run.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation. Draws are made on the host from
        ``numpy.random.RandomState`` in scikit-learn's order, so a seed picks the
        same initial centres as scikit-learn and on every backend.
    copy_x : bool, default=True
        Accepted for compatibility. arraykmeans always centres a private copy of
        the data and never modifies ``X``, so ``False`` changes nothing.
    algorithm : {'lloyd', 'elkan'}, default='lloyd'
        ``'lloyd'`` runs Lloyd's algorithm. ``'elkan'`` is accepted for
        compatibility: scikit-learn documents both as giving the same
        clustering, and arraykmeans computes it with the same Lloyd iterations.

    Attributes
    ----------
    cluster_centers_ : array of shape (n_clusters, n_features)
        Coordinates of the cluster centres, in X's library, device and dtype.
    labels_ : int32 array of shape (n_samples,)
        Label of each training point.
    inertia_ : float
        Sum of squared distances of the samples to their closest centre,
        weighted by the sample weights.
    n_iter_ : int
        Number of iterations of the kept run.
    n_features_in_ : int
        Number of features seen during ``fit``.

    Notes
    -----
    Distances are computed one chunk of rows at a time as ``‖c‖² − 2x·c``; the
    n×k distance matrix is never built. The chunk size comes from the
    ``working_memory`` budget (see :func:`arraykmeans.set_config`).

    Examples
    --------
    >>> import numpy as np
    >>> from arraykmeans import KMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> km.labels_
    array([1, 1, 1, 0, 0, 0], dtype=int32)
    >>> km.predict([[0, 0], [12, 3]])
    array([1, 0], dtype=int32)
    >>> km.cluster_centers_
    array([[10.,  2.],
           [ 1.,  2.]])
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: Any = "k-means++",
        n_init: str | int = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        verbose: int = 0,
        random_state: Any = None,
        copy_x: bool = True,
        algorithm: str = "lloyd",
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type="clusterer",
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float64", "float32"]),
            input_tags=InputTags(allow_nan=False, sparse=False),
            array_api_support=True,
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "cluster_centers_")

    # ------------------------------------------------------------------- fit

    def _resolved_n_init(self) -> int:
        if self.n_init != "auto":
            return int(self.n_init)
        if isinstance(self.init, str) and self.init == "random":
            return 10
        if callable(self.init) and not isinstance(self.init, str):
            return 10
        return 1

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> KMeans:
        """Compute the k-means clustering.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Training data, in any Array API library (lists and other array-likes
            become NumPy arrays). Integer and boolean data are used as float64.
        y : Ignored
        sample_weight : array of shape (n_samples,) or scalar, optional
            Non-negative weights, not all zero, in the same library and on the
            same device as X. Used by the initialisation and every iteration
            (not by a callable or array ``init``).

        Returns
        -------
        self : KMeans
        """
        val.check_params(type(self).__name__, self.get_params())
        X, xp, result_dtype = val.check_array(
            X, estimator_name=type(self).__name__, finite=False
        )
        low, high = prim.extremes(xp, X)
        val.check_finite(xp, X, "X", extremes=(low, high))
        n, d = X.shape
        k = self.n_clusters
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        n_init = self._resolved_n_init()
        init = self.init
        init_is_array = not isinstance(init, str) and not callable(init)
        if init_is_array and n_init != 1:
            warn(
                "Explicit initial center position passed: performing only one init "
                f"in {type(self).__name__} instead of n_init={n_init}.",
                RuntimeWarning,
            )
            n_init = 1
        if self.algorithm == "elkan" and k == 1:
            warn(
                "algorithm='elkan' doesn't make sense for a single cluster. Using "
                "'lloyd' instead.",
                RuntimeWarning,
            )
        # A callable init receives the generator; the others only draw from it.
        random_state = val.check_random_state(
            self.random_state, private=not callable(init)
        )
        sample_weight = val.check_sample_weight(xp, X, sample_weight)
        if init_is_array:
            init = val.check_init_array(xp, X, init, k)

        Xc, frame, variances = _prepare(xp, X, max(abs(low), abs(high)))
        # In the variances' dtype, as scikit-learn's np.mean(variances) * tol: in
        # float32 the rounded tolerance decides when a run stops.
        tol = float(xp.mean(variances) * self.tol) if self.tol != 0 else 0.0
        if init_is_array:
            init = frame.apply(xp, init)

        best = None
        for _ in range(n_init):
            centers = _initial_centers(
                xp, Xc, k, init, sample_weight, random_state, frame
            )
            if self.verbose:
                print("Initialization complete")
            result = _lloyd.lloyd(
                xp,
                Xc,
                sample_weight,
                centers,
                max_iter=self.max_iter,
                tol=tol,
                verbose=bool(self.verbose),
                unit=frame.unit,
            )
            if _lloyd.is_better(xp, result, best):
                best = result

        labels = xp.astype(best.labels, xp.int32)
        distinct = prim.count_distinct(xp, best.labels, k)
        if distinct < k:
            warn(
                f"Number of distinct clusters ({distinct}) found smaller than "
                f"n_clusters ({k}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
            )
        self.cluster_centers_ = xp.astype(
            frame.undo(xp, best.centers), result_dtype, copy=False
        )
        self.labels_ = labels
        self.inertia_ = frame.squared(best.inertia)
        self.n_iter_ = int(best.n_iter)
        # The runs actually made, as scikit-learn records them.
        self._n_init = n_init
        self.n_features_in_ = d
        self._n_features_out = k
        self._frame = frame
        self._fit_centers = best.centers
        return self

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> Array:
        """Fit, then return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(self, X: Any, y: Any = None, sample_weight: Any = None) -> Array:
        """Fit, then return the distances of X to the centres, (n_samples, n_clusters)."""
        return self.fit(X, sample_weight=sample_weight)._transform(
            *self._check_test_data(X, "fit_transform")
        )

    # --------------------------------------------------------- fitted methods

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise val.not_fitted_error(self)

    def _check_test_data(self, X: Any, method: str) -> tuple[Array, ModuleType]:
        self._check_fitted()
        X, xp, _ = val.check_array(X, estimator_name=type(self).__name__)
        where = f"{type(self).__name__}.{method}()"
        val.check_model_input(xp, X, self.cluster_centers_, where, self.n_features_in_)
        if X.dtype != self._fit_centers.dtype:
            X = xp.astype(X, self._fit_centers.dtype)
        return X, xp

    def _labels(self, X: Array, xp: ModuleType) -> Array:
        frame = self._frame
        labels = prim.assign_chunked(
            xp, X, self._fit_centers, offset=frame.mean, scale=frame.scale
        ).labels
        return labels

    def predict(self, X: Any) -> Array:
        """Index of the closest centre for each row of X.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Same array library and device as the training data; another floating
            dtype is cast to the model's.

        Returns
        -------
        labels : int32 array of shape (n_samples,)
        """
        X, xp = self._check_test_data(X, "predict")
        return xp.astype(self._labels(X, xp), xp.int32)

    def transform(self, X: Any) -> Array:
        """Euclidean distances of each row of X to every centre, (n_samples, n_clusters)."""
        return self._transform(*self._check_test_data(X, "transform"))

    def _transform(self, X: Array, xp: ModuleType) -> Array:
        frame = self._frame
        C = self._fit_centers
        acc = prim.accumulation_dtype(xp, X.dtype, device(X))
        n, d = X.shape
        k = C.shape[0]
        Ca = xp.astype(C, acc, copy=False)
        c_norms = prim.row_sq_norms(xp, Ca)
        per_row = 2 * (k + d) * prim._itemsize(acc)
        rows = prim.chunk_rows(
            xp, n, per_row, cache_rows=prim.NUMPY_BATCH_BYTES // per_row
        )
        out_dtype = self.cluster_centers_.dtype
        out = None
        for sl in prim.iter_chunks(n, rows):
            Xa = xp.astype(frame.apply(xp, X[sl, ...]), acc, copy=False)
            sq = prim.row_sq_norms(xp, Xa)[:, None] - 2 * (
                Xa @ xp.permute_dims(Ca, (1, 0))
            )
            sq = xp.maximum(sq + c_norms[None, :], xp.zeros_like(sq))
            part = prim.scale_into(xp, xp.sqrt(sq), frame.unit, out_dtype)
            if rows >= n:
                return part
            if out is None:
                out = xp.empty((n, k), dtype=out_dtype, device=device(X))
            out[sl, :] = part
        return out

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the (weighted) inertia of X under the fitted centres.

        Distances are measured where ``predict`` measures them, in the frame the
        model was fitted in (not to ``cluster_centers_``, which are rounded to
        X's dtype in X's units: far from the origin that rounding alone can
        move float32 scores by tens of percent), so ``score`` of the training
        data is ``-inertia_`` to rounding.
        """
        X, xp = self._check_test_data(X, "score")
        sample_weight = val.check_sample_weight(xp, X, sample_weight)
        labels = self._labels(X, xp)
        frame = self._frame
        n, d = X.shape
        # One framed chunk of rows at a time: no second full copy of X.
        rows = prim.chunk_rows(xp, n, 2 * d * prim._itemsize(X.dtype) + 16)
        total = 0.0
        for sl in prim.iter_chunks(n, rows):
            total += prim.weighted_inertia(
                xp,
                frame.apply(xp, X[sl, ...]),
                sample_weight[sl],
                self._fit_centers,
                labels[sl],
            )
        return -frame.squared(total)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output feature names for ``transform``: ``kmeans0``, ``kmeans1``, ..."""
        self._check_fitted()
        prefix = type(self).__name__.lower()
        return np.asarray(
            [f"{prefix}{i}" for i in range(self._n_features_out)], dtype=object
        )


def _safe_equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


def _initial_centers(
    xp: ModuleType,
    Xc: Array,
    k: int,
    init: Any,
    sample_weight: Array,
    random_state: np.random.RandomState,
    frame: _Frame,
) -> Array:
    if isinstance(init, str) and init == "k-means++":
        with prim.one_blas_thread(xp):
            centers, _ = _lloyd.kmeans_plusplus_init(
                xp, Xc, k, sample_weight, random_state
            )
        return centers
    if isinstance(init, str) and init == "random":
        return _lloyd.random_init(xp, Xc, k, sample_weight, random_state)
    if callable(init):
        centers = init(Xc, k, random_state=random_state)
        centers = val.same_namespace(xp, Xc, centers, "init")
        if centers.ndim != 2:
            raise ValueError(
                "The init callable must return a 2D array of shape (n_clusters, "
                f"n_features), got shape {tuple(centers.shape)}."
            )
        centers = xp.astype(centers, Xc.dtype)
        val.validate_center_shape(Xc, centers, k)
        val.check_finite(xp, centers, "init")
        return centers
    return init


def k_means(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    init: Any = "k-means++",
    n_init: str | int = "auto",
    max_iter: int = 300,
    verbose: bool = False,
    tol: float = 1e-4,
    random_state: Any = None,
    copy_x: bool = True,
    algorithm: str = "lloyd",
    return_n_iter: bool = False,
) -> tuple:
    """Perform K-means clustering; the function form of :class:`KMeans`.

    Parameters are those of :class:`KMeans` plus ``X``, ``sample_weight`` and
    ``return_n_iter``.

    Returns
    -------
    centroid : array of shape (n_clusters, n_features)
    label : int32 array of shape (n_samples,)
    inertia : float
    best_n_iter : int
        Only if ``return_n_iter`` is true.
    """
    params = dict(
        n_clusters=n_clusters,
        init=init,
        n_init=n_init,
        max_iter=max_iter,
        verbose=verbose,
        tol=tol,
        random_state=random_state,
        copy_x=copy_x,
        algorithm=algorithm,
    )
    val.check_params("k_means", params)
    est = KMeans(**params).fit(X, sample_weight=sample_weight)
    if return_n_iter:
        return est.cluster_centers_, est.labels_, est.inertia_, est.n_iter_
    return est.cluster_centers_, est.labels_, est.inertia_


def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    x_squared_norms: Any = None,
    random_state: Any = None,
    n_local_trials: int | None = None,
) -> tuple[Array, Array]:
    """Initial centres by greedy k-means++, as :func:`sklearn.cluster.kmeans_plusplus`.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        The data to pick seeds from (not centred: scikit-learn's function does
        not centre either).
    n_clusters : int
        Number of centres.
    sample_weight : array of shape (n_samples,), optional
        Weights of the points; default all ones.
    x_squared_norms : array of shape (n_samples,), optional
        Squared Euclidean norms of the rows of X. Used for float64 data; for
        float32 data the norms are recomputed in float64 (as scikit-learn does).
    random_state : int, RandomState instance or None
        Seed of the host random number generator.
    n_local_trials : int, optional
        Candidates per centre; default ``2 + int(ln(n_clusters))``.

    Returns
    -------
    centers : array of shape (n_clusters, n_features)
        Rows of X, in X's library, device and dtype.
    indices : int64 array of shape (n_clusters,)
        Their row indices: ``X[indices[i]] == centers[i]``.
    """
    val.check_int("kmeans_plusplus", "n_clusters", n_clusters, 1)
    val.check_int(
        "kmeans_plusplus", "n_local_trials", n_local_trials, 1, allow_none=True
    )
    val.check_random_state_param("kmeans_plusplus", random_state)
    X, xp, result_dtype = val.check_array(X, estimator_name="kmeans_plusplus")
    sample_weight = val.check_sample_weight(xp, X, sample_weight)
    n = X.shape[0]
    if n < n_clusters:
        raise ValueError(f"n_samples={n} should be >= n_clusters={n_clusters}.")
    norms = None
    if x_squared_norms is not None:
        norms = val.same_namespace(xp, X, x_squared_norms, "x_squared_norms")
        if norms.ndim != 1:
            raise ValueError(
                "x_squared_norms must be a 1D array of shape (n_samples,), got shape "
                f"{tuple(norms.shape)}."
            )
        if norms.shape[0] != n:
            length = norms.shape[0]
            raise ValueError(
                f"The length of x_squared_norms {length} should be equal to the "
                f"length of n_samples {n}."
            )
        if X.dtype != prim.accumulation_dtype(xp, X.dtype, device(X)):
            norms = None
        else:
            norms = xp.astype(norms, X.dtype)
    random_state = val.check_random_state(random_state)
    with prim.one_blas_thread(xp):
        centers, indices = _lloyd.kmeans_plusplus_init(
            xp,
            X,
            n_clusters,
            sample_weight,
            random_state,
            x_squared_norms=norms,
            n_local_trials=n_local_trials,
        )
    return xp.astype(centers, result_dtype, copy=False), xp.astype(indices, xp.int64)


__all__ = ["KMeans", "k_means", "kmeans_plusplus"]
