"""ArcFace: the additive angular margin head (Deng et al., CVPR 2019; paper 000's ref. [11]).

AITHU's classification subsystems (paper 000, Sec. 3.1) train their embedding networks
(:mod:`asdlib.models.backbones`) to predict section IDs with an ArcFace head; the head
is used only in training: anomaly scores are computed from the embeddings.

For an embedding ``x`` and class weights ``w_j`` (one learnable vector per class),
``cos(theta_j) = <x / |x|, w_j / |w_j|>``. The logits are::

    z_j = s * cos(theta_j)          for the classes j != y
    z_y = s * psi(theta_y)          for the true class y

with ``psi(theta) = cos(theta + m)``: the true class must win by an angle ``m``.
``cos(theta + m)`` stops decreasing once ``theta + m > pi``, which would reward a
larger angle; the standard remedy, used here, is InsightFace's non-"easy-margin" form
(``easy_margin=False`` in InsightFace and in the common PyTorch ``ArcMarginProduct``,
as in STgram-MFN)::

    psi(theta) = cos(theta + m)              if theta + m < pi   (cos(theta) > cos(pi - m))
    psi(theta) = cos(theta) - m * sin(m)     otherwise

The fallback is CosFace's additive cosine margin with margin ``m sin(m)``
(InsightFace's ``mm = sin(pi - m) * m``); it keeps ``psi`` decreasing in ``theta`` on
all of ``[0, pi]``. ``cos(theta + m)`` is computed as ``cos(theta) cos(m) - sin(theta)
sin(m)`` with ``sin(theta) = sqrt(1 - cos^2(theta))``, the argument clamped away from 0
so the gradient stays finite when an embedding lies exactly on a class direction.

The cosines and logits are computed in float32 with autocast disabled.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ArcFace"]


class ArcFace(nn.Module):
    """ArcFace head: class weights ``W`` (``(n_classes, embedding_dim)``), scale ``s``, margin ``m``.

    Args:
        embedding_dim: embedding size ``D``.
        n_classes: number of classes ``C`` (sections, for AITHU's SC subsystem).
        s: logit scale (30, as in STgram-MFN).
        m: additive angular margin in radians (0.7, as in STgram-MFN); ``0 <= m < pi / 2``.

    Methods:
        ``cosine(embeddings (B, D)) -> (B, C)``: ``cos(theta)``, no scale, no margin;
        ``forward(embeddings (B, D), labels (B,)) -> (B, C)``: logits with the margin on
        the true class; without ``labels``: ``s * cos(theta)`` (no margin), the logits for
        prediction;
        ``loss(embeddings, labels) -> scalar``: mean cross-entropy of the margin logits.

    ``labels`` are integer class codes in ``[0, C)``. The weights are initialised
    Xavier-uniform (as InsightFace's PyTorch ``ArcMarginProduct``).
    """

    def __init__(self, embedding_dim: int, n_classes: int, s: float = 30.0, m: float = 0.7) -> None:
        super().__init__()
        for name, v in (("embedding_dim", embedding_dim), ("n_classes", n_classes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"ArcFace: {name}={v!r} must be a positive integer")
        if not s > 0 or not math.isfinite(s):
            raise ValueError(f"ArcFace: scale s={s!r} must be positive and finite")
        if not 0 <= m < math.pi / 2:
            raise ValueError(f"ArcFace: margin m={m!r} must lie in [0, pi/2) radians")
        self.embedding_dim, self.n_classes = embedding_dim, n_classes
        self.s, self.m = float(s), float(m)
        self.weight = nn.Parameter(torch.empty(n_classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)
        self.cos_m, self.sin_m = math.cos(m), math.sin(m)
        self.threshold = math.cos(math.pi - m)  # cos(theta) > threshold  <=>  theta + m < pi
        self.fallback = math.sin(math.pi - m) * m  # = m sin(m)

    def extra_repr(self) -> str:
        return f"embedding_dim={self.embedding_dim}, n_classes={self.n_classes}, s={self.s}, m={self.m}"

    def cosine(self, embeddings: Tensor) -> Tensor:
        """``cos(theta)`` of each embedding with each class weight: (B, D) -> (B, C), float32."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embedding_dim:
            raise ValueError(
                f"ArcFace expects embeddings (B, {self.embedding_dim}); got shape {tuple(embeddings.shape)}"
            )
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            return F.linear(F.normalize(embeddings.float(), dim=1), F.normalize(self.weight.float(), dim=1))

    def margin(self, cos: Tensor) -> Tensor:
        """``psi(theta)`` of the module docstring, elementwise on ``cos(theta)``."""
        sin = (1.0 - cos * cos).clamp(min=1e-12).sqrt()
        phi = cos * self.cos_m - sin * self.sin_m  # cos(theta + m)
        return torch.where(cos > self.threshold, phi, cos - self.fallback)

    def forward(self, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
        """Logits (B, C): ``s * psi(theta_y)`` for the true class, ``s * cos(theta_j)`` for the others.

        Without ``labels``: ``s * cos(theta)`` for every class (no margin).
        """
        cos = self.cosine(embeddings)
        if labels is None:
            return self.s * cos
        labels = self._check_labels(labels, cos.shape[0])
        target = F.one_hot(labels, self.n_classes).bool()
        return self.s * torch.where(target, self.margin(cos), cos)

    def loss(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Mean cross-entropy of the margin logits against ``labels`` (B,)."""
        logits = self(embeddings, labels)
        return F.cross_entropy(logits, labels.to(logits.device).long())

    def _check_labels(self, labels: Tensor, batch: int) -> Tensor:
        if labels.ndim != 1 or labels.shape[0] != batch or labels.is_floating_point():
            raise ValueError(f"ArcFace: labels must be integer class codes (B={batch},); got {labels.dtype} "
                             f"{tuple(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.n_classes):
            raise ValueError(f"ArcFace: class codes must lie in [0, {self.n_classes}); "
                             f"got {int(labels.min())}..{int(labels.max())}")
        return labels.long()
