"""Public API for many independent K-means problems solved in one call.

``batched_k_means`` and ``BatchedKMeans`` take a stack ``X`` of shape
(n_problems, n_samples, n_features) and cluster every problem on its own, with
batched array operations (batched matrix products, per-problem argmin and
segment sums): one call instead of a Python loop of fits. Problem ``b`` gives
what ``KMeans(random_state=seeds[b])`` gives on its rows, where ``seeds`` is
:func:`batch_seeds` of the batch's ``random_state``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _validation as val
from .._typing import Array as ArrayT
from .._typing import ArrayLike
from ..algorithm import _batched_lloyd as blloyd
from ..algorithm import _init
from ..algorithm._frame import Frame, centre_problems, squared_units
from ..algorithm._seeds import batch_seeds
from ..backends import (
    StandardBackend,
    device_of,
    get_backend,
    itemsize,
    iter_chunks,
    legacy_uniforms,
    working_memory_bytes,
)
from ._base import _BaseKMeans

if TYPE_CHECKING:
    from typing_extensions import Self

Array = Any


def _check_batch_params(owner: str, params: dict[str, Any]) -> None:
    val.check_int(owner, "n_clusters", params["n_clusters"], 1)
    val.check_init_param(
        owner, params["init"], callable_ok=False, names=("k-means||",),
        objects=_init.SEEDING_OPTIONS,
    )  # fmt: skip
    val.check_int(owner, "n_init", params["n_init"], 1)
    val.check_int(owner, "max_iter", params["max_iter"], 1)
    val.check_tol_param(owner, params["tol"])


def _check_weights(
    be: StandardBackend, X: Array, sample_weight: Any, mask: Any
) -> Array:
    """(B, n) weights in X's dtype; padding (mask False) gets weight 0."""
    xp = be.xp
    w = val.check_sample_weight(xp, X, sample_weight, batched=True)
    if mask is not None:
        w = xp.where(_check_mask(be, X, mask), w, xp.zeros_like(w))
    return w


def _check_mask(be: StandardBackend, X: Array, mask: Any) -> Array:
    """The (B, n) boolean row mask of X, in X's namespace and on its device."""
    xp = be.xp
    B, n, _ = X.shape
    m = val.same_namespace(xp, X, mask, "mask")
    if tuple(m.shape) != (B, n):
        raise ValueError(
            f"mask.shape == {tuple(m.shape)}, expected {(B, n)} (one flag per row "
            "of every problem)."
        )
    if m.dtype != xp.bool:
        raise TypeError(f"mask must be a boolean array, got dtype {m.dtype}.")
    return m


def _check_enough_rows(be: StandardBackend, w: Array, n_clusters: int) -> None:
    xp = be.xp
    counts = be.to_host(xp.count_nonzero(w > 0, axis=1))
    short = np.flatnonzero(counts < n_clusters)
    if short.size:
        b = int(short[0])
        more = f" (and {short.size - 1} more problems)" if short.size > 1 else ""
        raise ValueError(
            f"Problem {b} has {int(counts[b])} rows with positive weight (rows that "
            f"are not padding), fewer than n_clusters={n_clusters}{more}."
        )


def _fit_batched(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any,
    mask: Any,
    init: Any,
    n_init: int,
    max_iter: int,
    tol: float,
    random_state: Any,
    owner: str,
) -> dict[str, Any]:
    X, xp, result_dtype = val.check_array(
        X, estimator_name=owner, batched=True, finite=False
    )
    be = get_backend(xp)
    B = X.shape[0]
    k = n_clusters
    w = _check_weights(be, X, sample_weight, mask)
    _check_enough_rows(be, w, k)
    init_is_array = not _init.is_seeding_method(init)
    if init_is_array:
        init = _check_batched_init(be, X, init, k)
        if n_init != 1:
            from .._exceptions import warn

            warn(
                "Explicit initial center position passed: performing only one init "
                f"in {owner} instead of n_init={n_init}.",
                RuntimeWarning,
            )
            n_init = 1
    seeds = batch_seeds(random_state, B)
    out_be, device = be, device_of(X)
    twin = be.host_twin(X) if X.dtype == result_dtype else None
    if be.materialises_stacks or twin is not None:
        # Fitted on the memory X shares with the host, or read once into
        # memory and fitted there (see the backend's notes).
        be = twin or be.host_backend()
        X, w = be.xp.asarray(out_be.to_host(X)), be.xp.asarray(out_be.to_host(w))
        if init_is_array:
            init = be.xp.asarray(out_be.to_host(init))
        if twin is not None:
            result_dtype = X.dtype
    with be.fitting(X):
        fit = _fit_checked(
            be, X, w, k, init, n_init, max_iter, tol, seeds, result_dtype
        )
    if out_be is not be:
        fit = _results_back(out_be, fit, device)
    return fit


def _results_back(
    be: StandardBackend, fit: dict[str, Any], device: Any
) -> dict[str, Any]:
    """A fit made by the NumPy backend, its arrays moved to ``be``'s library."""

    def back(a: Any) -> Array:
        return be.from_host(np.asarray(a), dtype=None, device=device)

    out = dict(fit)
    for name in ("cluster_centers_", "labels_", "inertia_", "n_iter_", "_fit_centers"):
        out[name] = back(fit[name])
    out["_frame"] = Frame(mean=back(fit["_frame"].mean), scale=fit["_frame"].scale)
    return out


def _fit_checked(
    be: StandardBackend,
    X: Array,
    w: Array,
    k: int,
    init: Any,
    n_init: int,
    max_iter: int,
    tol: float,
    seeds: Any,
    result_dtype: Any,
) -> dict[str, Any]:
    """The fit proper, on checked inputs (``init`` an array or a seeding method)."""
    xp = be.xp
    d = X.shape[2]
    init_is_array = not _init.is_seeding_method(init)
    seeding = None if init_is_array else _seeding(be, X, k, init, seeds, n_init)
    Xc, mean, scale, var = centre_problems(be, X, w)
    # The variances hold values of the data dtype: their mean in that dtype is
    # the tolerance a single fit of each problem uses.
    tols = xp.astype(xp.mean(xp.astype(var, Xc.dtype), axis=1) * tol, var.dtype)
    if init_is_array:
        init = (init * scale if scale != 1.0 else init) - mean

    best = None
    for run in range(n_init):
        centers = init if seeding is None else seeding(Xc, w, run)
        result = blloyd.lloyd_batched(be, Xc, w, centers, max_iter=max_iter, tol=tols)
        best = blloyd.better_of(be, result, best)
    # Undone as KMeans' frame is: the mean added in the rescaled units, then
    # the inverse scale, which is representable.
    centers = best.centers + mean
    return {
        "cluster_centers_": xp.astype(
            centers * (1.0 / scale) if scale != 1.0 else centers,
            result_dtype,
            copy=False,
        ),
        "labels_": xp.astype(best.labels, xp.int32),
        "inertia_": squared_units(be, best.inertia, scale),
        "n_iter_": best.n_iter,
        "_n_init": n_init,
        "seeds_": seeds,
        "_frame": Frame(mean=mean, scale=scale),
        "_fit_centers": best.centers,
        "n_features_in_": d,
    }


def _seeding(
    be: StandardBackend, X: Array, k: int, init: Any, seeds: Any, n_init: int
) -> Any:
    """``seeding(Xc, w, run)``: run ``run``'s initial centres of every problem.

    k-means++ draws a fixed count of doubles per run: reseeding one generator
    per problem gives every problem's stream for all runs at once. Random
    init and k-means|| (``'k-means||'`` or a ``KMeansParallel``) draw from
    one generator per problem, run after run, as a single fit's runs draw
    from its one generator.
    """
    B, n, d = X.shape
    if init == "k-means++":
        per_run = _init.kmeans_plusplus_draws(k)
        draws = legacy_uniforms(seeds, n_init * per_run, work=B * n * k * d)
        draws = draws.reshape(B, n_init, per_run)
        return lambda Xc, w, run: _init.kmeans_plusplus_batched(
            be, Xc, k, w, draws[:, run, :]
        )
    states = [np.random.RandomState(int(s)) for s in seeds]
    if init == "random":
        return lambda Xc, w, run: _init.random_init_batched(be, Xc, k, w, states)
    options = _init.KMeansParallel() if init == "k-means||" else init
    return lambda Xc, w, run: _init.kmeans_parallel_batched(
        be, Xc, k, w, states, options
    )


def _check_batched_init(be: StandardBackend, X: Array, init: Any, k: int) -> Array:
    xp = be.xp
    B, _, d = X.shape
    centers = val.same_namespace(xp, X, init, "init")
    if centers.ndim == 2:
        centers = xp.broadcast_to(centers[None, ...], (B, *centers.shape))
    if centers.ndim != 3 or tuple(centers.shape) != (B, k, d):
        raise ValueError(
            f"The shape of the initial centers {tuple(centers.shape)} does not match "
            f"(n_problems, n_clusters, n_features) = {(B, k, d)} (a (n_clusters, "
            "n_features) array is used for every problem)."
        )
    centers = xp.astype(centers, X.dtype, copy=True)
    val.check_finite(xp, centers, "init")
    return centers


def batched_k_means(
    X: ArrayLike,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    mask: Any = None,
    init: Any = "k-means++",
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    random_state: Any = None,
) -> tuple[ArrayT, ArrayT, ArrayT, ArrayT]:
    """Cluster every problem of a stack; the function form of :class:`BatchedKMeans`.

    Parameters
    ----------
    X : array of shape (n_problems, n_samples, n_features)
        The problems, in any Array API library. Problems of different sizes are
        padded to a common ``n_samples`` and the padding marked by ``mask`` or a
        zero ``sample_weight``.
    n_clusters : int
        Clusters per problem.
    sample_weight : array of shape (n_problems, n_samples) or scalar, optional
        Non-negative weights. Rows of weight zero are padding.
    mask : bool array of shape (n_problems, n_samples), optional
        False marks padding rows.
    init : {'k-means++', 'random', 'k-means||'}, KMeansParallel or array, default='k-means++'
        As :class:`KMeans` takes it, per problem. ``'k-means||'`` (or a
        :class:`KMeansParallel` with its options) seeds every problem with
        the centres ``KMeans(init=...)`` picks on its rows that are not
        padding with that problem's seed; it runs as a loop over the
        problems, each a few passes over its own rows (k-means|| keeps a
        data-dependent number of candidates per problem, which do not
        stack), the Lloyd iterations after it are batched. An array is
        (n_clusters, n_features) for every problem or (n_problems,
        n_clusters, n_features).
    n_init : int, default=1
        Runs per problem; each problem keeps its run of lowest inertia.
    max_iter : int, default=300
    tol : float, default=1e-4
        Relative to each problem's mean per-feature variance.
    random_state : None, int, RandomState or sequence of ints
        See :func:`batch_seeds`. Every problem's draws are made on the host
        from ``numpy.random.RandomState`` of its seed, so a seed gives the
        same initial centres on every backend.

    Returns
    -------
    centers : array of shape (n_problems, n_clusters, n_features)
    labels : int32 array of shape (n_problems, n_samples)
        -1 on padding rows.
    inertia : array of shape (n_problems,)
        Float64 where the device has it.
    n_iter : integer array of shape (n_problems,)

    Notes
    -----
    Padding rows take no part in the fit: not in the centring, the tolerance,
    the initialisation, the relocation of empty clusters, the centres or the
    inertia. Problem ``b`` gives what ``KMeans(n_clusters,
    random_state=int(batch_seeds(random_state, B)[b]))`` gives on the rows of
    ``X[b]`` that are not padding, up to floating-point rounding.

    Half-precision input (float16, bfloat16) is computed in float32 and the
    centres are returned in the input's dtype.
    """
    _check_batch_params(
        "batched_k_means",
        {
            "n_clusters": n_clusters,
            "init": init,
            "n_init": n_init,
            "max_iter": max_iter,
            "tol": tol,
        },
    )
    fit = _fit_batched(
        X,
        n_clusters,
        sample_weight=sample_weight,
        mask=mask,
        init=init,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        random_state=random_state,
        owner="batched_k_means",
    )
    return fit["cluster_centers_"], fit["labels_"], fit["inertia_"], fit["n_iter_"]


class BatchedKMeans(_BaseKMeans):
    """K-Means on a stack of independent problems, in one call.

    Parameters
    ----------
    n_clusters : int, default=8
    init : {'k-means++', 'random', 'k-means||'}, KMeansParallel or array, default='k-means++'
        See :func:`batched_k_means`.
    n_init : int, default=1
    max_iter : int, default=300
    tol : float, default=1e-4
    random_state : None, int, RandomState or sequence of ints
        See :func:`batch_seeds`.

    Attributes
    ----------
    cluster_centers_ : array of shape (n_problems, n_clusters, n_features)
    labels_ : int32 array of shape (n_problems, n_samples), -1 on padding rows
    inertia_ : array of shape (n_problems,)
    n_iter_ : integer array of shape (n_problems,)
    seeds_ : uint32 ndarray of shape (n_problems,)
        The seed of every problem (see :func:`batch_seeds`).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from arraykmeans import BatchedKMeans
    >>> X = np.random.RandomState(0).randn(100, 500, 3)   # 100 problems
    >>> bkm = BatchedKMeans(n_clusters=4, random_state=0).fit(X)
    >>> bkm.cluster_centers_.shape, bkm.labels_.shape, bkm.inertia_.shape
    ((100, 4, 3), (100, 500), (100,))
    """

    _batched = True

    inertia_: ArrayT
    n_iter_: ArrayT

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: Any = "k-means++",
        n_init: int = 1,
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state: Any = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(
        self,
        X: ArrayLike,
        y: object = None,
        sample_weight: Any = None,
        mask: Any = None,
    ) -> Self:
        """Cluster every problem of X, shape (n_problems, n_samples, n_features).

        ``sample_weight`` (n_problems, n_samples) and ``mask`` (bool, same shape)
        mark padding rows by zero weight or False; see :func:`batched_k_means`.
        """
        _check_batch_params(type(self).__name__, self.get_params())
        fit = _fit_batched(
            X,
            self.n_clusters,
            sample_weight=sample_weight,
            mask=mask,
            init=self.init,
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=self.random_state,
            owner=type(self).__name__,
        )
        for name, value in fit.items():
            setattr(self, name, value)
        return self

    def fit_predict(
        self,
        X: ArrayLike,
        y: object = None,
        sample_weight: Any = None,
        mask: Any = None,
    ) -> ArrayT:
        """Fit, then return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight, mask=mask).labels_

    def fit_transform(
        self,
        X: ArrayLike,
        y: object = None,
        sample_weight: Any = None,
        mask: Any = None,
    ) -> ArrayT:
        """Fit, then return the distances of every row to its problem's centres.

        Padding rows get distances too (they are rows of X like the others).
        """
        return self.fit(X, sample_weight=sample_weight, mask=mask).transform(X)

    def predict(self, X: ArrayLike, mask: Any = None) -> ArrayT:
        """Closest centre of every row of every problem: int32 (n_problems, n_samples).

        Rows where ``mask`` is False get -1.
        """
        X, be = self._check_test_data(X, "predict")
        xp = be.xp
        labels = xp.astype(self._labels(be, X), xp.int32)
        if mask is not None:
            m = _check_mask(be, X, mask)
            labels = xp.where(m, labels, xp.full_like(labels, -1))
        return labels

    def _labels(self, be: StandardBackend, X: Array) -> Array:
        frame = self._frame
        return be.assign_batched(
            X, self._fit_centers, offset=frame.mean, scale=frame.scale
        ).labels

    def score(
        self,
        X: ArrayLike,
        y: object = None,
        sample_weight: Any = None,
        mask: Any = None,
    ) -> ArrayT:
        """Opposite of every problem's (weighted) inertia under the fitted centres.

        Returns an array of shape (n_problems,) in the accumulation dtype (float64
        where the namespace and device have it), not one float: problem b's entry
        is ``KMeans.score`` of ``X[b]``. Rows with zero weight or a False ``mask``
        add nothing.
        """
        X, be = self._check_test_data(X, "score")
        xp = be.xp
        w = _check_weights(be, X, sample_weight, mask)
        labels = self._labels(be, X)
        frame = self._frame
        # Distances in the fitted frame, where predict measures them (see
        # KMeans.score), one group of problems at a time.
        B, n, d = X.shape
        per_problem = max(1, 2 * n * d * itemsize(X.dtype))
        size = max(1, working_memory_bytes() // per_problem)
        parts = []
        for p in iter_chunks(B, size):
            Xs = X[p, ...] * frame.scale if frame.scale != 1.0 else X[p, ...]
            parts.append(
                be.weighted_inertia_batched(
                    Xs - frame.mean[p, ...],
                    w[p, ...],
                    self._fit_centers[p, ...],
                    labels[p, ...],
                )
            )
        inertia = parts[0] if len(parts) == 1 else xp.concat(parts)
        return -squared_units(be, inertia, frame.scale)


__all__ = ["BatchedKMeans", "batch_seeds", "batched_k_means"]
