"""Batched K-means on a GPU: arraykmeans on CuPy against batched PyTorch peers.

The shape of flash-kmeans' headline benchmark by default: B=32 problems of
n=131072 points, d=128, k=1024, in float32 and float16 (arraykmeans computes
half precision in float32). Every contender starts from the same centres (the
first k rows of every problem) and runs the same number of iterations
(``tol=0``); the floor is the batched product ``X @ C^T`` of the same shape.
Timings are medians after a warm-up (which also absorbs compilation), with
device synchronisation.

Peers, where they import: a plain batched Lloyd in PyTorch (its float16 run
sums and counts in float32, as arraykmeans does), and flash-kmeans'
``batch_kmeans_Euclid`` (Triton kernels; its wheel, and tqdm's, must travel in
``.whl/`` like the others, see run_gpu.sh). flash-kmeans runs ``iters + 1``
assignment-and-update steps, as the PyTorch Lloyd does.

Made for a short session on a machine with an NVIDIA GPU (see run_gpu.sh).
``--dry-run-numpy`` runs the same logic on NumPy with a small shape, to check
the script where there is no GPU; its numbers mean nothing.

Usage::

    python3 benchmarks/gpu_batched.py --out OUT_DIR
    python3 benchmarks/gpu_batched.py --dry-run-numpy --out /tmp/x
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as cm

import arraykmeans as ak


def to_host(a: Any) -> Any:
    return a.get() if hasattr(a, "get") else a


def torch_batched_lloyd(torch: Any, X: Any, C0: Any, iters: int) -> Any:
    """Plain batched Lloyd in PyTorch: bmm distances, argmin, scatter-add sums.

    Sums and counts are float32 whatever X's dtype (in float16 a count of
    131072 rows would overflow); the centres go back to X's dtype.
    """
    B, n, d = X.shape
    k = C0.shape[1]
    C = C0.clone()
    offsets = (torch.arange(B, device=X.device) * k)[:, None]
    flat_X = X.reshape(B * n, d)
    wide = flat_X if X.dtype == torch.float32 else None
    for _ in range(iters):
        dist = torch.baddbmm(
            (C * C).sum(-1)[:, None, :], X, C.transpose(1, 2), alpha=-2.0
        )
        labels = dist.argmin(dim=2)
        ids = (labels + offsets).reshape(-1)
        sums = torch.zeros(B * k, d, device=X.device, dtype=torch.float32)
        sums.index_add_(0, ids, flat_X.float() if wide is None else wide)
        counts = torch.bincount(ids, minlength=B * k).float()[:, None]
        new = (sums / counts.clamp(min=1)).to(X.dtype)
        C = torch.where(counts > 0, new, C.reshape(B * k, d)).reshape(B, k, d)
    return C


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--B", type=int, default=32)
    parser.add_argument("--n", type=int, default=131072)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--k", type=int, default=1024)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", required=True)
    parser.add_argument("--dry-run-numpy", action="store_true")
    parser.add_argument(
        "--no-standard-path",
        dest="standard_path",
        action="store_false",
        help="skip arraykmeans with its CUDA kernels off",
    )
    args = parser.parse_args(argv)

    if args.dry_run_numpy:
        args.B, args.n, args.d, args.k, args.repeat = 4, 2000, 8, 16, 2
    found = cm.gpu_namespace("gpu_batched.py", dry_run=args.dry_run_numpy, compat=True)
    if found is None:
        return 2
    xp, sync = found
    torch = flash = None
    if not args.dry_run_numpy:
        import cupy

        try:
            import torch
        except ImportError:
            torch = None
        try:
            import flash_kmeans as flash
            from flash_kmeans import interface as flash_interface

            if not flash_interface._HAS_TRITON_IMPL:
                print("gpu_batched.py: flash-kmeans without Triton; skipped")
                flash = None
        except Exception as exc:  # absent, or its imports failed
            print(f"gpu_batched.py: flash-kmeans not used ({exc!r})")
            flash = None

    B, n, d, k, iters = args.B, args.n, args.d, args.k, args.iters
    rng = np.random.default_rng(0)
    host = rng.standard_normal((B, n, d), dtype=np.float32)
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    checks: dict[str, Any] = {}

    def fit(X: Any, init: Any, kernels: bool) -> Any:
        with cm.cupy_kernels(kernels):
            return ak.batched_k_means(X, k, init=init, max_iter=iters, tol=0.0)

    def write() -> None:
        # after every dtype, so that a run cut short still leaves its results
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        doc = {
            "benchmark": "gpu batched",
            "dry_run_numpy": args.dry_run_numpy,
            "shape": {"B": B, "n": n, "d": d, "k": k, "iterations": iters},
            "median_s": results,
            "kernels_vs_standard": checks,
            "errors": errors,
            "note": "floor = one batched product per assignment (iters + 1 of them)",
        }
        (out / "gpu_batched.json").write_text(json.dumps(doc, indent=2))
        lines = [
            "# Batched K-means on the GPU"
            + (
                " (DRY RUN on NumPy: numbers mean nothing)"
                if args.dry_run_numpy
                else ""
            ),
            "",
            f"B={B}, n={n}, d={d}, k={k}, {iters} iterations + final assignment, "
            f"same initial centres, medians of {args.repeat} after a warm-up.",
            "",
            "| dtype | contender | median s | ÷ floor |",
            "|---|---|---:|---:|",
        ]
        for dtype_name, row in results.items():
            floor = row.get("floor X @ C^T (float32)", float("nan"))
            for name, seconds in row.items():
                lines.append(
                    f"| {dtype_name} | {name} | {seconds:.4f} | {seconds / floor:.2f} |"
                )
        if checks:
            lines += [
                "",
                "Kernels against the standard path (same data and centres):",
                "",
            ]
            lines += [f"- {dt}: {chk}" for dt, chk in checks.items()]
        if errors:
            lines += ["", "**Errors**", ""] + [f"- {n}: {e}" for n, e in errors.items()]
        (out / "gpu_batched.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))

    for dtype_name in ("float32", "float16"):
        X = xp.asarray(host.astype(dtype_name))
        init = X[:, :k, :]
        row: dict[str, float] = {}
        contenders = {
            "arraykmeans": lambda X=X, init=init: fit(X, init, True),
        }
        if args.standard_path:
            contenders["arraykmeans standard"] = lambda X=X, init=init: fit(
                X, init, False
            )
        X32 = xp.asarray(host)
        C32 = X32[:, :k, :]
        contenders["floor X @ C^T (float32)"] = lambda X32=X32, C32=C32: xp.matmul(
            X32, xp.permute_dims(C32, (0, 2, 1))
        )
        if torch is not None:
            tX = torch.as_tensor(host.astype(dtype_name), device="cuda")
            tC = tX[:, :k, :].clone()
            contenders["torch batched Lloyd"] = lambda tX=tX, tC=tC: (
                torch_batched_lloyd(torch, tX, tC, iters + 1)
            )
            if flash is not None:
                contenders["flash-kmeans"] = lambda tX=tX, tC=tC: (
                    flash.batch_kmeans_Euclid(
                        tX, k, max_iters=iters + 1, tol=0.0, init_centroids=tC.clone()
                    )
                )
        for name, fn in contenders.items():
            if (
                name in ("torch batched Lloyd", "flash-kmeans")
                and not args.dry_run_numpy
            ):
                # CuPy's pool keeps what earlier contenders freed: hand it back
                # so that PyTorch can allocate its (B, n, k) distances.
                cupy.get_default_memory_pool().free_all_blocks()
            try:
                seconds = cm.median_synced_seconds(fn, sync, args.repeat)
            except Exception as exc:  # record, go on with the others
                errors[f"{dtype_name} {name}"] = repr(exc)
                print(f"{dtype_name} {name}: FAILED {exc!r}", flush=True)
                continue
            row[name] = seconds * (iters + 1) if name.startswith("floor") else seconds
        if args.standard_path:
            # The kernels against the standard path on the same data (same labels up
            # to rare float ties; centres to float32 rounding).
            try:
                a, b = fit(X, init, True), fit(X, init, False)
                la, lb = np.asarray(to_host(a[1])), np.asarray(to_host(b[1]))
                ca = np.asarray(to_host(a[0]), dtype=np.float64)
                cb = np.asarray(to_host(b[0]), dtype=np.float64)
                checks[dtype_name] = {
                    "label_agreement": float(np.mean(la == lb)),
                    "max_centre_diff": float(np.max(np.abs(ca - cb))),
                    "centre_scale": float(np.max(np.abs(cb))),
                    "n_iter_equal": bool(
                        np.array_equal(
                            np.asarray(to_host(a[3])), np.asarray(to_host(b[3]))
                        )
                    ),
                }
            except Exception as exc:
                errors[f"{dtype_name} check"] = repr(exc)
        results[dtype_name] = row
        print(dtype_name, {name: round(s, 4) for name, s in row.items()}, flush=True)
        print(dtype_name, "kernels vs standard:", checks.get(dtype_name), flush=True)
        write()

    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
