"""GPU benchmark: arraykmeans on CuPy against a plain PyTorch Lloyd and the cuBLAS floor.

Prepared for a short session on a machine with one NVIDIA GPU (an H100 takes
about two minutes for the default run); ``benchmarks/run_gpu.sh`` runs the test
suite and then this script. Without CuPy or without a usable CUDA device it
prints why and exits with status 2.

Steps:

1. Correctness, on a small well-separated problem with the same initial centres
   and ``tol=0``: arraykmeans on CuPy float32 and on CuPy float64 against
   arraykmeans on NumPy float64 (same labels, close centres, same inertia), and
   the PyTorch contender against the same reference (label agreement). A
   failure is reported and makes the exit status 1; the timings still run.
2. Timings, float32, fixed initial centres, ``tol=0``, ``max_iter=N`` (default
   20) on (n, d, k) = (1e6, 128, 1024), (4e6, 64, 256), (1e7, 16, 64). The data
   are made on the host; the host→device copy of X is timed separately
   (pageable memory, ``cupy.asarray``). Contenders, each warmed up first, then
   interleaved with the first rotating, ``cupy.cuda.Device().synchronize()``
   before and after every timed call:

   * ``arraykmeans``: ``arraykmeans.KMeans(...).fit(X)`` on the CuPy array;
   * ``torch``: a plain PyTorch Lloyd written here (no ``torch.cdist``: per chunk
     ``argmin(‖c‖² − 2 X Cᵀ)`` with ``addmm``, sums with ``index_add_``, counts
     with ``bincount``, float32 sums, an empty cluster keeps its centre), on the
     same device memory through DLPack; N update steps plus a final assignment,
     like arraykmeans and scikit-learn;
   * ``floor``: the cuBLAS product ``X @ C.T`` (n×d times d×k) in CuPy into a
     preallocated n×k array.

   Each fit is also timed with ``max_iter=1`` (``1-it s``): the fixed cost, so
   that ``marginal s/it = (t_N − t_1) / (N − 1)`` is the cost of one iteration
   without the set-up. Ratios: ``akm ÷ this`` (arraykmeans' median over this
   contender's) and ``÷ floor`` (s/iteration over the floor's seconds). Peak GPU
   memory of one extra call over what was allocated before it: CuPy's pool
   allocations through a memory hook, ``torch.cuda.max_memory_allocated`` for
   PyTorch.

TF32 stays off (CuPy's default unless ``CUPY_TF32=1``; PyTorch's matmul flag is
set to False), so every contender computes in true float32.

Usage (from the repository root, with arraykmeans importable)::

    python3 benchmarks/gpu.py --out "$OUT"           # default shapes
    python3 benchmarks/gpu.py --out /tmp/x --quick   # n / 10, 3 repetitions

It writes ``gpu-<gpu-name>-<YYYY-MM-DD>.json`` and ``.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import gc
import math
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as cm

DEFAULT_SHAPES = [(1_000_000, 128, 1024), (4_000_000, 64, 256), (10_000_000, 16, 64)]
AKM = "arraykmeans"
AKM_STD = "arraykmeans standard"  # the pure-standard path, CUDA kernels off
TORCH = "torch"
FLOOR = "floor X@C.T"


# ------------------------------------------------------------------ backend


class Backend:
    """CuPy (the real thing), or NumPy for ``--dry-run-numpy`` (a check of this
    script's own logic on a machine without a GPU; its numbers mean nothing)."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        if dry_run:
            import numpy

            self.xp = numpy
            self.cupy = None
        else:
            import cupy

            self.xp = cupy
            self.cupy = cupy

    def sync(self) -> None:
        if self.cupy is not None:
            self.cupy.cuda.Device().synchronize()

    def to_device(self, a: Any) -> Any:
        return self.xp.asarray(a) if self.cupy is not None else a.copy()

    def to_host(self, a: Any) -> Any:
        return a.get() if self.cupy is not None else a

    def free_pool(self) -> None:
        gc.collect()
        if self.cupy is not None:
            self.cupy.get_default_memory_pool().free_all_blocks()

    def peak_memory(self, fn: Callable[[], Any]) -> int | None:
        """Peak of CuPy pool allocations during ``fn()`` over those alive before."""
        if self.cupy is None:
            return None
        hook = _PeakHook(self.cupy)
        self.free_pool()
        self.sync()
        with hook:
            result = fn()
            self.sync()
        del result
        return hook.peak


def _PeakHook(cupy: Any) -> Any:  # a class made at run time
    class PeakHook(cupy.cuda.MemoryHook):
        name = "PeakHook"

        def __init__(self) -> None:
            super().__init__()
            self.current = 0
            self.peak = 0

        def malloc_postprocess(self, **kw: Any) -> None:
            self.current += int(kw.get("mem_size", kw.get("size", 0)))
            self.peak = max(self.peak, self.current)

        def free_postprocess(self, **kw: Any) -> None:
            self.current -= int(kw.get("mem_size", 0))

    return PeakHook()


# ------------------------------------------------------------------ the contenders


def torch_lloyd(
    torch: Any, X: Any, C0: Any, iters: int, chunk_rows: int
) -> tuple[Any, Any]:
    """Plain Lloyd in PyTorch: ``iters`` assignment+update steps, then a final
    assignment (so the labels belong to the returned centres)."""
    n, d = X.shape
    k = C0.shape[0]
    C = C0.clone()
    labels = torch.empty(n, dtype=torch.int64, device=X.device)
    for it in range(iters + 1):
        update = it < iters
        c_norms = (C * C).sum(dim=1)
        CT = C.t()
        if update:
            sums = torch.zeros((k, d), dtype=X.dtype, device=X.device)
            counts = torch.zeros(k, dtype=torch.int64, device=X.device)
        for start in range(0, n, chunk_rows):
            xb = X[start : start + chunk_rows]
            dist = torch.addmm(c_norms, xb, CT, beta=1.0, alpha=-2.0)
            lab = torch.argmin(dist, dim=1)
            labels[start : start + chunk_rows] = lab
            if update:
                sums.index_add_(0, lab, xb)
                counts += torch.bincount(lab, minlength=k)
        if update:
            nonempty = (counts > 0)[:, None]
            means = sums / counts.clamp(min=1).to(X.dtype)[:, None]
            C = torch.where(nonempty, means, C)
    return C, labels


def torch_chunk_rows(k: int, working_memory_mib: float) -> int:
    """Rows per chunk so that the n×k distance block fits the same budget."""
    return max(1024, int(working_memory_mib * 2**20) // (4 * k))


def make_blobs(
    n: int, d: int, k: int, seed: int, *, separated: bool
) -> tuple[Any, Any]:
    """float32 data on the host and k distinct rows of it as initial centres.

    ``separated``: k tight, well-apart blobs (labels have no near ties: float32
    and float64 must agree). Otherwise standard normal data, without cluster
    structure, on which Lloyd does not converge within the timed iterations.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    if separated:
        centres = rng.uniform(-20, 20, size=(k, d)).astype(np.float32)
        blob = rng.integers(k, size=n)
        X = centres[blob]
        X += np.float32(0.5) * rng.standard_normal((n, d), dtype=np.float32)
        # one seed point per blob (the first of each): the run starts near the
        # truth and stays there, far from any near tie
        _, idx = np.unique(blob, return_index=True)
        if idx.size < k:
            rest = np.setdiff1d(np.arange(n), idx)
            idx = np.concatenate(
                [idx, rng.choice(rest, size=k - idx.size, replace=False)]
            )
    else:
        X = rng.standard_normal((n, d), dtype=np.float32)
        idx = rng.choice(n, size=k, replace=False)
    return np.ascontiguousarray(X), X[idx].copy()


# ------------------------------------------------------------------ correctness


def check_correctness(
    be: Backend, torch: Any, args: argparse.Namespace
) -> dict[str, Any]:
    import numpy as np

    import arraykmeans

    n, d, k, iters = 20_000, 16, 32, 20
    Xh, Ch = make_blobs(n, d, k, args.seed + 1, separated=True)

    def fit(X: Any, C: Any) -> Any:
        return arraykmeans.KMeans(
            n_clusters=k, init=C, n_init=1, max_iter=iters, tol=0.0
        ).fit(X)

    ref = fit(Xh.astype(np.float64), Ch.astype(np.float64))
    scale = float(np.max(np.abs(ref.cluster_centers_)))
    out: dict[str, Any] = {
        "n": n,
        "d": d,
        "k": k,
        "iterations": iters,
        "reference": "arraykmeans NumPy float64",
        "reference_n_iter": int(ref.n_iter_),
        "checks": {},
        "ok": True,
    }

    def compare(
        name: str,
        labels: Any,
        centers: Any,
        inertia: float | None,
        rtol: float,
        need_same_labels: bool,
    ) -> None:
        labels = np.asarray(labels)
        agree = float(np.mean(labels == ref.labels_))
        cdiff = (
            float(
                np.max(
                    np.abs(np.asarray(centers, dtype=np.float64) - ref.cluster_centers_)
                )
            )
            / scale
        )
        idiff = None if inertia is None else abs(inertia - ref.inertia_) / ref.inertia_
        ok = (
            (agree == 1.0 if need_same_labels else agree >= 0.999)
            and cdiff <= rtol
            and (idiff is None or idiff <= rtol)
        )
        out["checks"][name] = {
            "label_agreement": agree,
            "max_center_diff_rel": cdiff,
            "inertia_diff_rel": idiff,
            "rtol": rtol,
            "ok": ok,
        }
        out["ok"] &= ok

    for dtype, rtol in (("float32", 1e-4), ("float64", 1e-9)):
        try:
            X = be.to_device(Xh.astype(dtype))
            C = be.to_device(Ch.astype(dtype))
            est = fit(X, C)
            labels = be.to_host(est.labels_)
            compare(
                f"arraykmeans {be.xp.__name__} {dtype}",
                labels,
                be.to_host(est.cluster_centers_),
                est.inertia_,
                rtol,
                True,
            )
            pred = be.to_host(est.predict(X))
            same = bool(np.array_equal(pred, labels))
            out["checks"][f"arraykmeans {be.xp.__name__} {dtype}"][
                "predict_equals_labels"
            ] = same
            out["ok"] &= same
        except Exception as exc:  # report, go on to the timings
            out["checks"][f"arraykmeans {be.xp.__name__} {dtype}"] = {
                "error": repr(exc),
                "ok": False,
            }
            out["ok"] = False
    if torch is not None:
        try:
            Xt = torch_from(torch, be, be.to_device(Xh))
            Ct = torch_from(torch, be, be.to_device(Ch))
            C, labels = torch_lloyd(torch, Xt, Ct, iters, torch_chunk_rows(k, 256))
            compare(
                "torch float32",
                labels.cpu().numpy(),
                C.cpu().numpy(),
                None,
                1e-4,
                False,
            )
        except Exception as exc:
            out["checks"]["torch float32"] = {"error": repr(exc), "ok": False}
            out["ok"] = False
    return out


def torch_from(torch: Any, be: Backend, a: Any) -> Any:
    """A torch tensor sharing ``a``'s memory (DLPack), on the same device."""
    if be.cupy is None:
        return torch.from_numpy(a)
    return torch.from_dlpack(a)


# ------------------------------------------------------------------ timing


def timed(be: Backend, fn: Callable[[], Any]) -> float:
    be.sync()
    t0 = time.perf_counter()
    result = fn()
    be.sync()
    t = time.perf_counter() - t0
    del result
    return t


def run_shape(
    be: Backend,
    torch: Any,
    n: int,
    d: int,
    k: int,
    args: argparse.Namespace,
    first: bool = False,
) -> dict[str, Any]:
    import arraykmeans

    xp = be.xp
    iters = args.iters
    t0 = time.perf_counter()
    Xh, Ch = make_blobs(n, d, k, args.seed, separated=False)
    gen_s = time.perf_counter() - t0

    # host -> device copy of X, timed on its own (pageable host memory)
    h2d = []
    for _ in range(3):
        be.free_pool()
        h2d.append(timed(be, lambda: be.to_device(Xh)))
    X = be.to_device(Xh)
    C = be.to_device(Ch)
    be.sync()

    wm = args.working_memory

    def akm(
        max_iter: int, kernels: bool = True, memory: float | None = wm
    ) -> Callable[[], Any]:
        def run() -> Any:
            est = arraykmeans.KMeans(
                n_clusters=k, init=C, n_init=1, max_iter=max_iter, tol=0.0
            )
            with cm.cupy_kernels(kernels):
                if memory is None:
                    return est.fit(X)
                with arraykmeans.config_context(working_memory=memory):
                    return est.fit(X)

        return run

    runners: dict[str, Callable[[], Any]] = {AKM: akm(iters), AKM + " 1-it": akm(1)}
    if args.standard_path:
        runners[AKM_STD] = akm(iters, kernels=False)
        runners[AKM_STD + " 1-it"] = akm(1, kernels=False)
    # Other working-memory budgets (chunk sizes), on the first shape only.
    sweep_mib = args.sweep_working_memory if first else []
    sweep = [f"{AKM} wm={m:g}" for m in sweep_mib]
    for m, name in zip(sweep_mib, sweep, strict=True):
        runners[name] = akm(iters, memory=m)
    if torch is not None:
        Xt, Ct = torch_from(torch, be, X), torch_from(torch, be, C)
        rows = torch_chunk_rows(k, wm or arraykmeans.get_config()["working_memory"])
        runners[TORCH] = lambda: torch_lloyd(torch, Xt, Ct, iters, rows)
        runners[TORCH + " 1-it"] = lambda: torch_lloyd(torch, Xt, Ct, 1, rows)

    out_buf = xp.empty((n, k), dtype=xp.float32)
    CT = C.T

    def floor_once() -> None:
        xp.matmul(X, CT, out=out_buf)

    # warm-up: kernels compiled, cuBLAS and PyTorch initialised
    errors: dict[str, str] = {}
    akm_n_iter = None
    for name in list(runners):
        try:
            res = runners[name]()
            be.sync()
            if name == AKM:
                akm_n_iter = int(res.n_iter_)
            del res
        except Exception as exc:
            errors[name] = repr(exc)
            del runners[name]
    if akm_n_iter is not None and akm_n_iter != iters:
        errors["n_iter"] = (
            f"arraykmeans stopped after {akm_n_iter} of {iters} "
            "iterations: its per-iteration figures are off"
        )
    first = max(timed(be, floor_once), 1e-6)
    inner = int(min(100, max(1, math.ceil(0.05 / first))))

    def floor_block() -> None:
        for _ in range(inner):
            floor_once()

    runners[FLOOR] = floor_block
    order = list(runners)
    times: dict[str, list[float]] = {name: [] for name in order}
    for rep in range(args.repeat):
        for name in cm.interleaved(order, rep):
            times[name].append(timed(be, runners[name]))
    times[FLOOR] = [t / inner for t in times[FLOOR]]

    memory: dict[str, int | None] = {}
    for name in (AKM, AKM_STD):
        if name in runners:
            memory[name] = be.peak_memory(runners[name])
    if TORCH in runners and be.cupy is not None:
        be.free_pool()
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        res = runners[TORCH]()
        torch.cuda.synchronize()
        memory[TORCH] = torch.cuda.max_memory_allocated() - before
        del res
    memory[FLOOR] = n * k * 4

    flops = 2.0 * n * d * k
    floor_med = cm.median(times[FLOOR])
    results: dict[str, Any] = {}
    akm_med = cm.median(times[AKM]) if AKM in times else None
    for name in (AKM, AKM_STD, *sweep, TORCH, FLOOR):
        if name not in times:
            continue
        med = cm.median(times[name])
        per_iter = med if name == FLOOR else med / iters
        entry = {
            "times_s": cm.summary(times[name]),
            "s_per_iter": per_iter,
            "akm_over_this": (akm_med / med) if (akm_med and name != FLOOR) else None,
            "this_over_floor": per_iter / floor_med,
            "gflops": flops / per_iter / 1e9,
            "peak_gpu_bytes": memory.get(name),
        }
        one = times.get(name + " 1-it")
        if one:
            t1 = cm.median(one)
            entry["one_iter_s"] = cm.summary(one)
            entry["marginal_s_per_iter"] = (
                (med - t1) / (iters - 1) if iters > 1 else None
            )
        results[name] = entry
    results[FLOOR]["inner_repeats"] = inner
    h2d_med = cm.median(h2d)
    case = {
        "n": n,
        "d": d,
        "k": k,
        "iterations": iters,
        "dtype": "float32",
        "x_bytes": n * d * 4,
        "flops_per_iteration": flops,
        "host_data_generation_s": gen_s,
        "h2d_s": cm.summary(h2d),
        "h2d_GBps": n * d * 4 / h2d_med / 1e9,
        "akm_n_iter": akm_n_iter,
        "contenders": results,
        "errors": errors,
        "order": order,
    }
    print(
        f"n={n} d={d} k={k}: "
        + ", ".join(
            f"{name} {cm.fmt_s(r['s_per_iter'])} s/it" for name, r in results.items()
        )
        + f", H2D {cm.fmt_s(h2d_med)} s",
        flush=True,
    )
    runners.clear()
    return case


# ------------------------------------------------------------------ machine


def gpu_description(be: Backend, torch: Any) -> dict[str, Any]:
    info: dict[str, Any] = {}
    cupy = be.cupy
    if cupy is not None:
        try:
            props = cupy.cuda.runtime.getDeviceProperties(0)
            keep = (
                "name",
                "totalGlobalMem",
                "multiProcessorCount",
                "clockRate",
                "memoryClockRate",
                "memoryBusWidth",
                "l2CacheSize",
                "major",
                "minor",
                "pciBusID",
            )
            info["properties"] = {
                key: (
                    props[key].decode()
                    if isinstance(props.get(key), bytes)
                    else props.get(key)
                )
                for key in keep
                if key in props
            }
            mem_clock, bus = props.get("memoryClockRate"), props.get("memoryBusWidth")
            if mem_clock and bus:
                info["nominal_bandwidth_GBps"] = 2 * mem_clock * 1e3 * bus / 8 / 1e9
        except Exception as exc:
            info["properties"] = repr(exc)
        for key, fn in (
            ("driver_version", cupy.cuda.runtime.driverGetVersion),
            ("runtime_version", cupy.cuda.runtime.runtimeGetVersion),
        ):
            try:
                info[key] = fn()
            except Exception as exc:
                info[key] = repr(exc)
        info["cupy"] = cupy.__version__
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_cuda"] = getattr(torch.version, "cuda", None)
        info["torch_allow_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
    try:
        smi = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,driver_version,memory.total,clocks.max.sm,"
                "clocks.max.memory,power.limit,pstate,temperature.gpu,utilization.gpu",
                "--format=csv",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        info["nvidia_smi"] = f"unavailable: {exc!r}"
    return info


def report_markdown(doc: dict[str, Any]) -> str:
    g = doc["gpu"]
    props = g.get("properties") if isinstance(g.get("properties"), dict) else {}
    lines = [f"# GPU benchmark, {doc['machine_name']}, {doc['created']}", ""]
    if doc["settings"]["dry_run_numpy"]:
        lines += [
            "**DRY RUN on NumPy: a check of the script, the numbers mean nothing.**",
            "",
        ]
    lines += [
        f"- GPU: {props.get('name', '?')}, {props.get('multiProcessorCount', '?')} SMs, "
        f"{(props.get('totalGlobalMem') or 0) / 2**30:.0f} GiB, nominal bandwidth "
        f"{g.get('nominal_bandwidth_GBps', 0):.0f} GB/s; driver {g.get('driver_version')}, "
        f"runtime {g.get('runtime_version')}, CuPy {g.get('cupy')}, PyTorch {g.get('torch')} "
        f"(CUDA {g.get('torch_cuda')}, TF32 {g.get('torch_allow_tf32')})",
    ]
    if g.get("nvidia_smi"):
        lines.append("- nvidia-smi: " + " / ".join(g["nvidia_smi"].splitlines()[1:]))
    lines += [f"- {line}" for line in cm.describe_machine(doc["machine"])]
    s = doc["settings"]
    lines += [
        f"- Command: `{' '.join(doc['command'])}`",
        f"- float32, tol=0, {s['iters']} iterations, same initial centres, {s['repeat']} "
        "repetitions interleaved with rotating order, medians; working_memory "
        f"{s['working_memory'] or 'default'}.",
        "- `akm ÷ this`: arraykmeans' median over this contender's; `÷ floor`: "
        "s/iteration over the floor (cuBLAS `X @ C.T`, preallocated output); "
        "`marginal s/it` = (t_N - t_1)/(N - 1); GFLOP/s count 2·n·d·k per iteration.",
        "",
    ]
    c = doc["correctness"]
    lines.append(
        f"**Correctness** (n={c.get('n')}, d={c.get('d')}, k={c.get('k')}, "
        f"{c.get('iterations')} iterations, against {c.get('reference')}): "
        + ("OK" if c.get("ok") else "FAILED")
    )
    lines.append("")
    for name, chk in c.get("checks", {}).items():
        if "error" in chk:
            lines.append(f"- {name}: ERROR {chk['error']}")
        else:
            lines.append(
                f"- {name}: labels {chk['label_agreement']:.6f}, centres "
                f"{chk['max_center_diff_rel']:.1e} (rtol {chk['rtol']:.0e})"
                + (
                    ""
                    if chk.get("inertia_diff_rel") is None
                    else f", inertia {chk['inertia_diff_rel']:.1e}"
                )
                + (
                    ""
                    if "predict_equals_labels" not in chk
                    else f", predict == labels_ {chk['predict_equals_labels']}"
                )
                + ("" if chk["ok"] else "  **FAIL**")
            )
    lines.append("")
    headers = [
        "shape (n, d, k)",
        "contender",
        "median s",
        "s/iteration",
        "marginal s/it",
        "1-it s",
        "akm ÷ this",
        "÷ floor",
        "GFLOP/s",
        "peak GPU MiB",
    ]
    rows = []
    for case in doc["cases"]:
        shape = f"{case['n']}, {case['d']}, {case['k']}"
        for name, r in case["contenders"].items():
            rows.append(
                [
                    shape,
                    name,
                    cm.fmt_s(r["times_s"]["median"]),
                    cm.fmt_s(r["s_per_iter"]),
                    cm.fmt_s(r.get("marginal_s_per_iter")),
                    cm.fmt_s(r["one_iter_s"]["median"]) if "one_iter_s" in r else "-",
                    cm.fmt_ratio(r["akm_over_this"]),
                    cm.fmt_ratio(r["this_over_floor"]),
                    f"{r['gflops']:.0f}",
                    cm.mib(r.get("peak_gpu_bytes")),
                ]
            )
        rows.append(
            [
                shape,
                "host→device copy of X",
                cm.fmt_s(case["h2d_s"]["median"]),
                "-",
                "-",
                "-",
                "-",
                "-",
                f"{case['h2d_GBps']:.1f} GB/s",
                cm.mib(case["x_bytes"]),
            ]
        )
    lines.append(cm.markdown_table(headers, rows))
    errs = [
        f"{c['n']},{c['d']},{c['k']} {k}: {v}"
        for c in doc["cases"]
        for k, v in c["errors"].items()
    ]
    errs += [f"failed: {s}" for s in doc.get("failed", [])]
    errs += [f"skipped (time budget): {s}" for s in doc.get("skipped", [])]
    if errs:
        lines += ["", "**Errors**", ""] + [f"- {e}" for e in errs]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ main


def parse_shapes(text: str) -> list[tuple[int, int, int]]:
    out = []
    for part in text.split(";"):
        if part.strip():
            n, d, k = (int(float(v)) for v in part.split(","))
            out.append((n, d, k))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--out", type=Path, default=cm.RESULTS_DIR, help="folder for JSON and md"
    )
    p.add_argument("--quick", action="store_true", help="n / 10 and 3 repetitions")
    p.add_argument("--shapes", type=parse_shapes, default=None, help='"n,d,k;..."')
    p.add_argument(
        "--iters", type=int, default=20, help="Lloyd iterations per fit (default 20)"
    )
    p.add_argument(
        "--repeat", type=int, default=None, help="timed repetitions (default 7)"
    )
    p.add_argument(
        "--working-memory",
        type=float,
        default=None,
        help="arraykmeans working_memory in MiB (default: the library's)",
    )
    p.add_argument("--no-torch", action="store_true")
    p.add_argument(
        "--no-standard-path",
        dest="standard_path",
        action="store_false",
        help="skip the contender that runs arraykmeans with its CUDA kernels off",
    )
    p.add_argument(
        "--sweep-working-memory",
        type=lambda t: [float(v) for v in t.split(",") if v.strip()],
        default=[],
        help='extra arraykmeans runs at these working_memory MiB on the first shape, e.g. "32,64,1024"',
    )
    p.add_argument(
        "--budget-s",
        type=float,
        default=240,
        help="skip the remaining shapes once this many seconds have passed",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--machine", default=None)
    p.add_argument(
        "--dry-run-numpy",
        action="store_true",
        help="run the script's logic on NumPy (no GPU; numbers meaningless)",
    )
    args = p.parse_args(argv)
    if args.iters < 2:
        p.error("--iters must be at least 2")
    if args.repeat is None:
        args.repeat = 3 if args.quick else 7

    if not args.dry_run_numpy:
        try:
            import cupy
        except Exception as exc:
            print(
                f"gpu.py: CuPy is not importable ({exc!r}); nothing to benchmark. "
                "Run this on a machine with an NVIDIA GPU and CuPy "
                "(see benchmarks/run_gpu.sh).",
                file=sys.stderr,
            )
            return 2
        try:
            usable = bool(cupy.is_available())
        except Exception:
            usable = False
        if not usable:
            print(
                "gpu.py: CuPy is installed but no usable CUDA device was found; "
                "nothing to benchmark.",
                file=sys.stderr,
            )
            return 2

    cm.ensure_repo_on_path()
    be = Backend(args.dry_run_numpy)
    torch = None
    if not args.no_torch:
        try:
            import torch

            if be.cupy is not None and not torch.cuda.is_available():
                print("torch has no CUDA: no torch contender", file=sys.stderr)
                torch = None
            else:
                torch.backends.cuda.matmul.allow_tf32 = False
        except Exception as exc:
            print(
                f"torch not importable ({exc!r}): no torch contender", file=sys.stderr
            )
            torch = None

    t_start = time.perf_counter()
    gpu = gpu_description(be, torch)
    machine = cm.machine_info(extra_modules=("cupy", "torch"))
    props = gpu.get("properties") if isinstance(gpu.get("properties"), dict) else {}
    name = args.machine or ("gpu-" + cm.slug(props.get("name", "numpy-dry-run")))
    print(f"{name}: {gpu.get('nvidia_smi', '')}", flush=True)

    correctness = check_correctness(be, torch, args)
    print(f"correctness: {'OK' if correctness['ok'] else 'FAILED'}", flush=True)
    for cname, chk in correctness["checks"].items():
        print(f"  {cname}: {chk}", flush=True)

    shapes = args.shapes or [
        (n // 10 if args.quick else n, d, k) for n, d, k in DEFAULT_SHAPES
    ]
    doc: dict[str, Any] = {
        "benchmark": "gpu",
        "created": cm.now_iso(),
        "machine_name": name,
        "command": [Path(sys.executable).name, *sys.argv],
        "settings": {
            "quick": args.quick,
            "shapes": shapes,
            "iters": args.iters,
            "repeat": args.repeat,
            "working_memory": args.working_memory,
            "sweep_working_memory": args.sweep_working_memory,
            "seed": args.seed,
            "dry_run_numpy": args.dry_run_numpy,
            "torch": torch is not None,
        },
        "gpu": gpu,
        "machine": machine,
        "correctness": correctness,
        "cases": [],
        "failed": [],
        "skipped": [],
    }
    out_json = args.out / f"{name}-{cm.today()}.json"

    def write() -> str:
        # after every shape, so that a run cut short still leaves its results
        doc["wall_s"] = time.perf_counter() - t_start
        md = report_markdown(doc)
        cm.write_json(out_json, doc)
        out_json.with_suffix(".md").write_text(md)
        return md

    write()
    for n, d, k in shapes:
        if time.perf_counter() - t_start > args.budget_s:
            doc["skipped"].append(f"{n},{d},{k}")
            continue
        try:
            doc["cases"].append(
                run_shape(be, torch, n, d, k, args, first=not doc["cases"])
            )
        except Exception as exc:  # e.g. out of memory: record, go on
            print(f"n={n} d={d} k={k}: FAILED {exc!r}", flush=True)
            doc["failed"].append(f"{n},{d},{k}: {exc!r}")
        be.free_pool()  # the shape's device arrays died with run_shape's frame
        write()
    md = write()
    print()
    print(md)
    print(
        f"wrote {out_json} and {out_json.with_suffix('.md').name} ({doc['wall_s']:.0f} s)"
    )
    return 0 if correctness["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
