"""Backends: fit on normal training embeddings, score test embeddings (scikit-learn style).

Every backend has ``fit(X, domains=None)`` (returns ``self``) and
``score_samples(X)`` -> 1-D float64 anomaly scores, **higher = more anomalous**.
``X``: NumPy array or torch tensor, shape ``(n_samples, n_features)``;
``domains``: ``'source'``/``'target'`` per row (only :class:`KMeansCosineBackend`
and :class:`DomainBackend` use it). Bad input raises ``ValueError`` naming the
parameter and shape; scoring before fitting raises scikit-learn's ``NotFittedError``.

==========================  ================================================
``KNNBackend``              mean distance to the k nearest training embeddings
``LOFBackend``              local outlier factor (novelty mode)
``CosineMeanBackend``       cosine distance to the mean normalised embedding
``MahalanobisBackend``      Mahalanobis distance to the mean (optional shrinkage)
``KMeansCosineBackend``     Wilkinghoff: 1 - max cosine to k-means centres + target clips
``GMMBackend``              negative log-likelihood under a Gaussian mixture
``DomainBackend``           joint / source / target / sum models (paper 003, Table 6)
``PerSection``              one clone of a backend per section (and domain)
``make_backend(name, ...)`` build one of the six by name
==========================  ================================================
"""

from __future__ import annotations

from typing import Any

from asdlib.backends._base import BaseBackend, SmallSampleWarning
from asdlib.backends.clusters import GMMBackend, KMeansCosineBackend
from asdlib.backends.distances import CosineMeanBackend, MahalanobisBackend
from asdlib.backends.domains import DomainBackend
from asdlib.backends.neighbours import KNNBackend, LOFBackend
from asdlib.backends.sections import PerSection

BACKENDS: dict[str, type[BaseBackend]] = {
    "knn": KNNBackend,
    "lof": LOFBackend,
    "cosine": CosineMeanBackend,
    "mahalanobis": MahalanobisBackend,
    "kmeans_cosine": KMeansCosineBackend,
    "gmm": GMMBackend,
}


def make_backend(name: str, **kwargs: Any) -> BaseBackend:
    """Build the backend called ``name`` (a key of :data:`BACKENDS`) with ``kwargs``.

    Raises:
        ValueError: unknown ``name``; the message lists the valid names.
    """
    try:
        cls = BACKENDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown backend {name!r}; valid names: {', '.join(sorted(BACKENDS))}") from None
    return cls(**kwargs)


__all__ = [
    "BACKENDS",
    "BaseBackend",
    "CosineMeanBackend",
    "DomainBackend",
    "GMMBackend",
    "KMeansCosineBackend",
    "KNNBackend",
    "LOFBackend",
    "MahalanobisBackend",
    "PerSection",
    "SmallSampleWarning",
    "make_backend",
]
