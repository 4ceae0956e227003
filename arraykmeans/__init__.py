"""arraykmeans: K-means written once against the Python Array API standard.

The same call clusters NumPy arrays on the CPU, CuPy arrays on a GPU and any
other array library that follows the standard, returning results in the
caller's library, on the caller's device, in the caller's dtype. The API is
scikit-learn's: ``KMeans``, ``k_means`` and ``kmeans_plusplus``, plus
``BatchedKMeans`` for stacks of problems, ``MiniBatchKMeans`` for large or
streamed data and ``SphericalKMeans`` for clustering by angle; ``KMeansParallel`` holds the options of ``init="k-means||"``.

The package has three layers: :mod:`arraykmeans.estimators` (the public
classes and functions), :mod:`arraykmeans.algorithm` (initialisation, Lloyd's
loop, relocation, the centring frame, written once) and
:mod:`arraykmeans.backends` (the operations each array library provides).
"""

from ._config import config_context, get_config, set_config
from ._exceptions import ArrayMismatchError, ConvergenceWarning, NotFittedError
from .algorithm._seeds import batch_seeds
from .estimators import (
    BatchedKMeans,
    KMeans,
    KMeansParallel,
    MiniBatchKMeans,
    SphericalKMeans,
    batched_k_means,
    k_means,
    kmeans_plusplus,
)

__version__ = "0.1.0"

__all__ = [
    "ArrayMismatchError",
    "BatchedKMeans",
    "ConvergenceWarning",
    "KMeans",
    "KMeansParallel",
    "MiniBatchKMeans",
    "NotFittedError",
    "SphericalKMeans",
    "__version__",
    "batch_seeds",
    "batched_k_means",
    "config_context",
    "get_config",
    "k_means",
    "kmeans_plusplus",
    "set_config",
]
