"""Sessions: ``nox -s tests`` (CPU suite), ``tests_gpu``, ``lint``, ``benchmarks``, ``demo``."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

PYTHON = None  # the interpreter nox runs on


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite on every CPU backend: NumPy, array-api-strict, PyTorch
    (CPU build), JAX and Dask. CuPy and torch-CUDA tests skip without a GPU.

    Then the parity, batched and primitive tests once more without the compiled
    loops, so that the NumPy paths used where numba is not installed stay tested,
    and ``mypy --strict`` on the typed example of the public API.
    """
    session.install("-e", ".[test,backends]")
    # worksteal: the slow JAX and Dask cases do not pile up on one worker at the end.
    session.run("pytest", "-n", "auto", "--dist", "worksteal", *session.posargs)
    if not session.posargs:
        session.install("mypy==2.4.1", "typing_extensions")
        session.run("mypy", "--strict", "examples/typed_usage.py")
        session.run(
            "pytest",
            "-q",
            "-n",
            "auto",
            # The setting changes only the NumPy backend.
            "-k",
            "not torch and not jax and not dask and not strict",
            "tests/test_parity.py",
            "tests/test_batched.py",
            "tests/test_primitives.py",
            env={"ARRAYKMEANS_DISABLE_NUMBA": "1"},
        )


@nox.session(python=PYTHON)
def tests_gpu(session: nox.Session) -> None:
    """The same suite with CuPy on a machine with a CUDA device."""
    session.install("-e", ".[test,gpu]")
    session.run("pytest", "-m", "gpu or not gpu", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff checks."""
    session.install("ruff==0.17.6")  # pinned: new rules must not break CI unannounced
    session.run(
        "ruff", "check", "arraykmeans", "tests", "benchmarks", "examples", "noxfile.py"
    )


@nox.session(python=PYTHON)
def benchmarks(session: nox.Session) -> None:
    """CPU benchmarks against scikit-learn and faiss; writes benchmarks/results/.

    Without arguments: the standard shapes, the batched benchmark (blobs and
    noise), the time-per-iteration-vs-k sweep with its plot, the small data
    sets (with and without numba) and the cold start. Arguments go to
    bench_cpu.py alone, e.g. ``nox -s benchmarks -- --quick``.
    """
    session.install("-e", ".[bench]")
    session.run("python", "benchmarks/bench_cpu.py", *session.posargs)
    if not session.posargs:
        session.run("python", "benchmarks/bench_batched.py")
        session.run("python", "benchmarks/bench_batched.py", "--data", "noise")
        session.run("python", "benchmarks/plot_k.py")
        session.run("python", "benchmarks/bench_small.py")
        session.run(
            "python",
            "benchmarks/bench_small.py",
            env={"ARRAYKMEANS_DISABLE_NUMBA": "1"},
        )
        session.run("python", "benchmarks/bench_coldstart.py")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Cluster a generated data set and print the result; ``-- --plot [FILE]``
    also draws it (matplotlib is installed for that)."""
    plot = any(arg.startswith("--plot") for arg in session.posargs)
    session.install("-e", ".[plot]" if plot else ".")
    session.run("python", "-m", "arraykmeans.demo", *session.posargs)
