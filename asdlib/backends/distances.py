"""Single-reference distance backends: cosine to the mean, Mahalanobis to the mean."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.covariance import EmpiricalCovariance, LedoitWolf, ShrunkCovariance

from asdlib.backends._base import BaseBackend, l2_normalize

DEGENERATE_VARIANCE = 1e-12
"""MahalanobisBackend: training embeddings whose total variance is at most this fraction of
their mean squared norm (float32 rounding noise, identical clips) count as degenerate."""


class CosineMeanBackend(BaseBackend):
    """Score = cosine distance ``1 - cos(x, m)`` to the mean ``m`` of the L2-normalised
    training embeddings (in [0, 2]). Domains are ignored.

    Raises ``ValueError`` at fit if the normalised embeddings average to the zero
    vector (no mean direction).
    """

    def _fit(self, X: np.ndarray, domains: np.ndarray | None) -> None:
        mean = l2_normalize(X).mean(axis=0)
        norm = float(np.linalg.norm(mean))
        if norm < 1e-12:
            raise ValueError(
                f"CosineMeanBackend: the L2-normalised rows of X (shape {X.shape}) average to "
                "the zero vector, so there is no mean direction"
            )
        self.mean_direction_ = mean / norm

    def _score(self, X: np.ndarray) -> np.ndarray:
        return 1.0 - l2_normalize(X) @ self.mean_direction_


class MahalanobisBackend(BaseBackend):
    """Score = Mahalanobis distance ``sqrt((x - mu)^T S^-1 (x - mu))`` to the training
    mean ``mu`` (NOT squared unless ``squared=True``). Domains are ignored.

    ``S`` is scikit-learn's covariance estimate: ``shrinkage=None`` ->
    :class:`~sklearn.covariance.EmpiricalCovariance` (maximum likelihood, divides by
    n; singular estimates are pseudo-inverted), ``"ledoit_wolf"`` ->
    :class:`~sklearn.covariance.LedoitWolf`, a float in [0, 1] ->
    :class:`~sklearn.covariance.ShrunkCovariance` with that shrinkage. Prefer
    shrinkage when there are fewer samples than dimensions (e.g. 10 target clips).

    Degenerate training data (total variance at most :data:`DEGENERATE_VARIANCE` times
    the mean squared norm, e.g. identical clips) has no usable covariance: every
    Mahalanobis distance would be 0. ``fit`` then warns and the score is the
    Euclidean distance to the mean (squared with ``squared=True``). Scores are
    always finite.

    Args:
        shrinkage: None, ``"ledoit_wolf"`` or a float in [0, 1].
        squared: return the squared distance (scikit-learn's ``mahalanobis``) instead.
    """

    def __init__(self, shrinkage: None | str | float = None, squared: bool = False) -> None:
        self.shrinkage = shrinkage
        self.squared = squared

    def _estimator(self) -> EmpiricalCovariance:
        s = self.shrinkage
        if s is None:
            return EmpiricalCovariance()
        if isinstance(s, str):
            if s == "ledoit_wolf":
                return LedoitWolf()
        elif isinstance(s, (int, float)) and not isinstance(s, bool) and 0.0 <= float(s) <= 1.0:
            return ShrunkCovariance(shrinkage=float(s))
        raise ValueError(
            f"MahalanobisBackend: shrinkage must be None, 'ledoit_wolf' or a float in [0, 1]; got {s!r}"
        )

    def _fit(self, X: np.ndarray, domains: np.ndarray | None) -> None:
        self.mean_ = X.mean(axis=0)
        total_var = float(X.var(axis=0).sum())
        mean_sq_norm = float(np.mean(np.sum(X * X, axis=1)))
        self.degenerate_ = total_var <= DEGENERATE_VARIANCE * mean_sq_norm
        if self.degenerate_:
            warnings.warn(
                f"MahalanobisBackend: the {X.shape[0]} training embeddings (dimension {X.shape[1]}) have "
                f"zero or near-zero variance (total {total_var:.3g}, mean squared norm {mean_sq_norm:.3g}; "
                "identical training clips?), so their covariance is degenerate and every Mahalanobis "
                "distance would be 0; scoring by the Euclidean distance to their mean instead",
                stacklevel=3,
            )
        self.covariance_estimator_ = self._estimator().fit(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        if self.degenerate_:
            d2 = np.sum((X - self.mean_) ** 2, axis=1)
        else:
            d2 = self.covariance_estimator_.mahalanobis(X)
        d2 = np.maximum(np.nan_to_num(d2, nan=np.inf), 0.0)
        d2 = np.minimum(d2, np.finfo(np.float64).max)  # finite, even where the inverse overflows
        return d2 if self.squared else np.sqrt(d2)
