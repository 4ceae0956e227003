"""The typed example runs (``mypy --strict`` checks it in the test session),
and the public types describe what the estimators really return."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np

import arraykmeans as ak
from arraykmeans.typing import Array, ArrayLike, SampleWeight

EXAMPLE = Path(__file__).parents[1] / "examples" / "typed_usage.py"


def test_typed_example_runs():
    example = runpy.run_path(str(EXAMPLE))
    rng = np.random.default_rng(1)
    centres, inertia = example["cluster"](rng.normal(size=(200, 2)), 3)
    assert centres.shape == (3, 2)
    assert isinstance(inertia, float)
    chunks = [rng.normal(size=(100, 2)).astype(np.float32) for _ in range(2)]
    assert example["stream"](chunks, 2) > 0


def test_results_have_the_array_protocol_members():
    X = np.random.default_rng(0).normal(size=(50, 3))
    km = ak.KMeans(2, random_state=0).fit(X)
    for result in (km.cluster_centers_, km.labels_, km.predict(X), km.transform(X)):
        assert isinstance(result.shape, tuple)
        assert result.dtype is not None
    assert "Array" in str(ArrayLike)
    assert "float" in str(SampleWeight)
    assert Array.__doc__
