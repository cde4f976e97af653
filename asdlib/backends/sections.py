"""One backend per section (and optionally per domain), as DCASE systems fit them."""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from asdlib.backends._base import BaseBackend, check_domains, check_embeddings, check_labels
from asdlib.backends.clusters import KMeansCosineBackend


def _key(value: Any) -> Hashable:
    return value.item() if isinstance(value, np.generic) else value


class PerSection(BaseEstimator):
    """Fit one ``sklearn.base.clone`` of ``backend`` per section; score each clip with
    its section's model. Scores are the backend's (higher = more anomalous).

    Sections are any hashable labels (ints, ``"00"``, ``"fan_00"``...), given per
    row. Pass one machine type's embeddings, or make the labels unique across
    types. The training rows' ``domains`` are handed to each section's model (so
    :class:`KMeansCosineBackend` gets its target embeddings).

    ``per_domain=True`` fits one model per (section, domain) and then needs the
    test clips' domains at scoring; the default (one model per section, scoring
    without domains) is the domain-generalisation setting of DCASE 2022+.

    ``models_`` maps a section (or ``(section, domain)``) to its fitted model.

    Args:
        backend: the backend to clone (default :class:`KMeansCosineBackend`).
        per_domain: one model per (section, domain) instead of per section.
    """

    def __init__(self, backend: BaseBackend | None = None, per_domain: bool = False) -> None:
        self.backend = backend
        self.per_domain = per_domain

    def _keys(self, sections: np.ndarray, domains: np.ndarray | None) -> list[Hashable]:
        if not self.per_domain:
            return [_key(s) for s in sections]
        if domains is None:
            raise ValueError("PerSection(per_domain=True) needs domains ('source'/'target' per row)")
        return [(_key(s), str(d)) for s, d in zip(sections, domains)]

    def fit(self, X: Any, sections: Any, domains: Any = None) -> "PerSection":
        """Fit one model per section on normal training embeddings ``X`` (n, d)."""
        X = check_embeddings(X, "X")
        sections = check_labels(sections, X.shape[0], "sections")
        domains = check_domains(domains, X.shape[0])
        keys = self._keys(sections, domains)
        backend = KMeansCosineBackend() if self.backend is None else self.backend
        models = {}
        for key in dict.fromkeys(keys):  # first-seen order
            rows = np.fromiter((k == key for k in keys), bool, len(keys))
            models[key] = clone(backend).fit(X[rows], None if domains is None else domains[rows])
        self.models_ = models
        self.n_features_in_ = X.shape[1]
        return self

    def score_samples(self, X: Any, sections: Any, domains: Any = None) -> np.ndarray:
        """Anomaly scores (1-D float64, higher = more anomalous), each row by its section's model.

        Raises:
            ValueError: a section (or section and domain) never seen in training, or
                bad shapes/values.
        """
        check_is_fitted(self)
        X = check_embeddings(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features (shape {X.shape}), but PerSection was fitted "
                f"with {self.n_features_in_} features"
            )
        sections = check_labels(sections, X.shape[0], "sections")
        domains = check_domains(domains, X.shape[0])
        keys = self._keys(sections, domains)
        unseen = [k for k in dict.fromkeys(keys) if k not in self.models_]
        if unseen:
            what = "(section, domain) pair(s)" if self.per_domain else "section(s)"
            raise ValueError(
                f"{what} {unseen} not seen in training; fitted: {list(self.models_)}"
            )
        scores = np.empty(X.shape[0], dtype=np.float64)
        for key in dict.fromkeys(keys):
            rows = np.fromiter((k == key for k in keys), bool, len(keys))
            scores[rows] = self.models_[key].score_samples(X[rows])
        return scores
