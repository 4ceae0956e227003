"""The public API as a type checker sees it: ``mypy --strict examples/typed_usage.py``.

Run by the test session. ``assert_type`` fails the check where a result is
typed ``Any`` (or anything else) instead of what is written here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

import arraykmeans as ak
from arraykmeans.typing import Array

if TYPE_CHECKING:
    from typing_extensions import assert_type
else:

    def assert_type(value: Any, _: Any) -> Any:
        return value


def cluster(X: npt.NDArray[np.float64], k: int) -> tuple[Array, float]:
    """Fit KMeans, label new rows, and return the centres and the inertia."""
    km = assert_type(ak.KMeans(k, random_state=0).fit(X), ak.KMeans)
    labels = assert_type(km.predict(X[:10]), Array)
    assert_type(km.transform(X), Array)
    assert_type(km.score(X), float)
    assert_type(km.n_iter_, int)
    print(labels.shape, km.set_output(transform="default").n_features_in_)
    return km.cluster_centers_, km.inertia_


def stream(chunks: list[npt.NDArray[np.float32]], k: int) -> int:
    """MiniBatchKMeans on chunks, SphericalKMeans and a stack of problems."""
    mb = ak.MiniBatchKMeans(k, random_state=0)
    for chunk in chunks:
        mb = assert_type(mb.partial_fit(chunk), ak.MiniBatchKMeans)
    sk = assert_type(ak.SphericalKMeans(k).fit(chunks[0]), ak.SphericalKMeans)
    stack = np.stack(chunks)
    centers, labels, inertia, n_iter = ak.batched_k_means(stack, k, random_state=0)
    for result in (centers, labels, inertia, n_iter):
        assert_type(result, Array)
    assert_type(ak.BatchedKMeans(k).fit(stack).inertia_, Array)
    return mb.n_steps_ + sk.n_iter_


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    data = rng.normal(size=(300, 3))
    print(cluster(data, 3))
    print(stream([rng.normal(size=(200, 3)).astype(np.float32) for _ in range(3)], 3))
