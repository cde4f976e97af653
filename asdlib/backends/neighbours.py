"""Nearest-neighbour backends: mean k-NN distance and the local outlier factor."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors

from asdlib.backends._base import BaseBackend, capped

_METRICS = ("cosine", "euclidean")


def _check_metric(metric: str, owner: str) -> None:
    if metric not in _METRICS:
        raise ValueError(f"{owner}: metric must be one of {list(_METRICS)}; got {metric!r}")


class KNNBackend(BaseBackend):
    """Score = mean distance to the ``k`` nearest training embeddings.

    ``metric="cosine"`` uses the cosine distance ``1 - cos(x, y)`` (in [0, 2]),
    ``"euclidean"`` the Euclidean distance. Domains are ignored. Scoring a training
    embedding counts the embedding itself (distance 0): there is no self-exclusion.
    If ``k`` exceeds the number of training samples it is capped, with a
    :class:`~asdlib.backends.SmallSampleWarning`; the value used is ``n_neighbors_``.

    Args:
        k: number of neighbours (>= 1).
        metric: ``"cosine"`` or ``"euclidean"``.
    """

    def __init__(self, k: int = 1, metric: str = "cosine") -> None:
        self.k = k
        self.metric = metric

    def _fit(self, X: np.ndarray, domains: np.ndarray | None) -> None:
        _check_metric(self.metric, "KNNBackend")
        if int(self.k) < 1:
            raise ValueError(f"KNNBackend: k must be >= 1; got {self.k!r}")
        self.n_neighbors_ = capped(int(self.k), X.shape[0], "k", "KNNBackend")
        self.nn_ = NearestNeighbors(n_neighbors=self.n_neighbors_, metric=self.metric).fit(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        dist, _ = self.nn_.kneighbors(X)
        return np.maximum(dist, 0.0).mean(axis=1)  # cosine can round to -1e-16


class LOFBackend(BaseBackend):
    """Score = local outlier factor, ``-LocalOutlierFactor(novelty=True).score_samples(X)``.

    About 1 for inliers, larger for outliers (Breunig et al., 2000). Domains are
    ignored. ``n_neighbors`` above ``n_samples - 1`` is capped there, with a
    :class:`~asdlib.backends.SmallSampleWarning` (as :class:`KNNBackend` does); the
    value used is ``n_neighbors_``. At least 2 training samples are needed.

    Args:
        n_neighbors: neighbourhood size.
        metric: ``"cosine"`` or ``"euclidean"``.
    """

    def __init__(self, n_neighbors: int = 20, metric: str = "cosine") -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric

    def _fit(self, X: np.ndarray, domains: np.ndarray | None) -> None:
        _check_metric(self.metric, "LOFBackend")
        if X.shape[0] < 2:
            raise ValueError(f"LOFBackend needs at least 2 training samples; X has shape {X.shape}")
        if int(self.n_neighbors) < 1:
            raise ValueError(f"LOFBackend: n_neighbors must be >= 1; got {self.n_neighbors!r}")
        self.n_neighbors_ = capped(int(self.n_neighbors), X.shape[0] - 1, "n_neighbors", "LOFBackend")
        self.lof_ = LocalOutlierFactor(n_neighbors=self.n_neighbors_, metric=self.metric, novelty=True).fit(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return -self.lof_.score_samples(X)
