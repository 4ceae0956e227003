"""Initial centres: k-means++, random rows and k-means||, each written once over stacks.

Random numbers are drawn on the host from NumPy ``RandomState`` generators in
the order scikit-learn draws them and moved to the device as small arrays, so
a seed selects the same initial centres on every backend. The searches,
distances and potentials run on the device, with no host round trip per centre.
:func:`initial_centers` is the registry of the methods a ``KMeans`` accepts.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _validation as val
from ..backends import (
    MIN_CHUNK_ROWS,
    StandardBackend,
    device_of,
    itemsize,
    iter_chunks,
    working_memory_bytes,
)

Array = Any


def kmeans_plusplus_init(
    be: StandardBackend,
    X: Array,
    n_clusters: int,
    sample_weight: Array,
    random_state: np.random.RandomState,
    *,
    x_squared_norms: Array | None = None,
    n_local_trials: int | None = None,
) -> tuple[Array, Array]:
    """Greedy k-means++ seeding, as scikit-learn's ``_kmeans_plusplus``.

    The random draws are made up front on the host (one uniform for the first
    centre, then ``n_local_trials`` per further centre, in scikit-learn's order);
    distances, cumulative sums and searches run on the device with no host round
    trip per centre.

    Returns
    -------
    centers : array of shape (n_clusters, d)
    indices : array of shape (n_clusters,), default integer dtype
    """
    xp = be.xp
    n = X.shape[0]
    acc = be.accumulation_dtype(X.dtype, device_of(X))
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    # Host draws, same stream as scikit-learn: choice(n, p=...) takes one double,
    # then uniform(size=n_local_trials) for every further centre (uniform(0, 1)
    # is the double itself).
    draws = random_state.random_sample(
        kmeans_plusplus_draws(n_clusters, n_local_trials)
    )
    rows_to = _distances_from(be, X, x_squared_norms, n_local_trials, acc)
    indices = _greedy_seeds(
        be,
        lambda idx: rows_to(idx[0, :])[None, ...],
        sample_weight[None, :],
        draws[None, :],
        n_local_trials,
        last=n - 1,
        acc=acc,
    )[0, :]
    return xp.take(X, indices, axis=0), indices


def _greedy_seeds(
    be: StandardBackend,
    distances_to: Any,
    sample_weight: Array,
    draws: np.ndarray,
    n_local_trials: int,
    *,
    last: Array | int,
    acc: Any,
) -> Array:
    """The greedy k-means++ rule for a stack of problems: the rows chosen, (B, k).

    The first centre is row ``choice(n, p=w / w.sum())`` for the first uniform;
    each further centre is the best of ``n_local_trials`` candidates drawn with
    probability ∝ w d² (d: the distance to the nearest centre so far), the one
    whose choice leaves the least potential Σ w d² (first on ties).
    ``distances_to(idx)`` gives the squared distances (B, m, n) from the rows
    ``idx`` (B, m) to all rows; ``draws[b]`` are problem b's uniforms (see
    :func:`kmeans_plusplus_draws`); searches are clipped to ``last``, the last
    row a problem may choose (its padding rows come after).
    """
    xp = be.xp
    B, n = sample_weight.shape
    m = n_local_trials
    device = device_of(sample_weight)
    trial_u = be.from_host(draws[:, 1:].reshape(B, -1, m), dtype=acc, device=device)
    first = _first_index(
        be, sample_weight, be.from_host(draws[:, :1], dtype=acc, device=device), acc
    )
    first = xp.minimum(first, last)
    closest = distances_to(first)
    current_pot = _potentials(closest, sample_weight)[:, 0]
    closest = closest[:, 0, :]
    offsets = xp.arange(B, device=device) * m
    indices = [first]
    for c in range(trial_u.shape[1]):
        rand_vals = trial_u[:, c, :] * xp.astype(current_pot, acc)[:, None]
        cum = xp.astype(
            xp.cumulative_sum(sample_weight * closest, axis=1), acc, copy=False
        )
        candidates = xp.minimum(be.count_sorted(cum, rand_vals, side="left"), last)
        dist = xp.minimum(closest[:, None, :], distances_to(candidates))
        pots = _potentials(dist, sample_weight)
        # Each problem's best trial, as one flat gather (no take_along_axis:
        # Dask's namespace has none, and this stays lazy there).
        flat = xp.argmin(pots, axis=1) + offsets
        current_pot = xp.take(xp.reshape(pots, (B * m,)), flat)
        closest = xp.take(xp.reshape(dist, (B * m, n)), flat, axis=0)
        indices.append(xp.take(xp.reshape(candidates, (B * m,)), flat)[:, None])
    return xp.concat(indices, axis=1)


def _potentials(dist: Array, sample_weight: Array) -> Array:
    """Σ_i w_i dist[b, j, i] → (B, m), as a matrix product shaped as
    scikit-learn shapes it ((trials, n) @ (n, 1) per problem): the same BLAS
    call adds the terms in the same order, so in float32 the same candidate
    wins."""
    return (dist @ sample_weight[:, :, None])[:, :, 0]


def _first_index(
    be: StandardBackend, sample_weight: Array, u: Array, acc: Any
) -> Array:
    """The first centre's index per problem, (B, 1): NumPy's
    ``choice(n, p=w / w.sum())`` for the uniforms ``u`` (B, 1), its
    cumulative probabilities in ``acc``."""
    xp = be.xp
    n = sample_weight.shape[1]
    p = sample_weight / xp.sum(sample_weight, axis=1, keepdims=True)
    cdf = xp.cumulative_sum(xp.astype(p, acc, copy=False), axis=1)
    cdf = cdf / cdf[:, -1:]
    first = be.count_sorted(cdf, u, side="right")
    # minimum, not clip: the same indices, a twentieth of the time on NumPy.
    return xp.minimum(first, n - 1)


def _distances_from(
    be: StandardBackend,
    X: Array,
    x_squared_norms: Array | None,
    n_local_trials: int,
    acc: Any,
) -> Any:
    """``distances_to(idx)``: squared distances (len(idx), n) from the rows
    ``idx`` of X to every row, formed in ``acc`` (scikit-learn upcasts
    float32 here too) and stored in X's dtype, one chunk of rows at a time."""
    xp = be.xp
    n, d = X.shape
    dtype = X.dtype
    if x_squared_norms is None:
        x_norms = _row_norms_acc(be, X, acc)
    else:
        x_norms = xp.astype(x_squared_norms, acc)
    # On the CPU, chunks of about a megabyte keep the widened rows in cache.
    rows = be.chunk_rows(
        n,
        (n_local_trials + 1) * itemsize(acc) + d * itemsize(acc),
        cache_rows=max(MIN_CHUNK_ROWS, 2**20 // (d * itemsize(acc))),
    )
    chunks = list(iter_chunks(n, rows))

    def distances_to(idx: Array) -> Array:
        Y = xp.astype(xp.take(X, idx, axis=0), acc, copy=False)
        y_norms = be.row_sq_norms(Y)
        # -2 is a power of two: (-2 Y) X^T is exactly -2 (Y X^T), one pass less.
        Y = Y * -2
        out = []
        for sl in chunks:
            Xa = xp.astype(X[sl, ...], acc, copy=False)
            dist = Y @ xp.permute_dims(Xa, (1, 0))
            dist = dist + y_norms[:, None]
            dist = dist + x_norms[None, sl]
            out.append(xp.astype(xp.maximum(dist, 0.0), dtype, copy=False))
        return out[0] if len(out) == 1 else xp.concat(out, axis=1)

    return distances_to


def _row_norms_acc(be: StandardBackend, X: Array, acc: Any) -> Array:
    xp = be.xp
    if X.dtype == acc:
        return be.row_sq_norms(X)
    n, d = X.shape
    rows = be.chunk_rows(n, d * itemsize(acc) + 16)
    parts = [
        be.row_sq_norms(xp.astype(X[sl, ...], acc, copy=False))
        for sl in iter_chunks(n, rows)
    ]
    return xp.concat(parts)


def random_init(
    be: StandardBackend,
    X: Array,
    n_clusters: int,
    sample_weight: Array,
    random_state: np.random.RandomState,
) -> Array:
    """``n_clusters`` distinct rows drawn with probability ∝ ``sample_weight``.

    Reproduces ``RandomState.choice(n, size=k, replace=False, p=w / w.sum())``
    draw for draw: rounds of uniforms on the host, cumulative sums and searches
    on the device, de-duplication of the (k or fewer) found indices on the host.
    """
    xp = be.xp
    positive = int(xp.sum(xp.astype(sample_weight > 0, xp.int32)))
    if positive < n_clusters:
        raise ValueError(
            f"init='random' needs at least n_clusters={n_clusters} samples with a "
            f"positive sample_weight, got {positive}."
        )
    found = _random_indices(be, sample_weight[None, :], n_clusters, [random_state])
    indices = be.from_host(found[0], dtype=xp.int64, device=device_of(X))
    return xp.take(X, indices, axis=0)


@dataclass(frozen=True)
class KMeansParallel:
    """The k-means|| seeding with its options, for ``init=`` of the estimators.

    ``init="k-means||"`` is ``init=KMeansParallel()``: the same centres for
    the same ``random_state``. A small frozen object rather than more
    estimator parameters, so that ``KMeans`` keeps scikit-learn's signature;
    it compares by value and has a plain repr, so ``get_params``,
    ``set_params`` and scikit-learn's ``clone`` (which deep-copies it) keep it.

    Parameters
    ----------
    oversampling_factor : positive float or None, default=None
        ``l``, the expected number of candidate rows each round keeps (a row
        is kept with probability ``min(1, l * w_i * d_i² / Σ w d²)``). None
        means ``2 * n_clusters``. An absolute count, not a multiple of
        ``n_clusters`` (dask-ml's ``oversampling_factor`` is a multiple).
        Larger values keep more candidates: better seeds, a larger
        reclustering in memory.
    n_rounds : int >= 1, default=5
        Sampling rounds, each one pass over X. More rounds keep more
        candidates; Bahmani et al. found about 5 enough.

    Notes
    -----
    All random numbers are drawn on the host from the estimator's
    ``random_state`` (NumPy ``RandomState``: one uniform for the first
    candidate, then one per row and round), so a seed gives the same centres
    on every backend and device.

    Examples
    --------
    >>> from arraykmeans import KMeans, KMeansParallel
    >>> KMeans(8, init=KMeansParallel(oversampling_factor=32, n_rounds=3))
    KMeans(init=KMeansParallel(oversampling_factor=32, n_rounds=3))
    """

    oversampling_factor: float | None = None
    n_rounds: int = 5

    def __post_init__(self) -> None:
        factor = self.oversampling_factor
        if factor is not None:
            if not isinstance(factor, numbers.Real) or isinstance(factor, bool):
                raise TypeError(
                    "KMeansParallel's 'oversampling_factor' must be a positive real "
                    f"number or None, got {factor!r} ({type(factor).__name__})."
                )
            if not (math.isfinite(factor) and factor > 0):
                raise ValueError(
                    "KMeansParallel's 'oversampling_factor' must be a positive, "
                    f"finite number or None, got {factor!r}."
                )
        rounds = self.n_rounds
        if not isinstance(rounds, numbers.Integral) or isinstance(rounds, bool):
            raise TypeError(
                "KMeansParallel's 'n_rounds' must be an int >= 1, got "
                f"{rounds!r} ({type(rounds).__name__})."
            )
        if rounds < 1:
            raise ValueError(
                f"KMeansParallel's 'n_rounds' must be an int >= 1, got {rounds!r}."
            )


# The option objects ``init=`` accepts besides method names (validation is
# told of them: it knows no algorithm).
SEEDING_OPTIONS: tuple[type, ...] = (KMeansParallel,)


def is_seeding_method(init: Any) -> bool:
    """Whether ``init`` names a seeding the registry runs (a method name or a
    :class:`KMeansParallel`), as opposed to centres or a callable: such an
    init is neither converted nor moved like an array."""
    return isinstance(init, (str, *SEEDING_OPTIONS))


class _RoundSampler:
    """A k-means|| round's random numbers: one uniform per row from the
    estimator's ``random_state``, and the oversampling factor. ``undo`` puts
    the state back, for a backend that drew them before it knew that the
    round samples nothing (a total potential of 0): the draws that follow are
    then the ones made without it."""

    def __init__(self, random_state: np.random.RandomState, ell: float) -> None:
        self.random_state, self.ell = random_state, ell
        self._state: Any = None

    def draw(self, n: int) -> np.ndarray:
        self._state = self.random_state.get_state()
        return self.random_state.random_sample(n)

    def undo(self) -> None:
        if self._state is not None:
            self.random_state.set_state(self._state)
            self._state = None


def kmeans_parallel_init(
    be: StandardBackend,
    X: Array,
    n_clusters: int,
    sample_weight: Array,
    random_state: np.random.RandomState,
    *,
    oversampling_factor: float | None = None,
    n_rounds: int = 5,
) -> Array:
    """k-means|| seeding (Bahmani et al., 2012): a few passes over X instead
    of k-means++'s one pass per centre.

    The first candidate is drawn as k-means++ draws its first centre. Each of
    ``n_rounds`` rounds then keeps every row independently with probability
    ``min(1, l * w_i * d_i² / Σ w d²)`` (``l = oversampling_factor``, by
    default ``2 * n_clusters``; ``d_i`` the distance to the nearest
    candidate so far): one assignment pass to the new candidates, whose
    distances update the nearest ones. The candidates are then weighted by
    the sample weight of the rows nearest to them (one more pass) and
    reduced to ``n_clusters`` centres in memory by weighted k-means++ and
    Lloyd iterations on the candidates. All random numbers are drawn on the
    host from ``random_state`` (one uniform per row and round), so a seed
    gives the same centres on every backend. Not a scikit-learn method:
    results are not scikit-learn's.
    """
    xp = be.xp
    device = device_of(X)
    acc = be.accumulation_dtype(X.dtype, device)
    ell = 2.0 * n_clusters if oversampling_factor is None else oversampling_factor
    first_u = be.from_host(
        np.asarray([[random_state.random_sample()]]), dtype=acc, device=device
    )
    chosen = be.to_host(_first_index(be, sample_weight[None, :], first_u, acc))[0]
    closest = nearest = None
    # Held where lazy: the first round and the candidates at the end read it.
    rows = be.settle(
        xp.take(X, be.from_host(chosen, dtype=xp.int64, device=device), axis=0)
    )
    gathered, n_new = [rows], 1
    for r in range(n_rounds + 1):
        # Distances to this round's new candidates ``rows`` update every
        # row's nearest candidate (its position in ``chosen``) and its
        # distance to it; then the next round's candidates are drawn.
        sampler = None if r == n_rounds else _RoundSampler(random_state, ell)
        step = be.parallel_round(
            X, rows, chosen.size - n_new, closest, nearest, sample_weight,
            acc=acc, sampler=sampler,
        )  # fmt: skip
        closest, nearest = step.closest, step.nearest
        if step.picked is None:
            break
        fresh = np.flatnonzero(~np.isin(step.picked, chosen))
        if fresh.size == 0:
            break
        rows = step.picked_rows
        if fresh.size < step.picked.size:
            index = be.from_host(fresh, dtype=xp.int64, device=device)
            rows = xp.take(rows, index, axis=0)
        chosen = np.concatenate([chosen, step.picked[fresh]])
        gathered.append(rows)
        n_new = fresh.size
    if chosen.size <= n_clusters:
        # Too few candidates (tiny or degenerate data): k-means++ on X.
        return kmeans_plusplus_init(be, X, n_clusters, sample_weight, random_state)[0]
    # Each candidate weighs the rows nearest to it (found along the way: the
    # last round's candidates were measured above, none are added after);
    # the candidates are the rows gathered round by round, in ``chosen``'s order.
    cand = xp.concat(gathered, axis=0)
    cand_w = be.weight_sum(sample_weight, nearest, chosen.size, dtype=acc)
    # Held where lazy: the reclustering's iterations would each gather the
    # candidates from X again.
    cand, cand_w = be.settle(cand, xp.astype(cand_w, X.dtype))
    return _recluster(be, cand, cand_w, n_clusters, random_state)


def _recluster(
    be: StandardBackend,
    cand: Array,
    cand_w: Array,
    n_clusters: int,
    random_state: np.random.RandomState,
) -> Array:
    """``n_clusters`` centres for weighted candidates: weighted k-means++ on
    them, then Lloyd iterations on them (in memory: the candidates are few)."""
    from ._lloyd import lloyd

    xp = be.xp
    if int(xp.count_nonzero(cand_w > 0)) < n_clusters:
        # Candidates that attract no row are kept with a tiny weight, so
        # that n_clusters distinct centres exist.
        cand_w = xp.where(cand_w > 0, cand_w, xp.full_like(cand_w, 1e-12))
    centers, _ = kmeans_plusplus_init(be, cand, n_clusters, cand_w, random_state)
    result = lloyd(be, cand, cand_w, centers, max_iter=30, tol=0.0)
    return result.centers


# ---------------------------------------------------------------------- Lloyd loop


def initial_centers(
    be: StandardBackend,
    Xc: Array,
    k: int,
    init: Any,
    sample_weight: Array,
    random_state: np.random.RandomState,
) -> Array:
    xp = be.xp
    if isinstance(init, str) and init == "k-means++":
        with be.one_blas_thread():
            centers, _ = kmeans_plusplus_init(be, Xc, k, sample_weight, random_state)
        return centers
    if isinstance(init, str) and init == "random":
        return random_init(be, Xc, k, sample_weight, random_state)
    if isinstance(init, str) and init == "k-means||":
        init = KMeansParallel()
    if isinstance(init, KMeansParallel):
        return kmeans_parallel_init(
            be, Xc, k, sample_weight, random_state,
            oversampling_factor=init.oversampling_factor, n_rounds=init.n_rounds,
        )  # fmt: skip
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


def kmeans_plusplus_draws(n_clusters: int, n_local_trials: int | None = None) -> int:
    """How many uniform doubles one k-means++ initialisation draws."""
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    return 1 + (n_clusters - 1) * n_local_trials


def _last_valid_index(be: StandardBackend, valid: Array) -> Array:
    xp = be.xp
    n = valid.shape[1]
    positions = xp.arange(n, device=device_of(valid))
    return xp.max(xp.where(valid, positions, -1), axis=1)


def kmeans_plusplus_batched(
    be: StandardBackend,
    X: Array,
    n_clusters: int,
    sample_weight: Array,
    draws: np.ndarray,
    *,
    n_local_trials: int | None = None,
) -> Array:
    """Greedy k-means++ for every problem.

    ``draws[b]`` holds problem b's uniform doubles in the order a single fit
    draws them from its ``RandomState`` (one for the first centre, then
    ``n_local_trials`` per further centre: see :func:`kmeans_plusplus_draws`),
    so problem b selects the rows ``KMeans`` selects on its rows of positive
    weight with the same random state.

    Returns
    -------
    centers : array of shape (B, n_clusters, d)
    """
    xp = be.xp
    B = X.shape[0]
    acc = be.accumulation_dtype(X.dtype, device_of(X))
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    m = n_local_trials
    p = sample_weight / xp.sum(sample_weight, axis=1, keepdims=True)
    fast = be.kmeanspp_batched_indices(
        X,
        sample_weight,
        p,
        draws[:, 0],
        draws[:, 1:].reshape(B, n_clusters - 1, m),
    )
    if fast is None:
        fast = _greedy_seeds(
            be,
            _stack_distances_from(be, X, acc),
            sample_weight,
            draws,
            m,
            last=_last_valid_index(be, sample_weight > 0)[:, None],
            acc=acc,
        )
    return be.gather_rows(X, fast)


def _stack_distances_from(be: StandardBackend, X: Array, acc: Any) -> Any:
    """``distances_to(idx)``: for every problem b, squared distances (B, m, n)
    from its rows ``idx[b]`` to all its rows, formed in ``acc`` and stored in
    X's dtype, one chunk of problems at a time."""
    xp = be.xp
    B, n, d = X.shape
    dtype = X.dtype
    x_norms = xp.concat(
        [
            xp.sum(xp.astype(X[pr, ...], acc, copy=False) ** 2, axis=2)
            for pr, _ in be.iter_problem_chunks(B, n, 2 * d * 8)
        ],
        axis=0,
    )
    # Widen X once when the copy fits the working-memory budget, not per centre.
    X_acc = X
    if dtype != acc and B * n * d * itemsize(acc) <= working_memory_bytes():
        X_acc = xp.astype(X, acc)

    def distances_to(idx: Array) -> Array:
        Y = xp.astype(be.gather_rows(X, idx), acc, copy=False)
        y_norms = xp.sum(Y * Y, axis=2)
        # -2 is a power of two: (-2 Y) X^T is exactly -2 (Y X^T), one pass less.
        Y = Y * -2
        parts = []
        for pr, _ in be.iter_problem_chunks(B, n, (idx.shape[1] + d) * 8):
            Xa = xp.astype(X_acc[pr, ...], acc, copy=False)
            dist = Y[pr, ...] @ xp.permute_dims(Xa, (0, 2, 1))
            dist = dist + y_norms[pr, :, None]
            dist = dist + x_norms[pr, None, :]
            parts.append(xp.astype(xp.maximum(dist, 0.0), dtype, copy=False))
        return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)

    return distances_to


def random_init_batched(
    be: StandardBackend,
    X: Array,
    n_clusters: int,
    sample_weight: Array,
    random_states: list[np.random.RandomState],
) -> Array:
    """``n_clusters`` distinct rows per problem, drawn like ``random_init``.

    Every problem runs the rounds of ``RandomState.choice(..., replace=False,
    p=w/w.sum())``; rounds are batched across the problems that still need
    rows, the small de-duplication of drawn indices happens on the host.
    """
    found = _random_indices(be, sample_weight, n_clusters, random_states)
    indices = be.from_host(found, dtype=be.xp.int64, device=device_of(X))
    return be.gather_rows(X, indices)


def kmeans_parallel_batched(
    be: StandardBackend,
    X: Array,
    n_clusters: int,
    sample_weight: Array,
    random_states: list[np.random.RandomState],
    options: KMeansParallel,
) -> Array:
    """k-means|| for every problem of a stack: problem b's centres are those
    :func:`kmeans_parallel_init` picks on its rows of positive weight with
    ``random_states[b]``, i.e. what ``KMeans(init=options)`` seeds with
    them.

    A loop over the problems, each on its own valid rows: k-means|| draws
    one uniform per row and round and keeps a data-dependent number of
    candidates, so padding rows would shift a problem's stream and the
    candidate sets do not stack. Each problem still takes a few passes
    over its rows, as a single fit does; the valid rows are found with one
    copy of the weights' sign to the host.

    Returns
    -------
    centers : array of shape (B, n_clusters, d)
    """
    xp = be.xp
    device = device_of(X)
    valid = be.to_host(sample_weight > 0)
    centers = []
    for b, state in enumerate(random_states):
        rows = be.from_host(np.flatnonzero(valid[b]), dtype=xp.int64, device=device)
        centers.append(
            kmeans_parallel_init(
                be, xp.take(X[b, ...], rows, axis=0), n_clusters,
                xp.take(sample_weight[b, ...], rows), state,
                oversampling_factor=options.oversampling_factor,
                n_rounds=options.n_rounds,
            )
        )  # fmt: skip
    return xp.stack(centers)


def _random_indices(
    be: StandardBackend,
    sample_weight: Array,
    n_clusters: int,
    random_states: list[np.random.RandomState],
) -> np.ndarray:
    """The rows (B, n_clusters) that ``random_states[b].choice(n,
    size=n_clusters, replace=False, p=w[b] / w[b].sum())`` draws, on the host."""
    xp = be.xp
    B, n = sample_weight.shape
    device = device_of(sample_weight)
    acc = be.accumulation_dtype(sample_weight.dtype, device)
    p = xp.astype(sample_weight / xp.sum(sample_weight, axis=1, keepdims=True), acc)
    positions = xp.arange(n, device=device)
    found: list[list[int]] = [[] for _ in range(B)]
    while True:
        todo = [b for b in range(B) if len(found[b]) < n_clusters]
        if not todo:
            break
        u = np.full((B, n_clusters), 2.0)  # 2 > any cdf value: never used
        taken = np.full((B, n_clusters), -1, dtype=np.int64)
        for b in todo:
            draw = random_states[b].random_sample(n_clusters - len(found[b]))
            u[b, : draw.size] = draw
            taken[b, : len(found[b])] = found[b]
        if (taken >= 0).any():
            # Membership of every row in its problem's drawn set, by binary
            # search in the sorted set (padding -1 sorts first, matches no row).
            taken = np.sort(taken, axis=1)
            taken_dev = be.from_host(taken, dtype=xp.int64, device=device)
            rows = xp.broadcast_to(positions[None, :], (B, n))
            slot = be.count_sorted(taken_dev, rows, side="left")
            slot = xp.clip(slot, max=n_clusters - 1)
            is_taken = be.take_along_rows(taken_dev, slot) == rows
            p = xp.where(is_taken, xp.zeros_like(p), p)
        cdf = xp.cumulative_sum(p, axis=1)
        cdf = cdf / cdf[:, -1:]
        u_dev = be.from_host(u, dtype=acc, device=device)
        new = be.to_host(be.count_sorted(cdf, u_dev, side="right"))
        for b in todo:
            drawn = new[b, : n_clusters - len(found[b])]
            _, first_seen = np.unique(drawn, return_index=True)
            found[b].extend(int(i) for i in drawn[np.sort(first_seen)])
    return np.asarray(found)
