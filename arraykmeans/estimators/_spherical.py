"""Spherical K-means: clustering by angle (cosine similarity).

:class:`SphericalKMeans` is :class:`KMeans` on the rows of X scaled to unit
length, with every centre scaled back to unit length after each update: the
centres are mean directions and each row goes to the centre of the largest
cosine similarity. For unit vectors ``‖x - c‖² = 2 (1 - x·c)``, so the
nearest centre by distance is the most similar by angle, and the algorithm is
Lloyd's with one more step: the initialisation (k-means++, k-means||,
random rows), the relocation of empty clusters (to the rows least similar to
their centre), the stopping rules and the backends are those of KMeans.
"""

from __future__ import annotations

from typing import Any

from ..algorithm._frame import Frame
from ..backends import StandardBackend, device_of
from ._kmeans import KMeans

Array = Any


def unit_rows(be: StandardBackend, X: Array, name: str, amax: float) -> Array:
    """The rows of X scaled to unit Euclidean length (in X's dtype). ``amax``,
    X's largest magnitude, is divided out first, so that the squared norms
    neither overflow nor underflow. A row of zeros has no direction: an
    error naming it."""
    xp = be.xp
    if amax > 0 and amax != 1.0:
        X = X * (1.0 / amax)
    norms = xp.sqrt(xp.sum(X * X, axis=-1))
    zero = be.to_host(norms == 0)
    if zero.any():
        where = [int(i) for i in zero.nonzero()[0][:5]]
        raise ValueError(
            f"{name} has {int(zero.sum())} row(s) of zeros (first: {where}): a "
            "zero vector has no direction for SphericalKMeans; drop those rows."
        )
    return X / norms[..., None]


class SphericalKMeans(KMeans):
    """K-means by angle: rows and centres on the unit sphere, cosine similarity.

    The parameters, methods and attributes are :class:`KMeans`' (and it runs
    on the same array libraries and devices), with these meanings:

    - ``fit`` clusters the rows of X scaled to unit length (X itself is not
      changed); a row of zeros is an error. ``cluster_centers_`` are unit
      vectors: the normalised weighted sums of their clusters' unit rows.
    - ``predict`` gives each row the centre of the largest cosine similarity.
    - ``inertia_`` is ``Σ w (1 - cos(x, c))`` over the rows and their centres
      (half the squared distances between the unit vectors); ``score`` is its
      opposite on other data, and ``transform`` gives the cosine distances
      ``1 - cos(x, c)`` to every centre, in [0, 2].
    - ``tol`` is relative to the mean variance of the unit rows; an array
      ``init`` is scaled to unit rows too.

    Not a scikit-learn estimator (scikit-learn has no spherical K-means), so
    its results are compared with a reference written for the tests, not
    with scikit-learn's.

    Examples
    --------
    >>> import numpy as np
    >>> from arraykmeans import SphericalKMeans
    >>> X = np.array([[1.0, 0.1], [3.0, 0.2], [0.1, 1.0], [0.2, 5.0]])
    >>> skm = SphericalKMeans(n_clusters=2, random_state=0).fit(X)
    >>> skm.predict([[10.0, 0.0]]) == skm.predict([[1.0, 0.05]])
    array([ True])
    """

    def _fitted_rows(self, be: StandardBackend, X: Array, amax: float) -> Any:
        return unit_rows(be, X, "X", amax), 1.0

    def _frame_of(self, be: StandardBackend, X: Array, amax: float) -> Any:
        # Not centred: centring would change the angles.
        xp = be.xp
        mean = xp.zeros((X.shape[1],), dtype=X.dtype, device=device_of(X))
        return X, Frame(mean=mean, scale=1.0), xp.var(X, axis=0)

    def _projection(self, be: StandardBackend) -> Any:
        xp = be.xp

        def onto_sphere(centers: Array) -> Array:
            norms = xp.sqrt(xp.sum(centers * centers, axis=1))
            # Rows that cancel exactly leave a zero sum, which has no
            # direction: it stays at zero for this iteration.
            ones = xp.ones_like(norms)
            return centers / xp.where(norms > 0, norms, ones)[:, None]

        return onto_sphere

    def _inertia_of(self, frame: Frame, inertia: float) -> float:
        return 0.5 * float(inertia)

    def _checked_init(self, be: StandardBackend, X: Array) -> tuple[Any, int]:
        init, n_init = super()._checked_init(be, X)
        if hasattr(init, "shape"):
            init = unit_rows(be, init, "init", 0.0)
        return init, n_init

    def _check_test_data(self, X: Any, method: str) -> tuple[Array, StandardBackend]:
        X, be = super()._check_test_data(X, method)
        low, high = be.extremes(X)
        return unit_rows(be, X, "X", max(abs(low), abs(high))), be

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of ``Σ w (1 - cos(x, c))`` of X under the fitted centres."""
        return 0.5 * super().score(X, sample_weight=sample_weight)

    def transform(self, X: Any) -> Array:
        """Cosine distances ``1 - cos(x, c)`` of every row of X to every centre,
        shape (n_samples, n_clusters), in [0, 2]."""
        distances = super().transform(X)
        return distances * distances * 0.5
