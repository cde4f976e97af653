"""Shared glue for the backends: input checks, L2 normalisation and the base class.

Every backend is a scikit-learn estimator with ``fit(X, domains=None)`` (returns
``self``) and ``score_samples(X)`` returning a 1-D float64 array of anomaly scores,
**higher = more anomalous**. ``X`` is a NumPy array or a torch tensor of shape
``(n_samples, n_features)``; tensors are detached and copied to the CPU.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

DOMAINS = ("source", "target")


class SmallSampleWarning(UserWarning):
    """A model asked for more clusters, components or neighbours than there are samples."""


def to_numpy(x: Any) -> np.ndarray:
    """``x`` as a NumPy array; torch tensors (any device, any float dtype) are detached first.

    Duck-typed on ``.detach()`` so this module does not import torch.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        t = x.detach().cpu()
        if t.is_floating_point():
            t = t.double()  # bf16/fp16 have no NumPy dtype
        return t.numpy()
    return np.asarray(x)


def check_embeddings(X: Any, name: str = "X") -> np.ndarray:
    """Validate embeddings: a non-empty, finite 2-D float array, returned as float64.

    Raises:
        ValueError: naming ``name`` and the shape when ``X`` is not 2-D, has no rows or
            no columns, is not numeric, or holds NaN or infinite values.
    """
    arr = to_numpy(X)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}; need at least one sample and one feature")
    try:
        arr = arr.astype(np.float64, copy=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}") from err
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr).all(axis=1)))
        raise ValueError(f"{name} (shape {arr.shape}) contains NaN or infinite values in {bad} row(s)")
    return arr


def check_labels(labels: Any, n: int, name: str) -> np.ndarray:
    """``labels`` as a 1-D array of length ``n`` (ValueError naming ``name`` otherwise)."""
    arr = to_numpy(labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with one entry per sample ({n}); got shape {arr.shape}")
    return arr


def check_domains(domains: Any, n: int) -> np.ndarray | None:
    """``domains`` as a 1-D array of ``'source'``/``'target'`` strings (lower-cased), or None.

    Raises:
        ValueError: wrong length, or a value other than ``'source'``/``'target'``.
    """
    if domains is None:
        return None
    arr = check_labels(domains, n, "domains")
    arr = np.char.lower(arr.astype(str))
    bad = sorted(set(arr.tolist()) - set(DOMAINS))
    if bad:
        raise ValueError(f"domains must be 'source' or 'target'; got {bad}")
    return arr


def l2_normalize(X: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``X`` divided by their L2 norm (an all-zero row stays zero)."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, eps)


def capped(requested: int, n_samples: int, what: str, owner: str) -> int:
    """``min(requested, n_samples)``, warning with :class:`SmallSampleWarning` when capped."""
    if requested > n_samples:
        warnings.warn(
            f"{owner}: {what}={requested} but only {n_samples} training sample(s); "
            f"using {what}={n_samples}",
            SmallSampleWarning,
            stacklevel=3,
        )
        return n_samples
    return requested


class BaseBackend(BaseEstimator):
    """Base class: validates input, records ``n_features_in_``, checks fitted state and dims.

    Subclasses implement ``_fit(X, domains)`` (``X`` float64 2-D, ``domains`` a string
    array or None) and ``_score(X)`` (returns anomaly scores, higher = more anomalous).
    """

    def fit(self, X: Any, domains: Any = None) -> "BaseBackend":
        """Fit on normal training embeddings ``X`` (n, d); ``domains``: 'source'/'target' per row."""
        X = check_embeddings(X, "X")
        dom = check_domains(domains, X.shape[0])
        self._fit(X, dom)
        self.n_features_in_ = X.shape[1]
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        """Anomaly scores of ``X`` (n, d) as a 1-D float64 array; higher = more anomalous."""
        check_is_fitted(self)
        X = check_embeddings(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features (shape {X.shape}), but {type(self).__name__} "
                f"was fitted with {self.n_features_in_} features"
            )
        return np.asarray(self._score(X), dtype=np.float64).reshape(-1)

    def _fit(self, X: np.ndarray, domains: np.ndarray | None) -> None:  # pragma: no cover
        raise NotImplementedError

    def _score(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError
