"""The public estimators and functions (scikit-learn's names and conventions)."""

from ._batched import BatchedKMeans, batched_k_means
from ._kmeans import KMeans, k_means, kmeans_plusplus

__all__ = ["BatchedKMeans", "KMeans", "batched_k_means", "k_means", "kmeans_plusplus"]
