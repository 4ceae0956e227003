"""CUDA kernels for the CuPy fast paths of the assignment step.

The pure-standard assignment forms a (rows, k) distance block with one matrix
product, adds the centre norms in a second pass, takes ``argmin`` in a third,
and builds the centres' sums with a one-hot matrix product that costs as much
arithmetic as the distance product itself. On a GPU the product is the only
part worth its cost; the rest is memory traffic. The two kernels here replace
everything after the product:

* ``argmin_rows``: one warp per row reads the distance block once, adds the
  centre norms and keeps the smallest value and its index (the first index on
  ties, as ``argmin``). The values compared are the same float additions the
  fallback makes, so the labels are the same.
* ``scatter_rows``: adds ``w_i x_i`` (the product formed in the data dtype, as
  the fallback forms it) and ``w_i`` into float64 sums by label, with atomic
  additions: in shared memory per block when the sums fit there, straight into
  device memory otherwise. The order of atomic additions is not fixed, so sums
  can differ between runs in the last bits of float64 (far below what float32
  centres resolve).

Both take a ``rows_per_group`` so that one launch serves a stack of problems:
row ``i`` belongs to problem ``i // rows_per_group`` and uses that problem's
centre norms and sums.

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
__global__ void scatter_rows(const T* __restrict__ X,
                             const T* __restrict__ w,
                             const long long* __restrict__ labels,
                             const long long n_rows,
                             const int d,
                             const int k,
                             const long long rows_per_group,
                             double* __restrict__ sums,
                             double* __restrict__ weights)
{
    // One thread per element of X: sums[(g k + label) d + j] += w_i x_ij, and
    // the thread of column 0 adds w_i to the weight.
    const long long total = n_rows * d;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
         idx < total; idx += stride) {
        const long long i = idx / d;
        const int j = (int)(idx - i * d);
        const long long cell = (i / rows_per_group) * k + labels[i];
        const T value = X[idx] * w[i];
        atomicAdd(sums + cell * d + j, (double)value);
        if (j == 0) {
            atomicAdd(weights + cell, (double)w[i]);
        }
    }
}

template <typename T>
__global__ void scatter_rows_shared(const T* __restrict__ X,
                                    const T* __restrict__ w,
                                    const long long* __restrict__ labels,
                                    const long long n_rows,
                                    const int d,
                                    const int k,
                                    double* __restrict__ sums,
                                    double* __restrict__ weights)
{
    // One problem whose k (d + 1) sums fit in shared memory: each block adds
    // its rows there, then adds its partial sums to device memory once.
    extern __shared__ double part[];
    const int cells = k * d;
    for (int t = threadIdx.x; t < cells + k; t += blockDim.x) {
        part[t] = 0.0;
    }
    __syncthreads();
    const long long total = n_rows * d;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
         idx < total; idx += stride) {
        const long long i = idx / d;
        const int j = (int)(idx - i * d);
        const int label = (int)labels[i];
        const T value = X[idx] * w[i];
        atomicAdd(part + label * d + j, (double)value);
        if (j == 0) {
            atomicAdd(part + cells + label, (double)w[i]);
        }
    }
    __syncthreads();
    for (int t = threadIdx.x; t < cells; t += blockDim.x) {
        const double a = part[t];
        if (a != 0.0) {
            atomicAdd(sums + t, a);
        }
    }
    for (int t = threadIdx.x; t < k; t += blockDim.x) {
        const double a = part[cells + t];
        if (a != 0.0) {
            atomicAdd(weights + t, a);
        }
    }
}
"""

_TYPES = {"float32": "float", "float64": "double"}
_NAMES = [
    f"{kernel}<{ctype}>"
    for kernel in ("argmin_rows", "scatter_rows", "scatter_rows_shared")
    for ctype in _TYPES.values()
]

THREADS = 256
# Shared memory a block may use without opting in (48 KiB on every CUDA GPU).
SHARED_BYTES = 48 * 1024
# Blocks per multiprocessor for the grid-stride loops; fewer for the shared-memory
# sums, since every block adds all of its k (d + 1) partial sums at the end.
BLOCKS_PER_SM = 8
SHARED_BLOCKS_PER_SM = 2

_module: Any = None
_sm_count: dict[int, int] = {}


def supported(dtype: Any) -> bool:
    """Whether these kernels handle arrays of ``dtype``."""
    return str(np.dtype(dtype)) in _TYPES


def _function(kernel: str, dtype: Any) -> Any:
    global _module
    import cupy

    if _module is None:
        _module = cupy.RawModule(
            code=_SOURCE, options=("--std=c++14",), name_expressions=_NAMES
        )
    return _module.get_function(f"{kernel}<{_TYPES[str(np.dtype(dtype))]}>")


def _blocks(work_items: int, per_sm: int = BLOCKS_PER_SM) -> int:
    import cupy

    dev = cupy.cuda.Device().id
    if dev not in _sm_count:
        _sm_count[dev] = int(
            cupy.cuda.runtime.getDeviceProperties(dev)["multiProcessorCount"]
        )
    wanted = -(-work_items // THREADS)
    return int(max(1, min(wanted, _sm_count[dev] * per_sm)))


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


def scatter_rows(
    X: Any, w: Any, labels: Any, sums: Any, weights: Any, rows_per_group: int
) -> None:
    """Add ``w_i X_i`` to ``sums[i // rows_per_group, labels[i]]`` and ``w_i`` to
    ``weights[...]``, in place.

    Parameters
    ----------
    X : array of shape (R, d), float32 or float64
    w : array of shape (R,)
    labels : int64 array of shape (R,), values in ``[0, k)``
    sums : C-contiguous float64 array of shape (G, k, d), G = R // rows_per_group
    weights : C-contiguous float64 array of shape (G, k)
    rows_per_group : int
    """
    import cupy

    n_rows, d = X.shape
    if n_rows == 0:
        return
    groups, k = weights.shape
    X = cupy.ascontiguousarray(X)
    w = cupy.ascontiguousarray(w, dtype=X.dtype)
    labels = cupy.ascontiguousarray(labels, dtype=cupy.int64)
    args_tail = (np.int64(n_rows), np.int32(d), np.int32(k))
    shared = (k * (d + 1)) * 8
    if groups == 1 and shared <= SHARED_BYTES:
        fn = _function("scatter_rows_shared", X.dtype)
        fn(
            (_blocks(n_rows * d, SHARED_BLOCKS_PER_SM),),
            (THREADS,),
            (X, w, labels, *args_tail, sums, weights),
            shared_mem=shared,
        )
        return
    fn = _function("scatter_rows", X.dtype)
    fn(
        (_blocks(n_rows * d),),
        (THREADS,),
        (X, w, labels, *args_tail, np.int64(rows_per_group), sums, weights),
    )
