"""The command line: files in, files out, errors that name the problem.

Most tests call :func:`arraykmeans.cli.main` in-process on temporary files;
a few run the installed entry points in a subprocess.
"""

from __future__ import annotations

import itertools
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import arraykmeans as ak
from arraykmeans.cli import main


def _blobs(n=600, d=2, k=4, seed=0):
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-20, 20, (k, d))
    return centres[rng.randint(0, k, n)] + rng.randn(n, d)


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv", ".tsv", ".csv-header"])
@pytest.mark.parametrize("seed", range(3))
def test_fit_equals_the_estimator_on_every_format(tmp_path, capsys, suffix, seed):
    """Property-style: the labels and centres written are those of KMeans
    with the same parameters on the same values, whatever the file type."""
    X = _blobs(n=200 + 100 * seed, d=2 + seed, seed=seed)
    path = tmp_path / f"data{suffix.split('-')[0]}"
    names = [f"f{j}" for j in range(X.shape[1])]
    if suffix == ".npy":
        np.save(path, X)
    elif suffix == ".npz":
        np.savez(path, X=X)
    else:
        delimiter = "\t" if suffix == ".tsv" else ","
        header = delimiter.join(names) if suffix == ".csv-header" else ""
        np.savetxt(
            path, X, delimiter=delimiter, fmt="%.17g", header=header, comments=""
        )
    labels, centres = tmp_path / "labels.npy", tmp_path / "centres.csv"
    code, out, _ = _run(
        capsys, "fit", path, "-k", 4, "--seed", seed, "--n-init", 2,
        "--out-labels", labels, "--out-centers", centres, "--json",
    )  # fmt: skip
    assert code == 0
    summary = json.loads(out)
    ref = ak.KMeans(4, n_init=2, random_state=seed).fit(X)
    np.testing.assert_array_equal(np.load(labels), ref.labels_)
    header = 1 if suffix == ".csv-header" else 0
    got = np.loadtxt(centres, delimiter=",", skiprows=header, ndmin=2)
    np.testing.assert_allclose(got, ref.cluster_centers_, rtol=1e-15)
    assert summary["inertia"] == pytest.approx(ref.inertia_, rel=1e-12)
    assert summary["n_iter"] == ref.n_iter_
    assert summary["cluster_sizes"] == np.bincount(ref.labels_, minlength=4).tolist()
    assert summary["columns"] == (names if suffix == ".csv-header" else None)
    if header:
        assert Path(centres).read_text().splitlines()[0] == ",".join(names)


def test_columns_model_and_predict(tmp_path, capsys):
    """--columns picks named columns; a saved model predicts new data with the
    same columns, found by name in a file whose columns are in another order."""
    X = _blobs(d=3)
    path = tmp_path / "train.csv"
    np.savetxt(path, X, delimiter=",", header="a,b,c", comments="", fmt="%.17g")
    model = tmp_path / "model.pkl"
    code, _, _ = _run(
        capsys, "fit", path, "-k", 3, "--columns", "c,a", "--seed", 1,
        "--save-model", model, "--quiet",
    )  # fmt: skip
    assert code == 0
    ref = ak.KMeans(3, random_state=1).fit(X[:, [2, 0]])
    new = _blobs(n=50, d=3, seed=5)
    new_path = tmp_path / "new.csv"
    np.savetxt(
        new_path, new[:, [1, 2, 0]], delimiter=",", header="b,c,a", comments="",
        fmt="%.17g",
    )  # fmt: skip
    out_labels = tmp_path / "new_labels.csv"
    code, _, _ = _run(capsys, "predict", model, new_path, "--out-labels", out_labels)
    assert code == 0
    np.testing.assert_array_equal(
        np.loadtxt(out_labels, dtype=int), ref.predict(new[:, [2, 0]])
    )
    with open(model, "rb") as f:
        saved = pickle.load(f)
    assert saved["columns"] == ["c", "a"]


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("", (), "is empty"),
        ("a,b\n", (), "no data rows"),
        ("a,b\n1,2\n3,x\n", (), "line 3, column 'b': 'x' is not a number"),
        ("a,b\n1,2\n3,\n", (), "line 3, column 'b': '' is not a number"),
        ("1,2\n3,nan\n", (), "row 1, column '1' is nan (counted from 0"),
        ("1,2\n3,4,5\n", (), "line 2 has 3 fields, expected 2"),
        ("a,b\n1,2\n3,4\n", ("--columns", "a,z"), "no column 'z' (a, b)"),
        ("a,b\n1,2\n3,4\n", ("-k", "5"), "has only 2 rows"),
        ("a,b\n1,2\n3,4\n", ("--n-init", "0"), "--n-init must be at least 1"),
        ("a,b\n1,2\n3,4\n", ("--max-iter", "0"), "--max-iter must be at least 1"),
        ("a,b\n1,2\n3,4\n", ("--out-labels", "x.json"), "write .npy, .csv"),
        ("a,b\n1,2\n3,4\n", ("--batched",), "--batched takes a 3-D stack"),
    ],
)
def test_input_errors_name_the_problem(tmp_path, capsys, content, args, message):
    path = tmp_path / "data.csv"
    path.write_text(content)
    argv = ["fit", path, *args]
    if "-k" not in args:
        argv += ["-k", "2"]
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert message in err, err
    assert err.startswith("arraykmeans: error: ")
    assert out == ""


def test_missing_and_unknown_files(tmp_path, capsys):
    code, _, err = _run(capsys, "fit", tmp_path / "nope.csv", "-k", 2)
    assert (code, "no such file" in err) == (2, True)
    other = tmp_path / "data.xlsx"
    other.write_text("1")
    code, _, err = _run(capsys, "fit", other, "-k", 2)
    assert (code, "unknown file type '.xlsx'" in err) == (2, True)
    code, _, err = _run(capsys, "predict", tmp_path / "none.pkl", other)
    assert (code, "no such model file" in err) == (2, True)
    not_model = tmp_path / "not_model.pkl"
    not_model.write_bytes(pickle.dumps({"a": 1}))
    code, _, err = _run(capsys, "predict", not_model, other)
    assert (code, "not a model saved by arraykmeans" in err) == (2, True)


def test_nothing_is_overwritten_without_force(tmp_path, capsys):
    X = _blobs()
    path = tmp_path / "data.npy"
    np.save(path, X)
    labels = tmp_path / "labels.npy"
    labels.write_bytes(b"precious")
    code, _, err = _run(capsys, "fit", path, "-k", 3, "--out-labels", labels)
    assert code == 2
    assert "exists; pass --force" in err
    assert labels.read_bytes() == b"precious"
    code, _, _ = _run(
        capsys, "fit", path, "-k", 3, "--out-labels", labels, "--force", "--quiet"
    )
    assert code == 0
    assert np.load(labels).shape == (X.shape[0],)


def test_nan_in_npy_names_row_and_column(tmp_path, capsys):
    X = _blobs()
    X[17, 1] = np.inf
    path = tmp_path / "data.npy"
    np.save(path, X)
    code, _, err = _run(capsys, "fit", path, "-k", 3)
    assert code == 2
    assert "row 17, column '1' is inf" in err


@pytest.mark.parametrize("mode", ["minibatch", "batched", "spherical"])
def test_minibatch_batched_and_spherical(tmp_path, capsys, mode):
    if mode == "spherical":
        X = _blobs(d=3) + 30
        ref = ak.SphericalKMeans(3, random_state=2).fit(X)
        extra = ["--spherical"]
    elif mode == "batched":
        X = np.stack([_blobs(n=120, seed=s) for s in range(3)])
        ref = ak.BatchedKMeans(3, random_state=2).fit(X)
        extra = ["--batched"]
    else:
        X = _blobs(n=3000)
        ref = ak.MiniBatchKMeans(3, batch_size=256, random_state=2, n_init="auto")
        ref.fit(X)
        extra = ["--minibatch", "--batch-size", "256"]
    path = tmp_path / "data.npy"
    np.save(path, X)
    labels = tmp_path / "labels.npy"
    code, out, _ = _run(
        capsys, "fit", path, "-k", 3, "--seed", 2, "--out-labels", labels,
        "--json", *extra,
    )  # fmt: skip
    assert code == 0
    np.testing.assert_array_equal(np.load(labels), ref.labels_)
    assert json.loads(out)["estimator"] == type(ref).__name__


def test_report_and_inertia_history(tmp_path, capsys):
    """The report's inertia per iteration is that of each iteration's
    centres (verbose prints the same numbers) and ends at the fit's."""
    X = _blobs(n=2000, d=3, k=5, seed=3)
    path = tmp_path / "data.npy"
    np.save(path, X)
    report = tmp_path / "report.json"
    code, _, _ = _run(
        capsys, "fit", path, "-k", 5, "--seed", 0, "--tol", 0, "--init", "random",
        "--n-init", 1, "--report", report, "--quiet",
    )  # fmt: skip
    assert code == 0
    got = json.loads(report.read_text())
    ak.KMeans(5, random_state=0, tol=0, init="random", n_init=1, verbose=1).fit(X)
    printed = [
        float(line.split("inertia ")[1].rstrip("."))
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("Iteration")
    ]
    assert got["inertia_history"] == pytest.approx(printed, rel=1e-12)
    history = got["inertia_history"]
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(history))
    md = tmp_path / "report.md"
    assert _run(capsys, "fit", path, "-k", 5, "--report", md, "--quiet")[0] == 0
    assert "| cluster | size |" in md.read_text()


@pytest.mark.parametrize("d", [2, 7])
def test_plot_is_a_picture(tmp_path, capsys, d):
    """A PNG of the expected size whose pixels are not all one colour."""
    pytest.importorskip("matplotlib")
    X = _blobs(n=1500, d=d, k=4)
    path = tmp_path / "data.npy"
    np.save(path, X)
    png = tmp_path / "clusters.png"
    code, _, _ = _run(capsys, "fit", path, "-k", 4, "--plot", png, "--quiet")
    assert code == 0
    import matplotlib.image

    image = matplotlib.image.imread(png)
    assert image.shape[:2] == (500, 1200)
    flat = image.reshape(-1, image.shape[-1])
    assert len(np.unique(flat[:, :3], axis=0)) > 20


def test_principal_axes_on_every_backend(backend):
    """The plot's projection, in the data's own library, against NumPy's SVD."""
    from arraykmeans._plot import principal_axes

    rng = np.random.RandomState(0)
    X = rng.randn(300, 5) @ rng.randn(5, 5)
    mean, axes = principal_axes(backend.asarray(X))
    assert isinstance(axes, np.ndarray)
    _, _, vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    ref = vt[:2].T * np.sign(vt[:2].T[np.abs(vt[:2].T).argmax(axis=0), [0, 1]])
    tol = 1e-8 if backend.dtype_name == "float64" else 1e-3
    np.testing.assert_allclose(axes, ref, atol=tol)
    np.testing.assert_allclose(mean, X.mean(axis=0), atol=tol)


def test_progress_bar_shows_runs_and_inertia(tmp_path, capsys, monkeypatch):
    X = _blobs()
    path = tmp_path / "data.npy"
    np.save(path, X)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, out, err = _run(capsys, "fit", path, "-k", 3, "--n-init", 2, "--seed", 0)
    assert code == 0
    assert "run 1/2: initialising" in err
    assert "run 2/2:" in err
    assert "inertia" in err
    assert "KMeans: 600 rows x 2 features" in out


def test_entry_points_run_in_a_fresh_interpreter(tmp_path):
    """``python -m arraykmeans`` and the ``arraykmeans`` script of this
    environment: help, and a fit whose JSON summary is KMeans'."""
    X = _blobs()
    path = tmp_path / "data.npy"
    np.save(path, X)
    out = subprocess.run(
        [sys.executable, "-m", "arraykmeans", "fit", str(path), "-k", "3",
         "--seed", "0", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ref = ak.KMeans(3, random_state=0).fit(X)
    assert json.loads(out)["inertia"] == pytest.approx(ref.inertia_, rel=1e-12)
    script = Path(sys.executable).with_name("arraykmeans")
    assert script.exists(), f"{script}: the console script is not installed"
    helped = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=True
    )
    assert "fit" in helped.stdout
    assert "predict" in helped.stdout
    assert "bench" in helped.stdout


def test_bench_compares_with_scikit_learn(capsys):
    pytest.importorskip("sklearn")
    code, out, _ = _run(
        capsys, "bench", "--n-samples", 3000, "--n-features", 4, "-k", 5,
        "--repeats", 1, "--json",
    )  # fmt: skip
    assert code == 0
    found = json.loads(out)["results"]
    assert set(found) == {"arraykmeans", "scikit-learn"}
    # The same data and initial centres: the same inertia.
    assert found["arraykmeans"]["inertia"] == pytest.approx(
        found["scikit-learn"]["inertia"], rel=1e-6
    )
