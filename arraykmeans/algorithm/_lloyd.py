"""The K-means algorithm, written once against the Array API standard.

Everything here operates on arrays of one namespace ``xp`` (passed in, never
re-derived), using ``xp.*`` functions and the primitives of
:mod:`arraykmeans._primitives`. Random numbers are drawn on the host from a NumPy
``RandomState`` in the order scikit-learn draws them and moved to the device as
small arrays, so a seed selects the same initial centres on every backend.

Data reaching this module is already validated, centred (and possibly rescaled by
a power of two, which is exact); see :mod:`arraykmeans._kmeans`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .._config import _report, _reporting
from ..backends import StandardBackend, device_of
from ._relocate import relocate_empty_clusters

Array = Any


# ------------------------------------------------------------------ initialisation


@dataclass
class LloydResult:
    labels: Array
    inertia: float
    centers: Array
    n_iter: int
    n_distinct: int | None = None
    """Centres with rows, where the backend counted them in the last pass."""


def lloyd(
    be: StandardBackend,
    X: Array,
    sample_weight: Array,
    centers_init: Array,
    *,
    max_iter: int,
    tol: float,
    verbose: bool = False,
    unit: float = 1.0,
    project: Any = None,
) -> LloydResult:
    """One run of Lloyd's algorithm with scikit-learn's stopping rules.

    Iteration ``i`` assigns the rows to ``centers`` and moves every centre to the
    weighted mean of its rows (empty clusters are relocated to the points farthest
    from their centres). The run stops on strict convergence (labels unchanged),
    when the squared centre shift is ``<= tol``, or after ``max_iter`` iterations;
    except on strict convergence, the labels are then recomputed from the final
    centres so that they match ``predict``. ``unit`` converts the verbose
    output's distances to the caller's units (see ``Frame.squared``).
    ``project``, if given, maps each iteration's new centres (the weighted
    means) before they are used: spherical K-means puts them back on the
    unit sphere.

    That final assignment is the next iteration's assignment, so the loop runs it
    first and reads the previous iteration's shift test together with this one's
    label test and empty-cluster count: one small device-to-host copy per
    iteration is the only synchronisation.

    Strict convergence stops at once only when the centres are clean (see
    :func:`_rules_of_one`); otherwise after one more assignment.
    """
    xp = be.xp
    device = device_of(X)
    acc = be.accumulation_dtype(X.dtype, device)
    say = _Reporter(verbose, unit)
    centers = centers_init
    labels_prev = None
    # Whether the previous iteration's centres came from a relocation or
    # copied a centre into an empty cluster (were not plain means).
    empty_prev = False
    # Strict convergence with moved centres: one more assignment, then stop.
    final = False
    shift_prev = xp.asarray(math.inf, dtype=acc, device=device)
    i = 0
    while True:
        step = be.assign_chunked(
            X, centers, sample_weight=sample_weight, accumulate=True, acc_dtype=acc,
            previous=labels_prev,
        )  # fmt: skip
        strict, n_empty, shift_tot = _read_flags(be, step, shift_prev, acc)
        tol_done, stepping, unchanged, strict_done = _rules_of_one(
            i, max_iter, not final, shift_tot, tol, strict,
            not n_empty and not empty_prev,
        )  # fmt: skip
        if tol_done:
            say.tolerance(i - 1, shift_tot, tol)
        if not stepping:
            break
        if verbose or _reporting():
            inertia = _inertia(be, X, sample_weight, centers, step)
            if verbose:
                say.inertia(i, inertia)
            _report("iteration", iteration=i, inertia=inertia * unit * unit)
        centers, shift_prev = _moved_centers(
            be, X, sample_weight, centers, step, n_empty, project
        )
        i += 1
        if unchanged:
            say.strict(i - 1)
            if strict_done:
                break
            final = True
        labels_prev = step.labels
        empty_prev = n_empty > 0

    return LloydResult(
        labels=step.labels,
        inertia=_inertia(be, X, sample_weight, centers, step),
        centers=centers,
        n_iter=i,
        n_distinct=step.n_distinct,
    )


def _inertia(be, X, sample_weight, centers, step) -> float:
    """The step's inertia: measured in its pass by backends that do (Dask on
    streamed data), else a pass of its own."""
    if step.inertia is not None:
        return step.inertia
    return be.weighted_inertia(X, sample_weight, centers, step.labels)


def stopping_rules(
    xp: ModuleType,
    i: int,
    max_iter: int,
    going: Array,
    shift_prev: Array,
    tol: Array,
    changed: Array,
    clean: Array,
) -> tuple[Array, ...]:
    """scikit-learn's stopping rules, per problem, for the step just assigned.

    Written once for a stack of problems ((B,) boolean arrays, on the
    device) and for one problem (its flags as (1,) host arrays, ``xp``
    NumPy). ``going``: problems that assigned this step and may go on (the
    finishing ones stop here). ``clean``: the centres are the plain means of
    the labels they were updated from (no relocation). Returns (B,) masks: stopped by the tolerance on the
    previous shift, by ``max_iter``, still stepping, labels unchanged,
    strictly converged (unchanged and clean: stop with these centres), and
    finishing (unchanged but not clean: update, assign once more, stop).
    """
    none = xp.zeros_like(going)
    tol_done = going & (shift_prev <= tol) if i > 0 else none
    max_done = (going & ~tol_done) if i == max_iter else none
    stepping = going & ~tol_done & ~max_done
    unchanged = stepping & ~changed if i > 0 else none
    return (
        tol_done,
        max_done,
        stepping,
        unchanged,
        unchanged & clean,
        unchanged & ~clean,
    )


def _rules_of_one(
    i: int,
    max_iter: int,
    going: bool,
    shift_prev: float,
    tol: float,
    unchanged: bool,
    clean: bool,
) -> tuple[bool, bool, bool, bool]:
    """:func:`stopping_rules` for one problem, on the host: (stopped by the
    tolerance, still stepping, labels unchanged, strictly converged).

    ``clean``: neither this iteration nor the previous one had an empty
    cluster. Strict convergence returns the labels as they are only then:
    the new centres are the previous ones bit for bit (the same rows summed
    in the same order), so the labels are those of the returned centres.
    Otherwise a relocation (or an empty cluster's fallback centre) has moved
    centres since the labels were assigned, and the run stops after a final
    assignment, as on the other stopping rules. scikit-learn returns the
    labels and inertia of the centres before the move there; the iteration
    count is the same. (Going on iterating instead can cycle: with fewer
    distinct points than clusters, relocations driven by rounding residuals
    may move the same points back and forth.)
    """
    masks = stopping_rules(
        np, i, max_iter, np.asarray([going]), np.asarray([shift_prev]),
        np.asarray([tol]), np.asarray([not unchanged]), np.asarray([clean]),
    )  # fmt: skip
    tol_done, _, stepping, unchanged_, strict_done, _ = (bool(m[0]) for m in masks)
    return tol_done, stepping, unchanged_, strict_done


def _read_flags(
    be: StandardBackend, step: Any, shift_prev: Array, acc: Any
) -> tuple[bool, int, float]:
    """The iteration's one host read: labels unchanged, empty clusters, and the
    previous iteration's squared centre shift."""
    xp = be.xp
    if step.changed is None:
        unchanged = xp.asarray(False, device=device_of(step.weights))
    else:
        unchanged = xp.logical_not(step.changed)
    n_empty = xp.count_nonzero(step.weights == 0)
    flags = be.host_scalars([unchanged, n_empty, shift_prev], acc)
    return bool(flags[0]), int(flags[1]), float(flags[2])


def _moved_centers(
    be: StandardBackend,
    X: Array,
    sample_weight: Array,
    centers: Array,
    step: Any,
    n_empty: int,
    project: Any = None,
) -> tuple[Array, Array]:
    """The M-step: weighted means (empty clusters relocated first), and the
    squared centre shift, rounded as scikit-learn rounds it (the squares of
    the rows' norms, summed)."""
    xp = be.xp
    sums, weights = step.sums, step.weights
    if n_empty:
        sums, weights = relocate_empty_clusters(
            be, X, sample_weight, centers, sums, weights, step.labels, n_empty
        )
    new = average_centers(be, sums, weights, X.dtype, empty=n_empty > 0)
    if project is not None:
        new = project(new)
    shift = xp.sqrt(xp.sum((new - centers) ** 2, axis=1))
    return new, xp.sum(shift**2)


@dataclass
class _Reporter:
    """The verbose output, distances in the caller's units (``unit``)."""

    verbose: bool
    unit: float

    def tolerance(self, i: int, shift: float, tol: float) -> None:
        if self.verbose:
            u2 = self.unit * self.unit
            print(
                f"Converged at iteration {i}: center shift {shift * u2} within "
                f"tolerance {tol * u2}."
            )

    def inertia(self, i: int, inertia: float) -> None:
        print(f"Iteration {i}, inertia {inertia * self.unit * self.unit}.")

    def strict(self, i: int) -> None:
        if self.verbose:
            print(f"Converged at iteration {i}: strict convergence.")


def average_centers(
    be: StandardBackend, sums: Array, weights: Array, dtype: Any, *, empty: bool = True
) -> Array:
    """Weighted means; a cluster still empty copies the heaviest cluster's centre.

    ``sums`` has shape (..., k, d) and ``weights`` (..., k): one problem or a
    stack of them. ``empty=False`` promises that no cluster whose mean is used
    is empty (the caller knows it from its empty-cluster count) and skips the
    fallback; the means are the same.
    """
    xp = be.xp
    positive = weights > 0
    safe = xp.where(positive, weights, xp.ones_like(weights))
    means = sums * (1 / safe)[..., None]
    if not empty:
        return xp.astype(means, dtype, copy=False)
    heaviest = xp.argmax(weights, axis=-1, keepdims=True)
    if means.ndim == 2:
        fallback = be.gather_rows(means[None, ...], heaviest[None, ...])[0, ...]
    else:
        fallback = be.gather_rows(means, heaviest)
    means = xp.where(positive[..., None], means, fallback)
    return xp.astype(means, dtype, copy=False)


def is_better(
    be: StandardBackend,
    result: LloydResult,
    best: LloydResult | None,
) -> bool:
    """scikit-learn's rule for keeping a run: lower inertia and a different partition."""
    if best is None:
        return True
    return result.inertia < best.inertia and not be.is_same_clustering(
        result.labels, best.labels
    )
