"""Losses shared by the GAN-based detectors of paper 001 (GANomaly, Skip-GANomaly, EGBAD).

All are computed in float32 (inputs are cast up), so they are safe under bf16
autocast. Logits are raw (no sigmoid): the binary cross-entropies use
``binary_cross_entropy_with_logits``, the numerically stable form of the
originals' ``Sigmoid`` + ``BCELoss``.

- :func:`feature_matching_loss` -- L2 between discriminator features of real and
  generated inputs (GANomaly's adversarial loss, Skip-GANomaly's latent loss);
- :func:`bce_with_target` -- BCE of logits against a constant label (generator side);
- :func:`bce_real_fake` -- the discriminator's two BCE terms (real -> 1, fake -> 0).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

FEATURE_MATCHING_MODES = ("batch_mean", "sample")


def feature_matching_loss(real: Tensor, fake: Tensor, *, mode: str = "batch_mean") -> Tensor:
    """L2 feature matching between discriminator features ``(B, F)`` of real and fake inputs.

    - ``"batch_mean"`` (Salimans et al. 2016; the GANomaly paper's Eq. 1,
      ``|| E f(x) - E f(G(x)) ||_2``): squared difference of the batch-mean features,
      averaged over the ``F`` features: ``mean_f (mean_b real - mean_b fake)^2``;
    - ``"sample"`` (the GANomaly code, ``l2_loss(netd(x)[1], netd(fake)[1])``):
      ``mean_{b,f} (real - fake)^2``, each sample against its own reconstruction.
    """
    if real.shape != fake.shape:
        raise ValueError(f"feature_matching_loss: shapes differ, {tuple(real.shape)} vs {tuple(fake.shape)}")
    real, fake = real.float(), fake.float()
    if mode == "batch_mean":
        return (real.mean(dim=0) - fake.mean(dim=0)).pow(2).mean()
    if mode == "sample":
        return F.mse_loss(fake, real)
    raise ValueError(f"feature_matching_loss: mode={mode!r} must be one of {FEATURE_MATCHING_MODES}")


def bce_with_target(logits: Tensor, target: float) -> Tensor:
    """Mean binary cross-entropy of ``logits`` against the constant label ``target`` (0 or 1)."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, logits.new_full(logits.shape, float(target)))


def bce_real_fake(real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """The discriminator's BCE terms ``(BCE(real, 1), BCE(fake, 0))``, each a batch mean.

    Paper 001 (Sec. 3.3.2) writes the labels the other way round (typical 0,
    artificial 1); the loss is symmetric in that choice, we keep the originals' code.
    """
    return bce_with_target(real_logits, 1.0), bce_with_target(fake_logits, 0.0)


__all__ = ["FEATURE_MATCHING_MODES", "bce_real_fake", "bce_with_target", "feature_matching_loss"]
