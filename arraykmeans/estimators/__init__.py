"""The public estimators and functions (scikit-learn's names and conventions)."""

from ..algorithm._init import KMeansParallel
from ._batched import BatchedKMeans, batched_k_means
from ._kmeans import KMeans, k_means, kmeans_plusplus
from ._minibatch import MiniBatchKMeans
from ._spherical import SphericalKMeans

__all__ = [
    "BatchedKMeans",
    "KMeans",
    "KMeansParallel",
    "MiniBatchKMeans",
    "SphericalKMeans",
    "batched_k_means",
    "k_means",
    "kmeans_plusplus",
]
