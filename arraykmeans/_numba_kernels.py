"""Optional compiled row loops for the NumPy fast path (needs numba).

NumPy has no fused "argmin of each row, then add the row to its cluster's sum":
as separate array operations both cost several passes over the distance block
and the rows, and ``argmin`` along short rows is slow. These two loops do it in
one pass each over data that is already in cache, the way scikit-learn's
compiled loop does, while BLAS keeps computing the distance blocks.

They are used only when numba imports and ``ARRAYKMEANS_DISABLE_NUMBA`` is not
set; the NumPy array operations of :mod:`arraykmeans._primitives` remain the
fallback and give the same labels (the same float comparisons, first index on
ties) and sums equal to rounding.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

KERNELS: Any = None

if not os.environ.get("ARRAYKMEANS_DISABLE_NUMBA"):
    try:
        import numba
    except ImportError:  # pragma: no cover - exercised where numba is absent
        numba = None
    except Exception:  # pragma: no cover - a broken numba install: do without
        numba = None

    if numba is not None:
        # Cache compiled code next to the module (or in numba's user cache) when
        # there is a writable place; otherwise compile once per process.
        _CACHE = os.access(os.path.dirname(__file__), os.W_OK) or bool(
            os.environ.get("NUMBA_CACHE_DIR")
        )

        @numba.njit(nogil=True, cache=_CACHE)
        def argmin_columns(dist_t, c_norms, add_norms, labels):  # pragma: no cover
            """labels[p, i] = argmin_j (dist_t[p, j, i] (+ c_norms[p, j])), first on ties.

            The distance block is laid out centre-major, (P, k, n): the running
            minimum then advances over contiguous rows of i, which the compiler
            vectorises, instead of scanning short rows one by one.
            """
            P, k, n = dist_t.shape
            low = np.empty(n, dtype=dist_t.dtype)
            best = np.empty(n, dtype=np.int32)
            for p in range(P):
                for i in range(n):
                    low[i] = (
                        dist_t[p, 0, i] + c_norms[p, 0]
                        if add_norms
                        else dist_t[p, 0, i]
                    )
                    best[i] = 0
                for j in range(1, k):
                    shift = c_norms[p, j] if add_norms else dist_t[p, j, 0] * 0
                    for i in range(n):
                        value = dist_t[p, j, i] + shift
                        smaller = value < low[i]
                        low[i] = value if smaller else low[i]
                        best[i] = j if smaller else best[i]
                for i in range(n):
                    labels[p, i] = best[i]

        @numba.njit(nogil=True, cache=_CACHE)
        def accumulate_rows(rows, weights, ids, sums, totals):  # pragma: no cover
            """sums[ids[i]] += weights[i] * rows[i]; totals[ids[i]] += weights[i]."""
            n, d = rows.shape
            for i in range(n):
                c = ids[i]
                w = weights[i]
                totals[c] += w
                for t in range(d):
                    sums[c, t] += rows[i, t] * w

        # The inertia loops may reassociate each row's sum of squares (as
        # scikit-learn's unrolled loop does) so that the compiler vectorises it;
        # the data are finite, validated before any fit.
        @numba.njit(nogil=True, cache=_CACHE, fastmath={"reassoc", "nnan", "ninf"})
        def inertia_rows(rows, centers, labels, weights):  # pragma: no cover
            """sum_i weights[i] * ‖rows[i] - centers[labels[i]]‖², in float64.

            Each row's squared distance is formed in the data dtype, as
            scikit-learn does; the sum is float64.
            """
            n, d = rows.shape
            total = 0.0
            for i in range(n):
                c = labels[i]
                sq = rows[i, 0] * 0
                for t in range(d):
                    diff = rows[i, t] - centers[c, t]
                    sq += diff * diff
                total += np.float64(sq) * np.float64(weights[i])
            return total

        @numba.njit(nogil=True, cache=_CACHE, fastmath={"reassoc", "nnan", "ninf"})
        def inertia_problems(rows, centers, labels, weights, out):  # pragma: no cover
            """out[b] = inertia_rows of problem b; negative labels count as zero."""
            B, n, d = rows.shape
            for b in range(B):
                total = 0.0
                for i in range(n):
                    c = labels[b, i]
                    if c < 0:
                        continue
                    sq = rows[b, i, 0] * 0
                    for t in range(d):
                        diff = rows[b, i, t] - centers[b, c, t]
                        sq += diff * diff
                    total += np.float64(sq) * np.float64(weights[b, i])
                out[b] = total

        @numba.njit(nogil=True, cache=_CACHE)
        def min_max(flat):  # pragma: no cover
            """(min, max) of a 1-D array in one pass; (nan, nan) if it holds a NaN."""
            low = flat[0]
            high = flat[0]
            for i in range(flat.shape[0]):
                v = flat[i]
                if v != v:
                    return v, v
                low = min(low, v)
                high = max(high, v)
            return low, high

        class _Kernels:
            argmin_columns = staticmethod(argmin_columns)
            accumulate_rows = staticmethod(accumulate_rows)
            inertia_rows = staticmethod(inertia_rows)
            inertia_problems = staticmethod(inertia_problems)
            min_max = staticmethod(min_max)

        KERNELS = _Kernels
