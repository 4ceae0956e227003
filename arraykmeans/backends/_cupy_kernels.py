"""CUDA kernels for the CuPy fast paths of the assignment step.

The pure-standard assignment forms a (rows, k) distance block with one matrix
product, adds the centre norms in a second pass, takes ``argmin`` in a third,
and builds the centres' sums with a one-hot matrix product that costs as much
arithmetic as the distance product itself. On a GPU the product is the only
part worth its cost; the rest is memory traffic. The kernels here replace
everything after the product:

* ``argmin_rows``: one warp per row reads the distance block once, adds the
  centre norms and keeps the smallest value and its index (the first index on
  ties, as ``argmin``). The values compared are the same float additions the
  fallback makes, so the labels are the same.
* ``piece_sums`` and ``cell_sums`` (through :func:`segment_sums`): the rows
  sorted by label, each label's rows added in order in float64 (the product
  ``w_i x_i`` formed in the data dtype, as the fallback forms it), in pieces
  whose sums are then added in order. No atomic additions: the same input
  gives the same bits on every run, which atomics would not (their order
  changes from run to run).

Both work on a stack of problems in one launch: the argmin takes
``rows_per_group`` (row ``i`` belongs to problem ``i // rows_per_group`` and
uses its centre norms) and the sums take cells ``problem * k + label``.

CuPy compiles the kernels (NVRTC) on first use and caches them on disk. Only
float32 and float64 are handled; callers fall back to the standard path for
anything else.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_SOURCE = r"""
template <typename T>
__global__ void argmin_rows(const T* __restrict__ dist,
                            const T* __restrict__ c_norms,
                            const long long n_rows,
                            const int k,
                            const long long rows_per_group,
                            long long* __restrict__ labels)
{
    // One warp per row; rows are dealt to warps in a grid-stride loop. Every
    // lane of a warp works on the same row, so the warp stays converged for
    // the shuffles.
    const int lane = threadIdx.x & 31;
    const long long n_warps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
         row < n_rows; row += n_warps) {
        const T* d = dist + row * k;
        const T* c = c_norms + (row / rows_per_group) * k;
        // Lanes past k start from column 0: an equal value with index 0 never
        // changes the result of "smallest value, then smallest index".
        int arg = lane < k ? lane : 0;
        T best = d[arg] + c[arg];
        for (int j = lane + 32; j < k; j += 32) {
            const T v = d[j] + c[j];
            if (v < best) {  // strict: the lane keeps its first index on ties
                best = v;
                arg = j;
            }
        }
        for (int offset = 16; offset > 0; offset >>= 1) {
            const T other = __shfl_down_sync(0xffffffffu, best, offset);
            const int other_arg = __shfl_down_sync(0xffffffffu, arg, offset);
            if (other < best || (other == best && other_arg < arg)) {
                best = other;
                arg = other_arg;
            }
        }
        if (lane == 0) {
            labels[row] = arg;
        }
    }
}

template <typename T>
__global__ void piece_sums(const T* __restrict__ X,
                           const T* __restrict__ w,
                           const long long* __restrict__ order,
                           const long long* __restrict__ starts,
                           const long long* __restrict__ counts,
                           const long long* __restrict__ piece_offsets,
                           const int n_cells,
                           const int d,
                           const int piece_rows,
                           double* __restrict__ partial)
{
    // Block b sums one piece: up to piece_rows consecutive rows (in sorted
    // order) of one cell, each column in row order, in float64. Column d is
    // the weight. Blocks past the last piece have nothing to do.
    const long long b = blockIdx.x;
    if (b >= piece_offsets[n_cells]) {
        return;
    }
    // The cell whose pieces hold b: the last one whose first piece is <= b.
    int lo = 0;
    int hi = n_cells - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if (piece_offsets[mid] <= b) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    const long long first = starts[lo] + (b - piece_offsets[lo]) * piece_rows;
    const long long end = starts[lo] + counts[lo];
    const long long last = first + piece_rows < end ? first + piece_rows : end;
    for (int j = threadIdx.x; j <= d; j += blockDim.x) {
        double acc = 0.0;
#pragma unroll 4
        for (long long r = first; r < last; ++r) {
            const long long i = order[r];
            if (j < d) {
                const T value = X[i * d + j] * w[i];
                acc += (double)value;
            } else {
                acc += (double)w[i];
            }
        }
        partial[b * (d + 1) + j] = acc;
    }
}

__global__ void cell_sums(const double* __restrict__ partial,
                          const long long* __restrict__ piece_offsets,
                          const int n_cells,
                          const int d,
                          double* __restrict__ sums,
                          double* __restrict__ weights)
{
    // One thread per (cell, column): the cell's pieces added in order.
    const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long)n_cells * (d + 1)) {
        return;
    }
    const int c = (int)(t / (d + 1));
    const int j = (int)(t - (long long)c * (d + 1));
    double acc = 0.0;
    for (long long p = piece_offsets[c]; p < piece_offsets[c + 1]; ++p) {
        acc += partial[p * (d + 1) + j];
    }
    if (j < d) {
        sums[(long long)c * d + j] += acc;
    } else {
        weights[c] += acc;
    }
}
"""

_TYPES = {"float32": "float", "float64": "double"}
_NAMES = [
    f"{kernel}<{ctype}>"
    for kernel in ("argmin_rows", "piece_sums")
    for ctype in _TYPES.values()
] + ["cell_sums"]

THREADS = 256
# Blocks per multiprocessor for the grid-stride loop of the argmin.
BLOCKS_PER_SM = 8
# Rows per piece in the sums: each piece is one block's sequential float64 sums.
PIECE_ROWS = 128

_module: Any = None
_sm_count: dict[int, int] = {}


def supported(dtype: Any) -> bool:
    """Whether these kernels handle arrays of ``dtype``."""
    return str(np.dtype(dtype)) in _TYPES


def _function(kernel: str, dtype: Any = None) -> Any:
    global _module
    import cupy

    if _module is None:
        _module = cupy.RawModule(
            code=_SOURCE, options=("--std=c++14",), name_expressions=_NAMES
        )
    if dtype is None:
        return _module.get_function(kernel)
    return _module.get_function(f"{kernel}<{_TYPES[str(np.dtype(dtype))]}>")


def _blocks(work_items: int) -> int:
    import cupy

    dev = cupy.cuda.Device().id
    if dev not in _sm_count:
        _sm_count[dev] = int(
            cupy.cuda.runtime.getDeviceProperties(dev)["multiProcessorCount"]
        )
    wanted = -(-work_items // THREADS)
    return int(max(1, min(wanted, _sm_count[dev] * BLOCKS_PER_SM)))


def argmin_rows(dist: Any, c_norms: Any, rows_per_group: int, out: Any) -> Any:
    """``out[i] = argmin_j (dist[i, j] + c_norms[i // rows_per_group, j])``.

    Parameters
    ----------
    dist : C-contiguous CuPy array of shape (R, k), float32 or float64
    c_norms : C-contiguous array of shape (R // rows_per_group, k), same dtype
    rows_per_group : int
    out : C-contiguous int64 array of shape (R,), written

    Returns
    -------
    out
    """
    import cupy

    n_rows, k = dist.shape
    if n_rows == 0:
        return out
    dist = cupy.ascontiguousarray(dist)
    c_norms = cupy.ascontiguousarray(c_norms, dtype=dist.dtype)
    fn = _function("argmin_rows", dist.dtype)
    fn(
        (_blocks(n_rows * 32),),
        (THREADS,),
        (dist, c_norms, np.int64(n_rows), np.int32(k), np.int64(rows_per_group), out),
    )
    return out


def segment_sums(
    X: Any,
    w: Any,
    cells: Any,
    sums: Any,
    weights: Any,
    *,
    piece_rows: int = PIECE_ROWS,
) -> None:
    """Add ``w_i X_i`` to ``sums[cells[i]]`` and ``w_i`` to ``weights[cells[i]]``.

    Deterministic: the rows are sorted by (cell, row) and each cell's rows are
    added in that order, in pieces of ``piece_rows`` rows whose sums are
    then added in order; no atomic additions, so the same input gives the
    same bits on every run.

    Parameters
    ----------
    X : array of shape (R, d), float32 or float64
    w : array of shape (R,), same dtype
    cells : integer array of shape (R,), values in ``[0, C)``
    sums : C-contiguous float64 array with C * d elements, added to in place
    weights : C-contiguous float64 array with C elements, added to in place
    """
    import cupy

    n_rows, d = X.shape
    n_cells = weights.size
    if n_rows == 0:
        return
    X = cupy.ascontiguousarray(X)
    w = cupy.ascontiguousarray(w, dtype=X.dtype)
    # Unique keys: any correct sort gives the same order.
    key_type = cupy.int32 if n_cells * n_rows < 2**31 else cupy.int64
    keys = cells.astype(key_type) * key_type(n_rows) + cupy.arange(
        n_rows, dtype=key_type
    )
    order = cupy.argsort(keys).astype(cupy.int64, copy=False)
    counts = cupy.bincount(cells, minlength=n_cells).astype(cupy.int64, copy=False)
    starts = cupy.cumsum(counts) - counts
    pieces = (counts + (piece_rows - 1)) // piece_rows
    piece_offsets = cupy.concatenate(
        [cupy.zeros(1, dtype=cupy.int64), cupy.cumsum(pieces)]
    )
    # An upper bound on the pieces, so that no count comes back to the host.
    max_pieces = -(-n_rows // piece_rows) + n_cells
    partial = cupy.empty((max_pieces, d + 1), dtype=cupy.float64)
    threads = int(min(THREADS, 32 * -(-(d + 1) // 32)))
    _function("piece_sums", X.dtype)(
        (max_pieces,),
        (threads,),
        (
            X,
            w,
            order,
            starts,
            counts,
            piece_offsets,
            np.int32(n_cells),
            np.int32(d),
            np.int32(piece_rows),
            partial,
        ),
    )
    cells_columns = n_cells * (d + 1)
    _function("cell_sums")(
        (-(-cells_columns // THREADS),),
        (THREADS,),
        (partial, piece_offsets, np.int32(n_cells), np.int32(d), sums, weights),
    )
