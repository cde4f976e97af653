"""AITHU's domain classifier (paper 000, Sec. 4, submission 1): a Cnn6 with a two-way output
that tells source-domain from target-domain clips; the ensembles of submission 1 weigh
their subsystems by its posterior.

    (B, n_freq, T) log-mel -> Cnn6 (Table 3's backbone) -> (B, 2) logits of (source, target)
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.models.backbones import Cnn6


class DomainClassifier(nn.Module):
    """Cnn6 with a two-way output: logits of (source, target); ``loss`` is cross-entropy."""

    def __init__(self, n_freq: int):
        super().__init__()
        self.net = Cnn6(n_freq, embedding_dim=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def loss(self, x: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(self.net(x), targets)


__all__ = ["DomainClassifier"]
