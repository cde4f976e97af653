"""Losses and loss heads: AdaCos and sub-cluster AdaCos (paper 003).

- :class:`AdaCos` -- cosine softmax with the adaptive scale of Zhang et al. (2019);
- :class:`SubClusterAdaCos` -- Wilkinghoff's sub-cluster AdaCos (16 fixed centres per class).
"""

from asdlib.losses.adacos import AdaCos, SubClusterAdaCos

__all__ = ["AdaCos", "SubClusterAdaCos"]

# Adversarial losses of the GAN detectors (paper 001).
from asdlib.losses.adversarial import bce_real_fake, bce_with_target, feature_matching_loss  # noqa: E402

__all__ += ["bce_real_fake", "bce_with_target", "feature_matching_loss"]

from asdlib.losses.mixture import gaussian_mixture_nll  # noqa: E402

__all__ += ["gaussian_mixture_nll"]

from asdlib.losses.arcface import ArcFace  # noqa: E402

__all__ += ["ArcFace"]

from asdlib.losses.triplet import batch_hard_triplet_loss, pairwise_distances  # noqa: E402

__all__ += ["batch_hard_triplet_loss", "pairwise_distances"]

from asdlib.losses.wgan import (  # noqa: E402
    aegan_generator_loss, feature_matching, gradient_penalty, wgan_critic_loss, wgan_generator_loss,
)

__all__ += ["aegan_generator_loss", "feature_matching", "gradient_penalty", "wgan_critic_loss", "wgan_generator_loss"]
