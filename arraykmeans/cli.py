"""The command line: ``arraykmeans fit | predict | bench`` (or ``python -m arraykmeans``).

``arraykmeans fit DATA -k 8`` clusters a data file (.npy, .npz, .csv, .tsv,
.parquet) and prints a summary; options write the labels, the centres, the
fitted model, a report and a picture. ``arraykmeans predict MODEL DATA``
labels new data with a saved model. ``arraykmeans bench`` times a fit against
scikit-learn's on generated data. Run any of them with ``--help``.

Problems with the input are reported in one line naming the file, row and
column, with exit status 2; nothing is overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._cli_io import WRITABLE, Data, InputError, check_writable, read_data, write_array
from .backends import to_numpy

MODEL_FORMAT = "arraykmeans-model"
_NO_MATPLOTLIB = (
    "--plot needs matplotlib: pip install 'arraykmeans[plot]' (or matplotlib)."
)
BACKENDS = ("numpy", "cupy", "torch", "jax", "dask", "array_api_strict")


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns
    the exit status (0, or 2 for a problem with the input)."""
    args = _parser().parse_args(argv)
    try:
        return int(args.command(args) or 0)
    except InputError as exc:
        print(f"arraykmeans: error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arraykmeans",
        description="K-means on NumPy, CuPy, PyTorch, JAX or Dask arrays.",
    )
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    _fit_parser(
        sub.add_parser("fit", help="cluster a data file", description=_FIT_HELP)
    )
    _predict_parser(sub.add_parser("predict", help="label data with a saved model"))
    bench = sub.add_parser("bench", help="time a fit against scikit-learn's")
    bench.add_argument("--n-samples", type=int, default=200_000)
    bench.add_argument("--n-features", type=int, default=16)
    bench.add_argument("-k", "--n-clusters", type=int, default=16)
    bench.add_argument("--repeats", type=int, default=3)
    bench.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    bench.add_argument("--json", action="store_true", help="a JSON summary on stdout")
    bench.set_defaults(command=_bench)
    return parser


def _fit_parser(fit: argparse.ArgumentParser) -> None:
    fit.add_argument(
        "data", metavar="DATA", help="a .npy, .npz, .csv, .tsv or .parquet file"
    )
    fit.add_argument(
        "-k", "--n-clusters", type=int, required=True, help="number of clusters"
    )
    fit.add_argument(
        "--init", default="k-means++", choices=["k-means++", "random", "k-means||"]
    )
    fit.add_argument(
        "--n-init", default="auto", help="runs to keep the best of (default: auto)"
    )
    fit.add_argument(
        "--max-iter", type=int, help="default: the estimator's (300; 100 mini-batch)"
    )
    fit.add_argument(
        "--tol", type=float, help="default: the estimator's (1e-4; 0 mini-batch)"
    )
    fit.add_argument(
        "--seed", type=int, default=None, help="random_state (default: none)"
    )
    _backend_options(fit)
    how = fit.add_mutually_exclusive_group()
    how.add_argument(
        "--batched",
        action="store_true",
        help="DATA is a stack (problems, rows, features): BatchedKMeans",
    )
    how.add_argument("--minibatch", action="store_true", help="MiniBatchKMeans")
    how.add_argument(
        "--spherical", action="store_true",
        help="SphericalKMeans: cluster by angle (cosine similarity)",
    )  # fmt: skip
    fit.add_argument("--batch-size", type=int, default=1024, help="with --minibatch")
    fit.add_argument(
        "--columns", help="comma-separated column names (or 0-based positions)"
    )
    fit.add_argument("--out-labels", metavar="FILE", help="labels to .npy/.csv/.tsv")
    fit.add_argument("--out-centers", metavar="FILE", help="centres to .npy/.csv/.tsv")
    fit.add_argument("--save-model", metavar="FILE", help="the fitted model (pickle)")
    fit.add_argument(
        "--plot",
        metavar="FILE",
        help="a picture of the clusters (PNG; needs matplotlib)",
    )
    fit.add_argument("--report", metavar="FILE", help="a report (.json or .md)")
    _common(fit)
    fit.set_defaults(command=_fit)


def _predict_parser(predict: argparse.ArgumentParser) -> None:
    predict.add_argument("model", metavar="MODEL", help="a file of fit --save-model")
    predict.add_argument("data", metavar="DATA")
    _backend_options(predict)
    predict.add_argument(
        "--columns", help="default: the model's columns, where it has names"
    )
    predict.add_argument("--out-labels", metavar="FILE")
    _common(predict)
    predict.set_defaults(command=_predict)


_FIT_HELP = (
    "Cluster the rows of DATA with KMeans (or MiniBatchKMeans, or BatchedKMeans "
    "for a stack of problems) and print a summary. A progress bar runs on the "
    "terminal (not with --quiet, --json, or when stderr is not a terminal)."
)


def _backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        default="numpy",
        choices=BACKENDS,
        help="the array library to fit with",
    )
    parser.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        help="default: the file's (float64 for integers)",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force", action="store_true", help="overwrite existing outputs"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar, no summary"
    )
    parser.add_argument("--json", action="store_true", help="a JSON summary on stdout")


# ------------------------------------------------------------------ fit


def _fit(args: argparse.Namespace) -> int:
    outputs = [
        args.out_labels,
        args.out_centers,
        args.save_model,
        args.plot,
        args.report,
    ]
    _check_outputs(args, outputs)
    _check_numbers(args)
    data = read_data(args.data, args.columns)
    if args.batched != (data.values.ndim == 3):
        raise InputError(
            f"{args.data}: a {data.values.ndim}-D array; --batched takes a 3-D "
            "stack (problems, rows, features), the other fits a 2-D table."
        )
    stack_out = args.out_centers is not None and data.values.ndim == 3
    if stack_out and Path(args.out_centers).suffix.lower() != ".npy":
        raise InputError(
            f"--out-centers {args.out_centers}: a stack's centres (3-D) go to a "
            ".npy file."
        )
    X = _to_backend(_as_float(data.values, args.dtype), args.backend)
    est = _estimator(args, data.values.shape)
    progress = _Progress(
        enabled=not (args.quiet or args.json) and sys.stderr.isatty(),
        max_iter=None if args.minibatch else est.max_iter,
    )
    # Inertia per iteration costs a pass per iteration: only when shown or drawn.
    listen = progress.enabled or args.plot is not None or args.report is not None
    from . import config_context

    start = time.perf_counter()
    with config_context(progress=progress if listen else None):
        try:
            est.fit(X)
        except ValueError as exc:  # the estimator's word on these data
            progress.close()
            raise InputError(f"{args.data}: {exc}") from exc
    seconds = time.perf_counter() - start
    progress.close()
    summary = _summary(args, est, data, seconds)
    _write_outputs(args, est, data, summary, progress.history())
    _say(args, summary)
    return 0


def _check_outputs(args: argparse.Namespace, outputs: list[str | None]) -> None:
    for name, path in (
        ("--out-labels", args.out_labels),
        ("--out-centers", getattr(args, "out_centers", None)),
    ):
        if path is not None and Path(path).suffix.lower() not in WRITABLE:
            raise InputError(f"{name} {path}: write .npy, .csv, .tsv or .txt files.")
    report = getattr(args, "report", None)
    if report is not None and Path(report).suffix.lower() not in (".json", ".md"):
        raise InputError(f"--report {report}: write a .json or a .md file.")
    plot = getattr(args, "plot", None)
    if plot is not None and Path(plot).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"--plot {plot}: write a .png, .svg or .pdf file.")
    if plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError(_NO_MATPLOTLIB) from None
    check_writable(outputs, args.force)


def _check_numbers(args: argparse.Namespace) -> None:
    if args.n_clusters < 1:
        raise InputError(f"-k/--n-clusters must be at least 1, got {args.n_clusters}.")
    if args.n_init != "auto":
        try:
            args.n_init = int(args.n_init)
        except ValueError:
            raise InputError(
                f"--n-init must be 'auto' or a positive integer, got {args.n_init!r}."
            ) from None
        if args.n_init < 1:
            raise InputError(f"--n-init must be at least 1, got {args.n_init}.")
    if args.max_iter is not None and args.max_iter < 1:
        raise InputError(f"--max-iter must be at least 1, got {args.max_iter}.")
    if args.tol is not None and args.tol < 0:
        raise InputError(f"--tol must be at least 0, got {args.tol}.")
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}.")


def _estimator(args: argparse.Namespace, shape: tuple[int, ...]) -> Any:
    import arraykmeans as ak

    n = shape[-2]
    if args.n_clusters > n:
        raise InputError(f"-k {args.n_clusters}: {args.data} has only {n} rows.")
    common = {"init": args.init, "random_state": args.seed}
    # Not given: the estimator's own default.
    for name in ("max_iter", "tol"):
        if getattr(args, name) is not None:
            common[name] = getattr(args, name)
    if args.batched:
        n_init = 1 if args.n_init == "auto" else args.n_init
        return ak.BatchedKMeans(args.n_clusters, n_init=n_init, **common)
    if args.minibatch:
        return ak.MiniBatchKMeans(
            args.n_clusters, n_init=args.n_init, batch_size=args.batch_size, **common
        )
    if args.spherical:
        return ak.SphericalKMeans(args.n_clusters, n_init=args.n_init, **common)
    return ak.KMeans(args.n_clusters, n_init=args.n_init, **common)


def _as_float(values: np.ndarray, dtype: str | None) -> np.ndarray:
    if dtype is None:
        dtype = values.dtype.name if values.dtype.kind == "f" else "float64"
    return np.asarray(values, dtype=dtype)


def _to_backend(X: np.ndarray, backend: str) -> Any:
    """X in the array library ``backend`` (on its GPU where it has one)."""
    try:
        if backend == "numpy":
            return X
        if backend == "cupy":
            import cupy

            return cupy.asarray(X)
        if backend == "torch":
            import torch

            tensor = torch.from_numpy(np.ascontiguousarray(X))
            return tensor.cuda() if torch.cuda.is_available() else tensor
        if backend == "jax":
            import jax

            if X.dtype == np.float64:
                jax.config.update("jax_enable_x64", True)
            return jax.numpy.asarray(X)
        if backend == "dask":
            import dask.array as da

            rows = max(1, min(X.shape[-2], 2**24 // max(1, X.shape[-1] * X.itemsize)))
            chunks = (rows, -1) if X.ndim == 2 else (-1, rows, -1)
            return da.from_array(X, chunks=chunks)
        import array_api_strict

        return array_api_strict.asarray(X)
    except ImportError as exc:
        raise InputError(
            f"--backend {backend}: {backend} is not installed ({exc})."
        ) from exc


def _summary(
    args: argparse.Namespace, est: Any, data: Data, seconds: float
) -> dict[str, Any]:
    labels = to_numpy(est.labels_)
    k = est.n_clusters
    if labels.ndim == 1:
        sizes: Any = np.bincount(labels, minlength=k).tolist()
        inertia: Any = float(est.inertia_)
        n_iter: Any = int(est.n_iter_)
    else:
        sizes = [np.bincount(row[row >= 0], minlength=k).tolist() for row in labels]
        inertia = to_numpy(est.inertia_).astype(float).tolist()
        n_iter = to_numpy(est.n_iter_).astype(int).tolist()
    summary = {
        "data": str(args.data),
        "shape": list(data.values.shape),
        "columns": data.columns,
        "estimator": type(est).__name__,
        "params": {k_: v for k_, v in est.get_params().items() if _jsonable(v)},
        "backend": args.backend,
        "dtype": str(to_numpy(est.cluster_centers_).dtype),
        "n_clusters": k,
        "inertia": inertia,
        "n_iter": n_iter,
        "cluster_sizes": sizes,
        "seconds": round(seconds, 4),
    }
    if hasattr(est, "n_steps_"):
        summary["n_steps"] = int(est.n_steps_)
    return summary


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _write_outputs(
    args: argparse.Namespace,
    est: Any,
    data: Data,
    summary: dict[str, Any],
    history: list[float],
) -> None:
    centers = to_numpy(est.cluster_centers_)
    labels = to_numpy(est.labels_)
    if args.out_labels:
        write_array(args.out_labels, labels)
    if args.out_centers:
        write_array(args.out_centers, centers, header=data.columns)
    if args.save_model:
        with open(args.save_model, "wb") as f:
            pickle.dump(
                {
                    "format": MODEL_FORMAT,
                    "version": 1,
                    "estimator": est,
                    "columns": data.columns,
                    "n_features": data.values.shape[-1],
                },
                f,
            )
    if args.report:
        _write_report(args.report, summary, history)
    if args.plot:
        from ._plot import draw

        X, lab, cen = data.values, labels, centers
        title = f"{summary['estimator']}, k={est.n_clusters}"
        if labels.ndim == 2:  # a stack: its first problem
            X, lab, cen = X[0], labels[0], centers[0]
            keep = lab >= 0
            X, lab = X[keep], lab[keep]
            title += ", problem 0"
        else:
            title += f", inertia {summary['inertia']:.4g}"
        unit = "step" if args.minibatch else "iteration"
        draw(
            args.plot,
            np.asarray(X),
            lab,
            cen,
            history,
            title=title,
            columns=data.columns,
            history_label=unit,
        )


def _write_report(path: str, summary: dict[str, Any], history: list[float]) -> None:
    if Path(path).suffix.lower() == ".json":
        Path(path).write_text(
            json.dumps({**summary, "inertia_history": history}, indent=2) + "\n"
        )
        return
    lines = [f"# K-means of {summary['data']}", "", "| | |", "|---|---|"]
    for key in (
        "shape",
        "estimator",
        "backend",
        "dtype",
        "n_clusters",
        "inertia",
        "n_iter",
        "seconds",
    ):
        lines.append(f"| {key} | {summary[key]} |")
    lines += ["", "| cluster | size |", "|---:|---:|"]
    sizes = summary["cluster_sizes"]
    if sizes and isinstance(sizes[0], int):
        lines += [f"| {j} | {s} |" for j, s in enumerate(sizes)]
    if history:
        lines += [
            "",
            "Inertia per iteration: " + ", ".join(f"{v:.6g}" for v in history),
        ]
    Path(path).write_text("\n".join(lines) + "\n")


def _say(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(summary))
        return
    if args.quiet:
        return
    print(
        f"{summary['estimator']}: {summary['shape'][-2]} rows x {summary['shape'][-1]} "
        f"features, k={summary['n_clusters']} on {summary['backend']} "
        f"({summary['dtype']}) in {summary['seconds']:.3g} s"
    )
    print(f"inertia {summary['inertia']}, iterations {summary['n_iter']}")
    sizes = summary["cluster_sizes"]
    if sizes and isinstance(sizes[0], int):
        print("cluster sizes: " + ", ".join(f"{j}: {s}" for j, s in enumerate(sizes)))


# -------------------------------------------------------------- predict


def _predict(args: argparse.Namespace) -> int:
    check_writable([args.out_labels], args.force)
    if (
        args.out_labels is not None
        and Path(args.out_labels).suffix.lower() not in WRITABLE
    ):
        raise InputError(
            f"--out-labels {args.out_labels}: write .npy, .csv, .tsv or .txt files."
        )
    model = _load_model(args.model)
    columns = args.columns
    if columns is None and model["columns"] is not None:
        columns = ",".join(model["columns"])
    data = read_data(args.data, columns)
    if data.values.ndim != 2 or data.values.shape[1] != model["n_features"]:
        raise InputError(
            f"{args.data}: {data.values.shape[-1]} columns; the model was fitted on "
            f"{model['n_features']} (choose them with --columns)."
        )
    est = model["estimator"]
    dtype = args.dtype or to_numpy(est.cluster_centers_).dtype.name
    labels = to_numpy(
        est.predict(_to_backend(np.asarray(data.values, dtype=dtype), args.backend))
    )
    if args.out_labels:
        write_array(args.out_labels, labels)
    sizes = np.bincount(labels, minlength=est.n_clusters).tolist()
    if args.json:
        print(
            json.dumps(
                {
                    "data": str(args.data),
                    "n_samples": int(labels.size),
                    "cluster_sizes": sizes,
                }
            )
        )
    elif not args.quiet:
        if not args.out_labels:
            np.savetxt(sys.stdout, labels, fmt="%d")
        else:
            print(f"{labels.size} rows labelled; cluster sizes: {sizes}")
    return 0


def _load_model(path: str) -> dict[str, Any]:
    if not Path(path).is_file():
        raise InputError(f"{path}: no such model file.")
    try:
        with open(path, "rb") as f:
            model = pickle.load(f)
    except Exception as exc:
        raise InputError(
            f"{path}: not a model saved by arraykmeans fit --save-model ({exc})."
        ) from exc
    if not isinstance(model, dict) or model.get("format") != MODEL_FORMAT:
        raise InputError(f"{path}: not a model saved by arraykmeans fit --save-model.")
    return model


# ---------------------------------------------------------------- bench


def _bench(args: argparse.Namespace) -> int:
    import arraykmeans as ak

    rng = np.random.default_rng(0)
    # Overlapping blobs: both run all 20 iterations (no early convergence).
    centres = rng.uniform(-1.5, 1.5, (args.n_clusters, args.n_features))
    X = centres[rng.integers(0, args.n_clusters, args.n_samples)]
    X = (X + rng.standard_normal(X.shape)).astype(args.dtype)
    init = X[rng.choice(args.n_samples, args.n_clusters, replace=False)]
    rows = {
        "arraykmeans": lambda: ak.KMeans(
            args.n_clusters, init=init, n_init=1, max_iter=20, tol=0
        ).fit(X)
    }
    try:
        from sklearn.cluster import KMeans as SkKMeans
    except ImportError:
        SkKMeans = None
    if SkKMeans is not None:
        rows["scikit-learn"] = lambda: SkKMeans(
            args.n_clusters, init=init, n_init=1, max_iter=20, tol=0
        ).fit(X)
    found = {name: _timed(fit, args.repeats) for name, fit in rows.items()}
    if args.json:
        shape = [args.n_samples, args.n_features]
        print(json.dumps({"shape": shape, "k": args.n_clusters, "results": found}))
        return 0
    _print_bench(args, found)
    return 0


def _timed(fit: Any, repeats: int) -> dict[str, Any]:
    """The first call's time, the median of ``repeats`` more, and the fit's result."""
    start = time.perf_counter()
    est = fit()  # the first call: imports, compilation, thread start
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        est = fit()
        times.append(time.perf_counter() - start)
    return {
        "first_call_s": first,
        "median_s": float(np.median(times)),
        "inertia": float(est.inertia_),
        "n_iter": int(est.n_iter_),
    }


def _print_bench(args: argparse.Namespace, found: dict[str, Any]) -> None:
    print(
        f"{args.n_samples} x {args.n_features} {args.dtype}, k={args.n_clusters}, "
        "at most 20 iterations from the same centres:"
    )
    for name, r in found.items():
        print(
            f"  {name:13s} {r['median_s']:.4f} s (median of {args.repeats}; "
            f"first call {r['first_call_s']:.3f} s), {r['n_iter']} iterations, "
            f"inertia {r['inertia']:.6g}"
        )
    if "scikit-learn" not in found:
        print("  (scikit-learn is not installed: no comparison)")
    else:
        ratio = found["scikit-learn"]["median_s"] / found["arraykmeans"]["median_s"]
        print(f"  scikit-learn's time / arraykmeans': {ratio:.2f}x")


# ------------------------------------------------------------- progress


class _Progress:
    """The ``progress`` callback of a fit: a one-line bar on stderr (when
    ``enabled``) and the inertia per iteration of every run."""

    def __init__(self, enabled: bool, max_iter: int | None = None) -> None:
        self.enabled = enabled
        self.max_iter = max_iter
        self.runs: list[list[float]] = []
        self.finals: list[float] = []
        self.steps: list[float] = []
        self._shown = 0.0

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        inertia = float(info.get("inertia", np.nan))
        if event == "init":
            self.runs.append([])
            run = f"run {info['run'] + 1}/{info['n_init']}"
            self._show(f"{run}: initialising", force=True)
        elif event == "iteration":
            if not self.runs:
                self.runs.append([])
            self.runs[-1].append(inertia)
            i = info["iteration"] + 1
            of = f"/{self.max_iter}" if self.max_iter else ""
            text = f"run {len(self.runs)}: iteration {i}{of}, inertia {inertia:.6g}"
            self._show(_bar(i, self.max_iter) + text)
        elif event == "run":
            self.finals.append(inertia)
            run = f"run {info['run'] + 1}/{info['n_init']}"
            text = f"{run}: {info['n_iter']} iterations, inertia {inertia:.6g}"
            self._show(text, force=True)
        elif event == "step":
            self.steps.append(inertia)
            step, n_steps = info["step"], info["n_steps"]
            text = f"step {step}/{n_steps}, batch inertia {inertia:.6g}"
            self._show(_bar(step, n_steps) + text)

    def _show(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if force or now - self._shown > 0.1:
            self._shown = now
            sys.stderr.write("\r\033[K" + text)
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    def history(self) -> list[float]:
        """The inertia per iteration of the best run (per step for mini-batch)."""
        if self.steps:
            return self.steps
        if not self.runs:
            return []
        if self.finals and len(self.finals) == len(self.runs):
            return self.runs[int(np.argmin(self.finals))]
        return self.runs[-1]


def _bar(done: int, total: int | None, width: int = 24) -> str:
    """``[#####     ] `` for ``done`` of ``total`` (nothing without a total)."""
    if not total:
        return ""
    filled = min(width, int(width * done / total))
    return "[" + "#" * filled + " " * (width - filled) + "] "


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
