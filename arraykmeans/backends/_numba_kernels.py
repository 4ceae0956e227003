"""Optional compiled loops for the NumPy fast paths (needs numba).

NumPy has no fused "argmin of each row, then add the row to its cluster's sum",
no per-problem loop that keeps a small problem in cache, and slow ``argmin``
along short rows. The loops here fill those gaps:

* assignment: ``argmin_columns`` / ``argmin_rows`` (distance blocks from BLAS
  in either layout), ``accumulate_rows``, the one-call-per-chunk / per-group
  wrappers ``assign_block`` and ``assign_group``, and ``assign_direct`` (for
  few features: distances formed here, without BLAS, one call per worker);
* per-problem work for stacks: ``kmeanspp_problems``, ``centre_problems``,
  ``legacy_uniforms`` (every problem's ``RandomState`` draws);
* single passes: ``inertia_rows`` / ``inertia_problems``, ``min_max``,
  ``column_moments`` (column sums, sums of squares and extremes).

They are used only when numba imports and the ``use_compiled`` setting is on
(this module is imported only then); the array operations of the standard and
NumPy backends remain the fallback
and give the same labels and selected rows (the same float comparisons, first
index on ties) and sums equal to rounding. The tests compare every loop with
its array twin.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

KERNELS: Any = None

try:
    import numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None
except Exception:  # pragma: no cover - a broken numba install: do without
    numba = None

if numba is not None:

    def _cache_probe():  # pragma: no cover
        return 0

    # Compiled code is cached on disk where numba finds a writable place
    # for this file: NUMBA_CACHE_DIR, else __pycache__ next to it, else
    # the user's cache directory (~/.cache/numba), so a read-only install
    # still caches. Where there is none at all, numba refuses cache=True
    # (RuntimeError) and the loops are compiled once per process instead.
    try:
        numba.njit(cache=True)(_cache_probe)
        _CACHE = True
    except RuntimeError:  # pragma: no cover - nowhere writable
        _CACHE = False

    @numba.njit(nogil=True, cache=_CACHE)
    def argmin_columns(dist_t, c_norms, labels):  # pragma: no cover
        """labels[p, i] = argmin_j (dist_t[p, j, i] + c_norms[p, j]), first on ties.

        The distance block is laid out centre-major, (P, k, n): the running
        minimum then advances over contiguous rows of i, which the compiler
        vectorises, instead of scanning short rows one by one.
        """
        P, k, n = dist_t.shape
        low = np.empty(n, dtype=dist_t.dtype)
        best = np.empty(n, dtype=np.int32)
        for p in range(P):
            for i in range(n):
                low[i] = dist_t[p, 0, i] + c_norms[p, 0]
                best[i] = 0
            for j in range(1, k):
                shift = c_norms[p, j]
                # An int32 index keeps the select as wide as the floats:
                # with int64 the loop ran 2.8x slower (k=100).
                j32 = np.int32(j)
                for i in range(n):
                    value = dist_t[p, j, i] + shift
                    smaller = value < low[i]
                    low[i] = value if smaller else low[i]
                    best[i] = j32 if smaller else best[i]
            for i in range(n):
                labels[p, i] = best[i]

    @numba.njit(nogil=True, cache=_CACHE)
    def argmin_rows(dist, c_norms, labels):  # pragma: no cover
        """labels[p, i] = argmin_j (dist[p, i, j] + c_norms[p, j]), first on ties.

        For row-major blocks (P, n, k), which BLAS forms faster than
        centre-major ones when the rows are long (d >= 2k).
        """
        P, n, k = dist.shape
        for p in range(P):
            for i in range(n):
                best = 0
                low = dist[p, i, 0] + c_norms[p, 0]
                for j in range(1, k):
                    value = dist[p, i, j] + c_norms[p, j]
                    if value < low:
                        low = value
                        best = j
                labels[p, i] = best

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

    # Rows per block of the direct assignment: the transposed block, its
    # running minimum and labels stay in the L1 cache.
    _DIRECT_BLOCK = 256

    def _make_assign_direct(D):
        """The direct assignment for exactly ``D`` features (a compile-time
        constant, so that the loops over features unroll)."""

        # Fused multiply-adds, as BLAS forms its products: each distance
        # is then the very value the BLAS paths (and scikit-learn's gemm)
        # compute, so labels do not depend on which path ran.
        @numba.njit(nogil=True, cache=_CACHE, fastmath={"contract"})
        def assign_direct(
            rows, neg2c, c_norms, weights, labels, sums, totals, accumulate, flush
        ):  # pragma: no cover
            """Labels (and sums) for rows of ``D`` features, distances formed here.

            ``labels[i]`` = argmin_j (c_norms[j] + rows[i]·neg2c[j]), first on
            ties: the products are summed feature by feature as a chain of
            fused multiply-adds, then the norm added. Blocks of rows are transposed so that each centre's
            distances are formed and compared down contiguous columns,
            vectorised across rows. With
            ``accumulate``, ``sums[c] += weights[i] * rows[i]`` and
            ``totals[c] += weights[i]`` (``sums``/``totals`` in the
            accumulation dtype): rows are added in the data dtype and moved
            into ``sums`` every ``flush`` rows, as the chunked path does.
            """
            m = rows.shape[0]
            k = neg2c.shape[0]
            dt = rows.dtype
            zero = dt.type(0)
            B = _DIRECT_BLOCK
            XT = np.empty((D, B), dtype=dt)
            low = np.empty(B, dtype=dt)
            best = np.empty(B, dtype=np.int32)
            local = np.zeros((k, D), dtype=dt)
            pending = 0
            for s in range(0, m, B):
                b = min(B, m - s)
                for i in range(b):
                    for t in range(D):
                        XT[t, i] = rows[s + i, t]
                for j in range(k):
                    shift = c_norms[j]
                    j32 = np.int32(j)
                    if j == 0:
                        for i in range(b):
                            # From a zero, so that every product is fused
                            # into the running sum (a*b + c*d could fuse
                            # either product; BLAS fuses the later one).
                            v = zero
                            for t in range(D):
                                v += XT[t, i] * neg2c[0, t]
                            low[i] = v + shift
                            best[i] = 0
                    else:
                        for i in range(b):
                            v = zero
                            for t in range(D):
                                v += XT[t, i] * neg2c[j, t]
                            value = v + shift
                            smaller = value < low[i]
                            low[i] = value if smaller else low[i]
                            best[i] = j32 if smaller else best[i]
                for i in range(b):
                    labels[s + i] = best[i]
                if accumulate:
                    for i in range(b):
                        c = best[i]
                        w = weights[s + i]
                        totals[c] += w
                        for t in range(D):
                            local[c, t] += XT[t, i] * w
                    pending += b
                    if pending >= flush or s + b == m:
                        for j in range(k):
                            for t in range(D):
                                sums[j, t] += local[j, t]
                                local[j, t] = 0
                        pending = 0

        return assign_direct

    # Made (and compiled) on first use, only for the feature counts used:
    # making all sixteen up front took a tenth of a second at import.
    _assign_direct_for = functools.cache(_make_assign_direct)

    @numba.njit(nogil=True, cache=_CACHE)
    def assign_block(
        dist,
        c_norms,
        rows,
        weights,
        labels,
        sums,
        totals,
        layout,
        accumulate,
    ):  # pragma: no cover
        """One chunk of an assignment step in one call.

        ``labels[i]`` = argmin over the distance block (``layout`` 0:
        centre-major (k, m), 1: row-major (m, k)) plus the centre norms, as
        :func:`argmin_columns` / :func:`argmin_rows`; with ``accumulate``
        the rows are then added to their clusters' sums, as
        :func:`accumulate_rows`. A single call per chunk keeps the Python
        work per chunk (and the time the worker threads wait for each
        other's turn at the interpreter) small.
        """
        m = labels.shape[0]
        if layout == 1:
            argmin_rows(
                dist.reshape(1, dist.shape[0], dist.shape[1]),
                c_norms.reshape(1, c_norms.shape[0]),
                labels.reshape(1, m),
            )
        else:
            argmin_columns(
                dist.reshape(1, dist.shape[0], dist.shape[1]),
                c_norms.reshape(1, c_norms.shape[0]),
                labels.reshape(1, m),
            )
        if accumulate:
            accumulate_rows(rows, weights, labels, sums, totals)

    @numba.njit(nogil=True, cache=_CACHE)
    def assign_group(
        dist,
        c_norms,
        rows,
        weights,
        problems,
        labels,
        changed,
        sums,
        totals,
        row_major,
        track,
        accumulate,
        settled,
    ):  # pragma: no cover
        """One assignment step for a group of problems of a stack, in one call.

        For each problem p of the group (``problems[p]`` its index in the
        stack): the argmin of its distance block ``dist[p]`` (centre-major
        (k, n), or row-major (n, k)) plus ``c_norms[p]``, first on ties;
        written to ``labels[problems[p]]``; with ``track``, -1 on rows of
        zero weight and ``changed[problems[p]]`` set when any label differs
        from the one ``labels`` held before; with ``accumulate``,
        ``sums[p]`` / ``totals[p]`` receive the weighted rows per cluster
        (:func:`accumulate_rows`), added in the data dtype within the
        problem and stored in the accumulation dtype; with ``track``, a
        problem whose labels did not change and that is ``settled[b]``
        (``settled`` empty: none is) gets zeros instead, its sums not being
        needed.
        """
        P = rows.shape[0]
        n = rows.shape[1]
        d = rows.shape[2]
        k = c_norms.shape[1]
        lab = np.empty((1, n), dtype=np.int32)
        local = np.empty((k, d), dtype=rows.dtype)
        for p in range(P):
            if row_major:
                argmin_rows(dist[p : p + 1], c_norms[p : p + 1], lab)
            else:
                argmin_columns(dist[p : p + 1], c_norms[p : p + 1], lab)
            b = problems[p]
            moved = True
            if track:
                moved = False
                for i in range(n):
                    value = lab[0, i] if weights[p, i] > 0 else -1
                    moved = moved or labels[b, i] != value
                    labels[b, i] = value
                changed[b] = moved
            else:
                for i in range(n):
                    labels[b, i] = lab[0, i]
            if accumulate:
                local[:, :] = 0
                totals[p] = 0
                if moved or settled.shape[0] == 0 or not settled[b]:
                    accumulate_rows(rows[p], weights[p], lab[0], local, totals[p])
                sums[p] = local

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

    @numba.njit(nogil=True, cache=_CACHE)
    def sq_distances_rows(rows, centers, labels, out):  # pragma: no cover
        """out[i] = ‖rows[i] - centers[labels[i]]‖², differences and sum in
        float64, features added in order."""
        n, d = rows.shape
        for i in range(n):
            c = labels[i]
            sq = 0.0
            for t in range(d):
                diff = np.float64(rows[i, t]) - np.float64(centers[c, t])
                sq += diff * diff
            out[i] = sq

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
    def _ordered_min_max(ints, fill):  # pragma: no cover
        """min and max of float bit patterns read as integers in float order.

        Flipping the magnitude bits of negative numbers makes integer order
        the float order (NaNs land beyond the infinities, by sign). Integer
        min and max vectorise; float ones do not here, for NaN's sake.
        """
        shift = ints.itemsize * 8 - 1
        low = ints[0] ^ ((ints[0] >> shift) & fill)
        high = low
        for i in range(ints.shape[0]):
            v = ints[i]
            m = v ^ ((v >> shift) & fill)
            low = min(low, m)
            high = max(high, m)
        return low, high

    @numba.njit(nogil=True, cache=_CACHE)
    def _float_extremes(flat, ints, fill):  # pragma: no cover
        """(min, max) of ``flat`` as float64, read through ``ints``, its bits."""
        low, high = _ordered_min_max(ints, fill)
        shift = ints.itemsize * 8 - 1
        bits = np.empty(2, dtype=ints.dtype)
        bits[0] = low ^ ((low >> shift) & fill)
        bits[1] = high ^ ((high >> shift) & fill)
        values = bits.view(flat.dtype)
        return np.float64(values[0]), np.float64(values[1])

    @numba.njit(nogil=True, cache=_CACHE)
    def min_max(flat):  # pragma: no cover
        """(min, max) of a 1-D float array in one pass, as float64; (nan, nan)
        if it holds a NaN."""
        if flat.itemsize == 4:
            a, b = _float_extremes(flat, flat.view(np.int32), np.int32(0x7FFFFFFF))
        else:
            a, b = _float_extremes(
                flat, flat.view(np.int64), np.int64(0x7FFFFFFFFFFFFFFF)
            )
        if a != a or b != b:
            return np.nan, np.nan
        return a, b

    @numba.njit(nogil=True, cache=_CACHE)
    def column_moments(X, shift, out):  # pragma: no cover
        """One pass over the rows of X (C-ordered): ``out[0]`` += the columns
        of ``X - shift`` (each value widened to out's dtype first),
        ``out[1]`` += their squares, ``out[2]`` / ``out[3]`` = the columns'
        minimum / maximum.

        The rows are added one after the other, without fused multiply-adds:
        NumPy's order and roundings for ``(X - shift).sum(axis=0)`` and
        ``((X - shift) ** 2).sum(axis=0)``, so the sums are its sums bit for
        bit. A column holding a NaN has a NaN sum; its extremes are then
        not NumPy's (the caller measures them again).
        """
        n, d = X.shape
        dt = out.dtype
        for t in range(d):
            out[2, t] = np.inf
            out[3, t] = -np.inf
        for i in range(n):
            for t in range(d):
                v = dt.type(X[i, t])
                a = v - shift[t]
                out[0, t] += a
                out[1, t] += a * a
                if v < out[2, t]:
                    out[2, t] = v
                if v > out[3, t]:
                    out[3, t] = v

    @numba.njit(nogil=True, cache=_CACHE, fastmath={"reassoc", "nnan", "ninf"})
    def _sq_distances_to(XT, norms, y, out):  # pragma: no cover
        """out[i] = ‖x_y‖² + ‖x_i‖² − 2 x_y·x_i in float64, XT = X.T (d, n).

        The product runs down the columns of XT, vectorised across rows.
        """
        d, n = XT.shape
        for i in range(n):
            out[i] = 0.0
        for t in range(d):
            v = XT[t, y]
            for i in range(n):
                out[i] += v * XT[t, i]
        for i in range(n):
            out[i] = -2.0 * out[i] + norms[y] + norms[i]

    @numba.njit(nogil=True, cache=_CACHE, fastmath={"reassoc", "nnan", "ninf"})
    def _closer(dist, closest, weights, out):  # pragma: no cover
        """out = min(closest, max(dist, 0) in closest's dtype); sum(out * w)."""
        total = 0.0
        for i in range(dist.shape[0]):
            stored = min(closest.dtype.type(max(dist[i], 0.0)), closest[i])
            out[i] = stored
            total += np.float64(stored * weights[i])
        return total

    # The fixed-width k-means++ loops below share two helpers compiled with
    # fused multiply-adds but without reassociation: each row's distance is
    # then the same chain of operations wherever they are inlined, so the
    # distances a candidate's potential was summed from are the ones
    # stored when it wins. Only the sums over rows are reassociated.
    @numba.njit(nogil=True, cache=_CACHE, fastmath={"contract"})
    def _row_dot(XT, xy, i, D):  # pragma: no cover
        """sum_t xy[t] * XT[t, i] for exactly ``D`` features, in order."""
        numba.literally(D)
        s = xy[0] * XT[0, i]
        for t in range(1, D):
            s += xy[t] * XT[t, i]
        return s

    @numba.njit(nogil=True, cache=_CACHE, fastmath={"contract"})
    def _stored_distance(dot, ny, ni, closest, i):  # pragma: no cover
        """min(max(ny + ni - 2 dot, 0) in closest's dtype, closest[i])."""
        return min(closest.dtype.type(max(-2.0 * dot + ny + ni, 0.0)), closest[i])

    @numba.njit(nogil=True, cache=_CACHE, fastmath={"reassoc", "nnan", "ninf"})
    def _potential(XT, norms, xy, ny, closest, weights, D):  # pragma: no cover
        """sum_i weights[i] * _stored_distance(row i, candidate xy), float64."""
        numba.literally(D)
        total = 0.0
        for i in range(XT.shape[1]):
            v = _stored_distance(_row_dot(XT, xy, i, D), ny, norms[i], closest, i)
            total += np.float64(v * weights[i])
        return total

    @numba.njit(nogil=True, cache=_CACHE, fastmath={"reassoc", "nnan", "ninf"})
    def _four_potentials(
        XT, norms, x0, x1, x2, x3, ny, closest, weights, out, D
    ):  # pragma: no cover
        """:func:`_potential` of four candidates in one pass over the rows.

        Each row's features are loaded once for the four products. Only
        the sums are kept (``out[:4]``): storing four distance rows in the
        loop keeps the compiler from vectorising it, so the winner's
        distances are formed again by :func:`_set_closest`.
        """
        numba.literally(D)
        t0 = 0.0
        t1 = 0.0
        t2 = 0.0
        t3 = 0.0
        n0 = ny[0]
        n1 = ny[1]
        n2 = ny[2]
        n3 = ny[3]
        for i in range(XT.shape[1]):
            ni = norms[i]
            wi = weights[i]
            t0 += np.float64(
                _stored_distance(_row_dot(XT, x0, i, D), n0, ni, closest, i) * wi
            )
            t1 += np.float64(
                _stored_distance(_row_dot(XT, x1, i, D), n1, ni, closest, i) * wi
            )
            t2 += np.float64(
                _stored_distance(_row_dot(XT, x2, i, D), n2, ni, closest, i) * wi
            )
            t3 += np.float64(
                _stored_distance(_row_dot(XT, x3, i, D), n3, ni, closest, i) * wi
            )
        out[0] = t0
        out[1] = t1
        out[2] = t2
        out[3] = t3

    @numba.njit(nogil=True, cache=_CACHE, fastmath={"contract"})
    def _set_closest(XT, norms, xy, ny, closest, D):  # pragma: no cover
        """closest[i] = _stored_distance(row i, candidate xy, closest[i])."""
        numba.literally(D)
        for i in range(XT.shape[1]):
            closest[i] = _stored_distance(
                _row_dot(XT, xy, i, D), ny, norms[i], closest, i
            )

    # Steps of the batched k-means++ (kmeanspp_problems), plain arithmetic as
    # there: no fast-math flags, so that the bits are those of the array code.

    @numba.njit(nogil=True, cache=_CACHE)
    def _pp_rows(X, w, b, XT, norms):  # pragma: no cover
        """Problem b's rows transposed into XT (float64) with their squared
        norms; returns the index of its last row of positive weight."""
        n, d = X.shape[1], X.shape[2]
        last = n - 1
        while last > 0 and not w[b, last] > 0:
            last -= 1
        for i in range(n):
            total = 0.0
            for t in range(d):
                v = np.float64(X[b, i, t])
                XT[t, i] = v
                total += v * v
            norms[i] = total
        return last

    @numba.njit(nogil=True, cache=_CACHE)
    def _pp_first(p, b, u, cum, last):  # pragma: no cover
        """The first row: searchsorted(cumsum(p) / total, u, 'right') in
        float64, clipped to ``last``."""
        n = cum.shape[0]
        running = 0.0
        for i in range(n):
            running += np.float64(p[b, i])
            cum[i] = running
        lo = 0
        hi = n
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] / cum[n - 1] <= u:
                lo = mid + 1
            else:
                hi = mid
        return min(lo, last)

    @numba.njit(nogil=True, cache=_CACHE)
    def _pp_candidates(w, closest, u, current, cum, cand_ids, last):  # pragma: no cover
        """Candidates: searchsorted(cumsum(w * closest), u * current, 'left'),
        the sum sequential in the data dtype (as NumPy's), the search in
        float64, clipped to ``last``."""
        n = cum.shape[0]
        partial = closest.dtype.type(0)
        for i in range(n):
            partial += w[i] * closest[i]
            cum[i] = partial
        for j in range(cand_ids.shape[0]):
            target = u[j] * np.float64(current)
            lo = 0
            hi = n
            while lo < hi:
                mid = (lo + hi) // 2
                if cum[mid] < target:
                    lo = mid + 1
                else:
                    hi = mid
            cand_ids[j] = min(lo, last)

    @numba.njit(nogil=True, cache=_CACHE)
    def _pp_fixed_width_potentials(
        XT, norms, xy, ny, cand_ids, closest, w, pots, D
    ):  # pragma: no cover
        """Every candidate's potential, distances formed for ``D`` features,
        four candidates per pass over the rows."""
        m = cand_ids.shape[0]
        d = XT.shape[0]
        for j in range(m):
            y = cand_ids[j]
            for t in range(d):
                xy[j, t] = XT[t, y]
            ny[j] = norms[y]
        j = 0
        while j + 4 <= m:
            _four_potentials(
                XT, norms, xy[j], xy[j + 1], xy[j + 2], xy[j + 3],
                ny[j : j + 4], closest, w, pots[j : j + 4], D,
            )  # fmt: skip
            j += 4
        while j < m:
            pots[j] = _potential(XT, norms, xy[j], ny[j], closest, w, D)
            j += 1

    @numba.njit(nogil=True, cache=_CACHE)
    def _pp_best(pots, closest):  # pragma: no cover
        """The candidate of least potential (rounded to the data dtype), first
        on ties, and that potential."""
        best = 0
        best_pot = closest.dtype.type(0)
        for j in range(pots.shape[0]):
            rounded = closest.dtype.type(pots[j])
            if j == 0 or rounded < best_pot:
                best = j
                best_pot = rounded
        return best, best_pot

    def _make_kmeanspp_problems(D):
        """The greedy k-means++ of a stack for ``D`` features (a
        compile-time constant, so that the loops over features unroll), or
        for any feature count (``D == 0``).

        Only ``D`` is captured: numba's cache keys closures by their
        captured values, which must pickle the same in every process.
        """

        @numba.njit(nogil=True, cache=_CACHE)
        def kmeanspp_problems(X, w, p, first_u, trial_u, indices):  # pragma: no cover
            """Greedy k-means++ for each problem of a stack: row indices (P, k).

            The arithmetic is that of the array version in
            :func:`arraykmeans._batched_lloyd.kmeans_plusplus_batched`: the
            first row by ``searchsorted(cumsum(p) / total, u, 'right')`` in
            float64; squared distances formed in float64 as ‖y‖² + ‖x‖² − 2x·y
            (with a fixed width, x·y as a chain of fused multiply-adds)
            and stored in the data dtype; candidates by ``searchsorted(cumsum(w
            * closest), u * pot, 'left')`` (a sequential sum in the data dtype,
            the search in float64), clipped to the last row of positive weight;
            the candidate of least potential wins, first on ties. Potentials
            are summed in float64 and rounded to the data dtype.
            """
            P, n, d = X.shape
            # ``d`` stays a run-time count: with the copy below unrolled
            # over a fixed width, it took twice as long (d=16).
            k = indices.shape[1]
            m = trial_u.shape[2]
            dt = X.dtype
            XT = np.empty((d, n), dtype=np.float64)
            norms = np.empty(n, dtype=np.float64)
            dist = np.empty(n, dtype=np.float64)
            cum = np.empty(n, dtype=np.float64)
            closest = np.empty(n, dtype=dt)
            # Without a fixed width, every candidate's distances are kept
            # (``cand``); with one, only the candidates' coordinates (``xy``).
            cand = np.empty((0 if D else m, n), dtype=dt)
            cand_ids = np.empty(m, dtype=np.int64)
            pots = np.empty(m, dtype=np.float64)
            xy = np.empty((m if D else 0, d), dtype=np.float64)
            ny = np.empty(m, dtype=np.float64)
            for b in range(P):
                last = _pp_rows(X, w, b, XT, norms)
                c0 = _pp_first(p, b, first_u[b], cum, last)
                indices[b, 0] = c0
                if D:
                    for t in range(d):
                        xy[0, t] = XT[t, c0]
                    closest[:] = np.inf
                    _set_closest(XT, norms, xy[0], norms[c0], closest, D)
                else:
                    _sq_distances_to(XT, norms, c0, dist)
                    for i in range(n):
                        closest[i] = max(dist[i], 0.0)
                pot = 0.0
                for i in range(n):
                    pot += np.float64(closest[i] * w[b, i])
                current = dt.type(pot)
                for c in range(1, k):
                    _pp_candidates(
                        w[b], closest, trial_u[b, c - 1], current, cum, cand_ids, last
                    )
                    if D:
                        _pp_fixed_width_potentials(
                            XT, norms, xy, ny, cand_ids, closest, w[b], pots, D
                        )
                    else:
                        for j in range(m):
                            _sq_distances_to(XT, norms, cand_ids[j], dist)
                            pots[j] = _closer(dist, closest, w[b], cand[j])
                    best, current = _pp_best(pots, closest)
                    indices[b, c] = cand_ids[best]
                    if D:
                        _set_closest(XT, norms, xy[best], ny[best], closest, D)
                    else:
                        for i in range(n):
                            closest[i] = cand[best, i]

        return kmeanspp_problems

    # Made (and compiled) on first use: one variant per feature count up
    # to 16, one for any count.
    _kmeanspp_for = functools.cache(_make_kmeanspp_problems)

    @numba.njit(nogil=True, cache=_CACHE)
    def _mt_twist(key, stop):  # pragma: no cover
        """MT19937's in-place regeneration of ``key[:stop]`` (all of it
        when ``stop`` is 624): word i reads words i + 1 and i + 397 (mod
        624), the wrapped ones already regenerated, as in the full pass."""
        N = key.shape[0]
        for i in range(stop):
            y = (key[i] & np.uint64(0x80000000)) | (
                key[(i + 1) % N] & np.uint64(0x7FFFFFFF)
            )
            value = key[(i + 397) % N] ^ (y >> np.uint64(1))
            key[i] = value ^ (np.uint64(0x9908B0DF) * (y & np.uint64(1)))

    @numba.njit(nogil=True, cache=_CACHE)
    def legacy_uniforms(seeds, out):  # pragma: no cover
        """out[b] = RandomState(seeds[b]).random_sample(out.shape[1]).

        The Mersenne Twister (MT19937) as NumPy's legacy generator runs it:
        the state seeded from a 32-bit int by Knuth's recurrence, each
        double built from two tempered words (27 + 26 bits). When fewer
        than 624 words are drawn, only the state words they read are
        seeded and regenerated.
        """
        N = 624
        mask = np.uint64(0xFFFFFFFF)
        count = 2 * out.shape[1]
        # The first regeneration's word i reads words up to i + 397.
        seeded = min(count + 397, N)
        stop = min(count, N)
        key = np.empty(N, dtype=np.uint64)
        for b in range(seeds.shape[0]):
            value = np.uint64(seeds[b]) & mask
            for pos in range(seeded):
                key[pos] = value
                value = (
                    np.uint64(1812433253) * (value ^ (value >> np.uint64(30)))
                    + np.uint64(pos + 1)
                ) & mask
            pos = N
            high = np.uint64(0)
            for j in range(count):
                if pos == N:
                    _mt_twist(key, stop)
                    pos = 0
                y = key[pos]
                pos += 1
                y ^= y >> np.uint64(11)
                y ^= (y << np.uint64(7)) & np.uint64(0x9D2C5680)
                y ^= (y << np.uint64(15)) & np.uint64(0xEFC60000)
                y ^= y >> np.uint64(18)
                if j % 2 == 0:
                    high = y >> np.uint64(5)
                else:
                    low = y >> np.uint64(6)
                    out[b, j // 2] = (
                        np.float64(high) * 67108864.0 + np.float64(low)
                    ) / 9007199254740992.0

    @numba.njit(nogil=True, cache=_CACHE)
    def centre_problems(X, w, scale, out, mean, var, extremes):  # pragma: no cover
        """Per problem, centre the rows of positive weight; zero the others.

        ``out[b] = (X[b] * scale - mean[b]) * valid``: the mean and the
        variance over valid rows are NumPy's ``mean`` and ``var`` of those
        rows (sums in the data dtype, row after row), so that a problem is
        centred exactly as a single fit centres its rows.
        ``extremes[b]`` receives the (min, max) of all of X[b], padding
        included, both NaN if X[b] holds a NaN: the pass that reads X for
        the sums gives them, saving a pass over X from memory.
        """
        P, n, d = X.shape
        dt = X.dtype
        total = np.empty(d, dtype=dt)
        sq = np.empty(d, dtype=dt)
        s = dt.type(scale)
        for b in range(P):
            total[:] = 0
            sq[:] = 0
            count = 0
            extremes[b, 0], extremes[b, 1] = min_max(X[b].ravel())
            for i in range(n):
                if w[b, i] > 0:
                    count += 1
                    for t in range(d):
                        total[t] += X[b, i, t] * s
            for t in range(d):
                mean[b, t] = total[t] / dt.type(count)
            for i in range(n):
                if w[b, i] > 0:
                    for t in range(d):
                        v = X[b, i, t] * s - mean[b, t]
                        out[b, i, t] = v
                        sq[t] += v * v
                else:
                    for t in range(d):
                        out[b, i, t] = 0
            for t in range(d):
                var[b, t] = sq[t] / dt.type(count)

    class _Kernels:
        assign_block = staticmethod(assign_block)
        inertia_rows = staticmethod(inertia_rows)
        sq_distances_rows = staticmethod(sq_distances_rows)
        inertia_problems = staticmethod(inertia_problems)
        min_max = staticmethod(min_max)
        column_moments = staticmethod(column_moments)
        centre_problems = staticmethod(centre_problems)
        legacy_uniforms = staticmethod(legacy_uniforms)
        assign_group = staticmethod(assign_group)

        @staticmethod
        def kmeanspp_problems(d):
            """The stacked k-means++ loop for ``d`` features."""
            return _kmeanspp_for(d if d <= 16 else 0)

        @staticmethod
        def assign_direct(d):
            """The direct assignment loop for ``d`` features (1 to 16), or None."""
            return _assign_direct_for(d) if 1 <= d <= 16 else None

    KERNELS = _Kernels

    @numba.njit(nogil=True, cache=_CACHE)
    def minibatch_move(rows, weights, labels, centers, counts, out):  # pragma: no cover
        """The mini-batch update of scikit-learn's ``_minibatch_update_dense``.

        ``out[c] = (counts[c] * centers[c] + Σ weights[i] * rows[i]) /
        (counts[c] + Σ weights[i])`` over the rows labelled ``c``, for every
        centre whose batch weight is positive (``out[c] = centers[c]``
        otherwise); ``counts`` is updated in place. Every operation is
        scikit-learn's, in the data dtype and in the same order (rows added
        one after the other, in batch order, to ``counts[c] * centers[c]``,
        then a product by ``1 / counts[c]``; no fused multiply-adds), so
        the centres are its centres bit for bit.
        """
        n, d = rows.shape
        k = centers.shape[0]
        dt = centers.dtype
        one = dt.type(1)
        batch = np.zeros(k, dtype=dt)
        for i in range(n):
            batch[labels[i]] += weights[i]
        for c in range(k):
            scale = counts[c] if batch[c] > 0 else one
            for t in range(d):
                out[c, t] = centers[c, t] * scale
        for i in range(n):
            c = labels[i]
            if batch[c] > 0:
                w = weights[i]
                for t in range(d):
                    out[c, t] += rows[i, t] * w
        for c in range(k):
            if batch[c] > 0:
                counts[c] += batch[c]
                alpha = one / counts[c]
                for t in range(d):
                    out[c, t] *= alpha

    _Kernels.minibatch_move = staticmethod(minibatch_move)
    _Kernels.argmin_rows = staticmethod(argmin_rows)
