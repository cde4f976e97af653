"""Networks: embedders, autoencoders, flows, GANs.

- :mod:`asdlib.models.wilkinghoff` -- Wilkinghoff (ICASSP 2023, paper 003): the
  two-branch embedder (:class:`WilkinghoffEmbedder`, Tables 1 and 2).
"""

from asdlib.models.wilkinghoff import SpectrogramResNet, SpectrumNet, WilkinghoffConfig, WilkinghoffEmbedder

__all__ = ["SpectrogramResNet", "SpectrumNet", "WilkinghoffConfig", "WilkinghoffEmbedder"]
