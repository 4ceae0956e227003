"""Cold-start benchmark: ``import arraykmeans`` and a first fit, in fresh processes.

Each measurement is one new Python process that loads its data, then times
``import arraykmeans`` and a first ``KMeans(k).fit(X)`` (and a second fit, for
comparison). Cases:

* ``iris, scikit-learn loaded``: the data from ``sklearn.datasets.load_iris``
  (so NumPy, SciPy and scikit-learn are imported before the clock starts), k=3;
* ``iris, NumPy only``: the same data from a ``.npy`` file, nothing but NumPy
  imported first;
* ``compiled``: (100000, 4) standard normal data, k=8, large enough for the
  compiled loops (numba imported, and its loops compiled or loaded).

Each case runs with an empty numba cache (``NUMBA_CACHE_DIR`` a new empty
directory every run: ``cold``) and with one filled by an untimed run first
(``warm``). ``NUMBA_CACHE_DIR`` takes precedence over the cache next to the
package, so ``cold`` is cold even where that one is filled. The report gives
medians over ``--repeat`` processes of the seconds from before the import to
after the first fit, and whether the process imported numba.

Usage (from the repository root)::

    python benchmarks/bench_coldstart.py              # 5 processes per case

Results go to ``benchmarks/results/<machine>-<YYYY-MM-DD>-coldstart.json`` and
``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as cm
import numpy as np

# What each child process runs: argv = data source ('sklearn-iris' or a .npy
# path), k. It prints one JSON line.
CHILD = r"""
import json, sys, time
source, k = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
if source == "sklearn-iris":
    from sklearn.datasets import load_iris
    X = load_iris().data
else:
    import numpy
    X = numpy.load(source)
t1 = time.perf_counter()
import arraykmeans
t2 = time.perf_counter()
arraykmeans.KMeans(k).fit(X)
t3 = time.perf_counter()
arraykmeans.KMeans(k).fit(X)
t4 = time.perf_counter()
print(json.dumps({
    "load_s": t1 - t0, "import_s": t2 - t1, "first_fit_s": t3 - t2,
    "import_and_first_fit_s": t3 - t1, "second_fit_s": t4 - t3,
    "numba_imported": "numba" in sys.modules,
    "arraykmeans": arraykmeans.__file__,
}))
"""


def run_child(source: str, k: int, cache_dir: str) -> dict[str, Any]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(cm.REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    done = subprocess.run(
        [sys.executable, "-c", CHILD, source, str(k)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_case(name: str, source: str, k: int, repeat: int, scratch: Path) -> list:
    """Cold and warm measurements of one case, alternating."""
    warm_dir = tempfile.mkdtemp(prefix="warm-", dir=scratch)
    run_child(source, k, warm_dir)  # fills the warm cache, untimed
    runs: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": []}
    for rep in range(repeat):
        for cache in cm.interleaved(["cold", "warm"], rep):
            where = tempfile.mkdtemp(prefix="cold-", dir=scratch)
            runs[cache].append(
                run_child(source, k, warm_dir if cache == "warm" else where)
            )
    out = []
    for cache, results in runs.items():
        out.append(
            {
                "case": name,
                "cache": cache,
                "n_clusters": k,
                "runs": results,
                "median_s": {
                    key: cm.median([r[key] for r in results])
                    for key in (
                        "load_s",
                        "import_s",
                        "first_fit_s",
                        "import_and_first_fit_s",
                        "second_fit_s",
                    )
                },
                "numba_imported": sorted({r["numba_imported"] for r in results}),
            }
        )
    return out


def report_markdown(doc: dict[str, Any]) -> str:
    lines = [
        f"# Cold start, {doc['machine_name']}, {doc['created'][:10]}",
        "",
        f"- Each row: median over {doc['settings']['repeat']} fresh processes; "
        "`cold`: an empty `NUMBA_CACHE_DIR` per process, `warm`: one filled by an "
        "untimed run. Seconds from before `import arraykmeans` to after the first "
        "`KMeans(k).fit(X)`; data loading is timed apart.",
        f"- Command: `{' '.join(doc['command'])}`",
        *[f"- {line}" for line in cm.describe_machine(doc["machine"])],
        "",
    ]
    headers = [
        "case",
        "numba cache",
        "load data s",
        "import s",
        "first fit s",
        "import + first fit s",
        "second fit s",
        "numba imported",
    ]
    rows = []
    for r in doc["results"]:
        med = r["median_s"]
        rows.append(
            [
                r["case"],
                r["cache"],
                cm.fmt_s(med["load_s"]),
                cm.fmt_s(med["import_s"]),
                cm.fmt_s(med["first_fit_s"]),
                cm.fmt_s(med["import_and_first_fit_s"]),
                cm.fmt_s(med["second_fit_s"]),
                "/".join(str(v).lower() for v in r["numba_imported"]),
            ]
        )
    lines.append(cm.markdown_table(headers, rows))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--no-compiled", action="store_true", help="skip the large case")
    p.add_argument("--machine", default=None, help="machine name for the result files")
    p.add_argument("--output", default=None, help="JSON path (the .md goes next to it)")
    args = p.parse_args(argv)
    out = cm.result_path("coldstart", args.machine, args.output)
    from sklearn.datasets import load_iris

    start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        scratch = Path(tmp)
        iris = scratch / "iris.npy"
        np.save(iris, load_iris().data)
        cases = [
            ("iris, scikit-learn loaded", "sklearn-iris", 3),
            ("iris, NumPy only", str(iris), 3),
        ]
        if not args.no_compiled:
            large = scratch / "large.npy"
            np.save(large, np.random.RandomState(0).standard_normal((100_000, 4)))
            cases.append(("compiled: (100000, 4), k=8", str(large), 8))
        for name, source, k in cases:
            print(f"{name} ...", flush=True)
            results += run_case(name, source, k, args.repeat, scratch)
    doc = {
        "benchmark": "bench_coldstart",
        "created": cm.now_iso(),
        "machine_name": args.machine or cm.default_machine_name(),
        "command": [os.path.basename(sys.executable), *sys.argv],
        "settings": {"repeat": args.repeat},
        "machine": cm.machine_info(extra_modules=("numba",)),
        "wall_s": time.perf_counter() - start,
        "loadavg_at_end": cm.loadavg(),
        "results": results,
    }
    cm.write_report(out, doc, report_markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
