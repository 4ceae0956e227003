"""Which path a call takes: small work on NumPy, larger work compiled and cached.

Small calls (below ``COMPILED_MIN_WORK``) must not import numba, so that a fresh
process fits small data without compiling anything; both sides of the threshold
must give the same clustering; compiled loops must be cached on disk even where
the package directory cannot be written to. The checks that depend on what a
process has imported run in fresh subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import require_compiled

import arraykmeans as ak
from arraykmeans.backends import _numpy as npb

PACKAGE = Path(ak.__file__).resolve().parent
# Read at import, before any fixture changes it.
DEFAULT_MIN_WORK = ak.get_config()["compiled_min_work"]


@pytest.fixture(autouse=True)
def default_threshold():
    """Undo the suite-wide fixture: the routing under test is the default one."""
    ak.set_config(compiled_min_work=DEFAULT_MIN_WORK)


def _run(code: str, *, path: Path = PACKAGE.parent, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter importing arraykmeans from ``path``;
    return the JSON object it prints last."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NUMBA_CACHE_DIR", "ARRAYKMEANS_DISABLE_NUMBA", "PYTHONPATH")
    }
    full_env.update(env, PYTHONPATH=str(path))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=path,  # ``-c`` puts the working directory first on sys.path
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_does_not_import_numba(tmp_path):
    found = _run(
        """
        import json, sys
        import arraykmeans
        print(json.dumps({"numba": "numba" in sys.modules,
                          "kernels": "arraykmeans.backends._numba_kernels" in sys.modules,
                          "file": arraykmeans.__file__}))
        """,
        NUMBA_CACHE_DIR=str(tmp_path),
    )
    assert found["file"].startswith(str(PACKAGE))
    assert not found["numba"]
    assert not found["kernels"]


def test_small_work_compiles_nothing(tmp_path):
    """Fits, predictions and stacks of small problems never import numba, so
    nothing is compiled and nothing is written to the (empty) numba cache."""
    cache = tmp_path / "numba-cache"
    cache.mkdir()
    found = _run(
        """
        import json, sys
        import numpy as np
        import arraykmeans as ak
        rng = np.random.RandomState(0)
        X = rng.randn(150, 4)
        for dtype in (np.float64, np.float32):
            km = ak.KMeans(3, random_state=0).fit(X.astype(dtype))
            km.predict(X), km.transform(X), km.score(X)
        ak.KMeans(3, init="random", n_init=3, random_state=0).fit(X)
        ak.kmeans_plusplus(X, 3, random_state=0)
        ak.BatchedKMeans(3, random_state=0).fit(rng.randn(4, 50, 3)).predict(
            rng.randn(4, 50, 3)
        )
        print(json.dumps({"numba": "numba" in sys.modules}))
        """,
        NUMBA_CACHE_DIR=str(cache),
    )
    assert not found["numba"]
    assert list(cache.iterdir()) == []


def test_compiled_work_compiles_only_what_it_needs(tmp_path):
    """A fit above the threshold with 4 features makes only the 4-feature
    variant of the direct assignment, and no stacked k-means++ variant."""
    require_compiled()
    found = _run(
        """
        import json
        import numpy as np
        import arraykmeans as ak
        from arraykmeans.backends import _numba_kernels as nk
        X = np.random.RandomState(0).randn(5000, 4)  # n·k·d = 80000
        ak.KMeans(4, random_state=0, max_iter=3).fit(X)
        print(json.dumps({
            "direct": nk._assign_direct_for.cache_info().currsize,
            "kmeanspp": nk._kmeanspp_for.cache_info().currsize,
            "direct_4_signatures": len(nk._assign_direct_for(4).signatures),
        }))
        """,
        NUMBA_CACHE_DIR=str(tmp_path),
    )
    assert found == {"direct": 1, "kmeanspp": 0, "direct_4_signatures": 1}


# What the caching tests run: one small compiled loop (forced past the
# threshold), its result checked, and where its code came from.
_CACHING_PROBE = """
import json
import numpy as np
import arraykmeans as ak
from arraykmeans.backends import _numpy as npb
ak.set_config(compiled_min_work=0)
out = npb.legacy_uniforms(np.array([3, 4], dtype=np.uint32), 5)
expected = np.random.RandomState(4).random_sample(5)
from arraykmeans.backends import _numba_kernels as nk
stats = nk.legacy_uniforms.stats
print(json.dumps({
    "equal": bool(np.array_equal(out[1], expected)),
    "cache": nk._CACHE,
    "hits": sum(stats.cache_hits.values()),
    "misses": sum(stats.cache_misses.values()),
    "file": nk.__file__,
}))
"""


def _unwritable_copy(tmp_path: Path) -> Path:
    """A copy of the package whose directory takes no cache: its
    ``__pycache__`` is a plain file (this blocks root too, which a read-only
    mode would not) and the files and folders are read-only."""
    root = tmp_path / "site"
    shutil.copytree(
        PACKAGE, root / "arraykmeans", ignore=shutil.ignore_patterns("__pycache__")
    )
    for package in [root / "arraykmeans", *(root / "arraykmeans").glob("*/")]:
        (package / "__pycache__").write_text("not a directory")
    for path in [*root.rglob("*"), root]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    return root


@pytest.fixture
def unwritable_copy(tmp_path):
    root = _unwritable_copy(tmp_path)
    yield root
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_read_only_package_caches_in_the_user_cache(tmp_path, unwritable_copy):
    """Nowhere to write next to the package and no NUMBA_CACHE_DIR: the loops
    are cached in the user's cache directory, and the next process loads them."""
    require_compiled()
    user_cache = tmp_path / "user-cache"
    env = {"XDG_CACHE_HOME": str(user_cache), "HOME": str(tmp_path)}
    first = _run(_CACHING_PROBE, path=unwritable_copy, **env)
    assert first["file"].startswith(str(unwritable_copy))
    second = _run(_CACHING_PROBE, path=unwritable_copy, **env)
    assert first["equal"]
    assert second["equal"]
    assert first["cache"]
    assert first["misses"] == 1
    assert second["hits"] == 1
    assert second["misses"] == 0
    assert list((user_cache / "numba").rglob("*legacy_uniforms*.nbi"))
    assert (unwritable_copy / "arraykmeans" / "backends" / "__pycache__").is_file()


def test_no_writable_cache_anywhere_compiles_per_process(tmp_path, unwritable_copy):
    """With no writable place at all numba refuses to cache; the loops are
    compiled in the process instead of failing."""
    require_compiled()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory would go")
    found = _run(
        _CACHING_PROBE,
        path=unwritable_copy,
        XDG_CACHE_HOME=str(blocked),
        HOME=str(blocked),
    )
    assert found["equal"]
    assert not found["cache"]


def _blobs(n: int, d: int, k: int, seed: int, dtype: str) -> np.ndarray:
    """Well separated blobs: no point lies within rounding of two centres."""
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-20, 20, size=(k, d))
    return (centres[rng.randint(k, size=n)] + rng.randn(n, d)).astype(dtype)


@pytest.mark.slow
@pytest.mark.parametrize("side", [-1, 1], ids=["below", "above"])
@pytest.mark.parametrize(
    ("d", "k", "dtype", "seed"),
    [
        (2, 3, "float64", 0),
        (4, 8, "float32", 1),
        (12, 5, "float64", 2),
        (20, 8, "float64", 3),
        (40, 3, "float32", 4),
    ],
)
def test_both_sides_of_the_threshold_cluster_alike(
    monkeypatch, side, d, k, dtype, seed
):
    """Data just below the threshold (NumPy by default) and just above it
    (compiled by default), each fitted by both paths: the same labels,
    iterations, and centres and inertia to rounding."""
    require_compiled()
    work = DEFAULT_MIN_WORK
    n = work // (k * d) + side * 64
    X = _blobs(n, d, k, seed, dtype)
    # The default route: compiled exactly above the threshold.
    assert (npb._compiled_kernels(n * k * d) is not None) == (side > 0)
    ak.set_config(compiled_min_work=0)
    compiled_fit = ak.KMeans(k, random_state=seed).fit(X)
    ak.set_config(use_compiled=False)
    numpy_fit = ak.KMeans(k, random_state=seed).fit(X)
    np.testing.assert_array_equal(compiled_fit.labels_, numpy_fit.labels_)
    assert compiled_fit.n_iter_ == numpy_fit.n_iter_
    rtol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(
        compiled_fit.cluster_centers_, numpy_fit.cluster_centers_, rtol=rtol, atol=rtol
    )
    assert compiled_fit.inertia_ == pytest.approx(numpy_fit.inertia_, rel=rtol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n", [10, 2000, 3000], ids=["tiny", "add-at", "sparse"])
def test_weighted_row_sums_add_in_row_order(dtype, n):
    """np.add.at (few elements) and the sparse product (more) make the same
    additions in the same order: bit for bit the same sums, which a sequential
    loop gives too."""
    rng = np.random.RandomState(0)
    d, k = 4, 5
    X = rng.randn(n, d).astype(dtype)
    ids = rng.randint(k, size=n).astype(np.int32)
    w = rng.uniform(0.5, 2, n).astype(dtype)
    out = npb._weighted_rows_sum(X, ids, w, k, np.float64)
    assert (n * d <= npb.NUMPY_ADD_AT_ELEMENTS) == (n < 3000)
    expected = np.zeros((k, d), dtype=dtype)
    for i in range(n):
        expected[ids[i]] += X[i] * w[i]
    np.testing.assert_array_equal(np.asarray(out, dtype=dtype), expected)
