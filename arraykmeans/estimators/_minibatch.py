"""Public API: the ``MiniBatchKMeans`` estimator.

Names, parameters, defaults, attributes and results follow scikit-learn's
``MiniBatchKMeans``; the data may come from any Array API library and the
results come back in it (see :mod:`arraykmeans.algorithm._minibatch` for the
algorithm and its random draws).
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _frames
from .. import _validation as val
from .._exceptions import warn
from .._typing import Array as ArrayT
from .._typing import ArrayLike, SampleWeight
from ..algorithm import _init
from ..algorithm import _minibatch as mb
from ..algorithm._frame import Frame
from ..backends import StandardBackend, device_of, get_backend
from ._base import _BaseKMeans

if TYPE_CHECKING:
    from typing_extensions import Self

Array = Any


class MiniBatchKMeans(_BaseKMeans):
    """Mini-batch K-means on any Array API array (NumPy, CuPy, PyTorch, ...).

    A drop-in for :class:`sklearn.cluster.MiniBatchKMeans`: same parameters,
    attributes and methods, and on NumPy float64 with the same
    ``random_state`` the same batches, reassignments, stopping step, labels
    and (to rounding) centres and inertia. Each step assigns a batch of rows
    drawn from X and moves every centre towards its batch rows with a rate
    that falls as the centre accumulates weight; a run costs a few passes
    over batches instead of full passes over X, which is what makes it the
    choice for large or streamed data (:meth:`partial_fit`).

    Parameters
    ----------
    n_clusters : int, default=8
        The number of clusters to form.
    init : {'k-means++', 'random', 'k-means||'}, KMeansParallel, callable or array of shape (n_clusters, n_features), default='k-means++'
        Initialisation, as :class:`arraykmeans.KMeans` takes it, made on
        ``init_size`` rows drawn from X. The data are not centred (scikit-
        learn's MiniBatchKMeans does not centre them either).
    max_iter : int, default=100
        Passes over the data's worth of batches at most: a fit makes at most
        ``max_iter * n_samples // batch_size`` steps.
    batch_size : int, default=1024
        Rows per batch (at most ``n_samples``).
    verbose : int, default=0
        Print the progress (scikit-learn's messages).
    compute_labels : bool, default=True
        Compute ``labels_`` and ``inertia_`` on the whole data once the
        steps are done; otherwise ``inertia_`` is the smoothed batch inertia
        scaled to the total weight, and ``labels_`` is not set by ``fit``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the batches and the reassignments; draws are
        made on the host from ``numpy.random.RandomState`` in scikit-learn's
        order, so a seed gives the same run on every backend.
    tol : float, default=0.0
        Stop when the squared change of the centres over one step is at most
        ``tol`` times the mean per-feature variance of X (0 disables it).
    max_no_improvement : int or None, default=10
        Stop when the smoothed batch inertia has not improved for this many
        consecutive steps (None disables it).
    init_size : int or None, default=None
        Rows drawn for the initialisation and for the validation batch that
        picks the best of ``n_init`` initialisations; default ``3 *
        batch_size`` (at least ``3 * n_clusters``), at most ``n_samples``.
    n_init : 'auto' or int, default='auto'
        Initialisations tried (the best on the validation batch is kept);
        'auto' is 3 for 'random' or a callable, else 1.
    reassignment_ratio : float, default=0.01
        Centres that have seen less than this fraction of the weight of the
        heaviest centre are moved to random rows of the batch, every
        ``10 * n_clusters`` rows seen (and while a centre has seen none).

    Attributes
    ----------
    cluster_centers_ : array of shape (n_clusters, n_features)
        In X's library, device and dtype.
    labels_ : int32 array of shape (n_samples,)
        Labels of the training rows (of the last chunk for ``partial_fit``).
    inertia_ : float
        Weighted inertia of the training data (see ``compute_labels``).
    n_iter_ : int
        Passes over the data's worth of batches made by ``fit``:
        ``ceil(n_steps_ * batch_size / n_samples)``.
    n_steps_ : int
        Batches processed (by ``fit``, or by all ``partial_fit`` calls).
    n_features_in_ : int
        Number of features seen during ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from arraykmeans import MiniBatchKMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [4, 0], [4, 4],
    ...               [4, 5], [0, 1], [2, 2], [3, 2], [5, 5], [1, -1]])
    >>> km = MiniBatchKMeans(n_clusters=2, random_state=0, batch_size=6,
    ...                      n_init="auto").fit(X)
    >>> km.predict([[0, 0], [4, 4]])
    array([1, 0], dtype=int32)
    """

    inertia_: float
    n_iter_: int
    n_steps_: int

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: Any = "k-means++",
        max_iter: int = 100,
        batch_size: int = 1024,
        verbose: int = 0,
        compute_labels: bool = True,
        random_state: Any = None,
        tol: float = 0.0,
        max_no_improvement: int | None = 10,
        init_size: int | None = None,
        n_init: str | int = "auto",
        reassignment_ratio: float = 0.01,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.compute_labels = compute_labels
        self.random_state = random_state
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio

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

    def fit(
        self, X: ArrayLike, y: object = None, sample_weight: SampleWeight = None
    ) -> Self:
        """Compute the centres on batches drawn from X.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Training data, in any Array API library.
        y : Ignored
        sample_weight : array of shape (n_samples,) or scalar, optional
            Non-negative weights in X's library and on its device. Batches are
            drawn with probability proportional to them (and then weigh each
            row 1); the initialisation uses them, a callable or array ``init``
            does not.

        Returns
        -------
        self : MiniBatchKMeans
        """
        check_params(type(self).__name__, self.get_params())
        _frames.set_feature_names(self, X)
        X, xp, result_dtype = val.check_array(X, estimator_name=type(self).__name__)
        be = get_backend(xp)
        self._check_params_vs_input(X)
        self._tol = _tolerance(be, X, self.tol)
        random_state = val.check_random_state(
            self.random_state, private=not callable(self.init)
        )
        weights = val.check_sample_weight(xp, X, sample_weight)
        init = self._checked_init(be, X)
        n = X.shape[0]
        sampler = _sampler(be, weights, unit=sample_weight is None)
        conv = mb.Convergence(
            self._batch_size, n, self._tol, self.max_no_improvement,
            bool(self.verbose),
        )  # fmt: skip
        with be.one_blas_thread():
            centers = mb.best_init(
                be, X, weights, self.n_clusters, init, random_state,
                n_init=self._n_init, init_size=self._init_size,
                verbose=bool(self.verbose),
            )  # fmt: skip
            state = mb.MiniBatchState.start(be, centers)
            n_steps = mb.run_minibatch(
                be, X, sampler, state, random_state, max_iter=self.max_iter,
                conv=conv, reassignment_ratio=self.reassignment_ratio,
            )  # fmt: skip
        self._store_state(be, state, result_dtype)
        self._store_run(conv, n_steps, n)
        if self.compute_labels:
            labels, self.inertia_ = mb.labels_inertia(be, X, weights, state.centers)
            self.labels_ = xp.astype(labels, xp.int32)
        else:
            # scikit-learn fails here after a single step (no average yet).
            ewa = conv.ewa_inertia if conv.ewa_inertia is not None else math.nan
            self.inertia_ = float(ewa * sampler.total)
        return self

    def partial_fit(
        self, X: ArrayLike, y: object = None, sample_weight: SampleWeight = None
    ) -> Self:
        """Update the centres with one step on the batch X.

        The first call initialises the model on X (one initialisation, on at
        most ``init_size`` of its rows); each call is then one step with X as
        the batch and its own weights, so chunks may come from anywhere (a
        memory-mapped file, a generator, another device's worth of data).

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            One batch, in the library and on the device of the first one.
            Another floating dtype is cast to the model's.
        y : Ignored
        sample_weight : array of shape (n_samples,) or scalar, optional

        Returns
        -------
        self : MiniBatchKMeans
        """
        fitted = self.__sklearn_is_fitted__()
        check_params(type(self).__name__, self.get_params())
        if fitted:
            _frames.check_feature_names(self, X)
        else:
            _frames.set_feature_names(self, X)
        X, xp, result_dtype = val.check_array(X, estimator_name=type(self).__name__)
        if fitted:
            where = f"{type(self).__name__}.partial_fit()"
            val.check_model_input(xp, X, self._fit_centers, where, self.n_features_in_)
            X = xp.astype(X, self._fit_centers.dtype, copy=False)
            result_dtype = self.cluster_centers_.dtype
        be = get_backend(xp)
        if not hasattr(self, "_random_state"):
            self._random_state = val.check_random_state(self.random_state)
        weights = val.check_sample_weight(xp, X, sample_weight)
        self.n_steps_ = getattr(self, "n_steps_", 0)
        with be.one_blas_thread():
            state = self._state if fitted else self._first_state(be, X, weights)
            mb.minibatch_step(
                be, X, weights, state, self._random_state,
                reassign=mb.should_reassign(state, self._batch_size, self.n_clusters),
                reassignment_ratio=self.reassignment_ratio, want_change=False,
                verbose=bool(self.verbose),
            )  # fmt: skip
        self._store_state(be, state, result_dtype)
        if self.compute_labels:
            labels, self.inertia_ = mb.labels_inertia(be, X, weights, state.centers)
            self.labels_ = xp.astype(labels, xp.int32)
        self.n_steps_ += 1
        return self

    def _first_state(
        self, be: StandardBackend, X: Array, weights: Array
    ) -> mb.MiniBatchState:
        """The state of a model that ``partial_fit`` starts on its first batch."""
        self._check_params_vs_input(X)
        init = self._checked_init(be, X)
        centers = mb.init_centers(
            be, X, weights, self.n_clusters, init, self._random_state,
            self._init_size,
        )  # fmt: skip
        return mb.MiniBatchState.start(be, centers)

    def _check_params_vs_input(self, X: Array) -> None:
        """scikit-learn's checks of the parameters against X: enough rows, the
        number of initialisations, the batch and init sizes (with its warnings)."""
        n = X.shape[0]
        k = self.n_clusters
        name = type(self).__name__
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        self._n_init = self._resolved_n_init()
        if _is_array_init(self.init) and self._n_init != 1:
            warn(
                "Explicit initial center position passed: performing only one init "
                f"in {name} instead of n_init={self._n_init}.",
                RuntimeWarning,
            )
            self._n_init = 1
        self._batch_size = min(self.batch_size, n)
        init_size = self.init_size
        if init_size is None:
            init_size = 3 * self._batch_size
            if init_size < k:
                init_size = 3 * k
        elif init_size < k:
            warn(
                f"init_size={init_size} should be larger than n_clusters={k}. "
                "Setting it to min(3*n_clusters, n_samples)",
                RuntimeWarning,
            )
            init_size = 3 * k
        self._init_size = min(init_size, n)

    def _resolved_n_init(self) -> int:
        if self.n_init != "auto":
            return int(self.n_init)
        if isinstance(self.init, str) and self.init == "random":
            return 3
        if callable(self.init) and not isinstance(self.init, str):
            return 3
        return 1

    def _checked_init(self, be: StandardBackend, X: Array) -> Any:
        if _is_array_init(self.init):
            return val.check_init_array(be.xp, X, self.init, self.n_clusters)
        return self.init

    def _store_state(
        self, be: StandardBackend, state: mb.MiniBatchState, result_dtype: Any
    ) -> None:
        """The fitted attributes from the run's state (kept for ``partial_fit``)."""
        xp = be.xp
        centers = state.centers
        self._state = state
        self._fit_centers = centers
        self.cluster_centers_ = xp.astype(centers, result_dtype, copy=False)
        self._counts = state.counts
        self._n_since_last_reassign = state.n_since_last_reassign
        k, d = centers.shape
        self.n_features_in_ = d
        self._n_features_out = k
        # Not centred: the model's frame is the data's own.
        zero = xp.zeros((d,), dtype=centers.dtype, device=device_of(centers))
        self._frame = Frame(mean=zero, scale=1.0)

    def _store_run(self, conv: mb.Convergence, n_steps: int, n: int) -> None:
        """The step count and the early-stopping state of a fit."""
        self._ewa_inertia = conv.ewa_inertia
        self._ewa_inertia_min = conv.ewa_inertia_min
        self._no_improvement = conv.no_improvement
        self.n_steps_ = n_steps
        self.n_iter_ = math.ceil(n_steps * self._batch_size / n)

    # --------------------------------------------------------- fitted methods

    def fit_predict(
        self, X: ArrayLike, y: object = None, sample_weight: SampleWeight = None
    ) -> ArrayT:
        """Fit, then return the labels of X (``predict(X)``)."""
        self.fit(X, sample_weight=sample_weight)
        if self.compute_labels:
            return self.labels_
        return self.predict(X)

    def fit_transform(
        self, X: ArrayLike, y: object = None, sample_weight: SampleWeight = None
    ) -> ArrayT:
        """Fit, then return the distances of X to the centres, (n_samples, n_clusters)."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def predict(self, X: ArrayLike) -> ArrayT:
        """Index of the closest centre for each row of X, int32 (n_samples,)."""
        X, be = self._check_test_data(X, "predict")
        labels = be.assign_chunked(X, self._fit_centers).labels
        return be.xp.astype(labels, be.xp.int32)

    def score(
        self, X: ArrayLike, y: object = None, sample_weight: SampleWeight = None
    ) -> float:
        """Opposite of the (weighted) inertia of X under the fitted centres."""
        X, be = self._check_test_data(X, "score")
        weights = val.check_sample_weight(be.xp, X, sample_weight)
        _, inertia = mb.labels_inertia(be, X, weights, self._fit_centers)
        return -inertia


def _is_array_init(init: Any) -> bool:
    return not _init.is_seeding_method(init) and not callable(init)


def _sampler(be: StandardBackend, weights: Array, *, unit: bool) -> mb.BatchSampler:
    """The batch sampler of a fit: its weights come to the host once (ones
    made there when the caller gave none)."""
    dtype = mb.host_dtype(be, weights)
    n = weights.shape[0]
    host = np.ones(n, dtype=dtype) if unit else be.to_host(weights).astype(dtype)
    return mb.BatchSampler(host)


def _tolerance(be: StandardBackend, X: Array, tol: float) -> float:
    """scikit-learn's ``_tolerance``: ``tol`` times the mean variance of X's
    features (0 when ``tol`` is 0, without reading X)."""
    if tol == 0:
        return 0.0
    _, _, variances = be.centre_columns(X)
    return float(be.xp.mean(variances) * tol)


# ----------------------------------------------------------------- parameters


def _check_real(owner: str, name: str, value: Any) -> None:
    """A finite real number >= 0 (scikit-learn's ``Interval(Real, 0, None)``)."""
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and 0 <= value < math.inf
    )
    if not ok:
        raise val._param_error(owner, name, "a float in the range [0.0, inf)", value)


def _check_bool(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise val._param_error(
            owner, name, "an instance of 'bool' or an instance of 'numpy.bool'", value
        )


def check_params(owner: str, params: dict[str, Any]) -> None:
    """Validate MiniBatchKMeans' constructor parameters (scikit-learn's
    constraints and wording; 'k-means||' is accepted as KMeans accepts it)."""
    val.check_int(owner, "n_clusters", params["n_clusters"], 1)
    val.check_init_param(
        owner, params["init"], callable_ok=True, names=("k-means||",),
        objects=_init.SEEDING_OPTIONS,
    )  # fmt: skip
    n_init = params["n_init"]
    if not (
        n_init == "auto"
        if isinstance(n_init, str)
        else val._is_int(n_init) and n_init >= 1
    ):
        raise val._param_error(
            owner, "n_init", "a str among {'auto'} or an int in the range [1, inf)",
            n_init,
        )  # fmt: skip
    val.check_int(owner, "max_iter", params["max_iter"], 1)
    _check_real(owner, "tol", params["tol"])
    verbose = params["verbose"]
    if not (
        isinstance(verbose, (bool, np.bool_)) or (val._is_int(verbose) and verbose >= 0)
    ):
        raise val._param_error(
            owner, "verbose",
            "an int in the range [0, inf), an instance of 'bool' or an instance of "
            "'numpy.bool'",
            verbose,
        )  # fmt: skip
    val.check_random_state_param(owner, params["random_state"])
    val.check_int(owner, "batch_size", params["batch_size"], 1)
    _check_bool(owner, "compute_labels", params["compute_labels"])
    val.check_int(
        owner, "max_no_improvement", params["max_no_improvement"], 0, allow_none=True
    )
    val.check_int(owner, "init_size", params["init_size"], 1, allow_none=True)
    _check_real(owner, "reassignment_ratio", params["reassignment_ratio"])


__all__ = ["MiniBatchKMeans"]
