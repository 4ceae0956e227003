"""Public API for many independent K-means problems solved in one call.

``batched_k_means`` and ``BatchedKMeans`` take a stack ``X`` of shape
(n_problems, n_samples, n_features) and cluster every problem on its own, with
batched array operations (batched matrix products, per-problem argmin and
segment sums): one call instead of a Python loop of fits. Problem ``b`` gives
what ``KMeans(random_state=seeds[b])`` gives on its rows, where ``seeds`` is
:func:`batch_seeds` of the batch's ``random_state``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
from array_api_compat import device

from . import _batched_lloyd as blloyd
from . import _primitives as prim
from . import _validation as val
from ._kmeans import _ParamsProtocol, _power_of_two_scale

Array = Any


def batch_seeds(random_state: Any, n_problems: int) -> np.ndarray:
    """The seed of every problem of a batch, as scikit-learn-style integer seeds.

    Problem ``b`` of a batched fit draws its random numbers from
    ``numpy.random.RandomState(batch_seeds(random_state, B)[b])``, so
    ``KMeans(random_state=int(seeds[b]))`` reproduces it alone.

    Parameters
    ----------
    random_state : None, int, RandomState instance or sequence of ints
        - an int ``s``: ``numpy.random.SeedSequence(s).spawn(n_problems)``, each
          child giving one 32-bit seed (independent streams, reproducible);
        - None: the same from fresh operating-system entropy;
        - a ``RandomState``: four 32-bit words drawn from it seed the
          ``SeedSequence`` (the instance is advanced);
        - a sequence of ``n_problems`` ints in ``[0, 2**32)``: used as they are.
    n_problems : int

    Returns
    -------
    seeds : uint32 ndarray of shape (n_problems,)
    """
    if isinstance(random_state, np.random.RandomState):
        entropy = random_state.randint(0, 2**32, size=4, dtype=np.uint64)
        sequence = np.random.SeedSequence([int(e) for e in entropy])
    elif random_state is None or (
        isinstance(random_state, numbers.Integral)
        and not isinstance(random_state, bool)
    ):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}.")
        sequence = np.random.SeedSequence(random_state)
    elif (
        isinstance(random_state, Sequence)
        and not isinstance(random_state, (str, bytes))
    ) or (isinstance(random_state, np.ndarray) and random_state.ndim == 1):
        seeds = np.asarray(random_state)
        if seeds.shape != (n_problems,) or seeds.dtype.kind not in "iu":
            raise ValueError(
                f"random_state as a sequence must hold one int seed per problem "
                f"({n_problems}), got {random_state!r}."
            )
        if (seeds < 0).any() or (seeds >= 2**32).any():
            raise ValueError("random_state seeds must lie in [0, 2**32).")
        return seeds.astype(np.uint32)
    else:
        raise ValueError(
            f"{random_state!r} cannot be used to seed a batch: pass None, an int, a "
            "RandomState or one int per problem."
        )
    return _first_words_of_children(sequence, n_problems)


# The constants of NumPy's SeedSequence (O'Neill's seed_seq_fe hash): the
# multipliers of the two hash chains, of the mixing step and the shift.
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _SHIFT, _MASK = 0xCA01F9DD, 0x4973F715, 16, 0xFFFFFFFF


def _int_words(value: int) -> list[int]:
    """A non-negative int as little-endian 32-bit words (0 is one word)."""
    words = [value & _MASK]
    value >>= 32
    while value:
        words.append(value & _MASK)
        value >>= 32
    return words


def _first_words_of_children(sequence: np.random.SeedSequence, n: int) -> np.ndarray:
    """``[c.generate_state(1)[0] for c in sequence.spawn(n)]``, vectorised.

    Spawning builds one Python object per child and hashes its entropy in a
    Python-level loop (about 6 µs a child). :func:`_spawned_first_words` does
    the same hash for all children at once; the last child is checked against
    NumPy's on every call. Sequences it does not cover (a spawn key, earlier
    spawns, another pool size, non-int entropy) take NumPy's own path, as does
    a NumPy whose SeedSequence hashes otherwise.
    """
    entropy = sequence.entropy
    if isinstance(entropy, numbers.Integral):
        entropy = [entropy]
    if (
        sequence.pool_size == 4
        and len(sequence.spawn_key) == 0
        and sequence.n_children_spawned == 0
        and isinstance(entropy, Sequence)
        and all(isinstance(e, numbers.Integral) and e >= 0 for e in entropy)
        and 0 < n < 2**32
    ):
        words = [w for e in entropy for w in _int_words(int(e))]
        seeds = _spawned_first_words(words, n)
        check = np.random.SeedSequence(sequence.entropy, spawn_key=(n - 1,))
        if seeds[-1] == check.generate_state(1)[0]:
            return seeds
    return np.asarray(
        [child.generate_state(1)[0] for child in sequence.spawn(n)], dtype=np.uint32
    )


def _spawned_first_words(words: list[int], n: int) -> np.ndarray:
    """The first state word of children 0..n-1 of a sequence with entropy ``words``.

    The children share their entropy words and differ only in the last word
    of the assembled entropy (the spawn index), so the hash of the shared
    words runs once on Python ints and only the final round runs over all
    children at once, in uint64 reduced modulo 2**32.
    """
    words = words + [0] * (4 - len(words))  # padded to the pool: a key follows
    hash_const = _INIT_A

    def hashmix(value: Any) -> Any:
        nonlocal hash_const
        value = value ^ hash_const
        hash_const = (hash_const * _MULT_A) & _MASK
        value = (value * hash_const) & _MASK
        return value ^ (value >> _SHIFT)

    def mix(x: Any, y: Any) -> Any:
        result = (_MIX_L * x - _MIX_R * y) & _MASK
        return result ^ (result >> _SHIFT)

    pool = [hashmix(words[i]) for i in range(4)]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for word in words[4:]:
        for dst in range(4):
            pool[dst] = mix(pool[dst], hashmix(word))
    # The spawn index mixed into the first pool word, the only one that
    # generate_state(1) reads.
    first = mix(np.uint64(pool[0]), hashmix(np.arange(n, dtype=np.uint64)))
    value = ((first ^ _INIT_B) * ((_INIT_B * _MULT_B) & _MASK)) & _MASK
    return (value ^ (value >> _SHIFT)).astype(np.uint32)


def _check_batch_params(owner: str, params: dict[str, Any]) -> None:
    val.check_int(owner, "n_clusters", params["n_clusters"], 1)
    init = params["init"]
    if isinstance(init, str):
        if init not in ("k-means++", "random"):
            raise val._param_error(
                owner, "init", "a str among {'k-means++', 'random'} or an array", init
            )
    elif not val._is_arraylike(init):
        raise val._param_error(
            owner, "init", "a str among {'k-means++', 'random'} or an array", init
        )
    val.check_int(owner, "n_init", params["n_init"], 1)
    val.check_int(owner, "max_iter", params["max_iter"], 1)
    tol = params["tol"]
    if (
        not isinstance(tol, numbers.Real)
        or isinstance(tol, bool)
        or not (0 <= tol < float("inf"))
    ):
        raise val._param_error(owner, "tol", "a float in the range [0.0, inf)", tol)


def _check_weights(xp: ModuleType, X: Array, sample_weight: Any, mask: Any) -> Array:
    """(B, n) weights in X's dtype; padding (mask False) gets weight 0."""
    w = val.check_sample_weight(xp, X, sample_weight, batched=True)
    if mask is not None:
        w = xp.where(_check_mask(xp, X, mask), w, xp.zeros_like(w))
    return w


def _check_mask(xp: ModuleType, X: Array, mask: Any) -> Array:
    """The (B, n) boolean row mask of X, in X's namespace and on its device."""
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


def _check_enough_rows(xp: ModuleType, w: Array, n_clusters: int) -> None:
    counts = prim.to_host(xp, xp.count_nonzero(w > 0, axis=1))
    short = np.flatnonzero(counts < n_clusters)
    if short.size:
        b = int(short[0])
        more = f" (and {short.size - 1} more problems)" if short.size > 1 else ""
        raise ValueError(
            f"Problem {b} has {int(counts[b])} rows with positive weight (rows that "
            f"are not padding), fewer than n_clusters={n_clusters}{more}."
        )


def _centre_problems(
    xp: ModuleType, X: Array, w: Array
) -> tuple[Array, Array, float, Array]:
    """Check X is finite; per problem, centre the non-padding rows.

    Returns ``(Xc, mean, scale, variance)``: ``Xc = (X * scale - mean) *
    valid`` (padding rows become zeros), mean of shape (B, 1, d) in X's dtype
    and in the rescaled units (as ``KMeans``' frame), scale a power of two
    (see ``_power_of_two_scale``) chosen from X's largest magnitude, and the
    variance (B, d) of the rescaled rows in the accumulation dtype, all over
    non-padding rows.

    Where a compiled centring pass exists it also reads X's extremes (the
    finiteness check and the scale), so X is read once; the rare data that
    needs a scale other than 1 is centred again.
    """
    Xc, mean, var, extremes = prim.centre_problems(xp, X, w, 1.0, with_extremes=True)
    val.check_finite(xp, X, "X", extremes=extremes)
    scale = _power_of_two_scale(max(map(abs, extremes)), X.dtype, xp)
    if Xc is None or scale != 1.0:
        Xc, mean, var = prim.centre_problems(xp, X, w, scale)
    return Xc, mean, scale, var


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
    B, _, d = X.shape
    k = n_clusters
    w = _check_weights(xp, X, sample_weight, mask)
    _check_enough_rows(xp, w, k)
    init_is_array = not isinstance(init, str)
    if init_is_array:
        init = _check_batched_init(xp, X, init, k)
        if n_init != 1:
            from ._exceptions import warn

            warn(
                "Explicit initial center position passed: performing only one init "
                f"in {owner} instead of n_init={n_init}.",
                RuntimeWarning,
            )
            n_init = 1
    seeds = batch_seeds(random_state, B)
    if not init_is_array and init == "k-means++":
        # k-means++ draws a fixed count of doubles per run: reseeding one
        # generator per problem gives every problem's stream for all runs.
        per_run = blloyd.kmeans_plusplus_draws(k)
        draws = prim.legacy_uniforms(
            seeds, n_init * per_run, work=X.shape[0] * X.shape[1] * k * d
        )
        draws = draws.reshape(B, n_init, per_run)
    elif not init_is_array:
        states = [np.random.RandomState(int(s)) for s in seeds]

    Xc, mean, scale, var = _centre_problems(xp, X, w)
    # The variances hold values of the data dtype: their mean in that dtype is
    # the tolerance a single fit of each problem uses.
    tols = xp.astype(xp.mean(xp.astype(var, Xc.dtype), axis=1) * tol, var.dtype)
    if init_is_array:
        init = (init * scale if scale != 1.0 else init) - mean

    best = None
    for run in range(n_init):
        if init_is_array:
            centers = init
        elif init == "k-means++":
            centers = blloyd.kmeans_plusplus_batched(xp, Xc, k, w, draws[:, run, :])
        else:
            centers = blloyd.random_init_batched(xp, Xc, k, w, states)
        result = blloyd.lloyd_batched(xp, Xc, w, centers, max_iter=max_iter, tol=tols)
        if best is None:
            best = result
            continue
        better = (result.inertia < best.inertia) & ~prim.same_clustering_batched(
            xp, result.labels, best.labels
        )
        best = blloyd.BatchedResult(
            labels=xp.where(better[:, None], result.labels, best.labels),
            inertia=xp.where(better, result.inertia, best.inertia),
            centers=xp.where(better[:, None, None], result.centers, best.centers),
            n_iter=xp.where(better, result.n_iter, best.n_iter),
        )
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
        "inertia_": _squared_units(xp, best.inertia, scale),
        "n_iter_": best.n_iter,
        "_n_init": n_init,
        "seeds_": seeds,
        "_mean": mean,
        "_scale": scale,
        "_fit_centers": best.centers,
        "n_features_in_": d,
    }


def _squared_units(xp: ModuleType, inertia: Array, scale: float) -> Array:
    """Inertias of the frame of ``scale`` in X's units (see ``_Frame.squared``).

    Two products by the unit ``1 / scale``, whose square may not be
    representable; inertias beyond the dtype's range become inf.
    """
    if scale == 1.0:
        return inertia
    unit = 1.0 / scale
    return prim.scale_into(
        xp, prim.scale_into(xp, inertia, unit, inertia.dtype), unit, inertia.dtype
    )


def _check_batched_init(xp: ModuleType, X: Array, init: Any, k: int) -> Array:
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
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    mask: Any = None,
    init: Any = "k-means++",
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    random_state: Any = None,
) -> tuple[Array, Array, Array, Array]:
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
    init : {'k-means++', 'random'} or array, default='k-means++'
        An array is (n_clusters, n_features) for every problem or
        (n_problems, n_clusters, n_features).
    n_init : int, default=1
        Runs per problem; each problem keeps its run of lowest inertia.
    max_iter : int, default=300
    tol : float, default=1e-4
        Relative to each problem's mean per-feature variance.
    random_state : None, int, RandomState or sequence of ints
        See :func:`batch_seeds`.

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


class BatchedKMeans(_ParamsProtocol):
    """K-Means on a stack of independent problems, in one call.

    Parameters
    ----------
    n_clusters : int, default=8
    init : {'k-means++', 'random'} or array, default='k-means++'
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
        self, X: Any, y: Any = None, sample_weight: Any = None, mask: Any = None
    ) -> BatchedKMeans:
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
        self, X: Any, y: Any = None, sample_weight: Any = None, mask: Any = None
    ) -> Array:
        """Fit, then return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight, mask=mask).labels_

    def fit_transform(
        self, X: Any, y: Any = None, sample_weight: Any = None, mask: Any = None
    ) -> Array:
        """Fit, then return the distances of every row to its problem's centres.

        Padding rows get distances too (they are rows of X like the others).
        """
        return self.fit(X, sample_weight=sample_weight, mask=mask).transform(X)

    def _check_test_data(self, X: Any, method: str) -> tuple[Array, ModuleType]:
        if not hasattr(self, "cluster_centers_"):
            raise val.not_fitted_error(self)
        X, xp, _ = val.check_array(X, estimator_name=type(self).__name__, batched=True)
        where = f"{type(self).__name__}.{method}()"
        val.check_model_input(xp, X, self.cluster_centers_, where, self.n_features_in_)
        B = self.cluster_centers_.shape[0]
        if X.shape[0] != B:
            raise ValueError(
                f"X has {X.shape[0]} problems, but {type(self).__name__} was fitted "
                f"on {B} problems."
            )
        if X.dtype != self._fit_centers.dtype:
            X = xp.astype(X, self._fit_centers.dtype)
        return X, xp

    def predict(self, X: Any, mask: Any = None) -> Array:
        """Closest centre of every row of every problem: int32 (n_problems, n_samples).

        Rows where ``mask`` is False get -1.
        """
        X, xp = self._check_test_data(X, "predict")
        labels = prim.assign_batched(
            xp, X, self._fit_centers, offset=self._mean, scale=self._scale
        ).labels
        labels = xp.astype(labels, xp.int32)
        if mask is not None:
            m = _check_mask(xp, X, mask)
            labels = xp.where(m, labels, xp.full_like(labels, -1))
        return labels

    def score(
        self, X: Any, y: Any = None, sample_weight: Any = None, mask: Any = None
    ) -> Array:
        """Opposite of every problem's (weighted) inertia under the fitted centres.

        Returns an array of shape (n_problems,) in the accumulation dtype (float64
        where the namespace and device have it), not one float: problem b's entry
        is ``KMeans.score`` of ``X[b]``. Rows with zero weight or a False ``mask``
        add nothing.
        """
        X, xp = self._check_test_data(X, "score")
        w = _check_weights(xp, X, sample_weight, mask)
        labels = prim.assign_batched(
            xp, X, self._fit_centers, offset=self._mean, scale=self._scale
        ).labels
        # Distances in the fitted frame, where predict measures them (see
        # KMeans.score), one group of problems at a time.
        B, n, d = X.shape
        per_problem = max(1, 2 * n * d * prim._itemsize(X.dtype))
        size = max(1, prim.working_memory_bytes() // per_problem)
        parts = []
        for p in prim.iter_chunks(B, size):
            parts.append(
                prim.weighted_inertia_batched(
                    xp,
                    self._framed(X[p, ...], p),
                    w[p, ...],
                    self._fit_centers[p, ...],
                    labels[p, ...],
                )
            )
        inertia = parts[0] if len(parts) == 1 else xp.concat(parts)
        return -_squared_units(xp, inertia, self._scale)

    def _framed(self, X: Array, problems: slice) -> Array:
        """Rows of ``problems`` in the fitted frame, ``X * scale - mean``."""
        Xs = X * self._scale if self._scale != 1.0 else X
        return Xs - self._mean[problems, ...]

    def transform(self, X: Any) -> Array:
        """Distances to every centre: (n_problems, n_samples, n_clusters)."""
        X, xp = self._check_test_data(X, "transform")
        acc = prim.accumulation_dtype(xp, X.dtype, device(X))
        C = xp.astype(self._fit_centers, acc, copy=False)
        c_norms = prim.row_sq_norms(xp, C)
        Ct = prim.stacked_transpose(xp, C)
        B, n, d = X.shape
        k = C.shape[1]
        out_dtype = self.cluster_centers_.dtype
        out = None
        chunks = prim.iter_problem_chunks(
            xp, B, n, 3 * (k + d) * 8, cache_bytes=prim.NUMPY_BATCH_BYTES
        )
        for p, r in chunks:
            Xa = xp.astype(self._framed(X[p, r, :], p), acc)
            sq = prim.row_sq_norms(xp, Xa)[:, :, None] - 2 * (Xa @ Ct[p, ...])
            sq = xp.maximum(sq + c_norms[p, None, :], xp.zeros_like(sq))
            part = prim.scale_into(xp, xp.sqrt(sq), 1.0 / self._scale, out_dtype)
            if p == slice(0, B) and r == slice(0, n):
                return part
            if out is None:
                out = xp.empty((B, n, k), dtype=out_dtype, device=device(X))
            out[p, r, :] = part
        return out


__all__ = ["BatchedKMeans", "batch_seeds", "batched_k_means"]
