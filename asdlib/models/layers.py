"""Layers that several models share: float32 output layers and the fully connected blocks of paper 001.

- :class:`Float32Linear`, :class:`Float32ConvTranspose2d`: output layers that compute
  in float32 even under bf16 autocast, so reconstructions (and the reconstruction
  errors the anomaly scores are made of) keep float32 precision: log-mel values of
  tens of dB would otherwise be rounded to ~0.1 dB, the size of a good
  reconstruction error. Outside autocast they are the plain torch layers.
- :class:`DenseBlock`, :func:`fc_encoder`, :func:`fc_decoder`: the ``Dense, BN, ReLU``
  layers of the DCASE 2020 autoencoder baseline (paper 001, Figure 2), from which
  :class:`~asdlib.models.dcase_ae.DCASEAutoencoder` and the GAN detectors of
  :mod:`asdlib.models.gan_detectors` are built.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Float32Linear(nn.Linear):
    """An :class:`nn.Linear` that always computes in float32 (autocast disabled inside).

    Used for output layers whose values are compared with float32 targets
    (reconstructions of log-mel vectors). Outside autocast it is a plain ``Linear``.
    """

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return super().forward(x.float())


class Float32ConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution that always runs in float32 (autocast off inside): an output layer."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return super().forward(x.float(), output_size)


class DenseBlock(nn.Module):
    """``Linear(in_dim, out_dim)`` -> ``BatchNorm1d(out_dim)`` -> ``ReLU``: one layer of paper 001's Figure 2.

    ``(B, in_dim)`` -> ``(B, out_dim)``. Attributes ``linear`` and ``bn``.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim, bias=bias)
        self.bn = nn.BatchNorm1d(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.bn(self.linear(x)))


def fc_encoder(
    input_dim: int, hidden: int, out_dim: int, n_layers: int, *, out_bn_relu: bool = True, bias: bool = True
) -> nn.Sequential:
    """``n_layers`` x ``DenseBlock(hidden)`` then the output layer ``out_dim``.

    The output layer is a :class:`DenseBlock` (BN, ReLU: the DCASE baseline's
    bottleneck) or, with ``out_bn_relu=False``, a plain ``Linear``. Indexable:
    ``enc[i]`` is the ``i``-th hidden block, ``enc[-1]`` the output layer.
    """
    if n_layers < 1:
        raise ValueError(f"n_layers={n_layers!r} must be >= 1")
    layers: list[nn.Module] = [DenseBlock(input_dim if i == 0 else hidden, hidden, bias) for i in range(n_layers)]
    layers.append(DenseBlock(hidden, out_dim, bias) if out_bn_relu else nn.Linear(hidden, out_dim, bias=bias))
    return nn.Sequential(*layers)


def fc_decoder(latent: int, hidden: int, output_dim: int, n_layers: int, *, bias: bool = True) -> nn.Sequential:
    """``n_layers`` x ``DenseBlock(hidden)`` from ``latent``, then a linear output layer ``output_dim``.

    The output layer (a :class:`Float32Linear`) has no BN and no activation (Figure 2).
    """
    if n_layers < 1:
        raise ValueError(f"n_layers={n_layers!r} must be >= 1")
    layers: list[nn.Module] = [DenseBlock(latent if i == 0 else hidden, hidden, bias) for i in range(n_layers)]
    layers.append(Float32Linear(hidden, output_dim, bias=bias))
    return nn.Sequential(*layers)


__all__ = ["DenseBlock", "Float32ConvTranspose2d", "Float32Linear", "fc_decoder", "fc_encoder"]
