"""Public API: the ``KMeans`` estimator and the ``k_means`` / ``kmeans_plusplus`` functions.

Names, parameters, defaults and results follow scikit-learn's ``KMeans``
(``algorithm="lloyd"``), so switching is a change of import. Arrays may come from
any library that implements the Python Array API standard; results come back in
the caller's library, on the caller's device, in the caller's floating dtype.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _frames
from .. import _validation as val
from .._config import _report
from .._exceptions import (
    ConvergenceWarning,
    warn,
)
from .._typing import Array as ArrayT
from .._typing import ArrayLike, SampleWeight
from ..algorithm import _init, _lloyd
from ..algorithm._frame import Frame, prepare
from ..backends import StandardBackend, device_of, get_backend, itemsize, iter_chunks
from ._base import _BaseKMeans

if TYPE_CHECKING:
    from typing_extensions import Self

Array = Any


class KMeans(_BaseKMeans):
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
    init : {'k-means++', 'random', 'k-means||'}, KMeansParallel, callable or array of shape (n_clusters, n_features), default='k-means++'
        Method for initialisation:

        - ``'k-means++'``: greedy k-means++ (``2 + ln(k)`` candidates per centre,
          the one that lowers the weighted inertia most is kept).
        - ``'k-means||'``: scalable k-means++ (Bahmani et al.): 5 rounds that
          each sample about ``2 * n_clusters`` candidate rows in one pass over
          X, the candidates weighted by the rows nearest to them and reduced
          to ``n_clusters`` in memory. A few passes over X instead of one per
          centre; not a scikit-learn method, so its results are not
          scikit-learn's. The same as ``KMeansParallel()``.
        - a :class:`KMeansParallel`: k-means|| with other options
          (``oversampling_factor``, the candidates kept per round, and
          ``n_rounds``).
        - ``'random'``: ``n_clusters`` distinct rows drawn with probability
          proportional to ``sample_weight``.
        - an array: the initial centres, in the same array library and on the
          same device as ``X`` (lists and tuples are converted).
        - a callable ``init(X, n_clusters, random_state=...)`` returning the
          centres; it receives the centred data.
    n_init : 'auto' or int, default='auto'
        Number of runs with different initial centres; the run with the lowest
        inertia is kept. ``'auto'`` is 1 for ``'k-means++'``, k-means|| or an array, 10 for
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

    inertia_: float
    n_iter_: int

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

    # ------------------------------------------------------------------- fit

    def _resolved_n_init(self) -> int:
        if self.n_init != "auto":
            return int(self.n_init)
        if isinstance(self.init, str) and self.init == "random":
            return 10
        if callable(self.init) and not isinstance(self.init, str):
            return 10
        return 1

    def fit(
        self, X: ArrayLike, y: object = None, sample_weight: SampleWeight = None
    ) -> Self:
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
        val.check_params(
            type(self).__name__, self.get_params(), init_objects=_init.SEEDING_OPTIONS
        )
        _frames.set_feature_names(self, X)
        X, xp, result_dtype = val.check_array(
            X, estimator_name=type(self).__name__, finite=False
        )
        be = get_backend(xp)
        low, high = be.fit_extremes(X)
        val.check_finite(xp, X, "X", extremes=(low, high))
        amax = max(abs(low), abs(high))
        X, amax = self._fitted_rows(be, X, amax)
        init, n_init = self._checked_init(be, X)
        # A callable init receives the generator; the others only draw from it.
        random_state = val.check_random_state(
            self.random_state, private=not callable(init)
        )
        sample_weight = val.check_sample_weight(xp, X, sample_weight)
        # A callable init is called with X's library, so not on a twin.
        twin = None if callable(init) or X.dtype != result_dtype else be.host_twin(X)
        data = (X, sample_weight, init)
        if twin is not None:
            # Fitted on the memory X shares with the host; results moved back.
            data = tuple(
                a if _init.is_seeding_method(a) else be.to_host(a) for a in data
            )
            result_dtype = data[0].dtype
        self._fit_checked(
            twin or be, *data, n_init, random_state, result_dtype, amax
        )  # fmt: skip
        if twin is not None:
            self._results_to(be, device_of(X))
        return self

    def _fit_checked(
        self,
        be: StandardBackend,
        X: Array,
        sample_weight: Array,
        init: Any,
        n_init: int,
        random_state: np.random.RandomState,
        result_dtype: Any,
        amax: float,
    ) -> None:
        """The fit proper, on checked inputs of ``be``'s library."""
        xp = be.xp
        Xc, frame, variances = self._frame_of(be, X, amax)
        # In the variances' dtype, as scikit-learn's np.mean(variances) * tol: in
        # float32 the rounded tolerance decides when a run stops.
        tol = float(xp.mean(variances) * self.tol) if self.tol != 0 else 0.0
        if not _init.is_seeding_method(init) and not callable(init):
            init = frame.apply(xp, init)
        best = None
        with be.fitting(X):
            for run in range(n_init):
                _report("init", run=run, n_init=n_init)
                centers = _init.initial_centers(
                    be, Xc, self.n_clusters, init, sample_weight, random_state
                )
                if self.verbose:
                    print("Initialization complete")
                result = _lloyd.lloyd(
                    be, Xc, sample_weight, centers, max_iter=self.max_iter,
                    tol=tol, verbose=bool(self.verbose), unit=frame.unit,
                    project=self._projection(be),
                )  # fmt: skip
                _report(
                    "run", run=run, n_init=n_init, n_iter=result.n_iter,
                    inertia=self._inertia_of(frame, result.inertia),
                )  # fmt: skip
                if _lloyd.is_better(be, result, best):
                    best = result
        self._store_fit(be, best, frame, result_dtype, n_init)

    # What spherical K-means (SphericalKMeans) changes: the rows fitted, their
    # frame, the centres after each update and the measure of the inertia.

    def _fitted_rows(self, be: StandardBackend, X: Array, amax: float) -> Any:
        """The rows to cluster and their largest magnitude: X itself."""
        return X, amax

    def _frame_of(self, be: StandardBackend, X: Array, amax: float) -> Any:
        """X centred (and rescaled if needed), its frame and its variances."""
        return prepare(be, X, amax)

    def _projection(self, be: StandardBackend) -> Any:
        """What the new centres of each iteration go through: nothing."""
        return None

    def _inertia_of(self, frame: Frame, inertia: float) -> float:
        """A run's inertia (summed squared distances in the frame) in X's units."""
        return frame.squared(inertia)

    def _results_to(self, be: StandardBackend, device: Any) -> None:
        """The fitted arrays, made by the NumPy backend, moved to ``be``'s library."""

        def back(a: Any) -> Array:
            return be.from_host(np.asarray(a), dtype=None, device=device)

        self.cluster_centers_ = back(self.cluster_centers_)
        self.labels_ = back(self.labels_)
        self._fit_centers = back(self._fit_centers)
        self._frame = Frame(mean=back(self._frame.mean), scale=self._frame.scale)

    def _checked_init(self, be: StandardBackend, X: Array) -> tuple[Any, int]:
        """The init (an array init checked) and the number of runs to make."""
        n = X.shape[0]
        k = self.n_clusters
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        n_init = self._resolved_n_init()
        init = self.init
        init_is_array = not _init.is_seeding_method(init) and not callable(init)
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
        if init_is_array:
            init = val.check_init_array(be.xp, X, init, k)
        return init, n_init

    def _store_fit(
        self,
        be: StandardBackend,
        best: Any,
        frame: Frame,
        result_dtype: Any,
        n_init: int,
    ) -> None:
        xp = be.xp
        k = self.n_clusters
        distinct = best.n_distinct
        if distinct is None:
            distinct = be.count_distinct(best.labels, k)
        if distinct < k:
            warn(
                f"Number of distinct clusters ({distinct}) found smaller than "
                f"n_clusters ({k}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
            )
        self.cluster_centers_ = xp.astype(
            frame.undo(xp, best.centers), result_dtype, copy=False
        )
        self.labels_ = xp.astype(best.labels, xp.int32)
        self.inertia_ = self._inertia_of(frame, best.inertia)
        self.n_iter_ = int(best.n_iter)
        # The runs actually made, as scikit-learn records them.
        self._n_init = n_init
        self.n_features_in_ = self.cluster_centers_.shape[1]
        self._n_features_out = k
        self._frame = frame
        self._fit_centers = best.centers

    def fit_predict(
        self, X: ArrayLike, y: object = None, sample_weight: SampleWeight = None
    ) -> ArrayT:
        """Fit, then return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(
        self, X: ArrayLike, y: object = None, sample_weight: SampleWeight = None
    ) -> ArrayT:
        """Fit, then return the distances of X to the centres, (n_samples, n_clusters)."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    # --------------------------------------------------------- fitted methods

    def _labels(self, be: StandardBackend, X: Array) -> Array:
        frame = self._frame
        return be.assign_chunked(
            X, self._fit_centers, offset=frame.mean, scale=frame.scale
        ).labels

    def predict(self, X: ArrayLike) -> ArrayT:
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
        X, be = self._check_test_data(X, "predict")
        return be.xp.astype(self._labels(be, X), be.xp.int32)

    def score(
        self, X: ArrayLike, y: object = None, sample_weight: SampleWeight = None
    ) -> float:
        """Opposite of the (weighted) inertia of X under the fitted centres.

        Distances are measured where ``predict`` measures them, in the frame the
        model was fitted in (not to ``cluster_centers_``, which are rounded to
        X's dtype in X's units: far from the origin that rounding alone can
        move float32 scores by tens of percent), so ``score`` of the training
        data is ``-inertia_`` to rounding.
        """
        X, be = self._check_test_data(X, "score")
        xp = be.xp
        sample_weight = val.check_sample_weight(xp, X, sample_weight)
        labels = self._labels(be, X)
        frame = self._frame
        n, d = X.shape
        # One framed chunk of rows at a time: no second full copy of X.
        rows = be.chunk_rows(n, 2 * d * itemsize(X.dtype) + 16)
        total = 0.0
        for sl in iter_chunks(n, rows):
            total += be.weighted_inertia(
                frame.apply(xp, X[sl, ...]), sample_weight[sl], self._fit_centers,
                labels[sl],
            )  # fmt: skip
        return -frame.squared(total)


def k_means(
    X: ArrayLike,
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
) -> tuple[Any, ...]:
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
    val.check_params("k_means", params, init_objects=_init.SEEDING_OPTIONS)
    est = KMeans(**params).fit(X, sample_weight=sample_weight)
    if return_n_iter:
        return est.cluster_centers_, est.labels_, est.inertia_, est.n_iter_
    return est.cluster_centers_, est.labels_, est.inertia_


def kmeans_plusplus(
    X: ArrayLike,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    x_squared_norms: Any = None,
    random_state: Any = None,
    n_local_trials: int | None = None,
) -> tuple[ArrayT, ArrayT]:
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
    be = get_backend(xp)
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
        if X.dtype != be.accumulation_dtype(X.dtype, device_of(X)):
            norms = None
        else:
            norms = xp.astype(norms, X.dtype)
    random_state = val.check_random_state(random_state)
    with be.one_blas_thread():
        centers, indices = _init.kmeans_plusplus_init(
            be,
            X,
            n_clusters,
            sample_weight,
            random_state,
            x_squared_norms=norms,
            n_local_trials=n_local_trials,
        )
    return xp.astype(centers, result_dtype, copy=False), xp.astype(indices, xp.int64)


__all__ = ["KMeans", "k_means", "kmeans_plusplus"]
