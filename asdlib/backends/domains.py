"""Domain handling for a backend: the four rows of Wilkinghoff's Table 6 (paper 003).

``mode="joint"``  one model on all training embeddings (Wilkinghoff's choice);
``mode="source"`` one model on the source-domain training embeddings only;
``mode="target"`` one model on the target-domain training embeddings only;
``mode="sum"``    a source model and a target model, scores added.

Scoring never needs the test clip's domain (domain generalisation: one score, one
threshold for both domains; DCASE 2022 eval test files carry no domain).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import KFold

from asdlib.backends._base import DOMAINS, BaseBackend, SmallSampleWarning
from asdlib.backends.clusters import KMeansCosineBackend

MODES = ("joint", "source", "target", "sum")


class DomainBackend(BaseBackend):
    """Fit ``base`` jointly, per domain, or as a sum of two domain models (paper 003, Table 6).

    Each model is a ``sklearn.base.clone`` of ``base`` fitted on the chosen rows,
    with those rows' domains passed on (so :class:`KMeansCosineBackend` fitted on
    target rows only uses the target embeddings as its reference set, exactly the
    paper's "target domain model").

    ``mode="sum"``: summing the raw scores of two separately fitted models mixes
    their scales (e.g. a GMM fitted on 990 source clips and one fitted on 10 target
    clips give log-likelihoods on unrelated scales). Paper 003 finds the sum
    clearly below the joint model and credits the cosine backend's edge to scores
    "scaled more consistently among both domains".
    The default ``standardize=False`` is the paper's plain sum, to reproduce
    Table 6. ``standardize=True`` z-scores each model's score by the mean and
    standard deviation of its **out-of-fold** scores on its own domain's training
    embeddings (``cv``-fold, leave-one-out when the domain has <= ``cv`` clips):
    these estimate how held-out normal clips of that domain score. In-sample
    training scores are not used because memorising models make them degenerate
    (k-NN with k=1, the target reference set of :class:`KMeansCosineBackend`, a
    GMM with one component per clip all score their own training clips ~0, std 0).
    ``offsets_`` and ``scales_`` hold the statistics per model (0 and 1 when not
    standardising); ``standardize`` is ignored for the other modes, where an affine
    map of one model's score changes no ranking.

    Args:
        base: the backend to clone (default :class:`KMeansCosineBackend`).
        mode: ``"joint"``, ``"source"``, ``"target"`` or ``"sum"``.
        standardize: z-score each model before summing (``mode="sum"`` only).
        cv: folds for the out-of-fold statistics (>= 2).
    """

    def __init__(
        self,
        base: BaseBackend | None = None,
        mode: str = "joint",
        standardize: bool = False,
        cv: int = 5,
    ) -> None:
        self.base = base
        self.mode = mode
        self.standardize = standardize
        self.cv = cv

    def _fit(self, X: np.ndarray, domains: np.ndarray | None) -> None:
        if self.mode not in MODES:
            raise ValueError(f"DomainBackend: mode must be one of {list(MODES)}; got {self.mode!r}")
        base = KMeansCosineBackend() if self.base is None else self.base
        if self.mode == "joint":
            self.models_ = {"joint": clone(base).fit(X, domains)}
        else:
            if domains is None:
                raise ValueError(f"DomainBackend(mode={self.mode!r}) needs domains ('source'/'target' per row)")
            self.models_ = {}
            for d in DOMAINS if self.mode == "sum" else (self.mode,):
                rows = domains == d
                if not rows.any():
                    raise ValueError(f"DomainBackend(mode={self.mode!r}): domains has no {d!r} training samples")
                self.models_[d] = clone(base).fit(X[rows], domains[rows])
        self.offsets_ = {name: 0.0 for name in self.models_}
        self.scales_ = {name: 1.0 for name in self.models_}
        if self.mode == "sum" and self.standardize:
            for d in DOMAINS:
                rows = domains == d
                oof = _out_of_fold_scores(base, X[rows], domains[rows], int(self.cv), d)
                self.offsets_[d], self.scales_[d] = _mean_std(oof, d)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return sum(
            (model.score_samples(X) - self.offsets_[name]) / self.scales_[name]
            for name, model in self.models_.items()
        )


def _out_of_fold_scores(base: BaseBackend, X: np.ndarray, domains: np.ndarray, cv: int, name: str) -> np.ndarray:
    """Score every row of ``X`` with a clone of ``base`` fitted on the other folds."""
    if cv < 2:
        raise ValueError(f"DomainBackend: cv must be >= 2; got {cv}")
    if len(X) < 2:
        raise ValueError(f"DomainBackend(standardize=True) needs >= 2 {name!r} training samples; got {len(X)}")
    scores = np.empty(len(X))
    folds = KFold(n_splits=min(cv, len(X)), shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)  # expected for small folds
        for train, held_out in folds.split(X):
            scores[held_out] = clone(base).fit(X[train], domains[train]).score_samples(X[held_out])
    return scores


def _mean_std(scores: np.ndarray, name: str) -> tuple[float, float]:
    mean, std = float(np.mean(scores)), float(np.std(scores))
    if not std > 1e-12 * max(1.0, abs(mean)):
        warnings.warn(
            f"DomainBackend: out-of-fold scores of the {name!r} model are constant; not rescaling it",
            RuntimeWarning,
            stacklevel=3,
        )
        std = 1.0
    return mean, std
