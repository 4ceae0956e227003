"""The ``progress`` setting: a fit's events, on every backend, results unchanged."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import arraykmeans as ak


def _blobs(seed, n=400, d=3, k=4):
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-6, 6, (k, d))
    return centres[rng.randint(0, k, n)] + rng.randn(n, d)


def test_events_of_a_fit_on_every_backend(backend):
    """Each run: "init", one "iteration" per iteration (the inertia of the
    centres assigned to, never rising), "run" with its iterations; the best
    run's inertia is inertia_, and the fit is the one made without it. Three
    data sets (1 to 3 runs); one (2 runs) on JAX and Dask, which compile or
    build graphs for each."""
    slow = backend.name.startswith(("jax", "dask"))
    for seed in (1,) if slow else range(3):
        _check_events(backend, seed)


def _check_events(backend, seed):
    X = backend.asarray(_blobs(seed))
    events = []
    n_init = 1 + seed
    with ak.config_context(progress=lambda event, info: events.append((event, info))):
        km = ak.KMeans(4, n_init=n_init, random_state=seed, tol=0).fit(X)
    plain = ak.KMeans(4, n_init=n_init, random_state=seed, tol=0).fit(X)
    np.testing.assert_array_equal(
        backend.to_numpy(km.labels_), backend.to_numpy(plain.labels_)
    )
    assert [e for e, _ in events if e != "iteration"] == ["init", "run"] * n_init
    runs, current = [], None
    for event, info in events:
        if event == "init":
            current = []
        elif event == "iteration":
            assert info["iteration"] == len(current)
            current.append(info["inertia"])
        else:
            assert info["n_iter"] >= len(current) - 1
            runs.append((info["inertia"], current))
    for final, history in runs:
        assert all(b <= a * (1 + 1e-6) for a, b in itertools.pairwise(history))
        assert final <= history[-1] * (1 + 1e-6)
    assert min(f for f, _ in runs) == pytest.approx(km.inertia_, rel=1e-6)


def test_minibatch_steps_and_settings():
    X = _blobs(0, n=3000)
    steps = []
    with ak.config_context(progress=lambda event, info: steps.append(info)):
        km = ak.MiniBatchKMeans(4, batch_size=100, random_state=0).fit(X)
    assert [s["step"] for s in steps] == list(range(1, km.n_steps_ + 1))
    assert all(s["n_steps"] == steps[0]["n_steps"] for s in steps)
    assert all(np.isfinite(s["inertia"]) for s in steps)
    with pytest.raises(TypeError, match="progress must be a callable or None"):
        ak.set_config(progress=3)
    with ak.config_context(progress=print):
        assert ak.get_config()["progress"] is print
        ak.set_config(progress=None)
        assert ak.get_config()["progress"] is None
