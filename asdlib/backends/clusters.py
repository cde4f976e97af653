"""Cluster backends: Wilkinghoff's k-means + target-sample cosine backend, and a GMM.

Wilkinghoff, "Design choices for learning embeddings from auxiliary tasks for domain
generalization in anomalous sound detection", ICASSP 2023 (paper 003), Sec. 2 and
Table 6 (GMM vs cosine distance).
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from asdlib.backends._base import BaseBackend, capped, l2_normalize


class KMeansCosineBackend(BaseBackend):
    """Wilkinghoff's backend (paper 003, Sec. 2; the ICASSP 2023 reference code).

    Fit: L2-normalise the embeddings; run k-means (scikit-learn ``KMeans``) with
    ``n_clusters`` on the **source** training embeddings; the reference set is the
    k-means centres plus **every target-domain** training embedding.
    Score: ``1 - max_r <x_hat, r>`` over that reference set, ``x_hat`` the
    L2-normalised test embedding, in [0, 2]; a test embedding equal to a target
    training embedding scores 0. The reference code returns ``-max <x_hat, r>``
    (the minimum of two ``-max`` terms, one per domain, which is the same): ours
    is that plus 1, so every ranking, AUC and pAUC is identical.

    As in the reference code the centres are the plain k-means means of unit
    vectors, **not** re-normalised (norm <= 1), so for a centre the similarity is
    ``|c| cos(x, c)``; ``normalize_centres=True`` makes it a true cosine.

    Which embeddings k-means sees: the paper's text says "all source samples"
    (``kmeans_on="source"``, the default); the reference ``main.py`` fits k-means
    on all of the section's training embeddings, the 10 target clips included
    (``kmeans_on="all"``, Wilkinghoff's ICASSP 2023 code). The target embeddings join the
    reference set either way.

    ``domains=None`` treats every sample as source (reference set = centres only).
    With no source samples (target-only fit, ``kmeans_on="source"``) the reference
    set is the target embeddings alone. Fewer k-means samples than ``n_clusters``:
    ``n_clusters_`` = that number, with a :class:`~asdlib.backends.SmallSampleWarning`.

    Args:
        n_clusters: k-means clusters (16 in the paper).
        random_state: k-means seed (0 in the reference code).
        n_init: k-means restarts; 10 was scikit-learn's default when the reference
            code was written (newer versions default to ``"auto"``, i.e. 1).
        kmeans_on: ``"source"`` (paper text) or ``"all"`` (reference code).
        normalize_centres: L2-normalise the centres before the dot product.
    """

    def __init__(
        self,
        n_clusters: int = 16,
        random_state: int | None = 0,
        n_init: int | str = 10,
        kmeans_on: str = "source",
        normalize_centres: bool = False,
    ) -> None:
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.n_init = n_init
        self.kmeans_on = kmeans_on
        self.normalize_centres = normalize_centres

    def _fit(self, X: np.ndarray, domains: np.ndarray | None) -> None:
        if self.kmeans_on not in ("source", "all"):
            raise ValueError(f"KMeansCosineBackend: kmeans_on must be 'source' or 'all'; got {self.kmeans_on!r}")
        if int(self.n_clusters) < 1:
            raise ValueError(f"KMeansCosineBackend: n_clusters must be >= 1; got {self.n_clusters!r}")
        Xn = l2_normalize(X)
        is_target = np.zeros(len(Xn), bool) if domains is None else domains == "target"
        pool = Xn if self.kmeans_on == "all" else Xn[~is_target]
        if len(pool):
            self.n_clusters_ = capped(int(self.n_clusters), len(pool), "n_clusters", "KMeansCosineBackend")
            km = KMeans(n_clusters=self.n_clusters_, random_state=self.random_state, n_init=self.n_init).fit(pool)
            centres = km.cluster_centers_
            if self.normalize_centres:
                centres = l2_normalize(centres)
        else:
            self.n_clusters_ = 0
            centres = np.empty((0, X.shape[1]))
        self.centres_ = centres
        self.reference_ = np.concatenate([centres, Xn[is_target]], axis=0)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return 1.0 - np.max(l2_normalize(X) @ self.reference_.T, axis=1)


class GMMBackend(BaseBackend):
    """Score = negative log-likelihood ``-log p(x)`` under a Gaussian mixture
    (scikit-learn ``GaussianMixture``; ``-score_samples``). Domains are ignored.

    Defaults follow Wilkinghoff (paper 003, Table 6): 16 components, full
    covariance, ``1e-3`` added to the diagonal (``reg_covar``). With fewer training
    samples than components (e.g. 10 target clips), ``n_components_`` = the number
    of samples, with a :class:`~asdlib.backends.SmallSampleWarning`; each
    component then sits on one sample with covariance ``reg_covar * I``, so the
    score ranks like the squared Euclidean distance to the nearest training sample
    (consistent with Table 6's near-identical target-only GMM and cosine rows).

    Args:
        n_components, covariance_type, reg_covar, random_state, max_iter: passed to
            ``GaussianMixture``.
        l2_normalize: L2-normalise embeddings before fitting and scoring.
    """

    def __init__(
        self,
        n_components: int = 16,
        covariance_type: str = "full",
        reg_covar: float = 1e-3,
        random_state: int | None = 0,
        max_iter: int = 100,
        l2_normalize: bool = False,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.random_state = random_state
        self.max_iter = max_iter
        self.l2_normalize = l2_normalize

    def _prep(self, X: np.ndarray) -> np.ndarray:
        return l2_normalize(X) if self.l2_normalize else X

    def _fit(self, X: np.ndarray, domains: np.ndarray | None) -> None:
        if int(self.n_components) < 1:
            raise ValueError(f"GMMBackend: n_components must be >= 1; got {self.n_components!r}")
        self.n_components_ = capped(int(self.n_components), X.shape[0], "n_components", "GMMBackend")
        self.gmm_ = GaussianMixture(
            n_components=self.n_components_,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            random_state=self.random_state,
            max_iter=self.max_iter,
        ).fit(self._prep(X))

    def _score(self, X: np.ndarray) -> np.ndarray:
        return -self.gmm_.score_samples(self._prep(X))
