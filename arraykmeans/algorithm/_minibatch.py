"""Mini-batch K-means (Sculley, 2010) with scikit-learn's rules, written once.

A fit draws batches of rows, assigns each batch to the current centres and
moves every centre towards the mean of its batch rows with a learning rate
that falls as the centre accumulates weight (see
:meth:`arraykmeans.backends.StandardBackend.minibatch_update`). Around that
step this module keeps scikit-learn's bookkeeping so that a seed gives
scikit-learn's run:

* batches: ``RandomState.choice(n, b, p=w / Σw)`` draw for draw (one
  uniform per row of the batch, searched in the host cumulative
  probabilities built once per fit), gathered on the device;
* the random reassignment of centres with little weight (``_reassign``),
  with its host draws;
* early stopping on the squared centre change (``tol``) and on an
  exponentially weighted average of the batch inertia
  (:class:`Convergence`).

All random numbers are drawn on the host from NumPy's ``RandomState`` in
scikit-learn's order; per step the device sends back only ``k + 2`` numbers
(the weight seen by each centre, the batch inertia and the centre change),
in one copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._config import _report
from ..backends import StandardBackend, device_of
from . import _init

Array = Any


@dataclass
class MiniBatchState:
    """What a mini-batch run carries from step to step (and ``partial_fit``
    from call to call).

    ``centers`` and ``counts`` (the weight each centre has seen, scikit-learn's
    ``_counts``) live on the device in the data dtype; ``counts_host`` is
    their host copy, which the reassignment rules read.
    """

    centers: Array
    counts: Array
    counts_host: np.ndarray
    n_since_last_reassign: int = 0

    @classmethod
    def start(cls, be: StandardBackend, centers: Array) -> MiniBatchState:
        """A state at the initial centres, no weight seen yet."""
        xp = be.xp
        k = centers.shape[0]
        counts = xp.zeros((k,), dtype=centers.dtype, device=device_of(centers))
        return cls(centers, counts, np.zeros(k, dtype=host_dtype(be, centers)))


def host_dtype(be: StandardBackend, x: Array) -> np.dtype:
    """The NumPy dtype of ``x``'s floating dtype (float32 or float64)."""
    return np.dtype(np.float32 if x.dtype == be.xp.float32 else np.float64)


def should_reassign(state: MiniBatchState, batch_size: int, n_clusters: int) -> bool:
    """scikit-learn's ``_random_reassign``: reassign after every
    ``10 * n_clusters`` rows seen, or at once while a centre has seen none.
    Counts this step's ``batch_size`` rows (call it once per step)."""
    state.n_since_last_reassign += batch_size
    if (state.counts_host == 0).any() or state.n_since_last_reassign >= (
        10 * n_clusters
    ):
        state.n_since_last_reassign = 0
        return True
    return False


def minibatch_step(
    be: StandardBackend,
    X: Array,
    sample_weight: Array,
    state: MiniBatchState,
    random_state: np.random.RandomState,
    *,
    reassign: bool,
    reassignment_ratio: float,
    want_change: bool,
    verbose: bool = False,
) -> tuple[float, float]:
    """One step on the batch ``X`` (b, d): update, then (``reassign``)
    random reassignment; ``state`` is updated.

    Returns the batch inertia (to the centres before the step) and, with
    ``want_change``, the squared Frobenius norm of the centres' change over
    the whole step (0.0 otherwise), as scikit-learn measures it for ``tol``.
    """
    xp = be.xp
    old = state.centers
    new, counts, inertia = be.minibatch_update(X, sample_weight, old, state.counts)
    acc = inertia.dtype
    parts = [xp.astype(counts, acc), xp.reshape(inertia, (1,))]
    if want_change:
        parts.append(xp.reshape(xp.astype(xp.sum((new - old) ** 2), acc), (1,)))
    host = be.to_host(xp.concat(parts))
    k = old.shape[0]
    state.centers, state.counts = new, counts
    state.counts_host = host[:k].astype(state.counts_host.dtype)
    change = float(host[k + 1]) if want_change else 0.0
    if reassign and reassignment_ratio > 0:
        moved = _reassign(be, X, state, random_state, reassignment_ratio, verbose)
        if moved and want_change:
            change = float(xp.sum((state.centers - old) ** 2))
    state.centers, state.counts = be.settle(state.centers, state.counts)
    return float(host[k]), change


def _reassign(
    be: StandardBackend,
    X: Array,
    state: MiniBatchState,
    random_state: np.random.RandomState,
    ratio: float,
    verbose: bool,
) -> bool:
    """Move the centres with less than ``ratio`` times the largest weight seen
    to random rows of the batch (at most half the batch), as scikit-learn's
    ``_mini_batch_step`` does, and give them the smallest weight among the
    others (so that they are not reassigned again at once). The decisions
    and draws are made on the host in the data dtype, as scikit-learn makes
    them; returns whether any centre moved.
    """
    xp = be.xp
    counts = state.counts_host
    b = X.shape[0]
    to_reassign = counts < ratio * counts.max()
    if to_reassign.sum() > 0.5 * b:
        to_reassign[np.argsort(counts)[int(0.5 * b) :]] = False
    n_reassigns = int(to_reassign.sum())
    if n_reassigns:
        rows = random_state.choice(b, replace=False, size=n_reassigns)
        if verbose:
            print(f"[MiniBatchKMeans] Reassigning {n_reassigns} cluster centers.")
        source = np.zeros(counts.shape[0], dtype=np.int64)
        source[to_reassign] = rows
        device = device_of(X)
        picked = be.take_rows(X, be.from_host(source, dtype=xp.int64, device=device))
        mask = be.from_host(to_reassign, dtype=xp.bool, device=device)
        state.centers = xp.where(mask[:, None], picked, state.centers)
    counts[to_reassign] = np.min(counts[~to_reassign])
    if n_reassigns:
        state.counts = be.from_host(counts, dtype=X.dtype, device=device_of(X))
    return n_reassigns > 0


class BatchSampler:
    """Index batches drawn as ``RandomState.choice(n, b, p=p, replace=True)``.

    NumPy's ``choice`` builds ``cumsum(p) / cumsum(p)[-1]`` (float64) and
    searches one uniform per draw in it, on every call: O(n) work per batch,
    which dominates scikit-learn's steps on large data. The cumulative
    probabilities are built here once, with the same operations, so each
    batch costs its ``b`` uniforms and searches and the indices are the same.

    Parameters
    ----------
    weights : host array of shape (n,)
        The sample weights in the data dtype; ``p = weights / weights.sum()``
        is formed in that dtype, as scikit-learn forms it.
    """

    def __init__(self, weights: np.ndarray) -> None:
        self.total = np.sum(weights)
        p = (weights / self.total).astype(np.float64)
        cdf = np.cumsum(p)
        cdf /= cdf[-1]
        self.cdf = cdf

    def draw(self, random_state: np.random.RandomState, size: int) -> np.ndarray:
        """``size`` row indices (int64)."""
        uniforms = random_state.random_sample(size)
        return self.cdf.searchsorted(uniforms, side="right")


@dataclass
class Convergence:
    """scikit-learn's ``_mini_batch_convergence``: stop on a small centre change
    (``tol`` > 0) or when the exponentially weighted average (EWA) of the
    per-row batch inertia has not improved for ``max_no_improvement`` steps.

    The EWA smooths the batch-to-batch noise with weight
    ``alpha = min(1, 2 b / (n + 1))``: about one pass over the data's worth of
    batches. The first step's inertia, measured at the initial centres, is
    left out.
    """

    batch_size: int
    n_samples: int
    tol: float
    max_no_improvement: int | None
    verbose: bool = False
    ewa_inertia: float | None = None
    ewa_inertia_min: float | None = None
    no_improvement: int = 0

    def done(self, i: int, n_steps: int, change: float, batch_inertia: float) -> bool:
        """Whether to stop after step ``i`` (from 0) of ``n_steps``."""
        batch_inertia /= self.batch_size
        step = i + 1
        if step == 1:
            if self.verbose:
                print(
                    f"Minibatch step {step}/{n_steps}: mean batch inertia: "
                    f"{batch_inertia}"
                )
            return False
        if self.ewa_inertia is None:
            self.ewa_inertia = batch_inertia
        else:
            alpha = min(self.batch_size * 2.0 / (self.n_samples + 1), 1)
            self.ewa_inertia = self.ewa_inertia * (1 - alpha) + batch_inertia * alpha
        if self.verbose:
            print(
                f"Minibatch step {step}/{n_steps}: mean batch inertia: "
                f"{batch_inertia}, ewa inertia: {self.ewa_inertia}"
            )
        if self.tol > 0.0 and change <= self.tol:
            if self.verbose:
                print(f"Converged (small centers change) at step {step}/{n_steps}")
            return True
        return self._no_improvement_for_long(step, n_steps)

    def _no_improvement_for_long(self, step: int, n_steps: int) -> bool:
        if self.ewa_inertia_min is None or self.ewa_inertia < self.ewa_inertia_min:
            self.no_improvement = 0
            self.ewa_inertia_min = self.ewa_inertia
        else:
            self.no_improvement += 1
        stop = (
            self.max_no_improvement is not None
            and self.no_improvement >= self.max_no_improvement
        )
        if stop and self.verbose:
            print(
                f"Converged (lack of improvement in inertia) at step {step}/{n_steps}"
            )
        return stop


def run_minibatch(
    be: StandardBackend,
    X: Array,
    sampler: BatchSampler,
    state: MiniBatchState,
    random_state: np.random.RandomState,
    *,
    max_iter: int,
    conv: Convergence,
    reassignment_ratio: float,
) -> int:
    """The steps of a fit: ``max_iter * n // b`` batches at most, early stopping
    by ``conv``. Returns the number of steps made; ``state`` holds the result.

    Batches carry unit weights: they are drawn with probability proportional
    to the sample weights already (scikit-learn's choice, so that weights are
    not counted twice).
    """
    xp = be.xp
    n = X.shape[0]
    b = conv.batch_size
    k = state.centers.shape[0]
    device = device_of(X)
    n_steps = (max_iter * n) // b
    unit = xp.ones((b,), dtype=X.dtype, device=device)
    i = 0
    for i in range(n_steps):
        rows = be.from_host(
            sampler.draw(random_state, b), dtype=xp.int64, device=device
        )
        batch = be.take_rows(X, rows)
        inertia, change = minibatch_step(
            be, batch, unit, state, random_state,
            reassign=should_reassign(state, b, k),
            reassignment_ratio=reassignment_ratio, want_change=conv.tol > 0.0,
            verbose=conv.verbose,
        )  # fmt: skip
        stop = conv.done(i, n_steps, change, inertia)
        _report("step", step=i + 1, n_steps=n_steps, inertia=float(inertia) / b)
        if stop:
            break
    return i + 1


def labels_inertia(
    be: StandardBackend, X: Array, sample_weight: Array, centers: Array
) -> tuple[Array, float]:
    """Closest centre of every row and the weighted inertia (scikit-learn's
    ``_labels_inertia``)."""
    labels = be.assign_chunked(X, centers).labels
    return labels, be.weighted_inertia(X, sample_weight, centers, labels)


def init_centers(
    be: StandardBackend,
    X: Array,
    sample_weight: Array,
    n_clusters: int,
    init: Any,
    random_state: np.random.RandomState,
    init_size: int,
) -> Array:
    """scikit-learn's ``_init_centroids`` with ``init_size``: the initial
    centres from ``init_size`` rows drawn with replacement (uniformly:
    ``randint``), or from all rows when ``init_size >= n``."""
    xp = be.xp
    n = X.shape[0]
    if init_size < n:
        rows = be.from_host(
            random_state.randint(0, n, init_size), dtype=xp.int64, device=device_of(X)
        )
        X, sample_weight = be.take_rows(X, rows), xp.take(sample_weight, rows)
    return _init.initial_centers(be, X, n_clusters, init, sample_weight, random_state)


def best_init(
    be: StandardBackend,
    X: Array,
    sample_weight: Array,
    n_clusters: int,
    init: Any,
    random_state: np.random.RandomState,
    *,
    n_init: int,
    init_size: int,
    verbose: bool = False,
) -> Array:
    """The initial centres of ``n_init`` tries with the lowest inertia on one
    validation batch of ``init_size`` rows (drawn before the tries), as
    scikit-learn's ``MiniBatchKMeans.fit`` chooses them: a try costs an
    initialisation on a subsample, not a run."""
    xp = be.xp
    n = X.shape[0]
    rows = be.from_host(
        random_state.randint(0, n, init_size), dtype=xp.int64, device=device_of(X)
    )
    X_valid, w_valid = be.take_rows(X, rows), xp.take(sample_weight, rows)
    best = best_inertia = None
    for t in range(n_init):
        if verbose:
            print(f"Init {t + 1}/{n_init} with method {init}")
        centers = init_centers(
            be, X, sample_weight, n_clusters, init, random_state, init_size
        )
        _, inertia = labels_inertia(be, X_valid, w_valid, centers)
        if verbose:
            print(f"Inertia for init {t + 1}/{n_init}: {inertia}")
        if best_inertia is None or inertia < best_inertia:
            best, best_inertia = centers, inertia
    return best
