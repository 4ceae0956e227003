"""Cluster a .npy file bigger than you want in memory, one chunk at a time.

``MiniBatchKMeans.partial_fit`` takes one batch per call, from anywhere: here
chunks of a memory-mapped ``.npy`` file (``np.load(mmap_mode="r")``), so that
only one chunk is ever copied into memory. The file is written first, chunk by
chunk too, into a temporary directory that is removed at the end.

Usage::

    python examples/stream_minibatch.py                   # 200k rows, seconds
    python examples/stream_minibatch.py --budget-mib 512  # a file of 2x 512 MiB

With ``--budget-mib`` the file is made twice that size; the chunks stay small
(``--chunk`` rows). The peak resident memory printed at the end counts the
file's pages the kernel has mapped in (clean pages, dropped under memory
pressure); the memory not backed by the file, printed next to it, is what the
chunks' copies and the model cost.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

import arraykmeans as ak


def write_blobs(path: Path, n: int, d: int, k: int, chunk: int, seed: int = 0) -> None:
    """Gaussian blobs around ``k`` random centres, written ``chunk`` rows at a
    time into a float32 ``.npy`` file (never all of it in memory)."""
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-10, 10, size=(k, d)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        rows = centres[rng.randint(k, size=m)] + rng.randn(m, d).astype(np.float32)
        out[start : start + m] = rows
    out.flush()
    del out


def stream_fit(path: Path, k: int, chunk: int, passes: int) -> ak.MiniBatchKMeans:
    """One ``partial_fit`` per chunk of the memory-mapped file, ``passes`` times."""
    X = np.load(path, mmap_mode="r")
    n = X.shape[0]
    km = ak.MiniBatchKMeans(n_clusters=k, random_state=0)
    report_every = max(1, (n // chunk) // 5)
    for p in range(passes):
        for i, start in enumerate(range(0, n, chunk)):
            # A copy of this chunk only: the rest of the file stays on disk.
            batch = np.array(X[start : start + chunk])
            if batch.shape[0] < k and not hasattr(km, "cluster_centers_"):
                continue
            km.partial_fit(batch)
            if i % report_every == 0:
                print(
                    f"pass {p + 1} chunk {i + 1}: inertia of the chunk per row "
                    f"{km.inertia_ / batch.shape[0]:.4f}"
                )
    return km


def whole_inertia(path: Path, km: ak.MiniBatchKMeans, chunk: int) -> float:
    """The model's inertia on the whole file, chunk by chunk."""
    X = np.load(path, mmap_mode="r")
    return -sum(
        km.score(np.array(X[s : s + chunk])) for s in range(0, X.shape[0], chunk)
    )


def anonymous_mib() -> float | None:
    """Resident memory not backed by a file (Linux), in MiB: what the chunks
    and the model cost, without the file's mapped pages."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--passes", type=int, default=1)
    parser.add_argument(
        "--budget-mib",
        type=float,
        help="make the file twice this size (overrides --rows)",
    )
    args = parser.parse_args()
    rows = args.rows
    if args.budget_mib is not None:
        rows = int(2 * args.budget_mib * 2**20 // (4 * args.d))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blobs.npy"
        start = time.perf_counter()
        write_blobs(path, rows, args.d, args.k, args.chunk)
        size = path.stat().st_size / 2**20
        print(f"wrote {rows} x {args.d} float32 ({size:.1f} MiB) in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        start = time.perf_counter()
        km = stream_fit(path, args.k, args.chunk, args.passes)
        seconds = time.perf_counter() - start
        total = whole_inertia(path, km, args.chunk)
        anon = anonymous_mib()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{km.n_steps_} partial_fit steps in {seconds:.1f} s; inertia of the "
          f"whole file per row {total / rows:.4f}")  # fmt: skip
    print(f"peak resident memory {peak:.0f} MiB for a {size:.0f} MiB file"
          + ("" if anon is None else f"; not file-backed now: {anon:.0f} MiB"))  # fmt: skip


if __name__ == "__main__":
    main()
