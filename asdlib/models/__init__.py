"""Networks: embedders, autoencoders, flows, GANs.

- :mod:`asdlib.models.wilkinghoff` -- Wilkinghoff (ICASSP 2023, paper 003): the
  two-branch embedder (:class:`WilkinghoffEmbedder`, Tables 1 and 2).
"""

from asdlib.models.wilkinghoff import SpectrogramResNet, SpectrumNet, WilkinghoffConfig, WilkinghoffEmbedder

__all__ = ["SpectrogramResNet", "SpectrumNet", "WilkinghoffConfig", "WilkinghoffEmbedder"]

# DCASE 2020 autoencoder baseline and the GAN detectors of paper 001 (GANomaly, Skip-GANomaly, EGBAD).
from asdlib.models.dcase_ae import DCASEAutoencoder, DenseBlock, clip_scores, fc_decoder, fc_encoder  # noqa: E402
from asdlib.models.gan_detectors import EGBAD, FCDiscriminator, GANomaly, SkipGANomaly, SkipGenerator  # noqa: E402

__all__ += [
    "DCASEAutoencoder", "DenseBlock", "EGBAD", "FCDiscriminator", "GANomaly", "SkipGANomaly", "SkipGenerator",
    "clip_scores", "fc_decoder", "fc_encoder",
]
