"""Helpers shared by the benchmark scripts: machine description, statistics, output.

Only the standard library is imported at module level, so that every script can
import this module (and print a clear message) even where NumPy, threadpoolctl,
CuPy or PyTorch are missing.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

# Environment variables that change BLAS / OpenMP behaviour, printed with every
# result. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are set by some environments and
# make OpenBLAS pick slower kernels; the scripts never change them.
BLAS_ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OMP_PROC_BIND",
    "OMP_PLACES",
    "CUPY_TF32",
    "CUDA_VISIBLE_DEVICES",
)


def ensure_repo_on_path() -> None:
    """Make ``import arraykmeans`` find the working tree when it is not installed."""
    try:
        import arraykmeans  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO_ROOT))


# ------------------------------------------------------------------ the machine


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags(
    wanted: Iterable[str] = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"),
) -> list[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [f for f in wanted if f in have]
    except OSError:
        pass
    return []


def mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def slug(text: str) -> str:
    text = re.sub(r"\(R\)|\(TM\)|\bCPU\b|\bProcessor\b|@.*$", "", text)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "machine"


def default_machine_name() -> str:
    """A file-name-safe machine name: CPU model and usable core count."""
    return f"{slug(cpu_model())}-{usable_cores()}c"


def git_revision() -> str | None:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(REPO_ROOT),
                "status",
                "--porcelain",
                "--untracked-files=no",
                "arraykmeans",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except Exception:
        return None


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:
        return None
    return str(getattr(mod, "__version__", "?"))


def machine_info(extra_modules: Sequence[str] = ()) -> dict[str, Any]:
    """Everything that explains a timing: CPU, cores, BLAS and its threads, versions."""
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "usable_cores": usable_cores(),
        "mem_total_gib": mem_total_gib(),
        "loadavg_at_start": loadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "env": {name: os.environ.get(name) for name in BLAS_ENV_VARS},
        "arraykmeans_git": git_revision(),
        "versions": {
            name: _version(name)
            for name in (
                "numpy",
                "sklearn",
                "arraykmeans",
                "threadpoolctl",
                *extra_modules,
            )
        },
    }
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {
                key: pool.get(key)
                for key in (
                    "user_api",
                    "internal_api",
                    "prefix",
                    "version",
                    "num_threads",
                    "threading_layer",
                    "architecture",
                    "filepath",
                )
            }
            for pool in threadpool_info()
        ]
    except Exception as exc:  # threadpoolctl missing
        info["threadpools"] = f"unavailable: {exc!r}"
    return info


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def describe_machine(info: dict[str, Any]) -> list[str]:
    """Human-readable lines for the report header."""
    lines = [
        f"CPU: {info['cpu_model']} ({info['usable_cores']} usable of "
        f"{info['logical_cpus']} logical CPUs; flags {' '.join(info['cpu_flags']) or '-'}), "
        f"{info['mem_total_gib']} GiB RAM, load average at start {info['loadavg_at_start']}",
        f"Python {info['python']} on {info['platform']}",
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
        + (f" (git {info['arraykmeans_git']})" if info.get("arraykmeans_git") else ""),
        "Environment: "
        + ", ".join(f"{k}={v}" for k, v in info["env"].items() if v is not None)
        if any(v is not None for v in info["env"].values())
        else "Environment: no BLAS/OpenMP variables set",
    ]
    pools = info.get("threadpools")
    if isinstance(pools, list):
        for pool in pools:
            lines.append(
                f"Thread pool: {pool['internal_api']} {pool.get('version') or ''} "
                f"({pool.get('architecture') or pool.get('threading_layer') or '-'}), "
                f"{pool['num_threads']} threads, {Path(pool['filepath'] or '').name}"
            )
    else:
        lines.append(f"Thread pools: {pools}")
    return lines


# ------------------------------------------------------------------ statistics


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def median_synced_seconds(fn: Any, sync: Any, repeat: int) -> float:
    """Median wall time of ``fn()`` over ``repeat`` calls after one warm-up, each
    call between two device synchronisations (``sync``)."""
    fn()
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return float(statistics.median(times))


def summary(values: Sequence[float]) -> dict[str, Any]:
    vals = sorted(float(v) for v in values)
    n = len(vals)
    q1, q3 = (
        (vals[0], vals[-1]) if n < 4 else tuple(statistics.quantiles(vals, n=4)[::2])
    )
    return {
        "median": median(vals),
        "min": vals[0],
        "max": vals[-1],
        "iqr": q3 - q1,
        "n": n,
        "all": vals,
    }


def rotated(items: Sequence[Any], shift: int) -> list[Any]:
    """``items`` rotated left by ``shift``: repetition r starts with item r mod len."""
    shift %= max(len(items), 1)
    return list(items[shift:]) + list(items[:shift])


def interleaved(items: Sequence[Any], rep: int) -> list[Any]:
    """The order of repetition ``rep``: rotated, and reversed every other time.

    Rotation changes who goes first; the reversal changes who runs just before
    whom, so that no contender always follows the same one (a predecessor's
    spinning threads or freed memory would otherwise bias it the same way).
    """
    base = list(items) if rep % 2 == 0 else list(items)[::-1]
    return rotated(base, rep // 2)


# ------------------------------------------------------------------ memory (Linux)


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> int | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def rss_peak_bytes() -> int | None:
    """The resident-set high-water mark (VmHWM) since start or the last reset."""
    kib = _status_kib("VmHWM")
    return None if kib is None else kib * 1024


def reset_rss_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def ru_maxrss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def mib(nbytes: float | None) -> str:
    if nbytes is None:
        return "-"
    value = nbytes / 2**20
    return f"{value:.1f}" if abs(value) < 10 else f"{value:.0f}"


# ------------------------------------------------------------------ output


def today() -> str:
    return _dt.date.today().isoformat()


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def result_path(kind: str, machine: str | None = None, output: Any = None) -> Path:
    """Where a benchmark's JSON goes: ``output`` if given, else
    ``results/<machine>-<YYYY-MM-DD>-<kind>.json`` (the .md goes next to it)."""
    if output:
        return Path(output)
    return RESULTS_DIR / f"{machine or default_machine_name()}-{today()}-{kind}.json"


def write_report(path: Path, doc: Any, markdown: str) -> None:
    """The JSON document and its markdown summary, side by side; both printed."""
    write_json(path, doc)
    path.with_suffix(".md").write_text(markdown)
    print(markdown)
    print(f"wrote {path} and {path.with_suffix('.md').name}")


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")
    tmp.replace(path)


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(obj)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    right = [False] * len(headers)
    for row in rows:
        for i, cell in enumerate(row):
            if isinstance(cell, (int, float)) or _looks_numeric(cell):
                right[i] = True
    out = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if r else "---" for r in right) + "|",
    ]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _looks_numeric(cell: Any) -> bool:
    return isinstance(cell, str) and bool(
        re.fullmatch(r"-|[-+]?[\d.,]+(?:e[-+]?\d+)?%?(?: GB/s)?", cell)
    )


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 100:
        return f"{seconds:.0f}"
    if seconds >= 1:
        return f"{seconds:.2f}"
    if seconds >= 1e-3:
        return f"{seconds:.4f}"
    return f"{seconds:.2e}"


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}"


def gpu_namespace(script: str, *, dry_run: bool, compat: bool = False) -> Any:
    """``(xp, sync)`` for a GPU script, or None (a reason printed) without a GPU.

    ``dry_run``: NumPy and a no-op ``sync``, to check a script's logic where
    there is no GPU. Otherwise CuPy (its array-api-compat namespace with
    ``compat``) and a device synchronisation.
    """
    import numpy

    if dry_run:
        return numpy, lambda: None
    try:
        import cupy
    except ImportError:
        print(f"{script}: CuPy is not importable; nothing to measure.")
        return None
    if not cupy.is_available():
        print(f"{script}: no usable CUDA device; nothing to measure.")
        return None
    if compat:
        import array_api_compat.cupy as xp
    else:
        xp = cupy
    return xp, cupy.cuda.Device().synchronize


@contextlib.contextmanager
def cupy_kernels(on: bool) -> Any:
    """Inside: arraykmeans with its CUDA kernels on, or off (the pure-standard
    path on CuPy); the previous setting comes back afterwards."""
    import arraykmeans

    with arraykmeans.config_context(use_gpu_kernels=on):
        yield
